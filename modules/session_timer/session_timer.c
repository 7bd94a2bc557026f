/*
 * session_timer: RFC 4028 session timers on both legs of a call, the
 * switch being a B2BUA (PARAMETERS.md section 2). Each leg negotiates on
 * its own and the switch refreshes every leg that supports timers; a leg
 * without them limits the call to no_timer_reinvite_interval. The hooks:
 *
 *   on_call_new        the caller's offer: 422 when too small, else the
 *                      caller leg's interval, refresher and method;
 *   on_caller_response Min-SE on that 422; Session-Expires and Require:
 *                      timer on the 2xx;
 *   on_leg_request     Supported: timer, Session-Expires, Min-SE on each
 *                      attempt's INVITE, and on re-INVITEs/UPDATEs the core
 *                      relays to the gateway (it copies none: per leg);
 *   on_caller_request  the same on those relayed to the caller;
 *   on_leg_response    the gateway's 2xx (its interval, refresher, Allow),
 *                      or its 422 (a larger interval for the next gateway);
 *   on_answer          the legs' timers start (session_refresh.c);
 *   on_dialog_request  a far-end refresh: answered here, per leg, so it is
 *                      not relayed as a media change; a real media change
 *                      is left to the core, and also keeps the leg alive;
 *   on_call_end        timers stopped, state freed.
 */
#include <sipswitch/module.h>
#include <stdio.h>
#include <string.h>

#include "session_state.h"
#include "session_timer_params.h"
#include "timer_headers.h"


static const char *const leg_labels[ST_LEGS] = {"caller", "gateway"};

/* ---- settings per leg ---------------------------------------------------------------- */

static void leg_setup(st_leg_t *leg, st_call_t *sc, st_leg_side_t side, const st_leg_settings_t *s)
{
    memset(leg, 0, sizeof *leg);
    leg->call = sc;
    leg->side = side;
    leg->enabled = s->enabled;
    leg->method = s->method;
    leg->policy.session_ttl_s = s->session_ttl_s;
    leg->policy.min_se_s = st_rt.conf.min_se_s;
    leg->min_se_s = st_rt.conf.min_se_s;
}

/* The caller leg's settings: its [mapping], else the [account] it came
 * from (call_source names either), else [session_timer]. */
static const st_leg_settings_t *caller_settings(sw_call_t *call)
{
    const char *source = st_rt.api->call_source(call);
    const st_leg_settings_t *s = st_config_object(&st_rt.conf, ST_OBJ_MAPPING, source);
    if (!s)
        s = st_config_object(&st_rt.conf, ST_OBJ_ACCOUNT, source);
    return s ? s : &st_rt.conf.global;
}

static const st_leg_settings_t *gateway_settings(sw_leg_t *leg)
{
    const st_leg_settings_t *s = st_config_object(&st_rt.conf, ST_OBJ_GATEWAY, st_rt.api->leg_gateway(leg));
    return s ? s : &st_rt.conf.global;
}

static bool uses_update(st_method_t method, bool peer_allows_update)
{
    return method == ST_METHOD_UPDATE || (method == ST_METHOD_AUTO && peer_allows_update);
}

static st_call_t *call_state(const sw_call_t *call)
{
    return st_rt.api->call_get_data(call, st_rt.self);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static sw_stat_t *stat(const char *name, const char *help, sw_stat_kind_t kind)
{
    return st_rt.api->stat_register(st_rt.self, name, help, kind);
}

static void register_metrics(void)
{
    st_metrics_t *m = &st_rt.metrics;
    char name[128];
    for (int leg = 0; leg < ST_LEGS; leg++) {
        for (int timer = 0; timer < 2; timer++) {
            snprintf(name, sizeof name, "sessions_total{leg=\"%s\",timer=\"%s\"}", leg_labels[leg],
                     timer ? "yes" : "no");
            m->sessions[leg][timer] =
                stat(name, "Answered calls per leg, with or without a session timer on that leg", SW_STAT_COUNTER);
        }
        snprintf(name, sizeof name, "timed_sessions{leg=\"%s\"}", leg_labels[leg]);
        m->timed_sessions[leg] = stat(name, "Answered calls in progress whose leg has a session timer", SW_STAT_GAUGE);
    }
    static const char *const methods[ST_METHODS] = {"UPDATE", "INVITE"};
    for (int i = 0; i < ST_METHODS; i++) {
        snprintf(name, sizeof name, "refreshes_sent_total{method=\"%s\"}", methods[i]);
        m->sent[i] = stat(name, "Session refreshes the switch sent, by method", SW_STAT_COUNTER);
        snprintf(name, sizeof name, "refreshes_ok_total{method=\"%s\"}", methods[i]);
        m->ok[i] = stat(name, "Session refreshes answered 2xx, by method", SW_STAT_COUNTER);
        snprintf(name, sizeof name, "refreshes_failed_total{method=\"%s\"}", methods[i]);
        m->failed[i] = stat(name, "Session refreshes refused, unanswered or not sent, by method", SW_STAT_COUNTER);
    }
    m->fallbacks = stat("refresh_fallbacks_total", "Legs that refused UPDATE (501/405) and get re-INVITEs instead",
                        SW_STAT_COUNTER);
    m->far_end_refreshes =
        stat("far_end_refreshes_total", "Refreshes sent by a far end and answered by the switch", SW_STAT_COUNTER);
    m->media_changes = stat("media_changes_total",
                            "Far-end re-INVITEs/UPDATEs with a new session version, relayed by the core",
                            SW_STAT_COUNTER);
    m->rejected_small = stat("too_small_total", "Callers answered 422 Session Interval Too Small", SW_STAT_COUNTER);
    m->gateway_422 = stat("gateway_422_total", "Gateways that answered the switch's INVITE 422", SW_STAT_COUNTER);
    m->ended_expired = stat("calls_ended_total{reason=\"session_timer_expired\"}",
                            "Calls the module ended, by reason", SW_STAT_COUNTER);
    m->ended_max_duration = stat("calls_ended_total{reason=\"max_duration_no_timer\"}",
                                 "Calls the module ended, by reason", SW_STAT_COUNTER);
}

/* Loads and checks the settings into *out; logs the opt-in warning. */
static int load_settings(sw_module_t *self, const sw_config_t *cfg, st_config_t *out)
{
    char err[512], warn[512];
    if (st_config_load(st_rt.api, cfg, out, err, sizeof err, warn, sizeof warn) != 0) {
        st_rt.api->set_error(self, "%s", err);
        return -1;
    }
    if (warn[0])
        st_rt.api->log(self, SW_LOG_WARN, NULL,
                    "allow_short_intervals: accepting intervals below RFC 4028's minimum (%s); for tests only", warn);
    return 0;
}

static int st_init(sw_module_t *self, const sw_api_t *api, const sw_config_t *cfg)
{
    memset(&st_rt, 0, sizeof st_rt);
    st_rt.api = api;
    st_rt.self = self;
    /* param_line is the last entry session_timer uses (its cfg errors' lines) */
    if (api->size < offsetof(sw_api_t, param_line) + sizeof api->param_line) {
        api->set_error(self, "this sipswitch has module ABI %u.%u without the call operations session_timer needs",
                       api->abi_major, api->abi_minor);
        return -1;
    }
    if (load_settings(self, cfg, &st_rt.conf) != 0)
        return -1;
    register_metrics();
    api->log(self, SW_LOG_INFO, NULL, "session interval %u s, refresh every 1/%u, Min-SE %u s, max duration "
             "without timer %llu s",
             st_rt.conf.global.session_ttl_s, st_rt.conf.segment, st_rt.conf.min_se_s,
             (unsigned long long)(st_rt.conf.no_timer_ms / 1000));
    return 0;
}

static int st_reload(sw_module_t *self, const sw_config_t *cfg)
{
    st_config_t fresh;
    if (load_settings(self, cfg, &fresh) != 0)
        return -1; /* the core keeps the old settings and logs why */
    st_config_free(st_rt.api, &st_rt.conf);
    st_rt.conf = fresh;
    return 0;
}

static void st_destroy(sw_module_t *self)
{
    (void)self;
    st_config_free(st_rt.api, &st_rt.conf);
}

/* ---- the caller's leg ------------------------------------------------------------------ */

static sw_hook_result_t on_call_new(sw_module_t *self, sw_call_t *call, sw_msg_t *invite)
{
    (void)self;
    const sw_api_t *api = st_rt.api;
    st_call_t *sc = api->calloc(1, sizeof *sc);
    sc->call = call;
    api->call_set_data(call, st_rt.self, sc);
    st_leg_t *leg = &sc->legs[ST_LEG_CALLER];
    leg_setup(leg, sc, ST_LEG_CALLER, caller_settings(call));
    leg_setup(&sc->legs[ST_LEG_GATEWAY], sc, ST_LEG_GATEWAY, &st_rt.conf.global); /* set per attempt */
    if (!leg->enabled)
        return SW_HOOK_CONTINUE;
    st_offer_t offer;
    st_offer_read(api, invite, &offer);
    if (offer.se_malformed)
        api->log(st_rt.self, SW_LOG_NOTICE, api->call_sip_id(call), "caller's Session-Expires unreadable: ignored");
    st_uas_decision_t d = st_uas_decide(&offer, &leg->policy);
    switch (d.verdict) {
    case ST_UAS_REJECT_422:
        sc->reject_min_se_s = d.min_se_s;
        api->stat_add(st_rt.metrics.rejected_small, 1);
        api->log(st_rt.self, SW_LOG_INFO, api->call_sip_id(call),
                 "caller offered Session-Expires %u s < Min-SE %u s: 422", offer.se.seconds, d.min_se_s);
        /* no end reason says "interval too small"; the CDR keeps the 422 */
        api->call_reject(call, 422, "Session Interval Too Small", SW_END_REJECTED_BY_MODULE);
        return SW_HOOK_HANDLED;
    case ST_UAS_ACCEPT:
        leg->timer = true;
        leg->interval_s = d.interval_s;
        leg->switch_refreshes = d.refresher == ST_REFRESHER_UAS;
        break;
    case ST_UAS_NO_TIMER:
        break;
    }
    leg->peer_supports = offer.supported;
    leg->use_update = uses_update(leg->method, offer.allows_update);
    if (offer.min_se_s > leg->min_se_s)
        leg->min_se_s = offer.min_se_s; /* our refreshes must not go below what the caller accepts */
    return SW_HOOK_CONTINUE;
}

static void on_caller_response(sw_module_t *self, sw_call_t *call, sw_msg_t *resp)
{
    (void)self;
    st_call_t *sc = call_state(call);
    if (!sc)
        return;
    const sw_api_t *api = st_rt.api;
    int code = api->msg_status(resp);
    if (code == 422 && sc->reject_min_se_s) {
        char v[16];
        snprintf(v, sizeof v, "%u", sc->reject_min_se_s);
        api->msg_header_add(resp, "Min-SE", v);
        return;
    }
    const st_leg_t *leg = &sc->legs[ST_LEG_CALLER];
    if (code < 200 || code >= 300 || !leg->enabled || !leg->timer)
        return;
    char v[48];
    /* refresher relative to the caller's INVITE: uas is the switch */
    snprintf(v, sizeof v, "%u;refresher=%s", leg->interval_s, leg->switch_refreshes ? "uas" : "uac");
    api->msg_header_add(resp, "Session-Expires", v);
    if (leg->peer_supports)
        api->msg_header_add(resp, "Require", "timer");
}

/* ---- the gateway's leg ----------------------------------------------------------------- */

/* Session timer headers on a re-INVITE/UPDATE the core relays to a leg
 * that has a timer (the core copies none: they are per leg). The switch
 * sends it, so "uac" is the switch. A module's own refresh has them. */
static void add_relay_headers(const st_leg_t *leg, sw_msg_t *req)
{
    const sw_api_t *api = st_rt.api;
    if (!leg->enabled || !leg->timer || api->msg_header_count(req, "Session-Expires"))
        return;
    const char *method = api->msg_method(req);
    if (!method || (strcmp(method, "INVITE") != 0 && strcmp(method, "UPDATE") != 0))
        return;
    char v[48];
    snprintf(v, sizeof v, "%u;refresher=%s", leg->interval_s, leg->switch_refreshes ? "uac" : "uas");
    api->msg_header_add(req, "Session-Expires", v);
    snprintf(v, sizeof v, "%u", leg->min_se_s);
    api->msg_header_add(req, "Min-SE", v);
    api->msg_header_add(req, "Supported", "timer");
}

static sw_hook_result_t on_leg_request(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *req)
{
    (void)self;
    st_call_t *sc = call_state(call);
    if (!sc)
        return SW_HOOK_CONTINUE;
    const sw_api_t *api = st_rt.api;
    st_leg_t *gw = &sc->legs[ST_LEG_GATEWAY];
    const char *method = api->msg_method(req);
    if (!method || strcmp(method, "INVITE") != 0 || st_to_has_tag(api, req)) {
        if (api->call_is_answered(call))
            add_relay_headers(gw, req);
        return SW_HOOK_CONTINUE;
    }
    /* a new attempt's INVITE: this gateway's settings, a fresh negotiation */
    leg_setup(gw, sc, ST_LEG_GATEWAY, leg ? gateway_settings(leg) : &st_rt.conf.global);
    if (!gw->enabled)
        return SW_HOOK_CONTINUE;
    gw->min_se_s = st_uac_offer_min_se(&gw->policy, sc->learned_min_se_s);
    char v[48];
    snprintf(v, sizeof v, "%u;refresher=uac", st_uac_offer_interval(&gw->policy, sc->learned_min_se_s));
    api->msg_header_add(req, "Supported", "timer");
    api->msg_header_add(req, "Session-Expires", v);
    snprintf(v, sizeof v, "%u", gw->min_se_s);
    api->msg_header_add(req, "Min-SE", v);
    return SW_HOOK_CONTINUE;
}

static sw_hook_result_t on_leg_response(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *resp)
{
    (void)self;
    st_call_t *sc = call_state(call);
    st_leg_t *gw = sc ? &sc->legs[ST_LEG_GATEWAY] : NULL;
    if (!gw || !gw->enabled)
        return SW_HOOK_CONTINUE;
    const sw_api_t *api = st_rt.api;
    int code = api->msg_status(resp);
    st_offer_t answer;
    if (code == 422) {
        /* The API cannot send this gateway a second INVITE: the attempt
         * fails as a 422 and the next gateway of the chain gets an
         * interval at least this large (RFC 4028 7.3). */
        st_offer_read(api, resp, &answer);
        if (answer.min_se_s > sc->learned_min_se_s)
            sc->learned_min_se_s = answer.min_se_s;
        api->stat_add(st_rt.metrics.gateway_422, 1);
        api->log(st_rt.self, SW_LOG_NOTICE, api->call_sip_id(call),
                 "gateway %s answered 422 (Min-SE %u s): the next attempt offers at least that",
                 leg ? api->leg_gateway(leg) : "?", answer.min_se_s);
        return SW_HOOK_CONTINUE;
    }
    if (code < 200 || code >= 300)
        return SW_HOOK_CONTINUE;
    st_offer_read(api, resp, &answer);
    st_uac_result_t r = st_uac_answer(&answer);
    gw->timer = r.timer;
    gw->interval_s = r.interval_s;
    gw->switch_refreshes = r.switch_refreshes;
    gw->peer_supports = answer.supported;
    gw->use_update = uses_update(gw->method, answer.allows_update);
    return SW_HOOK_CONTINUE;
}

static void on_answer(sw_module_t *self, sw_call_t *call)
{
    (void)self;
    st_call_t *sc = call_state(call);
    if (sc)
        st_call_answered(sc);
}

/* ---- requests from the far ends ------------------------------------------------------- */

static sw_hook_result_t on_caller_request(sw_module_t *self, sw_call_t *call, sw_msg_t *req)
{
    (void)self;
    st_call_t *sc = call_state(call);
    if (sc && st_rt.api->call_is_answered(call))
        add_relay_headers(&sc->legs[ST_LEG_CALLER], req);
    return SW_HOOK_CONTINUE;
}

/* Answers a far-end refresh (same session, or no offer) on its own leg.
 * Returns SW_HOOK_CONTINUE for a media change, which the core relays. */
static sw_hook_result_t on_dialog_request(sw_module_t *self, sw_call_t *call, sw_direction_t dir, sw_msg_t *req)
{
    (void)self;
    const sw_api_t *api = st_rt.api;
    st_call_t *sc = call_state(call);
    const char *method = api->msg_method(req);
    if (!sc || sc->doomed || !api->call_is_answered(call) || !method)
        return SW_HOOK_CONTINUE;
    bool invite = strcmp(method, "INVITE") == 0;
    if (!invite && strcmp(method, "UPDATE") != 0)
        return SW_HOOK_CONTINUE;
    st_leg_t *leg = &sc->legs[dir == SW_DIR_A_TO_B ? ST_LEG_CALLER : ST_LEG_GATEWAY];
    if (!leg->enabled)
        return SW_HOOK_CONTINUE;
    /* the side it came from, and the other side, as call_sdp names them */
    sw_party_t sender = leg->side == ST_LEG_CALLER ? SW_PARTY_CALLER : SW_PARTY_CALLEE;
    sw_party_t other = leg->side == ST_LEG_CALLER ? SW_PARTY_CALLEE : SW_PARTY_CALLER;
    if (invite && leg->pending && !leg->pending_update) {
        /* both ends re-INVITE at once: RFC 3261 14.2, the later one waits */
        api->msg_reply(req, 491, "Request Pending", NULL);
        return SW_HOOK_HANDLED;
    }
    const char *offer_sdp = NULL, *answer_sdp = NULL;
    size_t offer_len = 0;
    size_t body_len = 0;
    api->msg_body(req, &body_len);
    if (st_msg_sdp(api, req, &offer_sdp, &offer_len)) {
        /* the sender's last description is what the switch gave the other side */
        const char *last = api->call_sdp(call, other);
        if (!last || !st_sdp_same_session(offer_sdp, offer_len, last, strlen(last))) {
            api->stat_add(st_rt.metrics.media_changes, 1);
            st_leg_refreshed(leg, NULL); /* alive; the core relays the change */
            return SW_HOOK_CONTINUE;
        }
        answer_sdp = api->call_sdp(call, sender); /* what it already has: no change */
    } else if (body_len) {
        return SW_HOOK_CONTINUE; /* another kind of body: not ours to answer */
    } else if (invite) {
        answer_sdp = api->call_sdp(call, sender); /* an offerless re-INVITE: offer the same again */
    }
    if ((invite || offer_sdp) && !answer_sdp)
        return SW_HOOK_CONTINUE; /* an offer needs an answer and there is none here: let the core relay it */
    st_offer_t offer;
    st_offer_read(api, req, &offer);
    st_uas_decision_t d = st_uas_decide(&offer, &leg->policy);
    if (d.verdict == ST_UAS_REJECT_422) {
        char h[32];
        snprintf(h, sizeof h, "Min-SE: %u\r\n", d.min_se_s);
        api->msg_reply(req, 422, "Session Interval Too Small", h);
        return SW_HOOK_HANDLED;
    }
    char extra[96] = "";
    if (d.verdict == ST_UAS_ACCEPT)
        st_format_session_expires(extra, sizeof extra, d.interval_s, d.refresher == ST_REFRESHER_UAC,
                                  d.require_timer);
    if (answer_sdp)
        api->msg_reply_body(req, 200, "OK", extra, "application/sdp", answer_sdp, strlen(answer_sdp));
    else
        api->msg_reply(req, 200, "OK", extra[0] ? extra : NULL);
    api->stat_add(st_rt.metrics.far_end_refreshes, 1);
    if (offer.min_se_s > leg->min_se_s)
        leg->min_se_s = offer.min_se_s;
    st_leg_refreshed(leg, &d);
    return SW_HOOK_HANDLED;
}

static void on_call_end(sw_module_t *self, sw_call_t *call, const sw_call_end_t *end)
{
    (void)self;
    (void)end;
    st_call_t *sc = call_state(call);
    if (!sc)
        return;
    st_call_stop(sc);
    st_rt.api->call_set_data(call, st_rt.self, NULL);
    st_rt.api->free(sc);
}

/* ---- descriptor ------------------------------------------------------------------------ */

static const sw_hooks_t session_timer_hooks = {
    .size = sizeof(sw_hooks_t),
    .on_call_new = on_call_new,
    .on_leg_request = on_leg_request,
    .on_leg_response = on_leg_response,
    .on_answer = on_answer,
    .on_call_end = on_call_end,
    .on_caller_response = on_caller_response,
    .on_dialog_request = on_dialog_request,
    .on_caller_request = on_caller_request,
};

static const sw_module_desc_t session_timer_module = {
    SW_MODULE_DESC_INIT,
    .name = "session_timer",
    .version = "1.0.0",
    .license = "MIT",
    .description = "RFC 4028 session timers per leg: negotiation, refreshes, 422, max duration without timer",
    .params = session_timer_params,
    .hooks = &session_timer_hooks,
    .init = st_init,
    .reload = st_reload,
    .destroy = st_destroy,
};
SW_MODULE(session_timer_module)
