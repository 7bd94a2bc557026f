/* Core metrics: lock-free counters written on the signaling thread (and
 * others) and read by the HTTP thread for /metrics. */
#ifndef SW_CORE_METRICS_H
#define SW_CORE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sipswitch/module.h"

/* Methods counted by name; everything else is "other". */
typedef enum {
    SW_M_INVITE, SW_M_ACK, SW_M_BYE, SW_M_CANCEL, SW_M_OPTIONS, SW_M_REGISTER,
    SW_M_PRACK, SW_M_UPDATE, SW_M_INFO, SW_M_SUBSCRIBE, SW_M_NOTIFY, SW_M_REFER,
    SW_M_MESSAGE, SW_M_PUBLISH, SW_M_OTHER, SW_M_COUNT
} sw_method_idx_t;

/* Why a message was dropped without an answer. */
typedef enum {
    SW_DROP_UNPARSEABLE,     /* malformed and no way to answer */
    SW_DROP_UNMATCHED_RESPONSE,
    SW_DROP_OVERSIZE,
    SW_DROP_BY_MODULE,
    SW_DROP_ACK_NO_TRANSACTION,
    SW_DROP_SEND_FAILED,
    SW_DROP_TCP_LIMIT,
    SW_DROP_RATE_LIMITED,    /* from a source address blocked by the rate limit */
    SW_DROP_SCANNER,         /* User-Agent in scanner_user_agents */
    SW_DROP_UNKNOWN_SOURCE,  /* drop_unknown_sources: no [mapping] nor [gateway] address */
    SW_DROP_TRANSACTION_LIMIT, /* a new request past max_transactions (INVITEs get 503 instead) */
    SW_DROP_TCP_PER_IP_LIMIT, /* a TCP connection past max_tcp_connections_per_ip */
    SW_DROP_BLOCKED,         /* from a source address a module blocked (module.h block_address) */
    SW_DROP_COUNT
} sw_drop_reason_t;

/* Limits of core/sip/guard.c and the transports: each hit is counted. */
typedef enum {
    SW_LIMIT_MESSAGE_SIZE,
    SW_LIMIT_HEADERS,
    SW_LIMIT_TCP_CONNECTIONS,
    SW_LIMIT_TCP_CONNECTIONS_PER_IP,
    SW_LIMIT_TCP_IDLE_TIMEOUT,
    SW_LIMIT_TRANSACTIONS,
    SW_LIMIT_COUNT
} sw_limit_t;

/* sw_tx_kind_t runs 1..4 (transaction.h); index 0 is unused. */
#define SW_TX_METRIC_KINDS 5

typedef struct sw_metrics {
    _Atomic uint64_t requests_in[SW_M_COUNT];
    _Atomic uint64_t requests_out[SW_M_COUNT];
    _Atomic uint64_t responses_in[700];   /* by status code 100..699 */
    _Atomic uint64_t responses_out[700];
    _Atomic uint64_t parse_errors;
    _Atomic uint64_t drops[SW_DROP_COUNT];
    _Atomic uint64_t lua_errors;
    _Atomic uint64_t lua_budget_exceeded;
    _Atomic uint64_t lua_calls;
    _Atomic uint64_t lua_time_us;
    _Atomic uint64_t reloads_ok;
    _Atomic uint64_t reloads_failed;
    _Atomic uint64_t script_loads_refused;
    _Atomic int64_t tcp_connections;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    /* the transaction layer (core/sip/transaction.c) */
    _Atomic int64_t transactions[SW_TX_METRIC_KINDS]; /* live, indexed by sw_tx_kind_t (0 unused) */
    _Atomic uint64_t tx_retransmissions;  /* requests and responses we re-sent on the resend schedule */
    _Atomic uint64_t tx_absorbed;         /* retransmitted requests and responses absorbed */
    _Atomic uint64_t tx_timeouts;         /* client: no answer in time; server: final never ACKed */
    _Atomic uint64_t tx_transport_errors; /* client transactions failed by the transport (TCP connect) */
    /* overload and flood protection (core/sip/guard.c) */
    _Atomic uint64_t limit_hits[SW_LIMIT_COUNT];
    _Atomic uint64_t overload_rejected;   /* new INVITEs answered 503 because the loop is behind */
    _Atomic uint64_t source_blocks;       /* times a source address got blocked by the rate limit */
    _Atomic int64_t blocked_sources;      /* source addresses blocked now (rate limit or a module) */
    _Atomic int64_t message_delay_ms;     /* longest wait of a UDP message in the kernel, last second */
} sw_metrics_t;

extern sw_metrics_t sw_metrics;

sw_method_idx_t sw_method_index(const char *method);
const char *sw_method_name(sw_method_idx_t idx);
const char *sw_drop_reason_name(sw_drop_reason_t r);

static inline void sw_metric_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Module metrics registry (sw_api_t.stat_*). */
sw_stat_t *sw_stat_register(const char *module, const char *name, const char *help, sw_stat_kind_t kind);
void sw_stat_add(sw_stat_t *st, int64_t delta);
void sw_stat_set(sw_stat_t *st, int64_t value);

/* Renders every metric in Prometheus text format into a malloc'd string. */
char *sw_metrics_render(void);

#endif
