/* sw_msg_t: one SIP message, parsed twice over.
 *
 * Our own scan of the start line and header lines comes first. It is bounded
 * by the length (the bytes are not NUL-terminated and may hold NULs), strict
 * where RFC 3261 is strict about the start line, and keeps every header as
 * received. libosip2 then parses the start line and header lines, never the
 * body, for the meaning of the headers: the received bytes themselves when
 * they are exactly what it should see, otherwise a rendering of our scan
 * (unfolded lines, NULs hidden, the first of each single-valued header, no
 * Content-Type or Content-Length). Keeping the body from libosip2 keeps its
 * quirks away from bodies (binary multipart, missing Content-Length); the
 * rendering keeps NULs away from it (it works on C strings). See message.h
 * for which view is authoritative.
 *
 * What keeps a message cheap:
 *  - a received message is four allocations: the struct, the bytes as
 *    received, the NUL-terminated text of the start line and of every header
 *    field cut from them (text_room_t), and the array of fields;
 *  - each header field gets an id when it is added (sw_hdr_id_t), so lookups
 *    compare small integers, not names;
 *  - each line is read once, for its end and the control characters on the
 *    way (sip/bytes.h): a field whose lines had none says so (no_ctl), and
 *    the sanity checks do not look for them again;
 *  - a built message has no libosip2 view until something reads it, so the
 *    call engine's build, serialise, free never runs libosip2's parser.
 *
 *  - a received message in a plain shape (sip/plain.c: one libosip2 is sure
 *    to accept, most traffic) is not given to libosip2 at all unless
 *    something reads its view or changes the message: plain.c reads the To
 *    tag, top Via branch and CSeq method that transaction matching needs,
 *    and libosip2 stays the validator of everything else (RFC 4475's
 *    torture tests, most of them). That took libosip2's parse and free,
 *    about 40 % of a call's user-space instructions, off the call path. */
#include "config.h"

#include "sip/message.h"

#include <osipparser2/osip_parser.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sip/bytes.h"
#include "sip/plain.h"
#include "strbuf.h"

/* ---- libosip2 set-up ------------------------------------------------------ */

static pthread_once_t parser_once = PTHREAD_ONCE_INIT;

/* libosip2 prints every parse failure on stderr by default. Malformed input
 * is routine for a public SIP port, so its traces go to our debug log. */
static void osip_trace_to_log(const char *file, int line, osip_trace_level_t level, const char *fmt,
                              va_list ap)
{
    if (!sw_log_enabled(SW_LOG_DEBUG))
        return;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    sw_logf(SW_LOG_DEBUG, "osip", NULL, "%s:%d: %s", file, line, text);
}

static void parser_setup(void)
{
    parser_init();
    /* Levels below OSIP_WARNING (fatal, bug, error) are passed to the hook. */
    osip_trace_initialize_func(OSIP_WARNING, osip_trace_to_log);
}

/* ---- character classes ---------------------------------------------------- */

/* RFC 3261 token characters, a table worked out at compile time: every
 * header name of every message is scanned with it. */
#define IS_TOKEN(c)                                                                                          \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || (c) == '-' || \
     (c) == '.' || (c) == '!' || (c) == '%' || (c) == '*' || (c) == '_' || (c) == '+' || (c) == '`' ||       \
     (c) == '\'' || (c) == '~')
#define TOKEN_ROW4(c) IS_TOKEN(c), IS_TOKEN((c) + 1), IS_TOKEN((c) + 2), IS_TOKEN((c) + 3)
#define TOKEN_ROW16(c) TOKEN_ROW4(c), TOKEN_ROW4((c) + 4), TOKEN_ROW4((c) + 8), TOKEN_ROW4((c) + 12)
#define TOKEN_ROW64(c) TOKEN_ROW16(c), TOKEN_ROW16((c) + 16), TOKEN_ROW16((c) + 32), TOKEN_ROW16((c) + 48)
static const bool token_chars[256] = {TOKEN_ROW64(0), TOKEN_ROW64(64), TOKEN_ROW64(128), TOKEN_ROW64(192)};
#undef TOKEN_ROW64
#undef TOKEN_ROW16
#undef TOKEN_ROW4
#undef IS_TOKEN

bool sw_msg_is_token_char(unsigned char c)
{
    return token_chars[c];
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- header names ----------------------------------------------------------- */

/* Long forms of the compact names (RFC 3261 7.3.3 and the extensions that
 * define one), by letter. */
static const char *const compact_forms['z' - 'a' + 1] = {
    ['a' - 'a'] = "accept-contact",  ['b' - 'a'] = "referred-by",     ['c' - 'a'] = "content-type",
    ['d' - 'a'] = "request-disposition", ['e' - 'a'] = "content-encoding", ['f' - 'a'] = "from",
    ['i' - 'a'] = "call-id",         ['j' - 'a'] = "reject-contact",  ['k' - 'a'] = "supported",
    ['l' - 'a'] = "content-length",  ['m' - 'a'] = "contact",         ['n' - 'a'] = "identity-info",
    ['o' - 'a'] = "event",           ['r' - 'a'] = "refer-to",        ['s' - 'a'] = "subject",
    ['t' - 'a'] = "to",              ['u' - 'a'] = "allow-events",    ['v' - 'a'] = "via",
    ['x' - 'a'] = "session-expires", ['y' - 'a'] = "identity",
};

/* The long name for a one-letter compact name; the name itself otherwise.
 * *len is updated to the length of what is returned. */
static const char *expand_compact(const char *name, size_t *len)
{
    if (*len == 1) {
        char c = ascii_lower(name[0]);
        if (c >= 'a' && c <= 'z' && compact_forms[c - 'a'] != NULL) {
            *len = strlen(compact_forms[c - 'a']);
            return compact_forms[c - 'a'];
        }
    }
    return name;
}

/* The names with an id (sw_hdr_id_t), lower case, grouped by length so that
 * a lookup compares a name with two or three others at most. */
typedef struct known_header {
    const char *name;
    sw_hdr_id_t id;
} known_header_t;

static const known_header_t len2[] = {{"to", SW_HDR_TO}};
static const known_header_t len3[] = {{"via", SW_HDR_VIA}};
static const known_header_t len4[] = {
    {"from", SW_HDR_FROM}, {"cseq", SW_HDR_CSEQ}, {"rseq", SW_HDR_RSEQ}, {"rack", SW_HDR_RACK}};
static const known_header_t len5[] = {{"route", SW_HDR_ROUTE}, {"allow", SW_HDR_ALLOW}, {"event", SW_HDR_EVENT}};
static const known_header_t len6[] = {
    {"accept", SW_HDR_ACCEPT}, {"min-se", SW_HDR_MIN_SE}, {"server", SW_HDR_SERVER}};
static const known_header_t len7[] = {{"call-id", SW_HDR_CALL_ID}, {"contact", SW_HDR_CONTACT},
                                      {"require", SW_HDR_REQUIRE}, {"subject", SW_HDR_SUBJECT},
                                      {"expires", SW_HDR_EXPIRES}};
static const known_header_t len8[] = {{"refer-to", SW_HDR_REFER_TO}, {"identity", SW_HDR_IDENTITY}};
static const known_header_t len9[] = {
    {"supported", SW_HDR_SUPPORTED}, {"call-info", SW_HDR_CALL_INFO}, {"timestamp", SW_HDR_TIMESTAMP}};
static const known_header_t len10[] = {
    {"alert-info", SW_HDR_ALERT_INFO}, {"error-info", SW_HDR_ERROR_INFO}, {"user-agent", SW_HDR_USER_AGENT}};
static const known_header_t len11[] = {{"referred-by", SW_HDR_REFERRED_BY}, {"unsupported", SW_HDR_UNSUPPORTED}};
static const known_header_t len12[] = {{"content-type", SW_HDR_CONTENT_TYPE}, {"record-route", SW_HDR_RECORD_ROUTE},
                                       {"max-forwards", SW_HDR_MAX_FORWARDS}, {"mime-version", SW_HDR_MIME_VERSION},
                                       {"allow-events", SW_HDR_ALLOW_EVENTS}, {"info-package", SW_HDR_INFO_PACKAGE}};
static const known_header_t len13[] = {{"proxy-require", SW_HDR_PROXY_REQUIRE},
                                       {"identity-info", SW_HDR_IDENTITY_INFO},
                                       {"authorization", SW_HDR_AUTHORIZATION}};
static const known_header_t len14[] = {{"content-length", SW_HDR_CONTENT_LENGTH},
                                       {"accept-contact", SW_HDR_ACCEPT_CONTACT},
                                       {"reject-contact", SW_HDR_REJECT_CONTACT}};
static const known_header_t len15[] = {{"accept-encoding", SW_HDR_ACCEPT_ENCODING},
                                       {"accept-language", SW_HDR_ACCEPT_LANGUAGE},
                                       {"session-expires", SW_HDR_SESSION_EXPIRES}};
static const known_header_t len16[] = {
    {"content-encoding", SW_HDR_CONTENT_ENCODING}, {"www-authenticate", SW_HDR_WWW_AUTHENTICATE}};
static const known_header_t len18[] = {
    {"proxy-authenticate", SW_HDR_PROXY_AUTHENTICATE}, {"subscription-state", SW_HDR_SUBSCRIPTION_STATE}};
static const known_header_t len19[] = {{"request-disposition", SW_HDR_REQUEST_DISPOSITION},
                                       {"proxy-authorization", SW_HDR_PROXY_AUTHORIZATION},
                                       {"authentication-info", SW_HDR_AUTHENTICATION_INFO}};
static const known_header_t len25[] = {{"proxy-authentication-info", SW_HDR_PROXY_AUTHENTICATION_INFO}};

#define BY_LEN(n) [n] = {len##n, sizeof len##n / sizeof len##n[0]}
static const struct {
    const known_header_t *names;
    size_t count;
} known_by_len[] = {
    BY_LEN(2),  BY_LEN(3),  BY_LEN(4),  BY_LEN(5),  BY_LEN(6),  BY_LEN(7),  BY_LEN(8),  BY_LEN(9),  BY_LEN(10),
    BY_LEN(11), BY_LEN(12), BY_LEN(13), BY_LEN(14), BY_LEN(15), BY_LEN(16), BY_LEN(18), BY_LEN(19), BY_LEN(25),
};
#undef BY_LEN

/* Whether the bytes of w equal those of known (a word of a known name: lower
 * case letters and '-'), a letter of w in either case: the letters' case bit
 * (0x20, set in every lower case letter, which has 0x40 too) is forced in w.
 * Not in a '-': a CR would pass for one. Byte-wise, whatever the byte order. */
#define SAME_NAME_WORD(type, w, known)                                                                         \
    (((w) | (((known) >> 1) & (type)0x2020202020202020u)) == (known))

/* True when name[0..len) (len >= 2) is the known name `known` of that length
 * ignoring case: a word or two at a time (the last one overlapping the one
 * before), never reading outside the len bytes. */
static bool same_name(const char *name, const char *known, size_t len)
{
    if (len >= 8) {
        uint64_t w, k;
        for (size_t at = 0; at + 8 < len; at += 8) {
            memcpy(&w, name + at, 8), memcpy(&k, known + at, 8);
            if (!SAME_NAME_WORD(uint64_t, w, k))
                return false;
        }
        memcpy(&w, name + len - 8, 8), memcpy(&k, known + len - 8, 8);
        return SAME_NAME_WORD(uint64_t, w, k);
    }
    if (len >= 4) {
        uint32_t w1, k1, w2, k2;
        memcpy(&w1, name, 4), memcpy(&k1, known, 4), memcpy(&w2, name + len - 4, 4), memcpy(&k2, known + len - 4, 4);
        return SAME_NAME_WORD(uint32_t, w1, k1) && SAME_NAME_WORD(uint32_t, w2, k2);
    }
    uint16_t w1, k1, w2, k2;
    memcpy(&w1, name, 2), memcpy(&k1, known, 2), memcpy(&w2, name + len - 2, 2), memcpy(&k2, known + len - 2, 2);
    return SAME_NAME_WORD(uint16_t, w1, k1) && SAME_NAME_WORD(uint16_t, w2, k2);
}
#undef SAME_NAME_WORD

sw_hdr_id_t sw_msg_header_id(const char *name, size_t name_len)
{
    if (name == NULL || name_len == 0)
        return SW_HDR_OTHER;
    if (name_len == 1)
        name = expand_compact(name, &name_len);
    if (name_len < 2 || name_len >= sizeof known_by_len / sizeof known_by_len[0])
        return SW_HDR_OTHER;
    /* This runs for every header lookup and every field added, on names of
     * a few bytes: the first letter picks among the two or three names of
     * that length, and the one left is compared a word at a time. */
    char first = ascii_lower(name[0]);
    for (size_t i = 0; i < known_by_len[name_len].count; i++) {
        const char *known = known_by_len[name_len].names[i].name;
        if (known[0] == first && same_name(name, known, name_len))
            return known_by_len[name_len].names[i].id;
    }
    return SW_HDR_OTHER;
}

bool sw_msg_header_name_is(const char *name, size_t name_len, const char *wanted)
{
    if (name == NULL || wanted == NULL)
        return false;
    size_t wanted_len = strlen(wanted);
    const char *a = expand_compact(name, &name_len);
    const char *b = expand_compact(wanted, &wanted_len);
    return name_len == wanted_len && strncasecmp(a, b, name_len) == 0;
}

/* A header name to look for, with its id worked out once. */
typedef struct hdr_key {
    const char *name;
    size_t len;
    sw_hdr_id_t id;
} hdr_key_t;

static hdr_key_t hdr_key(const char *name)
{
    size_t len = strlen(name);
    return (hdr_key_t){.name = name, .len = len, .id = sw_msg_header_id(name, len)};
}

/* sw_msg_header_name_is(h->name, ..., key->name), by id when the name has one. */
static bool hdr_matches(const sw_msg_hdr_t *h, const hdr_key_t *key)
{
    if (h->id != key->id)
        return false;
    return key->id != SW_HDR_OTHER || (h->name_len == key->len && strncasecmp(h->name, key->name, key->len) == 0);
}

/* The field libosip2 holds for a single-valued header: the first; for a
 * built message the first with a value (see render_for_osip). */
static const sw_msg_hdr_t *osip_single_field(const sw_msg_t *m, sw_hdr_id_t id)
{
    for (size_t k = 0; k < m->hdr_count; k++)
        if (m->hdrs[k].id == id && (!m->built || m->hdrs[k].value_len > 0))
            return &m->hdrs[k];
    return NULL;
}

/* ---- building blocks ---------------------------------------------------- */

/* A line of buf: its content [start, end) without the CRLF or bare LF that
 * ends it, and what the parser must know of the bytes in it. */
typedef struct line {
    size_t start, end;
    bool stray_cr;  /* a CR that does not end the line */
    bool nul;       /* a NUL byte */
    bool ctl;       /* a control character other than HTAB (the two above included) */
} line_t;

/* Reads the next line of buf[*pos .. len) and moves *pos past its end: one
 * pass that finds the line end and the control characters before it. False
 * when no LF is left (an unterminated line). */
static bool read_line(const char *buf, size_t len, size_t *pos, line_t *line)
{
    *line = (line_t){.start = *pos};
    for (size_t at = *pos;; at++) {
        at = sw_bytes_find_control(buf, at, len);
        if (at >= len)
            return false;
        char c = buf[at];
        if (c == '\n' || (c == '\r' && at + 1 < len && buf[at + 1] == '\n')) {
            line->end = at;
            *pos = at + (c == '\r' ? 2 : 1);
            return true;
        }
        if (c != '\t') {
            line->ctl = true;
            line->stray_cr |= c == '\r';
            line->nul |= c == '\0';
        }
    }
}

/* Room for NUL-terminated texts inside the message's own allocation, filled
 * from the front. The sizes are worked out so that it never runs out (see
 * sw_msg_parse); the checks are a safety net. */
typedef struct text_room {
    char *at;
    char *end;
} text_room_t;

/* Copies s[0..n) and a NUL into the room: the copy, or NULL when full. */
static char *room_put(text_room_t *room, const char *s, size_t n)
{
    if ((size_t)(room->end - room->at) < n + 1)
        return NULL;
    char *p = room->at;
    memcpy(p, s, n);
    p[n] = '\0';
    room->at += n + 1;
    return p;
}


/* Appends n bytes at out + *at (the caller sized the buffer). */
static void put(char *out, size_t *at, const char *s, size_t n)
{
    memcpy(out + *at, s, n);
    *at += n;
}

/* Appends " ddd " for a status code (0-999: the parser takes three digits,
 * the builder 100-699), as "%03d" between spaces would. */
static void put_status_code(char *out, size_t *at, int status)
{
    char code[5] = {' ', (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10),
                    ' '};
    put(out, at, code, sizeof code);
}

/* ---- start line ------------------------------------------------------------- */

/* The parts of a start line, pointing into it. */
typedef struct start_line {
    const char *method, *uri, *version, *reason; /* method and uri NULL for a response, reason for a request */
    size_t method_len, uri_len, scheme_len, version_len, reason_len;
    int status;
} start_line_t;

/* "SIP/" 1*DIGIT "." 1*DIGIT ("SIP" in any case, as ABNF literals are). */
static bool is_sip_version(const char *s, size_t n)
{
    if (n < 7 || strncasecmp(s, "SIP/", 4) != 0)
        return false;
    size_t i = 4, digits = 0;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (digits == 0 || i >= n || s[i] != '.')
        return false;
    i++;
    digits = 0;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    return digits > 0 && i == n;
}

/* Length of the URI scheme at the start of uri (RFC 3986: ALPHA *( ALPHA /
 * DIGIT / "+" / "-" / "." ) followed by ':'), or 0 when there is none. */
static size_t uri_scheme_len(const char *uri, size_t n)
{
    if (n == 0 || !((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = uri[i];
        if (c == ':')
            return i;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' ||
              c == '-' || c == '.'))
            return 0;
    }
    return 0;
}

static bool scheme_is_sip_or_tel(const char *scheme, size_t n)
{
    return (n == 3 && strncasecmp(scheme, "sip", 3) == 0) || (n == 4 && strncasecmp(scheme, "sips", 4) == 0) ||
           (n == 3 && strncasecmp(scheme, "tel", 3) == 0);
}

/* The method and Request-URI of a request line: a token, and a URI with a
 * scheme made of visible characters (no SP, no control character). Sets
 * *scheme_len. Shared by the parser and the builder, so that what we build
 * is what we would accept. */
static const char *check_request_parts(const char *method, size_t method_len, const char *uri, size_t uri_len,
                                       size_t *scheme_len)
{
    if (method_len == 0)
        return "invalid request line";
    for (size_t i = 0; i < method_len; i++)
        if (!token_chars[(unsigned char)method[i]])
            return "invalid method";
    if (uri_len == 0)
        return "invalid request line";
    for (size_t i = 0; i < uri_len; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7f)
            return "invalid character in Request-URI";
    }
    *scheme_len = uri_scheme_len(uri, uri_len);
    if (*scheme_len == 0)
        return "Request-URI without a scheme";
    return NULL;
}

static const char *scan_response_line(const char *line, size_t n, start_line_t *sl)
{
    const char *sp = memchr(line, ' ', n);
    if (sp == NULL || !is_sip_version(line, (size_t)(sp - line)))
        return "invalid status line";
    size_t rest = n - (size_t)(sp + 1 - line);
    const char *code = sp + 1;
    /* Exactly three digits (bigcode: 4294967301 must not wrap into a code). */
    if (rest < 3 || !is_digit(code[0]) || !is_digit(code[1]) || !is_digit(code[2]))
        return "invalid status code";
    if (rest > 3 && code[3] != ' ')
        return "invalid status code";
    sl->reason = rest > 3 ? code + 4 : code + 3;
    sl->reason_len = rest > 3 ? rest - 4 : 0;
    sl->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    sl->version = line;
    sl->version_len = (size_t)(sp - line);
    return NULL;
}

static const char *scan_request_line(const char *line, size_t n, start_line_t *sl)
{
    /* Method SP Request-URI SP SIP-Version, single SPs and nothing else
     * (lwsstart, trws, lwsruri are rejected here). */
    const char *sp1 = memchr(line, ' ', n);
    if (sp1 == NULL || sp1 == line)
        return "invalid request line";
    for (const char *p = line; p < sp1; p++)
        if (!token_chars[(unsigned char)*p])
            return "invalid method";
    const char *sp2 = NULL;
    for (const char *p = line + n; p > sp1 + 1; p--) {
        if (p[-1] == ' ') {
            sp2 = p - 1;
            break;
        }
    }
    if (sp2 == NULL || sp2 == sp1 + 1)
        return "invalid request line";
    if (!is_sip_version(sp2 + 1, (size_t)(line + n - sp2 - 1)))
        return "invalid SIP version in request line";
    sl->method = line;
    sl->method_len = (size_t)(sp1 - line);
    sl->uri = sp1 + 1;
    sl->uri_len = (size_t)(sp2 - sl->uri);
    sl->version = sp2 + 1;
    sl->version_len = (size_t)(line + n - sp2 - 1);
    return check_request_parts(sl->method, sl->method_len, sl->uri, sl->uri_len, &sl->scheme_len);
}

/* Copies the parts of a start line into the message's text room. */
static const char *store_start_line(sw_msg_t *m, const start_line_t *sl, text_room_t *room)
{
    m->version = room_put(room, sl->version, sl->version_len);
    if (sl->method != NULL) {
        m->method = room_put(room, sl->method, sl->method_len);
        m->ruri = room_put(room, sl->uri, sl->uri_len);
        m->ruri_scheme = room_put(room, sl->uri, sl->scheme_len);
        if (m->method == NULL || m->ruri == NULL || m->ruri_scheme == NULL)
            return "out of text room";
    } else {
        m->status = sl->status;
        m->reason = room_put(room, sl->reason, sl->reason_len);
        if (m->reason == NULL)
            return "out of text room";
    }
    return m->version != NULL ? NULL : "out of text room";
}

static const char *parse_start_line(sw_msg_t *m, const line_t *l, text_room_t *room)
{
    if (l->nul || l->stray_cr)
        return "invalid character in start line";
    const char *line = m->raw + l->start;
    size_t n = l->end - l->start;
    start_line_t sl = {0};
    const char *failure = n >= 4 && strncasecmp(line, "SIP/", 4) == 0 ? scan_response_line(line, n, &sl)
                                                                         : scan_request_line(line, n, &sl);
    return failure != NULL ? failure : store_start_line(m, &sl, room);
}

/* ---- the header list ------------------------------------------------------- */

/* Which texts of a header field were allocated apart from the message and go
 * with the field. Fields cut from the received bytes own nothing (their text
 * lives in the message's own allocation). HDR_OWNS_NAME: the name is an
 * allocation, which also holds the value unless HDR_OWNS_VALUE says the
 * value has one of its own. */
enum { HDR_OWNS_NAME = 1, HDR_OWNS_VALUE = 2 };

static void hdr_release(sw_msg_hdr_t *h)
{
    if (h->owns & HDR_OWNS_VALUE)
        free(h->value);
    if (h->owns & HDR_OWNS_NAME)
        free(h->name);
}

/* A field holding copies of name and value in one allocation. */
static int hdr_new(sw_msg_hdr_t *h, const char *name, size_t name_len, sw_hdr_id_t id, const char *value,
                   size_t value_len)
{
    char *text = malloc(name_len + value_len + 2);
    if (text == NULL)
        return -1;
    memcpy(text, name, name_len);
    text[name_len] = '\0';
    char *v = text + name_len + 1;
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    *h = (sw_msg_hdr_t){
        .name = text, .value = v, .value_len = value_len, .name_len = name_len, .id = id, .owns = HDR_OWNS_NAME};
    return 0;
}

/* Gives h a copy of value as its value. */
static int hdr_replace_value(sw_msg_hdr_t *h, const char *value, size_t value_len)
{
    char *v = malloc(value_len + 1);
    if (v == NULL)
        return -1;
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    if (h->owns & HDR_OWNS_VALUE)
        free(h->value);
    h->value = v;
    h->value_len = value_len;
    h->owns |= HDR_OWNS_VALUE;
    h->no_ctl = false; /* promised of the parsed text only */
    return 0;
}

/* Makes room for one more field in the list. */
static int hdr_reserve(sw_msg_t *m)
{
    if (m->hdr_count < m->hdr_cap)
        return 0;
    size_t cap = m->hdr_cap ? m->hdr_cap * 2 : 16;
    sw_msg_hdr_t *h = realloc(m->hdrs, cap * sizeof *h);
    if (h == NULL)
        return -1;
    m->hdrs = h;
    m->hdr_cap = cap;
    return 0;
}

/* Removes the fields matching key after index `from`: how many. */
static int hdr_remove_from(sw_msg_t *m, const hdr_key_t *key, size_t from)
{
    size_t kept = from;
    int removed = 0;
    for (size_t k = from; k < m->hdr_count; k++) {
        if (hdr_matches(&m->hdrs[k], key)) {
            hdr_release(&m->hdrs[k]);
            removed++;
        } else {
            m->hdrs[kept++] = m->hdrs[k];
        }
    }
    m->hdr_count = kept;
    return removed;
}

/* ---- header lines --------------------------------------------------------- */

/* Appends a folded continuation to h, the last field cut so far, whose value
 * is the last text in the room: it grows in place. One SP joins the two
 * parts (RFC 3261 7.3.1: folding is equivalent to a single SP). */
static bool hdr_continue(sw_msg_hdr_t *h, text_room_t *room, const char *text, size_t n)
{
    while (n > 0 && is_wsp(text[0]))
        text++, n--;
    while (n > 0 && is_wsp(text[n - 1]))
        n--;
    if (n == 0)
        return true;
    char *at = h->value + h->value_len; /* its NUL, the last byte written */
    size_t sep = h->value_len > 0 ? 1 : 0;
    if (at + 1 != room->at || (size_t)(room->end - at) < sep + n + 1)
        return false;
    if (sep)
        *at++ = ' ';
    memcpy(at, text, n);
    at[n] = '\0';
    h->value_len += sep + n;
    room->at = at + n + 1;
    return true;
}

/* A NUL byte is legal in a header only as the escaped character of a
 * quoted-pair inside a quoted string (RFC 3261 25.1); anything else is junk. */
static bool nul_bytes_allowed(const char *v, size_t n)
{
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (quoted && v[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (v[i] == '"')
            quoted = !quoted;
        else if (v[i] == '\0')
            return false;
    }
    return true;
}

static const char *parse_headers(sw_msg_t *m, size_t *pos, text_room_t *room)
{
    const char *buf = m->raw;
    size_t len = m->raw_len;
    line_t l;
    for (;;) {
        if (!read_line(buf, len, pos, &l))
            return "no end of headers";
        const char *line = buf + l.start;
        size_t n = l.end - l.start;
        if (n == 0)
            return NULL; /* the empty line: headers end, *pos is the body */
        if (l.stray_cr)
            return "stray CR in header";
        m->header_nul |= l.nul;
        if (is_wsp(line[0])) {
            if (m->hdr_count == 0)
                return "folded line without a header";
            sw_msg_hdr_t *h = &m->hdrs[m->hdr_count - 1];
            if (!hdr_continue(h, room, line, n))
                return "out of text room";
            h->no_ctl &= !l.ctl;
            m->folded = true;
            continue;
        }
        /* token *WSP ":" value (wsinv has "TO :" and "Content-Length   :") */
        size_t i = 0;
        while (i < n && token_chars[(unsigned char)line[i]])
            i++;
        size_t name_len = i;
        while (i < n && is_wsp(line[i]))
            i++;
        if (name_len == 0 || i >= n || line[i] != ':')
            return "invalid header line";
        if (m->hdr_count >= SW_MSG_MAX_HEADERS)
            return "too many headers";
        i++;
        while (i < n && is_wsp(line[i]))
            i++;
        size_t value_end = n;
        while (value_end > i && is_wsp(line[value_end - 1]))
            value_end--;
        if (hdr_reserve(m) != 0)
            return "out of memory";
        /* Name and value in one copy of the line up to the value's end: the
         * byte after the name (':' or whitespace) gives way to its NUL. The
         * value last: a folded line that follows extends it in place. */
        char *name = room_put(room, line, value_end);
        if (name == NULL)
            return "out of text room";
        name[name_len] = '\0';
        m->hdrs[m->hdr_count++] = (sw_msg_hdr_t){.name = name,
                                                 .value = name + i,
                                                 .value_len = value_end - i,
                                                 .name_len = name_len,
                                                 .id = sw_msg_header_id(name, name_len),
                                                 .no_ctl = !l.ctl};
    }
}

/* ---- libosip2's view -------------------------------------------------------- */

/* Headers libosip2 stores in a single field and refuses to see twice
 * (Content-Type and Content-Length are handled apart, see below): their
 * index in a table of flags, or -1. */
static int single_valued_index(sw_hdr_id_t id)
{
    switch (id) {
    case SW_HDR_CALL_ID: return 0;
    case SW_HDR_CSEQ: return 1;
    case SW_HDR_FROM: return 2;
    case SW_HDR_TO: return 3;
    case SW_HDR_MIME_VERSION: return 4;
    default: return -1;
    }
}

#define SINGLE_VALUED_COUNT 5

/* Content-Type and Content-Length are set on libosip2's message after it
 * parsed the rest: given in the text, they make libosip2 parse a body, which
 * we neither give it nor want it to judge (it refuses some valid ones). */
static bool is_body_header(sw_hdr_id_t id)
{
    return id == SW_HDR_CONTENT_TYPE || id == SW_HDR_CONTENT_LENGTH;
}

/* libosip2 cannot parse every URI scheme (it refuses "soap.beep:", novelsc)
 * and we answer anything but sip/sips/tel with 416 anyway, so such a request
 * is given to libosip2 with this stand-in, removed again afterwards. */
static const char ruri_stand_in[] = "sip:unsupported-scheme.invalid";

static bool ruri_needs_stand_in(const sw_msg_t *m)
{
    return m->method != NULL && !scheme_is_sip_or_tel(m->ruri_scheme, strlen(m->ruri_scheme));
}

/* Renders start line + headers (no body) as libosip2 input. */
static char *render_for_osip(const sw_msg_t *m, size_t *out_len)
{
    bool stand_in = ruri_needs_stand_in(m);
    const char *uri = stand_in ? ruri_stand_in : m->ruri;
    size_t version_len = strlen(m->version);
    size_t cap = 16 + version_len;
    if (m->method != NULL)
        cap += strlen(m->method) + strlen(uri);
    else
        cap += strlen(m->reason);
    for (size_t i = 0; i < m->hdr_count; i++)
        cap += m->hdrs[i].name_len + m->hdrs[i].value_len + 4;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    if (m->method != NULL) {
        put(out, &n, m->method, strlen(m->method));
        out[n++] = ' ';
        put(out, &n, uri, strlen(uri));
        out[n++] = ' ';
        put(out, &n, m->version, version_len);
    } else {
        put(out, &n, m->version, version_len);
        put_status_code(out, &n, m->status);
        put(out, &n, m->reason, strlen(m->reason));
    }
    put(out, &n, "\r\n", 2);
    /* Only the first of each single-valued header (a flag per name keeps
     * this linear: a message may carry thousands of header lines). For a
     * built message, the first with a value: libosip2 keeps nothing of an
     * empty one, so when fields are handed to it one by one (as
     * sw_msg_header_add does on a received message) a later one counts. */
    bool emitted[SINGLE_VALUED_COUNT] = {false};
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        int single = single_valued_index(h->id);
        if (single >= 0) {
            if (emitted[single] || (m->built && h->value_len == 0))
                continue;
            emitted[single] = true;
        }
        if (is_body_header(h->id))
            continue;
        put(out, &n, h->name, h->name_len);
        put(out, &n, ": ", 2);
        size_t value_at = n;
        put(out, &n, h->value, h->value_len);
        /* nul_bytes_allowed() made sure a NUL here is the escaped byte of a
         * quoted-pair; "\ " keeps the quoted string intact for libosip2. */
        if (m->header_nul)
            for (size_t k = value_at; k < n; k++)
                if (out[k] == '\0')
                    out[k] = ' ';
        put(out, &n, "\r\n", 2);
    }
    put(out, &n, "\r\n", 2);
    out[n] = '\0';
    *out_len = n;
    return out;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* True when the received start line and header lines, as they are, say to
 * libosip2 exactly what render_for_osip() would: no folded line and no NUL
 * (the rendering unfolds and hides those), a Request-URI it may parse, a
 * status line with the SP before its reason phrase (without it libosip2
 * takes the next line for the phrase), no empty value (libosip2 would keep
 * NULL where the rendering gives it ""), no second field of a single-valued
 * header (the rendering drops those), no Content-Type (it would make
 * libosip2 look for a body) and at most one Content-Length of plain digits
 * (its value is set again afterwards, as after a rendering). Names and
 * values are otherwise the same text, and libosip2 trims the whitespace we
 * trimmed. */
static bool raw_fits_osip(const sw_msg_t *m)
{
    if (m->raw == NULL || m->folded || m->header_nul || ruri_needs_stand_in(m))
        return false;
    if (m->method == NULL && m->raw[strlen(m->version) + 4] != ' ') /* "SIP/2.0 200 " */
        return false;
    bool seen[SINGLE_VALUED_COUNT] = {false};
    bool seen_length = false;
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        if (h->id == SW_HDR_CONTENT_TYPE || h->value_len == 0)
            return false;
        if (h->id == SW_HDR_CONTENT_LENGTH) {
            if (seen_length || !all_digits(h->value, h->value_len))
                return false;
            seen_length = true;
        }
        int single = single_valued_index(h->id);
        if (single >= 0) {
            if (seen[single])
                return false;
            seen[single] = true;
        }
    }
    return true;
}

/* Where the body is: set by sw_msg_set_body, received, or none at all (a
 * built message has no raw bytes). */
static const char *body_bytes(const sw_msg_t *m)
{
    if (m->body != NULL)
        return m->body;
    if (m->raw != NULL)
        return m->raw + m->body_offset;
    return "";
}

/* Makes m->osip from the start line, the header list and the body. On
 * failure m->osip may be set (freed with the message or by the caller). */
static const char *build_osip_view(sw_msg_t *m)
{
    if (m->header_nul)
        for (size_t i = 0; i < m->hdr_count; i++)
            if (!nul_bytes_allowed(m->hdrs[i].value, m->hdrs[i].value_len))
                return "NUL byte in header";

    osip_message_t *osip = NULL;
    if (osip_message_init(&osip) != 0)
        return "out of memory";
    /* The received bytes up to the body when they need no rendering; when
     * libosip2 refuses them, the rendering decides, so the verdict and its
     * reason are always the rendering's. */
    bool parsed = false;
    if (raw_fits_osip(m)) {
        parsed = osip_message_parse(osip, m->raw, m->body_offset) == 0;
        if (!parsed) {
            osip_message_free(osip);
            osip = NULL;
            if (osip_message_init(&osip) != 0)
                return "out of memory";
        }
    }
    if (!parsed) {
        size_t text_len;
        char *text = render_for_osip(m, &text_len);
        if (text == NULL) {
            osip_message_free(osip);
            return "out of memory";
        }
        int rc = osip_message_parse(osip, text, text_len);
        free(text);
        if (rc != 0) {
            osip_message_free(osip);
            return "malformed message";
        }
    }
    m->osip = osip;
    if (ruri_needs_stand_in(m) && osip->req_uri != NULL) {
        osip_uri_free(osip->req_uri);
        osip->req_uri = NULL;
    }
    const sw_msg_hdr_t *content_type = osip_single_field(m, SW_HDR_CONTENT_TYPE);
    if (content_type != NULL && osip_message_set_content_type(osip, content_type->value) != 0)
        return "malformed Content-Type";
    /* libosip2 put "Content-Length: 0" in as none was given (or took the
     * received one): it must read the one received, or the real length when
     * there was none (a datagram whose body runs to its end, inv2543). */
    char body_len_text[24];
    sw_decimal(body_len_text, m->body_len);
    const sw_msg_hdr_t *content_length = osip_single_field(m, SW_HDR_CONTENT_LENGTH);
    const char *length = content_length != NULL ? content_length->value : body_len_text;
    if (osip->content_length == NULL || osip->content_length->value == NULL ||
        strcmp(osip->content_length->value, length) != 0) {
        if (osip->content_length != NULL) {
            osip_content_length_free(osip->content_length);
            osip->content_length = NULL;
        }
        if (osip_message_set_content_length(osip, length) != 0)
            return "malformed Content-Length";
    }
    if (m->body_len > 0 && osip_message_set_body(osip, body_bytes(m), m->body_len) != 0)
        return "out of memory";
    return NULL;
}

/* A built message's view no longer matches the message once it changes: it
 * is made again when next needed. */
static void drop_osip_view(sw_msg_t *m)
{
    if (m->osip != NULL) {
        osip_message_free(m->osip);
        m->osip = NULL;
    }
}

struct osip_message *sw_msg_osip(const sw_msg_t *cm)
{
    if (cm == NULL)
        return NULL;
    if (cm->osip == NULL && (cm->built || cm->plain)) {
        /* The view is a cache of what the message says: filling it changes
         * nothing a caller can see, hence the const parameter. */
        sw_msg_t *m = (sw_msg_t *)cm;
        pthread_once(&parser_once, parser_setup);
        const char *refused = build_osip_view(m);
        if (refused != NULL) {
            drop_osip_view(m);
            if (m->plain) /* plain.c promised libosip2 would take it */
                sw_error("libosip2 refused a plain message (%s): sip/plain.c needs a fix", refused);
        }
    }
    return cm->osip;
}

/* A plain received message gets libosip2's view before it changes, so that
 * libosip2 judges changes to every received message as it always did.
 * False when the view cannot be made (out of memory). */
static bool view_for_change(sw_msg_t *m)
{
    return m->built || m->osip != NULL || !m->plain || sw_msg_osip(m) != NULL;
}

/* ---- public: life cycle ---------------------------------------------------- */

sw_msg_t *sw_msg_parse(const char *buf, size_t len, const char **err)
{
    pthread_once(&parser_once, parser_setup);
    const char *reason = NULL;
    sw_msg_t *m = NULL;
    size_t pos = 0;
    line_t start_line;
    if (buf == NULL || len == 0) {
        reason = "empty message";
        goto fail;
    }
    if (!read_line(buf, len, &pos, &start_line)) {
        reason = "no end of start line";
        goto fail;
    }
    /* The text room: a header line of n bytes (its line end included) gives
     * at most n bytes of text, the line up to its value's end and a NUL (the
     * line end stands in for it); a folded line adds at most its
     * length to the value it continues. The start line gives its parts with
     * their NULs, and its Request-URI scheme once more: at most twice its
     * length and 2. So len + start line + 2 is always enough. (Three blocks,
     * not one: each stays under glibc's small-request size for a common
     * message, where one would make every parse a large request, which
     * takes the slow path and consolidates the fast bins.) */
    size_t room_size = len + (start_line.end - start_line.start) + 2;
    if (len >= SIZE_MAX / 2 - 2 || (m = calloc(1, sizeof *m)) == NULL || (m->raw = malloc(len + 1)) == NULL ||
        (m->text = malloc(room_size)) == NULL) {
        reason = "out of memory";
        goto fail;
    }
    memcpy(m->raw, buf, len);
    m->raw[len] = '\0';
    m->raw_len = len;
    text_room_t room = {.at = m->text, .end = m->text + room_size};

    if ((reason = parse_start_line(m, &start_line, &room)) != NULL)
        goto fail;
    if ((reason = parse_headers(m, &pos, &room)) != NULL)
        goto fail;
    m->body_offset = pos;
    m->body_len = len - pos;
    m->plain = sw_msg_plain_check(m);
    if (!m->plain && (reason = build_osip_view(m)) != NULL)
        goto fail;
    if (err != NULL)
        *err = NULL;
    return m;

fail:
    sw_msg_free(m);
    if (err != NULL)
        *err = reason;
    return NULL;
}

void sw_msg_free(sw_msg_t *m)
{
    if (m == NULL)
        return;
    if (m->osip != NULL)
        osip_message_free(m->osip);
    for (size_t i = 0; i < m->hdr_count; i++)
        hdr_release(&m->hdrs[i]);
    free(m->hdrs);
    free(m->ruri_owned);
    free(m->body);
    free(m->raw);
    free(m->text);
    free(m->account);
    free(m);
}

/* ---- public: start line and common fields --------------------------------- */

bool sw_msg_is_request(const sw_msg_t *m)
{
    return m != NULL && m->method != NULL;
}

const char *sw_msg_method(const sw_msg_t *m)
{
    if (m == NULL)
        return NULL;
    return m->method != NULL ? m->method : sw_msg_cseq_method(m);
}

int sw_msg_status(const sw_msg_t *m)
{
    return m != NULL ? m->status : 0;
}

const char *sw_msg_version(const sw_msg_t *m)
{
    return m != NULL ? m->version : NULL;
}

const char *sw_msg_reason(const sw_msg_t *m)
{
    return m != NULL ? m->reason : NULL;
}

const char *sw_msg_call_id(const sw_msg_t *m)
{
    if (m == NULL)
        return NULL;
    const sw_msg_hdr_t *h = sw_msg_header_field(m, SW_HDR_CALL_ID, 0);
    return h != NULL ? h->value : NULL;
}

/* A plain message without libosip2's view answers from plain.c's reading. */
static bool read_plain(const sw_msg_t *m)
{
    return m != NULL && m->plain && m->osip == NULL;
}

const char *sw_msg_cseq_method(const sw_msg_t *m)
{
    if (read_plain(m))
        return m->plain_cseq_method;
    osip_message_t *osip = sw_msg_osip(m);
    if (osip == NULL || osip->cseq == NULL)
        return NULL;
    return osip->cseq->method;
}

const char *sw_msg_ruri(const sw_msg_t *m)
{
    return m != NULL ? m->ruri : NULL;
}

const char *sw_msg_ruri_scheme(const sw_msg_t *m)
{
    return m != NULL ? m->ruri_scheme : NULL;
}

const char *sw_msg_to_tag(const sw_msg_t *m)
{
    if (read_plain(m))
        return m->plain_to_tag;
    osip_message_t *osip = sw_msg_osip(m);
    if (osip == NULL || osip->to == NULL)
        return NULL;
    osip_generic_param_t *tag = NULL;
    if (osip_to_get_tag(osip->to, &tag) != 0 || tag == NULL)
        return NULL;
    return tag->gvalue;
}

const char *sw_msg_top_via_branch(const sw_msg_t *m)
{
    if (read_plain(m))
        return m->plain_branch;
    osip_message_t *osip = sw_msg_osip(m);
    if (osip == NULL)
        return NULL;
    osip_via_t *via = osip_list_get(&osip->vias, 0);
    if (via == NULL)
        return NULL;
    osip_generic_param_t *branch = NULL;
    if (osip_via_param_get_byname(via, "branch", &branch) != 0 || branch == NULL)
        return NULL;
    return branch->gvalue;
}

const char *sw_msg_body(const sw_msg_t *m, size_t *len)
{
    if (m == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = m->body_len;
    return body_bytes(m);
}

/* ---- public: headers ------------------------------------------------------ */

const char *sw_msg_header(const sw_msg_t *m, const char *name, size_t i)
{
    if (m == NULL || name == NULL)
        return NULL;
    hdr_key_t key = hdr_key(name);
    for (size_t k = 0; k < m->hdr_count; k++) {
        if (hdr_matches(&m->hdrs[k], &key) && i-- == 0)
            return m->hdrs[k].value;
    }
    return NULL;
}

const sw_msg_hdr_t *sw_msg_header_field(const sw_msg_t *m, sw_hdr_id_t id, size_t i)
{
    if (m == NULL || id == SW_HDR_OTHER)
        return NULL;
    for (size_t k = 0; k < m->hdr_count; k++)
        if (m->hdrs[k].id == id && i-- == 0)
            return &m->hdrs[k];
    return NULL;
}

const char *sw_msg_header_by_id(const sw_msg_t *m, sw_hdr_id_t id, size_t i)
{
    const sw_msg_hdr_t *h = sw_msg_header_field(m, id, i);
    return h ? h->value : NULL;
}

size_t sw_msg_header_count(const sw_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL)
        return 0;
    hdr_key_t key = hdr_key(name);
    size_t n = 0;
    for (size_t k = 0; k < m->hdr_count; k++)
        if (hdr_matches(&m->hdrs[k], &key))
            n++;
    return n;
}

/* A header name is a token; a value is one line. */
static bool header_text_valid(const char *name, const char *value)
{
    if (name == NULL || value == NULL || name[0] == '\0')
        return false;
    for (const char *p = name; *p; p++)
        if (!token_chars[(unsigned char)*p])
            return false;
    return strpbrk(value, "\r\n") == NULL;
}

/* A value trimmed like a received one, so both views agree: returns where
 * it starts, *len its length. */
static const char *trim_value(const char *value, size_t *len)
{
    size_t vlen = strlen(value);
    while (vlen > 0 && is_wsp(value[0]))
        value++, vlen--;
    while (vlen > 0 && is_wsp(value[vlen - 1]))
        vlen--;
    *len = vlen;
    return value;
}

/* Received messages have libosip2's view, plain ones once they change; a
 * built one gets it on demand. Anything else was not made by this file. */
static bool msg_usable(const sw_msg_t *m)
{
    return m != NULL && (m->built || m->osip != NULL || m->plain);
}

/* ---- checks on built messages ------------------------------------------------ */

/* The front of libosip2's From/To parser (osip_from_parse) on v[0..n): a
 * quoted display name must be closed and followed by "<"; otherwise, after
 * token characters and spaces, either "<" starts a name-addr or something
 * else (":") an addr-spec, and a value of nothing but token characters and
 * spaces is no address. A "<" opening a name-addr needs a ">" after it. */
static bool name_addr_plausible(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && v[i] == ' ')
        i++;
    if (i < n && v[i] == '"') {
        for (i++; i < n && v[i] != '"'; i++)
            if (v[i] == '\\' && i + 1 < n)
                i++;
        if (i >= n)
            return false;
        for (i++; i < n && v[i] == ' ';)
            i++;
        if (i >= n || v[i] != '<')
            return false;
    } else {
        while (i < n && (v[i] == ' ' || token_chars[(unsigned char)v[i]]))
            i++;
        if (i >= n)
            return false;
        if (v[i] != '<')
            return true;
    }
    return i + 1 < n && memchr(v + i + 1, '>', n - i - 1) != NULL;
}

/* The checks that stand in for libosip2's on a built message (message.h
 * lists them). Each is a test libosip2 makes before anything else for that
 * header, so they refuse only values libosip2 refuses: a built message
 * accepted here and refused by libosip2 only gets no libosip2 view (its
 * accessors read NULL). `adding`: the field comes in addition to the
 * others (header_add), rather than in their place (header_set). */
static bool built_value_acceptable(const sw_msg_t *m, sw_hdr_id_t id, const char *value, size_t len, bool adding)
{
    if (len == 0)
        return true; /* libosip2 takes an empty value and keeps nothing of it */
    switch (id) {
    case SW_HDR_FROM:
    case SW_HDR_TO:
    case SW_HDR_CALL_ID:
    case SW_HDR_CSEQ:
    case SW_HDR_CONTENT_TYPE:
    case SW_HDR_CONTENT_LENGTH:
        /* libosip2 has a single field for these and refuses a second. (It
         * also holds a Content-Length from the start, the body's: adding one
         * where the list has none is accepted here, and harmless, as
         * sw_msg_serialize writes the real length anyway.) */
        if (adding)
            for (size_t k = 0; k < m->hdr_count; k++)
                if (m->hdrs[k].id == id && m->hdrs[k].value_len > 0)
                    return false;
        break;
    default:
        break;
    }
    bool list = memchr(value, ',', len) != NULL; /* libosip2 splits lists at commas first */
    switch (id) {
    case SW_HDR_CSEQ:
        return memchr(value, ' ', len) != NULL; /* number SP method */
    case SW_HDR_FROM:
    case SW_HDR_TO:
        return name_addr_plausible(value, len);
    case SW_HDR_VIA: {
        const char *slash = memchr(value, '/', len); /* "SIP/2.0/UDP host" */
        return list || (slash != NULL && memchr(slash + 1, '/', len - (size_t)(slash + 1 - value)) != NULL);
    }
    case SW_HDR_CONTENT_TYPE:
        return list || memchr(value, '/', len) != NULL; /* type "/" subtype */
    default:
        return true;
    }
}

/* ---- libosip2's view of received messages, kept in step -------------------- */

/* Which libosip2 field holds a known header, and how to free its values. */
typedef void (*osip_free_fn)(void *);

static osip_list_t *osip_list_for(osip_message_t *s, sw_hdr_id_t id, osip_free_fn *free_fn)
{
#define LIST(field, fn)                                                                                            \
    do {                                                                                                           \
        *free_fn = (osip_free_fn)(fn);                                                                             \
        return &s->field;                                                                                          \
    } while (0)
    switch (id) {
    case SW_HDR_ACCEPT: LIST(accepts, osip_accept_free);
    case SW_HDR_ACCEPT_ENCODING: LIST(accept_encodings, osip_accept_encoding_free);
    case SW_HDR_ACCEPT_LANGUAGE: LIST(accept_languages, osip_accept_language_free);
    case SW_HDR_ALERT_INFO: LIST(alert_infos, osip_alert_info_free);
    case SW_HDR_ALLOW: LIST(allows, osip_allow_free);
    case SW_HDR_AUTHENTICATION_INFO: LIST(authentication_infos, osip_authentication_info_free);
    case SW_HDR_AUTHORIZATION: LIST(authorizations, osip_authorization_free);
    case SW_HDR_CALL_INFO: LIST(call_infos, osip_call_info_free);
    case SW_HDR_CONTACT: LIST(contacts, osip_contact_free);
    case SW_HDR_CONTENT_ENCODING: LIST(content_encodings, osip_content_encoding_free);
    case SW_HDR_ERROR_INFO: LIST(error_infos, osip_error_info_free);
    case SW_HDR_PROXY_AUTHENTICATE: LIST(proxy_authenticates, osip_proxy_authenticate_free);
    case SW_HDR_PROXY_AUTHENTICATION_INFO: LIST(proxy_authentication_infos, osip_proxy_authentication_info_free);
    case SW_HDR_PROXY_AUTHORIZATION: LIST(proxy_authorizations, osip_proxy_authorization_free);
    case SW_HDR_RECORD_ROUTE: LIST(record_routes, osip_record_route_free);
    case SW_HDR_ROUTE: LIST(routes, osip_route_free);
    case SW_HDR_VIA: LIST(vias, osip_via_free);
    case SW_HDR_WWW_AUTHENTICATE: LIST(www_authenticates, osip_www_authenticate_free);
    default: return NULL;
    }
#undef LIST
}

/* Removes a header from libosip2's view: its parsed field, if it has one,
 * and any entries in the list of other headers. */
static void osip_remove_header(osip_message_t *s, const hdr_key_t *key)
{
    osip_free_fn free_fn = NULL;
    osip_list_t *list = osip_list_for(s, key->id, &free_fn);
    if (list != NULL) {
        osip_list_special_free(list, free_fn);
    } else if (key->id == SW_HDR_CALL_ID && s->call_id != NULL) {
        osip_call_id_free(s->call_id);
        s->call_id = NULL;
    } else if (key->id == SW_HDR_CSEQ && s->cseq != NULL) {
        osip_cseq_free(s->cseq);
        s->cseq = NULL;
    } else if (key->id == SW_HDR_FROM && s->from != NULL) {
        osip_from_free(s->from);
        s->from = NULL;
    } else if (key->id == SW_HDR_TO && s->to != NULL) {
        osip_to_free(s->to);
        s->to = NULL;
    } else if (key->id == SW_HDR_CONTENT_LENGTH && s->content_length != NULL) {
        osip_content_length_free(s->content_length);
        s->content_length = NULL;
    } else if (key->id == SW_HDR_CONTENT_TYPE && s->content_type != NULL) {
        osip_content_type_free(s->content_type);
        s->content_type = NULL;
    } else if (key->id == SW_HDR_MIME_VERSION && s->mime_version != NULL) {
        osip_mime_version_free(s->mime_version);
        s->mime_version = NULL;
    }
    for (int pos = 0; pos < osip_list_size(&s->headers);) {
        osip_header_t *h = osip_list_get(&s->headers, pos);
        if (h != NULL && h->hname != NULL && sw_msg_header_name_is(h->hname, strlen(h->hname), key->name)) {
            osip_list_remove(&s->headers, pos);
            osip_header_free(h);
        } else {
            pos++;
        }
    }
    osip_message_force_update(s);
}

/* Hands one header to libosip2 as its parser would from a message line.
 * libosip2 changes both strings it is given (it lower-cases the name, trims
 * list elements), hence the copies. */
static int osip_add_header(osip_message_t *s, const char *name, size_t name_len, const char *value,
                           size_t value_len)
{
    char *osip_name = malloc(name_len + 1);
    char *osip_value = malloc(value_len + 1);
    int rc = -1;
    if (osip_name != NULL && osip_value != NULL) {
        memcpy(osip_name, name, name_len + 1);
        memcpy(osip_value, value, value_len);
        osip_value[value_len] = '\0';
        rc = osip_message_set_multiple_header(s, osip_name, osip_value) == 0 ? 0 : -1;
    }
    free(osip_name);
    free(osip_value);
    return rc;
}

/* ---- public: changing headers ------------------------------------------------- */

int sw_msg_header_add(sw_msg_t *m, const char *name, const char *value)
{
    if (!msg_usable(m) || !header_text_valid(name, value) || m->hdr_count >= SW_MSG_MAX_HEADERS ||
        !view_for_change(m))
        return -1;
    size_t name_len = strlen(name), value_len;
    value = trim_value(value, &value_len);
    sw_hdr_id_t id = sw_msg_header_id(name, name_len);
    if (m->built && !built_value_acceptable(m, id, value, value_len, true))
        return -1;
    sw_msg_hdr_t h;
    if (hdr_reserve(m) != 0 || hdr_new(&h, name, name_len, id, value, value_len) != 0)
        return -1;
    if (m->built) {
        drop_osip_view(m);
    } else if (osip_add_header(m->osip, name, name_len, value, value_len) != 0) {
        hdr_release(&h);
        return -1;
    } else {
        osip_message_force_update(m->osip);
    }
    m->hdrs[m->hdr_count++] = h;
    return 0;
}

int sw_msg_header_remove(sw_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL || !view_for_change(m))
        return 0;
    hdr_key_t key = hdr_key(name);
    int removed = hdr_remove_from(m, &key, 0);
    if (m->built) {
        if (removed > 0)
            drop_osip_view(m);
    } else if (m->osip != NULL) {
        osip_remove_header(m->osip, &key);
    }
    return removed;
}

/* libosip2's side of header_set on a received message: the new value
 * replaces every old one, or nothing changes. */
static int osip_set_header(sw_msg_t *m, const hdr_key_t *key, const char *value, size_t value_len)
{
    /* Tried on a scratch message first: once the old values are out of
     * libosip2's view, a refusal could not be undone. */
    osip_message_t *probe = NULL;
    if (osip_message_init(&probe) != 0)
        return -1;
    int rc = osip_add_header(probe, key->name, key->len, value, value_len);
    osip_message_free(probe);
    if (rc != 0)
        return -1;
    osip_remove_header(m->osip, key);
    if (osip_add_header(m->osip, key->name, key->len, value, value_len) != 0) {
        /* Only out of memory can get here: keep both views agreeing by
         * dropping the header from the list as well. */
        sw_msg_header_remove(m, key->name);
        return -1;
    }
    osip_message_force_update(m->osip);
    return 0;
}

int sw_msg_header_set(sw_msg_t *m, const char *name, const char *value)
{
    if (!msg_usable(m) || !header_text_valid(name, value) || !view_for_change(m))
        return -1;
    hdr_key_t key = hdr_key(name);
    size_t first = m->hdr_count;
    for (size_t k = 0; k < m->hdr_count && first == m->hdr_count; k++)
        if (hdr_matches(&m->hdrs[k], &key))
            first = k;
    if (first == m->hdr_count)
        return sw_msg_header_add(m, name, value);

    size_t value_len;
    value = trim_value(value, &value_len);
    if (m->built && !built_value_acceptable(m, key.id, value, value_len, false))
        return -1;
    sw_msg_hdr_t h;
    if (hdr_new(&h, name, key.len, key.id, value, value_len) != 0)
        return -1;
    if (m->built) {
        drop_osip_view(m);
    } else if (osip_set_header(m, &key, value, value_len) != 0) {
        hdr_release(&h);
        return -1;
    }
    /* The list: the first field takes the new text, the others go. */
    hdr_release(&m->hdrs[first]);
    m->hdrs[first] = h;
    hdr_remove_from(m, &key, first + 1);
    return 0;
}

/* ---- building messages --------------------------------------------------- */

/* The version every message we build carries. */
static const char built_version[] = "SIP/2.0";

/* A built message with a text room of `text_size` bytes for its start line. */
static sw_msg_t *new_built(size_t text_size, text_room_t *room)
{
    sw_msg_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    if ((m->text = malloc(text_size)) == NULL) {
        free(m);
        return NULL;
    }
    m->built = true;
    room->at = m->text;
    room->end = m->text + text_size;
    return m;
}

/* libosip2 parses the Request-URI of the request line when the scheme is
 * sip, sips or tel (build_osip_view): a built message must not hold one it
 * refuses, or its view could never be made. */
static bool ruri_parses(const char *ruri, size_t uri_len, size_t scheme_len)
{
    if (!scheme_is_sip_or_tel(ruri, scheme_len) || sw_uri_plain(ruri, uri_len))
        return true;
    osip_uri_t *uri = NULL;
    bool ok = osip_uri_init(&uri) == 0 && osip_uri_parse(uri, ruri) == 0;
    if (uri != NULL)
        osip_uri_free(uri);
    return ok;
}

sw_msg_t *sw_msg_new_request(const char *method, const char *ruri)
{
    pthread_once(&parser_once, parser_setup);
    if (method == NULL || ruri == NULL)
        return NULL;
    size_t method_len = strlen(method), uri_len = strlen(ruri), scheme_len = 0;
    if (check_request_parts(method, method_len, ruri, uri_len, &scheme_len) != NULL ||
        !ruri_parses(ruri, uri_len, scheme_len))
        return NULL;
    text_room_t room;
    sw_msg_t *m = new_built(method_len + uri_len + scheme_len + sizeof built_version + 3, &room);
    if (m == NULL)
        return NULL;
    m->method = room_put(&room, method, method_len);
    m->ruri = room_put(&room, ruri, uri_len);
    m->ruri_scheme = room_put(&room, ruri, scheme_len);
    m->version = room_put(&room, built_version, sizeof built_version - 1);
    return m;
}

sw_msg_t *sw_msg_new_response(int code, const char *reason)
{
    pthread_once(&parser_once, parser_setup);
    if (code < 100 || code > 699)
        return NULL;
    if (reason == NULL) {
        reason = osip_message_get_reason(code);
        if (reason == NULL)
            reason = "";
    }
    /* Reason-Phrase: text, SP and HTAB (RFC 3261 25.1); no control
     * character, which could end the line. */
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return NULL;
    size_t reason_len = strlen(reason);
    text_room_t room;
    sw_msg_t *m = new_built(reason_len + sizeof built_version + 1, &room);
    if (m == NULL)
        return NULL;
    m->status = code;
    m->version = room_put(&room, built_version, sizeof built_version - 1);
    m->reason = room_put(&room, reason, reason_len);
    return m;
}

int sw_msg_set_ruri(sw_msg_t *m, const char *ruri)
{
    if (!msg_usable(m) || m->method == NULL || ruri == NULL || !view_for_change(m))
        return -1;
    size_t uri_len = strlen(ruri), scheme_len = 0;
    if (check_request_parts(m->method, strlen(m->method), ruri, uri_len, &scheme_len) != NULL)
        return -1;
    /* libosip2's view, as build_osip_view would have it: only sip, sips and
     * tel URIs are parsed (anything else is answered 416, never sent). */
    osip_uri_t *uri = NULL;
    if (scheme_is_sip_or_tel(ruri, scheme_len) && (osip_uri_init(&uri) != 0 || osip_uri_parse(uri, ruri) != 0)) {
        if (uri != NULL)
            osip_uri_free(uri);
        return -1;
    }
    char *text = malloc(uri_len + scheme_len + 2);
    if (text == NULL) {
        if (uri != NULL)
            osip_uri_free(uri);
        return -1;
    }
    memcpy(text, ruri, uri_len + 1);
    memcpy(text + uri_len + 1, ruri, scheme_len);
    text[uri_len + 1 + scheme_len] = '\0';
    free(m->ruri_owned);
    m->ruri_owned = text;
    m->ruri = text;
    m->ruri_scheme = text + uri_len + 1;
    if (m->built) {
        if (uri != NULL)
            osip_uri_free(uri);
        drop_osip_view(m);
        return 0;
    }
    if (m->osip->req_uri != NULL)
        osip_uri_free(m->osip->req_uri);
    m->osip->req_uri = uri;
    osip_message_force_update(m->osip);
    return 0;
}

/* Makes the list's Content-Length fields one, reading `text`, at the place
 * of the first; appends one when there is none and `add` is set. Then
 * libosip2's field, for a received message. */
static int set_content_length(sw_msg_t *m, const char *text, bool add)
{
    static const hdr_key_t key = {.name = "Content-Length", .len = 14, .id = SW_HDR_CONTENT_LENGTH};
    size_t text_len = strlen(text), first = m->hdr_count;
    for (size_t k = 0; k < m->hdr_count && first == m->hdr_count; k++)
        if (m->hdrs[k].id == SW_HDR_CONTENT_LENGTH)
            first = k;
    if (first < m->hdr_count) {
        if (hdr_replace_value(&m->hdrs[first], text, text_len) != 0)
            return -1;
        hdr_remove_from(m, &key, first + 1);
    } else if (add) {
        sw_msg_hdr_t h;
        if (hdr_reserve(m) != 0 || hdr_new(&h, key.name, key.len, key.id, text, text_len) != 0)
            return -1;
        m->hdrs[m->hdr_count++] = h;
    }
    if (m->built)
        return 0;
    if (m->osip->content_length != NULL) {
        osip_content_length_free(m->osip->content_length);
        m->osip->content_length = NULL;
    }
    return osip_message_set_content_length(m->osip, text) == 0 ? 0 : -1;
}

int sw_msg_set_body(sw_msg_t *m, const char *content_type, const char *body, size_t len)
{
    if (!msg_usable(m) || !view_for_change(m))
        return -1;
    bool removing = body == NULL || len == 0;
    char *copy = NULL;
    if (!removing) {
        if (content_type == NULL || (copy = malloc(len + 1)) == NULL)
            return -1;
        memcpy(copy, body, len);
        copy[len] = '\0';
        /* First, as it is what can be refused (an invalid type). */
        if (sw_msg_header_set(m, "Content-Type", content_type) != 0) {
            free(copy);
            return -1;
        }
    } else {
        sw_msg_header_remove(m, "Content-Type");
    }
    if (!m->built)
        osip_list_special_free(&m->osip->bodies, (void (*)(void *))osip_body_free);
    free(m->body);
    m->body = copy;
    m->body_len = removing ? 0 : len;
    char length_text[24];
    sw_decimal(length_text, m->body_len);
    int rc = set_content_length(m, length_text, !removing);
    if (m->built) {
        drop_osip_view(m);
        return rc;
    }
    if (rc == 0 && !removing && osip_message_set_body(m->osip, copy, len) != 0)
        rc = -1;
    osip_message_force_update(m->osip);
    return rc;
}

char *sw_msg_serialize(const sw_msg_t *m, size_t *len)
{
    if (m == NULL || m->version == NULL || (m->method == NULL && m->reason == NULL))
        return NULL;
    size_t version_len = strlen(m->version);
    size_t method_len = m->method != NULL ? strlen(m->method) : 0;
    size_t ruri_len = m->method != NULL ? strlen(m->ruri) : 0;
    size_t reason_len = m->method == NULL ? strlen(m->reason) : 0;
    char length_text[48] = ": ";
    size_t length_len = 2 + sw_decimal(length_text + 2, m->body_len);
    put(length_text, &length_len, "\r\n", 2);

    size_t cap = 16 + version_len + method_len + ruri_len + reason_len + m->body_len;
    for (size_t i = 0; i < m->hdr_count; i++)
        cap += m->hdrs[i].name_len + m->hdrs[i].value_len + 4;
    cap += sizeof "Content-Length" + length_len;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;

    size_t n = 0;
    if (m->method != NULL) {
        put(out, &n, m->method, method_len);
        out[n++] = ' ';
        put(out, &n, m->ruri, ruri_len);
        out[n++] = ' ';
        put(out, &n, m->version, version_len);
    } else {
        put(out, &n, m->version, version_len);
        put_status_code(out, &n, m->status);
        put(out, &n, m->reason, reason_len);
    }
    put(out, &n, "\r\n", 2);
    bool length_written = false;
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        if (h->id == SW_HDR_CONTENT_LENGTH) {
            /* The length of the body we send, whatever the list says. */
            if (!length_written) {
                put(out, &n, h->name, h->name_len);
                put(out, &n, length_text, length_len);
                length_written = true;
            }
            continue;
        }
        put(out, &n, h->name, h->name_len);
        put(out, &n, ": ", 2);
        put(out, &n, h->value, h->value_len);
        put(out, &n, "\r\n", 2);
    }
    if (!length_written) {
        put(out, &n, "Content-Length", sizeof "Content-Length" - 1);
        put(out, &n, length_text, length_len);
    }
    put(out, &n, "\r\n", 2);
    put(out, &n, body_bytes(m), m->body_len);
    out[n] = '\0';
    if (len != NULL)
        *len = n;
    return out;
}

sw_msg_t *sw_msg_reparse(const sw_msg_t *m, const char **err)
{
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    if (bytes == NULL) {
        if (err != NULL)
            *err = m == NULL ? "no message" : "out of memory";
        return NULL;
    }
    sw_msg_t *copy = sw_msg_parse(bytes, len, err);
    free(bytes);
    if (copy != NULL)
        copy->origin = m->origin;
    return copy;
}
