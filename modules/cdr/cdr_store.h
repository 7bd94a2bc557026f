/*
 * Durable CDR storage: a bounded queue, a writer thread, an append-only
 * journal with group commit, CDR files with rotation, and recovery.
 *
 *   submit (signaling thread, O(1))
 *     -> queue (bounded by max_pending: records not yet durable)
 *     -> writer thread: journal append + fdatasync, at most every group_commit_ms
 *     -> at least every flush_interval_ms: journal records formatted into the
 *        current CDR file, fsync, checkpoint (atomic rename), journal emptied
 *
 * After a crash (kill -9, power loss), cdr_store_open() finds every record
 * that reached the journal and writes those not yet in a CDR file, exactly
 * once: the checkpoint names the current CDR file and its size as of the last
 * record known to be there, and recovery cuts that file back to that size
 * before replaying the journal past the checkpoint's seq. The on-disk formats
 * and the full argument are in doc/modules/cdr-format.md.
 *
 * Pure C (standard headers, POSIX, pthread); no dependency on the switch.
 * Thread rules: cdr_store_open() and cdr_store_close() on one thread (the
 * module's init/shutdown); every other function on any thread.
 */
#ifndef CDR_STORE_H
#define CDR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdr_record.h"

typedef enum {
    CDR_FORMAT_CSV = 0,         /* RFC 4180, header line per file, files cdr-*.csv */
    CDR_FORMAT_VOS = 1          /* VOS3000-style pipe-delimited, no header, files cdr-*.vos */
} cdr_format_t;

/* The I/O operations the writer performs, named for the test hook below. */
typedef enum {
    CDR_IO_JOURNAL_WRITE,       /* append a batch of records to the journal */
    CDR_IO_JOURNAL_SYNC,        /* fdatasync the journal (group commit) */
    CDR_IO_JOURNAL_TRUNCATE,    /* empty the journal once every record is in a CDR file */
    CDR_IO_CDR_WRITE,           /* write formatted lines to the current CDR file */
    CDR_IO_CDR_SYNC,            /* fsync the current CDR file */
    CDR_IO_CHECKPOINT,          /* replace the checkpoint (write temp, fsync, rename) */
    CDR_IO_JOURNAL_READ         /* read journal records to write them to CDR files (flush, recovery) */
} cdr_io_op_t;

typedef struct cdr_store_settings {
    const char *dir;            /* journal, checkpoint and CDR files; created (with parents) if missing */
    int format;                 /* CDR_FORMAT_CSV or CDR_FORMAT_VOS */
    const char *const *extra_columns; /* custom field names written as extra columns (copied) */
    size_t n_extra;
    uint32_t flush_interval_ms; /* SERVER_CDR_FILE_WRITE_INTERVAL: journaled records reach the CDR file at least
                                   this often; 0 = right after every journal sync */
    uint32_t rotate_interval_ms;/* a new CDR file at least this often (0 = only by size) */
    uint64_t rotate_bytes;      /* a new CDR file before one would pass this size (0 = only by time) */
    uint32_t max_files;         /* SERVER_CDR_FILE_WRITE_MAX: oldest CDR files deleted beyond it (0 = keep all) */
    uint32_t max_pending;       /* SERVER_MAX_CDR_PENDING_LIST_LENGTH: records accepted but not yet durable in
                                   the journal (0 = 100000) */
    uint32_t group_commit_ms;   /* at most one journal fdatasync per this many ms (0 = sync every batch at once) */
    uint32_t close_give_up_ms;  /* how long cdr_store_close() keeps retrying I/O that fails (0 = 3000) */
    /* Tests only (NULL in production): called on the writer thread just
     * before each operation; a non-zero return is taken as that errno and
     * the operation fails (and is counted and retried) without being done.
     * A test may also _exit() in it to crash at an exact point. */
    int (*io_hook)(void *ctx, cdr_io_op_t op);
    void *io_hook_ctx;
} cdr_store_settings_t;

typedef struct cdr_store_stats {
    uint64_t submitted;         /* records accepted by cdr_store_submit() */
    uint64_t journaled;         /* records made durable in the journal */
    uint64_t records_written;   /* records in CDR files (fsynced and checkpointed), recovered ones included */
    uint64_t recovered;         /* records replayed from the journal by cdr_store_open() */
    uint64_t journal_syncs;     /* successful journal fdatasyncs (group commits) */
    uint64_t queue_length;      /* accepted, not yet durable: what max_pending bounds */
    uint64_t unflushed;         /* durable in the journal, not yet in a CDR file */
    uint64_t last_write_latency_us; /* last group commit: oldest record's submit to its fdatasync done */
    uint64_t last_sync_duration_us; /* last group commit: journal write + fdatasync time */
    uint64_t journal_bytes;     /* current journal size */
    uint64_t files;             /* CDR files in the directory */
    uint64_t files_deleted;     /* removed by the max_files limit */
    uint64_t io_errors;         /* failed I/O operations (each one is retried) */
    uint64_t full_events;       /* submits refused because the queue was full */
    uint64_t records_truncated; /* records cut by the CDR_MAX_* limits of cdr_record.h */
    uint64_t last_seq;          /* last seq assigned */
    bool full;                  /* a submit would be refused now */
} cdr_store_stats_t;

typedef struct cdr_store cdr_store_t;

/* Opens (creating if needed) the store in s->dir, takes an exclusive lock on
 * it (a second store on the same directory, in any process, is refused),
 * runs recovery (journal records past the checkpoint are written to a new
 * CDR file before anything else) and starts the writer thread. Settings are
 * copied. Returns NULL with a message in err on failure: bad settings, the
 * directory or journal cannot be created or opened, the lock is held, out of
 * memory. A recovery write that fails (a full disk) does not fail the open:
 * it is counted in io_errors and retried by the writer thread.
 * Thread: the module's init thread. */
cdr_store_t *cdr_store_open(const cdr_store_settings_t *s, char *err, size_t errlen);

/* Queues a finished call's record: assigns r->seq and takes ownership of r.
 * Never does I/O; locks the queue mutex for O(1) work. Returns 0, or -1 with
 * r NOT taken when the queue holds max_pending records not yet durable (the
 * full_events counter increases) or the store is closing, or r is NULL.
 * Thread: any (the signaling thread). */
int cdr_store_submit(cdr_store_t *st, cdr_record_t *r);

/* True when a submit would be refused now: the module then refuses new calls
 * with 503 rather than lose their records. Thread: any. */
bool cdr_store_full(cdr_store_t *st);

/* Waits until a submit would be accepted (the queue has room), for at most
 * one second. 0 when there is room, -1 otherwise (I/O still failing, or the
 * store closing): callers that loop on it should give up at some point.
 * Thread: any but the writer. */
int cdr_store_wait_room(cdr_store_t *st);

/* A snapshot of the counters (for /metrics). Thread: any. */
void cdr_store_stats(cdr_store_t *st, cdr_store_stats_t *out);

/* Waits until every record submitted before the call is durable in the
 * journal (skipping the group-commit delay). 0, or -1 after timeout_ms
 * (I/O failing, or the store closing). Thread: any but the writer. */
int cdr_store_sync_wait(cdr_store_t *st, uint32_t timeout_ms);

/* Waits until every record submitted before the call is in a CDR file
 * (written, fsynced, checkpointed), starting that flush now rather than at
 * the next flush interval. 0, or -1 after timeout_ms. Thread: any but the
 * writer. */
int cdr_store_flush(cdr_store_t *st, uint32_t timeout_ms);

/* Stops accepting records, drains the queue to the journal and the journal
 * to the CDR files, joins the writer and frees everything. While I/O keeps
 * failing it retries for close_give_up_ms (3 s), then gives up: records
 * already in the journal are written at the next open, records not yet there
 * are lost.
 * Returns the number of records lost that way (0 normally). NULL is
 * accepted. Thread: the one that opened the store. */
uint64_t cdr_store_close(cdr_store_t *st);

/* The CDR file extension for a format: "csv" or "vos". */
const char *cdr_store_file_extension(int format);

#endif
