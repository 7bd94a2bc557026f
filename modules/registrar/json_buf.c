#include "json_buf.h"

#include <stdarg.h>
#include <stdio.h>

#include "xalloc.h"

static void reserve(reg_json_t *j, size_t more)
{
    if (j->len + more + 1 <= j->cap)
        return;
    size_t cap = j->cap ? j->cap : 256;
    while (cap < j->len + more + 1)
        cap *= 2;
    j->data = reg_xrealloc(j->data, cap);
    j->cap = cap;
}

void reg_json_printf(reg_json_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(j, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(j->data + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    j->len += (size_t)n;
}

void reg_json_string(reg_json_t *j, const char *s)
{
    if (!s) {
        reg_json_printf(j, "null");
        return;
    }
    reserve(j, 2);
    j->data[j->len++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            reserve(j, 2);
            j->data[j->len++] = '\\';
            j->data[j->len++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) { /* bytes past ASCII as Latin-1: always valid JSON */
            reg_json_printf(j, "\\u%04x", *p);
        } else {
            reserve(j, 1);
            j->data[j->len++] = (char)*p;
        }
    }
    reserve(j, 1);
    j->data[j->len++] = '"';
    j->data[j->len] = '\0';
}

void reg_json_free(reg_json_t *j)
{
    free(j->data);
    j->data = NULL;
    j->len = j->cap = 0;
}
