/*
 * middleware: what happens around every request, whoever answers it (a route, the static file
 * handler, or h2o itself rejecting a request): an X-Request-Id on every answer, the CORS headers,
 * gzip for the answers reply chose to compress, the security and cache headers of static files,
 * h2o's plain-text errors rewritten as JSON errors, one JSON log line per request (README: Logs,
 * Behind a reverse proxy) and its count in the metrics.
 */
#ifndef PORRIO_MIDDLEWARE_H
#define PORRIO_MIDDLEWARE_H
#include <h2o.h>

#include "cors/cors.h"
#include "proxy/proxy.h"
#include "route/route.h"

/**
 * Notes on req the route template the router took it to (405s included; tmpl owned by the route
 * table), so that the request's metric labels need not match the path a second time. Cannot fail.
 */
void middleware_note_route(h2o_req_t *req, const char *tmpl);

/**
 * Installs the filter and the request logger on a path configuration. max_body is read (it may
 * change while serving) to tell a client the limit its body broke; cors says which origins are
 * allowed and proxies which peers name the client the log line shows (both may change too);
 * routes name the route each request is counted under in the metrics. All must outlive the
 * server. Cannot fail.
 */
void middleware_register(h2o_pathconf_t *pathconf, const size_t *max_body, cors_t *cors, proxy_t *proxies,
                         const route_table_t *routes);

/**
 * Notes on req that the static file handler of STATIC_DIR answers it: its answer gets the
 * headers a page needs (Content-Security-Policy, X-Content-Type-Options, Cache-Control) and is
 * counted under the route "static" (or "unknown" when no file is there). Cannot fail.
 */
void middleware_note_static(h2o_req_t *req);

#endif
