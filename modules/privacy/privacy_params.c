/*
 * privacy parameters (PARAMETERS.md section 3) and the copy of their values.
 * The table is the single source for parsing, defaults, --dump-params and
 * doc/modules/privacy.md.
 */
#include "privacy_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}

/* The words are in the order of the enums in identity.h (the value read is
 * the index). */
static const char *const ua_words[] = {"Ignore", "Id", "None", NULL};
static const char *const display_words[] = {"Ignore", "E164", "Caller", NULL};
static const char *const privacy_words[] = {"None", "Passthrough", "Id", NULL};
static const char *const identity_words[] = {"None", "Passthrough", "Caller", NULL};

/* The per-gateway settings may also be written in [privacy]: the default of
 * every gateway, and what a destination without a [gateway] section (a
 * registered phone the script routed to) gets. Every value is read per
 * attempt, so all are reloadable. */
#define GLOBAL_AND_GATEWAY (SW_SCOPE_GLOBAL | SW_SCOPE_GATEWAY)

const sw_param_t privacy_params[] = {
    P(.name = "user_agent_privacy", .vos_alias = "SS_SIP_USER_AGENT_PRIVACY", .type = SW_PARAM_ENUM,
      .default_value = "Ignore", .choices = ua_words, .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "The privacy of calls from registered users (any source that is not a [mapping]) that sent no "
             "Privacy header, as a gateway with privacy = Passthrough receives it: Ignore adds none, Id "
             "`Privacy: id` (and so the anonymous From), None `Privacy: none`."),
    P(.name = "e164_display_from", .vos_alias = "SS_SIP_E164_DISPLAY_FROM", .type = SW_PARAM_ENUM,
      .default_value = "Ignore", .choices = display_words, .scopes = SW_SCOPE_GLOBAL, .flags = SW_PARAM_RELOADABLE,
      .doc = "The display name of the From sent to a gateway: Ignore keeps the caller's, E164 sets the caller "
             "number after the gateway's caller_dial_plan, Caller the caller number as sent. An anonymous "
             "From stays \"Anonymous\"."),
    P(.name = "identity_domain", .type = SW_PARAM_STRING, .default_value = "", .scopes = SW_SCOPE_GLOBAL,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Host of the identities the switch builds (pai or ppi = Caller: <sip:NUMBER@HOST>); empty: the "
             "switch's own address ([core] advertise_address, else the first listen address)."),
    P(.name = "privacy", .type = SW_PARAM_ENUM, .default_value = "None", .choices = privacy_words,
      .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "Privacy header toward the gateway: None sends none, Passthrough the caller's (when its mapping "
             "has support_privacy On, or the user_agent_privacy default for users), Id `Privacy: id`. An id, "
             "header or user privacy sent makes the From anonymous."),
    P(.name = "pai", .type = SW_PARAM_ENUM, .default_value = "None", .choices = identity_words,
      .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "P-Asserted-Identity toward the gateway: None removes it (even one listed in [core] "
             "passthrough_headers), Passthrough copies the caller's, Caller builds <sip:NUMBER@HOST> from the "
             "caller number after caller_dial_plan."),
    P(.name = "ppi", .type = SW_PARAM_ENUM, .default_value = "None", .choices = identity_words,
      .scopes = GLOBAL_AND_GATEWAY, .flags = SW_PARAM_RELOADABLE,
      .doc = "P-Preferred-Identity toward the gateway, with the same choices as pai."),
    P(.name = "caller_dial_plan", .type = SW_PARAM_STRING, .default_value = "", .scopes = GLOBAL_AND_GATEWAY,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "A [dialplan NAME] that rewrites the caller number put in a built PAI/PPI and in an E164 display "
             "name (e.g. national to +E.164); empty: the number as sent. An unknown name is a cfg error."),
    P(.name = "support_privacy", .type = SW_PARAM_BOOL, .default_value = "Off", .scopes = SW_SCOPE_MAPPING,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Per originating [mapping] gateway: On trusts its Privacy header (passed on to gateways with "
             "privacy = Passthrough); Off strips it."),
    {0},
};

const char *privacy_gw_mode_name(privacy_gw_mode_t m)
{
    return m <= PRIVACY_GW_ID ? privacy_words[m] : "?";
}

const char *privacy_identity_mode_name(privacy_identity_mode_t m)
{
    return m <= PRIVACY_IDENTITY_CALLER ? identity_words[m] : "?";
}

static int compare_gateways(const void *a, const void *b)
{
    return strcmp(((const privacy_named_gateway_t *)a)->name, ((const privacy_named_gateway_t *)b)->name);
}

static int compare_mappings(const void *a, const void *b)
{
    return strcmp(((const privacy_named_mapping_t *)a)->name, ((const privacy_named_mapping_t *)b)->name);
}

/* Reads one view's gateway settings; -1 (err set) for an unknown dial plan. */
static int read_gateway(const sw_api_t *api, const sw_config_t *view, const char *where,
                        privacy_gateway_settings_t *out, char *err, size_t errlen)
{
    out->privacy = (privacy_gw_mode_t)api->param_int(view, "privacy");
    out->pai = (privacy_identity_mode_t)api->param_int(view, "pai");
    out->ppi = (privacy_identity_mode_t)api->param_int(view, "ppi");
    const char *plan = api->param_str(view, "caller_dial_plan");
    out->caller_dial_plan = NULL;
    if (!plan || !*plan)
        return 0;
    if (api->dialplan_apply(plan, NULL, NULL, 0) != 0) {
        snprintf(err, errlen, "%s: %s caller_dial_plan = %s: no [dialplan %s] in cfg", api->config_file(view), where,
                 plan, plan);
        return -1;
    }
    out->caller_dial_plan = api->strdup(plan);
    return 0;
}

int privacy_config_load(const sw_api_t *api, const sw_config_t *cfg, privacy_config_t *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->user_agent_privacy = (privacy_ua_mode_t)api->param_int(cfg, "user_agent_privacy");
    out->display_from = (privacy_display_mode_t)api->param_int(cfg, "e164_display_from");
    const char *domain = api->param_str(cfg, "identity_domain");
    out->identity_domain = domain && *domain ? api->strdup(domain) : NULL;
    if (read_gateway(api, cfg, "[privacy]", &out->unlisted, err, errlen) != 0)
        goto bad;
    size_t n = api->object_count(cfg, SW_SCOPE_GATEWAY);
    out->gateways = api->calloc(n + 1, sizeof *out->gateways);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(cfg, SW_SCOPE_GATEWAY, i);
        char where[160];
        snprintf(where, sizeof where, "[gateway %s]", name);
        privacy_named_gateway_t *g = &out->gateways[out->n_gateways++];
        g->name = api->strdup(name);
        if (read_gateway(api, api->param_object(cfg, SW_SCOPE_GATEWAY, name), where, &g->settings, err, errlen))
            goto bad;
    }
    qsort(out->gateways, out->n_gateways, sizeof *out->gateways, compare_gateways);
    n = api->object_count(cfg, SW_SCOPE_MAPPING);
    out->mappings = api->calloc(n + 1, sizeof *out->mappings);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(cfg, SW_SCOPE_MAPPING, i);
        privacy_named_mapping_t *m = &out->mappings[out->n_mappings++];
        m->name = api->strdup(name);
        m->support_privacy = api->param_int(api->param_object(cfg, SW_SCOPE_MAPPING, name), "support_privacy") != 0;
    }
    qsort(out->mappings, out->n_mappings, sizeof *out->mappings, compare_mappings);
    return 0;
bad:
    privacy_config_free(api, out);
    return -1;
}

void privacy_config_free(const sw_api_t *api, privacy_config_t *conf)
{
    for (size_t i = 0; i < conf->n_gateways; i++) {
        api->free(conf->gateways[i].name);
        api->free(conf->gateways[i].settings.caller_dial_plan);
    }
    for (size_t i = 0; i < conf->n_mappings; i++)
        api->free(conf->mappings[i].name);
    api->free(conf->gateways);
    api->free(conf->mappings);
    api->free(conf->unlisted.caller_dial_plan);
    api->free(conf->identity_domain);
    memset(conf, 0, sizeof *conf);
}

const privacy_gateway_settings_t *privacy_config_gateway(const privacy_config_t *conf, const char *name)
{
    if (name && conf->n_gateways) {
        privacy_named_gateway_t key = {.name = (char *)name};
        const privacy_named_gateway_t *g =
            bsearch(&key, conf->gateways, conf->n_gateways, sizeof *conf->gateways, compare_gateways);
        if (g)
            return &g->settings;
    }
    return &conf->unlisted;
}

privacy_source_t privacy_config_source(const privacy_config_t *conf, const char *source)
{
    if (source && conf->n_mappings) {
        privacy_named_mapping_t key = {.name = (char *)source};
        const privacy_named_mapping_t *m =
            bsearch(&key, conf->mappings, conf->n_mappings, sizeof *conf->mappings, compare_mappings);
        if (m)
            return m->support_privacy ? PRIVACY_SOURCE_MAPPING_TRUSTED : PRIVACY_SOURCE_MAPPING_UNTRUSTED;
    }
    return PRIVACY_SOURCE_USER;
}
