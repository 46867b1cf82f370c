#include "route/route.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Distinct addresses serve as handlers: the router never calls them. */
static int h_status, h_root, h_one, h_porra, h_hitos_get, h_hitos_post, h_hito, h_hito_new, h_porras_id, h_porras_del, h_ganadores,
    h_generic, h_apuesta, h_head;

static char buf[512];
static route_match_t m;

static route_result_t match(const route_table_t *t, int method, const char *path)
{
    return route_match(t, method, path, strlen(path), buf, sizeof buf, &m);
}

static route_table_t *table(void)
{
    route_table_t *t = route_table_new();
    char err[128];
    int rc = 0;
    rc |= route_add(t, ROUTE_GET, "/", &h_root, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/status", &h_status, "sdata", err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/one/{id}", &h_one, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_PUT, "/porra/{local}/{visitante}/{competition}/{year}", &h_porra, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/hitos", &h_hitos_get, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_POST, "/hitos", &h_hitos_post, "pdata", err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/hitos/{id}", &h_hito, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/hitos/new", &h_hito_new, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/porras/{ID}", &h_porras_id, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_DELETE, "/porras/{ID}", &h_porras_del, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/porras/{ID}/{x}", &h_generic, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/porras/{ID}/ganadores", &h_ganadores, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_PUT, "/porras/{ID}/apuestas/{quien}", &h_apuesta, NULL, err, sizeof err);
    EXPECT_INT(rc, 0);
    return t;
}

static void test_method_names(void)
{
    EXPECT_INT(route_method("GET", 3), ROUTE_GET);
    EXPECT_INT(route_method("HEAD", 4), ROUTE_HEAD);
    EXPECT_INT(route_method("OPTIONS", 7), ROUTE_OPTIONS);
    EXPECT_INT(route_method("DELETEX", 6), ROUTE_DELETE);
    EXPECT_INT(route_method("get", 3), 0);
    EXPECT_INT(route_method("GE", 2), 0);
    EXPECT_INT(route_method("TRACE", 5), 0);
}

static void test_literal(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/status"), ROUTE_FOUND);
    EXPECT(m.handler == &h_status);
    EXPECT_STR((const char *)m.data, "sdata");
    EXPECT_STR(m.tmpl, "/status");
    EXPECT_INT(m.nparams, 0);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD);
    EXPECT_INT(match(t, ROUTE_POST, "/hitos"), ROUTE_FOUND);
    EXPECT(m.handler == &h_hitos_post);
    EXPECT_STR((const char *)m.data, "pdata");
    EXPECT_INT(match(t, ROUTE_GET, "/statusx"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/Status"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/stat"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/status/x"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "status"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, ""), ROUTE_NOT_FOUND);
    EXPECT(m.handler == NULL && m.allow == 0);
    route_table_free(t);
}

static void test_root(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/"), ROUTE_FOUND);
    EXPECT(m.handler == &h_root);
    EXPECT_STR(m.tmpl, "/");
    EXPECT_INT(match(t, ROUTE_GET, "/?a=b"), ROUTE_FOUND);
    EXPECT(m.handler == &h_root);
    EXPECT_INT(match(t, ROUTE_GET, "//"), ROUTE_NOT_FOUND);
    route_table_free(t);
    route_table_t *e = route_table_new();
    EXPECT_INT(match(e, ROUTE_GET, "/"), ROUTE_NOT_FOUND);
    route_table_free(e);
}

static void test_params(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/one/42"), ROUTE_FOUND);
    EXPECT(m.handler == &h_one);
    EXPECT_INT(m.nparams, 1);
    EXPECT_STR(m.params[0].name, "id");
    EXPECT_STR(m.params[0].value, "42");
    EXPECT_INT(m.params[0].len, 2);
    EXPECT_STR(route_param(&m, "id"), "42");
    EXPECT(route_param(&m, "ID") == NULL);
    EXPECT(route_param(&m, "i") == NULL);
    EXPECT_INT(match(t, ROUTE_GET, "/one"), ROUTE_NOT_FOUND);
    route_table_free(t);
}

static void test_multiple_params(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_PUT, "/porra/Betis/Sevilla/Liga/2024"), ROUTE_FOUND);
    EXPECT(m.handler == &h_porra);
    EXPECT_STR(m.tmpl, "/porra/{local}/{visitante}/{competition}/{year}");
    EXPECT_INT(m.nparams, 4);
    EXPECT_STR(route_param(&m, "local"), "Betis");
    EXPECT_STR(route_param(&m, "visitante"), "Sevilla");
    EXPECT_STR(route_param(&m, "competition"), "Liga");
    EXPECT_STR(route_param(&m, "year"), "2024");
    EXPECT_STR(m.params[3].name, "year");
    EXPECT_INT(match(t, ROUTE_PUT, "/porras/B-S-L-2/apuestas/ana-b"), ROUTE_FOUND);
    EXPECT(m.handler == &h_apuesta);
    EXPECT_STR(route_param(&m, "ID"), "B-S-L-2");
    EXPECT_STR(route_param(&m, "quien"), "ana-b");
    EXPECT_INT(match(t, ROUTE_PUT, "/porra/Betis/Sevilla/Liga"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_PUT, "/porra/Betis/Sevilla/Liga/2024/x"), ROUTE_NOT_FOUND);
    route_table_free(t);
}

static void check_precedence(route_table_t *t)
{
    EXPECT_INT(match(t, ROUTE_GET, "/hitos/new"), ROUTE_FOUND);
    EXPECT(m.handler == &h_hito_new);
    EXPECT_STR(m.tmpl, "/hitos/new");
    EXPECT_INT(m.nparams, 0);
    EXPECT_INT(match(t, ROUTE_GET, "/hitos/3"), ROUTE_FOUND);
    EXPECT(m.handler == &h_hito);
    EXPECT_STR(route_param(&m, "id"), "3");
    EXPECT_INT(match(t, ROUTE_GET, "/porras/X/ganadores"), ROUTE_FOUND);
    EXPECT(m.handler == &h_ganadores);
    EXPECT_STR(route_param(&m, "ID"), "X");
    EXPECT(route_param(&m, "x") == NULL);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/X/otra"), ROUTE_FOUND);
    EXPECT(m.handler == &h_generic);
    EXPECT_STR(route_param(&m, "x"), "otra");
    /* the first differing segment decides, even when a later one is literal in the other */
    EXPECT_INT(match(t, ROUTE_GET, "/a/b/c"), ROUTE_FOUND);
    EXPECT_STR(m.tmpl, "/a/{p}/{q}");
}

static void test_precedence(void)
{
    route_table_t *t = table();
    char err[128];
    EXPECT_INT(route_add(t, ROUTE_GET, "/a/{p}/{q}", &h_generic, NULL, err, sizeof err), 0);
    EXPECT_INT(route_add(t, ROUTE_GET, "/{o}/b/c", &h_generic, NULL, err, sizeof err), 0);
    check_precedence(t);
    route_table_free(t);

    /* the same routes registered in the opposite order */
    t = route_table_new();
    int rc = 0;
    rc |= route_add(t, ROUTE_GET, "/{o}/b/c", &h_generic, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/a/{p}/{q}", &h_generic, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/hitos/new", &h_hito_new, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/hitos/{id}", &h_hito, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/porras/{ID}/ganadores", &h_ganadores, NULL, err, sizeof err);
    rc |= route_add(t, ROUTE_GET, "/porras/{ID}/{x}", &h_generic, NULL, err, sizeof err);
    EXPECT_INT(rc, 0);
    check_precedence(t);
    route_table_free(t);
}

static void test_trailing_slash_and_empty_segments(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/status/"), ROUTE_FOUND);
    EXPECT(m.handler == &h_status);
    EXPECT_INT(match(t, ROUTE_GET, "/one/7/"), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "id"), "7");
    EXPECT_INT(match(t, ROUTE_GET, "/status/?x=1"), ROUTE_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/status//"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "//status"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/one//"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/porras//ganadores"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_PUT, "/porra/a//c/d"), ROUTE_NOT_FOUND);
    route_table_free(t);
}

static void test_query_ignored(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/status?verbose=1&x=/y"), ROUTE_FOUND);
    EXPECT(m.handler == &h_status);
    EXPECT_INT(match(t, ROUTE_GET, "/one/5?x=%zz"), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "id"), "5");
    EXPECT_INT(m.params[0].len, 1);
    /* pathlen is honoured: the bytes after it are not part of the path */
    EXPECT_INT(route_match(t, ROUTE_GET, "/one/12345", 6, buf, sizeof buf, &m), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "id"), "1");
    route_table_free(t);
}

static void test_percent_decoding(void)
{
    route_table_t *t = table();
    EXPECT_INT(match(t, ROUTE_GET, "/porras/Espa%C3%B1a"), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "ID"), "Espa\xc3\xb1"
                                      "a");
    EXPECT_INT(m.params[0].len, 7);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/a%2Fb/ganadores"), ROUTE_FOUND);
    EXPECT(m.handler == &h_ganadores);
    EXPECT_STR(route_param(&m, "ID"), "a/b");
    EXPECT_INT(match(t, ROUTE_GET, "/porras/a%2fb"), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "ID"), "a/b");
    EXPECT_INT(match(t, ROUTE_GET, "/porras/a+b%20c%25"), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "ID"), "a+b c%");
    EXPECT_INT(match(t, ROUTE_GET, "/porras/%zz"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/%4"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/ab%"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/%4g"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/%00"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/%4/"), ROUTE_BAD_PATH);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/x%00y/ganadores"), ROUTE_BAD_PATH);
    /* literals compare raw: an encoded literal is a parameter value, not the literal */
    EXPECT_INT(match(t, ROUTE_GET, "/hitos/ne%77"), ROUTE_FOUND);
    EXPECT(m.handler == &h_hito);
    EXPECT_STR(route_param(&m, "id"), "new");
    EXPECT_INT(match(t, ROUTE_GET, "/st%61tus"), ROUTE_NOT_FOUND);
    route_table_free(t);
}

/* A raw NUL byte in a value is refused as %00 is: the value would end at it, short of what the
 * path said (the path's length is given, so the byte reaches the router). */
static void test_raw_nul(void)
{
    static const char path[] = "/porra/Betis/\0\0\0 lla/Liga/2017";
    static const char query_path[] = "/porras?after=a\0b&limit=1";
    char q[16];
    route_table_t *t = table();
    EXPECT_INT(route_match(t, ROUTE_PUT, path, sizeof path - 1, buf, sizeof buf, &m), ROUTE_BAD_PATH);
    EXPECT_INT(route_match(t, ROUTE_GET, "/porras/a\0", 10, buf, sizeof buf, &m), ROUTE_BAD_PATH);
    EXPECT_INT(route_query(query_path, sizeof query_path - 1, "after", q, sizeof q), -1);
    EXPECT_INT(route_query(query_path, sizeof query_path - 1, "limit", q, sizeof q), 1);
    EXPECT_STR(q, "1");
    route_table_free(t);
}

static void test_not_found_vs_not_allowed(void)
{
    route_table_t *t = table();
    char a[ROUTE_ALLOW_MAX];
    EXPECT_INT(match(t, ROUTE_DELETE, "/status"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD);
    EXPECT(m.handler == NULL);
    route_allow_string(m.allow, a, sizeof a);
    EXPECT_STR(a, "GET, HEAD");
    EXPECT_INT(match(t, ROUTE_PUT, "/hitos"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD | ROUTE_POST);
    route_allow_string(m.allow, a, sizeof a);
    EXPECT_STR(a, "GET, HEAD, POST");
    EXPECT_INT(match(t, ROUTE_PUT, "/porras/X"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD | ROUTE_DELETE);
    EXPECT_INT(match(t, 0, "/porras/X"), ROUTE_METHOD_NOT_ALLOWED); /* unknown method */
    EXPECT_INT(match(t, ROUTE_GET | ROUTE_PUT, "/porras/X"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_INT(match(t, ROUTE_DELETE, "/porras/X"), ROUTE_FOUND);
    EXPECT(m.handler == &h_porras_del);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD | ROUTE_DELETE);
    EXPECT_INT(match(t, ROUTE_GET, "/porras/X"), ROUTE_FOUND);
    EXPECT(m.handler == &h_porras_id);
    /* allow is the path's: both /porras/{ID}/ganadores and /porras/{ID}/{x} */
    EXPECT_INT(match(t, ROUTE_POST, "/porras/X/ganadores"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_STR(m.tmpl, "/porras/{ID}/ganadores");
    EXPECT_INT(match(t, ROUTE_DELETE, "/nope"), ROUTE_NOT_FOUND);
    EXPECT_INT(m.allow, 0);
    EXPECT(m.tmpl == NULL);

    EXPECT_INT(route_allow_string(ROUTE_ALL_METHODS, a, sizeof a), 44);
    EXPECT_STR(a, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    EXPECT_INT(route_allow_string(ROUTE_PUT | ROUTE_GET | ROUTE_OPTIONS, a, sizeof a), 17);
    EXPECT_STR(a, "GET, PUT, OPTIONS");
    EXPECT_INT(route_allow_string(0, a, sizeof a), 0);
    EXPECT_STR(a, "");
    char small[6];
    memset(small, 'x', sizeof small);
    EXPECT_INT(route_allow_string(ROUTE_GET | ROUTE_HEAD, small, sizeof small), 9);
    EXPECT_STR(small, "GET, ");
    EXPECT_INT(route_allow_string(ROUTE_GET, NULL, 0), 3);
    route_table_free(t);
}

static void test_head(void)
{
    route_table_t *t = table();
    char err[128];
    EXPECT_INT(match(t, ROUTE_HEAD, "/status"), ROUTE_FOUND);
    EXPECT(m.handler == &h_status);
    EXPECT_STR((const char *)m.data, "sdata");
    EXPECT_INT(match(t, ROUTE_HEAD, "/porras/X/ganadores"), ROUTE_FOUND);
    EXPECT(m.handler == &h_ganadores);
    EXPECT_INT(match(t, ROUTE_HEAD, "/porra/a/b/c/d"), ROUTE_METHOD_NOT_ALLOWED);
    EXPECT_INT(m.allow, ROUTE_PUT);
    /* an explicit HEAD handler beats the implied one */
    EXPECT_INT(route_add(t, ROUTE_HEAD, "/status", &h_head, NULL, err, sizeof err), 0);
    EXPECT_INT(match(t, ROUTE_HEAD, "/status"), ROUTE_FOUND);
    EXPECT(m.handler == &h_head);
    EXPECT_INT(match(t, ROUTE_GET, "/status"), ROUTE_FOUND);
    EXPECT(m.handler == &h_status);
    route_table_free(t);
}

static void expect_bad(route_table_t *t, int methods, const char *tmpl)
{
    char err[128] = "";
    int rc = route_add(t, methods, tmpl, &h_generic, NULL, err, sizeof err);
    if (rc != -1 || err[0] == '\0')
        printf("# template \"%s\" (methods %d) accepted or no message\n", tmpl, methods);
    EXPECT_INT(rc, -1);
    EXPECT(err[0] != '\0');
}

static void test_bad_templates(void)
{
    route_table_t *t = route_table_new();
    expect_bad(t, ROUTE_GET, "");
    expect_bad(t, ROUTE_GET, "status");
    expect_bad(t, ROUTE_GET, "/a/{}");
    expect_bad(t, ROUTE_GET, "/a/{x}/{x}");
    expect_bad(t, ROUTE_GET, "/a/{x");
    expect_bad(t, ROUTE_GET, "/a/x}");
    expect_bad(t, ROUTE_GET, "/a/{x}y");
    expect_bad(t, ROUTE_GET, "/a/y{x}");
    expect_bad(t, ROUTE_GET, "/a/{x/y}");
    expect_bad(t, ROUTE_GET, "/a/{x y}");
    expect_bad(t, ROUTE_GET, "/a/{");
    expect_bad(t, ROUTE_GET, "/a//b");
    expect_bad(t, ROUTE_GET, "/a/");
    expect_bad(t, ROUTE_GET, "//");
    expect_bad(t, ROUTE_GET, "/a?b");
    expect_bad(t, ROUTE_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}");
    expect_bad(t, 0, "/ok");
    expect_bad(t, 128, "/ok");
    expect_bad(t, -1, "/ok");
    char err[64];
    EXPECT_INT(route_add(t, ROUTE_GET, NULL, NULL, NULL, err, sizeof err), -1);
    EXPECT_INT(route_add(NULL, ROUTE_GET, "/", NULL, NULL, NULL, 0), -1);
    /* exactly at the limits is fine */
    EXPECT_INT(route_add(t, ROUTE_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", NULL, NULL, err, sizeof err), 0);
    char longt[2 * ROUTE_MAX_SEGMENTS + 3] = "";
    for (int i = 0; i < ROUTE_MAX_SEGMENTS; i++)
        strcat(longt, "/s");
    EXPECT_INT(route_add(t, ROUTE_GET, longt, NULL, NULL, err, sizeof err), 0);
    strcat(longt, "/s");
    expect_bad(t, ROUTE_GET, longt);
    /* nothing rejected was registered */
    EXPECT_INT(match(t, ROUTE_GET, "/ok"), ROUTE_NOT_FOUND);
    EXPECT_INT(match(t, ROUTE_GET, "/a/x"), ROUTE_NOT_FOUND);
    route_table_free(t);
}

static void test_duplicates(void)
{
    route_table_t *t = table();
    char err[128];
    expect_bad(t, ROUTE_GET, "/status");
    expect_bad(t, ROUTE_GET | ROUTE_POST, "/hitos");
    expect_bad(t, ROUTE_PUT, "/porras/{ID}/apuestas/{quien}");
    expect_bad(t, ROUTE_PATCH, "/porras/{id}"); /* same shape, other names */
    /* the failed GET|POST must not have half-registered POST's data over the old one */
    EXPECT_INT(match(t, ROUTE_POST, "/hitos"), ROUTE_FOUND);
    EXPECT(m.handler == &h_hitos_post);
    /* another method on an existing template merges */
    EXPECT_INT(route_add(t, ROUTE_PATCH | ROUTE_OPTIONS, "/porras/{ID}", &h_generic, NULL, err, sizeof err), 0);
    EXPECT_INT(match(t, ROUTE_PATCH, "/porras/Y"), ROUTE_FOUND);
    EXPECT(m.handler == &h_generic);
    EXPECT_INT(m.allow, ROUTE_GET | ROUTE_HEAD | ROUTE_DELETE | ROUTE_PATCH | ROUTE_OPTIONS);
    route_table_free(t);
}

struct seen {
    int n;
    char tmpl[20][64];
    int methods[20];
};

static void collect(void *ctx, const char *tmpl, int methods)
{
    struct seen *s = ctx;
    if (s->n < 20) {
        snprintf(s->tmpl[s->n], sizeof s->tmpl[0], "%s", tmpl);
        s->methods[s->n] = methods;
    }
    s->n++;
}

static void test_each(void)
{
    route_table_t *t = table();
    struct seen s = {0};
    route_each(t, collect, &s);
    EXPECT_INT(s.n, 11);
    EXPECT_STR(s.tmpl[0], "/");
    EXPECT_INT(s.methods[0], ROUTE_GET);
    EXPECT_STR(s.tmpl[3], "/porra/{local}/{visitante}/{competition}/{year}");
    EXPECT_INT(s.methods[3], ROUTE_PUT);
    EXPECT_STR(s.tmpl[4], "/hitos");
    EXPECT_INT(s.methods[4], ROUTE_GET | ROUTE_POST);
    EXPECT_STR(s.tmpl[5], "/hitos/{id}");
    EXPECT_STR(s.tmpl[7], "/porras/{ID}");
    EXPECT_INT(s.methods[7], ROUTE_GET | ROUTE_DELETE);
    EXPECT_STR(s.tmpl[10], "/porras/{ID}/apuestas/{quien}");
    route_each(NULL, collect, &s);
    EXPECT_INT(s.n, 11);
    route_table_free(t);
}

static void test_small_buffer(void)
{
    route_table_t *t = table();
    /* a long parameter into a tiny buffer: refused, and the bytes past the buffer untouched */
    size_t n = 4000;
    char *path = malloc(n + 16);
    strcpy(path, "/porras/");
    memset(path + 8, 'a', n);
    path[8 + n] = '\0';
    char guard[16];
    memset(guard, '#', sizeof guard);
    EXPECT_INT(route_match(t, ROUTE_GET, path, strlen(path), guard, 4, &m), ROUTE_BAD_PATH);
    EXPECT_INT(m.nparams, 0);
    for (size_t i = 4; i < sizeof guard; i++)
        EXPECT(guard[i] == '#');
    /* value fits but its NUL does not */
    EXPECT_INT(route_match(t, ROUTE_GET, "/one/123", 8, guard, 3, &m), ROUTE_BAD_PATH);
    EXPECT(guard[3] == '#');
    EXPECT_INT(route_match(t, ROUTE_GET, "/one/123", 8, guard, 4, &m), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "id"), "123");
    /* decoding shrinks the value: a buffer smaller than the raw text can still be enough */
    EXPECT_INT(route_match(t, ROUTE_GET, "/one/%41%42", 11, guard, 3, &m), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "id"), "AB");
    EXPECT_INT(route_match(t, ROUTE_GET, "/one/1", 6, NULL, 0, &m), ROUTE_BAD_PATH);
    /* no parameters: no buffer needed */
    EXPECT_INT(route_match(t, ROUTE_GET, "/status", 7, NULL, 0, &m), ROUTE_FOUND);
    /* the documented bound is enough for every parameter */
    size_t big = strlen(path) + ROUTE_MAX_PARAMS;
    char *b = malloc(big);
    EXPECT_INT(route_match(t, ROUTE_GET, path, strlen(path), b, big, &m), ROUTE_FOUND);
    EXPECT_INT(m.params[0].len, n);
    EXPECT_INT(route_match(t, ROUTE_PUT, "/porra/a/b/c/d", 14, b, 14 + ROUTE_MAX_PARAMS, &m), ROUTE_FOUND);
    EXPECT_STR(route_param(&m, "year"), "d");
    /* more segments than any template can have */
    char deep[4 * ROUTE_MAX_SEGMENTS + 8] = "";
    for (int i = 0; i <= ROUTE_MAX_SEGMENTS; i++)
        strcat(deep, "/x");
    EXPECT_INT(match(t, ROUTE_GET, deep), ROUTE_NOT_FOUND);
    free(b);
    free(path);
    route_table_free(t);
}

/* ---- route_query ---- */

static char qbuf[32];

/* route_query on a NUL-terminated path into qbuf, which is filled with '#' first. */
static int query(const char *path, const char *name)
{
    memset(qbuf, '#', sizeof qbuf);
    return route_query(path, strlen(path), name, qbuf, sizeof qbuf);
}

/* Expects name to be given once in path, with the (decoded) value want. */
#define EXPECT_QUERY(path, name, want)    \
    do {                                  \
        EXPECT_INT(query(path, name), 1); \
        EXPECT_STR(qbuf, want);           \
    } while (0)

static void test_query_present(void)
{
    const char *p = "/porras?limit=10&after=Granada-Betis-Liga-2024&x=y";
    EXPECT_QUERY(p, "limit", "10");                      /* first */
    EXPECT_QUERY(p, "after", "Granada-Betis-Liga-2024"); /* in the middle */
    EXPECT_QUERY(p, "x", "y");                           /* last */
    EXPECT_QUERY("/porras?after=", "after", "");         /* an empty value */
    EXPECT_QUERY("/porras?after=&limit=2", "after", "");
    EXPECT_QUERY("/porras?after", "after", ""); /* no '=': the empty value */
    EXPECT_QUERY("/porras?limit=1&after", "after", "");
    EXPECT_QUERY("/porras?after&limit=1", "limit", "1");
    EXPECT_QUERY("/porras?&&after=a&&", "after", "a"); /* empty parameters are skipped */
    EXPECT_QUERY("/porras?after=a=b", "after", "a=b"); /* only the first '=' splits */
    EXPECT_QUERY("/p?a=1?b=2", "a", "1?b=2");          /* only the first '?' starts the query */
    EXPECT_QUERY("/porras/?limit=5", "limit", "5");
}

static void test_query_absent(void)
{
    EXPECT_INT(query("/porras?limit=10", "after"), 0);
    EXPECT_INT(query("/porras", "after"), 0);
    EXPECT_INT(query("/porras?", "after"), 0);
    EXPECT_INT(query("/porras?&&", "after"), 0);
    EXPECT_INT(query("/after=x", "after"), 0); /* no query at all */
    EXPECT_INT(query("/p/after?x=1", "after"), 0);
    EXPECT(qbuf[0] == '#'); /* nothing written */
    EXPECT_INT(route_query("", 0, "after", qbuf, sizeof qbuf), 0);
}

static void test_query_decoding(void)
{
    EXPECT_QUERY("/porras?after=%41%42", "after", "AB");
    EXPECT_QUERY("/porras?after=M%C3%A1laga", "after", "M\xc3\xa1laga");
    EXPECT_QUERY("/porras?after=M%c3%a1laga", "after", "M\xc3\xa1laga");
    EXPECT_QUERY("/porras?after=a%2Fb", "after", "a/b");
    EXPECT_QUERY("/porras?after=a+b", "after", "a+b"); /* '+' stays '+' */
    EXPECT_QUERY("/porras?after=a%2Bb%20c", "after", "a+b c");
    /* an encoded '&' or '=' is part of the value, not a separator */
    EXPECT_QUERY("/porras?after=a%26limit%3D5&limit=2", "after", "a&limit=5");
    EXPECT_QUERY("/porras?after=a%26limit%3D5&limit=2", "limit", "2");
    /* bad percent-encoding, or a NUL */
    static const char *const bad[] = {"%zz", "%4", "%", "a%", "%4g", "%g4", "%00", "a%00b", NULL};
    char path[64];
    for (int i = 0; bad[i] != NULL; i++) {
        snprintf(path, sizeof path, "/porras?limit=1&after=%s&x=1", bad[i]);
        EXPECT_INT(query(path, "after"), -1);
        if (query(path, "after") != -1)
            printf("#   after=%s\n", bad[i]);
        EXPECT_QUERY(path, "limit", "1"); /* the others are still read */
    }
}

static void test_query_twice(void)
{
    EXPECT_INT(query("/porras?after=a&after=b", "after"), -1);
    EXPECT_INT(query("/porras?after=a&after=a", "after"), -1);
    EXPECT_INT(query("/porras?after&after=b", "after"), -1);
    EXPECT_INT(query("/porras?after=a&limit=1&after", "after"), -1);
    EXPECT_INT(query("/porras?after=&after=", "after"), -1);
    EXPECT_INT(query("/porras?after=a&after=%zz", "after"), -1);
    EXPECT_QUERY("/porras?after=a&after=b&limit=3", "limit", "3");
}

static void test_query_prefix_keys(void)
{
    /* a key is compared whole: a name that is a prefix of a key, or a key of a name, is another */
    EXPECT_QUERY("/porras?afterx=1&after=2", "after", "2");
    EXPECT_QUERY("/porras?after=1&afterx=2", "after", "1");
    EXPECT_QUERY("/porras?after=1&afterx=2", "afterx", "2");
    EXPECT_QUERY("/porras?xafter=1&after=2", "after", "2");
    EXPECT_INT(query("/porras?after=1", "aft"), 0);
    EXPECT_INT(query("/porras?after=1", "afterx"), 0);
    EXPECT_INT(query("/porras?aft=1&afterx=2", "after"), 0);
    EXPECT_INT(query("/porras?After=1", "after"), 0); /* case counts */
}

static void test_query_lengths(void)
{
    char small[8];
    /* pathlen is honoured: the bytes after it are not part of the query */
    const char *p = "/p?limit=12&after=z";
    EXPECT_INT(route_query(p, 10, "limit", qbuf, sizeof qbuf), 1);
    EXPECT_STR(qbuf, "1");
    EXPECT_INT(route_query(p, 10, "after", qbuf, sizeof qbuf), 0);
    EXPECT_INT(route_query(p, 2, "limit", qbuf, sizeof qbuf), 0); /* "/p": no query */
    /* the value and its NUL must fit in buflen; nothing is written past it */
    memset(small, '#', sizeof small);
    EXPECT_INT(route_query("/p?after=abc", 12, "after", small, 4), 1);
    EXPECT_STR(small, "abc");
    memset(small, '#', sizeof small);
    EXPECT_INT(route_query("/p?after=abcd", 13, "after", small, 4), -1);
    EXPECT(small[4] == '#' && small[5] == '#');
    EXPECT_INT(route_query("/p?after=%41%42%43", 18, "after", small, 4), 1); /* decoded, it fits */
    EXPECT_STR(small, "ABC");
    EXPECT_INT(route_query("/p?after=", 9, "after", small, 1), 1);
    EXPECT_STR(small, "");
    EXPECT_INT(route_query("/p?after=", 9, "after", small, 0), -1); /* not even the NUL */
    EXPECT_INT(route_query("/p?after=x", 10, "limit", small, 0), 0);
    char longer[64];
    memset(longer, 'a', sizeof longer);
    memcpy(longer, "/p?after=", 9);
    EXPECT_INT(route_query(longer, sizeof longer, "after", qbuf, sizeof qbuf), -1); /* 55 bytes into 32 */
}

int main(void)
{
    RUN(test_method_names);
    RUN(test_literal);
    RUN(test_root);
    RUN(test_params);
    RUN(test_multiple_params);
    RUN(test_precedence);
    RUN(test_trailing_slash_and_empty_segments);
    RUN(test_query_ignored);
    RUN(test_percent_decoding);
    RUN(test_raw_nul);
    RUN(test_not_found_vs_not_allowed);
    RUN(test_head);
    RUN(test_bad_templates);
    RUN(test_duplicates);
    RUN(test_each);
    RUN(test_small_buffer);
    RUN(test_query_present);
    RUN(test_query_absent);
    RUN(test_query_decoding);
    RUN(test_query_twice);
    RUN(test_query_prefix_keys);
    RUN(test_query_lengths);
    return TEST_END();
}
