/* Responses the front door sends on its own (sanity failures, stateless
 * answers): built from the request's header text, not re-serialised by
 * libosip2, so what the client sent comes back as it sent it (RFC 3261 8.2.6.2:
 * From, Call-ID, CSeq and Via copied; To copied with a tag added). */
#include "config.h"

#include "sip/sip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "random.h"
#include "sipswitch/version.h"
#include "strbuf.h"

/* ---- growing output buffer -------------------------------------------------- */

typedef struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;    /* an allocation failed: the result is dropped */
} strbuf_t;

static void sb_add(strbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(strbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Hands the buffer over (NUL-terminated; *len excludes the NUL). */
static char *sb_finish(strbuf_t *b, size_t *len)
{
    if (b->failed || b->data == NULL) {
        free(b->data);
        return NULL;
    }
    if (len != NULL)
        *len = b->len;
    return b->data;
}

/* ---- reason phrases -------------------------------------------------------- */

static const struct {
    int code;
    const char *phrase;
} reason_phrases[] = {
    {100, "Trying"}, {180, "Ringing"}, {181, "Call Is Being Forwarded"}, {182, "Queued"},
    {183, "Session Progress"}, {199, "Early Dialog Terminated"},
    {200, "OK"}, {202, "Accepted"}, {204, "No Notification"},
    {300, "Multiple Choices"}, {301, "Moved Permanently"}, {302, "Moved Temporarily"},
    {305, "Use Proxy"}, {380, "Alternative Service"},
    {400, "Bad Request"}, {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
    {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {410, "Gone"},
    {412, "Conditional Request Failed"}, {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"}, {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"}, {417, "Unknown Resource-Priority"}, {420, "Bad Extension"},
    {421, "Extension Required"}, {422, "Session Interval Too Small"}, {423, "Interval Too Brief"},
    {428, "Use Identity Header"}, {429, "Provide Referrer Identity"},
    {433, "Anonymity Disallowed"}, {436, "Bad Identity-Info"}, {437, "Unsupported Certificate"},
    {438, "Invalid Identity Header"}, {439, "First Hop Lacks Outbound Support"},
    {440, "Max-Breadth Exceeded"}, {469, "Bad Info Package"}, {470, "Consent Needed"},
    {480, "Temporarily Unavailable"}, {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"}, {483, "Too Many Hops"}, {484, "Address Incomplete"},
    {485, "Ambiguous"}, {486, "Busy Here"}, {487, "Request Terminated"},
    {488, "Not Acceptable Here"}, {489, "Bad Event"}, {491, "Request Pending"},
    {493, "Undecipherable"}, {494, "Security Agreement Required"},
    {500, "Server Internal Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
    {503, "Service Unavailable"}, {504, "Server Time-out"}, {505, "Version Not Supported"},
    {513, "Message Too Large"}, {580, "Precondition Failure"},
    {600, "Busy Everywhere"}, {603, "Decline"}, {604, "Does Not Exist Anywhere"},
    {606, "Not Acceptable"}, {607, "Unwanted"},
};

const char *sw_sip_reason_phrase(int code)
{
    for (size_t i = 0; i < sizeof reason_phrases / sizeof reason_phrases[0]; i++)
        if (reason_phrases[i].code == code)
            return reason_phrases[i].phrase;
    /* An unlisted code still gets a phrase of its class (RFC 3261 21). */
    switch (code / 100) {
    case 1: return "Provisional";
    case 2: return "OK";
    case 3: return "Redirection";
    case 4: return "Request Failure";
    case 5: return "Server Failure";
    case 6: return "Global Failure";
    default: return "Unknown";
    }
}

/* ---- the top Via ------------------------------------------------------------ */

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_token_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-.!%*_+`'~", c) != NULL;
}

/* What we need from the first via-parm of a Via value: sent-by and the
 * positions of rport/received so they can be filled in. */
typedef struct via_parm {
    size_t end;                 /* end of the via-parm (a ',' or the value's end) */
    size_t params_end;          /* end of its last param, trailing LWS excluded */
    const char *host;           /* sent-by host, IPv6 brackets included */
    size_t host_len;
    unsigned port;              /* 0 when sent-by has none */
    bool rport;                 /* has an rport param */
    size_t rport_fill;          /* bare rport: where "=<port>" goes; 0 if it has a value */
    bool received;              /* has a received param */
    size_t received_start, received_end; /* its value */
} via_parm_t;

static size_t skip_wsp(const char *v, size_t i, size_t n)
{
    while (i < n && is_wsp(v[i]))
        i++;
    return i;
}

static size_t skip_token(const char *v, size_t i, size_t n)
{
    while (i < n && is_token_char(v[i]))
        i++;
    return i;
}

/* Parses the first via-parm of v[0..n): sent-protocol (LWS allowed around
 * the slashes, wsinv), sent-by, params. False when it is not one. */
static bool parse_via_parm(const char *v, size_t n, via_parm_t *via)
{
    memset(via, 0, sizeof *via);
    size_t i = skip_wsp(v, 0, n);
    for (int part = 0; part < 3; part++) {     /* name / version / transport */
        size_t start = i;
        i = skip_token(v, i, n);
        if (i == start)
            return false;
        i = skip_wsp(v, i, n);
        if (part < 2) {
            if (i >= n || v[i] != '/')
                return false;
            i = skip_wsp(v, i + 1, n);
        }
    }
    size_t host_start = i;
    if (i < n && v[i] == '[') {
        const char *close = memchr(v + i, ']', n - i);
        if (close == NULL)
            return false;
        i = (size_t)(close - v) + 1;
    } else {
        while (i < n && (is_token_char(v[i]) || v[i] == '_'))
            i++;
    }
    if (i == host_start)
        return false;
    via->host = v + host_start;
    via->host_len = i - host_start;
    i = skip_wsp(v, i, n);
    if (i < n && v[i] == ':') {
        i = skip_wsp(v, i + 1, n);
        unsigned port = 0;
        size_t digits = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9' && digits < 6)
            port = port * 10 + (unsigned)(v[i++] - '0'), digits++;
        if (digits == 0 || port > 65535)
            return false;
        via->port = port;
    }
    via->params_end = i;
    for (;;) {
        i = skip_wsp(v, i, n);
        if (i >= n || v[i] == ',')
            break;
        if (v[i] != ';')
            return false;
        i = skip_wsp(v, i + 1, n);
        size_t name = i;
        i = skip_token(v, i, n);
        size_t name_end = i;
        if (name_end == name)
            return false;
        bool is_rport = name_end - name == 5 && strncasecmp(v + name, "rport", 5) == 0;
        bool is_received = name_end - name == 8 && strncasecmp(v + name, "received", 8) == 0;
        size_t value_start = 0, value_end = 0;
        size_t after = skip_wsp(v, i, n);
        if (after < n && v[after] == '=') {
            i = skip_wsp(v, after + 1, n);
            value_start = i;
            if (i < n && v[i] == '"') {
                for (i++; i < n && v[i] != '"'; i++)
                    if (v[i] == '\\')
                        i++;
                if (i >= n)
                    return false;
                i++;
            } else if (i < n && v[i] == '[') {
                const char *close = memchr(v + i, ']', n - i);
                if (close == NULL)
                    return false;
                i = (size_t)(close - v) + 1;
            } else {
                i = skip_token(v, i, n);
            }
            value_end = i;
        }
        if (is_rport) {
            via->rport = true;
            via->rport_fill = value_start == 0 ? name_end : 0;
        } else if (is_received && value_start != 0) {
            via->received = true;
            via->received_start = value_start;
            via->received_end = value_end;
        }
        via->params_end = i;
    }
    via->end = i;
    return true;
}

/* Is the sent-by host the address the request came from? IP addresses are
 * compared as addresses ("::1" and "0:0::1" are the same). */
static bool host_is_source(const char *host, size_t host_len, const char *src_ip)
{
    char text[64];
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']')
        host++, host_len -= 2;
    size_t src_len = strlen(src_ip);
    if (host_len == src_len && strncasecmp(host, src_ip, host_len) == 0)
        return true; /* the usual case, without converting either */
    if (host_len >= sizeof text)
        return false;
    memcpy(text, host, host_len);
    text[host_len] = '\0';
    unsigned char a[16], b[16];
    if (inet_pton(AF_INET, text, a) == 1 && inet_pton(AF_INET, src_ip, b) == 1)
        return memcmp(a, b, 4) == 0;
    if (inet_pton(AF_INET6, text, a) == 1 && inet_pton(AF_INET6, src_ip, b) == 1)
        return memcmp(a, b, 16) == 0;
    return strcasecmp(text, src_ip) == 0;
}

/* The top Via value with received= (RFC 3261 18.2.1) and rport= (RFC 3581
 * 4) filled in from where the request came from: at most two edits of the
 * value, in the order they occur in it. */
typedef struct via_edit {
    size_t start, end;          /* the part of the value replaced (start == end: an insertion) */
    const char *text;
    size_t text_len;
} via_edit_t;

typedef struct top_via {
    const sw_msg_hdr_t *h;
    via_edit_t edits[2];
    size_t n_edits;
    size_t len;                 /* the edited value's length */
    char rport_text[8];         /* "=" and the port */
    char received_text[72];     /* ";received=" (unless the param is there) and the address */
} top_via_t;

static void top_via_prepare(top_via_t *tv, const sw_msg_hdr_t *h, const sw_msg_origin_t *origin)
{
    tv->h = h;
    tv->n_edits = 0;
    tv->len = h->value_len;
    via_parm_t via;
    if (origin->src_ip[0] == '\0' || !parse_via_parm(h->value, h->value_len, &via))
        return; /* nothing we can add: copied as it is */
    bool fill_rport = via.rport_fill != 0 && origin->src_port != 0;
    /* With rport, received is added even when it equals sent-by (RFC 3581). */
    bool set_received = fill_rport || !host_is_source(via.host, via.host_len, origin->src_ip);
    via_edit_t rport = {via.rport_fill, via.rport_fill, tv->rport_text, 0};
    if (fill_rport) {
        tv->rport_text[0] = '=';
        rport.text_len = 1 + sw_decimal(tv->rport_text + 1, origin->src_port);
    }
    via_edit_t received = {0, 0, tv->received_text, 0};
    if (set_received) {
        /* received takes an IPv6 address without brackets (RFC 3261 25.1). */
        static const char param[] = ";received=";
        size_t ip_len = strnlen(origin->src_ip, sizeof origin->src_ip);
        size_t at = 0;
        if (!via.received) {
            memcpy(tv->received_text, param, sizeof param - 1);
            at = sizeof param - 1;
        }
        memcpy(tv->received_text + at, origin->src_ip, ip_len);
        received.text_len = at + ip_len;
        received.start = via.received ? via.received_start : via.params_end;
        received.end = via.received ? via.received_end : via.params_end;
    }
    if (fill_rport)
        tv->edits[tv->n_edits++] = rport;
    if (set_received)
        tv->edits[tv->n_edits++] = received;
    if (tv->n_edits == 2 && tv->edits[1].start < tv->edits[0].start) {
        via_edit_t first = tv->edits[1];
        tv->edits[1] = tv->edits[0];
        tv->edits[0] = first;
    }
    for (size_t i = 0; i < tv->n_edits; i++)
        tv->len += tv->edits[i].text_len - (tv->edits[i].end - tv->edits[i].start);
}

static char *put(char *out, const char *s, size_t n)
{
    memcpy(out, s, n);
    return out + n;
}

static char *put_top_via(char *out, const top_via_t *tv)
{
    const char *v = tv->h->value;
    size_t at = 0;
    for (size_t i = 0; i < tv->n_edits; i++) {
        out = put(out, v + at, tv->edits[i].start - at);
        out = put(out, tv->edits[i].text, tv->edits[i].text_len);
        at = tv->edits[i].end;
    }
    return put(out, v + at, tv->h->value_len - at);
}

/* ---- responses to parsed requests ------------------------------------------ */

static const char server_line[] = "Server: sipswitch/" SIPSWITCH_VERSION "\r\n";

/* What the base copies besides the Vias: the first of each (sanity refuses
 * requests with several), in this order. */
static const struct {
    sw_hdr_id_t id;
    const char *prefix;
    size_t prefix_len;
} copied_headers[] = {
    {SW_HDR_FROM, "From: ", 6}, {SW_HDR_TO, "To: ", 4}, {SW_HDR_CALL_ID, "Call-ID: ", 9}, {SW_HDR_CSEQ, "CSeq: ", 6}};
#define N_COPIED (sizeof copied_headers / sizeof copied_headers[0])

/* One pass over the fields by id, the exact size worked out first, one
 * allocation: this runs for every request a transaction answers. */
int sw_sip_reply_base_init(const sw_msg_t *req, sw_sip_reply_base_t *base)
{
    memset(base, 0, sizeof *base);
    if (req == NULL || !sw_msg_is_request(req))
        return -1;
    const sw_msg_hdr_t *first[N_COPIED] = {0};
    top_via_t top;
    bool have_top = false;
    size_t size = 1; /* the NUL */
    for (size_t i = 0; i < req->hdr_count; i++) {
        const sw_msg_hdr_t *h = &req->hdrs[i];
        if (h->id == SW_HDR_VIA) {
            if (!have_top) {
                top_via_prepare(&top, h, &req->origin);
                have_top = true;
                size += 7 + top.len;
            } else {
                size += 7 + h->value_len;
            }
            continue;
        }
        for (size_t c = 0; c < N_COPIED; c++)
            if (h->id == copied_headers[c].id && first[c] == NULL) {
                first[c] = h;
                size += copied_headers[c].prefix_len + h->value_len + 2;
            }
    }
    char *text = malloc(size);
    if (text == NULL)
        return -1;
    char *out = text;
    bool top_done = false;
    for (size_t i = 0; i < req->hdr_count; i++) {
        const sw_msg_hdr_t *h = &req->hdrs[i];
        if (h->id != SW_HDR_VIA)
            continue;
        out = put(out, "Via: ", 5);
        if (!top_done)
            out = put_top_via(out, &top);
        else
            out = put(out, h->value, h->value_len);
        out = put(out, "\r\n", 2);
        top_done = true;
    }
    for (size_t c = 0; c < N_COPIED; c++) {
        if (first[c] == NULL)
            continue; /* insuf: answer with what there is */
        out = put(out, copied_headers[c].prefix, copied_headers[c].prefix_len);
        out = put(out, first[c]->value, first[c]->value_len);
        if (copied_headers[c].id == SW_HDR_TO) {
            base->has_to = true;
            base->to_end = (size_t)(out - text);
        }
        out = put(out, "\r\n", 2);
    }
    *out = '\0';
    base->to_has_tag = sw_msg_to_tag(req) != NULL;
    base->text = text;
    base->len = (size_t)(out - text);
    return 0;
}

void sw_sip_reply_base_free(sw_sip_reply_base_t *base)
{
    if (base == NULL)
        return;
    free(base->text);
    memset(base, 0, sizeof *base);
}

char *sw_sip_reply_from_base(const sw_sip_reply_base_t *base, int code, const char *reason, const char *to_tag,
                             const char *extra_headers, const char *content_type, const char *body,
                             size_t body_len, size_t *len)
{
    if (base == NULL || base->text == NULL || code < 100 || code > 699)
        return NULL;
    if (body == NULL)
        body_len = 0;
    /* A reason phrase may not break the status line. */
    if (reason == NULL || strpbrk(reason, "\r\n") != NULL)
        reason = sw_sip_reason_phrase(code);
    size_t reason_len = strlen(reason);
    char generated[20];
    bool add_tag = base->has_to && code > 100 && !base->to_has_tag;
    if (add_tag && (to_tag == NULL || to_tag[0] == '\0')) {
        sw_random_hex(generated, 8);
        to_tag = generated;
    }
    size_t tag_len = add_tag ? strlen(to_tag) : 0;
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    bool extra_crlf = extra_len > 0 && extra_headers[extra_len - 1] != '\n';
    /* a Content-Type that would break the header line is left out */
    bool with_type = content_type != NULL && content_type[0] != '\0' && strpbrk(content_type, "\r\n") == NULL;
    size_t type_len = with_type ? strlen(content_type) : 0;
    char body_len_text[24];
    size_t body_len_digits = sw_decimal(body_len_text, body_len);

    size_t size = 8 + 3 + 1 + reason_len + 2 + base->len + (add_tag ? 5 + tag_len : 0) + sizeof server_line - 1 +
                  extra_len + (extra_crlf ? 2 : 0) + (with_type ? 14 + type_len + 2 : 0) + 16 + body_len_digits + 4 +
                  body_len + 1;
    char *text = malloc(size);
    if (text == NULL)
        return NULL;
    char *out = put(text, "SIP/2.0 ", 8);
    *out++ = (char)('0' + code / 100);
    *out++ = (char)('0' + code / 10 % 10);
    *out++ = (char)('0' + code % 10);
    *out++ = ' ';
    out = put(out, reason, reason_len);
    out = put(out, "\r\n", 2);
    if (add_tag) {
        out = put(out, base->text, base->to_end);
        out = put(out, ";tag=", 5);
        out = put(out, to_tag, tag_len);
        out = put(out, base->text + base->to_end, base->len - base->to_end);
    } else {
        out = put(out, base->text, base->len);
    }
    out = put(out, server_line, sizeof server_line - 1);
    if (extra_len) {
        out = put(out, extra_headers, extra_len);
        if (extra_crlf)
            out = put(out, "\r\n", 2);
    }
    if (with_type) {
        out = put(out, "Content-Type: ", 14);
        out = put(out, content_type, type_len);
        out = put(out, "\r\n", 2);
    }
    out = put(out, "Content-Length: ", 16);
    out = put(out, body_len_text, body_len_digits);
    out = put(out, "\r\n\r\n", 4);
    if (body_len)
        out = put(out, body, body_len);
    *out = '\0';
    if (len != NULL)
        *len = (size_t)(out - text);
    return text;
}

char *sw_sip_build_reply_body(const sw_msg_t *req, int code, const char *reason, const char *to_tag,
                              const char *extra_headers, const char *content_type, const char *body,
                              size_t body_len, size_t *len)
{
    if (req == NULL || !sw_msg_is_request(req) || code < 100 || code > 699)
        return NULL;
    sw_sip_reply_base_t base;
    if (sw_sip_reply_base_init(req, &base) != 0)
        return NULL;
    char *out = sw_sip_reply_from_base(&base, code, reason, to_tag, extra_headers, content_type, body, body_len, len);
    sw_sip_reply_base_free(&base);
    return out;
}

char *sw_sip_build_reply(const sw_msg_t *req, int code, const char *reason, const char *to_tag,
                         const char *extra_headers, size_t *len)
{
    return sw_sip_build_reply_body(req, code, reason, to_tag, extra_headers, NULL, NULL, 0, len);
}

/* ---- responses to bytes that did not parse ---------------------------------- */

static void add_status_line(strbuf_t *b, int code, const char *reason)
{
    /* A reason phrase may not break the status line. */
    if (reason == NULL || strpbrk(reason, "\r\n") != NULL)
        reason = sw_sip_reason_phrase(code);
    char line[32];
    snprintf(line, sizeof line, "SIP/2.0 %d ", code);
    sb_str(b, line);
    sb_str(b, reason);
    sb_add(b, "\r\n", 2);
}

static void add_trailer(strbuf_t *b)
{
    sb_add(b, server_line, sizeof server_line - 1);
    sb_str(b, "Content-Length: 0\r\n\r\n");
}

/* One physical line of buf: [start, end) without its line end; *next is past
 * the line end (or buflen for an unterminated last line). */
static bool raw_line(const char *buf, size_t buflen, size_t at, size_t *end, size_t *next)
{
    if (at >= buflen)
        return false;
    const char *lf = memchr(buf + at, '\n', buflen - at);
    size_t e = lf != NULL ? (size_t)(lf - buf) : buflen;
    *next = lf != NULL ? e + 1 : buflen;
    if (e > at && buf[e - 1] == '\r')
        e--;
    *end = e;
    return true;
}

/* Copies the header lines named `wanted` (with their continuation lines) from
 * the header section buf[from..buflen), all of them or only the first.
 * Returns how many were copied. */
static size_t copy_raw_headers(strbuf_t *b, const char *buf, size_t buflen, size_t from,
                               const char *wanted, bool all)
{
    size_t at = from, end, next, copied = 0;
    bool copying = false;
    while (raw_line(buf, buflen, at, &end, &next)) {
        if (end == at)
            break; /* the empty line: end of headers */
        if (is_wsp(buf[at])) {
            if (copying) {
                sb_add(b, buf + at, end - at);
                sb_add(b, "\r\n", 2);
            }
        } else {
            copying = false;
            size_t name_end = at;
            while (name_end < end && is_token_char(buf[name_end]))
                name_end++;
            size_t colon = name_end;
            while (colon < end && is_wsp(buf[colon]))
                colon++;
            if (colon < end && buf[colon] == ':' && name_end > at &&
                sw_msg_header_name_is(buf + at, name_end - at, wanted) && (all || copied == 0)) {
                sb_add(b, buf + at, end - at);
                sb_add(b, "\r\n", 2);
                copying = true;
                copied++;
            }
        }
        at = next;
    }
    return copied;
}

/* Does a copied To header (with its folded lines) carry a tag parameter? */
static bool raw_has_tag(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ';')
            continue;
        size_t j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
            j++;
        if (j + 3 <= n && strncasecmp(p + j, "tag", 3) == 0)
            return true;
    }
    return false;
}

static void raw_tag(const char *buf, size_t n, char *tag, size_t tagsize)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)buf[i];
        h *= 1099511628211ULL;
    }
    snprintf(tag, tagsize, "swr%016llx", (unsigned long long)h);
}

char *sw_sip_build_reply_raw(const char *buf, size_t buflen, const sw_msg_origin_t *origin,
                             int code, const char *reason, size_t *len)
{
    (void)origin; /* the lines go back verbatim: nothing to add from it */
    if (buf == NULL || code < 100 || code > 699)
        return NULL;
    size_t at = 0;
    while (at < buflen && (buf[at] == '\r' || buf[at] == '\n'))
        at++;
    size_t end, next;
    if (!raw_line(buf, buflen, at, &end, &next))
        return NULL;
    /* Never answer a response, nor an ACK (RFC 3261 17.1.1.3). */
    if (end - at >= 4 && strncasecmp(buf + at, "SIP/", 4) == 0)
        return NULL;
    if (end - at >= 4 && memcmp(buf + at, "ACK ", 4) == 0)
        return NULL;

    strbuf_t b = {0};
    add_status_line(&b, code, reason);
    bool complete = copy_raw_headers(&b, buf, buflen, next, "Via", true) > 0 &&
                    copy_raw_headers(&b, buf, buflen, next, "From", false) > 0;
    size_t to_start = b.len;
    complete = complete && copy_raw_headers(&b, buf, buflen, next, "To", false) > 0;
    if (complete && code > 100 && !raw_has_tag(b.data + to_start, b.len - to_start)) {
        /* a final response needs a To tag (RFC 3261 8.2.6.2); the same bytes
         * get the same tag, so a retransmission is answered identically */
        char tag[40];
        raw_tag(buf, buflen, tag, sizeof tag);
        b.len -= 2; /* before the CRLF that ends the (possibly folded) To */
        sb_add(&b, ";tag=", 5);
        sb_add(&b, tag, strlen(tag));
        sb_add(&b, "\r\n", 2);
    }
    complete = complete && copy_raw_headers(&b, buf, buflen, next, "Call-ID", false) > 0 &&
               copy_raw_headers(&b, buf, buflen, next, "CSeq", false) > 0;
    if (!complete) {
        free(b.data);
        return NULL;
    }
    add_trailer(&b);
    return sb_finish(&b, len);
}

/* ---- where responses go ----------------------------------------------------- */

void sw_sip_response_target(const sw_msg_t *req, bool force_rport, struct sockaddr_storage *addr,
                            socklen_t *addr_len)
{
    if (force_rport || req->origin.transport != SW_TRANSPORT_UDP) {
        memset(addr, 0, sizeof *addr);
        memcpy(addr, &req->origin.src, req->origin.src_len);
        *addr_len = req->origin.src_len;
        return;
    }
    sw_sip_reply_destination(req, addr, addr_len);
}

void sw_sip_reply_destination(const sw_msg_t *req, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    memcpy(addr, &req->origin.src, sizeof *addr);
    *addr_len = req->origin.src_len;
    /* Stream transports answer on the connection the request came in on. */
    if (req->origin.transport != SW_TRANSPORT_UDP)
        return;

    /* UDP: always the source address (as if received= were set, RFC 3261
     * 18.2.2; maddr is ignored so a forged Via cannot aim our answers
     * elsewhere). The port: the source port with rport (RFC 3581), else
     * the sent-by port, else 5060. */
    unsigned port = req->origin.src_port;
    const sw_msg_hdr_t *top = NULL;
    for (size_t i = 0; i < req->hdr_count && top == NULL; i++)
        if (sw_msg_header_name_is(req->hdrs[i].name, strlen(req->hdrs[i].name), "Via"))
            top = &req->hdrs[i];
    via_parm_t via;
    if (top != NULL && parse_via_parm(top->value, top->value_len, &via) && !via.rport)
        port = via.port != 0 ? via.port : 5060;

    if (addr->ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)addr)->sin_port = htons((uint16_t)port);
    else if (addr->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)addr)->sin6_port = htons((uint16_t)port);
}
