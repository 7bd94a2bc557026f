/* Overload and flood protection: what the transports and the front door ask
 * before spending work on a packet, cheapest first.
 *
 *  1. Per source address, before anything is parsed (sw_guard_admit): the
 *     rate limit (net/ratelimit.h; trusted sources, i.e. the addresses of
 *     [mapping] sources and [gateway]s, exempt by default), and with
 *     drop_unknown_sources every packet from an untrusted address dropped
 *     silently: a scanner learns nothing, not even that a switch is there.
 *  2. On the raw header section of a framed message, before parsing
 *     (sw_guard_scanner, sw_guard_too_many_headers): the User-Agent
 *     blocklist and the header count.
 *  3. After parsing, before the transaction layer and routing
 *     (sw_guard_shed_request): when the signaling thread is behind (a UDP
 *     message waited longer than overload_message_age in the kernel) or
 *     max_transactions are live, a new out-of-dialog INVITE gets 503 with
 *     Retry-After; in-dialog requests, ACK, CANCEL and responses go on, so
 *     calls in progress complete.
 * Every drop and limit hit is counted (stats/metrics.h). Signaling thread. */
#ifndef SW_SIP_GUARD_H
#define SW_SIP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/ratelimit.h"
#include "sip/message.h"

struct sw_sources;
struct sw_gateways;

typedef struct sw_guard_settings {
    sw_ratelimit_settings_t rate_limit;
    char *const *scanner_user_agents;   /* substrings, matched ignoring case */
    size_t n_scanner_user_agents;
    bool drop_unknown_sources;
    uint64_t overload_message_age_ms;   /* 0: never shed for age */
    uint32_t overload_retry_after_s;
    size_t max_headers;
    size_t max_transactions;            /* 0: no cap */
} sw_guard_settings_t;

/* Takes the settings (copied) and the tables that say who is trusted (kept:
 * they must stay valid until the next call; NULL for none). The first call
 * creates the rate-limit table and its once-a-second sweep. */
void sw_guard_configure(const sw_guard_settings_t *s, const struct sw_sources *sources,
                        const struct sw_gateways *gateways);
/* Frees the table and stops the sweep (shutdown). */
void sw_guard_stop(void);

/* A packet (UDP) or a message or connection (TCP) from src: false means
 * drop it silently (counted as rate_limited or unknown_source). Without
 * sw_guard_configure everything is admitted. */
bool sw_guard_admit(const struct sockaddr *src);

/* True when the header section hdrs[0..len) (raw, as framed) has a
 * User-Agent containing one of scanner_user_agents: drop it silently
 * (counted as scanner). */
bool sw_guard_scanner(const char *hdrs, size_t len);

/* True (and counted) when a message has more header fields than max_headers. */
bool sw_guard_too_many_headers(size_t header_lines);

/* How long the message being handled waited in the kernel: UDP messages
 * carry the kernel's receive time; -1 when unknown (TCP). */
void sw_guard_note_message_age(int64_t age_ms);

/* What the front door does with a parsed request before the transaction
 * layer: handle it, answer 503 statelessly (Retry-After: *retry_after_s),
 * or drop it silently. */
typedef enum {
    SW_GUARD_HANDLE = 0,
    SW_GUARD_ANSWER_503,
    SW_GUARD_DROP
} sw_guard_action_t;
sw_guard_action_t sw_guard_shed_request(const sw_msg_t *req, uint32_t *retry_after_s);

/* The management API's view (run on the loop, see core/http/mgmt.c). */
size_t sw_guard_list_blocked(sw_rl_blocked_t *out, size_t max);
/* Ends the block of an address (the text the list shows), whoever set it
 * when only_by is NULL (the management API), else only one set by the
 * module only_by. True when one ended (logged). */
bool sw_guard_unblock(const char *ip_text, const char *only_by);

/* A module blocks an address (module.h block_address): see
 * sw_ratelimit_block; trusted means a [mapping] source or a [gateway]
 * address, never blocked. Logged: the block, and the first refusal for a
 * trusted address. SW_RL_BLOCK_INVALID before sw_guard_configure. */
sw_rl_block_result_t sw_guard_block(const char *ip_text, uint64_t duration_ms, const char *by, const char *reason);

#endif
