/* Transport bookkeeping shared by UDP and TCP: which sockets exist, the
 * limits in force, and sending a response back the way a request came. */
#include "config.h"

#include "net/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"

static sw_transport_limits_t limits = {
    .max_message_size = 65535, .max_tcp_connections = 4096, .tcp_idle_timeout_ms = 120000, .tos = 0xa0};

void sw_transport_limits(sw_transport_limits_t *out)
{
    *out = limits;
}

static void take_limits(const sw_core_settings_t *s)
{
    limits.max_message_size = s->max_message_size;
    limits.max_tcp_connections = s->max_tcp_connections;
    limits.max_tcp_connections_per_ip = s->max_tcp_connections_per_ip;
    limits.tcp_idle_timeout_ms = s->tcp_idle_timeout_ms;
    limits.tos = s->qos_signal;
}

int sw_transport_start(const sw_core_settings_t *s, sw_errors_t *errs)
{
    take_limits(s);
    int rc = 0;
    for (size_t i = 0; i < s->n_listen; i++) {
        const sw_listen_spec_t *spec = &s->listen[i];
        char err[256];
        int r = spec->transport == SW_TRANSPORT_UDP ? sw_udp_listen(spec, i + 1, err, sizeof err)
                                                    : sw_tcp_listen(spec, i + 1, err, sizeof err);
        if (r) {
            sw_errors_add(errs, NULL, 0, "listen %s:%s:%u: %s",
                          spec->transport == SW_TRANSPORT_UDP ? "udp" : "tcp", spec->host, spec->port, err);
            rc = -1;
        } else {
            sw_notice("listening on %s:%s:%u", spec->transport == SW_TRANSPORT_UDP ? "udp" : "tcp", spec->host,
                      spec->port);
        }
    }
    return rc;
}

void sw_transport_apply(const sw_core_settings_t *s)
{
    int old_tos = limits.tos;
    take_limits(s);
    if (old_tos != limits.tos) {
        sw_udp_apply_tos(limits.tos);
        sw_tcp_apply_tos(limits.tos);
    }
}

void sw_transport_stop(void)
{
    sw_udp_stop();
    sw_tcp_stop();
}

int sw_transport_send(const sw_msg_origin_t *origin, const struct sockaddr *to, socklen_t tolen, const char *buf,
                      size_t len)
{
    (void)tolen;
    if (origin->transport == SW_TRANSPORT_TCP)
        return origin->conn ? sw_tcp_send(origin->conn, buf, len) : -1;
    return sw_udp_send(origin->socket_id, to, buf, len);
}

/* "a.b.c.d" and "a.b.c.d:port", as inet_ntop and snprintf would write them:
 * every datagram's source is written out, and those two calls cost more
 * than the rest of reading a small message's origin. sw_decimal's NUL is
 * overwritten by what follows; the last one ends the text. */
static void fill_ipv4_text(sw_msg_origin_t *o, const struct in_addr *addr, unsigned port)
{
    const unsigned char *b = (const unsigned char *)&addr->s_addr;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            o->src_ip[n++] = '.';
        n += sw_decimal(o->src_ip + n, b[i]);
    }
    memcpy(o->src_text, o->src_ip, n);
    o->src_text[n++] = ':';
    n += sw_decimal(o->src_text + n, port);
}

void sw_fill_origin_addr(sw_msg_origin_t *o, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(&o->src, in6, sizeof *in6);
        o->src_len = sizeof *in6;
        inet_ntop(AF_INET6, &in6->sin6_addr, o->src_ip, sizeof o->src_ip);
        o->src_port = ntohs(in6->sin6_port);
        snprintf(o->src_text, sizeof o->src_text, "[%s]:%u", o->src_ip, o->src_port);
    } else {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        memcpy(&o->src, in4, sizeof *in4);
        o->src_len = sizeof *in4;
        o->src_port = ntohs(in4->sin_port);
        fill_ipv4_text(o, &in4->sin_addr, o->src_port);
    }
}

int sw_listen_sockaddr(const sw_listen_spec_t *spec, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(spec->host, spec->port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(spec->host, spec->port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    snprintf(err, errlen, "'%s' is not an IP address", spec->host);
    return -1;
}

void sw_socket_set_tos(uv_handle_t *h, int family, int tos)
{
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) == 0)
        sw_socket_fd_set_tos(fd, family, tos);
}

void sw_socket_fd_set_tos(int fd, int family, int tos)
{
    int rc = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos)
                                : setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    if (rc)
        sw_warn("cannot set the ToS byte 0x%02x on a SIP socket", (unsigned)tos);
}
