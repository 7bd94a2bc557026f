/* The SIP message itself (core/sip/message.c): header ids and lookups by
 * name, the ways a received message reaches libosip2 (its own bytes, a
 * rendering of our scan when they need changes first, or not at all for a
 * plain message, sip/plain.c, held here to agree with libosip2), and the
 * text room a parsed message's fields live in. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <osipparser2/osip_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/bytes.h"
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

/* The id by the obvious rule: compact form expanded, then the known names
 * compared byte by byte, ASCII letters in either case. */
static sw_hdr_id_t reference_id(const char *name, size_t len)
{
    for (size_t i = 0; len == 1 && i < sizeof compact / sizeof compact[0]; i++)
        if (tolower((unsigned char)name[0]) == compact[i][0][0])
            name = compact[i][1], len = strlen(name);
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        size_t k = 0;
        while (k < len && known[i].name[k] != '\0' && tolower((unsigned char)name[k]) == known[i].name[k])
            k++;
        if (k == len && known[i].name[k] == '\0')
            return known[i].id;
    }
    return SW_HDR_OTHER;
}

/* sw_msg_header_id compares names a word at a time, forcing the letters'
 * case bit: every byte value at every position of every known name gives
 * the reference's answer (a CR where a '-' is, which differs from it by that
 * bit only, is another name). */
static void test_header_id_every_byte(void **state)
{
    (void)state;
    size_t hits = 0;
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        size_t len = strlen(known[i].name);
        char name[32];
        for (size_t at = 0; at < len; at++) {
            for (int b = 0; b < 256; b++) {
                memcpy(name, known[i].name, len);
                name[at] = (char)b;
                sw_hdr_id_t expected = reference_id(name, len);
                if (sw_msg_header_id(name, len) != expected)
                    fail_msg("%s with 0x%02x at %zu: %d, expected %d", known[i].name, (unsigned)b, at,
                             (int)sw_msg_header_id(name, len), (int)expected);
                hits += expected != SW_HDR_OTHER;
            }
        }
    }
    assert_true(hits > 2 * KNOWN_COUNT); /* each name in both cases at least */
    assert_int_equal(sw_msg_header_id("Max\rForwards", 12), SW_HDR_OTHER);
    assert_int_equal(sw_msg_header_id("USER-AGENT", 10), SW_HDR_USER_AGENT);
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
        assert_ptr_equal(osip, m->osip); /* kept (made now for a plain message) */
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


/* A byte the sanity checks refuse in a value: below 0x20 but HTAB, or DEL. */
static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool value_has_control(const sw_msg_hdr_t *h)
{
    for (size_t i = 0; i < h->value_len; i++)
        if (is_control((unsigned char)h->value[i]))
            return true;
    return false;
}

/* Parses exactly len bytes copied to a block of their own size (under ASan a
 * read past them is caught) and checks what the line scan promises: a field
 * says no_ctl exactly when its value holds no control character, header_nul
 * says whether a NUL sits in the header section, and a refusal for a stray
 * CR means there was one. Returns whether the message parsed. */
static bool parse_and_check_line_scan(const char *text, size_t len)
{
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(copy, len, &err);
    if (m == NULL) {
        if (strcmp(err, "stray CR in header") == 0) {
            bool stray = false;
            for (size_t i = 0; i + 1 < len && !stray; i++)
                stray = copy[i] == '\r' && copy[i + 1] != '\n';
            stray = stray || copy[len - 1] == '\r';
            assert_true(stray);
        }
        free(copy);
        return false;
    }
    free(copy);
    assert_int_equal(m->header_nul, memchr(m->raw, '\0', m->body_offset) != NULL);
    for (size_t i = 0; i < m->hdr_count; i++)
        if (m->hdrs[i].no_ctl == value_has_control(&m->hdrs[i]))
            fail_msg("field %zu (%s): no_ctl %d, value with a control character %d", i, m->hdrs[i].name,
                     m->hdrs[i].no_ctl, value_has_control(&m->hdrs[i]));
    sw_msg_free(m);
    return true;
}

/* sip/bytes.h against a byte loop: every length up to a few blocks, every
 * start offset, control characters (and bytes from 0x80 up, which are not)
 * at every position, each buffer allocated to its exact size (under ASan a
 * read past it is caught). */
static void test_find_control_every_offset(void **state)
{
    (void)state;
    static const unsigned char bytes[] = {0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f, 0x20, 0x7e, 0x80, 0x9f, 0xff};
    for (size_t n = 0; n <= 50; n++) {
        for (size_t at = 0; at <= n; at++) {
            for (size_t b = 0; b < sizeof bytes; b++) {
                char *buf = malloc(n ? n : 1);
                assert_non_null(buf);
                memset(buf, 'x', n);
                if (at < n)
                    buf[at] = (char)bytes[b];
                for (size_t from = 0; from <= n; from++) {
                    size_t expected = n;
                    for (size_t i = from; i < n && expected == n; i++)
                        if (is_control((unsigned char)buf[i]) || buf[i] == '\t')
                            expected = i;
                    if (sw_bytes_find_control(buf, from, n) != expected)
                        fail_msg("n %zu, 0x%02x at %zu, from %zu: %zu, expected %zu", n, (unsigned)bytes[b], at, from,
                                 sw_bytes_find_control(buf, from, n), expected);
                }
                free(buf);
            }
        }
    }
}

/* The parser finds each line's end and its control characters in one pass,
 * 16 bytes at a time (sip/bytes.h), the last block of the buffer read back
 * from its end: every byte value that matters at every offset of the header
 * section, the message shifted through every alignment (no body, so that
 * the last lines sit in the buffer's last block), short and long lines, a
 * folded one. */
static void test_line_scan_control_characters(void **state)
{
    (void)state;
    static const unsigned char bytes[] = {0x00, 0x01, 0x09, 0x0a, 0x0b, 0x0d, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff};
    size_t parsed = 0, with_control = 0;
    for (size_t pad = 0; pad <= 16; pad++) {
        char text[512];
        int n = snprintf(text, sizeof text,
                         "REGISTER sip:example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKscan%.*s\r\n"
                         "f: <sip:a@example.com>;tag=1\r\nt: <sip:a@example.com>\r\n"
                         "Call-ID: c@h\r\nCSeq: 1 REGISTER\r\nSubject: a long value\r\n  folded on\r\n"
                         "X: y\nl: 0\r\n\r\n",
                         (int)pad, "0123456789abcdef");
        assert_true(n > 0 && (size_t)n < sizeof text);
        size_t len = (size_t)n, first_header = strchr(text, '\n') + 1 - text;
        assert_true(parse_and_check_line_scan(text, len));
        for (size_t at = first_header; at < len - 2; at++) {
            for (size_t b = 0; b < sizeof bytes; b++) {
                char mutated[512];
                memcpy(mutated, text, len);
                mutated[at] = (char)bytes[b];
                if (parse_and_check_line_scan(mutated, len)) {
                    parsed++;
                    with_control += is_control(bytes[b]) && bytes[b] != '\n' && text[at] != '\n' && text[at] != '\r';
                }
            }
        }
        /* a control character in the start line, at every offset */
        for (size_t at = 0; at < first_header - 2; at++) {
            char mutated[512];
            memcpy(mutated, text, len);
            mutated[at] = '\0';
            const char *err = NULL;
            assert_null(sw_msg_parse(mutated, len, &err));
            mutated[at] = '\r';
            assert_null(sw_msg_parse(mutated, len, &err));
        }
    }
    /* both sides were reached: fields with and without control characters */
    assert_true(parsed > 1000);
    assert_true(with_control > 500);
    /* messages shorter than a block */
    assert_true(parse_and_check_line_scan("A sip:b SIP/2.0\n\n", 18));
    assert_true(parse_and_check_line_scan("A sip:b SIP/2.0\nX:\x01\n\n", 22));
    assert_false(parse_and_check_line_scan("A sip:b SIP/2.0\nX:\ra\n\n", 23));
}

/* ---- plain messages (sip/plain.c) ----------------------------------------- */

/* Messages as carriers, PBXs and proxies send them: each must be plain, or
 * the call path pays libosip2's parse again. */
static const char *const plain_seeds[] = {
    "INVITE sip:4420@127.0.0.1:25160 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-31-1-0;rport\r\n"
    "From: <sip:1001@127.0.0.1:5060>;tag=31SIPpTag001\r\n"
    "To: <sip:4420@127.0.0.1:25160>\r\n"
    "Call-ID: 1-31@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:1001@127.0.0.1:5060>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 26\r\n\r\n"
    "v=0\r\no=caller 1 1 IN IP4 x\r\n",
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:25160;branch=z9hG4bKb1f0c9a3d2;rport=25160\r\n"
    "From: \"Switch\" <sip:1001@127.0.0.1>;tag=a73kszlfl\r\n"
    "To: <sip:4420@127.0.0.1:25171>;tag=31GW1\r\n"
    "Call-ID: 8e1f0a2b77c4@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:gw@127.0.0.1:25171>\r\n"
    "Content-Length: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\n"
    "v: SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK77;received=192.0.2.7\r\n"
    "f: Alice Smith <sips:alice@example.com>;tag=9fxced76sl\r\n"
    "t: sip:bob@example.com;tag=8321234356\r\n"
    "i: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "m: <sip:bob@[2001:db8::10]:5080;transport=tcp>;expires=60\r\n"
    "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    "Supported: 100rel, timer\r\n"
    "c: application/sdp; charset=utf-8\r\n"
    "l: 0\r\n\r\n",
    "BYE sip:gw@127.0.0.1:25171;transport=udp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnashds8\r\n"
    "Via: SIP/2.0/UDP edge.example.net;branch=z9hG4bK.x-y_z\r\n"
    "Route: <sip:edge.example.net;lr>\r\n"
    "From: sip:+4420123@carrier.example;tag=1928301774\r\n"
    "To: \"Bob\" <tel:+4420987;phone-context=example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 2 BYE\r\n"
    "P-Asserted-Identity: \"Alice, A.\" <sip:alice@example.com>\r\n"
    "User-Agent: Some PBX (build 42), really\r\n\r\n",
    "REGISTER sips:registrar.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS client.example.com:5061;branch=z9hG4bKnashd92;rport\r\n"
    "From: Bob <sips:bob@example.com>;tag=ja743ks76zlflH\r\n"
    "To: Bob <sips:bob@example.com>\r\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@client.example.com\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: *\r\n"
    "Expires: 0\r\n"
    "Authorization: Digest username=\"bob\", realm=\"example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\"\r\n"
    "Content-Length: 0\r\n\r\n",
    "OPTIONS tel:+14085551234 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKopt\r\n"
    "From: <sip:probe@192.0.2.4>;tag=p1\r\n"
    "To: <tel:+14085551234>\r\n"
    "Call-ID: opt-1\r\n"
    "CSeq: 7 OPTIONS\r\n"
    "Accept: application/sdp\r\n\r\n",
};

/* Shapes that are not plain: libosip2 decides for them. */
static const char *const not_plain_seeds[] = {
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
    "Call-ID: x\r\nCSeq: 1\r\n INVITE\r\n\r\n",                                  /* folded */
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g\r\nFrom: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",                    /* a Via list */
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"a\\\"b\" <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",                    /* an escape */
    "INVITE sip:%61@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",                    /* an escaped user */
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>;TAG=x\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",              /* a tag in capitals */
    "INVITE urn:service:sos SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",                    /* another scheme */
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>;tag=one\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nTo: <sip:c@d>;tag=two\r\n\r\n", /* two To */
};

static char *xstrdup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

typedef struct plain_tally {
    size_t parsed, plain;
} plain_tally_t;

/* Parses buf[0..len); when the message is plain, libosip2 must then make its
 * view, and read the same To tag, top Via branch and CSeq method from it as
 * plain.c did. Returns whether the message was plain. */
static bool check_plain_agrees(const char *buf, size_t len, plain_tally_t *tally)
{
    sw_msg_t *m = sw_msg_parse(buf, len, NULL);
    if (m == NULL)
        return false;
    tally->parsed++;
    bool plain = m->plain;
    if (plain) {
        tally->plain++;
        assert_null(m->osip);
        char *tag = xstrdup_or_null(sw_msg_to_tag(m));
        char *branch = xstrdup_or_null(sw_msg_top_via_branch(m));
        char *method = xstrdup_or_null(sw_msg_cseq_method(m));
        if (sw_msg_osip(m) == NULL)
            fail_msg("plain, but libosip2 refuses it:\n%.*s", (int)len, buf);
        if (!same_text(tag, sw_msg_to_tag(m)) || !same_text(branch, sw_msg_top_via_branch(m)) ||
            !same_text(method, sw_msg_cseq_method(m)))
            fail_msg("plain.c read tag %s branch %s method %s, libosip2 %s %s %s:\n%.*s", tag ? tag : "-",
                     branch ? branch : "-", method ? method : "-", sw_msg_to_tag(m) ? sw_msg_to_tag(m) : "-",
                     sw_msg_top_via_branch(m) ? sw_msg_top_via_branch(m) : "-",
                     sw_msg_cseq_method(m) ? sw_msg_cseq_method(m) : "-", (int)len, buf);
        free(tag);
        free(branch);
        free(method);
    }
    sw_msg_free(m);
    return plain;
}

/* Every byte of the start line and headers replaced by each of these, then
 * deleted, then doubled (after the word-level changes below): the edges of
 * plain.c's shapes. */
static const char mutations[] = " \t;:<>\"@,=/[]?%\\(0aZ.-";

/* text with [at, at + cut) replaced by `put`, checked. */
static void splice_and_check(const char *text, size_t len, size_t at, size_t cut, const char *put, size_t put_len,
                             plain_tally_t *tally)
{
    char *buf = malloc(len - cut + put_len + 1);
    assert_non_null(buf);
    memcpy(buf, text, at);
    memcpy(buf + at, put, put_len);
    memcpy(buf + at + put_len, text + at + cut, len - at - cut);
    check_plain_agrees(buf, len - cut + put_len, tally);
    free(buf);
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Word-level changes: every run of letters and digits dropped, in capitals,
 * or one letter; every ";parameter" doubled. (Empty hosts, users, values and
 * names, parameters in other letter case and twice.) */
static void mutate_words_and_check(const char *text, size_t head, plain_tally_t *tally)
{
    size_t len = strlen(text);
    for (size_t i = 0; i < head;) {
        if (text[i] == ';') {
            size_t e = i + 1;
            while (e < head && text[e] != ';' && text[e] != '>' && text[e] != ',' && text[e] != '\r')
                e++;
            splice_and_check(text, len, i, 0, text + i, e - i, tally);
        }
        if (!word_char(text[i])) {
            i++;
            continue;
        }
        size_t e = i;
        char upper[256];
        while (e < head && word_char(text[e])) {
            if (e - i < sizeof upper)
                upper[e - i] = (char)(text[e] >= 'a' && text[e] <= 'z' ? text[e] - 'a' + 'A' : text[e]);
            e++;
        }
        splice_and_check(text, len, i, e - i, "", 0, tally);
        splice_and_check(text, len, i, e - i, "x", 1, tally);
        if (e - i <= sizeof upper)
            splice_and_check(text, len, i, e - i, upper, e - i, tally);
        i = e;
    }
}

/* Every header line dropped, and doubled. */
static void mutate_lines_and_check(const char *text, size_t head, plain_tally_t *tally)
{
    size_t len = strlen(text);
    const char *first = strstr(text, "\r\n");
    for (size_t i = first != NULL ? (size_t)(first - text) + 2 : head; i < head;) {
        const char *eol = strstr(text + i, "\r\n");
        size_t e = eol != NULL ? (size_t)(eol - text) + 2 : len;
        splice_and_check(text, len, i, e - i, "", 0, tally);
        splice_and_check(text, len, i, 0, text + i, e - i, tally);
        i = e;
    }
}

static void mutate_and_check(const char *text, plain_tally_t *tally)
{
    size_t len = strlen(text);
    const char *end_of_headers = strstr(text, "\r\n\r\n");
    size_t head = end_of_headers != NULL ? (size_t)(end_of_headers - text) : len;
    mutate_lines_and_check(text, head, tally);
    mutate_words_and_check(text, head, tally);
    char *buf = malloc(len + 2);
    assert_non_null(buf);
    for (size_t i = 0; i < head; i++) {
        if (text[i] == '\r' || text[i] == '\n')
            continue;
        for (size_t k = 0; k < sizeof mutations - 1; k++) {
            memcpy(buf, text, len);
            buf[i] = mutations[k];
            check_plain_agrees(buf, len, tally);
        }
        memcpy(buf, text, i);
        memcpy(buf + i, text + i + 1, len - i - 1);
        check_plain_agrees(buf, len - 1, tally);
        memcpy(buf, text, i + 1);
        memcpy(buf + i + 1, text + i, len - i);
        check_plain_agrees(buf, len + 1, tally);
    }
    free(buf);
}

/* Runs the check over every file of a directory (a whole file as one
 * message); returns how many files. */
static size_t check_plain_dir(const char *dir, plain_tally_t *tally)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t files = 0;
    struct dirent *e;
    static char buf[65536];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        files++;
        check_plain_agrees(buf, n, tally);
    }
    closedir(d);
    return files;
}

/* plain.c's promise (a plain message is one libosip2 accepts, read the same
 * way) against libosip2 itself: the seeds, every byte-level mutation of
 * them, the RFC 4475 torture messages, and the directory named by
 * SW_PLAIN_CORPUS if set (e.g. the fuzzers' corpus). */
static void test_plain_messages_agree_with_libosip2(void **state)
{
    (void)state;
    plain_tally_t tally = {0};
    for (size_t i = 0; i < sizeof plain_seeds / sizeof plain_seeds[0]; i++) {
        if (!check_plain_agrees(plain_seeds[i], strlen(plain_seeds[i]), &tally))
            fail_msg("seed %zu is not plain:\n%s", i, plain_seeds[i]);
        mutate_and_check(plain_seeds[i], &tally);
    }
    for (size_t i = 0; i < sizeof not_plain_seeds / sizeof not_plain_seeds[0]; i++) {
        size_t before = tally.parsed;
        if (check_plain_agrees(not_plain_seeds[i], strlen(not_plain_seeds[i]), &tally))
            fail_msg("seed %zu is plain:\n%s", i, not_plain_seeds[i]);
        assert_int_equal(tally.parsed, before + 1); /* libosip2 takes it */
    }
    printf("# mutations: %zu parsed, %zu of them plain\n", tally.parsed, tally.plain);
    /* the mutations reach both sides of the rule */
    assert_true(tally.plain > 1000);
    assert_true(tally.parsed - tally.plain > 1000);
    plain_tally_t rfc = {0};
    size_t files = check_plain_dir(SW_TESTDATA_DIR "/rfc4475", &rfc);
    printf("# RFC 4475: %zu files, %zu parsed, %zu plain\n", files, rfc.parsed, rfc.plain);
    const char *corpus = getenv("SW_PLAIN_CORPUS");
    if (corpus != NULL) {
        plain_tally_t more = {0};
        files = check_plain_dir(corpus, &more);
        printf("# %s: %zu files, %zu parsed, %zu plain\n", corpus, files, more.parsed, more.plain);
    }
}

/* A plain message gets libosip2's view before it changes, so libosip2
 * judges what is added (a second From) and the readings follow the change. */
static void test_plain_message_changes(void **state)
{
    (void)state;
    sw_msg_t *m = parse_text(plain_seeds[0]);
    assert_true(m->plain);
    assert_null(sw_msg_to_tag(m));
    assert_string_equal(sw_msg_top_via_branch(m), "z9hG4bK-31-1-0");
    assert_string_equal(sw_msg_cseq_method(m), "INVITE");
    assert_int_equal(sw_msg_header_add(m, "From", "<sip:second@example.com>"), -1);
    assert_non_null(m->osip);
    assert_int_equal(sw_msg_header_set(m, "To", "<sip:4420@127.0.0.1:25160>;tag=now"), 0);
    assert_string_equal(sw_msg_to_tag(m), "now");
    assert_int_equal(sw_msg_header_set(m, "CSeq", "2 BYE"), 0);
    assert_string_equal(sw_msg_cseq_method(m), "BYE");
    sw_msg_free(m);

    sw_msg_t *r = parse_text(plain_seeds[1]);
    assert_true(r->plain);
    assert_int_equal(sw_msg_header_remove(r, "Via"), 1);
    assert_null(sw_msg_top_via_branch(r));
    assert_string_equal(sw_msg_method(r), "INVITE"); /* a response's method is its CSeq's */
    sw_msg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_ids),
        cmocka_unit_test(test_header_id_every_byte),
        cmocka_unit_test(test_lookup_matches_names),
        cmocka_unit_test(test_received_views),
        cmocka_unit_test(test_text_room_bound),
        cmocka_unit_test(test_find_control_every_offset),
        cmocka_unit_test(test_line_scan_control_characters),
        cmocka_unit_test(test_plain_messages_agree_with_libosip2),
        cmocka_unit_test(test_plain_message_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
