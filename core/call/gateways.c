#include "config.h"

#include "call/gateways.h"

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

/* The i-th [gateway]'s name, section and address split into host and port.
 * -1 when the address is missing or bad (err says why when there is one). */
typedef struct gateway_address {
    const char *name;
    const sw_config_t *section;
    char host[256];
    uint16_t port;
    char err[300];
} gateway_address_t;

static int gateway_address(const sw_config_t *core, size_t i, gateway_address_t *ga)
{
    ga->name = sw_config_object_name(core, SW_SCOPE_GATEWAY, i);
    ga->section = sw_config_object(core, SW_SCOPE_GATEWAY, ga->name);
    const char *address = sw_config_str(ga->section, "address");
    ga->err[0] = '\0';
    if (!address)
        return -1;
    return split_address(address, ga->host, sizeof ga->host, &ga->port, ga->err, sizeof ga->err);
}

void sw_gateways_names(const sw_config_t *core, sw_resolve_batch_t *names)
{
    size_t n = sw_config_object_count(core, SW_SCOPE_GATEWAY);
    for (size_t i = 0; i < n; i++) {
        gateway_address_t ga;
        if (gateway_address(core, i, &ga) == 0)
            sw_resolve_add(names, ga.host);
    }
}

int sw_gateways_build_resolved(const sw_config_t *core, const sw_resolve_batch_t *names, sw_gateways_t *out,
                               sw_errors_t *errs)
{
    memset(out, 0, sizeof *out);
    size_t n = sw_config_object_count(core, SW_SCOPE_GATEWAY);
    out->items = calloc(n + 1, sizeof *out->items);
    if (!out->items)
        abort();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        gateway_address_t ga;
        int bad = gateway_address(core, i, &ga);
        int line = sw_cfg_line_of(ga.section, "address");
        if (bad) {
            if (ga.err[0])
                sw_errors_add(errs, sw_config_file(core), line, "[gateway %s] address: %s", ga.name, ga.err);
            rc = -1;
            continue;
        }
        sw_gateway_t *g = &out->items[out->count];
        const char *reason;
        if (sw_resolve_address(names, ga.host, ga.port, &g->addr, &g->addr_len, &reason)) {
            sw_errors_add(errs, sw_config_file(core), line, "[gateway %s] address: cannot resolve '%s': %s", ga.name,
                          ga.host, reason);
            memset(g, 0, sizeof *g);
            rc = -1;
            continue;
        }
        g->transport = sw_config_int(ga.section, "transport") == 1 ? SW_TRANSPORT_TCP : SW_TRANSPORT_UDP;
        g->name = strdup(ga.name);
        g->host = strdup(ga.host);
        const char *description = sw_config_str(ga.section, "description");
        g->description = strdup(description ? description : "");
        g->port = ga.port;
        out->count++;
    }
    return rc;
}

int sw_gateways_build(const sw_config_t *core, sw_gateways_t *out, sw_errors_t *errs)
{
    sw_resolve_batch_t *names = sw_resolve_batch_new();
    sw_gateways_names(core, names);
    sw_resolve_now(names);
    int rc = sw_gateways_build_resolved(core, names, out, errs);
    sw_resolve_batch_free(names);
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
