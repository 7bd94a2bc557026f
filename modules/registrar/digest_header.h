/* The Authorization / Proxy-Authorization header of a digest response
 * (RFC 7616 section 3.4, RFC 3261 section 25: credentials = "Digest" LWS
 * dig-resp *(COMMA dig-resp), dig-resp = token EQUAL (token /
 * quoted-string)).
 *
 * A pure function over (text, len): it reads nothing past len, allocates
 * nothing, and refuses what it cannot read rather than guessing (fuzzed by
 * tests/fuzz/fuzz_digest.c). Spans point into the caller's text. */
#ifndef REGISTRAR_DIGEST_HEADER_H
#define REGISTRAR_DIGEST_HEADER_H

#include <stddef.h>

/* One parameter's value: `p` is NULL when the parameter is absent. A quoted
 * value spans what is inside the quotes, escapes (\") still in place: read
 * it with reg_digest_copy. */
typedef struct reg_digest_span {
    const char *p;
    size_t len;
    int quoted;
} reg_digest_span_t;

typedef struct reg_digest_creds {
    reg_digest_span_t username, realm, nonce, uri, response, algorithm, cnonce, qop, nc, opaque, userhash;
} reg_digest_creds_t;

typedef enum {
    REG_DIGEST_OK = 0,
    REG_DIGEST_NOT_DIGEST = 1, /* another scheme (Basic, Bearer...): not ours to judge */
    REG_DIGEST_MALFORMED = -1  /* bad syntax, a parameter given twice, a NUL byte */
} reg_digest_parse_result_t;

reg_digest_parse_result_t reg_digest_parse(const char *text, size_t len, reg_digest_creds_t *out);

/* Copies a value into out (NUL-terminated), undoing quoted-pair escapes.
 * 0, or -1 when the span is absent or the value does not fit in outlen. */
int reg_digest_copy(const reg_digest_span_t *s, char *out, size_t outlen);

/* True when the span is present and equals `word` ignoring ASCII case
 * (escapes undone). */
int reg_digest_span_is(const reg_digest_span_t *s, const char *word);

#endif
