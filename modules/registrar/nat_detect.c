#include "nat_detect.h"

#include <string.h>
#include <strings.h>

#include "ip_match.h"
#include "sip_uri.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int reg_via_sent_by(const char *via, const char **host, size_t *host_len, unsigned *port)
{
    if (!via)
        return -1;
    const char *p = via;
    /* "SIP / 2.0 / UDP": three tokens separated by '/', spaces allowed */
    for (int part = 0; part < 3; part++) {
        while (is_space(*p))
            p++;
        const char *start = p;
        while (*p && *p != '/' && !is_space(*p) && *p != ';' && *p != ',')
            p++;
        if (p == start)
            return -1;
        while (is_space(*p))
            p++;
        if (part < 2) {
            if (*p != '/')
                return -1;
            p++;
        }
    }
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close)
            return -1;
        *host = p + 1;
        *host_len = (size_t)(close - p - 1);
        p = close + 1;
    } else {
        const char *start = p;
        while (*p && *p != ':' && *p != ';' && *p != ',' && !is_space(*p))
            p++;
        *host = start;
        *host_len = (size_t)(p - start);
    }
    if (*host_len == 0)
        return -1;
    while (is_space(*p))
        p++;
    *port = 0;
    if (*p == ':') {
        p++;
        while (is_space(*p))
            p++;
        unsigned v = 0;
        const char *digits = p;
        while (*p >= '0' && *p <= '9' && v <= 65535)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (p == digits || v == 0 || v > 65535)
            return -1;
        *port = v;
    }
    return 0;
}

int reg_behind_nat_host(const char *via, const char *contact_host, size_t contact_host_len, const char *src_ip,
                        unsigned src_port, int udp)
{
    const char *host;
    size_t host_len;
    unsigned port;
    if (reg_via_sent_by(via, &host, &host_len, &port) != 0)
        return 1;
    size_t src_len = strlen(src_ip);
    if (!reg_ip_names(host, host_len, src_ip, src_len))
        return 1;
    if (udp && (port ? port : 5060) != src_port)
        return 1;
    if (contact_host && !reg_ip_names(contact_host, contact_host_len, src_ip, src_len) &&
        reg_ip_literal(contact_host, contact_host_len))
        return 1;
    return 0;
}

int reg_behind_nat(const char *via, const char *contact_uri, size_t contact_len, const char *src_ip,
                   unsigned src_port, int udp)
{
    reg_uri_t u;
    int contact = contact_uri && reg_uri_parse(contact_uri, contact_len, &u) == 0;
    return reg_behind_nat_host(via, contact ? u.host : NULL, contact ? u.host_len : 0, src_ip, src_port, udp);
}
