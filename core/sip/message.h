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

/* Header names with an id of their own: the ones the core looks up, the ones
 * libosip2 parses into fields, and every name that has a compact form (RFC
 * 3261 7.3.3 and the extensions defining one), which gets the id of its long
 * form. Comparing ids replaces comparing names case-insensitively; a name
 * not listed here is SW_HDR_OTHER and is compared as text. */
typedef enum sw_hdr_id {
    SW_HDR_OTHER = 0,
    SW_HDR_ACCEPT,
    SW_HDR_ACCEPT_CONTACT,              /* a */
    SW_HDR_ACCEPT_ENCODING,
    SW_HDR_ACCEPT_LANGUAGE,
    SW_HDR_ALERT_INFO,
    SW_HDR_ALLOW,
    SW_HDR_ALLOW_EVENTS,                /* u */
    SW_HDR_AUTHENTICATION_INFO,
    SW_HDR_AUTHORIZATION,
    SW_HDR_CALL_ID,                     /* i */
    SW_HDR_CALL_INFO,
    SW_HDR_CONTACT,                     /* m */
    SW_HDR_CONTENT_ENCODING,            /* e */
    SW_HDR_CONTENT_LENGTH,              /* l */
    SW_HDR_CONTENT_TYPE,                /* c */
    SW_HDR_CSEQ,
    SW_HDR_ERROR_INFO,
    SW_HDR_EVENT,                       /* o */
    SW_HDR_EXPIRES,
    SW_HDR_FROM,                        /* f */
    SW_HDR_IDENTITY,                    /* y */
    SW_HDR_IDENTITY_INFO,               /* n */
    SW_HDR_INFO_PACKAGE,
    SW_HDR_MAX_FORWARDS,
    SW_HDR_MIME_VERSION,
    SW_HDR_MIN_SE,
    SW_HDR_PROXY_AUTHENTICATE,
    SW_HDR_PROXY_AUTHENTICATION_INFO,
    SW_HDR_PROXY_AUTHORIZATION,
    SW_HDR_PROXY_REQUIRE,
    SW_HDR_RACK,
    SW_HDR_RECORD_ROUTE,
    SW_HDR_REFER_TO,                    /* r */
    SW_HDR_REFERRED_BY,                 /* b */
    SW_HDR_REJECT_CONTACT,              /* j */
    SW_HDR_REQUEST_DISPOSITION,         /* d */
    SW_HDR_REQUIRE,
    SW_HDR_ROUTE,
    SW_HDR_RSEQ,
    SW_HDR_SERVER,
    SW_HDR_SESSION_EXPIRES,             /* x */
    SW_HDR_SUBJECT,                     /* s */
    SW_HDR_SUBSCRIPTION_STATE,
    SW_HDR_SUPPORTED,                   /* k */
    SW_HDR_TIMESTAMP,
    SW_HDR_TO,                          /* t */
    SW_HDR_UNSUPPORTED,
    SW_HDR_USER_AGENT,
    SW_HDR_VIA,                         /* v */
    SW_HDR_WWW_AUTHENTICATE,
} sw_hdr_id_t;

/* One header field of the message: the name as written (possibly a compact
 * form like "v") and the value with folding undone (each CRLF + whitespace run
 * becomes one SP) and leading/trailing whitespace trimmed. The value may hold
 * a NUL byte inside a quoted-pair (RFC 4475 intmeth), so value_len is the real
 * length; as a C string it reads up to the first NUL. Both are NUL-terminated
 * and belong to the message: change them only through the sw_msg_* calls. */
typedef struct sw_msg_hdr {
    char *name;
    char *value;
    size_t value_len;
    size_t name_len;
    sw_hdr_id_t id;                 /* sw_msg_header_id(name), set when the field is added */
    uint8_t owns;                   /* which texts were allocated apart from the message (message.c) */
    /* Set by the parser when the lines the value was cut from hold no control
     * character (below 0x20 or DEL) but HTAB, so that checks need not scan it
     * again; false says nothing (a field added or changed later, or one that
     * does hold one). */
    bool no_ctl;
} sw_msg_hdr_t;

/* Opaque to modules (sw_msg_t in module.h); defined here for the core.
 *
 * Two views of the headers:
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
 * `raw` always keeps the bytes that were received (NULL for a built message).
 *
 * A received message (sw_msg_parse) gets both views, libosip2 refusing it
 * makes the parse fail; except that a plain message (sip/plain.h: one whose
 * shape libosip2 surely accepts, most traffic) gets libosip2's view only
 * when something reads it or changes the message. sw_msg_header_add()/
 * remove()/set(), sw_msg_set_body() and sw_msg_set_ruri() change both views,
 * and libosip2 judges the new values.
 *
 * Built messages (sw_msg_new_request/response) are made for sending: the
 * start line is checked by the parser's own rules, and osip is only a cache,
 * NULL until something reads it (sw_msg_to_tag, sw_msg_cseq_method,
 * sw_msg_top_via_branch, sw_msg_method of a response, sw_msg_osip). It is
 * then made from the start line, the list and the body exactly as for a
 * received message, and every change to the message drops it. So building,
 * serialising and freeing a message never runs libosip2's message parser.
 * What sw_msg_header_add/set accept on a built message is checked by our own
 * rules (see there). For a fully parsed copy made from the bytes that would
 * be sent, use sw_msg_reparse(). */
struct sw_msg {
    struct osip_message *osip;      /* parsed message, owned (a cache for a built message) */
    char *raw;                      /* the exact bytes parsed (headers + body), owned, NUL-terminated */
    char *text;                     /* owned: the text the start line fields and parsed header fields point to */
    size_t raw_len;
    size_t body_offset;             /* raw + body_offset is the body (unless `body` is set) */
    size_t body_len;
    char *body;                     /* body given to sw_msg_set_body (owned, NUL added), or NULL */
    sw_msg_origin_t origin;
    bool replied;                   /* a final response was sent for this request */
    char *account;                  /* who a module authenticated it as (api->msg_set_account), owned, or NULL */
    bool built;                     /* made by sw_msg_new_request/response (see above) */
    bool folded;                    /* parsed: some header line was folded */
    bool header_nul;                /* parsed: a NUL byte sits in some header value */
    /* A received message libosip2 surely accepts (sip/plain.h) gets its view
     * only when something asks for it (sw_msg_osip, or a change to the
     * message); meanwhile these are the To tag, top Via branch and CSeq
     * method read from it, in plain_ids (NULL when absent). */
    bool plain;
    const char *plain_to_tag, *plain_branch, *plain_cseq_method;
    char plain_ids[128];
    /* start line, as received */
    char *method;                   /* request method; NULL for responses */
    char *ruri;                     /* Request-URI text; NULL for responses */
    char *ruri_scheme;              /* scheme of ruri as written; NULL for responses */
    char *ruri_owned;               /* allocation holding ruri and ruri_scheme once sw_msg_set_ruri changed them */
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
/* The same by id, for the core's hot paths: the i-th field whose id is `id`
 * (a known header, not SW_HDR_OTHER), without working out a name's id. */
const sw_msg_hdr_t *sw_msg_header_field(const sw_msg_t *m, sw_hdr_id_t id, size_t i);
const char *sw_msg_header_by_id(const sw_msg_t *m, sw_hdr_id_t id, size_t i);
/* One entry per header field line as received (a comma list inside one line
 * is one entry). Appends a header at the end: 0, or -1 when the name is not
 * a token, the value holds CR or LF, the message already has
 * SW_MSG_MAX_HEADERS (what we send must parse here too), or the value is
 * refused. On a received message libosip2 judges the value (e.g. a second
 * From). On a built message our own checks do, without libosip2: they
 * refuse what libosip2 refuses most often and nothing it accepts, namely a
 * second From, To, Call-ID, CSeq, Content-Type or Content-Length; a CSeq
 * without a space; a From or To made of nothing but token characters and
 * spaces, with an unclosed quoted display name, or with a '<' and no '>'
 * after it; a Via without two '/'; a Content-Type without '/'. An empty
 * value is accepted and counts for nothing, as in libosip2. */
int sw_msg_header_add(sw_msg_t *m, const char *name, const char *value);
/* Removes every field with that name: returns how many. */
int sw_msg_header_remove(sw_msg_t *m, const char *name);
/* Replaces every field with that name by one with `value`, at the place of
 * the first (appended when there was none). 0, or -1 with the message
 * unchanged when the name or value is invalid or refused (by libosip2 or by
 * the checks of sw_msg_header_add for a built message, a second field apart)
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

/* The id of the header name name[0..name_len) (not NUL-terminated),
 * case-insensitive, compact forms understood; SW_HDR_OTHER for a name
 * without one. Two names are the same header when their ids are equal and
 * not SW_HDR_OTHER, or both are SW_HDR_OTHER and the names are equal
 * ignoring case (sw_msg_header_name_is). */
sw_hdr_id_t sw_msg_header_id(const char *name, size_t name_len);

/* An RFC 3261 25.1 token character (header names, methods, parameters). */
bool sw_msg_is_token_char(unsigned char c);

/* libosip2's view of m (see struct sw_msg), made now for a built message
 * that has none yet. NULL when libosip2 refuses what was built or memory
 * runs out. Only message.c and tests look inside. */
struct osip_message *sw_msg_osip(const sw_msg_t *m);

#endif
