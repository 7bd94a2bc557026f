/*
 * Durable CDR storage (cdr_store.h). The on-disk formats and the durability
 * argument are in doc/modules/cdr-format.md; the short version:
 *
 *   journal    cdr.journal, frames [magic, length, CRC32, record body]
 *              appended by the writer and fdatasync'ed per group commit.
 *   checkpoint cdr.checkpoint, replaced atomically: "every record up to seq S
 *              is in CDR files; the last of them went into file F, which was
 *              then N bytes long".
 *   CDR files  cdr-YYYYMMDD-HHMMSS-<first seq>.<csv|vos>.
 *
 * A flush reads the journal past the checkpoint, appends formatted lines to
 * the current CDR file, fsyncs it and only then moves the checkpoint. On a
 * restart recovery cuts F back to N bytes (whatever lies past N was written
 * after the last checkpoint and will be written again from the journal) and
 * replays the journal records after S: exactly once whatever the crash point.
 *
 * Threads: submitters take `lock` for O(1) queue work; everything that
 * touches a file runs on the writer thread (or in cdr_store_open() before it
 * starts). Fields below marked "writer" are touched only there.
 */
/* flock, fdatasync, gmtime_r and friends whatever -std the build picks */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "cdr_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_NAME "cdr.journal"
#define CHECKPOINT_NAME "cdr.checkpoint"
#define CHECKPOINT_TEMP_NAME "cdr.checkpoint.tmp"
#define CHECKPOINT_MAGIC "sipswitch-cdr-checkpoint 1"

#define JOURNAL_MAGIC 0x4A524443u       /* the bytes "CDRJ" read as a little-endian u32 */
#define FRAME_HEADER_BYTES 12u          /* magic, body length, CRC32 */
#define BODY_MIN_BYTES 9u               /* version byte + seq */

#define DEFAULT_MAX_PENDING 100000u
#define WRITE_CHUNK_BYTES (256u * 1024u) /* journal and CDR writes are issued in pieces of about this size */
#define READ_WINDOW_BYTES (256u * 1024u)
#define FLUSH_CHUNK_RECORDS 4096u       /* per flush round: a few ms of formatting between group commits */
#define BACKOFF_MIN_MS 50u
#define BACKOFF_MAX_MS 2000u
#define DEFAULT_CLOSE_GIVE_UP_MS 3000u
#define WAIT_ROOM_MS 1000u
#define FILE_NAME_BYTES 96

typedef struct checkpoint {
    uint64_t seq;                  /* every record up to this seq is in CDR files */
    char file[FILE_NAME_BYTES];    /* the CDR file written last; "" for none */
    uint64_t size;                 /* its size when seq was reached */
} checkpoint_t;

typedef struct frame {
    uint64_t offset;               /* of the frame header in the journal */
    uint64_t end;                  /* offset just past the frame */
    uint64_t seq;
    const unsigned char *body;     /* in the read window: valid until the next read */
    uint32_t body_len;
} frame_t;

struct cdr_store {
    /* settings (copied at open, then read-only) */
    char *dir;
    int format;
    char **extra_columns;
    size_t n_extra;
    uint32_t flush_interval_ms;
    uint32_t rotate_interval_ms;
    uint64_t rotate_bytes;
    uint32_t max_files;
    uint32_t max_pending;
    uint32_t group_commit_ms;
    uint32_t close_give_up_ms;
    int (*io_hook)(void *ctx, cdr_io_op_t op);
    void *io_hook_ctx;

    int dir_fd;
    int journal_fd;                /* holds the flock that keeps other stores out of dir */
    pthread_t writer;
    bool writer_started;

    pthread_mutex_t lock;
    pthread_cond_t wake_writer;    /* work arrived, or a waiter wants it now */
    pthread_cond_t progress;       /* records became durable or written; room in the queue */

    /* under lock */
    cdr_record_t *queue_head;      /* submitted, not yet taken by the writer */
    cdr_record_t *queue_tail;
    uint64_t queue_count;
    uint64_t queue_oldest_submit_us;
    uint64_t pending;              /* queue_count + the writer's batch: not yet durable */
    uint64_t next_seq;
    uint64_t durable_seq;          /* every record up to here is synced in the journal */
    uint64_t written_seq;          /* every record up to here is in CDR files */
    uint64_t sync_requested_seq;   /* cdr_store_sync_wait(): journal now, skip the group-commit wait */
    uint64_t flush_requested_seq;  /* cdr_store_flush(): flush now, skip the flush interval */
    bool stopping;
    uint64_t stop_ms;
    /* The writer sleeps with a group commit already scheduled: a new
     * record will be taken by it, so submitting need not wake the writer.
     * Under steady load this saves the signaling thread a futex call and
     * the writer a wake-up per group commit. */
    bool writer_commit_scheduled;
    cdr_store_stats_t stats;       /* queue_length, last_seq and full are filled in by cdr_store_stats() */

    /* writer */
    cdr_record_t *batch_head;      /* taken from the queue, being journaled (retried until it is) */
    cdr_record_t *batch_tail;
    uint64_t batch_count;
    uint64_t batch_oldest_submit_us;
    uint64_t journal_size;         /* end of the last valid frame: where the next append goes */
    uint64_t journal_flushed;      /* frames before this offset are in CDR files */
    bool journal_dirty;            /* a failed append may have left bytes past journal_size */
    checkpoint_t ckpt;             /* as last written to disk */
    int cdr_fd;                    /* the current CDR file, or -1 */
    char cdr_name[FILE_NAME_BYTES];
    uint64_t cdr_size;             /* bytes written to it, checkpointed or not */
    uint64_t cdr_records;          /* records in it, checkpointed or not */
    uint64_t cdr_records_checkpointed;
    uint64_t cdr_opened_ms;
    bool cdr_dirty;                /* must be cut back to ckpt.size before anything else is written */
    uint64_t last_sync_ms;
    uint64_t last_flush_ms;
    uint64_t journal_retry_at_ms;
    uint64_t flush_retry_at_ms;
    bool flush_soon;               /* recovery, a failed or unfinished flush left records: do not wait */
    bool last_round_was_journal;
    uint32_t backoff_ms;
    uint64_t failing_since_ms;     /* 0 while I/O succeeds */
    cdr_buf_t encoded;             /* journal frames about to be written */
    cdr_buf_t line;                /* one formatted record */
    cdr_buf_t out;                 /* formatted lines about to be written to the CDR file */
    unsigned char *window;         /* journal read window */
    size_t window_cap;
    uint64_t window_offset;
    size_t window_len;
    bool journal_read_failed;      /* a read error (not bad data): the scan must not conclude anything */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t monotonic_ms(void)
{
    return monotonic_us() / 1000u;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Waits on cond until the monotonic deadline; false once it has passed. */
static bool wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, uint64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000u), .tv_nsec = (long)(deadline_ms % 1000u) * 1000000L};
    return pthread_cond_timedwait(cond, lock, &ts) != ETIMEDOUT;
}

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_le64(const unsigned char *p)
{
    return (uint64_t)read_le32(p) | (uint64_t)read_le32(p + 4) << 32;
}

static void write_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), the one zlib and Ethernet use:
 * crc32_update(crc32_update(0, a), b) is the CRC of a followed by b. */
static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* Runs the test hook for op: -1 with errno set when it says the operation fails. */
static int io_hook(cdr_store_t *st, cdr_io_op_t op)
{
    if (st->io_hook == NULL)
        return 0;
    int e = st->io_hook(st->io_hook_ctx, op);
    if (e == 0)
        return 0;
    errno = e;
    return -1;
}

static int write_all_at(int fd, const void *data, size_t n, uint64_t offset)
{
    const char *p = data;
    while (n > 0) {
        ssize_t done = pwrite(fd, p, n, (off_t)offset);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (done == 0) {
            errno = EIO;
            return -1;
        }
        p += done;
        n -= (size_t)done;
        offset += (uint64_t)done;
    }
    return 0;
}

static void count_io_error(cdr_store_t *st)
{
    pthread_mutex_lock(&st->lock);
    st->stats.io_errors++;
    pthread_mutex_unlock(&st->lock);
}

/* After a failed operation: retry later, backing off up to BACKOFF_MAX_MS. */
static void note_failure(cdr_store_t *st, uint64_t *retry_at_ms)
{
    count_io_error(st);
    uint64_t now = monotonic_ms();
    *retry_at_ms = now + st->backoff_ms;
    st->backoff_ms = st->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : st->backoff_ms * 2;
    if (st->failing_since_ms == 0)
        st->failing_since_ms = now;
}

static void note_success(cdr_store_t *st)
{
    st->backoff_ms = BACKOFF_MIN_MS;
    st->failing_since_ms = 0;
}

const char *cdr_store_file_extension(int format)
{
    return format == CDR_FORMAT_VOS ? "vos" : "csv";
}

/* A CDR file of ours (either format: files of a previous format age out too). */
static bool is_cdr_file_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 8 || strncmp(name, "cdr-", 4) != 0)
        return false;
    return strcmp(name + n - 4, ".csv") == 0 || strcmp(name + n - 4, ".vos") == 0;
}

/* ---- checkpoint --------------------------------------------------------- */

static int format_checkpoint(const checkpoint_t *c, char *text, size_t cap)
{
    int n = snprintf(text, cap, CHECKPOINT_MAGIC "\nseq %" PRIu64 "\nfile %s\nsize %" PRIu64 "\n", c->seq,
                     c->file[0] != '\0' ? c->file : "-", c->size);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    uint32_t crc = crc32_update(0, (const unsigned char *)text, (size_t)n);
    int m = snprintf(text + n, cap - (size_t)n, "crc %08" PRIx32 "\n", crc);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
        return -1;
    return n + m;
}

/* Replaces the checkpoint atomically: write a temporary file, fsync it,
 * rename it over the old one, fsync the directory. A crash leaves either the
 * old or the new checkpoint, never a mix. */
static int write_checkpoint(cdr_store_t *st, const checkpoint_t *c)
{
    char text[256];
    int n = format_checkpoint(c, text, sizeof text);
    if (n < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (io_hook(st, CDR_IO_CHECKPOINT) != 0)
        return -1;
    int fd = openat(st->dir_fd, CHECKPOINT_TEMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (write_all_at(fd, text, (size_t)n, 0) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (close(fd) != 0)
        return -1;
    if (renameat(st->dir_fd, CHECKPOINT_TEMP_NAME, st->dir_fd, CHECKPOINT_NAME) != 0)
        return -1;
    return fsync(st->dir_fd);
}

/* 1 with *c filled, 0 when there is no checkpoint, -1 when it cannot be read
 * or does not parse (a damaged file). */
static int read_checkpoint(cdr_store_t *st, checkpoint_t *c)
{
    memset(c, 0, sizeof *c);
    int fd = openat(st->dir_fd, CHECKPOINT_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    char text[512];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char file[FILE_NAME_BYTES];
    unsigned long long seq, size;
    unsigned int crc;
    if (sscanf(text, CHECKPOINT_MAGIC "\nseq %llu\nfile %95s\nsize %llu\ncrc %x\n", &seq, file, &size, &crc) != 4)
        return -1;
    c->seq = seq;
    c->size = size;
    if (strcmp(file, "-") != 0)
        snprintf(c->file, sizeof c->file, "%s", file);
    char check[256];
    int m = format_checkpoint(c, check, sizeof check);
    if (m < 0 || (size_t)m != (size_t)n || memcmp(check, text, (size_t)m) != 0)
        return -1;
    return 1;
}

/* ---- CDR files ---------------------------------------------------------- */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Counts the CDR files in the directory and, beyond max_files, deletes the
 * oldest (names sort by creation time) except the current one. A failure is
 * counted and tried again at the next rotation. */
static void enforce_max_files(cdr_store_t *st)
{
    int fd = dup(st->dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        count_io_error(st);
        return;
    }
    rewinddir(d);
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool failed = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_cdr_file_name(e->d_name))
            continue;
        if (n == cap) {
            size_t bigger = cap ? cap * 2 : 64;
            char **more = realloc(names, bigger * sizeof *more);
            if (more == NULL) {
                failed = true;
                break;
            }
            names = more;
            cap = bigger;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            failed = true;
            break;
        }
        n++;
    }
    closedir(d);
    uint64_t deleted = 0;
    size_t kept = n;
    if (!failed && st->max_files > 0 && n > st->max_files) {
        qsort(names, n, sizeof *names, compare_names);
        for (size_t i = 0; i < n && kept > st->max_files; i++) {
            if (strcmp(names[i], st->cdr_name) == 0)
                continue;
            if (unlinkat(st->dir_fd, names[i], 0) == 0) {
                deleted++;
                kept--;
            } else if (errno != ENOENT) {
                failed = true;
            }
        }
        if (deleted > 0 && fsync(st->dir_fd) != 0)
            failed = true;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    pthread_mutex_lock(&st->lock);
    st->stats.files = kept;
    st->stats.files_deleted += deleted;
    if (failed)
        st->stats.io_errors++;
    pthread_mutex_unlock(&st->lock);
}

static void close_current_file(cdr_store_t *st)
{
    if (st->cdr_fd >= 0)
        close(st->cdr_fd);
    st->cdr_fd = -1;
    st->cdr_name[0] = '\0';
    st->cdr_size = 0;
    st->cdr_records = 0;
    st->cdr_records_checkpointed = 0;
}

/* "cdr-YYYYMMDD-HHMMSS-<first seq>.<ext>" in UTC; sorts by creation time.
 * The seq makes names unique; a suffix covers a seq reused after the
 * checkpoint was lost. */
static int make_file_name(cdr_store_t *st, uint64_t first_seq, char *name, size_t cap)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    if (gmtime_r(&now.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    char stem[64];
    snprintf(stem, sizeof stem, "cdr-%04d%02d%02d-%02d%02d%02d-%06" PRIu64, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, first_seq);
    const char *ext = cdr_store_file_extension(st->format);
    snprintf(name, cap, "%s.%s", stem, ext);
    for (unsigned k = 2; faccessat(st->dir_fd, name, F_OK, 0) == 0; k++) {
        if (k > 1000) {
            errno = EEXIST;
            return -1;
        }
        snprintf(name, cap, "%s-%u.%s", stem, k, ext);
    }
    return 0;
}

/* Starts a new CDR file whose first record will be first_seq. The checkpoint
 * names it (with size 0) before it exists, so that whatever a crash leaves in
 * it is cut away by recovery: a file is never written before the checkpoint
 * points at it. */
static int open_new_file(cdr_store_t *st, uint64_t first_seq)
{
    char name[FILE_NAME_BYTES];
    if (make_file_name(st, first_seq, name, sizeof name) != 0)
        return -1;
    checkpoint_t intent = st->ckpt;
    snprintf(intent.file, sizeof intent.file, "%s", name);
    intent.size = 0;
    if (write_checkpoint(st, &intent) != 0)
        return -1;
    st->ckpt = intent;
    int fd = openat(st->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (fsync(st->dir_fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    st->cdr_fd = fd;
    snprintf(st->cdr_name, sizeof st->cdr_name, "%s", name);
    st->cdr_size = 0;
    st->cdr_records = 0;
    st->cdr_records_checkpointed = 0;
    st->cdr_opened_ms = monotonic_ms();
    enforce_max_files(st);
    return 0;
}

/* Writes the formatted lines waiting in st->out to the current file. */
static int write_out(cdr_store_t *st)
{
    if (st->out.len == 0)
        return 0;
    if (io_hook(st, CDR_IO_CDR_WRITE) != 0 || write_all_at(st->cdr_fd, st->out.data, st->out.len, st->cdr_size) != 0)
        return -1;
    st->cdr_size += st->out.len;
    cdr_buf_reset(&st->out);
    return 0;
}

/* Makes what was written to the current file durable, then moves the
 * checkpoint past it: seq is the last record written, journal_offset the end
 * of its frame, n_records how many records this commit adds. */
static int commit(cdr_store_t *st, uint64_t seq, uint64_t journal_offset, uint64_t n_records)
{
    if (write_out(st) != 0)
        return -1;
    if (io_hook(st, CDR_IO_CDR_SYNC) != 0 || fsync(st->cdr_fd) != 0)
        return -1;
    checkpoint_t c = {.seq = seq, .size = st->cdr_size};
    snprintf(c.file, sizeof c.file, "%s", st->cdr_name);
    if (write_checkpoint(st, &c) != 0)
        return -1;
    st->ckpt = c;
    st->journal_flushed = journal_offset;
    st->cdr_records_checkpointed = st->cdr_records;
    pthread_mutex_lock(&st->lock);
    st->stats.records_written += n_records;
    st->stats.unflushed -= n_records <= st->stats.unflushed ? n_records : st->stats.unflushed;
    st->written_seq = max_u64(st->written_seq, seq);
    pthread_cond_broadcast(&st->progress);
    pthread_mutex_unlock(&st->lock);
    return 0;
}

/* After a failed flush: whatever went into the current file past the
 * checkpoint is cut away, so the retry writes those records exactly once. */
static void roll_back_current_file(cdr_store_t *st)
{
    cdr_buf_reset(&st->out);
    if (st->cdr_fd < 0)
        return;
    st->cdr_records = st->cdr_records_checkpointed;
    if (ftruncate(st->cdr_fd, (off_t)st->ckpt.size) == 0) {
        st->cdr_size = st->ckpt.size;
        st->cdr_dirty = false;
    } else {
        count_io_error(st);
        st->cdr_dirty = true;
    }
}

/* ---- journal ------------------------------------------------------------ */

/* Bytes [offset, offset + n) of the journal, read through a window; NULL
 * when they are not all before `end`, or cannot be read (then
 * journal_read_failed is set: missing bytes must not pass for a torn tail). */
static const unsigned char *journal_bytes(cdr_store_t *st, uint64_t offset, size_t n, uint64_t end)
{
    if (offset > end || n > end - offset)
        return NULL;
    if (offset >= st->window_offset && offset - st->window_offset + n <= st->window_len)
        return st->window + (offset - st->window_offset);
    size_t want = n > READ_WINDOW_BYTES ? n : READ_WINDOW_BYTES;
    if (want > end - offset)
        want = (size_t)(end - offset);
    if (want > st->window_cap) {
        unsigned char *bigger = realloc(st->window, want);
        if (bigger == NULL) {
            st->journal_read_failed = true;
            return NULL;
        }
        st->window = bigger;
        st->window_cap = want;
    }
    st->window_len = 0;
    if (io_hook(st, CDR_IO_JOURNAL_READ) != 0) {
        st->journal_read_failed = true;
        return NULL;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(st->journal_fd, st->window + got, want - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    st->window_offset = offset;
    st->window_len = got;
    if (got < want) {
        st->journal_read_failed = true; /* the bytes are there (end is within the file) but could not be read */
        return NULL;
    }
    return st->window;
}

/* The frame starting exactly at `offset`, if it is whole and its CRC holds. */
static bool frame_at(cdr_store_t *st, uint64_t offset, uint64_t end, frame_t *f)
{
    const unsigned char *h = journal_bytes(st, offset, FRAME_HEADER_BYTES, end);
    if (h == NULL || read_le32(h) != JOURNAL_MAGIC)
        return false;
    uint32_t body_len = read_le32(h + 4);
    if (body_len < BODY_MIN_BYTES || body_len > CDR_MAX_ENCODED_BYTES)
        return false;
    const unsigned char *p = journal_bytes(st, offset, FRAME_HEADER_BYTES + body_len, end);
    if (p == NULL)
        return false;
    uint32_t crc = crc32_update(0, p + 4, 4);
    crc = crc32_update(crc, p + FRAME_HEADER_BYTES, body_len);
    if (crc != read_le32(p + 8))
        return false;
    f->offset = offset;
    f->end = offset + FRAME_HEADER_BYTES + body_len;
    f->body = p + FRAME_HEADER_BYTES;
    f->body_len = body_len;
    f->seq = read_le64(f->body + 1);
    return true;
}

/* The next valid frame at or after `offset`. Bytes that are not a valid
 * frame (a torn write, damage) are skipped one at a time until a frame with
 * a seq above prev_seq turns up: a whole frame found while skipping with an
 * older seq is a leftover of an earlier journal generation, not news. */
static bool next_frame(cdr_store_t *st, uint64_t offset, uint64_t end, uint64_t prev_seq, frame_t *f)
{
    bool skipping = false;
    while (offset < end && end - offset >= FRAME_HEADER_BYTES) {
        if (frame_at(st, offset, end, f)) {
            if (!skipping || f->seq > prev_seq)
                return true;
            offset = f->end;
            continue;
        }
        if (st->journal_read_failed)
            return false; /* unreadable is not damaged: skipping it could lose records */
        skipping = true;
        offset++;
    }
    return false;
}

/* One frame per record: header (magic, body length, CRC32 of length+body), body. */
static bool append_frame(cdr_buf_t *out, const cdr_record_t *r)
{
    static const unsigned char placeholder[FRAME_HEADER_BYTES];
    size_t header_at = out->len;
    cdr_buf_append(out, placeholder, sizeof placeholder);
    size_t body_at = out->len;
    bool cut = cdr_record_encode(r, out);
    if (out->failed)
        return cut;
    unsigned char *h = (unsigned char *)out->data + header_at;
    uint32_t body_len = (uint32_t)(out->len - body_at);
    write_le32(h, JOURNAL_MAGIC);
    write_le32(h + 4, body_len);
    uint32_t crc = crc32_update(0, h + 4, 4);
    crc = crc32_update(crc, (const unsigned char *)out->data + body_at, body_len);
    write_le32(h + 8, crc);
    return cut;
}

/* Appends the writer's batch to the journal and fdatasyncs it (the group
 * commit). On failure nothing is considered written: the next attempt
 * rewrites the same frames at the same offset, after cutting off whatever
 * part of this one reached the file. */
static int journal_write_batch(cdr_store_t *st, uint64_t *n_cut)
{
    *n_cut = 0;
    st->window_len = 0; /* the window may hold bytes this write replaces */
    if (st->journal_dirty) {
        if (ftruncate(st->journal_fd, (off_t)st->journal_size) != 0)
            return -1;
        st->journal_dirty = false;
    }
    uint64_t offset = st->journal_size;
    cdr_buf_reset(&st->encoded);
    for (cdr_record_t *r = st->batch_head; r != NULL; r = r->store_next) {
        *n_cut += append_frame(&st->encoded, r);
        if (st->encoded.failed) {
            cdr_buf_free(&st->encoded);
            errno = ENOMEM;
            return -1;
        }
        if (st->encoded.len < WRITE_CHUNK_BYTES && r->store_next != NULL)
            continue;
        if (io_hook(st, CDR_IO_JOURNAL_WRITE) != 0 ||
            write_all_at(st->journal_fd, st->encoded.data, st->encoded.len, offset) != 0) {
            st->journal_dirty = true;
            return -1;
        }
        offset += st->encoded.len;
        cdr_buf_reset(&st->encoded);
    }
    if (io_hook(st, CDR_IO_JOURNAL_SYNC) != 0 || fdatasync(st->journal_fd) != 0) {
        st->journal_dirty = true;
        return -1;
    }
    st->journal_size = offset;
    return 0;
}

/* Empties the journal once every frame in it is in CDR files. Failing is
 * harmless (records at or below the checkpoint are skipped); it is tried
 * again after the next flush. */
static void journal_truncate_if_flushed(cdr_store_t *st)
{
    if (st->journal_size == 0 || st->journal_flushed < st->journal_size)
        return;
    st->window_len = 0;
    if (io_hook(st, CDR_IO_JOURNAL_TRUNCATE) != 0 || ftruncate(st->journal_fd, 0) != 0) {
        count_io_error(st);
        return;
    }
    st->journal_size = 0;
    st->journal_flushed = 0;
    pthread_mutex_lock(&st->lock);
    st->stats.journal_bytes = 0;
    pthread_mutex_unlock(&st->lock);
}

/* ---- flush: journal -> CDR files ---------------------------------------- */

static void format_record(cdr_store_t *st, const cdr_record_t *r, cdr_buf_t *out)
{
    const char *const *extra = (const char *const *)st->extra_columns;
    if (st->format == CDR_FORMAT_VOS)
        cdr_format_vos(r, extra, st->n_extra, out);
    else
        cdr_format_csv(r, extra, st->n_extra, out);
}

static bool file_wants_rotation(cdr_store_t *st, size_t next_line_len, uint64_t now_ms)
{
    if (st->cdr_fd < 0 || st->cdr_records == 0)
        return false; /* every file holds at least one record, however big */
    if (st->rotate_bytes > 0 && st->cdr_size + st->out.len + next_line_len > st->rotate_bytes)
        return true;
    /* now_ms may predate the file: it is taken once per flush */
    return st->rotate_interval_ms > 0 && now_ms > st->cdr_opened_ms &&
           now_ms - st->cdr_opened_ms >= st->rotate_interval_ms;
}

/* Writes journal records past the checkpoint to CDR files, at most
 * max_records of them (so that a large backlog does not hold up group
 * commits for long), rotating as needed, committing (fsync + checkpoint) at
 * each rotation and at the end. Returns 0 when the journal is all in CDR
 * files (and has been emptied), 1 when records remain, -1 on failure: the
 * current file is then rolled back to the last checkpoint and the records
 * stay in the journal for the retry. */
static int flush_journal(cdr_store_t *st, uint64_t max_records)
{
    if (st->cdr_dirty) {
        roll_back_current_file(st);
        if (st->cdr_dirty)
            return -1;
    }
    uint64_t now = monotonic_ms();
    uint64_t offset = st->journal_flushed;
    uint64_t prev_seq = 0;
    uint64_t uncommitted = 0, uncommitted_seq = 0, uncommitted_offset = 0;
    frame_t f;
    cdr_buf_reset(&st->out);
    st->journal_read_failed = false;
    uint64_t done = 0;
    while (done < max_records && next_frame(st, offset, st->journal_size, prev_seq, &f)) {
        offset = f.end;
        done++;
        prev_seq = f.seq;
        if (f.seq <= st->ckpt.seq)
            continue; /* already in a CDR file */
        cdr_record_t *r = cdr_record_decode(f.body, f.body_len);
        if (r == NULL) {
            if (errno == ENOMEM)
                goto failed;
            count_io_error(st); /* a body its CRC vouches for but we cannot read: skipped, counted */
            continue;
        }
        cdr_buf_reset(&st->line);
        format_record(st, r, &st->line);
        cdr_record_free(r);
        if (st->line.failed) {
            errno = ENOMEM;
            goto failed;
        }
        if (file_wants_rotation(st, st->line.len, now)) {
            if (uncommitted > 0 && commit(st, uncommitted_seq, uncommitted_offset, uncommitted) != 0)
                goto failed;
            uncommitted = 0;
            close_current_file(st);
        }
        if (st->cdr_fd < 0 && open_new_file(st, f.seq) != 0)
            goto failed;
        if (st->cdr_size == 0 && st->out.len == 0 && st->format == CDR_FORMAT_CSV)
            cdr_format_csv_header((const char *const *)st->extra_columns, st->n_extra, &st->out);
        cdr_buf_append(&st->out, st->line.data, st->line.len);
        if (st->out.failed) {
            errno = ENOMEM;
            goto failed;
        }
        st->cdr_records++;
        uncommitted++;
        uncommitted_seq = f.seq;
        uncommitted_offset = offset;
        if (st->out.len >= WRITE_CHUNK_BYTES && write_out(st) != 0)
            goto failed;
    }
    if (st->journal_read_failed) {
        errno = EIO;
        goto failed; /* what could not be read is not skipped: the retry reads it again */
    }
    if (uncommitted > 0 && commit(st, uncommitted_seq, uncommitted_offset, uncommitted) != 0)
        goto failed;
    if (done == max_records && offset < st->journal_size) {
        st->journal_flushed = offset; /* frames skipped past the last commit included */
        return 1;
    }
    st->journal_flushed = st->journal_size;
    journal_truncate_if_flushed(st);
    /* a skipped record (unreadable body) must not keep cdr_store_flush() waiting */
    pthread_mutex_lock(&st->lock);
    st->written_seq = max_u64(st->written_seq, prev_seq);
    pthread_cond_broadcast(&st->progress);
    pthread_mutex_unlock(&st->lock);
    return 0;

failed:
    roll_back_current_file(st);
    return -1;
}

/* ---- writer thread ------------------------------------------------------ */

static void journal_round(cdr_store_t *st)
{
    uint64_t started_us = monotonic_us();
    uint64_t n_cut = 0;
    if (journal_write_batch(st, &n_cut) != 0) {
        note_failure(st, &st->journal_retry_at_ms);
        return;
    }
    uint64_t done_us = monotonic_us();
    note_success(st);
    uint64_t n = st->batch_count, last_seq = 0;
    cdr_record_t *r = st->batch_head;
    while (r != NULL) {
        cdr_record_t *next = r->store_next;
        last_seq = r->seq;
        cdr_record_free(r);
        r = next;
    }
    st->batch_head = st->batch_tail = NULL;
    st->batch_count = 0;
    st->last_sync_ms = done_us / 1000u;
    pthread_mutex_lock(&st->lock);
    st->pending -= n;
    st->durable_seq = max_u64(st->durable_seq, last_seq);
    st->stats.journaled += n;
    st->stats.journal_syncs++;
    st->stats.unflushed += n;
    st->stats.records_truncated += n_cut;
    st->stats.last_sync_duration_us = done_us - started_us;
    st->stats.last_write_latency_us = done_us - min_u64(st->batch_oldest_submit_us, done_us);
    st->stats.journal_bytes = st->journal_size;
    pthread_cond_broadcast(&st->progress);
    pthread_mutex_unlock(&st->lock);
}

static void flush_round(cdr_store_t *st)
{
    int rc = flush_journal(st, FLUSH_CHUNK_RECORDS);
    if (rc < 0) {
        note_failure(st, &st->flush_retry_at_ms);
        st->flush_soon = true;
        return;
    }
    note_success(st);
    st->flush_soon = rc > 0; /* more to do: go on right after the next group commit */
    if (rc == 0)
        st->last_flush_ms = monotonic_ms();
    pthread_mutex_lock(&st->lock);
    st->stats.journal_bytes = st->journal_size;
    pthread_mutex_unlock(&st->lock);
}

/* Called with the lock held: moves the submitted records to the writer's batch. */
static void take_queue(cdr_store_t *st)
{
    if (st->queue_head == NULL)
        return;
    if (st->batch_head == NULL) {
        st->batch_head = st->queue_head;
        st->batch_oldest_submit_us = st->queue_oldest_submit_us;
    } else {
        st->batch_tail->store_next = st->queue_head;
    }
    st->batch_tail = st->queue_tail;
    st->batch_count += st->queue_count;
    st->queue_head = st->queue_tail = NULL;
    st->queue_count = 0;
}

static void *writer_main(void *arg)
{
    cdr_store_t *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        uint64_t now = monotonic_ms();
        bool journal_work = st->batch_count > 0 || st->queue_count > 0;
        bool unflushed = st->stats.unflushed > 0;
        bool giving_up = st->stopping && st->failing_since_ms != 0 &&
                         now - max_u64(st->failing_since_ms, st->stop_ms) >= st->close_give_up_ms;
        if (st->stopping && ((!journal_work && !unflushed) || giving_up))
            break;

        bool journal_now = st->stopping || st->sync_requested_seq > st->durable_seq ||
                           st->flush_requested_seq > st->durable_seq;
        uint64_t journal_at = journal_now ? st->journal_retry_at_ms
                                          : max_u64(st->last_sync_ms + st->group_commit_ms, st->journal_retry_at_ms);
        bool flush_now = st->stopping || st->flush_soon || st->flush_requested_seq > st->written_seq;
        uint64_t flush_at = flush_now ? st->flush_retry_at_ms
                                      : max_u64(st->last_flush_ms + st->flush_interval_ms, st->flush_retry_at_ms);
        uint64_t rotate_at = UINT64_MAX;
        if (st->cdr_fd >= 0 && st->rotate_interval_ms > 0 && !st->cdr_dirty)
            rotate_at = st->cdr_opened_ms + st->rotate_interval_ms;

        /* when both are due they take turns: a steady stream of group
         * commits must not starve the flush, nor a long flush the commits */
        bool journal_due = journal_work && now >= journal_at;
        bool flush_due = unflushed && now >= flush_at;
        if (journal_due && !(flush_due && st->last_round_was_journal)) {
            take_queue(st);
            pthread_mutex_unlock(&st->lock);
            journal_round(st);
            pthread_mutex_lock(&st->lock);
            st->last_round_was_journal = true;
            continue;
        }
        if (flush_due) {
            pthread_mutex_unlock(&st->lock);
            flush_round(st);
            pthread_mutex_lock(&st->lock);
            st->last_round_was_journal = false;
            continue;
        }
        if (now >= rotate_at) {
            /* an idle file past its interval is closed so importers can take
             * it; the next record starts a new one */
            pthread_mutex_unlock(&st->lock);
            close_current_file(st);
            pthread_mutex_lock(&st->lock);
            continue;
        }
        /* while records flow (one was synced less than a period ago), the
         * writer wakes for the next group commit on its own, whether or not
         * records came yet: submitting then never has to wake it */
        bool journal_expected = journal_work || (!st->stopping && now - st->last_sync_ms < st->group_commit_ms);
        uint64_t wake_at = rotate_at;
        if (journal_expected)
            wake_at = min_u64(wake_at, journal_at);
        if (unflushed)
            wake_at = min_u64(wake_at, flush_at);
        if (st->stopping)
            wake_at = min_u64(wake_at, now + BACKOFF_MIN_MS);
        st->writer_commit_scheduled = journal_expected;
        if (wake_at == UINT64_MAX)
            pthread_cond_wait(&st->wake_writer, &st->lock);
        else
            wait_until(&st->wake_writer, &st->lock, wake_at);
        st->writer_commit_scheduled = false;
    }
    pthread_mutex_unlock(&st->lock);
    close_current_file(st);
    return NULL;
}

/* ---- open: settings, directory, recovery -------------------------------- */

static int make_directories(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(copy, 0750);
    free(copy);
    return rc != 0 && errno != EEXIST ? -1 : 0;
}

static void store_free(cdr_store_t *st)
{
    for (cdr_record_t *r = st->queue_head; r != NULL;) {
        cdr_record_t *next = r->store_next;
        cdr_record_free(r);
        r = next;
    }
    for (cdr_record_t *r = st->batch_head; r != NULL;) {
        cdr_record_t *next = r->store_next;
        cdr_record_free(r);
        r = next;
    }
    close_current_file(st);
    if (st->journal_fd >= 0)
        close(st->journal_fd); /* also releases the directory lock */
    if (st->dir_fd >= 0)
        close(st->dir_fd);
    cdr_buf_free(&st->encoded);
    cdr_buf_free(&st->line);
    cdr_buf_free(&st->out);
    free(st->window);
    for (size_t i = 0; i < st->n_extra; i++)
        free(st->extra_columns[i]);
    free(st->extra_columns);
    free(st->dir);
    pthread_cond_destroy(&st->progress);
    pthread_cond_destroy(&st->wake_writer);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int copy_settings(cdr_store_t *st, const cdr_store_settings_t *s, char *err, size_t errlen)
{
    if (s->dir == NULL || s->dir[0] == '\0') {
        set_error(err, errlen, "no directory given");
        return -1;
    }
    if (s->format != CDR_FORMAT_CSV && s->format != CDR_FORMAT_VOS) {
        set_error(err, errlen, "unknown format %d", s->format);
        return -1;
    }
    st->dir = strdup(s->dir);
    if (st->dir == NULL)
        goto out_of_memory;
    if (s->n_extra > 0) {
        st->extra_columns = calloc(s->n_extra, sizeof *st->extra_columns);
        if (st->extra_columns == NULL)
            goto out_of_memory;
    }
    for (size_t i = 0; i < s->n_extra; i++) {
        if (s->extra_columns[i] == NULL) {
            set_error(err, errlen, "extra column %zu has no name", i + 1);
            return -1;
        }
        st->extra_columns[i] = strdup(s->extra_columns[i]);
        if (st->extra_columns[i] == NULL)
            goto out_of_memory;
        st->n_extra = i + 1;
    }
    st->format = s->format;
    st->flush_interval_ms = s->flush_interval_ms;
    st->rotate_interval_ms = s->rotate_interval_ms;
    st->rotate_bytes = s->rotate_bytes;
    st->max_files = s->max_files;
    st->max_pending = s->max_pending > 0 ? s->max_pending : DEFAULT_MAX_PENDING;
    st->group_commit_ms = s->group_commit_ms;
    st->close_give_up_ms = s->close_give_up_ms > 0 ? s->close_give_up_ms : DEFAULT_CLOSE_GIVE_UP_MS;
    st->io_hook = s->io_hook;
    st->io_hook_ctx = s->io_hook_ctx;
    return 0;

out_of_memory:
    set_error(err, errlen, "out of memory");
    return -1;
}

/* Cuts the file the checkpoint names back to the checkpointed size: bytes
 * past it were written after the last checkpoint (possibly torn) and their
 * records are replayed from the journal. A file still at size 0 in the
 * checkpoint was never committed to and is removed. */
static int recover_last_file(cdr_store_t *st, char *err, size_t errlen)
{
    if (st->ckpt.file[0] == '\0')
        return 0;
    int fd = openat(st->dir_fd, st->ckpt.file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* taken away by an importer, or never created */
        set_error(err, errlen, "cannot open %s: %s", st->ckpt.file, strerror(errno));
        return -1;
    }
    struct stat sb;
    int rc = fstat(fd, &sb);
    if (rc == 0 && st->ckpt.size == 0) {
        close(fd);
        if (unlinkat(st->dir_fd, st->ckpt.file, 0) != 0 || fsync(st->dir_fd) != 0) {
            set_error(err, errlen, "cannot remove %s: %s", st->ckpt.file, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (rc == 0 && (uint64_t)sb.st_size > st->ckpt.size)
        rc = ftruncate(fd, (off_t)st->ckpt.size) == 0 && fsync(fd) == 0 ? 0 : -1;
    int e = errno;
    close(fd);
    if (rc != 0) {
        set_error(err, errlen, "cannot cut %s back to %" PRIu64 " bytes: %s", st->ckpt.file, st->ckpt.size,
                  strerror(e));
        return -1;
    }
    return 0;
}

/* Scans the journal: where its valid frames end (a torn tail is cut off),
 * the last seq it holds and how many records are past the checkpoint. */
static int recover_journal(cdr_store_t *st, uint64_t *last_seq, uint64_t *n_unflushed, char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(st->journal_fd, &sb) != 0) {
        set_error(err, errlen, "cannot stat the journal: %s", strerror(errno));
        return -1;
    }
    uint64_t end = (uint64_t)sb.st_size, offset = 0, valid_end = 0, prev_seq = 0;
    *last_seq = 0;
    *n_unflushed = 0;
    frame_t f;
    st->journal_read_failed = false;
    while (next_frame(st, offset, end, prev_seq, &f)) {
        offset = valid_end = f.end;
        prev_seq = f.seq;
        *last_seq = max_u64(*last_seq, f.seq);
        if (f.seq > st->ckpt.seq)
            (*n_unflushed)++;
    }
    st->window_len = 0;
    if (st->journal_read_failed) {
        set_error(err, errlen, "cannot read the journal");
        return -1;
    }
    if (valid_end < end) {
        if (ftruncate(st->journal_fd, (off_t)valid_end) != 0 || fdatasync(st->journal_fd) != 0) {
            set_error(err, errlen, "cannot cut the journal's torn tail: %s", strerror(errno));
            return -1;
        }
    }
    st->journal_size = valid_end;
    st->journal_flushed = 0;
    return 0;
}

cdr_store_t *cdr_store_open(const cdr_store_settings_t *s, char *err, size_t errlen)
{
    set_error(err, errlen, "%s", "");
    pthread_once(&crc_table_once, crc_table_build);
    cdr_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        set_error(err, errlen, "out of memory");
        return NULL;
    }
    st->dir_fd = st->journal_fd = st->cdr_fd = -1;
    st->backoff_ms = BACKOFF_MIN_MS;
    cdr_buf_init(&st->encoded);
    cdr_buf_init(&st->line);
    cdr_buf_init(&st->out);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->wake_writer, &attr);
    pthread_cond_init(&st->progress, &attr);
    pthread_condattr_destroy(&attr);
    if (copy_settings(st, s, err, errlen) != 0)
        goto failed;

    if (make_directories(st->dir) != 0) {
        set_error(err, errlen, "cannot create the directory: %s", strerror(errno));
        goto failed;
    }
    st->dir_fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dir_fd < 0) {
        set_error(err, errlen, "cannot open the directory: %s", strerror(errno));
        goto failed;
    }
    st->journal_fd = openat(st->dir_fd, JOURNAL_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (st->journal_fd < 0) {
        set_error(err, errlen, "cannot open %s: %s", JOURNAL_NAME, strerror(errno));
        goto failed;
    }
    if (flock(st->journal_fd, LOCK_EX | LOCK_NB) != 0) {
        set_error(err, errlen, "%s", errno == EWOULDBLOCK ? "the directory is in use by another CDR store"
                                                           : strerror(errno));
        goto failed;
    }

    /* recovery, in this order: the checkpoint says what is in CDR files, the
     * last CDR file loses any uncheckpointed tail, the journal loses its torn
     * tail, and the records past the checkpoint are written before anything new */
    if (read_checkpoint(st, &st->ckpt) < 0) {
        /* a damaged checkpoint (it is only ever replaced by rename, so this is
         * outside damage): replay the whole journal; duplicates are possible */
        memset(&st->ckpt, 0, sizeof st->ckpt);
        st->stats.io_errors++;
    }
    if (recover_last_file(st, err, errlen) != 0)
        goto failed;
    uint64_t journal_last_seq, n_unflushed;
    if (recover_journal(st, &journal_last_seq, &n_unflushed, err, errlen) != 0)
        goto failed;
    uint64_t last_seq = max_u64(st->ckpt.seq, journal_last_seq);
    st->next_seq = last_seq + 1;
    st->durable_seq = last_seq;
    st->written_seq = st->ckpt.seq;
    st->stats.unflushed = n_unflushed;
    st->stats.recovered = n_unflushed;
    st->stats.journal_bytes = st->journal_size;
    enforce_max_files(st);
    if (st->journal_size > 0) {
        int rc;
        while ((rc = flush_journal(st, FLUSH_CHUNK_RECORDS)) > 0)
            ;
        if (rc < 0) {
            st->stats.io_errors++;
            st->flush_soon = true; /* the writer retries at once */
        }
    }
    st->last_sync_ms = st->last_flush_ms = monotonic_ms();

    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        set_error(err, errlen, "cannot start the writer thread");
        goto failed;
    }
    st->writer_started = true;
    return st;

failed:
    store_free(st);
    return NULL;
}

/* ---- the public side ---------------------------------------------------- */

int cdr_store_submit(cdr_store_t *st, cdr_record_t *r)
{
    if (st == NULL || r == NULL)
        return -1;
    pthread_mutex_lock(&st->lock);
    if (st->stopping || st->pending >= st->max_pending) {
        if (!st->stopping)
            st->stats.full_events++;
        pthread_mutex_unlock(&st->lock);
        return -1;
    }
    r->seq = st->next_seq++;
    r->store_next = NULL;
    bool was_empty = st->queue_head == NULL;
    if (was_empty) {
        st->queue_head = r;
        st->queue_oldest_submit_us = monotonic_us();
    } else {
        st->queue_tail->store_next = r;
    }
    st->queue_tail = r;
    st->queue_count++;
    st->pending++;
    st->stats.submitted++;
    if (was_empty && !st->writer_commit_scheduled)
        pthread_cond_signal(&st->wake_writer); /* it may be asleep with nothing to do */
    pthread_mutex_unlock(&st->lock);
    return 0;
}

bool cdr_store_full(cdr_store_t *st)
{
    pthread_mutex_lock(&st->lock);
    bool full = st->stopping || st->pending >= st->max_pending;
    pthread_mutex_unlock(&st->lock);
    return full;
}

int cdr_store_wait_room(cdr_store_t *st)
{
    pthread_mutex_lock(&st->lock);
    uint64_t deadline = monotonic_ms() + WAIT_ROOM_MS;
    while (!st->stopping && st->pending >= st->max_pending) {
        st->sync_requested_seq = max_u64(st->sync_requested_seq, st->next_seq - 1);
        pthread_cond_signal(&st->wake_writer);
        if (!wait_until(&st->progress, &st->lock, deadline))
            break;
    }
    int rc = !st->stopping && st->pending < st->max_pending ? 0 : -1;
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void cdr_store_stats(cdr_store_t *st, cdr_store_stats_t *out)
{
    pthread_mutex_lock(&st->lock);
    *out = st->stats;
    out->queue_length = st->pending;
    out->last_seq = st->next_seq - 1;
    out->full = st->stopping || st->pending >= st->max_pending;
    pthread_mutex_unlock(&st->lock);
}

/* Waits (lock held) until *progress_seq reaches target or the deadline passes. */
static int wait_for_seq(cdr_store_t *st, const uint64_t *progress_seq, uint64_t target, uint32_t timeout_ms)
{
    uint64_t deadline = monotonic_ms() + timeout_ms;
    while (*progress_seq < target) {
        if (!wait_until(&st->progress, &st->lock, deadline))
            break;
    }
    return *progress_seq >= target ? 0 : -1;
}

int cdr_store_sync_wait(cdr_store_t *st, uint32_t timeout_ms)
{
    pthread_mutex_lock(&st->lock);
    uint64_t target = st->next_seq - 1;
    st->sync_requested_seq = max_u64(st->sync_requested_seq, target);
    pthread_cond_signal(&st->wake_writer);
    int rc = wait_for_seq(st, &st->durable_seq, target, timeout_ms);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int cdr_store_flush(cdr_store_t *st, uint32_t timeout_ms)
{
    pthread_mutex_lock(&st->lock);
    uint64_t target = st->next_seq - 1;
    st->flush_requested_seq = max_u64(st->flush_requested_seq, target);
    pthread_cond_signal(&st->wake_writer);
    int rc = wait_for_seq(st, &st->written_seq, target, timeout_ms);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

uint64_t cdr_store_close(cdr_store_t *st)
{
    if (st == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    st->stop_ms = monotonic_ms();
    pthread_cond_signal(&st->wake_writer);
    pthread_cond_broadcast(&st->progress);
    pthread_mutex_unlock(&st->lock);
    if (st->writer_started)
        pthread_join(st->writer, NULL);
    uint64_t lost = st->pending;
    store_free(st);
    return lost;
}
