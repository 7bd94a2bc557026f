/* The bindings file: rows written behind by the writer thread come back at
 * the next open; expired rows are dropped at load; deletes are kept in
 * order with saves, also when a burst goes many rows per statement; a file
 * of the first layout is converted, rows kept; a row or file it cannot read
 * is not misread; a file that cannot be opened is an error with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "binding_record.h"
#include "persist.h"

typedef struct seen {
    int n;
    char contacts[8][64];
    reg_persist_row_t last;
    char last_user[64], last_aor[64], last_call_id[64], last_source[64], last_ua[64];
} seen_t;

static void collect(const reg_persist_row_t *row, void *ud)
{
    seen_t *s = ud;
    if (s->n < 8)
        snprintf(s->contacts[s->n], sizeof s->contacts[0], "%s", row->contact);
    s->n++;
    s->last = *row;
    /* the row's text lives only as long as the call */
    snprintf(s->last_user, sizeof s->last_user, "%s", row->user);
    snprintf(s->last_aor, sizeof s->last_aor, "%s", row->aor);
    snprintf(s->last_call_id, sizeof s->last_call_id, "%s", row->call_id);
    snprintf(s->last_source, sizeof s->last_source, "%s", row->source);
    snprintf(s->last_ua, sizeof s->last_ua, "%s", row->user_agent);
    s->last.user = s->last_user;
    s->last.aor = s->last_aor;
    s->last.call_id = s->last_call_id;
    s->last.source = s->last_source;
    s->last.user_agent = s->last_ua;
    s->last.contact = NULL;
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

static reg_persist_row_t row(uint64_t id, const char *user, const char *contact, int64_t expires)
{
    return (reg_persist_row_t){.id = id, .user = user, .aor = "sip:x@h", .contact = contact, .call_id = "cid",
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
    reg_persist_row_t r1 = row(1, "1001", "sip:1001@10.0.0.5", 5000), r2 = row(2, "1002", "sip:1002@10.0.0.6", 9000),
                      r3 = row(3, "1003", "sip:1003@10.0.0.7", 1000);
    reg_persist_save(p, &r1);
    reg_persist_save(p, &r2);
    reg_persist_save(p, &r3);
    r1.cseq = 43; /* an update replaces the row */
    reg_persist_save(p, &r1);
    reg_persist_delete(p, 2);
    reg_persist_save(p, &r2); /* ... and it comes back after its delete: order kept */
    reg_persist_delete(p, 9);
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
    assert_int_equal(s.last.id, 2); /* rows come back with their ids */
    assert_string_equal(s.last.user, "1002");
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
    reg_persist_delete(p, 1);
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
        reg_persist_row_t r = row((uint64_t)i + 1, "u", contact, 10000);
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

/* Keeps the cseq of one contact seen at load. */
typedef struct cseq_of {
    const char *contact;
    int rows;
    uint32_t cseq;
} cseq_of_t;

static void find_cseq(const reg_persist_row_t *row, void *ud)
{
    cseq_of_t *c = ud;
    c->rows++;
    if (strcmp(row->contact, c->contact) == 0)
        c->cseq = row->cseq;
}

/* A burst of registrations goes to the file many rows per statement: what
 * comes back is what one statement per change would have left, whatever
 * falls inside or across those statements (a binding saved twice, deleted
 * and saved again, deletes between runs of saves). */
static void test_burst_keeps_order(void **state)
{
    (void)state;
    char path[256], err[256], contact[32];
    snprintf(path, sizeof path, "%s/c.db", dir);
    reg_persist_t *p = reg_persist_open(path, 60000, 100000, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < 100; i++) {
        snprintf(contact, sizeof contact, "sip:%d@h", i);
        reg_persist_row_t r = row((uint64_t)i + 1, "u", contact, 10000);
        r.cseq = (uint32_t)i;
        reg_persist_save(p, &r);
        for (uint32_t k = 0; i == 20 && k < 3; k++) { /* 5 saved again, thrice in one statement */
            reg_persist_row_t again = row(6, "u", "sip:5@h", 10000);
            again.cseq = 1000 + k;
            reg_persist_save(p, &again);
        }
        if (i == 40) /* 7 deleted between runs */
            reg_persist_delete(p, 8);
        if (i == 60) { /* 9 deleted, then saved again inside a run */
            reg_persist_delete(p, 10);
            reg_persist_row_t back = row(10, "u", "sip:9@h", 10000);
            back.cseq = 777;
            reg_persist_save(p, &back);
        }
    }
    reg_persist_close(p); /* not started: the close commits it all, as the writer would */
    p = reg_persist_open(path, 50, 10, err, sizeof err);
    cseq_of_t c = {.contact = "sip:5@h"};
    assert_int_equal(reg_persist_load(p, 0, find_cseq, &c, err, sizeof err), 99); /* 100, 7 deleted */
    assert_int_equal(c.cseq, 1002);
    reg_persist_close(p);
    p = reg_persist_open(path, 50, 10, err, sizeof err);
    c = (cseq_of_t){.contact = "sip:9@h"};
    assert_int_equal(reg_persist_load(p, 0, find_cseq, &c, err, sizeof err), 99);
    assert_int_equal(c.cseq, 777);
    reg_persist_close(p);
    p = reg_persist_open(path, 50, 10, err, sizeof err);
    c = (cseq_of_t){.contact = "sip:99@h"};
    assert_int_equal(reg_persist_load(p, 0, find_cseq, &c, err, sizeof err), 99);
    assert_int_equal(c.cseq, 99);
    reg_persist_close(p);
}

/* Runs SQL on a file directly, as sqlite3 would. */
static void sql(const char *path, const char *text)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", text, msg ? msg : "?");
    sqlite3_close(db);
}

static int user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A file written by the first layout (a column per field, keyed by account
 * and contact) is converted at open: every row comes back, numbered, and
 * the file then works as a new one. */
static void test_converts_layout_1(void **state)
{
    (void)state;
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/layout1.db", dir);
    sql(path, "CREATE TABLE bindings (user TEXT NOT NULL, contact TEXT NOT NULL, aor TEXT NOT NULL,"
              " call_id TEXT NOT NULL, cseq INTEGER NOT NULL, q INTEGER NOT NULL, transport INTEGER NOT NULL,"
              " behind_nat INTEGER NOT NULL, socket_id INTEGER NOT NULL, source TEXT NOT NULL,"
              " user_agent TEXT NOT NULL, expires_ms INTEGER NOT NULL, registered_ms INTEGER NOT NULL,"
              " updated_ms INTEGER NOT NULL, PRIMARY KEY (user, contact)) WITHOUT ROWID;"
              "INSERT INTO bindings VALUES ('1001', 'sip:1001@10.0.0.5', 'sip:1001@sw', 'c1', 7, -1, 0, 0, 3,"
              " '10.0.0.5:5060', 'Desk/1', 9000, 100, 200);"
              "INSERT INTO bindings VALUES ('1002', 'sip:1002@10.0.0.6', 'sip:1002@sw', 'c2', 42, 500, 1, 1, 5,"
              " '203.0.113.7:40112', 'Phone/1.0', 9000, 300, 400);");
    assert_int_equal(user_version(path), 0);
    reg_persist_t *p = reg_persist_open(path, 50, 1000, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    seen_t s = {0};
    assert_int_equal(reg_persist_load(p, 1000, collect, &s, err, sizeof err), 2);
    assert_true(strcmp(s.contacts[0], "sip:1001@10.0.0.5") == 0 || strcmp(s.contacts[1], "sip:1001@10.0.0.5") == 0);
    const reg_persist_row_t *r = &s.last;
    assert_true(r->id == 1 || r->id == 2);
    if (strcmp(r->user, "1002") != 0) /* the order of a WITHOUT ROWID table: by account */
        fail_msg("last row is %s", r->user);
    assert_string_equal(r->aor, "sip:1002@sw");
    assert_string_equal(r->call_id, "c2");
    assert_int_equal(r->cseq, 42);
    assert_int_equal(r->q, 500);
    assert_int_equal(r->transport, 1);
    assert_int_equal(r->behind_nat, 1);
    assert_int_equal(r->socket_id, 5);
    assert_string_equal(r->source, "203.0.113.7:40112");
    assert_string_equal(r->user_agent, "Phone/1.0");
    assert_int_equal(r->expires_wall_ms, 9000);
    assert_int_equal(r->registered_wall_ms, 300);
    assert_int_equal(r->updated_wall_ms, 400);
    /* the converted file takes new rows and deletes by id */
    reg_persist_row_t r3 = row(3, "1003", "sip:1003@10.0.0.7", 9000);
    reg_persist_save(p, &r3);
    reg_persist_delete(p, 1);
    reg_persist_close(p);
    assert_int_equal(user_version(path), 2);
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    memset(&s, 0, sizeof s);
    assert_int_equal(reg_persist_load(p, 1000, collect, &s, err, sizeof err), 2);
    assert_int_equal(s.last.id, 3);
    reg_persist_close(p);
}

/* A row this code did not write is not restored, and goes; a file from a
 * newer layout is refused rather than misread. */
static void test_refuses_what_it_cannot_read(void **state)
{
    (void)state;
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/odd.db", dir);
    reg_persist_t *p = reg_persist_open(path, 50, 1000, err, sizeof err);
    reg_persist_row_t good = row(1, "1001", "sip:1001@h", 9000);
    reg_persist_save(p, &good);
    reg_persist_close(p);
    sql(path, "INSERT INTO bindings VALUES (2, '1002', 'sip:1002@h', 9000, x'0102');"
              "INSERT INTO bindings VALUES (3, '1003', 'sip:1003@h', 9000, 'text, not a record');");
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    seen_t s = {0};
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 1);
    assert_string_equal(s.contacts[0], "sip:1001@h");
    reg_persist_close(p); /* commits the deletes of the two */
    sql(path, "PRAGMA user_version = 0"); /* (not layout 1: the table is not converted twice) */
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    assert_null(p); /* a "bindings" table of unknown form under version 0 is converted, and that fails */
    sql(path, "PRAGMA user_version = 3");
    err[0] = '\0';
    assert_null(reg_persist_open(path, 50, 1000, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
    sql(path, "PRAGMA user_version = 2");
    p = reg_persist_open(path, 50, 1000, err, sizeof err);
    memset(&s, 0, sizeof s);
    assert_int_equal(reg_persist_load(p, 0, collect, &s, err, sizeof err), 1); /* the two went for good */
    reg_persist_close(p);
}

/* The blob of a row: what is written reads back, and anything shorter,
 * longer or altered in its frame is refused, never read past. */
static void test_record_round_trip_and_refusals(void **state)
{
    (void)state;
    reg_persist_row_t in = row(7, "1001", "sip:1001@h", 9000), out = {0};
    in.q = -1;
    in.socket_id = UINT64_MAX;
    in.registered_wall_ms = -5;
    size_t n = reg_record_size(&in);
    unsigned char rec[256];
    assert_true(n <= sizeof rec);
    reg_record_write(&in, rec);
    assert_int_equal(reg_record_read(rec, n, &out), 0);
    assert_string_equal(out.aor, "sip:x@h");
    assert_string_equal(out.call_id, "cid");
    assert_string_equal(out.source, "203.0.113.7:40112");
    assert_string_equal(out.user_agent, "Phone/1.0");
    assert_int_equal(out.cseq, 42);
    assert_int_equal(out.q, -1);
    assert_int_equal(out.transport, 1);
    assert_int_equal(out.behind_nat, 1);
    assert_true(out.socket_id == UINT64_MAX);
    assert_int_equal(out.registered_wall_ms, -5);
    assert_int_equal(out.updated_wall_ms, 200);
    assert_null(out.user); /* not the record's */
    reg_persist_row_t empty = {.id = 1};
    n = reg_record_size(&empty);
    reg_record_write(&empty, rec);
    assert_int_equal(reg_record_read(rec, n, &out), 0);
    assert_string_equal(out.user_agent, "");
    /* every cut is refused; so are a trailing byte, another layout, a bad flag */
    reg_record_write(&in, rec);
    n = reg_record_size(&in);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(reg_record_read(rec, cut, &out), -1);
    rec[n] = 'x';
    assert_int_equal(reg_record_read(rec, n + 1, &out), -1);
    rec[0] = 2;
    assert_int_equal(reg_record_read(rec, n, &out), -1);
    rec[0] = 1;
    rec[10] = 2; /* behind_nat */
    assert_int_equal(reg_record_read(rec, n, &out), -1);
    assert_int_equal(reg_record_read(NULL, 0, &out), -1);
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
        cmocka_unit_test(test_burst_keeps_order),
        cmocka_unit_test(test_converts_layout_1),
        cmocka_unit_test(test_refuses_what_it_cannot_read),
        cmocka_unit_test(test_record_round_trip_and_refusals),
        cmocka_unit_test(test_open_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
