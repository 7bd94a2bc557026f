/*
 * The NAT devices table (devices.h): an array of entries, a free list
 * threaded through it, and separate chaining by id (deletions need no
 * tombstones). The bucket array doubles when there are more devices than
 * buckets.
 */
#include "devices.h"

#include <stdlib.h>
#include <string.h>

struct ka_devices {
    ka_device_t *entries;
    uint32_t n_entries;  /* ids handed out so far (used or free) */
    uint32_t capacity;
    uint32_t free_head;  /* a freed id to reuse, chained through `chain` */
    uint32_t *buckets;   /* first id of each chain */
    uint32_t n_buckets;  /* a power of two */
    size_t count;
    uint64_t seed;
};

/* FNV-1a over the two strings (with a separator), from a per-table seed. */
static uint32_t hash_binding(uint64_t seed, const char *aor, const char *contact)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)aor; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)contact; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

ka_devices_t *ka_devices_new(uint64_t seed)
{
    ka_devices_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->seed = seed;
    t->free_head = KA_NONE;
    t->n_buckets = 64;
    t->buckets = malloc(t->n_buckets * sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    memset(t->buckets, 0xff, t->n_buckets * sizeof *t->buckets);
    return t;
}

void ka_devices_free(ka_devices_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n_entries; i++)
        if (t->entries[i].in_use)
            free(t->entries[i].text);
    free(t->entries);
    free(t->buckets);
    free(t);
}

size_t ka_devices_count(const ka_devices_t *t) { return t->count; }
uint32_t ka_devices_id_limit(const ka_devices_t *t) { return t->n_entries; }

ka_device_t *ka_devices_get(const ka_devices_t *t, uint32_t id)
{
    return id < t->n_entries && t->entries[id].in_use ? &t->entries[id] : NULL;
}

uint32_t ka_devices_find(const ka_devices_t *t, const char *aor, const char *contact)
{
    if (!aor || !contact)
        return KA_NONE;
    uint32_t h = hash_binding(t->seed, aor, contact);
    for (uint32_t id = t->buckets[h & (t->n_buckets - 1)]; id != KA_NONE; id = t->entries[id].chain) {
        const ka_device_t *d = &t->entries[id];
        if (d->hash == h && strcmp(ka_device_aor(d), aor) == 0 && strcmp(ka_device_contact(d), contact) == 0)
            return id;
    }
    return KA_NONE;
}

static void bucket_insert(ka_devices_t *t, uint32_t id)
{
    uint32_t *head = &t->buckets[t->entries[id].hash & (t->n_buckets - 1)];
    t->entries[id].chain = *head;
    *head = id;
}

static void bucket_unlink(ka_devices_t *t, uint32_t id)
{
    uint32_t *p = &t->buckets[t->entries[id].hash & (t->n_buckets - 1)];
    while (*p != KA_NONE && *p != id)
        p = &t->entries[*p].chain;
    if (*p == id)
        *p = t->entries[id].chain;
}

/* Doubling the buckets relinks every used entry: O(n) once per doubling. */
static int grow_buckets(ka_devices_t *t)
{
    if (t->count < t->n_buckets || t->n_buckets >= (1u << 31))
        return 0;
    uint32_t n = t->n_buckets * 2;
    uint32_t *b = malloc((size_t)n * sizeof *b);
    if (!b)
        return -1;
    memset(b, 0xff, (size_t)n * sizeof *b);
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
    for (uint32_t id = 0; id < t->n_entries; id++)
        if (t->entries[id].in_use)
            bucket_insert(t, id);
    return 0;
}

/* Control characters would end up inside the headers of an OPTIONS. */
static size_t printable_len(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n == max || (unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return SIZE_MAX;
    return n;
}

/* The four strings in one block; lengths checked against their limits. */
static char *pack_text(const ka_binding_t *b, uint16_t *contact_at, uint16_t *source_at, uint16_t *account_at)
{
    if (!b->aor || !b->contact || !b->source)
        return NULL;
    const char *account = b->account ? b->account : "";
    size_t la = printable_len(b->aor, KA_MAX_URI), lc = printable_len(b->contact, KA_MAX_URI),
           ls = printable_len(b->source, KA_MAX_SOURCE), lac = printable_len(account, KA_MAX_ACCOUNT);
    if (la == SIZE_MAX || lc == SIZE_MAX || ls == SIZE_MAX || lac == SIZE_MAX || ls == 0)
        return NULL;
    char *text = malloc(la + lc + ls + lac + 4);
    if (!text)
        return NULL;
    memcpy(text, b->aor, la + 1);
    memcpy(text + la + 1, b->contact, lc + 1);
    memcpy(text + la + lc + 2, b->source, ls + 1);
    memcpy(text + la + lc + ls + 3, account, lac + 1);
    *contact_at = (uint16_t)(la + 1);
    *source_at = (uint16_t)(la + lc + 2);
    *account_at = (uint16_t)(la + lc + ls + 3);
    return text;
}

static uint32_t take_id(ka_devices_t *t)
{
    if (t->free_head != KA_NONE) {
        uint32_t id = t->free_head;
        t->free_head = t->entries[id].chain;
        return id;
    }
    if (t->n_entries == t->capacity) {
        if (t->capacity >= KA_NONE / 2)
            return KA_NONE;
        uint32_t cap = t->capacity ? t->capacity * 2 : 64;
        ka_device_t *e = realloc(t->entries, (size_t)cap * sizeof *e);
        if (!e)
            return KA_NONE;
        t->entries = e;
        t->capacity = cap;
    }
    t->entries[t->n_entries] = (ka_device_t){0};
    return t->n_entries++;
}

uint32_t ka_devices_add(ka_devices_t *t, const ka_binding_t *b)
{
    uint16_t contact_at, source_at, account_at;
    char *text = pack_text(b, &contact_at, &source_at, &account_at);
    if (!text)
        return KA_NONE;
    uint32_t id = take_id(t);
    if (id == KA_NONE) {
        free(text);
        return KA_NONE;
    }
    ka_device_t *d = &t->entries[id];
    uint32_t generation = d->generation;
    *d = (ka_device_t){
        .text = text,
        .socket_id = b->socket_id,
        .hash = hash_binding(t->seed, b->aor, b->contact),
        .generation = generation,
        .contact_at = contact_at,
        .source_at = source_at,
        .account_at = account_at,
        .transport = b->transport,
        .in_use = 1,
    };
    bucket_insert(t, id);
    t->count++;
    (void)grow_buckets(t); /* a failed growth only lengthens the chains */
    return id;
}

int ka_devices_update(ka_devices_t *t, uint32_t id, const ka_binding_t *b)
{
    ka_device_t *d = ka_devices_get(t, id);
    if (!d)
        return -1;
    const char *account = b->account ? b->account : "";
    if (!b->source || strcmp(ka_device_source(d), b->source) != 0 || strcmp(ka_device_account(d), account) != 0) {
        ka_binding_t same = *b;
        same.aor = ka_device_aor(d);
        same.contact = ka_device_contact(d);
        uint16_t contact_at, source_at, account_at;
        char *text = pack_text(&same, &contact_at, &source_at, &account_at);
        if (!text)
            return -1;
        free(d->text);
        d->text = text;
        d->contact_at = contact_at;
        d->source_at = source_at;
        d->account_at = account_at;
    }
    d->socket_id = b->socket_id;
    d->transport = b->transport;
    return 0;
}

void ka_devices_remove(ka_devices_t *t, uint32_t id)
{
    ka_device_t *d = ka_devices_get(t, id);
    if (!d)
        return;
    bucket_unlink(t, id);
    free(d->text);
    uint32_t generation = d->generation + 1;
    *d = (ka_device_t){.generation = generation, .chain = t->free_head};
    t->free_head = id;
    t->count--;
}
