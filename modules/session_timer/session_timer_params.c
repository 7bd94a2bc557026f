/*
 * session_timer parameters (PARAMETERS.md section 2) and their copy into
 * typed settings (session_timer_params.h). The table is the single source
 * for parsing, defaults, --dump-params and doc/modules/session_timer.md.
 */
#include "session_timer_params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define SECONDS(s) ((int64_t)(s) * 1000)

/* The per-leg keys: the module's section gives the default, the leg's cfg
 * object overrides it. */
#define EVERY_LEG (SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY | SW_SCOPE_MAPPING | SW_SCOPE_ACCOUNT)

static const char *const method_choices[] = {"auto", "update", "invite", NULL};

/*
 * The interval ranges start at 1 s rather than at the documented floors
 * (90 s, 60 s): values in between are for tests and need
 * allow_short_intervals = On, which the core's range check cannot express;
 * st_config_load() enforces it with the line. Every value is reloadable: a
 * call keeps what it negotiated, new calls get the new values.
 */
const sw_param_t session_timer_params[] = {
    P(.name = "session_timer", .type = SW_PARAM_BOOL, .default_value = "On", .scopes = EVERY_LEG,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "On: negotiate RFC 4028 session timers on the leg and refresh it. Off: the module leaves the leg "
             "alone (no Session-Expires either way, no refreshes, no max duration from "
             "no_timer_reinvite_interval)."),
    P(.name = "session_ttl", .vos_alias = "SS_SIP_SESSION_TTL", .type = SW_PARAM_DURATION, .default_value = "600",
      .min = SECONDS(1), .max = SECONDS(86400), .unit = "s", .scopes = EVERY_LEG, .flags = SW_PARAM_RELOADABLE,
      .doc = "Session interval the switch asks for and accepts at most (Session-Expires), in whole seconds; "
             "90-86400, lower only with allow_short_intervals. A leg that supports timers is verified within "
             "it."),
    P(.name = "session_update_segment", .vos_alias = "SS_SIP_SESSION_UPDATE_SEGMENT", .type = SW_PARAM_INT,
      .default_value = "2", .min = 2, .max = 10, .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "Divider: the switch refreshes a leg every session interval / this (UPDATE or re-INVITE)."),
    P(.name = "session_timeout_early_hangup", .vos_alias = "SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP",
      .type = SW_PARAM_DURATION, .default_value = "0", .min = 0, .max = SECONDS(300), .unit = "s",
      .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "Grace period: when a refresh gets no confirmation (408, 481, no answer) or the far end stops "
             "refreshing, wait this long before the BYEs (0 = at once)."),
    P(.name = "no_timer_reinvite_interval", .vos_alias = "SS_SIP_NO_TIMER_REINVITE_INTERVAL",
      .type = SW_PARAM_DURATION, .default_value = "7200", .min = SECONDS(1), .max = SECONDS(86400), .unit = "s",
      .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "A call with a leg that does not support timers is ended (BYE both sides) when its duration "
             "since the answer reaches this; 60-86400, lower only with allow_short_intervals."),
    P(.name = "min_se", .type = SW_PARAM_DURATION, .default_value = "90", .min = SECONDS(1), .max = SECONDS(86400),
      .unit = "s", .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "Smallest session interval accepted (Min-SE), in whole seconds: a smaller offer gets 422 Session "
             "Interval Too Small. 90 (RFC 4028's minimum) or more, lower only with allow_short_intervals."),
    P(.name = "session_refresh_method", .type = SW_PARAM_ENUM, .default_value = "auto", .choices = method_choices,
      .scopes = EVERY_LEG, .flags = SW_PARAM_RELOADABLE,
      .doc = "How the switch refreshes a leg: auto (UPDATE when the peer's Allow lists it, else re-INVITE), "
             "update, or invite. A 501 or 405 to UPDATE switches that leg to re-INVITE."),
    P(.name = "allow_short_intervals", .type = SW_PARAM_BOOL, .default_value = "Off", .scopes = SW_SCOPE_GLOBAL,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "On: accept session_ttl and min_se below 90 s and no_timer_reinvite_interval below 60 s (tests "
             "with short intervals), with a warning in the log. Never for production."),
    {0},
};

/* ---- finding a key's line ------------------------------------------------------------- */

/* ---- reading and checking --------------------------------------------------------------- */

typedef struct checker {
    const sw_api_t *api;
    const sw_config_t *module_cfg;
    const char *path;
    bool allow_short;
    char *err, *warn;
    size_t err_len, warn_len, warn_used;
} checker_t;

static const unsigned kind_scopes[ST_OBJ_KINDS] = {SW_SCOPE_GATEWAY, SW_SCOPE_MAPPING, SW_SCOPE_ACCOUNT};

/* Writes "file:line: " for key as written in view (an object's section, or
 * the module's), falling back to the module's section where an object only
 * inherits the value. */
static int where(const checker_t *ck, char *out, size_t len, const sw_config_t *view, const char *key)
{
    int line = ck->api->param_line(view, key);
    if (!line && view != ck->module_cfg)
        line = ck->api->param_line(ck->module_cfg, key);
    if (line)
        return snprintf(out, len, "%s:%d: ", ck->path ? ck->path : "cfg", line);
    return snprintf(out, len, "%s: ", ck->path ? ck->path : "cfg");
}

static int fail(checker_t *ck, const sw_config_t *view, const char *key, const char *fmt, ...) SW_PRINTF(4, 5);
static int fail(checker_t *ck, const sw_config_t *view, const char *key, const char *fmt, ...)
{
    int n = where(ck, ck->err, ck->err_len, view, key);
    if (n > 0 && (size_t)n < ck->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ck->err + n, ck->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* An interval (ms) against its floor: below it is an error without the
 * opt-in, a warning with it. An object's value equal to inherited_ms (the
 * module's, which it may only inherit) was warned about there already. */
static int check_floor(checker_t *ck, const sw_config_t *view, const char *object, const char *key, uint32_t floor_s,
                       int64_t inherited_ms)
{
    int64_t ms = ck->api->param_int(view, key);
    if (ms >= (int64_t)floor_s * 1000 || (object && ms == inherited_ms))
        return 0;
    const char *text = ck->api->param_str(view, key);
    if (!ck->allow_short)
        return fail(ck, view, key,
                    "%s = %s is below %u s (RFC 4028 / VOS3000 minimum); allow_short_intervals = On in "
                    "[session_timer] accepts it, for tests only",
                    key, text ? text : "?", floor_s);
    if (ck->warn_used < ck->warn_len) {
        int n = snprintf(ck->warn + ck->warn_used, ck->warn_len - ck->warn_used, "%s%s%s%s = %s",
                         ck->warn_used ? ", " : "", object ? object : "", object ? ": " : "", key,
                         text ? text : "?");
        if (n > 0)
            ck->warn_used += (size_t)n;
        if (ck->warn_used >= ck->warn_len)
            ck->warn_used = ck->warn_len - 1;
    }
    return 0;
}

static int check_whole_seconds(checker_t *ck, const sw_config_t *view, const char *key)
{
    if (ck->api->param_int(view, key) % 1000 == 0)
        return 0;
    return fail(ck, view, key, "%s = %s: whole seconds only (Session-Expires and Min-SE count seconds)",
                key, ck->api->param_str(view, key));
}

static uint32_t seconds_of(const sw_api_t *api, const sw_config_t *view, const char *key)
{
    int64_t ms = api->param_int(view, key);
    return ms <= 0 ? 0 : (uint32_t)(ms / 1000);
}

/* One leg's settings from a view (module or object), checked. */
static int read_leg(checker_t *ck, const sw_config_t *view, const char *object, uint32_t min_se_s,
                    const st_leg_settings_t *global, st_leg_settings_t *out)
{
    const sw_api_t *api = ck->api;
    int64_t inherited_ms = global ? (int64_t)global->session_ttl_s * 1000 : -1;
    out->enabled = api->param_int(view, "session_timer") != 0;
    out->method = (st_method_t)api->param_int(view, "session_refresh_method");
    if (check_floor(ck, view, object, "session_ttl", ST_RFC_MIN_INTERVAL_S, inherited_ms) ||
        check_whole_seconds(ck, view, "session_ttl"))
        return -1;
    out->session_ttl_s = seconds_of(api, view, "session_ttl");
    if (out->session_ttl_s < min_se_s)
        return fail(ck, view, "session_ttl",
                    "session_ttl (%u s) is below min_se (%u s): the switch would offer an interval it refuses "
                    "itself",
                    out->session_ttl_s, min_se_s);
    return 0;
}

static int compare_named(const void *a, const void *b)
{
    return strcmp(((const st_named_settings_t *)a)->name, ((const st_named_settings_t *)b)->name);
}

int st_config_load(const sw_api_t *api, const sw_config_t *module_cfg, st_config_t *out, char *err, size_t err_len,
                   char *warn, size_t warn_len)
{
    memset(out, 0, sizeof *out);
    if (err_len)
        err[0] = '\0';
    if (warn_len)
        warn[0] = '\0';
    checker_t ck = {.api = api,
                    .module_cfg = module_cfg,
                    .path = api->config_file ? api->config_file(module_cfg) : NULL,
                    .allow_short = api->param_int(module_cfg, "allow_short_intervals") != 0,
                    .err = err,
                    .err_len = err_len,
                    .warn = warn,
                    .warn_len = warn_len};
    out->allow_short = ck.allow_short;
    out->segment = (uint32_t)api->param_int(module_cfg, "session_update_segment");
    out->early_hangup_ms = (uint32_t)api->param_int(module_cfg, "session_timeout_early_hangup");
    if (check_floor(&ck, module_cfg, NULL, "min_se", ST_RFC_MIN_INTERVAL_S, -1) ||
        check_whole_seconds(&ck, module_cfg, "min_se") ||
        check_floor(&ck, module_cfg, NULL, "no_timer_reinvite_interval", ST_MIN_NO_TIMER_INTERVAL_S, -1))
        return -1;
    out->min_se_s = seconds_of(api, module_cfg, "min_se");
    out->no_timer_ms = (uint64_t)api->param_int(module_cfg, "no_timer_reinvite_interval");
    if (read_leg(&ck, module_cfg, NULL, out->min_se_s, NULL, &out->global))
        return -1;
    for (int k = 0; k < ST_OBJ_KINDS; k++) {
        size_t n = api->object_count(module_cfg, kind_scopes[k]);
        if (!n)
            continue;
        out->objects[k] = api->calloc(n, sizeof *out->objects[k]);
        for (size_t i = 0; i < n; i++) {
            const char *name = api->object_name(module_cfg, kind_scopes[k], i);
            const sw_config_t *view = name ? api->param_object(module_cfg, kind_scopes[k], name) : NULL;
            if (!view)
                continue;
            st_named_settings_t *o = &out->objects[k][out->n_objects[k]++];
            o->name = api->strdup(name);
            if (read_leg(&ck, view, name, out->min_se_s, &out->global, &o->settings)) {
                st_config_free(api, out);
                return -1;
            }
        }
        qsort(out->objects[k], out->n_objects[k], sizeof *out->objects[k], compare_named);
    }
    return 0;
}

void st_config_free(const sw_api_t *api, st_config_t *conf)
{
    for (int k = 0; k < ST_OBJ_KINDS; k++) {
        for (size_t i = 0; i < conf->n_objects[k]; i++)
            api->free(conf->objects[k][i].name);
        api->free(conf->objects[k]);
    }
    memset(conf, 0, sizeof *conf);
}

const st_leg_settings_t *st_config_object(const st_config_t *conf, int kind, const char *name)
{
    if (!name || kind < 0 || kind >= ST_OBJ_KINDS || !conf->n_objects[kind])
        return NULL;
    st_named_settings_t key = {.name = (char *)name};
    const st_named_settings_t *hit =
        bsearch(&key, conf->objects[kind], conf->n_objects[kind], sizeof key, compare_named);
    return hit ? &hit->settings : NULL;
}
