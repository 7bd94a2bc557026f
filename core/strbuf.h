/* A growable string for building text (metrics, JSON). Allocation failure
 * aborts: these buffers are small and an out-of-memory switch cannot answer
 * anyway. */
#ifndef SW_STRBUF_H
#define SW_STRBUF_H

#include <stddef.h>
#include <stdint.h>

#include "sipswitch/module.h"

typedef struct sw_strbuf {
    char *s;        /* NUL-terminated once anything was written */
    size_t len, cap;
} sw_strbuf_t;

void sw_strbuf_printf(sw_strbuf_t *b, const char *fmt, ...) SW_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included. */
void sw_strbuf_json(sw_strbuf_t *b, const char *s);
/* Hands the string over (never NULL); the buffer is empty afterwards. */
char *sw_strbuf_take(sw_strbuf_t *b);

/* Writes v in decimal and a NUL into out (room for 21 bytes): the number of
 * digits. For the hot paths (a Content-Length, a source address) where
 * snprintf costs more than the rest of the work. */
size_t sw_decimal(char *out, uint64_t v);

#endif
