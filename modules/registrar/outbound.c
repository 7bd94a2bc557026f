/*
 * Outbound registration at run time: one ob_reg_t per [registration NAME].
 * Each keeps one Call-ID and From tag for its life and one more CSeq per
 * REGISTER (RFC 3261 10.2.4), and the carrier's last challenge: later
 * REGISTERs (refreshes, the unregister) carry credentials for it with the
 * next nonce count, so a refresh usually costs one round trip.
 *
 * outbound_fsm.c decides; this file sends (api->request_send), reads the
 * answers and runs one timer per registration for its next REGISTER, and a
 * second one while a REGISTER answering a challenge waits for its answer
 * (SS_SIP_AUTHENTICATION_TIMEOUT). A request's callback finds its
 * registration through a ticket (id and attempt number, not a pointer): an
 * answer to a REGISTER that was superseded, or whose registration a reload
 * removed, is ignored, and nothing is left to free when the core drops
 * pending requests at shutdown.
 */
#include "outbound.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip_match.h"
#include "outbound_auth.h"
#include "outbound_config.h"
#include "outbound_fsm.h"
#include "outbound_message.h"
#include "sip_uri.h"

/* Challenge headers read from one response (RFC 8760: one per algorithm). */
#define CHALLENGES_MAX 8
/* Contact headers read from a 2xx. */
#define CONTACT_HEADERS_MAX 16

typedef struct ob_reg {
    ob_reg_conf_t conf;
    uint32_t id;
    ob_fsm_t fsm;
    char call_id[40];
    char from_tag[20];
    char contact[320];       /* our Contact URI in the last REGISTER: how a 2xx names our binding */
    uint32_t cseq;
    uint32_t attempt;        /* REGISTERs sent; an answer to an older one is ignored */
    int in_flight;
    int leaving;             /* a reload removed it: its unregister is under way */
    ob_challenge_t challenge;
    int has_challenge, challenge_is_proxy;
    uint32_t nc;             /* requests that used challenge.nonce */
    sw_timer_t *timer;       /* the next refresh or retry */
    sw_timer_t *auth_timer;  /* a REGISTER answering a challenge must be answered in time */
    uint64_t next_at_ms;     /* when `timer` fires; 0: none */
    uint64_t bound_until_ms; /* the carrier holds our binding until then: an unregister is worth sending */
} ob_reg_t;

static struct {
    const sw_api_t *api;
    sw_module_t *self;
    ob_settings_t set;
    ob_reg_t **regs;         /* the registrations, and those leaving */
    size_t n, cap;
    ob_config_t *pending;    /* a reload's cfg between outbound_reload_read and _apply */
    uint32_t next_id;
    int started;
    char user_agent[64];
    struct {
        sw_stat_t *registered, *failed, *sent, *failures;
    } st;
} ob;

/* ---- small helpers ------------------------------------------------------------------------ */

static uint32_t random_u32(void)
{
    uint32_t v;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        abort(); /* no randomness: Call-IDs and cnonces would repeat */
    return v;
}

/* 2 * bytes hex digits and a NUL into out. */
static void random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    if (bytes > sizeof raw || RAND_bytes(raw, (int)bytes) != 1)
        abort();
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * bytes] = '\0';
}

static ob_policy_t policy(void)
{
    return (ob_policy_t){.auth_retry = ob.set.auth_retry, .retry_delay_ms = ob.set.retry_delay_ms};
}

static const char *privacy_value(ob_privacy_t p)
{
    return p == OB_PRIVACY_ID ? "id" : p == OB_PRIVACY_NONE ? "none" : NULL;
}

#define TICKET_HALF (sizeof(uintptr_t) * 4)
#define TICKET_LOW(v) ((uintptr_t)(v) & (((uintptr_t)1 << TICKET_HALF) - 1))

static void *ticket(const ob_reg_t *r)
{
    return (void *)(((uintptr_t)r->id << TICKET_HALF) | TICKET_LOW(r->attempt));
}

/* The registration a request's answer belongs to, or NULL when the
 * request is no longer the one awaited. */
static ob_reg_t *ticket_owner(void *t)
{
    uintptr_t v = (uintptr_t)t;
    for (size_t i = 0; i < ob.n; i++) {
        ob_reg_t *r = ob.regs[i];
        if (TICKET_LOW(r->id) == (v >> TICKET_HALF))
            return r->in_flight && TICKET_LOW(r->attempt) == TICKET_LOW(v) ? r : NULL;
    }
    return NULL;
}

static void update_gauges(void)
{
    int64_t registered = 0, failed = 0;
    for (size_t i = 0; i < ob.n; i++) {
        const ob_reg_t *r = ob.regs[i];
        if (r->leaving)
            continue;
        registered += r->fsm.state == OB_STATE_REGISTERED;
        failed += r->fsm.state == OB_STATE_FAILED || r->fsm.state == OB_STATE_RETRYING;
    }
    ob.api->stat_set(ob.st.registered, registered);
    ob.api->stat_set(ob.st.failed, failed);
}

/* ---- registrations -------------------------------------------------------------------------- */

/* A registration for a section (whose strings it takes over). */
static ob_reg_t *reg_new(ob_reg_conf_t *conf)
{
    ob_reg_t *r = ob.api->calloc(1, sizeof *r);
    r->conf = *conf;
    memset(conf, 0, sizeof *conf);
    r->id = ++ob.next_id;
    random_hex(r->call_id, 16);
    random_hex(r->from_tag, 8);
    ob_fsm_init(&r->fsm, r->conf.expire_s ? r->conf.expire_s : OB_EXPIRE_AUTO_ASK);
    if (ob.n == ob.cap) {
        ob.cap = ob.cap ? ob.cap * 2 : 8;
        ob.regs = ob.api->realloc(ob.regs, ob.cap * sizeof *ob.regs);
    }
    ob.regs[ob.n++] = r;
    return r;
}

static void stop_timers(ob_reg_t *r)
{
    if (r->timer)
        ob.api->timer_stop(r->timer);
    if (r->auth_timer)
        ob.api->timer_stop(r->auth_timer);
    r->timer = r->auth_timer = NULL;
    r->next_at_ms = 0;
}

static void forget(ob_reg_t *r)
{
    for (size_t i = 0; i < ob.n; i++)
        if (ob.regs[i] == r) {
            memmove(&ob.regs[i], &ob.regs[i + 1], (ob.n - i - 1) * sizeof *ob.regs);
            ob.n--;
            break;
        }
    stop_timers(r);
    ob_reg_conf_clear(ob.api, &r->conf);
    ob.api->free(r);
}

static void on_timer(sw_module_t *self, void *arg);
static void on_auth_timeout(sw_module_t *self, void *arg);
static void on_answer(sw_module_t *self, int code, sw_msg_t *resp, void *arg);

static void schedule(ob_reg_t *r, uint64_t ms)
{
    if (r->timer)
        ob.api->timer_stop(r->timer);
    r->timer = ob.api->timer_start(ob.self, "outbound_registration", ms, 0, on_timer, r);
    r->next_at_ms = ob.api->now_ms() + ms;
}

/* One REGISTER asking for `expires` (0 unregisters). 0 when sent. */
static int send_register(ob_reg_t *r, uint32_t expires)
{
    const sw_api_t *api = ob.api;
    char local[96], ruri[320], auth[2048], cnonce[17], headers[4096];
    if (api->local_address(r->conf.transport, local, sizeof local) != 0) {
        api->log(ob.self, SW_LOG_WARN, NULL, "%s: the switch does not listen on %s: no REGISTER", r->conf.name,
                 r->conf.transport == SW_TRANSPORT_TCP ? "TCP" : "UDP");
        return -1;
    }
    ob_register_msg_t m = {
        .domain = r->conf.domain,
        .user = r->conf.user,
        .contact_user = r->conf.contact_user,
        .local = local,
        .tcp = r->conf.transport == SW_TRANSPORT_TCP,
        .call_id = r->call_id,
        .from_tag = r->from_tag,
        .cseq = r->cseq + 1,
        .expires = expires,
        .privacy = privacy_value(r->conf.privacy),
        .user_agent = ob.user_agent,
    };
    if (ob_register_uri(r->conf.domain, ruri, sizeof ruri) != 0 || ob_contact_uri(&m, r->contact, sizeof r->contact))
        return -1;
    if (r->has_challenge) {
        random_hex(cnonce, 8);
        if (ob_authorization(&r->challenge, r->conf.auth_user, r->conf.password, "REGISTER", ruri, r->nc + 1, cnonce,
                             auth, sizeof auth) == 0) {
            r->nc++;
            m.auth_header = r->challenge_is_proxy ? "Proxy-Authorization" : "Authorization";
            m.auth_value = auth;
        }
    }
    if (ob_register_headers(&m, headers, sizeof headers) != 0)
        return -1;
    r->cseq++;
    r->attempt++;
    if (api->request_send(ob.self, "REGISTER", ruri, headers, NULL, NULL, 0, r->conf.transport, r->conf.dest, 0,
                          on_answer, ticket(r)) != 0)
        return -1;
    r->in_flight = 1;
    api->stat_add(ob.st.sent, 1);
    return 0;
}

static void on_final(ob_reg_t *r, int code, sw_msg_t *resp);

/* Sends the registration's next REGISTER; one that cannot leave fails
 * like an unreachable carrier (503). */
static void register_now(ob_reg_t *r, int answering_challenge)
{
    if (send_register(r, r->leaving ? 0 : r->fsm.ask_s) != 0) {
        on_final(r, 503, NULL);
        return;
    }
    if (answering_challenge)
        r->auth_timer =
            ob.api->timer_start(ob.self, "outbound_auth_timeout", ob.set.auth_timeout_ms, 0, on_auth_timeout, r);
}

/* What a final answer says, for the state machine; a challenge is kept
 * for the next REGISTERs. */
static ob_response_t read_response(ob_reg_t *r, int code, sw_msg_t *resp)
{
    const sw_api_t *api = ob.api;
    ob_response_t rr = {.code = code, .granted_s = -1, .min_expires_s = -1};
    if (!resp)
        return rr;
    if (code == 401 || code == 407) {
        const char *name = code == 401 ? "WWW-Authenticate" : "Proxy-Authenticate";
        const char *values[CHALLENGES_MAX];
        size_t n = 0;
        while (n < CHALLENGES_MAX && (values[n] = api->msg_header(resp, name, n)) != NULL)
            n++;
        ob_challenge_t c;
        if (ob_challenge_pick(values, n, &c) == 0) {
            r->challenge = c;
            r->has_challenge = 1;
            r->challenge_is_proxy = code == 407;
            r->nc = 0;
            rr.challenge_usable = 1;
            rr.stale = c.stale;
        }
    } else if (code >= 200 && code < 300) {
        const char *values[CONTACT_HEADERS_MAX];
        size_t n = 0;
        while (n < CONTACT_HEADERS_MAX && (values[n] = api->msg_header(resp, "Contact", n)) != NULL)
            n++;
        rr.granted_s = ob_granted_expires(values, n, api->msg_header(resp, "Expires", 0), r->contact);
    } else if (code == 423) {
        rr.min_expires_s = ob_delta_seconds(api->msg_header(resp, "Min-Expires", 0));
    }
    return rr;
}

static void on_final(ob_reg_t *r, int code, sw_msg_t *resp)
{
    const sw_api_t *api = ob.api;
    r->in_flight = 0;
    if (r->auth_timer)
        api->timer_stop(r->auth_timer);
    r->auth_timer = NULL;
    ob_response_t rr = read_response(r, code, resp);
    ob_state_t before = r->fsm.state;
    ob_policy_t p = policy();
    ob_step_t step = ob_fsm_on_response(&r->fsm, &p, &rr, random_u32());
    if (r->leaving) {
        if (step.next == OB_NEXT_SEND_NOW && rr.challenge_usable) {
            register_now(r, 1);
            return;
        }
        api->log(ob.self, SW_LOG_NOTICE, NULL, "%s: unregister answered %d; registration gone", r->conf.name, code);
        forget(r);
        return;
    }
    if (step.registered) {
        r->bound_until_ms = api->now_ms() + (uint64_t)r->fsm.granted_s * 1000;
        if (before != OB_STATE_REGISTERED)
            api->log(ob.self, SW_LOG_NOTICE, NULL, "%s: registered at %s as %s for %u s", r->conf.name,
                     r->conf.domain, r->conf.user, (unsigned)r->fsm.granted_s);
    }
    if (step.failed) {
        r->has_challenge = 0; /* the retry starts afresh */
        api->stat_add(ob.st.failures, 1);
        api->log(ob.self, SW_LOG_WARN, NULL, "%s: REGISTER to %s failed with %d; next attempt in %.1f s",
                 r->conf.name, r->conf.dest, code, (double)step.wait_ms / 1000.0);
    }
    if (step.next == OB_NEXT_SEND_NOW)
        register_now(r, rr.challenge_usable);
    else
        schedule(r, step.wait_ms);
    update_gauges();
}

static void on_answer(sw_module_t *self, int code, sw_msg_t *resp, void *arg)
{
    (void)self;
    ob_reg_t *r = ticket_owner(arg);
    if (r)
        on_final(r, code, resp);
}

static void on_timer(sw_module_t *self, void *arg)
{
    (void)self;
    ob_reg_t *r = arg;
    ob.api->timer_stop(r->timer);
    r->timer = NULL;
    r->next_at_ms = 0;
    ob_fsm_on_timer(&r->fsm);
    register_now(r, 0);
    update_gauges();
}

/* SS_SIP_AUTHENTICATION_TIMEOUT: the REGISTER answering a challenge got no
 * answer in time; the attempt fails like a timeout (its late answer is
 * ignored). */
static void on_auth_timeout(sw_module_t *self, void *arg)
{
    (void)self;
    ob_reg_t *r = arg;
    ob.api->log(ob.self, SW_LOG_WARN, NULL, "%s: no answer to the authenticated REGISTER within %llu ms",
                r->conf.name, (unsigned long long)ob.set.auth_timeout_ms);
    r->attempt++;
    on_final(r, 408, NULL);
}

/* A reload dropped or changed the registration: Expires: 0 when the
 * carrier holds a binding and SS_SIP_USER_AGENT_SEND_UNREGISTER is On
 * (the registration goes once that is answered), else it goes now. */
static void leave(ob_reg_t *r, const char *why)
{
    stop_timers(r);
    r->attempt++; /* an answer to a REGISTER under way is not ours any more */
    r->in_flight = 0;
    if (!ob.set.send_unregister || r->bound_until_ms <= ob.api->now_ms()) {
        ob.api->log(ob.self, SW_LOG_NOTICE, NULL, "%s: %s", r->conf.name, why);
        forget(r);
        return;
    }
    ob.api->log(ob.self, SW_LOG_NOTICE, NULL, "%s: %s: unregistering", r->conf.name, why);
    r->leaving = 1;
    ob_fsm_init(&r->fsm, 0);
    register_now(r, 0);
}

/* ---- the module's calls --------------------------------------------------------------------- */

static void adopt(ob_config_t *c)
{
    ob.set = c->set;
    for (size_t i = 0; i < c->n; i++)
        if (c->regs[i].name) {
            ob_reg_t *r = reg_new(&c->regs[i]);
            if (ob.started)
                register_now(r, 0);
        }
    ob_config_free(ob.api, c);
}

int outbound_init(sw_module_t *self, const sw_api_t *api, const sw_config_t *cfg, const reg_accounts_t *accounts)
{
    memset(&ob, 0, sizeof ob);
    ob.api = api;
    ob.self = self;
    ob_config_t *c = ob_config_read(api, self, cfg, accounts);
    if (!c)
        return -1;
    snprintf(ob.user_agent, sizeof ob.user_agent, "sipswitch/%s", api->core_version());
    ob.st.registered = api->stat_register(self, "outbound_registered", "Outbound registrations bound at their carrier",
                                          SW_STAT_GAUGE);
    ob.st.failed = api->stat_register(self, "outbound_failed",
                                      "Outbound registrations whose last attempt failed (waiting to retry, or retrying)",
                                      SW_STAT_GAUGE);
    ob.st.sent = api->stat_register(self, "outbound_register_sent_total",
                                    "REGISTERs sent to carriers (refreshes, challenge answers, unregisters)",
                                    SW_STAT_COUNTER);
    ob.st.failures = api->stat_register(self, "outbound_failures_total",
                                        "Outbound registration attempts that failed (error answer, timeout, "
                                        "unreachable, challenges exhausted)",
                                        SW_STAT_COUNTER);
    adopt(c);
    return 0;
}

void outbound_start(void)
{
    ob.started = 1;
    for (size_t i = 0; i < ob.n; i++)
        register_now(ob.regs[i], 0);
    update_gauges();
}

int outbound_reload_read(const sw_config_t *cfg, const reg_accounts_t *accounts)
{
    outbound_reload_cancel();
    ob.pending = ob_config_read(ob.api, ob.self, cfg, accounts);
    return ob.pending ? 0 : -1;
}

void outbound_reload_cancel(void)
{
    ob_config_free(ob.api, ob.pending);
    ob.pending = NULL;
}

void outbound_reload_apply(void)
{
    ob_config_t *c = ob.pending;
    ob.pending = NULL;
    if (!c)
        return;
    ob.set = c->set;
    /* leave() may free a registration: walk a copy of the list */
    size_t n_old = ob.n;
    ob_reg_t **old = ob.api->alloc((n_old ? n_old : 1) * sizeof *old);
    if (n_old) /* ob.regs is NULL when there were none: memcpy's NULL is undefined even for 0 bytes */
        memcpy(old, ob.regs, n_old * sizeof *old);
    for (size_t i = 0; i < n_old; i++) {
        ob_reg_t *r = old[i];
        if (r->leaving)
            continue;
        ob_reg_conf_t *same_name = NULL;
        for (size_t k = 0; k < c->n && !same_name; k++)
            if (c->regs[k].name && strcmp(c->regs[k].name, r->conf.name) == 0)
                same_name = &c->regs[k];
        if (same_name && ob_reg_conf_equal(same_name, &r->conf)) {
            ob_reg_conf_clear(ob.api, same_name); /* unchanged: keeps running */
            continue;
        }
        leave(r, same_name ? "changed by a reload" : "removed by a reload");
    }
    ob.api->free(old);
    adopt(c);
    update_gauges();
}

void outbound_stop(void)
{
    if (!ob.api)
        return;
    uint64_t now = ob.api->now_ms();
    size_t sent = 0, unsent = 0;
    for (size_t i = 0; i < ob.n; i++) {
        ob_reg_t *r = ob.regs[i];
        stop_timers(r);
        if (!ob.started || !ob.set.send_unregister || r->leaving || r->bound_until_ms <= now)
            continue;
        /* fire and forget: nobody is left to read the answer */
        r->leaving = 1;
        if (send_register(r, 0) == 0)
            sent++;
        else
            unsent++;
    }
    if (sent || unsent)
        ob.api->log(ob.self, unsent ? SW_LOG_WARN : SW_LOG_NOTICE, NULL,
                    "shutdown: unregister sent for %zu registration(s), %zu could not be sent", sent, unsent);
    while (ob.n)
        forget(ob.regs[ob.n - 1]);
    ob.api->free(ob.regs);
    ob_config_free(ob.api, ob.pending);
    memset(&ob, 0, sizeof ob);
}

static int user_is(const reg_uri_t *u, const char *user)
{
    return user && strlen(user) == u->user_len && memcmp(u->user, user, u->user_len) == 0;
}

int outbound_claim_invite(sw_msg_t *req, const char *source_ip)
{
    const sw_api_t *api = ob.api;
    if (!api || !ob.n)
        return 0;
    const char *ruri = api->msg_ruri(req);
    reg_uri_t u;
    if (!ruri || reg_uri_parse(ruri, strlen(ruri), &u) != 0 || u.user_len == 0)
        return 0;
    size_t iplen = strlen(source_ip);
    for (size_t i = 0; i < ob.n; i++) {
        const ob_reg_t *r = ob.regs[i];
        if (r->leaving)
            continue;
        int from_carrier = reg_ip_equal(r->conf.registrar_ip, strlen(r->conf.registrar_ip), source_ip, iplen) ||
                           (r->conf.proxy_ip && reg_ip_equal(r->conf.proxy_ip, strlen(r->conf.proxy_ip), source_ip,
                                                             iplen));
        if (!from_carrier || (!user_is(&u, r->conf.contact_user) && !user_is(&u, r->conf.user)))
            continue;
        if (api->msg_set_account(req, r->conf.name) != 0)
            continue; /* names are checked at load: not expected */
        api->log(ob.self, SW_LOG_DEBUG, api->msg_call_id(req), "INVITE from %s for %.*s: a call from carrier %s",
                 source_ip, (int)u.user_len, u.user, r->conf.name);
        return 1;
    }
    return 0;
}

static void reg_to_json(reg_json_t *j, const ob_reg_t *r, uint64_t now)
{
    reg_json_printf(j, "{\"name\":");
    reg_json_string(j, r->conf.name);
    reg_json_printf(j, ",\"registrar\":");
    reg_json_string(j, r->conf.domain);
    reg_json_printf(j, ",\"dest\":");
    reg_json_string(j, r->conf.dest);
    reg_json_printf(j, ",\"user\":");
    reg_json_string(j, r->conf.user);
    reg_json_printf(j, ",\"transport\":\"%s\",\"state\":\"%s\",\"last_code\":",
                    r->conf.transport == SW_TRANSPORT_TCP ? "tcp" : "udp", ob_state_name(r->fsm.state));
    if (r->fsm.last_code)
        reg_json_printf(j, "%d", r->fsm.last_code);
    else
        reg_json_printf(j, "null");
    reg_json_printf(j, ",\"expires\":");
    if (r->fsm.state == OB_STATE_REGISTERED)
        reg_json_printf(j, "%u", (unsigned)r->fsm.granted_s);
    else
        reg_json_printf(j, "null");
    if (r->next_at_ms) {
        uint64_t left = r->next_at_ms > now ? r->next_at_ms - now : 0;
        reg_json_printf(j, ",\"next_action\":\"%s\",\"next_action_in\":%.1f",
                        r->fsm.state == OB_STATE_REGISTERED ? "refresh" : "retry", (double)left / 1000.0);
    } else {
        reg_json_printf(j, ",\"next_action\":null,\"next_action_in\":null");
    }
    reg_json_printf(j, ",\"in_flight\":%s,\"failures\":%llu,\"call_id\":", r->in_flight ? "true" : "false",
                    (unsigned long long)r->fsm.failures);
    reg_json_string(j, r->call_id);
    reg_json_printf(j, ",\"cseq\":%u}", (unsigned)r->cseq);
}

int outbound_json(reg_json_t *j, const char *name)
{
    uint64_t now = ob.api ? ob.api->now_ms() : 0;
    if (name) {
        for (size_t i = 0; i < ob.n; i++)
            if (!ob.regs[i]->leaving && strcmp(ob.regs[i]->conf.name, name) == 0) {
                reg_to_json(j, ob.regs[i], now);
                return 0;
            }
        return -1;
    }
    size_t count = 0;
    reg_json_printf(j, "{\"outbound\":[");
    for (size_t i = 0; i < ob.n; i++) {
        if (ob.regs[i]->leaving)
            continue;
        if (count++)
            reg_json_printf(j, ",");
        reg_to_json(j, ob.regs[i], now);
    }
    reg_json_printf(j, "],\"count\":%zu}", count);
    return 0;
}
