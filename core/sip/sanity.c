/* Sanity checks every message passes at the front door, before routing or
 * transactions see it (RFC 3261 8.2 as a UAS, which a B2BUA is for every
 * request it receives). The checks work on the header text as received
 * (the message's own header list), so they see duplicates and values
 * libosip2 would have normalised away. See sip.h for the list and the
 * answer to each failure. */
#include "config.h"

#include "sip/sip.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

const char sw_sip_supported_tags[] = "100rel, replaces, timer";
const char sw_sip_allowed_methods[] =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, "
    "MESSAGE, PUBLISH";

/* The methods we know; the first ones are those the checks single out. */
enum { M_INVITE, M_ACK, M_CANCEL, M_OPTIONS, M_REGISTER, M_UNKNOWN = -1 };
#define METHOD(name) {name, sizeof name - 1}
static const struct {
    const char *name;
    size_t len;
} known_methods[] = {
    METHOD("INVITE"), METHOD("ACK"),   METHOD("CANCEL"), METHOD("OPTIONS"),   METHOD("REGISTER"),
    METHOD("BYE"),    METHOD("PRACK"), METHOD("UPDATE"), METHOD("INFO"),      METHOD("SUBSCRIBE"),
    METHOD("NOTIFY"), METHOD("REFER"), METHOD("MESSAGE"), METHOD("PUBLISH"),
};
#undef METHOD

static const char *const supported_tags[] = {"100rel", "replaces", "timer"};

/* The index of method[0..len) in known_methods, or M_UNKNOWN. Methods are
 * case-sensitive (RFC 3261 7.1): "invite" is unknown. */
static int method_index(const char *method, size_t len)
{
    for (size_t i = 0; i < sizeof known_methods / sizeof known_methods[0]; i++)
        if (known_methods[i].len == len && memcmp(method, known_methods[i].name, len) == 0)
            return (int)i;
    return M_UNKNOWN;
}

bool sw_sip_method_known(const char *method)
{
    return method != NULL && method_index(method, strlen(method)) != M_UNKNOWN;
}

/* ---- character classes -------------------------------------------------- */

/* Every message passes these checks, several header values each, so the
 * character tests are one table lookup: a bit per class of the grammar, and
 * a bit per set of characters a scan stops at. The NUL byte is in every
 * stop set (a value reads as a C string up to it). */
enum {
    CC_CTL = 1u << 0,           /* control: no grammar allows one outside a quoted-pair */
    CC_WSP = 1u << 1,
    CC_DIGIT = 1u << 2,
    CC_ALNUM = 1u << 3,
    CC_HEX = 1u << 4,
    CC_TOKEN = 1u << 5,
    CC_USERINFO = 1u << 6,
    CC_PARAM = 1u << 7,
    CC_HOST = 1u << 8,
    CC_TEL = 1u << 9,
    CC_QUOTING = 1u << 10,      /* '"' and '\\': where has_control_char must look closer */
    STOP_GT = 1u << 11,         /* ">" */
    STOP_WSP = 1u << 12,        /* " \t" */
    STOP_SEMI = 1u << 13,       /* ";" */
    STOP_COLON = 1u << 14,      /* ":" */
    STOP_PNAME = 1u << 15,      /* "=;, \t\"<>": ends a header parameter's name */
    STOP_PVALUE = 1u << 16,     /* ";, \t\"<>": ends its value */
    STOP_ANY = STOP_GT | STOP_WSP | STOP_SEMI | STOP_COLON | STOP_PNAME | STOP_PVALUE,
};

static uint32_t char_class[256];
static pthread_once_t char_class_once = PTHREAD_ONCE_INIT;

static void mark(const char *chars, uint32_t bits)
{
    for (const char *c = chars; *c != '\0'; c++)
        char_class[(unsigned char)*c] |= bits;
}

static void char_class_init(void)
{
    for (int c = 0; c < 256; c++) {
        uint32_t b = 0;
        /* HTAB is whitespace; folded line ends are gone once unfolded, so a
         * CR or LF left in a value is a bare one */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            b |= CC_CTL;
        if (c >= '0' && c <= '9')
            b |= CC_DIGIT | CC_ALNUM | CC_HEX;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            b |= CC_ALNUM;
        if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            b |= CC_HEX;
        if (b & CC_ALNUM)
            b |= CC_TOKEN | CC_USERINFO | CC_PARAM | CC_HOST;
        if (b & CC_HEX)
            b |= CC_TEL;
        char_class[c] = b;
    }
    char_class[0] |= STOP_ANY;
    mark(" \t", CC_WSP | STOP_WSP | STOP_PNAME | STOP_PVALUE);
    mark("-.!%*_+`'~", CC_TOKEN);
    /* RFC 3261 25.1 userinfo besides alphanumerics and escapes: mark,
     * user-unreserved and the password's (':' splits user and password).
     * RFC 4475 intmeth uses nearly all of them. '#' should be escaped but is
     * let through: PBXs dial feature codes ("*72#123") with it. */
    mark("-_.!~*'()&=+$,;?/:#", CC_USERINFO);
    mark("[]/:&+$-_.!~*'()", CC_PARAM);            /* paramchar: param-unreserved / unreserved */
    /* a hostname or IPv4 address, leniently: '_' is let through (seen in the
     * wild), label shapes are not checked (an unresolvable name fails later) */
    mark("-._", CC_HOST);
    /* RFC 3966 phonedigit-hex and visual separators: the call engine makes a
     * tel number the user part of a SIP URI, so '@', ':' or '>' may not be */
    mark("+*#-.()", CC_TEL);
    mark("\"\\", CC_QUOTING);
    mark(">", STOP_GT);
    mark(";", STOP_SEMI | STOP_PNAME | STOP_PVALUE);
    mark(":", STOP_COLON);
    mark("=", STOP_PNAME);
    mark(",\"<>", STOP_PNAME | STOP_PVALUE);
}

static inline bool is_class(char c, uint32_t bits)
{
    return (char_class[(unsigned char)c] & bits) != 0;
}

/* ---- small text helpers ------------------------------------------------- */

/* The next header with that id at or after *cursor (which moves past it), or
 * NULL: one walk of the list, comparing ids, not names. */
static const char *next_header(const sw_msg_t *m, sw_hdr_id_t id, size_t *cursor)
{
    while (*cursor < m->hdr_count) {
        const sw_msg_hdr_t *h = &m->hdrs[(*cursor)++];
        if (h->id == id)
            return h->value;
    }
    return NULL;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_token_char(char c)
{
    return is_class(c, CC_TOKEN);
}

static bool is_hex(char c)
{
    return is_class(c, CC_HEX);
}

/* Whether any of the 8 bytes of x is below 0x20 or is 0x7f, '"' or '\\'
 * (the bytes has_control_char must look at; HTAB too, looked at and let
 * through). Exact, no false negative: the usual "has a byte less than n"
 * and "has a zero byte" word tricks. */
static bool word_has_ctl_or_quoting(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t below_space = (x - ones * 0x20) & ~x & highs;
    uint64_t del = x ^ (ones * 0x7f), quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    uint64_t equal = ((del - ones) & ~del) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    return ((below_space | equal) & highs) != 0;
}

/* True when v[0..n) holds a control character outside the quoted-pairs of
 * its quoted strings, which may escape any (RFC 4475 intmeth has BEL, NUL
 * and DEL in a display name that way). Outside quotes the scan skips 8
 * clean bytes at a time. */
static bool has_control_char(const char *v, size_t n)
{
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (!quoted) {
            uint64_t word;
            while (i + sizeof word <= n && (memcpy(&word, v + i, sizeof word), !word_has_ctl_or_quoting(word)))
                i += sizeof word;
            if (i == n)
                break;
        }
        uint32_t c = char_class[(unsigned char)v[i]];
        if (!(c & (CC_CTL | CC_QUOTING)))
            continue;
        if (quoted && v[i] == '\\' && i + 1 < n)
            i++;
        else if (v[i] == '"')
            quoted = !quoted;
        else if (c & CC_CTL)
            return true;
    }
    return false;
}

/* has_control_char() for a header field. The parser saw every byte of a
 * received field when it looked for the line end (sw_msg_hdr_t.no_ctl), so
 * the common field, with no control character at all, costs nothing here;
 * the others (one holding some, perhaps escaped in a quoted string, or one
 * added since) are scanned. */
static bool field_has_control_char(const sw_msg_hdr_t *h)
{
    return !h->no_ctl && has_control_char(h->value, h->value_len);
}

/* Whether s[0..n) starts with `lower_word` (lower case letters and other
 * bytes), its letters in either case. */
static bool starts_with_ignoring_case(const char *s, size_t n, const char *lower_word, size_t len)
{
    if (n < len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != lower_word[i] && !(c >= 'A' && c <= 'Z' && c + ('a' - 'A') == lower_word[i]))
            return false;
    }
    return true;
}

/* Trims whitespace around s[0..*n): returns the new start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_wsp(s[0]))
        s++, (*n)--;
    while (*n > 0 && is_wsp(s[*n - 1]))
        (*n)--;
    return s;
}

/* Parses an unsigned decimal of 1*DIGIT, leading zeros allowed (wsinv has
 * "0068"), into *value; false when not all digits or above `max`. */
static bool parse_bounded_uint(const char *s, size_t n, uint64_t max, uint64_t *value)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false; /* stops before v can overflow: max < 2^64 / 10 */
    }
    *value = v;
    return true;
}

/* CSeq = 1*DIGIT LWS Method, the number below 2^31 in RFC 3261 8.1.1.5 but
 * accepted up to 2^32-1 as its grammar allows (scalar02 goes beyond). */
static bool parse_cseq(const char *v, const char **method, size_t *method_len)
{
    size_t i = 0;
    while (is_digit(v[i]))
        i++;
    uint64_t number;
    if (!parse_bounded_uint(v, i, UINT32_MAX, &number))
        return false;
    if (!is_wsp(v[i]))
        return false;
    while (is_wsp(v[i]))
        i++;
    size_t start = i;
    while (is_token_char(v[i]))
        i++;
    if (i == start || v[i] != '\0')
        return false;
    *method = v + start;
    *method_len = i - start;
    return true;
}

/* Calls fn for each comma-separated element of v (commas inside quotes or
 * <...> do not separate), trimmed; stops early when fn returns true. */
static bool for_each_element(const char *v, bool (*fn)(const char *s, size_t n, void *arg), void *arg)
{
    bool quoted = false;
    int angle = 0;
    const char *start = v;
    for (const char *p = v;; p++) {
        if (*p == '\0' || (*p == ',' && !quoted && angle == 0)) {
            size_t n = (size_t)(p - start);
            const char *s = trim(start, &n);
            if (n > 0 && fn(s, n, arg))
                return true;
            if (*p == '\0')
                return false;
            start = p + 1;
        } else if (quoted && *p == '\\' && p[1] != '\0') {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (!quoted && *p == '<') {
            angle++;
        } else if (!quoted && *p == '>' && angle > 0) {
            angle--;
        }
    }
}

/* The URI of a name-addr / addr-spec value: inside <...> when there are
 * brackets, else up to the first ';' (what follows are header params). */
static const char *uri_of_address(const char *s, size_t n, size_t *uri_len, bool *bracketed)
{
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (quoted && s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            quoted = !quoted;
        } else if (!quoted && s[i] == '<') {
            const char *end = memchr(s + i + 1, '>', n - i - 1);
            size_t len = end != NULL ? (size_t)(end - s - i - 1) : n - i - 1;
            *bracketed = true;
            *uri_len = len;
            return trim(s + i + 1, uri_len);
        }
    }
    *bracketed = false;
    const char *semi = memchr(s, ';', n);
    *uri_len = semi != NULL ? (size_t)(semi - s) : n;
    return trim(s, uri_len);
}

/* regbadct: an addr-spec carrying URI headers ('?') or parameters must be in
 * <...> (RFC 3261 20); without them ';' already ends the URI, so only '?' is
 * left to betray the mistake. */
static bool element_has_bare_uri_headers(const char *s, size_t n, void *arg)
{
    (void)arg;
    size_t uri_len;
    bool bracketed;
    const char *uri = uri_of_address(s, n, &uri_len, &bracketed);
    return !bracketed && memchr(uri, '?', uri_len) != NULL;
}

/* regbadct in any From, To or Contact: one walk of the list, and a look at
 * the few values holding a '?'. */
static bool addresses_have_bare_uri_headers(const sw_msg_t *m)
{
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        bool address = h->id == SW_HDR_FROM || h->id == SW_HDR_TO || h->id == SW_HDR_CONTACT;
        if (address && memchr(h->value, '?', h->value_len) != NULL &&
            for_each_element(h->value, element_has_bare_uri_headers, NULL))
            return true;
    }
    return false;
}

/* Whether uri[0..n) is of the scheme `scheme` (lower case), in any letter case. */
static bool scheme_is(const char *uri, size_t n, const char *scheme, size_t len)
{
    return n > len && uri[len] == ':' && starts_with_ignoring_case(uri, n, scheme, len);
}

/* escruri: headers in a SIP Request-URI ("?Route=..."). '@' cannot occur
 * in the parameters or headers of a SIP URI, so the part after the first '@'
 * (or after the scheme when there is no user part) is host and beyond. */
static bool sip_ruri_has_headers(const char *ruri)
{
    const char *colon = strchr(ruri, ':');
    if (colon == NULL)
        return false;
    const char *at = strchr(colon, '@');
    return strchr(at != NULL ? at : colon, '?') != NULL;
}

/* The classes of char_class_init(), as predicates for the scans below. */
static bool is_userinfo_char(char c)
{
    return is_class(c, CC_USERINFO);
}

static bool is_param_char(char c)
{
    return is_class(c, CC_PARAM);
}

static bool is_host_char(char c)
{
    return is_class(c, CC_HOST);
}

/* Length of the run of s made of chars for which ok() holds. */
static size_t span_of(const char *s, bool (*ok)(char))
{
    size_t n = 0;
    while (ok(s[n]))
        n++;
    return n;
}

/* Length of the run of s made of chars for which ok() holds or valid
 * %HH escapes; *bad_escape set when a '%' is not followed by two hex
 * digits. */
static size_t escaped_run(const char *s, bool (*ok)(char), bool *bad_escape)
{
    size_t i = 0;
    for (;;) {
        if (s[i] == '%') {
            if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
                *bad_escape = true;
                return i;
            }
            i += 3;
        } else if (ok(s[i])) {
            i++;
        } else {
            return i;
        }
    }
}

/* Moves *p past a run escaped_run() accepts: false when the run is empty or
 * stops at an invalid escape. */
static bool take_escaped(const char **p, bool (*ok)(char))
{
    bool bad_escape = false;
    size_t n = escaped_run(*p, ok, &bad_escape);
    *p += n;
    return n > 0 && !bad_escape;
}

/* *( ";" pname [ "=" pvalue ] ) up to the end of p: names and values
 * non-empty, of paramchar or valid escapes. */
static bool uri_params_ok(const char *p)
{
    while (*p == ';') {
        p++;
        if (!take_escaped(&p, is_param_char))
            return false; /* an empty or undecodable name */
        if (*p == '=') {
            p++;
            if (!take_escaped(&p, is_param_char))
                return false;
        }
    }
    return *p == '\0';
}

/* A SIP or SIPS Request-URI (RFC 3261 25.1 SIP-URI, without headers, which
 * are refused before): scheme ":" [ userinfo "@" ] hostport *( ";" pname
 * [ "=" pvalue ] ). The callee is routed on, so an undecodable user part
 * ("%zz"), a host with escapes or junk, an empty port or parameter, a
 * second '@' or a second port make the request malformed. */
static bool sip_ruri_ok(const char *ruri)
{
    const char *p = strchr(ruri, ':') + 1; /* the caller checked the scheme */
    const char *at = strchr(p, '@');
    if (at != NULL) {
        if (!take_escaped(&p, is_userinfo_char) || p != at)
            return false;
        p = at + 1;
    }
    if (*p == '[') {
        size_t n = strspn(p + 1, "0123456789abcdefABCDEF:.");
        if (n == 0 || p[1 + n] != ']')
            return false;
        p += n + 2;
    } else {
        size_t n = span_of(p, is_host_char);
        if (n == 0)
            return false;
        p += n;
    }
    if (*p == ':') {
        size_t n = 0;
        while (is_digit(p[1 + n]))
            n++;
        if (n == 0)
            return false;
        p += n + 1;
    }
    return uri_params_ok(p);
}

/* What a tel URI's number may hold (CC_TEL): the call engine makes it the
 * user part of a SIP URI (the caller's From, the callee's Request-URI on the
 * B-leg), so an '@', ':' or '>' in it would break those. */
static bool is_tel_char(char c)
{
    return is_class(c, CC_TEL);
}

/* The number of a tel URI s[0..n) ("tel:" and up to the first ';'): not
 * empty, phone digits only. */
static bool tel_number_ok(const char *s, size_t n)
{
    size_t i = 4; /* past "tel:" */
    while (i < n && is_tel_char(s[i]))
        i++;
    return i > 4 && (i == n || s[i] == ';');
}

/* The top Via's sent-protocol and sent-by (RFC 3261 20.42): "name / version
 * / transport" tokens (SWS around the slashes), whitespace, a host. Answers
 * are routed on it: without one a request cannot be answered. */
static bool top_via_ok(const char *v)
{
    for (int part = 0; part < 3; part++) {
        v += span_of(v, is_wsp);
        size_t n = span_of(v, is_token_char);
        if (n == 0)
            return false;
        v += n;
        v += span_of(v, is_wsp);
        if (part < 2 && *v++ != '/')
            return false;
    }
    v += span_of(v, is_wsp);
    return *v == '[' || is_host_char(*v);
}

/* ---- body types --------------------------------------------------------- */

/* The media type of a Content-Type / Accept element ("application/sdp"),
 * without parameters. */
static const char *media_type(const char *s, size_t n, size_t *len)
{
    const char *semi = memchr(s, ';', n);
    *len = semi != NULL ? (size_t)(semi - s) : n;
    return trim(s, len);
}

static bool media_is(const char *s, size_t n, const char *type)
{
    return n == strlen(type) && strncasecmp(s, type, n) == 0;
}

static bool element_accepts_sdp(const char *s, size_t n, void *arg)
{
    bool *seen_any = arg;
    size_t len;
    const char *type = media_type(s, n, &len);
    if (len == 0)
        return false;
    *seen_any = true;
    return media_is(type, len, "application/sdp") || media_is(type, len, "application/*") ||
           media_is(type, len, "*/*");
}

/* True when a Content-Type: application/sdp line starts a line of the body
 * (a part of a multipart body). Bounded by the body length: binary parts may
 * hold anything, NULs included. */
static bool body_has_sdp_part(const char *body, size_t n)
{
    static const char name[] = "content-type";
    static const char sdp[] = "application/sdp";
    for (size_t at = 0; at < n;) {
        size_t i = at;
        if (n - i > sizeof name - 1 && strncasecmp(body + i, name, sizeof name - 1) == 0) {
            i += sizeof name - 1;
            while (i < n && is_wsp(body[i]))
                i++;
            if (i < n && body[i] == ':') {
                i++;
                while (i < n && is_wsp(body[i]))
                    i++;
                if (n - i >= sizeof sdp - 1 && strncasecmp(body + i, sdp, sizeof sdp - 1) == 0)
                    return true;
            }
        }
        const char *lf = memchr(body + at, '\n', n - at);
        if (lf == NULL)
            break;
        at = (size_t)(lf - body) + 1;
    }
    return false;
}

/* ---- the checks ----------------------------------------------------------- */

static void fail(sw_sanity_t *out, int code, const char *reason)
{
    out->code = code;
    out->reason = reason;
}

/* True when Require names a tag we do not know; writes "Unsupported: a, b\r\n"
 * into out->extra, cut short (whole tags only) if it would not fit. */
static bool collect_unsupported(const sw_msg_t *m, sw_sanity_t *out)
{
    static const char prefix[] = "Unsupported: ";
    char *buf = out->extra;
    size_t cap = sizeof out->extra, used = 0, tags = 0, unknown = 0;
    const char *v;
    size_t cursor = 0;
    while ((v = next_header(m, SW_HDR_REQUIRE, &cursor)) != NULL) {
        const char *p = v;
        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
            const char *tag = trim(p, &n);
            p = comma != NULL ? comma + 1 : p + strlen(p);
            if (n == 0)
                continue;
            bool known = false;
            for (size_t k = 0; k < sizeof supported_tags / sizeof supported_tags[0]; k++)
                if (strlen(supported_tags[k]) == n && strncasecmp(tag, supported_tags[k], n) == 0)
                    known = true;
            if (known)
                continue;
            unknown++;
            /* room for separator/prefix, the tag, CRLF and the NUL */
            size_t lead = tags == 0 ? sizeof prefix - 1 : 2;
            if (used + lead + n + 3 > cap)
                continue;
            memcpy(buf + used, tags == 0 ? prefix : ", ", lead);
            used += lead;
            memcpy(buf + used, tag, n);
            used += n;
            tags++;
        }
    }
    if (tags > 0)
        memcpy(buf + used, "\r\n", 3);
    return unknown > 0;
}

/* Skips a quoted string starting at v[i] == '"' in v[0..n): the index past
 * its closing quote, or 0 when it is not closed. A quoted-pair may escape a
 * NUL (RFC 4475 intmeth), so the scan goes by length. */
static size_t skip_quoted(const char *v, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (v[i] == '\\' && i + 1 < n)
            i++;
        else if (v[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Length of the run of v[i..n) made of bytes not in the stop set (STOP_*;
 * a NUL stops every scan). */
static size_t run_until(const char *v, size_t n, size_t i, uint32_t stop)
{
    size_t k = i;
    while (k < n && !is_class(v[k], stop))
        k++;
    return k - i;
}

static size_t skip_wsp(const char *v, size_t n, size_t i)
{
    while (i < n && is_wsp(v[i]))
        i++;
    return i;
}

/* From and To (RFC 3261 20.20, 20.39): not blank, no control character, one
 * address (not a comma list), no whitespace inside the URI, a tel URI's
 * number of phone digits only (the B-leg's From is built from it), and every
 * parameter after it a name with an optional non-empty value, so that our
 * answers, which append a tag to the text as received, stay parseable: an
 * empty parameter (";;", a trailing ";"), an empty tag (";tag=") or a value
 * with junk after it (";tag=a b", ", <sip:...>") is refused. Values are
 * taken leniently (token, host or quoted string per the grammar; any other
 * printable character but the separators is let through). */
static bool address_header_ok(const sw_msg_hdr_t *h)
{
    if (!h || field_has_control_char(h))
        return false;
    /* outside its quoted strings (skipped by length) the value now holds no
     * NUL, which run_until() would take for a stop character */
    const char *v = h->value;
    size_t n = h->value_len;
    size_t i = skip_wsp(v, n, 0);
    if (i == n)
        return false;
    /* the address: a name-addr's <URI> (after an optional display name), or
     * an addr-spec up to its first ';' (its own parameters are the header's) */
    size_t lt = i;
    while (lt < n && v[lt] != '<') {
        if (v[lt] == '"') {
            lt = skip_quoted(v, n, lt);
            if (lt == 0)
                return false; /* RFC 4475 quotbal */
        } else {
            lt++;
        }
    }
    if (lt < n) {
        /* up to the '>', in one pass unless there is whitespace on the way */
        size_t uri = run_until(v, n, lt, STOP_GT | STOP_WSP);
        bool spaced = lt + uri < n && is_wsp(v[lt + uri]);
        if (spaced)
            uri += run_until(v, n, lt + uri, STOP_GT);
        if (lt + uri == n)
            return true; /* an unclosed '<' is libosip2's to refuse */
        if (spaced)
            return false; /* no whitespace inside a URI */
        if (starts_with_ignoring_case(v + lt + 1, uri - 1, "tel:", 4) && !tel_number_ok(v + lt + 1, uri - 1))
            return false;
        i = lt + uri + 1;
    } else {
        size_t uri = run_until(v, n, i, STOP_SEMI);
        while (uri > 0 && is_wsp(v[i + uri - 1]))
            uri--;
        if (run_until(v, n, i, STOP_COLON) >= uri || run_until(v, n, i, STOP_WSP) < uri)
            return false; /* no scheme, or whitespace inside the addr-spec */
        if (starts_with_ignoring_case(v + i, uri, "tel:", 4) && !tel_number_ok(v + i, uri))
            return false;
        i += run_until(v, n, i, STOP_SEMI);
    }
    /* then: *( SWS ";" SWS name [ SWS "=" SWS value ] ) SWS, nothing else */
    for (;;) {
        i = skip_wsp(v, n, i);
        if (i == n)
            return true;
        if (v[i] != ';')
            return false; /* a second address, or junk after a value */
        i = skip_wsp(v, n, i + 1);
        size_t name = run_until(v, n, i, STOP_PNAME);
        if (name == 0)
            return false; /* ";;" or a trailing ";" */
        i = skip_wsp(v, n, i + name);
        if (i == n || v[i] != '=')
            continue;
        i = skip_wsp(v, n, i + 1);
        if (i < n && v[i] == '"') {
            i = skip_quoted(v, n, i);
            if (i == 0)
                return false;
        } else {
            size_t value = run_until(v, n, i, STOP_PVALUE);
            if (value == 0)
                return false; /* ";tag=" and friends */
            i += value;
        }
    }
}

/* The headers the checks look at, found in one walk of the list (by id:
 * a name was matched to its id once, when the message was parsed). */
enum { MAND_VIA, MAND_FROM, MAND_TO, MAND_CALL_ID, MAND_CSEQ, MAND_MAX_FORWARDS, MAND_COUNT };
typedef struct header_view {
    const sw_msg_hdr_t *first[MAND_COUNT];
    unsigned count[MAND_COUNT];
    const sw_msg_hdr_t *first_with_ctl; /* the first field holding a control character */
} header_view_t;

static void view_headers(const sw_msg_t *m, header_view_t *v)
{
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        int slot;
        switch (h->id) {
        case SW_HDR_VIA: slot = MAND_VIA; break;
        case SW_HDR_FROM: slot = MAND_FROM; break;
        case SW_HDR_TO: slot = MAND_TO; break;
        case SW_HDR_CALL_ID: slot = MAND_CALL_ID; break;
        case SW_HDR_CSEQ: slot = MAND_CSEQ; break;
        case SW_HDR_MAX_FORWARDS: slot = MAND_MAX_FORWARDS; break;
        default: slot = -1; break;
        }
        if (slot >= 0 && v->count[slot]++ == 0)
            v->first[slot] = h;
        if (v->first_with_ctl == NULL && field_has_control_char(h))
            v->first_with_ctl = h;
    }
}

/* The version is "SIP/2.0", "SIP" in any case (its NUL compared too). */
static bool is_sip_2_0(const char *version)
{
    return version != NULL && starts_with_ignoring_case(version, strlen(version) + 1, "sip/2.0", sizeof "sip/2.0");
}

/* Checks shared by requests and responses: version, the five headers every
 * message carries and single values of those that must be single. Returns
 * the failing reason or NULL. */
static const char *check_common(const sw_msg_t *m, const header_view_t *hv, int *code)
{
    static const char *const missing[] = {"Missing Via header", "Missing From header",
                                          "Missing To header", "Missing Call-ID header",
                                          "Missing CSeq header"};
    static const int single[] = {MAND_FROM, MAND_TO, MAND_CALL_ID, MAND_CSEQ, MAND_MAX_FORWARDS};
    static const char *const duplicate[] = {"Duplicate From header", "Duplicate To header",
                                            "Duplicate Call-ID header", "Duplicate CSeq header",
                                            "Duplicate Max-Forwards header"};
    /* first of all: any answer (400, 505, ...) would echo a bad From/To
     * with our tag appended, which nobody could parse, so such a message
     * is dropped (a missing one is reported as missing below) */
    *code = -1;
    const sw_msg_hdr_t *from = hv->first[MAND_FROM], *to = hv->first[MAND_TO];
    if (from && !address_header_ok(from))
        return "Malformed From header";
    if (to && !address_header_ok(to))
        return "Malformed To header";
    const char *version = sw_msg_version(m);
    if (!is_sip_2_0(version)) {
        *code = 505;
        return "Version Not Supported";
    }
    *code = 400;
    for (int i = MAND_VIA; i <= MAND_CSEQ; i++)
        if (hv->count[i] == 0)
            return missing[i];
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (hv->count[single[i]] > 1)
            return duplicate[i];
    return NULL;
}

static void check_response(const sw_msg_t *m, sw_sanity_t *out)
{
    int code;
    const char *method;
    size_t method_len;
    int status = sw_msg_status(m);
    header_view_t hv;
    /* A response is never answered: anything wrong means drop it (-1). */
    if (status < 100 || status > 699) {
        fail(out, -1, "Invalid status code");
        return;
    }
    view_headers(m, &hv);
    if (check_common(m, &hv, &code) != NULL)
        fail(out, -1, "Malformed response");
    else if (!parse_cseq(hv.first[MAND_CSEQ]->value, &method, &method_len))
        fail(out, -1, "Invalid CSeq"); /* scalarlg */
}

static void check_request(const sw_msg_t *m, sw_sanity_t *out)
{
    const char *method = sw_msg_method(m);
    size_t method_len = strlen(method);
    int known = method_index(method, method_len);
    int code;
    header_view_t hv;
    view_headers(m, &hv);
    const char *reason = check_common(m, &hv, &code);
    if (reason != NULL) {
        fail(out, code, reason);
        return;
    }

    /* Control characters: in a header an answer echoes (Via, Call-ID, CSeq;
     * From/To were checked above) the request is dropped, as the answer
     * would carry them; elsewhere it is answered 400. */
    if (hv.first_with_ctl != NULL) {
        sw_hdr_id_t id = hv.first_with_ctl->id;
        bool echoed = id == SW_HDR_VIA || id == SW_HDR_CALL_ID || id == SW_HDR_CSEQ;
        fail(out, echoed ? -1 : 400, "Control character in a header");
        return;
    }
    if (!top_via_ok(hv.first[MAND_VIA]->value)) {
        fail(out, -1, "Malformed Via header"); /* nowhere to send an answer */
        return;
    }
    /* callid = word [ "@" word ]: no whitespace (a comma list, two values) */
    const char *call_id = hv.first[MAND_CALL_ID]->value;
    if (call_id[strcspn(call_id, " \t,")] != '\0') {
        fail(out, 400, "Invalid Call-ID");
        return;
    }

    const char *cseq_method;
    size_t cseq_method_len;
    if (!parse_cseq(hv.first[MAND_CSEQ]->value, &cseq_method, &cseq_method_len)) {
        fail(out, 400, "Invalid CSeq"); /* scalar02 */
        return;
    }
    const char *mf_text = hv.first[MAND_MAX_FORWARDS] ? hv.first[MAND_MAX_FORWARDS]->value : NULL;
    uint64_t max_forwards = 70;
    if (mf_text != NULL && !parse_bounded_uint(mf_text, strlen(mf_text), 255, &max_forwards)) {
        fail(out, 400, "Invalid Max-Forwards");
        return;
    }
    /* Before the CSeq comparison: an unknown method is 501 even when the
     * CSeq does not match (mismatch02). */
    if (known == M_UNKNOWN) {
        fail(out, 501, "Not Implemented");
        return;
    }
    if (method_len != cseq_method_len || memcmp(method, cseq_method, cseq_method_len) != 0) {
        fail(out, 400, "CSeq method does not match the request"); /* mismatch01 */
        return;
    }

    const char *ruri = sw_msg_ruri(m);
    size_t ruri_len = strlen(ruri);
    bool sip_ruri = scheme_is(ruri, ruri_len, "sip", 3) || scheme_is(ruri, ruri_len, "sips", 4);
    if (!sip_ruri && !scheme_is(ruri, ruri_len, "tel", 3)) {
        fail(out, 416, "Unsupported URI Scheme"); /* unkscm, novelsc */
        return;
    }
    if (sip_ruri && sip_ruri_has_headers(ruri)) {
        fail(out, 400, "Request-URI with headers"); /* escruri */
        return;
    }
    if (sip_ruri ? !sip_ruri_ok(ruri)
                 : !tel_number_ok(ruri, ruri_len) || !uri_params_ok(ruri + 4 + strcspn(ruri + 4, ";"))) {
        fail(out, 400, "Malformed Request-URI");
        return;
    }
    const char *branch = sw_msg_top_via_branch(m);
    if (branch != NULL && strcmp(branch, "z9hG4bK") == 0) {
        /* badbranch: the magic cookie alone identifies no transaction. */
        fail(out, 400, "Invalid Via branch");
        return;
    }
    if (addresses_have_bare_uri_headers(m)) {
        fail(out, 400, "URI with headers outside <>"); /* regbadct */
        return;
    }
    if (known == M_REGISTER) {
        /* unksm2: the address of record must be a SIP or SIPS URI
         * (RFC 3261 10.3 step 5). */
        const char *to = hv.first[MAND_TO]->value;
        size_t uri_len;
        bool bracketed;
        const char *uri = uri_of_address(to, strlen(to), &uri_len, &bracketed);
        if (!scheme_is(uri, uri_len, "sip", 3) && !scheme_is(uri, uri_len, "sips", 4)) {
            fail(out, 400, "To of a REGISTER must be a SIP URI");
            return;
        }
    }
    /* The switch answers out-of-dialog OPTIONS itself, as an endpoint
     * (zeromf expects 200); everything else it may pass on. */
    if (max_forwards == 0 && known != M_OPTIONS) {
        fail(out, 483, "Too Many Hops");
        return;
    }
    /* RFC 3261 8.2.2.3: Require is not checked for CANCEL (and ACK). */
    if (known != M_CANCEL && known != M_ACK && collect_unsupported(m, out)) {
        fail(out, 420, "Bad Extension"); /* bext01 */
        return;
    }
    if (known == M_INVITE) {
        size_t body_len;
        const char *body = sw_msg_body(m, &body_len);
        if (body_len > 0) {
            size_t cursor = 0;
            const char *ct = next_header(m, SW_HDR_CONTENT_TYPE, &cursor);
            if (ct == NULL) {
                fail(out, 400, "Missing Content-Type"); /* RFC 3261 20.15 */
                return;
            }
            size_t type_len;
            const char *type = media_type(ct, strlen(ct), &type_len);
            bool sdp = media_is(type, type_len, "application/sdp") ||
                       (type_len > 10 && strncasecmp(type, "multipart/", 10) == 0 &&
                        body_has_sdp_part(body, body_len));
            if (!sdp) {
                fail(out, 415, "Unsupported Media Type"); /* invut */
                snprintf(out->extra, sizeof out->extra, "Accept: application/sdp\r\n");
                return;
            }
        }
        /* sdp01: an Accept without application/sdp leaves no answer we could
         * give. An Accept with no value at all is ignored (seen in the wild). */
        bool accepts_sdp = false, seen_any = false;
        const char *accept;
        size_t cursor = 0;
        while (!accepts_sdp && (accept = next_header(m, SW_HDR_ACCEPT, &cursor)) != NULL)
            accepts_sdp = for_each_element(accept, element_accepts_sdp, &seen_any);
        if (seen_any && !accepts_sdp) {
            fail(out, 406, "Not Acceptable");
            snprintf(out->extra, sizeof out->extra,
                     "Warning: 399 sipswitch \"Only application/sdp is supported\"\r\n");
            return;
        }
    }
}

void sw_sip_sanity_check(const sw_msg_t *m, sw_sanity_t *out)
{
    pthread_once(&char_class_once, char_class_init);
    out->code = 0;
    out->reason = NULL;
    out->extra[0] = '\0';
    if (m == NULL) {
        fail(out, -1, "No message");
        return;
    }
    if (!sw_msg_is_request(m)) {
        check_response(m, out);
        return;
    }
    check_request(m, out);
    /* An ACK is never answered (RFC 3261 17.1.1.3): whatever is wrong with
     * it, the only thing to do is to drop it. */
    if (out->code > 0 && strcmp(sw_msg_method(m), "ACK") == 0) {
        out->code = -1;
        out->extra[0] = '\0';
    }
}
