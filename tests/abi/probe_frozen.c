/* Built against tests/abi/frozen/1.0/sipswitch/module.h: a module from the
 * 1.0 era. Its init exercises the API entries through the 1.0 layout and
 * fails (naming the entry) if any answers wrong, so an incompatible change to
 * sw_api_t or the descriptors cannot pass the tests. */
#include <sipswitch/module.h>
#include <stdio.h>
#include <string.h>

#if SW_ABI_MAJOR != 1 || SW_ABI_MINOR != 0
#error "probe_frozen must be built against the frozen 1.0 header"
#endif

static const sw_api_t *api;
static int timer_fired;

#define EXPECT(cond, what)                                         \
    do {                                                           \
        if (!(cond)) {                                             \
            api->set_error(self, "ABI 1.0 entry misbehaves: %s", what); \
            return -1;                                             \
        }                                                          \
    } while (0)

static int frozen_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    if (a->size < sizeof(sw_api_t) || a->abi_major != 1)
        return -1; /* cannot even report: set_error might be elsewhere */
    EXPECT(strcmp(api->module_name(self), "probe_frozen") == 0, "module_name");
    EXPECT(api->core_version() && *api->core_version(), "core_version");
    api->set_data(self, (void *)&timer_fired);
    EXPECT(api->get_data(self) == (void *)&timer_fired, "get_data/set_data");
    EXPECT(api->param_int(cfg, "frozen_count") == 3, "param_int");
    EXPECT(strcmp(api->param_str(cfg, "frozen_word"), "abc") == 0, "param_str");
    EXPECT(api->param_list_len(cfg, "frozen_list") == 2, "param_list_len");
    EXPECT(api->param_list_int(cfg, "frozen_list", 1) == 20, "param_list_int");
    EXPECT(api->param_is_set(cfg, "frozen_count") == 0, "param_is_set");
    char *s = api->strdup("dup");
    EXPECT(s && strcmp(s, "dup") == 0, "strdup");
    api->free(s);
    void *p = api->calloc(4, 4);
    EXPECT(p && ((int *)p)[3] == 0, "calloc");
    api->free(p);
    sw_stat_t *st = api->stat_register(self, "probe_total", "probe", SW_STAT_COUNTER);
    EXPECT(st != NULL, "stat_register");
    api->stat_add(st, 2);
    EXPECT(api->log_enabled(SW_LOG_ERROR), "log_enabled");
    EXPECT(api->wallclock_ms() > 1600000000000ULL, "wallclock_ms");
    EXPECT(api->import_api(self, "no_such_module", "x") == NULL, "import_api");
    static const int table = 42;
    EXPECT(api->export_api(self, "frozen", &table) == 0, "export_api");
    EXPECT(api->import_api(self, "probe_frozen", "frozen") == &table, "export/import round trip");
    api->log(self, SW_LOG_INFO, "frozen-call-id", "ABI 1.0 probe: all entries answered");
    return 0;
}

static const sw_param_t frozen_params[] = {
    {.size = sizeof(sw_param_t), .name = "frozen_count", .type = SW_PARAM_INT, .default_value = "3"},
    {.size = sizeof(sw_param_t), .name = "frozen_word", .type = SW_PARAM_STRING, .default_value = "abc"},
    {.size = sizeof(sw_param_t), .name = "frozen_list", .type = SW_PARAM_INT_LIST, .default_value = "10,20"},
    {0},
};

static const sw_module_desc_t frozen_desc = {
    SW_MODULE_DESC_INIT,
    .name = "probe_frozen",
    .version = "1.0",
    .license = "MIT",
    .description = "module built against the frozen ABI 1.0 header",
    .params = frozen_params,
    .init = frozen_init,
};

SW_MODULE(frozen_desc)
