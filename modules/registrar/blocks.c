/*
 * The registrar's blocks as cfg and the management API see them
 * (authenticate.c counts the failures that set them off):
 *
 *  - an IP past SS_AUTHENTICATION_MAX_RETRY is blocked in the core's
 *    per-source table (api->block_address, reason "auth_failures"): the
 *    core drops everything from it before parsing and lists it in
 *    GET /api/v1/blocked. The module's list only remembers it (the
 *    blocked_ips gauge, /api/v1/registrations/blocked);
 *  - an account suspended from one IP (SS_ENDPOINT_REGISTER_RETRY) is the
 *    module's own business (register.c answers 403), shown in
 *    GET /api/v1/blocked under "suspended" through the block provider and
 *    lifted by DELETE /api/v1/blocked/<key>;
 *  - the suspend times' floor of 60 s (VOS3000), lower only with
 *    allow_short_intervals, for tests.
 */
#include <stdio.h>
#include <string.h>

#include "registrar.h"

/* VOS3000's floor for SS_AUTHENTICATION_FAILED_SUSPEND and
 * SS_ENDPOINT_REGISTER_SUSPEND. */
#define SUSPEND_FLOOR_MS (60 * 1000)

static const char *const suspend_keys[] = {"auth_failed_suspend", "register_suspend"};

int registrar_blocks_check(sw_module_t *self, const sw_config_t *cfg)
{
    const sw_api_t *api = registrar.api;
    if (api->param_int(cfg, "allow_short_intervals"))
        return 0;
    for (size_t i = 0; i < sizeof suspend_keys / sizeof suspend_keys[0]; i++)
        if (api->param_int(cfg, suspend_keys[i]) < SUSPEND_FLOOR_MS) {
            return registrar_cfg_error(self, cfg, suspend_keys[i],
                                       "[registrar] %s = %s is below 60 s (VOS3000 minimum); allow_short_intervals "
                                       "= On in [registrar] accepts it, for tests only",
                                       suspend_keys[i], api->param_str(cfg, suspend_keys[i]));
        }
    return 0;
}

void registrar_blocks_configure(const sw_config_t *cfg)
{
    const sw_api_t *api = registrar.api;
    reg_blocklist_configure(registrar.blocked_ips, (unsigned)api->param_int(cfg, "auth_max_retry"),
                            (uint64_t)api->param_int(cfg, "auth_failed_suspend"));
    reg_blocklist_configure(registrar.suspended, (unsigned)api->param_int(cfg, "register_retry"),
                            (uint64_t)api->param_int(cfg, "register_suspend"));
    char short_ones[128] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof suspend_keys / sizeof suspend_keys[0]; i++)
        if (api->param_int(cfg, suspend_keys[i]) < SUSPEND_FLOOR_MS && used < sizeof short_ones) {
            int n = snprintf(short_ones + used, sizeof short_ones - used, "%s%s = %s", used ? ", " : "",
                             suspend_keys[i], api->param_str(cfg, suspend_keys[i]));
            used += n > 0 ? (size_t)n : 0;
        }
    if (short_ones[0])
        api->log(registrar.self, SW_LOG_WARN, NULL,
                 "allow_short_intervals: accepting suspend times below 60 s (%s); for tests only", short_ones);
}

/* ---- the block provider (GET/DELETE /api/v1/blocked) ------------------------------------ */

typedef struct emit {
    sw_block_emit_fn fn;
    void *ctx;
} emit_t;

/* "account@ip" (the account as the device wrote it) as an entry. */
static void emit_suspension(const reg_block_info_t *info, void *ud)
{
    emit_t *e = ud;
    const char *at = strrchr(info->key, '@');
    char account[REG_USER_MAX + 1];
    snprintf(account, sizeof account, "%.*s", at ? (int)(at - info->key) : 0, info->key);
    sw_block_entry_t entry = {
        .size = sizeof entry,
        .key = info->key,
        .account = at ? account : NULL,
        .ip = at ? at + 1 : NULL,
        .reason = "register_failures",
        .remaining_ms = info->blocked_for_ms,
        .failures = info->failures,
    };
    e->fn(e->ctx, &entry);
}

static void list_suspensions(sw_module_t *self, sw_block_emit_fn fn, void *ctx)
{
    (void)self;
    emit_t e = {.fn = fn, .ctx = ctx};
    reg_blocklist_each(registrar.suspended, registrar.api->now_ms(), 0, emit_suspension, &e);
}

/* The core lifted an address's block, or is asked to lift `key`: the IP's
 * failure count goes with its block (uncounted: the core reports the
 * address), and the suspensions it names are lifted. */
static size_t clear_blocks(sw_module_t *self, const char *key)
{
    (void)self;
    reg_blocklist_clear(registrar.blocked_ips, key);
    return registrar_blocks_lift(key, 0);
}

int registrar_blocks_start(sw_module_t *self)
{
    return registrar.api->block_provider(self, list_suspensions, clear_blocks);
}

/* ---- lifting -------------------------------------------------------------------------- */

typedef struct keys {
    const char *match; /* an exact key, an IP, or an account */
    char **keys;
    size_t n, cap;
} keys_t;

static void collect_key(const reg_block_info_t *info, void *ud)
{
    keys_t *k = ud;
    const char *at = strrchr(info->key, '@');
    size_t alen = at ? (size_t)(at - info->key) : 0;
    int hit = strcmp(info->key, k->match) == 0 || (at && strcmp(at + 1, k->match) == 0) ||
              (at && strlen(k->match) == alen && strncmp(info->key, k->match, alen) == 0);
    if (!hit)
        return;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->keys = registrar.api->realloc(k->keys, k->cap * sizeof *k->keys);
    }
    k->keys[k->n++] = registrar.api->strdup(info->key);
}

/* Forgets the entries of one list naming `what`, counts and blocks alike;
 * for the IP list, lifts their blocks in the core too. How many were
 * blocked. */
static size_t lift(reg_blocklist_t *list, const char *what, int in_core)
{
    const sw_api_t *api = registrar.api;
    uint64_t now = api->now_ms();
    keys_t k = {.match = what};
    reg_blocklist_each(list, now, 1, collect_key, &k);
    size_t n = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (reg_blocklist_blocked_for(list, k.keys[i], now)) {
            n++;
            if (in_core)
                api->unblock_address(registrar.self, k.keys[i]);
        }
        reg_blocklist_clear(list, k.keys[i]);
        api->free(k.keys[i]);
    }
    api->free(k.keys);
    return n;
}

size_t registrar_blocks_lift(const char *what, int ip_blocks_too)
{
    size_t n = lift(registrar.suspended, what, 0);
    if (ip_blocks_too)
        n += lift(registrar.blocked_ips, what, 1);
    return n;
}

static void unblock_in_core(const reg_block_info_t *info, void *ud)
{
    (void)ud;
    registrar.api->unblock_address(registrar.self, info->key);
}

size_t registrar_blocks_lift_all(void)
{
    reg_blocklist_each(registrar.blocked_ips, registrar.api->now_ms(), 0, unblock_in_core, NULL);
    return reg_blocklist_clear_all(registrar.blocked_ips) + reg_blocklist_clear_all(registrar.suspended);
}
