/* Randomness for SIP identifiers: see random.h. */
#include "config.h"

#include "random.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <uv.h>

/* Branches and tags should not be guessable (a forged CANCEL or BYE needs
 * them), so they come from the kernel's CSPRNG, read in batches to keep the
 * syscall off the per-transaction path. */
static unsigned char random_pool[512];
static size_t random_left;

void sw_random_bytes(unsigned char *out, size_t n)
{
    while (n) {
        if (!random_left) {
            ssize_t got = getrandom(random_pool, sizeof random_pool, GRND_NONBLOCK);
            if (got != (ssize_t)sizeof random_pool) {
                /* no entropy yet (early boot): uniqueness is what matters */
                static uint64_t counter;
                for (size_t i = 0; i < sizeof random_pool; i += 8) {
                    uint64_t x = uv_hrtime() ^ (++counter * 0x9e3779b97f4a7c15ULL);
                    x ^= x >> 31;
                    x *= 0xbf58476d1ce4e5b9ULL;
                    memcpy(random_pool + i, &x, 8);
                }
            }
            random_left = sizeof random_pool;
        }
        size_t take = n < random_left ? n : random_left;
        memcpy(out, random_pool + sizeof random_pool - random_left, take);
        random_left -= take;
        out += take;
        n -= take;
    }
}

void sw_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[32];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    sw_random_bytes(b, nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

