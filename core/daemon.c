/* The daemon's life cycle. Start-up is all-or-nothing: any cfg, module,
 * script or socket error stops it with every reason printed. Reload is
 * all-or-nothing for cfg and script: a bad file changes nothing. */
#include "config.h"

#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "allocator.h"
#include "call/call.h"
#include "call/dialplan.h"
#include "call/gateways.h"
#include "call/sources.h"
#include "call/uac.h"
#include "cfg/core_params.h"
#include "http/mgmt.h"
#include "log.h"
#include "loop_jobs.h"
#include "lua/engine.h"
#include "module/loader.h"
#include "net/resolve.h"
#include "net/transport.h"
#include "sip/frontdoor.h"
#include "sip/guard.h"
#include "sip/transaction.h"
#include "stats/metrics.h"
#include "sipswitch/version.h"

/* What the call engine routes with, rebuilt with every cfg. */
typedef struct routing {
    sw_gateways_t gateways;
    sw_sources_t *sources;
    sw_dialplans_t *dialplans;  /* made active before the modules and the script see this cfg */
} routing_t;

typedef struct daemon_state {
    sw_daemon_options_t opts;
    sw_cfg_t *cfg;
    sw_core_settings_t core;
    sw_modules_t modules;
    sw_lua_engine_t *lua;
    routing_t routing;
    struct {
        struct reload *resolving;      /* the reload whose gateway names are being looked up */
        struct reload *head, *tail;    /* reloads asked for and not begun, in order */
        bool closed;                   /* shutting down: none applies any more */
    } reloads;
    uv_signal_t sig_hup, sig_term, sig_int;
    time_t started_at;
    bool running;
} daemon_state_t;

static daemon_state_t d;

const struct sw_modules *sw_daemon_modules(void)
{
    return d.running ? &d.modules : NULL;
}

uint64_t sw_daemon_uptime_seconds(void)
{
    return d.started_at ? (uint64_t)(time(NULL) - d.started_at) : 0;
}

static void print_errors(const sw_errors_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        fprintf(stderr, "%s\n", errs->items[i]);
}

static void log_errors(sw_log_level_t level, const sw_errors_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        sw_logf(level, NULL, NULL, "%s", errs->items[i]);
}

static const char *module_search_path(const sw_daemon_options_t *o)
{
    return o->module_path ? o->module_path : getenv("SIPSWITCH_MODULE_PATH");
}

/* Reads cfg, resolves [core], opens the modules it names (when `mods` is not
 * open yet) or reuses them, and resolves everything else. The [gateway]
 * table needs DNS: with `gateway_names` its hosts are only collected there
 * (a reload resolves them off the loop, then builds it); without, they are
 * resolved here, blocking (start-up, --check). */
static sw_cfg_t *load_config(const sw_daemon_options_t *o, sw_core_settings_t *core, sw_modules_t *mods,
                             bool open_modules, routing_t *routing, sw_resolve_batch_t *gateway_names,
                             sw_errors_t *errs)
{
    memset(core, 0, sizeof *core);
    sw_cfg_t *cfg = sw_cfg_read(o->cfg_path, errs);
    if (!cfg)
        return NULL;
    sw_core_settings_load(cfg, core, errs);
    if (open_modules)
        sw_modules_open(mods, core->load, core->n_load, module_search_path(o), core->module_dir, o->cfg_path,
                        core->load_line, errs);
    sw_modules_declare_params(mods, cfg, errs);
    sw_cfg_resolve_all(cfg, errs);
    if (routing) /* even with other errors: --check reports every bad rule */
        routing->dialplans = sw_dialplans_build(cfg, errs);
    if (routing && !errs->count) {
        routing->sources = sw_sources_build(sw_cfg_view(cfg, "core"), errs);
        if (gateway_names)
            sw_gateways_names(sw_cfg_view(cfg, "core"), gateway_names);
        else
            sw_gateways_build(sw_cfg_view(cfg, "core"), &routing->gateways, errs);
    }
    return cfg;
}

static void routing_free(routing_t *r)
{
    sw_sources_free(r->sources);
    sw_gateways_free(&r->gateways);
    sw_dialplans_free(r->dialplans);
    memset(r, 0, sizeof *r);
}

/* The call engine's settings from [core] and the routing tables. */
static void configure_calls(const sw_core_settings_t *core, routing_t *r)
{
    sw_call_settings_t s;
    memset(&s, 0, sizeof s);
    s.passthrough_headers = core->passthrough;
    s.n_passthrough = core->n_passthrough;
    s.invite_timeout_ms = 10000; /* SS_SIP_TIMEOUT_INVITE's default; per attempt from the script */
    s.allow_unknown_sources = core->allow_unknown_sources;
    for (size_t i = 0; i < core->n_listen; i++) {
        const sw_listen_spec_t *l = &core->listen[i];
        if (!s.local_host[0])
            snprintf(s.local_host, sizeof s.local_host, "%s", l->host);
        if (l->transport == SW_TRANSPORT_UDP && !s.udp_port) {
            s.udp_port = l->port;
            s.udp_socket_id = i + 1; /* listener ids are their index + 1 (transport.c) */
        }
        if (l->transport == SW_TRANSPORT_TCP && !s.tcp_port)
            s.tcp_port = l->port;
    }
    if (core->advertise && *core->advertise)
        snprintf(s.local_host, sizeof s.local_host, "%s", core->advertise);
    if (!s.udp_port)
        s.udp_port = s.tcp_port;
    sw_calls_configure(&s, &r->gateways, r->sources, d.lua, &d.modules);
}

/* Overload and flood protection from [core]; the routing tables say who is
 * trusted (the guard keeps the sources table: call again when it changes). */
static void configure_guard(const sw_core_settings_t *core, const routing_t *r)
{
    sw_guard_settings_t gs = {
        .rate_limit = {.rate = core->rate_limit, .burst = core->rate_limit_burst,
                       .block_ms = core->rate_limit_block_ms, .limit_trusted = core->rate_limit_trusted},
        .scanner_user_agents = core->scanner_user_agents,
        .n_scanner_user_agents = core->n_scanner_user_agents,
        .drop_unknown_sources = core->drop_unknown_sources,
        .overload_message_age_ms = core->overload_message_age_ms,
        .overload_retry_after_s = core->overload_retry_after_s,
        .max_headers = core->max_headers,
        .max_transactions = core->max_transactions,
    };
    sw_guard_configure(&gs, r->sources, &r->gateways);
}

static void lua_limits(const sw_core_settings_t *core, sw_lua_limits_t *l)
{
    l->instruction_budget = core->lua_instruction_budget;
    l->memory_limit = core->lua_memory_limit;
}

static sw_lua_engine_t *new_engine(const sw_modules_t *ms)
{
    sw_lua_engine_t *e = sw_lua_engine_new();
    for (size_t i = 0; i < ms->count; i++)
        if (ms->mods[i]->desc.lua_funcs) {
            sw_lua_module_funcs_t mf = {
                .module = ms->mods[i]->name, .self = ms->mods[i], .funcs = ms->mods[i]->desc.lua_funcs};
            sw_lua_engine_add_module(e, &mf);
        }
    return e;
}

int sw_daemon_check(const sw_daemon_options_t *o)
{
    sw_errors_t errs = {0};
    sw_core_settings_t core;
    sw_modules_t mods;
    memset(&mods, 0, sizeof mods);
    routing_t routing;
    memset(&routing, 0, sizeof routing);
    sw_cfg_t *cfg = load_config(o, &core, &mods, true, &routing, NULL, &errs);
    /* init the modules too (they bind no socket before start): their init
     * validates what the cfg parser cannot, and the script's top level may
     * call their functions */
    bool inited = false;
    sw_dialplans_activate(routing.dialplans);
    if (cfg && !errs.count) {
        sw_api_set_modules(&mods);
        inited = sw_modules_init(&mods, cfg, &errs) == 0;
    }
    if (inited) {
        sw_lua_engine_t *e = new_engine(&mods);
        sw_lua_limits_t lim;
        lua_limits(&core, &lim);
        char err[2048];
        if (sw_lua_engine_load(e, core.script, &lim, err, sizeof err))
            sw_errors_add(&errs, NULL, 0, "%s", err);
        sw_lua_engine_free(e);
    }
    if (cfg && !inited && core.script) {
        /* cfg or module errors: the script's top level cannot run without
         * its modules, but its syntax can still be checked */
        char err[2048];
        if (sw_lua_engine_compile_only(core.script, err, sizeof err))
            sw_errors_add(&errs, NULL, 0, "%s", err);
    }
    print_errors(&errs);
    int status = errs.count ? 1 : 0;
    if (!status)
        printf("%s: OK (%zu module%s, script %s)\n", o->cfg_path, mods.count, mods.count == 1 ? "" : "s",
               core.script);
    sw_modules_shutdown(&mods);
    routing_free(&routing);
    sw_core_settings_free(&core);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
    return status;
}

/* ---- --dump-params -------------------------------------------------------- */

typedef struct dump_ctx {
    bool markdown;
    const char *owner;
} dump_ctx_t;

static void scope_text(unsigned scopes, char *buf, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{SW_SCOPE_GLOBAL, "global"}, {SW_SCOPE_GATEWAY, "gateway"}, {SW_SCOPE_MAPPING, "mapping"},
                 {SW_SCOPE_ACCOUNT, "account"}, {SW_SCOPE_REGISTRATION, "registration"}};
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (scopes & names[i].bit)
            off += (size_t)snprintf(buf + off, n > off ? n - off : 0, "%s%s", off ? ", " : "", names[i].name);
}

static void dump_param(const char *owner, const sw_param_t *p, const sw_value_t *def, void *ud)
{
    dump_ctx_t *c = ud;
    char range[256], scopes[96];
    sw_param_describe_range(p, range, sizeof range);
    scope_text(p->scopes, scopes, sizeof scopes);
    const char *dflt = p->default_value ? p->default_value : "";
    (void)def;
    if (!c->owner || strcmp(c->owner, owner) != 0) {
        c->owner = owner;
        if (c->markdown)
            printf("\n## [%s]\n\n| name | VOS3000 name | type | default | range | where | reload | description |\n"
                   "|---|---|---|---|---|---|---|---|\n",
                   owner);
        else
            printf("\n[%s]\n", owner);
    }
    if (c->markdown) {
        printf("| `%s` | %s%s%s | %s | %s%s%s | %s | %s | %s | %s |\n", p->name, p->vos_alias ? "`" : "",
               p->vos_alias ? p->vos_alias : "", p->vos_alias ? "`" : "", sw_param_type_name(p->type),
               *dflt ? "`" : "", dflt, *dflt ? "`" : "", range, scopes,
               (p->flags & SW_PARAM_RELOADABLE) ? "yes" : "restart", p->doc ? p->doc : "");
    } else {
        printf("  %-26s %-34s %-14s default=%-24s %s%s%s[%s]%s\n    %s\n", p->name,
               p->vos_alias ? p->vos_alias : "-", sw_param_type_name(p->type), *dflt ? dflt : "(none)",
               *range ? "range=" : "", range, *range ? " " : "", scopes,
               (p->flags & SW_PARAM_RELOADABLE) ? " reloadable" : "", p->doc ? p->doc : "");
    }
}

int sw_daemon_dump_params(const sw_daemon_options_t *o, bool markdown)
{
    sw_errors_t errs = {0};
    sw_core_settings_t core;
    sw_modules_t mods;
    memset(&mods, 0, sizeof mods);
    routing_t routing;
    memset(&routing, 0, sizeof routing);
    sw_cfg_t *cfg = load_config(o, &core, &mods, true, &routing, NULL, &errs);
    if (!cfg) {
        /* no readable cfg: the core's parameters alone */
        cfg = sw_cfg_read_string(o->cfg_path, "", &errs);
        sw_core_settings_load(cfg, &core, &errs);
    }
    if (errs.count) {
        fprintf(stderr, "warning: %s has errors (run --check); parameters listed anyway\n", o->cfg_path);
    }
    if (markdown)
        printf("# sipswitch configuration reference\n\nGenerated by `sipswitch --dump-params --format=md` "
               "(sipswitch %s, module ABI %d.%d). Durations take a unit (`500ms`, `10s`, `2m`); a bare "
               "number is in the unit shown by its default.\n",
               SIPSWITCH_VERSION, SW_ABI_MAJOR, SW_ABI_MINOR);
    dump_ctx_t ctx = {.markdown = markdown};
    sw_cfg_visit_params(cfg, dump_param, &ctx);
    sw_modules_shutdown(&mods);
    routing_free(&routing);
    sw_core_settings_free(&core);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
    return 0;
}

/* The transaction layer's timers and response routing from [core]. */
static void configure_transactions(const sw_core_settings_t *core)
{
    sw_tx_settings_t ts;
    sw_tx_default_settings(&ts);
    ts.n_resend = core->n_resend < SW_MAX_RESEND ? core->n_resend : SW_MAX_RESEND;
    memcpy(ts.resend_ms, core->resend_ms, ts.n_resend * sizeof ts.resend_ms[0]);
    ts.force_rport = core->force_rport;
    sw_tx_configure(&ts);
}

/* ---- reload ----------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void warn_restart_only(const sw_core_settings_t *old, const sw_core_settings_t *nw)
{
    bool listen_same = old->n_listen == nw->n_listen;
    for (size_t i = 0; listen_same && i < old->n_listen; i++)
        listen_same = old->listen[i].transport == nw->listen[i].transport && old->listen[i].port == nw->listen[i].port &&
                      strcmp(old->listen[i].host, nw->listen[i].host) == 0;
    bool load_same = old->n_load == nw->n_load;
    for (size_t i = 0; load_same && i < old->n_load; i++)
        load_same = strcmp(old->load[i], nw->load[i]) == 0;
    if (!listen_same)
        sw_warn("reload: 'listen' changed; it takes effect at the next restart");
    if (!load_same || !same_str(old->module_dir, nw->module_dir))
        sw_warn("reload: 'load'/'module_dir' changed; modules are only loaded at start-up (restart needed)");
    if (!same_str(old->http, nw->http))
        sw_warn("reload: 'http' changed; it takes effect at the next restart");
    if (old->log_target != nw->log_target)
        sw_warn("reload: 'log_target' changed; it takes effect at the next restart");
}

/* A reload takes three steps so that no DNS lookup blocks the signaling
 * thread: the loop reads and checks the cfg (reload_begin), libuv's worker
 * threads resolve the gateway names it needs (net/resolve.h), and the loop
 * applies it, or refuses it, once every name has an answer (reload_apply).
 * Calls go on meanwhile with the running cfg. Reloads run one at a time in
 * the order asked: a second one reads the cfg only after the first applied,
 * or an older file could come back over a newer one. */
typedef struct reload {
    struct reload *next;
    char trigger[16];
    sw_reload_done_fn done;
    void *ud;
    /* what reload_begin read, owned here until reload_apply makes it live */
    sw_cfg_t *cfg;
    sw_core_settings_t core;
    routing_t routing;
    sw_resolve_batch_t *gateway_names;
    size_t lookups;                  /* names sent to DNS */
    uint64_t lookups_started_ms;
    sw_errors_t errs;
} reload_t;

static void reload_free(reload_t *r)
{
    routing_free(&r->routing);
    sw_core_settings_free(&r->core);
    sw_cfg_free(r->cfg);
    sw_resolve_batch_free(r->gateway_names);
    sw_errors_clear(&r->errs);
    free(r);
}

/* Builds the gateway table from the answered names, loads the script and
 * applies the cfg; or refuses, changing nothing. 0 when applied. */
static int reload_apply(reload_t *r)
{
    sw_errors_t *errs = &r->errs;
    if (r->cfg && !errs->count)
        sw_gateways_build_resolved(sw_cfg_view(r->cfg, "core"), r->gateway_names, &r->routing.gateways, errs);
    if (r->cfg && !errs->count) {
        /* the new script's top level and the modules' reload see the new plans */
        sw_dialplans_activate(r->routing.dialplans);
        sw_lua_limits_t lim;
        lua_limits(&r->core, &lim);
        char err[2048];
        if (sw_lua_engine_load(d.lua, r->core.script, &lim, err, sizeof err))
            sw_errors_add(errs, NULL, 0, "%s", err);
    }
    if (!r->cfg || errs->count) {
        sw_metric_inc(&sw_metrics.reloads_failed);
        log_errors(SW_LOG_ERROR, errs);
        sw_error("reload refused: the running cfg and script are unchanged");
        sw_dialplans_activate(d.routing.dialplans);
        return -1;
    }
    /* cfg and script are good: the script is already live; apply the cfg */
    warn_restart_only(&d.core, &r->core);
    /* a module that refuses keeps its old settings; the reload goes on, and
     * the refusals reach whoever asked (errs: warnings when 0 is returned) */
    size_t before = errs->count;
    sw_modules_reload(&d.modules, r->cfg, errs);
    for (size_t i = before; i < errs->count; i++)
        sw_warn("%s", errs->items[i]);
    sw_log_set_level((sw_log_level_t)r->core.log_level);
    sw_transport_apply(&r->core);
    sw_frontdoor_settings_t fs = {.max_message_size = r->core.max_message_size, .force_rport = r->core.force_rport};
    sw_frontdoor_configure(&fs, &d.modules);
    configure_transactions(&r->core);
    sw_core_settings_free(&d.core);
    d.core = r->core;
    memset(&r->core, 0, sizeof r->core);
    /* calls in progress copied what they use of the old tables; the engine
     * keeps pointers, so it is given the tables' final home, d.routing */
    routing_free(&d.routing);
    d.routing = r->routing;
    memset(&r->routing, 0, sizeof r->routing);
    configure_calls(&d.core, &d.routing);
    configure_guard(&d.core, &d.routing);
    sw_cfg_free(d.cfg);
    d.cfg = r->cfg;
    r->cfg = NULL;
    sw_metric_inc(&sw_metrics.reloads_ok);
    sw_notice("reload done: cfg %s and script %s are live", d.opts.cfg_path, d.core.script);
    return 0;
}

/* Tells whoever asked (rc 0 applied, -1 refused), then forgets the reload. */
static void reload_end(reload_t *r, int rc)
{
    if (r->done)
        r->done(rc, &r->errs, r->ud);
    reload_free(r);
}

static void reload_next(void);

static void on_gateway_names(sw_resolve_batch_t *names, void *ud)
{
    reload_t *r = ud;
    (void)names; /* r->gateway_names */
    d.reloads.resolving = NULL;
    if (d.reloads.closed) { /* shutting down: whoever asked was told already */
        reload_free(r);
        return;
    }
    sw_notice("reload: %zu gateway name%s answered in %llu ms", r->lookups, r->lookups == 1 ? "" : "s",
              (unsigned long long)(uv_now(sw_loop()) - r->lookups_started_ms));
    reload_end(r, reload_apply(r));
    reload_next();
}

/* Reads and checks the cfg, and starts the lookups of the gateway names it
 * needs. True when they run (on_gateway_names goes on); false when the
 * reload can be applied or refused at once. */
static bool reload_begin(reload_t *r)
{
    sw_notice("reload requested (%s)", r->trigger);
    r->gateway_names = sw_resolve_batch_new();
    r->cfg = load_config(&d.opts, &r->core, &d.modules, false, &r->routing, r->gateway_names, &r->errs);
    if (!r->cfg || r->errs.count)
        return false;
    r->lookups = sw_resolve_unanswered(r->gateway_names);
    r->lookups_started_ms = uv_now(sw_loop());
    if (sw_resolve_start(r->gateway_names, sw_loop(), on_gateway_names, r) != 0)
        return false;
    sw_notice("reload: resolving %zu gateway name%s before the new cfg applies", r->lookups,
              r->lookups == 1 ? "" : "s");
    return true;
}

/* Begins the reloads waiting, one after the other, until one waits for DNS. */
static void reload_next(void)
{
    while (!d.reloads.resolving && d.reloads.head && !d.reloads.closed) {
        reload_t *r = d.reloads.head;
        d.reloads.head = r->next;
        if (!d.reloads.head)
            d.reloads.tail = NULL;
        if (reload_begin(r)) {
            d.reloads.resolving = r;
            return;
        }
        reload_end(r, reload_apply(r));
    }
}

void sw_daemon_reload(const char *trigger, sw_reload_done_fn done, void *ud)
{
    /* the same asker twice before its first request began (SIGHUPs in a
     * row): one reload, which reads the cfg as it is when it begins, serves
     * both, and answers once */
    for (reload_t *w = d.reloads.head; w; w = w->next)
        if (w->done == done && w->ud == ud) {
            sw_notice("reload requested (%s): merged with the one waiting to begin", trigger);
            return;
        }
    reload_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    snprintf(r->trigger, sizeof r->trigger, "%s", trigger);
    r->done = done;
    r->ud = ud;
    if (d.reloads.closed) {
        sw_errors_add(&r->errs, NULL, 0, "shutting down: reload not applied");
        reload_end(r, -1);
        return;
    }
    if (d.reloads.tail)
        d.reloads.tail->next = r;
    else
        d.reloads.head = r;
    d.reloads.tail = r;
    if (d.reloads.resolving)
        sw_notice("reload requested (%s): queued behind the one resolving gateway names", trigger);
    reload_next();
}

/* Shutdown: no reload applies any more. Whoever waits is answered now; the
 * reload whose names are resolving is freed when its lookups come back
 * (the last turns of the loop), those not begun at once. */
static void reloads_close(void)
{
    d.reloads.closed = true;
    reload_t *r = d.reloads.resolving;
    if (r) {
        sw_resolve_cancel(r->gateway_names);
        sw_errors_add(&r->errs, NULL, 0, "shutting down: reload not applied");
        if (r->done)
            r->done(-1, &r->errs, r->ud);
        r->done = NULL;
    }
    while ((r = d.reloads.head)) {
        d.reloads.head = r->next;
        sw_errors_add(&r->errs, NULL, 0, "shutting down: reload not applied");
        reload_end(r, -1);
    }
    d.reloads.tail = NULL;
}

/* ---- run -------------------------------------------------------------------- */

/* systemd Type=notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void sd_notify_text(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    (void)sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    close(fd);
}

/* the outcome is in the log already */
static void on_sighup_reload_done(int rc, sw_errors_t *errs, void *ud)
{
    (void)rc;
    (void)errs;
    (void)ud;
    sd_notify_text("READY=1");
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGHUP) {
        sd_notify_text("RELOADING=1");
        sw_daemon_reload("SIGHUP", on_sighup_reload_done, NULL);
        return;
    }
    sw_notice("%s received: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify_text("STOPPING=1");
    uv_stop(sw_loop());
}

/* At shutdown, modules' stop hooks may send last requests (an unregister
 * to a carrier, SS_SIP_USER_AGENT_SEND_UNREGISTER): the loop keeps running
 * while some are pending, SHUTDOWN_DRAIN_MS at most, so that they can be
 * retransmitted and answered. New calls get 503 meanwhile. */
#define SHUTDOWN_DRAIN_MS 2000
static uv_timer_t drain_deadline; /* closed with the other handles */
static bool drain_expired;

static void on_drain_deadline(uv_timer_t *t)
{
    (void)t;
    drain_expired = true;
}

static void drain_module_requests(uv_loop_t *loop)
{
    if (sw_uac_pending() == 0)
        return;
    uint64_t t0 = uv_now(loop);
    drain_expired = false;
    uv_timer_init(loop, &drain_deadline);
    uv_timer_start(&drain_deadline, on_drain_deadline, SHUTDOWN_DRAIN_MS, 0);
    while (!drain_expired && sw_uac_pending() > 0)
        uv_run(loop, UV_RUN_ONCE);
    uv_timer_stop(&drain_deadline);
    uv_update_time(loop);
    size_t left = sw_uac_pending();
    sw_logf(left ? SW_LOG_WARN : SW_LOG_INFO, NULL, NULL, "shutdown: modules' last requests %s after %llu ms",
            left ? "still pending" : "answered", (unsigned long long)(uv_now(loop) - t0));
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int sw_daemon_run(const sw_daemon_options_t *o)
{
    memset(&d, 0, sizeof d);
    d.opts = *o;
    sw_errors_t errs = {0};
    d.cfg = load_config(o, &d.core, &d.modules, true, &d.routing, NULL, &errs);
    if (!d.cfg || errs.count) {
        print_errors(&errs);
        fprintf(stderr, "sipswitch: not started: fix the errors above (sipswitch --check -c %s)\n", o->cfg_path);
        sw_modules_shutdown(&d.modules);
        routing_free(&d.routing);
        sw_core_settings_free(&d.core);
        sw_cfg_free(d.cfg);
        sw_errors_clear(&errs);
        return 1;
    }
    sw_log_setup((sw_log_target_t)d.core.log_target, (sw_log_level_t)d.core.log_level);
    sw_notice("sipswitch %s starting (cfg %s, module ABI %d.%d, allocator %s)", SIPSWITCH_VERSION, o->cfg_path,
              SW_ABI_MAJOR, SW_ABI_MINOR, sw_allocator_name());
    if (sw_allocator_mimalloc_unused())
        sw_warn("mimalloc is loaded but malloc() is not its (another malloc was bound first, an LD_PRELOAD?): "
                "the C library's malloc serves the switch, at more CPU per call");
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t *loop = uv_default_loop();
    sw_loop_jobs_init(loop);
    sw_api_set_modules(&d.modules);

    d.lua = new_engine(&d.modules);
    sw_dialplans_activate(d.routing.dialplans);
    sw_lua_limits_t lim;
    lua_limits(&d.core, &lim);
    char err[2048];
    int status = 1;
    /* modules first: the script's top level may call their functions */
    if (sw_modules_init(&d.modules, d.cfg, &errs))
        goto out;
    if (sw_lua_engine_load(d.lua, d.core.script, &lim, err, sizeof err)) {
        sw_errors_add(&errs, NULL, 0, "%s", err);
        goto out;
    }
    sw_frontdoor_settings_t fs = {.max_message_size = d.core.max_message_size, .force_rport = d.core.force_rport};
    sw_frontdoor_configure(&fs, &d.modules);
    configure_transactions(&d.core);
    configure_calls(&d.core, &d.routing);
    configure_guard(&d.core, &d.routing);
    if (sw_transport_start(&d.core, &errs))
        goto out;
    if (sw_mgmt_start(d.core.http, &errs))
        goto out;
    if (sw_modules_start(&d.modules, &errs))
        goto out;

    uv_signal_init(loop, &d.sig_hup);
    uv_signal_init(loop, &d.sig_term);
    uv_signal_init(loop, &d.sig_int);
    uv_signal_start(&d.sig_hup, on_signal, SIGHUP);
    uv_signal_start(&d.sig_term, on_signal, SIGTERM);
    uv_signal_start(&d.sig_int, on_signal, SIGINT);
    d.started_at = time(NULL);
    d.running = true;
    sw_notice("sipswitch ready: %zu module%s, script %s", d.modules.count, d.modules.count == 1 ? "" : "s",
              d.core.script);
    sd_notify_text("READY=1");
    uv_run(loop, UV_RUN_DEFAULT);
    status = 0;

out:
    reloads_close();
    if (errs.count) {
        log_errors(SW_LOG_ERROR, &errs);
        sw_error("not started: fix the errors above");
    }
    /* shutdown: end the calls while the sockets can still carry the BYEs,
     * let modules send their last requests, stop taking work, then let
     * modules clean up */
    sw_calls_shutdown();
    sw_modules_stop(&d.modules);
    if (d.running)
        drain_module_requests(loop);
    sw_mgmt_stop();
    sw_loop_jobs_close();
    sw_transport_stop();
    sw_guard_stop();
    d.running = false;
    /* destroy runs only for modules whose init succeeded (the loader tracks it) */
    sw_modules_shutdown(&d.modules);
    sw_tx_shutdown(); /* after the modules: their destroy may still detach */
    sw_uac_shutdown();
    sw_lua_engine_free(d.lua);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    routing_free(&d.routing);
    sw_core_settings_free(&d.core);
    sw_cfg_free(d.cfg);
    sw_errors_clear(&errs);
    if (status == 0)
        sw_notice("sipswitch stopped");
    return status;
}
