/* Built against tests/abi/frozen/1.1/sipswitch/module.h: a module from the
 * 1.1 era. Its init calls the entries 1.1 appended (calls and legs) with the
 * arguments whose answers 1.1 documents without a live call, and it sets
 * the two 1.1 hooks, which tests/unit/test_loader checks were picked up.
 * probe_frozen.c keeps covering the 1.0 part of the table. */
#include <sipswitch/module.h>
#include <stdio.h>
#include <string.h>

#if SW_ABI_MAJOR != 1 || SW_ABI_MINOR != 1
#error "probe_frozen_1_1 must be built against the frozen 1.1 header"
#endif

static const sw_api_t *api;

#define EXPECT(cond, what)                                              \
    do {                                                                \
        if (!(cond)) {                                                  \
            api->set_error(self, "ABI 1.1 entry misbehaves: %s", what); \
            return -1;                                                  \
        }                                                               \
    } while (0)

static int frozen_init(sw_module_t *self, const sw_api_t *a, const sw_config_t *cfg)
{
    (void)cfg;
    api = a;
    if (a->size < sizeof(sw_api_t) || a->abi_major != 1 || a->abi_minor < 1)
        return -1;
    EXPECT(strcmp(api->module_name(self), "probe_frozen_1_1") == 0, "module_name (1.0 part)");
    EXPECT(api->call_uid(NULL) == 0, "call_uid");
    EXPECT(api->call_sip_id(NULL) == NULL, "call_sip_id");
    EXPECT(api->call_caller(NULL) == NULL, "call_caller");
    EXPECT(api->call_callee(NULL) == NULL, "call_callee");
    EXPECT(api->call_source(NULL) == NULL, "call_source");
    EXPECT(api->call_is_answered(NULL) == 0, "call_is_answered");
    EXPECT(api->call_attempt_count(NULL) == 0, "call_attempt_count");
    sw_attempt_info_t info = {.size = sizeof info};
    EXPECT(api->call_attempt(NULL, 0, &info) == -1, "call_attempt");
    EXPECT(api->leg_gateway(NULL) == NULL, "leg_gateway");
    api->leg_set_invite_timeout(NULL, 1000);
    api->leg_skip(NULL, SW_ATTEMPT_SKIPPED_MAX_CALLS, "probe");
    api->leg_set_deadline(NULL, 1000, SW_ATTEMPT_RINGING_TIMEOUT);
    api->call_set_data(NULL, self, &info);
    EXPECT(api->call_get_data(NULL, self) == NULL, "call_get_data");
    EXPECT(api->call_caller_in(NULL) == NULL, "call_caller_in");
    EXPECT(api->call_callee_in(NULL) == NULL, "call_callee_in");
    EXPECT(api->call_source_ip(NULL) == NULL, "call_source_ip");
    sw_call_times_t times = {.size = sizeof times};
    EXPECT(api->call_times(NULL, &times) == -1, "call_times");
    const char *name = "x";
    EXPECT(api->call_var(NULL, 0, &name, NULL) == -1 && name[0] == 'x', "call_var");
    api->call_reject(NULL, 503, "probe", SW_END_OVERLOAD);
    api->leg_set_from(NULL, "Anonymous", "sip:anonymous@anonymous.invalid");
    EXPECT(api->call_leg(NULL) == NULL, "call_leg");
    EXPECT(api->call_send_request(self, NULL, SW_PARTY_CALLER, "UPDATE", NULL, 0, NULL, NULL) == -1,
           "call_send_request");
    api->call_hangup(NULL, SW_END_SESSION_TIMER_EXPIRED, 0);
    EXPECT(api->call_sdp(NULL, SW_PARTY_CALLEE) == NULL, "call_sdp");
    EXPECT(api->msg_reply_body != NULL, "msg_reply_body");
    EXPECT(api->msg_set_account(NULL, "acct") == -1, "msg_set_account");
    EXPECT(api->call_account(NULL) == NULL, "call_account");
    EXPECT(api->request_send(self, "INVITE", "sip:x@127.0.0.1", NULL, NULL, NULL, 0, SW_TRANSPORT_UDP,
                             "127.0.0.1:9", 0, NULL, NULL) == -1,
           "request_send");
    char local[64];
    EXPECT(api->local_address(SW_TRANSPORT_TLS, local, sizeof local) == -1, "local_address");
    sw_binding_event_t ev = {.size = sizeof ev, .kind = SW_BINDING_ADDED, .aor = "sip:probe@invalid"};
    api->binding_event(self, &ev);
    EXPECT(api->http_route(self, "calls", NULL) == -1, "http_route");
    EXPECT(api->send_raw(SW_TRANSPORT_UDP, 0, "not-an-address", "HELLO", 5) == -1, "send_raw");
    EXPECT(api->lua_push_table != NULL && api->lua_table_end != NULL, "lua_push_table");
    char number[16] = "x";
    EXPECT(api->dialplan_apply("probe-no-such-plan", "4420", number, sizeof number) == -1 && number[0] != 'x',
           "dialplan_apply");
    EXPECT(api->dialplan_apply("probe-no-such-plan", NULL, NULL, 0) == -1, "dialplan_apply (exists?)");
    /* no block table in a loader test: every block is refused as not
     * possible, and nothing is there to lift */
    EXPECT(api->block_address(self, "not-an-address", 1000, "probe") == -1, "block_address");
    EXPECT(api->block_address(self, "192.0.2.1", 1000, "probe") == -1, "block_address (no table)");
    EXPECT(api->unblock_address(self, "192.0.2.1") == 0, "unblock_address");
    EXPECT(api->block_provider(self, NULL, NULL) == -1, "block_provider");
    EXPECT(api->param_line(cfg, "no_such_param") == 0, "param_line");
    api->log(self, SW_LOG_INFO, NULL, "ABI 1.1 probe: all entries answered");
    return 0;
}

static sw_hook_result_t on_attempt_start(sw_module_t *self, sw_call_t *call, sw_leg_t *leg)
{
    (void)self, (void)call, (void)leg;
    return SW_HOOK_CONTINUE;
}

static sw_hook_result_t on_attempt_end(sw_module_t *self, sw_call_t *call, sw_leg_t *leg,
                                       const sw_attempt_info_t *info, sw_switch_verdict_t *verdict)
{
    (void)self, (void)call, (void)leg, (void)info, (void)verdict;
    return SW_HOOK_CONTINUE;
}

static void on_caller_response(sw_module_t *self, sw_call_t *call, sw_msg_t *resp)
{
    (void)self, (void)call, (void)resp;
}

static sw_hook_result_t on_dialog_request(sw_module_t *self, sw_call_t *call, sw_direction_t dir, sw_msg_t *req)
{
    (void)self, (void)call, (void)dir, (void)req;
    return SW_HOOK_CONTINUE;
}

static sw_hook_result_t on_caller_request(sw_module_t *self, sw_call_t *call, sw_msg_t *req)
{
    (void)self, (void)call, (void)req;
    return SW_HOOK_CONTINUE;
}

static const sw_hooks_t frozen_hooks = {
    .size = sizeof(sw_hooks_t),
    .on_attempt_start = on_attempt_start,
    .on_attempt_end = on_attempt_end,
    .on_caller_response = on_caller_response,
    .on_dialog_request = on_dialog_request,
    .on_caller_request = on_caller_request,
};

/* 1.1: the stop hook, called with the sockets still open */
static void frozen_stop(sw_module_t *self)
{
    (void)self;
}

static const sw_module_desc_t frozen_desc = {
    SW_MODULE_DESC_INIT,
    .name = "probe_frozen_1_1",
    .version = "1.1",
    .license = "MIT",
    .description = "module built against the frozen ABI 1.1 header",
    .hooks = &frozen_hooks,
    .init = frozen_init,
    .stop = frozen_stop,
};

SW_MODULE(frozen_desc)
