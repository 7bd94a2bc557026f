/* fuzz_sip_message: the SIP message path for UDP, as the daemon runs it.
 *
 * The input is one datagram, or several separated by marker lines: a line
 * "##next##" starts a datagram from the caller, "##gw##" one from the
 * gateway (the first datagram is the caller's). Two UDP sockets of this
 * harness play the caller (a customer switch) and the gateway (a carrier),
 * and the switch is set up as for calls: allow_unknown_sources, a route
 * script (on_invite: 486xxx rejected, 0xxx no route, anything else tried on
 * gateway "gw" then "gw2", both the harness's gateway socket), passthrough
 * headers. Each datagram goes through the real front door,
 * sw_frontdoor_datagram() (core/sip/frontdoor.c): size check, framing
 * (framing.c), parse (message.c over libosip2), transaction matching
 * (transaction.c: server side new / retransmission / ACK / CANCEL, client
 * side for responses), sanity checks (sanity.c), dialog matching and the
 * call engine (core/call/call.c: new calls, B-leg INVITEs, relays, CANCEL,
 * BYE, failover), the core's own answers or the stateless 400. What the
 * switch sends lands on the two sockets; the harness remembers the last
 * request the gateway received and the last response the caller received,
 * and replaces placeholders in later datagrams with them, so a datagram can
 * answer a B-leg INVITE whose branch and tags are random:
 *   from the gateway's last request: $V top Via value, $F From, $T To,
 *     $I Call-ID, $C CSeq, $M Contact URI (an in-dialog Request-URI);
 *   from the caller's last response: $t To tag, $m Contact URI.
 * Two client transactions (an INVITE and an OPTIONS to the gateway socket,
 * branches z9hG4bKfuzzinv and z9hG4bKfuzzopt, started with each input) give
 * responses without placeholders something to match. The libuv loop exists
 * but is only turned without blocking after each datagram (due timers fire:
 * the 100 Trying).
 *
 * Then the same bytes go through the pieces one by one with the extra
 * calls the call engine makes on messages it relays: every getter, the
 * 400 reply builders (from a parsed request, from a reply base, and from
 * raw bytes), the reply destination, header add/set/remove, body and
 * Request-URI changes, serialisation and re-parsing.
 *
 * Checks besides ASan/UBSan/LSan: framing results stay inside the buffer;
 * a reply to a parsed request is always built; a rewritten message parses
 * again; what the switch sends after a message it parsed parses again
 * (FUZZ_SENT_CHECK=0 turns that off, =2 also requires it of the stateless
 * 400s made from bytes that did not parse; FUZZ_SENT_IGNORE='text|text'
 * skips the messages holding one of those texts, to fuzz on past a known
 * finding; a To that
 * only libosip2's bare-URI quirk refuses is not counted, see
 * libosip2_bare_to_quirk). Calls and transactions are
 * ended and freed after each input (sw_calls_shutdown, sw_tx_shutdown), so
 * leaks show. */
#define _GNU_SOURCE /* memmem */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lua.h>
#include <osipparser2/osip_parser.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "call/call.h"
#include "call/gateways.h"
#include "cfg/config.h"
#include "cfg/core_params.h"
#include "fuzz_util.h"
#include "log.h"
#include "loop_jobs.h"
#include "lua/engine.h"
#include "net/transport.h"
#include "sip/frontdoor.h"
#include "sip/sip.h"
#include "sip/transaction.h"

#define FROM_CALLER "\n##next##\n"
#define FROM_GATEWAY "\n##gw##\n"
#define SWITCH_SOCKET_ID 1
#define MAX_MESSAGE 65535
#define MAX_DATAGRAMS 16

/* the caller or the gateway: a UDP socket of the harness */
typedef struct peer {
    int fd;
    struct sockaddr_in addr;
    sw_msg_origin_t origin;
    /* the gateway: what its last request said ($V $F $T $I $C $M) */
    char via[1024], from[1024], to[1024], call_id[512], cseq[128], contact[512];
    /* the caller: its last response ($t $m) */
    char to_tag[256], resp_contact[512];
} peer_t;

static uv_loop_t loop;
static peer_t caller, gateway;
static int sent_check = 1;       /* FUZZ_SENT_CHECK: 0 off, 1 after parsed messages, 2 always */
static const char *sent_ignore;  /* FUZZ_SENT_IGNORE: sent messages holding one of these texts ('|' between
                                    them) are not checked */
static sw_gateways_t gateways;
static sw_lua_engine_t *lua;
static char *passthrough[] = {"X-*", "P-Asserted-Identity"};

static const char route_script[] =
    "function on_invite(call)\n"
    "  local callee = call.callee or ''\n"
    "  if callee:sub(1, 3) == '486' then return call:reject(486, 'Busy Here') end\n"
    "  if callee:sub(1, 1) == '0' then return {} end\n"
    "  return { 'gw', { gateway = 'gw2', callee = '00' .. callee } }\n"
    "end\n"
    "function on_failure(call, attempt) return nil end\n";

static const char client_invite[] =
    "INVITE sip:callee@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzzinv;rport\r\n"
    "From: <sip:switch@127.0.0.1>;tag=fuzzfrom\r\n"
    "To: <sip:callee@127.0.0.1>\r\n"
    "Call-ID: fuzz-client-invite@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";
static const char client_options[] =
    "OPTIONS sip:callee@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzzopt;rport\r\n"
    "From: <sip:switch@127.0.0.1>;tag=fuzzfrom\r\n"
    "To: <sip:callee@127.0.0.1>\r\n"
    "Call-ID: fuzz-client-options@127.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";

static void open_peer(peer_t *p)
{
    memset(p, 0, sizeof *p);
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (p->fd < 0)
        abort();
    p->addr.sin_family = AF_INET;
    p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof p->addr;
    if (bind(p->fd, (struct sockaddr *)&p->addr, sizeof p->addr) != 0 ||
        getsockname(p->fd, (struct sockaddr *)&p->addr, &len) != 0)
        abort();
    int big = 8 << 20;
    setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    p->origin.transport = SW_TRANSPORT_UDP;
    p->origin.socket_id = SWITCH_SOCKET_ID;
    sw_fill_origin_addr(&p->origin, (const struct sockaddr *)&p->addr);
}

/* The call engine's environment: gateways "gw" and "gw2" (both the
 * harness's gateway socket) and the route script. */
static void setup_calls(void)
{
    char text[512];
    snprintf(text, sizeof text,
             "[core]\nlisten = udp:127.0.0.1:5060\n"
             "[gateway gw]\naddress = 127.0.0.1:%u\n"
             "[gateway gw2]\naddress = 127.0.0.1:%u\n",
             ntohs(gateway.addr.sin_port), ntohs(gateway.addr.sin_port));
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("fuzz.cfg", text, &errs);
    sw_core_settings_t core;
    memset(&core, 0, sizeof core);
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    sw_cfg_resolve_all(cfg, &errs);
    if (errs.count || sw_gateways_build(sw_cfg_view(cfg, "core"), &gateways, &errs) != 0) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "fuzz_sip_message: %s\n", errs.items[i]);
        abort();
    }
    sw_cfg_free(cfg);
    sw_errors_clear(&errs);

    char path[512], err[512];
    snprintf(path, sizeof path, "%s/route.lua", fuzz_tmpdir());
    fuzz_write_file(path, route_script, sizeof route_script - 1);
    lua = sw_lua_engine_new();
    sw_lua_limits_t limits = {.instruction_budget = 100000, .memory_limit = 16 << 20};
    if (!lua || sw_lua_engine_load(lua, path, &limits, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_sip_message: route script: %s\n", err);
        abort();
    }

    sw_call_settings_t cs;
    memset(&cs, 0, sizeof cs);
    cs.passthrough_headers = passthrough;
    cs.n_passthrough = sizeof passthrough / sizeof passthrough[0];
    cs.invite_timeout_ms = 32000;
    cs.allow_unknown_sources = true;
    snprintf(cs.local_host, sizeof cs.local_host, "127.0.0.1");
    cs.udp_port = 5060; /* only written in Via/Contact: datagrams reach the switch through the harness */
    cs.udp_socket_id = SWITCH_SOCKET_ID;
    sw_calls_configure(&cs, &gateways, NULL, lua, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_setup();
    if (getenv("FUZZ_SENT_CHECK"))
        sent_check = atoi(getenv("FUZZ_SENT_CHECK"));
    sent_ignore = getenv("FUZZ_SENT_IGNORE");
    if (sent_ignore && !*sent_ignore)
        sent_ignore = NULL;

    if (uv_loop_init(&loop) != 0 || sw_loop_jobs_init(&loop) != 0)
        abort();
    sw_tx_settings_t ts;
    sw_tx_default_settings(&ts);
    ts.force_rport = true; /* answers go to the sockets, never to a Via address */
    sw_tx_configure(&ts);
    sw_frontdoor_settings_t fs = {.max_message_size = MAX_MESSAGE, .force_rport = true};
    sw_frontdoor_configure(&fs, NULL);

    /* the switch's UDP socket */
    sw_listen_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.transport = SW_TRANSPORT_UDP;
    snprintf(spec.host, sizeof spec.host, "127.0.0.1");
    spec.port = 0;
    char err[256];
    if (sw_udp_listen(&spec, SWITCH_SOCKET_ID, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_sip_message: cannot open the switch socket: %s\n", err);
        abort();
    }
    open_peer(&caller);
    open_peer(&gateway);
    setup_calls();
    return 0;
}

/* ---- client transactions the responses may match ----------------------------------------- */

static void on_client_response(sw_tx_t *tx, sw_msg_t *resp, void *ud)
{
    (void)ud;
    (void)sw_tx_kind(tx);
    (void)sw_msg_status(resp);
    (void)sw_msg_to_tag(resp);
    (void)sw_msg_header(resp, "Contact", 0);
}

static void on_client_timeout(sw_tx_t *tx, bool transport_error, void *ud)
{
    (void)tx;
    (void)transport_error;
    (void)ud;
}

static void start_client_transactions(void)
{
    static const sw_tx_client_cbs_t cbs = {.on_response = on_client_response, .on_timeout = on_client_timeout};
    sw_tx_destination_t dest;
    memset(&dest, 0, sizeof dest);
    dest.transport = SW_TRANSPORT_UDP;
    memcpy(&dest.addr, &gateway.addr, sizeof gateway.addr);
    dest.addr_len = sizeof gateway.addr;
    dest.via_socket_id = SWITCH_SOCKET_ID;
    sw_tx_client_options_t opts = {.invite_timeout_ms = 0};
    sw_tx_t *inv = sw_tx_client_send("INVITE", "z9hG4bKfuzzinv", client_invite, sizeof client_invite - 1, &dest,
                                     &opts, &cbs, NULL);
    sw_tx_t *opt = sw_tx_client_send("OPTIONS", "z9hG4bKfuzzopt", client_options, sizeof client_options - 1, &dest,
                                     &opts, &cbs, NULL);
    FUZZ_CHECK(inv && opt, "cannot start the client transactions");
}

/* ---- what the switch sent --------------------------------------------------------------- */

static void copy_value(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v ? v : "");
}

/* The URI of a Contact value: inside <> when there are brackets. */
static void copy_uri(char *dst, size_t n, const char *v)
{
    const char *lt = v ? strchr(v, '<') : NULL;
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(dst, n, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        copy_value(dst, n, v);
}

static bool ignored(const char *msg)
{
    for (const char *p = sent_ignore; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n && memmem(msg, strlen(msg), p, n))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* libosip2 (5.3) refuses some bare To URIs once a parameter follows them
 * ("sip:r" parses, "sip:r;tag=x" does not), which RFC 3261 allows: a To
 * the switch copied and tagged (";tag=sw" + 16 hex digits) is then not the
 * switch's fault. True when the To line of msg is such a case: the value
 * without our tag is not empty, has no '<', and libosip2 takes it alone. */
static bool libosip2_bare_to_quirk(const char *msg)
{
    const char *to = strstr(msg, "\r\nTo: ");
    if (!to)
        return false;
    to += 6;
    const char *eol = strstr(to, "\r\n");
    const char *tag = eol ? strstr(to, ";tag=sw") : NULL;
    if (!tag || tag + 7 + 16 != eol || tag == to || memchr(to, '<', (size_t)(tag - to)))
        return false;
    char bare[512];
    if ((size_t)(tag - to) >= sizeof bare)
        return false;
    memcpy(bare, to, (size_t)(tag - to));
    bare[tag - to] = '\0';
    osip_to_t *t = NULL;
    if (osip_to_init(&t) != 0)
        return false;
    int rc = osip_to_parse(t, bare);
    osip_to_free(t);
    return rc == 0;
}

/* Reads what the switch sent to a peer; remembers what the placeholders
 * need; with all_must_parse, a message that does not parse is a finding. */
static void drain_peer(peer_t *p, bool all_must_parse)
{
    static char buf[MAX_MESSAGE + 1];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        const char *err = NULL;
        sw_frame_t fr;
        memset(&fr, 0, sizeof fr);
        sw_frame_status_t st = sw_sip_frame(buf, (size_t)n, false, MAX_MESSAGE, &fr);
        sw_msg_t *m = st == SW_FRAME_OK ? sw_msg_parse(buf + fr.skipped, fr.total - fr.skipped, &err) : NULL;
        buf[n] = '\0';
        if (all_must_parse && !m && !ignored(buf) && !libosip2_bare_to_quirk(buf))
            FUZZ_CHECK(m != NULL, "the switch sent a message it cannot parse itself (%s): %.*s",
                       st != SW_FRAME_OK ? (fr.error ? fr.error : "framing") : (err ? err : "?"), (int)n, buf);
        if (m && p == &gateway && sw_msg_is_request(m) && strcmp(sw_msg_method(m), "ACK") != 0) {
            copy_value(p->via, sizeof p->via, sw_msg_header(m, "Via", 0));
            copy_value(p->from, sizeof p->from, sw_msg_header(m, "From", 0));
            copy_value(p->to, sizeof p->to, sw_msg_header(m, "To", 0));
            copy_value(p->call_id, sizeof p->call_id, sw_msg_call_id(m));
            copy_value(p->cseq, sizeof p->cseq, sw_msg_header(m, "CSeq", 0));
            copy_uri(p->contact, sizeof p->contact, sw_msg_header(m, "Contact", 0));
        } else if (m && p == &caller && !sw_msg_is_request(m)) {
            if (sw_msg_to_tag(m))
                copy_value(p->to_tag, sizeof p->to_tag, sw_msg_to_tag(m));
            if (sw_msg_header(m, "Contact", 0))
                copy_uri(p->resp_contact, sizeof p->resp_contact, sw_msg_header(m, "Contact", 0));
        }
        sw_msg_free(m);
    }
}

/* The datagram with its placeholders filled in (malloc'd). */
static char *fill_placeholders(const char *d, size_t n, size_t *out_len)
{
    size_t cap = n + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        if (d[i] == '$' && i + 1 < n) {
            switch (d[i + 1]) {
            case 'V': v = gateway.via; break;
            case 'F': v = gateway.from; break;
            case 'T': v = gateway.to; break;
            case 'I': v = gateway.call_id; break;
            case 'C': v = gateway.cseq; break;
            case 'M': v = gateway.contact; break;
            case 't': v = caller.to_tag; break;
            case 'm': v = caller.resp_contact; break;
            default: break;
            }
        }
        size_t add = v ? strlen(v) : 1;
        if (len + add + 1 > cap) {
            cap = (len + add + 1) * 2;
            out = realloc(out, cap);
            if (!out)
                abort();
        }
        if (v) {
            memcpy(out + len, v, add);
            i++;
        } else {
            out[len] = d[i];
        }
        len += add;
    }
    out[len] = '\0';
    *out_len = len;
    return out;
}

/* ---- the pieces, one by one --------------------------------------------------------------- */

static const char *const header_names[] = {"Via", "v", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards",
                                           "Content-Type", "Content-Length", "Require", "Supported", "Accept",
                                           "Route", "Record-Route", "X-Unknown", ""};

static void read_everything(const sw_msg_t *m)
{
    (void)sw_msg_is_request(m);
    (void)sw_msg_method(m);
    (void)sw_msg_status(m);
    (void)sw_msg_call_id(m);
    (void)sw_msg_cseq_method(m);
    (void)sw_msg_ruri(m);
    (void)sw_msg_ruri_scheme(m);
    (void)sw_msg_to_tag(m);
    (void)sw_msg_top_via_branch(m);
    (void)sw_msg_version(m);
    (void)sw_msg_reason(m);
    for (size_t i = 0; i < sizeof header_names / sizeof header_names[0]; i++) {
        size_t n = sw_msg_header_count(m, header_names[i]);
        for (size_t k = 0; k <= n && k < 8; k++) {
            const char *v = sw_msg_header(m, header_names[i], k);
            if (v)
                (void)strlen(v);
        }
    }
    size_t blen = 1;
    const char *body = sw_msg_body(m, &blen);
    FUZZ_CHECK(body != NULL && body[blen] == '\0', "body not NUL-terminated");
    for (size_t i = 0; i < m->hdr_count; i++) {
        const sw_msg_hdr_t *h = &m->hdrs[i];
        FUZZ_CHECK(h->name && h->value && h->value[h->value_len] == '\0', "header %zu malformed", i);
        FUZZ_CHECK(h->id == sw_msg_header_id(h->name, h->name_len), "header %zu id mismatch", i);
    }
}

static void build_replies(const sw_msg_t *m)
{
    size_t len = 0;
    char *r = sw_sip_build_reply(m, 400, "Bad Request", "fuzztag", NULL, &len);
    FUZZ_CHECK(r != NULL, "no 400 for a parsed request");
    FUZZ_CHECK(strlen(r) <= len, "reply length");
    free(r);
    r = sw_sip_build_reply(m, 400, "Bad\r\nRequest", NULL, "Warning: 399 fuzz \"x\"\r\n", &len);
    free(r);
    r = sw_sip_build_reply_body(m, 200, NULL, "t", "Allow: INVITE\r\n", "application/sdp", "v=0\r\n", 5, &len);
    free(r);
    sw_sip_reply_base_t base;
    if (sw_sip_reply_base_init(m, &base) == 0) {
        r = sw_sip_reply_from_base(&base, 487, NULL, "", NULL, NULL, NULL, 0, &len);
        free(r);
        r = sw_sip_reply_from_base(&base, 100, "Trying", NULL, NULL, NULL, NULL, 0, &len);
        free(r);
        sw_sip_reply_base_free(&base);
    }
    struct sockaddr_storage to;
    socklen_t tolen = sizeof to;
    sw_sip_reply_destination(m, &to, &tolen);
    tolen = sizeof to;
    sw_sip_response_target(m, false, &to, &tolen);
}

/* What a B2BUA does to a message it relays: change headers, body and
 * Request-URI, then serialise; the result must parse again. */
static void rewrite(sw_msg_t *m)
{
    const char *err = NULL;
    sw_msg_t *copy = sw_msg_reparse(m, &err);
    if (!copy)
        return; /* the parsed view of the original is all the engine uses */
    read_everything(copy);
    (void)sw_msg_header_set(copy, "Max-Forwards", "69");
    (void)sw_msg_header_remove(copy, "Route");
    (void)sw_msg_header_add(copy, "X-Fuzz", "1");
    const char *from = sw_msg_header(copy, "From", 0);
    if (from) {
        char *dup = strdup(from);
        (void)sw_msg_header_set(copy, "To", dup); /* a value libosip2 accepted once */
        free(dup);
    }
    if (sw_msg_is_request(copy)) {
        (void)sw_msg_set_ruri(copy, "sip:relayed@192.0.2.1:5060");
        const char *contact = sw_msg_header(copy, "Contact", 0);
        if (contact) {
            char *dup = strdup(contact);
            (void)sw_msg_set_ruri(copy, dup); /* may be refused: not a bare URI */
            free(dup);
        }
    }
    size_t blen = 0;
    const char *body = sw_msg_body(copy, &blen);
    char *old_body = blen ? malloc(blen) : NULL;
    if (old_body)
        memcpy(old_body, body, blen);
    (void)sw_msg_set_body(copy, "application/sdp", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", 30);
    if (old_body)
        (void)sw_msg_set_body(copy, "application/sdp", old_body, blen);
    free(old_body);
    size_t len = 0;
    char *bytes = sw_msg_serialize(copy, &len);
    FUZZ_CHECK(bytes != NULL, "serialize failed");
    sw_msg_t *again = sw_msg_parse(bytes, len, &err);
    FUZZ_CHECK(again != NULL, "a rewritten message does not parse again (%s):\n%.*s", err ? err : "?", (int)len,
               bytes);
    read_everything(again);
    sw_msg_free(again);
    free(bytes);
    sw_msg_free(copy);
}

static void pieces(const char *buf, size_t n, const sw_msg_origin_t *origin)
{
    sw_frame_t fr;
    memset(&fr, 0, sizeof fr);
    sw_frame_status_t st = sw_sip_frame(buf, n, false, MAX_MESSAGE, &fr);
    size_t len = 0;
    if (st == SW_FRAME_ERROR) {
        FUZZ_CHECK(fr.error != NULL, "framing error without a reason");
        char *r = sw_sip_build_reply_raw(buf, n, &caller.origin, 400, fr.error, &len);
        free(r);
        return;
    }
    if (st == SW_FRAME_INCOMPLETE) {
        FUZZ_CHECK(fr.skipped == n, "datagram INCOMPLETE with bytes left (%zu of %zu skipped)", fr.skipped, n);
        return;
    }
    FUZZ_CHECK(fr.skipped <= fr.total && fr.total <= n && fr.skipped + fr.header_len + fr.body_len == fr.total,
               "frame out of bounds: skipped %zu header %zu body %zu total %zu len %zu", fr.skipped, fr.header_len,
               fr.body_len, fr.total, n);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(buf + fr.skipped, fr.total - fr.skipped, &err);
    if (!m) {
        FUZZ_CHECK(err != NULL, "parse failed without a reason");
        char *r = sw_sip_build_reply_raw(buf + fr.skipped, fr.total - fr.skipped, &caller.origin, 400, err, &len);
        free(r);
        return;
    }
    m->origin = *origin;
    read_everything(m);
    sw_sanity_t verdict;
    memset(&verdict, 0, sizeof verdict);
    sw_sip_sanity_check(m, &verdict);
    FUZZ_CHECK(verdict.code == 0 || verdict.code == -1 || (verdict.code >= 400 && verdict.code <= 699),
               "sanity code %d", verdict.code);
    FUZZ_CHECK(verdict.code == 0 || verdict.reason != NULL, "sanity %d without a reason", verdict.code);
    FUZZ_CHECK(memchr(verdict.extra, '\0', sizeof verdict.extra) != NULL, "sanity extra not terminated");
    if (sw_msg_is_request(m)) {
        build_replies(m);
        (void)sw_sip_method_known(sw_msg_method(m));
    }
    rewrite(m);
    sw_msg_free(m);
}

/* ---- one input ---------------------------------------------------------------------------- */

/* The next marker in d[0..n): its position and length, and who sends the
 * datagram after it. */
static const char *next_marker(const char *d, size_t n, size_t *mlen, peer_t **from)
{
    const char *c = memmem(d, n, FROM_CALLER, sizeof FROM_CALLER - 1);
    const char *g = memmem(d, n, FROM_GATEWAY, sizeof FROM_GATEWAY - 1);
    if (g && (!c || g < c)) {
        *mlen = sizeof FROM_GATEWAY - 1;
        *from = &gateway;
        return g;
    }
    *mlen = sizeof FROM_CALLER - 1;
    *from = &caller;
    return c;
}

static void drain_both(bool must_parse)
{
    drain_peer(&caller, must_parse);
    drain_peer(&gateway, must_parse);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(caller.to_tag, 0, sizeof caller.to_tag);
    memset(caller.resp_contact, 0, sizeof caller.resp_contact);
    gateway.via[0] = gateway.from[0] = gateway.to[0] = gateway.call_id[0] = gateway.cseq[0] = gateway.contact[0] = 0;
    start_client_transactions();
    drain_both(sent_check >= 1);

    const char *p = (const char *)data, *end = p + size;
    peer_t *from = &caller;
    for (int i = 0; i < MAX_DATAGRAMS; i++) {
        size_t mlen = 0;
        peer_t *next_from = &caller;
        const char *marker = next_marker(p, (size_t)(end - p), &mlen, &next_from);
        size_t raw_len = marker ? (size_t)(marker - p) : (size_t)(end - p);
        size_t n = 0;
        char *d = fill_placeholders(p, raw_len, &n);
        /* the real path */
        sw_frontdoor_datagram(d, n, &from->origin);
        uv_run(&loop, UV_RUN_NOWAIT);
        /* a message the switch could not parse is answered from its raw
         * lines; only what follows a message it parsed must parse */
        sw_frame_t fr;
        memset(&fr, 0, sizeof fr);
        bool parsed = false;
        if (n <= MAX_MESSAGE && sw_sip_frame(d, n, false, MAX_MESSAGE, &fr) == SW_FRAME_OK) {
            sw_msg_t *m = sw_msg_parse(d + fr.skipped, fr.total - fr.skipped, NULL);
            parsed = m != NULL;
            sw_msg_free(m);
        }
        drain_both(sent_check >= 2 || (sent_check == 1 && parsed));
        /* the pieces */
        if (n <= MAX_MESSAGE)
            pieces(d, n, &from->origin);
        free(d);
        if (!marker)
            break;
        p = marker + mlen;
        from = next_from;
    }
    /* end every call (BYE, 503), then every transaction */
    sw_calls_shutdown();
    uv_run(&loop, UV_RUN_NOWAIT);
    drain_both(sent_check >= 1);
    sw_tx_shutdown();
    uv_run(&loop, UV_RUN_NOWAIT);
    drain_both(false);
    FUZZ_CHECK(sw_calls_count() == 0, "%zu calls left after sw_calls_shutdown", sw_calls_count());
    /* what the script's calls left for the collector goes now: each input
     * frees what it allocated, so libFuzzer's leak check after an input that
     * did not (a leak, or memory kept in a global) stays rare and meaningful */
    lua_gc(sw_lua_engine_state(lua), LUA_GCCOLLECT);
    return 0;
}
