/* Per-source-IP request rate limit with a block time, in a table of fixed
 * size. A flood from one address must cost the switch a hash probe per
 * packet, before any parsing, and memory that does not grow with the
 * number of addresses seen.
 *
 * Each source address has a token bucket (`rate` tokens a second, at most
 * `burst`): a packet takes a token; a packet finding none blocks the
 * address for `block_ms`, during which everything from it is dropped. When
 * the block ends the bucket starts full again. IPv6 sources are keyed by
 * their /64, which one subscriber usually holds whole.
 *
 * The table has a fixed number of sets of a few entries each, indexed by a
 * keyed hash (a random key per table: peers cannot aim their addresses at
 * one set). A new address takes a free entry of its set, else the one
 * least recently seen that is not blocked, else the block that ends first:
 * blocked addresses are the last ones forgotten.
 *
 * Whether an address is exempt ("trusted": a customer or a carrier) is asked
 * once per entry through a callback and cached with the table's trust
 * generation; sw_ratelimit_forget_trust makes every entry ask again (after
 * a reload changed the mappings or gateways). Single-threaded (the
 * signaling loop); time comes from the caller in milliseconds. */
#ifndef SW_NET_RATELIMIT_H
#define SW_NET_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct sw_ratelimit sw_ratelimit_t;

typedef struct sw_ratelimit_settings {
    uint32_t rate;              /* tokens (requests) per second; 0 = no limit */
    uint32_t burst;             /* bucket size; at least 1 */
    uint64_t block_ms;          /* how long an address that ran dry is blocked */
    bool limit_trusted;         /* trusted addresses are limited too (else exempt) */
} sw_ratelimit_settings_t;

typedef enum {
    SW_RL_PASS = 0,             /* under the limit, or exempt */
    SW_RL_BLOCKED,              /* blocked: drop */
    SW_RL_NEWLY_BLOCKED         /* this packet exhausted the bucket: drop, the block starts now */
} sw_rl_verdict_t;

/* Asked once per entry: is this address exempt from the limit? */
typedef bool (*sw_rl_trust_fn)(const struct sockaddr *addr, void *ud);

/* A table of at least `capacity` entries (rounded up to whole sets). */
sw_ratelimit_t *sw_ratelimit_new(size_t capacity);
void sw_ratelimit_free(sw_ratelimit_t *rl);
/* New settings apply to every entry from its next packet on. */
void sw_ratelimit_configure(sw_ratelimit_t *rl, const sw_ratelimit_settings_t *s);
void sw_ratelimit_forget_trust(sw_ratelimit_t *rl);

/* One packet from addr at now_ms (a monotonic clock). *is_trusted (when
 * not NULL) tells what the trust callback said of the address, even with
 * no limit set (rate 0): the table is also the cache of trust. */
sw_rl_verdict_t sw_ratelimit_check(sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms,
                                   sw_rl_trust_fn trusted, void *ud, bool *is_trusted);

/* Whether addr is blocked now, without counting a packet. */
bool sw_ratelimit_is_blocked(const sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms);

/* One blocked address, for the management API. */
typedef struct sw_rl_blocked {
    char ip[48];                /* text; an IPv6 source as its /64 ("2001:db8::/64") */
    uint64_t remaining_ms;      /* until the block ends */
    uint64_t dropped;           /* packets dropped since the block started */
} sw_rl_blocked_t;

/* Fills out[0..max) with the addresses blocked at now_ms; returns how many
 * are blocked in all (may exceed max). */
size_t sw_ratelimit_list_blocked(const sw_ratelimit_t *rl, uint64_t now_ms, sw_rl_blocked_t *out, size_t max);
/* Ends the block of the address written as text (an IPv4 or IPv6 address;
 * any address of a blocked /64). Returns true when one was blocked. */
bool sw_ratelimit_unblock(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms);
/* Addresses blocked at now_ms (the gauge). */
size_t sw_ratelimit_blocked_count(const sw_ratelimit_t *rl, uint64_t now_ms);
size_t sw_ratelimit_capacity(const sw_ratelimit_t *rl);

#endif
