/* The call engine's side of the module hooks (module.h, ABI 1.1): who is
 * told what, in which order, and how an attempt is described to modules.
 * Every function runs on the signaling thread and is a no-op without
 * modules. */
#ifndef SW_CALL_CALL_HOOKS_H
#define SW_CALL_CALL_HOOKS_H

#include <stdbool.h>

#include "call/call.h"

struct sw_modules;

void sw_call_hooks_configure(struct sw_modules *modules);

/* Describes attempt `at` of call `c` as the API shows it. */
void sw_call_attempt_info(const sw_call_t *c, const sw_attempt_t *at, sw_attempt_info_t *out);

/* on_attempt_start: false when a module refused the gateway (it called
 * api->leg_skip(), which set at->outcome/code/reason). */
bool sw_call_hooks_attempt_start(sw_call_t *c, sw_attempt_t *at);

/* on_attempt_end, once per attempt (later calls for the same attempt do
 * nothing). With `verdict` the modules are asked for the switching decision;
 * true when one gave it. */
bool sw_call_hooks_attempt_end(sw_call_t *c, sw_attempt_t *at, sw_switch_verdict_t *verdict);

/* on_leg_response for a response on the pending attempt's INVITE. */
void sw_call_hooks_leg_response(sw_call_t *c, sw_attempt_t *at, sw_msg_t *resp);

/* on_route, once the script chose the chain: HANDLED when a module
 * refused the call (call_reject). */
sw_hook_result_t sw_call_hooks_route(sw_call_t *c);
/* on_leg_request (toward the gateway: `at` is the attempt) or
 * on_caller_request (to_caller) for a request the core is about to send. */
void sw_call_hooks_request_out(sw_call_t *c, sw_attempt_t *at, sw_msg_t *req, bool to_caller);
/* on_caller_response: the header lines the modules added to the response
 * about to be sent to the caller's INVITE ("Name: value\r\n"...,
 * malloc'd), or NULL. */
char *sw_call_hooks_caller_response(sw_call_t *c, int code, const char *reason);
/* on_dialog_request: HANDLED when a module answered the request. */
sw_hook_result_t sw_call_hooks_dialog_request(sw_call_t *c, bool from_caller, sw_msg_t *req);

void sw_call_hooks_answer(sw_call_t *c);
void sw_call_hooks_call_end(sw_call_t *c, const sw_call_end_t *end);

/* The call and leg entries of sw_api_t (module/api.c points at these). */
uint64_t sw_call_api_uid(const sw_call_t *c);
const char *sw_call_api_sip_id(const sw_call_t *c);
const char *sw_call_api_caller(const sw_call_t *c);
const char *sw_call_api_callee(const sw_call_t *c);
const char *sw_call_api_source(const sw_call_t *c);
const char *sw_call_api_account(const sw_call_t *c);
int sw_call_api_is_answered(const sw_call_t *c);
size_t sw_call_api_attempt_count(const sw_call_t *c);
int sw_call_api_attempt(const sw_call_t *c, size_t i, sw_attempt_info_t *out);
const char *sw_call_api_leg_gateway(const sw_leg_t *leg);
void sw_call_api_leg_set_invite_timeout(sw_leg_t *leg, uint64_t ms);
void sw_call_api_leg_skip(sw_leg_t *leg, sw_attempt_outcome_t outcome, const char *reason);
void sw_call_api_leg_set_deadline(sw_leg_t *leg, uint64_t ms, sw_attempt_outcome_t outcome);
const char *sw_call_api_caller_in(const sw_call_t *c);
const char *sw_call_api_callee_in(const sw_call_t *c);
const char *sw_call_api_source_ip(const sw_call_t *c);
int sw_call_api_times(const sw_call_t *c, sw_call_times_t *out);
int sw_call_api_var(const sw_call_t *c, size_t i, const char **name, const char **value);
void sw_call_api_reject(sw_call_t *c, int code, const char *reason, int end_reason);
void sw_call_api_leg_set_from(sw_leg_t *leg, const char *display, const char *uri);
sw_leg_t *sw_call_api_leg(const sw_call_t *c);
int sw_call_api_send_request(sw_module_t *self, sw_call_t *c, sw_party_t to, const char *method,
                             const char *extra_headers, int with_sdp, sw_request_cb cb, void *arg);
void sw_call_api_hangup(sw_call_t *c, int end_reason, int code);
const char *sw_call_api_sdp(const sw_call_t *c, sw_party_t to);
/* on_call_new: HANDLED when a module refused the call (sw_call_reject ran). */
sw_hook_result_t sw_call_hooks_call_new(sw_call_t *c, sw_msg_t *invite);

void *sw_call_api_get_data(const sw_call_t *c, const sw_module_t *self);
void sw_call_api_set_data(sw_call_t *c, sw_module_t *self, void *data);
/* Frees the list (not the modules' data) when the call is freed. */
void sw_call_module_data_free(sw_call_t *c);

#endif
