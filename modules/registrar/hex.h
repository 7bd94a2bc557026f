/* Bytes as lower-case hex text: the digests and nonces the registrar
 * writes on every request. */
#ifndef REGISTRAR_HEX_H
#define REGISTRAR_HEX_H

#include <stddef.h>

/* Writes 2 * n hex digits and a NUL into out. */
void reg_hex_encode(const unsigned char *bytes, size_t n, char *out);

#endif
