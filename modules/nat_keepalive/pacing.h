/*
 * The pace of the keep-alive wheel: how often it turns and how many
 * devices a turn may serve.
 *
 * The operator's pacing (VOS3000: SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL and
 * _SEND_ONE_TIME) serves at most period / interval x batch devices a
 * period. VOS3000 then leaves the devices past that number without a
 * heartbeat; here the wheel (schedule.h) serves every device every period
 * whatever the pace, and the pace only decides how many heartbeats leave in
 * one burst. When the configured pace cannot cover the devices it is
 * raised: the wheel turns more often (down to one slot per turn), and only
 * past that does a turn serve more than `batch`. A raise leaves 25 % of
 * headroom so that a growing population does not raise it at every turn;
 * the configured pace comes back when the devices fit in 90 % of it.
 *
 * Pure C, unit-tested in tests/test_pacing.c.
 */
#ifndef NAT_KEEPALIVE_PACING_H
#define NAT_KEEPALIVE_PACING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ka_pace {
    uint32_t interval_ms; /* the wheel turns this often */
    uint64_t batch;       /* devices a turn serves at this pace (at least) */
    bool raised;          /* faster than configured */
} ka_pace_t;

typedef struct ka_pacing_config {
    uint64_t period_ms;
    uint32_t interval_ms; /* configured send interval */
    uint32_t batch;       /* configured batch */
    uint32_t floor_ms;    /* the shortest useful turn: one slot of the wheel */
} ka_pacing_config_t;

/* Devices the configured pace serves in one period. */
uint64_t ka_pacing_capacity(const ka_pacing_config_t *c);

/* The pace for `devices`, given the one in force (NULL at start). */
ka_pace_t ka_pacing_for(const ka_pacing_config_t *c, size_t devices, const ka_pace_t *current);

/* True when `next` is faster than `prev` (a raise to count and report). */
bool ka_pacing_is_raise(const ka_pace_t *prev, const ka_pace_t *next);

#endif
