/*
 * sipswitch module ABI: the one header a module needs.
 *
 * A module is a shared object that exports one symbol, SW_MODULE_ENTRY_SYMBOL,
 * returning its descriptor (sw_module_desc_t). It links against no symbol of the
 * core: everything it may do goes through the function table sw_api_t handed to
 * its init(). All core objects are opaque handles.
 *
 * Compatibility rules (see doc/module-abi.md):
 *  - a module is loaded when its abi_major equals the core's and its abi_minor
 *    is <= the core's; otherwise it is refused at load time with a message;
 *  - every struct below starts with `size` (set it with sizeof) so the core can
 *    tell which fields an older module knows; new fields are only ever appended;
 *  - a minor release only appends: new API functions at the end of sw_api_t,
 *    new hooks at the end of sw_hooks_t, new fields at the end of structs,
 *    new enum values at the end of enums. Anything else bumps the major.
 *
 * Threading: every callback runs on the signaling thread, except on_rtp which
 * runs on a media thread and must not call the API (other than the functions
 * marked "any thread") nor allocate.
 */
#ifndef SIPSWITCH_MODULE_H
#define SIPSWITCH_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SW_ABI_MAJOR 1
#define SW_ABI_MINOR 1

/* The symbol the loader looks up in every module. */
#define SW_MODULE_ENTRY_SYMBOL "sw_module_entry"

#if defined(__GNUC__)
#define SW_EXPORT __attribute__((visibility("default")))
#define SW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SW_EXPORT
#define SW_PRINTF(f, a)
#endif

/* Declares the entry point of a module: SW_MODULE(my_descriptor); */
#define SW_MODULE(desc)                                                      \
    SW_EXPORT const sw_module_desc_t *sw_module_entry(void);                 \
    SW_EXPORT const sw_module_desc_t *sw_module_entry(void) { return &(desc); }

/* ------------------------------------------------------------------------- */
/* Opaque handles                                                             */
/* ------------------------------------------------------------------------- */

typedef struct sw_module sw_module_t;   /* this module, as loaded by the core */
typedef struct sw_config sw_config_t;   /* a validated view of cfg values */
typedef struct sw_msg sw_msg_t;         /* one SIP message (request or response) */
typedef struct sw_sdp sw_sdp_t;         /* one SDP body being relayed */
typedef struct sw_call sw_call_t;       /* a B2BUA call (A-leg + B-legs) */
typedef struct sw_leg sw_leg_t;         /* one leg of a call */
typedef struct sw_timer sw_timer_t;     /* a timer started through the API */
typedef struct sw_stat sw_stat_t;       /* a metric registered by a module */
typedef struct sw_lua_args sw_lua_args_t; /* arguments of a Lua call */
typedef struct sw_lua_ret sw_lua_ret_t;   /* results of a Lua call */

/* ------------------------------------------------------------------------- */
/* Enumerations (values are only ever appended)                              */
/* ------------------------------------------------------------------------- */

typedef enum {
    SW_LOG_ERROR = 0,
    SW_LOG_WARN = 1,
    SW_LOG_NOTICE = 2,
    SW_LOG_INFO = 3,
    SW_LOG_DEBUG = 4
} sw_log_level_t;

typedef enum {
    SW_PARAM_BOOL = 1,     /* On/Off, yes/no, true/false, 1/0 */
    SW_PARAM_INT,          /* integer (decimal or 0x hex) within [min, max] */
    SW_PARAM_STRING,       /* free text (may be empty) */
    SW_PARAM_ENUM,         /* one of `choices`, case-insensitive; value = index */
    SW_PARAM_DURATION,     /* "10", "10s", "500ms", "1.5s"; stored in ms; min/max in ms */
    SW_PARAM_DURATION_LIST,/* comma list of durations, e.g. "0.5,1,2,4" */
    SW_PARAM_INT_LIST,     /* comma list of integers within [min, max] */
    SW_PARAM_STRING_LIST,  /* comma list of words */
    SW_PARAM_ADDRESS       /* host:port (IPv4, [IPv6] or name) */
} sw_param_type_t;

/* Where a parameter may be written. A parameter with SW_SCOPE_GLOBAL lives in
 * the module's own section ([core] for the core); the other scopes let it be
 * overridden per object section, e.g. `invite_timeout` in [gateway NAME]. */
enum {
    SW_SCOPE_GLOBAL = 1u << 0,
    SW_SCOPE_GATEWAY = 1u << 1,      /* [gateway NAME]: routing gateways (carriers) */
    SW_SCOPE_MAPPING = 1u << 2,      /* [mapping NAME]: originating customer gateways */
    SW_SCOPE_ACCOUNT = 1u << 3,      /* [account NAME]: registering devices */
    SW_SCOPE_REGISTRATION = 1u << 4  /* [registration NAME]: upstream registrations */
};

enum {
    SW_PARAM_RELOADABLE = 1u << 0,   /* a SIGHUP/API reload may change it */
    SW_PARAM_REQUIRED = 1u << 1,     /* must be set (in each object section of its scope) */
    SW_PARAM_BELOW_RFC = 1u << 2     /* reserved: value below an RFC minimum needs opt-in */
};

typedef enum {
    SW_HOOK_CONTINUE = 0, /* not handled: next module, then the core */
    SW_HOOK_HANDLED = 1,  /* the module answered or consumed it: stop here */
    SW_HOOK_DROP = 2      /* discard silently (counted as a drop) */
} sw_hook_result_t;

typedef enum {
    SW_TRANSPORT_UDP = 1,
    SW_TRANSPORT_TCP = 2,
    SW_TRANSPORT_TLS = 3
} sw_transport_t;

typedef enum {
    SW_SDP_OFFER = 1,
    SW_SDP_ANSWER = 2
} sw_sdp_kind_t;

typedef enum {
    SW_DIR_A_TO_B = 1,   /* from the caller toward the gateway */
    SW_DIR_B_TO_A = 2
} sw_direction_t;

typedef enum {
    SW_PARTY_CALLER = 1,
    SW_PARTY_CALLEE = 2,
    SW_PARTY_SWITCH = 3
} sw_party_t;

typedef enum {
    SW_BINDING_ADDED = 1,
    SW_BINDING_REFRESHED = 2,
    SW_BINDING_REMOVED = 3,
    SW_BINDING_EXPIRED = 4
} sw_binding_event_kind_t;

typedef enum {
    SW_STAT_COUNTER = 1,  /* only goes up */
    SW_STAT_GAUGE = 2     /* set to a value */
} sw_stat_kind_t;

typedef enum {
    SW_LUA_NIL = 0,
    SW_LUA_BOOLEAN = 1,
    SW_LUA_INTEGER = 2,
    SW_LUA_NUMBER = 3,
    SW_LUA_STRING = 4,
    SW_LUA_OTHER = 5
} sw_lua_type_t;

/* How one gateway attempt (one B-leg INVITE) ended. ABI 1.1. */
typedef enum {
    SW_ATTEMPT_PENDING = 0,           /* still waiting for a final answer */
    SW_ATTEMPT_RESPONSE = 1,          /* a final failure response (3xx-6xx): see `code` */
    SW_ATTEMPT_INVITE_TIMEOUT = 2,    /* no response at all within the INVITE timeout */
    SW_ATTEMPT_TRYING_TIMEOUT = 3,    /* 100 Trying, then nothing more in time */
    SW_ATTEMPT_PROGRESS_TIMEOUT = 4,  /* 183, then no 180/200 in time */
    SW_ATTEMPT_RINGING_TIMEOUT = 5,   /* 180, then no answer in time */
    SW_ATTEMPT_SKIPPED_MAX_CALLS = 6, /* not sent: the gateway was at its call limit (counts as 503) */
    SW_ATTEMPT_SKIPPED_MAX_CPS = 7,   /* not sent: the gateway was at its rate limit (counts as 503) */
    SW_ATTEMPT_TRANSPORT_ERROR = 8,   /* could not be sent, or the connection failed (503) */
    SW_ATTEMPT_ANSWERED = 9,          /* 2xx: the call was bridged to this gateway */
    SW_ATTEMPT_ABANDONED = 10,        /* the call ended (cancel, hang-up, shutdown) while pending */
    SW_ATTEMPT_SKIPPED_UNKNOWN = 11   /* not sent: the chain named a gateway cfg does not have */
} sw_attempt_outcome_t;

/* ------------------------------------------------------------------------- */
/* Descriptors a module provides                                             */
/* ------------------------------------------------------------------------- */

/* One typed parameter. The core parses, validates and reports errors with
 * file:line; the module reads values through sw_api_t.param_* . */
typedef struct sw_param {
    uint32_t size;             /* sizeof(sw_param_t); 0 ends an array */
    const char *name;          /* lower-case name, e.g. "invite_timeout" */
    const char *vos_alias;     /* VOS3000 name accepted too, e.g. "SS_SIP_TIMEOUT_INVITE", or NULL */
    sw_param_type_t type;
    const char *default_value; /* as it would be written in cfg; NULL = unset */
    int64_t min, max;          /* INT, INT_LIST: value range; DURATION*: ms; min == max == 0: no range */
    const char *const *choices;/* ENUM: NULL-terminated list of accepted words */
    unsigned scopes;           /* SW_SCOPE_* bits; 0 means SW_SCOPE_GLOBAL */
    unsigned flags;            /* SW_PARAM_* bits */
    const char *unit;          /* DURATION*: unit of a bare number, "s" or "ms" (default "s") */
    const char *doc;           /* one or two sentences for --dump-params and the docs */
} sw_param_t;

/* A function exported to Lua as sw.<module>.<name>(...).
 * `args` is a type spec, checked by the core before the call:
 *   s string, i integer, n number, b boolean, a any;
 *   '|' marks where optional arguments start;
 *   '*' after the last letter repeats it any number of times (no arity cap).
 * Examples: "s" (one string), "si|b", "s*" (one or more strings). */
typedef struct sw_lua_func {
    uint32_t size;             /* sizeof(sw_lua_func_t); 0 ends an array */
    const char *name;
    const char *args;
    /* Return 0 after pushing results with api->lua_push_*; return -1 after
     * api->lua_error() to raise a Lua error. */
    int (*fn)(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret);
    const char *doc;
} sw_lua_func_t;

/* A change to a registrar binding (on_register). Strings are valid for the
 * duration of the callback only. */
typedef struct sw_binding_event {
    uint32_t size;
    sw_binding_event_kind_t kind;
    const char *aor;            /* address of record, e.g. "sip:1001@example.com" */
    const char *account;        /* account name, or NULL */
    const char *contact;        /* contact URI */
    const char *source;         /* "ip:port" the device registered from */
    sw_transport_t transport;
    int behind_nat;             /* 1 when the Via/Contact address differs from the source */
    uint32_t expires;           /* seconds granted */
    uint64_t socket_id;         /* local socket it registered through (send keep-alives from it) */
} sw_binding_event_t;

/* Why a call ended (on_call_end). */
typedef struct sw_call_end {
    uint32_t size;
    int reason;                 /* SW_END_* below */
    sw_party_t hung_up_by;
    int final_code;             /* SIP code sent to the caller, or 200 for an answered call */
} sw_call_end_t;

/* End reasons; only appended. cdr documents their text. */
enum {
    SW_END_NORMAL_CALLER = 1,
    SW_END_NORMAL_CALLEE,
    SW_END_CANCELLED,
    SW_END_ALL_GATEWAYS_FAILED,
    SW_END_NO_ROUTE,
    SW_END_REJECTED_BY_SCRIPT,
    SW_END_INVITE_TIMEOUT,
    SW_END_SESSION_TIMER_EXPIRED,
    SW_END_MAX_DURATION_NO_TIMER,
    SW_END_AUTH_FAILED,
    SW_END_OVERLOAD,
    SW_END_SCRIPT_ERROR,
    SW_END_SHUTDOWN,
    SW_END_NO_ACK,              /* 1.1: the caller never ACKed our 2xx (both legs BYEd) */
    SW_END_REJECTED_BY_MODULE   /* 1.1: a module refused the call (call_reject), e.g. session_timer's 422 */
};

/* One RTP packet on a relayed stream (on_rtp, media thread). The module may
 * rewrite payload[0 .. payload_len) in place; the length must not change. */
typedef struct sw_rtp_packet {
    uint32_t size;
    uint8_t *data;              /* whole packet */
    size_t len;
    uint8_t *payload;           /* after the header, CSRCs and extension */
    size_t payload_len;
    sw_direction_t direction;
    int toward_encrypted_peer;  /* the leg it is sent on has rtp_encryption on */
    int from_encrypted_peer;    /* the leg it came from has rtp_encryption on */
    void *stream_data;          /* per-stream slot the module may use (set at on_sdp) */
} sw_rtp_packet_t;

/* One gateway attempt as the core records it (ABI 1.1). Strings are valid
 * for the duration of the callback only. */
typedef struct sw_attempt_info {
    uint32_t size;              /* sizeof(sw_attempt_info_t) as the filler knows it */
    const char *gateway;        /* the name in the chain */
    const char *callee;         /* the number sent to it */
    unsigned index;             /* 1-based position among this call's attempts */
    unsigned invites_sent;      /* INVITEs this call has sent so far, this one included */
    sw_attempt_outcome_t outcome;
    int code;                   /* the code the attempt stands for: the response's,
                                   408 for a timeout, 503 for a skip or transport error */
    const char *reason;         /* reason phrase or what happened, or NULL */
    int sdp_received;           /* a provisional response carried SDP */
    int rtp_started;            /* the media relay saw RTP from the gateway */
    int media_relayed;          /* the call's media goes through the relay */
    int caller_cancelled;       /* the caller cancelled or hung up */
    size_t gateways_left;       /* chain steps after this one */
    uint64_t started_ms, first_response_ms, ended_ms; /* loop time (api->now_ms), 0 = not yet */
    const char *caller;         /* the caller number sent to it */
} sw_attempt_info_t;

/* A call's times (ABI 1.1), wall clock (Unix epoch ms), 0 = did not happen. */
typedef struct sw_call_times {
    uint32_t size;
    uint64_t created_ms;        /* the caller's INVITE arrived */
    uint64_t ringing_ms;        /* the first 18x was relayed to the caller */
    uint64_t answered_ms;       /* the 200 was relayed to the caller */
} sw_call_times_t;

/* What a switching policy (gw_switch) tells the core after a failed
 * attempt (on_attempt_end). ABI 1.1. */
typedef struct sw_switch_verdict {
    uint32_t size;
    int stop;                   /* 1: end the call with caller_code; 0: try the next gateway */
    int caller_code;            /* stop: the final code for the caller (300..699) */
    int script_may_override;    /* next: the script's on_failure may still stop or re-route */
    const char *rule;           /* static text naming the rule, for logs and the CDR */
} sw_switch_verdict_t;

/* Hooks: set only the ones the module uses. Modules sharing a hook run in
 * ascending `priority` (ties: load order). Callers of some hooks arrive with
 * later core releases; declaring them now keeps the ABI stable. */
typedef struct sw_hooks {
    uint32_t size;              /* sizeof(sw_hooks_t) */
    int priority;               /* lower runs first; 0 is neutral */
    /* Any request before routing (out of dialog or not). May answer it with
     * api->msg_reply() and return SW_HOOK_HANDLED, or return SW_HOOK_DROP. */
    sw_hook_result_t (*on_request)(sw_module_t *self, sw_msg_t *req);
    /* A registrar binding was added, refreshed, removed or expired. */
    void (*on_register)(sw_module_t *self, const sw_binding_event_t *ev);
    /* A new INVITE became a call (A-leg exists). SW_HOOK_HANDLED means the
     * module rejected the call through the API. */
    sw_hook_result_t (*on_call_new)(sw_module_t *self, sw_call_t *call, sw_msg_t *invite);
    /* The script chose the chain; before the first attempt (called since
     * 1.1). SW_HOOK_HANDLED means the module rejected the call (call_reject). */
    sw_hook_result_t (*on_route)(sw_module_t *self, sw_call_t *call);
    /* An outbound request is about to be sent on a B-leg (headers may be
     * edited): the INVITE of each attempt (called since 1.1), requests
     * relayed from the caller and those a module sends; not ACK or CANCEL. */
    sw_hook_result_t (*on_leg_request)(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *req);
    /* A response arrived on a B-leg, before the core acts on it. */
    sw_hook_result_t (*on_leg_response)(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *resp);
    /* An SDP offer or answer passes between legs (may be rewritten). */
    sw_hook_result_t (*on_sdp)(sw_module_t *self, sw_call_t *call, sw_direction_t dir,
                               sw_sdp_kind_t kind, sw_sdp_t *sdp);
    /* The call connected (200 OK relayed to the caller). */
    void (*on_answer)(sw_module_t *self, sw_call_t *call);
    /* The call ended; the last hook that sees it. */
    void (*on_call_end)(sw_module_t *self, sw_call_t *call, const sw_call_end_t *end);
    /* One RTP packet (media thread; no allocation, no API calls). */
    void (*on_rtp)(sw_module_t *self, sw_rtp_packet_t *pkt);

    /* --- ABI 1.1 --- */
    /* A gateway attempt is about to send its INVITE (`leg` is the new B-leg).
     * The module may set the attempt's INVITE timeout
     * (api->leg_set_invite_timeout) or refuse the gateway: call
     * api->leg_skip() and return SW_HOOK_DROP; the core then records the skip
     * and asks on_attempt_end what to do next. */
    sw_hook_result_t (*on_attempt_start)(sw_module_t *self, sw_call_t *call, sw_leg_t *leg);
    /* An attempt ended, exactly once per attempt: a failure, a skip, the
     * answered attempt when its call ends, or a pending one abandoned.
     * `verdict` is non-NULL when the core needs the switching decision (a
     * failure while the call still waits for an answer): fill it and return
     * SW_HOOK_HANDLED, or return SW_HOOK_CONTINUE to leave it to the next
     * module and finally to the core's built-in VOS3000 defaults. */
    sw_hook_result_t (*on_attempt_end)(sw_module_t *self, sw_call_t *call, sw_leg_t *leg,
                                       const sw_attempt_info_t *info, sw_switch_verdict_t *verdict);
    /* A response the core is about to send to the caller's INVITE: 18x, 2xx
     * or a final failure (a call_reject included). `resp` holds only the
     * headers modules add (the core writes the dialog headers, Contact, RSeq
     * and the body): add some with api->msg_header_add, e.g. Session-Expires
     * on the 2xx or Min-SE on a 422. Read the code with api->msg_status. */
    void (*on_caller_response)(sw_module_t *self, sw_call_t *call, sw_msg_t *resp);
    /* A request inside the call's dialog arrived from one side (dir
     * SW_DIR_A_TO_B: from the caller), before the core relays it to the
     * other side; BYE, ACK, CANCEL and PRACK are not offered. Answer it with
     * api->msg_reply or api->msg_reply_body and return SW_HOOK_HANDLED: it
     * is not relayed (e.g. a session refresh answered per leg). */
    sw_hook_result_t (*on_dialog_request)(sw_module_t *self, sw_call_t *call, sw_direction_t dir,
                                          sw_msg_t *req);
    /* A request is about to be sent to the caller (relayed from the gateway,
     * or sent by a module with call_send_request), as on_leg_request is for
     * the gateway side: headers may be edited. Not for ACK and CANCEL. */
    sw_hook_result_t (*on_caller_request)(sw_module_t *self, sw_call_t *call, sw_msg_t *req);
} sw_hooks_t;

struct sw_api;

/* What a module exports through SW_MODULE(). */
typedef struct sw_module_desc {
    uint32_t size;              /* sizeof(sw_module_desc_t) */
    uint16_t abi_major;         /* SW_ABI_MAJOR at the module's build */
    uint16_t abi_minor;         /* SW_ABI_MINOR at the module's build */
    const char *name;           /* [a-z0-9_]+, also its cfg section and Lua table */
    const char *version;
    const char *license;
    const char *description;
    const char *const *requires;/* NULL-terminated module names initialised first, or NULL */
    const sw_param_t *params;   /* array ended by an element with size 0, or NULL */
    const sw_lua_func_t *lua_funcs; /* array ended by an element with size 0, or NULL */
    const sw_hooks_t *hooks;    /* or NULL */
    /* Lifecycle. Return 0 on success; on failure call api->set_error() with
     * the reason and return -1: start-up stops naming the module. */
    int (*init)(sw_module_t *self, const struct sw_api *api, const sw_config_t *cfg);
    int (*start)(sw_module_t *self);            /* sockets bound, loop about to run */
    int (*reload)(sw_module_t *self, const sw_config_t *cfg); /* -1 refuses: old config kept */
    void (*destroy)(sw_module_t *self);         /* shutdown, reverse init order */
    /* (1.1, optional) Shutdown begins: the calls have just ended, the
     * sockets are still open and the loop keeps running for up to 2 s while
     * requests modules send now (request_send: an unregister to a carrier)
     * are pending; new calls get 503 meanwhile. Reverse init order, before
     * any destroy. A module built for 1.0 has no such member: it is NULL. */
    void (*stop)(sw_module_t *self);
} sw_module_desc_t;

#define SW_MODULE_DESC_INIT .size = sizeof(sw_module_desc_t), \
    .abi_major = SW_ABI_MAJOR, .abi_minor = SW_ABI_MINOR

/* ------------------------------------------------------------------------- */
/* The API table the core gives a module                                     */
/* ------------------------------------------------------------------------- */

typedef void (*sw_timer_cb)(sw_module_t *self, void *arg);

/* The outcome of a request a module sent with call_send_request (1.1):
 * `code` is the final status, 408 when nothing answered in time, 503 when
 * it could not be sent; `resp` is the response (NULL for 408/503 made up by
 * the core), valid during the callback only. Not called once the call ended
 * (free `arg` in on_call_end). */
typedef void (*sw_request_cb)(sw_module_t *self, sw_call_t *call, int code, sw_msg_t *resp, void *arg);

/* A management API resource of a module (http_route, 1.1), run on the
 * signaling thread. `method` is GET, POST or DELETE; `rest` what follows the
 * registered path ("" or "/..."); `query` the decoded query arguments as
 * "k=v&k2=v2" ("" when none). Return the HTTP status and set *body to a
 * JSON text allocated with api->alloc/strdup (the core frees it), or leave
 * it NULL for an empty body. */
typedef int (*sw_http_fn)(sw_module_t *self, const char *method, const char *rest, const char *query,
                          char **body);

/* The outcome of a request a module sent outside any call (request_send,
 * 1.1): final status, 408 when nothing answered, 503 when it could not be
 * sent (resp NULL for those two); resp is valid during the callback only. */
typedef void (*sw_response_cb)(sw_module_t *self, int code, sw_msg_t *resp, void *arg);

/* One block a module keeps itself (block_provider, 1.1), e.g. an account
 * suspended from one address: what GET /api/v1/blocked lists under
 * "suspended". Strings are read during the emit call only. */
typedef struct sw_block_entry {
    uint32_t size;              /* sizeof(sw_block_entry_t) */
    const char *key;            /* what DELETE /api/v1/blocked/<key> takes, e.g. "1001@192.0.2.7" */
    const char *account;        /* the account it concerns, or NULL */
    const char *ip;             /* the address it concerns, or NULL */
    const char *reason;         /* a word, e.g. "register_failures" */
    uint64_t remaining_ms;      /* until it ends by itself */
    uint32_t failures;          /* the failures that led to it; 0 when not counted */
} sw_block_entry_t;

typedef void (*sw_block_emit_fn)(void *ctx, const sw_block_entry_t *entry);
/* Calls emit(ctx, &entry) for every block in force now. */
typedef void (*sw_block_list_fn)(sw_module_t *self, sw_block_emit_fn emit, void *ctx);
/* Lifts what `key` names (the module decides: an exact key, or e.g. every
 * block of an address or an account); returns how many blocks it lifted.
 * Also called with an address whose block in the core's table
 * DELETE /api/v1/blocked/<ip> lifts: forget its failure counts then. */
typedef size_t (*sw_block_clear_fn)(sw_module_t *self, const char *key);

typedef struct sw_api {
    uint32_t size;              /* sizeof the core's table: test before using newer entries */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- identity and errors --- */
    const char *(*core_version)(void);
    const char *(*module_name)(const sw_module_t *self);
    void (*set_error)(sw_module_t *self, const char *fmt, ...) SW_PRINTF(2, 3);
    void *(*get_data)(const sw_module_t *self);          /* per-module pointer */
    void (*set_data)(sw_module_t *self, void *data);

    /* --- logging (any thread); call_id may be NULL --- */
    void (*log)(sw_module_t *self, sw_log_level_t level, const char *call_id,
                const char *fmt, ...) SW_PRINTF(4, 5);
    void (*vlog)(sw_module_t *self, sw_log_level_t level, const char *call_id,
                 const char *fmt, va_list ap);
    int (*log_enabled)(sw_log_level_t level);

    /* --- memory (any thread) --- */
    void *(*alloc)(size_t n);       /* never returns NULL: aborts on exhaustion */
    void *(*calloc)(size_t n, size_t size);
    void *(*realloc)(void *p, size_t n);
    char *(*strdup)(const char *s);
    void (*free)(void *p);

    /* --- configuration (values validated by the core) ---
     * The getters return the value from the section given by cfg; for an object
     * view (param_object) a key not set there falls back to the global value. */
    int64_t (*param_int)(const sw_config_t *cfg, const char *name);    /* INT, BOOL, ENUM index, DURATION (ms) */
    const char *(*param_str)(const sw_config_t *cfg, const char *name);/* any type: the text as written */
    size_t (*param_list_len)(const sw_config_t *cfg, const char *name);
    int64_t (*param_list_int)(const sw_config_t *cfg, const char *name, size_t i);
    const char *(*param_list_str)(const sw_config_t *cfg, const char *name, size_t i);
    int (*param_is_set)(const sw_config_t *cfg, const char *name);     /* written in cfg (not default) */
    size_t (*object_count)(const sw_config_t *cfg, unsigned scope);    /* e.g. number of [gateway] sections */
    const char *(*object_name)(const sw_config_t *cfg, unsigned scope, size_t i);
    const sw_config_t *(*param_object)(const sw_config_t *cfg, unsigned scope, const char *name);

    /* --- timers (signaling thread). A repeating timer never overlaps itself. --- */
    sw_timer_t *(*timer_start)(sw_module_t *self, const char *name, uint64_t first_ms,
                               uint64_t repeat_ms, sw_timer_cb cb, void *arg);
    void (*timer_stop)(sw_timer_t *t);
    uint64_t (*now_ms)(void);       /* monotonic, loop time */
    uint64_t (*wallclock_ms)(void); /* Unix epoch ms */

    /* --- statistics (any thread), exported on /metrics as sipswitch_<module>_<name> ---
     * The name may end with Prometheus labels, e.g. "attempts_total{gateway=\"gw1\"}"
     * (since 1.1): stats of one name form one family, listed together. */
    sw_stat_t *(*stat_register)(sw_module_t *self, const char *name, const char *help,
                                sw_stat_kind_t kind);
    void (*stat_add)(sw_stat_t *st, int64_t delta);
    void (*stat_set)(sw_stat_t *st, int64_t value);

    /* --- SIP messages --- */
    int (*msg_is_request)(const sw_msg_t *m);
    const char *(*msg_method)(const sw_msg_t *m);        /* request method or CSeq method */
    int (*msg_status)(const sw_msg_t *m);                /* 0 for requests */
    const char *(*msg_call_id)(const sw_msg_t *m);
    /* The i-th value (0-based) of a header, by name, any case, compact forms
     * understood; NULL when absent. The string lives as long as the message. */
    const char *(*msg_header)(const sw_msg_t *m, const char *name, size_t i);
    size_t (*msg_header_count)(const sw_msg_t *m, const char *name);
    int (*msg_header_add)(sw_msg_t *m, const char *name, const char *value);
    int (*msg_header_remove)(sw_msg_t *m, const char *name); /* all values; returns how many */
    const char *(*msg_ruri)(const sw_msg_t *m);          /* Request-URI as text */
    const char *(*msg_body)(const sw_msg_t *m, size_t *len);
    const char *(*msg_source)(const sw_msg_t *m);        /* "ip:port" it came from */
    sw_transport_t (*msg_transport)(const sw_msg_t *m);
    uint64_t (*msg_socket_id)(const sw_msg_t *m);        /* local socket it arrived on */
    /* Answer a request statelessly (or through its transaction once one exists).
     * extra_headers: "Name: value\r\n" lines, or NULL. */
    int (*msg_reply)(sw_msg_t *req, int code, const char *reason, const char *extra_headers);

    /* --- calling other modules --- */
    /* Publish a versioned struct of functions for other modules (name unique per module). */
    int (*export_api)(sw_module_t *self, const char *name, const void *table);
    /* Find another module's table; NULL if the module is not loaded or has no such API. */
    const void *(*import_api)(sw_module_t *self, const char *module, const char *name);

    /* --- Lua arguments and results (signaling thread, inside a Lua call) --- */
    size_t (*lua_arg_count)(const sw_lua_args_t *a);
    sw_lua_type_t (*lua_arg_type)(const sw_lua_args_t *a, size_t i);
    int64_t (*lua_arg_int)(const sw_lua_args_t *a, size_t i);
    double (*lua_arg_number)(const sw_lua_args_t *a, size_t i);
    int (*lua_arg_bool)(const sw_lua_args_t *a, size_t i);
    const char *(*lua_arg_str)(const sw_lua_args_t *a, size_t i, size_t *len);
    void (*lua_push_nil)(sw_lua_ret_t *r);
    void (*lua_push_bool)(sw_lua_ret_t *r, int v);
    void (*lua_push_int)(sw_lua_ret_t *r, int64_t v);
    void (*lua_push_number)(sw_lua_ret_t *r, double v);
    void (*lua_push_str)(sw_lua_ret_t *r, const char *s, size_t len);
    int (*lua_error)(sw_lua_ret_t *r, const char *fmt, ...) SW_PRINTF(2, 3);

    /* --- ABI 1.1: calls and legs (signaling thread; handles are valid
     * during the callback they were passed to) --- */
    uint64_t (*call_uid)(const sw_call_t *c);            /* unique for the process' life */
    const char *(*call_sip_id)(const sw_call_t *c);      /* the caller's Call-ID */
    const char *(*call_caller)(const sw_call_t *c);      /* caller number (user part of From) */
    const char *(*call_callee)(const sw_call_t *c);      /* dialled number (user part of the R-URI) */
    const char *(*call_source)(const sw_call_t *c);      /* [mapping] name, or the source IP */
    int (*call_is_answered)(const sw_call_t *c);
    size_t (*call_attempt_count)(const sw_call_t *c);
    /* Fills *out (set out->size first) with attempt i (0-based); -1 when no such attempt. */
    int (*call_attempt)(const sw_call_t *c, size_t i, sw_attempt_info_t *out);
    const char *(*leg_gateway)(const sw_leg_t *leg);     /* routing gateway name */
    /* In on_attempt_start: the INVITE timeout of this attempt, unless the
     * script gave one for it (the script's per-attempt value wins). */
    void (*leg_set_invite_timeout)(sw_leg_t *leg, uint64_t ms);
    /* In on_attempt_start, before returning SW_HOOK_DROP: why the gateway is skipped. */
    void (*leg_skip)(sw_leg_t *leg, sw_attempt_outcome_t outcome, const char *reason);
    /* While the attempt is pending: fail it after `ms` with `outcome` (a
     * timeout outcome) unless it ends first; the core CANCELs the INVITE.
     * A new call replaces the previous deadline; ms = 0 clears it. */
    void (*leg_set_deadline)(sw_leg_t *leg, uint64_t ms, sw_attempt_outcome_t outcome);
    /* This module's pointer on a call (NULL until set). The core never frees
     * it: free it in on_call_end, the last hook a call sees. */
    void *(*call_get_data)(const sw_call_t *c, const sw_module_t *self);
    void (*call_set_data)(sw_call_t *c, sw_module_t *self, void *data);
    /* The numbers as the caller sent them (before the script rewrote them). */
    const char *(*call_caller_in)(const sw_call_t *c);
    const char *(*call_callee_in)(const sw_call_t *c);
    const char *(*call_source_ip)(const sw_call_t *c);
    int (*call_times)(const sw_call_t *c, sw_call_times_t *out); /* set out->size first; -1 without a call */
    /* Values the script attached with call:cdr_set(name, value), in the order
     * set; a name set twice keeps its last value. -1 past the last. */
    int (*call_var)(const sw_call_t *c, size_t i, const char **name, const char **value);
    /* In on_call_new only: refuse the call with `code` (300..699) before it is
     * routed; return SW_HOOK_HANDLED. end_reason (SW_END_*) is what
     * on_call_end reports, e.g. SW_END_OVERLOAD. */
    void (*call_reject)(sw_call_t *c, int code, const char *reason, int end_reason);
    /* The cfg file a view was read from (resolve a relative path parameter
     * against its directory, as the core does for `script`). */
    const char *(*config_file)(const sw_config_t *cfg);
    /* In on_attempt_start: the From of this attempt's INVITE (and of every
     * request the switch sends in its dialog), e.g. "Anonymous" and
     * "sip:anonymous@anonymous.invalid" (RFC 3323). display NULL or "": no
     * display name; uri NULL keeps the core's. The core adds the tag. */
    void (*leg_set_from)(sw_leg_t *leg, const char *display, const char *uri);
    /* The pending or answered attempt (the current B-leg), or NULL. */
    sw_leg_t *(*call_leg)(const sw_call_t *c);
    /* Sends a request inside an answered call's dialog on one side
     * (SW_PARTY_CALLER or SW_PARTY_CALLEE), e.g. a session refresh: the
     * core fills in the dialog headers, CSeq, route set and Contact, adds
     * extra_headers ("Name: value\r\n" lines, or NULL), and with_sdp adds
     * the session description the switch last gave that side (a re-INVITE
     * that changes nothing). The 2xx of an INVITE is ACKed by the core. The
     * on_leg_request / on_caller_request hooks see it. -1 when the call is
     * not answered, the side is unknown or nothing could be sent (cb not
     * called); 0 when sent: cb reports the result. */
    int (*call_send_request)(sw_module_t *self, sw_call_t *c, sw_party_t to, const char *method,
                             const char *extra_headers, int with_sdp, sw_request_cb cb, void *arg);
    /* Ends the call now with `end_reason` (SW_END_*), hung up by the switch:
     * an answered call gets BYE on both legs; one still being set up
     * answers the caller `code` (e.g. 503) and cancels the pending attempt.
     * on_call_end follows at once: the handle is invalid after this call.
     * Call it from a timer or a sw_request_cb, not from inside another hook
     * of the same call (the core is still working on it there). */
    void (*call_hangup)(sw_call_t *c, int end_reason, int code);
    /* The session description (SDP) the switch last sent to one side, or
     * NULL: what a refresh that changes nothing must offer again. */
    const char *(*call_sdp)(const sw_call_t *c, sw_party_t to);
    /* msg_reply with a body (content_type required when len > 0). */
    int (*msg_reply_body)(sw_msg_t *req, int code, const char *reason, const char *extra_headers,
                          const char *content_type, const char *body, size_t len);
    /* In on_request, for an INVITE: the request was authenticated as coming
     * from `account` (a registered device, or an upstream registration's
     * carrier): the call engine accepts it though no [mapping] covers its
     * source, and the call's source is that name (call_account). 0, or -1
     * for anything but an INVITE or an account that is not a token. */
    int (*msg_set_account)(sw_msg_t *req, const char *account);
    /* The account a call came from (msg_set_account), or NULL. */
    const char *(*call_account)(const sw_call_t *c);
    /* Sends a request outside any dialog as a user agent (REGISTER to a
     * carrier, an OPTIONS ping) with its own client transaction. `headers`:
     * every header line but Via, Max-Forwards and Content-Length ("Name:
     * value\r\n" lines: From, To, Call-ID, CSeq, Contact, ...); the core adds
     * the Via with a new branch, Max-Forwards: 70 and the body. dest is a
     * numeric "ip:port" ("[v6]:port"); socket_id 0 sends from the first
     * listening socket of that transport. 0 when sent (cb reports the final
     * response), -1 when not (cb not called). */
    int (*request_send)(sw_module_t *self, const char *method, const char *ruri, const char *headers,
                        const char *content_type, const char *body, size_t len, sw_transport_t transport,
                        const char *dest, uint64_t socket_id, sw_response_cb cb, void *arg);
    /* Our own "host:port" for a transport, as peers should reach us (Via,
     * Contact): the advertised address when cfg sets one. 0, or -1 when
     * the switch does not listen on that transport. */
    int (*local_address)(sw_transport_t transport, char *buf, size_t len);
    /* Tells the other modules (on_register) that a binding changed: the
     * registrar calls it; nat_keepalive listens. */
    void (*binding_event)(sw_module_t *self, const sw_binding_event_t *ev);
    /* Serves /api/v1/<path> (and below it) from the management API, e.g.
     * "registrations": [a-z0-9_/-], unique, not a core resource. Call it in
     * init or start. 0, or -1 (taken, or a bad path). */
    int (*http_route)(sw_module_t *self, const char *path, sw_http_fn fn);
    /* Sends bytes that are not a SIP message (a NAT keep-alive: "HELLO", or
     * CRLF CRLF on a TCP flow, RFC 5626 4.4.1) to a numeric "ip:port": UDP
     * from the local socket socket_id (0: the first UDP socket, so the
     * packet leaves through the pinhole the device registered through);
     * TCP on the pooled connection to that address. 0 when sent or queued. */
    int (*send_raw)(sw_transport_t transport, uint64_t socket_id, const char *dest, const void *data, size_t len);
    /* Rewrites `number` through the cfg's [dialplan NAME] (the rule
     * language of doc/lua-api.md, "Dial plans"; sw.dialplan.apply in Lua)
     * into out, NUL-terminated. 0, or -1 (out is then "") for an unknown
     * plan or a result that does not fit outlen or is longer than 127
     * characters. With number NULL it only tells whether the plan exists:
     * check the names read from cfg in init/reload (a reload installs its
     * cfg's plans before the modules' reload). */
    int (*dialplan_apply)(const char *name, const char *number, char *out, size_t outlen);
    /* A table as the next Lua result: the values pushed until lua_table_end
     * are its fields as key, value pairs (a string or integer key, then
     * any value, a table included), e.g. push_table; push_str "uri";
     * push_str "sip:..."; push_str "expires"; push_int 60; table_end. A
     * pair with a nil key or value sets nothing; a table left open ends
     * when the function returns. At most 16 levels deep. */
    void (*lua_push_table)(sw_lua_ret_t *r);
    void (*lua_table_end)(sw_lua_ret_t *r);
    /* Blocks an address in the core's per-source table, where the rate
     * limit's blocks are: everything from it is dropped before parsing,
     * whatever the rate settings, for duration_ms (at most 86400000), or
     * until DELETE /api/v1/blocked/<ip> or unblock_address. An IPv6
     * address blocks its /64. `reason` is a word ([A-Za-z0-9_.-], at most
     * 31 characters), listed by GET /api/v1/blocked with the module's name.
     * Blocking a blocked address keeps the later end. A trusted address (a
     * [mapping] source or a [gateway]) is never blocked: the core logs the
     * first such request per address. 0 blocked; 1 not blocked, trusted;
     * -1 not an IP address, a bad duration or reason, or no table (in
     * `sipswitch --check`). */
    int (*block_address)(sw_module_t *self, const char *ip, uint64_t duration_ms, const char *reason);
    /* Ends a block this module set on ip (the text GET /api/v1/blocked
     * shows, or any address of a blocked /64). 1 when one ended, else 0. */
    int (*unblock_address)(sw_module_t *self, const char *ip);
    /* Lists the blocks the module keeps itself (not whole addresses: those
     * go through block_address) in GET /api/v1/blocked, and lets
     * DELETE /api/v1/blocked/<key> lift them: both callbacks run on the
     * signaling thread. Call it in init or start, once. 0, or -1. */
    int (*block_provider)(sw_module_t *self, sw_block_list_fn list, sw_block_clear_fn clear);
    /* The line of cfg_file(cfg) where `name` was written in that view (a
     * module's section or an object's, from param_object), 0 when it was
     * not written (a default). For the errors a module finds itself in a
     * value: "file:line: reason", as the core's own. */
    int (*param_line)(const sw_config_t *cfg, const char *name);
} sw_api_t;

#ifdef __cplusplus
}
#endif
#endif /* SIPSWITCH_MODULE_H */
