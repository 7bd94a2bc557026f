/* Management API. Routes:
 *   GET  /health            200 when the signaling loop answers within 1 s, else 503
 *   GET  /metrics           Prometheus text format
 *   GET  /api/v1/modules    loaded modules (JSON)
 *   GET  /api/v1/calls      live calls (JSON; ?limit=N, default 1000); 400 bad limit, 503 loop busy
 *   GET  /api/v1/gateways   gateways with their live calls (JSON); 503 loop busy
 *   POST /api/v1/reload     reload cfg and script; 200 or 422 with the errors, 503 when not finished
 *                           within 30 s (gateway names still resolving)
 *   GET  /api/v1/blocked    blocked source addresses (the rate limit's and the modules'), and the
 *                           blocks modules keep themselves (mgmt_blocked.h; JSON); 503 loop busy
 *   DELETE /api/v1/blocked/<key>  lifts what key names (an address, an account...); 200, 404 when
 *                           nothing was blocked */
#include "config.h"

#include "http/mgmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocator.h"
#include "call/call_report.h"
#include "daemon.h"
#include "http/mgmt_blocked.h"
#include "http/mgmt_modules.h"
#include "log.h"
#include "loop_jobs.h"
#include "module/loader.h"
#include "sip/guard.h"
#include "stats/metrics.h"
#include "strbuf.h"
#include "sipswitch/version.h"

static struct MHD_Daemon *httpd;

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned code, sw_strbuf_t *b)
{
    sw_strbuf_printf(b, "\n");
    return respond(c, code, "application/json", sw_strbuf_take(b));
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "{\"error\":");
    sw_strbuf_json(&b, msg);
    sw_strbuf_printf(&b, "}");
    return respond_json(c, code, &b);
}

/* ---- handlers ------------------------------------------------------------- */

static void ping_loop(void *arg)
{
    (void)arg;
}

static enum MHD_Result handle_health(struct MHD_Connection *c)
{
    bool alive = sw_loop_run_sync(ping_loop, NULL, NULL, 1000) == 0;
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_seconds\":%llu}", alive ? "ok" : "stalled",
              SIPSWITCH_VERSION, (unsigned long long)sw_daemon_uptime_seconds());
    return respond_json(c, alive ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, &b);
}

static enum MHD_Result handle_metrics(struct MHD_Connection *c)
{
    char *core = sw_metrics_render();
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "%s", core);
    free(core);
    sw_strbuf_printf(&b, "# HELP sipswitch_uptime_seconds Seconds since start\n# TYPE sipswitch_uptime_seconds gauge\n"
                  "sipswitch_uptime_seconds %llu\n",
              (unsigned long long)sw_daemon_uptime_seconds());
    sw_strbuf_printf(&b, "# HELP sipswitch_build_info Version of this sipswitch, its module ABI and its malloc\n"
                  "# TYPE sipswitch_build_info gauge\n"
                  "sipswitch_build_info{version=\"%s\",abi=\"%d.%d\",allocator=\"%s\"} 1\n",
              SIPSWITCH_VERSION, SW_ABI_MAJOR, SW_ABI_MINOR, sw_allocator_name());
    const sw_modules_t *ms = sw_daemon_modules();
    sw_strbuf_printf(&b, "# HELP sipswitch_modules_loaded Modules loaded\n# TYPE sipswitch_modules_loaded gauge\n"
                  "sipswitch_modules_loaded %zu\n",
              ms ? ms->count : 0);
    sw_strbuf_printf(&b, "# HELP sipswitch_module_info A loaded module\n# TYPE sipswitch_module_info gauge\n");
    for (size_t i = 0; ms && i < ms->count; i++)
        sw_strbuf_printf(&b, "sipswitch_module_info{module=\"%s\",version=\"%s\"} 1\n", ms->mods[i]->name,
                  ms->mods[i]->desc.version ? ms->mods[i]->desc.version : "");
    return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4", sw_strbuf_take(&b));
}

static enum MHD_Result handle_modules(struct MHD_Connection *c)
{
    static const char *const hook_names[SW_HOOK_COUNT] = {
        "on_request", "on_register", "on_call_new", "on_route", "on_leg_request",
        "on_leg_response", "on_sdp", "on_answer", "on_call_end", "on_rtp", "on_attempt_start",
        "on_attempt_end", "on_caller_response", "on_dialog_request", "on_caller_request"};
    _Static_assert(sizeof hook_names / sizeof hook_names[0] == SW_HOOK_COUNT, "a name for every hook");
    const sw_modules_t *ms = sw_daemon_modules();
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "{\"abi\":\"%d.%d\",\"modules\":[", SW_ABI_MAJOR, SW_ABI_MINOR);
    for (size_t i = 0; ms && i < ms->count; i++) {
        const sw_module_t *m = ms->mods[i];
        sw_strbuf_printf(&b, "%s{\"name\":", i ? "," : "");
        sw_strbuf_json(&b, m->name);
        sw_strbuf_printf(&b, ",\"version\":");
        sw_strbuf_json(&b, m->desc.version);
        sw_strbuf_printf(&b, ",\"license\":");
        sw_strbuf_json(&b, m->desc.license);
        sw_strbuf_printf(&b, ",\"description\":");
        sw_strbuf_json(&b, m->desc.description);
        sw_strbuf_printf(&b, ",\"path\":");
        sw_strbuf_json(&b, m->path);
        sw_strbuf_printf(&b, ",\"abi\":\"%u.%u\",\"hooks\":[", m->desc.abi_major, m->desc.abi_minor);
        bool first = true;
        for (int h = 0; h < SW_HOOK_COUNT; h++)
            for (size_t k = 0; k < ms->n_by_hook[h]; k++)
                if (ms->by_hook[h][k] == m) {
                    sw_strbuf_printf(&b, "%s\"%s\"", first ? "" : ",", hook_names[h]);
                    first = false;
                }
        sw_strbuf_printf(&b, "],\"lua_functions\":[");
        first = true;
        for (const sw_lua_func_t *f = m->desc.lua_funcs; f && f->size; f = (const void *)((const char *)f + f->size)) {
            sw_strbuf_printf(&b, "%s", first ? "" : ",");
            char full[160];
            snprintf(full, sizeof full, "sw.%s.%s", m->name, f->name ? f->name : "?");
            sw_strbuf_json(&b, full);
            first = false;
        }
        sw_strbuf_printf(&b, "]}");
    }
    sw_strbuf_printf(&b, "]}");
    return respond_json(c, MHD_HTTP_OK, &b);
}

/* POST /api/v1/reload. The reload outlives the loop job that asks for it
 * (its gateway names resolve on worker threads before it applies), so this
 * thread waits for the daemon's answer, not for the job. The wait is shared
 * by this thread and the loop, and counted: one reference for the waiter,
 * one for the loop's side (the job, then the daemon's answer); the last one
 * out frees it, whichever thread that is. */
#define RELOAD_TIMEOUT_MS 30000

typedef struct reload_wait {
    pthread_mutex_t lock;
    pthread_cond_t answered_cond;
    int refs;
    bool handed_over;   /* the job ran: the daemon holds the loop's reference */
    bool answered;
    int rc;
    sw_errors_t errs;
} reload_wait_t;

static void reload_wait_unref(reload_wait_t *w)
{
    pthread_mutex_lock(&w->lock);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) {
        sw_errors_clear(&w->errs);
        pthread_cond_destroy(&w->answered_cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
    }
}

/* on the loop, when the reload applied or was refused */
static void reload_answered(int rc, sw_errors_t *errs, void *ud)
{
    reload_wait_t *w = ud;
    pthread_mutex_lock(&w->lock);
    w->rc = rc;
    w->errs = *errs;
    memset(errs, 0, sizeof *errs);
    w->answered = true;
    pthread_cond_signal(&w->answered_cond);
    pthread_mutex_unlock(&w->lock);
    reload_wait_unref(w);
}

static void start_reload(void *arg)
{
    reload_wait_t *w = arg;
    w->handed_over = true;
    sw_daemon_reload("http", reload_answered, w);
}

/* the job is done with w: when it never ran, nobody will answer */
static void release_start_reload(void *arg)
{
    reload_wait_t *w = arg;
    if (!w->handed_over)
        reload_wait_unref(w);
}

static enum MHD_Result handle_reload(struct MHD_Connection *c)
{
    reload_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->answered_cond, &ca);
    pthread_condattr_destroy(&ca);
    w->refs = 2;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += RELOAD_TIMEOUT_MS / 1000;
    if (sw_loop_run_sync(start_reload, w, release_start_reload, RELOAD_TIMEOUT_MS) != 0) {
        reload_wait_unref(w);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "signaling loop busy: reload not confirmed");
    }
    pthread_mutex_lock(&w->lock);
    while (!w->answered)
        if (pthread_cond_timedwait(&w->answered_cond, &w->lock, &deadline) == ETIMEDOUT)
            break;
    bool answered = w->answered;
    int rc = w->rc;
    sw_errors_t errs = w->errs;
    memset(&w->errs, 0, sizeof w->errs);
    pthread_mutex_unlock(&w->lock);
    reload_wait_unref(w);
    if (!answered)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "reload not finished in 30 s (gateway names still resolving?): its outcome will be logged");
    sw_strbuf_t b = {0};
    /* applied: what is listed are modules that refused and kept their old
     * settings (warnings); refused: why nothing changed (errors) */
    bool ok = rc == 0;
    sw_strbuf_printf(&b, "{\"ok\":%s,\"%s\":[", ok ? "true" : "false", ok ? "warnings" : "errors");
    for (size_t i = 0; i < errs.count; i++) {
        sw_strbuf_printf(&b, "%s", i ? "," : "");
        sw_strbuf_json(&b, errs.items[i]);
    }
    sw_strbuf_printf(&b, "],\"%s\":[]}", ok ? "errors" : "warnings");
    sw_errors_clear(&errs);
    return respond_json(c, ok ? MHD_HTTP_OK : 422, &b);
}

/* GET /api/v1/calls and /api/v1/gateways. The snapshot is taken by a job on
 * the signaling loop (call state belongs to the loop thread alone) and
 * rendered here, so the loop is held only for the copy. */
#define REPORT_TIMEOUT_MS 5000

/* sw_loop_run_sync calls `release` once both the loop and the waiter are
 * done with the job: on success that is before it returns (too early to free
 * what the waiter still reads), on timeout it may be much later (the waiter
 * must not free what the loop may still write). So the job data is counted
 * itself: one reference for the waiting HTTP thread, one dropped by
 * `release`; the last one out frees it, whichever thread that is. */
typedef struct report_job {
    atomic_int refs;
    atomic_bool abandoned;  /* the waiter gave up: the loop need not do the work */
    bool gateways;          /* /api/v1/gateways, else /api/v1/calls */
    size_t limit;
    sw_call_report_t *report;
} report_job_t;

static void report_job_unref(report_job_t *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        sw_call_report_free(j->report);
        free(j);
    }
}

static void run_report(void *arg)
{
    report_job_t *j = arg;
    if (atomic_load(&j->abandoned))
        return;
    j->report = j->gateways ? sw_call_report_gateways() : sw_call_report_calls(j->limit);
}

static void release_report(void *arg)
{
    report_job_unref(arg);
}

static enum MHD_Result respond_report(struct MHD_Connection *c, bool gateways, size_t limit)
{
    report_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    atomic_init(&j->refs, 2);
    atomic_init(&j->abandoned, false);
    j->gateways = gateways;
    j->limit = limit;
    /* (if the job itself cannot be allocated, release never runs and j leaks:
     * a few bytes, on a path where the process is out of memory anyway) */
    if (sw_loop_run_sync(run_report, j, release_report, REPORT_TIMEOUT_MS) != 0) {
        atomic_store(&j->abandoned, true);
        report_job_unref(j);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "signaling loop busy: no snapshot");
    }
    /* the job ran: its result is published by the job queue's lock */
    sw_strbuf_t b = {0};
    sw_call_report_json(j->report, &b);
    report_job_unref(j);
    return respond_json(c, MHD_HTTP_OK, &b);
}

/* ?limit=N: decimal digits only, 0 (only the count) to the maximum. */
static bool parse_limit(struct MHD_Connection *c, size_t *limit)
{
    const char *v = NULL;
    size_t vl = 0;
    *limit = SW_CALL_REPORT_DEFAULT_LIMIT;
    if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "limit", 5, &v, &vl) != MHD_YES)
        return true; /* absent: the default */
    if (!v || !vl)
        return false; /* "?limit" or "?limit=" */
    size_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        n = n * 10 + (size_t)(v[i] - '0');
        if (n > SW_CALL_REPORT_MAX_LIMIT)
            return false; /* checked per digit: no overflow however long */
    }
    *limit = n;
    return true;
}

static enum MHD_Result handle_calls(struct MHD_Connection *c)
{
    size_t limit;
    if (!parse_limit(c, &limit)) {
        char msg[80];
        snprintf(msg, sizeof msg, "limit must be an integer from 0 to %d", SW_CALL_REPORT_MAX_LIMIT);
        return respond_error(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    return respond_report(c, false, limit);
}

static enum MHD_Result handle_gateways(struct MHD_Connection *c)
{
    return respond_report(c, true, 0);
}

/* GET /api/v1/blocked and DELETE /api/v1/blocked/<key>: the block table
 * and the modules' providers belong to the loop, so both are jobs on it
 * that write the body there (mgmt_blocked.c), counted like the report jobs
 * above (the last of the loop and the waiter frees). */
typedef struct blocked_job {
    atomic_int refs;
    atomic_bool abandoned;
    char key[256];              /* DELETE: what to lift; "" for the list */
    bool found;
    char *body;
} blocked_job_t;

static void blocked_job_unref(blocked_job_t *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        free(j->body);
        free(j);
    }
}

static void run_blocked(void *arg)
{
    blocked_job_t *j = arg;
    if (atomic_load(&j->abandoned))
        return;
    j->body = j->key[0] ? sw_mgmt_blocked_delete(j->key, &j->found) : sw_mgmt_blocked_list();
}

static void release_blocked(void *arg)
{
    blocked_job_unref(arg);
}

static enum MHD_Result handle_blocked(struct MHD_Connection *c, const char *url, const char *method)
{
    static const char prefix[] = "/api/v1/blocked";
    const char *key = url + sizeof prefix - 1;
    bool list = *key == '\0';
    if (!list && (*key != '/' || !key[1] || strlen(key + 1) >= sizeof((blocked_job_t *)0)->key))
        return respond_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
    if (list ? strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 : strcmp(method, "DELETE") != 0)
        return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, list ? "use GET" : "use DELETE");
    blocked_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    atomic_init(&j->refs, 2);
    atomic_init(&j->abandoned, false);
    if (!list)
        snprintf(j->key, sizeof j->key, "%s", key + 1);
    if (sw_loop_run_sync(run_blocked, j, release_blocked, REPORT_TIMEOUT_MS) != 0) {
        atomic_store(&j->abandoned, true);
        blocked_job_unref(j);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "signaling loop busy");
    }
    unsigned code = list || j->found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "%s", j->body ? j->body : "{}");
    blocked_job_unref(j);
    return respond_json(c, code, &b);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    /* first call for a request: come back once the (ignored) body is read */
    if (*con_cls == NULL) {
        static int marker;
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* bodies are not used by any route */
        return MHD_YES;
    }
    if (strncmp(url, "/api/v1/blocked", 15) == 0 && (url[15] == '\0' || url[15] == '/'))
        return handle_blocked(c, url, method);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    struct {
        const char *path;
        bool is_post;
        enum MHD_Result (*fn)(struct MHD_Connection *);
    } routes[] = {
        {"/health", false, handle_health},
        {"/metrics", false, handle_metrics},
        {"/api/v1/modules", false, handle_modules},
        {"/api/v1/calls", false, handle_calls},
        {"/api/v1/gateways", false, handle_gateways},
        {"/api/v1/reload", true, handle_reload},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (routes[i].is_post ? post : get)
            return routes[i].fn(c);
        return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, routes[i].is_post ? "use POST" : "use GET");
    }
    enum MHD_Result served;
    if (sw_mgmt_module_serve(c, url, method, &served)) /* /api/v1/<a module's path> */
        return served;
    return respond_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    sw_logf(SW_LOG_DEBUG, "http", NULL, "%s", msg);
}

int sw_mgmt_start(const char *address, sw_errors_t *errs)
{
    if (!address || !*address)
        return 0;
    char host[128];
    const char *colon = strrchr(address, ':');
    size_t hl = colon ? (size_t)(colon - address) : 0;
    if (!colon || hl >= sizeof host) {
        sw_errors_add(errs, NULL, 0, "http %s: expected host:port", address);
        return -1;
    }
    memcpy(host, address, hl);
    host[hl] = '\0';
    char *h = host;
    if (*h == '[' && hl > 1 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    int port = atoi(colon + 1);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, h, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        sw_errors_add(errs, NULL, 0, "http %s: '%s' is not an IP address", address, h);
        return -1;
    }
    httpd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &ss,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)10, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!httpd) {
        sw_errors_add(errs, NULL, 0, "http %s: cannot listen (address in use or not local?)", address);
        return -1;
    }
    sw_notice("management API on http://%s", address);
    return 0;
}

void sw_mgmt_stop(void)
{
    if (httpd) {
        MHD_stop_daemon(httpd);
        httpd = NULL;
        sw_mgmt_module_routes_clear();
    }
    sw_mgmt_block_providers_clear(); /* registered with or without the API: the modules go next */
}
