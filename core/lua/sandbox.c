/* The restricted environment of a routing script: accounted memory, an
 * uncatchable instruction budget, safe libraries only, and the `sw` table.
 *
 * How the budget is made uncatchable: the count hook raises an ordinary Lua
 * error, and sets guard->budget_exhausted. Every function of the standard
 * library that can stop an error from propagating is replaced by a wrapper
 * that re-raises it while that flag is set. Two further holes are closed
 * because Lua runs some code with hooks disabled, where the budget cannot be
 * enforced at all:
 *  - finalizers (__gc) run without hooks: setmetatable refuses a metatable
 *    with a __gc field (the only way a script can get a finalizer);
 *  - the message handler of an error raised from inside the hook, and the
 *    to-be-closed handlers of a coroutine killed from the hook, would run
 *    with hooks disabled: xpcall's handler is skipped once the budget is
 *    exhausted, and coroutines that died with an error are never "closed"
 *    (their pending <close> handlers do not run).
 * Since the hook keeps raising every SW_LUA_HOOK_INTERVAL instructions once
 * the budget is exhausted, any code that still runs afterwards is short. */
#include "config.h"

#include "lua/sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lua/prefix.h"
#include "sipswitch/version.h"

/* Name under which script output is logged. */
#define LOG_WHO "lua"

sw_lua_guard_t *sw_lua_sandbox_guard(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* ------------------------------------------------------------------------- */
/* Memory accounting                                                         */
/* ------------------------------------------------------------------------- */

/* lua_Alloc that keeps guard->memory_used exact and refuses to grow past
 * guard->memory_limit. Lua then runs an emergency collection, retries, and
 * raises "not enough memory" as an ordinary error if still refused. Shrinking
 * and freeing always succeed, as Lua requires. */
static void *guarded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sw_lua_guard_t *g = ud;
    /* With ptr == NULL, osize encodes the kind of object, not a size. */
    size_t old_size = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        g->memory_used -= old_size;
        return NULL;
    }
    if (nsize > old_size && g->memory_limit != 0) {
        size_t others = g->memory_used - old_size;
        if (others > g->memory_limit || nsize > g->memory_limit - others)
            return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    g->memory_used = g->memory_used - old_size + nsize;
    return p;
}

/* ------------------------------------------------------------------------- */
/* Instruction budget                                                        */
/* ------------------------------------------------------------------------- */

static bool budget_exhausted(lua_State *L)
{
    return sw_lua_sandbox_guard(L)->budget_exhausted;
}

/* Raises the budget error, prefixed with `where` ("file:line: " or ""). */
static int raise_budget_exceeded(lua_State *L, const char *where)
{
    const sw_lua_guard_t *g = sw_lua_sandbox_guard(L);
    lua_pushfstring(L, "%sinstruction budget exceeded (%I instructions)", where,
                    (lua_Integer)g->instruction_budget);
    return lua_error(L);
}

/* Count hook: runs every SW_LUA_HOOK_INTERVAL instructions of any thread of
 * the state. Once the budget is spent it raises on every invocation, so the
 * script cannot continue for long whatever it catches. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    sw_lua_guard_t *g = sw_lua_sandbox_guard(L);
    if (g->instruction_budget == 0)
        return;
    g->instructions_used += SW_LUA_HOOK_INTERVAL;
    if (!g->budget_exhausted && g->instructions_used <= g->instruction_budget)
        return;
    g->budget_exhausted = true;
    /* Inside a hook, luaL_where(L, 1) would name the caller of the looping
     * function; the hook's own record names the running line. */
    char where[LUA_IDSIZE + 32] = "";
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
    raise_budget_exceeded(L, where);
}

/* A new coroutine gets a fresh hook counter and may run up to
 * SW_LUA_HOOK_INTERVAL instructions unseen; charging that up front keeps
 * "many short coroutines" from multiplying the budget. */
static void charge_new_coroutine(lua_State *L)
{
    sw_lua_guard_t *g = sw_lua_sandbox_guard(L);
    if (g->instruction_budget == 0)
        return;
    g->instructions_used += SW_LUA_HOOK_INTERVAL;
    if (g->budget_exhausted || g->instructions_used > g->instruction_budget) {
        g->budget_exhausted = true;
        luaL_where(L, 1);
        raise_budget_exceeded(L, lua_tostring(L, -1));
    }
}

void sw_lua_sandbox_begin_run(lua_State *L, const char *call_id)
{
    sw_lua_guard_t *g = sw_lua_sandbox_guard(L);
    g->instructions_used = 0;
    g->budget_exhausted = false;
    g->call_id = call_id;
    /* Re-arming resets the main thread's countdown, so a run is not charged
     * for the tail of the previous one. */
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, SW_LUA_HOOK_INTERVAL);
}

void sw_lua_sandbox_end_run(lua_State *L)
{
    sw_lua_sandbox_guard(L)->call_id = NULL;
}

/* ------------------------------------------------------------------------- */
/* Catching functions that must let the budget error through                 */
/* ------------------------------------------------------------------------- */

/* Common end of pcall/xpcall, also their continuation after a yield inside
 * the protected function. `extra` is how many stack slots precede the
 * "true" that starts the results. */
static int finish_protected_call(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        if (budget_exhausted(L))
            return lua_error(L); /* the error object is on top */
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* pcall(f, ...): as the standard one, yieldable, but the budget error passes. */
static int sandbox_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1); /* first result when f succeeds */
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_protected_call);
    return finish_protected_call(L, status, 0);
}

/* Message handler put in front of the script's one. An error raised from the
 * hook calls the handler while hooks are disabled, where a looping handler
 * could never be stopped: once the budget is exhausted the script's handler
 * is not run at all. */
static int guarded_message_handler(lua_State *L)
{
    if (budget_exhausted(L))
        return 1; /* the error object, unchanged */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall(f, msgh, ...) */
static int sandbox_xpcall(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 2;
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guarded_message_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1); /* first result when f succeeds */
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2); /* f, handler, true, f, args... */
    int status = lua_pcallk(L, nargs, LUA_MULTRET, 2, 2, finish_protected_call);
    return finish_protected_call(L, status, 2);
}

/* Calls the original library function (upvalue 1) with this call's
 * arguments, leaving all its results on the stack. */
static void call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
}

/* load(chunk [, chunkname [, mode [, env]]]): text chunks only, because a
 * crafted binary chunk can crash the VM. Without env, the chunk's
 * environment is the state's globals, i.e. the sandbox. A reader function
 * runs inside load's own protection, so the budget error is re-raised. */
static int sandbox_load(lua_State *L)
{
    luaL_checkany(L, 1);
    int nargs = lua_gettop(L);
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t"); /* whatever mode the script asked for */
    if (nargs >= 4)
        lua_pushvalue(L, 4); /* an explicit env, even nil, as in standard Lua */
    lua_call(L, nargs >= 4 ? 4 : 3, 2);
    if (!lua_isnil(L, -2)) {
        lua_pop(L, 1);
        return 1; /* the compiled chunk */
    }
    if (budget_exhausted(L)) {
        /* Not the message load returned: the parser runs under the caller's
         * message handler, so it may already carry a traceback. */
        luaL_where(L, 1);
        return raise_budget_exceeded(L, lua_tostring(L, -1));
    }
    return 2; /* nil, message */
}

/* coroutine.create(f): charged, see charge_new_coroutine(). */
static int sandbox_coroutine_create(lua_State *L)
{
    charge_new_coroutine(L);
    call_original(L);
    return lua_gettop(L);
}

/* coroutine.resume(co, ...): the budget error that killed co propagates. */
static int sandbox_coroutine_resume(lua_State *L)
{
    call_original(L);
    if (!lua_toboolean(L, 1) && budget_exhausted(L)) {
        lua_settop(L, 2);
        return lua_error(L);
    }
    return lua_gettop(L);
}

/* The function coroutine.wrap returns. Upvalues: the coroutine and the
 * original coroutine.resume. Unlike the standard one it does not close a
 * coroutine that failed: its <close> handlers could run with hooks off. */
static int call_wrapped_coroutine(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rotate(L, 1, 2); /* resume, co, args... */
    lua_call(L, nargs + 1, LUA_MULTRET);
    if (lua_toboolean(L, 1))
        return lua_gettop(L) - 1;
    lua_settop(L, 2);
    if (!budget_exhausted(L) && lua_type(L, 2) == LUA_TSTRING) {
        /* Name the place of the call, as the standard wrap does. */
        luaL_where(L, 1);
        lua_insert(L, 2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(f). Upvalue: the original coroutine.resume. */
static int sandbox_coroutine_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    charge_new_coroutine(L);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, call_wrapped_coroutine, 2);
    return 1;
}

/* coroutine.close(co). A coroutine that died with an error may have died
 * from the hook, which leaves its hooks disabled: closing it would run its
 * pending <close> handlers unbounded. Such a coroutine is reported as the
 * standard close does (false, error object) without running them. */
static int sandbox_coroutine_close(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    if (co && lua_status(co) > LUA_YIELD) {
        lua_pushboolean(L, 0);
        if (lua_gettop(co) > 0) {
            /* Copy its error object, leaving it in place. */
            lua_xmove(co, L, 1);
            lua_pushvalue(L, -1);
            lua_xmove(L, co, 1);
        } else {
            lua_pushnil(L);
        }
        return 2;
    }
    call_original(L);
    if (!lua_toboolean(L, 1) && budget_exhausted(L)) {
        lua_settop(L, 2);
        return lua_error(L);
    }
    return lua_gettop(L);
}

/* setmetatable(t, mt): refuses __gc, since finalizers run with hooks
 * disabled (and even from lua_close) where no budget can stop them. Lua only
 * looks for __gc when the metatable is set, so checking here is enough. */
static int sandbox_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int gc_type = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (gc_type != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in the sandbox");
    }
    call_original(L);
    return lua_gettop(L);
}

/* collectgarbage([opt, ...]): only options that cannot change how the
 * collector runs for the rest of the state's life ("stop", tuning). */
static int sandbox_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "step", "count", "isrunning", NULL};
    luaL_checkoption(L, 1, "collect", allowed);
    call_original(L);
    return lua_gettop(L);
}

/* ------------------------------------------------------------------------- */
/* Output: print, warn, sw.log                                               */
/* ------------------------------------------------------------------------- */

/* print(...): one info line in the daemon's log, values separated by tabs;
 * stdout is not the daemon's. */
static int sandbox_print(lua_State *L)
{
    if (!sw_log_enabled(SW_LOG_INFO))
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    sw_logf(SW_LOG_INFO, LOG_WHO, sw_lua_sandbox_guard(L)->call_id, "%s", lua_tostring(L, -1));
    return 0;
}

/* Warning function (warn(), and errors Lua reports as warnings): pieces are
 * assembled and logged as one warn line. Control messages ("@on", "@off")
 * are ignored: warnings are always logged. */
static void sandbox_warning(void *ud, const char *msg, int tocont)
{
    sw_lua_guard_t *g = ud;
    if (g->warning_len == 0 && !tocont && msg[0] == '@')
        return;
    size_t room = sizeof g->warning - 1 - g->warning_len;
    size_t len = strlen(msg);
    if (len > room)
        len = room;
    memcpy(g->warning + g->warning_len, msg, len);
    g->warning_len += len;
    if (tocont)
        return;
    g->warning[g->warning_len] = '\0';
    sw_logf(SW_LOG_WARN, LOG_WHO, g->call_id, "%s", g->warning);
    g->warning_len = 0;
}

/* Reads the level argument of sw.log: a name ("info") or a constant
 * (sw.INFO). -1 if neither. */
static int log_level_argument(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING)
        return sw_log_level_parse(lua_tostring(L, idx));
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int is_integer = 0;
        lua_Integer v = lua_tointegerx(L, idx, &is_integer);
        if (is_integer && v >= SW_LOG_ERROR && v <= SW_LOG_DEBUG)
            return (int)v;
    }
    return -1;
}

/* sw.log(level, msg) */
static int sandbox_sw_log(lua_State *L)
{
    int level = log_level_argument(L, 1);
    if (level < 0) {
        const char *given = lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER
                                ? lua_pushfstring(L, "'%s'", lua_tostring(L, 1))
                                : luaL_typename(L, 1);
        return luaL_error(L, "sw.log: bad level %s (expected \"error\", \"warn\", \"notice\", "
                             "\"info\", \"debug\" or sw.ERROR .. sw.DEBUG)", given);
    }
    luaL_checkany(L, 2);
    if (!sw_log_enabled((sw_log_level_t)level))
        return 0;
    const char *msg = luaL_tolstring(L, 2, NULL);
    sw_logf((sw_log_level_t)level, LOG_WHO, sw_lua_sandbox_guard(L)->call_id, "%s", msg);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Building the state                                                        */
/* ------------------------------------------------------------------------- */

/* Replaces table[name] (table on top of the stack) with a C closure whose
 * only upvalue is the function it replaces. */
static void wrap_field(lua_State *L, const char *name, lua_CFunction wrapper)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, name);
}

static void set_field_nil(lua_State *L, const char *name)
{
    lua_pushnil(L);
    lua_setfield(L, -2, name);
}

/* Globals of the base library, made safe. Globals table on top. */
static void restrict_base(lua_State *L)
{
    set_field_nil(L, "dofile");   /* reads files, and binary chunks */
    set_field_nil(L, "loadfile");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, -2, "print");
    lua_pushcfunction(L, sandbox_pcall);
    lua_setfield(L, -2, "pcall");
    lua_pushcfunction(L, sandbox_xpcall);
    lua_setfield(L, -2, "xpcall");
    wrap_field(L, "load", sandbox_load);
    wrap_field(L, "setmetatable", sandbox_setmetatable);
    wrap_field(L, "collectgarbage", sandbox_collectgarbage);
}

/* The coroutine library (table on top) with its catching functions wrapped. */
static void restrict_coroutine(lua_State *L)
{
    wrap_field(L, "create", sandbox_coroutine_create);
    lua_getfield(L, -1, "resume"); /* original, for wrap, before it is replaced */
    lua_pushcclosure(L, sandbox_coroutine_wrap, 1);
    lua_setfield(L, -2, "wrap");
    wrap_field(L, "resume", sandbox_coroutine_resume);
    wrap_field(L, "close", sandbox_coroutine_close);
}

/* Global `os` with only the functions that read the clock or environment.
 * The full library is built off the books (not in package.loaded) and
 * dropped. */
static void install_restricted_os(lua_State *L)
{
    static const char *const allowed[] = {"clock", "date", "difftime", "time", "getenv", NULL};
    lua_pushcfunction(L, luaopen_os);
    lua_call(L, 0, 1);
    lua_createtable(L, 0, 5);
    for (const char *const *name = allowed; *name; name++) {
        lua_getfield(L, -2, *name);
        lua_setfield(L, -2, *name);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
}

/* Global `sw`: logging, version and prefix tables; the engine adds module
 * tables. */
static void install_sw_table(lua_State *L)
{
    static const struct {
        const char *name;
        sw_log_level_t level;
    } levels[] = {{"ERROR", SW_LOG_ERROR},
                  {"WARN", SW_LOG_WARN},
                  {"NOTICE", SW_LOG_NOTICE},
                  {"INFO", SW_LOG_INFO},
                  {"DEBUG", SW_LOG_DEBUG}};
    lua_newtable(L);
    lua_pushcfunction(L, sandbox_sw_log);
    lua_setfield(L, -2, "log");
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        lua_pushinteger(L, levels[i].level);
        lua_setfield(L, -2, levels[i].name);
    }
    lua_pushliteral(L, SIPSWITCH_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushcfunction(L, sw_lua_prefix_open);
    lua_call(L, 0, 1);
    lua_setfield(L, -2, "prefix");
    lua_setglobal(L, "sw");
}

int sw_lua_sandbox_open(lua_State *L)
{
    /* Only these; io, package (require), debug and the rest of os are never
     * opened. */
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    install_restricted_os(L);

    lua_pushglobaltable(L);
    restrict_base(L);
    lua_pop(L, 1);

    lua_getglobal(L, LUA_COLIBNAME);
    restrict_coroutine(L);
    lua_pop(L, 1);

    install_sw_table(L);
    return 0;
}

/* Reached only if an error escapes every protected call, which the engine
 * never allows; Lua aborts after this returns. */
static int sandbox_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)";
    sw_logf(SW_LOG_ERROR, LOG_WHO, NULL, "unprotected Lua error, aborting: %s", msg);
    return 0;
}

lua_State *sw_lua_sandbox_new_state(sw_lua_guard_t *guard)
{
    lua_State *L = lua_newstate(guarded_alloc, guard);
    if (!L)
        return NULL;
    lua_atpanic(L, sandbox_panic);
    lua_setwarnf(L, sandbox_warning, guard);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, SW_LUA_HOOK_INTERVAL);
    return L;
}
