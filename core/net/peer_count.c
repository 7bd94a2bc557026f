/* TCP connections per peer IP address: see peer_count.h. */
#include "config.h"

#include "net/peer_count.h"
#include "net/ip_key.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

typedef struct peer {
    sw_ip_key_t key;
    size_t count;
    struct peer *next;
} peer_t;

static peer_t **buckets;
static size_t n_buckets;        /* a power of two, 0 until first use */
static size_t n_peers;
static uint64_t hash_key;       /* random: peers cannot choose one chain for all */

static size_t bucket_of(const sw_ip_key_t *k, size_t nb)
{
    uint64_t h = hash_key ^ k->family;
    for (int i = 0; i < 16; i++)
        h = (h ^ k->addr[i]) * 1099511628211ULL;
    h ^= h >> 32;
    return (size_t)h & (nb - 1);
}

static peer_t **find(const sw_ip_key_t *k)
{
    if (!n_buckets)
        return NULL;
    peer_t **pp = &buckets[bucket_of(k, n_buckets)];
    while (*pp && !sw_ip_key_equal(&(*pp)->key, k))
        pp = &(*pp)->next;
    return pp;
}

static void grow(void)
{
    size_t nb = n_buckets ? n_buckets * 2 : 256;
    peer_t **nt = calloc(nb, sizeof *nt);
    if (!nt)
        return; /* longer chains, nothing breaks */
    if (!n_buckets)
        sw_random_bytes((unsigned char *)&hash_key, sizeof hash_key);
    for (size_t i = 0; i < n_buckets; i++)
        for (peer_t *p = buckets[i], *next; p; p = next) {
            next = p->next;
            size_t b = bucket_of(&p->key, nb);
            p->next = nt[b];
            nt[b] = p;
        }
    free(buckets);
    buckets = nt;
    n_buckets = nb;
}

bool sw_peer_count_add(const struct sockaddr *sa, size_t limit)
{
    sw_ip_key_t k;
    if (!sw_ip_key_of(sa, &k))
        return true;
    if (n_peers >= n_buckets)
        grow();
    peer_t **pp = find(&k);
    if (!pp)
        return false;
    if (*pp) {
        if (limit && (*pp)->count >= limit)
            return false;
        (*pp)->count++;
        return true;
    }
    peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    p->key = k;
    p->count = 1;
    *pp = p;
    n_peers++;
    return true;
}

void sw_peer_count_remove(const struct sockaddr *sa)
{
    sw_ip_key_t k;
    if (!sw_ip_key_of(sa, &k))
        return;
    peer_t **pp = find(&k);
    if (!pp || !*pp)
        return;
    if (--(*pp)->count == 0) {
        peer_t *p = *pp;
        *pp = p->next;
        free(p);
        n_peers--;
    }
}

size_t sw_peer_count_get(const struct sockaddr *sa)
{
    sw_ip_key_t k;
    if (!sw_ip_key_of(sa, &k))
        return 0;
    peer_t **pp = find(&k);
    return pp && *pp ? (*pp)->count : 0;
}

void sw_peer_count_clear(void)
{
    for (size_t i = 0; i < n_buckets; i++)
        while (buckets[i]) {
            peer_t *p = buckets[i];
            buckets[i] = p->next;
            free(p);
        }
    free(buckets);
    buckets = NULL;
    n_buckets = n_peers = 0;
}
