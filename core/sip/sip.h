/* SIP front-door building blocks: framing a byte stream or a datagram into
 * messages, the sanity checks every request passes before anything else, and
 * building responses. */
#ifndef SW_SIP_SIP_H
#define SW_SIP_SIP_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/message.h"

/* ---- framing ------------------------------------------------------------- */

typedef enum {
    SW_FRAME_OK = 0,        /* one message: bytes [skipped, total) */
    SW_FRAME_INCOMPLETE,    /* stream: need more bytes */
    SW_FRAME_ERROR          /* malformed framing: answer 400 if possible; stream: close */
} sw_frame_status_t;

/* The message found is buf[skipped .. total): parse it with
 * sw_msg_parse(buf + skipped, total - skipped, &err); a stream consumes
 * total bytes. */
typedef struct sw_frame {
    size_t header_len;      /* start-line + headers + the empty line */
    size_t body_len;        /* from Content-Length (datagram: rest when absent) */
    size_t total;           /* skipped + header_len + body_len: end of the message in buf */
    size_t skipped;         /* leading CR/LF bytes before the message (keep-alives) */
    size_t header_lines;    /* header fields (continuation lines not counted) up to the empty line */
    const char *error;      /* SW_FRAME_ERROR: static reason for the 400 */
} sw_frame_t;

/* Frames one message at the start of buf (never reads past len; buf needs no
 * NUL). Header lines end in CRLF or a bare LF; header names are matched in any
 * case, "l" for Content-Length included, and folded lines belong to the header
 * above them.
 * `stream` is true for TCP: a Content-Length is then required (ERROR without
 * one), and a message not complete yet (no empty line, or a short body) is
 * INCOMPLETE. For a datagram, a missing end of headers or a body shorter than
 * Content-Length is an ERROR, a missing Content-Length means the body is the
 * rest, and bytes past Content-Length are ignored (RFC 3261 18.3).
 * Several Content-Length headers (even equal), negative, non-numeric or
 * overflowing values are ERRORs. header_len + body_len above max_size, or no
 * end of headers within max_size bytes, is an ERROR ("message too large").
 * A buffer of CR/LF bytes only is INCOMPLETE with skipped = len, stream or
 * datagram: keep-alives, nothing to parse or answer.
 * On INCOMPLETE with the headers complete, total tells how many bytes the
 * message will need. */
sw_frame_status_t sw_sip_frame(const char *buf, size_t len, bool stream, size_t max_size,
                               sw_frame_t *out);

/* ---- sanity checks -------------------------------------------------------- */

typedef struct sw_sanity {
    int code;               /* 0 = passes; > 0: the response code to send;
                               -1: drop silently (an invalid response, any failing ACK) */
    const char *reason;     /* static reason phrase for the response (or why dropped); NULL if passes */
    char extra[512];        /* extra header lines for the response ("Unsupported: ...\r\n"), "" if none */
} sw_sanity_t;

/* Checks a parsed request as a UAS (RFC 3261 8.2), in this order:
 *   -1   a From or To that is blank, holds a control character, is a list,
 *        has whitespace inside its URI, a tel URI whose number is not phone
 *        digits (RFC 3966), or an empty or junk-followed parameter (every
 *        answer would echo it)
 *   505  SIP-Version other than SIP/2.0
 *   400  missing Via/From/To/Call-ID/CSeq; more than one To/From/Call-ID/
 *        CSeq/Max-Forwards
 *   -1   a control character (outside quoted-pairs) in Via, Call-ID or CSeq,
 *        a top Via without "name/version/transport host"; 400 for a control
 *        character in any other header; 400 for a Call-ID with whitespace or ','
 *   400  CSeq not "number method" with number <= 2^32-1;
 *        Max-Forwards not a number <= 255 (a missing one is fine: RFC 2543)
 *   501  unknown method (sw_sip_method_known; even when CSeq differs); the
 *        caller adds Allow: sw_sip_allowed_methods
 *   400  CSeq method differs from the request method
 *   416  Request-URI scheme not sip, sips or tel
 *   400  headers ("?...") in a SIP Request-URI; a SIP Request-URI that is not
 *        scheme ":" [userinfo "@"] host [":" port] *(";" name ["=" value])
 *        with valid %HH escapes (a raw '#' in the user is let through); a tel
 *        Request-URI whose number is not phone digits; top Via branch exactly
 *        "z9hG4bK"; '?' in a From/To/Contact URI outside <>; REGISTER whose
 *        To is not a SIP/SIPS URI
 *   483  Max-Forwards 0, except OPTIONS (answered by the switch itself)
 *   420  Require with a tag not in sw_sip_supported_tags, except CANCEL/ACK;
 *        extra = "Unsupported: <tags>\r\n" (Proxy-Require is ignored: UAS)
 *   415  INVITE body that is neither application/sdp nor multipart (any subtype) with an
 *        application/sdp part; extra = "Accept: application/sdp\r\n"
 *        (400 for a body without Content-Type)
 *   406  INVITE with Accept values of which none allows application/sdp
 *        (an empty Accept is ignored); extra = "Warning: 399 ...\r\n"
 * Any failure of an ACK gives -1: an ACK is never answered.
 * Responses are never answered either: code 0 when well formed (SIP/2.0,
 * status 100..699, the five headers above present and single, valid CSeq),
 * else -1 with a reason for the log. */
void sw_sip_sanity_check(const sw_msg_t *m, sw_sanity_t *out);

/* Option tags the switch understands in Require (comma list for Supported). */
extern const char sw_sip_supported_tags[];
/* Methods the switch accepts (comma list for Allow). */
extern const char sw_sip_allowed_methods[];
bool sw_sip_method_known(const char *method);

/* ---- responses ------------------------------------------------------------ */

/* Builds a response to a parsed request: Via headers copied in order
 * (received=<src_ip> added to the top one when its sent-by host is not the
 * source address or it has a bare rport, which gets rport=<src_port>; nothing
 * added when req->origin.src_ip is empty), From, To (";tag=<to_tag>" added
 * when it has no tag and code > 100; a random tag when to_tag is NULL),
 * Call-ID, CSeq, Server, the extra header lines ("Name: value\r\n" each),
 * Content-Length: 0. Header values are the received text, unfolded; names
 * are written in full form. reason NULL (or holding CR/LF) means
 * sw_sip_reason_phrase(code). Returns a malloc'd, NUL-terminated buffer and
 * its length, or NULL (not a request, code outside 100..699, no memory). */
char *sw_sip_build_reply(const sw_msg_t *req, int code, const char *reason, const char *to_tag,
                         const char *extra_headers, size_t *len);

/* The same with a body: Content-Type (left out when NULL or empty, or when
 * it holds CR/LF) and Content-Length: body_len, then the body bytes. With no
 * body and no content type the result is exactly sw_sip_build_reply's. */
char *sw_sip_build_reply_body(const sw_msg_t *req, int code, const char *reason, const char *to_tag,
                              const char *extra_headers, const char *content_type, const char *body,
                              size_t body_len, size_t *len);

/* What every response to one request copies from it, taken once so a
 * transaction can answer later without keeping the parsed request: the Via
 * lines (received/rport filled in as above), From, To, Call-ID and CSeq,
 * each a "Name: value\r\n" line, in that order. */
typedef struct sw_sip_reply_base {
    char *text;                 /* malloc'd, NUL-terminated */
    size_t len;
    bool has_to;                /* the request had a To */
    size_t to_end;              /* where the To value ends in text: a tag goes there */
    bool to_has_tag;            /* the request's To has a tag already (kept alone) */
} sw_sip_reply_base_t;

/* 0, or -1 when req is not a request or memory ran out. */
int sw_sip_reply_base_init(const sw_msg_t *req, sw_sip_reply_base_t *base);
void sw_sip_reply_base_free(sw_sip_reply_base_t *base);
/* A response from a base, with the same rules as sw_sip_build_reply_body
 * (To tag added when code > 100 and the request's To had none; a random one
 * when to_tag is NULL or empty). NULL on a bad code or no memory. */
char *sw_sip_reply_from_base(const sw_sip_reply_base_t *base, int code, const char *reason, const char *to_tag,
                             const char *extra_headers, const char *content_type, const char *body,
                             size_t body_len, size_t *len);

/* Builds a response for bytes that could not be framed or parsed, from the
 * raw header lines: every Via and the first From, To, Call-ID and CSeq
 * (compact forms too), copied verbatim with their continuation lines; then
 * Server and Content-Length: 0. Only the header section of buf[0..buflen) is
 * read. NULL when one of those headers is missing, or the start line is a
 * response or an ACK (those are dropped). Send it to origin->src (UDP) or
 * over the connection. `origin` is not used yet. */
char *sw_sip_build_reply_raw(const char *buf, size_t buflen, const sw_msg_origin_t *origin,
                             int code, const char *reason, size_t *len);

/* Where to send a response to a request (RFC 3261 18.2.2 with RFC 3581
 * rport), from req->origin: TCP/TLS: origin.src as it is (answer over the
 * connection). UDP: the source IP (maddr is ignored) with the source port
 * when the top Via has rport, else the Via sent-by port, else 5060. */
void sw_sip_reply_destination(const sw_msg_t *req, struct sockaddr_storage *addr, socklen_t *addr_len);

/* Where a response to req goes, honouring the core's force_rport: with it
 * (or over TCP/TLS) the source address as it is; without it on UDP,
 * sw_sip_reply_destination. */
void sw_sip_response_target(const sw_msg_t *req, bool force_rport, struct sockaddr_storage *addr,
                            socklen_t *addr_len);

/* Reason phrase for a status code ("Not Found"); a generic one of the class
 * for unlisted codes. */
const char *sw_sip_reason_phrase(int code);

#endif
