/*
 * cdr: one call detail record per call, answered or not (PARAMETERS.md
 * section 8). This file is the module glue: parameters, the hooks that turn
 * a finished call into a cdr_record_t, back-pressure, metrics. Formats are
 * in cdr_record.c, durability (journal with group commit, CDR files,
 * rotation, recovery) in cdr_store.c; doc/modules/cdr.md and
 * doc/modules/cdr-format.md describe both for operators.
 *
 * Nothing is lost silently: a record that cannot be queued (the pending list
 * is full) waits in `overflow` and is retried every 100 ms (a timer that
 * runs only while something waits: an idle switch must not wake 10 times a
 * second for it); new calls are
 * refused with 503 while the store is full, so the overflow is bounded by
 * the calls that were already in progress.
 */
#include <sipswitch/module.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_record.h"
#include "cdr_store.h"

/* cdr_record.h cannot include module.h's enums (it stands alone): the
 * numbers must agree. */
_Static_assert((int)CDR_END_REJECTED_BY_MODULE == (int)SW_END_REJECTED_BY_MODULE &&
                   (int)CDR_END_NO_ACK == (int)SW_END_NO_ACK && (int)CDR_END_NORMAL_CALLER == (int)SW_END_NORMAL_CALLER,
               "cdr_record.h's end reasons follow SW_END_*");
_Static_assert((int)CDR_PARTY_CALLER == (int)SW_PARTY_CALLER && (int)CDR_PARTY_SWITCH == (int)SW_PARTY_SWITCH,
               "cdr_record.h's parties follow sw_party_t");

static const sw_api_t *api;
static sw_module_t *module;

static const char *const formats[] = {"csv", "vos", NULL};

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define SECONDS(s) ((int64_t)(s) * 1000)

static const sw_param_t cdr_params[] = {
    P(.name = "dir", .type = SW_PARAM_STRING, .default_value = "/var/lib/sipswitch/cdr",
      .doc = "Directory of the CDR files, the journal and its checkpoint (created if missing); a relative path is "
             "relative to this cfg file's directory."),
    P(.name = "format", .type = SW_PARAM_ENUM, .default_value = "csv", .choices = formats,
      .doc = "csv: RFC 4180 with a header line (doc/modules/cdr-format.md); vos: VOS3000-style pipe-delimited "
             "lines for billing systems that import VOS3000 CDRs."),
    P(.name = "extra_columns", .type = SW_PARAM_STRING_LIST, .default_value = "",
      .doc = "CSV columns appended after the fixed ones, filled from the script's call:cdr_set(name, value)."),
    P(.name = "hold_time_precision", .vos_alias = "SERVER_BILLING_HOLD_TIME_PRECISION",
      .type = SW_PARAM_DURATION, .default_value = "50ms", .min = 1, .max = SECONDS(60), .unit = "ms",
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Resolution of the recorded hold (talk) time; a started unit counts whole."),
    P(.name = "write_interval", .vos_alias = "SERVER_CDR_FILE_WRITE_INTERVAL", .type = SW_PARAM_DURATION,
      .default_value = "60", .min = SECONDS(1), .max = SECONDS(3600), .unit = "s",
      .doc = "Records reach the CDR file at least this often (they are durable in the journal within about "
             "100 ms whatever this is)."),
    P(.name = "max_files", .vos_alias = "SERVER_CDR_FILE_WRITE_MAX", .type = SW_PARAM_INT, .default_value = "2048",
      .min = 1, .max = 1000000, .doc = "Most CDR files kept; the oldest are deleted beyond it."),
    P(.name = "max_pending", .vos_alias = "SERVER_MAX_CDR_PENDING_LIST_LENGTH", .type = SW_PARAM_INT,
      .default_value = "100000", .min = 10, .max = 10000000,
      .doc = "Most records accepted but not yet safe in the journal. When it is reached new calls get 503 with "
             "Retry-After (records are never dropped) and the alarm metric is raised."),
    P(.name = "rotate_interval", .type = SW_PARAM_DURATION, .default_value = "3600", .min = 0,
      .max = SECONDS(86400), .unit = "s", .doc = "A new CDR file at least this often; 0: by size only."),
    P(.name = "rotate_size", .type = SW_PARAM_INT, .default_value = "64", .min = 0, .max = 65536,
      .doc = "A new CDR file once the current one passes this many MiB; 0: by time only."),
    {0},
};

#define METRICS_PERIOD_MS 1000
#define OVERFLOW_RETRY_MS 100

static struct {
    cdr_store_t *store;
    int64_t precision_ms;
    char **extra;
    size_t n_extra;
    cdr_record_t **overflow;    /* records the full store refused, oldest first */
    size_t n_overflow, cap_overflow;
    sw_timer_t *tick;           /* metrics, once a second */
    sw_timer_t *retry;          /* the overflow's retry, while it holds records */
    sw_stat_t *records, *pending, *latency_us, *journal_bytes, *refused, *alarm, *errors, *overflowed;
} cdr;

/* ---- records ---------------------------------------------------------------------------- */

/* Records belong to cdr_record.c / cdr_store.c, which free them with
 * free(): their strings are plain strdup copies. */
static char *dup_or_null(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        abort();
    return d;
}

static void set_text(char **field, const char *value)
{
    free(*field);
    *field = dup_or_null(value);
}

/* The names the management API and the script use for outcomes. */
static const char *cdr_outcome_name(sw_attempt_outcome_t o)
{
    static const char *const names[] = {"pending", "response", "invite_timeout", "trying_timeout",
                                        "progress_timeout", "ringing_timeout", "skipped_max_calls",
                                        "skipped_max_cps", "transport_error", "answered", "abandoned",
                                        "skipped_unknown_gateway"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "unknown";
}

/* Loop-clock times of an attempt on the wall clock. */
static int64_t wall_of(uint64_t loop_ms, int64_t offset)
{
    return loop_ms ? (int64_t)loop_ms + offset : 0;
}

static cdr_record_t *record_of(sw_call_t *call, const sw_call_end_t *end)
{
    cdr_record_t *r = cdr_record_new();
    if (!r)
        abort();
    int64_t now_wall = (int64_t)api->wallclock_ms();
    int64_t offset = now_wall - (int64_t)api->now_ms();
    sw_call_times_t t = {.size = sizeof t};
    api->call_times(call, &t);
    r->call_id = dup_or_null(api->call_sip_id(call));
    r->caller_in = dup_or_null(api->call_caller_in(call));
    r->callee_in = dup_or_null(api->call_callee_in(call));
    r->caller_out = dup_or_null(api->call_caller(call));
    r->callee_out = dup_or_null(api->call_callee(call));
    r->source = dup_or_null(api->call_source(call));
    r->source_ip = dup_or_null(api->call_source_ip(call));
    r->setup_ms = (int64_t)t.created_ms;
    r->ring_ms = (int64_t)t.ringing_ms;
    r->answer_ms = (int64_t)t.answered_ms;
    r->end_ms = now_wall;
    r->hold_ms = cdr_hold_time(r->answer_ms, r->end_ms, (int)cdr.precision_ms);
    r->end_reason = end->reason;
    r->hung_up_by = end->hung_up_by;
    r->final_code = end->final_code ? end->final_code : (r->answer_ms ? 200 : 0);
    for (size_t i = 0, n = api->call_attempt_count(call); i < n; i++) {
        sw_attempt_info_t info = {.size = sizeof info};
        if (api->call_attempt(call, i, &info) != 0)
            break;
        cdr_attempt_t *a = cdr_record_add_attempt(r);
        if (!a)
            break; /* past CDR_MAX_ATTEMPTS: counted by the store as truncated */
        a->gateway = dup_or_null(info.gateway);
        a->callee = dup_or_null(info.callee);
        a->code = info.code;
        a->outcome = dup_or_null(cdr_outcome_name(info.outcome));
        a->reason = dup_or_null(info.reason);
        a->start_ms = wall_of(info.started_ms, offset);
        a->first_response_ms = wall_of(info.first_response_ms, offset);
        a->end_ms = wall_of(info.ended_ms, offset);
        /* the numbers as sent are those of the last INVITE that left */
        if (info.outcome != SW_ATTEMPT_SKIPPED_MAX_CALLS && info.outcome != SW_ATTEMPT_SKIPPED_MAX_CPS &&
            info.outcome != SW_ATTEMPT_SKIPPED_UNKNOWN) {
            set_text(&r->caller_out, info.caller);
            set_text(&r->callee_out, info.callee);
        }
        if (info.outcome == SW_ATTEMPT_ANSWERED)
            set_text(&r->final_gateway, info.gateway);
    }
    const char *name, *value;
    for (size_t i = 0; api->call_var(call, i, &name, &value) == 0; i++)
        cdr_record_set_field(r, name, value);
    return r;
}

static void overflow_retry(sw_module_t *self, void *arg);

static void overflow_push(cdr_record_t *r)
{
    if (cdr.n_overflow == 0 && !cdr.retry)
        cdr.retry = api->timer_start(module, "cdr_overflow_retry", OVERFLOW_RETRY_MS, OVERFLOW_RETRY_MS,
                                     overflow_retry, NULL);
    if (cdr.n_overflow == cdr.cap_overflow) {
        cdr.cap_overflow = cdr.cap_overflow ? cdr.cap_overflow * 2 : 64;
        cdr.overflow = api->realloc(cdr.overflow, cdr.cap_overflow * sizeof *cdr.overflow);
    }
    cdr.overflow[cdr.n_overflow++] = r;
    api->stat_add(cdr.overflowed, 1);
}

/* Hands waiting records to the store, oldest first, while it takes them. */
static void overflow_drain(void)
{
    size_t done = 0;
    while (done < cdr.n_overflow && cdr_store_submit(cdr.store, cdr.overflow[done]) == 0)
        done++;
    memmove(cdr.overflow, cdr.overflow + done, (cdr.n_overflow - done) * sizeof *cdr.overflow);
    cdr.n_overflow -= done;
    if (cdr.n_overflow == 0 && cdr.retry) {
        api->timer_stop(cdr.retry);
        cdr.retry = NULL;
    }
}

static void overflow_retry(sw_module_t *self, void *arg)
{
    (void)self, (void)arg;
    overflow_drain();
}

/* ---- hooks ------------------------------------------------------------------------------- */

static sw_hook_result_t on_call_new(sw_module_t *self, sw_call_t *call, sw_msg_t *invite)
{
    (void)self, (void)invite;
    if (!cdr.n_overflow && !cdr_store_full(cdr.store))
        return SW_HOOK_CONTINUE;
    /* a call we could not promise a record for is not taken */
    api->stat_add(cdr.refused, 1);
    api->call_reject(call, 503, "Service Unavailable (CDR backlog)", SW_END_OVERLOAD);
    return SW_HOOK_HANDLED;
}

static void on_call_end(sw_module_t *self, sw_call_t *call, const sw_call_end_t *end)
{
    (void)self;
    cdr_record_t *r = record_of(call, end);
    if (cdr.n_overflow || cdr_store_submit(cdr.store, r) != 0)
        overflow_push(r); /* order kept: nothing overtakes a waiting record */
}

/* ---- metrics and the overflow retry -------------------------------------------------------- */

static void tick(sw_module_t *self, void *arg)
{
    (void)self, (void)arg;
    cdr_store_stats_t st;
    cdr_store_stats(cdr.store, &st);
    api->stat_set(cdr.records, (int64_t)st.records_written);
    api->stat_set(cdr.pending, (int64_t)(st.queue_length + cdr.n_overflow));
    api->stat_set(cdr.latency_us, (int64_t)st.last_write_latency_us);
    api->stat_set(cdr.journal_bytes, (int64_t)st.journal_bytes);
    api->stat_set(cdr.errors, (int64_t)st.io_errors);
    api->stat_set(cdr.alarm, cdr.n_overflow || cdr_store_full(cdr.store));
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static char *resolve_dir(const sw_config_t *cfg, const char *dir)
{
    const char *file = api->config_file(cfg);
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (dir[0] == '/' || !slash)
        return api->strdup(dir);
    size_t n = (size_t)(slash - file) + 1 + strlen(dir) + 1;
    char *out = api->alloc(n);
    snprintf(out, n, "%.*s/%s", (int)(slash - file), file, dir);
    return out;
}

/* init only reads settings (so `sipswitch --check` touches no file); the
 * store is opened, and the journal replayed, in start. */
static struct {
    char *dir;
    cdr_store_settings_t s;
} pending_open;

/* GET /api/v1/cdr: where the records stand, for an operator checking that
 * billing is not falling behind (the same figures as the metrics, plus the
 * ones that only make sense read together). */
static int http_status(sw_module_t *self, const char *method, const char *rest, const char *query, char **body)
{
    (void)self, (void)query;
    if (*rest)
        return 404;
    if (strcmp(method, "GET") != 0)
        return 405;
    cdr_store_stats_t st;
    cdr_store_stats(cdr.store, &st);
    char dir[512]; /* the path as a JSON string body: quotes, backslashes and controls escaped */
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)pending_open.dir; *p && n + 7 < sizeof dir; p++)
        n += (size_t)(*p == '"' || *p == '\\' ? snprintf(dir + n, sizeof dir - n, "\\%c", *p)
                      : *p < 0x20           ? snprintf(dir + n, sizeof dir - n, "\\u%04x", *p)
                                            : snprintf(dir + n, sizeof dir - n, "%c", *p));
    dir[n] = '\0';
    char text[1536];
    snprintf(text, sizeof text,
             "{\"dir\":\"%s\",\"format\":\"%s\",\"submitted\":%llu,\"journaled\":%llu,"
             "\"records_written\":%llu,\"recovered\":%llu,\"pending\":%llu,\"unflushed\":%llu,"
             "\"journal_bytes\":%llu,\"files\":%llu,\"files_deleted\":%llu,\"io_errors\":%llu,"
             "\"last_write_latency_us\":%llu,\"calls_refused\":%llu,\"backlog_alarm\":%s}",
             dir, pending_open.s.format == CDR_FORMAT_VOS ? "vos" : "csv",
             (unsigned long long)st.submitted, (unsigned long long)st.journaled,
             (unsigned long long)st.records_written, (unsigned long long)st.recovered,
             (unsigned long long)(st.queue_length + cdr.n_overflow), (unsigned long long)st.unflushed,
             (unsigned long long)st.journal_bytes, (unsigned long long)st.files,
             (unsigned long long)st.files_deleted, (unsigned long long)st.io_errors,
             (unsigned long long)st.last_write_latency_us, (unsigned long long)st.full_events,
             cdr.n_overflow || cdr_store_full(cdr.store) ? "true" : "false");
    *body = api->strdup(text);
    return 200;
}

static int cdr_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    module = self;
    if (api->size < offsetof(sw_api_t, config_file) + sizeof api->config_file) {
        api->set_error(self, "this sipswitch has module ABI %u.%u; cdr needs 1.1", api->abi_major, api->abi_minor);
        return -1;
    }
    cdr.precision_ms = api->param_int(cfg, "hold_time_precision");
    cdr.n_extra = api->param_list_len(cfg, "extra_columns");
    cdr.extra = cdr.n_extra ? api->calloc(cdr.n_extra, sizeof *cdr.extra) : NULL;
    for (size_t i = 0; i < cdr.n_extra; i++)
        cdr.extra[i] = api->strdup(api->param_list_str(cfg, "extra_columns", i));
    pending_open.dir = resolve_dir(cfg, api->param_str(cfg, "dir"));
    pending_open.s = (cdr_store_settings_t){
        .dir = pending_open.dir,
        .format = api->param_int(cfg, "format") == 1 ? CDR_FORMAT_VOS : CDR_FORMAT_CSV,
        .extra_columns = (const char *const *)cdr.extra,
        .n_extra = cdr.n_extra,
        .flush_interval_ms = (uint32_t)api->param_int(cfg, "write_interval"),
        .rotate_interval_ms = (uint32_t)api->param_int(cfg, "rotate_interval"),
        .rotate_bytes = (uint64_t)api->param_int(cfg, "rotate_size") << 20,
        .max_files = (uint32_t)api->param_int(cfg, "max_files"),
        .max_pending = (uint32_t)api->param_int(cfg, "max_pending"),
        .group_commit_ms = 100,
    };
    cdr.records = api->stat_register(self, "records_written_total", "Records written to CDR files", SW_STAT_GAUGE);
    cdr.pending = api->stat_register(self, "pending", "Records not yet safe in the journal", SW_STAT_GAUGE);
    cdr.latency_us = api->stat_register(self, "write_latency_microseconds",
                                        "Last group commit: from the oldest record's submit to its journal fdatasync", SW_STAT_GAUGE);
    cdr.journal_bytes = api->stat_register(self, "journal_bytes", "Size of the journal file", SW_STAT_GAUGE);
    cdr.errors = api->stat_register(self, "io_errors", "Failed writes or syncs (retried)", SW_STAT_GAUGE);
    cdr.refused = api->stat_register(self, "calls_refused_total", "Calls refused with 503: pending list full",
                                     SW_STAT_COUNTER);
    cdr.overflowed = api->stat_register(self, "records_held_total",
                                        "Records of calls in progress held back while the pending list was full",
                                        SW_STAT_COUNTER);
    cdr.alarm = api->stat_register(self, "backlog_alarm", "1 while the pending list is full (calls refused)",
                                   SW_STAT_GAUGE);
    return 0;
}

static int cdr_start(sw_module_t *self)
{
    char err[512];
    cdr.store = cdr_store_open(&pending_open.s, err, sizeof err);
    if (!cdr.store) {
        api->set_error(self, "%s: %s", pending_open.dir, err);
        return -1;
    }
    cdr_store_stats_t st;
    cdr_store_stats(cdr.store, &st);
    api->log(self, SW_LOG_INFO, NULL, "records in %s (%s)", pending_open.dir,
             pending_open.s.format == CDR_FORMAT_VOS ? "vos" : "csv");
    if (st.recovered)
        api->log(self, SW_LOG_NOTICE, NULL, "%llu record(s) of calls that ended before the last stop were "
                 "recovered from the journal", (unsigned long long)st.recovered);
    cdr.tick = api->timer_start(self, "cdr_tick", METRICS_PERIOD_MS, METRICS_PERIOD_MS, tick, NULL);
    if (api->size > offsetof(sw_api_t, http_route) && api->http_route(self, "cdr", http_status) != 0)
        api->log(self, SW_LOG_WARN, NULL, "/api/v1/cdr is taken: no status resource");
    return 0;
}

static int cdr_reload(sw_module_t *self, const sw_config_t *cfg)
{
    (void)self;
    cdr.precision_ms = api->param_int(cfg, "hold_time_precision");
    return 0;
}

static void cdr_destroy(sw_module_t *self)
{
    (void)self;
    if (cdr.tick)
        api->timer_stop(cdr.tick);
    cdr.tick = NULL;
    /* calls ended at shutdown are in the queue or the overflow: all of them
     * are written before the store closes */
    for (int waits = 0; cdr.store && cdr.n_overflow && waits < 30; waits++) { /* up to ~30 s for a slow disk */
        overflow_drain();
        if (cdr.n_overflow)
            cdr_store_wait_room(cdr.store);
    }
    if (cdr.retry)
        api->timer_stop(cdr.retry);
    cdr.retry = NULL;
    if (cdr.n_overflow)
        api->log(module, SW_LOG_ERROR, NULL, "%zu records could not be handed to the store at shutdown",
                 cdr.n_overflow);
    if (cdr.store) {
        uint64_t lost = cdr_store_close(cdr.store);
        if (lost)
            api->log(module, SW_LOG_ERROR, NULL, "%llu record(s) could not be written at shutdown (disk failing)",
                     (unsigned long long)lost);
    }
    api->free(cdr.overflow);
    api->free(pending_open.dir);
    memset(&pending_open, 0, sizeof pending_open);
    for (size_t i = 0; i < cdr.n_extra; i++)
        api->free(cdr.extra[i]);
    api->free(cdr.extra);
    memset(&cdr, 0, sizeof cdr);
}

static const sw_hooks_t cdr_hooks = {
    .size = sizeof(sw_hooks_t),
    .priority = 100, /* after the modules that shape the call: the record sees their final state */
    .on_call_new = on_call_new,
    .on_call_end = on_call_end,
};

static const sw_module_desc_t cdr_desc = {
    SW_MODULE_DESC_INIT,
    .name = "cdr",
    .version = "1.0.0",
    .license = "MIT",
    .description = "One call detail record per call, journaled with group commit, in CSV or VOS3000 format",
    .params = cdr_params,
    .hooks = &cdr_hooks,
    .init = cdr_init,
    .start = cdr_start,
    .reload = cdr_reload,
    .destroy = cdr_destroy,
};

SW_MODULE(cdr_desc);
