/* Digest nonces (RFC 7616 section 3.3): minted without keeping anything, so
 * a flood of unauthenticated REGISTERs costs no memory. A nonce carries its
 * issue time and a serial number, sealed with a MAC (SipHash-2-4, 128 bits:
 * siphash.h) over them and the client's IP address under a secret drawn at
 * start-up; checking one needs no table. What must be remembered is the
 * nonce count (nc) of nonces in use, for replay protection: that entry is
 * made only once a response with the nonce was verified, and dropped when
 * the nonce expires (nonce_counts.h). */
#ifndef REGISTRAR_NONCE_H
#define REGISTRAR_NONCE_H

#include <stddef.h>
#include <stdint.h>

/* 8 bytes issue time + 8 bytes serial + 16 bytes MAC, in hex, plus NUL. */
#define REG_NONCE_TEXT 65

typedef struct reg_nonces reg_nonces_t;

reg_nonces_t *reg_nonces_new(void);
void reg_nonces_free(reg_nonces_t *n);

/* A fresh nonce for a challenge to client_ip ("192.0.2.1", "2001:db8::1"). */
void reg_nonces_make(reg_nonces_t *n, const char *client_ip, uint64_t now_ms, char *out);

typedef enum {
    REG_NONCE_FRESH = 0,    /* ours, for this IP, within its lifetime, nc new: accept */
    REG_NONCE_STALE = 1,    /* ours but older than the lifetime */
    REG_NONCE_FOREIGN = 2,  /* not ours (garbage, another IP, before a restart) */
    REG_NONCE_REPLAYED = 3  /* nc not above the highest already accepted with this nonce */
} reg_nonce_state_t;

/* Judges a nonce whose response was verified, and on REG_NONCE_FRESH
 * records nc as the highest seen. nc is the request's nonce count; 0 for a
 * response without qop, which may use the nonce only once. */
reg_nonce_state_t reg_nonces_accept(reg_nonces_t *n, const char *nonce, const char *client_ip, uint32_t nc,
                                    uint64_t now_ms, uint64_t lifetime_ms);

/* Forgets the counts of nonces older than lifetime_ms (run it from a timer). */
void reg_nonces_sweep(reg_nonces_t *n, uint64_t now_ms, uint64_t lifetime_ms);
size_t reg_nonces_tracked(const reg_nonces_t *n);

/* Parses an nc value: exactly 8 hex digits (RFC 7616). 0 on success. */
int reg_nonce_count_parse(const char *text, uint32_t *out);

#endif
