/* Plain messages (plain.h).
 *
 * Why: libosip2's parse of every received message, and freeing what it
 * built, was about 40 % of the user-space instructions of a call
 * (doc/performance.md), though the core reads only three things from it (the
 * To tag, the top Via branch, the CSeq method) and otherwise uses it as a
 * validator: a message libosip2 refuses is dropped. Most traffic is nowhere
 * near libosip2's limits, so for a message in a simple shape the question
 * "would libosip2 refuse it?" is answered here, and libosip2 still decides
 * for everything else.
 *
 * The rule is one-sided. A message is plain only when every part libosip2
 * parses strictly is in a shape its parsers accept (their code was read for
 * this: osip_message_parse and the parsers of libosip2 5.3 for URIs, From/To/
 * Contact, Via, CSeq, Call-ID and Content-Type). Anything unusual (a quoted
 * string with escapes, a comma, a comment, an escape, URI headers, an IPv6
 * address in a parameter, a duplicate, an empty value, a folded line, a NUL,
 * a Request-URI scheme other than sip, sips or tel) makes it not plain, and
 * libosip2 judges it as it always did. libosip2 refuses a message for its
 * Request-URI, Via, From, To, Contact, Call-ID, CSeq, Content-Type and
 * Content-Length only: any other header it knows (Route, Record-Route,
 * Allow, Authorization, ...) is left out of its view when invalid, which the
 * core never reads, and headers it does not know are kept as text.
 *
 * tests/unit/test_sip_message.c holds the rule to account against libosip2
 * itself: every plain message of a corpus and of many byte-level mutations
 * of it must get a libosip2 view, with the same To tag, top Via branch and
 * CSeq method. */
#include "config.h"

#include "sip/plain.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---- characters ----------------------------------------------------------- */

/* The predicates below define the classes; every message tests most of its
 * bytes against them, so they are looked up in a table made from them once
 * (char_classes). */

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3261 token: also exactly what libosip2 skips as an unquoted display
 * name (with spaces). */
static bool token_char(char c)
{
    return sw_msg_is_token_char((unsigned char)c);
}

/* A user part without escapes, password, ';' or '?': unreserved and the
 * user-unreserved characters libosip2 copies as they are. */
static bool user_char(char c)
{
    if (alnum(c))
        return true;
    switch (c) {
    case '-': case '_': case '.': case '!': case '~': case '*': case '\'': case '(': case ')':
    case '&': case '=': case '+': case '$':
        return true;
    default:
        return false;
    }
}

static bool host_char(char c)
{
    return alnum(c) || c == '-' || c == '.';
}

static bool ipv6_char(char c)
{
    return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* A tel URI's number and parameters (libosip2 keeps a tel URI as text). */
static bool tel_char(char c)
{
    if (alnum(c))
        return true;
    switch (c) {
    case '+': case '-': case '.': case '(': case ')': case '*': case '#': case ';': case '=': case '_':
        return true;
    default:
        return false;
    }
}

enum {
    PC_DIGIT = 1 << 0,
    PC_TOKEN = 1 << 1,
    PC_USER = 1 << 2,
    PC_HOST = 1 << 3,
    PC_IPV6 = 1 << 4,
    PC_TEL = 1 << 5,
};

static uint8_t char_classes[256];
static pthread_once_t char_classes_once = PTHREAD_ONCE_INIT;

static void char_classes_init(void)
{
    for (int i = 0; i < 256; i++) {
        char c = (char)i;
        char_classes[i] = (uint8_t)((digit(c) ? PC_DIGIT : 0) | (token_char(c) ? PC_TOKEN : 0) |
                                    (user_char(c) ? PC_USER : 0) | (host_char(c) ? PC_HOST : 0) |
                                    (ipv6_char(c) ? PC_IPV6 : 0) | (tel_char(c) ? PC_TEL : 0));
    }
}

static bool is(char c, unsigned cls)
{
    return (char_classes[(unsigned char)c] & cls) != 0;
}

/* Length of the run of s[i..n) in class cls. */
static size_t run_of(const char *s, size_t i, size_t n, unsigned cls)
{
    size_t k = i;
    while (k < n && is(s[k], cls))
        k++;
    return k - i;
}

/* Whether s starts with the lower case letters of `lower_word` in either
 * case (its n bytes, all letters, present in s). */
static bool starts_with_letters(const char *s, const char *lower_word, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower_word[i]) /* only 'X' | 0x20 and 'x' give 'x' */
            return false;
    return true;
}

/* ---- pieces ----------------------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span_t;

/* s[0..n) is nothing, or ";name[=value]" parameters with names and values of
 * token characters (a SP may follow each ';' when `spaced`). The value of the
 * parameter `wanted` (lower case letters, wanted_len of them; NULL for none)
 * goes to *found, p NULL when absent. Refused: `wanted` in other letter case,
 * twice or without a value, where libosip2's answer would take more reading. */
static bool params_plain(const char *s, size_t n, const char *wanted, size_t wanted_len, bool spaced,
                         span_t *found)
{
    found->p = NULL;
    found->n = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i++] != ';')
            return false;
        while (spaced && i < n && s[i] == ' ')
            i++;
        size_t name = i, name_len = run_of(s, i, n, PC_TOKEN);
        if (name_len == 0)
            return false;
        i += name_len;
        size_t value = i, value_len = 0;
        if (i < n && s[i] == '=') {
            value = ++i;
            value_len = run_of(s, i, n, PC_TOKEN);
            if (value_len == 0)
                return false;
            i += value_len;
        }
        if (name_len == wanted_len && wanted_len > 0 && starts_with_letters(s + name, wanted, wanted_len)) {
            if (found->p != NULL || value_len == 0 || memcmp(s + name, wanted, name_len) != 0)
                return false;
            found->p = s + value;
            found->n = value_len;
        }
    }
    return true;
}

/* host [":" port] at s + *pos: a host name or IPv4 address, or an IPv6
 * reference in brackets; a port of 1 to 5 digits. *pos moves past it. */
static bool hostport_plain(const char *s, size_t n, size_t *pos)
{
    size_t i = *pos, start;
    if (i < n && s[i] == '[') {
        start = ++i;
        i += run_of(s, i, n, PC_IPV6);
        if (i == start || i >= n || s[i] != ']')
            return false;
        i++;
    } else {
        start = i;
        i += run_of(s, i, n, PC_HOST);
        if (i == start)
            return false;
    }
    if (i < n && s[i] == ':') {
        start = ++i;
        while (i < n && is(s[i], PC_DIGIT) && i - start < 5)
            i++;
        if (i == start)
            return false;
    }
    *pos = i;
    return true;
}

/* "sip:" or "sips:" [user "@"] hostport *(";" param), no URI headers; or
 * "tel:" and at least two characters of a number and its parameters. At
 * least 5 characters, as libosip2's From/To parser wants. */
static bool uri_plain(const char *s, size_t n)
{
    if (n < 5)
        return false;
    size_t i;
    if (starts_with_letters(s, "sip", 3) && s[3] == ':') {
        i = 4;
    } else if (starts_with_letters(s, "sips", 4) && s[4] == ':') {
        i = 5;
    } else if (starts_with_letters(s, "tel", 3) && s[3] == ':') {
        if (n < 6)
            return false; /* libosip2 wants two characters after "tel:" */
        return run_of(s, 4, n, PC_TEL) == n - 4;
    } else {
        return false;
    }
    /* libosip2 takes the first '@' of the whole URI as the end of the user */
    const char *at = memchr(s + i, '@', n - i);
    if (at != NULL) {
        size_t user = run_of(s, i, n, PC_USER);
        if (user == 0 || s + i + user != at)
            return false;
        i += user + 1;
    }
    if (!hostport_plain(s, n, &i))
        return false;
    span_t none;
    return params_plain(s + i, n - i, NULL, 0, false, &none);
}

bool sw_uri_plain(const char *s, size_t n)
{
    return uri_plain(s, n);
}

/* A From, To or Contact value: ["display name" or token display name] "<"
 * URI ">" params, or a URI without "<" (ending at the first ';') and params.
 * The value of the header parameter `wanted` goes to *found. */
static bool address_plain(const char *v, size_t n, const char *wanted, size_t wanted_len, span_t *found)
{
    size_t i = 0;
    if (v[0] == '"') {
        const char *close = memchr(v + 1, '"', n - 1);
        if (close == NULL)
            return false;
        for (const char *p = v + 1; p < close; p++)
            if (*p == '\\' || *p == ',' || (unsigned char)*p < 0x20 || *p == 0x7f)
                return false;
        i = (size_t)(close - v) + 1;
        while (i < n && v[i] == ' ')
            i++;
        if (i >= n || v[i] != '<')
            return false;
    } else {
        while (i < n && (is(v[i], PC_TOKEN) || v[i] == ' '))
            i++;
        if (i >= n || (v[i] != '<' && v[i] != ':'))
            return false;
        if (v[i] == ':')
            i = 0; /* no display name: the value starts with the URI's scheme */
    }
    const char *uri;
    size_t uri_len, rest;
    if (v[i] == '<') {
        const char *gt = memchr(v + i, '>', n - i);
        if (gt == NULL)
            return false;
        uri = v + i + 1;
        uri_len = (size_t)(gt - uri);
        rest = (size_t)(gt - v) + 1;
    } else {
        const char *semicolon = memchr(v, ';', n);
        uri = v;
        uri_len = semicolon != NULL ? (size_t)(semicolon - v) : n;
        rest = uri_len;
    }
    return uri_plain(uri, uri_len) && params_plain(v + rest, n - rest, wanted, wanted_len, false, found);
}

/* "SIP/2.0/" transport SP hostport params; the branch to *branch. */
static bool via_plain(const char *v, size_t n, span_t *branch)
{
    if (n < 8 || !starts_with_letters(v, "sip", 3) || memcmp(v + 3, "/2.0/", 5) != 0)
        return false;
    size_t i = 8 + run_of(v, 8, n, PC_TOKEN);
    if (i == 8 || i >= n || v[i] != ' ')
        return false;
    i++;
    return hostport_plain(v, n, &i) && params_plain(v + i, n - i, "branch", 6, false, branch);
}

/* 1 to 10 digits, one SP, a method; the method to *method. */
static bool cseq_plain(const char *v, size_t n, span_t *method)
{
    size_t i = 0;
    while (i < n && is(v[i], PC_DIGIT) && i < 10)
        i++;
    if (i == 0 || i >= n || v[i] != ' ')
        return false;
    size_t start = ++i;
    i += run_of(v, i, n, PC_TOKEN);
    if (i == start || i != n)
        return false;
    method->p = v + start;
    method->n = i - start;
    return true;
}

/* Visible characters without a comma; an '@' neither first nor last. */
static bool call_id_plain(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] >= 0x7f || v[i] == ',')
            return false;
    return v[0] != '@' && v[n - 1] != '@';
}

/* type "/" subtype params (a SP allowed after each ';'), no quoted value. */
static bool content_type_plain(const char *v, size_t n)
{
    size_t i = run_of(v, 0, n, PC_TOKEN);
    if (i == 0 || i >= n || v[i] != '/')
        return false;
    size_t start = ++i;
    i += run_of(v, i, n, PC_TOKEN);
    span_t none;
    return i > start && params_plain(v + i, n - i, NULL, 0, true, &none);
}

static bool digits_plain(const char *v, size_t n)
{
    return n <= 10 && run_of(v, 0, n, PC_DIGIT) == n;
}

/* ---- the message ------------------------------------------------------------- */

/* Copies the found identifiers into m->plain_ids; false when they do not fit. */
static bool keep_ids(sw_msg_t *m, const span_t *ids[3], const char **out[3])
{
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        *out[k] = NULL;
        if (ids[k]->p == NULL)
            continue;
        if (ids[k]->n + 1 > sizeof m->plain_ids - at)
            return false;
        memcpy(m->plain_ids + at, ids[k]->p, ids[k]->n);
        m->plain_ids[at + ids[k]->n] = '\0';
        *out[k] = m->plain_ids + at;
        at += ids[k]->n + 1;
    }
    return true;
}

bool sw_msg_plain_check(sw_msg_t *m)
{
    if (m == NULL || m->raw == NULL || m->built || m->folded || m->header_nul)
        return false;
    pthread_once(&char_classes_once, char_classes_init);
    if (m->method != NULL ? !uri_plain(m->ruri, strlen(m->ruri)) : m->status == 0)
        return false;
    span_t to_tag = {0}, branch = {0}, method = {0}, found;
    bool seen_via = false, seen_from = false, seen_to = false, seen_call_id = false, seen_cseq = false,
         seen_type = false, seen_length = false;
    for (size_t k = 0; k < m->hdr_count; k++) {
        const sw_msg_hdr_t *h = &m->hdrs[k];
        const char *v = h->value;
        size_t n = h->value_len;
        if (n == 0)
            return false;
        bool ok = true, *seen = NULL;
        switch (h->id) {
        case SW_HDR_VIA:
            ok = via_plain(v, n, &found);
            if (ok && !seen_via)
                branch = found;
            seen_via = true;
            break;
        case SW_HDR_FROM:
            ok = address_plain(v, n, NULL, 0, &found);
            seen = &seen_from;
            break;
        case SW_HDR_TO:
            ok = address_plain(v, n, "tag", 3, &to_tag);
            seen = &seen_to;
            break;
        case SW_HDR_CONTACT:
            ok = (n == 1 && v[0] == '*') || address_plain(v, n, NULL, 0, &found);
            break;
        case SW_HDR_CALL_ID:
            ok = call_id_plain(v, n);
            seen = &seen_call_id;
            break;
        case SW_HDR_CSEQ:
            ok = cseq_plain(v, n, &method);
            seen = &seen_cseq;
            break;
        case SW_HDR_CONTENT_TYPE:
            ok = content_type_plain(v, n);
            seen = &seen_type;
            break;
        case SW_HDR_CONTENT_LENGTH:
            ok = digits_plain(v, n);
            seen = &seen_length;
            break;
        default:
            break; /* libosip2 keeps it as text, or drops it from its view when invalid */
        }
        if (!ok)
            return false;
        if (seen != NULL) {
            if (*seen)
                return false; /* libosip2 sees the first only */
            *seen = true;
        }
    }
    const span_t *ids[3] = {&to_tag, &branch, &method};
    const char **out[3] = {&m->plain_to_tag, &m->plain_branch, &m->plain_cseq_method};
    return keep_ids(m, ids, out);
}
