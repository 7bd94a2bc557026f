/* Allocation for the registrar's pure parts (store, tables, parsers), which
 * are unit-tested without the core and so cannot use api->alloc: like the
 * core's allocator they never return NULL (the switch cannot serve with its
 * heap exhausted, and a half-built binding is worse than a clear abort). */
#ifndef REGISTRAR_XALLOC_H
#define REGISTRAR_XALLOC_H

#include <stdlib.h>
#include <string.h>

static inline void *reg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static inline void *reg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static inline void *reg_xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static inline char *reg_xstrndup(const char *s, size_t n)
{
    char *d = reg_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static inline char *reg_xstrdup(const char *s)
{
    return s ? reg_xstrndup(s, strlen(s)) : NULL;
}

#endif
