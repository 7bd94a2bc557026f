/* Unit tests of the prefix tables (core/lua/prefix.c): the trie in C
 * (longest match, limits, a randomized check against a brute-force search,
 * allocation failures) and sw.prefix through the real engine (CSV format and
 * its errors, relative paths, t:add, __close and __gc, the memory cap,
 * load refused during calls), and one million prefixes loaded with the load
 * time and lookup costs printed (figures only; correctness is what is
 * asserted).
 *
 * SW_PREFIX_TEST_BIG=N changes the size of the big load (default 1000000;
 * smaller under valgrind). Files go to a mkdtemp() directory removed at the
 * end. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "test_util.h"
#include "lua/engine.h"
#include "lua/prefix.h"

#define WATCHDOG_SECONDS 300

static char test_dir[64];

static const sw_lua_limits_t test_limits = {.instruction_budget = 1000000,
                                            .memory_limit = 16 * 1024 * 1024};

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static uint64_t prng_state;

/* splitmix64: deterministic test data. */
static uint64_t next_random(void)
{
    uint64_t z = (prng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_digits(char *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('0' + next_random() % 10);
    out[len] = '\0';
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* lua_Alloc-style allocator with a cap, counting like the sandbox's. */
typedef struct {
    size_t used, limit;
} counting_alloc_t;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    counting_alloc_t *c = ud;
    size_t old_size = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->used -= old_size;
        return NULL;
    }
    if (c->limit && nsize > old_size && c->used - old_size + nsize > c->limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        c->used = c->used - old_size + nsize;
    return p;
}

typedef struct {
    char path[256];
} file_path_t;

static file_path_t path_in_test_dir(const char *name)
{
    file_path_t p;
    snprintf(p.path, sizeof p.path, "%s/%s", test_dir, name);
    return p;
}

static file_path_t write_file(const char *name, const char *text)
{
    file_path_t p = path_in_test_dir(name);
    FILE *f = fopen(p.path, "wb");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* Loads `script` (written as name) into a new engine; NULL when the load
 * fails, with the reason in err. */
static sw_lua_engine_t *load_script(const char *name, const char *script,
                                    const sw_lua_limits_t *limits, char *err, size_t errlen)
{
    file_path_t p = write_file(name, script);
    sw_lua_engine_t *e = sw_lua_engine_new();
    assert_non_null(e);
    err[0] = '\0';
    if (sw_lua_engine_load(e, p.path, limits ? limits : &test_limits, err, errlen) != 0) {
        sw_lua_engine_free(e);
        return NULL;
    }
    return e;
}

/* The script must load (its top-level asserts pass). */
static sw_lua_engine_t *expect_load(const char *name, const char *script)
{
    char err[2048];
    sw_lua_engine_t *e = load_script(name, script, NULL, err, sizeof err);
    if (!e)
        fail_msg("%s should load: %s", name, err);
    return e;
}

/* The script must be refused with every needle in the error. */
static void expect_refused(const char *name, const char *script, const char *needle1,
                           const char *needle2)
{
    char err[2048];
    sw_lua_engine_t *e = load_script(name, script, NULL, err, sizeof err);
    if (e) {
        sw_lua_engine_free(e);
        fail_msg("%s should be refused", name);
    }
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("%s: expected \"%s\"%s%s%s in \"%s\"", name, needle1, needle2 ? " and \"" : "",
                 needle2 ? needle2 : "", needle2 ? "\"" : "", err);
}

typedef struct call_io {
    const char *argument;
    char result[1024];
    lua_Integer integer;
} call_io_t;

static int push_argument(lua_State *L, void *ud)
{
    const call_io_t *io = ud;
    if (!io->argument)
        return 0;
    lua_pushstring(L, io->argument);
    return 1;
}

static void read_result(lua_State *L, void *ud)
{
    call_io_t *io = ud;
    const char *s = lua_tostring(L, -1);
    snprintf(io->result, sizeof io->result, "%s", s ? s : "(nil)");
    io->integer = lua_tointeger(L, -1);
}

/* Calls fn(argument) (no argument when NULL): 0 and the result as text, or
 * -1 and err. */
static int call_fn(sw_lua_engine_t *e, const char *fn, const char *argument, call_io_t *io,
                   char *err, size_t errlen)
{
    memset(io, 0, sizeof *io);
    io->argument = argument;
    return sw_lua_engine_call(e, fn, NULL, push_argument, 1, read_result, io, err, errlen);
}

static void expect_call(sw_lua_engine_t *e, const char *fn, const char *argument,
                        const char *expected)
{
    call_io_t io;
    char err[1024];
    if (call_fn(e, fn, argument, &io, err, sizeof err) != 0)
        fail_msg("%s(%s) failed: %s", fn, argument ? argument : "", err);
    assert_string_equal(io.result, expected);
}

/* ------------------------------------------------------------------------- */
/* The trie in C                                                             */
/* ------------------------------------------------------------------------- */

static void insert_ok(sw_prefix_table_t *t, const char *digits, uint32_t value)
{
    assert_int_equal(sw_prefix_table_insert(t, digits, strlen(digits), value, NULL),
                     SW_PREFIX_ADDED);
}

/* Asserts the longest match of number: expected_value, expected_len; or no
 * match when expected_len is 0. */
static void expect_match(const sw_prefix_table_t *t, const char *number, uint32_t expected_value,
                         size_t expected_len)
{
    uint32_t value = 12345;
    size_t matched = 12345;
    bool found = sw_prefix_table_lookup(t, number, strlen(number), &value, &matched);
    if (expected_len == 0) {
        if (found)
            fail_msg("%s: unexpected match of %zu digits (value %u)", number, matched, value);
        return;
    }
    if (!found)
        fail_msg("%s: no match, expected %zu digits", number, expected_len);
    assert_int_equal(value, expected_value);
    assert_int_equal(matched, expected_len);
}

static void test_c_longest_match(void **state)
{
    (void)state;
    counting_alloc_t counter = {0};
    sw_prefix_table_t t;
    sw_prefix_table_init(&t, counting_alloc, &counter);
    expect_match(&t, "4420", 0, 0); /* empty table */
    assert_int_equal(sw_prefix_table_count(&t), 0);

    insert_ok(&t, "4", 1);
    insert_ok(&t, "44", 2);
    insert_ok(&t, "4420", 3);
    insert_ok(&t, "1900", 4);
    insert_ok(&t, "0", 5);
    insert_ok(&t, "9", 6);
    insert_ok(&t, "45", 7);
    assert_int_equal(sw_prefix_table_count(&t), 7);

    expect_match(&t, "442071234567", 3, 4);
    expect_match(&t, "4430", 2, 2);
    expect_match(&t, "442", 2, 2);  /* "4420" is longer than the number */
    expect_match(&t, "44", 2, 2);
    expect_match(&t, "4", 1, 1);
    expect_match(&t, "41", 1, 1);
    expect_match(&t, "4520", 7, 2);
    expect_match(&t, "1900123", 4, 4);
    expect_match(&t, "190", 0, 0);  /* only "1900" starts with 1 */
    expect_match(&t, "5", 0, 0);
    expect_match(&t, "", 0, 0);
    expect_match(&t, "0", 5, 1);
    expect_match(&t, "99", 6, 1);
    /* The walk stops at the first non-digit. */
    expect_match(&t, "4420;phone-context=x", 3, 4);
    expect_match(&t, "44a20", 2, 2);
    expect_match(&t, "x4420", 0, 0);

    /* An overlong number only walks as deep as the table goes. */
    char overlong[301];
    memset(overlong, '4', 300);
    overlong[300] = '\0';
    memcpy(overlong, "4420", 4);
    expect_match(&t, overlong, 3, 4);

    /* Duplicates and invalid prefixes change nothing. */
    uint32_t existing = 0;
    assert_int_equal(sw_prefix_table_insert(&t, "44", 2, 99, &existing), SW_PREFIX_DUPLICATE);
    assert_int_equal(existing, 2);
    assert_int_equal(sw_prefix_table_insert(&t, "", 0, 1, NULL), SW_PREFIX_INVALID);
    assert_int_equal(sw_prefix_table_insert(&t, "4a", 2, 1, NULL), SW_PREFIX_INVALID);
    assert_int_equal(sw_prefix_table_insert(&t, "+44", 3, 1, NULL), SW_PREFIX_INVALID);
    assert_int_equal(sw_prefix_table_insert(&t, overlong, SW_PREFIX_MAX_DIGITS + 1, 1, NULL),
                     SW_PREFIX_INVALID);
    assert_int_equal(sw_prefix_table_insert(&t, overlong, SW_PREFIX_MAX_DIGITS, 8, NULL),
                     SW_PREFIX_ADDED);
    assert_int_equal(sw_prefix_table_insert(&t, "1", 1, SW_PREFIX_MAX_VALUES, NULL),
                     SW_PREFIX_FULL);
    assert_int_equal(sw_prefix_table_count(&t), 8);
    expect_match(&t, overlong, 8, SW_PREFIX_MAX_DIGITS);
    expect_match(&t, "4430", 2, 2);

    /* The largest value id survives the packing. */
    insert_ok(&t, "77", SW_PREFIX_MAX_VALUES - 1);
    expect_match(&t, "771", SW_PREFIX_MAX_VALUES - 1, 2);

    assert_true(counter.used > 0);
    assert_int_equal(counter.used, sw_prefix_table_memory(&t));
    sw_prefix_table_release(&t);
    assert_int_equal(counter.used, 0);
    expect_match(&t, "4420", 0, 0); /* released = empty, and reusable */
    insert_ok(&t, "4420", 1);
    expect_match(&t, "44201", 1, 4);
    sw_prefix_table_release(&t);
    assert_int_equal(counter.used, 0);
}

static void test_c_leading_digits(void **state)
{
    (void)state;
    size_t start = 99;
    assert_int_equal(sw_prefix_leading_digits("+4420", 5, &start), 4);
    assert_int_equal(start, 1);
    assert_int_equal(sw_prefix_leading_digits("4420x1", 6, &start), 4);
    assert_int_equal(start, 0);
    assert_int_equal(sw_prefix_leading_digits("++44", 4, &start), 0);
    assert_int_equal(start, 1);
    assert_int_equal(sw_prefix_leading_digits("", 0, &start), 0);
    assert_int_equal(start, 0);
    assert_int_equal(sw_prefix_leading_digits("4420", 2, &start), 2); /* bounded by len */
}

/* Naive longest match over a list, to check the trie against. */
typedef struct {
    char digits[16];
    size_t len;
    uint32_t value;
} reference_entry_t;

static bool reference_lookup(const reference_entry_t *entries, size_t count, const char *number,
                             uint32_t *value, size_t *matched)
{
    size_t best = 0;
    for (size_t i = 0; i < count; i++) {
        if (entries[i].len > best && strncmp(number, entries[i].digits, entries[i].len) == 0) {
            best = entries[i].len;
            *value = entries[i].value;
        }
    }
    *matched = best;
    return best > 0;
}

/* Random prefixes and numbers, trie against brute force: exercises block
 * moves and free-list reuse on every shape of node. */
static void test_c_random_against_reference(void **state)
{
    (void)state;
    enum { PREFIXES = 3000, NUMBERS = 3000 };
    prng_state = 42;
    reference_entry_t *entries = calloc(PREFIXES, sizeof *entries);
    assert_non_null(entries);
    counting_alloc_t counter = {0};
    sw_prefix_table_t t;
    sw_prefix_table_init(&t, counting_alloc, &counter);
    size_t count = 0;
    while (count < PREFIXES) {
        reference_entry_t *e = &entries[count];
        e->len = 1 + next_random() % 8;
        random_digits(e->digits, e->len);
        e->value = (uint32_t)count;
        sw_prefix_result_t r = sw_prefix_table_insert(&t, e->digits, e->len, e->value, NULL);
        if (r == SW_PREFIX_ADDED)
            count++;
        else
            assert_int_equal(r, SW_PREFIX_DUPLICATE);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NUMBERS; i++) {
            char number[16];
            random_digits(number, 1 + next_random() % 10);
            uint32_t want_value = 0, got_value = 0;
            size_t want_len = 0, got_len = 0;
            bool want = reference_lookup(entries, count, number, &want_value, &want_len);
            bool got = sw_prefix_table_lookup(&t, number, strlen(number), &got_value, &got_len);
            assert_int_equal(got, want);
            if (want) {
                assert_int_equal(got_len, want_len);
                assert_int_equal(got_value, want_value);
            }
        }
        /* Every prefix finds itself. */
        for (size_t i = 0; i < count; i++)
            expect_match(&t, entries[i].digits, entries[i].value, entries[i].len);
        /* Second round: the same after giving back the slack. */
        sw_prefix_table_shrink(&t);
        assert_int_equal(counter.used, sw_prefix_table_memory(&t));
    }
    assert_int_equal(sw_prefix_table_count(&t), PREFIXES);
    sw_prefix_table_release(&t);
    assert_int_equal(counter.used, 0);
    free(entries);
}

/* A refused allocation leaves the table as it was, and usable. */
static void test_c_allocation_failure(void **state)
{
    (void)state;
    counting_alloc_t counter = {.limit = 4096};
    sw_prefix_table_t t;
    sw_prefix_table_init(&t, counting_alloc, &counter);
    prng_state = 7;
    size_t added = 0;
    char digits[16];
    sw_prefix_result_t r;
    for (;;) {
        random_digits(digits, 12);
        r = sw_prefix_table_insert(&t, digits, 12, 1, NULL);
        if (r != SW_PREFIX_ADDED)
            break;
        added++;
    }
    assert_int_equal(r, SW_PREFIX_NO_MEMORY);
    assert_true(added > 0);
    assert_int_equal(sw_prefix_table_count(&t), added);
    assert_true(counter.used <= counter.limit);
    expect_match(&t, digits, 0, 0); /* the refused prefix is not there */
    counter.limit = 0;
    insert_ok(&t, digits, 2);
    expect_match(&t, digits, 2, 12);
    sw_prefix_table_release(&t);
    assert_int_equal(counter.used, 0);
}

/* ------------------------------------------------------------------------- */
/* sw.prefix through the engine                                              */
/* ------------------------------------------------------------------------- */

static void test_lua_load_csv_format(void **state)
{
    (void)state;
    write_file("format.csv",
               "\xEF\xBB\xBFprefix,carrier,rate\r\n"      /* BOM + header, CRLF */
               "# UK\r\n"
               "44,carrierA,0.010\r\n"
               "\r\n"
               "   \t\n"
               "  4420 , london , 0.008  \n"              /* blanks around fields */
               "+1900,premium\n"                          /* '+' is stripped */
               "  # indented comment\n"
               "33,\n"                                    /* empty value */
               "1,north america,with,\"commas\"");          /* no final newline */
    sw_lua_engine_t *e = expect_load(
        "format.lua",
        "local t = sw.prefix.load('format.csv')\n"      /* relative to the script */
        "assert(#t == 5 and t:count() == 5, 'count ' .. #t)\n"
        "local v, p = t:lookup('442071234567')\n"
        "assert(v == 'london , 0.008' and p == '4420', tostring(v) .. '|' .. tostring(p))\n"
        "v, p = t:lookup('+4430')\n"
        "assert(v == 'carrierA,0.010' and p == '44', tostring(v))\n"
        "v, p = t:lookup('19001234')\n"
        "assert(v == 'premium' and p == '1900')\n"
        "v, p = t:lookup('+1900')\n"
        "assert(v == 'premium' and p == '1900')\n"
        "assert(t:lookup('290') == nil)\n"
        "v, p = t:lookup('33')\n"
        "assert(v == '' and p == '33')\n"
        "assert(t:lookup('1555') == 'north america,with,\"commas\"')\n"
        "assert(t:lookup('5') == nil and t:lookup('') == nil and t:lookup('+') == nil)\n"
        "assert(t:lookup('sip:44@x') == nil)\n"
        "assert(t:lookup('4420;user=phone') == 'london , 0.008')\n"
        "assert(t:lookup(('4'):rep(1000)) == 'carrierA,0.010')\n"
        "assert(tostring(t) == 'prefix table (5 prefixes)', tostring(t))\n"
        "assert(getmetatable(t) == 'prefix table')\n"
        "assert(select('#', t:lookup('5')) == 1)\n"
        "T = t\n"
        "function lookup(n) local v, p = T:lookup(n) return tostring(v) .. '|' .. tostring(p) end\n");
    expect_call(e, "lookup", "+44 20 7946 0000", "carrierA,0.010|44");
    expect_call(e, "lookup", "00", "nil|nil");
    sw_lua_engine_free(e);

    /* Header detection is for the first line only, and needs a letter. */
    write_file("header_late.csv", "44,a\nprefix,carrier\n");
    expect_refused("header_late.lua", "sw.prefix.load('header_late.csv')",
                   "header_late.csv:2: bad prefix", "'prefix'");
    write_file("header_digit.csv", "4x,carrier\n44,a\n");
    expect_refused("header_digit.lua", "sw.prefix.load('header_digit.csv')",
                   "header_digit.csv:1: bad prefix", "'4x'");
    write_file("header_only.csv", "# nothing\nprefix,value\n");
    sw_lua_engine_t *empty = expect_load(
        "header_only.lua",
        "local t = sw.prefix.load('header_only.csv')\n"
        "assert(#t == 0 and t:lookup('44') == nil)\n");
    sw_lua_engine_free(empty);
    write_file("empty.csv", "");
    empty = expect_load("empty_file.lua",
                        "local t = sw.prefix.load('empty.csv')\nassert(#t == 0)\n");
    sw_lua_engine_free(empty);
}

static void test_lua_load_errors(void **state)
{
    (void)state;
    /* Each error names the CSV file and line, after the script's own
     * position. */
    static const struct {
        const char *csv;
        const char *needle;
    } cases[] = {
        {"44,a\n# c\n4a4,b\n", "bad.csv:3: bad prefix (digits expected, optionally after a '+'): '4a4'"},
        {"44,a\n4 4,b\n", "bad.csv:2: bad prefix"},
        {"44,a\n++44,b\n", "bad.csv:2: bad prefix"},
        {"44,a\n,b\n", "bad.csv:2: empty prefix"},
        {"44,a\n+,b\n", "bad.csv:2: empty prefix"},
        {"44,a\n4420\n", "bad.csv:2: no value (expected prefix,value)"},
        {"123456789012345678901234567890123,x\n", "bad.csv:1: prefix too long (at most 32 digits)"},
        {"44,a\n4\0004,b\n", "bad.csv:2: NUL byte in line"},
        {"44,a\n45,b\n# dup below\n\n44,c\n", "bad.csv:5: duplicate prefix 44 (first at line 1)"},
        {"prefix,v\n1,a\n+44,a\n2,b\n44,b\n", "bad.csv:5: duplicate prefix 44 (first at line 3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        file_path_t csv = path_in_test_dir("bad.csv");
        FILE *f = fopen(csv.path, "wb");
        assert_non_null(f);
        /* Written with its length: one case holds a NUL byte. */
        size_t len = strlen(cases[i].csv);
        if (strstr(cases[i].needle, "NUL"))
            len = 11;
        assert_int_equal(fwrite(cases[i].csv, 1, len, f), len);
        fclose(f);
        expect_refused("bad.lua", "local x = 1\nlocal t = sw.prefix.load('bad.csv')\n",
                       "bad.lua:2: sw.prefix.load: ", cases[i].needle);
    }

    /* A line longer than the buffer. */
    size_t long_len = 70000;
    char *long_line = malloc(long_len + 8);
    assert_non_null(long_line);
    memcpy(long_line, "44,a\n1,", 7);
    memset(long_line + 7, 'x', long_len);
    long_line[long_len] = '\0';
    write_file("bad.csv", long_line);
    free(long_line);
    expect_refused("bad.lua", "sw.prefix.load('bad.csv')", "bad.csv:2: line too long", NULL);

    /* Missing file, and wrong argument types. */
    expect_refused("missing.lua", "sw.prefix.load('no-such.csv')",
                   "missing.lua:1: sw.prefix.load: ", "no-such.csv: cannot open: No such file");
    expect_refused("directory.lua", "sw.prefix.load('/')", "directory.lua:1: sw.prefix.load: /: ",
                   "Is a directory");
    expect_refused("noarg.lua", "sw.prefix.load()", "noarg.lua:1:", "string expected");
    write_file("ok.csv", "44,a\n");
    expect_refused("lookup_number.lua", "sw.prefix.load('ok.csv'):lookup(4420)",
                   "lookup_number.lua:1:", "string expected, got number");
    expect_refused("lookup_nil.lua", "sw.prefix.load('ok.csv'):lookup(nil)",
                   "lookup_nil.lua:1:", "string expected, got nil");
    expect_refused("method_on_other.lua",
                   "local t = sw.prefix.load('ok.csv')\nt.lookup({}, '44')",
                   "method_on_other.lua:2:", "prefix table expected, got table");
}

static void test_lua_absolute_path_and_directory(void **state)
{
    (void)state;
    file_path_t csv = write_file("abs.csv", "44,a\n");
    char script[512];
    snprintf(script, sizeof script,
             "local t = sw.prefix.load('%s')\nassert(t:lookup('441') == 'a')\n", csv.path);
    /* From another working directory: absolute paths do not depend on it,
     * relative ones are resolved against the script's directory. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/"), 0);
    sw_lua_engine_t *e = expect_load("abs.lua", script);
    sw_lua_engine_free(e);
    e = expect_load("rel.lua", "assert(sw.prefix.load('abs.csv'):lookup('44') == 'a')\n");
    sw_lua_engine_free(e);
    assert_int_equal(chdir(cwd), 0);
}

static void test_lua_new_and_add(void **state)
{
    (void)state;
    sw_lua_engine_t *e = expect_load(
        "add.lua",
        "local t = sw.prefix.new()\n"
        "assert(#t == 0 and t:lookup('1') == nil)\n"
        "local uk = { carrier = 'A', rate = 0.01 }\n"
        "t:add('44', uk)\n"
        "t:add('+4420', 'london')\n"
        "t:add('1', 1)\n"
        "t:add('7', true)\n"
        "t:add('8', uk)\n"
        "assert(#t == 5)\n"
        "assert(t:lookup('4431') == uk and t:lookup('8') == uk)\n"
        "assert(t:lookup('44207') == 'london')\n"
        "assert(t:lookup('1212') == 1 and t:lookup('7') == true)\n"
        "local ok, err = pcall(t.add, t, '44', 'again')\n"
        "assert(not ok and err:find('duplicate prefix 44', 1, true), err)\n"
        "ok, err = pcall(t.add, t, '4x', 'v')\n"
        "assert(not ok and err:find(\"bad prefix '4x'\", 1, true), err)\n"
        "ok, err = pcall(t.add, t, '', 'v')\n"
        "assert(not ok and err:find('bad prefix', 1, true), err)\n"
        "ok, err = pcall(t.add, t, ('1'):rep(33), 'v')\n"
        "assert(not ok and err:find('bad prefix', 1, true), err)\n"
        "ok, err = pcall(t.add, t, '5', nil)\n"
        "assert(not ok and err:find('value expected', 1, true), err)\n"
        "ok, err = pcall(t.add, t, 5, 'v')\n"
        "assert(not ok and err:find('string expected', 1, true), err)\n"
        "assert(#t == 5)\n"
        "BUILT = t\n"
        "function add_in_call(p) BUILT:add(p, 'from a call') return BUILT:lookup(p .. '0') end\n");
    /* Adding during a call is allowed (no file is read). */
    expect_call(e, "add_in_call", "555", "from a call");
    sw_lua_engine_free(e);
}

/* sw.prefix.load reads a file: only at the top level, never in a call. */
static void test_lua_load_refused_in_calls(void **state)
{
    (void)state;
    write_file("call.csv", "44,a\n");
    sw_lua_engine_t *e = expect_load(
        "call.lua",
        "local function load_it() return sw.prefix.load('call.csv') end\n"
        "assert(#load_it() == 1)\n" /* a function run by the top level: allowed */
        "function late() return #load_it() end\n");
    call_io_t io;
    char err[1024];
    assert_int_equal(call_fn(e, "late", NULL, &io, err, sizeof err), -1);
    if (!strstr(err, "only allowed while the script loads"))
        fail_msg("unexpected error: %s", err);
    sw_lua_engine_free(e);
}

/* Memory used by the engine's state, from inside (after a full collection). */
static size_t collected_memory(sw_lua_engine_t *e)
{
    call_io_t io;
    char err[1024];
    if (call_fn(e, "collect", NULL, &io, err, sizeof err) != 0)
        fail_msg("collect: %s", err);
    return sw_lua_engine_memory_used(e);
}

static void test_lua_close_and_gc_free(void **state)
{
    (void)state;
    /* 20,000 prefixes: their trie is much larger than the state's noise. */
    file_path_t csv = path_in_test_dir("gc.csv");
    FILE *f = fopen(csv.path, "w");
    assert_non_null(f);
    prng_state = 99;
    char digits[16];
    for (int i = 0; i < 20000; i++) {
        random_digits(digits, 10);
        fprintf(f, "%s%05d,v%d\n", digits, i, i % 10); /* unique by the suffix */
    }
    fclose(f);
    sw_lua_engine_t *e = expect_load(
        "gc.lua",
        "function collect() collectgarbage('collect') collectgarbage('collect') end\n"
        "function load_global() "
        "  T = sw.prefix.load('gc.csv') end\n"
        "load_global()\n"
        "function drop() T = nil end\n"
        "function close_it()\n"
        "  local t <close> = T\n"
        "  T = nil\n"
        "  CLOSED = t\n"
        "end\n"
        "function use_closed() return CLOSED:lookup('1') end\n"
        "function tostring_closed() return tostring(CLOSED) end\n"
        "function count() return #T end\n");
    expect_call(e, "count", NULL, "20000");
    size_t with_table = collected_memory(e);

    /* __close frees at once, before any collection. */
    expect_call(e, "close_it", NULL, "(nil)");
    size_t closed = sw_lua_engine_memory_used(e);
    assert_true(with_table - closed > 20000 * 8);
    call_io_t io;
    char err[1024];
    assert_int_equal(call_fn(e, "use_closed", NULL, &io, err, sizeof err), -1);
    if (!strstr(err, "prefix table is closed"))
        fail_msg("unexpected error: %s", err);
    expect_call(e, "tostring_closed", NULL, "prefix table (closed)");
    sw_lua_engine_free(e);

    /* __gc frees when the table is no longer referenced. */
    e = expect_load("gc2.lua",
                    "function collect() collectgarbage('collect') collectgarbage('collect') end\n"
                    "T = sw.prefix.load('gc.csv')\n"
                    "function drop() T = nil end\n");
    with_table = collected_memory(e);
    expect_call(e, "drop", NULL, "(nil)");
    size_t dropped = collected_memory(e);
    assert_true(with_table - dropped > 20000 * 8);
    sw_lua_engine_free(e); /* and lua_close frees a live one (valgrind checks) */
    e = expect_load("gc3.lua", "T = sw.prefix.load('gc.csv')\n");
    sw_lua_engine_free(e);
}

/* A file too big for the state's memory limit fails cleanly with "not
 * enough memory", and a later load still works. */
static void test_lua_memory_cap(void **state)
{
    (void)state;
    file_path_t csv = path_in_test_dir("big_for_cap.csv");
    FILE *f = fopen(csv.path, "w");
    assert_non_null(f);
    prng_state = 5;
    char digits[16];
    for (int i = 0; i < 300000; i++) {
        random_digits(digits, 6);
        fprintf(f, "%s%06d,carrier%d\n", digits, i, i % 7);
    }
    fclose(f);
    sw_lua_limits_t small = {.instruction_budget = 1000000, .memory_limit = 8 * 1024 * 1024};
    char err[2048];
    sw_lua_engine_t *e =
        load_script("cap.lua", "T = sw.prefix.load('big_for_cap.csv')\n", &small, err, sizeof err);
    if (e) {
        sw_lua_engine_free(e);
        fail_msg("a 300,000-prefix table should not fit in 8 MiB");
    }
    if (!strstr(err, "not enough memory") || !strstr(err, "big_for_cap.csv:") ||
        !strstr(err, "cap.lua:1: sw.prefix.load: "))
        fail_msg("unexpected error: %s", err);
    printf("# under an 8 MiB limit: %s\n", err);

    /* Caught by the script: the state stays usable, the partial table is
     * collected. */
    e = load_script("cap_caught.lua",
                    "local ok, err = pcall(sw.prefix.load, 'big_for_cap.csv')\n"
                    "assert(not ok and err:find('not enough memory', 1, true), err)\n"
                    "collectgarbage('collect')\n"
                    "local t = sw.prefix.new()\n"
                    "t:add('44', 'fine')\n"
                    "assert(t:lookup('441') == 'fine')\n",
                    &small, err, sizeof err);
    if (!e)
        fail_msg("cap_caught.lua should load: %s", err);
    assert_true(sw_lua_engine_memory_used(e) < 2 * 1024 * 1024);
    sw_lua_engine_free(e);
}

/* scripts/examples/prefix_routing.lua with its CSV, called with a stand-in
 * for the call object (callee and reject() are all it uses). */
static char example_rejection[128];

static int fake_reject(lua_State *L)
{
    snprintf(example_rejection, sizeof example_rejection, "reject %d %s",
             (int)luaL_checkinteger(L, 2), luaL_optstring(L, 3, ""));
    return 0;
}

static int push_fake_call(lua_State *L, void *ud)
{
    lua_newtable(L);
    lua_pushstring(L, ud);
    lua_setfield(L, -2, "callee");
    lua_pushcfunction(L, fake_reject);
    lua_setfield(L, -2, "reject");
    return 1;
}

/* A returned chain, as "gw1|gw2"; nothing returned leaves the rejection
 * fake_reject wrote. */
static void read_chain(lua_State *L, void *ud)
{
    (void)ud;
    if (!lua_istable(L, -1))
        return;
    char *out = example_rejection;
    out[0] = '\0';
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        snprintf(out + strlen(out), sizeof example_rejection - strlen(out), "%s%s",
                 i > 1 ? "|" : "", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static void expect_route(sw_lua_engine_t *e, const char *callee, const char *expected)
{
    char err[1024];
    example_rejection[0] = '\0';
    if (sw_lua_engine_call(e, "on_invite", NULL, push_fake_call, 1, read_chain, (void *)callee,
                           err, sizeof err) != 0)
        fail_msg("on_invite(%s): %s", callee, err);
    assert_string_equal(example_rejection, expected);
}

static void test_example_script(void **state)
{
    (void)state;
    sw_lua_engine_t *e = sw_lua_engine_new();
    char err[1024];
    if (sw_lua_engine_load(e, SW_TEST_SRCDIR "/scripts/examples/prefix_routing.lua", &test_limits,
                           err, sizeof err) != 0)
        fail_msg("the example does not load: %s", err);
    expect_route(e, "+442079460000", "carrierA");
    expect_route(e, "447700900123", "carrierB|carrierA");
    expect_route(e, "441632960000", "carrierA|carrierB|carrierC");
    expect_route(e, "19005550100", "reject 403 Destination barred");
    expect_route(e, "12125550100", "carrierB|carrierC");
    expect_route(e, "+4930123456", "carrierB|carrierC");
    expect_route(e, "33142685300", "carrierC|carrierB");
    expect_route(e, "4470123", "reject 403 Destination barred");
    expect_route(e, "81312345678", "reject 404 No route");
    expect_route(e, "anonymous", "reject 404 No route");
    sw_lua_engine_free(e);
}

/* ------------------------------------------------------------------------- */
/* One million prefixes                                                      */
/* ------------------------------------------------------------------------- */

static size_t big_count(void)
{
    const char *env = getenv("SW_PREFIX_TEST_BIG");
    size_t n = env ? strtoul(env, NULL, 10) : 1000000;
    return n ? n : 1000000;
}

static void *plain_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

typedef struct {
    const char *number;
    double seconds;
} lookup_io_t;

static int push_rounds(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushinteger(L, 10);
    return 1;
}

static void read_seconds(lua_State *L, void *ud)
{
    ((lookup_io_t *)ud)->seconds = lua_tonumber(L, -1);
}

static void test_lua_one_million(void **state)
{
    (void)state;
    size_t wanted = big_count();
    /* In /tmp, as the test directory is. */
    file_path_t csv = path_in_test_dir("million.csv");
    FILE *f = fopen(csv.path, "w");
    assert_non_null(f);
    fputs("prefix,carrier,rate\n", f);
    /* The C table is the reference: it also drops duplicate draws. */
    sw_prefix_table_t reference;
    sw_prefix_table_init(&reference, plain_alloc, NULL);
    prng_state = 2024;
    char digits[16];
    size_t written = 0;
    double c_insert_seconds = 0;
    while (written < wanted) {
        size_t len = 1 + next_random() % 12;
        random_digits(digits, len);
        uint32_t value = (uint32_t)(next_random() % 50);
        double t0 = seconds_now();
        sw_prefix_result_t r = sw_prefix_table_insert(&reference, digits, len, value, NULL);
        c_insert_seconds += seconds_now() - t0;
        if (r == SW_PREFIX_DUPLICATE)
            continue;
        assert_int_equal(r, SW_PREFIX_ADDED);
        fprintf(f, "%s,carrier%02u,0.%04u\n", digits, value, value * 37 % 10000);
        written++;
    }
    assert_int_equal(fclose(f), 0);
    sw_prefix_table_shrink(&reference);

    sw_lua_limits_t limits = {.instruction_budget = 100000000, .memory_limit = (size_t)256 << 20};
    char err[2048];
    double t0 = seconds_now();
    sw_lua_engine_t *e = load_script(
        "million.lua",
        "T = sw.prefix.load('million.csv')\n"
        "function lookup(n) local v, p = T:lookup(n) return tostring(v) .. '|' .. tostring(p) end\n"
        "function count() return #T end\n"
        "local numbers, seed = {}, 12345\n"
        "for i = 1, 10000 do\n"
        "  local d = {}\n"
        "  for k = 1, 12 do seed = (seed * 1103515245 + 12345) % 2147483648;"
        "    d[k] = string.char(48 + (seed >> 16) % 10) end\n"
        "  numbers[i] = table.concat(d)\n"
        "end\n"
        "function time_lookups(rounds)\n"
        "  local t, start = T, os.clock()\n"
        "  for r = 1, rounds do for i = 1, #numbers do t:lookup(numbers[i]) end end\n"
        "  local with = os.clock() - start\n"
        "  start = os.clock()\n"
        "  for r = 1, rounds do for i = 1, #numbers do local _ = numbers[i] end end\n"
        "  return with - (os.clock() - start)\n"
        "end\n",
        &limits, err, sizeof err);
    double load_seconds = seconds_now() - t0;
    if (!e)
        fail_msg("million.lua: %s", err);
    size_t state_bytes = sw_lua_engine_memory_used(e);

    call_io_t io;
    assert_int_equal(call_fn(e, "count", NULL, &io, err, sizeof err), 0);
    assert_int_equal(io.integer, (lua_Integer)written);

    /* Lua and the C reference agree on random numbers (and so on the
     * prefixes themselves, which they find). */
    prng_state = 777;
    for (int i = 0; i < 2000; i++) {
        char number[16];
        random_digits(number, 1 + next_random() % 12);
        uint32_t value = 0;
        size_t matched = 0;
        char expected[128];
        if (sw_prefix_table_lookup(&reference, number, strlen(number), &value, &matched))
            snprintf(expected, sizeof expected, "carrier%02u,0.%04u|%.*s", value,
                     value * 37 % 10000, (int)matched, number);
        else
            snprintf(expected, sizeof expected, "nil|nil");
        expect_call(e, "lookup", number, expected);
    }

    /* Figures, not assertions: the machine is shared. */
    enum { C_LOOKUPS = 200000 };
    static char numbers[C_LOOKUPS][13];
    for (int i = 0; i < C_LOOKUPS; i++)
        random_digits(numbers[i], 12);
    size_t found = 0;
    t0 = seconds_now();
    for (int i = 0; i < C_LOOKUPS; i++) {
        uint32_t value;
        size_t matched;
        found += sw_prefix_table_lookup(&reference, numbers[i], 12, &value, &matched);
    }
    double c_lookup_ns = (seconds_now() - t0) * 1e9 / C_LOOKUPS;
    assert_true(found > 0);
    lookup_io_t timing = {0};
    assert_int_equal(sw_lua_engine_call(e, "time_lookups", NULL, push_rounds, 1, read_seconds,
                                        &timing, err, sizeof err),
                     0);
    double lua_lookup_ns = timing.seconds * 1e9 / (10.0 * 10000);
    printf("# %zu prefixes: script load %.3f s (sw.prefix.load, plus a 10,000-number "
           "array); state %zu bytes (%.1f bytes/prefix); trie alone %.1f bytes/prefix; "
           "C insert %.0f ns; lookup %.0f ns from C, %.0f ns from Lua\n",
           written, load_seconds, state_bytes, (double)state_bytes / (double)written,
           (double)sw_prefix_table_memory(&reference) / (double)written,
           c_insert_seconds * 1e9 / (double)written, c_lookup_ns, lua_lookup_ns);
    sw_lua_engine_free(e);
    sw_prefix_table_release(&reference);
    unlink(csv.path);
}

/* ------------------------------------------------------------------------- */

static int remove_test_dir(void)
{
    return sw_test_remove_dir(test_dir);
}

static int group_setup(void **state)
{
    (void)state;
    if (sw_test_make_dir(test_dir, sizeof test_dir, "prefix-test"))
        return -1;
    sw_log_setup(SW_LOG_TO_STDERR, SW_LOG_WARN);
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

#define PREFIX_TEST(fn) cmocka_unit_test_setup_teardown(fn, arm_watchdog, disarm_watchdog)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PREFIX_TEST(test_c_longest_match),
        PREFIX_TEST(test_c_leading_digits),
        PREFIX_TEST(test_c_random_against_reference),
        PREFIX_TEST(test_c_allocation_failure),
        PREFIX_TEST(test_lua_load_csv_format),
        PREFIX_TEST(test_lua_load_errors),
        PREFIX_TEST(test_lua_absolute_path_and_directory),
        PREFIX_TEST(test_lua_new_and_add),
        PREFIX_TEST(test_lua_load_refused_in_calls),
        PREFIX_TEST(test_lua_close_and_gc_free),
        PREFIX_TEST(test_lua_memory_cap),
        PREFIX_TEST(test_example_script),
        PREFIX_TEST(test_lua_one_million),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
