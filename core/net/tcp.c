/* TCP listeners and connections. Each connection buffers bytes until the
 * framing finds a whole message; a framing error is answered (when possible)
 * and the connection closed, because the stream cannot be resynchronised. */
#include "config.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "loop_jobs.h"
#include "net/transport.h"
#include "sip/frontdoor.h"
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
    tcp_listener_t *listener;
    sw_msg_origin_t origin;
    char *buf;
    size_t len, cap;
    bool closing;
    struct sw_conn *prev, *next;
};

static tcp_listener_t listeners[MAX_TCP_LISTENERS];
static size_t n_listeners;
static struct sw_conn *conns;
static size_t n_conns;

static void conn_freed(uv_handle_t *h)
{
    struct sw_conn *c = h->data;
    free(c->buf);
    free(c);
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
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n_conns--;
    atomic_fetch_sub(&sw_metrics.tcp_connections, 1);
    uv_read_stop((uv_stream_t *)&c->handle);
    uv_timer_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, idle_closed);
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

static void on_idle(uv_timer_t *t)
{
    struct sw_conn *c = t->data;
    sw_debug("tcp %s: idle, closing", c->origin.src_text);
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

/* Consumes every complete message in the buffer. Returns -1 when the
 * connection must be closed. */
static int conn_drain(struct sw_conn *c)
{
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    size_t off = 0;
    int rc = 0;
    while (off < c->len && !c->closing) {
        const char *p = c->buf + off;
        size_t avail = c->len - off;
        /* RFC 5626 keep-alive: a double CRLF ping gets a single CRLF pong */
        if (avail >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
            sw_tcp_send(c, "\r\n", 2);
            off += 4;
            continue;
        }
        if (avail >= 2 && memcmp(p, "\r\n", 2) == 0) {
            if (avail < 4 && avail == 2)
                break; /* maybe the start of a ping */
            off += 2;
            continue;
        }
        sw_frame_t fr;
        memset(&fr, 0, sizeof fr);
        sw_frame_status_t st = sw_sip_frame(p, avail, true, lim.max_message_size, &fr);
        if (st == SW_FRAME_INCOMPLETE) {
            if (avail > lim.max_message_size) {
                sw_metric_inc(&sw_metrics.drops[SW_DROP_OVERSIZE]);
                sw_frontdoor_framing_error(p, avail, &c->origin, "message too large");
                rc = -1;
            }
            break;
        }
        if (st == SW_FRAME_ERROR) {
            sw_frontdoor_framing_error(p, avail, &c->origin, fr.error);
            rc = -1;
            break;
        }
        atomic_fetch_add_explicit(&sw_metrics.bytes_in, fr.total, memory_order_relaxed);
        conn_touch(c);
        sw_frontdoor_message(p + fr.skipped, fr.total - fr.skipped, &c->origin);
        off += fr.total;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return rc;
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
    if (conn_drain(c))
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
    if (uv_accept(server, (uv_stream_t *)&c->handle)) {
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    if (n_conns >= lim.max_tcp_connections) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_TCP_LIMIT]);
        uv_close((uv_handle_t *)&c->handle, conn_freed);
        return;
    }
    c->listener = l;
    c->origin.transport = SW_TRANSPORT_TCP;
    c->origin.socket_id = l->id;
    c->origin.conn = c;
    struct sockaddr_storage peer;
    int plen = sizeof peer;
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&peer, &plen) == 0)
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
    atomic_fetch_add(&sw_metrics.tcp_connections, 1);
    conn_touch(c);
    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
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
        sw_socket_set_tos((uv_handle_t *)&c->handle, c->listener->family, tos);
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
    if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written)) {
        free(w);
        return -1;
    }
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
}
