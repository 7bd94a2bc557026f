/*
 * INVITEs from registered devices: the device proves it holds the account's
 * password (digest, like its REGISTER), and the call engine then takes the
 * call as that account's (api->msg_set_account: no [mapping] is needed for
 * the device's address, and the script reads call.account).
 *
 * Which INVITEs are challenged: a new INVITE (no To tag) whose From user is
 * an account, and that either carries credentials for our realm, or comes
 * from an IP the account is registered from, or from one of its
 * allowed_ips. Anything else is left to the core (which refuses an address
 * no [mapping] covers with 403): a customer gateway whose caller number
 * happens to be an account name is not challenged for it. The module API
 * cannot tell whether a [mapping] covers the source, so a gateway sharing
 * its IP with a registered device of that account would be challenged too
 * (doc/modules/registrar.md).
 */
#include <string.h>

#include "ip_match.h"
#include "registrar.h"
#include "sip_uri.h"

/* The user part of the From URI into out. 0, or -1. */
static int from_user(const sw_msg_t *req, char *out, size_t len)
{
    const char *from = registrar.api->msg_header(req, "From", 0);
    const char *uri;
    size_t uri_len;
    reg_uri_t u;
    if (!from || reg_addr_uri(from, strlen(from), &uri, &uri_len, NULL) != 0 ||
        reg_uri_parse(uri, uri_len, &u) != 0 || u.user_len == 0 || u.user_len >= len)
        return -1;
    memcpy(out, u.user, u.user_len);
    out[u.user_len] = '\0';
    return 0;
}

static int has_to_tag(const sw_msg_t *req)
{
    const char *to = registrar.api->msg_header(req, "To", 0);
    const char *uri, *rest;
    size_t uri_len;
    if (!to || reg_addr_uri(to, strlen(to), &uri, &uri_len, &rest) != 0)
        return 0;
    return reg_param_find(rest, strlen(rest), "tag", NULL, NULL);
}

/* Is the account registered from this IP (any of its bindings)? */
static int registered_from(const char *user, const char *ip)
{
    const reg_aor_t *a = reg_store_find(registrar.store, user);
    for (size_t i = 0; a && i < a->n; i++) {
        char bip[64];
        if (reg_source_split(a->bindings[i]->source, bip, sizeof bip, NULL) == 0 &&
            reg_ip_equal(bip, strlen(bip), ip, strlen(ip)))
            return 1;
    }
    return 0;
}

sw_hook_result_t registrar_handle_invite(sw_msg_t *req, const char *ip)
{
    const sw_api_t *api = registrar.api;
    if (!registrar.set.authenticate_invites || has_to_tag(req))
        return SW_HOOK_CONTINUE; /* re-INVITEs belong to their call */
    char user[REG_USER_MAX + 1];
    if (from_user(req, user, sizeof user) != 0)
        return SW_HOOK_CONTINUE;
    const reg_account_t *acc = reg_accounts_find(registrar.accounts, user);
    if (!acc)
        return SW_HOOK_CONTINUE;
    int listed = acc->n_allowed && reg_account_allows(acc, ip);
    if (!listed && !registered_from(user, ip) && !registrar_has_credentials(req))
        return SW_HOOK_CONTINUE;
    if (!reg_account_allows(acc, ip)) {
        api->msg_reply(req, 403, "Forbidden (address not allowed)", NULL);
        return SW_HOOK_HANDLED;
    }
    sw_hook_result_t verdict = registrar_authenticate(req, ip, user, 0, &acc);
    if (verdict != SW_HOOK_CONTINUE)
        return verdict;
    if (api->msg_set_account(req, acc->name) != 0) {
        /* an account name the core refuses as a token: cfg allowed it, the call engine does not */
        api->log(registrar.self, SW_LOG_ERROR, api->msg_call_id(req),
                 "INVITE from account '%s' authenticated but not accepted as a call source", acc->name);
        api->msg_reply(req, 500, "Server Internal Error (account name)", NULL);
        return SW_HOOK_HANDLED;
    }
    api->stat_add(registrar.st.invites_authenticated, 1);
    return SW_HOOK_CONTINUE;
}
