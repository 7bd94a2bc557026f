/*
 * privacy: caller identity toward routing gateways (PARAMETERS.md section 3,
 * doc/modules/privacy.md). The decision is identity.c's; this file ties it
 * to the call engine through the ABI 1.1 hooks:
 *
 *   on_call_new       the caller's Privacy, P-Asserted-Identity and
 *                     P-Preferred-Identity captured (one allocation per call);
 *   on_attempt_start  the decision for this gateway; the From of the attempt
 *                     (anonymous, or the number as display name) set with
 *                     api->leg_set_from;
 *   on_leg_request    the attempt's INVITE: the three headers removed (the
 *                     core may have copied them from [core]
 *                     passthrough_headers) and written again as decided;
 *   on_call_end       the per-call record freed.
 */
#include <sipswitch/module.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "privacy_params.h"

/* Longest number a dial plan gives (SW_DIALPLAN_MAX_NUMBER in the core). */
#define PRIVACY_NUMBER_MAX 127
/* Identity values copied per header: RFC 3325 allows two (a sip and a tel
 * URI); a few more cost nothing and are still bounded. */
#define PRIVACY_MAX_IDENTITIES 4

static const sw_api_t *api;
static sw_module_t *module;

static const char *const header_names[PRIVACY_HDR_COUNT] = {"Privacy", "P-Asserted-Identity",
                                                            "P-Preferred-Identity"};

static struct {
    privacy_config_t conf;
    char own_host[128];         /* the switch's address for built identities; "" until first needed */
    sw_stat_t *anonymised, *dial_plan_failures;
    sw_stat_t *stripped[PRIVACY_HDR_COUNT], *added[PRIVACY_HDR_COUNT], *passed[PRIVACY_HDR_COUNT];
} pv;

/* What the module keeps on a call. The strings live in `store`. */
typedef struct privacy_call {
    const char *privacy;        /* the caller's Privacy values joined by "; ", or NULL */
    const char *identities[PRIVACY_HDR_COUNT][PRIVACY_MAX_IDENTITIES]; /* PAI, PPI values (Privacy unused) */
    size_t n_identities[PRIVACY_HDR_COUNT];
    bool invite_pending;        /* on_attempt_start decided; its INVITE not seen yet */
    privacy_decision_t decision;
    char number[PRIVACY_NUMBER_MAX + 1]; /* caller number for a built PAI/PPI */
    char store[];
} privacy_call_t;

/* ---- lifecycle ------------------------------------------------------------------------- */

static void register_stats(sw_module_t *self)
{
    pv.anonymised = api->stat_register(self, "anonymised_total",
                                       "INVITEs sent with the anonymous From (Privacy: id, header or user)",
                                       SW_STAT_COUNTER);
    pv.dial_plan_failures = api->stat_register(self, "caller_dial_plan_failures_total",
                                               "Caller numbers a caller_dial_plan could not rewrite (too long, or "
                                               "the plan vanished in a reload): used as they were",
                                               SW_STAT_COUNTER);
    for (int h = 0; h < PRIVACY_HDR_COUNT; h++) {
        char name[128];
        snprintf(name, sizeof name, "identity_headers_stripped_total{header=\"%s\"}", header_names[h]);
        pv.stripped[h] = api->stat_register(self, name, "INVITEs to a gateway without the header the caller sent",
                                            SW_STAT_COUNTER);
        snprintf(name, sizeof name, "identity_headers_added_total{header=\"%s\"}", header_names[h]);
        pv.added[h] = api->stat_register(self, name,
                                         "INVITEs to a gateway with the header built by the switch (Id, Caller, "
                                         "user_agent_privacy)",
                                         SW_STAT_COUNTER);
        snprintf(name, sizeof name, "identity_headers_passed_total{header=\"%s\"}", header_names[h]);
        pv.passed[h] = api->stat_register(self, name, "INVITEs to a gateway with the caller's own header copied",
                                          SW_STAT_COUNTER);
    }
}

static int privacy_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    module = self;
    if (api->size < offsetof(sw_api_t, dialplan_apply) + sizeof api->dialplan_apply) {
        api->set_error(self, "this sipswitch has module ABI %u.%u without dial plans; privacy needs a newer 1.1",
                       api->abi_major, api->abi_minor);
        return -1;
    }
    char err[512];
    if (privacy_config_load(api, cfg, &pv.conf, err, sizeof err) != 0) {
        api->set_error(self, "%s", err);
        return -1;
    }
    register_stats(self);
    api->log(self, SW_LOG_INFO, NULL, "%zu gateway(s), %zu mapping(s); user_agent_privacy %s",
             pv.conf.n_gateways, pv.conf.n_mappings,
             pv.conf.user_agent_privacy == PRIVACY_UA_ID     ? "Id"
             : pv.conf.user_agent_privacy == PRIVACY_UA_NONE ? "None"
                                                             : "Ignore");
    return 0;
}

static int privacy_reload(sw_module_t *self, const sw_config_t *cfg)
{
    privacy_config_t fresh;
    char err[512];
    if (privacy_config_load(api, cfg, &fresh, err, sizeof err) != 0) {
        api->set_error(self, "%s: old settings kept", err);
        return -1;
    }
    privacy_config_free(api, &pv.conf);
    pv.conf = fresh;
    pv.own_host[0] = '\0'; /* [core] advertise or listen may have changed */
    return 0;
}

static void privacy_destroy(sw_module_t *self)
{
    (void)self;
    privacy_config_free(api, &pv.conf);
    memset(&pv, 0, sizeof pv);
}

/* ---- hooks ----------------------------------------------------------------------------- */

/* Copies the caller's identity headers into one allocation. */
static privacy_call_t *capture(sw_msg_t *invite)
{
    size_t need = 0, n_privacy = api->msg_header_count(invite, "Privacy");
    for (size_t i = 0; i < n_privacy; i++)
        need += strlen(api->msg_header(invite, "Privacy", i)) + 2;
    for (int h = PRIVACY_HDR_PAI; h < PRIVACY_HDR_COUNT; h++)
        for (size_t i = 0; i < PRIVACY_MAX_IDENTITIES; i++) {
            const char *v = api->msg_header(invite, header_names[h], i);
            if (!v)
                break;
            need += strlen(v) + 1;
        }
    privacy_call_t *pc = api->calloc(1, sizeof *pc + need + 1);
    char *p = pc->store;
    if (n_privacy) {
        pc->privacy = p;
        for (size_t i = 0; i < n_privacy; i++) {
            const char *v = api->msg_header(invite, "Privacy", i);
            p += sprintf(p, "%s%s", i ? "; " : "", v);
        }
        p++;
    }
    for (int h = PRIVACY_HDR_PAI; h < PRIVACY_HDR_COUNT; h++)
        for (size_t i = 0; i < PRIVACY_MAX_IDENTITIES; i++) {
            const char *v = api->msg_header(invite, header_names[h], i);
            if (!v)
                break;
            size_t len = strlen(v) + 1;
            memcpy(p, v, len);
            pc->identities[h][pc->n_identities[h]++] = p;
            p += len;
        }
    return pc;
}

static sw_hook_result_t on_call_new(sw_module_t *self, sw_call_t *call, sw_msg_t *invite)
{
    (void)self;
    api->call_set_data(call, module, capture(invite));
    return SW_HOOK_CONTINUE;
}

/* The caller number this attempt sends (the script may rewrite it per step). */
static const char *attempt_caller(sw_call_t *call)
{
    sw_attempt_info_t info = {.size = sizeof info};
    size_t n = api->call_attempt_count(call);
    if (n && api->call_attempt(call, n - 1, &info) == 0 && info.caller)
        return info.caller;
    const char *c = api->call_caller(call);
    return c ? c : "";
}

/* number through the gateway's caller_dial_plan into out (unchanged without
 * a plan, or when the plan cannot rewrite it: counted). */
static void caller_number(const privacy_gateway_settings_t *gs, const char *number, char *out, size_t outlen)
{
    if (gs->caller_dial_plan && api->dialplan_apply(gs->caller_dial_plan, number, out, outlen) == 0)
        return;
    if (gs->caller_dial_plan)
        api->stat_add(pv.dial_plan_failures, 1);
    snprintf(out, outlen, "%s", number);
}

static bool needs_number(const privacy_decision_t *d)
{
    return d->send[PRIVACY_HDR_PAI] == PRIVACY_SEND_BUILT || d->send[PRIVACY_HDR_PPI] == PRIVACY_SEND_BUILT ||
           (d->from == PRIVACY_FROM_DISPLAY_NUMBER && d->display_after_dial_plan);
}

static sw_hook_result_t on_attempt_start(sw_module_t *self, sw_call_t *call, sw_leg_t *leg)
{
    (void)self;
    privacy_call_t *pc = api->call_get_data(call, module);
    if (!pc) { /* a call this module did not see start: nothing captured */
        pc = api->calloc(1, sizeof *pc + 1);
        api->call_set_data(call, module, pc);
    }
    const privacy_gateway_settings_t *gs = privacy_config_gateway(&pv.conf, api->leg_gateway(leg));
    privacy_rules_t rules = {
        .user_agent_privacy = pv.conf.user_agent_privacy,
        .display_from = pv.conf.display_from,
        .privacy = gs->privacy,
        .pai = gs->pai,
        .ppi = gs->ppi,
    };
    /* an account (registered device, upstream registration) is a user even
     * if a [mapping] has its name */
    privacy_source_t source = api->call_account(call) ? PRIVACY_SOURCE_USER
                                                       : privacy_config_source(&pv.conf, api->call_source(call));
    privacy_decide(&rules, source, pc->privacy, &pc->decision);
    const char *caller = attempt_caller(call);
    pc->number[0] = '\0';
    if (needs_number(&pc->decision))
        caller_number(gs, caller, pc->number, sizeof pc->number);
    if (pc->decision.from == PRIVACY_FROM_ANONYMOUS) {
        api->leg_set_from(leg, PRIVACY_ANONYMOUS_DISPLAY, PRIVACY_ANONYMOUS_URI);
    } else if (pc->decision.from == PRIVACY_FROM_DISPLAY_NUMBER) {
        const char *display = pc->decision.display_after_dial_plan ? pc->number : caller;
        if (*display)
            api->leg_set_from(leg, display, NULL);
    }
    pc->invite_pending = true;
    return SW_HOOK_CONTINUE;
}

/* The host of the identities the switch builds. */
static const char *identity_host(void)
{
    if (pv.conf.identity_domain)
        return pv.conf.identity_domain;
    if (!pv.own_host[0]) {
        char address[160];
        if (api->local_address(SW_TRANSPORT_UDP, address, sizeof address) == 0 ||
            api->local_address(SW_TRANSPORT_TCP, address, sizeof address) == 0)
            privacy_host_of(address, pv.own_host, sizeof pv.own_host);
    }
    return pv.own_host;
}

/* Writes header h into the INVITE as decided; counts what happened. */
static void write_header(privacy_call_t *pc, sw_msg_t *req, privacy_header_t h)
{
    const char *name = header_names[h];
    api->msg_header_remove(req, name); /* whatever the core copied (passthrough_headers) */
    bool caller_had = h == PRIVACY_HDR_PRIVACY ? pc->privacy != NULL : pc->n_identities[h] > 0;
    bool sent = false;
    switch (pc->decision.send[h]) {
    case PRIVACY_SEND_NOTHING:
        break;
    case PRIVACY_SEND_CALLERS:
        if (h == PRIVACY_HDR_PRIVACY)
            sent = pc->privacy && api->msg_header_add(req, name, pc->privacy) == 0;
        for (size_t i = 0; h != PRIVACY_HDR_PRIVACY && i < pc->n_identities[h]; i++)
            sent |= api->msg_header_add(req, name, pc->identities[h][i]) == 0;
        if (sent)
            api->stat_add(pv.passed[h], 1);
        break;
    case PRIVACY_SEND_BUILT:
        if (h == PRIVACY_HDR_PRIVACY) {
            sent = api->msg_header_add(req, name, pc->decision.privacy_value) == 0;
        } else {
            char uri[PRIVACY_NUMBER_MAX + 160];
            sent = privacy_identity_uri(pc->number, identity_host(), uri, sizeof uri) &&
                   api->msg_header_add(req, name, uri) == 0;
        }
        if (sent)
            api->stat_add(pv.added[h], 1);
        break;
    }
    if (caller_had && !sent)
        api->stat_add(pv.stripped[h], 1);
}

static sw_hook_result_t on_leg_request(sw_module_t *self, sw_call_t *call, sw_leg_t *leg, sw_msg_t *req)
{
    (void)self, (void)leg;
    privacy_call_t *pc = api->call_get_data(call, module);
    if (!pc || !pc->invite_pending || strcmp(api->msg_method(req), "INVITE") != 0)
        return SW_HOOK_CONTINUE;
    pc->invite_pending = false;
    for (int h = 0; h < PRIVACY_HDR_COUNT; h++)
        write_header(pc, req, (privacy_header_t)h);
    if (pc->decision.from == PRIVACY_FROM_ANONYMOUS)
        api->stat_add(pv.anonymised, 1);
    if (api->log_enabled(SW_LOG_DEBUG)) {
        static const char *const how[] = {"none", "the caller's", "built"};
        const char *value = privacy_outbound_value(&pc->decision, pc->privacy);
        api->log(module, SW_LOG_DEBUG, api->call_sip_id(call), "gateway %s: Privacy %s, PAI %s, PPI %s%s",
                 api->leg_gateway(leg), value ? value : "none", how[pc->decision.send[PRIVACY_HDR_PAI]],
                 how[pc->decision.send[PRIVACY_HDR_PPI]],
                 pc->decision.from == PRIVACY_FROM_ANONYMOUS ? ", From anonymous" : "");
    }
    return SW_HOOK_CONTINUE;
}

static void on_call_end(sw_module_t *self, sw_call_t *call, const sw_call_end_t *end)
{
    (void)self, (void)end;
    privacy_call_t *pc = api->call_get_data(call, module);
    if (!pc)
        return;
    api->call_set_data(call, module, NULL);
    api->free(pc);
}

/* ---- Lua: sw.privacy.gateway(name) --------------------------------------------------------- */

/* The identity settings of a routing gateway: privacy, pai, ppi (cfg words)
 * and caller_dial_plan ("" for none). A script may send a call that asks for
 * privacy only through gateways that honour it. */
static int lua_gateway(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    const privacy_gateway_settings_t *gs = privacy_config_gateway(&pv.conf, api->lua_arg_str(args, 0, NULL));
    const char *words[] = {privacy_gw_mode_name(gs->privacy), privacy_identity_mode_name(gs->pai),
                           privacy_identity_mode_name(gs->ppi), gs->caller_dial_plan ? gs->caller_dial_plan : ""};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        api->lua_push_str(ret, words[i], strlen(words[i]));
    return 0;
}

static const sw_lua_func_t privacy_lua[] = {
    {.size = sizeof(sw_lua_func_t), .name = "gateway", .args = "s", .fn = lua_gateway,
     .doc = "gateway(name) returns its privacy, pai and ppi settings (\"None\", \"Passthrough\", \"Id\" or "
            "\"Caller\") and its caller_dial_plan (\"\" for none); a name without a [gateway] section gets the "
            "[privacy] values."},
    {0},
};

static const sw_hooks_t privacy_hooks = {
    .size = sizeof(sw_hooks_t),
    .on_call_new = on_call_new,
    .on_leg_request = on_leg_request,
    .on_call_end = on_call_end,
    .on_attempt_start = on_attempt_start,
};

static const sw_module_desc_t privacy_desc = {
    SW_MODULE_DESC_INIT,
    .name = "privacy",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Caller identity toward gateways: Privacy, P-Asserted-Identity, P-Preferred-Identity, "
                   "the anonymous From",
    .params = privacy_params,
    .lua_funcs = privacy_lua,
    .hooks = &privacy_hooks,
    .init = privacy_init,
    .reload = privacy_reload,
    .destroy = privacy_destroy,
};

SW_MODULE(privacy_desc);
