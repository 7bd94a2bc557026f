/*
 * The pace of the keep-alive wheel (pacing.h).
 */
#include "pacing.h"

static uint64_t turns_per_period(uint64_t period_ms, uint32_t interval_ms)
{
    uint64_t turns = interval_ms ? period_ms / interval_ms : period_ms;
    return turns ? turns : 1;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return b ? (a + b - 1) / b : a;
}

uint64_t ka_pacing_capacity(const ka_pacing_config_t *c)
{
    return turns_per_period(c->period_ms, c->interval_ms) * c->batch;
}

static uint64_t serves(const ka_pacing_config_t *c, const ka_pace_t *p)
{
    return turns_per_period(c->period_ms, p->interval_ms) * p->batch;
}

/* The slowest pace faster than configured that serves `target` devices. */
static ka_pace_t raised_for(const ka_pacing_config_t *c, uint64_t target)
{
    uint32_t floor_ms = c->floor_ms ? c->floor_ms : 1;
    if (floor_ms > c->interval_ms)
        floor_ms = c->interval_ms ? c->interval_ms : 1;
    uint64_t batch = c->batch ? c->batch : 1;
    uint64_t interval = c->period_ms / ceil_div(target, batch);
    if (interval > c->interval_ms)
        interval = c->interval_ms;
    if (interval < floor_ms)
        interval = floor_ms;
    ka_pace_t p = {.interval_ms = (uint32_t)interval, .raised = true};
    p.batch = ceil_div(target, turns_per_period(c->period_ms, p.interval_ms));
    if (p.batch < c->batch)
        p.batch = c->batch;
    return p;
}

ka_pace_t ka_pacing_for(const ka_pacing_config_t *c, size_t devices, const ka_pace_t *current)
{
    ka_pace_t configured = {.interval_ms = c->interval_ms, .batch = c->batch, .raised = false};
    uint64_t n = devices, cap = ka_pacing_capacity(c);
    if (!current || !current->raised)
        return n <= cap ? configured : raised_for(c, n + n / 4);
    /* raised: back to the configured pace only with room to spare, so that
     * a population hovering at the capacity does not flap */
    if (n * 10 <= cap * 9)
        return configured;
    if (n <= serves(c, current))
        return *current;
    return raised_for(c, n + n / 4);
}

bool ka_pacing_is_raise(const ka_pace_t *prev, const ka_pace_t *next)
{
    if (!next->raised)
        return false;
    if (!prev || !prev->raised)
        return true;
    return next->interval_ms < prev->interval_ms || next->batch > prev->batch;
}
