/* A hash table from strings to pointers: the registrar's accounts, its
 * bindings by address of record, its block list and its nonce counters.
 * Lookups are one hash and a short chain whatever the size (the benchmark
 * holds 200,000 bindings); the table doubles when it gets full. Keys are
 * copied; values belong to the caller. */
#ifndef REGISTRAR_STRMAP_H
#define REGISTRAR_STRMAP_H

#include <stddef.h>

typedef struct reg_strmap reg_strmap_t;

reg_strmap_t *reg_strmap_new(void);
/* Frees the table and its keys (not the values). */
void reg_strmap_free(reg_strmap_t *m);

void *reg_strmap_get(const reg_strmap_t *m, const char *key);
/* Sets key to value (replacing a previous value, which is returned). */
void *reg_strmap_put(reg_strmap_t *m, const char *key, void *value);
/* The same, and *stored is the table's copy of the key, which stays where
 * it is until the entry is removed: a value may point to it rather than
 * keep a copy of its own (200,000 bindings: one allocation less each). */
void *reg_strmap_put_stored(reg_strmap_t *m, const char *key, void *value, const char **stored);
/* Removes key; returns its value, or NULL. */
void *reg_strmap_remove(reg_strmap_t *m, const char *key);
size_t reg_strmap_count(const reg_strmap_t *m);

/* Visits every entry; the callback may remove the entry it is given (only
 * that one). Return non-zero from it to stop. */
typedef int (*reg_strmap_visit_fn)(const char *key, void *value, void *ud);
void reg_strmap_each(reg_strmap_t *m, reg_strmap_visit_fn fn, void *ud);

#endif
