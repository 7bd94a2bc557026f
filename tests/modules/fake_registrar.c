/*
 * fake_registrar: a TEST-ONLY stand-in for the registrar, built for
 * `make check` only (never installed). It gives nat_keepalive bindings
 * without authentication or storage:
 *
 *   - at start(), `count` synthetic bindings behind NAT, reported with
 *     api->binding_event(ADDED): binding i comes "from" source ip + i /
 *     ports_per_ip, port + i % ports_per_ip (so a test's UDP sink can tell
 *     the devices apart), through local socket `socket_id` (0: the first);
 *   - with answer_register = On, every REGISTER is answered 200 and its
 *     first Contact reported as a binding from the request's real source,
 *     transport and socket (Expires: 0 or Contact: * report REMOVED): how a
 *     test puts devices on TCP connections or behind a second socket;
 *   - the "bindings" API of registrar_bindings_api.h, so nat_keepalive (with
 *     registrar_module = fake_registrar) can drop a silent device: logged
 *     and reported REMOVED.
 */
#include <sipswitch/module.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "registrar_bindings_api.h"

static const sw_api_t *api;
static sw_module_t *module;

static struct {
    long long count;
    uint32_t ip;          /* host order */
    unsigned port, ports_per_ip;
    sw_transport_t transport;
    uint64_t socket_id;
    int behind_nat, answer_register;
    char account[64], domain[128];
} conf;

static sw_stat_t *reported, *removed;

static const char *const transports[] = {"udp", "tcp", NULL};

static const sw_param_t fake_params[] = {
    {.size = sizeof(sw_param_t), .name = "count", .type = SW_PARAM_INT, .default_value = "0", .min = 0,
     .max = 10000000, .doc = "Synthetic NAT bindings reported at start."},
    {.size = sizeof(sw_param_t), .name = "source", .type = SW_PARAM_ADDRESS, .default_value = "127.0.0.1:20000",
     .doc = "Source (IPv4:port) of the first synthetic binding."},
    {.size = sizeof(sw_param_t), .name = "ports_per_ip", .type = SW_PARAM_INT, .default_value = "1000", .min = 1,
     .max = 65535, .doc = "Bindings per source IP: the port counts up, then the IP."},
    {.size = sizeof(sw_param_t), .name = "transport", .type = SW_PARAM_ENUM, .default_value = "udp",
     .choices = transports, .doc = "Transport of the synthetic bindings."},
    {.size = sizeof(sw_param_t), .name = "socket_id", .type = SW_PARAM_INT, .default_value = "0", .min = 0,
     .max = 1000, .doc = "Local socket of the synthetic bindings (0: the first of their transport)."},
    {.size = sizeof(sw_param_t), .name = "behind_nat", .type = SW_PARAM_BOOL, .default_value = "On",
     .doc = "Report the bindings as behind NAT."},
    {.size = sizeof(sw_param_t), .name = "account", .type = SW_PARAM_STRING, .default_value = "fake",
     .doc = "Account of every binding."},
    {.size = sizeof(sw_param_t), .name = "domain", .type = SW_PARAM_STRING, .default_value = "fake.invalid",
     .doc = "Domain of the synthetic addresses of record."},
    {.size = sizeof(sw_param_t), .name = "answer_register", .type = SW_PARAM_BOOL, .default_value = "Off",
     .doc = "Answer REGISTERs 200 and report their first Contact as a binding."},
    {0},
};

static void report(sw_binding_event_kind_t kind, const char *aor, const char *contact, const char *source,
                   sw_transport_t transport, uint64_t socket_id, uint32_t expires)
{
    sw_binding_event_t ev = {.size = sizeof ev,
                             .kind = kind,
                             .aor = aor,
                             .account = conf.account,
                             .contact = contact,
                             .source = source,
                             .transport = transport,
                             .behind_nat = conf.behind_nat,
                             .expires = expires,
                             .socket_id = socket_id};
    api->binding_event(module, &ev);
    api->stat_add(reported, 1);
}

/* ---- the bindings API ----------------------------------------------------------------- */

static int remove_binding(sw_module_t *caller, const char *aor, const char *contact, const char *reason)
{
    api->log(module, SW_LOG_NOTICE, NULL, "binding removed at the request of %s: %s %s (%s)",
             caller ? api->module_name(caller) : "?", aor, contact, reason ? reason : "");
    api->stat_add(removed, 1);
    report(SW_BINDING_REMOVED, aor, contact, "0.0.0.0:0", conf.transport, 0, 0);
    return 0;
}

static const registrar_bindings_api_t bindings_api = {
    .size = sizeof bindings_api,
    .version = REGISTRAR_BINDINGS_API_VERSION,
    .remove_binding = remove_binding,
};

/* ---- REGISTER ------------------------------------------------------------------------- */

/* The URI inside <...>, or the value up to its first ';'. */
static int uri_of(const char *value, char *out, size_t len)
{
    if (!value)
        return -1;
    const char *start = strchr(value, '<'), *end;
    if (start) {
        start++;
        end = strchr(start, '>');
    } else {
        start = value + strspn(value, " ");
        end = start + strcspn(start, ";");
    }
    if (!end || end <= start || (size_t)(end - start) >= len)
        return -1;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 0;
}

static long expires_of(const sw_msg_t *req, const char *contact_value)
{
    const char *p = strstr(contact_value, "expires=");
    if (p)
        return strtol(p + 8, NULL, 10);
    const char *h = api->msg_header(req, "Expires", 0);
    return h ? strtol(h, NULL, 10) : 3600;
}

static sw_hook_result_t on_request(sw_module_t *self, sw_msg_t *req)
{
    (void)self;
    if (!conf.answer_register || strcmp(api->msg_method(req), "REGISTER") != 0)
        return SW_HOOK_CONTINUE;
    char aor[512], contact[512];
    const char *contact_value = api->msg_header(req, "Contact", 0);
    if (uri_of(api->msg_header(req, "To", 0), aor, sizeof aor) != 0 || !contact_value) {
        api->msg_reply(req, 400, "Bad Request", NULL);
        return SW_HOOK_HANDLED;
    }
    long expires = expires_of(req, contact_value);
    int star = strcmp(contact_value, "*") == 0;
    if (!star && uri_of(contact_value, contact, sizeof contact) != 0) {
        api->msg_reply(req, 400, "Bad Contact", NULL);
        return SW_HOOK_HANDLED;
    }
    if (!star)
        report(expires > 0 ? SW_BINDING_ADDED : SW_BINDING_REMOVED, aor, contact, api->msg_source(req),
               api->msg_transport(req), api->msg_socket_id(req), expires > 0 ? (uint32_t)expires : 0);
    char extra[600];
    snprintf(extra, sizeof extra, "Contact: <%s>;expires=%ld\r\n", star ? "*" : contact, expires > 0 ? expires : 0);
    api->msg_reply(req, 200, "OK", star || expires <= 0 ? NULL : extra);
    return SW_HOOK_HANDLED;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int fake_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    api = a;
    module = self;
    conf.count = api->param_int(cfg, "count");
    conf.ports_per_ip = (unsigned)api->param_int(cfg, "ports_per_ip");
    conf.transport = api->param_int(cfg, "transport") == 1 ? SW_TRANSPORT_TCP : SW_TRANSPORT_UDP;
    conf.socket_id = (uint64_t)api->param_int(cfg, "socket_id");
    conf.behind_nat = (int)api->param_int(cfg, "behind_nat");
    conf.answer_register = (int)api->param_int(cfg, "answer_register");
    snprintf(conf.account, sizeof conf.account, "%s", api->param_str(cfg, "account"));
    snprintf(conf.domain, sizeof conf.domain, "%s", api->param_str(cfg, "domain"));
    char ip[64];
    const char *source = api->param_str(cfg, "source");
    const char *colon = strrchr(source, ':');
    struct in_addr addr;
    if (!colon || (size_t)(colon - source) >= sizeof ip) {
        api->set_error(self, "source: IPv4:port expected");
        return -1;
    }
    snprintf(ip, sizeof ip, "%.*s", (int)(colon - source), source);
    conf.port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (inet_pton(AF_INET, ip, &addr) != 1 || conf.port == 0 || conf.port + conf.ports_per_ip - 1 > 65535) {
        api->set_error(self, "source: IPv4:port expected, with room for ports_per_ip ports");
        return -1;
    }
    conf.ip = ntohl(addr.s_addr);
    reported = api->stat_register(self, "reported_total", "Binding events reported", SW_STAT_COUNTER);
    removed = api->stat_register(self, "removed_total", "Bindings removed through the bindings API",
                                 SW_STAT_COUNTER);
    api->export_api(self, REGISTRAR_BINDINGS_API, &bindings_api);
    return 0;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fake_start(sw_module_t *self)
{
    (void)self;
    uint64_t t0 = monotonic_ms();
    for (long long i = 0; i < conf.count; i++) {
        struct in_addr addr = {.s_addr = htonl(conf.ip + (uint32_t)(i / conf.ports_per_ip))};
        char ip[INET_ADDRSTRLEN], source[64], aor[256], contact[256];
        inet_ntop(AF_INET, &addr, ip, sizeof ip);
        unsigned port = conf.port + (unsigned)(i % conf.ports_per_ip);
        snprintf(source, sizeof source, "%s:%u", ip, port);
        snprintf(aor, sizeof aor, "sip:dev%lld@%s", i, conf.domain);
        snprintf(contact, sizeof contact, "sip:dev%lld@192.168.%u.%u:5060", i, (unsigned)(i >> 8) & 255u,
                 (unsigned)i & 255u);
        report(SW_BINDING_ADDED, aor, contact, source, conf.transport, conf.socket_id, 3600);
    }
    if (conf.count)
        api->log(module, SW_LOG_NOTICE, NULL, "reported %lld synthetic bindings in %llu ms", conf.count,
                 (unsigned long long)(monotonic_ms() - t0));
    return 0;
}

static const sw_hooks_t fake_hooks = {.size = sizeof(sw_hooks_t), .on_request = on_request};

static const sw_module_desc_t fake_registrar_module = {
    SW_MODULE_DESC_INIT,
    .name = "fake_registrar",
    .version = "0.0.1",
    .license = "MIT",
    .description = "TEST ONLY: synthetic registrar bindings for nat_keepalive's tests and benchmark",
    .params = fake_params,
    .hooks = &fake_hooks,
    .init = fake_init,
    .start = fake_start,
};
SW_MODULE(fake_registrar_module)
