#include "ip_match.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* inet_pton on a counted string. Returns the family, or 0. */
static int to_bytes(const char *s, size_t len, uint8_t *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, buf, out) == 1)
        return AF_INET6;
    return 0;
}

int reg_cidr_parse(const char *text, reg_cidr_t *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return -1;
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    out->family = to_bytes(text, alen, out->addr);
    if (!out->family)
        return -1;
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        char *end;
        if (!slash[1] || slash[1] == '-' || slash[1] == '+')
            return -1;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (*end || p > max)
            return -1;
        out->prefix = (unsigned)p;
    }
    /* clear host bits so that a block written as 192.0.2.7/24 matches its /24 */
    for (unsigned bit = out->prefix; bit < max; bit++)
        out->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

int reg_cidr_contains(const reg_cidr_t *c, const char *ip)
{
    uint8_t a[16];
    if (!ip || to_bytes(ip, strlen(ip), a) != c->family)
        return 0;
    for (unsigned bit = 0; bit < c->prefix; bit++) {
        uint8_t mask = (uint8_t)(0x80u >> (bit % 8));
        if ((a[bit / 8] & mask) != (c->addr[bit / 8] & mask))
            return 0;
    }
    return 1;
}

int reg_source_split(const char *source, char *ip, size_t iplen, unsigned *port)
{
    if (!source || !ip || iplen == 0)
        return -1;
    const char *host = source, *colon;
    size_t hl;
    if (source[0] == '[') {
        const char *close = strchr(source, ']');
        if (!close || close[1] != ':')
            return -1;
        host = source + 1;
        hl = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(source, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - source);
    }
    if (hl == 0 || hl >= iplen)
        return -1;
    unsigned long p = 0;
    const char *digit = colon + 1;
    for (; *digit >= '0' && *digit <= '9' && p <= 65535; digit++)
        p = p * 10 + (unsigned long)(*digit - '0');
    if (*digit || digit == colon + 1 || p > 65535)
        return -1;
    memcpy(ip, host, hl);
    ip[hl] = '\0';
    if (port)
        *port = (unsigned)p;
    return 0;
}

int reg_ip_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    uint8_t x[16], y[16];
    int fa = to_bytes(a, alen, x), fb = to_bytes(b, blen, y);
    if (!fa || fa != fb)
        return 0;
    return memcmp(x, y, fa == AF_INET ? 4 : 16) == 0;
}

int reg_ip_names(const char *text, size_t len, const char *addr, size_t addr_len)
{
    if (len == addr_len && memcmp(text, addr, len) == 0)
        return 1; /* the usual case, without parsing: addr is an address, so its own text names it */
    return reg_ip_equal(text, len, addr, addr_len);
}

int reg_ip_literal(const char *a, size_t alen)
{
    uint8_t x[16];
    return to_bytes(a, alen, x) != 0;
}
