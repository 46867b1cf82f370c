/* Answers that another thread finishes: a job holds a request's answer until someone calls
 * hold_release, on any thread; each loop gets its finished jobs back through its own eventfd,
 * so a job's continuation always runs on the request's thread. A request that goes away
 * meanwhile only lets go of its data. */
#include "server/server_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct loopq loopq_t;

struct server_job {
    server_job_t *next;
    hold_t *h;
    loopq_t *q;
    h2o_req_t *req;        /* NULL once the request went away (on the loop's thread only) */
    server_job_t **marker; /* in the request's pool: how its disposal finds this job */
    server_work_done_cb done;
    void *data;
};

/* One loop's finished jobs: filled by any thread, emptied by the loop. */
struct loopq {
    loopq_t *next;
    pthread_mutex_t mu;
    server_job_t *first, **last;
    int fd;
    h2o_socket_t *sock;
};

struct hold {
    unsigned long id; /* which hold_new made it: a thread's queue serves that one alone */
    pthread_mutex_t mu;
    pthread_cond_t none; /* held reached 0 */
    size_t held;         /* jobs not released yet */
    loopq_t *queues;     /* every loop's, for hold_free */
};

/* This thread's queue, and the id of the hold it belongs to: a thread that runs a second server
 * after the first was freed must not find the first one's queue. */
static __thread loopq_t *this_loop;
static __thread unsigned long this_hold;
static atomic_ulong holds;

hold_t *hold_new(void)
{
    hold_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->id = atomic_fetch_add(&holds, 1) + 1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->none, NULL);
    return h;
}

static void deliver(server_job_t *j)
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
        /* nothing to read yet: the jobs below are taken anyway */
    }
    pthread_mutex_lock(&q->mu);
    server_job_t *j = q->first;
    q->first = NULL, q->last = &q->first;
    pthread_mutex_unlock(&q->mu);
    while (j != NULL) {
        server_job_t *next = j->next;
        deliver(j);
        j = next;
    }
}

/* This loop's queue, made on its first use (on the loop's own thread). */
static loopq_t *loop_queue(hold_t *h, h2o_req_t *req)
{
    if (this_loop != NULL && this_hold == h->id)
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
    pthread_mutex_lock(&h->mu);
    q->next = h->queues, h->queues = q;
    pthread_mutex_unlock(&h->mu);
    this_hold = h->id;
    return this_loop = q;
}

static void marker_dispose(void *p)
{
    server_job_t *j = *(server_job_t **)p;
    if (j != NULL)
        j->req = NULL;
}

server_job_t *hold_job(hold_t *h, h2o_req_t *req, server_work_done_cb done, void *data)
{
    loopq_t *q = loop_queue(h, req);
    server_job_t *j = q != NULL ? calloc(1, sizeof(*j)) : NULL;
    if (j == NULL)
        return NULL;
    *j = (server_job_t){.h = h, .q = q, .req = req, .done = done, .data = data};
    j->marker = h2o_mem_alloc_shared(&req->pool, sizeof(server_job_t *), marker_dispose);
    *j->marker = j;
    pthread_mutex_lock(&h->mu);
    h->held++;
    pthread_mutex_unlock(&h->mu);
    return j;
}

void hold_release(server_job_t *j)
{
    hold_t *h = j->h;
    loopq_t *q = j->q;
    uint64_t one = 1;
    pthread_mutex_lock(&q->mu);
    int idle = q->first == NULL; /* else the loop was woken already and takes this one too */
    j->next = NULL, *q->last = j, q->last = &j->next;
    pthread_mutex_unlock(&q->mu);
    if (idle && write(q->fd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the loop is being woken already */
    }
    pthread_mutex_lock(&h->mu);
    if (--h->held == 0)
        pthread_cond_broadcast(&h->none);
    pthread_mutex_unlock(&h->mu);
}

void hold_free(hold_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    while (h->held > 0) /* each is released within its work's own time limit */
        pthread_cond_wait(&h->none, &h->mu);
    pthread_mutex_unlock(&h->mu);
    for (loopq_t *q = h->queues, *next; q != NULL; q = next) {
        next = q->next;
        for (server_job_t *j = q->first, *jn; j != NULL; j = jn) {
            jn = j->next;
            j->done(NULL, j->data); /* its loop has stopped: nobody is there to answer */
            free(j);
        }
        close(q->fd);
        pthread_mutex_destroy(&q->mu);
        free(q);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->none);
    free(h);
}
