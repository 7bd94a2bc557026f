/* Per-gateway admission (max_calls, max_cps over sliding 1-s windows, with
 * the clock injected) and the counters behind /metrics and the ASR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gateway_limits.h"

static void test_unlimited_by_default(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 0, 0), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 5), GW_ADMIT_OK);
    assert_int_equal(gw.current_calls, 100000);
    assert_int_equal(gw.counters.attempts, 100000);
    assert_int_equal(gw_limits_skipped_at_limit(&gw), 0);
    gw_limits_destroy(&gw);
}

static void test_max_calls_reached_and_released(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 3, 0), 0);
    uint64_t now = 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, now++), GW_ADMIT_OK);
    assert_int_equal(gw.current_calls, 3);
    /* full: refused whatever the time, and the refusal takes nothing */
    assert_int_equal(gw_limits_try_acquire(&gw, now), GW_ADMIT_AT_MAX_CALLS);
    assert_int_equal(gw_limits_try_acquire(&gw, now + 60000), GW_ADMIT_AT_MAX_CALLS);
    assert_int_equal(gw.current_calls, 3);
    assert_int_equal(gw.counters.attempts, 3);
    assert_int_equal(gw.counters.skipped_at_max_calls, 2);
    /* one call ends: one more fits, and only one */
    gw_limits_release(&gw);
    assert_int_equal(gw.current_calls, 2);
    assert_int_equal(gw_limits_try_acquire(&gw, now), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, now), GW_ADMIT_AT_MAX_CALLS);
    /* releasing everything, and once too often, never wraps */
    for (int i = 0; i < 5; i++)
        gw_limits_release(&gw);
    assert_int_equal(gw.current_calls, 0);
    gw_limits_destroy(&gw);
}

static void test_max_cps_over_sliding_windows(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 0, 3), 0);
    /* 3 in the first instant, the 4th refused until 1 s after the first */
    assert_int_equal(gw_limits_try_acquire(&gw, 10000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 10000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 10500), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 10500), GW_ADMIT_AT_MAX_CPS);
    assert_int_equal(gw_limits_try_acquire(&gw, 10999), GW_ADMIT_AT_MAX_CPS);
    /* at 11000 the two from 10000 have left the window (10000, 11000] */
    assert_int_equal(gw_limits_try_acquire(&gw, 11000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 11000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 11000), GW_ADMIT_AT_MAX_CPS);
    /* the one from 10500 leaves at 11500 */
    assert_int_equal(gw_limits_try_acquire(&gw, 11499), GW_ADMIT_AT_MAX_CPS);
    assert_int_equal(gw_limits_try_acquire(&gw, 11500), GW_ADMIT_OK);
    assert_int_equal(gw.counters.attempts, 6);
    assert_int_equal(gw.counters.skipped_at_max_cps, 4);
    assert_int_equal(gw.counters.skipped_at_max_calls, 0);
    /* a long pause: a whole burst again */
    for (int i = 0; i < 3; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 60000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 60000), GW_ADMIT_AT_MAX_CPS);
    gw_limits_destroy(&gw);
}

/* Whatever the arrival pattern, no 1-s window ever holds more than max_cps
 * admissions, and a steady rate at max_cps is never refused. */
static void test_max_cps_is_never_exceeded_in_any_window(void **state)
{
    (void)state;
    enum { MAX_CPS = 10, SPAN_MS = 20000 };
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 0, MAX_CPS), 0);
    static uint64_t admitted[SPAN_MS];
    size_t n = 0;
    uint32_t seed = 12345;
    for (uint64_t t = 0; t < SPAN_MS; t++) {
        seed = seed * 1103515245u + 12345u;
        unsigned offered = (seed >> 16) % 4 == 0 ? (seed >> 8) % 5 : 0; /* bursty */
        for (unsigned k = 0; k < offered; k++)
            if (gw_limits_try_acquire(&gw, t) == GW_ADMIT_OK)
                admitted[n++] = t;
    }
    assert_true(n > MAX_CPS * 10);
    for (size_t i = 0; i + MAX_CPS < n; i++)
        if (admitted[i + MAX_CPS] - admitted[i] < 1000)
            fail_msg("%d admissions within 1 s starting at %llu", MAX_CPS + 1, (unsigned long long)admitted[i]);
    gw_limits_destroy(&gw);

    /* exactly max_cps per second, evenly spaced: all admitted */
    assert_int_equal(gw_limits_init(&gw, 0, MAX_CPS), 0);
    for (uint64_t t = 0; t < 10000; t += 1000 / MAX_CPS)
        assert_int_equal(gw_limits_try_acquire(&gw, t), GW_ADMIT_OK);
    gw_limits_destroy(&gw);
}

static void test_max_calls_is_checked_before_max_cps(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 1, 2), 0);
    assert_int_equal(gw_limits_try_acquire(&gw, 0), GW_ADMIT_OK);
    /* at max_calls: refused without spending a place in the second */
    assert_int_equal(gw_limits_try_acquire(&gw, 1), GW_ADMIT_AT_MAX_CALLS);
    assert_int_equal(gw_limits_try_acquire(&gw, 2), GW_ADMIT_AT_MAX_CALLS);
    gw_limits_release(&gw);
    assert_int_equal(gw_limits_try_acquire(&gw, 3), GW_ADMIT_OK);
    gw_limits_release(&gw);
    assert_int_equal(gw_limits_try_acquire(&gw, 4), GW_ADMIT_AT_MAX_CPS); /* 0 and 3 in this second */
    assert_int_equal(gw.current_calls, 0);                                  /* nothing taken */
    gw_limits_destroy(&gw);
}

static void test_clock_stepping_back_does_not_open_the_window(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 0, 2), 0);
    assert_int_equal(gw_limits_try_acquire(&gw, 5000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 5000), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 100), GW_ADMIT_AT_MAX_CPS);
    assert_int_equal(gw_limits_try_acquire(&gw, 6000), GW_ADMIT_OK);
    gw_limits_destroy(&gw);
}

static void test_reload_changes_limits_and_keeps_history(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 2, 5), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 100), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 100), GW_ADMIT_AT_MAX_CALLS);

    /* lower max_cps below what was just admitted: no burst past the new one */
    assert_int_equal(gw_limits_configure(&gw, 10, 1), 0);
    assert_int_equal(gw.current_calls, 2);
    assert_int_equal(gw_limits_try_acquire(&gw, 500), GW_ADMIT_AT_MAX_CPS);
    assert_int_equal(gw_limits_try_acquire(&gw, 1100), GW_ADMIT_OK);

    /* raise it: the recent admission is still counted */
    assert_int_equal(gw_limits_configure(&gw, 10, 2), 0);
    assert_int_equal(gw_limits_try_acquire(&gw, 1200), GW_ADMIT_OK);
    assert_int_equal(gw_limits_try_acquire(&gw, 1300), GW_ADMIT_AT_MAX_CPS);

    /* lower max_calls under the calls in progress: they go on, new ones wait */
    assert_int_equal(gw.current_calls, 4);
    assert_int_equal(gw_limits_configure(&gw, 3, 0), 0);
    assert_int_equal(gw_limits_try_acquire(&gw, 9000), GW_ADMIT_AT_MAX_CALLS);
    gw_limits_release(&gw);
    gw_limits_release(&gw);
    assert_int_equal(gw_limits_try_acquire(&gw, 9000), GW_ADMIT_OK);
    /* max_cps 0: unlimited again */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gw_limits_try_acquire(&gw, 9000), GW_ADMIT_AT_MAX_CALLS);
    }
    assert_int_equal(gw_limits_configure(&gw, 0, 0), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 9000), GW_ADMIT_OK);
    /* counters survived every reload */
    assert_int_equal(gw.counters.attempts, 2 + 1 + 1 + 1 + 100);
    gw_limits_destroy(&gw);
}

static void test_counters_and_asr(void **state)
{
    (void)state;
    gw_limits_t gw;
    assert_int_equal(gw_limits_init(&gw, 0, 0), 0);
    assert_true(gw_limits_asr(&gw) == 0.0); /* no attempts: no division by zero */

    for (int i = 0; i < 8; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 0), GW_ADMIT_OK);
    gw_limits_record_answered(&gw);
    gw_limits_record_answered(&gw);
    gw_limits_record_failure(&gw, 486);
    gw_limits_record_failure(&gw, 503);
    gw_limits_record_failure(&gw, 503);
    gw_limits_record_failure(&gw, 300);
    gw_limits_record_failure(&gw, 699);
    gw_limits_record_failure(&gw, 200); /* a broken peer's "failure" */
    gw_limits_record_timeout(&gw);
    gw_limits_record_transport_error(&gw);
    for (int i = 0; i < 8; i++)
        gw_limits_release(&gw);

    assert_int_equal(gw.counters.attempts, 8);
    assert_int_equal(gw.counters.answered, 2);
    assert_int_equal(gw_limits_failures_with_code(&gw, 486), 1);
    assert_int_equal(gw_limits_failures_with_code(&gw, 503), 2);
    assert_int_equal(gw_limits_failures_with_code(&gw, 300), 1);
    assert_int_equal(gw_limits_failures_with_code(&gw, 699), 1);
    assert_int_equal(gw_limits_failures_with_code(&gw, 404), 0);
    assert_int_equal(gw_limits_failures_with_code(&gw, 200), 0);
    assert_int_equal(gw_limits_failures_with_code(&gw, 700), 0);
    assert_int_equal(gw.counters.failures_other_code, 1);
    assert_int_equal(gw.counters.timeouts, 1);
    assert_int_equal(gw.counters.transport_errors, 1);
    assert_int_equal(gw.current_calls, 0);
    assert_true(gw_limits_asr(&gw) == 0.25);

    /* skips are not attempts: a limit does not lower the ASR */
    assert_int_equal(gw_limits_configure(&gw, 1, 0), 0);
    assert_int_equal(gw_limits_try_acquire(&gw, 0), GW_ADMIT_OK);
    gw_limits_record_answered(&gw);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_limits_try_acquire(&gw, 0), GW_ADMIT_AT_MAX_CALLS);
    assert_int_equal(gw_limits_skipped_at_limit(&gw), 5);
    assert_int_equal(gw.counters.attempts, 9);
    assert_true(gw_limits_asr(&gw) > 0.333 && gw_limits_asr(&gw) < 0.334);
    gw_limits_destroy(&gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited_by_default),
        cmocka_unit_test(test_max_calls_reached_and_released),
        cmocka_unit_test(test_max_cps_over_sliding_windows),
        cmocka_unit_test(test_max_cps_is_never_exceeded_in_any_window),
        cmocka_unit_test(test_max_calls_is_checked_before_max_cps),
        cmocka_unit_test(test_clock_stepping_back_does_not_open_the_window),
        cmocka_unit_test(test_reload_changes_limits_and_keeps_history),
        cmocka_unit_test(test_counters_and_asr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
