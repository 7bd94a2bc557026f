/* The cfg reader: sections, objects, aliases, every error class with
 * file:line, and the views modules read values through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "test_cfg_errors.h"

static const char *const methods[] = {"UPDATE", "INVITE", "off", NULL};

/* a module's parameters, as gw_switch or session_timer would declare them */
static const sw_param_t mod_params[] = {
    {.size = sizeof(sw_param_t), .name = "invite_timeout", .vos_alias = "SS_SIP_TIMEOUT_INVITE",
     .type = SW_PARAM_DURATION, .default_value = "10", .min = 1000, .max = 300000,
     .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY, .flags = SW_PARAM_RELOADABLE},
    {.size = sizeof(sw_param_t), .name = "stop_switch_codes", .type = SW_PARAM_INT_LIST, .default_value = "",
     .min = 300, .max = 699, .scopes = SW_SCOPE_GATEWAY},
    {.size = sizeof(sw_param_t), .name = "refresh_method", .type = SW_PARAM_ENUM, .default_value = "UPDATE",
     .choices = methods},
    {.size = sizeof(sw_param_t), .name = "secret", .type = SW_PARAM_STRING, .flags = SW_PARAM_REQUIRED},
    {0},
};

/* Reads text as "t.cfg", declares core + module "mod", resolves everything. */
static sw_cfg_t *load(const char *text, sw_errors_t *errs)
{
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", text, errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, errs);
    sw_core_settings_free(&core);
    sw_cfg_add_owner(cfg, "mod", mod_params, errs);
    sw_cfg_resolve_all(cfg, errs);
    return cfg;
}

static void test_valid_cfg_and_views(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load("; comment\n"
                         "[core]\n"
                         "listen = udp:127.0.0.1:5070\n"
                         "SS_QOS_SIGNAL = 0x10   ; inline comment\n"
                         "[mod]\n"
                         "  SS_SIP_TIMEOUT_INVITE = 5\n"
                         "secret = s3cret\n"
                         "[gateway carrierA]\n"
                         "address = 192.0.2.1:5060\n"
                         "invite_timeout = 3s\n"
                         "stop_switch_codes = 403,\n"
                         "    404\n"
                         "[gateway carrierB]\n"
                         "address = 192.0.2.2\n",
                         &errs);
    for (size_t i = 0; i < errs.count; i++)
        print_message("unexpected: %s\n", errs.items[i]);
    assert_int_equal(errs.count, 0);
    const sw_config_t *core = sw_cfg_view(cfg, "core");
    assert_int_equal(sw_config_int(core, "qos_signal"), 0x10);
    assert_int_equal(sw_config_is_set(core, "qos_signal"), 1);
    assert_int_equal(sw_config_is_set(core, "max_message_size"), 0);
    assert_int_equal(sw_config_int(core, "max_message_size"), 65535);
    assert_int_equal(sw_cfg_line_of(core, "qos_signal"), 4);
    const sw_config_t *mod = sw_cfg_view(cfg, "mod");
    assert_int_equal(sw_config_int(mod, "invite_timeout"), 5000);   /* via its VOS alias, indented */
    assert_int_equal(sw_config_int(mod, "SS_SIP_TIMEOUT_INVITE"), 5000);
    assert_string_equal(sw_config_str(mod, "secret"), "s3cret");
    assert_int_equal(sw_config_int(mod, "refresh_method"), 0);   /* default */
    assert_int_equal(sw_config_object_count(mod, SW_SCOPE_GATEWAY), 2);
    assert_string_equal(sw_config_object_name(mod, SW_SCOPE_GATEWAY, 1), "carrierB");
    const sw_config_t *a = sw_config_object(mod, SW_SCOPE_GATEWAY, "carrierA");
    assert_non_null(a);
    assert_int_equal(sw_config_int(a, "invite_timeout"), 3000);       /* per-gateway override */
    assert_int_equal(sw_config_list_len(a, "stop_switch_codes"), 2);  /* continued on the next line */
    assert_int_equal(sw_config_list_int(a, "stop_switch_codes", 1), 404);
    const sw_config_t *b = sw_config_object(mod, SW_SCOPE_GATEWAY, "carrierB");
    assert_int_equal(sw_config_int(b, "invite_timeout"), 5000);       /* falls back to the module's value */
    assert_int_equal(sw_config_list_len(b, "stop_switch_codes"), 0);
    assert_null(sw_config_object(mod, SW_SCOPE_GATEWAY, "nope"));
    assert_ptr_equal(sw_config_object(mod, SW_SCOPE_GATEWAY, "carrierA"), a); /* cached */
    /* the core's view of the same gateway sees the core keys */
    const sw_config_t *ca = sw_config_object(core, SW_SCOPE_GATEWAY, "carrierA");
    assert_string_equal(sw_config_str(ca, "address"), "192.0.2.1:5060");
    assert_string_equal(sw_config_str(ca, "transport"), "udp");
    assert_null(sw_config_str(mod, "no_such_param"));
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

struct bad_case {
    const char *text;
    const char *error;
};

static void test_every_error_class(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"[core]\ncolour = blue\n[mod]\nsecret=x\n", "t.cfg:2: unknown key 'colour' in [core]"},
        {"[core]\nmax_message_size = big\n[mod]\nsecret=x\n", "t.cfg:2: max_message_size: expected an integer, got 'big'"},
        {"[core]\nqos_signal = 999\n[mod]\nsecret=x\n", "t.cfg:2: qos_signal: 999 is out of range (0–255)"},
        {"[core]\n[mod]\nsecret=x\nSS_SIP_TIMEOUT_INVITE = 301\n", "t.cfg:4: SS_SIP_TIMEOUT_INVITE: '301' is out of range (1 s – 300 s)"},
        {"[core]\n[mod]\nsecret=x\nrefresh_method = carrier pigeon\n", "t.cfg:4: refresh_method: expected one of UPDATE/INVITE/off"},
        {"[core]\n[mod]\n", "t.cfg:2: [mod] needs 'secret'"},
        {"[core]\n[mod]\nsecret=x\n[gateway g]\naddress=1.2.3.4\n[gateway g]\naddress=1.2.3.5\n",
         "t.cfg:6: duplicate gateway 'g' (first defined at line 4)"},
        {"[core]\n[mod]\nsecret=x\n[mapping m]\nsource = 10.0.0.0/8\n[mapping m]\n", "t.cfg:6: duplicate mapping 'm'"},
        {"[core]\n[mod]\nsecret=x\n[core]\n", "t.cfg:4: duplicate section [core] (first at line 1)"},
        {"[core]\n[mod]\nsecret=x\n[gw_switch]\nfoo=1\n", "t.cfg:4: unknown section [gw_switch]: no such module loaded"},
        {"[core]\n[mod]\nsecret=x\n[gateway]\n", "t.cfg:4: [gateway] needs a name"},
        {"[core]\n[mod]\nsecret=x\n[gateway bad name!]\n", "t.cfg:4: bad gateway name"},
        {"[core]\n[mod]\nsecret=x\n[trunk x]\n", "t.cfg:4: unknown section type 'trunk'"},
        {"[core]\n[mod]\nsecret=x\n[gateway g]\nport=5060\naddress=1.2.3.4\n", "t.cfg:5: unknown key 'port' in [gateway g]"},
        {"[core]\n[mod]\nsecret=x\n[gateway g]\ntransport=udp\n", "t.cfg:4: [gateway g] needs 'address'"},
        {"[core]\n[mod]\nsecret=x\n[gateway g]\naddress=1.2.3.4\nrefresh_method=UPDATE\n",
         "t.cfg:6: unknown key 'refresh_method' in [gateway g] (it belongs to [mod])"},
        {"[core]\nno equals here\n[mod]\nsecret=x\n", "t.cfg:2: expected 'key = value'"},
        {"[core]\n= value\n[mod]\nsecret=x\n", "t.cfg:2: missing key before '='"},
        {"key = value\n[core]\n[mod]\nsecret=x\n", "t.cfg:1: key outside of any section"},
        {"[core]\nlog_level = info\nlog_level = debug\n[mod]\nsecret=x\n", "t.cfg:3: duplicate key 'log_level' (first at line 2)"},
        {"[core]\n[mod]\nsecret=x\ninvite_timeout = 5\nSS_SIP_TIMEOUT_INVITE = 6\n", "t.cfg:5: 'invite_timeout' set twice in this section (also at line 4)"},
        {"[core\n[mod]\nsecret=x\n", "t.cfg:1: section header without ']'"},
        {"[core]\nload = a,,b\n[mod]\nsecret=x\n", "t.cfg:2: load: empty item"},
        {"[core]\nload = Bad-Name\n[mod]\nsecret=x\n", "t.cfg:2: load: 'Bad-Name' is not a module name"},
        {"[core]\nload = cdr, cdr\n[mod]\nsecret=x\n", "t.cfg:2: load: module 'cdr' listed twice"},
        {"[core]\nlisten =\n[mod]\nsecret=x\n", "listen: at least one SIP socket is needed"},
        {"[core]\n[mod]\nsecret=x\nstop_switch_codes = 404\n", "t.cfg:4: 'stop_switch_codes' can only be set in [gateway NAME] sections"},
        {"[core]\nlisten = udp:127.0.0.1\n[mod]\nsecret=x\n", "t.cfg:2: listen: 'udp:127.0.0.1': missing port"},
        {"[core]\nhttp = localhost\n[mod]\nsecret=x\n", "t.cfg:2: http: expected host:port"},
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

static void test_long_line_and_nul(void **state)
{
    (void)state;
    char text[1024];
    char longval[400];
    memset(longval, 'x', sizeof longval - 1);
    longval[sizeof longval - 1] = '\0';
    snprintf(text, sizeof text, "[core]\nscript = %s\n[mod]\nsecret=x\n", longval);
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = load(text, &errs);
    assert_true(sw_test_has_error(&errs, "t.cfg:2: line too long"));
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_bad_descriptor_is_the_module_s_error(void **state)
{
    (void)state;
    static const sw_param_t broken[] = {
        {.size = sizeof(sw_param_t), .name = "n", .type = SW_PARAM_INT, .default_value = "ten"},
        {.size = sizeof(sw_param_t), .name = "n", .type = SW_PARAM_INT, .default_value = "1"},
        {0},
    };
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", "[core]\n", &errs);
    assert_int_equal(sw_cfg_add_owner(cfg, "broken", broken, &errs), -1);
    assert_true(sw_test_has_error(&errs, "broken: parameter 'n': bad default 'ten'"));
    assert_true(sw_test_has_error(&errs, "broken: parameter 'n' declared twice"));
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    assert_null(sw_cfg_read("/nonexistent/dir/x.cfg", &errs));
    assert_true(sw_test_has_error(&errs, "/nonexistent/dir/x.cfg: cannot open"));
    sw_errors_clear(&errs);
}

static void test_paths_relative_to_cfg(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("/etc/sipswitch/sipswitch.cfg", "[core]\nscript = route.lua\n", &errs);
    sw_core_settings_t core;
    assert_int_equal(sw_core_settings_load(cfg, &core, &errs), 0);
    assert_string_equal(core.script, "/etc/sipswitch/route.lua");
    assert_int_equal(core.n_resend, 10);
    assert_int_equal(core.resend_ms[0], 500);
    assert_int_equal(core.resend_ms[9], 4000);
    assert_int_equal(core.qos_signal, 0xa0);
    assert_int_equal(core.n_listen, 2);
    assert_int_equal(core.listen[1].transport, SW_TRANSPORT_TCP);
    assert_int_equal(core.listen[1].port, 5060);
    assert_true(core.force_rport);
    sw_core_settings_free(&core);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_cfg_and_views),
        cmocka_unit_test(test_every_error_class),
        cmocka_unit_test(test_long_line_and_nul),
        cmocka_unit_test(test_bad_descriptor_is_the_module_s_error),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_paths_relative_to_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
