#include "hito/hito.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char err[512];
static char dir[] = "/tmp/hito_test.XXXXXX";
static char path[600];

static const char *write_file(const char *name, const char *text)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static hito_db_t *load_text(const char *text)
{
    err[0] = '\0';
    return hito_db_load(write_file("hitos.json", text), err, sizeof err);
}

static void test_load_shipped_file(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof err);
    EXPECT(db != NULL);
    if (!db)
        return;
    EXPECT_INT(hito_count(db), 2);
    EXPECT_STR(json_string_value(json_object_get(hito_get(db, 0), "file")), "0.Repositorio");
    EXPECT_STR(json_string_value(json_object_get(hito_get(db, 1), "fecha")), "28/9/2017");
    EXPECT(hito_get(db, 2) == NULL);
    EXPECT(hito_get(db, (size_t)-1) == NULL);
    EXPECT_INT(json_array_size(hito_list(db)), 2);
    json_t *all = hito_all(db);
    EXPECT_STR(json_string_value(json_object_get(all, "comment")),
               "Hitos del proyecto de IV http://jj.github.io/IV");
    EXPECT(json_equal(json_object_get(all, "hitos_lista"), hito_list(db)));
    json_t *by = json_object_get(all, "hitos");
    EXPECT_INT(json_object_size(by), 2);
    EXPECT(json_equal(json_object_get(by, "1.Infraestructura"), hito_get(db, 1)));
    EXPECT_STR(json_string_value(json_object_get(json_object_get(by, "0.Repositorio"), "title")),
               "Git y GitHub");
    json_decref(all);
    hito_db_free(db);
}

static void test_load_no_path_is_empty(void)
{
    const char *paths[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        hito_db_t *db = hito_db_load(paths[i], err, sizeof err);
        EXPECT(db != NULL);
        EXPECT_INT(hito_count(db), 0);
        json_t *all = hito_all(db);
        EXPECT_STR(json_string_value(json_object_get(all, "comment")), "");
        EXPECT_INT(json_array_size(json_object_get(all, "hitos_lista")), 0);
        EXPECT_INT(json_object_size(json_object_get(all, "hitos")), 0);
        json_decref(all);
        hito_db_free(db);
    }
}

static void test_load_unreadable(void)
{
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    err[0] = '\0';
    EXPECT(hito_db_load(missing, err, sizeof err) == NULL);
    EXPECT(contains(err, missing));
    EXPECT(contains(err, "No such file"));
    err[0] = '\0';
    EXPECT(hito_db_load(dir, err, sizeof err) == NULL);
    EXPECT(contains(err, dir));
}

static void test_load_invalid_json(void)
{
    char want[700];
    EXPECT(load_text("{\n  \"comment\": \"x\",\n  \"hitos_lista\": [,]\n}\n") == NULL);
    snprintf(want, sizeof want, "%s:3:", path);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    EXPECT(load_text("") == NULL);
    EXPECT(contains(err, path));
    EXPECT(load_text("{\"comment\": \"a\", \"comment\": \"b\", \"hitos_lista\": []}") == NULL);
    EXPECT(contains(err, "duplicate"));
}

static void test_load_shape_errors(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[]", ": must be a JSON object"},
        {"{\"hitos_lista\": []}", ": comment: missing"},
        {"{\"comment\": 1, \"hitos_lista\": []}", ": comment: must be a string"},
        {"{\"comment\": \"c\"}", ": hitos_lista: missing"},
        {"{\"comment\": \"c\", \"hitos_lista\": {}}", ": hitos_lista: must be an array"},
        {"{\"comment\": \"c\", \"hitos_lista\": [1]}", ": hitos_lista[0]: must be an object"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"title\": \"t\", \"fecha\": \"1/1/2000\"}]}",
         ": hitos_lista[0].file: missing"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": 2, "
         "\"fecha\": \"1/1/2000\"}]}",
         ": hitos_lista[0].title: must be a string"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": \"t\", "
         "\"fecha\": \"1/1/2000\"}, {\"file\": \"b\", \"title\": \"t\", \"fecha\": \"31/4/2000\"}]}",
         ": hitos_lista[1].fecha: must be a date d/m/yyyy"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": \"t\", "
         "\"fecha\": \"1/1/2000\"}, {\"file\": \"a\", \"title\": \"u\", \"fecha\": \"2/1/2000\"}]}",
         ": hitos_lista[1].file: duplicate \"a\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hito_db_t *db = load_text(cases[i].text);
        EXPECT(db == NULL);
        hito_db_free(db);
        if (!contains(err, cases[i].want) || strncmp(err, path, strlen(path)) != 0) {
            test_failed_now = 1;
            printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, cases[i].want);
        }
    }
    /* Extra members are the file's business and are kept. */
    hito_db_t *db = load_text("{\"comment\": \"c\", \"more\": 1, \"hitos_lista\": [{\"file\": \"a\","
                              " \"title\": \"t\", \"fecha\": \"29/2/2000\", \"url\": \"u\"}]}");
    EXPECT(db != NULL);
    EXPECT_STR(json_string_value(json_object_get(hito_get(db, 0), "url")), "u");
    hito_db_free(db);
}

static void test_fecha_table(void)
{
    static const char *const good[] = {"21/09/2017", "28/9/2017", "1/1/2000", "01/01/0001",
                                       "29/2/2024", "29/2/2000", "31/12/9999", "30/4/2017",
                                       "31/1/2017", "28/2/1900"};
    static const char *const bad[] = {
        "29/2/2023", "29/2/1900", "31/4/2017", "0/1/2017",  "1/0/2017", "1/13/2017", "32/1/2017",
        "1/1/217",   "1/1/20177", "1/1/0000",  "a/1/2017",  "1/b/2017", "1/1/2o17",  "1/1/2017 ",
        " 1/1/2017", "1/1/2017x", "001/1/2017", "1/001/2017", "1-1-2017", "1/1",     "",
        "/1/2017",   "1//2017",   "1/1/",      "+1/1/2017", "1/1/-017", "2017/1/1", NULL};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!hito_fecha_ok(good[i])) {
            test_failed_now = 1;
            printf("# fecha \"%s\" refused\n", good[i]);
        }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hito_fecha_ok(bad[i])) {
            test_failed_now = 1;
            printf("# fecha \"%s\" accepted\n", bad[i]);
        }
}

static void test_index_parse(void)
{
    long v = 42;
    EXPECT_INT(hito_index_parse("0", &v), 0);
    EXPECT_INT(v, 0);
    EXPECT_INT(hito_index_parse("17", &v), 0);
    EXPECT_INT(v, 17);
    EXPECT_INT(hito_index_parse("007", &v), 0);
    EXPECT_INT(v, 7);
    EXPECT_INT(hito_index_parse("-3", &v), 0);
    EXPECT_INT(v, -3);
    EXPECT_INT(hito_index_parse("9223372036854775807", &v), 0);
    static const char *const bad[] = {"",   "-",    "+1",  " 1",  "1 ", "0x1", "1a", "a",
                                      "--1", "1.0", "1e2", "-+1", "9223372036854775808",
                                      "99999999999999999999999", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        if (hito_index_parse(bad[i], &v) != -1 || v != 42) {
            test_failed_now = 1;
            printf("# index \"%s\" accepted\n", bad[i] ? bad[i] : "(null)");
        }
    }
}

static hito_status_t plan(const hito_db_t *db, const char *body_text, json_t **change)
{
    json_t *body = json_loads(body_text, 0, NULL);
    err[0] = '\0';
    hito_status_t st = hito_plan_add(db, body, change, err, sizeof err);
    json_decref(body);
    return st;
}

static void test_plan_add(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof err);
    json_t *c = (json_t *)1;
    char long_title[300];
    memset(long_title, 'x', 257);
    long_title[257] = '\0';
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"[]", "body: must be a JSON object"},
        {"\"x\"", "body: must be a JSON object"},
        {"{\"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: missing"},
        {"{\"file\": \"\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: must be"},
        {"{\"file\": 3, \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: must be"},
        {"{\"file\": \"f\", \"fecha\": \"1/1/2020\"}", "title: missing"},
        {"{\"file\": \"f\", \"title\": null, \"fecha\": \"1/1/2020\"}", "title: must be"},
        {"{\"file\": \"f\", \"title\": \"t\"}", "fecha: missing"},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": \"29/2/2023\"}",
         "fecha: must be a real date written d/m/yyyy"},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": 2020}", "fecha: must be"},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\", \"extra\": 1}",
         "extra: unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = (json_t *)1;
        EXPECT_INT(plan(db, cases[i].body, &c), HITO_INVALID);
        EXPECT(c == NULL);
        if (!contains(err, cases[i].want)) {
            test_failed_now = 1;
            printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, cases[i].want);
        }
    }
    char body[600];
    snprintf(body, sizeof body, "{\"file\": \"f\", \"title\": \"%s\", \"fecha\": \"1/1/2020\"}",
             long_title);
    EXPECT_INT(plan(db, body, &c), HITO_INVALID);
    EXPECT(contains(err, "title: must be"));
    long_title[256] = '\0';
    snprintf(body, sizeof body, "{\"file\": \"f\", \"title\": \"%s\", \"fecha\": \"1/1/2020\"}",
             long_title);
    EXPECT_INT(plan(db, body, &c), HITO_OK);
    json_decref(c);

    EXPECT_INT(plan(db, "{\"file\": \"0.Repositorio\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
                    &c),
               HITO_EXISTS);
    EXPECT(c == NULL);
    EXPECT(contains(err, "0.Repositorio"));

    EXPECT_INT(plan(db, "{\"fecha\": \"5/10/2017\", \"title\": \"Docker\", \"file\": \"2.Docker\"}",
                    &c),
               HITO_OK);
    json_t *want = json_pack("{s:s, s:s, s:s, s:s}", "op", "hito.add", "file", "2.Docker", "title",
                             "Docker", "fecha", "5/10/2017");
    EXPECT(json_equal(c, want));
    EXPECT_INT(hito_count(db), 2);
    json_decref(want);
    json_decref(c);
    hito_db_free(db);
}

static long apply_text(hito_db_t *db, const char *text)
{
    json_t *rec = json_loads(text, 0, NULL);
    err[0] = '\0';
    long r = hito_apply(db, rec, err, sizeof err);
    json_decref(rec);
    return r;
}

static void test_apply_get_all(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof err);
    json_t *c = NULL;
    EXPECT_INT(plan(db, "{\"file\": \"2.Docker\", \"title\": \"Docker\", \"fecha\": \"5/10/2017\"}",
                    &c),
               HITO_OK);
    EXPECT_INT(hito_apply(db, c, err, sizeof err), 2);
    EXPECT_INT(hito_count(db), 3);
    json_t *h = hito_get(db, 2);
    json_t *want = json_pack("{s:s, s:s, s:s}", "file", "2.Docker", "title", "Docker", "fecha",
                             "5/10/2017");
    EXPECT(json_equal(h, want));
    json_decref(want);
    /* The same record twice: the file is taken now. */
    EXPECT_INT(hito_apply(db, c, err, sizeof err), -1);
    EXPECT(contains(err, "2.Docker"));
    EXPECT_INT(hito_count(db), 3);
    EXPECT_INT(plan(db, "{\"file\": \"2.Docker\", \"title\": \"x\", \"fecha\": \"5/10/2017\"}", NULL),
               HITO_EXISTS);
    json_decref(c);

    json_t *all = hito_all(db);
    EXPECT_INT(json_array_size(json_object_get(all, "hitos_lista")), 3);
    EXPECT(json_object_get(json_object_get(all, "hitos"), "2.Docker") == hito_get(db, 2));
    /* The answer's containers are its own: a later addition does not show up in it. */
    EXPECT_INT(apply_text(db, "{\"op\": \"hito.add\", \"file\": \"3\", \"title\": \"t\", "
                              "\"fecha\": \"6/10/2017\", \"seq\": 9}"),
               3);
    EXPECT_INT(json_array_size(json_object_get(all, "hitos_lista")), 3);
    EXPECT_INT(json_object_size(json_object_get(all, "hitos")), 3);
    json_decref(all);
    hito_db_free(db);
}

static void test_apply_refuses_malformed(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof err);
    static const char *const recs[] = {
        "[]", "\"hito.add\"", "null", "{}",
        "{\"op\": \"hito.del\", \"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
        "{\"op\": 1, \"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
        "{\"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
        "{\"op\": \"hito.add\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
        "{\"op\": \"hito.add\", \"file\": [], \"title\": \"t\", \"fecha\": \"1/1/2020\"}",
        "{\"op\": \"hito.add\", \"file\": \"f\", \"title\": \"\", \"fecha\": \"1/1/2020\"}",
        "{\"op\": \"hito.add\", \"file\": \"f\", \"title\": \"t\", \"fecha\": \"30/2/2020\"}",
        "{\"op\": \"hito.add\", \"file\": \"f\", \"title\": \"t\"}",
        "{\"op\": \"hito.add\", \"file\": \"1.Infraestructura\", \"title\": \"t\", "
        "\"fecha\": \"1/1/2020\"}",
    };
    json_t *before = hito_all(db);
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        if (apply_text(db, recs[i]) != -1 || !*err) {
            test_failed_now = 1;
            printf("# record %zu accepted: %s\n", i, recs[i]);
        }
    }
    EXPECT_INT(hito_apply(db, NULL, err, sizeof err), -1);
    /* A string hiding a NUL would be keyed under a shorter name. */
    json_t *rec = json_pack("{s:s, s:s#, s:s, s:s}", "op", "hito.add", "file", "a\0b", (size_t)3,
                            "title", "t", "fecha", "1/1/2020");
    EXPECT_INT(hito_apply(db, rec, err, sizeof err), -1);
    json_decref(rec);
    json_t *after = hito_all(db);
    EXPECT(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    hito_db_free(db);
}

static int collect(void *ctx, json_t *change)
{
    return json_array_append(ctx, change);
}

static int stop_after_one(void *ctx, json_t *change)
{
    (void)change;
    return ++*(int *)ctx >= 1;
}

static void test_dump_and_replay(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof err);
    json_t *out = json_array();
    EXPECT_INT(hito_dump(db, collect, out), 0);
    EXPECT_INT(json_array_size(out), 0);
    EXPECT_INT(apply_text(db, "{\"op\": \"hito.add\", \"file\": \"2.Docker\", \"title\": \"D\", "
                              "\"fecha\": \"5/10/2017\"}"),
               2);
    EXPECT_INT(apply_text(db, "{\"op\": \"hito.add\", \"file\": \"3.Ñu\", \"title\": \"ñ\", "
                              "\"fecha\": \"29/2/2024\"}"),
               3);
    EXPECT_INT(hito_dump(db, collect, out), 0);
    EXPECT_INT(json_array_size(out), 2);
    EXPECT_STR(json_string_value(json_object_get(json_array_get(out, 0), "file")), "2.Docker");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(out, 1), "op")), "hito.add");

    hito_db_t *fresh = hito_db_load("data/hitos.json", err, sizeof err);
    size_t i;
    json_t *c;
    json_array_foreach(out, i, c) EXPECT_INT(hito_apply(fresh, c, err, sizeof err), (long)i + 2);
    json_t *a = hito_all(db), *b = hito_all(fresh);
    EXPECT(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    int calls = 0;
    EXPECT_INT(hito_dump(db, stop_after_one, &calls), -1);
    EXPECT_INT(calls, 1);
    json_decref(out);
    hito_db_free(fresh);
    hito_db_free(db);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_load_shipped_file);
    RUN(test_load_no_path_is_empty);
    RUN(test_load_unreadable);
    RUN(test_load_invalid_json);
    RUN(test_load_shape_errors);
    RUN(test_fecha_table);
    RUN(test_index_parse);
    RUN(test_plan_add);
    RUN(test_apply_get_all);
    RUN(test_apply_refuses_malformed);
    RUN(test_dump_and_replay);
    snprintf(path, sizeof path, "%s/hitos.json", dir);
    unlink(path);
    rmdir(dir);
    return TEST_END();
}
