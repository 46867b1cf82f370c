/* Work that blocks, off the event loops: a pool of threads takes it from one queue, and each
 * loop gets its results back through its own eventfd, so a handler's continuation always runs
 * on the request's thread. A request that goes away meanwhile only lets go of its data. */
#include "server/server_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define OFFLOAD_STACK (256u << 10)

typedef struct job job_t;
typedef struct loopq loopq_t;

struct job {
    job_t *next;
    loopq_t *q;
    h2o_req_t *req; /* NULL once the request went away (on the loop's thread only) */
    job_t **marker; /* in the request's pool: how its disposal finds this job */
    server_work_cb work;
    server_work_done_cb done;
    void *data;
};

/* One loop's returns: filled by the pool, emptied by the loop. */
struct loopq {
    loopq_t *next;
    pthread_mutex_t mu;
    job_t *first, **last;
    int fd;
    h2o_socket_t *sock;
};

struct offload {
    pthread_mutex_t mu;
    pthread_cond_t more;
    job_t *first, **last;
    int stop, nthreads;
    loopq_t *queues; /* every loop's, for offload_free */
    pthread_t tid[];
};

static __thread loopq_t *this_loop;

static void deliver(job_t *j)
{
    if (j->req != NULL)
        *j->marker = NULL;
    j->done(j->req, j->data);
    free(j);
}

static void on_returns(h2o_socket_t *sock, const char *err)
{
    loopq_t *q = sock->data;
    uint64_t n;
    if (err != NULL || read(q->fd, &n, sizeof(n)) < 0) {
        /* nothing to read yet: the returns below are taken anyway */
    }
    pthread_mutex_lock(&q->mu);
    job_t *j = q->first;
    q->first = NULL, q->last = &q->first;
    pthread_mutex_unlock(&q->mu);
    while (j != NULL) {
        job_t *next = j->next;
        deliver(j);
        j = next;
    }
}

static void *run(void *arg)
{
    offload_t *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->first == NULL && !o->stop)
            pthread_cond_wait(&o->more, &o->mu);
        job_t *j = o->first;
        if (j != NULL && (o->first = j->next) == NULL)
            o->last = &o->first;
        pthread_mutex_unlock(&o->mu);
        if (j == NULL)
            return NULL;
        j->work(j->data);
        uint64_t one = 1;
        loopq_t *q = j->q;
        pthread_mutex_lock(&q->mu);
        j->next = NULL, *q->last = j, q->last = &j->next;
        pthread_mutex_unlock(&q->mu);
        if (write(q->fd, &one, sizeof(one)) < 0) {
            /* the counter is saturated: the loop is being woken already */
        }
    }
}

offload_t *offload_new(int threads)
{
    offload_t *o = calloc(1, sizeof(*o) + (size_t)threads * sizeof(pthread_t));
    if (o == NULL)
        return NULL;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->more, NULL);
    o->last = &o->first;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, OFFLOAD_STACK);
    for (; o->nthreads < threads; o->nthreads++)
        if (pthread_create(&o->tid[o->nthreads], &attr, run, o) != 0)
            break;
    pthread_attr_destroy(&attr);
    if (o->nthreads == 0) {
        free(o);
        return NULL;
    }
    return o;
}

/* This loop's queue, made on its first use (on the loop's own thread). */
static loopq_t *loop_queue(offload_t *o, h2o_req_t *req)
{
    if (this_loop != NULL)
        return this_loop;
    loopq_t *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    q->last = &q->first;
    q->sock = h2o_evloop_socket_create(req->conn->ctx->loop, q->fd, H2O_SOCKET_FLAG_DONT_READ);
    q->sock->data = q;
    h2o_socket_read_start(q->sock, on_returns);
    pthread_mutex_lock(&o->mu);
    q->next = o->queues, o->queues = q;
    pthread_mutex_unlock(&o->mu);
    return this_loop = q;
}

static void marker_dispose(void *p)
{
    job_t *j = *(job_t **)p;
    if (j != NULL)
        j->req = NULL;
}

void offload_submit(offload_t *o, h2o_req_t *req, server_work_cb work, server_work_done_cb done, void *data)
{
    loopq_t *q = loop_queue(o, req);
    job_t *j = q != NULL ? calloc(1, sizeof(*j)) : NULL;
    if (j == NULL) { /* out of memory: the work runs here, late rather than never */
        work(data);
        done(req, data);
        return;
    }
    *j = (job_t){.q = q, .req = req, .work = work, .done = done, .data = data};
    j->marker = h2o_mem_alloc_shared(&req->pool, sizeof(job_t *), marker_dispose);
    *j->marker = j;
    pthread_mutex_lock(&o->mu);
    *o->last = j, o->last = &j->next;
    pthread_cond_signal(&o->more);
    pthread_mutex_unlock(&o->mu);
}

void offload_free(offload_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = 1;
    pthread_cond_broadcast(&o->more);
    pthread_mutex_unlock(&o->mu);
    for (int i = 0; i < o->nthreads; i++)
        pthread_join(o->tid[i], NULL);
    for (loopq_t *q = o->queues, *next; q != NULL; q = next) {
        next = q->next;
        for (job_t *j = q->first, *jn; j != NULL; j = jn) {
            jn = j->next;
            j->done(NULL, j->data); /* its loop has stopped: nobody is there to answer */
            free(j);
        }
        close(q->fd);
        pthread_mutex_destroy(&q->mu);
        free(q);
    }
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->more);
    free(o);
}
