/* SIP transports: UDP sockets and TCP listeners/connections on the signaling
 * loop. Received bytes go to the front door; responses come back through
 * sw_transport_send; client transactions send from a chosen UDP socket
 * (sw_udp_send) or over a pooled TCP connection (sw_tcp_connect_to). */
#ifndef SW_NET_TRANSPORT_H
#define SW_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "sip/message.h"

typedef struct sw_transport_limits {
    size_t max_message_size;
    size_t max_tcp_connections;
    size_t max_tcp_connections_per_ip;  /* 0 = no limit */
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

/* ---- outbound (client transactions) -------------------------------------- */

/* The UDP socket a request to a peer of this address family goes out of
 * when the caller names none: the first open UDP listener of that family,
 * else the first open one. 0 when there is none. */
uint64_t sw_udp_default_socket(int family);

/* The pooled TCP connection to addr: an open (or still connecting) one to
 * exactly that address is reused, inbound or outbound; else a new one starts
 * connecting and requests sent meanwhile wait in its write queue. Responses
 * and requests arriving on it go to the front door like inbound traffic.
 * The connection is returned held (sw_conn_release when done). NULL when
 * no connection can even be started (bad address, no loop). A connect that
 * fails later closes the connection: its watchers are told. */
struct sw_conn *sw_tcp_connect_to(const struct sockaddr *addr, socklen_t addr_len);
/* The pooled connection to addr if one is open (inbound or outbound),
 * returned held; NULL otherwise: nothing is started (a NAT keep-alive goes
 * on the device's own connection or nowhere). */
struct sw_conn *sw_tcp_find(const struct sockaddr *addr);
/* Restarts the connection's idle timer: the switch keeps it open on purpose
 * (keep-alives toward a registered device), not only its peer. */
void sw_conn_keep(struct sw_conn *c);

/* A held connection stays valid (as memory) after it closed; sending on it
 * then fails. Connections are freed once closed and released by all. */
void sw_conn_hold(struct sw_conn *c);
void sw_conn_release(struct sw_conn *c);
/* Not closed or closing. */
bool sw_conn_usable(const struct sw_conn *c);

/* Told once when the connection is lost (connect failed, closed by the
 * peer, an error, shutdown); the watch is removed before the call. Embed
 * it in the watching object; unwatch before freeing that object. While a
 * connection has watchers the idle timeout does not close it. */
typedef struct sw_conn_watch {
    void (*on_lost)(struct sw_conn_watch *w);
    struct sw_conn *conn;       /* NULL when not watching */
    struct sw_conn_watch *prev, *next;
} sw_conn_watch_t;
void sw_conn_watch(struct sw_conn *c, sw_conn_watch_t *w, void (*on_lost)(sw_conn_watch_t *w));
void sw_conn_unwatch(sw_conn_watch_t *w);

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
void sw_socket_fd_set_tos(int fd, int family, int tos);

#endif
