/* The gateway switching decision: one test per step of PARAMETERS.md
 * section 1's decision order, their precedence, the empty chain, the Lua
 * override, and an exhaustive table over every combination of the flags
 * checked against the spec written out as an independent list of rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "decision.h"

/* ---- fixtures ---------------------------------------------------------- */

/* VOS3000's defaults: STOP_AFTER_RTP_START On, USER_BUSY On, UNTIL_CONNECT
 * Off, no switch limit; per gateway STOP_AFTER_SDP On, AFTER_INVITE_TIMEOUT
 * Off, no stop codes. */
static gw_switch_global_settings_t vos_global(void)
{
    return (gw_switch_global_settings_t){
        .switch_limit = 0, .stop_after_rtp_start = true, .stop_after_user_busy = true, .switch_until_connect = false};
}

static gw_switch_gateway_settings_t vos_gateway(void)
{
    gw_switch_gateway_settings_t gw;
    memset(&gw, 0, sizeof gw);
    gw.invite_timeout_ms = 10000;
    gw.trying_timeout_ms = 20000;
    gw.progress_timeout_ms = 20000;
    gw.ringing_timeout_ms = 120000;
    gw.stop_after_sdp = true;
    gw.stop_after_invite_timeout = false;
    return gw;
}

/* The first of three gateways answered `code`; nothing else happened. */
static gw_switch_attempt_t response(int code)
{
    return (gw_switch_attempt_t){
        .outcome = GW_OUTCOME_RESPONSE, .code = code, .attempts_made = 1, .gateways_left = 2};
}

static gw_switch_attempt_t outcome(gw_switch_outcome_t kind)
{
    gw_switch_attempt_t a = response(0);
    a.outcome = kind;
    if (gw_switch_outcome_is_skip(kind))
        a.attempts_made = 0; /* a skipped gateway was never sent an INVITE */
    return a;
}

#define assert_decision(d, act, code_, rule_)                                                                  \
    do {                                                                                                       \
        gw_switch_decision_t d_ = (d);                                                                         \
        if (d_.action != (act) || d_.caller_code != (code_) || d_.rule != (rule_))                           \
            fail_msg("got %s %d (%s), expected %s %d (%s)", d_.action == GW_SWITCH_NEXT ? "NEXT" : "STOP",     \
                     d_.caller_code, gw_switch_rule_name(d_.rule), (act) == GW_SWITCH_NEXT ? "NEXT" : "STOP", \
                     (code_), gw_switch_rule_name(rule_));                                                     \
    } while (0)

/* ---- step 1: the caller cancelled ------------------------------------- */

static void test_step1_caller_cancelled_stops_with_487(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_stop_code_add(&gw, 404);

    gw_switch_attempt_t a = response(503);
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);

    /* beats the stop codes (step 3) and busy (step 4) */
    a = response(404);
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);
    a = response(486);
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);

    /* and a timeout, and UNTIL_CONNECT, and a skipped gateway */
    g.switch_until_connect = true;
    a = outcome(GW_OUTCOME_INVITE_TIMEOUT);
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);
    a = outcome(GW_OUTCOME_SKIPPED_MAX_CALLS);
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);
}

/* ---- step 2: the call was answered ------------------------------------ */

static void test_step2_answered_never_switches(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    g.switch_until_connect = true;
    g.stop_after_user_busy = false;
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw.stop_after_sdp = false;

    /* every other rule would say NEXT here */
    gw_switch_attempt_t a = response(503);
    a.answered = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, GW_SWITCH_NO_CODE, GW_RULE_ANSWERED);

    /* beats the stop codes: nothing is relayed to a caller who has 200 */
    gw_switch_stop_code_add(&gw, 503);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, GW_SWITCH_NO_CODE, GW_RULE_ANSWERED);

    /* but not the cancel (step 1 comes first) */
    a.caller_cancelled = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);
}

/* ---- step 3: the gateway's stop codes --------------------------------- */

static void test_step3_stop_codes_relay_the_code(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t with_codes = vos_gateway(), without = vos_gateway();
    gw_switch_stop_code_add(&with_codes, 403);
    gw_switch_stop_code_add(&with_codes, 404);
    gw_switch_stop_code_add(&with_codes, 404); /* twice is once */
    assert_int_equal(with_codes.n_stop_codes, 2);

    gw_switch_attempt_t a = response(404);
    assert_decision(gw_switch_decide(&a, &g, &with_codes), GW_SWITCH_STOP, 404, GW_RULE_STOP_CODE);
    a = response(403);
    assert_decision(gw_switch_decide(&a, &g, &with_codes), GW_SWITCH_STOP, 403, GW_RULE_STOP_CODE);
    /* another code of the same gateway, or the same code from a gateway
     * without the list: try the next one */
    a = response(503);
    assert_decision(gw_switch_decide(&a, &g, &with_codes), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    a = response(404);
    assert_decision(gw_switch_decide(&a, &g, &without), GW_SWITCH_NEXT, 404, GW_RULE_NEXT);

    /* UNTIL_CONNECT does not switch past a stop code */
    g.switch_until_connect = true;
    a = response(404);
    assert_decision(gw_switch_decide(&a, &g, &with_codes), GW_SWITCH_STOP, 404, GW_RULE_STOP_CODE);
}

static void test_step3_stop_codes_beat_busy_and_sdp(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_stop_code_add(&gw, 486);
    gw_switch_stop_code_add(&gw, 480);

    gw_switch_attempt_t a = response(486);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 486, GW_RULE_STOP_CODE);
    a = response(480);
    a.sdp_received = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 480, GW_RULE_STOP_CODE);
}

static void test_step3_stop_codes_only_match_codes_a_gateway_sent(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_stop_code_add(&gw, 408);
    gw_switch_stop_code_add(&gw, 503);

    /* a timeout is 408 for the caller, but the gateway never said 408 */
    gw_switch_attempt_t a = outcome(GW_OUTCOME_INVITE_TIMEOUT);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 408, GW_RULE_NEXT);
    /* our own limiter's 503 must not end the call */
    a = outcome(GW_OUTCOME_SKIPPED_MAX_CPS);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    a = outcome(GW_OUTCOME_TRANSPORT_ERROR);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    /* a real 503 from the gateway does */
    a = response(503);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 503, GW_RULE_STOP_CODE);
}

/* ---- step 4: busy ----------------------------------------------------- */

static void test_step4_busy_486_and_600(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();

    gw_switch_attempt_t a = response(486);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 486, GW_RULE_USER_BUSY);
    a = response(600); /* Busy Everywhere counts as busy */
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 600, GW_RULE_USER_BUSY);
    /* other "can't take it" codes are not busy */
    a = response(480);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 480, GW_RULE_NEXT);
    a = response(603);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 603, GW_RULE_NEXT);

    /* UNTIL_CONNECT keeps the busy rule */
    g.switch_until_connect = true;
    a = response(486);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 486, GW_RULE_USER_BUSY);

    /* Off: busy is one more failure */
    g = vos_global();
    g.stop_after_user_busy = false;
    a = response(486);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 486, GW_RULE_NEXT);
    a = response(600);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 600, GW_RULE_NEXT);
}

static void test_step4_busy_beats_early_media(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_attempt_t a = response(486);
    a.sdp_received = true;
    a.rtp_started = a.media_relayed = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 486, GW_RULE_USER_BUSY);
}

/* ---- step 5: early media commits the call ----------------------------- */

static void test_step5_sdp_commits_to_the_gateway(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();

    gw_switch_attempt_t a = response(480);
    a.sdp_received = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 480, GW_RULE_SDP_RECEIVED);
    /* a timeout after 183 with SDP: the caller gets 408 */
    a = outcome(GW_OUTCOME_PROGRESS_TIMEOUT);
    a.sdp_received = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_SDP_RECEIVED);

    /* per gateway Off */
    gw.stop_after_sdp = false;
    a = response(480);
    a.sdp_received = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 480, GW_RULE_NEXT);

    /* UNTIL_CONNECT ignores it */
    gw.stop_after_sdp = true;
    g.switch_until_connect = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 480, GW_RULE_NEXT);
}

static void test_step5_rtp_only_counts_when_relayed(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw.stop_after_sdp = false; /* isolate the RTP rule */

    gw_switch_attempt_t a = response(487);
    a.rtp_started = true;
    a.media_relayed = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_RTP_STARTED);

    /* no relay on this call: the rule has no effect */
    a.media_relayed = false;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 487, GW_RULE_NEXT);

    /* STOP_AFTER_RTP_START Off */
    a.media_relayed = true;
    g.stop_after_rtp_start = false;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 487, GW_RULE_NEXT);

    /* UNTIL_CONNECT ignores it */
    g.stop_after_rtp_start = true;
    g.switch_until_connect = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 487, GW_RULE_NEXT);

    /* SDP is checked before RTP: both set names SDP */
    g.switch_until_connect = false;
    gw.stop_after_sdp = true;
    a.sdp_received = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 487, GW_RULE_SDP_RECEIVED);
}

static void test_step5_early_media_beats_invite_timeout_and_limit(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    g.switch_limit = 1;
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_attempt_t a = response(503);
    a.sdp_received = true;
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 503, GW_RULE_SDP_RECEIVED);
}

/* ---- step 6: INVITE timeout ------------------------------------------- */

static void test_step6_invite_timeout_stops_with_408_when_on(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();

    /* default Off: the next gateway is tried */
    gw_switch_attempt_t a = outcome(GW_OUTCOME_INVITE_TIMEOUT);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 408, GW_RULE_NEXT);

    gw.stop_after_invite_timeout = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_INVITE_TIMEOUT);

    /* only the INVITE timeout, not the timeouts of a gateway that answered */
    a = outcome(GW_OUTCOME_TRYING_TIMEOUT);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 408, GW_RULE_NEXT);
    a = outcome(GW_OUTCOME_RINGING_TIMEOUT);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 408, GW_RULE_NEXT);
    a = outcome(GW_OUTCOME_TRANSPORT_ERROR);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);

    /* UNTIL_CONNECT only lifts the SDP/RTP rules, not this one */
    g.switch_until_connect = true;
    a = outcome(GW_OUTCOME_INVITE_TIMEOUT);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_INVITE_TIMEOUT);

    /* and it is decided before the chain's end (same code, named rule) */
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_INVITE_TIMEOUT);
}

/* ---- step 7: switch limit and the end of the chain -------------------- */

static void test_step7_switch_limit_counts_the_first_attempt(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_attempt_t a = response(503);
    a.gateways_left = 5;

    g.switch_limit = 1; /* only the first gateway may be tried */
    a.attempts_made = 1;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 503, GW_RULE_SWITCH_LIMIT);

    g.switch_limit = 2;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    a.attempts_made = 2;
    a.code = 502;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 502, GW_RULE_SWITCH_LIMIT);

    /* a timed-out last attempt gives 408 */
    a = outcome(GW_OUTCOME_RINGING_TIMEOUT);
    a.attempts_made = 2;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_SWITCH_LIMIT);

    /* 0 = unlimited */
    g.switch_limit = 0;
    a = response(503);
    a.attempts_made = 100;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);

    /* UNTIL_CONNECT keeps the limit */
    g.switch_limit = 1;
    g.switch_until_connect = true;
    a.attempts_made = 1;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 503, GW_RULE_SWITCH_LIMIT);
}

static void test_step7_chain_exhausted_relays_the_last_code(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();

    gw_switch_attempt_t a = response(502);
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 502, GW_RULE_CHAIN_EXHAUSTED);

    const gw_switch_outcome_t timeouts[] = {GW_OUTCOME_INVITE_TIMEOUT, GW_OUTCOME_TRYING_TIMEOUT,
                                            GW_OUTCOME_PROGRESS_TIMEOUT, GW_OUTCOME_RINGING_TIMEOUT};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        a = outcome(timeouts[i]);
        a.gateways_left = 0;
        assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 408, GW_RULE_CHAIN_EXHAUSTED);
    }

    /* the chain ends exactly at the limit: the limit cut nothing short */
    g.switch_limit = 3;
    a = response(480);
    a.attempts_made = 3;
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 480, GW_RULE_CHAIN_EXHAUSTED);

    /* busy with STOP_AFTER_USER_BUSY Off on the last gateway: relayed */
    g = vos_global();
    g.stop_after_user_busy = false;
    a = response(486);
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 486, GW_RULE_CHAIN_EXHAUSTED);
}

static void test_skipped_gateway_counts_as_503_and_moves_on(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw.stop_after_invite_timeout = true;

    gw_switch_attempt_t a = outcome(GW_OUTCOME_SKIPPED_MAX_CALLS);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    a = outcome(GW_OUTCOME_SKIPPED_MAX_CPS);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);

    /* never sent, so stale early-media flags cannot commit the call to it */
    a.sdp_received = a.rtp_started = a.media_relayed = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);

    /* not an attempt for the switch limit: limit 1, the first gateway was
     * skipped, the second may still be tried */
    g.switch_limit = 1;
    a = outcome(GW_OUTCOME_SKIPPED_MAX_CALLS);
    assert_int_equal(a.attempts_made, 0);
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);

    /* the last gateway skipped: the caller gets 503 */
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 503, GW_RULE_CHAIN_EXHAUSTED);
}

/* ---- step 8: next --------------------------------------------------- */

static void test_step8_otherwise_next(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    const int codes[] = {302, 400, 403, 404, 408, 480, 487, 500, 502, 503, 603, 699};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        gw_switch_attempt_t a = response(codes[i]);
        assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, codes[i], GW_RULE_NEXT);
    }
    /* SDP with the gateway's STOP_AFTER_SDP Off and RTP on a direct call */
    gw.stop_after_sdp = false;
    gw_switch_attempt_t a = response(480);
    a.sdp_received = a.rtp_started = true;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_NEXT, 480, GW_RULE_NEXT);
}

static void test_codes_the_engine_should_not_pass(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    /* a 2xx or a garbage code reported as a failure still gives the caller
     * a valid failure code */
    gw_switch_attempt_t a = response(200);
    a.gateways_left = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 500, GW_RULE_CHAIN_EXHAUSTED);
    a.code = 0;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 500, GW_RULE_CHAIN_EXHAUSTED);
    a.code = 700;
    assert_decision(gw_switch_decide(&a, &g, &gw), GW_SWITCH_STOP, 500, GW_RULE_CHAIN_EXHAUSTED);
    assert_int_equal(gw_switch_outcome_code(GW_OUTCOME_RESPONSE, 183), 500);
    assert_int_equal(gw_switch_outcome_code(GW_OUTCOME_INVITE_TIMEOUT, 0), 408);
    assert_int_equal(gw_switch_outcome_code(GW_OUTCOME_TRANSPORT_ERROR, 0), 503);
}

/* ---- empty chain ------------------------------------------------------ */

static void test_empty_chain(void **state)
{
    (void)state;
    assert_decision(gw_switch_decide_empty_chain(0), GW_SWITCH_STOP, 404, GW_RULE_EMPTY_CHAIN);
    assert_decision(gw_switch_decide_empty_chain(403), GW_SWITCH_STOP, 403, GW_RULE_SCRIPT_REJECTED);
    assert_decision(gw_switch_decide_empty_chain(603), GW_SWITCH_STOP, 603, GW_RULE_SCRIPT_REJECTED);
    /* a reject with a non-failure code is a script bug: 500 */
    assert_decision(gw_switch_decide_empty_chain(200), GW_SWITCH_STOP, 500, GW_RULE_SCRIPT_REJECTED);
    assert_decision(gw_switch_decide_empty_chain(-1), GW_SWITCH_STOP, 500, GW_RULE_SCRIPT_REJECTED);
}

/* ---- the Lua on_failure override -------------------------------------- */

static void test_script_may_override_only_next(void **state)
{
    (void)state;
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_attempt_t a = response(503);
    gw_switch_decision_t next = gw_switch_decide(&a, &g, &gw);
    assert_true(gw_switch_script_may_override(&next));

    const gw_switch_script_verdict_t keep = {.kind = GW_SCRIPT_DEFAULT};
    const gw_switch_script_verdict_t stop_plain = {.kind = GW_SCRIPT_STOP};
    const gw_switch_script_verdict_t stop_480 = {.kind = GW_SCRIPT_STOP, .code = 480};
    const gw_switch_script_verdict_t stop_bad = {.kind = GW_SCRIPT_STOP, .code = 180};
    const gw_switch_script_verdict_t chain2 = {.kind = GW_SCRIPT_NEW_CHAIN, .new_chain_len = 2};
    const gw_switch_script_verdict_t chain0 = {.kind = GW_SCRIPT_NEW_CHAIN, .new_chain_len = 0};

    assert_decision(gw_switch_apply_script(&next, &keep), GW_SWITCH_NEXT, 503, GW_RULE_NEXT);
    assert_decision(gw_switch_apply_script(&next, &stop_plain), GW_SWITCH_STOP, 503, GW_RULE_SCRIPT_STOP);
    assert_decision(gw_switch_apply_script(&next, &stop_480), GW_SWITCH_STOP, 480, GW_RULE_SCRIPT_STOP);
    assert_decision(gw_switch_apply_script(&next, &stop_bad), GW_SWITCH_STOP, 503, GW_RULE_SCRIPT_STOP);
    assert_decision(gw_switch_apply_script(&next, &chain2), GW_SWITCH_NEXT, 503, GW_RULE_SCRIPT_NEW_CHAIN);
    assert_decision(gw_switch_apply_script(&next, &chain0), GW_SWITCH_STOP, 503, GW_RULE_SCRIPT_STOP);

    /* steps 1-7 are final: the verdict is ignored */
    a = response(486);
    gw_switch_decision_t busy = gw_switch_decide(&a, &g, &gw);
    assert_false(gw_switch_script_may_override(&busy));
    assert_decision(gw_switch_apply_script(&busy, &chain2), GW_SWITCH_STOP, 486, GW_RULE_USER_BUSY);
    a = response(503);
    a.gateways_left = 0;
    gw_switch_decision_t last = gw_switch_decide(&a, &g, &gw);
    assert_false(gw_switch_script_may_override(&last));
    assert_decision(gw_switch_apply_script(&last, &chain2), GW_SWITCH_STOP, 503, GW_RULE_CHAIN_EXHAUSTED);
    a = response(503);
    a.caller_cancelled = true;
    gw_switch_decision_t cancelled = gw_switch_decide(&a, &g, &gw);
    assert_decision(gw_switch_apply_script(&cancelled, &stop_480), GW_SWITCH_STOP, 487, GW_RULE_CALLER_CANCELLED);
}

/* ---- names ------------------------------------------------------------ */

static void test_rule_and_outcome_names(void **state)
{
    (void)state;
    /* every rule has its own name and its step in the order */
    const int steps[] = {0, 1, 2, 3, 4, 5, 5, 6, 7, 7, 8, 0, 0, 0, 0};
    for (int r = GW_RULE_CALLER_CANCELLED; r <= GW_RULE_SCRIPT_NEW_CHAIN; r++) {
        const char *name = gw_switch_rule_name((gw_switch_rule_t)r);
        assert_string_not_equal(name, "unknown");
        for (int o = GW_RULE_CALLER_CANCELLED; o < r; o++)
            assert_string_not_equal(name, gw_switch_rule_name((gw_switch_rule_t)o));
        assert_int_equal(gw_switch_rule_step((gw_switch_rule_t)r), steps[r]);
    }
    assert_string_equal(gw_switch_rule_name(GW_RULE_STOP_CODE), "stop_code");
    assert_string_equal(gw_switch_rule_name((gw_switch_rule_t)0), "unknown");
    for (int o = GW_OUTCOME_RESPONSE; o <= GW_OUTCOME_TRANSPORT_ERROR; o++)
        assert_string_not_equal(gw_switch_outcome_name((gw_switch_outcome_t)o), "unknown");
    assert_string_equal(gw_switch_outcome_name(GW_OUTCOME_SKIPPED_MAX_CPS), "skipped_max_cps");
    assert_string_equal(gw_switch_outcome_name((gw_switch_outcome_t)99), "unknown");
}

/* ---- hand-written table ----------------------------------------------- */

enum {
    F_CANCELLED = 1 << 0,
    F_ANSWERED = 1 << 1,
    F_SDP = 1 << 2,
    F_RTP = 1 << 3,
    F_RELAYED = 1 << 4,
    F_LAST = 1 << 5,           /* no gateway left */
    F_AT_LIMIT = 1 << 6,       /* switch_limit = attempts_made */
    /* settings, as differences from VOS3000's defaults */
    S_SDP_OFF = 1 << 10,
    S_INVITE_TIMEOUT_ON = 1 << 11,
    S_RTP_OFF = 1 << 12,
    S_BUSY_OFF = 1 << 13,
    S_UNTIL_CONNECT = 1 << 14,
};

struct row {
    gw_switch_outcome_t outcome;
    int code;
    unsigned flags;
    gw_switch_action_t action;
    int caller_code;
    gw_switch_rule_t rule;
};

#define R GW_OUTCOME_RESPONSE
#define STOP GW_SWITCH_STOP
#define NEXT GW_SWITCH_NEXT

static gw_switch_decision_t decide_flags(gw_switch_outcome_t kind, int code, unsigned flags,
                                         const gw_switch_gateway_settings_t *base_gw)
{
    gw_switch_global_settings_t g = vos_global();
    gw_switch_gateway_settings_t gw = *base_gw;
    gw_switch_attempt_t a = {.outcome = kind, .code = code, .attempts_made = 2, .gateways_left = 3};
    a.caller_cancelled = flags & F_CANCELLED;
    a.answered = flags & F_ANSWERED;
    a.sdp_received = flags & F_SDP;
    a.rtp_started = flags & F_RTP;
    a.media_relayed = flags & F_RELAYED;
    if (flags & F_LAST)
        a.gateways_left = 0;
    if (flags & F_AT_LIMIT)
        g.switch_limit = a.attempts_made;
    if (gw_switch_outcome_is_skip(kind))
        a.attempts_made = 1; /* the skipped one is not counted */
    gw.stop_after_sdp = !(flags & S_SDP_OFF);
    gw.stop_after_invite_timeout = flags & S_INVITE_TIMEOUT_ON;
    g.stop_after_rtp_start = !(flags & S_RTP_OFF);
    g.stop_after_user_busy = !(flags & S_BUSY_OFF);
    g.switch_until_connect = flags & S_UNTIL_CONNECT;
    return gw_switch_decide(&a, &g, &gw);
}

static void test_table(void **state)
{
    (void)state;
    /* gateway with stop codes 403, 404 */
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_stop_code_add(&gw, 403);
    gw_switch_stop_code_add(&gw, 404);
    const struct row rows[] = {
        {R, 503, 0, NEXT, 503, GW_RULE_NEXT},
        {R, 503, F_LAST, STOP, 503, GW_RULE_CHAIN_EXHAUSTED},
        {R, 503, F_AT_LIMIT, STOP, 503, GW_RULE_SWITCH_LIMIT},
        {R, 503, F_CANCELLED | F_LAST, STOP, 487, GW_RULE_CALLER_CANCELLED},
        {R, 404, F_CANCELLED, STOP, 487, GW_RULE_CALLER_CANCELLED},
        {R, 404, 0, STOP, 404, GW_RULE_STOP_CODE},
        {R, 404, S_UNTIL_CONNECT, STOP, 404, GW_RULE_STOP_CODE},
        {R, 404, F_ANSWERED, STOP, 0, GW_RULE_ANSWERED},
        {R, 486, 0, STOP, 486, GW_RULE_USER_BUSY},
        {R, 486, S_BUSY_OFF, NEXT, 486, GW_RULE_NEXT},
        {R, 486, S_BUSY_OFF | F_SDP, STOP, 486, GW_RULE_SDP_RECEIVED},
        {R, 600, S_UNTIL_CONNECT | F_SDP, STOP, 600, GW_RULE_USER_BUSY},
        {R, 480, F_SDP, STOP, 480, GW_RULE_SDP_RECEIVED},
        {R, 480, F_SDP | S_SDP_OFF, NEXT, 480, GW_RULE_NEXT},
        {R, 480, F_SDP | S_UNTIL_CONNECT, NEXT, 480, GW_RULE_NEXT},
        {R, 480, F_SDP | S_UNTIL_CONNECT | F_AT_LIMIT, STOP, 480, GW_RULE_SWITCH_LIMIT},
        {R, 480, F_RTP, NEXT, 480, GW_RULE_NEXT},
        {R, 480, F_RTP | F_RELAYED, STOP, 480, GW_RULE_RTP_STARTED},
        {R, 480, F_RTP | F_RELAYED | S_RTP_OFF, NEXT, 480, GW_RULE_NEXT},
        {R, 480, F_RTP | F_RELAYED | S_UNTIL_CONNECT, NEXT, 480, GW_RULE_NEXT},
        {GW_OUTCOME_INVITE_TIMEOUT, 0, 0, NEXT, 408, GW_RULE_NEXT},
        {GW_OUTCOME_INVITE_TIMEOUT, 0, S_INVITE_TIMEOUT_ON, STOP, 408, GW_RULE_INVITE_TIMEOUT},
        {GW_OUTCOME_INVITE_TIMEOUT, 0, F_LAST, STOP, 408, GW_RULE_CHAIN_EXHAUSTED},
        {GW_OUTCOME_TRYING_TIMEOUT, 0, S_INVITE_TIMEOUT_ON, NEXT, 408, GW_RULE_NEXT},
        {GW_OUTCOME_PROGRESS_TIMEOUT, 0, F_SDP, STOP, 408, GW_RULE_SDP_RECEIVED},
        {GW_OUTCOME_RINGING_TIMEOUT, 0, F_AT_LIMIT, STOP, 408, GW_RULE_SWITCH_LIMIT},
        {GW_OUTCOME_SKIPPED_MAX_CALLS, 0, 0, NEXT, 503, GW_RULE_NEXT},
        {GW_OUTCOME_SKIPPED_MAX_CPS, 0, F_SDP | F_RTP | F_RELAYED, NEXT, 503, GW_RULE_NEXT},
        {GW_OUTCOME_SKIPPED_MAX_CPS, 0, F_LAST, STOP, 503, GW_RULE_CHAIN_EXHAUSTED},
        {GW_OUTCOME_TRANSPORT_ERROR, 0, 0, NEXT, 503, GW_RULE_NEXT},
        {GW_OUTCOME_TRANSPORT_ERROR, 0, F_SDP, STOP, 503, GW_RULE_SDP_RECEIVED},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        gw_switch_decision_t d = decide_flags(r->outcome, r->code, r->flags, &gw);
        if (d.action != r->action || d.caller_code != r->caller_code || d.rule != r->rule)
            fail_msg("row %zu (%s %d, flags 0x%x): got %d %d %s, expected %d %d %s", i,
                     gw_switch_outcome_name(r->outcome), r->code, r->flags, d.action, d.caller_code,
                     gw_switch_rule_name(d.rule), r->action, r->caller_code, gw_switch_rule_name(r->rule));
    }
}

/* ---- every combination, against the spec as a list of rules ----------- */

/* One fact set, as the spec's sentences speak of it. */
struct facts {
    gw_switch_outcome_t outcome;
    int code;
    unsigned flags;
    bool in_stop_codes;
};

static bool f(const struct facts *x, unsigned flag) { return (x->flags & flag) != 0; }
static bool timed_out(const struct facts *x)
{
    return x->outcome == GW_OUTCOME_INVITE_TIMEOUT || x->outcome == GW_OUTCOME_TRYING_TIMEOUT ||
           x->outcome == GW_OUTCOME_PROGRESS_TIMEOUT || x->outcome == GW_OUTCOME_RINGING_TIMEOUT;
}
static bool skipped(const struct facts *x)
{
    return x->outcome == GW_OUTCOME_SKIPPED_MAX_CALLS || x->outcome == GW_OUTCOME_SKIPPED_MAX_CPS;
}
/* "the last attempt's code (408 if it timed out)"; skips and transport errors are 503 */
static int attempt_code(const struct facts *x)
{
    if (timed_out(x))
        return 408;
    if (x->outcome != GW_OUTCOME_RESPONSE)
        return 503;
    return x->code;
}

static bool spec1(const struct facts *x) { return f(x, F_CANCELLED); }
static bool spec2(const struct facts *x) { return f(x, F_ANSWERED); }
static bool spec3(const struct facts *x) { return x->outcome == GW_OUTCOME_RESPONSE && x->in_stop_codes; }
static bool spec4(const struct facts *x)
{
    return x->outcome == GW_OUTCOME_RESPONSE && (x->code == 486 || x->code == 600) && !f(x, S_BUSY_OFF);
}
static bool spec5_sdp(const struct facts *x)
{
    return !skipped(x) && !f(x, S_UNTIL_CONNECT) && f(x, F_SDP) && !f(x, S_SDP_OFF);
}
static bool spec5_rtp(const struct facts *x)
{
    return !skipped(x) && !f(x, S_UNTIL_CONNECT) && f(x, F_RTP) && f(x, F_RELAYED) && !f(x, S_RTP_OFF);
}
static bool spec6(const struct facts *x)
{
    return x->outcome == GW_OUTCOME_INVITE_TIMEOUT && f(x, S_INVITE_TIMEOUT_ON);
}
static bool spec7_exhausted(const struct facts *x) { return f(x, F_LAST); }
static bool spec7_limit(const struct facts *x) { return f(x, F_AT_LIMIT) && !skipped(x); }
static bool spec8(const struct facts *x) { (void)x; return true; }

static int code_487(const struct facts *x) { (void)x; return 487; }
static int code_none(const struct facts *x) { (void)x; return 0; }
static int code_408(const struct facts *x) { (void)x; return 408; }

static const struct spec_rule {
    bool (*applies)(const struct facts *);
    gw_switch_action_t action;
    int (*code)(const struct facts *);
    gw_switch_rule_t rule;
} spec[] = {
    {spec1, STOP, code_487, GW_RULE_CALLER_CANCELLED},
    {spec2, STOP, code_none, GW_RULE_ANSWERED},
    {spec3, STOP, attempt_code, GW_RULE_STOP_CODE},
    {spec4, STOP, attempt_code, GW_RULE_USER_BUSY},
    {spec5_sdp, STOP, attempt_code, GW_RULE_SDP_RECEIVED},
    {spec5_rtp, STOP, attempt_code, GW_RULE_RTP_STARTED},
    {spec6, STOP, code_408, GW_RULE_INVITE_TIMEOUT},
    {spec7_exhausted, STOP, attempt_code, GW_RULE_CHAIN_EXHAUSTED},
    {spec7_limit, STOP, attempt_code, GW_RULE_SWITCH_LIMIT},
    {spec8, NEXT, attempt_code, GW_RULE_NEXT},
};

static void test_every_combination_follows_the_spec(void **state)
{
    (void)state;
    gw_switch_gateway_settings_t gw = vos_gateway();
    gw_switch_stop_code_add(&gw, 404);
    gw_switch_stop_code_add(&gw, 486);
    const struct {
        gw_switch_outcome_t outcome;
        int code;
    } outcomes[] = {
        {R, 404}, {R, 486}, {R, 600}, {R, 503}, {R, 480}, {GW_OUTCOME_INVITE_TIMEOUT, 0},
        {GW_OUTCOME_TRYING_TIMEOUT, 0}, {GW_OUTCOME_PROGRESS_TIMEOUT, 0}, {GW_OUTCOME_RINGING_TIMEOUT, 0},
        {GW_OUTCOME_SKIPPED_MAX_CALLS, 0}, {GW_OUTCOME_SKIPPED_MAX_CPS, 0}, {GW_OUTCOME_TRANSPORT_ERROR, 0},
    };
    const unsigned all_flags[] = {F_CANCELLED, F_ANSWERED, F_SDP, F_RTP, F_RELAYED, F_LAST, F_AT_LIMIT,
                                  S_SDP_OFF, S_INVITE_TIMEOUT_ON, S_RTP_OFF, S_BUSY_OFF, S_UNTIL_CONNECT};
    const size_t n_flags = sizeof all_flags / sizeof all_flags[0];
    size_t checked = 0, stops = 0;
    for (size_t o = 0; o < sizeof outcomes / sizeof outcomes[0]; o++) {
        for (unsigned combo = 0; combo < (1u << n_flags); combo++) {
            unsigned flags = 0;
            for (size_t b = 0; b < n_flags; b++)
                if (combo & (1u << b))
                    flags |= all_flags[b];
            struct facts x = {.outcome = outcomes[o].outcome, .code = outcomes[o].code, .flags = flags};
            x.in_stop_codes = gw_switch_is_stop_code(&gw, x.code);
            const struct spec_rule *want = NULL;
            for (size_t r = 0; !want; r++)
                if (spec[r].applies(&x))
                    want = &spec[r];
            gw_switch_decision_t d = decide_flags(x.outcome, x.code, flags, &gw);
            if (d.action != want->action || d.caller_code != want->code(&x) || d.rule != want->rule)
                fail_msg("%s %d, flags 0x%x: got %s %d (%s), the spec says %s %d (%s)",
                         gw_switch_outcome_name(x.outcome), x.code, flags,
                         d.action == NEXT ? "NEXT" : "STOP", d.caller_code, gw_switch_rule_name(d.rule),
                         want->action == NEXT ? "NEXT" : "STOP", want->code(&x), gw_switch_rule_name(want->rule));
            /* invariants the engine relies on */
            assert_true((d.action == NEXT) == (d.rule == GW_RULE_NEXT));
            assert_true(d.caller_code == 0 || (d.caller_code >= 300 && d.caller_code <= 699));
            if (d.action == NEXT)
                assert_false(flags & (F_LAST | F_CANCELLED | F_ANSWERED));
            stops += d.action == STOP;
            checked++;
        }
    }
    assert_int_equal(checked, 12 * 4096);
    assert_true(stops > 0 && stops < checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step1_caller_cancelled_stops_with_487),
        cmocka_unit_test(test_step2_answered_never_switches),
        cmocka_unit_test(test_step3_stop_codes_relay_the_code),
        cmocka_unit_test(test_step3_stop_codes_beat_busy_and_sdp),
        cmocka_unit_test(test_step3_stop_codes_only_match_codes_a_gateway_sent),
        cmocka_unit_test(test_step4_busy_486_and_600),
        cmocka_unit_test(test_step4_busy_beats_early_media),
        cmocka_unit_test(test_step5_sdp_commits_to_the_gateway),
        cmocka_unit_test(test_step5_rtp_only_counts_when_relayed),
        cmocka_unit_test(test_step5_early_media_beats_invite_timeout_and_limit),
        cmocka_unit_test(test_step6_invite_timeout_stops_with_408_when_on),
        cmocka_unit_test(test_step7_switch_limit_counts_the_first_attempt),
        cmocka_unit_test(test_step7_chain_exhausted_relays_the_last_code),
        cmocka_unit_test(test_skipped_gateway_counts_as_503_and_moves_on),
        cmocka_unit_test(test_step8_otherwise_next),
        cmocka_unit_test(test_codes_the_engine_should_not_pass),
        cmocka_unit_test(test_empty_chain),
        cmocka_unit_test(test_script_may_override_only_next),
        cmocka_unit_test(test_rule_and_outcome_names),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_combination_follows_the_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
