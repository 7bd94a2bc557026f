/* The management API's block list: see mgmt_blocked.h. */
#include "config.h"

#include "http/mgmt_blocked.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "module/loader.h"
#include "sip/guard.h"
#include "strbuf.h"

#define MAX_PROVIDERS 16

typedef struct block_provider {
    sw_module_t *mod;
    sw_block_list_fn list;
    sw_block_clear_fn clear;
} block_provider_t;

/* Written in init/start and read by the jobs, all on the loop thread. */
static block_provider_t providers[MAX_PROVIDERS];
static size_t n_providers;

int sw_mgmt_block_provider(sw_module_t *self, sw_block_list_fn list, sw_block_clear_fn clear)
{
    if (!self || !list || !clear || n_providers == MAX_PROVIDERS)
        return -1;
    for (size_t i = 0; i < n_providers; i++)
        if (providers[i].mod == self)
            return -1;
    providers[n_providers++] = (block_provider_t){.mod = self, .list = list, .clear = clear};
    return 0;
}

void sw_mgmt_block_providers_clear(void)
{
    n_providers = 0;
}

static void json_seconds(sw_strbuf_t *b, uint64_t ms)
{
    sw_strbuf_printf(b, "%.1f", (double)ms / 1000.0);
}

/* ---- the list ----------------------------------------------------------------- */

static void list_addresses(sw_strbuf_t *b)
{
    size_t total = sw_guard_list_blocked(NULL, 0);
    size_t max = total < SW_BLOCKED_LIST_MAX ? total : SW_BLOCKED_LIST_MAX;
    sw_rl_blocked_t *list = max ? calloc(max, sizeof *list) : NULL;
    size_t n = 0;
    if (list) {
        /* the same loop turn: nothing was blocked in between */
        total = sw_guard_list_blocked(list, max);
        n = total < max ? total : max;
    }
    sw_strbuf_printf(b, "\"count\":%zu,\"blocked\":[", total);
    for (size_t i = 0; i < n; i++) {
        sw_strbuf_printf(b, "%s{\"ip\":", i ? "," : "");
        sw_strbuf_json(b, list[i].ip);
        sw_strbuf_printf(b, ",\"reason\":");
        sw_strbuf_json(b, list[i].reason);
        sw_strbuf_printf(b, ",\"module\":");
        if (list[i].by)
            sw_strbuf_json(b, list[i].by);
        else
            sw_strbuf_printf(b, "null");
        sw_strbuf_printf(b, ",\"remaining_seconds\":");
        json_seconds(b, list[i].remaining_ms);
        sw_strbuf_printf(b, ",\"dropped\":%llu}", (unsigned long long)list[i].dropped);
    }
    sw_strbuf_printf(b, "]");
    free(list);
}

typedef struct emit_ctx {
    sw_strbuf_t *b;
    const char *module;
    size_t total, listed;
} emit_ctx_t;

static void json_optional(sw_strbuf_t *b, const char *name, const char *value)
{
    if (!value)
        return;
    sw_strbuf_printf(b, ",\"%s\":", name);
    sw_strbuf_json(b, value);
}

/* One entry of a provider, as it is emitted (its strings live only now). */
static void emit_entry(void *arg, const sw_block_entry_t *e)
{
    emit_ctx_t *c = arg;
    if (!e || e->size < offsetof(sw_block_entry_t, failures) + sizeof e->failures || !e->key)
        return; /* a module that fills less than 1.1's entry lists nothing */
    c->total++;
    if (c->listed == SW_BLOCKED_LIST_MAX)
        return;
    sw_strbuf_printf(c->b, "%s{\"key\":", c->listed++ ? "," : "");
    sw_strbuf_json(c->b, e->key);
    json_optional(c->b, "account", e->account);
    json_optional(c->b, "ip", e->ip);
    sw_strbuf_printf(c->b, ",\"reason\":");
    sw_strbuf_json(c->b, e->reason ? e->reason : "");
    sw_strbuf_printf(c->b, ",\"module\":");
    sw_strbuf_json(c->b, c->module);
    sw_strbuf_printf(c->b, ",\"remaining_seconds\":");
    json_seconds(c->b, e->remaining_ms);
    sw_strbuf_printf(c->b, ",\"failures\":%u}", (unsigned)e->failures);
}

char *sw_mgmt_blocked_list(void)
{
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "{");
    list_addresses(&b);
    sw_strbuf_t s = {0};
    emit_ctx_t c = {.b = &s};
    for (size_t i = 0; i < n_providers; i++) {
        c.module = providers[i].mod->name;
        providers[i].list(providers[i].mod, emit_entry, &c);
    }
    sw_strbuf_printf(&b, ",\"suspended_count\":%zu,\"suspended\":[%s]}", c.total, s.s ? s.s : "");
    free(s.s);
    return sw_strbuf_take(&b);
}

/* ---- lifting -------------------------------------------------------------------- */

char *sw_mgmt_blocked_delete(const char *key, bool *found)
{
    bool address = sw_guard_unblock(key, NULL);
    size_t lifted = 0;
    for (size_t i = 0; i < n_providers; i++) {
        size_t n = providers[i].clear(providers[i].mod, key);
        if (n)
            sw_notice("%zu block(s) of %s matching '%s' lifted through the management API", n,
                      providers[i].mod->name, key);
        lifted += n;
    }
    *found = address || lifted;
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "{\"key\":");
    sw_strbuf_json(&b, key);
    sw_strbuf_printf(&b, ",\"unblocked\":%s,\"address\":%s,\"suspensions\":%zu}", *found ? "true" : "false",
                     address ? "true" : "false", lifted);
    return sw_strbuf_take(&b);
}
