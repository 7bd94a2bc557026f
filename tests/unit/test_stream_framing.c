/* The stream framer and the drain loop of TCP connections
 * (sip/framing.h): the same messages as sw_sip_frame whatever the way the
 * bytes arrive, and framing work linear in the bytes received: the
 * quadratic framing of a slow header (doc/robustness.md, findings) must
 * not come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/framing.h"
#include "sip/sip.h"

#define MAX 65535

/* What the drain loop handed out, for the assertions. */
typedef struct seen {
    size_t messages;
    size_t pongs;
    size_t errors;
    bool oversize;
    size_t bytes;               /* of the messages, skipped CR/LF excluded */
    size_t header_lines;        /* of the last message */
} seen_t;

static void on_pong(void *ud)
{
    ((seen_t *)ud)->pongs++;
}

static bool on_message(void *ud, const char *buf, const sw_frame_t *fr)
{
    seen_t *s = ud;
    (void)buf;
    s->messages++;
    s->bytes += fr->total - fr->skipped;
    s->header_lines = fr->header_lines;
    return true;
}

static void on_error(void *ud, const char *buf, size_t len, const char *reason, bool oversize)
{
    seen_t *s = ud;
    (void)buf;
    (void)len;
    (void)reason;
    s->errors++;
    s->oversize = oversize;
}

static const sw_stream_sink_t sink = {.pong = on_pong, .message = on_message, .framing_error = on_error};

/* A connection's buffer fed `chunk` bytes per read, drained after each read
 * the way core/net/tcp.c does. Returns the framer's bytes_examined. */
static uint64_t feed(const char *bytes, size_t len, size_t chunk, size_t max, seen_t *seen, bool *closed)
{
    sw_stream_framer_t f;
    memset(&f, 0, sizeof f);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    size_t have = 0, fed = 0;
    *closed = false;
    memset(seen, 0, sizeof *seen);
    while (fed < len && !*closed) {
        size_t n = len - fed < chunk ? len - fed : chunk;
        memcpy(buf + have, bytes + fed, n);
        have += n;
        fed += n;
        bool must_close = false;
        size_t used = sw_stream_drain(&f, buf, have, max, &sink, seen, &must_close);
        memmove(buf, buf + used, have - used);
        have -= used;
        *closed = must_close;
    }
    free(buf);
    return f.bytes_examined;
}

/* An OPTIONS with `lines` short header lines and a body of `body` bytes. */
static char *message_with(size_t lines, size_t body, size_t *len)
{
    size_t cap = 256 + lines * 16 + body;
    char *m = malloc(cap);
    assert_non_null(m);
    size_t n = (size_t)snprintf(m, cap, "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n");
    for (size_t i = 0; i < lines; i++)
        n += (size_t)snprintf(m + n, cap - n, "X-%06zu: y\r\n", i);
    n += (size_t)snprintf(m + n, cap - n, "Content-Length: %zu\r\n\r\n", body);
    memset(m + n, 'b', body);
    *len = n + body;
    return m;
}

/* `lfs` bare line feeds, then a message of `lines` headers and `body` bytes
 * (*msg_len: the message alone). */
static char *line_feeds_then_message(size_t lfs, size_t lines, size_t body, size_t *len, size_t *msg_len)
{
    char *m = message_with(lines, body, msg_len);
    *len = lfs + *msg_len;
    char *all = malloc(*len);
    assert_non_null(all);
    memset(all, '\n', lfs);
    memcpy(all + lfs, m, *msg_len);
    free(m);
    return all;
}

/* The finding: a 64 KB header trickled one byte per read. Framing from the
 * start after every read examined ~n^2/2 bytes (2 * 10^9 here, 2 s of
 * CPU); now each byte is examined a few times at most (three searches for
 * the empty line, one full framing: about 4n). */
static void test_slow_header_is_framed_in_linear_time(void **state)
{
    (void)state;
    size_t len;
    char *m = message_with(4800, 0, &len); /* just under 64 KB */
    assert_true(len > 60000 && len < MAX);
    seen_t seen;
    bool closed;
    uint64_t examined = feed(m, len, 1, MAX, &seen, &closed);
    assert_false(closed);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(seen.bytes, len);
    assert_int_equal(seen.header_lines, 4800 + 2);
    printf("# %zu bytes one per read: %llu bytes examined\n", len, (unsigned long long)examined);
    assert_true(examined <= 8 * (uint64_t)len);
    free(m);
}

/* The body trickled too: still linear (the headers are framed once more
 * when the body is complete, not once per read). */
static void test_slow_body_is_linear(void **state)
{
    (void)state;
    size_t len;
    char *m = message_with(10, 30000, &len);
    seen_t seen;
    bool closed;
    uint64_t examined = feed(m, len, 1, MAX, &seen, &closed);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(seen.bytes, len);
    assert_true(examined <= 8 * (uint64_t)len);
    free(m);
}

/* A run of bare LFs (not keep-alives) belongs to no message: consumed as it
 * arrives, so it costs linear time, never piles up in the buffer, and a
 * message after it still frames. */
static void test_line_feeds_are_linear_and_consumed(void **state)
{
    (void)state;
    size_t len, ml;
    char *all = line_feeds_then_message(40000, 2, 0, &len, &ml);
    seen_t seen;
    bool closed;
    uint64_t examined = feed(all, len, 1, 16384, &seen, &closed);
    assert_false(closed);
    assert_int_equal(seen.errors, 0);
    assert_int_equal(seen.messages, 1);
    assert_true(examined <= 8 * (uint64_t)len);
    free(all);
}

/* Whatever the read size, the same messages come out as sw_sip_frame
 * finds them in the whole stream: pipelined, split, with pings between. */
static void test_any_chunking_frames_the_same(void **state)
{
    (void)state;
    size_t l1, l2;
    char *a = message_with(3, 5, &l1);
    char *b = message_with(40, 0, &l2);
    size_t len = l1 + 4 + l2 + 2 + l1;
    char *all = malloc(len);
    assert_non_null(all);
    memcpy(all, a, l1);
    memcpy(all + l1, "\r\n\r\n", 4);
    memcpy(all + l1 + 4, b, l2);
    memcpy(all + l1 + 4 + l2, "\r\n", 2);
    memcpy(all + l1 + 4 + l2 + 2, a, l1);
    for (size_t chunk = 1; chunk <= len; chunk = chunk < 16 ? chunk + 1 : chunk * 3) {
        seen_t seen;
        bool closed;
        feed(all, len, chunk, MAX, &seen, &closed);
        assert_false(closed);
        assert_int_equal(seen.messages, 3);
        assert_int_equal(seen.bytes, 2 * l1 + l2);
        /* a ping split by the reads may look like a lone CRLF and a message's leading CRLF */
        assert_true(seen.pongs <= 1);
    }
    free(all);
    free(a);
    free(b);
}

/* Stray line feeds before a message are not part of it: a message that
 * fits max_size is framed however the bytes arrive (found by
 * fuzz_sip_stream: read in pieces, the LFs counted towards the size and
 * closed the connection that the same bytes at once did not). */
static void test_leading_line_feeds_do_not_count_towards_the_size(void **state)
{
    (void)state;
    size_t len, ml;
    char *all = line_feeds_then_message(300, 4, 100, &len, &ml);
    size_t max = ml + 10; /* the message fits, the LFs and the message do not */
    for (size_t chunk = 1; chunk <= len; chunk = chunk < 8 ? chunk + 1 : chunk * 2) {
        seen_t seen;
        bool closed;
        feed(all, len, chunk, max, &seen, &closed);
        assert_false(closed);
        assert_int_equal(seen.messages, 1);
        assert_int_equal(seen.bytes, ml);
    }
    free(all);
}

/* Framing errors are the same as sw_sip_frame's, and close. */
static void test_errors_close(void **state)
{
    (void)state;
    const char *no_cl = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
    seen_t seen;
    bool closed;
    feed(no_cl, strlen(no_cl), 3, MAX, &seen, &closed);
    assert_true(closed);
    assert_int_equal(seen.errors, 1);
    assert_false(seen.oversize);
    assert_int_equal(seen.messages, 0);
    /* no end of headers within max_size */
    size_t len;
    char *big = message_with(2000, 0, &len);
    feed(big, len, 7, 8192, &seen, &closed);
    assert_true(closed);
    assert_int_equal(seen.errors, 1);
    assert_int_equal(seen.messages, 0);
    free(big);
}

/* sw_sip_frame_stream agrees with sw_sip_frame on every prefix. */
static void test_prefixes_agree(void **state)
{
    (void)state;
    size_t len;
    char *m = message_with(6, 11, &len);
    sw_stream_framer_t f;
    memset(&f, 0, sizeof f);
    for (size_t n = 1; n <= len; n++) {
        sw_frame_t a, b;
        sw_frame_status_t sa = sw_sip_frame(m, n, true, MAX, &a);
        sw_frame_status_t sb = sw_sip_frame_stream(&f, m, n, MAX, &b);
        assert_int_equal(sa, sb);
        if (sa == SW_FRAME_OK) {
            assert_int_equal(a.total, b.total);
            assert_int_equal(a.header_len, b.header_len);
            assert_int_equal(a.header_lines, b.header_lines);
        }
    }
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_header_is_framed_in_linear_time),
        cmocka_unit_test(test_slow_body_is_linear),
        cmocka_unit_test(test_line_feeds_are_linear_and_consumed),
        cmocka_unit_test(test_any_chunking_frames_the_same),
        cmocka_unit_test(test_leading_line_feeds_do_not_count_towards_the_size),
        cmocka_unit_test(test_errors_close),
        cmocka_unit_test(test_prefixes_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
