/* Outbound registration: the switch registering to upstream carriers, one
 * [registration NAME] section each (PARAMETERS.md section 4 "Outbound",
 * doc/modules/registrar.md "Outbound registration"). registrar.c calls
 * these from its lifecycle and hooks; outbound.c runs the registrations. */
#ifndef REGISTRAR_OUTBOUND_H
#define REGISTRAR_OUTBOUND_H

#include <sipswitch/module.h>

#include "accounts.h"
#include "json_buf.h"

/* Reads the settings and sections and registers the metrics; nothing is
 * sent before outbound_start. 0, or -1 after api->set_error(). */
int outbound_init(sw_module_t *self, const sw_api_t *api, const sw_config_t *cfg, const reg_accounts_t *accounts);

/* Sends the first REGISTER of every registration. */
void outbound_start(void);

/* A reload, in two steps so that nothing changes when another part of the
 * registrar's cfg is refused: outbound_reload_read checks the new cfg (-1
 * after api->set_error()), outbound_reload_apply then adds the new
 * registrations, unregisters and drops those gone, restarts those changed
 * and keeps the others running. */
int outbound_reload_read(const sw_config_t *cfg, const reg_accounts_t *accounts);
void outbound_reload_apply(void);
void outbound_reload_cancel(void);

/* Shutdown: SS_SIP_USER_AGENT_SEND_UNREGISTER sends Expires: 0 for every
 * registration the carrier holds, without waiting for answers; then
 * everything is freed. */
void outbound_stop(void);

/* on_request, INVITE: one from a carrier (the source IP is a
 * registration's registrar or outbound proxy) for its registered contact
 * (the Request-URI user is its contact_user or user) is the
 * registration's call: api->msg_set_account(req, NAME). 1 when claimed. */
int outbound_claim_invite(sw_msg_t *req, const char *source_ip);

/* The registrations as JSON for GET /api/v1/registrations/outbound[/NAME]
 * (name NULL: all). 0, or -1 when there is no registration of that name. */
int outbound_json(reg_json_t *j, const char *name);

#endif
