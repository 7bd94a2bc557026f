/* Digest computations (RFC 7616 section 3.4.1, qop=auth, and the RFC 2069
 * form without qop that old devices still send), with MD5 or SHA-256
 * through OpenSSL's libcrypto. Hex strings are lower case. */
#ifndef REGISTRAR_DIGEST_H
#define REGISTRAR_DIGEST_H

#include <stddef.h>

typedef enum {
    REG_ALG_MD5 = 0,
    REG_ALG_SHA256 = 1,
    REG_ALG_COUNT
} reg_digest_alg_t;

/* Longest hex digest (SHA-256) plus its NUL. */
#define REG_DIGEST_HEX_MAX 65

/* "MD5" or "SHA-256", any case. -1 for anything else (the -sess variants
 * and SHA-512-256 are not offered by the switch). */
int reg_digest_alg_parse(const char *name, reg_digest_alg_t *out);
const char *reg_digest_alg_name(reg_digest_alg_t alg);
size_t reg_digest_hex_len(reg_digest_alg_t alg);

/* A calculator for many digests: each algorithm is fetched from libcrypto
 * once, on first use, and its hashing context reused. OpenSSL 3 looks an
 * algorithm up in its provider tables on every fetch, which costs more than
 * hashing a digest's hundred bytes; the registrar keeps one calculator for
 * its life (not a static: a fetched algorithm must not outlive the module
 * nor OpenSSL's clean-up at exit). One thread at a time. */
typedef struct reg_hasher reg_hasher_t;

reg_hasher_t *reg_hasher_new(void);
void reg_hasher_free(reg_hasher_t *h);

/* reg_digest_ha1 and reg_digest_response with a calculator. H(method ":"
 * uri) of the last request per algorithm is remembered: devices mostly
 * hash the same registrar URI, and the response then costs one hash. */
void reg_hasher_ha1(reg_hasher_t *h, reg_digest_alg_t alg, const char *username, const char *realm,
                    const char *password, char *out);
void reg_hasher_response(reg_hasher_t *h, reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *nc,
                         const char *cnonce, const char *qop, const char *method, const char *uri, char *out);

/* HA1 = H(username ":" realm ":" password), into out[REG_DIGEST_HEX_MAX]. */
void reg_digest_ha1(reg_digest_alg_t alg, const char *username, const char *realm, const char *password,
                    char *out);

/* The expected `response` (a calculator made for the one computation):
 * with qop ("auth"),
 *   H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri)),
 * without (qop NULL: nc and cnonce ignored),
 *   H(HA1 ":" nonce ":" H(method ":" uri)). */
void reg_digest_response(reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *nc,
                         const char *cnonce, const char *qop, const char *method, const char *uri, char *out);

/* Compares two hex digests in time independent of where they differ (a
 * response must not be guessable byte by byte from timing); case-insensitive
 * since RFC 7616 hex may come in upper case. 1 when equal. */
int reg_digest_hex_equal(const char *a, const char *b);

#endif
