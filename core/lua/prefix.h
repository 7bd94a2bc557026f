/* Longest-prefix-match tables for the route script: `sw.prefix`.
 *
 * Operators route by number prefix ("44" UK, "4420" London, "1900"
 * premium). A table maps digit strings to values and answers, for a dialled
 * number, the value of the longest prefix of it that the table holds.
 *
 * Two layers:
 *  - sw_prefix_table_t, a digit trie in plain C (no Lua), whose memory comes
 *    from a lua_Alloc-style allocator so that, inside a Lua state, every
 *    byte counts toward the state's memory cap;
 *  - the Lua binding (sw.prefix.load / new, t:lookup / add / count), which
 *    keeps the values themselves as Lua values and the trie in a full
 *    userdata freed by __gc or __close.
 * doc/lua-api.md ("Prefix tables") is the script author's reference. */
#ifndef SW_LUA_PREFIX_H
#define SW_LUA_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lua_State;

/* Longest prefix accepted (in digits). E.164 numbers have at most 15 digits;
 * the margin covers technical prefixes put in front of them. */
#define SW_PREFIX_MAX_DIGITS 32

/* Limits of the packed trie nodes (see prefix.c): node slots and distinct
 * values. Far above what fits under any sensible memory cap. */
#define SW_PREFIX_MAX_NODES ((uint32_t)1 << 27)
#define SW_PREFIX_MAX_VALUES ((uint32_t)1 << 26)

/* Same signature as lua_Alloc: realloc-like, nsize 0 frees, osize is the
 * exact size of ptr (the allocator may account bytes by it). */
typedef void *(*sw_prefix_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

/* Fields are private to prefix.c; the struct is public only so that it can
 * be embedded (in a Lua userdata, on the stack of a benchmark). */
typedef struct sw_prefix_table {
    uint64_t *nodes;               /* packed trie nodes, slot 0 is the root */
    uint32_t node_capacity;        /* slots allocated */
    uint32_t node_used;            /* slots handed out (holes included) */
    uint32_t free_blocks[11];      /* free list heads by block size 1..10; 0 = empty */
    uint32_t free_slots;           /* slots sitting in the free lists */
    size_t prefix_count;
    sw_prefix_alloc_fn alloc;
    void *alloc_ud;
} sw_prefix_table_t;

typedef enum {
    SW_PREFIX_ADDED = 0,
    SW_PREFIX_DUPLICATE,           /* already present: nothing changed */
    SW_PREFIX_NO_MEMORY,           /* the allocator refused: nothing changed */
    SW_PREFIX_FULL,                /* past SW_PREFIX_MAX_NODES / _VALUES */
    SW_PREFIX_INVALID              /* empty, too long, or not only digits */
} sw_prefix_result_t;

/* An empty table allocating through alloc/ud (nothing is allocated yet). */
void sw_prefix_table_init(sw_prefix_table_t *t, sw_prefix_alloc_fn alloc, void *alloc_ud);

/* Frees the nodes; the table is empty (and reusable) afterwards. */
void sw_prefix_table_release(sw_prefix_table_t *t);

/* Adds digits[0..len) (digits only, 1..SW_PREFIX_MAX_DIGITS of them) with
 * value_id (< SW_PREFIX_MAX_VALUES). On SW_PREFIX_DUPLICATE, *existing (if
 * not NULL) receives the value id already there. */
sw_prefix_result_t sw_prefix_table_insert(sw_prefix_table_t *t, const char *digits, size_t len,
                                          uint32_t value_id, uint32_t *existing);

/* Longest prefix of the leading digits of number[0..len) (the walk stops at
 * the first non-digit, or at len). true with its value id and its length in
 * digits, false when no prefix matches. */
bool sw_prefix_table_lookup(const sw_prefix_table_t *t, const char *number, size_t len,
                            uint32_t *value_id, size_t *matched_len);

/* Returns the unused slots of the node array to the allocator (after a bulk
 * load, which grows it by doubling). Never fails: if the allocator cannot
 * shrink, the array stays as it is. */
void sw_prefix_table_shrink(sw_prefix_table_t *t);

size_t sw_prefix_table_count(const sw_prefix_table_t *t);

/* Bytes the trie holds from its allocator (values kept by the Lua binding
 * are not included). */
size_t sw_prefix_table_memory(const sw_prefix_table_t *t);

/* Where the digits of a number or prefix start and how many there are:
 * skips one leading '+' and counts the digits that follow, up to the first
 * non-digit or len. */
size_t sw_prefix_leading_digits(const char *s, size_t len, size_t *start);

/* ---- Lua binding ------------------------------------------------------- */

/* lua_CFunction (call it with lua_call, it allocates): pushes the `sw.prefix`
 * library table. The sandbox installs it as sw.prefix in every state. */
int sw_lua_prefix_open(struct lua_State *L);

/* Tells the binding which script the state runs: relative CSV paths are
 * resolved against its directory, and sw.prefix.load is allowed until
 * sw_lua_prefix_end_script_load. Allocates: call it in protected mode, before
 * the top level runs. In a state where this was never called (tests),
 * relative paths are relative to the working directory and load is always
 * allowed. */
void sw_lua_prefix_begin_script_load(struct lua_State *L, const char *script_path);

/* After the top level: from now on sw.prefix.load raises an error (it reads
 * a file, and calls into the script must never block the signaling thread).
 * Does not allocate and never raises, so it may be called unprotected. */
void sw_lua_prefix_end_script_load(struct lua_State *L);

#endif
