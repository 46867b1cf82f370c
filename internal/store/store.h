/*
 * store: the durable, embedded record store under DATA_DIR. Records are opaque byte strings.
 *
 * Files: `journal` (records appended as they happen) and `snapshot` (every live record, written
 * by compaction). Each starts with a header holding a generation number; each record is framed as
 * [u32 length][u32 CRC-32 of the payload][payload], little-endian. A journal whose generation is
 * older than the snapshot's is already inside it and is ignored, which makes compaction safe to
 * interrupt at any point.
 *
 * Durability: store_append() writes a record (in journal order, which the caller makes its apply
 * order) and returns a ticket; a committer thread fdatasync()s whatever has been written and then
 * reports the highest durable ticket. Writers that arrive during one fsync share the next one.
 */
#ifndef PORRIO_STORE_H
#define PORRIO_STORE_H
#include <stddef.h>
#include <stdint.h>

#define STORE_RECORD_MAX (16u << 20)

typedef struct store store_t;

typedef struct store_opts {
    const char *dir;      /* created if missing (one level) */
    size_t compact_bytes; /* journal size that makes store_should_compact() true; 0: 8 MiB */
    /* Called for each record at open and at store_recover(); a non-zero return means the record
     * could not be applied: it is reported through warn and skipped. */
    int (*replay)(void *ctx, const char *rec, size_t len, char *err, size_t errlen);
    /* A problem that does not stop the store (a cut tail, a skipped record, a read-only dir). */
    void (*warn)(void *ctx, const char *msg);
    /* On the committer thread: every ticket <= upto is now durable (ok = 1) or lost (ok = 0: the
     * fsync failed; the caller must call store_recover() and rebuild its state). */
    void (*durable)(void *ctx, uint64_t upto, int ok);
    void *ctx;
} store_opts_t;

/**
 * Opens the store and replays the snapshot and then the journal. A torn or corrupt tail is cut
 * off the journal (with a warning) and every complete record before it is kept. A directory
 * that cannot be written is opened read-only: its records are replayed, appends fail. A
 * snapshot or journal that exists but cannot be read (an I/O error) also opens it read-only,
 * with a warning, as any write could drop its records; a journal is not replayed without its
 * snapshot. Returns NULL with err only when the directory can be neither created nor read, or
 * memory runs out. Free with store_close.
 */
store_t *store_open(const store_opts_t *opts, char *err, size_t errlen);

/** Non-zero when appends can succeed (the directory is writable and no failure is pending). */
int store_writable(const store_t *s);

/**
 * Appends one record (not yet durable). Returns its ticket (> 0), or 0 with err when it could
 * not be written (disk full, I/O error, read-only): then nothing of it remains in the journal.
 * The caller serialises appends with its own state changes so that journal order is apply order.
 */
uint64_t store_append(store_t *s, const void *rec, size_t len, char *err, size_t errlen);

/**
 * The newest ticket store_append has handed out (0 before any). An answer that shows state which
 * may not be on disk yet waits for it, so nothing is acknowledged before it is durable.
 */
uint64_t store_last_ticket(store_t *s);

/** Blocks until `ticket` is durable (0) or lost (-1). For tools and tests; servers use `durable`. */
int store_sync(store_t *s, uint64_t ticket);

/** Non-zero when the journal has grown past compact_bytes. */
int store_should_compact(const store_t *s);

/**
 * Writes a snapshot of every live record and starts an empty journal. `dump` must call
 * store_dump_record() for each record, under the caller's lock so nothing changes meanwhile.
 * Everything appended before is durable when it returns 0. On failure (-1, err) the old files
 * stay in force and nothing is lost.
 */
int store_compact(store_t *s, int (*dump)(void *ctx, store_t *s), void *ctx, char *err, size_t errlen);
/** Adds one record to the snapshot being written (only inside store_compact's dump). */
int store_dump_record(store_t *s, const void *rec, size_t len);

/**
 * After a failed fsync: cuts the journal back to its last durable length and replays everything
 * durable again through `replay`, so the caller can rebuild its state from what is really on
 * disk. The caller holds its lock and has emptied its state first. 0, and appends work again;
 * -1 with err when the journal cannot be cut back or a file cannot be read: the durable records
 * are replayed all the same, and appends stay refused.
 */
int store_recover(store_t *s, char *err, size_t errlen);

typedef struct store_stats {
    uint64_t appends, fsyncs;  /* since open */
    uint64_t journal_bytes;
    int writable;
} store_stats_t;

/** Figures for monitoring; cannot fail. */
void store_stats(store_t *s, store_stats_t *out);

/** Waits for pending fsyncs, stops the committer and closes the files. NULL is a no-op. */
void store_close(store_t *s);

#endif
