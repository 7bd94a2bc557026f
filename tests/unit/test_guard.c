/* The guard's decisions (sip/guard.h) without a loop: the User-Agent
 * blocklist on raw headers, the header count, trust from [mapping] and
 * [gateway] addresses with drop_unknown_sources, and which requests the
 * overload shedding answers 503, drops or lets through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>

#include "call/gateways.h"
#include "call/sources.h"
#include "cfg/config.h"
#include "cfg/core_params.h"
#include "sip/guard.h"
#include "sip/substrings.h"
#include "stats/metrics.h"

static char *const scanners[] = {"friendly-scanner", "sipvicious", "VaxSIPUserAgent"};

static sw_guard_settings_t defaults(void)
{
    sw_guard_settings_t s = {
        .rate_limit = {.rate = 0, .burst = 1, .block_ms = 1000},
        .scanner_user_agents = scanners,
        .n_scanner_user_agents = 3,
        .overload_message_age_ms = 200,
        .overload_retry_after_s = 7,
        .max_headers = 20,
    };
    return s;
}

static bool scanner(const char *hdrs)
{
    return sw_guard_scanner(hdrs, strlen(hdrs));
}

static void test_scanner_user_agents(void **state)
{
    (void)state;
    sw_guard_settings_t s = defaults();
    sw_guard_configure(&s, NULL, NULL);
    uint64_t before = sw_metrics.drops[SW_DROP_SCANNER];
    assert_true(scanner("OPTIONS sip:100@h SIP/2.0\r\nVia: x\r\nUser-Agent: friendly-scanner\r\n\r\n"));
    assert_true(scanner("INVITE sip:100@h SIP/2.0\r\nuser-agent :  SIPVicious 0.3\r\n\r\n"));
    assert_true(scanner("REGISTER sip:h SIP/2.0\nUSER-AGENT:vaxsipuseragent/3.1\n\n"));
    assert_int_equal(sw_metrics.drops[SW_DROP_SCANNER] - before, 3);
    /* a normal agent, the word elsewhere, a header named alike, no agent */
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: Asterisk PBX 20\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nFrom: \"friendly-scanner\" <sip:a@b>\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent-X: sipvicious\r\n\r\n"));
    assert_false(scanner("User-Agent: sipvicious SIP/2.0\r\n\r\n")); /* the start line is no header */
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: friendly-scanne"));
    /* an empty list checks nothing */
    s.n_scanner_user_agents = 0;
    sw_guard_configure(&s, NULL, NULL);
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n"));
    sw_guard_stop();
}

/* Where the User-Agent line may be and look: any letter case, whitespace
 * before the colon, the last line without its line end, a name anywhere in
 * the value; not a longer header name, a folded continuation, a value cut
 * short, a line shorter than the name. */
static void test_scanner_lines(void **state)
{
    (void)state;
    sw_guard_settings_t s = defaults();
    sw_guard_configure(&s, NULL, NULL);
    assert_true(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: sipvicious"));
    assert_true(scanner("OPTIONS sip:100@h SIP/2.0\nuSER-aGENT\t \t:x FRIENDLY-SCANNER"));
    assert_true(scanner("OPTIONS sip:100@h SIP/2.0\r\nVia: a\r\nUser-Agent: a/b (VaxSIPUserAgent)\r\n\r\n"));
    assert_true(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent:friendly-scannerfriendly-scanner\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: sip\r\n vicious\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agents: sipvicious\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent sipvicious\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent:\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agen"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nU\r\nu\r\n\r\n"));
    assert_false(scanner("OPTIONS sip:100@h SIP/2.0\r\nUser-Agent: sipviciou\r\ns\r\n"));
    assert_false(scanner(""));
    /* names from the cfg: any letter case, empty ones ignored, one byte long */
    char *const names[] = {"", "SIP-Scan", "#"};
    s.scanner_user_agents = names;
    s.n_scanner_user_agents = 3;
    sw_guard_configure(&s, NULL, NULL);
    assert_true(scanner("A sip:h SIP/2.0\r\nUser-Agent: my sip-scan 2\r\n\r\n"));
    assert_true(scanner("A sip:h SIP/2.0\r\nUser-Agent: #\r\n\r\n"));
    assert_false(scanner("A sip:h SIP/2.0\r\nUser-Agent: Asterisk PBX 20\r\n\r\n"));
    s.n_scanner_user_agents = 1; /* only "": nothing to look for */
    sw_guard_configure(&s, NULL, NULL);
    assert_false(scanner("A sip:h SIP/2.0\r\nUser-Agent: Asterisk PBX 20\r\n\r\n"));
    sw_guard_stop();
}

/* The reference: each word looked for at each position, ASCII letters in
 * either case. */
static bool naive_contains(char *const *words, size_t n, const char *text, size_t len)
{
    for (size_t w = 0; w < n; w++) {
        size_t m = strlen(words[w]);
        for (size_t i = 0; m > 0 && i + m <= len; i++) {
            size_t j = 0;
            while (j < m && tolower((unsigned char)text[i + j]) == tolower((unsigned char)words[w][j]))
                j++;
            if (j == m)
                return true;
        }
    }
    return false;
}

/* The automaton (sip/substrings.h) against the reference, over random word
 * sets and texts from a small alphabet, so that words overlap, share
 * prefixes and contain each other (its failure links at work), with both
 * cases of the letters and bytes from 0x80 up (no case for them). */
static void test_substrings_match_naive(void **state)
{
    (void)state;
    static const char alphabet[] = "abAB-\x80\xc1\xe1";
    uint32_t seed = 12345;
#define NEXT_RANDOM() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    size_t found = 0, texts = 0;
    for (int set = 0; set < 2000; set++) {
        char words[6][8], *word_ptrs[6];
        size_t n = 1 + NEXT_RANDOM() % 6;
        for (size_t w = 0; w < n; w++) {
            size_t len = NEXT_RANDOM() % 6; /* empty words too */
            for (size_t k = 0; k < len; k++)
                words[w][k] = alphabet[NEXT_RANDOM() % (sizeof alphabet - 1)];
            words[w][len] = '\0';
            word_ptrs[w] = words[w];
        }
        sw_substrings_t *set_ = sw_substrings_new((const char *const *)word_ptrs, n);
        assert_non_null(set_);
        for (int t = 0; t < 50; t++) {
            char text[40];
            size_t len = NEXT_RANDOM() % sizeof text;
            for (size_t k = 0; k < len; k++)
                text[k] = alphabet[NEXT_RANDOM() % (sizeof alphabet - 1)];
            bool expected = naive_contains(word_ptrs, n, text, len);
            if (sw_substrings_find(set_, text, len) != expected)
                fail_msg("set %d text %d: expected %d", set, t, expected);
            found += expected;
            texts++;
        }
        sw_substrings_free(set_);
    }
#undef NEXT_RANDOM
    /* both answers were given often */
    assert_true(found > texts / 10 && found < texts - texts / 10);
    /* nothing to find */
    sw_substrings_t *none = sw_substrings_new(NULL, 0);
    assert_non_null(none);
    assert_false(sw_substrings_find(none, "abc", 3));
    sw_substrings_free(none);
    assert_false(sw_substrings_find(NULL, "abc", 3));
    sw_substrings_free(NULL);
}

static void test_header_count(void **state)
{
    (void)state;
    sw_guard_settings_t s = defaults();
    sw_guard_configure(&s, NULL, NULL);
    uint64_t before = sw_metrics.limit_hits[SW_LIMIT_HEADERS];
    assert_false(sw_guard_too_many_headers(20));
    assert_true(sw_guard_too_many_headers(21));
    assert_int_equal(sw_metrics.limit_hits[SW_LIMIT_HEADERS] - before, 1);
    sw_guard_stop();
    assert_false(sw_guard_too_many_headers(10000)); /* not configured: no limit */
}


static void test_unknown_sources_and_rate_limit(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg",
                                       "[core]\n[mapping customer]\nsource = 192.0.2.0/24\n"
                                       "[gateway carrier]\naddress = 198.51.100.5:5070\n",
                                       &errs);
    assert_non_null(cfg);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, &errs);
    sw_cfg_resolve_all(cfg, &errs);
    assert_int_equal(errs.count, 0);
    sw_sources_t *src = sw_sources_build(sw_cfg_view(cfg, "core"), &errs);
    sw_gateways_t gws;
    assert_int_equal(sw_gateways_build(sw_cfg_view(cfg, "core"), &gws, &errs), 0);

    sw_guard_settings_t s = defaults();
    s.drop_unknown_sources = true;
    s.rate_limit.rate = 2;
    s.rate_limit.burst = 2;
    sw_guard_configure(&s, src, &gws);
    struct sockaddr_storage customer = sw_test_ipv4("192.0.2.77", 5060), carrier = sw_test_ipv4("198.51.100.5", 5060),
                            stranger = sw_test_ipv4("203.0.113.9", 5060);
    uint64_t unknown = sw_metrics.drops[SW_DROP_UNKNOWN_SOURCE], limited = sw_metrics.drops[SW_DROP_RATE_LIMITED];
    for (int i = 0; i < 100; i++) {
        assert_true(sw_guard_admit((struct sockaddr *)&customer)); /* trusted: no limit either */
        assert_true(sw_guard_admit((struct sockaddr *)&carrier));  /* a gateway's IP, any port */
    }
    assert_false(sw_guard_admit((struct sockaddr *)&stranger));
    assert_false(sw_guard_admit((struct sockaddr *)&stranger));
    assert_int_equal(sw_metrics.drops[SW_DROP_UNKNOWN_SOURCE] - unknown, 2);
    assert_false(sw_guard_admit((struct sockaddr *)&stranger)); /* the third ran the bucket dry */
    assert_int_equal(sw_metrics.drops[SW_DROP_RATE_LIMITED] - limited, 1);
    sw_rl_blocked_t list[2];
    assert_int_equal(sw_guard_list_blocked(list, 2), 1);
    assert_string_equal(list[0].ip, "203.0.113.9");
    assert_true(sw_guard_unblock("203.0.113.9", NULL));
    assert_int_equal(sw_guard_list_blocked(list, 2), 0);
    /* a module's block: a trusted address is never blocked (said once), a
     * stranger is, dropped as "blocked", and only its module or the API
     * lifts it */
    assert_int_equal(sw_guard_block("192.0.2.77", 60000, "registrar", "auth_failures"), SW_RL_BLOCK_TRUSTED_FIRST);
    assert_int_equal(sw_guard_block("198.51.100.5", 60000, "registrar", "auth_failures"), SW_RL_BLOCK_TRUSTED_FIRST);
    assert_int_equal(sw_guard_block("192.0.2.77", 60000, "registrar", "auth_failures"), SW_RL_BLOCK_TRUSTED);
    assert_true(sw_guard_admit((struct sockaddr *)&customer));
    assert_int_equal(sw_guard_block("203.0.113.9", 60000, "registrar", "auth_failures"), SW_RL_BLOCK_SET);
    uint64_t blocked = sw_metrics.drops[SW_DROP_BLOCKED];
    assert_false(sw_guard_admit((struct sockaddr *)&stranger));
    assert_int_equal(sw_metrics.drops[SW_DROP_BLOCKED] - blocked, 1);
    assert_int_equal(sw_guard_list_blocked(list, 2), 1);
    assert_string_equal(list[0].reason, "auth_failures");
    assert_string_equal(list[0].by, "registrar");
    assert_false(sw_guard_unblock("203.0.113.9", "another_module"));
    assert_true(sw_guard_unblock("203.0.113.9", "registrar"));
    assert_int_equal(sw_guard_block("not an address", 60000, "registrar", "auth_failures"), SW_RL_BLOCK_INVALID);
    /* without drop_unknown_sources a stranger under the limit passes */
    s.drop_unknown_sources = false;
    sw_guard_configure(&s, src, &gws);
    assert_true(sw_guard_admit((struct sockaddr *)&stranger));
    sw_guard_stop();
    sw_sources_free(src);
    sw_gateways_free(&gws);
    sw_core_settings_free(&core);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static sw_msg_t *parse(const char *text)
{
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(text, strlen(text), &err);
    assert_non_null(m);
    return m;
}

#define REQ(method, to_tag)                                                                                     \
    method " sip:100@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK77\r\nFrom: <sip:a@h>;tag=1\r\n"  \
           "To: <sip:100@h>" to_tag "\r\nCall-ID: c1\r\nCSeq: 1 " method "\r\nContent-Length: 0\r\n\r\n"

static sw_guard_action_t shed(const char *text, uint32_t *retry)
{
    sw_msg_t *m = parse(text);
    sw_guard_action_t a = sw_guard_shed_request(m, retry);
    sw_msg_free(m);
    return a;
}

static void test_overload_sheds_new_invites_only(void **state)
{
    (void)state;
    sw_guard_settings_t s = defaults();
    sw_guard_configure(&s, NULL, NULL);
    uint32_t retry = 0;
    uint64_t rejected = sw_metrics.overload_rejected;
    sw_guard_note_message_age(150); /* in time */
    assert_int_equal(shed(REQ("INVITE", ""), &retry), SW_GUARD_HANDLE);
    sw_guard_note_message_age(250); /* behind */
    assert_int_equal(shed(REQ("INVITE", ""), &retry), SW_GUARD_ANSWER_503);
    assert_int_equal(retry, 7);
    assert_int_equal(sw_metrics.overload_rejected - rejected, 1);
    /* what completes calls in progress still goes through */
    assert_int_equal(shed(REQ("INVITE", ";tag=x"), &retry), SW_GUARD_HANDLE); /* re-INVITE */
    assert_int_equal(shed(REQ("BYE", ";tag=x"), &retry), SW_GUARD_HANDLE);
    assert_int_equal(shed(REQ("ACK", ";tag=x"), &retry), SW_GUARD_HANDLE);
    assert_int_equal(shed(REQ("CANCEL", ""), &retry), SW_GUARD_HANDLE);
    assert_int_equal(shed(REQ("OPTIONS", ""), &retry), SW_GUARD_HANDLE);
    /* a stream message (no receive time) follows the last UDP verdict for a while */
    sw_guard_note_message_age(-1);
    assert_int_equal(shed(REQ("INVITE", ""), &retry), SW_GUARD_ANSWER_503);
    /* 0 turns shedding off */
    s.overload_message_age_ms = 0;
    sw_guard_configure(&s, NULL, NULL);
    sw_guard_note_message_age(5000);
    assert_int_equal(shed(REQ("INVITE", ""), &retry), SW_GUARD_HANDLE);
    sw_guard_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_user_agents),
        cmocka_unit_test(test_scanner_lines),
        cmocka_unit_test(test_substrings_match_naive),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_unknown_sources_and_rate_limit),
        cmocka_unit_test(test_overload_sheds_new_invites_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
