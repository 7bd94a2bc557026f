/*
 * gw_switch parameters: the descriptor table the core validates ([gw_switch]
 * and [gateway NAME] sections, VOS3000 aliases, ranges, file:line errors) and
 * the typed settings the module copies out of a cfg view.
 *
 * The settings are copied, not read on every call, because a cfg view is only
 * valid during the module's init/reload (doc/module-abi.md): the call path
 * must never touch it. gw_switch_config_load() does that copy for the whole
 * [gw_switch] section and every [gateway NAME] section at once.
 *
 * The source of truth for names, defaults and ranges is
 * /work/shared/PARAMETERS.md section 1; doc/modules/gw_switch.md has the table.
 */
#ifndef GW_SWITCH_PARAMS_H
#define GW_SWITCH_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sipswitch/module.h>

/* Response codes a stop list may hold (the descriptor's range: any SIP
 * code). Only failure codes (>= 300) ever reach the decision, so a 1xx/2xx in
 * the list is harmless and never matches; accepting it keeps a list copied
 * from VOS3000 loadable. */
#define GW_SWITCH_STOP_CODE_MIN 100
#define GW_SWITCH_STOP_CODE_MAX 699

/* The module's parameters, ended by {0}; handed to the core in the module
 * descriptor (ABI 1.1) and to sw_cfg_add_owner() by the tests. */
extern const sw_param_t gw_switch_params[];

/* What one routing gateway is allowed: the [gateway NAME] value when written
 * there, otherwise the [gw_switch] value, otherwise the default. */
typedef struct gw_switch_gateway_settings {
    uint32_t invite_timeout_ms;     /* SS_SIP_TIMEOUT_INVITE: no response at all */
    uint32_t trying_timeout_ms;     /* SS_SIP_TIMEOUT_TRYING: after 100, nothing more */
    uint32_t progress_timeout_ms;   /* SS_SIP_TIMEOUT_SESSION_PROGRESS: after 183 */
    uint32_t ringing_timeout_ms;    /* SS_SIP_TIMEOUT_RINGING: after 180, no answer */
    bool stop_after_sdp;            /* SS_SIP_STOP_SWITCH_AFTER_SDP */
    bool stop_after_invite_timeout; /* SS_SIP_USER_AGENT_STOP_SWITCH_AFTER_INVITE_TIMEOUT */
    uint32_t max_calls;             /* concurrent calls through it; 0 = unlimited */
    uint32_t max_cps;               /* new attempts per second; 0 = unlimited */
    /* stop_switch_codes as a bitmap indexed by the code itself: the decision
     * asks "is this code in the list?" once per failed attempt, and a bit test
     * answers in O(1) whatever the list length (88 bytes per gateway). */
    uint16_t n_stop_codes;
    uint8_t stop_codes[GW_SWITCH_STOP_CODE_MAX / 8 + 1];
} gw_switch_gateway_settings_t;

/* Rules VOS3000 only has globally ("per gw: no"). */
typedef struct gw_switch_global_settings {
    uint32_t switch_limit;          /* SS_GATEWAY_SWITCH_LIMIT: most gateways tried, 0 = unlimited */
    bool stop_after_rtp_start;      /* SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START */
    bool stop_after_user_busy;      /* SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY */
    bool switch_until_connect;      /* SS_GATEWAY_SWITCH_UNTIL_CONNECT */
} gw_switch_global_settings_t;

/* Adds a code to a gateway's stop list (codes outside 100..699 are ignored:
 * the core has already refused them in cfg). */
static inline void gw_switch_stop_code_add(gw_switch_gateway_settings_t *gw, int code)
{
    if (code < GW_SWITCH_STOP_CODE_MIN || code > GW_SWITCH_STOP_CODE_MAX)
        return;
    uint8_t bit = (uint8_t)(1u << (code % 8));
    if (!(gw->stop_codes[code / 8] & bit)) {
        gw->stop_codes[code / 8] |= bit;
        gw->n_stop_codes++;
    }
}

static inline bool gw_switch_is_stop_code(const gw_switch_gateway_settings_t *gw, int code)
{
    if (code < GW_SWITCH_STOP_CODE_MIN || code > GW_SWITCH_STOP_CODE_MAX)
        return false;
    return (gw->stop_codes[code / 8] >> (code % 8)) & 1u;
}

/* Reads the [gw_switch] rules from the module's view. */
void gw_switch_global_settings_read(const sw_api_t *api, const sw_config_t *module_cfg,
                                    gw_switch_global_settings_t *out);

/* Reads the effective settings of one gateway through the API's object view
 * (param_object falls back to [gw_switch], then to the defaults). Returns
 * true when a [gateway NAME] section exists; false when it does not, e.g. a
 * registered contact the script routed to, and then `out` holds the
 * [gw_switch] values, which is what such a destination gets. */
bool gw_switch_gateway_settings_read(const sw_api_t *api, const sw_config_t *module_cfg, const char *gateway,
                                     gw_switch_gateway_settings_t *out);

/* Everything the module needs from cfg, copied at init/reload so the call
 * path never touches a cfg view. Gateways are sorted by name for bsearch. */
typedef struct gw_switch_named_gateway {
    char *name;
    gw_switch_gateway_settings_t settings;
} gw_switch_named_gateway_t;

typedef struct gw_switch_config {
    gw_switch_global_settings_t global;
    gw_switch_gateway_settings_t unlisted;  /* for destinations without a [gateway] section */
    gw_switch_named_gateway_t *gateways;
    size_t n_gateways;
} gw_switch_config_t;

/* Fills `out` (which it overwrites) from the module's view; memory comes from
 * api->calloc/strdup, so it never fails. */
void gw_switch_config_load(const sw_api_t *api, const sw_config_t *module_cfg, gw_switch_config_t *out);
void gw_switch_config_free(const sw_api_t *api, gw_switch_config_t *conf);

/* The settings for a gateway name in O(log n); `unlisted` when there is no
 * such [gateway] section. Never NULL. */
const gw_switch_gateway_settings_t *gw_switch_config_gateway(const gw_switch_config_t *conf, const char *name);

#endif
