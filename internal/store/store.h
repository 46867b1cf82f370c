/*
 * store: the durable, embedded record store under DATA_DIR. Records are opaque byte strings of
 * 1 .. STORE_RECORD_MAX bytes, kept in the order they were appended. docs/store.md gives the
 * files byte by byte, the chain of generations, what counts as a torn tail, and the guarantees.
 *
 * Threads. store_append only copies the record into an in-memory queue: request threads never
 * touch the disk. The committer thread writes the queue to the journal and fsyncs it, a batch at
 * a time (group commit), and decides the batch's tickets in the ledger (see ticket.h for what
 * waits for what). The compactor thread writes snapshots from a frozen version of the caller's
 * state, so compaction holds nothing that readers or writers need.
 *
 * Locks: one mutex guards the queue and the counters; the committer holds it only to swap
 * buffers, never across a write or an fsync. The callbacks are called with no store lock held.
 */
#ifndef PORRIO_STORE_H
#define PORRIO_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "ticket/ticket.h"

#define STORE_RECORD_MAX ((1u << 24) - 1)
#define STORE_QUEUE_MAX  (64u << 20) /* bytes queued but not yet written; beyond: appends refused */

typedef struct store store_t;

/** Writes one record into the snapshot being built; 0, or -1 with errno. */
typedef int (*store_emit_t)(void *ectx, const void *rec, size_t len);

typedef struct store_opts {
    const char *dir;         /* created if missing (one level) */
    size_t compact_bytes;    /* journal bytes since the last snapshot that start a compaction; 0: 8 MiB */
    ticket_ledger_t *ledger; /* where tickets are issued and decided; the caller's */
    /* Called for each record at open, in order. 0 when it applied; -1 with err when it cannot
     * apply: the store is damaged, and store_open fails naming the record. */
    int (*replay)(void *ctx, const char *rec, size_t len, char *err, size_t errlen);
    /* A problem that does not stop the store: a torn tail cut, a compaction that failed, writes
     * starting to fail (once, until a batch succeeds), an upgrade from the first format. Called
     * from store_open and from the store's two threads, possibly at the same time. */
    void (*warn)(void *ctx, const char *msg);
    /* News that is not a problem: writes working again after failing (once per recovery). From
     * the committer thread; NULL: not told. */
    void (*info)(void *ctx, const char *msg);
    /* Compaction and upgrades. freeze returns a reference to the caller's state holding exactly
     * every record appended so far and decided DURABLE (called on the committer thread right
     * after a batch is decided, or at open after replay); dump calls emit for records that
     * rebuild that state from empty through replay (on the compactor thread; 0, or -1 when emit
     * failed); thaw lets go of the reference (any thread). All three NULL: no compaction, and a
     * first-format store is opened read-only. */
    void *(*freeze)(void *ctx);
    int (*dump)(void *ctx, void *frozen, store_emit_t emit, void *ectx);
    void (*thaw)(void *ctx, void *frozen);
    void *ctx;
} store_opts_t;

/** Why store_open or a scan failed: a damaged store names the file and the offset. */
typedef struct store_error {
    int damaged;       /* 1: the files are damaged (exit 1, nothing changed); 0: another failure */
    char file[512];    /* the file at fault, "" when none */
    long long offset;  /* where in it, -1 when not about one place */
    char problem[512]; /* what is wrong, in words */
} store_error_t;

/**
 * Locks DATA_DIR, checks every file of the chain and replays the snapshot and the journals
 * through opts->replay. Only after all of it verified does it change anything: cut a torn tail,
 * remove leftovers (*.tmp, generations older than the snapshot), upgrade a first-format store.
 * A directory that cannot be written is opened read-only (appends refused, with a warning). NULL
 * with *e on failure: e->damaged for damage (no file was changed), else the directory cannot be
 * read or locked, or memory ran out. Free with store_close.
 */
store_t *store_open(const store_opts_t *opts, store_error_t *e);

/**
 * Queues one record for the journal. Returns its ticket (> 0); it is PENDING until the committer
 * decides it. 0 with err when it is refused at once: the record is empty or longer than
 * STORE_RECORD_MAX, the store is read-only, is undoing a failed batch (until the batch's LOST
 * decision shows in the ledger), stopped taking writes after a failure it could not undo, is
 * closing, or has STORE_QUEUE_MAX bytes queued. The caller serialises appends with its own
 * state changes, so that journal order is apply order.
 */
uint64_t store_append(store_t *s, const void *rec, size_t len, char *err, size_t errlen);

/** Non-zero when an append would be taken and the last batch was written (no failure since). */
int store_writable(const store_t *s);

typedef struct store_stats {
    uint64_t appends, fsyncs; /* since open */
    uint64_t journal_bytes;   /* in the journals since the newest snapshot */
    uint64_t snapshot_bytes;  /* the newest snapshot, 0 when none */
    uint64_t compactions;     /* completed since open */
    uint64_t generation;      /* of the journal being written */
    int writable;
} store_stats_t;

/** Figures for monitoring; cannot fail, never waits for a write or an fsync. */
void store_stats(store_t *s, store_stats_t *out);

/** Starts a compaction now if none runs (tests and tools; the committer starts them by size). A
 * no-op on a store that cannot write or has no freeze/dump/thaw. */
void store_compact_now(store_t *s);

/** Blocks until no compaction runs. 0 when the last one succeeded or none ran; -1 when it failed. */
int store_compact_wait(store_t *s);

/**
 * Writes every queued record (its tickets decided), gives up a snapshot being written (its .tmp
 * removed), stops the committer and the compactor, closes the files and unlocks the directory.
 * NULL is a no-op.
 */
void store_close(store_t *s);

/* ---- reading a store without opening it: porrio store verify / recover ---- */

typedef enum {
    STORE_SCAN_STRICT, /* stop at the first damage, as store_open does */
    STORE_SCAN_SALVAGE /* every file found, every generation; skip damage and go on */
} store_scan_mode_t;

typedef struct store_scan_cb {
    /* a file about to be read (name relative to the directory; generation 0 for first-format files) */
    void (*file)(void *ctx, const char *name, uint64_t gen, int snapshot);
    /* a record that verifies; its return value is 0 or -1 (does not apply: reported as damage
     * in STRICT mode, counted as skipped in SALVAGE mode) with err */
    int (*record)(void *ctx, const char *name, long long offset, const char *rec, size_t len, char *err, size_t errlen);
    /* a problem: torn is 1 for a torn tail (repairable), 0 for damage; skipped: the damaged bytes
     * SALVAGE passes over (0 for a record that verifies but does not apply: it is one record) */
    void (*problem)(void *ctx, const char *name, long long offset, int torn, long long skipped, const char *what);
    /* a file finished: its records and bytes */
    void (*file_done)(void *ctx, const char *name, uint64_t records, uint64_t bytes);
    void *ctx;
} store_scan_cb_t;

/**
 * Reads the store in `dir` without changing or locking it, calling cb for each file, record and
 * problem (any callback may be NULL). STRICT: 0 when the store is whole (a torn tail is reported
 * and allowed), -1 with *e at the first damage or read error, also reported through cb->problem.
 * SALVAGE: 0 after reading everything it could (docs/store.md says what it reads); -1 only when
 * the directory cannot be read.
 */
int store_scan(const char *dir, store_scan_mode_t mode, const store_scan_cb_t *cb, store_error_t *e);

/**
 * Creates a whole new store in `dir` (missing, or an empty directory): snapshot 1 from dump's
 * records, and an empty journal 1. 0; -1 with *e.
 */
int store_create(const char *dir, int (*dump)(void *ctx, store_emit_t emit, void *ectx), void *ctx, store_error_t *e);

#endif
