/*
 * REGISTER (RFC 3261 section 10.3), in the RFC's order: the address of
 * record (To), who may register it (allowed_ips, suspension, digest), the
 * contacts and their expiry, then the change to the location service,
 * all or nothing, and a 200 listing every current binding.
 *
 * The expiry granted is what the device asked (the contact's expires, else
 * the Expires header, else the cap), capped by SS_ENDPOINT_EXPIRE, or
 * SS_ENDPOINT_NAT_EXPIRE for a device behind NAT so that its pinhole is
 * refreshed often enough. Asking less than min_expires (and not 0) gets 423
 * with Min-Expires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contact_list.h"
#include "nat_detect.h"
#include "registrar.h"
#include "sip_uri.h"
#include "text_out.h"

/* Most contacts one REGISTER may carry (any more is refused with 400,
 * before the per-AOR limit applies). */
#define CONTACTS_MAX 32

static sw_hook_result_t reply(sw_msg_t *req, int code, const char *reason, const char *extra)
{
    registrar.api->msg_reply(req, code, reason, extra);
    if (code >= 300)
        registrar.api->stat_add(registrar.st.refused, 1);
    return SW_HOOK_HANDLED;
}

/* The AOR's user part into user, and "sip:user@host[:port]" into aor. */
static int read_aor(const sw_msg_t *req, char *user, size_t ulen, char *aor, size_t alen)
{
    const char *to = registrar.api->msg_header(req, "To", 0);
    const char *uri;
    size_t uri_len;
    reg_uri_t u;
    if (!to || reg_addr_uri(to, strlen(to), &uri, &uri_len, NULL) != 0 || reg_uri_parse(uri, uri_len, &u) != 0)
        return -1;
    if (u.user_len == 0 || u.user_len >= ulen)
        return -1;
    memcpy(user, u.user, u.user_len);
    user[u.user_len] = '\0';
    int v6 = memchr(u.host, ':', u.host_len) != NULL;
    text_out_t o = {.p = aor, .cap = alen};
    text_put(&o, u.scheme, u.scheme_len);
    text_put(&o, ":", 1);
    text_put(&o, user, u.user_len);
    text_put(&o, v6 ? "@[" : "@", v6 ? 2 : 1);
    text_put(&o, u.host, u.host_len);
    if (v6)
        text_put(&o, "]", 1);
    if (u.port) {
        text_put(&o, ":", 1);
        text_put_uint(&o, u.port);
    }
    return o.full ? -1 : 0;
}

/* The Expires header as seconds, -1 when absent or unreadable. */
static int64_t expires_header(const sw_msg_t *req)
{
    const char *v = registrar.api->msg_header(req, "Expires", 0);
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    int64_t e = 0;
    const char *p = v;
    for (; *p >= '0' && *p <= '9'; p++)
        if (e < 4294967295LL)
            e = e * 10 + (*p - '0');
    while (*p == ' ' || *p == '\t')
        p++;
    return p == v || *p ? -1 : (e > 4294967295LL ? 4294967295LL : e);
}

static uint32_t cseq_number(const sw_msg_t *req)
{
    const char *v = registrar.api->msg_header(req, "CSeq", 0);
    return v ? (uint32_t)strtoul(v, NULL, 10) : 0; /* sanity checked it: "number method" */
}

/* "Date: ...\r\n" for now, formatted once a second. */
static const char *date_header(void)
{
    static time_t cached_second = -1;
    static char cached[48];
    time_t t = (time_t)(registrar.api->wallclock_ms() / 1000);
    if (t != cached_second) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(cached, sizeof cached, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached_second = t;
    }
    return cached;
}

/* The 200's Contact lines: every binding the AOR has now, with what is
 * left of its expiry (RFC 3261 10.3 step 8), and Date. Written into buf
 * when they fit (one device: the usual case), else into an allocation the
 * caller frees (the pointer returned is not buf). */
static char *success_headers(const char *user, char *buf, size_t buf_len)
{
    const sw_api_t *api = registrar.api;
    const reg_aor_t *a = reg_store_find(registrar.store, user);
    const char *date = date_header();
    size_t cap = strlen(date) + 1;
    for (size_t i = 0; a && i < a->n; i++)
        cap += strlen(a->bindings[i]->contact) + 48;
    text_out_t o = {.p = cap <= buf_len ? buf : api->alloc(cap), .cap = cap};
    uint64_t now = api->now_ms();
    for (size_t i = 0; a && i < a->n; i++) {
        const reg_binding_t *b = a->bindings[i];
        text_put(&o, "Contact: <", 10);
        text_put_str(&o, b->contact);
        text_put(&o, ">;expires=", 10);
        text_put_uint(&o, reg_binding_seconds_left(b, now));
        if (b->q >= 0) {
            char q[8] = {';', 'q', '=', (char)('0' + b->q / 1000), '.', (char)('0' + b->q / 100 % 10),
                         (char)('0' + b->q / 10 % 10), (char)('0' + b->q % 10)};
            text_put(&o, q, sizeof q);
        }
        text_put(&o, "\r\n", 2);
    }
    text_put_str(&o, date);
    return o.p;
}

sw_hook_result_t registrar_handle_register(sw_msg_t *req, const char *ip, unsigned port)
{
    const sw_api_t *api = registrar.api;
    char user[REG_USER_MAX + 1], aor[REG_USER_MAX + 320];
    if (read_aor(req, user, sizeof user, aor, sizeof aor) != 0)
        return reply(req, 404, "Not Found (no account in To)", NULL); /* RFC 3261 10.3 step 5 */

    const reg_account_t *acc = reg_accounts_find(registrar.accounts, user);
    if (acc && !reg_account_allows(acc, ip)) {
        api->log(registrar.self, SW_LOG_NOTICE, api->msg_call_id(req),
                 "REGISTER for '%s' from %s: not in its allowed_ips", user, ip);
        return reply(req, 403, "Forbidden (address not allowed)", NULL);
    }
    if (registrar_suspended(user, ip))
        return reply(req, 403, "Forbidden (registration suspended)", NULL);

    sw_hook_result_t verdict = registrar_authenticate(req, ip, user, 1, &acc);
    if (verdict != SW_HOOK_CONTINUE)
        return verdict;

    /* the contacts, from every Contact header */
    reg_contact_t contacts[CONTACTS_MAX];
    size_t n = 0;
    int star = 0, n_headers = 0;
    const char *v;
    for (size_t i = 0; (v = api->msg_header(req, "Contact", i)) != NULL; i++, n_headers++)
        if (reg_contact_parse(v, strlen(v), contacts, CONTACTS_MAX, &n, &star) != 0)
            return reply(req, 400, "Bad Request (malformed or too many contacts)", NULL);
    int64_t header_expires = expires_header(req);
    if (star && (n_headers != 1 || n != 0 || header_expires != 0))
        return reply(req, 400, "Bad Request (Contact: * needs Expires: 0 and no other contact)", NULL);

    /* every contact must be a SIP URI; the first one's host tells NAT too */
    reg_uri_t first;
    for (size_t i = 0; i < n; i++) {
        reg_uri_t u;
        if (reg_uri_parse(contacts[i].uri, contacts[i].uri_len, i ? &u : &first) != 0)
            return reply(req, 400, "Bad Request (contact is not a SIP URI)", NULL);
    }
    int udp = api->msg_transport(req) == SW_TRANSPORT_UDP;
    int nat = reg_behind_nat_host(api->msg_header(req, "Via", 0), n ? first.host : NULL, n ? first.host_len : 0, ip,
                                  port, udp);
    uint32_t cap = nat ? registrar.set.nat_expire_s : registrar.set.expire_s;
    reg_contact_req_t wanted[CONTACTS_MAX];
    for (size_t i = 0; i < n; i++) {
        int64_t asked = contacts[i].expires >= 0 ? contacts[i].expires : header_expires >= 0 ? header_expires : cap;
        if (asked > 0 && asked < registrar.set.min_expires_s) {
            char extra[48];
            snprintf(extra, sizeof extra, "Min-Expires: %u\r\n", (unsigned)registrar.set.min_expires_s);
            return reply(req, 423, "Interval Too Brief", extra);
        }
        wanted[i] = (reg_contact_req_t){.uri = contacts[i].uri,
                                        .uri_len = contacts[i].uri_len,
                                        .expires_s = (uint32_t)(asked < cap ? asked : cap),
                                        .q = contacts[i].q};
    }

    /* what the store keeps of the source and the User-Agent, cut to size */
    char source[80], agent[129];
    text_out_t src_out = {.p = source, .cap = sizeof source}, agent_out = {.p = agent, .cap = sizeof agent};
    const char *src = api->msg_source(req), *ua = api->msg_header(req, "User-Agent", 0);
    source[0] = agent[0] = '\0';
    if (src)
        text_put(&src_out, src, strnlen(src, sizeof source - 1));
    if (ua)
        text_put(&agent_out, ua, strnlen(ua, sizeof agent - 1));
    reg_register_t r = {
        .user = user,
        .aor = aor,
        .call_id = api->msg_call_id(req),
        .cseq = cseq_number(req),
        .source = source,
        .transport = (int)api->msg_transport(req),
        .socket_id = api->msg_socket_id(req),
        .behind_nat = nat,
        .user_agent = agent,
        .replace = registrar.set.replace,
        .remove_all = star,
        .max_contacts = registrar.set.max_contacts,
        .now_ms = api->now_ms(),
        .now_wall_ms = (int64_t)api->wallclock_ms(),
        .contacts = wanted,
        .n_contacts = n,
    };
    switch (reg_store_register(registrar.store, &r, registrar_on_change, NULL)) {
    case REG_UPDATE_OK:
        break;
    case REG_UPDATE_OUT_OF_ORDER:
        return reply(req, 500, "Server Internal Error (CSeq out of order)", "Retry-After: 1\r\n");
    case REG_UPDATE_OTHER_DEVICE:
        api->log(registrar.self, SW_LOG_NOTICE, api->msg_call_id(req),
                 "REGISTER for '%s' from %s refused: registered from another device (register_replace Off)", user,
                 ip);
        return reply(req, 403, "Forbidden (registered from another device)", NULL);
    case REG_UPDATE_TOO_MANY:
        return reply(req, 403, "Forbidden (too many contacts)", NULL);
    }
    api->stat_add(registrar.st.registrations, 1);
    char buf[512];
    char *extra = success_headers(user, buf, sizeof buf);
    api->msg_reply(req, 200, "OK", extra);
    if (extra != buf)
        api->free(extra);
    return SW_HOOK_HANDLED;
}
