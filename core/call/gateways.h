/* Routing gateways ([gateway NAME] sections) as the call engine uses them:
 * name, resolved destination, transport. Built once per cfg (start-up and
 * reload), so DNS names are resolved at load time, never on the call path;
 * at reload they are resolved off the signaling thread first
 * (sw_gateways_names, net/resolve.h), then the table is built from the
 * answers. */
#ifndef SW_CALL_GATEWAYS_H
#define SW_CALL_GATEWAYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cfg/config.h"
#include "net/resolve.h"
#include "sipswitch/module.h"

typedef struct sw_gateway {
    char *name;
    char *host;                 /* as written (for Request-URI/To host) */
    char *description;          /* free text from cfg, for the management API */
    uint16_t port;
    sw_transport_t transport;
    struct sockaddr_storage addr;
    socklen_t addr_len;
} sw_gateway_t;

typedef struct sw_gateways {
    sw_gateway_t *items;
    size_t count;
} sw_gateways_t;

/* Adds the host of every [gateway] address (core view) to `names`; bad
 * addresses are left to the build, which reports them. */
void sw_gateways_names(const sw_config_t *core_view, sw_resolve_batch_t *names);
/* Builds the table from every [gateway] section, each host's address taken
 * from `names` (answered already: nothing here waits for DNS); unresolved
 * names and bad addresses are errors with file:line. */
int sw_gateways_build_resolved(const sw_config_t *core_view, const sw_resolve_batch_t *names, sw_gateways_t *out,
                               sw_errors_t *errs);
/* The same, resolving the names on the calling thread first (blocks on DNS:
 * start-up and --check only). */
int sw_gateways_build(const sw_config_t *core_view, sw_gateways_t *out, sw_errors_t *errs);
void sw_gateways_free(sw_gateways_t *g);
const sw_gateway_t *sw_gateways_find(const sw_gateways_t *g, const char *name);

#endif
