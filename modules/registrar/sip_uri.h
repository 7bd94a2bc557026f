/* The pieces of SIP text the registrar reads itself: the URI of a To/From/
 * Contact value (name-addr or addr-spec, RFC 3261 section 20.10), a URI's
 * parts, and whether two contact URIs are the same binding (section
 * 19.1.4). Pure functions over (text, len): nothing is allocated, nothing
 * is read past len. */
#ifndef REGISTRAR_SIP_URI_H
#define REGISTRAR_SIP_URI_H

#include <stddef.h>

/* The URI inside <...>, or of a bare addr-spec (which ends at the first ';':
 * parameters after a bare URI belong to the header). *rest points after the
 * URI (after '>' when bracketed): the header parameters. 0, or -1. */
int reg_addr_uri(const char *value, size_t len, const char **uri, size_t *uri_len, const char **rest);

typedef struct reg_uri {
    const char *scheme;  size_t scheme_len;
    const char *user;    size_t user_len;   /* len 0 when the URI has no user part */
    const char *host;    size_t host_len;   /* without the [] of an IPv6 reference */
    unsigned port;                          /* 0 when absent */
    const char *params;  size_t params_len; /* from the first ';' to '?' or the end, or len 0 */
} reg_uri_t;

/* A sip: or sips: URI. 0, or -1 for another scheme or a malformed one. */
int reg_uri_parse(const char *uri, size_t len, reg_uri_t *out);

/* RFC 3261 19.1.4, the parts that matter for bindings: scheme and host
 * ignoring case, user exactly, the same port (absent differs from 5060),
 * and the transport, user, maddr, ttl and method parameters equal when
 * either URI has them. Other parameters are not compared. 1 when the same. */
int reg_uri_same(const char *a, size_t alen, const char *b, size_t blen);

/* The value of a ;name=value parameter in params (as in reg_uri_t.params or
 * a header's parameters), ignoring case of the name. *value_len 0 for a
 * parameter without value. 1 when found. */
int reg_param_find(const char *params, size_t len, const char *name, const char **value, size_t *value_len);

#endif
