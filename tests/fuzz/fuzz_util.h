/* Small helpers shared by the libFuzzer targets of tests/fuzz/ (header only:
 * each target is one C file plus this). */
#ifndef SW_FUZZ_UTIL_H
#define SW_FUZZ_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The sanitizers' report channel: with -close_fd_mask=2 libFuzzer sends
 * stderr to /dev/null but keeps a copy of it for its own output and the
 * sanitizer reports, which this prints to. */
void __sanitizer_report_error_summary(const char *error_summary);

static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    static char msg[4096];
    int n = snprintf(msg, sizeof msg, "fuzz invariant failed at %s:%d: %s: ", file, line, cond);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    __sanitizer_report_error_summary(msg);
    abort();
}

/* A harness invariant broke: report it like a crash (libFuzzer keeps the
 * input as crash-<sha1> and the run fails). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

/* Consumes the input from both ends, like LLVM's FuzzedDataProvider: small
 * integers (choices, sizes) come from the end, byte strings from the front,
 * so mutating one kind rarely shifts the other. */
typedef struct fuzz_reader {
    const uint8_t *data;
    size_t size;
} fuzz_reader_t;

static inline bool fuzz_empty(const fuzz_reader_t *r)
{
    return r->size == 0;
}

/* One byte from the end (0 when exhausted). */
static inline uint8_t fuzz_u8(fuzz_reader_t *r)
{
    if (r->size == 0)
        return 0;
    return r->data[--r->size];
}

static inline uint64_t fuzz_u64(fuzz_reader_t *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && i < 8; i++)
        v = (v << 8) | fuzz_u8(r);
    return v;
}

/* A value in [lo, hi] from the end of the input. */
static inline uint64_t fuzz_range(fuzz_reader_t *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo;
    unsigned bytes = span < 0x100 ? 1 : span < 0x10000 ? 2 : span < 0x1000000 ? 3 : 8;
    uint64_t v = fuzz_u64(r, bytes);
    return span == UINT64_MAX ? v : lo + v % (span + 1);
}

/* Up to n bytes from the front; returns how many (points into the input). */
static inline size_t fuzz_bytes(fuzz_reader_t *r, size_t n, const uint8_t **out)
{
    if (n > r->size)
        n = r->size;
    *out = r->data;
    r->data += n;
    r->size -= n;
    return n;
}

/* A malloc'd NUL-terminated copy of up to max bytes from the front; the
 * length is chosen by the input. */
static inline char *fuzz_string(fuzz_reader_t *r, size_t max, size_t *len_out)
{
    size_t want = (size_t)fuzz_range(r, 0, max);
    const uint8_t *p;
    size_t n = fuzz_bytes(r, want, &p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    if (len_out)
        *len_out = n;
    return s;
}

/* A malloc'd NUL-terminated copy of data[0..n). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* The switch logs errors only (FUZZ_LOG_LEVEL=debug shows its log lines
 * when a reproducer is replayed with -close_fd_mask=0). */
static inline void fuzz_log_setup(void)
{
    const char *level = getenv("FUZZ_LOG_LEVEL");
    int l = level ? sw_log_level_parse(level) : -1;
    sw_log_set_level(l >= 0 ? (sw_log_level_t)l : SW_LOG_ERROR);
}

/* A private directory for the files a target must write (CSV tables, Lua
 * scripts): under $TMPDIR, removed at exit. */
static char fuzz_tmpdir_path[256];

static inline void fuzz_tmpdir_cleanup(void)
{
    if (fuzz_tmpdir_path[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_tmpdir_path);
        if (system(cmd) != 0) {
            /* nothing to do: a left-over directory in $TMPDIR */
        }
    }
}

static inline const char *fuzz_tmpdir(void)
{
    if (!fuzz_tmpdir_path[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base)
            base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_tmpdir_path, sizeof fuzz_tmpdir_path, "%s/swfuzz.XXXXXX", base);
        if (!mkdtemp(fuzz_tmpdir_path)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_tmpdir_cleanup);
    }
    return fuzz_tmpdir_path;
}

/* Writes data[0..n) to path (replacing it). */
static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (n && fwrite(data, 1, n, f) != n) {
        perror(path);
        abort();
    }
    if (fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
