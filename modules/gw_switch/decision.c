/*
 * The gateway switching decision: PARAMETERS.md section 1's eight steps, in
 * order, as one pure function. See decision.h for the contract.
 */
#include "decision.h"

/* SIP codes the rules name. */
enum {
    CODE_REQUEST_TIMEOUT = 408,
    CODE_BUSY_HERE = 486,
    CODE_REQUEST_TERMINATED = 487,
    CODE_SERVER_INTERNAL_ERROR = 500,
    CODE_SERVICE_UNAVAILABLE = 503,
    CODE_BUSY_EVERYWHERE = 600,
    CODE_NOT_FOUND = 404
};

static bool is_failure_code(int code)
{
    return code >= 300 && code <= 699;
}

bool gw_switch_outcome_is_timeout(gw_switch_outcome_t outcome)
{
    return outcome == GW_OUTCOME_INVITE_TIMEOUT || outcome == GW_OUTCOME_TRYING_TIMEOUT ||
           outcome == GW_OUTCOME_PROGRESS_TIMEOUT || outcome == GW_OUTCOME_RINGING_TIMEOUT;
}

bool gw_switch_outcome_is_skip(gw_switch_outcome_t outcome)
{
    return outcome == GW_OUTCOME_SKIPPED_MAX_CALLS || outcome == GW_OUTCOME_SKIPPED_MAX_CPS;
}

int gw_switch_outcome_code(gw_switch_outcome_t outcome, int response_code)
{
    if (outcome == GW_OUTCOME_RESPONSE)
        return is_failure_code(response_code) ? response_code : CODE_SERVER_INTERNAL_ERROR;
    if (gw_switch_outcome_is_timeout(outcome))
        return CODE_REQUEST_TIMEOUT;
    /* skips, transport errors and anything unknown: the gateway was not
     * available, which is what 503 says (RFC 3261 8.1.3.1 maps transport
     * errors to it too) */
    return CODE_SERVICE_UNAVAILABLE;
}

static gw_switch_decision_t stop(int code, gw_switch_rule_t rule)
{
    return (gw_switch_decision_t){.action = GW_SWITCH_STOP, .caller_code = code, .rule = rule};
}

gw_switch_decision_t gw_switch_decide(const gw_switch_attempt_t *a, const gw_switch_global_settings_t *global,
                                      const gw_switch_gateway_settings_t *gateway)
{
    const int code = gw_switch_outcome_code(a->outcome, a->code);
    /* codes the gateway itself sent, as opposed to codes the switch made up
     * for a timeout, a skip or a transport error: only those can match the
     * operator's stop list or mean "the callee is busy" */
    const bool from_gateway = a->outcome == GW_OUTCOME_RESPONSE;
    /* a skipped gateway never saw the INVITE, so nothing about it (SDP, RTP,
     * timeouts) can commit the call to it */
    const bool was_sent = !gw_switch_outcome_is_skip(a->outcome);

    /* 1. The caller gave up: whatever the gateway did, the call is over. */
    if (a->caller_cancelled)
        return stop(CODE_REQUEST_TERMINATED, GW_RULE_CALLER_CANCELLED);

    /* 2. An answered call is never switched: the caller already has 200. */
    if (a->answered)
        return stop(GW_SWITCH_NO_CODE, GW_RULE_ANSWERED);

    /* 3. The operator said this gateway's code is final (e.g. 404 means the
     *    number does not exist anywhere). */
    if (from_gateway && gw_switch_is_stop_code(gateway, code))
        return stop(code, GW_RULE_STOP_CODE);

    /* 4. Busy is a property of the callee, not of the carrier. */
    if (from_gateway && (code == CODE_BUSY_HERE || code == CODE_BUSY_EVERYWHERE) && global->stop_after_user_busy)
        return stop(code, GW_RULE_USER_BUSY);

    /* 5. Early media committed the call to this gateway; switching now would
     *    cut the caller's early audio. UNTIL_CONNECT switches anyway. */
    if (was_sent && !global->switch_until_connect) {
        if (a->sdp_received && gateway->stop_after_sdp)
            return stop(code, GW_RULE_SDP_RECEIVED);
        /* without the relay the switch cannot see RTP: the flag means nothing */
        if (a->rtp_started && a->media_relayed && global->stop_after_rtp_start)
            return stop(code, GW_RULE_RTP_STARTED);
    }

    /* 6. Only the "no response at all" timeout: the trying/progress/ringing
     *    timeouts mean the gateway is alive, which this rule is not about. */
    if (a->outcome == GW_OUTCOME_INVITE_TIMEOUT && gateway->stop_after_invite_timeout)
        return stop(CODE_REQUEST_TIMEOUT, GW_RULE_INVITE_TIMEOUT);

    /* 7. Nothing (more) to try. When the chain ended exactly at the limit,
     *    say "chain exhausted": the limit cut nothing short. */
    if (a->gateways_left == 0)
        return stop(code, GW_RULE_CHAIN_EXHAUSTED);
    if (global->switch_limit && a->attempts_made >= global->switch_limit)
        return stop(code, GW_RULE_SWITCH_LIMIT);

    /* 8. Try the next gateway; carry the code in case it is the last word. */
    return (gw_switch_decision_t){.action = GW_SWITCH_NEXT, .caller_code = code, .rule = GW_RULE_NEXT};
}

gw_switch_decision_t gw_switch_decide_empty_chain(int script_reject_code)
{
    if (script_reject_code == 0)
        return stop(CODE_NOT_FOUND, GW_RULE_EMPTY_CHAIN);
    return stop(is_failure_code(script_reject_code) ? script_reject_code : CODE_SERVER_INTERNAL_ERROR,
                GW_RULE_SCRIPT_REJECTED);
}

bool gw_switch_script_may_override(const gw_switch_decision_t *decided)
{
    return decided->action == GW_SWITCH_NEXT && decided->rule == GW_RULE_NEXT;
}

gw_switch_decision_t gw_switch_apply_script(const gw_switch_decision_t *decided,
                                            const gw_switch_script_verdict_t *verdict)
{
    if (!gw_switch_script_may_override(decided))
        return *decided;
    switch (verdict->kind) {
    case GW_SCRIPT_STOP:
        return stop(is_failure_code(verdict->code) ? verdict->code : decided->caller_code, GW_RULE_SCRIPT_STOP);
    case GW_SCRIPT_NEW_CHAIN:
        /* an empty replacement leaves nothing to try: the same as "stop" */
        if (verdict->new_chain_len == 0)
            return stop(decided->caller_code, GW_RULE_SCRIPT_STOP);
        return (gw_switch_decision_t){
            .action = GW_SWITCH_NEXT, .caller_code = decided->caller_code, .rule = GW_RULE_SCRIPT_NEW_CHAIN};
    case GW_SCRIPT_DEFAULT:
        break;
    }
    return *decided;
}

const char *gw_switch_rule_name(gw_switch_rule_t rule)
{
    switch (rule) {
    case GW_RULE_CALLER_CANCELLED: return "caller_cancelled";
    case GW_RULE_ANSWERED: return "answered";
    case GW_RULE_STOP_CODE: return "stop_code";
    case GW_RULE_USER_BUSY: return "user_busy";
    case GW_RULE_SDP_RECEIVED: return "sdp_received";
    case GW_RULE_RTP_STARTED: return "rtp_started";
    case GW_RULE_INVITE_TIMEOUT: return "invite_timeout";
    case GW_RULE_SWITCH_LIMIT: return "switch_limit";
    case GW_RULE_CHAIN_EXHAUSTED: return "chain_exhausted";
    case GW_RULE_NEXT: return "next";
    case GW_RULE_EMPTY_CHAIN: return "empty_chain";
    case GW_RULE_SCRIPT_REJECTED: return "script_rejected";
    case GW_RULE_SCRIPT_STOP: return "script_stop";
    case GW_RULE_SCRIPT_NEW_CHAIN: return "script_new_chain";
    }
    return "unknown";
}

int gw_switch_rule_step(gw_switch_rule_t rule)
{
    switch (rule) {
    case GW_RULE_CALLER_CANCELLED: return 1;
    case GW_RULE_ANSWERED: return 2;
    case GW_RULE_STOP_CODE: return 3;
    case GW_RULE_USER_BUSY: return 4;
    case GW_RULE_SDP_RECEIVED:
    case GW_RULE_RTP_STARTED: return 5;
    case GW_RULE_INVITE_TIMEOUT: return 6;
    case GW_RULE_SWITCH_LIMIT:
    case GW_RULE_CHAIN_EXHAUSTED: return 7;
    case GW_RULE_NEXT: return 8;
    case GW_RULE_EMPTY_CHAIN:
    case GW_RULE_SCRIPT_REJECTED:
    case GW_RULE_SCRIPT_STOP:
    case GW_RULE_SCRIPT_NEW_CHAIN: return 0;
    }
    return 0;
}

const char *gw_switch_outcome_name(gw_switch_outcome_t outcome)
{
    switch (outcome) {
    case GW_OUTCOME_RESPONSE: return "response";
    case GW_OUTCOME_INVITE_TIMEOUT: return "invite_timeout";
    case GW_OUTCOME_TRYING_TIMEOUT: return "trying_timeout";
    case GW_OUTCOME_PROGRESS_TIMEOUT: return "progress_timeout";
    case GW_OUTCOME_RINGING_TIMEOUT: return "ringing_timeout";
    case GW_OUTCOME_SKIPPED_MAX_CALLS: return "skipped_max_calls";
    case GW_OUTCOME_SKIPPED_MAX_CPS: return "skipped_max_cps";
    case GW_OUTCOME_TRANSPORT_ERROR: return "transport_error";
    }
    return "unknown";
}
