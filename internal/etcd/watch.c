/* The watch loop: (re)read the prefix when needed, hold a /v3/watch stream, and reconnect with
 * backoff, resuming after the last revision delivered. */
#include "etcd/etcd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SETUP_MS       3000 /* connect, send, and get the "created" message */
#define RESYNC_MS      3000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

typedef struct {
    etcd_t *e;
    const char *prefix, *below;
    const etcd_watch_cb_t *cb;
    atomic_int *stop;
    int64_t next;  /* revision the next watch starts from; 0: read the prefix first */
    size_t ep;     /* endpoint in use */
    int connected; /* last state reported: -1 none yet, 0 lost, 1 watching */
} watch_t;

enum { SESSION_STOPPED, SESSION_FAILED, SESSION_COMPACTED };

static void report(watch_t *w, int connected, const char *msg)
{
    if (w->connected == connected)
        return;
    w->connected = connected;
    if (w->cb->on_state)
        w->cb->on_state(w->cb->ctx, connected, msg);
}

static void tick(watch_t *w)
{
    if (w->cb->on_tick)
        w->cb->on_tick(w->cb->ctx);
}

static void on_stream_event(void *ctx, const etcd_event_t *ev)
{
    watch_t *w = ctx;
    if (w->cb->on_event)
        w->cb->on_event(w->cb->ctx, ev);
    if (ev->mod_revision >= w->next)
        w->next = ev->mod_revision + 1;
}

/* Reads the whole prefix from the current endpoint and hands it to on_resync. */
static int resync(watch_t *w, char *err, size_t errlen)
{
    char *body = etcd_range_request(w->prefix, w->below), *resp = NULL, why[256];
    size_t len = 0, n = 0;
    etcd_kv_t *kvs = NULL;
    int64_t rev = 0;
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = etcd_http_post(w->e, w->ep, "/v3/kv/range", body, etcd_clock_ms() + RESYNC_MS, w->stop, &resp, &len, why, sizeof why);
    if (rc == 0)
        rc = etcd_parse_range(resp, len, &kvs, &n, &rev, why, sizeof why);
    free(body);
    free(resp);
    if (rc < 0) {
        snprintf(err, errlen, "reading the prefix: %s", why);
        return -1;
    }
    if (w->cb->on_resync)
        w->cb->on_resync(w->cb->ctx, kvs, n, rev);
    etcd_kvs_free(kvs, n);
    w->next = rev + 1;
    return 0;
}

/* Follows one stream until it ends; *created says whether etcd accepted the watch. */
static int stream(watch_t *w, etcd_http_t *h, int *created, char *err, size_t errlen)
{
    etcd_stream_t s;
    char buf[16384], why[256];
    int64_t setup_deadline = etcd_clock_ms() + SETUP_MS;
    int outcome = SESSION_FAILED;
    etcd_stream_init(&s, on_stream_event, w);
    for (;;) {
        tick(w);
        if (*w->stop) {
            outcome = SESSION_STOPPED;
            break;
        }
        if (!s.created && etcd_clock_ms() >= setup_deadline) {
            snprintf(err, errlen, "no answer to the watch request");
            break;
        }
        ssize_t r = etcd_http_read(h, buf, sizeof buf, etcd_clock_ms() + ETCD_SLICE_MS, w->stop, why, sizeof why);
        if (r == ETCD_HTTP_AGAIN)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s", r == 0 ? "etcd ended the watch stream" : why);
            break;
        }
        int64_t rev = s.revision, hrev = s.header_revision;
        if (etcd_stream_feed(&s, buf, (size_t)r) < 0) {
            snprintf(err, errlen, "%s", s.error);
            break;
        }
        if ((s.revision != rev || s.header_revision != hrev) && w->cb->on_progress)
            w->cb->on_progress(w->cb->ctx, s.revision, s.header_revision);
        if (s.created && !*created) {
            char msg[300];
            *created = 1;
            snprintf(msg, sizeof msg, "watching %s from revision %" PRId64, etcd_endpoint_name(w->e, w->ep), w->next);
            report(w, 1, msg);
        }
        if (s.failed) {
            snprintf(err, errlen, "etcd: %s", s.error);
            break;
        }
        if (s.compact_revision > 0) {
            outcome = SESSION_COMPACTED;
            break;
        }
        if (s.canceled) {
            snprintf(err, errlen, "etcd canceled the watch%s%s", s.error[0] ? ": " : "", s.error);
            break;
        }
    }
    etcd_stream_free(&s);
    return outcome;
}

/* Describes a watch request answered with an error status, with etcd's message if it has one. */
static void refused(watch_t *w, etcd_http_t *h, char *err, size_t errlen)
{
    char body[1024], why[200], ignored[64];
    size_t len = 0;
    int64_t deadline = etcd_clock_ms() + ETCD_SLICE_MS;
    for (ssize_t r; len < sizeof body; len += (size_t)r)
        if ((r = etcd_http_read(h, body + len, sizeof body - len, deadline, w->stop, ignored, sizeof ignored)) <= 0)
            break;
    etcd_answer_error(body, len, why, sizeof why);
    snprintf(err, errlen, "HTTP %d to the watch request%s%s", h->status, why[0] ? ": " : "", why);
}

static int session(watch_t *w, int *created, char *err, size_t errlen)
{
    char why[256];
    *created = 0;
    if (w->next <= 0 && resync(w, err, errlen) < 0)
        return *w->stop ? SESSION_STOPPED : SESSION_FAILED;
    char *body = etcd_watch_request(w->prefix, w->below, w->next);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return SESSION_FAILED;
    }
    etcd_http_t *h = malloc(sizeof *h);
    int rc = h ? etcd_http_open(w->e, w->ep, "/v3/watch", body, etcd_clock_ms() + SETUP_MS, w->stop, h, why, sizeof why) : -1;
    free(body);
    if (rc < 0) {
        snprintf(err, errlen, "%s", h ? why : "out of memory");
        free(h);
        return *w->stop ? SESSION_STOPPED : SESSION_FAILED;
    }
    int outcome;
    if (h->status != 200) {
        refused(w, h, err, errlen);
        outcome = SESSION_FAILED;
    } else {
        outcome = stream(w, h, created, err, errlen);
    }
    etcd_http_close(h);
    free(h);
    return outcome;
}

static void pause_ms(watch_t *w, int ms)
{
    int64_t until = etcd_clock_ms() + ms;
    while (!*w->stop) {
        tick(w);
        int64_t left = until - etcd_clock_ms();
        if (left <= 0)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (left < ETCD_SLICE_MS ? left : ETCD_SLICE_MS) * 1000000};
        nanosleep(&ts, NULL);
    }
}

int etcd_watch_run(etcd_t *e, const char *prefix, const char *below, int64_t start_revision, const etcd_watch_cb_t *cb,
                   atomic_int *stop)
{
    if (!e || !cb || !stop)
        return -1;
    watch_t w = {.e = e,
                 .prefix = prefix ? prefix : "",
                 .below = below,
                 .cb = cb,
                 .stop = stop,
                 .next = start_revision > 0 ? start_revision : 0,
                 .connected = -1};
    int backoff = BACKOFF_MIN_MS;
    while (!*stop) {
        char err[512] = "", msg[600];
        int created;
        int outcome = session(&w, &created, err, sizeof err);
        if (outcome == SESSION_STOPPED)
            break;
        if (created)
            backoff = BACKOFF_MIN_MS;
        if (outcome == SESSION_COMPACTED) {
            /* the next session reads the prefix again; the short pause keeps a server that
             * keeps answering "compacted" from spinning this loop */
            w.next = 0;
            pause_ms(&w, BACKOFF_MIN_MS);
            continue;
        }
        snprintf(msg, sizeof msg, "%s: %s", etcd_endpoint_name(e, w.ep), err);
        report(&w, 0, msg);
        w.ep = (w.ep + 1) % etcd_endpoint_count(e);
        pause_ms(&w, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return 0;
}
