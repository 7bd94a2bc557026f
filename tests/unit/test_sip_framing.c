/* sw_sip_frame: where a message ends in a datagram or a stream. Every buffer
 * handed to it is an exact-size heap copy without a NUL, so a read past len
 * shows up under valgrind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

#define MAX 65535

#define HEAD "OPTIONS sip:a@example.com SIP/2.0\r\n" \
             "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"

static sw_frame_status_t frame_n(const char *bytes, size_t len, bool stream, size_t max,
                                 sw_frame_t *out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    sw_frame_status_t st = sw_sip_frame(copy, len, stream, max, out);
    free(copy);
    return st;
}

static sw_frame_status_t frame(const char *text, bool stream, sw_frame_t *out)
{
    return frame_n(text, strlen(text), stream, MAX, out);
}

static void assert_error(const char *text, bool stream, const char *reason)
{
    sw_frame_t f;
    assert_int_equal(frame(text, stream, &f), SW_FRAME_ERROR);
    assert_non_null(f.error);
    assert_string_equal(f.error, reason);
}

static void test_datagram_exact_body(void **state)
{
    (void)state;
    const char *msg = HEAD "Content-Length: 5\r\n\r\nhello";
    sw_frame_t f;
    assert_int_equal(frame(msg, false, &f), SW_FRAME_OK);
    assert_int_equal(f.header_len, strlen(msg) - 5);
    assert_int_equal(f.body_len, 5);
    assert_int_equal(f.total, strlen(msg));
    assert_int_equal(f.skipped, 0);
}

static void test_datagram_without_content_length(void **state)
{
    (void)state;
    /* RFC 3261 18.3: the body runs to the end of the datagram */
    const char *msg = HEAD "\r\nv=0\r\nbody";
    sw_frame_t f;
    assert_int_equal(frame(msg, false, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 9);
    assert_int_equal(f.total, strlen(msg));
}

static void test_datagram_body_shorter_than_content_length(void **state)
{
    (void)state;
    assert_error(HEAD "Content-Length: 50\r\n\r\nshort", false, "Content-Length larger than the datagram");
}

static void test_datagram_bytes_after_body_ignored(void **state)
{
    (void)state;
    const char *msg = HEAD "Content-Length: 2\r\n\r\nokINVITE sip:junk SIP/2.0\r\n\r\n";
    sw_frame_t f;
    assert_int_equal(frame(msg, false, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 2);
    assert_int_equal(f.total, f.header_len + 2);
    assert_true(f.total < strlen(msg));
}

static void test_stream_needs_content_length(void **state)
{
    (void)state;
    assert_error(HEAD "\r\n", true, "Content-Length missing on a stream");
}

static void test_stream_incomplete_then_complete(void **state)
{
    (void)state;
    const char *msg = HEAD "Content-Length: 10\r\n\r\n0123456789";
    size_t len = strlen(msg);
    sw_frame_t f;
    /* every cut short of the whole message waits for more */
    for (size_t cut = 1; cut < len; cut++)
        assert_int_equal(frame_n(msg, cut, true, MAX, &f), SW_FRAME_INCOMPLETE);
    assert_int_equal(frame_n(msg, len, true, MAX, &f), SW_FRAME_OK);
    assert_int_equal(f.total, len);
}

static void test_stream_two_messages(void **state)
{
    (void)state;
    const char *two = HEAD "Content-Length: 3\r\n\r\nabc" HEAD "l: 1\r\n\r\nz";
    sw_frame_t f;
    assert_int_equal(frame(two, true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    const char *second = two + f.total; /* a stream consumes total bytes */
    assert_memory_equal(second, "OPTIONS ", 8);
    assert_int_equal(frame(second, true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 1);
    assert_int_equal(f.total, strlen(second));
}

static void test_compact_and_spelling(void **state)
{
    (void)state;
    sw_frame_t f;
    assert_int_equal(frame(HEAD "l: 3\r\n\r\nabc", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    assert_int_equal(frame(HEAD "L:3\r\n\r\nabc", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    assert_int_equal(frame(HEAD "content-LENGTH   :   3  \r\n\r\nabc", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    assert_int_equal(frame(HEAD "Content-Length: 0003\r\n\r\nabc", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    /* names that only look alike are other headers */
    assert_int_equal(frame(HEAD "Content-Length-X: 9\r\nlx: 9\r\nContent-Length: 3\r\n\r\nabc", true, &f),
                     SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    /* the name is told by its first byte, then read whole */
    assert_int_equal(frame(HEAD "Content-Lengthy: 9\r\nContent-Lengt: 9\r\nc: text/plain\r\nContact: <sip:a@b>\r\n"
                                "Content-Length\r\nCONTENT-length\t: 3\r\n\r\nabc",
                           true, &f),
                     SW_FRAME_OK);
    assert_int_equal(f.body_len, 3);
    assert_int_equal(frame(HEAD "Call-ID: x\r\nl\t:2\r\n\r\nab", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 2);
    assert_int_equal(f.header_lines, 3); /* Via, Call-ID, l */
}

static void test_folded_headers(void **state)
{
    (void)state;
    sw_frame_t f;
    /* a folded Content-Length value */
    assert_int_equal(frame(HEAD "Content-Length:\r\n   4\r\n\r\nabcd", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 4);
    /* a continuation line of another header is not a Content-Length */
    assert_int_equal(frame(HEAD "Subject: x\r\n Content-Length: 99\r\nl: 2\r\n\r\nab", true, &f),
                     SW_FRAME_OK);
    assert_int_equal(f.body_len, 2);
    /* folded lines do not end the headers */
    assert_int_equal(frame(HEAD "Subject: a\r\n\tb\r\nl: 1\r\n\r\nx", true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 1);
}

static void test_several_content_length(void **state)
{
    (void)state;
    assert_error(HEAD "Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", false,
                 "several Content-Length headers");
    /* equal values too: RFC 3261 allows a single one */
    assert_error(HEAD "Content-Length: 3\r\nl: 3\r\n\r\nabc", true, "several Content-Length headers");
}

static void test_bad_content_length_values(void **state)
{
    (void)state;
    assert_error(HEAD "Content-Length: -999\r\n\r\nabc", false, "negative Content-Length");
    assert_error(HEAD "Content-Length: -1\r\n\r\n", true, "negative Content-Length");
    assert_error(HEAD "Content-Length: abc\r\n\r\n", false, "invalid Content-Length");
    assert_error(HEAD "Content-Length: 12abc\r\n\r\n", false, "invalid Content-Length");
    assert_error(HEAD "Content-Length: 1 2\r\n\r\n", false, "invalid Content-Length");
    assert_error(HEAD "Content-Length:\r\n\r\n", false, "invalid Content-Length");
    assert_error(HEAD "Content-Length: +3\r\n\r\nabc", false, "invalid Content-Length");
    assert_error(HEAD "Content-Length: 99999999999999999999\r\n\r\nabc", false,
                 "Content-Length too large");
    assert_error(HEAD "Content-Length: 99999999999999999999\r\n\r\nabc", true,
                 "Content-Length too large");
}

static void test_no_end_of_headers(void **state)
{
    (void)state;
    sw_frame_t f;
    assert_error(HEAD "Content-Length: 0\r\n", false, "no end of headers");
    assert_int_equal(frame(HEAD "Content-Length: 0\r\n", true, &f), SW_FRAME_INCOMPLETE);
    assert_int_equal(frame("OPTIONS sip:a@example.com SIP/2.0", true, &f), SW_FRAME_INCOMPLETE);
    assert_error("OPTIONS sip:a@example.com SIP/2.0", false, "no end of headers");
}

static void test_bare_lf_line_ends(void **state)
{
    (void)state;
    const char *msg = "OPTIONS sip:a@example.com SIP/2.0\nVia: SIP/2.0/UDP h\nl: 2\n\nok";
    sw_frame_t f;
    assert_int_equal(frame(msg, true, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 2);
    assert_int_equal(f.total, strlen(msg));
}

static void test_max_size(void **state)
{
    (void)state;
    const char *msg = HEAD "Content-Length: 5\r\n\r\nhello";
    size_t len = strlen(msg);
    sw_frame_t f;
    assert_int_equal(frame_n(msg, len, false, len, &f), SW_FRAME_OK);
    assert_int_equal(frame_n(msg, len, false, len - 1, &f), SW_FRAME_ERROR);
    assert_string_equal(f.error, "message too large");
    /* a stream announcing more than max_size fails at once */
    assert_int_equal(frame_n(HEAD "Content-Length: 70000\r\n\r\n", strlen(HEAD) + 25, true, MAX, &f),
                     SW_FRAME_ERROR);
    assert_string_equal(f.error, "message too large");
    /* headers that never end within max_size */
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "OPTIONS sip:a SIP/2.0\r\nX: ", 26);
    assert_int_equal(frame_n(big, sizeof big, true, 200, &f), SW_FRAME_ERROR);
    assert_string_equal(f.error, "message too large");
    assert_int_equal(frame_n(big, sizeof big, false, 200, &f), SW_FRAME_ERROR);
    assert_string_equal(f.error, "message too large");
}

static void test_keepalives(void **state)
{
    (void)state;
    const char *msg = "\r\n\r\n" HEAD "l: 0\r\n\r\n";
    sw_frame_t f;
    assert_int_equal(frame(msg, true, &f), SW_FRAME_OK);
    assert_int_equal(f.skipped, 4);
    /* the message is msg[skipped, total) */
    assert_int_equal(f.total, strlen(msg));
    assert_int_equal(f.total - f.skipped, f.header_len + f.body_len);
    assert_memory_equal(msg + f.skipped, "OPTIONS ", 8);
    /* nothing but keep-alives: consume them, nothing to parse */
    assert_int_equal(frame("\r\n\r\n", true, &f), SW_FRAME_INCOMPLETE);
    assert_int_equal(f.skipped, 4);
    assert_int_equal(frame("\r\n", false, &f), SW_FRAME_INCOMPLETE);
    assert_int_equal(f.skipped, 2);
    assert_int_equal(frame_n("", 0, true, MAX, &f), SW_FRAME_INCOMPLETE);
    assert_int_equal(f.skipped, 0);
}

static void test_binary_body(void **state)
{
    (void)state;
    static const char msg[] = HEAD "Content-Length: 6\r\n\r\n\0\r\r\n\0x";
    sw_frame_t f;
    assert_int_equal(frame_n(msg, sizeof msg - 1, false, MAX, &f), SW_FRAME_OK);
    assert_int_equal(f.body_len, 6);
    assert_int_equal(f.total, sizeof msg - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datagram_exact_body),
        cmocka_unit_test(test_datagram_without_content_length),
        cmocka_unit_test(test_datagram_body_shorter_than_content_length),
        cmocka_unit_test(test_datagram_bytes_after_body_ignored),
        cmocka_unit_test(test_stream_needs_content_length),
        cmocka_unit_test(test_stream_incomplete_then_complete),
        cmocka_unit_test(test_stream_two_messages),
        cmocka_unit_test(test_compact_and_spelling),
        cmocka_unit_test(test_folded_headers),
        cmocka_unit_test(test_several_content_length),
        cmocka_unit_test(test_bad_content_length_values),
        cmocka_unit_test(test_no_end_of_headers),
        cmocka_unit_test(test_bare_lf_line_ends),
        cmocka_unit_test(test_max_size),
        cmocka_unit_test(test_keepalives),
        cmocka_unit_test(test_binary_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
