/* Requests outside any call: see uac.h. */
#include "config.h"

#include "call/uac.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "call/call.h"
#include "log.h"
#include "net/transport.h"
#include "sip/message.h"
#include "sip/transaction.h"

typedef struct uac_request {
    sw_module_t *mod;
    sw_response_cb cb;
    void *arg;
    struct uac_request *prev, *next; /* pending ones, freed at shutdown */
} uac_request_t;

static uac_request_t *pending;

static void pending_unlink(uac_request_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

size_t sw_uac_pending(void)
{
    size_t n = 0;
    for (const uac_request_t *r = pending; r; r = r->next)
        n++;
    return n;
}

void sw_uac_shutdown(void)
{
    while (pending) {
        uac_request_t *r = pending;
        pending_unlink(r);
        free(r); /* the transaction layer let go of it without a callback */
    }
}

/* Hands the final outcome to the module, once; the record goes first, as
 * the callback may send the next request (a REGISTER answering a 401). */
static void uac_done(sw_tx_t *tx, uac_request_t *r, int code, sw_msg_t *resp)
{
    sw_tx_detach(tx);
    uac_request_t copy = *r;
    pending_unlink(r);
    free(r);
    if (copy.cb)
        copy.cb(copy.mod, code, resp, copy.arg);
}

static void uac_on_response(sw_tx_t *tx, sw_msg_t *resp, void *ud)
{
    int code = sw_msg_status(resp);
    if (code >= 200)
        uac_done(tx, ud, code, resp);
}

static void uac_on_timeout(sw_tx_t *tx, bool transport_error, void *ud)
{
    uac_done(tx, ud, transport_error ? 503 : 408, NULL);
}

static const sw_tx_client_cbs_t uac_cbs = {.on_response = uac_on_response, .on_timeout = uac_on_timeout};

int sw_uac_parse_dest(const char *text, struct sockaddr_storage *out, socklen_t *out_len)
{
    if (!text)
        return -1;
    char host[64];
    const char *port_text;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (!*port_text || *end || port < 1 || port > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *out_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *out_len = sizeof *v6;
    } else {
        return -1;
    }
    return 0;
}

int sw_uac_local_address(sw_transport_t transport, char *buf, size_t len)
{
    const sw_call_settings_t *s = sw_calls_settings();
    uint16_t port = transport == SW_TRANSPORT_UDP ? s->udp_port : transport == SW_TRANSPORT_TCP ? s->tcp_port : 0;
    if (!port || !buf || !len)
        return -1;
    bool v6 = strchr(s->local_host, ':') != NULL;
    int n = snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", s->local_host, v6 ? "]" : "", port);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Adds "Name: value\r\n" lines; -1 when a line is malformed or refused. */
static int add_lines(sw_msg_t *m, const char *lines)
{
    for (const char *p = lines; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        const char *colon = strchr(p, ':');
        if (!eol || !colon || colon > eol)
            return -1;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *name = strndup(p, (size_t)(colon - p));
        char *value = strndup(v, (size_t)(eol - v));
        if (!name || !value)
            abort();
        int rc = sw_msg_header_add(m, name, value);
        free(name);
        free(value);
        if (rc != 0)
            return -1;
        p = eol + 2;
    }
    return 0;
}

int sw_uac_request_send(sw_module_t *self, const char *method, const char *ruri, const char *headers,
                        const char *content_type, const char *body, size_t len, sw_transport_t transport,
                        const char *dest, uint64_t socket_id, sw_response_cb cb, void *arg)
{
    if (!method || !ruri || (transport != SW_TRANSPORT_UDP && transport != SW_TRANSPORT_TCP))
        return -1;
    /* INVITE dialogs, their ACK and CANCEL belong to the call engine */
    if (!strcmp(method, "INVITE") || !strcmp(method, "ACK") || !strcmp(method, "CANCEL"))
        return -1;
    sw_tx_destination_t to = {.transport = transport, .via_socket_id = socket_id};
    if (sw_uac_parse_dest(dest, &to.addr, &to.addr_len) != 0)
        return -1;
    char local[96];
    if (sw_uac_local_address(transport, local, sizeof local) != 0)
        return -1;
    sw_msg_t *m = sw_msg_new_request(method, ruri);
    if (!m)
        return -1;
    char branch[64], via[192];
    sw_tx_new_branch(branch, sizeof branch);
    snprintf(via, sizeof via, "SIP/2.0/%s %s;branch=%s;rport", transport == SW_TRANSPORT_TCP ? "TCP" : "UDP",
             local, branch);
    int rc = sw_msg_header_add(m, "Via", via);
    if (rc == 0 && sw_msg_header_count(m, "Max-Forwards") == 0 && !strstr(headers ? headers : "", "Max-Forwards"))
        rc = sw_msg_header_add(m, "Max-Forwards", "70");
    if (rc == 0)
        rc = add_lines(m, headers);
    if (rc == 0 && len)
        rc = content_type && body ? sw_msg_set_body(m, content_type, body, len) : -1;
    /* a request the peer could not match an answer to is not sent */
    if (rc == 0 && (!sw_msg_header(m, "From", 0) || !sw_msg_header(m, "To", 0) || !sw_msg_header(m, "Call-ID", 0) ||
                    !sw_msg_header(m, "CSeq", 0)))
        rc = -1;
    size_t blen = 0;
    char *bytes = rc == 0 ? sw_msg_serialize(m, &blen) : NULL;
    sw_msg_free(m);
    if (!bytes)
        return -1;
    uac_request_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->mod = self;
    r->cb = cb;
    r->arg = arg;
    sw_tx_client_options_t opts = {0};
    sw_tx_t *tx = sw_tx_client_send(method, branch, bytes, blen, &to, &opts, &uac_cbs, r);
    free(bytes);
    if (!tx) {
        free(r);
        return -1;
    }
    r->next = pending;
    if (pending)
        pending->prev = r;
    pending = r;
    return 0;
}

int sw_uac_send_raw(sw_transport_t transport, uint64_t socket_id, const char *dest, const void *data, size_t len)
{
    struct sockaddr_storage to;
    socklen_t to_len = 0;
    if (!data || !len || len > 65507 || sw_uac_parse_dest(dest, &to, &to_len) != 0)
        return -1;
    if (transport == SW_TRANSPORT_UDP) {
        uint64_t id = socket_id ? socket_id : sw_udp_default_socket(to.ss_family);
        return sw_udp_send(id, (const struct sockaddr *)&to, data, len) == 0 ? 0 : -1;
    }
    if (transport != SW_TRANSPORT_TCP)
        return -1;
    (void)to_len;
    /* only on the device's own connection: never connect toward a NAT */
    struct sw_conn *conn = sw_tcp_find((const struct sockaddr *)&to);
    if (!conn)
        return -1;
    int rc = sw_conn_usable(conn) && sw_tcp_send(conn, data, len) == 0 ? 0 : -1;
    if (rc == 0)
        sw_conn_keep(conn); /* our keep-alives keep it open as much as the device's traffic */
    sw_conn_release(conn);
    return rc;
}
