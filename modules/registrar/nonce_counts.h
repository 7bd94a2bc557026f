/* The highest nonce count (nc) accepted for each digest nonce in use, the
 * one thing RFC 7616's replay protection has to remember, keyed by the
 * nonce's serial number (nonce.h). Every registration adds an entry that
 * lives as long as its nonce (nonce_lifetime, 300 s), so 200,000 devices
 * registering within that time mean as many entries: they sit in one
 * open-addressed array, 24 bytes each, no allocation per entry, kept at
 * most 3/4 full and shrunk back after a burst.
 *
 * Pure code, unit-tested in tests/test_nonce_blocklist.c. */
#ifndef REGISTRAR_NONCE_COUNTS_H
#define REGISTRAR_NONCE_COUNTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_nonce_counts reg_nonce_counts_t;

reg_nonce_counts_t *reg_nonce_counts_new(void);
void reg_nonce_counts_free(reg_nonce_counts_t *t);

/* The highest count recorded for serial; 0 when there is none. */
uint32_t reg_nonce_counts_get(const reg_nonce_counts_t *t, uint64_t serial);
/* Records count (>= 1) as serial's highest; issued_ms is when its nonce
 * was minted, which the sweep judges. */
void reg_nonce_counts_set(reg_nonce_counts_t *t, uint64_t serial, uint64_t issued_ms, uint32_t count);
/* Forgets the serials issued more than lifetime_ms before now_ms. */
void reg_nonce_counts_sweep(reg_nonce_counts_t *t, uint64_t now_ms, uint64_t lifetime_ms);
size_t reg_nonce_counts_size(const reg_nonce_counts_t *t);

#endif
