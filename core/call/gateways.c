#include "config.h"

#include "call/gateways.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/params.h"

/* "host:port", "host", "[v6]:port", "[v6]" → host and port (5060 default). */
static int split_address(const char *text, char *host, size_t hostlen, uint16_t *port, char *err, size_t errlen)
{
    const char *h = text, *p = NULL;
    size_t hl;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "'%s': expected [ipv6]:port", text);
            return -1;
        }
        h++;
        hl = (size_t)(close - h);
        if (close[1] == ':')
            p = close + 2;
    } else {
        const char *colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':')) {
            snprintf(err, errlen, "'%s': write IPv6 addresses in brackets: [2001:db8::1]:5060", text);
            return -1;
        }
        hl = colon ? (size_t)(colon - h) : strlen(h);
        if (colon)
            p = colon + 1;
    }
    if (hl == 0 || hl >= hostlen) {
        snprintf(err, errlen, "'%s': bad host", text);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 5060;
    if (p) {
        int64_t v;
        if (sw_parse_int64(p, &v) || v < 1 || v > 65535) {
            snprintf(err, errlen, "'%s': port must be 1–65535", text);
            return -1;
        }
        *port = (uint16_t)v;
    }
    return 0;
}

int sw_gateways_build(const sw_config_t *core, sw_gateways_t *out, sw_errors_t *errs)
{
    memset(out, 0, sizeof *out);
    size_t n = sw_config_object_count(core, SW_SCOPE_GATEWAY);
    out->items = calloc(n + 1, sizeof *out->items);
    if (!out->items)
        abort();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = sw_config_object_name(core, SW_SCOPE_GATEWAY, i);
        const sw_config_t *gv = sw_config_object(core, SW_SCOPE_GATEWAY, name);
        const char *address = sw_config_str(gv, "address");
        int line = sw_cfg_line_of(gv, "address");
        char host[256], err[300];
        uint16_t port;
        if (!address || split_address(address, host, sizeof host, &port, err, sizeof err)) {
            if (address)
                sw_errors_add(errs, sw_config_file(core), line, "[gateway %s] address: %s", name, err);
            rc = -1;
            continue;
        }
        sw_gateway_t *g = &out->items[out->count];
        g->transport = sw_config_int(gv, "transport") == 1 ? SW_TRANSPORT_TCP : SW_TRANSPORT_UDP;
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = g->transport == SW_TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM};
        struct addrinfo *res = NULL;
        char portstr[8];
        snprintf(portstr, sizeof portstr, "%u", port);
        int gai = getaddrinfo(host, portstr, &hints, &res);
        if (gai || !res) {
            sw_errors_add(errs, sw_config_file(core), line, "[gateway %s] address: cannot resolve '%s': %s", name,
                          host, gai_strerror(gai));
            if (res)
                freeaddrinfo(res);
            rc = -1;
            continue;
        }
        memcpy(&g->addr, res->ai_addr, res->ai_addrlen);
        g->addr_len = res->ai_addrlen;
        freeaddrinfo(res);
        g->name = strdup(name);
        g->host = strdup(host);
        g->description = strdup(sw_config_str(gv, "description") ? sw_config_str(gv, "description") : "");
        g->port = port;
        out->count++;
    }
    return rc;
}

void sw_gateways_free(sw_gateways_t *g)
{
    for (size_t i = 0; i < g->count; i++) {
        free(g->items[i].name);
        free(g->items[i].host);
        free(g->items[i].description);
    }
    free(g->items);
    memset(g, 0, sizeof *g);
}

const sw_gateway_t *sw_gateways_find(const sw_gateways_t *g, const char *name)
{
    for (size_t i = 0; name && i < g->count; i++)
        if (strcmp(g->items[i].name, name) == 0)
            return &g->items[i];
    return NULL;
}
