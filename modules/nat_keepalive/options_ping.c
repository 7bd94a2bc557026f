/*
 * OPTIONS mode (keepalive_mode = options): a SIP OPTIONS instead of the raw
 * heartbeat, sent to the device's contact through the address and socket
 * it registered from (same pinhole), and the device's binding dropped when
 * it leaves keepalive_max_missed of them unanswered in a row (liveness.h).
 *
 * The ping's callback finds its device by id, generation and sequence
 * packed into the callback's argument, so a late answer for a device that
 * has been removed (its id maybe reused) changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "keepalive_runtime.h"
#include "liveness.h"
#include "registrar_bindings_api.h"

/* id in bits 0-31, generation's low 24 bits in 32-55, sequence in 56-63 */
static void *pack_ping(uint32_t id, uint32_t generation, uint8_t seq)
{
    uint64_t v = (uint64_t)id | ((uint64_t)(generation & 0xffffffu) << 32) | ((uint64_t)seq << 56);
    return (void *)(uintptr_t)v;
}

static uint64_t pack_drop(uint32_t id, uint32_t generation)
{
    return (uint64_t)id | ((uint64_t)generation << 32);
}

/* The device a packed value names, if it is still the same device. */
static ka_device_t *unpack(uint64_t v, uint32_t *id, uint32_t generation_mask)
{
    *id = (uint32_t)v;
    ka_device_t *d = ka.devices ? ka_devices_get(ka.devices, *id) : NULL;
    uint32_t generation = (uint32_t)(v >> 32) & generation_mask;
    return d && (d->generation & generation_mask) == generation ? d : NULL;
}

/* ---- dropping ------------------------------------------------------------------------- */

static const registrar_bindings_api_t *registrar_api(void)
{
    const registrar_bindings_api_t *r =
        ka.api->import_api(ka.self, ka.conf.registrar_module, REGISTRAR_BINDINGS_API);
    if (r && r->size >= offsetof(registrar_bindings_api_t, remove_binding) + sizeof r->remove_binding &&
        r->version >= 1 && r->remove_binding)
        return r;
    if (!ka.no_registrar_api_warned)
        ka.api->log(ka.self, SW_LOG_WARN, NULL,
                    "module '%s' exports no \"%s\" API (version 1): a silent device stops being pinged but its "
                    "binding stays until it expires",
                    ka.conf.registrar_module, REGISTRAR_BINDINGS_API);
    ka.no_registrar_api_warned = true;
    return NULL;
}

/* Asks the registrar to remove the binding (it reports REMOVED back to
 * on_register, which forgets the device), then forgets it here in case it
 * did not. */
static void drop(uint32_t id, unsigned max_missed)
{
    const sw_api_t *api = ka.api;
    ka_device_t *d = ka_devices_get(ka.devices, id);
    if (!d)
        return;
    uint32_t generation = d->generation;
    char aor[KA_MAX_URI + 1], contact[KA_MAX_URI + 1], source[KA_MAX_SOURCE + 1];
    snprintf(aor, sizeof aor, "%s", ka_device_aor(d));
    snprintf(contact, sizeof contact, "%s", ka_device_contact(d));
    snprintf(source, sizeof source, "%s", ka_device_source(d));
    api->stat_add(ka.m.dropped, 1);
    api->log(ka.self, SW_LOG_NOTICE, NULL, "%s (contact %s at %s) left %u OPTIONS in a row unanswered: binding dropped",
             aor, contact, source, max_missed);
    const registrar_bindings_api_t *r = registrar_api();
    if (r && r->remove_binding(ka.self, aor, contact, "no answer to the NAT keep-alive OPTIONS") != 0)
        api->log(ka.self, SW_LOG_INFO, NULL, "%s: module '%s' no longer had the binding %s", aor,
                 ka.conf.registrar_module, contact);
    d = ka_devices_get(ka.devices, id);
    if (d && d->generation == generation)
        ka_forget(id);
}

void ka_options_drop_queued(void)
{
    for (size_t i = 0; i < ka.n_drops; i++) {
        uint32_t id;
        ka_device_t *d = unpack(ka.drops[i], &id, UINT32_MAX);
        if (d)
            drop(id, ka_config_account(&ka.conf, ka_device_account(d))->max_missed);
    }
    ka.n_drops = 0;
}

static void queue_drop(uint32_t id, const ka_device_t *d)
{
    if (ka.n_drops == ka.cap_drops) {
        ka.cap_drops = ka.cap_drops ? ka.cap_drops * 2 : 64;
        ka.drops = ka.api->realloc(ka.drops, ka.cap_drops * sizeof *ka.drops);
    }
    ka.drops[ka.n_drops++] = pack_drop(id, d->generation);
}

/* ---- pinging -------------------------------------------------------------------------- */

static void on_ping_answer(sw_module_t *self, int code, sw_msg_t *resp, void *arg)
{
    (void)self;
    (void)code;
    uint32_t id;
    uint64_t v = (uint64_t)(uintptr_t)arg;
    ka_device_t *d = unpack(v & 0x00ffffffffffffffull, &id, 0xffffffu);
    if (!d)
        return; /* removed since */
    /* any response at all comes from the device (or its NAT): a 408 or 503
     * the core made up comes without one */
    const ka_account_settings_t *settings = ka_config_account(&ka.conf, ka_device_account(d));
    switch (ka_liveness_on_answer(d, (uint8_t)(v >> 56), resp != NULL, settings->max_missed)) {
    case KA_ANSWER_MISSED:
        ka.api->stat_add(ka.m.options_failures, 1);
        break;
    case KA_ANSWER_DROP:
        ka.api->stat_add(ka.m.options_failures, 1);
        drop(id, settings->max_missed);
        break;
    case KA_ANSWER_ALIVE:
    case KA_ANSWER_STALE:
        break;
    }
}

/* The Request-URI: the contact without angle brackets. */
static int request_uri(const char *contact, char *out, size_t len)
{
    const char *start = contact, *end = contact + strlen(contact);
    const char *lt = strchr(contact, '<');
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt)
            return -1;
        start = lt + 1;
        end = gt;
    }
    if (end <= start || (size_t)(end - start) >= len)
        return -1;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return strncmp(out, "sip:", 4) == 0 || strncmp(out, "sips:", 5) == 0 ? 0 : -1;
}

static void send_ping(uint32_t id, ka_device_t *d, uint8_t seq)
{
    const sw_api_t *api = ka.api;
    char ruri[KA_MAX_URI + 1];
    if (request_uri(ka_device_contact(d), ruri, sizeof ruri) != 0) {
        ka.send_errors++;
        return;
    }
    sw_transport_t transport = d->transport == SW_TRANSPORT_TCP ? SW_TRANSPORT_TCP : SW_TRANSPORT_UDP;
    const char *local = transport == SW_TRANSPORT_TCP ? ka.local_tcp : ka.local_udp;
    const char *aor = ka_device_aor(d);
    /* To names the device's address of record when it is a URI */
    const char *to = strncmp(aor, "sip:", 4) == 0 || strncmp(aor, "sips:", 5) == 0 ? aor : ruri;
    unsigned long long n = ++ka.pings;
    char headers[3 * KA_MAX_URI];
    snprintf(headers, sizeof headers,
             "From: <sip:keepalive@%s>;tag=nk%s%llx\r\n"
             "To: <%s>\r\n"
             "Call-ID: nk-%s-%llx@%s\r\n"
             "CSeq: 1 OPTIONS\r\n",
             local, ka.ping_prefix, n, to, ka.ping_prefix, n, local);
    if (api->request_send(ka.self, "OPTIONS", ruri, headers, NULL, NULL, 0, transport, ka_device_source(d),
                          d->socket_id, on_ping_answer, pack_ping(id, d->generation, seq)) == 0)
        ka.sent[KA_SENT_OPTIONS]++;
    else
        ka.send_errors++; /* counted as missed at the next slot: the ping stays pending */
}

void ka_options_visit(uint32_t id, ka_device_t *d, const ka_account_settings_t *settings)
{
    ka_slot_step_t step = ka_liveness_on_slot(d, settings->max_missed);
    if (step.missed)
        ka.api->stat_add(ka.m.options_failures, 1);
    if (step.drop)
        queue_drop(id, d);
    else
        send_ping(id, d, step.seq);
}
