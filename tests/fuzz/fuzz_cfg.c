/* fuzz_cfg: the cfg reader (core/cfg/config.c over inih, core/cfg/params.c)
 * on arbitrary text, as the daemon reads a file at start-up and on reload:
 *   read -> the core's parameters declared and [core] resolved into
 *   settings -> gw_switch's real descriptor table and a test module with one
 *   parameter of every type and scope declared -> everything resolved ->
 *   the [mapping] sections built into the source table (core/call/sources.c)
 *   -> gw_switch's settings read through the real sw_api_t table -> every
 *   value of every view read back through the getters modules use.
 * Errors are expected (most inputs are wrong); what must not happen is a
 * crash, a leak, or an error message without its "file:line". The
 * [gateway] table is not built: it resolves names with getaddrinfo (DNS). */
#include "config.h"

#include "cfg/config.h"
#include "cfg/core_params.h"
#include "cfg/params.h"
#include "call/sources.h"
#include "fuzz_util.h"
#include "gw_switch_params.h"
#include "log.h"
#include "module/loader.h"

static const char *const colours[] = {"red", "green", "Must On", NULL};

/* a module declaring one parameter of each type, in every scope */
static const sw_param_t mod_params[] = {
    {.size = sizeof(sw_param_t), .name = "flag", .vos_alias = "SS_FLAG", .type = SW_PARAM_BOOL,
     .default_value = "Off", .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY, .flags = SW_PARAM_RELOADABLE},
    {.size = sizeof(sw_param_t), .name = "count", .type = SW_PARAM_INT, .default_value = "3", .min = -5,
     .max = 1000000, .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_MAPPING},
    {.size = sizeof(sw_param_t), .name = "label", .type = SW_PARAM_STRING, .default_value = "",
     .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_ACCOUNT},
    {.size = sizeof(sw_param_t), .name = "colour", .type = SW_PARAM_ENUM, .default_value = "red",
     .choices = colours, .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_REGISTRATION},
    {.size = sizeof(sw_param_t), .name = "wait", .vos_alias = "SS_WAIT", .type = SW_PARAM_DURATION,
     .default_value = "10", .min = 1, .max = 3600000, .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY},
    {.size = sizeof(sw_param_t), .name = "waits", .type = SW_PARAM_DURATION_LIST, .default_value = "500ms,1,2",
     .unit = "ms", .min = 0, .max = 600000},
    {.size = sizeof(sw_param_t), .name = "codes", .type = SW_PARAM_INT_LIST, .default_value = "", .min = 100,
     .max = 699, .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY | SW_SCOPE_MAPPING},
    {.size = sizeof(sw_param_t), .name = "words", .type = SW_PARAM_STRING_LIST, .default_value = "a,b",
     .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_ACCOUNT | SW_SCOPE_REGISTRATION},
    {.size = sizeof(sw_param_t), .name = "secret", .type = SW_PARAM_STRING, .scopes = SW_SCOPE_ACCOUNT,
     .flags = SW_PARAM_REQUIRED},
    {0},
};

static const unsigned scopes[] = {SW_SCOPE_GATEWAY, SW_SCOPE_MAPPING, SW_SCOPE_ACCOUNT, SW_SCOPE_REGISTRATION};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_setup();
    return 0;
}

/* Reads every value of `params` through one view, as modules do. */
static void read_view(const sw_config_t *view, const sw_param_t *params)
{
    if (!view)
        return;
    (void)sw_config_file(view);
    for (const sw_param_t *p = params; p->size; p++) {
        const sw_value_t *v = sw_config_value(view, p->name);
        (void)sw_config_int(view, p->name);
        const char *s = sw_config_str(view, p->name);
        if (s)
            (void)strlen(s);
        size_t n = sw_config_list_len(view, p->name);
        for (size_t i = 0; i <= n; i++) {
            (void)sw_config_list_int(view, p->name, i);
            s = sw_config_list_str(view, p->name, i);
            if (s)
                (void)strlen(s);
        }
        (void)sw_config_is_set(view, p->name);
        (void)sw_cfg_line_of(view, p->name);
        if (p->vos_alias)
            (void)sw_config_int(view, p->vos_alias);
        if (v && v->text)
            (void)strlen(v->text);
    }
}

static void read_objects(const sw_config_t *view, const sw_param_t *params)
{
    for (size_t s = 0; s < sizeof scopes / sizeof scopes[0]; s++) {
        size_t n = sw_config_object_count(view, scopes[s]);
        for (size_t i = 0; i < n && i < 64; i++) {
            const char *name = sw_config_object_name(view, scopes[s], i);
            FUZZ_CHECK(name != NULL, "object %zu of scope %u has no name", i, scopes[s]);
            const sw_config_t *obj = sw_config_object(view, scopes[s], name);
            read_view(obj, params);
        }
        (void)sw_config_object_name(view, scopes[s], n);
        (void)sw_config_object(view, scopes[s], "no such object");
    }
}

static void count_param(const char *owner, const sw_param_t *p, const sw_value_t *def, void *ud)
{
    (void)owner;
    (void)def;
    (void)p;
    (*(size_t *)ud)++;
}

static void check_errors(const sw_errors_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        FUZZ_CHECK(errs->items[i] && errs->items[i][0], "empty error message #%zu", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    sw_errors_t errs = {0};

    sw_cfg_t *cfg = sw_cfg_read_string("fuzz.cfg", text, &errs);
    FUZZ_CHECK(cfg != NULL, "sw_cfg_read_string returned NULL for text input");

    sw_core_settings_t core;
    memset(&core, 0, sizeof core);
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    sw_cfg_add_owner(cfg, "gw_switch", gw_switch_params, &errs);
    sw_cfg_add_owner(cfg, "mod", mod_params, &errs);
    sw_cfg_resolve_all(cfg, &errs);
    check_errors(&errs);

    const sw_config_t *core_view = sw_cfg_view(cfg, "core");
    read_view(core_view, sw_core_params);
    read_objects(core_view, sw_core_params);
    const sw_config_t *mod_view = sw_cfg_view(cfg, "mod");
    read_view(mod_view, mod_params);
    read_objects(mod_view, mod_params);
    const sw_config_t *gw_view = sw_cfg_view(cfg, "gw_switch");
    read_view(gw_view, gw_switch_params);
    read_objects(gw_view, gw_switch_params);
    (void)sw_cfg_view(cfg, "nobody");

    /* what the daemon builds from a cfg besides settings */
    if (core_view) {
        sw_errors_t src_errs = {0};
        sw_sources_t *sources = sw_sources_build(core_view, &src_errs);
        if (sources) {
            (void)sw_sources_count(sources);
            sw_sources_free(sources);
        }
        check_errors(&src_errs);
        sw_errors_clear(&src_errs);
    }
    if (gw_view) {
        gw_switch_config_t conf;
        memset(&conf, 0, sizeof conf);
        gw_switch_config_load(sw_api_table(), gw_view, &conf);
        (void)gw_switch_config_gateway(&conf, "carrierA");
        gw_switch_config_free(sw_api_table(), &conf);
    }

    size_t n_params = 0;
    sw_cfg_visit_params(cfg, count_param, &n_params);
    char *resolved = sw_cfg_path_resolve(cfg, "route.lua");
    free(resolved);

    sw_cfg_free(cfg);
    sw_errors_clear(&errs);

    /* the value parsers on their own, with the first line as the value */
    size_t line_len = strcspn(text, "\r\n");
    if (line_len < 128) {
        text[line_len] = '\0';
        bool b;
        int64_t n;
        (void)sw_parse_bool(text, &b);
        (void)sw_parse_int64(text, &n);
        (void)sw_parse_duration_ms(text, "s", &n);
        (void)sw_parse_duration_ms(text, "ms", &n);
        sw_source_entry_t entry;
        char err[256];
        (void)sw_source_parse(text, &entry, err, sizeof err);
        for (const sw_param_t *p = mod_params; p->size; p++) {
            sw_value_t v;
            memset(&v, 0, sizeof v);
            (void)sw_param_parse(p, text, &v, err, sizeof err);
            sw_value_clear(&v);
        }
    }
    free(text);
    return 0;
}
