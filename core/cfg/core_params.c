/* The core's parameters. The table is the single source for parsing,
 * validation, defaults, --dump-params and doc/cfg-reference.md. */
#include "config.h"

#include "cfg/core_params.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *const log_levels[] = {"error", "warn", "notice", "info", "debug", NULL};
static const char *const log_targets[] = {"stderr", "syslog", NULL};
static const char *const transports[] = {"udp", "tcp", NULL};

#define P(...) {.size = sizeof(sw_param_t), __VA_ARGS__}
#define MS(s) ((int64_t)((s) * 1000))

const sw_param_t sw_core_params[] = {
    P(.name = "listen", .type = SW_PARAM_STRING_LIST, .default_value = "udp:127.0.0.1:5060, tcp:127.0.0.1:5060",
      .doc = "SIP sockets, each transport:address:port (udp or tcp; an IPv6 address in brackets). "
             "Changing it needs a restart."),
    P(.name = "script", .type = SW_PARAM_STRING, .default_value = "route.lua", .flags = SW_PARAM_RELOADABLE,
      .doc = "The Lua route script; a relative path is relative to this cfg file's directory."),
    P(.name = "http", .type = SW_PARAM_STRING, .default_value = "127.0.0.1:8080",
      .doc = "Management API address host:port; empty turns it off. Changing it needs a restart."),
    P(.name = "log_level", .type = SW_PARAM_ENUM, .default_value = "info", .choices = log_levels,
      .flags = SW_PARAM_RELOADABLE, .doc = "Least severe level logged."),
    P(.name = "log_target", .type = SW_PARAM_ENUM, .default_value = "stderr", .choices = log_targets,
      .doc = "Where logs go: stderr (journald under systemd) or syslog (facility daemon)."),
    P(.name = "module_dir", .type = SW_PARAM_STRING, .default_value = SW_MODULEDIR,
      .doc = "Directory the modules named in 'load' are loaded from (the --module-path option "
             "and SIPSWITCH_MODULE_PATH are searched first)."),
    P(.name = "load", .type = SW_PARAM_STRING_LIST, .default_value = "",
      .doc = "Modules to load, in any order ('requires' orders their initialisation). "
             "Changing it needs a restart."),
    P(.name = "resend_interval", .vos_alias = "SS_SIP_RESEND_INTERVAL", .type = SW_PARAM_DURATION_LIST,
      .default_value = "0.5,1,2,4,4,4,4,4,4,4", .min = 10, .max = MS(60), .flags = SW_PARAM_RELOADABLE,
      .doc = "Retransmission schedule of requests over UDP: the n-th retransmission is sent this long after "
             "the previous one; the list's length bounds the retransmissions (replaces RFC 3261 T1/T2)."),
    P(.name = "qos_signal", .vos_alias = "SS_QOS_SIGNAL", .type = SW_PARAM_INT, .default_value = "0xa0",
      .min = 0, .max = 255, .flags = SW_PARAM_RELOADABLE,
      .doc = "IP ToS byte set on the SIP sockets (0xa0 = DSCP CS5)."),
    P(.name = "force_rport", .type = SW_PARAM_BOOL, .default_value = "On", .flags = SW_PARAM_RELOADABLE,
      .doc = "Send UDP responses to the port the request came from even without ;rport (RFC 3581), as devices "
             "behind NAT need; Off follows RFC 3261 18.2.2 (the Via port)."),
    P(.name = "max_message_size", .type = SW_PARAM_INT, .default_value = "65535", .min = 1024, .max = 1048576,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Largest SIP message accepted, in bytes (headers and body); larger ones get 513 or are dropped."),
    P(.name = "max_tcp_connections", .type = SW_PARAM_INT, .default_value = "4096", .min = 1, .max = 1000000,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Most SIP TCP connections open at once; new ones past it are closed at once."),
    P(.name = "tcp_idle_timeout", .type = SW_PARAM_DURATION, .default_value = "120", .min = MS(1),
      .max = MS(86400), .flags = SW_PARAM_RELOADABLE,
      .doc = "A SIP TCP connection with no complete message for this long is closed."),
    P(.name = "lua_instruction_budget", .type = SW_PARAM_INT, .default_value = "10000000", .min = 10000,
      .max = 10000000000LL, .flags = SW_PARAM_RELOADABLE,
      .doc = "Lua VM instructions one script call (or the script's top level) may run; past it the call "
             "fails (an INVITE gets 500) and the switch keeps serving."),
    P(.name = "lua_memory_limit", .type = SW_PARAM_INT, .default_value = "256", .min = 8, .max = 65536,
      .flags = SW_PARAM_RELOADABLE, .doc = "Memory the Lua state may use, in MiB."),
    P(.name = "advertise_address", .type = SW_PARAM_STRING, .default_value = "",
      .doc = "Address the switch writes in Via, Contact and From toward gateways; empty: the host of the first "
             "'listen' socket (set it when listening on 0.0.0.0 or behind NAT). Changing it needs a restart."),
    P(.name = "passthrough_headers", .type = SW_PARAM_STRING_LIST, .default_value = "",
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Headers copied from the caller's INVITE to every gateway INVITE (e.g. P-Asserted-Identity, "
             "Diversion, X-*: a trailing * matches a prefix). Nothing else of the caller's side is passed on."),
    P(.name = "allow_unknown_sources", .type = SW_PARAM_BOOL, .default_value = "Off", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: accept INVITEs from addresses no [mapping] covers. Off (default, toll-fraud protection): "
             "they get 403."),
    /* overload and flood protection (core/sip/guard.c, doc/robustness.md) */
    P(.name = "rate_limit", .type = SW_PARAM_INT, .default_value = "100", .min = 0, .max = 1000000,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Packets (UDP) or messages (TCP) a second one source IP address may send before it is blocked "
             "(an IPv6 source counts by its /64); checked before parsing. Addresses of [mapping] sources and "
             "[gateway]s are exempt unless rate_limit_trusted is On. 0 turns the limit off."),
    P(.name = "rate_limit_burst", .type = SW_PARAM_INT, .default_value = "400", .min = 1, .max = 10000000,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "How many packets above rate_limit a source may send at once (a token bucket of this size, "
             "refilled at rate_limit a second)."),
    P(.name = "rate_limit_block", .type = SW_PARAM_DURATION, .default_value = "60", .min = MS(1),
      .max = MS(86400), .flags = SW_PARAM_RELOADABLE,
      .doc = "How long a source that exceeded the rate limit is blocked: everything from it is dropped "
             "without an answer (GET /api/v1/blocked lists them, DELETE /api/v1/blocked/<ip> ends a block)."),
    P(.name = "rate_limit_trusted", .type = SW_PARAM_BOOL, .default_value = "Off", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: the addresses of [mapping] sources and [gateway]s are rate limited too."),
    P(.name = "scanner_user_agents", .type = SW_PARAM_STRING_LIST,
      .default_value = "friendly-scanner, sipvicious, sipcli, sip-scan, sipscan, VaxSIPUserAgent, sundayddr, "
                       "iWar, SIVuS, pplsip",
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Requests whose User-Agent contains one of these texts (ignoring case) are dropped without an "
             "answer, before parsing: SIP scanners. Empty: none."),
    P(.name = "drop_unknown_sources", .type = SW_PARAM_BOOL, .default_value = "Off", .flags = SW_PARAM_RELOADABLE,
      .doc = "On: everything from an address that is neither a [mapping] source nor a [gateway] is dropped "
             "without an answer (instead of 403/404 for INVITEs and 200 for OPTIONS), so a scanner learns "
             "nothing. Devices registering through the registrar are unknown sources too: keep it Off where "
             "devices register. Cannot be On with allow_unknown_sources."),
    P(.name = "overload_message_age", .type = SW_PARAM_DURATION, .default_value = "200ms", .min = 0,
      .max = MS(60), .flags = SW_PARAM_RELOADABLE,
      .doc = "When a UDP message waited longer than this in the kernel before the switch read it (the "
             "signaling thread is behind), a new INVITE outside a dialog is answered 503 with Retry-After "
             "at once, before routing; requests in a dialog (ACK, BYE, CANCEL, re-INVITE) and responses are "
             "still handled. TCP INVITEs are refused while a UDP message waited that long in the last second. "
             "0 turns it off."),
    P(.name = "overload_retry_after", .type = SW_PARAM_INT, .default_value = "5", .min = 1, .max = 3600,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Seconds in the Retry-After header of the 503 sent under overload or at max_transactions."),
    P(.name = "max_headers", .type = SW_PARAM_INT, .default_value = "256", .min = 16, .max = 512,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Most header fields a SIP message may have (continuation lines not counted); more get 400 before "
             "parsing."),
    P(.name = "max_transactions", .type = SW_PARAM_INT, .default_value = "200000", .min = 0, .max = 100000000,
      .flags = SW_PARAM_RELOADABLE,
      .doc = "Most SIP transactions alive at once (about 1 KB each with its last response). Past it a new INVITE outside a "
             "dialog gets 503 with Retry-After and other new requests outside a dialog are dropped; requests in "
             "a dialog, ACK and CANCEL still pass. 0: no cap."),
    P(.name = "max_tcp_connections_per_ip", .type = SW_PARAM_INT, .default_value = "64", .min = 0,
      .max = 1000000, .flags = SW_PARAM_RELOADABLE,
      .doc = "Most inbound SIP TCP connections one IP address may hold; more are closed at once. 0: no limit "
             "(max_tcp_connections still applies)."),
    /* core keys of object sections */
    P(.name = "address", .type = SW_PARAM_STRING, .scopes = SW_SCOPE_GATEWAY, .flags = SW_PARAM_REQUIRED,
      .doc = "Routing gateway address, host:port (port defaults to 5060)."),
    P(.name = "transport", .type = SW_PARAM_ENUM, .default_value = "udp", .choices = transports,
      .scopes = SW_SCOPE_GATEWAY, .doc = "Transport toward the gateway."),
    P(.name = "source", .type = SW_PARAM_STRING_LIST, .scopes = SW_SCOPE_MAPPING, .flags = SW_PARAM_REQUIRED,
      .doc = "Addresses a mapping (customer) gateway sends from: IPs or CIDR blocks, optionally ip:port."),
    P(.name = "description", .type = SW_PARAM_STRING, .default_value = "",
      .scopes = SW_SCOPE_GATEWAY | SW_SCOPE_MAPPING | SW_SCOPE_ACCOUNT | SW_SCOPE_REGISTRATION,
      .doc = "Free text shown in the management API."),
    {0},
};

/* "udp:127.0.0.1:5060", "tcp:[::1]:5060" */
static int parse_listen(const char *s, sw_listen_spec_t *out, char *err, size_t errlen)
{
    const char *colon = strchr(s, ':');
    if (!colon) {
        snprintf(err, errlen, "'%s': expected transport:address:port (e.g. udp:127.0.0.1:5060)", s);
        return -1;
    }
    size_t tl = (size_t)(colon - s);
    if (tl == 3 && strncasecmp(s, "udp", 3) == 0)
        out->transport = SW_TRANSPORT_UDP;
    else if (tl == 3 && strncasecmp(s, "tcp", 3) == 0)
        out->transport = SW_TRANSPORT_TCP;
    else {
        snprintf(err, errlen, "'%s': transport must be udp or tcp", s);
        return -1;
    }
    const char *addr = colon + 1, *port;
    size_t hl;
    if (*addr == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "'%s': expected [ipv6]:port", s);
            return -1;
        }
        hl = (size_t)(close - addr - 1);
        memcpy(out->host, addr + 1, hl < sizeof out->host ? hl : 0);
        port = close + 2;
    } else {
        const char *pc = strrchr(addr, ':');
        if (!pc) {
            snprintf(err, errlen, "'%s': missing port", s);
            return -1;
        }
        hl = (size_t)(pc - addr);
        memcpy(out->host, addr, hl < sizeof out->host ? hl : 0);
        port = pc + 1;
    }
    if (hl == 0 || hl >= sizeof out->host) {
        snprintf(err, errlen, "'%s': bad address", s);
        return -1;
    }
    out->host[hl] = '\0';
    int64_t p;
    if (sw_parse_int64(port, &p) || p < 1 || p > 65535) {
        snprintf(err, errlen, "'%s': port must be 1–65535", s);
        return -1;
    }
    out->port = (uint16_t)p;
    return 0;
}

/* Module names double as section names and Lua table names. */
static bool valid_module_name(const char *s)
{
    static const char *const reserved[] = {"core", "gateway", "mapping", "account", "registration", "sw"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return false;
    if (!*s || strlen(s) > 48)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

int sw_core_settings_load(sw_cfg_t *cfg, sw_core_settings_t *out, sw_errors_t *errs)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    if (!sw_cfg_view(cfg, "core") && sw_cfg_add_owner(cfg, "core", sw_core_params, errs))
        rc = -1;
    if (sw_cfg_resolve_owner(cfg, "core", errs))
        rc = -1;
    const sw_config_t *v = sw_cfg_view(cfg, "core");
    const char *file = sw_cfg_path(cfg);

    size_t n = sw_config_list_len(v, "listen");
    if (n == 0) {
        sw_errors_add(errs, file, sw_cfg_line_of(v, "listen"), "listen: at least one SIP socket is needed");
        rc = -1;
    }
    for (size_t i = 0; i < n; i++) {
        char err[256];
        if (out->n_listen == SW_MAX_LISTENERS) {
            sw_errors_add(errs, file, sw_cfg_line_of(v, "listen"), "listen: at most %d sockets", SW_MAX_LISTENERS);
            rc = -1;
            break;
        }
        if (parse_listen(sw_config_list_str(v, "listen", i), &out->listen[out->n_listen], err, sizeof err)) {
            sw_errors_add(errs, file, sw_cfg_line_of(v, "listen"), "listen: %s", err);
            rc = -1;
        } else {
            out->n_listen++;
        }
    }
    out->script = sw_cfg_path_resolve(cfg, sw_config_str(v, "script"));
    out->http = strdup(sw_config_str(v, "http"));
    if (*out->http) {
        sw_param_t addr = {.size = sizeof addr, .name = "http", .type = SW_PARAM_ADDRESS};
        sw_value_t tmp = {0};
        char err[256];
        if (sw_param_parse(&addr, out->http, &tmp, err, sizeof err)) {
            sw_errors_add(errs, file, sw_cfg_line_of(v, "http"), "http: %s", err);
            rc = -1;
        }
        sw_value_clear(&tmp);
    }
    out->log_level = (int)sw_config_int(v, "log_level");
    out->log_target = (int)sw_config_int(v, "log_target");
    out->module_dir = sw_cfg_path_resolve(cfg, sw_config_str(v, "module_dir"));
    out->n_load = sw_config_list_len(v, "load");
    out->load = calloc(out->n_load + 1, sizeof *out->load);
    out->load_line = sw_cfg_line_of(v, "load");
    for (size_t i = 0; i < out->n_load; i++) {
        const char *name = sw_config_list_str(v, "load", i);
        out->load[i] = strdup(name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->load[j], name) == 0) {
                sw_errors_add(errs, file, out->load_line, "load: module '%s' listed twice", name);
                rc = -1;
            }
        if (!valid_module_name(name)) {
            sw_errors_add(errs, file, out->load_line,
                          "load: '%s' is not a module name (lower-case letters, digits and _)", name);
            rc = -1;
        }
    }
    out->n_resend = sw_config_list_len(v, "resend_interval");
    if (out->n_resend > SW_MAX_RESEND) {
        sw_errors_add(errs, file, sw_cfg_line_of(v, "resend_interval"),
                      "resend_interval: at most %d retransmissions", SW_MAX_RESEND);
        rc = -1;
        out->n_resend = SW_MAX_RESEND;
    }
    for (size_t i = 0; i < out->n_resend; i++)
        out->resend_ms[i] = (uint32_t)sw_config_list_int(v, "resend_interval", i);
    out->qos_signal = (int)sw_config_int(v, "qos_signal");
    out->force_rport = sw_config_int(v, "force_rport") != 0;
    out->allow_unknown_sources = sw_config_int(v, "allow_unknown_sources") != 0;
    out->advertise = strdup(sw_config_str(v, "advertise_address"));
    out->n_passthrough = sw_config_list_len(v, "passthrough_headers");
    out->passthrough = calloc(out->n_passthrough + 1, sizeof *out->passthrough);
    for (size_t i = 0; i < out->n_passthrough; i++)
        out->passthrough[i] = strdup(sw_config_list_str(v, "passthrough_headers", i));
    out->max_message_size = (size_t)sw_config_int(v, "max_message_size");
    out->max_tcp_connections = (size_t)sw_config_int(v, "max_tcp_connections");
    out->max_tcp_connections_per_ip = (size_t)sw_config_int(v, "max_tcp_connections_per_ip");
    out->rate_limit = (uint32_t)sw_config_int(v, "rate_limit");
    out->rate_limit_burst = (uint32_t)sw_config_int(v, "rate_limit_burst");
    out->rate_limit_block_ms = (uint64_t)sw_config_int(v, "rate_limit_block");
    out->rate_limit_trusted = sw_config_int(v, "rate_limit_trusted") != 0;
    out->n_scanner_user_agents = sw_config_list_len(v, "scanner_user_agents");
    out->scanner_user_agents = calloc(out->n_scanner_user_agents + 1, sizeof *out->scanner_user_agents);
    for (size_t i = 0; i < out->n_scanner_user_agents; i++)
        out->scanner_user_agents[i] = strdup(sw_config_list_str(v, "scanner_user_agents", i));
    out->drop_unknown_sources = sw_config_int(v, "drop_unknown_sources") != 0;
    if (out->drop_unknown_sources && out->allow_unknown_sources) {
        sw_errors_add(errs, file, sw_cfg_line_of(v, "drop_unknown_sources"),
                      "drop_unknown_sources: cannot be On with allow_unknown_sources = On (which one?)");
        rc = -1;
    }
    out->overload_message_age_ms = (uint64_t)sw_config_int(v, "overload_message_age");
    out->overload_retry_after_s = (uint32_t)sw_config_int(v, "overload_retry_after");
    out->max_headers = (size_t)sw_config_int(v, "max_headers");
    out->max_transactions = (size_t)sw_config_int(v, "max_transactions");
    out->tcp_idle_timeout_ms = (uint64_t)sw_config_int(v, "tcp_idle_timeout");
    out->lua_instruction_budget = (uint64_t)sw_config_int(v, "lua_instruction_budget");
    out->lua_memory_limit = (size_t)sw_config_int(v, "lua_memory_limit") << 20;
    return rc;
}

void sw_core_settings_free(sw_core_settings_t *s)
{
    free(s->script);
    free(s->http);
    free(s->advertise);
    free(s->module_dir);
    for (size_t i = 0; i < s->n_load; i++)
        free(s->load[i]);
    free(s->load);
    for (size_t i = 0; i < s->n_passthrough; i++)
        free(s->passthrough[i]);
    free(s->passthrough);
    for (size_t i = 0; i < s->n_scanner_user_agents; i++)
        free(s->scanner_user_agents[i]);
    free(s->scanner_user_agents);
    memset(s, 0, sizeof *s);
}
