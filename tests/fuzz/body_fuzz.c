/* body_fuzz: the JSON bodies of the write routes, through what the app does with a request body
 * before the domain changes anything (app_parse_body, then porra_score_parse or hito_plan_add),
 * and on through the plan, the change record and the apply, as a live write goes (README: HTTP
 * API; docs/store.md: change records).
 *
 * Input: byte 0 picks the route (0 PUT /porras/{ID}/apuestas/{quien}, 1 PUT
 * /porras/{ID}/resultado, 2 POST /hitos) and the rest is the body, in a buffer of its exact size;
 * or (3) the rest is the lines of an export after its header, each checked by
 * app_import_line as `porrio store import` checks them before writing anything.
 * Checked beyond "no crash":
 *   - a refused body has a message; an accepted score is two integers 0..99;
 *   - an accepted body's change record decodes to the same change (every field, byte for byte
 *     the strings of the body), applies to the state it was planned against, and the state then
 *     shows it: the bet or the result with those goals, the milestone at the next index with
 *     that file, title and fecha in its JSON;
 *   - an import line refused is named by its number ("line 3: ..."), and stops the import. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app_int.h"
#include "fuzz.h"

#define POOL "Betis-Sevilla-Liga-2017"

/* The state the writes are planned against: one pool with one bet, and one added milestone. */
static app_version_t *state(void)
{
    static app_version_t *v;
    char err[256], rec[PORRA_CHANGE_MAX];
    porra_change_t c;
    if (v != NULL)
        return v;
    CHECK((v = app_state_load(NULL, err, sizeof(err))) != NULL);
    CHECK(porra_plan_create(v->porras, "Betis", "Sevilla", "Liga", "2017", &c, err, sizeof(err)) == PORRA_CREATED);
    CHECK(app_apply_record(v, rec, porra_change_encode(&c, rec, sizeof(rec)), err, sizeof(err)) == 0);
    CHECK(porra_plan_bet(v->porras, POOL, "ana", 2, 1, &c, err, sizeof(err)) == PORRA_CREATED);
    CHECK(app_apply_record(v, rec, porra_change_encode(&c, rec, sizeof(rec)), err, sizeof(err)) == 0);
    static const char hito[] = "\x20hito0.md\0Primer hito\0001/9/2017";
    CHECK(app_apply_record(v, hito, sizeof(hito), err, sizeof(err)) == 0);
    porra_db_seal(v->porras);
    hito_db_seal(v->hitos);
    return v;
}

static void same_string(const char *a, const char *b)
{
    CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void score(const json_t *b, const char *quien)
{
    char err[256] = "", rec[PORRA_CHANGE_MAX];
    int gl = -1, gv = -1, l, v;
    porra_change_t c, d;
    if (porra_score_parse(b, &gl, &gv, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(gl >= 0 && gl <= PORRA_GOALS_MAX && gv >= 0 && gv <= PORRA_GOALS_MAX);
    porra_db_t *db = porra_db_ref(state()->porras);
    porra_status_t st = quien != NULL ? porra_plan_bet(db, POOL, quien, gl, gv, &c, err, sizeof(err))
                                      : porra_plan_result(db, POOL, gl, gv, &c, err, sizeof(err));
    CHECK(st == PORRA_OK || st == PORRA_CREATED);
    size_t len = porra_change_encode(&c, rec, sizeof(rec));
    CHECK(len > 0 && porra_change_decode(rec, len, &d, err, sizeof(err)) == 0);
    CHECK(d.op == c.op && d.local == gl && d.visitante == gv);
    same_string(d.id, POOL);
    if (quien != NULL)
        same_string(d.quien, quien);
    CHECK(porra_db_apply(&db, &d, err, sizeof(err)) == 0);
    const porra_t *p = porra_find(db, POOL);
    CHECK(p != NULL);
    if (quien != NULL)
        CHECK(porra_bet_of(p, quien, &l, &v) == 1 && l == gl && v == gv);
    else
        CHECK(porra_result_of(p, &l, &v) == 1 && l == gl && v == gv);
    size_t jlen;
    const char *j = porra_json(p, &jlen);
    json_error_t je;
    json_t *shown = j != NULL ? json_loadb(j, jlen - 1, 0, &je) : NULL; /* without the listing's ',' */
    CHECK(shown != NULL);
    json_decref(shown);
    porra_db_release(db);
}

static void hito(const json_t *b)
{
    char err[256] = "", rec[HITO_CHANGE_MAX];
    hito_change_t c, d;
    hito_db_t *db = hito_db_ref(state()->hitos);
    hito_status_t st = hito_plan_add(db, b, &c, err, sizeof(err));
    if (st != HITO_OK) {
        CHECK(err[0] != '\0');
        hito_db_release(db);
        return;
    }
    CHECK(hito_fecha_ok(c.fecha));
    same_string(c.file, json_string_value(json_object_get(b, "file")));
    same_string(c.title, json_string_value(json_object_get(b, "title")));
    size_t len = hito_change_encode(&c, rec, sizeof(rec));
    CHECK(len > 0 && hito_change_decode(rec, len, &d, err, sizeof(err)) == 0);
    same_string(d.file, c.file);
    same_string(d.title, c.title);
    same_string(d.fecha, c.fecha);
    size_t before = hito_count(db), jlen;
    CHECK(hito_db_apply(&db, &d, err, sizeof(err)) == (long)before);
    const char *j = hito_json(db, before, &jlen);
    json_error_t je;
    json_t *shown = j != NULL ? json_loadb(j, jlen, 0, &je) : NULL;
    CHECK(shown != NULL);
    same_string(json_string_value(json_object_get(shown, "file")), c.file);
    same_string(json_string_value(json_object_get(shown, "title")), c.title);
    same_string(json_string_value(json_object_get(shown, "fecha")), c.fecha);
    json_decref(shown);
    hito_db_release(db);
}

/* ---- import lines ---- */

static char import_dir[64];
static app_t *import_app;

static void close_import_app(void)
{
    app_close(import_app);
    fuzz_empty_dir(import_dir);
    rmdir(import_dir);
}

/* The store imports are checked against: empty, in a scratch directory; nothing is committed. */
static app_t *import_target(void)
{
    if (import_app != NULL)
        return import_app;
    fuzz_scratch_dir(import_dir, sizeof(import_dir), "body-fuzz");
    app_opts_t o = {.data_dir = import_dir};
    store_error_t e;
    int bad_input;
    CHECK((import_app = app_open(&o, &bad_input, &e)) != NULL);
    atexit(close_import_app);
    return import_app;
}

static void import_lines(const char *text, size_t len)
{
    static const char header[] = "{\"porrio_export\":1,\"version\":\"0.1.0\","
                                 "\"pools\":1,\"bets\":1,\"results\":1,\"hitos\":1}";
    char err[512], prefix[32];
    app_import_t *im = app_import_begin(import_target(), 0, err, sizeof(err));
    CHECK(im != NULL && app_import_line(im, header, sizeof(header) - 1, err, sizeof(err)) == 0);
    for (size_t pos = 0, line = 2; pos < len; line++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        char *one = fuzz_dup((const uint8_t *)text + pos, n);
        int rc = app_import_line(im, one, n, err, sizeof(err));
        free(one);
        if (rc != 0) {
            snprintf(prefix, sizeof(prefix), "line %zu: ", line);
            CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
            break;
        }
        pos += n + 1;
    }
    app_import_free(im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    if (size < 1)
        return 0;
    int kind = data[0] % 4;
    size_t len = size - 1;
    char *body = fuzz_dup(data + 1, len);
    if (kind == 3) {
        import_lines(body, len);
        free(body);
        return 0;
    }
    json_t *b = app_parse_body(body, len, err, sizeof(err));
    if (b == NULL) {
        CHECK(strncmp(err, "body: ", 6) == 0);
    } else if (kind == 2) {
        hito(b);
    } else {
        score(b, kind == 0 ? "ana" : NULL);
        if (kind == 0)
            score(b, "luis-2");
    }
    json_decref(b);
    free(body);
    return 0;
}
