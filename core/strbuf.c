#include "config.h"

#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sw_strbuf_printf(sw_strbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 256;
        b->s = realloc(b->s, b->cap);
        if (!b->s)
            abort();
    }
}

/* Appends n raw bytes. */
static void strbuf_append(sw_strbuf_t *b, const char *p, size_t n)
{
    if (!b->s || b->cap - b->len <= n) {
        b->cap = (b->cap + n) * 2 + 256;
        b->s = realloc(b->s, b->cap);
        if (!b->s)
            abort();
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sw_strbuf_json(sw_strbuf_t *b, const char *s)
{
    /* runs of characters that need no escaping are copied in one go: a
     * snapshot of 100k calls is mostly such runs */
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    strbuf_append(b, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        while (*p && *p != '"' && *p != '\\' && *p >= 0x20)
            p++;
        if (p > run)
            strbuf_append(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"' || *p == '\\')
            sw_strbuf_printf(b, "\\%c", *p);
        else
            sw_strbuf_printf(b, "\\u%04x", *p);
        p++;
    }
    strbuf_append(b, "\"", 1);
}

char *sw_strbuf_take(sw_strbuf_t *b)
{
    if (!b->s)
        sw_strbuf_printf(b, "%s", "");
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

size_t sw_decimal(char *out, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
    return n;
}
