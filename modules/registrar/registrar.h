/* The registrar module's state, shared by its glue files: registrar.c
 * (parameters, lifecycle, hooks, Lua, metrics), register.c (REGISTER),
 * authenticate.c (digest challenges and checks, brute-force accounting),
 * invite_auth.c (INVITEs from registered devices), blocks.c (the blocks as
 * cfg and GET /api/v1/blocked see them), registrar_http.c (the management
 * API). The pure parts they drive live in their own files. */
#ifndef REGISTRAR_REGISTRAR_H
#define REGISTRAR_REGISTRAR_H

#include <sipswitch/module.h>
#include <stdint.h>

#include "accounts.h"
#include "bindings.h"
#include "blocklist.h"
#include "digest.h"
#include "nonce.h"
#include "persist.h"

/* Longest account name / AOR user the registrar takes. */
#define REG_USER_MAX 128

typedef struct registrar_settings {
    uint32_t expire_s;           /* SS_ENDPOINT_EXPIRE */
    uint32_t nat_expire_s;       /* SS_ENDPOINT_NAT_EXPIRE */
    uint32_t min_expires_s;
    int replace;                 /* SS_ENDPOINT_REGISTER_REPLACE */
    int challenge_code;          /* SS_SIP_AUTHENTICATION_CODE: 401 or 407 */
    char realm[128];
    reg_digest_alg_t algs[REG_ALG_COUNT]; /* offered, in order of preference */
    size_t n_algs;
    uint64_t nonce_lifetime_ms;
    size_t max_contacts;
    int authenticate_invites;
} registrar_settings_t;

typedef struct registrar_stats {
    sw_stat_t *bindings, *nat_bindings, *aors, *accounts;
    sw_stat_t *registrations, *unregistrations, *expired, *refused;
    sw_stat_t *challenges, *auth_failures, *stale, *replays;
    sw_stat_t *blocked_ips, *suspended, *trusted_not_blocked;
    sw_stat_t *invites_authenticated;
    sw_stat_t *persist_queue, *persist_errors, *persist_dropped;
} registrar_stats_t;

typedef struct registrar {
    const sw_api_t *api;
    sw_module_t *self;
    registrar_settings_t set;
    reg_accounts_t *accounts;
    reg_store_t *store;
    reg_nonces_t *nonces;
    reg_hasher_t *hasher;          /* the digest computations of every request */
    reg_blocklist_t *blocked_ips;  /* SS_AUTHENTICATION_MAX_RETRY / _FAILED_SUSPEND, key: IP */
    reg_blocklist_t *suspended;    /* SS_ENDPOINT_REGISTER_RETRY / _SUSPEND, key: "account@IP" */
    reg_persist_t *persist;        /* NULL: bindings kept in memory only */
    char *db_path;
    uint32_t persist_interval_ms;
    int announce_restored;         /* restored bindings still to be told to the other modules */
    sw_timer_t *tick;
    uint64_t ticks;
    registrar_stats_t st;
} registrar_t;

extern registrar_t registrar;

/* The source of a request: IP text and port. 0, or -1 (never for a
 * request the core parsed). */
int registrar_source(const sw_msg_t *req, char *ip, size_t iplen, unsigned *port);

/* The account name in "sip:1001@example.com", "<sip:1001@host>" or
 * "1001" (len bytes). 0, or -1. */
int registrar_user_of(const char *text, size_t len, char *user, size_t ulen);

/* Tells the other modules, the disk and the metrics about a change
 * (a reg_change_fn; ud unused). */
void registrar_on_change(const reg_binding_t *b, reg_change_t kind, void *ud);

/* REGISTER (register.c). */
sw_hook_result_t registrar_handle_register(sw_msg_t *req, const char *ip, unsigned port);

/* INVITE outside a dialog (invite_auth.c). */
sw_hook_result_t registrar_handle_invite(sw_msg_t *req, const char *ip);

/* Digest authentication of a request (authenticate.c). `user` is who the
 * request claims to be (the AOR's user for REGISTER, the From user for
 * INVITE); the credentials must be that account's. SW_HOOK_CONTINUE when
 * they are, with *account set; otherwise the request was answered (a
 * challenge, 400, 403: SW_HOOK_HANDLED) or must be dropped (its IP just got
 * blocked: SW_HOOK_DROP), which the caller returns from on_request. */
sw_hook_result_t registrar_authenticate(sw_msg_t *req, const char *ip, const char *user, int is_register,
                                        const reg_account_t **account);
/* True when the request carries Digest credentials for our realm. */
int registrar_has_credentials(const sw_msg_t *req);

/* 1 when the account is suspended for registrations from this IP
 * (SS_ENDPOINT_REGISTER_RETRY/SUSPEND). */
int registrar_suspended(const char *user, const char *ip);

/* The blocks as cfg and the management API see them (blocks.c). Check
 * the suspend times (-1, error set) before configuring the lists with them. */
/* set_error for a bad cfg value: "file:line: reason", the line where `key`
 * was written in `view` ("file: reason" when it was not written). -1. */
int registrar_cfg_error(sw_module_t *self, const sw_config_t *view, const char *key, const char *fmt, ...)
    SW_PRINTF(4, 5);
int registrar_blocks_check(sw_module_t *self, const sw_config_t *cfg);
void registrar_blocks_configure(const sw_config_t *cfg);
/* Lists the suspensions in GET /api/v1/blocked (block_provider). 0, or -1. */
int registrar_blocks_start(sw_module_t *self);
/* Lifts the suspensions naming `what` (an "account@ip" key, an IP or an
 * account) and, with ip_blocks_too, the module's IP block of that IP, in
 * the core too; how many were blocked. */
size_t registrar_blocks_lift(const char *what, int ip_blocks_too);
/* Lifts every suspension and IP block of the module; how many were blocked. */
size_t registrar_blocks_lift_all(void);

/* GET/DELETE /api/v1/registrations... (registrar_http.c). */
int registrar_http(sw_module_t *self, const char *method, const char *rest, const char *query, char **body);

/* Where a call to this binding goes: "udp:ip:port" / "tcp:ip:port". */
void registrar_binding_dest(const reg_binding_t *b, char *out, size_t len);

#endif
