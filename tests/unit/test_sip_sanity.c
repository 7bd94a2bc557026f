/* Sanity checks (one test per class of failure), header access and the
 * responses the front door builds on its own. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "sipswitch/version.h"

#define SDP "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

/* A good INVITE, cut in pieces so tests can swap one line. */
#define INVITE_LINE "INVITE sip:bob@example.com SIP/2.0\r\n"
#define VIA "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;rport\r\n"
#define FROM "From: <sip:alice@example.net>;tag=f1\r\n"
#define TO "To: <sip:bob@example.com>\r\n"
#define CALL_ID "Call-ID: sanity-1@10.0.0.1\r\n"
#define CSEQ "CSeq: 1 INVITE\r\n"
#define MF "Max-Forwards: 70\r\n"
#define SDP_HEADERS "Content-Type: application/sdp\r\nContent-Length: 87\r\n\r\n" SDP

#define GOOD_INVITE INVITE_LINE VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS

static sw_msg_t *parse(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len); /* no NUL after the bytes, as from a socket */
    assert_non_null(copy);
    memcpy(copy, text, len);
    /* framed as the transport does (datagram) */
    sw_frame_t frame;
    if (sw_sip_frame(copy, len, false, 65535, &frame) != SW_FRAME_OK)
        fail_msg("framing failed: %s", frame.error);
    assert_int_equal(frame.total, len);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(copy + frame.skipped, frame.total - frame.skipped, &err);
    free(copy);
    if (m == NULL)
        fail_msg("parse failed: %s", err);
    m->origin.transport = SW_TRANSPORT_UDP;
    strcpy(m->origin.src_ip, "192.0.2.7");
    m->origin.src_port = 40000;
    struct sockaddr_in *sin = (struct sockaddr_in *)&m->origin.src;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.7", &sin->sin_addr);
    m->origin.src_len = sizeof *sin;
    return m;
}

/* Runs the checks on a message; returns the code and copies the result. */
static int check(const char *text, sw_sanity_t *result)
{
    sw_msg_t *m = parse(text);
    sw_sanity_t s;
    sw_sip_sanity_check(m, &s);
    sw_msg_free(m);
    if (result != NULL)
        *result = s;
    return s.code;
}

static void assert_code(const char *text, int code, const char *reason)
{
    sw_sanity_t s;
    int got = check(text, &s);
    if (got != code)
        fail_msg("expected %d, got %d (%s)", code, got, s.reason ? s.reason : "-");
    if (reason != NULL)
        assert_string_equal(s.reason, reason);
}

/* ---- sanity checks --------------------------------------------------------- */

static void test_good_invite_passes(void **state)
{
    (void)state;
    sw_sanity_t s;
    assert_int_equal(check(GOOD_INVITE, &s), 0);
    assert_null(s.reason);
    assert_string_equal(s.extra, "");
    /* compact forms and folding are fine */
    assert_code("INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1\r\n ;branch=z9hG4bKx\r\n"
                "f: <sip:a@example.net>;tag=1\r\nt: <sip:bob@example.com>\r\ni: x@y\r\n"
                "CSeq: 7\r\n INVITE\r\nc: application/sdp\r\nl: 87\r\n\r\n" SDP,
                0, NULL);
    /* no Max-Forwards (RFC 2543) and no Content-Length on a datagram */
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ "Content-Type: application/sdp\r\n\r\n" SDP, 0, NULL);
}

static void test_version_505(void **state)
{
    (void)state;
    assert_code("INVITE sip:bob@example.com SIP/3.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS, 505,
                "Version Not Supported");
}

static void test_missing_headers_400(void **state)
{
    (void)state;
    assert_code(INVITE_LINE FROM TO CALL_ID CSEQ MF SDP_HEADERS, 400, "Missing Via header");
    assert_code(INVITE_LINE VIA TO CALL_ID CSEQ MF SDP_HEADERS, 400, "Missing From header");
    assert_code(INVITE_LINE VIA FROM CALL_ID CSEQ MF SDP_HEADERS, 400, "Missing To header");
    assert_code(INVITE_LINE VIA FROM TO CSEQ MF SDP_HEADERS, 400, "Missing Call-ID header");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID MF SDP_HEADERS, 400, "Missing CSeq header");
}

/* Our answers append a tag to the To as received: To and From must leave
 * that parseable (found by fuzz_sip_message; doc/robustness.md). */
static void test_malformed_address_params_400(void **state)
{
    (void)state;
    /* dropped (-1): a 400 would have to echo them */
    assert_code(INVITE_LINE VIA FROM "To: <sip:bob@example.com>;tag=\r\n" CALL_ID CSEQ MF SDP_HEADERS, -1,
                "Malformed To header");
    assert_code(INVITE_LINE VIA FROM "To: <sip:bob@example.com>;\r\n" CALL_ID CSEQ MF SDP_HEADERS, -1,
                "Malformed To header");
    assert_code(INVITE_LINE VIA "From: <sip:a@example.net>;tag=1;\r\n" TO CALL_ID CSEQ MF SDP_HEADERS, -1,
                "Malformed From header");
    /* parameters that are tokens, with or without values, are fine */
    assert_code(INVITE_LINE VIA "From: \"A;B\" <sip:a@example.net;user=phone>;tag=1;x\r\n"
                "To: sip:bob@example.com;p=v\r\n" CALL_ID CSEQ MF SDP_HEADERS, 0, NULL);
}

static void test_duplicate_headers_400(void **state)
{
    (void)state;
    assert_code(INVITE_LINE VIA FROM TO "t: <sip:carol@example.com>\r\n" CALL_ID CSEQ MF SDP_HEADERS,
                400, "Duplicate To header");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Max-Forwards: 5\r\n" SDP_HEADERS, 400,
                "Duplicate Max-Forwards header");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID "i: other@x\r\n" CSEQ MF SDP_HEADERS, 400,
                "Duplicate Call-ID header");
}

static void test_cseq_400(void **state)
{
    (void)state;
    /* method mismatch */
    assert_code("OPTIONS sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF "l: 0\r\n\r\n", 400,
                "CSeq method does not match the request");
    /* number range: up to 2^32-1 */
    assert_code(INVITE_LINE VIA FROM TO CALL_ID "CSeq: 4294967296 INVITE\r\n" MF SDP_HEADERS, 400,
                "Invalid CSeq");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID "CSeq: 4294967295 INVITE\r\n" MF SDP_HEADERS, 0, NULL);
    assert_code(INVITE_LINE VIA FROM TO CALL_ID "CSeq: x1 INVITE\r\n" MF SDP_HEADERS, 400, "Invalid CSeq");
}

static void test_unknown_method_501(void **state)
{
    (void)state;
    assert_code("FOO sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 FOO\r\n" MF "l: 0\r\n\r\n",
                501, "Not Implemented");
    /* even when the CSeq does not match (mismatch02) */
    assert_code("FOO sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF "l: 0\r\n\r\n", 501, NULL);
    /* methods are case-sensitive */
    assert_code("invite sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 invite\r\n" MF
                "l: 0\r\n\r\n",
                501, NULL);
    assert_true(sw_sip_method_known("PRACK"));
    assert_false(sw_sip_method_known("prack"));
    assert_false(sw_sip_method_known(NULL));
    assert_non_null(strstr(sw_sip_allowed_methods, "SUBSCRIBE"));
    assert_non_null(strstr(sw_sip_supported_tags, "100rel"));
}

static void test_uri_scheme_416(void **state)
{
    (void)state;
    assert_code("INVITE mailto:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS, 416,
                "Unsupported URI Scheme");
    /* a scheme libosip2 cannot parse still gets its 416 */
    assert_code("INVITE x-my.scheme:abc SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS, 416, NULL);
    assert_code("INVITE tel:+15551234567 SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS, 0, NULL);
    assert_code("INVITE SIPS:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS, 0, NULL);
}

static void test_max_forwards(void **state)
{
    (void)state;
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ "Max-Forwards: 0\r\n" SDP_HEADERS, 483,
                "Too Many Hops");
    /* the switch answers OPTIONS itself: Max-Forwards 0 is fine */
    assert_code("OPTIONS sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 OPTIONS\r\n"
                "Max-Forwards: 0\r\nl: 0\r\n\r\n",
                0, NULL);
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ "Max-Forwards: 256\r\n" SDP_HEADERS, 400,
                "Invalid Max-Forwards");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ "Max-Forwards: 0070\r\n" SDP_HEADERS, 0, NULL);
}

static void test_require_420(void **state)
{
    (void)state;
    sw_sanity_t s;
    assert_int_equal(check(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF
                           "Require: 100rel, foo\r\nRequire: bar ,timer\r\n" SDP_HEADERS,
                           &s),
                     420);
    assert_string_equal(s.reason, "Bad Extension");
    assert_string_equal(s.extra, "Unsupported: foo, bar\r\n");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Require: timer, replaces,100rel\r\n" SDP_HEADERS, 0,
                NULL);
    /* Proxy-Require is for proxies; we are the UAS */
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Proxy-Require: foo\r\n" SDP_HEADERS, 0, NULL);
    /* CANCEL is never refused for its Require */
    assert_code("CANCEL sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 CANCEL\r\n" MF
                "Require: foo\r\nl: 0\r\n\r\n",
                0, NULL);
}

static void test_content_type_415(void **state)
{
    (void)state;
    sw_sanity_t s;
    assert_int_equal(check(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF
                           "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
                           &s),
                     415);
    assert_string_equal(s.extra, "Accept: application/sdp\r\n");
    /* parameters and case do not matter */
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF
                "Content-Type: Application/SDP ; charset=utf-8\r\nContent-Length: 87\r\n\r\n" SDP,
                0, NULL);
    /* multipart with an SDP part is fine, without one it is not */
    const char *part_sdp = "--b\r\nContent-Type: application/sdp\r\n\r\n" SDP "--b--\r\n";
    const char *part_txt = "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
    char msg[1024];
    snprintf(msg, sizeof msg,
             INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Content-Type: multipart/mixed;boundary=b\r\n"
                                                     "Content-Length: %zu\r\n\r\n%s",
             strlen(part_sdp), part_sdp);
    assert_code(msg, 0, NULL);
    snprintf(msg, sizeof msg,
             INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Content-Type: multipart/mixed;boundary=b\r\n"
                                                     "Content-Length: %zu\r\n\r\n%s",
             strlen(part_txt), part_txt);
    assert_code(msg, 415, NULL);
    /* a body needs a Content-Type */
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Content-Length: 5\r\n\r\nhello", 400,
                "Missing Content-Type");
    /* other methods may carry other bodies */
    assert_code("MESSAGE sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 MESSAGE\r\n" MF
                "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
                0, NULL);
}

static void test_accept_406(void **state)
{
    (void)state;
    sw_sanity_t s;
    assert_int_equal(check(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Accept: text/nobodyKnowsThis\r\n" SDP_HEADERS,
                           &s),
                     406);
    assert_string_equal(s.reason, "Not Acceptable");
    assert_memory_equal(s.extra, "Warning: 399 ", 13);
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Accept: text/plain, application/sdp;q=0.5\r\n" SDP_HEADERS,
                0, NULL);
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Accept: text/plain\r\nAccept: application/*\r\n" SDP_HEADERS,
                0, NULL);
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Accept: */*\r\n" SDP_HEADERS, 0, NULL);
}

static void test_other_400s(void **state)
{
    (void)state;
    assert_code("INVITE sip:bob@example.com?Route=%3Csip:x%3E SIP/2.0\r\n" VIA FROM TO CALL_ID CSEQ MF SDP_HEADERS,
                400, "Request-URI with headers");
    assert_code(INVITE_LINE "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK\r\n" FROM TO CALL_ID CSEQ MF SDP_HEADERS,
                400, "Invalid Via branch");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Contact: sip:a@b?Route=%3Csip:x%3E\r\n" SDP_HEADERS,
                400, "URI with headers outside <>");
    assert_code(INVITE_LINE VIA FROM TO CALL_ID CSEQ MF "Contact: <sip:a@b?Route=%3Csip:x%3E>\r\n" SDP_HEADERS,
                0, NULL);
    assert_code("REGISTER sip:example.com SIP/2.0\r\n" VIA FROM "To: <isbn:1234>\r\n" CALL_ID
                "CSeq: 1 REGISTER\r\n" MF "l: 0\r\n\r\n",
                400, "To of a REGISTER must be a SIP URI");
}

/* An INVITE with one more header, "X-Note: <value>" (value_len bytes, may
 * hold control characters). */
static int check_note(const char *value, size_t value_len)
{
    char text[1024];
    int head = snprintf(text, sizeof text, "%sX-Note: ", INVITE_LINE VIA FROM TO CALL_ID CSEQ MF);
    assert_true(head > 0 && (size_t)head + value_len + sizeof SDP_HEADERS < sizeof text);
    memcpy(text + head, value, value_len);
    snprintf(text + head + value_len, sizeof text - (size_t)head - value_len, "\r\n%s", SDP_HEADERS);
    return check(text, NULL);
}

/* The control-character scan skips clean 8-byte words: a control character
 * is found at every offset of a value, whatever its alignment, and a
 * quoted string's escapes are honoured across word boundaries. */
static void test_control_char_at_every_offset(void **state)
{
    (void)state;
    static const char ctls[] = {0x01, 0x0b, 0x1f, 0x7f};
    char value[40];
    for (size_t len = 1; len < sizeof value; len++) {
        memset(value, 'a', len);
        assert_int_equal(check_note(value, len), 0);
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof ctls; k++) {
                memset(value, 'a', len);
                value[at] = ctls[k];
                if (at == 0 || at == len - 1)
                    continue; /* leading/trailing bytes are the framing's business */
                if (check_note(value, len) != 400)
                    fail_msg("control 0x%02x at %zu of %zu not found", (unsigned)(unsigned char)ctls[k], at, len);
            }
            memset(value, 'a', len);
            value[at] = '\t'; /* whitespace, not a control character */
            if (at > 0 && at < len - 1)
                assert_int_equal(check_note(value, len), 0);
        }
    }
    /* "...\<BEL>..." inside quotes is a quoted-pair; a BEL after the closing
     * quote is not, wherever the quote falls in its word */
    for (size_t at = 1; at < 20; at++) {
        char v[64];
        memset(v, 'b', sizeof v);
        v[at] = '"';
        v[at + 1] = '\\';
        v[at + 2] = 0x07;
        v[at + 3] = '"';
        assert_int_equal(check_note(v, at + 4 + 10), 0);
        v[at + 4 + 9] = 0x07;
        assert_int_equal(check_note(v, at + 4 + 11), 400);
    }
}

/* The checks skip the control-character scan of a field the parser saw clean
 * (sw_msg_hdr_t.no_ctl). With a control character at every offset of every
 * header line (an escaped one in a quoted display name among them), the
 * verdict is the one of the full scan: every field's flag cleared. */
static void test_control_char_fast_path_agrees(void **state)
{
    (void)state;
    static const char text[] = INVITE_LINE VIA "From: \"A \\\"q\\\" B\" <sip:alice@example.net>;tag=f1\r\n" TO
        CALL_ID CSEQ MF "Subject: hello\r\n" SDP_HEADERS;
    static const char ctls[] = {0x00, 0x01, 0x07, 0x0b, 0x1f, 0x7f};
    size_t len = strlen(text), headers = (size_t)(strstr(text, "\r\n") + 2 - text);
    size_t body = (size_t)(strstr(text, "\r\n\r\n") + 2 - text), compared = 0, refused = 0;
    for (size_t at = headers; at < body; at++) {
        if (text[at] == '\r' || text[at] == '\n')
            continue;
        for (size_t k = 0; k < sizeof ctls; k++) {
            char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, text, len);
            copy[at] = ctls[k];
            sw_msg_t *m = sw_msg_parse(copy, len, NULL);
            free(copy);
            if (m == NULL)
                continue;
            sw_sanity_t fast, full;
            sw_sip_sanity_check(m, &fast);
            for (size_t i = 0; i < m->hdr_count; i++)
                m->hdrs[i].no_ctl = false;
            sw_sip_sanity_check(m, &full);
            sw_msg_free(m);
            if (fast.code != full.code || strcmp(fast.reason ? fast.reason : "", full.reason ? full.reason : "") != 0)
                fail_msg("0x%02x at %zu: %d %s, full scan %d %s", (unsigned)(unsigned char)ctls[k], at, fast.code,
                         fast.reason ? fast.reason : "-", full.code, full.reason ? full.reason : "-");
            compared++;
            refused += fast.code != 0;
        }
    }
    /* the clean message takes the fast path and passes */
    sw_msg_t *m = parse(text);
    for (size_t i = 0; i < m->hdr_count; i++)
        assert_true(m->hdrs[i].no_ctl);
    sw_sanity_t s;
    sw_sip_sanity_check(m, &s);
    assert_int_equal(s.code, 0);
    sw_msg_free(m);
    printf("# compared %zu, refused %zu\n", compared, refused);
    assert_true(compared > 500);
    assert_true(refused > 500);
}

static void test_ack_is_never_answered(void **state)
{
    (void)state;
    assert_code("ACK sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 ACK\r\n"
                "Max-Forwards: 0\r\nl: 0\r\n\r\n",
                -1, NULL);
    assert_code("ACK sip:bob@example.com SIP/2.0\r\n" VIA FROM TO CALL_ID "CSeq: 1 ACK\r\n" MF "l: 0\r\n\r\n",
                0, NULL);
}

static void test_responses(void **state)
{
    (void)state;
    const char *ok = "SIP/2.0 200 OK\r\n" VIA FROM "To: <sip:bob@example.com>;tag=t\r\n" CALL_ID CSEQ
                     "l: 0\r\n\r\n";
    assert_code(ok, 0, NULL);
    /* a status below 100 or a broken response is dropped, never answered */
    assert_code("SIP/2.0 099 Odd\r\n" VIA FROM TO CALL_ID CSEQ "l: 0\r\n\r\n", -1, NULL);
    assert_code("SIP/2.0 200 OK\r\n" VIA FROM TO CSEQ "l: 0\r\n\r\n", -1, NULL);
    assert_code("SIP/2.0 200 OK\r\n" VIA FROM TO CALL_ID "CSeq: 99999999999 INVITE\r\nl: 0\r\n\r\n", -1, NULL);
    const char *err = NULL;
    assert_null(sw_msg_parse("SIP/2.0 4294967301 X\r\n\r\n", 24, &err));
    assert_non_null(err);
}

/* ---- message access ---------------------------------------------------------- */

static void test_header_access(void **state)
{
    (void)state;
    sw_msg_t *m = parse(INVITE_LINE VIA "v: SIP/2.0/TCP second.example.com;branch=z9hG4bK2\r\n" FROM TO
                        CALL_ID CSEQ MF "X-Custom:   some  value  \r\n\tfolded\r\n" SDP_HEADERS);
    assert_true(sw_msg_is_request(m));
    assert_string_equal(sw_msg_method(m), "INVITE");
    assert_string_equal(sw_msg_ruri(m), "sip:bob@example.com");
    assert_string_equal(sw_msg_ruri_scheme(m), "sip");
    assert_string_equal(sw_msg_call_id(m), "sanity-1@10.0.0.1");
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");
    assert_null(sw_msg_to_tag(m));
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKabc");
    assert_int_equal(sw_msg_header_count(m, "via"), 2);
    assert_int_equal(sw_msg_header_count(m, "V"), 2);
    assert_string_equal(sw_msg_header(m, "Via", 1), "SIP/2.0/TCP second.example.com;branch=z9hG4bK2");
    assert_null(sw_msg_header(m, "Via", 2));
    assert_string_equal(sw_msg_header(m, "x-custom", 0), "some  value folded");
    assert_string_equal(sw_msg_header(m, "l", 0), "87");
    assert_string_equal(sw_msg_header(m, "Content-Type", 0), "application/sdp");
    size_t body_len;
    assert_memory_equal(sw_msg_body(m, &body_len), "v=0\r\n", 5);
    assert_int_equal(body_len, 87);

    /* edits reach both the header list and libosip2's view */
    assert_int_equal(sw_msg_header_remove(m, "v"), 2);
    assert_int_equal(sw_msg_header_count(m, "Via"), 0);
    assert_null(sw_msg_top_via_branch(m));
    assert_int_equal(sw_msg_header_add(m, "Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKnew"), 0);
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKnew");
    assert_int_equal(sw_msg_header_add(m, "P-Asserted-Identity", " <sip:alice@example.net> "), 0);
    assert_string_equal(sw_msg_header(m, "p-asserted-identity", 0), "<sip:alice@example.net>");
    assert_int_equal(sw_msg_header_remove(m, "P-Asserted-Identity"), 1);
    assert_int_equal(sw_msg_header_remove(m, "P-Asserted-Identity"), 0);
    /* refused: a second From, a bad name, a line break */
    assert_int_equal(sw_msg_header_add(m, "From", "<sip:x@y>"), -1);
    assert_int_equal(sw_msg_header_add(m, "Bad Name", "x"), -1);
    assert_int_equal(sw_msg_header_add(m, "X-A", "a\r\nInjected: 1"), -1);
    assert_int_equal(sw_msg_header_count(m, "From"), 1);
    assert_int_equal(sw_msg_header_remove(m, "From"), 1);
    assert_int_equal(sw_msg_header_add(m, "From", "<sip:x@y>;tag=9"), 0);
    assert_string_equal(sw_msg_header(m, "f", 0), "<sip:x@y>;tag=9");
    sw_msg_free(m);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "INVITE  sip:a@b SIP/2.0\r\n\r\n",         /* two SPs */
        "INVITE sip:a@b SIP/2.0 \r\n\r\n",         /* trailing SP */
        "INVITE <sip:a@b> SIP/2.0\r\n\r\n",        /* no scheme */
        "INVITE sip:a@b\r\n\r\n",                  /* no version */
        "INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\n folded first\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\nX: 1\r\n",      /* no end of headers */
        "SIP/2.0 20 OK\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err = NULL;
        sw_msg_t *m = sw_msg_parse(bad[i], strlen(bad[i]), &err);
        if (m != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(err);
    }
    /* a flood of header lines is refused before libosip2 sees it */
    size_t cap = 64 + (SW_MSG_MAX_HEADERS + 1) * 8, n = 0;
    char *many = malloc(cap);
    assert_non_null(many);
    n += (size_t)snprintf(many, cap, "OPTIONS sip:a@b SIP/2.0\r\n");
    for (size_t i = 0; i <= SW_MSG_MAX_HEADERS; i++)
        n += (size_t)snprintf(many + n, cap - n, "X: a\r\n");
    n += (size_t)snprintf(many + n, cap - n, "\r\n");
    const char *err = NULL;
    assert_null(sw_msg_parse(many, n, &err));
    assert_string_equal(err, "too many headers");
    free(many);
    /* a NUL outside a quoted-pair is junk */
    static const char nul[] = "OPTIONS sip:a@b SIP/2.0\r\nX: a\0b\r\n\r\n";
    assert_null(sw_msg_parse(nul, sizeof nul - 1, NULL));
}

/* ---- responses ------------------------------------------------------------- */

static char *reply_to(const char *request, int code, const char *to_tag, const char *extra, size_t *len)
{
    sw_msg_t *m = parse(request);
    char *reply = sw_sip_build_reply(m, code, NULL, to_tag, extra, len);
    sw_msg_free(m);
    assert_non_null(reply);
    assert_int_equal(strlen(reply), *len);
    return reply;
}

static void test_reply_via_received_rport(void **state)
{
    (void)state;
    size_t len;
    char *r = reply_to(INVITE_LINE VIA "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK0\r\n" FROM TO
                       CALL_ID CSEQ MF SDP_HEADERS,
                       486, "abc", NULL, &len);
    assert_string_equal(r, "SIP/2.0 486 Busy Here\r\n"
                           "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;rport=40000;received=192.0.2.7\r\n"
                           "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK0\r\n"
                           "From: <sip:alice@example.net>;tag=f1\r\n"
                           "To: <sip:bob@example.com>;tag=abc\r\n"
                           "Call-ID: sanity-1@10.0.0.1\r\n"
                           "CSeq: 1 INVITE\r\n"
                           "Server: sipswitch/" SIPSWITCH_VERSION "\r\n"
                           "Content-Length: 0\r\n\r\n");
    free(r);

    /* sent-by is the source and no rport: the Via comes back unchanged */
    r = reply_to(INVITE_LINE "Via: SIP/2.0/UDP 192.0.2.7:40000;branch=z9hG4bKq\r\n" FROM TO CALL_ID CSEQ MF
                 SDP_HEADERS,
                 500, "x", NULL, &len);
    assert_non_null(strstr(r, "\r\nVia: SIP/2.0/UDP 192.0.2.7:40000;branch=z9hG4bKq\r\n"));
    free(r);

    /* another host without rport: received only */
    r = reply_to(INVITE_LINE "Via: SIP/2.0/UDP pc.example.com;branch=z9hG4bKq\r\n" FROM TO CALL_ID CSEQ MF
                 SDP_HEADERS,
                 500, "x", NULL, &len);
    assert_non_null(strstr(r, "\r\nVia: SIP/2.0/UDP pc.example.com;branch=z9hG4bKq;received=192.0.2.7\r\n"));
    free(r);

    /* a comma list in the top Via line: only the first value is changed */
    r = reply_to(INVITE_LINE "Via: SIP/2.0/UDP a.example.com;rport;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
                 FROM TO CALL_ID CSEQ MF SDP_HEADERS,
                 500, "x", NULL, &len);
    assert_non_null(strstr(r, "\r\nVia: SIP/2.0/UDP a.example.com;rport=40000;branch=z9hG4bK1;received=192.0.2.7 , "
                              "SIP/2.0/UDP b;branch=z9hG4bK2\r\n"));
    free(r);
}

static void test_reply_to_tag(void **state)
{
    (void)state;
    size_t len;
    /* generated tag when none is given */
    char *r = reply_to(GOOD_INVITE, 404, NULL, NULL, &len);
    const char *to = strstr(r, "\r\nTo: <sip:bob@example.com>;tag=");
    assert_non_null(to);
    const char *tag = to + strlen("\r\nTo: <sip:bob@example.com>;tag=");
    assert_true(strspn(tag, "0123456789abcdef") >= 8);
    free(r);
    /* 100 Trying gets none */
    r = reply_to(GOOD_INVITE, 100, "abc", NULL, &len);
    assert_non_null(strstr(r, "SIP/2.0 100 Trying\r\n"));
    assert_non_null(strstr(r, "\r\nTo: <sip:bob@example.com>\r\n"));
    free(r);
    /* a To that has a tag keeps it alone */
    r = reply_to(INVITE_LINE VIA FROM "To: <sip:bob@example.com>;tag=old\r\n" CALL_ID CSEQ MF SDP_HEADERS, 481,
                 "new", NULL, &len);
    assert_non_null(strstr(r, "\r\nTo: <sip:bob@example.com>;tag=old\r\n"));
    assert_null(strstr(r, "new"));
    free(r);
    /* extra headers and a custom reason */
    sw_msg_t *m = parse(GOOD_INVITE);
    r = sw_sip_build_reply(m, 420, "Bad Extension", "t", "Unsupported: foo\r\n", &len);
    assert_non_null(strstr(r, "SIP/2.0 420 Bad Extension\r\n"));
    assert_non_null(strstr(r, "\r\nUnsupported: foo\r\nContent-Length: 0\r\n\r\n"));
    free(r);
    assert_null(sw_sip_build_reply(m, 99, NULL, NULL, NULL, &len));
    sw_msg_free(m);
}

static char *raw_reply(const char *text, size_t *len)
{
    size_t n = strlen(text);
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    sw_msg_origin_t origin = {.transport = SW_TRANSPORT_UDP, .src_port = 5060};
    char *r = sw_sip_build_reply_raw(copy, n, &origin, 400, "Bad Request", len);
    free(copy);
    return r;
}

static void test_raw_reply(void **state)
{
    (void)state;
    size_t len;
    /* unparseable (two SPs), compact forms, a folded Via, two Vias */
    char *r = raw_reply("INVITE  sip:bob@example.com SIP/2.0\r\n"
                        "v: SIP/2.0/UDP 10.0.0.1\r\n ;branch=z9hG4bK1\r\n"
                        "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n"
                        "f: <sip:a@x>;tag=1\r\nt: <sip:b@y>\r\ni: raw-1\r\nCSeq: 5 INVITE\r\n"
                        "Call-ID: second-is-ignored\r\n"
                        "Content-Length: 2\r\n\r\nv=",
                        &len);
    assert_non_null(r);
    assert_string_equal(r, "SIP/2.0 400 Bad Request\r\n"
                           "v: SIP/2.0/UDP 10.0.0.1\r\n ;branch=z9hG4bK1\r\n"
                           "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n"
                           "f: <sip:a@x>;tag=1\r\n"
                           "t: <sip:b@y>;tag=swre443dc7d8f75dd73\r\n" /* added: a final response needs one */
                           "i: raw-1\r\n"
                           "CSeq: 5 INVITE\r\n"
                           "Server: sipswitch/" SIPSWITCH_VERSION "\r\n"
                           "Content-Length: 0\r\n\r\n");
    assert_int_equal(len, strlen(r));
    free(r);
    /* without a Call-ID there is nothing to answer */
    assert_null(raw_reply("INVITE  sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@x>\r\n"
                          "To: <sip:b@y>\r\nCSeq: 5 INVITE\r\n\r\n",
                          &len));
    /* a Call-ID in the body does not count */
    assert_null(raw_reply("INVITE  sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@x>\r\n"
                          "To: <sip:b@y>\r\nCSeq: 5 INVITE\r\n\r\nCall-ID: x\r\n",
                          &len));
    /* responses and ACKs are never answered */
    assert_null(raw_reply("SIP/2.0 200  OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@x>\r\nTo: <sip:b@y>\r\n"
                          "Call-ID: c\r\nCSeq: 5 INVITE\r\n\r\n",
                          &len));
    assert_null(raw_reply("ACK  sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@x>\r\nTo: <sip:b@y>\r\n"
                          "Call-ID: c\r\nCSeq: 5 ACK\r\n\r\n",
                          &len));
    /* headers cut off at the end of the buffer still count */
    r = raw_reply("INVITE  sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@x>\r\nTo: <sip:b@y>\r\n"
                  "Call-ID: c\r\nCSeq: 5 INVITE",
                  &len);
    assert_non_null(r);
    assert_non_null(strstr(r, "\r\nCSeq: 5 INVITE\r\nServer: "));
    free(r);
}

static unsigned destination_port(const char *via, sw_transport_t transport)
{
    char msg[512];
    snprintf(msg, sizeof msg, "OPTIONS sip:b@y SIP/2.0\r\n%s" FROM TO CALL_ID "CSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
             via);
    sw_msg_t *m = parse(msg);
    m->origin.transport = transport;
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    sw_sip_reply_destination(m, &addr, &addr_len);
    sw_msg_free(m);
    assert_int_equal(addr_len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr;
    assert_int_equal(sin->sin_family, AF_INET);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    assert_string_equal(ip, "192.0.2.7"); /* always the source address */
    return ntohs(sin->sin_port);
}

static void test_reply_destination(void **state)
{
    (void)state;
    assert_int_equal(destination_port("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport\r\n", SW_TRANSPORT_UDP),
                     40000);
    assert_int_equal(destination_port("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1\r\n", SW_TRANSPORT_UDP), 5070);
    assert_int_equal(destination_port("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n", SW_TRANSPORT_UDP), 5060);
    assert_int_equal(destination_port("Via: SIP / 2.0 / UDP [2001:db8::1] : 5080 ;branch=z9hG4bK1\r\n",
                                      SW_TRANSPORT_UDP),
                     5080);
    /* TCP: back over the connection, i.e. the source as it is */
    assert_int_equal(destination_port("Via: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1\r\n", SW_TRANSPORT_TCP),
                     40000);
}

static void test_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(sw_sip_reason_phrase(200), "OK");
    assert_string_equal(sw_sip_reason_phrase(404), "Not Found");
    assert_string_equal(sw_sip_reason_phrase(420), "Bad Extension");
    assert_string_equal(sw_sip_reason_phrase(422), "Session Interval Too Small");
    assert_string_equal(sw_sip_reason_phrase(423), "Interval Too Brief");
    assert_string_equal(sw_sip_reason_phrase(483), "Too Many Hops");
    assert_string_equal(sw_sip_reason_phrase(484), "Address Incomplete");
    assert_string_equal(sw_sip_reason_phrase(485), "Ambiguous");
    assert_string_equal(sw_sip_reason_phrase(488), "Not Acceptable Here");
    assert_string_equal(sw_sip_reason_phrase(491), "Request Pending");
    assert_string_equal(sw_sip_reason_phrase(493), "Undecipherable");
    assert_string_equal(sw_sip_reason_phrase(494), "Security Agreement Required");
    assert_string_equal(sw_sip_reason_phrase(505), "Version Not Supported");
    assert_string_equal(sw_sip_reason_phrase(513), "Message Too Large");
    assert_string_equal(sw_sip_reason_phrase(580), "Precondition Failure");
    assert_string_equal(sw_sip_reason_phrase(603), "Decline");
    assert_string_equal(sw_sip_reason_phrase(499), "Request Failure");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_invite_passes),
        cmocka_unit_test(test_version_505),
        cmocka_unit_test(test_missing_headers_400),
        cmocka_unit_test(test_malformed_address_params_400),
        cmocka_unit_test(test_duplicate_headers_400),
        cmocka_unit_test(test_cseq_400),
        cmocka_unit_test(test_unknown_method_501),
        cmocka_unit_test(test_uri_scheme_416),
        cmocka_unit_test(test_max_forwards),
        cmocka_unit_test(test_require_420),
        cmocka_unit_test(test_content_type_415),
        cmocka_unit_test(test_accept_406),
        cmocka_unit_test(test_other_400s),
        cmocka_unit_test(test_ack_is_never_answered),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_header_access),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_reply_via_received_rport),
        cmocka_unit_test(test_reply_to_tag),
        cmocka_unit_test(test_raw_reply),
        cmocka_unit_test(test_reply_destination),
        cmocka_unit_test(test_reason_phrases),
        cmocka_unit_test(test_control_char_at_every_offset),
        cmocka_unit_test(test_control_char_fast_path_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
