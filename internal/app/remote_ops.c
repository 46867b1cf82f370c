/* STORE=etcd's writes: each one transaction whose compares keep the rules true whichever replica
 * writes (docs/store.md, "The state in etcd"). A write plans against the published view, as a
 * local write plans against the head. When a compare fails, the view is brought up to what made
 * it fail and the write is planned again, so its answer (200, 404, 409, 412) is the one the newer
 * state gives. A success is answered once the view shows it: read-your-writes on this replica. */
#include "app/app_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX     2048
#define TRIES       8    /* plans of one write; more means a hot spot: 503, ask again */
#define TXN_MS      2000 /* etcd's answer to one transaction, every endpoint together */
#define VIEW_MS     5000 /* the view showing a revision etcd acknowledged */
#define TAG_WAIT_MS 1000 /* the view reaching a version an If-Match names (read elsewhere) */

typedef struct txn {
    etcd_cmp_t cmp[4];
    etcd_op_t ok[2], fail[2];
    size_t ncmp, nok, nfail;
    etcd_txn_result_t res;
} txn_t;

/* The newest mod_revision among what the failure branch read; 0 when it read nothing. */
static int64_t newest_read(const etcd_txn_result_t *res)
{
    int64_t m = 0;
    for (size_t i = 0; i < res->n; i++)
        for (size_t k = 0; res->ops[i].kvs != NULL && k < res->ops[i].n; k++)
            m = res->ops[i].kvs[k].mod_revision > m ? res->ops[i].kvs[k].mod_revision : m;
    return m;
}

/* Runs t. 1: it succeeded and the view shows it; 0: a compare failed, and the view shows what
 * the failure branch read (plan again); -1 with r set to APP_UNAVAILABLE. t->res is filled
 * for 1 and 0, and freed by the next run or by done(). */
static int run(app_t *a, txn_t *t, app_result_t *r)
{
    app_remote_t *rem = a->remote;
    char why[400];
    etcd_txn_result_free(&t->res);
    if (etcd_txn(rem->etcd, t->cmp, t->ncmp, t->ok, t->nok, t->fail, t->nfail, TXN_MS, &t->res, why, sizeof(why)) != 0) {
        app_remote_health(a, APP_REMOTE_WRITE, 0, why);
        app_fail(r, APP_UNAVAILABLE, "the store (etcd) did not answer; the change was not acknowledged: %s", why);
        return -1;
    }
    app_remote_health(a, APP_REMOTE_WRITE, 1, "");
    int64_t want = t->res.succeeded ? t->res.revision : newest_read(&t->res);
    if (app_remote_wait(rem, want, VIEW_MS) != 0) {
        app_fail(r, APP_UNAVAILABLE,
                 t->res.succeeded ? "the change was made, but this replica does not show it yet: read it again"
                                  : "this replica's view of the store is behind: try again");
        return -1;
    }
    return t->res.succeeded;
}

static void done(txn_t *t)
{
    etcd_txn_result_free(&t->res);
}

static void busy(app_result_t *r)
{
    app_fail(r, APP_UNAVAILABLE, "the resource kept changing while this write was made: try again");
}

/* 1 when holding n leaves room for one more under *limit (0: none); else 0 with r set. */
static int room(const size_t *limit, size_t n, const char *name, const char *what, app_result_t *r)
{
    if (app_room(__atomic_load_n(limit, __ATOMIC_RELAXED), n, name, what, r->err, sizeof(r->err)))
        return 1;
    r->status = APP_CONFLICT;
    return 0;
}

/* The keys of pool id: its own, and the prefix of its bets and result. 0; -1 with r set. */
static int pool_keys(app_t *a, const char *id, char *pool, char *under, app_result_t *r)
{
    if (app_remote_key(a->remote, pool, KEY_MAX, "pools/%s", id) == 0 &&
        app_remote_key(a->remote, under, KEY_MAX, "pools/%s/", id) == 0)
        return 0;
    app_fail(r, APP_UNAVAILABLE, "ETCD_PREFIX is too long for this key");
    return -1;
}

/* The view has no pool `id`: etcd says whether that holds. 1: it does (r is the 404); 0: the
 * pool exists, and the view now shows it (plan again); -1 with r set. */
static int confirm_absent(app_t *a, const char *pool, app_result_t *r)
{
    txn_t t = {.ncmp = 1, .nfail = 1};
    t.cmp[0] = (etcd_cmp_t){.key = pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    t.fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = pool};
    int rc = run(a, &t, r);
    done(&t);
    if (rc == 1)
        app_fail(r, APP_NOT_FOUND, "no pool with that ID");
    return rc;
}

/* The compares that hold pool `id` to the version the writer saw (If-Match): its own key and
 * every key under it last changed at `version` or before. */
static void held_at(txn_t *t, const char *pool, const char *under, uint64_t version)
{
    t->cmp[t->ncmp++] =
        (etcd_cmp_t){.key = pool, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = (int64_t)version + 1};
    t->cmp[t->ncmp++] =
        (etcd_cmp_t){.key = under, .prefix = 1, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = (int64_t)version + 1};
}

/* An If-Match may name a version read on another replica, newer than this one's view: the view
 * is given a moment to reach it before the tag is judged. */
static void catch_up_to_tags(app_t *a, const app_match_t *m)
{
    uint64_t newest = 0;
    for (size_t i = 0; m != NULL && m->given && i < m->n; i++)
        newest = m->versions[i] > newest ? m->versions[i] : newest;
    if (newest > 0 && newest < INT64_MAX)
        app_remote_wait(a->remote, (int64_t)newest, TAG_WAIT_MS);
}

void app_remote_create(app_t *a, const char *const seg[4], app_result_t *r)
{
    char id[PORRA_ID_MAX + 1], pool[KEY_MAX], under[KEY_MAX];
    porra_change_t c;
    txn_t t = {.ncmp = 1, .nok = 1, .nfail = 1};
    snprintf(id, sizeof(id), "%s-%s-%s-%s", seg[0], seg[1], seg[2], seg[3]);
    json_t *value = json_pack("{s:s, s:s, s:s, s:s}", "local", seg[0], "visitante", seg[1], "competition", seg[2], "year", seg[3]);
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    for (int try = 0; try < TRIES; try++) {
        app_version_t *v = app_acquire(a);
        switch (porra_plan_create(v->porras, seg[0], seg[1], seg[2], seg[3], &c, r->err, sizeof(r->err))) {
        case PORRA_OK:
            app_answer_pool(r, APP_OK, v, id);
            goto out;
        case PORRA_CREATED:
            break;
        default:
            r->status = APP_BAD_PATH;
            app_version_release(v);
            goto out;
        }
        int full = !room(&a->limits.pools, porra_count(v->porras), "MAX_POOLS", "pools", r);
        app_version_release(v);
        if (full || pool_keys(a, id, pool, under, r) != 0)
            goto out;
        if (text == NULL) {
            app_fail(r, APP_UNAVAILABLE, "out of memory");
            goto out;
        }
        t.cmp[0] = (etcd_cmp_t){.key = pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
        t.ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = pool, .value = text};
        t.fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = pool};
        int rc = run(a, &t, r);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            v = app_acquire(a);
            if (porra_find(v->porras, id) != NULL) {
                app_answer_pool(r, APP_CREATED, v, id);
            } else {
                app_version_release(v);
                app_fail(r, APP_CONFLICT, "the pool was deleted as soon as it was created");
            }
            goto out;
        }
    }
    busy(r);
out:
    done(&t);
    free(text);
}

void app_remote_delete(app_t *a, const char *id, const app_match_t *match, app_result_t *r)
{
    char pool[KEY_MAX], under[KEY_MAX];
    txn_t t = {.nok = 2, .nfail = 1};
    if (pool_keys(a, id, pool, under, r) != 0)
        return;
    catch_up_to_tags(a, match);
    for (int try = 0; try < TRIES; try++) {
        app_version_t *v = app_acquire(a);
        const porra_t *p = porra_find(v->porras, id);
        int stale = app_stale(v->porras, id, match, r);
        uint64_t created = p != NULL ? porra_created(p) : 0, version = p != NULL ? porra_version(p) : 0;
        app_version_release(v);
        if (stale)
            goto out;
        if (p == NULL) {
            if (confirm_absent(a, pool, r) != 0)
                goto out;
            continue;
        }
        t.ncmp = 0;
        t.cmp[t.ncmp++] =
            (etcd_cmp_t){.key = pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = (int64_t)created};
        if (match != NULL && match->given && !match->any)
            held_at(&t, pool, under, version);
        t.ok[0] = (etcd_op_t){.kind = ETCD_OP_DELETE, .key = pool}; /* first: the view drops the pool at once */
        t.ok[1] = (etcd_op_t){.kind = ETCD_OP_DELETE, .key = under, .prefix = 1};
        t.fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = pool};
        int rc = run(a, &t, r);
        if (rc == 1)
            r->status = APP_DELETED;
        if (rc == 0 && t.res.n > 0 && t.res.ops[0].n == 0) /* gone in etcd, whatever the view says */
            app_fail(r, APP_NOT_FOUND, "no pool with that ID");
        else if (rc == 0)
            continue;
        goto out;
    }
    busy(r);
out:
    done(&t);
}

void app_remote_score(app_t *a, const char *id, const char *quien, const char *body_err, int gl, int gv, const app_match_t *match,
                      app_result_t *r)
{
    char pool[KEY_MAX], under[KEY_MAX], key[KEY_MAX], result[KEY_MAX], value[64];
    porra_change_t c;
    txn_t t = {.nok = 1, .nfail = 2};
    if (pool_keys(a, id, pool, under, r) != 0)
        return;
    if (app_remote_key(a->remote, result, KEY_MAX, "pools/%s/result", id) != 0 ||
        (quien != NULL && app_remote_key(a->remote, key, KEY_MAX, "pools/%s/bets/%s", id, quien) != 0)) {
        app_fail(r, APP_UNAVAILABLE, "ETCD_PREFIX is too long for this key");
        return;
    }
    snprintf(value, sizeof(value), "{\"local\":%d,\"visitante\":%d}", gl, gv);
    catch_up_to_tags(a, match);
    for (int try = 0; try < TRIES; try++) {
        app_version_t *v = app_acquire(a);
        const porra_t *p = porra_find(v->porras, id);
        porra_status_t st = PORRA_OK;
        if (app_stale(v->porras, id, match, r)) {
            app_version_release(v);
            goto out;
        }
        if (p == NULL) {
            app_version_release(v);
            if (confirm_absent(a, pool, r) != 0)
                goto out;
            continue;
        }
        if (body_err == NULL)
            st = quien != NULL ? porra_plan_bet(v->porras, id, quien, gl, gv, &c, r->err, sizeof(r->err))
                               : porra_plan_result(v->porras, id, gl, gv, &c, r->err, sizeof(r->err));
        uint64_t created = porra_created(p), version = porra_version(p);
        int refused =
            body_err != NULL || st == PORRA_CLOSED || st == PORRA_INVALID ||
            (st == PORRA_CREATED && !room(&a->limits.bets_per_pool, porra_bets(p), "MAX_BETS_PER_POOL", "bets in this pool", r));
        app_version_release(v);
        if (body_err != NULL)
            app_fail(r, APP_BAD_BODY, "%s", body_err);
        else if (st == PORRA_CLOSED)
            app_fail(r, APP_CONFLICT, "betting is closed: the result is set");
        else if (st == PORRA_INVALID)
            r->status = APP_BAD_BODY;
        if (refused)
            goto out;
        t.ncmp = 0;
        t.cmp[t.ncmp++] =
            (etcd_cmp_t){.key = pool, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = (int64_t)created};
        if (quien != NULL) /* betting closes with the result, whichever replica set it */
            t.cmp[t.ncmp++] = (etcd_cmp_t){.key = result, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
        if (match != NULL && match->given && !match->any)
            held_at(&t, pool, under, version);
        t.ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = quien != NULL ? key : result, .value = value, .prev_kv = 1};
        t.fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = pool};
        t.fail[1] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = result};
        int rc = run(a, &t, r);
        if (rc < 0)
            goto out;
        if (rc == 0) {
            if (t.res.n > 0 && t.res.ops[0].n == 0) {
                app_fail(r, APP_NOT_FOUND, "no pool with that ID");
                goto out;
            }
            continue;
        }
        v = app_acquire(a);
        p = porra_find(v->porras, id);
        if (p == NULL) {
            app_version_release(v);
            app_fail(r, APP_NOT_FOUND, "the pool was deleted as soon as this was written");
        } else if (quien != NULL) {
            int replaced = t.res.n > 0 && t.res.ops[0].n > 0;
            version = porra_version(p);
            app_version_release(v);
            app_answer_bet(r, replaced ? APP_OK : APP_CREATED, id, quien, gl, gv, version);
        } else {
            app_answer_pool(r, APP_OK, v, id);
        }
        goto out;
    }
    busy(r);
out:
    done(&t);
}

void app_remote_hito_add(app_t *a, const char *body, size_t len, int restore, app_result_t *r)
{
    char slot_key[KEY_MAX], file_key[KEY_MAX], slot[24];
    hito_change_t c;
    txn_t t = {.ncmp = 2, .nok = 2, .nfail = 2};
    char *text = NULL;
    json_t *b = app_parse_body(body, len, r->err, sizeof(r->err));
    if (b == NULL) {
        r->status = APP_BAD_BODY;
        return;
    }
    for (int try = 0; try < TRIES; try++) {
        app_version_t *v = app_acquire(a);
        hito_status_t st = (restore ? hito_plan_restore : hito_plan_add)(v->hitos, b, &c, r->err, sizeof(r->err));
        int full = st == HITO_OK && !room(&a->limits.hitos, hito_count(v->hitos), "MAX_HITOS", "milestones", r);
        unsigned long long n = (unsigned long long)v->hito_slots;
        app_version_release(v);
        if (st != HITO_OK || full) {
            if (!full)
                r->status = st == HITO_EXISTS ? APP_CONFLICT : APP_BAD_BODY;
            goto out;
        }
        snprintf(slot, sizeof(slot), "%llu", n);
        if (app_remote_key(a->remote, slot_key, KEY_MAX, "hitos/%010llu", n) != 0 ||
            app_remote_key(a->remote, file_key, KEY_MAX, "hitofiles/%s", c.file) != 0) {
            app_fail(r, APP_UNAVAILABLE, "ETCD_PREFIX is too long for this key");
            goto out;
        }
        free(text);
        json_t *j = json_pack("{s:s, s:s, s:s}", "file", c.file, "title", c.title, "fecha", c.fecha);
        text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text == NULL) {
            app_fail(r, APP_UNAVAILABLE, "out of memory");
            goto out;
        }
        /* the next key after the last one taken, and a file no one took: no gap, no duplicate */
        t.cmp[0] = (etcd_cmp_t){.key = slot_key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
        t.cmp[1] = (etcd_cmp_t){.key = file_key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
        t.ok[0] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = file_key, .value = slot};
        t.ok[1] = (etcd_op_t){.kind = ETCD_OP_PUT, .key = slot_key, .value = text};
        t.fail[0] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = file_key};
        t.fail[1] = (etcd_op_t){.kind = ETCD_OP_RANGE, .key = slot_key};
        int rc = run(a, &t, r);
        if (rc < 0)
            goto out;
        if (rc == 0)
            continue;
        v = app_acquire(a);
        long index = hito_find(v->hitos, c.file);
        if (index < 0) {
            app_version_release(v);
            app_fail(r, APP_CONFLICT, "the milestone was written to the store but HITOS_FILE holds its file too");
            goto out;
        }
        r->index = index, r->of = APP_OF_HITOS, r->version = hito_count(v->hitos);
        app_answer_in(r, APP_CREATED, v, hito_json(v->hitos, (size_t)index, &len), &len);
        goto out;
    }
    busy(r);
out:
    done(&t);
    free(text);
    json_decref(b);
}
