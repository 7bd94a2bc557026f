/* The restricted environment a routing script runs in.
 *
 * The script is the operator's routing logic and runs on the signaling
 * thread, so it must neither block, end nor crash the process, and must not
 * run away with CPU or memory. This file builds such a state:
 *  - an allocator that accounts every byte and refuses to grow past a cap;
 *  - a count hook that stops the running call after an instruction budget,
 *    with every way the standard library offers to catch that error
 *    (pcall, xpcall, coroutine.resume/wrap/close, load with a reader
 *    function) wrapped so that it cannot be swallowed;
 *  - only safe libraries: base (without dofile/loadfile, with a text-only
 *    load and a logging print), table, string, math, utf8, coroutine, and
 *    os.clock/date/difftime/time/getenv;
 *  - the `sw` table: sw.log(level, msg), the level constants, sw.version.
 *
 * The engine (engine.c) owns the states; this file knows nothing of modules
 * or of reloading. */
#ifndef SW_LUA_SANDBOX_H
#define SW_LUA_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lua_State;

/* The count hook runs every this many VM instructions: the budget is
 * enforced with this granularity, and a coroutine may run up to this many
 * instructions before its first hook, so creating one is charged this much. */
#define SW_LUA_HOOK_INTERVAL 1000

/* Resource accounting of one state, shared by the allocator, the hook and the
 * sandbox functions. It is the allocator's user data, so any code holding the
 * state (or one of its coroutines) finds it with lua_getallocf(). It must
 * outlive the state: free it only after lua_close(). */
typedef struct sw_lua_guard {
    size_t memory_used;          /* bytes currently allocated by the state */
    size_t memory_limit;         /* allocations past this fail; 0 = no cap */
    uint64_t instruction_budget; /* per run; 0 = no budget */
    uint64_t instructions_used;  /* in the current run, counted by the hook */
    bool budget_exhausted;       /* set by the hook; makes the error uncatchable */
    const char *call_id;         /* of the running call, for print/sw.log; may be NULL */
    char warning[256];           /* a warn() message being assembled */
    size_t warning_len;
} sw_lua_guard_t;

/* Creates a bare state allocating through `guard` (which the caller has
 * zeroed and given its limits), with the count hook armed and a panic handler
 * that logs. No library is open yet. NULL if memory runs out. */
struct lua_State *sw_lua_sandbox_new_state(sw_lua_guard_t *guard);

/* A lua_CFunction that opens the allowed libraries and installs the
 * wrappers and the `sw` table into the state's globals. It allocates, so
 * call it through lua_pcall (a memory error then fails cleanly). */
int sw_lua_sandbox_open(struct lua_State *L);

/* The guard of a state (or of one of its coroutines). */
sw_lua_guard_t *sw_lua_sandbox_guard(struct lua_State *L);

/* Starts a fresh run on the main thread: resets the instruction count and
 * the "exhausted" flag, re-arms the hook and remembers `call_id` (may be
 * NULL) for the logging functions. Call before each top-level run or call. */
void sw_lua_sandbox_begin_run(struct lua_State *L, const char *call_id);

/* Ends a run: forgets the call id (which the caller may free). The budget
 * state is kept, so code that would still run outside a call (there should be
 * none) stays bounded. */
void sw_lua_sandbox_end_run(struct lua_State *L);

#endif
