/* Bindings on disk, so that a restart keeps registrations (DESIGN.md: "a
 * restart keeps registrations"): an SQLite file, one row per binding keyed
 * by the binding's id (which therefore outlives a restart).
 *
 * Written behind the call path: the signaling thread only queues changes;
 * a writer thread commits whatever is queued once per interval in a single
 * transaction (WAL journal, synchronous=NORMAL: a crash of the process
 * loses nothing committed; a power cut may lose the last interval, which
 * devices repair by re-registering). A failed commit is retried at the
 * next interval with everything queued since, in order. */
#ifndef REGISTRAR_PERSIST_H
#define REGISTRAR_PERSIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_persist reg_persist_t;

typedef struct reg_persist_row {
    uint64_t id; /* the binding's: unique in the file, and above 0 */
    const char *user, *aor, *contact, *call_id, *source, *user_agent;
    uint32_t cseq;
    int q, transport, behind_nat;
    uint64_t socket_id;
    int64_t expires_wall_ms, registered_wall_ms, updated_wall_ms;
} reg_persist_row_t;

/* Opens (creating) the file and its table; a file of an older layout is
 * converted, its rows kept. NULL with err filled on failure. */
reg_persist_t *reg_persist_open(const char *path, uint32_t interval_ms, size_t max_queue, char *err, size_t errlen);

/* Before reg_persist_start: deletes the rows expired at now_wall_ms and
 * calls fn for each other one (a row that cannot be read is deleted). The
 * number of rows given, or -1 (err). */
long reg_persist_load(reg_persist_t *p, int64_t now_wall_ms, void (*fn)(const reg_persist_row_t *row, void *ud),
                      void *ud, char *err, size_t errlen);

/* Starts the writer thread. 0, or -1 (err). */
int reg_persist_start(reg_persist_t *p, char *err, size_t errlen);

/* Queue an insert-or-replace of the row with this id / a delete (signaling
 * thread; copies the text). */
void reg_persist_save(reg_persist_t *p, const reg_persist_row_t *row);
void reg_persist_delete(reg_persist_t *p, uint64_t id);

typedef struct reg_persist_stats {
    uint64_t queued;        /* changes waiting for the next commit */
    uint64_t written;       /* changes committed since start */
    uint64_t commits;
    uint64_t errors;        /* failed commits (retried) */
    uint64_t dropped;       /* changes given up because the queue was full */
    uint64_t last_commit_us;
} reg_persist_stats_t;
void reg_persist_stats(reg_persist_t *p, reg_persist_stats_t *out);
/* The last error text, "" when none (for the log). Copied into buf. */
void reg_persist_last_error(reg_persist_t *p, char *buf, size_t len);

/* Commits what is queued, stops the thread, closes the file. */
void reg_persist_close(reg_persist_t *p);

#endif
