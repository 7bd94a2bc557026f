/* Overload and flood protection: see guard.h for the order of the checks. */
#include "config.h"

#include "sip/guard.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "call/gateways.h"
#include "call/sources.h"
#include "log.h"
#include "loop_jobs.h"
#include "net/ip_key.h"
#include "net/transport.h"
#include "sip/substrings.h"
#include "sip/transaction.h"
#include "stats/metrics.h"

/* Enough for the sources a busy edge sees in a block time; 56 bytes each. */
#define RATE_TABLE_ENTRIES 16384
/* An old UDP message makes TCP messages (whose wait is unknown) count the
 * thread as behind for this long. */
#define BEHIND_HOLD_MS 1000

static struct {
    bool configured;
    sw_guard_settings_t s;
    sw_substrings_t *scanners;      /* s.scanner_user_agents; NULL for none */
    const sw_sources_t *sources;
    sw_ip_key_t *gateway_ips;          /* sorted, for bsearch */
    size_t n_gateway_ips;
    sw_ratelimit_t *table;
    uv_timer_t sweep;
    bool sweep_started;
    int64_t message_age_ms;         /* of the message being handled; -1 unknown */
    uint64_t last_behind_ms;        /* when a message last waited too long (0: never) */
    int64_t max_age_ms;             /* longest wait since the last sweep */
    sw_rl_counters_t told;          /* the table's size costs last logged */
    uint64_t told_at_ms;
} g = {.message_age_ms = -1};

static uint64_t now_ms(void)
{
    if (sw_loop())
        return uv_now(sw_loop());
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- who is trusted --------------------------------------------------------- */

static int ip_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(sw_ip_key_t));
}

static void take_gateways(const sw_gateways_t *gws)
{
    free(g.gateway_ips);
    g.gateway_ips = NULL;
    g.n_gateway_ips = 0;
    if (!gws || !gws->count)
        return;
    g.gateway_ips = calloc(gws->count, sizeof *g.gateway_ips);
    if (!g.gateway_ips)
        return;
    for (size_t i = 0; i < gws->count; i++)
        if (sw_ip_key_of((const struct sockaddr *)&gws->items[i].addr, &g.gateway_ips[g.n_gateway_ips]))
            g.n_gateway_ips++;
    qsort(g.gateway_ips, g.n_gateway_ips, sizeof *g.gateway_ips, ip_key_cmp);
}

/* Asked once per rate-table entry: a customer's or a carrier's address. */
static bool is_trusted(const struct sockaddr *src, void *ud)
{
    (void)ud;
    if (sw_sources_match(g.sources, src))
        return true;
    sw_ip_key_t k;
    return g.n_gateway_ips && sw_ip_key_of(src, &k) &&
           bsearch(&k, g.gateway_ips, g.n_gateway_ips, sizeof *g.gateway_ips, ip_key_cmp) != NULL;
}

/* ---- configuration ------------------------------------------------------------ */

static void free_scanners(void)
{
    sw_substrings_free(g.scanners);
    g.scanners = NULL;
}

/* The table is full of blocks set by modules where it had to forget one,
 * or leave an address unlimited: said at most once a minute. */
#define FULL_TABLE_LOG_INTERVAL_MS 60000

static void tell_table_costs(uint64_t now)
{
    sw_rl_counters_t c;
    sw_ratelimit_counters(g.table, &c);
    if ((c.untracked == g.told.untracked && c.evicted_blocks == g.told.evicted_blocks) ||
        (g.told_at_ms && now - g.told_at_ms < FULL_TABLE_LOG_INTERVAL_MS))
        return;
    sw_warn("rate-limit table crowded with blocks set by modules: %llu block(s) ended early to make room, "
            "%llu packet(s) from addresses it could not track (not limited)",
            (unsigned long long)(c.evicted_blocks - g.told.evicted_blocks),
            (unsigned long long)(c.untracked - g.told.untracked));
    g.told = c;
    g.told_at_ms = now;
}

static void on_sweep(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ms();
    atomic_store_explicit(&sw_metrics.blocked_sources, (int64_t)sw_ratelimit_blocked_count(g.table, now),
                          memory_order_relaxed);
    atomic_store_explicit(&sw_metrics.message_delay_ms, g.max_age_ms, memory_order_relaxed);
    g.max_age_ms = 0;
    tell_table_costs(now);
}

void sw_guard_configure(const sw_guard_settings_t *s, const struct sw_sources *sources,
                        const struct sw_gateways *gateways)
{
    free_scanners();
    g.s = *s;
    /* The names are compiled into an automaton; the caller's list is not
     * kept. An empty name would match every User-Agent: it is ignored, and
     * a list of nothing else checks nothing. */
    bool any_scanner = false;
    for (size_t i = 0; i < s->n_scanner_user_agents; i++)
        any_scanner = any_scanner || s->scanner_user_agents[i][0] != '\0';
    if (any_scanner &&
        !(g.scanners = sw_substrings_new((const char *const *)s->scanner_user_agents, s->n_scanner_user_agents)))
        sw_error("no memory for the scanner User-Agents: they are let through");
    g.s.scanner_user_agents = NULL;
    g.sources = sources;
    take_gateways(gateways);
    if (!g.table)
        g.table = sw_ratelimit_new(RATE_TABLE_ENTRIES);
    if (!g.table) {
        sw_error("no memory for the rate-limit table: rate limiting is off");
    } else {
        sw_ratelimit_configure(g.table, &s->rate_limit);
        sw_ratelimit_forget_trust(g.table); /* mappings and gateways may have changed */
    }
    if (!g.sweep_started && g.table && sw_loop()) {
        uv_timer_init(sw_loop(), &g.sweep);
        uv_timer_start(&g.sweep, on_sweep, 1000, 1000);
        uv_unref((uv_handle_t *)&g.sweep); /* the sweep alone keeps no loop alive */
        g.sweep_started = true;
    }
    g.configured = true;
}

void sw_guard_stop(void)
{
    if (g.sweep_started) {
        uv_timer_stop(&g.sweep);
        uv_close((uv_handle_t *)&g.sweep, NULL);
        g.sweep_started = false;
    }
    sw_ratelimit_free(g.table);
    g.table = NULL;
    free_scanners();
    free(g.gateway_ips);
    g.gateway_ips = NULL;
    g.n_gateway_ips = 0;
    g.sources = NULL;
    g.configured = false;
}

/* ---- 1. per source address ------------------------------------------------------ */

bool sw_guard_admit(const struct sockaddr *src)
{
    if (!g.configured || !g.table)
        return true;
    bool trusted = false;
    switch (sw_ratelimit_check(g.table, src, now_ms(), is_trusted, NULL, &trusted)) {
    case SW_RL_PASS:
        break;
    case SW_RL_NEWLY_BLOCKED:
        sw_metric_inc(&sw_metrics.source_blocks);
        atomic_fetch_add_explicit(&sw_metrics.blocked_sources, 1, memory_order_relaxed);
        if (sw_log_enabled(SW_LOG_NOTICE)) {
            sw_msg_origin_t o;
            sw_fill_origin_addr(&o, src);
            sw_notice("source %s exceeded the rate limit (%u/s, burst %u): blocked for %llu s", o.src_ip,
                      g.s.rate_limit.rate, g.s.rate_limit.burst,
                      (unsigned long long)(g.s.rate_limit.block_ms / 1000));
        }
        /* fall through */
    case SW_RL_BLOCKED:
        sw_metric_inc(&sw_metrics.drops[SW_DROP_RATE_LIMITED]);
        return false;
    case SW_RL_BLOCKED_EXTERNAL:
        sw_metric_inc(&sw_metrics.drops[SW_DROP_BLOCKED]);
        return false;
    }
    if (g.s.drop_unknown_sources && !trusted) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_UNKNOWN_SOURCE]);
        return false;
    }
    return true;
}

/* ---- 2. the raw header section ----------------------------------------------------- */

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* True when the line line[0..n) (its LF excluded) is "User-Agent" [WSP] ":"
 * value, in any letter case, with a scanner name in the value. */
static bool scanner_line(const char *line, size_t n)
{
    static const char name[] = "user-agent";
    /* most lines end at the first byte: the name's first letter is tested
     * before anything else */
    if (n < sizeof name || (line[0] != 'u' && line[0] != 'U'))
        return false;
    size_t i = 1;
    while (i < sizeof name - 1 && lower(line[i]) == name[i])
        i++;
    if (i < sizeof name - 1)
        return false;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < n && line[i] == ':' && sw_substrings_find(g.scanners, line + i + 1, n - i - 1);
}

bool sw_guard_scanner(const char *hdrs, size_t len)
{
    if (!g.configured || !g.scanners)
        return false;
    /* every line after the start line */
    const char *end = hdrs + len, *lf = memchr(hdrs, '\n', len);
    while (lf != NULL) {
        const char *line = lf + 1;
        lf = memchr(line, '\n', (size_t)(end - line));
        if (scanner_line(line, (size_t)((lf != NULL ? lf : end) - line))) {
            sw_metric_inc(&sw_metrics.drops[SW_DROP_SCANNER]);
            return true;
        }
    }
    return false;
}

bool sw_guard_too_many_headers(size_t header_lines)
{
    if (!g.configured || !g.s.max_headers || header_lines <= g.s.max_headers)
        return false;
    sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_HEADERS]);
    return true;
}

/* ---- 3. overload ------------------------------------------------------------------------- */

void sw_guard_note_message_age(int64_t age_ms)
{
    g.message_age_ms = age_ms;
    if (age_ms < 0)
        return;
    if (age_ms > g.max_age_ms)
        g.max_age_ms = age_ms;
    if (g.s.overload_message_age_ms && (uint64_t)age_ms > g.s.overload_message_age_ms)
        g.last_behind_ms = now_ms();
}

/* Behind: this message waited too long, or (its wait unknown) one did
 * within the last BEHIND_HOLD_MS. */
static bool behind(void)
{
    if (!g.s.overload_message_age_ms)
        return false;
    if (g.message_age_ms >= 0)
        return (uint64_t)g.message_age_ms > g.s.overload_message_age_ms;
    return g.last_behind_ms && now_ms() - g.last_behind_ms < BEHIND_HOLD_MS;
}

static size_t live_transactions(void)
{
    return sw_tx_count(SW_TX_SERVER_INVITE) + sw_tx_count(SW_TX_SERVER_NON_INVITE) +
           sw_tx_count(SW_TX_CLIENT_INVITE) + sw_tx_count(SW_TX_CLIENT_NON_INVITE);
}

/* A request a live server transaction holds is a retransmission: its
 * transaction answers it again (a call in progress must not get a 503 for
 * its own INVITE resent while the loop was behind). Looked up only when
 * shedding, so the common path pays nothing. */
static bool already_accepted(const sw_msg_t *req)
{
    return sw_tx_server_known((sw_msg_t *)req);
}

sw_guard_action_t sw_guard_shed_request(const sw_msg_t *req, uint32_t *retry_after_s)
{
    *retry_after_s = g.s.overload_retry_after_s;
    if (!g.configured || sw_msg_to_tag(req))
        return SW_GUARD_HANDLE; /* in a dialog: calls in progress go on */
    const char *method = sw_msg_method(req);
    if (strcmp(method, "ACK") == 0 || strcmp(method, "CANCEL") == 0)
        return SW_GUARD_HANDLE; /* they end transactions, never open one that lasts */
    bool invite = strcmp(method, "INVITE") == 0;
    if (g.s.max_transactions && live_transactions() >= g.s.max_transactions && !already_accepted(req)) {
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_TRANSACTIONS]);
        if (invite)
            return SW_GUARD_ANSWER_503;
        sw_metric_inc(&sw_metrics.drops[SW_DROP_TRANSACTION_LIMIT]);
        return SW_GUARD_DROP;
    }
    if (invite && behind() && !already_accepted(req)) {
        sw_metric_inc(&sw_metrics.overload_rejected);
        return SW_GUARD_ANSWER_503;
    }
    return SW_GUARD_HANDLE;
}

/* ---- management ---------------------------------------------------------------------- */

size_t sw_guard_list_blocked(sw_rl_blocked_t *out, size_t max)
{
    return g.table ? sw_ratelimit_list_blocked(g.table, now_ms(), out, max) : 0;
}

static void refresh_blocked_gauge(void)
{
    atomic_store_explicit(&sw_metrics.blocked_sources, (int64_t)sw_ratelimit_blocked_count(g.table, now_ms()),
                          memory_order_relaxed);
}

bool sw_guard_unblock(const char *ip_text, const char *only_by)
{
    sw_rl_blocked_t was;
    if (!g.table || !sw_ratelimit_unblock(g.table, ip_text, now_ms(), only_by, &was))
        return false;
    refresh_blocked_gauge();
    sw_notice("source %s unblocked (%s%s%s) by %s", was.ip, was.reason, was.by ? " set by " : "", was.by ? was.by : "",
              only_by ? only_by : "the management API");
    return true;
}

sw_rl_block_result_t sw_guard_block(const char *ip_text, uint64_t duration_ms, const char *by, const char *reason)
{
    if (!g.table)
        return SW_RL_BLOCK_INVALID;
    sw_rl_block_result_t r = sw_ratelimit_block(g.table, ip_text, now_ms(), duration_ms, by, reason, is_trusted, NULL);
    switch (r) {
    case SW_RL_BLOCK_SET:
        refresh_blocked_gauge();
        sw_notice("source %s blocked by %s (%s) for %llu s: everything from it is dropped", ip_text, by, reason,
                  (unsigned long long)((duration_ms + 999) / 1000));
        break;
    case SW_RL_BLOCK_TRUSTED_FIRST:
        /* a customer's trunk or a carrier: one wrong password behind it must
         * not cut everyone else off */
        sw_warn("%s asked to block %s (%s): not blocked, it is a trusted address (a [mapping] source or a "
                "[gateway]); not logged again for it",
                by, ip_text, reason);
        break;
    case SW_RL_BLOCK_TOO_MANY_ORIGINS:
        sw_error("%s asked to block %s (%s): refused, %d different reasons are in use already", by, ip_text, reason,
                 SW_RL_MAX_ORIGINS);
        break;
    case SW_RL_BLOCK_TRUSTED:
    case SW_RL_BLOCK_INVALID:
        break;
    }
    return r;
}
