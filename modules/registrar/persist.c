#include "persist.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "xalloc.h"

/* One queued change; its strings live in `text`. user NULL never happens:
 * a delete has contact set and no other field. */
typedef struct op {
    int is_delete;
    reg_persist_row_t row;
    char *text;
} op_t;

typedef struct queue {
    op_t *ops;
    size_t n, cap;
} queue_t;

struct reg_persist {
    sqlite3 *db;
    sqlite3_stmt *upsert, *remove;
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

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS bindings ("
    " user TEXT NOT NULL, contact TEXT NOT NULL, aor TEXT NOT NULL, call_id TEXT NOT NULL,"
    " cseq INTEGER NOT NULL, q INTEGER NOT NULL, transport INTEGER NOT NULL, behind_nat INTEGER NOT NULL,"
    " socket_id INTEGER NOT NULL, source TEXT NOT NULL, user_agent TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL, registered_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (user, contact)) WITHOUT ROWID;";

static void set_error(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
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
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : "cannot create the bindings table");
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    reg_persist_t *p = reg_xcalloc(1, sizeof *p);
    p->db = db;
    p->interval_ms = interval_ms ? interval_ms : 1000;
    p->max_queue = max_queue ? max_queue : 1;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO bindings (user, contact, aor, call_id, cseq, q, transport,"
                           " behind_nat, socket_id, source, user_agent, expires_ms, registered_ms, updated_ms)"
                           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &p->upsert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM bindings WHERE user = ? AND contact = ?", -1, &p->remove, NULL) !=
            SQLITE_OK) {
        set_error(err, errlen, "cannot prepare statements", db);
        sqlite3_finalize(p->upsert);
        sqlite3_close(db);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    return p;
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
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
    if (sqlite3_prepare_v2(p->db,
                           "SELECT user, contact, aor, call_id, cseq, q, transport, behind_nat, socket_id, source,"
                           " user_agent, expires_ms, registered_ms, updated_ms FROM bindings",
                           -1, &sel, NULL) != SQLITE_OK) {
        set_error(err, errlen, "cannot read bindings", p->db);
        return -1;
    }
    long n = 0;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        reg_persist_row_t row = {
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

static void op_free(op_t *o)
{
    free(o->text);
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

/* Copies the strings of a row into one block owned by the op. */
static void pack(op_t *o, const reg_persist_row_t *row)
{
    const char *src[6] = {row->user, row->aor, row->contact, row->call_id, row->source, row->user_agent};
    size_t total = 0;
    for (int i = 0; i < 6; i++)
        total += strlen(src[i] ? src[i] : "") + 1;
    o->text = reg_xmalloc(total);
    o->row = *row;
    const char **dst[6] = {&o->row.user, &o->row.aor, &o->row.contact, &o->row.call_id, &o->row.source,
                           &o->row.user_agent};
    char *t = o->text;
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(src[i] ? src[i] : "") + 1;
        memcpy(t, src[i] ? src[i] : "", n);
        *dst[i] = t;
        t += n;
    }
}

void reg_persist_save(reg_persist_t *p, const reg_persist_row_t *row)
{
    if (!p)
        return;
    op_t o = {0};
    pack(&o, row);
    queue_push(p, &o);
}

void reg_persist_delete(reg_persist_t *p, const char *user, const char *contact)
{
    if (!p)
        return;
    op_t o = {.is_delete = 1};
    reg_persist_row_t row = {.user = user, .contact = contact};
    pack(&o, &row);
    queue_push(p, &o);
}

static int apply(reg_persist_t *p, const op_t *o)
{
    sqlite3_stmt *st = o->is_delete ? p->remove : p->upsert;
    const reg_persist_row_t *r = &o->row;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, r->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->contact, -1, SQLITE_STATIC);
    if (!o->is_delete) {
        sqlite3_bind_text(st, 3, r->aor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, r->cseq);
        sqlite3_bind_int(st, 6, r->q);
        sqlite3_bind_int(st, 7, r->transport);
        sqlite3_bind_int(st, 8, r->behind_nat);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)r->socket_id);
        sqlite3_bind_text(st, 10, r->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, r->user_agent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 12, r->expires_wall_ms);
        sqlite3_bind_int64(st, 13, r->registered_wall_ms);
        sqlite3_bind_int64(st, 14, r->updated_wall_ms);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
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
    for (size_t i = 0; ok && i < batch->n; i++)
        ok = apply(p, &batch->ops[i]) == 0;
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
    sqlite3_finalize(p->remove);
    sqlite3_close(p->db);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}
