/*
 * The registrar's management API resources:
 *
 *   GET    /api/v1/registrations[?account=NAME][&aor=AOR][&limit=N]
 *   GET    /api/v1/registrations/<aor or account>
 *   DELETE /api/v1/registrations/<aor, account, or binding id>
 *   GET    /api/v1/registrations/outbound[/<registration>]   (outbound.c)
 *   GET    /api/v1/registrations/blocked
 *   DELETE /api/v1/registrations/blocked[/<ip or account>]
 *
 * The last two are the module's view of its blocks, kept so that what
 * operators scripted against them goes on working: the blocks themselves
 * are in GET/DELETE /api/v1/blocked (the IPs in the core's table, the
 * suspensions through the module's block provider, blocks.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip_match.h"
#include "json_buf.h"
#include "outbound.h"
#include "registrar.h"

#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX 100000

/* The value of key in "k=v&k2=v2" into out; 1 when present. */
static int query_value(const char *query, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = n - kl - 1;
            if (vl >= len)
                vl = len - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static char *finish(reg_json_t *j)
{
    char *body = registrar.api->strdup(j->data ? j->data : "");
    reg_json_free(j);
    return body;
}

static int error_body(char **body, int status, const char *message)
{
    reg_json_t j = {0};
    reg_json_printf(&j, "{\"error\":");
    reg_json_string(&j, message);
    reg_json_printf(&j, "}");
    *body = finish(&j);
    return status;
}

static const char *transport_name(int t)
{
    return t == SW_TRANSPORT_UDP ? "udp" : t == SW_TRANSPORT_TCP ? "tcp" : t == SW_TRANSPORT_TLS ? "tls" : "?";
}

static void binding_json(reg_json_t *j, const reg_binding_t *b, uint64_t now)
{
    char dest[128];
    registrar_binding_dest(b, dest, sizeof dest);
    reg_json_printf(j, "{\"id\":%llu,\"account\":", (unsigned long long)b->id);
    reg_json_string(j, b->aor->user);
    reg_json_printf(j, ",\"aor\":");
    reg_json_string(j, b->aor->aor);
    reg_json_printf(j, ",\"contact\":");
    reg_json_string(j, b->contact);
    reg_json_printf(j, ",\"source\":");
    reg_json_string(j, b->source);
    reg_json_printf(j, ",\"dest\":");
    reg_json_string(j, dest);
    reg_json_printf(j, ",\"transport\":\"%s\",\"behind_nat\":%s,\"expires\":%u,\"granted\":%u,\"q\":",
                    transport_name(b->transport), b->behind_nat ? "true" : "false",
                    (unsigned)reg_binding_seconds_left(b, now), (unsigned)b->expires_s);
    if (b->q >= 0)
        reg_json_printf(j, "%d.%03d", b->q / 1000, b->q % 1000);
    else
        reg_json_printf(j, "null");
    reg_json_printf(j, ",\"call_id\":");
    reg_json_string(j, b->call_id);
    reg_json_printf(j, ",\"cseq\":%u,\"user_agent\":", (unsigned)b->cseq);
    reg_json_string(j, b->user_agent);
    reg_json_printf(j, ",\"registered_ms\":%lld,\"updated_ms\":%lld}", (long long)b->registered_wall_ms,
                    (long long)b->updated_wall_ms);
}

typedef struct listing {
    reg_json_t *j;
    const char *account; /* filter, or NULL */
    size_t limit, listed, total;
    uint64_t now;
    int suspensions; /* block lists: keys are "account@ip" */
} listing_t;

static int list_aor(const reg_aor_t *a, void *ud)
{
    listing_t *l = ud;
    if (l->account && strcmp(a->user, l->account) != 0)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        l->total++;
        if (l->listed == l->limit)
            continue;
        if (l->listed++)
            reg_json_printf(l->j, ",");
        binding_json(l->j, a->bindings[i], l->now);
    }
    return 0;
}

static int list_bindings(const char *account, size_t limit, char **body)
{
    reg_json_t j = {0};
    listing_t l = {.j = &j, .account = account, .limit = limit, .now = registrar.api->now_ms()};
    reg_json_printf(&j, "{\"registrations\":[");
    if (account) {
        const reg_aor_t *a = reg_store_find(registrar.store, account);
        if (a)
            list_aor(a, &l);
    } else {
        reg_store_each(registrar.store, list_aor, &l);
    }
    reg_json_printf(&j, "],\"count\":%zu,\"total\":%zu,\"bindings\":%zu,\"nat_bindings\":%zu}", l.listed, l.total,
                    reg_store_count(registrar.store), reg_store_nat_count(registrar.store));
    *body = finish(&j);
    return 200;
}

/* ---- block lists --------------------------------------------------------------------------- */

static void block_json(const reg_block_info_t *info, void *ud)
{
    listing_t *l = ud;
    if (l->listed++)
        reg_json_printf(l->j, ",");
    const char *at = l->suspensions ? strrchr(info->key, '@') : NULL;
    if (at) { /* "account@ip"; the account as the device wrote it: escaped */
        char account[REG_USER_MAX + 1];
        snprintf(account, sizeof account, "%.*s", (int)(at - info->key), info->key);
        reg_json_printf(l->j, "{\"account\":");
        reg_json_string(l->j, account);
        reg_json_printf(l->j, ",\"ip\":");
        reg_json_string(l->j, at + 1);
    } else {
        reg_json_printf(l->j, "{\"ip\":");
        reg_json_string(l->j, info->key);
    }
    reg_json_printf(l->j, ",\"failures\":%u,\"seconds_left\":%llu}", info->failures,
                    (unsigned long long)((info->blocked_for_ms + 999) / 1000));
}

static int list_blocked(char **body)
{
    reg_json_t j = {0};
    uint64_t now = registrar.api->now_ms();
    listing_t l = {.j = &j};
    reg_json_printf(&j, "{\"blocked_ips\":[");
    reg_blocklist_each(registrar.blocked_ips, now, 0, block_json, &l);
    reg_json_printf(&j, "],\"suspended\":[");
    l.listed = 0;
    l.suspensions = 1;
    reg_blocklist_each(registrar.suspended, now, 0, block_json, &l);
    reg_json_printf(&j, "]}");
    *body = finish(&j);
    return 200;
}

static int blocked_resource(const char *method, const char *rest, char **body)
{
    if (strcmp(method, "GET") == 0 && !*rest)
        return list_blocked(body);
    if (strcmp(method, "DELETE") != 0)
        return error_body(body, 405, "GET or DELETE");
    size_t n;
    if (!*rest) {
        n = registrar_blocks_lift_all();
    } else {
        n = registrar_blocks_lift(rest + 1, 1);
        if (!n)
            return error_body(body, 404, "nothing blocked or suspended by that name");
    }
    registrar.api->log(registrar.self, SW_LOG_NOTICE, NULL, "blocks lifted through the API: %zu (%s)", n,
                       *rest ? rest + 1 : "all");
    reg_json_t j = {0};
    reg_json_printf(&j, "{\"cleared\":%zu}", n);
    *body = finish(&j);
    return 200;
}

/* ---- one AOR or binding --------------------------------------------------------------------- */

static int all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static int one_resource(const char *method, const char *what, char **body)
{
    char user[REG_USER_MAX + 1];
    int is_user = registrar_user_of(what, strlen(what), user, sizeof user) == 0 &&
                  reg_store_find(registrar.store, user) != NULL;
    if (strcmp(method, "GET") == 0) {
        if (!is_user)
            return error_body(body, 404, "no such registration");
        return list_bindings(user, LIST_LIMIT_MAX, body);
    }
    if (strcmp(method, "DELETE") != 0)
        return error_body(body, 405, "GET or DELETE");
    size_t n = 0;
    if (is_user)
        n = reg_store_remove_user(registrar.store, user, registrar_on_change, NULL);
    else if (all_digits(what))
        n = (size_t)reg_store_remove_id(registrar.store, strtoull(what, NULL, 10), registrar_on_change, NULL);
    if (!n)
        return error_body(body, 404, "no such registration");
    registrar.api->log(registrar.self, SW_LOG_NOTICE, NULL, "%zu binding(s) of %s removed through the API", n, what);
    reg_json_t j = {0};
    reg_json_printf(&j, "{\"removed\":%zu}", n);
    *body = finish(&j);
    return 200;
}

int registrar_http(sw_module_t *self, const char *method, const char *rest, const char *query, char **body)
{
    (void)self;
    if (strcmp(rest, "/blocked") == 0 || strncmp(rest, "/blocked/", 9) == 0)
        return blocked_resource(method, rest + 8, body);
    if (strcmp(rest, "/outbound") == 0 || strncmp(rest, "/outbound/", 10) == 0) {
        if (strcmp(method, "GET") != 0)
            return error_body(body, 405, "GET");
        reg_json_t j = {0};
        if (outbound_json(&j, rest[9] ? rest + 10 : NULL) != 0) {
            reg_json_free(&j);
            return error_body(body, 404, "no such outbound registration");
        }
        *body = finish(&j);
        return 200;
    }
    if (*rest) {
        if (!rest[1])
            return error_body(body, 404, "no such resource");
        return one_resource(method, rest + 1, body);
    }
    if (strcmp(method, "GET") != 0)
        return error_body(body, 405, "GET (DELETE needs /registrations/<aor, account or id>)");
    char account[REG_USER_MAX + 1], aor[512], limit_text[16];
    const char *filter = NULL;
    if (query_value(query, "account", account, sizeof account))
        filter = account;
    if (query_value(query, "aor", aor, sizeof aor)) {
        if (registrar_user_of(aor, strlen(aor), account, sizeof account) != 0)
            return error_body(body, 400, "aor: expected sip:user@host or a user");
        filter = account;
    }
    size_t limit = LIST_LIMIT_DEFAULT;
    if (query_value(query, "limit", limit_text, sizeof limit_text)) {
        if (!all_digits(limit_text))
            return error_body(body, 400, "limit: a number expected");
        limit = strtoull(limit_text, NULL, 10);
        if (limit > LIST_LIMIT_MAX)
            limit = LIST_LIMIT_MAX;
    }
    return list_bindings(filter, limit, body);
}
