/* fuzz_digest: the registrar's parsers of what a device sends
 * (modules/registrar): the Authorization / Proxy-Authorization header
 * (digest_header.c), the Contact list of a REGISTER (contact_list.c), the
 * URIs in it (sip_uri.c) and the top Via's sent-by (nat_detect.c). They are
 * pure functions over (text, len): they must refuse garbage without reading
 * past len, allocating or crashing. Checked as well:
 *   - every span a parser returns lies inside the input;
 *   - a digest header it accepts, written out again from the values it
 *     read (quoted, escaped), parses to the same values (what the registrar
 *     hashes is what the device sent);
 *   - a URI it accepts is the same binding as itself, q values are
 *     0..1000 and expiries at most 2^32-1. */
#include "config.h"

#include "contact_list.h"
#include "digest_header.h"
#include "fuzz_util.h"
#include "nat_detect.h"
#include "sip_uri.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int inside(const char *p, size_t n, const uint8_t *data, size_t size)
{
    return p >= (const char *)data && p + n <= (const char *)data + size;
}

/* The values of the parameters the registrar reads, in a fixed order. */
static const reg_digest_span_t *span_at(const reg_digest_creds_t *c, int i)
{
    const reg_digest_span_t *all[] = {&c->username, &c->realm, &c->nonce, &c->uri, &c->response, &c->algorithm,
                                      &c->cnonce, &c->qop, &c->nc, &c->opaque, &c->userhash};
    return all[i];
}
static const char *const names[] = {"username", "realm", "nonce", "uri", "response", "algorithm",
                                    "cnonce", "qop", "nc", "opaque", "userhash"};
#define N_PARAMS 11

static void digest_round_trip(const uint8_t *data, size_t size)
{
    reg_digest_creds_t c;
    if (reg_digest_parse((const char *)data, size, &c) != REG_DIGEST_OK)
        return;
    static char values[N_PARAMS][1024];
    int present[N_PARAMS] = {0};
    static char text[N_PARAMS * 2100 + 16];
    size_t n = (size_t)snprintf(text, sizeof text, "Digest ");
    for (int i = 0; i < N_PARAMS; i++) {
        const reg_digest_span_t *s = span_at(&c, i);
        if (!s->p)
            continue;
        FUZZ_CHECK(inside(s->p, s->len, data, size), "span of %s outside the input", names[i]);
        if (reg_digest_copy(s, values[i], sizeof values[i]) != 0)
            return; /* longer than the registrar reads: nothing more to check */
        present[i] = 1;
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%s=\"", n > 7 ? ", " : "", names[i]);
        for (const char *v = values[i]; *v; v++) {
            if (*v == '"' || *v == '\\')
                text[n++] = '\\';
            text[n++] = *v;
        }
        text[n++] = '"';
    }
    text[n] = '\0';
    reg_digest_creds_t again;
    if (n == 7)
        return; /* only parameters the registrar ignores */
    FUZZ_CHECK(reg_digest_parse(text, n, &again) == REG_DIGEST_OK, "re-written header refused: %s", text);
    for (int i = 0; i < N_PARAMS; i++) {
        char value[1024];
        const reg_digest_span_t *s = span_at(&again, i);
        FUZZ_CHECK((s->p != NULL) == present[i], "%s lost or gained", names[i]);
        if (present[i]) {
            FUZZ_CHECK(reg_digest_copy(s, value, sizeof value) == 0, "%s no longer fits", names[i]);
            FUZZ_CHECK(strcmp(value, values[i]) == 0, "%s changed: '%s' vs '%s'", names[i], value, values[i]);
        }
    }
}

static void contacts(const uint8_t *data, size_t size)
{
    reg_contact_t c[8];
    size_t n = 0;
    int star = 0;
    if (reg_contact_parse((const char *)data, size, c, 8, &n, &star) != 0)
        return;
    FUZZ_CHECK(n <= 8, "more contacts than room");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(inside(c[i].uri, c[i].uri_len, data, size), "contact %zu outside the input", i);
        FUZZ_CHECK(c[i].expires >= -1 && c[i].expires <= 4294967295LL, "expires %lld", (long long)c[i].expires);
        FUZZ_CHECK(c[i].q >= -1 && c[i].q <= 1000, "q %d", c[i].q);
        reg_uri_t u;
        if (reg_uri_parse(c[i].uri, c[i].uri_len, &u) == 0) {
            FUZZ_CHECK(inside(u.host, u.host_len, data, size) && u.host_len > 0, "host outside the input");
            FUZZ_CHECK(!u.user_len || inside(u.user, u.user_len, data, size), "user outside the input");
            FUZZ_CHECK(u.port <= 65535, "port %u", u.port);
            FUZZ_CHECK(reg_uri_same(c[i].uri, c[i].uri_len, c[i].uri, c[i].uri_len), "a URI differs from itself");
        }
        if (i > 0)
            (void)reg_uri_same(c[i - 1].uri, c[i - 1].uri_len, c[i].uri, c[i].uri_len);
    }
}

static void via(const uint8_t *data, size_t size)
{
    /* the Via value as the core hands it: a NUL-terminated line */
    char *line = malloc(size + 1);
    if (!line)
        return;
    memcpy(line, data, size);
    line[size] = '\0';
    const char *host;
    size_t host_len;
    unsigned port;
    if (reg_via_sent_by(line, &host, &host_len, &port) == 0)
        FUZZ_CHECK(host >= line && host + host_len <= line + strlen(line) && port <= 65535, "bad sent-by");
    (void)reg_behind_nat(line, line, strlen(line), "192.0.2.1", 5060, size & 1);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    digest_round_trip(data, size);
    contacts(data, size);
    via(data, size);
    const char *uri, *rest;
    size_t uri_len;
    if (reg_addr_uri((const char *)data, size, &uri, &uri_len, &rest) == 0)
        FUZZ_CHECK(inside(uri, uri_len, data, size) && rest >= uri + uri_len && rest <= (const char *)data + size,
                   "address URI outside the input");
    return 0;
}
