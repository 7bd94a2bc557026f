/* fuzz_lua_args: Lua argument conversion for module functions
 * (core/lua/engine.c: the arg spec parser, check_arguments, the
 * sw_lua_arg_* getters and sw_lua_push_* / sw_lua_error results).
 *
 * Each input builds a fresh engine (sw_lua_engine_new) with a fake module
 * "fz" whose function f has an argument spec taken from the input (one of a
 * table of valid specs, or raw bytes: invalid specs must be refused), loads
 * a small route script into the real sandbox (sw_lua_engine_load) under a
 * memory cap that sometimes strikes, and calls it (sw_lua_engine_call) with
 * arguments decoded from the input: nil, booleans, integers, floats (NaN,
 * infinities, integral floats), strings with NULs, numeric strings, tables,
 * C functions, coroutines. The script passes them to sw.fz.f directly,
 * through pcall, or through select().
 *
 * Oracle: when f runs, the core has accepted the arguments, so each must be
 * of its spec letter's type (nil allowed for optional ones) as the getters
 * see it; f then pushes results (or fails) as the input says, including more
 * than the inline result slots. */
#include "config.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>

#include "fuzz_util.h"
#include "log.h"
#include "lua/engine.h"

static char script_path[512];
static fuzz_reader_t *rd;        /* the current input, for the fake function */
static const char *current_spec; /* f's spec in this run */
static unsigned f_calls;

static const char *const specs[] = {
    "",      "s",     "i",        "n",         "b",         "a",           "si|b",      "s*",
    "|s*",   "si|b*", "a*",       "|a",        "iiii|nn",   "sinba|sinba*", "|i",        "ss|s",
    "b|b*",  "n*",    "|n*",      "i|s*",      "sssssssssssssssssssssssssssssss", "|ab*", NULL};

static const char script[] =
    "function go(...) return sw.fz.f(...) end\n"
    "function go_protected(...) return pcall(sw.fz.f, ...) end\n"
    "function go_count(...) return select('#', sw.fz.f(...)) end\n"
    "function go_twice(...) sw.fz.f(...); return sw.fz.f(...) end\n";
static const char *const entry_points[] = {"go", "go_protected", "go_count", "go_twice"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_setup();
    snprintf(script_path, sizeof script_path, "%s/route.lua", fuzz_tmpdir());
    fuzz_write_file(script_path, script, sizeof script - 1);
    return 0;
}

/* ---- what f checks and does ----------------------------------------------------------- */

typedef struct spec_model {
    char letters[64];
    size_t n, required;
    bool repeats;
} spec_model_t;

static void model_spec(const char *spec, spec_model_t *m)
{
    memset(m, 0, sizeof *m);
    bool bar = false;
    for (const char *p = spec; *p; p++) {
        if (*p == '|') {
            bar = true;
            m->required = m->n;
        } else if (*p == '*') {
            m->repeats = true;
        } else if (m->n < sizeof m->letters) {
            m->letters[m->n++] = *p;
        }
    }
    if (!bar)
        m->required = m->n;
}

static void check_argument(const sw_lua_args_t *a, size_t i, char letter, bool optional)
{
    sw_lua_type_t t = sw_lua_arg_type(a, i);
    if (optional && t == SW_LUA_NIL)
        return;
    size_t len = 0;
    const char *s = sw_lua_arg_str(a, i, &len);
    switch (letter) {
    case 's':
        FUZZ_CHECK(t == SW_LUA_STRING && s != NULL, "spec '%s': argument %zu accepted as a string, type %d",
                   current_spec, i + 1, (int)t);
        break;
    case 'i': {
        FUZZ_CHECK(t == SW_LUA_INTEGER || t == SW_LUA_NUMBER, "spec '%s': argument %zu accepted as an integer, type %d",
                   current_spec, i + 1, (int)t);
        double d = sw_lua_arg_number(a, i);
        FUZZ_CHECK(d == floor(d), "spec '%s': argument %zu accepted as an integer is %g", current_spec, i + 1, d);
        break;
    }
    case 'n':
        FUZZ_CHECK(t == SW_LUA_INTEGER || t == SW_LUA_NUMBER, "spec '%s': argument %zu accepted as a number, type %d",
                   current_spec, i + 1, (int)t);
        break;
    case 'b':
        FUZZ_CHECK(t == SW_LUA_BOOLEAN, "spec '%s': argument %zu accepted as a boolean, type %d", current_spec,
                   i + 1, (int)t);
        break;
    default:
        break;
    }
    if (t != SW_LUA_STRING)
        FUZZ_CHECK(s == NULL && len == 0, "arg_str of a non-string argument %zu is not NULL", i + 1);
}

static int fake_function(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    f_calls++;
    spec_model_t m;
    model_spec(current_spec, &m);
    size_t n = sw_lua_arg_count(a);
    FUZZ_CHECK(n >= m.required, "spec '%s': called with %zu arguments", current_spec, n);
    FUZZ_CHECK(m.repeats || n <= m.n, "spec '%s': called with %zu arguments", current_spec, n);
    for (size_t i = 0; i < n; i++) {
        char letter = i < m.n ? m.letters[i] : m.letters[m.n - 1];
        check_argument(a, i, letter, i >= m.required);
    }
    /* every getter on every index, in range or not */
    for (size_t i = 0; i < n + 2; i++) {
        size_t len = 0;
        (void)sw_lua_arg_type(a, i);
        (void)sw_lua_arg_int(a, i);
        (void)sw_lua_arg_number(a, i);
        (void)sw_lua_arg_bool(a, i);
        const char *s = sw_lua_arg_str(a, i, &len);
        if (s)
            FUZZ_CHECK(s[len] == '\0', "arg_str of argument %zu is not NUL-terminated", i + 1);
        (void)sw_lua_arg_str(a, i, NULL);
    }

    /* results, as the input says */
    unsigned ops = (unsigned)fuzz_range(rd, 0, 24);
    for (unsigned k = 0; k < ops; k++) {
        size_t arg = (size_t)fuzz_range(rd, 0, n + 1);
        size_t len = 0;
        switch (fuzz_range(rd, 0, 10)) {
        case 0: sw_lua_push_nil(r); break;
        case 1: sw_lua_push_bool(r, (int)fuzz_u8(rd) - 1); break;
        case 2: sw_lua_push_int(r, sw_lua_arg_int(a, arg)); break;
        case 3: sw_lua_push_number(r, sw_lua_arg_number(a, arg)); break;
        case 4: {
            const char *s = sw_lua_arg_str(a, arg, &len);
            sw_lua_push_str(r, s, len); /* NULL pushes nil */
            break;
        }
        case 5: {
            const uint8_t *p;
            size_t got = fuzz_bytes(rd, (size_t)fuzz_range(rd, 0, 64), &p);
            sw_lua_push_str(r, (const char *)p, got);
            break;
        }
        case 6: {
            const char *s = sw_lua_arg_str(a, arg, &len);
            return sw_lua_error(r, "refused '%s' (%zu bytes)", s ? s : "(none)", len);
        }
        case 7:
            return -1; /* failed without a message */
        case 8:
            for (int j = 0; j < 100; j++)
                sw_lua_push_int(r, j);
            break;
        case 9: sw_lua_push_str(r, "", 0); break;
        default: {
            /* a long message: cut to the buffer, never overflowing it */
            char big[2048];
            memset(big, 'x', sizeof big - 1);
            big[sizeof big - 1] = '\0';
            return sw_lua_error(r, "%s%s", big, big);
        }
        }
    }
    return 0;
}

/* ---- the call ----------------------------------------------------------------------- */

static int noop(lua_State *L)
{
    (void)L;
    return 0;
}

static int push_arguments(lua_State *L, void *ud)
{
    (void)ud;
    int n = (int)fuzz_range(rd, 0, 40);
    luaL_checkstack(L, n, "fuzz arguments");
    for (int i = 0; i < n; i++) {
        switch (fuzz_range(rd, 0, 12)) {
        case 0: lua_pushnil(L); break;
        case 1: lua_pushboolean(L, 1); break;
        case 2: lua_pushboolean(L, 0); break;
        case 3: lua_pushinteger(L, (lua_Integer)fuzz_u64(rd, 8)); break;
        case 4: {
            uint64_t bits = fuzz_u64(rd, 8);
            double d;
            memcpy(&d, &bits, sizeof d);
            lua_pushnumber(L, d); /* NaN, infinities, denormals included */
            break;
        }
        case 5: lua_pushnumber(L, (double)(int32_t)fuzz_u64(rd, 4)); break; /* 3.0 */
        case 6: {
            const uint8_t *p;
            size_t len = fuzz_bytes(rd, (size_t)fuzz_range(rd, 0, 300), &p);
            lua_pushlstring(L, (const char *)p, len);
            break;
        }
        case 7: lua_newtable(L); break;
        case 8: lua_pushcfunction(L, noop); break;
        case 9: (void)lua_newthread(L); break;
        case 10: lua_pushstring(L, "42"); break; /* numeric strings are not numbers */
        case 11: lua_pushnumber(L, 9223372036854775808.0); break; /* just past the integers */
        default: lua_pushinteger(L, LUA_MININTEGER); break;
        }
    }
    return n;
}

static void read_results(lua_State *L, void *ud)
{
    int n = *(int *)ud;
    for (int i = -n; i < 0; i++) {
        switch (lua_type(L, i)) {
        case LUA_TSTRING: {
            size_t len = 0;
            (void)lua_tolstring(L, i, &len);
            break;
        }
        case LUA_TNUMBER: (void)lua_tonumber(L, i); break;
        case LUA_TBOOLEAN: (void)lua_toboolean(L, i); break;
        default: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader_t reader = {.data = data, .size = size};
    rd = &reader;
    f_calls = 0;

    char raw_spec[48];
    uint8_t mode = fuzz_u8(rd);
    if (mode & 0x80) {
        /* raw bytes: mostly invalid specs, which the engine must skip */
        const uint8_t *p;
        size_t len = fuzz_bytes(rd, (size_t)fuzz_range(rd, 0, 40), &p);
        memcpy(raw_spec, p, len);
        raw_spec[len] = '\0';
        current_spec = raw_spec;
    } else {
        current_spec = specs[mode % (sizeof specs / sizeof specs[0] - 1)];
    }

    const sw_lua_func_t funcs[] = {
        {.size = sizeof(sw_lua_func_t), .name = "f", .args = current_spec, .fn = fake_function},
        {.size = sizeof(sw_lua_func_t), .name = "nameless_skipped", .args = "s", .fn = NULL},
        {0},
    };
    sw_lua_engine_t *e = sw_lua_engine_new();
    FUZZ_CHECK(e != NULL, "no engine");
    sw_lua_module_funcs_t mf = {.module = "fz", .self = NULL, .funcs = funcs};
    sw_lua_engine_add_module(e, &mf);
    if (mode & 0x40) {
        /* a module named like a built-in of `sw`: not installed, logged */
        sw_lua_module_funcs_t clash = {.module = "log", .self = NULL, .funcs = funcs};
        sw_lua_engine_add_module(e, &clash);
    }

    sw_lua_limits_t limits = {.instruction_budget = 100000, .memory_limit = 0};
    if (mode & 0x20)
        limits.memory_limit = 24 * 1024 + (size_t)fuzz_range(rd, 0, 96 * 1024);
    char err[512];
    if (sw_lua_engine_load(e, script_path, &limits, err, sizeof err) == 0) {
        const char *fn = entry_points[fuzz_range(rd, 0, sizeof entry_points / sizeof entry_points[0] - 1)];
        int nresults = (int)fuzz_range(rd, 0, 12);
        int rc = sw_lua_engine_call(e, fn, "fuzz-call-id", push_arguments, nresults, read_results, &nresults, err,
                                    sizeof err);
        if (rc != 0)
            FUZZ_CHECK(err[0] != '\0', "a failed call left no error message");
        /* a second call on the same state, as the next INVITE would make */
        nresults = 0;
        (void)sw_lua_engine_call(e, "go", NULL, NULL, 0, NULL, NULL, err, sizeof err);
        (void)sw_lua_engine_memory_used(e);
    } else {
        FUZZ_CHECK(err[0] != '\0', "a failed load left no error message");
    }
    sw_lua_engine_free(e);
    rd = NULL;
    return 0;
}
