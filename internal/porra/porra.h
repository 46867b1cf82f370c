/*
 * porra: football betting pools — their rules, the change records that make them durable, and
 * the pools themselves as immutable versions. No HTTP, no storage, no locking.
 *
 * A porra_db_t is one version of every pool. Readers on any thread use a version they hold a
 * reference to, for as long as they like: nothing in it changes. porra_db_apply builds the next
 * version from a change record, sharing everything it does not touch (pmap and pvec path
 * copying); the caller serialises applies on one lineage of versions. A fresh db is *transient*:
 * applies change it in place, which is how the state is loaded at start without copies, until
 * porra_db_seal makes it shareable.
 *
 * A pool renders as {"ID": "local-visitante-competition-year", "local", "visitante",
 * "competition", "year", "apuestas": {"<quien>": {"local": n, "visitante": m}, ...}, "resultado":
 * null | "n-m"}, in that key order; apuestas keep the order of each bettor's first bet. Pools are
 * listed in creation order, or by ID (byte order) for pages.
 */
#ifndef PORRIO_PORRA_H
#define PORRIO_PORRA_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pmap/pmap.h"

#define PORRA_SEGMENT_CHARS 64                        /* characters (code points) */
#define PORRA_SEGMENT_MAX   (4 * PORRA_SEGMENT_CHARS) /* bytes: UTF-8 takes at most 4 a character */
#define PORRA_GOALS_MAX     99
#define PORRA_ID_MAX        (4 * PORRA_SEGMENT_MAX + 3)

typedef struct porra_db porra_db_t; /* one version of every pool */
typedef struct porra porra_t;       /* one version of one pool */

typedef enum {
    PORRA_OK,        /* done / exists / replaced: 200 */
    PORRA_CREATED,   /* a new pool or a new bettor: 201 */
    PORRA_NOT_FOUND, /* no pool with that ID: 404 */
    PORRA_INVALID,   /* a path segment or a score breaks a rule: 400 */
    PORRA_CLOSED,    /* the result is set, betting is closed: 409 */
    PORRA_NO_RESULT  /* no result yet, so no winners: 409 */
} porra_status_t;

/* The segment rule's words, for messages that name a field before them. */
#define PORRA_SEGMENT_RULE "1-64 characters: letters, digits, '_', '.' or UTF-8 letters, not only dots"

/* 1 when s (already percent-decoded) is 1-64 characters, each an ASCII letter or digit, '_', '.',
 * or a valid non-ASCII UTF-8 sequence (no overlongs, surrogates, > U+10FFFF or truncated
 * sequences), not only dots; '-' only with allow_dash. 0 otherwise, with the rule in err (without
 * a field name: callers prefix it). NULL s gives 0. */
int porra_segment_ok(const char *s, int allow_dash, char *err, size_t errlen);

/* 1 when id is a pool ID: four segments joined by '-'. */
int porra_id_ok(const char *id);

/* Reads a score body: an object with integer "local" and "visitante" in 0..99 and nothing else
 * (1.0, "1", true, null, negatives and 100 are refused). 0 with both set; -1 with err naming the
 * field ("body: must be a JSON object", "local: missing", "visitante: must be an integer from 0
 * to 99", "extra: unknown field"). */
int porra_score_parse(const json_t *body, int *local, int *visitante, char *err, size_t errlen);

/* ---- change records (their bytes: docs/store.md) ---- */

enum {
    PORRA_OP_CREATE = 0x10,
    PORRA_OP_DELETE = 0x11,
    PORRA_OP_BET = 0x12,
    PORRA_OP_RESULT = 0x13,
    PORRA_OP_BETS = 0x14 /* many bets of one pool: snapshots */
};

#define PORRA_OP_FIRST 0x10
#define PORRA_OP_LAST  0x1f

/* One change. The strings are borrowed (from the request, or from the record it was decoded
 * from). For PORRA_OP_BETS, bets/nbets/betslen hold the packed (quien, local, visitante) list as
 * it is in the record. */
typedef struct porra_change {
    int op;
    const char *seg[4]; /* CREATE: local, visitante, competition, year */
    const char *id;     /* DELETE, BET, RESULT, BETS */
    const char *quien;  /* BET */
    int local, visitante;
    const char *bets;
    size_t betslen;
    unsigned nbets;
} porra_change_t;

/* Largest record of one change (not BETS). */
#define PORRA_CHANGE_MAX (1 + 4 * (PORRA_SEGMENT_MAX + 1) + 2 * (PORRA_ID_MAX + 1) + 2)

/* Writes c's record into buf; its length, or 0 when it does not fit in cap. */
size_t porra_change_encode(const porra_change_t *c, char *buf, size_t cap);

/* Reads a record: 0 with *c pointing into rec (which must outlive c's use); -1 with err when it
 * is not a well-formed porra record. The rules (segments, goals) are checked by porra_db_apply. */
int porra_change_decode(const char *rec, size_t len, porra_change_t *c, char *err, size_t errlen);

/* The bets of a decoded PORRA_OP_BETS change, one at a time: *pos starts at 0. 1 with the next
 * bet's quien (borrowed from the record) and goals; 0 after the last. */
int porra_change_next_bet(const porra_change_t *c, size_t *pos, const char **quien, int *local, int *visitante);

/* ---- plans: a request checked against a version, in the API's order ---- */

/* PUT /porra/{local}/{visitante}/{competition}/{year}: PORRA_INVALID with err naming the first
 * bad segment ("visitante: must be ..."); PORRA_OK when the pool exists; PORRA_CREATED with *c
 * the create. */
porra_status_t porra_plan_create(const porra_db_t *db, const char *local, const char *visitante, const char *competition,
                                 const char *year, porra_change_t *c, char *err, size_t errlen);

/* DELETE /porras/{ID}: PORRA_NOT_FOUND, or PORRA_OK with *c the delete. */
porra_status_t porra_plan_delete(const porra_db_t *db, const char *id, porra_change_t *c);

/* PUT /porras/{ID}/apuestas/{quien}: quien breaking the segment rule (dashes allowed) or goals
 * outside 0..99 -> PORRA_INVALID; no pool -> PORRA_NOT_FOUND; result set -> PORRA_CLOSED; else
 * PORRA_CREATED (new bettor) or PORRA_OK (replacing a bet) with *c the bet. */
porra_status_t porra_plan_bet(const porra_db_t *db, const char *id, const char *quien, int local, int visitante, porra_change_t *c,
                              char *err, size_t errlen);

/* PUT /porras/{ID}/resultado: goals outside 0..99 -> PORRA_INVALID; no pool -> PORRA_NOT_FOUND;
 * else PORRA_OK with *c the result (setting it again corrects it). */
porra_status_t porra_plan_result(const porra_db_t *db, const char *id, int local, int visitante, porra_change_t *c, char *err,
                                 size_t errlen);

/* ---- versions ---- */

/* An empty, transient db owned by the caller. NULL on OOM. */
porra_db_t *porra_db_new(void);

/* Ends the transient state: from now on applies build new versions and leave this one as it is. */
void porra_db_seal(porra_db_t *db);

/* Takes one more reference to db. Thread-safe. */
porra_db_t *porra_db_ref(porra_db_t *db);

/* Lets go of a reference; the last one frees what no other version shares. Thread-safe; NULL is
 * a no-op. */
void porra_db_release(porra_db_t *db);

/**
 * Applies change c to *db, re-checking every rule (records replayed from disk get the checks a
 * request gets): a sealed *db is left as it is and replaced by a new version, the caller's
 * reference moving to it; a transient one is changed in place. 0; -1 with err and *db unchanged
 * when the change does not apply (malformed, unknown pool, a create of an existing pool, a bet
 * after the result) or memory runs out (a transient db may then be left half-changed: loading
 * fails anyway).
 */
int porra_db_apply(porra_db_t **db, const porra_change_t *c, char *err, size_t errlen);

/**
 * porra_db_apply for changes numbered by someone else (a replicated store's revisions): the
 * change takes the number `at` instead of the clock's next one. Numbers may come out of order
 * (a state rebuilt key by key): the clock keeps the highest seen, and a pool its newest change's
 * number, so the result does not depend on the order. at 0 is taken as 1.
 */
int porra_db_apply_at(porra_db_t **db, const porra_change_t *c, uint64_t at, char *err, size_t errlen);

/* Number of pools, and of bets in every pool together. */
size_t porra_count(const porra_db_t *db);
size_t porra_bets_total(const porra_db_t *db);

/* Number of bets in one pool (one per bettor). */
size_t porra_bets(const porra_t *p);

/* The bet of `quien` in p: 1 with its goals; 0 when quien has none. Cannot fail. */
int porra_bet_of(const porra_t *p, const char *quien, int *local, int *visitante);

/* The result of p: 1 with its goals; 0 when it is not set. Cannot fail. */
int porra_result_of(const porra_t *p, int *local, int *visitante);

/* The pool with that exact ID, or NULL; borrowed, valid while the caller holds db. */
const porra_t *porra_find(const porra_db_t *db, const char *id);

/* The pool's ID (borrowed like the pool). */
const char *porra_id(const porra_t *p);

/* Versions: every apply along a lineage of dbs advances the db's clock by one, and the pools it
 * creates or changes take the new value; a pool's version is the clock of its last change.
 * Deleting a pool advances the clock too, so a pool re-created with the same ID never has the
 * version of the one before it. Two versions of one lineage with the same clock are equal; a
 * lineage that goes back (a db discarded, the older one applied again) may reuse numbers. */
uint64_t porra_version(const porra_t *p);
/* The clock's value when the pool was created: tells a pool from one re-created with its ID. */
uint64_t porra_created(const porra_t *p);
uint64_t porra_db_version(const porra_db_t *db);

/**
 * The pool's JSON followed by one ',' (len counts it: a listing joins pieces as they are, a
 * single pool drops the last byte). Rendered on first use from any thread, then kept with this
 * version of the pool; borrowed like the pool. NULL on OOM.
 */
const char *porra_json(const porra_t *p, size_t *len);

/* GET /porras/{ID}/ganadores: PORRA_NO_RESULT, or PORRA_OK with *out a malloc'd
 * {"resultado": "n-m", "ganadores": [quien, ...]} (bettors whose bet equals the result, in bet
 * order) and *len; PORRA_INVALID on OOM. */
porra_status_t porra_winners_json(const porra_t *p, char **out, size_t *len);

/* A piece of an answer, borrowed from the version it was rendered for. */
typedef struct porra_piece {
    const char *base;
    size_t len;
} porra_piece_t;

/* The JSON of n consecutive pools of the full listing (n <= PMAP_FANOUT), each pool's ending
 * with ',' as porra_json's, as nseg pieces of len bytes in all. The JSON of small pools is copied
 * into one run — a listing sends few, large pieces, which the kernel copies fast — while a pool
 * of more than PORRA_COPY_BETS bets is its own piece, porra_json's, never copied. */
typedef struct porra_chunk {
    size_t n, len, nseg;
    porra_piece_t seg[];
} porra_chunk_t;

#define PORRA_COPY_BETS 64

/* Pools of one version in order: creation order from the start, or ID order after an ID. The
 * iterator holds no reference: the caller keeps db alive. */
typedef struct porra_iter {
    const porra_db_t *db;
    int by_id;
    pmap_iter_t it;
} porra_iter_t;

void porra_iter_created(porra_iter_t *it, const porra_db_t *db);
/* from the first ID after `after` (any string; NULL or "": the first ID) */
void porra_iter_ids(porra_iter_t *it, const porra_db_t *db, const char *after);
/* The next pool, or NULL at the end. */
const porra_t *porra_iter_next(porra_iter_t *it);

/* With an iterator from porra_iter_created, and only porra_iter_chunk since: the next chunk of
 * pools, made on first use and kept as long as this version's leaf of pools lives (a write
 * re-makes only its leaf's); borrowed like a pool. NULL at the end, or with *oom = 1 when memory
 * ran out. Thread-safe, like porra_json. */
const porra_chunk_t *porra_iter_chunk(porra_iter_t *it, int *oom);

/* Calls emit with records that rebuild db from empty through porra_db_apply: for each pool in
 * creation order its create, its bets (PORRA_OP_BETS), its result. 0; -1 as soon as emit
 * returns non-zero, or on OOM. */
int porra_dump(const porra_db_t *db, int (*emit)(void *ctx, const void *rec, size_t len), void *ctx);

#endif
