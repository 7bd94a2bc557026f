/*
 * The NAT devices nat_keepalive keeps alive: one entry per registrar
 * binding (address of record + contact), with where its heartbeat goes
 * (source "ip:port", transport, local socket) and the account whose
 * settings apply.
 *
 * Entries live in one array and are named by their index (an id: the
 * wheel, schedule.h, links them by it); freed ids are reused. A hash index
 * on (aor, contact) finds a binding in O(1) when the registrar reports it
 * refreshed or removed; the hash is seeded per table so that contacts a
 * device chooses cannot be crafted to collide. A generation number per
 * entry tells an OPTIONS answer for a device that has since been removed
 * (and its id reused) from one for the device now there.
 *
 * Memory per device: the 40-byte entry, one bucket (4 bytes), and one heap
 * block for its four strings.
 *
 * Pure C, unit-tested in tests/test_devices.c.
 */
#ifndef NAT_KEEPALIVE_DEVICES_H
#define NAT_KEEPALIVE_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule.h" /* KA_NONE */

/* Longest strings taken (a longer binding is refused). */
#define KA_MAX_URI 1024
#define KA_MAX_SOURCE 64
#define KA_MAX_ACCOUNT 256

typedef struct ka_device {
    char *text;          /* "aor\0contact\0source\0account\0" */
    uint64_t socket_id;  /* local socket it registered through */
    uint32_t hash;       /* of (aor, contact) */
    uint32_t chain;      /* next id in the hash bucket, or in the free list */
    uint32_t generation; /* bumped each time the id is freed */
    uint16_t contact_at, source_at, account_at; /* offsets into text */
    uint8_t transport;   /* sw_transport_t */
    uint8_t in_use;
    /* OPTIONS mode (liveness.h) */
    uint8_t missed;      /* pings unanswered in a row */
    uint8_t ping_seq;    /* sequence of the last ping sent */
    uint8_t ping_pending;/* that ping has no answer yet */
} ka_device_t;

/* Where a binding's heartbeat goes. Strings are copied. */
typedef struct ka_binding {
    const char *aor, *contact, *source, *account; /* account may be NULL */
    uint64_t socket_id;
    uint8_t transport;
} ka_binding_t;

typedef struct ka_devices ka_devices_t;

/* seed: any value, e.g. from the clock (hash flooding). NULL when out of memory. */
ka_devices_t *ka_devices_new(uint64_t seed);
void ka_devices_free(ka_devices_t *t);

size_t ka_devices_count(const ka_devices_t *t);
/* One past the highest id ever handed out: ids to walk are below it. */
uint32_t ka_devices_id_limit(const ka_devices_t *t);

/* The id of the binding (aor, contact), or KA_NONE. */
uint32_t ka_devices_find(const ka_devices_t *t, const char *aor, const char *contact);
/* Adds a binding not in the table yet; its id, or KA_NONE when a string is
 * too long or memory ran out. */
uint32_t ka_devices_add(ka_devices_t *t, const ka_binding_t *b);
/* Moves a binding to a new source, socket, transport or account (a refresh
 * from another NAT mapping): the id stays. 0, or -1 (left as it was). */
int ka_devices_update(ka_devices_t *t, uint32_t id, const ka_binding_t *b);
/* Frees the id (its generation changes). Nothing for a free id. */
void ka_devices_remove(ka_devices_t *t, uint32_t id);

/* The entry of a used id, or NULL. Valid until the next add. */
ka_device_t *ka_devices_get(const ka_devices_t *t, uint32_t id);

static inline const char *ka_device_aor(const ka_device_t *d) { return d->text; }
static inline const char *ka_device_contact(const ka_device_t *d) { return d->text + d->contact_at; }
static inline const char *ka_device_source(const ka_device_t *d) { return d->text + d->source_at; }
static inline const char *ka_device_account(const ka_device_t *d) { return d->text + d->account_at; }

#endif
