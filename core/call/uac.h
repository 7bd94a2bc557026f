/* Requests the switch sends as a user agent outside any call (module API
 * request_send): REGISTER to an upstream carrier, OPTIONS pings. Each gets
 * its own client transaction; the module hears the final answer once. */
#ifndef SW_CALL_UAC_H
#define SW_CALL_UAC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipswitch/module.h"

/* module.h request_send: 0 when sent, -1 (cb never called) otherwise. */
int sw_uac_request_send(sw_module_t *self, const char *method, const char *ruri, const char *headers,
                        const char *content_type, const char *body, size_t len, sw_transport_t transport,
                        const char *dest, uint64_t socket_id, sw_response_cb cb, void *arg);

/* module.h local_address: "host:port" peers reach us at over `transport`. */
int sw_uac_local_address(sw_transport_t transport, char *buf, size_t len);

/* module.h send_raw: bytes that are not SIP (NAT keep-alives). */
int sw_uac_send_raw(sw_transport_t transport, uint64_t socket_id, const char *dest, const void *data, size_t len);

/* Requests sent and not yet answered (or timed out): the shutdown lets the
 * loop run while there are some (an unregister to a carrier). */
size_t sw_uac_pending(void);

/* Frees what requests still pending at shutdown hold (after sw_tx_shutdown:
 * their transactions are gone without a callback). */
void sw_uac_shutdown(void);

/* Parses a numeric "ip:port" or "[v6]:port" (what request_send takes). */
int sw_uac_parse_dest(const char *text, struct sockaddr_storage *out, socklen_t *out_len);

#endif
