/* sw_msg_t: one SIP message as the rest of the core sees it. libosip2 stays
 * behind this file and message.c; nothing else includes osipparser2. */
#ifndef SW_SIP_MESSAGE_H
#define SW_SIP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipswitch/module.h"

struct osip_message;
struct sw_conn;

/* Where a message came from and how to answer it. Filled by the transport. */
typedef struct sw_msg_origin {
    sw_transport_t transport;
    struct sockaddr_storage src;    /* peer address */
    socklen_t src_len;
    char src_text[64];              /* "ip:port" ("[v6]:port") */
    char src_ip[48];                /* "ip" without port or brackets */
    uint16_t src_port;
    uint64_t socket_id;             /* local listening socket id */
    struct sw_conn *conn;           /* TCP connection, or NULL for UDP */
} sw_msg_origin_t;

/* One header field of the message: the name as written (possibly a compact
 * form like "v") and the value with folding undone (each CRLF + whitespace run
 * becomes one SP) and leading/trailing whitespace trimmed. The value may hold
 * a NUL byte inside a quoted-pair (RFC 4475 intmeth), so value_len is the real
 * length; as a C string it reads up to the first NUL. */
typedef struct sw_msg_hdr {
    char *name;
    char *value;
    size_t value_len;
} sw_msg_hdr_t;

/* Opaque to modules (sw_msg_t in module.h); defined here for the core.
 *
 * Two views of the headers are kept in step:
 *  - hdrs: every header field in order, text as received (unfolded). It is
 *    authoritative for sw_msg_header()/sw_msg_header_count() and for the
 *    header text copied into responses; unknown headers stay byte-for-byte.
 *  - osip: libosip2's parse, for the parsed meaning (URIs, params, tags).
 *    libosip2 only sees the first To/From/Call-ID/CSeq/Content-Type/
 *    Content-Length/MIME-Version (sanity rejects duplicates of the first four;
 *    framing rejects several Content-Length),
 *    and osip->req_uri is NULL when the Request-URI scheme is not sip, sips or
 *    tel (sanity answers those 416). The body is handed to libosip2 as one
 *    opaque body (multipart is not split).
 * sw_msg_header_add()/remove()/set() and sw_msg_set_body() change both;
 * `raw` always keeps the bytes that were received (NULL for a built message).
 *
 * Built messages (sw_msg_new_request/response) are made the way parsed ones
 * are: the start line is checked by the parser's own rules and handed to
 * libosip2, and each header added goes through the same calls as above, so
 * every accessor works on them as on a parsed message. What libosip2's
 * struct holds for a built message: the start line (method, req_uri — NULL
 * for schemes other than sip/sips/tel, as when parsing —, version, status,
 * reason), every header added since, the body and its Content-Type, and a
 * Content-Length that set_body keeps up to date (osip->message, libosip2's
 * cached text, is never filled: serialise with sw_msg_serialize). For a
 * fully parsed copy made from the bytes that would be sent, use
 * sw_msg_reparse(). */
struct sw_msg {
    struct osip_message *osip;      /* parsed message, owned */
    char *raw;                      /* the exact bytes parsed (headers + body), owned, NUL-terminated */
    size_t raw_len;
    size_t body_offset;             /* raw + body_offset is the body (unless `body` is set) */
    size_t body_len;
    char *body;                     /* body given to sw_msg_set_body (owned, NUL added), or NULL */
    sw_msg_origin_t origin;
    bool replied;                   /* a final response was sent for this request */
    /* start line, as received */
    char *method;                   /* request method; NULL for responses */
    char *ruri;                     /* Request-URI text; NULL for responses */
    char *ruri_scheme;              /* scheme of ruri as written; NULL for responses */
    char *version;                  /* "SIP/2.0" as written */
    int status;                     /* response status code; 0 for requests */
    char *reason;                   /* response reason phrase (may be ""); NULL for requests */
    /* header fields in order (see above) */
    sw_msg_hdr_t *hdrs;
    size_t hdr_count;
    size_t hdr_cap;
};

/* More header fields than this make a message malformed: real messages
 * carry a few dozen, and libosip2's lists grow in quadratic time. */
#define SW_MSG_MAX_HEADERS 512

/* Parses exactly `len` bytes (one framed message: see framing in sip.h; the
 * bytes need not be NUL-terminated and may contain NULs in the body).
 * The start line is checked strictly (single SPs, "SIP/x.y", a Request-URI
 * with a scheme, a 3-digit status code); header lines must be "token :
 * value" with folding allowed, at most SW_MSG_MAX_HEADERS. Returns NULL and sets *err (if err is not
 * NULL) to a static reason on failure. */
sw_msg_t *sw_msg_parse(const char *buf, size_t len, const char **err);
void sw_msg_free(sw_msg_t *m);

bool sw_msg_is_request(const sw_msg_t *m);
const char *sw_msg_method(const sw_msg_t *m);         /* request method, or CSeq method of a response */
int sw_msg_status(const sw_msg_t *m);                 /* 0 for requests */
const char *sw_msg_call_id(const sw_msg_t *m);        /* NULL if absent */
const char *sw_msg_cseq_method(const sw_msg_t *m);
const char *sw_msg_ruri(const sw_msg_t *m);           /* text, cached; NULL for responses */
const char *sw_msg_ruri_scheme(const sw_msg_t *m);
const char *sw_msg_to_tag(const sw_msg_t *m);         /* NULL if no tag */
const char *sw_msg_top_via_branch(const sw_msg_t *m); /* NULL if none */
/* Generic header access by name (case-insensitive; compact forms "v","f","t",
 * "i","m","l","c","k","s","e","o","u","r","b" understood) over every header the
 * message carries, including the ones libosip2 parses into fields. */
const char *sw_msg_header(const sw_msg_t *m, const char *name, size_t i);
size_t sw_msg_header_count(const sw_msg_t *m, const char *name);
/* One entry per header field line as received (a comma list inside one line
 * is one entry). Appends a header at the end: 0, or -1 when the name or value
 * is invalid, libosip2 refuses it (e.g. a second From), or the message
 * already has SW_MSG_MAX_HEADERS (what we send must parse here too). */
int sw_msg_header_add(sw_msg_t *m, const char *name, const char *value);
/* Removes every field with that name: returns how many. */
int sw_msg_header_remove(sw_msg_t *m, const char *name);
/* Replaces every field with that name by one with `value`, at the place of
 * the first (appended when there was none). 0, or -1 with the message
 * unchanged when the name or value is invalid or libosip2 refuses the value
 * (should memory run out half-way, the header is removed from both views).
 * Content-Length may be set but sw_msg_serialize writes the real length. */
int sw_msg_header_set(sw_msg_t *m, const char *name, const char *value);
/* The body (never NULL for a message: "" with *len 0 when there is none;
 * may hold NUL bytes, and a NUL follows it). */
const char *sw_msg_body(const sw_msg_t *m, size_t *len);
const char *sw_msg_version(const sw_msg_t *m);        /* "SIP/2.0" as written */
const char *sw_msg_reason(const sw_msg_t *m);         /* response reason phrase; NULL for requests */

/* ---- building messages (B-legs, relays, responses) ---------------------- */

/* An empty request "method ruri SIP/2.0" (no header, no body) to fill with
 * sw_msg_header_add/set and sw_msg_set_body. NULL when method is not a token
 * or ruri is not a URI with a scheme and without spaces or control
 * characters (the parser's rules for a received request line), or libosip2
 * cannot parse a sip/sips/tel ruri. */
sw_msg_t *sw_msg_new_request(const char *method, const char *ruri);

/* An empty response "SIP/2.0 code reason". code 100-699; reason NULL gives
 * the RFC 3261 phrase for the code ("" for a code it does not name); a
 * reason with control characters (CR, LF, ...) gives NULL. The CSeq added
 * later gives sw_msg_method(). */
sw_msg_t *sw_msg_new_response(int code, const char *reason);

/* Replaces the Request-URI of a request (same rules as sw_msg_new_request).
 * 0, or -1 with the message unchanged. */
int sw_msg_set_ruri(sw_msg_t *m, const char *ruri);

/* Replaces the body: `len` bytes (binary allowed) of type content_type,
 * which must then be a valid Content-Type value. body NULL or len 0 removes
 * the body and the Content-Type header. Content-Length headers of the list
 * are updated to the new length (one is added when a body is set and there
 * is none), so sw_msg_header(m, "Content-Length", 0) reads true. 0, or -1:
 * unchanged when content_type is missing or invalid; out of memory may
 * leave the new Content-Type with the old body. */
int sw_msg_set_body(sw_msg_t *m, const char *content_type, const char *body, size_t len);

/* The message as bytes to send: start line, every header of the list in
 * order (the list is authoritative; values as stored, one line each), one
 * Content-Length with the real length of the body (at the place of the
 * list's first Content-Length, whose value is ignored, further ones
 * dropped; after the last header when the list has none), CRLF CRLF, the
 * body. Returns a malloc'd buffer (a NUL follows it, not counted in *len)
 * or NULL when out of memory. sw_msg_parse() of the result gives the same
 * start line, headers (plus the Content-Length added, if any) and body. */
char *sw_msg_serialize(const sw_msg_t *m, size_t *len);

/* A new message parsed from sw_msg_serialize(m): every view exactly as for a
 * received message (raw included), origin copied. NULL and *err (if not
 * NULL) set on failure. */
sw_msg_t *sw_msg_reparse(const sw_msg_t *m, const char **err);

/* True when the header name name[0..name_len) (not NUL-terminated) is the
 * header `wanted`; case-insensitive, compact forms understood either way
 * ("v" matches "Via"). */
bool sw_msg_header_name_is(const char *name, size_t name_len, const char *wanted);

#endif
