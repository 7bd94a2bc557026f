/* Which malloc serves this process. The daemon is linked with mimalloc when
 * configure finds it (doc/architecture.md, "Memory allocator"); the core
 * library is not, so that unit tests keep the C library's malloc, and asks
 * at run time instead of at build time. */
#ifndef SW_ALLOCATOR_H
#define SW_ALLOCATOR_H

#include <stdbool.h>

/* "mimalloc 2.0.9" when malloc() is mimalloc's, "glibc" when it is the C
 * library's, "asan" in a sanitizer build, else the file name of the library
 * that defines it (an LD_PRELOAD: "libjemalloc.so.2"). Static text, worked
 * out once. */
const char *sw_allocator_name(void);

/* True when mimalloc is in the process but malloc() is not its (a link order
 * or an LD_PRELOAD that put another malloc first): worth a warning. */
bool sw_allocator_mimalloc_unused(void);

#endif
