/* route_fuzz: route_match and route_query on arbitrary method and path bytes, against the table
 * the API registers (README: HTTP API), then the path rules the domain applies to what they
 * decode (porra_segment_ok, porra_id_ok, hito_index_parse).
 *
 * Input: byte 0 picks the method (bits 0-2: none or one of the seven) and the size of a second,
 * small decoding buffer (bits 3-7); the rest is the path. The path is copied into a buffer of its
 * exact size, with no NUL after it, so ASan reports any read past its end.
 * Checked beyond "no crash":
 *   - a result's fields agree with it (FOUND: a handler, the method allowed, one value per
 *     parameter of the template, each NUL-free with its length; NOT_FOUND: nothing allowed);
 *   - a decoded value re-encodes: the path rebuilt from the template with every byte of each
 *     value written as %XX matches the same template with the same values and methods;
 *   - a buffer smaller than route.h's bound gives the same answer or ROUTE_BAD_PATH, never more;
 *   - route_query's value fits the buffer it was given, NUL-terminated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hito/hito.h"
#include "porra/porra.h"
#include "route/route.h"
#include "fuzz.h"

/* The API's routes, as internal/api/api.c registers them (and internal/api/openapi.json
 * documents them): the handler is the template itself, so a match names what it found. */
static const struct {
    int methods;
    const char *tmpl;
} routes[] = {
    {ROUTE_GET, "/"},
    {ROUTE_GET, "/status"},
    {ROUTE_GET, "/all"},
    {ROUTE_GET, "/one/{id}"},
    {ROUTE_PUT, "/porra/{local}/{visitante}/{competition}/{year}"},
    {ROUTE_GET, "/porras"},
    {ROUTE_GET, "/hitos"},
    {ROUTE_POST, "/hitos"},
    {ROUTE_GET, "/hitos/{id}"},
    {ROUTE_GET, "/porras/{ID}"},
    {ROUTE_DELETE, "/porras/{ID}"},
    {ROUTE_PUT, "/porras/{ID}/apuestas/{quien}"},
    {ROUTE_PUT, "/porras/{ID}/resultado"},
    {ROUTE_GET, "/porras/{ID}/ganadores"},
    {ROUTE_GET, "/health/live"},
    {ROUTE_GET, "/health/ready"},
    {ROUTE_GET, "/metrics"},
    {ROUTE_GET, "/openapi.json"},
};

static route_table_t *table(void)
{
    static route_table_t *t;
    char err[256];
    if (t != NULL)
        return t;
    CHECK((t = route_table_new()) != NULL);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (route_add(t, routes[i].methods, routes[i].tmpl, (void *)routes[i].tmpl, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "route_fuzz: %s: %s\n", routes[i].tmpl, err);
            abort();
        }
    return t;
}

static size_t count_params(const char *tmpl)
{
    size_t n = 0;
    for (; *tmpl; tmpl++)
        n += *tmpl == '{';
    return n;
}

/* The path of m's template with each parameter written as %XX for every byte of its value:
 * malloc'd, its length in *len. */
static char *reencode(const route_match_t *m, size_t *len)
{
    size_t cap = strlen(m->tmpl) + 1, n = 0;
    int p = 0;
    for (int i = 0; i < m->nparams; i++)
        cap += 3 * m->params[i].len;
    char *out = malloc(cap);
    CHECK(out != NULL);
    for (const char *t = m->tmpl; *t;) {
        if (*t != '{') {
            out[n++] = *t++;
            continue;
        }
        CHECK(p < m->nparams);
        for (size_t k = 0; k < m->params[p].len; k++)
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", (unsigned char)m->params[p].value[k]);
        p++;
        t = strchr(t, '}') + 1;
    }
    *len = n;
    return out;
}

static void check_consistent(route_result_t rr, const route_match_t *m, int method)
{
    if (rr == ROUTE_FOUND) {
        CHECK(m->handler != NULL && m->tmpl != NULL && strcmp(m->handler, m->tmpl) == 0);
        CHECK(method != 0 && (m->allow & method) != 0);
        CHECK((size_t)m->nparams == count_params(m->tmpl));
        for (int i = 0; i < m->nparams; i++) {
            CHECK(m->params[i].name != NULL && m->params[i].value != NULL);
            CHECK(strlen(m->params[i].value) == m->params[i].len);
            CHECK(route_param(m, m->params[i].name) != NULL);
        }
    } else if (rr == ROUTE_METHOD_NOT_ALLOWED) {
        CHECK(m->tmpl != NULL && m->allow != 0 && (m->allow & method) == 0);
    } else if (rr == ROUTE_NOT_FOUND) {
        CHECK(m->allow == 0 && m->nparams == 0);
    }
}

/* What the domain does with the values: the rules of the path segments. */
static void domain_rules(const route_match_t *m)
{
    char err[256];
    long index;
    for (int i = 0; i < m->nparams; i++) {
        const route_param_t *p = &m->params[i];
        if (strcmp(p->name, "ID") == 0) {
            (void)porra_id_ok(p->value);
        } else if (strcmp(p->name, "id") == 0) {
            if (hito_index_parse(p->value, &index) == 0)
                CHECK(index >= 0 && p->len > 0);
        } else if (porra_segment_ok(p->value, strcmp(p->name, "quien") == 0, err, sizeof(err))) {
            CHECK(p->len >= 1 && p->len <= PORRA_SEGMENT_MAX);
        } else {
            CHECK(err[0] != '\0');
        }
    }
}

static void query(const char *path, size_t len, const char *name, size_t cap)
{
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    int rc = route_query(path, len, name, buf, cap);
    CHECK(rc >= -1 && rc <= 1);
    if (rc == 1)
        CHECK(strlen(buf) < cap);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int methods[8] = {0, ROUTE_GET, ROUTE_HEAD, ROUTE_POST, ROUTE_PUT, ROUTE_DELETE, ROUTE_PATCH, ROUTE_OPTIONS};
    const route_table_t *t = table();
    if (size < 1)
        return 0;
    int method = methods[data[0] & 7];
    size_t small = data[0] >> 3, len = size - 1;
    char *path = fuzz_dup(data + 1, len);

    size_t cap = len + ROUTE_MAX_PARAMS;
    char *buf = malloc(cap);
    route_match_t m;
    CHECK(buf != NULL);
    route_result_t rr = route_match(t, method, path, len, buf, cap, &m);
    check_consistent(rr, &m, method);
    if (rr == ROUTE_FOUND)
        domain_rules(&m);

    if ((rr == ROUTE_FOUND || rr == ROUTE_METHOD_NOT_ALLOWED) && m.nparams > 0) {
        size_t elen;
        char *again = reencode(&m, &elen);
        char *buf2 = malloc(elen + ROUTE_MAX_PARAMS);
        route_match_t m2;
        CHECK(buf2 != NULL);
        CHECK(route_match(t, method, again, elen, buf2, elen + ROUTE_MAX_PARAMS, &m2) == rr);
        CHECK(m2.tmpl == m.tmpl && m2.allow == m.allow && m2.nparams == m.nparams);
        for (int i = 0; i < m.nparams; i++)
            CHECK(m2.params[i].len == m.params[i].len && memcmp(m2.params[i].value, m.params[i].value, m.params[i].len) == 0);
        free(buf2);
        free(again);
    }

    char *tiny = malloc(small ? small : 1);
    route_match_t m3;
    CHECK(tiny != NULL);
    route_result_t r3 = route_match(t, method, path, len, tiny, small, &m3);
    CHECK(r3 == rr || r3 == ROUTE_BAD_PATH);
    if (r3 == rr)
        check_consistent(r3, &m3, method);
    free(tiny);

    query(path, len, "limit", 16);
    query(path, len, "after", cap);
    (void)route_method(path, len < 8 ? len : 8);
    free(buf);
    free(path);
    return 0;
}
