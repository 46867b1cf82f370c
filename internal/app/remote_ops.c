/* STORE=etcd's writes: each one transaction whose compares keep the rules true whichever replica
 * writes (docs/store.md, "The state in etcd"). A write plans against the published view, as a
 * local write plans against the head. When a compare fails, the view is brought up to what made
 * it fail and the write is planned again, so its answer (200, 404, 409, 412) is the one the newer
 * state gives. A success is answered once the view shows it: read-your-writes on this replica.
 * Here is what each kind of write plans and answers; remote_write.c runs them. */
#include "app/app_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the plans share ---- */

/* 1 when holding n leaves room for one more under *limit (0: none); else 0 with r set. */
static int room(const size_t *limit, size_t n, const char *name, const char *what, app_result_t *r)
{
    if (app_room(__atomic_load_n(limit, __ATOMIC_RELAXED), n, name, what, r->err, sizeof(r->err)))
        return 1;
    r->status = APP_CONFLICT;
    return 0;
}

/* The keys of w's pool: its own, and the prefix of its bets and result. 0; -1 with r set. */
static int pool_keys(app_write_t *w)
{
    return app_write_key(w, w->pool, "pools/%s", w->id) != 0 || app_write_key(w, w->under, "pools/%s/", w->id) != 0 ? -1 : 0;
}

/* The view has no pool w->id: the next transaction asks etcd whether that holds (on_view). */
static int probe(app_write_t *w)
{
    app_txn_t *t = &w->t;
    w->probe = 1;
    t->ncmp = 1, t->nok = 0, t->nfail = 1;
    t->cmp[0] = (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    t->fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->pool};
    return 1;
}

/* The compares that hold the pool to the version the writer saw (If-Match): its own key and
 * every key under it last changed at `version` or before. */
static void held_at(app_write_t *w, uint64_t version)
{
    app_txn_t *t = &w->t;
    if (w->match == NULL || !w->match->given || w->match->any)
        return;
    t->cmp[t->ncmp++] =
        (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = (int64_t)version + 1};
    t->cmp[t->ncmp++] = (etcd_cmp_t){
        .key = w->under, .prefix = 1, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = (int64_t)version + 1};
}

/* A refused write on a pool whose failure branch read the pool first: gone in etcd, whatever
 * the view says, is 404; else plan again. */
static int pool_refused(app_write_t *w)
{
    if (w->t.res.n > 0 && w->t.res.ops[0].n == 0) {
        app_fail(w->r, APP_NOT_FOUND, "no pool with that ID");
        return 0;
    }
    return 1;
}

/* ---- creating a pool ---- */

static int create_plan(app_write_t *w)
{
    porra_change_t c;
    app_txn_t *t = &w->t;
    app_result_t *r = w->r;
    app_version_t *v = app_acquire(w->a);
    switch (porra_plan_create(v->porras, w->seg[0], w->seg[1], w->seg[2], w->seg[3], &c, r->err, sizeof(r->err))) {
    case PORRA_OK:
        app_answer_pool(r, APP_OK, v, w->id);
        return 0;
    case PORRA_CREATED:
        break;
    default:
        r->status = APP_BAD_PATH;
        app_version_release(v);
        return 0;
    }
    int full = !room(&w->a->limits.pools, porra_count(v->porras), "MAX_POOLS", "pools", r);
    app_version_release(v);
    if (full || pool_keys(w) != 0)
        return 0;
    if (w->text == NULL) {
        app_fail(r, APP_UNAVAILABLE, "out of memory");
        return 0;
    }
    t->ncmp = 1, t->nok = 1, t->nfail = 1;
    t->cmp[0] = (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    t->ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = w->pool, .value = w->text};
    t->fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->pool};
    return 1;
}

static void create_applied(app_write_t *w)
{
    app_version_t *v = app_acquire(w->a);
    if (porra_find(v->porras, w->id) != NULL) {
        app_answer_pool(w->r, APP_CREATED, v, w->id);
    } else {
        app_version_release(v);
        app_fail(w->r, APP_CONFLICT, "the pool was deleted as soon as it was created");
    }
}

static const app_write_kind_t creating = {create_plan, create_applied, NULL};

int app_remote_create(app_t *a, const char *const seg[4], app_result_t *r)
{
    size_t n = strlen(seg[0]) + strlen(seg[1]) + strlen(seg[2]) + strlen(seg[3]) + 3;
    app_write_t *w = app_write_new(&creating, a, r, n);
    if (w == NULL)
        return 0;
    char *id = w->key; /* the pool's ID, in a key the write does not use otherwise */
    snprintf(id, n + 1, "%s-%s-%s-%s", seg[0], seg[1], seg[2], seg[3]);
    memcpy(w->seg, seg, sizeof(w->seg));
    w->id = id;
    json_t *value = json_pack("{s:s, s:s, s:s, s:s}", "local", seg[0], "visitante", seg[1], "competition", seg[2], "year", seg[3]);
    w->text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    return app_write_run(w);
}

/* ---- deleting a pool ---- */

static int delete_plan(app_write_t *w)
{
    app_txn_t *t = &w->t;
    app_version_t *v = app_acquire(w->a);
    const porra_t *p = porra_find(v->porras, w->id);
    int stale = app_stale(v->porras, w->id, w->match, w->r);
    uint64_t created = p != NULL ? porra_created(p) : 0, version = p != NULL ? porra_version(p) : 0;
    app_version_release(v);
    if (stale)
        return 0;
    if (p == NULL)
        return probe(w);
    t->ncmp = 0, t->nok = 2, t->nfail = 1;
    t->cmp[t->ncmp++] =
        (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = (int64_t)created};
    held_at(w, version);
    t->ok[0] = (etcd_op_t){.kind = ETCD_OP_DELETE, .key = w->pool}; /* first: the view drops the pool at once */
    t->ok[1] = (etcd_op_t){.kind = ETCD_OP_DELETE, .key = w->under, .prefix = 1};
    t->fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->pool};
    return 1;
}

static void delete_applied(app_write_t *w)
{
    w->r->status = APP_DELETED;
}

static const app_write_kind_t deleting = {delete_plan, delete_applied, pool_refused};

int app_remote_delete(app_t *a, const char *id, const app_match_t *match, app_result_t *r)
{
    app_write_t *w = app_write_new(&deleting, a, r, strlen(id));
    if (w == NULL)
        return 0;
    w->id = id, w->match = match;
    if (pool_keys(w) != 0) {
        free(w);
        return 0;
    }
    return app_write_run(w);
}

/* ---- a bet or the result ---- */

static int score_plan(app_write_t *w)
{
    porra_change_t c;
    app_txn_t *t = &w->t;
    app_result_t *r = w->r;
    app_version_t *v = app_acquire(w->a);
    const porra_t *p = porra_find(v->porras, w->id);
    porra_status_t st = PORRA_OK;
    if (app_stale(v->porras, w->id, w->match, r)) {
        app_version_release(v);
        return 0;
    }
    if (p == NULL) {
        app_version_release(v);
        return probe(w);
    }
    if (w->body_err == NULL)
        st = w->quien != NULL ? porra_plan_bet(v->porras, w->id, w->quien, w->gl, w->gv, &c, r->err, sizeof(r->err))
                              : porra_plan_result(v->porras, w->id, w->gl, w->gv, &c, r->err, sizeof(r->err));
    uint64_t created = porra_created(p), version = porra_version(p);
    int refused =
        w->body_err != NULL || st == PORRA_CLOSED || st == PORRA_INVALID ||
        (st == PORRA_CREATED && !room(&w->a->limits.bets_per_pool, porra_bets(p), "MAX_BETS_PER_POOL", "bets in this pool", r));
    app_version_release(v);
    if (w->body_err != NULL)
        app_fail(r, APP_BAD_BODY, "%s", w->body_err);
    else if (st == PORRA_CLOSED)
        app_fail(r, APP_CONFLICT, "betting is closed: the result is set");
    else if (st == PORRA_INVALID)
        r->status = APP_BAD_BODY;
    if (refused)
        return 0;
    t->ncmp = 0, t->nok = 1, t->nfail = 2;
    t->cmp[t->ncmp++] =
        (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = (int64_t)created};
    if (w->quien != NULL) /* betting closes with the result, whichever replica set it */
        t->cmp[t->ncmp++] = (etcd_cmp_t){.key = w->result, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    held_at(w, version);
    t->ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = w->quien != NULL ? w->key : w->result, .value = w->value, .prev_kv = 1};
    t->fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->pool};
    t->fail[1] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->result};
    return 1;
}

static void score_applied(app_write_t *w)
{
    app_version_t *v = app_acquire(w->a);
    const porra_t *p = porra_find(v->porras, w->id);
    if (p == NULL) {
        app_version_release(v);
        app_fail(w->r, APP_NOT_FOUND, "the pool was deleted as soon as this was written");
    } else if (w->quien != NULL) {
        int replaced = w->t.res.n > 0 && w->t.res.ops[0].n > 0;
        uint64_t version = porra_version(p);
        app_version_release(v);
        app_answer_bet(w->r, replaced ? APP_OK : APP_CREATED, w->id, w->quien, w->gl, w->gv, version);
    } else {
        app_answer_pool(w->r, APP_OK, v, w->id);
    }
}

static const app_write_kind_t scoring = {score_plan, score_applied, pool_refused};

int app_remote_score(app_t *a, const char *id, const char *quien, const char *body_err, int gl, int gv, const app_match_t *match,
                     app_result_t *r)
{
    app_write_t *w = app_write_new(&scoring, a, r, strlen(id) + (quien != NULL ? strlen(quien) : 0));
    if (w == NULL)
        return 0;
    w->id = id, w->quien = quien, w->gl = gl, w->gv = gv, w->match = match;
    if (body_err != NULL) /* the caller's, gone when it returns */
        w->body_err = strncpy(w->why_body, body_err, sizeof(w->why_body) - 1);
    if (pool_keys(w) != 0 || app_write_key(w, w->result, "pools/%s/result", id) != 0 ||
        (quien != NULL && app_write_key(w, w->key, "pools/%s/bets/%s", id, quien) != 0)) {
        free(w);
        return 0;
    }
    snprintf(w->value, sizeof(w->value), "{\"local\":%d,\"visitante\":%d}", gl, gv);
    return app_write_run(w);
}

/* ---- adding a milestone ---- */

static int hito_plan(app_write_t *w)
{
    app_txn_t *t = &w->t;
    app_result_t *r = w->r;
    hito_change_t *c = &w->hc;
    app_version_t *v = app_acquire(w->a);
    hito_status_t st = (w->restore ? hito_plan_restore : hito_plan_add)(v->hitos, w->body, c, r->err, sizeof(r->err));
    int full = st == HITO_OK && !room(&w->a->limits.hitos, hito_count(v->hitos), "MAX_HITOS", "milestones", r);
    unsigned long long n = (unsigned long long)v->hito_slots;
    app_version_release(v);
    if (st != HITO_OK || full) {
        if (!full)
            r->status = st == HITO_EXISTS ? APP_CONFLICT : APP_BAD_BODY;
        return 0;
    }
    snprintf(w->slot, sizeof(w->slot), "%llu", n);
    if (app_write_key(w, w->key, "hitos/%010llu", n) != 0 || app_write_key(w, w->pool, "hitofiles/%s", c->file) != 0)
        return 0;
    free(w->text);
    json_t *j = json_pack("{s:s, s:s, s:s}", "file", c->file, "title", c->title, "fecha", c->fecha);
    w->text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (w->text == NULL) {
        app_fail(r, APP_UNAVAILABLE, "out of memory");
        return 0;
    }
    /* the next key after the last one taken, and a file no one took: no gap, no duplicate */
    t->ncmp = 2, t->nok = 2, t->nfail = 2;
    t->cmp[0] = (etcd_cmp_t){.key = w->key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    t->cmp[1] = (etcd_cmp_t){.key = w->pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    t->ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = w->pool, .value = w->slot};
    t->ok[1] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = w->key, .value = w->text};
    t->fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->pool};
    t->fail[1] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = w->key};
    return 1;
}

static void hito_applied(app_write_t *w)
{
    size_t len;
    app_result_t *r = w->r;
    app_version_t *v = app_acquire(w->a);
    long index = hito_find(v->hitos, w->hc.file);
    if (index < 0) {
        app_version_release(v);
        app_fail(r, APP_CONFLICT, "the milestone was written to the store but HITOS_FILE holds its file too");
        return;
    }
    r->index = index, r->of = APP_OF_HITOS, r->version = hito_count(v->hitos);
    app_answer_in(r, APP_CREATED, v, hito_json(v->hitos, (size_t)index, &len), &len);
}

static const app_write_kind_t adding = {hito_plan, hito_applied, NULL};

int app_remote_hito_add(app_t *a, const char *body, size_t len, int restore, app_result_t *r)
{
    json_t *b = app_parse_body(body, len, r->err, sizeof(r->err));
    if (b == NULL) {
        r->status = APP_BAD_BODY;
        return 0;
    }
    app_write_t *w = app_write_new(&adding, a, r, HITO_FIELD_MAX + 24); /* the file, or the slot's number */
    if (w == NULL) {
        json_decref(b);
        return 0;
    }
    w->body = b, w->restore = restore;
    return app_write_run(w);
}
