/* SIP transports: UDP sockets and TCP listeners/connections on the signaling
 * loop. Received bytes go to the front door; responses come back through
 * sw_transport_send. */
#ifndef SW_NET_TRANSPORT_H
#define SW_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "sip/message.h"

typedef struct sw_transport_limits {
    size_t max_message_size;
    size_t max_tcp_connections;
    uint64_t tcp_idle_timeout_ms;
    int tos;
} sw_transport_limits_t;

/* Binds every listener of the settings; errors name the socket and reason. */
int sw_transport_start(const sw_core_settings_t *s, sw_errors_t *errs);
/* Applies reloadable settings (ToS, sizes, TCP limits) to live sockets. */
void sw_transport_apply(const sw_core_settings_t *s);
/* Closes listeners and connections (their handles close on the next loop turn). */
void sw_transport_stop(void);

/* Sends bytes back the way `origin` came: over its TCP connection, or from
 * its UDP socket to `to`. Returns 0 on success (queued counts as success). */
int sw_transport_send(const sw_msg_origin_t *origin, const struct sockaddr *to, socklen_t tolen, const char *buf,
                      size_t len);

/* internal, between transport.c, udp.c and tcp.c */
void sw_transport_limits(sw_transport_limits_t *out);
int sw_udp_listen(const sw_listen_spec_t *spec, uint64_t id, char *err, size_t errlen);
int sw_tcp_listen(const sw_listen_spec_t *spec, uint64_t id, char *err, size_t errlen);
int sw_udp_send(uint64_t socket_id, const struct sockaddr *to, const char *buf, size_t len);
int sw_tcp_send(struct sw_conn *conn, const char *buf, size_t len);
void sw_udp_apply_tos(int tos);
void sw_tcp_apply_tos(int tos);
void sw_udp_stop(void);
void sw_tcp_stop(void);
void sw_fill_origin_addr(sw_msg_origin_t *o, const struct sockaddr *sa);
/* The socket address of a listen spec (IPv4 or IPv6 literal only). */
int sw_listen_sockaddr(const sw_listen_spec_t *spec, struct sockaddr_storage *ss, char *err, size_t errlen);
/* Sets the IP ToS (IPv4) or traffic class (IPv6) of a libuv socket handle. */
void sw_socket_set_tos(uv_handle_t *h, int family, int tos);

#endif
