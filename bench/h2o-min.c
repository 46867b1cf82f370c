/*
 * h2o-min PORT THREADS: the yardstick for bench/run.sh. It answers every request on
 * 127.0.0.1:PORT with a fixed {"status":"OK"} and Content-Length, and nothing else: no router,
 * no filters, no logger, no JSON encoding. It keeps porrio's architecture (internal/server/server.c)
 * so the ratio measures what porrio adds per request, not a different threading model:
 * one evloop per thread, each with its own SO_REUSEPORT listener, one shared h2o_globalconf_t.
 * Runs until killed.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <h2o.h>

#define BODY "{\"status\":\"OK\"}"

static h2o_globalconf_t conf;
static int port;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    /* a static generator and body: h2o_send only references them, porrio copies into the pool */
    static h2o_generator_t generator = {NULL, NULL};
    static h2o_iovec_t body = {H2O_STRLIT(BODY)};
    (void)self;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len; /* h2o_send_inline would not set it */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    /* the same batch of 16 accepts per wake-up as porrio's accept_pending */
    for (int i = 0; i != 16 && (sock = h2o_evloop_socket_accept(listener)) != NULL; i++)
        h2o_accept(listener->data, sock);
}

/* The same socket options as porrio's open_listener, so accepted sockets inherit TCP_NODELAY too. */
static int open_listener(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("h2o-min: bind/listen");
        exit(1);
    }
    return fd;
}

static void *worker(void *arg)
{
    int fd = (int)(intptr_t)arg;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx = {.ctx = &ctx, .hosts = conf.hosts};
    h2o_context_init(&ctx, h2o_evloop_create(), &conf);
    h2o_socket_t *listener = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = &accept_ctx;
    h2o_socket_read_start(listener, on_accept);
    for (;;)
        h2o_evloop_run(ctx.loop, INT32_MAX);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc == 3 ? atoi(argv[2]) : 0;
    port = argc == 3 ? atoi(argv[1]) : 0;
    if (port < 1 || port > 65535 || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: h2o-min PORT THREADS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&conf);
    conf.http1.upgrade_to_http2 = 0; /* as porrio: no h2c upgrade check on every request */
    h2o_hostconf_t *host = h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(h2o_handler_t))->on_req = on_req;

    /* every listener is bound before any thread runs, so the port is fully ready at once */
    int fds[256];
    for (int i = 0; i < threads; i++)
        fds[i] = open_listener();
    for (int i = 1; i < threads; i++) {
        pthread_t tid;
        pthread_create(&tid, NULL, worker, (void *)(intptr_t)fds[i]);
    }
    worker((void *)(intptr_t)fds[0]);
    return 0;
}
