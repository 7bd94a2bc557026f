/* The call object of the route script. A call userdata is valid only during
 * the hook it was passed to: afterwards it is invalidated (the script may
 * keep a reference, but using it raises "call object used after its hook"),
 * so a script can never reach a freed call. */
#include "config.h"

#include "call/call_lua.h"
#include "call/uac.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "lua/engine.h"

#define CALL_MT "sipswitch.call"

typedef struct call_ud {
    sw_call_t *call;            /* NULL once the hook returned */
    sw_msg_t *invite;           /* only during on_invite */
} call_ud_t;

static call_ud_t *check_call(lua_State *L)
{
    call_ud_t *u = luaL_checkudata(L, 1, CALL_MT);
    if (!u->call)
        luaL_error(L, "call object used after its hook returned");
    return u;
}

/* Numbers go into Request-URIs and From headers: keep them to what a number
 * (or a user part) can safely be. */
static const char *check_number(lua_State *L, int idx)
{
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    if (len == 0 || len > 64)
        luaL_error(L, "number must have 1 to 64 characters, got %d", (int)len);
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '+' ||
              ch == '*' || ch == '#' || ch == '.' || ch == '_' || ch == '-'))
            luaL_error(L, "invalid character '%c' in number '%s'", ch, s);
    }
    return s;
}

static void replace(char **field, const char *value)
{
    char *d = strdup(value);
    if (!d)
        abort();
    free(*field);
    *field = d;
}

static int m_header(lua_State *L)
{
    call_ud_t *u = check_call(L);
    const char *name = luaL_checkstring(L, 2);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    const char *v = u->invite && i >= 1 ? sw_msg_header(u->invite, name, (size_t)(i - 1)) : NULL;
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int m_reject(lua_State *L)
{
    call_ud_t *u = check_call(L);
    lua_Integer code = luaL_checkinteger(L, 2);
    const char *reason = luaL_optstring(L, 3, NULL);
    if (code < 300 || code > 699)
        return luaL_error(L, "reject: code must be 300–699, got %d", (int)code);
    if (reason && (strlen(reason) > 128 || strpbrk(reason, "\r\n")))
        return luaL_error(L, "reject: reason must be one line of at most 128 characters");
    u->call->reject_code = (int)code;
    if (reason)
        replace(&u->call->reject_reason, reason);
    return 0;
}

/* Sets *field, keeping its first value in *original (the CDR reports the
 * numbers as received and as sent). */
static void rewrite(char **field, char **original, const char *value)
{
    if (!*original) {
        *original = *field;
        *field = NULL;
    }
    replace(field, value);
}

static int m_set_callee(lua_State *L)
{
    call_ud_t *u = check_call(L);
    const char *number = check_number(L, 2);
    rewrite(&u->call->callee, &u->call->callee_in, number);
    return 0;
}

static int m_set_caller(lua_State *L)
{
    call_ud_t *u = check_call(L);
    const char *number = check_number(L, 2);
    rewrite(&u->call->caller, &u->call->caller_in, number);
    return 0;
}

/* call:cdr_set(name, value): a custom CDR column. Names are what a CSV
 * header can hold; values one line; bounded so a script cannot grow a call
 * without limit. */
#define CALL_MAX_VARS 32
static int m_cdr_set(lua_State *L)
{
    call_ud_t *u = check_call(L);
    size_t nl, vl;
    const char *name = luaL_checklstring(L, 2, &nl);
    luaL_checkany(L, 3);
    const char *value = luaL_tolstring(L, 3, &vl); /* numbers and booleans as text */
    if (nl == 0 || nl > 32 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != nl)
        return luaL_error(L, "cdr_set: name must be 1-32 letters, digits or '_'");
    if (vl > 256 || strpbrk(value, "\r\n") || strlen(value) != vl)
        return luaL_error(L, "cdr_set: value must be one line of at most 256 bytes");
    sw_call_t *c = u->call;
    for (sw_call_var_t *v = c->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0) {
            replace(&v->value, value);
            return 0;
        }
    if (c->n_vars >= CALL_MAX_VARS)
        return luaL_error(L, "cdr_set: at most %d fields per call", CALL_MAX_VARS);
    sw_call_var_t *v = calloc(1, sizeof *v);
    if (!v || !(v->name = strdup(name)) || !(v->value = strdup(value)))
        abort();
    v->next = c->vars;
    c->vars = v;
    c->n_vars++;
    return 0;
}

static const luaL_Reg call_methods[] = {
    {"header", m_header}, {"reject", m_reject}, {"set_callee", m_set_callee}, {"set_caller", m_set_caller},
    {"cdr_set", m_cdr_set}, {NULL, NULL}};

static void push_opt_string(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
}

static int call_index(lua_State *L)
{
    call_ud_t *u = check_call(L);
    const char *key = luaL_checkstring(L, 2);
    sw_call_t *c = u->call;
    if (strcmp(key, "caller") == 0)
        push_opt_string(L, c->caller);
    else if (strcmp(key, "callee") == 0)
        push_opt_string(L, c->callee);
    else if (strcmp(key, "display") == 0)
        push_opt_string(L, c->display);
    else if (strcmp(key, "source") == 0)
        push_opt_string(L, c->source ? c->source : c->account ? c->account : c->source_ip);
    else if (strcmp(key, "account") == 0)
        push_opt_string(L, c->account);
    else if (strcmp(key, "source_ip") == 0)
        push_opt_string(L, c->source_ip);
    else if (strcmp(key, "mapping") == 0)
        push_opt_string(L, c->source);
    else if (strcmp(key, "call_id") == 0)
        push_opt_string(L, c->a.call_id);
    else if (strcmp(key, "id") == 0)
        lua_pushinteger(L, (lua_Integer)c->id);
    else {
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "__methods");
        lua_getfield(L, -1, key);
    }
    return 1;
}

static int call_newindex(lua_State *L)
{
    return luaL_error(L, "call fields are read-only: use call:set_callee() / call:set_caller()");
}

static void push_call(lua_State *L, call_ud_t **out)
{
    call_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    if (luaL_newmetatable(L, CALL_MT)) {
        lua_pushcfunction(L, call_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, call_newindex);
        lua_setfield(L, -2, "__newindex");
        luaL_newlib(L, call_methods);
        lua_setfield(L, -2, "__methods");
        lua_pushliteral(L, "call");
        lua_setfield(L, -2, "__name");
        /* getmetatable(call) gives this string, not the table: a script
         * cannot swap the methods of every call object */
        lua_pushliteral(L, "call");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    *out = u;
}

/* ---- chains ------------------------------------------------------------------ */

static void free_steps(sw_call_t *c, size_t from)
{
    for (size_t i = from; i < c->chain_len; i++) {
        free(c->chain[i].uri);
        free(c->chain[i].gateway);
        free(c->chain[i].callee);
        free(c->chain[i].caller);
    }
    c->chain_len = from;
}

static char *xstrdup_lua(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static char *opt_field(lua_State *L, int t, const char *name, int idx, bool number)
{
    lua_getfield(L, t, name);
    char *out = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "chain element %d: '%s' must be a string", idx, name);
        out = xstrdup_lua(number ? check_number(L, lua_gettop(L)) : lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return out;
}

/* A new, empty step at the end of the call's chain. Steps are appended before
 * they are filled, so a Lua error while reading one (raised inside the
 * protected call) leaves nothing unowned: free_steps / the call free it. */
static sw_route_step_t *append_step(lua_State *L, sw_call_t *c)
{
    /* steps already tried stay in the array (on_failure appends after them) */
    if (c->chain_len - c->next_step >= 100)
        luaL_error(L, "a chain has at most 100 gateways");
    sw_route_step_t *chain = realloc(c->chain, (c->chain_len + 1) * sizeof *c->chain);
    if (!chain)
        abort();
    c->chain = chain;
    sw_route_step_t *step = &c->chain[c->chain_len++];
    memset(step, 0, sizeof *step);
    return step;
}

/* A chain element naming its target itself: { uri = "sip:1001@10.0.0.5",
 * dest = "udp:203.0.113.7:40112" } (what sw.registrar.lookup gives for a
 * device behind NAT), `gateway` then being only a label (default "uri"). */
static void read_uri_target(lua_State *L, int e, int i, sw_route_step_t *step)
{
    const char *u = step->uri;
    if ((strncmp(u, "sip:", 4) != 0 && strncmp(u, "sips:", 5) != 0) || strpbrk(u, " \t\r\n<>\"") || strlen(u) > 512)
        luaL_error(L, "chain element %d: 'uri' must be a sip: or sips: URI", i);
    char *dest = opt_field(L, e, "dest", i, false);
    if (!dest)
        luaL_error(L, "chain element %d: 'uri' needs 'dest' (\"udp:ip:port\" or \"tcp:ip:port\")", i);
    const char *addr = dest;
    step->transport = SW_TRANSPORT_UDP;
    if (strncasecmp(dest, "udp:", 4) == 0) {
        addr = dest + 4;
    } else if (strncasecmp(dest, "tcp:", 4) == 0) {
        addr = dest + 4;
        step->transport = SW_TRANSPORT_TCP;
    }
    int bad = sw_uac_parse_dest(addr, &step->dest, &step->dest_len);
    free(dest);
    if (bad)
        luaL_error(L, "chain element %d: 'dest' must be [udp:|tcp:]ip:port with a numeric address", i);
    if (!step->gateway)
        step->gateway = xstrdup_lua("uri");
}

/* One chain element at stack index e (absolute): a gateway name, or a table
 * { gateway = "A", callee = "...", caller = "...", invite_timeout = s }. */
static void read_step(lua_State *L, int e, lua_Integer i, sw_call_t *c)
{
    if (lua_type(L, e) == LUA_TSTRING) {
        append_step(L, c)->gateway = xstrdup_lua(lua_tostring(L, e));
        return;
    }
    if (!lua_istable(L, e))
        luaL_error(L, "chain element %d: a gateway name or a table, got %s", (int)i, luaL_typename(L, e));
    sw_route_step_t *step = append_step(L, c);
    step->gateway = opt_field(L, e, "gateway", (int)i, false);
    step->uri = opt_field(L, e, "uri", (int)i, false);
    if (step->uri)
        read_uri_target(L, e, (int)i, step);
    else if (!step->gateway)
        luaL_error(L, "chain element %d: 'gateway' (or 'uri' with 'dest') is missing", (int)i);
    step->callee = opt_field(L, e, "callee", (int)i, true);
    step->caller = opt_field(L, e, "caller", (int)i, true);
    lua_getfield(L, e, "invite_timeout");
    if (!lua_isnil(L, -1)) {
        int isnum = 0;
        lua_Number s = lua_tonumberx(L, -1, &isnum);
        if (!isnum || !(s >= 1 && s <= 300)) /* written so that NaN fails too */
            luaL_error(L, "chain element %d: invite_timeout must be 1–300 seconds", (int)i);
        step->invite_timeout_ms = (uint32_t)(s * 1000);
    }
    lua_pop(L, 1);
}

/* Appends the chain at stack index t to the call: nil (nothing), a table of
 * elements, or one element alone (a gateway name, or a step table, which
 * has a 'gateway' field). Raises a Lua error (inside the protected call) on
 * bad shapes. */
static void read_chain(lua_State *L, int t, sw_call_t *c)
{
    t = lua_absindex(L, t);
    if (lua_isnil(L, t))
        return;
    if (lua_type(L, t) == LUA_TSTRING) {
        read_step(L, t, 1, c);
        return;
    }
    if (!lua_istable(L, t))
        luaL_error(L, "a chain must be a table of gateways, got %s", luaL_typename(L, t));
    int top = lua_gettop(L);
    bool one_step = lua_getfield(L, t, "gateway") != LUA_TNIL || lua_getfield(L, t, "uri") != LUA_TNIL;
    lua_settop(L, top);
    if (one_step) {
        read_step(L, t, 1, c);
        return;
    }
    lua_Integer n = luaL_len(L, t);
    if (n > 100)
        luaL_error(L, "a chain has at most 100 gateways, got %d", (int)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, t, i);
        read_step(L, lua_gettop(L), i, c);
        lua_pop(L, 1);
    }
}

/* ---- on_invite ---------------------------------------------------------------- */

typedef struct hook_ctx {
    sw_call_t *call;
    sw_msg_t *invite;
    const sw_attempt_t *attempt;
    call_ud_t *ud;
    int ref;
    sw_call_lua_failure_t verdict;
} hook_ctx_t;

static int push_invite_args(lua_State *L, void *p)
{
    hook_ctx_t *h = p;
    push_call(L, &h->ud);
    h->ud->call = h->call;
    h->ud->invite = h->invite;
    lua_pushvalue(L, -1);
    h->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* keeps it alive until invalidated */
    return 1;
}

static void read_invite_result(lua_State *L, void *p)
{
    hook_ctx_t *h = p;
    read_chain(L, -1, h->call);
}

/* The userdata outlives the hook only as an invalidated shell. */
static void invalidate(struct sw_lua_engine *e, hook_ctx_t *h)
{
    if (h->ud) {
        h->ud->call = NULL;
        h->ud->invite = NULL;
    }
    lua_State *L = sw_lua_engine_state(e);
    if (L && h->ref != LUA_NOREF && h->ref != LUA_REFNIL)
        luaL_unref(L, LUA_REGISTRYINDEX, h->ref);
}

sw_call_lua_result_t sw_call_lua_on_invite(struct sw_lua_engine *e, sw_call_t *c, sw_msg_t *invite)
{
    if (!e || !sw_lua_engine_has_function(e, "on_invite"))
        return SW_CALL_LUA_OK; /* no routing logic: empty chain, 404 */
    hook_ctx_t h = {.call = c, .invite = invite, .ref = LUA_NOREF};
    char err[1024];
    int rc = sw_lua_engine_call(e, "on_invite", c->a.call_id, push_invite_args, 1, read_invite_result, &h, err,
                                sizeof err);
    invalidate(e, &h);
    if (rc != 0) {
        free_steps(c, 0);
        return SW_CALL_LUA_ERROR;
    }
    return SW_CALL_LUA_OK;
}

/* ---- on_failure --------------------------------------------------------------- */

static int push_failure_args(lua_State *L, void *p)
{
    hook_ctx_t *h = p;
    push_invite_args(L, p);
    const sw_attempt_t *a = h->attempt;
    lua_createtable(L, 0, 7);
    lua_pushstring(L, a->gateway ? a->gateway : "");
    lua_setfield(L, -2, "gateway");
    lua_pushinteger(L, a->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, a->reason ? a->reason : "");
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, a->callee ? a->callee : "");
    lua_setfield(L, -2, "callee");
    lua_pushboolean(L, a->sdp_seen);
    lua_setfield(L, -2, "early_media");
    lua_pushstring(L, sw_attempt_outcome_name(a->outcome));
    lua_setfield(L, -2, "outcome");
    lua_pushinteger(L, (lua_Integer)h->call->n_attempts);
    lua_setfield(L, -2, "index");
    return 2;
}

/* Two results: the verdict (-2) and, after "stop", an optional code (-1). */
static void read_failure_result(lua_State *L, void *p)
{
    hook_ctx_t *h = p;
    if (lua_isnil(L, -2)) {
        h->verdict = SW_CALL_LUA_DEFAULT;
    } else if (lua_type(L, -2) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -2);
        if (strcmp(s, "next") == 0) {
            h->verdict = SW_CALL_LUA_NEXT;
        } else if (strcmp(s, "stop") == 0) {
            h->verdict = SW_CALL_LUA_STOP;
            if (!lua_isnil(L, -1)) {
                lua_Integer code = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
                if (code < 300 || code > 699)
                    luaL_error(L, "on_failure: the code after \"stop\" must be an integer 300-699");
                h->call->stop_code = (int)code;
            }
        } else
            luaL_error(L, "on_failure must return nil, \"next\", \"stop\" or a chain, got \"%s\"", s);
    } else if (lua_istable(L, -2)) {
        /* a new chain replaces what was left of the old one */
        free_steps(h->call, h->call->next_step);
        read_chain(L, -2, h->call);
        h->verdict = h->call->chain_len > h->call->next_step ? SW_CALL_LUA_NEXT : SW_CALL_LUA_STOP;
    } else {
        luaL_error(L, "on_failure must return nil, \"next\", \"stop\" or a chain, got %s", luaL_typename(L, -2));
    }
}

sw_call_lua_failure_t sw_call_lua_on_failure(struct sw_lua_engine *e, sw_call_t *c, const sw_attempt_t *a,
                                             bool rules_say_stop)
{
    if (rules_say_stop || !e || !sw_lua_engine_has_function(e, "on_failure"))
        return SW_CALL_LUA_DEFAULT; /* steps 1-7 of the decision order are final */
    hook_ctx_t h = {.call = c, .attempt = a, .ref = LUA_NOREF, .verdict = SW_CALL_LUA_DEFAULT};
    char err[1024];
    int rc = sw_lua_engine_call(e, "on_failure", c->a.call_id, push_failure_args, 2, read_failure_result, &h, err,
                                sizeof err);
    invalidate(e, &h);
    /* as in on_invite, a broken script never routes a call where it did not
     * mean to: the caller gets 500 */
    return rc == 0 ? h.verdict : SW_CALL_LUA_SCRIPT_ERROR;
}
