#include "nonce.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "nonce_counts.h"
#include "siphash.h"
#include "xalloc.h"

#define MAC_BYTES REG_SIPHASH_TAG_BYTES
#define RAW_BYTES (8 + 8 + MAC_BYTES)
#define IP_MAX 64

struct reg_nonces {
    unsigned char secret[REG_SIPHASH_KEY_BYTES];
    uint64_t next_serial;
    reg_nonce_counts_t *counts;
};

reg_nonces_t *reg_nonces_new(void)
{
    reg_nonces_t *n = reg_xcalloc(1, sizeof *n);
    if (RAND_bytes(n->secret, sizeof n->secret) != 1)
        abort(); /* no randomness: nonces would be forgeable */
    if (RAND_bytes((unsigned char *)&n->next_serial, sizeof n->next_serial) != 1)
        abort();
    n->counts = reg_nonce_counts_new();
    return n;
}

void reg_nonces_free(reg_nonces_t *n)
{
    if (!n)
        return;
    reg_nonce_counts_free(n->counts);
    free(n);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The MAC of the nonce's first 16 bytes and the client's IP. */
static void seal(const reg_nonces_t *n, const unsigned char *head, const char *client_ip, unsigned char *mac)
{
    unsigned char msg[16 + IP_MAX];
    size_t ip_len = client_ip ? strnlen(client_ip, IP_MAX) : 0;
    memcpy(msg, head, 16);
    memcpy(msg + 16, client_ip, ip_len);
    reg_siphash128(n->secret, msg, 16 + ip_len, mac);
}

/* Each hex digit's value plus one; 0 for every other byte. */
static const unsigned char hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int hex_value(char c)
{
    return hex_digit[(unsigned char)c] - 1;
}

void reg_nonces_make(reg_nonces_t *n, const char *client_ip, uint64_t now_ms, char *out)
{
    unsigned char raw[RAW_BYTES];
    put_u64(raw, now_ms);
    put_u64(raw + 8, n->next_serial++);
    seal(n, raw, client_ip, raw + 16);
    reg_hex_encode(raw, sizeof raw, out);
}

reg_nonce_state_t reg_nonces_accept(reg_nonces_t *n, const char *nonce, const char *client_ip, uint32_t nc,
                                    uint64_t now_ms, uint64_t lifetime_ms)
{
    unsigned char raw[RAW_BYTES];
    if (!nonce || strlen(nonce) != 2 * RAW_BYTES)
        return REG_NONCE_FOREIGN;
    unsigned all = 1; /* stays 1 while every character is a digit (checked once, after the loop) */
    for (size_t i = 0; i < RAW_BYTES; i++) {
        unsigned hi = hex_digit[(unsigned char)nonce[2 * i]], lo = hex_digit[(unsigned char)nonce[2 * i + 1]];
        all &= (hi != 0) & (lo != 0);
        raw[i] = (unsigned char)((hi - 1) << 4 | ((lo - 1) & 15));
    }
    if (!all)
        return REG_NONCE_FOREIGN;
    unsigned char mac[MAC_BYTES];
    seal(n, raw, client_ip, mac);
    if (CRYPTO_memcmp(mac, raw + 16, MAC_BYTES) != 0)
        return REG_NONCE_FOREIGN;
    uint64_t issued = get_u64(raw);
    if (issued > now_ms || now_ms - issued > lifetime_ms)
        return REG_NONCE_STALE;
    uint64_t serial = get_u64(raw + 8);
    uint32_t count = nc ? nc : 1; /* without qop the nonce serves once */
    uint32_t highest = reg_nonce_counts_get(n->counts, serial);
    if (highest && (count <= highest || nc == 0))
        return REG_NONCE_REPLAYED;
    reg_nonce_counts_set(n->counts, serial, issued, count);
    return REG_NONCE_FRESH;
}

void reg_nonces_sweep(reg_nonces_t *n, uint64_t now_ms, uint64_t lifetime_ms)
{
    reg_nonce_counts_sweep(n->counts, now_ms, lifetime_ms);
}

size_t reg_nonces_tracked(const reg_nonces_t *n)
{
    return reg_nonce_counts_size(n->counts);
}

int reg_nonce_count_parse(const char *text, uint32_t *out)
{
    if (!text || strlen(text) != 8)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int d = hex_value(text[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}
