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
 * The same table holds the blocks set from outside (sw_ratelimit_block: a
 * module that saw too many failed authentications from an address), with
 * who set them and why, so that one lookup before parsing drops both and
 * one list shows both. Those apply whatever the rate settings (even with
 * no limit), and never to a trusted address.
 *
 * The table has a fixed number of sets of a few entries each, indexed by a
 * keyed hash (a random key per table: peers cannot aim their addresses at
 * one set). A new address takes a free entry of its set, else the one
 * least recently seen that is not blocked, else the rate-limit block that
 * ends first. Blocks set from outside are forgotten last: a packet from a
 * new address never evicts one (when its set holds nothing else the
 * address is not tracked: it passes unlimited, counted as `untracked`);
 * only a new block set from outside may, the one that ends first (counted
 * as `evicted_blocks`). A flood of packets cannot wash away a block a
 * module decided on, and filling a set with such blocks takes thousands of
 * them across the table.
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
    SW_RL_BLOCKED,              /* blocked by the rate limit: drop */
    SW_RL_NEWLY_BLOCKED,        /* this packet exhausted the bucket: drop, the block starts now */
    SW_RL_BLOCKED_EXTERNAL      /* blocked from outside (sw_ratelimit_block): drop */
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

/* Whether addr is blocked now (by the limit or from outside), without
 * counting a packet. */
bool sw_ratelimit_is_blocked(const sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms);

/* The longest `by` and `reason` texts a block from outside may carry, and
 * how many different (by, reason) pairs one table remembers. */
#define SW_RL_TEXT_MAX 31
#define SW_RL_MAX_ORIGINS 31

typedef enum {
    SW_RL_BLOCK_SET = 0,        /* blocked (a longer block already there is kept) */
    SW_RL_BLOCK_TRUSTED,        /* not blocked: the address is trusted */
    SW_RL_BLOCK_TRUSTED_FIRST,  /* the same, asked for the first time for this address: worth a log line */
    SW_RL_BLOCK_INVALID,        /* not an IP address, no duration, or a bad `by` / `reason` text */
    SW_RL_BLOCK_TOO_MANY_ORIGINS /* SW_RL_MAX_ORIGINS different (by, reason) pairs are in use already */
} sw_rl_block_result_t;

/* Blocks the address written as text (IPv4 or IPv6; an IPv6 address blocks
 * its /64, as the limit does) for duration_ms from now_ms, on behalf of
 * `by` (a module's name) for `reason` (a word: letters, digits, '_', '-',
 * '.'), both at most SW_RL_TEXT_MAX characters. Everything from it is then
 * dropped whatever the rate settings, until the block ends or is lifted.
 * A trusted address (the callback, cached as for packets) is never
 * blocked. On an address blocked already, the later end wins and the block
 * takes this reason. Where the address's set is full of such blocks, the
 * one ending first makes room (sw_ratelimit_counters). */
sw_rl_block_result_t sw_ratelimit_block(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms,
                                        uint64_t duration_ms, const char *by, const char *reason,
                                        sw_rl_trust_fn trusted, void *ud);

/* One blocked address, for the management API. */
typedef struct sw_rl_blocked {
    char ip[48];                /* text; an IPv6 source as its /64 ("2001:db8::/64") */
    uint64_t remaining_ms;      /* until the block ends */
    uint64_t dropped;           /* packets dropped since the block started */
    const char *by;             /* who blocked it (sw_ratelimit_block), NULL for the rate limit */
    const char *reason;         /* "rate_limit", or the reason given to sw_ratelimit_block */
} sw_rl_blocked_t;              /* by and reason live as long as the table */

/* Fills out[0..max) with the addresses blocked at now_ms; returns how many
 * are blocked in all (may exceed max). */
size_t sw_ratelimit_list_blocked(const sw_ratelimit_t *rl, uint64_t now_ms, sw_rl_blocked_t *out, size_t max);
/* Ends the block of the address written as text (an IPv4 or IPv6 address;
 * any address of a blocked /64), whoever set it when only_by is NULL, else
 * only a block set by only_by. Returns true when one was lifted; *lifted
 * (when not NULL) then describes it as it was. */
bool sw_ratelimit_unblock(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms, const char *only_by,
                          sw_rl_blocked_t *lifted);
/* Addresses blocked at now_ms (the gauge). */
size_t sw_ratelimit_blocked_count(const sw_ratelimit_t *rl, uint64_t now_ms);
size_t sw_ratelimit_capacity(const sw_ratelimit_t *rl);

/* What the fixed size cost so far (see the top of this file). */
typedef struct sw_rl_counters {
    uint64_t untracked;         /* packets from addresses whose set was full of blocks set from outside */
    uint64_t evicted_blocks;    /* blocks set from outside ended early to make room for another */
} sw_rl_counters_t;
void sw_ratelimit_counters(const sw_ratelimit_t *rl, sw_rl_counters_t *out);

#endif
