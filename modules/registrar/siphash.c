/* Written from the paper's description: four 64-bit words of state, c = 2
 * compression rounds per 8-byte message word, d = 4 finalization rounds;
 * the 128-bit variant marks the state (0xee) before the message and before
 * finalizing, and squeezes a second 64-bit word after marking it 0xdd.
 * Message words and the tag are little-endian whatever the host. */
#include "siphash.h"

typedef struct sip_state {
    uint64_t v[4];
} sip_state_t;

static inline uint64_t rotate_left(uint64_t x, unsigned bits)
{
    return x << bits | x >> (64 - bits);
}

/* (written so that compilers see one little-endian load or store) */
static inline uint64_t read_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline void write_le64(unsigned char *p, uint64_t x)
{
    p[0] = (unsigned char)x;
    p[1] = (unsigned char)(x >> 8);
    p[2] = (unsigned char)(x >> 16);
    p[3] = (unsigned char)(x >> 24);
    p[4] = (unsigned char)(x >> 32);
    p[5] = (unsigned char)(x >> 40);
    p[6] = (unsigned char)(x >> 48);
    p[7] = (unsigned char)(x >> 56);
}

/* One SipRound: two add-rotate-xor halves that then cross. */
static inline void sip_round(sip_state_t *s)
{
    uint64_t *v = s->v;
    v[0] += v[1];
    v[2] += v[3];
    v[1] = rotate_left(v[1], 13) ^ v[0];
    v[3] = rotate_left(v[3], 16) ^ v[2];
    v[0] = rotate_left(v[0], 32);
    v[2] += v[1];
    v[0] += v[3];
    v[1] = rotate_left(v[1], 17) ^ v[2];
    v[3] = rotate_left(v[3], 21) ^ v[0];
    v[2] = rotate_left(v[2], 32);
}

static inline void absorb(sip_state_t *s, uint64_t word)
{
    s->v[3] ^= word;
    sip_round(s);
    sip_round(s);
    s->v[0] ^= word;
}

static uint64_t squeeze(sip_state_t *s)
{
    for (int i = 0; i < 4; i++)
        sip_round(s);
    return s->v[0] ^ s->v[1] ^ s->v[2] ^ s->v[3];
}

void reg_siphash128(const unsigned char key[REG_SIPHASH_KEY_BYTES], const void *in, size_t len,
                    unsigned char tag[REG_SIPHASH_TAG_BYTES])
{
    const unsigned char *m = in;
    uint64_t k0 = read_le64(key), k1 = read_le64(key + 8);
    /* "somepseudorandomlygeneratedbytes", as the paper initializes the state */
    sip_state_t s = {{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL ^ 0xee, k0 ^ 0x6c7967656e657261ULL,
                      k1 ^ 0x7465646279746573ULL}};
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8)
        absorb(&s, read_le64(m + i));
    /* the last word: the 0 to 7 bytes left, and the length's low byte on top */
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = whole; i < len; i++)
        last |= (uint64_t)m[i] << (8 * (i - whole));
    absorb(&s, last);
    s.v[2] ^= 0xee;
    write_le64(tag, squeeze(&s));
    s.v[1] ^= 0xdd;
    write_le64(tag + 8, squeeze(&s));
}
