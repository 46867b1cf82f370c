/* porrio store import: every line of an export is checked against a scratch version — the
 * store's state with the lines before it applied, under a write's rules and the limits — before
 * any is written; then the changes go through the operations, as requests' would
 * (docs/store.md, "Export and import"). So a bad file changes nothing. */
#include "app/app_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One change to make, in the staged buffer: its line's number and its record's length, then the
 * record. */
typedef struct {
    size_t line, len;
} staged_t;

struct app_import {
    app_t *a;
    int merge;
    app_version_t *scratch; /* the version the import began from, every staged change applied; private */
    app_limits_t limits;
    size_t line;            /* lines read */
    app_counts_t announced; /* the header's counts */
    app_counts_t seen;      /* lines of each kind read */
    size_t skipped;         /* lines that change nothing (what the store holds already, with merge) */
    char *staged;           /* staged_t and record, one after the other */
    size_t len, cap;
};

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

app_import_t *app_import_begin(app_t *a, int merge, char *err, size_t errlen)
{
    app_counts_t held;
    app_import_t *im = calloc(1, sizeof(*im));
    app_version_t *v = app_acquire(a);
    if (im == NULL || app_tally(v, &held) != 0) {
        snprintf(err, errlen, "out of memory");
    } else if (!merge && (held.pools > 0 || held.hitos > 0)) {
        snprintf(err, errlen, "the store is not empty: it holds %zu pools and %zu milestones added with POST /hitos", held.pools,
                 held.hitos);
    } else if ((im->scratch = app_version_new(porra_db_ref(v->porras), hito_db_ref(v->hitos))) == NULL) {
        snprintf(err, errlen, "out of memory");
    } else {
        app_version_release(v);
        im->a = a, im->merge = merge;
        im->limits.pools = __atomic_load_n(&a->limits.pools, __ATOMIC_RELAXED);
        im->limits.bets_per_pool = __atomic_load_n(&a->limits.bets_per_pool, __ATOMIC_RELAXED);
        im->limits.hitos = __atomic_load_n(&a->limits.hitos, __ATOMIC_RELAXED);
        return im;
    }
    app_version_release(v);
    free(im);
    return NULL;
}

void app_import_free(app_import_t *im)
{
    if (im == NULL)
        return;
    app_version_release(im->scratch);
    free(im->staged);
    free(im);
}

/* ---- checking a line ---- */

/* 0 when o is an object whose members are exactly names[0..n) (any order); -1 with why. */
static int members(const json_t *o, const char *const *names, size_t n, char *why, size_t len)
{
    const char *key;
    json_t *val;
    if (!json_is_object(o))
        return fail(why, len, "must be a JSON object");
    json_object_foreach((json_t *)o, key, val)
    {
        size_t k = 0;
        while (k < n && strcmp(key, names[k]) != 0)
            k++;
        if (k == n)
            return fail(why, len, "%s: unknown field", key);
    }
    for (size_t k = 0; k < n; k++)
        if (json_object_get(o, names[k]) == NULL)
            return fail(why, len, "%s: missing", names[k]);
    return 0;
}

/* out[k] = the string member names[k] of o, k < n; -1 with why naming one that is not a string. */
static int strings(const json_t *o, const char *const *names, size_t n, const char **out, char *why, size_t len)
{
    for (size_t k = 0; k < n; k++)
        if ((out[k] = json_string_value(json_object_get(o, names[k]))) == NULL)
            return fail(why, len, "%s: must be a string", names[k]);
    return 0;
}

/* The goals of a bet or result line, by the rule of a score body. */
static int score(const json_t *o, int *local, int *visitante, char *why, size_t len)
{
    json_t *s = json_copy((json_t *)o); /* shallow: the members but ID and quien */
    if (s == NULL)
        return fail(why, len, "out of memory");
    json_object_del(s, "ID");
    json_object_del(s, "quien");
    int rc = porra_score_parse(s, local, visitante, why, len);
    json_decref(s);
    return rc;
}

static int stage(app_import_t *im, const char *rec, size_t n, char *why, size_t len)
{
    staged_t h = {im->line, n};
    if (im->len + sizeof(h) + n > im->cap) {
        size_t cap = im->cap ? 2 * im->cap : 65536;
        while (cap < im->len + sizeof(h) + n)
            cap *= 2;
        char *p = realloc(im->staged, cap);
        if (p == NULL)
            return fail(why, len, "out of memory");
        im->staged = p, im->cap = cap;
    }
    memcpy(im->staged + im->len, &h, sizeof(h));
    memcpy(im->staged + im->len + sizeof(h), rec, n);
    im->len += sizeof(h) + n;
    return 0;
}

/* Applies a planned pool change to the scratch version (its rules checked again) and stages it. */
static int take_porra(app_import_t *im, const porra_change_t *c, char *why, size_t len)
{
    char rec[PORRA_CHANGE_MAX];
    size_t n = porra_change_encode(c, rec, sizeof(rec));
    if (n == 0)
        return fail(why, len, "the change cannot be recorded");
    if (porra_db_apply(&im->scratch->porras, c, why, len) != 0)
        return -1;
    return stage(im, rec, n, why, len);
}

static int pool(app_import_t *im, const json_t *v, char *why, size_t len)
{
    static const char *const names[4] = {"local", "visitante", "competition", "year"};
    const char *seg[4];
    porra_change_t c;
    if (members(v, names, 4, why, len) != 0 || strings(v, names, 4, seg, why, len) != 0)
        return -1;
    switch (porra_plan_create(im->scratch->porras, seg[0], seg[1], seg[2], seg[3], &c, why, len)) {
    case PORRA_CREATED:
        if (!app_room(im->limits.pools, porra_count(im->scratch->porras), "MAX_POOLS", "pools", why, len))
            return -1;
        return take_porra(im, &c, why, len);
    case PORRA_OK:
        if (im->merge) { /* the store's pool is kept */
            im->skipped++;
            return 0;
        }
        return take_porra(im, &c, why, len); /* refused: the apply says the pool exists */
    default:
        return -1;
    }
}

/* The pool named by a bet or result line; NULL with why. */
static const porra_t *named(app_import_t *im, const char *id, char *why, size_t len)
{
    const porra_t *p = NULL;
    if (!porra_id_ok(id))
        fail(why, len, "ID: must be local-visitante-competition-year, each part " PORRA_SEGMENT_RULE);
    else if ((p = porra_find(im->scratch->porras, id)) == NULL)
        fail(why, len, "ID: no pool \"%s\" (a pool's line comes before its bets and result)", id);
    return p;
}

static int bet(app_import_t *im, const json_t *v, char *why, size_t len)
{
    static const char *const names[4] = {"ID", "quien", "local", "visitante"};
    const char *s[2];
    const porra_t *p;
    int l, g, hl, hg;
    porra_change_t c;
    if (members(v, names, 4, why, len) != 0 || strings(v, names, 2, s, why, len) != 0 || score(v, &l, &g, why, len) != 0 ||
        (p = named(im, s[0], why, len)) == NULL)
        return -1;
    if (porra_bet_of(p, s[1], &hl, &hg) && hl == l && hg == g) { /* held already: also after the result */
        im->skipped++;
        return 0;
    }
    switch (porra_plan_bet(im->scratch->porras, s[0], s[1], l, g, &c, why, len)) {
    case PORRA_CREATED:
        if (!app_room(im->limits.bets_per_pool, porra_bets(p), "MAX_BETS_PER_POOL", "bets in this pool", why, len))
            return -1;
        return take_porra(im, &c, why, len);
    case PORRA_OK:
        return take_porra(im, &c, why, len);
    default:
        return -1;
    }
}

static int result(app_import_t *im, const json_t *v, char *why, size_t len)
{
    static const char *const names[3] = {"ID", "local", "visitante"};
    const char *id;
    const porra_t *p;
    int l, g, hl, hg;
    porra_change_t c;
    if (members(v, names, 3, why, len) != 0 || strings(v, names, 1, &id, why, len) != 0 || score(v, &l, &g, why, len) != 0 ||
        (p = named(im, id, why, len)) == NULL)
        return -1;
    if (porra_result_of(p, &hl, &hg) && hl == l && hg == g) {
        im->skipped++;
        return 0;
    }
    if (porra_plan_result(im->scratch->porras, id, l, g, &c, why, len) != PORRA_OK)
        return -1;
    return take_porra(im, &c, why, len);
}

static int hito(app_import_t *im, const json_t *v, char *why, size_t len)
{
    hito_change_t c;
    char rec[HITO_CHANGE_MAX];
    switch (hito_plan_restore(im->scratch->hitos, v, &c, why, len)) { /* as the store holds them */
    case HITO_OK:
        break;
    case HITO_EXISTS:
        if (!im->merge)
            return -1;
        im->skipped++; /* the store's milestone is kept */
        return 0;
    default:
        return -1;
    }
    size_t n = hito_change_encode(&c, rec, sizeof(rec));
    if (!app_room(im->limits.hitos, hito_count(im->scratch->hitos), "MAX_HITOS", "milestones", why, len))
        return -1;
    if (n == 0)
        return fail(why, len, "the change cannot be recorded");
    if (hito_db_apply(&im->scratch->hitos, &c, why, len) < 0)
        return -1;
    return stage(im, rec, n, why, len);
}

static int header(app_import_t *im, const json_t *j, char *why, size_t len)
{
    static const char *const names[2 + APP_COUNT_KINDS] = {"porrio_export", "version", "pools", "bets", "results", "hitos"};
    const char *version;
    if (members(j, names, 2 + APP_COUNT_KINDS, why, len) != 0 || strings(j, names + 1, 1, &version, why, len) != 0)
        return -1;
    json_t *f = json_object_get(j, "porrio_export");
    if (!json_is_integer(f) || json_integer_value(f) != APP_EXPORT_FORMAT)
        return fail(why, len, "porrio_export: must be %d, the format this porrio reads", APP_EXPORT_FORMAT);
    for (int k = 0; k < APP_COUNT_KINDS; k++) {
        json_t *n = json_object_get(j, app_count_names[k]);
        if (!json_is_integer(n) || json_integer_value(n) < 0)
            return fail(why, len, "%s: must be a count (an integer from 0)", app_count_names[k]);
        *app_count_at(&im->announced, k) = (size_t)json_integer_value(n);
    }
    return 0;
}

/* A line after the header: one member, its kind, holding the thing. */
static int entry(app_import_t *im, const json_t *j, char *why, size_t len)
{
    static const char *const kinds[APP_COUNT_KINDS] = {"pool", "bet", "result", "hito"};
    static int (*const check[APP_COUNT_KINDS])(app_import_t *, const json_t *, char *, size_t) = {pool, bet, result, hito};
    char sub[300];
    void *it = json_object_iter((json_t *)j);
    if (!json_is_object(j) || json_object_size(j) != 1)
        return fail(why, len, "must be an object of one member: pool, bet, result or hito");
    const char *kind = json_object_iter_key(it);
    for (int k = 0; k < APP_COUNT_KINDS; k++) {
        if (strcmp(kind, kinds[k]) != 0)
            continue;
        (*app_count_at(&im->seen, k))++;
        if (check[k](im, json_object_iter_value(it), sub, sizeof(sub)) != 0)
            return fail(why, len, "%s: %s", kind, sub);
        return 0;
    }
    return fail(why, len, "%s: unknown kind of line (pool, bet, result or hito)", kind);
}

int app_import_line(app_import_t *im, const char *line, size_t len, char *err, size_t errlen)
{
    char why[400];
    json_error_t je;
    int rc = -1;
    im->line++;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        snprintf(why, sizeof(why), "not JSON: %s (column %d)", je.text, je.column);
    else if (im->line == 1)
        rc = header(im, j, why, sizeof(why));
    else
        rc = entry(im, j, why, sizeof(why));
    json_decref(j);
    if (rc != 0 && im->line == 1)
        snprintf(err, errlen, "line 1: not an export's header: %s", why);
    else if (rc != 0)
        snprintf(err, errlen, "line %zu: %s", im->line, why);
    return rc;
}

/* ---- applying ---- */

/* Makes one staged change through the operation a request would use; r as it answers, and the
 * change counted in *out when it was taken. */
static void apply(app_t *a, const char *rec, size_t n, app_counts_t *out, app_result_t *r)
{
    char body[64];
    porra_change_t c;
    hito_change_t h;
    size_t *count = NULL;
    if (n > 0 && (unsigned char)rec[0] == HITO_OP_ADD && hito_change_decode(rec, n, &h, r->err, sizeof(r->err)) == 0) {
        jsonw_t w = JSONW_INIT;
        size_t len;
        app_hito_json(&w, &h);
        char *j = jsonw_finish(&w, &len);
        if (j == NULL)
            snprintf(r->err, sizeof(r->err), "out of memory");
        else
            app_hito_restore(a, j, len, r), count = &out->hitos;
        free(j);
    } else if (porra_change_decode(rec, n, &c, r->err, sizeof(r->err)) == 0) {
        int bl = snprintf(body, sizeof(body), "{\"local\":%d,\"visitante\":%d}", c.local, c.visitante);
        if (c.op == PORRA_OP_CREATE)
            app_porra_create(a, c.seg[0], c.seg[1], c.seg[2], c.seg[3], r), count = &out->pools;
        else if (c.op == PORRA_OP_BET)
            app_porra_bet(a, c.id, c.quien, body, (size_t)bl, NULL, r), count = &out->bets;
        else if (c.op == PORRA_OP_RESULT)
            app_porra_result(a, c.id, body, (size_t)bl, NULL, r), count = &out->results;
    }
    if (count != NULL && (r->status == APP_OK || r->status == APP_CREATED))
        (*count)++;
}

int app_import_commit(app_import_t *im, app_counts_t *out, size_t *skipped, char *err, size_t errlen)
{
    *out = (app_counts_t){0};
    *skipped = im->skipped;
    if (im->line == 0) {
        snprintf(err, errlen, "the input is empty: an export begins with its header line");
        return -1;
    }
    for (int k = 0; k < APP_COUNT_KINDS; k++) {
        size_t said = *app_count_at(&im->announced, k), held = *app_count_at(&im->seen, k);
        if (said != held) {
            snprintf(err, errlen, "the header announces %zu %s and the file holds %zu: it was cut short or changed", said,
                     app_count_names[k], held);
            return -1;
        }
    }
    ticket_ledger_t *l = app_ledger(im->a);
    uint64_t first = ticket_last_issued(l) + 1, last = first - 1;
    for (size_t at = 0; at < im->len;) {
        staged_t h;
        memcpy(&h, im->staged + at, sizeof(h));
        app_result_t r = {.status = APP_UNAVAILABLE};
        apply(im->a, im->staged + at + sizeof(h), h.len, out, &r);
        at += sizeof(h) + h.len;
        int ok = r.status == APP_OK || r.status == APP_CREATED;
        if (r.ticket > last)
            last = r.ticket;
        app_result_release(&r);
        if (!ok) {
            snprintf(err, errlen, "line %zu: the store refused it: %s", h.line, r.err);
            return -2;
        }
    }
    /* tickets are decided in order, but one LOST may come before others DURABLE: look at each */
    if (last >= first && ticket_wait(l, last) == TICKET_DURABLE) {
        for (uint64_t t = first; t <= last; t++) {
            if (ticket_state(l, t) != TICKET_DURABLE) {
                snprintf(err, errlen, "the store failed to write some of the changes (its warning says why)");
                return -2;
            }
        }
    } else if (last >= first) {
        snprintf(err, errlen, "the store failed to write the last changes (its warning says why)");
        return -2;
    }
    return 0;
}
