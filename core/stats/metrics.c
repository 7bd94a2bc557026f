/* Metrics: the core's counters and the registry of module metrics, rendered
 * in Prometheus text format for GET /metrics. Writers use relaxed atomics, so
 * counting costs one uncontended atomic add on the signaling thread. */
#include "config.h"

#include "stats/metrics.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sw_metrics_t sw_metrics;

static const char *const method_names[SW_M_COUNT] = {
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE",
    "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH", "other"};

static const char *const drop_names[SW_DROP_COUNT] = {
    "unparseable", "unmatched_response", "oversize", "module", "ack_without_transaction",
    "send_failed", "tcp_limit", "rate_limited", "scanner", "unknown_source", "transaction_limit",
    "tcp_per_ip_limit", "blocked"};

static const char *const limit_names[SW_LIMIT_COUNT] = {
    "message_size", "headers", "tcp_connections", "tcp_connections_per_ip", "tcp_idle_timeout", "transactions"};

sw_method_idx_t sw_method_index(const char *method)
{
    if (method)
        for (int i = 0; i < SW_M_OTHER; i++)
            if (strcmp(method, method_names[i]) == 0)
                return (sw_method_idx_t)i;
    return SW_M_OTHER;
}

const char *sw_method_name(sw_method_idx_t idx)
{
    return idx < SW_M_COUNT ? method_names[idx] : "other";
}

const char *sw_drop_reason_name(sw_drop_reason_t r)
{
    return r < SW_DROP_COUNT ? drop_names[r] : "other";
}

/* ---- module metrics ------------------------------------------------------ */

struct sw_stat {
    char *module;
    char *name;                 /* the metric name, without labels */
    char *labels;               /* "{gateway=\"x\"}" or "" */
    char *help;
    sw_stat_kind_t kind;
    _Atomic int64_t value;
    struct sw_stat *next;
};

/* Registration is rare (module init, a gateway's first failure with a new
 * code); the list is only inserted into, under the lock, and rendered under
 * the same lock from the HTTP thread. Stats of one name with different labels
 * form one Prometheus family: they are kept next to each other so HELP and
 * TYPE are written once. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sw_stat *stats_head;

static bool label_char_ok(char ch)
{
    return ch != '\n' && ch != '\r' && ch != '\0';
}

sw_stat_t *sw_stat_register(const char *module, const char *name, const char *help, sw_stat_kind_t kind)
{
    struct sw_stat *st = calloc(1, sizeof *st);
    if (!st)
        abort();
    st->module = strdup(module ? module : "core");
    name = name ? name : "unnamed";
    const char *brace = strchr(name, '{');
    st->name = brace ? strndup(name, (size_t)(brace - name)) : strdup(name);
    st->labels = strdup(brace ? brace : "");
    st->help = strdup(help ? help : "");
    if (!st->module || !st->name || !st->labels || !st->help)
        abort();
    st->kind = kind == SW_STAT_GAUGE ? SW_STAT_GAUGE : SW_STAT_COUNTER;
    /* Prometheus names allow [a-zA-Z0-9_:]; anything else becomes '_'. */
    for (char *p = st->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    /* labels are the module's text: a line break would corrupt the exposition */
    for (char *p = st->labels; *p; p++)
        if (!label_char_ok(*p))
            *p = ' ';
    size_t nl = strlen(st->labels);
    if (nl && st->labels[nl - 1] != '}')
        st->labels[0] = '\0'; /* unterminated label set: dropped rather than rendered broken */
    pthread_mutex_lock(&stats_lock);
    struct sw_stat **pp = &stats_head, **after_family = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->module, st->module) == 0 && strcmp((*pp)->name, st->name) == 0)
            after_family = &(*pp)->next;
    pp = after_family ? after_family : pp;
    st->next = *pp;
    *pp = st;
    pthread_mutex_unlock(&stats_lock);
    return st;
}

void sw_stat_add(sw_stat_t *st, int64_t delta)
{
    if (st)
        atomic_fetch_add_explicit(&st->value, delta, memory_order_relaxed);
}

void sw_stat_set(sw_stat_t *st, int64_t value)
{
    if (st)
        atomic_store_explicit(&st->value, value, memory_order_relaxed);
}

/* ---- rendering ----------------------------------------------------------- */

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void render_counter(sw_strbuf_t *o, const char *name, const char *help, uint64_t v)
{
    sw_strbuf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

static void render_by_method(sw_strbuf_t *o, const char *name, const char *help, _Atomic uint64_t *arr)
{
    sw_strbuf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < SW_M_COUNT; i++)
        sw_strbuf_printf(o, "%s{method=\"%s\"} %llu\n", name, method_names[i], (unsigned long long)load(&arr[i]));
}

static void render_by_code(sw_strbuf_t *o, const char *name, const char *help, _Atomic uint64_t *arr)
{
    sw_strbuf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int code = 100; code < 700; code++) {
        uint64_t v = load(&arr[code]);
        if (v)
            sw_strbuf_printf(o, "%s{code=\"%d\"} %llu\n", name, code, (unsigned long long)v);
    }
}

/* One counter family with one label, a value per name. */
static void render_labelled(sw_strbuf_t *o, const char *name, const char *help, const char *label,
                            const char *const *names, _Atomic uint64_t *arr, int n)
{
    sw_strbuf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < n; i++)
        sw_strbuf_printf(o, "%s{%s=\"%s\"} %llu\n", name, label, names[i], (unsigned long long)load(&arr[i]));
}

static void render_gauge(sw_strbuf_t *o, const char *name, const char *help, _Atomic int64_t *g)
{
    sw_strbuf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
                     (long long)atomic_load_explicit(g, memory_order_relaxed));
}

char *sw_metrics_render(void)
{
    sw_strbuf_t o = {0};
    render_by_method(&o, "sipswitch_sip_requests_received_total", "SIP requests received, by method", sw_metrics.requests_in);
    render_by_method(&o, "sipswitch_sip_requests_sent_total", "SIP requests sent, by method", sw_metrics.requests_out);
    render_by_code(&o, "sipswitch_sip_responses_received_total", "SIP responses received, by status code", sw_metrics.responses_in);
    render_by_code(&o, "sipswitch_sip_responses_sent_total", "SIP responses sent, by status code", sw_metrics.responses_out);
    render_counter(&o, "sipswitch_sip_parse_errors_total", "SIP messages that failed framing or parsing", load(&sw_metrics.parse_errors));
    render_labelled(&o, "sipswitch_sip_dropped_total", "SIP messages dropped without an answer, by reason", "reason",
                    drop_names, sw_metrics.drops, SW_DROP_COUNT);
    render_counter(&o, "sipswitch_sip_bytes_received_total", "SIP bytes received", load(&sw_metrics.bytes_in));
    render_counter(&o, "sipswitch_sip_bytes_sent_total", "SIP bytes sent", load(&sw_metrics.bytes_out));
    sw_strbuf_printf(&o, "# HELP sipswitch_tcp_connections Open SIP TCP connections\n# TYPE sipswitch_tcp_connections gauge\n"
                   "sipswitch_tcp_connections %lld\n", (long long)atomic_load(&sw_metrics.tcp_connections));
    render_counter(&o, "sipswitch_lua_calls_total", "Calls into the route script", load(&sw_metrics.lua_calls));
    render_counter(&o, "sipswitch_lua_errors_total", "Route script runtime errors (including budget and memory)", load(&sw_metrics.lua_errors));
    render_counter(&o, "sipswitch_lua_budget_exceeded_total", "Script calls stopped by the instruction budget", load(&sw_metrics.lua_budget_exceeded));
    render_counter(&o, "sipswitch_lua_time_microseconds_total", "Time spent in the route script", load(&sw_metrics.lua_time_us));
    render_counter(&o, "sipswitch_script_loads_refused_total", "Script (re)loads refused (compile or top-level error)", load(&sw_metrics.script_loads_refused));
    render_counter(&o, "sipswitch_reloads_total", "Successful reloads (SIGHUP or API)", load(&sw_metrics.reloads_ok));
    render_counter(&o, "sipswitch_reloads_failed_total", "Reloads refused (bad cfg or script)", load(&sw_metrics.reloads_failed));
    static const char *const tx_kinds[SW_TX_METRIC_KINDS] = {NULL, "server_invite", "server_non_invite",
                                                             "client_invite", "client_non_invite"};
    sw_strbuf_printf(&o, "# HELP sipswitch_sip_transactions Live SIP transactions, by kind\n"
                         "# TYPE sipswitch_sip_transactions gauge\n");
    for (int k = 1; k < SW_TX_METRIC_KINDS; k++)
        sw_strbuf_printf(&o, "sipswitch_sip_transactions{kind=\"%s\"} %lld\n", tx_kinds[k],
                         (long long)atomic_load_explicit(&sw_metrics.transactions[k], memory_order_relaxed));
    render_counter(&o, "sipswitch_sip_retransmissions_total", "SIP requests and responses re-sent on the resend schedule", load(&sw_metrics.tx_retransmissions));
    render_counter(&o, "sipswitch_sip_retransmissions_absorbed_total", "Retransmitted SIP requests and responses absorbed by a transaction", load(&sw_metrics.tx_absorbed));
    render_counter(&o, "sipswitch_sip_transaction_timeouts_total", "SIP transactions that timed out (no answer, or a final response never ACKed)", load(&sw_metrics.tx_timeouts));
    render_counter(&o, "sipswitch_sip_transaction_transport_errors_total", "Client SIP transactions failed by the transport (TCP connect refused or lost)", load(&sw_metrics.tx_transport_errors));
    render_labelled(&o, "sipswitch_sip_limit_hits_total", "Messages or connections that hit a limit, by limit", "limit",
                    limit_names, sw_metrics.limit_hits, SW_LIMIT_COUNT);
    render_counter(&o, "sipswitch_sip_overload_rejected_total", "New INVITEs answered 503 because the signaling thread was behind", load(&sw_metrics.overload_rejected));
    render_counter(&o, "sipswitch_source_blocks_total", "Times a source address was blocked by the rate limit", load(&sw_metrics.source_blocks));
    render_gauge(&o, "sipswitch_blocked_sources", "Source addresses blocked now, by the rate limit or a module (GET /api/v1/blocked)", &sw_metrics.blocked_sources);
    render_gauge(&o, "sipswitch_sip_message_delay_milliseconds",
                 "Longest time a UDP message waited in the kernel before the switch read it, over the last second",
                 &sw_metrics.message_delay_ms);

    pthread_mutex_lock(&stats_lock);
    const struct sw_stat *prev = NULL;
    for (struct sw_stat *st = stats_head; st; prev = st, st = st->next) {
        const char *type = st->kind == SW_STAT_GAUGE ? "gauge" : "counter";
        if (!prev || strcmp(prev->module, st->module) != 0 || strcmp(prev->name, st->name) != 0)
            sw_strbuf_printf(&o, "# HELP sipswitch_%s_%s %s\n# TYPE sipswitch_%s_%s %s\n", st->module, st->name,
                             st->help, st->module, st->name, type);
        sw_strbuf_printf(&o, "sipswitch_%s_%s%s %lld\n", st->module, st->name, st->labels,
                         (long long)atomic_load_explicit(&st->value, memory_order_relaxed));
    }
    pthread_mutex_unlock(&stats_lock);
    return sw_strbuf_take(&o);
}
