/*
 * The session timer decisions of RFC 4028 for one leg of a B2BUA, as pure
 * functions (no clock, no API): what to answer a request that carries (or
 * not) a session timer, what an answer to our own request means, what to do
 * after a refresh got its final response, and when timers fire.
 *
 * The switch is a UAS on the caller's leg (the caller's INVITE, and every
 * refresh the far end sends on either leg) and a UAC on the gateway's leg
 * (our INVITE, and every refresh the switch sends). The refresher parameter
 * is relative to the transaction that carries it: "uac" is whoever sent the
 * request. The switch wants to be the refresher toward every leg that
 * supports timers, and is, unless the request it answers already named the
 * other side (RFC 4028 9 makes the answerer keep that choice).
 */
#ifndef SESSION_TIMER_NEGOTIATION_H
#define SESSION_TIMER_NEGOTIATION_H

#include <stdbool.h>
#include <stdint.h>

#include "timer_headers.h"

/* What the switch accepts on one leg. */
typedef struct st_policy {
    uint32_t session_ttl_s;    /* the interval it asks for (SS_SIP_SESSION_TTL) */
    uint32_t min_se_s;         /* the smallest it accepts (its Min-SE) */
} st_policy_t;

typedef enum {
    ST_UAS_NO_TIMER = 0,       /* the request neither supports nor asks for a timer */
    ST_UAS_ACCEPT,             /* answer 2xx with Session-Expires */
    ST_UAS_REJECT_422          /* 422 Session Interval Too Small, with Min-SE */
} st_uas_verdict_t;

typedef struct st_uas_decision {
    st_uas_verdict_t verdict;
    uint32_t interval_s;       /* ACCEPT: the Session-Expires of the 2xx */
    st_refresher_t refresher;  /* ACCEPT: UAC = the request's sender refreshes, UAS = the switch */
    bool require_timer;        /* ACCEPT: the 2xx carries Require: timer (the sender supports it) */
    uint32_t min_se_s;         /* REJECT_422: the Min-SE of the 422 */
} st_uas_decision_t;

/* The switch as the answerer (RFC 4028 9) of a request whose session timer
 * fields are `offer`:
 *  - a Session-Expires below the switch's Min-SE is refused with 422;
 *  - no Session-Expires and no "timer" support: no timer on this leg;
 *  - otherwise the interval is the request's (or, when it has none, the
 *    policy's), lowered toward session_ttl but never below the request's
 *    Min-SE nor the switch's, and never raised above the request's;
 *  - the refresher is the request's choice when it made one and supports
 *    timers, else the switch (uas). */
st_uas_decision_t st_uas_decide(const st_offer_t *offer, const st_policy_t *policy);

/* The Session-Expires the switch offers on a new gateway leg: its
 * session_ttl, raised to the largest Min-SE a gateway answered 422 with on
 * this call (learned_min_se_s, 0 for none), and the Min-SE it sends. */
uint32_t st_uac_offer_interval(const st_policy_t *policy, uint32_t learned_min_se_s);
uint32_t st_uac_offer_min_se(const st_policy_t *policy, uint32_t learned_min_se_s);

/* The switch as the requester (RFC 4028 7.2): what a 2xx to its INVITE,
 * re-INVITE or UPDATE says. */
typedef struct st_uac_result {
    bool timer;                /* the 2xx carried Session-Expires: a timer runs on this leg */
    uint32_t interval_s;       /* timer: the interval */
    bool switch_refreshes;     /* timer: refresher=uac or absent (the switch sent the request) */
} st_uac_result_t;

st_uac_result_t st_uac_answer(const st_offer_t *answer);

/* What to do after a refresh the switch sent got its final answer. */
typedef enum {
    ST_REFRESH_OK = 0,         /* 2xx: the session is refreshed */
    ST_REFRESH_USE_INVITE,     /* 501/405 to UPDATE: this leg gets re-INVITEs from now on, one at once */
    ST_REFRESH_RAISE_INTERVAL, /* 422: retry at once with the response's Min-SE */
    ST_REFRESH_RETRY,          /* anything else: not refreshed; try again later, the session may expire */
    ST_REFRESH_FATAL           /* 408, 481, no answer, not sent: the dialog is gone (RFC 4028 10) */
} st_refresh_action_t;

/* `answered` is false when the core made the code up (408: nothing
 * answered; 503: it could not be sent). */
st_refresh_action_t st_refresh_action(int code, bool answered, bool was_update);

/* Milliseconds between refreshes: interval / segment (at least 1 ms). */
uint64_t st_refresh_period_ms(uint32_t interval_s, uint32_t segment);

/* When the side that does not refresh gives up on a session not refreshed
 * since `interval_s` started: the interval minus the smaller of 32 s and a
 * third of it (RFC 4028 10), in ms. */
uint64_t st_expiry_margin_deadline_ms(uint32_t interval_s);

#endif
