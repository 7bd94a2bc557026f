/*
 * gw_switch parameters (PARAMETERS.md section 1) and the copy of their values
 * into typed settings. The table is the single source for parsing, defaults,
 * --dump-params and doc/modules/gw_switch.md.
 */
#include "gw_switch_params.h"

#include <stdlib.h>
#include <string.h>

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define SECONDS(s) ((int64_t)(s) * 1000)

/* Where per-gateway values may be written: the global section gives the
 * default, a [gateway NAME] section overrides it. */
#define GLOBAL_AND_GATEWAY (SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY)

/*
 * Ranges the spec leaves open (trying, progress, ringing timeouts) are the
 * project's choice, wide enough for any sane carrier and narrow enough that a
 * typo (an extra zero, ms written as s) is refused at load:
 *   trying 1-300 s (same bound as the INVITE timeout it follows),
 *   progress 1-600 s (carriers may play long announcements in early media),
 *   ringing 1-3600 s.
 * Every value is reloadable: the rules are read per attempt, so a reload
 * applies to the next attempt without touching calls in progress.
 */
const sw_param_t gw_switch_params[] = {
    P(.name = "invite_timeout", .vos_alias = "SS_SIP_TIMEOUT_INVITE", .type = SW_PARAM_DURATION,
      .default_value = "10", .min = SECONDS(1), .max = SECONDS(300), .unit = "s", .scopes = GLOBAL_AND_GATEWAY,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "How long an INVITE sent to a gateway may go without any answer at all, provisional or final; "
             "retransmissions happen inside this window. When it runs out the attempt fails as an INVITE "
             "timeout."),
    P(.name = "trying_timeout", .vos_alias = "SS_SIP_TIMEOUT_TRYING", .type = SW_PARAM_DURATION,
      .default_value = "20", .min = SECONDS(1), .max = SECONDS(300), .unit = "s", .scopes = GLOBAL_AND_GATEWAY,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "How long a gateway that answered only 100 Trying may stay silent before the attempt fails."),
    P(.name = "progress_timeout", .vos_alias = "SS_SIP_TIMEOUT_SESSION_PROGRESS", .type = SW_PARAM_DURATION,
      .default_value = "20", .min = SECONDS(1), .max = SECONDS(600), .unit = "s", .scopes = GLOBAL_AND_GATEWAY,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "After 183 Session Progress, how long to wait for 180 Ringing or an answer before the attempt "
             "fails."),
    P(.name = "ringing_timeout", .vos_alias = "SS_SIP_TIMEOUT_RINGING", .type = SW_PARAM_DURATION,
      .default_value = "120", .min = SECONDS(1), .max = SECONDS(3600), .unit = "s", .scopes = GLOBAL_AND_GATEWAY,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "After 180 Ringing, how long the callee may ring unanswered before the attempt fails."),
    P(.name = "stop_after_sdp", .vos_alias = "SS_SIP_STOP_SWITCH_AFTER_SDP", .type = SW_PARAM_BOOL,
      .default_value = "On", .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "On: a gateway that sent SDP in a provisional response (early media) owns the call; if it then "
             "fails, the caller gets its code and no other gateway is tried."),
    P(.name = "stop_after_invite_timeout", .vos_alias = "SS_SIP_USER_AGENT_STOP_SWITCH_AFTER_INVITE_TIMEOUT",
      .type = SW_PARAM_BOOL, .default_value = "Off", .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "On: an INVITE timeout ends the call with 408 instead of moving on to the next gateway."),
    P(.name = "switch_limit", .vos_alias = "SS_GATEWAY_SWITCH_LIMIT", .type = SW_PARAM_INT, .default_value = "0",
      .min = 0, .max = 100, .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "Most gateways sent an INVITE for one call, the first one included; 0 means no limit beyond the "
             "chain the script returned."),
    P(.name = "stop_after_rtp_start", .vos_alias = "SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START",
      .type = SW_PARAM_BOOL, .default_value = "On", .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "On: once the media relay has seen RTP from the gateway, its failure ends the call. Has no effect "
             "on calls whose media is not relayed."),
    P(.name = "stop_after_user_busy", .vos_alias = "SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY",
      .type = SW_PARAM_BOOL, .default_value = "On", .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "On: 486 Busy Here or 600 Busy Everywhere ends the call with that code, since the callee is busy "
             "whichever carrier reaches them."),
    P(.name = "switch_until_connect", .vos_alias = "SS_GATEWAY_SWITCH_UNTIL_CONNECT", .type = SW_PARAM_BOOL,
      .default_value = "Off", .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "On: keep moving to the next gateway on any failure before the answer, even after SDP or RTP; "
             "busy, stop codes and the switch limit still end the call."),
    P(.name = "stop_switch_codes", .type = SW_PARAM_INT_LIST, .default_value = "", .min = GW_SWITCH_STOP_CODE_MIN,
      .max = GW_SWITCH_STOP_CODE_MAX, .scopes = SW_SCOPE_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "Per gateway only: final response codes from this gateway that end the call with that code "
             "instead of trying the next gateway (e.g. 403, 404)."),
    P(.name = "max_calls", .type = SW_PARAM_INT, .default_value = "0", .min = 0, .max = 1000000,
      .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "Most calls in progress through one gateway at once (ringing or connected); a gateway at its "
             "limit is skipped as if it had answered 503. 0 means unlimited."),
    P(.name = "max_cps", .type = SW_PARAM_INT, .default_value = "0", .min = 0, .max = 10000,
      .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "Most new calls sent to one gateway in any one-second window; past it the gateway is skipped as "
             "if it had answered 503. 0 means unlimited."),
    {0},
};

/* Durations are bounded by the descriptor (at most 3600 s = 3.6e6 ms) and
 * counts by their ranges, so narrowing to 32 bits cannot truncate. */
static uint32_t read_u32(const sw_api_t *api, const sw_config_t *cfg, const char *name)
{
    int64_t v = api->param_int(cfg, name);
    if (v < 0)
        return 0;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void gw_switch_global_settings_read(const sw_api_t *api, const sw_config_t *module_cfg,
                                    gw_switch_global_settings_t *out)
{
    memset(out, 0, sizeof *out);
    out->switch_limit = read_u32(api, module_cfg, "switch_limit");
    out->stop_after_rtp_start = api->param_int(module_cfg, "stop_after_rtp_start") != 0;
    out->stop_after_user_busy = api->param_int(module_cfg, "stop_after_user_busy") != 0;
    out->switch_until_connect = api->param_int(module_cfg, "switch_until_connect") != 0;
}

bool gw_switch_gateway_settings_read(const sw_api_t *api, const sw_config_t *module_cfg, const char *gateway,
                                     gw_switch_gateway_settings_t *out)
{
    const sw_config_t *gw_view = gateway ? api->param_object(module_cfg, SW_SCOPE_GATEWAY, gateway) : NULL;
    /* the object view falls back to [gw_switch] by itself; without a section
     * the module view gives the same values (and an empty stop list, since
     * stop_switch_codes cannot be written there) */
    const sw_config_t *src = gw_view ? gw_view : module_cfg;
    memset(out, 0, sizeof *out);
    out->invite_timeout_ms = read_u32(api, src, "invite_timeout");
    out->trying_timeout_ms = read_u32(api, src, "trying_timeout");
    out->progress_timeout_ms = read_u32(api, src, "progress_timeout");
    out->ringing_timeout_ms = read_u32(api, src, "ringing_timeout");
    out->stop_after_sdp = api->param_int(src, "stop_after_sdp") != 0;
    out->stop_after_invite_timeout = api->param_int(src, "stop_after_invite_timeout") != 0;
    out->max_calls = read_u32(api, src, "max_calls");
    out->max_cps = read_u32(api, src, "max_cps");
    size_t n = api->param_list_len(src, "stop_switch_codes");
    for (size_t i = 0; i < n; i++)
        gw_switch_stop_code_add(out, (int)api->param_list_int(src, "stop_switch_codes", i));
    return gw_view != NULL;
}

static int compare_gateway_names(const void *a, const void *b)
{
    const gw_switch_named_gateway_t *ga = a, *gb = b;
    return strcmp(ga->name, gb->name);
}

void gw_switch_config_load(const sw_api_t *api, const sw_config_t *module_cfg, gw_switch_config_t *out)
{
    memset(out, 0, sizeof *out);
    gw_switch_global_settings_read(api, module_cfg, &out->global);
    gw_switch_gateway_settings_read(api, module_cfg, NULL, &out->unlisted);
    size_t n = api->object_count(module_cfg, SW_SCOPE_GATEWAY);
    if (n == 0)
        return;
    out->gateways = api->calloc(n, sizeof *out->gateways);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(module_cfg, SW_SCOPE_GATEWAY, i);
        if (!name)
            continue;
        gw_switch_named_gateway_t *g = &out->gateways[out->n_gateways++];
        g->name = api->strdup(name);
        gw_switch_gateway_settings_read(api, module_cfg, name, &g->settings);
    }
    qsort(out->gateways, out->n_gateways, sizeof *out->gateways, compare_gateway_names);
}

void gw_switch_config_free(const sw_api_t *api, gw_switch_config_t *conf)
{
    for (size_t i = 0; i < conf->n_gateways; i++)
        api->free(conf->gateways[i].name);
    api->free(conf->gateways);
    memset(conf, 0, sizeof *conf);
}

const gw_switch_gateway_settings_t *gw_switch_config_gateway(const gw_switch_config_t *conf, const char *name)
{
    if (name && conf->n_gateways) {
        gw_switch_named_gateway_t key = {.name = (char *)name};
        const gw_switch_named_gateway_t *found =
            bsearch(&key, conf->gateways, conf->n_gateways, sizeof *conf->gateways, compare_gateway_names);
        if (found)
            return &found->settings;
    }
    return &conf->unlisted;
}
