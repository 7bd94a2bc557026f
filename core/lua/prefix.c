/* Longest-prefix-match tables (`sw.prefix`): a packed digit trie and its Lua
 * binding.
 *
 * The trie. Every node is one uint64_t:
 *
 *   bits  0..9   which of the digits 0-9 have a child
 *   bit   10     the node ends a prefix (it has a value)
 *   bits 11..37  index of its first child (27 bits)
 *   bits 38..63  value id (26 bits)
 *
 * The children of a node sit next to each other in digit order, so the child
 * for digit d is first_child + popcount(bitmap & ((1 << d) - 1)): one load
 * per digit, no pointers, 8 bytes per node. Why this layout rather than the
 * alternatives (estimated from the measured node count, see
 * bench/prefix_bench.c for the figures):
 *  - a node with ten 32-bit child slots costs 44 bytes; random prefixes make
 *    about 3.5 nodes each, so ~150 MB for a million of them instead of 28;
 *  - sorted arrays per length or a hash per length need one binary search or
 *    one cache miss per candidate length (up to 12 for real numbers), where
 *    the trie's upper levels stay in cache and only the last few levels miss.
 * Adding a child to a node means moving its block of children (at most 10
 * nodes) to a block one larger; freed blocks go to a free list per size and
 * are reused by the next node growing to that size. Nodes below never move,
 * since a block move copies the children's own first_child fields as they are.
 *
 * Memory comes from a lua_Alloc-style allocator: inside a Lua state it is the
 * state's own, so the table counts toward the state's memory cap and a file
 * too big for it fails with "not enough memory" instead of growing the
 * process. Lua's collector does not see these bytes in its pacing (there is
 * no API for that), which only delays freeing an unreferenced table until the
 * next cycle; a failed allocation runs a full collection and retries once.
 *
 * The values are Lua values in a table kept as a user value of the userdata
 * (value id i is values[i + 1]); equal values share one id, so a file of a
 * million prefixes over fifty carriers stores fifty strings, and a lookup
 * pushes an existing value without allocating (only the matched prefix,
 * its second result, is a new string). */
#include "config.h"

#include "lua/prefix.h"

#include <errno.h>
#include <stdarg.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Packed nodes                                                              */
/* ------------------------------------------------------------------------- */

#define NODE_CHILDREN_MASK ((uint64_t)0x3ff)
#define NODE_HAS_VALUE ((uint64_t)1 << 10)
#define NODE_FIRST_CHILD_SHIFT 11
#define NODE_FIRST_CHILD_MASK ((uint64_t)(SW_PREFIX_MAX_NODES - 1))
#define NODE_VALUE_SHIFT 38

/* Node slots of the first allocation: small tables (sw.prefix.new() with a
 * handful of adds) stay small. */
#define INITIAL_NODE_CAPACITY 64

static inline unsigned node_children(uint64_t node)
{
    return (unsigned)(node & NODE_CHILDREN_MASK);
}

static inline uint32_t node_first_child(uint64_t node)
{
    return (uint32_t)((node >> NODE_FIRST_CHILD_SHIFT) & NODE_FIRST_CHILD_MASK);
}

static inline uint32_t node_value(uint64_t node)
{
    return (uint32_t)(node >> NODE_VALUE_SHIFT);
}

static inline uint64_t node_with_children(uint64_t node, unsigned children, uint32_t first_child)
{
    node &= ~(NODE_CHILDREN_MASK | (NODE_FIRST_CHILD_MASK << NODE_FIRST_CHILD_SHIFT));
    return node | children | ((uint64_t)first_child << NODE_FIRST_CHILD_SHIFT);
}

static inline uint64_t node_with_value(uint64_t node, uint32_t value_id)
{
    node &= (NODE_CHILDREN_MASK | (NODE_FIRST_CHILD_MASK << NODE_FIRST_CHILD_SHIFT));
    return node | NODE_HAS_VALUE | ((uint64_t)value_id << NODE_VALUE_SHIFT);
}

/* Bits set in each 10-bit value. A table rather than __builtin_popcount:
 * without -mpopcnt (the portable default) that builtin is a libgcc call, and
 * this is the inner loop of every lookup. */
#define POPCOUNT_2(n) n, n + 1, n + 1, n + 2
#define POPCOUNT_4(n) POPCOUNT_2(n), POPCOUNT_2(n + 1), POPCOUNT_2(n + 1), POPCOUNT_2(n + 2)
#define POPCOUNT_6(n) POPCOUNT_4(n), POPCOUNT_4(n + 1), POPCOUNT_4(n + 1), POPCOUNT_4(n + 2)
#define POPCOUNT_8(n) POPCOUNT_6(n), POPCOUNT_6(n + 1), POPCOUNT_6(n + 1), POPCOUNT_6(n + 2)
static const uint8_t popcount_10[1024] = {POPCOUNT_8(0), POPCOUNT_8(1), POPCOUNT_8(1),
                                          POPCOUNT_8(2)};

static inline unsigned count_children(unsigned children)
{
    return popcount_10[children];
}

/* Position of the child for `digit` among the children present. */
static inline unsigned child_rank(unsigned children, unsigned digit)
{
    return popcount_10[children & ((1u << digit) - 1u)];
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------------- */
/* The table                                                                 */
/* ------------------------------------------------------------------------- */

void sw_prefix_table_init(sw_prefix_table_t *t, sw_prefix_alloc_fn alloc, void *alloc_ud)
{
    memset(t, 0, sizeof *t);
    t->alloc = alloc;
    t->alloc_ud = alloc_ud;
}

void sw_prefix_table_release(sw_prefix_table_t *t)
{
    if (t->nodes)
        t->alloc(t->alloc_ud, t->nodes, (size_t)t->node_capacity * sizeof *t->nodes, 0);
    sw_prefix_table_init(t, t->alloc, t->alloc_ud);
}

/* Makes room for `needed` slots in total. false when the allocator refuses
 * or the index space is exhausted (*full then tells which). */
static bool reserve_slots(sw_prefix_table_t *t, uint64_t needed, bool *full)
{
    *full = false;
    if (needed <= t->node_capacity)
        return true;
    if (needed > SW_PREFIX_MAX_NODES) {
        *full = true;
        return false;
    }
    uint64_t capacity = t->node_capacity ? (uint64_t)t->node_capacity * 2 : INITIAL_NODE_CAPACITY;
    while (capacity < needed)
        capacity *= 2;
    if (capacity > SW_PREFIX_MAX_NODES)
        capacity = SW_PREFIX_MAX_NODES;
    /* Doubling keeps inserts amortized O(1); when a memory cap refuses it,
     * smaller steps use the room left under the cap rather than failing
     * with up to half of it unused. */
    uint64_t step = capacity - t->node_capacity;
    for (;;) {
        uint64_t *nodes = t->alloc(t->alloc_ud, t->nodes,
                                   (size_t)t->node_capacity * sizeof *nodes,
                                   (size_t)capacity * sizeof *nodes);
        if (nodes) {
            t->nodes = nodes;
            t->node_capacity = (uint32_t)capacity;
            return true;
        }
        if (capacity == needed)
            return false;
        step /= 4;
        capacity = t->node_capacity + step;
        if (capacity < needed)
            capacity = needed;
    }
}

/* A block of `size` adjacent slots (capacity already reserved). A free
 * block's first slot holds the index of the next free block of its size. */
static uint32_t take_block(sw_prefix_table_t *t, unsigned size)
{
    uint32_t index = t->free_blocks[size];
    if (index != 0) {
        t->free_blocks[size] = (uint32_t)t->nodes[index];
        t->free_slots -= size;
        return index;
    }
    index = t->node_used;
    t->node_used += size;
    return index;
}

static void give_back_block(sw_prefix_table_t *t, uint32_t index, unsigned size)
{
    t->nodes[index] = t->free_blocks[size];
    t->free_blocks[size] = index;
    t->free_slots += size;
}

/* Adds the child for `digit` to node `parent` (which has none for it) and
 * returns its index. Slots must have been reserved. */
static uint32_t add_child(sw_prefix_table_t *t, uint32_t parent, unsigned digit)
{
    uint64_t node = t->nodes[parent];
    unsigned children = node_children(node);
    unsigned count = count_children(children);
    unsigned rank = child_rank(children, digit);
    uint32_t old_block = node_first_child(node);
    uint32_t new_block = take_block(t, count + 1);
    uint64_t *nodes = t->nodes;
    memcpy(&nodes[new_block], &nodes[old_block], rank * sizeof *nodes);
    nodes[new_block + rank] = 0;
    memcpy(&nodes[new_block + rank + 1], &nodes[old_block + rank], (count - rank) * sizeof *nodes);
    if (count > 0)
        give_back_block(t, old_block, count);
    nodes[parent] = node_with_children(node, children | (1u << digit), new_block);
    return new_block + rank;
}

sw_prefix_result_t sw_prefix_table_insert(sw_prefix_table_t *t, const char *digits, size_t len,
                                          uint32_t value_id, uint32_t *existing)
{
    if (len == 0 || len > SW_PREFIX_MAX_DIGITS)
        return SW_PREFIX_INVALID;
    for (size_t i = 0; i < len; i++)
        if (!is_digit(digits[i]))
            return SW_PREFIX_INVALID;
    if (value_id >= SW_PREFIX_MAX_VALUES)
        return SW_PREFIX_FULL;

    /* Reserving the worst case first (the root, then a new block of up to
     * ten slots per digit) means the walk below cannot fail half-way. */
    bool full = false;
    if (!reserve_slots(t, (uint64_t)t->node_used + 1 + 10 * len, &full))
        return full ? SW_PREFIX_FULL : SW_PREFIX_NO_MEMORY;
    if (t->node_used == 0) {
        t->nodes[0] = 0; /* the root, alone in slot 0 for ever */
        t->node_used = 1;
    }

    uint32_t index = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(digits[i] - '0');
        uint64_t node = t->nodes[index];
        if (node_children(node) & (1u << digit))
            index = node_first_child(node) + child_rank(node_children(node), digit);
        else
            index = add_child(t, index, digit);
    }
    uint64_t node = t->nodes[index];
    if (node & NODE_HAS_VALUE) {
        if (existing)
            *existing = node_value(node);
        return SW_PREFIX_DUPLICATE;
    }
    t->nodes[index] = node_with_value(node, value_id);
    t->prefix_count++;
    return SW_PREFIX_ADDED;
}

bool sw_prefix_table_lookup(const sw_prefix_table_t *t, const char *number, size_t len,
                            uint32_t *value_id, size_t *matched_len)
{
    if (t->node_used == 0)
        return false;
    const uint64_t *nodes = t->nodes;
    uint64_t node = nodes[0];
    bool found = false;
    for (size_t i = 0; i < len && is_digit(number[i]); i++) {
        unsigned digit = (unsigned)(number[i] - '0');
        unsigned children = node_children(node);
        if (!(children & (1u << digit)))
            break;
        node = nodes[node_first_child(node) + child_rank(children, digit)];
        if (node & NODE_HAS_VALUE) {
            *value_id = node_value(node);
            *matched_len = i + 1;
            found = true;
        }
    }
    return found;
}

void sw_prefix_table_shrink(sw_prefix_table_t *t)
{
    if (!t->nodes || t->node_used == t->node_capacity)
        return;
    uint64_t *nodes = t->alloc(t->alloc_ud, t->nodes, (size_t)t->node_capacity * sizeof *nodes,
                               (size_t)t->node_used * sizeof *nodes);
    if (!nodes)
        return;
    t->nodes = nodes;
    t->node_capacity = t->node_used;
}

size_t sw_prefix_table_count(const sw_prefix_table_t *t)
{
    return t->prefix_count;
}

size_t sw_prefix_table_memory(const sw_prefix_table_t *t)
{
    return (size_t)t->node_capacity * sizeof *t->nodes;
}

size_t sw_prefix_leading_digits(const char *s, size_t len, size_t *start)
{
    size_t i = (len > 0 && s[0] == '+') ? 1 : 0;
    *start = i;
    while (i < len && is_digit(s[i]))
        i++;
    return i - *start;
}

/* ------------------------------------------------------------------------- */
/* Lua objects                                                               */
/* ------------------------------------------------------------------------- */

/* Metatable name; also what error messages call the type ("prefix table
 * expected, got nil"). */
#define PREFIX_TABLE_TYPE "prefix table"

/* User values of a table object. */
#define UV_VALUES 1                /* value id + 1 -> value */
#define UV_VALUE_IDS 2             /* value -> value id (sharing equal values) */

typedef struct prefix_object {
    sw_prefix_table_t trie;
    uint32_t value_count;          /* distinct values stored */
    bool closed;                   /* freed early by __close */
} prefix_object_t;

/* Registry keys (their addresses). */
static const char script_dir_key = 0;   /* string: directory of the script */
static const char load_allowed_key = 0; /* boolean: sw.prefix.load allowed */

/* The table object at idx. Methods and metamethods carry the metatable as
 * upvalue 1: comparing with it spares luaL_checkudata's registry lookup on
 * every t:lookup(). */
static prefix_object_t *to_table(lua_State *L, int idx)
{
    prefix_object_t *o = lua_touserdata(L, idx);
    if (o && lua_getmetatable(L, idx)) {
        bool ours = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
        if (ours)
            return o;
    }
    luaL_typeerror(L, idx, PREFIX_TABLE_TYPE);
    return NULL;
}

static prefix_object_t *to_open_table(lua_State *L, int idx)
{
    prefix_object_t *o = to_table(L, idx);
    if (o->closed)
        luaL_error(L, "prefix table is closed");
    return o;
}

/* Pushes a new empty table object. The metatable is set before anything is
 * allocated for the trie, so __gc frees whatever follows even if an error
 * interrupts the caller. */
static prefix_object_t *push_new_table(lua_State *L)
{
    prefix_object_t *o = lua_newuserdatauv(L, sizeof *o, 2);
    memset(o, 0, sizeof *o);
    void *alloc_ud = NULL;
    lua_Alloc alloc = lua_getallocf(L, &alloc_ud);
    sw_prefix_table_init(&o->trie, alloc, alloc_ud);
    luaL_setmetatable(L, PREFIX_TABLE_TYPE);
    lua_newtable(L);
    lua_setiuservalue(L, -2, UV_VALUES);
    lua_newtable(L);
    lua_setiuservalue(L, -2, UV_VALUE_IDS);
    return o;
}

/* The value id of the value at the top of the stack (popped), storing it if
 * it is new. values_idx and ids_idx are absolute indexes of the user value
 * tables. */
static uint32_t intern_value(lua_State *L, prefix_object_t *o, int values_idx, int ids_idx)
{
    lua_pushvalue(L, -1);
    if (lua_rawget(L, ids_idx) == LUA_TNUMBER) {
        uint32_t id = (uint32_t)lua_tointeger(L, -1);
        lua_pop(L, 2);
        return id;
    }
    lua_pop(L, 1);
    if (o->value_count >= SW_PREFIX_MAX_VALUES)
        luaL_error(L, "more than %d distinct values", (int)SW_PREFIX_MAX_VALUES);
    uint32_t id = o->value_count;
    lua_pushvalue(L, -1);
    lua_rawseti(L, values_idx, (lua_Integer)id + 1);
    lua_pushinteger(L, (lua_Integer)id);
    lua_rawset(L, ids_idx); /* pops the value and the id */
    o->value_count++;
    return id;
}

/* Insert, and when the allocator refuses, collect garbage (old tables
 * nobody references, whose nodes Lua's pacing does not see) and try once
 * more. */
static sw_prefix_result_t insert_collecting(lua_State *L, prefix_object_t *o, const char *digits,
                                            size_t len, uint32_t value_id, uint32_t *existing)
{
    sw_prefix_result_t r = sw_prefix_table_insert(&o->trie, digits, len, value_id, existing);
    if (r == SW_PREFIX_NO_MEMORY) {
        lua_gc(L, LUA_GCCOLLECT);
        r = sw_prefix_table_insert(&o->trie, digits, len, value_id, existing);
    }
    return r;
}

/* The "not enough memory" text, with how far the table got. */
static const char *push_memory_error(lua_State *L, const prefix_object_t *o)
{
    return lua_pushfstring(L, "not enough memory (the Lua memory limit was reached with %I "
                              "prefixes, %I bytes of trie)",
                           (lua_Integer)sw_prefix_table_count(&o->trie),
                           (lua_Integer)sw_prefix_table_memory(&o->trie));
}

/* sw.prefix.new() */
static int prefix_new(lua_State *L)
{
    push_new_table(L);
    return 1;
}

/* t:lookup(number) -> value, prefix | nil */
static int prefix_lookup(lua_State *L)
{
    prefix_object_t *o = to_open_table(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_typeerror(L, 2, "string");
    size_t len = 0, start = 0, matched = 0;
    const char *number = lua_tolstring(L, 2, &len);
    size_t digits = sw_prefix_leading_digits(number, len, &start);
    uint32_t value_id = 0;
    if (!sw_prefix_table_lookup(&o->trie, number + start, digits, &value_id, &matched)) {
        lua_pushnil(L);
        return 1;
    }
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_rawgeti(L, -1, (lua_Integer)value_id + 1);
    lua_pushlstring(L, number + start, matched);
    return 2;
}

/* t:add(prefix, value) */
static int prefix_add(lua_State *L)
{
    prefix_object_t *o = to_open_table(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_typeerror(L, 2, "string");
    luaL_argcheck(L, !lua_isnoneornil(L, 3), 3, "value expected (nil cannot be stored)");
    lua_settop(L, 3);
    size_t len = 0, start = 0;
    const char *prefix = lua_tolstring(L, 2, &len);
    size_t digits = sw_prefix_leading_digits(prefix, len, &start);
    if (digits == 0 || start + digits != len || digits > SW_PREFIX_MAX_DIGITS)
        return luaL_error(L, "bad prefix '%s' (1 to %d digits expected, optionally after a '+')",
                          prefix, SW_PREFIX_MAX_DIGITS);
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_getiuservalue(L, 1, UV_VALUE_IDS);
    lua_pushvalue(L, 3);
    uint32_t value_id = intern_value(L, o, 4, 5);
    uint32_t existing = 0;
    switch (insert_collecting(L, o, prefix + start, digits, value_id, &existing)) {
    case SW_PREFIX_ADDED:
        return 0;
    case SW_PREFIX_DUPLICATE:
        return luaL_error(L, "duplicate prefix %s", prefix + start);
    case SW_PREFIX_NO_MEMORY:
        return luaL_error(L, "%s", push_memory_error(L, o));
    case SW_PREFIX_FULL:
        return luaL_error(L, "prefix table full");
    case SW_PREFIX_INVALID:
        break;
    }
    return luaL_error(L, "bad prefix '%s'", prefix);
}

/* t:count() and #t */
static int prefix_count(lua_State *L)
{
    prefix_object_t *o = to_open_table(L, 1);
    lua_pushinteger(L, (lua_Integer)sw_prefix_table_count(&o->trie));
    return 1;
}

/* __gc and __close: free the trie now. After __close the object refuses
 * every method; the value tables go with the object. */
static int prefix_free(lua_State *L)
{
    prefix_object_t *o = to_table(L, 1);
    sw_prefix_table_release(&o->trie);
    o->closed = true;
    return 0;
}

static int prefix_close(lua_State *L)
{
    prefix_free(L);
    /* Drop the values too: a closed table should hold nothing (every method
     * checks `closed` before touching them). */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_VALUES);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_VALUE_IDS);
    return 0;
}

static int prefix_tostring(lua_State *L)
{
    prefix_object_t *o = to_table(L, 1);
    if (o->closed)
        lua_pushliteral(L, "prefix table (closed)");
    else
        lua_pushfstring(L, "prefix table (%I prefixes)", (lua_Integer)sw_prefix_table_count(&o->trie));
    return 1;
}

/* ------------------------------------------------------------------------- */
/* Loading a CSV file                                                        */
/* ------------------------------------------------------------------------- */

#define STRINGIFY_TOKEN(x) #x
#define STRINGIFY(x) STRINGIFY_TOKEN(x)

/* Lines longer than this are refused: a routing CSV line is a prefix and a
 * few fields, so a longer one means a wrong file. */
#define CSV_BUFFER_SIZE 65536

/* Reads a file line by line through a fixed buffer (the file may be large;
 * the buffer is a userdata, so it is accounted and collected with the state). */
typedef struct line_reader {
    FILE *file;
    char *buf;
    size_t begin, end;             /* unread bytes: buf[begin..end) */
    bool eof;
    int read_errno;                /* errno of a failed read, 0 if none */
    unsigned long line_no;         /* of the last line returned */
} line_reader_t;

typedef enum { READ_LINE, READ_EOF, READ_TOO_LONG, READ_ERROR } read_status_t;

/* Next line without its LF (a CR before it stays: the parser trims). */
static read_status_t read_line(line_reader_t *r, char **line, size_t *len)
{
    for (;;) {
        char *lf = memchr(r->buf + r->begin, '\n', r->end - r->begin);
        if (lf || (r->eof && r->begin < r->end)) {
            char *start = r->buf + r->begin;
            char *stop = lf ? lf : r->buf + r->end;
            *line = start;
            *len = (size_t)(stop - start);
            r->begin = lf ? (size_t)(lf - r->buf) + 1 : r->end;
            r->line_no++;
            return READ_LINE;
        }
        if (r->eof)
            return r->read_errno ? READ_ERROR : READ_EOF;
        if (r->begin > 0) {
            memmove(r->buf, r->buf + r->begin, r->end - r->begin);
            r->end -= r->begin;
            r->begin = 0;
        }
        if (r->end == CSV_BUFFER_SIZE) {
            r->line_no++;
            return READ_TOO_LONG;
        }
        size_t got = fread(r->buf + r->end, 1, CSV_BUFFER_SIZE - r->end, r->file);
        r->end += got;
        if (got == 0) {
            r->eof = true;
            if (ferror(r->file))
                r->read_errno = errno ? errno : EIO;
        }
    }
}

static void reader_rewind(line_reader_t *r)
{
    rewind(r->file);
    r->begin = r->end = 0;
    r->eof = false;
    r->read_errno = 0;
    r->line_no = 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef enum { LINE_SKIPPED, LINE_HEADER, LINE_ENTRY, LINE_BAD } line_kind_t;

/* One line of the CSV, cut in place. */
typedef struct csv_line {
    const char *prefix;            /* digits only ('+' removed) */
    size_t prefix_len;
    const char *value;             /* rest of the line after the first ',', trimmed */
    size_t value_len;
    const char *field;             /* LINE_BAD: the offending first field, for the message */
    size_t field_len;
    const char *error;             /* LINE_BAD: static reason */
} csv_line_t;

/* Parses one line (see doc/lua-api.md for the format). `header_allowed`:
 * no entry or header was seen yet. */
static line_kind_t parse_csv_line(const char *line, size_t len, bool header_allowed,
                                  csv_line_t *out)
{
    memset(out, 0, sizeof *out);
    while (len > 0 && (line[len - 1] == '\r' || is_blank(line[len - 1])))
        len--;
    while (len > 0 && is_blank(line[0]))
        line++, len--;
    if (len == 0 || line[0] == '#')
        return LINE_SKIPPED;
    if (memchr(line, '\0', len)) {
        out->error = "NUL byte in line (not a text file?)";
        return LINE_BAD;
    }
    const char *comma = memchr(line, ',', len);
    size_t field_len = comma ? (size_t)(comma - line) : len;
    while (field_len > 0 && is_blank(line[field_len - 1]))
        field_len--;
    out->field = line;
    out->field_len = field_len;
    if (header_allowed && is_letter(line[0]))
        return LINE_HEADER;

    size_t start = 0;
    size_t digits = sw_prefix_leading_digits(line, field_len, &start);
    if (start + digits != field_len) {
        out->error = "bad prefix (digits expected, optionally after a '+')";
        return LINE_BAD;
    }
    if (digits == 0) {
        out->error = "empty prefix";
        return LINE_BAD;
    }
    if (digits > SW_PREFIX_MAX_DIGITS) {
        out->error = "prefix too long (at most " STRINGIFY(SW_PREFIX_MAX_DIGITS) " digits)";
        return LINE_BAD;
    }
    if (!comma) {
        out->error = "no value (expected prefix,value)";
        return LINE_BAD;
    }
    const char *value = comma + 1;
    size_t value_len = (size_t)(line + len - value);
    while (value_len > 0 && is_blank(value[0]))
        value++, value_len--;
    out->prefix = line + start;
    out->prefix_len = digits;
    out->value = value;
    out->value_len = value_len;
    return LINE_ENTRY;
}

/* Everything the protected loader shares with sw.prefix.load. */
typedef struct load_context {
    const char *path;              /* as resolved, for messages */
    line_reader_t reader;
    prefix_object_t *table;        /* once created */
} load_context_t;

/* Skips a UTF-8 byte order mark (spreadsheets write one) on line 1. */
static void skip_bom(const load_context_t *ctx, char **line, size_t *len)
{
    if (ctx->reader.line_no == 1 && *len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
}

/* Line number of the first entry with this prefix (rereads the file: this
 * runs only to report a duplicate, so nothing is kept per prefix for it).
 * 0 if it cannot be found again (the file changed meanwhile). */
static unsigned long first_line_of(load_context_t *ctx, const char *prefix, size_t prefix_len,
                                   unsigned long before_line)
{
    line_reader_t *r = &ctx->reader;
    reader_rewind(r);
    bool header_allowed = true;
    char *line;
    size_t len;
    while (read_line(r, &line, &len) == READ_LINE && r->line_no < before_line) {
        skip_bom(ctx, &line, &len);
        csv_line_t parsed;
        line_kind_t kind = parse_csv_line(line, len, header_allowed, &parsed);
        if (kind == LINE_HEADER || kind == LINE_ENTRY)
            header_allowed = false;
        if (kind == LINE_ENTRY && parsed.prefix_len == prefix_len &&
            memcmp(parsed.prefix, prefix, prefix_len) == 0)
            return r->line_no;
    }
    return 0;
}

/* Raises "path:line: reason". */
static int raise_at_line(lua_State *L, const load_context_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushfstring(L, "%s:%I: ", ctx->path, (lua_Integer)ctx->reader.line_no);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* Protected body of sw.prefix.load: argument 1 is the context. Leaves the
 * table on top. */
static int load_csv(lua_State *L)
{
    load_context_t *ctx = lua_touserdata(L, 1);
    prefix_object_t *o = push_new_table(L);
    ctx->table = o;
    int table_idx = lua_gettop(L);
    lua_getiuservalue(L, table_idx, UV_VALUES);
    int values_idx = lua_gettop(L);
    lua_getiuservalue(L, table_idx, UV_VALUE_IDS);
    int ids_idx = lua_gettop(L);
    ctx->reader.buf = lua_newuserdatauv(L, CSV_BUFFER_SIZE, 0);

    bool header_allowed = true;
    char *line;
    size_t len;
    read_status_t status;
    while ((status = read_line(&ctx->reader, &line, &len)) == READ_LINE) {
        skip_bom(ctx, &line, &len);
        csv_line_t parsed;
        switch (parse_csv_line(line, len, header_allowed, &parsed)) {
        case LINE_SKIPPED:
            continue;
        case LINE_HEADER:
            header_allowed = false;
            continue;
        case LINE_BAD:
            if (parsed.field_len > 0)
                return raise_at_line(L, ctx, "%s: '%s'", parsed.error,
                                     lua_pushlstring(L, parsed.field, parsed.field_len > 40
                                                                          ? 40 : parsed.field_len));
            return raise_at_line(L, ctx, "%s", parsed.error);
        case LINE_ENTRY:
            break;
        }
        header_allowed = false;
        lua_pushlstring(L, parsed.value, parsed.value_len);
        uint32_t value_id = intern_value(L, o, values_idx, ids_idx);
        uint32_t existing = 0;
        switch (insert_collecting(L, o, parsed.prefix, parsed.prefix_len, value_id, &existing)) {
        case SW_PREFIX_ADDED:
            break;
        case SW_PREFIX_DUPLICATE: {
            const char *prefix = lua_pushlstring(L, parsed.prefix, parsed.prefix_len);
            unsigned long line_no = ctx->reader.line_no;
            unsigned long first = first_line_of(ctx, parsed.prefix, parsed.prefix_len, line_no);
            ctx->reader.line_no = line_no;
            if (first)
                return raise_at_line(L, ctx, "duplicate prefix %s (first at line %I)", prefix,
                                     (lua_Integer)first);
            return raise_at_line(L, ctx, "duplicate prefix %s", prefix);
        }
        case SW_PREFIX_NO_MEMORY:
            return raise_at_line(L, ctx, "%s", push_memory_error(L, o));
        case SW_PREFIX_FULL:
            return raise_at_line(L, ctx, "prefix table full (%I prefixes)",
                                 (lua_Integer)sw_prefix_table_count(&o->trie));
        case SW_PREFIX_INVALID:
            return raise_at_line(L, ctx, "bad prefix");
        }
    }
    if (status == READ_TOO_LONG)
        return raise_at_line(L, ctx, "line too long (at most %d bytes)", CSV_BUFFER_SIZE - 1);
    if (status == READ_ERROR)
        return luaL_error(L, "%s: read error: %s", ctx->path, strerror(ctx->reader.read_errno));
    /* Doubling left up to half the array unused. */
    sw_prefix_table_shrink(&o->trie);
    lua_settop(L, table_idx);
    return 1;
}

/* sw.prefix.load(path) */
static int prefix_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &load_allowed_key) == LUA_TBOOLEAN &&
        !lua_toboolean(L, -1))
        return luaL_error(L, "sw.prefix.load: only allowed while the script loads (at its top "
                             "level): it reads a file, and calls must not block");
    lua_pop(L, 1);
    if (path[0] != '/' && lua_rawgetp(L, LUA_REGISTRYINDEX, &script_dir_key) == LUA_TSTRING)
        path = lua_pushfstring(L, "%s/%s", lua_tostring(L, -1), path);

    load_context_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.path = path;
    ctx.reader.file = fopen(path, "rb");
    if (!ctx.reader.file)
        return luaL_error(L, "sw.prefix.load: %s: cannot open: %s", path, strerror(errno));

    /* The file must be closed whatever happens, so the parsing (which may
     * raise, not least "not enough memory") runs under its own pcall. */
    lua_pushcfunction(L, load_csv);
    lua_pushlightuserdata(L, &ctx);
    int status = lua_pcall(L, 1, 1, 0);
    fclose(ctx.reader.file);
    if (status == LUA_OK)
        return 1;

    luaL_where(L, 1);
    if (status == LUA_ERRMEM) {
        /* Raised by Lua itself while storing a value; say where. */
        lua_pushfstring(L, "sw.prefix.load: %s:%I: ", path, (lua_Integer)ctx.reader.line_no);
        if (ctx.table)
            push_memory_error(L, ctx.table);
        else
            lua_pushliteral(L, "not enough memory");
    } else {
        lua_pushliteral(L, "sw.prefix.load: ");
        lua_pushvalue(L, -3);
    }
    lua_concat(L, 3);
    return lua_error(L);
}

/* ------------------------------------------------------------------------- */
/* Installation                                                              */
/* ------------------------------------------------------------------------- */

int sw_lua_prefix_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"lookup", prefix_lookup}, {"add", prefix_add}, {"count", prefix_count}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {
        {"__len", prefix_count},   {"__gc", prefix_free}, {"__close", prefix_close},
        {"__tostring", prefix_tostring}, {NULL, NULL}};
    static const luaL_Reg functions[] = {{"load", prefix_load}, {"new", prefix_new}, {NULL, NULL}};

    if (luaL_newmetatable(L, PREFIX_TABLE_TYPE)) {
        lua_pushvalue(L, -1);
        luaL_setfuncs(L, metamethods, 1);
        luaL_newlibtable(L, methods);
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, methods, 1);
        lua_setfield(L, -2, "__index");
        /* getmetatable(t) returns this string: the script cannot reach the
         * metatable, so it cannot swap __gc for a Lua function, which would
         * run with the instruction budget's hook disabled. */
        lua_pushliteral(L, PREFIX_TABLE_TYPE);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}

void sw_lua_prefix_begin_script_load(lua_State *L, const char *script_path)
{
    const char *slash = script_path ? strrchr(script_path, '/') : NULL;
    if (slash) {
        size_t dir_len = slash == script_path ? 1 : (size_t)(slash - script_path);
        lua_pushlstring(L, script_path, dir_len);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &script_dir_key);
    }
    lua_pushboolean(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &load_allowed_key);
}

void sw_lua_prefix_end_script_load(lua_State *L)
{
    /* The key exists since begin_script_load: overwriting its value does not
     * allocate, so this cannot raise. A state that never began has no key
     * and is left alone (that insertion could allocate). */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &load_allowed_key) == LUA_TBOOLEAN) {
        lua_pushboolean(L, 0);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &load_allowed_key);
    }
    lua_pop(L, 1);
}
