/* The REGISTER the switch sends to a carrier and what the carrier's answer
 * says (RFC 3261 sections 10.2 and 10.3): the request's header lines (the
 * core adds Via, Max-Forwards and Content-Length), and the expiry a 2xx
 * grants our contact. Pure functions over text. */
#ifndef REGISTRAR_OUTBOUND_MESSAGE_H
#define REGISTRAR_OUTBOUND_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ob_register_msg {
    const char *domain;       /* the registrar's host[:port] as written: Request-URI, To and From */
    const char *user;         /* the address of record's user (To and From) */
    const char *contact_user; /* the user of our Contact: what the carrier's INVITEs will name */
    const char *local;        /* our host:port (api->local_address) */
    int tcp;                  /* ;transport=tcp on the Contact */
    const char *call_id;      /* the same for the registration's life (RFC 3261 10.2.4) */
    const char *from_tag;
    uint32_t cseq;            /* one more for every REGISTER */
    uint32_t expires;         /* 0 unregisters */
    const char *auth_header;  /* "Authorization" or "Proxy-Authorization", NULL: none */
    const char *auth_value;
    const char *privacy;      /* Privacy header value ("id", "none"), NULL: none */
    const char *user_agent;   /* NULL: none */
} ob_register_msg_t;

/* "sip:<domain>", the Request-URI. 0, or -1 when it does not fit. */
int ob_register_uri(const char *domain, char *out, size_t len);

/* "sip:<contact_user>@<local>[;transport=tcp]". 0, or -1. */
int ob_contact_uri(const ob_register_msg_t *m, char *out, size_t len);

/* The header lines ("Name: value\r\n" each). 0, or -1 when they do not fit. */
int ob_register_headers(const ob_register_msg_t *m, char *out, size_t len);

/* A delta-seconds value (Expires, Min-Expires: digits, spaces around),
 * at most 2^32-1; -1 when the text is not one or is NULL. */
int64_t ob_delta_seconds(const char *text);

/* The expiry a 2xx grants our contact (RFC 3261 10.2.4): its expires
 * parameter where the response's Contact values list it, else the Expires
 * header, else -1. */
int64_t ob_granted_expires(const char *const *contact_values, size_t n, const char *expires_header,
                           const char *our_contact);

#endif
