/* The Lua routing engine: loads the script into a fresh sandboxed state,
 * swaps it in only when its top level ran cleanly, calls its functions under
 * the instruction budget and memory cap, and exposes module functions as
 * sw.<module>.<name>.
 *
 * Everything that can allocate inside a state (and so raise "not enough
 * memory" once the cap is reached) runs under lua_pcall: an error outside
 * protected mode would abort the daemon through Lua's panic handler. */
#include "config.h"

#include "lua/engine.h"

#include <lauxlib.h>
#include <lua.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call/dialplan.h"
#include "log.h"
#include "lua/prefix.h"
#include "lua/sandbox.h"
#include "stats/metrics.h"

#define LOG_WHO "lua"

/* ------------------------------------------------------------------------- */
/* Module function bindings                                                  */
/* ------------------------------------------------------------------------- */

/* One module function as installed in every state: the C closure's upvalue
 * points here, so bindings never move once created. */
struct sw_lua_binding {
    sw_lua_func_t func;            /* copied, zero-extended for older modules */
    sw_module_t *self;
    char *qualified_name;          /* "sw.<module>.<name>", for error messages */
    char letters[SW_LUA_MAX_SPEC_LETTERS]; /* one type letter per position */
    size_t letter_count;
    size_t required_count;         /* letters before '|' */
    bool last_repeats;             /* spec ends with '*' */
};

struct sw_lua_module_entry {
    char *name;
    struct sw_lua_binding *bindings; /* allocated once, never moved */
    size_t binding_count;
};

struct sw_lua_engine {
    lua_State *L;                  /* current state, NULL before the first load */
    sw_lua_guard_t *guard;         /* its accounting; freed after lua_close */
    char *path;                    /* script the current state came from */
    sw_lua_limits_t limits;
    struct sw_lua_module_entry *modules;
    size_t module_count;
    bool in_call;                  /* a sw_lua_engine_call is running */
};

/* Arguments as seen by a module function: stack slots 1..count of the
 * closure's frame. */
struct sw_lua_args {
    lua_State *L;
    int count;
};

/* One result pushed by a module function, kept in C memory until fn has
 * returned. */
struct sw_lua_value {
    sw_lua_type_t type;
    union {
        int boolean;
        int64_t integer;
        double number;
        struct {
            char *data;
            size_t len;
        } str;
    } u;
};

#define SW_LUA_INLINE_RESULTS 8

/* Marks in the stored results around the fields of a table (lua_push_table
 * .. lua_table_end): outside sw_lua_type_t's range, never seen by modules. */
#define SW_LUA_TABLE_BEGIN ((sw_lua_type_t)100)
#define SW_LUA_TABLE_END ((sw_lua_type_t)101)
/* Tables inside tables, at most (a module bug beyond: the rest is dropped). */
#define SW_LUA_MAX_TABLE_DEPTH 16

/* Results and error of a module function. Lives on the C stack of the
 * closure; only malloc'd memory is used while the module runs. */
struct sw_lua_ret {
    struct sw_lua_value inline_values[SW_LUA_INLINE_RESULTS];
    struct sw_lua_value *values;   /* inline_values or a heap array */
    size_t count, capacity;
    bool out_of_memory;            /* a push could not be stored */
    bool failed;                   /* sw_lua_error was called */
    int open_tables;               /* lua_push_table without its lua_table_end yet */
    char message[512];
};

static void copy_error(char *err, size_t errlen, const char *fmt, ...) SW_PRINTF(3, 4);

static void copy_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *duplicate_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, s, len);
    return copy;
}

/* Parses a spec into `b` (see engine.h for the grammar). false if invalid. */
static bool parse_spec(const char *spec, struct sw_lua_binding *b)
{
    bool seen_bar = false;
    b->letter_count = 0;
    b->required_count = 0;
    b->last_repeats = false;
    for (const char *p = spec ? spec : ""; *p; p++) {
        if (*p == '|') {
            if (seen_bar)
                return false;
            seen_bar = true;
            b->required_count = b->letter_count;
        } else if (*p == '*') {
            /* Only last, and right after a letter. */
            if (p[1] != '\0' || p == spec || p[-1] == '|')
                return false;
            b->last_repeats = true;
        } else if (strchr("sinba", *p)) {
            if (b->letter_count == SW_LUA_MAX_SPEC_LETTERS)
                return false;
            b->letters[b->letter_count++] = *p;
        } else {
            return false;
        }
    }
    if (!seen_bar)
        b->required_count = b->letter_count;
    return true;
}

void sw_lua_engine_add_module(sw_lua_engine_t *e, const sw_lua_module_funcs_t *mf)
{
    if (!e || !mf || !mf->module || !mf->funcs)
        return;

    /* Count elements by their own size: an older module's elements are
     * smaller than ours. */
    size_t count = 0;
    const unsigned char *cursor = (const unsigned char *)mf->funcs;
    for (uint32_t size; (size = ((const sw_lua_func_t *)(const void *)cursor)->size) != 0;
         cursor += size)
        count++;

    struct sw_lua_module_entry *modules =
        realloc(e->modules, (e->module_count + 1) * sizeof *modules);
    if (!modules)
        goto out_of_memory;
    e->modules = modules;
    struct sw_lua_module_entry *entry = &modules[e->module_count];
    memset(entry, 0, sizeof *entry);
    entry->name = duplicate_string(mf->module);
    entry->bindings = calloc(count ? count : 1, sizeof *entry->bindings);
    if (!entry->name || !entry->bindings) {
        free(entry->name);
        free(entry->bindings);
        goto out_of_memory;
    }
    e->module_count++;

    cursor = (const unsigned char *)mf->funcs;
    for (size_t i = 0; i < count; i++) {
        const sw_lua_func_t *element = (const sw_lua_func_t *)(const void *)cursor;
        uint32_t element_size = element->size;
        cursor += element_size;

        struct sw_lua_binding *b = &entry->bindings[entry->binding_count];
        memset(b, 0, sizeof *b);
        memcpy(&b->func, element,
               element_size < sizeof b->func ? element_size : sizeof b->func);
        if (!b->func.name || !b->func.fn) {
            sw_logf(SW_LOG_ERROR, LOG_WHO, NULL, "module %s: Lua function #%zu has no name or "
                    "no function, skipped", mf->module, i + 1);
            continue;
        }
        if (!parse_spec(b->func.args, b)) {
            sw_logf(SW_LOG_ERROR, LOG_WHO, NULL, "module %s: Lua function %s: invalid argument "
                    "spec \"%s\", skipped", mf->module, b->func.name, b->func.args);
            continue;
        }
        size_t qlen = strlen(mf->module) + strlen(b->func.name) + sizeof "sw..";
        b->qualified_name = malloc(qlen);
        if (!b->qualified_name)
            goto out_of_memory;
        snprintf(b->qualified_name, qlen, "sw.%s.%s", mf->module, b->func.name);
        b->self = mf->self;
        entry->binding_count++;
    }
    return;

out_of_memory:
    sw_logf(SW_LOG_ERROR, LOG_WHO, NULL, "module %s: out of memory registering Lua functions",
            mf->module);
}

/* ------------------------------------------------------------------------- */
/* Calling a module function from Lua                                        */
/* ------------------------------------------------------------------------- */

static const char *letter_type_name(char letter)
{
    switch (letter) {
    case 's': return "string";
    case 'i': return "integer";
    case 'n': return "number";
    case 'b': return "boolean";
    default: return "value";
    }
}

static bool argument_matches(lua_State *L, int idx, char letter)
{
    switch (letter) {
    case 's':
        return lua_type(L, idx) == LUA_TSTRING;
    case 'i': {
        if (lua_type(L, idx) != LUA_TNUMBER)
            return false;
        int exact = 0;
        lua_tointegerx(L, idx, &exact); /* accepts 3.0, refuses 3.5 */
        return exact != 0;
    }
    case 'n':
        return lua_type(L, idx) == LUA_TNUMBER;
    case 'b':
        return lua_type(L, idx) == LUA_TBOOLEAN;
    default:
        return true;
    }
}

/* Raises the documented errors when the call does not match the spec. */
static void check_arguments(lua_State *L, const struct sw_lua_binding *b)
{
    int nargs = lua_gettop(L);
    if ((size_t)nargs < b->required_count)
        luaL_error(L, "%s: missing argument %d", b->qualified_name, nargs + 1);
    if (!b->last_repeats && (size_t)nargs > b->letter_count)
        luaL_error(L, "%s: too many arguments (at most %d expected, got %d)", b->qualified_name,
                   (int)b->letter_count, nargs);
    for (int i = 1; i <= nargs; i++) {
        size_t position = (size_t)i - 1;
        char letter = position < b->letter_count ? b->letters[position]
                                                 : b->letters[b->letter_count - 1];
        if (position >= b->required_count && lua_isnil(L, i))
            continue; /* an optional argument left out */
        if (!argument_matches(L, i, letter))
            luaL_error(L, "%s: argument %d: %s expected, got %s", b->qualified_name, i,
                       letter_type_name(letter), luaL_typename(L, i));
    }
}

static void free_results(struct sw_lua_ret *r)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->values[i].type == SW_LUA_STRING)
            free(r->values[i].u.str.data);
    if (r->values != r->inline_values)
        free(r->values);
    r->values = r->inline_values;
    r->count = 0;
    r->capacity = SW_LUA_INLINE_RESULTS;
}

/* A free slot for one more result, or NULL (remembered) if out of memory. */
static struct sw_lua_value *new_result(sw_lua_ret_t *r)
{
    if (!r || r->out_of_memory)
        return NULL;
    if (r->count == r->capacity) {
        size_t capacity = r->capacity * 2;
        struct sw_lua_value *values =
            r->values == r->inline_values ? malloc(capacity * sizeof *values)
                                          : realloc(r->values, capacity * sizeof *values);
        if (!values) {
            r->out_of_memory = true;
            return NULL;
        }
        if (r->values == r->inline_values)
            memcpy(values, r->inline_values, r->count * sizeof *values);
        r->values = values;
        r->capacity = capacity;
    }
    return &r->values[r->count++];
}

/* Pushes stored result *i (a scalar, or a whole table with its fields) and
 * moves *i past it. */
static void push_stored_value(lua_State *L, const struct sw_lua_ret *r, size_t *i)
{
    const struct sw_lua_value *v = &r->values[(*i)++];
    switch ((int)v->type) { /* the table marks are outside the enum */
    case SW_LUA_BOOLEAN: lua_pushboolean(L, v->u.boolean); break;
    case SW_LUA_INTEGER: lua_pushinteger(L, (lua_Integer)v->u.integer); break;
    case SW_LUA_NUMBER: lua_pushnumber(L, v->u.number); break;
    case SW_LUA_STRING: lua_pushlstring(L, v->u.str.data, v->u.str.len); break;
    case SW_LUA_TABLE_BEGIN:
        luaL_checkstack(L, 3, "nested results");
        lua_newtable(L);
        /* key, value pairs up to the matching end; a nil key or value, or a
         * key without a value, sets nothing */
        while (*i < r->count && r->values[*i].type != SW_LUA_TABLE_END) {
            push_stored_value(L, r, i);
            if (*i >= r->count || r->values[*i].type == SW_LUA_TABLE_END) {
                lua_pop(L, 1);
                break;
            }
            push_stored_value(L, r, i);
            bool nan_key = lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) != lua_tonumber(L, -2);
            if (lua_isnil(L, -2) || lua_isnil(L, -1) || nan_key)
                lua_pop(L, 2);
            else
                lua_settable(L, -3);
        }
        if (*i < r->count)
            (*i)++; /* the end mark */
        break;
    default: lua_pushnil(L); break; /* nil, or a stray end mark */
    }
}

/* Protected helper: pushes the stored results (arg 1: the sw_lua_ret). */
static int push_stored_results(lua_State *L)
{
    const struct sw_lua_ret *r = lua_touserdata(L, 1);
    lua_pop(L, 1);
    int n = 0;
    for (size_t i = 0; i < r->count; n++) {
        luaL_checkstack(L, 1, "too many results");
        push_stored_value(L, r, &i);
    }
    return n;
}

/* The C closure behind every sw.<module>.<name>. Upvalue: its binding. */
static int call_module_function(lua_State *L)
{
    const struct sw_lua_binding *b = lua_touserdata(L, lua_upvalueindex(1));
    check_arguments(L, b);

    struct sw_lua_args args = {.L = L, .count = lua_gettop(L)};
    struct sw_lua_ret ret;
    memset(&ret, 0, sizeof ret);
    ret.values = ret.inline_values;
    ret.capacity = SW_LUA_INLINE_RESULTS;

    int rc = b->func.fn(b->self, &args, &ret);
    while (ret.open_tables > 0 && !ret.out_of_memory) /* a table the module left open ends here */
        sw_lua_table_end(&ret);

    /* From here on Lua may raise again: nothing the module owns is live. */
    if (rc != 0 || ret.failed) {
        free_results(&ret);
        return luaL_error(L, "%s: %s", b->qualified_name, ret.failed ? ret.message : "failed");
    }
    if (ret.out_of_memory) {
        free_results(&ret);
        return luaL_error(L, "%s: not enough memory for the results", b->qualified_name);
    }
    /* Pushing allocates and may fail: do it protected so the C copies are
     * freed whatever happens, then re-raise. */
    int before = lua_gettop(L);
    lua_pushcfunction(L, push_stored_results);
    lua_pushlightuserdata(L, &ret);
    int status = lua_pcall(L, 1, LUA_MULTRET, 0);
    free_results(&ret);
    if (status != LUA_OK)
        return lua_error(L);
    return lua_gettop(L) - before;
}

/* Index helper: the Lua stack slot of 0-based argument i, or 0. */
static int argument_slot(const sw_lua_args_t *a, size_t i)
{
    if (!a || i >= (size_t)a->count)
        return 0;
    return (int)i + 1;
}

size_t sw_lua_arg_count(const sw_lua_args_t *a)
{
    return a ? (size_t)a->count : 0;
}

sw_lua_type_t sw_lua_arg_type(const sw_lua_args_t *a, size_t i)
{
    int slot = argument_slot(a, i);
    if (!slot)
        return SW_LUA_NIL;
    switch (lua_type(a->L, slot)) {
    case LUA_TNIL: return SW_LUA_NIL;
    case LUA_TBOOLEAN: return SW_LUA_BOOLEAN;
    case LUA_TNUMBER: return lua_isinteger(a->L, slot) ? SW_LUA_INTEGER : SW_LUA_NUMBER;
    case LUA_TSTRING: return SW_LUA_STRING;
    default: return SW_LUA_OTHER;
    }
}

int64_t sw_lua_arg_int(const sw_lua_args_t *a, size_t i)
{
    int slot = argument_slot(a, i);
    if (!slot || lua_type(a->L, slot) != LUA_TNUMBER)
        return 0;
    int exact = 0;
    lua_Integer v = lua_tointegerx(a->L, slot, &exact);
    if (exact)
        return (int64_t)v;
    /* A float: truncate when it fits, else 0 (also for NaN). */
    double d = lua_tonumber(a->L, slot);
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return (int64_t)d;
    return 0;
}

double sw_lua_arg_number(const sw_lua_args_t *a, size_t i)
{
    int slot = argument_slot(a, i);
    if (!slot || lua_type(a->L, slot) != LUA_TNUMBER)
        return 0.0;
    return (double)lua_tonumber(a->L, slot);
}

int sw_lua_arg_bool(const sw_lua_args_t *a, size_t i)
{
    int slot = argument_slot(a, i);
    return slot ? lua_toboolean(a->L, slot) : 0;
}

const char *sw_lua_arg_str(const sw_lua_args_t *a, size_t i, size_t *len)
{
    int slot = argument_slot(a, i);
    /* Only real strings: lua_tolstring would convert a number in place,
     * which allocates and could raise inside module code. */
    if (!slot || lua_type(a->L, slot) != LUA_TSTRING) {
        if (len)
            *len = 0;
        return NULL;
    }
    return lua_tolstring(a->L, slot, len);
}

void sw_lua_push_table(sw_lua_ret_t *r)
{
    if (r->open_tables >= SW_LUA_MAX_TABLE_DEPTH) {
        r->out_of_memory = true; /* reported as a failed push */
        return;
    }
    struct sw_lua_value *v = new_result(r);
    if (v) {
        v->type = SW_LUA_TABLE_BEGIN;
        r->open_tables++;
    }
}

void sw_lua_table_end(sw_lua_ret_t *r)
{
    if (r->open_tables <= 0)
        return; /* no table open: nothing to end */
    struct sw_lua_value *v = new_result(r);
    if (v) {
        v->type = SW_LUA_TABLE_END;
        r->open_tables--;
    }
}

void sw_lua_push_nil(sw_lua_ret_t *r)
{
    struct sw_lua_value *v = new_result(r);
    if (v)
        v->type = SW_LUA_NIL;
}

void sw_lua_push_bool(sw_lua_ret_t *r, int value)
{
    struct sw_lua_value *v = new_result(r);
    if (v) {
        v->type = SW_LUA_BOOLEAN;
        v->u.boolean = value != 0;
    }
}

void sw_lua_push_int(sw_lua_ret_t *r, int64_t value)
{
    struct sw_lua_value *v = new_result(r);
    if (v) {
        v->type = SW_LUA_INTEGER;
        v->u.integer = value;
    }
}

void sw_lua_push_number(sw_lua_ret_t *r, double value)
{
    struct sw_lua_value *v = new_result(r);
    if (v) {
        v->type = SW_LUA_NUMBER;
        v->u.number = value;
    }
}

void sw_lua_push_str(sw_lua_ret_t *r, const char *s, size_t len)
{
    if (!s) {
        sw_lua_push_nil(r);
        return;
    }
    struct sw_lua_value *v = new_result(r);
    if (!v)
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        r->count--; /* give the slot back */
        r->out_of_memory = true;
        return;
    }
    memcpy(copy, s, len);
    v->type = SW_LUA_STRING;
    v->u.str.data = copy;
    v->u.str.len = len;
}

int sw_lua_error(sw_lua_ret_t *r, const char *fmt, ...)
{
    if (!r)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->failed = true;
    return -1;
}

/* Protected helper: adds sw.<module> tables (arg 1: the engine, may be NULL)
 * to the `sw` global the sandbox made. */
static int install_module_tables(lua_State *L)
{
    const sw_lua_engine_t *e = lua_touserdata(L, 1);
    if (!e)
        return 0;
    lua_getglobal(L, "sw");
    for (size_t m = 0; m < e->module_count; m++) {
        const struct sw_lua_module_entry *entry = &e->modules[m];
        if (lua_getfield(L, -1, entry->name) != LUA_TNIL) {
            sw_logf(SW_LOG_ERROR, LOG_WHO, NULL, "module %s: sw.%s already exists, its Lua "
                    "functions are not installed", entry->name, entry->name);
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 1);
        lua_createtable(L, 0, (int)entry->binding_count);
        for (size_t i = 0; i < entry->binding_count; i++) {
            /* The binding is never written through the closure. */
            lua_pushlightuserdata(L, (void *)&entry->bindings[i]);
            lua_pushcclosure(L, call_module_function, 1);
            lua_setfield(L, -2, entry->bindings[i].func.name);
        }
        lua_setfield(L, -2, entry->name);
    }
    lua_pop(L, 1);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Engine lifecycle                                                          */
/* ------------------------------------------------------------------------- */

sw_lua_engine_t *sw_lua_engine_new(void)
{
    sw_lua_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->limits.instruction_budget = SW_LUA_DEFAULT_INSTRUCTION_BUDGET;
    e->limits.memory_limit = SW_LUA_DEFAULT_MEMORY_LIMIT;
    return e;
}

/* Closes a state and frees its guard (which the allocator uses until the
 * very end of lua_close). Closing runs no script code (finalizers are
 * refused by the sandbox), but a fresh budget keeps it bounded regardless. */
static void close_state(lua_State *L, sw_lua_guard_t *guard)
{
    if (L) {
        sw_lua_sandbox_begin_run(L, NULL);
        lua_close(L);
    }
    free(guard);
}

void sw_lua_engine_free(sw_lua_engine_t *e)
{
    if (!e)
        return;
    close_state(e->L, e->guard);
    for (size_t m = 0; m < e->module_count; m++) {
        for (size_t i = 0; i < e->modules[m].binding_count; i++)
            free(e->modules[m].bindings[i].qualified_name);
        free(e->modules[m].bindings);
        free(e->modules[m].name);
    }
    free(e->modules);
    free(e->path);
    free(e);
}

bool sw_lua_engine_loaded(const sw_lua_engine_t *e)
{
    return e && e->L;
}

const char *sw_lua_engine_path(const sw_lua_engine_t *e)
{
    return e ? e->path : NULL;
}

lua_State *sw_lua_engine_state(const sw_lua_engine_t *e)
{
    return e ? e->L : NULL;
}

size_t sw_lua_engine_memory_used(const sw_lua_engine_t *e)
{
    return e && e->guard ? e->guard->memory_used : 0;
}

void sw_lua_engine_set_limits(sw_lua_engine_t *e, const sw_lua_limits_t *limits)
{
    if (!e || !limits)
        return;
    e->limits = *limits;
    if (e->guard) {
        e->guard->instruction_budget = limits->instruction_budget;
        e->guard->memory_limit = limits->memory_limit;
    }
}

/* Text of the error object on top of the stack, without running any script
 * code (no __tostring): it may be reported after the budget ran out. */
static const char *error_text(lua_State *L, int idx)
{
    int type = lua_type(L, idx);
    if (type == LUA_TSTRING || type == LUA_TNUMBER)
        return lua_tostring(L, idx); /* converting a number allocates: caller is protected */
    if (type == LUA_TNIL)
        return "(error object is nil)";
    return lua_pushfstring(L, "(error object is a %s value)", lua_typename(L, type));
}

/* Protected helper of build_state: opens the sandbox, installs the module
 * tables and compiles the script, leaving the main chunk on the stack. */
struct build_request {
    const sw_lua_engine_t *engine;
    const char *path;
};

static int open_and_compile(lua_State *L)
{
    const struct build_request *req = lua_touserdata(L, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, sw_lua_sandbox_open);
    lua_call(L, 0, 0);
    /* sw.dialplan: the cfg's dial plans (call/dialplan.c); before the
     * module tables, so that a module named "dialplan" is refused */
    lua_getglobal(L, "sw");
    sw_dialplan_lua_open(L);
    lua_setfield(L, -2, "dialplan");
    lua_pop(L, 1);
    lua_pushcfunction(L, install_module_tables);
    lua_pushlightuserdata(L, (void *)req->engine);
    lua_call(L, 1, 0);
    /* CSV files of sw.prefix.load are found next to the script, and may be
     * read only until the top level has run. */
    sw_lua_prefix_begin_script_load(L, req->path);
    /* Text only: a precompiled chunk is unchecked bytecode. The message of a
     * syntax error already reads "path:line: ...". */
    if (luaL_loadfilex(L, req->path, "t") != LUA_OK)
        return lua_error(L);
    return 1;
}

/* Formats a load failure as "path: reason" unless the message already
 * starts with the path (Lua's "path:line: ..."; "..." when Lua shortened a
 * long path). Error object on top of the stack; called protected. */
static int describe_load_error(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);
    const char *msg = error_text(L, 2);
    size_t path_len = strlen(path);
    bool has_path = (strncmp(msg, path, path_len) == 0 && msg[path_len] == ':') ||
                    strncmp(msg, "...", 3) == 0;
    if (has_path)
        lua_pushstring(L, msg);
    else
        lua_pushfstring(L, "%s: %s", path, msg);
    return 1;
}

/* Copies the reason of a failed load into err. The error object is on top
 * of the stack of L. */
static void report_load_error(lua_State *L, int status, const char *path,
                              const sw_lua_guard_t *guard, char *err, size_t errlen)
{
    if (status == LUA_ERRMEM) {
        copy_error(err, errlen, "%s: not enough memory (memory limit %zu bytes)", path,
                   guard->memory_limit);
        return;
    }
    /* Formatting allocates; if even that fails, say so plainly. */
    lua_pushcfunction(L, describe_load_error);
    lua_pushlightuserdata(L, (void *)path);
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
        copy_error(err, errlen, "%s", lua_tostring(L, -1));
    else
        copy_error(err, errlen, "%s: not enough memory (memory limit %zu bytes)", path,
                   guard->memory_limit);
    lua_pop(L, 1);
}

/* Builds a new state for `path` and runs its top level within `limits`.
 * On success returns the state (stack empty) and its guard. */
static lua_State *build_state(const sw_lua_engine_t *e, const char *path,
                              const sw_lua_limits_t *limits, sw_lua_guard_t **guard_out,
                              char *err, size_t errlen)
{
    if (!path || !*path) {
        copy_error(err, errlen, "no script file given");
        return NULL;
    }
    /* Checked first so a missing file reads "path: reason" like any other
     * failure (Lua's own message has another shape). */
    FILE *probe = fopen(path, "r");
    if (!probe) {
        copy_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fclose(probe);

    sw_lua_guard_t *guard = calloc(1, sizeof *guard);
    if (!guard) {
        copy_error(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    guard->memory_limit = limits->memory_limit;
    guard->instruction_budget = limits->instruction_budget;
    lua_State *L = sw_lua_sandbox_new_state(guard);
    if (!L) {
        copy_error(err, errlen, "%s: not enough memory to create a Lua state (memory limit "
                   "%zu bytes)", path, limits->memory_limit);
        free(guard);
        return NULL;
    }

    struct build_request req = {.engine = e, .path = path};
    lua_pushcfunction(L, open_and_compile);
    lua_pushlightuserdata(L, &req);
    sw_lua_sandbox_begin_run(L, NULL);
    int status = lua_pcall(L, 1, 1, 0);
    if (status == LUA_OK) {
        /* The top level: errors keep their "path:line:" message, no
         * traceback, to fit the "file:line: reason" contract. */
        sw_lua_sandbox_begin_run(L, NULL);
        status = lua_pcall(L, 0, 0, 0);
        if (status != LUA_OK)
            report_load_error(L, status, path, guard, err, errlen);
        sw_lua_prefix_end_script_load(L);
        if (guard->budget_exhausted && status != LUA_ERRMEM &&
            !(err && errlen && strstr(err, "instruction budget exceeded"))) {
            /* The script replaced the message (error() in a handler) or,
             * somehow, swallowed the error: say what stopped it. */
            copy_error(err, errlen, "%s: instruction budget exceeded (%llu instructions)", path,
                       (unsigned long long)limits->instruction_budget);
            status = LUA_ERRRUN;
        }
    } else {
        report_load_error(L, status, path, guard, err, errlen);
    }
    sw_lua_sandbox_end_run(L);

    if (status != LUA_OK) {
        close_state(L, guard);
        return NULL;
    }
    lua_settop(L, 0);
    /* Start calls from a clean heap: the top level's garbage is not
     * charged to the first call's memory. */
    lua_gc(L, LUA_GCCOLLECT);
    *guard_out = guard;
    return L;
}

int sw_lua_engine_load(sw_lua_engine_t *e, const char *path, const sw_lua_limits_t *limits,
                       char *err, size_t errlen)
{
    if (!e) {
        copy_error(err, errlen, "no Lua engine");
        return -1;
    }
    if (e->in_call) {
        /* Closing the state that is running would pull it from under the
         * call in progress. */
        copy_error(err, errlen, "%s: cannot load a script from inside a Lua call",
                   path ? path : "?");
        sw_metric_inc(&sw_metrics.script_loads_refused);
        return -1;
    }
    const sw_lua_limits_t *effective = limits ? limits : &e->limits;
    char *path_copy = path ? duplicate_string(path) : NULL;
    if (path && !path_copy) {
        copy_error(err, errlen, "%s: out of memory", path);
        sw_metric_inc(&sw_metrics.script_loads_refused);
        return -1;
    }

    sw_lua_guard_t *guard = NULL;
    lua_State *L = build_state(e, path, effective, &guard, err, errlen);
    if (!L) {
        free(path_copy);
        sw_metric_inc(&sw_metrics.script_loads_refused);
        return -1;
    }

    close_state(e->L, e->guard);
    e->L = L;
    e->guard = guard;
    e->limits = *effective;
    free(e->path);
    e->path = path_copy;
    sw_logf(SW_LOG_INFO, LOG_WHO, NULL, "script %s loaded (%zu bytes in use)", path,
            guard->memory_used);
    return 0;
}

int sw_lua_engine_check(const sw_lua_engine_t *e, const char *path,
                        const sw_lua_limits_t *limits, char *err, size_t errlen)
{
    sw_lua_limits_t defaults = {.instruction_budget = SW_LUA_DEFAULT_INSTRUCTION_BUDGET,
                                .memory_limit = SW_LUA_DEFAULT_MEMORY_LIMIT};
    if (!limits)
        limits = e ? &e->limits : &defaults;
    sw_lua_guard_t *guard = NULL;
    lua_State *L = build_state(e, path, limits, &guard, err, errlen);
    if (!L)
        return -1;
    close_state(L, guard);
    return 0;
}

int sw_lua_engine_compile_only(const char *path, char *err, size_t errlen)
{
    /* a plain state: nothing of the script runs, so no limits are needed */
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = 0;
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", msg ? msg : "cannot load");
        rc = -1;
    }
    lua_close(L);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Calling the script                                                        */
/* ------------------------------------------------------------------------- */

/* Protected helper of has_function: raw lookup (no __index of the script
 * runs) of global arg 1, leaves whether it is a function. */
static int lookup_function(lua_State *L)
{
    const char *name = lua_touserdata(L, 1);
    lua_pushglobaltable(L);
    lua_pushstring(L, name);
    lua_pushboolean(L, lua_rawget(L, -2) == LUA_TFUNCTION);
    return 1;
}

bool sw_lua_engine_has_function(const sw_lua_engine_t *e, const char *name)
{
    if (!e || !e->L || !name)
        return false;
    lua_State *L = e->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 2))
        return false;
    lua_pushcfunction(L, lookup_function);
    lua_pushlightuserdata(L, (void *)name);
    bool found = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
    lua_settop(L, top);
    return found;
}

/* Everything the protected body of a call needs. */
struct call_request {
    const char *fn;
    sw_lua_push_fn push_args;
    int nresults;
    sw_lua_read_fn read_results;
    void *ud;
    bool missing;                  /* fn is not a global function */
};

/* Protected body of a call: looks fn up, pushes the arguments, calls it and
 * hands the results to the reader. Errors propagate to the message handler
 * of the outer lua_pcall. */
static int run_call(lua_State *L)
{
    struct call_request *req = lua_touserdata(L, 1);
    lua_pop(L, 1);
    lua_pushglobaltable(L);
    lua_pushstring(L, req->fn);
    if (lua_rawget(L, -2) != LUA_TFUNCTION) {
        req->missing = true;
        return 0;
    }
    lua_remove(L, -2);
    int base = lua_gettop(L);
    int nargs = req->push_args ? req->push_args(L, req->ud) : 0;
    if (nargs < 0 || lua_gettop(L) != base + nargs)
        return luaL_error(L, "arguments of %s: pushed %d values but returned %d",
                          req->fn, lua_gettop(L) - base, nargs);
    lua_call(L, nargs, req->nresults);
    if (req->read_results)
        req->read_results(L, req->ud);
    return 0;
}

/* Message handler of calls: the error text followed by a traceback. Runs no
 * script code, as it may run after the budget is spent. */
static int add_traceback(lua_State *L)
{
    static const char engine_frame[] = "\n\t[C]: in ?";
    const char *msg = error_text(L, 1);
    luaL_traceback(L, L, msg, 1);
    /* The last frame is always run_call, which means nothing to the
     * script's author. */
    size_t len = 0;
    const char *traceback = lua_tolstring(L, -1, &len);
    size_t frame_len = sizeof engine_frame - 1;
    if (len > frame_len && memcmp(traceback + len - frame_len, engine_frame, frame_len) == 0)
        lua_pushlstring(L, traceback, len - frame_len);
    return 1;
}

/* Copies msg into out with newlines and tabs flattened, for one log line. */
static void flatten_for_log(const char *msg, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = msg; *p && n + 3 < outlen; p++) {
        if (*p == '\n') {
            out[n++] = ' ';
            out[n++] = '|';
            out[n++] = ' ';
        } else if (*p != '\t') {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int sw_lua_engine_call(sw_lua_engine_t *e, const char *fn, const char *call_id,
                       sw_lua_push_fn push_args, int nresults, sw_lua_read_fn read_results,
                       void *ud, char *err, size_t errlen)
{
    if (!e || !e->L) {
        copy_error(err, errlen, "no script loaded");
        return -1;
    }
    if (!fn) {
        copy_error(err, errlen, "no function name given");
        return -1;
    }
    if (e->in_call) {
        copy_error(err, errlen, "cannot call '%s' from inside a Lua call", fn);
        return -1;
    }
    lua_State *L = e->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 3)) {
        copy_error(err, errlen, "not enough memory to call '%s'", fn);
        return -1;
    }

    struct call_request req = {.fn = fn, .push_args = push_args,
                               .nresults = nresults < 0 ? 0 : nresults,
                               .read_results = read_results, .ud = ud};
    lua_pushcfunction(L, add_traceback);
    lua_pushcfunction(L, run_call);
    lua_pushlightuserdata(L, &req);

    e->in_call = true;
    sw_lua_sandbox_begin_run(L, call_id);
    uint64_t started = monotonic_us();
    int status = lua_pcall(L, 1, 0, top + 1);
    uint64_t elapsed = monotonic_us() - started;
    sw_lua_sandbox_end_run(L);
    e->in_call = false;

    if (status == LUA_OK && req.missing) {
        lua_settop(L, top);
        copy_error(err, errlen, "no function '%s' in script", fn);
        return -1;
    }

    sw_metric_inc(&sw_metrics.lua_calls);
    atomic_fetch_add_explicit(&sw_metrics.lua_time_us, elapsed, memory_order_relaxed);
    bool budget_stopped = e->guard->budget_exhausted;
    if (status == LUA_OK && !budget_stopped) {
        lua_settop(L, top);
        return 0;
    }

    /* The message handler already produced "msg\nstack traceback:..."
     * (except for memory errors, for which Lua does not call it). */
    char reason[1024] = "";
    if (status == LUA_ERRMEM)
        snprintf(reason, sizeof reason, "not enough memory (memory limit %zu bytes)",
                 e->guard->memory_limit);
    else if (status != LUA_OK)
        snprintf(reason, sizeof reason, "%s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no error message)");
    if (budget_stopped && !strstr(reason, "instruction budget exceeded")) {
        /* The script replaced the message (error() in a handler) or, somehow,
         * swallowed the error: the budget is what stopped it. */
        char original[sizeof reason];
        snprintf(original, sizeof original, "%s", reason);
        snprintf(reason, sizeof reason, "instruction budget exceeded (%llu instructions)%s%.900s",
                 (unsigned long long)e->guard->instruction_budget, *original ? ": " : "",
                 original);
    }
    lua_settop(L, top);

    sw_metric_inc(&sw_metrics.lua_errors);
    if (budget_stopped)
        sw_metric_inc(&sw_metrics.lua_budget_exceeded);
    if (status == LUA_ERRMEM)
        lua_gc(L, LUA_GCCOLLECT); /* give the next call its memory back now */

    char logged[sizeof reason];
    flatten_for_log(reason, logged, sizeof logged);
    sw_logf(SW_LOG_ERROR, LOG_WHO, call_id, "%s(): %s", fn, logged);
    copy_error(err, errlen, "%s", reason);
    return -1;
}
