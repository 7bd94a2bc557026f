/* The core's own parameters ([core] and the core keys of object sections)
 * and the typed settings resolved from them. */
#ifndef SW_CFG_CORE_PARAMS_H
#define SW_CFG_CORE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/config.h"

extern const sw_param_t sw_core_params[];

#define SW_MAX_LISTENERS 16
#define SW_MAX_RESEND 32

typedef struct sw_listen_spec {
    sw_transport_t transport;
    char host[64];
    uint16_t port;
} sw_listen_spec_t;

typedef struct sw_core_settings {
    sw_listen_spec_t listen[SW_MAX_LISTENERS];
    size_t n_listen;
    char *script;               /* resolved path */
    char *http;                 /* "host:port" or "" (off) */
    int log_level;
    int log_target;
    char *module_dir;
    char **load;                /* module names */
    size_t n_load;
    int load_line;              /* where 'load' was written, for errors */
    uint32_t resend_ms[SW_MAX_RESEND];
    size_t n_resend;
    int qos_signal;
    bool force_rport;
    bool allow_unknown_sources;
    char *advertise;            /* advertise_address, "" = the first listen host */
    char **passthrough;         /* header names copied from A to B */
    size_t n_passthrough;
    size_t max_message_size;
    size_t max_tcp_connections;
    uint64_t tcp_idle_timeout_ms;
    /* overload and flood protection (core/sip/guard.h) */
    size_t max_tcp_connections_per_ip;
    uint32_t rate_limit;
    uint32_t rate_limit_burst;
    uint64_t rate_limit_block_ms;
    bool rate_limit_trusted;
    char **scanner_user_agents;
    size_t n_scanner_user_agents;
    bool drop_unknown_sources;
    uint64_t overload_message_age_ms;
    uint32_t overload_retry_after_s;
    size_t max_headers;
    size_t max_transactions;
    uint64_t lua_instruction_budget;
    size_t lua_memory_limit;
} sw_core_settings_t;

/* Registers the core parameters and resolves [core] into settings; errors
 * go to errs with file:line. */
int sw_core_settings_load(sw_cfg_t *cfg, sw_core_settings_t *out, sw_errors_t *errs);
void sw_core_settings_free(sw_core_settings_t *s);

#endif
