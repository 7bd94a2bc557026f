/* A peer's IP address as a fixed-size key for hashing and comparing (the
 * port left out): the rate-limit table, the per-IP TCP connection counts
 * and the guard's trusted gateway addresses all key by it. An IPv4 peer
 * of a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address. */
#ifndef SW_NET_IP_KEY_H
#define SW_NET_IP_KEY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

typedef struct sw_ip_key {
    uint8_t family;             /* AF_INET or AF_INET6; 0 = none */
    uint8_t addr[16];           /* network order; IPv4 in the first 4, the rest zero */
} sw_ip_key_t;

/* False (and a zero key) for an address that is neither IPv4 nor IPv6. */
static inline bool sw_ip_key_of(const struct sockaddr *sa, sw_ip_key_t *k)
{
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        k->family = AF_INET;
        memcpy(k->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        k->family = AF_INET;
        memcpy(k->addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
        k->family = AF_INET6;
        memcpy(k->addr, in6->sin6_addr.s6_addr, 16);
    }
    return true;
}

static inline bool sw_ip_key_equal(const sw_ip_key_t *a, const sw_ip_key_t *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

#endif
