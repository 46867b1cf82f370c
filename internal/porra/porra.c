#include "porra/porra.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct porra_db {
    json_t *by_id; /* object: ID -> pool; a hash table, so lookups per request are O(1) */
    json_t *list;  /* array: the same pools in creation order, ready for GET /porras */
};

#define SEG_RULE "must be 1-64 letters, digits, '_', '.' or UTF-8 letters, not only dots"
#define SEG_RULE_DASH "must be 1-64 letters, digits, '_', '.', '-' or UTF-8 letters, not only dots"
#define GOALS_RULE "must be an integer from 0 to 99"
#define ID_MAX (4 * PORRA_SEGMENT_MAX + 3)

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
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

/* Length of the valid multi-byte UTF-8 sequence at s (at most left bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0xC2)
        return 0; /* ASCII is handled by the caller; 0x80-0xC1 never lead */
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

int porra_segment_ok(const char *s, int allow_dash, char *err, size_t errlen)
{
    const char *rule = allow_dash ? SEG_RULE_DASH : SEG_RULE;
    size_t len = s ? strnlen(s, PORRA_SEGMENT_MAX + 1) : 0;
    int only_dots = 1;
    if (len < 1 || len > PORRA_SEGMENT_MAX)
        goto bad;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)s + i, len - i);
            if (n == 0)
                goto bad;
            i += n;
            only_dots = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || (c == '-' && allow_dash)))
            goto bad;
        only_dots &= c == '.';
        i++;
    }
    if (!only_dots)
        return 1;
bad:
    fail(err, errlen, "%s", rule);
    return 0;
}

porra_db_t *porra_db_new(void)
{
    porra_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->by_id = json_object();
    db->list = json_array();
    if (!db->by_id || !db->list) {
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

static int goals_ok(int n) { return n >= 0 && n <= PORRA_GOALS_MAX; }

static int closed(const json_t *pool) { return !json_is_null(json_object_get(pool, "resultado")); }

/* The goals of a stored "n-m" result; only ever written by apply_result. */
static int parse_result(const json_t *pool, int *local, int *visitante)
{
    const char *r = json_string_value(json_object_get(pool, "resultado"));
    char *end;
    if (!r)
        return -1;
    long l = strtol(r, &end, 10);
    if (end == r || *end != '-' || l < 0 || l > PORRA_GOALS_MAX)
        return -1;
    const char *v = end + 1;
    long m = strtol(v, &end, 10);
    if (end == v || *end || m < 0 || m > PORRA_GOALS_MAX)
        return -1;
    *local = (int)l;
    *visitante = (int)m;
    return 0;
}

porra_status_t porra_plan_create(const porra_db_t *db, const char *local, const char *visitante,
                                 const char *competition, const char *year, json_t **change,
                                 char *err, size_t errlen)
{
    const char *names[4] = {"local", "visitante", "competition", "year"};
    const char *segs[4] = {local, visitante, competition, year};
    char why[96], id[ID_MAX + 1];
    if (change)
        *change = NULL;
    for (int k = 0; k < 4; k++) {
        if (!porra_segment_ok(segs[k], 0, why, sizeof why)) {
            fail(err, errlen, "%s: %s", names[k], why);
            return PORRA_INVALID;
        }
    }
    snprintf(id, sizeof id, "%s-%s-%s-%s", local, visitante, competition, year);
    if (porra_get(db, id))
        return PORRA_OK;
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "porra.create", "local", local,
                          "visitante", visitante, "competition", competition, "year", year);
    if (!c) {
        fail(err, errlen, "out of memory");
        return PORRA_INVALID;
    }
    if (change)
        *change = c;
    else
        json_decref(c);
    return PORRA_CREATED;
}

/* Hands c to the caller as *change, or reports OOM when building it failed. */
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

porra_status_t porra_plan_delete(const porra_db_t *db, const char *id, json_t **change, char *err,
                                 size_t errlen)
{
    if (change)
        *change = NULL;
    if (!porra_get(db, id)) {
        fail(err, errlen, "no such porra");
        return PORRA_NOT_FOUND;
    }
    return give(json_pack("{s:s, s:s}", "op", "porra.delete", "ID", id), change, PORRA_OK, err,
                errlen);
}

/* Reads member name of o as goals; -1 with err naming it. */
static int goals_member(const json_t *o, const char *name, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        fail(err, errlen, "%s: missing", name);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > PORRA_GOALS_MAX) {
        fail(err, errlen, "%s: " GOALS_RULE, name);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

int porra_score_parse(const json_t *body, int *local, int *visitante, char *err, size_t errlen)
{
    int l, v;
    if (!json_is_object(body)) {
        fail(err, errlen, "body: must be a JSON object");
        return -1;
    }
    if (goals_member(body, "local", &l, err, errlen) ||
        goals_member(body, "visitante", &v, err, errlen))
        return -1;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val) {
        if (strcmp(key, "local") && strcmp(key, "visitante")) {
            fail(err, errlen, "%s: unknown field", key);
            return -1;
        }
    }
    if (local)
        *local = l;
    if (visitante)
        *visitante = v;
    return 0;
}

static int goals_args_ok(int local, int visitante, char *err, size_t errlen)
{
    if (!goals_ok(local) || !goals_ok(visitante)) {
        fail(err, errlen, "%s: " GOALS_RULE, goals_ok(local) ? "visitante" : "local");
        return 0;
    }
    return 1;
}

porra_status_t porra_plan_bet(const porra_db_t *db, const char *id, const char *quien, int local,
                              int visitante, json_t **change, char *err, size_t errlen)
{
    char why[96];
    if (change)
        *change = NULL;
    if (!porra_segment_ok(quien, 1, why, sizeof why)) {
        fail(err, errlen, "quien: %s", why);
        return PORRA_INVALID;
    }
    if (!goals_args_ok(local, visitante, err, errlen))
        return PORRA_INVALID;
    json_t *pool = porra_get(db, id);
    if (!pool) {
        fail(err, errlen, "no such porra");
        return PORRA_NOT_FOUND;
    }
    if (closed(pool)) {
        fail(err, errlen, "the result is set: betting is closed");
        return PORRA_CLOSED;
    }
    int exists = json_object_get(json_object_get(pool, "apuestas"), quien) != NULL;
    return give(json_pack("{s:s, s:s, s:s, s:i, s:i}", "op", "porra.bet", "ID", id, "quien", quien,
                          "local", local, "visitante", visitante),
                change, exists ? PORRA_OK : PORRA_CREATED, err, errlen);
}

porra_status_t porra_plan_result(const porra_db_t *db, const char *id, int local, int visitante,
                                 json_t **change, char *err, size_t errlen)
{
    if (change)
        *change = NULL;
    if (!goals_args_ok(local, visitante, err, errlen))
        return PORRA_INVALID;
    if (!porra_get(db, id)) {
        fail(err, errlen, "no such porra");
        return PORRA_NOT_FOUND;
    }
    return give(json_pack("{s:s, s:s, s:i, s:i}", "op", "porra.result", "ID", id, "local", local,
                          "visitante", visitante),
                change, PORRA_OK, err, errlen);
}

porra_status_t porra_winners(const porra_db_t *db, const char *id, json_t **out)
{
    int rl, rv;
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
    const char *quien;
    json_t *bet;
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

/* Reads a segment member of a record, checked by the segment rule. */
static const char *seg_member(const json_t *rec, const char *name, int allow_dash, char *err,
                              size_t errlen)
{
    json_t *v = json_object_get(rec, name);
    const char *s = plain_string(v);
    char why[96];
    if (!v)
        fail(err, errlen, "%s: missing", name);
    else if (!s)
        fail(err, errlen, "%s: must be a string", name);
    else if (!porra_segment_ok(s, allow_dash, why, sizeof why))
        fail(err, errlen, "%s: %s", name, why);
    else
        return s;
    return NULL;
}

/* The pool a record's ID names, or NULL with err. */
static json_t *pool_member(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    json_t *v = json_object_get(rec, "ID");
    const char *id = plain_string(v);
    json_t *pool = NULL;
    if (!v)
        fail(err, errlen, "ID: missing");
    else if (!id)
        fail(err, errlen, "ID: must be a string");
    else if (!(pool = porra_get(db, id)))
        fail(err, errlen, "ID: no porra \"%s\"", id);
    return pool;
}

static int apply_create(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    const char *names[4] = {"local", "visitante", "competition", "year"};
    const char *segs[4];
    char id[ID_MAX + 1];
    for (int k = 0; k < 4; k++)
        if (!(segs[k] = seg_member(rec, names[k], 0, err, errlen)))
            return -1;
    snprintf(id, sizeof id, "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]);
    if (porra_get(db, id)) {
        fail(err, errlen, "ID: porra \"%s\" already exists", id);
        return -1;
    }
    json_t *pool = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}, s:n}", "ID", id, "local", segs[0],
                             "visitante", segs[1], "competition", segs[2], "year", segs[3],
                             "apuestas", "resultado");
    if (!pool || json_object_set(db->by_id, id, pool)) {
        json_decref(pool);
        fail(err, errlen, "out of memory");
        return -1;
    }
    if (json_array_append_new(db->list, pool)) {
        json_object_del(db->by_id, id);
        fail(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int apply_delete(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    json_t *pool = pool_member(db, rec, err, errlen);
    if (!pool)
        return -1;
    /* O(n) in the number of pools, but only on delete: the array stays ready for listing. */
    size_t i, n = json_array_size(db->list);
    for (i = n; i-- > 0;)
        if (json_array_get(db->list, i) == pool)
            break;
    if (i < n)
        json_array_remove(db->list, i);
    json_object_del(db->by_id, json_string_value(json_object_get(rec, "ID")));
    return 0;
}

static int apply_bet(porra_db_t *db, const json_t *rec, char *err, size_t errlen)
{
    int l, v;
    const char *quien;
    json_t *pool = pool_member(db, rec, err, errlen);
    if (!pool || !(quien = seg_member(rec, "quien", 1, err, errlen)) ||
        goals_member(rec, "local", &l, err, errlen) ||
        goals_member(rec, "visitante", &v, err, errlen))
        return -1;
    if (closed(pool)) {
        fail(err, errlen, "ID: the result is set: betting is closed");
        return -1;
    }
    if (json_object_set_new(json_object_get(pool, "apuestas"), quien,
                            json_pack("{s:i, s:i}", "local", l, "visitante", v))) {
        fail(err, errlen, "out of memory");
        return -1;
    }
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
    if (json_object_set_new(pool, "resultado", json_string(r))) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int porra_apply(porra_db_t *db, const json_t *change, char *err, size_t errlen)
{
    if (!db) {
        fail(err, errlen, "no porra db");
        return -1;
    }
    if (!json_is_object(change)) {
        fail(err, errlen, "record: must be a JSON object");
        return -1;
    }
    json_t *opv = json_object_get(change, "op");
    const char *op = plain_string(opv);
    if (!opv) {
        fail(err, errlen, "op: missing");
        return -1;
    }
    if (op && !strcmp(op, "porra.create"))
        return apply_create(db, change, err, errlen);
    if (op && !strcmp(op, "porra.delete"))
        return apply_delete(db, change, err, errlen);
    if (op && !strcmp(op, "porra.bet"))
        return apply_bet(db, change, err, errlen);
    if (op && !strcmp(op, "porra.result"))
        return apply_result(db, change, err, errlen);
    fail(err, errlen, "op: unknown operation");
    return -1;
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
    json_t *pool;
    if (!db || !cb)
        return -1;
    json_array_foreach(db->list, i, pool) {
        json_t *id = json_object_get(pool, "ID");
        if (emit(json_pack("{s:s, s:O, s:O, s:O, s:O}", "op", "porra.create", "local",
                           json_object_get(pool, "local"), "visitante",
                           json_object_get(pool, "visitante"), "competition",
                           json_object_get(pool, "competition"), "year",
                           json_object_get(pool, "year")),
                 cb, ctx))
            return -1;
        const char *quien;
        json_t *bet;
        json_object_foreach(json_object_get(pool, "apuestas"), quien, bet) {
            if (emit(json_pack("{s:s, s:O, s:s, s:O, s:O}", "op", "porra.bet", "ID", id, "quien",
                               quien, "local", json_object_get(bet, "local"), "visitante",
                               json_object_get(bet, "visitante")),
                     cb, ctx))
                return -1;
        }
        int l, v;
        if (closed(pool) &&
            (parse_result(pool, &l, &v) ||
             emit(json_pack("{s:s, s:O, s:i, s:i}", "op", "porra.result", "ID", id, "local", l,
                            "visitante", v),
                  cb, ctx)))
            return -1;
    }
    return 0;
}
