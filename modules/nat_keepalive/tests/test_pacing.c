/* The pace of the keep-alive wheel (pacing.h): the configured pace while
 * it covers the devices; past that a faster one that does (shorter turns
 * first, bigger batches once the turns are one slot long), with headroom
 * so that growth does not raise it at every turn, and back to the
 * configured pace with hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pacing.h"

/* The VOS3000 defaults: 30 s, 500 ms, 3000 -> 180,000 devices a period. */
static const ka_pacing_config_t vos = {.period_ms = 30000, .interval_ms = 500, .batch = 3000, .floor_ms = 10};

static uint64_t serves(const ka_pacing_config_t *c, const ka_pace_t *p)
{
    return c->period_ms / p->interval_ms * p->batch;
}

static void test_configured_pace_while_it_covers(void **state)
{
    (void)state;
    assert_int_equal(ka_pacing_capacity(&vos), 180000);
    for (size_t n = 0; n <= 180000; n += 30000) {
        ka_pace_t p = ka_pacing_for(&vos, n, NULL);
        assert_false(p.raised);
        assert_int_equal(p.interval_ms, 500);
        assert_int_equal(p.batch, 3000);
    }
}

/* VOS3000 would leave 820,000 of a million devices without a heartbeat. */
static void test_a_million_devices_raise_the_turn_rate(void **state)
{
    (void)state;
    ka_pace_t p = ka_pacing_for(&vos, 1000000, NULL);
    assert_true(p.raised);
    assert_true(p.interval_ms < 500);
    assert_true(p.interval_ms >= 10);
    assert_int_equal(p.batch, 3000); /* the batch holds: only the turns come faster */
    assert_true(serves(&vos, &p) >= 1000000 + 1000000 / 4);
    assert_true(ka_pacing_is_raise(NULL, &p));
}

/* Turns cannot be shorter than a slot: past that, batches grow. */
static void test_batch_grows_once_turns_are_one_slot(void **state)
{
    (void)state;
    ka_pacing_config_t c = {.period_ms = 2000, .interval_ms = 500, .batch = 1, .floor_ms = 10};
    ka_pace_t p = ka_pacing_for(&c, 5000, NULL);
    assert_true(p.raised);
    assert_int_equal(p.interval_ms, 10);
    assert_int_equal(p.batch, (5000 + 1250 + 199) / 200); /* 200 turns a period */
    assert_true(serves(&c, &p) >= 5000);
    /* a floor above the configured interval never slows the configured pace */
    ka_pacing_config_t slow_floor = {.period_ms = 2000, .interval_ms = 5, .batch = 1, .floor_ms = 10};
    p = ka_pacing_for(&slow_floor, 5000, NULL);
    assert_true(p.interval_ms <= 5);
    assert_true(serves(&slow_floor, &p) >= 5000);
}

/* Growth within the headroom keeps the raised pace: one raise, not one a turn. */
static void test_headroom_and_hysteresis(void **state)
{
    (void)state;
    ka_pace_t p = ka_pacing_for(&vos, 200000, NULL);
    assert_true(p.raised);
    int raises = 1;
    for (size_t n = 200001; n <= 240000; n += 1000) {
        ka_pace_t next = ka_pacing_for(&vos, n, &p);
        raises += ka_pacing_is_raise(&p, &next);
        p = next;
        assert_true(serves(&vos, &p) >= n);
    }
    assert_int_equal(raises, 1);
    /* past the headroom: raised again, counted again */
    ka_pace_t next = ka_pacing_for(&vos, 400000, &p);
    assert_true(ka_pacing_is_raise(&p, &next));
    assert_true(serves(&vos, &next) >= 400000);
    p = next;
    /* down to 95 % of the configured capacity: stays raised (no flapping) */
    next = ka_pacing_for(&vos, 171000, &p);
    assert_true(next.raised);
    assert_false(ka_pacing_is_raise(&p, &next));
    /* down to 90 %: back to the configured pace */
    next = ka_pacing_for(&vos, 162000, &p);
    assert_false(next.raised);
    assert_int_equal(next.interval_ms, 500);
    assert_int_equal(next.batch, 3000);
    assert_false(ka_pacing_is_raise(&p, &next));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configured_pace_while_it_covers),
        cmocka_unit_test(test_a_million_devices_raise_the_turn_rate),
        cmocka_unit_test(test_batch_grows_once_turns_are_one_slot),
        cmocka_unit_test(test_headroom_and_hysteresis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
