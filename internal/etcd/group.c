/* Transactions sent together (group commit). While a request is on its way to etcd, the
 * transactions other threads start queue up; the next request carries as many of them as may
 * share it, each nested with its own compares and branches. etcd applies the request as one
 * entry of its log, at one revision: n writers cost about one round trip and one commit instead
 * of n. Two transactions share a request only when they are independent (etcd_txn_independent):
 * neither then sees the other's writes, and each gets the outcome it would get alone (the
 * revision is the request's). The oldest waiting thread, when no request is on its way, sends its
 * own transaction and those queued behind it; the others wait for it, each no longer than its
 * own timeout, so no thread of its own is needed and a lone writer pays nothing. One request at
 * a time makes the groups largest: under load that measured faster than several smaller ones. */
#include "etcd/etcd_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX   64           /* transactions in one request: etcd allows 128 operations a level */
#define GROUP_BYTES (384 * 1024) /* their keys and values: under 1.5 MiB, etcd's bound, once encoded */

typedef struct pending {
    etcd_txn_t t;
    size_t bytes;
    int64_t deadline; /* etcd_clock_ms() by which the caller must have its answer */
    etcd_txn_result_t *r;
    char *err;
    size_t errlen;
    int rc, taken, done; /* taken: in the request on its way */
    pthread_cond_t cond;
    struct pending *next;
} pending_t;

struct etcd_group {
    pthread_mutex_t mu;
    pending_t *head, **tail;
    int sending; /* a request is on its way: newcomers queue */
};

etcd_group_t *etcd_group_new(void)
{
    etcd_group_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->tail = &g->head;
    return g;
}

void etcd_group_free(etcd_group_t *g)
{
    if (g != NULL)
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
        *batch[i]->r = r[i];
    return rc;
}

/* Sends batch and hands each transaction its answer. When etcd does not take the request of
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
            etcd_seterr(batch[i]->err, batch[i]->errlen, "%s%s%s", err, n > 1 ? "; alone: " : "", n > 1 ? alone : "");
    }
}

/* me, the oldest waiting, leads: it takes itself and then, oldest first, every queued transaction
 * that may share its request, sends them with g unlocked, and wakes them and the next oldest.
 * Called and returns with g locked. */
static void lead(etcd_t *e, etcd_group_t *g, pending_t *me)
{
    pending_t *batch[GROUP_MAX];
    size_t n = 1, bytes = me->bytes;
    batch[0] = take(g, &g->head);
    for (pending_t **pp = &g->head; *pp != NULL && n < GROUP_MAX;) {
        pending_t *p = *pp;
        int fits = bytes + p->bytes <= GROUP_BYTES;
        for (size_t i = 0; fits && i < n; i++)
            fits = etcd_txn_independent(&p->t, &batch[i]->t);
        if (!fits) {
            pp = &p->next;
            continue;
        }
        batch[n++] = take(g, pp);
        bytes += p->bytes;
    }
    for (size_t i = 0; i < n; i++)
        batch[i]->taken = 1;
    g->sending = 1;
    pthread_mutex_unlock(&g->mu);
    send_batch(e, batch, n);
    pthread_mutex_lock(&g->mu);
    g->sending = 0;
    for (size_t i = 0; i < n; i++) {
        batch[i]->done = 1;
        pthread_cond_signal(&batch[i]->cond);
    }
    if (g->head != NULL)
        pthread_cond_signal(&g->head->cond);
}

/* me's deadline passed before any request took it: out of the queue, never sent. */
static void give_up(etcd_group_t *g, pending_t *me)
{
    pending_t **pp = &g->head;
    while (*pp != me)
        pp = &(*pp)->next;
    take(g, pp);
    if (pp == &g->head && g->head != NULL && !g->sending)
        pthread_cond_signal(&g->head->cond);
    me->rc = -1;
    me->done = 1;
    etcd_seterr(me->err, me->errlen, "not sent: etcd was still busy with the transactions before it");
}

int etcd_txn(etcd_t *e, const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail,
             int timeout_ms, etcd_txn_result_t *r, char *err, size_t errlen)
{
    etcd_group_t *g = etcd_group_of(e);
    pending_t me = {.t = {.cmp = cmp, .ncmp = ncmp, .ok = ok, .nok = nok, .fail = fail, .nfail = nfail},
                    .deadline = etcd_clock_ms() + (timeout_ms > 0 ? timeout_ms : 0),
                    .r = r,
                    .err = err,
                    .errlen = errlen};
    me.bytes = txn_bytes(&me.t);
    *r = (etcd_txn_result_t){0};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* etcd_clock_ms's */
    pthread_cond_init(&me.cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&g->mu);
    *g->tail = &me;
    g->tail = &me.next;
    while (!me.done) {
        if (!me.taken && !g->sending && g->head == &me) {
            lead(e, g, &me);
            continue;
        }
        if (me.taken) { /* in a request sent within its deadline: the leader wakes it */
            pthread_cond_wait(&me.cond, &g->mu);
            continue;
        }
        struct timespec until = {.tv_sec = (time_t)(me.deadline / 1000), .tv_nsec = (long)(me.deadline % 1000) * 1000000};
        if (pthread_cond_timedwait(&me.cond, &g->mu, &until) == ETIMEDOUT && !me.taken)
            give_up(g, &me);
    }
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&me.cond);
    return me.rc;
}
