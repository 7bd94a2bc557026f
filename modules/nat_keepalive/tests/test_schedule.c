/* The keep-alive wheel (schedule.h): every device visited exactly once per
 * period, one period after its previous visit, whatever the number of
 * devices and however they come and go; visits spread evenly over the
 * period; a late turn catches up without visiting anyone twice; add and
 * remove keep the slots balanced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

#define MAX_DEVICES 20000
#define MAX_VISITS 64

/* What the visitor saw: each device's visit times. */
typedef struct recorder {
    uint64_t now;
    uint32_t n_visits[MAX_DEVICES];
    uint64_t at[MAX_DEVICES][MAX_VISITS];
    size_t in_turn;
} recorder_t;

static recorder_t *rec;

static void record(void *ud, uint32_t id)
{
    recorder_t *r = ud;
    assert_true(id < MAX_DEVICES);
    if (r->n_visits[id] < MAX_VISITS)
        r->at[id][r->n_visits[id]] = r->now;
    r->n_visits[id]++;
    r->in_turn++;
}

static int setup(void **state)
{
    (void)state;
    rec = calloc(1, sizeof *rec);
    return rec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(rec);
    return 0;
}

/* Turns the wheel every step_ms from `from` to `to` (exclusive). */
static void turn_until(ka_sched_t *s, uint64_t from, uint64_t to, uint64_t step_ms)
{
    for (uint64_t t = from; t < to; t += step_ms) {
        rec->now = t;
        ka_sched_run(s, t, 1000000, record, rec, NULL);
    }
}

/* A small, fixed pseudo-random sequence (xorshift). */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void test_geometry(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(30000);
    assert_int_equal(ka_sched_slots(s), 3000);
    assert_int_equal(ka_sched_slot_ms(s), 10);
    ka_sched_free(s);
    s = ka_sched_new(86400000);
    assert_int_equal(ka_sched_slots(s), KA_MAX_SLOTS);
    ka_sched_free(s);
    s = ka_sched_new(5);
    assert_int_equal(ka_sched_slots(s), 1);
    assert_int_equal(ka_sched_slot_ms(s), 5);
    ka_sched_free(s);
    assert_null(ka_sched_new(0));
}

/* A few devices on a large wheel land about a period / n apart. */
static void test_few_devices_spread_over_the_period(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(2000); /* 200 slots */
    for (uint32_t n = 1; n <= 16; n++) {
        assert_int_not_equal(ka_sched_add(s, n - 1), KA_NONE);
        int used[200] = {0};
        for (uint32_t id = 0; id < n; id++)
            used[ka_sched_slot_of(s, id)] = 1;
        /* the largest gap between occupied slots, around the circle */
        int first = -1, last = -1, widest = 0;
        for (int i = 0; i < 200; i++) {
            if (!used[i])
                continue;
            if (last >= 0 && i - last > widest)
                widest = i - last;
            if (first < 0)
                first = i;
            last = i;
        }
        if (200 - last + first > widest)
            widest = 200 - last + first;
        /* at most twice the even gap */
        assert_true(widest <= 2 * (200 + (int)n - 1) / (int)n);
    }
    ka_sched_free(s);
}

/* Every device exactly once per period, exactly one period apart, the
 * turns carrying equal shares. */
static void test_each_device_once_per_period_evenly(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(2000);
    const uint32_t n = 5000;
    for (uint32_t id = 0; id < n; id++)
        assert_int_not_equal(ka_sched_add(s, id), KA_NONE);
    assert_int_equal(ka_sched_count(s), n);
    assert_int_equal(ka_sched_max_load(s), 25); /* 5000 / 200 slots */
    /* turns every 100 ms for 3 periods: each carries 1/20 of the devices */
    for (uint64_t t = 0; t < 6000; t += 100) {
        rec->now = t;
        rec->in_turn = 0;
        ka_sched_run(s, t, 1000000, record, rec, NULL);
        size_t expected = t == 0 ? 25 : 250; /* the first turn starts the clock: slot 0 only */
        assert_int_equal(rec->in_turn, expected);
    }
    for (uint32_t id = 0; id < n; id++) {
        assert_true(rec->n_visits[id] == 3 || rec->n_visits[id] == 2);
        for (uint32_t v = 1; v < rec->n_visits[id]; v++)
            assert_int_equal(rec->at[id][v] - rec->at[id][v - 1], 2000);
    }
    ka_pass_t p = ka_sched_last_pass(s);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.visits, n);
    assert_int_equal(p.duration_ms, 2000);
    ka_sched_free(s);
}

/* Devices come and go at every turn: each one present keeps its slot and
 * is visited one period after its previous visit; a new one gets its
 * first visit within a period; the slots stay balanced. */
static void test_churn_starves_nobody(void **state)
{
    (void)state;
    const uint64_t period = 1000; /* 100 slots */
    ka_sched_t *s = ka_sched_new(period);
    uint64_t added_at[MAX_DEVICES];
    uint32_t present[MAX_DEVICES];
    uint32_t n_present = 0, next_id = 0;
    for (; next_id < 2000; next_id++) {
        assert_int_not_equal(ka_sched_add(s, next_id), KA_NONE);
        added_at[next_id] = 0;
        present[n_present++] = next_id;
    }
    uint32_t rnd = 12345;
    size_t peak = n_present;
    for (uint64_t t = 0; t < 20 * period; t += 10) {
        rec->now = t;
        ka_sched_run(s, t, 1000000, record, rec, NULL);
        /* remove 0-9 and add 0-9 devices between turns */
        uint32_t removals = next_random(&rnd) % 10, adds = next_random(&rnd) % 10;
        for (uint32_t k = 0; k < removals && n_present > 0; k++) {
            uint32_t at = next_random(&rnd) % n_present;
            uint32_t id = present[at];
            uint64_t lived = t - added_at[id];
            /* visited once per slot occurrence while present */
            assert_true(rec->n_visits[id] + 1 >= lived / period);
            assert_true(rec->n_visits[id] <= lived / period + 1);
            ka_sched_remove(s, id);
            assert_false(ka_sched_contains(s, id));
            present[at] = present[--n_present];
        }
        for (uint32_t k = 0; k < adds && next_id < MAX_DEVICES; k++, next_id++) {
            assert_int_not_equal(ka_sched_add(s, next_id), KA_NONE);
            added_at[next_id] = t;
            present[n_present++] = next_id;
        }
        if (n_present > peak)
            peak = n_present;
        /* no slot holds more than the largest population ever spread evenly */
        assert_true(ka_sched_max_load(s) <= (peak + 99) / 100);
    }
    for (uint32_t i = 0; i < n_present; i++) {
        uint32_t id = present[i];
        /* first visit within one period of its arrival */
        if (20 * period - added_at[id] > period + 10) {
            assert_true(rec->n_visits[id] >= 1);
            assert_true(rec->at[id][0] - added_at[id] <= period);
        }
        for (uint32_t v = 1; v < rec->n_visits[id] && v < MAX_VISITS; v++)
            assert_int_equal(rec->at[id][v] - rec->at[id][v - 1], period);
    }
    assert_int_equal(ka_sched_count(s), n_present);
    ka_sched_free(s);
}

/* Removing and adding back refills the holes first: balance is restored. */
static void test_holes_refilled_first(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(3000); /* 300 slots */
    for (uint32_t id = 0; id < 1000; id++)
        ka_sched_add(s, id);
    assert_int_equal(ka_sched_max_load(s), 4); /* ceil(1000 / 300) */
    uint32_t rnd = 99;
    for (int round = 0; round < 50; round++) {
        uint32_t victims[20];
        for (int k = 0; k < 20; k++) {
            do
                victims[k] = next_random(&rnd) % 1000;
            while (!ka_sched_contains(s, victims[k]));
            ka_sched_remove(s, victims[k]);
        }
        for (int k = 0; k < 20; k++)
            assert_int_not_equal(ka_sched_add(s, victims[k]), KA_NONE);
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint32_t slot = 0; slot < 300; slot++) {
            uint32_t load = ka_sched_load(s, slot);
            lo = load < lo ? load : lo;
            hi = load > hi ? load : hi;
        }
        assert_true(hi - lo <= 1);
        assert_int_equal(ka_sched_max_load(s), hi);
    }
    /* removing everything empties it, adding again works */
    for (uint32_t id = 0; id < 1000; id++)
        ka_sched_remove(s, id);
    assert_int_equal(ka_sched_count(s), 0);
    assert_int_equal(ka_sched_max_load(s), 0);
    assert_int_not_equal(ka_sched_add(s, 7), KA_NONE);
    assert_int_equal(ka_sched_add(s, 7), KA_NONE); /* already in */
    ka_sched_remove(s, 12345);                      /* never added: nothing */
    assert_int_equal(ka_sched_count(s), 1);
    ka_sched_free(s);
}

/* A turn that comes late serves the slots it missed, counted late; a loop
 * stalled for more than a period serves everyone once, not twice. */
static void test_late_turns_catch_up_once(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(1000); /* 100 slots */
    for (uint32_t id = 0; id < 100; id++)
        ka_sched_add(s, id);
    ka_run_report_t r;
    rec->now = 0;
    ka_sched_run(s, 0, 50, record, rec, &r);
    assert_int_equal(r.visited, 1);
    rec->now = 500; /* slots 1..50 due, 10..490 ms ago */
    ka_sched_run(s, 500, 50, record, rec, &r);
    assert_int_equal(r.visited, 50);
    assert_int_equal(r.slots, 50);
    assert_int_equal(r.late, 44); /* due at 10..440 ms: more than 50 ms ago */
    assert_int_equal(ka_sched_next_due_ms(s), 510);
    /* stalled for 4.5 periods: each device once */
    memset(rec->n_visits, 0, sizeof rec->n_visits);
    rec->now = 5000;
    ka_sched_run(s, 5000, 50, record, rec, &r);
    assert_int_equal(r.visited, 100);
    assert_true(r.skipped > 0);
    for (uint32_t id = 0; id < 100; id++)
        assert_int_equal(rec->n_visits[id], 1);
    /* and then on time again */
    memset(rec->n_visits, 0, sizeof rec->n_visits);
    turn_until(s, 5010, 6010, 10);
    for (uint32_t id = 0; id < 100; id++)
        assert_int_equal(rec->n_visits[id], 1);
    ka_sched_free(s);
}

/* After a restart the clock starts again at the next turn: the time the
 * wheel stood still is not caught up. */
static void test_restart_does_not_catch_up(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(1000);
    for (uint32_t id = 0; id < 100; id++)
        ka_sched_add(s, id);
    turn_until(s, 0, 300, 10);
    ka_sched_restart(s);
    assert_int_equal(ka_sched_next_due_ms(s), 0);
    ka_run_report_t r;
    ka_sched_run(s, 10000, 50, record, rec, &r);
    assert_int_equal(r.visited, 1); /* slot 0 only */
    assert_int_equal(r.late, 0);
    ka_sched_free(s);
}

/* Turn frequency does not change who is served: coarse and irregular
 * turns serve the same devices as turns at every slot. */
static void test_irregular_turns_serve_everyone(void **state)
{
    (void)state;
    ka_sched_t *s = ka_sched_new(2000);
    for (uint32_t id = 0; id < 3000; id++)
        ka_sched_add(s, id);
    uint32_t rnd = 7;
    uint64_t t = 0;
    while (t < 2000 * 5) {
        rec->now = t;
        ka_sched_run(s, t, 1000000, record, rec, NULL);
        t += 1 + next_random(&rnd) % 300;
    }
    /* 5 periods: 5 visits (a device whose slot falls after the last turn: 4) */
    for (uint32_t id = 0; id < 3000; id++)
        assert_true(rec->n_visits[id] == 5 || rec->n_visits[id] == 4);
    ka_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test_setup_teardown(test_few_devices_spread_over_the_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_device_once_per_period_evenly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_churn_starves_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holes_refilled_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_turns_catch_up_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_does_not_catch_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irregular_turns_serve_everyone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
