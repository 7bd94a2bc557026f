/* Building SIP messages (core/sip/message.c): requests and responses made
 * from scratch, header add/remove/set, bodies (binary ones included), the
 * Request-URI, and serialisation checked by parsing the bytes back with the
 * front door's own framing and parser.
 *
 * Leaks: ./libtool --mode=execute valgrind --leak-check=full --error-exitcode=1 \
 *        tests/unit/test_sip_build   (from build/) */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <osipparser2/osip_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/plain.h"
#include "sip/sip.h"
#include "sipswitch/version.h"

#define SDP                                                                                   \
    "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"               \
    "m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

/* Parses exactly what the transport would hand over for a TCP stream (the
 * strictest framing: Content-Length required and exact). */
static sw_msg_t *parse_bytes(const char *bytes, size_t len)
{
    sw_frame_t frame;
    if (sw_sip_frame(bytes, len, true, 1 << 20, &frame) != SW_FRAME_OK)
        fail_msg("framing failed: %s", frame.error ? frame.error : "incomplete");
    assert_int_equal(frame.skipped, 0);
    assert_int_equal(frame.total, len);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(bytes, len, &err);
    if (m == NULL)
        fail_msg("parse failed: %s\n%.*s", err, (int)len, bytes);
    return m;
}

static sw_msg_t *parse_text(const char *text)
{
    return parse_bytes(text, strlen(text));
}

/* Serialises m, checks the bytes end their headers with CRLF CRLF followed
 * by exactly the body, and parses them back. */
static sw_msg_t *round_trip(const sw_msg_t *m)
{
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    assert_non_null(bytes);
    assert_int_equal(bytes[len], '\0');
    size_t body_len = 0;
    const char *body = sw_msg_body(m, &body_len);
    assert_true(len >= body_len + 4);
    assert_memory_equal(bytes + len - body_len - 4, "\r\n\r\n", 4);
    if (body_len > 0)
        assert_memory_equal(bytes + len - body_len, body, body_len);
    sw_msg_t *back = parse_bytes(bytes, len);
    free(bytes);
    return back;
}

/* The same start line, the same headers in the same order (except one
 * Content-Length the serialiser added, when `a` had none), the same body. */
static void assert_same_message(const sw_msg_t *a, const sw_msg_t *b)
{
    assert_int_equal(sw_msg_is_request(a), sw_msg_is_request(b));
    assert_string_equal(sw_msg_version(a), sw_msg_version(b));
    if (sw_msg_is_request(a)) {
        assert_string_equal(sw_msg_method(a), sw_msg_method(b));
        assert_string_equal(sw_msg_ruri(a), sw_msg_ruri(b));
    } else {
        assert_int_equal(sw_msg_status(a), sw_msg_status(b));
        assert_string_equal(sw_msg_reason(a), sw_msg_reason(b));
    }
    size_t j = 0;
    for (size_t i = 0; i < a->hdr_count; i++, j++) {
        assert_true(j < b->hdr_count);
        assert_string_equal(a->hdrs[i].name, b->hdrs[j].name);
        assert_int_equal(a->hdrs[i].value_len, b->hdrs[j].value_len);
        if (sw_msg_header_name_is(a->hdrs[i].name, strlen(a->hdrs[i].name), "Content-Length")) {
            size_t body_len = 0;
            sw_msg_body(a, &body_len);
            assert_int_equal(strtoul(b->hdrs[j].value, NULL, 10), body_len);
        } else {
            assert_memory_equal(a->hdrs[i].value, b->hdrs[j].value, a->hdrs[i].value_len);
        }
    }
    if (j < b->hdr_count) {
        /* Only the Content-Length added at the end. */
        assert_int_equal(b->hdr_count, j + 1);
        assert_int_equal(sw_msg_header_count(a, "Content-Length"), 0);
        assert_string_equal(b->hdrs[j].name, "Content-Length");
    }
    size_t alen = 0, blen = 0;
    const char *abody = sw_msg_body(a, &alen);
    const char *bbody = sw_msg_body(b, &blen);
    assert_int_equal(alen, blen);
    if (alen > 0)
        assert_memory_equal(abody, bbody, alen);
}

/* The mandatory headers of an INVITE to a gateway, as the call engine
 * builds them. */
static sw_msg_t *build_invite(void)
{
    sw_msg_t *m = sw_msg_new_request("INVITE", "sip:+442079460000@gw1.example.net:5060");
    assert_non_null(m);
    assert_int_equal(sw_msg_header_add(m, "Via",
                                       "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1leg;rport"),
                     0);
    assert_int_equal(sw_msg_header_add(m, "Max-Forwards", "69"), 0);
    assert_int_equal(sw_msg_header_add(m, "From", "\"Alice\" <sip:+15551230000@192.0.2.10>;tag=a1b2"),
                     0);
    assert_int_equal(sw_msg_header_add(m, "To", "<sip:+442079460000@gw1.example.net>"), 0);
    assert_int_equal(sw_msg_header_add(m, "Call-ID", "b2b-7f3a9c@192.0.2.10"), 0);
    assert_int_equal(sw_msg_header_add(m, "CSeq", "1 INVITE"), 0);
    assert_int_equal(sw_msg_header_add(m, "Contact", "<sip:sipswitch@192.0.2.10:5060>"), 0);
    assert_int_equal(sw_msg_set_body(m, "application/sdp", SDP, strlen(SDP)), 0);
    return m;
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

static void test_invite_round_trip(void **state)
{
    (void)state;
    sw_msg_t *m = build_invite();

    /* The accessors work on the built message as on a parsed one. */
    assert_true(sw_msg_is_request(m));
    assert_string_equal(sw_msg_method(m), "INVITE");
    assert_string_equal(sw_msg_ruri(m), "sip:+442079460000@gw1.example.net:5060");
    assert_string_equal(sw_msg_ruri_scheme(m), "sip");
    assert_string_equal(sw_msg_version(m), "SIP/2.0");
    assert_int_equal(sw_msg_status(m), 0);
    assert_null(sw_msg_reason(m));
    assert_string_equal(sw_msg_call_id(m), "b2b-7f3a9c@192.0.2.10");
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKb1leg");
    assert_null(sw_msg_to_tag(m));
    assert_string_equal(sw_msg_header(m, "f", 0), "\"Alice\" <sip:+15551230000@192.0.2.10>;tag=a1b2");
    assert_string_equal(sw_msg_header(m, "Content-Type", 0), "application/sdp");
    char length_text[16];
    snprintf(length_text, sizeof length_text, "%zu", strlen(SDP));
    assert_string_equal(sw_msg_header(m, "Content-Length", 0), length_text);
    size_t body_len = 0;
    assert_memory_equal(sw_msg_body(m, &body_len), SDP, strlen(SDP));
    assert_int_equal(body_len, strlen(SDP));
    assert_non_null(sw_msg_osip(m)->req_uri);
    assert_non_null(sw_msg_osip(m)->from);
    assert_non_null(sw_msg_osip(m)->content_type);
    assert_null(m->raw);

    sw_msg_t *back = round_trip(m);
    assert_same_message(m, back);
    assert_int_equal(back->hdr_count, m->hdr_count); /* Content-Length was in the list */
    assert_string_equal(sw_msg_top_via_branch(back), "z9hG4bKb1leg");
    assert_string_equal(sw_msg_cseq_method(back), "INVITE");

    /* What we send passes our own front door. */
    sw_sanity_t sanity;
    sw_sip_sanity_check(back, &sanity);
    if (sanity.code != 0)
        fail_msg("sanity: %d %s", sanity.code, sanity.reason);

    /* The exact text, to see the order and the format. */
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    char expected[2048];
    snprintf(expected, sizeof expected,
             "INVITE sip:+442079460000@gw1.example.net:5060 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1leg;rport\r\n"
             "Max-Forwards: 69\r\n"
             "From: \"Alice\" <sip:+15551230000@192.0.2.10>;tag=a1b2\r\n"
             "To: <sip:+442079460000@gw1.example.net>\r\n"
             "Call-ID: b2b-7f3a9c@192.0.2.10\r\n"
             "CSeq: 1 INVITE\r\n"
             "Contact: <sip:sipswitch@192.0.2.10:5060>\r\n"
             "Content-Type: application/sdp\r\n"
             "Content-Length: %zu\r\n"
             "\r\n" SDP,
             strlen(SDP));
    assert_string_equal(bytes, expected);
    assert_int_equal(len, strlen(expected));
    free(bytes);

    sw_msg_t *copy = sw_msg_reparse(m, NULL);
    assert_non_null(copy);
    assert_non_null(copy->raw);
    assert_same_message(m, copy);
    sw_msg_free(copy);
    sw_msg_free(back);
    sw_msg_free(m);
}

static void test_header_add_remove_set(void **state)
{
    (void)state;
    sw_msg_t *m = build_invite();
    size_t before = m->hdr_count;

    /* set replaces in place, keeping the position of the first. */
    assert_int_equal(sw_msg_header_set(m, "Max-Forwards", "68"), 0);
    assert_int_equal(m->hdr_count, before);
    assert_string_equal(m->hdrs[1].name, "Max-Forwards");
    assert_string_equal(m->hdrs[1].value, "68");

    /* set collapses several fields into one; compact names match. */
    assert_int_equal(sw_msg_header_add(m, "Via", "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKsecond"), 0);
    assert_int_equal(sw_msg_header_count(m, "v"), 2);
    assert_int_equal(sw_msg_header_set(m, "v", "SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKnew"), 0);
    assert_int_equal(sw_msg_header_count(m, "Via"), 1);
    assert_string_equal(m->hdrs[0].name, "v");
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKnew");

    /* set of a missing header appends it. */
    assert_int_equal(sw_msg_header_set(m, "P-Asserted-Identity", "  <sip:+15551230000@x>  "), 0);
    assert_string_equal(m->hdrs[m->hdr_count - 1].name, "P-Asserted-Identity");
    assert_string_equal(sw_msg_header(m, "p-asserted-identity", 0), "<sip:+15551230000@x>");

    /* To with a tag: libosip2's view follows. */
    assert_int_equal(sw_msg_header_set(m, "To", "<sip:+442079460000@gw1.example.net>;tag=gw77"), 0);
    assert_string_equal(sw_msg_to_tag(m), "gw77");
    assert_int_equal(sw_msg_header_set(m, "CSeq", "2 INVITE"), 0);
    assert_string_equal(sw_msg_header(m, "CSeq", 0), "2 INVITE");

    /* Refusals leave the message as it was. */
    size_t count = m->hdr_count;
    assert_int_equal(sw_msg_header_set(m, "To", "<sip:x>\r\nEvil: 1"), -1);
    assert_int_equal(sw_msg_header_set(m, "Bad Name", "1"), -1);
    assert_int_equal(sw_msg_header_set(m, "", "1"), -1);
    assert_int_equal(sw_msg_header_set(m, "CSeq", "1"), -1);          /* libosip2 refuses */
    assert_int_equal(sw_msg_header_set(m, "To", "<sip:unclosed"), -1);
    assert_int_equal(sw_msg_header_add(m, "From", "<sip:second@x>"), -1); /* one From only */
    assert_int_equal(m->hdr_count, count);
    assert_string_equal(sw_msg_header(m, "CSeq", 0), "2 INVITE");
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");
    assert_string_equal(sw_msg_to_tag(m), "gw77");

    /* remove, then the views agree that it is gone. */
    assert_int_equal(sw_msg_header_add(m, "Route", "<sip:proxy1.example.net;lr>"), 0);
    assert_int_equal(sw_msg_header_add(m, "Route", "<sip:proxy2.example.net;lr>"), 0);
    assert_int_equal(sw_msg_header_remove(m, "Route"), 2);
    assert_int_equal(sw_msg_header_remove(m, "Route"), 0);
    assert_int_equal(sw_msg_header_remove(m, "Via"), 1);
    assert_null(sw_msg_top_via_branch(m));
    assert_int_equal(osip_list_size(&sw_msg_osip(m)->routes), 0);

    sw_msg_t *back = round_trip(m);
    assert_same_message(m, back);
    assert_int_equal(sw_msg_header_count(back, "Via"), 0);
    assert_string_equal(sw_msg_to_tag(back), "gw77");
    sw_msg_free(back);
    sw_msg_free(m);
}

static void test_response(void **state)
{
    (void)state;
    sw_msg_t *inv = build_invite();
    sw_msg_t *r = sw_msg_new_response(180, NULL);
    assert_non_null(r);
    assert_false(sw_msg_is_request(r));
    assert_int_equal(sw_msg_status(r), 180);
    assert_string_equal(sw_msg_reason(r), "Ringing");
    assert_null(sw_msg_method(r)); /* no CSeq yet */
    static const char *const copied[] = {"Via", "From", "To", "Call-ID", "CSeq"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        assert_int_equal(sw_msg_header_add(r, copied[i], sw_msg_header(inv, copied[i], 0)), 0);
    assert_int_equal(sw_msg_header_set(r, "To", "<sip:+442079460000@gw1.example.net>;tag=b2"), 0);
    assert_string_equal(sw_msg_method(r), "INVITE");
    assert_string_equal(sw_msg_to_tag(r), "b2");
    assert_null(sw_msg_ruri(r));
    assert_int_equal(sw_msg_set_ruri(r, "sip:x@y"), -1); /* responses have none */

    size_t len = 0;
    char *bytes = sw_msg_serialize(r, &len);
    assert_non_null(bytes);
    assert_true(strncmp(bytes, "SIP/2.0 180 Ringing\r\nVia: ", 26) == 0);
    assert_non_null(strstr(bytes, "\r\nContent-Length: 0\r\n\r\n"));
    free(bytes);
    sw_msg_t *back = round_trip(r);
    assert_same_message(r, back);
    assert_int_equal(sw_msg_status(back), 180);
    assert_string_equal(sw_msg_method(back), "INVITE");
    sw_msg_free(back);
    sw_msg_free(r);

    /* A 200 with an SDP answer; own reason phrases; unknown code. */
    r = sw_msg_new_response(200, "OK, Bob's phone");
    assert_non_null(r);
    assert_int_equal(sw_msg_header_add(r, "CSeq", "1 INVITE"), 0);
    assert_int_equal(sw_msg_set_body(r, "application/sdp", SDP, strlen(SDP)), 0);
    back = round_trip(r);
    assert_same_message(r, back);
    assert_string_equal(sw_msg_reason(back), "OK, Bob's phone");
    sw_msg_free(back);
    sw_msg_free(r);
    r = sw_msg_new_response(299, NULL);
    assert_non_null(r);
    assert_string_equal(sw_msg_reason(r), "");
    back = round_trip(r);
    assert_int_equal(sw_msg_status(back), 299);
    sw_msg_free(back);
    sw_msg_free(r);

    assert_null(sw_msg_new_response(99, "x"));
    assert_null(sw_msg_new_response(700, "x"));
    assert_null(sw_msg_new_response(486, "Busy\r\nEvil: yes"));
    assert_null(sw_msg_new_response(486, "Busy\n"));
    assert_null(sw_msg_new_response(486, "Busy\x01"));
    sw_msg_free(inv);
}

static void test_binary_body_and_content_length(void **state)
{
    (void)state;
    static const char binary[] = "\x00\x01\x02\r\n\r\n\x00\xff" "end";
    size_t binary_len = sizeof binary - 1;
    sw_msg_t *m = build_invite();
    assert_int_equal(sw_msg_set_body(m, "application/octet-stream", binary, binary_len), 0);
    size_t body_len = 0;
    const char *body = sw_msg_body(m, &body_len);
    assert_int_equal(body_len, binary_len);
    assert_memory_equal(body, binary, binary_len);
    assert_string_equal(sw_msg_header(m, "Content-Type", 0), "application/octet-stream");
    assert_int_equal(sw_msg_header_count(m, "Content-Type"), 1);
    char length_text[16];
    snprintf(length_text, sizeof length_text, "%zu", binary_len);
    assert_string_equal(sw_msg_header(m, "Content-Length", 0), length_text);
    assert_int_equal(sw_msg_header_count(m, "Content-Length"), 1);
    sw_msg_t *back = round_trip(m);
    assert_same_message(m, back);
    sw_msg_free(back);

    /* A stale Content-Length in the list is never sent. */
    assert_int_equal(sw_msg_header_set(m, "Content-Length", "99999"), 0);
    assert_string_equal(m->hdrs[m->hdr_count - 1].value, "99999");
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    char expected_line[64];
    snprintf(expected_line, sizeof expected_line, "\r\nContent-Length: %zu\r\n\r\n", binary_len);
    assert_non_null(strstr(bytes, expected_line));
    assert_null(strstr(bytes, "99999"));
    free(bytes);

    /* Removing the body removes its type; the length reads 0. */
    assert_int_equal(sw_msg_set_body(m, NULL, NULL, 0), 0);
    assert_int_equal(sw_msg_header_count(m, "Content-Type"), 0);
    assert_null(sw_msg_osip(m)->content_type);
    assert_string_equal(sw_msg_header(m, "Content-Length", 0), "0");
    body = sw_msg_body(m, &body_len);
    assert_non_null(body);
    assert_int_equal(body_len, 0);
    bytes = sw_msg_serialize(m, &len);
    assert_true(len > 4 && memcmp(bytes + len - 23, "\r\nContent-Length: 0\r\n\r\n", 23) == 0);
    free(bytes);
    back = round_trip(m);
    assert_same_message(m, back);
    sw_msg_free(back);

    /* A body needs a valid type; refusals change nothing. */
    assert_int_equal(sw_msg_set_body(m, NULL, "x", 1), -1);
    assert_int_equal(sw_msg_set_body(m, "not a type", "x", 1), -1);
    assert_int_equal(sw_msg_set_body(m, "application/sdp\r\nX: y", "x", 1), -1);
    sw_msg_body(m, &body_len);
    assert_int_equal(body_len, 0);
    assert_int_equal(sw_msg_header_count(m, "Content-Type"), 0);
    sw_msg_free(m);
}

/* A received message relayed with changes: its folded, compact and
 * duplicate headers, its body replaced (the SDP rewritten for a media
 * relay) and its stale Content-Length. */
static void test_relay_parsed_message(void **state)
{
    (void)state;
    sw_msg_t *in = parse_text("INVITE sip:bob@example.com SIP/2.0\r\n"
                              "v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKdef\r\n"
                              "f: <sip:alice@example.net>;tag=f1\r\n"
                              "t: <sip:bob@example.com>\r\n"
                              "i: relay-1@10.0.0.1\r\n"
                              "CSeq: 7 INVITE\r\n"
                              "Subject: a folded\r\n   subject line\r\n"
                              "X-Empty:\r\n"
                              "c: application/sdp\r\n"
                              "l: 5\r\n"
                              "\r\n"
                              "v=0\r\n");
    assert_string_equal(sw_msg_header(in, "Subject", 0), "a folded subject line");
    sw_msg_t *back = round_trip(in);
    assert_same_message(in, back);
    sw_msg_free(back);

    assert_int_equal(sw_msg_header_remove(in, "Via"), 2);
    assert_int_equal(sw_msg_header_add(in, "Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKrelay"), 0);
    assert_int_equal(sw_msg_set_ruri(in, "sip:bob@192.0.2.99:5080"), 0);
    assert_int_equal(sw_msg_set_body(in, "application/sdp", SDP, strlen(SDP)), 0);
    char length_text[16];
    snprintf(length_text, sizeof length_text, "%zu", strlen(SDP));
    assert_string_equal(sw_msg_header(in, "l", 0), length_text);
    assert_int_equal(sw_msg_header_count(in, "Content-Length"), 1);
    assert_string_equal(sw_msg_header(in, "Content-Type", 0), "application/sdp");
    back = round_trip(in);
    assert_same_message(in, back);
    assert_string_equal(sw_msg_ruri(back), "sip:bob@192.0.2.99:5080");
    assert_string_equal(sw_msg_top_via_branch(back), "z9hG4bKrelay");
    sw_msg_free(back);
    sw_msg_free(in);
}

static void test_request_uri(void **state)
{
    (void)state;
    sw_msg_t *m = sw_msg_new_request("OPTIONS", "sip:gw1.example.net");
    assert_non_null(m);
    assert_int_equal(sw_msg_set_ruri(m, "tel:+15551230000"), 0);
    assert_string_equal(sw_msg_ruri(m), "tel:+15551230000");
    assert_string_equal(sw_msg_ruri_scheme(m), "tel");
    assert_non_null(sw_msg_osip(m)->req_uri);
    /* Schemes other than sip/sips/tel are kept as text, not given to
     * libosip2, as when parsing. */
    assert_int_equal(sw_msg_set_ruri(m, "urn:service:sos"), 0);
    assert_string_equal(sw_msg_ruri_scheme(m), "urn");
    assert_null(sw_msg_osip(m)->req_uri);
    assert_int_equal(sw_msg_set_ruri(m, "sips:bob@example.com;transport=tcp"), 0);
    assert_non_null(sw_msg_osip(m)->req_uri);

    static const char *const bad[] = {"bob@example.com", "sip:bob @example.com",
                                      "sip:bob@example.com\r\nX: y", "", ":nothing"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sw_msg_set_ruri(m, bad[i]), -1);
        assert_null(sw_msg_new_request("INVITE", bad[i]));
    }
    assert_string_equal(sw_msg_ruri(m), "sips:bob@example.com;transport=tcp");
    assert_null(sw_msg_new_request("IN VITE", "sip:x@y"));
    assert_null(sw_msg_new_request("", "sip:x@y"));
    assert_null(sw_msg_new_request("INVITE\r\n", "sip:x@y"));
    assert_null(sw_msg_new_request(NULL, "sip:x@y"));
    assert_null(sw_msg_new_request("INVITE", NULL));
    assert_int_equal(sw_msg_set_ruri(NULL, "sip:x"), -1);
    assert_null(sw_msg_serialize(NULL, NULL));

    /* Extension methods are tokens too. */
    sw_msg_t *ext = sw_msg_new_request("X-CUSTOM.1", "sip:x@y");
    assert_non_null(ext);
    sw_msg_t *back = round_trip(ext);
    assert_string_equal(sw_msg_method(back), "X-CUSTOM.1");
    sw_msg_free(back);
    sw_msg_free(ext);

    back = round_trip(m);
    assert_same_message(m, back);
    sw_msg_free(back);
    sw_msg_free(m);
}

/* A built Request-URI that plain.c calls plain skips libosip2's check: every
 * one of them must be one libosip2 accepts, and a request built with it
 * must give libosip2's view the same URI. The others still go to libosip2. */
static void test_plain_request_uri_agrees_with_libosip2(void **state)
{
    (void)state;
    static const char *const uris[] = {
        "sip:bob@example.com", "sips:bob@example.com:5061;transport=tcp", "sip:+442079460000@192.0.2.7:5060",
        "sip:192.0.2.7", "sip:[2001:db8::1]:5060;lr", "tel:+442079460000", "sip:a.b-c_d!e~f*g'h(i)@h.example",
        "sip:bob@example.com;user=phone;x", "tel:12", "sip:x@y", "sip:bob@host:123456", "sip:@host",
        "sip:bob@", "sip:bob@host;=v", "sip:b%20b@host", "sip:bob@host?subject=x", "sip:bob:pw@host",
        "tel:1", "sip:bob@[2001:db8::1", "SIP:bob@EXAMPLE.com", "sip:bob@host;p=\"q\""};
    size_t plain = 0;
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        osip_uri_t *u = NULL;
        bool osip_ok = osip_uri_init(&u) == 0 && osip_uri_parse(u, uris[i]) == 0;
        osip_uri_free(u);
        bool is_plain = sw_uri_plain(uris[i], strlen(uris[i]));
        if (is_plain) {
            plain++;
            if (!osip_ok)
                fail_msg("plain but refused by libosip2: %s", uris[i]);
        }
        sw_msg_t *m = sw_msg_new_request("INVITE", uris[i]);
        if (osip_ok || is_plain) {
            assert_non_null(m);
            osip_message_t *view = sw_msg_osip(m);
            assert_non_null(view);
            assert_non_null(view->req_uri);
            sw_msg_free(m);
        } else {
            assert_null(m);
        }
    }
    assert_true(plain >= 10); /* the fast path is taken at all */
}

static void test_many_headers(void **state)
{
    (void)state;
    sw_msg_t *m = build_invite();
    char name[32], value[64];
    size_t added = 0;
    while (m->hdr_count < SW_MSG_MAX_HEADERS) {
        snprintf(name, sizeof name, "X-Trace-%zu", added);
        snprintf(value, sizeof value, "hop %zu;note=\"quoted, with comma\"", added);
        assert_int_equal(sw_msg_header_add(m, name, value), 0);
        added++;
    }
    assert_true(added > 400);
    /* Past the parser's limit, nothing more is accepted. */
    assert_int_equal(sw_msg_header_add(m, "X-One-Too-Many", "1"), -1);
    assert_int_equal(sw_msg_header_count(m, "X-One-Too-Many"), 0);
    assert_string_equal(sw_msg_header(m, "x-trace-200", 0), "hop 200;note=\"quoted, with comma\"");
    sw_msg_t *back = round_trip(m);
    assert_same_message(m, back);
    assert_int_equal(back->hdr_count, SW_MSG_MAX_HEADERS);
    sw_msg_free(back);

    /* Removing many by name, then set, keeps working. */
    assert_int_equal(sw_msg_header_set(m, "X-Trace-0", "only"), 0);
    assert_int_equal(sw_msg_header_remove(m, "X-Trace-1"), 1);
    assert_int_equal(sw_msg_header_add(m, "X-Last", "1"), 0);
    back = round_trip(m);
    assert_same_message(m, back);
    sw_msg_free(back);
    sw_msg_free(m);
}

/* A built message runs no libosip2 parser while it is built, serialised
 * and freed: its libosip2 view is made when something reads it, and any
 * change drops it again. */
static void test_osip_view_made_on_demand(void **state)
{
    (void)state;
    sw_msg_t *m = build_invite();
    assert_null(m->osip);
    assert_string_equal(sw_msg_header(m, "CSeq", 0), "1 INVITE");
    assert_string_equal(sw_msg_call_id(m), "b2b-7f3a9c@192.0.2.10");
    size_t len = 0;
    free(sw_msg_serialize(m, &len));
    assert_null(m->osip); /* none of that needed it */

    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKb1leg");
    struct osip_message *view = m->osip;
    assert_non_null(view);
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");
    assert_ptr_equal(m->osip, view); /* made once */

    assert_int_equal(sw_msg_header_set(m, "To", "<sip:+442079460000@gw1.example.net>;tag=t1"), 0);
    assert_null(m->osip);
    assert_string_equal(sw_msg_to_tag(m), "t1");
    assert_int_equal(sw_msg_header_remove(m, "X-None"), 0);
    assert_non_null(m->osip); /* nothing changed */
    assert_int_equal(sw_msg_header_remove(m, "To"), 1);
    assert_null(sw_msg_to_tag(m));

    /* A response: its method is its CSeq's, read from the view. */
    sw_msg_t *r = sw_msg_new_response(486, NULL);
    assert_null(sw_msg_method(r));
    assert_int_equal(sw_msg_header_add(r, "CSeq", "7 BYE"), 0);
    assert_null(r->osip);
    assert_string_equal(sw_msg_method(r), "BYE");
    sw_msg_free(r);
    sw_msg_free(m);
}

/* The checks standing in for libosip2's on a built message (message.h). */
static void test_built_header_checks(void **state)
{
    (void)state;
    sw_msg_t *m = build_invite();
    static const char *const refused[][2] = {
        {"From", "<sip:second@x>"},      /* one of each single-valued header */
        {"f", "<sip:second@x>"},
        {"To", "<sip:second@x>"},
        {"Call-ID", "second@x"},
        {"CSeq", "2 INVITE"},
        {"Content-Type", "text/plain"},
        {"Content-Length", "5"},         /* set_body added one */
        {"Via", "garbage"},              /* protocol/version/transport */
        {"Bad Name", "x"},
        {"X-A", "a\r\nInjected: 1"},
    };
    size_t count = m->hdr_count;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (sw_msg_header_add(m, refused[i][0], refused[i][1]) != -1)
            fail_msg("accepted %s: %s", refused[i][0], refused[i][1]);
    assert_int_equal(m->hdr_count, count);

    /* Values refused in place of the old one too; the message keeps it. */
    static const char *const bad_set[][2] = {
        {"CSeq", "1"}, {"CSeq", "INVITE"}, {"To", "<sip:unclosed"}, {"To", "garbage here"},
        {"From", "\"unclosed <sip:a@b>"}, {"From", "\"Alice\" sip:a@b"}, {"Via", "SIP/2.0 UDP h"},
        {"Content-Type", "not a type"},
    };
    for (size_t i = 0; i < sizeof bad_set / sizeof bad_set[0]; i++)
        if (sw_msg_header_set(m, bad_set[i][0], bad_set[i][1]) != -1)
            fail_msg("accepted %s: %s", bad_set[i][0], bad_set[i][1]);
    assert_string_equal(sw_msg_header(m, "CSeq", 0), "1 INVITE");
    assert_string_equal(sw_msg_header(m, "To", 0), "<sip:+442079460000@gw1.example.net>");

    static const char *const accepted[][2] = {
        {"To", "sip:+442079460000@gw1.example.net;tag=x"}, {"From", "Alice <sip:a@b>;tag=1"},
        {"From", "\"A \\\"quoted\\\" name\" <sip:a@b>;tag=1"}, {"Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"},
        {"Via", "SIP/2.0/TCP h:5061;branch=z9hG4bKx"}, {"CSeq", "9 INVITE"}, {"Content-Type", "application/sdp"},
        {"Content-Length", "0"},
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (sw_msg_header_set(m, accepted[i][0], accepted[i][1]) != 0)
            fail_msg("refused %s: %s", accepted[i][0], accepted[i][1]);
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKx");
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");

    /* Empty values are taken and count for nothing, as in libosip2. */
    assert_int_equal(sw_msg_header_add(m, "Call-ID", ""), 0);
    sw_msg_t *r = sw_msg_new_response(200, NULL);
    assert_int_equal(sw_msg_header_add(r, "CSeq", "  "), 0);
    assert_int_equal(sw_msg_header_add(r, "CSeq", "3 BYE"), 0);
    assert_string_equal(sw_msg_method(r), "BYE");
    assert_int_equal(sw_msg_header_add(r, "Content-Length", "0"), 0); /* none in the list yet */
    sw_msg_free(r);

    /* What our checks let through and libosip2 refuses (a From without a
     * URI scheme) leaves the message without a view: it still serialises. */
    r = sw_msg_new_request("BYE", "sip:bob@192.0.2.2");
    assert_int_equal(sw_msg_header_add(r, "From", "bob@192.0.2.2"), 0);
    assert_int_equal(sw_msg_header_add(r, "CSeq", "2 BYE"), 0);
    assert_null(sw_msg_osip(r));
    assert_null(sw_msg_cseq_method(r));
    size_t len = 0;
    char *bytes = sw_msg_serialize(r, &len);
    assert_non_null(strstr(bytes, "\r\nFrom: bob@192.0.2.2\r\n"));
    free(bytes);
    sw_msg_free(r);

    /* On a received message libosip2 still judges every value. */
    sw_msg_t *in = parse_text("BYE sip:bob@192.0.2.2 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\r\n"
                              "To: <sip:bob@example.com>;tag=t1\r\n"
                              "Call-ID: c1@10.0.0.1\r\n"
                              "CSeq: 2 BYE\r\n"
                              "Content-Length: 0\r\n\r\n");
    assert_int_equal(sw_msg_header_add(in, "From", "bob@192.0.2.2"), -1);
    assert_int_equal(sw_msg_header_add(in, "From", "<sip:alice@example.net>;tag=f"), 0);
    assert_int_equal(sw_msg_header_add(in, "Content-Length", "0"), -1); /* libosip2 holds one */
    sw_msg_free(in);
    sw_msg_free(m);
}


/* ------------------------------------------------------------------------- */
/* Responses built from a request (sip/reply.c): the exact bytes             */
/* ------------------------------------------------------------------------- */

static sw_msg_t *request_from(const char *text, const char *src_ip, uint16_t src_port)
{
    sw_msg_t *m = sw_msg_parse(text, strlen(text), NULL);
    assert_non_null(m);
    m->origin.transport = SW_TRANSPORT_UDP;
    snprintf(m->origin.src_ip, sizeof m->origin.src_ip, "%s", src_ip);
    m->origin.src_port = src_port;
    return m;
}

#define REPLY_TAIL "From: <sip:a@x>;tag=1\r\nt: <sip:b@y>\r\ni: r1\r\nCSeq: 7 MESSAGE\r\nContent-Length: 0\r\n\r\n"

static void test_reply_bytes(void **state)
{
    (void)state;
    /* compact names, a received= to replace, a bare rport, an IPv6 source,
     * two Via lines, a body with its type: every part of the builder */
    sw_msg_t *m = request_from("MESSAGE sip:b@y SIP/2.0\r\n"
                               "v: SIP/2.0/UDP [2001:db8::1]:5060;rport;received=10.9.9.9;branch=z9hG4bK1\r\n"
                               "Via: SIP/2.0/TCP p.example;branch=z9hG4bK0\r\n" REPLY_TAIL,
                               "2001:db8::7", 40001);
    size_t len = 0;
    char *r = sw_sip_build_reply_body(m, 202, NULL, "tt", "X-A: 1", "text/plain", "hi!", 3, &len);
    assert_non_null(r);
    assert_string_equal(r, "SIP/2.0 202 Accepted\r\n"
                           "Via: SIP/2.0/UDP [2001:db8::1]:5060;rport=40001;received=2001:db8::7;branch=z9hG4bK1\r\n"
                           "Via: SIP/2.0/TCP p.example;branch=z9hG4bK0\r\n"
                           "From: <sip:a@x>;tag=1\r\n"
                           "To: <sip:b@y>;tag=tt\r\n"
                           "Call-ID: r1\r\n"
                           "CSeq: 7 MESSAGE\r\n"
                           "Server: sipswitch/" SIPSWITCH_VERSION "\r\n"
                           "X-A: 1\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: 3\r\n\r\nhi!");
    assert_int_equal(len, strlen(r));
    free(r);
    /* a reason that would break the status line is replaced; a content type
     * that would break its line is left out */
    r = sw_sip_build_reply_body(m, 599, "bad\r\nX: y", "tt", NULL, "a\r\nb", NULL, 0, &len);
    assert_non_null(r);
    assert_true(strncmp(r, "SIP/2.0 599 Server Failure\r\n", 28) == 0);
    assert_null(strstr(r, "Content-Type"));
    assert_non_null(strstr(r, "\r\nContent-Length: 0\r\n\r\n"));
    assert_int_equal(len, strlen(r));
    free(r);
    sw_msg_free(m);

    /* the source is sent-by, written in another case: nothing added */
    m = request_from("MESSAGE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP Host.Example;branch=z9hG4bK2\r\n" REPLY_TAIL,
                     "host.example", 5060);
    r = sw_sip_build_reply(m, 200, NULL, "t", NULL, &len);
    assert_non_null(strstr(r, "\r\nVia: SIP/2.0/UDP Host.Example;branch=z9hG4bK2\r\nFrom: "));
    free(r);
    sw_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invite_round_trip),
        cmocka_unit_test(test_header_add_remove_set),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_binary_body_and_content_length),
        cmocka_unit_test(test_relay_parsed_message),
        cmocka_unit_test(test_request_uri),
        cmocka_unit_test(test_plain_request_uri_agrees_with_libosip2),
        cmocka_unit_test(test_many_headers),
        cmocka_unit_test(test_osip_view_made_on_demand),
        cmocka_unit_test(test_built_header_checks),
        cmocka_unit_test(test_reply_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
