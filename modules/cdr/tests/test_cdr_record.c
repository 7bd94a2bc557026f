/* The CDR record and its formats: RFC 4180 quoting, times, the attempts
 * column, extra columns, the header line, the VOS3000-style pipe line and its
 * sanitising, hold time rounding, end reason names, the journal encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_record.h"

/* 2026-11-21T12:00:00.000Z */
#define T0 INT64_C(1795262400000)

static cdr_attempt_t *add_attempt(cdr_record_t *r, const char *gateway, int code, const char *outcome,
                                  int64_t start, int64_t first_response, int64_t end)
{
    cdr_attempt_t *a = cdr_record_add_attempt(r);
    assert_non_null(a);
    a->gateway = gateway ? strdup(gateway) : NULL;
    a->callee = strdup("44123");
    a->code = code;
    a->outcome = outcome ? strdup(outcome) : NULL;
    a->start_ms = start;
    a->first_response_ms = first_response;
    a->end_ms = end;
    return a;
}

/* An answered call after one failover. */
static cdr_record_t *answered_call(void)
{
    cdr_record_t *r = cdr_record_new();
    assert_non_null(r);
    r->seq = 42;
    r->call_id = strdup("abc@host");
    r->caller_in = strdup("1001");
    r->callee_in = strdup("0044123");
    r->caller_out = strdup("1001");
    r->callee_out = strdup("44123");
    r->source = strdup("mapA");
    r->source_ip = strdup("192.0.2.1");
    r->final_gateway = strdup("B");
    r->setup_ms = T0 + 123;
    r->ring_ms = T0 + 1123;
    r->answer_ms = T0 + 3000;
    r->end_ms = T0 + 63001;
    r->hold_ms = cdr_hold_time(r->answer_ms, r->end_ms, 50);
    r->end_reason = CDR_END_NORMAL_CALLER;
    r->hung_up_by = CDR_PARTY_CALLER;
    r->final_code = 200;
    add_attempt(r, "A", 503, "response", T0 + 133, T0 + 173, T0 + 253);
    cdr_attempt_t *b = add_attempt(r, "B", 200, "answered", T0 + 260, T0 + 290, T0 + 3000);
    b->reason = strdup("OK");
    return r;
}

static char *csv_line(const cdr_record_t *r, const char *const *extra, size_t n_extra)
{
    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_csv(r, extra, n_extra, &b);
    assert_false(b.failed);
    return b.data;
}

static char *vos_line(const cdr_record_t *r, const char *const *extra, size_t n_extra)
{
    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_vos(r, extra, n_extra, &b);
    assert_false(b.failed);
    return b.data;
}

/* ---- hold time, names --------------------------------------------------- */

static void test_hold_time_rounds_up_to_precision(void **state)
{
    (void)state;
    assert_int_equal(cdr_hold_time(T0, T0 + 1001, 50), 1050);
    assert_int_equal(cdr_hold_time(T0, T0 + 1000, 50), 1000);
    assert_int_equal(cdr_hold_time(T0, T0 + 1049, 50), 1050);
    assert_int_equal(cdr_hold_time(T0, T0 + 1, 50), 50);
    assert_int_equal(cdr_hold_time(T0, T0 + 1001, 1000), 2000);
    assert_int_equal(cdr_hold_time(T0, T0 + 1001, 1), 1001);
    assert_int_equal(cdr_hold_time(T0, T0 + 1001, 0), 1001);
    /* not answered, no end, end before answer, instant hang-up */
    assert_int_equal(cdr_hold_time(0, T0 + 1001, 50), 0);
    assert_int_equal(cdr_hold_time(T0, 0, 50), 0);
    assert_int_equal(cdr_hold_time(T0, T0 - 5, 50), 0);
    assert_int_equal(cdr_hold_time(T0, T0, 50), 0);
}

static void test_end_reason_and_party_names(void **state)
{
    (void)state;
    static const char *const expected[] = {
        "unknown", "normal_caller", "normal_callee", "cancelled", "all_gateways_failed", "no_route",
        "rejected_by_script", "invite_timeout", "session_timer_expired", "max_duration_no_timer", "auth_failed",
        "overload", "script_error", "shutdown", "no_ack", "rejected_by_module",
    };
    for (int i = 0; i < (int)(sizeof expected / sizeof expected[0]); i++)
        assert_string_equal(cdr_end_reason_name(i), expected[i]);
    assert_string_equal(cdr_end_reason_name(16), "unknown");
    assert_string_equal(cdr_end_reason_name(-1), "unknown");
    assert_string_equal(cdr_end_reason_name(1000), "unknown");
    assert_string_equal(cdr_party_name(1), "caller");
    assert_string_equal(cdr_party_name(2), "callee");
    assert_string_equal(cdr_party_name(3), "switch");
    assert_string_equal(cdr_party_name(0), "unknown");
    assert_string_equal(cdr_party_name(4), "unknown");
}

/* ---- CSV ---------------------------------------------------------------- */

static void test_csv_full_line(void **state)
{
    (void)state;
    cdr_record_t *r = answered_call();
    char *line = csv_line(r, NULL, 0);
    assert_string_equal(line, "42,abc@host,1001,0044123,1001,44123,mapA,192.0.2.1,B,"
                              "2026-11-21T12:00:00.123Z,2026-11-21T12:00:01.123Z,2026-11-21T12:00:03.000Z,"
                              "2026-11-21T12:01:03.001Z,60050,normal_caller,1,caller,200,2,"
                              "A:503:response:120ms:40ms;B:200:answered:2740ms:30ms\r\n");
    free(line);
    cdr_record_free(r);
}

static void test_csv_unanswered_call_has_empty_times(void **state)
{
    (void)state;
    cdr_record_t *r = cdr_record_new();
    r->seq = 7;
    r->call_id = strdup("x");
    r->setup_ms = T0;
    r->end_ms = T0 + 500;
    r->end_reason = CDR_END_NO_ROUTE;
    r->hung_up_by = CDR_PARTY_SWITCH;
    r->final_code = 404;
    char *line = csv_line(r, NULL, 0);
    assert_string_equal(line, "7,x,,,,,,,,2026-11-21T12:00:00.000Z,,,2026-11-21T12:00:00.500Z,0,no_route,5,switch,"
                              "404,0,\r\n");
    free(line);
    cdr_record_free(r);
}

/* The call id column (2nd) for a given value, quoted as RFC 4180 says. */
static void check_quoting(const char *value, const char *expected_column)
{
    cdr_record_t *r = cdr_record_new();
    r->call_id = value ? strdup(value) : NULL;
    char *line = csv_line(r, NULL, 0);
    char expected_start[256];
    snprintf(expected_start, sizeof expected_start, "0,%s,", expected_column);
    if (strncmp(line, expected_start, strlen(expected_start)) != 0)
        fail_msg("value [%s]: line [%s], expected it to start [%s]", value, line, expected_start);
    free(line);
    cdr_record_free(r);
}

static void test_csv_rfc4180_quoting(void **state)
{
    (void)state;
    check_quoting("plain", "plain");
    check_quoting("a,b", "\"a,b\"");
    check_quoting("say \"hi\"", "\"say \"\"hi\"\"\"");
    check_quoting("\"", "\"\"\"\"");
    check_quoting("line\r\nbreak", "\"line\r\nbreak\"");
    check_quoting("cr\r", "\"cr\r\"");
    check_quoting("lf\n", "\"lf\n\"");
    check_quoting("", "");
    check_quoting(NULL, "");
    check_quoting("semi;colon:and space", "semi;colon:and space");
    check_quoting("x,\"y\"\n", "\"x,\"\"y\"\"\n\"");
}

static void test_csv_times_iso8601_utc_millis(void **state)
{
    (void)state;
    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_iso_time(T0 + 123, &b);
    assert_string_equal(b.data, "2026-11-21T12:00:00.123Z");
    cdr_buf_reset(&b);
    cdr_format_iso_time(T0 + 59999, &b);
    assert_string_equal(b.data, "2026-11-21T12:00:59.999Z");
    cdr_buf_reset(&b);
    cdr_format_iso_time(1, &b);
    assert_string_equal(b.data, "1970-01-01T00:00:00.001Z");
    cdr_buf_reset(&b);
    cdr_format_iso_time(0, &b);
    assert_int_equal(b.len, 0);
    cdr_format_iso_time(-5, &b);
    assert_int_equal(b.len, 0);
    cdr_buf_free(&b);
}

static void test_csv_attempts_column(void **state)
{
    (void)state;
    cdr_record_t *r = cdr_record_new();
    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_attempts(r, &b);
    assert_int_equal(b.len, 0);
    /* a timeout (no code, no response), then unknown times */
    add_attempt(r, "A", 0, "invite_timeout", T0, 0, T0 + 4000);
    add_attempt(r, "B", 486, "response", 0, 0, 0);
    cdr_format_attempts(r, &b);
    assert_string_equal(b.data, "A:0:invite_timeout:4000ms:;B:486:response::");
    /* separators and the escape character in names are escaped */
    cdr_buf_reset(&b);
    cdr_record_free(r);
    r = cdr_record_new();
    add_attempt(r, "gw:1;x%", 503, "re:sp;onse", T0, T0 + 5, T0 + 10);
    add_attempt(r, NULL, 500, NULL, T0, T0, T0);
    cdr_format_attempts(r, &b);
    assert_string_equal(b.data, "gw%3A1%3Bx%25:503:re%3Asp%3Bonse:10ms:5ms;:500::0ms:0ms");
    cdr_buf_free(&b);
    /* in the CSV line: one column, quoted when a gateway name holds a comma */
    cdr_record_free(r);
    r = cdr_record_new();
    add_attempt(r, "a,b", 503, "response", T0, T0 + 1, T0 + 2);
    char *line = csv_line(r, NULL, 0);
    const char *tail = strstr(line, ",1,\"a,b:503:response:2ms:1ms\"\r\n");
    assert_non_null(tail);
    free(line);
    cdr_record_free(r);
}

static void test_csv_extra_columns(void **state)
{
    (void)state;
    cdr_record_t *r = answered_call();
    assert_int_equal(cdr_record_set_field(r, "tariff", "gold, \"vip\""), 0);
    assert_int_equal(cdr_record_set_field(r, "customer", "c1"), 0);
    assert_int_equal(cdr_record_set_field(r, "customer", "c2"), 0); /* replaced, not added */
    assert_int_equal(r->n_fields, 2);
    assert_string_equal(cdr_record_field(r, "customer"), "c2");
    const char *extra[] = {"customer", "missing", "tariff"};
    char *line = csv_line(r, extra, 3);
    const char *tail = strstr(line, ";B:200:answered:2740ms:30ms,c2,,\"gold, \"\"vip\"\"\"\r\n");
    if (tail == NULL)
        fail_msg("line: %s", line);
    free(line);
    /* removing a field leaves its column empty */
    assert_int_equal(cdr_record_set_field(r, "customer", NULL), 0);
    assert_int_equal(r->n_fields, 1);
    assert_null(cdr_record_field(r, "customer"));
    line = csv_line(r, extra, 3);
    assert_non_null(strstr(line, ":30ms,,,\"gold"));
    free(line);
    cdr_record_free(r);
}

static void test_csv_header_line(void **state)
{
    (void)state;
    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_csv_header(NULL, 0, &b);
    assert_string_equal(b.data, "seq,call_id,caller_in,callee_in,caller_out,callee_out,source,source_ip,"
                                "final_gateway,setup_time,ring_time,answer_time,end_time,hold_ms,end_reason,"
                                "end_reason_code,hung_up_by,final_code,attempt_count,attempts\r\n");
    cdr_buf_reset(&b);
    const char *extra[] = {"tariff", "odd,name"};
    cdr_format_csv_header(extra, 2, &b);
    assert_non_null(strstr(b.data, ",attempts,tariff,\"odd,name\"\r\n"));
    cdr_buf_free(&b);
    /* as many header columns as line columns (no quoted commas in this record) */
    cdr_record_t *r = answered_call();
    char *line = csv_line(r, extra, 2);
    size_t commas = 0;
    for (char *p = line; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 19 + 2);
    free(line);
    cdr_record_free(r);
}

/* ---- VOS3000-style pipe format ----------------------------------------- */

static void test_vos_field_order(void **state)
{
    (void)state;
    cdr_record_t *r = answered_call();
    cdr_record_set_field(r, "tariff", "gold");
    const char *extra[] = {"tariff", "missing"};
    char *line = vos_line(r, extra, 2);
    assert_string_equal(line, "1001|0044123|2026-11-21 12:00:03|2026-11-21 12:01:03|61|1|0|mapA|B|"
                              "192.0.2.1|1001|44123|200|60050|2026-11-21 12:00:00|2026-11-21 12:00:01|"
                              "2026-11-21 12:00:03|abc@host|42|2|A:503:response:120ms:40ms;B:200:answered:2740ms:30ms|"
                              "normal_caller|gold|\r\n");
    free(line);
    cdr_record_free(r);
}

static void test_vos_unanswered_and_directions(void **state)
{
    (void)state;
    cdr_record_t *r = cdr_record_new();
    r->seq = 9;
    r->caller_in = strdup("1001");
    r->callee_in = strdup("999");
    r->setup_ms = T0 + 999;
    r->end_ms = T0 + 4500;
    r->end_reason = CDR_END_CANCELLED;
    r->hung_up_by = CDR_PARTY_CALLER;
    r->final_code = 487;
    char *line = vos_line(r, NULL, 0);
    /* start time is the setup time when there was no answer; ms are dropped */
    assert_string_equal(line, "1001|999|2026-11-21 12:00:00|2026-11-21 12:00:04|0|3|0|||||"
                              "|487|0|2026-11-21 12:00:00|||"
                              "|9|0||cancelled\r\n");
    free(line);
    r->hung_up_by = CDR_PARTY_CALLEE;
    line = vos_line(r, NULL, 0);
    assert_non_null(strstr(line, "|3|1|"));
    free(line);
    r->hung_up_by = CDR_PARTY_SWITCH;
    line = vos_line(r, NULL, 0);
    assert_non_null(strstr(line, "|3|2|"));
    free(line);
    r->hung_up_by = 0;
    line = vos_line(r, NULL, 0);
    assert_non_null(strstr(line, "|3||"));
    free(line);
    cdr_record_free(r);
}

static void test_vos_sanitises_separators_and_breaks(void **state)
{
    (void)state;
    cdr_record_t *r = cdr_record_new();
    r->caller_in = strdup("a|b");
    r->callee_in = strdup("c\r\nd");
    r->call_id = strdup("id\tx");
    add_attempt(r, "g|w", 503, "response", 0, 0, 0);
    cdr_record_set_field(r, "note", "x|y\nz");
    const char *extra[] = {"note"};
    char *line = vos_line(r, extra, 1);
    size_t pipes = 0;
    for (char *p = line; *p; p++)
        pipes += *p == '|';
    assert_int_equal(pipes, 21 + 1);                      /* 22 fixed fields + 1 extra */
    assert_int_equal(strncmp(line, "a b|c  d|", 9), 0);
    assert_non_null(strstr(line, "|id x|"));
    assert_non_null(strstr(line, "|g w:503:response::|"));
    assert_non_null(strstr(line, "|x y z\r\n"));
    /* one line: the only CR LF is the terminator */
    assert_ptr_equal(strchr(line, '\r'), line + strlen(line) - 2);
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
    free(line);
    cdr_record_free(r);
}

/* ---- buffer ------------------------------------------------------------- */

static void test_buffer_grows(void **state)
{
    (void)state;
    cdr_buf_t b;
    cdr_buf_init(&b);
    for (int i = 0; i < 100000; i++)
        cdr_buf_printf(&b, "%d,", i % 10);
    assert_false(b.failed);
    assert_int_equal(b.len, 200000);
    assert_int_equal(b.data[b.len], '\0');
    cdr_buf_reset(&b);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cdr_buf_printf(&b, "%s%s", big, big); /* longer than the small on-stack attempt */
    assert_int_equal(b.len, 2 * (sizeof big - 1));
    cdr_buf_free(&b);
}

/* ---- journal encoding --------------------------------------------------- */

static void test_encode_decode_round_trip(void **state)
{
    (void)state;
    cdr_record_t *r = answered_call();
    cdr_record_set_field(r, "tariff", "gold");
    cdr_record_set_field(r, "empty", "");
    cdr_buf_t b;
    cdr_buf_init(&b);
    assert_false(cdr_record_encode(r, &b));
    cdr_record_t *back = cdr_record_decode(b.data, b.len);
    assert_non_null(back);
    /* same text in both formats means every written field survived */
    const char *extra[] = {"tariff", "empty"};
    char *a1 = csv_line(r, extra, 2), *a2 = csv_line(back, extra, 2);
    assert_string_equal(a1, a2);
    free(a1);
    free(a2);
    a1 = vos_line(r, extra, 2);
    a2 = vos_line(back, extra, 2);
    assert_string_equal(a1, a2);
    free(a1);
    free(a2);
    /* and the fields no format writes */
    assert_string_equal(back->attempts[1].reason, "OK");
    assert_null(back->attempts[0].reason);
    assert_string_equal(back->attempts[0].callee, "44123");
    assert_int_equal(back->seq, 42);
    cdr_record_free(back);

    /* every shorter prefix, and one byte more, is refused, without crashing */
    for (size_t n = 0; n < b.len; n++) {
        errno = 0;
        back = cdr_record_decode(b.data, n);
        assert_null(back);
        assert_int_equal(errno, EINVAL);
    }
    cdr_buf_append_char(&b, 0);
    assert_null(cdr_record_decode(b.data, b.len));
    /* another version */
    b.data[0] = 2;
    assert_null(cdr_record_decode(b.data, b.len - 1));
    cdr_buf_free(&b);
    cdr_record_free(r);
}

static void test_encode_applies_limits(void **state)
{
    (void)state;
    cdr_record_t *r = cdr_record_new();
    char *long_id = malloc(5000);
    memset(long_id, 'i', 4999);
    long_id[4999] = '\0';
    r->call_id = long_id;
    for (unsigned i = 0; i < CDR_MAX_ATTEMPTS + 10; i++)
        add_attempt(r, "gw", 503, "response", T0, T0, T0);
    char name[32];
    for (unsigned i = 0; i < CDR_MAX_FIELDS + 5; i++) {
        snprintf(name, sizeof name, "f%u", i);
        cdr_record_set_field(r, name, "v");
    }
    cdr_buf_t b;
    cdr_buf_init(&b);
    assert_true(cdr_record_encode(r, &b));
    assert_true(b.len <= CDR_MAX_ENCODED_BYTES);
    cdr_record_t *back = cdr_record_decode(b.data, b.len);
    assert_non_null(back);
    assert_int_equal(strlen(back->call_id), CDR_MAX_STRING_BYTES);
    assert_int_equal(back->n_attempts, CDR_MAX_ATTEMPTS);
    assert_int_equal(back->n_fields, CDR_MAX_FIELDS);
    cdr_record_free(back);
    cdr_buf_free(&b);
    cdr_record_free(r);
    cdr_record_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_time_rounds_up_to_precision),
        cmocka_unit_test(test_end_reason_and_party_names),
        cmocka_unit_test(test_csv_full_line),
        cmocka_unit_test(test_csv_unanswered_call_has_empty_times),
        cmocka_unit_test(test_csv_rfc4180_quoting),
        cmocka_unit_test(test_csv_times_iso8601_utc_millis),
        cmocka_unit_test(test_csv_attempts_column),
        cmocka_unit_test(test_csv_extra_columns),
        cmocka_unit_test(test_csv_header_line),
        cmocka_unit_test(test_vos_field_order),
        cmocka_unit_test(test_vos_unanswered_and_directions),
        cmocka_unit_test(test_vos_sanitises_separators_and_breaks),
        cmocka_unit_test(test_buffer_grows),
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_encode_applies_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
