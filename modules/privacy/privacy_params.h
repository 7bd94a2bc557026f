/*
 * privacy parameters: the descriptor table the core validates ([privacy],
 * [gateway NAME] and [mapping NAME] sections, VOS3000 aliases) and the
 * settings the module copies out of a cfg view at init/reload, so that the
 * call path never touches cfg (doc/module-abi.md).
 *
 * PARAMETERS.md section 3 is the source of names, defaults and meanings;
 * doc/modules/privacy.md has the generated table.
 */
#ifndef PRIVACY_PARAMS_H
#define PRIVACY_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include <sipswitch/module.h>

#include "identity.h"

extern const sw_param_t privacy_params[];

/* What one routing gateway gets. */
typedef struct privacy_gateway_settings {
    privacy_gw_mode_t privacy;
    privacy_identity_mode_t pai, ppi;
    char *caller_dial_plan;         /* NULL: the caller number as it is */
} privacy_gateway_settings_t;

typedef struct privacy_named_gateway {
    char *name;
    privacy_gateway_settings_t settings;
} privacy_named_gateway_t;

typedef struct privacy_named_mapping {
    char *name;
    bool support_privacy;
} privacy_named_mapping_t;

typedef struct privacy_config {
    privacy_ua_mode_t user_agent_privacy;
    privacy_display_mode_t display_from;
    char *identity_domain;          /* NULL: the switch's own address */
    privacy_gateway_settings_t unlisted; /* destinations without a [gateway] section: the [privacy] values */
    privacy_named_gateway_t *gateways;   /* sorted by name */
    size_t n_gateways;
    privacy_named_mapping_t *mappings;   /* sorted by name */
    size_t n_mappings;
} privacy_config_t;

/* Copies every value out of the module's view into `out` (overwritten) and
 * checks each caller_dial_plan against the cfg's dial plans
 * (api->dialplan_apply). -1 with the reason in err (out freed) when a plan
 * is unknown. */
int privacy_config_load(const sw_api_t *api, const sw_config_t *module_cfg, privacy_config_t *out, char *err,
                        size_t errlen);
void privacy_config_free(const sw_api_t *api, privacy_config_t *conf);

/* The settings of a gateway name (`unlisted` when cfg has no such [gateway]);
 * never NULL. */
const privacy_gateway_settings_t *privacy_config_gateway(const privacy_config_t *conf, const char *name);
/* The trust in a source (api->call_source): a [mapping] by its
 * support_privacy, anything else a user. */
privacy_source_t privacy_config_source(const privacy_config_t *conf, const char *source);

/* The cfg words of the enums, for logs and Lua. */
const char *privacy_gw_mode_name(privacy_gw_mode_t m);
const char *privacy_identity_mode_name(privacy_identity_mode_t m);

#endif
