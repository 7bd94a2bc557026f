/* The SIP front door. Order of work for every message, cheapest first:
 * (the transports have asked the guard about the source address already)
 * size and framing, the guard's checks on the raw headers (scanner
 * User-Agents, header count), parse, metrics, overload shedding (sip/guard.h),
 * the transaction layer (retransmissions and hop-by-hop ACKs stop there),
 * sanity checks, the modules' on_request hooks, then the core's own answers.
 * Every answer to a request that parsed goes through its server transaction,
 * so a retransmitted request gets the same answer again and a final answer
 * to an INVITE over UDP is retransmitted until its ACK; only the 400s for
 * bytes that do not parse (and 513 for oversize datagrams), the 503s of
 * overload shedding and the digest challenges (401/407) to requests other
 * than INVITE are stateless. */
#include "config.h"

#include "sip/frontdoor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call.h"
#include "log.h"
#include "module/loader.h"
#include "net/transport.h"
#include "sip/guard.h"
#include "sip/sip.h"
#include "sip/transaction.h"
#include "stats/metrics.h"

static sw_frontdoor_settings_t settings = {.max_message_size = 65535, .force_rport = true};
static sw_modules_t *modules;

/* The request being handled and its server transaction: modules answer
 * through sw_frontdoor_reply while their on_request hook runs, and the
 * message does not outlive that, so this is all the mapping needed. */
static const sw_msg_t *current_req;
static sw_tx_t *current_tx;

void sw_frontdoor_configure(const sw_frontdoor_settings_t *s, struct sw_modules *ms)
{
    settings = *s;
    modules = ms;
}

static void count_drop(sw_drop_reason_t why)
{
    sw_metric_inc(&sw_metrics.drops[why]);
}

static int send_to_origin(const sw_msg_origin_t *origin, const struct sockaddr_storage *to, socklen_t tolen,
                          const char *buf, size_t len, int code)
{
    if (sw_transport_send(origin, (const struct sockaddr *)to, tolen, buf, len) != 0) {
        count_drop(SW_DROP_SEND_FAILED);
        return -1;
    }
    atomic_fetch_add_explicit(&sw_metrics.bytes_out, len, memory_order_relaxed);
    if (code >= 100 && code < 700)
        sw_metric_inc(&sw_metrics.responses_out[code]);
    return 0;
}

/* A stateless UAS must give retransmissions of a request the same To tag
 * (RFC 3261 8.2.7), so the tag is a hash of what identifies the request. */
static void stateless_to_tag(const sw_msg_t *req, char tag[static 19])
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {sw_msg_call_id(req), sw_msg_header_by_id(req, SW_HDR_FROM, 0), sw_msg_top_via_branch(req),
                           sw_msg_header_by_id(req, SW_HDR_CSEQ, 0)};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (const char *p = parts[i]; p && *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
    static const char hex[] = "0123456789abcdef";
    tag[0] = 's';
    tag[1] = 'w';
    for (int i = 0; i < 16; i++)
        tag[2 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    tag[18] = '\0';
}

/* A challenge to a non-INVITE request is answered statelessly (RFC 3261
 * 8.2.7): its transaction ends when it is sent, rather than holding the
 * answer for 32 s in case the request is retransmitted; a retransmission
 * is challenged again, with the same To tag. Half the transactions of a
 * registration, and of the memory a registration storm holds. An INVITE's
 * challenge needs its ACK, so it keeps its transaction. */
static bool answer_statelessly(const sw_msg_t *req, int code)
{
    return (code == 401 || code == 407) && strcmp(sw_msg_method(req), "INVITE") != 0;
}

int sw_frontdoor_reply(sw_msg_t *req, int code, const char *reason, const char *extra_headers)
{
    if (!req || !sw_msg_is_request(req) || code < 100 || code > 699)
        return -1;
    if (strcmp(sw_msg_method(req), "ACK") == 0)
        return -1; /* ACK is never answered */
    if (req->replied)
        return -1; /* its final answer went out already */
    if (req == current_req && current_tx) {
        char tag[19];
        sw_tx_reply_t r = {.code = code, .reason = reason, .extra_headers = extra_headers};
        if (answer_statelessly(req, code) && sw_tx_server_pending(current_tx)) {
            stateless_to_tag(req, tag);
            r.to_tag = tag;
            r.stateless = true;
        }
        int rc = sw_tx_server_respond(current_tx, &r);
        if (r.stateless) {
            current_tx = NULL; /* freed: the request is answered either way */
            req->replied = true;
        } else if (rc == 0 && code >= 200) {
            req->replied = true;
        }
        sw_debug("sent %d to %s for %s (call-id %s)", code, req->origin.src_text, sw_msg_method(req),
                 sw_msg_call_id(req) ? sw_msg_call_id(req) : "-");
        return rc;
    }
    /* a request outside the front door's handling (no transaction) */
    char tag[19];
    stateless_to_tag(req, tag);
    size_t len = 0;
    char *buf = sw_sip_build_reply(req, code, reason ? reason : sw_sip_reason_phrase(code), tag, extra_headers, &len);
    if (!buf)
        return -1;
    struct sockaddr_storage to;
    socklen_t tolen = sizeof to;
    sw_sip_response_target(req, settings.force_rport, &to, &tolen);
    int rc = send_to_origin(&req->origin, &to, tolen, buf, len, code);
    free(buf);
    if (code >= 200)
        req->replied = true;
    sw_debug("sent %d to %s for %s (call-id %s)", code, req->origin.src_text, sw_msg_method(req),
             sw_msg_call_id(req) ? sw_msg_call_id(req) : "-");
    return rc;
}

static void reply_raw(const char *buf, size_t len, const sw_msg_origin_t *origin, int code, const char *reason)
{
    size_t out_len = 0;
    char *out = sw_sip_build_reply_raw(buf, len, origin, code, reason, &out_len);
    if (!out) {
        count_drop(SW_DROP_UNPARSEABLE);
        return;
    }
    send_to_origin(origin, &origin->src, origin->src_len, out, out_len, code);
    free(out);
}

void sw_frontdoor_framing_error(const char *buf, size_t len, const sw_msg_origin_t *origin, const char *reason)
{
    sw_metric_inc(&sw_metrics.parse_errors);
    sw_debug("framing error from %s: %s", origin->src_text, reason);
    char phrase[160];
    snprintf(phrase, sizeof phrase, "Bad Request (%s)", reason ? reason : "framing");
    reply_raw(buf, len, origin, 400, phrase);
}

/* RFC 3261 9.2: a CANCEL matching an INVITE transaction gets 200 (and the
 * INVITE 487 when it is still pending); one matching nothing gets 481.
 * Until the call engine exists, an INVITE is only pending when a module
 * took it without answering. */
static void answer_cancel(sw_msg_t *m, sw_tx_t *invite)
{
    if (!invite) {
        sw_frontdoor_reply(m, 481, "Call/Transaction Does Not Exist", NULL);
        return;
    }
    sw_frontdoor_reply(m, 200, "OK", NULL);
    /* a call cancels its gateway attempt and answers the caller 487 itself */
    if (!sw_calls_cancel(invite) && sw_tx_server_pending(invite)) {
        sw_tx_reply_t r = {.code = 487};
        sw_tx_server_respond(invite, &r);
    }
}

/* The core's own answer to a request no module took. */
static void answer_request(sw_msg_t *m, sw_tx_t *cancelled_invite)
{
    const char *method = sw_msg_method(m);
    bool in_dialog = sw_msg_to_tag(m) != NULL;
    char extra[512];
    if (strcmp(method, "ACK") == 0) {
        /* an end-to-end ACK: the call's, or nobody's */
        if (!sw_calls_in_dialog(m, NULL))
            count_drop(SW_DROP_ACK_NO_TRANSACTION);
        return;
    }
    if (strcmp(method, "CANCEL") == 0) {
        answer_cancel(m, cancelled_invite);
        return;
    }
    if (strcmp(method, "OPTIONS") == 0 && !in_dialog) {
        snprintf(extra, sizeof extra, "Allow: %s\r\nSupported: %s\r\nAccept: application/sdp\r\n",
                 sw_sip_allowed_methods, sw_sip_supported_tags);
        sw_frontdoor_reply(m, 200, "OK", extra);
        return;
    }
    if (in_dialog && sw_calls_in_dialog(m, current_tx))
        return;
    if (in_dialog || strcmp(method, "BYE") == 0 ||
        strcmp(method, "PRACK") == 0 || strcmp(method, "UPDATE") == 0 || strcmp(method, "INFO") == 0) {
        sw_frontdoor_reply(m, 481, "Call/Transaction Does Not Exist", NULL);
        return;
    }
    if (strcmp(method, "INVITE") == 0 && current_tx) {
        sw_calls_new_invite(m, current_tx);
        return;
    }
    snprintf(extra, sizeof extra, "Allow: %s\r\n", sw_sip_allowed_methods);
    if (sw_sip_method_known(method))
        sw_frontdoor_reply(m, 405, "Method Not Allowed", extra);
    else
        sw_frontdoor_reply(m, 501, "Not Implemented", extra);
}

/* A response needs the request's Via, From, To, Call-ID and CSeq to be
 * matched by the client; without them an answer is noise (and a reflection
 * vector), so such a request is dropped. */
static bool answerable(const sw_msg_t *m)
{
    static const sw_hdr_id_t needed[] = {SW_HDR_VIA, SW_HDR_FROM, SW_HDR_TO, SW_HDR_CALL_ID, SW_HDR_CSEQ};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        /* a blank value cannot be echoed into an answer anyone could parse */
        const char *v = sw_msg_header_by_id(m, needed[i], 0);
        if (!v || v[strspn(v, " \t")] == '\0')
            return false;
    }
    return true;
}

/* Sanity checks, modules, the core's answer: for a request the
 * transaction layer did not absorb. */
static void handle_request_for(sw_msg_t *m, sw_tx_t *tx, sw_tx_t *cancelled_invite)
{
    const char *method = sw_msg_method(m);
    sw_sanity_t verdict;
    memset(&verdict, 0, sizeof verdict);
    sw_sip_sanity_check(m, &verdict);
    if (verdict.code != 0) {
        sw_logf(SW_LOG_DEBUG, NULL, sw_msg_call_id(m), "%s from %s failed sanity: %d %s", method,
                m->origin.src_text, verdict.code, verdict.reason ? verdict.reason : "");
        if (verdict.code < 0 || strcmp(method, "ACK") == 0 || !answerable(m)) {
            count_drop(SW_DROP_UNPARSEABLE);
            sw_tx_server_discard(tx);
            return;
        }
        if (verdict.code == 405 || verdict.code == 501) {
            /* RFC 3261 8.2.1: say what is allowed */
            size_t n = strlen(verdict.extra);
            snprintf(verdict.extra + n, sizeof verdict.extra - n, "Allow: %s\r\n", sw_sip_allowed_methods);
        }
        sw_frontdoor_reply(m, verdict.code, verdict.reason, verdict.extra[0] ? verdict.extra : NULL);
        return;
    }
    if (modules) {
        for (size_t i = 0; i < modules->n_by_hook[SW_HOOK_ON_REQUEST]; i++) {
            sw_module_t *mod = modules->by_hook[SW_HOOK_ON_REQUEST][i];
            sw_hook_result_t r = mod->hooks.on_request(mod, m);
            if (r == SW_HOOK_HANDLED)
                return;
            if (r == SW_HOOK_DROP) {
                count_drop(SW_DROP_BY_MODULE);
                /* retransmissions are absorbed silently, not offered again
                 * (current_tx: a stateless answer may have ended tx) */
                sw_tx_server_discard(current_tx);
                return;
            }
        }
    }
    answer_request(m, cancelled_invite);
}

static void handle_request(sw_msg_t *m)
{
    const char *method = sw_msg_method(m);
    sw_metric_inc(&sw_metrics.requests_in[sw_method_index(method)]);
    if (!answerable(m)) {
        /* sanity would answer 400, but without these headers no client
         * could match the answer: drop it */
        sw_logf(SW_LOG_DEBUG, NULL, sw_msg_call_id(m), "%s from %s lacks Via/From/To/Call-ID/CSeq: dropped",
                method, m->origin.src_text);
        count_drop(SW_DROP_UNPARSEABLE);
        return;
    }
    /* overload: before a transaction or a call costs anything */
    uint32_t retry_after = 0;
    switch (sw_guard_shed_request(m, &retry_after)) {
    case SW_GUARD_HANDLE:
        break;
    case SW_GUARD_DROP:
        return;
    case SW_GUARD_ANSWER_503: {
        /* stateless: a retransmission gets the same answer (same To tag) */
        char extra[48];
        snprintf(extra, sizeof extra, "Retry-After: %u\r\n", (unsigned)retry_after);
        sw_frontdoor_reply(m, 503, "Service Unavailable", extra);
        return;
    }
    }
    sw_tx_t *tx = NULL, *cancel_tx = NULL;
    switch (sw_tx_server_receive(m, &tx, &cancel_tx)) {
    case SW_TX_INVALID:
        count_drop(SW_DROP_UNPARSEABLE);
        return;
    case SW_TX_RETRANSMISSION:
    case SW_TX_ACK_ABSORBED:
        return; /* the transaction answered (or absorbed) it */
    case SW_TX_NEW:
        current_tx = tx;
        break;
    case SW_TX_CANCEL:
        current_tx = cancel_tx;
        break;
    case SW_TX_ACK_2XX:
    case SW_TX_UNMATCHED_ACK:
        current_tx = NULL; /* modules still see end-to-end ACKs */
        break;
    }
    current_req = m;
    handle_request_for(m, current_tx, tx && cancel_tx ? tx : NULL);
    current_req = NULL;
    current_tx = NULL;
}

static void handle_response(sw_msg_t *m)
{
    sw_sanity_t verdict;
    memset(&verdict, 0, sizeof verdict);
    sw_sip_sanity_check(m, &verdict);
    if (verdict.code != 0) {
        sw_metric_inc(&sw_metrics.parse_errors);
        count_drop(SW_DROP_UNPARSEABLE);
        return;
    }
    int code = sw_msg_status(m);
    if (code >= 100 && code < 700)
        sw_metric_inc(&sw_metrics.responses_in[code]);
    if (!sw_tx_client_receive(m))
        count_drop(SW_DROP_UNMATCHED_RESPONSE);
}

void sw_frontdoor_message(const char *buf, size_t len, const sw_msg_origin_t *origin)
{
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(buf, len, &err);
    if (!m) {
        sw_metric_inc(&sw_metrics.parse_errors);
        sw_debug("unparseable message from %s: %s", origin->src_text, err ? err : "?");
        char phrase[160];
        snprintf(phrase, sizeof phrase, "Bad Request (%s)", err ? err : "malformed");
        reply_raw(buf, len, origin, 400, phrase);
        return;
    }
    m->origin = *origin;
    if (sw_msg_is_request(m))
        handle_request(m);
    else
        handle_response(m);
    sw_msg_free(m);
}

/* The checks on a framed message's raw headers, before it is parsed: true
 * when it was answered or dropped here. */
static bool refused_before_parse(const char *buf, const sw_frame_t *fr, const sw_msg_origin_t *origin)
{
    const char *msg = buf + fr->skipped;
    /* a scanner gets nothing, not even the 400 below */
    if (sw_guard_scanner(msg, fr->header_len)) {
        sw_debug("message from %s: a scanner's User-Agent, dropped", origin->src_text);
        return true;
    }
    if (sw_guard_too_many_headers(fr->header_lines)) {
        sw_debug("message from %s with %zu header fields: refused", origin->src_text, fr->header_lines);
        reply_raw(msg, fr->header_len, origin, 400, "Bad Request (too many headers)");
        return true;
    }
    return false;
}

void sw_frontdoor_stream_message(const char *buf, const sw_frame_t *fr, const sw_msg_origin_t *origin)
{
    if (!refused_before_parse(buf, fr, origin))
        sw_frontdoor_message(buf + fr->skipped, fr->total - fr->skipped, origin);
}

void sw_frontdoor_datagram(const char *buf, size_t len, const sw_msg_origin_t *origin)
{
    atomic_fetch_add_explicit(&sw_metrics.bytes_in, len, memory_order_relaxed);
    if (len > settings.max_message_size) {
        count_drop(SW_DROP_OVERSIZE);
        sw_metric_inc(&sw_metrics.limit_hits[SW_LIMIT_MESSAGE_SIZE]);
        reply_raw(buf, len, origin, 513, "Message Too Large");
        return;
    }
    sw_frame_t fr;
    memset(&fr, 0, sizeof fr);
    switch (sw_sip_frame(buf, len, false, settings.max_message_size, &fr)) {
    case SW_FRAME_OK:
        if (fr.total > fr.skipped && !refused_before_parse(buf, &fr, origin))
            sw_frontdoor_message(buf + fr.skipped, fr.total - fr.skipped, origin);
        break;
    case SW_FRAME_INCOMPLETE:
        /* only keep-alive CRLFs (or nothing): not a message */
        break;
    case SW_FRAME_ERROR:
        sw_frontdoor_framing_error(buf, len, origin, fr.error);
        break;
    }
}
