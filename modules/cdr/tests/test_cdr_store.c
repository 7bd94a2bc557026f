/* The durable CDR store: every record reaches the CDR files exactly once,
 * rotation by size and time, the file limit, the bounded queue, I/O errors
 * retried, and recovery after a crash at every step of a flush (a forked
 * child opens the store, submits, and dies with _exit() at a chosen I/O
 * operation; the parent reopens the directory and counts records). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdr_store.h"
#include "../../../tests/unit/test_util.h"

#define T0 INT64_C(1795262400000)
#define N_OPS (CDR_IO_JOURNAL_READ + 1)

/* ---- fault injection ---------------------------------------------------- */

typedef struct fault_plan {
    atomic_int always_fail[N_OPS]; /* while set, every such operation fails with EIO */
    atomic_int fail_next[N_OPS];   /* the next n such operations fail */
    atomic_int seen[N_OPS];        /* operations attempted so far */
    atomic_int fail_op;            /* -1, or an operation that fails once... */
    atomic_int fail_at;            /* ...on its fail_at-th occurrence (1-based) */
    atomic_int sync_delay_ms;      /* each journal sync takes this long (a slow disk) */
    int crash_op;                  /* -1, or the operation at which the process dies... */
    int crash_at;                  /* ...on its crash_at-th occurrence (1-based) */
} fault_plan_t;

static void fault_plan_init(fault_plan_t *p)
{
    for (int i = 0; i < N_OPS; i++) {
        atomic_init(&p->always_fail[i], 0);
        atomic_init(&p->fail_next[i], 0);
        atomic_init(&p->seen[i], 0);
    }
    atomic_init(&p->sync_delay_ms, 0);
    atomic_init(&p->fail_op, -1);
    atomic_init(&p->fail_at, 0);
    p->crash_op = -1;
    p->crash_at = 0;
}

static void sleep_ms(unsigned ms);

static int fault_hook(void *ctx, cdr_io_op_t op)
{
    fault_plan_t *p = ctx;
    if (op == CDR_IO_JOURNAL_SYNC && atomic_load(&p->sync_delay_ms) > 0)
        sleep_ms((unsigned)atomic_load(&p->sync_delay_ms));
    int seen = atomic_fetch_add(&p->seen[op], 1) + 1;
    if (p->crash_op == (int)op && seen == p->crash_at)
        _exit(0); /* kill -9 at exactly this point: no close, no flush, no atexit */
    if (atomic_load(&p->always_fail[op]) || (atomic_load(&p->fail_op) == (int)op && seen == atomic_load(&p->fail_at)))
        return EIO;
    if (atomic_load(&p->fail_next[op]) > 0) {
        atomic_fetch_sub(&p->fail_next[op], 1);
        return EIO;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static cdr_store_settings_t default_settings(const char *dir)
{
    cdr_store_settings_t s = {
        .dir = dir,
        .format = CDR_FORMAT_CSV,
        .flush_interval_ms = 50,
        .max_pending = 10000,
        .group_commit_ms = 5,
    };
    return s;
}

static cdr_store_t *open_store(const cdr_store_settings_t *s)
{
    char err[256];
    cdr_store_t *st = cdr_store_open(s, err, sizeof err);
    if (st == NULL)
        fail_msg("cdr_store_open(%s): %s", s->dir, err);
    return st;
}

static cdr_record_t *make_record(unsigned i)
{
    cdr_record_t *r = cdr_record_new();
    char text[64];
    snprintf(text, sizeof text, "call-%u@test", i);
    r->call_id = strdup(text);
    r->caller_in = strdup("1000");
    snprintf(text, sizeof text, "2000%u", i);
    r->callee_in = strdup(text);
    r->callee_out = strdup(text);
    r->source = strdup("mapping-a");
    r->source_ip = strdup("192.0.2.7");
    r->final_gateway = strdup("gw-b");
    r->setup_ms = T0 + i;
    r->answer_ms = T0 + i + 500;
    r->end_ms = T0 + i + 1500;
    r->hold_ms = cdr_hold_time(r->answer_ms, r->end_ms, 50);
    r->end_reason = 1;
    r->hung_up_by = 1;
    r->final_code = 200;
    cdr_attempt_t *a = cdr_record_add_attempt(r);
    a->gateway = strdup("gw-b");
    a->code = 200;
    a->outcome = strdup("answered");
    a->start_ms = T0 + i + 10;
    a->end_ms = T0 + i + 500;
    return r;
}

static void submit_records(cdr_store_t *st, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(cdr_store_submit(st, make_record(i)), 0);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* What the CDR files of a directory hold, oldest file first. */
typedef struct cdr_contents {
    uint64_t seqs[4096];
    size_t n;
    size_t files;
    size_t headers;
    size_t bad_lines;              /* lines that do not parse (torn, or garbage) */
    uint64_t max_file_size;
    uint64_t single_record_files;  /* files holding exactly one record */
} cdr_contents_t;

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The CDR file names in dir, sorted (oldest first). */
static size_t list_cdr_files(const char *dir, char names[][128], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "cdr-", 4) == 0 && len > 4 && len < 128 &&
            (strcmp(e->d_name + len - 4, ".csv") == 0 || strcmp(e->d_name + len - 4, ".vos") == 0))
            memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], compare_names);
    return n;
}

/* The seq of a line: the first CSV column, or the 19th pipe field. */
static bool line_seq(const char *line, bool vos, uint64_t *seq)
{
    const char *p = line;
    if (vos) {
        for (int field = 1; field < 19; field++) {
            p = strchr(p, '|');
            if (p == NULL)
                return false;
            p++;
        }
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0 || end == p || (*end != (vos ? '|' : ',')))
        return false;
    *seq = v;
    return true;
}

static void read_cdr_files(const char *dir, cdr_contents_t *c)
{
    memset(c, 0, sizeof *c);
    static char names[256][128];
    c->files = list_cdr_files(dir, names, 256);
    for (size_t i = 0; i < c->files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bool vos = strstr(names[i], ".vos") != NULL;
        size_t len = 0;
        char *text = sw_test_read_file(path, &len);
        assert_non_null(text);
        if (len > c->max_file_size)
            c->max_file_size = len;
        size_t records_here = 0;
        char *line = text;
        while (*line != '\0') {
            char *crlf = strstr(line, "\r\n");
            if (crlf == NULL) {
                c->bad_lines++; /* an unterminated last line */
                break;
            }
            *crlf = '\0';
            uint64_t seq;
            if (!vos && strncmp(line, "seq,", 4) == 0)
                c->headers++;
            else if (line_seq(line, vos, &seq) && c->n < sizeof c->seqs / sizeof c->seqs[0]) {
                c->seqs[c->n++] = seq;
                records_here++;
            } else
                c->bad_lines++;
            line = crlf + 2;
        }
        if (records_here == 1)
            c->single_record_files++;
        free(text);
    }
}

/* The files hold exactly the seqs first..last, in order, each once. */
static void assert_exactly(const cdr_contents_t *c, uint64_t first, uint64_t last)
{
    if (c->n != last - first + 1)
        fail_msg("%zu records in %zu files, expected %llu (seqs %llu..%llu)", c->n, c->files,
                 (unsigned long long)(last - first + 1), (unsigned long long)first, (unsigned long long)last);
    for (size_t i = 0; i < c->n; i++)
        if (c->seqs[i] != first + i)
            fail_msg("record %zu has seq %llu, expected %llu", i, (unsigned long long)c->seqs[i],
                     (unsigned long long)(first + i));
    assert_int_equal(c->bad_lines, 0);
}

static uint64_t file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : UINT64_MAX;
}

static int setup_dir(void **state)
{
    char *dir = malloc(128);
    if (dir == NULL || sw_test_make_dir(dir, 128, "cdr") != 0)
        return -1;
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    sw_test_remove_dir(*state);
    free(*state);
    return 0;
}

/* ---- the normal path ---------------------------------------------------- */

static void test_every_record_written_once(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    cdr_store_t *st = open_store(&s);
    submit_records(st, 1000);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.submitted, 1000);
    assert_int_equal(stats.last_seq, 1000);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 1000);
    assert_int_equal(c.files, 1);
    assert_int_equal(c.headers, 1);
    /* the journal is emptied once everything is in CDR files */
    assert_int_equal(file_size(dir, "cdr.journal"), 0);
}

static void test_vos_format_files(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.format = CDR_FORMAT_VOS;
    const char *extra[] = {"tariff"};
    s.extra_columns = extra;
    s.n_extra = 1;
    cdr_store_t *st = open_store(&s);
    cdr_record_t *r = make_record(0);
    cdr_record_set_field(r, "tariff", "gold|x");
    assert_int_equal(cdr_store_submit(st, r), 0);
    submit_records(st, 9);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 10);
    assert_int_equal(c.headers, 0);
    char names[4][128];
    assert_int_equal(list_cdr_files(dir, names, 4), 1);
    assert_non_null(strstr(names[0], ".vos"));
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[0]);
    char *text = sw_test_read_file(path, NULL);
    assert_non_null(strstr(text, "|normal_caller|gold x\r\n"));
    free(text);
}

static void test_file_name_and_header(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    const char *extra[] = {"tariff", "customer"};
    s.extra_columns = extra;
    s.n_extra = 2;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 3);
    assert_int_equal(cdr_store_close(st), 0);
    char names[4][128];
    assert_int_equal(list_cdr_files(dir, names, 4), 1);
    /* cdr-YYYYMMDD-HHMMSS-<first seq>.csv */
    unsigned date, tod;
    char seq[16];
    assert_int_equal(sscanf(names[0], "cdr-%8u-%6u-%6[0-9].csv", &date, &tod, seq), 3);
    assert_string_equal(seq, "000001");
    assert_int_equal(strlen(names[0]), strlen("cdr-20261121-120000-000001.csv"));
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[0]);
    char *text = sw_test_read_file(path, NULL);
    assert_non_null(strstr(text, ",attempts,tariff,customer\r\n1,"));
    free(text);
}

static void test_flush_interval_without_close(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 50;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 5);
    cdr_store_stats_t stats = {0};
    for (int i = 0; i < 200 && (stats.records_written < 5 || stats.journal_bytes > 0); i++) {
        sleep_ms(10);
        cdr_store_stats(st, &stats);
    }
    assert_int_equal(stats.records_written, 5);
    assert_int_equal(stats.journaled, 5);
    assert_int_equal(stats.unflushed, 0);
    assert_int_equal(stats.queue_length, 0);
    assert_int_equal(stats.journal_bytes, 0);
    assert_true(stats.journal_syncs >= 1);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 5);
    cdr_store_close(st);
}

static void test_sync_wait_then_flush(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000; /* only the explicit flush writes CDR files */
    s.group_commit_ms = 100;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 20);
    assert_int_equal(cdr_store_sync_wait(st, 5000), 0);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.journaled, 20);
    assert_int_equal(stats.queue_length, 0);
    assert_int_equal(stats.unflushed, 20);
    assert_int_equal(stats.records_written, 0);
    assert_true(stats.journal_bytes > 20 * 12);
    assert_true(stats.last_write_latency_us > 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_int_equal(c.n, 0);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.records_written, 20);
    assert_int_equal(stats.unflushed, 0);
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 20);
    /* nothing new: both return at once */
    assert_int_equal(cdr_store_sync_wait(st, 0), 0);
    assert_int_equal(cdr_store_flush(st, 0), 0);
    cdr_store_close(st);
}

static void test_group_commit_limits_syncs(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.group_commit_ms = 50;
    s.flush_interval_ms = 60000;
    cdr_store_t *st = open_store(&s);
    /* one record every 2 ms for about 300 ms */
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned i = 0; i < 150; i++) {
        assert_int_equal(cdr_store_submit(st, make_record(i)), 0);
        sleep_ms(2);
    }
    assert_int_equal(cdr_store_sync_wait(st, 5000), 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.journaled, 150);
    /* at most one sync per 50 ms (plus the first and the sync_wait one), not one per record */
    assert_true(stats.journal_syncs >= 2);
    if (stats.journal_syncs > (uint64_t)(elapsed_ms / 50 + 2))
        fail_msg("%llu journal syncs in %ld ms at group_commit_ms 50", (unsigned long long)stats.journal_syncs,
                 elapsed_ms);
    cdr_store_close(st);
}

static void test_truncated_records_counted(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    cdr_store_t *st = open_store(&s);
    cdr_record_t *r = make_record(0);
    free(r->call_id);
    r->call_id = malloc(CDR_MAX_STRING_BYTES + 100);
    memset(r->call_id, 'c', CDR_MAX_STRING_BYTES + 99);
    r->call_id[CDR_MAX_STRING_BYTES + 99] = '\0';
    assert_int_equal(cdr_store_submit(st, r), 0);
    assert_int_equal(cdr_store_sync_wait(st, 5000), 0);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.records_truncated, 1);
    cdr_store_close(st);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 1);
}

static void test_flush_not_starved_by_steady_commits(void **state)
{
    /* a slow disk (2 ms per sync), no group-commit wait and a record every
     * 0.2 ms: there is always a commit due, yet records must keep reaching
     * the CDR files every flush interval */
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    atomic_store(&plan.sync_delay_ms, 2);
    cdr_store_settings_t s = default_settings(dir);
    s.group_commit_ms = 0;
    s.flush_interval_ms = 20;
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    cdr_store_t *st = open_store(&s);
    cdr_store_stats_t stats;
    for (unsigned i = 0; i < 1500; i++) {
        assert_int_equal(cdr_store_submit(st, make_record(i)), 0);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 200000};
        nanosleep(&pause, NULL);
    }
    cdr_store_stats(st, &stats);
    assert_true(stats.records_written > 0);
    assert_true(stats.journal_syncs > 10);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 1500);
}

/* ---- rotation and the file limit ---------------------------------------- */

static void test_rotation_by_size(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_bytes = 1500;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 100);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    submit_records(st, 50);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 150);
    assert_true(c.files >= 10);
    assert_true(c.max_file_size <= 1500);
    assert_int_equal(c.headers, c.files); /* each file starts with the header */
}

static void test_record_bigger_than_rotate_size_gets_own_file(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_bytes = 100; /* smaller than the header plus one line */
    cdr_store_t *st = open_store(&s);
    submit_records(st, 5);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 5);
    assert_int_equal(c.files, 5);
    assert_int_equal(c.single_record_files, 5);
}

static void test_file_limit_deletes_oldest(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_bytes = 1500;
    s.max_files = 3;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 100);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.files, 3);
    assert_true(stats.files_deleted > 0);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_int_equal(c.files, 3);
    /* what is left is the newest records, contiguous up to the last */
    assert_true(c.n > 0);
    assert_exactly(&c, 100 - c.n + 1, 100);
}

static void test_rotation_by_time(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_interval_ms = 400;
    s.flush_interval_ms = 10;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 3);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    sleep_ms(800); /* the idle file is closed after 400 ms */
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.files, 1);
    submit_records(st, 3);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    submit_records(st, 2); /* the second file is young: same file */
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 8);
    assert_int_equal(c.files, 2);
}

static void test_rotation_by_time_under_steady_load(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_interval_ms = 100;
    s.flush_interval_ms = 20;
    cdr_store_t *st = open_store(&s);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned i = 0; i < 35; i++) {
        assert_int_equal(cdr_store_submit(st, make_record(i)), 0);
        sleep_ms(10);
    }
    assert_int_equal(cdr_store_close(st), 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 35);
    /* a new file every 100 ms or so, and none younger than that */
    if (c.files < 3 || c.files > (size_t)(elapsed_ms / 100 + 1))
        fail_msg("%zu files in %ld ms at rotate_interval_ms 100", c.files, elapsed_ms);
}

/* ---- back-pressure and I/O errors --------------------------------------- */

static void test_queue_full_refuses_and_recovers(void **state)
{
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    atomic_store(&plan.always_fail[CDR_IO_JOURNAL_WRITE], 1);
    cdr_store_settings_t s = default_settings(dir);
    s.max_pending = 5;
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 5);
    assert_true(cdr_store_full(st));
    cdr_record_t *refused = make_record(99);
    assert_int_equal(cdr_store_submit(st, refused), -1); /* not taken: still ours */
    assert_int_equal(cdr_store_submit(st, refused), -1);
    cdr_store_stats_t stats = {0};
    for (int i = 0; i < 200 && stats.io_errors == 0; i++) {
        sleep_ms(5);
        cdr_store_stats(st, &stats);
    }
    assert_true(stats.io_errors >= 1);
    assert_int_equal(stats.full_events, 2);
    assert_int_equal(stats.queue_length, 5);
    assert_true(stats.full);
    assert_int_equal(stats.journaled, 0);
    /* the disk comes back: everything queued is journaled, room again */
    atomic_store(&plan.always_fail[CDR_IO_JOURNAL_WRITE], 0);
    assert_int_equal(cdr_store_wait_room(st), 0);
    assert_int_equal(cdr_store_sync_wait(st, 5000), 0);
    assert_false(cdr_store_full(st));
    assert_int_equal(cdr_store_submit(st, refused), 0);
    cdr_store_stats(st, &stats);
    assert_false(stats.full);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 6);
}

static void test_io_errors_retried_exactly_once(void **state)
{
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    atomic_store(&plan.fail_next[CDR_IO_JOURNAL_SYNC], 1);
    atomic_store(&plan.fail_next[CDR_IO_CDR_WRITE], 2);
    atomic_store(&plan.fail_next[CDR_IO_CDR_SYNC], 1);
    atomic_store(&plan.fail_next[CDR_IO_CHECKPOINT], 2);
    atomic_store(&plan.fail_next[CDR_IO_JOURNAL_TRUNCATE], 1);
    cdr_store_settings_t s = default_settings(dir);
    s.rotate_bytes = 3000;
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 60);
    assert_int_equal(cdr_store_flush(st, 8000), 0);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_true(stats.io_errors >= 6); /* the failed journal truncation may come just after */
    assert_int_equal(stats.records_written, 60);
    submit_records(st, 10);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 70);
}

static void test_journal_read_error_loses_nothing(void **state)
{
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000;
    s.rotate_bytes = 64 * 1024; /* rotations commit records before the unreadable part of the journal */
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    cdr_store_t *st = open_store(&s);
    /* more than one read window (256 KB) of journal */
    submit_records(st, 4000);
    assert_int_equal(cdr_store_sync_wait(st, 5000), 0);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_true(stats.journal_bytes > 300 * 1024);
    /* the flush's second window read fails: nothing after it may be skipped */
    atomic_store(&plan.fail_at, atomic_load(&plan.seen[CDR_IO_JOURNAL_READ]) + 2);
    atomic_store(&plan.fail_op, CDR_IO_JOURNAL_READ);
    assert_int_equal(cdr_store_flush(st, 5000), 0);
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.io_errors, 1);
    assert_int_equal(stats.records_written, 4000);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 4000);
}

static void test_close_gives_up_when_the_disk_stays_broken(void **state)
{
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    atomic_store(&plan.always_fail[CDR_IO_JOURNAL_WRITE], 1);
    cdr_store_settings_t s = default_settings(dir);
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    s.close_give_up_ms = 300;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 3);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(cdr_store_close(st), 3); /* lost: they never reached the journal */
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    assert_true(elapsed_ms >= 250 && elapsed_ms < 3000);
}

static void test_close_with_cdr_files_failing_keeps_the_journal(void **state)
{
    const char *dir = *state;
    fault_plan_t plan;
    fault_plan_init(&plan);
    atomic_store(&plan.always_fail[CDR_IO_CDR_WRITE], 1);
    cdr_store_settings_t s = default_settings(dir);
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    s.close_give_up_ms = 200;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 25);
    assert_int_equal(cdr_store_close(st), 0); /* journaled: nothing lost */
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_int_equal(c.n, 0);
    /* the disk is back: the next open writes them */
    s.io_hook = NULL;
    st = open_store(&s);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.recovered, 25);
    assert_int_equal(cdr_store_close(st), 0);
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 25);
}

/* ---- open --------------------------------------------------------------- */

static void test_open_refuses_a_busy_or_bad_directory(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    cdr_store_t *st = open_store(&s);
    char err[256] = "";
    assert_null(cdr_store_open(&s, err, sizeof err));
    assert_non_null(strstr(err, "in use"));
    cdr_store_close(st);
    /* a directory below a regular file */
    char path[256];
    snprintf(path, sizeof path, "%s/cdr.journal/sub", dir);
    s.dir = path;
    err[0] = '\0';
    assert_null(cdr_store_open(&s, err, sizeof err));
    assert_true(err[0] != '\0');
    s.dir = dir;
    s.format = 7;
    assert_null(cdr_store_open(&s, err, sizeof err));
    s.dir = "";
    s.format = CDR_FORMAT_CSV;
    assert_null(cdr_store_open(&s, err, sizeof err));
    /* creates missing parents */
    snprintf(path, sizeof path, "%s/a/b", dir);
    s.dir = path;
    st = open_store(&s);
    cdr_store_close(st);
    snprintf(path, sizeof path, "%s/a/b/cdr.journal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/a/b", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", dir);
    rmdir(path);
}

/* ---- crashes ------------------------------------------------------------ */

/* In a child: open the store, submit n records and make them durable, die
 * without closing. With flush, the records are written to CDR files in two
 * flushes of n/2 (so that a file gets a second commit on top of a first),
 * and a file "all-durable" in the directory tells the parent that all n
 * records reached the journal; without it, the crash came in the first
 * flush and only the first n/2 had been submitted. The plan may kill the
 * child earlier, at an exact I/O operation. Exit status 0 unless something
 * failed first. */
static void crash_in_child(const cdr_store_settings_t *s, unsigned n, bool flush)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        cdr_store_t *st = cdr_store_open(s, err, sizeof err);
        if (st == NULL)
            _exit(2);
        for (unsigned i = 0; i < n; i++) {
            if (cdr_store_submit(st, make_record(i)) != 0)
                _exit(3);
            if (flush && i + 1 == n / 2 && cdr_store_flush(st, 5000) != 0)
                _exit(5);
        }
        if (cdr_store_sync_wait(st, 5000) != 0)
            _exit(4);
        /* only flushes do the operations a plan crashes at, so from here on
         * all n records are durable whatever happens */
        char marker[512];
        snprintf(marker, sizeof marker, "%s/all-durable", s->dir);
        int fd = open(marker, O_WRONLY | O_CREAT, 0600);
        if (fd < 0)
            _exit(7);
        close(fd);
        if (flush && cdr_store_flush(st, 5000) != 0)
            _exit(5);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_recovery_after_crash(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000; /* the child never flushes on its own */
    crash_in_child(&s, 200, false);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_int_equal(c.n, 0); /* only in the journal */
    assert_true(file_size(dir, "cdr.journal") > 0);

    cdr_store_t *st = open_store(&s);
    /* recovery wrote them before open returned */
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.recovered, 200);
    assert_int_equal(stats.records_written, 200);
    assert_int_equal(stats.unflushed, 0);
    assert_int_equal(stats.last_seq, 200);
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 200);
    /* seqs go on from where they were */
    submit_records(st, 10);
    assert_int_equal(cdr_store_close(st), 0);
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 210);
    assert_int_equal(c.files, 1); /* the file recovery started stays the current one */
}

static void test_recovery_of_vos_files(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.format = CDR_FORMAT_VOS;
    s.flush_interval_ms = 60000;
    crash_in_child(&s, 30, false);
    cdr_store_t *st = open_store(&s);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 30);
}

static void append_to_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void test_torn_journal_tail_ignored(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000;
    crash_in_child(&s, 100, false);
    /* garbage, then what looks like the start of a frame that never finished */
    unsigned char garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (unsigned char)(i * 37 + 11);
    append_to_file(dir, "cdr.journal", garbage, sizeof garbage);
    const unsigned char partial[] = {'C', 'D', 'R', 'J', 0x40, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 1, 2, 3};
    append_to_file(dir, "cdr.journal", partial, sizeof partial);
    cdr_store_t *st = open_store(&s);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.recovered, 100);
    submit_records(st, 5);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 105);
    assert_int_equal(file_size(dir, "cdr.journal"), 0);
}

static void test_torn_last_record_dropped(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000;
    crash_in_child(&s, 50, false);
    /* the last frame loses its last bytes, as when the crash hit mid-write */
    char path[512];
    snprintf(path, sizeof path, "%s/cdr.journal", dir);
    uint64_t size = file_size(dir, "cdr.journal");
    assert_int_equal(truncate(path, (off_t)(size - 7)), 0);
    cdr_store_t *st = open_store(&s);
    cdr_store_stats_t stats;
    cdr_store_stats(st, &stats);
    assert_int_equal(stats.recovered, 49);
    assert_int_equal(stats.last_seq, 49);
    submit_records(st, 1); /* takes seq 50 again: the torn one was never durable */
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 50);
}

static void test_damaged_frame_in_the_middle_skipped(void **state)
{
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000;
    crash_in_child(&s, 20, false);
    /* flip a byte inside the 3rd frame's body: its CRC fails, the rest is found */
    char path[512];
    snprintf(path, sizeof path, "%s/cdr.journal", dir);
    size_t len = 0;
    char *journal = sw_test_read_file(path, &len);
    assert_non_null(journal);
    size_t offset = 0;
    for (int frame = 0; frame < 2; frame++) {
        uint32_t body_len = (uint32_t)(unsigned char)journal[offset + 4] |
                            (uint32_t)(unsigned char)journal[offset + 5] << 8;
        offset += 12 + body_len;
    }
    journal[offset + 30] ^= 0x55;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(journal, 1, len, f), len);
    fclose(f);
    free(journal);
    cdr_store_t *st = open_store(&s);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_int_equal(c.n, 19);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.seqs[i], i < 2 ? i + 1 : i + 2);
}

static void remove_dir_tree(const char *dir)
{
    sw_test_remove_dir(dir);
}

/* A crash at the k-th occurrence of an I/O operation during a flush: after
 * the restart every record is in the CDR files exactly once. With a small
 * rotate size the flush rotates several times, so the crash points include
 * the checkpoint that names a new file before it exists, the file's first
 * write, and the commit of a file's last records. */
static size_t crash_during_flush_and_check(cdr_io_op_t op, int k, int format, uint64_t rotate_bytes)
{
    char dir[128];
    assert_int_equal(sw_test_make_dir(dir, sizeof dir, "cdrcrash"), 0);
    fault_plan_t plan;
    fault_plan_init(&plan);
    plan.crash_op = (int)op;
    plan.crash_at = k;
    cdr_store_settings_t s = default_settings(dir);
    s.format = format;
    s.flush_interval_ms = 60000;
    s.rotate_bytes = rotate_bytes;
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    crash_in_child(&s, 30, true);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    size_t lines_left_by_the_crash = c.n;
    /* every record submitted before the crash was durable in the journal */
    char marker[256];
    snprintf(marker, sizeof marker, "%s/all-durable", dir);
    uint64_t submitted = access(marker, F_OK) == 0 ? 30 : 15;

    s.io_hook = NULL;
    cdr_store_t *st = open_store(&s);
    submit_records(st, 5);
    assert_int_equal(cdr_store_close(st), 0);
    read_cdr_files(dir, &c);
    if (c.n != submitted + 5 || c.bad_lines != 0)
        fail_msg("crash at op %d occurrence %d: %zu records, %zu bad lines, expected %llu", (int)op, k, c.n,
                 c.bad_lines, (unsigned long long)(submitted + 5));
    assert_exactly(&c, 1, submitted + 5);
    remove_dir_tree(dir);
    return lines_left_by_the_crash;
}

static void test_crash_between_cdr_write_and_checkpoint(void **state)
{
    (void)state;
    /* the plain case, one file: the first flush is checkpointed (checkpoint
     * 1 named the file, 2 covered records 1-15); the second flush's lines
     * are written and fsynced, its checkpoint (3) is not: recovery cuts
     * them away and writes them again from the journal, once */
    size_t lines = crash_during_flush_and_check(CDR_IO_CHECKPOINT, 3, CDR_FORMAT_CSV, 0);
    assert_int_equal(lines, 30);
    /* the crash before the first flush's checkpoint: the file was never
     * covered by one and is removed */
    lines = crash_during_flush_and_check(CDR_IO_CHECKPOINT, 2, CDR_FORMAT_CSV, 0);
    assert_int_equal(lines, 15);
    /* with rotation every few records, at every checkpoint: those that name
     * a new file before it exists and those that commit a file's records */
    for (int k = 1; k <= 12; k++)
        crash_during_flush_and_check(CDR_IO_CHECKPOINT, k, CDR_FORMAT_CSV, 1500);
    for (int k = 1; k <= 5; k++) {
        crash_during_flush_and_check(CDR_IO_CDR_SYNC, k, CDR_FORMAT_CSV, 1500); /* written, not yet fsynced */
        crash_during_flush_and_check(CDR_IO_CDR_WRITE, k, CDR_FORMAT_CSV, 1500);
    }
    for (int k = 1; k <= 2; k++) /* checkpointed, journal not yet emptied */
        crash_during_flush_and_check(CDR_IO_JOURNAL_TRUNCATE, k, CDR_FORMAT_CSV, 1500);
    crash_during_flush_and_check(CDR_IO_CHECKPOINT, 3, CDR_FORMAT_VOS, 0);
    crash_during_flush_and_check(CDR_IO_CHECKPOINT, 5, CDR_FORMAT_VOS, 1500);
}

static void test_crash_at_recovery_again(void **state)
{
    /* a crash in the middle of recovery's own flush: the next open finishes it */
    const char *dir = *state;
    cdr_store_settings_t s = default_settings(dir);
    s.flush_interval_ms = 60000;
    s.rotate_bytes = 1500;
    crash_in_child(&s, 40, false);
    fault_plan_t plan;
    fault_plan_init(&plan);
    plan.crash_op = CDR_IO_CHECKPOINT;
    plan.crash_at = 4;
    s.io_hook = fault_hook;
    s.io_hook_ctx = &plan;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        cdr_store_open(&s, err, sizeof err); /* dies inside recovery */
        _exit(6);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    s.io_hook = NULL;
    cdr_store_t *st = open_store(&s);
    assert_int_equal(cdr_store_close(st), 0);
    cdr_contents_t c;
    read_cdr_files(dir, &c);
    assert_exactly(&c, 1, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_record_written_once, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_vos_format_files, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_name_and_header, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_flush_interval_without_close, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_sync_wait_then_flush, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_group_commit_limits_syncs, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_truncated_records_counted, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_flush_not_starved_by_steady_commits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rotation_by_size, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_record_bigger_than_rotate_size_gets_own_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_limit_deletes_oldest, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rotation_by_time, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rotation_by_time_under_steady_load, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_queue_full_refuses_and_recovers, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_io_errors_retried_exactly_once, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_journal_read_error_loses_nothing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_close_gives_up_when_the_disk_stays_broken, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_close_with_cdr_files_failing_keeps_the_journal, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_refuses_a_busy_or_bad_directory, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_recovery_of_vos_files, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_torn_journal_tail_ignored, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_torn_last_record_dropped, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_damaged_frame_in_the_middle_skipped, setup_dir, teardown_dir),
        cmocka_unit_test(test_crash_between_cdr_write_and_checkpoint),
        cmocka_unit_test_setup_teardown(test_crash_at_recovery_again, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
