/* UDP listeners. The sockets are the switch's own, watched by a uv_poll_t:
 * libuv's uv_udp_t reads one datagram per system call and cannot say when
 * the kernel received it. Here a readable socket is read with recvmmsg, up
 * to RECV_BATCH datagrams a call, each with its kernel receive time
 * (SO_TIMESTAMPNS): how long it waited in the socket's queue is how far the
 * signaling thread is behind, which the guard turns into overload shedding
 * (sip/guard.h). Before anything else each datagram's source address goes
 * through the guard, so a blocked flood costs a hash probe per packet.
 *
 * One set of receive buffers serves every socket: the loop is single
 * threaded and each datagram is fully handled before the next read.
 * Sends go straight out with sendto; when the kernel queue is full they
 * wait, copied, in the socket's queue until it is writable again. */
#define _GNU_SOURCE /* recvmmsg */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "loop_jobs.h"
#include "net/transport.h"
#include "sip/frontdoor.h"
#include "sip/guard.h"
#include "stats/metrics.h"

#define MAX_UDP 16
/* Datagrams one recvmmsg call may return. */
#define RECV_BATCH 32
/* recvmmsg calls per readiness event: bounds how long UDP may hold the
 * loop before TCP, timers and jobs get their turn. */
#define RECV_CALLS_PER_EVENT 4
/* one byte more than the largest UDP payload, to notice truncation */
#define RECV_BUF_SIZE 65536
/* Bursts of INVITEs must not overflow the kernel queue while Lua runs, nor
 * a flood while the thread is not scheduled: 8 MB (the kernel doubles it)
 * holds about 16 000 small datagrams, 160 ms of a 100 000 packets/s flood.
 * Whatever waits longer than overload_message_age is shed, not lost. */
#define SOCKET_RCVBUF (8 << 20)

typedef struct pending_send {
    struct pending_send *next;
    struct sockaddr_storage to;
    socklen_t tolen;
    size_t len;
    char data[];
} pending_send_t;

typedef struct udp_sock {
    uv_poll_t poll;
    int fd;
    uint64_t id;
    int family;
    bool open;
    int events;                 /* UV_READABLE, plus UV_WRITABLE while sends wait */
    pending_send_t *queue_head, *queue_tail;
} udp_sock_t;

static udp_sock_t socks[MAX_UDP];
static size_t n_socks;

/* the receive batch: buffers, addresses, kernel receive times */
static char recv_bufs[RECV_BATCH][RECV_BUF_SIZE];
static struct sockaddr_storage recv_addrs[RECV_BATCH];
static char recv_ctrl[RECV_BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
static struct mmsghdr recv_msgs[RECV_BATCH];
static struct iovec recv_iovs[RECV_BATCH];

static void on_poll(uv_poll_t *h, int status, int events);

static socklen_t addr_len_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void set_events(udp_sock_t *s, int events)
{
    if (s->events == events || !s->open)
        return;
    s->events = events;
    uv_poll_start(&s->poll, events, on_poll);
}

/* How long the datagram waited since the kernel received it, in ms; -1
 * when the kernel gave no time. */
static int64_t datagram_age_ms(struct msghdr *mh, const struct timespec *now)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec rx;
        memcpy(&rx, CMSG_DATA(cm), sizeof rx);
        int64_t ms = (int64_t)(now->tv_sec - rx.tv_sec) * 1000 + (now->tv_nsec - rx.tv_nsec) / 1000000;
        return ms < 0 ? 0 : ms; /* the wall clock stepped back: no wait */
    }
    return -1;
}

static void handle_datagram(udp_sock_t *s, struct mmsghdr *m, char *buf, const struct timespec *now)
{
    const struct sockaddr *src = m->msg_hdr.msg_name;
    if (m->msg_hdr.msg_namelen == 0 || !sw_guard_admit(src))
        return;
    sw_msg_origin_t origin;
    memset(&origin, 0, sizeof origin);
    origin.transport = SW_TRANSPORT_UDP;
    origin.socket_id = s->id;
    sw_fill_origin_addr(&origin, src);
    if (m->msg_hdr.msg_flags & MSG_TRUNC) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_OVERSIZE]);
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_MESSAGE_SIZE]);
        return;
    }
    if (m->msg_len == 0)
        return;
    sw_guard_note_message_age(datagram_age_ms(&m->msg_hdr, now));
    sw_frontdoor_datagram(buf, m->msg_len, &origin);
}

/* Sets receive slots [0, n) up for the next recvmmsg. The kernel changes
 * only the slots it fills (their name and control lengths, flags), so after
 * a read only those are set again: at low rates a read returns one
 * datagram, and rewriting all 32 slots (some 40 cache lines) each time was
 * most of the read's own work. */
static void reset_recv_slots(int n)
{
    for (int i = 0; i < n; i++) {
        recv_iovs[i].iov_base = recv_bufs[i];
        recv_iovs[i].iov_len = RECV_BUF_SIZE;
        struct msghdr *mh = &recv_msgs[i].msg_hdr;
        mh->msg_name = &recv_addrs[i];
        mh->msg_namelen = sizeof recv_addrs[i];
        mh->msg_iov = &recv_iovs[i];
        mh->msg_iovlen = 1;
        mh->msg_control = recv_ctrl[i];
        mh->msg_controllen = sizeof recv_ctrl[i];
        mh->msg_flags = 0;
    }
}

static void receive_batches(udp_sock_t *s)
{
    static bool slots_ready;
    if (!slots_ready) {
        reset_recv_slots(RECV_BATCH);
        slots_ready = true;
    }
    for (int call = 0; call < RECV_CALLS_PER_EVENT && s->open; call++) {
        int n = recvmmsg(s->fd, recv_msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return; /* EAGAIN: drained; other errors (ICMP reports) are not ours to act on */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now); /* SO_TIMESTAMPNS times are wall-clock */
        for (int i = 0; i < n && s->open; i++)
            handle_datagram(s, &recv_msgs[i], recv_bufs[i], &now);
        reset_recv_slots(n);
        if (n < RECV_BATCH)
            return;
    }
}

/* Sends what waited for the socket to be writable, in order. */
static void flush_queue(udp_sock_t *s)
{
    while (s->queue_head) {
        pending_send_t *p = s->queue_head;
        ssize_t r = sendto(s->fd, p->data, p->len, 0, (struct sockaddr *)&p->to, p->tolen);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            return;
        if (r < 0)
            sw_metric_inc(&sw_metrics.drops[SW_DROP_SEND_FAILED]);
        s->queue_head = p->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        free(p);
    }
    set_events(s, UV_READABLE);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    udp_sock_t *s = h->data;
    if (status < 0) {
        sw_warn("udp socket %llu: %s", (unsigned long long)s->id, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        flush_queue(s);
    if (events & UV_READABLE)
        receive_batches(s);
}

static void set_tos(udp_sock_t *s, int tos)
{
    sw_socket_fd_set_tos(s->fd, s->family, tos);
}

static void set_receive_buffer(int fd)
{
    int size = SOCKET_RCVBUF;
    /* past net.core.rmem_max when allowed (CAP_NET_ADMIN), else up to it */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
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
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s", uv_strerror(-errno)); /* as libuv words it elsewhere */
        return -1;
    }
    int on = 1;
    if (bind(fd, (struct sockaddr *)&ss, addr_len_of((struct sockaddr *)&ss)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
        snprintf(err, errlen, "%s", uv_strerror(-errno)); /* as libuv words it elsewhere */
        close(fd);
        return -1;
    }
    set_receive_buffer(fd);
    udp_sock_t *s = &socks[n_socks];
    memset(s, 0, sizeof *s);
    int r = uv_poll_init_socket(sw_loop(), &s->poll, fd);
    if (r != 0) {
        snprintf(err, errlen, "%s", uv_strerror(r));
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->id = id;
    s->family = ss.ss_family;
    s->poll.data = s;
    s->open = true;
    n_socks++;
    set_events(s, UV_READABLE);
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

static int queue_send(udp_sock_t *s, const struct sockaddr *to, const char *buf, size_t len)
{
    pending_send_t *p = malloc(sizeof *p + len);
    if (!p)
        return -1;
    p->next = NULL;
    p->tolen = addr_len_of(to);
    memcpy(&p->to, to, p->tolen);
    p->len = len;
    memcpy(p->data, buf, len);
    if (s->queue_tail)
        s->queue_tail->next = p;
    else
        s->queue_head = p;
    s->queue_tail = p;
    set_events(s, UV_READABLE | UV_WRITABLE);
    return 0;
}

int sw_udp_send(uint64_t socket_id, const struct sockaddr *to, const char *buf, size_t len)
{
    udp_sock_t *s = NULL;
    for (size_t i = 0; i < n_socks && !s; i++)
        if (socks[i].id == socket_id && socks[i].open)
            s = &socks[i];
    if (!s || (to->sa_family != AF_INET && to->sa_family != AF_INET6))
        return -1;
    if (s->queue_head)
        return queue_send(s, to, buf, len); /* keep the order of what waits */
    ssize_t r = sendto(s->fd, buf, len, 0, to, addr_len_of(to));
    if (r >= 0)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        return queue_send(s, to, buf, len); /* kernel queue full: wait for it */
    return -1;
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

static void on_closed(uv_handle_t *h)
{
    udp_sock_t *s = h->data;
    close(s->fd);
    s->fd = -1;
}

void sw_udp_stop(void)
{
    for (size_t i = 0; i < n_socks; i++) {
        udp_sock_t *s = &socks[i];
        if (!s->open)
            continue;
        /* what still waits gets one last try: BYEs of the shutdown */
        while (s->queue_head) {
            pending_send_t *p = s->queue_head;
            (void)sendto(s->fd, p->data, p->len, 0, (struct sockaddr *)&p->to, p->tolen);
            s->queue_head = p->next;
            free(p);
        }
        s->queue_tail = NULL;
        s->open = false;
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_closed);
    }
}
