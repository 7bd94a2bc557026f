/* The function table modules call. Each entry is a thin adapter onto the
 * core's own functions, so the table is the whole contract and the core's
 * internals can change without breaking a module. */
#include "config.h"

#include "module/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <uv.h>

#include "call/call_hooks.h"
#include "call/dialplan.h"
#include "call/uac.h"
#include "cfg/config.h"
#include "http/mgmt_blocked.h"
#include "http/mgmt_modules.h"
#include "log.h"
#include "loop_jobs.h"
#include "lua/engine.h"
#include "sip/frontdoor.h"
#include "sip/guard.h"
#include "sip/message.h"
#include "stats/metrics.h"
#include "sipswitch/version.h"

static const sw_modules_t *api_modules;

void sw_api_set_modules(const sw_modules_t *ms)
{
    api_modules = ms;
}

/* ---- identity, errors, logging ------------------------------------------- */

static const char *api_core_version(void) { return SIPSWITCH_VERSION; }
static const char *api_module_name(const sw_module_t *self) { return self ? self->name : "?"; }
static void *api_get_data(const sw_module_t *self) { return self ? self->data : NULL; }
static void api_set_data(sw_module_t *self, void *data) { if (self) self->data = data; }

static void api_set_error(sw_module_t *self, const char *fmt, ...)
{
    if (!self)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
}

static void api_vlog(sw_module_t *self, sw_log_level_t level, const char *call_id, const char *fmt, va_list ap)
{
    sw_logv(level, self ? self->name : "module", call_id, fmt, ap);
}

static void api_log(sw_module_t *self, sw_log_level_t level, const char *call_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_vlog(self, level, call_id, fmt, ap);
    va_end(ap);
}

static int api_log_enabled(sw_log_level_t level) { return sw_log_enabled(level); }

/* ---- memory: never NULL, so module code need not check ------------------- */

static void *api_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void *api_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static void *api_realloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static char *api_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

/* ---- timers --------------------------------------------------------------- */

struct sw_timer {
    uv_timer_t handle;
    sw_module_t *mod;
    sw_timer_cb cb;
    void *arg;
    char name[48];
};

static void timer_fired(uv_timer_t *h)
{
    struct sw_timer *t = h->data;
    t->cb(t->mod, t->arg);
}

static sw_timer_t *api_timer_start(sw_module_t *self, const char *name, uint64_t first_ms, uint64_t repeat_ms,
                                   sw_timer_cb cb, void *arg)
{
    uv_loop_t *loop = sw_loop();
    if (!loop || !cb)
        return NULL;
    struct sw_timer *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->mod = self;
    t->cb = cb;
    t->arg = arg;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "timer");
    uv_timer_init(loop, &t->handle);
    t->handle.data = t;
    uv_timer_start(&t->handle, timer_fired, first_ms, repeat_ms);
    return t;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void api_timer_stop(sw_timer_t *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, timer_closed);
}

static uint64_t api_now_ms(void)
{
    uv_loop_t *loop = sw_loop();
    if (loop)
        return uv_now(loop);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t api_wallclock_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---- stats ---------------------------------------------------------------- */

static sw_stat_t *api_stat_register(sw_module_t *self, const char *name, const char *help, sw_stat_kind_t kind)
{
    return sw_stat_register(self ? self->name : "module", name, help, kind);
}

/* ---- messages ------------------------------------------------------------- */

static int api_msg_is_request(const sw_msg_t *m) { return sw_msg_is_request(m); }
static const char *api_msg_source(const sw_msg_t *m) { return m->origin.src_text; }
static sw_transport_t api_msg_transport(const sw_msg_t *m) { return m->origin.transport; }
static uint64_t api_msg_socket_id(const sw_msg_t *m) { return m->origin.socket_id; }

/* A module answers a request from on_request (the front door holds its
 * transaction) or from on_dialog_request (the call engine does). */
static int api_msg_reply(sw_msg_t *req, int code, const char *reason, const char *extra_headers)
{
    int r = sw_calls_dialog_reply(req, code, reason, extra_headers, NULL, NULL, 0);
    return r == -2 ? sw_frontdoor_reply(req, code, reason, extra_headers) : r;
}

static int api_msg_reply_body(sw_msg_t *req, int code, const char *reason, const char *extra_headers,
                              const char *content_type, const char *body, size_t len)
{
    int r = sw_calls_dialog_reply(req, code, reason, extra_headers, content_type, body, len);
    if (r != -2)
        return r;
    return len ? -1 : sw_frontdoor_reply(req, code, reason, extra_headers); /* no body out of dialog yet */
}

/* An INVITE a module authenticated (a registered device, an upstream
 * carrier we register to): the call engine accepts it as that account's. */
static int api_msg_set_account(sw_msg_t *req, const char *account)
{
    if (!req || !account || !*account || !sw_msg_is_request(req) || strcmp(sw_msg_method(req), "INVITE") != 0)
        return -1;
    size_t n = strlen(account);
    if (n > 128 || strspn(account, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'+%@:") != n)
        return -1;
    char *copy = strdup(account);
    if (!copy)
        abort();
    free(req->account);
    req->account = copy;
    return 0;
}

/* on_register for every module but the one that reports the change. */
static void api_binding_event(sw_module_t *self, const sw_binding_event_t *ev)
{
    if (!api_modules || !ev)
        return;
    for (size_t i = 0; i < api_modules->n_by_hook[SW_HOOK_ON_REGISTER]; i++) {
        sw_module_t *m = api_modules->by_hook[SW_HOOK_ON_REGISTER][i];
        if (m != self)
            m->hooks.on_register(m, ev);
    }
}

/* ---- blocks (the per-source table of sip/guard.h) -------------------------- */

/* As long as the rate limit's longest block: a module's block is no harder
 * to live with than the core's own. */
#define BLOCK_MAX_MS (86400ULL * 1000)

static int api_block_address(sw_module_t *self, const char *ip, uint64_t duration_ms, const char *reason)
{
    if (!self || duration_ms > BLOCK_MAX_MS)
        return -1;
    switch (sw_guard_block(ip, duration_ms, self->name, reason)) {
    case SW_RL_BLOCK_SET:
        return 0;
    case SW_RL_BLOCK_TRUSTED:
    case SW_RL_BLOCK_TRUSTED_FIRST:
        return 1;
    case SW_RL_BLOCK_INVALID:
    case SW_RL_BLOCK_TOO_MANY_ORIGINS:
        break;
    }
    return -1;
}

static int api_unblock_address(sw_module_t *self, const char *ip)
{
    return self && ip && sw_guard_unblock(ip, self->name) ? 1 : 0;
}

/* ---- other modules' APIs -------------------------------------------------- */

static int api_export_api(sw_module_t *self, const char *name, const void *table)
{
    if (!self || !name || !table)
        return -1;
    for (size_t i = 0; i < self->n_apis; i++)
        if (strcmp(self->apis[i].name, name) == 0)
            return -1;
    self->apis = realloc(self->apis, (self->n_apis + 1) * sizeof *self->apis);
    if (!self->apis)
        abort();
    self->apis[self->n_apis].name = api_strdup(name);
    self->apis[self->n_apis].table = table;
    self->n_apis++;
    return 0;
}

static const void *api_import_api(sw_module_t *self, const char *module, const char *name)
{
    (void)self;
    if (!api_modules || !module || !name)
        return NULL;
    sw_module_t *m = sw_modules_find(api_modules, module);
    for (size_t i = 0; m && i < m->n_apis; i++)
        if (strcmp(m->apis[i].name, name) == 0)
            return m->apis[i].table;
    return NULL;
}

static const sw_api_t api_table = {
    .size = sizeof(sw_api_t),
    .abi_major = SW_ABI_MAJOR,
    .abi_minor = SW_ABI_MINOR,
    .core_version = api_core_version,
    .module_name = api_module_name,
    .set_error = api_set_error,
    .get_data = api_get_data,
    .set_data = api_set_data,
    .log = api_log,
    .vlog = api_vlog,
    .log_enabled = api_log_enabled,
    .alloc = api_alloc,
    .calloc = api_calloc,
    .realloc = api_realloc,
    .strdup = api_strdup,
    .free = free,
    .param_int = sw_config_int,
    .param_str = sw_config_str,
    .param_list_len = sw_config_list_len,
    .param_list_int = sw_config_list_int,
    .param_list_str = sw_config_list_str,
    .param_is_set = sw_config_is_set,
    .object_count = sw_config_object_count,
    .object_name = sw_config_object_name,
    .param_object = sw_config_object,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .now_ms = api_now_ms,
    .wallclock_ms = api_wallclock_ms,
    .stat_register = api_stat_register,
    .stat_add = sw_stat_add,
    .stat_set = sw_stat_set,
    .msg_is_request = api_msg_is_request,
    .msg_method = sw_msg_method,
    .msg_status = sw_msg_status,
    .msg_call_id = sw_msg_call_id,
    .msg_header = sw_msg_header,
    .msg_header_count = sw_msg_header_count,
    .msg_header_add = sw_msg_header_add,
    .msg_header_remove = sw_msg_header_remove,
    .msg_ruri = sw_msg_ruri,
    .msg_body = sw_msg_body,
    .msg_source = api_msg_source,
    .msg_transport = api_msg_transport,
    .msg_socket_id = api_msg_socket_id,
    .msg_reply = api_msg_reply,
    .export_api = api_export_api,
    .import_api = api_import_api,
    .lua_arg_count = sw_lua_arg_count,
    .lua_arg_type = sw_lua_arg_type,
    .lua_arg_int = sw_lua_arg_int,
    .lua_arg_number = sw_lua_arg_number,
    .lua_arg_bool = sw_lua_arg_bool,
    .lua_arg_str = sw_lua_arg_str,
    .lua_push_nil = sw_lua_push_nil,
    .lua_push_bool = sw_lua_push_bool,
    .lua_push_int = sw_lua_push_int,
    .lua_push_number = sw_lua_push_number,
    .lua_push_str = sw_lua_push_str,
    .lua_error = sw_lua_error,
    .call_uid = sw_call_api_uid,
    .call_sip_id = sw_call_api_sip_id,
    .call_caller = sw_call_api_caller,
    .call_callee = sw_call_api_callee,
    .call_source = sw_call_api_source,
    .call_is_answered = sw_call_api_is_answered,
    .call_attempt_count = sw_call_api_attempt_count,
    .call_attempt = sw_call_api_attempt,
    .leg_gateway = sw_call_api_leg_gateway,
    .leg_set_invite_timeout = sw_call_api_leg_set_invite_timeout,
    .leg_skip = sw_call_api_leg_skip,
    .leg_set_deadline = sw_call_api_leg_set_deadline,
    .call_get_data = sw_call_api_get_data,
    .call_set_data = sw_call_api_set_data,
    .call_caller_in = sw_call_api_caller_in,
    .call_callee_in = sw_call_api_callee_in,
    .call_source_ip = sw_call_api_source_ip,
    .call_times = sw_call_api_times,
    .call_var = sw_call_api_var,
    .call_reject = sw_call_api_reject,
    .config_file = sw_config_file,
    .leg_set_from = sw_call_api_leg_set_from,
    .call_leg = sw_call_api_leg,
    .call_send_request = sw_call_api_send_request,
    .call_hangup = sw_call_api_hangup,
    .call_sdp = sw_call_api_sdp,
    .msg_reply_body = api_msg_reply_body,
    .msg_set_account = api_msg_set_account,
    .call_account = sw_call_api_account,
    .request_send = sw_uac_request_send,
    .local_address = sw_uac_local_address,
    .binding_event = api_binding_event,
    .http_route = sw_mgmt_module_route,
    .send_raw = sw_uac_send_raw,
    .lua_push_table = sw_lua_push_table,
    .lua_table_end = sw_lua_table_end,
    .dialplan_apply = sw_dialplan_api_apply,
    .block_address = api_block_address,
    .unblock_address = api_unblock_address,
    .block_provider = sw_mgmt_block_provider,
    .param_line = sw_cfg_line_of,
};

const sw_api_t *sw_api_table(void)
{
    return &api_table;
}
