/* The operations: each checks its input in the API's order (path, existence, body, state),
 * reads the published version or writes through the head, and hands back the answer. */
#include "app/app_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw/jsonw.h"

void app_fail(app_result_t *r, app_status_t status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

/* Answers with *len bytes of v (whose reference moves into r). len is read here, after the
 * call that returned body has set it. */
void app_answer_in(app_result_t *r, app_status_t status, app_version_t *v, const char *body, const size_t *len)
{
    r->status = status, r->hold = v, r->body = body, r->len = body != NULL ? *len : 0;
    if (body == NULL)
        app_fail(r, APP_UNAVAILABLE, "out of memory");
}

/* Answers with a malloc'd buffer, which moves into r. */
void app_answer_owned(app_result_t *r, app_status_t status, char *body, size_t len)
{
    r->status = status, r->owned = body, r->body = body, r->len = len;
    if (body == NULL)
        app_fail(r, APP_UNAVAILABLE, "out of memory");
}

/* Answers with pool `id` of v (whose reference moves into r), tagged with the pool's version. */
void app_answer_pool(app_result_t *r, app_status_t status, app_version_t *v, const char *id)
{
    size_t len;
    const porra_t *p = porra_find(v->porras, id);
    const char *j = porra_json(p, &len);
    app_answer_in(r, status, v, j, &len);
    if (j != NULL)
        r->len--; /* the pool's JSON alone, without the ',' listings join with */
    r->of = APP_OF_POOL, r->version = porra_version(p);
}

/* Tags r as showing the milestones of h. */
static void of_hitos(app_result_t *r, const hito_db_t *h)
{
    r->of = APP_OF_HITOS, r->version = hito_count(h);
}

void app_result_release(app_result_t *r)
{
    free(r->owned);
    app_version_release(r->hold);
    app_list_free(r->list);
    r->owned = NULL, r->hold = NULL, r->list = NULL, r->body = NULL;
}

/* Parses a request body; NULL with a message naming it when it is not JSON. */
json_t *app_parse_body(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    if (len == 0) {
        snprintf(err, errlen, "body: missing (a JSON object is expected)");
        return NULL;
    }
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        snprintf(err, errlen, "body: invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
    return j;
}

/* The pool ID of a path, checked before anything else (README: path segments first). */
int app_id_ok(const char *id, app_result_t *r)
{
    if (porra_id_ok(id))
        return 1;
    app_fail(r, APP_BAD_PATH, "ID: must be local-visitante-competition-year, each part " PORRA_SEGMENT_RULE);
    return 0;
}

/* ---- writing: under the writer mutex ---- */

/* Queues rec and makes `next` (whose reference moves in) the head, pending on the new ticket.
 * 0; -1 with r set to APP_UNAVAILABLE when the store refused it (next is released). The pending
 * lock is held from the append to the note, so the committer cannot decide the ticket before the
 * version it publishes is there. */
static int commit(app_t *a, app_version_t *next, const char *rec, size_t len, app_result_t *r)
{
    uint64_t t = 0;
    pthread_mutex_lock(&a->pending_lock);
    if (a->pcount == a->pcap) { /* a full ring grows first, oldest first: once queued, the change must be noted */
        size_t cap = a->pcap ? 2 * a->pcap : 64;
        app_pending_t *p = malloc(cap * sizeof(*p));
        for (size_t i = 0; p != NULL && i < a->pcount; i++)
            p[i] = a->pending[(a->pfirst + i) % a->pcap];
        if (p != NULL) {
            free(a->pending);
            a->pending = p, a->pcap = cap, a->pfirst = 0;
        }
    }
    if (a->pcount == a->pcap)
        snprintf(r->err, sizeof(r->err), "out of memory");
    else if (len == 0)
        snprintf(r->err, sizeof(r->err), "the change cannot be recorded");
    else
        t = store_append(a->store, rec, len, r->err, sizeof(r->err));
    if (t != 0)
        a->pending[(a->pfirst + a->pcount++) % a->pcap] = (app_pending_t){t, app_version_ref(next)};
    pthread_mutex_unlock(&a->pending_lock);
    if (t == 0) {
        r->status = APP_UNAVAILABLE;
        app_version_release(next);
        return -1;
    }
    app_version_release(a->head);
    a->head = next;
    r->ticket = t;
    return 0;
}

/* What an answer planned against the head waits for: the newest ticket while changes are pending
 * (whatever the answer saw of them must be durable before it goes out), else nothing — then the
 * head is the published version, and the newest ticket may even be LOST. Should a later change
 * that the answer did not depend on be LOST, the answer becomes a 503 and the client asks again:
 * never wrong, at worst once more. Under the writer mutex. */
static uint64_t observed(app_t *a)
{
    pthread_mutex_lock(&a->pending_lock);
    uint64_t t = a->pcount > 0 ? ticket_last_issued(a->ledger) : 0;
    pthread_mutex_unlock(&a->pending_lock);
    return t;
}

/* 1 when holding `n` leaves room for one more under `limit` (0: none); else 0 with r set to
 * APP_CONFLICT naming the setting. What the count saw may be pending: the answer waits for it.
 * Under the writer mutex. */
static int room(app_t *a, const size_t *limit, size_t n, const char *name, const char *what, app_result_t *r)
{
    if (app_room(__atomic_load_n(limit, __ATOMIC_RELAXED), n, name, what, r->err, sizeof(r->err)))
        return 1;
    r->status = APP_CONFLICT;
    r->ticket = observed(a);
    return 0;
}

int app_room(size_t max, size_t n, const char *name, const char *what, char *err, size_t errlen)
{
    if (max == 0 || n < max)
        return 1;
    snprintf(err, errlen, "%s reached: %zu %s, at most %zu", name, n, what, max);
    return 0;
}

/* The head with one pool change applied, as a new version; NULL with r set when it fails. */
static app_version_t *with_porra_change(app_t *a, const porra_change_t *c, app_result_t *r)
{
    porra_db_t *p = porra_db_ref(a->head->porras);
    if (porra_db_apply(&p, c, r->err, sizeof(r->err)) != 0) {
        porra_db_release(p);
        r->status = APP_UNAVAILABLE; /* the plan accepted it: only memory can be missing */
        return NULL;
    }
    app_version_t *v = app_version_new(p, hito_db_ref(a->head->hitos));
    if (v == NULL)
        app_fail(r, APP_UNAVAILABLE, "out of memory");
    return v;
}

/* Applies and commits a planned pool change; the new head (a reference for the caller), or NULL. */
static app_version_t *write_porra(app_t *a, const porra_change_t *c, app_result_t *r)
{
    char rec[PORRA_CHANGE_MAX];
    app_version_t *next = with_porra_change(a, c, r);
    if (next == NULL || commit(a, next, rec, porra_change_encode(c, rec, sizeof(rec)), r) != 0)
        return NULL;
    return app_version_ref(next);
}

/* ---- milestones ---- */

void app_hitos_all(app_t *a, app_result_t *r)
{
    size_t len;
    app_version_t *v = app_acquire(a);
    of_hitos(r, v->hitos);
    app_answer_in(r, APP_OK, v, hito_all_json(v->hitos, &len), &len);
}

void app_hitos_list(app_t *a, app_result_t *r)
{
    size_t len;
    app_version_t *v = app_acquire(a);
    of_hitos(r, v->hitos);
    app_answer_in(r, APP_OK, v, hito_list_json(v->hitos, &len), &len);
}

void app_hito_get(app_t *a, const char *id, int wrap, app_result_t *r)
{
    long i;
    size_t len;
    if (hito_index_parse(id, &i) != 0) {
        app_fail(r, APP_BAD_PATH, "id: must be a milestone index: 0, or decimal digits without sign or leading zeros");
        return;
    }
    app_version_t *v = app_acquire(a);
    const char *h = hito_json(v->hitos, (size_t)i, &len);
    if (h == NULL) {
        app_fail(r, APP_NOT_FOUND, "no milestone with index %s (there are %zu)", id, hito_count(v->hitos));
        app_version_release(v);
    } else if (wrap) {
        jsonw_t w = JSONW_INIT;
        of_hitos(r, v->hitos);
        jsonw_lit(&w, "{\"hito\":");
        jsonw_raw(&w, h, len);
        jsonw_raw(&w, "}", 1);
        app_version_release(v);
        char *body = jsonw_finish(&w, &len);
        app_answer_owned(r, APP_OK, body, len);
    } else {
        of_hitos(r, v->hitos);
        app_answer_in(r, APP_OK, v, h, &len);
    }
}

/* POST /hitos, or (restore) the import of an exported milestone. */
static int hito_add(app_t *a, const char *body, size_t len, int restore, app_result_t *r)
{
    hito_change_t c;
    char rec[HITO_CHANGE_MAX];
    if (a->remote != NULL)
        return app_remote_hito_add(a, body, len, restore, r);
    json_t *b = app_parse_body(body, len, r->err, sizeof(r->err));
    if (b == NULL) {
        r->status = APP_BAD_BODY;
        return 0;
    }
    app_version_t *next = NULL;
    pthread_mutex_lock(&a->writer);
    switch ((restore ? hito_plan_restore : hito_plan_add)(a->head->hitos, b, &c, r->err, sizeof(r->err))) {
    case HITO_INVALID:
        r->status = APP_BAD_BODY;
        break;
    case HITO_EXISTS:
        r->status = APP_CONFLICT;
        r->ticket = observed(a);
        break;
    case HITO_OK: {
        if (!room(a, &a->limits.hitos, hito_count(a->head->hitos), "MAX_HITOS", "milestones", r))
            break;
        hito_db_t *h = hito_db_ref(a->head->hitos);
        long index = hito_db_apply(&h, &c, r->err, sizeof(r->err));
        if (index < 0) {
            hito_db_release(h);
            r->status = APP_UNAVAILABLE;
            break;
        }
        next = app_version_new(porra_db_ref(a->head->porras), h);
        if (next == NULL) {
            app_fail(r, APP_UNAVAILABLE, "out of memory");
        } else if (commit(a, next, rec, hito_change_encode(&c, rec, sizeof(rec)), r) == 0) {
            r->index = index;
            app_version_ref(next);
        } else {
            next = NULL;
        }
        break;
    }
    }
    pthread_mutex_unlock(&a->writer);
    json_decref(b);
    if (next != NULL)
        app_answer_in(r, APP_CREATED, next, hito_json(next->hitos, (size_t)r->index, &len), &len);
    return 0;
}

int app_hito_add(app_t *a, const char *body, size_t len, app_result_t *r)
{
    return hito_add(a, body, len, 0, r);
}

int app_hito_restore(app_t *a, const char *body, size_t len, app_result_t *r)
{
    return hito_add(a, body, len, 1, r);
}

/* ---- pools ---- */

int app_porra_create(app_t *a, const char *local, const char *visitante, const char *competition, const char *year, app_result_t *r)
{
    porra_change_t c;
    char id[PORRA_ID_MAX + 1];
    app_version_t *v = NULL;
    app_status_t st = APP_OK;
    if (a->remote != NULL)
        return app_remote_create(a, (const char *[]){local, visitante, competition, year}, r);
    snprintf(id, sizeof(id), "%s-%s-%s-%s", local, visitante, competition, year);
    pthread_mutex_lock(&a->writer);
    switch (porra_plan_create(a->head->porras, local, visitante, competition, year, &c, r->err, sizeof(r->err))) {
    case PORRA_CREATED:
        if (!room(a, &a->limits.pools, porra_count(a->head->porras), "MAX_POOLS", "pools", r))
            break;
        v = write_porra(a, &c, r);
        st = APP_CREATED;
        break;
    case PORRA_OK:
        /* it may have been created by a write not on disk yet: this 200 waits for that write too */
        r->ticket = observed(a);
        v = app_version_ref(a->head);
        break;
    default:
        r->status = APP_BAD_PATH;
    }
    pthread_mutex_unlock(&a->writer);
    if (v != NULL)
        app_answer_pool(r, st, v, id);
    return 0;
}

void app_porra_get(app_t *a, const char *id, app_result_t *r)
{
    if (!app_id_ok(id, r))
        return;
    app_version_t *v = app_acquire(a);
    if (porra_find(v->porras, id) == NULL) {
        app_fail(r, APP_NOT_FOUND, "no pool with that ID");
        app_version_release(v);
        return;
    }
    app_answer_pool(r, APP_OK, v, id);
}

/* Whether pool `id` of the head is not at a version the writer expects; then r is set to
 * APP_STALE. Under the writer mutex. */
int app_stale(const porra_db_t *db, const char *id, const app_match_t *m, app_result_t *r)
{
    if (m == NULL || !m->given)
        return 0;
    const porra_t *p = porra_find(db, id);
    for (size_t i = 0; p != NULL && i < m->n; i++)
        if (m->versions[i] == porra_version(p))
            return 0;
    if (p != NULL && m->any)
        return 0;
    if (p == NULL)
        app_fail(r, APP_STALE, "no pool with that ID, and a version of it was expected (If-Match)");
    else
        app_fail(r, APP_STALE, "the pool has changed since the version expected (If-Match): read it again");
    return 1;
}

int app_porra_delete(app_t *a, const char *id, const app_match_t *match, app_result_t *r)
{
    porra_change_t c;
    if (!app_id_ok(id, r))
        return 0;
    if (a->remote != NULL)
        return app_remote_delete(a, id, match, r);
    pthread_mutex_lock(&a->writer);
    if (app_stale(a->head->porras, id, match, r)) {
        r->ticket = observed(a); /* the version it saw may be in pending changes alone */
    } else if (porra_plan_delete(a->head->porras, id, &c) != PORRA_OK) {
        app_fail(r, APP_NOT_FOUND, "no pool with that ID");
        r->ticket = observed(a);
    } else {
        app_version_t *v = write_porra(a, &c, r);
        if (v != NULL)
            r->status = APP_DELETED;
        app_version_release(v);
    }
    pthread_mutex_unlock(&a->writer);
    return 0;
}

/* PUT of a score (a bet when quien is given, else the result), checked in the API's order. */
static int put_score(app_t *a, const char *id, const char *quien, const char *body, size_t len, const app_match_t *match,
                     app_result_t *r)
{
    char berr[256];
    int gl = 0, gv = 0;
    porra_change_t c;
    if (!app_id_ok(id, r))
        return 0;
    if (quien != NULL && !porra_segment_ok(quien, 1, berr, sizeof(berr))) {
        app_fail(r, APP_BAD_PATH, "quien: %s", berr);
        return 0;
    }
    json_t *b = app_parse_body(body, len, berr, sizeof(berr));
    int body_ok = b != NULL && porra_score_parse(b, &gl, &gv, berr, sizeof(berr)) == 0;
    json_decref(b);
    if (a->remote != NULL) /* berr goes with it: the write copies what it needs of it */
        return app_remote_score(a, id, quien, body_ok ? NULL : berr, gl, gv, match, r);
    app_version_t *v = NULL;
    porra_status_t st = PORRA_NOT_FOUND;
    pthread_mutex_lock(&a->writer);
    if (app_stale(a->head->porras, id, match, r)) {
        r->ticket = observed(a);
    } else if (porra_find(a->head->porras, id) == NULL) {
        app_fail(r, APP_NOT_FOUND, "no pool with that ID");
        r->ticket = observed(a);
    } else if (!body_ok) {
        app_fail(r, APP_BAD_BODY, "%s", berr);
        r->ticket = observed(a); /* the pool it found may exist in pending changes alone */
    } else {
        st = quien != NULL ? porra_plan_bet(a->head->porras, id, quien, gl, gv, &c, r->err, sizeof(r->err))
                           : porra_plan_result(a->head->porras, id, gl, gv, &c, r->err, sizeof(r->err));
        if (st == PORRA_CLOSED || st == PORRA_INVALID) {
            if (st == PORRA_CLOSED)
                app_fail(r, APP_CONFLICT, "betting is closed: the result is set");
            else
                r->status = APP_BAD_BODY;
            r->ticket = observed(a);
        } else if (st == PORRA_CREATED && !room(a, &a->limits.bets_per_pool, porra_bets(porra_find(a->head->porras, id)),
                                                "MAX_BETS_PER_POOL", "bets in this pool", r)) {
            /* refused: r says why */
        } else {
            v = write_porra(a, &c, r);
        }
    }
    pthread_mutex_unlock(&a->writer);
    if (v == NULL)
        return 0;
    if (quien == NULL) {
        app_answer_pool(r, APP_OK, v, id);
        return 0;
    }
    uint64_t version = porra_version(porra_find(v->porras, id));
    app_version_release(v); /* a bet answers with itself: a pool may hold thousands */
    app_answer_bet(r, st == PORRA_CREATED ? APP_CREATED : APP_OK, id, quien, gl, gv, version);
    return 0;
}

void app_answer_bet(app_result_t *r, app_status_t status, const char *id, const char *quien, int gl, int gv, uint64_t version)
{
    size_t len;
    jsonw_t w = JSONW_INIT;
    app_bet_json(&w, id, quien, gl, gv);
    char *out = jsonw_finish(&w, &len);
    app_answer_owned(r, status, out, len);
    r->of = APP_OF_POOL, r->version = version; /* the pool's, for the writer's next If-Match */
}

void app_bet_json(jsonw_t *w, const char *id, const char *quien, int local, int visitante)
{
    jsonw_lit(w, "{\"ID\":");
    jsonw_str(w, id, strlen(id));
    jsonw_lit(w, ",\"quien\":");
    jsonw_str(w, quien, strlen(quien));
    jsonw_lit(w, ",\"local\":");
    jsonw_int(w, local);
    jsonw_lit(w, ",\"visitante\":");
    jsonw_int(w, visitante);
    jsonw_raw(w, "}", 1);
}

int app_porra_bet(app_t *a, const char *id, const char *quien, const char *body, size_t len, const app_match_t *match,
                  app_result_t *r)
{
    return put_score(a, id, quien, body, len, match, r);
}

int app_porra_result(app_t *a, const char *id, const char *body, size_t len, const app_match_t *match, app_result_t *r)
{
    return put_score(a, id, NULL, body, len, match, r);
}

void app_porra_winners(app_t *a, const char *id, app_result_t *r)
{
    char *out;
    size_t len;
    if (!app_id_ok(id, r))
        return;
    app_version_t *v = app_acquire(a);
    const porra_t *p = porra_find(v->porras, id);
    if (p == NULL)
        app_fail(r, APP_NOT_FOUND, "no pool with that ID");
    else if (porra_winners_json(p, &out, &len) == PORRA_NO_RESULT)
        app_fail(r, APP_CONFLICT, "no result yet: set it with PUT /porras/{ID}/resultado");
    else {
        app_answer_owned(r, APP_OK, out, len);
        r->of = APP_OF_POOL, r->version = porra_version(p);
    }
    app_version_release(v);
}
