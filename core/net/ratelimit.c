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

/* An entry's key: the address, an IPv6 one cut to its /64; family 0 marks
 * a free entry. */
typedef sw_ip_key_t rl_key_t;

typedef struct rl_entry {
    rl_key_t key;
    bool trusted;
    uint32_t trust_gen;
    uint64_t tokens;            /* thousandths of a token */
    uint64_t last_ms;           /* last packet (refill base, eviction order) */
    uint64_t blocked_until;     /* 0 = not blocked */
    uint64_t dropped;           /* packets dropped in the current block */
} rl_entry_t;

struct sw_ratelimit {
    rl_entry_t *entries;        /* n_sets * WAYS */
    size_t n_sets;              /* a power of two */
    uint64_t hash_key[2];
    uint32_t trust_gen;         /* entries with another generation ask again */
    sw_ratelimit_settings_t s;
};

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

/* The entry a new address replaces in its set: a free one, else the least
 * recently seen unblocked one, else the block that ends first. */
static rl_entry_t *victim(rl_entry_t *set, uint64_t now_ms)
{
    rl_entry_t *oldest = NULL, *soonest = NULL;
    for (int i = 0; i < WAYS; i++) {
        rl_entry_t *e = &set[i];
        if (e->key.family == 0)
            return e;
        if (!blocked_at(e, now_ms)) {
            if (!oldest || e->last_ms < oldest->last_ms)
                oldest = e;
        } else if (!soonest || e->blocked_until < soonest->blocked_until) {
            soonest = e;
        }
    }
    return oldest ? oldest : soonest;
}

static void refill_full(const sw_ratelimit_t *rl, rl_entry_t *e)
{
    e->tokens = (uint64_t)rl->s.burst * MILLI;
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
        e = victim(set_of(rl, &k), now_ms);
        memset(e, 0, sizeof *e);
        e->key = k;
        e->last_ms = now_ms;
        refill_full(rl, e);
    }
    if (e->trust_gen != rl->trust_gen) {
        e->trusted = trusted && trusted(addr, ud);
        e->trust_gen = rl->trust_gen;
    }
    if (is_trusted)
        *is_trusted = e->trusted;
    if (rl->s.rate == 0 || (e->trusted && !rl->s.limit_trusted)) {
        e->last_ms = now_ms;
        e->blocked_until = 0; /* blocked before a reload made it exempt */
        return SW_RL_PASS;
    }
    if (blocked_at(e, now_ms)) {
        e->dropped++;
        e->last_ms = now_ms;
        return SW_RL_BLOCKED;
    }
    if (e->blocked_until) {
        /* the block is over: start again with a full bucket */
        e->blocked_until = 0;
        e->dropped = 0;
        refill_full(rl, e);
    } else if (now_ms > e->last_ms) {
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
    e->dropped = 1;
    return SW_RL_NEWLY_BLOCKED;
}

bool sw_ratelimit_is_blocked(const sw_ratelimit_t *rl, const struct sockaddr *addr, uint64_t now_ms)
{
    rl_key_t k;
    if (rl->s.rate == 0 || !make_key(addr, &k))
        return false;
    const rl_entry_t *e = find(rl, &k);
    return e && blocked_at(e, now_ms);
}

static void key_text(const rl_key_t *k, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(k->family, k->addr, ip, sizeof ip);
    snprintf(out, n, k->family == AF_INET6 ? "%s/64" : "%s", ip);
}

size_t sw_ratelimit_list_blocked(const sw_ratelimit_t *rl, uint64_t now_ms, sw_rl_blocked_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rl->n_sets * WAYS; i++) {
        const rl_entry_t *e = &rl->entries[i];
        if (e->key.family == 0 || !blocked_at(e, now_ms))
            continue;
        if (n < max) {
            key_text(&e->key, out[n].ip, sizeof out[n].ip);
            out[n].remaining_ms = e->blocked_until - now_ms;
            out[n].dropped = e->dropped;
        }
        n++;
    }
    return n;
}

size_t sw_ratelimit_blocked_count(const sw_ratelimit_t *rl, uint64_t now_ms)
{
    return sw_ratelimit_list_blocked(rl, now_ms, NULL, 0);
}

bool sw_ratelimit_unblock(sw_ratelimit_t *rl, const char *ip_text, uint64_t now_ms)
{
    char text[64];
    size_t len = strlen(ip_text);
    if (len >= sizeof text)
        return false;
    memcpy(text, ip_text, len + 1);
    /* the text the list shows for an IPv6 /64 is accepted as it is */
    if (len > 3 && strcmp(text + len - 3, "/64") == 0)
        text[len - 3] = '\0';
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1)
        in4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return false;
    rl_key_t k;
    make_key((struct sockaddr *)&ss, &k);
    rl_entry_t *e = find(rl, &k);
    if (!e || !blocked_at(e, now_ms))
        return false;
    e->blocked_until = 0;
    e->dropped = 0;
    refill_full(rl, e);
    return true;
}
