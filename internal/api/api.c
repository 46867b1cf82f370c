#include "api/api.h"

#include <jansson.h>

#include "reply/reply.h"

static int get_status(h2o_req_t *req, const route_match_t *m, void *data)
{
    api_t *a = data;
    (void)m;
    reply_json(req, 200, json_pack("{s:s, s:s, s:s, s:I}", "status", "OK", "service", "porrio", "version", PORRIO_VERSION,
                                   "uptime_s", (json_int_t)(time(NULL) - a->started_at)));
    return 0;
}

static int get_live(h2o_req_t *req, const route_match_t *m, void *data)
{
    (void)m, (void)data;
    reply_json(req, 200, json_pack("{s:s}", "status", "live"));
    return 0;
}

static int get_ready(h2o_req_t *req, const route_match_t *m, void *data)
{
    api_t *a = data;
    (void)m;
    switch (a->server != NULL ? server_state(a->server) : SERVER_STARTING) {
    case SERVER_SERVING:
        reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
        break;
    case SERVER_DRAINING:
        reply_error(req, 503, "draining: shutting down");
        break;
    default:
        reply_error(req, 503, "starting");
    }
    return 0;
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
        {ROUTE_GET, "/health/live", get_live},
        {ROUTE_GET, "/health/ready", get_ready},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (route_add(t, routes[i].methods, routes[i].tmpl, (void *)routes[i].handler, a, err, errlen) != 0)
            return -1;
    return 0;
}
