#include "api/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics/metrics.h"
#include "reply/reply.h"

/* An answer held until its change is durable; it keeps the application layer's answer, let go
 * of with the request's memory, so the body is never copied. */
typedef struct pending {
    int status;
    long location; /* -1: no Location header */
    app_result_t res;
} pending_t;

static int http_status(app_status_t s)
{
    static const int map[] = {[APP_OK] = 200,        [APP_CREATED] = 201,   [APP_DELETED] = 204,
                              [APP_BAD_PATH] = 400,  [APP_NOT_FOUND] = 404, [APP_BAD_BODY] = 400,
                              [APP_CONFLICT] = 409,  [APP_UNAVAILABLE] = 503};
    return map[s];
}

static void pending_dispose(void *data) { app_result_release(&((pending_t *)data)->res); }

static void send_pending(h2o_req_t *req, void *data, int ok)
{
    pending_t *p = data;
    if (!ok) {
        reply_error(req, 503, "the change could not be written to disk; nothing was changed");
        return;
    }
    if (p->location >= 0) {
        char loc[32];
        int n = snprintf(loc, sizeof(loc), "/hitos/%ld", p->location);
        reply_header(req, "location", "Location", loc, (size_t)n);
    }
    reply_bytes_nocopy(req, p->status, p->status == 204 ? NULL : REPLY_JSON_TYPE, p->res.body, p->res.len);
}

/* Sends what the application layer decided: errors at once, changes once they are durable. */
static int finish(h2o_req_t *req, app_result_t *r, long location)
{
    int status = http_status(r->status);
    if (status >= 400) {
        reply_error(req, status, "%s", r->err[0] ? r->err : reply_reason(status));
        app_result_release(r);
        return 0;
    }
    pending_t *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), pending_dispose);
    *p = (pending_t){.status = status, .location = location, .res = *r};
    if (r->ticket != 0)
        server_await(req, r->ticket, send_pending, p);
    else
        send_pending(req, p, 1);
    return 0;
}

#define HANDLER(name) static int name(h2o_req_t *req, const route_match_t *m, void *data)
#define PARAM(n) route_param(m, n)
#define APP ((api_t *)data)->app
#define BODY req->entity.base != NULL ? req->entity.base : "", req->entity.len

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
        json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "status", "OK", "service", "porrio", "version", PORRIO_VERSION,
                              "uptime_s", (json_int_t)(now - a->started_at));
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
    case SERVER_SERVING:
        reply_json(req, 200, json_pack("{s:s, s:b}", "status", "ready", "writable", app_writable(a->app)));
        break;
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
        {"porrio_porras", "gauge", "Betting pools held.", (double)st.porras},
        {"porrio_hitos", "gauge", "Milestones held.", (double)st.hitos},
        {"porrio_store_writable", "gauge", "1 when the store accepts writes.", st.writable},
        {"porrio_store_appends_total", "counter", "Changes written to the journal since start.", (double)st.appends},
        {"porrio_store_fsyncs_total", "counter", "Journal fsyncs since start (shared by concurrent writes).", (double)st.fsyncs},
        {"porrio_store_journal_bytes", "gauge", "Size of the journal.", (double)st.journal_bytes},
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
    (void)m, (void)data;
    reply_bytes_nocopy(req, 200, REPLY_JSON_TYPE, api_openapi_json, (size_t)(api_openapi_json_end - api_openapi_json));
    return 0;
}

HANDLER(get_all) { app_result_t r = {0}; (void)m; app_hitos_all(APP, &r); return finish(req, &r, -1); }
HANDLER(get_hitos) { app_result_t r = {0}; (void)m; app_hitos_list(APP, &r); return finish(req, &r, -1); }
HANDLER(get_one) { app_result_t r = {0}; app_hito_get(APP, PARAM("id"), 1, &r); return finish(req, &r, -1); }
HANDLER(get_hito) { app_result_t r = {0}; app_hito_get(APP, PARAM("id"), 0, &r); return finish(req, &r, -1); }

HANDLER(post_hito)
{
    app_result_t r = {0};
    (void)m;
    app_hito_add(APP, BODY, &r);
    return finish(req, &r, r.status == APP_CREATED ? r.index : -1);
}

HANDLER(put_porra)
{
    app_result_t r = {0};
    app_porra_create(APP, PARAM("local"), PARAM("visitante"), PARAM("competition"), PARAM("year"), &r);
    return finish(req, &r, -1);
}

HANDLER(get_porras) { app_result_t r = {0}; (void)m; app_porras_list(APP, &r); return finish(req, &r, -1); }
HANDLER(get_porra) { app_result_t r = {0}; app_porra_get(APP, PARAM("ID"), &r); return finish(req, &r, -1); }
HANDLER(delete_porra) { app_result_t r = {0}; app_porra_delete(APP, PARAM("ID"), &r); return finish(req, &r, -1); }
HANDLER(get_winners) { app_result_t r = {0}; app_porra_winners(APP, PARAM("ID"), &r); return finish(req, &r, -1); }

HANDLER(put_bet)
{
    app_result_t r = {0};
    app_porra_bet(APP, PARAM("ID"), PARAM("quien"), BODY, &r);
    return finish(req, &r, -1);
}

HANDLER(put_result)
{
    app_result_t r = {0};
    app_porra_result(APP, PARAM("ID"), BODY, &r);
    return finish(req, &r, -1);
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
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (route_add(t, routes[i].methods, routes[i].tmpl, (void *)routes[i].handler, a, err, errlen) != 0)
            return -1;
    return 0;
}
