/* Module hooks around a call: see call_hooks.h. */
#include "config.h"

#include "call/call_hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module/loader.h"

static struct sw_modules *mods;

void sw_call_hooks_configure(struct sw_modules *modules)
{
    mods = modules;
}

#define FOR_EACH_HOOK(id, m)                                                                  \
    for (size_t i_ = 0, n_ = mods ? mods->n_by_hook[id] : 0; i_ < n_; i_++)                   \
        for (sw_module_t *m = mods->by_hook[id][i_]; m; m = NULL)

void sw_call_attempt_info(const sw_call_t *c, const sw_attempt_t *at, sw_attempt_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->gateway = at->gateway;
    out->callee = at->callee;
    out->index = (unsigned)(at - c->attempts) + 1;
    out->invites_sent = c->invites_sent;
    out->outcome = at->outcome;
    out->code = at->code;
    out->reason = at->reason;
    out->sdp_received = at->sdp_seen;
    out->caller_cancelled = c->cancelled;
    out->gateways_left = c->chain_len > c->next_step ? c->chain_len - c->next_step : 0;
    out->started_ms = at->started_ms;
    out->first_response_ms = at->first_response_ms;
    out->ended_ms = at->ended_ms;
    out->caller = at->caller;
}

bool sw_call_hooks_attempt_start(sw_call_t *c, sw_attempt_t *at)
{
    FOR_EACH_HOOK(SW_HOOK_ON_ATTEMPT_START, m)
    {
        sw_hook_result_t r = m->hooks.on_attempt_start(m, c, at);
        if (r == SW_HOOK_DROP) {
            if (at->outcome == SW_ATTEMPT_PENDING) { /* the module forgot leg_skip() */
                at->outcome = SW_ATTEMPT_SKIPPED_MAX_CALLS;
                at->code = 503;
            }
            /* every module (those that admitted it too) hears of its end
             * once, from the decision that follows (on_attempt_end) */
            return false;
        }
    }
    return true;
}

bool sw_call_hooks_attempt_end(sw_call_t *c, sw_attempt_t *at, sw_switch_verdict_t *verdict)
{
    if (at->end_reported)
        return false;
    at->end_reported = true;
    sw_attempt_info_t info;
    sw_call_attempt_info(c, at, &info);
    bool decided = false;
    FOR_EACH_HOOK(SW_HOOK_ON_ATTEMPT_END, m)
    {
        /* every module sees the end (limits, counters); the first to answer decides */
        sw_hook_result_t r = m->hooks.on_attempt_end(m, c, at, &info, decided ? NULL : verdict);
        if (verdict && !decided && r == SW_HOOK_HANDLED)
            decided = true;
    }
    return decided;
}

void sw_call_hooks_leg_response(sw_call_t *c, sw_attempt_t *at, sw_msg_t *resp)
{
    FOR_EACH_HOOK(SW_HOOK_ON_LEG_RESPONSE, m)
    {
        m->hooks.on_leg_response(m, c, at, resp);
    }
}

sw_hook_result_t sw_call_hooks_route(sw_call_t *c)
{
    FOR_EACH_HOOK(SW_HOOK_ON_ROUTE, m)
    {
        if (m->hooks.on_route(m, c) == SW_HOOK_HANDLED || c->reject_code)
            return SW_HOOK_HANDLED;
    }
    return SW_HOOK_CONTINUE;
}

void sw_call_hooks_request_out(sw_call_t *c, sw_attempt_t *at, sw_msg_t *req, bool to_caller)
{
    if (to_caller) {
        FOR_EACH_HOOK(SW_HOOK_ON_CALLER_REQUEST, m)
        {
            m->hooks.on_caller_request(m, c, req);
        }
        return;
    }
    FOR_EACH_HOOK(SW_HOOK_ON_LEG_REQUEST, m)
    {
        m->hooks.on_leg_request(m, c, at, req);
    }
}

char *sw_call_hooks_caller_response(sw_call_t *c, int code, const char *reason)
{
    if (!mods || !mods->n_by_hook[SW_HOOK_ON_CALLER_RESPONSE])
        return NULL; /* the common case costs nothing */
    sw_msg_t *resp = sw_msg_new_response(code, reason);
    if (!resp)
        resp = sw_msg_new_response(code, NULL);
    if (!resp)
        return NULL;
    FOR_EACH_HOOK(SW_HOOK_ON_CALLER_RESPONSE, m)
    {
        m->hooks.on_caller_response(m, c, resp);
    }
    /* the headers the modules added, as "Name: value" lines for the reply */
    size_t len = 0;
    for (size_t i = 0; i < resp->hdr_count; i++)
        len += resp->hdrs[i].name_len + 2 + strlen(resp->hdrs[i].value) + 2;
    char *text = NULL;
    if (len) {
        text = malloc(len + 1);
        if (!text)
            abort();
        char *p = text;
        for (size_t i = 0; i < resp->hdr_count; i++)
            p += sprintf(p, "%s: %s\r\n", resp->hdrs[i].name, resp->hdrs[i].value);
    }
    sw_msg_free(resp);
    return text;
}

sw_hook_result_t sw_call_hooks_dialog_request(sw_call_t *c, bool from_caller, sw_msg_t *req)
{
    FOR_EACH_HOOK(SW_HOOK_ON_DIALOG_REQUEST, m)
    {
        sw_hook_result_t r = m->hooks.on_dialog_request(m, c, from_caller ? SW_DIR_A_TO_B : SW_DIR_B_TO_A, req);
        if (r != SW_HOOK_CONTINUE)
            return r;
    }
    return SW_HOOK_CONTINUE;
}

void sw_call_hooks_answer(sw_call_t *c)
{
    FOR_EACH_HOOK(SW_HOOK_ON_ANSWER, m)
    {
        m->hooks.on_answer(m, c);
    }
}

void sw_call_hooks_call_end(sw_call_t *c, const sw_call_end_t *end)
{
    FOR_EACH_HOOK(SW_HOOK_ON_CALL_END, m)
    {
        m->hooks.on_call_end(m, c, end);
    }
}

/* ---- the call and leg accessors of the API table ---------------------------------------- */

uint64_t sw_call_api_uid(const sw_call_t *c) { return c ? c->id : 0; }
const char *sw_call_api_sip_id(const sw_call_t *c) { return c ? c->a.call_id : NULL; }
const char *sw_call_api_caller(const sw_call_t *c) { return c ? c->caller : NULL; }
const char *sw_call_api_callee(const sw_call_t *c) { return c ? c->callee : NULL; }
const char *sw_call_api_source(const sw_call_t *c)
{
    return c ? (c->source ? c->source : c->account ? c->account : c->source_ip) : NULL;
}
const char *sw_call_api_account(const sw_call_t *c) { return c ? c->account : NULL; }
int sw_call_api_is_answered(const sw_call_t *c) { return c && c->answered_ms != 0; }
size_t sw_call_api_attempt_count(const sw_call_t *c) { return c ? c->n_attempts : 0; }
const char *sw_call_api_leg_gateway(const sw_leg_t *leg) { return leg ? leg->gateway : NULL; }

int sw_call_api_attempt(const sw_call_t *c, size_t i, sw_attempt_info_t *out)
{
    if (!c || !out || i >= c->n_attempts || out->size < sizeof(uint32_t))
        return -1;
    sw_attempt_info_t full;
    sw_call_attempt_info(c, &c->attempts[i], &full);
    /* an older module knows a shorter struct: give it what fits */
    uint32_t want = out->size < sizeof full ? out->size : (uint32_t)sizeof full;
    memcpy(out, &full, want);
    out->size = want;
    return 0;
}

void sw_call_api_leg_set_invite_timeout(sw_leg_t *leg, uint64_t ms)
{
    if (leg)
        sw_call_leg_set_invite_timeout(leg, ms);
}

void sw_call_api_leg_skip(sw_leg_t *leg, sw_attempt_outcome_t outcome, const char *reason)
{
    if (leg)
        sw_call_leg_skip(leg, outcome, reason);
}

void sw_call_api_leg_set_deadline(sw_leg_t *leg, uint64_t ms, sw_attempt_outcome_t outcome)
{
    if (leg)
        sw_call_leg_set_deadline(leg, ms, outcome);
}

/* A few modules at most keep data on a call: a short list beats a slot per
 * loaded module on every call. */
typedef struct sw_call_module_data {
    const sw_module_t *module;
    void *data;
    struct sw_call_module_data *next;
} sw_call_module_data_t;

void *sw_call_api_get_data(const sw_call_t *c, const sw_module_t *self)
{
    for (const sw_call_module_data_t *d = c ? c->module_data : NULL; d; d = d->next)
        if (d->module == self)
            return d->data;
    return NULL;
}

void sw_call_api_set_data(sw_call_t *c, sw_module_t *self, void *data)
{
    if (!c)
        return;
    for (sw_call_module_data_t *d = c->module_data; d; d = d->next)
        if (d->module == self) {
            d->data = data;
            return;
        }
    if (!data)
        return;
    sw_call_module_data_t *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->module = self;
    d->data = data;
    d->next = c->module_data;
    c->module_data = d;
}

void sw_call_module_data_free(sw_call_t *c)
{
    while (c->module_data) {
        sw_call_module_data_t *d = c->module_data;
        c->module_data = d->next;
        free(d);
    }
}

const char *sw_call_api_caller_in(const sw_call_t *c) { return c ? (c->caller_in ? c->caller_in : c->caller) : NULL; }
const char *sw_call_api_callee_in(const sw_call_t *c) { return c ? (c->callee_in ? c->callee_in : c->callee) : NULL; }
const char *sw_call_api_source_ip(const sw_call_t *c) { return c ? c->source_ip : NULL; }

int sw_call_api_times(const sw_call_t *c, sw_call_times_t *out)
{
    if (!c || !out || out->size < sizeof(uint32_t))
        return -1;
    sw_call_times_t full = {.size = sizeof full};
    sw_call_wall_times(c, &full.created_ms, &full.ringing_ms, &full.answered_ms);
    uint32_t want = out->size < sizeof full ? out->size : (uint32_t)sizeof full;
    memcpy(out, &full, want);
    out->size = want;
    return 0;
}

int sw_call_api_var(const sw_call_t *c, size_t i, const char **name, const char **value)
{
    if (!c || i >= c->n_vars)
        return -1;
    /* newest first in the list: the i-th set is n-1-i from the head */
    const sw_call_var_t *v = c->vars;
    for (size_t k = c->n_vars - 1 - i; v && k; k--)
        v = v->next;
    if (!v)
        return -1;
    if (name)
        *name = v->name;
    if (value)
        *value = v->value;
    return 0;
}

void sw_call_api_reject(sw_call_t *c, int code, const char *reason, int end_reason)
{
    if (c)
        sw_call_reject(c, code, reason, end_reason);
}

void sw_call_api_leg_set_from(sw_leg_t *leg, const char *display, const char *uri)
{
    sw_call_leg_set_from(leg, display, uri);
}

sw_leg_t *sw_call_api_leg(const sw_call_t *c)
{
    if (!c || !c->n_attempts)
        return NULL;
    sw_attempt_t *at = &c->attempts[c->n_attempts - 1];
    return at->outcome == SW_ATTEMPT_PENDING || at->outcome == SW_ATTEMPT_ANSWERED ? at : NULL;
}

int sw_call_api_send_request(sw_module_t *self, sw_call_t *c, sw_party_t to, const char *method,
                             const char *extra_headers, int with_sdp, sw_request_cb cb, void *arg)
{
    return sw_call_send_request(c, to, method, extra_headers, with_sdp != 0, cb, self, arg);
}

void sw_call_api_hangup(sw_call_t *c, int end_reason, int code)
{
    sw_call_hangup(c, end_reason, code);
}

const char *sw_call_api_sdp(const sw_call_t *c, sw_party_t to)
{
    return sw_call_sdp(c, to);
}

sw_hook_result_t sw_call_hooks_call_new(sw_call_t *c, sw_msg_t *invite)
{
    FOR_EACH_HOOK(SW_HOOK_ON_CALL_NEW, m)
    {
        if (m->hooks.on_call_new(m, c, invite) == SW_HOOK_HANDLED)
            return SW_HOOK_HANDLED;
    }
    return SW_HOOK_CONTINUE;
}
