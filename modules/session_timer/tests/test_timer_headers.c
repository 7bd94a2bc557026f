/* session_timer's header parsing: Session-Expires (value, refresher, other
 * parameters, compact form x), Min-SE, option tag lists, Allow, the To tag,
 * the SDP origin line; and st_offer_read() on messages parsed by the core,
 * read through the real API table (compact forms x and k included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "module/loader.h"
#include "sip/message.h"

#include "timer_headers.h"

static void test_session_expires_values_and_refresher(void **state)
{
    (void)state;
    st_session_expires_t se;
    assert_true(st_parse_session_expires("1800", &se));
    assert_int_equal(se.seconds, 1800);
    assert_int_equal(se.refresher, ST_REFRESHER_NONE);
    assert_true(st_parse_session_expires("90;refresher=uac", &se));
    assert_int_equal(se.seconds, 90);
    assert_int_equal(se.refresher, ST_REFRESHER_UAC);
    assert_true(st_parse_session_expires(" 4 ; refresher = UAS ", &se));
    assert_int_equal(se.seconds, 4);
    assert_int_equal(se.refresher, ST_REFRESHER_UAS);
    /* other parameters, before or after, with token, quoted and IPv6 values */
    assert_true(st_parse_session_expires("600;x-foo=\"a;b\";refresher=uas;lr;host=[::1]", &se));
    assert_int_equal(se.seconds, 600);
    assert_int_equal(se.refresher, ST_REFRESHER_UAS);
    assert_true(st_parse_session_expires("600;foo", &se));
    assert_int_equal(se.refresher, ST_REFRESHER_NONE);
    /* leading zeros, and the cap at one day */
    assert_true(st_parse_session_expires("0090", &se));
    assert_int_equal(se.seconds, 90);
    assert_true(st_parse_session_expires("86401", &se));
    assert_int_equal(se.seconds, ST_MAX_INTERVAL_S);
    assert_true(st_parse_session_expires("99999999999999999999999999", &se));
    assert_int_equal(se.seconds, ST_MAX_INTERVAL_S);
}

static void test_session_expires_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "0", "abc", "-90", "90s", "90 90", "90;", "90;=uac", "90;refresher", "90;refresher=",
        "90;refresher=both", "90;refresher=uacx", "90;foo=\"unterminated", "90;h=[::1", "90,180", "9 0",
        "90;;refresher=uac",
    };
    st_session_expires_t se = {.seconds = 77, .refresher = ST_REFRESHER_UAC};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (st_parse_session_expires(bad[i], &se))
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(se.seconds, 77); /* untouched on failure */
    }
    assert_false(st_parse_session_expires(NULL, &se));
}

static void test_min_se(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_true(st_parse_min_se("90", &v));
    assert_int_equal(v, 90);
    assert_true(st_parse_min_se(" 120 ;foo=bar", &v));
    assert_int_equal(v, 120);
    assert_true(st_parse_min_se("1000000", &v));
    assert_int_equal(v, ST_MAX_INTERVAL_S);
    v = 5;
    assert_false(st_parse_min_se("0", &v));
    assert_false(st_parse_min_se("x90", &v));
    assert_false(st_parse_min_se("90 x", &v));
    assert_false(st_parse_min_se("", &v));
    assert_false(st_parse_min_se(NULL, &v));
    assert_int_equal(v, 5);
}

static void test_option_lists(void **state)
{
    (void)state;
    assert_true(st_list_has("timer", "timer"));
    assert_true(st_list_has("100rel, timer", "timer"));
    assert_true(st_list_has(" 100rel ,\tTIMER\t, replaces", "timer"));
    assert_false(st_list_has("timers, 100rel", "timer"));
    assert_false(st_list_has("xtimer", "timer"));
    assert_false(st_list_has("", "timer"));
    assert_false(st_list_has(NULL, "timer"));
    assert_true(st_list_has("INVITE, ACK, BYE, UPDATE", "UPDATE"));
    assert_true(st_list_has("invite,update", "UPDATE"));
    assert_false(st_list_has("INVITE, ACK, BYE", "UPDATE"));
}

static const char sdp_v1[] = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                             "m=audio 6000 RTP/AVP 0\r\n";
static const char sdp_v1_other_media[] = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                                         "t=0 0\r\nm=audio 6002 RTP/AVP 8\r\n";
static const char sdp_v2[] = "v=0\r\no=caller 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                             "m=audio 6000 RTP/AVP 0\r\n";
static const char sdp_lf_only[] = "v=0\no=caller 1 1 IN IP4 127.0.0.1\ns=-\n";

static void test_sdp_origin_and_same_session(void **state)
{
    (void)state;
    const char *line;
    size_t len;
    assert_true(st_sdp_origin(sdp_v1, strlen(sdp_v1), &line, &len));
    assert_int_equal(len, strlen("o=caller 1 1 IN IP4 127.0.0.1"));
    assert_memory_equal(line, "o=caller 1 1 IN IP4 127.0.0.1", len);
    /* the same version is the same session whatever else the body says
     * (RFC 3264 8: a change must bump the version) */
    assert_true(st_sdp_same_session(sdp_v1, strlen(sdp_v1), sdp_v1_other_media, strlen(sdp_v1_other_media)));
    assert_true(st_sdp_same_session(sdp_v1, strlen(sdp_v1), sdp_lf_only, strlen(sdp_lf_only)));
    assert_false(st_sdp_same_session(sdp_v1, strlen(sdp_v1), sdp_v2, strlen(sdp_v2)));
    /* no origin line: never "the same" */
    const char no_origin[] = "v=0\r\ns=-\r\nxo=caller 1 1 IN IP4 127.0.0.1\r\n";
    assert_false(st_sdp_origin(no_origin, strlen(no_origin), &line, &len));
    assert_false(st_sdp_same_session(no_origin, strlen(no_origin), no_origin, strlen(no_origin)));
    /* the length is respected: the origin line cut off by len is not found */
    assert_false(st_sdp_origin(sdp_v1, 5, &line, &len));
    assert_false(st_sdp_origin(NULL, 10, &line, &len));
}

/* ---- through the core's parser and the API table ---------------------------------- */

static sw_msg_t *parse(const char *text)
{
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(text, strlen(text), &err);
    if (!m)
        fail_msg("parse: %s", err ? err : "?");
    return m;
}

#define REQUEST_HEAD(method, to)                                                                                  \
    method " sip:4420@127.0.0.1 SIP/2.0\r\n"                                                                      \
           "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"                                                \
           "From: <sip:1001@127.0.0.1>;tag=a\r\n"                                                                 \
           "To: " to "\r\n"                                                                                       \
           "Call-ID: st-1@127.0.0.1\r\n"                                                                          \
           "CSeq: 1 " method "\r\n"                                                                               \
           "Max-Forwards: 70\r\n"

static void test_offer_read_long_forms(void **state)
{
    (void)state;
    const sw_api_t *api = sw_api_table();
    sw_msg_t *m = parse(REQUEST_HEAD("INVITE", "<sip:4420@127.0.0.1>") "Supported: 100rel\r\n"
                                                                        "Supported: timer, replaces\r\n"
                                                                        "Session-Expires: 1800;refresher=uac\r\n"
                                                                        "Min-SE: 120\r\n"
                                                                        "Allow: INVITE, ACK, BYE\r\n"
                                                                        "Allow: UPDATE\r\n"
                                                                        "Content-Length: 0\r\n\r\n");
    st_offer_t o;
    st_offer_read(api, m, &o);
    assert_true(o.supported);
    assert_false(o.required);
    assert_true(o.has_se);
    assert_false(o.se_malformed);
    assert_int_equal(o.se.seconds, 1800);
    assert_int_equal(o.se.refresher, ST_REFRESHER_UAC);
    assert_int_equal(o.min_se_s, 120);
    assert_true(o.allows_update);
    assert_false(st_to_has_tag(api, m));
    sw_msg_free(m);
}

static void test_offer_read_compact_forms(void **state)
{
    (void)state;
    const sw_api_t *api = sw_api_table();
    /* x is Session-Expires, k is Supported (RFC 4028 4, RFC 3261 7.3.3) */
    sw_msg_t *m = parse(REQUEST_HEAD("UPDATE", "<sip:4420@127.0.0.1>;tag=b") "k: timer\r\n"
                                                                              "x: 90;refresher=uas\r\n"
                                                                              "Content-Length: 0\r\n\r\n");
    st_offer_t o;
    st_offer_read(api, m, &o);
    assert_true(o.supported);
    assert_true(o.has_se);
    assert_int_equal(o.se.seconds, 90);
    assert_int_equal(o.se.refresher, ST_REFRESHER_UAS);
    assert_int_equal(o.min_se_s, 0);
    assert_false(o.allows_update);
    assert_true(st_to_has_tag(api, m));
    sw_msg_free(m);
}

static void test_offer_read_require_and_malformed(void **state)
{
    (void)state;
    const sw_api_t *api = sw_api_table();
    sw_msg_t *m = parse(REQUEST_HEAD("INVITE", "sip:4420@127.0.0.1;user=phone") "Require: timer\r\n"
                                                                                "Session-Expires: soon\r\n"
                                                                                "Min-SE: ninety\r\n"
                                                                                "Content-Length: 0\r\n\r\n");
    st_offer_t o;
    st_offer_read(api, m, &o);
    assert_true(o.required);
    assert_true(o.supported); /* Require: timer implies support */
    assert_false(o.has_se);
    assert_true(o.se_malformed);
    assert_int_equal(o.min_se_s, 0);
    assert_false(st_to_has_tag(api, m)); /* a URI parameter is not a tag */
    sw_msg_free(m);

    m = parse(REQUEST_HEAD("INVITE", "<sip:4420@127.0.0.1;tag=uri-param>") "Content-Length: 0\r\n\r\n");
    st_offer_read(api, m, &o);
    assert_false(o.supported);
    assert_false(o.has_se);
    assert_false(o.se_malformed);
    assert_false(st_to_has_tag(api, m)); /* inside <>: part of the URI */
    sw_msg_free(m);
}

static void test_msg_sdp(void **state)
{
    (void)state;
    const sw_api_t *api = sw_api_table();
    char text[1024];
    snprintf(text, sizeof text, REQUEST_HEAD("INVITE", "<sip:4420@127.0.0.1>;tag=b") "Content-Type: %s\r\n"
                                                                                     "Content-Length: %zu\r\n\r\n%s",
             "Application/SDP; charset=x", strlen(sdp_v1), sdp_v1);
    sw_msg_t *m = parse(text);
    const char *body;
    size_t len;
    assert_true(st_msg_sdp(api, m, &body, &len));
    assert_int_equal(len, strlen(sdp_v1));
    sw_msg_free(m);
    snprintf(text, sizeof text, REQUEST_HEAD("INFO", "<sip:4420@127.0.0.1>;tag=b") "Content-Type: %s\r\n"
                                                                                   "Content-Length: 2\r\n\r\nhi",
             "application/sdpx");
    m = parse(text);
    assert_false(st_msg_sdp(api, m, &body, &len));
    sw_msg_free(m);
    m = parse(REQUEST_HEAD("INVITE", "<sip:4420@127.0.0.1>;tag=b") "Content-Type: application/sdp\r\n"
                                                                   "Content-Length: 0\r\n\r\n");
    assert_false(st_msg_sdp(api, m, &body, &len)); /* empty: no offer */
    sw_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_expires_values_and_refresher),
        cmocka_unit_test(test_session_expires_malformed),
        cmocka_unit_test(test_min_se),
        cmocka_unit_test(test_option_lists),
        cmocka_unit_test(test_sdp_origin_and_same_session),
        cmocka_unit_test(test_offer_read_long_forms),
        cmocka_unit_test(test_offer_read_compact_forms),
        cmocka_unit_test(test_offer_read_require_and_malformed),
        cmocka_unit_test(test_msg_sdp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
