/* OPTIONS mode (liveness.h): a ping unanswered for a period or failed is
 * one miss, counted once; any answer clears the count; max_missed in a row
 * drops the device; a re-registration clears the count too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "liveness.h"

static void test_answered_pings_keep_the_device(void **state)
{
    (void)state;
    ka_device_t d = {0};
    for (int i = 0; i < 10; i++) {
        ka_slot_step_t s = ka_liveness_on_slot(&d, 3);
        assert_false(s.missed);
        assert_false(s.drop);
        assert_true(d.ping_pending);
        assert_int_equal(ka_liveness_on_answer(&d, s.seq, true, 3), KA_ANSWER_ALIVE);
        assert_false(d.ping_pending);
        assert_int_equal(d.missed, 0);
    }
}

/* No answer within a period: counted at the next slot; the core's 408 for
 * that ping, arriving later, is not counted again. */
static void test_silence_drops_after_max_missed(void **state)
{
    (void)state;
    ka_device_t d = {0};
    ka_slot_step_t first = ka_liveness_on_slot(&d, 3);
    ka_slot_step_t s = ka_liveness_on_slot(&d, 3); /* miss 1 */
    assert_true(s.missed);
    assert_false(s.drop);
    assert_int_equal(ka_liveness_on_answer(&d, first.seq, false, 3), KA_ANSWER_STALE);
    assert_int_equal(d.missed, 1);
    s = ka_liveness_on_slot(&d, 3); /* miss 2 */
    assert_true(s.missed && !s.drop);
    s = ka_liveness_on_slot(&d, 3); /* miss 3: dropped, nothing sent */
    assert_true(s.missed);
    assert_true(s.drop);
    assert_int_equal(d.missed, 3);
}

/* A failure reported before the next slot (503: could not be sent; 408
 * with a period longer than timer F) counts at once, and only once. */
static void test_failures_count_once(void **state)
{
    (void)state;
    ka_device_t d = {0};
    ka_slot_step_t s = ka_liveness_on_slot(&d, 2);
    assert_int_equal(ka_liveness_on_answer(&d, s.seq, false, 2), KA_ANSWER_MISSED);
    assert_int_equal(ka_liveness_on_answer(&d, s.seq, false, 2), KA_ANSWER_STALE);
    s = ka_liveness_on_slot(&d, 2);
    assert_false(s.missed); /* already counted */
    assert_false(s.drop);
    assert_int_equal(ka_liveness_on_answer(&d, s.seq, false, 2), KA_ANSWER_DROP);
}

/* One answer in between starts the count again; so does a late answer to
 * an older ping, and a re-registration. */
static void test_any_sign_of_life_clears_the_count(void **state)
{
    (void)state;
    ka_device_t d = {0};
    ka_slot_step_t old = ka_liveness_on_slot(&d, 3);
    ka_liveness_on_slot(&d, 3); /* miss 1 */
    ka_slot_step_t s = ka_liveness_on_slot(&d, 3); /* miss 2 */
    assert_int_equal(d.missed, 2);
    assert_int_equal(ka_liveness_on_answer(&d, old.seq, true, 3), KA_ANSWER_ALIVE); /* late, but alive */
    assert_int_equal(d.missed, 0);
    assert_true(d.ping_pending); /* the latest ping still waits */
    assert_int_equal(ka_liveness_on_answer(&d, s.seq, true, 3), KA_ANSWER_ALIVE);
    ka_liveness_on_slot(&d, 3);
    ka_liveness_on_slot(&d, 3);
    assert_int_equal(d.missed, 1);
    ka_liveness_on_refresh(&d);
    assert_int_equal(d.missed, 0);
    /* sequence numbers wrap without confusing old and new */
    for (int i = 0; i < 600; i++) {
        s = ka_liveness_on_slot(&d, 3);
        assert_int_equal(ka_liveness_on_answer(&d, s.seq, true, 3), KA_ANSWER_ALIVE);
    }
    assert_int_equal(d.missed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered_pings_keep_the_device),
        cmocka_unit_test(test_silence_drops_after_max_missed),
        cmocka_unit_test(test_failures_count_once),
        cmocka_unit_test(test_any_sign_of_life_clears_the_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
