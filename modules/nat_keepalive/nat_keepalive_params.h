/*
 * nat_keepalive's parameters (PARAMETERS.md section 5) and their copy into
 * typed settings at init and reload, so that a turn of the wheel never
 * reads a cfg view.
 *
 * Global: message, period, send_interval, batch (with their VOS3000 names),
 * allow_short_intervals, registrar_module. Per account, falling back to
 * [nat_keepalive]: keepalive_mode (raw or options) and keepalive_max_missed.
 * The per-account keys carry the module's prefix because [account NAME]
 * sections are shared by every module (the registrar's password,
 * session_timer's session_ttl, ...): a bare `mode` there would be claimed
 * by any other module declaring it.
 *
 * The descriptors' ranges start below the VOS3000 floors (period 10 s,
 * send_interval 10 ms) so that tests can use short values; ka_config_load()
 * refuses those unless allow_short_intervals is On, and warns when it is.
 */
#ifndef NAT_KEEPALIVE_PARAMS_H
#define NAT_KEEPALIVE_PARAMS_H

#include <sipswitch/module.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const sw_param_t nat_keepalive_params[];

#define KA_MIN_PERIOD_MS 10000u    /* SS_SIP_NAT_KEEP_ALIVE_PERIOD's floor */
#define KA_MIN_INTERVAL_MS 10u     /* SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL's floor */
#define KA_MAX_MESSAGE 1400u       /* one datagram on any path */

typedef enum {
    KA_MODE_RAW = 0,     /* the message over UDP, CRLF CRLF over TCP */
    KA_MODE_OPTIONS = 1  /* a SIP OPTIONS; max_missed unanswered in a row drops the binding */
} ka_mode_t;

typedef struct ka_account_settings {
    char *name;
    ka_mode_t mode;
    unsigned max_missed;
} ka_account_settings_t;

typedef struct ka_config {
    char *message;              /* "" = off */
    size_t message_len;
    uint64_t period_ms;
    uint32_t interval_ms;
    uint32_t batch;
    bool allow_short;
    char *registrar_module;     /* whose binding API drops a silent device */
    ka_account_settings_t global;   /* name NULL */
    ka_account_settings_t *accounts;/* only those that differ from global, sorted by name */
    size_t n_accounts;
} ka_config_t;

/* Copies the module's view into out (overwritten) and checks the floors.
 * -1 with "file: why" in err (out then freed); warn says which short value
 * the opt-in let through ("" otherwise). Memory from api->calloc/strdup. */
int ka_config_load(const sw_api_t *api, const sw_config_t *module_cfg, ka_config_t *out, char *err, size_t err_len,
                   char *warn, size_t warn_len);
void ka_config_free(const sw_api_t *api, ka_config_t *conf);

/* The settings for an account name (NULL or unknown: the global ones). O(log n). */
const ka_account_settings_t *ka_config_account(const ka_config_t *conf, const char *account);

#endif
