/*
 * The table the registrar exports for other modules to act on its bindings
 * (registrar.c publishes it in init), as nat_keepalive needs it (doc/modules/nat_keepalive.md, "Dropping a
 * binding: the registrar's bindings API"). The registrar publishes it with
 *
 *     api->export_api(self, REGISTRAR_BINDINGS_API, &table);
 *
 * and nat_keepalive finds it with api->import_api(self, <registrar_module>,
 * REGISTRAR_BINDINGS_API). Versioned like the module ABI: `size` first, new
 * entries only appended, `version` raised when one is; a caller checks
 * both before using an entry.
 */
#ifndef REGISTRAR_BINDINGS_API_H
#define REGISTRAR_BINDINGS_API_H

#include <sipswitch/module.h>
#include <stdint.h>

#define REGISTRAR_BINDINGS_API "bindings"
#define REGISTRAR_BINDINGS_API_VERSION 1

typedef struct registrar_bindings_api {
    uint32_t size;     /* sizeof the exporter's struct */
    uint32_t version;  /* REGISTRAR_BINDINGS_API_VERSION it implements */
    /* Version 1. Removes the binding of `contact` under `aor` (the strings
     * of its sw_binding_event_t) as an unregistration would: the other
     * modules hear SW_BINDING_REMOVED through on_register (possibly before
     * this returns), the registrar's store, db and metrics follow. `reason`
     * is for its log. 0, or -1 when there is no such binding. Signaling
     * thread only. */
    int (*remove_binding)(sw_module_t *caller, const char *aor, const char *contact, const char *reason);
} registrar_bindings_api_t;

#endif
