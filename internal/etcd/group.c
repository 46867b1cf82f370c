/* Transactions sent together (group commit). Transactions are queued, and the client's sender
 * thread sends them: while a request is on its way, the ones started meanwhile wait, and the next
 * request carries as many of them as may share it, each nested with its own compares and branches.
 * etcd applies the request as one entry of its log, at one revision: n writers cost about one
 * round trip and one commit instead of n. Two transactions share a request only when they are
 * independent (etcd_txn_independent): neither then sees the other's writes, and each gets the
 * outcome it would get alone (the revision is the request's). One request at a time makes the
 * groups largest: under load that measured faster than several smaller ones. The caller's thread
 * never waits for etcd (etcd_txn_start): an event loop can start a write and take the answer
 * later, with no thread of its own blocked on it. */
#include "etcd/etcd_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX   64           /* transactions in one request: etcd allows 128 operations a level */
#define GROUP_BYTES (384 * 1024) /* their keys and values: under 1.5 MiB, etcd's bound, once encoded */
#define QUEUE_MAX   4096         /* waiting: more than etcd takes in a timeout; beyond, refused at once */
#define SCAN_MAX    512          /* queued ones looked at for a request: the loops wait for the lock */

/* Why a transaction whose time was up before a request took it was never sent (so not applied). */
static const char NOT_SENT[] = "not sent: etcd was still busy with the transactions before it";

typedef struct pending {
    etcd_txn_t t;
    size_t bytes;
    int64_t deadline; /* etcd_clock_ms() by which the caller must have its answer */
    etcd_txn_cb cb;
    void *ctx;
    int rc;
    etcd_txn_result_t r;
    char err[512];
    struct pending *next;
} pending_t;

struct etcd_group {
    etcd_t *e;
    pthread_mutex_t mu;
    pthread_cond_t more; /* the sender's: something was queued, or stop */
    pending_t *head, **tail;
    size_t queued;
    int started, stop;
    pthread_t sender;
};

etcd_group_t *etcd_group_new(etcd_t *e)
{
    etcd_group_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->e = e;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->more, NULL);
    g->tail = &g->head;
    return g;
}

void etcd_group_free(etcd_group_t *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->more);
    pthread_mutex_unlock(&g->mu);
    if (g->started)
        pthread_join(g->sender, NULL); /* it empties the queue first */
    pthread_cond_destroy(&g->more);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* ---- independence ---- */

/* 1 when the keys (or, with a prefix, the ranges of keys) a and b share a key. */
static int overlap(const char *a, int a_prefix, const char *b, int b_prefix)
{
    if (a_prefix && strncmp(b, a, strlen(a)) == 0)
        return 1;
    if (b_prefix && strncmp(a, b, strlen(b)) == 0)
        return 1;
    return strcmp(a, b) == 0;
}

/* 1 when op (a write) touches a key that t compares or operates on. */
static int write_touches(const etcd_op_t *op, const etcd_txn_t *t)
{
    int prefix = op->kind == ETCD_OP_DELETE && op->prefix;
    for (size_t i = 0; i < t->ncmp; i++)
        if (overlap(op->key, prefix, t->cmp[i].key, t->cmp[i].prefix))
            return 1;
    for (size_t i = 0; i < t->nok + t->nfail; i++) {
        const etcd_op_t *o = i < t->nok ? &t->ok[i] : &t->fail[i - t->nok];
        if (overlap(op->key, prefix, o->key, o->kind != ETCD_OP_PUT && o->prefix))
            return 1;
    }
    return 0;
}

/* 1 when a writes a key b compares or operates on. */
static int writes_into(const etcd_txn_t *a, const etcd_txn_t *b)
{
    for (size_t i = 0; i < a->nok + a->nfail; i++) {
        const etcd_op_t *o = i < a->nok ? &a->ok[i] : &a->fail[i - a->nok];
        if (o->kind != ETCD_OP_RANGE && write_touches(o, b))
            return 1;
    }
    return 0;
}

int etcd_txn_independent(const etcd_txn_t *a, const etcd_txn_t *b)
{
    return !writes_into(a, b) && !writes_into(b, a);
}

/* ---- the queue ---- */

/* What t adds to a request, before encoding: its keys and values. */
static size_t txn_bytes(const etcd_txn_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncmp; i++)
        n += strlen(t->cmp[i].key);
    for (size_t i = 0; i < t->nok + t->nfail; i++) {
        const etcd_op_t *o = i < t->nok ? &t->ok[i] : &t->fail[i - t->nok];
        n += strlen(o->key) + (o->value != NULL ? strlen(o->value) : 0);
    }
    return n;
}

/* Takes *pp out of g's queue. */
static pending_t *take(etcd_group_t *g, pending_t **pp)
{
    pending_t *p = *pp;
    *pp = p->next;
    if (g->tail == &p->next)
        g->tail = pp;
    p->next = NULL;
    g->queued--;
    return p;
}

/* Sends transactions on their own (plain) or n of them nested in one request, within the time
 * the earliest deadline leaves, and fills in their answers. 0; -1 with err. */
static int send_txns(etcd_t *e, pending_t **batch, size_t n, char *err, size_t errlen)
{
    etcd_txn_t t[GROUP_MAX] = {{0}};
    etcd_txn_result_t r[GROUP_MAX];
    int64_t deadline = batch[0]->deadline;
    for (size_t i = 0; i < n; i++) {
        t[i] = batch[i]->t;
        deadline = batch[i]->deadline < deadline ? batch[i]->deadline : deadline;
    }
    int64_t left = deadline - etcd_clock_ms();
    if (left <= 0) {
        etcd_seterr(err, errlen, "not sent: no time left");
        return -1;
    }
    char *resp = NULL,
         *body = n == 1 ? etcd_txn_request(t->cmp, t->ncmp, t->ok, t->nok, t->fail, t->nfail) : etcd_txn_group_request(t, n);
    size_t len = 0;
    int rc = etcd_txn_send(e, body, (int)left, &resp, &len, err, errlen);
    if (rc == 0)
        rc = n == 1 ? etcd_parse_txn(resp, len, r, err, errlen) : etcd_parse_txn_group(resp, len, r, n, err, errlen);
    free(resp);
    for (size_t i = 0; rc == 0 && i < n; i++)
        batch[i]->r = r[i];
    return rc;
}

/* Sends batch and fills in each transaction's outcome. When etcd does not take the request of
 * several (a cluster with lower limits refuses it whole, and nothing of it is applied), each is
 * sent on its own in the time it has left, so one refused member cannot fail the others. */
static void send_batch(etcd_t *e, pending_t **batch, size_t n)
{
    char err[512] = "", alone[512] = "";
    int rc = send_txns(e, batch, n, err, sizeof(err));
    for (size_t i = 0; i < n; i++) {
        batch[i]->rc = rc;
        if (rc != 0 && n > 1)
            batch[i]->rc = send_txns(e, &batch[i], 1, alone, sizeof(alone));
        if (batch[i]->rc != 0)
            etcd_seterr(batch[i]->err, sizeof(batch[i]->err), "%s%s%s", err, n > 1 ? "; alone: " : "", n > 1 ? alone : "");
    }
}

/* Hands p its outcome and lets go of it. */
static void answer(pending_t *p)
{
    p->cb(p->ctx, p->rc, &p->r, p->err);
    etcd_txn_result_free(&p->r);
    free(p);
}

/* Takes the next request's transactions out of the queue into batch: the oldest, then, oldest
 * first, every queued one that may share its request, among the first SCAN_MAX. Those whose
 * deadline passed go to *late instead, never sent. Called with g locked; returns how many are in
 * batch. */
static size_t next_batch(etcd_group_t *g, pending_t **batch, pending_t **late)
{
    size_t n = 0, bytes = 0, looked = 0;
    int64_t now = etcd_clock_ms();
    for (pending_t **pp = &g->head; *pp != NULL && n < GROUP_MAX && looked++ < SCAN_MAX;) {
        pending_t *p = *pp;
        if (p->deadline <= now) {
            take(g, pp)->next = *late;
            *late = p;
            p->rc = -1;
            etcd_seterr(p->err, sizeof(p->err), "%s", NOT_SENT);
            continue;
        }
        int fits = n == 0 || bytes + p->bytes <= GROUP_BYTES;
        for (size_t i = 0; fits && i < n; i++)
            fits = etcd_txn_independent(&p->t, &batch[i]->t);
        if (fits) {
            batch[n++] = take(g, pp);
            bytes += p->bytes;
        } else {
            pp = &p->next;
        }
    }
    return n;
}

/* The sender thread: sends what is queued, a request at a time, until stopped with nothing left. */
static void *sender(void *arg)
{
    etcd_group_t *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (g->head == NULL && !g->stop)
            pthread_cond_wait(&g->more, &g->mu);
        if (g->head == NULL)
            break;
        pending_t *batch[GROUP_MAX], *late = NULL;
        size_t n = next_batch(g, batch, &late);
        pthread_mutex_unlock(&g->mu);
        while (late != NULL) {
            pending_t *next = late->next;
            answer(late);
            late = next;
        }
        if (n > 0)
            send_batch(g->e, batch, n);
        for (size_t i = 0; i < n; i++)
            answer(batch[i]);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int etcd_txn_start(etcd_t *e, const etcd_txn_t *t, int timeout_ms, etcd_txn_cb cb, void *ctx, char *err, size_t errlen)
{
    etcd_group_t *g = etcd_group_of(e);
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        etcd_seterr(err, errlen, "out of memory");
        return -1;
    }
    *p = (pending_t){.t = *t, .deadline = etcd_clock_ms() + (timeout_ms > 0 ? timeout_ms : 0), .cb = cb, .ctx = ctx};
    p->bytes = txn_bytes(&p->t);
    pthread_mutex_lock(&g->mu);
    if (!g->started && !g->stop)
        g->started = pthread_create(&g->sender, NULL, sender, g) == 0;
    const char *refused = g->stop                  ? "the etcd client is closing" /* its sender may be gone */
                          : !g->started            ? "cannot start the thread that sends transactions"
                          : g->queued >= QUEUE_MAX ? "too many transactions waiting for etcd"
                                                   : NULL;
    if (refused != NULL) {
        pthread_mutex_unlock(&g->mu);
        free(p);
        etcd_seterr(err, errlen, "%s", refused);
        return -1;
    }
    g->queued++;
    *g->tail = p;
    g->tail = &p->next;
    pthread_cond_signal(&g->more);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* ---- waiting for one ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done, rc;
    etcd_txn_result_t *r;
    char *err;
    size_t errlen;
} waiter_t;

static void wake(void *ctx, int rc, etcd_txn_result_t *r, const char *err)
{
    waiter_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    *w->r = *r;
    *r = (etcd_txn_result_t){0};
    etcd_seterr(w->err, w->errlen, "%s", err);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* Takes the transaction that would wake w out of the queue: 1; 0 when the sender has it. */
static int withdraw(etcd_group_t *g, waiter_t *w)
{
    int found = 0;
    pthread_mutex_lock(&g->mu);
    for (pending_t **pp = &g->head; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->ctx == w && (*pp)->cb == wake) {
            free(take(g, pp));
            found = 1;
            break;
        }
    pthread_mutex_unlock(&g->mu);
    return found;
}

int etcd_txn(etcd_t *e, const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail,
             int timeout_ms, etcd_txn_result_t *r, char *err, size_t errlen)
{
    waiter_t w = {.r = r, .err = err, .errlen = errlen};
    etcd_txn_t t = {.cmp = cmp, .ncmp = ncmp, .ok = ok, .nok = nok, .fail = fail, .nfail = nfail};
    int64_t deadline = etcd_clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000), .tv_nsec = (long)(deadline % 1000) * 1000000};
    pthread_condattr_t attr;
    *r = (etcd_txn_result_t){0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* etcd_clock_ms's */
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = etcd_txn_start(e, &t, timeout_ms, wake, &w, err, errlen), queued = rc == 0;
    pthread_mutex_lock(&w.mu);
    /* the sender answers a queued transaction when it is done with the request before; a caller
     * whose time is up first takes its own back, unsent. One the sender took is answered within
     * its request's deadline. */
    while (rc == 0 && !w.done) {
        if (!queued) {
            pthread_cond_wait(&w.cond, &w.mu);
        } else if (pthread_cond_timedwait(&w.cond, &w.mu, &until) == ETIMEDOUT && !w.done) {
            pthread_mutex_unlock(&w.mu);
            queued = 0;
            if (withdraw(etcd_group_of(e), &w)) {
                etcd_seterr(err, errlen, "%s", NOT_SENT);
                w.done = 1, w.rc = -1;
            }
            pthread_mutex_lock(&w.mu);
        }
    }
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return rc == 0 ? w.rc : -1;
}
