/*
 * registrar: devices register to the switch (PARAMETERS.md section 4,
 * inbound; RFC 3261 section 10), and the switch registers to carriers
 * (section 4, outbound: outbound.c). This file is the module glue: parameters
 * and accounts, lifecycle, the on_request hook, the expiry timer, metrics,
 * the route script's sw.registrar functions, and what a binding change
 * sets off (other modules' on_register, the disk, metrics).
 * doc/modules/registrar.md describes it for operators.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accounts_file.h"
#include "ip_match.h"
#include "outbound.h"
#include "registrar.h"
#include "registrar_bindings_api.h"
#include "sip_uri.h"

_Static_assert((int)REG_CHANGE_ADDED == (int)SW_BINDING_ADDED && (int)REG_CHANGE_REFRESHED == (int)SW_BINDING_REFRESHED &&
                   (int)REG_CHANGE_REMOVED == (int)SW_BINDING_REMOVED && (int)REG_CHANGE_EXPIRED == (int)SW_BINDING_EXPIRED,
               "bindings.h's changes follow sw_binding_event_kind_t");

registrar_t registrar;

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define SECONDS(s) ((int64_t)(s) * 1000)

static const char *const challenge_codes[] = {"401", "407", NULL};
static const char *const transports[] = {"udp", "tcp", NULL};
/* the order of ob_privacy_t */
static const char *const privacy_words[] = {"Ignore", "Id", "None", NULL};

static const sw_param_t registrar_params[] = {
    P(.name = "endpoint_expire", .vos_alias = "SS_ENDPOINT_EXPIRE", .type = SW_PARAM_DURATION,
      .default_value = "3600", .min = SECONDS(60), .max = SECONDS(86400), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "Longest registration granted to a device that is not behind NAT; a device asking for more gets this."),
    P(.name = "endpoint_nat_expire", .vos_alias = "SS_ENDPOINT_NAT_EXPIRE", .type = SW_PARAM_DURATION,
      .default_value = "300", .min = SECONDS(30), .max = SECONDS(86400), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "Longest registration granted to a device behind NAT (its Via or Contact address differs from the "
             "packet's source), so that it refreshes its NAT pinhole at least this often."),
    P(.name = "min_expires", .type = SW_PARAM_DURATION, .default_value = "60", .min = SECONDS(1),
      .max = SECONDS(3600), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "A device asking for a shorter registration than this (other than 0, which unregisters) gets 423 "
             "Interval Too Brief with Min-Expires."),
    P(.name = "register_retry", .vos_alias = "SS_ENDPOINT_REGISTER_RETRY", .type = SW_PARAM_INT,
      .default_value = "6", .min = 0, .max = 999, .flags = SW_PARAM_RELOADABLE,
      .doc = "Failed registrations (bad credentials) in a row allowed for one account from one IP before that "
             "account is suspended from that IP; 0: never."),
    P(.name = "register_suspend", .vos_alias = "SS_ENDPOINT_REGISTER_SUSPEND", .type = SW_PARAM_DURATION,
      .default_value = "180", .min = SECONDS(1), .max = SECONDS(3600), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "How long a suspended account is refused (403) from the IP that failed; 60-3600, lower only with "
             "allow_short_intervals."),
    P(.name = "register_replace", .vos_alias = "SS_ENDPOINT_REGISTER_REPLACE", .type = SW_PARAM_BOOL,
      .default_value = "On", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: a registration of an account from another device (another Call-ID and contact) replaces the "
             "current one. Off: it is refused (403) while the current one is valid."),
    P(.name = "auth_max_retry", .vos_alias = "SS_AUTHENTICATION_MAX_RETRY", .type = SW_PARAM_INT,
      .default_value = "6", .min = 0, .max = 999, .flags = SW_PARAM_RELOADABLE,
      .doc = "Failed digest authentications in a row (REGISTER or INVITE) from one IP before the IP is blocked; "
             "0: never block."),
    P(.name = "auth_failed_suspend", .vos_alias = "SS_AUTHENTICATION_FAILED_SUSPEND", .type = SW_PARAM_DURATION,
      .default_value = "180", .min = SECONDS(1), .max = SECONDS(3600), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "How long a blocked IP stays blocked: the core drops everything from it before parsing meanwhile "
             "(GET /api/v1/blocked lists it); 60-3600, lower only with allow_short_intervals."),
    P(.name = "challenge_code", .vos_alias = "SS_SIP_AUTHENTICATION_CODE", .type = SW_PARAM_ENUM,
      .default_value = "401", .choices = challenge_codes, .flags = SW_PARAM_RELOADABLE,
      .doc = "Challenge the switch sends: 401 with WWW-Authenticate, or 407 with Proxy-Authenticate."),
    P(.name = "realm", .type = SW_PARAM_STRING, .default_value = "sipswitch", .flags = SW_PARAM_RELOADABLE,
      .doc = "Digest realm of the challenges (devices hash their password with it)."),
    P(.name = "auth_algorithms", .type = SW_PARAM_STRING_LIST, .default_value = "MD5, SHA-256",
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Digest algorithms offered (MD5, SHA-256), one challenge header each in this order (RFC 8760). MD5 "
             "first by default: many devices read only the first challenge and know only MD5; a device may answer "
             "either. Write SHA-256 first (or alone) for fleets that support it."),
    P(.name = "nonce_lifetime", .type = SW_PARAM_DURATION, .default_value = "300", .min = SECONDS(10),
      .max = SECONDS(86400), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "How long a nonce may be used (with increasing nonce counts); after it the device is challenged "
             "again with stale=true."),
    P(.name = "max_contacts", .type = SW_PARAM_INT, .default_value = "10", .min = 1, .max = 100,
      .flags = SW_PARAM_RELOADABLE, .doc = "Most contacts one account may have bound at once (403 beyond)."),
    P(.name = "authenticate_invites", .type = SW_PARAM_BOOL, .default_value = "On", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: an INVITE from a registered device (From user an account, sent from where it registered or "
             "from its allowed_ips, or carrying credentials) is challenged and, once authenticated, taken as a "
             "call from that account without a [mapping]."),
    P(.name = "db", .type = SW_PARAM_STRING, .default_value = "/var/lib/sipswitch/registrar.db",
      .doc = "SQLite file keeping the bindings across restarts (created if missing, with its directory); a "
             "relative path is relative to this cfg file's directory; empty: bindings are not kept."),
    P(.name = "db_write_interval", .type = SW_PARAM_DURATION, .default_value = "1", .min = 100,
      .max = SECONDS(60), .unit = "s",
      .doc = "Binding changes are committed to the db file in one transaction this often, off the signaling "
             "thread."),
    P(.name = "accounts_file", .type = SW_PARAM_STRING, .default_value = "", .flags = SW_PARAM_RELOADABLE,
      .doc = "More accounts, one per line: name,password[,caller_number[,allowed_ips separated by spaces]] "
             "(doc/modules/registrar.md); relative to this cfg file's directory; read at start and at every "
             "reload."),
    /* outbound registration: [registrar], and [registration NAME] (outbound.h) */
    P(.name = "user_agent_expire", .vos_alias = "SS_SIP_USER_AGENT_EXPIRE", .type = SW_PARAM_STRING,
      .default_value = "Auto", .scopes = SW_SCOPE_GLOBAL | SW_SCOPE_REGISTRATION, .flags = SW_PARAM_RELOADABLE,
      .doc = "Expiry the switch asks for when it registers to a carrier: Auto asks 3600 s and takes what the "
             "carrier grants; a number (20-7200 s) asks exactly that. Either way it refreshes at half the granted "
             "time."),
    P(.name = "user_agent_retry_delay", .vos_alias = "SS_SIP_USER_AGENT_RETRY_DELAY", .type = SW_PARAM_DURATION,
      .default_value = "60", .min = SECONDS(1), .max = SECONDS(600), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "After a failed registration to a carrier (error answer, timeout, unreachable) the switch retries "
             "after this fixed delay plus 0-5 % of it at random (no backoff); 30-600 s, lower only with "
             "allow_short_intervals."),
    P(.name = "user_agent_send_unregister", .vos_alias = "SS_SIP_USER_AGENT_SEND_UNREGISTER", .type = SW_PARAM_BOOL,
      .default_value = "On", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: a REGISTER with Expires: 0 goes to the carrier when a reload removes or changes a registration, "
             "and at shutdown."),
    P(.name = "user_agent_auth_retry", .vos_alias = "SS_SIP_AUTHENTICATION_RETRY", .type = SW_PARAM_INT,
      .default_value = "6", .min = 0, .max = 20, .flags = SW_PARAM_RELOADABLE,
      .doc = "401/407 challenges from a carrier answered in a row before the registration fails; a challenge "
             "with stale=true does not count."),
    P(.name = "user_agent_auth_timeout", .vos_alias = "SS_SIP_AUTHENTICATION_TIMEOUT", .type = SW_PARAM_DURATION,
      .default_value = "10", .min = SECONDS(1), .max = SECONDS(300), .unit = "s", .flags = SW_PARAM_RELOADABLE,
      .doc = "Time allowed for a REGISTER answering a carrier's challenge to be answered; past it the attempt "
             "fails like a timeout (408)."),
    P(.name = "allow_short_intervals", .type = SW_PARAM_BOOL, .default_value = "Off", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: accept user_agent_retry_delay below 30 s, and auth_failed_suspend and register_suspend below "
             "60 s (tests), with a warning in the log. Never for production."),
    P(.name = "registrar", .type = SW_PARAM_STRING, .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_REQUIRED | SW_PARAM_RELOADABLE,
      .doc = "The carrier's registrar, host[:port]: an IP address ([IPv6] in brackets) or a name resolved at "
             "start and at every reload. It is the Request-URI and the To/From domain of the REGISTERs."),
    P(.name = "port", .type = SW_PARAM_INT, .min = 1, .max = 65535, .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_RELOADABLE, .doc = "The registrar's port when `registrar` names none (default 5060)."),
    P(.name = "user", .type = SW_PARAM_STRING, .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_REQUIRED | SW_PARAM_RELOADABLE,
      .doc = "The user the switch registers as (sip:user@registrar in To and From)."),
    P(.name = "auth_user", .type = SW_PARAM_STRING, .default_value = "", .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_RELOADABLE, .doc = "The digest username for the carrier's challenges; empty: user."),
    P(.name = "outbound_proxy", .type = SW_PARAM_STRING, .default_value = "", .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "host[:port] the REGISTERs are sent to instead of the registrar (resolved like it); the carrier's "
             "calls may come from it too. Empty: none."),
    P(.name = "transport", .type = SW_PARAM_ENUM, .default_value = "udp", .choices = transports,
      .scopes = SW_SCOPE_REGISTRATION, .flags = SW_PARAM_RELOADABLE, .doc = "Transport toward the carrier."),
    P(.name = "contact_user", .type = SW_PARAM_STRING, .default_value = "", .scopes = SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "The user of the Contact registered (sip:contact_user@switch); the carrier's INVITEs for it, or for "
             "user, are calls from the registration. Empty: user."),
    P(.name = "privacy", .type = SW_PARAM_ENUM, .default_value = "Ignore", .choices = privacy_words,
      .scopes = SW_SCOPE_REGISTRATION, .flags = SW_PARAM_RELOADABLE,
      .doc = "Privacy header on the REGISTERs: Ignore none, Id `Privacy: id`, None `Privacy: none` "
             "(SS_SIP_USER_AGENT_PRIVACY belongs to module privacy, which the registrar cannot read)."),
    /* [account NAME], and the carrier's password in [registration NAME] */
    P(.name = "password", .type = SW_PARAM_STRING, .scopes = SW_SCOPE_ACCOUNT | SW_SCOPE_REGISTRATION,
      .flags = SW_PARAM_REQUIRED | SW_PARAM_RELOADABLE,
      .doc = "The account's password; the device's digest username is the account NAME, which is also the user "
             "part of the address it registers (sip:NAME@...). In [registration NAME]: the password the carrier "
             "gave."),
    P(.name = "allowed_ips", .type = SW_PARAM_STRING_LIST, .default_value = "", .scopes = SW_SCOPE_ACCOUNT,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "IP addresses or CIDR blocks the account may register and call from (403 elsewhere); empty: any."),
    P(.name = "caller_number", .type = SW_PARAM_STRING, .default_value = "", .scopes = SW_SCOPE_ACCOUNT,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "The account's caller number, for the route script (sw.registrar.caller_number(call.account))."),
    {0},
};

/* ---- helpers shared by the glue files --------------------------------------------------- */

int registrar_source(const sw_msg_t *req, char *ip, size_t iplen, unsigned *port)
{
    return reg_source_split(registrar.api->msg_source(req), ip, iplen, port);
}

/* "sip:1001@example.com", "<sip:1001@host>" or "1001": the account name. */
int registrar_user_of(const char *text, size_t len, char *user, size_t ulen)
{
    const char *uri;
    size_t uri_len;
    reg_uri_t u;
    if (memchr(text, ':', len) && reg_addr_uri(text, len, &uri, &uri_len, NULL) == 0 &&
        reg_uri_parse(uri, uri_len, &u) == 0) {
        text = u.user;
        len = u.user_len;
    }
    if (len == 0 || len >= ulen || memchr(text, '\0', len))
        return -1;
    memcpy(user, text, len);
    user[len] = '\0';
    return 0;
}

void registrar_binding_dest(const reg_binding_t *b, char *out, size_t len)
{
    const char *proto = b->transport == SW_TRANSPORT_UDP ? "udp" : "tcp";
    /* a device behind NAT, or on TCP (its connection), is reached where it
     * registered from; otherwise at its contact when that names an IP */
    reg_uri_t u;
    if (!b->behind_nat && b->transport == SW_TRANSPORT_UDP &&
        reg_uri_parse(b->contact, strlen(b->contact), &u) == 0 && reg_ip_literal(u.host, u.host_len)) {
        int v6 = memchr(u.host, ':', u.host_len) != NULL;
        snprintf(out, len, "%s:%s%.*s%s:%u", proto, v6 ? "[" : "", (int)u.host_len, u.host, v6 ? "]" : "",
                 u.port ? u.port : 5060);
        return;
    }
    snprintf(out, len, "%s:%s", proto, b->source);
}

static void persist_row(const reg_binding_t *b, reg_persist_row_t *row)
{
    const sw_api_t *api = registrar.api;
    int64_t left_ms = (int64_t)b->expires_at_ms - (int64_t)api->now_ms();
    *row = (reg_persist_row_t){
        .id = b->id,
        .user = b->aor->user,
        .aor = b->aor->aor ? b->aor->aor : "",
        .contact = b->contact,
        .call_id = b->call_id,
        .source = b->source,
        .user_agent = b->user_agent,
        .cseq = b->cseq,
        .q = b->q,
        .transport = b->transport,
        .behind_nat = b->behind_nat,
        .socket_id = b->socket_id,
        .expires_wall_ms = (int64_t)api->wallclock_ms() + left_ms,
        .registered_wall_ms = b->registered_wall_ms,
        .updated_wall_ms = b->updated_wall_ms,
    };
}

static void announce(const reg_binding_t *b, reg_change_t kind)
{
    const sw_api_t *api = registrar.api;
    sw_binding_event_t ev = {
        .size = sizeof ev,
        .kind = (sw_binding_event_kind_t)kind,
        .aor = b->aor->aor ? b->aor->aor : b->aor->user,
        .account = b->aor->user,
        .contact = b->contact,
        .source = b->source,
        .transport = (sw_transport_t)b->transport,
        .behind_nat = b->behind_nat,
        .expires = b->expires_s,
        .socket_id = b->socket_id,
    };
    api->binding_event(registrar.self, &ev);
}

void registrar_on_change(const reg_binding_t *b, reg_change_t kind, void *ud)
{
    (void)ud;
    const sw_api_t *api = registrar.api;
    announce(b, kind);
    if (kind == REG_CHANGE_ADDED || kind == REG_CHANGE_REFRESHED) {
        reg_persist_row_t row;
        persist_row(b, &row);
        reg_persist_save(registrar.persist, &row);
    } else {
        reg_persist_delete(registrar.persist, b->id);
        api->stat_add(kind == REG_CHANGE_EXPIRED ? registrar.st.expired : registrar.st.unregistrations, 1);
    }
    if (kind != REG_CHANGE_REFRESHED)
        api->log(registrar.self, SW_LOG_INFO, NULL, "%s %s: %s from %s%s", b->aor->user,
                 kind == REG_CHANGE_ADDED ? "bound" : kind == REG_CHANGE_EXPIRED ? "expired" : "removed", b->contact,
                 b->source, b->behind_nat ? " (behind NAT)" : "");
}

/* ---- settings and accounts --------------------------------------------------------------- */

static int read_settings(sw_module_t *self, const sw_config_t *cfg, registrar_settings_t *s)
{
    const sw_api_t *api = registrar.api;
    memset(s, 0, sizeof *s);
    s->expire_s = (uint32_t)(api->param_int(cfg, "endpoint_expire") / 1000);
    s->nat_expire_s = (uint32_t)(api->param_int(cfg, "endpoint_nat_expire") / 1000);
    s->min_expires_s = (uint32_t)(api->param_int(cfg, "min_expires") / 1000);
    s->replace = (int)api->param_int(cfg, "register_replace");
    s->challenge_code = api->param_int(cfg, "challenge_code") == 1 ? 407 : 401;
    s->nonce_lifetime_ms = (uint64_t)api->param_int(cfg, "nonce_lifetime");
    s->max_contacts = (size_t)api->param_int(cfg, "max_contacts");
    s->authenticate_invites = (int)api->param_int(cfg, "authenticate_invites");
    const char *realm = api->param_str(cfg, "realm");
    if (!realm || !*realm || strlen(realm) >= sizeof s->realm || strpbrk(realm, "\"\\\r\n")) {
        return registrar_cfg_error(self, cfg, "realm", "[registrar] realm must be 1-%zu characters without quotes "
                                   "or backslashes", sizeof s->realm - 1);
    }
    snprintf(s->realm, sizeof s->realm, "%s", realm);
    size_t n = api->param_list_len(cfg, "auth_algorithms");
    for (size_t i = 0; i < n; i++) {
        reg_digest_alg_t alg;
        const char *name = api->param_list_str(cfg, "auth_algorithms", i);
        if (reg_digest_alg_parse(name, &alg) != 0) {
            return registrar_cfg_error(self, cfg, "auth_algorithms",
                                       "[registrar] auth_algorithms: '%s' is not MD5 or SHA-256", name);
        }
        int dup = 0;
        for (size_t k = 0; k < s->n_algs; k++)
            dup |= s->algs[k] == alg;
        if (!dup)
            s->algs[s->n_algs++] = alg;
    }
    if (s->n_algs == 0) {
        return registrar_cfg_error(self, cfg, "auth_algorithms",
                                   "[registrar] auth_algorithms is empty: offer MD5, SHA-256 or both");
    }
    return 0;
}

int registrar_cfg_error(sw_module_t *self, const sw_config_t *view, const char *key, const char *fmt, ...)
{
    const sw_api_t *api = registrar.api;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *file = api->config_file(view);
    int line = key ? api->param_line(view, key) : 0;
    if (line > 0)
        api->set_error(self, "%s:%d: %s", file ? file : "cfg", line, why);
    else
        api->set_error(self, "%s: %s", file ? file : "cfg", why);
    return -1;
}

static char *resolve_path(const sw_config_t *cfg, const char *path)
{
    const sw_api_t *api = registrar.api;
    const char *file = api->config_file(cfg);
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (path[0] == '/' || !slash)
        return api->strdup(path);
    size_t n = (size_t)(slash - file) + 1 + strlen(path) + 1;
    char *out = api->alloc(n);
    snprintf(out, n, "%.*s/%s", (int)(slash - file), file, path);
    return out;
}

static reg_accounts_t *read_accounts(sw_module_t *self, const sw_config_t *cfg, const char *realm)
{
    const sw_api_t *api = registrar.api;
    reg_accounts_t *accounts = reg_accounts_new();
    size_t n = api->object_count(cfg, SW_SCOPE_ACCOUNT);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(cfg, SW_SCOPE_ACCOUNT, i);
        const sw_config_t *view = api->param_object(cfg, SW_SCOPE_ACCOUNT, name);
        if (!name || !view || strlen(name) > REG_USER_MAX) {
            api->set_error(self, "[account %s]: the name is longer than %d characters", name ? name : "?",
                           REG_USER_MAX);
            reg_accounts_free(accounts);
            return NULL;
        }
        reg_account_t *acc = reg_accounts_add(accounts, name, api->param_str(view, "password"), realm,
                                              api->param_str(view, "caller_number"));
        if (!acc) {
            api->set_error(self, "[account %s] is defined twice", name);
            reg_accounts_free(accounts);
            return NULL;
        }
        for (size_t k = 0, m = api->param_list_len(view, "allowed_ips"); k < m; k++) {
            const char *entry = api->param_list_str(view, "allowed_ips", k);
            if (reg_account_allow(acc, entry) != 0) {
                registrar_cfg_error(self, view, "allowed_ips",
                                    "[account %s] allowed_ips: '%s' is not an IP address or CIDR block", name, entry);
                reg_accounts_free(accounts);
                return NULL;
            }
        }
    }
    const char *file = api->param_str(cfg, "accounts_file");
    if (file && *file) {
        char *path = resolve_path(cfg, file), err[512];
        long loaded = reg_accounts_load_file(accounts, path, realm, err, sizeof err);
        api->free(path);
        if (loaded < 0) {
            api->set_error(self, "accounts_file %s", err);
            reg_accounts_free(accounts);
            return NULL;
        }
    }
    return accounts;
}

/* Bindings of accounts that are gone (reload, or a db from another cfg). */
typedef struct orphans {
    char **users;
    size_t n, cap;
} orphans_t;

static int collect_orphan(const reg_aor_t *a, void *ud)
{
    orphans_t *o = ud;
    if (reg_accounts_find(registrar.accounts, a->user))
        return 0;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->users = registrar.api->realloc(o->users, o->cap * sizeof *o->users);
    }
    o->users[o->n++] = registrar.api->strdup(a->user);
    return 0;
}

static void drop_orphans(void)
{
    orphans_t o = {0};
    reg_store_each(registrar.store, collect_orphan, &o);
    for (size_t i = 0; i < o.n; i++) {
        registrar.api->log(registrar.self, SW_LOG_NOTICE, NULL, "account '%s' is no longer in cfg: its bindings go",
                           o.users[i]);
        reg_store_remove_user(registrar.store, o.users[i], registrar_on_change, NULL);
        registrar.api->free(o.users[i]);
    }
    registrar.api->free(o.users);
}

/* ---- the hook ----------------------------------------------------------------------------- */

static sw_hook_result_t on_request(sw_module_t *self, sw_msg_t *req)
{
    (void)self;
    const sw_api_t *api = registrar.api;
    char ip[64];
    unsigned port = 0;
    if (registrar_source(req, ip, sizeof ip, &port) != 0)
        return SW_HOOK_CONTINUE; /* (a blocked IP's requests never get here: the core drops them) */
    const char *method = api->msg_method(req);
    if (strcmp(method, "REGISTER") == 0)
        return registrar_handle_register(req, ip, port);
    if (strcmp(method, "INVITE") == 0) {
        if (outbound_claim_invite(req, ip))
            return SW_HOOK_CONTINUE; /* a carrier's call to our registered contact: not challenged */
        return registrar_handle_invite(req, ip);
    }
    return SW_HOOK_CONTINUE;
}

/* ---- timer: expiry, sweeps, gauges -------------------------------------------------------- */

static int announce_aor(const reg_aor_t *a, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < a->n; i++)
        announce(a->bindings[i], REG_CHANGE_ADDED);
    return 0;
}

static void tick(sw_module_t *self, void *arg)
{
    (void)self, (void)arg;
    const sw_api_t *api = registrar.api;
    uint64_t now = api->now_ms();
    if (registrar.announce_restored) {
        /* bindings read from disk, told once every module has started */
        registrar.announce_restored = 0;
        reg_store_each(registrar.store, announce_aor, NULL);
    }
    reg_store_expire(registrar.store, now, registrar_on_change, NULL);
    /* the nonce counts of every active device: every 10 s is plenty (an
     * entry outliving its nonce by seconds costs a few bytes) */
    if (++registrar.ticks % 10 == 0)
        reg_nonces_sweep(registrar.nonces, now, registrar.set.nonce_lifetime_ms);
    api->stat_set(registrar.st.blocked_ips, (int64_t)reg_blocklist_sweep(registrar.blocked_ips, now));
    api->stat_set(registrar.st.suspended, (int64_t)reg_blocklist_sweep(registrar.suspended, now));
    api->stat_set(registrar.st.bindings, (int64_t)reg_store_count(registrar.store));
    api->stat_set(registrar.st.nat_bindings, (int64_t)reg_store_nat_count(registrar.store));
    api->stat_set(registrar.st.aors, (int64_t)reg_store_aor_count(registrar.store));
    api->stat_set(registrar.st.accounts, (int64_t)reg_accounts_count(registrar.accounts));
    reg_persist_stats_t ps;
    reg_persist_stats(registrar.persist, &ps);
    api->stat_set(registrar.st.persist_queue, (int64_t)ps.queued);
    api->stat_set(registrar.st.persist_errors, (int64_t)ps.errors);
    api->stat_set(registrar.st.persist_dropped, (int64_t)ps.dropped);
}

/* ---- Lua ----------------------------------------------------------------------------------- */

/* sw.registrar.lookup(aor_or_user) -> { uri, dest, account, expires,
 * behind_nat, gateway } (nil when not registered): a route chain element as
 * it is (uri, dest, and gateway as its label), with what else the script
 * may want to know. */
static int lua_lookup(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    const sw_api_t *api = registrar.api;
    size_t len;
    const char *text = api->lua_arg_str(args, 0, &len);
    char user[REG_USER_MAX + 1];
    const reg_binding_t *b = NULL;
    if (text && registrar_user_of(text, len, user, sizeof user) == 0)
        b = reg_store_best(registrar.store, user);
    uint64_t now = api->now_ms();
    if (!b || b->expires_at_ms <= now) {
        api->lua_push_nil(ret);
        return 0;
    }
    char dest[128];
    registrar_binding_dest(b, dest, sizeof dest);
    char label[REG_USER_MAX + 16];
    snprintf(label, sizeof label, "device:%s", b->aor->user);
    api->lua_push_table(ret);
    api->lua_push_str(ret, "uri", 3);
    api->lua_push_str(ret, b->contact, strlen(b->contact));
    api->lua_push_str(ret, "dest", 4);
    api->lua_push_str(ret, dest, strlen(dest));
    api->lua_push_str(ret, "gateway", 7);
    api->lua_push_str(ret, label, strlen(label));
    api->lua_push_str(ret, "account", 7);
    api->lua_push_str(ret, b->aor->user, strlen(b->aor->user));
    api->lua_push_str(ret, "expires", 7);
    api->lua_push_int(ret, reg_binding_seconds_left(b, now));
    api->lua_push_str(ret, "behind_nat", 10);
    api->lua_push_bool(ret, b->behind_nat);
    api->lua_table_end(ret);
    return 0;
}

/* sw.registrar.caller_number(account) -> the account's caller_number, or nil. */
static int lua_caller_number(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret)
{
    (void)self;
    const sw_api_t *api = registrar.api;
    size_t len;
    const char *name = api->lua_arg_str(args, 0, &len);
    const reg_account_t *acc = name && strlen(name) == len ? reg_accounts_find(registrar.accounts, name) : NULL;
    if (acc && acc->caller_number)
        api->lua_push_str(ret, acc->caller_number, strlen(acc->caller_number));
    else
        api->lua_push_nil(ret);
    return 0;
}

static const sw_lua_func_t registrar_lua[] = {
    {.size = sizeof(sw_lua_func_t), .name = "lookup", .args = "s", .fn = lua_lookup,
     .doc = "lookup(aor_or_user) -> { uri, dest, gateway, account, expires, behind_nat }, a route chain element; nil when not registered"},
    {.size = sizeof(sw_lua_func_t), .name = "caller_number", .args = "s", .fn = lua_caller_number,
     .doc = "caller_number(account) -> the account's caller_number, or nil"},
    {0},
};

/* ---- the bindings API for other modules (registrar_bindings_api.h) ------------------------- */

/* nat_keepalive drops a device that stopped answering its pings. */
static int remove_binding(sw_module_t *caller, const char *aor, const char *contact, const char *reason)
{
    const sw_api_t *api = registrar.api;
    char user[REG_USER_MAX + 1];
    if (!aor || registrar_user_of(aor, strlen(aor), user, sizeof user) != 0)
        return -1;
    const reg_binding_t *b = reg_store_find_contact(registrar.store, user, contact);
    if (!b)
        return -1;
    api->log(registrar.self, SW_LOG_NOTICE, NULL, "%s: binding %s removed by %s (%s)", user, b->contact,
             caller ? api->module_name(caller) : "a module", reason ? reason : "no reason given");
    reg_store_remove(registrar.store, b, registrar_on_change, NULL);
    return 0;
}

static const registrar_bindings_api_t bindings_api = {
    .size = sizeof(registrar_bindings_api_t),
    .version = REGISTRAR_BINDINGS_API_VERSION,
    .remove_binding = remove_binding,
};

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int registrar_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    memset(&registrar, 0, sizeof registrar);
    registrar.api = a;
    registrar.self = self;
    if (a->size < offsetof(sw_api_t, param_line) + sizeof a->param_line) {
        a->set_error(self, "this sipswitch has module ABI %u.%u; registrar needs 1.1 with binding_event, http_route "
                           "and block_address",
                     a->abi_major, a->abi_minor);
        return -1;
    }
    if (read_settings(self, cfg, &registrar.set) != 0 || registrar_blocks_check(self, cfg) != 0)
        return -1;
    registrar.accounts = read_accounts(self, cfg, registrar.set.realm);
    if (!registrar.accounts)
        return -1;
    if (outbound_init(self, a, cfg, registrar.accounts) != 0) {
        reg_accounts_free(registrar.accounts);
        return -1;
    }
    registrar.store = reg_store_new();
    registrar.nonces = reg_nonces_new();
    registrar.hasher = reg_hasher_new();
    registrar.blocked_ips = reg_blocklist_new(100000);
    registrar.suspended = reg_blocklist_new(100000);
    registrar_blocks_configure(cfg);
    const char *db = a->param_str(cfg, "db");
    registrar.db_path = db && *db ? resolve_path(cfg, db) : NULL;
    registrar.persist_interval_ms = (uint32_t)a->param_int(cfg, "db_write_interval");

    if (a->export_api(self, REGISTRAR_BINDINGS_API, &bindings_api) != 0) {
        a->set_error(self, "cannot export the '%s' API", REGISTRAR_BINDINGS_API);
        return -1;
    }

    registrar_stats_t *st = &registrar.st;
    st->bindings = a->stat_register(self, "bindings", "Contacts bound now", SW_STAT_GAUGE);
    st->nat_bindings = a->stat_register(self, "nat_bindings", "Contacts bound now from behind NAT", SW_STAT_GAUGE);
    st->aors = a->stat_register(self, "registered_accounts", "Accounts with at least one binding", SW_STAT_GAUGE);
    st->accounts = a->stat_register(self, "accounts", "Accounts in cfg", SW_STAT_GAUGE);
    st->registrations = a->stat_register(self, "registrations_total", "REGISTERs accepted (200)", SW_STAT_COUNTER);
    st->unregistrations = a->stat_register(self, "unregistrations_total",
                                           "Bindings removed by their device, the API, a reload or a replacement",
                                           SW_STAT_COUNTER);
    st->expired = a->stat_register(self, "expired_total", "Bindings that expired", SW_STAT_COUNTER);
    st->refused = a->stat_register(self, "register_refused_total",
                                   "REGISTERs answered with an error (400, 403, 404, 423, 500), challenges aside",
                                   SW_STAT_COUNTER);
    st->challenges = a->stat_register(self, "auth_challenges_total", "401/407 challenges sent", SW_STAT_COUNTER);
    st->auth_failures = a->stat_register(self, "auth_failures_total",
                                         "Digest responses with a wrong password or an unknown user", SW_STAT_COUNTER);
    st->stale = a->stat_register(self, "auth_stale_total", "Challenges with stale=true (old, foreign or replayed nonce)",
                                 SW_STAT_COUNTER);
    st->replays = a->stat_register(self, "auth_replays_total", "Responses reusing a nonce count", SW_STAT_COUNTER);
    st->blocked_ips = a->stat_register(self, "blocked_ips", "IPs blocked after failed authentications", SW_STAT_GAUGE);
    st->suspended = a->stat_register(self, "suspended_accounts",
                                     "Account/IP pairs suspended after failed registrations", SW_STAT_GAUGE);
    st->trusted_not_blocked = a->stat_register(self, "trusted_not_blocked_total",
                                               "IPs past auth_max_retry the core did not block: trusted ([mapping] "
                                               "source or [gateway])",
                                               SW_STAT_COUNTER);
    st->invites_authenticated = a->stat_register(self, "invites_authenticated_total",
                                                 "INVITEs from registered devices authenticated", SW_STAT_COUNTER);
    st->persist_queue = a->stat_register(self, "db_queue", "Binding changes waiting for the next db commit",
                                         SW_STAT_GAUGE);
    st->persist_errors = a->stat_register(self, "db_errors", "Failed db commits (retried)", SW_STAT_GAUGE);
    st->persist_dropped = a->stat_register(self, "db_dropped", "Binding changes never written (db failing too long)",
                                           SW_STAT_GAUGE);
    return 0;
}

static void restore_row(const reg_persist_row_t *row, void *ud)
{
    size_t *kept = ud;
    const sw_api_t *api = registrar.api;
    int64_t left_ms = row->expires_wall_ms - (int64_t)api->wallclock_ms();
    reg_restore_t r = {
        .id = row->id,
        .user = row->user,
        .aor = row->aor,
        .contact = row->contact,
        .call_id = row->call_id,
        .source = row->source,
        .user_agent = row->user_agent,
        .cseq = row->cseq,
        .q = row->q,
        .transport = row->transport,
        .behind_nat = row->behind_nat,
        .socket_id = row->socket_id,
        .expires_s = left_ms > 0 ? (uint32_t)((left_ms + 999) / 1000) : 0,
        .registered_wall_ms = row->registered_wall_ms,
        .updated_wall_ms = row->updated_wall_ms,
    };
    /* an account no longer in cfg, an expired or unusable row, or a contact
     * twice: the row goes, so that no row outlives its binding */
    if (reg_accounts_find(registrar.accounts, row->user) && r.expires_s > 0 &&
        reg_store_restore(registrar.store, &r, api->now_ms()))
        (*kept)++;
    else
        reg_persist_delete(registrar.persist, row->id);
}

/* The db's directory, made if missing (one level: /var/lib/sipswitch). */
static void make_parent_dir(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = '\0';
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        registrar.api->log(registrar.self, SW_LOG_WARN, NULL, "cannot create %s: %s", dir, strerror(errno));
}

/* The db is opened, and bindings restored, only here: `sipswitch --check`
 * runs init alone and touches no file. */
static int registrar_start(sw_module_t *self)
{
    const sw_api_t *api = registrar.api;
    if (registrar.db_path) {
        char err[512];
        make_parent_dir(registrar.db_path);
        registrar.persist = reg_persist_open(registrar.db_path, registrar.persist_interval_ms, 1000000, err, sizeof err);
        if (!registrar.persist) {
            api->set_error(self, "%s: %s", registrar.db_path, err);
            return -1;
        }
        size_t kept = 0;
        long rows = reg_persist_load(registrar.persist, (int64_t)api->wallclock_ms(), restore_row, &kept, err,
                                     sizeof err);
        if (rows < 0 || reg_persist_start(registrar.persist, err, sizeof err) != 0) {
            api->set_error(self, "%s: %s", registrar.db_path, err);
            return -1;
        }
        api->log(self, SW_LOG_INFO, NULL, "bindings kept in %s: %zu restored", registrar.db_path, kept);
        registrar.announce_restored = kept > 0;
    }
    registrar.tick = api->timer_start(self, "registrar_tick", 1, 1000, tick, NULL);
    if (registrar_blocks_start(self) != 0)
        api->log(self, SW_LOG_WARN, NULL, "the account suspensions are not in GET /api/v1/blocked");
    if (api->http_route(self, "registrations", registrar_http) != 0)
        api->log(self, SW_LOG_WARN, NULL, "/api/v1/registrations is taken: no management resource");
    outbound_start();
    return 0;
}

static int registrar_reload(sw_module_t *self, const sw_config_t *cfg)
{
    registrar_settings_t s;
    if (read_settings(self, cfg, &s) != 0 || registrar_blocks_check(self, cfg) != 0)
        return -1;
    reg_accounts_t *accounts = read_accounts(self, cfg, s.realm);
    if (!accounts)
        return -1;
    if (outbound_reload_read(cfg, accounts) != 0) {
        reg_accounts_free(accounts);
        return -1;
    }
    registrar.set = s;
    reg_accounts_free(registrar.accounts);
    registrar.accounts = accounts;
    registrar_blocks_configure(cfg);
    drop_orphans();
    outbound_reload_apply();
    return 0;
}

/* Shutdown begins, sockets still open: the unregisters go out now, and the
 * core keeps the loop running a little for their answers. */
static void registrar_stop(sw_module_t *self)
{
    (void)self;
    outbound_stop();
}

static void registrar_destroy(sw_module_t *self)
{
    (void)self;
    outbound_stop(); /* a core without the stop hook (1.0): nothing can be sent any more, but free */
    if (registrar.tick)
        registrar.api->timer_stop(registrar.tick);
    reg_persist_close(registrar.persist); /* commits what is queued */
    reg_store_free(registrar.store);
    reg_accounts_free(registrar.accounts);
    reg_nonces_free(registrar.nonces);
    reg_hasher_free(registrar.hasher);
    reg_blocklist_free(registrar.blocked_ips);
    reg_blocklist_free(registrar.suspended);
    registrar.api->free(registrar.db_path);
    memset(&registrar, 0, sizeof registrar);
}

static const sw_hooks_t registrar_hooks = {
    .size = sizeof(sw_hooks_t),
    .priority = -100, /* before other modules: a request failing authentication goes no further */
    .on_request = on_request,
};

static const sw_module_desc_t registrar_desc = {
    SW_MODULE_DESC_INIT,
    .name = "registrar",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Devices register to the switch: digest authentication, NAT-aware bindings kept across "
                   "restarts, brute-force protection; the switch registers to carriers ([registration NAME])",
    .params = registrar_params,
    .lua_funcs = registrar_lua,
    .hooks = &registrar_hooks,
    .init = registrar_init,
    .start = registrar_start,
    .reload = registrar_reload,
    .destroy = registrar_destroy,
    .stop = registrar_stop,
};
SW_MODULE(registrar_desc)
