#include "digest.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "xalloc.h"

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

/* One algorithm of a calculator: fetched on first use. */
typedef struct algo {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    /* the last H(method ":" uri): the text hashed, and the hash */
    char a2[256];
    size_t a2_len;
    char ha2[REG_DIGEST_HEX_MAX];
} algo_t;

struct reg_hasher {
    algo_t algos[REG_ALG_COUNT];
};

reg_hasher_t *reg_hasher_new(void)
{
    return reg_xcalloc(1, sizeof(reg_hasher_t));
}

void reg_hasher_free(reg_hasher_t *h)
{
    if (!h)
        return;
    for (int i = 0; i < REG_ALG_COUNT; i++) {
        EVP_MD_CTX_free(h->algos[i].ctx);
        EVP_MD_free(h->algos[i].md);
    }
    free(h);
}

static algo_t *algo_of(reg_hasher_t *h, reg_digest_alg_t alg)
{
    algo_t *a = &h->algos[alg == REG_ALG_SHA256 ? REG_ALG_SHA256 : REG_ALG_MD5];
    if (!a->md) {
        a->md = EVP_MD_fetch(NULL, alg == REG_ALG_SHA256 ? "SHA2-256" : "MD5", NULL);
        a->ctx = EVP_MD_CTX_new();
        if (!a->md || !a->ctx)
            abort(); /* MD5 disabled by a FIPS-only libcrypto: nothing sensible to do */
    }
    return a;
}

/* The text of one hash, gathered so that libcrypto is called once rather
 * than once per part: each call costs about what hashing the few bytes of
 * a part does. Longer text than the buffer goes in pieces. */
typedef struct gather {
    algo_t *a;
    int started; /* part of the text went to libcrypto already */
    size_t n;
    char buf[512];
} gather_t;

/* (not an initializer: that would clear the buffer every time) */
static void gather_start(gather_t *g, algo_t *a)
{
    g->a = a;
    g->started = 0;
    g->n = 0;
}

static void flush(gather_t *g)
{
    if (!g->started && EVP_DigestInit_ex2(g->a->ctx, g->a->md, NULL) != 1)
        abort();
    g->started = 1;
    if (g->n && EVP_DigestUpdate(g->a->ctx, g->buf, g->n) != 1)
        abort();
    g->n = 0;
}

static void add(gather_t *g, const char *s, size_t len)
{
    if (len > sizeof g->buf - g->n) {
        flush(g);
        if (len > sizeof g->buf) {
            if (EVP_DigestUpdate(g->a->ctx, s, len) != 1)
                abort();
            return;
        }
    }
    memcpy(g->buf + g->n, s, len);
    g->n += len;
}

/* part0 ":" part1 ":" ... (a NULL part is empty) */
static void add_joined(gather_t *g, const char *const *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            add(g, ":", 1);
        if (parts[i])
            add(g, parts[i], strlen(parts[i]));
    }
}

/* The hash as lower-case hex into out[REG_DIGEST_HEX_MAX]. */
static void finish(gather_t *g, char *out)
{
    flush(g);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestFinal_ex(g->a->ctx, md, &md_len) != 1)
        abort();
    reg_hex_encode(md, md_len, out);
}

void reg_hasher_ha1(reg_hasher_t *h, reg_digest_alg_t alg, const char *username, const char *realm,
                    const char *password, char *out)
{
    const char *parts[] = {username, realm, password};
    gather_t g;
    gather_start(&g, algo_of(h, alg));
    add_joined(&g, parts, 3);
    finish(&g, out);
}

/* H(method ":" uri), from the memo when it is the last one's text. */
static void ha2_of(algo_t *a, const char *method, const char *uri, char *out)
{
    const char *parts[] = {method, uri};
    gather_t g;
    gather_start(&g, a);
    add_joined(&g, parts, 2);
    int memo_fits = !g.started && g.n <= sizeof a->a2;
    if (memo_fits && a->a2_len == g.n && memcmp(a->a2, g.buf, g.n) == 0) {
        memcpy(out, a->ha2, sizeof a->ha2);
        return;
    }
    if (memo_fits) {
        memcpy(a->a2, g.buf, g.n);
        a->a2_len = g.n;
    }
    finish(&g, out);
    if (memo_fits)
        memcpy(a->ha2, out, sizeof a->ha2);
}

void reg_hasher_response(reg_hasher_t *h, reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *nc,
                         const char *cnonce, const char *qop, const char *method, const char *uri, char *out)
{
    algo_t *a = algo_of(h, alg);
    char ha2[REG_DIGEST_HEX_MAX];
    ha2_of(a, method, uri, ha2);
    gather_t g;
    gather_start(&g, a);
    if (qop) {
        const char *parts[] = {ha1, nonce, nc, cnonce, qop, ha2};
        add_joined(&g, parts, 6);
    } else {
        const char *parts[] = {ha1, nonce, ha2};
        add_joined(&g, parts, 3);
    }
    finish(&g, out);
}

void reg_digest_ha1(reg_digest_alg_t alg, const char *username, const char *realm, const char *password,
                    char *out)
{
    reg_hasher_t *h = reg_hasher_new();
    reg_hasher_ha1(h, alg, username, realm, password, out);
    reg_hasher_free(h);
}

void reg_digest_response(reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *nc,
                         const char *cnonce, const char *qop, const char *method, const char *uri, char *out)
{
    reg_hasher_t *h = reg_hasher_new();
    reg_hasher_response(h, alg, ha1, nonce, nc, cnonce, qop, method, uri, out);
    reg_hasher_free(h);
}

int reg_digest_hex_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0; /* lengths are public (they follow the algorithm) */
    unsigned diff = 0;
    for (size_t i = 0; i < la; i++) {
        unsigned x = (unsigned char)a[i] ^ (unsigned char)b[i];
        /* equal, or differing only in the 0x20 bit of two letters (case):
         * fold that bit out when b's byte is a letter, without branching
         * on the data */
        unsigned letter = ((unsigned char)b[i] | 0x20u) - 'a' < 26u;
        diff |= x & ~(letter << 5);
    }
    return diff == 0;
}
