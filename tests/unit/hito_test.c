/* hito: loading the milestones file, the date and index rules, planning an addition, its change
 * record, applying it to transient and sealed versions, the rendered lists, dump and replay. */
#include "hito/hito.h"
#include "jsonw/jsonw.h"
#include "test.h"
#include "tmpdir.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];
static char *dir;
static char path[600];

#define LEN(a)     (sizeof(a) / sizeof((a)[0]))
#define TEXT_RULE  "must be a non-empty string of at most 256 bytes"
#define FECHA_RULE "must be a real date written d/m/yyyy"
#define UTF8_RULE  "must be valid UTF-8"
#define FILE_RULE  "must be a file name: not \".\" or \"..\", without '/', '\\' or control characters"

/* The shipped data/hitos.json, as each milestone renders. */
#define J0              "{\"file\":\"0.Repositorio\",\"title\":\"Git y GitHub\",\"fecha\":\"21/09/2017\"}"
#define J1              "{\"file\":\"1.Infraestructura\",\"title\":\"Infraestructura del proyecto\",\"fecha\":\"28/9/2017\"}"
#define SHIPPED_COMMENT "Hitos del proyecto de IV http://jj.github.io/IV"

static int contains(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static const char *write_file(const char *name, const char *text)
{
    snprintf(path, sizeof(path), "%s", test_path(dir, name));
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static hito_db_t *load_text(const char *text)
{
    err[0] = '\0';
    return hito_db_load(write_file("hitos.json", text), err, sizeof(err));
}

static hito_db_t *load_shipped(void)
{
    hito_db_t *db = hito_db_load("data/hitos.json", err, sizeof(err));
    if (db == NULL) {
        printf("# data/hitos.json: %s\n", err);
        test_failed_now = 1;
        abort(); /* nothing below makes sense without it */
    }
    return db;
}

/* A milestone added with file f, title t, fecha d, and how it renders (names without escapes). */
typedef struct {
    const char *file, *title, *fecha;
} milestone_t;

static void added_json(char *buf, size_t cap, const milestone_t *m)
{
    snprintf(buf, cap, "{\"file\":\"%s\",\"title\":\"%s\",\"fecha\":\"%s\"}", m->file, m->title, m->fecha);
}

/* 1 when db is the shipped file plus the first n of add, in every way it can be read: counts,
 * each milestone, the list, the whole; else 0, with what differs shown. */
static int shows(const hito_db_t *db, const milestone_t *add, size_t n)
{
    static const char *const files[2] = {"0.Repositorio", "1.Infraestructura"}, *const jsons[2] = {J0, J1};
    jsonw_t list = JSONW_INIT, all = JSONW_INIT, by = JSONW_INIT;
    char one[1024];
    size_t len;
    int ok = hito_count(db) == 2 + n && hito_json(db, 2 + n, &len) == NULL;
    jsonw_lit(&all, "{\"hitos\":{\"comment\":\"" SHIPPED_COMMENT "\",\"hitos_lista\":[");
    jsonw_lit(&by, "],\"hitos\":{");
    for (size_t i = 0; i < 2 + n; i++) {
        const char *file = i < 2 ? files[i] : add[i - 2].file;
        if (i < 2)
            snprintf(one, sizeof(one), "%s", jsons[i]);
        else
            added_json(one, sizeof(one), &add[i - 2]);
        const char *j = hito_json(db, i, &len);
        if (j == NULL || strcmp(j, one) != 0 || len != strlen(one)) {
            printf("# milestone %zu is %s, expected %s\n", i, j ? j : "(none)", one);
            ok = 0;
        }
        jsonw_lit(&list, i ? "," : "[");
        jsonw_lit(&list, one);
        jsonw_lit(&all, i ? "," : "");
        jsonw_lit(&all, one);
        jsonw_lit(&by, i ? ",\"" : "\"");
        jsonw_lit(&by, file);
        jsonw_lit(&by, "\":");
        jsonw_lit(&by, one);
    }
    jsonw_lit(&list, "]");
    jsonw_lit(&by, "}}}");
    char *by_text = jsonw_finish(&by, &len);
    jsonw_lit(&all, by_text);
    char *want_list = jsonw_finish(&list, &len), *want_all = jsonw_finish(&all, &len);
    const char *got_list = hito_list_json(db, &len);
    if (got_list == NULL || strcmp(got_list, want_list) != 0 || len != strlen(want_list)) {
        printf("# list is %s\n# expected %s\n", got_list ? got_list : "(null)", want_list);
        ok = 0;
    }
    const char *got_all = hito_all_json(db, &len);
    if (got_all == NULL || strcmp(got_all, want_all) != 0 || len != strlen(want_all)) {
        printf("# all is %s\n# expected %s\n", got_all ? got_all : "(null)", want_all);
        ok = 0;
    }
    if (hito_count(db) != 2 + n)
        printf("# %zu milestones, expected %zu\n", hito_count(db), 2 + n);
    free(by_text);
    free(want_list);
    free(want_all);
    return ok;
}

static long apply(hito_db_t **db, const milestone_t *m)
{
    hito_change_t c = {m->file, m->title, m->fecha};
    err[0] = '\0';
    return hito_db_apply(db, &c, err, sizeof(err));
}

/* ---- the file ---- */

static void test_load_shipped_file(void)
{
    hito_db_t *db = load_shipped();
    size_t len;
    EXPECT_INT(hito_count(db), 2);
    EXPECT_STR(hito_json(db, 0, &len), J0);
    EXPECT_INT(len, strlen(J0));
    EXPECT_STR(hito_json(db, 1, &len), J1);
    EXPECT(hito_json(db, 2, &len) == NULL);
    EXPECT(hito_json(db, (size_t)-1, &len) == NULL);
    EXPECT_STR(hito_list_json(db, &len), "[" J0 "," J1 "]");
    EXPECT_INT(len, strlen("[" J0 "," J1 "]"));
    EXPECT_STR(hito_all_json(db, &len), "{\"hitos\":{\"comment\":\"" SHIPPED_COMMENT "\",\"hitos_lista\":[" J0 "," J1
                                        "],\"hitos\":{\"0.Repositorio\":" J0 ",\"1.Infraestructura\":" J1 "}}}");
    EXPECT(shows(db, NULL, 0));
    hito_db_release(db);
}

static void test_load_no_path_is_empty(void)
{
    const char *paths[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        size_t len;
        hito_db_t *db = hito_db_load(paths[i], err, sizeof(err));
        EXPECT(db != NULL);
        if (db == NULL)
            continue;
        EXPECT_INT(hito_count(db), 0);
        EXPECT(hito_json(db, 0, &len) == NULL);
        EXPECT_STR(hito_list_json(db, &len), "[]");
        EXPECT_INT(len, 2);
        EXPECT_STR(hito_all_json(db, &len), "{\"hitos\":{\"comment\":\"\",\"hitos_lista\":[],\"hitos\":{}}}");
        hito_db_release(db);
    }
}

static void test_load_unreadable(void)
{
    char want[800], missing[700];
    snprintf(missing, sizeof(missing), "%s", test_path(dir, "nope.json"));
    err[0] = '\0';
    EXPECT(hito_db_load(missing, err, sizeof(err)) == NULL);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
    EXPECT_STR(err, want);
    err[0] = '\0';
    EXPECT(hito_db_load(dir, err, sizeof(err)) == NULL);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
    EXPECT_STR(err, want);
    if (geteuid() != 0) { /* root reads it anyway */
        write_file("secret.json", "{\"comment\": \"c\", \"hitos_lista\": []}");
        chmod(path, 0);
        EXPECT(hito_db_load(path, err, sizeof(err)) == NULL);
        snprintf(want, sizeof(want), "%s: cannot open: Permission denied", path);
        EXPECT_STR(err, want);
    }
}

static void test_load_invalid_json(void)
{
    char want[700];
    EXPECT(load_text("{\n  \"comment\": \"x\",\n  \"hitos_lista\": [,]\n}\n") == NULL);
    snprintf(want, sizeof(want), "%s:3:", path);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    EXPECT(load_text("") == NULL);
    snprintf(want, sizeof(want), "%s:1:", path);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    EXPECT(load_text("{\"comment\": \"a\", \"comment\": \"b\", \"hitos_lista\": []}") == NULL);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    EXPECT(contains(err, "duplicate"));
    EXPECT(load_text("{\"comment\": \"c\", \"hitos_lista\": []} x") == NULL);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    /* Only an object at the top, and no NUL hidden in a string, are JSON to this loader. */
    EXPECT(load_text("\"x\"") == NULL);
    EXPECT(strncmp(err, want, strlen(want)) == 0);
    EXPECT(load_text("{\"comment\": \"a\\u0000b\", \"hitos_lista\": []}") == NULL);
    EXPECT(strncmp(err, want, strlen(want)) == 0 && contains(err, "\\u0000"));
    EXPECT(load_text("{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\\u0000\", \"title\": \"t\", "
                     "\"fecha\": \"1/1/2000\"}]}") == NULL);
    EXPECT(strncmp(err, want, strlen(want)) == 0 && contains(err, "\\u0000"));
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
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"title\": \"t\", \"fecha\": \"1/1/2000\"}]}", ": hitos_lista[0].file: missing"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": 2, \"fecha\": \"1/1/2000\"}]}",
         ": hitos_lista[0].title: must be a string"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": \"t\"}]}", ": hitos_lista[0].fecha: missing"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": \"t\", "
         "\"fecha\": \"1/1/2000\"}, {\"file\": \"b\", \"title\": \"t\", \"fecha\": \"31/4/2000\"}]}",
         ": hitos_lista[1].fecha: must be a date d/m/yyyy"},
        {"{\"comment\": \"c\", \"hitos_lista\": [{\"file\": \"a\", \"title\": \"t\", "
         "\"fecha\": \"1/1/2000\"}, {\"file\": \"a\", \"title\": \"u\", \"fecha\": \"2/1/2000\"}]}",
         ": hitos_lista[1].file: duplicate \"a\""},
    };
    char want[800];
    for (size_t i = 0; i < LEN(cases); i++) {
        hito_db_t *db = load_text(cases[i].text);
        EXPECT(db == NULL);
        hito_db_release(db);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
        if (strcmp(err, want) != 0) {
            test_failed_now = 1;
            printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, want);
        }
    }
    /* Extra members are the file's business: kept, in the file's order. */
    size_t len;
    hito_db_t *db = load_text("{\"comment\": \"c\", \"more\": 1, \"hitos_lista\": [{\"file\": \"a\", "
                              "\"title\": \"t\", \"fecha\": \"29/2/2000\", \"url\": \"u\"}, {\"n\": [1, "
                              "{\"x\": null}], \"fecha\": \"1/3/2000\", \"title\": \"Tí\", "
                              "\"file\": \"b\"}]}");
    EXPECT(db != NULL);
    if (db == NULL)
        return;
#define JA "{\"file\":\"a\",\"title\":\"t\",\"fecha\":\"29/2/2000\",\"url\":\"u\"}"
#define JB "{\"n\":[1,{\"x\":null}],\"fecha\":\"1/3/2000\",\"title\":\"Tí\",\"file\":\"b\"}"
    EXPECT_STR(hito_json(db, 0, &len), JA);
    EXPECT_STR(hito_json(db, 1, &len), JB);
    EXPECT_STR(hito_all_json(db, &len),
               "{\"hitos\":{\"comment\":\"c\",\"hitos_lista\":[" JA "," JB "],\"hitos\":{\"a\":" JA ",\"b\":" JB "}}}");
#undef JA
#undef JB
    hito_db_release(db);
}

/* ---- the rules ---- */

static void test_fecha_table(void)
{
    static const char *const good[] = {"21/09/2017", "28/9/2017",  "1/1/2000",  "01/01/0001", "29/2/2024",
                                       "29/2/2000",  "31/12/9999", "30/4/2017", "31/1/2017",  "28/2/1900"};
    static const char *const bad[] = {"29/2/2023", "29/2/1900",  "31/4/2017",  "0/1/2017",   "1/0/2017", "1/13/2017", "32/1/2017",
                                      "1/1/217",   "1/1/20177",  "1/1/0000",   "a/1/2017",   "1/b/2017", "1/1/2o17",  "1/1/2017 ",
                                      " 1/1/2017", "1/1/2017x",  "001/1/2017", "1/001/2017", "1-1-2017", "1/1",       "",
                                      "/1/2017",   "1//2017",    "1/1/",       "+1/1/2017",  "1/1/-017", "2017/1/1",  "31/6/2017",
                                      "31/9/2017", "31/11/2017", "30/2/2000",  NULL};
    for (size_t i = 0; i < LEN(good); i++)
        if (!hito_fecha_ok(good[i])) {
            test_failed_now = 1;
            printf("# fecha \"%s\" refused\n", good[i]);
        }
    for (size_t i = 0; i < LEN(bad); i++)
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
    EXPECT_INT(hito_index_parse("9223372036854775807", &v), 0);
    EXPECT_INT(v, 9223372036854775807L);
    /* larger than a long: an index no milestone has, not a malformed one */
    EXPECT_INT(hito_index_parse("9223372036854775808", &v), 0);
    EXPECT_INT(v, LONG_MAX);
    EXPECT_INT(hito_index_parse("99999999999999999999999", &v), 0);
    EXPECT_INT(v, LONG_MAX);
    EXPECT_INT(hito_index_parse("5", NULL), 0);
    /* one spelling per index: no sign, no leading zero, no space */
    static const char *const bad[] = {"",   "-",   "+1",  " 1",  "1 ",  "0x1", "1a",
                                      "a",  "--1", "1.0", "1e2", "-+1", "-3",  "-0",
                                      "+0", "00",  "007", "01",  "\t1", "1\n", "-99999999999999999999999",
                                      NULL};
    for (size_t i = 0; i < LEN(bad); i++) {
        v = 42;
        if (hito_index_parse(bad[i], &v) != -1 || v != 42) {
            test_failed_now = 1;
            printf("# index \"%s\" accepted\n", bad[i] ? bad[i] : "(null)");
        }
    }
}

/* ---- planning an addition ---- */

static hito_status_t plan(const hito_db_t *db, const char *body_text, hito_change_t *c)
{
    json_t *body = json_loads(body_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (body == NULL)
        printf("# not JSON: %s\n", body_text), test_failed_now = 1;
    err[0] = '\0';
    hito_status_t st = hito_plan_add(db, body, c, err, sizeof(err));
    json_decref(body);
    return st;
}

static void test_plan_add(void)
{
    hito_db_t *db = load_shipped();
    hito_change_t c;
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"[]", "body: must be a JSON object"},
        {"\"x\"", "body: must be a JSON object"},
        {"null", "body: must be a JSON object"},
        {"{\"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: missing"},
        {"{\"file\": \"\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " TEXT_RULE},
        {"{\"file\": 3, \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " TEXT_RULE},
        {"{\"file\": \"a\\u0000b\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " TEXT_RULE},
        {"{\"file\": \"f\", \"fecha\": \"1/1/2020\"}", "title: missing"},
        {"{\"file\": \"f\", \"title\": null, \"fecha\": \"1/1/2020\"}", "title: " TEXT_RULE},
        {"{\"file\": \"f\", \"title\": \"t\"}", "fecha: missing"},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": \"29/2/2023\"}", "fecha: " FECHA_RULE},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": 2020}", "fecha: " FECHA_RULE},
        {"{\"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\", \"extra\": 1}", "extra: unknown field"},
        /* file names a file: no path, no line break, no control character */
        {"{\"file\": \"../x\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"x/\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"..\\\\x\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \".\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"..\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"x\\ny\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"x\\u001b[31m\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"x\\u007f\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        {"{\"file\": \"x\\u009b\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "file: " FILE_RULE},
        /* the other fields keep their rules: a title may hold a slash */
        {"{\"file\": \"a/b\", \"title\": \"\", \"fecha\": \"1/1/2020\"}", "title: " TEXT_RULE},
        /* the order: missing and rules field by field, then unknown fields, then existence */
        {"{\"extra\": 1}", "file: missing"},
        {"{\"extra\": 1, \"fecha\": \"x\", \"title\": 1, \"file\": \"\"}", "file: " TEXT_RULE},
        {"{\"file\": \"f\", \"title\": \"\", \"fecha\": \"x\"}", "title: " TEXT_RULE},
        {"{\"extra\": 1, \"file\": \"f\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", "extra: unknown field"},
        {"{\"file\": \"0.Repositorio\", \"title\": \"\", \"fecha\": \"1/1/2020\"}", "title: " TEXT_RULE},
        {"{\"file\": \"0.Repositorio\", \"title\": \"t\", \"fecha\": \"1/1/2020\", \"x\": 1}", "x: unknown field"},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        hito_status_t st = plan(db, cases[i].body, &c);
        if (st != HITO_INVALID || strcmp(err, cases[i].want) != 0) {
            test_failed_now = 1;
            printf("# case %zu: status %d, err \"%s\", expected \"%s\"\n", i, st, err, cases[i].want);
        }
    }
    /* 256 bytes, counted in bytes. */
    char body[1400], title[300];
    for (int i = 0; i < 256; i += 2)
        title[i] = '\xc3', title[i + 1] = '\xb1';
    title[256] = '\0';
    snprintf(body, sizeof(body), "{\"file\": \"%s\", \"title\": \"%s\", \"fecha\": \"1/1/2020\"}", title, title);
    EXPECT_INT(plan(db, body, &c), HITO_OK); /* (c pointed into the body, gone now) */
    strcat(title, "x");
    snprintf(body, sizeof(body), "{\"file\": \"f\", \"title\": \"%s\", \"fecha\": \"1/1/2020\"}", title);
    EXPECT_INT(plan(db, body, &c), HITO_INVALID);
    EXPECT_STR(err, "title: " TEXT_RULE);
    snprintf(body, sizeof(body), "{\"file\": \"%s\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", title);
    EXPECT_INT(plan(db, body, &c), HITO_INVALID);
    EXPECT_STR(err, "file: " TEXT_RULE);

    EXPECT_INT(plan(db, "{\"file\": \"1.Infraestructura\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", &c), HITO_EXISTS);
    EXPECT_STR(err, "file: \"1.Infraestructura\" already exists");

    /* A good body: the change points into it, and nothing is added yet. */
    json_t *good = json_loads("{\"fecha\": \"5/10/2017\", \"title\": \"Docker\", \"file\": \"2.Docker\"}", 0, NULL);
    EXPECT_INT(hito_plan_add(db, good, &c, err, sizeof(err)), HITO_OK);
    EXPECT(c.file == json_string_value(json_object_get(good, "file")));
    EXPECT(c.title == json_string_value(json_object_get(good, "title")));
    EXPECT(c.fecha == json_string_value(json_object_get(good, "fecha")));
    EXPECT_INT(hito_count(db), 2);
    json_decref(good);
    /* records journaled before the file rule replay as they were accepted */
    hito_change_t before = {"../old", "t", "1/1/2020"};
    EXPECT_INT(hito_db_apply(&db, &before, err, sizeof(err)), 2);
    /* and an export of them restores: only new milestones are held to the file rule */
    json_t *old = json_loads("{\"file\": \"hito1/md\", \"title\": \"t\", \"fecha\": \"29/2/2020\"}", 0, NULL);
    EXPECT_INT(hito_plan_add(db, old, &c, err, sizeof(err)), HITO_INVALID);
    EXPECT_STR(err, "file: " FILE_RULE);
    EXPECT_INT(hito_plan_restore(db, old, &c, err, sizeof(err)), HITO_OK);
    EXPECT_STR(c.file, "hito1/md");
    json_t *taken = json_loads("{\"file\": \"../old\", \"title\": \"t\", \"fecha\": \"1/1/2020\"}", 0, NULL);
    EXPECT_INT(hito_plan_restore(db, taken, &c, err, sizeof(err)), HITO_EXISTS);
    json_t *bad = json_loads("{\"file\": \"x\", \"title\": \"t\", \"fecha\": \"30/2/2020\"}", 0, NULL);
    EXPECT_INT(hito_plan_restore(db, bad, &c, err, sizeof(err)), HITO_INVALID); /* the other rules hold */
    json_decref(old);
    json_decref(taken);
    json_decref(bad);
    hito_db_release(db);
}

/* ---- change records ---- */

static void test_change_records(void)
{
    char rec[HITO_CHANGE_MAX + 8], again[HITO_CHANGE_MAX], big[300];
    hito_change_t c = {"2.Docker", "Docker", "5/10/2017"}, d;
    size_t n = hito_change_encode(&c, rec, sizeof(rec));
    static const char docker[] = "\x20"
                                 "2.Docker\0"
                                 "Docker\0"
                                 "5/10/2017\0";
    EXPECT(n == sizeof(docker) - 1 && memcmp(rec, docker, n) == 0);
    EXPECT_INT(hito_change_decode(rec, n, &d, err, sizeof(err)), 0);
    EXPECT_STR(d.file, "2.Docker");
    EXPECT_STR(d.title, "Docker");
    EXPECT_STR(d.fecha, "5/10/2017");
    EXPECT(d.file == rec + 1 && d.title == rec + 10 && d.fecha == rec + 17); /* borrowed from the record */
    for (size_t cap = 0; cap < n; cap++)
        EXPECT_INT(hito_change_encode(&c, again, cap), 0);
    EXPECT_INT(hito_change_encode(&c, again, n), n);

    /* Any bytes but NUL go through as they are; the largest milestone fits HITO_CHANGE_MAX. */
    hito_change_t odd = {"3.Ñu \"q\"\\", "a\nb\x01", "29/2/2024"};
    n = hito_change_encode(&odd, rec, sizeof(rec));
    EXPECT_INT(hito_change_decode(rec, n, &d, err, sizeof(err)), 0);
    EXPECT_STR(d.file, odd.file);
    EXPECT_STR(d.title, odd.title);
    EXPECT_STR(d.fecha, odd.fecha);
    memset(big, 'x', 256), big[256] = '\0';
    hito_change_t largest = {big, big, "10/10/2020"};
    EXPECT_INT(hito_change_encode(&largest, again, sizeof(again)), HITO_CHANGE_MAX);

    /* Damage. */
    n = sizeof(docker) - 1;
    EXPECT_INT(hito_change_decode(docker, 0, &d, err, sizeof(err)), -1);
    EXPECT_STR(err, "not a milestone record");
    for (size_t cut = 1; cut < n; cut++) {
        char want[64];
        err[0] = '\0';
        EXPECT_INT(hito_change_decode(docker, cut, &d, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "malformed milestone record (%zu bytes)", cut);
        EXPECT_STR(err, want);
    }
    memcpy(rec, docker, n);
    rec[n] = 'x';
    EXPECT_INT(hito_change_decode(rec, n + 1, &d, err, sizeof(err)), -1);
    EXPECT_STR(err, "malformed milestone record (28 bytes)");
    rec[n] = '\0';
    EXPECT_INT(hito_change_decode(rec, n + 1, &d, err, sizeof(err)), -1);
    for (size_t i = 1; i < n; i++)
        if (docker[i] == '\0') {
            memcpy(rec, docker, n);
            rec[i] = '-';
            EXPECT_INT(hito_change_decode(rec, n, &d, err, sizeof(err)), -1);
        }
    static const unsigned char ops[] = {0x00, 0x10, 0x14, 0x1f, 0x21, 0xff};
    for (size_t i = 0; i < LEN(ops); i++) {
        memcpy(rec, docker, n);
        rec[0] = (char)ops[i];
        EXPECT_INT(hito_change_decode(rec, n, &d, err, sizeof(err)), -1);
        EXPECT_STR(err, "not a milestone record");
    }
}

/* ---- applying ---- */

static const milestone_t ADD[] = {
    {"2.Docker", "Docker", "5/10/2017"},
    {"3.Ñu", "Ñandú", "29/2/2024"},
    {"4.Despliegue", "Despliegue en la nube", "1/12/2017"},
    {"5.Final", "F", "31/12/9999"},
};

static void test_apply_transient(void)
{
    hito_db_t *db = load_shipped(), *same = db;
    size_t len;
    /* Rendered before: what is added in place must show all the same. */
    EXPECT(shows(db, ADD, 0));
    for (size_t i = 0; i < LEN(ADD); i++) {
        EXPECT_INT(apply(&db, &ADD[i]), 2 + i);
        EXPECT(db == same);
        EXPECT(shows(db, ADD, i + 1));
    }
    EXPECT_INT(apply(&db, &ADD[1]), -1);
    EXPECT_STR(err, "file: \"3.Ñu\" already exists");
    EXPECT_INT(apply(&db, &(milestone_t){"0.Repositorio", "t", "1/1/2020"}), -1);
    EXPECT_STR(err, "file: \"0.Repositorio\" already exists");
    EXPECT(db == same);
    EXPECT_INT(hito_count(db), 2 + LEN(ADD));
    EXPECT(hito_json(db, 2 + LEN(ADD), &len) == NULL);
    hito_db_release(db);

    /* An empty db (no file) takes additions too. */
    db = hito_db_load(NULL, err, sizeof(err));
    EXPECT_INT(apply(&db, &ADD[0]), 0);
    EXPECT_STR(hito_list_json(db, &len), "[{\"file\":\"2.Docker\",\"title\":\"Docker\",\"fecha\":\"5/10/2017\"}]");
    hito_db_release(db);
}

static void test_apply_sealed_versions(void)
{
    enum { N = LEN(ADD) + 1 };
    hito_db_t *db = load_shipped(), *v[N];
    hito_db_seal(db);
    v[0] = hito_db_ref(db);
    EXPECT(shows(v[0], ADD, 0)); /* rendered while current */
    for (size_t i = 1; i < N; i++) {
        hito_db_t *prev = db;
        EXPECT_INT(apply(&db, &ADD[i - 1]), 1 + i);
        EXPECT(db != prev);
        EXPECT_INT(hito_count(prev), 1 + i); /* the one before, unchanged */
        v[i] = hito_db_ref(db);
        if (i == 2)
            EXPECT(shows(db, ADD, i));
    }
    /* A duplicate leaves the version alone. */
    hito_db_t *last = db;
    EXPECT_INT(apply(&db, &ADD[0]), -1);
    EXPECT_STR(err, "file: \"2.Docker\" already exists");
    EXPECT(db == last);
    /* Another lineage from an old version: the file it adds is free there. */
    hito_db_t *branch = hito_db_ref(v[1]);
    milestone_t other = {"3.Ñu", "Otro título", "1/1/2021"};
    EXPECT_INT(apply(&branch, &other), 3);
    milestone_t branch_add[2] = {ADD[0], other};
    EXPECT(shows(branch, branch_add, 2));
    hito_db_release(branch);
    hito_db_release(db);
    static const int order[N] = {2, 4, 0, 3, 1};
    for (size_t k = 0; k < N; k++) {
        int i = order[k];
        if (!shows(v[i], ADD, (size_t)i))
            printf("# version %d\n", i), test_failed_now = 1;
        hito_db_release(v[i]);
    }
}

/* Enough milestones for the lists to span several leaves: every separator where it belongs. */
static void test_many(void)
{
    enum { N = 70 };
    static milestone_t many[N];
    static char names[N][2][24];
    hito_db_t *db = load_shipped();
    hito_db_seal(db);
    for (int i = 0; i < N; i++) {
        snprintf(names[i][0], sizeof(names[i][0]), "m%02d", i);
        snprintf(names[i][1], sizeof(names[i][1]), "Hito %d", i);
        many[i] = (milestone_t){names[i][0], names[i][1], "1/1/2020"};
        EXPECT_INT(apply(&db, &many[i]), 2 + i);
    }
    EXPECT(shows(db, many, N));
    hito_db_release(db);
}

static void test_apply_refuses(void)
{
    char over[300];
    memset(over, 'x', 257), over[257] = '\0';
    const struct {
        hito_change_t c;
        const char *err;
    } cases[] = {
        {{"", "t", "1/1/2020"}, "file: " TEXT_RULE},
        {{NULL, "t", "1/1/2020"}, "file: " TEXT_RULE},
        {{over, "t", "1/1/2020"}, "file: " TEXT_RULE},
        {{"f", "", "1/1/2020"}, "title: " TEXT_RULE},
        {{"f", over, "1/1/2020"}, "title: " TEXT_RULE},
        {{"f", "t", "30/2/2020"}, "fecha: " FECHA_RULE},
        {{"f", "t", ""}, "fecha: " FECHA_RULE},
        {{"f", "t", NULL}, "fecha: " FECHA_RULE},
        {{"1.Infraestructura", "t", "1/1/2020"}, "file: \"1.Infraestructura\" already exists"},
        {{"2.Docker", "t", "1/1/2020"}, "file: \"2.Docker\" already exists"},
    };
    for (int sealed = 0; sealed < 2; sealed++) {
        hito_db_t *db = load_shipped();
        EXPECT_INT(apply(&db, &ADD[0]), 2);
        if (sealed)
            hito_db_seal(db);
        for (size_t i = 0; i < LEN(cases); i++) {
            hito_db_t *before = db;
            err[0] = '\0';
            EXPECT_INT(hito_db_apply(&db, &cases[i].c, err, sizeof(err)), -1);
            EXPECT(db == before);
            if (strcmp(err, cases[i].err) != 0) {
                test_failed_now = 1;
                printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, cases[i].err);
            }
        }
        /* Records too: a decoded record gets the checks a body gets. */
        static const char bad_rec[] = "\x20"
                                      "f\0"
                                      "t\0"
                                      "31/4/2020\0";
        hito_change_t c;
        EXPECT_INT(hito_change_decode(bad_rec, sizeof(bad_rec) - 1, &c, err, sizeof(err)), 0);
        EXPECT_INT(hito_db_apply(&db, &c, err, sizeof(err)), -1);
        EXPECT_STR(err, "fecha: " FECHA_RULE);
        /* A record's text that is not UTF-8 (no body can carry it) would render as U+FFFD:
         * what was replayed would not be what was added. */
        static const char latin1_rec[] = "\x20"
                                         "f\0"
                                         "\xad\x9a\x98\x82ndo hito\0"
                                         "1/1/2020\0";
        EXPECT_INT(hito_change_decode(latin1_rec, sizeof(latin1_rec) - 1, &c, err, sizeof(err)), 0);
        EXPECT_INT(hito_db_apply(&db, &c, err, sizeof(err)), -1);
        EXPECT_STR(err, "title: " UTF8_RULE);
        static const char bad_file_rec[] = "\x20"
                                           "M\xe1laga\0"
                                           "t\0"
                                           "1/1/2020\0";
        EXPECT_INT(hito_change_decode(bad_file_rec, sizeof(bad_file_rec) - 1, &c, err, sizeof(err)), 0);
        EXPECT_INT(hito_db_apply(&db, &c, err, sizeof(err)), -1);
        EXPECT_STR(err, "file: " UTF8_RULE);
        EXPECT(shows(db, ADD, 1));
        hito_db_release(db);
    }
}

/* ---- rendering what needs escaping ---- */

static void test_render_escaping(void)
{
    hito_db_t *db = load_text("{\"comment\": \"Cómo \\\"va\\\" \\\\ todo\", "
                              "\"hitos_lista\": [{\"file\": \"a\", \"title\": \"Tí\", "
                              "\"fecha\": \"1/2/2003\"}]}");
    EXPECT(db != NULL);
    if (db == NULL)
        return;
    hito_db_seal(db);
    hito_change_t c = {"3.Ñu \"q\"\\", "line1\nline2\t\\ 日本 \x01 \xe2\x80\xa8", "29/2/2024"};
    size_t len;
    EXPECT_INT(hito_db_apply(&db, &c, err, sizeof(err)), 1);
#define JA "{\"file\":\"a\",\"title\":\"Tí\",\"fecha\":\"1/2/2003\"}"
#define JQ                                                                                         \
    "{\"file\":\"3.Ñu \\\"q\\\"\\\\\",\"title\":\"line1\\nline2\\t\\\\ 日本 \\u0001 \\u2028\"," \
    "\"fecha\":\"29/2/2024\"}"
    EXPECT_STR(hito_json(db, 1, &len), JQ);
    EXPECT_STR(hito_list_json(db, &len), "[" JA "," JQ "]");
    const char *all = hito_all_json(db, &len);
    EXPECT_STR(all, "{\"hitos\":{\"comment\":\"Cómo \\\"va\\\" \\\\ todo\",\"hitos_lista\":[" JA "," JQ "],\"hitos\":{\"a\":" JA
                    ",\"3.Ñu \\\"q\\\"\\\\\":" JQ "}}}");
#undef JA
#undef JQ
    /* and it reads back as what was added */
    json_t *parsed = json_loadb(all, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *h = json_object_get(json_object_get(json_object_get(parsed, "hitos"), "hitos"), c.file);
    EXPECT_STR(json_string_value(json_object_get(h, "title")), c.title);
    EXPECT_STR(json_string_value(json_object_get(json_object_get(parsed, "hitos"), "comment")), "Cómo \"va\" \\ todo");
    json_decref(parsed);
    hito_db_release(db);
}

/* ---- dump and replay ---- */

typedef struct {
    char rec[16][HITO_CHANGE_MAX];
    size_t len[16], n, stop_at; /* stop_at: emit fails on that call (1-based); 0: never */
} recs_t;

static int collect(void *ctx, const void *rec, size_t len)
{
    recs_t *r = ctx;
    if (++r->n == r->stop_at || r->n > 16)
        return 1;
    memcpy(r->rec[r->n - 1], rec, len);
    r->len[r->n - 1] = len;
    return 0;
}

static void test_dump_replay(void)
{
    static recs_t r, s;
    hito_db_t *db = load_shipped();
    hito_db_seal(db);
    r.n = 0;
    EXPECT_INT(hito_dump(db, collect, &r), 0);
    EXPECT_INT(r.n, 0); /* the file's milestones are read again at start, not dumped */
    hito_db_t *one = NULL;
    for (size_t i = 0; i < 3; i++) {
        EXPECT_INT(apply(&db, &ADD[i]), 2 + i);
        if (i == 0)
            one = hito_db_ref(db);
    }
    hito_change_t odd = {"x\"y", "a\\b\nc", "1/1/2001"};
    EXPECT_INT(hito_db_apply(&db, &odd, err, sizeof(err)), 5);
    EXPECT_INT(hito_dump(db, collect, &r), 0);
    EXPECT_INT(r.n, 4);
    static const char docker[] = "\x20"
                                 "2.Docker\0"
                                 "Docker\0"
                                 "5/10/2017\0";
    EXPECT(r.len[0] == sizeof(docker) - 1 && memcmp(r.rec[0], docker, r.len[0]) == 0);
    hito_db_t *fresh = load_shipped();
    for (size_t i = 0; i < r.n; i++) {
        hito_change_t c;
        EXPECT_INT(hito_change_decode(r.rec[i], r.len[i], &c, err, sizeof(err)), 0);
        EXPECT_INT(hito_db_apply(&fresh, &c, err, sizeof(err)), (long)i + 2);
    }
    size_t la, lb;
    const char *a = hito_all_json(db, &la), *b = hito_all_json(fresh, &lb);
    EXPECT(a != NULL && b != NULL && la == lb && strcmp(a, b) == 0);
    a = hito_list_json(db, &la), b = hito_list_json(fresh, &lb);
    EXPECT(a != NULL && b != NULL && la == lb && strcmp(a, b) == 0);
    EXPECT(shows(one, ADD, 1));
    /* An older version dumps what it had. */
    s = (recs_t){0};
    EXPECT_INT(hito_dump(one, collect, &s), 0);
    EXPECT_INT(s.n, 1);
    /* An emit that fails stops the dump there. */
    for (size_t stop = 1; stop <= 4; stop++) {
        s = (recs_t){.stop_at = stop};
        EXPECT_INT(hito_dump(db, collect, &s), -1);
        EXPECT_INT(s.n, stop);
    }
    hito_db_release(one);
    hito_db_release(fresh);
    hito_db_release(db);
}

int main(void)
{
    dir = test_tmpdir("hito_test");
    RUN(test_load_shipped_file);
    RUN(test_load_no_path_is_empty);
    RUN(test_load_unreadable);
    RUN(test_load_invalid_json);
    RUN(test_load_shape_errors);
    RUN(test_fecha_table);
    RUN(test_index_parse);
    RUN(test_plan_add);
    RUN(test_change_records);
    RUN(test_apply_transient);
    RUN(test_apply_sealed_versions);
    RUN(test_many);
    RUN(test_apply_refuses);
    RUN(test_render_escaping);
    RUN(test_dump_replay);
    test_rmtree(dir);
    return TEST_END();
}
