/* The module loader: ABI checks on real shared objects (the probes in
 * tests/abi), requires ordering, init failure, hook order, params. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cfg/config.h"
#include "module/loader.h"
#include "test_cfg_errors.h"

#define ABI_DIR SW_TEST_BUILDDIR "/tests/abi"

static void test_open_ok(void **state)
{
    (void)state;
    char err[1024] = "";
    sw_module_t *m = sw_module_open_path(ABI_DIR "/probe_ok.la", err, sizeof err);
    assert_non_null(m);
    assert_string_equal(m->name, "probe_ok");
    assert_int_equal(m->desc.abi_major, SW_ABI_MAJOR);
    assert_non_null(m->hooks.on_request);
    assert_null(m->hooks.on_rtp);
    sw_module_close(m);
}

/* The probes are built one minor (and one major) ahead of the header. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define NEXT_MINOR_1 2
#define NEXT_MINOR_0 1
#define NEXT_MINOR_2 3
#define NEXT_MINOR_3 4
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define NEXT_MINOR CAT(NEXT_MINOR_, SW_ABI_MINOR)
#define NEXT_MAJOR 2

static void test_refusals(void **state)
{
    (void)state;
    struct {
        const char *file;
        const char *message;
    } cases[] = {
        {ABI_DIR "/probe_newer_minor.la", "needs module ABI " STR(SW_ABI_MAJOR) "." STR(NEXT_MINOR)
                                          " but this sipswitch provides only " STR(SW_ABI_MAJOR) "." STR(SW_ABI_MINOR)},
        {ABI_DIR "/probe_other_major.la", "was built for module ABI " STR(NEXT_MAJOR) "." STR(SW_ABI_MINOR) " but this sipswitch "
                                          "provides ABI " STR(SW_ABI_MAJOR) "." STR(SW_ABI_MINOR)},
        {ABI_DIR "/probe_no_entry.la", "not a sipswitch module (no sw_module_entry symbol)"},
        {ABI_DIR "/does_not_exist.la", "cannot load"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[1024] = "";
        assert_null(sw_module_open_path(cases[i].file, err, sizeof err));
        if (!strstr(err, cases[i].message))
            fail_msg("%s: '%s' does not contain '%s'", cases[i].file, err, cases[i].message);
        assert_non_null(strstr(err, cases[i].file)); /* the message names the file */
    }
}

static void test_requires_orders_init(void **state)
{
    (void)state;
    char *names[] = {"probe_needs_ok", "probe_ok"};
    sw_modules_t ms;
    sw_errors_t errs = {0};
    assert_int_equal(sw_modules_open(&ms, names, 2, ABI_DIR, NULL, "t.cfg", 3, &errs), 0);
    assert_int_equal(ms.count, 2);
    assert_string_equal(ms.mods[0]->name, "probe_ok");       /* required first */
    assert_string_equal(ms.mods[1]->name, "probe_needs_ok");
    /* hook order follows priority, not init order */
    assert_int_equal(ms.n_by_hook[SW_HOOK_ON_REQUEST], 2);
    assert_string_equal(ms.by_hook[SW_HOOK_ON_REQUEST][0]->name, "probe_needs_ok");
    assert_int_equal(ms.n_by_hook[SW_HOOK_ON_RTP], 0);
    assert_ptr_equal(sw_modules_find(&ms, "probe_ok"), ms.mods[0]);

    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", "[core]\n[probe_ok]\nSS_PROBE_VALUE = 9\n", &errs);
    assert_int_equal(sw_modules_declare_params(&ms, cfg, &errs), 0);
    assert_int_equal(sw_cfg_resolve_all(cfg, &errs), -1); /* [core] owner was not declared: fine here */
    sw_errors_clear(&errs);
    assert_int_equal(sw_config_int(sw_cfg_view(cfg, "probe_ok"), "probe_value"), 9);
    assert_int_equal(sw_config_int(sw_cfg_view(cfg, "probe_needs_ok"), "probe_value"), 7);
    assert_int_equal(sw_modules_init(&ms, cfg, &errs), 0);
    assert_true(ms.mods[0]->inited && ms.mods[1]->inited);
    assert_int_equal(sw_modules_reload(&ms, cfg, &errs), 0);
    sw_modules_shutdown(&ms);
    assert_int_equal(ms.count, 0);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

static void test_missing_requirement(void **state)
{
    (void)state;
    char *names[] = {"probe_needs_ok"};
    sw_modules_t ms;
    sw_errors_t errs = {0};
    assert_int_equal(sw_modules_open(&ms, names, 1, ABI_DIR, NULL, "t.cfg", 3, &errs), -1);
    assert_true(sw_test_has_error(&errs, "t.cfg:3: module 'probe_needs_ok' requires module 'probe_ok': add it to 'load'"));
    sw_modules_shutdown(&ms);
    sw_errors_clear(&errs);
}

static void test_unknown_module(void **state)
{
    (void)state;
    char *names[] = {"nosuch"};
    sw_modules_t ms;
    sw_errors_t errs = {0};
    assert_int_equal(sw_modules_open(&ms, names, 1, ABI_DIR, "/nonexistent", "t.cfg", 7, &errs), -1);
    assert_true(sw_test_has_error(&errs, "t.cfg:7: unknown module 'nosuch'"));
    sw_modules_shutdown(&ms);
    sw_errors_clear(&errs);
}

static void test_init_failure_names_module(void **state)
{
    (void)state;
    char *names[] = {"probe_ok", "probe_init_fails"};
    sw_modules_t ms;
    sw_errors_t errs = {0};
    assert_int_equal(sw_modules_open(&ms, names, 2, ABI_DIR, NULL, "t.cfg", 3, &errs), 0);
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", "", &errs);
    sw_modules_declare_params(&ms, cfg, &errs);
    sw_cfg_resolve_all(cfg, &errs);
    assert_int_equal(sw_modules_init(&ms, cfg, &errs), -1);
    assert_true(sw_test_has_error(&errs, "module 'probe_init_fails': init failed: probe refuses to start (value 42)"));
    assert_false(ms.mods[0]->inited); /* the module initialised before it was destroyed again */
    sw_modules_shutdown(&ms);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

/* Opens one frozen-header probe, lets `check` look at the loaded set, and
 * initialises it: its init() fails, naming the entry, when an API entry it
 * calls through its header's layout answers wrong. */
static void load_frozen_probe(const char *name, void (*check)(const sw_modules_t *ms))
{
    char *names[] = {(char *)name};
    sw_modules_t ms;
    sw_errors_t errs = {0};
    assert_int_equal(sw_modules_open(&ms, names, 1, ABI_DIR, NULL, "t.cfg", 1, &errs), 0);
    if (check)
        check(&ms);
    sw_api_set_modules(&ms);
    sw_cfg_t *cfg = sw_cfg_read_string("t.cfg", "", &errs);
    sw_modules_declare_params(&ms, cfg, &errs);
    sw_cfg_resolve_all(cfg, &errs);
    int rc = sw_modules_init(&ms, cfg, &errs);
    for (size_t i = 0; i < errs.count; i++)
        print_message("  %s\n", errs.items[i]);
    assert_int_equal(rc, 0);
    sw_modules_stop(&ms); /* a 1.0 module has no stop member: NULL, skipped */
    sw_api_set_modules(NULL);
    sw_modules_shutdown(&ms);
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);
}

/* A 1.0 module's descriptor ends before `stop`: the loader must not read
 * past it. */
static void check_1_0_desc(const sw_modules_t *ms)
{
    assert_null(ms->mods[0]->desc.stop);
}

/* A module built against the frozen 1.0 header loads, and every API entry it
 * calls through the 1.0 layout answers as documented (see probe_frozen.c). */
static void test_frozen_abi_1_0_module(void **state)
{
    (void)state;
    load_frozen_probe("probe_frozen", check_1_0_desc);
}

/* Its 1.1 hooks, and only those, are in the dispatch lists. */
static void check_1_1_hooks(const sw_modules_t *ms)
{
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_ATTEMPT_START], 1);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_ATTEMPT_END], 1);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_CALLER_RESPONSE], 1);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_DIALOG_REQUEST], 1);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_CALLER_REQUEST], 1);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_RTP], 0);
    assert_int_equal(ms->n_by_hook[SW_HOOK_ON_REQUEST], 0);
    assert_non_null(ms->mods[0]->desc.stop); /* the 1.1 lifecycle member was read */
}


/* The same for a module built against the frozen 1.1 header: the 1.1
 * entries answer (probe_frozen_1_1.c), and its hooks are dispatched. */
static void test_frozen_abi_1_1_module(void **state)
{
    (void)state;
    load_frozen_probe("probe_frozen_1_1", check_1_1_hooks);
}

static void test_api_table(void **state)
{
    (void)state;
    const sw_api_t *api = sw_api_table();
    assert_int_equal(api->size, sizeof(sw_api_t));
    assert_int_equal(api->abi_major, SW_ABI_MAJOR);
    assert_int_equal(api->abi_minor, SW_ABI_MINOR);
    /* every entry is filled: a NULL would crash a module */
    const void *const *fn = (const void *const *)((const char *)api + offsetof(sw_api_t, core_version));
    size_t n = (sizeof(sw_api_t) - offsetof(sw_api_t, core_version)) / sizeof(void *);
    for (size_t i = 0; i < n; i++)
        if (!fn[i])
            fail_msg("sw_api_t entry #%zu is NULL", i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_ok),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_requires_orders_init),
        cmocka_unit_test(test_missing_requirement),
        cmocka_unit_test(test_unknown_module),
        cmocka_unit_test(test_init_failure_names_module),
        cmocka_unit_test(test_frozen_abi_1_0_module),
        cmocka_unit_test(test_frozen_abi_1_1_module),
        cmocka_unit_test(test_api_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
