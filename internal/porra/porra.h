/* porra: football betting pools. Every change is a record (plan -> journal -> apply) so that
 * another layer can make it durable and replay it at start. No HTTP, no storage, no locking: the
 * caller serialises every call, and a borrowed reference is only valid under that serialisation
 * until the next porra_apply (a delete frees the pool).
 * A pool is {"ID": "local-visitante-competition-year", "local", "visitante", "competition",
 * "year", "apuestas": {"<quien>": {"local": n, "visitante": m}}, "resultado": null | "n-m"}, in
 * that key order; apuestas keep the order of each bettor's first bet. */
#ifndef PORRIO_PORRA_H
#define PORRIO_PORRA_H
#include <jansson.h>
#include <stddef.h>

#define PORRA_SEGMENT_MAX 64 /* bytes */
#define PORRA_GOALS_MAX 99

typedef struct porra_db porra_db_t; /* opaque */

typedef enum {
    PORRA_OK,        /* done / exists / replaced: 200 */
    PORRA_CREATED,   /* a new pool or a new bettor: 201 */
    PORRA_NOT_FOUND, /* no pool with that ID: 404 */
    PORRA_INVALID,   /* a path segment or a score breaks a rule: 400 */
    PORRA_CLOSED,    /* the result is set, betting is closed: 409 */
    PORRA_NO_RESULT  /* no result yet, so no winners: 409 */
} porra_status_t;

/* 1 when s (already percent-decoded) is 1-64 bytes, each an ASCII letter or digit, '_', '.', or
 * part of a valid non-ASCII UTF-8 sequence (no overlongs, surrogates, > U+10FFFF or truncated
 * sequences), not only dots; '-' only with allow_dash. 0 otherwise, with the rule in err (without
 * a field name: callers prefix it). NULL s gives 0. */
int porra_segment_ok(const char *s, int allow_dash, char *err, size_t errlen);

/* An empty db, owned by the caller (porra_db_free). NULL on OOM. */
porra_db_t *porra_db_new(void);
/* Frees db and every pool; NULL is a no-op. Borrowed references die with it. */
void porra_db_free(porra_db_t *db);
/* Number of pools. */
size_t porra_count(const porra_db_t *db);

/* Borrowed reference to the pool with that exact ID, or NULL (unknown, malformed or NULL id). */
json_t *porra_get(const porra_db_t *db, const char *id);

/* Borrowed reference to the array of every pool in creation order (the same objects porra_get
 * returns). */
json_t *porra_list(const porra_db_t *db);

/* PUT /porra/{local}/{visitante}/{competition}/{year}. PORRA_INVALID with err naming the first
 * bad segment ("visitante: must be ..."); PORRA_OK with *change NULL when the pool exists;
 * PORRA_CREATED with *change a NEW {"op": "porra.create", "local", "visitante", "competition",
 * "year"}. year follows the segment rule like the others (no numeric check). OOM: PORRA_INVALID
 * with "out of memory". db is not changed. */
porra_status_t porra_plan_create(const porra_db_t *db, const char *local, const char *visitante,
                                 const char *competition, const char *year, json_t **change,
                                 char *err, size_t errlen);

/* DELETE /porras/{ID}: PORRA_NOT_FOUND, or PORRA_OK with *change a NEW {"op": "porra.delete",
 * "ID"}. *change is NULL unless PORRA_OK. */
porra_status_t porra_plan_delete(const porra_db_t *db, const char *id, json_t **change, char *err,
                                 size_t errlen);

/* Reads a score body: an object with integer "local" and "visitante" in 0..99 and nothing else
 * (1.0, "1", true, null, negatives and 100 are refused). 0 with both set; -1 with err naming the
 * field ("body: must be a JSON object", "local: missing", "visitante: must be an integer from 0
 * to 99", "extra: unknown field"). */
int porra_score_parse(const json_t *body, int *local, int *visitante, char *err, size_t errlen);

/* PUT /porras/{ID}/apuestas/{quien}, checked in the API's order: quien breaking the segment rule
 * (dashes allowed) or goals outside 0..99 -> PORRA_INVALID; no pool -> PORRA_NOT_FOUND; result
 * set -> PORRA_CLOSED; else PORRA_CREATED (new bettor) or PORRA_OK (replacing a bet) with *change
 * a NEW {"op": "porra.bet", "ID", "quien", "local", "visitante"}. *change is NULL otherwise. */
porra_status_t porra_plan_bet(const porra_db_t *db, const char *id, const char *quien, int local,
                              int visitante, json_t **change, char *err, size_t errlen);

/* PUT /porras/{ID}/resultado: goals outside 0..99 -> PORRA_INVALID; no pool -> PORRA_NOT_FOUND;
 * else PORRA_OK with *change a NEW {"op": "porra.result", "ID", "local", "visitante"}; setting it
 * again is a correction. *change is NULL unless PORRA_OK. */
porra_status_t porra_plan_result(const porra_db_t *db, const char *id, int local, int visitante,
                                 json_t **change, char *err, size_t errlen);

/* GET /porras/{ID}/ganadores: PORRA_NOT_FOUND; PORRA_NO_RESULT when no result is set; else
 * PORRA_OK with *out a NEW {"resultado": "n-m", "ganadores": [quien, ...]}, the bettors whose
 * bet equals the result, in bet order. *out is NULL unless PORRA_OK (OOM: PORRA_INVALID). */
porra_status_t porra_winners(const porra_db_t *db, const char *id, json_t **out);

/* Applies one record from a plan function or replayed from a journal, so everything is checked
 * again (members beyond those listed above are ignored). 0 when applied; -1 with err and db
 * unchanged on any malformed record (not an object, missing or mistyped member, bad segment or
 * score), an unknown op, a create of an existing pool, a delete of or a bet/result on a missing
 * pool, a bet on a pool whose result is set, or OOM. change is only read. */
int porra_apply(porra_db_t *db, const json_t *change, char *err, size_t errlen);

/* Calls cb with records that rebuild the whole db from empty through porra_apply: for each pool
 * in creation order, its create, its bets in order, its result if set. Each record is borrowed,
 * valid during the call. 0 when done; -1 as soon as cb returns non-zero, or on OOM. */
int porra_dump(const porra_db_t *db, int (*cb)(void *ctx, json_t *change), void *ctx);

#endif
