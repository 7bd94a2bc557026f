/* Host names resolved off the signaling thread (resolve.h). Each name that
 * needs DNS is one uv_work_t: libuv's pool runs a few getaddrinfo calls at
 * once, so one dead name does not make the others wait behind it. A worker
 * writes only its own entry; the loop reads the entries after libuv hands
 * the completed work back, which orders the writes before the reads. */
#include "config.h"

#include "net/resolve.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct resolve_entry {
    uv_work_t work;
    sw_resolve_batch_t *batch;
    char *host;
    bool on_pool;                   /* queued and not handed back (loop thread's alone) */
    bool answered;
    bool found;
    struct sockaddr_storage addr;   /* port 0: each user adds its own */
    socklen_t addr_len;
    char reason[128];
} resolve_entry_t;

struct sw_resolve_batch {
    resolve_entry_t **entries;   /* pointers: a uv_work_t must not move while queued */
    size_t count, cap;
    size_t in_flight;            /* lookups queued on the pool and not handed back yet */
    sw_resolve_done_fn done;
    void *ud;
};

sw_resolve_batch_t *sw_resolve_batch_new(void)
{
    sw_resolve_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    return b;
}

void sw_resolve_batch_free(sw_resolve_batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++) {
        free(b->entries[i]->host);
        free(b->entries[i]);
    }
    free(b->entries);
    free(b);
}

static resolve_entry_t *find(const sw_resolve_batch_t *b, const char *host)
{
    for (size_t i = 0; i < b->count; i++)
        if (strcmp(b->entries[i]->host, host) == 0)
            return b->entries[i];
    return NULL;
}

/* One getaddrinfo; `flags` AI_NUMERICHOST only parses (no DNS). Returns the
 * getaddrinfo code; on success the entry holds the first address. */
static int lookup(resolve_entry_t *e, int flags)
{
    /* one socket type, so each address comes once; the address itself does
     * not depend on it */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = flags};
    struct addrinfo *res = NULL;
    errno = 0;
    int rc = getaddrinfo(e->host, NULL, &hints, &res);
    if (rc == 0 && (!res || res->ai_addrlen > sizeof e->addr))
        rc = EAI_FAIL;
    if (rc == 0) {
        memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
        e->addr_len = res->ai_addrlen;
        e->found = true;
        e->answered = true;
    } else if (!(flags & AI_NUMERICHOST)) {
        snprintf(e->reason, sizeof e->reason, "%s", rc == EAI_SYSTEM && errno ? strerror(errno) : gai_strerror(rc));
        e->answered = true;
    }
    if (res)
        freeaddrinfo(res);
    return rc;
}

void sw_resolve_add(sw_resolve_batch_t *b, const char *host)
{
    if (!host || b->done || find(b, host))
        return;
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->entries = realloc(b->entries, b->cap * sizeof *b->entries);
        if (!b->entries)
            abort();
    }
    resolve_entry_t *e = calloc(1, sizeof *e);
    if (!e || !(e->host = strdup(host)))
        abort();
    e->batch = b;
    b->entries[b->count++] = e;
    /* an IP literal is its own answer: parsed here, never sent to DNS */
    (void)lookup(e, AI_NUMERICHOST);
}

size_t sw_resolve_unanswered(const sw_resolve_batch_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->count; i++)
        n += !b->entries[i]->answered;
    return n;
}

void sw_resolve_now(sw_resolve_batch_t *b)
{
    for (size_t i = 0; i < b->count; i++)
        if (!b->entries[i]->answered)
            (void)lookup(b->entries[i], 0);
}

static void on_work(uv_work_t *w)
{
    (void)lookup(w->data, 0);
}

static void on_work_done(uv_work_t *w, int status)
{
    resolve_entry_t *e = w->data;
    sw_resolve_batch_t *b = e->batch;
    e->on_pool = false;
    if (status != 0 && !e->answered) {
        snprintf(e->reason, sizeof e->reason, "%s",
                 status == UV_ECANCELED ? "cancelled (shutting down)" : uv_strerror(status));
        e->answered = true;
    }
    if (--b->in_flight == 0)
        b->done(b, b->ud);
}

int sw_resolve_start(sw_resolve_batch_t *b, uv_loop_t *loop, sw_resolve_done_fn done, void *ud)
{
    b->done = done;
    b->ud = ud;
    for (size_t i = 0; i < b->count; i++) {
        resolve_entry_t *e = b->entries[i];
        if (e->answered)
            continue;
        e->work.data = e;
        int rc = uv_queue_work(loop, &e->work, on_work, on_work_done);
        if (rc != 0) {
            snprintf(e->reason, sizeof e->reason, "cannot start the lookup: %s", uv_strerror(rc));
            e->answered = true;
            continue;
        }
        e->on_pool = true;
        b->in_flight++;
    }
    return b->in_flight ? 0 : -1;
}

void sw_resolve_cancel(sw_resolve_batch_t *b)
{
    for (size_t i = 0; i < b->count; i++)
        if (b->entries[i]->on_pool)
            (void)uv_cancel((uv_req_t *)&b->entries[i]->work); /* fails for lookups already running: fine */
}

int sw_resolve_address(const sw_resolve_batch_t *b, const char *host, uint16_t port,
                       struct sockaddr_storage *addr, socklen_t *addr_len, const char **reason)
{
    const resolve_entry_t *e = find(b, host);
    if (!e || !e->answered) {
        *reason = "not looked up";
        return -1;
    }
    if (!e->found) {
        *reason = e->reason;
        return -1;
    }
    memcpy(addr, &e->addr, e->addr_len);
    *addr_len = e->addr_len;
    if (addr->ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)addr)->sin_port = htons(port);
    else if (addr->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)addr)->sin6_port = htons(port);
    return 0;
}
