/* Management API resources served by modules (module.h http_route): a
 * table filled at init/start on the loop thread, read by the HTTP thread
 * only after the daemon started serving, so it needs no lock. */
#ifndef SW_HTTP_MGMT_MODULES_H
#define SW_HTTP_MGMT_MODULES_H

#include <microhttpd.h>
#include <stdbool.h>

#include "sipswitch/module.h"

/* module.h http_route. `core_paths` (NULL-terminated, e.g. "calls") are
 * refused as taken. */
int sw_mgmt_module_route(sw_module_t *self, const char *path, sw_http_fn fn);

/* Serves `url` when a module registered a path that is a prefix of it (at a
 * '/' boundary) under /api/v1/: true and *result set; false otherwise. */
bool sw_mgmt_module_serve(struct MHD_Connection *c, const char *url, const char *method,
                          enum MHD_Result *result);

/* Forgets every route (shutdown, after the HTTP thread stopped). */
void sw_mgmt_module_routes_clear(void);

#endif
