/*
 * The keep-alive wheel: when each NAT device gets its heartbeat.
 *
 * The period is cut into slots (10 ms each, at most 65,536 of them). Every
 * device is placed in one slot when it is added and stays there until it
 * is removed, so it is visited once per period, one period after its last
 * visit. A turn of the wheel (ka_sched_run) visits every slot whose time
 * has come since the previous turn, whatever the number of turns: the
 * clock, not a count of ticks, decides, so a late or skipped turn delays
 * devices but never drops one, and a turn costs the devices it visits, not
 * the devices it holds.
 *
 * Placement keeps the slots even: a new device goes into a slot with the
 * fewest devices (found in O(1) through lists of slots by load), slots
 * left emptier by removals first, and the empty slots of a young wheel in
 * an order that spreads a few devices across the whole period. So no slot
 * ever holds more than ceil(largest device count / slots) devices, and add
 * and remove are O(1).
 *
 * Pure C (no module API), unit-tested in tests/test_schedule.c. Device ids
 * are small integers chosen by the caller (devices.h hands them out).
 */
#ifndef NAT_KEEPALIVE_SCHEDULE_H
#define NAT_KEEPALIVE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KA_NONE UINT32_MAX

/* The slots' length: shorter gains nothing, the loop's timers are in ms. */
#define KA_SLOT_MS 10u
#define KA_MAX_SLOTS 65536u

typedef struct ka_sched ka_sched_t;

/* What one turn did. */
typedef struct ka_run_report {
    size_t visited;      /* devices handed to the visitor */
    size_t late;         /* of those, visited more than late_ms after their slot came due */
    size_t slots;        /* slots visited */
    size_t skipped;      /* slots not visited because the wheel fell more than a period behind
                            (each was visited once, late, instead of twice) */
    bool pass_ended;     /* slot 0 came round again: ka_sched_last_pass() has a new pass */
} ka_run_report_t;

/* The last complete pass (slot 0 to slot 0). */
typedef struct ka_pass {
    uint64_t visits;     /* devices visited in it */
    uint64_t duration_ms;/* from visiting its slot 0 to visiting the next one: the period when on time */
    uint64_t count;      /* passes completed since the wheel was made */
} ka_pass_t;

/* A wheel of period_ms (>= 1). NULL when out of memory. */
ka_sched_t *ka_sched_new(uint64_t period_ms);
void ka_sched_free(ka_sched_t *s);

uint64_t ka_sched_period_ms(const ka_sched_t *s);
uint32_t ka_sched_slots(const ka_sched_t *s);
/* One slot's length in ms (rounded down, at least 1). */
uint32_t ka_sched_slot_ms(const ka_sched_t *s);
size_t ka_sched_count(const ka_sched_t *s);
/* The most devices any slot holds: a turn's work per slot. */
uint32_t ka_sched_max_load(const ka_sched_t *s);

/* Places device `id` (not in the wheel) in a least loaded slot. Returns
 * the slot, or KA_NONE when out of memory or id is KA_NONE. */
uint32_t ka_sched_add(ka_sched_t *s, uint32_t id);
/* Takes device `id` out of the wheel; nothing when it is not in it. */
void ka_sched_remove(ka_sched_t *s, uint32_t id);
bool ka_sched_contains(const ka_sched_t *s, uint32_t id);
/* The slot of a device in the wheel, KA_NONE otherwise. */
uint32_t ka_sched_slot_of(const ka_sched_t *s, uint32_t id);
/* How many devices a slot holds. */
uint32_t ka_sched_load(const ka_sched_t *s, uint32_t slot);

/* The visitor gets each due device once per turn. It must not add or
 * remove devices (collect them and do it after the turn). */
typedef void (*ka_visit_fn)(void *ud, uint32_t id);

/* Turns the wheel to now_ms: visits every slot whose start has passed
 * since the last turn, in order. The first turn after ka_sched_new() or
 * ka_sched_restart() starts the clock: slot 0 is due at once. When the
 * wheel fell more than one period behind (a stalled loop), each slot is
 * visited once only. */
void ka_sched_run(ka_sched_t *s, uint64_t now_ms, uint64_t late_ms, ka_visit_fn visit, void *ud,
                  ka_run_report_t *report);
/* The next turn starts the clock again (e.g. after the feature was off):
 * slots that came due meanwhile are not caught up. Devices keep their slots. */
void ka_sched_restart(ka_sched_t *s);
/* When the next slot comes due (loop time); 0 before the clock started. */
uint64_t ka_sched_next_due_ms(const ka_sched_t *s);

ka_pass_t ka_sched_last_pass(const ka_sched_t *s);

#endif
