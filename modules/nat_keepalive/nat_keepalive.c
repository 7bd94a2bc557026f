/*
 * nat_keepalive: keeps the NAT pinholes of registered devices open
 * (PARAMETERS.md section 5), without VOS3000's weakness: every device
 * behind NAT gets its heartbeat every period whatever their number, the
 * sends spread evenly over the period.
 *
 *   on_register   the registrar's bindings: a device behind NAT (UDP or
 *                 TCP) is placed in the wheel (schedule.h) when added and
 *                 keeps its slot on refreshes; it leaves on removal/expiry;
 *   a timer       turns the wheel every send_interval (or faster, pacing.h)
 *                 and sends the heartbeat of every device whose slot came:
 *                 the message over UDP from the socket the device registered
 *                 through (same pinhole), CRLF CRLF on its TCP connection,
 *                 or an OPTIONS (options_ping.c).
 */
#include <sipswitch/module.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keepalive_runtime.h"
#include "liveness.h"

ka_runtime_t ka;

static const char *const sent_labels[KA_SENT_KINDS] = {"udp", "tcp", "options"};

/* ---- the wheel's turns ----------------------------------------------------------------- */

/* A device is late when served more than one extra turn after its slot. */
static uint64_t late_after_ms(void)
{
    uint64_t turn = ka.pace.interval_ms;
    return turn + (turn > 50 ? turn : 50);
}

static void send_raw_heartbeat(ka_device_t *d)
{
    const sw_api_t *api = ka.api;
    int tcp = d->transport == SW_TRANSPORT_TCP;
    int rc = tcp ? api->send_raw(SW_TRANSPORT_TCP, d->socket_id, ka_device_source(d), "\r\n\r\n", 4)
                 : api->send_raw(SW_TRANSPORT_UDP, d->socket_id, ka_device_source(d), ka.conf.message,
                                 ka.conf.message_len);
    if (rc == 0)
        ka.sent[tcp ? KA_SENT_TCP : KA_SENT_UDP]++;
    else
        ka.send_errors++;
}

static void visit(void *ud, uint32_t id)
{
    (void)ud;
    ka_device_t *d = ka_devices_get(ka.devices, id);
    if (!d)
        return;
    const ka_account_settings_t *settings = ka_config_account(&ka.conf, ka_device_account(d));
    if (settings->mode == KA_MODE_OPTIONS)
        ka_options_visit(id, d, settings);
    else
        send_raw_heartbeat(d);
}

static uint64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void turn(sw_module_t *self, void *arg);

/* The timer runs while the module is started and the message is not empty. */
static void set_timer(void)
{
    const sw_api_t *api = ka.api;
    bool on = ka.started && ka.conf.message_len > 0;
    if (ka.timer && (!on || ka.timer_ms != ka.pace.interval_ms)) {
        api->timer_stop(ka.timer);
        ka.timer = NULL;
    }
    if (on && !ka.timer) {
        ka.timer_ms = ka.pace.interval_ms;
        ka.timer = api->timer_start(ka.self, "nat_keepalive", ka.timer_ms, ka.timer_ms, turn, NULL);
    }
}

/* The pace for the devices now in the wheel: raised (warned once, counted)
 * when the configured one cannot cover them. */
static void update_pace(void)
{
    const sw_api_t *api = ka.api;
    ka_pacing_config_t pc = {.period_ms = ka.conf.period_ms,
                             .interval_ms = ka.conf.interval_ms,
                             .batch = ka.conf.batch,
                             .floor_ms = ka_sched_slot_ms(ka.sched)};
    size_t n = ka_sched_count(ka.sched);
    const ka_pace_t *current = ka.have_pace ? &ka.pace : NULL;
    ka_pace_t next = ka_pacing_for(&pc, n, current);
    if (ka_pacing_is_raise(current, &next)) {
        api->stat_add(ka.m.pace_raised, 1);
        api->log(ka.self, ka.pace_warned ? SW_LOG_INFO : SW_LOG_WARN, NULL,
                 "%zu devices behind NAT but period %llu ms / send_interval %u ms x batch %u serves %llu a period: "
                 "pace raised to a turn every %u ms (about %llu devices each) so that every device keeps its "
                 "heartbeat every period",
                 n, (unsigned long long)ka.conf.period_ms, ka.conf.interval_ms, ka.conf.batch,
                 (unsigned long long)ka_pacing_capacity(&pc), next.interval_ms, (unsigned long long)next.batch);
        ka.pace_warned = true;
    } else if (current && current->raised && !next.raised) {
        api->log(ka.self, SW_LOG_NOTICE, NULL, "%zu devices behind NAT: back to the configured pace (%u ms, %u)", n,
                 ka.conf.interval_ms, ka.conf.batch);
    }
    ka.pace = next;
    ka.have_pace = true;
    api->stat_set(ka.m.send_interval_ms, next.interval_ms);
    api->stat_set(ka.m.batch, (int64_t)next.batch);
}

static void flush_counters(void)
{
    const sw_api_t *api = ka.api;
    for (int k = 0; k < KA_SENT_KINDS; k++)
        if (ka.sent[k]) {
            api->stat_add(ka.m.heartbeats[k], (int64_t)ka.sent[k]);
            ka.sent[k] = 0;
        }
    if (ka.send_errors) {
        api->stat_add(ka.m.send_errors, (int64_t)ka.send_errors);
        ka.send_errors = 0;
    }
}

static void turn(sw_module_t *self, void *arg)
{
    (void)self;
    (void)arg;
    const sw_api_t *api = ka.api;
    uint64_t cpu0 = thread_cpu_us();
    ka_run_report_t r;
    ka_sched_run(ka.sched, api->now_ms(), late_after_ms(), visit, NULL, &r);
    ka_options_drop_queued();
    flush_counters();
    if (r.late)
        api->stat_add(ka.m.late, (int64_t)r.late);
    if (r.skipped)
        api->log(ka.self, SW_LOG_WARN, NULL,
                 "the loop was held up for more than a period: every device served once, late (%zu slot visits "
                 "not repeated)", r.skipped);
    ka.pass_cpu_us += thread_cpu_us() - cpu0;
    if (r.pass_ended) {
        ka_pass_t p = ka_sched_last_pass(ka.sched);
        api->stat_set(ka.m.heartbeats_last_pass, (int64_t)p.visits);
        api->stat_set(ka.m.last_pass_ms, (int64_t)p.duration_ms);
        api->stat_set(ka.m.last_pass_cpu_ms, (int64_t)(ka.pass_cpu_us / 1000));
        ka.pass_cpu_us = 0;
    }
    update_pace();
    set_timer();
}

/* ---- bindings ------------------------------------------------------------------------ */

void ka_forget(uint32_t id)
{
    ka_sched_remove(ka.sched, id);
    ka_devices_remove(ka.devices, id);
    ka.api->stat_set(ka.m.devices, (int64_t)ka_devices_count(ka.devices));
}

static void refuse(const sw_binding_event_t *ev)
{
    ka.api->stat_add(ka.m.refused, 1);
    ka.api->log(ka.self, SW_LOG_WARN, NULL, "binding %.200s -> %.200s from %.64s not kept alive: too long, control "
                "characters, or out of memory", ev->aor, ev->contact, ev->source ? ev->source : "?");
}

static void on_register(sw_module_t *self, const sw_binding_event_t *ev)
{
    (void)self;
    if (!ev || ev->size < offsetof(sw_binding_event_t, socket_id) + sizeof ev->socket_id || !ev->aor ||
        !ev->contact)
        return;
    uint32_t id = ka_devices_find(ka.devices, ev->aor, ev->contact);
    /* send_raw reaches UDP and TCP devices; a TLS one keeps its own connection alive */
    bool keep = (ev->kind == SW_BINDING_ADDED || ev->kind == SW_BINDING_REFRESHED) && ev->behind_nat &&
                ev->source && (ev->transport == SW_TRANSPORT_UDP || ev->transport == SW_TRANSPORT_TCP);
    if (!keep) {
        if (id != KA_NONE)
            ka_forget(id);
        return;
    }
    ka_binding_t b = {.aor = ev->aor,
                      .contact = ev->contact,
                      .source = ev->source,
                      .account = ev->account,
                      .socket_id = ev->socket_id,
                      .transport = (uint8_t)ev->transport};
    if (id != KA_NONE) {
        /* a refresh, maybe through a new NAT mapping: same slot, new address */
        if (ka_devices_update(ka.devices, id, &b) != 0) {
            ka_forget(id);
            refuse(ev);
            return;
        }
        ka_liveness_on_refresh(ka_devices_get(ka.devices, id));
        return;
    }
    id = ka_devices_add(ka.devices, &b);
    if (id != KA_NONE && ka_sched_add(ka.sched, id) == KA_NONE) {
        ka_devices_remove(ka.devices, id);
        id = KA_NONE;
    }
    if (id == KA_NONE) {
        refuse(ev);
        return;
    }
    ka.api->stat_set(ka.m.devices, (int64_t)ka_devices_count(ka.devices));
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static sw_stat_t *stat(const char *name, const char *help, sw_stat_kind_t kind)
{
    return ka.api->stat_register(ka.self, name, help, kind);
}

static void register_metrics(void)
{
    ka_metrics_t *m = &ka.m;
    char name[64];
    m->devices = stat("devices", "Registered devices behind NAT kept alive", SW_STAT_GAUGE);
    for (int k = 0; k < KA_SENT_KINDS; k++) {
        snprintf(name, sizeof name, "heartbeats_total{kind=\"%s\"}", sent_labels[k]);
        m->heartbeats[k] = stat(name, "Heartbeats sent: the message over UDP, CRLF CRLF over TCP, OPTIONS pings",
                                SW_STAT_COUNTER);
    }
    m->heartbeats_last_pass =
        stat("heartbeats_last_pass", "Devices served in the last complete pass (one period)", SW_STAT_GAUGE);
    m->last_pass_ms = stat("last_pass_ms", "How long the last pass over all devices took (the period when on time)",
                           SW_STAT_GAUGE);
    m->last_pass_cpu_ms =
        stat("last_pass_cpu_ms", "Signaling-thread CPU time the last pass cost, sends included", SW_STAT_GAUGE);
    m->late = stat("devices_late_total", "Heartbeats sent more than one extra turn after their slot (loop held up)",
                   SW_STAT_COUNTER);
    m->pace_raised = stat("pace_raised_total",
                          "Times the configured pacing could not cover the devices and was raised", SW_STAT_COUNTER);
    m->send_interval_ms = stat("send_interval_ms", "The wheel turns this often (ms): send_interval, or less when "
                               "the pace is raised", SW_STAT_GAUGE);
    m->batch = stat("batch", "Devices a turn may serve at the pace in force: batch, or more when raised past "
                    "one slot per turn", SW_STAT_GAUGE);
    m->send_errors = stat("send_errors_total", "Heartbeats the core could not send (no socket, no connection)",
                          SW_STAT_COUNTER);
    m->options_failures = stat("options_failures_total",
                               "OPTIONS pings unanswered within a period, or failed (timeout, transport)",
                               SW_STAT_COUNTER);
    m->dropped = stat("bindings_dropped_total", "Bindings dropped after keepalive_max_missed unanswered OPTIONS",
                      SW_STAT_COUNTER);
    m->refused = stat("bindings_refused_total", "NAT bindings not kept alive (malformed, too long, out of memory)",
                      SW_STAT_COUNTER);
}

static int load_settings(sw_module_t *self, const sw_config_t *cfg, ka_config_t *out)
{
    char err[512], warn[256];
    if (ka_config_load(ka.api, cfg, out, err, sizeof err, warn, sizeof warn) != 0) {
        ka.api->set_error(self, "%s", err);
        return -1;
    }
    if (warn[0])
        ka.api->log(self, SW_LOG_WARN, NULL,
                    "allow_short_intervals: accepting values below the VOS3000 minimum (%s); for tests only", warn);
    return 0;
}

static void log_settings(void)
{
    if (!ka.conf.message_len) {
        ka.api->log(ka.self, SW_LOG_INFO, NULL, "message is empty: keep-alives are off");
        return;
    }
    ka.api->log(ka.self, SW_LOG_INFO, NULL,
                "a heartbeat per device every %llu ms, in bursts every %u ms of up to %u devices (%u slots of %u ms)",
                (unsigned long long)ka.conf.period_ms, ka.conf.interval_ms, ka.conf.batch, ka_sched_slots(ka.sched),
                ka_sched_slot_ms(ka.sched));
}

/* New settings (init, reload): the pace starts again from the configured
 * one, and so does the once-only warning. */
static void apply_settings(void)
{
    ka.have_pace = false;
    ka.pace_warned = false;
    update_pace();
    set_timer();
    log_settings();
}

static int ka_init(sw_module_t *self, const sw_api_t *api, const sw_config_t *cfg)
{
    memset(&ka, 0, sizeof ka);
    ka.api = api;
    ka.self = self;
    if (api->size < offsetof(sw_api_t, send_raw) + sizeof api->send_raw) {
        api->set_error(self, "this sipswitch has module ABI %u.%u without send_raw and request_send (1.1 needed)",
                       api->abi_major, api->abi_minor);
        return -1;
    }
    if (load_settings(self, cfg, &ka.conf) != 0)
        return -1;
    ka.devices = ka_devices_new(api->wallclock_ms() ^ (uint64_t)(uintptr_t)&ka);
    ka.sched = ka_sched_new(ka.conf.period_ms);
    if (!ka.devices || !ka.sched) {
        api->set_error(self, "out of memory");
        ka_devices_free(ka.devices);
        ka_sched_free(ka.sched);
        ka_config_free(api, &ka.conf);
        return -1;
    }
    snprintf(ka.ping_prefix, sizeof ka.ping_prefix, "%llx", (unsigned long long)api->wallclock_ms());
    register_metrics();
    apply_settings();
    return 0;
}

static int ka_start(sw_module_t *self)
{
    (void)self;
    const sw_api_t *api = ka.api;
    if (api->local_address(SW_TRANSPORT_UDP, ka.local_udp, sizeof ka.local_udp) != 0)
        snprintf(ka.local_udp, sizeof ka.local_udp, "invalid");
    if (api->local_address(SW_TRANSPORT_TCP, ka.local_tcp, sizeof ka.local_tcp) != 0)
        snprintf(ka.local_tcp, sizeof ka.local_tcp, "%s", ka.local_udp);
    ka.started = true;
    set_timer();
    return 0;
}

/* Puts every device into a wheel of the new period: each gets its next
 * heartbeat within one new period. O(devices), reloads only. */
static int respread(uint64_t period_ms)
{
    ka_sched_t *fresh = ka_sched_new(period_ms);
    if (!fresh)
        return -1;
    uint32_t limit = ka_devices_id_limit(ka.devices);
    for (uint32_t id = 0; id < limit; id++)
        if (ka_devices_get(ka.devices, id) && ka_sched_add(fresh, id) == KA_NONE) {
            ka_sched_free(fresh);
            return -1;
        }
    ka_sched_free(ka.sched);
    ka.sched = fresh;
    return 0;
}

static int ka_reload(sw_module_t *self, const sw_config_t *cfg)
{
    ka_config_t fresh;
    if (load_settings(self, cfg, &fresh) != 0)
        return -1; /* the core keeps the old settings and logs why */
    if (fresh.period_ms != ka.conf.period_ms && respread(fresh.period_ms) != 0) {
        ka.api->set_error(self, "out of memory re-spreading the devices over the new period");
        ka_config_free(ka.api, &fresh);
        return -1;
    }
    bool was_on = ka.conf.message_len > 0;
    ka_config_free(ka.api, &ka.conf);
    ka.conf = fresh;
    if (!was_on && ka.conf.message_len > 0)
        ka_sched_restart(ka.sched); /* no catching up on the time it was off */
    apply_settings();
    return 0;
}

static void ka_destroy(sw_module_t *self)
{
    (void)self;
    if (ka.timer)
        ka.api->timer_stop(ka.timer);
    ka.timer = NULL;
    ka.started = false;
    ka_sched_free(ka.sched);
    ka_devices_free(ka.devices);
    ka.sched = NULL;
    ka.devices = NULL;
    ka.api->free(ka.drops);
    ka.drops = NULL;
    ka_config_free(ka.api, &ka.conf);
}

static const sw_hooks_t nat_keepalive_hooks = {
    .size = sizeof(sw_hooks_t),
    .on_register = on_register,
};

static const sw_module_desc_t nat_keepalive_module = {
    SW_MODULE_DESC_INIT,
    .name = "nat_keepalive",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Keeps the NAT pinholes of registered devices open: a heartbeat per device every period, "
                   "whatever their number (UDP payload, CRLF over TCP, or OPTIONS)",
    .params = nat_keepalive_params,
    .hooks = &nat_keepalive_hooks,
    .init = ka_init,
    .start = ka_start,
    .reload = ka_reload,
    .destroy = ka_destroy,
};
SW_MODULE(nat_keepalive_module)
