/* The SIP message itself (core/sip/message.c): header ids and lookups by
 * name, the two ways a received message reaches libosip2 (its own bytes, or
 * a rendering of our scan when they need changes first), and the text room
 * a parsed message's fields live in. */
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
#include <strings.h>

#include "sip/message.h"

static sw_msg_t *parse_text(const char *text)
{
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(text, strlen(text), &err);
    if (m == NULL)
        fail_msg("parse failed: %s\n%s", err, text);
    return m;
}

/* Every name with an id, in lower case. */
static const struct {
    const char *name;
    sw_hdr_id_t id;
} known[] = {
    {"accept", SW_HDR_ACCEPT},
    {"accept-contact", SW_HDR_ACCEPT_CONTACT},
    {"accept-encoding", SW_HDR_ACCEPT_ENCODING},
    {"accept-language", SW_HDR_ACCEPT_LANGUAGE},
    {"alert-info", SW_HDR_ALERT_INFO},
    {"allow", SW_HDR_ALLOW},
    {"allow-events", SW_HDR_ALLOW_EVENTS},
    {"authentication-info", SW_HDR_AUTHENTICATION_INFO},
    {"authorization", SW_HDR_AUTHORIZATION},
    {"call-id", SW_HDR_CALL_ID},
    {"call-info", SW_HDR_CALL_INFO},
    {"contact", SW_HDR_CONTACT},
    {"content-encoding", SW_HDR_CONTENT_ENCODING},
    {"content-length", SW_HDR_CONTENT_LENGTH},
    {"content-type", SW_HDR_CONTENT_TYPE},
    {"cseq", SW_HDR_CSEQ},
    {"error-info", SW_HDR_ERROR_INFO},
    {"event", SW_HDR_EVENT},
    {"expires", SW_HDR_EXPIRES},
    {"from", SW_HDR_FROM},
    {"identity", SW_HDR_IDENTITY},
    {"identity-info", SW_HDR_IDENTITY_INFO},
    {"info-package", SW_HDR_INFO_PACKAGE},
    {"max-forwards", SW_HDR_MAX_FORWARDS},
    {"mime-version", SW_HDR_MIME_VERSION},
    {"min-se", SW_HDR_MIN_SE},
    {"proxy-authenticate", SW_HDR_PROXY_AUTHENTICATE},
    {"proxy-authentication-info", SW_HDR_PROXY_AUTHENTICATION_INFO},
    {"proxy-authorization", SW_HDR_PROXY_AUTHORIZATION},
    {"proxy-require", SW_HDR_PROXY_REQUIRE},
    {"rack", SW_HDR_RACK},
    {"record-route", SW_HDR_RECORD_ROUTE},
    {"refer-to", SW_HDR_REFER_TO},
    {"referred-by", SW_HDR_REFERRED_BY},
    {"reject-contact", SW_HDR_REJECT_CONTACT},
    {"request-disposition", SW_HDR_REQUEST_DISPOSITION},
    {"require", SW_HDR_REQUIRE},
    {"route", SW_HDR_ROUTE},
    {"rseq", SW_HDR_RSEQ},
    {"server", SW_HDR_SERVER},
    {"session-expires", SW_HDR_SESSION_EXPIRES},
    {"subject", SW_HDR_SUBJECT},
    {"subscription-state", SW_HDR_SUBSCRIPTION_STATE},
    {"supported", SW_HDR_SUPPORTED},
    {"timestamp", SW_HDR_TIMESTAMP},
    {"to", SW_HDR_TO},
    {"unsupported", SW_HDR_UNSUPPORTED},
    {"user-agent", SW_HDR_USER_AGENT},
    {"via", SW_HDR_VIA},
    {"www-authenticate", SW_HDR_WWW_AUTHENTICATE},
};

#define KNOWN_COUNT (sizeof known / sizeof known[0])

/* RFC 3261 7.3.3 and the extensions that define a compact form. */
static const char *const compact[][2] = {
    {"a", "accept-contact"}, {"b", "referred-by"},   {"c", "content-type"},  {"d", "request-disposition"},
    {"e", "content-encoding"}, {"f", "from"},        {"i", "call-id"},       {"j", "reject-contact"},
    {"k", "supported"},      {"l", "content-length"}, {"m", "contact"},      {"n", "identity-info"},
    {"o", "event"},          {"r", "refer-to"},      {"s", "subject"},       {"t", "to"},
    {"u", "allow-events"},   {"v", "via"},           {"x", "session-expires"}, {"y", "identity"},
};

/* The rule ids stand for: compact forms expanded, then names compared
 * ignoring case. */
static bool reference_name_is(const char *a, const char *b)
{
    for (size_t i = 0; i < sizeof compact / sizeof compact[0]; i++) {
        if (strcasecmp(a, compact[i][0]) == 0)
            a = compact[i][1];
        if (strcasecmp(b, compact[i][0]) == 0)
            b = compact[i][1];
    }
    return strcasecmp(a, b) == 0;
}

static void test_header_ids(void **state)
{
    (void)state;
    /* The enum is dense: every id but SW_HDR_OTHER belongs to one name. */
    assert_int_equal(KNOWN_COUNT, SW_HDR_WWW_AUTHENTICATE);
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        const char *name = known[i].name;
        size_t len = strlen(name);
        assert_int_equal(sw_msg_header_id(name, len), known[i].id);
        char upper[64];
        for (size_t k = 0; k <= len; k++)
            upper[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 'a' + 'A' : name[k]);
        assert_int_equal(sw_msg_header_id(upper, len), known[i].id);
        /* Only the whole name: a prefix or a longer name is another header. */
        assert_int_equal(sw_msg_header_id(name, len - 1), len - 1 == 1 ? sw_msg_header_id(name, 1) : SW_HDR_OTHER);
        char longer[64];
        snprintf(longer, sizeof longer, "%sx", name);
        assert_int_equal(sw_msg_header_id(longer, len + 1), SW_HDR_OTHER);
        assert_int_equal(sw_msg_header_id(longer, len), known[i].id); /* not NUL-terminated */
    }
    for (size_t i = 0; i < sizeof compact / sizeof compact[0]; i++) {
        sw_hdr_id_t id = sw_msg_header_id(compact[i][1], strlen(compact[i][1]));
        assert_int_not_equal(id, SW_HDR_OTHER);
        assert_int_equal(sw_msg_header_id(compact[i][0], 1), id);
        char upper = (char)(compact[i][0][0] - 'a' + 'A');
        assert_int_equal(sw_msg_header_id(&upper, 1), id);
    }
    static const char *const others[] = {"g", "h", "q", "w", "z", "1", "-", "X-Custom", "P-Asserted-Identity",
                                         "Via ", " Via", "Vias", "Call_ID", "Content-Lengths", "Fro"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(sw_msg_header_id(others[i], strlen(others[i])), SW_HDR_OTHER);
    assert_int_equal(sw_msg_header_id("Via", 0), SW_HDR_OTHER);
    assert_int_equal(sw_msg_header_id(NULL, 3), SW_HDR_OTHER);
    assert_int_equal(sw_msg_header_id("Ca\0l-ID", 7), SW_HDR_OTHER);
}

/* Lookups by id give what comparing names gave: over a message carrying
 * every known name (long, compact, odd case) and unknown ones, each count
 * and each value matches the reference rule. */
static void test_lookup_matches_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "Via", "v", "VIA", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Content-Type", "c",
        "Route", "Record-Route", "Max-Forwards", "Require", "Supported", "k", "Allow", "RSeq", "RAck",
        "Proxy-Require", "MIME-Version", "Subject", "s", "Event", "o", "Refer-To", "r", "b", "Referred-By",
        "X-Custom", "x-custom", "X-CUSTOM", "P-Asserted-Identity", "g", "G", "Session-Expires", "x", "Min-SE",
        "Allow-Events", "u", "Identity", "y", "Identity-Info", "n", "Accept-Contact", "a", "Reject-Contact", "j",
        "Request-Disposition", "d", "Content-Encoding", "e", "X", "Y-Other", "Unsupported", "User-Agent"};
    size_t count = sizeof names / sizeof names[0];
    char text[8192] = "OPTIONS sip:a@b SIP/2.0\r\n";
    for (size_t i = 0; i < count; i++) {
        /* A value libosip2 takes for that header, told apart by i. */
        const char *value = "v";
        switch (sw_msg_header_id(names[i], strlen(names[i]))) {
        case SW_HDR_VIA: value = "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"; break;
        case SW_HDR_FROM: case SW_HDR_TO: case SW_HDR_CONTACT: case SW_HDR_ROUTE: case SW_HDR_RECORD_ROUTE:
            value = "<sip:a@b>";
            break;
        case SW_HDR_CSEQ: value = "1 OPTIONS"; break;
        case SW_HDR_CONTENT_TYPE: value = "text/plain"; break;
        case SW_HDR_CALL_ID: value = "c@h"; break;
        default: break;
        }
        char line[128];
        snprintf(line, sizeof line, "%s: %s;i=%zu\r\n", names[i], value, i);
        strcat(text, line);
    }
    strcat(text, "\r\n");
    sw_msg_t *m = parse_text(text); /* sanity rejects duplicates, the parser does not */
    for (size_t q = 0; q < count; q++) {
        size_t expected = 0;
        for (size_t k = 0; k < m->hdr_count; k++) {
            bool same = reference_name_is(names[q], m->hdrs[k].name);
            assert_int_equal(sw_msg_header_name_is(m->hdrs[k].name, strlen(m->hdrs[k].name), names[q]), same);
            if (same) {
                assert_string_equal(sw_msg_header(m, names[q], expected), m->hdrs[k].value);
                expected++;
            }
        }
        assert_int_equal(sw_msg_header_count(m, names[q]), expected);
        assert_null(sw_msg_header(m, names[q], expected));
    }
    assert_int_equal(sw_msg_header_count(m, "No-Such-Header"), 0);
    assert_null(sw_msg_header(m, "", 0));
    sw_msg_free(m);
}

#define RAW_VIA "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKrawpath;rport\r\n"
#define RAW_DIALOG "From: <sip:alice@example.net>;tag=f1\r\nTo: <sip:bob@example.com>;tag=t9\r\nCall-ID: raw-1@192.0.2.1\r\n"

/* What libosip2 reads from a received message, whichever way it got it:
 * plain messages are handed over as received, others are rendered (folded
 * lines, a Content-Type, duplicates, empty values, NULs, other schemes, a
 * status line without phrase). */
static void test_received_views(void **state)
{
    (void)state;
#define MSG(text) {text, sizeof text - 1}
    static const struct {
        const char *text;
        size_t len;
    } messages[] = {
        /* as received */
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\nl:   0  \n\n"),
        MSG("SIP/2.0 180 Ringing\r\n" RAW_VIA RAW_DIALOG "CSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.2>\r\n\r\n"),
        MSG("SIP/2.0 200 \r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\n\r\n"),
        MSG("ACK sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 1 ACK\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\n"
            "Content-Length: 3\r\n\r\nabc"),
        /* rendered */
        MSG("SIP/2.0 200\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\n\r\n"),
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\nSubject:\r\nX-Empty:\r\n\r\n"),
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2\r\n BYE\r\n\r\n"),
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\nCall-ID: second@x\r\n\r\n"),
        MSG("INVITE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 INVITE\r\nContent-Type: application/sdp\r\n"
            "Content-Length: 5\r\n\r\nv=0\r\n"),
        MSG("OPTIONS urn:service:sos SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 OPTIONS\r\n\r\n"),
        MSG("BYE sip:bob@192.0.2.2 SIP/2.0\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\nX-Q: \"a\\\0b\"\r\n\r\n"),
    };
#undef MSG
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++) {
        const char *err = NULL;
        sw_msg_t *m = sw_msg_parse(messages[i].text, messages[i].len, &err);
        if (m == NULL)
            fail_msg("message %zu: %s", i, err);
        assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bKrawpath");
        assert_string_equal(sw_msg_to_tag(m), "t9");
        const char *cseq = sw_msg_header(m, "CSeq", 0);
        assert_string_equal(sw_msg_cseq_method(m), strchr(cseq, ' ') + 1);
        osip_message_t *osip = sw_msg_osip(m);
        assert_non_null(osip);
        assert_ptr_equal(osip, m->osip); /* a received message has it from the start */
        assert_non_null(osip->call_id);
        assert_string_equal(osip->call_id->number, "raw-1"); /* the first one */
        assert_string_equal(osip->call_id->host, "192.0.2.1");
        assert_non_null(osip->content_length);
        size_t body_len = 0;
        sw_msg_body(m, &body_len);
        const char *length = sw_msg_header(m, "Content-Length", 0);
        if (length != NULL)
            assert_string_equal(osip->content_length->value, length);
        else
            assert_int_equal(strtoul(osip->content_length->value, NULL, 10), body_len);
        assert_int_equal(osip_list_size(&osip->bodies), body_len > 0 ? 1 : 0);
        if (strncmp(messages[i].text, "OPTIONS", 7) == 0)
            assert_null(osip->req_uri);
        else if (sw_msg_is_request(m))
            assert_non_null(osip->req_uri);
        sw_msg_free(m);
    }

    /* Refused either way, with the reason the rendering gives. */
    const char *err = NULL;
    static const char bad_contact[] = "SIP/2.0 200 OK\r\n" RAW_VIA RAW_DIALOG "CSeq: 2 BYE\r\nContact: <sip:x\r\n\r\n";
    assert_null(sw_msg_parse(bad_contact, strlen(bad_contact), &err));
    assert_string_equal(err, "malformed message");
    static const char bad_via[] = "BYE sip:bob@192.0.2.2 SIP/2.0\r\nVia: nonsense\r\n" RAW_DIALOG "CSeq: 2 BYE\r\n\r\n";
    assert_null(sw_msg_parse(bad_via, strlen(bad_via), &err));
    assert_string_equal(err, "malformed message");
}

/* The text of a parsed message's fields lives in a room sized from the
 * message: fill it as much as a message can (one-byte names and values,
 * folds adding a word each, a long Request-URI scheme) to see the bound
 * hold (under ASan the build-asan run checks every byte). */
static void test_text_room_bound(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "OPTIONS %s:x SIP/2.0\r\n", "abcdefghijklmnopqrstuvwxyz0123456789+-.");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, cap - n, "a:b\n");
    n += (size_t)snprintf(text + n, cap - n, "X:\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, cap - n, " c\n");
    n += (size_t)snprintf(text + n, cap - n, "Y:z\n\t \n\n");
    sw_msg_t *m = sw_msg_parse(text, n, NULL);
    assert_non_null(m);
    assert_int_equal(sw_msg_header_count(m, "a"), 200);
    assert_string_equal(sw_msg_header(m, "a", 199), "b");
    const char *x = sw_msg_header(m, "X", 0);
    assert_int_equal(strlen(x), 2 * 200 - 1); /* "c c c ... c" */
    assert_string_equal(sw_msg_header(m, "Y", 0), "z");
    assert_string_equal(sw_msg_ruri_scheme(m), "abcdefghijklmnopqrstuvwxyz0123456789+-.");

    /* Nothing but a start line. */
    sw_msg_t *empty = parse_text("SIP/2.0 200 OK\r\n\r\n");
    assert_int_equal(empty->hdr_count, 0);
    assert_string_equal(sw_msg_reason(empty), "OK");
    sw_msg_free(empty);
    sw_msg_free(m);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_ids),
        cmocka_unit_test(test_lookup_matches_names),
        cmocka_unit_test(test_received_views),
        cmocka_unit_test(test_text_room_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
