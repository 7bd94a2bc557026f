/* Who may send calls: [mapping NAME] sections list the addresses of customer
 * switches (IPs, CIDR blocks, optionally with a port). An INVITE from an
 * address no mapping (and, later, no registered device) covers is refused
 * with 403: toll-fraud protection is the default.
 *
 * The table is built once per cfg (start-up, reload) and read on every
 * INVITE: exact addresses are one hash probe; CIDR blocks are one probe per
 * distinct prefix length present (longest first), so a lookup costs at most
 * 33 (IPv4) or 129 (IPv6) probes whatever the number of mappings. */
#ifndef SW_CALL_SOURCES_H
#define SW_CALL_SOURCES_H

#include <stdint.h>
#include <sys/socket.h>

#include "cfg/config.h"

typedef struct sw_sources sw_sources_t;

/* Builds the table from every [mapping] section of cfg (the core's view).
 * Bad entries are errors with file:line; the same address block in two
 * mappings is an error too (which customer would it be?). Returns NULL only
 * when errors were added. */
sw_sources_t *sw_sources_build(const sw_config_t *core_view, sw_errors_t *errs);
void sw_sources_free(sw_sources_t *t);

/* The mapping covering this source address, or NULL. An entry with a port
 * beats one without; a longer prefix beats a shorter one. */
const char *sw_sources_match(const sw_sources_t *t, const struct sockaddr *addr);

size_t sw_sources_count(const sw_sources_t *t);

/* Parses one entry: "192.0.2.1", "192.0.2.0/24", "192.0.2.1:5060",
 * "2001:db8::/32", "[2001:db8::1]:5060". Exposed for tests and cfg checks. */
typedef struct sw_source_entry {
    int family;                 /* AF_INET or AF_INET6 */
    uint8_t addr[16];           /* network byte order, host bits cleared */
    uint8_t prefix_len;         /* 0..32 / 0..128 */
    uint16_t port;              /* 0 = any */
} sw_source_entry_t;
int sw_source_parse(const char *text, sw_source_entry_t *out, char *err, size_t errlen);

#endif
