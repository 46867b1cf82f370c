#include "server/server.h"
#include "server/server_int.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jlog/jlog.h"
#include "middleware/middleware.h"
#include "reply/reply.h"

#define LOOP_TICK_MS 100 /* how often a draining worker looks at its connections and the deadline */
/* A draining worker closes a keep-alive connection once it has stayed idle this long: its last
 * answer promised keep-alive, so its client may send one more request, answered with
 * Connection: close, meanwhile. */
#define DRAIN_IDLE_MS 1000
/* How long a worker out of file descriptors leaves its listener alone: the connection waiting in
 * the backlog keeps it readable, and trying again at once spins a core. */
#define ACCEPT_PAUSE_MS 100
/* musl gives a thread 128 KiB of stack, and jansson parsing a body of 2048 nested '[' (its depth
 * limit) takes about twice that: a worker needs room for whatever a handler parses */
#define WORKER_STACK (1u << 20)

typedef struct worker {
    server_t *srv;
    int index, fd;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener, *signals, *wake;
    int wakefd;
    h2o_linklist_t waiters;
    size_t nconns;
    int draining;
    int exhausted; /* the last accept failed for want of file descriptors */
    h2o_timeout_t accept_pause;
    h2o_timeout_entry_t accept_resume;
} worker_t;

/* What a worker keeps about each connection, for the drain's idle-close. */
typedef struct conn {
    worker_t *w;
    size_t seen_written;  /* the socket's bytes_written when the drain last looked */
    long long idle_since; /* when the drain first found it idle since then; 0: busy */
} conn_t;

struct server {
    server_opts_t o;
    ticket_ledger_t *ledger; /* set by server_watch before serving */
    char *host, *static_dir;
    size_t max_body;  /* MAX_BODY_BYTES; h2o's own limit is one more, see server_set_max_body */
    cors_t *cors;     /* CORS_ORIGINS */
    proxy_t *proxies; /* TRUSTED_PROXIES */
    h2o_globalconf_t conf;
    worker_t *workers;
    int state, started, grace_s, delay_s;
    long long drain_started_ms, delay_ends_ms;
    unsigned long long accept_exhausted; /* episodes, every worker together */
    hold_t *held;                        /* answers other threads finish */
};

typedef struct waiter {
    h2o_linklist_t link;
    h2o_req_t *req;
    uint64_t ticket;
    server_await_cb done;
    void *data;
} waiter_t;

typedef struct {
    h2o_handler_t super;
    server_t *srv;
} dispatch_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

server_state_t server_state(const server_t *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}
/* h2o refuses a chunked body as large as its limit but a Content-Length one only above it: with
 * its limit one above MAX_BODY_BYTES, both kinds of body may be exactly MAX_BODY_BYTES long, and
 * on_req refuses the one Content-Length that h2o lets through. */
void server_set_max_body(server_t *s, size_t bytes)
{
    __atomic_store_n(&s->max_body, bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&s->conf.max_request_entity_size, bytes + 1, __ATOMIC_RELAXED);
}
void server_set_grace(server_t *s, int seconds)
{
    __atomic_store_n(&s->grace_s, seconds, __ATOMIC_RELAXED);
}
void server_set_delay(server_t *s, int seconds)
{
    __atomic_store_n(&s->delay_s, seconds, __ATOMIC_RELAXED);
}
int server_set_cors(server_t *s, const char *origins)
{
    return cors_set(s->cors, origins);
}
int server_set_trusted_proxies(server_t *s, const char *cidrs)
{
    return proxy_set(s->proxies, cidrs);
}

/* Interrupts every worker's wait for events: it then finishes its waiters and looks at the state. */
static void wake_all(server_t *s)
{
    uint64_t one = 1;
    for (int i = 0; i < s->o.workers; i++)
        if (write(s->workers[i].wakefd, &one, sizeof(one)) < 0) {
            /* the counter is saturated: the worker is awake already */
        }
}

void server_stop(server_t *s)
{
    int expected = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    do {
        if (expected == SERVER_DRAINING)
            return;
    } while (!__atomic_compare_exchange_n(&s->state, &expected, SERVER_DRAINING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    __atomic_store_n(&s->drain_started_ms, now_ms(), __ATOMIC_RELEASE);
    if (jlog_enabled(JLOG_INFO)) {
        jlog_line_t l;
        jlog_begin(&l, JLOG_INFO, "draining");
        jlog_int(&l, "grace_s", __atomic_load_n(&s->grace_s, __ATOMIC_RELAXED));
        jlog_end(&l);
    }
    wake_all(s);
}

void server_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* h2o's file handler would cut a path at a decoded NUL and serve what comes before it. */
static int has_encoded_nul(const char *p, size_t len)
{
    for (size_t i = 0; i + 2 < len && p[i] != '?'; i++)
        if (p[i] == '%' && p[i + 1] == '0' && p[i + 2] == '0')
            return 1;
    return 0;
}

/* h2o's file handler answers 403, not 404, for a name longer than the file system allows. */
static int fits_file_system(const server_t *s, h2o_iovec_t path)
{
    size_t name = 0;
    if (strlen(s->static_dir) + path.len + sizeof("/index.html") > PATH_MAX)
        return 0;
    for (size_t i = 0; i < path.len; i++)
        if ((name = path.base[i] == '/' ? 0 : name + 1) > NAME_MAX)
            return 0;
    return 1;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    server_t *s = ((dispatch_t *)self)->srv;
    size_t max_body = __atomic_load_n(&s->max_body, __ATOMIC_RELAXED);
    if (req->entity.len > max_body) {
        reply_error(req, 413, "request body larger than %zu bytes", max_body);
        return 0;
    }
    int method = route_method(req->method.base, req->method.len);
    size_t buflen = req->path.len + ROUTE_MAX_PARAMS + 1;
    char *buf = h2o_mem_alloc_pool(&req->pool, buflen);
    route_match_t m;
    switch (route_match(s->o.routes, method, req->path.base, req->path.len, buf, buflen, &m)) {
    case ROUTE_FOUND:
        middleware_note_route(req, m.tmpl);
        return ((server_handler_t)m.handler)(req, &m, m.data);
    case ROUTE_METHOD_NOT_ALLOWED: { /* no route takes OPTIONS: every path answers it here */
        char allow[ROUTE_ALLOW_MAX];
        middleware_note_route(req, m.tmpl);
        size_t n = route_allow_string(m.allow | ROUTE_OPTIONS, allow, sizeof(allow));
        reply_header(req, "allow", "Allow", allow, n);
        if (method == ROUTE_OPTIONS)
            reply_bytes_nocopy(req, 204, NULL, NULL, 0);
        else
            reply_error(req, 405, "method not allowed; this path allows %s", allow);
        return 0;
    }
    case ROUTE_BAD_PATH:
        reply_error(req, 400, "malformed percent-encoding in the path");
        return 0;
    case ROUTE_NOT_FOUND:
    default:
        if (has_encoded_nul(req->path.base, req->path.len)) {
            reply_error(req, 400, "malformed path: an encoded NUL byte");
            return 0;
        }
        if (s->static_dir != NULL && (method == ROUTE_GET || method == ROUTE_HEAD) && fits_file_system(s, req->path_normalized)) {
            middleware_note_static(req);
            return -1; /* the static file handler, next on this path */
        }
        reply_error(req, 404, "no such resource");
        return 0;
    }
}

static void on_sock_close(void *data)
{
    conn_t *c = data;
    __atomic_sub_fetch(&c->w->nconns, 1, __ATOMIC_RELAXED);
    free(c);
}

size_t server_connections(server_t *s)
{
    size_t n = 0;
    for (int i = 0; i < s->o.workers; i++)
        n += __atomic_load_n(&s->workers[i].nconns, __ATOMIC_RELAXED);
    return n;
}

unsigned long long server_accept_exhausted(server_t *s)
{
    return __atomic_load_n(&s->accept_exhausted, __ATOMIC_RELAXED);
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, accept_resume, entry);
    if (w->listener != NULL)
        h2o_socket_read_start(w->listener, on_accept);
}

/* Out of file descriptors: one warning and one count per episode, which ends at the next
 * accept that does not fail so. */
static void accept_exhausted(worker_t *w, int err)
{
    h2o_socket_read_stop(w->listener);
    if (!h2o_timeout_is_linked(&w->accept_resume)) /* the drain accepts too, paused or not */
        h2o_timeout_link(w->loop, &w->accept_pause, &w->accept_resume);
    if (w->exhausted)
        return;
    w->exhausted = 1;
    __atomic_add_fetch(&w->srv->accept_exhausted, 1, __ATOMIC_RELAXED);
    jlog_line_t l;
    jlog_begin(&l, JLOG_WARN, "out of file descriptors, not accepting connections for a while");
    jlog_int(&l, "worker", w->index);
    jlog_str(&l, "error", strerror(err));
    jlog_int(&l, "connections", (long long)__atomic_load_n(&w->nconns, __ATOMIC_RELAXED));
    jlog_end(&l);
}

static void accept_pending(worker_t *w, int max)
{
    for (int i = 0; i != max; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(w->listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_exhausted(w, errno);
            else if (errno == EAGAIN || errno == EWOULDBLOCK)
                w->exhausted = 0;
            return;
        }
        w->exhausted = 0;
        conn_t *c = malloc(sizeof(*c));
        if (c == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        *c = (conn_t){.w = w};
        __atomic_add_fetch(&w->nconns, 1, __ATOMIC_RELAXED);
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = c;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err == NULL)
        accept_pending(listener->data, 16);
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    struct signalfd_siginfo si;
    if (err != NULL)
        return;
    /* the socket was made with H2O_SOCKET_FLAG_DONT_READ: h2o only reports readability */
    while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
        jlog_log(JLOG_INFO, "signal", "signal", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    server_t *s = sock->data;
    int delay = __atomic_load_n(&s->delay_s, __ATOMIC_RELAXED), expected = SERVER_SERVING;
    /* the first signal with a delay turns readiness off and serves on; a second one drains at once */
    if (delay > 0 && __atomic_compare_exchange_n(&s->state, &expected, SERVER_DELAYING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        s->delay_ends_ms = now_ms() + delay * 1000LL;
        jlog_line_t l;
        jlog_begin(&l, JLOG_INFO, "shutdown delay: /health/ready answers 503, serving on until the drain");
        jlog_int(&l, "delay_s", delay);
        jlog_end(&l);
        return;
    }
    server_stop(s);
}

/*
 * A draining worker's look at one connection. A client may send its next request on a keep-alive
 * connection at any moment, and closing the connection just then fails that request: so every
 * answer not yet begun is made the connection's last (Connection: close; h2o does so by itself
 * for requests read after the drain began), and a connection between requests is closed only
 * once nothing has moved on it, nor waits in its buffers, for DRAIN_IDLE_MS.
 */
static int close_if_idle(h2o_req_t *req, void *cbdata)
{
    long long now = *(long long *)cbdata;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return 0;
    conn_t *c = sock->on_close.data;
    int unread = 0;
    if (req->input.method.base != NULL) { /* a request is being read or answered: it is served */
        if (req->timestamps.response_start_at.tv_sec == 0)
            req->http1_is_persistent = 0;
        c->idle_since = 0;
        return 0;
    }
    if (sock->bytes_written != c->seen_written || sock->input->size != 0 ||
        ioctl(h2o_socket_get_fd(sock), FIONREAD, &unread) != 0 || unread > 0) {
        c->seen_written = sock->bytes_written; /* answered since the last look, or part of a request is here */
        c->idle_since = 0;
        return 0;
    }
    if (c->idle_since == 0)
        c->idle_since = now;
    else if (now - c->idle_since >= DRAIN_IDLE_MS)
        shutdown(h2o_socket_get_fd(sock), SHUT_RDWR); /* its read side sees EOF and h2o closes it */
    return 0;
}

/* One turn of a draining worker; returns non-zero when the worker may stop. */
static int drain_step(worker_t *w)
{
    server_t *s = w->srv;
    long long now = now_ms();
    if (!w->draining) {
        w->draining = 1;
        if (h2o_timeout_is_linked(&w->accept_resume))
            h2o_timeout_unlink(&w->accept_resume);
        h2o_socket_read_stop(w->listener);
        /* connections the kernel already accepted are served too; one it completes between the
         * last accept and the close is reset by the close, so nothing else comes between them */
        accept_pending(w, -1);
        h2o_socket_close(w->listener);
        w->listener = NULL;
        h2o_context_request_shutdown(&w->ctx);
    }
    s->conf.http1.callbacks.foreach_request(&w->ctx, close_if_idle, &now);
    if (w->nconns == 0)
        return 1;
    long long deadline =
        __atomic_load_n(&s->drain_started_ms, __ATOMIC_ACQUIRE) + __atomic_load_n(&s->grace_s, __ATOMIC_RELAXED) * 1000LL;
    if (now < deadline)
        return 0;
    jlog_line_t l;
    jlog_begin(&l, JLOG_WARN, "shutdown grace period over, closing connections");
    jlog_int(&l, "worker", w->index);
    jlog_int(&l, "connections", (long long)w->nconns);
    jlog_end(&l);
    return 1;
}

static void finish_waiters(worker_t *w)
{
    while (!h2o_linklist_is_empty(&w->waiters)) {
        waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, w->waiters.next);
        ticket_state_t fate = ticket_state(w->srv->ledger, wt->ticket);
        if (fate == TICKET_PENDING)
            break; /* a worker's tickets grow in order: the rest are newer */
        h2o_linklist_unlink(&wt->link);
        wt->done(wt->req, wt->data, fate == TICKET_DURABLE);
    }
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    uint64_t n;
    if (err == NULL && read(h2o_socket_get_fd(sock), &n, sizeof(n)) >= 0)
        finish_waiters(sock->data);
}

static void waiter_dispose(void *p)
{
    waiter_t *wt = p;
    if (h2o_linklist_is_linked(&wt->link))
        h2o_linklist_unlink(&wt->link);
}

void server_await(h2o_req_t *req, uint64_t ticket, server_await_cb done, void *data)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, ctx, req->conn->ctx);
    ticket_state_t fate = ticket_state(w->srv->ledger, ticket);
    if (fate != TICKET_PENDING) {
        done(req, data, fate == TICKET_DURABLE);
        return;
    }
    waiter_t *wt = h2o_mem_alloc_shared(&req->pool, sizeof(*wt), waiter_dispose);
    *wt = (waiter_t){.req = req, .ticket = ticket, .done = done, .data = data};
    h2o_linklist_insert(&w->waiters, &wt->link);
}

/* The ledger decided tickets: every worker looks at its waiters. */
static void on_decided(void *ctx, uint64_t upto, ticket_state_t fate)
{
    (void)upto, (void)fate;
    wake_all(ctx);
}

int server_watch(server_t *s, ticket_ledger_t *ledger)
{
    s->ledger = ledger;
    return ticket_watch(ledger, on_decided, s);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    server_t *s = w->srv;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &s->conf);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = s->conf.hosts;
    w->listener = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);
    h2o_timeout_init(w->loop, &w->accept_pause, ACCEPT_PAUSE_MS);
    w->accept_resume.cb = on_accept_resume;
    h2o_linklist_init_anchor(&w->waiters);
    w->wake = h2o_evloop_socket_create(w->loop, w->wakefd, H2O_SOCKET_FLAG_DONT_READ);
    w->wake->data = w;
    h2o_socket_read_start(w->wake, on_wake);
    if (w->index == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd >= 0) {
            w->signals = h2o_evloop_socket_create(w->loop, sfd, H2O_SOCKET_FLAG_DONT_READ);
            w->signals->data = s;
            h2o_socket_read_start(w->signals, on_signal);
        }
    }
    jlog_buffer(1);
    if (__atomic_add_fetch(&s->started, 1, __ATOMIC_ACQ_REL) == s->o.workers) {
        int expected = SERVER_STARTING;
        __atomic_compare_exchange_n(&s->state, &expected, SERVER_SERVING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        if (jlog_enabled(JLOG_INFO)) {
            jlog_line_t l;
            jlog_begin(&l, JLOG_INFO, "listening");
            jlog_str(&l, "host", s->host);
            jlog_int(&l, "port", s->o.port);
            jlog_int(&l, "workers", s->o.workers);
            jlog_end(&l);
        }
    }
    for (;;) {
        h2o_evloop_run(w->loop, LOOP_TICK_MS);
        jlog_flush();
        if (w->signals != NULL && server_state(s) == SERVER_DELAYING && now_ms() >= s->delay_ends_ms)
            server_stop(s);
        if (server_state(s) == SERVER_DRAINING && drain_step(w))
            break;
    }
    jlog_buffer(0);
    return NULL;
}

static int open_listener(const struct addrinfo *ai, int reuseport, char *err, size_t errlen, const char *where)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol), on = 1;
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", where, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno == EADDRINUSE)
            snprintf(err, errlen, "%s is already in use", where);
        else
            snprintf(err, errlen, "cannot bind %s: %s", where, strerror(errno));
        close(fd);
        return -1;
    }
    if (reuseport && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* One SO_REUSEPORT socket per worker. A plain bind first: SO_REUSEPORT alone would let a second
 * porrio of the same user share the port silently instead of failing. */
static int open_listeners(server_t *s, char *err, size_t errlen)
{
    char where[300], port[8];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    snprintf(port, sizeof(port), "%d", s->o.port);
    snprintf(where, sizeof(where), "%s:%d", s->host, s->o.port);
    int rc = getaddrinfo(s->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve HOST %s: %s", s->host, gai_strerror(rc));
        return -1;
    }
    int probe = open_listener(res, 0, err, errlen, where);
    if (probe < 0) {
        freeaddrinfo(res);
        return -1;
    }
    close(probe);
    for (int i = 0; i < s->o.workers; i++) {
        if ((s->workers[i].fd = open_listener(res, 1, err, errlen, where)) < 0) {
            while (i-- > 0)
                close(s->workers[i].fd);
            freeaddrinfo(res);
            return -1;
        }
    }
    freeaddrinfo(res);
    return 0;
}

server_t *server_new(const server_opts_t *opts, char *err, size_t errlen)
{
    server_t *s = calloc(1, sizeof(*s));
    s->o = *opts;
    s->host = strdup(opts->host);
    s->grace_s = opts->shutdown_grace_s;
    s->delay_s = opts->shutdown_delay_s;
    s->workers = calloc((size_t)opts->workers, sizeof(worker_t));
    struct stat st;
    if (opts->static_dir != NULL && stat(opts->static_dir, &st) == 0 && S_ISDIR(st.st_mode))
        s->static_dir = strdup(opts->static_dir);
    for (int i = 0; i < opts->workers; i++)
        s->workers[i] = (worker_t){.srv = s, .index = i, .fd = -1, .wakefd = -1};
    if ((s->cors = cors_new(opts->cors_origins)) == NULL ||
        (s->proxies = proxy_new(opts->trusted_proxies != NULL ? opts->trusted_proxies : "")) == NULL) {
        snprintf(err, errlen, s->cors == NULL ? "out of memory" : "TRUSTED_PROXIES is invalid or memory ran out");
        server_free(s);
        return NULL;
    }
    for (int i = 0; i < opts->workers; i++) {
        if ((s->workers[i].wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
            snprintf(err, errlen, "eventfd: %s", strerror(errno));
            server_free(s);
            return NULL;
        }
    }
    if (open_listeners(s, err, errlen) != 0) {
        server_free(s);
        return NULL;
    }
    if ((s->held = hold_new()) == NULL) {
        snprintf(err, errlen, "out of memory");
        server_free(s);
        return NULL;
    }

    h2o_config_init(&s->conf);
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("porrio"));
    server_set_max_body(s, opts->max_body_bytes);
    s->conf.http1.upgrade_to_http2 = 0; /* h2c from 2018 code: not exposed */
    h2o_hostconf_t *host = h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    middleware_register(path, &s->max_body, s->cors, s->proxies, s->o.routes);
    middleware_register(&host->fallback_path, &s->max_body, s->cors, s->proxies,
                        s->o.routes); /* errors h2o answers before routing */
    dispatch_t *d = (void *)h2o_create_handler(path, sizeof(*d));
    d->super.on_req = on_req;
    d->srv = s;
    if (s->static_dir != NULL) {
        static const char *index_files[] = {"index.html", NULL};
        h2o_file_register(path, s->static_dir, index_files, NULL, 0);
    }
    return s;
}

int server_run(server_t *s)
{
    int n, rc = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    for (n = 1; n < s->o.workers; n++) {
        if ((rc = pthread_create(&s->workers[n].tid, &attr, worker_main, &s->workers[n])) != 0) {
            jlog_log(JLOG_ERROR, "cannot start a worker thread", "error", strerror(rc), NULL);
            /* nobody would accept on their listeners: the kernel must stop queueing connections there */
            for (int i = n; i < s->o.workers; i++)
                close(s->workers[i].fd);
            server_stop(s);
            rc = -1;
            break;
        }
    }
    pthread_attr_destroy(&attr);
    worker_main(&s->workers[0]); /* on the process's own stack, as large as the main thread's */
    for (int i = 1; i < n; i++)
        pthread_join(s->workers[i].tid, NULL);
    hold_free(s->held); /* the loops are gone: once the held answers are finished, nothing runs for a request */
    s->held = NULL;
    return rc;
}

server_job_t *server_hold(h2o_req_t *req, server_work_done_cb done, void *data)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, ctx, req->conn->ctx);
    return hold_job(w->srv->held, req, done, data);
}

void server_job_done(server_job_t *job)
{
    hold_release(job);
}

void server_free(server_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->o.workers; i++)
        if (s->workers[i].wakefd >= 0)
            close(s->workers[i].wakefd);
    hold_free(s->held);
    if (s->conf.hosts != NULL) /* after server_run, nothing holds the handlers any more */
        h2o_config_dispose(&s->conf);
    free(s->host);
    free(s->static_dir);
    cors_free(s->cors);
    proxy_free(s->proxies);
    free(s->workers);
    free(s);
}
