/* B2BUA calls: an A-leg toward the caller and, one at a time, B-legs toward
 * the gateways of the chain the route script chose. Each leg is its own
 * dialog (Call-ID, tags, CSeq, Via, Contact): nothing of one side's topology
 * reaches the other. Calls are indexed by the Call-ID of each side. */
#ifndef SW_CALL_CALL_H
#define SW_CALL_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call/gateways.h"
#include "call/sources.h"
#include "sip/message.h"
#include "sip/transaction.h"

struct sw_lua_engine;
struct sw_modules;

/* One dialog side, keeping only what later requests need. */
typedef struct sw_dialog_side {
    char *call_id;
    char *local_tag;
    char *remote_tag;
    char *local_uri;            /* our From (requests we send) / To (responses) address */
    char *remote_uri;           /* the peer's address */
    char *remote_target;        /* the peer's Contact URI: Request-URI of in-dialog requests */
    char *route_set;            /* "Route: ..." lines for in-dialog requests, or NULL */
    uint32_t local_cseq;        /* last CSeq number we sent on this leg */
    uint32_t remote_cseq;       /* last CSeq number the peer sent */
    sw_tx_destination_t dest;   /* where requests on this leg go */
} sw_dialog_side_t;

/* One gateway attempt, kept for on_failure, the management API and the CDR. */
typedef struct sw_attempt {
    char *gateway;
    char *callee;               /* number sent to this gateway */
    int code;                   /* final code, 408 for a timeout, 0 while pending */
    char *reason;               /* "INVITE timeout", the reason phrase, ... */
    uint64_t started_ms, first_response_ms, ended_ms;
    bool sdp_seen;              /* early media (SDP in a provisional) */
} sw_attempt_t;

/* One element of the chain the script returned, with its overrides. */
typedef struct sw_route_step {
    char *gateway;
    char *callee;               /* NULL: the call's callee */
    char *caller;               /* NULL: the call's caller */
    uint32_t invite_timeout_ms; /* 0: the gateway's / global setting */
} sw_route_step_t;

typedef enum {
    SW_CALL_ROUTING = 1,        /* A INVITE received, script running */
    SW_CALL_ATTEMPTING,         /* a B INVITE is pending */
    SW_CALL_ANSWERED,           /* 2xx relayed to the caller */
    SW_CALL_ENDED               /* being torn down */
} sw_call_state_t;

/* Opaque to modules (sw_call_t in module.h). */
struct sw_call {
    uint64_t id;
    sw_call_state_t state;
    sw_dialog_side_t a, b;
    sw_tx_t *a_invite;          /* the caller's INVITE server transaction, until final */
    sw_tx_t *a_accepted;        /* the same after our 2xx, until the caller's ACK (timer L) */
    sw_tx_t *b_invite;          /* the pending B INVITE client transaction */
    char *caller, *callee, *display;
    char *source;               /* mapping name, or NULL */
    char source_ip[48];
    char *a_sdp;                /* the caller's offer (relayed unchanged for now) */
    char *b_sdp;                /* the last SDP from the B side */
    char *passthrough;          /* "Name: value\r\n" headers copied from A to every B INVITE */
    int max_forwards;
    sw_route_step_t *chain;
    size_t chain_len, next_step;
    sw_attempt_t *attempts;
    size_t n_attempts;
    int reject_code;
    char *reject_reason;
    bool cancelled;
    bool b_acked;
    uint64_t created_ms, answered_ms;
    struct sw_call *next_a, *next_b; /* hash chains */
    struct sw_relay *relays;    /* in-dialog requests in flight */
};

typedef struct sw_call_settings {
    char **passthrough_headers; /* names (a trailing '*' matches a prefix, e.g. "X-*") */
    size_t n_passthrough;
    uint32_t invite_timeout_ms; /* default SS_SIP_TIMEOUT_INVITE when gw_switch is absent */
    bool allow_unknown_sources; /* off: INVITEs from no mapping get 403 */
    char local_host[64];        /* our address in Via/Contact/From toward gateways */
    uint16_t udp_port, tcp_port;/* our listening ports (0 = none) */
    uint64_t udp_socket_id;     /* the UDP socket B-leg requests leave from */
} sw_call_settings_t;

/* The engine's environment, replaced on reload (calls in progress keep the
 * gateway they are talking to: attempts copy what they need). */
void sw_calls_configure(const sw_call_settings_t *s, const sw_gateways_t *gateways, const sw_sources_t *sources,
                        struct sw_lua_engine *lua, struct sw_modules *modules);

/* A new INVITE (its server transaction just answered 100). */
void sw_calls_new_invite(sw_msg_t *invite, sw_tx_t *tx);
/* A request inside a dialog (To tag present) or CANCEL/ACK routed by the
 * transaction layer. Returns false when no call matched (the caller then
 * answers 481). */
bool sw_calls_in_dialog(sw_msg_t *req, sw_tx_t *tx);
/* A CANCEL matched the INVITE server transaction `invite_tx`. */
bool sw_calls_cancel(sw_tx_t *invite_tx);

size_t sw_calls_count(void);
/* Visits every live call (signaling thread only; fn must not end calls). */
void sw_calls_foreach(void (*fn)(const sw_call_t *c, void *ud), void *ud);
/* The gateway table calls are routed with (signaling thread only). */
const sw_gateways_t *sw_calls_gateways(void);
/* Ends every call (BYE both legs) at shutdown. */
void sw_calls_shutdown(void);

#endif
