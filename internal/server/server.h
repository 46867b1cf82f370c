/*
 * server: the HTTP chassis. WORKERS event-loop threads, each with its own h2o loop and its own
 * SO_REUSEPORT listener, sharing one route table and one application state. Requests go through
 * the middleware, then the router; GET/HEAD paths no route takes go to STATIC_DIR; OPTIONS on a
 * path a route takes answers 204 with Allow (the middleware adds CORS's headers). SIGTERM/SIGINT
 * (read through a signalfd on the first loop) turn readiness off and, after SHUTDOWN_DELAY_S of
 * serving on (cut short by a second signal), start a drain: listeners close, requests already
 * received are served (their answers with Connection: close), keep-alive connections idle for a
 * second are closed, then server_run returns.
 */
#ifndef PORRIO_SERVER_H
#define PORRIO_SERVER_H
#include <h2o.h>

#include "route/route.h"
#include "ticket/ticket.h"

typedef struct server server_t;

/**
 * A route's handler: answers `req` (through reply_*) and returns 0. `m` holds the decoded path
 * parameters, valid for the request's lifetime; `data` is what route_add was given.
 */
typedef int (*server_handler_t)(h2o_req_t *req, const route_match_t *m, void *data);

typedef struct server_opts {
    const char *host;
    int port;
    int workers;
    const char *static_dir; /* NULL or missing directory: no static files */
    size_t max_body_bytes;
    int shutdown_grace_s;
    int shutdown_delay_s;        /* SIGTERM to the drain: ready answers 503, all else is served */
    const char *cors_origins;    /* CORS_ORIGINS; NULL or "": no CORS headers */
    const char *trusted_proxies; /* TRUSTED_PROXIES, valid (proxy_list_check); NULL or "": nobody */
    const route_table_t *routes; /* handlers are server_handler_t; owned by the caller */
} server_opts_t;

/* SERVER_DELAYING: SIGTERM came and SHUTDOWN_DELAY_S runs; everything is served but readiness. */
typedef enum { SERVER_STARTING, SERVER_SERVING, SERVER_DELAYING, SERVER_DRAINING } server_state_t;

/**
 * Blocks SIGTERM and SIGINT in the calling thread, so that every thread started after it
 * inherits the mask and the signals reach only the signalfd. Call before any thread starts.
 */
void server_block_signals(void);

/**
 * Binds the listeners (one per worker). Returns NULL with err when the address cannot be used
 * ("127.0.0.1:3000 is already in use"). The options are copied; routes must outlive the server.
 */
server_t *server_new(const server_opts_t *opts, char *err, size_t errlen);

/**
 * Serves until a drain completes (or SHUTDOWN_GRACE_S after it began); the calling thread is the
 * first worker. Returns 0; -1 when a worker thread could not start (logged), after draining the
 * workers that did.
 */
int server_run(server_t *s);

/** Where the server is in its life: readiness is SERVER_SERVING. Thread-safe. */
server_state_t server_state(const server_t *s);

/** Open client connections across the workers. Thread-safe. */
size_t server_connections(server_t *s);

/**
 * Episodes of file-descriptor exhaustion since start, every worker together: each is one stretch
 * during which a worker's accept failed with EMFILE/ENFILE (or out of buffers) and its listener
 * rested ACCEPT_PAUSE_MS (100 ms) between tries. Thread-safe.
 */
unsigned long long server_accept_exhausted(server_t *s);

/** Starts a drain as SIGTERM does. Thread-safe. */
void server_stop(server_t *s);

/** Live settings: take effect for the next request / the next drain. Thread-safe. */
void server_set_max_body(server_t *s, size_t bytes);
void server_set_grace(server_t *s, int seconds);
void server_set_delay(server_t *s, int seconds);
/** As the two above, for CORS_ORIGINS. 0; -1 on OOM (the old list stays). */
int server_set_cors(server_t *s, const char *origins);
/** As server_set_cors, for TRUSTED_PROXIES. 0; -1 for an invalid value or on OOM (the old list stays). */
int server_set_trusted_proxies(server_t *s, const char *cidrs);

/**
 * Makes answers wait on the tickets of `ledger` (server_await), and registers a ledger watcher
 * that wakes the workers when tickets are decided. Call once, before server_run; the ledger
 * must outlive the server's use of it. 0; -1 when the ledger takes no more watchers.
 */
int server_watch(server_t *s, ticket_ledger_t *ledger);

/** Called on the request's own thread once its ticket is decided: ok = 1 DURABLE, 0 LOST. */
typedef void (*server_await_cb)(h2o_req_t *req, void *data, int ok);

/**
 * Holds the answer to `req` until `ticket` is decided in the ledger (at once when it already
 * is): the rule of ticket.h. If the client goes away first, done is never called. Call from the
 * request's handler, after server_watch.
 */
void server_await(h2o_req_t *req, uint64_t ticket, server_await_cb done, void *data);

typedef void (*server_work_done_cb)(h2o_req_t *req, void *data);
typedef struct server_job server_job_t;

/**
 * Holds the answer to `req` for work that another thread finishes (STORE=etcd's writes, which
 * wait for etcd with no thread blocked on them): once server_job_done(job) was called, on any
 * thread, done(req, data) runs back on the request's loop. When the request went away meanwhile
 * (the client left, or the drain's grace ended), done gets req NULL and only lets go of data, which
 * must not point into the request's memory. The server's end waits for every job's
 * server_job_done. Call from the request's handler. NULL when out of memory (nothing is held).
 */
server_job_t *server_hold(h2o_req_t *req, server_work_done_cb done, void *data);

/** The work of job is finished: its done may run. Any thread, exactly once. */
void server_job_done(server_job_t *job);

/** Frees what server_new allocated, after server_run has returned. */
void server_free(server_t *s);

#endif
