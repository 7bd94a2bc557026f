/* Unit tests of the Lua engine and its sandbox: loading and reloading,
 * calls, the instruction budget (and the ways a script could try to catch
 * it), the memory cap, the restricted globals, logging, and module functions
 * with their argument specs.
 *
 * Scripts are written to a mkdtemp() directory removed at the end. Every
 * test arms alarm(): a budget that fails to stop a loop kills the process
 * instead of hanging the test run. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test_util.h"
#include "lua/engine.h"
#include "sipswitch/version.h"
#include "stats/metrics.h"

#define WATCHDOG_SECONDS 120

static char test_dir[64];

/* Small limits so runaway scripts are stopped quickly (also under valgrind). */
static const sw_lua_limits_t test_limits = {.instruction_budget = 200000,
                                            .memory_limit = 8 * 1024 * 1024};

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct {
    char path[256];
} script_t;

static script_t path_of(const char *name)
{
    script_t s;
    snprintf(s.path, sizeof s.path, "%s/%s", test_dir, name);
    return s;
}

/* Writes `text` to <test_dir>/<name> and returns its path. */
static script_t write_script(const char *name, const char *text)
{
    script_t s = path_of(name);
    FILE *f = fopen(s.path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return s;
}

static sw_lua_engine_t *new_engine_with(const char *name, const char *text)
{
    sw_lua_engine_t *e = sw_lua_engine_new();
    assert_non_null(e);
    script_t s = write_script(name, text);
    char err[512] = "";
    int rc = sw_lua_engine_load(e, s.path, &test_limits, err, sizeof err);
    if (rc != 0)
        fail_msg("load of %s failed: %s", name, err);
    return e;
}

/* What a call returned, read by read_text_result. */
typedef struct {
    char text[1024];
    lua_Integer integer;
} call_result_t;

static void read_text_result(lua_State *L, void *ud)
{
    call_result_t *r = ud;
    const char *s = lua_tostring(L, -1);
    snprintf(r->text, sizeof r->text, "%s", s ? s : "(nil)");
}

/* Argument and result of one call, so that push and read share one ud. */
typedef struct {
    const char *arg;
    call_result_t result;
} call_io_t;

static int push_io_arg(lua_State *L, void *ud)
{
    const call_io_t *io = ud;
    if (!io->arg)
        return 0;
    lua_pushstring(L, io->arg);
    return 1;
}

static void read_io_result(lua_State *L, void *ud)
{
    call_io_t *io = ud;
    read_text_result(L, &io->result);
}

static int call_text(sw_lua_engine_t *e, const char *fn, const char *arg, char *out,
                     size_t outlen, char *err, size_t errlen)
{
    call_io_t io = {.arg = arg};
    err[0] = '\0';
    int rc = sw_lua_engine_call(e, fn, "test-call-id", push_io_arg, 1, read_io_result, &io,
                                err, errlen);
    assert_int_equal(lua_gettop(sw_lua_engine_state(e)), 0);
    snprintf(out, outlen, "%s", io.result.text);
    return rc;
}

/* Asserts fn(arg) succeeds and returns `expected`. */
static void expect_text(sw_lua_engine_t *e, const char *fn, const char *arg, const char *expected)
{
    char out[1024], err[1024];
    int rc = call_text(e, fn, arg, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("%s(%s) failed: %s", fn, arg ? arg : "", err);
    assert_string_equal(out, expected);
}

/* Asserts fn(arg) fails with `needle` in err; returns nothing. */
static void expect_failure(sw_lua_engine_t *e, const char *fn, const char *arg, const char *needle)
{
    char out[1024], err[2048];
    int rc = call_text(e, fn, arg, out, sizeof out, err, sizeof err);
    if (rc != -1)
        fail_msg("%s(%s) should fail, returned %d and \"%s\"", fn, arg ? arg : "", rc, out);
    if (!strstr(err, needle))
        fail_msg("%s(%s): \"%s\" not in error \"%s\"", fn, arg ? arg : "", needle, err);
}

static uint64_t metric(_Atomic uint64_t *counter)
{
    return atomic_load(counter);
}

/* Redirects stderr (where the log goes) into a file while capturing. */
typedef struct {
    int saved_fd;
    char path[256];
} capture_t;

static void capture_begin(capture_t *c)
{
    snprintf(c->path, sizeof c->path, "%s/log.txt", test_dir);
    int fd = open(c->path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

static void capture_end(capture_t *c, char *out, size_t outlen)
{
    dup2(c->saved_fd, STDERR_FILENO);
    close(c->saved_fd);
    FILE *f = fopen(c->path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* ------------------------------------------------------------------------- */
/* Loading                                                                   */
/* ------------------------------------------------------------------------- */

static void test_load_ok_and_has_function(void **state)
{
    (void)state;
    sw_lua_engine_t *e = sw_lua_engine_new();
    assert_false(sw_lua_engine_loaded(e));
    assert_false(sw_lua_engine_has_function(e, "route"));

    script_t s = write_script("ok.lua", "function route(x) return x end\nnot_a_function = 1\n");
    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, s.path, &test_limits, err, sizeof err), 0);
    assert_true(sw_lua_engine_loaded(e));
    assert_string_equal(sw_lua_engine_path(e), s.path);
    assert_true(sw_lua_engine_has_function(e, "route"));
    assert_false(sw_lua_engine_has_function(e, "not_a_function"));
    assert_false(sw_lua_engine_has_function(e, "absent"));
    assert_true(sw_lua_engine_memory_used(e) > 0);
    assert_true(sw_lua_engine_memory_used(e) <= test_limits.memory_limit);

    /* --check accepts it too, and changes nothing. */
    assert_int_equal(sw_lua_engine_check(e, s.path, NULL, err, sizeof err), 0);
    assert_int_equal(sw_lua_engine_check(NULL, s.path, NULL, err, sizeof err), 0);
    sw_lua_engine_free(e);
}

static void test_syntax_error_keeps_old_script(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with("v1.lua", "function answer() return 'v1' end\n");
    script_t v1 = path_of("v1.lua");
    script_t bad = write_script("syntax.lua", "-- comment\nlocal x = 1\nfunction answer( return end\n");
    uint64_t refused = metric(&sw_metrics.script_loads_refused);

    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, bad.path, &test_limits, err, sizeof err), -1);
    char expected_prefix[300];
    snprintf(expected_prefix, sizeof expected_prefix, "%s:3:", bad.path);
    if (strncmp(err, expected_prefix, strlen(expected_prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, expected_prefix);
    assert_int_equal(metric(&sw_metrics.script_loads_refused), refused + 1);

    /* --check says the same. */
    char check_err[512] = "";
    assert_int_equal(sw_lua_engine_check(e, bad.path, NULL, check_err, sizeof check_err), -1);
    assert_string_equal(check_err, err);

    /* The old script still answers. */
    assert_string_equal(sw_lua_engine_path(e), v1.path);
    expect_text(e, "answer", NULL, "v1");
    sw_lua_engine_free(e);
}

static void test_runtime_error_at_top_level_keeps_old_script(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with("v1.lua", "function answer() return 'v1' end\n");
    script_t bad = write_script("toplevel.lua",
                                "function answer() return 'v2' end\nlocal x = nil\nerror('boom')\n");
    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, bad.path, &test_limits, err, sizeof err), -1);
    char expected[300];
    snprintf(expected, sizeof expected, "%s:3: boom", bad.path);
    assert_string_equal(err, expected);
    expect_text(e, "answer", NULL, "v1");

    /* An error object that is not a string still names the file. */
    script_t table_error = write_script("tableerr.lua", "error({})\n");
    assert_int_equal(sw_lua_engine_load(e, table_error.path, &test_limits, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: (error object is a table value)", table_error.path);
    assert_string_equal(err, expected);

    /* A missing file: "file: reason". */
    char missing[200];
    snprintf(missing, sizeof missing, "%s/missing.lua", test_dir);
    assert_int_equal(sw_lua_engine_load(e, missing, &test_limits, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: cannot open:", missing);
    assert_memory_equal(err, expected, strlen(expected));
    expect_text(e, "answer", NULL, "v1");

    /* A successful reload replaces the script. */
    script_t v2 = write_script("v2.lua", "function answer() return 'v2' end\n");
    assert_int_equal(sw_lua_engine_load(e, v2.path, &test_limits, err, sizeof err), 0);
    expect_text(e, "answer", NULL, "v2");
    sw_lua_engine_free(e);
}

/* A precompiled chunk is refused as a script file. */
static int write_chunk(lua_State *L, const void *p, size_t size, void *ud)
{
    (void)L;
    return fwrite(p, 1, size, ud) == size ? 0 : 1;
}

static void test_binary_script_refused(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/compiled.luac", test_dir);
    lua_State *L = luaL_newstate();
    assert_int_equal(luaL_loadstring(L, "function answer() return 'compiled' end"), LUA_OK);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(lua_dump(L, write_chunk, f, 0), 0);
    fclose(f);
    lua_close(L);

    sw_lua_engine_t *e = sw_lua_engine_new();
    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, path, &test_limits, err, sizeof err), -1);
    assert_non_null(strstr(err, "binary"));
    assert_false(sw_lua_engine_loaded(e));
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* Calls                                                                     */
/* ------------------------------------------------------------------------- */

static int push_name_and_number(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushstring(L, "alice");
    lua_pushinteger(L, 41);
    return 2;
}

static void read_string_and_integer(lua_State *L, void *ud)
{
    call_result_t *r = ud;
    const char *s = lua_tostring(L, -2);
    snprintf(r->text, sizeof r->text, "%s", s ? s : "(nil)");
    r->integer = lua_tointeger(L, -1);
}

static void test_call_with_arguments_and_results(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with(
        "greet.lua", "function greet(name, n) return 'hello ' .. name, n + 1 end\n");
    uint64_t calls = metric(&sw_metrics.lua_calls);
    call_result_t r = {0};
    char err[512] = "";
    assert_int_equal(sw_lua_engine_call(e, "greet", "cid-1", push_name_and_number, 2,
                                        read_string_and_integer, &r, err, sizeof err),
                     0);
    assert_string_equal(r.text, "hello alice");
    assert_int_equal(r.integer, 42);
    assert_int_equal(metric(&sw_metrics.lua_calls), calls + 1);
    assert_int_equal(lua_gettop(sw_lua_engine_state(e)), 0);

    /* No argument callback, no reader. */
    assert_int_equal(sw_lua_engine_call(e, "greet", NULL, NULL, 0, NULL, NULL, err, sizeof err),
                     -1); /* 'hello ' .. nil */
    assert_int_equal(lua_gettop(sw_lua_engine_state(e)), 0);

    /* Absent function: no call, no metric. */
    calls = metric(&sw_metrics.lua_calls);
    assert_int_equal(sw_lua_engine_call(e, "absent", NULL, NULL, 0, NULL, NULL, err, sizeof err),
                     -1);
    assert_string_equal(err, "no function 'absent' in script");
    assert_int_equal(metric(&sw_metrics.lua_calls), calls);
    assert_int_equal(lua_gettop(sw_lua_engine_state(e)), 0);
    sw_lua_engine_free(e);

    /* Nothing loaded. */
    sw_lua_engine_t *empty = sw_lua_engine_new();
    assert_int_equal(sw_lua_engine_call(empty, "greet", NULL, NULL, 0, NULL, NULL, err, sizeof err),
                     -1);
    sw_lua_engine_free(empty);
}

/* A reader raising a Lua error fails the call instead of aborting. */
static void read_with_check(lua_State *L, void *ud)
{
    (void)ud;
    luaL_checkinteger(L, -1);
}

static void test_runtime_error_in_call(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with("runtime.lua",
                                         "function fine() return 'fine' end\n"
                                         "function broken()\n"
                                         "  local t = nil\n"
                                         "  error('kaboom')\n"
                                         "end\n"
                                         "function word() return 'word' end\n");
    uint64_t errors = metric(&sw_metrics.lua_errors);
    uint64_t budget = metric(&sw_metrics.lua_budget_exceeded);
    char needle[300];
    snprintf(needle, sizeof needle, "%s/runtime.lua:4: kaboom", test_dir);
    expect_failure(e, "broken", NULL, needle);
    expect_failure(e, "broken", NULL, "stack traceback");
    assert_int_equal(metric(&sw_metrics.lua_errors), errors + 2);
    assert_int_equal(metric(&sw_metrics.lua_budget_exceeded), budget);
    expect_text(e, "fine", NULL, "fine");

    char err[512];
    assert_int_equal(sw_lua_engine_call(e, "word", NULL, NULL, 1, read_with_check, NULL, err,
                                        sizeof err),
                     -1);
    assert_non_null(strstr(err, "number expected"));
    expect_text(e, "fine", NULL, "fine");
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* Instruction budget                                                        */
/* ------------------------------------------------------------------------- */

static const char escape_script[] =
    "function ok() return 'alive' end\n"
    "function plain() while true do end end\n"
    "function via_pcall()\n"
    "  while true do pcall(function() while true do end end) end\n"
    "end\n"
    "function via_xpcall()\n"
    "  while true do xpcall(function() while true do end end, function(m) return m end) end\n"
    "end\n"
    "function via_xpcall_looping_handler()\n"
    "  while true do xpcall(function() while true do end end, function() while true do end end) end\n"
    "end\n"
    "function via_xpcall_replacing_handler()\n"
    "  while true do xpcall(function() while true do end end, function() error('swallowed', 0) end) end\n"
    "end\n"
    "function via_resume()\n"
    "  while true do coroutine.resume(coroutine.create(function() while true do end end)) end\n"
    "end\n"
    "function via_wrap()\n"
    "  while true do pcall(coroutine.wrap(function() while true do end end)) end\n"
    "end\n"
    "function via_wrap_with_close()\n"
    "  while true do pcall(coroutine.wrap(function()\n"
    "    local g <close> = setmetatable({}, {__close = function() while true do end end})\n"
    "    while true do end\n"
    "  end)) end\n"
    "end\n"
    "function via_nested_coroutines()\n"
    "  while true do coroutine.resume(coroutine.create(function()\n"
    "    pcall(coroutine.wrap(function() while true do end end))\n"
    "    while true do end\n"
    "  end)) end\n"
    "end\n"
    "function via_short_coroutines()\n"
    "  while true do pcall(coroutine.wrap(function() for i = 1, 900 do end end)) end\n"
    "end\n"
    "function via_yielding_pcall()\n"
    "  local co = coroutine.wrap(function()\n"
    "    while true do pcall(function() coroutine.yield() while true do end end) end\n"
    "  end)\n"
    "  while true do pcall(co) end\n"
    "end\n"
    "function via_load_reader()\n"
    "  while true do load(function() while true do end end) end\n"
    "end\n"
    "function via_close_of_suspended()\n"
    "  while true do\n"
    "    local co = coroutine.create(function()\n"
    "      local g <close> = setmetatable({}, {__close = function() while true do end end})\n"
    "      coroutine.yield()\n"
    "    end)\n"
    "    coroutine.resume(co)\n"
    "    pcall(coroutine.close, co)\n"
    "  end\n"
    "end\n"
    "function kill_coroutine()\n"
    "  killed = coroutine.create(function()\n"
    "    local g <close> = setmetatable({}, {__close = function() while true do end end})\n"
    "    while true do end\n"
    "  end)\n"
    "  coroutine.resume(killed)\n"
    "end\n"
    "function close_killed()\n"
    "  local ok, e = coroutine.close(killed)\n"
    "  return tostring(ok) .. ' ' .. tostring(e)\n"
    "end\n"
    "function finalizer()\n"
    "  local ok, e = pcall(setmetatable, {}, {__gc = function() while true do end end})\n"
    "  return tostring(ok) .. ' ' .. tostring(e)\n"
    "end\n"
    "function bounded()\n"
    "  local n = 0\n"
    "  for i = 1, 1000 do n = n + i end\n"
    "  local ok, v = pcall(function() return coroutine.wrap(function() coroutine.yield(7) end)() end)\n"
    "  return n .. ' ' .. tostring(ok) .. ' ' .. tostring(v)\n"
    "end\n";

static void test_budget_stops_infinite_loop(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with("escape.lua", escape_script);
    uint64_t budget = metric(&sw_metrics.lua_budget_exceeded);
    uint64_t errors = metric(&sw_metrics.lua_errors);

    char needle[300];
    snprintf(needle, sizeof needle, "%s/escape.lua:2: instruction budget exceeded (200000 "
             "instructions)", test_dir);
    expect_failure(e, "plain", NULL, needle);
    assert_int_equal(metric(&sw_metrics.lua_budget_exceeded), budget + 1);
    assert_int_equal(metric(&sw_metrics.lua_errors), errors + 1);
    /* A fresh budget for the next call. */
    expect_text(e, "ok", NULL, "alive");
    expect_text(e, "bounded", NULL, "500500 true 7");
    sw_lua_engine_free(e);
}

static void test_budget_cannot_be_caught(void **state)
{
    (void)state;
    static const char *const escapes[] = {
        "via_pcall", "via_xpcall", "via_xpcall_looping_handler", "via_xpcall_replacing_handler",
        "via_resume", "via_wrap", "via_wrap_with_close", "via_nested_coroutines",
        "via_short_coroutines", "via_yielding_pcall", "via_load_reader",
        "via_close_of_suspended"};
    sw_lua_engine_t *e = new_engine_with("escape.lua", escape_script);
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        uint64_t budget = metric(&sw_metrics.lua_budget_exceeded);
        expect_failure(e, escapes[i], NULL, "instruction budget exceeded");
        if (metric(&sw_metrics.lua_budget_exceeded) != budget + 1)
            fail_msg("%s: budget metric not incremented", escapes[i]);
        expect_text(e, "ok", NULL, "alive");
    }

    /* A coroutine killed by the budget keeps its <close> handler, which
     * would run with hooks off: closing it later does not run it. */
    expect_failure(e, "kill_coroutine", NULL, "instruction budget exceeded");
    char out[1024], err[1024];
    assert_int_equal(call_text(e, "close_killed", NULL, out, sizeof out, err, sizeof err), 0);
    assert_memory_equal(out, "false ", 6);
    assert_non_null(strstr(out, "instruction budget exceeded"));

    /* Finalizers would run with hooks off: refused. */
    expect_text(e, "finalizer", NULL,
                "false setmetatable: __gc metamethods are not allowed in the sandbox");
    expect_text(e, "ok", NULL, "alive");
    sw_lua_engine_free(e);
}

static void test_budget_at_top_level(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with("v1.lua", "function answer() return 'v1' end\n");
    script_t loop = write_script("loop.lua", "function answer() return 'v2' end\nwhile true do end\n");
    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, loop.path, &test_limits, err, sizeof err), -1);
    char expected[400];
    snprintf(expected, sizeof expected, "%s:2: instruction budget exceeded (200000 instructions)",
             loop.path);
    assert_string_equal(err, expected);
    expect_text(e, "answer", NULL, "v1");

    /* Catching at the top level does not help either. */
    script_t caught = write_script("caught.lua",
                                   "while true do pcall(function() while true do end end) end\n");
    assert_int_equal(sw_lua_engine_load(e, caught.path, &test_limits, err, sizeof err), -1);
    assert_non_null(strstr(err, "instruction budget exceeded"));
    expect_text(e, "answer", NULL, "v1");
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* Memory cap                                                                */
/* ------------------------------------------------------------------------- */

static void test_memory_cap(void **state)
{
    (void)state;
    sw_lua_limits_t limits = {.instruction_budget = 50000000, .memory_limit = 8 * 1024 * 1024};
    sw_lua_engine_t *e = sw_lua_engine_new();
    script_t s = write_script("memory.lua",
                              "function ok() return 'alive' end\n"
                              "function hog()\n"
                              "  local t = {}\n"
                              "  for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n"
                              "end\n"
                              "function hog_caught()\n"
                              "  local ok, e = pcall(hog)\n"
                              "  return tostring(ok) .. ' ' .. tostring(e)\n"
                              "end\n"
                              "function big_string() return #string.rep('x', 64 * 1024 * 1024) end\n");
    char err[512] = "";
    assert_int_equal(sw_lua_engine_load(e, s.path, &limits, err, sizeof err), 0);
    uint64_t errors = metric(&sw_metrics.lua_errors);

    expect_failure(e, "hog", NULL, "not enough memory");
    assert_int_equal(metric(&sw_metrics.lua_errors), errors + 1);
    assert_true(sw_lua_engine_memory_used(e) <= limits.memory_limit);
    expect_text(e, "ok", NULL, "alive");

    /* An ordinary error: a script may catch it. */
    expect_text(e, "hog_caught", NULL, "false not enough memory");
    expect_failure(e, "big_string", NULL, "not enough memory");
    expect_failure(e, "hog", NULL, "not enough memory");
    expect_text(e, "ok", NULL, "alive");

    /* The top level is capped too. */
    script_t big = write_script("bigtop.lua", "x = string.rep('x', 64 * 1024 * 1024)\n");
    assert_int_equal(sw_lua_engine_load(e, big.path, &limits, err, sizeof err), -1);
    assert_non_null(strstr(err, "not enough memory"));
    expect_text(e, "ok", NULL, "alive");
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* Sandbox                                                                   */
/* ------------------------------------------------------------------------- */

static void test_sandbox_globals(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with(
        "sandbox.lua",
        "function probe()\n"
        "  local bad = {}\n"
        "  local function absent(name, v) if v ~= nil then bad[#bad + 1] = name end end\n"
        "  local function present(name, v) if v == nil then bad[#bad + 1] = 'no ' .. name end end\n"
        "  absent('os.exit', os.exit) absent('os.execute', os.execute)\n"
        "  absent('os.remove', os.remove) absent('os.rename', os.rename)\n"
        "  absent('os.tmpname', os.tmpname) absent('os.setlocale', os.setlocale)\n"
        "  absent('io', io) absent('io.popen', io and io.popen)\n"
        "  absent('require', require) absent('dofile', dofile) absent('loadfile', loadfile)\n"
        "  absent('debug', debug) absent('package', package)\n"
        "  present('os.clock', os.clock) present('os.date', os.date)\n"
        "  present('os.difftime', os.difftime) present('os.time', os.time)\n"
        "  present('os.getenv', os.getenv) present('string.format', string.format)\n"
        "  present('table.concat', table.concat) present('math.floor', math.floor)\n"
        "  present('utf8.char', utf8.char) present('coroutine.create', coroutine.create)\n"
        "  present('load', load) present('pcall', pcall) present('print', print)\n"
        "  if pcall(collectgarbage, 'stop') then bad[#bad + 1] = 'collectgarbage stop' end\n"
        "  if type(collectgarbage('count')) ~= 'number' then bad[#bad + 1] = 'count' end\n"
        "  if ('%d'):format(3) ~= '3' then bad[#bad + 1] = 'string methods' end\n"
        "  return #bad == 0 and 'ok' or table.concat(bad, ',')\n"
        "end\n"
        "function loads()\n"
        "  local binary, msg = load(string.dump(function() return 1 end))\n"
        "  local binary_b = load(string.dump(function() return 1 end), 'x', 'b')\n"
        "  local text = load('return 40 + 2')\n"
        "  secret = 'sandbox globals'\n"
        "  local env_default = load('return secret')()\n"
        "  local env_given = load('return secret', 'chunk', 't', {secret = 'own env'})()\n"
        "  return tostring(binary) .. ' ' .. tostring(binary_b) .. ' ' .. text() .. ' ' ..\n"
        "    env_default .. ' ' .. env_given .. ' ' .. tostring(msg:find('binary') ~= nil)\n"
        "end\n");
    expect_text(e, "probe", NULL, "ok");
    expect_text(e, "loads", NULL, "nil nil 42 sandbox globals own env true");
    sw_lua_engine_free(e);
}

static void test_print_and_sw_log(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with(
        "log.lua",
        "function talk()\n"
        "  print('hello from print', 42, nil)\n"
        "  sw.log('warn', 'careful now')\n"
        "  sw.log(sw.NOTICE, 'noticed')\n"
        "  sw.log('debug', 'details')\n"
        "  warn('odd ', 'thing')\n"
        "  return sw.version\n"
        "end\n"
        "function bad_level() sw.log('loud', 'x') end\n"
        "function bad_level_number() sw.log(17, 'x') end\n"
        "function bad_level_type() sw.log({}, 'x') end\n");
    sw_log_setup(SW_LOG_TO_STDERR, SW_LOG_DEBUG);
    capture_t c;
    char out[1024], err[1024], log[8192];
    capture_begin(&c);
    int rc = call_text(e, "talk", NULL, out, sizeof out, err, sizeof err);
    capture_end(&c, log, sizeof log);
    sw_log_setup(SW_LOG_TO_STDERR, SW_LOG_INFO);
    if (rc != 0)
        fail_msg("talk failed: %s", err);
    assert_string_equal(out, SIPSWITCH_VERSION);
    static const char *const expected[] = {
        "info   [lua] [call-id test-call-id] hello from print\t42\tnil",
        "warn   [lua] [call-id test-call-id] careful now",
        "notice [lua] [call-id test-call-id] noticed",
        "debug  [lua] [call-id test-call-id] details",
        "warn   [lua] [call-id test-call-id] odd thing"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!strstr(log, expected[i]))
            fail_msg("\"%s\" not logged; log:\n%s", expected[i], log);

    expect_failure(e, "bad_level", NULL, "log.lua:9: sw.log: bad level 'loud'");
    expect_failure(e, "bad_level_number", NULL, "sw.log: bad level '17'");
    expect_failure(e, "bad_level_type", NULL, "sw.log: bad level table");
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* Module functions                                                          */
/* ------------------------------------------------------------------------- */

static int fake_module_storage;
#define FAKE_SELF ((sw_module_t *)(void *)&fake_module_storage)
static sw_module_t *seen_self;
static sw_lua_engine_t *nesting_engine;

/* "si|b": returns "<s>:<i>[:yes|:no]" and i * 2. */
static int fake_concat(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    seen_self = self;
    size_t len = 0;
    const char *s = sw_lua_arg_str(a, 0, &len);
    int64_t i = sw_lua_arg_int(a, 1);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s:%lld", (int)(len > 100 ? 100 : len), s, (long long)i);
    if (sw_lua_arg_type(a, 2) == SW_LUA_BOOLEAN)
        n += snprintf(buf + n, sizeof buf - (size_t)n, ":%s", sw_lua_arg_bool(a, 2) ? "yes" : "no");
    sw_lua_push_str(r, buf, (size_t)n);
    sw_lua_push_int(r, i * 2);
    return 0;
}

/* "s*": the strings joined with "," and their count. */
static int fake_join(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    char buf[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < sw_lua_arg_count(a); i++) {
        size_t len = 0;
        const char *s = sw_lua_arg_str(a, i, &len);
        if (used + len + 2 > sizeof buf)
            break;
        if (i > 0)
            buf[used++] = ',';
        memcpy(buf + used, s, len);
        used += len;
    }
    sw_lua_push_str(r, buf, used);
    sw_lua_push_int(r, (int64_t)sw_lua_arg_count(a));
    return 0;
}

/* "|s": fails with a message; pushes first to check results are dropped. */
static int fake_fail(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    sw_lua_push_str(r, "dropped", 7);
    const char *why = sw_lua_arg_str(a, 0, NULL);
    return sw_lua_error(r, "failed on purpose: %s", why ? why : "no reason");
}

/* "": fails without a message. */
static int fake_bare_fail(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    (void)a;
    (void)r;
    return -1;
}

/* "i": returns 1 .. n (more than fit inline). */
static int fake_count(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    for (int64_t i = 1; i <= sw_lua_arg_int(a, 0); i++)
        sw_lua_push_int(r, i);
    return 0;
}

/* "|a*": a digit per argument type, then views of argument 3 and beyond. */
static int fake_types(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    char digits[64] = "";
    size_t n = sw_lua_arg_count(a);
    for (size_t i = 0; i < n && i < sizeof digits - 1; i++)
        digits[i] = (char)('0' + sw_lua_arg_type(a, i));
    sw_lua_push_str(r, digits, strlen(digits));
    sw_lua_push_int(r, sw_lua_arg_int(a, 3));              /* 1.5 -> 1 */
    sw_lua_push_number(r, sw_lua_arg_number(a, 2));        /* 7 -> 7.0 */
    sw_lua_push_bool(r, sw_lua_arg_str(a, 2, NULL) == NULL); /* a number is not a string */
    sw_lua_push_bool(r, sw_lua_arg_type(a, 99) == SW_LUA_NIL);
    sw_lua_push_nil(r);
    sw_lua_push_str(r, NULL, 0);                            /* nil too */
    sw_lua_push_str(r, "a\0b", 3);
    return 0;
}

/* "": tables as results: { uri = ..., n = 5, inner = { 1, 2 }, [2] = true },
 * pairs with a nil key or value left out, a second table left open (the
 * engine ends it), then a scalar after the first table. */
static int fake_tables(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self, (void)a;
    sw_lua_push_table(r);
    sw_lua_push_str(r, "uri", 3);
    sw_lua_push_str(r, "sip:1001@h", 10);
    sw_lua_push_str(r, "n", 1);
    sw_lua_push_int(r, 5);
    sw_lua_push_str(r, "inner", 5);
    sw_lua_push_table(r);
    sw_lua_push_int(r, 1);
    sw_lua_push_str(r, "one", 3);
    sw_lua_push_int(r, 2);
    sw_lua_push_str(r, "two", 3);
    sw_lua_table_end(r);
    sw_lua_push_int(r, 2);
    sw_lua_push_bool(r, 1);
    sw_lua_push_nil(r); /* nil key: pair left out */
    sw_lua_push_int(r, 9);
    sw_lua_push_str(r, "gone", 4);
    sw_lua_push_nil(r); /* nil value: pair left out */
    sw_lua_push_str(r, "odd", 3); /* a key without value */
    sw_lua_table_end(r);
    sw_lua_table_end(r); /* nothing open: ignored */
    sw_lua_push_str(r, "after", 5);
    sw_lua_push_table(r); /* left open */
    sw_lua_push_str(r, "k", 1);
    sw_lua_push_str(r, "v", 1);
    return 0;
}

/* "": calls back into the engine, which must refuse. */
static int fake_nest(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    (void)a;
    char err[256] = "";
    int call_rc = sw_lua_engine_call(nesting_engine, "ok", NULL, NULL, 0, NULL, NULL, err,
                                     sizeof err);
    sw_lua_push_int(r, call_rc);
    sw_lua_push_str(r, err, strlen(err));
    int load_rc = sw_lua_engine_load(nesting_engine, "/nonexistent.lua", NULL, err, sizeof err);
    sw_lua_push_int(r, load_rc);
    return 0;
}

static const sw_lua_func_t fake_funcs[] = {
    {.size = sizeof(sw_lua_func_t), .name = "concat", .args = "si|b", .fn = fake_concat},
    {.size = sizeof(sw_lua_func_t), .name = "join", .args = "s*", .fn = fake_join},
    {.size = sizeof(sw_lua_func_t), .name = "fail", .args = "|s", .fn = fake_fail},
    {.size = sizeof(sw_lua_func_t), .name = "bare_fail", .args = "", .fn = fake_bare_fail},
    {.size = sizeof(sw_lua_func_t), .name = "count", .args = "i", .fn = fake_count},
    {.size = sizeof(sw_lua_func_t), .name = "types", .args = "|a*", .fn = fake_types},
    {.size = sizeof(sw_lua_func_t), .name = "nest", .args = NULL, .fn = fake_nest},
    {.size = sizeof(sw_lua_func_t), .name = "tables", .args = "", .fn = fake_tables},
    {.size = sizeof(sw_lua_func_t), .name = "badspec", .args = "s*i", .fn = fake_join},
    {.size = 0}};

/* An older module's element: no doc field. */
struct old_lua_func {
    uint32_t size;
    const char *name;
    const char *args;
    int (*fn)(sw_module_t *self, const sw_lua_args_t *args, sw_lua_ret_t *ret);
};

/* A newer module's element: a field appended. */
struct future_lua_func {
    sw_lua_func_t base;
    uint64_t appended;
};

static int answer_42(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    (void)a;
    sw_lua_push_int(r, 42);
    return 0;
}

static int answer_43(sw_module_t *self, const sw_lua_args_t *a, sw_lua_ret_t *r)
{
    (void)self;
    (void)a;
    sw_lua_push_int(r, 43);
    return 0;
}

static const struct old_lua_func old_funcs[] = {
    {.size = sizeof(struct old_lua_func), .name = "first", .args = "", .fn = answer_42},
    {.size = sizeof(struct old_lua_func), .name = "second", .args = "", .fn = answer_43},
    {.size = 0}};

static const struct future_lua_func future_funcs[] = {
    {.base = {.size = sizeof(struct future_lua_func), .name = "first", .fn = answer_42},
     .appended = 1},
    {.base = {.size = sizeof(struct future_lua_func), .name = "second", .fn = answer_43},
     .appended = 2},
    {.base = {.size = 0}}};

static const char module_script[] =
    "local function err_of(f, ...)\n"
    "  local ok, e = pcall(f, ...)\n"
    "  if ok then return 'no error' end\n"
    "  return e\n"
    "end\n"
    "function ok() return 'alive' end\n"
    "function good_calls()\n"
    "  local s1, d1 = sw.fake.concat('a', 2)\n"
    "  local s2 = sw.fake.concat('b', 3.0, true)\n"
    "  local s3 = sw.fake.concat('c', 4, nil)\n"
    "  local j, c = sw.fake.join('x', 'y', 'z')\n"
    "  local j1, c1 = sw.fake.join('only')\n"
    "  return table.concat({s1, d1, s2, s3, j, c, j1, c1, math.type(d1)}, '|')\n"
    "end\n"
    "function direct_bad()\n"
    "  sw.fake.concat(1, 2)\n" /* line 16 */
    "end\n"
    "function direct_fail()\n"
    "  sw.fake.fail('direct')\n" /* line 19 */
    "end\n"
    "local cases = {\n"
    "  int_from_string = function() return err_of(sw.fake.concat, 'a', '2') end,\n"
    "  int_from_float = function() return err_of(sw.fake.concat, 'a', 2.5) end,\n"
    "  string_from_number = function() return err_of(sw.fake.concat, 1, 2) end,\n"
    "  required_nil = function() return err_of(sw.fake.concat, 'a', nil) end,\n"
    "  missing_second = function() return err_of(sw.fake.concat, 'a') end,\n"
    "  missing_all = function() return err_of(sw.fake.concat) end,\n"
    "  too_many = function() return err_of(sw.fake.concat, 'a', 1, true, 4) end,\n"
    "  bool_from_string = function() return err_of(sw.fake.concat, 'a', 1, 'yes') end,\n"
    "  join_none = function() return err_of(sw.fake.join) end,\n"
    "  join_number = function() return err_of(sw.fake.join, 'a', 'b', 5) end,\n"
    "  lua_error = function() return err_of(sw.fake.fail, 'why') end,\n"
    "  lua_error_default = function() return err_of(sw.fake.fail) end,\n"
    "  bare_failure = function() return err_of(sw.fake.bare_fail) end,\n"
    "  no_args_expected = function() return err_of(sw.fake.bare_fail, 1) end,\n"
    "}\n"
    "function run_case(name) return cases[name]() end\n"
    "function many_results()\n"
    "  local t = {sw.fake.count(20)}\n"
    "  local sum = 0\n"
    "  for _, v in ipairs(t) do sum = sum + v end\n"
    "  return #t .. ':' .. sum\n"
    "end\n"
    "function types()\n"
    "  local d, i, n, not_str, out_of_range, nil1, nil2, bin =\n"
    "    sw.fake.types(nil, true, 7, 1.5, 's', {})\n"
    "  return table.concat({d, i, tostring(n), tostring(not_str), tostring(out_of_range),\n"
    "    tostring(nil1), tostring(nil2), #bin, select('#', sw.fake.types())}, ' ')\n"
    "end\n"
    "function versions()\n"
    "  return sw.old.first() .. ' ' .. sw.old.second() .. ' ' .. sw.future.first() .. ' ' ..\n"
    "    sw.future.second()\n"
    "end\n"
    "function misc()\n"
    "  return tostring(sw.fake.badspec) .. ' ' .. type(sw.log) .. ' ' .. type(sw.version)\n"
    "end\n"
    "function tables()\n"
    "  local t, s, open, extra = sw.fake.tables()\n"
    "  local keys = 0\n"
    "  for _ in pairs(t) do keys = keys + 1 end\n"
    "  return table.concat({t.uri, t.n, t.inner[1], t.inner[2], tostring(t[2]), tostring(t.gone),\n"
    "    tostring(t.odd), keys, s, open.k, tostring(extra), select('#', sw.fake.tables())}, ' ')\n"
    "end\n"
    "function nest()\n"
    "  local call_rc, call_err, load_rc = sw.fake.nest()\n"
    "  return call_rc .. ' ' .. call_err .. ' ' .. load_rc\n"
    "end\n";

static sw_lua_engine_t *new_engine_with_modules(void)
{
    sw_lua_engine_t *e = sw_lua_engine_new();
    sw_lua_module_funcs_t fake = {.module = "fake", .self = FAKE_SELF, .funcs = fake_funcs};
    sw_lua_module_funcs_t old = {.module = "old", .funcs = (const sw_lua_func_t *)(const void *)old_funcs};
    sw_lua_module_funcs_t future = {.module = "future",
                                    .funcs = (const sw_lua_func_t *)(const void *)future_funcs};
    /* Would replace sw.log: refused. */
    sw_lua_module_funcs_t clash = {.module = "log", .funcs = fake_funcs};
    sw_lua_engine_add_module(e, &fake);
    sw_lua_engine_add_module(e, &old);
    sw_lua_engine_add_module(e, &future);
    sw_lua_engine_add_module(e, &clash);
    return e;
}

static void test_module_functions(void **state)
{
    (void)state;
    sw_lua_engine_t *e = new_engine_with_modules();
    script_t s = write_script("module.lua", module_script);
    char err[1024] = "";
    assert_int_equal(sw_lua_engine_load(e, s.path, &test_limits, err, sizeof err), 0);

    seen_self = NULL;
    expect_text(e, "good_calls", NULL, "a:2|4|b:3:yes|c:4|x,y,z|3|only|1|integer");
    assert_ptr_equal(seen_self, FAKE_SELF);

    static const struct {
        const char *name, *message;
    } cases[] = {
        {"int_from_string", "sw.fake.concat: argument 2: integer expected, got string"},
        {"int_from_float", "sw.fake.concat: argument 2: integer expected, got number"},
        {"string_from_number", "sw.fake.concat: argument 1: string expected, got number"},
        {"required_nil", "sw.fake.concat: argument 2: integer expected, got nil"},
        {"missing_second", "sw.fake.concat: missing argument 2"},
        {"missing_all", "sw.fake.concat: missing argument 1"},
        {"too_many", "sw.fake.concat: too many arguments (at most 3 expected, got 4)"},
        {"bool_from_string", "sw.fake.concat: argument 3: boolean expected, got string"},
        {"join_none", "sw.fake.join: missing argument 1"},
        {"join_number", "sw.fake.join: argument 3: string expected, got number"},
        {"lua_error", "sw.fake.fail: failed on purpose: why"},
        {"lua_error_default", "sw.fake.fail: failed on purpose: no reason"},
        {"bare_failure", "sw.fake.bare_fail: failed"},
        {"no_args_expected", "sw.fake.bare_fail: too many arguments (at most 0 expected, got 1)"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text(e, "run_case", cases[i].name, cases[i].message);

    /* Raised at the script's line. */
    char needle[400];
    snprintf(needle, sizeof needle,
             "%s:16: sw.fake.concat: argument 1: string expected, got number", s.path);
    expect_failure(e, "direct_bad", NULL, needle);
    snprintf(needle, sizeof needle, "%s:19: sw.fake.fail: failed on purpose: direct", s.path);
    expect_failure(e, "direct_fail", NULL, needle);

    expect_text(e, "many_results", NULL, "20:210");
    expect_text(e, "tables", NULL, "sip:1001@h 5 one two true nil nil 4 after v nil 3");
    expect_text(e, "types", NULL, "012345 1 7.0 true true nil nil 3 8");
    expect_text(e, "versions", NULL, "42 43 42 43");
    expect_text(e, "misc", NULL, "nil function string");

    nesting_engine = e;
    expect_text(e, "nest", NULL, "-1 cannot call 'ok' from inside a Lua call -1");
    expect_text(e, "ok", NULL, "alive");

    /* --check installs the module tables too; without them the script fails. */
    script_t uses = write_script("uses.lua", "assert(sw.fake.concat('x', 1) == 'x:1')\n");
    assert_int_equal(sw_lua_engine_check(e, uses.path, NULL, err, sizeof err), 0);
    assert_int_equal(sw_lua_engine_check(NULL, uses.path, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "uses.lua:1:"));
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */

static int remove_test_dir(void)
{
    return sw_test_remove_dir(test_dir);
}

static int group_setup(void **state)
{
    (void)state;
    if (sw_test_make_dir(test_dir, sizeof test_dir, "lua-test"))
        return -1;
    sw_log_setup(SW_LOG_TO_STDERR, SW_LOG_INFO);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return remove_test_dir();
}

static int arm_watchdog(void **state)
{
    (void)state;
    alarm(WATCHDOG_SECONDS);
    return 0;
}

static int disarm_watchdog(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

#define LUA_TEST(fn) cmocka_unit_test_setup_teardown(fn, arm_watchdog, disarm_watchdog)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LUA_TEST(test_load_ok_and_has_function),
        LUA_TEST(test_syntax_error_keeps_old_script),
        LUA_TEST(test_runtime_error_at_top_level_keeps_old_script),
        LUA_TEST(test_binary_script_refused),
        LUA_TEST(test_call_with_arguments_and_results),
        LUA_TEST(test_runtime_error_in_call),
        LUA_TEST(test_budget_stops_infinite_loop),
        LUA_TEST(test_budget_cannot_be_caught),
        LUA_TEST(test_budget_at_top_level),
        LUA_TEST(test_memory_cap),
        LUA_TEST(test_sandbox_globals),
        LUA_TEST(test_print_and_sw_log),
        LUA_TEST(test_module_functions),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
