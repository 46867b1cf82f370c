/*
 * app: the application state every worker shares — milestones, pools and the durable store.
 * Each operation checks its input in the API's order (path, existence, body, state), applies the
 * change to the next version, journals it, and hands back an outcome and the answer. It knows
 * nothing of HTTP requests; statuses are its own.
 *
 * Versions (docs/architecture.md): the state is an immutable version (the pools and the
 * milestones), shared by reference counting.
 *   - Readers take the *published* version — a pointer load and an increment under a spin lock
 *     held for nothing else — and render from it; they never wait for a writer, an fsync or a
 *     compaction. The published version holds only durable changes.
 *   - Writers serialise on the writer mutex: plan against the *head* version (every change
 *     journaled, durable or not), build the next version, queue the record (store_append), make
 *     it the head, note (ticket, version) as pending. No disk I/O under the mutex.
 *   - When the ledger decides tickets DURABLE, the newest pending version they cover becomes the
 *     published one; when it decides them LOST, the head goes back to the published version.
 * Lock order: writer mutex, then the pending list's mutex; the publish spin lock is taken alone.
 */
#ifndef PORRIO_APP_H
#define PORRIO_APP_H
#include <stddef.h>
#include <stdint.h>

#include "porra/porra.h"
#include "store/store.h"
#include "ticket/ticket.h"

typedef struct app app_t;
typedef struct app_version app_version_t; /* opaque: one version of the whole state */
typedef struct app_list app_list_t;       /* a listing being sent */

typedef enum {
    APP_OK,          /* read, replaced, or already there */
    APP_CREATED,     /* something new */
    APP_DELETED,     /* gone: no body */
    APP_BAD_PATH,    /* a path segment breaks its rule */
    APP_NOT_FOUND,   /* no such milestone or pool */
    APP_BAD_BODY,    /* malformed JSON, wrong types, out-of-range values */
    APP_CONFLICT,    /* the resource's state forbids it (betting closed, no result, file taken) */
    APP_UNAVAILABLE, /* the store cannot write: nothing changed */
    APP_STALE        /* the pool is not at a version the writer expected (or does not exist) */
} app_status_t;

/* What a successful answer shows, so that the api can tag it with its version: a pool (the
 * pool's version), the pools together (the clock of the pools), the milestones (their count:
 * they are only ever added). */
typedef enum { APP_OF_NOTHING, APP_OF_POOL, APP_OF_POOLS, APP_OF_HITOS } app_of_t;

/* The versions a write on a pool expects the pool to be at (If-Match): checked under the writer
 * mutex against the head, in the same hold as the write, so two writers who read one version
 * cannot both change it. Not given: no expectation. `any`: the pool must exist. Otherwise the
 * pool's version must be one of versions[0..n) (n may be 0: nothing matches). */
#define APP_MATCH_MAX 16
typedef struct app_match {
    int given, any;
    size_t n;
    uint64_t versions[APP_MATCH_MAX];
} app_match_t;

/* Kept under 1 KiB: the HTTP facade copies it into the request's pool (see api.c). */
typedef struct app_result {
    app_status_t status;
    const char *body;    /* the answer (not NUL-terminated: use len); NULL for errors, APP_DELETED, listings */
    size_t len;          /* the answer's length; for a listing, the length of everything it sends */
    char *owned;         /* body is this malloc'd buffer, or NULL */
    app_version_t *hold; /* body points into this version, or NULL */
    app_list_t *list;    /* GET /porras: the pieces to send, in order, through app_list_next */
    const char *next;    /* a page of pools: the last ID when more follow, else "" (NULL for other
                          * answers); borrowed from the version the result holds, like body */
    uint64_t ticket;     /* non-zero: the answer may go out once this ticket is DURABLE */
    long index;          /* POST /hitos: index of the new milestone */
    app_of_t of;         /* successful answers: what version is for */
    uint64_t version;    /* the version of what the answer shows (of a pool's writes: the pool after it) */
    char err[256];       /* what is wrong, for errors */
    /* Set by the caller of a write that takes its answer later (STORE=etcd: see the writes
     * below); NULL: the write returns with its answer. */
    void (*later)(struct app_result *r);
} app_result_t;

/* How much the state may hold (README: Settings, MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS). A
 * write that would go past one is refused with APP_CONFLICT naming it; 0 is no limit. */
typedef struct app_limits {
    size_t pools;         /* pools in all */
    size_t bets_per_pool; /* bets (bettors) in one pool: replacing a bet is always taken */
    size_t hitos;         /* milestones in all, the file's included */
} app_limits_t;

typedef struct app_opts {
    const char *data_dir;          /* STORE=local: the store's directory */
    struct etcd *etcd;             /* non-NULL: STORE=etcd, the state under etcd_prefix (the caller's client) */
    const char *etcd_prefix;       /* <ETCD_PREFIX>data/: docs/store.md */
    const char *hitos_file;        /* "" or NULL: no milestones file */
    size_t compact_bytes;          /* 0: the store's default */
    void (*warn)(const char *msg); /* problems that do not stop the service */
    void (*info)(const char *msg); /* news that is no problem (the store writes again) */
    app_limits_t limits;
} app_opts_t;

/**
 * Loads the milestones file and opens the store, replaying it (STORE=etcd: reads the data prefix
 * and starts the watch that keeps the view current). NULL on failure, with *e filled
 * (e->damaged for a damaged store, whose files were not changed); *bad_input is then 1 when the
 * milestones file is the problem (exit 2), 0 for the store (exit 1).
 */
app_t *app_open(const app_opts_t *opts, int *bad_input, store_error_t *e);

/** The ledger of the store's tickets (owned by the app), for the server to hold answers on. */
ticket_ledger_t *app_ledger(app_t *a);

/** Non-zero when writes can succeed: false from a failed write until one succeeds (STORE=etcd:
 * while etcd is unreachable, by the watch or by a write). */
int app_writable(app_t *a);

/** Non-zero when the state lives in etcd (STORE=etcd): then a write is answered once etcd
 * answered (within a few seconds), and a caller that sets r->later need not wait for it. */
int app_remote(const app_t *a);

/** The epoch the entity tags of every replica share (STORE=etcd), so that a tag read from one
 * replica is good on another; 0 when the store has none (STORE=local: the caller draws one). */
uint32_t app_epoch(const app_t *a);

/** Replaces the limits, for the writes that follow (any thread; a write in progress keeps the
 * ones it read). Cannot fail. */
void app_set_limits(app_t *a, const app_limits_t *l);

/* The writes (app_hito_add, app_hito_restore, app_porra_create, _delete, _bet and _result) return
 * 0 with the answer in *r; or, only when the caller set r->later and the state is in etcd, 1: the
 * write goes on without the caller, which must keep r and the arguments until r->later(r) is
 * called, once, on any thread (maybe before the write returns), with the answer in *r. */

/* Milestones. `id` is the raw path parameter: the index as written by hito_index_parse, else
 * APP_BAD_PATH. */
void app_hitos_all(app_t *a, app_result_t *r);                          /* GET /all */
void app_hitos_list(app_t *a, app_result_t *r);                         /* GET /hitos */
void app_hito_get(app_t *a, const char *id, int wrap, app_result_t *r); /* wrap: {"hito": ...} */
int app_hito_add(app_t *a, const char *body, size_t len, app_result_t *r);

/* app_hito_add for `porrio store import`: a milestone whose file name predates the file-name rule
 * (hito_plan_restore) is restored as the exporting store held it. */
int app_hito_restore(app_t *a, const char *body, size_t len, app_result_t *r);

/* Pools. An `id` that is not a pool ID (porra_id_ok) is APP_BAD_PATH before anything else. */
int app_porra_create(app_t *a, const char *local, const char *visitante, const char *competition, const char *year,
                     app_result_t *r);
/* GET /porras: after NULL and limit 0, every pool in creation order; else a page of at most
 * `limit` pools (0: APP_PAGE_DEFAULT) in ID order after the ID `after` (NULL: from the first). */
void app_porras_list(app_t *a, const char *after, size_t limit, app_result_t *r);
void app_porra_get(app_t *a, const char *id, app_result_t *r);
/* The writes on a pool: `match` NULL or not given for none; APP_STALE when it does not hold
 * (checked after the path, before existence and the body). */
int app_porra_delete(app_t *a, const char *id, const app_match_t *match, app_result_t *r);
int app_porra_bet(app_t *a, const char *id, const char *quien, const char *body, size_t len, const app_match_t *match,
                  app_result_t *r);
int app_porra_result(app_t *a, const char *id, const char *body, size_t len, const app_match_t *match, app_result_t *r);
void app_porra_winners(app_t *a, const char *id, app_result_t *r);

#define APP_PAGE_MAX     1000
#define APP_PAGE_DEFAULT 100

/** A piece of an answer; borrowed from the version the result holds. */
typedef struct app_piece {
    const char *base;
    size_t len;
} app_piece_t;

/** Fills out[0..max) with the listing's next pieces; returns how many, 0 once everything was given. */
size_t app_list_next(app_list_t *l, app_piece_t *out, size_t max);

/** Lets go of r's answer — its buffer, its version, its listing — whichever it holds. Thread-safe. */
void app_result_release(app_result_t *r);

typedef struct app_stats {
    size_t porras, apuestas, hitos; /* in the published version */
    int remote;                     /* STORE=etcd: the next two are set, store is zero but writable */
    int64_t view_revision;          /* etcd's revision the published version shows */
    int64_t view_lag;               /* revisions of the data etcd acknowledged or sent that it does not show yet */
    store_stats_t store;
    uint64_t pending; /* tickets issued and not yet decided */
    size_t nodes;     /* map and vector nodes alive, every version together */
} app_stats_t;

/** Figures for monitoring; cannot fail; waits at most for one append to the store's queue. */
void app_stats(app_t *a, app_stats_t *out);

/* ---- store tools (porrio store verify / recover) ---- */

typedef struct app_scan_report {
    void (*line)(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void *ctx;
    uint64_t records, applied, skipped_records, skipped_bytes;
    uint64_t conflicts; /* milestones added with POST /hitos that HITOS_FILE holds now too */
    int damaged, torn;
} app_scan_report_t;

/** Checks DATA_DIR without changing it: every file, every record, and that each applies. 0 whole; -1 damaged (e). */
int app_verify(const app_opts_t *opts, app_scan_report_t *rep, store_error_t *e);

/** Copies every record of DATA_DIR that verifies and applies into a new store in `to`. 0; -1 with e. */
int app_recover(const app_opts_t *opts, const char *to, app_scan_report_t *rep, store_error_t *e);

/* ---- export and import (porrio store export / import; the lines: docs/store.md) ---- */

#define APP_EXPORT_FORMAT   1     /* the header's "porrio_export" */
#define APP_IMPORT_LINE_MAX 65536 /* bytes: an export's lines are far shorter (segments, 256-byte fields) */

/* Lines of each kind: what an export holds, or what an import applied. */
typedef struct app_counts {
    size_t pools, bets, results, hitos;
} app_counts_t;

/** Receives one line of an export, without its newline. Non-zero stops the export. */
typedef int (*app_line_fn)(void *ctx, const char *line, size_t len);

/**
 * Writes the published version as export lines through `line`: the header (format, porrio's
 * version and the counts of what follows), every milestone added with POST /hitos in order, then
 * every pool in creation order, each followed by its bets in bet order and its result. Readers
 * and writers go on meanwhile: the lines show one version. 0 with *out the counts; -1 when
 * `line` returned non-zero or memory ran out.
 */
int app_export(app_t *a, app_line_fn line, void *ctx, app_counts_t *out);

typedef struct app_import app_import_t;

/**
 * Starts importing into a. NULL with err when a holds pools or added milestones and merge is 0
 * (nothing to merge into was asked for), or on OOM. With merge, what a holds is kept: a line for
 * a pool or a milestone it holds already is skipped, bets replace a bettor's bet, a result sets
 * or corrects the pool's. Free with app_import_free.
 */
app_import_t *app_import_begin(app_t *a, int merge, char *err, size_t errlen);

/**
 * Checks the next line of the file (the first is the header) against the state as the lines
 * before it leave it, with a write's rules and the limits; nothing is written yet. 0; -1 with
 * err naming the line and why ("line 7: bet: quien: ..."): the file is bad (exit 2).
 */
int app_import_line(app_import_t *im, const char *line, size_t len, char *err, size_t errlen);

/**
 * Once every line passed: checks that the file holds what its header announces, then applies
 * the lines through the operations above and waits until the store has them all. 0 with *out
 * what was applied and *skipped the lines a merge skipped; -1 with err when the file is bad
 * (nothing was changed: exit 2); -2 with err when the store failed (the lines before the one
 * named may be in it: exit 1).
 */
int app_import_commit(app_import_t *im, app_counts_t *out, size_t *skipped, char *err, size_t errlen);

/** Frees an import; NULL is a no-op. */
void app_import_free(app_import_t *im);

/** Waits for the store's pending writes and closes it; frees everything. NULL is a no-op. */
void app_close(app_t *a);

#endif
