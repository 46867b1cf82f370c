/* The embedded OpenAPI document against the route table the server really builds: every route is
 * documented, nothing documented is missing from the table, every operation is complete and every
 * $ref resolves. */
#include "api/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MAX_ROUTES 64

static struct {
    char *tmpl;
    int methods;
} routes[MAX_ROUTES];
static int nroutes;
static json_t *doc;

static const struct {
    int bit;
    const char *name; /* as an OpenAPI path item spells it */
} methods[] = {{ROUTE_GET, "get"},       {ROUTE_HEAD, "head"},   {ROUTE_POST, "post"},      {ROUTE_PUT, "put"},
               {ROUTE_DELETE, "delete"}, {ROUTE_PATCH, "patch"}, {ROUTE_OPTIONS, "options"}};

static void collect(void *ctx, const char *tmpl, int mask)
{
    (void)ctx;
    if (nroutes < MAX_ROUTES) {
        routes[nroutes].tmpl = strdup(tmpl);
        routes[nroutes].methods = mask;
    }
    nroutes++;
}

/* The route table exactly as the server builds it, and the document as the binary embeds it. */
static void setup(void)
{
    static api_t api; /* zeroed: the handlers are never called */
    char err[256] = "";
    route_table_t *t = route_table_new();
    if (t == NULL || api_register(t, &api, err, sizeof err) != 0) {
        printf("# api_register failed: %s\n", err);
        exit(1);
    }
    route_each(t, collect, NULL);
    route_table_free(t);
    json_error_t je;
    doc = json_loadb(api_openapi_json, (size_t)(api_openapi_json_end - api_openapi_json), JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        printf("# openapi.json: line %d, column %d: %s\n", je.line, je.column, je.text);
}

static int method_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, name) == 0)
            return methods[i].bit;
    return 0;
}

static int route_methods(const char *tmpl)
{
    for (int i = 0; i < nroutes && i < MAX_ROUTES; i++)
        if (strcmp(routes[i].tmpl, tmpl) == 0)
            return routes[i].methods;
    return -1;
}

/* Resolves a local JSON pointer ("#/components/schemas/Hito"), or NULL. */
static json_t *resolve(const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    json_t *cur = doc;
    const char *p = ref + 1;
    while (*p == '/' && cur != NULL) {
        char tok[256];
        size_t n = 0;
        for (p++; *p != '\0' && *p != '/' && n < sizeof(tok) - 1; p++) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1'))
                tok[n++] = *++p == '0' ? '~' : '/';
            else
                tok[n++] = *p;
        }
        tok[n] = '\0';
        cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
    }
    return *p == '\0' ? cur : NULL;
}

/* j itself, or what its $ref points to. */
static json_t *deref(json_t *j)
{
    const char *ref = json_string_value(json_object_get(j, "$ref"));
    return ref != NULL ? resolve(ref) : j;
}

static void test_parses(void)
{
    EXPECT(doc != NULL);
    if (doc == NULL)
        return;
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    EXPECT(v != NULL && strncmp(v, "3.0", 3) == 0);
    json_t *info = json_object_get(doc, "info");
    EXPECT(json_is_string(json_object_get(info, "title")));
    EXPECT(json_is_string(json_object_get(info, "version")));
    const char *d = json_string_value(json_object_get(info, "description"));
    EXPECT(d != NULL && strstr(d, "X-Request-Id") != NULL && strstr(d, "HEAD") != NULL && strstr(d, "405") != NULL &&
           strstr(d, "disk") != NULL);
    EXPECT(json_is_object(json_object_get(doc, "paths")));
    EXPECT(api_openapi_json_end - api_openapi_json < 96 * 1024); /* served gzip-compressed: about 8 KiB */
}

static void test_table_built(void)
{
    EXPECT(nroutes > 0);
    EXPECT(nroutes <= MAX_ROUTES);
    EXPECT(route_methods("/porras/{ID}") == (ROUTE_GET | ROUTE_DELETE));
}

/* Every (template, method) of the table is under paths[template][method]. */
static void test_every_route_documented(void)
{
    json_t *paths = json_object_get(doc, "paths");
    for (int i = 0; i < nroutes && i < MAX_ROUTES; i++) {
        json_t *item = json_object_get(paths, routes[i].tmpl);
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
            if (!(routes[i].methods & methods[k].bit))
                continue;
            if (methods[k].bit == ROUTE_HEAD && (routes[i].methods & ROUTE_GET))
                continue; /* GET's HEAD need not be listed */
            if (!json_is_object(json_object_get(item, methods[k].name))) {
                test_failed_now = 1;
                printf("# route %s %s is not documented\n", methods[k].name, routes[i].tmpl);
            }
        }
    }
}

/* Every path and operation in the document is a registered route. */
static void test_no_stale_entries(void)
{
    static const char *item_fields[] = {"summary", "description", "servers", "parameters", "$ref", NULL};
    json_t *paths = json_object_get(doc, "paths"), *item;
    const char *tmpl, *key;
    json_t *op;
    json_object_foreach(paths, tmpl, item)
    {
        int mask = route_methods(tmpl);
        if (mask < 0) {
            test_failed_now = 1;
            printf("# documented path %s is not a route\n", tmpl);
            continue;
        }
        json_object_foreach(item, key, op)
        {
            int bit = method_bit(key), known = 0;
            for (int f = 0; item_fields[f] != NULL; f++)
                known |= strcmp(key, item_fields[f]) == 0;
            if (known)
                continue;
            if (bit == 0 && strcmp(key, "trace") != 0 && strncmp(key, "x-", 2) != 0) {
                test_failed_now = 1;
                printf("# %s: unknown path item field %s\n", tmpl, key);
            } else if (bit != ROUTE_OPTIONS && /* the server answers OPTIONS on every route's path */
                       (bit == ROUTE_HEAD ? !(mask & (ROUTE_GET | ROUTE_HEAD)) : !(mask & bit))) {
                test_failed_now = 1;
                printf("# documented %s %s is not a route\n", key, tmpl);
            }
        }
    }
}

/* Does the operation (or its path item) declare path parameter `name`? */
static int has_path_param(json_t *item, json_t *op, const char *name)
{
    json_t *lists[] = {json_object_get(op, "parameters"), json_object_get(item, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(lists[l], i, p)
        {
            p = deref(p);
            if (json_is_true(json_object_get(p, "required")) && json_is_object(json_object_get(p, "schema")) &&
                json_string_value(json_object_get(p, "in")) != NULL &&
                strcmp(json_string_value(json_object_get(p, "in")), "path") == 0 &&
                json_string_value(json_object_get(p, "name")) != NULL &&
                strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
                return 1;
        }
    }
    return 0;
}

/* Number of {params} in tmpl; checks each is declared. */
static int check_params(const char *tmpl, const char *method, json_t *item, json_t *op)
{
    int n = 0;
    for (const char *p = strchr(tmpl, '{'); p != NULL; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        char name[64];
        size_t len = e != NULL ? (size_t)(e - p - 1) : 0;
        if (len == 0 || len >= sizeof(name))
            continue;
        memcpy(name, p + 1, len);
        name[len] = '\0';
        n++;
        if (!has_path_param(item, op, name)) {
            test_failed_now = 1;
            printf("# %s %s: path parameter %s is not declared (required, with a schema)\n", method, tmpl, name);
        }
    }
    return n;
}

/* Every operation: a unique operationId, a summary, its path parameters, a 2xx answer, and each
 * answer described; a requestBody has JSON content with a schema. */
static void test_operations_complete(void)
{
    json_t *paths = json_object_get(doc, "paths"), *item, *op, *ids = json_object();
    const char *tmpl, *key;
    int nops = 0;
    json_object_foreach(paths, tmpl, item)
    {
        json_object_foreach(item, key, op)
        {
            if (method_bit(key) == 0)
                continue;
            nops++;
            const char *id = json_string_value(json_object_get(op, "operationId"));
            if (id == NULL || *id == '\0' || json_object_get(ids, id) != NULL) {
                test_failed_now = 1;
                printf("# %s %s: operationId missing or not unique\n", key, tmpl);
            } else {
                json_object_set_new(ids, id, json_true());
            }
            if (json_string_value(json_object_get(op, "summary")) == NULL) {
                test_failed_now = 1;
                printf("# %s %s: no summary\n", key, tmpl);
            }
            check_params(tmpl, key, item, op);
            json_t *responses = json_object_get(op, "responses"), *r;
            const char *code;
            int ok2xx = 0;
            json_object_foreach(responses, code, r)
            {
                ok2xx |= code[0] == '2';
                if (json_string_value(json_object_get(deref(r), "description")) == NULL) {
                    test_failed_now = 1;
                    printf("# %s %s: answer %s has no description\n", key, tmpl, code);
                }
            }
            if (!ok2xx) {
                test_failed_now = 1;
                printf("# %s %s: no 2xx answer\n", key, tmpl);
            }
            json_t *body = json_object_get(op, "requestBody");
            if (body != NULL && !json_is_object(json_object_get(
                                    json_object_get(json_object_get(deref(body), "content"), "application/json"), "schema"))) {
                test_failed_now = 1;
                printf("# %s %s: requestBody without an application/json schema\n", key, tmpl);
            }
        }
    }
    EXPECT(nops > 0);
    json_decref(ids);
}

static int nrefs;

static void walk_refs(json_t *j, const char *where)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            if (strcmp(key, "$ref") == 0) {
                const char *ref = json_string_value(v);
                nrefs++;
                if (ref == NULL || strncmp(ref, "#/components/", 13) != 0 || resolve(ref) == NULL) {
                    test_failed_now = 1;
                    printf("# %s: $ref %s does not point to a component\n", where, ref ? ref : "(not a string)");
                }
            } else {
                walk_refs(v, key);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) walk_refs(v, where);
    }
}

static void test_refs_resolve(void)
{
    nrefs = 0;
    walk_refs(doc, "(root)");
    EXPECT(nrefs > 0);
}

static void test_schemas(void)
{
    static const char *names[] = {"Status", "Hito",    "HitoList",  "HitosAll", "Porra",
                                  "Porras", "Apuesta", "Ganadores", "Error",    NULL};
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    for (int i = 0; names[i] != NULL; i++)
        if (!json_is_object(json_object_get(schemas, names[i]))) {
            test_failed_now = 1;
            printf("# components/schemas/%s is missing\n", names[i]);
        }
    json_t *props = json_object_get(json_object_get(schemas, "Error"), "properties");
    EXPECT_STR(json_string_value(json_object_get(json_object_get(props, "error"), "type")), "string");
    EXPECT_STR(json_string_value(json_object_get(json_object_get(props, "status"), "type")), "integer");
}

/* The operations that need a bearer token when ADMIN_TOKENS is set (README: Authentication), and
 * only they, declare the `bearer` scheme and its 401 and 403 answers. */
static void test_security(void)
{
    static const char *guarded[] = {"put /porras/{ID}/resultado", "delete /porras/{ID}", "post /hitos"};
    json_t *scheme = json_object_get(json_object_get(json_object_get(doc, "components"), "securitySchemes"), "bearer");
    EXPECT_STR(json_string_value(json_object_get(scheme, "type")), "http");
    EXPECT_STR(json_string_value(json_object_get(scheme, "scheme")), "bearer");
    json_t *paths = json_object_get(doc, "paths"), *item, *op;
    const char *tmpl, *key;
    int found = 0;
    json_object_foreach(paths, tmpl, item)
    {
        json_object_foreach(item, key, op)
        {
            char name[128];
            int want = 0;
            snprintf(name, sizeof(name), "%s %s", key, tmpl);
            for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
                want |= strcmp(name, guarded[i]) == 0;
            json_t *sec = json_object_get(op, "security"), *r = json_object_get(op, "responses");
            int has = json_array_size(sec) == 1 && json_is_array(json_object_get(json_array_get(sec, 0), "bearer"));
            if (method_bit(key) == 0 || (!want && sec == NULL))
                continue;
            found += want && has;
            if (!want || !has || !json_object_get(r, "401") || !json_object_get(r, "403")) {
                test_failed_now = 1;
                printf("# %s: security %s, 401/403 %s\n", name, has ? "declared" : "missing",
                       json_object_get(r, "401") && json_object_get(r, "403") ? "present" : "missing");
            }
        }
    }
    EXPECT_INT(found, 3);
}

int main(void)
{
    setup();
    RUN(test_parses);
    RUN(test_table_built);
    RUN(test_every_route_documented);
    RUN(test_no_stale_entries);
    RUN(test_operations_complete);
    RUN(test_refs_resolve);
    RUN(test_schemas);
    RUN(test_security);
    json_decref(doc);
    for (int i = 0; i < nroutes && i < MAX_ROUTES; i++)
        free(routes[i].tmpl);
    return TEST_END();
}
