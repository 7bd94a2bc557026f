/* Per-source-IP rate limit: see ratelimit.h for the why. */
#include "config.h"

#include "net/ratelimit.h"
#include "net/ip_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

#define WAYS 8                  /* entries per set: a set is scanned whole on a miss */
#define MILLI 1000              /* tokens are counted in thousandths */
#define ORIGIN_RATE_LIMIT 0     /* an entry's origin: its block is the limit's own */

/* An entry's key: the address, an IPv6 one cut to its /64; family 0 marks
 * a free entry. */
typedef sw_ip_key_t rl_key_t;

typedef struct rl_entry {
    rl_key_t key;
    bool trusted;
    bool trust_refusal_told;    /* a block from outside was refused for trust, and the caller told so */
    uint8_t origin;             /* of the block: ORIGIN_RATE_LIMIT, else an index in origins */
    uint32_t trust_gen;
    uint64_t tokens;            /* thousandths of a token */
    uint64_t last_ms;           /* last packet (refill base, eviction order) */
    uint64_t blocked_until;     /* 0 = not blocked */
    uint64_t dropped;           /* packets dropped in the current block */
} rl_entry_t;

/* Who set a block from outside and why: a few pairs, never forgotten, so
 * that an entry names one in a byte. */
typedef struct rl_origin {
    char by[SW_RL_TEXT_MAX + 1];
    char reason[SW_RL_TEXT_MAX + 1];
} rl_origin_t;

struct sw_ratelimit {
    rl_entry_t *entries;        /* n_sets * WAYS */
    size_t n_sets;              /* a power of two */
    uint64_t hash_key[2];
    uint32_t trust_gen;         /* entries with another generation ask again */
    sw_ratelimit_settings_t s;
    rl_origin_t origins[SW_RL_MAX_ORIGINS + 1]; /* [0] unused: ORIGIN_RATE_LIMIT */
    size_t n_origins;           /* used: origins[1..n_origins] */
    sw_rl_counters_t counters;
    uint64_t blocks_end_by;     /* no block set so far lasts past this: listing them
                                   after it needs no scan of the table */
};

static void note_block_end(sw_ratelimit_t *rl, uint64_t until)
{
    if (until > rl->blocks_end_by)
        rl->blocks_end_by = until;
}

sw_ratelimit_t *sw_ratelimit_new(size_t capacity)
{
    sw_ratelimit_t *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->n_sets = 1;
    while (rl->n_sets * WAYS < capacity)
        rl->n_sets *= 2;
    rl->entries = calloc(rl->n_sets * WAYS, sizeof *rl->entries);
    if (!rl->entries) {
        free(rl);
        return NULL;
    }
    sw_random_bytes((unsigned char *)rl->hash_key, sizeof rl->hash_key);
    rl->trust_gen = 1;
    rl->s.burst = 1;
    return rl;
}

void sw_ratelimit_free(sw_ratelimit_t *rl)
{
    if (!rl)
        return;
    free(rl->entries);
    free(rl);
}

void sw_ratelimit_configure(sw_ratelimit_t *rl, const sw_ratelimit_settings_t *s)
{
    rl->s = *s;
    if (rl->s.burst == 0)
        rl->s.burst = 1;
}

void sw_ratelimit_forget_trust(sw_ratelimit_t *rl)
{
    rl->trust_gen++;
    if (rl->trust_gen == 0)
        rl->trust_gen = 1; /* 0 marks an entry that never asked */
}

size_t sw_ratelimit_capacity(const sw_ratelimit_t *rl)
{
    return rl->n_sets * WAYS;
}

static bool make_key(const struct sockaddr *sa, rl_key_t *k)
{
    if (!sw_ip_key_of(sa, k))
        return false;
    if (k->family == AF_INET6)
        memset(k->addr + 8, 0, 8); /* the /64 */
    return true;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static rl_entry_t *set_of(const sw_ratelimit_t *rl, const rl_key_t *k)
{
    uint64_t w0, w1;
    memcpy(&w0, k->addr, 8);
    memcpy(&w1, k->addr + 8, 8);
    uint64_t h = mix64(rl->hash_key[0] ^ w0 ^ ((uint64_t)k->family << 56));
    h = mix64(h ^ w1 ^ rl->hash_key[1]);
    return &rl->entries[(h & (rl->n_sets - 1)) * WAYS];
}

static rl_entry_t *find(const sw_ratelimit_t *rl, const rl_key_t *k)
{
    rl_entry_t *set = set_of(rl, k);
    for (int i = 0; i < WAYS; i++)
        if (sw_ip_key_equal(&set[i].key, k))
            return &set[i];
    return NULL;
}

static bool blocked_at(const rl_entry_t *e, uint64_t now_ms)
{
    return e->blocked_until > now_ms;
}

/* Whether the limit applies to an entry's address (its trust as cached). */
static bool limited(const sw_ratelimit_t *rl, const rl_entry_t *e)
{
    return rl->s.rate != 0 && (!e->trusted || rl->s.limit_trusted);
}

/* A block still in force: its time not over, and its reason still valid (a
 * reload may have set the rate to 0, or made the address trusted: those
 * blocks end at the address's next packet, and no longer count meanwhile). */
static bool in_force(const sw_ratelimit_t *rl, const rl_entry_t *e, uint64_t now_ms)
{
    if (!blocked_at(e, now_ms))
        return false;
    return e->origin == ORIGIN_RATE_LIMIT ? limited(rl, e) : !e->trusted;
}

/* The entry a new address replaces in its set: a free one, else the least
 * recently seen unblocked one, else the rate-limit block that ends first,
 * else (only when may_evict_external) the block from outside that ends
 * first. NULL when none may go. */
static rl_entry_t *victim(rl_entry_t *set, uint64_t now_ms, bool may_evict_external)
{
    rl_entry_t *oldest = NULL, *soonest = NULL, *soonest_external = NULL;
    for (int i = 0; i < WAYS; i++) {
        rl_entry_t *e = &set[i];
        if (e->key.family == 0)
            return e;
        if (!blocked_at(e, now_ms)) {
            if (!oldest || e->last_ms < oldest->last_ms)
                oldest = e;
        } else if (e->origin == ORIGIN_RATE_LIMIT) {
            if (!soonest || e->blocked_until < soonest->blocked_until)
                soonest = e;
        } else if (!soonest_external || e->blocked_until < soonest_external->blocked_until) {
            soonest_external = e;
        }
    }
    if (oldest)
        return oldest;
    if (soonest)
        return soonest;
    return may_evict_external ? soonest_external : NULL;
}

static void refill_full(const sw_ratelimit_t *rl, rl_entry_t *e)
{
    e->tokens = (uint64_t)rl->s.burst * MILLI;
}

static void end_block(const sw_ratelimit_t *rl, rl_entry_t *e)
{
    e->blocked_until = 0;
    e->dropped = 0;
    e->origin = ORIGIN_RATE_LIMIT;
    refill_full(rl, e);
}

/* A fresh entry for key k in place of *e. */
static void take_entry(const sw_ratelimit_t *rl, rl_entry_t *e, const rl_key_t *k, uint64_t now_ms)
{
    memset(e, 0, sizeof *e);
    e->key = *k;
    e->last_ms = now_ms;
    refill_full(rl, e);
}

static void refresh_trust(const sw_ratelimit_t *rl, rl_entry_t *e, const struct sockaddr *addr,
                          sw_rl_trust_fn trusted, void *ud)
{
    if (e->trust_gen == rl->trust_gen)
        return;
    e->trusted = trusted && trusted(addr, ud);
    e->trust_gen = rl->trust_gen;
    e->trust_refusal_told = false;
}

sw_rl_verdict_t sw_ratelimit_check(sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms,
                                   sw_rl_trust_fn trusted, void *ud, bool *is_trusted)
{
    rl_key_t k;
    if (is_trusted)
        *is_trusted = false;
    if (!make_key(addr, &k))
        return SW_RL_PASS;
    rl_entry_t *e = find(rl, &k);
    if (!e) {
        e = victim(set_of(rl, &k), now_ms, false);
        if (!e) {
            /* the set holds only blocks set from outside: they stay, this
             * address goes untracked (and trusted or not, it passes) */
            rl->counters.untracked++;
            if (is_trusted)
                *is_trusted = trusted && trusted(addr, ud);
            return SW_RL_PASS;
        }
        take_entry(rl, e, &k, now_ms);
    }
    refresh_trust(rl, e, addr, trusted, ud);
    if (is_trusted)
        *is_trusted = e->trusted;
    if (in_force(rl, e, now_ms)) {
        e->dropped++;
        e->last_ms = now_ms;
        return e->origin == ORIGIN_RATE_LIMIT ? SW_RL_BLOCKED : SW_RL_BLOCKED_EXTERNAL;
    }
    bool block_ended = e->blocked_until != 0; /* over, or no longer valid after a reload */
    if (block_ended)
        end_block(rl, e); /* start again with a full bucket */
    if (!limited(rl, e)) {
        e->last_ms = now_ms;
        return SW_RL_PASS;
    }
    if (!block_ended && now_ms > e->last_ms) {
        /* `rate` a second is `rate` thousandths a millisecond */
        uint64_t cap = (uint64_t)rl->s.burst * MILLI, elapsed = now_ms - e->last_ms;
        if (elapsed > cap / rl->s.rate)
            e->tokens = cap; /* (and elapsed * rate cannot overflow below) */
        else
            e->tokens = e->tokens + elapsed * rl->s.rate < cap ? e->tokens + elapsed * rl->s.rate : cap;
    }
    e->last_ms = now_ms;
    if (e->tokens >= MILLI) {
        e->tokens -= MILLI;
        return SW_RL_PASS;
    }
    e->blocked_until = now_ms + (rl->s.block_ms ? rl->s.block_ms : 1);
    note_block_end(rl, e->blocked_until);
    e->origin = ORIGIN_RATE_LIMIT;
    e->dropped = 1;
    return SW_RL_NEWLY_BLOCKED;
}

bool sw_ratelimit_is_blocked(const sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms)
{
    rl_key_t k;
    if (!make_key(addr, &k))
        return false;
    const rl_entry_t *e = find(rl, &k);
    return e && in_force(rl, e, now_ms);
}

/* ---- blocks set from outside ---------------------------------------------- */

/* An IPv4 or IPv6 address as text into *ss; with slash64, "x::/64" (the
 * text the list shows for an IPv6 source) is taken as x::. */
static bool parse_ip(const char *ip_text, bool slash64, struct sockaddr_storage *ss)
{
    char text[64];
    size_t len = strlen(ip_text);
    if (len >= sizeof text)
        return false;
    memcpy(text, ip_text, len + 1);
    if (slash64 && len > 3 && strcmp(text + len - 3, "/64") == 0)
        text[len - 3] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static bool is_word(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= SW_RL_TEXT_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* The origin index of (by, reason), added when new; 0 when the table of
 * origins is full. */
static uint8_t origin_of(sw_ratelimit_t *rl, const char *by, const char *reason)
{
    for (size_t i = 1; i <= rl->n_origins; i++)
        if (strcmp(rl->origins[i].by, by) == 0 && strcmp(rl->origins[i].reason, reason) == 0)
            return (uint8_t)i;
    if (rl->n_origins == SW_RL_MAX_ORIGINS)
        return ORIGIN_RATE_LIMIT;
    rl_origin_t *o = &rl->origins[++rl->n_origins];
    snprintf(o->by, sizeof o->by, "%s", by);
    snprintf(o->reason, sizeof o->reason, "%s", reason);
    return (uint8_t)rl->n_origins;
}

sw_rl_block_result_t sw_ratelimit_block(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms,
                                        uint64_t duration_ms, const char *by, const char *reason,
                                        sw_rl_trust_fn trusted, void *ud)
{
    struct sockaddr_storage ss;
    rl_key_t k;
    if (!ip_text || !parse_ip(ip_text, false, &ss) || !make_key((struct sockaddr *)&ss, &k) || duration_ms == 0 ||
        !is_word(by) || !is_word(reason))
        return SW_RL_BLOCK_INVALID;
    rl_entry_t *e = find(rl, &k);
    if (!e) {
        e = victim(set_of(rl, &k), now_ms, true);
        if (blocked_at(e, now_ms) && e->origin != ORIGIN_RATE_LIMIT)
            rl->counters.evicted_blocks++;
        take_entry(rl, e, &k, now_ms);
    }
    refresh_trust(rl, e, (struct sockaddr *)&ss, trusted, ud);
    if (e->trusted) {
        if (e->trust_refusal_told)
            return SW_RL_BLOCK_TRUSTED;
        e->trust_refusal_told = true;
        return SW_RL_BLOCK_TRUSTED_FIRST;
    }
    uint8_t origin = origin_of(rl, by, reason);
    if (origin == ORIGIN_RATE_LIMIT)
        return SW_RL_BLOCK_TOO_MANY_ORIGINS;
    uint64_t until = duration_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + duration_ms;
    note_block_end(rl, until);
    if (!in_force(rl, e, now_ms)) {
        e->dropped = 0;
        e->blocked_until = until;
        e->origin = origin;
        return SW_RL_BLOCK_SET;
    }
    /* blocked already: a rate-limit block becomes this one (kept from
     * eviction, listed with its reason); between blocks from outside the
     * one that ends last names it */
    if (e->origin == ORIGIN_RATE_LIMIT || until >= e->blocked_until)
        e->origin = origin;
    if (until > e->blocked_until)
        e->blocked_until = until;
    return SW_RL_BLOCK_SET;
}

void sw_ratelimit_counters(const sw_ratelimit_t *rl, sw_rl_counters_t *out)
{
    *out = rl->counters;
}

static void key_text(const rl_key_t *k, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(k->family, k->addr, ip, sizeof ip);
    snprintf(out, n, k->family == AF_INET6 ? "%s/64" : "%s", ip);
}

static void describe(const sw_ratelimit_t *rl, const rl_entry_t *e, uint64_t now_ms, sw_rl_blocked_t *out)
{
    key_text(&e->key, out->ip, sizeof out->ip);
    out->remaining_ms = e->blocked_until - now_ms;
    out->dropped = e->dropped;
    out->by = e->origin == ORIGIN_RATE_LIMIT ? NULL : rl->origins[e->origin].by;
    out->reason = e->origin == ORIGIN_RATE_LIMIT ? "rate_limit" : rl->origins[e->origin].reason;
}

size_t sw_ratelimit_list_blocked(const sw_ratelimit_t *rl, uint64_t now_ms, sw_rl_blocked_t *out, size_t max)
{
    size_t n = 0;
    if (now_ms >= rl->blocks_end_by)
        return 0; /* every block ever set is over: the usual case, counted once a second */
    for (size_t i = 0; i < rl->n_sets * WAYS; i++) {
        const rl_entry_t *e = &rl->entries[i];
        if (e->key.family == 0 || !in_force(rl, e, now_ms))
            continue;
        if (n < max)
            describe(rl, e, now_ms, &out[n]);
        n++;
    }
    return n;
}

size_t sw_ratelimit_blocked_count(const sw_ratelimit_t *rl, uint64_t now_ms)
{
    return sw_ratelimit_list_blocked(rl, now_ms, NULL, 0);
}

bool sw_ratelimit_unblock(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms, const char *only_by,
                          sw_rl_blocked_t *lifted)
{
    struct sockaddr_storage ss;
    rl_key_t k;
    if (!ip_text || !parse_ip(ip_text, true, &ss) || !make_key((struct sockaddr *)&ss, &k))
        return false;
    rl_entry_t *e = find(rl, &k);
    if (!e || !in_force(rl, e, now_ms))
        return false;
    if (only_by && (e->origin == ORIGIN_RATE_LIMIT || strcmp(rl->origins[e->origin].by, only_by) != 0))
        return false;
    if (lifted)
        describe(rl, e, now_ms, lifted);
    end_block(rl, e);
    return true;
}
