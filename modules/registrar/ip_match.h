/* IP addresses as the registrar meets them: the "ip:port" text of a
 * message's source (api->msg_source), an account's allowed_ips (addresses
 * and CIDR blocks, IPv4 or IPv6), and the comparison of two addresses
 * written differently ("::1" and "0:0::1"). */
#ifndef REGISTRAR_IP_MATCH_H
#define REGISTRAR_IP_MATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_cidr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];  /* network order, host bits cleared */
    unsigned prefix;   /* 0..32 or 0..128 */
} reg_cidr_t;

/* "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". 0, or -1. */
int reg_cidr_parse(const char *text, reg_cidr_t *out);
/* 1 when the IP (text) lies in the block. */
int reg_cidr_contains(const reg_cidr_t *c, const char *ip);

/* Splits "192.0.2.1:5060" or "[2001:db8::1]:5060" into the IP text (no
 * brackets) and the port. 0, or -1. */
int reg_source_split(const char *source, char *ip, size_t iplen, unsigned *port);

/* 1 when both texts are the same IP address; 0 when they differ or either
 * is not an IP address (a host name). */
int reg_ip_equal(const char *a, size_t alen, const char *b, size_t blen);
/* reg_ip_equal for a text against an address known to be one (a message's
 * source IP): 1 when the text is that address, as the same text or written
 * otherwise. */
int reg_ip_names(const char *text, size_t len, const char *addr, size_t addr_len);
/* 1 when the text (len bytes) is an IPv4 or IPv6 address. */
int reg_ip_literal(const char *a, size_t alen);

#endif
