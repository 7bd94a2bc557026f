/*
 * The call detail record and its formats.
 *
 * A cdr_record_t is what the cdr module builds from a finished call (one per
 * call, answered or not). This file turns it into:
 *   - a CSV line (RFC 4180), cdr_format_csv(), with a header line per file;
 *   - a VOS3000-style pipe-delimited line, cdr_format_vos();
 *   - a compact binary body for the store's journal, cdr_record_encode() and
 *     cdr_record_decode().
 * Every column, the attempts grammar and the end reason names are specified
 * in doc/modules/cdr-format.md; change both together.
 *
 * Pure C with no dependency on the switch: standard headers only. Nothing
 * here keeps state, so every function may run on any thread as long as one
 * record or buffer is not used by two threads at once.
 */
#ifndef CDR_RECORD_H
#define CDR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* End reasons. The values are those of SW_END_* in <sipswitch/module.h>
 * (that enum is only ever appended to); the names are the stable text written
 * in the CDR files. */
enum {
    CDR_END_NORMAL_CALLER = 1,
    CDR_END_NORMAL_CALLEE = 2,
    CDR_END_CANCELLED = 3,
    CDR_END_ALL_GATEWAYS_FAILED = 4,
    CDR_END_NO_ROUTE = 5,
    CDR_END_REJECTED_BY_SCRIPT = 6,
    CDR_END_INVITE_TIMEOUT = 7,
    CDR_END_SESSION_TIMER_EXPIRED = 8,
    CDR_END_MAX_DURATION_NO_TIMER = 9,
    CDR_END_AUTH_FAILED = 10,
    CDR_END_OVERLOAD = 11,
    CDR_END_SCRIPT_ERROR = 12,
    CDR_END_SHUTDOWN = 13,
    CDR_END_NO_ACK = 14,
    CDR_END_REJECTED_BY_MODULE = 15
};

/* Which side hung up; the values are those of sw_party_t. */
enum {
    CDR_PARTY_CALLER = 1,
    CDR_PARTY_CALLEE = 2,
    CDR_PARTY_SWITCH = 3
};

/* Limits applied when a record is encoded for the journal (and so to what
 * reaches the CDR files): a longer string is cut at CDR_MAX_STRING_BYTES,
 * attempts and custom fields beyond their maximum are dropped. They keep one
 * record well under CDR_MAX_ENCODED_BYTES whatever a script sets. */
#define CDR_MAX_STRING_BYTES 1024u
#define CDR_MAX_ATTEMPTS 128u
#define CDR_MAX_FIELDS 64u
#define CDR_MAX_ENCODED_BYTES (1024u * 1024u)

/* One INVITE sent to a routing gateway. Strings are owned by the record.
 * Every string and array of a record comes from malloc (api->alloc and
 * friends are malloc too) and is released by cdr_record_free(). */
typedef struct cdr_attempt {
    char *gateway;              /* routing gateway name */
    char *callee;               /* number sent to it */
    int code;                   /* final SIP code it gave; 0 when none (timeout, transport error) */
    char *outcome;              /* "response", "invite_timeout", "answered", ... (text chosen by the caller) */
    char *reason;               /* free text (reason phrase, Reason header); may be NULL */
    int64_t start_ms;           /* INVITE sent; Unix epoch ms, 0 = unknown */
    int64_t first_response_ms;  /* first response of any kind (100 excluded or not: the caller's choice); 0 = none */
    int64_t end_ms;             /* final response, timeout or cancel; 0 = unknown */
} cdr_attempt_t;

/* A custom field attached by Lua (call:cdr_set(name, value)). */
typedef struct cdr_field {
    char *name;
    char *value;
} cdr_field_t;

typedef struct cdr_record {
    uint64_t seq;               /* assigned by the store: monotonic, survives restarts; 0 until submitted */
    char *call_id;              /* the caller's Call-ID */
    char *caller_in;            /* caller number as received */
    char *callee_in;            /* callee number as received */
    char *caller_out;           /* caller number as sent to the final (or last attempted) gateway */
    char *callee_out;           /* callee number as sent to the final (or last attempted) gateway */
    char *source;               /* mapping gateway name, endpoint/account, or IP */
    char *source_ip;            /* address the INVITE came from */
    char *final_gateway;        /* gateway that answered; NULL when none did */
    int64_t setup_ms;           /* INVITE received; Unix epoch ms, 0 = did not happen */
    int64_t ring_ms;            /* first 180/183 relayed to the caller; 0 = none */
    int64_t answer_ms;          /* 200 relayed to the caller; 0 = not answered */
    int64_t end_ms;             /* call over (BYE, CANCEL, final failure); 0 = unknown */
    int64_t hold_ms;            /* talk time at the billing precision: cdr_hold_time() */
    int end_reason;             /* CDR_END_* (= SW_END_*) */
    int hung_up_by;             /* CDR_PARTY_*; 0 = unknown */
    int final_code;             /* SIP code the caller got (200 when answered) */
    cdr_attempt_t *attempts;    /* in the order they were sent */
    size_t n_attempts;
    cdr_field_t *fields;        /* custom fields, in the order first set */
    size_t n_fields;
    struct cdr_record *store_next; /* private to cdr_store.c (its queue link); leave NULL */
} cdr_record_t;

/* A growing byte buffer, always NUL-terminated once anything was appended.
 * Appends never fail loudly: when memory runs out the buffer sets `failed`,
 * ignores further appends, and the caller checks `failed` once at the end. */
typedef struct cdr_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} cdr_buf_t;

/* ---- buffer ------------------------------------------------------------- */

/* An empty buffer (no allocation yet). */
void cdr_buf_init(cdr_buf_t *b);
/* Frees the memory and leaves an empty buffer. */
void cdr_buf_free(cdr_buf_t *b);
/* Empties the buffer, keeping its memory, and clears `failed`. */
void cdr_buf_reset(cdr_buf_t *b);
/* Makes room for `extra` more bytes (plus the NUL). false (and `failed`) when out of memory. */
bool cdr_buf_reserve(cdr_buf_t *b, size_t extra);
void cdr_buf_append(cdr_buf_t *b, const void *data, size_t n);
void cdr_buf_append_str(cdr_buf_t *b, const char *s);   /* NULL appends nothing */
void cdr_buf_append_char(cdr_buf_t *b, char c);
void cdr_buf_printf(cdr_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- record ------------------------------------------------------------- */

/* A zeroed record; NULL when out of memory. Free with cdr_record_free(). */
cdr_record_t *cdr_record_new(void);

/* Frees every string and array of the record, and the record itself. NULL is accepted. */
void cdr_record_free(cdr_record_t *r);

/* Appends a zeroed attempt and returns it (the caller fills it with malloc'd
 * strings the record then owns); NULL when out of memory. The pointer is
 * valid until the next cdr_record_add_attempt() on the same record. */
cdr_attempt_t *cdr_record_add_attempt(cdr_record_t *r);

/* Sets custom field `name` to a copy of `value` (replacing an earlier value
 * of the same name; a NULL value removes the field). 0, or -1 when out of
 * memory (the record is unchanged then). */
int cdr_record_set_field(cdr_record_t *r, const char *name, const char *value);

/* The value of custom field `name`, or NULL. */
const char *cdr_record_field(const cdr_record_t *r, const char *name);

/* Talk time for billing: end - answer rounded UP to a multiple of
 * precision_ms, as VOS3000 bills every started unit (precision 50:
 * 1001 ms -> 1050, 1000 -> 1000). 0 when the call was not answered
 * (answer_ms 0), when end_ms is 0 or not after answer_ms. precision_ms <= 1
 * means to the millisecond. */
int64_t cdr_hold_time(int64_t answer_ms, int64_t end_ms, int precision_ms);

/* The stable name of an end reason ("normal_caller", ..., "no_ack"), or
 * "unknown" for any other value. Never NULL; static storage. */
const char *cdr_end_reason_name(int reason);

/* "caller", "callee", "switch", or "unknown" for any other value. */
const char *cdr_party_name(int party);

/* ---- CSV (RFC 4180) ----------------------------------------------------- */

/* Appends the header line: the fixed column names, then one column per
 * extra_columns[i] (written as given, quoted if needed), then "\r\n". */
void cdr_format_csv_header(const char *const *extra_columns, size_t n_extra, cdr_buf_t *out);

/* Appends one record as a line terminated by "\r\n": the fixed columns, then
 * for each extra_columns[i] the value of the record's custom field of that
 * name (empty when unset). Fields holding a comma, quote, CR or LF are quoted
 * with quotes doubled. */
void cdr_format_csv(const cdr_record_t *r, const char *const *extra_columns, size_t n_extra, cdr_buf_t *out);

/* Appends the attempts column's text (unquoted) for r: see the grammar in
 * doc/modules/cdr-format.md. Exposed for tests and the module's API. */
void cdr_format_attempts(const cdr_record_t *r, cdr_buf_t *out);

/* Appends an ISO 8601 UTC time with milliseconds ("2026-11-21T12:00:00.123Z"),
 * or nothing when ms <= 0. */
void cdr_format_iso_time(int64_t ms, cdr_buf_t *out);

/* ---- VOS3000-style pipe format ----------------------------------------- */

/* Appends one record as a '|'-separated line terminated by "\r\n": the
 * fixed fields, then the extra columns as in cdr_format_csv(). No quoting:
 * '|', CR, LF and other control characters in a value become a space. */
void cdr_format_vos(const cdr_record_t *r, const char *const *extra_columns, size_t n_extra, cdr_buf_t *out);

/* ---- binary encoding (the journal's record body) ----------------------- */

/* Appends r's binary encoding (with its seq) to out, applying the CDR_MAX_*
 * limits. Returns true when a limit cut something. */
bool cdr_record_encode(const cdr_record_t *r, cdr_buf_t *out);

/* Rebuilds a record from an encoding of exactly `len` bytes. NULL with errno
 * EINVAL when it is malformed (another version, lengths past the end,
 * trailing bytes), or ENOMEM when memory runs out. */
cdr_record_t *cdr_record_decode(const void *data, size_t len);

#endif
