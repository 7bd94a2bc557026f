#include "bindings.h"

#include <string.h>

#include "sip_uri.h"
#include "strmap.h"
#include "xalloc.h"

struct reg_store {
    reg_strmap_t *aors;      /* user -> reg_aor_t */
    reg_binding_t **heap;    /* min-heap on expires_at_ms */
    size_t n_heap, cap_heap;
    size_t n_nat;
    uint64_t next_id;
};

/* ---- the expiry heap --------------------------------------------------------------------- */

static int earlier(const reg_binding_t *a, const reg_binding_t *b)
{
    return a->expires_at_ms < b->expires_at_ms;
}

static void heap_set(reg_store_t *s, size_t pos, reg_binding_t *b)
{
    s->heap[pos] = b;
    b->heap_pos = (uint32_t)pos; /* 4 bytes: a store holds far fewer than 2^32 bindings */
}

static void heap_up(reg_store_t *s, size_t pos)
{
    reg_binding_t *b = s->heap[pos];
    while (pos > 0 && earlier(b, s->heap[(pos - 1) / 2])) {
        heap_set(s, pos, s->heap[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    heap_set(s, pos, b);
}

static void heap_down(reg_store_t *s, size_t pos)
{
    reg_binding_t *b = s->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= s->n_heap)
            break;
        if (child + 1 < s->n_heap && earlier(s->heap[child + 1], s->heap[child]))
            child++;
        if (!earlier(s->heap[child], b))
            break;
        heap_set(s, pos, s->heap[child]);
        pos = child;
    }
    heap_set(s, pos, b);
}

static void heap_push(reg_store_t *s, reg_binding_t *b)
{
    if (s->n_heap == s->cap_heap) {
        s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
        s->heap = reg_xrealloc(s->heap, s->cap_heap * sizeof *s->heap);
    }
    heap_set(s, s->n_heap++, b);
    heap_up(s, b->heap_pos);
}

static void heap_remove(reg_store_t *s, reg_binding_t *b)
{
    size_t pos = b->heap_pos;
    reg_binding_t *last = s->heap[--s->n_heap];
    if (last == b)
        return;
    heap_set(s, pos, last);
    heap_up(s, pos);
    heap_down(s, last->heap_pos);
}

static void heap_moved(reg_store_t *s, reg_binding_t *b)
{
    heap_up(s, b->heap_pos);
    heap_down(s, b->heap_pos);
}

/* ---- bindings ------------------------------------------------------------------------------- */

reg_store_t *reg_store_new(void)
{
    reg_store_t *s = reg_xcalloc(1, sizeof *s);
    s->aors = reg_strmap_new();
    s->next_id = 1;
    return s;
}

static void binding_free(reg_binding_t *b)
{
    free(b->text);
    free(b);
}

/* a->user belongs to the AOR table: it goes with the table's entry. */
static void aor_free(reg_aor_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        binding_free(a->bindings[i]);
    if (a->bindings != &a->first)
        free(a->bindings);
    free(a->aor);
    free(a);
}

static int free_aor(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    aor_free(value);
    return 0;
}

void reg_store_free(reg_store_t *s)
{
    if (!s)
        return;
    reg_strmap_each(s->aors, free_aor, NULL);
    reg_strmap_free(s->aors);
    free(s->heap);
    free(s);
}

/* The four strings of a binding in one block: fewer allocations per
 * binding, which is most of the memory the registrar uses. A refresh from
 * the same device (same Call-ID, source and User-Agent: the usual case)
 * keeps the block it has. */
static void set_text(reg_binding_t *b, const char *contact, size_t contact_len, const char *call_id,
                     const char *source, const char *user_agent)
{
    call_id = call_id ? call_id : "";
    source = source ? source : "";
    user_agent = user_agent ? user_agent : "";
    if (b->text && contact == b->contact && strcmp(call_id, b->call_id) == 0 && strcmp(source, b->source) == 0 &&
        strcmp(user_agent, b->user_agent) == 0)
        return;
    size_t lc = strlen(call_id), ls = strlen(source), lu = strlen(user_agent);
    char *t = reg_xmalloc(contact_len + lc + ls + lu + 4);
    char *p = t;
    memcpy(p, contact, contact_len);
    p[contact_len] = '\0';
    b->contact = p;
    p += contact_len + 1;
    memcpy(p, call_id, lc + 1);
    b->call_id = p;
    p += lc + 1;
    memcpy(p, source, ls + 1);
    b->source = p;
    p += ls + 1;
    memcpy(p, user_agent, lu + 1);
    b->user_agent = p;
    free(b->text);
    b->text = t;
}

/* The user's AOR, made when it has none. a: what the caller already found
 * for user (NULL: it has none, or the caller did not look). */
static reg_aor_t *aor_get(reg_store_t *s, reg_aor_t *a, const char *user, const char *aor_text)
{
    if (!a)
        a = reg_strmap_get(s->aors, user);
    if (!a) {
        a = reg_xcalloc(1, sizeof *a);
        a->bindings = &a->first;
        a->cap = 1;
        reg_strmap_put_stored(s->aors, user, a, &a->user);
    }
    if (aor_text && (!a->aor || strcmp(a->aor, aor_text) != 0)) {
        free(a->aor);
        a->aor = reg_xstrdup(aor_text);
    }
    return a;
}

/* id 0: the next one; otherwise later bindings are numbered above it */
static reg_binding_t *binding_add(reg_store_t *s, reg_aor_t *a, uint64_t id)
{
    reg_binding_t *b = reg_xcalloc(1, sizeof *b);
    b->id = id ? id : s->next_id;
    if (b->id >= s->next_id)
        s->next_id = b->id + 1;
    b->aor = a;
    if (a->n == a->cap) {
        /* most accounts have one device: its binding sits in the AOR itself */
        reg_binding_t **more = reg_xmalloc(2 * a->cap * sizeof *more);
        memcpy(more, a->bindings, a->n * sizeof *more);
        if (a->bindings != &a->first)
            free(a->bindings);
        a->bindings = more;
        a->cap *= 2;
    }
    a->bindings[a->n++] = b;
    return b;
}

/* Takes the binding out of its AOR and the heap and frees it, after telling
 * fn; drops the AOR when it was its last. */
static void binding_remove(reg_store_t *s, reg_binding_t *b, reg_change_t kind, reg_change_fn fn, void *ud)
{
    if (fn)
        fn(b, kind, ud);
    reg_aor_t *a = b->aor;
    for (size_t i = 0; i < a->n; i++)
        if (a->bindings[i] == b) {
            memmove(a->bindings + i, a->bindings + i + 1, (a->n - i - 1) * sizeof *a->bindings);
            a->n--;
            break;
        }
    heap_remove(s, b);
    if (b->behind_nat)
        s->n_nat--;
    binding_free(b);
    if (a->n == 0) {
        reg_strmap_remove(s->aors, a->user); /* a->user goes with it */
        aor_free(a);
    }
}

static void set_nat(reg_store_t *s, reg_binding_t *b, int behind_nat)
{
    behind_nat = behind_nat != 0;
    if (b->behind_nat != behind_nat)
        s->n_nat += behind_nat ? 1 : (size_t)-1;
    b->behind_nat = (uint8_t)behind_nat;
}

/* What a REGISTER, or the disk, says of a binding. */
typedef struct binding_values {
    const char *contact;
    size_t contact_len;
    const char *call_id, *source, *user_agent;
    uint32_t cseq;
    int q, transport, behind_nat;
    uint64_t socket_id;
    uint32_t expires_s;
    uint64_t now_ms;
    int64_t updated_wall_ms;
} binding_values_t;

/* Everything but the heap position and the first registration time. */
static void binding_set(reg_store_t *s, reg_binding_t *b, const binding_values_t *v)
{
    set_text(b, v->contact, v->contact_len, v->call_id, v->source, v->user_agent);
    b->cseq = v->cseq;
    b->q = (int16_t)v->q;
    b->transport = (uint8_t)v->transport;
    b->socket_id = v->socket_id;
    set_nat(s, b, v->behind_nat);
    b->expires_s = v->expires_s;
    b->expires_at_ms = v->now_ms + (uint64_t)v->expires_s * 1000;
    b->updated_wall_ms = v->updated_wall_ms;
}

static reg_binding_t *find_contact(const reg_aor_t *a, const char *uri, size_t uri_len)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (reg_uri_same(a->bindings[i]->contact, strlen(a->bindings[i]->contact), uri, uri_len))
            return a->bindings[i];
    return NULL;
}

static int named_in_request(const reg_register_t *r, const reg_binding_t *b)
{
    for (size_t i = 0; i < r->n_contacts; i++)
        if (reg_uri_same(b->contact, strlen(b->contact), r->contacts[i].uri, r->contacts[i].uri_len))
            return 1;
    return 0;
}

static int is_other_device(const reg_register_t *r, const reg_binding_t *b)
{
    return strcmp(b->call_id, r->call_id) != 0 && !named_in_request(r, b);
}

reg_update_result_t reg_store_register(reg_store_t *s, const reg_register_t *r, reg_change_fn fn, void *ud)
{
    reg_aor_t *a = reg_strmap_get(s->aors, r->user);
    size_t existing = a ? a->n : 0;

    if (r->remove_all) {
        /* RFC 3261 10.3 step 6: a binding of this Call-ID goes only with a higher CSeq */
        for (size_t i = 0; i < existing; i++)
            if (strcmp(a->bindings[i]->call_id, r->call_id) == 0 && r->cseq <= a->bindings[i]->cseq)
                return REG_UPDATE_OUT_OF_ORDER;
        while (a && a->n) {
            int last = a->n == 1;
            binding_remove(s, a->bindings[a->n - 1], REG_CHANGE_REMOVED, fn, ud);
            if (last)
                a = NULL;
        }
        return REG_UPDATE_OK;
    }

    /* check everything before changing anything */
    int binds_any = 0;
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < r->n_contacts; i++) {
        const reg_contact_req_t *c = &r->contacts[i];
        reg_binding_t *b = find_contact(a, c->uri, c->uri_len);
        if (b && strcmp(b->call_id, r->call_id) == 0 && r->cseq <= b->cseq)
            return REG_UPDATE_OUT_OF_ORDER;
        if (c->expires_s) {
            binds_any = 1;
            /* a URI named twice in one request is one binding */
            int dup = 0;
            for (size_t k = 0; k < i && !dup; k++)
                dup = r->contacts[k].expires_s &&
                      reg_uri_same(r->contacts[k].uri, r->contacts[k].uri_len, c->uri, c->uri_len);
            if (!b && !dup)
                added++;
        } else if (b) {
            removed++;
        }
    }
    size_t others = 0;
    for (size_t i = 0; i < existing; i++)
        if (is_other_device(r, a->bindings[i]))
            others++;
    if (binds_any && others && !r->replace)
        return REG_UPDATE_OTHER_DEVICE;
    /* a URI removed twice in one request is counted twice: clamp */
    long long after = (long long)existing + (long long)added - (long long)removed - (binds_any ? (long long)others : 0);
    if (added && after > (long long)r->max_contacts)
        return REG_UPDATE_TOO_MANY;

    /* apply */
    if (binds_any && others) {
        for (size_t i = a->n; i-- > 0;)
            if (is_other_device(r, a->bindings[i]))
                binding_remove(s, a->bindings[i], REG_CHANGE_REMOVED, fn, ud);
        a = reg_strmap_get(s->aors, r->user); /* gone if those were all it had */
    }
    for (size_t i = 0; i < r->n_contacts; i++) {
        const reg_contact_req_t *c = &r->contacts[i];
        reg_binding_t *b = find_contact(a, c->uri, c->uri_len);
        if (!c->expires_s) {
            if (b) {
                int last = a->n == 1;
                binding_remove(s, b, REG_CHANGE_REMOVED, fn, ud);
                if (last)
                    a = NULL;
            }
            continue;
        }
        reg_change_t kind = REG_CHANGE_REFRESHED;
        /* (a is the user's AOR, or NULL when the user has none yet) */
        a = aor_get(s, a, r->user, r->aor);
        if (!b) {
            b = binding_add(s, a, 0);
            b->registered_wall_ms = r->now_wall_ms;
            kind = REG_CHANGE_ADDED;
        }
        /* a refresh keeps the contact as first written (an equivalent URI
         * may be spelt differently): it is the binding's key on disk */
        binding_values_t v = {.contact = kind == REG_CHANGE_ADDED ? c->uri : b->contact,
                              .contact_len = kind == REG_CHANGE_ADDED ? c->uri_len : strlen(b->contact),
                              .call_id = r->call_id, .source = r->source, .user_agent = r->user_agent,
                              .cseq = r->cseq, .q = c->q, .transport = r->transport, .behind_nat = r->behind_nat,
                              .socket_id = r->socket_id, .expires_s = c->expires_s, .now_ms = r->now_ms,
                              .updated_wall_ms = r->now_wall_ms};
        binding_set(s, b, &v);
        if (kind == REG_CHANGE_ADDED)
            heap_push(s, b);
        else
            heap_moved(s, b);
        if (fn)
            fn(b, kind, ud);
    }
    return REG_UPDATE_OK;
}

const reg_binding_t *reg_store_restore(reg_store_t *s, const reg_restore_t *r, uint64_t now_ms)
{
    if (!r->user || !*r->user || !r->contact || !*r->contact || r->expires_s == 0)
        return NULL;
    reg_aor_t *a = aor_get(s, NULL, r->user, r->aor);
    reg_binding_t *b = find_contact(a, r->contact, strlen(r->contact));
    if (b)
        return NULL; /* the same contact twice on disk: the first wins */
    b = binding_add(s, a, r->id);
    binding_values_t v = {.contact = r->contact, .contact_len = strlen(r->contact), .call_id = r->call_id,
                          .source = r->source, .user_agent = r->user_agent, .cseq = r->cseq, .q = r->q,
                          .transport = r->transport, .behind_nat = r->behind_nat, .socket_id = r->socket_id,
                          .expires_s = r->expires_s, .now_ms = now_ms, .updated_wall_ms = r->updated_wall_ms};
    binding_set(s, b, &v);
    b->registered_wall_ms = r->registered_wall_ms;
    heap_push(s, b);
    return b;
}

const reg_aor_t *reg_store_find(const reg_store_t *s, const char *user)
{
    return reg_strmap_get(s->aors, user);
}

const reg_binding_t *reg_store_best(const reg_store_t *s, const char *user)
{
    const reg_aor_t *a = reg_strmap_get(s->aors, user);
    const reg_binding_t *best = NULL;
    for (size_t i = 0; a && i < a->n; i++) {
        const reg_binding_t *b = a->bindings[i];
        int q = b->q < 0 ? 1000 : b->q, bq = best ? (best->q < 0 ? 1000 : best->q) : -1;
        if (!best || q > bq || (q == bq && b->updated_wall_ms >= best->updated_wall_ms))
            best = b;
    }
    return best;
}

typedef struct id_search {
    uint64_t id;
    const reg_binding_t *found;
} id_search_t;

static int search_id(const reg_aor_t *a, void *ud)
{
    id_search_t *q = ud;
    for (size_t i = 0; i < a->n; i++)
        if (a->bindings[i]->id == q->id) {
            q->found = a->bindings[i];
            return 1;
        }
    return 0;
}

const reg_binding_t *reg_store_by_id(const reg_store_t *s, uint64_t id)
{
    id_search_t q = {.id = id};
    reg_store_each((reg_store_t *)s, search_id, &q);
    return q.found;
}

size_t reg_store_expire(reg_store_t *s, uint64_t now_ms, reg_change_fn fn, void *ud)
{
    size_t n = 0;
    while (s->n_heap && s->heap[0]->expires_at_ms <= now_ms) {
        binding_remove(s, s->heap[0], REG_CHANGE_EXPIRED, fn, ud);
        n++;
    }
    return n;
}

size_t reg_store_remove_user(reg_store_t *s, const char *user, reg_change_fn fn, void *ud)
{
    reg_aor_t *a = reg_strmap_get(s->aors, user);
    size_t n = a ? a->n : 0;
    for (size_t left = n; left > 0; left--)
        binding_remove(s, a->bindings[left - 1], REG_CHANGE_REMOVED, fn, ud); /* the last one frees a */
    return n;
}

int reg_store_remove_id(reg_store_t *s, uint64_t id, reg_change_fn fn, void *ud)
{
    const reg_binding_t *b = reg_store_by_id(s, id);
    if (!b)
        return 0;
    reg_store_remove(s, b, fn, ud);
    return 1;
}

const reg_binding_t *reg_store_find_contact(const reg_store_t *s, const char *user, const char *contact)
{
    return contact ? find_contact(reg_strmap_get(s->aors, user), contact, strlen(contact)) : NULL;
}

void reg_store_remove(reg_store_t *s, const reg_binding_t *b, reg_change_fn fn, void *ud)
{
    binding_remove(s, (reg_binding_t *)b, REG_CHANGE_REMOVED, fn, ud);
}

size_t reg_store_count(const reg_store_t *s)
{
    return s->n_heap;
}

size_t reg_store_nat_count(const reg_store_t *s)
{
    return s->n_nat;
}

size_t reg_store_aor_count(const reg_store_t *s)
{
    return reg_strmap_count(s->aors);
}

typedef struct each_ctx {
    int (*fn)(const reg_aor_t *, void *);
    void *ud;
} each_ctx_t;

static int each_aor(const char *key, void *value, void *ud)
{
    (void)key;
    each_ctx_t *c = ud;
    return c->fn(value, c->ud);
}

void reg_store_each(reg_store_t *s, int (*fn)(const reg_aor_t *aor, void *ud), void *ud)
{
    each_ctx_t c = {.fn = fn, .ud = ud};
    reg_strmap_each(s->aors, each_aor, &c);
}

uint32_t reg_binding_seconds_left(const reg_binding_t *b, uint64_t now_ms)
{
    if (b->expires_at_ms <= now_ms)
        return 0;
    return (uint32_t)((b->expires_at_ms - now_ms + 999) / 1000);
}
