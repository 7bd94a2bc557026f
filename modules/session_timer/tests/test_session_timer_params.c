/* session_timer's parameters through the real cfg reader and the real API
 * table: the descriptor (names, VOS3000 aliases, defaults as PARAMETERS.md
 * section 2 states them, scopes), overrides per gateway, mapping and
 * account with their fallback, and the checks the descriptors cannot make:
 * intervals below RFC 4028's 90 s only with allow_short_intervals (refused
 * with file:line otherwise, a warning with it), whole seconds, TTL >= Min-SE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "module/loader.h"
#include "../../../tests/unit/test_cfg_errors.h"

#include "session_timer_params.h"

/* The cfg text is written to a real file: the module finds lines in it. */
static char cfg_path[64];

static int setup_file(void **state)
{
    (void)state;
    snprintf(cfg_path, sizeof cfg_path, "/tmp/sw-st-params-XXXXXX");
    int fd = mkstemp(cfg_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int remove_file(void **state)
{
    (void)state;
    unlink(cfg_path);
    return 0;
}

/* Reads text (also written to cfg_path) with the core's and the module's
 * parameters declared, as the daemon does once the module is loaded. */
static sw_cfg_t *load(const char *text)
{
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string(cfg_path, text, &errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    assert_int_equal(sw_cfg_add_owner(cfg, "session_timer", session_timer_params, &errs), 0);
    sw_cfg_resolve_all(cfg, &errs);
    for (size_t i = 0; i < errs.count; i++)
        print_message("unexpected cfg error: %s\n", errs.items[i]);
    assert_int_equal(errs.count, 0);
    sw_errors_clear(&errs);
    return cfg;
}

/* st_config_load on text: its return code, the error and warning texts. */
static int load_config(const char *text, st_config_t *out, char *err, char *warn)
{
    sw_cfg_t *cfg = load(text);
    int rc = st_config_load(sw_api_table(), sw_cfg_view(cfg, "session_timer"), out, err, 512, warn, 512);
    sw_cfg_free(cfg);
    return rc;
}

static const sw_param_t *find_param(const char *name)
{
    return sw_test_find_param(session_timer_params, name);
}

#define EVERY_LEG (SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY | SW_SCOPE_MAPPING | SW_SCOPE_ACCOUNT)

static void test_descriptor(void **state)
{
    (void)state;
    const struct {
        const char *name, *alias, *def;
        sw_param_type_t type;
        unsigned scopes;
    } want[] = {
        {"session_timer", NULL, "On", SW_PARAM_BOOL, EVERY_LEG},
        {"session_ttl", "SS_SIP_SESSION_TTL", "600", SW_PARAM_DURATION, EVERY_LEG},
        {"session_update_segment", "SS_SIP_SESSION_UPDATE_SEGMENT", "2", SW_PARAM_INT, SW_SCOPE_GLOBAL},
        {"session_timeout_early_hangup", "SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP", "0", SW_PARAM_DURATION,
         SW_SCOPE_GLOBAL},
        {"no_timer_reinvite_interval", "SS_SIP_NO_TIMER_REINVITE_INTERVAL", "7200", SW_PARAM_DURATION,
         SW_SCOPE_GLOBAL},
        {"min_se", NULL, "90", SW_PARAM_DURATION, SW_SCOPE_GLOBAL},
        {"session_refresh_method", NULL, "auto", SW_PARAM_ENUM, EVERY_LEG},
        {"allow_short_intervals", NULL, "Off", SW_PARAM_BOOL, SW_SCOPE_GLOBAL},
    };
    size_t n = 0;
    for (const sw_param_t *p = session_timer_params; p->size; p++) {
        n++;
        assert_int_equal(p->size, sizeof(sw_param_t));
        assert_true(p->doc && strlen(p->doc) > 20);
        assert_true(p->flags & SW_PARAM_RELOADABLE);
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        const sw_param_t *p = find_param(want[i].name);
        if (!p)
            fail_msg("no parameter '%s'", want[i].name);
        if (want[i].alias)
            assert_string_equal(p->vos_alias, want[i].alias);
        else
            assert_null(p->vos_alias);
        assert_string_equal(p->default_value, want[i].def);
        assert_int_equal(p->type, want[i].type);
        assert_int_equal(p->scopes, want[i].scopes);
    }
    /* the spec's ranges where the core checks them; the interval floors are
     * the module's (tested below) */
    assert_int_equal(find_param("session_update_segment")->min, 2);
    assert_int_equal(find_param("session_update_segment")->max, 10);
    assert_int_equal(find_param("session_timeout_early_hangup")->min, 0);
    assert_int_equal(find_param("session_timeout_early_hangup")->max, 300000);
    assert_int_equal(find_param("session_ttl")->max, 86400000);
    assert_int_equal(find_param("no_timer_reinvite_interval")->max, 86400000);
}

static void test_defaults_match_parameters_md(void **state)
{
    (void)state;
    st_config_t c;
    char err[512], warn[512];
    assert_int_equal(load_config("[core]\n", &c, err, warn), 0);
    assert_true(c.global.enabled);
    assert_int_equal(c.global.session_ttl_s, 600);
    assert_int_equal(c.global.method, ST_METHOD_AUTO);
    assert_int_equal(c.segment, 2);
    assert_int_equal(c.early_hangup_ms, 0);
    assert_int_equal(c.no_timer_ms, 7200000);
    assert_int_equal(c.min_se_s, 90);
    assert_false(c.allow_short);
    assert_string_equal(warn, "");
    assert_null(st_config_object(&c, ST_OBJ_GATEWAY, "any"));
    st_config_free(sw_api_table(), &c);
}

static void test_vos3000_names(void **state)
{
    (void)state;
    st_config_t c;
    char err[512], warn[512];
    assert_int_equal(load_config("[core]\n"
                                 "[session_timer]\n"
                                 "SS_SIP_SESSION_TTL = 1800\n"
                                 "SS_SIP_SESSION_UPDATE_SEGMENT = 3\n"
                                 "SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP = 5\n"
                                 "SS_SIP_NO_TIMER_REINVITE_INTERVAL = 3600\n"
                                 "min_se = 120\n"
                                 "session_refresh_method = INVITE\n",
                                 &c, err, warn),
                     0);
    assert_int_equal(c.global.session_ttl_s, 1800);
    assert_int_equal(c.segment, 3);
    assert_int_equal(c.early_hangup_ms, 5000);
    assert_int_equal(c.no_timer_ms, 3600000);
    assert_int_equal(c.min_se_s, 120);
    assert_int_equal(c.global.method, ST_METHOD_INVITE);
    st_config_free(sw_api_table(), &c);
}

static void test_overrides_per_gateway_mapping_account(void **state)
{
    (void)state;
    st_config_t c;
    char err[512], warn[512];
    assert_int_equal(load_config("[core]\n"
                                 "[session_timer]\n"
                                 "session_ttl = 900\n"
                                 "session_refresh_method = update\n"
                                 "[gateway carrierA]\n"
                                 "address = 192.0.2.1\n"
                                 "session_ttl = 1800\n"
                                 "session_refresh_method = invite\n"
                                 "[gateway carrierB]\n"
                                 "address = 192.0.2.2\n"
                                 "session_timer = Off\n"
                                 "[mapping customer]\n"
                                 "source = 198.51.100.1\n"
                                 "SS_SIP_SESSION_TTL = 300\n"
                                 "[account 1001]\n"
                                 "session_timer = no\n",
                                 &c, err, warn),
                     0);
    const st_leg_settings_t *a = st_config_object(&c, ST_OBJ_GATEWAY, "carrierA");
    assert_non_null(a);
    assert_true(a->enabled);
    assert_int_equal(a->session_ttl_s, 1800);
    assert_int_equal(a->method, ST_METHOD_INVITE);
    const st_leg_settings_t *b = st_config_object(&c, ST_OBJ_GATEWAY, "carrierB");
    assert_false(b->enabled);
    assert_int_equal(b->session_ttl_s, 900);          /* from [session_timer] */
    assert_int_equal(b->method, ST_METHOD_UPDATE);     /* from [session_timer] */
    const st_leg_settings_t *m = st_config_object(&c, ST_OBJ_MAPPING, "customer");
    assert_int_equal(m->session_ttl_s, 300);
    assert_true(m->enabled);
    const st_leg_settings_t *acc = st_config_object(&c, ST_OBJ_ACCOUNT, "1001");
    assert_false(acc->enabled);
    /* names are per kind */
    assert_null(st_config_object(&c, ST_OBJ_MAPPING, "carrierA"));
    assert_null(st_config_object(&c, ST_OBJ_GATEWAY, "customer"));
    assert_null(st_config_object(&c, ST_OBJ_GATEWAY, NULL));
    st_config_free(sw_api_table(), &c);
}

/* The error names the file and the line of the offending key. */
static void expect_error(const char *text, int line, const char *what)
{
    st_config_t c;
    char err[512], warn[512], where[128];
    assert_int_equal(load_config(text, &c, err, warn), -1);
    snprintf(where, sizeof where, "%s:%d: ", cfg_path, line);
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, what))
        fail_msg("wanted '%s...%s', got '%s'", where, what, err);
}

static void test_short_intervals_refused_without_opt_in(void **state)
{
    (void)state;
    expect_error("[core]\n[session_timer]\n; a comment\nsession_ttl = 4\n", 4,
                 "session_ttl = 4 is below 90 s");
    expect_error("[core]\n[session_timer]\nSS_SIP_SESSION_TTL = 89\n", 3, "below 90 s");
    expect_error("[core]\n[session_timer]\nmin_se = 2\nsession_ttl = 4\n", 3, "min_se = 2 is below 90 s");
    expect_error("[core]\n[session_timer]\nSS_SIP_NO_TIMER_REINVITE_INTERVAL = 59\n", 3, "below 60 s");
    /* in an object section: its own line, not the module's */
    expect_error("[core]\n[session_timer]\nsession_ttl = 600\n[gateway slow]\naddress = 192.0.2.9\n"
                 "session_ttl = 30\n",
                 6, "session_ttl = 30 is below 90 s");
    /* the opt-in is named in the error */
    expect_error("[core]\n[session_timer]\nsession_ttl = 4\n", 3, "allow_short_intervals = On");
}

static void test_short_intervals_with_opt_in_warn(void **state)
{
    (void)state;
    st_config_t c;
    char err[512], warn[512];
    assert_int_equal(load_config("[core]\n"
                                 "[session_timer]\n"
                                 "allow_short_intervals = On\n"
                                 "session_ttl = 4\n"
                                 "min_se = 2\n"
                                 "no_timer_reinvite_interval = 3\n"
                                 "[gateway fast]\n"
                                 "address = 192.0.2.3\n"
                                 "session_ttl = 2\n"
                                 "[gateway inherits]\n"
                                 "address = 192.0.2.5\n",
                                 &c, err, warn),
                     0);
    assert_int_equal(c.global.session_ttl_s, 4);
    assert_int_equal(c.min_se_s, 2);
    assert_int_equal(c.no_timer_ms, 3000);
    assert_int_equal(st_config_object(&c, ST_OBJ_GATEWAY, "fast")->session_ttl_s, 2);
    assert_true(c.allow_short);
    assert_non_null(strstr(warn, "session_ttl = 4"));
    assert_non_null(strstr(warn, "min_se = 2"));
    assert_non_null(strstr(warn, "no_timer_reinvite_interval = 3"));
    assert_non_null(strstr(warn, "fast: session_ttl = 2"));
    assert_null(strstr(warn, "inherits")); /* the module's value, warned about once */
    assert_int_equal(st_config_object(&c, ST_OBJ_GATEWAY, "inherits")->session_ttl_s, 4);
    st_config_free(sw_api_table(), &c);
}

static void test_whole_seconds_and_ttl_above_min_se(void **state)
{
    (void)state;
    expect_error("[core]\n[session_timer]\nallow_short_intervals = On\nsession_ttl = 2500ms\nmin_se = 1\n", 4,
                 "whole seconds");
    expect_error("[core]\n[session_timer]\nmin_se = 90.5s\n", 3, "whole seconds");
    /* written under its VOS3000 name, after a comment and an indented line */
    expect_error("[core]\n[session_timer]\n# SS_SIP_SESSION_TTL = 1\nSS_SIP_SESSION_TTL = 90500ms\n", 4,
                 "whole seconds");
    expect_error("[core]\n[session_timer]\nmin_se = 300\nsession_ttl = 200\n", 4,
                 "session_ttl (200 s) is below min_se (300 s)");
    expect_error("[core]\n[session_timer]\nmin_se = 300\n[gateway x]\naddress = 192.0.2.4\nsession_ttl = 120\n",
                 6, "session_ttl (120 s) is below min_se (300 s)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_defaults_match_parameters_md),
        cmocka_unit_test(test_vos3000_names),
        cmocka_unit_test(test_overrides_per_gateway_mapping_account),
        cmocka_unit_test(test_short_intervals_refused_without_opt_in),
        cmocka_unit_test(test_short_intervals_with_opt_in_warn),
        cmocka_unit_test(test_whole_seconds_and_ttl_above_min_se),
    };
    return cmocka_run_group_tests(tests, setup_file, remove_file);
}
