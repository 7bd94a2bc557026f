/* Separate chaining with FNV-1a: deletions need no tombstones, and a chain
 * node holds its key inline (one allocation per entry). */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

#include "xalloc.h"

typedef struct node {
    struct node *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated */
} node_t;

struct reg_strmap {
    node_t **slots;
    size_t n_slots; /* a power of two */
    size_t count;
};

static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

reg_strmap_t *reg_strmap_new(void)
{
    reg_strmap_t *m = reg_xcalloc(1, sizeof *m);
    m->n_slots = 64;
    m->slots = reg_xcalloc(m->n_slots, sizeof *m->slots);
    return m;
}

void reg_strmap_free(reg_strmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_slots; i++)
        for (node_t *n = m->slots[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(m->slots);
    free(m);
}

static node_t **find(const reg_strmap_t *m, const char *key, uint64_t h)
{
    node_t **link = &m->slots[h & (m->n_slots - 1)];
    while (*link && ((*link)->hash != h || strcmp((*link)->key, key) != 0))
        link = &(*link)->next;
    return link;
}

void *reg_strmap_get(const reg_strmap_t *m, const char *key)
{
    if (!m || !key)
        return NULL;
    node_t *n = *find(m, key, hash_of(key));
    return n ? n->value : NULL;
}

static void grow(reg_strmap_t *m)
{
    size_t n_slots = m->n_slots * 2;
    node_t **slots = reg_xcalloc(n_slots, sizeof *slots);
    for (size_t i = 0; i < m->n_slots; i++)
        for (node_t *n = m->slots[i], *next; n; n = next) {
            next = n->next;
            node_t **head = &slots[n->hash & (n_slots - 1)];
            n->next = *head;
            *head = n;
        }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
}

void *reg_strmap_put(reg_strmap_t *m, const char *key, void *value)
{
    const char *stored;
    return reg_strmap_put_stored(m, key, value, &stored);
}

void *reg_strmap_put_stored(reg_strmap_t *m, const char *key, void *value, const char **stored)
{
    uint64_t h = hash_of(key);
    node_t **link = find(m, key, h);
    if (*link) {
        void *old = (*link)->value;
        (*link)->value = value;
        *stored = (*link)->key;
        return old;
    }
    size_t len = strlen(key);
    node_t *n = reg_xmalloc(sizeof *n + len + 1);
    n->next = NULL;
    n->hash = h;
    n->value = value;
    memcpy(n->key, key, len + 1);
    *link = n;
    *stored = n->key;
    if (++m->count > m->n_slots)
        grow(m);
    return NULL;
}

void *reg_strmap_remove(reg_strmap_t *m, const char *key)
{
    if (!m || !key)
        return NULL;
    node_t **link = find(m, key, hash_of(key));
    node_t *n = *link;
    if (!n)
        return NULL;
    void *value = n->value;
    *link = n->next;
    free(n);
    m->count--;
    return value;
}

size_t reg_strmap_count(const reg_strmap_t *m)
{
    return m ? m->count : 0;
}

void reg_strmap_each(reg_strmap_t *m, reg_strmap_visit_fn fn, void *ud)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_slots; i++)
        for (node_t *n = m->slots[i], *next; n; n = next) {
            next = n->next; /* fn may remove n */
            if (fn(n->key, n->value, ud))
                return;
        }
}
