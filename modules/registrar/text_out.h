/* Bounded appends into a caller's buffer, for the text the registrar
 * writes on every request (challenges, keys, the 200's contacts): printf's
 * format parsing costs more than the copying. Once something did not fit,
 * `full` stays set and the text is not to be used; until then the buffer
 * always holds a NUL-terminated string. */
#ifndef REGISTRAR_TEXT_OUT_H
#define REGISTRAR_TEXT_OUT_H

#include <stdint.h>
#include <string.h>

typedef struct text_out {
    char *p;
    size_t n, cap;
    int full;
} text_out_t;

static inline void text_put(text_out_t *o, const char *s, size_t len)
{
    if (o->full || len >= o->cap - o->n) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
    o->p[o->n] = '\0';
}

/* A string literal, its length known at compile time. */
#define TEXT_PUT_LITERAL(o, lit) text_put((o), "" lit, sizeof(lit) - 1)

static inline void text_put_str(text_out_t *o, const char *s)
{
    text_put(o, s, strlen(s));
}

static inline void text_put_uint(text_out_t *o, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do
        digits[sizeof digits - ++n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    text_put(o, digits + sizeof digits - n, n);
}

#endif
