/* logsink: the queue between the threads that log and the writer thread that sends. */
#include "logsink/logsink.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jlog/jlog.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define CONNECT_TIMEOUT_MS 1000
#define SEND_TIMEOUT_S     2
#define BATCH_BYTES        (64u << 10)
#define FRAME_MAX          (JLOG_LINE_MAX + 512)

/* A bounded multi-producer queue (the sequence-numbered ring of D. Vyukov): a producer claims a
 * cell with one compare-and-swap and never waits for the consumer, the writer thread. A cell's
 * seq says whose turn it is: pos for a producer, pos + 1 for the writer. */
typedef struct cell {
    uint64_t seq;
    char *line;
    size_t len;
    int level;
} cell_t;

/* Fields written by one thread and read by others are atomics; url is guarded by url_lock. */
static struct {
    cell_t *cells;
    uint64_t mask, head, tail; /* head: next cell to fill (producers); tail: next to send (writer) */
    uint64_t bytes, dropped;   /* bytes queued; lines dropped since start */
    int on, sleeping, stopping, started;
    long long stop_by;   /* when stopping: the last moment to send what is queued */
    unsigned generation; /* bumped by logsink_set */
    int efd;
    pthread_t tid;
    pthread_mutex_t url_lock;
    char url[512];
} q = {.url_lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void wake(void)
{
    uint64_t one = 1;
    if (write(q.efd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the writer is awake already */
    }
}

uint64_t logsink_dropped(void)
{
    return __atomic_load_n(&q.dropped, __ATOMIC_RELAXED);
}

void logsink_line(int level, const char *line, size_t len)
{
    if (!__atomic_load_n(&q.on, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_add_fetch(&q.bytes, len, __ATOMIC_RELAXED) > LOGSINK_QUEUE_BYTES)
        goto drop;
    uint64_t pos = __atomic_load_n(&q.head, __ATOMIC_RELAXED);
    cell_t *c;
    for (;;) {
        c = &q.cells[pos & q.mask];
        int64_t dif = (int64_t)(__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) - pos);
        if (dif == 0 && __atomic_compare_exchange_n(&q.head, &pos, pos + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            break;
        if (dif < 0)
            goto drop; /* the writer has not sent this cell's last line: full */
        if (dif > 0)
            pos = __atomic_load_n(&q.head, __ATOMIC_RELAXED);
    }
    /* a line that cannot be copied is still in the cell's turn: it goes out empty and is skipped */
    c->line = malloc(len);
    c->len = c->line != NULL ? len : 0;
    if (c->line != NULL)
        memcpy(c->line, line, len);
    c->level = level;
    __atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
    if (__atomic_load_n(&q.sleeping, __ATOMIC_SEQ_CST))
        wake();
    return;
drop:
    __atomic_sub_fetch(&q.bytes, len, __ATOMIC_RELAXED);
    __atomic_add_fetch(&q.dropped, 1, __ATOMIC_RELAXED);
}

/* The writer's side: the next queued line, or 0 when there is none. The caller frees *line. */
static int take(char **line, size_t *len, int *level)
{
    cell_t *c = &q.cells[q.tail & q.mask];
    if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != q.tail + 1)
        return 0;
    *line = c->line, *len = c->len, *level = c->level;
    __atomic_sub_fetch(&q.bytes, c->len, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, q.tail + q.mask + 1, __ATOMIC_RELEASE);
    q.tail++;
    return 1;
}

static int queued(void)
{
    return __atomic_load_n(&q.cells[q.tail & q.mask].seq, __ATOMIC_ACQUIRE) == q.tail + 1;
}

/* Waits up to ms for logsink_set, logsink_stop or (when for_lines) a newly queued line. */
static void pause_ms(long long ms, int for_lines)
{
    struct pollfd p = {.fd = q.efd, .events = POLLIN};
    uint64_t n;
    if (for_lines) {
        __atomic_store_n(&q.sleeping, 1, __ATOMIC_SEQ_CST);
        if (queued()) { /* a producer may have looked at `sleeping` before it was set */
            __atomic_store_n(&q.sleeping, 0, __ATOMIC_SEQ_CST);
            return;
        }
    }
    if (ms > 0 && poll(&p, 1, (int)ms) > 0 && read(q.efd, &n, sizeof(n)) < 0) {
        /* nothing to do: the counter was read by an earlier wake-up */
    }
    __atomic_store_n(&q.sleeping, 0, __ATOMIC_SEQ_CST);
}

/* A connected socket to host:port within CONNECT_TIMEOUT_MS, or -1 with err. */
static int dial(const char *host, int port, char *err, size_t errlen)
{
    char ps[8];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *ai;
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res), fd = -1;
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %.100s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
            soerr = errno;
        else if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1)
            soerr = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        if (soerr != 0) {
            snprintf(err, errlen, "connect: %s", strerror(soerr));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) { /* sends block, bounded: the writer thread is the only one that waits */
        struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* The collector never writes: a readable socket means it closed the connection or failed. */
static int peer_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) != 0;
}

static int send_all(int fd, const char *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "send: %s", w < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* What one writer thread keeps between turns. */
typedef struct {
    char host[LOGSINK_HOST_MAX], url[512], hostname[256];
    int port, fd, outage, backoff;
    unsigned generation;
    long long next_try;
    uint64_t dropped_before; /* logsink_dropped() when the outage began */
    char *batch;
    size_t blen; /* framed bytes not yet sent */
} writer_t;

static void outage_begins(writer_t *w, const char *why)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->next_try = now_ms() + w->backoff;
    w->backoff = w->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff * 2;
    if (w->outage)
        return;
    w->outage = 1;
    w->dropped_before = logsink_dropped();
    jlog_log(JLOG_WARN, "log sink unreachable: lines are queued, and dropped and counted once the queue is full", "address", w->url,
             "error", why, NULL);
}

static void delivered(writer_t *w)
{
    w->backoff = BACKOFF_MIN_MS;
    if (!w->outage)
        return;
    w->outage = 0;
    jlog_line_t l;
    jlog_begin(&l, JLOG_INFO, "log sink reachable again: delivering");
    jlog_str(&l, "address", w->url);
    jlog_int(&l, "dropped", (long long)(logsink_dropped() - w->dropped_before));
    jlog_end(&l);
}

static void discard(void)
{
    char *line;
    size_t len;
    int level;
    while (take(&line, &len, &level))
        free(line);
}

/* Frames queued lines into the batch until it is full or the queue empty. */
static void fill(writer_t *w)
{
    char *line;
    size_t len;
    int level;
    while (w->blen + FRAME_MAX <= BATCH_BYTES && take(&line, &len, &level)) {
        if (len > 0)
            w->blen += logsink_frame(w->batch + w->blen, BATCH_BYTES - w->blen, level, w->hostname, (long)getpid(), line, len);
        free(line);
    }
}

/* Picks up a new LOG_SINK: the old connection goes, and with it any outage of the old address. */
static void follow_url(writer_t *w)
{
    pthread_mutex_lock(&q.url_lock);
    w->generation = __atomic_load_n(&q.generation, __ATOMIC_ACQUIRE);
    snprintf(w->url, sizeof(w->url), "%s", q.url);
    pthread_mutex_unlock(&q.url_lock);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1, w->outage = 0, w->backoff = BACKOFF_MIN_MS, w->next_try = 0, w->blen = 0;
    if (logsink_url_parse(w->url, w->host, sizeof(w->host), &w->port) != 0)
        w->host[0] = '\0';
}

/* One turn: returns 0 when the writer should stop. */
static int turn(writer_t *w)
{
    char err[256];
    int stopping = __atomic_load_n(&q.stopping, __ATOMIC_ACQUIRE);
    if (stopping && now_ms() > q.stop_by)
        return 0;
    if (w->generation != __atomic_load_n(&q.generation, __ATOMIC_ACQUIRE))
        follow_url(w);
    if (w->host[0] == '\0') { /* off: nothing is queued, or what was queued goes */
        w->blen = 0;
        discard();
        if (stopping)
            return 0;
        pause_ms(1000, 0);
        return 1;
    }
    if (w->fd < 0) {
        long long wait = w->next_try - now_ms();
        if (stopping && (w->outage || wait > 0))
            return 0;
        if (wait > 0) {
            pause_ms(wait, 0);
            return 1;
        }
        if ((w->fd = dial(w->host, w->port, err, sizeof(err))) < 0) {
            outage_begins(w, err);
            return 1;
        }
    }
    if (w->blen == 0)
        fill(w);
    if (w->blen == 0) {
        if (stopping)
            return 0;
        pause_ms(200, 1);
        return 1;
    }
    if (peer_gone(w->fd)) {
        outage_begins(w, "the collector closed the connection");
        return 1;
    }
    if (send_all(w->fd, w->batch, w->blen, err, sizeof(err)) != 0) {
        outage_begins(w, err); /* the batch is sent again, whole, on the next connection */
        return 1;
    }
    w->blen = 0;
    delivered(w);
    return 1;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    while (turn(w)) {
    }
    if (w->fd >= 0)
        close(w->fd);
    return NULL;
}

static writer_t *the_writer;

int logsink_start(const char *url, size_t lines, char *err, size_t errlen)
{
    size_t n = 2;
    while (n < lines)
        n *= 2;
    q.cells = calloc(n, sizeof(cell_t));
    writer_t *w = calloc(1, sizeof(*w));
    char *batch = malloc(BATCH_BYTES);
    if ((q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || q.cells == NULL || w == NULL || batch == NULL) {
        snprintf(err, errlen, "log sink: %s", q.efd < 0 ? strerror(errno) : "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        q.cells[i].seq = i;
    q.mask = n - 1, q.head = q.tail = q.bytes = 0, q.stopping = 0;
    w->fd = -1, w->batch = batch, w->generation = (unsigned)-1;
    if (gethostname(w->hostname, sizeof(w->hostname) - 1) != 0)
        w->hostname[0] = '\0';
    logsink_set(url);
    int rc = pthread_create(&q.tid, NULL, writer_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "log sink: cannot start its thread: %s", strerror(rc));
        __atomic_store_n(&q.on, 0, __ATOMIC_RELEASE);
        goto fail;
    }
    the_writer = w;
    q.started = 1;
    return 0;
fail:
    if (q.efd >= 0)
        close(q.efd);
    q.efd = -1;
    free(q.cells);
    q.cells = NULL;
    free(w);
    free(batch);
    return -1;
}

void logsink_set(const char *url)
{
    pthread_mutex_lock(&q.url_lock);
    snprintf(q.url, sizeof(q.url), "%s", url);
    __atomic_add_fetch(&q.generation, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&q.on, url[0] != '\0', __ATOMIC_RELEASE);
    pthread_mutex_unlock(&q.url_lock);
    wake();
}

void logsink_stop(void)
{
    if (!q.started)
        return;
    /* the writer gets a second to send what is queued, unless the collector is away */
    q.stop_by = now_ms() + 1000;
    __atomic_store_n(&q.stopping, 1, __ATOMIC_RELEASE);
    wake();
    pthread_join(q.tid, NULL);
    __atomic_store_n(&q.on, 0, __ATOMIC_RELEASE);
    discard();
    close(q.efd);
    q.efd = -1;
    free(q.cells);
    free(the_writer->batch);
    free(the_writer);
    q.started = 0;
}
