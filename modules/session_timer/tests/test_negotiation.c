/* The RFC 4028 decisions of one leg (negotiation.h): the switch as the
 * answerer of an offer (422, no timer, interval, refresher, Require), as the
 * requester (its offer after 422s, the meaning of a 2xx), after a refresh's
 * final answer, and the timer arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "negotiation.h"

static const st_policy_t defaults = {.session_ttl_s = 600, .min_se_s = 90};

static st_offer_t offer(bool supported, uint32_t se, st_refresher_t refresher, uint32_t min_se)
{
    st_offer_t o = {.supported = supported, .has_se = se != 0, .min_se_s = min_se};
    o.se.seconds = se;
    o.se.refresher = refresher;
    return o;
}

static void test_uas_422_when_below_min_se(void **state)
{
    (void)state;
    st_offer_t o = offer(true, 60, ST_REFRESHER_NONE, 0);
    st_uas_decision_t d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.verdict, ST_UAS_REJECT_422);
    assert_int_equal(d.min_se_s, 90);
    /* the 422 says the larger of both minimums */
    o = offer(true, 60, ST_REFRESHER_NONE, 120);
    d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.verdict, ST_UAS_REJECT_422);
    assert_int_equal(d.min_se_s, 120);
    /* a proxy's Session-Expires without the UAC's support is refused too */
    o = offer(false, 30, ST_REFRESHER_NONE, 0);
    assert_int_equal(st_uas_decide(&o, &defaults).verdict, ST_UAS_REJECT_422);
    /* exactly the minimum is fine */
    o = offer(true, 90, ST_REFRESHER_NONE, 0);
    d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.verdict, ST_UAS_ACCEPT);
    assert_int_equal(d.interval_s, 90);
}

static void test_uas_no_timer(void **state)
{
    (void)state;
    st_offer_t o = offer(false, 0, ST_REFRESHER_NONE, 0);
    assert_int_equal(st_uas_decide(&o, &defaults).verdict, ST_UAS_NO_TIMER);
    /* a Min-SE alone asks for nothing */
    o = offer(false, 0, ST_REFRESHER_NONE, 200);
    assert_int_equal(st_uas_decide(&o, &defaults).verdict, ST_UAS_NO_TIMER);
}

static void test_uas_interval(void **state)
{
    (void)state;
    /* larger than our TTL: lowered to it */
    st_offer_t o = offer(true, 1800, ST_REFRESHER_NONE, 0);
    st_uas_decision_t d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.interval_s, 600);
    /* smaller: kept (the answerer never raises it) */
    o = offer(true, 300, ST_REFRESHER_NONE, 0);
    assert_int_equal(st_uas_decide(&o, &defaults).interval_s, 300);
    /* lowered toward the TTL but not below the request's Min-SE */
    o = offer(true, 1800, ST_REFRESHER_NONE, 900);
    assert_int_equal(st_uas_decide(&o, &defaults).interval_s, 900);
    /* "timer" support without Session-Expires: the switch chooses, honouring Min-SE */
    o = offer(true, 0, ST_REFRESHER_NONE, 0);
    d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.verdict, ST_UAS_ACCEPT);
    assert_int_equal(d.interval_s, 600);
    o = offer(true, 0, ST_REFRESHER_NONE, 1000);
    assert_int_equal(st_uas_decide(&o, &defaults).interval_s, 1000);
    /* short test intervals (allow_short_intervals) work the same way */
    const st_policy_t shorter = {.session_ttl_s = 4, .min_se_s = 2};
    o = offer(true, 4, ST_REFRESHER_NONE, 2);
    assert_int_equal(st_uas_decide(&o, &shorter).interval_s, 4);
    o = offer(true, 1, ST_REFRESHER_NONE, 0);
    d = st_uas_decide(&o, &shorter);
    assert_int_equal(d.verdict, ST_UAS_REJECT_422);
    assert_int_equal(d.min_se_s, 2);
}

static void test_uas_refresher_and_require(void **state)
{
    (void)state;
    /* no choice made: the switch refreshes */
    st_offer_t o = offer(true, 600, ST_REFRESHER_NONE, 0);
    st_uas_decision_t d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.refresher, ST_REFRESHER_UAS);
    assert_true(d.require_timer);
    /* the request's choice stands (RFC 4028 9) */
    o = offer(true, 600, ST_REFRESHER_UAC, 0);
    d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.refresher, ST_REFRESHER_UAC);
    assert_true(d.require_timer);
    o = offer(true, 600, ST_REFRESHER_UAS, 0);
    assert_int_equal(st_uas_decide(&o, &defaults).refresher, ST_REFRESHER_UAS);
    /* a sender without "timer" cannot refresh: the switch does, and no Require */
    o = offer(false, 600, ST_REFRESHER_UAC, 0);
    d = st_uas_decide(&o, &defaults);
    assert_int_equal(d.verdict, ST_UAS_ACCEPT);
    assert_int_equal(d.refresher, ST_REFRESHER_UAS);
    assert_false(d.require_timer);
}

static void test_uac_offer_after_422(void **state)
{
    (void)state;
    assert_int_equal(st_uac_offer_interval(&defaults, 0), 600);
    assert_int_equal(st_uac_offer_min_se(&defaults, 0), 90);
    assert_int_equal(st_uac_offer_interval(&defaults, 1200), 1200);
    assert_int_equal(st_uac_offer_min_se(&defaults, 1200), 1200);
    assert_int_equal(st_uac_offer_interval(&defaults, 300), 600); /* already above it */
    assert_int_equal(st_uac_offer_min_se(&defaults, 300), 300);
}

static void test_uac_answer(void **state)
{
    (void)state;
    st_offer_t a = offer(true, 600, ST_REFRESHER_UAC, 0);
    st_uac_result_t r = st_uac_answer(&a);
    assert_true(r.timer);
    assert_int_equal(r.interval_s, 600);
    assert_true(r.switch_refreshes);
    a = offer(true, 300, ST_REFRESHER_UAS, 0);
    r = st_uac_answer(&a);
    assert_true(r.timer);
    assert_int_equal(r.interval_s, 300);
    assert_false(r.switch_refreshes); /* the gateway refreshes: the switch watches */
    a = offer(true, 300, ST_REFRESHER_NONE, 0);
    assert_true(st_uac_answer(&a).switch_refreshes);
    /* no Session-Expires in the 2xx: no timer on that leg, "timer" or not */
    a = offer(true, 0, ST_REFRESHER_NONE, 0);
    assert_false(st_uac_answer(&a).timer);
    a = offer(false, 0, ST_REFRESHER_NONE, 0);
    assert_false(st_uac_answer(&a).timer);
}

static void test_refresh_actions(void **state)
{
    (void)state;
    assert_int_equal(st_refresh_action(200, true, true), ST_REFRESH_OK);
    assert_int_equal(st_refresh_action(202, true, false), ST_REFRESH_OK);
    assert_int_equal(st_refresh_action(501, true, true), ST_REFRESH_USE_INVITE);
    assert_int_equal(st_refresh_action(405, true, true), ST_REFRESH_USE_INVITE);
    assert_int_equal(st_refresh_action(501, true, false), ST_REFRESH_RETRY); /* a re-INVITE has no fallback */
    assert_int_equal(st_refresh_action(422, true, true), ST_REFRESH_RAISE_INTERVAL);
    assert_int_equal(st_refresh_action(408, true, true), ST_REFRESH_FATAL);
    assert_int_equal(st_refresh_action(481, true, false), ST_REFRESH_FATAL);
    assert_int_equal(st_refresh_action(408, false, true), ST_REFRESH_FATAL); /* no answer at all */
    assert_int_equal(st_refresh_action(503, false, false), ST_REFRESH_FATAL); /* could not be sent */
    assert_int_equal(st_refresh_action(503, true, false), ST_REFRESH_RETRY);  /* the peer's 503 */
    assert_int_equal(st_refresh_action(491, true, false), ST_REFRESH_RETRY);
    assert_int_equal(st_refresh_action(488, true, false), ST_REFRESH_RETRY);
    assert_int_equal(st_refresh_action(603, true, true), ST_REFRESH_RETRY);
}

static void test_timer_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(st_refresh_period_ms(600, 2), 300000);
    assert_int_equal(st_refresh_period_ms(600, 10), 60000);
    assert_int_equal(st_refresh_period_ms(90, 4), 22500);
    assert_int_equal(st_refresh_period_ms(2, 2), 1000);
    assert_int_equal(st_refresh_period_ms(1, 10), 100);
    assert_int_equal(st_refresh_period_ms(600, 0), 300000); /* never divides by zero */
    /* RFC 4028 10: the interval minus min(32 s, a third) */
    assert_int_equal(st_expiry_margin_deadline_ms(1800), 1800000 - 32000);
    assert_int_equal(st_expiry_margin_deadline_ms(90), 60000);
    assert_int_equal(st_expiry_margin_deadline_ms(3), 2000);
    assert_true(st_expiry_margin_deadline_ms(1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uas_422_when_below_min_se),
        cmocka_unit_test(test_uas_no_timer),
        cmocka_unit_test(test_uas_interval),
        cmocka_unit_test(test_uas_refresher_and_require),
        cmocka_unit_test(test_uac_offer_after_422),
        cmocka_unit_test(test_uac_answer),
        cmocka_unit_test(test_refresh_actions),
        cmocka_unit_test(test_timer_arithmetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
