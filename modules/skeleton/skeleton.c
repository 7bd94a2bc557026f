/*
 * skeleton: the example sipswitch module. Copy this directory to start your
 * own; it builds out of the sipswitch tree against the installed kit:
 *
 *     autoreconf -i && ./configure && make && make install
 *
 * It shows every part of a module:
 *   - the descriptor, exported with SW_MODULE();
 *   - typed parameters (validated by the core, with file:line errors), one of
 *     them with a VOS3000-style alias;
 *   - a function exported to the route script as sw.skeleton.greet(name);
 *   - a hook (on_request) that answers a request carrying "X-Skeleton-Ping";
 *   - a metric, a repeating timer, and init/start/reload/destroy.
 *
 * Rules of the road (doc/module-abi.md):
 *   - include only <sipswitch/module.h>; call the core only through `api`;
 *   - copy what you need from `cfg` during init/reload: the view is only
 *     valid during that call;
 *   - everything runs on the signaling thread: never block (no sleeping, no
 *     blocking sockets or files on the call path).
 */
#include <sipswitch/module.h>
#include <stdio.h>
#include <string.h>

/* The API table, kept from init. A module is loaded once per process, so a
 * static is the simplest place for it (api->set_data() is there too). */
static const sw_api_t *api;

/* This module's settings: copied from cfg in init and reload. */
static struct {
    char greeting[64];
    uint64_t report_interval_ms;
    int answer_pings;
} settings;

static sw_stat_t *pings_answered;
static sw_timer_t *report_timer;
static uint64_t pings_since_report;

static int read_settings(sw_module_t *self, const sw_config_t *cfg)
{
    const char *greeting = api->param_str(cfg, "greeting");
    if (strlen(greeting) >= sizeof settings.greeting) {
        api->set_error(self, "greeting longer than %zu characters", sizeof settings.greeting - 1);
        return -1;
    }
    snprintf(settings.greeting, sizeof settings.greeting, "%s", greeting);
    settings.report_interval_ms = (uint64_t)api->param_int(cfg, "report_interval");
    settings.answer_pings = (int)api->param_int(cfg, "answer_pings");
    return 0;
}

static void report(sw_module_t *self, void *arg)
{
    (void)arg;
    if (pings_since_report)
        api->log(self, SW_LOG_INFO, NULL, "%llu ping(s) answered in the last period",
                 (unsigned long long)pings_since_report);
    pings_since_report = 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int skeleton_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    if (read_settings(self, cfg))
        return -1;
    pings_answered = api->stat_register(self, "pings_answered_total", "Requests with X-Skeleton-Ping answered",
                                        SW_STAT_COUNTER);
    api->log(self, SW_LOG_INFO, NULL, "initialised (greeting '%s')", settings.greeting);
    return 0;
}

static int skeleton_start(sw_module_t *self)
{
    /* timers need the running loop: start them here, not in init */
    report_timer = api->timer_start(self, "report", settings.report_interval_ms, settings.report_interval_ms,
                                    report, NULL);
    return 0;
}

static int skeleton_reload(sw_module_t *self, const sw_config_t *cfg)
{
    uint64_t old_interval = settings.report_interval_ms;
    if (read_settings(self, cfg))
        return -1; /* refused: the core keeps the old cfg for this module */
    if (settings.report_interval_ms != old_interval) {
        api->timer_stop(report_timer);
        report_timer = api->timer_start(self, "report", settings.report_interval_ms,
                                        settings.report_interval_ms, report, NULL);
    }
    return 0;
}

static void skeleton_destroy(sw_module_t *self)
{
    api->timer_stop(report_timer);
    report_timer = NULL;
    api->log(self, SW_LOG_INFO, NULL, "stopped");
}

/* ---- hooks ------------------------------------------------------------------ */

static sw_hook_result_t skeleton_on_request(sw_module_t *self, sw_msg_t *req)
{
    if (!settings.answer_pings || !api->msg_header(req, "X-Skeleton-Ping", 0))
        return SW_HOOK_CONTINUE; /* not ours: the next module or the core handles it */
    char extra[128];
    snprintf(extra, sizeof extra, "X-Skeleton-Pong: %s\r\n", settings.greeting);
    api->msg_reply(req, 200, "OK", extra);
    api->stat_add(pings_answered, 1);
    pings_since_report++;
    api->log(self, SW_LOG_DEBUG, api->msg_call_id(req), "answered a ping from %s", api->msg_source(req));
    return SW_HOOK_HANDLED;
}

/* ---- Lua: sw.skeleton.greet(name [, times]) -> "hello, name" ---------------- */

static int skeleton_greet(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    size_t len;
    const char *name = api->lua_arg_str(args, 0, &len);
    int64_t times = api->lua_arg_count(args) > 1 ? api->lua_arg_int(args, 1) : 1;
    if (times < 1 || times > 10)
        return api->lua_error(ret, "times must be 1..10, got %lld", (long long)times);
    char out[512];
    size_t off = 0;
    for (int64_t i = 0; i < times && off < sizeof out; i++)
        off += (size_t)snprintf(out + off, sizeof out - off, "%s%s, %.*s", i ? "; " : "", settings.greeting,
                                (int)len, name);
    api->lua_push_str(ret, out, off < sizeof out ? off : sizeof out - 1);
    return 0;
}

/* ---- descriptor ---------------------------------------------------------------- */

static const sw_param_t skeleton_params[] = {
    {.size = sizeof(sw_param_t), .name = "greeting", .type = SW_PARAM_STRING, .default_value = "hello",
     .flags = SW_PARAM_RELOADABLE, .doc = "Word used by sw.skeleton.greet() and in X-Skeleton-Pong."},
    {.size = sizeof(sw_param_t), .name = "report_interval", .vos_alias = "SS_SKELETON_REPORT_INTERVAL",
     .type = SW_PARAM_DURATION, .default_value = "60", .min = 1000, .max = 3600000, .unit = "s",
     .flags = SW_PARAM_RELOADABLE, .doc = "How often the count of answered pings is logged."},
    {.size = sizeof(sw_param_t), .name = "answer_pings", .type = SW_PARAM_BOOL, .default_value = "On",
     .flags = SW_PARAM_RELOADABLE, .doc = "Answer requests carrying X-Skeleton-Ping with 200."},
    {0},
};

static const sw_lua_func_t skeleton_lua[] = {
    {.size = sizeof(sw_lua_func_t), .name = "greet", .args = "s|i", .fn = skeleton_greet,
     .doc = "greet(name [, times]): returns \"<greeting>, <name>\" (repeated 1..10 times)."},
    {0},
};

static const sw_hooks_t skeleton_hooks = {
    .size = sizeof(sw_hooks_t),
    .priority = 100, /* after security modules, which use lower numbers */
    .on_request = skeleton_on_request,
};

static const sw_module_desc_t skeleton_module = {
    SW_MODULE_DESC_INIT,
    .name = "skeleton",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Example module: a parameter, a Lua function, a hook, a metric and a timer",
    .requires = NULL,
    .params = skeleton_params,
    .lua_funcs = skeleton_lua,
    .hooks = &skeleton_hooks,
    .init = skeleton_init,
    .start = skeleton_start,
    .reload = skeleton_reload,
    .destroy = skeleton_destroy,
};

SW_MODULE(skeleton_module)
