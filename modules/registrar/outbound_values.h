/* The syntax of outbound registration values in cfg: SS_SIP_USER_AGENT_EXPIRE
 * ("Auto" or seconds), a registrar or proxy address (host[:port]) and the
 * user parts the switch writes into URIs. Pure functions. */
#ifndef REGISTRAR_OUTBOUND_VALUES_H
#define REGISTRAR_OUTBOUND_VALUES_H

#include <stddef.h>
#include <stdint.h>

/* SS_SIP_USER_AGENT_EXPIRE: Auto, or a fixed value in this range. */
#define OB_EXPIRE_AUTO_ASK 3600
#define OB_EXPIRE_MIN 20
#define OB_EXPIRE_MAX 7200

/* "Auto" (any case: *out = 0) or whole seconds OB_EXPIRE_MIN..OB_EXPIRE_MAX
 * with an optional "s". 0, or -1. */
int ob_parse_expire(const char *text, uint32_t *out);

/* "host", "host:port", "[v6]" or "[v6]:port", host an IPv4 address, an
 * IPv6 address (in brackets) or a DNS name. host gets the host without
 * brackets; *port 0 when none is written. 0, or -1. */
int ob_split_hostport(const char *text, char *host, size_t hostlen, unsigned *port);

/* 1 when the text may stand as the user part of a SIP URI as it is:
 * 1 to 64 unreserved and user-unreserved characters (RFC 3261 25.1),
 * no escapes. */
int ob_user_valid(const char *text);

#endif
