/* Call and gateway snapshots for the management API: see call_report.h.
 *
 * A snapshot is taken in two steps. On the signaling thread, the calls are
 * visited once and what the report shows is copied into the snapshot: fixed
 * fields into arrays, strings into one text block. Later, on the HTTP
 * thread, the snapshot is rendered as JSON and freed. Nothing in a snapshot
 * points into call state, so a call ending (or a reload replacing the
 * gateway table) after the copy cannot touch it. */
#include "config.h"

#include "call/call_report.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "call/call.h"
#include "loop_jobs.h"
#include "strbuf.h"

/* A string of the snapshot: an offset into its text block. Offsets rather
 * than pointers, because the block moves while it grows. */
typedef size_t text_ref_t;
#define NO_TEXT SIZE_MAX /* the string was NULL: rendered as JSON null */

typedef struct rep_attempt {
    text_ref_t gateway, callee, reason;
    const char *outcome;                            /* a static name (sw_attempt_outcome_name) */
    int code;                                       /* 0 while pending */
    uint64_t started_ms, first_response_ms, ended_ms; /* loop clock; 0 = not yet */
} rep_attempt_t;

typedef struct rep_call {
    uint64_t id;
    sw_call_state_t state;
    text_ref_t call_id, caller, callee, source, source_ip;
    text_ref_t gateway;                             /* NO_TEXT while routing */
    uint64_t created_ms, answered_ms;               /* loop clock; 0 = not answered */
    size_t first_attempt, n_attempts;               /* a slice of the report's attempts */
} rep_call_t;

typedef struct rep_gateway {
    text_ref_t name, address, ip, description;
    const char *transport;
    bool configured;                                /* false: removed by a reload, calls still on it */
    size_t attempting, answered;
} rep_gateway_t;

struct sw_call_report {
    enum { REPORT_CALLS, REPORT_GATEWAYS } kind;
    /* The instant of the snapshot on the loop's clock (what call times are
     * stamped with: monotonic ms) and on the wall clock, to convert one into
     * the other when rendering. */
    uint64_t mono_ms;
    int64_t wall_ms;
    size_t total;                                   /* live calls */
    size_t routing;                                 /* of which still in the route script */
    size_t limit;
    rep_call_t *calls;
    size_t n_calls;
    rep_attempt_t *attempts;
    size_t n_attempts;
    rep_gateway_t *gateways;
    size_t n_gateways, cap_gateways;
    char *text;
    size_t text_len, text_cap;
};

/* ---- building (signaling thread) ------------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static text_ref_t keep(sw_call_report_t *r, const char *s)
{
    if (!s)
        return NO_TEXT;
    size_t n = strlen(s) + 1;
    if (r->text_cap - r->text_len < n) {
        size_t cap = r->text_cap ? r->text_cap : 4096;
        while (cap - r->text_len < n)
            cap *= 2;
        r->text = realloc(r->text, cap);
        if (!r->text)
            abort();
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    text_ref_t ref = r->text_len;
    r->text_len += n;
    return ref;
}

static const char *text_of(const sw_call_report_t *r, text_ref_t ref)
{
    return ref == NO_TEXT ? NULL : r->text + ref;
}

static sw_call_report_t *report_new(int kind)
{
    sw_call_report_t *r = xcalloc(1, sizeof *r);
    r->kind = kind;
    /* uv_now is the loop's cached time, the clock call.c stamps calls with;
     * it lags the real instant by at most the current loop iteration. */
    r->mono_ms = sw_loop() ? uv_now(sw_loop()) : 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->total = sw_calls_count();
    return r;
}

/* The attempt a call is on: the last one, once the call got past the script
 * (ATTEMPTING: it is pending; ANSWERED: it is the one that answered). A call
 * still routing is on no gateway, whatever a previous chain did. */
static const sw_attempt_t *attempt_on(const sw_call_t *c)
{
    if ((c->state != SW_CALL_ATTEMPTING && c->state != SW_CALL_ANSWERED) || !c->n_attempts)
        return NULL;
    return &c->attempts[c->n_attempts - 1];
}

typedef struct call_list {
    const sw_call_t **v;
    size_t n, cap;
} call_list_t;

static void collect_call(const sw_call_t *c, void *ud)
{
    call_list_t *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    l->v[l->n++] = c;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = (*(const sw_call_t *const *)a)->id, y = (*(const sw_call_t *const *)b)->id;
    return (x > y) - (x < y);
}

static void copy_call(sw_call_report_t *r, const sw_call_t *c)
{
    rep_call_t *rc = &r->calls[r->n_calls++];
    rc->id = c->id;
    rc->state = c->state;
    rc->call_id = keep(r, c->a.call_id);
    rc->caller = keep(r, c->caller);
    rc->callee = keep(r, c->callee);
    rc->source = keep(r, c->source);
    rc->source_ip = keep(r, c->source_ip[0] ? c->source_ip : NULL);
    rc->created_ms = c->created_ms;
    rc->answered_ms = c->state == SW_CALL_ANSWERED ? c->answered_ms : 0;
    rc->first_attempt = r->n_attempts;
    rc->n_attempts = c->n_attempts;
    rc->gateway = NO_TEXT;
    const sw_attempt_t *on = attempt_on(c);
    for (size_t i = 0; i < c->n_attempts; i++) {
        const sw_attempt_t *a = &c->attempts[i];
        rep_attempt_t *ra = &r->attempts[r->n_attempts++];
        ra->gateway = keep(r, a->gateway);
        ra->callee = keep(r, a->callee);
        ra->reason = keep(r, a->reason);
        ra->code = a->code;
        ra->outcome = sw_attempt_outcome_name(a->outcome);
        ra->started_ms = a->started_ms;
        ra->first_response_ms = a->first_response_ms;
        ra->ended_ms = a->ended_ms;
        if (a == on)
            rc->gateway = ra->gateway; /* the same text: no second copy */
    }
}

sw_call_report_t *sw_call_report_calls(size_t limit)
{
    sw_call_report_t *r = report_new(REPORT_CALLS);
    r->limit = limit;
    if (limit == 0)
        return r; /* only the count was asked for: no need to visit the calls */
    call_list_t all = {0};
    sw_calls_foreach(collect_call, &all);
    r->total = all.n;
    /* Calls live in hash buckets; ordering them by id (creation order) makes
     * the report stable between requests and, when truncated, keeps the
     * oldest calls, the ones an operator is most likely looking for. */
    if (all.n) /* no call: all.v is NULL, which qsort may not be given */
        qsort(all.v, all.n, sizeof *all.v, by_id);
    size_t n = all.n < limit ? all.n : limit;
    size_t n_attempts = 0;
    for (size_t i = 0; i < n; i++)
        n_attempts += all.v[i]->n_attempts;
    r->calls = xcalloc(n, sizeof *r->calls);
    r->attempts = xcalloc(n_attempts, sizeof *r->attempts);
    for (size_t i = 0; i < n; i++)
        copy_call(r, all.v[i]);
    free(all.v);
    return r;
}

static const char *transport_name(sw_transport_t t)
{
    switch (t) {
    case SW_TRANSPORT_TCP:
        return "tcp";
    case SW_TRANSPORT_TLS:
        return "tls";
    default:
        return "udp";
    }
}

static rep_gateway_t *add_gateway(sw_call_report_t *r)
{
    if (r->n_gateways == r->cap_gateways) {
        r->cap_gateways = r->cap_gateways ? r->cap_gateways * 2 : 16;
        r->gateways = realloc(r->gateways, r->cap_gateways * sizeof *r->gateways);
        if (!r->gateways)
            abort();
    }
    rep_gateway_t *g = &r->gateways[r->n_gateways++];
    memset(g, 0, sizeof *g);
    g->address = g->ip = g->description = NO_TEXT;
    return g;
}

static void copy_gateway(sw_call_report_t *r, const sw_gateway_t *gw)
{
    rep_gateway_t *g = add_gateway(r);
    g->configured = true;
    g->name = keep(r, gw->name);
    char text[300]; /* a DNS name (at most 255) and a port, or an address */
    /* as written in the cfg; an IPv6 literal gets its brackets back */
    bool v6_literal = gw->host && strchr(gw->host, ':');
    snprintf(text, sizeof text, "%s%s%s:%u", v6_literal ? "[" : "", gw->host ? gw->host : "", v6_literal ? "]" : "",
             gw->port);
    g->address = keep(r, text);
    /* what the name resolved to when the cfg was loaded */
    const void *bin = NULL;
    if (gw->addr.ss_family == AF_INET)
        bin = &((const struct sockaddr_in *)&gw->addr)->sin_addr;
    else if (gw->addr.ss_family == AF_INET6)
        bin = &((const struct sockaddr_in6 *)&gw->addr)->sin6_addr;
    if (bin && inet_ntop(gw->addr.ss_family, bin, text, sizeof text))
        g->ip = keep(r, text);
    g->transport = transport_name(gw->transport);
    if (gw->description && *gw->description)
        g->description = keep(r, gw->description);
}

/* Gateway names sorted, for counting calls in O(log n) each: a switch may
 * have hundreds of gateways and a hundred thousand calls. */
typedef struct gw_key {
    const char *name;
    size_t index; /* into the report's gateways */
} gw_key_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const gw_key_t *)a)->name, ((const gw_key_t *)b)->name);
}

typedef struct gw_count {
    sw_call_report_t *r;
    gw_key_t *keys;
    size_t n_keys;
} gw_count_t;

static rep_gateway_t *gateway_named(gw_count_t *g, const char *name)
{
    gw_key_t key = {.name = name};
    const gw_key_t *k = bsearch(&key, g->keys, g->n_keys, sizeof *g->keys, by_name);
    if (k)
        return &g->r->gateways[k->index];
    /* not in the current table: a reload removed it while calls were on it
     * (they keep their gateway). Rare and few: a linear search will do. */
    for (size_t i = g->n_keys; i < g->r->n_gateways; i++)
        if (strcmp(text_of(g->r, g->r->gateways[i].name), name) == 0)
            return &g->r->gateways[i];
    rep_gateway_t *added = add_gateway(g->r); /* configured false, no address */
    added->name = keep(g->r, name);
    return added;
}

static void count_call(const sw_call_t *c, void *ud)
{
    gw_count_t *g = ud;
    if (c->state == SW_CALL_ROUTING)
        g->r->routing++;
    const sw_attempt_t *on = attempt_on(c);
    if (!on || !on->gateway)
        return;
    rep_gateway_t *gw = gateway_named(g, on->gateway);
    if (c->state == SW_CALL_ANSWERED)
        gw->answered++;
    else
        gw->attempting++;
}

sw_call_report_t *sw_call_report_gateways(void)
{
    sw_call_report_t *r = report_new(REPORT_GATEWAYS);
    const sw_gateways_t *table = sw_calls_gateways();
    size_t n = table ? table->count : 0;
    gw_count_t g = {.r = r, .keys = xcalloc(n, sizeof *g.keys), .n_keys = n};
    for (size_t i = 0; i < n; i++) {
        copy_gateway(r, &table->items[i]);
        g.keys[i].name = table->items[i].name;
        g.keys[i].index = i;
    }
    qsort(g.keys, n, sizeof *g.keys, by_name);
    sw_calls_foreach(count_call, &g);
    free(g.keys);
    return r;
}

void sw_call_report_free(sw_call_report_t *r)
{
    if (!r)
        return;
    free(r->calls);
    free(r->attempts);
    free(r->gateways);
    free(r->text);
    free(r);
}

/* ---- rendering (any thread) ------------------------------------------------------- */

static void json_text(sw_strbuf_t *b, const sw_call_report_t *r, text_ref_t ref)
{
    if (ref == NO_TEXT)
        sw_strbuf_printf(b, "null");
    else
        sw_strbuf_json(b, text_of(r, ref));
}

/* A wall-clock instant as ISO 8601 UTC with milliseconds. */
static void json_wall(sw_strbuf_t *b, int64_t wall_ms)
{
    if (wall_ms < 0)
        wall_ms = 0;
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char text[32];
    if (!gmtime_r(&secs, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm)) {
        sw_strbuf_printf(b, "null");
        return;
    }
    sw_strbuf_printf(b, "\"%s.%03dZ\"", text, (int)(wall_ms % 1000));
}

/* A loop-clock instant (call.c's stamps) on the wall clock, or null for 0
 * (not happened). The loop clock is monotonic, so the wall time is derived
 * from the age at the snapshot: a clock step since the call started does not
 * bend its times, they are as precise as the age. */
static void json_loop_time(sw_strbuf_t *b, const sw_call_report_t *r, uint64_t mono_ms)
{
    if (!mono_ms) {
        sw_strbuf_printf(b, "null");
        return;
    }
    uint64_t age = r->mono_ms > mono_ms ? r->mono_ms - mono_ms : 0;
    json_wall(b, r->wall_ms - (int64_t)age);
}

/* Milliseconds from `from` to `at` on the loop clock, or null when `at` is 0
 * (not happened yet). */
static void json_offset(sw_strbuf_t *b, uint64_t at, uint64_t from)
{
    if (!at)
        sw_strbuf_printf(b, "null");
    else
        sw_strbuf_printf(b, "%llu", (unsigned long long)(at > from ? at - from : 0));
}

static const char *state_name(sw_call_state_t s)
{
    switch (s) {
    case SW_CALL_ROUTING:
        return "routing";
    case SW_CALL_ATTEMPTING:
        return "attempting";
    case SW_CALL_ANSWERED:
        return "answered";
    case SW_CALL_ENDED:
        return "ended";
    }
    return "unknown";
}

static void render_call(sw_strbuf_t *b, const sw_call_report_t *r, const rep_call_t *c)
{
    sw_strbuf_printf(b, "{\"id\":%llu,\"call_id\":", (unsigned long long)c->id);
    json_text(b, r, c->call_id);
    sw_strbuf_printf(b, ",\"state\":\"%s\",\"caller\":", state_name(c->state));
    json_text(b, r, c->caller);
    sw_strbuf_printf(b, ",\"callee\":");
    json_text(b, r, c->callee);
    sw_strbuf_printf(b, ",\"source\":");
    json_text(b, r, c->source);
    sw_strbuf_printf(b, ",\"source_ip\":");
    json_text(b, r, c->source_ip);
    sw_strbuf_printf(b, ",\"created\":");
    json_loop_time(b, r, c->created_ms);
    sw_strbuf_printf(b, ",\"answered\":");
    json_loop_time(b, r, c->answered_ms);
    sw_strbuf_printf(b, ",\"age_ms\":");
    json_offset(b, r->mono_ms, c->created_ms);
    sw_strbuf_printf(b, ",\"gateway\":");
    json_text(b, r, c->gateway);
    sw_strbuf_printf(b, ",\"attempts\":[");
    for (size_t i = 0; i < c->n_attempts; i++) {
        const rep_attempt_t *a = &r->attempts[c->first_attempt + i];
        sw_strbuf_printf(b, "%s{\"gateway\":", i ? "," : "");
        json_text(b, r, a->gateway);
        sw_strbuf_printf(b, ",\"callee\":");
        json_text(b, r, a->callee);
        if (a->code)
            sw_strbuf_printf(b, ",\"code\":%d", a->code);
        else
            sw_strbuf_printf(b, ",\"code\":null");
        sw_strbuf_printf(b, ",\"outcome\":");
        sw_strbuf_json(b, a->outcome);
        sw_strbuf_printf(b, ",\"reason\":");
        json_text(b, r, a->reason);
        /* offsets from the call's creation: small numbers that read as a
         * timeline (script time, post-dial delay, attempt length) */
        sw_strbuf_printf(b, ",\"started_ms\":");
        json_offset(b, a->started_ms, c->created_ms);
        sw_strbuf_printf(b, ",\"first_response_ms\":");
        json_offset(b, a->first_response_ms, c->created_ms);
        sw_strbuf_printf(b, ",\"ended_ms\":");
        json_offset(b, a->ended_ms, c->created_ms);
        sw_strbuf_printf(b, "}");
    }
    sw_strbuf_printf(b, "]}");
}

static void render_calls(sw_strbuf_t *b, const sw_call_report_t *r)
{
    sw_strbuf_printf(b, "{\"time\":");
    json_wall(b, r->wall_ms);
    sw_strbuf_printf(b, ",\"total\":%zu,\"limit\":%zu,\"returned\":%zu,\"truncated\":%s,\"calls\":[", r->total,
                     r->limit, r->n_calls, r->n_calls < r->total ? "true" : "false");
    for (size_t i = 0; i < r->n_calls; i++) {
        if (i)
            sw_strbuf_printf(b, ",");
        render_call(b, r, &r->calls[i]);
    }
    sw_strbuf_printf(b, "]}");
}

static void render_gateways(sw_strbuf_t *b, const sw_call_report_t *r)
{
    sw_strbuf_printf(b, "{\"time\":");
    json_wall(b, r->wall_ms);
    sw_strbuf_printf(b, ",\"calls\":%zu,\"routing\":%zu,\"gateways\":[", r->total, r->routing);
    for (size_t i = 0; i < r->n_gateways; i++) {
        const rep_gateway_t *g = &r->gateways[i];
        sw_strbuf_printf(b, "%s{\"name\":", i ? "," : "");
        json_text(b, r, g->name);
        sw_strbuf_printf(b, ",\"configured\":%s,\"address\":", g->configured ? "true" : "false");
        json_text(b, r, g->address);
        sw_strbuf_printf(b, ",\"ip\":");
        json_text(b, r, g->ip);
        sw_strbuf_printf(b, ",\"description\":");
        json_text(b, r, g->description);
        sw_strbuf_printf(b, ",\"transport\":");
        if (g->transport)
            sw_strbuf_json(b, g->transport);
        else
            sw_strbuf_printf(b, "null");
        sw_strbuf_printf(b, ",\"calls\":%zu,\"attempting\":%zu,\"answered\":%zu}", g->attempting + g->answered,
                         g->attempting, g->answered);
    }
    sw_strbuf_printf(b, "]}");
}

void sw_call_report_json(const sw_call_report_t *r, sw_strbuf_t *b)
{
    if (r->kind == REPORT_CALLS)
        render_calls(b, r);
    else
        render_gateways(b, r);
}
