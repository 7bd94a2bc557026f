/* SipHash-2-4 with its 128-bit output (Aumasson and Bernstein, "SipHash: a
 * fast short-input PRF", 2012): the MAC that seals the registrar's digest
 * nonces. A nonce is checked on every authenticated request and minted on
 * every challenge, so its MAC is on the REGISTER path twice per
 * registration: SipHash costs a few hundred instructions for a nonce's 30
 * to 80 bytes, where OpenSSL 3's HMAC-SHA256 costs some 20,000 (most of it
 * looking the algorithm up and allocating contexts). It was designed for
 * exactly this kind of use, short inputs under a secret 128-bit key, with
 * forgery as hard as guessing the tag (Linux seals its TCP SYN cookies with
 * it). */
#ifndef REGISTRAR_SIPHASH_H
#define REGISTRAR_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define REG_SIPHASH_KEY_BYTES 16
#define REG_SIPHASH_TAG_BYTES 16

/* The 16-byte tag of in[0..len) under key, bytes in the order of the
 * reference implementation's test vectors. */
void reg_siphash128(const unsigned char key[REG_SIPHASH_KEY_BYTES], const void *in, size_t len,
                    unsigned char tag[REG_SIPHASH_TAG_BYTES]);

#endif
