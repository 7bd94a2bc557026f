/* UDP listeners. One receive buffer serves every socket: the loop is single
 * threaded and each datagram is fully handled before the next is read. */
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
#include "stats/metrics.h"

#define MAX_UDP 16
/* one byte more than the largest UDP payload, to notice truncation */
#define RECV_BUF_SIZE 65536

typedef struct udp_sock {
    uv_udp_t handle;
    uint64_t id;
    int family;
    bool open;
} udp_sock_t;

static udp_sock_t socks[MAX_UDP];
static size_t n_socks;
static char recv_buf[RECV_BUF_SIZE];
static bool recv_buf_busy;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    if (recv_buf_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    recv_buf_busy = true;
    buf->base = recv_buf;
    buf->len = sizeof recv_buf;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags)
{
    udp_sock_t *s = h->data;
    if (buf->base == recv_buf)
        recv_buf_busy = false;
    if (nread <= 0 || !addr)
        return;
    sw_msg_origin_t origin;
    memset(&origin, 0, sizeof origin);
    origin.transport = SW_TRANSPORT_UDP;
    origin.socket_id = s->id;
    sw_fill_origin_addr(&origin, addr);
    if (flags & UV_UDP_PARTIAL) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_OVERSIZE]);
        return;
    }
    sw_frontdoor_datagram(buf->base, (size_t)nread, &origin);
}

static void set_tos(udp_sock_t *s, int tos)
{
    sw_socket_set_tos((uv_handle_t *)&s->handle, s->family, tos);
}

int sw_udp_listen(const sw_listen_spec_t *spec, uint64_t id, char *err, size_t errlen)
{
    if (n_socks == MAX_UDP) {
        snprintf(err, errlen, "too many UDP sockets");
        return -1;
    }
    struct sockaddr_storage ss;
    if (sw_listen_sockaddr(spec, &ss, err, errlen))
        return -1;
    int r;
    udp_sock_t *s = &socks[n_socks];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->family = ss.ss_family;
    uv_udp_init(sw_loop(), &s->handle);
    s->handle.data = s;
    s->open = true;
    n_socks++;
    if ((r = uv_udp_bind(&s->handle, (struct sockaddr *)&ss, 0)) != 0 ||
        (r = uv_udp_recv_start(&s->handle, on_alloc, on_recv)) != 0) {
        snprintf(err, errlen, "%s", uv_strerror(r));
        return -1;
    }
    /* bursts of INVITEs must not overflow the kernel queue while Lua runs */
    int rcvbuf = 4 << 20;
    uv_recv_buffer_size((uv_handle_t *)&s->handle, &rcvbuf);
    sw_transport_limits_t lim;
    sw_transport_limits(&lim);
    set_tos(s, lim.tos);
    return 0;
}

void sw_udp_apply_tos(int tos)
{
    for (size_t i = 0; i < n_socks; i++)
        if (socks[i].open)
            set_tos(&socks[i], tos);
}

typedef struct pending_send {
    uv_udp_send_t req;
    char data[];
} pending_send_t;

static void on_sent(uv_udp_send_t *req, int status)
{
    if (status)
        sw_metric_inc(&sw_metrics.drops[SW_DROP_SEND_FAILED]);
    free(req->data);
}

int sw_udp_send(uint64_t socket_id, const struct sockaddr *to, const char *buf, size_t len)
{
    udp_sock_t *s = NULL;
    for (size_t i = 0; i < n_socks && !s; i++)
        if (socks[i].id == socket_id && socks[i].open)
            s = &socks[i];
    if (!s)
        return -1;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int r = uv_udp_try_send(&s->handle, &b, 1, to);
    if (r >= 0)
        return 0;
    if (r != UV_EAGAIN)
        return -1;
    /* kernel queue full: queue a copy on the loop */
    pending_send_t *p = malloc(sizeof *p + len);
    if (!p)
        return -1;
    memcpy(p->data, buf, len);
    p->req.data = p;
    b = uv_buf_init(p->data, (unsigned)len);
    if (uv_udp_send(&p->req, &s->handle, &b, 1, to, on_sent)) {
        free(p);
        return -1;
    }
    return 0;
}

uint64_t sw_udp_default_socket(int family)
{
    uint64_t any = 0;
    for (size_t i = 0; i < n_socks; i++) {
        if (!socks[i].open)
            continue;
        if (socks[i].family == family)
            return socks[i].id;
        if (!any)
            any = socks[i].id;
    }
    return any;
}

void sw_udp_stop(void)
{
    for (size_t i = 0; i < n_socks; i++)
        if (socks[i].open) {
            socks[i].open = false;
            uv_udp_recv_stop(&socks[i].handle);
            uv_close((uv_handle_t *)&socks[i].handle, NULL);
        }
}
