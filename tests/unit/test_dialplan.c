/* Dial plans (core/call/dialplan.c) through the real cfg reader: every rule
 * kind, conditions and `stop`, the edge cases (empty number, '+', results
 * past the length cap), every refusal with file:line, the set the modules
 * and the script use (sw_api_t.dialplan_apply, sw.dialplan.apply). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lua.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "call/dialplan.h"
#include "cfg/config.h"
#include "cfg/core_params.h"
#include "lua/engine.h"
#include "test_util.h"
#include "test_cfg_errors.h"

/* ---- helpers --------------------------------------------------------------- */

typedef struct loaded {
    sw_cfg_t *cfg;
    sw_dialplans_t *set;
    sw_errors_t errs;
} loaded_t;

/* Reads text as "t.cfg" (the core's parameters declared, every section
 * resolved, as the daemon does) and compiles its dial plans. */
static loaded_t load(const char *text)
{
    loaded_t l = {0};
    l.cfg = sw_cfg_read_string("t.cfg", text, &l.errs);
    sw_core_settings_t core;
    sw_core_settings_load(l.cfg, &core, &l.errs);
    sw_core_settings_free(&core);
    sw_cfg_resolve_all(l.cfg, &l.errs);
    l.set = sw_dialplans_build(l.cfg, &l.errs);
    return l;
}

static void unload(loaded_t *l)
{
    sw_dialplans_free(l->set);
    sw_cfg_free(l->cfg);
    sw_errors_clear(&l->errs);
}

/* One plan "p" made of `rules` (lines "rule = ..."), loaded without error. */
static loaded_t plan_of(const char *rules)
{
    char text[4096];
    snprintf(text, sizeof text, "[core]\n[dialplan p]\n%s", rules);
    loaded_t l = load(text);
    sw_test_expect_no_errors(&l.errs);
    assert_non_null(sw_dialplans_find(l.set, "p"));
    return l;
}

/* Applies plan p of `l` and checks the result. */
static void expect_rewrite(const loaded_t *l, const char *in, const char *want)
{
    char out[SW_DIALPLAN_MAX_NUMBER + 1] = "junk";
    sw_dialplan_result_t r = sw_dialplan_apply(sw_dialplans_find(l->set, "p"), in, out, sizeof out);
    if (r != SW_DIALPLAN_OK || strcmp(out, want) != 0)
        fail_msg("'%s' -> '%s' (result %d), wanted '%s'", in, out, (int)r, want);
}

/* The rule `rule` alone must be refused with `why` at line 3. */
static void expect_refused(const char *rule, const char *why)
{
    char text[1024];
    snprintf(text, sizeof text, "[core]\n[dialplan p]\nrule = %s\n", rule);
    loaded_t l = load(text);
    if (!sw_test_has_error(&l.errs, "t.cfg:3: [dialplan p] rule: ") || !sw_test_has_error(&l.errs, why))
        fail_msg("rule '%s' should be refused with '%s'", rule, why);
    unload(&l);
}

/* ---- every rule kind ------------------------------------------------------- */

static void test_strip_count(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = strip 2\n");
    expect_rewrite(&l, "004420", "4420");
    expect_rewrite(&l, "00", "");
    expect_rewrite(&l, "0", "");      /* shorter than the count: nothing left, no error */
    expect_rewrite(&l, "+4420", "420");
    unload(&l);
}

static void test_strip_prefix(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = strip prefix 00\n");
    expect_rewrite(&l, "004420", "4420");
    expect_rewrite(&l, "04420", "04420"); /* absent: unchanged */
    expect_rewrite(&l, "00", "");
    unload(&l);
}

static void test_add(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = add +44\n");
    expect_rewrite(&l, "2079460000", "+442079460000");
    unload(&l);
}

static void test_replace_groups_and_whole_match(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = replace ^0([1-9])([0-9]*)$ +44\\1\\2\n");
    expect_rewrite(&l, "02079460000", "+442079460000");
    expect_rewrite(&l, "002079460000", "002079460000"); /* no match: unchanged */
    unload(&l);

    l = plan_of("rule = replace [0-9]{3}$ x\\0\n");
    expect_rewrite(&l, "12345", "12x345");
    unload(&l);
}

static void test_replace_first_match_only_and_empty_replacement(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = replace 0 x\n");
    expect_rewrite(&l, "10203", "1x203");
    unload(&l);
    l = plan_of("rule = replace ^\\+ \"\"\n");
    expect_rewrite(&l, "+4420", "4420");
    expect_rewrite(&l, "4420", "4420");
    unload(&l);
    /* all nine groups */
    l = plan_of("rule = replace ^(.)(.)(.)(.)(.)(.)(.)(.)(.)$ \\9\\8\\7\\6\\5\\4\\3\\2\\1\n");
    expect_rewrite(&l, "123456789", "987654321");
    unload(&l);
}

static void test_conditions(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = if prefix 00 strip 2\n"
                         "rule = if regex ^0[1-9] replace ^0 44\n"
                         "rule = if regex ^(44|33) add +\n");
    expect_rewrite(&l, "004420", "+4420");    /* rules 1 and 3 */
    expect_rewrite(&l, "02079", "+442079");   /* rules 2 and 3 */
    expect_rewrite(&l, "12125551234", "12125551234"); /* none */
    expect_rewrite(&l, "0033123", "+33123");
    unload(&l);
}

static void test_rules_apply_in_order(void **state)
{
    (void)state;
    /* each rule rewrites what the previous one produced */
    loaded_t l = plan_of("rule = add 1\nrule = add 2\nrule = strip 1\nrule = add 3\n");
    expect_rewrite(&l, "x", "31x");
    unload(&l);
}

static void test_stop(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = if prefix 00 strip 2 stop\n"
                         "rule = if prefix 0 replace ^0 44\n"
                         "rule = add +\n");
    expect_rewrite(&l, "0033123", "33123");   /* stopped after rule 1 */
    expect_rewrite(&l, "02079", "+442079");   /* rule 1 did not apply: no stop */
    unload(&l);
    /* a strip prefix or replace that finds nothing did not apply: no stop */
    l = plan_of("rule = strip prefix 9 stop\nrule = replace x y stop\nrule = add 7\n");
    expect_rewrite(&l, "123", "7123");
    expect_rewrite(&l, "9123", "123");
    expect_rewrite(&l, "1x", "1y");
    unload(&l);
}

static void test_stop_alone_keeps_the_number(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = if prefix + stop\nrule = add +\n");
    expect_rewrite(&l, "+4420", "+4420");
    expect_rewrite(&l, "4420", "+4420");
    unload(&l);
}

/* The example of doc/lua-api.md, "Dial plans", as written there. */
static void test_documented_example(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = if prefix + stop               ; already E.164: leave it\n"
                         "rule = strip prefix 00                ; international: 0033... -> 33...\n"
                         "rule = if regex ^0[1-9] replace ^0 44 ; national: 020... -> 4420...\n"
                         "rule = add +                          ; -> +33..., +4420...\n");
    expect_rewrite(&l, "02079460000", "+442079460000");
    expect_rewrite(&l, "0033123456789", "+33123456789");
    expect_rewrite(&l, "+12125551234", "+12125551234");
    expect_rewrite(&l, "442079460000", "+442079460000");
    unload(&l);
}

static void test_keywords_any_case_quotes_and_inline_comment(void **state)
{
    (void)state;
    loaded_t l = plan_of("RULE = IF PREFIX 0 Strip 1 STOP\n"
                         "rule = \"add\" \"44\"   ; a comment after the rule\n");
    expect_rewrite(&l, "0207", "207");
    expect_rewrite(&l, "207", "44207");
    unload(&l);
}

/* ---- edge cases ------------------------------------------------------------ */

static void test_empty_number(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = strip 3\nrule = strip prefix 0\nrule = replace ^0 1\n");
    expect_rewrite(&l, "", "");
    unload(&l);
    /* rules rewrite whatever they are given: an empty number gets the prefix
     * (a user that must not, e.g. privacy's PAI, skips empty numbers) */
    l = plan_of("rule = add +44\n");
    expect_rewrite(&l, "", "+44");
    unload(&l);
    l = plan_of("rule = if regex ^$ add anonymous stop\nrule = add 9\n");
    expect_rewrite(&l, "", "anonymous");
    expect_rewrite(&l, "1", "91");
    unload(&l);
}

static void test_plus(void **state)
{
    (void)state;
    loaded_t l = plan_of("rule = if prefix + strip 1 stop\nrule = if prefix 00 strip 2 stop\n"
                         "rule = replace ^0 44\n");
    expect_rewrite(&l, "+442079", "442079");
    expect_rewrite(&l, "+", "");
    expect_rewrite(&l, "00442079", "442079");
    unload(&l);
    /* '+' is a regex operator: escaped it is a character */
    l = plan_of("rule = replace ^\\+(.*)$ 00\\1\n");
    expect_rewrite(&l, "+4420", "004420");
    unload(&l);
}

/* n ones (n <= 200), in a static buffer */
static const char *ones(size_t n)
{
    static char buf[201];
    assert_true(n < sizeof buf);
    memset(buf, '1', n);
    buf[n] = '\0';
    return buf;
}

static void test_overlong_results_are_refused_not_cut(void **state)
{
    (void)state;
    char out[SW_DIALPLAN_MAX_NUMBER + 1] = "junk";
    loaded_t l = plan_of("rule = strip 1\n");
    const sw_dialplan_t *p = sw_dialplans_find(l.set, "p");
    assert_int_equal(sw_dialplan_apply(p, ones(128), out, sizeof out), SW_DIALPLAN_TOO_LONG);
    assert_string_equal(out, "");
    assert_int_equal(sw_dialplan_apply(p, ones(127), out, sizeof out), SW_DIALPLAN_OK); /* the longest taken */
    assert_int_equal(strlen(out), 126);
    unload(&l);

    /* a step past the cap fails, even if a later rule would shorten it again */
    l = plan_of("rule = add 12345678901234567890\nrule = strip 20\n");
    p = sw_dialplans_find(l.set, "p");
    assert_int_equal(sw_dialplan_apply(p, ones(108), out, sizeof out), SW_DIALPLAN_TOO_LONG);
    assert_int_equal(sw_dialplan_apply(p, ones(107), out, sizeof out), SW_DIALPLAN_OK);
    assert_string_equal(out, ones(107));
    unload(&l);

    /* a replacement growing the number past the cap */
    l = plan_of("rule = replace ^(.*)$ \\1\\1\\1\n");
    p = sw_dialplans_find(l.set, "p");
    assert_int_equal(sw_dialplan_apply(p, ones(42), out, sizeof out), SW_DIALPLAN_OK);
    assert_string_equal(out, ones(126));
    assert_int_equal(sw_dialplan_apply(p, ones(43), out, sizeof out), SW_DIALPLAN_TOO_LONG);

    /* the caller's buffer too small: refused, not cut */
    char small[4] = "xyz";
    assert_int_equal(sw_dialplan_apply(p, "12", small, sizeof small), SW_DIALPLAN_TOO_LONG);
    assert_string_equal(small, "");
    assert_int_equal(sw_dialplan_apply(p, "1", small, sizeof small), SW_DIALPLAN_OK);
    assert_string_equal(small, "111");
    /* no plan */
    assert_int_equal(sw_dialplan_apply(NULL, "1", small, sizeof small), SW_DIALPLAN_UNKNOWN);
    unload(&l);
}

/* ---- refusals, each with file:line and the reason ---------------------------- */

static void test_bad_rules_refused(void **state)
{
    (void)state;
    expect_refused("", "empty rule");
    expect_refused("chop 2", "unknown action 'chop'");
    expect_refused("strip", "strip: expected a count");
    expect_refused("strip 0", "strip: expected a count of 1 to 127");
    expect_refused("strip 128", "strip: expected a count of 1 to 127");
    expect_refused("strip two", "strip: expected a count");
    expect_refused("strip -1", "strip: expected a count");
    expect_refused("strip prefix", "strip prefix: which prefix?");
    expect_refused("add", "add: what?");
    expect_refused("add \"\"", "must have 1 to 127 characters");
    expect_refused("add 44<", "may hold only digits, letters and + * # . _ -");
    expect_refused("strip prefix 0 0", "unexpected '0' after the action");
    expect_refused("stop now", "unknown action 'stop'");
    expect_refused("add 44 stop now", "unexpected 'now' after the action");
    expect_refused("if prefix 0", "a condition without an action");
    expect_refused("if 0 strip 1", "'if' needs 'prefix TEXT' or 'regex ERE'");
    expect_refused("if suffix 0 strip 1", "'if' needs 'prefix TEXT' or 'regex ERE'");
    expect_refused("if prefix \"a b\" strip 1", "may hold only digits");
    expect_refused("replace ^0", "replace needs a regex and a replacement");
    expect_refused("replace ^0( 1", "bad regex '^0('");
    expect_refused("if regex [0-9 strip 1", "bad regex '[0-9'");
    expect_refused("replace ^0(1) \\2", "the replacement uses \\2 but the regex has 1 group");
    expect_refused("replace ^0 \\1", "the replacement uses \\1 but the regex has 0 groups");
    expect_refused("replace ^0 a\\", "must be followed by a digit");
    expect_refused("replace ^0 \\\\", "must be followed by a digit");
    expect_refused("replace ^0 a/b", "the replacement may hold only");
    expect_refused("add \"44", "a quote is not closed");
    expect_refused("add \"44\"x", "text right after a closing quote");
    expect_refused("add 1 stop stop", "unexpected 'stop'");
    expect_refused("a b c d e f g h i", "too many words");
    char long_regex[SW_DIALPLAN_MAX_REGEX + 40];
    snprintf(long_regex, sizeof long_regex, "replace ");
    memset(long_regex + 8, 'a', SW_DIALPLAN_MAX_REGEX + 1);
    snprintf(long_regex + 8 + SW_DIALPLAN_MAX_REGEX + 1, 8, " b");
    expect_refused(long_regex, "a regex must have 1 to 128 characters");
}

static void test_every_bad_line_reported(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n"
                      "[dialplan a]\n"      /* 2 */
                      "rule = strip 1\n"    /* 3 */
                      "rule = bogus\n"      /* 4 */
                      "rules = add 1\n"     /* 5 */
                      "rule = replace ( x\n" /* 6 */
                      "[dialplan empty]\n"  /* 7 */
                      "[dialplan b]\n"      /* 8 */
                      "rule = add 1\n");
    assert_true(sw_test_has_error(&l.errs, "t.cfg:4: [dialplan a] rule: unknown action 'bogus'"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:5: unknown key 'rules' in [dialplan a] (a dial plan has only "
                                           "'rule = ...' lines)"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:6: [dialplan a] rule: bad regex"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:7: [dialplan empty] has no rule"));
    assert_int_equal(l.errs.count, 4);
    /* the good plan is usable, the bad one kept its good rules (the load is
     * refused anyway: an error stops start-up and reload) */
    assert_non_null(sw_dialplans_find(l.set, "b"));
    assert_int_equal(sw_dialplans_count(l.set), 3);
    unload(&l);
}

static void test_too_many_rules(void **state)
{
    (void)state;
    size_t cap = 64 + (SW_DIALPLAN_MAX_RULES + 1) * 20;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t off = (size_t)snprintf(text, cap, "[core]\n[dialplan big]\n");
    for (int i = 0; i <= SW_DIALPLAN_MAX_RULES; i++)
        off += (size_t)snprintf(text + off, cap - off, "rule = add 1\n");
    loaded_t l = load(text);
    assert_true(sw_test_has_error(&l.errs, "t.cfg:259: [dialplan big] has more than 256 rules"));
    unload(&l);
    free(text);
}

static void test_section_names_and_duplicates(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[dialplan x]\nrule = add 1\n[dialplan x]\nrule = add 2\n[dialplan]\nrule = add 3\n"
                      "[dialplan bad/name]\nrule = add 4\n");
    assert_true(sw_test_has_error(&l.errs, "t.cfg:4: duplicate dialplan 'x' (first defined at line 2)"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:6: [dialplan] needs a name"));
    assert_true(sw_test_has_error(&l.errs, "t.cfg:8: bad dialplan name 'bad/name'"));
    unload(&l);
    /* a dial plan is no parameter section: no "unknown key" from the resolver,
     * and a module's object count of gateways does not see it */
    l = load("[core]\n[dialplan x]\nrule = add 1\nrule = add 2\n[gateway g]\naddress = 127.0.0.1\n");
    sw_test_expect_no_errors(&l.errs);
    assert_int_equal(sw_config_object_count(sw_cfg_view(l.cfg, "core"), SW_SCOPE_GATEWAY), 1);
    assert_int_equal(sw_cfg_raw_count(l.cfg, SW_CFG_SCOPE_DIALPLAN), 1);
    assert_int_equal(sw_cfg_raw_count(l.cfg, SW_SCOPE_GATEWAY), 0); /* not a raw scope */
    unload(&l);
}

/* ---- the set in force: modules and the script -------------------------------- */

static void test_api_apply_uses_the_active_set(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[dialplan e164]\nrule = if prefix 0 replace ^0 +44\n"
                      "[dialplan national]\nrule = strip prefix +44\nrule = add 0\n");
    sw_test_expect_no_errors(&l.errs);
    char out[32] = "junk";
    assert_int_equal(sw_dialplan_api_apply("e164", "0207", out, sizeof out), -1); /* nothing active yet */
    sw_dialplans_activate(l.set);
    assert_int_equal(sw_dialplan_api_apply("e164", "0207", out, sizeof out), 0);
    assert_string_equal(out, "+44207");
    assert_int_equal(sw_dialplan_api_apply("national", "+44207", out, sizeof out), 0);
    assert_string_equal(out, "0207");
    assert_int_equal(sw_dialplan_api_apply("nope", "0207", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(sw_dialplan_api_apply("e164", NULL, NULL, 0), 0); /* exists? */
    assert_int_equal(sw_dialplan_api_apply("nope", NULL, NULL, 0), -1);
    assert_int_equal(sw_dialplan_api_apply(NULL, NULL, NULL, 0), -1);
    char tiny[3];
    assert_int_equal(sw_dialplan_api_apply("e164", "0207", tiny, sizeof tiny), -1);
    unload(&l); /* freeing the active set deactivates it */
    assert_int_equal(sw_dialplan_api_apply("e164", NULL, NULL, 0), -1);
}

static void test_lua_apply(void **state)
{
    (void)state;
    loaded_t l = load("[core]\n[dialplan e164]\nrule = if prefix 0 replace ^0 +44\n");
    sw_test_expect_no_errors(&l.errs);
    sw_dialplans_activate(l.set);
    char dir[64];
    assert_int_equal(sw_test_make_dir(dir, sizeof dir, "dialplan"), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/route.lua", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("rewritten = sw.dialplan.apply('e164', '02079460000')\n"
          "untouched = sw.dialplan.apply('e164', '+1212')\n"
          "local ok, err = pcall(sw.dialplan.apply, 'missing', '1')\n"
          "unknown_error = err\n"
          "ok, err = pcall(sw.dialplan.apply, 'e164', 2079)\n"
          "number_error = err\n"
          "ok, err = pcall(sw.dialplan.apply, 'e164', string.rep('0', 128))\n"
          "long_error = err\n",
          f);
    fclose(f);
    sw_lua_engine_t *e = sw_lua_engine_new();
    sw_lua_limits_t lim = {.instruction_budget = 1000000, .memory_limit = 8 << 20};
    char err[512] = "";
    if (sw_lua_engine_load(e, path, &lim, err, sizeof err) != 0)
        fail_msg("script refused: %s", err);
    lua_State *L = sw_lua_engine_state(e);
    lua_getglobal(L, "rewritten");
    assert_string_equal(lua_tostring(L, -1), "+442079460000");
    lua_getglobal(L, "untouched");
    assert_string_equal(lua_tostring(L, -1), "+1212");
    lua_getglobal(L, "unknown_error");
    assert_non_null(strstr(lua_tostring(L, -1), "no dial plan 'missing'"));
    lua_getglobal(L, "number_error");
    assert_non_null(strstr(lua_tostring(L, -1), "string expected"));
    lua_getglobal(L, "long_error");
    assert_non_null(strstr(lua_tostring(L, -1), "at most 127 characters"));
    lua_settop(L, 0);
    sw_lua_engine_free(e);
    unlink(path);
    rmdir(dir);
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strip_count),
        cmocka_unit_test(test_strip_prefix),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_replace_groups_and_whole_match),
        cmocka_unit_test(test_replace_first_match_only_and_empty_replacement),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_rules_apply_in_order),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_stop_alone_keeps_the_number),
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_keywords_any_case_quotes_and_inline_comment),
        cmocka_unit_test(test_empty_number),
        cmocka_unit_test(test_plus),
        cmocka_unit_test(test_overlong_results_are_refused_not_cut),
        cmocka_unit_test(test_bad_rules_refused),
        cmocka_unit_test(test_every_bad_line_reported),
        cmocka_unit_test(test_too_many_rules),
        cmocka_unit_test(test_section_names_and_duplicates),
        cmocka_unit_test(test_api_apply_uses_the_active_set),
        cmocka_unit_test(test_lua_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
