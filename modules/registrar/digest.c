#include "digest.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int reg_digest_alg_parse(const char *name, reg_digest_alg_t *out)
{
    if (!name)
        return -1;
    if (strcasecmp(name, "MD5") == 0)
        *out = REG_ALG_MD5;
    else if (strcasecmp(name, "SHA-256") == 0)
        *out = REG_ALG_SHA256;
    else
        return -1;
    return 0;
}

const char *reg_digest_alg_name(reg_digest_alg_t alg)
{
    return alg == REG_ALG_SHA256 ? "SHA-256" : "MD5";
}

size_t reg_digest_hex_len(reg_digest_alg_t alg)
{
    return alg == REG_ALG_SHA256 ? 64 : 32;
}

/* A hashing context with its algorithm fetched once for the hashes of one
 * computation: OpenSSL 3 looks EVP_md5() and EVP_sha256() up in its
 * provider tables again on every EVP_DigestInit_ex, and that costs more
 * than hashing a digest's few dozen bytes. (Not kept across calls: a
 * fetched algorithm held in a static would outlive OpenSSL's clean-up at
 * exit, or leak when the module is unloaded.) */
typedef struct hasher {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
} hasher_t;

static void hasher_open(hasher_t *h, reg_digest_alg_t alg)
{
    h->md = EVP_MD_fetch(NULL, alg == REG_ALG_SHA256 ? "SHA2-256" : "MD5", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx)
        abort(); /* MD5 disabled by a FIPS-only libcrypto: nothing sensible to do */
}

static void hasher_close(hasher_t *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
}

/* H(part0 ":" part1 ":" ...) as lower-case hex, fed piecewise so no joined
 * copy of the inputs is made. */
static void hash_joined(hasher_t *h, const char *const *parts, size_t n, char *out)
{
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (i)
            EVP_DigestUpdate(h->ctx, ":", 1);
        EVP_DigestUpdate(h->ctx, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) : 0);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(h->ctx, md, &md_len);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * md_len] = '\0';
}

void reg_digest_ha1(reg_digest_alg_t alg, const char *username, const char *realm, const char *password,
                    char *out)
{
    const char *parts[] = {username, realm, password};
    hasher_t h;
    hasher_open(&h, alg);
    hash_joined(&h, parts, 3, out);
    hasher_close(&h);
}

void reg_digest_response(reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *nc,
                         const char *cnonce, const char *qop, const char *method, const char *uri, char *out)
{
    char ha2[REG_DIGEST_HEX_MAX];
    const char *a2[] = {method, uri};
    hasher_t h;
    hasher_open(&h, alg);
    hash_joined(&h, a2, 2, ha2);
    if (qop) {
        const char *parts[] = {ha1, nonce, nc, cnonce, qop, ha2};
        hash_joined(&h, parts, 6, out);
    } else {
        const char *parts[] = {ha1, nonce, ha2};
        hash_joined(&h, parts, 3, out);
    }
    hasher_close(&h);
}

int reg_digest_hex_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0; /* lengths are public (they follow the algorithm) */
    unsigned diff = 0;
    for (size_t i = 0; i < la; i++) {
        unsigned ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        /* fold ASCII upper case to lower without branching on the data */
        ca |= ((ca - 'A') < 26u) << 5;
        cb |= ((cb - 'A') < 26u) << 5;
        diff |= ca ^ cb;
    }
    return diff == 0;
}
