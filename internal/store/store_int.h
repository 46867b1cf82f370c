/*
 * store_int.h: shared by the store's own files only. Names starting with st_ are the store's
 * internals; store_ names are the public interface (store.h).
 *
 *   format.c   the bytes of headers, frames and trailers; CRC-8; torn tail or damage; resync;
 *              a snapshot verified whole
 *   files.c    reading a file whole or its header (and which journal may be torn), writing a
 *              journal or a snapshot under a .tmp name, errors
 *   chain.c    listing DATA_DIR and walking the chain strictly (store_open, STRICT scans)
 *   open.c     store_open: lock, walk, repair, create or upgrade, start threads; store_close
 *   commit.c   store_append, the committer thread, the failure path, the rotation of journals
 *   compact.c  the compactor thread: snapshots from a frozen state
 *   scan.c     store_scan (STRICT and SALVAGE) and store_create
 *
 * A strict walk (chain.c) and a SALVAGE scan (scan.c) find the chain with the same functions:
 * they differ only in what they do on damage (stop and report it, or report it and go on).
 */
#ifndef PORRIO_STORE_INT_H
#define PORRIO_STORE_INT_H
#include "store/store.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define HEADER_LEN      32
#define FRAME_LEN       8
#define TRAILER_LEN     24
#define V1_HEADER_LEN   16
#define V1_RECORD_MAX   (16u << 20) /* the first format's records were at most 16 MiB */
#define DEFAULT_COMPACT (8u << 20)
#define NAME_LEN        40 /* "snapshot-" + 16 hex digits + ".tmp" fits */

#define MAGIC_JOURNAL     "PORRIOJ2"
#define MAGIC_SNAPSHOT    "PORRIOS2"
#define MAGIC_TRAILER     "PORRIOSE"
#define MAGIC_V1_JOURNAL  "PORRIOJ1"
#define MAGIC_V1_SNAPSHOT "PORRIOS1"

static inline void st_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}
static inline void st_put64(unsigned char *p, uint64_t v)
{
    st_put32(p, (uint32_t)v);
    st_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t st_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t st_get64(const unsigned char *p)
{
    return st_get32(p) | (uint64_t)st_get32(p + 4) << 32;
}

/* ---- format.c ---- */

/* CRC-8 of p[0..n) (polynomial 0x07, initial 0, not reflected), as frames' lengths use; cannot fail. */
uint8_t st_crc8(const unsigned char *p, size_t n);
/* zlib's CRC-32 of p[0..n), continuing from crc (0 to start); cannot fail. */
uint32_t st_crc32(uint32_t crc, const void *p, size_t n);

/* "journal-<16 hex>" or "snapshot-<16 hex>"; st_parse_name: 1 when name is one exactly. */
void st_name(char out[NAME_LEN], int snapshot, uint64_t gen);
int st_parse_name(const char *name, int *snapshot, uint64_t *gen);

/* Fills h with the header of journal or snapshot `gen` of store `id`, its CRC-32 included; cannot fail. */
void st_header_make(unsigned char h[HEADER_LEN], int snapshot, uint64_t gen, uint64_t id);
/* 0 when the header of a file named for (snapshot, gen) verifies, with *id; -1 with why. */
int st_header_check(const unsigned char *b, size_t size, int snapshot, uint64_t gen, uint64_t *id, char *why, size_t whylen);

/* v1 is the first format: [u32 length][u32 CRC-32], length 1 .. V1_RECORD_MAX. */
typedef enum {
    FR_OK,       /* a record that verifies: *len is its payload's length */
    FR_SHORT,    /* fewer than FRAME_LEN bytes left */
    FR_BAD_LEN,  /* the length fails its CRC-8 (or is 0, or too large in v1) */
    FR_PAST_END, /* the length verifies but the record runs past the end */
    FR_BAD_CRC   /* the payload fails its CRC-32 */
} st_frame_t;
/* Fills f with the frame of rec[0..len) (1 <= len <= STORE_RECORD_MAX: not checked); cannot fail. */
void st_frame_make(unsigned char f[FRAME_LEN], const void *rec, size_t len);
/* What stands at b[off..end): FR_OK with *len, or why no record that verifies does. */
st_frame_t st_frame_at(const unsigned char *b, size_t end, size_t off, int v1, size_t *len);

/* 1 when the bytes of b from off (where a record failed to verify) to size are a torn tail. */
int st_torn(const unsigned char *b, size_t size, size_t off, int v1);

/* Finding records after damage. st_resync: the offset >= from of the next frame that verifies
 * in b[0..end), or end. The index makes each candidate cost O(4 KiB) instead of its length. */
typedef struct st_resync {
    const unsigned char *b;
    size_t end;
    int v1;
    uint32_t *cp; /* CRC-32 of b[0 .. k * 4096) for each k; NULL until first needed */
    int cp_failed;
} st_resync_t;
size_t st_resync(st_resync_t *r, size_t from);
/* The number of frames that verify from `from` on (resyncing after each failure). */
uint64_t st_count_following(st_resync_t *r, size_t from);
/* Frees the index st_resync built (r stays usable: it is built again when needed); cannot fail. */
void st_resync_free(st_resync_t *r);

/* What a frame st_frame_at did not find FR_OK is, in words ("record fails its checksum"): what a
 * SALVAGE scan reports, and how st_frame_problem starts. Never NULL. */
const char *st_frame_word(st_frame_t fr);
/* The problem with the frame at off, in words, as a strict walk reports it ("record fails its
 * checksum; 3 valid records follow"), for a frame st_frame_at did not find FR_OK. */
void st_frame_problem(const unsigned char *b, size_t end, size_t off, int v1, st_frame_t fr, char *out, size_t outlen);

/* Fills t with the trailer of a snapshot of `count` records whose bytes before it have CRC-32
 * file_crc; cannot fail. */
void st_trailer_make(unsigned char t[TRAILER_LEN], uint64_t count, uint32_t file_crc);
/* How snapshot b[0..size) ends: TRAILER_OK, in a trailer that verifies (*count, *file_crc);
 * TRAILER_BAD, in a trailer's magic whose checksum fails; TRAILER_NONE, without a trailer (cut
 * short). */
enum { TRAILER_OK, TRAILER_BAD, TRAILER_NONE };
int st_trailer_check(const unsigned char *b, size_t size, uint64_t *count, uint32_t *file_crc);
/* Verifies snapshot b[0..size) whole, its header aside (size >= HEADER_LEN): trailer, every record
 * in a row up to it, the trailer's count and the whole-file CRC-32, in that order. 0 when it is
 * whole; -1 with the first problem (*off: where, -1 for the checksum; why: in words, unless NULL). */
int st_snapshot_check(const unsigned char *b, size_t size, long long *off, char *why, size_t whylen);
/* 1 when b[0..n) holds only zero bytes (n == 0 included), else 0. */
int st_all_zero(const unsigned char *b, size_t n);

/* ---- files.c ---- */

typedef struct st_file {
    unsigned char *b;
    size_t size;
} st_file_t;

/* Reads dir/name whole; 0, or -1 with errno (a read error is never taken for a short file). */
int st_read_file(int dirfd, const char *name, st_file_t *f);
/* The first n bytes of a file (fewer when it is shorter: *got) and its size; 0 or -1 with errno. */
int st_read_head(int dirfd, const char *name, unsigned char *b, size_t n, size_t *got, off_t *size);
/* Reads and checks the header of journal or snapshot `gen` (st_header_check): 0 when it verifies
 * (*id, *size); 1 when it does not (why, *size); -1 with errno when the file cannot be read. */
int st_header_read(int dirfd, int snapshot, uint64_t gen, uint64_t *id, off_t *size, char *why, size_t whylen);
/* The journal that may end in a torn tail, among the generations gens[0..n) (ascending):
 * the newest one holding anything after its header, leaving out journals whose header verifies
 * but holds another id than `id`; gens[0] when no newer one does (gens[0] is not read). 0 with
 * *tail its index (0 when n is 0). A journal that cannot be read: when strict, -1 with errno and
 * *tail its index; else passed over. */
int st_tail_journal(int dirfd, const uint64_t *gens, size_t n, uint64_t id, int strict, size_t *tail);
/* The generation in the header of the first format's `snapshot`, 0 when the header is cut short
 * or its magic is not a first-format snapshot's: 0, or -1 with errno when it cannot be read. */
int st_v1_snapshot_gen(int dirfd, uint64_t *gen);
/* 1 when the first format's `journal` has a first-format header of a generation below sgen (that
 * of `snapshot`): the snapshot holds it already, it is not read. 0 when not; -1 with errno when
 * it cannot be read. */
int st_v1_journal_stale(int dirfd, uint64_t sgen);
/* Writes all of p[0..n) at off (retrying short writes and EINTR): 0, or -1 with errno. */
int st_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* fsyncs the directory, so that names renamed in or removed survive a crash: 0, or -1 with errno. */
int st_fsync_dir(int dirfd);
/* A directory stream over dirfd's directory (dirfd itself stays open and is not moved): the
 * caller closedir()s it. NULL with errno. */
DIR *st_opendir(int dirfd);
/* A new store id: 64 random bits (getrandom; the clock and the pid when that fails). Cannot fail. */
uint64_t st_new_id(void);

/* A header-only journal under a .tmp name, fsynced, renamed in, directory fsynced: its fd
 * (read-write), or -1 with errno. On -1 the .tmp is removed, except when only the fsync of the
 * directory failed: journal-<gen> is then in place (header only, so the chain it extends stays
 * whole) but may not survive a crash. */
int st_journal_create(int dirfd, uint64_t gen, uint64_t id);

/* Writes snapshot-<gen> the same way from the records `produce` passes to emit. Gives up when
 * *stop becomes non-zero (ECANCELED). 0 with *size. -1 with errno: nothing was renamed in, the
 * .tmp is removed. 1 with *size and errno: snapshot-<gen> is written, fsynced and renamed in (the
 * next start uses it), but the fsync of the directory failed, so a crash may still undo the
 * rename. */
typedef int (*st_produce_t)(void *arg, store_emit_t emit, void *ectx);
int st_snapshot_write(int dirfd, uint64_t gen, uint64_t id, st_produce_t produce, void *arg, const int *stop, uint64_t *size);

/* Fills *e: damaged, "dir/name" ("" when name is NULL or ""), offset, the problem from fmt. Cannot fail. */
void st_error(store_error_t *e, int damaged, const char *dir, const char *name, long long offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The error a public function fills: e, or scratch when e is NULL; cleared, offset -1 (no error). */
store_error_t *st_error_start(store_error_t *e, store_error_t *scratch);

/* ---- chain.c ---- */

typedef struct st_listing {
    uint64_t *snap, *jour; /* generations present, ascending */
    size_t nsnap, njour;
    char **tmp; /* journal-*.tmp and snapshot-*.tmp */
    size_t ntmp;
    int v1_journal, v1_snapshot, v1_next; /* `journal`, `snapshot`, `journal.next` of the first format */
    char gen0[NAME_LEN];                  /* a chain name with generation 0, "" when none */
} st_listing_t;

/* Lists the directory dirfd into *ls (every field; the generations sorted). 0, or -1 with errno
 * (ENOMEM when memory ran out) and *ls empty. Free with st_listing_free. */
int st_list(int dirfd, st_listing_t *ls);
/* Frees what st_list allocated and empties *ls (so a second call is harmless); cannot fail. */
void st_listing_free(st_listing_t *ls);

/* 1 when the first format is in force: its `journal` or `snapshot` is there and no file of the
 * second format, or only snapshot-1 (an upgrade stopped before journal 1 was in). */
int st_v1_in_force(const st_listing_t *ls);
/* The store id most of ids[0..n) hold (the first of them on a tie); 0 when n is 0. */
uint64_t st_majority_id(const uint64_t *ids, size_t n);

enum { CHAIN_EMPTY, CHAIN_V2, CHAIN_V1 };

/* What a strict walk found. */
typedef struct st_chain {
    int kind;
    st_listing_t ls;
    uint64_t id;         /* v2 */
    uint64_t S, J;       /* newest snapshot (0: none) and newest journal */
    uint64_t low;        /* the oldest generation with a file */
    uint64_t records;    /* replayed */
    uint64_t snap_bytes; /* snapshot-S */
    uint64_t prev_bytes; /* journals S .. J-1 (1 .. J-1 without a snapshot), torn tails left out */
    uint64_t cur_bytes;  /* journal-J, torn tail left out */
    char torn[NAME_LEN]; /* the journal with a torn tail, "" when none */
    uint64_t torn_at, torn_size;
    int v1_left;        /* v2 in force beside first-format files (an upgrade cut short) */
    int redo_upgrade;   /* first-format files beside snapshot-1 alone: the upgrade is redone */
    char bad[NAME_LEN]; /* on damage: the file, relative to the directory */
} st_chain_t;

/* Walks the store in dirfd as store_open must: every header, the chain, then every record of
 * it through cb (record, file, file_done, problem for a torn tail; any may be NULL). 0 when it is
 * whole (a torn tail allowed); -1 with *e (and c->bad) at the first damage or read error. The
 * caller frees c->ls. */
int st_walk(int dirfd, const char *dir, const store_scan_cb_t *cb, st_chain_t *c, store_error_t *e);

/* ---- the store (open.c, commit.c, compact.c) ---- */

typedef struct st_buf {
    unsigned char *p;
    size_t len, cap;
} st_buf_t;

enum { ROT_NONE, ROT_WANTED, ROT_DONE, ROT_CANCELLED };

/*
 * Fixed once store_open returns, read by any thread without a lock: o, dir, dirfd, id, readonly,
 * threads.
 * The committer's own (no other thread touches them): fd, batch, durable.
 * Guarded by mu: everything else. failing, failed, bad, full and stop are also read without the
 * lock (store_writable, the snapshot writer), so they are written with atomic stores.
 */
struct store {
    store_opts_t o;
    char *dir;
    int dirfd; /* flock'ed while open */
    uint64_t id;
    int readonly;
    int threads; /* the committer and the compactor run */

    pthread_mutex_t mu;
    pthread_cond_t work;    /* to the committer: records queued, a rotation wanted, closing */
    pthread_cond_t changed; /* to the compactor and waiters: compaction wanted or ended, rotation done */

    st_buf_t q;            /* framed records waiting for the committer */
    uint64_t last_ticket;  /* the newest ticket this store issued */
    int failing;           /* a failed batch is being undone: appends refused... */
    uint64_t failing_upto; /* ...until this LOST decision shows in the ledger */
    int failed;            /* the journal could not be cut back: appends refused until restart */
    int bad;               /* a batch failed and none succeeded since */
    int warned;            /* "cannot write" was said; "works again" not yet */
    int full;              /* an append was refused for a full queue since the last batch */
    int closing, committer_done;

    int fd;         /* the journal being written (committer) */
    st_buf_t batch; /* the batch being written (committer) */
    off_t durable;  /* the journal's length after its last successful fdatasync (committer) */

    uint64_t gen;        /* of the journal being written */
    uint64_t low;        /* the oldest generation that may still have files */
    uint64_t prev_bytes; /* journals since the newest snapshot, before the one being written */
    uint64_t cur_bytes;  /* the journal being written, durable part */
    uint64_t snap_bytes;
    uint64_t appends, fsyncs, compactions;

    int c_want, c_running, c_failed;
    uint64_t c_retry_at; /* journal bytes a failed compaction waits for before it is tried again */
    int rot;             /* ROT_*: the hand-over of a new journal from the compactor to the committer */
    int rot_fd;
    uint64_t rot_gen;
    void *frozen; /* handed from the committer to the compactor with ROT_DONE */
    int stop;     /* closing: a snapshot being written gives up */

    pthread_t committer, compactor;
};

/* Formats a warning and passes it to opts.warn (nothing when that is NULL); cannot fail. */
void st_warnf(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The committer thread (arg: the store_t): writes and fsyncs batches, decides their tickets, moves
 * to a new journal when asked, until store_close. Write failures are handled inside; returns NULL. */
void *st_committer_main(void *arg);
/* The compactor thread (arg: the store_t): runs each compaction asked for, until store_close. A
 * failed one is warned about and leaves the journals in force; returns NULL. */
void *st_compactor_main(void *arg);
/* Starts a compaction when the journals are large enough; under mu. */
void st_maybe_compact(store_t *s);

/* A frozen state of the caller's, as st_snapshot_write's producer (st_dump_frozen: opts->dump). */
typedef struct st_frozen {
    store_t *s;
    void *frozen;
} st_frozen_t;
int st_dump_frozen(void *arg, store_emit_t emit, void *ectx);

#endif
