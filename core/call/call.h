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

/* One gateway attempt: a B-leg (the module API's sw_leg_t), kept for
 * on_failure, the management API and the CDR. */
typedef struct sw_leg {
    struct sw_call *call;       /* the call it belongs to */
    char *gateway;
    char *callee;               /* number sent to this gateway */
    char *caller;               /* caller number sent to it */
    int code;                   /* final code, 408 for a timeout, 503 for a skip; 0 while pending */
    char *reason;               /* "INVITE timeout", the reason phrase, ... */
    sw_attempt_outcome_t outcome;
    uint64_t started_ms, first_response_ms, ended_ms;
    uint32_t invite_timeout_ms; /* this attempt's: script override, else module, else core default */
    bool timeout_from_script;   /* the script set invite_timeout for this step: modules keep off */
    bool sdp_seen;              /* early media (SDP in a provisional) */
    bool invite_sent;           /* an INVITE left (not a skip) */
    bool end_reported;          /* on_attempt_end ran for it */
    bool from_set;              /* a module chose the From (leg_set_from) */
    char *from_display;         /* its display name ("" or NULL: none) */
    char *from_uri;             /* its URI, NULL: the core's sip:caller@host */
} sw_attempt_t;

/* One element of the chain the script returned, with its overrides. */
typedef struct sw_route_step {
    char *gateway;              /* a [gateway] name; with `uri`: a label for logs and the CDR */
    char *uri;                  /* NULL, or the Request-URI of a target outside cfg (a registered device) */
    struct sockaddr_storage dest; /* with `uri`: where its INVITE goes */
    socklen_t dest_len;
    sw_transport_t transport;
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
    char *caller_in, *callee_in;/* as received, kept only once the script changed caller/callee */
    struct sw_call_var *vars;   /* call:cdr_set(name, value), newest first; for the CDR */
    size_t n_vars;
    uint64_t ringing_ms;        /* first 18x relayed to the caller (loop clock), 0 = none */
    char *source;               /* mapping name, or NULL */
    char *account;              /* the account a module authenticated the INVITE as (msg_set_account), or NULL */
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
    int reject_end_reason;      /* SW_END_* given by a module's call_reject, 0 = the script's reject */
    bool cancelled;
    bool b_acked;
    bool caller_100rel;         /* the caller's INVITE allows reliable provisionals (Supported/Require: 100rel) */
    bool caller_requires_100rel;/* ... and insists on them (Require: 100rel) */
    uint32_t a_rseq;            /* RSeq of the last reliable provisional relayed to the caller, 0: none */
    uint32_t b_rseq;            /* the gateway's RSeq it stands for (this attempt), 0: none */
    int stop_code;              /* on_failure returned "stop", code: the caller's code; 0 = the attempt's */
    int final_code;             /* the final code the caller got (200 when answered), 0 before */
    unsigned invites_sent;      /* attempts that sent an INVITE (switch limit counts these) */
    struct sw_call_deadline *deadline;
    struct sw_call_module_data *module_data; /* api->call_set_data, one node per module that set one */ /* a module's attempt timer (leg_set_deadline), or NULL */
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
/* The engine's settings (our address and ports toward peers). */
const sw_call_settings_t *sw_calls_settings(void);
/* The gateway table calls are routed with (signaling thread only). */
const sw_gateways_t *sw_calls_gateways(void);
/* Ends every call (BYE both legs) at shutdown. */
void sw_calls_shutdown(void);

/* A named value the script attached to the call (call:cdr_set). */
typedef struct sw_call_var {
    char *name, *value;
    struct sw_call_var *next;
} sw_call_var_t;

/* The call's times as wall-clock (Unix epoch) milliseconds, 0 = not yet. */
void sw_call_wall_times(const sw_call_t *c, uint64_t *created, uint64_t *ringing, uint64_t *answered);

/* The module API's call operations (module.h, ABI 1.1). */
void sw_call_leg_set_from(sw_attempt_t *at, const char *display, const char *uri);
int sw_call_send_request(sw_call_t *c, sw_party_t to, const char *method, const char *extra_headers, bool with_sdp,
                         sw_request_cb cb, sw_module_t *mod, void *arg);
void sw_call_hangup(sw_call_t *c, int end_reason, int code);
const char *sw_call_sdp(const sw_call_t *c, sw_party_t to);
/* Answers the in-dialog request a module's on_dialog_request is looking at:
 * 0 sent, -1 refused (bad code, already answered), -2 `req` is not that
 * request (the caller tries the front door). */
int sw_calls_dialog_reply(sw_msg_t *req, int code, const char *reason, const char *extra_headers,
                          const char *content_type, const char *body, size_t len);

/* Ends a call that has not been routed yet with `code` (on_call_new). */
void sw_call_reject(sw_call_t *c, int code, const char *reason, int end_reason);

/* "response", "invite_timeout", ... (module.h's sw_attempt_outcome_t), for
 * the script, logs and the management API. */
const char *sw_attempt_outcome_name(sw_attempt_outcome_t o);

/* What modules may do to a pending attempt (module.h, ABI 1.1). */
void sw_call_leg_skip(sw_attempt_t *at, sw_attempt_outcome_t outcome, const char *reason);
void sw_call_leg_set_invite_timeout(sw_attempt_t *at, uint64_t ms);
void sw_call_leg_set_deadline(sw_attempt_t *at, uint64_t ms, sw_attempt_outcome_t outcome);

#endif
