/* Unpredictable bytes for SIP identifiers (branches, tags, Call-IDs): the
 * kernel's CSPRNG, read 512 bytes at a time so the syscall stays off the
 * per-message path. Signaling thread only (no locking). */
#ifndef SW_RANDOM_H
#define SW_RANDOM_H

#include <stddef.h>

void sw_random_bytes(unsigned char *out, size_t n);
/* 2*nbytes lower-case hex digits and a NUL into out (nbytes <= 32). */
void sw_random_hex(char *out, size_t nbytes);

#endif
