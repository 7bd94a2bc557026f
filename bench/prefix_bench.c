/* Prefix tables (core/lua/prefix.c): load time, lookup cost and memory.
 *
 * Build and run from the build directory (not part of `make check`):
 *
 *   cd build && make -j2 && ./libtool --mode=link gcc -O2 -I. -I../include -Iinclude \
 *       -I../core $(pkg-config --cflags lua5.4) -o prefix_bench ../bench/prefix_bench.c \
 *       libswcore.la && ./prefix_bench [PREFIXES [DISTINCT_VALUES]]
 *   ./prefix_bench --cap          # 10M prefixes against a 64 MiB memory limit
 *
 * It writes a CSV of PREFIXES (default 1,000,000) random digit strings of
 * length 1..12 (deterministic PRNG; duplicates dropped) with values
 * "carrierNN,0.0123" drawn from DISTINCT_VALUES (default 50) to /tmp, loads
 * it through the real engine (sandbox, memory accounting) and reports:
 *  - load time of sw.prefix.load, and bytes per prefix (the state's
 *    accounted memory with the table minus without it);
 *  - ns per lookup from C (sw_prefix_table_lookup on the same prefixes,
 *    inserted from C) and from Lua (t:lookup(number) in a loop, the loop's
 *    own cost measured apart and subtracted);
 *  - ns per C insert.
 * Numbers looked up are random 12-digit strings, so the walk goes as deep as
 * the table allows (the worst case for a trie of random prefixes).
 *
 * Targets: 1M prefixes load in under 2 s; a lookup costs under 1 us, from Lua
 * including the call. Results of 2026-11-21 (AMD EPYC, 2 vCPU, shared VM,
 * gcc -O2, Lua 5.4.4 from Debian 12), 50 distinct values:
 *
 *   prefixes                   1,000,000          10,000,000
 *   sw.prefix.load             0.27-0.30 s CPU    5.4 s CPU
 *   bytes per prefix (state)   28.2               24.5
 *   C lookup                   77-87 ns           217 ns
 *   Lua t:lookup(number)       390-460 ns         640 ns
 *   C insert                   290-320 ns         655 ns
 *
 * With DISTINCT_VALUES 1000000 (about 630,000 different value strings, so
 * almost one per prefix) 1M prefixes load in 1.1 s and take 106 bytes each:
 * the values, not the trie, then dominate.
 *
 * Lookups of numbers that were looked up recently are cheaper (the test
 * with 10,000 numbers sees ~100 ns from C, ~200 ns from Lua): the cost is
 * cache misses in the lower trie levels, plus, from Lua, reading the number
 * string and interning the matched prefix (~150 ns of the Lua figure).
 * Random prefixes are the worst case for memory (3.5 nodes per prefix, long
 * single-child chains); real tables share their upper digits. Under a
 * 64 MiB limit, --cap is refused after ~1 s at about 2.4M prefixes with
 * "not enough memory".
 *
 * Alternatives weighed (estimated from the 3.5M node slots above, not built):
 * nodes with ten 32-bit child slots (44 bytes) would take ~150 MB for 1M
 * prefixes; a hash or sorted array per prefix length costs one cache miss or
 * binary search per candidate length, up to 12 per lookup, where the trie's
 * upper levels stay cached. */
#include "config.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "lua/engine.h"
#include "lua/prefix.h"

#define LOOKUP_NUMBERS 100000
#define LOOKUP_ROUNDS 20

static uint64_t prng_state = 0x5eed5eed12345678ull;

/* splitmix64: deterministic, so every run loads the same file. */
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

/* Writes the CSV and fills a C table with the same prefixes (duplicates of
 * the random draw are skipped in both). Returns the number of prefixes. */
static size_t write_csv(const char *path, size_t wanted, unsigned distinct_values,
                        sw_prefix_table_t *c_table, double *c_insert_seconds)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs("prefix,carrier,rate\n", f);
    size_t written = 0;
    double c_seconds = 0;
    char digits[16];
    while (written < wanted) {
        size_t len = 1 + next_random() % 12;
        random_digits(digits, len);
        unsigned value = (unsigned)(next_random() % distinct_values);
        double t0 = seconds_now();
        sw_prefix_result_t r = sw_prefix_table_insert(c_table, digits, len, value, NULL);
        c_seconds += seconds_now() - t0;
        if (r == SW_PREFIX_DUPLICATE)
            continue;
        if (r != SW_PREFIX_ADDED) {
            fprintf(stderr, "C insert failed: %d\n", (int)r);
            exit(1);
        }
        fprintf(f, "%s,carrier%02u,0.%04u\n", digits, value, value * 37 % 10000);
        written++;
    }
    fclose(f);
    *c_insert_seconds = c_seconds;
    return written;
}

/* Argument and result of a call into the script. */
typedef struct call_io {
    lua_Integer argument;
    double result;
} call_io_t;

static int push_argument(lua_State *L, void *ud)
{
    lua_pushinteger(L, ((const call_io_t *)ud)->argument);
    return 1;
}

static void read_result(lua_State *L, void *ud)
{
    ((call_io_t *)ud)->result = lua_tonumber(L, -1);
}

static double call_number(sw_lua_engine_t *e, const char *fn, lua_Integer argument)
{
    char err[1024];
    call_io_t io = {.argument = argument};
    if (sw_lua_engine_call(e, fn, NULL, push_argument, 1, read_result, &io, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", fn, err);
        exit(1);
    }
    return io.result;
}

static const char bench_functions[] =
    "local numbers = {}\n"
    "local seed = 12345\n"
    "for i = 1, " "100000" " do\n"
    "  local digits = {}\n"
    "  for k = 1, 12 do\n"
    "    seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "    digits[k] = string.char(48 + (seed >> 16) % 10)\n"
    "  end\n"
    "  numbers[i] = table.concat(digits)\n"
    "end\n"
    "function bench_lookup(rounds)\n"
    "  local t, found = T, 0\n"
    "  local start = os.clock()\n"
    "  for r = 1, rounds do\n"
    "    for i = 1, #numbers do\n"
    "      if t:lookup(numbers[i]) then found = found + 1 end\n"
    "    end\n"
    "  end\n"
    "  return os.clock() - start\n"
    "end\n"
    "function bench_empty_loop(rounds)\n"
    "  local found = 0\n"
    "  local start = os.clock()\n"
    "  for r = 1, rounds do\n"
    "    for i = 1, #numbers do\n"
    "      if numbers[i] then found = found + 1 end\n"
    "    end\n"
    "  end\n"
    "  return os.clock() - start\n"
    "end\n";

static sw_lua_engine_t *load_script(const char *script_path, const char *body,
                                    const sw_lua_limits_t *limits, char *err, size_t errlen)
{
    FILE *f = fopen(script_path, "w");
    if (!f) {
        perror(script_path);
        exit(1);
    }
    fputs(body, f);
    fclose(f);
    sw_lua_engine_t *e = sw_lua_engine_new();
    if (sw_lua_engine_load(e, script_path, limits, err, errlen) != 0) {
        sw_lua_engine_free(e);
        return NULL;
    }
    return e;
}

static int run_cap_case(void)
{
    /* 10M prefixes need far more than 64 MiB: the load must fail with "not
     * enough memory", quickly, and the process stay healthy. */
    const char *csv = "/tmp/prefix_bench_10m.csv";
    sw_prefix_table_t sink;
    sw_prefix_table_init(&sink, plain_alloc, NULL);
    double ignored = 0;
    printf("writing 10,000,000 prefixes to %s...\n", csv);
    write_csv(csv, 10000000, 50, &sink, &ignored);
    sw_prefix_table_release(&sink);
    char script[4096], err[1024] = "";
    snprintf(script, sizeof script, "T = sw.prefix.load('%s')\n", csv);
    sw_lua_limits_t limits = {.instruction_budget = 0, .memory_limit = (size_t)64 << 20};
    double t0 = seconds_now();
    sw_lua_engine_t *e = load_script("/tmp/prefix_bench_cap.lua", script, &limits, err, sizeof err);
    double elapsed = seconds_now() - t0;
    printf("load under 64 MiB: %s after %.2f s\n  %s\n", e ? "LOADED (unexpected)" : "refused",
           elapsed, err);
    sw_lua_engine_free(e);
    unlink(csv);
    unlink("/tmp/prefix_bench_cap.lua");
    return e ? 1 : 0;
}

int main(int argc, char **argv)
{
    sw_log_set_level(SW_LOG_WARN);
    if (argc > 1 && strcmp(argv[1], "--cap") == 0)
        return run_cap_case();
    size_t wanted = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    unsigned distinct = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 50;
    if (wanted == 0 || distinct == 0)
        return 2;

    const char *csv = "/tmp/prefix_bench.csv";
    sw_prefix_table_t c_table;
    sw_prefix_table_init(&c_table, plain_alloc, NULL);
    double c_insert_seconds = 0;
    size_t count = write_csv(csv, wanted, distinct, &c_table, &c_insert_seconds);
    size_t c_bytes_unshrunk = sw_prefix_table_memory(&c_table);
    sw_prefix_table_shrink(&c_table);
    printf("prefixes: %zu (lengths 1..12, %u distinct values)\n", count, distinct);
    printf("C insert: %.0f ns per prefix; trie %zu bytes = %.1f bytes/prefix "
           "(%.1f before shrink; %u node slots, %u in free lists)\n",
           c_insert_seconds * 1e9 / (double)count, sw_prefix_table_memory(&c_table),
           (double)sw_prefix_table_memory(&c_table) / (double)count,
           (double)c_bytes_unshrunk / (double)count, c_table.node_used, c_table.free_slots);

    /* C lookups: random 12-digit numbers. */
    static char numbers[LOOKUP_NUMBERS][13];
    for (size_t i = 0; i < LOOKUP_NUMBERS; i++)
        random_digits(numbers[i], 12);
    size_t found = 0, matched_total = 0;
    double t0 = seconds_now();
    for (int round = 0; round < LOOKUP_ROUNDS; round++) {
        for (size_t i = 0; i < LOOKUP_NUMBERS; i++) {
            uint32_t value;
            size_t matched;
            if (sw_prefix_table_lookup(&c_table, numbers[i], 12, &value, &matched)) {
                found++;
                matched_total += matched;
            }
        }
    }
    double c_lookup = (seconds_now() - t0) * 1e9 / (LOOKUP_NUMBERS * LOOKUP_ROUNDS);
    printf("C lookup: %.1f ns (found %zu of %d, average match %.1f digits)\n", c_lookup,
           found / LOOKUP_ROUNDS, LOOKUP_NUMBERS, (double)matched_total / (double)found);
    sw_prefix_table_release(&c_table);

    /* Through the engine: a baseline script, then the same with the table. */
    sw_lua_limits_t limits = {.instruction_budget = 0, .memory_limit = (size_t)1 << 30};
    char err[1024] = "";
    size_t script_len = strlen(csv) + sizeof bench_functions + 256;
    char *script = malloc(script_len);
    snprintf(script, script_len, "T = sw.prefix.new()\n%s", bench_functions);
    sw_lua_engine_t *e = load_script("/tmp/prefix_bench.lua", script, &limits, err, sizeof err);
    if (!e) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t baseline = sw_lua_engine_memory_used(e);
    sw_lua_engine_free(e);

    snprintf(script, script_len,
             "local start = os.clock()\nT = sw.prefix.load('%s')\n"
             "LOAD_SECONDS = os.clock() - start\n"
             "function load_seconds() return LOAD_SECONDS end\n%s",
             csv, bench_functions);
    t0 = seconds_now();
    e = load_script("/tmp/prefix_bench.lua", script, &limits, err, sizeof err);
    double script_seconds = seconds_now() - t0;
    if (!e) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double load_cpu = call_number(e, "load_seconds", 0);
    size_t with_table = sw_lua_engine_memory_used(e);
    printf("Lua sw.prefix.load: %.3f s CPU (whole script load %.3f s); state memory %zu bytes "
           "more than without the table = %.1f bytes/prefix\n",
           load_cpu, script_seconds, with_table - baseline,
           (double)(with_table - baseline) / (double)count);
    double lookups = (double)LOOKUP_NUMBERS * LOOKUP_ROUNDS;
    double with_lookup = call_number(e, "bench_lookup", LOOKUP_ROUNDS);
    double empty = call_number(e, "bench_empty_loop", LOOKUP_ROUNDS);
    printf("Lua t:lookup(number): %.1f ns per call in a loop (%.1f ns without the loop's own "
           "cost)\n",
           with_lookup * 1e9 / lookups, (with_lookup - empty) * 1e9 / lookups);
    sw_lua_engine_free(e);
    free(script);
    unlink(csv);
    unlink("/tmp/prefix_bench.lua");
    return 0;
}
