#include "blocklist.h"

#include "strmap.h"
#include "xalloc.h"

typedef struct entry {
    unsigned failures;
    uint64_t last_failure_ms;
    uint64_t blocked_until_ms; /* 0: not blocked */
} entry_t;

struct reg_blocklist {
    reg_strmap_t *keys;
    size_t max_keys;
    unsigned max_failures;
    uint64_t block_ms;
    uint64_t untracked;
};

reg_blocklist_t *reg_blocklist_new(size_t max_keys)
{
    reg_blocklist_t *b = reg_xcalloc(1, sizeof *b);
    b->keys = reg_strmap_new();
    b->max_keys = max_keys;
    return b;
}

static int free_entry(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    free(value);
    return 0;
}

void reg_blocklist_free(reg_blocklist_t *b)
{
    if (!b)
        return;
    reg_strmap_each(b->keys, free_entry, NULL);
    reg_strmap_free(b->keys);
    free(b);
}

void reg_blocklist_configure(reg_blocklist_t *b, unsigned max_failures, uint64_t block_ms)
{
    b->max_failures = max_failures;
    b->block_ms = block_ms;
}

/* An entry that neither blocks nor remembers anything any more. */
static int spent(const reg_blocklist_t *b, const entry_t *e, uint64_t now_ms)
{
    if (e->blocked_until_ms)
        return now_ms >= e->blocked_until_ms;
    return now_ms - e->last_failure_ms >= b->block_ms;
}

int reg_blocklist_is_empty(const reg_blocklist_t *b)
{
    return reg_strmap_count(b->keys) == 0;
}

uint64_t reg_blocklist_blocked_for(reg_blocklist_t *b, const char *key, uint64_t now_ms)
{
    if (reg_blocklist_is_empty(b))
        return 0; /* the usual case, asked on every request: no hashing */
    entry_t *e = reg_strmap_get(b->keys, key);
    if (!e || !e->blocked_until_ms)
        return 0;
    if (now_ms >= e->blocked_until_ms) {
        free(reg_strmap_remove(b->keys, key));
        return 0;
    }
    return e->blocked_until_ms - now_ms;
}

int reg_blocklist_failure(reg_blocklist_t *b, const char *key, uint64_t now_ms)
{
    if (b->max_failures == 0)
        return 0;
    entry_t *e = reg_strmap_get(b->keys, key);
    if (e && spent(b, e, now_ms)) {
        e->failures = 0;
        e->blocked_until_ms = 0;
    }
    if (!e) {
        if (reg_strmap_count(b->keys) >= b->max_keys) {
            reg_blocklist_sweep(b, now_ms);
            if (reg_strmap_count(b->keys) >= b->max_keys) {
                b->untracked++;
                return 0;
            }
        }
        e = reg_xcalloc(1, sizeof *e);
        reg_strmap_put(b->keys, key, e);
    }
    if (e->blocked_until_ms)
        return 0; /* already blocked (a request that slipped through): the block is not extended */
    e->failures++;
    e->last_failure_ms = now_ms;
    if (e->failures >= b->max_failures) {
        e->blocked_until_ms = now_ms + b->block_ms;
        return 1;
    }
    return 0;
}

void reg_blocklist_success(reg_blocklist_t *b, const char *key)
{
    if (reg_blocklist_is_empty(b))
        return;
    entry_t *e = reg_strmap_get(b->keys, key);
    if (e && !e->blocked_until_ms)
        free(reg_strmap_remove(b->keys, key));
}

int reg_blocklist_clear(reg_blocklist_t *b, const char *key)
{
    entry_t *e = reg_strmap_remove(b->keys, key);
    int had = e != NULL;
    free(e);
    return had;
}

typedef struct sweep {
    reg_blocklist_t *b;
    uint64_t now_ms;
    size_t blocked;
    int everything;
} sweep_t;

static int sweep_one(const char *key, void *value, void *ud)
{
    sweep_t *s = ud;
    entry_t *e = value;
    if (s->everything || spent(s->b, e, s->now_ms)) {
        if (s->everything && e->blocked_until_ms && s->now_ms < e->blocked_until_ms)
            s->blocked++;
        reg_strmap_remove(s->b->keys, key);
        free(e);
    } else if (e->blocked_until_ms) {
        s->blocked++;
    }
    return 0;
}

size_t reg_blocklist_clear_all(reg_blocklist_t *b)
{
    sweep_t s = {.b = b, .now_ms = 0, .everything = 1};
    reg_strmap_each(b->keys, sweep_one, &s);
    return s.blocked;
}

size_t reg_blocklist_sweep(reg_blocklist_t *b, uint64_t now_ms)
{
    sweep_t s = {.b = b, .now_ms = now_ms};
    reg_strmap_each(b->keys, sweep_one, &s);
    return s.blocked;
}

typedef struct visit {
    reg_blocklist_t *b;
    uint64_t now_ms;
    int counting_too;
    void (*fn)(const reg_block_info_t *, void *);
    void *ud;
} visit_t;

static int visit_one(const char *key, void *value, void *ud)
{
    visit_t *v = ud;
    entry_t *e = value;
    if (spent(v->b, e, v->now_ms))
        return 0;
    uint64_t left = e->blocked_until_ms ? e->blocked_until_ms - v->now_ms : 0;
    if (!left && !v->counting_too)
        return 0;
    reg_block_info_t info = {.key = key, .failures = e->failures, .blocked_for_ms = left};
    v->fn(&info, v->ud);
    return 0;
}

void reg_blocklist_each(reg_blocklist_t *b, uint64_t now_ms, int counting_too,
                        void (*fn)(const reg_block_info_t *info, void *ud), void *ud)
{
    visit_t v = {.b = b, .now_ms = now_ms, .counting_too = counting_too, .fn = fn, .ud = ud};
    reg_strmap_each(b->keys, visit_one, &v);
}

uint64_t reg_blocklist_untracked(const reg_blocklist_t *b)
{
    return b->untracked;
}
