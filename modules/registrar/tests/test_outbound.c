/* Outbound registration, the pure parts: answering a carrier's challenge
 * (against the RFC 7616 and RFC 2617 vectors), the state machine (401 then
 * 200, the challenge count, stale, 423, failures and retries), the retry
 * jitter's bounds, the REGISTER's headers, the expiry a 2xx grants, and
 * the cfg values' syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest_header.h"
#include "outbound_auth.h"
#include "outbound_fsm.h"
#include "outbound_message.h"
#include "outbound_values.h"

/* ---- answering challenges ---------------------------------------------------------------- */

/* RFC 7616 section 3.9.1: the challenge, then the answer's inputs */
#define RFC7616_CHALLENGE(alg)                                                                                  \
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=" alg ", "                     \
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
#define RFC7616_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void parse_challenge(const char *text, ob_challenge_t *c)
{
    assert_int_equal(ob_challenge_parse(text, strlen(text), c), 0);
}

/* The answer, read back with the server side's parser. */
static void answer(const ob_challenge_t *c, const char *user, const char *password, const char *method,
                   const char *uri, uint32_t nc, const char *cnonce, char *out, size_t len, reg_digest_creds_t *creds)
{
    assert_int_equal(ob_authorization(c, user, password, method, uri, nc, cnonce, out, len), 0);
    assert_int_equal(reg_digest_parse(out, strlen(out), creds), REG_DIGEST_OK);
}

static void assert_span(const reg_digest_span_t *s, const char *want)
{
    char buf[256];
    assert_int_equal(reg_digest_copy(s, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_rfc7616_sha256(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge(RFC7616_CHALLENGE("SHA-256"), &c);
    assert_int_equal(c.alg, REG_ALG_SHA256);
    assert_true(c.qop_auth);
    assert_false(c.stale);
    char out[1024];
    reg_digest_creds_t cr;
    answer(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, RFC7616_CNONCE, out, sizeof out, &cr);
    assert_span(&cr.response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    assert_span(&cr.username, "Mufasa");
    assert_span(&cr.realm, "http-auth@example.org");
    assert_span(&cr.uri, "/dir/index.html");
    assert_span(&cr.algorithm, "SHA-256");
    assert_span(&cr.nc, "00000001");
    assert_span(&cr.qop, "auth");
    assert_span(&cr.cnonce, RFC7616_CNONCE);
    assert_span(&cr.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
}

static void test_rfc7616_md5(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge(RFC7616_CHALLENGE("MD5"), &c);
    assert_int_equal(c.alg, REG_ALG_MD5);
    char out[1024];
    reg_digest_creds_t cr;
    answer(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, RFC7616_CNONCE, out, sizeof out, &cr);
    assert_span(&cr.response, "8ca523f5e9506fed4657c9700eebdbec");
    assert_span(&cr.algorithm, "MD5");
}

/* RFC 2617 section 3.5: no algorithm parameter means MD5 */
static void test_rfc2617(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
                    &c);
    assert_int_equal(c.alg, REG_ALG_MD5);
    char out[1024];
    reg_digest_creds_t cr;
    answer(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b", out, sizeof out, &cr);
    assert_span(&cr.response, "6629fae49393a05397450978507c4ef1");
}

/* Without qop (RFC 2069 form): no cnonce, no nc in the answer. */
static void test_no_qop(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge("Digest realm=\"carrier\", nonce=\"abc\"", &c);
    assert_false(c.qop_auth);
    assert_false(c.has_opaque);
    char out[1024];
    reg_digest_creds_t cr;
    answer(&c, "4420", "pw", "REGISTER", "sip:carrier.example", 1, "cn", out, sizeof out, &cr);
    assert_null(cr.cnonce.p);
    assert_null(cr.nc.p);
    assert_null(cr.qop.p);
    assert_null(cr.opaque.p);
}

/* The nonce count is written as 8 hex digits, and changes the response. */
static void test_nonce_count(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge("Digest realm=\"carrier\", nonce=\"n1\", qop=\"auth\"", &c);
    char a1[1024], a2[1024];
    reg_digest_creds_t c1, c2;
    answer(&c, "u", "p", "REGISTER", "sip:h", 1, "cn", a1, sizeof a1, &c1);
    answer(&c, "u", "p", "REGISTER", "sip:h", 0x1a, "cn", a2, sizeof a2, &c2);
    assert_span(&c2.nc, "0000001a");
    char r1[80], r2[80];
    assert_int_equal(reg_digest_copy(&c1.response, r1, sizeof r1), 0);
    assert_int_equal(reg_digest_copy(&c2.response, r2, sizeof r2), 0);
    assert_string_not_equal(r1, r2);
}

/* A realm with a quote travels escaped and is hashed unescaped. */
static void test_escaped_realm(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge("Digest realm=\"a\\\"b\", nonce=\"n\"", &c);
    assert_string_equal(c.realm, "a\"b");
    char out[1024];
    reg_digest_creds_t cr;
    answer(&c, "u", "p", "REGISTER", "sip:h", 1, "cn", out, sizeof out, &cr);
    assert_non_null(strstr(out, "realm=\"a\\\"b\""));
    assert_span(&cr.realm, "a\"b");
    char ha1[REG_DIGEST_HEX_MAX], want[REG_DIGEST_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "u", "a\"b", "p", ha1);
    reg_digest_response(REG_ALG_MD5, ha1, "n", NULL, NULL, NULL, "REGISTER", "sip:h", want);
    assert_span(&cr.response, want);
}

static void test_answer_does_not_fit(void **state)
{
    (void)state;
    ob_challenge_t c;
    parse_challenge(RFC7616_CHALLENGE("SHA-256"), &c);
    char out[64];
    assert_int_equal(ob_authorization(&c, "Mufasa", "x", "GET", "/", 1, "cn", out, sizeof out), -1);
}

static void test_stale(void **state)
{
    (void)state;
    static const struct {
        const char *challenge;
        int stale;
    } cases[] = {
        {"Digest realm=\"r\", nonce=\"n\", stale=true", 1},
        {"Digest realm=\"r\", stale=TRUE, nonce=\"n\"", 1},
        {"Digest realm=\"r\",nonce=\"n\",stale=\"true\"", 1},
        {"Digest realm=\"r\", nonce=\"n\", stale=false", 0},
        /* inside another parameter's quoted value it is not a parameter */
        {"Digest realm=\"x, stale=true\", nonce=\"n\"", 0},
        {"Digest realm=\"r\", nonce=\"n\", stales=true", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ob_challenge_t c;
        parse_challenge(cases[i].challenge, &c);
        assert_int_equal(c.stale, cases[i].stale);
    }
}

static void test_unusable_challenges(void **state)
{
    (void)state;
    ob_challenge_t c;
    const char *bad[] = {
        "Basic realm=\"r\"",
        "Digest realm=\"r\"",                                  /* no nonce */
        "Digest nonce=\"n\"",                                  /* no realm */
        "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",   /* bodies are not hashed */
        "Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess",
        "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
        "Digest realm=\"r\", nonce=\"n\", nonce=\"m\"",        /* twice */
        "Digest realm=\"r, nonce=\"n\"",                       /* unterminated */
        "Digest",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ob_challenge_parse(bad[i], strlen(bad[i]), &c), -1);
    assert_int_equal(ob_challenge_parse(NULL, 0, &c), -1);
}

static void test_pick(void **state)
{
    (void)state;
    ob_challenge_t c;
    const char *both[] = {"Digest realm=\"r\", nonce=\"m\", algorithm=MD5, qop=\"auth\"",
                          "Digest realm=\"r\", nonce=\"s\", algorithm=SHA-256, qop=\"auth\""};
    assert_int_equal(ob_challenge_pick(both, 2, &c), 0);
    assert_int_equal(c.alg, REG_ALG_SHA256);
    assert_string_equal(c.nonce, "s");
    const char *md5_usable[] = {"Basic realm=\"r\"", "Digest realm=\"r\", nonce=\"a\", algorithm=SHA-512-256",
                                "Digest realm=\"r\", nonce=\"m\""};
    assert_int_equal(ob_challenge_pick(md5_usable, 3, &c), 0);
    assert_int_equal(c.alg, REG_ALG_MD5);
    assert_string_equal(c.nonce, "m");
    const char *none[] = {"Basic realm=\"r\"", NULL};
    assert_int_equal(ob_challenge_pick(none, 2, &c), -1);
    assert_int_equal(ob_challenge_pick(none, 0, &c), -1);
}

/* ---- the state machine ------------------------------------------------------------------ */

static const ob_policy_t policy = {.auth_retry = 2, .retry_delay_ms = 60000};

static ob_step_t respond(ob_fsm_t *f, int code)
{
    ob_response_t r = {.code = code, .granted_s = -1, .min_expires_s = -1};
    return ob_fsm_on_response(f, &policy, &r, 0);
}

static ob_step_t challenge(ob_fsm_t *f, const ob_policy_t *p, int stale)
{
    ob_response_t r = {.code = 401, .challenge_usable = 1, .stale = stale, .granted_s = -1, .min_expires_s = -1};
    return ob_fsm_on_response(f, p, &r, 0);
}

static ob_step_t granted(ob_fsm_t *f, int64_t seconds)
{
    ob_response_t r = {.code = 200, .granted_s = seconds, .min_expires_s = -1};
    return ob_fsm_on_response(f, &policy, &r, 0);
}

static void test_challenge_then_ok(void **state)
{
    (void)state;
    ob_fsm_t f;
    ob_fsm_init(&f, 3600);
    assert_int_equal(f.state, OB_STATE_UNREGISTERED);
    ob_step_t s = challenge(&f, &policy, 0);
    assert_int_equal(s.next, OB_NEXT_SEND_NOW);
    assert_false(s.failed);
    assert_int_equal(f.state, OB_STATE_UNREGISTERED);
    s = granted(&f, 20);
    assert_int_equal(s.next, OB_NEXT_WAIT);
    assert_true(s.registered);
    assert_int_equal(s.wait_ms, 10000); /* refresh at half */
    assert_int_equal(f.state, OB_STATE_REGISTERED);
    assert_int_equal(f.granted_s, 20);
    assert_int_equal(f.last_code, 200);
    assert_int_equal(f.challenges_in_row, 0);
    assert_int_equal(f.failures, 0);
    assert_string_equal(ob_state_name(f.state), "registered");
    /* a refresh challenged again is answered, and it stays registered */
    s = challenge(&f, &policy, 0);
    assert_int_equal(s.next, OB_NEXT_SEND_NOW);
    assert_int_equal(f.state, OB_STATE_REGISTERED);
}

/* Auto asks 3600 and takes what is granted; a 2xx that says nothing grants what was asked. */
static void test_granted(void **state)
{
    (void)state;
    ob_fsm_t f;
    ob_fsm_init(&f, 3600);
    assert_int_equal(granted(&f, 4).wait_ms, 2000);
    ob_fsm_init(&f, 120);
    assert_int_equal(granted(&f, -1).wait_ms, 60000);
    assert_int_equal(f.granted_s, 120);
    /* a registrar granting 1 s is not refreshed faster than OB_REFRESH_MIN_MS */
    assert_int_equal(granted(&f, 1).wait_ms, OB_REFRESH_MIN_MS);
    /* listing our contact with expires=0: not bound */
    ob_step_t s = granted(&f, 0);
    assert_true(s.failed);
    assert_int_equal(f.state, OB_STATE_FAILED);
}

static void test_challenges_counted(void **state)
{
    (void)state;
    ob_fsm_t f;
    ob_fsm_init(&f, 3600);
    assert_int_equal(challenge(&f, &policy, 0).next, OB_NEXT_SEND_NOW);
    assert_int_equal(challenge(&f, &policy, 0).next, OB_NEXT_SEND_NOW);
    ob_step_t s = challenge(&f, &policy, 0); /* a third in a row with auth_retry 2: wrong password */
    assert_true(s.failed);
    assert_int_equal(s.next, OB_NEXT_WAIT);
    assert_true(s.wait_ms >= 60000 && s.wait_ms <= 63000);
    assert_int_equal(f.state, OB_STATE_FAILED);
    assert_int_equal(f.last_code, 401);
    assert_int_equal(f.failures, 1);
    /* the retry starts a new count */
    ob_fsm_on_timer(&f);
    assert_int_equal(f.state, OB_STATE_RETRYING);
    assert_int_equal(challenge(&f, &policy, 0).next, OB_NEXT_SEND_NOW);
    /* auth_retry 0: never answered */
    ob_policy_t none = {.auth_retry = 0, .retry_delay_ms = 30000};
    ob_fsm_init(&f, 3600);
    assert_true(challenge(&f, &none, 0).failed);
}

static void test_stale_not_counted(void **state)
{
    (void)state;
    ob_policy_t one = {.auth_retry = 1, .retry_delay_ms = 30000};
    ob_fsm_t f;
    ob_fsm_init(&f, 3600);
    assert_int_equal(challenge(&f, &one, 0).next, OB_NEXT_SEND_NOW);
    for (int i = 0; i < OB_STALE_MAX; i++)
        assert_int_equal(challenge(&f, &one, 1).next, OB_NEXT_SEND_NOW);
    /* but not forever */
    assert_true(challenge(&f, &one, 1).failed);
    ob_fsm_init(&f, 3600);
    assert_int_equal(challenge(&f, &one, 0).next, OB_NEXT_SEND_NOW);
    assert_int_equal(challenge(&f, &one, 1).next, OB_NEXT_SEND_NOW);
    assert_true(challenge(&f, &one, 0).failed); /* the second real one */
}

static void test_too_brief(void **state)
{
    (void)state;
    ob_fsm_t f;
    ob_fsm_init(&f, 60);
    ob_response_t r = {.code = 423, .granted_s = -1, .min_expires_s = 600};
    ob_step_t s = ob_fsm_on_response(&f, &policy, &r, 0);
    assert_int_equal(s.next, OB_NEXT_SEND_NOW);
    assert_int_equal(f.ask_s, 600);
    /* kept after the 200 */
    granted(&f, 600);
    assert_int_equal(f.ask_s, 600);
    /* a Min-Expires not above what was asked, or none, or absurd: failed */
    r.min_expires_s = 600;
    assert_true(ob_fsm_on_response(&f, &policy, &r, 0).failed);
    r.min_expires_s = -1;
    assert_true(ob_fsm_on_response(&f, &policy, &r, 0).failed);
    r.min_expires_s = 86401;
    assert_true(ob_fsm_on_response(&f, &policy, &r, 0).failed);
    /* at most OB_TOO_BRIEF_MAX in a row */
    ob_fsm_init(&f, 20);
    for (int i = 0; i < OB_TOO_BRIEF_MAX; i++) {
        r.min_expires_s = 100 + i;
        assert_int_equal(ob_fsm_on_response(&f, &policy, &r, 0).next, OB_NEXT_SEND_NOW);
    }
    r.min_expires_s = 1000;
    assert_true(ob_fsm_on_response(&f, &policy, &r, 0).failed);
}

static void test_failures_and_retry(void **state)
{
    (void)state;
    ob_fsm_t f;
    ob_fsm_init(&f, 3600);
    int codes[] = {403, 404, 408, 500, 503, 302, 401 /* without a usable challenge */};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ob_step_t s = respond(&f, codes[i]);
        assert_true(s.failed);
        assert_int_equal(s.next, OB_NEXT_WAIT);
        assert_int_equal(s.wait_ms, 60000); /* random 0: the delay itself */
        assert_int_equal(f.state, OB_STATE_FAILED);
        assert_int_equal(f.last_code, codes[i]);
        assert_string_equal(ob_state_name(f.state), "failed");
        ob_fsm_on_timer(&f);
        assert_string_equal(ob_state_name(f.state), "retrying");
    }
    assert_int_equal(f.failures, sizeof codes / sizeof codes[0]);
    granted(&f, 3600);
    assert_int_equal(f.state, OB_STATE_REGISTERED);
    /* a registered one whose refresh fails is failed, not registered */
    ob_fsm_on_timer(&f);
    assert_int_equal(f.state, OB_STATE_REGISTERED);
    assert_true(respond(&f, 503).failed);
    assert_int_equal(f.state, OB_STATE_FAILED);
    assert_int_equal(f.granted_s, 0);
}

/* The jitter: never before the delay, at most 5 % (at least 1 s) after
 * it, and spread: trunks failing together do not retry together. */
static void test_jitter_bounds(void **state)
{
    (void)state;
    assert_int_equal(ob_retry_wait_ms(60000, 0), 60000);
    assert_int_equal(ob_retry_wait_ms(60000, 3000), 63000);
    assert_int_equal(ob_retry_wait_ms(60000, 3001), 60000);
    assert_int_equal(ob_retry_wait_ms(600000, UINT32_MAX) <= 630000, 1);
    assert_int_equal(ob_retry_wait_ms(2000, 1000), 3000); /* short (test) delays: up to 1 s */
    uint64_t lo = UINT64_MAX, hi = 0;
    uint32_t x = 2463534242u;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
        uint64_t w = ob_retry_wait_ms(30000, x);
        assert_true(w >= 30000 && w <= 31500);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
    }
    assert_true(hi - lo > 1000); /* spread over most of the window */
}

/* ---- the REGISTER ---------------------------------------------------------------------- */

static void test_register_headers(void **state)
{
    (void)state;
    ob_register_msg_t m = {.domain = "carrier.example:5070",
                           .user = "4420",
                           .contact_user = "trunk1",
                           .local = "192.0.2.10:5060",
                           .call_id = "cid1",
                           .from_tag = "ft1",
                           .cseq = 7,
                           .expires = 3600,
                           .auth_header = "Authorization",
                           .auth_value = "Digest username=\"4420\"",
                           .privacy = "id",
                           .user_agent = "sipswitch/1"};
    char uri[128], out[2048];
    assert_int_equal(ob_register_uri(m.domain, uri, sizeof uri), 0);
    assert_string_equal(uri, "sip:carrier.example:5070");
    assert_int_equal(ob_register_headers(&m, out, sizeof out), 0);
    assert_string_equal(out, "From: <sip:4420@carrier.example:5070>;tag=ft1\r\n"
                             "To: <sip:4420@carrier.example:5070>\r\n"
                             "Call-ID: cid1\r\n"
                             "CSeq: 7 REGISTER\r\n"
                             "Contact: <sip:trunk1@192.0.2.10:5060>;expires=3600\r\n"
                             "Expires: 3600\r\n"
                             "Authorization: Digest username=\"4420\"\r\n"
                             "Privacy: id\r\n"
                             "User-Agent: sipswitch/1\r\n");
    /* the unregister over TCP, without credentials nor privacy */
    m.tcp = 1;
    m.expires = 0;
    m.auth_header = m.privacy = m.user_agent = NULL;
    assert_int_equal(ob_register_headers(&m, out, sizeof out), 0);
    assert_non_null(strstr(out, "Contact: <sip:trunk1@192.0.2.10:5060;transport=tcp>;expires=0\r\nExpires: 0\r\n"));
    assert_null(strstr(out, "Authorization"));
    assert_null(strstr(out, "Privacy"));
    assert_int_equal(ob_register_headers(&m, out, 100), -1);
    assert_int_equal(ob_register_uri(m.domain, uri, 8), -1);
}

static void test_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(ob_delta_seconds("60"), 60);
    assert_int_equal(ob_delta_seconds(" 3600 "), 3600);
    assert_int_equal(ob_delta_seconds("0"), 0);
    assert_int_equal(ob_delta_seconds("99999999999999999999"), UINT32_MAX);
    assert_int_equal(ob_delta_seconds("6O"), -1);
    assert_int_equal(ob_delta_seconds("-1"), -1);
    assert_int_equal(ob_delta_seconds(""), -1);
    assert_int_equal(ob_delta_seconds(NULL), -1);
}

static void test_granted_expires(void **state)
{
    (void)state;
    const char *ours = "sip:trunk1@192.0.2.10:5060";
    /* the registrar lists another device of the same AOR first */
    const char *two[] = {"<sip:trunk1@198.51.100.7:5060>;expires=300, <sip:trunk1@192.0.2.10:5060>;expires=20",
                         NULL};
    assert_int_equal(ob_granted_expires(two, 1, "3600", ours), 20);
    const char *split[] = {"<sip:other@192.0.2.99>;expires=5", "\"T\" <sip:trunk1@192.0.2.10:5060>;expires=45;q=1"};
    assert_int_equal(ob_granted_expires(split, 2, NULL, ours), 45);
    /* our contact without expires: the Expires header */
    const char *bare[] = {"<sip:trunk1@192.0.2.10:5060>"};
    assert_int_equal(ob_granted_expires(bare, 1, "30", ours), 30);
    /* not listed, no header: unknown */
    const char *other[] = {"<sip:x@192.0.2.99>;expires=5"};
    assert_int_equal(ob_granted_expires(other, 1, NULL, ours), -1);
    assert_int_equal(ob_granted_expires(NULL, 0, NULL, ours), -1);
    /* garbage is skipped */
    const char *junk[] = {"<sip:trunk1@192.0.2.10:5060;expires=5", "<<<"};
    assert_int_equal(ob_granted_expires(junk, 2, "12", ours), 12);
    /* a transport parameter makes another binding (RFC 3261 19.1.4) */
    const char *tcp[] = {"<sip:trunk1@192.0.2.10:5060;transport=tcp>;expires=99"};
    assert_int_equal(ob_granted_expires(tcp, 1, "7", ours), 7);
}

/* ---- cfg values --------------------------------------------------------------------------- */

static void test_parse_expire(void **state)
{
    (void)state;
    uint32_t v = 99;
    assert_int_equal(ob_parse_expire("Auto", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ob_parse_expire("auto", &v), 0);
    assert_int_equal(ob_parse_expire("20", &v), 0);
    assert_int_equal(v, 20);
    assert_int_equal(ob_parse_expire("7200", &v), 0);
    assert_int_equal(ob_parse_expire("120s", &v), 0);
    assert_int_equal(v, 120);
    const char *bad[] = {"19", "7201", "0", "", "x", "120ms", "1e3", " 60", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ob_parse_expire(bad[i], &v), -1);
    assert_int_equal(ob_parse_expire(NULL, &v), -1);
}

static void test_hostport(void **state)
{
    (void)state;
    char host[64];
    unsigned port = 9;
    assert_int_equal(ob_split_hostport("sip.carrier.example", host, sizeof host, &port), 0);
    assert_string_equal(host, "sip.carrier.example");
    assert_int_equal(port, 0);
    assert_int_equal(ob_split_hostport("192.0.2.1:5080", host, sizeof host, &port), 0);
    assert_string_equal(host, "192.0.2.1");
    assert_int_equal(port, 5080);
    assert_int_equal(ob_split_hostport("[2001:db8::1]:5070", host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(port, 5070);
    assert_int_equal(ob_split_hostport("[::1]", host, sizeof host, &port), 0);
    assert_int_equal(port, 0);
    const char *bad[] = {"", "2001:db8::1", "host:0", "host:65536", "host:", "ho st", "[]:5060", "[::1]5060",
                         "host:12a", "[zz::1]", ":5060", "h/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ob_split_hostport(bad[i], host, sizeof host, &port), -1);
    assert_int_equal(ob_split_hostport("averylonghostname.example", host, 8, &port), -1);
}

static void test_user_valid(void **state)
{
    (void)state;
    assert_true(ob_user_valid("4420123"));
    assert_true(ob_user_valid("trunk-1_a.b+c"));
    assert_false(ob_user_valid(""));
    assert_false(ob_user_valid(NULL));
    assert_false(ob_user_valid("a b"));
    assert_false(ob_user_valid("a@b"));
    assert_false(ob_user_valid("a:b"));
    assert_false(ob_user_valid("a%20b"));
    char long_user[80];
    memset(long_user, 'a', sizeof long_user - 1);
    long_user[sizeof long_user - 1] = '\0';
    assert_false(ob_user_valid(long_user));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7616_sha256),
        cmocka_unit_test(test_rfc7616_md5),
        cmocka_unit_test(test_rfc2617),
        cmocka_unit_test(test_no_qop),
        cmocka_unit_test(test_nonce_count),
        cmocka_unit_test(test_escaped_realm),
        cmocka_unit_test(test_answer_does_not_fit),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_unusable_challenges),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_challenge_then_ok),
        cmocka_unit_test(test_granted),
        cmocka_unit_test(test_challenges_counted),
        cmocka_unit_test(test_stale_not_counted),
        cmocka_unit_test(test_too_brief),
        cmocka_unit_test(test_failures_and_retry),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_register_headers),
        cmocka_unit_test(test_delta_seconds),
        cmocka_unit_test(test_granted_expires),
        cmocka_unit_test(test_parse_expire),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_user_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
