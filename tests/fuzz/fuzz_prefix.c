/* fuzz_prefix: the prefix tables behind sw.prefix (core/lua/prefix.c).
 *
 * The input is a CSV file as an operator would give to sw.prefix.load().
 *
 * 1. The real loader: the input is written to a file and loaded with
 *    sw.prefix.load() in a sandboxed state (core/lua/sandbox.c), under a
 *    memory cap that varies with the input so "not enough memory" strikes at
 *    every point of a load. On success every line's leading field is looked
 *    up again with t:lookup(): the matched prefix must be a prefix of the
 *    number, and looking the matched prefix up must give the same answer.
 * 2. The C trie against a brute-force model: each line's leading digits are
 *    inserted (value = a hash of the rest of the line) through an allocator
 *    that checks the lua_Alloc contract (osize exact, nothing left at
 *    release) and refuses memory past a budget chosen by the input; after
 *    every insert and at the end, lookups must find the same longest prefix
 *    and value as the model, and a refused insert must change nothing. */
#include "config.h"

#include <lauxlib.h>
#include <lua.h>

#include "fuzz_util.h"
#include "log.h"
#include "lua/prefix.h"
#include "lua/sandbox.h"

#define MODEL_MAX 160            /* lines taken into the C-trie model */

static char csv_path[512];
static size_t sandbox_baseline;  /* bytes a fresh sandboxed state uses */

static uint32_t hash_bytes(const uint8_t *p, size_t n, uint32_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static lua_State *new_sandbox(sw_lua_guard_t *guard)
{
    lua_State *L = sw_lua_sandbox_new_state(guard);
    if (!L)
        return NULL;
    lua_pushcfunction(L, sw_lua_sandbox_open);
    sw_lua_sandbox_begin_run(L, NULL);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        lua_close(L);
        return NULL;
    }
    return L;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_setup();
    snprintf(csv_path, sizeof csv_path, "%s/table.csv", fuzz_tmpdir());
    sw_lua_guard_t guard;
    memset(&guard, 0, sizeof guard);
    lua_State *L = new_sandbox(&guard);
    if (!L)
        abort();
    sandbox_baseline = guard.memory_used;
    lua_close(L);
    return 0;
}

/* ---- 1. sw.prefix.load and t:lookup ------------------------------------------------ */

/* Protected: sw.prefix.load(path) -> the table on the stack. */
static int load_table(lua_State *L)
{
    lua_getglobal(L, "sw");
    lua_getfield(L, -1, "prefix");
    lua_getfield(L, -1, "load");
    lua_pushstring(L, csv_path);
    lua_call(L, 1, 1);
    return 1;
}

/* Protected: t:lookup(number) (table at 1, number at 2) -> value, prefix | nil. */
static int lookup(lua_State *L)
{
    lua_getfield(L, 1, "lookup");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 2);
    return 2;
}

/* Looks `number` up and checks the answer is consistent. */
static void check_lookup(lua_State *L, int table, const char *number, size_t len)
{
    int top = lua_gettop(L);
    lua_pushcfunction(L, lookup);
    lua_pushvalue(L, table);
    lua_pushlstring(L, number, len);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        lua_settop(L, top); /* out of memory under the cap */
        return;
    }
    if (lua_isnil(L, -2)) {
        lua_settop(L, top);
        return;
    }
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "lookup's second result is not a string");
    size_t plen = 0;
    const char *prefix = lua_tolstring(L, -1, &plen);
    size_t start = 0;
    size_t digits = sw_prefix_leading_digits(number, len, &start);
    FUZZ_CHECK(plen >= 1 && plen <= digits && memcmp(prefix, number + start, plen) == 0,
               "matched prefix '%.*s' is not a prefix of '%.*s'", (int)plen, prefix, (int)len, number);
    /* the matched prefix itself must match the same entry */
    int value = lua_gettop(L) - 1;
    char copy[SW_PREFIX_MAX_DIGITS + 1];
    memcpy(copy, prefix, plen);
    lua_pushcfunction(L, lookup);
    lua_pushvalue(L, table);
    lua_pushlstring(L, copy, plen);
    if (lua_pcall(L, 2, 2, 0) == LUA_OK) {
        size_t again_len = 0;
        const char *again = lua_tolstring(L, -1, &again_len);
        FUZZ_CHECK(again && again_len == plen && memcmp(again, copy, plen) == 0,
                   "lookup of the matched prefix '%.*s' matched something else", (int)plen, copy);
        FUZZ_CHECK(lua_rawequal(L, -2, value), "lookup of the matched prefix gave another value");
    }
    lua_settop(L, top);
}

static void fuzz_loader(const uint8_t *data, size_t size)
{
    fuzz_write_file(csv_path, data, size);
    sw_lua_guard_t guard;
    memset(&guard, 0, sizeof guard);
    uint32_t h = hash_bytes(data, size, 2166136261u);
    /* half the inputs without a cap, the others with one that may strike */
    guard.memory_limit = (h & 1) ? 0 : sandbox_baseline + 256 + (h >> 1) % (96 * 1024);
    lua_State *L = new_sandbox(&guard);
    if (!L)
        return;
    sw_lua_prefix_begin_script_load(L, csv_path); /* as the engine does before the top level */
    lua_pushcfunction(L, load_table);
    int status = lua_pcall(L, 0, 1, 0);
    if (status == LUA_OK) {
        int table = lua_gettop(L);
        /* every line's first field, and a longer number made from it */
        const char *p = (const char *)data, *end = p + size;
        for (int lines = 0; p < end && lines < 256; lines++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t line_len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t field = 0;
            while (field < line_len && p[field] != ',')
                field++;
            check_lookup(L, table, p, field);
            char longer[80];
            size_t n = field < 60 ? field : 60;
            memcpy(longer, p, n);
            memcpy(longer + n, "0123456789", 10);
            check_lookup(L, table, longer, n + 10);
            p += line_len + 1;
        }
        /* and the odd arguments */
        check_lookup(L, table, "", 0);
        check_lookup(L, table, "+", 1);
    } else {
        FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "sw.prefix.load failed without a message");
    }
    lua_close(L);
}

/* ---- 2. the C trie against a model ---------------------------------------------------- */

typedef struct budget_alloc {
    size_t used, budget;
    size_t blocks;
} budget_alloc_t;

static void *budget_realloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    budget_alloc_t *a = ud;
    size_t *hdr = ptr ? (size_t *)ptr - 1 : NULL;
    if (hdr)
        FUZZ_CHECK(*hdr == osize, "allocator: osize %zu, block was %zu", osize, *hdr);
    if (nsize == 0) {
        if (hdr) {
            a->used -= osize;
            a->blocks--;
            free(hdr);
        }
        return NULL;
    }
    size_t old = hdr ? osize : 0;
    if (nsize > old && a->used - old + nsize > a->budget)
        return NULL;
    size_t *n = realloc(hdr, sizeof(size_t) + nsize);
    if (!n)
        return NULL;
    if (!hdr)
        a->blocks++;
    a->used = a->used - old + nsize;
    *n = nsize;
    return n + 1;
}

typedef struct model_entry {
    char digits[SW_PREFIX_MAX_DIGITS];
    size_t len;
    uint32_t value;
} model_entry_t;

static bool model_lookup(const model_entry_t *m, size_t n, const char *num, size_t len, uint32_t *value,
                         size_t *matched)
{
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (m[i].len <= len && (!found || m[i].len > *matched) && memcmp(m[i].digits, num, m[i].len) == 0) {
            found = true;
            *matched = m[i].len;
            *value = m[i].value;
        }
    return found;
}

static void check_against_model(const sw_prefix_table_t *t, const model_entry_t *m, size_t n, const char *num,
                                size_t len)
{
    size_t start = 0;
    size_t digits = sw_prefix_leading_digits(num, len, &start);
    uint32_t v1 = 0, v2 = 0;
    size_t l1 = 0, l2 = 0;
    bool f1 = sw_prefix_table_lookup(t, num + start, digits, &v1, &l1);
    bool f2 = model_lookup(m, n, num + start, digits, &v2, &l2);
    FUZZ_CHECK(f1 == f2, "lookup '%.*s': trie %s, model %s", (int)digits, num + start, f1 ? "found" : "nothing",
               f2 ? "found" : "nothing");
    if (f1)
        FUZZ_CHECK(v1 == v2 && l1 == l2, "lookup '%.*s': trie %u/%zu, model %u/%zu", (int)digits, num + start, v1, l1,
                   v2, l2);
}

static void fuzz_trie(const uint8_t *data, size_t size)
{
    uint32_t h = hash_bytes(data, size, 0x811c9dc5u ^ 0x5bd1e995u);
    budget_alloc_t alloc = {.budget = (h & 3) ? SIZE_MAX / 2 : 64 + h % 4096};
    sw_prefix_table_t t;
    sw_prefix_table_init(&t, budget_realloc, &alloc);
    model_entry_t *model = calloc(MODEL_MAX, sizeof *model);
    if (!model)
        abort();
    size_t n = 0;

    const char *p = (const char *)data, *end = p + size;
    for (size_t line = 0; p < end && line < MODEL_MAX; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t start = 0;
        size_t digits = sw_prefix_leading_digits(p, len, &start);
        uint32_t value = hash_bytes((const uint8_t *)p + start + digits, len - start - digits, 7) % 1000;
        uint32_t existing = 12345;
        sw_prefix_result_t r = sw_prefix_table_insert(&t, p + start, digits, value, &existing);
        uint32_t mv = 0;
        size_t ml = 0;
        bool dup = digits >= 1 && digits <= SW_PREFIX_MAX_DIGITS && model_lookup(model, n, p + start, digits, &mv, &ml) &&
                   ml == digits;
        if (digits == 0 || digits > SW_PREFIX_MAX_DIGITS) {
            FUZZ_CHECK(r == SW_PREFIX_INVALID, "insert of %zu digits gave %d", digits, (int)r);
        } else if (dup) {
            /* the worst case is reserved before the walk, so a duplicate
             * may also be refused for memory: either way nothing changed */
            FUZZ_CHECK((r == SW_PREFIX_DUPLICATE && existing == mv) || r == SW_PREFIX_NO_MEMORY,
                       "duplicate '%.*s': result %d, existing %u (model %u)", (int)digits, p + start, (int)r, existing,
                       mv);
        } else if (r == SW_PREFIX_ADDED) {
            memcpy(model[n].digits, p + start, digits);
            model[n].len = digits;
            model[n].value = value;
            n++;
        } else {
            FUZZ_CHECK(r == SW_PREFIX_NO_MEMORY, "insert of new '%.*s' gave %d", (int)digits, p + start, (int)r);
        }
        FUZZ_CHECK(sw_prefix_table_count(&t) == n, "count %zu, model %zu", sw_prefix_table_count(&t), n);
        /* the line itself as a number, after every insert */
        check_against_model(&t, model, n, p, len);
        if (line % 16 == 15)
            sw_prefix_table_shrink(&t);
        p += len + 1;
    }
    sw_prefix_table_shrink(&t);
    /* every stored prefix, each one digit longer and one shorter */
    for (size_t i = 0; i < n; i++) {
        char num[SW_PREFIX_MAX_DIGITS + 2];
        memcpy(num, model[i].digits, model[i].len);
        check_against_model(&t, model, n, num, model[i].len);
        num[model[i].len] = (char)('0' + i % 10);
        check_against_model(&t, model, n, num, model[i].len + 1);
        check_against_model(&t, model, n, num, model[i].len - 1);
    }
    FUZZ_CHECK(sw_prefix_table_memory(&t) <= alloc.used, "memory %zu > allocated %zu", sw_prefix_table_memory(&t),
               alloc.used);
    sw_prefix_table_release(&t);
    FUZZ_CHECK(alloc.used == 0 && alloc.blocks == 0, "release left %zu bytes in %zu blocks", alloc.used,
               alloc.blocks);
    FUZZ_CHECK(sw_prefix_table_count(&t) == 0, "released table not empty");
    free(model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return -1; /* a prefix file that big belongs in a benchmark */
    fuzz_loader(data, size);
    fuzz_trie(data, size);
    return 0;
}
