/* Transactions sent together (group commit). While a request is on its way to etcd, the
 * transactions other threads start queue up; the next request carries as many of them as may
 * share it, each nested with its own compares and branches. etcd applies the request as one
 * entry of its log, at one revision: n writers cost about one round trip and one commit instead
 * of n. Two transactions share a request only when they are independent (etcd_txn_independent):
 * neither then sees the other's writes, and each gets the answer it would get alone. The thread
 * that finds a free slot sends its own transaction and the queued ones; the others wait for it,
 * so no thread of its own is needed and a lone writer pays nothing. */
#include "etcd/etcd_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 64             /* transactions in one request; etcd's limit is 128 operations */
#define GROUP_BYTES (512 * 1024) /* their values together; etcd refuses requests of 1.5 MiB */
#define IN_FLIGHT 1              /* requests on their way at once: more would make them smaller */

typedef struct pending {
    etcd_txn_t t;
    size_t bytes;
    etcd_txn_result_t *r;
    char *err;
    size_t errlen;
    int rc, taken, done; /* taken: in a request on its way */
    pthread_cond_t cond;
    struct pending *next;
} pending_t;

struct etcd_group {
    pthread_mutex_t mu;
    pending_t *head, **tail;
    int in_flight;
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

static size_t value_bytes(const etcd_txn_t *t)
{
    size_t n = 0;
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
    p->taken = 1;
    return p;
}

/* Sends the n transactions of batch (one plain, several nested) and hands each its answer. */
static void send_batch(etcd_t *e, pending_t **batch, size_t n, int timeout_ms)
{
    etcd_txn_t t[GROUP_MAX] = {{0}};
    etcd_txn_result_t r[GROUP_MAX];
    char *resp = NULL, *err = batch[0]->err;
    size_t len = 0, errlen = batch[0]->errlen;
    for (size_t i = 0; i < n; i++)
        t[i] = batch[i]->t;
    const etcd_txn_t *one = &batch[0]->t;
    char *body = n == 1 ? etcd_txn_request(one->cmp, one->ncmp, one->ok, one->nok, one->fail, one->nfail)
                        : etcd_txn_group_request(t, n);
    int rc = etcd_txn_send(e, body, timeout_ms, &resp, &len, err, errlen);
    if (rc == 0)
        rc = n == 1 ? etcd_parse_txn(resp, len, r, err, errlen) : etcd_parse_txn_group(resp, len, r, n, err, errlen);
    free(resp);
    for (size_t i = 0; i < n; i++) {
        batch[i]->rc = rc;
        if (rc == 0)
            *batch[i]->r = r[i];
        else if (i > 0 && batch[i]->errlen > 0)
            etcd_seterr(batch[i]->err, batch[i]->errlen, "%s", err != NULL ? err : "");
    }
}

/* me leads: it takes itself and then, oldest first, every queued transaction that may share its
 * request, sends them with g unlocked, and wakes them. Called and returns with g locked. */
static void lead(etcd_t *e, etcd_group_t *g, pending_t *me, int timeout_ms)
{
    pending_t *batch[GROUP_MAX], **pp = &g->head;
    while (*pp != me)
        pp = &(*pp)->next;
    size_t n = 1, bytes = me->bytes;
    batch[0] = take(g, pp); /* first: its buffers carry the request's error */
    for (pp = &g->head; *pp != NULL && n < GROUP_MAX;) {
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
    if (++g->in_flight < IN_FLIGHT && g->head != NULL) /* what could not come along may go at once */
        pthread_cond_signal(&g->head->cond);
    pthread_mutex_unlock(&g->mu);
    send_batch(e, batch, n, timeout_ms);
    pthread_mutex_lock(&g->mu);
    g->in_flight--;
    for (size_t i = 0; i < n; i++) {
        batch[i]->done = 1;
        pthread_cond_signal(&batch[i]->cond);
    }
    if (g->head != NULL) /* a slot is free: the oldest waiting leads next */
        pthread_cond_signal(&g->head->cond);
}

int etcd_txn(etcd_t *e, const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok,
             const etcd_op_t *fail, size_t nfail, int timeout_ms, etcd_txn_result_t *r, char *err,
             size_t errlen)
{
    etcd_group_t *g = etcd_group_of(e);
    pending_t me = {.t = {.cmp = cmp, .ncmp = ncmp, .ok = ok, .nok = nok, .fail = fail, .nfail = nfail},
                    .r = r, .err = err, .errlen = errlen};
    me.bytes = value_bytes(&me.t);
    *r = (etcd_txn_result_t){0};
    pthread_cond_init(&me.cond, NULL);
    pthread_mutex_lock(&g->mu);
    *g->tail = &me;
    g->tail = &me.next;
    while (!me.done) {
        if (!me.taken && g->in_flight < IN_FLIGHT)
            lead(e, g, &me, timeout_ms);
        else
            pthread_cond_wait(&me.cond, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&me.cond);
    return me.rc;
}
