/* Linear probing with backward-shift deletion: a removed entry's run is
 * closed up behind it, so lookups need no tombstones and a sweep leaves the
 * table as if the forgotten entries had never been there. */
#include "nonce_counts.h"

#include <stdlib.h>

#include "xalloc.h"

#define MIN_SLOTS 64

/* highest_nc 0 marks a free slot: a recorded count is at least 1. */
typedef struct entry {
    uint64_t serial;
    uint64_t issued_ms;
    uint32_t highest_nc;
} entry_t;

struct reg_nonce_counts {
    entry_t *slots;
    size_t n_slots; /* a power of two */
    size_t count;
};

reg_nonce_counts_t *reg_nonce_counts_new(void)
{
    reg_nonce_counts_t *t = reg_xcalloc(1, sizeof *t);
    t->n_slots = MIN_SLOTS;
    t->slots = reg_xcalloc(t->n_slots, sizeof *t->slots);
    return t;
}

void reg_nonce_counts_free(reg_nonce_counts_t *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

static size_t home_of(const reg_nonce_counts_t *t, uint64_t serial)
{
    /* serials are consecutive: Fibonacci hashing spreads them evenly */
    return (size_t)((serial * 0x9e3779b97f4a7c15ULL) >> 32) & (t->n_slots - 1);
}

/* serial's slot, or the free slot where it would go (the table is never
 * full: a free slot ends every run). */
static entry_t *slot_of(const reg_nonce_counts_t *t, uint64_t serial)
{
    size_t mask = t->n_slots - 1;
    for (size_t i = home_of(t, serial);; i = (i + 1) & mask) {
        entry_t *e = &t->slots[i];
        if (e->highest_nc == 0 || e->serial == serial)
            return e;
    }
}

static void resize(reg_nonce_counts_t *t, size_t n_slots)
{
    entry_t *old = t->slots;
    size_t old_slots = t->n_slots;
    t->slots = reg_xcalloc(n_slots, sizeof *t->slots);
    t->n_slots = n_slots;
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].highest_nc)
            *slot_of(t, old[i].serial) = old[i];
    free(old);
}

uint32_t reg_nonce_counts_get(const reg_nonce_counts_t *t, uint64_t serial)
{
    return slot_of(t, serial)->highest_nc;
}

void reg_nonce_counts_set(reg_nonce_counts_t *t, uint64_t serial, uint64_t issued_ms, uint32_t count)
{
    entry_t *e = slot_of(t, serial);
    int added = e->highest_nc == 0;
    *e = (entry_t){.serial = serial, .issued_ms = issued_ms, .highest_nc = count ? count : 1};
    if (added && ++t->count * 4 > t->n_slots * 3)
        resize(t, t->n_slots * 2);
}

/* Frees slot i and moves back the entries of its run that it displaced. */
static void remove_at(reg_nonce_counts_t *t, size_t i)
{
    size_t mask = t->n_slots - 1;
    for (size_t j = (i + 1) & mask; t->slots[j].highest_nc; j = (j + 1) & mask) {
        size_t home = home_of(t, t->slots[j].serial);
        /* j's entry may fill the hole at i unless its home lies after i,
         * cyclically, up to j */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].highest_nc = 0;
    t->count--;
}

void reg_nonce_counts_sweep(reg_nonce_counts_t *t, uint64_t now_ms, uint64_t lifetime_ms)
{
    for (size_t i = 0; i < t->n_slots;) {
        const entry_t *e = &t->slots[i];
        if (e->highest_nc && now_ms > e->issued_ms && now_ms - e->issued_ms > lifetime_ms)
            remove_at(t, i); /* another entry may have moved into i: look at it again */
        else
            i++;
    }
    /* after a burst, back to at least 1/16 full */
    size_t target = t->n_slots;
    while (target > MIN_SLOTS && t->count * 16 < target)
        target /= 4;
    if (target < MIN_SLOTS)
        target = MIN_SLOTS;
    if (target != t->n_slots)
        resize(t, target);
}

size_t reg_nonce_counts_size(const reg_nonce_counts_t *t)
{
    return t->count;
}
