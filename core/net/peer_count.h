/* How many TCP connections each peer IP address holds, so that one address
 * cannot take all of max_tcp_connections (max_tcp_connections_per_ip). A
 * hash table of the addresses with at least one connection: its size
 * follows the number of connections, which max_tcp_connections bounds. */
#ifndef SW_NET_PEER_COUNT_H
#define SW_NET_PEER_COUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Counts one more connection from addr's IP unless it holds `limit`
 * already (0 = no limit): false then (or when memory ran out). */
bool sw_peer_count_add(const struct sockaddr *addr, size_t limit);
/* One connection from addr's IP ended (after a successful add). */
void sw_peer_count_remove(const struct sockaddr *addr);
/* Connections from addr's IP now. */
size_t sw_peer_count_get(const struct sockaddr *addr);
/* Forgets every address (shutdown). */
void sw_peer_count_clear(void);

#endif
