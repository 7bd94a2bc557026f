/* An ABI probe module. The Makefile builds it several times with its
 * declared ABI version shifted (PROBE_MAJOR_DELTA, PROBE_MINOR_DELTA) to
 * prove that the loader refuses a module built for another major, or for a
 * newer minor than the core's, with a clear message — and loads the others. */
#include <sipswitch/module.h>

#ifndef PROBE_NAME
#define PROBE_NAME "probe_ok"
#endif
#ifndef PROBE_MAJOR_DELTA
#define PROBE_MAJOR_DELTA 0
#endif
#ifndef PROBE_MINOR_DELTA
#define PROBE_MINOR_DELTA 0
#endif

static const sw_api_t *api;

static int probe_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
#ifdef PROBE_INIT_FAILS
    (void)cfg;
    api->set_error(self, "probe refuses to start (value %d)", 42);
    return -1;
#else
    api->log(self, SW_LOG_INFO, NULL, "probe loaded, probe_value=%lld", (long long)api->param_int(cfg, "probe_value"));
    return 0;
#endif
}

static int probe_echo(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    size_t len;
    const char *s = api->lua_arg_str(args, 0, &len);
    api->lua_push_str(ret, s, len);
    return 0;
}

static const sw_param_t probe_params[] = {
    {.size = sizeof(sw_param_t), .name = "probe_value", .vos_alias = "SS_PROBE_VALUE", .type = SW_PARAM_INT,
     .default_value = "7", .min = 0, .max = 100, .flags = SW_PARAM_RELOADABLE, .doc = "A test value."},
    {0},
};

static const sw_lua_func_t probe_funcs[] = {
    {.size = sizeof(sw_lua_func_t), .name = "echo", .args = "s", .fn = probe_echo, .doc = "Returns its argument."},
    {0},
};

#ifdef PROBE_REQUIRES
static const char *const probe_requires[] = {PROBE_REQUIRES, NULL};
#else
static const char *const *const probe_requires = NULL;
#endif

static void probe_destroy(sw_module_t *self)
{
    api->log(self, SW_LOG_INFO, NULL, "probe destroyed");
}

static sw_hook_result_t probe_on_request(sw_module_t *self, sw_msg_t *req)
{
    (void)self;
    (void)req;
    return SW_HOOK_CONTINUE;
}

static const sw_hooks_t probe_hooks = {
    .size = sizeof(sw_hooks_t),
#ifdef PROBE_REQUIRES
    .priority = -5, /* runs before probe_ok although initialised after it */
#endif
    .on_request = probe_on_request,
};

static const sw_module_desc_t probe_desc = {
    .size = sizeof(sw_module_desc_t),
    .abi_major = SW_ABI_MAJOR + PROBE_MAJOR_DELTA,
    .abi_minor = SW_ABI_MINOR + PROBE_MINOR_DELTA,
    .name = PROBE_NAME,
    .version = "1.0",
    .license = "MIT",
    .description = "ABI probe",
    .params = probe_params,
    .lua_funcs = probe_funcs,
    .requires = probe_requires,
    .hooks = &probe_hooks,
    .init = probe_init,
    .destroy = probe_destroy,
};

SW_MODULE(probe_desc)
