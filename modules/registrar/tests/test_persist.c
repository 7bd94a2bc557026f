/* The bindings file: rows written behind by the writer thread come back at
 * the next open; expired rows are dropped at load; deletes are kept in
 * order with saves; a file that cannot be opened is an error with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist.h"

typedef struct seen {
    int n;
    char contacts[8][64];
    reg_persist_row_t last;
    char last_source[64], last_ua[64];
} seen_t;

static void collect(const reg_persist_row_t *row, void *ud)
{
    seen_t *s = ud;
    if (s->n < 8)
        snprintf(s->contacts[s->n], sizeof s->contacts[0], "%s", row->contact);
    s->n++;
    s->last = *row;
    snprintf(s->last_source, sizeof s->last_source, "%s", row->source);
    snprintf(s->last_ua, sizeof s->last_ua, "%s", row->user_agent);
    s->last.source = s->last_source;
    s->last.user_agent = s->last_ua;
}

static char dir[] = "/tmp/reg-persist-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static reg_persist_row_t row(const char *user, const char *contact, int64_t expires)
{
    return (reg_persist_row_t){.user = user, .aor = "sip:x@h", .contact = contact, .call_id = "cid",
                               .source = "203.0.113.7:40112", .user_agent = "Phone/1.0", .cseq = 42, .q = 500,
                               .transport = 1, .behind_nat = 1, .socket_id = 5, .expires_wall_ms = expires,
                               .registered_wall_ms = 100, .updated_wall_ms = 200};
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/a.db", dir);
    reg_persist_t *p = reg_persist_open(path, 50, 1000, err, sizeof err);
    assert_non_null(p);
    seen_t s = {0};
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 0);
    assert_int_equal(reg_persist_start(p, err, sizeof err), 0);
    reg_persist_row_t r1 = row("1001", "sip:1001@10.0.0.5", 5000), r2 = row("1002", "sip:1002@10.0.0.6", 9000),
                      r3 = row("1003", "sip:1003@10.0.0.7", 1000);
    reg_persist_save(p, &r1);
    reg_persist_save(p, &r2);
    reg_persist_save(p, &r3);
    r1.cseq = 43; /* an update replaces the row */
    reg_persist_save(p, &r1);
    reg_persist_delete(p, "1002", "sip:1002@10.0.0.6");
    reg_persist_save(p, &r2); /* ... and it comes back after its delete: order kept */
    reg_persist_delete(p, "1009", "sip:nothing@h");
    /* the writer commits on its own within the interval */
    reg_persist_stats_t st;
    for (int i = 0; i < 200; i++) {
        reg_persist_stats(p, &st);
        if (st.written == 7)
            break;
        usleep(10000);
    }
    assert_int_equal(st.written, 7);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.errors, 0);
    assert_true(st.commits >= 1);
    reg_persist_close(p);

    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    assert_non_null(p);
    memset(&s, 0, sizeof s);
    /* at wall time 2000, 1003 (expires 1000) is gone for good */
    assert_int_equal(reg_persist_load(p, 2000, collect, &s, err, sizeof err), 2);
    int found_1001 = 0;
    for (int i = 0; i < 2; i++)
        found_1001 |= strcmp(s.contacts[i], "sip:1001@10.0.0.5") == 0;
    assert_true(found_1001);
    assert_string_equal(s.last.source, "203.0.113.7:40112");
    assert_string_equal(s.last.user_agent, "Phone/1.0");
    assert_int_equal(s.last.behind_nat, 1);
    assert_int_equal(s.last.socket_id, 5);
    assert_int_equal(s.last.q, 500);
    reg_persist_close(p);
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    memset(&s, 0, sizeof s);
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 2); /* 1003 was deleted at load */
    /* close without start commits what was queued */
    reg_persist_delete(p, "1001", "sip:1001@10.0.0.5");
    reg_persist_close(p);
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    memset(&s, 0, sizeof s);
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 1);
    reg_persist_close(p);
}

static void test_close_flushes_and_queue_cap(void **state)
{
    (void)state;
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/b.db", dir);
    /* a long interval: only the close can have written these */
    reg_persist_t *p = reg_persist_open(path, 60000, 3, err, sizeof err);
    assert_non_null(p);
    seen_t s = {0};
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 0);
    assert_int_equal(reg_persist_start(p, err, sizeof err), 0);
    char contact[32];
    for (int i = 0; i < 5; i++) {
        snprintf(contact, sizeof contact, "sip:%d@h", i);
        reg_persist_row_t r = row("u", contact, 10000);
        reg_persist_save(p, &r);
    }
    reg_persist_stats_t st;
    reg_persist_stats(p, &st);
    assert_int_equal(st.dropped, 2); /* the queue holds 3: the oldest two went, counted */
    reg_persist_close(p);
    p = reg_persist_open(path, 50, 10, err, sizeof err);
    memset(&s, 0, sizeof s);
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 3);
    reg_persist_close(p);
}

static void test_open_failure(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(reg_persist_open("/nonexistent-dir/x/y.db", 50, 10, err, sizeof err));
    assert_true(strlen(err) > 0);
    /* a file that is not a database */
    char path[256];
    snprintf(path, sizeof path, "%s/junk.db", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite file, not at all, and long enough to have a header.....\n", f);
    fclose(f);
    err[0] = '\0';
    assert_null(reg_persist_open(path, 50, 10, err, sizeof err));
    assert_true(strlen(err) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_close_flushes_and_queue_cap),
        cmocka_unit_test(test_open_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
