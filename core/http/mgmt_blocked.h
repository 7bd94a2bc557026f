/* What GET /api/v1/blocked shows and DELETE /api/v1/blocked/<key> lifts:
 * one list for every block the switch keeps.
 *
 *  - "blocked": source addresses everything is dropped from before parsing,
 *    from the per-source table (net/ratelimit.h): the rate limit's own
 *    blocks (reason "rate_limit") and those modules set with
 *    block_address (the module's reason and name);
 *  - "suspended": blocks modules keep themselves, that are not whole
 *    addresses (the registrar's account suspensions), from the modules
 *    that registered a block provider (module.h block_provider).
 *
 * DELETE hands its key to the table (when it is an address) and to every
 * provider, so one request lifts whatever the key names. Both run on the
 * signaling loop (mgmt.c posts them there); the HTTP thread only sends the
 * text back. */
#ifndef SW_HTTP_MGMT_BLOCKED_H
#define SW_HTTP_MGMT_BLOCKED_H

#include <stdbool.h>

#include "sipswitch/module.h"

/* Most entries of each kind one GET lists (the counts say how many there are). */
#define SW_BLOCKED_LIST_MAX 10000

/* module.h block_provider: 0, or -1 (NULL callbacks, the module has one
 * already, or too many providers). */
int sw_mgmt_block_provider(sw_module_t *self, sw_block_list_fn list, sw_block_clear_fn clear);
/* Forgets every provider (shutdown, before the modules are destroyed). */
void sw_mgmt_block_providers_clear(void);

/* The JSON body of GET /api/v1/blocked (never NULL; free it). */
char *sw_mgmt_blocked_list(void);
/* Lifts what key names; the JSON body (free it), *found false when
 * nothing was lifted (404). */
char *sw_mgmt_blocked_delete(const char *key, bool *found);

#endif
