/* One STORE=etcd write as it runs (docs/architecture.md, "A write with `STORE=etcd`"): no thread
 * waits on it. Its first plan runs on the caller's thread, its transaction goes to etcd's sender
 * thread (etcd_txn_start), the view shows the outcome on the watch's thread (app_remote_when), and
 * the step that follows runs there; the answer goes to r->later. A caller without r->later waits
 * for the answer instead. What each kind of write plans and answers is remote_ops.c's. */
#include "app/app_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES       8    /* plans of one write; more means a hot spot: 503, ask again */
#define TXN_MS      2000 /* etcd's answer to one transaction, every endpoint together */
#define VIEW_MS     5000 /* the view showing a revision etcd acknowledged */
#define TAG_WAIT_MS 1000 /* the view reaching a version an If-Match names (read elsewhere) */

/* How a caller without r->later waits. */
typedef struct app_write_sync {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
} write_sync_t;

static void finish(app_write_t *w)
{
    app_result_t *r = w->r;
    write_sync_t *sync = w->sync;
    etcd_txn_result_free(&w->t.res);
    json_decref(w->body);
    free(w->text);
    free(w);
    if (sync == NULL) {
        r->later(r);
        return;
    }
    pthread_mutex_lock(&sync->mu);
    sync->done = 1;
    pthread_cond_signal(&sync->cond);
    pthread_mutex_unlock(&sync->mu);
}

static void busy(app_result_t *r)
{
    app_fail(r, APP_UNAVAILABLE, "the resource kept changing while this write was made: try again");
}

/* The newest mod_revision among what the failure branch read; 0 when it read nothing. */
static int64_t newest_read(const etcd_txn_result_t *res)
{
    int64_t m = 0;
    for (size_t i = 0; i < res->n; i++)
        for (size_t k = 0; res->ops[i].kvs != NULL && k < res->ops[i].n; k++)
            m = res->ops[i].kvs[k].mod_revision > m ? res->ops[i].kvs[k].mod_revision : m;
    return m;
}

static void on_txn(void *ctx, int rc, etcd_txn_result_t *res, const char *err);

/* Plans the next try and sends it, or answers. */
static void step(app_write_t *w)
{
    char why[400];
    if (w->tries++ >= TRIES) {
        busy(w->r);
        finish(w);
        return;
    }
    if (!w->kind->plan(w)) {
        finish(w);
        return;
    }
    app_txn_t *t = &w->t;
    etcd_txn_t send = {.cmp = t->cmp, .ncmp = t->ncmp, .ok = t->ok, .nok = t->nok, .fail = t->fail, .nfail = t->nfail};
    etcd_txn_result_free(&t->res);
    if (etcd_txn_start(w->a->remote->etcd, &send, TXN_MS, on_txn, w, why, sizeof(why)) != 0) {
        app_fail(w->r, APP_UNAVAILABLE, "the change was not sent to the store (etcd): %s", why);
        finish(w);
    }
}

/* The view shows what etcd answered (shown), or did not in time. */
static void on_view(app_later_t *l, int shown)
{
    app_write_t *w = (app_write_t *)l;
    int succeeded = w->t.res.succeeded;
    if (!shown) {
        app_fail(w->r, APP_UNAVAILABLE,
                 succeeded && !w->probe ? "the change was made, but this replica does not show it yet: read it again"
                                        : "this replica's view of the store is behind: try again");
    } else if (w->probe) { /* absent: the view was right; present: plan with the pool in view */
        w->probe = 0;
        if (!succeeded) {
            step(w);
            return;
        }
        app_fail(w->r, APP_NOT_FOUND, "no pool with that ID");
    } else if (succeeded) {
        w->kind->applied(w);
    } else if (w->kind->refused == NULL || w->kind->refused(w)) {
        step(w);
        return;
    }
    finish(w);
}

static void on_txn(void *ctx, int rc, etcd_txn_result_t *res, const char *err)
{
    app_write_t *w = ctx;
    if (rc != 0) {
        app_remote_health(w->a, APP_REMOTE_WRITE, 0, err);
        app_fail(w->r, APP_UNAVAILABLE, "the store (etcd) did not answer; the change was not acknowledged: %s", err);
        finish(w);
        return;
    }
    app_remote_health(w->a, APP_REMOTE_WRITE, 1, "");
    w->t.res = *res;
    *res = (etcd_txn_result_t){0};
    /* a success that wrote nothing (a probe finding the pool absent) has nothing to show: its
     * revision is the whole store's, which writes under other prefixes move past this view */
    int64_t want = !w->t.res.succeeded ? newest_read(&w->t.res) : w->t.nok > 0 ? w->t.res.revision : 0;
    app_remote_when(w->a->remote, &w->later, want, 1, VIEW_MS, on_view);
}

static void tags_seen(app_later_t *l, int shown)
{
    (void)shown; /* judged against whatever the view reached */
    step((app_write_t *)l);
}

/* An If-Match may name a version read on another replica, newer than this one's view: the view
 * is given a moment to reach it before the tag is judged. */
int app_write_run(app_write_t *w)
{
    write_sync_t sync = {.done = 0};
    uint64_t newest = 0;
    int later = w->r->later != NULL; /* w and r may be gone once it is started */
    if (!later) {
        pthread_mutex_init(&sync.mu, NULL);
        pthread_cond_init(&sync.cond, NULL);
        w->sync = &sync;
    }
    for (size_t i = 0; w->match != NULL && w->match->given && i < w->match->n; i++)
        newest = w->match->versions[i] > newest ? w->match->versions[i] : newest;
    if (newest > 0 && newest < INT64_MAX)
        app_remote_when(w->a->remote, &w->later, (int64_t)newest, 0, TAG_WAIT_MS, tags_seen);
    else
        step(w);
    if (later)
        return 1;
    pthread_mutex_lock(&sync.mu);
    while (!sync.done)
        pthread_cond_wait(&sync.cond, &sync.mu);
    pthread_mutex_unlock(&sync.mu);
    pthread_cond_destroy(&sync.cond);
    pthread_mutex_destroy(&sync.mu);
    return 0;
}

/* Small, as a write is allocated for each request: a large block costs the allocator pages given
 * back at every free. */
app_write_t *app_write_new(const app_write_kind_t *kind, app_t *a, app_result_t *r, size_t names)
{
    size_t keymax = a->remote->dlen + sizeof("hitofiles/") + sizeof("pools//bets/") + names;
    app_write_t *w = calloc(1, sizeof(*w) + 4 * keymax);
    if (w == NULL) {
        app_fail(r, APP_UNAVAILABLE, "out of memory");
        return NULL;
    }
    w->kind = kind, w->a = a, w->r = r, w->keymax = keymax;
    w->pool = w->keys, w->under = w->pool + keymax, w->key = w->under + keymax, w->result = w->key + keymax;
    return w;
}

int app_write_key(app_write_t *w, char *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = app_remote_vkey(w->a->remote, k, w->keymax, fmt, ap);
    va_end(ap);
    if (rc != 0)
        app_fail(w->r, APP_UNAVAILABLE, "ETCD_PREFIX is too long for this key");
    return rc;
}
