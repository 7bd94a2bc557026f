/* Finding the control characters of SIP text: the parser reads every byte of
 * a message's header section to find the end of each line and, on the way,
 * the control characters a line may hold (a stray CR, a NUL, DEL, ...) that
 * the sanity checks must then know of. Header lines are a few dozen
 * printable bytes, so the scan goes by blocks: with SSE2 (every x86-64) 16
 * bytes at a time, the block holding the end of the buffer read at len - 16,
 * overlapping the one before, so that nothing past the buffer is read;
 * elsewhere 8 bytes at a time in plain C.
 *
 * (One byte value alone, such as a line's LF, is glibc memchr's job: with
 * AVX2 it is faster on these lengths than SSE2 here.) */
#ifndef SW_SIP_BYTES_H
#define SW_SIP_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* A byte below 0x20, or DEL. */
static inline bool sw_bytes_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

#if defined(__SSE2__) && defined(__GNUC__)

/* Bit i set when p[i] is a control character, for the 16 bytes at p:
 * min(b, 0x1f) == b is the unsigned b <= 0x1f that SSE2 lacks. */
static inline uint32_t sw_bytes_block_control(const char *p)
{
    __m128i block = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i below_space = _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1f)), block);
    __m128i del = _mm_cmpeq_epi8(block, _mm_set1_epi8(0x7f));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(below_space, del));
}

/* Index of the first control character in s[from..n), or n. */
static inline size_t sw_bytes_find_control(const char *s, size_t from, size_t n)
{
    size_t at = from;
    for (; at + 16 <= n; at += 16) {
        uint32_t bits = sw_bytes_block_control(s + at);
        if (bits != 0)
            return at + (size_t)__builtin_ctz(bits);
    }
    if (at >= n)
        return n;
    if (n >= 16) {
        /* the last block, read back from the end of the buffer */
        uint32_t bits = sw_bytes_block_control(s + n - 16) >> (at - (n - 16));
        return bits != 0 ? at + (size_t)__builtin_ctz(bits) : n;
    }
    for (; at < n; at++)
        if (sw_bytes_is_control((unsigned char)s[at]))
            return at;
    return n;
}

#else

/* Index of the first control character in s[from..n), or n. Per byte b of a
 * word, (b & 0x7f) + 1 kept to 7 bits is 0 for DEL and 1..0x20 for b < 0x20,
 * and adding 0x5f sets its high bit only above that; bytes from 0x80 up are
 * never control characters. No carry crosses a byte, so a word with no high
 * bit left holds no control character. */
static inline size_t sw_bytes_find_control(const char *s, size_t from, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, low7 = ones * 0x7f, highs = ones * 0x80;
    size_t at = from;
    for (; at + sizeof(uint64_t) <= n; at += sizeof(uint64_t)) {
        uint64_t x;
        memcpy(&x, s + at, sizeof x);
        uint64_t plus_one = ((x & low7) + ones) & low7;
        if (~((plus_one + ones * 0x5f) | x) & highs)
            break;
    }
    for (; at < n; at++)
        if (sw_bytes_is_control((unsigned char)s[at]))
            return at;
    return n;
}

#endif

#endif
