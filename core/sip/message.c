/* sw_msg_t: one SIP message, parsed twice over.
 *
 * Our own scan of the start line and header lines comes first. It is bounded
 * by the length (the bytes are not NUL-terminated and may hold NULs), strict
 * where RFC 3261 is strict about the start line, and keeps every header as
 * received. libosip2 then parses a rendering of that scan (start line +
 * unfolded header lines, no body) for the meaning of the headers: feeding it
 * our rendering rather than the raw bytes keeps its quirks away from bodies
 * (binary multipart, missing Content-Length) and from NULs (it works on C
 * strings). See message.h for which view is authoritative. */
#include "config.h"

#include "sip/message.h"

#include <osipparser2/osip_parser.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

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

/* RFC 3261 25.1 token characters. */
static bool is_token_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-.!%*_+`'~", c) != NULL;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- header names ----------------------------------------------------------- */

/* Compact forms (RFC 3261 7.3.3 and the extensions that define one). */
static const struct {
    char compact;
    const char *full;
} compact_forms[] = {
    {'a', "accept-contact"}, {'b', "referred-by"},     {'c', "content-type"},
    {'d', "request-disposition"}, {'e', "content-encoding"}, {'f', "from"},
    {'i', "call-id"},        {'j', "reject-contact"},  {'k', "supported"},
    {'l', "content-length"}, {'m', "contact"},         {'n', "identity-info"},
    {'o', "event"},          {'r', "refer-to"},        {'s', "subject"},
    {'t', "to"},             {'u', "allow-events"},    {'v', "via"},
    {'x', "session-expires"}, {'y', "identity"},
};

/* The long name for a one-letter compact name; the name itself otherwise.
 * *len is updated to the length of what is returned. */
static const char *expand_compact(const char *name, size_t *len)
{
    if (*len == 1) {
        char c = name[0];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        for (size_t i = 0; i < sizeof compact_forms / sizeof compact_forms[0]; i++) {
            if (compact_forms[i].compact == c) {
                *len = strlen(compact_forms[i].full);
                return compact_forms[i].full;
            }
        }
    }
    return name;
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

static bool hdr_is(const sw_msg_hdr_t *h, const char *wanted)
{
    return sw_msg_header_name_is(h->name, strlen(h->name), wanted);
}

/* ---- building blocks ---------------------------------------------------- */

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Finds the next line of buf[*pos .. len): its content is [*start, *end)
 * without the CRLF or bare LF; *pos moves past the terminator. False when
 * no LF is left (an unterminated line). */
static bool next_line(const char *buf, size_t len, size_t *pos, size_t *start, size_t *end)
{
    if (*pos >= len)
        return false;
    const char *lf = memchr(buf + *pos, '\n', len - *pos);
    if (lf == NULL)
        return false;
    size_t e = (size_t)(lf - buf);
    *start = *pos;
    *pos = e + 1;
    if (e > *start && buf[e - 1] == '\r')
        e--;
    *end = e;
    return true;
}

/* ---- start line ------------------------------------------------------------- */

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

static const char *parse_response_line(sw_msg_t *m, const char *line, size_t n)
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
    const char *reason = rest > 3 ? code + 4 : code + 3;
    size_t reason_len = rest > 3 ? rest - 4 : 0;
    if (memchr(reason, '\0', reason_len) != NULL || memchr(reason, '\r', reason_len) != NULL)
        return "invalid reason phrase";
    m->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    m->version = dup_range(line, (size_t)(sp - line));
    m->reason = dup_range(reason, reason_len);
    if (m->version == NULL || m->reason == NULL)
        return "out of memory";
    return NULL;
}

static const char *parse_request_line(sw_msg_t *m, const char *line, size_t n)
{
    /* Method SP Request-URI SP SIP-Version, single SPs and nothing else
     * (lwsstart, trws, lwsruri are rejected here). */
    const char *sp1 = memchr(line, ' ', n);
    if (sp1 == NULL || sp1 == line)
        return "invalid request line";
    for (const char *p = line; p < sp1; p++)
        if (!is_token_char((unsigned char)*p))
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
    const char *uri = sp1 + 1;
    size_t uri_len = (size_t)(sp2 - uri);
    for (size_t i = 0; i < uri_len; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7f)
            return "invalid character in Request-URI";
    }
    size_t scheme_len = uri_scheme_len(uri, uri_len);
    if (scheme_len == 0)
        return "Request-URI without a scheme";
    m->method = dup_range(line, (size_t)(sp1 - line));
    m->ruri = dup_range(uri, uri_len);
    m->ruri_scheme = dup_range(uri, scheme_len);
    m->version = dup_range(sp2 + 1, (size_t)(line + n - sp2 - 1));
    if (m->method == NULL || m->ruri == NULL || m->ruri_scheme == NULL || m->version == NULL)
        return "out of memory";
    return NULL;
}

static const char *parse_start_line(sw_msg_t *m, const char *line, size_t n)
{
    if (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL)
        return "invalid character in start line";
    if (n >= 4 && strncasecmp(line, "SIP/", 4) == 0)
        return parse_response_line(m, line, n);
    return parse_request_line(m, line, n);
}

/* ---- header lines --------------------------------------------------------- */

static int hdr_append(sw_msg_t *m, char *name, char *value, size_t value_len)
{
    if (m->hdr_count == m->hdr_cap) {
        size_t cap = m->hdr_cap ? m->hdr_cap * 2 : 16;
        sw_msg_hdr_t *h = realloc(m->hdrs, cap * sizeof *h);
        if (h == NULL)
            return -1;
        m->hdrs = h;
        m->hdr_cap = cap;
    }
    m->hdrs[m->hdr_count++] = (sw_msg_hdr_t){.name = name, .value = value, .value_len = value_len};
    return 0;
}

/* Appends a folded continuation to the last header's value: one SP joins the
 * two parts (RFC 3261 7.3.1: folding is equivalent to a single SP). */
static int hdr_continue(sw_msg_hdr_t *h, const char *text, size_t n)
{
    while (n > 0 && is_wsp(text[0]))
        text++, n--;
    while (n > 0 && is_wsp(text[n - 1]))
        n--;
    if (n == 0)
        return 0;
    size_t sep = h->value_len > 0 ? 1 : 0;
    char *v = realloc(h->value, h->value_len + sep + n + 1);
    if (v == NULL)
        return -1;
    if (sep)
        v[h->value_len] = ' ';
    memcpy(v + h->value_len + sep, text, n);
    h->value_len += sep + n;
    v[h->value_len] = '\0';
    h->value = v;
    return 0;
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

static const char *parse_headers(sw_msg_t *m, size_t *pos)
{
    const char *buf = m->raw;
    size_t len = m->raw_len, start, end;
    for (;;) {
        if (!next_line(buf, len, pos, &start, &end))
            return "no end of headers";
        const char *line = buf + start;
        size_t n = end - start;
        if (n == 0)
            return NULL; /* the empty line: headers end, *pos is the body */
        if (memchr(line, '\r', n) != NULL)
            return "stray CR in header";
        if (is_wsp(line[0])) {
            if (m->hdr_count == 0)
                return "folded line without a header";
            if (hdr_continue(&m->hdrs[m->hdr_count - 1], line, n) != 0)
                return "out of memory";
            continue;
        }
        /* token *WSP ":" value (wsinv has "TO :" and "Content-Length   :") */
        size_t i = 0;
        while (i < n && is_token_char((unsigned char)line[i]))
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
        char *name = dup_range(line, name_len);
        char *value = dup_range(line + i, value_end - i);
        if (name == NULL || value == NULL || hdr_append(m, name, value, value_end - i) != 0) {
            free(name);
            free(value);
            return "out of memory";
        }
    }
}

/* ---- handing the message to libosip2 ------------------------------------- */

/* Headers libosip2 stores in a single field and refuses to see twice
 * (Content-Type and Content-Length are handled apart, see below). */
static const char *const single_valued[] = {"call-id", "cseq", "from", "to", "mime-version"};

#define SINGLE_VALUED_COUNT (sizeof single_valued / sizeof single_valued[0])

/* Index of h in single_valued[], or -1. */
static int single_valued_index(const sw_msg_hdr_t *h)
{
    for (size_t i = 0; i < SINGLE_VALUED_COUNT; i++)
        if (hdr_is(h, single_valued[i]))
            return (int)i;
    return -1;
}

/* Content-Type and Content-Length are set on libosip2's message after it
 * parsed the rest: given in the text, they make libosip2 parse a body, which
 * we neither give it nor want it to judge (it refuses some valid ones). */
static bool is_body_header(const sw_msg_hdr_t *h)
{
    return hdr_is(h, "content-type") || hdr_is(h, "content-length");
}

static bool scheme_is_sip_or_tel(const char *scheme)
{
    return strcasecmp(scheme, "sip") == 0 || strcasecmp(scheme, "sips") == 0 ||
           strcasecmp(scheme, "tel") == 0;
}

/* libosip2 cannot parse every URI scheme (it refuses "soap.beep:", novelsc)
 * and we answer anything but sip/sips/tel with 416 anyway, so such a request
 * is given to libosip2 with this stand-in, removed again afterwards. */
static const char ruri_stand_in[] = "sip:unsupported-scheme.invalid";

/* Renders start line + headers (no body) as libosip2 input. */
static char *render_for_osip(const sw_msg_t *m, bool ruri_replaced, size_t *out_len)
{
    size_t cap = 64 + strlen(m->version);
    if (m->method != NULL)
        cap += strlen(m->method) + (ruri_replaced ? sizeof ruri_stand_in : strlen(m->ruri));
    else
        cap += strlen(m->reason);
    for (size_t i = 0; i < m->hdr_count; i++)
        cap += strlen(m->hdrs[i].name) + m->hdrs[i].value_len + 4;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t n;
    if (m->method != NULL)
        n = (size_t)snprintf(out, cap, "%s %s %s\r\n", m->method,
                             ruri_replaced ? ruri_stand_in : m->ruri, m->version);
    else
        n = (size_t)snprintf(out, cap, "%s %03d %s\r\n", m->version, m->status, m->reason);
    /* Only the first of each single-valued header (a flag per name keeps
     * this linear: a message may carry thousands of header lines). */
    bool emitted[SINGLE_VALUED_COUNT] = {false};
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        int single = single_valued_index(h);
        if (single >= 0) {
            if (emitted[single])
                continue;
            emitted[single] = true;
        }
        if (is_body_header(h))
            continue;
        size_t name_len = strlen(h->name);
        memcpy(out + n, h->name, name_len);
        n += name_len;
        out[n++] = ':';
        out[n++] = ' ';
        /* nul_bytes_allowed() made sure a NUL here is the escaped byte of a
         * quoted-pair; "\ " keeps the quoted string intact for libosip2. */
        for (size_t k = 0; k < h->value_len; k++)
            out[n++] = h->value[k] == '\0' ? ' ' : h->value[k];
        out[n++] = '\r';
        out[n++] = '\n';
    }
    out[n++] = '\r';
    out[n++] = '\n';
    out[n] = '\0';
    *out_len = n;
    return out;
}

static const char *parse_with_osip(sw_msg_t *m)
{
    for (size_t i = 0; i < m->hdr_count; i++)
        if (!nul_bytes_allowed(m->hdrs[i].value, m->hdrs[i].value_len))
            return "NUL byte in header";

    bool ruri_replaced = m->method != NULL && !scheme_is_sip_or_tel(m->ruri_scheme);
    size_t text_len;
    char *text = render_for_osip(m, ruri_replaced, &text_len);
    if (text == NULL)
        return "out of memory";
    osip_message_t *osip = NULL;
    if (osip_message_init(&osip) != 0) {
        free(text);
        return "out of memory";
    }
    int rc = osip_message_parse(osip, text, text_len);
    free(text);
    if (rc != 0) {
        osip_message_free(osip);
        return "malformed message";
    }
    m->osip = osip;
    if (ruri_replaced && osip->req_uri != NULL) {
        osip_uri_free(osip->req_uri);
        osip->req_uri = NULL;
    }
    const char *content_type = sw_msg_header(m, "Content-Type", 0);
    if (content_type != NULL && osip_message_set_content_type(osip, content_type) != 0)
        return "malformed Content-Type";
    /* libosip2 put "Content-Length: 0" in as none was given: replace it by
     * the one received, or by the real length when there was none (a
     * datagram whose body runs to its end, inv2543). */
    char body_len_text[32];
    snprintf(body_len_text, sizeof body_len_text, "%zu", m->body_len);
    const char *content_length = sw_msg_header(m, "Content-Length", 0);
    if (osip->content_length != NULL) {
        osip_content_length_free(osip->content_length);
        osip->content_length = NULL;
    }
    if (osip_message_set_content_length(osip, content_length ? content_length : body_len_text) != 0)
        return "malformed Content-Length";
    if (m->body_len > 0 && osip_message_set_body(osip, m->raw + m->body_offset, m->body_len) != 0)
        return "out of memory";
    return NULL;
}

/* ---- public: life cycle ---------------------------------------------------- */

sw_msg_t *sw_msg_parse(const char *buf, size_t len, const char **err)
{
    pthread_once(&parser_once, parser_setup);
    const char *reason = NULL;
    sw_msg_t *m = NULL;
    if (buf == NULL || len == 0) {
        reason = "empty message";
        goto fail;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL || (m->raw = malloc(len + 1)) == NULL) {
        reason = "out of memory";
        goto fail;
    }
    memcpy(m->raw, buf, len);
    m->raw[len] = '\0';
    m->raw_len = len;

    size_t pos = 0, start, end;
    if (!next_line(m->raw, len, &pos, &start, &end)) {
        reason = "no end of start line";
        goto fail;
    }
    if ((reason = parse_start_line(m, m->raw + start, end - start)) != NULL)
        goto fail;
    if ((reason = parse_headers(m, &pos)) != NULL)
        goto fail;
    m->body_offset = pos;
    m->body_len = len - pos;
    if ((reason = parse_with_osip(m)) != NULL)
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
    for (size_t i = 0; i < m->hdr_count; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    free(m->hdrs);
    free(m->method);
    free(m->ruri);
    free(m->ruri_scheme);
    free(m->version);
    free(m->reason);
    free(m->raw);
    free(m->body);
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
    return sw_msg_header(m, "Call-ID", 0);
}

const char *sw_msg_cseq_method(const sw_msg_t *m)
{
    if (m == NULL || m->osip == NULL || m->osip->cseq == NULL)
        return NULL;
    return m->osip->cseq->method;
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
    if (m == NULL || m->osip == NULL || m->osip->to == NULL)
        return NULL;
    osip_generic_param_t *tag = NULL;
    if (osip_to_get_tag(m->osip->to, &tag) != 0 || tag == NULL)
        return NULL;
    return tag->gvalue;
}

const char *sw_msg_top_via_branch(const sw_msg_t *m)
{
    if (m == NULL || m->osip == NULL)
        return NULL;
    osip_via_t *via = osip_list_get(&m->osip->vias, 0);
    if (via == NULL)
        return NULL;
    osip_generic_param_t *branch = NULL;
    if (osip_via_param_get_byname(via, "branch", &branch) != 0 || branch == NULL)
        return NULL;
    return branch->gvalue;
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
    size_t name_len = strlen(name);
    for (size_t k = 0; k < m->hdr_count; k++) {
        if (sw_msg_header_name_is(name, name_len, m->hdrs[k].name) && i-- == 0)
            return m->hdrs[k].value;
    }
    return NULL;
}

size_t sw_msg_header_count(const sw_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL)
        return 0;
    size_t n = 0, name_len = strlen(name);
    for (size_t k = 0; k < m->hdr_count; k++)
        if (sw_msg_header_name_is(name, name_len, m->hdrs[k].name))
            n++;
    return n;
}

/* A header name is a token; a value is one line. */
static bool header_text_valid(const char *name, const char *value)
{
    if (name == NULL || value == NULL || name[0] == '\0')
        return false;
    for (const char *p = name; *p; p++)
        if (!is_token_char((unsigned char)*p))
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

int sw_msg_header_add(sw_msg_t *m, const char *name, const char *value)
{
    if (m == NULL || m->osip == NULL || !header_text_valid(name, value))
        return -1;
    if (m->hdr_count >= SW_MSG_MAX_HEADERS)
        return -1;
    size_t vlen;
    value = trim_value(value, &vlen);

    char *name_copy = strdup(name);
    char *value_copy = dup_range(value, vlen);
    char *osip_name = strdup(name);  /* libosip2 lower-cases it in place */
    char *osip_value = dup_range(value, vlen);
    int rc = -1;
    if (name_copy != NULL && value_copy != NULL && osip_name != NULL && osip_value != NULL &&
        osip_message_set_multiple_header(m->osip, osip_name, osip_value) == 0 &&
        hdr_append(m, name_copy, value_copy, vlen) == 0) {
        name_copy = value_copy = NULL; /* owned by the list now */
        osip_message_force_update(m->osip);
        rc = 0;
    }
    free(name_copy);
    free(value_copy);
    free(osip_name);
    free(osip_value);
    return rc;
}

/* Which libosip2 field holds a known header, and how to free its values. */
typedef void (*osip_free_fn)(void *);

static osip_list_t *osip_list_for(osip_message_t *s, const char *name, osip_free_fn *free_fn)
{
    static const struct {
        const char *name;
        size_t offset;
        osip_free_fn free_fn;
    } lists[] = {
        {"accept", offsetof(osip_message_t, accepts), (osip_free_fn)osip_accept_free},
        {"accept-encoding", offsetof(osip_message_t, accept_encodings),
         (osip_free_fn)osip_accept_encoding_free},
        {"accept-language", offsetof(osip_message_t, accept_languages),
         (osip_free_fn)osip_accept_language_free},
        {"alert-info", offsetof(osip_message_t, alert_infos), (osip_free_fn)osip_alert_info_free},
        {"allow", offsetof(osip_message_t, allows), (osip_free_fn)osip_allow_free},
        {"authentication-info", offsetof(osip_message_t, authentication_infos),
         (osip_free_fn)osip_authentication_info_free},
        {"authorization", offsetof(osip_message_t, authorizations),
         (osip_free_fn)osip_authorization_free},
        {"call-info", offsetof(osip_message_t, call_infos), (osip_free_fn)osip_call_info_free},
        {"contact", offsetof(osip_message_t, contacts), (osip_free_fn)osip_contact_free},
        {"content-encoding", offsetof(osip_message_t, content_encodings),
         (osip_free_fn)osip_content_encoding_free},
        {"error-info", offsetof(osip_message_t, error_infos), (osip_free_fn)osip_error_info_free},
        {"proxy-authenticate", offsetof(osip_message_t, proxy_authenticates),
         (osip_free_fn)osip_proxy_authenticate_free},
        {"proxy-authentication-info", offsetof(osip_message_t, proxy_authentication_infos),
         (osip_free_fn)osip_proxy_authentication_info_free},
        {"proxy-authorization", offsetof(osip_message_t, proxy_authorizations),
         (osip_free_fn)osip_proxy_authorization_free},
        {"record-route", offsetof(osip_message_t, record_routes),
         (osip_free_fn)osip_record_route_free},
        {"route", offsetof(osip_message_t, routes), (osip_free_fn)osip_route_free},
        {"via", offsetof(osip_message_t, vias), (osip_free_fn)osip_via_free},
        {"www-authenticate", offsetof(osip_message_t, www_authenticates),
         (osip_free_fn)osip_www_authenticate_free},
    };
    size_t name_len = strlen(name);
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (sw_msg_header_name_is(name, name_len, lists[i].name)) {
            *free_fn = lists[i].free_fn;
            return (osip_list_t *)(void *)((char *)s + lists[i].offset);
        }
    }
    return NULL;
}

/* Removes a header from libosip2's view: its parsed field, if it has one,
 * and any entries in the list of other headers. */
static void osip_remove_header(osip_message_t *s, const char *name)
{
    size_t name_len = strlen(name);
    osip_free_fn free_fn = NULL;
    osip_list_t *list = osip_list_for(s, name, &free_fn);
    if (list != NULL)
        osip_list_special_free(list, free_fn);
    else if (sw_msg_header_name_is(name, name_len, "call-id") && s->call_id != NULL) {
        osip_call_id_free(s->call_id);
        s->call_id = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "cseq") && s->cseq != NULL) {
        osip_cseq_free(s->cseq);
        s->cseq = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "from") && s->from != NULL) {
        osip_from_free(s->from);
        s->from = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "to") && s->to != NULL) {
        osip_to_free(s->to);
        s->to = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "content-length") && s->content_length != NULL) {
        osip_content_length_free(s->content_length);
        s->content_length = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "content-type") && s->content_type != NULL) {
        osip_content_type_free(s->content_type);
        s->content_type = NULL;
    } else if (sw_msg_header_name_is(name, name_len, "mime-version") && s->mime_version != NULL) {
        osip_mime_version_free(s->mime_version);
        s->mime_version = NULL;
    }
    for (int pos = 0; pos < osip_list_size(&s->headers);) {
        osip_header_t *h = osip_list_get(&s->headers, pos);
        if (h != NULL && h->hname != NULL && sw_msg_header_name_is(h->hname, strlen(h->hname), name)) {
            osip_list_remove(&s->headers, pos);
            osip_header_free(h);
        } else {
            pos++;
        }
    }
    osip_message_force_update(s);
}

int sw_msg_header_remove(sw_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL)
        return 0;
    size_t name_len = strlen(name), kept = 0;
    int removed = 0;
    for (size_t k = 0; k < m->hdr_count; k++) {
        sw_msg_hdr_t *h = &m->hdrs[k];
        if (sw_msg_header_name_is(name, name_len, h->name)) {
            free(h->name);
            free(h->value);
            removed++;
        } else {
            m->hdrs[kept++] = *h;
        }
    }
    m->hdr_count = kept;
    if (m->osip != NULL)
        osip_remove_header(m->osip, name);
    return removed;
}

int sw_msg_header_set(sw_msg_t *m, const char *name, const char *value)
{
    if (m == NULL || m->osip == NULL || !header_text_valid(name, value))
        return -1;
    size_t name_len = strlen(name), first = m->hdr_count;
    for (size_t k = 0; k < m->hdr_count && first == m->hdr_count; k++)
        if (sw_msg_header_name_is(name, name_len, m->hdrs[k].name))
            first = k;
    if (first == m->hdr_count)
        return sw_msg_header_add(m, name, value);

    size_t vlen;
    value = trim_value(value, &vlen);
    char *name_copy = strdup(name);
    char *value_copy = dup_range(value, vlen);
    char *osip_name = strdup(name);  /* libosip2 lower-cases it in place */
    char *osip_value = dup_range(value, vlen);
    char *probe_name = strdup(name);
    char *probe_value = dup_range(value, vlen);
    osip_message_t *probe = NULL;
    int rc = -1;
    if (name_copy == NULL || value_copy == NULL || osip_name == NULL || osip_value == NULL ||
        probe_name == NULL || probe_value == NULL || osip_message_init(&probe) != 0)
        goto out;
    /* Tried on a scratch message first: once the old values are out of
     * libosip2's view, a refusal could not be undone. */
    if (osip_message_set_multiple_header(probe, probe_name, probe_value) != 0)
        goto out;
    osip_remove_header(m->osip, name);
    if (osip_message_set_multiple_header(m->osip, osip_name, osip_value) != 0) {
        /* Only out of memory can get here: keep both views agreeing by
         * dropping the header from the list as well. */
        sw_msg_header_remove(m, name);
        goto out;
    }
    osip_message_force_update(m->osip);

    /* The list: the first field takes the new text, the others go. */
    sw_msg_hdr_t *h = &m->hdrs[first];
    free(h->name);
    free(h->value);
    *h = (sw_msg_hdr_t){.name = name_copy, .value = value_copy, .value_len = vlen};
    name_copy = value_copy = NULL;
    size_t kept = first + 1;
    for (size_t k = first + 1; k < m->hdr_count; k++) {
        sw_msg_hdr_t *other = &m->hdrs[k];
        if (sw_msg_header_name_is(name, name_len, other->name)) {
            free(other->name);
            free(other->value);
        } else {
            m->hdrs[kept++] = *other;
        }
    }
    m->hdr_count = kept;
    rc = 0;

out:
    if (probe != NULL)
        osip_message_free(probe);
    free(name_copy);
    free(value_copy);
    free(osip_name);
    free(osip_value);
    free(probe_name);
    free(probe_value);
    return rc;
}

/* ---- building messages --------------------------------------------------- */

/* The version every message we build carries. */
static const char built_version[] = "SIP/2.0";

/* Checks and stores a request line "method ruri SIP/2.0" with the parser's
 * own rules, into the start-line fields of `into`. */
static const char *build_request_line(sw_msg_t *into, const char *method, const char *ruri)
{
    size_t len = strlen(method) + strlen(ruri) + sizeof built_version + 2;
    char *line = malloc(len);
    if (line == NULL)
        return "out of memory";
    int n = snprintf(line, len, "%s %s %s", method, ruri, built_version);
    const char *reason = parse_request_line(into, line, (size_t)n);
    free(line);
    return reason;
}

sw_msg_t *sw_msg_new_request(const char *method, const char *ruri)
{
    pthread_once(&parser_once, parser_setup);
    if (method == NULL || ruri == NULL)
        return NULL;
    sw_msg_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    /* A start line and no header is a message libosip2 parses like any
     * other: the built message gets the same views as a received one. */
    if (build_request_line(m, method, ruri) != NULL || parse_with_osip(m) != NULL) {
        sw_msg_free(m);
        return NULL;
    }
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
    sw_msg_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    size_t len = strlen(reason) + sizeof built_version + 8;
    char *line = malloc(len);
    const char *failure = "out of memory";
    if (line != NULL) {
        int n = snprintf(line, len, "%s %03d %s", built_version, code, reason);
        failure = parse_response_line(m, line, (size_t)n);
        free(line);
    }
    if (failure != NULL || parse_with_osip(m) != NULL) {
        sw_msg_free(m);
        return NULL;
    }
    return m;
}

int sw_msg_set_ruri(sw_msg_t *m, const char *ruri)
{
    if (m == NULL || m->osip == NULL || m->method == NULL || ruri == NULL)
        return -1;
    sw_msg_t probe;
    memset(&probe, 0, sizeof probe);
    osip_uri_t *uri = NULL;
    int rc = -1;
    if (build_request_line(&probe, m->method, ruri) != NULL)
        goto out;
    /* libosip2's view, as parse_with_osip would have it: only sip, sips and
     * tel URIs are parsed (anything else is answered 416, never sent). */
    if (scheme_is_sip_or_tel(probe.ruri_scheme) &&
        (osip_uri_init(&uri) != 0 || osip_uri_parse(uri, probe.ruri) != 0))
        goto out;
    free(m->ruri);
    free(m->ruri_scheme);
    m->ruri = probe.ruri;
    m->ruri_scheme = probe.ruri_scheme;
    probe.ruri = probe.ruri_scheme = NULL;
    if (m->osip->req_uri != NULL)
        osip_uri_free(m->osip->req_uri);
    m->osip->req_uri = uri;
    uri = NULL;
    osip_message_force_update(m->osip);
    rc = 0;

out:
    if (uri != NULL)
        osip_uri_free(uri);
    free(probe.method);
    free(probe.ruri);
    free(probe.ruri_scheme);
    free(probe.version);
    return rc;
}

/* Makes the list's Content-Length fields one, reading `text`, at the place
 * of the first; appends one when there is none and `add` is set. Then
 * libosip2's field. */
static int set_content_length(sw_msg_t *m, const char *text, bool add)
{
    size_t first = m->hdr_count;
    for (size_t k = 0; k < m->hdr_count && first == m->hdr_count; k++)
        if (hdr_is(&m->hdrs[k], "content-length"))
            first = k;
    char *value = strdup(text);
    if (value == NULL)
        return -1;
    if (first < m->hdr_count) {
        free(m->hdrs[first].value);
        m->hdrs[first].value = value;
        m->hdrs[first].value_len = strlen(value);
        size_t kept = first + 1;
        for (size_t k = first + 1; k < m->hdr_count; k++) {
            if (hdr_is(&m->hdrs[k], "content-length")) {
                free(m->hdrs[k].name);
                free(m->hdrs[k].value);
            } else {
                m->hdrs[kept++] = m->hdrs[k];
            }
        }
        m->hdr_count = kept;
    } else if (add) {
        char *name = strdup("Content-Length");
        if (name == NULL || hdr_append(m, name, value, strlen(value)) != 0) {
            free(name);
            free(value);
            return -1;
        }
    } else {
        free(value);
    }
    if (m->osip->content_length != NULL) {
        osip_content_length_free(m->osip->content_length);
        m->osip->content_length = NULL;
    }
    return osip_message_set_content_length(m->osip, text) == 0 ? 0 : -1;
}

int sw_msg_set_body(sw_msg_t *m, const char *content_type, const char *body, size_t len)
{
    if (m == NULL || m->osip == NULL)
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
    osip_list_special_free(&m->osip->bodies, (void (*)(void *))osip_body_free);
    free(m->body);
    m->body = copy;
    m->body_len = removing ? 0 : len;
    char length_text[32];
    snprintf(length_text, sizeof length_text, "%zu", m->body_len);
    int rc = set_content_length(m, length_text, !removing);
    if (rc == 0 && !removing && osip_message_set_body(m->osip, copy, len) != 0)
        rc = -1;
    osip_message_force_update(m->osip);
    return rc;
}

/* Appends n bytes at out + *at (the caller sized the buffer). */
static void put(char *out, size_t *at, const char *s, size_t n)
{
    memcpy(out + *at, s, n);
    *at += n;
}

char *sw_msg_serialize(const sw_msg_t *m, size_t *len)
{
    if (m == NULL || m->version == NULL || (m->method == NULL && m->reason == NULL))
        return NULL;
    size_t cap = 64 + strlen(m->version) + m->body_len;
    if (m->method != NULL)
        cap += strlen(m->method) + strlen(m->ruri);
    else
        cap += strlen(m->reason);
    for (size_t i = 0; i < m->hdr_count; i++)
        cap += strlen(m->hdrs[i].name) + m->hdrs[i].value_len + 4;
    cap += sizeof "Content-Length: \r\n" + 24;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;

    size_t n;
    if (m->method != NULL)
        n = (size_t)snprintf(out, cap, "%s %s %s\r\n", m->method, m->ruri, m->version);
    else
        n = (size_t)snprintf(out, cap, "%s %03d %s\r\n", m->version, m->status, m->reason);
    char length_text[32];
    int length_len = snprintf(length_text, sizeof length_text, ": %zu\r\n", m->body_len);
    bool length_written = false;
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        size_t name_len = strlen(h->name);
        if (hdr_is(h, "content-length")) {
            /* The length of the body we send, whatever the list says. */
            if (!length_written) {
                put(out, &n, h->name, name_len);
                put(out, &n, length_text, (size_t)length_len);
                length_written = true;
            }
            continue;
        }
        put(out, &n, h->name, name_len);
        put(out, &n, ": ", 2);
        put(out, &n, h->value, h->value_len);
        put(out, &n, "\r\n", 2);
    }
    if (!length_written) {
        put(out, &n, "Content-Length", sizeof "Content-Length" - 1);
        put(out, &n, length_text, (size_t)length_len);
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
