/* Typed parameter parsing: every type, its errors and its ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cfg/params.h"

static const char *const modes[] = {"Off", "On", "Auto", "Must On", NULL};

static int parse(const sw_param_t *p, const char *text, sw_value_t *v, char *err)
{
    memset(v, 0, sizeof *v);
    return sw_param_parse(p, text, v, err, 256);
}

static void test_bool(void **state)
{
    (void)state;
    sw_param_t p = {.size = sizeof p, .name = "b", .type = SW_PARAM_BOOL};
    sw_value_t v;
    char err[256];
    const char *yes[] = {"On", "on", "YES", "true", "1", "enabled"};
    const char *no[] = {"Off", "no", "FALSE", "0", "disable"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        assert_int_equal(parse(&p, yes[i], &v, err), 0);
        assert_int_equal(v.num, 1);
        sw_value_clear(&v);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        assert_int_equal(parse(&p, no[i], &v, err), 0);
        assert_int_equal(v.num, 0);
        sw_value_clear(&v);
    }
    assert_int_equal(parse(&p, "maybe", &v, err), -1);
    assert_string_equal(err, "expected On or Off, got 'maybe'");
    sw_value_clear(&v);
}

static void test_int_range_and_hex(void **state)
{
    (void)state;
    sw_param_t p = {.size = sizeof p, .name = "tos", .type = SW_PARAM_INT, .min = 0, .max = 255};
    sw_value_t v;
    char err[256];
    assert_int_equal(parse(&p, "0xa0", &v, err), 0);
    assert_int_equal(v.num, 160);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, " 255 ", &v, err), 0);
    assert_int_equal(v.num, 255);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "256", &v, err), -1);
    assert_string_equal(err, "256 is out of range (0–255)");
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "-1", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "12abc", &v, err), -1);
    assert_string_equal(err, "expected an integer, got '12abc'");
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "99999999999999999999999", &v, err), -1);
    sw_value_clear(&v);
}

static void test_enum(void **state)
{
    (void)state;
    sw_param_t p = {.size = sizeof p, .name = "mode", .type = SW_PARAM_ENUM, .choices = modes};
    sw_value_t v;
    char err[256];
    assert_int_equal(parse(&p, "must on", &v, err), 0);
    assert_int_equal(v.num, 3);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "auto", &v, err), 0);
    assert_int_equal(v.num, 2);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "sometimes", &v, err), -1);
    assert_string_equal(err, "expected one of Off/On/Auto/Must On, got 'sometimes'");
    sw_value_clear(&v);
}

static void test_duration(void **state)
{
    (void)state;
    sw_param_t p = {.size = sizeof p, .name = "t", .type = SW_PARAM_DURATION, .min = 1000, .max = 300000, .unit = "s"};
    sw_value_t v;
    char err[256];
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"10", 10000}, {"10s", 10000}, {"1.5s", 1500}, {"2500ms", 2500}, {"2m", 120000}, {"1 s", 1000}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(parse(&p, ok[i].text, &v, err), 0);
        assert_int_equal(v.num, ok[i].ms);
        sw_value_clear(&v);
    }
    assert_int_equal(parse(&p, "301", &v, err), -1);
    assert_string_equal(err, "'301' is out of range (1 s – 300 s)");
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "10 parsecs", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "-5", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&p, "nan", &v, err), -1);
    sw_value_clear(&v);
    sw_param_t ms = {.size = sizeof ms, .name = "i", .type = SW_PARAM_DURATION, .unit = "ms"};
    assert_int_equal(parse(&ms, "500", &v, err), 0);
    assert_int_equal(v.num, 500);
    sw_value_clear(&v);
}

static void test_lists(void **state)
{
    (void)state;
    sw_param_t d = {.size = sizeof d, .name = "resend", .type = SW_PARAM_DURATION_LIST, .min = 10, .max = 60000};
    sw_value_t v;
    char err[256];
    assert_int_equal(parse(&d, "0.5,1, 2 ,4", &v, err), 0);
    assert_int_equal(v.count, 4);
    assert_int_equal(v.nums[0], 500);
    assert_int_equal(v.nums[3], 4000);
    sw_value_clear(&v);
    assert_int_equal(parse(&d, "0.5,,1", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&d, "0.5,1,", &v, err), -1);
    sw_value_clear(&v);
    assert_int_equal(parse(&d, "0.5,100", &v, err), -1);
    sw_value_clear(&v);
    sw_param_t codes = {.size = sizeof codes, .name = "codes", .type = SW_PARAM_INT_LIST, .min = 100, .max = 699};
    assert_int_equal(parse(&codes, "403, 404", &v, err), 0);
    assert_int_equal(v.count, 2);
    assert_int_equal(v.nums[1], 404);
    sw_value_clear(&v);
    assert_int_equal(parse(&codes, "403, 99", &v, err), -1);
    assert_string_equal(err, "99 is out of range (100–699)");
    sw_value_clear(&v);
    assert_int_equal(parse(&codes, "", &v, err), 0);
    assert_int_equal(v.count, 0);
    sw_value_clear(&v);
    sw_param_t names = {.size = sizeof names, .name = "load", .type = SW_PARAM_STRING_LIST};
    assert_int_equal(parse(&names, "registrar, cdr", &v, err), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(v.strs[1], "cdr");
    sw_value_clear(&v);
}

static void test_address(void **state)
{
    (void)state;
    sw_param_t p = {.size = sizeof p, .name = "a", .type = SW_PARAM_ADDRESS};
    sw_value_t v;
    char err[256];
    const char *good[] = {"127.0.0.1:8080", "[::1]:5060", "gw.example.com:5060"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(parse(&p, good[i], &v, err), 0);
        sw_value_clear(&v);
    }
    const char *bad[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[::1]5060", "a b:1", ":5060"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(parse(&p, bad[i], &v, err), -1);
        sw_value_clear(&v);
    }
}

/* A module built against an older, smaller sw_param_t still reads right. */
static void test_normalize_smaller_struct(void **state)
{
    (void)state;
    sw_param_t old = {.size = offsetof(sw_param_t, unit), .name = "x", .type = SW_PARAM_DURATION,
                      .default_value = "5", .unit = "ms", .doc = "garbage beyond size"};
    sw_param_t out;
    sw_param_normalize(&old, &out);
    assert_string_equal(out.name, "x");
    assert_string_equal(out.unit, "s"); /* not read from beyond the declared size: the default */
    assert_null(out.doc);
    assert_int_equal(out.scopes, SW_SCOPE_GLOBAL);
}

static void test_count_and_stride(void **state)
{
    (void)state;
    const sw_param_t params[] = {
        {.size = sizeof(sw_param_t), .name = "a", .type = SW_PARAM_INT},
        {.size = sizeof(sw_param_t), .name = "b", .type = SW_PARAM_BOOL},
        {0},
    };
    assert_int_equal(sw_param_count(params), 2);
    assert_int_equal(sw_param_count(NULL), 0);
    sw_param_t p;
    sw_param_at(params, 1, &p);
    assert_string_equal(p.name, "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bool),      cmocka_unit_test(test_int_range_and_hex),
        cmocka_unit_test(test_enum),      cmocka_unit_test(test_duration),
        cmocka_unit_test(test_lists),     cmocka_unit_test(test_address),
        cmocka_unit_test(test_normalize_smaller_struct), cmocka_unit_test(test_count_and_stride),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
