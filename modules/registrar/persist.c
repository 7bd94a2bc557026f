#include "persist.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binding_record.h"
#include "xalloc.h"

/* One queued change. A save's user, contact and record live in `block`; a
 * delete has only its id. */
typedef struct op {
    int is_delete;
    uint64_t id;
    int64_t expires_wall_ms;
    const char *user, *contact;
    const unsigned char *record;
    size_t record_len;
    char *block;
} op_t;

typedef struct queue {
    op_t *ops;
    size_t n, cap;
} queue_t;

/* Saves go to the file ROWS_PER_INSERT at a time where a batch has that
 * many in a row (a registration burst): a statement costs SQLite its
 * set-up and tear-down once per step, about a quarter of the writer's
 * work per binding when each row is its own statement. */
#define ROWS_PER_INSERT 16
#define PARAMS 5 /* per row: id, user, contact, expires_ms, binding */

struct reg_persist {
    sqlite3 *db;
    sqlite3_stmt *upsert, *upsert_many, *remove;
    uint32_t interval_ms;
    size_t max_queue;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    queue_t pending;           /* under lock */
    reg_persist_stats_t stats; /* under lock */
    char last_error[256];      /* under lock */
};

/* The file's layout, kept in PRAGMA user_version. */
#define LAYOUT_VERSION 2

/* One row per binding, keyed by the binding's id as its rowid: bindings
 * are numbered in order, so a new one goes at the end of the table, which
 * SQLite does without rebalancing pages (keyed by account and contact, as
 * layout 1 was, every insert lands among the others). The account, contact
 * and expiry are columns, to read the file with sqlite3 and to drop the
 * expired ones at start; the rest is one blob (binding_record.h). */
static const char schema[] = "CREATE TABLE bindings (id INTEGER PRIMARY KEY, user TEXT NOT NULL,"
                             " contact TEXT NOT NULL, expires_ms INTEGER NOT NULL, binding BLOB NOT NULL)";

static void set_error(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* A save of row, its text copied into one block. */
static op_t save_op(const reg_persist_row_t *row)
{
    const char *user = row->user ? row->user : "", *contact = row->contact ? row->contact : "";
    size_t lu = strlen(user) + 1, lc = strlen(contact) + 1;
    op_t o = {.id = row->id, .expires_wall_ms = row->expires_wall_ms, .record_len = reg_record_size(row)};
    o.block = reg_xmalloc(lu + lc + o.record_len);
    memcpy(o.block, user, lu);
    memcpy(o.block + lu, contact, lc);
    reg_record_write(row, (unsigned char *)o.block + lu + lc);
    o.user = o.block;
    o.contact = o.block + lu;
    o.record = (const unsigned char *)o.block + lu + lc;
    return o;
}

static void op_free(op_t *o)
{
    free(o->block);
}

/* A save's values as parameters first+1 .. first+PARAMS of an upsert. */
static void bind_save(sqlite3_stmt *st, int first, const op_t *o)
{
    sqlite3_bind_int64(st, first + 1, (sqlite3_int64)o->id);
    sqlite3_bind_text(st, first + 2, o->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 3, o->contact, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, first + 4, o->expires_wall_ms);
    sqlite3_bind_blob(st, first + 5, o->record, (int)o->record_len, SQLITE_STATIC);
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* Layout 1 (a column per field, keyed by account and contact) into the
 * new table, its rows numbered in their order. 1, or 0. */
static int convert_layout_1(sqlite3 *db)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int ok = sqlite3_prepare_v2(db,
                                "SELECT user, contact, aor, call_id, cseq, q, transport, behind_nat, socket_id,"
                                " source, user_agent, expires_ms, registered_ms, updated_ms FROM bindings_layout_1",
                                -1, &sel, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "INSERT INTO bindings (id, user, contact, expires_ms, binding) VALUES (?,?,?,?,?)",
                                -1, &ins, NULL) == SQLITE_OK;
    uint64_t id = 0;
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        reg_persist_row_t row = {
            .id = ++id,
            .user = column_text(sel, 0),
            .contact = column_text(sel, 1),
            .aor = column_text(sel, 2),
            .call_id = column_text(sel, 3),
            .cseq = (uint32_t)sqlite3_column_int64(sel, 4),
            .q = sqlite3_column_int(sel, 5),
            .transport = sqlite3_column_int(sel, 6),
            .behind_nat = sqlite3_column_int(sel, 7),
            .socket_id = (uint64_t)sqlite3_column_int64(sel, 8),
            .source = column_text(sel, 9),
            .user_agent = column_text(sel, 10),
            .expires_wall_ms = sqlite3_column_int64(sel, 11),
            .registered_wall_ms = sqlite3_column_int64(sel, 12),
            .updated_wall_ms = sqlite3_column_int64(sel, 13),
        };
        op_t o = save_op(&row);
        bind_save(ins, 0, &o);
        ok = sqlite3_step(ins) == SQLITE_DONE;
        sqlite3_reset(ins);
        op_free(&o);
    }
    ok = ok && rc == SQLITE_DONE;
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return ok;
}

/* Brings the file to LAYOUT_VERSION: the table in a new file; a layout 1
 * file (sipswitch before this layout) converted, rows kept. 0, or -1 (err). */
static int upgrade(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = -1, layout_1 = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version == LAYOUT_VERSION)
        return 0;
    if (version < 0 || version > LAYOUT_VERSION) {
        if (version < 0)
            set_error(err, errlen, "cannot read the layout version", db);
        else
            snprintf(err, errlen, "bindings written by a newer sipswitch (layout %d, this one reads %d)", version,
                     LAYOUT_VERSION);
        return -1;
    }
    int ok = exec(db, "BEGIN IMMEDIATE");
    if (ok && sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bindings'", -1,
                                 &st, NULL) == SQLITE_OK)
        layout_1 = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    ok = ok && (!layout_1 || exec(db, "ALTER TABLE bindings RENAME TO bindings_layout_1")) && exec(db, schema) &&
         (!layout_1 || (convert_layout_1(db) && exec(db, "DROP TABLE bindings_layout_1"))) &&
         exec(db, "PRAGMA user_version = 2") && exec(db, "COMMIT");
    if (!ok) {
        set_error(err, errlen, "cannot lay out the bindings table", db);
        exec(db, "ROLLBACK");
        return -1;
    }
    return 0;
}

reg_persist_t *reg_persist_open(const char *path, uint32_t interval_ms, size_t max_queue, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    /* NOMUTEX: the connection is used by one thread at a time (the loader
     * at start, then only the writer) */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        set_error(err, errlen, "cannot open", db);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 2000);
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : "cannot set the journal mode");
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    if (upgrade(db, err, errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    reg_persist_t *p = reg_xcalloc(1, sizeof *p);
    p->db = db;
    p->interval_ms = interval_ms ? interval_ms : 1000;
    p->max_queue = max_queue ? max_queue : 1;
    char upsert[128 + ROWS_PER_INSERT * (2 * PARAMS + 2)];
    size_t n = (size_t)snprintf(upsert, sizeof upsert, "%s",
                                "INSERT OR REPLACE INTO bindings (id, user, contact, expires_ms, binding)"
                                " VALUES (?,?,?,?,?)");
    size_t one_row = n; /* the statement for one row ends here */
    for (int i = 1; i < ROWS_PER_INSERT; i++)
        n += (size_t)snprintf(upsert + n, sizeof upsert - n, ",(?,?,?,?,?)");
    if (sqlite3_prepare_v2(db, upsert, (int)one_row, &p->upsert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, upsert, (int)n, &p->upsert_many, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM bindings WHERE id = ?", -1, &p->remove, NULL) != SQLITE_OK) {
        set_error(err, errlen, "cannot prepare statements", db);
        sqlite3_finalize(p->upsert);
        sqlite3_finalize(p->upsert_many);
        sqlite3_close(db);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    return p;
}

static void queue_push(reg_persist_t *p, op_t *o)
{
    pthread_mutex_lock(&p->lock);
    if (p->pending.n >= p->max_queue) {
        /* the disk has been failing for a long time: the oldest change goes */
        op_free(&p->pending.ops[0]);
        memmove(p->pending.ops, p->pending.ops + 1, (p->pending.n - 1) * sizeof *p->pending.ops);
        p->pending.n--;
        p->stats.dropped++;
    }
    if (p->pending.n == p->pending.cap) {
        p->pending.cap = p->pending.cap ? p->pending.cap * 2 : 256;
        p->pending.ops = reg_xrealloc(p->pending.ops, p->pending.cap * sizeof *p->pending.ops);
    }
    p->pending.ops[p->pending.n++] = *o;
    p->stats.queued = p->pending.n;
    pthread_mutex_unlock(&p->lock);
}

void reg_persist_save(reg_persist_t *p, const reg_persist_row_t *row)
{
    if (!p)
        return;
    op_t o = save_op(row);
    queue_push(p, &o);
}

void reg_persist_delete(reg_persist_t *p, uint64_t id)
{
    if (!p)
        return;
    op_t o = {.is_delete = 1, .id = id};
    queue_push(p, &o);
}

long reg_persist_load(reg_persist_t *p, int64_t now_wall_ms, void (*fn)(const reg_persist_row_t *row, void *ud),
                      void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *del = NULL, *sel = NULL;
    if (sqlite3_prepare_v2(p->db, "DELETE FROM bindings WHERE expires_ms <= ?", -1, &del, NULL) != SQLITE_OK) {
        set_error(err, errlen, "cannot read bindings", p->db);
        return -1;
    }
    sqlite3_bind_int64(del, 1, now_wall_ms);
    int rc = sqlite3_step(del);
    sqlite3_finalize(del);
    if (rc != SQLITE_DONE) {
        set_error(err, errlen, "cannot drop expired bindings", p->db);
        return -1;
    }
    if (sqlite3_prepare_v2(p->db, "SELECT id, user, contact, expires_ms, binding FROM bindings", -1, &sel, NULL) !=
        SQLITE_OK) {
        set_error(err, errlen, "cannot read bindings", p->db);
        return -1;
    }
    long n = 0;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        reg_persist_row_t row = {
            .id = (uint64_t)sqlite3_column_int64(sel, 0),
            .user = column_text(sel, 1),
            .contact = column_text(sel, 2),
            .expires_wall_ms = sqlite3_column_int64(sel, 3),
        };
        const unsigned char *rec = sqlite3_column_blob(sel, 4);
        if (reg_record_read(rec, (size_t)sqlite3_column_bytes(sel, 4), &row) != 0) {
            reg_persist_delete(p, row.id); /* not a record this code wrote: nothing to restore */
            continue;
        }
        fn(&row, ud);
        n++;
    }
    sqlite3_finalize(sel);
    if (rc != SQLITE_DONE) {
        set_error(err, errlen, "cannot read bindings", p->db);
        return -1;
    }
    return n;
}

static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int apply(reg_persist_t *p, const op_t *o)
{
    if (o->is_delete) {
        sqlite3_bind_int64(p->remove, 1, (sqlite3_int64)o->id);
        return run(p->remove);
    }
    bind_save(p->upsert, 0, o);
    return run(p->upsert);
}

/* ROWS_PER_INSERT upserts in one statement: its rows go in in order, so a
 * binding saved twice ends as the later save, as one by one. */
static int apply_many(reg_persist_t *p, const op_t *ops)
{
    for (int i = 0; i < ROWS_PER_INSERT; i++)
        bind_save(p->upsert_many, i * PARAMS, &ops[i]);
    return run(p->upsert_many);
}

/* How many upserts in a row the batch has from i on, at most ROWS_PER_INSERT. */
static size_t upserts_from(const queue_t *batch, size_t i)
{
    size_t k = 0;
    while (k < ROWS_PER_INSERT && i + k < batch->n && !batch->ops[i + k].is_delete)
        k++;
    return k;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Commits one batch; on failure the batch goes back in front of whatever
 * was queued meanwhile, so order is kept for the retry. */
static int commit_batch(reg_persist_t *p, queue_t *batch)
{
    uint64_t start = now_us();
    int ok = sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < batch->n;) {
        if (upserts_from(batch, i) == ROWS_PER_INSERT) {
            ok = apply_many(p, &batch->ops[i]) == 0;
            i += ROWS_PER_INSERT;
        } else {
            ok = apply(p, &batch->ops[i]) == 0;
            i++;
        }
    }
    ok = ok && sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    char why[200] = "";
    if (!ok) {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(p->db));
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_lock(&p->lock);
    if (ok) {
        p->stats.written += batch->n;
        p->stats.commits++;
        p->stats.last_commit_us = now_us() - start;
        for (size_t i = 0; i < batch->n; i++)
            op_free(&batch->ops[i]);
        batch->n = 0;
    } else {
        p->stats.errors++;
        snprintf(p->last_error, sizeof p->last_error, "%s", why);
        size_t total = batch->n + p->pending.n;
        if (total > batch->cap) {
            batch->cap = total;
            batch->ops = reg_xrealloc(batch->ops, batch->cap * sizeof *batch->ops);
        }
        memcpy(batch->ops + batch->n, p->pending.ops, p->pending.n * sizeof *p->pending.ops);
        batch->n = total;
        /* swap: the combined list becomes the pending queue */
        queue_t old = p->pending;
        p->pending = *batch;
        old.n = 0;
        *batch = old;
        p->stats.queued = p->pending.n;
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static void *writer(void *arg)
{
    reg_persist_t *p = arg;
    queue_t batch = {0};
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (!p->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += p->interval_ms / 1000;
            until.tv_nsec += (long)(p->interval_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->wake, &p->lock, &until);
        }
        int stop = p->stopping;
        if (p->pending.n) {
            queue_t q = p->pending;
            p->pending = batch;
            batch = q;
            p->stats.queued = 0;
            pthread_mutex_unlock(&p->lock);
            int ok = commit_batch(p, &batch);
            pthread_mutex_lock(&p->lock);
            if (stop && !ok) {
                /* closing with a disk that refuses: the rest is lost, say so */
                p->stats.dropped += p->pending.n;
                break;
            }
            continue; /* more may have come meanwhile; on stop, drain */
        }
        if (stop)
            break;
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < batch.n; i++)
        op_free(&batch.ops[i]);
    free(batch.ops);
    return NULL;
}

int reg_persist_start(reg_persist_t *p, char *err, size_t errlen)
{
    if (pthread_create(&p->thread, NULL, writer, p) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        return -1;
    }
    p->started = 1;
    return 0;
}

void reg_persist_stats(reg_persist_t *p, reg_persist_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    pthread_mutex_unlock(&p->lock);
}

void reg_persist_last_error(reg_persist_t *p, char *buf, size_t len)
{
    if (!p || !len)
        return;
    pthread_mutex_lock(&p->lock);
    snprintf(buf, len, "%s", p->last_error);
    pthread_mutex_unlock(&p->lock);
}

void reg_persist_close(reg_persist_t *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->stopping = 1;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    } else if (p->pending.n) {
        queue_t batch = p->pending;
        p->pending = (queue_t){0};
        commit_batch(p, &batch);
        for (size_t i = 0; i < batch.n; i++)
            op_free(&batch.ops[i]);
        free(batch.ops);
    }
    for (size_t i = 0; i < p->pending.n; i++)
        op_free(&p->pending.ops[i]);
    free(p->pending.ops);
    sqlite3_finalize(p->upsert);
    sqlite3_finalize(p->upsert_many);
    sqlite3_finalize(p->remove);
    sqlite3_close(p->db);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}
