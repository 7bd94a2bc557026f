/* TCP listeners and connections. Each connection buffers bytes until the
 * framing finds a whole message; a framing error is answered (when possible)
 * and the connection closed, because the stream cannot be resynchronised.
 *
 * Connections are pooled by peer address, inbound and outbound alike: a
 * request to a gateway reuses any open connection to that exact address
 * (one we opened, or one the peer opened from that address), and whatever
 * arrives on an outbound connection (responses, or requests from the peer)
 * takes the same read path into the front door as inbound traffic.
 *
 * Transactions outlive connections (a peer may close right after a
 * request), so a connection is reference counted: holders keep the struct
 * valid after it closed (sends then fail), and watchers are told when it is
 * lost so a client transaction can fail at once instead of at its timeout. */
#include "config.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "loop_jobs.h"
#include "net/peer_count.h"
#include "net/transport.h"
#include "sip/framing.h"
#include "sip/frontdoor.h"
#include "sip/guard.h"
#include "sip/sip.h"
#include "stats/metrics.h"

#define MAX_TCP_LISTENERS 16

typedef struct tcp_listener {
    uv_tcp_t handle;
    uint64_t id;
    int family;
    bool open;
} tcp_listener_t;

struct sw_conn {
    uv_tcp_t handle;
    uv_timer_t idle;
    uv_connect_t connect_req;
    int family;
    sw_msg_origin_t origin;
    char *buf;
    size_t len, cap;
    sw_stream_framer_t framer;  /* how far buf was framed already */
    bool closing;
    bool peer_counted;          /* inbound: counted in its IP's connections (peer_count.h) */
    bool outbound;              /* we connected to the peer */
    bool connecting;            /* outbound, connect not finished: writes wait in libuv's queue */
    bool handle_open;           /* the libuv handles are not closed yet */
    unsigned holders;           /* sw_conn_hold references */
    sw_conn_watch_t *watchers;
    struct sw_conn *prev, *next;        /* every open connection (for stop and ToS) */
    struct sw_conn *pool_next;          /* hash chain of the pool by peer address */
};

static tcp_listener_t listeners[MAX_TCP_LISTENERS];
static size_t n_listeners;
static struct sw_conn *conns;
static size_t n_conns;

/* ---- the pool: open connections by peer address ---------------------------- */

static struct sw_conn **pool;
static size_t pool_size;        /* buckets, a power of two (0 until first use) */
static size_t pool_count;

static size_t addr_hash(const struct sockaddr *sa)
{
    /* FNV-1a over address and port: peers cannot choose our bucket layout
     * in any way that matters, only max_tcp_connections of them exist */
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p;
    size_t n;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        p = in6->sin6_addr.s6_addr;
        n = 16;
        h = (h ^ in6->sin6_port) * 1099511628211ULL;
    } else {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        p = (const unsigned char *)&in4->sin_addr;
        n = 4;
        h = (h ^ in4->sin_port) * 1099511628211ULL;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static bool addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)a;
    const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static void pool_grow(void)
{
    size_t nsize = pool_size ? pool_size * 2 : 256;
    struct sw_conn **np = calloc(nsize, sizeof *np);
    if (!np)
        return; /* keep the old table: chains get longer, nothing breaks */
    for (size_t i = 0; i < pool_size; i++)
        for (struct sw_conn *c = pool[i], *next; c; c = next) {
            next = c->pool_next;
            size_t b = addr_hash((struct sockaddr *)&c->origin.src) & (nsize - 1);
            c->pool_next = np[b];
            np[b] = c;
        }
    free(pool);
    pool = np;
    pool_size = nsize;
}

static void pool_add(struct sw_conn *c)
{
    if (pool_count >= pool_size)
        pool_grow();
    if (!pool_size)
        return;
    size_t b = addr_hash((struct sockaddr *)&c->origin.src) & (pool_size - 1);
    c->pool_next = pool[b];
    pool[b] = c;
    pool_count++;
}

static void pool_remove(struct sw_conn *c)
{
    if (!pool_size)
        return;
    size_t b = addr_hash((struct sockaddr *)&c->origin.src) & (pool_size - 1);
    for (struct sw_conn **pp = &pool[b]; *pp; pp = &(*pp)->pool_next)
        if (*pp == c) {
            *pp = c->pool_next;
            c->pool_next = NULL;
            pool_count--;
            return;
        }
}

static struct sw_conn *pool_find(const struct sockaddr *sa)
{
    if (!pool_size)
        return NULL;
    for (struct sw_conn *c = pool[addr_hash(sa) & (pool_size - 1)]; c; c = c->pool_next)
        if (!c->closing && addr_equal((struct sockaddr *)&c->origin.src, sa))
            return c;
    return NULL;
}

/* ---- life cycle -------------------------------------------------------------- */

static void conn_maybe_free(struct sw_conn *c)
{
    if (c->handle_open || c->holders)
        return;
    free(c->buf);
    free(c);
}

static void conn_freed(uv_handle_t *h)
{
    struct sw_conn *c = h->data;
    c->handle_open = false;
    conn_maybe_free(c);
}

void sw_conn_hold(struct sw_conn *c)
{
    if (c)
        c->holders++;
}

void sw_conn_release(struct sw_conn *c)
{
    if (!c || !c->holders)
        return;
    c->holders--;
    conn_maybe_free(c);
}

bool sw_conn_usable(const struct sw_conn *c)
{
    return c && !c->closing;
}

void sw_conn_watch(struct sw_conn *c, sw_conn_watch_t *w, void (*on_lost)(sw_conn_watch_t *w))
{
    w->on_lost = on_lost;
    w->conn = c;
    w->prev = NULL;
    w->next = c->watchers;
    if (c->watchers)
        c->watchers->prev = w;
    c->watchers = w;
}

void sw_conn_unwatch(sw_conn_watch_t *w)
{
    if (!w->conn)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->conn->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->conn = NULL;
}

/* Tells every watcher the connection is gone. A watcher may unwatch others
 * or open new connections from its callback, so each is unlinked first. */
static void conn_notify_lost(struct sw_conn *c)
{
    while (c->watchers) {
        sw_conn_watch_t *w = c->watchers;
        sw_conn_unwatch(w);
        w->on_lost(w);
    }
}

static void idle_closed(uv_handle_t *h)
{
    struct sw_conn *c = h->data;
    uv_close((uv_handle_t *)&c->handle, conn_freed);
}

static void conn_close(struct sw_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    pool_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n_conns--;
    atomic_fetch_sub(&sw_metrics.tcp_connections, 1);
    if (c->peer_counted) {
        sw_peer_count_remove((struct sockaddr *)&c->origin.src);
        c->peer_counted = false;
    }
    uv_read_stop((uv_stream_t *)&c->handle);
    uv_timer_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, idle_closed);
    /* hold it across the callbacks: a watcher may release the last hold */
    c->holders++;
    conn_notify_lost(c);
    sw_conn_release(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    struct sw_conn *c = req->data;
    free(req);
    conn_close(c);
}

/* Closes after the queued responses are written. */
static void conn_close_after_writes(struct sw_conn *c)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->handle, on_shutdown)) {
        free(req);
        conn_close(c);
        return;
    }
    req->data = c;
    uv_read_stop((uv_stream_t *)&c->handle);
}

static void conn_touch(struct sw_conn *c);

static void on_idle(uv_timer_t *t)
{
    struct sw_conn *c = t->data;
    if (c->watchers) {
        /* a client transaction still waits for its answer on it */
        conn_touch(c);
        return;
    }
    sw_debug("tcp %s: idle, closing", c->origin.src_text);
    sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_TCP_IDLE_TIMEOUT]);
    conn_close(c);
}

static void conn_touch(struct sw_conn *c)
{
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    uv_timer_start(&c->idle, on_idle, lim.tcp_idle_timeout_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sw_conn *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        char *nb = realloc(c->buf, ncap);
        if (!nb) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    buf->base = c->buf + c->len;
    buf->len = c->cap - c->len;
}

/* ---- reading: the stream's messages to the front door ---------------------------- */

static void sink_pong(void *ud)
{
    sw_tcp_send(ud, "\r\n", 2);
}

static bool sink_message(void *ud, const char *buf, const sw_frame_t *fr)
{
    struct sw_conn *c = ud;
    atomic_fetch_add_explicit(&sw_metrics.bytes_in, fr->total, memory_order_relaxed);
    if (!sw_guard_admit((struct sockaddr *)&c->origin.src)) {
        /* rate limited: the whole connection goes, silently */
        conn_close(c);
        return false;
    }
    conn_touch(c);
    sw_guard_note_message_age(-1); /* a stream keeps no receive time per message */
    sw_frontdoor_stream_message(buf, fr, &c->origin);
    return !c->closing;
}

static void sink_framing_error(void *ud, const char *buf, size_t len, const char *reason, bool oversize)
{
    struct sw_conn *c = ud;
    if (oversize) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_OVERSIZE]);
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_MESSAGE_SIZE]);
    }
    sw_frontdoor_framing_error(buf, len, &c->origin, reason);
}

static const sw_stream_sink_t stream_sink = {
    .pong = sink_pong, .message = sink_message, .framing_error = sink_framing_error};

/* Consumes every complete message in the buffer. Returns -1 when the
 * connection must be closed. */
static int conn_drain(struct sw_conn *c)
{
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    bool must_close = false;
    /* a message handler may close the connection: the struct and its buffer
     * stay until the handle's close callback, on a later loop turn */
    size_t off = sw_stream_drain(&c->framer, c->buf, c->len, lim.max_message_size, &stream_sink, c, &must_close);
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return must_close ? -1 : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct sw_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->len += (size_t)nread;
    if (conn_drain(c) && !c->closing)
        conn_close_after_writes(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    tcp_listener_t *l = server->data;
    if (status < 0)
        return;
    struct sw_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(sw_loop(), &c->handle);
    c->handle.data = c;
    c->handle_open = true;
    if (uv_accept(server, (uv_stream_t *)&c->handle)) {
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    struct sockaddr_storage peer;
    int plen = sizeof peer;
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&peer, &plen) != 0) {
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    /* refused connections are closed at once, before any byte is read */
    if (!sw_guard_admit((struct sockaddr *)&peer)) {
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    if (n_conns >= lim.max_tcp_connections) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_TCP_LIMIT]);
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_TCP_CONNECTIONS]);
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    if (!sw_peer_count_add((struct sockaddr *)&peer, lim.max_tcp_connections_per_ip)) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_TCP_PER_IP_LIMIT]);
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_TCP_CONNECTIONS_PER_IP]);
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    c->peer_counted = true;
    c->family = l->family;
    c->origin.transport = SW_TRANSPORT_TCP;
    c->origin.socket_id = l->id;
    c->origin.conn = c;
    sw_fill_origin_addr(&c->origin, (struct sockaddr *)&peer);
    uv_tcp_nodelay(&c->handle, 1);
    sw_socket_set_tos((uv_handle_t *)&c->handle, l->family, lim.tos);
    uv_timer_init(sw_loop(), &c->idle);
    c->idle.data = c;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    n_conns++;
    pool_add(c);
    atomic_fetch_add(&sw_metrics.tcp_connections, 1);
    conn_touch(c);
    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

/* ---- outbound connections ------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status)
{
    struct sw_conn *c = req->data;
    c->connecting = false;
    if (c->closing)
        return; /* closed while connecting (shutdown): watchers were told */
    if (status < 0) {
        sw_notice("tcp %s: connect failed: %s", c->origin.src_text, uv_strerror(status));
        conn_close(c);
        return;
    }
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    uv_tcp_nodelay(&c->handle, 1);
    sw_socket_set_tos((uv_handle_t *)&c->handle, c->family, lim.tos);
    conn_touch(c);
    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

struct sw_conn *sw_tcp_connect_to(const struct sockaddr *addr, socklen_t addr_len)
{
    if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) || !sw_loop())
        return NULL;
    struct sw_conn *c = pool_find(addr);
    if (c) {
        sw_conn_hold(c);
        return c;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    (void)addr_len;
    uv_tcp_init(sw_loop(), &c->handle);
    c->handle.data = c;
    c->handle_open = true;
    c->outbound = true;
    c->connecting = true;
    c->family = addr->sa_family;
    c->origin.transport = SW_TRANSPORT_TCP;
    c->origin.conn = c;
    sw_fill_origin_addr(&c->origin, addr);
    c->connect_req.data = c;
    int r = uv_tcp_connect(&c->connect_req, &c->handle, addr, on_connect);
    if (r) {
        sw_notice("tcp %s: cannot connect: %s", c->origin.src_text, uv_strerror(r));
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return NULL;
    }
    uv_timer_init(sw_loop(), &c->idle);
    c->idle.data = c;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    n_conns++;
    pool_add(c);
    atomic_fetch_add(&sw_metrics.tcp_connections, 1);
    conn_touch(c);
    sw_conn_hold(c);
    sw_debug("tcp %s: connecting", c->origin.src_text);
    return c;
}

int sw_tcp_listen(const sw_listen_spec_t *spec, uint64_t id, char *err, size_t errlen)
{
    if (n_listeners == MAX_TCP_LISTENERS) {
        snprintf(err, errlen, "too many TCP listeners");
        return -1;
    }
    struct sockaddr_storage ss;
    if (sw_listen_sockaddr(spec, &ss, err, errlen))
        return -1;
    int r;
    tcp_listener_t *l = &listeners[n_listeners];
    memset(l, 0, sizeof *l);
    l->id = id;
    l->family = ss.ss_family;
    uv_tcp_init(sw_loop(), &l->handle);
    l->handle.data = l;
    l->open = true;
    n_listeners++;
    if ((r = uv_tcp_bind(&l->handle, (struct sockaddr *)&ss, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&l->handle, 1024, on_connection)) != 0) {
        snprintf(err, errlen, "%s", uv_strerror(r));
        return -1;
    }
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    sw_socket_set_tos((uv_handle_t *)&l->handle, l->family, lim.tos);
    return 0;
}

void sw_tcp_apply_tos(int tos)
{
    for (size_t i = 0; i < n_listeners; i++)
        if (listeners[i].open)
            sw_socket_set_tos((uv_handle_t *)&listeners[i].handle, listeners[i].family, tos);
    for (struct sw_conn *c = conns; c; c = c->next)
        if (!c->connecting)
            sw_socket_set_tos((uv_handle_t *)&c->handle, c->family, tos);
}

typedef struct write_req {
    uv_write_t req;
    char data[];
} write_req_t;

static void on_written(uv_write_t *req, int status)
{
    if (status)
        sw_metric_inc(&sw_metrics.drops[SW_DROP_SEND_FAILED]);
    free(req->data);
}

struct sw_conn *sw_tcp_find(const struct sockaddr *addr)
{
    struct sw_conn *c = addr ? pool_find(addr) : NULL;
    if (c)
        sw_conn_hold(c);
    return c;
}

void sw_conn_keep(struct sw_conn *c)
{
    if (c && !c->closing)
        conn_touch(c);
}

int sw_tcp_send(struct sw_conn *c, const char *buf, size_t len)
{
    if (!c || c->closing)
        return -1;
    write_req_t *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    memcpy(w->data, buf, len);
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    /* while an outbound connection is still connecting, libuv queues the
     * write and sends it once connected (or fails it with ECANCELED) */
    if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written)) {
        free(w);
        return -1;
    }
    if (c->outbound)
        conn_touch(c); /* our own traffic keeps an outbound connection open */
    return 0;
}

void sw_tcp_stop(void)
{
    for (size_t i = 0; i < n_listeners; i++)
        if (listeners[i].open) {
            listeners[i].open = false;
            uv_close((uv_handle_t *)&listeners[i].handle, NULL);
        }
    while (conns)
        conn_close(conns);
    sw_peer_count_clear();
    free(pool);
    pool = NULL;
    pool_size = pool_count = 0;
}
