/*
 * RFC 4028 decisions for one leg (negotiation.h).
 */
#include "negotiation.h"

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

st_uas_decision_t st_uas_decide(const st_offer_t *offer, const st_policy_t *policy)
{
    st_uas_decision_t d = {.verdict = ST_UAS_NO_TIMER};
    /* the smallest interval both ends accept */
    uint32_t floor_s = max_u32(offer->min_se_s, policy->min_se_s);
    if (offer->has_se && offer->se.seconds < policy->min_se_s) {
        d.verdict = ST_UAS_REJECT_422;
        d.min_se_s = floor_s;
        return d;
    }
    if (!offer->has_se && !offer->supported)
        return d;
    d.verdict = ST_UAS_ACCEPT;
    uint32_t wanted = max_u32(policy->session_ttl_s, floor_s);
    /* the answerer may lower the requested interval, never raise it */
    d.interval_s = offer->has_se && offer->se.seconds < wanted ? offer->se.seconds : wanted;
    if (offer->supported && offer->has_se && offer->se.refresher != ST_REFRESHER_NONE)
        d.refresher = offer->se.refresher;
    else
        d.refresher = ST_REFRESHER_UAS; /* the switch; the only choice when the sender lacks "timer" */
    d.require_timer = offer->supported;
    return d;
}

uint32_t st_uac_offer_interval(const st_policy_t *policy, uint32_t learned_min_se_s)
{
    return max_u32(max_u32(policy->session_ttl_s, policy->min_se_s), learned_min_se_s);
}

uint32_t st_uac_offer_min_se(const st_policy_t *policy, uint32_t learned_min_se_s)
{
    /* RFC 4028 7.1: after a 422 the Min-SE sent is the largest one heard */
    return max_u32(policy->min_se_s, learned_min_se_s);
}

st_uac_result_t st_uac_answer(const st_offer_t *answer)
{
    st_uac_result_t r = {0};
    if (!answer->has_se)
        return r; /* RFC 4028 7.2: no Session-Expires in the 2xx, no session expiration */
    r.timer = true;
    r.interval_s = answer->se.seconds;
    /* the switch sent the request: "uac" is the switch; an answer that
     * names nobody leaves it with the requester */
    r.switch_refreshes = answer->se.refresher != ST_REFRESHER_UAS;
    return r;
}

st_refresh_action_t st_refresh_action(int code, bool answered, bool was_update)
{
    if (!answered)
        return ST_REFRESH_FATAL; /* nothing came back, or nothing could be sent */
    if (code >= 200 && code < 300)
        return ST_REFRESH_OK;
    if (was_update && (code == 501 || code == 405))
        return ST_REFRESH_USE_INVITE;
    if (code == 422)
        return ST_REFRESH_RAISE_INTERVAL;
    if (code == 408 || code == 481)
        return ST_REFRESH_FATAL;
    return ST_REFRESH_RETRY;
}

uint64_t st_refresh_period_ms(uint32_t interval_s, uint32_t segment)
{
    if (segment == 0)
        segment = 2;
    uint64_t ms = (uint64_t)interval_s * 1000 / segment;
    return ms ? ms : 1;
}

uint64_t st_expiry_margin_deadline_ms(uint32_t interval_s)
{
    uint64_t ms = (uint64_t)interval_s * 1000;
    uint64_t margin = ms / 3 < 32000 ? ms / 3 : 32000;
    return ms - margin ? ms - margin : 1;
}
