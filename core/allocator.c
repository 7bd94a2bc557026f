/* Which malloc serves this process (allocator.h).
 *
 * Asked of the running process, not of the build: mimalloc replaces malloc
 * by symbol interposition, so a library bound before it, or an LD_PRELOAD,
 * can leave it loaded but unused, and only the dynamic linker knows. The
 * core library does not call mimalloc directly either: it is linked into the
 * unit tests too, which keep glibc's malloc (some read mallinfo2); only the
 * sipswitch binary carries -lmimalloc. */
#define _GNU_SOURCE /* dladdr */
#include "config.h"

#include "allocator.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char name[64] = "glibc";
static bool mimalloc_unused;

static void detect(void)
{
    /* AddressSanitizer links its malloc into the executable itself */
    if (dlsym(RTLD_DEFAULT, "__asan_init") != NULL) {
        snprintf(name, sizeof name, "asan");
        return;
    }
    /* the definition every caller binds to: the first in lookup order */
    Dl_info where;
    void *malloc_sym = dlsym(RTLD_DEFAULT, "malloc");
    if (malloc_sym == NULL || dladdr(malloc_sym, &where) == 0 || where.dli_fname == NULL)
        return;
    const char *file = strrchr(where.dli_fname, '/');
    file = file ? file + 1 : where.dli_fname;
    int (*mi_version)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "mi_version");
    if (strncmp(file, "libmimalloc", 11) == 0 && mi_version != NULL) {
        int v = mi_version(); /* major * 100 + minor * 10 + patch: 209 is 2.0.9 */
        snprintf(name, sizeof name, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
        return;
    }
    mimalloc_unused = mi_version != NULL;
    if (strncmp(file, "libc.so", 7) != 0)
        snprintf(name, sizeof name, "%s", file);
}

const char *sw_allocator_name(void)
{
    pthread_once(&once, detect);
    return name;
}

bool sw_allocator_mimalloc_unused(void)
{
    pthread_once(&once, detect);
    return mimalloc_unused;
}
