/* The switch answering a carrier's digest challenge as a client (RFC 7616
 * section 3.4, RFC 3261 section 22.2, RFC 8760): reading a WWW-Authenticate
 * or Proxy-Authenticate value, choosing among several, and writing the
 * Authorization (or Proxy-Authorization) value. The hashes are digest.c's,
 * the parameter syntax digest_header.c's (a challenge has the grammar of
 * credentials). Pure functions: nothing allocated, nothing read past len. */
#ifndef REGISTRAR_OUTBOUND_AUTH_H
#define REGISTRAR_OUTBOUND_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

/* Longest realm, nonce or opaque kept (unescaped), NUL included. */
#define OB_CHALLENGE_TEXT 256

typedef struct ob_challenge {
    reg_digest_alg_t alg;
    char realm[OB_CHALLENGE_TEXT];
    char nonce[OB_CHALLENGE_TEXT];
    char opaque[OB_CHALLENGE_TEXT];
    int has_opaque;
    int qop_auth; /* the server offers qop "auth": answer with it (cnonce, nc) */
    int stale;    /* stale=true: the password was right, only the nonce was old */
} ob_challenge_t;

/* One challenge value ("Digest realm=..., nonce=..."). 0 when the switch can
 * answer it; -1 when it is not Digest, is malformed, has no realm or nonce,
 * names an algorithm the switch lacks (MD5-sess, SHA-512-256...) or offers
 * only qop=auth-int. */
int ob_challenge_parse(const char *value, size_t len, ob_challenge_t *out);

/* The challenge to answer among a response's values (RFC 8760 section 2.4:
 * one per algorithm): the first SHA-256 one, else the first MD5 one. 0, or
 * -1 when none can be answered. */
int ob_challenge_pick(const char *const *values, size_t n, ob_challenge_t *out);

/* The credentials for `method uri` under the challenge, with nonce count nc
 * (the n-th request using this nonce, from 1) and cnonce (a token; unused
 * without qop), into out. 0, or -1 when it does not fit in len. */
int ob_authorization(const ob_challenge_t *c, const char *username, const char *password, const char *method,
                     const char *uri, uint32_t nc, const char *cnonce, char *out, size_t len);

#endif
