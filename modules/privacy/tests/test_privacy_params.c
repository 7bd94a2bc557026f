/* privacy's parameters through the real cfg reader and the real API table:
 * the descriptor as PARAMETERS.md section 3 states it, VOS3000 names,
 * per-gateway values and their fallback to [privacy], mappings'
 * support_privacy, refusals with file:line, and caller_dial_plan checked
 * against the cfg's dial plans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "call/dialplan.h"
#include "cfg/config.h"
#include "cfg/core_params.h"
#include "module/api.h"

#include "privacy_params.h"
#include "../../../tests/unit/test_cfg_errors.h"

typedef struct loaded {
    sw_cfg_t *cfg;
    sw_dialplans_t *plans;
    sw_errors_t errs;
} loaded_t;

/* Reads text as "t.cfg" with the core's and privacy's parameters declared
 * and its dial plans active, as the daemon does before the module's init. */
static loaded_t load(const char *text)
{
    loaded_t l = {0};
    l.cfg = sw_cfg_read_string("t.cfg", text, &l.errs);
    sw_core_settings_t core;
    sw_core_settings_load(l.cfg, &core, &l.errs);
    sw_core_settings_free(&core);
    assert_int_equal(sw_cfg_add_owner(l.cfg, "privacy", privacy_params, &l.errs), 0);
    sw_cfg_resolve_all(l.cfg, &l.errs);
    l.plans = sw_dialplans_build(l.cfg, &l.errs);
    sw_dialplans_activate(l.plans);
    return l;
}

static void unload(loaded_t *l)
{
    sw_dialplans_free(l->plans);
    sw_cfg_free(l->cfg);
    sw_errors_clear(&l->errs);
}

static const sw_param_t *find_param(const char *name)
{
    return sw_test_find_param(privacy_params, name);
}

static void test_descriptor(void **state)
{
    (void)state;
    const unsigned gw = SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY;
    const struct {
        const char *name, *alias, *def;
        sw_param_type_t type;
        unsigned scopes;
    } want[] = {
        {"user_agent_privacy", "SS_SIP_USER_AGENT_PRIVACY", "Ignore", SW_PARAM_ENUM, SW_SCOPE_GLOBAL},
        {"e164_display_from", "SS_SIP_E164_DISPLAY_FROM", "Ignore", SW_PARAM_ENUM, SW_SCOPE_GLOBAL},
        {"identity_domain", NULL, "", SW_PARAM_STRING, SW_SCOPE_GLOBAL},
        {"privacy", NULL, "None", SW_PARAM_ENUM, gw},
        {"pai", NULL, "None", SW_PARAM_ENUM, gw},
        {"ppi", NULL, "None", SW_PARAM_ENUM, gw},
        {"caller_dial_plan", NULL, "", SW_PARAM_STRING, gw},
        {"support_privacy", NULL, "Off", SW_PARAM_BOOL, SW_SCOPE_MAPPING},
    };
    size_t n = 0;
    for (const sw_param_t *p = privacy_params; p->size; p++)
        n++;
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const sw_param_t *p = find_param(want[i].name);
        assert_non_null(p);
        if (want[i].alias)
            assert_string_equal(p->vos_alias, want[i].alias);
        else
            assert_null(p->vos_alias);
        assert_string_equal(p->default_value, want[i].def);
        assert_int_equal(p->type, want[i].type);
        assert_int_equal(p->scopes, want[i].scopes);
        assert_true(p->flags & SW_PARAM_RELOADABLE);
        assert_non_null(p->doc);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[gateway g]\naddress = 127.0.0.1\n[mapping m]\nsource = 127.0.0.1\n");
    sw_test_expect_no_errors(&l.errs);
    privacy_config_t c;
    char err[256];
    assert_int_equal(privacy_config_load(sw_api_table(), sw_cfg_view(l.cfg, "privacy"), &c, err, sizeof err), 0);
    assert_int_equal(c.user_agent_privacy, PRIVACY_UA_IGNORE);
    assert_int_equal(c.display_from, PRIVACY_DISPLAY_IGNORE);
    assert_null(c.identity_domain);
    const privacy_gateway_settings_t *g = privacy_config_gateway(&c, "g");
    assert_int_equal(g->privacy, PRIVACY_GW_NONE);
    assert_int_equal(g->pai, PRIVACY_IDENTITY_NONE);
    assert_int_equal(g->ppi, PRIVACY_IDENTITY_NONE);
    assert_null(g->caller_dial_plan);
    assert_int_equal(privacy_config_source(&c, "m"), PRIVACY_SOURCE_MAPPING_UNTRUSTED);
    assert_int_equal(privacy_config_source(&c, "127.0.0.1"), PRIVACY_SOURCE_USER);
    assert_int_equal(privacy_config_source(&c, NULL), PRIVACY_SOURCE_USER);
    privacy_config_free(sw_api_table(), &c);
    unload(&l);
}

static void test_values_aliases_and_fallback(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n"
                      "[privacy]\n"
                      "SS_SIP_USER_AGENT_PRIVACY = id\n"
                      "SS_SIP_E164_DISPLAY_FROM = E164\n"
                      "identity_domain = sw.example\n"
                      "pai = Passthrough\n"
                      "caller_dial_plan = e164\n"
                      "[dialplan e164]\nrule = replace ^0 +44\n"
                      "[dialplan intl]\nrule = add 00\n"
                      "[gateway a]\naddress = 127.0.0.1\nprivacy = passthrough\npai = Caller\nppi = caller\n"
                      "caller_dial_plan = intl\n"
                      "[gateway b]\naddress = 127.0.0.2\nprivacy = Id\n"
                      "[mapping trusted]\nsource = 10.0.0.1\nsupport_privacy = On\n"
                      "[mapping other]\nsource = 10.0.0.2\nsupport_privacy = off\n");
    sw_test_expect_no_errors(&l.errs);
    privacy_config_t c;
    char err[256];
    assert_int_equal(privacy_config_load(sw_api_table(), sw_cfg_view(l.cfg, "privacy"), &c, err, sizeof err), 0);
    assert_int_equal(c.user_agent_privacy, PRIVACY_UA_ID);
    assert_int_equal(c.display_from, PRIVACY_DISPLAY_E164);
    assert_string_equal(c.identity_domain, "sw.example");
    const privacy_gateway_settings_t *a = privacy_config_gateway(&c, "a"), *b = privacy_config_gateway(&c, "b");
    assert_int_equal(a->privacy, PRIVACY_GW_PASSTHROUGH);
    assert_int_equal(a->pai, PRIVACY_IDENTITY_CALLER);
    assert_int_equal(a->ppi, PRIVACY_IDENTITY_CALLER);
    assert_string_equal(a->caller_dial_plan, "intl");
    /* b sets only privacy: the rest from [privacy] */
    assert_int_equal(b->privacy, PRIVACY_GW_ID);
    assert_int_equal(b->pai, PRIVACY_IDENTITY_PASSTHROUGH);
    assert_int_equal(b->ppi, PRIVACY_IDENTITY_NONE);
    assert_string_equal(b->caller_dial_plan, "e164");
    /* a destination without a [gateway] section gets [privacy] */
    const privacy_gateway_settings_t *u = privacy_config_gateway(&c, "sip:1001@10.0.0.9");
    assert_ptr_equal(u, &c.unlisted);
    assert_int_equal(u->pai, PRIVACY_IDENTITY_PASSTHROUGH);
    assert_int_equal(privacy_config_source(&c, "trusted"), PRIVACY_SOURCE_MAPPING_TRUSTED);
    assert_int_equal(privacy_config_source(&c, "other"), PRIVACY_SOURCE_MAPPING_UNTRUSTED);
    assert_string_equal(privacy_gw_mode_name(a->privacy), "Passthrough");
    assert_string_equal(privacy_identity_mode_name(a->pai), "Caller");
    privacy_config_free(sw_api_table(), &c);
    unload(&l);
}

static void test_refusals_with_file_line(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n"
                      "[privacy]\n"
                      "user_agent_privacy = Yes\n"          /* 3 */
                      "support_privacy = On\n"              /* 4 */
                      "[gateway g]\naddress = 127.0.0.1\n"
                      "pai = Asserted\n"                    /* 7 */
                      "support_privacy = On\n"              /* 8 */
                      "e164_display_from = E164\n"          /* 9 */
                      "[mapping m]\nsource = 127.0.0.1\n"
                      "privacy = Id\n");                    /* 12 */
    assert_true(sw_test_has_error(&l.errs, "t.cfg:3: user_agent_privacy:"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:4: 'support_privacy' can only be set in [mapping NAME] sections"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:7: pai:"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:8: unknown key 'support_privacy' in [gateway g]"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:9: unknown key 'e164_display_from' in [gateway g]"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:12: unknown key 'privacy' in [mapping m]"));
    unload(&l);
}

static void test_unknown_dial_plan_refused(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[dialplan e164]\nrule = add +\n"
                      "[gateway g]\naddress = 127.0.0.1\ncaller_dial_plan = e165\n");
    sw_test_expect_no_errors(&l.errs); /* the cfg parser cannot know: the module's load says it */
    privacy_config_t c;
    char err[256] = "";
    assert_int_equal(privacy_config_load(sw_api_table(), sw_cfg_view(l.cfg, "privacy"), &c, err, sizeof err), -1);
    assert_string_equal(err, "t.cfg: [gateway g] caller_dial_plan = e165: no [dialplan e165] in cfg");
    unload(&l);

    l = load("[core]\n[privacy]\ncaller_dial_plan = nope\n");
    assert_int_equal(privacy_config_load(sw_api_table(), sw_cfg_view(l.cfg, "privacy"), &c, err, sizeof err), -1);
    assert_string_equal(err, "t.cfg: [privacy] caller_dial_plan = nope: no [dialplan nope] in cfg");
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_aliases_and_fallback),
        cmocka_unit_test(test_refusals_with_file_line),
        cmocka_unit_test(test_unknown_dial_plan_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
