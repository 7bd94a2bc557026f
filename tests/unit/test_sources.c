/* Mapping sources: parsing every entry form, longest-prefix and port
 * precedence, and cfg errors with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "call/sources.h"
#include "cfg/core_params.h"

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &in6->sin6_addr);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        inet_pton(AF_INET, ip, &in->sin_addr);
    }
    return ss;
}

static sw_cfg_t *cfg_from(const char *text, sw_errors_t *errs, sw_sources_t **out)
{
    sw_cfg_t *cfg = sw_cfg_read_string("m.cfg", text, errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, errs);
    sw_core_settings_free(&core);
    sw_cfg_resolve_all(cfg, errs);
    *out = errs->count ? NULL : sw_sources_build(sw_cfg_view(cfg, "core"), errs);
    return cfg;
}

static void test_parse_forms(void **state)
{
    (void)state;
    sw_source_entry_t e;
    char err[256];
    assert_int_equal(sw_source_parse("192.0.2.1", &e, err, sizeof err), 0);
    assert_int_equal(e.prefix_len, 32);
    assert_int_equal(e.port, 0);
    assert_int_equal(sw_source_parse("192.0.2.0/24", &e, err, sizeof err), 0);
    assert_int_equal(e.prefix_len, 24);
    assert_int_equal(sw_source_parse("192.0.2.1:5080", &e, err, sizeof err), 0);
    assert_int_equal(e.port, 5080);
    assert_int_equal(sw_source_parse("2001:db8::/32", &e, err, sizeof err), 0);
    assert_int_equal(e.family, AF_INET6);
    assert_int_equal(e.prefix_len, 32);
    assert_int_equal(sw_source_parse("[2001:db8::1]:5060", &e, err, sizeof err), 0);
    assert_int_equal(e.port, 5060);
    assert_int_equal(sw_source_parse("0.0.0.0/0", &e, err, sizeof err), 0);
    const char *bad[] = {"gw.example.com", "192.0.2.0/33", "192.0.2.1/24", "192.0.2.1:0", "192.0.2.1:99999",
                         "[2001:db8::1", "300.1.1.1", "", "192.0.2.0/x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (sw_source_parse(bad[i], &e, err, sizeof err) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    sw_source_parse("192.0.2.1/24", &e, err, sizeof err);
    assert_string_equal(err, "'192.0.2.1/24': host bits set below the /24 mask");
}

static void test_match_precedence(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_sources_t *t;
    sw_cfg_t *cfg = cfg_from("[core]\n"
                             "[mapping wide]\nsource = 10.0.0.0/8\n"
                             "[mapping narrow]\nsource = 10.1.0.0/16\n"
                             "[mapping host]\nsource = 10.1.2.3\n"
                             "[mapping hostport]\nsource = 10.1.2.3:5080\n"
                             "[mapping v6]\nsource = 2001:db8::/32, [2001:db8:1::5]:5060\n",
                             &errs, &t);
    for (size_t i = 0; i < errs.count; i++)
        print_message("%s\n", errs.items[i]);
    assert_int_equal(errs.count, 0);
    assert_non_null(t);
    assert_int_equal(sw_sources_count(t), 6);
    struct {
        const char *ip;
        uint16_t port;
        const char *want;
    } cases[] = {
        {"10.9.9.9", 5060, "wide"},      {"10.1.9.9", 5060, "narrow"},  {"10.1.2.3", 5060, "host"},
        {"10.1.2.3", 5080, "hostport"},  {"11.0.0.1", 5060, NULL},      {"2001:db8:ff::1", 5060, "v6"},
        {"2001:db8:1::5", 5060, "v6"},   {"2001:db9::1", 5060, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sockaddr_storage ss = addr(cases[i].ip, cases[i].port);
        const char *got = sw_sources_match(t, (struct sockaddr *)&ss);
        if (cases[i].want == NULL ? got != NULL : (got == NULL || strcmp(got, cases[i].want) != 0))
            fail_msg("%s:%u matched %s, expected %s", cases[i].ip, cases[i].port, got ? got : "nothing",
                     cases[i].want ? cases[i].want : "nothing");
    }
    sw_sources_free(t);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_cfg_errors(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"[core]\n[mapping a]\nsource = 10.0.0.0/33\n", "m.cfg:3: [mapping a] source: '10.0.0.0/33': prefix length must be 0–32"},
        {"[core]\n[mapping a]\nsource = pbx.example.com\n", "m.cfg:3: [mapping a] source: 'pbx.example.com' is not an IP address"},
        {"[core]\n[mapping a]\nsource = 10.0.0.1\n[mapping b]\nsource = 10.0.0.1\n",
         "m.cfg:5: [mapping b] source '10.0.0.1' is already in [mapping a]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sw_errors_t errs = {0};
        sw_sources_t *t;
        sw_cfg_t *cfg = cfg_from(cases[i].text, &errs, &t);
        assert_null(t);
        bool found = false;
        for (size_t k = 0; k < errs.count; k++)
            found |= strstr(errs.items[k], cases[i].error) != NULL;
        if (!found) {
            for (size_t k = 0; k < errs.count; k++)
                print_message("  %s\n", errs.items[k]);
            fail_msg("case %zu: no '%s'", i, cases[i].error);
        }
        sw_cfg_free(cfg);
        sw_errors_clear(&errs);
    }
}

static void test_empty(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_sources_t *t;
    sw_cfg_t *cfg = cfg_from("[core]\n", &errs, &t);
    assert_non_null(t);
    struct sockaddr_storage ss = addr("127.0.0.1", 5060);
    assert_null(sw_sources_match(t, (struct sockaddr *)&ss));
    sw_sources_free(t);
    sw_cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_match_precedence),
        cmocka_unit_test(test_cfg_errors),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
