/*
 * nat_keepalive parameters (PARAMETERS.md section 5) and their copy into
 * typed settings (nat_keepalive_params.h). The table is the single source
 * for parsing, defaults, --dump-params and doc/modules/nat_keepalive.md.
 */
#include "nat_keepalive_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define SECONDS(s) ((int64_t)(s) * 1000)
#define PER_ACCOUNT (SW_SCOPE_GLOBAL | SW_SCOPE_ACCOUNT)

static const char *const mode_choices[] = {"raw", "options", NULL};

/* Every value is reloadable: the wheel re-spreads the devices over a new
 * period, a new pace applies from the next turn. */
const sw_param_t nat_keepalive_params[] = {
    P(.name = "message", .vos_alias = "SS_SIP_NAT_KEEP_ALIVE_MESSAGE", .type = SW_PARAM_STRING,
      .default_value = "HELLO", .flags = SW_PARAM_RELOADABLE,
      .doc = "Payload of the UDP heartbeat (not a SIP message) sent from the socket each device behind NAT "
             "registered through; devices on TCP get CRLF CRLF on their connection instead (RFC 5626). "
             "Empty turns keep-alives off, OPTIONS pings included."),
    P(.name = "period", .vos_alias = "SS_SIP_NAT_KEEP_ALIVE_PERIOD", .type = SW_PARAM_DURATION,
      .default_value = "30", .min = SECONDS(1), .max = SECONDS(86400), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "Every registered device behind NAT gets one heartbeat per period, whatever their number, the "
             "sends spread evenly over it. 10-86400 s; lower only with allow_short_intervals."),
    P(.name = "send_interval", .vos_alias = "SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL", .type = SW_PARAM_DURATION,
      .default_value = "500", .min = 1, .max = SECONDS(10), .unit = "ms", .flags = SW_PARAM_RELOADABLE,
      .doc = "Pacing: heartbeats leave in one burst every send_interval. 10-10000 ms; lower only with "
             "allow_short_intervals. Shortened automatically when period / send_interval x batch cannot "
             "cover the devices."),
    P(.name = "batch", .vos_alias = "SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME", .type = SW_PARAM_INT,
      .default_value = "3000", .min = 1, .max = 100000, .flags = SW_PARAM_RELOADABLE,
      .doc = "Pacing: devices served per send_interval. When the devices outnumber period / send_interval x "
             "batch the switch warns once, raises the pace and counts it (pace_raised_total): no device is "
             "left without its heartbeat."),
    P(.name = "keepalive_mode", .type = SW_PARAM_ENUM, .default_value = "raw", .choices = mode_choices,
      .scopes = PER_ACCOUNT, .flags = SW_PARAM_RELOADABLE,
      .doc = "raw: the message (UDP) or CRLF CRLF (TCP). options: a SIP OPTIONS to the device's contact "
             "instead, and a device that leaves keepalive_max_missed in a row unanswered loses its binding. "
             "Per account in [account NAME]."),
    P(.name = "keepalive_max_missed", .type = SW_PARAM_INT, .default_value = "3", .min = 1, .max = 100,
      .scopes = PER_ACCOUNT, .flags = SW_PARAM_RELOADABLE,
      .doc = "options mode: OPTIONS left unanswered in a row (each had a period to be answered) before the "
             "registrar is asked to drop the binding. Per account in [account NAME]."),
    P(.name = "allow_short_intervals", .type = SW_PARAM_BOOL, .default_value = "Off", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: accept period below 10 s and send_interval below 10 ms (tests with short periods), with a "
             "warning in the log. Never for production."),
    P(.name = "registrar_module", .type = SW_PARAM_STRING, .default_value = "registrar",
      .flags = SW_PARAM_RELOADABLE,
      .doc = "The module that owns the bindings: options mode asks its \"bindings\" API (version 1, "
             "doc/modules/nat_keepalive.md) to drop a device that stopped answering."),
    {0},
};

/* ---- per account ------------------------------------------------------------------------ */

static void read_account(const sw_api_t *api, const sw_config_t *view, ka_account_settings_t *out)
{
    out->mode = api->param_int(view, "keepalive_mode") == KA_MODE_OPTIONS ? KA_MODE_OPTIONS : KA_MODE_RAW;
    out->max_missed = (unsigned)api->param_int(view, "keepalive_max_missed");
}

static int compare_accounts(const void *a, const void *b)
{
    return strcmp(((const ka_account_settings_t *)a)->name, ((const ka_account_settings_t *)b)->name);
}

/* Only accounts whose settings differ from the module's are kept: a switch
 * with thousands of [account] sections for the registrar and none for
 * nat_keepalive looks nothing up per heartbeat. */
static void load_accounts(const sw_api_t *api, const sw_config_t *module_cfg, ka_config_t *out)
{
    size_t n = api->object_count(module_cfg, SW_SCOPE_ACCOUNT);
    if (!n)
        return;
    out->accounts = api->calloc(n, sizeof *out->accounts);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(module_cfg, SW_SCOPE_ACCOUNT, i);
        const sw_config_t *view = name ? api->param_object(module_cfg, SW_SCOPE_ACCOUNT, name) : NULL;
        if (!view)
            continue;
        ka_account_settings_t a = {0};
        read_account(api, view, &a);
        if (a.mode == out->global.mode && a.max_missed == out->global.max_missed)
            continue;
        a.name = api->strdup(name);
        out->accounts[out->n_accounts++] = a;
    }
    if (out->n_accounts)
        qsort(out->accounts, out->n_accounts, sizeof *out->accounts, compare_accounts);
}

const ka_account_settings_t *ka_config_account(const ka_config_t *conf, const char *account)
{
    if (!conf->n_accounts || !account || !*account)
        return &conf->global;
    ka_account_settings_t key = {.name = (char *)account};
    const ka_account_settings_t *hit =
        bsearch(&key, conf->accounts, conf->n_accounts, sizeof key, compare_accounts);
    return hit ? hit : &conf->global;
}

/* ---- floors ------------------------------------------------------------------------------ */

static void append(char *buf, size_t len, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", text);
}

/* A value (ms) under its VOS3000 floor: an error without the opt-in, a
 * warning with it. */
static int check_floor(const sw_api_t *api, const sw_config_t *cfg, const char *key, int64_t floor_ms,
                       const char *floor_text, bool allow_short, const char *file, char *err, size_t err_len,
                       char *warn, size_t warn_len)
{
    int64_t ms = api->param_int(cfg, key);
    if (ms >= floor_ms)
        return 0;
    const char *text = api->param_str(cfg, key);
    if (!allow_short) {
        snprintf(err, err_len,
                 "%s: [nat_keepalive] %s = %s is below %s (the VOS3000 minimum); allow_short_intervals = On "
                 "accepts it, for tests only",
                 file ? file : "cfg", key, text ? text : "?", floor_text);
        return -1;
    }
    char item[96];
    snprintf(item, sizeof item, "%s = %s", key, text ? text : "?");
    append(warn, warn_len, item);
    return 0;
}

int ka_config_load(const sw_api_t *api, const sw_config_t *module_cfg, ka_config_t *out, char *err, size_t err_len,
                   char *warn, size_t warn_len)
{
    memset(out, 0, sizeof *out);
    snprintf(err, err_len, "%s", "");
    snprintf(warn, warn_len, "%s", "");
    const char *file = api->config_file ? api->config_file(module_cfg) : NULL;
    out->allow_short = api->param_int(module_cfg, "allow_short_intervals") != 0;
    if (check_floor(api, module_cfg, "period", KA_MIN_PERIOD_MS, "10 s", out->allow_short, file, err, err_len, warn,
                    warn_len) ||
        check_floor(api, module_cfg, "send_interval", KA_MIN_INTERVAL_MS, "10 ms", out->allow_short, file, err,
                    err_len, warn, warn_len))
        return -1;
    const char *message = api->param_str(module_cfg, "message");
    if (!message)
        message = "";
    if (strlen(message) > KA_MAX_MESSAGE) {
        snprintf(err, err_len, "%s: [nat_keepalive] message is %zu bytes long: %u at most (one datagram)",
                 file ? file : "cfg", strlen(message), KA_MAX_MESSAGE);
        return -1;
    }
    out->message = api->strdup(message);
    out->message_len = strlen(message);
    out->period_ms = (uint64_t)api->param_int(module_cfg, "period");
    out->interval_ms = (uint32_t)api->param_int(module_cfg, "send_interval");
    out->batch = (uint32_t)api->param_int(module_cfg, "batch");
    const char *owner = api->param_str(module_cfg, "registrar_module");
    out->registrar_module = api->strdup(owner ? owner : "registrar");
    read_account(api, module_cfg, &out->global);
    load_accounts(api, module_cfg, out);
    return 0;
}

void ka_config_free(const sw_api_t *api, ka_config_t *conf)
{
    for (size_t i = 0; i < conf->n_accounts; i++)
        api->free(conf->accounts[i].name);
    api->free(conf->accounts);
    api->free(conf->message);
    api->free(conf->registrar_module);
    memset(conf, 0, sizeof *conf);
}
