/* The B2BUA call engine: see call.h. One INVITE from a customer becomes a
 * call; the route script returns a chain of gateways; each attempt is a new
 * dialog toward one gateway; the first to answer is bridged to the caller.
 *
 * Ownership: a call owns its strings, its attempts and its relays. Every
 * transaction it started or answers carries the call as user data and is
 * detached (sw_tx_detach) when the call ends, so no callback ever sees a
 * freed call. */
#include "config.h"

#include "call/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "call/call_hooks.h"
#include "call/call_lua.h"
#include "log.h"
#include "loop_jobs.h"
#include "module/loader.h"
#include "net/transport.h"
#include "random.h"
#include "sip/sip.h"
#include "stats/metrics.h"
#include "strbuf.h"

/* ---- environment ------------------------------------------------------------ */

static struct {
    sw_call_settings_t settings;
    const sw_gateways_t *gateways;
    const sw_sources_t *sources;
    struct sw_lua_engine *lua;
    struct sw_modules *modules;
} env;

#define CALL_BUCKETS 65536 /* power of two; chains stay short up to ~100k calls */
/* Most attempts (INVITEs sent, unknown gateways skipped) for one call: the
 * most SS_GATEWAY_SWITCH_LIMIT allows, and the bound that keeps an
 * on_failure that always returns a new chain from looping for ever. */
#define CALL_MAX_ATTEMPTS 100
/* Seconds a caller refused for overload (a module's 503) is told to wait. */
#define SW_OVERLOAD_RETRY_AFTER "5"
static sw_call_t *by_a[CALL_BUCKETS], *by_b[CALL_BUCKETS];
static size_t n_calls;
/* Set by sw_calls_shutdown: from then on new INVITEs get 503 (the loop may
 * still run a little for the modules' last requests). */
static bool closing;
static uint64_t next_call_id = 1;

void sw_calls_configure(const sw_call_settings_t *s, const sw_gateways_t *gateways, const sw_sources_t *sources,
                        struct sw_lua_engine *lua, struct sw_modules *modules)
{
    env.settings = *s;
    env.gateways = gateways;
    env.sources = sources;
    env.lua = lua;
    env.modules = modules;
    sw_call_hooks_configure(modules);
}

size_t sw_calls_count(void)
{
    return n_calls;
}

void sw_calls_foreach(void (*fn)(const sw_call_t *c, void *ud), void *ud)
{
    for (size_t h = 0; h < CALL_BUCKETS; h++)
        for (sw_call_t *c = by_a[h]; c; c = c->next_a)
            fn(c, ud);
}

const sw_gateways_t *sw_calls_gateways(void)
{
    return env.gateways;
}

const sw_call_settings_t *sw_calls_settings(void)
{
    return &env.settings;
}

/* ---- small helpers ---------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        abort();
    return d;
}

/* The texts joined into one allocation (NULL counts as ""). The headers of
 * every request a call sends are made of such pieces: joining them costs a
 * tenth of formatting them with vsnprintf. */
static char *xconcat_n(const char *const *parts, size_t n)
{
    size_t lens[16], total = 0;
    if (n > sizeof lens / sizeof lens[0])
        abort(); /* a programming error: the callers are below */
    for (size_t i = 0; i < n; i++)
        total += lens[i] = parts[i] ? strlen(parts[i]) : 0;
    char *s = malloc(total + 1), *out = s;
    if (!s)
        abort();
    for (size_t i = 0; i < n; i++) {
        memcpy(out, parts[i] ? parts[i] : "", lens[i]);
        out += lens[i];
    }
    *out = '\0';
    return s;
}
#define XCONCAT(...) \
    xconcat_n((const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* A number as text, for XCONCAT. */
typedef struct number_text {
    char s[24];
} number_text_t;

static number_text_t num(uint64_t v)
{
    number_text_t t;
    sw_decimal(t.s, v);
    return t;
}

static uint64_t now_ms(void)
{
    return sw_loop() ? uv_now(sw_loop()) : 0;
}

/* 32 hex digits (128 bits) for tags and Call-IDs: unguessable, from the
 * shared CSPRNG pool (no syscall per token). */
static void random_token(char *buf, size_t n)
{
    char hex[33];
    sw_random_hex(hex, 16);
    size_t len = n > 32 ? 32 : n - 1;
    memcpy(buf, hex, len);
    buf[len] = '\0';
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h & (CALL_BUCKETS - 1);
}

/* The value of parameter `name` (e.g. "tag") in a header value, malloc'd. */
static char *header_param(const char *value, const char *name)
{
    size_t nl = strlen(name);
    const char *p = value;
    /* parameters come after the address: skip a <...> part */
    const char *gt = value ? strchr(value, '>') : NULL;
    if (gt)
        p = gt;
    while (p && (p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v != '=')
                continue;
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t len = strcspn(v, ";,> \t\r\n");
            return strndup(v, len);
        }
    }
    return NULL;
}

/* The URI inside a name-addr ("Name" <sip:x@y>;p) or an addr-spec. */
static char *header_uri(const char *value)
{
    if (!value)
        return NULL;
    const char *lt = strchr(value, '<');
    if (lt) {
        const char *gt = strchr(lt, '>');
        return gt ? strndup(lt + 1, (size_t)(gt - lt - 1)) : NULL;
    }
    while (*value == ' ')
        value++;
    return strndup(value, strcspn(value, "; \t"));
}

/* The user part of a sip:/sips:/tel: URI ("" when none). */
static char *uri_user(const char *uri)
{
    if (!uri)
        return xstrdup("");
    const char *p = strchr(uri, ':');
    p = p ? p + 1 : uri;
    if (strncasecmp(uri, "tel:", 4) == 0) {
        /* the number, if it is one (RFC 3966 digits and visual separators):
         * it becomes the user part of SIP URIs on the other leg, where an
         * '@' or ':' would change what the URI means */
        size_t n = strcspn(p, ";");
        return strspn(p, "0123456789ABCDEFabcdef*#+-.()") >= n ? strndup(p, n) : xstrdup("");
    }
    const char *at = strchr(p, '@');
    if (!at)
        return xstrdup("");
    return strndup(p, strcspn(p, ":;@") < (size_t)(at - p) ? strcspn(p, ":;@") : (size_t)(at - p));
}

/* The quoted or token display name of a name-addr, or NULL. */
static char *header_display(const char *value)
{
    if (!value)
        return NULL;
    while (*value == ' ')
        value++;
    if (*value == '"') {
        const char *end = value + 1;
        while (*end && *end != '"') {
            if (*end == '\\' && end[1])
                end++;
            end++;
        }
        return strndup(value + 1, (size_t)(end - value - 1));
    }
    const char *lt = strchr(value, '<');
    if (!lt || lt == value)
        return NULL;
    size_t n = (size_t)(lt - value);
    while (n && value[n - 1] == ' ')
        n--;
    return n ? strndup(value, n) : NULL;
}

static bool is_sdp(const sw_msg_t *m)
{
    const char *ct = sw_msg_header_by_id(m, SW_HDR_CONTENT_TYPE, 0);
    return ct && strncasecmp(ct, "application/sdp", 15) == 0;
}

/* Whether one of the `header` values (Supported, Require) lists option tag
 * `tag` (RFC 3261 20.32: comma-separated tokens, any case). */
static bool has_option_tag(const sw_msg_t *m, const char *header, const char *tag)
{
    size_t tl = strlen(tag);
    for (size_t i = 0, n = sw_msg_header_count(m, header); i < n; i++)
        for (const char *p = sw_msg_header(m, header, i); p && *p;) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, " \t,");
            if (len == tl && strncasecmp(p, tag, tl) == 0)
                return true;
            p += len;
        }
    return false;
}

/* The route set a dialog's requests carry (RFC 3261 12.1.1, 12.1.2): every
 * Record-Route entry of m, each header line split at its commas (outside
 * quotes and <>), in the order received, or reversed for the UAC side.
 * Entries one per line ('\n'-separated), or NULL when there is none. */
static char *route_set_of(const sw_msg_t *m, bool reversed)
{
    size_t n_lines = sw_msg_header_count(m, "Record-Route");
    if (!n_lines)
        return NULL;
    typedef struct { const char *at; size_t len; } entry_t;
    size_t cap = 1, n = 0, room = 8;
    entry_t *e = malloc(room * sizeof *e);
    if (!e)
        abort();
    for (size_t i = 0; i < n_lines; i++) {
        const char *v = sw_msg_header(m, "Record-Route", i);
        bool quoted = false, angle = false;
        for (const char *start = v, *p = v;; p++) {
            if (*p == '\0' || (*p == ',' && !quoted && !angle)) {
                const char *end = p;
                while (start < end && (*start == ' ' || *start == '\t'))
                    start++;
                while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                    end--;
                if (end > start) {
                    if (n == room && !(e = realloc(e, (room *= 2) * sizeof *e)))
                        abort();
                    e[n++] = (entry_t){start, (size_t)(end - start)};
                    cap += (size_t)(end - start) + 1;
                }
                if (*p == '\0')
                    break;
                start = p + 1;
            } else if (quoted) {
                if (*p == '\\' && p[1])
                    p++;
                else if (*p == '"')
                    quoted = false;
            } else if (*p == '"') {
                quoted = true;
            } else if (*p == '<') {
                angle = true;
            } else if (*p == '>') {
                angle = false;
            }
        }
    }
    char *set = NULL;
    if (n) {
        if (!(set = malloc(cap)))
            abort();
        char *out = set;
        for (size_t k = 0; k < n; k++) {
            const entry_t *x = &e[reversed ? n - 1 - k : k];
            memcpy(out, x->at, x->len);
            out += x->len;
            *out++ = '\n';
        }
        *out = '\0';
    }
    free(e);
    return set;
}

static void side_free(sw_dialog_side_t *s)
{
    free(s->call_id);
    free(s->local_tag);
    free(s->remote_tag);
    free(s->local_uri);
    free(s->remote_uri);
    free(s->remote_target);
    free(s->route_set);
    memset(s, 0, sizeof *s);
}

/* ---- index ---------------------------------------------------------------------- */

static void index_a(sw_call_t *c)
{
    uint32_t h = hash_str(c->a.call_id);
    c->next_a = by_a[h];
    by_a[h] = c;
}

static void index_b(sw_call_t *c)
{
    uint32_t h = hash_str(c->b.call_id);
    c->next_b = by_b[h];
    by_b[h] = c;
}

static void unindex(sw_call_t **table, sw_call_t *c, const char *call_id, bool a_side)
{
    if (!call_id)
        return;
    sw_call_t **pp = &table[hash_str(call_id)];
    while (*pp) {
        if (*pp == c) {
            *pp = a_side ? c->next_a : c->next_b;
            return;
        }
        pp = a_side ? &(*pp)->next_a : &(*pp)->next_b;
    }
}

static sw_call_t *find_call(const char *call_id, bool *is_a)
{
    if (!call_id)
        return NULL;
    uint32_t h = hash_str(call_id);
    for (sw_call_t *c = by_a[h]; c; c = c->next_a)
        if (strcmp(c->a.call_id, call_id) == 0) {
            *is_a = true;
            return c;
        }
    for (sw_call_t *c = by_b[h]; c; c = c->next_b)
        if (c->b.call_id && strcmp(c->b.call_id, call_id) == 0) {
            *is_a = false;
            return c;
        }
    return NULL;
}

/* ---- relays of in-dialog requests ----------------------------------------------- */

typedef struct sw_relay {
    sw_call_t *call;
    sw_tx_t *server;            /* the request we answer */
    sw_tx_t *client;            /* the request we sent on the other leg */
    bool to_a;                  /* sent toward the caller */
    bool is_invite;
    bool target_refresh;        /* re-INVITE or UPDATE: a 2xx carries the far side's new Contact */
    sw_request_cb cb;           /* a module's request (call_send_request): its callback, */
    sw_module_t *cb_module;     /* ... the module */
    void *cb_arg;               /* ... and its argument */
    struct sw_relay *next;
} sw_relay_t;

static void relay_unlink(sw_relay_t *r)
{
    for (sw_relay_t **pp = &r->call->relays; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
}

/* ---- building and sending requests on a leg ------------------------------------ */

static const char *transport_name(sw_transport_t t)
{
    return t == SW_TRANSPORT_TCP ? "TCP" : "UDP";
}

static uint16_t local_port(sw_transport_t t)
{
    return t == SW_TRANSPORT_TCP && env.settings.tcp_port ? env.settings.tcp_port : env.settings.udp_port;
}

static char *our_contact(sw_transport_t t)
{
    return XCONCAT("<sip:sipswitch@", env.settings.local_host, ":", num(local_port(t)).s,
                   t == SW_TRANSPORT_TCP ? ";transport=tcp>" : ">");
}

/* A request inside the dialog of `side` (BYE, relayed re-INVITE, ...).
 * remote_uri of the A side already carries the caller's tag (it is the
 * caller's From header); the B side's gets the gateway's tag appended. */
static sw_msg_t *build_in_dialog(sw_call_t *c, sw_dialog_side_t *side, const char *method, uint32_t cseq,
                                 char *branch_out, size_t branch_len)
{
    sw_tx_new_branch(branch_out, branch_len);
    sw_msg_t *m = sw_msg_new_request(method, side->remote_target);
    if (!m)
        return NULL;
    char *via = XCONCAT("SIP/2.0/", transport_name(side->dest.transport), " ", env.settings.local_host, ":",
                        num(local_port(side->dest.transport)).s, ";branch=", branch_out, ";rport");
    char *from = XCONCAT(side->local_uri, ";tag=", side->local_tag);
    char *to = side == &c->a || !side->remote_tag ? xstrdup(side->remote_uri)
                                                  : XCONCAT(side->remote_uri, ";tag=", side->remote_tag);
    char *cs = XCONCAT(num(cseq).s, " ", method);
    sw_msg_header_add(m, "Via", via);
    sw_msg_header_add(m, "Max-Forwards", "70");
    sw_msg_header_add(m, "From", from);
    sw_msg_header_add(m, "To", to);
    sw_msg_header_add(m, "Call-ID", side->call_id);
    sw_msg_header_add(m, "CSeq", cs);
    /* one Route per entry; the set is kept as it is for the next request */
    for (const char *r = side->route_set, *nl; r && (nl = strchr(r, '\n')) != NULL; r = nl + 1) {
        char *route = xstrndup(r, (size_t)(nl - r));
        sw_msg_header_add(m, "Route", route);
        free(route);
    }
    free(via);
    free(from);
    free(to);
    free(cs);
    return m;
}

static sw_tx_t *send_request(sw_msg_t *m, const char *method, const char *branch, const sw_tx_destination_t *dest,
                             uint32_t invite_timeout_ms, const sw_tx_client_cbs_t *cbs, void *ud)
{
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    sw_msg_free(m);
    if (!bytes)
        return NULL;
    sw_tx_client_options_t opts = {.invite_timeout_ms = invite_timeout_ms};
    /* the transaction layer counts what it sends (requests_out): not here */
    sw_tx_t *tx = sw_tx_client_send(method, branch, bytes, len, dest, &opts, cbs, ud);
    free(bytes);
    return tx;
}

/* BYE on one leg, fire and forget: the answer does not change anything. */
static sw_attempt_t *current_attempt(sw_call_t *c);

static void send_bye(sw_call_t *c, sw_dialog_side_t *side)
{
    if (!side->call_id || !side->remote_target)
        return;
    char branch[64];
    sw_msg_t *m = build_in_dialog(c, side, "BYE", ++side->local_cseq, branch, sizeof branch);
    if (!m)
        return;
    sw_call_hooks_request_out(c, current_attempt(c), m, side == &c->a);
    sw_tx_t *tx = send_request(m, "BYE", branch, &side->dest, 0, NULL, NULL);
    (void)tx;
}

/* The end-to-end ACK for a 2xx on one leg (no transaction: RFC 3261
 * 13.2.2.4). `cseq` is the number of the INVITE it acknowledges (the 2xx's
 * CSeq), which is not the leg's latest once in-dialog requests were relayed. */
static void send_ack(sw_call_t *c, sw_dialog_side_t *side, uint32_t cseq)
{
    char branch[64];
    sw_msg_t *m = build_in_dialog(c, side, "ACK", cseq, branch, sizeof branch);
    if (!m)
        return;
    size_t len = 0;
    char *bytes = sw_msg_serialize(m, &len);
    sw_msg_free(m);
    if (bytes)
        sw_tx_send_ack(bytes, len, &side->dest); /* counted in requests_out there */
    free(bytes);
}

/* The CSeq number of a message (0 when absent). */
static uint32_t cseq_number(const sw_msg_t *m)
{
    const char *cs = sw_msg_header_by_id(m, SW_HDR_CSEQ, 0);
    return cs ? (uint32_t)strtoul(cs, NULL, 10) : 0;
}

/* ---- answering the caller ----------------------------------------------------------- */

/* The caller's INVITE transaction: after our 2xx it stays attached until the
 * ACK, so a caller that never ACKs (timer L) does not leave the gateway leg
 * up (RFC 3261 13.3.1.4: the UAS then ends the dialog with BYE). */
static void a_on_no_ack(sw_tx_t *tx, void *ud);
static void a_on_terminated(sw_tx_t *tx, void *ud);
static const sw_tx_server_cbs_t a_invite_cbs = {.on_no_ack = a_on_no_ack, .on_terminated = a_on_terminated};

/* `more` adds "Name: value\r\n" lines (e.g. RSeq of a reliable provisional). */
static void respond_a_with(sw_call_t *c, int code, const char *reason, const char *body, const char *more)
{
    if (!c->a_invite)
        return;
    char *contact = NULL, *extra = NULL;
    char *added = sw_call_hooks_caller_response(c, code, reason);
    if (code > 100 && code < 300) {
        contact = our_contact(c->a.dest.transport);
        extra = XCONCAT("Contact: ", contact, "\r\n", more, added);
    } else if (more || added) {
        extra = XCONCAT(more, added);
    }
    free(added);
    sw_tx_reply_t r = {.code = code, .reason = reason, .to_tag = c->a.local_tag, .extra_headers = extra,
                       .content_type = body ? "application/sdp" : NULL, .body = body,
                       .body_len = body ? strlen(body) : 0};
    sw_tx_server_respond(c->a_invite, &r);
    if (code >= 200)
        c->final_code = code;
    if (code >= 300) {
        sw_tx_detach(c->a_invite); /* it absorbs the ACK alone */
        c->a_invite = NULL;
    } else if (code >= 200) {
        c->a_accepted = c->a_invite; /* still attached: a_on_no_ack / a_on_terminated */
        c->a_invite = NULL;
    }
    free(contact);
    free(extra);
}

static void respond_a(sw_call_t *c, int code, const char *reason, const char *body)
{
    respond_a_with(c, code, reason, body, NULL);
}

/* ---- ending a call -------------------------------------------------------------------- */

static void call_free(sw_call_t *c)
{
    unindex(by_a, c, c->a.call_id, true);
    unindex(by_b, c, c->b.call_id, false);
    if (c->a_invite)
        sw_tx_detach(c->a_invite);
    if (c->a_accepted)
        sw_tx_detach(c->a_accepted);
    if (c->b_invite)
        sw_tx_detach(c->b_invite);
    while (c->relays) {
        sw_relay_t *r = c->relays;
        c->relays = r->next;
        if (r->client)
            sw_tx_detach(r->client);
        if (r->server) {
            sw_tx_reply_t rep = {.code = 481, .reason = "Call Ended"};
            sw_tx_server_respond(r->server, &rep);
            sw_tx_detach(r->server);
        }
        free(r);
    }
    side_free(&c->a);
    side_free(&c->b);
    free(c->caller);
    free(c->callee);
    free(c->caller_in);
    free(c->callee_in);
    while (c->vars) {
        sw_call_var_t *v = c->vars;
        c->vars = v->next;
        free(v->name);
        free(v->value);
        free(v);
    }
    free(c->display);
    free(c->source);
    free(c->account);
    free(c->a_sdp);
    free(c->b_sdp);
    free(c->passthrough);
    for (size_t i = 0; i < c->chain_len; i++) {
        free(c->chain[i].uri);
        free(c->chain[i].gateway);
        free(c->chain[i].callee);
        free(c->chain[i].caller);
    }
    free(c->chain);
    for (size_t i = 0; i < c->n_attempts; i++) {
        free(c->attempts[i].gateway);
        free(c->attempts[i].callee);
        free(c->attempts[i].caller);
        free(c->attempts[i].reason);
        free(c->attempts[i].from_display);
        free(c->attempts[i].from_uri);
    }
    free(c->attempts);
    free(c->reject_reason);
    sw_call_module_data_free(c);
    free(c);
    n_calls--;
}

static sw_attempt_t *current_attempt(sw_call_t *c);
static void finish_attempt(sw_attempt_t *a, sw_attempt_outcome_t outcome, int code, const char *reason);

void sw_call_wall_times(const sw_call_t *c, uint64_t *created, uint64_t *ringing, uint64_t *answered)
{
    /* the loop clock is monotonic; the wall clock now minus the loop clock
     * now maps one onto the other (a clock step moves every call alike) */
    uv_timeval64_t tv;
    uint64_t wall = uv_gettimeofday(&tv) == 0 ? (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000 : 0;
    int64_t offset = (int64_t)wall - (int64_t)now_ms();
    *created = c->created_ms ? (uint64_t)((int64_t)c->created_ms + offset) : 0;
    *ringing = c->ringing_ms ? (uint64_t)((int64_t)c->ringing_ms + offset) : 0;
    *answered = c->answered_ms ? (uint64_t)((int64_t)c->answered_ms + offset) : 0;
}

void sw_call_reject(sw_call_t *c, int code, const char *reason, int end_reason)
{
    if (c->state != SW_CALL_ROUTING || code < 300 || code > 699)
        return;
    c->reject_code = code;
    free(c->reject_reason);
    c->reject_reason = reason ? xstrdup(reason) : NULL;
    c->reject_end_reason = end_reason;
}

const char *sw_attempt_outcome_name(sw_attempt_outcome_t o)
{
    static const char *const names[] = {
        [SW_ATTEMPT_PENDING] = "pending",
        [SW_ATTEMPT_RESPONSE] = "response",
        [SW_ATTEMPT_INVITE_TIMEOUT] = "invite_timeout",
        [SW_ATTEMPT_TRYING_TIMEOUT] = "trying_timeout",
        [SW_ATTEMPT_PROGRESS_TIMEOUT] = "progress_timeout",
        [SW_ATTEMPT_RINGING_TIMEOUT] = "ringing_timeout",
        [SW_ATTEMPT_SKIPPED_MAX_CALLS] = "skipped_max_calls",
        [SW_ATTEMPT_SKIPPED_MAX_CPS] = "skipped_max_cps",
        [SW_ATTEMPT_TRANSPORT_ERROR] = "transport_error",
        [SW_ATTEMPT_ANSWERED] = "answered",
        [SW_ATTEMPT_ABANDONED] = "abandoned",
        [SW_ATTEMPT_SKIPPED_UNKNOWN] = "skipped_unknown_gateway",
    };
    return (unsigned)o < sizeof names / sizeof names[0] && names[o] ? names[o] : "unknown";
}

/* ---- attempt deadlines (api->leg_set_deadline) ------------------------------------------ */

/* One timer per call, only while an attempt is pending and a module asked
 * for it (trying, progress, ringing timeouts): established calls carry none. */
typedef struct sw_call_deadline {
    uv_timer_t timer;
    sw_call_t *call;
    sw_attempt_outcome_t outcome;
} sw_call_deadline_t;

static void deadline_closed(uv_handle_t *h)
{
    free(h->data);
}

static void deadline_clear(sw_call_t *c)
{
    sw_call_deadline_t *d = c->deadline;
    if (!d)
        return;
    c->deadline = NULL;
    uv_timer_stop(&d->timer);
    d->timer.data = d;
    uv_close((uv_handle_t *)&d->timer, deadline_closed);
}

static void attempt_failed(sw_call_t *c);

static void deadline_fired(uv_timer_t *t)
{
    sw_call_deadline_t *d = t->data;
    sw_call_t *c = d->call;
    sw_attempt_outcome_t outcome = d->outcome;
    deadline_clear(c);
    sw_attempt_t *at = c->n_attempts ? &c->attempts[c->n_attempts - 1] : NULL;
    if (!at || at->outcome != SW_ATTEMPT_PENDING || !c->b_invite)
        return;
    static const char *const names[] = {[SW_ATTEMPT_TRYING_TIMEOUT] = "trying timeout",
                                        [SW_ATTEMPT_PROGRESS_TIMEOUT] = "session progress timeout",
                                        [SW_ATTEMPT_RINGING_TIMEOUT] = "ringing timeout",
                                        [SW_ATTEMPT_INVITE_TIMEOUT] = "INVITE timeout"};
    const char *what = outcome < sizeof names / sizeof names[0] && names[outcome] ? names[outcome] : "timeout";
    sw_logf(SW_LOG_INFO, NULL, c->a.call_id, "attempt %zu (gateway %s): %s", c->n_attempts, at->gateway, what);
    /* detaching CANCELs the INVITE; its 487 is the transaction's business */
    sw_tx_detach(c->b_invite);
    c->b_invite = NULL;
    finish_attempt(at, outcome, 408, what);
    attempt_failed(c);
}

void sw_call_leg_set_deadline(sw_attempt_t *at, uint64_t ms, sw_attempt_outcome_t outcome)
{
    sw_call_t *c = at->call;
    if (!c || at != current_attempt(c) || at->outcome != SW_ATTEMPT_PENDING || c->state == SW_CALL_ENDED)
        return;
    if (!ms) {
        deadline_clear(c);
        return;
    }
    if (!c->deadline) {
        sw_call_deadline_t *d = calloc(1, sizeof *d);
        if (!d)
            abort();
        uv_timer_init(sw_loop(), &d->timer);
        d->timer.data = d;
        d->call = c;
        c->deadline = d;
    }
    c->deadline->outcome = outcome;
    uv_timer_start(&c->deadline->timer, deadline_fired, ms, 0);
}

/* ---- ending a call -------------------------------------------------------------------- */

/* Ends the call: the pending or answered attempt is reported ended, modules
 * see on_call_end, everything is freed. The caller and the gateway have
 * been answered or BYEd by the caller of end_call. */
static void end_call(sw_call_t *c, int reason, sw_party_t by, const char *why)
{
    const sw_attempt_t *last = current_attempt(c);
    sw_logf(SW_LOG_INFO, NULL, c->a.call_id, "call %llu ended: %s (%s -> %s, %zu attempt%s, last %s, code %d)",
            (unsigned long long)c->id, why, c->caller, c->callee, c->n_attempts, c->n_attempts == 1 ? "" : "s",
            last ? last->gateway : "none", c->final_code);
    deadline_clear(c);
    sw_attempt_t *at = current_attempt(c);
    if (at && !at->end_reported) {
        if (at->outcome == SW_ATTEMPT_PENDING)
            finish_attempt(at, SW_ATTEMPT_ABANDONED, c->cancelled ? 487 : 0, why);
        sw_call_hooks_attempt_end(c, at, NULL);
    }
    c->state = SW_CALL_ENDED;
    sw_call_end_t end = {.size = sizeof end, .reason = reason, .hung_up_by = by, .final_code = c->final_code};
    sw_call_hooks_call_end(c, &end);
    call_free(c);
}

static void a_on_no_ack(sw_tx_t *tx, void *ud)
{
    (void)tx;
    sw_call_t *c = ud;
    send_bye(c, &c->a);
    send_bye(c, &c->b);
    end_call(c, SW_END_NO_ACK, SW_PARTY_SWITCH, "the caller never ACKed the 2xx");
}

static void a_on_terminated(sw_tx_t *tx, void *ud)
{
    sw_call_t *c = ud;
    if (c->a_accepted == tx)
        c->a_accepted = NULL;
    if (c->a_invite == tx)
        c->a_invite = NULL;
}

/* The code a caller gets for a gateway's final failure: challenges and
 * redirects are the gateway's business with us, not the caller's. */
static int caller_code_for(int code)
{
    if (code == 401 || code == 407)
        return 403;
    if (code >= 300 && code < 400)
        return 480;
    if (code < 300 || code > 699)
        return 500;
    return code;
}

/* ---- attempts ------------------------------------------------------------------------------ */

static void b_on_response(sw_tx_t *tx, sw_msg_t *resp, void *ud);
static void b_on_timeout(sw_tx_t *tx, bool transport_error, void *ud);
static void b_on_terminated(sw_tx_t *tx, void *ud);

static const sw_tx_client_cbs_t b_invite_cbs = {
    .on_response = b_on_response, .on_timeout = b_on_timeout, .on_terminated = b_on_terminated};

static sw_attempt_t *current_attempt(sw_call_t *c)
{
    return c->n_attempts ? &c->attempts[c->n_attempts - 1] : NULL;
}

static sw_attempt_t *add_attempt(sw_call_t *c, const char *gateway, const char *callee, const char *caller)
{
    c->attempts = realloc(c->attempts, (c->n_attempts + 1) * sizeof *c->attempts);
    if (!c->attempts)
        abort();
    sw_attempt_t *a = &c->attempts[c->n_attempts++];
    memset(a, 0, sizeof *a);
    a->call = c;
    a->gateway = xstrdup(gateway);
    a->callee = xstrdup(callee);
    a->caller = xstrdup(caller);
    a->started_ms = now_ms();
    return a;
}

static void finish_attempt(sw_attempt_t *a, sw_attempt_outcome_t outcome, int code, const char *reason)
{
    a->outcome = outcome;
    a->code = code;
    free(a->reason);
    a->reason = xstrdup(reason);
    a->ended_ms = now_ms();
}

void sw_call_leg_skip(sw_attempt_t *at, sw_attempt_outcome_t outcome, const char *reason)
{
    if (at->invite_sent || at->outcome != SW_ATTEMPT_PENDING)
        return;
    finish_attempt(at, outcome, 503, reason ? reason : "skipped");
}

void sw_call_leg_set_invite_timeout(sw_attempt_t *at, uint64_t ms)
{
    if (at->invite_sent || at->timeout_from_script || !ms)
        return;
    at->invite_timeout_ms = ms > 300000 ? 300000 : (uint32_t)ms;
}

static void fail_call(sw_call_t *c, int code, int reason, const char *why)
{
    respond_a(c, code, why, NULL);
    end_call(c, reason, SW_PARTY_SWITCH, why);
}

/* Adds "Name: value\r\n" lines to m (stops at the first line that is not
 * one); a value the message refuses is left out. */
static void add_header_lines(sw_msg_t *m, const char *lines)
{
    for (const char *p = lines; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        const char *colon = strchr(p, ':');
        if (!eol || !colon || colon > eol)
            break;
        char *name = strndup(p, (size_t)(colon - p));
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        char *value = strndup(v, (size_t)(eol - v));
        if (!name || !value)
            abort();
        sw_msg_header_add(m, name, value);
        free(name);
        free(value);
        p = eol + 2;
    }
}

/* Opens a fresh dialog toward the gateway of `step` and sends its INVITE.
 * False when nothing was sent (the attempt records why). */
static bool send_attempt(sw_call_t *c, const sw_route_step_t *step)
{
    const char *callee = step->callee ? step->callee : c->callee;
    const char *caller = step->caller ? step->caller : c->caller;
    sw_attempt_t *at = add_attempt(c, step->gateway, callee, caller);
    /* a step is a [gateway] of cfg, or a URI with its address (a
     * registered device: the route script got both from the registrar) */
    const sw_gateway_t *gw = step->uri ? NULL : sw_gateways_find(env.gateways, step->gateway);
    if (!gw && !step->uri) {
        sw_logf(SW_LOG_WARN, NULL, c->a.call_id, "route: no gateway '%s' in cfg: skipped", step->gateway);
        finish_attempt(at, SW_ATTEMPT_SKIPPED_UNKNOWN, 503, "unknown gateway");
        return false;
    }
    at->invite_timeout_ms = step->invite_timeout_ms ? step->invite_timeout_ms : env.settings.invite_timeout_ms;
    at->timeout_from_script = step->invite_timeout_ms != 0;
    if (!sw_call_hooks_attempt_start(c, at)) {
        sw_logf(SW_LOG_INFO, NULL, c->a.call_id, "attempt %zu: gateway %s skipped: %s", c->n_attempts, at->gateway,
                at->reason ? at->reason : "refused by a module");
        return false;
    }
    /* the previous attempt's dialog is over: forget it (and its index entry) */
    unindex(by_b, c, c->b.call_id, false);
    side_free(&c->b);
    c->b_acked = false;
    free(c->b_sdp); /* a failed gateway's early media is not the next one's */
    c->b_sdp = NULL;
    char token[40], branch[64];
    random_token(token, sizeof token);
    c->b.call_id = XCONCAT(token, "@", env.settings.local_host);
    random_token(token, sizeof token);
    c->b.local_tag = xstrdup(token);
    c->b.local_cseq = 1;
    const char *display = at->from_set ? at->from_display : c->display;
    char *from_uri = at->from_uri ? xstrdup(at->from_uri) : XCONCAT("sip:", caller, "@", env.settings.local_host);
    c->b.local_uri = display && *display ? XCONCAT("\"", display, "\" <", from_uri, ">") : XCONCAT("<", from_uri, ">");
    free(from_uri);
    if (gw) {
        bool v6 = gw->addr.ss_family == AF_INET6;
        c->b.remote_target = XCONCAT("sip:", callee, "@", v6 ? "[" : "", gw->host, v6 ? "]" : "", ":",
                                     num(gw->port).s, gw->transport == SW_TRANSPORT_TCP ? ";transport=tcp" : "");
        c->b.dest.transport = gw->transport;
        memcpy(&c->b.dest.addr, &gw->addr, gw->addr_len);
        c->b.dest.addr_len = gw->addr_len;
    } else {
        c->b.remote_target = xstrdup(step->uri);
        c->b.dest.transport = step->transport;
        memcpy(&c->b.dest.addr, &step->dest, step->dest_len);
        c->b.dest.addr_len = step->dest_len;
    }
    sw_transport_t transport = c->b.dest.transport;
    c->b.remote_uri = XCONCAT("<", c->b.remote_target, ">");
    c->b.dest.via_socket_id = env.settings.udp_socket_id;

    sw_msg_t *m = build_in_dialog(c, &c->b, "INVITE", c->b.local_cseq, branch, sizeof branch);
    if (!m) {
        finish_attempt(at, SW_ATTEMPT_TRANSPORT_ERROR, 500, "cannot build INVITE");
        return false;
    }
    /* build_in_dialog wrote Max-Forwards 70: the caller's, decremented, rules */
    char mf[4]; /* 0..255 (call_new_invite caps it), without snprintf */
    int v = c->max_forwards < 0 ? 0 : c->max_forwards > 255 ? 255 : c->max_forwards, i = 0;
    if (v >= 100)
        mf[i++] = (char)('0' + v / 100);
    if (v >= 10)
        mf[i++] = (char)('0' + v / 10 % 10);
    mf[i++] = (char)('0' + v % 10);
    mf[i] = '\0';
    sw_msg_header_set(m, "Max-Forwards", mf);
    char *contact = our_contact(transport);
    sw_msg_header_add(m, "Contact", contact);
    free(contact);
    sw_msg_header_add(m, "Allow", sw_sip_allowed_methods);
    /* reliable provisionals (RFC 3262) only where the caller can PRACK them:
     * the caller's PRACKs are relayed to the gateway (pass-through) */
    if (c->caller_100rel)
        sw_msg_header_add(m, c->caller_requires_100rel ? "Require" : "Supported", "100rel");
    c->b_rseq = 0;
    add_header_lines(m, c->passthrough);
    if (c->a_sdp)
        sw_msg_set_body(m, "application/sdp", c->a_sdp, strlen(c->a_sdp));
    sw_call_hooks_request_out(c, at, m, false); /* e.g. privacy edits the identity headers */
    /* per-attempt and answer lines are debug: at info a call logs one line,
     * when it ends (a log write per line is a measurable part of a call) */
    sw_logf(SW_LOG_DEBUG, NULL, c->a.call_id, "attempt %zu: %s -> gateway %s (%s)", c->n_attempts, caller,
            at->gateway, c->b.remote_target);
    at->invite_sent = true;
    c->invites_sent++;
    c->b_invite = send_request(m, "INVITE", branch, &c->b.dest, at->invite_timeout_ms, &b_invite_cbs, c);
    if (!c->b_invite) {
        finish_attempt(at, SW_ATTEMPT_TRANSPORT_ERROR, 503, "cannot send to gateway");
        return false;
    }
    /* indexed once sent: the gateway's in-dialog requests find the call by it */
    index_b(c);
    c->state = SW_CALL_ATTEMPTING;
    return true;
}

/* The switching decision the core applies when no module (gw_switch) gives
 * one: PARAMETERS.md section 1 with VOS3000's defaults. */
static void builtin_verdict(const sw_call_t *c, const sw_attempt_t *at, sw_switch_verdict_t *v)
{
    v->stop = 1;
    v->caller_code = caller_code_for(at->code);
    v->script_may_override = 0;
    if (at->invite_sent && at->outcome == SW_ATTEMPT_RESPONSE && (at->code == 486 || at->code == 600))
        v->rule = "user_busy";
    else if (at->sdp_seen)
        v->rule = "sdp_received";
    else if (c->next_step >= c->chain_len)
        v->rule = "chain_exhausted";
    else if (c->n_attempts >= CALL_MAX_ATTEMPTS)
        v->rule = "attempt_limit";
    else {
        v->stop = 0;
        v->script_may_override = 1;
        v->rule = "next";
    }
}

/* After a failed or skipped attempt: the switching decision (a module's, or
 * the built-in one), then the script's on_failure where the decision allows
 * it. True when the next gateway is to be tried; false when the call was
 * ended here. */
static bool decide_after_failure(sw_call_t *c)
{
    sw_attempt_t *at = current_attempt(c);
    c->b_invite = NULL;
    deadline_clear(c);
    unindex(by_b, c, c->b.call_id, false);
    if (c->cancelled) {
        sw_call_hooks_attempt_end(c, at, NULL);
        end_call(c, SW_END_CANCELLED, SW_PARTY_CALLER, "cancelled by the caller");
        return false;
    }
    sw_switch_verdict_t v = {.size = sizeof v};
    if (!sw_call_hooks_attempt_end(c, at, &v))
        builtin_verdict(c, at, &v);
    else if (c->n_attempts >= CALL_MAX_ATTEMPTS && !v.stop)
        v = (sw_switch_verdict_t){.size = sizeof v, .stop = 1, .caller_code = caller_code_for(at->code),
                                  .rule = "attempt_limit"};
    if (v.stop && (v.caller_code < 300 || v.caller_code > 699))
        v.caller_code = at->code;

    if (!v.stop && v.script_may_override) {
        sw_call_lua_failure_t verdict = sw_call_lua_on_failure(env.lua, c, at, false);
        if (verdict == SW_CALL_LUA_SCRIPT_ERROR) {
            fail_call(c, 500, SW_END_SCRIPT_ERROR, "Internal Server Error (route script)");
            return false;
        }
        if (c->reject_code) { /* call:reject() in on_failure: stop with the script's code */
            char why[160];
            snprintf(why, sizeof why, "rejected by on_failure: %d", c->reject_code);
            respond_a(c, c->reject_code, c->reject_reason, NULL);
            end_call(c, SW_END_REJECTED_BY_SCRIPT, SW_PARTY_SWITCH, why);
            return false;
        }
        if (verdict == SW_CALL_LUA_STOP) {
            v.stop = 1;
            v.caller_code = c->stop_code ? c->stop_code : at->code;
            v.rule = "script_stop";
        }
    }
    if (!v.stop && c->next_step >= c->chain_len) { /* nothing left to try, whatever was decided */
        v.stop = 1;
        v.caller_code = caller_code_for(at->code);
        v.rule = "chain_exhausted";
    }
    if (!v.stop)
        return true;
    /* a gateway's challenge or redirect never reaches the caller, whoever decided */
    v.caller_code = caller_code_for(v.caller_code);
    respond_a(c, v.caller_code, NULL, NULL);
    char why[200];
    snprintf(why, sizeof why, "stopped after %s %d (%s): %s", at->gateway, at->code, at->reason ? at->reason : "",
             v.rule ? v.rule : "?");
    bool timeout = at->outcome >= SW_ATTEMPT_INVITE_TIMEOUT && at->outcome <= SW_ATTEMPT_RINGING_TIMEOUT;
    end_call(c, timeout && v.caller_code == 408 ? SW_END_INVITE_TIMEOUT : SW_END_ALL_GATEWAYS_FAILED,
             SW_PARTY_SWITCH, why);
    return false;
}

/* Sends the INVITE of the next chain step; an attempt that could not be sent
 * (skipped gateway, transport error) goes through the decision like any
 * failure. */
static void start_next_attempt(sw_call_t *c)
{
    while (c->next_step < c->chain_len) {
        if (send_attempt(c, &c->chain[c->next_step++]))
            return;
        if (!decide_after_failure(c))
            return;
    }
    fail_call(c, 404, SW_END_NO_ROUTE, "Not Found (no route)");
}

/* A pending attempt failed (final response, timeout, transport error). */
static void attempt_failed(sw_call_t *c)
{
    if (decide_after_failure(c))
        start_next_attempt(c);
}

/* A 2xx from a fork of our INVITE other than the one we are bridged to
 * (another To tag): RFC 3261 13.2.2.4, ACK it and end that dialog. */
static void reject_other_fork(sw_call_t *c, sw_msg_t *resp, const char *to_tag)
{
    sw_dialog_side_t fork = c->b; /* borrowed strings: only the two below are ours */
    char *tag = xstrdup(to_tag);
    char *target = header_uri(sw_msg_header_by_id(resp, SW_HDR_CONTACT, 0));
    fork.remote_tag = tag;
    if (target)
        fork.remote_target = target;
    fork.route_set = NULL;
    fork.local_cseq = cseq_number(resp);
    send_ack(c, &fork, fork.local_cseq);
    send_bye(c, &fork);
    free(tag);
    free(target);
}

/* The gateway answered: bridge it to the caller (or hang it up when the
 * caller cancelled meanwhile). */
static void b_answered(sw_call_t *c, sw_attempt_t *at, sw_msg_t *resp, const char *sdp)
{
    const char *to_tag = sw_msg_to_tag(resp);
    if (c->b_acked) {
        /* the transaction hands us every 2xx: a retransmission (our ACK was
         * lost) is ACKed again, another fork's answer is ACKed and BYEd */
        if (to_tag && c->b.remote_tag && strcmp(to_tag, c->b.remote_tag) != 0)
            reject_other_fork(c, resp, to_tag);
        else
            send_ack(c, &c->b, cseq_number(resp));
        return;
    }
    deadline_clear(c);
    /* the 2xx establishes the dialog: its To tag (not that of an earlier
     * provisional), its Contact and its Record-Route rule */
    if (to_tag) {
        free(c->b.remote_tag);
        c->b.remote_tag = xstrdup(to_tag);
    }
    char *contact_uri = header_uri(sw_msg_header_by_id(resp, SW_HDR_CONTACT, 0));
    if (contact_uri) {
        free(c->b.remote_target);
        c->b.remote_target = contact_uri;
    }
    free(c->b.route_set);
    c->b.route_set = route_set_of(resp, true);
    finish_attempt(at, SW_ATTEMPT_ANSWERED, sw_msg_status(resp), "answered");
    /* the INVITE transaction stays attached: retransmitted 2xx come back here */
    send_ack(c, &c->b, cseq_number(resp));
    c->b_acked = true;
    if (c->cancelled) {
        send_bye(c, &c->b);
        end_call(c, SW_END_CANCELLED, SW_PARTY_CALLER, "the gateway's answer crossed the caller's CANCEL");
        return;
    }
    if (sdp) {
        free(c->b_sdp);
        c->b_sdp = xstrdup(sdp);
    }
    respond_a(c, 200, "OK", c->b_sdp);
    c->state = SW_CALL_ANSWERED;
    c->answered_ms = now_ms();
    sw_logf(SW_LOG_DEBUG, NULL, c->a.call_id, "call %llu answered by gateway %s", (unsigned long long)c->id,
            at->gateway);
    sw_call_hooks_answer(c);
}

/* A reliable provisional from the gateway (RFC 3262: Require: 100rel and
 * RSeq). When the caller supports 100rel it is relayed reliably under the
 * A leg's own RSeq numbering (returned as the extra header lines), and the
 * caller's PRACK is relayed back (relay_request maps its RAck). Otherwise
 * the switch PRACKs it itself and relays it as an ordinary provisional.
 * NULL for an unreliable provisional. */
static char *reliable_provisional(sw_call_t *c, sw_msg_t *resp)
{
    const char *rseq_text = sw_msg_header_by_id(resp, SW_HDR_RSEQ, 0);
    if (!rseq_text || !has_option_tag(resp, "Require", "100rel"))
        return NULL;
    uint32_t rseq = (uint32_t)strtoul(rseq_text, NULL, 10);
    if (!rseq)
        return NULL;
    bool again = rseq == c->b_rseq; /* the gateway retransmits until PRACKed */
    c->b_rseq = rseq;
    if (c->caller_100rel) {
        if (!again) /* a new response: the next number of the A leg (RFC 3262 7.1) */
            c->a_rseq = c->a_rseq ? c->a_rseq + 1 : 1 + (uint32_t)(c->id % 1000) * 1000;
        return XCONCAT("Require: 100rel\r\nRSeq: ", num(c->a_rseq).s, "\r\n");
    }
    if (!again && c->b.remote_tag) {
        char branch[64];
        sw_msg_t *m = build_in_dialog(c, &c->b, "PRACK", ++c->b.local_cseq, branch, sizeof branch);
        if (m) {
            char *rack = XCONCAT(num(rseq).s, " 1 INVITE"); /* our INVITE is CSeq 1 on every B leg */
            sw_msg_header_add(m, "RAck", rack);
            free(rack);
            send_request(m, "PRACK", branch, &c->b.dest, 0, NULL, NULL);
        }
    }
    return NULL;
}

static void b_on_response(sw_tx_t *tx, sw_msg_t *resp, void *ud)
{
    sw_call_t *c = ud;
    sw_attempt_t *at = current_attempt(c);
    int code = sw_msg_status(resp);
    if (!at->first_response_ms)
        at->first_response_ms = now_ms();
    size_t blen = 0;
    const char *body = sw_msg_body(resp, &blen);
    char *sdp = is_sdp(resp) && blen ? strndup(body, blen) : NULL;
    if (code < 200 && sdp)
        at->sdp_seen = true;
    if (at->outcome == SW_ATTEMPT_PENDING)
        sw_call_hooks_leg_response(c, at, resp); /* e.g. gw_switch moves the attempt's deadline */
    if (code == 100) {
        free(sdp);
        return; /* hop by hop: the caller got ours */
    }
    if (code < 200) {
        const char *to_tag = sw_msg_to_tag(resp);
        if (to_tag && !c->b.remote_tag) {
            /* the early dialog (a 2xx may still change it): PRACK, UPDATE and
             * INFO sent in it go to its Contact, through its Record-Route */
            c->b.remote_tag = xstrdup(to_tag);
            char *target = header_uri(sw_msg_header_by_id(resp, SW_HDR_CONTACT, 0));
            if (target) {
                free(c->b.remote_target);
                c->b.remote_target = target;
            }
            free(c->b.route_set);
            c->b.route_set = route_set_of(resp, true);
        }
        if (sdp) {
            free(c->b_sdp);
            c->b_sdp = xstrdup(sdp);
        }
        char *more = reliable_provisional(c, resp);
        if (!c->cancelled) {
            respond_a_with(c, code, sw_msg_reason(resp), sdp, more);
            if (!c->ringing_ms)
                c->ringing_ms = now_ms();
        }
        free(more);
    } else if (code < 300) {
        b_answered(c, at, resp, sdp);
    } else {
        finish_attempt(at, SW_ATTEMPT_RESPONSE, code, sw_msg_reason(resp));
        sw_tx_detach(tx);
        attempt_failed(c);
    }
    free(sdp);
}

static void b_on_timeout(sw_tx_t *tx, bool transport_error, void *ud)
{
    sw_call_t *c = ud;
    sw_tx_detach(tx);
    finish_attempt(current_attempt(c), transport_error ? SW_ATTEMPT_TRANSPORT_ERROR : SW_ATTEMPT_INVITE_TIMEOUT,
                   transport_error ? 503 : 408, transport_error ? "transport error" : "INVITE timeout");
    attempt_failed(c);
}

static void b_on_terminated(sw_tx_t *tx, void *ud)
{
    sw_call_t *c = ud;
    if (c->b_invite == tx)
        c->b_invite = NULL;
}

/* ---- new calls ---------------------------------------------------------------------------- */

static bool passthrough_wanted(const char *name)
{
    for (size_t i = 0; i < env.settings.n_passthrough; i++) {
        const char *p = env.settings.passthrough_headers[i];
        size_t n = strlen(p);
        if (n && p[n - 1] == '*' ? strncasecmp(name, p, n - 1) == 0 : strcasecmp(name, p) == 0)
            return true;
    }
    return false;
}

static char *collect_passthrough(const sw_msg_t *m)
{
    if (!env.settings.n_passthrough)
        return NULL;
    size_t cap = 1, len = 0;
    char *out = calloc(1, cap);
    if (!out)
        abort();
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        if (!passthrough_wanted(h->name))
            continue;
        size_t need = strlen(h->name) + strlen(h->value) + 5;
        char *grown = realloc(out, cap += need);
        if (!grown)
            abort();
        out = grown;
        len += (size_t)snprintf(out + len, cap - len, "%s: %s\r\n", h->name, h->value);
    }
    if (!len) {
        free(out);
        return NULL;
    }
    return out;
}

void sw_calls_new_invite(sw_msg_t *inv, sw_tx_t *tx)
{
    if (closing) {
        /* shutdown: the loop still runs for modules' last requests */
        sw_tx_reply_t r = {.code = 503, .reason = "Service Unavailable (shutting down)",
                           .extra_headers = "Retry-After: 30\r\n"};
        sw_tx_server_respond(tx, &r);
        return;
    }
    const char *mapping = sw_sources_match(env.sources, (const struct sockaddr *)&inv->origin.src);
    if (!mapping && !inv->account && !env.settings.allow_unknown_sources) {
        sw_logf(SW_LOG_NOTICE, NULL, sw_msg_call_id(inv), "INVITE from %s: no [mapping] covers it: 403",
                inv->origin.src_text);
        sw_tx_reply_t r = {.code = 403, .reason = "Forbidden (unknown source)"};
        sw_tx_server_respond(tx, &r);
        return;
    }
    /* the caller hears from us at once, whatever the script and the gateways take */
    sw_tx_server_trying_now(tx);
    sw_call_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    n_calls++;
    c->id = next_call_id++;
    c->created_ms = now_ms();
    c->state = SW_CALL_ROUTING;
    c->a_invite = tx;
    c->a.call_id = xstrdup(sw_msg_call_id(inv));
    char token[40];
    random_token(token, sizeof token);
    c->a.local_tag = xstrdup(token);
    const char *from = sw_msg_header_by_id(inv, SW_HDR_FROM, 0), *to = sw_msg_header_by_id(inv, SW_HDR_TO, 0);
    c->a.remote_uri = xstrdup(from);
    c->a.remote_tag = header_param(from, "tag");
    char *to_uri = header_uri(to);
    c->a.local_uri = to_uri ? XCONCAT("<", to_uri, ">") : xstrdup("<sip:sipswitch@invalid>");
    free(to_uri);
    char *contact = header_uri(sw_msg_header_by_id(inv, SW_HDR_CONTACT, 0));
    c->a.remote_target = contact ? contact : header_uri(from);
    const char *cseq = sw_msg_header_by_id(inv, SW_HDR_CSEQ, 0);
    c->a.remote_cseq = cseq ? (uint32_t)strtoul(cseq, NULL, 10) : 0;
    c->a.route_set = route_set_of(inv, false);
    c->a.dest.transport = inv->origin.transport;
    memcpy(&c->a.dest.addr, &inv->origin.src, inv->origin.src_len);
    c->a.dest.addr_len = inv->origin.src_len;
    c->a.dest.via_socket_id = inv->origin.socket_id;
    char *from_uri = header_uri(from);
    c->caller = uri_user(from_uri);
    free(from_uri);
    c->callee = uri_user(sw_msg_ruri(inv));
    c->display = header_display(from);
    c->source = xstrdup(mapping);
    c->account = xstrdup(inv->account);
    snprintf(c->source_ip, sizeof c->source_ip, "%s", inv->origin.src_ip);
    size_t blen = 0;
    const char *body = sw_msg_body(inv, &blen);
    if (blen && is_sdp(inv))
        c->a_sdp = strndup(body, blen);
    const char *mf = sw_msg_header_by_id(inv, SW_HDR_MAX_FORWARDS, 0);
    c->max_forwards = mf ? atoi(mf) - 1 : 69;
    if (c->max_forwards < 0)
        c->max_forwards = 0;
    c->passthrough = collect_passthrough(inv);
    c->caller_requires_100rel = has_option_tag(inv, "Require", "100rel");
    c->caller_100rel = c->caller_requires_100rel || has_option_tag(inv, "Supported", "100rel");
    index_a(c);
    sw_tx_server_set_user(tx, &a_invite_cbs, c);

    /* modules may refuse the call before it costs anything (e.g. cdr when it
     * cannot promise a record: 503) */
    if (sw_call_hooks_call_new(c, inv) == SW_HOOK_HANDLED || c->reject_code) {
        if (!c->reject_code) /* HANDLED without call_reject(): a module bug, not a hang */
            sw_call_reject(c, 500, "Internal Server Error (module)", SW_END_OVERLOAD);
        /* an overloaded switch says when to come back (RFC 3261 21.5.4) */
        respond_a_with(c, c->reject_code, c->reject_reason, NULL,
                       c->reject_code == 503 ? "Retry-After: " SW_OVERLOAD_RETRY_AFTER "\r\n" : NULL);
        end_call(c, c->reject_end_reason ? c->reject_end_reason : SW_END_OVERLOAD, SW_PARTY_SWITCH,
                 "refused by a module");
        return;
    }

    /* the route script decides */
    sw_call_lua_result_t r = sw_call_lua_on_invite(env.lua, c, inv);
    if (r == SW_CALL_LUA_ERROR) {
        fail_call(c, 500, SW_END_SCRIPT_ERROR, "Internal Server Error (route script)");
        return;
    }
    if (c->reject_code) {
        char why[160];
        snprintf(why, sizeof why, "rejected by the script: %d", c->reject_code);
        respond_a(c, c->reject_code, c->reject_reason, NULL);
        end_call(c, SW_END_REJECTED_BY_SCRIPT, SW_PARTY_SWITCH, why);
        return;
    }
    if (!c->chain_len) {
        fail_call(c, 404, SW_END_NO_ROUTE, "Not Found (no route)");
        return;
    }
    if (sw_call_hooks_route(c) == SW_HOOK_HANDLED) {
        if (!c->reject_code)
            sw_call_reject(c, 500, "Internal Server Error (module)", SW_END_NO_ROUTE);
        respond_a(c, c->reject_code, c->reject_reason, NULL);
        end_call(c, c->reject_end_reason ? c->reject_end_reason : SW_END_NO_ROUTE, SW_PARTY_SWITCH,
                 "refused by a module after routing");
        return;
    }
    start_next_attempt(c);
}

bool sw_calls_cancel(sw_tx_t *invite_tx)
{
    /* the CANCEL carries the INVITE's Call-ID: one lookup, not a scan */
    bool from_a = false;
    sw_call_t *c = invite_tx ? find_call(sw_tx_call_id(invite_tx), &from_a) : NULL;
    if (!c || !from_a || c->a_invite != invite_tx)
        return false; /* not a pending call (e.g. a re-INVITE): the front door answers */
    c->cancelled = true;
    respond_a(c, 487, "Request Terminated", NULL);
    if (c->b_invite)
        sw_tx_client_cancel(c->b_invite); /* its 487 (or a crossing 2xx) ends the call */
    else
        end_call(c, SW_END_CANCELLED, SW_PARTY_CALLER, "cancelled by the caller");
    return true;
}

/* ---- requests inside a dialog -------------------------------------------------------------- */

/* The session description the switch just gave the side `to` (relayed
 * offers and answers): what a refresh that changes nothing offers again. */
static void remember_sdp(sw_call_t *c, const sw_dialog_side_t *to, const char *body, size_t len)
{
    char **slot = to == &c->a ? &c->b_sdp : &c->a_sdp; /* a_sdp: the caller's, given to the gateway */
    if (memchr(body, '\0', len))
        return; /* not SDP text: keep the last good one */
    free(*slot);
    *slot = strndup(body, len);
    if (!*slot)
        abort();
}

/* A relayed or module request got its final answer (or none): forgets it
 * and tells the module that sent it. Last thing its caller does: the
 * callback may end the call. */
static void relay_done(sw_relay_t *r, int code, sw_msg_t *resp)
{
    sw_call_t *c = r->call;
    sw_request_cb cb = r->cb;
    sw_module_t *mod = r->cb_module;
    void *arg = r->cb_arg;
    relay_unlink(r);
    free(r);
    if (cb)
        cb(mod, c, code, resp, arg);
}

/* A response to a relayed request goes back to the side that sent it, under
 * that side's dialog identifiers (the transaction layer fills in its Via,
 * From, To, Call-ID and CSeq). */
static void relay_on_response(sw_tx_t *tx, sw_msg_t *resp, void *ud)
{
    sw_relay_t *r = ud;
    int code = sw_msg_status(resp);
    if (code == 100)
        return; /* hop by hop: our server transaction sent its own 100 */
    sw_call_t *c = r->call;
    sw_dialog_side_t *near = r->to_a ? &c->b : &c->a; /* sent the request */
    sw_dialog_side_t *far = r->to_a ? &c->a : &c->b;  /* answered it */
    bool refreshed = r->target_refresh && code >= 200 && code < 300;
    if (refreshed) {
        /* RFC 3261 12.2.1.2: the 2xx of a target refresh request carries the
         * far side's remote target from now on */
        char *contact = header_uri(sw_msg_header_by_id(resp, SW_HDR_CONTACT, 0));
        if (contact) {
            free(far->remote_target);
            far->remote_target = contact;
        }
    }
    size_t blen = 0;
    const char *body = sw_msg_body(resp, &blen);
    /* bodies are bytes (NULs allowed): copied by length, never as a string */
    char *copy = blen ? malloc(blen) : NULL;
    if (blen && !copy)
        abort();
    if (copy)
        memcpy(copy, body, blen);
    const char *ct = sw_msg_header_by_id(resp, SW_HDR_CONTENT_TYPE, 0);
    /* the near side must keep sending its in-dialog requests to us */
    char *contact = refreshed ? our_contact(near->dest.transport) : NULL;
    char *extra = contact ? XCONCAT("Contact: ", contact, "\r\n") : NULL;
    sw_tx_reply_t rep = {.code = code, .reason = sw_msg_reason(resp), .to_tag = near->local_tag,
                         .extra_headers = extra, .content_type = copy ? ct : NULL, .body = copy, .body_len = blen};
    if (r->server)
        sw_tx_server_respond(r->server, &rep);
    free(contact);
    free(extra);
    free(copy);
    if (copy && r->server && is_sdp(resp) && code < 300)
        remember_sdp(c, near, body, blen); /* the far side's answer, relayed to the near one */
    if (code >= 200) {
        /* a re-INVITE's 2xx is ACKed on the far side at once; the near side
         * ACKs ours, and that ACK stops at the switch */
        if (r->is_invite && code < 300)
            send_ack(c, far, cseq_number(resp));
        sw_tx_detach(tx);
        if (r->server)
            sw_tx_detach(r->server);
        relay_done(r, code, resp); /* last: a module's callback may end the call */
    }
}

static void relay_on_timeout(sw_tx_t *tx, bool transport_error, void *ud)
{
    sw_relay_t *r = ud;
    sw_tx_detach(tx);
    if (r->server) {
        sw_tx_reply_t rep = {.code = 408, .reason = "Request Timeout"};
        sw_tx_server_respond(r->server, &rep);
        sw_tx_detach(r->server);
    }
    relay_done(r, transport_error ? 503 : 408, NULL);
}

static const sw_tx_client_cbs_t relay_cbs = {.on_response = relay_on_response, .on_timeout = relay_on_timeout};

/* Copies the option tags of every `name` header of `from` to `to`, "timer"
 * apart (one header; none when nothing is left). */
static void copy_option_tags(sw_msg_t *to, const sw_msg_t *from, const char *name)
{
    char out[512];
    size_t n = 0;
    for (size_t k = 0; k < sw_msg_header_count(from, name); k++) {
        const char *v = sw_msg_header(from, name, k);
        while (v && *v) {
            size_t len = strcspn(v, ",");
            const char *tok = v;
            size_t tlen = len;
            while (tlen && (*tok == ' ' || *tok == '\t'))
                tok++, tlen--;
            while (tlen && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t'))
                tlen--;
            bool timer = tlen == 5 && strncasecmp(tok, "timer", 5) == 0;
            if (tlen && !timer && n + tlen + 2 < sizeof out) {
                if (n) {
                    out[n++] = ',';
                    out[n++] = ' ';
                }
                memcpy(out + n, tok, tlen);
                n += tlen;
            }
            v += len;
            if (*v == ',')
                v++;
        }
    }
    out[n] = '\0';
    if (n)
        sw_msg_header_add(to, name, out);
}

/* Relays a request from one leg to the other with that leg's CSeq. */
static void relay_request(sw_call_t *c, sw_msg_t *req, sw_tx_t *tx, bool from_a)
{
    sw_dialog_side_t *far = from_a ? &c->b : &c->a;
    const char *method = sw_msg_method(req);
    char branch[64];
    sw_msg_t *m = build_in_dialog(c, far, method, ++far->local_cseq, branch, sizeof branch);
    if (!m) {
        sw_tx_reply_t rep = {.code = 500};
        sw_tx_server_respond(tx, &rep);
        return;
    }
    /* Session-Expires and Min-SE are not copied: a B2BUA negotiates the
     * session timer per leg (RFC 4028; module session_timer), and "timer"
     * leaves Supported/Require for the same reason */
    static const char *const copied[] = {"Event", "Subscription-State", "Refer-To", "Referred-By",
                                         "Info-Package"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        for (size_t k = 0; k < sw_msg_header_count(req, copied[i]); k++)
            sw_msg_header_add(m, copied[i], sw_msg_header(req, copied[i], k));
    copy_option_tags(m, req, "Supported");
    copy_option_tags(m, req, "Require");
    if (strcmp(method, "PRACK") == 0) {
        /* RFC 3262 7.2: the RAck names the reliable provisional of *this*
         * leg: the caller's RSeq maps back to the gateway's */
        const char *rack = sw_msg_header_by_id(req, SW_HDR_RACK, 0);
        uint32_t rseq = rack ? (uint32_t)strtoul(rack, NULL, 10) : 0;
        if (!from_a || !rseq || rseq != c->a_rseq || !c->b_rseq) {
            sw_msg_free(m);
            far->local_cseq--;
            sw_tx_reply_t rep = {.code = 481, .reason = "No Matching Reliable Provisional"};
            sw_tx_server_respond(tx, &rep);
            return;
        }
        char *mapped = XCONCAT(num(c->b_rseq).s, " 1 INVITE");
        sw_msg_header_add(m, "RAck", mapped);
        free(mapped);
    }
    bool is_invite = strcmp(method, "INVITE") == 0;
    bool target_refresh = is_invite || strcmp(method, "UPDATE") == 0;
    if (target_refresh) {
        /* RFC 3261 12.2.2: a target refresh request moves the sender's remote target */
        sw_dialog_side_t *near = from_a ? &c->a : &c->b;
        char *new_target = header_uri(sw_msg_header_by_id(req, SW_HDR_CONTACT, 0));
        if (new_target) {
            free(near->remote_target);
            near->remote_target = new_target;
        }
        char *contact = our_contact(far->dest.transport);
        sw_msg_header_add(m, "Contact", contact);
        free(contact);
    }
    size_t blen = 0;
    const char *body = sw_msg_body(req, &blen);
    if (blen) {
        const char *ct = sw_msg_header_by_id(req, SW_HDR_CONTENT_TYPE, 0);
        sw_msg_set_body(m, ct ? ct : "application/octet-stream", body, blen);
        if (is_sdp(req))
            remember_sdp(c, far, body, blen);
    }
    sw_call_hooks_request_out(c, current_attempt(c), m, far == &c->a);
    sw_relay_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->call = c;
    r->server = tx;
    r->to_a = !from_a;
    r->is_invite = is_invite;
    r->target_refresh = target_refresh;
    r->client = send_request(m, method, branch, &far->dest, 0, &relay_cbs, r);
    if (!r->client) {
        free(r);
        sw_tx_reply_t rep = {.code = 503, .reason = "Service Unavailable (relay failed)"};
        sw_tx_server_respond(tx, &rep);
        return;
    }
    sw_tx_server_set_user(tx, NULL, r);
    r->next = c->relays;
    c->relays = r;
}

/* The in-dialog request a module's on_dialog_request is looking at, and
 * its server transaction: api->msg_reply answers through it. */
static struct {
    sw_call_t *call;
    sw_msg_t *req;
    sw_tx_t *tx;
    bool from_a;
} dialog_ctx;

int sw_calls_dialog_reply(sw_msg_t *req, int code, const char *reason, const char *extra_headers,
                          const char *content_type, const char *body, size_t len)
{
    if (!req || req != dialog_ctx.req)
        return -2;
    if (code < 200 || code > 699 || req->replied || (len && (!content_type || !body)))
        return -1;
    sw_call_t *c = dialog_ctx.call;
    sw_dialog_side_t *near = dialog_ctx.from_a ? &c->a : &c->b;
    const char *method = sw_msg_method(req);
    bool refresh = code < 300 && (strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0);
    char *contact = NULL, *extra = NULL;
    if (refresh) {
        /* a target refresh answered here: the peer's new Contact is its
         * target from now on, ours stays the switch (RFC 3261 12.2) */
        char *target = header_uri(sw_msg_header_by_id(req, SW_HDR_CONTACT, 0));
        if (target) {
            free(near->remote_target);
            near->remote_target = target;
        }
        contact = our_contact(near->dest.transport);
        extra = XCONCAT("Contact: ", contact, "\r\n", extra_headers);
    }
    sw_tx_reply_t rep = {.code = code, .reason = reason, .to_tag = near->local_tag,
                         .extra_headers = extra ? extra : extra_headers, .content_type = len ? content_type : NULL,
                         .body = len ? body : NULL, .body_len = len};
    int rc = sw_tx_server_respond(dialog_ctx.tx, &rep);
    if (rc == 0)
        req->replied = true;
    free(contact);
    free(extra);
    return rc == 0 ? 0 : -1;
}

/* Offers an in-dialog request to the modules (on_dialog_request): true when
 * one answered it (it is not relayed). */
static bool dialog_hooks(sw_call_t *c, sw_msg_t *req, sw_tx_t *tx, bool from_a)
{
    dialog_ctx.call = c;
    dialog_ctx.req = req;
    dialog_ctx.tx = tx;
    dialog_ctx.from_a = from_a;
    sw_hook_result_t r = sw_call_hooks_dialog_request(c, from_a, req);
    memset(&dialog_ctx, 0, sizeof dialog_ctx);
    if (r == SW_HOOK_CONTINUE)
        return false;
    if (!req->replied) {
        /* HANDLED without an answer (or DROP): a module bug, not a hang */
        sw_tx_reply_t rep = {.code = 500, .reason = "Server Internal Error (module)"};
        sw_tx_server_respond(tx, &rep);
    }
    return true;
}

bool sw_calls_in_dialog(sw_msg_t *req, sw_tx_t *tx)
{
    bool from_a = false;
    sw_call_t *c = find_call(sw_msg_call_id(req), &from_a);
    if (!c)
        return false;
    sw_dialog_side_t *near = from_a ? &c->a : &c->b;
    /* The To tag must be the one we gave this leg: a request with the
     * Call-ID but another tag (stale, or forged) is in no dialog of ours
     * and gets 481 from the front door. */
    const char *to_tag = sw_msg_to_tag(req);
    if (!to_tag || !near->local_tag || strcmp(to_tag, near->local_tag) != 0)
        return false;
    const char *method = sw_msg_method(req);
    if (strcmp(method, "ACK") == 0)
        return true; /* the caller's ACK for our 2xx: the B side was ACKed already */
    sw_tx_reply_t answer = {.code = 0};
    uint32_t cseq = cseq_number(req);
    if (near->remote_cseq && cseq < near->remote_cseq) {
        /* RFC 3261 12.2.2: out of order */
        answer.code = 500;
        answer.reason = "Server Internal Error (CSeq out of order)";
        if (tx)
            sw_tx_server_respond(tx, &answer);
        return true;
    }
    near->remote_cseq = cseq;
    if (strcmp(method, "BYE") == 0) {
        answer.code = 200;
        answer.reason = "OK";
        if (tx)
            sw_tx_server_respond(tx, &answer);
        if (c->state == SW_CALL_ANSWERED) {
            send_bye(c, from_a ? &c->b : &c->a);
        } else if (from_a) {
            /* RFC 3261 15: a BYE in the caller's early dialog ends its INVITE
             * with 487; end_call cancels the pending gateway attempt */
            c->cancelled = true;
            respond_a(c, 487, "Request Terminated", NULL);
        } else {
            respond_a(c, 480, "Temporarily Unavailable", NULL);
        }
        end_call(c, c->state == SW_CALL_ANSWERED ? (from_a ? SW_END_NORMAL_CALLER : SW_END_NORMAL_CALLEE)
                                            : (from_a ? SW_END_CANCELLED : SW_END_ALL_GATEWAYS_FAILED),
                 from_a ? SW_PARTY_CALLER : SW_PARTY_CALLEE, from_a ? "caller hung up" : "callee hung up");
        return true;
    }
    /* in the early dialog (the gateway's 18x made it) PRACK, UPDATE and INFO
     * are relayed; anything else (a re-INVITE) waits for the answer */
    bool early = c->state == SW_CALL_ATTEMPTING && c->b_invite && c->b.remote_tag &&
                 (strcmp(method, "PRACK") == 0 || strcmp(method, "UPDATE") == 0 || strcmp(method, "INFO") == 0);
    if ((c->state != SW_CALL_ANSWERED && !early) || (!from_a && !c->a.remote_target)) {
        answer.code = 491;
        answer.reason = "Request Pending";
        if (tx)
            sw_tx_server_respond(tx, &answer);
        return true;
    }
    if (!tx)
        return true;
    if (strcmp(method, "PRACK") != 0 && dialog_hooks(c, req, tx, from_a))
        return true;
    relay_request(c, req, tx, from_a);
    return true;
}

/* ---- what modules may do to a call (module.h, ABI 1.1) ------------------------------------ */

/* A URI we may write between <>: a scheme, no spaces, quotes, angle
 * brackets or control characters. */
static bool plain_uri(const char *u)
{
    if (!u || !strchr(u, ':'))
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == 0x7f)
            return false;
    return true;
}

void sw_call_leg_set_from(sw_attempt_t *at, const char *display, const char *uri)
{
    if (!at || at->invite_sent || at->outcome != SW_ATTEMPT_PENDING)
        return;
    if ((uri && !plain_uri(uri)) || (display && strpbrk(display, "\"\\\r\n"))) {
        sw_logf(SW_LOG_WARN, NULL, at->call->a.call_id, "leg_set_from: refused (display or URI not writable)");
        return;
    }
    free(at->from_display);
    free(at->from_uri);
    at->from_set = true;
    at->from_display = display ? xstrdup(display) : NULL;
    at->from_uri = uri ? xstrdup(uri) : NULL;
}

const char *sw_call_sdp(const sw_call_t *c, sw_party_t to)
{
    if (!c)
        return NULL;
    return to == SW_PARTY_CALLER ? c->b_sdp : to == SW_PARTY_CALLEE ? c->a_sdp : NULL;
}

int sw_call_send_request(sw_call_t *c, sw_party_t to, const char *method, const char *extra_headers, bool with_sdp,
                         sw_request_cb cb, sw_module_t *mod, void *arg)
{
    if (!c || c->state != SW_CALL_ANSWERED || !method || (to != SW_PARTY_CALLER && to != SW_PARTY_CALLEE))
        return -1;
    /* the core owns the requests that change the dialog's life */
    if (!strcmp(method, "ACK") || !strcmp(method, "CANCEL") || !strcmp(method, "BYE") || !strcmp(method, "PRACK"))
        return -1;
    sw_dialog_side_t *side = to == SW_PARTY_CALLER ? &c->a : &c->b;
    if (!side->call_id || !side->remote_target)
        return -1;
    char branch[64];
    sw_msg_t *m = build_in_dialog(c, side, method, ++side->local_cseq, branch, sizeof branch);
    if (!m) {
        side->local_cseq--;
        return -1;
    }
    bool is_invite = strcmp(method, "INVITE") == 0;
    bool target_refresh = is_invite || strcmp(method, "UPDATE") == 0;
    if (target_refresh) {
        char *contact = our_contact(side->dest.transport);
        sw_msg_header_add(m, "Contact", contact);
        free(contact);
    }
    add_header_lines(m, extra_headers);
    const char *sdp = with_sdp ? sw_call_sdp(c, to) : NULL;
    if (sdp)
        sw_msg_set_body(m, "application/sdp", sdp, strlen(sdp));
    sw_call_hooks_request_out(c, current_attempt(c), m, side == &c->a);
    sw_relay_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->call = c;
    r->to_a = side == &c->a;
    r->is_invite = is_invite;
    r->target_refresh = target_refresh;
    r->cb = cb;
    r->cb_module = mod;
    r->cb_arg = arg;
    r->client = send_request(m, method, branch, &side->dest, 0, &relay_cbs, r);
    if (!r->client) {
        free(r);
        return -1;
    }
    r->next = c->relays;
    c->relays = r;
    return 0;
}

void sw_call_hangup(sw_call_t *c, int end_reason, int code)
{
    if (!c || c->state == SW_CALL_ENDED)
        return;
    const char *why = end_reason == SW_END_SESSION_TIMER_EXPIRED   ? "session timer expired"
                      : end_reason == SW_END_MAX_DURATION_NO_TIMER ? "max duration reached (no session timer)"
                                                                   : "hung up by a module";
    if (c->state == SW_CALL_ANSWERED) {
        send_bye(c, &c->a);
        send_bye(c, &c->b);
    } else {
        if (c->b_invite)
            sw_tx_client_cancel(c->b_invite); /* a 2xx crossing it is ACKed and BYEd (late_answer) */
        respond_a(c, code >= 300 && code <= 699 ? code : 503, NULL, NULL);
    }
    end_call(c, end_reason, SW_PARTY_SWITCH, why);
}

void sw_calls_shutdown(void)
{
    closing = true;
    for (size_t h = 0; h < CALL_BUCKETS; h++)
        while (by_a[h]) {
            sw_call_t *c = by_a[h];
            if (c->state == SW_CALL_ANSWERED) {
                send_bye(c, &c->a);
                send_bye(c, &c->b);
            } else if (c->a_invite) {
                respond_a(c, 503, "Service Unavailable (shutting down)", NULL);
            }
            end_call(c, SW_END_SHUTDOWN, SW_PARTY_SWITCH, "switch shutting down");
        }
}
