/* The decisions of one outbound registration (PARAMETERS.md section 4,
 * "Outbound"; RFC 3261 section 10.2), as pure functions over its state:
 * what a final response to our REGISTER means, when the next REGISTER goes
 * (a refresh at half the granted expiry, a retry after the fixed delay plus
 * a little jitter), and how challenges are counted. outbound.c sends the
 * requests and runs the timers these decisions ask for. */
#ifndef REGISTRAR_OUTBOUND_FSM_H
#define REGISTRAR_OUTBOUND_FSM_H

#include <stdint.h>

/* What GET /api/v1/registrations/outbound shows. */
typedef enum {
    OB_STATE_UNREGISTERED = 0, /* not (yet) bound at the carrier: the first REGISTER is under way */
    OB_STATE_REGISTERED,       /* bound; a refresh is due at half the granted expiry */
    OB_STATE_FAILED,           /* the last attempt failed (last_code); a retry waits for the delay */
    OB_STATE_RETRYING          /* the retry after a failure is under way */
} ob_state_t;

const char *ob_state_name(ob_state_t s);

/* The settings a decision depends on. */
typedef struct ob_policy {
    unsigned auth_retry;     /* SS_SIP_AUTHENTICATION_RETRY: challenges answered in a row, at most */
    uint64_t retry_delay_ms; /* SS_SIP_USER_AGENT_RETRY_DELAY */
} ob_policy_t;

/* Stale challenges answered in a row before the switch gives up anyway:
 * stale=true does not count against auth_retry, but a server that says it
 * every time must not keep the switch busy forever. */
#define OB_STALE_MAX 5
/* 423 answers in a row followed (each raising the expiry asked). */
#define OB_TOO_BRIEF_MAX 3
/* The shortest refresh interval (ms): a registrar granting 1 s is not
 * hammered faster than this. */
#define OB_REFRESH_MIN_MS 500

typedef struct ob_fsm {
    ob_state_t state;
    int last_code;               /* the last final response (408 for a timeout, 503 unreachable), 0 before any */
    uint32_t ask_s;              /* Expires the next REGISTER asks for (a 423 may have raised it) */
    uint32_t granted_s;          /* expiry of the current binding, 0 when not registered */
    unsigned challenges_in_row;  /* non-stale 401/407 answered since the last other response */
    unsigned stale_in_row;
    unsigned too_brief_in_row;
    uint64_t failures;           /* failed attempts since the registration started */
} ob_fsm_t;

/* Starts a registration asking for ask_s seconds. */
void ob_fsm_init(ob_fsm_t *f, uint32_t ask_s);

/* A final response (or the core's 408/503) to our REGISTER, as read by
 * outbound.c. */
typedef struct ob_response {
    int code;
    int challenge_usable; /* 401/407 carrying a challenge the switch can answer */
    int stale;            /* that challenge says stale=true */
    int64_t granted_s;    /* 2xx: the expiry granted our contact, -1 when the response does not say */
    int64_t min_expires_s;/* 423: Min-Expires, -1 when absent */
} ob_response_t;

typedef enum {
    OB_NEXT_SEND_NOW = 1, /* send the next REGISTER at once: with credentials, or asking a longer expiry */
    OB_NEXT_WAIT = 2      /* send the next REGISTER (a refresh or a retry) after wait_ms */
} ob_next_t;

typedef struct ob_step {
    ob_next_t next;
    uint64_t wait_ms;
    int failed;           /* the attempt failed (a failure to count) */
    int registered;       /* a 2xx bound us */
} ob_step_t;

/* Applies a final response. random is any uniformly drawn number (the
 * retry jitter). */
ob_step_t ob_fsm_on_response(ob_fsm_t *f, const ob_policy_t *p, const ob_response_t *r, uint32_t random);

/* The wait before the REGISTER after a failure: the fixed delay plus 0 to
 * 5 % of it (at least 0 to 1 s), so that trunks that failed together do
 * not retry in lockstep; never earlier than the delay. */
uint64_t ob_retry_wait_ms(uint64_t delay_ms, uint32_t random);

/* The wait before refreshing a binding granted for granted_s: half of it
 * (RFC 3261 leaves the margin to the UA; VOS3000 refreshes at half). */
uint64_t ob_refresh_wait_ms(uint32_t granted_s);

/* The timer that was waiting fired: a failed registration is retrying now
 * (a registered one refreshes and stays registered). */
void ob_fsm_on_timer(ob_fsm_t *f);

#endif
