/*
 * Per-gateway admission and counters.
 *
 * Admission: before an INVITE goes to a routing gateway the engine asks
 * gw_limits_try_acquire(); a gateway at max_calls (calls in progress through
 * it) or at max_cps (new calls in the last second) is skipped, which the
 * decision counts as a 503 (decision.h, GW_OUTCOME_SKIPPED_*). A slot taken
 * is given back with gw_limits_release() when the attempt fails or, for an
 * answered call, when the call ends.
 *
 * Counters: what /metrics exports per gateway (attempts, answers, failures by
 * code, timeouts, skips, calls in progress) and the ASR derived from them.
 *
 * Every operation is O(1) and runs on the signaling thread (no locking).
 */
#ifndef GW_SWITCH_GATEWAY_LIMITS_H
#define GW_SWITCH_GATEWAY_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failure responses are counted per code over the whole failure range; an
 * array indexed by code is 3.2 KB per gateway and needs no hashing. */
#define GW_LIMITS_CODE_MIN 300
#define GW_LIMITS_CODE_MAX 699

typedef struct gw_counters {
    uint64_t attempts;            /* INVITEs sent (admissions granted) */
    uint64_t answered;            /* attempts that got 200 OK */
    uint64_t failures_by_code[GW_LIMITS_CODE_MAX - GW_LIMITS_CODE_MIN + 1]; /* final responses 300..699 */
    uint64_t failures_other_code; /* a failure with a code outside 300..699 (a broken peer) */
    uint64_t timeouts;            /* INVITE, trying, progress and ringing timeouts */
    uint64_t transport_errors;    /* could not send / connection failed */
    uint64_t skipped_at_max_calls;/* admissions refused: max_calls */
    uint64_t skipped_at_max_cps;  /* admissions refused: max_cps */
} gw_counters_t;

typedef struct gw_limits {
    uint32_t max_calls;           /* 0 = unlimited */
    uint32_t max_cps;             /* 0 = unlimited */
    uint32_t current_calls;       /* slots held: attempts in progress and answered calls */
    /* Start times (ms) of the last max_cps admissions, oldest first from
     * cps_oldest, as a ring of max_cps entries (see gateway_limits.c). */
    uint64_t *cps_starts;
    uint32_t cps_used;
    uint32_t cps_oldest;
    uint64_t cps_latest_ms;       /* guards against a clock that steps back */
    gw_counters_t counters;
} gw_limits_t;

typedef enum {
    GW_ADMIT_OK = 0,              /* slot taken: send the INVITE */
    GW_ADMIT_AT_MAX_CALLS,        /* skip this gateway (counts as 503) */
    GW_ADMIT_AT_MAX_CPS           /* skip this gateway (counts as 503) */
} gw_admit_t;

/* Sets up an empty gateway. Returns 0, or -1 when memory for the max_cps
 * window cannot be had (max_cps entries of 8 bytes; at most 80 KB). */
int gw_limits_init(gw_limits_t *gw, uint32_t max_calls, uint32_t max_cps);
/* Applies new limits on reload, keeping counters, calls in progress and the
 * most recent admissions (so a reload cannot be used to burst past max_cps).
 * Calls already above a lowered max_calls go on; new ones wait for room.
 * Returns -1 (limits unchanged) when memory cannot be had. */
int gw_limits_configure(gw_limits_t *gw, uint32_t max_calls, uint32_t max_cps);
void gw_limits_destroy(gw_limits_t *gw);

/* Admission at now_ms (monotonic ms, api->now_ms() in the module). On
 * GW_ADMIT_OK a call slot is taken and the attempt counted; otherwise the
 * skip is counted and nothing is taken. max_calls is checked first so a
 * refused call does not use up a place in the per-second window. */
gw_admit_t gw_limits_try_acquire(gw_limits_t *gw, uint64_t now_ms);
/* Whether an admission at now_ms would be refused for max_cps (nothing is
 * recorded): what sw.gw_switch.status() reports. */
bool gw_limits_cps_full(const gw_limits_t *gw, uint64_t now_ms);
/* Gives back a slot (attempt failed, or answered call ended). Releasing more
 * than was acquired is ignored rather than wrapping the count. */
void gw_limits_release(gw_limits_t *gw);

/* Outcomes of attempts that were admitted. */
void gw_limits_record_answered(gw_limits_t *gw);
void gw_limits_record_failure(gw_limits_t *gw, int code);
void gw_limits_record_timeout(gw_limits_t *gw);
void gw_limits_record_transport_error(gw_limits_t *gw);

/* Failures counted for one code (0 for a code outside 300..699). */
uint64_t gw_limits_failures_with_code(const gw_limits_t *gw, int code);
/* Both kinds of skip. */
uint64_t gw_limits_skipped_at_limit(const gw_limits_t *gw);
/* Answer-seizure ratio, answered / attempts, in 0..1; 0 before any attempt.
 * Skipped gateways are not attempts, so a limit does not lower the ASR. */
double gw_limits_asr(const gw_limits_t *gw);

#endif
