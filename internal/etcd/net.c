/* The client object and its connections: endpoints, name resolution and connect, all under a
 * deadline. */
#include "etcd/etcd_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"

#define HOST_MAX 256

typedef struct {
    char host[HOST_MAX];
    int port;
    char authority[HOST_MAX + 8]; /* the Host header: host:port, an IPv6 host in brackets */
    char name[HOST_MAX + 16];     /* http://authority */
} endpoint_t;

struct etcd {
    size_t n;
    atomic_size_t preferred; /* the endpoint that answered last */
    etcd_group_t *group;     /* transactions waiting to be sent together */
    endpoint_t ep[];
};

etcd_t *etcd_new(const char *endpoints, char *err, size_t errlen)
{
    if (!endpoints || !*endpoints) {
        etcd_seterr(err, errlen, "no etcd endpoint given");
        return NULL;
    }
    size_t n = 1;
    for (const char *p = endpoints; *p; p++)
        n += *p == ',';
    etcd_t *e = calloc(1, sizeof *e + n * sizeof e->ep[0]);
    if (!e) {
        etcd_seterr(err, errlen, "out of memory");
        return NULL;
    }
    e->n = n;
    if ((e->group = etcd_group_new(e)) == NULL) {
        etcd_seterr(err, errlen, "out of memory");
        free(e);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        endpoint_t *p = &e->ep[i];
        if (cfg_etcd_endpoint(endpoints, (int)i, p->host, sizeof p->host, &p->port) < 0) {
            etcd_seterr(err, errlen, "etcd endpoint %zu of \"%s\" is not http://host:port", i + 1, endpoints);
            etcd_free(e);
            return NULL;
        }
        snprintf(p->authority, sizeof p->authority, strchr(p->host, ':') ? "[%s]:%d" : "%s:%d", p->host, p->port);
        snprintf(p->name, sizeof p->name, "http://%s", p->authority);
    }
    return e;
}

void etcd_free(etcd_t *e)
{
    if (e != NULL)
        etcd_group_free(e->group);
    free(e);
}

etcd_group_t *etcd_group_of(etcd_t *e)
{
    return e->group;
}

size_t etcd_endpoint_count(const etcd_t *e)
{
    return e->n;
}

size_t etcd_endpoint_preferred(const etcd_t *e)
{
    return atomic_load_explicit(&e->preferred, memory_order_relaxed);
}

void etcd_endpoint_prefer(etcd_t *e, size_t i)
{
    if (i < e->n && atomic_load_explicit(&e->preferred, memory_order_relaxed) != i)
        atomic_store_explicit(&e->preferred, i, memory_order_relaxed);
}

const char *etcd_endpoint_name(const etcd_t *e, size_t i)
{
    return i < e->n ? e->ep[i].name : NULL;
}

int64_t etcd_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int etcd_canceled(const atomic_int *cancel)
{
    return cancel && *cancel;
}

int etcd_wait_fd(int fd, short events, int64_t deadline, const atomic_int *cancel)
{
    for (;;) {
        if (etcd_canceled(cancel))
            return -2;
        int64_t left = deadline - etcd_clock_ms();
        if (left <= 0)
            return 0;
        if (cancel && left > ETCD_SLICE_MS)
            left = ETCD_SLICE_MS;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

void etcd_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- resolution: getaddrinfo has no timeout, and DNS may take far longer than a deadline,
 * so a name is looked up in a thread that is abandoned when the deadline passes and frees the
 * shared record itself when it finishes last. ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, rc;
    struct addrinfo *res;
    char host[HOST_MAX], port[8];
} lookup_t;

static void lookup_release(lookup_t *l)
{
    pthread_mutex_lock(&l->mu);
    int last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *lookup_main(void *arg)
{
    lookup_t *l = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(l->host, l->port, &hints, &res);
    pthread_mutex_lock(&l->mu);
    l->rc = rc;
    l->res = rc == 0 ? res : NULL;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    lookup_release(l);
    return NULL;
}

static int resolve(const endpoint_t *ep, int64_t deadline, const atomic_int *cancel, struct addrinfo **out, char *err,
                   size_t errlen)
{
    char port[8];
    snprintf(port, sizeof port, "%d", ep->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    if (getaddrinfo(ep->host, port, &hints, out) == 0)
        return 0;
    lookup_t *l = calloc(1, sizeof *l);
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t t;
    if (!l) {
        etcd_seterr(err, errlen, "out of memory");
        return -1;
    }
    snprintf(l->host, sizeof l->host, "%s", ep->host);
    memcpy(l->port, port, sizeof port);
    l->refs = 2;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &ta, lookup_main, l);
    pthread_attr_destroy(&ta);
    if (rc != 0) {
        l->refs = 1;
        lookup_release(l);
        etcd_seterr(err, errlen, "cannot start a lookup thread: %s", strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int64_t now = etcd_clock_ms(), until = deadline;
        if (l->done || etcd_canceled(cancel) || now >= deadline)
            break;
        if (until > now + ETCD_SLICE_MS)
            until = now + ETCD_SLICE_MS;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = until % 1000 * 1000000};
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    int done = l->done;
    rc = l->rc;
    *out = l->res;
    l->res = NULL;
    pthread_mutex_unlock(&l->mu);
    lookup_release(l);
    if (!done)
        etcd_seterr(err, errlen, etcd_canceled(cancel) ? "canceled" : "timed out resolving %s", ep->host);
    else if (rc != 0)
        etcd_seterr(err, errlen, "cannot resolve %s: %s", ep->host, gai_strerror(rc));
    return done && rc == 0 ? 0 : -1;
}

static void tune(int fd)
{
    /* the watch connection idles for long stretches: keepalive finds a peer that vanished
     * without a reset within about 25 s */
    int one = 1, idle = 10, intvl = 5, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static int connect_ep(const endpoint_t *ep, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    struct addrinfo *res;
    if (resolve(ep, deadline, cancel, &res, err, errlen) < 0)
        return -1;
    int fd = -1;
    const char *why = "no address";
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0) {
            why = strerror(errno);
            continue;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            why = strerror(errno);
            close(s);
            continue;
        }
        int w = etcd_wait_fd(s, POLLOUT, deadline, cancel);
        if (w <= 0) {
            why = w == 0 ? "timed out connecting" : w == -2 ? "canceled" : strerror(errno);
            close(s);
            if (w == -1)
                continue;
            break;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0) {
            why = strerror(soerr);
            close(s);
            continue;
        }
        fd = s;
    }
    freeaddrinfo(res);
    if (fd < 0)
        etcd_seterr(err, errlen, "%s", why);
    else
        tune(fd);
    return fd;
}
int etcd_connect(const etcd_t *e, size_t i, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    if (i >= e->n) {
        etcd_seterr(err, errlen, "no endpoint %zu", i);
        return -1;
    }
    return connect_ep(&e->ep[i], deadline, cancel, err, errlen);
}
