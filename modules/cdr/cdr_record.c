/*
 * The call detail record and its formats (cdr_record.h). The column lists
 * here and in doc/modules/cdr-format.md must stay in step.
 */
/* flock, fdatasync, gmtime_r and friends whatever -std the build picks */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "cdr_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- buffer ------------------------------------------------------------- */

void cdr_buf_init(cdr_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

void cdr_buf_free(cdr_buf_t *b)
{
    free(b->data);
    cdr_buf_init(b);
}

void cdr_buf_reset(cdr_buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data != NULL)
        b->data[0] = '\0';
}

bool cdr_buf_reserve(cdr_buf_t *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *bigger = realloc(b->data, cap);
    if (bigger == NULL) {
        b->failed = true;
        return false;
    }
    b->data = bigger;
    b->cap = cap;
    return true;
}

void cdr_buf_append(cdr_buf_t *b, const void *data, size_t n)
{
    if (!cdr_buf_reserve(b, n))
        return;
    if (n != 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cdr_buf_append_str(cdr_buf_t *b, const char *s)
{
    if (s != NULL)
        cdr_buf_append(b, s, strlen(s));
}

void cdr_buf_append_char(cdr_buf_t *b, char c)
{
    cdr_buf_append(b, &c, 1);
}

void cdr_buf_printf(cdr_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[128];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        cdr_buf_append(b, small, (size_t)n);
        return;
    }
    if (!cdr_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- record ------------------------------------------------------------- */

cdr_record_t *cdr_record_new(void)
{
    return calloc(1, sizeof(cdr_record_t));
}

static void attempt_clear(cdr_attempt_t *a)
{
    free(a->gateway);
    free(a->callee);
    free(a->outcome);
    free(a->reason);
}

void cdr_record_free(cdr_record_t *r)
{
    if (r == NULL)
        return;
    free(r->call_id);
    free(r->caller_in);
    free(r->callee_in);
    free(r->caller_out);
    free(r->callee_out);
    free(r->source);
    free(r->source_ip);
    free(r->final_gateway);
    for (size_t i = 0; i < r->n_attempts; i++)
        attempt_clear(&r->attempts[i]);
    free(r->attempts);
    for (size_t i = 0; i < r->n_fields; i++) {
        free(r->fields[i].name);
        free(r->fields[i].value);
    }
    free(r->fields);
    free(r);
}

cdr_attempt_t *cdr_record_add_attempt(cdr_record_t *r)
{
    cdr_attempt_t *more = realloc(r->attempts, (r->n_attempts + 1) * sizeof *more);
    if (more == NULL)
        return NULL;
    r->attempts = more;
    cdr_attempt_t *a = &more[r->n_attempts++];
    memset(a, 0, sizeof *a);
    return a;
}

static char *copy_string(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

int cdr_record_set_field(cdr_record_t *r, const char *name, const char *value)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < r->n_fields; i++) {
        if (strcmp(r->fields[i].name, name) != 0)
            continue;
        if (value == NULL) {
            free(r->fields[i].name);
            free(r->fields[i].value);
            memmove(&r->fields[i], &r->fields[i + 1], (r->n_fields - i - 1) * sizeof r->fields[0]);
            r->n_fields--;
            return 0;
        }
        char *copy = copy_string(value);
        if (copy == NULL)
            return -1;
        free(r->fields[i].value);
        r->fields[i].value = copy;
        return 0;
    }
    if (value == NULL)
        return 0;
    char *name_copy = copy_string(name);
    char *value_copy = copy_string(value);
    cdr_field_t *more = NULL;
    if (name_copy != NULL && value_copy != NULL)
        more = realloc(r->fields, (r->n_fields + 1) * sizeof *more);
    if (more == NULL) {
        free(name_copy);
        free(value_copy);
        return -1;
    }
    r->fields = more;
    more[r->n_fields].name = name_copy;
    more[r->n_fields].value = value_copy;
    r->n_fields++;
    return 0;
}

const char *cdr_record_field(const cdr_record_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].name != NULL && strcmp(r->fields[i].name, name) == 0)
            return r->fields[i].value;
    return NULL;
}

int64_t cdr_hold_time(int64_t answer_ms, int64_t end_ms, int precision_ms)
{
    if (answer_ms <= 0 || end_ms <= answer_ms)
        return 0;
    int64_t talk = end_ms - answer_ms;
    if (precision_ms <= 1)
        return talk;
    int64_t units = talk / precision_ms + (talk % precision_ms != 0);
    return units * precision_ms;
}

static const char *const end_reason_names[] = {
    [CDR_END_NORMAL_CALLER] = "normal_caller",
    [CDR_END_NORMAL_CALLEE] = "normal_callee",
    [CDR_END_CANCELLED] = "cancelled",
    [CDR_END_ALL_GATEWAYS_FAILED] = "all_gateways_failed",
    [CDR_END_NO_ROUTE] = "no_route",
    [CDR_END_REJECTED_BY_SCRIPT] = "rejected_by_script",
    [CDR_END_INVITE_TIMEOUT] = "invite_timeout",
    [CDR_END_SESSION_TIMER_EXPIRED] = "session_timer_expired",
    [CDR_END_MAX_DURATION_NO_TIMER] = "max_duration_no_timer",
    [CDR_END_AUTH_FAILED] = "auth_failed",
    [CDR_END_OVERLOAD] = "overload",
    [CDR_END_SCRIPT_ERROR] = "script_error",
    [CDR_END_SHUTDOWN] = "shutdown",
    [CDR_END_NO_ACK] = "no_ack",
    [CDR_END_REJECTED_BY_MODULE] = "rejected_by_module",
};

const char *cdr_end_reason_name(int reason)
{
    size_t n = sizeof end_reason_names / sizeof end_reason_names[0];
    if (reason <= 0 || (size_t)reason >= n || end_reason_names[reason] == NULL)
        return "unknown";
    return end_reason_names[reason];
}

const char *cdr_party_name(int party)
{
    switch (party) {
    case CDR_PARTY_CALLER:
        return "caller";
    case CDR_PARTY_CALLEE:
        return "callee";
    case CDR_PARTY_SWITCH:
        return "switch";
    default:
        return "unknown";
    }
}

/* ---- shared pieces ------------------------------------------------------ */

/* Splits epoch ms into a UTC calendar time; false for ms <= 0 or a time
 * gmtime cannot represent. */
static bool utc_time(int64_t ms, struct tm *tm, int *millis)
{
    if (ms <= 0)
        return false;
    time_t seconds = (time_t)(ms / 1000);
    if (gmtime_r(&seconds, tm) == NULL)
        return false;
    *millis = (int)(ms % 1000);
    return true;
}

void cdr_format_iso_time(int64_t ms, cdr_buf_t *out)
{
    struct tm tm;
    int millis;
    if (!utc_time(ms, &tm, &millis))
        return;
    cdr_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

/* "YYYY-MM-DD HH:MM:SS" UTC, milliseconds dropped (VOS3000 files carry whole seconds). */
static void format_vos_time(int64_t ms, cdr_buf_t *out)
{
    struct tm tm;
    int millis;
    if (!utc_time(ms, &tm, &millis))
        return;
    cdr_buf_printf(out, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec);
}

/* One element of the attempts list: ':' and ';' separate elements and '%'
 * escapes, so those three and control characters are written as %XX. */
static void append_attempt_text(cdr_buf_t *out, const char *s)
{
    if (s == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == ':' || *p == ';' || *p == '%' || *p < 0x20 || *p == 0x7f)
            cdr_buf_printf(out, "%%%02X", *p);
        else
            cdr_buf_append_char(out, (char)*p);
    }
}

/* A delay "<n>ms" between two epoch times, or nothing when either is unknown. */
static void append_delay(cdr_buf_t *out, int64_t from_ms, int64_t to_ms)
{
    if (from_ms > 0 && to_ms > 0 && to_ms >= from_ms)
        cdr_buf_printf(out, "%" PRId64 "ms", to_ms - from_ms);
}

void cdr_format_attempts(const cdr_record_t *r, cdr_buf_t *out)
{
    for (size_t i = 0; i < r->n_attempts; i++) {
        const cdr_attempt_t *a = &r->attempts[i];
        if (i > 0)
            cdr_buf_append_char(out, ';');
        append_attempt_text(out, a->gateway);
        cdr_buf_printf(out, ":%d:", a->code);
        append_attempt_text(out, a->outcome);
        cdr_buf_append_char(out, ':');
        append_delay(out, a->start_ms, a->end_ms);
        cdr_buf_append_char(out, ':');
        append_delay(out, a->start_ms, a->first_response_ms);
    }
}

/* ---- CSV ---------------------------------------------------------------- */

/* The fixed CSV columns, in order (doc/modules/cdr-format.md). */
static const char *const csv_columns[] = {
    "seq", "call_id", "caller_in", "callee_in", "caller_out", "callee_out", "source", "source_ip",
    "final_gateway", "setup_time", "ring_time", "answer_time", "end_time", "hold_ms", "end_reason",
    "end_reason_code", "hung_up_by", "final_code", "attempt_count", "attempts",
};

static void csv_field(cdr_buf_t *out, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        cdr_buf_append(out, s, n);
        return;
    }
    cdr_buf_append_char(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            cdr_buf_append(out, s + start, i + 1 - start); /* includes this quote... */
            cdr_buf_append_char(out, '"');                 /* ...and doubles it */
            start = i + 1;
        }
    }
    cdr_buf_append(out, s + start, n - start);
    cdr_buf_append_char(out, '"');
}

static void csv_string(cdr_buf_t *out, const char *s)
{
    if (s != NULL)
        csv_field(out, s, strlen(s));
}

void cdr_format_csv_header(const char *const *extra_columns, size_t n_extra, cdr_buf_t *out)
{
    size_t n_fixed = sizeof csv_columns / sizeof csv_columns[0];
    for (size_t i = 0; i < n_fixed; i++) {
        if (i > 0)
            cdr_buf_append_char(out, ',');
        cdr_buf_append_str(out, csv_columns[i]);
    }
    for (size_t i = 0; i < n_extra; i++) {
        cdr_buf_append_char(out, ',');
        csv_string(out, extra_columns[i]);
    }
    cdr_buf_append(out, "\r\n", 2);
}

/* Columns whose text is built first (times, the attempts list) go through a
 * scratch buffer so quoting sees the whole value. Times never need quoting,
 * but the attempts list may (a comma in a gateway name). */
void cdr_format_csv(const cdr_record_t *r, const char *const *extra_columns, size_t n_extra, cdr_buf_t *out)
{
    cdr_buf_printf(out, "%" PRIu64 ",", r->seq);
    const char *strings[] = {r->call_id, r->caller_in, r->callee_in, r->caller_out,
                             r->callee_out, r->source, r->source_ip, r->final_gateway};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        csv_string(out, strings[i]);
        cdr_buf_append_char(out, ',');
    }
    const int64_t times[] = {r->setup_ms, r->ring_ms, r->answer_ms, r->end_ms};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        cdr_format_iso_time(times[i], out);
        cdr_buf_append_char(out, ',');
    }
    cdr_buf_printf(out, "%" PRId64 ",%s,%d,%s,%d,%zu,", r->hold_ms, cdr_end_reason_name(r->end_reason), r->end_reason,
                   cdr_party_name(r->hung_up_by), r->final_code, r->n_attempts);
    cdr_buf_t attempts;
    cdr_buf_init(&attempts);
    cdr_format_attempts(r, &attempts);
    if (attempts.failed)
        out->failed = true;
    else if (attempts.len != 0)
        csv_field(out, attempts.data, attempts.len);
    cdr_buf_free(&attempts);
    for (size_t i = 0; i < n_extra; i++) {
        cdr_buf_append_char(out, ',');
        csv_string(out, cdr_record_field(r, extra_columns[i]));
    }
    cdr_buf_append(out, "\r\n", 2);
}

/* ---- VOS3000-style pipe format ----------------------------------------- */

/* The pipe format cannot quote: a separator or line break inside a value
 * would shift every later field for the importer, so they become spaces. */
static void vos_sanitise_from(cdr_buf_t *out, size_t start)
{
    if (out->failed)
        return;
    for (size_t i = start; i < out->len; i++) {
        unsigned char c = (unsigned char)out->data[i];
        if (c == '|' || c < 0x20 || c == 0x7f)
            out->data[i] = ' ';
    }
}

static void vos_string(cdr_buf_t *out, const char *s)
{
    size_t start = out->len;
    cdr_buf_append_str(out, s);
    vos_sanitise_from(out, start);
    cdr_buf_append_char(out, '|');
}

/* VOS3000's end direction: 0 caller, 1 callee, 2 the switch; empty when unknown. */
static void vos_end_direction(cdr_buf_t *out, int party)
{
    switch (party) {
    case CDR_PARTY_CALLER:
        cdr_buf_append_char(out, '0');
        break;
    case CDR_PARTY_CALLEE:
        cdr_buf_append_char(out, '1');
        break;
    case CDR_PARTY_SWITCH:
        cdr_buf_append_char(out, '2');
        break;
    default:
        break;
    }
    cdr_buf_append_char(out, '|');
}

void cdr_format_vos(const cdr_record_t *r, const char *const *extra_columns, size_t n_extra, cdr_buf_t *out)
{
    /* 1-9 in the positions VOS3000's own pipe files use */
    vos_string(out, r->caller_in);
    vos_string(out, r->callee_in);
    format_vos_time(r->answer_ms > 0 ? r->answer_ms : r->setup_ms, out);
    cdr_buf_append_char(out, '|');
    format_vos_time(r->end_ms, out);
    cdr_buf_append_char(out, '|');
    int64_t hold_seconds = r->hold_ms > 0 ? (r->hold_ms + 999) / 1000 : 0;
    cdr_buf_printf(out, "%" PRId64 "|%d|", hold_seconds, r->end_reason);
    vos_end_direction(out, r->hung_up_by);
    vos_string(out, r->source);
    vos_string(out, r->final_gateway);
    /* 10- sipswitch's own */
    vos_string(out, r->source_ip);
    vos_string(out, r->caller_out);
    vos_string(out, r->callee_out);
    cdr_buf_printf(out, "%d|%" PRId64 "|", r->final_code, r->hold_ms);
    const int64_t times[] = {r->setup_ms, r->ring_ms, r->answer_ms};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        format_vos_time(times[i], out);
        cdr_buf_append_char(out, '|');
    }
    vos_string(out, r->call_id);
    cdr_buf_printf(out, "%" PRIu64 "|%zu|", r->seq, r->n_attempts);
    size_t start = out->len;
    cdr_format_attempts(r, out); /* already escapes control characters; '|' is left to sanitising */
    vos_sanitise_from(out, start);
    cdr_buf_append_char(out, '|');
    cdr_buf_append_str(out, cdr_end_reason_name(r->end_reason));
    for (size_t i = 0; i < n_extra; i++) {
        cdr_buf_append_char(out, '|');
        start = out->len;
        cdr_buf_append_str(out, cdr_record_field(r, extra_columns[i]));
        vos_sanitise_from(out, start);
    }
    cdr_buf_append(out, "\r\n", 2);
}

/* ---- binary encoding ---------------------------------------------------- */

/* Version 1 body, all integers little-endian:
 *   u8 version, u64 seq,
 *   str call_id caller_in callee_in caller_out callee_out source source_ip final_gateway,
 *   i64 setup ring answer end hold, i32 end_reason hung_up_by final_code,
 *   u32 n_attempts, n x { str gateway callee outcome reason, i32 code, i64 start first_response end },
 *   u32 n_fields, n x { str name value }
 * where str is u32 length (0xFFFFFFFF for NULL) then the bytes. */
#define ENCODING_VERSION 1
#define NULL_STRING_LENGTH UINT32_MAX

static void put_u64(cdr_buf_t *out, uint64_t v)
{
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(v >> (8 * i));
    cdr_buf_append(out, bytes, sizeof bytes);
}

static void put_u32(cdr_buf_t *out, uint32_t v)
{
    unsigned char bytes[4];
    for (int i = 0; i < 4; i++)
        bytes[i] = (unsigned char)(v >> (8 * i));
    cdr_buf_append(out, bytes, sizeof bytes);
}

static bool put_string(cdr_buf_t *out, const char *s)
{
    if (s == NULL) {
        put_u32(out, NULL_STRING_LENGTH);
        return false;
    }
    size_t n = strlen(s);
    bool cut = n > CDR_MAX_STRING_BYTES;
    if (cut)
        n = CDR_MAX_STRING_BYTES;
    put_u32(out, (uint32_t)n);
    cdr_buf_append(out, s, n);
    return cut;
}

bool cdr_record_encode(const cdr_record_t *r, cdr_buf_t *out)
{
    bool cut = false;
    cdr_buf_append_char(out, ENCODING_VERSION);
    put_u64(out, r->seq);
    const char *strings[] = {r->call_id, r->caller_in, r->callee_in, r->caller_out,
                             r->callee_out, r->source, r->source_ip, r->final_gateway};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        cut |= put_string(out, strings[i]);
    put_u64(out, (uint64_t)r->setup_ms);
    put_u64(out, (uint64_t)r->ring_ms);
    put_u64(out, (uint64_t)r->answer_ms);
    put_u64(out, (uint64_t)r->end_ms);
    put_u64(out, (uint64_t)r->hold_ms);
    put_u32(out, (uint32_t)r->end_reason);
    put_u32(out, (uint32_t)r->hung_up_by);
    put_u32(out, (uint32_t)r->final_code);
    size_t n_attempts = r->n_attempts;
    if (n_attempts > CDR_MAX_ATTEMPTS) {
        n_attempts = CDR_MAX_ATTEMPTS;
        cut = true;
    }
    put_u32(out, (uint32_t)n_attempts);
    for (size_t i = 0; i < n_attempts; i++) {
        const cdr_attempt_t *a = &r->attempts[i];
        cut |= put_string(out, a->gateway);
        cut |= put_string(out, a->callee);
        cut |= put_string(out, a->outcome);
        cut |= put_string(out, a->reason);
        put_u32(out, (uint32_t)a->code);
        put_u64(out, (uint64_t)a->start_ms);
        put_u64(out, (uint64_t)a->first_response_ms);
        put_u64(out, (uint64_t)a->end_ms);
    }
    size_t n_fields = r->n_fields;
    if (n_fields > CDR_MAX_FIELDS) {
        n_fields = CDR_MAX_FIELDS;
        cut = true;
    }
    put_u32(out, (uint32_t)n_fields);
    for (size_t i = 0; i < n_fields; i++) {
        cut |= put_string(out, r->fields[i].name);
        cut |= put_string(out, r->fields[i].value);
    }
    return cut;
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
    bool bad;                   /* malformed, or out of memory (then out_of_memory too) */
    bool out_of_memory;
} reader_t;

static uint64_t get_u64(reader_t *rd)
{
    if (rd->left < 8) {
        rd->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)rd->p[i] << (8 * i);
    rd->p += 8;
    rd->left -= 8;
    return v;
}

static uint32_t get_u32(reader_t *rd)
{
    if (rd->left < 4) {
        rd->bad = true;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)rd->p[i] << (8 * i);
    rd->p += 4;
    rd->left -= 4;
    return v;
}

static char *get_string(reader_t *rd)
{
    uint32_t n = get_u32(rd);
    if (rd->bad || n == NULL_STRING_LENGTH)
        return NULL;
    if (n > rd->left || memchr(rd->p, '\0', n) != NULL) {
        rd->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        rd->bad = true;
        rd->out_of_memory = true;
        return NULL;
    }
    memcpy(s, rd->p, n);
    s[n] = '\0';
    rd->p += n;
    rd->left -= n;
    return s;
}

/* A count of items each at least min_item_bytes long, refused when the rest
 * of the body cannot hold that many (so a corrupt count never allocates much). */
static uint32_t get_count(reader_t *rd, size_t min_item_bytes)
{
    uint32_t n = get_u32(rd);
    if (!rd->bad && (size_t)n > rd->left / min_item_bytes)
        rd->bad = true;
    return rd->bad ? 0 : n;
}

cdr_record_t *cdr_record_decode(const void *data, size_t len)
{
    reader_t rd = {.p = data, .left = len, .bad = false, .out_of_memory = false};
    if (len < 1 || rd.p[0] != ENCODING_VERSION) {
        errno = EINVAL;
        return NULL;
    }
    rd.p++;
    rd.left--;
    cdr_record_t *r = cdr_record_new();
    if (r == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    r->seq = get_u64(&rd);
    char **strings[] = {&r->call_id, &r->caller_in, &r->callee_in, &r->caller_out,
                        &r->callee_out, &r->source, &r->source_ip, &r->final_gateway};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        *strings[i] = get_string(&rd);
    r->setup_ms = (int64_t)get_u64(&rd);
    r->ring_ms = (int64_t)get_u64(&rd);
    r->answer_ms = (int64_t)get_u64(&rd);
    r->end_ms = (int64_t)get_u64(&rd);
    r->hold_ms = (int64_t)get_u64(&rd);
    r->end_reason = (int)get_u32(&rd);
    r->hung_up_by = (int)get_u32(&rd);
    r->final_code = (int)get_u32(&rd);
    uint32_t n_attempts = get_count(&rd, 4 * 4 + 4 + 3 * 8);
    if (n_attempts > 0) {
        r->attempts = calloc(n_attempts, sizeof *r->attempts);
        if (r->attempts == NULL)
            rd.bad = rd.out_of_memory = true;
    }
    for (uint32_t i = 0; i < n_attempts && !rd.bad; i++) {
        cdr_attempt_t *a = &r->attempts[i];
        r->n_attempts = i + 1;
        a->gateway = get_string(&rd);
        a->callee = get_string(&rd);
        a->outcome = get_string(&rd);
        a->reason = get_string(&rd);
        a->code = (int)get_u32(&rd);
        a->start_ms = (int64_t)get_u64(&rd);
        a->first_response_ms = (int64_t)get_u64(&rd);
        a->end_ms = (int64_t)get_u64(&rd);
    }
    uint32_t n_fields = get_count(&rd, 2 * 4);
    if (n_fields > 0) {
        r->fields = calloc(n_fields, sizeof *r->fields);
        if (r->fields == NULL)
            rd.bad = rd.out_of_memory = true;
    }
    for (uint32_t i = 0; i < n_fields && !rd.bad; i++) {
        r->n_fields = i + 1;
        r->fields[i].name = get_string(&rd);
        r->fields[i].value = get_string(&rd);
        if (r->fields[i].name == NULL)
            rd.bad = true; /* a field always has a name */
    }
    if (rd.bad || rd.left != 0) {
        cdr_record_free(r);
        errno = rd.out_of_memory ? ENOMEM : EINVAL;
        return NULL;
    }
    return r;
}
