/*
 * Per-gateway admission (max_calls, max_cps) and counters.
 *
 * Why a sliding window log for max_cps, and not a token bucket or a fixed
 * window:
 *  - carriers police "N call attempts in any second"; sending N+1 within one
 *    second earns 503s or a blocked trunk. A fixed 1-s window lets 2N through
 *    around each boundary (N at x.999, N at x+1.000). A token bucket of depth
 *    N refilled at N/s also lets almost 2N through in one second (a full
 *    bucket plus the refill); shrinking the depth to stop that refuses the
 *    short bursts that are legitimate.
 *  - the log of the last N admission times answers exactly: the (N+1)-th call
 *    is allowed iff the oldest of the last N started at least 1000 ms ago.
 *    Kept as a ring, that is one comparison and one store: O(1) per check.
 *    The cost is N * 8 bytes per gateway (max_cps is capped at 10000: 80 KB,
 *    usually a few hundred bytes), paid only by gateways with a max_cps.
 */
#include "gateway_limits.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW_MS 1000u

int gw_limits_init(gw_limits_t *gw, uint32_t max_calls, uint32_t max_cps)
{
    memset(gw, 0, sizeof *gw);
    return gw_limits_configure(gw, max_calls, max_cps);
}

int gw_limits_configure(gw_limits_t *gw, uint32_t max_calls, uint32_t max_cps)
{
    if (max_cps != gw->max_cps) {
        uint64_t *ring = NULL;
        uint32_t keep = 0;
        if (max_cps) {
            ring = calloc(max_cps, sizeof *ring);
            if (!ring)
                return -1;
            /* keep the newest admissions, oldest first at index 0, so the
             * new window still knows what happened in the last second */
            keep = gw->cps_used < max_cps ? gw->cps_used : max_cps;
            uint32_t skip = gw->cps_used - keep;
            for (uint32_t i = 0; i < keep; i++)
                ring[i] = gw->cps_starts[(gw->cps_oldest + skip + i) % gw->max_cps];
        }
        free(gw->cps_starts);
        gw->cps_starts = ring;
        gw->cps_used = keep;
        gw->cps_oldest = 0;
        gw->max_cps = max_cps;
    }
    gw->max_calls = max_calls;
    return 0;
}

void gw_limits_destroy(gw_limits_t *gw)
{
    free(gw->cps_starts);
    memset(gw, 0, sizeof *gw);
}

/* Whether one more admission at now_ms keeps every 1-s window at or below
 * max_cps; records it when it does. */
static bool cps_admit(gw_limits_t *gw, uint64_t now_ms)
{
    if (!gw->max_cps)
        return true;
    /* the loop clock is monotonic, but a test or a future clock source must
     * not make the ring unordered: time never goes back inside it */
    if (now_ms < gw->cps_latest_ms)
        now_ms = gw->cps_latest_ms;
    if (gw->cps_used < gw->max_cps) {
        gw->cps_starts[(gw->cps_oldest + gw->cps_used) % gw->max_cps] = now_ms;
        gw->cps_used++;
    } else {
        /* full: the oldest of the last max_cps admissions must have left the
         * window (now - 1000, now] for one more to fit */
        if (now_ms - gw->cps_starts[gw->cps_oldest] < WINDOW_MS)
            return false;
        gw->cps_starts[gw->cps_oldest] = now_ms;
        gw->cps_oldest = (gw->cps_oldest + 1) % gw->max_cps;
    }
    gw->cps_latest_ms = now_ms;
    return true;
}

gw_admit_t gw_limits_try_acquire(gw_limits_t *gw, uint64_t now_ms)
{
    if (gw->max_calls && gw->current_calls >= gw->max_calls) {
        gw->counters.skipped_at_max_calls++;
        return GW_ADMIT_AT_MAX_CALLS;
    }
    if (!cps_admit(gw, now_ms)) {
        gw->counters.skipped_at_max_cps++;
        return GW_ADMIT_AT_MAX_CPS;
    }
    gw->current_calls++;
    gw->counters.attempts++;
    return GW_ADMIT_OK;
}

bool gw_limits_cps_full(const gw_limits_t *gw, uint64_t now_ms)
{
    if (!gw->max_cps || gw->cps_used < gw->max_cps)
        return false;
    if (now_ms < gw->cps_latest_ms)
        now_ms = gw->cps_latest_ms;
    return now_ms - gw->cps_starts[gw->cps_oldest] < WINDOW_MS;
}

void gw_limits_release(gw_limits_t *gw)
{
    if (gw->current_calls)
        gw->current_calls--;
}

void gw_limits_record_answered(gw_limits_t *gw)
{
    gw->counters.answered++;
}

void gw_limits_record_failure(gw_limits_t *gw, int code)
{
    if (code >= GW_LIMITS_CODE_MIN && code <= GW_LIMITS_CODE_MAX)
        gw->counters.failures_by_code[code - GW_LIMITS_CODE_MIN]++;
    else
        gw->counters.failures_other_code++;
}

void gw_limits_record_timeout(gw_limits_t *gw)
{
    gw->counters.timeouts++;
}

void gw_limits_record_transport_error(gw_limits_t *gw)
{
    gw->counters.transport_errors++;
}

uint64_t gw_limits_failures_with_code(const gw_limits_t *gw, int code)
{
    if (code < GW_LIMITS_CODE_MIN || code > GW_LIMITS_CODE_MAX)
        return 0;
    return gw->counters.failures_by_code[code - GW_LIMITS_CODE_MIN];
}

uint64_t gw_limits_skipped_at_limit(const gw_limits_t *gw)
{
    return gw->counters.skipped_at_max_calls + gw->counters.skipped_at_max_cps;
}

double gw_limits_asr(const gw_limits_t *gw)
{
    if (!gw->counters.attempts)
        return 0.0;
    return (double)gw->counters.answered / (double)gw->counters.attempts;
}
