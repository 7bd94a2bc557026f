/*
 * The timers of an answered call's legs (session_state.h): the refreshes
 * the switch sends and what their answers mean, the watch on a far end that
 * refreshes, the session's end when refreshes keep failing, the grace
 * before the BYEs (session_timeout_early_hangup) and the max duration of a
 * call with a leg that has no timer (no_timer_reinvite_interval).
 *
 * Each leg has one timer at a time (st_leg_t.timer_kind says which); the
 * call has one more. Everything runs on the signaling thread, from timers
 * and request callbacks: the only places the API lets a module end a call.
 * api->call_hangup() runs on_call_end at once, which frees the call's
 * state, so nothing here touches it after a hang-up.
 */
#include <stdio.h>
#include <string.h>

#include "session_state.h"

st_runtime_t st_rt;

static const char *const leg_names[ST_LEGS] = {"caller", "gateway"};
static const char *const method_names[ST_METHODS] = {"UPDATE", "INVITE"};

/* 491 Request Pending: RFC 3261 14.1 asks for a short random wait; the
 * switch retries after this much, or the refresh period if shorter. */
#define ST_GLARE_RETRY_MS 2000u
/* 422s to the switch's refreshes in a row before the leg gives up raising
 * its interval (a peer that keeps asking for more is not converging). */
#define ST_MAX_RAISES 3u

void st_format_session_expires(char *buf, size_t len, uint32_t interval_s, bool refresher_is_uac, bool require)
{
    snprintf(buf, len, "Session-Expires: %u;refresher=%s\r\n%s", interval_s, refresher_is_uac ? "uac" : "uas",
             require ? "Require: timer\r\n" : "");
}

static const char *call_id(const st_call_t *sc)
{
    return st_rt.api->call_sip_id(sc->call);
}

static void leg_timer_fired(sw_module_t *self, void *arg);

static void leg_timer_stop(st_leg_t *leg)
{
    if (leg->timer_h)
        st_rt.api->timer_stop(leg->timer_h);
    leg->timer_h = NULL;
    leg->timer_kind = ST_TIMER_NONE;
}

/* The leg's one timer, replaced: `kind` at loop time `at_ms`. */
static void leg_timer_at(st_leg_t *leg, st_timer_kind_t kind, uint64_t at_ms)
{
    leg_timer_stop(leg);
    uint64_t now = st_rt.api->now_ms();
    leg->timer_kind = kind;
    leg->timer_h = st_rt.api->timer_start(st_rt.self, "session_timer", at_ms > now ? at_ms - now : 0, 0,
                                          leg_timer_fired, leg);
}

static uint64_t refresh_period(const st_leg_t *leg)
{
    return st_refresh_period_ms(leg->interval_s, st_rt.conf.segment);
}

/* The next thing to wait for on a leg with no refresh out: the switch's
 * next refresh `delay_ms` from the last confirmation (or from now after a
 * failure), or the far end's, unless the session ends first. */
static void leg_arm(st_leg_t *leg, uint64_t from_ms, uint64_t delay_ms)
{
    if (!leg->timer || leg->call->doomed)
        return;
    if (!leg->switch_refreshes) {
        leg_timer_at(leg, ST_TIMER_WATCH, leg->refreshed_at_ms + st_expiry_margin_deadline_ms(leg->interval_s));
        return;
    }
    uint64_t at = from_ms + delay_ms;
    if (at >= leg->expires_at_ms)
        leg_timer_at(leg, ST_TIMER_EXPIRY, leg->expires_at_ms);
    else
        leg_timer_at(leg, ST_TIMER_REFRESH, at);
}

static void count_timed(st_leg_t *leg)
{
    if (leg->counted || !leg->timer)
        return;
    leg->counted = true;
    st_rt.api->stat_set(st_rt.metrics.timed_sessions[leg->side], ++st_rt.timed[leg->side]);
}

/* ---- ending the call ---------------------------------------------------------------- */

static void hangup_now(st_call_t *sc, int reason, const char *why)
{
    const sw_api_t *api = st_rt.api;
    api->stat_add(reason == SW_END_MAX_DURATION_NO_TIMER ? st_rt.metrics.ended_max_duration
                                                         : st_rt.metrics.ended_expired,
                  1);
    api->log(st_rt.self, SW_LOG_INFO, call_id(sc), "ending the call: %s", why);
    api->call_hangup(sc->call, reason, 0); /* on_call_end frees sc: nothing after this */
}

static void call_timer_fired(sw_module_t *self, void *arg)
{
    (void)self;
    st_call_t *sc = arg;
    hangup_now(sc, sc->call_timer_reason,
               sc->call_timer_reason == SW_END_MAX_DURATION_NO_TIMER
                   ? "max duration reached on a leg without session timer"
                   : "session timer expired (after the grace period)");
}

static void call_timer_at(st_call_t *sc, int reason, uint64_t delay_ms)
{
    if (sc->call_timer)
        st_rt.api->timer_stop(sc->call_timer);
    sc->call_timer_reason = reason;
    sc->call_timer = st_rt.api->timer_start(st_rt.self, "session_timer_call", delay_ms, 0, call_timer_fired, sc);
}

/* The session on a leg is lost: BYE both legs now or after the grace. */
static void doom(st_call_t *sc, const st_leg_t *leg, const char *why)
{
    if (sc->doomed)
        return;
    sc->doomed = true;
    for (int i = 0; i < ST_LEGS; i++)
        leg_timer_stop(&sc->legs[i]);
    uint32_t grace = st_rt.conf.early_hangup_ms;
    st_rt.api->log(st_rt.self, SW_LOG_NOTICE, call_id(sc), "%s leg: %s; BYE both legs %s", leg_names[leg->side], why,
                   grace ? "after the grace period" : "now");
    if (grace)
        call_timer_at(sc, SW_END_SESSION_TIMER_EXPIRED, grace);
    else
        hangup_now(sc, SW_END_SESSION_TIMER_EXPIRED, why);
}

/* ---- the switch's refreshes ------------------------------------------------------------ */

static void send_refresh(st_leg_t *leg);

static void refresh_answered(sw_module_t *self, sw_call_t *call, int code, sw_msg_t *resp, void *arg)
{
    (void)self;
    (void)call;
    st_leg_t *leg = arg;
    st_call_t *sc = leg->call;
    const sw_api_t *api = st_rt.api;
    int m = leg->pending_update ? ST_BY_UPDATE : ST_BY_INVITE;
    leg->pending = false;
    if (leg->timer_kind == ST_TIMER_ANSWER_DEADLINE)
        leg_timer_stop(leg);
    if (sc->doomed)
        return;
    uint64_t now = api->now_ms();
    st_offer_t answer = {0};
    if (resp)
        st_offer_read(api, resp, &answer);
    switch (st_refresh_action(code, resp != NULL, leg->pending_update)) {
    case ST_REFRESH_OK: {
        api->stat_add(st_rt.metrics.ok[m], 1);
        st_uac_result_t r = st_uac_answer(&answer);
        if (r.timer) {
            leg->interval_s = r.interval_s;
            leg->switch_refreshes = r.switch_refreshes;
        }
        leg->raises = 0;
        leg->refreshed_at_ms = now;
        leg->expires_at_ms = now + (uint64_t)leg->interval_s * 1000;
        leg_arm(leg, now, refresh_period(leg));
        return;
    }
    case ST_REFRESH_USE_INVITE:
        api->stat_add(st_rt.metrics.failed[m], 1);
        api->stat_add(st_rt.metrics.fallbacks, 1);
        api->log(st_rt.self, SW_LOG_INFO, call_id(sc), "%s leg refused UPDATE (%d): re-INVITE from now on",
                 leg_names[leg->side], code);
        leg->use_update = false;
        send_refresh(leg);
        return;
    case ST_REFRESH_RAISE_INTERVAL:
        api->stat_add(st_rt.metrics.failed[m], 1);
        if (answer.min_se_s > leg->interval_s && leg->raises < ST_MAX_RAISES) {
            leg->raises++;
            leg->interval_s = answer.min_se_s;
            if (answer.min_se_s > leg->min_se_s)
                leg->min_se_s = answer.min_se_s;
            send_refresh(leg);
            return;
        }
        break; /* nothing larger to offer: as any other refusal */
    case ST_REFRESH_FATAL:
        api->stat_add(st_rt.metrics.failed[m], 1);
        doom(sc, leg, code == 481 ? "refresh answered 481 (the dialog is gone)"
                      : resp     ? "refresh answered 408"
                      : code == 408 ? "refresh unanswered"
                                    : "refresh could not be sent");
        return;
    case ST_REFRESH_RETRY:
        api->stat_add(st_rt.metrics.failed[m], 1);
        break;
    }
    /* not refreshed: try again later; the session ends at expires_at */
    uint64_t period = refresh_period(leg);
    uint64_t delay = code == 491 && period > ST_GLARE_RETRY_MS ? ST_GLARE_RETRY_MS : period;
    api->log(st_rt.self, SW_LOG_INFO, call_id(sc), "%s leg: refresh answered %d; retry in %llu ms",
             leg_names[leg->side], code, (unsigned long long)delay);
    leg_arm(leg, now, delay);
}

static void send_refresh(st_leg_t *leg)
{
    const sw_api_t *api = st_rt.api;
    st_call_t *sc = leg->call;
    bool update = leg->use_update;
    int m = update ? ST_BY_UPDATE : ST_BY_INVITE;
    char extra[160];
    st_format_session_expires(extra, sizeof extra, leg->interval_s, true, false);
    size_t used = strlen(extra);
    snprintf(extra + used, sizeof extra - used, "Supported: timer\r\nMin-SE: %u\r\n", leg->min_se_s);
    sw_party_t to = leg->side == ST_LEG_CALLER ? SW_PARTY_CALLER : SW_PARTY_CALLEE;
    api->stat_add(st_rt.metrics.sent[m], 1);
    uint64_t now = api->now_ms();
    if (api->call_send_request(st_rt.self, sc->call, to, method_names[m], extra, !update, refresh_answered, leg) != 0) {
        api->stat_add(st_rt.metrics.failed[m], 1);
        api->log(st_rt.self, SW_LOG_WARN, call_id(sc), "%s leg: the %s refresh could not be sent",
                 leg_names[leg->side], method_names[m]);
        leg_arm(leg, now, refresh_period(leg));
        return;
    }
    leg->pending = true;
    leg->pending_update = update;
    /* a refresh still unanswered when the next one would be due has failed
     * (the transaction's own timeout, 32 s, reports 408 sooner on long
     * intervals) */
    leg_timer_at(leg, ST_TIMER_ANSWER_DEADLINE, now + refresh_period(leg));
}

static void leg_timer_fired(sw_module_t *self, void *arg)
{
    (void)self;
    st_leg_t *leg = arg;
    st_timer_kind_t kind = leg->timer_kind;
    leg_timer_stop(leg);
    switch (kind) {
    case ST_TIMER_REFRESH:
        send_refresh(leg);
        break;
    case ST_TIMER_ANSWER_DEADLINE:
        st_rt.api->stat_add(st_rt.metrics.failed[leg->pending_update ? ST_BY_UPDATE : ST_BY_INVITE], 1);
        doom(leg->call, leg, "refresh unanswered");
        break;
    case ST_TIMER_WATCH:
        doom(leg->call, leg, "the far end did not refresh the session");
        break;
    case ST_TIMER_EXPIRY:
        doom(leg->call, leg, "session expired: refreshes failed");
        break;
    case ST_TIMER_NONE:
        break;
    }
}

/* ---- entry points ----------------------------------------------------------------------- */

void st_call_answered(st_call_t *sc)
{
    const sw_api_t *api = st_rt.api;
    uint64_t now = api->now_ms();
    bool without_timer = false;
    for (int i = 0; i < ST_LEGS; i++) {
        st_leg_t *leg = &sc->legs[i];
        if (!leg->enabled)
            continue;
        api->stat_add(st_rt.metrics.sessions[i][leg->timer ? 1 : 0], 1);
        if (!leg->timer) {
            without_timer = true;
            continue;
        }
        count_timed(leg);
        leg->refreshed_at_ms = now;
        leg->expires_at_ms = now + (uint64_t)leg->interval_s * 1000;
        leg_arm(leg, now, refresh_period(leg));
        if (api->log_enabled(SW_LOG_DEBUG))
            api->log(st_rt.self, SW_LOG_DEBUG, call_id(sc), "%s leg: session interval %u s, refresher %s%s",
                     leg_names[i], leg->interval_s, leg->switch_refreshes ? "the switch" : "the far end",
                     leg->switch_refreshes ? (leg->use_update ? " (UPDATE)" : " (re-INVITE)") : "");
    }
    if (without_timer)
        call_timer_at(sc, SW_END_MAX_DURATION_NO_TIMER, st_rt.conf.no_timer_ms);
}

void st_leg_refreshed(st_leg_t *leg, const st_uas_decision_t *d)
{
    if (leg->call->doomed)
        return;
    if (d && d->verdict == ST_UAS_ACCEPT) {
        leg->timer = true;
        leg->interval_s = d->interval_s;
        leg->switch_refreshes = d->refresher == ST_REFRESHER_UAS;
        count_timed(leg);
    }
    if (!leg->timer)
        return;
    uint64_t now = st_rt.api->now_ms();
    leg->refreshed_at_ms = now;
    leg->expires_at_ms = now + (uint64_t)leg->interval_s * 1000;
    if (!leg->pending) /* else the answer to the switch's own refresh re-arms it */
        leg_arm(leg, now, refresh_period(leg));
}

void st_call_stop(st_call_t *sc)
{
    for (int i = 0; i < ST_LEGS; i++) {
        st_leg_t *leg = &sc->legs[i];
        leg_timer_stop(leg);
        if (leg->counted)
            st_rt.api->stat_set(st_rt.metrics.timed_sessions[i], --st_rt.timed[i]);
        leg->counted = false;
    }
    if (sc->call_timer)
        st_rt.api->timer_stop(sc->call_timer);
    sc->call_timer = NULL;
}
