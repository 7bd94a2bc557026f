/* Framing: where one SIP message ends in a datagram or a byte stream
 * (RFC 3261 18.3). Only the header lines needed for that are looked at, with
 * our own bounded scan: the buffer is not NUL-terminated, may hold binary
 * bodies, and must never be read past len. */
#include "config.h"

#include "sip/framing.h"
#include "sip/sip.h"

#include <string.h>

/* Content-Length values above this cannot be a SIP message we would accept
 * anyway; capping the digits keeps the arithmetic far from overflow. */
#define CONTENT_LENGTH_MAX_DIGITS 9

typedef struct content_length {
    size_t count;       /* Content-Length header fields seen */
    size_t value;       /* value of the (single) one */
    const char *error;  /* first malformed value */
} content_length_t;

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* When the header line line[0..n) is named Content-Length ("l" is its
 * compact form), in any letter case, the length of its name; else 0. A name
 * ends at ':' or whitespace: "Content-Lengthy" is another header. Most lines
 * are told apart by their first byte, without reading the name. */
static size_t content_length_name_len(const char *line, size_t n)
{
    static const char full[] = "content-length";
    size_t len;
    if (line[0] == 'l' || line[0] == 'L') {
        len = 1;
    } else if ((line[0] == 'c' || line[0] == 'C') && n > sizeof full - 1) {
        for (len = 1; len < sizeof full - 1; len++)
            if (lower(line[len]) != full[len])
                return 0;
    } else {
        return 0;
    }
    return len < n && (line[len] == ':' || is_wsp(line[len])) ? len : 0;
}

/* Parses the value of one Content-Length header: value[0..n) is everything
 * after the colon up to the end of the header, folded continuation lines
 * included (so CR/LF may appear in it and count as whitespace). */
static void parse_content_length(const char *value, size_t n, content_length_t *cl)
{
    size_t i = 0, digits = 0, v = 0;
    while (i < n && (is_wsp(value[i]) || value[i] == '\r' || value[i] == '\n'))
        i++;
    if (i < n && (value[i] == '-' || value[i] == '+')) {
        /* ncl: a negative value must never become a length. */
        if (cl->error == NULL)
            cl->error = value[i] == '-' ? "negative Content-Length" : "invalid Content-Length";
        return;
    }
    while (i < n && value[i] >= '0' && value[i] <= '9') {
        if (digits == 0 && value[i] == '0' && i + 1 < n && value[i + 1] >= '0' && value[i + 1] <= '9') {
            i++; /* leading zeros do not count towards the digit cap */
            continue;
        }
        if (++digits > CONTENT_LENGTH_MAX_DIGITS) {
            if (cl->error == NULL)
                cl->error = "Content-Length too large";
            return;
        }
        v = v * 10 + (size_t)(value[i] - '0');
        i++;
    }
    bool had_digit = i > 0 && value[i - 1] >= '0' && value[i - 1] <= '9';
    while (i < n && (is_wsp(value[i]) || value[i] == '\r' || value[i] == '\n'))
        i++;
    if (!had_digit || i != n) {
        if (cl->error == NULL)
            cl->error = "invalid Content-Length";
        return;
    }
    cl->value = v;
}

/* Length of the line ending at or after `from`: the index just past its LF,
 * or 0 when no LF is found before `limit`. */
static size_t line_end(const char *buf, size_t from, size_t limit)
{
    const char *lf = from < limit ? memchr(buf + from, '\n', limit - from) : NULL;
    return lf != NULL ? (size_t)(lf - buf) + 1 : 0;
}

/* True when the line starting at `at` (a complete line up to its LF) is
 * empty: "\r\n" or "\n". */
static bool is_empty_line(const char *buf, size_t at, size_t next)
{
    size_t n = next - at;
    return n == 1 || (n == 2 && buf[at] == '\r');
}

sw_frame_status_t sw_sip_frame(const char *buf, size_t len, bool stream, size_t max_size,
                               sw_frame_t *out)
{
    memset(out, 0, sizeof *out);

    /* RFC 5626 keep-alives (CRLF, CRLFCRLF) and stray line ends before a
     * message are not part of it. */
    size_t skipped = 0;
    while (skipped < len && (buf[skipped] == '\r' || buf[skipped] == '\n'))
        skipped++;
    out->skipped = skipped;
    if (skipped == len)
        return SW_FRAME_INCOMPLETE; /* nothing but keep-alive bytes (yet) */

    const char *msg = buf + skipped;
    size_t avail = len - skipped;
    /* The header section may not run past max_size: bound the scan there. */
    size_t limit = avail < max_size ? avail : max_size;

    content_length_t cl = {0};
    size_t at = line_end(msg, 0, limit); /* past the start line */
    size_t header_len = 0;
    while (at != 0) {
        size_t next = line_end(msg, at, limit);
        if (next == 0)
            break;
        if (is_empty_line(msg, at, next)) {
            header_len = next;
            break;
        }
        if (!is_wsp(msg[at])) {
            out->header_lines++;
            /* A header: name, optional whitespace, colon. Its value runs on
             * over continuation lines (starting with SP/HT). */
            size_t name_len = content_length_name_len(msg + at, next - at), colon = at + name_len;
            while (name_len > 0 && colon < next && is_wsp(msg[colon]))
                colon++;
            if (name_len > 0 && colon < next && msg[colon] == ':') {
                size_t value_end = next;
                for (;;) {
                    size_t cont = line_end(msg, value_end, limit);
                    if (cont == 0 || !is_wsp(msg[value_end]))
                        break;
                    value_end = cont;
                }
                cl.count++;
                parse_content_length(msg + colon + 1, value_end - colon - 1, &cl);
                next = value_end;
            }
        }
        at = next;
    }

    if (header_len == 0) {
        if (avail >= max_size) {
            out->error = "message too large";
            return SW_FRAME_ERROR;
        }
        if (stream)
            return SW_FRAME_INCOMPLETE;
        out->error = "no end of headers";
        return SW_FRAME_ERROR;
    }
    out->header_len = header_len;

    if (cl.count > 1) {
        /* mcl01: with two values there is no telling where the message ends
         * (even equal ones are refused: RFC 3261 allows one). */
        out->error = "several Content-Length headers";
        return SW_FRAME_ERROR;
    }
    if (cl.error != NULL) {
        out->error = cl.error;
        return SW_FRAME_ERROR;
    }

    size_t rest = avail - header_len;
    size_t body_len;
    if (cl.count == 0) {
        if (stream) {
            out->error = "Content-Length missing on a stream";
            return SW_FRAME_ERROR;
        }
        body_len = rest; /* datagram: the body is what is left (RFC 3261 18.3) */
    } else {
        body_len = cl.value;
    }
    if (body_len > max_size || header_len + body_len > max_size) {
        out->error = "message too large";
        return SW_FRAME_ERROR;
    }
    out->body_len = body_len;
    out->total = skipped + header_len + body_len; /* the message is buf[skipped, total) */
    if (body_len > rest) {
        if (stream)
            return SW_FRAME_INCOMPLETE;
        out->error = "Content-Length larger than the datagram"; /* clerr */
        return SW_FRAME_ERROR;
    }
    /* Datagram: octets past Content-Length are ignored (dblreq). */
    return SW_FRAME_OK;
}

/* ---- streams: framing across reads --------------------------------------- */

void sw_stream_framer_reset(sw_stream_framer_t *f)
{
    uint64_t examined = f->bytes_examined;
    memset(f, 0, sizeof *f);
    f->bytes_examined = examined;
}

/* Index just past the first empty line in buf[from..len) ("\n\n" or
 * "\n\r\n"), or 0 when there is none yet. Every end of headers that
 * sw_sip_frame finds is such a pair (the empty line follows the LF of the
 * line before it), so none here means none there. */
static size_t find_header_end(const char *buf, size_t from, size_t len)
{
    while (from < len) {
        const char *lf = memchr(buf + from, '\n', len - from);
        if (lf == NULL)
            return 0;
        size_t i = (size_t)(lf - buf) + 1;
        if (i < len && buf[i] == '\n')
            return i + 1;
        if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            return i + 2;
        from = i;
    }
    return 0;
}

static sw_frame_status_t frame_fully(sw_stream_framer_t *f, const char *buf, size_t len, size_t max_size,
                                     sw_frame_t *out)
{
    sw_frame_status_t st = sw_sip_frame(buf, len, true, max_size, out);
    /* the full framing reads the CR/LF prefix and the header section */
    size_t header = out->header_len ? out->header_len : len - out->skipped;
    f->bytes_examined += out->skipped + (header < max_size ? header : max_size);
    if (st == SW_FRAME_INCOMPLETE && out->total) {
        f->total = out->total;
    } else if (st == SW_FRAME_INCOMPLETE) {
        f->scanned = len - f->skipped; /* cannot happen (see find_header_end); stay linear anyway */
    } else {
        sw_stream_framer_reset(f);
    }
    return st;
}

sw_frame_status_t sw_sip_frame_stream(sw_stream_framer_t *f, const char *buf, size_t len, size_t max_size,
                                      sw_frame_t *out)
{
    memset(out, 0, sizeof *out);
    size_t skip = f->skipped;
    while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++;
    f->bytes_examined += skip - f->skipped;
    f->skipped = skip;
    out->skipped = skip;
    if (skip == len)
        return SW_FRAME_INCOMPLETE;
    if (f->total) {
        /* headers framed already: wait for the whole body */
        out->total = f->total;
        return len < f->total ? SW_FRAME_INCOMPLETE : frame_fully(f, buf, len, max_size, out);
    }
    /* a match ending past what was scanned may start two bytes before it */
    size_t from = skip + (f->scanned >= 2 ? f->scanned - 2 : 0);
    size_t end = find_header_end(buf, from, len);
    f->bytes_examined += (end ? end : len) - from;
    if (end == 0) {
        f->scanned = len - skip;
        if (len - skip < max_size)
            return SW_FRAME_INCOMPLETE;
    }
    return frame_fully(f, buf, len, max_size, out);
}

size_t sw_stream_drain(sw_stream_framer_t *f, const char *buf, size_t len, size_t max_size,
                       const sw_stream_sink_t *sink, void *ud, bool *must_close)
{
    size_t off = 0;
    *must_close = false;
    while (off < len) {
        const char *p = buf + off;
        size_t avail = len - off;
        /* RFC 5626 keep-alive: a double CRLF ping gets a single CRLF pong */
        if (avail >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
            sink->pong(ud);
            off += 4;
            sw_stream_framer_reset(f);
            continue;
        }
        if (avail >= 2 && memcmp(p, "\r\n", 2) == 0) {
            if (avail == 2)
                break; /* maybe the start of a ping */
            off += 2;
            sw_stream_framer_reset(f);
            continue;
        }
        sw_frame_t fr;
        sw_frame_status_t st = sw_sip_frame_stream(f, p, avail, max_size, &fr);
        if (st == SW_FRAME_INCOMPLETE) {
            if (fr.skipped) {
                /* stray CR/LF before a message belong to none: consumed, so
                 * they neither pile up nor count towards its size (else the
                 * size verdict would depend on how the bytes were read) */
                off += fr.skipped;
                avail -= fr.skipped;
                p += fr.skipped;
                sw_stream_framer_reset(f);
            }
            if (avail > max_size) {
                sink->framing_error(ud, p, avail, "message too large", true);
                *must_close = true;
            }
            break;
        }
        if (st == SW_FRAME_ERROR) {
            /* (the one reason that is a size limit, whichever check found it) */
            bool oversize = fr.error && strcmp(fr.error, "message too large") == 0;
            sink->framing_error(ud, p, avail, fr.error, oversize);
            *must_close = true;
            break;
        }
        off += fr.total;
        if (!sink->message(ud, p, &fr))
            break;
    }
    return off;
}
