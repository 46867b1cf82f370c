#include "api/api.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/api_int.h"
#include "logsink/logsink.h"
#include "metrics/metrics.h"
#include "reply/reply.h"

/* An answer held until its change is durable; it keeps the application layer's answer, let go
 * of with the request's memory, so the body is never copied. */
typedef struct pending {
    int status;
    const char *location; /* NULL: no Location header; else from the request's pool */
    app_result_t res;
} pending_t;

/* The pending answer lives in the request's pool, which serves it from the chunk it already has
 * (h2o mallocs pool allocations of 1 KiB or more one by one: app_result_t stays well under); a
 * small shared allocation only carries the callback that lets go of what the answer holds. */
typedef struct pending_ref {
    pending_t *p;
} pending_ref_t;
_Static_assert(sizeof(pending_t) < 1024, "a pending answer must fit the request pool's chunk");

static int http_status(app_status_t s)
{
    static const int map[] = {
        [APP_OK] = 200,       [APP_CREATED] = 201,  [APP_DELETED] = 204,     [APP_BAD_PATH] = 400, [APP_NOT_FOUND] = 404,
        [APP_BAD_BODY] = 400, [APP_CONFLICT] = 409, [APP_UNAVAILABLE] = 503, [APP_STALE] = 412};
    return map[s];
}

/* Entity tags (README, HTTP conventions): "<epoch>-<kind><version>", the version being what the
 * application layer numbers (app_of_t). The epoch, drawn when the routes are registered, keeps
 * this process's tags apart from an earlier one's: the counters are not stored, and start again
 * from the replay of the store. */
#define TAG_MAX       40
#define TAG_EPOCH_LEN 10 /* "xxxxxxxx-" and the kind */
static uint32_t epoch;

static void tag_of(app_of_t of, uint64_t version, char out[TAG_MAX])
{
    static const char kind[] = {[APP_OF_POOL] = 'p', [APP_OF_POOLS] = 'l', [APP_OF_HITOS] = 'h'};
    snprintf(out, TAG_MAX, "%08" PRIx32 "-%c%" PRIu64, epoch, kind[of], version);
}

/* One tag of If-Match into the versions app checks: "*", or this process's tag of a pool in
 * either encoding (the version is the pool's, whatever encoding it was read in); a weak tag or
 * any other one matches nothing (strong comparison). */
static void match_tag(void *ctx, const char *tag, size_t len, int weak)
{
    app_match_t *m = ctx;
    char want[TAG_EPOCH_LEN + 1];
    size_t sfx = sizeof(REPLY_GZIP_SUFFIX) - 1;
    uint64_t v = 0;
    if (len == 1 && tag[0] == '*') {
        m->any = 1;
        return;
    }
    if (len > sfx && memcmp(tag + len - sfx, REPLY_GZIP_SUFFIX, sfx) == 0)
        len -= sfx;
    snprintf(want, sizeof(want), "%08" PRIx32 "-p", epoch);
    if (weak || len <= TAG_EPOCH_LEN || len > TAG_EPOCH_LEN + 19 || memcmp(tag, want, TAG_EPOCH_LEN) != 0 ||
        (tag[TAG_EPOCH_LEN] == '0' && len > TAG_EPOCH_LEN + 1))
        return;
    for (size_t i = TAG_EPOCH_LEN; i < len; i++) {
        if (tag[i] < '0' || tag[i] > '9')
            return;
        v = v * 10 + (uint64_t)(tag[i] - '0');
    }
    if (m->n < APP_MATCH_MAX)
        m->versions[m->n++] = v;
}

/* The request's If-Match, for the writes on a pool. */
static const app_match_t *if_match(h2o_req_t *req, app_match_t *m)
{
    *m = (app_match_t){0};
    m->given = reply_each_tag(req, H2O_TOKEN_IF_MATCH, match_tag, m) > 0;
    return m;
}

static void pending_dispose(void *data)
{
    app_result_release(&((pending_ref_t *)data)->p->res);
}

static size_t list_next(void *ctx, h2o_iovec_t *out, size_t max)
{
    app_piece_t pieces[256];
    size_t n = app_list_next(ctx, pieces, max < 256 ? max : 256);
    for (size_t i = 0; i < n; i++)
        out[i] = h2o_iovec_init(pieces[i].base, pieces[i].len);
    return n;
}

static void send_pending(h2o_req_t *req, void *data, int ok)
{
    pending_t *p = data;
    if (!ok) {
        reply_error(req, 503, "the change could not be written to disk: it was not made; try again");
        return;
    }
    if (p->status >= 400) { /* an answer that depended on changes still pending: they are durable now */
        reply_error(req, p->status, "%s", p->res.err[0] ? p->res.err : reply_reason(p->status));
        return;
    }
    if (p->res.of != APP_OF_NOTHING) {
        char tag[TAG_MAX];
        tag_of(p->res.of, p->res.version, tag);
        if (p->status == 200 && reply_not_modified(req, tag, p->res.len))
            return;
        reply_etag(req, tag);
    }
    if (p->location != NULL)
        reply_header(req, "location", "Location", p->location, strlen(p->location));
    if (p->res.list != NULL)
        reply_stream(req, p->status, REPLY_JSON_TYPE, p->res.len, list_next, p->res.list);
    else
        reply_bytes_nocopy(req, p->status, p->status == 204 ? NULL : REPLY_JSON_TYPE, p->res.body, p->res.len);
}

/* Sends what the application layer decided: at once, or once the ticket it depends on is decided
 * (the rule of ticket.h: an answer, error or not, never shows a change that may yet be lost);
 * a success carries Location when `location` is not NULL (a string of the request's pool). */
static int finish_at(h2o_req_t *req, app_result_t *r, const char *location)
{
    int status = http_status(r->status);
    if (status >= 400 && r->ticket == 0) {
        reply_error(req, status, "%s", r->err[0] ? r->err : reply_reason(status));
        app_result_release(r);
        return 0;
    }
    pending_t *p = h2o_mem_alloc_pool(&req->pool, sizeof(*p));
    pending_ref_t *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), pending_dispose);
    *p = (pending_t){.status = status, .location = location, .res = *r};
    ref->p = p;
    if (r->ticket != 0)
        server_await(req, r->ticket, send_pending, p);
    else
        send_pending(req, p, 1);
    return 0;
}

/* finish_at with Location: /hitos/{location} when location >= 0. */
static int finish(h2o_req_t *req, app_result_t *r, long location)
{
    char *loc = NULL;
    if (location >= 0) {
        loc = h2o_mem_alloc_pool(&req->pool, 32);
        snprintf(loc, 32, "/hitos/%ld", location);
    }
    return finish_at(req, r, loc);
}

/* Appends s to out percent-encoded but for unreserved bytes (RFC 3986); returns the bytes
 * written, at most 3 * strlen(s). */
static size_t pct_encode(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-._~", *c))
            out[n++] = (char)*c;
        else
            out[n++] = '%', out[n++] = hex[*c >> 4], out[n++] = hex[*c & 15];
    }
    return n;
}

#define HANDLER(name) static int name(h2o_req_t *req, const route_match_t *m, void *data)
#define PARAM(n)      route_param(m, n)
#define APP           ((api_t *)data)->app

HANDLER(get_status)
{
    /* the body changes once a second (uptime_s): each worker keeps its last one */
    static __thread char body[256];
    static __thread size_t len;
    static __thread time_t at = -1;
    api_t *a = data;
    time_t now = time(NULL);
    (void)m;
    if (now != at) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "status", "OK", "service", "porrio", "version", PORRIO_VERSION, "uptime_s",
                              (json_int_t)(now - a->started_at));
        len = j != NULL ? json_dumpb(j, body, sizeof(body), JSON_COMPACT) : 0;
        json_decref(j);
        at = len != 0 && len <= sizeof(body) ? now : -1;
    }
    if (at == -1) {
        reply_error(req, 500, "could not encode the answer");
        return 0;
    }
    reply_bytes(req, 200, REPLY_JSON_TYPE, body, len);
    return 0;
}

HANDLER(get_live)
{
    (void)m, (void)data;
    reply_bytes_nocopy(req, 200, REPLY_JSON_TYPE, H2O_STRLIT("{\"status\":\"live\"}"));
    return 0;
}

HANDLER(get_ready)
{
    api_t *a = data;
    (void)m;
    switch (server_state(a->server)) {
    case SERVER_SERVING: {
        int writable = app_writable(a->app); /* judged once: the two fields must agree */
        reply_json(req, 200,
                   json_pack("{s:s, s:b, s:s}", "status", "ready", "writable", writable, "store",
                             writable             ? "ok"
                             : app_remote(a->app) ? "unreachable"
                                                  : "unwritable"));
        break;
    }
    case SERVER_DELAYING:
    case SERVER_DRAINING:
        reply_error(req, 503, "draining: shutting down");
        break;
    default:
        reply_error(req, 503, "starting");
    }
    return 0;
}

HANDLER(get_metrics)
{
    api_t *a = data;
    app_stats_t st;
    size_t len;
    (void)m;
    app_stats(a->app, &st);
    metrics_value_t extra[] = {
        {"porrio_ready", "gauge", "1 while serving, 0 while starting or draining.", server_state(a->server) == SERVER_SERVING},
        {"porrio_connections", "gauge", "Open client connections.", (double)server_connections(a->server)},
        {"porrio_accept_exhausted_total", "counter", "Times a worker stopped accepting for want of file descriptors.",
         (double)server_accept_exhausted(a->server)},
        {"porrio_porras", "gauge", "Betting pools held.", (double)st.porras},
        {"porrio_apuestas", "gauge", "Bets held, every pool together.", (double)st.apuestas},
        {"porrio_hitos", "gauge", "Milestones held.", (double)st.hitos},
        {"porrio_store_writable", "gauge", "1 when the store accepts writes.", st.store.writable},
        {"porrio_store_appends_total", "counter", "Changes queued for the journal since start.", (double)st.store.appends},
        {"porrio_store_fsyncs_total", "counter", "Journal fsyncs since start (shared by concurrent writes).",
         (double)st.store.fsyncs},
        {"porrio_store_journal_bytes", "gauge", "Bytes in the journals since the newest snapshot.", (double)st.store.journal_bytes},
        {"porrio_store_snapshot_bytes", "gauge", "Size of the newest snapshot.", (double)st.store.snapshot_bytes},
        {"porrio_store_compactions_total", "counter", "Snapshots written since start.", (double)st.store.compactions},
        {"porrio_store_pending", "gauge", "Changes written or queued and not yet durable.", (double)st.pending},
        {"porrio_state_nodes", "gauge", "Nodes of the state's maps and vectors, every version held together.", (double)st.nodes},
        {"porrio_store_view_revision", "gauge", "STORE=etcd: the etcd revision this replica's view shows (0 with STORE=local).",
         (double)st.view_revision},
        {"porrio_store_view_lag_revisions", "gauge",
         "STORE=etcd: revisions of the state etcd acknowledged or sent that this replica's view does not show yet.",
         (double)st.view_lag},
        {"porrio_log_dropped_total", "counter", "Log lines LOG_SINK's queue had no room for (stdout has them all).",
         (double)logsink_dropped()},
    };
    char *text = metrics_render(extra, sizeof(extra) / sizeof(extra[0]), &len);
    if (text == NULL) {
        reply_error(req, 500, "out of memory");
        return 0;
    }
    reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return 0;
}

HANDLER(get_openapi)
{
    char tag[TAG_MAX];
    size_t len = (size_t)(api_openapi_json_end - api_openapi_json);
    (void)m, (void)data;
    snprintf(tag, sizeof(tag), "%08" PRIx32 "-o", epoch); /* built in: it changes only with the binary */
    if (!reply_not_modified(req, tag, len)) {
        reply_etag(req, tag);
        reply_bytes_nocopy(req, 200, REPLY_JSON_TYPE, api_openapi_json, len);
    }
    return 0;
}

HANDLER(get_all)
{
    app_result_t r = {0};
    (void)m;
    app_hitos_all(APP, &r);
    return finish(req, &r, -1);
}
HANDLER(get_hitos)
{
    app_result_t r = {0};
    (void)m;
    app_hitos_list(APP, &r);
    return finish(req, &r, -1);
}
HANDLER(get_one)
{
    app_result_t r = {0};
    app_hito_get(APP, PARAM("id"), 1, &r);
    return finish(req, &r, -1);
}
HANDLER(get_hito)
{
    app_result_t r = {0};
    app_hito_get(APP, PARAM("id"), 0, &r);
    return finish(req, &r, -1);
}

/* ---- writes: answered here, or later when the store's writes go on without the loop ---- */

typedef enum { W_HITO, W_CREATE, W_DELETE, W_BET, W_RESULT } write_kind_t;

/* One write: what it needs of the request, and its result. Answered later, it is a malloc'd copy
 * holding its own copies of the strings, since the request may go away meanwhile. */
typedef struct write {
    write_kind_t kind;
    app_t *app;
    const char *p[4]; /* path parameters, by kind: W_CREATE the four segments; ID; quien */
    const char *body;
    size_t len;
    app_match_t match;
    app_result_t res;
    server_job_t *job; /* answered later: the request's answer, held */
} write_t;

/* Runs the write: 0 with its answer in w->res; 1 when w->res.later gets it (app.h). */
static int write_run(write_t *w)
{
    switch (w->kind) {
    case W_HITO:
        return app_hito_add(w->app, w->body, w->len, &w->res);
    case W_CREATE:
        return app_porra_create(w->app, w->p[0], w->p[1], w->p[2], w->p[3], &w->res);
    case W_DELETE:
        return app_porra_delete(w->app, w->p[0], &w->match, &w->res);
    case W_BET:
        return app_porra_bet(w->app, w->p[0], w->p[1], w->body, w->len, &w->match, &w->res);
    case W_RESULT:
        return app_porra_result(w->app, w->p[0], w->body, w->len, &w->match, &w->res);
    }
    return 0;
}

/* A write's answer, on whatever thread finished it: the loop takes it from here. */
static void write_later(app_result_t *r)
{
    write_t *w = (write_t *)((char *)r - offsetof(write_t, res));
    server_job_done(w->job);
}

/* Answers a write. The course's route answers 200 with the pool whether it is new or not
 * (README), pointing at the pool's own resource; a new milestone points at itself. */
static void write_answer(h2o_req_t *req, write_t *w)
{
    app_result_t *r = &w->res;
    char id[PORRA_ID_MAX + 1], *loc = NULL;
    if (w->kind == W_HITO) {
        finish(req, r, r->status == APP_CREATED ? r->index : -1);
        return;
    }
    if (w->kind == W_CREATE && r->status == APP_CREATED)
        r->status = APP_OK;
    if (w->kind == W_CREATE && r->status == APP_OK) {
        snprintf(id, sizeof(id), "%s-%s-%s-%s", w->p[0], w->p[1], w->p[2], w->p[3]);
        loc = h2o_mem_alloc_pool(&req->pool, sizeof("/porras/") + 3 * strlen(id));
        memcpy(loc, "/porras/", 8);
        loc[8 + pct_encode(loc + 8, id)] = '\0';
    }
    finish_at(req, r, loc);
}

static void write_done(h2o_req_t *req, void *data)
{
    write_t *w = data;
    if (req != NULL)
        write_answer(req, w);
    else
        app_result_release(&w->res);
    free(w);
}

/* A string of the copy: s's bytes at *at, which moves past them. */
static const char *copy_in(char **at, const char *s, size_t len)
{
    char *d = *at;
    memcpy(d, s, len);
    d[len] = '\0';
    *at += len + 1;
    return d;
}

static int write_start(h2o_req_t *req, write_t *w)
{
    if (w->body == NULL)
        w->body = "";
    if (!app_remote(w->app)) {
        write_run(w);
        write_answer(req, w);
        return 0;
    }
    size_t n[4] = {0}, total = sizeof(*w) + w->len + 1;
    for (int i = 0; i < 4; i++)
        total += w->p[i] != NULL ? (n[i] = strlen(w->p[i])) + 1 : 0;
    write_t *c = malloc(total);
    if (c == NULL) {
        reply_error(req, 503, "out of memory");
        return 0;
    }
    *c = *w;
    char *at = (char *)(c + 1);
    for (int i = 0; i < 4; i++)
        if (w->p[i] != NULL)
            c->p[i] = copy_in(&at, w->p[i], n[i]);
    c->body = copy_in(&at, w->body, w->len);
    if ((c->job = server_hold(req, write_done, c)) == NULL) {
        free(c);
        reply_error(req, 503, "out of memory");
        return 0;
    }
    c->res.later = write_later;
    if (write_run(c) == 0) /* answered already: the loop sends it on its next turn */
        server_job_done(c->job);
    return 0;
}

#define WRITE(k, ...)                      \
    (write_t)                              \
    {                                      \
        .kind = k, .app = APP, __VA_ARGS__ \
    }

HANDLER(post_hito)
{
    (void)m;
    if (api_guard(req, data) != 0)
        return 0;
    return write_start(req, &WRITE(W_HITO, .body = req->entity.base, .len = req->entity.len));
}

HANDLER(put_porra)
{
    return write_start(req, &WRITE(W_CREATE, .p = {PARAM("local"), PARAM("visitante"), PARAM("competition"), PARAM("year")}));
}

/* `</porras?limit=N&after=ID>; rel="next"`, the ID percent-encoded. */
static void link_next(h2o_req_t *req, size_t limit, const char *last)
{
    char link[64 + 3 * PORRA_ID_MAX];
    size_t n = (size_t)snprintf(link, sizeof(link), "</porras?limit=%zu&after=", limit);
    n += pct_encode(link + n, last);
    n += (size_t)snprintf(link + n, sizeof(link) - n, ">; rel=\"next\"");
    reply_header(req, "link", "Link", link, n);
}

HANDLER(get_porras)
{
    app_result_t r = {0};
    char after[PORRA_ID_MAX + 1], lim[32], *end;
    size_t limit = 0;
    (void)m;
    int has_after = route_query(req->path.base, req->path.len, "after", after, sizeof(after));
    int has_limit = route_query(req->path.base, req->path.len, "limit", lim, sizeof(lim));
    if (has_limit != 0) {
        unsigned long v = has_limit > 0 && lim[0] >= '0' && lim[0] <= '9' ? strtoul(lim, &end, 10) : 0;
        if (v < 1 || v > APP_PAGE_MAX || *end != '\0') {
            reply_error(req, 400, "limit: must be an integer from 1 to %d", APP_PAGE_MAX);
            return 0;
        }
        limit = v;
    }
    if (has_after < 0 || (has_after > 0 && !porra_id_ok(after))) {
        reply_error(req, 400, "after: must be a pool ID (local-visitante-competition-year)");
        return 0;
    }
    if (has_after > 0 && limit == 0)
        limit = APP_PAGE_DEFAULT;
    app_porras_list(APP, has_after > 0 ? after : NULL, limit, &r);
    if (r.status == APP_OK && r.next != NULL && r.next[0] != '\0')
        link_next(req, limit, r.next);
    return finish(req, &r, -1);
}
HANDLER(get_porra)
{
    app_result_t r = {0};
    app_porra_get(APP, PARAM("ID"), &r);
    return finish(req, &r, -1);
}
HANDLER(get_winners)
{
    app_result_t r = {0};
    app_porra_winners(APP, PARAM("ID"), &r);
    return finish(req, &r, -1);
}

HANDLER(delete_porra)
{
    if (api_guard(req, data) != 0)
        return 0;
    write_t w = WRITE(W_DELETE, .p = {PARAM("ID")});
    if_match(req, &w.match);
    return write_start(req, &w);
}

HANDLER(put_bet)
{
    write_t w = WRITE(W_BET, .p = {PARAM("ID"), PARAM("quien")}, .body = req->entity.base, .len = req->entity.len);
    if_match(req, &w.match);
    return write_start(req, &w);
}

HANDLER(put_result)
{
    if (api_guard(req, data) != 0)
        return 0;
    write_t w = WRITE(W_RESULT, .p = {PARAM("ID")}, .body = req->entity.base, .len = req->entity.len);
    if_match(req, &w.match);
    return write_start(req, &w);
}

int api_register(route_table_t *t, api_t *a, char *err, size_t errlen)
{
    static const struct {
        int methods;
        const char *tmpl;
        server_handler_t handler;
    } routes[] = {
        {ROUTE_GET, "/", get_status},
        {ROUTE_GET, "/status", get_status},
        {ROUTE_GET, "/all", get_all},
        {ROUTE_GET, "/one/{id}", get_one},
        {ROUTE_PUT, "/porra/{local}/{visitante}/{competition}/{year}", put_porra},
        {ROUTE_GET, "/porras", get_porras},
        {ROUTE_GET, "/hitos", get_hitos},
        {ROUTE_POST, "/hitos", post_hito},
        {ROUTE_GET, "/hitos/{id}", get_hito},
        {ROUTE_GET, "/porras/{ID}", get_porra},
        {ROUTE_DELETE, "/porras/{ID}", delete_porra},
        {ROUTE_PUT, "/porras/{ID}/apuestas/{quien}", put_bet},
        {ROUTE_PUT, "/porras/{ID}/resultado", put_result},
        {ROUTE_GET, "/porras/{ID}/ganadores", get_winners},
        {ROUTE_GET, "/health/live", get_live},
        {ROUTE_GET, "/health/ready", get_ready},
        {ROUTE_GET, "/metrics", get_metrics},
        {ROUTE_GET, "/openapi.json", get_openapi},
    };
    if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
        epoch = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (route_add(t, routes[i].methods, routes[i].tmpl, (void *)routes[i].handler, a, err, errlen) != 0)
            return -1;
    return 0;
}

void api_use_epoch(uint32_t e)
{
    if (e != 0)
        epoch = e;
}
