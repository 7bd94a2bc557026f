/* Is a registering device behind NAT? (PARAMETERS.md section 4: "Via/
 * Contact address differs from the packet's source address"; RFC 3581.)
 *
 * Behind NAT when the top Via's sent-by host is not the source IP, or, over
 * UDP, its port (5060 when absent) is not the source port; or when the
 * contact's host is an IP address other than the source IP. Over TCP the
 * source port is the connection's ephemeral one, so only addresses count.
 * A host name in the Via counts as different (the switch could not send to
 * it without DNS); a host name in the contact is not judged. */
#ifndef REGISTRAR_NAT_DETECT_H
#define REGISTRAR_NAT_DETECT_H

#include <stddef.h>

/* The sent-by of the first Via value ("SIP/2.0/UDP host:port;..."): host
 * (without []), its length, and the port (0 when absent). 0, or -1. */
int reg_via_sent_by(const char *via, const char **host, size_t *host_len, unsigned *port);

/* via: the top Via header value; contact_uri: the first contact's URI (or
 * NULL); src_ip/src_port: where the packet came from (src_ip an IP
 * address, as the core reports it). A Via that cannot be
 * read counts as NAT (the source is the only address known to work). */
int reg_behind_nat(const char *via, const char *contact_uri, size_t contact_len, const char *src_ip,
                   unsigned src_port, int udp);
/* The same with the contact's host already taken out of its URI (NULL:
 * no contact, or not a SIP URI). */
int reg_behind_nat_host(const char *via, const char *contact_host, size_t contact_host_len, const char *src_ip,
                        unsigned src_port, int udp);

#endif
