/*
 * Outbound registration settings from cfg (see outbound_config.h). The
 * core has checked types and ranges (with file:line); what is left here is
 * what it cannot know: the registrar and proxy addresses (resolved now, so
 * that a name that does not resolve stops the start or the reload rather
 * than failing every REGISTER), the user parts written into URIs,
 * SS_SIP_USER_AGENT_EXPIRE's "Auto or 20-7200", and the retry delay's floor.
 * Errors are "file:line: [section] reason" (registrar_cfg_error).
 */
#include "outbound_config.h"
#include "registrar.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>


typedef struct reader {
    const sw_api_t *api;
    sw_module_t *self;
    const char *file;
} reader_t;

/* "file:line: [section] reason", the line where `key` was written in
 * `view` (just "file:" when it was not written). */
static int refuse(const reader_t *rd, const char *section, const sw_config_t *view, const char *key,
                  const char *fmt, ...) SW_PRINTF(5, 6);
static int refuse(const reader_t *rd, const char *section, const sw_config_t *view, const char *key,
                  const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (view)
        return registrar_cfg_error(rd->self, view, key, "%s %s", section, why);
    rd->api->set_error(rd->self, "%s: %s %s", rd->file, section, why);
    return -1;
}

/* The first address of a host (an IPv4 one when it has both: the switch's
 * listeners are IPv4 more often than not), as numeric text. 0, or -1. */
static int resolve(const char *host, char *ip, size_t iplen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return -1;
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    int rc = getnameinfo(pick->ai_addr, pick->ai_addrlen, ip, (socklen_t)iplen, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return rc == 0 ? 0 : -1;
}

/* An address key ("registrar", "outbound_proxy"): host[:port] resolved
 * into ip and *port (the default port when none is written). */
static int read_address(const reader_t *rd, const char *section, const sw_config_t *view, const char *key,
                        const char *text,
                        unsigned default_port, char *host, size_t hostlen, char *ip, size_t iplen, unsigned *port)
{
    if (ob_split_hostport(text, host, hostlen, port) != 0)
        return refuse(rd, section, view, key, "%s = '%s': expected host[:port] (an IPv4 address, [IPv6] or a name)", key, text);
    if (!*port)
        *port = default_port;
    if (resolve(host, ip, iplen) != 0)
        return refuse(rd, section, view, key, "%s = '%s': '%s' does not resolve", key, text, host);
    return 0;
}

static char *dest_text(const sw_api_t *api, const char *ip, unsigned port)
{
    char buf[96];
    snprintf(buf, sizeof buf, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
    return api->strdup(buf);
}

/* A user part key: its value, or `fallback` when empty. */
static int read_user(const reader_t *rd, const char *section, const sw_config_t *view, const char *key,
                     const char *fallback, char **out)
{
    const char *v = rd->api->param_str(view, key);
    if (!v || !*v)
        v = fallback;
    if (!ob_user_valid(v))
        return refuse(rd, section, view, key, "%s = '%s': 1-64 characters that a SIP URI's user part takes as they are "
                                   "(letters, digits, - _ . ! ~ * ' ( ) & = + $ ,)",
                      key, v ? v : "");
    *out = rd->api->strdup(v);
    return 0;
}

static int read_registration(const reader_t *rd, const sw_config_t *cfg, const char *name,
                             const reg_accounts_t *accounts, ob_reg_conf_t *r)
{
    const sw_api_t *api = rd->api;
    char section[200];
    snprintf(section, sizeof section, "[registration %s]", name);
    const sw_config_t *view = api->param_object(cfg, SW_SCOPE_REGISTRATION, name);
    if (!view)
        return refuse(rd, section, NULL, NULL, "cannot be read");
    r->name = api->strdup(name);
    /* the name is what call.account says for the carrier's calls */
    if (strlen(name) > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                                 strlen(name))
        return refuse(rd, section, view, "registrar",
                      "the name must be 1-64 letters, digits, '-', '_' or '.' (it becomes call.account)");
    if (accounts && reg_accounts_find(accounts, name))
        return refuse(rd, section, view, "registrar",
                      "an [account %s] has the same name: call.account would not tell them apart",
                      name);

    char host[256], ip[64];
    unsigned port = 0;
    const char *registrar_text = api->param_str(view, "registrar");
    if (read_address(rd, section, view, "registrar", registrar_text, 0, host, sizeof host, ip, sizeof ip, &port) != 0)
        return -1;
    if (api->param_is_set(view, "port")) {
        unsigned key_port = (unsigned)api->param_int(view, "port");
        if (port && port != key_port)
            return refuse(rd, section, view, "port", "port = %u contradicts registrar = %s", key_port, registrar_text);
        port = key_port;
    }
    if (!port)
        port = 5060;
    char domain[300];
    int v6 = strchr(host, ':') != NULL;
    if (port == 5060)
        snprintf(domain, sizeof domain, v6 ? "[%s]" : "%s", host);
    else
        snprintf(domain, sizeof domain, v6 ? "[%s]:%u" : "%s:%u", host, port);
    r->domain = api->strdup(domain);
    r->registrar_ip = api->strdup(ip);
    r->dest = dest_text(api, ip, port);

    const char *proxy_text = api->param_str(view, "outbound_proxy");
    if (proxy_text && *proxy_text) {
        char phost[256], pip[64];
        unsigned pport = 0;
        if (read_address(rd, section, view, "outbound_proxy", proxy_text, 5060, phost, sizeof phost, pip, sizeof pip,
                         &pport) != 0)
            return -1;
        r->proxy_ip = api->strdup(pip);
        api->free(r->dest);
        r->dest = dest_text(api, pip, pport);
    }

    if (read_user(rd, section, view, "user", NULL, &r->user) != 0 ||
        read_user(rd, section, view, "contact_user", r->user, &r->contact_user) != 0)
        return -1;
    /* the digest username travels in a quoted string: anything but quotes,
     * backslashes and line breaks */
    const char *auth_user = api->param_str(view, "auth_user");
    if (!auth_user || !*auth_user)
        auth_user = r->user;
    if (strlen(auth_user) > 128 || strpbrk(auth_user, "\"\\\r\n"))
        return refuse(rd, section, view, "auth_user", "auth_user: at most 128 characters, no quotes or backslashes");
    r->auth_user = api->strdup(auth_user);
    const char *password = api->param_str(view, "password");
    if (!password || strlen(password) > 256)
        return refuse(rd, section, view, "password", "password: at most 256 characters");
    r->password = api->strdup(password);
    r->transport = api->param_int(view, "transport") == 1 ? SW_TRANSPORT_TCP : SW_TRANSPORT_UDP;
    const char *expire = api->param_str(view, "user_agent_expire");
    if (ob_parse_expire(expire, &r->expire_s) != 0)
        return refuse(rd, section, view, "user_agent_expire", "user_agent_expire = '%s': Auto or %d-%d seconds", expire ? expire : "",
                      OB_EXPIRE_MIN, OB_EXPIRE_MAX);
    r->privacy = (ob_privacy_t)api->param_int(view, "privacy");
    return 0;
}

static int read_settings(const reader_t *rd, const sw_config_t *cfg, ob_settings_t *s)
{
    const sw_api_t *api = rd->api;
    s->retry_delay_ms = (uint64_t)api->param_int(cfg, "user_agent_retry_delay");
    s->send_unregister = api->param_int(cfg, "user_agent_send_unregister") != 0;
    s->auth_retry = (unsigned)api->param_int(cfg, "user_agent_auth_retry");
    s->auth_timeout_ms = (uint64_t)api->param_int(cfg, "user_agent_auth_timeout");
    uint32_t expire;
    const char *global_expire = api->param_str(cfg, "user_agent_expire");
    if (ob_parse_expire(global_expire, &expire) != 0)
        return refuse(rd, "[registrar]", cfg, "user_agent_expire", "user_agent_expire = '%s': Auto or %d-%d seconds",
                      global_expire ? global_expire : "", OB_EXPIRE_MIN, OB_EXPIRE_MAX);
    if (s->retry_delay_ms < OB_RETRY_DELAY_FLOOR_S * 1000ull) {
        if (!api->param_int(cfg, "allow_short_intervals"))
            return refuse(rd, "[registrar]", cfg, "user_agent_retry_delay",
                          "user_agent_retry_delay = %s is below %d s (VOS3000 minimum); allow_short_intervals = On "
                          "in [registrar] accepts it, for tests only",
                          api->param_str(cfg, "user_agent_retry_delay"), OB_RETRY_DELAY_FLOOR_S);
        api->log(rd->self, SW_LOG_WARN, NULL,
                 "allow_short_intervals: user_agent_retry_delay = %s is below %d s; for tests only",
                 api->param_str(cfg, "user_agent_retry_delay"), OB_RETRY_DELAY_FLOOR_S);
    }
    return 0;
}

ob_config_t *ob_config_read(const sw_api_t *api, sw_module_t *self, const sw_config_t *cfg,
                            const reg_accounts_t *accounts)
{
    const char *file = api->config_file ? api->config_file(cfg) : NULL;
    reader_t rd = {.api = api, .self = self, .file = file ? file : "cfg"};
    ob_config_t *c = api->calloc(1, sizeof *c);
    if (read_settings(&rd, cfg, &c->set) != 0) {
        ob_config_free(api, c);
        return NULL;
    }
    size_t n = api->object_count(cfg, SW_SCOPE_REGISTRATION);
    c->regs = api->calloc(n ? n : 1, sizeof *c->regs);
    for (size_t i = 0; i < n; i++) {
        const char *name = api->object_name(cfg, SW_SCOPE_REGISTRATION, i);
        c->n++;
        if (!name || read_registration(&rd, cfg, name, accounts, &c->regs[i]) != 0) {
            if (!name)
                api->set_error(self, "%s: a [registration] section without a name", rd.file);
            ob_config_free(api, c);
            return NULL;
        }
    }
    return c;
}

void ob_reg_conf_clear(const sw_api_t *api, ob_reg_conf_t *r)
{
    char *strings[] = {r->name, r->domain, r->dest, r->registrar_ip, r->proxy_ip,
                       r->user, r->auth_user, r->password, r->contact_user};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        api->free(strings[i]);
    memset(r, 0, sizeof *r);
}

void ob_config_free(const sw_api_t *api, ob_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        ob_reg_conf_clear(api, &c->regs[i]);
    api->free(c->regs);
    api->free(c);
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int ob_reg_conf_equal(const ob_reg_conf_t *a, const ob_reg_conf_t *b)
{
    return same(a->name, b->name) && same(a->domain, b->domain) && same(a->dest, b->dest) &&
           same(a->registrar_ip, b->registrar_ip) && same(a->proxy_ip, b->proxy_ip) && same(a->user, b->user) &&
           same(a->auth_user, b->auth_user) && same(a->password, b->password) &&
           same(a->contact_user, b->contact_user) && a->transport == b->transport && a->expire_s == b->expire_s &&
           a->privacy == b->privacy;
}
