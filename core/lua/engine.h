/* The Lua 5.4 routing engine: one state on the signaling thread, replaced
 * atomically on reload, sandboxed, with an instruction budget per call and a
 * memory cap. */
#ifndef SW_LUA_ENGINE_H
#define SW_LUA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipswitch/module.h"

struct lua_State;

typedef struct sw_lua_limits {
    uint64_t instruction_budget;  /* VM instructions allowed per call (and for the top level); 0 = none */
    size_t memory_limit;          /* bytes the state may allocate; 0 = no cap */
} sw_lua_limits_t;

/* Limits of a new engine until a load or set_limits gives others. */
#define SW_LUA_DEFAULT_INSTRUCTION_BUDGET 1000000u
#define SW_LUA_DEFAULT_MEMORY_LIMIT ((size_t)64 * 1024 * 1024)

/* Argument specs of module functions (sw_lua_func_t.args), as enforced:
 *
 *   spec := letters [ '|' letters ] [ '*' ]      NULL or "" = no argument
 *   's'  a string (numbers are NOT converted)
 *   'i'  an integer: a Lua integer or a float with an exact integer value
 *        (3.0); a numeric string is refused
 *   'n'  a number (integer or float; strings refused)
 *   'b'  a boolean (true or false only)
 *   'a'  any value, nil included
 *
 * Letters before '|' are required, letters after it optional; an optional
 * argument may be passed as nil, meaning absent (check lua_arg_type). A '*',
 * only allowed as the last character, lets the last letter repeat: any
 * number of further arguments of its type may follow. The letter itself
 * stays required or optional like any other, so "s*" is one or more strings,
 * "|s*" zero or more, "si|b*" a string, an integer and any number of
 * booleans. At most SW_LUA_MAX_SPEC_LETTERS letters. A function with an
 * invalid spec is not installed (logged as an error).
 *
 * Violations raise a Lua error in the script ("file:line: " prefixed):
 *   sw.<module>.<fn>: missing argument N
 *   sw.<module>.<fn>: too many arguments (at most N expected, got M)
 *   sw.<module>.<fn>: argument N: integer expected, got string
 * A function returning -1 raises "sw.<module>.<fn>: <message of
 * lua_error>" ("sw.<module>.<fn>: failed" if it gave none); its pushed
 * results are then discarded. Results and the error are only turned into Lua
 * values after fn returns, so module code is never unwound by a longjmp. */
#define SW_LUA_MAX_SPEC_LETTERS 32

/* A module's exported functions, to be installed as sw.<module>.<fn> in every
 * state the engine creates. */
typedef struct sw_lua_module_funcs {
    const char *module;           /* table name */
    sw_module_t *self;            /* passed back to fn */
    const sw_lua_func_t *funcs;   /* array ended by size == 0 (element stride = funcs[i].size) */
} sw_lua_module_funcs_t;

typedef struct sw_lua_engine sw_lua_engine_t;

sw_lua_engine_t *sw_lua_engine_new(void);
void sw_lua_engine_free(sw_lua_engine_t *e);

/* Registers module functions (before the first load; kept across reloads).
 * The module name and the funcs elements are copied; the strings they point
 * to (function names, specs), the functions and self must stay valid as long
 * as the engine. A module whose name is already taken in `sw`
 * (by another module or by sw.log, sw.version, ...) is skipped with an error
 * log when states are built. */
void sw_lua_engine_add_module(sw_lua_engine_t *e, const sw_lua_module_funcs_t *mf);

/* Compiles `path` (text only: precompiled chunks are refused) into a fresh
 * sandboxed state with the module tables, runs its top level within the
 * limits and, on success, replaces the current state (the old one is closed)
 * and adopts `limits` (NULL: keep the engine's). On failure the current state
 * is untouched, `err` receives "file:line: reason" (or "file: reason"),
 * sw_metrics.script_loads_refused is counted and -1 is returned. A success
 * is logged at info level; a failure is not: the caller reports err. */
int sw_lua_engine_load(sw_lua_engine_t *e, const char *path, const sw_lua_limits_t *limits,
                       char *err, size_t errlen);

/* Same checks as load, with the module tables of `e` (may be NULL: no
 * module), but the state is discarded and `e` is not changed (for --check).
 * limits NULL: those of `e`, or the defaults. */
int sw_lua_engine_check(const sw_lua_engine_t *e, const char *path, const sw_lua_limits_t *limits,
                        char *err, size_t errlen);

/* The current state (NULL before the first load), for tests and
 * diagnostics: valid until the next load, and its stack must be left as
 * found. */
struct lua_State *sw_lua_engine_state(const sw_lua_engine_t *e);

/* Bytes the current state has allocated (0 when none is loaded). */
size_t sw_lua_engine_memory_used(const sw_lua_engine_t *e);

/* Compiles `path` without running anything: syntax errors as "file:line: ..."
 * (for --check when the cfg already has errors and modules cannot be set up). */
int sw_lua_engine_compile_only(const char *path, char *err, size_t errlen);

bool sw_lua_engine_loaded(const sw_lua_engine_t *e);
const char *sw_lua_engine_path(const sw_lua_engine_t *e);
bool sw_lua_engine_has_function(const sw_lua_engine_t *e, const char *name);
void sw_lua_engine_set_limits(sw_lua_engine_t *e, const sw_lua_limits_t *limits);

/* Calls global function `fn`. `push_args` (may be NULL) pushes the arguments
 * and returns how many; `read_results` (may be NULL) reads `nresults` values
 * left on the stack (top is -1) before they are popped. Both run in protected
 * mode, inside the budget: they may raise Lua errors (luaL_check*), which
 * fail the call like a script error, and must not keep stack references.
 * The instruction budget applies and cannot be caught by pcall inside the
 * script. Returns 0 on success, -1 on a runtime error or exhausted budget
 * (err: the message with "file:line:" and a traceback, "...instruction budget
 * exceeded..." for the budget; logged with call_id at error level). Metrics:
 * lua_calls and lua_time_us for every call that ran; lua_errors for every
 * failed one, and lua_budget_exceeded as well when the budget stopped it.
 * -1 without running anything, nor counting, when no script is loaded, `fn`
 * is not a function ("no function 'fn' in script") or the engine is already
 * inside a call (nested calls are refused). */
typedef int (*sw_lua_push_fn)(struct lua_State *L, void *ud);
typedef void (*sw_lua_read_fn)(struct lua_State *L, void *ud);
int sw_lua_engine_call(sw_lua_engine_t *e, const char *fn, const char *call_id,
                       sw_lua_push_fn push_args, int nresults, sw_lua_read_fn read_results,
                       void *ud, char *err, size_t errlen);

/* sw_api_t entries for module Lua functions (implemented in engine.c).
 * Argument indexes are 0-based; out of range or of another type, the getters
 * return SW_LUA_NIL / 0 / 0.0 / NULL (a number is not converted to a string,
 * a float is truncated by lua_arg_int). lua_arg_bool is Lua truthiness. The
 * string of lua_arg_str lives until fn returns. lua_push_str copies; a NULL
 * s pushes nil. None of them raises. */
size_t sw_lua_arg_count(const sw_lua_args_t *a);
sw_lua_type_t sw_lua_arg_type(const sw_lua_args_t *a, size_t i);
int64_t sw_lua_arg_int(const sw_lua_args_t *a, size_t i);
double sw_lua_arg_number(const sw_lua_args_t *a, size_t i);
int sw_lua_arg_bool(const sw_lua_args_t *a, size_t i);
const char *sw_lua_arg_str(const sw_lua_args_t *a, size_t i, size_t *len);
void sw_lua_push_nil(sw_lua_ret_t *r);
void sw_lua_push_bool(sw_lua_ret_t *r, int v);
void sw_lua_push_int(sw_lua_ret_t *r, int64_t v);
void sw_lua_push_number(sw_lua_ret_t *r, double v);
void sw_lua_push_str(sw_lua_ret_t *r, const char *s, size_t len);
void sw_lua_push_table(sw_lua_ret_t *r);
void sw_lua_table_end(sw_lua_ret_t *r);
int sw_lua_error(sw_lua_ret_t *r, const char *fmt, ...) SW_PRINTF(2, 3);

#endif
