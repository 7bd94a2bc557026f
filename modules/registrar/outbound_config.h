/* Outbound registration settings from cfg: the [registrar] parameters of
 * PARAMETERS.md section 4 "Outbound" and one [registration NAME] section
 * per carrier, checked, with host names resolved (at start and at every
 * reload). */
#ifndef REGISTRAR_OUTBOUND_CONFIG_H
#define REGISTRAR_OUTBOUND_CONFIG_H

#include <sipswitch/module.h>
#include <stdint.h>

#include "accounts.h"
#include "outbound_values.h"

/* SS_SIP_USER_AGENT_RETRY_DELAY's floor without allow_short_intervals. */
#define OB_RETRY_DELAY_FLOOR_S 30

typedef enum {
    OB_PRIVACY_IGNORE = 0, /* no Privacy header */
    OB_PRIVACY_ID = 1,     /* Privacy: id */
    OB_PRIVACY_NONE = 2    /* Privacy: none */
} ob_privacy_t;

/* One [registration NAME] section. Strings belong to the struct (api->free). */
typedef struct ob_reg_conf {
    char *name;
    char *domain;        /* the registrar's host[:port] as written in URIs (port only when not 5060) */
    char *dest;          /* numeric "ip:port" the REGISTERs go to: the proxy's, else the registrar's */
    char *registrar_ip;  /* where the carrier's INVITEs may come from ... */
    char *proxy_ip;      /* ... or from its outbound proxy (NULL: none) */
    char *user, *auth_user, *password, *contact_user;
    sw_transport_t transport;
    uint32_t expire_s;   /* 0: Auto (ask OB_EXPIRE_AUTO_ASK, take what is granted) */
    ob_privacy_t privacy;
} ob_reg_conf_t;

typedef struct ob_settings {
    uint64_t retry_delay_ms;  /* SS_SIP_USER_AGENT_RETRY_DELAY */
    int send_unregister;      /* SS_SIP_USER_AGENT_SEND_UNREGISTER */
    unsigned auth_retry;      /* SS_SIP_AUTHENTICATION_RETRY */
    uint64_t auth_timeout_ms; /* SS_SIP_AUTHENTICATION_TIMEOUT */
} ob_settings_t;

typedef struct ob_config {
    ob_settings_t set;
    ob_reg_conf_t *regs;
    size_t n;
} ob_config_t;

/* Reads and checks everything; NULL after api->set_error() naming the cfg
 * file, the section and the key. An [account] of the same name as a
 * [registration] is refused: call.account would not tell them apart. */
ob_config_t *ob_config_read(const sw_api_t *api, sw_module_t *self, const sw_config_t *cfg,
                            const reg_accounts_t *accounts);
void ob_config_free(const sw_api_t *api, ob_config_t *c);
void ob_reg_conf_clear(const sw_api_t *api, ob_reg_conf_t *r);

/* 1 when two sections describe the same registration (a reload keeps it
 * running as it is). */
int ob_reg_conf_equal(const ob_reg_conf_t *a, const ob_reg_conf_t *b);

#endif
