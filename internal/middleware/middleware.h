/*
 * middleware: what happens around every request, whoever answers it (a route, the static file
 * handler, or h2o itself rejecting a request): an X-Request-Id on every answer, h2o's plain-text
 * errors rewritten as JSON errors, and one JSON log line per request (SPEC §6).
 */
#ifndef PORRIO_MIDDLEWARE_H
#define PORRIO_MIDDLEWARE_H
#include <h2o.h>

#define MIDDLEWARE_REQUEST_ID_MAX 128

/** Installs the filter and the request logger on a path configuration. Cannot fail. */
void middleware_register(h2o_pathconf_t *pathconf);

/** Non-zero when a client's request id may be kept: 1-128 characters of [A-Za-z0-9._:-]. */
int middleware_request_id_ok(const char *id, size_t len);

/** Writes a new request id (16 hex digits and a NUL) into out, unique within the process. */
void middleware_request_id_new(char out[17]);

#endif
