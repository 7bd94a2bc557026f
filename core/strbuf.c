#include "config.h"

#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

void sw_strbuf_json(sw_strbuf_t *b, const char *s)
{
    sw_strbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            sw_strbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sw_strbuf_printf(b, "\\u%04x", *p);
        else
            sw_strbuf_printf(b, "%c", *p);
    }
    sw_strbuf_printf(b, "\"");
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
