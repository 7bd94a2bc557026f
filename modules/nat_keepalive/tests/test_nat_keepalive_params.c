/* nat_keepalive's parameters through the real cfg reader and API table:
 * names, VOS3000 aliases and defaults as PARAMETERS.md section 5 states
 * them, the VOS3000 floors (period 10 s, send_interval 10 ms) refused
 * unless allow_short_intervals (then a warning), and keepalive_mode /
 * keepalive_max_missed per [account NAME] with their fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "module/loader.h"
#include "../../../tests/unit/test_cfg_errors.h"

#include "nat_keepalive_params.h"

typedef struct loaded {
    int rc;
    ka_config_t conf;
    char err[512], warn[256];
} loaded_t;

/* The text read as the daemon reads it with the module loaded, then
 * copied into settings by the module. */
static loaded_t load(const char *text)
{
    loaded_t out = {0};
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("nk.cfg", text, &errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    assert_int_equal(sw_cfg_add_owner(cfg, "nat_keepalive", nat_keepalive_params, &errs), 0);
    sw_cfg_resolve_all(cfg, &errs);
    sw_test_expect_no_errors(&errs);
    sw_errors_clear(&errs);
    out.rc = ka_config_load(sw_api_table(), sw_cfg_view(cfg, "nat_keepalive"), &out.conf, out.err, sizeof out.err,
                            out.warn, sizeof out.warn);
    sw_cfg_free(cfg);
    return out;
}

/* A cfg the core itself refuses (range, type): the error names file:line. */
static void expect_core_error(const char *text, const char *fragment)
{
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("nk.cfg", text, &errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    sw_cfg_add_owner(cfg, "nat_keepalive", nat_keepalive_params, &errs);
    sw_cfg_resolve_all(cfg, &errs);
    assert_true(sw_test_has_error(&errs, fragment));
    sw_errors_clear(&errs);
    sw_cfg_free(cfg);
}

static void test_defaults_and_names(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n");
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.conf.message, "HELLO");
    assert_int_equal(l.conf.message_len, 5);
    assert_int_equal(l.conf.period_ms, 30000);
    assert_int_equal(l.conf.interval_ms, 500);
    assert_int_equal(l.conf.batch, 3000);
    assert_int_equal(l.conf.global.mode, KA_MODE_RAW);
    assert_int_equal(l.conf.global.max_missed, 3);
    assert_false(l.conf.allow_short);
    assert_string_equal(l.conf.registrar_module, "registrar");
    assert_string_equal(l.warn, "");
    ka_config_free(sw_api_table(), &l.conf);
    /* the VOS3000 names */
    const char *aliases[][2] = {{"message", "SS_SIP_NAT_KEEP_ALIVE_MESSAGE"},
                                {"period", "SS_SIP_NAT_KEEP_ALIVE_PERIOD"},
                                {"send_interval", "SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL"},
                                {"batch", "SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME"}};
    for (size_t i = 0; i < 4; i++) {
        const sw_param_t *p = nat_keepalive_params;
        while (p->size && strcmp(p->name, aliases[i][0]) != 0)
            p++;
        assert_int_not_equal(p->size, 0);
        assert_string_equal(p->vos_alias, aliases[i][1]);
        assert_true(p->flags & SW_PARAM_RELOADABLE);
    }
    l = load("[core]\n[nat_keepalive]\n"
             "SS_SIP_NAT_KEEP_ALIVE_MESSAGE = PING\n"
             "SS_SIP_NAT_KEEP_ALIVE_PERIOD = 60\n"
             "SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL = 250\n"
             "SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME = 100000\n");
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.conf.message, "PING");
    assert_int_equal(l.conf.period_ms, 60000);
    assert_int_equal(l.conf.interval_ms, 250);
    assert_int_equal(l.conf.batch, 100000);
    ka_config_free(sw_api_table(), &l.conf);
}

/* PARAMETERS.md's ranges: the core refuses what is outside the descriptors. */
static void test_ranges(void **state)
{
    (void)state;
    expect_core_error("[core]\n[nat_keepalive]\nperiod = 86401\n", "nk.cfg:3");
    expect_core_error("[core]\n[nat_keepalive]\nsend_interval = 10001\n", "send_interval");
    expect_core_error("[core]\n[nat_keepalive]\nbatch = 0\n", "batch");
    expect_core_error("[core]\n[nat_keepalive]\nbatch = 100001\n", "batch");
    expect_core_error("[core]\n[nat_keepalive]\nkeepalive_mode = ping\n", "keepalive_mode");
    loaded_t l = load("[core]\n[nat_keepalive]\nperiod = 10\nsend_interval = 10ms\nbatch = 1\n");
    assert_int_equal(l.rc, 0); /* the floors themselves are fine */
    assert_string_equal(l.warn, "");
    ka_config_free(sw_api_table(), &l.conf);
}

/* An empty message is allowed: the feature is off. */
static void test_empty_message_is_off(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[nat_keepalive]\nmessage =\n");
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.conf.message, "");
    assert_int_equal(l.conf.message_len, 0);
    ka_config_free(sw_api_table(), &l.conf);
    /* as long as a cfg line allows (the core's limit is below one datagram's) */
    char text[512] = "[core]\n[nat_keepalive]\nmessage = ";
    size_t n = strlen(text);
    memset(text + n, 'x', 150);
    strcpy(text + n + 150, "\n");
    l = load(text);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.conf.message_len, 150);
    ka_config_free(sw_api_table(), &l.conf);
}

/* Below the VOS3000 floors: refused without the opt-in, warned with it. */
static void test_short_values_need_the_opt_in(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[nat_keepalive]\nperiod = 2\n");
    assert_int_equal(l.rc, -1);
    assert_non_null(strstr(l.err, "nk.cfg"));
    assert_non_null(strstr(l.err, "period = 2"));
    assert_non_null(strstr(l.err, "allow_short_intervals"));
    l = load("[core]\n[nat_keepalive]\nsend_interval = 5ms\n");
    assert_int_equal(l.rc, -1);
    assert_non_null(strstr(l.err, "send_interval = 5ms"));
    l = load("[core]\n[nat_keepalive]\nperiod = 2\nsend_interval = 5ms\nallow_short_intervals = On\n");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.conf.period_ms, 2000);
    assert_int_equal(l.conf.interval_ms, 5);
    assert_true(l.conf.allow_short);
    assert_non_null(strstr(l.warn, "period = 2"));
    assert_non_null(strstr(l.warn, "send_interval = 5ms"));
    ka_config_free(sw_api_table(), &l.conf);
}

/* keepalive_mode and keepalive_max_missed per account, falling back to
 * [nat_keepalive]; only accounts that differ are kept. */
static void test_per_account_settings(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n"
                      "[nat_keepalive]\n"
                      "keepalive_max_missed = 5\n"
                      "[account pbx1]\n"
                      "keepalive_mode = options\n"
                      "[account pbx2]\n"
                      "keepalive_mode = OPTIONS\n"
                      "keepalive_max_missed = 2\n"
                      "[account phone]\n"
                      "keepalive_mode = raw\n");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.conf.n_accounts, 2); /* "phone" is the same as the global settings */
    const ka_account_settings_t *a = ka_config_account(&l.conf, "pbx1");
    assert_int_equal(a->mode, KA_MODE_OPTIONS);
    assert_int_equal(a->max_missed, 5); /* inherited */
    a = ka_config_account(&l.conf, "pbx2");
    assert_int_equal(a->mode, KA_MODE_OPTIONS);
    assert_int_equal(a->max_missed, 2);
    a = ka_config_account(&l.conf, "phone");
    assert_int_equal(a->mode, KA_MODE_RAW);
    assert_int_equal(a->max_missed, 5);
    assert_ptr_equal(ka_config_account(&l.conf, "nobody"), &l.conf.global);
    assert_ptr_equal(ka_config_account(&l.conf, NULL), &l.conf.global);
    assert_ptr_equal(ka_config_account(&l.conf, ""), &l.conf.global);
    ka_config_free(sw_api_table(), &l.conf);
    /* global options mode, one account back to raw */
    l = load("[core]\n[nat_keepalive]\nkeepalive_mode = options\n[account old]\nkeepalive_mode = raw\n");
    assert_int_equal(l.rc, 0);
    assert_int_equal(ka_config_account(&l.conf, "any")->mode, KA_MODE_OPTIONS);
    assert_int_equal(ka_config_account(&l.conf, "old")->mode, KA_MODE_RAW);
    ka_config_free(sw_api_table(), &l.conf);
    /* the keys are per account or global only */
    expect_core_error("[core]\n[gateway g]\naddress = 192.0.2.1\nkeepalive_mode = options\n", "keepalive_mode");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_names),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_empty_message_is_off),
        cmocka_unit_test(test_short_values_need_the_opt_in),
        cmocka_unit_test(test_per_account_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
