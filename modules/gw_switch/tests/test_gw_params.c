/* gw_switch's parameters through the real cfg reader and the real API table:
 * defaults as PARAMETERS.md section 1 states them, VOS3000 names, per-gateway
 * overrides and their fallback, and every refusal with file:line. */
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

#include "gw_switch_params.h"
#include "../../../tests/unit/test_util.h"
#include "../../../tests/unit/test_cfg_errors.h"

/* Reads text as "t.cfg" with the core's and gw_switch's parameters declared,
 * as the daemon does once the module is loaded. */
static sw_cfg_t *load(const char *text, sw_errors_t *errs)
{
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", text, errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, errs);
    sw_core_settings_free(&core);
    assert_int_equal(sw_cfg_add_owner(cfg, "gw_switch", gw_switch_params, errs), 0);
    sw_cfg_resolve_all(cfg, errs);
    return cfg;
}

static const sw_param_t *find_param(const char *name)
{
    return sw_test_find_param(gw_switch_params, name);
}

/* ---- the descriptor itself --------------------------------------------- */

static void test_descriptor_names_aliases_scopes(void **state)
{
    (void)state;
    const struct {
        const char *name, *alias, *def;
        sw_param_type_t type;
        unsigned scopes;
    } want[] = {
        {"invite_timeout", "SS_SIP_TIMEOUT_INVITE", "10", SW_PARAM_DURATION, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"trying_timeout", "SS_SIP_TIMEOUT_TRYING", "20", SW_PARAM_DURATION, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"progress_timeout", "SS_SIP_TIMEOUT_SESSION_PROGRESS", "20", SW_PARAM_DURATION,
         SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"ringing_timeout", "SS_SIP_TIMEOUT_RINGING", "120", SW_PARAM_DURATION, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"stop_after_sdp", "SS_SIP_STOP_SWITCH_AFTER_SDP", "On", SW_PARAM_BOOL, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"stop_after_invite_timeout", "SS_SIP_USER_AGENT_STOP_SWITCH_AFTER_INVITE_TIMEOUT", "Off", SW_PARAM_BOOL,
         SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"switch_limit", "SS_GATEWAY_SWITCH_LIMIT", "0", SW_PARAM_INT, SW_SCOPE_GLOBAL},
        {"stop_after_rtp_start", "SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START", "On", SW_PARAM_BOOL, SW_SCOPE_GLOBAL},
        {"stop_after_user_busy", "SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY", "On", SW_PARAM_BOOL, SW_SCOPE_GLOBAL},
        {"switch_until_connect", "SS_GATEWAY_SWITCH_UNTIL_CONNECT", "Off", SW_PARAM_BOOL, SW_SCOPE_GLOBAL},
        {"stop_switch_codes", NULL, "", SW_PARAM_INT_LIST, SW_SCOPE_GATEWAY},
        {"max_calls", NULL, "0", SW_PARAM_INT, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
        {"max_cps", NULL, "0", SW_PARAM_INT, SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
    };
    size_t n = 0;
    for (const sw_param_t *p = gw_switch_params; p->size; p++) {
        n++;
        assert_int_equal(p->size, sizeof(sw_param_t));
        assert_non_null(p->doc);
        assert_true(strlen(p->doc) > 20);
        assert_true(p->flags & SW_PARAM_RELOADABLE);
        /* the resend schedule is the core's: redeclaring it would clash */
        assert_true(p->vos_alias == NULL || strcmp(p->vos_alias, "SS_SIP_RESEND_INTERVAL") != 0);
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
    /* ranges: durations in ms */
    assert_int_equal(find_param("invite_timeout")->min, 1000);
    assert_int_equal(find_param("invite_timeout")->max, 300000);
    assert_int_equal(find_param("switch_limit")->min, 0);
    assert_int_equal(find_param("switch_limit")->max, 100);
    assert_int_equal(find_param("stop_switch_codes")->min, 100);
    assert_int_equal(find_param("stop_switch_codes")->max, 699);
}

/* ---- values through cfg and the API ------------------------------------ */

static void test_defaults_match_parameters_md(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load("[core]\n", &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    const sw_config_t *view = sw_cfg_view(cfg, "gw_switch");
    assert_non_null(view);

    gw_switch_global_settings_t g;
    gw_switch_global_settings_read(api, view, &g);
    gw_switch_gateway_settings_t gw;
    assert_false(gw_switch_gateway_settings_read(api, view, "carrierA", &gw)); /* no such section */

    /* 10 s, 20 s, 20 s, 120 s, On, Off, 0, On, On, Off */
    assert_int_equal(gw.invite_timeout_ms, 10000);
    assert_int_equal(gw.trying_timeout_ms, 20000);
    assert_int_equal(gw.progress_timeout_ms, 20000);
    assert_int_equal(gw.ringing_timeout_ms, 120000);
    assert_true(gw.stop_after_sdp);
    assert_false(gw.stop_after_invite_timeout);
    assert_int_equal(g.switch_limit, 0);
    assert_true(g.stop_after_rtp_start);
    assert_true(g.stop_after_user_busy);
    assert_false(g.switch_until_connect);
    /* and the project's own: no stop codes, no limits */
    assert_int_equal(gw.n_stop_codes, 0);
    assert_false(gw_switch_is_stop_code(&gw, 404));
    assert_int_equal(gw.max_calls, 0);
    assert_int_equal(gw.max_cps, 0);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_vos3000_names_in_gw_switch_section(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load("[core]\n"
                         "[gw_switch]\n"
                         "SS_SIP_TIMEOUT_INVITE = 7\n"
                         "SS_SIP_TIMEOUT_TRYING = 15\n"
                         "SS_SIP_TIMEOUT_SESSION_PROGRESS = 25\n"
                         "SS_SIP_TIMEOUT_RINGING = 90\n"
                         "SS_SIP_STOP_SWITCH_AFTER_SDP = Off\n"
                         "SS_SIP_USER_AGENT_STOP_SWITCH_AFTER_INVITE_TIMEOUT = On\n"
                         "SS_GATEWAY_SWITCH_LIMIT = 3\n"
                         "SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START = Off\n"
                         "SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY = Off\n"
                         "SS_GATEWAY_SWITCH_UNTIL_CONNECT = On\n"
                         "max_calls = 500\n"
                         "max_cps = 20\n",
                         &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    const sw_config_t *view = sw_cfg_view(cfg, "gw_switch");
    gw_switch_global_settings_t g;
    gw_switch_global_settings_read(api, view, &g);
    gw_switch_gateway_settings_t gw;
    gw_switch_gateway_settings_read(api, view, NULL, &gw);
    assert_int_equal(gw.invite_timeout_ms, 7000);
    assert_int_equal(gw.trying_timeout_ms, 15000);
    assert_int_equal(gw.progress_timeout_ms, 25000);
    assert_int_equal(gw.ringing_timeout_ms, 90000);
    assert_false(gw.stop_after_sdp);
    assert_true(gw.stop_after_invite_timeout);
    assert_int_equal(g.switch_limit, 3);
    assert_false(g.stop_after_rtp_start);
    assert_false(g.stop_after_user_busy);
    assert_true(g.switch_until_connect);
    assert_int_equal(gw.max_calls, 500);
    assert_int_equal(gw.max_cps, 20);
    /* the lower-case name reads the value written under the VOS name */
    assert_int_equal(api->param_int(view, "invite_timeout"), 7000);
    assert_int_equal(sw_cfg_line_of(view, "invite_timeout"), 3);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_lower_case_names_and_units(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load("[core]\n"
                         "[gw_switch]\n"
                         "invite_timeout = 2500ms\n"
                         "ringing_timeout = 3m\n"
                         "stop_after_sdp = no\n"
                         "switch_limit = 0x10\n"
                         "switch_until_connect = yes\n",
                         &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    const sw_config_t *view = sw_cfg_view(cfg, "gw_switch");
    gw_switch_global_settings_t g;
    gw_switch_global_settings_read(api, view, &g);
    gw_switch_gateway_settings_t gw;
    gw_switch_gateway_settings_read(api, view, NULL, &gw);
    assert_int_equal(gw.invite_timeout_ms, 2500);
    assert_int_equal(gw.ringing_timeout_ms, 180000);
    assert_false(gw.stop_after_sdp);
    assert_int_equal(g.switch_limit, 16);
    assert_true(g.switch_until_connect);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static const char *const override_cfg = "[core]\n"
                                        "[gw_switch]\n"
                                        "SS_SIP_TIMEOUT_INVITE = 8\n"
                                        "stop_after_invite_timeout = On\n"
                                        "max_cps = 50\n"
                                        "[gateway carrierB]\n"
                                        "address = 192.0.2.2\n"
                                        "[gateway carrierA]\n"
                                        "address = 192.0.2.1\n"
                                        "invite_timeout = 3\n"
                                        "SS_SIP_TIMEOUT_RINGING = 60\n"
                                        "stop_after_sdp = Off\n"
                                        "stop_switch_codes = 403, 404,\n"
                                        "    486\n"
                                        "max_calls = 30\n"
                                        "max_cps = 5\n";

static void test_per_gateway_override_and_fallback(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load(override_cfg, &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    const sw_config_t *view = sw_cfg_view(cfg, "gw_switch");

    gw_switch_gateway_settings_t a;
    assert_true(gw_switch_gateway_settings_read(api, view, "carrierA", &a));
    assert_int_equal(a.invite_timeout_ms, 3000);         /* its own */
    assert_int_equal(a.ringing_timeout_ms, 60000);       /* VOS name in [gateway] */
    assert_int_equal(a.trying_timeout_ms, 20000);        /* default */
    assert_false(a.stop_after_sdp);                      /* its own */
    assert_true(a.stop_after_invite_timeout);            /* from [gw_switch] */
    assert_int_equal(a.n_stop_codes, 3);                 /* continued on the next line */
    assert_true(gw_switch_is_stop_code(&a, 403));
    assert_true(gw_switch_is_stop_code(&a, 404));
    assert_true(gw_switch_is_stop_code(&a, 486));
    assert_false(gw_switch_is_stop_code(&a, 503));
    assert_int_equal(a.max_calls, 30);
    assert_int_equal(a.max_cps, 5);

    gw_switch_gateway_settings_t b;
    assert_true(gw_switch_gateway_settings_read(api, view, "carrierB", &b));
    assert_int_equal(b.invite_timeout_ms, 8000);         /* [gw_switch] */
    assert_int_equal(b.ringing_timeout_ms, 120000);      /* default */
    assert_true(b.stop_after_sdp);
    assert_true(b.stop_after_invite_timeout);
    assert_int_equal(b.n_stop_codes, 0);
    assert_int_equal(b.max_calls, 0);
    assert_int_equal(b.max_cps, 50);

    /* a destination with no [gateway] section gets [gw_switch]'s values */
    gw_switch_gateway_settings_t contact;
    assert_false(gw_switch_gateway_settings_read(api, view, "sip:1001@10.0.0.5", &contact));
    assert_int_equal(contact.invite_timeout_ms, 8000);
    assert_int_equal(contact.n_stop_codes, 0);
    assert_int_equal(memcmp(&contact, &b, sizeof b), 0);

    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_config_copy_for_the_call_path(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load(override_cfg, &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    gw_switch_config_t conf;
    gw_switch_config_load(api, sw_cfg_view(cfg, "gw_switch"), &conf);
    /* the copy outlives the cfg it came from */
    sw_cfg_free(cfg);

    assert_int_equal(conf.n_gateways, 2);
    assert_string_equal(conf.gateways[0].name, "carrierA"); /* sorted */
    assert_string_equal(conf.gateways[1].name, "carrierB");
    assert_true(conf.global.stop_after_user_busy);
    const gw_switch_gateway_settings_t *a = gw_switch_config_gateway(&conf, "carrierA");
    assert_int_equal(a->invite_timeout_ms, 3000);
    assert_true(gw_switch_is_stop_code(a, 404));
    const gw_switch_gateway_settings_t *b = gw_switch_config_gateway(&conf, "carrierB");
    assert_int_equal(b->invite_timeout_ms, 8000);
    assert_ptr_equal(gw_switch_config_gateway(&conf, "nowhere"), &conf.unlisted);
    assert_ptr_equal(gw_switch_config_gateway(&conf, NULL), &conf.unlisted);
    assert_int_equal(conf.unlisted.invite_timeout_ms, 8000);
    gw_switch_config_free(api, &conf);
    assert_int_equal(conf.n_gateways, 0);
    sw_errors_clear(&errs);

    /* no gateways at all */
    cfg = load("[core]\n", &errs);
    gw_switch_config_load(api, sw_cfg_view(cfg, "gw_switch"), &conf);
    assert_int_equal(conf.n_gateways, 0);
    assert_ptr_equal(gw_switch_config_gateway(&conf, "carrierA"), &conf.unlisted);
    gw_switch_config_free(api, &conf);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

/* ---- refusals ---------------------------------------------------------- */

struct bad_case {
    const char *text;
    const char *error;
};

static void test_out_of_range_and_misplaced_values_are_refused(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"[core]\n[gw_switch]\nSS_SIP_TIMEOUT_INVITE = 301\n",
         "t.cfg:3: SS_SIP_TIMEOUT_INVITE: '301' is out of range (1 s – 300 s)"},
        {"[core]\n[gw_switch]\ninvite_timeout = 500ms\n", "t.cfg:3: invite_timeout: '500ms' is out of range"},
        {"[core]\n[gw_switch]\nSS_GATEWAY_SWITCH_LIMIT = 101\n",
         "t.cfg:3: SS_GATEWAY_SWITCH_LIMIT: 101 is out of range (0–100)"},
        {"[core]\n[gw_switch]\nswitch_limit = -1\n", "t.cfg:3: switch_limit: -1 is out of range (0–100)"},
        {"[core]\n[gw_switch]\nSS_GATEWAY_SWITCH_LIMIT = none\n",
         "t.cfg:3: SS_GATEWAY_SWITCH_LIMIT: expected an integer, got 'none'"},
        {"[core]\n[gw_switch]\nSS_SIP_TIMEOUT_RINGING = 3601\n", "t.cfg:3: SS_SIP_TIMEOUT_RINGING: '3601' is out of range"},
        {"[core]\n[gw_switch]\nSS_SIP_TIMEOUT_TRYING = 0\n", "t.cfg:3: SS_SIP_TIMEOUT_TRYING: '0' is out of range"},
        {"[core]\n[gw_switch]\nSS_SIP_STOP_SWITCH_AFTER_SDP = maybe\n",
         "t.cfg:3: SS_SIP_STOP_SWITCH_AFTER_SDP: expected On or Off, got 'maybe'"},
        {"[core]\n[gw_switch]\nmax_cps = 10001\n", "t.cfg:3: max_cps: 10001 is out of range (0–10000)"},
        {"[core]\n[gw_switch]\ninvite_timeout = 5\nSS_SIP_TIMEOUT_INVITE = 6\n",
         "t.cfg:4: 'invite_timeout' set twice in this section (also at line 3)"},
        /* per gateway, with the gateway's own line */
        {"[core]\n[gateway g]\naddress = 192.0.2.1\ninvite_timeout = 0\n",
         "t.cfg:4: invite_timeout: '0' is out of range (1 s – 300 s)"},
        {"[core]\n[gateway g]\naddress = 192.0.2.1\nstop_switch_codes = 403, 700\n",
         "t.cfg:4: stop_switch_codes: 700 is out of range (100–699)"},
        {"[core]\n[gateway g]\naddress = 192.0.2.1\nstop_switch_codes = 403, busy\n",
         "t.cfg:4: stop_switch_codes: expected integers, got 'busy'"},
        {"[core]\n[gateway g]\naddress = 192.0.2.1\nmax_calls = -5\n", "t.cfg:4: max_calls: -5 is out of range"},
        /* stop_switch_codes only in [gateway]; the switch-wide rules never there */
        {"[core]\n[gw_switch]\nstop_switch_codes = 404\n", "t.cfg:3: 'stop_switch_codes' can only be set in [gateway NAME] sections"},
        {"[core]\n[gateway g]\naddress = 192.0.2.1\nswitch_limit = 2\n",
         "t.cfg:4: unknown key 'switch_limit' in [gateway g] (it belongs to [gw_switch])"},
        {"[core]\n[gateway g]\naddress = 192.0.2.1\nSS_GATEWAY_SWITCH_UNTIL_CONNECT = On\n",
         "t.cfg:4: unknown key 'SS_GATEWAY_SWITCH_UNTIL_CONNECT' in [gateway g]"},
        /* the resend schedule is the core's, not gw_switch's */
        {"[core]\n[gw_switch]\nSS_SIP_RESEND_INTERVAL = 1,2\n",
         "t.cfg:3: unknown key 'SS_SIP_RESEND_INTERVAL' in [gw_switch] (it belongs to [core])"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sw_errors_t errs = {0};
        sw_cfg_t *cfg = load(cases[i].text, &errs);
        if (!sw_test_has_error(&errs, cases[i].error))
            fail_msg("case %zu: no error '%s'", i, cases[i].error);
        sw_cfg_free(cfg);
        sw_errors_clear(&errs);
    }
}

/* The limits of each range are accepted (so the refusals above are about
 * the range, not the syntax). */
static void test_range_limits_accepted(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load("[core]\n"
                         "[gw_switch]\n"
                         "SS_SIP_TIMEOUT_INVITE = 300\n"
                         "SS_SIP_TIMEOUT_TRYING = 1\n"
                         "SS_SIP_TIMEOUT_SESSION_PROGRESS = 600\n"
                         "SS_SIP_TIMEOUT_RINGING = 3600\n"
                         "SS_GATEWAY_SWITCH_LIMIT = 100\n"
                         "max_calls = 1000000\n"
                         "max_cps = 10000\n"
                         "[gateway g]\n"
                         "address = 192.0.2.1\n"
                         "stop_switch_codes = 100, 699\n",
                         &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    const sw_config_t *view = sw_cfg_view(cfg, "gw_switch");
    gw_switch_gateway_settings_t gw;
    gw_switch_gateway_settings_read(api, view, "g", &gw);
    assert_int_equal(gw.invite_timeout_ms, 300000);
    assert_int_equal(gw.ringing_timeout_ms, 3600000);
    assert_int_equal(gw.max_calls, 1000000);
    assert_true(gw_switch_is_stop_code(&gw, 100));
    assert_true(gw_switch_is_stop_code(&gw, 699));
    gw_switch_global_settings_t g;
    gw_switch_global_settings_read(api, view, &g);
    assert_int_equal(g.switch_limit, 100);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

/* The [gw_switch]/[gateway] example of doc/modules/gw_switch.md loads
 * without errors and means what the page says. */
static void test_doc_example_loads(void **state)
{
    (void)state;
    char *page = sw_test_read_file(SW_TEST_SRCDIR "/doc/modules/gw_switch.md", NULL);
    assert_non_null(page);
    char *start = strstr(page, "```ini\n");
    assert_non_null(start);
    start += strlen("```ini\n");
    char *end = strstr(start, "```");
    assert_non_null(end);
    *end = '\0';
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load(start, &errs);
    sw_test_expect_no_errors(&errs);
    const sw_api_t *api = sw_api_table();
    gw_switch_config_t conf;
    gw_switch_config_load(api, sw_cfg_view(cfg, "gw_switch"), &conf);
    assert_int_equal(conf.n_gateways, 3);
    assert_int_equal(conf.global.switch_limit, 4);
    const gw_switch_gateway_settings_t *a = gw_switch_config_gateway(&conf, "carrierA");
    assert_int_equal(a->invite_timeout_ms, 5000);
    assert_true(gw_switch_is_stop_code(a, 403) && gw_switch_is_stop_code(a, 404));
    assert_int_equal(a->max_calls, 300);
    assert_int_equal(a->max_cps, 30);
    const gw_switch_gateway_settings_t *b = gw_switch_config_gateway(&conf, "carrierB");
    assert_int_equal(b->invite_timeout_ms, 8000);
    assert_false(b->stop_after_sdp);
    assert_true(b->stop_after_invite_timeout);
    assert_int_equal(b->max_cps, 100);
    assert_int_equal(b->ringing_timeout_ms, 90000);
    const gw_switch_gateway_settings_t *sat = gw_switch_config_gateway(&conf, "satellite");
    assert_int_equal(sat->invite_timeout_ms, 20000);
    assert_int_equal(sat->ringing_timeout_ms, 180000);
    gw_switch_config_free(api, &conf);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_names_aliases_scopes),
        cmocka_unit_test(test_defaults_match_parameters_md),
        cmocka_unit_test(test_vos3000_names_in_gw_switch_section),
        cmocka_unit_test(test_lower_case_names_and_units),
        cmocka_unit_test(test_per_gateway_override_and_fallback),
        cmocka_unit_test(test_config_copy_for_the_call_path),
        cmocka_unit_test(test_out_of_range_and_misplaced_values_are_refused),
        cmocka_unit_test(test_range_limits_accepted),
        cmocka_unit_test(test_doc_example_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
