/*
 * api: the REST facade. Registers every route of the README's HTTP API (and openapi.json) in a route table and answers each by
 * calling the application layer; knows HTTP and JSON, nothing of storage.
 */
#ifndef PORRIO_API_H
#define PORRIO_API_H
#include <time.h>

#include "app/app.h"
#include "auth/auth.h"
#include "route/route.h"
#include "server/server.h"

typedef struct api {
    server_t *server; /* set before serving: readiness and durable answers go through it */
    app_t *app;
    time_t started_at;
    auth_t *auth; /* the tokens the guarded writes need; NULL or an empty list: open */
} api_t;

/** Adds every route to `t`, each handler receiving `a`. -1 with err if a template is refused. */
int api_register(route_table_t *t, api_t *a, char *err, size_t errlen);

/** The OpenAPI document served at /openapi.json (embedded at build time). */
extern const char api_openapi_json[];
extern const char api_openapi_json_end[];

/** Makes the entity tags' epoch e (app_epoch's: the same on every replica) instead of the one
 * api_register drew; 0 keeps the drawn one. Before serving. */
void api_use_epoch(uint32_t e);

#endif
