/*
 * gw_switch: serial gateway failover under VOS3000's switching rules
 * (PARAMETERS.md section 1). The module ties the pure parts of this
 * directory to the call engine through the ABI 1.1 hooks:
 *
 *   on_attempt_start  per-gateway INVITE timeout; admission at max_calls /
 *                     max_cps (a gateway at its limit is skipped as a 503);
 *   on_leg_response   the trying / session-progress / ringing timers, as the
 *                     attempt's deadline in the core (api->leg_set_deadline);
 *   on_attempt_end    counters, the slot given back, and, when the core asks,
 *                     the decision (decision.c) the call engine then applies;
 *   on_answer         answered counters;
 *   on_call_end       the per-call record freed.
 *
 * State that outlives a reload (counters, calls in progress, the last
 * second's admissions) is kept per gateway name in `gateways`; the settings
 * are re-copied from cfg on every reload.
 */
#include <sipswitch/module.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "gateway_limits.h"
#include "gw_switch_params.h"

static const sw_api_t *api;
static sw_module_t *module;

/* ---- per-gateway state ---------------------------------------------------------------- */

typedef struct gw_state {
    char *name;
    gw_limits_t limits;
    sw_stat_t *attempts, *answered, *timeouts, *transport_errors, *skipped_calls, *skipped_cps, *calls, *asr;
    /* failures_total{gateway,code}, registered at a code's first failure */
    sw_stat_t *failures[GW_LIMITS_CODE_MAX - GW_LIMITS_CODE_MIN + 1];
} gw_state_t;

static struct {
    gw_switch_config_t conf;
    gw_state_t **gateways;  /* sorted by name; never shrinks (calls may hold slots of a removed gateway) */
    size_t n_gateways;
    sw_stat_t *decisions[GW_RULE_SCRIPT_NEW_CHAIN + 1];
} gws;

/* What the module keeps on a call: the gateway whose slot the current
 * attempt (or the answered call) holds, and whether it rang. */
typedef struct gw_call {
    gw_state_t *slot;
    int ringing;
} gw_call_t;

static int compare_state(const void *a, const void *b)
{
    return strcmp((*(gw_state_t *const *)a)->name, (*(gw_state_t *const *)b)->name);
}

static gw_state_t *state_find(const char *name)
{
    if (!name)
        return NULL;
    gw_state_t key = {.name = (char *)name}, *kp = &key;
    gw_state_t **hit = gws.n_gateways ? bsearch(&kp, gws.gateways, gws.n_gateways, sizeof *gws.gateways, compare_state)
                                      : NULL;
    return hit ? *hit : NULL;
}

static sw_stat_t *gateway_stat(const char *metric, const char *gateway, const char *extra_labels, const char *help,
                               sw_stat_kind_t kind)
{
    char name[512];
    snprintf(name, sizeof name, "%s{gateway=\"%s\"%s}", metric, gateway, extra_labels ? extra_labels : "");
    return api->stat_register(module, name, help, kind);
}

static gw_state_t *state_add(const char *name)
{
    gw_state_t *st = api->calloc(1, sizeof *st);
    st->name = api->strdup(name);
    st->attempts = gateway_stat("attempts_total", name, NULL, "INVITEs sent to the gateway", SW_STAT_COUNTER);
    st->answered = gateway_stat("answered_total", name, NULL, "Attempts the gateway answered (2xx)", SW_STAT_COUNTER);
    st->timeouts = gateway_stat("timeouts_total", name, NULL, "Attempts failed by the INVITE, trying, progress or ringing timeout",
                                SW_STAT_COUNTER);
    st->transport_errors = gateway_stat("transport_errors_total", name, NULL,
                                        "Attempts that could not be sent or whose connection failed", SW_STAT_COUNTER);
    st->skipped_calls = gateway_stat("skipped_total", name, ",limit=\"max_calls\"",
                                     "Attempts not sent because the gateway was at a limit", SW_STAT_COUNTER);
    st->skipped_cps = gateway_stat("skipped_total", name, ",limit=\"max_cps\"",
                                   "Attempts not sent because the gateway was at a limit", SW_STAT_COUNTER);
    st->calls = gateway_stat("calls", name, NULL, "Calls in progress through the gateway (attempting or answered)",
                             SW_STAT_GAUGE);
    st->asr = gateway_stat("asr_percent", name, NULL, "Answer-seizure ratio, answered / attempts, in percent",
                           SW_STAT_GAUGE);
    gws.gateways = api->realloc(gws.gateways, (gws.n_gateways + 1) * sizeof *gws.gateways);
    gws.gateways[gws.n_gateways++] = st;
    qsort(gws.gateways, gws.n_gateways, sizeof *gws.gateways, compare_state);
    return st;
}

static void publish(gw_state_t *st)
{
    api->stat_set(st->calls, st->limits.current_calls);
    api->stat_set(st->asr, (int64_t)(gw_limits_asr(&st->limits) * 100.0 + 0.5));
}

/* Applies the copied settings' limits to every configured gateway, creating
 * the state of new ones. -1 when memory for a max_cps window is refused. */
static int apply_limits(void)
{
    for (size_t i = 0; i < gws.conf.n_gateways; i++) {
        const gw_switch_named_gateway_t *g = &gws.conf.gateways[i];
        gw_state_t *st = state_find(g->name);
        if (!st) {
            st = state_add(g->name);
            if (gw_limits_init(&st->limits, g->settings.max_calls, g->settings.max_cps) != 0)
                return -1;
        } else if (gw_limits_configure(&st->limits, g->settings.max_calls, g->settings.max_cps) != 0) {
            return -1;
        }
        publish(st);
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static int gw_switch_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    module = self;
    if (api->size < offsetof(sw_api_t, call_set_data) + sizeof api->call_set_data) {
        api->set_error(self, "this sipswitch has module ABI %u.%u; gw_switch needs 1.1", api->abi_major,
                       api->abi_minor);
        return -1;
    }
    gw_switch_config_load(api, cfg, &gws.conf);
    for (int r = GW_RULE_CALLER_CANCELLED; r <= GW_RULE_SCRIPT_NEW_CHAIN; r++) {
        char name[96];
        snprintf(name, sizeof name, "decisions_total{rule=\"%s\"}", gw_switch_rule_name((gw_switch_rule_t)r));
        gws.decisions[r] = api->stat_register(self, name, "Switching decisions taken after failed attempts, by rule",
                                              SW_STAT_COUNTER);
    }
    if (apply_limits() != 0) {
        api->set_error(self, "out of memory for the max_cps windows");
        return -1;
    }
    api->log(self, SW_LOG_INFO, NULL, "%zu gateway(s); switch limit %u%s", gws.conf.n_gateways,
             gws.conf.global.switch_limit, gws.conf.global.switch_until_connect ? "; switching until connect" : "");
    return 0;
}

static int gw_switch_reload(sw_module_t *self, const sw_config_t *cfg)
{
    gw_switch_config_t fresh;
    gw_switch_config_load(api, cfg, &fresh);
    gw_switch_config_t old = gws.conf;
    gws.conf = fresh;
    if (apply_limits() != 0) {
        gw_switch_config_free(api, &gws.conf);
        gws.conf = old;
        api->set_error(self, "out of memory for the max_cps windows: old settings kept");
        return -1;
    }
    gw_switch_config_free(api, &old);
    return 0;
}

static void gw_switch_destroy(sw_module_t *self)
{
    (void)self;
    for (size_t i = 0; i < gws.n_gateways; i++) {
        gw_limits_destroy(&gws.gateways[i]->limits);
        api->free(gws.gateways[i]->name);
        api->free(gws.gateways[i]);
    }
    api->free(gws.gateways);
    gw_switch_config_free(api, &gws.conf);
    memset(&gws, 0, sizeof gws);
}

/* ---- hooks ----------------------------------------------------------------------------- */

static gw_call_t *call_record(sw_call_t *call)
{
    gw_call_t *gc = api->call_get_data(call, module);
    if (!gc) {
        gc = api->calloc(1, sizeof *gc);
        api->call_set_data(call, module, gc);
    }
    return gc;
}

static sw_hook_result_t on_attempt_start(sw_module_t *self, sw_call_t *call, sw_leg_t *leg)
{
    (void)self;
    const char *name = api->leg_gateway(leg);
    const gw_switch_gateway_settings_t *gs = gw_switch_config_gateway(&gws.conf, name);
    api->leg_set_invite_timeout(leg, gs->invite_timeout_ms);
    gw_state_t *st = state_find(name);
    if (!st)
        return SW_HOOK_CONTINUE; /* the core knows the gateway but cfg gave us nothing: no limits */
    gw_admit_t admit = gw_limits_try_acquire(&st->limits, api->now_ms());
    if (admit != GW_ADMIT_OK) {
        char why[96];
        bool calls = admit == GW_ADMIT_AT_MAX_CALLS;
        snprintf(why, sizeof why, "gateway at %s (%u)", calls ? "max_calls" : "max_cps",
                 calls ? st->limits.max_calls : st->limits.max_cps);
        api->stat_add(calls ? st->skipped_calls : st->skipped_cps, 1);
        api->leg_skip(leg, calls ? SW_ATTEMPT_SKIPPED_MAX_CALLS : SW_ATTEMPT_SKIPPED_MAX_CPS, why);
        return SW_HOOK_DROP;
    }
    gw_call_t *gc = call_record(call);
    gc->slot = st;
    gc->ringing = 0;
    api->stat_add(st->attempts, 1);
    publish(st);
    return SW_HOOK_CONTINUE;
}

static sw_hook_result_t on_leg_response(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *resp)
{
    (void)self;
    int code = api->msg_status(resp);
    if (code >= 200)
        return SW_HOOK_CONTINUE; /* the attempt ends: the core clears its deadline */
    const gw_switch_gateway_settings_t *gs = gw_switch_config_gateway(&gws.conf, api->leg_gateway(leg));
    gw_call_t *gc = api->call_get_data(call, module);
    if (code == 100) {
        if (!gc || !gc->ringing)
            api->leg_set_deadline(leg, gs->trying_timeout_ms, SW_ATTEMPT_TRYING_TIMEOUT);
    } else if (code == 180) {
        if (gc)
            gc->ringing = 1;
        api->leg_set_deadline(leg, gs->ringing_timeout_ms, SW_ATTEMPT_RINGING_TIMEOUT);
    } else if (!gc || !gc->ringing) {
        /* 183 and the other 18x: progress, but never back from ringing */
        api->leg_set_deadline(leg, gs->progress_timeout_ms, SW_ATTEMPT_PROGRESS_TIMEOUT);
    }
    return SW_HOOK_CONTINUE;
}

static void count_outcome(gw_state_t *st, const sw_attempt_info_t *info)
{
    switch (info->outcome) {
    case SW_ATTEMPT_RESPONSE:
        gw_limits_record_failure(&st->limits, info->code);
        if (info->code >= GW_LIMITS_CODE_MIN && info->code <= GW_LIMITS_CODE_MAX) {
            sw_stat_t **slot = &st->failures[info->code - GW_LIMITS_CODE_MIN];
            if (!*slot) {
                char code[32];
                snprintf(code, sizeof code, ",code=\"%d\"", info->code);
                *slot = gateway_stat("failures_total", st->name, code, "Final failure responses from the gateway, by code",
                                     SW_STAT_COUNTER);
            }
            api->stat_add(*slot, 1);
        }
        break;
    case SW_ATTEMPT_INVITE_TIMEOUT:
    case SW_ATTEMPT_TRYING_TIMEOUT:
    case SW_ATTEMPT_PROGRESS_TIMEOUT:
    case SW_ATTEMPT_RINGING_TIMEOUT:
        gw_limits_record_timeout(&st->limits);
        api->stat_add(st->timeouts, 1);
        break;
    case SW_ATTEMPT_TRANSPORT_ERROR:
        gw_limits_record_transport_error(&st->limits);
        api->stat_add(st->transport_errors, 1);
        break;
    default: /* answered (counted at the answer), abandoned, skipped */
        break;
    }
}

/* The core's outcome as decision.c knows it. The values 1..8 are the same
 * by construction; an unknown gateway is a skip the switch made up, like a
 * transport error (503, never a stop code). */
static gw_switch_outcome_t decision_outcome(sw_attempt_outcome_t o)
{
    if (o >= SW_ATTEMPT_RESPONSE && o <= SW_ATTEMPT_TRANSPORT_ERROR)
        return (gw_switch_outcome_t)o;
    return GW_OUTCOME_TRANSPORT_ERROR;
}

static sw_hook_result_t on_attempt_end(sw_module_t *self, sw_call_t *call, sw_leg_t *leg,
                                       const sw_attempt_info_t *info, sw_switch_verdict_t *verdict)
{
    (void)self;
    gw_call_t *gc = api->call_get_data(call, module);
    if (gc && gc->slot) {
        count_outcome(gc->slot, info);
        gw_limits_release(&gc->slot->limits);
        publish(gc->slot);
        gc->slot = NULL;
    }
    if (!verdict)
        return SW_HOOK_CONTINUE;
    const char *name = api->leg_gateway(leg);
    gw_switch_attempt_t a = {
        .outcome = decision_outcome(info->outcome),
        .code = info->code,
        .sdp_received = info->sdp_received,
        .rtp_started = info->rtp_started,
        .media_relayed = info->media_relayed,
        .caller_cancelled = info->caller_cancelled,
        .answered = api->call_is_answered(call),
        .attempts_made = info->invites_sent,
        .gateways_left = info->gateways_left,
    };
    gw_switch_decision_t d = gw_switch_decide(&a, &gws.conf.global, gw_switch_config_gateway(&gws.conf, name));
    if (d.rule >= GW_RULE_CALLER_CANCELLED && d.rule <= GW_RULE_SCRIPT_NEW_CHAIN)
        api->stat_add(gws.decisions[d.rule], 1);
    verdict->stop = d.action == GW_SWITCH_STOP;
    verdict->caller_code = d.caller_code;
    verdict->script_may_override = gw_switch_script_may_override(&d);
    verdict->rule = gw_switch_rule_name(d.rule);
    if (api->log_enabled(SW_LOG_INFO))
        api->log(module, SW_LOG_INFO, api->call_sip_id(call), "attempt %u (gateway %s): %s %d -> %s (%s)",
                 info->index, name, gw_switch_outcome_name(a.outcome), info->code,
                 verdict->stop ? "stop" : "next", verdict->rule);
    return SW_HOOK_HANDLED;
}

static void on_answer(sw_module_t *self, sw_call_t *call)
{
    (void)self;
    gw_call_t *gc = api->call_get_data(call, module);
    if (gc && gc->slot) {
        gw_limits_record_answered(&gc->slot->limits);
        api->stat_add(gc->slot->answered, 1);
        publish(gc->slot);
    }
}

static void on_call_end(sw_module_t *self, sw_call_t *call, const sw_call_end_t *end)
{
    (void)self;
    (void)end;
    gw_call_t *gc = api->call_get_data(call, module);
    if (!gc)
        return;
    if (gc->slot) { /* the core reports every attempt's end first; never leak a slot anyway */
        gw_limits_release(&gc->slot->limits);
        publish(gc->slot);
    }
    api->call_set_data(call, module, NULL);
    api->free(gc);
}

/* ---- Lua: sw.gw_switch.status(name) ---------------------------------------------------- */

/* Returns state, calls in progress, ASR (0..1): state is "ok", "max_calls"
 * (at its call limit now), "max_cps" (at its rate limit now) or "unknown".
 * A script may use it to reorder a chain; the limits apply anyway. */
static int lua_status(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    const char *name = api->lua_arg_str(args, 0, NULL);
    gw_state_t *st = state_find(name);
    if (!st) {
        api->lua_push_str(ret, "unknown", 7);
        api->lua_push_int(ret, 0);
        api->lua_push_number(ret, 0);
        return 0;
    }
    const char *state = "ok";
    if (st->limits.max_calls && st->limits.current_calls >= st->limits.max_calls)
        state = "max_calls";
    else if (gw_limits_cps_full(&st->limits, api->now_ms()))
        state = "max_cps";
    api->lua_push_str(ret, state, strlen(state));
    api->lua_push_int(ret, st->limits.current_calls);
    api->lua_push_number(ret, gw_limits_asr(&st->limits));
    return 0;
}

static const sw_lua_func_t gw_switch_lua[] = {
    {.size = sizeof(sw_lua_func_t), .name = "status", .args = "s", .fn = lua_status,
     .doc = "status(name) returns state (\"ok\", \"max_calls\", \"max_cps\" or \"unknown\"), calls in progress "
            "and ASR (0..1) of a routing gateway."},
    {0},
};

static const sw_hooks_t gw_switch_hooks = {
    .size = sizeof(sw_hooks_t),
    .on_leg_response = on_leg_response,
    .on_answer = on_answer,
    .on_call_end = on_call_end,
    .on_attempt_start = on_attempt_start,
    .on_attempt_end = on_attempt_end,
};

static const sw_module_desc_t gw_switch_desc = {
    SW_MODULE_DESC_INIT,
    .name = "gw_switch",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Serial gateway failover with VOS3000's switching rules, per-gateway limits and metrics",
    .params = gw_switch_params,
    .lua_funcs = gw_switch_lua,
    .hooks = &gw_switch_hooks,
    .init = gw_switch_init,
    .reload = gw_switch_reload,
    .destroy = gw_switch_destroy,
};

SW_MODULE(gw_switch_desc);
