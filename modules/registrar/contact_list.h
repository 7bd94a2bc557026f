/* The Contact header of a REGISTER (RFC 3261 sections 10.2.1 and 20.10): a
 * comma list of addresses with their `expires` and `q` parameters, or "*".
 * A pure function over (text, len), like the other parsers here. */
#ifndef REGISTRAR_CONTACT_LIST_H
#define REGISTRAR_CONTACT_LIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_contact {
    const char *uri;   /* points into the header text */
    size_t uri_len;
    int64_t expires;   /* seconds, -1 when the parameter is absent; at most 2^32-1 */
    int q;             /* thousandths (q=0.5 is 500), -1 when absent */
} reg_contact_t;

/* Appends the contacts of one Contact header value to out[*n .. max).
 * *star is set when the value is "*" alone. 0, or -1 when the text is
 * malformed (no URI, an unterminated quote or <, a bad q or expires) or
 * holds more than `max` contacts in all. */
int reg_contact_parse(const char *value, size_t len, reg_contact_t *out, size_t max, size_t *n, int *star);

#endif
