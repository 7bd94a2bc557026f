/*
 * What session_timer keeps: the module-wide runtime (API, settings,
 * metrics) and, per call, the state of its two legs. The hooks in
 * session_timer.c fill the legs from the negotiation; session_refresh.c
 * runs their timers: the switch's refreshes, the watch on a far end that
 * refreshes, the grace before the BYEs and the max duration of a call with
 * a leg that has no timer.
 */
#ifndef SESSION_TIMER_STATE_H
#define SESSION_TIMER_STATE_H

#include <sipswitch/module.h>
#include <stdbool.h>
#include <stdint.h>

#include "negotiation.h"
#include "session_timer_params.h"

/* The two legs, as indexes: the caller's (the switch is its UAS) and the
 * answered gateway's (the switch is its UAC). */
typedef enum { ST_LEG_CALLER = 0, ST_LEG_GATEWAY = 1, ST_LEGS = 2 } st_leg_side_t;

/* Refresh methods, as metric label indexes. */
typedef enum { ST_BY_UPDATE = 0, ST_BY_INVITE = 1, ST_METHODS = 2 } st_refresh_method_t;

/* What a leg's timer does when it fires. */
typedef enum {
    ST_TIMER_NONE = 0,
    ST_TIMER_REFRESH,          /* the switch sends its refresh */
    ST_TIMER_ANSWER_DEADLINE,  /* the switch's refresh got no final answer in time */
    ST_TIMER_WATCH,            /* the far end, the refresher, did not refresh in time */
    ST_TIMER_EXPIRY            /* the session expired after refreshes that failed */
} st_timer_kind_t;

struct st_call;

typedef struct st_leg {
    struct st_call *call;
    st_leg_side_t side;
    bool enabled;              /* session_timer On for this leg */
    st_policy_t policy;
    st_method_t method;        /* session_refresh_method for this leg */
    /* negotiated */
    bool timer;                /* a session timer runs on this leg */
    bool switch_refreshes;     /* the switch is its refresher (else the far end) */
    bool peer_supports;        /* the far end said "timer": Require: timer may be sent */
    bool use_update;           /* refresh with UPDATE (else re-INVITE with the SDP) */
    uint32_t interval_s;       /* the session interval */
    uint32_t min_se_s;         /* the Min-SE the switch sends on this leg */
    /* running */
    uint64_t refreshed_at_ms;  /* api->now_ms() of the last confirmed refresh (or the answer) */
    uint64_t expires_at_ms;    /* the session on this leg ends then unless refreshed */
    sw_timer_t *timer_h;
    st_timer_kind_t timer_kind;
    bool pending;              /* a refresh of the switch awaits its final answer */
    bool pending_update;       /* ... and it is an UPDATE */
    unsigned raises;           /* 422s to refreshes in a row */
    bool counted;              /* counted in the timed_sessions gauge */
} st_leg_t;

typedef struct st_call {
    sw_call_t *call;
    st_leg_t legs[ST_LEGS];
    uint32_t learned_min_se_s; /* the largest Min-SE of a gateway's 422 on this call */
    uint32_t reject_min_se_s;  /* non-zero: the caller is refused 422 with this Min-SE */
    sw_timer_t *call_timer;    /* the max duration, then the grace before the BYEs */
    int call_timer_reason;     /* SW_END_* the call timer ends the call with */
    bool doomed;               /* the BYEs are decided: no more refreshes */
} st_call_t;

typedef struct st_metrics {
    sw_stat_t *sessions[ST_LEGS][2];      /* sessions_total{leg, timer=no|yes} */
    sw_stat_t *timed_sessions[ST_LEGS];   /* gauge: answered calls whose leg has a timer */
    sw_stat_t *sent[ST_METHODS], *ok[ST_METHODS], *failed[ST_METHODS];
    sw_stat_t *fallbacks;                 /* UPDATE refused (501/405): re-INVITE from then on */
    sw_stat_t *far_end_refreshes;         /* far-end refreshes the switch answered */
    sw_stat_t *media_changes;             /* far-end re-INVITE/UPDATE relayed as media changes */
    sw_stat_t *rejected_small;            /* 422 to callers offering too small an interval */
    sw_stat_t *gateway_422;               /* gateways answering our INVITE 422 */
    sw_stat_t *ended_expired, *ended_max_duration;
} st_metrics_t;

typedef struct st_runtime {
    const sw_api_t *api;
    sw_module_t *self;
    st_config_t conf;
    st_metrics_t metrics;
    int64_t timed[ST_LEGS];               /* the gauges' values */
} st_runtime_t;

extern st_runtime_t st_rt;

/* The call was answered: arm each leg (refresh or watch) and the max
 * duration when an enabled leg has no timer. */
void st_call_answered(st_call_t *sc);

/* The far end refreshed the leg (answered by the switch), or sent a media
 * change (relayed by the core): the session on that leg lives on. With a
 * decision, its interval and refresher take effect. */
void st_leg_refreshed(st_leg_t *leg, const st_uas_decision_t *d);

/* Stops every timer of the call (on_call_end). */
void st_call_stop(st_call_t *sc);

/* "Session-Expires: N;refresher=R\r\n" (+ "Require: timer\r\n") into buf. */
void st_format_session_expires(char *buf, size_t len, uint32_t interval_s, bool refresher_is_uac, bool require);

#endif
