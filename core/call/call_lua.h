/* The call as the route script sees it: on_invite(call) and
 * on_failure(call, attempt). See doc/lua-api.md. */
#ifndef SW_CALL_CALL_LUA_H
#define SW_CALL_CALL_LUA_H

#include <stdbool.h>

#include "call/call.h"

struct sw_lua_engine;

typedef enum { SW_CALL_LUA_OK = 0, SW_CALL_LUA_ERROR = -1 } sw_call_lua_result_t;

/* Runs on_invite(call). On return the call's chain (c->chain) or reject
 * (c->reject_code) is set; a script without on_invite routes nowhere (404).
 * A runtime error, an exhausted budget or a malformed return value give
 * SW_CALL_LUA_ERROR (the caller answers 500). */
sw_call_lua_result_t sw_call_lua_on_invite(struct sw_lua_engine *e, sw_call_t *c, sw_msg_t *invite);

typedef enum {
    SW_CALL_LUA_DEFAULT = 0,    /* no on_failure, or it returned nil or "next": the switching rules decide */
    SW_CALL_LUA_NEXT,           /* "next", or a new chain (now in c->chain): try the next gateway */
    SW_CALL_LUA_STOP,           /* "stop": the caller gets the attempt's code */
    SW_CALL_LUA_SCRIPT_ERROR    /* a runtime error or a bad return value: the caller gets 500 */
} sw_call_lua_failure_t;

/* Runs on_failure(call, attempt) if the script defines it and the switching
 * rules would go on to the next gateway (PARAMETERS.md section 1, step 8):
 * when `rules_say_stop` (steps 1-7: busy, early media, no gateway left...)
 * the decision is final and the hook is not run. A returned table replaces
 * the rest of the chain. call:reject() inside the hook sets c->reject_code,
 * which the engine treats as a stop with that code. */
sw_call_lua_failure_t sw_call_lua_on_failure(struct sw_lua_engine *e, sw_call_t *c, const sw_attempt_t *a,
                                             bool rules_say_stop);

#endif
