/* The pools: the db, the plans that check a request against it, and the records that change it
 * (applied, and dumped for a snapshot). The segment rule lives in segment.c. */
#include "porra/porra.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct porra_db {
    json_t *by_id; /* object: ID -> pool; a hash table, so lookups per request are O(1) */
    json_t *list;  /* array: the same pools in creation order, ready for GET /porras */
};

#define GOALS_RULE "must be an integer from 0 to 99"
#define ID_MAX (4 * PORRA_SEGMENT_MAX + 3)

static const char *const SEG_NAMES[4] = {"local", "visitante", "competition", "year"};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The string value of v, or NULL when v is not a string or hides a NUL (object keys and C
 * strings would cut it short, so two different records could name the same pool). */
static const char *plain_string(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s && strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

porra_db_t *porra_db_new(void)
{
    porra_db_t *db = calloc(1, sizeof *db);
    if (db && (!(db->by_id = json_object()) || !(db->list = json_array()))) {
        porra_db_free(db);
        return NULL;
    }
    return db;
}

void porra_db_free(porra_db_t *db)
{
    if (!db)
        return;
    json_decref(db->by_id);
    json_decref(db->list);
    free(db);
}

size_t porra_count(const porra_db_t *db) { return db ? json_array_size(db->list) : 0; }

json_t *porra_get(const porra_db_t *db, const char *id)
{
    return db && id ? json_object_get(db->by_id, id) : NULL;
}

json_t *porra_list(const porra_db_t *db) { return db ? db->list : NULL; }

static int closed(const json_t *pool) { return !json_is_null(json_object_get(pool, "resultado")); }

/* The goals of a stored result; it is only ever written by apply_result, as "%d-%d". */
static int parse_result(const json_t *pool, int *local, int *visitante)
{
    const char *r = json_string_value(json_object_get(pool, "resultado"));
    return r && sscanf(r, "%d-%d", local, visitante) == 2 ? 0 : -1;
}

static int seg_check(const char *name, const char *s, int allow_dash, char *err, size_t errlen)
{
    char why[96];
    if (porra_segment_ok(s, allow_dash, why, sizeof why))
        return 0;
    return fail(err, errlen, "%s: %s", name, why);
}

/* Checks the four segments, naming the first bad one, and joins them into id. */
static int make_id(char id[ID_MAX + 1], const char *const segs[4], char *err, size_t errlen)
{
    for (int k = 0; k < 4; k++)
        if (seg_check(SEG_NAMES[k], segs[k], 0, err, errlen))
            return -1;
    snprintf(id, ID_MAX + 1, "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]);
    return 0;
}

static int goals_check(int local, int visitante, char *err, size_t errlen)
{
    if (local < 0 || local > PORRA_GOALS_MAX)
        return fail(err, errlen, "local: " GOALS_RULE);
    if (visitante < 0 || visitante > PORRA_GOALS_MAX)
        return fail(err, errlen, "visitante: " GOALS_RULE);
    return 0;
}

/* The records plan functions produce and porra_dump replays; NULL on OOM. */
static json_t *create_record(const char *const segs[4])
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "porra.create", "local", segs[0],
                     "visitante", segs[1], "competition", segs[2], "year", segs[3]);
}

static json_t *bet_record(const char *id, const char *quien, int local, int visitante)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:i}", "op", "porra.bet", "ID", id, "quien", quien,
                     "local", local, "visitante", visitante);
}

static json_t *result_record(const char *id, int local, int visitante)
{
    return json_pack("{s:s, s:s, s:i, s:i}", "op", "porra.result", "ID", id, "local", local,
                     "visitante", visitante);
}

/* Hands a freshly built record to the caller, or reports OOM when building it failed. */
static porra_status_t give(json_t *c, json_t **change, porra_status_t st, char *err, size_t errlen)
{
    if (!c) {
        fail(err, errlen, "out of memory");
        return PORRA_INVALID;
    }
    if (change)
        *change = c;
    else
        json_decref(c);
    return st;
}

static porra_status_t not_found(char *err, size_t errlen)
{
    fail(err, errlen, "no such porra");
    return PORRA_NOT_FOUND;
}

porra_status_t porra_plan_create(const porra_db_t *db, const char *local, const char *visitante,
                                 const char *competition, const char *year, json_t **change,
                                 char *err, size_t errlen)
{
    const char *segs[4] = {local, visitante, competition, year};
    char id[ID_MAX + 1];
    if (change)
        *change = NULL;
    if (make_id(id, segs, err, errlen))
        return PORRA_INVALID;
    if (porra_get(db, id))
        return PORRA_OK;
    return give(create_record(segs), change, PORRA_CREATED, err, errlen);
}

porra_status_t porra_plan_delete(const porra_db_t *db, const char *id, json_t **change, char *err,
                                 size_t errlen)
{
    if (change)
        *change = NULL;
    if (!porra_get(db, id))
        return not_found(err, errlen);
    return give(json_pack("{s:s, s:s}", "op", "porra.delete", "ID", id), change, PORRA_OK, err,
                errlen);
}

/* Reads member name of o as goals; -1 with err naming it. */
static int goals_member(const json_t *o, const char *name, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return fail(err, errlen, "%s: missing", name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > PORRA_GOALS_MAX)
        return fail(err, errlen, "%s: " GOALS_RULE, name);
    *out = (int)json_integer_value(v);
    return 0;
}

int porra_score_parse(const json_t *body, int *local, int *visitante, char *err, size_t errlen)
{
    int l, v;
    const char *key;
    json_t *val;
    if (!json_is_object(body))
        return fail(err, errlen, "body: must be a JSON object");
    if (goals_member(body, "local", &l, err, errlen) ||
        goals_member(body, "visitante", &v, err, errlen))
        return -1;
    json_object_foreach((json_t *)body, key, val)
        if (strcmp(key, "local") && strcmp(key, "visitante"))
            return fail(err, errlen, "%s: unknown field", key);
    if (local)
        *local = l;
    if (visitante)
        *visitante = v;
    return 0;
}

porra_status_t porra_plan_bet(const porra_db_t *db, const char *id, const char *quien, int local,
                              int visitante, json_t **change, char *err, size_t errlen)
{
    if (change)
        *change = NULL;
    if (seg_check("quien", quien, 1, err, errlen) || goals_check(local, visitante, err, errlen))
        return PORRA_INVALID;
    json_t *pool = porra_get(db, id);
    if (!pool)
        return not_found(err, errlen);
    if (closed(pool)) {
        fail(err, errlen, "the result is set: betting is closed");
        return PORRA_CLOSED;
    }
    int exists = json_object_get(json_object_get(pool, "apuestas"), quien) != NULL;
    return give(bet_record(id, quien, local, visitante), change,
                exists ? PORRA_OK : PORRA_CREATED, err, errlen);
}

porra_status_t porra_plan_result(const porra_db_t *db, const char *id, int local, int visitante,
                                 json_t **change, char *err, size_t errlen)
{
    if (change)
        *change = NULL;
    if (goals_check(local, visitante, err, errlen))
        return PORRA_INVALID;
    if (!porra_get(db, id))
        return not_found(err, errlen);
    return give(result_record(id, local, visitante), change, PORRA_OK, err, errlen);
}

porra_status_t porra_winners(const porra_db_t *db, const char *id, json_t **out)
{
    int rl, rv;
    const char *quien;
    json_t *bet;
    if (out)
        *out = NULL;
    json_t *pool = porra_get(db, id);
    if (!pool)
        return PORRA_NOT_FOUND;
    if (parse_result(pool, &rl, &rv))
        return PORRA_NO_RESULT;
    json_t *w = json_pack("{s:O, s:[]}", "resultado", json_object_get(pool, "resultado"),
                          "ganadores");
    if (!w)
        return PORRA_INVALID;
    json_t *names = json_object_get(w, "ganadores");
    json_object_foreach(json_object_get(pool, "apuestas"), quien, bet) {
        if (json_integer_value(json_object_get(bet, "local")) == rl &&
            json_integer_value(json_object_get(bet, "visitante")) == rv &&
            json_array_append_new(names, json_string(quien))) {
            json_decref(w);
            return PORRA_INVALID;
        }
    }
    if (out)
        *out = w;
    else
        json_decref(w);
    return PORRA_OK;
}

/* A string member of a record, or NULL with err naming it. */
static const char *str_member(const json_t *rec, const char *name, char *err, size_t errlen)
{
    json_t *v = json_object_get(rec, name);
    const char *s = plain_string(v);
    if (!s)
        fail(err, errlen, "%s: %s", name, v ? "must be a string" : "missing");
    return s;
}

/* The pool a record's ID names, or NULL with err. */
static json_t *pool_member(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    const char *id = str_member(rec, "ID", err, errlen);
    json_t *pool = id ? porra_get(db, id) : NULL;
    if (id && !pool)
        fail(err, errlen, "ID: no porra \"%s\"", id);
    return pool;
}

static int apply_create(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    const char *segs[4];
    char id[ID_MAX + 1];
    for (int k = 0; k < 4; k++)
        if (!(segs[k] = str_member(rec, SEG_NAMES[k], err, errlen)))
            return -1;
    if (make_id(id, segs, err, errlen))
        return -1;
    if (porra_get(db, id))
        return fail(err, errlen, "ID: porra \"%s\" already exists", id);
    json_t *pool = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}, s:n}", "ID", id, "local", segs[0],
                             "visitante", segs[1], "competition", segs[2], "year", segs[3],
                             "apuestas", "resultado");
    if (!pool || json_object_set(db->by_id, id, pool)) {
        json_decref(pool);
        return fail(err, errlen, "out of memory");
    }
    if (json_array_append_new(db->list, pool)) {
        json_object_del(db->by_id, id);
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int apply_delete(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    json_t *pool = pool_member(db, rec, err, errlen);
    if (!pool)
        return -1;
    /* O(n) in the number of pools, but only on delete: the array stays ready for listing. */
    for (size_t i = json_array_size(db->list); i-- > 0;) {
        if (json_array_get(db->list, i) == pool) {
            json_array_remove(db->list, i);
            break;
        }
    }
    json_object_del(db->by_id, json_string_value(json_object_get(rec, "ID")));
    return 0;
}

static int apply_bet(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    int l, v;
    const char *quien;
    json_t *pool = pool_member(db, rec, err, errlen);
    if (!pool || !(quien = str_member(rec, "quien", err, errlen)) ||
        seg_check("quien", quien, 1, err, errlen) || goals_member(rec, "local", &l, err, errlen) ||
        goals_member(rec, "visitante", &v, err, errlen))
        return -1;
    if (closed(pool))
        return fail(err, errlen, "ID: the result is set: betting is closed");
    if (json_object_set_new(json_object_get(pool, "apuestas"), quien,
                            json_pack("{s:i, s:i}", "local", l, "visitante", v)))
        return fail(err, errlen, "out of memory");
    return 0;
}

static int apply_result(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    int l, v;
    char r[8];
    json_t *pool = pool_member(db, rec, err, errlen);
    if (!pool || goals_member(rec, "local", &l, err, errlen) ||
        goals_member(rec, "visitante", &v, err, errlen))
        return -1;
    snprintf(r, sizeof r, "%d-%d", l, v);
    if (json_object_set_new(pool, "resultado", json_string(r)))
        return fail(err, errlen, "out of memory");
    return 0;
}

int porra_apply(porra_db_t *db, const json_t *change, char *err, size_t errlen)
{
    static const struct {
        const char *op;
        int (*fn)(porra_db_t *db, const json_t *rec, char *err, size_t errlen);
    } ops[] = {{"porra.create", apply_create},
               {"porra.delete", apply_delete},
               {"porra.bet", apply_bet},
               {"porra.result", apply_result}};
    if (!db)
        return fail(err, errlen, "no porra db");
    if (!json_is_object(change))
        return fail(err, errlen, "record: must be a JSON object");
    const char *op = str_member(change, "op", err, errlen);
    if (!op)
        return -1;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strcmp(op, ops[k].op) == 0)
            return ops[k].fn(db, change, err, errlen);
    return fail(err, errlen, "op: unknown operation");
}

static int emit(json_t *c, int (*cb)(void *ctx, json_t *change), void *ctx)
{
    if (!c)
        return -1;
    int r = cb(ctx, c);
    json_decref(c);
    return r ? -1 : 0;
}

int porra_dump(const porra_db_t *db, int (*cb)(void *ctx, json_t *change), void *ctx)
{
    size_t i;
    json_t *pool, *bet;
    const char *quien, *segs[4];
    int l, v;
    if (!db || !cb)
        return -1;
    json_array_foreach(db->list, i, pool) {
        const char *id = json_string_value(json_object_get(pool, "ID"));
        for (int k = 0; k < 4; k++)
            segs[k] = json_string_value(json_object_get(pool, SEG_NAMES[k]));
        if (emit(create_record(segs), cb, ctx))
            return -1;
        json_object_foreach(json_object_get(pool, "apuestas"), quien, bet) {
            l = (int)json_integer_value(json_object_get(bet, "local"));
            v = (int)json_integer_value(json_object_get(bet, "visitante"));
            if (emit(bet_record(id, quien, l, v), cb, ctx))
                return -1;
        }
        if (closed(pool) &&
            (parse_result(pool, &l, &v) || emit(result_record(id, l, v), cb, ctx)))
            return -1;
    }
    return 0;
}
