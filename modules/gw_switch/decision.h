/*
 * The gateway switching decision (PARAMETERS.md section 1, "Decision order"):
 * after one attempt toward a routing gateway failed, try the next gateway of
 * the chain or stop, and which final code the caller gets.
 *
 * Everything here is pure: no clock, no allocation, no API. The call engine
 * gathers the facts about the attempt (gw_switch_attempt_t), passes the rules
 * in force (the global settings and the failed gateway's settings), and acts
 * on the answer. That keeps the VOS3000 semantics testable case by case,
 * independent of SIP timing.
 *
 * How the engine uses it, per failed attempt:
 *
 *     gw_switch_decision_t d = gw_switch_decide(&attempt, &conf->global, gw_settings);
 *     if (gw_switch_script_may_override(&d) && script defines on_failure) {
 *         verdict = <call on_failure(call, attempt)>;     -- see below
 *         d = gw_switch_apply_script(&d, &verdict);
 *     }
 *     if (d.action == GW_SWITCH_NEXT) try the next gateway (of the new chain
 *     when the script replaced it);
 *     else if (d.caller_code) send d.caller_code to the caller;
 *     record gw_switch_rule_name(d.rule) on the attempt for logs and the CDR.
 *
 * A chain that is empty from the start never reaches gw_switch_decide():
 * gw_switch_decide_empty_chain() gives its final code.
 */
#ifndef GW_SWITCH_DECISION_H
#define GW_SWITCH_DECISION_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_switch_params.h"

/* How an attempt ended. Values are stable: they may be stored in CDRs. */
typedef enum {
    GW_OUTCOME_RESPONSE = 1,        /* a final failure response (3xx-6xx) from the gateway, in `code` */
    GW_OUTCOME_INVITE_TIMEOUT,      /* invite_timeout ran out with no response at all */
    GW_OUTCOME_TRYING_TIMEOUT,      /* 100 Trying, then nothing for trying_timeout */
    GW_OUTCOME_PROGRESS_TIMEOUT,    /* 183, then no 180/200 within progress_timeout */
    GW_OUTCOME_RINGING_TIMEOUT,     /* 180, then no answer within ringing_timeout */
    GW_OUTCOME_SKIPPED_MAX_CALLS,   /* not sent: the gateway was at max_calls (counts as 503) */
    GW_OUTCOME_SKIPPED_MAX_CPS,     /* not sent: the gateway was at max_cps (counts as 503) */
    GW_OUTCOME_TRANSPORT_ERROR      /* could not be sent or the connection failed (503, RFC 3261 8.1.3.1) */
} gw_switch_outcome_t;

/* The facts about the failed attempt. Booleans describe this attempt (this
 * gateway), except caller_cancelled and answered which describe the call. */
typedef struct gw_switch_attempt {
    gw_switch_outcome_t outcome;
    int code;                 /* the response code for GW_OUTCOME_RESPONSE; ignored otherwise */
    bool sdp_received;        /* a provisional response from this gateway carried SDP */
    bool rtp_started;         /* the media relay saw RTP from this gateway */
    bool media_relayed;       /* this call's media goes through the relay (else rtp_started means nothing) */
    bool caller_cancelled;    /* the caller sent CANCEL (or hung up) */
    bool answered;            /* the call was answered (200 OK relayed to the caller) */
    /* INVITEs sent for this call so far, this attempt included. A gateway
     * skipped at its limits was never sent one and is not counted. */
    unsigned attempts_made;
    size_t gateways_left;     /* gateways after this one in the chain */
} gw_switch_attempt_t;

typedef enum {
    GW_SWITCH_NEXT = 1,       /* try the next gateway of the chain */
    GW_SWITCH_STOP = 2        /* end the call's switching; send caller_code (if not 0) */
} gw_switch_action_t;

/* Which rule decided. Values are stable: they may be stored in CDRs. */
typedef enum {
    GW_RULE_CALLER_CANCELLED = 1, /* step 1 */
    GW_RULE_ANSWERED,             /* step 2 */
    GW_RULE_STOP_CODE,            /* step 3: the code is in the gateway's stop_switch_codes */
    GW_RULE_USER_BUSY,            /* step 4: 486/600 with stop_after_user_busy */
    GW_RULE_SDP_RECEIVED,         /* step 5: early SDP with stop_after_sdp */
    GW_RULE_RTP_STARTED,          /* step 5: relayed RTP with stop_after_rtp_start */
    GW_RULE_INVITE_TIMEOUT,       /* step 6: INVITE timeout with stop_after_invite_timeout */
    GW_RULE_SWITCH_LIMIT,         /* step 7: switch_limit reached with gateways still left */
    GW_RULE_CHAIN_EXHAUSTED,      /* step 7: no gateway left */
    GW_RULE_NEXT,                 /* step 8: try the next gateway */
    GW_RULE_EMPTY_CHAIN,          /* no gateway from the start: 404 */
    GW_RULE_SCRIPT_REJECTED,      /* the script rejected the call with its own code */
    GW_RULE_SCRIPT_STOP,          /* on_failure returned "stop" (or an empty chain) */
    GW_RULE_SCRIPT_NEW_CHAIN      /* on_failure replaced the rest of the chain */
} gw_switch_rule_t;

/* caller_code value meaning "send nothing": the caller already has its final
 * response (the call was answered). */
#define GW_SWITCH_NO_CODE 0

typedef struct gw_switch_decision {
    gw_switch_action_t action;
    /* STOP: the final code for the caller (or GW_SWITCH_NO_CODE).
     * NEXT: the failed attempt's code (408 for a timeout, 503 for a skip or
     * transport error), which is what the caller gets if nothing better comes. */
    int caller_code;
    gw_switch_rule_t rule;
} gw_switch_decision_t;

/* The decision order, first matching rule wins:
 *  1. caller cancelled                                   -> STOP 487
 *  2. call answered                                      -> STOP, no code
 *  3. response code in the gateway's stop codes          -> STOP, that code
 *  4. 486/600 and stop_after_user_busy                   -> STOP, that code
 *  5. switch_until_connect Off and (SDP received and the gateway's
 *     stop_after_sdp, or RTP seen on a relayed call and stop_after_rtp_start)
 *                                                        -> STOP, the attempt's code
 *  6. INVITE timeout and the gateway's stop_after_invite_timeout -> STOP 408
 *  7. no gateway left, or switch_limit reached           -> STOP, the attempt's code
 *  8. otherwise                                          -> NEXT
 * The attempt's code is the response code, 408 for any timeout, 503 for a
 * gateway skipped at its limits or a transport error. Stop codes and busy
 * (3, 4) apply to codes a gateway actually sent, never to codes the switch
 * made up; a skipped gateway (never sent an INVITE) skips 3 to 6. */
gw_switch_decision_t gw_switch_decide(const gw_switch_attempt_t *attempt, const gw_switch_global_settings_t *global,
                                      const gw_switch_gateway_settings_t *gateway);

/* The final code of a call whose chain was empty from the start: 404 (rule
 * EMPTY_CHAIN) when the script returned no gateway, or the script's own code
 * when it rejected the call (rule SCRIPT_REJECTED; pass 0 when it did not).
 * A reject code outside 300..699 is a script bug and gives 500, as any other
 * script error does. */
gw_switch_decision_t gw_switch_decide_empty_chain(int script_reject_code);

/* The code an outcome stands for: the response code (a code outside 300..699
 * from the engine gives 500, so the caller always gets a valid failure), 408
 * for the timeouts, 503 for skips and transport errors. */
int gw_switch_outcome_code(gw_switch_outcome_t outcome, int response_code);

/* ---- the Lua on_failure override ---------------------------------------
 *
 * Per PARAMETERS.md step 8, the script may override only a NEXT decision
 * (rule GW_RULE_NEXT): steps 1-7 are hard stops a script cannot undo (a
 * cancelled, answered, busy or committed call must end). The engine calls
 * on_failure(call, attempt) only when gw_switch_script_may_override() says
 * so, and maps its return value:
 *
 *   nil, nothing, or "next"      -> GW_SCRIPT_DEFAULT   (keep NEXT)
 *   "stop"                       -> GW_SCRIPT_STOP, code 0 (caller gets the attempt's code)
 *   "stop", 480                  -> GW_SCRIPT_STOP, code 480
 *   { "gwX", "gwY", ... }        -> GW_SCRIPT_NEW_CHAIN, new_chain_len = 2:
 *                                   the rest of the chain is replaced by it
 *   {}                           -> GW_SCRIPT_NEW_CHAIN, new_chain_len = 0 (= stop)
 *
 * "Skip" (PARAMETERS.md's third verb) is a new chain: the rest without the
 * gateways to skip. The switch limit still applies to a new chain: it is
 * checked by gw_switch_decide() after each later attempt.
 */
typedef enum {
    GW_SCRIPT_DEFAULT = 0,
    GW_SCRIPT_STOP,
    GW_SCRIPT_NEW_CHAIN
} gw_switch_script_verdict_kind_t;

typedef struct gw_switch_script_verdict {
    gw_switch_script_verdict_kind_t kind;
    int code;                 /* STOP: the caller's code (300..699), 0 = the attempt's code */
    size_t new_chain_len;     /* NEW_CHAIN: gateways in the replacement chain */
} gw_switch_script_verdict_t;

bool gw_switch_script_may_override(const gw_switch_decision_t *decided);

/* The decision after the script's verdict. A verdict on a decision the
 * script may not override is ignored (the decision is returned unchanged);
 * a STOP code outside 300..699 falls back to the attempt's code. */
gw_switch_decision_t gw_switch_apply_script(const gw_switch_decision_t *decided,
                                            const gw_switch_script_verdict_t *verdict);

/* ---- names for logs, metrics and CDRs ---------------------------------- */

/* "caller_cancelled", "stop_code", ... ; "unknown" for a bad value. */
const char *gw_switch_rule_name(gw_switch_rule_t rule);
/* The step of the decision order (1..8) a rule belongs to; 0 for the rules
 * outside it (empty chain, script verdicts). */
int gw_switch_rule_step(gw_switch_rule_t rule);
/* "response", "invite_timeout", "skipped_max_cps", ... */
const char *gw_switch_outcome_name(gw_switch_outcome_t outcome);
/* true for the four timeouts */
bool gw_switch_outcome_is_timeout(gw_switch_outcome_t outcome);
/* true when no INVITE was sent (skipped at max_calls or max_cps) */
bool gw_switch_outcome_is_skip(gw_switch_outcome_t outcome);

#endif
