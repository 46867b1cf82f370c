#include "app/app.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hito/hito.h"
#include "porra/porra.h"
#include "store/store.h"

/* An answer shared by every request that reads it until the data changes: no copy per request. */
typedef struct blob {
    unsigned refs;
    size_t len;
    char data[];
} blob_t;

struct app {
    app_opts_t o;
    char *hitos_file;
    pthread_rwlock_t lock;
    hito_db_t *hitos;
    porra_db_t *porras;
    store_t *store;
    void (*durable)(void *ctx, uint64_t upto, int ok);
    void *durable_ctx;
    pthread_mutex_t cache_lock; /* readers fill the cache under the read lock */
    blob_t *list_cache;         /* GET /porras, serialised; NULL when stale */
};

static void warn(app_t *a, const char *msg)
{
    if (a->o.warn != NULL)
        a->o.warn(msg);
}

static void store_warn(void *ctx, const char *msg) { warn(ctx, msg); }

/* Applies a change record to the state; returns the new milestone's index for hito.add, 0 for
 * other changes, -1 with err when the record cannot apply. */
static long apply(app_t *a, const json_t *change, char *err, size_t errlen)
{
    const char *op = json_string_value(json_object_get(change, "op"));
    if (op != NULL && strncmp(op, "hito.", 5) == 0)
        return hito_apply(a->hitos, change, err, errlen);
    if (op != NULL && strncmp(op, "porra.", 6) == 0)
        return porra_apply(a->porras, change, err, errlen);
    snprintf(err, errlen, "unknown change %s", op != NULL ? op : "(no op)");
    return -1;
}

static int replay(void *ctx, const char *rec, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *change = json_loadb(rec, len, 0, &je);
    if (change == NULL) {
        snprintf(err, errlen, "not JSON: %s", je.text);
        return -1;
    }
    long rc = apply(ctx, change, err, errlen);
    json_decref(change);
    return rc < 0 ? -1 : 0;
}

static int dump_one(void *ctx, json_t *change)
{
    char *buf = json_dumps(change, JSON_COMPACT);
    int rc = buf != NULL ? store_dump_record(ctx, buf, strlen(buf)) : -1;
    free(buf);
    return rc;
}

static int dump(void *ctx, store_t *s)
{
    app_t *a = ctx;
    return hito_dump(a->hitos, dump_one, s) == 0 && porra_dump(a->porras, dump_one, s) == 0 ? 0 : -1;
}

void app_blob_release(void *p)
{
    blob_t *b = p;
    if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

void app_result_release(app_result_t *r)
{
    if (r->blob != NULL)
        app_blob_release(r->blob);
    else
        free(r->body);
    r->blob = NULL, r->body = NULL;
}

static void invalidate(app_t *a)
{
    app_blob_release(a->list_cache);
    a->list_cache = NULL;
}

/* Rebuilds the state from what is on disk after a failed fsync, so nothing unacknowledged stays. */
static void recover(app_t *a)
{
    char err[256];
    pthread_rwlock_wrlock(&a->lock);
    hito_db_t *h = hito_db_load(a->hitos_file, err, sizeof(err));
    if (h != NULL) {
        hito_db_free(a->hitos);
        a->hitos = h;
    } else {
        warn(a, err); /* the milestones stay as they were, unacknowledged additions included */
    }
    porra_db_free(a->porras);
    a->porras = porra_db_new();
    invalidate(a);
    if (store_recover(a->store, err, sizeof(err)) != 0)
        warn(a, err);
    pthread_rwlock_unlock(&a->lock);
    warn(a, "journal write failed: unacknowledged changes were dropped and the state reloaded from disk");
}

static void on_durable(void *ctx, uint64_t upto, int ok)
{
    app_t *a = ctx;
    void (*durable)(void *, uint64_t, int) = __atomic_load_n(&a->durable, __ATOMIC_ACQUIRE);
    if (!ok)
        recover(a);
    if (durable != NULL)
        durable(a->durable_ctx, upto, ok);
}

app_t *app_open(const app_opts_t *opts, int *bad_input, char *err, size_t errlen)
{
    app_t *a = calloc(1, sizeof(*a));
    a->o = *opts;
    a->hitos_file = strdup(opts->hitos_file != NULL ? opts->hitos_file : "");
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->cache_lock, NULL);
    *bad_input = 1;
    if ((a->hitos = hito_db_load(a->hitos_file, err, errlen)) == NULL || (a->porras = porra_db_new()) == NULL) {
        app_close(a);
        return NULL;
    }
    *bad_input = 0;
    store_opts_t so = {.dir = opts->data_dir, .compact_bytes = opts->compact_bytes, .replay = replay,
                       .warn = store_warn, .durable = on_durable, .ctx = a};
    if ((a->store = store_open(&so, err, errlen)) == NULL) {
        app_close(a);
        return NULL;
    }
    return a;
}

void app_on_durable(app_t *a, void (*cb)(void *ctx, uint64_t upto, int ok), void *ctx)
{
    a->durable_ctx = ctx;
    __atomic_store_n(&a->durable, cb, __ATOMIC_RELEASE);
}

int app_writable(app_t *a) { return store_writable(a->store); }

void app_stats(app_t *a, app_stats_t *out)
{
    store_stats_t st;
    store_stats(a->store, &st);
    pthread_rwlock_rdlock(&a->lock);
    out->porras = porra_count(a->porras);
    out->hitos = hito_count(a->hitos);
    pthread_rwlock_unlock(&a->lock);
    out->appends = st.appends, out->fsyncs = st.fsyncs, out->journal_bytes = st.journal_bytes;
    out->writable = st.writable;
}

void app_close(app_t *a)
{
    if (a == NULL)
        return;
    store_close(a->store);
    hito_db_free(a->hitos);
    porra_db_free(a->porras);
    invalidate(a);
    free(a->hitos_file);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->cache_lock);
    free(a);
}

/* ---- answers ---- */

static void set(app_result_t *r, app_status_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set(app_result_t *r, app_status_t status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

/* Serialises j into r as the answer (j is borrowed). */
static void answer(app_result_t *r, app_status_t status, const json_t *j)
{
    r->status = status;
    r->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    r->len = r->body != NULL ? strlen(r->body) : 0;
}

/* Parses a request body; NULL with a message naming it when it is not JSON. */
static json_t *parse_body(const char *body, size_t len, char *err, size_t errlen)
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

/* Journals and applies `change` (the write lock is held). Returns the apply result (a milestone's
 * index, or 0), or -1 with r set to APP_UNAVAILABLE when the journal refused it. */
static long commit(app_t *a, json_t *change, app_result_t *r)
{
    char *buf = json_dumps(change, JSON_COMPACT), err[256];
    uint64_t t = buf != NULL ? store_append(a->store, buf, strlen(buf), r->err, sizeof(r->err)) : 0;
    free(buf);
    if (t == 0) {
        r->status = APP_UNAVAILABLE;
        return -1;
    }
    long applied = apply(a, change, err, sizeof(err));
    if (applied < 0)
        warn(a, err); /* plan and apply disagree: the journal holds it, replay will refuse it too */
    r->ticket = t;
    invalidate(a);
    if (store_should_compact(a->store) && store_compact(a->store, dump, a, err, sizeof(err)) != 0)
        warn(a, err);
    return applied;
}

/* ---- milestones ---- */

void app_hitos_all(app_t *a, app_result_t *r)
{
    pthread_rwlock_rdlock(&a->lock);
    json_t *j = json_pack("{s:o}", "hitos", hito_all(a->hitos));
    answer(r, APP_OK, j);
    pthread_rwlock_unlock(&a->lock);
    json_decref(j);
}

void app_hitos_list(app_t *a, app_result_t *r)
{
    pthread_rwlock_rdlock(&a->lock);
    answer(r, APP_OK, hito_list(a->hitos));
    pthread_rwlock_unlock(&a->lock);
}

void app_hito_get(app_t *a, const char *id, int wrap, app_result_t *r)
{
    long i;
    if (hito_index_parse(id, &i) != 0) {
        const char *digits = id + (id[0] == '-');
        if (digits[0] != '\0' && strspn(digits, "0123456789") == strlen(digits)) /* an integer too large for a long */
            set(r, APP_NOT_FOUND, "no milestone with index %s", id);
        else
            set(r, APP_BAD_PATH, "id: must be an integer");
        return;
    }
    pthread_rwlock_rdlock(&a->lock);
    json_t *h = i >= 0 ? hito_get(a->hitos, (size_t)i) : NULL;
    if (h == NULL) {
        set(r, APP_NOT_FOUND, "no milestone with index %ld (there are %zu)", i, hito_count(a->hitos));
    } else if (wrap) {
        json_t *j = json_pack("{s:O}", "hito", h);
        answer(r, APP_OK, j);
        json_decref(j);
    } else {
        answer(r, APP_OK, h);
    }
    pthread_rwlock_unlock(&a->lock);
}

void app_hito_add(app_t *a, const char *body, size_t len, app_result_t *r)
{
    json_t *b = parse_body(body, len, r->err, sizeof(r->err)), *change = NULL;
    if (b == NULL) {
        r->status = APP_BAD_BODY;
        return;
    }
    pthread_rwlock_wrlock(&a->lock);
    switch (hito_plan_add(a->hitos, b, &change, r->err, sizeof(r->err))) {
    case HITO_INVALID:
        r->status = APP_BAD_BODY;
        break;
    case HITO_EXISTS:
        r->status = APP_CONFLICT;
        break;
    case HITO_OK:
        if ((r->index = commit(a, change, r)) >= 0)
            answer(r, APP_CREATED, hito_get(a->hitos, (size_t)r->index));
        break;
    }
    pthread_rwlock_unlock(&a->lock);
    json_decref(change);
    json_decref(b);
}

/* ---- pools ---- */

void app_porra_create(app_t *a, const char *local, const char *visitante, const char *competition,
                      const char *year, app_result_t *r)
{
    json_t *change = NULL;
    char id[4 * PORRA_SEGMENT_MAX + 4];
    snprintf(id, sizeof(id), "%s-%s-%s-%s", local, visitante, competition, year);
    pthread_rwlock_wrlock(&a->lock);
    switch (porra_plan_create(a->porras, local, visitante, competition, year, &change, r->err, sizeof(r->err))) {
    case PORRA_CREATED:
        if (commit(a, change, r) >= 0)
            answer(r, APP_CREATED, porra_get(a->porras, id));
        break;
    case PORRA_OK:
        /* it may have been created by a write not on disk yet: this 200 waits for that write too */
        r->ticket = store_last_ticket(a->store);
        answer(r, APP_OK, porra_get(a->porras, id));
        break;
    default:
        r->status = APP_BAD_PATH;
    }
    pthread_rwlock_unlock(&a->lock);
    json_decref(change);
}

void app_porras_list(app_t *a, app_result_t *r)
{
    pthread_rwlock_rdlock(&a->lock);
    pthread_mutex_lock(&a->cache_lock);
    if (a->list_cache == NULL) {
        size_t len = json_dumpb(porra_list(a->porras), NULL, 0, JSON_COMPACT);
        if ((a->list_cache = malloc(sizeof(blob_t) + len)) != NULL) {
            a->list_cache->refs = 1; /* the cache's own */
            a->list_cache->len = json_dumpb(porra_list(a->porras), a->list_cache->data, len, JSON_COMPACT);
        }
    }
    r->status = APP_OK;
    if (a->list_cache != NULL) {
        __atomic_add_fetch(&a->list_cache->refs, 1, __ATOMIC_RELAXED);
        r->blob = a->list_cache;
        r->body = a->list_cache->data;
        r->len = a->list_cache->len;
    }
    pthread_mutex_unlock(&a->cache_lock);
    pthread_rwlock_unlock(&a->lock);
}

void app_porra_get(app_t *a, const char *id, app_result_t *r)
{
    pthread_rwlock_rdlock(&a->lock);
    json_t *p = porra_get(a->porras, id);
    if (p == NULL)
        set(r, APP_NOT_FOUND, "no pool with that ID");
    else
        answer(r, APP_OK, p);
    pthread_rwlock_unlock(&a->lock);
}

void app_porra_delete(app_t *a, const char *id, app_result_t *r)
{
    json_t *change = NULL;
    pthread_rwlock_wrlock(&a->lock);
    if (porra_plan_delete(a->porras, id, &change, r->err, sizeof(r->err)) != PORRA_OK)
        set(r, APP_NOT_FOUND, "no pool with that ID");
    else if (commit(a, change, r) >= 0)
        r->status = APP_DELETED;
    pthread_rwlock_unlock(&a->lock);
    json_decref(change);
}

/* PUT of a score (a bet when quien is given, else the result), checked in the API's order. */
static void put_score(app_t *a, const char *id, const char *quien, const char *body, size_t len, app_result_t *r)
{
    char berr[256];
    int gl = 0, gv = 0;
    json_t *change = NULL;
    if (quien != NULL && !porra_segment_ok(quien, 1, berr, sizeof(berr))) {
        set(r, APP_BAD_PATH, "quien: %s", berr);
        return;
    }
    json_t *b = parse_body(body, len, berr, sizeof(berr));
    if (b != NULL && porra_score_parse(b, &gl, &gv, berr, sizeof(berr)) != 0) {
        json_decref(b);
        b = NULL;
    }
    pthread_rwlock_wrlock(&a->lock);
    porra_status_t st = PORRA_NOT_FOUND;
    if (porra_get(a->porras, id) == NULL) {
        set(r, APP_NOT_FOUND, "no pool with that ID");
    } else if (b == NULL) {
        set(r, APP_BAD_BODY, "%s", berr);
    } else {
        st = quien != NULL ? porra_plan_bet(a->porras, id, quien, gl, gv, &change, r->err, sizeof(r->err))
                           : porra_plan_result(a->porras, id, gl, gv, &change, r->err, sizeof(r->err));
        if (st == PORRA_CLOSED)
            set(r, APP_CONFLICT, "betting is closed: the result is set");
        else if (st == PORRA_INVALID)
            r->status = APP_BAD_BODY;
        else if (commit(a, change, r) >= 0 && quien == NULL)
            answer(r, APP_OK, porra_get(a->porras, id));
    }
    pthread_rwlock_unlock(&a->lock);
    if (quien != NULL && r->ticket != 0) { /* a bet answers with itself: a pool may hold thousands */
        json_t *bet = json_pack("{s:s, s:s, s:i, s:i}", "ID", id, "quien", quien, "local", gl, "visitante", gv);
        answer(r, st == PORRA_CREATED ? APP_CREATED : APP_OK, bet);
        json_decref(bet);
    }
    json_decref(change);
    json_decref(b);
}

void app_porra_bet(app_t *a, const char *id, const char *quien, const char *body, size_t len, app_result_t *r)
{
    put_score(a, id, quien, body, len, r);
}

void app_porra_result(app_t *a, const char *id, const char *body, size_t len, app_result_t *r)
{
    put_score(a, id, NULL, body, len, r);
}

void app_porra_winners(app_t *a, const char *id, app_result_t *r)
{
    json_t *w = NULL;
    pthread_rwlock_rdlock(&a->lock);
    switch (porra_winners(a->porras, id, &w)) {
    case PORRA_OK:
        answer(r, APP_OK, w);
        break;
    case PORRA_NO_RESULT:
        set(r, APP_CONFLICT, "no result yet: set it with PUT /porras/{ID}/resultado");
        break;
    default:
        set(r, APP_NOT_FOUND, "no pool with that ID");
    }
    pthread_rwlock_unlock(&a->lock);
    json_decref(w);
}
