/* porra: the rules, the plans, the change records, versions (transient and sealed), rendering,
 * iteration, dump and replay, and readers sharing a version while a writer makes newer ones. */
#include "porra/porra.h"
#include "porra/porra_int.h"
#include "jsonw/jsonw.h"
#include "pvec/pvec.h"
#include "oom.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static char err[512];

/* The segment rule's words, with and without the dash. */
#define RULE      "must be 1-64 characters: letters, digits, '_', '.' or UTF-8 letters, not only dots"
#define RULE_DASH "must be 1-64 characters: letters, digits, '_', '.', '-' or UTF-8 letters, not only dots"
#define GOALS     "must be an integer from 0 to 99"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- doing what the service does: plan, then apply when the plan says so ---- */

/* The plan's status; -1 when the plan allowed the change and the apply refused it. */
static int create(porra_db_t **db, const char *l, const char *v, const char *c, const char *y)
{
    porra_change_t ch;
    err[0] = '\0';
    porra_status_t st = porra_plan_create(*db, l, v, c, y, &ch, err, sizeof(err));
    return st == PORRA_CREATED && porra_db_apply(db, &ch, err, sizeof(err)) != 0 ? -1 : (int)st;
}

static int bet(porra_db_t **db, const char *id, const char *quien, int l, int v)
{
    porra_change_t ch;
    err[0] = '\0';
    porra_status_t st = porra_plan_bet(*db, id, quien, l, v, &ch, err, sizeof(err));
    int go = st == PORRA_CREATED || st == PORRA_OK;
    return go && porra_db_apply(db, &ch, err, sizeof(err)) != 0 ? -1 : (int)st;
}

static int result(porra_db_t **db, const char *id, int l, int v)
{
    porra_change_t ch;
    err[0] = '\0';
    porra_status_t st = porra_plan_result(*db, id, l, v, &ch, err, sizeof(err));
    return st == PORRA_OK && porra_db_apply(db, &ch, err, sizeof(err)) != 0 ? -1 : (int)st;
}

static int delete (porra_db_t **db, const char *id)
{
    porra_change_t ch;
    err[0] = '\0';
    porra_status_t st = porra_plan_delete(*db, id, &ch);
    return st == PORRA_OK && porra_db_apply(db, &ch, err, sizeof(err)) != 0 ? -1 : (int)st;
}

/* Applies c the way replay does: encoded, decoded, applied. -2 (reported) when c does not make a
 * record that decodes. */
static int apply_rec(porra_db_t **db, const porra_change_t *c)
{
    char rec[PORRA_CHANGE_MAX];
    porra_change_t d;
    size_t n = porra_change_encode(c, rec, sizeof(rec));
    err[0] = '\0';
    if (n == 0 || porra_change_decode(rec, n, &d, err, sizeof(err)) != 0) {
        printf("# op 0x%02x: no record (%s)\n", (unsigned)c->op, err);
        test_failed_now = 1;
        return -2;
    }
    return porra_db_apply(db, &d, err, sizeof(err));
}

/* A change decoded from record bytes (which must outlive it); reported when they do not decode. */
static porra_change_t decoded(const char *rec, size_t len)
{
    porra_change_t c = {.op = -1};
    if (porra_change_decode(rec, len, &c, err, sizeof(err)) != 0) {
        printf("# record does not decode: %s\n", err);
        test_failed_now = 1;
    }
    return c;
}
#define DECODED(lit) decoded(lit, sizeof(lit) - 1)

/* ---- what a version shows ---- */

/* Every pool of db in creation order, their JSON joined as a listing joins them (malloc'd). */
static char *render(const porra_db_t *db)
{
    jsonw_t w = JSONW_INIT;
    porra_iter_t it;
    const porra_t *p;
    size_t len;
    porra_iter_created(&it, db);
    while ((p = porra_iter_next(&it)) != NULL) {
        const char *j = porra_json(p, &len);
        if (j == NULL)
            jsonw_lit(&w, "(porra_json: NULL)");
        else
            jsonw_raw(&w, j, len);
    }
    char *s = jsonw_finish(&w, &len);
    if (s == NULL)
        abort();
    return s;
}

/* 1 when db renders as want; else 0, with both shown. */
static int renders_as(const porra_db_t *db, const char *want)
{
    char *got = render(db);
    int same = strcmp(got, want) == 0;
    if (!same)
        printf("# renders as\n#   %s\n# expected\n#   %s\n", got, want);
    free(got);
    return same;
}

/* The pool's JSON (with its ','), or NULL when there is no such pool. */
static const char *pool_json(const porra_db_t *db, const char *id)
{
    size_t len;
    const porra_t *p = porra_find(db, id);
    const char *j = p != NULL ? porra_json(p, &len) : NULL;
    if (j != NULL && len != strlen(j)) {
        printf("# %s: len %zu, strlen %zu\n", id, len, strlen(j));
        test_failed_now = 1;
    }
    return j;
}

/* 1 when the pool's JSON holds needle. */
static int pool_has(const porra_db_t *db, const char *id, const char *needle)
{
    const char *j = pool_json(db, id);
    if (j == NULL || strstr(j, needle) == NULL) {
        printf("# %s is %s\n", id, j != NULL ? j : "(none)");
        return 0;
    }
    return 1;
}

/* The IDs an iterator gives, joined by spaces (a static buffer). */
static const char *ids(porra_iter_t *it)
{
    static char buf[4096];
    const porra_t *p;
    buf[0] = '\0';
    while ((p = porra_iter_next(it)) != NULL) {
        if (buf[0] != '\0')
            strcat(buf, " ");
        strcat(buf, porra_id(p));
    }
    return buf;
}

static const char *ids_by_id(const porra_db_t *db, const char *after)
{
    porra_iter_t it;
    porra_iter_ids(&it, db, after);
    return ids(&it);
}

static const char *ids_created(const porra_db_t *db)
{
    porra_iter_t it;
    porra_iter_created(&it, db);
    return ids(&it);
}

/* ---- records collected from porra_dump ---- */

typedef struct {
    char **rec;
    size_t *len, n, cap;
    size_t stop_at; /* emit fails on this call (1-based); 0: never */
} recs_t;

static int collect(void *ctx, const void *rec, size_t len)
{
    recs_t *r = ctx;
    if (r->stop_at != 0 && r->n + 1 == r->stop_at) {
        r->n++;
        return 1;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->rec = realloc(r->rec, r->cap * sizeof(*r->rec));
        r->len = realloc(r->len, r->cap * sizeof(*r->len));
        if (r->rec == NULL || r->len == NULL)
            abort();
    }
    if ((r->rec[r->n] = malloc(len)) == NULL)
        abort();
    memcpy(r->rec[r->n], rec, len);
    r->len[r->n++] = len;
    return 0;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->stop_at == 0 || i + 1 < r->stop_at) /* the refused call stored nothing */
            free(r->rec[i]);
    free(r->rec);
    free(r->len);
    *r = (recs_t){0};
}

/* A fresh (transient) db rebuilt from db's dump through decode and apply; the records go to out
 * when it is not NULL. NULL, reported, when a record fails. */
static porra_db_t *replay(const porra_db_t *db, recs_t *out)
{
    recs_t own = {0}, *r = out != NULL ? out : &own;
    porra_db_t *fresh = porra_db_new();
    int ok = porra_dump(db, collect, r) == 0;
    for (size_t i = 0; ok && i < r->n; i++) {
        porra_change_t c;
        ok = porra_change_decode(r->rec[i], r->len[i], &c, err, sizeof(err)) == 0 &&
             porra_db_apply(&fresh, &c, err, sizeof(err)) == 0;
        if (!ok)
            printf("# record %zu of the dump: %s\n", i, err);
    }
    recs_free(&own);
    if (!ok) {
        test_failed_now = 1;
        porra_db_release(fresh);
        return NULL;
    }
    return fresh;
}

/* 1 when db's dump, replayed, renders as want. */
static int replays_as(const porra_db_t *db, const char *want)
{
    porra_db_t *fresh = replay(db, NULL);
    int same = fresh != NULL && renders_as(fresh, want);
    porra_db_release(fresh);
    return same;
}

/* ---- the rules ---- */

static void test_segment_table(void)
{
    static const char *const good[] = {"Granada",
                                       "betis",
                                       "Liga_2017",
                                       "2017",
                                       "a.b",
                                       "ñ",
                                       "Málaga",
                                       "日本",
                                       "\xf0\x9f\x98\x80",
                                       "\xef\xbf\xbf",
                                       ".a",
                                       "\xf4\x8f\xbf\xbf",
                                       "_",
                                       "a..",
                                       "\xc2\x80",
                                       "\xe0\xa0\x80",
                                       "\xf0\x90\x80\x80",
                                       "\xed\x9f\xbf",
                                       "\xee\x80\x80"};
    /* the limit counts characters, whatever their UTF-8 length: 64 of them, 65 is one too many */
    char max[65], over[66], max_utf8[129], over_utf8[131], max_emoji[257], over_emoji[261];
    memset(max, 'a', 64), max[64] = '\0';
    memset(over, 'a', 65), over[65] = '\0';
    for (int i = 0; i < 64; i++) /* 64 × "ñ": 128 bytes; 64 × U+1F600: 256 bytes */
        memcpy(max_utf8 + 2 * i, "\xc3\xb1", 2), memcpy(max_emoji + 4 * i, "\xf0\x9f\x98\x80", 4);
    max_utf8[128] = '\0', max_emoji[256] = '\0';
    memcpy(over_utf8, max_utf8, 128), memcpy(over_utf8 + 128, "\xc3\xb1", 3);
    memcpy(over_emoji, max_emoji, 256), memcpy(over_emoji + 256, "\xf0\x9f\x98\x80", 5);
    static const char *const bad[] = {"",
                                      ".",
                                      "..",
                                      "...",
                                      "a b",
                                      "a/b",
                                      "a%2Fb",
                                      "a%b",
                                      "a+b",
                                      "\xc3",
                                      "a\xc3",
                                      "\xc0\xaf",
                                      "\xc1\xbf",
                                      "\xe0\x80\xaf",
                                      "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",
                                      "\xf5\x80\x80\x80",
                                      "\xf0\x80\x80\x80",
                                      "\x80",
                                      "\xe2\x82",
                                      "a\tb",
                                      "a?b",
                                      "a#b",
                                      "\x7f",
                                      "ñ\xff",
                                      "\xe2\x82x",
                                      "\xf0\x9f\x98",
                                      "a\"b",
                                      "a\\b",
                                      "a\nb",
                                      "\xff",
                                      "\xfe",
                                      NULL};
    for (size_t i = 0; i < LEN(good); i++)
        for (int dash = 0; dash < 2; dash++)
            if (!porra_segment_ok(good[i], dash, err, sizeof(err))) {
                test_failed_now = 1;
                printf("# segment \"%s\" refused (allow_dash %d)\n", good[i], dash);
            }
    EXPECT_INT(porra_segment_ok(max, 0, err, sizeof(err)), 1);
    EXPECT_INT(porra_segment_ok(max_utf8, 0, err, sizeof(err)), 1);
    EXPECT_INT(porra_segment_ok(max_emoji, 1, err, sizeof(err)), 1);
    EXPECT_INT(porra_segment_ok(over_emoji, 0, err, sizeof(err)), 0);
    err[0] = '\0';
    EXPECT_INT(porra_segment_ok(over, 0, err, sizeof(err)), 0);
    EXPECT_STR(err, RULE);
    EXPECT_INT(porra_segment_ok(over_utf8, 1, err, sizeof(err)), 0);
    EXPECT_STR(err, RULE_DASH);
    for (size_t i = 0; i < LEN(bad); i++)
        for (int dash = 0; dash < 2; dash++)
            if (porra_segment_ok(bad[i], dash, err, sizeof(err))) {
                test_failed_now = 1;
                printf("# segment %zu accepted (allow_dash %d)\n", i, dash);
            }
    EXPECT_INT(porra_segment_ok("a-b", 0, err, sizeof(err)), 0);
    EXPECT_INT(porra_segment_ok("a-b", 1, err, sizeof(err)), 1);
    EXPECT_INT(porra_segment_ok("-", 1, err, sizeof(err)), 1);
    EXPECT_INT(porra_segment_ok("-", 0, err, sizeof(err)), 0);
    err[0] = '\0';
    EXPECT_INT(porra_segment_ok("..", 1, err, sizeof(err)), 0);
    EXPECT_STR(err, RULE_DASH);
    EXPECT_INT(porra_segment_ok("a b", 0, NULL, 0), 0); /* no room for the words: still an answer */
}

static void test_id_ok(void)
{
    char seg64[257], seg65[261], id[PORRA_ID_MAX + 8];
    for (int i = 0; i < 65; i++) /* 64 and 65 characters of 4 bytes: the longest segment is 256 bytes */
        memcpy(seg65 + 4 * i, "\xf0\x9f\x98\x80", 4);
    seg65[260] = '\0';
    memcpy(seg64, seg65, 256), seg64[256] = '\0';
    static const char *const good[] = {"A-B-C-D", "Granada-Betis-Liga-2017", "Málaga-Barça-Copa-2018", "日本-a.b-_-2017",
                                       ".a-b.-c_-1"};
    static const char *const bad[] = {"",          "A",         "A-B-C",     "A-B-C-D-E",         "A--C-D",
                                      "-B-C-D",    "A-B-C-",    "A-B--D",    "A-B-C-D-",          "---",
                                      "----",      "A-B-C-..",  "A-B-C-a b", "A-\xc3-C-D",        "A-B-C-\xff",
                                      "A B-C-D-E", "A/B-C-D-E", "A-B-C-D\n", "A-B-C-\xed\xa0\x80"};
    for (size_t i = 0; i < LEN(good); i++)
        if (!porra_id_ok(good[i])) {
            test_failed_now = 1;
            printf("# ID \"%s\" refused\n", good[i]);
        }
    for (size_t i = 0; i < LEN(bad); i++)
        if (porra_id_ok(bad[i])) {
            test_failed_now = 1;
            printf("# ID \"%s\" accepted\n", bad[i]);
        }
    EXPECT_INT(porra_id_ok(NULL), 0);
    /* 64 characters in any segment is fine, 65 is not, wherever it is. */
    for (int k = 0; k < 4; k++) {
        const char *segs[4] = {"a", "b", "c", "d"};
        segs[k] = seg64;
        snprintf(id, sizeof(id), "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]);
        EXPECT_INT(porra_id_ok(id), 1);
        segs[k] = seg65;
        snprintf(id, sizeof(id), "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]);
        EXPECT_INT(porra_id_ok(id), 0);
    }
    snprintf(id, sizeof(id), "%s-%s-%s-%s", seg64, seg64, seg64, seg64);
    EXPECT_INT(strlen(id), PORRA_ID_MAX);
    EXPECT_INT(porra_id_ok(id), 1);
}

static int score(const char *text, int *l, int *v)
{
    json_t *body = json_loads(text, JSON_DECODE_ANY, NULL);
    err[0] = '\0';
    int r = porra_score_parse(body, l, v, err, sizeof(err));
    json_decref(body);
    return r;
}

static void test_score_parse(void)
{
    int l = -1, v = -1;
    EXPECT_INT(score("{\"local\": 2, \"visitante\": 1}", &l, &v), 0);
    EXPECT_INT(l, 2);
    EXPECT_INT(v, 1);
    EXPECT_INT(score("{\"visitante\": 99, \"local\": 0}", &l, &v), 0);
    EXPECT_INT(l, 0);
    EXPECT_INT(v, 99);
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"[1, 2]", "body: must be a JSON object"},
        {"3", "body: must be a JSON object"},
        {"null", "body: must be a JSON object"},
        {"{\"visitante\": 1}", "local: missing"},
        {"{\"local\": 1}", "visitante: missing"},
        {"{}", "local: missing"},
        {"{\"local\": 1.0, \"visitante\": 1}", "local: " GOALS},
        {"{\"local\": \"1\", \"visitante\": 1}", "local: " GOALS},
        {"{\"local\": true, \"visitante\": 1}", "local: " GOALS},
        {"{\"local\": null, \"visitante\": 1}", "local: " GOALS},
        {"{\"local\": -1, \"visitante\": 1}", "local: " GOALS},
        {"{\"local\": 100, \"visitante\": 100}", "local: " GOALS},
        {"{\"local\": 1, \"visitante\": 100}", "visitante: " GOALS},
        {"{\"local\": 1, \"visitante\": 4294967297}", "visitante: " GOALS},
        {"{\"local\": 1, \"visitante\": [1]}", "visitante: " GOALS},
        {"{\"local\": 1, \"visitante\": 2, \"extra\": 3}", "extra: unknown field"},
        {"{\"extra\": 3, \"local\": 1}", "visitante: missing"},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        l = v = -7;
        if (score(cases[i].body, &l, &v) != -1 || strcmp(err, cases[i].want) != 0 || l != -7 || v != -7) {
            test_failed_now = 1;
            printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, cases[i].want);
        }
    }
    EXPECT_INT(porra_score_parse(NULL, &l, &v, err, sizeof(err)), -1);
    EXPECT_STR(err, "body: must be a JSON object");
}

/* ---- plans, in the API's order ---- */

static void test_plan_create(void)
{
    porra_db_t *db = porra_db_new();
    porra_change_t c;
    EXPECT_INT(porra_plan_create(db, "Granada", "Betis", "Liga", "2017", &c, err, sizeof(err)), PORRA_CREATED);
    EXPECT_INT(c.op, PORRA_OP_CREATE);
    EXPECT_STR(c.seg[0], "Granada");
    EXPECT_STR(c.seg[1], "Betis");
    EXPECT_STR(c.seg[2], "Liga");
    EXPECT_STR(c.seg[3], "2017");
    EXPECT_INT(porra_count(db), 0); /* a plan changes nothing */
    EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
    EXPECT_INT(porra_count(db), 1);
    EXPECT_INT(porra_plan_create(db, "Granada", "Betis", "Liga", "2017", &c, err, sizeof(err)), PORRA_OK);
    EXPECT_INT(create(&db, "granada", "Betis", "Liga", "2017"), PORRA_CREATED); /* IDs are case-sensitive */
    EXPECT_INT(porra_count(db), 2);

    static const char *const names[] = {"local", "visitante", "competition", "year"};
    char over[66], want[160];
    memset(over, 'a', 65), over[65] = '\0';
    const char *bad[] = {"a-b", "..", "", "a b", "\xc3", over, NULL};
    for (int k = 0; k < 4; k++)
        for (size_t j = 0; j < LEN(bad); j++) {
            const char *segs[4] = {"A", "B", "C", "D"};
            segs[k] = bad[j];
            err[0] = '\0';
            EXPECT_INT(porra_plan_create(db, segs[0], segs[1], segs[2], segs[3], &c, err, sizeof(err)), PORRA_INVALID);
            snprintf(want, sizeof(want), "%s: " RULE, names[k]);
            EXPECT_STR(err, want);
        }
    /* The first bad segment is the one named. */
    EXPECT_INT(porra_plan_create(db, "a b", "..", "", "-", &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "local: " RULE);
    EXPECT_INT(porra_plan_create(db, "Granada", "..", "", "-", &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "visitante: " RULE);
    EXPECT_INT(porra_plan_create(db, "Granada", "Betis", "Liga", "20-17", &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "year: " RULE);
    EXPECT_INT(porra_count(db), 2);
    porra_db_release(db);
}

static void test_plan_bet_result_delete(void)
{
    porra_db_t *db = porra_db_new();
    const char *id = "Granada-Betis-Liga-2017";
    porra_change_t c;
    EXPECT_INT(porra_plan_bet(db, id, "ana", 1, 0, &c, err, sizeof(err)), PORRA_NOT_FOUND);
    EXPECT_STR(err, "no pool with that ID");
    EXPECT_INT(porra_plan_result(db, id, 1, 0, &c, err, sizeof(err)), PORRA_NOT_FOUND);
    EXPECT_STR(err, "no pool with that ID");
    EXPECT_INT(porra_plan_delete(db, id, &c), PORRA_NOT_FOUND);
    EXPECT_INT(porra_plan_delete(db, NULL, &c), PORRA_NOT_FOUND);
    EXPECT_INT(create(&db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(porra_plan_bet(db, "Granada-Betis-Liga", "ana", 1, 0, &c, err, sizeof(err)), PORRA_NOT_FOUND);

    /* The rules come before existence (400 before 404), the name before the goals. */
    EXPECT_INT(porra_plan_bet(db, "nope", "a b", 1, 0, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "quien: " RULE_DASH);
    EXPECT_INT(porra_plan_bet(db, id, "..", 100, 0, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "quien: " RULE_DASH);
    EXPECT_INT(porra_plan_bet(db, id, NULL, 1, 0, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "quien: " RULE_DASH);
    EXPECT_INT(porra_plan_bet(db, "nope", "ana", 100, 0, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "local: " GOALS);
    EXPECT_INT(porra_plan_bet(db, id, "ana", -1, 100, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "local: " GOALS);
    EXPECT_INT(porra_plan_bet(db, id, "ana", 0, -1, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "visitante: " GOALS);
    EXPECT_INT(porra_plan_bet(db, id, "ana", 0, 100, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "visitante: " GOALS);
    EXPECT_INT(porra_plan_result(db, "nope", 100, 0, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "local: " GOALS);
    EXPECT_INT(porra_plan_result(db, id, 0, 100, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_STR(err, "visitante: " GOALS);

    /* A new bettor, then the same one again. */
    EXPECT_INT(porra_plan_bet(db, id, "ana-maría", 99, 0, &c, err, sizeof(err)), PORRA_CREATED);
    EXPECT_INT(c.op, PORRA_OP_BET);
    EXPECT(c.id == id);
    EXPECT_STR(c.quien, "ana-maría");
    EXPECT(c.local == 99 && c.visitante == 0);
    EXPECT_INT(porra_bets_total(db), 0);
    EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
    EXPECT_INT(porra_bets_total(db), 1);
    EXPECT_INT(bet(&db, id, "ana-maría", 1, 1), PORRA_OK);
    EXPECT_INT(bet(&db, id, "Ana-maría", 1, 1), PORRA_CREATED); /* names are case-sensitive */
    EXPECT_INT(bet(&db, id, "luis", 0, 0), PORRA_CREATED);
    EXPECT_INT(porra_bets_total(db), 3);

    /* The result: set, corrected; betting closes. */
    EXPECT_INT(porra_plan_result(db, id, 2, 1, &c, err, sizeof(err)), PORRA_OK);
    EXPECT(c.op == PORRA_OP_RESULT && c.id == id && c.local == 2 && c.visitante == 1);
    EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
    EXPECT(pool_has(db, id, "\"resultado\":\"2-1\"},"));
    EXPECT_INT(result(&db, id, 0, 99), PORRA_OK);
    EXPECT(pool_has(db, id, "\"resultado\":\"0-99\"},"));
    EXPECT_INT(porra_plan_bet(db, id, "otro", 1, 1, &c, err, sizeof(err)), PORRA_CLOSED);
    EXPECT_STR(err, "betting is closed: the result is set");
    EXPECT_INT(porra_plan_bet(db, id, "luis", 1, 1, &c, err, sizeof(err)), PORRA_CLOSED);
    EXPECT_INT(porra_plan_bet(db, id, "luis", 100, 1, &c, err, sizeof(err)), PORRA_INVALID);
    EXPECT_INT(porra_bets_total(db), 3);

    /* Deleted, it is gone; created again, it starts afresh at the end of the creation order. */
    EXPECT_INT(create(&db, "Eibar", "Alavés", "Liga", "2018"), PORRA_CREATED);
    EXPECT_INT(porra_plan_delete(db, id, &c), PORRA_OK);
    EXPECT(c.op == PORRA_OP_DELETE && c.id == id);
    EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
    EXPECT(porra_find(db, id) == NULL);
    EXPECT_INT(porra_count(db), 1);
    EXPECT_INT(porra_bets_total(db), 0);
    EXPECT_INT(porra_plan_delete(db, id, &c), PORRA_NOT_FOUND);
    EXPECT_INT(porra_plan_bet(db, id, "luis", 1, 1, &c, err, sizeof(err)), PORRA_NOT_FOUND);
    EXPECT_INT(create(&db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);
    EXPECT_STR(ids_created(db), "Eibar-Alavés-Liga-2018 Granada-Betis-Liga-2017");
    EXPECT_STR(pool_json(db, id), "{\"ID\":\"Granada-Betis-Liga-2017\",\"local\":\"Granada\",\"visitante\":"
                                  "\"Betis\",\"competition\":\"Liga\",\"year\":\"2017\",\"apuestas\":{},"
                                  "\"resultado\":null},");
    EXPECT_INT(bet(&db, id, "luis", 1, 1), PORRA_CREATED);
    porra_db_release(db);
}

static porra_status_t winners(const porra_db_t *db, const char *id, char **out, size_t *len)
{
    *out = (char *)1;
    porra_status_t st = porra_winners_json(porra_find(db, id), out, len);
    if (*out != NULL && strlen(*out) != *len) {
        printf("# winners: len %zu, strlen %zu\n", *len, strlen(*out));
        test_failed_now = 1;
    }
    return st;
}

static void test_winners(void)
{
    porra_db_t *db = porra_db_new();
    const char *id = "Granada-Betis-Liga-2017";
    char *out;
    size_t len;
    EXPECT_INT(create(&db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_NO_RESULT);
    EXPECT(out == NULL);
    EXPECT_INT(bet(&db, id, "ana-maría", 2, 1), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "luis", 0, 0), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "eva", 1, 1), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "ana-maría", 1, 1), PORRA_OK); /* keeps her place */
    EXPECT_INT(bet(&db, id, "pepe", 1, 0), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "日本", 1, 1), PORRA_CREATED);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_NO_RESULT);
    EXPECT_INT(result(&db, id, 1, 1), PORRA_OK);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_OK);
    EXPECT_STR(out, "{\"resultado\":\"1-1\",\"ganadores\":[\"ana-maría\",\"eva\",\"日本\"]}");
    free(out);
    EXPECT_INT(result(&db, id, 0, 0), PORRA_OK);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_OK);
    EXPECT_STR(out, "{\"resultado\":\"0-0\",\"ganadores\":[\"luis\"]}");
    free(out);
    EXPECT_INT(result(&db, id, 3, 2), PORRA_OK);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_OK);
    EXPECT_STR(out, "{\"resultado\":\"3-2\",\"ganadores\":[]}");
    free(out);
    EXPECT_INT(create(&db, "A", "B", "C", "D"), PORRA_CREATED);
    EXPECT_INT(result(&db, "A-B-C-D", 10, 0), PORRA_OK);
    EXPECT_INT(winners(db, "A-B-C-D", &out, &len), PORRA_OK);
    EXPECT_STR(out, "{\"resultado\":\"10-0\",\"ganadores\":[]}");
    free(out);
    porra_db_release(db);
}

/* ---- change records ---- */

/* 1 when the n bytes at got are the wn bytes at want; else 0, with both shown in hex. */
static int same_bytes(const char *got, size_t n, const char *want, size_t wn)
{
    if (n == wn && memcmp(got, want, n) == 0)
        return 1;
    printf("# bytes (%zu):", n);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", (unsigned char)got[i]);
    printf("\n# expected (%zu):", wn);
    for (size_t i = 0; i < wn; i++)
        printf(" %02x", (unsigned char)want[i]);
    printf("\n");
    return 0;
}
#define SAME_BYTES(got, n, lit) same_bytes(got, n, lit, sizeof(lit) - 1)

/* Encodes c and decodes it back: the same change, the same bytes again, and no record in any
 * buffer too small for it. */
static void round_trip(const porra_change_t *c)
{
    char rec[PORRA_CHANGE_MAX], again[PORRA_CHANGE_MAX];
    porra_change_t d;
    size_t n = porra_change_encode(c, rec, sizeof(rec));
    EXPECT(n > 0);
    EXPECT_INT(porra_change_decode(rec, n, &d, err, sizeof(err)), 0);
    EXPECT_INT(d.op, c->op);
    EXPECT_INT((unsigned char)rec[0], c->op);
    switch (c->op) {
    case PORRA_OP_CREATE:
        for (int k = 0; k < 4; k++)
            EXPECT_STR(d.seg[k], c->seg[k]);
        break;
    case PORRA_OP_BET:
        EXPECT_STR(d.quien, c->quien);
        /* fall through */
    case PORRA_OP_RESULT:
        EXPECT(d.local == c->local && d.visitante == c->visitante);
        /* fall through */
    case PORRA_OP_DELETE:
        EXPECT_STR(d.id, c->id);
        break;
    }
    EXPECT(d.id == NULL || (d.id > rec && d.id < rec + n)); /* borrowed from the record */
    EXPECT_INT(porra_change_encode(&d, again, sizeof(again)), n);
    EXPECT(memcmp(rec, again, n) == 0);
    for (size_t cap = 0; cap < n; cap++)
        if (porra_change_encode(c, again, cap) != 0) {
            test_failed_now = 1;
            printf("# op 0x%02x: %zu bytes written in %zu\n", (unsigned)c->op, n, cap);
        }
}

static void test_change_round_trip(void)
{
    char s64[PORRA_SEGMENT_MAX + 1], id[PORRA_ID_MAX + 1]; /* the longest: 64 four-byte characters */
    for (int i = 0; i < PORRA_SEGMENT_CHARS; i++)
        memcpy(s64 + 4 * i, "\xf0\x9f\x98\x80", 4);
    s64[PORRA_SEGMENT_MAX] = '\0';
    snprintf(id, sizeof(id), "%s-%s-%s-%s", s64, s64, s64, s64);
    porra_change_t cases[] = {
        {.op = PORRA_OP_CREATE, .seg = {"Málaga", "Barça", "Copa", "2018"}},
        {.op = PORRA_OP_CREATE, .seg = {s64, s64, s64, s64}},
        {.op = PORRA_OP_DELETE, .id = "Málaga-Barça-Copa-2018"},
        {.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = "ana-maría", .local = 0, .visitante = 99},
        {.op = PORRA_OP_BET, .id = id, .quien = s64, .local = 99, .visitante = 0},
        {.op = PORRA_OP_RESULT, .id = "A-B-C-D", .local = 7, .visitante = 3},
        {.op = PORRA_OP_RESULT, .id = id, .local = 0, .visitante = 0},
    };
    for (size_t i = 0; i < LEN(cases); i++)
        round_trip(&cases[i]);
    /* The largest one fits PORRA_CHANGE_MAX. */
    char rec[PORRA_CHANGE_MAX];
    EXPECT_INT(porra_change_encode(&cases[4], rec, sizeof(rec)), 1 + sizeof(id) + sizeof(s64) + 2);

    /* BETS records are porra_dump's; NULL strings and unknown ops make no record. */
    porra_change_t none[] = {
        {.op = PORRA_OP_BETS, .id = "A-B-C-D"},
        {.op = 0x15, .id = "A-B-C-D"},
        {.op = PORRA_OP_CREATE, .seg = {"A", "B", NULL, "D"}},
        {.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = NULL},
        {.op = PORRA_OP_DELETE, .id = NULL},
    };
    for (size_t i = 0; i < LEN(none); i++)
        EXPECT_INT(porra_change_encode(&none[i], rec, sizeof(rec)), 0);

    /* A BETS record decodes to its packed list, borrowed from the record. */
    static const char bets[] = "\x14"
                               "A-B-C-D\0"
                               "\x02\x00"
                               "ana\0"
                               "\x02\x01"
                               "b-c\0"
                               "\x00\x63";
    porra_change_t c;
    EXPECT_INT(porra_change_decode(bets, sizeof(bets) - 1, &c, err, sizeof(err)), 0);
    EXPECT_INT(c.op, PORRA_OP_BETS);
    EXPECT_STR(c.id, "A-B-C-D");
    EXPECT_INT(c.nbets, 2);
    EXPECT(c.bets == bets + 11);
    EXPECT_INT(c.betslen, 12);
    /* ... and gives them one at a time, names borrowed from it */
    const char *q;
    int l, v;
    size_t pos = 0;
    EXPECT_INT(porra_change_next_bet(&c, &pos, &q, &l, &v), 1);
    EXPECT(q == bets + 11);
    EXPECT(strcmp(q, "ana") == 0 && l == 2 && v == 1);
    EXPECT_INT(porra_change_next_bet(&c, &pos, &q, &l, &v), 1);
    EXPECT(strcmp(q, "b-c") == 0 && l == 0 && v == 99);
    EXPECT_INT(porra_change_next_bet(&c, &pos, &q, &l, &v), 0);
    EXPECT_INT(pos, 12);
    static const char empty[] = "\x14"
                                "A-B-C-D\0"
                                "\x00\x00";
    EXPECT_INT(porra_change_decode(empty, sizeof(empty) - 1, &c, err, sizeof(err)), 0);
    EXPECT(c.nbets == 0 && c.betslen == 0);
    pos = 0;
    EXPECT_INT(porra_change_next_bet(&c, &pos, &q, &l, &v), 0);
}

static void test_change_bytes(void)
{
    char rec[PORRA_CHANGE_MAX];
    size_t n;
    porra_change_t create_c = {.op = PORRA_OP_CREATE, .seg = {"Málaga", "Betis", "Liga", "2017"}};
    n = porra_change_encode(&create_c, rec, sizeof(rec));
    EXPECT(SAME_BYTES(rec, n,
                      "\x10"
                      "M\xc3\xa1laga\0"
                      "Betis\0"
                      "Liga\0"
                      "2017\0"));
    porra_change_t delete_c = {.op = PORRA_OP_DELETE, .id = "A-B-C-D"};
    n = porra_change_encode(&delete_c, rec, sizeof(rec));
    EXPECT(SAME_BYTES(rec, n,
                      "\x11"
                      "A-B-C-D\0"));
    porra_change_t bet_c = {.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = "ana", .local = 2, .visitante = 10};
    n = porra_change_encode(&bet_c, rec, sizeof(rec));
    EXPECT(SAME_BYTES(rec, n,
                      "\x12"
                      "A-B-C-D\0"
                      "ana\0"
                      "\x02\x0a"));
    porra_change_t result_c = {.op = PORRA_OP_RESULT, .id = "A-B-C-D", .local = 99, .visitante = 0};
    n = porra_change_encode(&result_c, rec, sizeof(rec));
    EXPECT(SAME_BYTES(rec, n,
                      "\x13"
                      "A-B-C-D\0"
                      "\x63\x00"));

    /* A dump: the create, the bets (one u16 count, then the list), the result. */
    porra_db_t *db = porra_db_new();
    recs_t r = {0};
    EXPECT_INT(create(&db, "A", "B", "C", "D"), PORRA_CREATED);
    EXPECT_INT(bet(&db, "A-B-C-D", "ana", 2, 1), PORRA_CREATED);
    EXPECT_INT(bet(&db, "A-B-C-D", "bé", 0, 10), PORRA_CREATED);
    EXPECT_INT(bet(&db, "A-B-C-D", "ana", 3, 3), PORRA_OK);
    EXPECT_INT(result(&db, "A-B-C-D", 3, 3), PORRA_OK);
    EXPECT_INT(porra_dump(db, collect, &r), 0);
    EXPECT_INT(r.n, 3);
    if (r.n == 3) {
        EXPECT(SAME_BYTES(r.rec[0], r.len[0],
                          "\x10"
                          "A\0"
                          "B\0"
                          "C\0"
                          "D\0"));
        EXPECT(SAME_BYTES(r.rec[1], r.len[1],
                          "\x14"
                          "A-B-C-D\0"
                          "\x02\x00"
                          "ana\0"
                          "\x03\x03"
                          "b\xc3\xa9\0"
                          "\x00\x0a"));
        EXPECT(SAME_BYTES(r.rec[2], r.len[2],
                          "\x13"
                          "A-B-C-D\0"
                          "\x03\x03"));
    }
    recs_free(&r);
    porra_db_release(db);
}

/* Every way the record at rec can be cut short, lengthened or lose a NUL is refused. */
static void refuse_damaged(const char *rec, size_t n)
{
    char buf[256];
    porra_change_t c;
    EXPECT_INT(porra_change_decode(rec, n, &c, err, sizeof(err)), 0);
    for (size_t cut = 0; cut < n; cut++)
        if (porra_change_decode(rec, cut, &c, err, sizeof(err)) != -1) {
            test_failed_now = 1;
            printf("# op 0x%02x cut to %zu bytes: decoded\n", (unsigned char)rec[0], cut);
        }
    memcpy(buf, rec, n);
    for (int extra = 0; extra < 2; extra++) {
        buf[n] = extra ? 'x' : '\0';
        EXPECT_INT(porra_change_decode(buf, n + 1, &c, err, sizeof(err)), -1);
    }
    for (size_t i = 1; i < n; i++) /* a NUL gone (no goals are 0 in these records) */
        if (rec[i] == '\0') {
            memcpy(buf, rec, n);
            buf[i] = 'x';
            if (porra_change_decode(buf, n, &c, err, sizeof(err)) != -1) {
                test_failed_now = 1;
                printf("# op 0x%02x without the NUL at %zu: decoded\n", (unsigned char)rec[0], i);
            }
        }
}
#define REFUSE_DAMAGED(lit) refuse_damaged(lit, sizeof(lit) - 1)

static void test_change_decode_refuses(void)
{
    porra_change_t c;
    REFUSE_DAMAGED("\x10"
                   "Granada\0"
                   "Betis\0"
                   "Liga\0"
                   "2017\0");
    REFUSE_DAMAGED("\x11"
                   "A-B-C-D\0");
    REFUSE_DAMAGED("\x12"
                   "A-B-C-D\0"
                   "ana\0"
                   "\x01\x02");
    REFUSE_DAMAGED("\x13"
                   "A-B-C-D\0"
                   "\x01\x02");
    REFUSE_DAMAGED("\x14"
                   "A-B-C-D\0"
                   "\x02\x00"
                   "ana\0"
                   "\x01\x02"
                   "luis\0"
                   "\x03\x04");
    /* the counts wrong */
    static const char three[] = "\x14"
                                "A-B-C-D\0"
                                "\x03\x00"
                                "ana\0"
                                "\x01\x02"
                                "luis\0"
                                "\x03\x04";
    static const char one[] = "\x14"
                              "A-B-C-D\0"
                              "\x01\x00"
                              "ana\0"
                              "\x01\x02"
                              "luis\0"
                              "\x03\x04";
    static const char many[] = "\x14"
                               "A-B-C-D\0"
                               "\x02\x01"
                               "ana\0"
                               "\x01\x02"
                               "luis\0"
                               "\x03\x04";
    EXPECT_INT(porra_change_decode(three, sizeof(three) - 1, &c, err, sizeof(err)), -1);
    EXPECT_INT(porra_change_decode(one, sizeof(one) - 1, &c, err, sizeof(err)), -1);
    EXPECT_INT(porra_change_decode(many, sizeof(many) - 1, &c, err, sizeof(err)), -1);
    static const char short_bet[] = "\x12"
                                    "A-B-C-D\0"
                                    "ana\0"
                                    "\x01";
    EXPECT_INT(porra_change_decode(short_bet, sizeof(short_bet) - 1, &c, err, sizeof(err)), -1);
    EXPECT_STR(err, "malformed pool record (op 0x12, 14 bytes)");
    static const char two_ids[] = "\x11"
                                  "A-B-C-D\0"
                                  "E-F-G-H\0";
    EXPECT_INT(porra_change_decode(two_ids, sizeof(two_ids) - 1, &c, err, sizeof(err)), -1);
    EXPECT_STR(err, "malformed pool record (op 0x11, 17 bytes)");

    /* Operations that are not pool records. */
    static const unsigned char ops[] = {0x00, 0x01, 0x0f, 0x15, 0x1f, 0x20, 0x7f, 0x90, 0xff};
    for (size_t i = 0; i < LEN(ops); i++) {
        char rec[] = "?A-B-C-D\0";
        char want[64];
        rec[0] = (char)ops[i];
        err[0] = '\0';
        EXPECT_INT(porra_change_decode(rec, sizeof(rec) - 1, &c, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "not a pool record (op 0x%02x)", ops[i]);
        EXPECT_STR(err, want);
    }
    EXPECT_INT(porra_change_decode("", 0, &c, err, sizeof(err)), -1);
}

/* ---- applying ---- */

/* Three pools: bets, a replaced bet, a result, an empty pool. */
static porra_db_t *sample(void)
{
    porra_db_t *db = porra_db_new();
    int ok = create(&db, "Granada", "Betis", "Liga", "2017") == PORRA_CREATED &&
             create(&db, "Málaga", "Sevilla", "Copa", "2018") == PORRA_CREATED &&
             create(&db, "Eibar", "Alavés", "Liga", "2019") == PORRA_CREATED &&
             bet(&db, "Granada-Betis-Liga-2017", "ana", 2, 1) == PORRA_CREATED &&
             bet(&db, "Granada-Betis-Liga-2017", "bea", 1, 1) == PORRA_CREATED &&
             bet(&db, "Málaga-Sevilla-Copa-2018", "ñu", 0, 0) == PORRA_CREATED &&
             bet(&db, "Granada-Betis-Liga-2017", "ana", 2, 2) == PORRA_OK &&
             result(&db, "Málaga-Sevilla-Copa-2018", 0, 0) == PORRA_OK;
    if (!ok) {
        printf("# sample: %s\n", err);
        test_failed_now = 1;
    }
    return db;
}

#define SAMPLE_GRANADA                                                                                     \
    "{\"ID\":\"Granada-Betis-Liga-2017\",\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":"   \
    "\"Liga\",\"year\":\"2017\",\"apuestas\":{\"ana\":{\"local\":2,\"visitante\":2},\"bea\":{\"local\":1," \
    "\"visitante\":1}},\"resultado\":null},"
#define SAMPLE_MALAGA                                                                                        \
    "{\"ID\":\"Málaga-Sevilla-Copa-2018\",\"local\":\"Málaga\",\"visitante\":\"Sevilla\",\"competition\":" \
    "\"Copa\",\"year\":\"2018\",\"apuestas\":{\"ñu\":{\"local\":0,\"visitante\":0}},\"resultado\":\"0-0\"},"
#define SAMPLE_EIBAR                                                                                     \
    "{\"ID\":\"Eibar-Alavés-Liga-2019\",\"local\":\"Eibar\",\"visitante\":\"Alavés\",\"competition\":" \
    "\"Liga\",\"year\":\"2019\",\"apuestas\":{},\"resultado\":null},"

/* A bet and a result as they are held: a replaced bet shows its last score, none is told apart. */
static void test_bet_and_result_of(void)
{
    porra_db_t *db = sample();
    const porra_t *g = porra_find(db, "Granada-Betis-Liga-2017"), *m = porra_find(db, "Málaga-Sevilla-Copa-2018");
    int l = -7, v = -7;
    EXPECT(g != NULL && m != NULL);
    if (g == NULL || m == NULL)
        goto out;
    EXPECT_INT(porra_bet_of(g, "ana", &l, &v), 1);
    EXPECT(l == 2 && v == 2);
    EXPECT_INT(porra_bet_of(g, "bea", &l, &v), 1);
    EXPECT(l == 1 && v == 1);
    EXPECT_INT(porra_bet_of(g, "ñu", &l, &v), 0); /* another pool's bettor */
    EXPECT_INT(porra_bet_of(m, "ñu", &l, &v), 1);
    EXPECT(l == 0 && v == 0);
    EXPECT_INT(porra_result_of(g, &l, &v), 0);
    EXPECT_INT(porra_result_of(m, &l, &v), 1);
    EXPECT(l == 0 && v == 0);
out:
    porra_db_release(db);
}

static void test_apply_transient_in_place(void)
{
    porra_db_t *db = sample(), *same = db;
    EXPECT(renders_as(db, SAMPLE_GRANADA SAMPLE_MALAGA SAMPLE_EIBAR));
    EXPECT_INT(porra_count(db), 3);
    EXPECT_INT(porra_bets_total(db), 3);
    /* Each kind of change lands in this very db, and a pool rendered before shows it. */
    EXPECT_STR(pool_json(db, "Eibar-Alavés-Liga-2019"), SAMPLE_EIBAR);
    EXPECT_INT(bet(&db, "Eibar-Alavés-Liga-2019", "x", 1, 2), PORRA_CREATED);
    EXPECT(db == same);
    EXPECT(pool_has(db, "Eibar-Alavés-Liga-2019", "\"apuestas\":{\"x\":{\"local\":1,\"visitante\":2}}"));
    EXPECT_INT(bet(&db, "Eibar-Alavés-Liga-2019", "x", 3, 4), PORRA_OK);
    EXPECT(pool_has(db, "Eibar-Alavés-Liga-2019", "\"apuestas\":{\"x\":{\"local\":3,\"visitante\":4}}"));
    EXPECT_INT(result(&db, "Eibar-Alavés-Liga-2019", 5, 6), PORRA_OK);
    EXPECT(pool_has(db, "Eibar-Alavés-Liga-2019", "\"resultado\":\"5-6\"},"));
    EXPECT_INT(delete (&db, "Granada-Betis-Liga-2017"), PORRA_OK);
    EXPECT_INT(create(&db, "Nuevo", "Pool", "Copa", "2020"), PORRA_CREATED);
    porra_change_t c = DECODED("\x14"
                               "Nuevo-Pool-Copa-2020\0"
                               "\x01\x00"
                               "q\0"
                               "\x00\x01");
    EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
    EXPECT(db == same);
    EXPECT_STR(ids_created(db), "Málaga-Sevilla-Copa-2018 Eibar-Alavés-Liga-2019 Nuevo-Pool-Copa-2020");
    EXPECT_INT(porra_count(db), 3);
    EXPECT_INT(porra_bets_total(db), 3); /* 3 - 2 deleted + x + q */
    porra_db_release(db);
}

static void test_apply_sealed_new_version(void)
{
    porra_db_t *db = sample(), *twin = sample();
    porra_db_seal(db);
    porra_change_t bets = DECODED("\x14"
                                  "Eibar-Alavés-Liga-2019\0"
                                  "\x02\x00"
                                  "x\0"
                                  "\x01\x02"
                                  "y-z\0"
                                  "\x03\x04");
    const porra_change_t steps[] = {
        {.op = PORRA_OP_CREATE, .seg = {"Nuevo", "Pool", "Copa", "2020"}},
        {.op = PORRA_OP_BET, .id = "Granada-Betis-Liga-2017", .quien = "zoe", .local = 0, .visitante = 0},
        {.op = PORRA_OP_BET, .id = "Granada-Betis-Liga-2017", .quien = "ana", .local = 3, .visitante = 3},
        {.op = PORRA_OP_RESULT, .id = "Nuevo-Pool-Copa-2020", .local = 1, .visitante = 0},
        {.op = PORRA_OP_RESULT, .id = "Nuevo-Pool-Copa-2020", .local = 2, .visitante = 0},
        {.op = PORRA_OP_DELETE, .id = "Málaga-Sevilla-Copa-2018"},
        bets,
    };
    enum { N = LEN(steps) + 1 };
    static const size_t counts[N] = {3, 4, 4, 4, 4, 4, 3, 3}, nbets[N] = {3, 3, 4, 4, 4, 4, 3, 5};
    porra_db_t *v[N];
    char *want[N];
    /* The twin, transient, goes through the same changes in place and shows what each version is. */
    v[0] = porra_db_ref(db);
    want[0] = render(twin);
    EXPECT_STR(want[0], SAMPLE_GRANADA SAMPLE_MALAGA SAMPLE_EIBAR);
    for (size_t i = 1; i < N; i++) {
        porra_db_t *prev = db, *twin_was = twin;
        EXPECT_INT(porra_db_apply(&db, &steps[i - 1], err, sizeof(err)), 0);
        EXPECT(db != prev);
        EXPECT_INT(porra_db_apply(&twin, &steps[i - 1], err, sizeof(err)), 0);
        EXPECT(twin == twin_was);
        v[i] = porra_db_ref(db);
        want[i] = render(twin);
        if (i == 3) /* a version rendered while current keeps its text */
            EXPECT(renders_as(db, want[i]));
    }
    EXPECT_STR(want[N - 1], "{\"ID\":\"Granada-Betis-Liga-2017\",\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":"
                            "\"Liga\",\"year\":\"2017\",\"apuestas\":{\"ana\":{\"local\":3,\"visitante\":3},\"bea\":{\"local\":1,"
                            "\"visitante\":1},\"zoe\":{\"local\":0,\"visitante\":0}},\"resultado\":null},"
                            "{\"ID\":\"Eibar-Alavés-Liga-2019\",\"local\":\"Eibar\",\"visitante\":\"Alavés\",\"competition\":"
                            "\"Liga\",\"year\":\"2019\",\"apuestas\":{\"x\":{\"local\":1,\"visitante\":2},\"y-z\":{\"local\":3,"
                            "\"visitante\":4}},\"resultado\":null},"
                            "{\"ID\":\"Nuevo-Pool-Copa-2020\",\"local\":\"Nuevo\",\"visitante\":\"Pool\",\"competition\":"
                            "\"Copa\",\"year\":\"2020\",\"apuestas\":{},\"resultado\":\"2-0\"},");
    /* Every version still is what it was, released in a scrambled order. */
    porra_db_release(db);
    static const int order[N] = {3, 0, 7, 1, 6, 2, 5, 4};
    for (size_t k = 0; k < N; k++) {
        int i = order[k];
        if (!renders_as(v[i], want[i]))
            printf("# version %d\n", i), test_failed_now = 1;
        EXPECT_INT(porra_count(v[i]), counts[i]);
        EXPECT_INT(porra_bets_total(v[i]), nbets[i]);
        EXPECT(replays_as(v[i], want[i]));
        porra_db_release(v[i]);
    }
    for (size_t i = 0; i < N; i++)
        free(want[i]);
    porra_db_release(twin);
}

/* Applying c to *db fails with want_err and changes nothing. */
static void refuse(porra_db_t **db, const porra_change_t *c, const char *want_err)
{
    porra_db_t *before = *db;
    char *text = render(*db);
    size_t count = porra_count(*db), nbets = porra_bets_total(*db);
    err[0] = '\0';
    EXPECT_INT(porra_db_apply(db, c, err, sizeof(err)), -1);
    EXPECT(*db == before);
    if (strcmp(err, want_err) != 0) {
        test_failed_now = 1;
        printf("# op 0x%02x: err \"%s\", expected \"%s\"\n", (unsigned)c->op, err, want_err);
    }
    EXPECT(renders_as(*db, text));
    EXPECT_INT(porra_count(*db), count);
    EXPECT_INT(porra_bets_total(*db), nbets);
    free(text);
}

static void refuse_all(porra_db_t **db)
{
    char over[66];
    memset(over, 'a', 65), over[65] = '\0';
    const struct {
        porra_change_t c;
        const char *err;
    } cases[] = {
        {{.op = 0x15, .id = "A-B-C-D"}, "op: unknown operation 0x15"},
        {{.op = 0x20, .id = "A-B-C-D"}, "op: unknown operation 0x20"},
        {{.op = -1}, "op: unknown operation 0xffffffff"},
        {{.op = PORRA_OP_CREATE, .seg = {"A", "B", "C", "D"}}, "ID: pool \"A-B-C-D\" already exists"},
        {{.op = PORRA_OP_CREATE, .seg = {"a-b", "B", "C", "D"}}, "local: " RULE},
        {{.op = PORRA_OP_CREATE, .seg = {"A", "B", "C", ".."}}, "year: " RULE},
        {{.op = PORRA_OP_CREATE, .seg = {"A", over, "C", "D"}}, "visitante: " RULE},
        {{.op = PORRA_OP_CREATE, .seg = {"A", "B", NULL, "D"}}, "competition: " RULE},
        {{.op = PORRA_OP_DELETE, .id = "X-Y-Z-W"}, "ID: no pool \"X-Y-Z-W\""},
        {{.op = PORRA_OP_DELETE, .id = "a-B-C-D"}, "ID: no pool \"a-B-C-D\""},
        {{.op = PORRA_OP_DELETE, .id = NULL}, "ID: no pool \"\""},
        {{.op = PORRA_OP_BET, .id = "X-Y-Z-W", .quien = "q", .local = 1, .visitante = 1}, "ID: no pool \"X-Y-Z-W\""},
        {{.op = PORRA_OP_RESULT, .id = "X-Y-Z-W", .local = 1, .visitante = 1}, "ID: no pool \"X-Y-Z-W\""},
        {{.op = PORRA_OP_BET, .id = "E-F-G-H", .quien = "q", .local = 1, .visitante = 1},
         "ID: the result is set: betting is closed"},
        {{.op = PORRA_OP_BET, .id = "E-F-G-H", .quien = "x", .local = 0, .visitante = 0},
         "ID: the result is set: betting is closed"},
        {{.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = "..", .local = 1, .visitante = 1}, "quien: " RULE_DASH},
        {{.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = NULL, .local = 1, .visitante = 1}, "quien: " RULE_DASH},
        {{.op = PORRA_OP_BET, .id = "A-B-C-D", .quien = "q", .local = -1, .visitante = 1}, "local: " GOALS},
        {{.op = PORRA_OP_RESULT, .id = "A-B-C-D", .local = 0, .visitante = 100}, "visitante: " GOALS},
    };
    for (size_t i = 0; i < LEN(cases); i++)
        refuse(db, &cases[i].c, cases[i].err);

    /* The same kinds of damage, as they arrive in records. */
    static const struct {
        const char *rec;
        size_t len;
        const char *err;
    } recs[] = {
#define R(lit, e) {lit, sizeof(lit) - 1, e}
        R("\x10"
          "A\0"
          "B\0"
          "C\0"
          "D\0",
          "ID: pool \"A-B-C-D\" already exists"),
        R("\x10"
          "A\0"
          "B b\0"
          "C\0"
          "D\0",
          "visitante: " RULE),
        R("\x10"
          "A\0"
          "B\0"
          "\xc3\0"
          "D\0",
          "competition: " RULE),
        R("\x10"
          "\0"
          "B\0"
          "C\0"
          "D\0",
          "local: " RULE),
        R("\x11"
          "A-B-C\0",
          "ID: no pool \"A-B-C\""),
        R("\x12"
          "A-B-C-D\0"
          "q\0"
          "\x64\x00",
          "local: " GOALS),
        R("\x12"
          "A-B-C-D\0"
          "q\0"
          "\x00\xff",
          "visitante: " GOALS),
        R("\x12"
          "A-B-C-D\0"
          "\xff\0"
          "\x00\x00",
          "quien: " RULE_DASH),
        R("\x12"
          "A-B-C-D\0"
          "\0"
          "\x00\x00",
          "quien: " RULE_DASH),
        R("\x13"
          "A-B-C-D\0"
          "\x64\x00",
          "local: " GOALS),
        R("\x13"
          "A-B-C-D\0"
          "\x00\x80",
          "visitante: " GOALS),
        /* one bad bet stops the whole record: the good ones before it are not placed */
        R("\x14"
          "A-B-C-D\0"
          "\x03\x00"
          "new\0"
          "\x01\x01"
          "a b\0"
          "\x01\x01"
          "new2\0"
          "\x01\x01",
          "quien: " RULE_DASH),
        R("\x14"
          "A-B-C-D\0"
          "\x02\x00"
          "new\0"
          "\x01\x01"
          "x\0"
          "\x01\x64",
          "visitante: " GOALS),
        R("\x14"
          "A-B-C-D\0"
          "\x02\x00"
          "x\0"
          "\x05\x05"
          "..\0"
          "\x01\x01",
          "quien: " RULE_DASH),
        R("\x14"
          "E-F-G-H\0"
          "\x01\x00"
          "new\0"
          "\x01\x01",
          "ID: the result is set: betting is closed"),
        R("\x14"
          "X-Y-Z-W\0"
          "\x01\x00"
          "new\0"
          "\x01\x01",
          "ID: no pool \"X-Y-Z-W\""),
#undef R
    };
    for (size_t i = 0; i < LEN(recs); i++) {
        porra_change_t c = decoded(recs[i].rec, recs[i].len);
        refuse(db, &c, recs[i].err);
    }
}

static void test_apply_refuses(void)
{
    for (int sealed = 0; sealed < 2; sealed++) {
        porra_db_t *db = porra_db_new();
        EXPECT_INT(create(&db, "A", "B", "C", "D"), PORRA_CREATED);
        EXPECT_INT(create(&db, "E", "F", "G", "H"), PORRA_CREATED);
        EXPECT_INT(bet(&db, "A-B-C-D", "x", 0, 0), PORRA_CREATED);
        EXPECT_INT(bet(&db, "E-F-G-H", "x", 1, 2), PORRA_CREATED);
        EXPECT_INT(result(&db, "E-F-G-H", 1, 2), PORRA_OK);
        if (sealed)
            porra_db_seal(db);
        refuse_all(&db);
        /* Fixed, the same records apply: they were refused for what was wrong with them. */
        porra_change_t c = DECODED("\x14"
                                   "A-B-C-D\0"
                                   "\x03\x00"
                                   "new\0"
                                   "\x01\x01"
                                   "a_b\0"
                                   "\x01\x01"
                                   "x\0"
                                   "\x05\x05");
        EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
        EXPECT_INT(porra_bets_total(db), 4);
        EXPECT(pool_has(db, "A-B-C-D", "\"apuestas\":{\"x\":{\"local\":5,\"visitante\":5},\"new\":"));
        c = DECODED("\x10"
                    "A\0"
                    "B b\0"
                    "C\0"
                    "D\0");
        c.seg[1] = "Bb";
        EXPECT_INT(porra_db_apply(&db, &c, err, sizeof(err)), 0);
        EXPECT_INT(porra_count(db), 3);
        porra_db_release(db);
    }
}

/* A sealed version under every allocation failure a change can meet: refused with "out of
 * memory", the version as it was, nothing leaked; then, with memory enough, applied. */
static void test_apply_out_of_memory(void)
{
    if (!FAULTS) {
        printf("# skipped: no failing malloc under ThreadSanitizer\n");
        return;
    }
    size_t pmap0 = pmap_nodes_live(), pvec0 = pvec_nodes_live();
    porra_db_t *db = sample(), *twin = sample();
    char name[16];
    for (int i = 0; i < 2000; i++) { /* a pool deep enough for long path copies */
        snprintf(name, sizeof(name), "q%d", i);
        bet(&db, "Eibar-Alavés-Liga-2019", name, i % 100, 1);
        bet(&twin, "Eibar-Alavés-Liga-2019", name, i % 100, 1);
    }
    porra_db_seal(db);
    porra_change_t bets = DECODED("\x14"
                                  "Eibar-Alavés-Liga-2019\0"
                                  "\x02\x00"
                                  "q7\0"
                                  "\x01\x02"
                                  "new\0"
                                  "\x03\x04");
    const porra_change_t steps[] = {
        {.op = PORRA_OP_CREATE, .seg = {"Nuevo", "Pool", "Copa", "2020"}},
        {.op = PORRA_OP_BET, .id = "Granada-Betis-Liga-2017", .quien = "zoe", .local = 0, .visitante = 0},
        {.op = PORRA_OP_BET, .id = "Eibar-Alavés-Liga-2019", .quien = "q1500", .local = 3, .visitante = 3},
        {.op = PORRA_OP_BET, .id = "Eibar-Alavés-Liga-2019", .quien = "zz", .local = 3, .visitante = 3},
        bets,
        {.op = PORRA_OP_RESULT, .id = "Eibar-Alavés-Liga-2019", .local = 1, .visitante = 0},
        {.op = PORRA_OP_DELETE, .id = "Granada-Betis-Liga-2017"},
        {.op = PORRA_OP_DELETE, .id = "Eibar-Alavés-Liga-2019"},
    };
    for (size_t i = 0; i < LEN(steps); i++) {
        char *before = render(db);
        porra_db_t *prev = db;
        long budget = 0;
        int rc = -1;
        for (; rc != 0 && budget < 1000; budget++) {
            __atomic_store_n(&malloc_budget, budget, __ATOMIC_RELAXED);
            err[0] = '\0';
            rc = porra_db_apply(&db, &steps[i], err, sizeof(err));
            __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
            if (rc != 0 && (db != prev || strcmp(err, "out of memory") != 0 || !replays_as(db, before))) {
                printf("# step %zu, %ld allocations: %s\n", i, budget, err);
                test_failed_now = 1;
            }
        }
        EXPECT(rc == 0 && budget > 1); /* at least one failure met */
        EXPECT(db != prev);
        EXPECT_INT(porra_db_apply(&twin, &steps[i], err, sizeof(err)), 0);
        char *want = render(twin);
        EXPECT(renders_as(db, want));
        EXPECT(replays_as(db, want));
        EXPECT_INT(porra_count(db), porra_count(twin));
        EXPECT_INT(porra_bets_total(db), porra_bets_total(twin));
        free(want);
        free(before);
    }
    porra_db_release(db);
    porra_db_release(twin);
    EXPECT_INT(pmap_nodes_live(), pmap0);
    EXPECT_INT(pvec_nodes_live(), pvec0);
}

/* ---- rendering ---- */

static void test_render(void)
{
    porra_db_t *db = porra_db_new();
    const char *id = "Málaga-Barça-Copa-2018";
    size_t len;
    EXPECT_INT(create(&db, "Málaga", "Barça", "Copa", "2018"), PORRA_CREATED);
    const char *j = porra_json(porra_find(db, id), &len);
    static const char empty[] = "{\"ID\":\"Málaga-Barça-Copa-2018\",\"local\":\"Málaga\",\"visitante\":\"Barça\","
                                "\"competition\":\"Copa\",\"year\":\"2018\",\"apuestas\":{},\"resultado\":null},";
    EXPECT_STR(j, empty);
    EXPECT_INT(len, sizeof(empty) - 1); /* the ',' counted */
    EXPECT(j != NULL && j[len - 1] == ',' && j[len] == '\0');
    EXPECT_STR(porra_id(porra_find(db, id)), id);

    EXPECT_INT(bet(&db, id, "ñandú", 1, 0), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "日本-1", 2, 2), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "zoe", 10, 99), PORRA_CREATED);
    EXPECT_INT(bet(&db, id, "ñandú", 3, 1), PORRA_OK);
    EXPECT_INT(bet(&db, id, "Zoe", 0, 0), PORRA_CREATED);
    porra_db_seal(db);
    porra_db_t *before = porra_db_ref(db);
    EXPECT_INT(result(&db, id, 3, 1), PORRA_OK);
#define HEAD                                                                                               \
    "{\"ID\":\"Málaga-Barça-Copa-2018\",\"local\":\"Málaga\",\"visitante\":\"Barça\",\"competition\":" \
    "\"Copa\",\"year\":\"2018\",\"apuestas\":{\"ñandú\":{\"local\":3,\"visitante\":1},\"日本-1\":"     \
    "{\"local\":2,\"visitante\":2},\"zoe\":{\"local\":10,\"visitante\":99},\"Zoe\":{\"local\":0,"          \
    "\"visitante\":0}},\"resultado\":"
    j = porra_json(porra_find(db, id), &len);
    EXPECT_STR(j, HEAD "\"3-1\"},");
    EXPECT_INT(len, sizeof(HEAD "\"3-1\"},") - 1);
    EXPECT(porra_json(porra_find(db, id), &len) == j); /* rendered once, then kept */
    EXPECT_STR(pool_json(before, id), HEAD "null},");
    /* parses as JSON once the listing's ',' is dropped */
    json_t *parsed = json_loadb(j, len - 1, JSON_REJECT_DUPLICATES, NULL);
    EXPECT(parsed != NULL);
    json_t *one = json_object_get(json_object_get(parsed, "apuestas"), "日本-1");
    EXPECT_INT(json_integer_value(json_object_get(one, "visitante")), 2);
    json_decref(parsed);
    porra_db_release(before);
    porra_db_release(db);
#undef HEAD
}

/* A pool whose bets span several leaves of its vector: every separator where it belongs. */
static void test_render_many_bets(void)
{
    enum { N = 70 };
    porra_db_t *db = porra_db_new();
    const char *id = "Muchos-X-Y-2020";
    char quien[16], one[96], *out;
    size_t len;
    jsonw_t want = JSONW_INIT, won = JSONW_INIT;
    EXPECT_INT(create(&db, "Muchos", "X", "Y", "2020"), PORRA_CREATED);
    jsonw_lit(&want, "{\"ID\":\"Muchos-X-Y-2020\",\"local\":\"Muchos\",\"visitante\":\"X\",\"competition\":\"Y\","
                     "\"year\":\"2020\",\"apuestas\":{");
    jsonw_lit(&won, "{\"resultado\":\"3-0\",\"ganadores\":[");
    for (int i = 0; i < N; i++) {
        snprintf(quien, sizeof(quien), "b%02d", i);
        EXPECT_INT(bet(&db, id, quien, i % 10, 0), PORRA_CREATED);
        snprintf(one, sizeof(one), "%s\"%s\":{\"local\":%d,\"visitante\":0}", i ? "," : "", quien, i % 10);
        jsonw_lit(&want, one);
        if (i % 10 == 3) {
            snprintf(one, sizeof(one), "%s\"%s\"", i > 3 ? "," : "", quien);
            jsonw_lit(&won, one);
        }
    }
    jsonw_lit(&want, "},\"resultado\":\"3-0\"},");
    jsonw_lit(&won, "]}");
    char *want_text = jsonw_finish(&want, &len), *won_text = jsonw_finish(&won, &len);
    EXPECT_INT(result(&db, id, 3, 0), PORRA_OK);
    EXPECT_STR(pool_json(db, id), want_text);
    EXPECT_INT(winners(db, id, &out, &len), PORRA_OK);
    EXPECT_STR(out, won_text);
    free(out);
    free(want_text);
    free(won_text);
    porra_db_release(db);
}

/* ---- iteration ---- */

static void test_iteration(void)
{
    porra_db_t *db = porra_db_new();
    static const char *const locals[] = {"b", "Ábaco", "A_b", "A", "a", "A.b", "Z9", "0"};
    for (size_t i = 0; i < LEN(locals); i++)
        EXPECT_INT(create(&db, locals[i], "x", "y", "z"), PORRA_CREATED);
    EXPECT_STR(ids_created(db), "b-x-y-z Ábaco-x-y-z A_b-x-y-z A-x-y-z a-x-y-z A.b-x-y-z Z9-x-y-z 0-x-y-z");
#define ALL_BY_ID "0-x-y-z A-x-y-z A.b-x-y-z A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z Ábaco-x-y-z"
    EXPECT_STR(ids_by_id(db, NULL), ALL_BY_ID);
    EXPECT_STR(ids_by_id(db, ""), ALL_BY_ID);
    EXPECT_STR(ids_by_id(db, "!"), ALL_BY_ID); /* before all */
    EXPECT_STR(ids_by_id(db, "A-x-y-z"), "A.b-x-y-z A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z Ábaco-x-y-z");
    EXPECT_STR(ids_by_id(db, "A-x"), "A-x-y-z A.b-x-y-z A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z Ábaco-x-y-z");
    EXPECT_STR(ids_by_id(db, "B"), "Z9-x-y-z a-x-y-z b-x-y-z Ábaco-x-y-z"); /* absent, in between */
    EXPECT_STR(ids_by_id(db, "b-x-y-z"), "Ábaco-x-y-z");
    EXPECT_STR(ids_by_id(db, "Ábaco-x-y-z"), ""); /* the last */
    EXPECT_STR(ids_by_id(db, "\xff"), "");        /* after all */
    porra_db_seal(db);
    porra_db_t *old = porra_db_ref(db);
    EXPECT_INT(delete (&db, "A.b-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "0-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "Ábaco-x-y-z"), PORRA_OK);
    EXPECT_STR(ids_created(db), "b-x-y-z A_b-x-y-z A-x-y-z a-x-y-z Z9-x-y-z");
    EXPECT_STR(ids_by_id(db, NULL), "A-x-y-z A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z");
    EXPECT_STR(ids_by_id(db, "A-x-y-z"), "A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z");
    EXPECT_STR(ids_by_id(db, "A.b-x-y-z"), "A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z"); /* deleted: absent */
    EXPECT_STR(ids_by_id(db, "b-x-y-z"), "");
    EXPECT_INT(create(&db, "A.b", "x", "y", "z"), PORRA_CREATED);
    EXPECT_STR(ids_created(db), "b-x-y-z A_b-x-y-z A-x-y-z a-x-y-z Z9-x-y-z A.b-x-y-z");
    EXPECT_STR(ids_by_id(db, "A-x-y-z"), "A.b-x-y-z A_b-x-y-z Z9-x-y-z a-x-y-z b-x-y-z");
    /* the old version lists what it had */
    EXPECT_STR(ids_created(old), "b-x-y-z Ábaco-x-y-z A_b-x-y-z A-x-y-z a-x-y-z A.b-x-y-z Z9-x-y-z 0-x-y-z");
    EXPECT_STR(ids_by_id(old, NULL), ALL_BY_ID);
    porra_db_release(old);
    EXPECT_INT(delete (&db, "b-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "A_b-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "A-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "a-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "Z9-x-y-z"), PORRA_OK);
    EXPECT_INT(delete (&db, "A.b-x-y-z"), PORRA_OK);
    EXPECT_STR(ids_created(db), "");
    EXPECT_STR(ids_by_id(db, NULL), "");
    EXPECT_STR(ids_by_id(db, "A"), "");
    EXPECT_INT(porra_count(db), 0);
    porra_db_release(db);
#undef ALL_BY_ID
}

/* ---- versions under random changes, checked against a model ---- */

static const char *const R_TEAM[] = {"Granada", "Betis", "Málaga", "Eibar"};
static const char *const R_COMP[] = {"Liga", "Copa"};
static const char *const R_YEAR[] = {"2017", "2018"};
static const char *const R_QUIEN[] = {"ana",       "bea",   "luis", "eva", "pepe", "leo", "ñu", "日本",
                                      "ana-maría", "x-y-z", "q.1",  "Q_2", "a",    "b",   "c",  "d"};
#define M_POOLS (4 * 4 * 2 * 2)
#define M_BETS  ((int)LEN(R_QUIEN))

typedef struct {
    int q, l, v;
} mbet_t;

typedef struct {
    int s[4], nb, rl, rv;
    char id[PORRA_ID_MAX + 1];
    mbet_t bet[M_BETS];
} mpool_t;

typedef struct {
    int n;
    size_t nbets;
    mpool_t pool[M_POOLS];
} model_t;

static const char *m_seg(const int s[4], int k)
{
    return k < 2 ? R_TEAM[s[k]] : k == 2 ? R_COMP[s[2]] : R_YEAR[s[3]];
}

static void m_id(char *id, const int s[4])
{
    snprintf(id, PORRA_ID_MAX + 1, "%s-%s-%s-%s", m_seg(s, 0), m_seg(s, 1), m_seg(s, 2), m_seg(s, 3));
}

static int m_find(const model_t *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->pool[i].id, id) == 0)
            return i;
    return -1;
}

/* The listing the model expects, written without porra's renderer (malloc'd). */
static char *m_text(const model_t *m)
{
    jsonw_t w = JSONW_INIT;
    static const char *const keys[4] = {"\",\"local\":\"", "\",\"visitante\":\"", "\",\"competition\":\"", "\",\"year\":\""};
    size_t len;
    for (int i = 0; i < m->n; i++) {
        const mpool_t *p = &m->pool[i];
        jsonw_lit(&w, "{\"ID\":\"");
        jsonw_lit(&w, p->id);
        for (int k = 0; k < 4; k++) {
            jsonw_lit(&w, keys[k]);
            jsonw_lit(&w, m_seg(p->s, k));
        }
        jsonw_lit(&w, "\",\"apuestas\":{");
        for (int b = 0; b < p->nb; b++) {
            char one[128];
            snprintf(one, sizeof(one), "%s\"%s\":{\"local\":%d,\"visitante\":%d}", b ? "," : "", R_QUIEN[p->bet[b].q], p->bet[b].l,
                     p->bet[b].v);
            jsonw_lit(&w, one);
        }
        jsonw_lit(&w, "},\"resultado\":");
        if (p->rl < 0) {
            jsonw_lit(&w, "null");
        } else {
            char r[16];
            snprintf(r, sizeof(r), "\"%d-%d\"", p->rl, p->rv);
            jsonw_lit(&w, r);
        }
        jsonw_lit(&w, "},");
    }
    char *s = jsonw_finish(&w, &len);
    if (s == NULL)
        abort();
    return s;
}

/* One random change, planned against db and the model (their statuses must agree), applied
 * through its record when the plan allows it and tried anyway when not (then refused, *db
 * unchanged). 0, or -1 (reported) when db and the model part. */
static int m_step(porra_db_t **db, model_t *m, uint64_t *seed)
{
    porra_change_t c;
    porra_status_t st, want;
    char id[PORRA_ID_MAX + 1];
    int s[4], r = (int)(test_rnd(seed) % 100), k, applies;
    for (int j = 0; j < 4; j++)
        s[j] = (int)(test_rnd(seed) % (j < 2 ? 4 : 2));
    if (r >= 15 && m->n > 0 && test_rnd(seed) % 10 != 0) /* changes mostly to a pool that exists */
        memcpy(s, m->pool[test_rnd(seed) % (uint64_t)m->n].s, sizeof(s));
    m_id(id, s);
    k = m_find(m, id);
    mpool_t *p = k >= 0 ? &m->pool[k] : NULL;
    int q = (int)(test_rnd(seed) % M_BETS), l = (int)(test_rnd(seed) % 100), v = (int)(test_rnd(seed) % 100), b = 0;
    if (test_rnd(seed) % 40 == 0)
        v = 100;
    while (p != NULL && b < p->nb && p->bet[b].q != q)
        b++;
    if (r < 15) {
        st = porra_plan_create(*db, m_seg(s, 0), m_seg(s, 1), m_seg(s, 2), m_seg(s, 3), &c, err, sizeof(err));
        want = p != NULL ? PORRA_OK : PORRA_CREATED;
        applies = want == PORRA_CREATED;
    } else if (r < 25) {
        st = porra_plan_delete(*db, id, &c);
        applies = (want = p != NULL ? PORRA_OK : PORRA_NOT_FOUND) == PORRA_OK;
    } else if (r < 85) {
        st = porra_plan_bet(*db, id, R_QUIEN[q], l, v, &c, err, sizeof(err));
        want = v > 99       ? PORRA_INVALID
               : p == NULL  ? PORRA_NOT_FOUND
               : p->rl >= 0 ? PORRA_CLOSED
               : b < p->nb  ? PORRA_OK
                            : PORRA_CREATED;
        applies = want == PORRA_OK || want == PORRA_CREATED;
    } else {
        st = porra_plan_result(*db, id, l, v, &c, err, sizeof(err));
        want = v > 99 ? PORRA_INVALID : p == NULL ? PORRA_NOT_FOUND : PORRA_OK;
        applies = want == PORRA_OK;
    }
    porra_db_t *before = *db;
    int rc = apply_rec(db, &c);
    if (st != want || rc != (applies ? 0 : -1) || (!applies && *db != before)) {
        printf("# op 0x%02x on %s: status %d (expected %d), apply %d: %s\n", (unsigned)c.op, id, st, want, rc, err);
        test_failed_now = 1;
        return -1;
    }
    if (!applies)
        return 0;
    switch (c.op) {
    case PORRA_OP_CREATE:
        p = &m->pool[m->n++];
        memcpy(p->s, s, sizeof(s));
        strcpy(p->id, id);
        p->nb = 0, p->rl = p->rv = -1;
        break;
    case PORRA_OP_DELETE:
        m->nbets -= (size_t)p->nb;
        memmove(p, p + 1, (size_t)(m->n - k - 1) * sizeof(*p));
        m->n--;
        break;
    case PORRA_OP_BET:
        if (b == p->nb)
            p->nb++, m->nbets++;
        p->bet[b] = (mbet_t){q, l, v};
        break;
    case PORRA_OP_RESULT:
        p->rl = l, p->rv = v;
        break;
    }
    return 0;
}

/* db matches the model: its listing, its counts. */
static int m_check(const porra_db_t *db, const model_t *m)
{
    char *want = m_text(m);
    int ok = renders_as(db, want);
    free(want);
    if (porra_count(db) != (size_t)m->n || porra_bets_total(db) != m->nbets) {
        printf("# %zu pools, %zu bets; expected %d, %zu\n", porra_count(db), porra_bets_total(db), m->n, m->nbets);
        ok = 0;
    }
    return ok;
}

typedef struct {
    porra_db_t *db;
    char *text;
    size_t count, nbets;
} kept_t;

static void test_versions_random(void)
{
    enum { TRANSIENT_STEPS = 300, STEPS = 1500, KEEP_EVERY = 10 };
    size_t pmap0 = pmap_nodes_live(), pvec0 = pvec_nodes_live();
    static model_t m;
    static kept_t kept[STEPS / KEEP_EVERY];
    size_t nkept = 0;
    uint64_t seed = 20240917;
    porra_db_t *db = porra_db_new();
    memset(&m, 0, sizeof(m));
    int ok = 1;
    /* Loading: in place, rendering now and then (a change must drop what was rendered). */
    for (int i = 0; ok && i < TRANSIENT_STEPS; i++) {
        ok = m_step(&db, &m, &seed) == 0;
        if (ok && i % 50 == 49)
            ok = m_check(db, &m);
    }
    porra_db_seal(db);
    /* Serving: each change a new version; some versions are kept, half of them rendered now. */
    for (int i = 0; ok && i < STEPS; i++) {
        ok = m_step(&db, &m, &seed) == 0;
        if (ok && i % KEEP_EVERY == KEEP_EVERY - 1) {
            kept_t *k = &kept[nkept++];
            *k = (kept_t){porra_db_ref(db), m_text(&m), (size_t)m.n, m.nbets};
            if (nkept % 2 == 0)
                ok = renders_as(db, k->text);
        }
    }
    EXPECT(ok);
    EXPECT(m_check(db, &m));
    EXPECT(nkept > 100);
    porra_db_release(db);
    /* Every kept version is still what it was, whatever was released before it. */
    for (size_t i = nkept; i > 1; i--) {
        size_t j = test_rnd(&seed) % i;
        kept_t t = kept[i - 1];
        kept[i - 1] = kept[j], kept[j] = t;
    }
    for (size_t i = 0; i < nkept; i++) {
        kept_t *k = &kept[i];
        EXPECT(renders_as(k->db, k->text));
        EXPECT(replays_as(k->db, k->text));
        EXPECT_INT(porra_count(k->db), k->count);
        EXPECT_INT(porra_bets_total(k->db), k->nbets);
        porra_db_release(k->db);
        free(k->text);
    }
    EXPECT_INT(pmap_nodes_live(), pmap0);
    EXPECT_INT(pvec_nodes_live(), pvec0);
}

/* ---- dump and replay ---- */

/* Bettor i of the big pool: 64 bytes, UTF-8 or not. */
static const char *long_name(int i)
{
    static char name[65];
    int n = snprintf(name, sizeof(name), "%05d-", i);
    while (n < 64) {
        if (i % 2)
            name[n++] = '\xc3', name[n++] = '\xb1';
        else
            name[n++] = 'x';
    }
    name[n] = '\0';
    return name;
}

static void test_dump_replay(void)
{
    enum { BIG = 5000 };
    const char *big = "Granada-Betis-Liga-2017";
    porra_db_t *db = porra_db_new();
    recs_t r = {0};
    EXPECT_INT(porra_dump(db, collect, &r), 0);
    EXPECT_INT(r.n, 0);
    EXPECT_INT(create(&db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(create(&db, "Gone", "Soon", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(create(&db, "Málaga", "Sevilla", "Copa", "2018"), PORRA_CREATED);
    EXPECT_INT(create(&db, "Vacía", "X", "Y", "2019"), PORRA_CREATED);
    EXPECT_INT(create(&db, "Eibar", "Alavés", "Liga", "2020"), PORRA_CREATED);
    int ok = 1;
    for (int i = 0; i < BIG; i++)
        ok &= bet(&db, big, long_name(i), i % 100, (i / 100) % 100) == PORRA_CREATED;
    porra_db_seal(db); /* the rest on versions */
    for (int i = 0; i < BIG; i += 7)
        ok &= bet(&db, big, long_name(i), 99, 99) == PORRA_OK;
    EXPECT(ok);
    EXPECT_INT(bet(&db, "Gone-Soon-Liga-2017", "x", 3, 0), PORRA_CREATED);
    EXPECT_INT(bet(&db, "Málaga-Sevilla-Copa-2018", "zoë", 0, 0), PORRA_CREATED);
    EXPECT_INT(bet(&db, "Málaga-Sevilla-Copa-2018", "ñu-2", 1, 0), PORRA_CREATED);
    EXPECT_INT(result(&db, big, 2, 1), PORRA_OK);
    EXPECT_INT(result(&db, "Vacía-X-Y-2019", 0, 0), PORRA_OK);
    EXPECT_INT(delete (&db, "Gone-Soon-Liga-2017"), PORRA_OK);
    EXPECT_INT(porra_bets_total(db), BIG + 2);

    porra_db_t *fresh = replay(db, &r);
    /* The records: each pool's create, its bets in batches, its result; the deleted pool nowhere. */
    char ops[64] = "";
    size_t nbets = 0, batches = 0;
    for (size_t i = 0; i < r.n && i < sizeof(ops) - 1; i++) {
        porra_change_t c;
        ops[i] = r.rec[i][0];
        EXPECT(memmem(r.rec[i], r.len[i], "Gone", 4) == NULL);
        if (r.rec[i][0] != PORRA_OP_BETS || porra_change_decode(r.rec[i], r.len[i], &c, err, sizeof(err)) != 0)
            continue;
        EXPECT(r.len[i] <= (60u << 10));
        if (strcmp(c.id, big) != 0)
            continue;
        if (batches++ == 0) /* the first batch starts with the first bettor */
            EXPECT_STR(c.bets, long_name(0));
        nbets += c.nbets;
    }
    EXPECT_STR(ops, "\x10\x14\x14\x14\x14\x14\x14\x13"
                    "\x10\x14"
                    "\x10\x13"
                    "\x10");
    EXPECT_INT(batches, 6); /* 5000 × 67 bytes in 60 KiB batches */
    EXPECT_INT(nbets, BIG);
    /* The replica is the same, pool by pool, in the same orders, and dumps the same bytes. */
    EXPECT(fresh != NULL);
    if (fresh != NULL) {
        porra_iter_t a, b;
        const porra_t *pa, *pb;
        size_t la, lb, n = 0;
        EXPECT_INT(porra_count(fresh), 4);
        EXPECT_INT(porra_bets_total(fresh), BIG + 2);
        porra_iter_created(&a, db), porra_iter_created(&b, fresh);
        while ((pa = porra_iter_next(&a)) != NULL && (pb = porra_iter_next(&b)) != NULL) {
            const char *ja = porra_json(pa, &la), *jb = porra_json(pb, &lb);
            EXPECT_STR(porra_id(pa), porra_id(pb));
            EXPECT(la == lb && memcmp(ja, jb, la) == 0);
            n++;
        }
        EXPECT_INT(n, 4);
        EXPECT(porra_iter_next(&b) == NULL);
        char ids_a[4096];
        snprintf(ids_a, sizeof(ids_a), "%s", ids_by_id(db, NULL));
        EXPECT_STR(ids_by_id(fresh, NULL), ids_a);
        recs_t again = {0};
        EXPECT_INT(porra_dump(fresh, collect, &again), 0);
        EXPECT_INT(again.n, r.n);
        for (size_t i = 0; i < r.n && i < again.n; i++)
            EXPECT(again.len[i] == r.len[i] && memcmp(again.rec[i], r.rec[i], r.len[i]) == 0);
        recs_free(&again);
        char *text = render(db);
        EXPECT(renders_as(fresh, text));
        free(text);
    }
    /* An emit that fails stops the dump there, at any record. */
    for (size_t stop = 1; stop <= r.n; stop++) {
        recs_t s = {.stop_at = stop};
        EXPECT_INT(porra_dump(db, collect, &s), -1);
        EXPECT_INT(s.n, stop);
        recs_free(&s);
    }
    recs_free(&r);
    porra_db_release(fresh);
    porra_db_release(db);
}

/* ---- readers render a shared version while a writer makes newer ones ---- */

enum { T_READERS = 4, T_POOLS = 120, T_ROUNDS = 30, T_CHANGES = 1500 };

static porra_db_t *thread_sample(void)
{
    porra_db_t *db = porra_db_new();
    char local[32], quien[16];
    for (int i = 0; i < T_POOLS; i++) {
        snprintf(local, sizeof(local), "P%03d", i);
        create(&db, local, "Q", "Liga", "2020");
        snprintf(local, sizeof(local), "P%03d-Q-Liga-2020", i);
        for (int j = 0; j < i % 9; j++) {
            snprintf(quien, sizeof(quien), "b%d", j);
            bet(&db, local, quien, (i + j) % 100, (i * j) % 100);
        }
        if (i % 4 == 0)
            result(&db, local, i % 5, i % 3);
    }
    return db;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_barrier_t start;
    porra_db_t *shared, *current; /* current: the writer's newest published version */
    char *expect[T_POOLS];
    size_t expect_len[T_POOLS];
} board_t;

typedef struct {
    board_t *b;
    const char *seen[T_POOLS];
    long bad, rendered;
} reader_t;

/* p's JSON has the shape of a pool with p's ID. */
static int looks_right(const porra_t *p)
{
    size_t len, n = strlen(porra_id(p));
    const char *j = porra_json(p, &len);
    return j != NULL && len > n + 12 && memcmp(j, "{\"ID\":\"", 7) == 0 && memcmp(j + 7, porra_id(p), n) == 0 && j[7 + n] == '"' &&
           memcmp(j + len - 2, "},", 2) == 0 && j[len] == '\0';
}

static void *reader(void *arg)
{
    reader_t *r = arg;
    board_t *b = r->b;
    pthread_barrier_wait(&b->start);
    for (int round = 0; round < T_ROUNDS; round++) {
        porra_iter_t it;
        const porra_t *p;
        size_t len;
        int i = 0;
        porra_iter_created(&it, b->shared);
        for (; (p = porra_iter_next(&it)) != NULL && i < T_POOLS; i++) {
            const char *j = porra_json(p, &len);
            if (j == NULL || len != b->expect_len[i] || memcmp(j, b->expect[i], len) != 0)
                r->bad++;
            if (round == 0)
                r->seen[i] = j;
            else if (r->seen[i] != j)
                r->bad++;
        }
        r->bad += i != T_POOLS;
        porra_iter_ids(&it, b->shared, "P059-Q-Liga-2020");
        for (i = 0; porra_iter_next(&it) != NULL; i++)
            ;
        r->bad += i != T_POOLS - 60;
        pthread_mutex_lock(&b->mu);
        porra_db_t *v = porra_db_ref(b->current);
        pthread_mutex_unlock(&b->mu);
        porra_iter_created(&it, v);
        while ((p = porra_iter_next(&it)) != NULL) {
            r->bad += !looks_right(p);
            r->rendered++;
        }
        porra_db_release(v); /* may be the last reference: the reader frees it */
    }
    return NULL;
}

static void *writer(void *arg)
{
    board_t *b = arg;
    long bad = 0;
    uint64_t seed = 7;
    char id[32], name[32];
    porra_db_t *db = porra_db_ref(b->shared);
    pthread_barrier_wait(&b->start);
    for (int i = 0; i < T_CHANGES; i++) {
        int k = (int)(test_rnd(&seed) % T_POOLS), r = (int)(test_rnd(&seed) % 100), st;
        snprintf(id, sizeof(id), "P%03d-Q-Liga-2020", k);
        snprintf(name, sizeof(name), "%c%d", r % 2 ? 'w' : 'b', (int)(test_rnd(&seed) % 40));
        porra_change_t c;
        if (r < 80)
            st = porra_plan_bet(db, id, name, r, 99 - r, &c, NULL, 0);
        else if (r < 90)
            st = porra_plan_result(db, id, r % 10, 1, &c, NULL, 0);
        else if (r < 95)
            st = porra_plan_delete(db, id, &c);
        else {
            snprintf(name, sizeof(name), "N%d", i);
            st = porra_plan_create(db, name, "Q", "Copa", "2021", &c, NULL, 0);
        }
        if ((st == PORRA_OK || st == PORRA_CREATED) && porra_db_apply(&db, &c, NULL, 0) != 0)
            bad++;
        if (i % 8 == 7) { /* publish */
            porra_db_t *v = porra_db_ref(db), *old;
            pthread_mutex_lock(&b->mu);
            old = b->current, b->current = v;
            pthread_mutex_unlock(&b->mu);
            porra_db_release(old);
        }
    }
    porra_db_release(db);
    return (void *)bad;
}

static void test_threads_render_shared(void)
{
    size_t pmap0 = pmap_nodes_live(), pvec0 = pvec_nodes_live();
    static board_t b;
    static reader_t r[T_READERS];
    pthread_t tr[T_READERS], tw;
    porra_db_t *twin = thread_sample();
    porra_iter_t it;
    const porra_t *p;
    void *wbad;
    int i = 0;
    /* What the shared version must show, rendered from a twin: the shared one is never rendered
     * before the readers race for it. */
    porra_iter_created(&it, twin);
    for (; (p = porra_iter_next(&it)) != NULL && i < T_POOLS; i++) {
        const char *j = porra_json(p, &b.expect_len[i]);
        b.expect[i] = j != NULL ? strndup(j, b.expect_len[i]) : NULL;
    }
    EXPECT_INT(i, T_POOLS);
    b.shared = thread_sample();
    porra_db_seal(b.shared);
    b.current = porra_db_ref(b.shared);
    pthread_mutex_init(&b.mu, NULL);
    pthread_barrier_init(&b.start, NULL, T_READERS + 1);
    for (int k = 0; k < T_READERS; k++) {
        r[k] = (reader_t){.b = &b};
        pthread_create(&tr[k], NULL, reader, &r[k]);
    }
    pthread_create(&tw, NULL, writer, &b);
    for (int k = 0; k < T_READERS; k++)
        pthread_join(tr[k], NULL);
    pthread_join(tw, &wbad);
    EXPECT_INT((long)wbad, 0);
    for (int k = 0; k < T_READERS; k++) {
        EXPECT_INT(r[k].bad, 0);
        EXPECT(r[k].rendered > 0);
        /* every reader got the one text kept with each pool */
        EXPECT(memcmp(r[k].seen, r[0].seen, sizeof(r[0].seen)) == 0);
    }
    char *want = render(twin), *now = render(b.current);
    EXPECT(renders_as(b.shared, want));
    EXPECT(strcmp(now, want) != 0); /* the writer did change things */
    free(want);
    free(now);
    porra_iter_created(&it, b.shared);
    size_t len;
    for (i = 0; (p = porra_iter_next(&it)) != NULL; i++)
        EXPECT(porra_json(p, &len) == r[0].seen[i]);
    porra_db_release(b.current);
    porra_db_release(b.shared);
    porra_db_release(twin);
    for (i = 0; i < T_POOLS; i++)
        free(b.expect[i]);
    pthread_barrier_destroy(&b.start);
    pthread_mutex_destroy(&b.mu);
    EXPECT_INT(pmap_nodes_live(), pmap0);
    EXPECT_INT(pvec_nodes_live(), pvec0);
}

/* ---- chunks of the full listing ---- */

/* Every chunk of db's full listing joined: must equal render(db). Sets *nchunks, *npools, and
 * checks each chunk's counts, and that a large pool's piece is its own porra_json text. */
static char *join_chunks(const porra_db_t *db, size_t *nchunks, size_t *npools)
{
    jsonw_t w = JSONW_INIT;
    porra_iter_t it, pools;
    const porra_chunk_t *c;
    const porra_t *p;
    int oom;
    size_t len;
    *nchunks = *npools = 0;
    porra_iter_created(&it, db);
    porra_iter_created(&pools, db);
    while ((c = porra_iter_chunk(&it, &oom)) != NULL) {
        size_t bytes = 0;
        for (size_t i = 0; i < c->nseg; i++)
            jsonw_raw(&w, c->seg[i].base, c->seg[i].len), bytes += c->seg[i].len;
        EXPECT_INT(bytes, c->len);
        EXPECT(c->n >= 1 && c->n <= PMAP_FANOUT && c->nseg >= 1 && c->nseg <= c->n);
        for (size_t i = 0; i < c->n && (p = porra_iter_next(&pools)) != NULL; i++) {
            const char *j = porra_json(p, &len);
            int own = 0;
            for (size_t k = 0; k < c->nseg; k++)
                own |= c->seg[k].base == j && c->seg[k].len == len;
            EXPECT(own == (p->bets.count > PORRA_COPY_BETS)); /* large pools are never copied */
        }
        (*nchunks)++, *npools += c->n;
    }
    EXPECT_INT(oom, 0);
    char *out = jsonw_finish(&w, &len);
    if (out == NULL)
        abort();
    return out;
}

static void test_chunks(void)
{
    porra_db_t *db = porra_db_new();
    char l[24], q[16];
    size_t nchunks, npools;
    for (int i = 0; i < 100; i++) {
        snprintf(l, sizeof(l), "L%03d", i);
        EXPECT_INT(create(&db, l, "V", "C", "2024"), PORRA_CREATED);
        snprintf(l, sizeof(l), "L%03d-V-C-2024", i);
        /* every tenth pool is large: more bets than a chunk copies */
        for (int b = 0; b < (i % 10 == 3 ? PORRA_COPY_BETS + 1 : i % 3); b++) {
            snprintf(q, sizeof(q), "q%d", b);
            EXPECT_INT(bet(&db, l, q, b % 10, 1), PORRA_CREATED);
        }
    }
    porra_db_seal(db);
    char *want = render(db), *got = join_chunks(db, &nchunks, &npools);
    EXPECT_STR(got, want);
    EXPECT_INT(npools, 100);
    EXPECT(nchunks >= 100 / PMAP_FANOUT);
    free(got);

    /* a new version with one bet changed: the old one's chunks still join as it renders; the new
     * one's chunk of that pool is a new one, every other chunk is the very same */
    porra_db_t *old = porra_db_ref(db);
    const porra_chunk_t *before[16], *after[16], *c;
    porra_iter_t it;
    int oom, n = 0;
    porra_iter_created(&it, old);
    while (n < 16 && (c = porra_iter_chunk(&it, &oom)) != NULL)
        before[n++] = c;
    EXPECT_INT(bet(&db, "L050-V-C-2024", "q0", 9, 9), PORRA_OK);
    char *want_new = render(db);
    EXPECT_STR(got = join_chunks(db, &nchunks, &npools), want_new);
    free(got);
    EXPECT_STR(got = join_chunks(old, &nchunks, &npools), want);
    free(got);
    int m = 0, differ = 0;
    porra_iter_created(&it, db);
    while (m < 16 && (c = porra_iter_chunk(&it, &oom)) != NULL)
        after[m++] = c;
    EXPECT_INT(m, n);
    for (int i = 0; i < n && i < m; i++)
        differ += before[i] != after[i];
    EXPECT_INT(differ, 1);
    free(want), free(want_new);
    porra_db_release(old);
    porra_db_release(db);
}

/* The version of pool id in db; 0 when there is none. */
static uint64_t version_of(const porra_db_t *db, const char *id)
{
    const porra_t *p = porra_find(db, id);
    return p != NULL ? porra_version(p) : 0;
}

/* Versions: every apply advances the clock; the pool it touches, and only that one, takes it; a
 * refused change takes no number; an older version keeps its numbers; a pool deleted and made
 * again never gets a version the old one had. Transient and sealed lineages number alike. */
static void test_versions_numbered(void)
{
    const char *a = "A-B-Liga-2020", *b = "C-D-Liga-2020";
    for (int sealed = 0; sealed < 2; sealed++) {
        porra_db_t *db = porra_db_new();
        if (sealed)
            porra_db_seal(db);
        EXPECT_INT(porra_db_version(db), 0);
        EXPECT_INT(create(&db, "A", "B", "Liga", "2020"), PORRA_CREATED);
        EXPECT_INT(create(&db, "C", "D", "Liga", "2020"), PORRA_CREATED);
        EXPECT_INT(porra_db_version(db), 2);
        EXPECT_INT(version_of(db, a), 1);
        EXPECT_INT(version_of(db, b), 2);
        porra_db_t *before = sealed ? porra_db_ref(db) : NULL;
        EXPECT_INT(bet(&db, a, "ana", 1, 0), PORRA_CREATED);
        EXPECT_INT(version_of(db, a), 3);
        EXPECT_INT(version_of(db, b), 2); /* untouched */
        EXPECT_INT(bet(&db, a, "ana", 2, 0), PORRA_OK);
        EXPECT_INT(result(&db, a, 2, 0), PORRA_OK);
        EXPECT_INT(version_of(db, a), 5);
        EXPECT_INT(result(&db, a, 2, 0), PORRA_OK); /* the same result again is still a change */
        EXPECT_INT(version_of(db, a), 6);
        porra_change_t refused = {.op = PORRA_OP_BET, .id = a, .quien = "luis", .local = 1, .visitante = 1};
        EXPECT_INT(porra_db_apply(&db, &refused, err, sizeof(err)), -1); /* betting is closed */
        EXPECT_INT(porra_db_version(db), 6);
        EXPECT_INT(delete (&db, a), PORRA_OK);
        EXPECT_INT(porra_db_version(db), 7);
        EXPECT_INT(create(&db, "A", "B", "Liga", "2020"), PORRA_CREATED);
        EXPECT_INT(version_of(db, a), 8);
        if (before != NULL) { /* what readers of the older version see did not move */
            EXPECT_INT(porra_db_version(before), 2);
            EXPECT_INT(version_of(before, a), 1);
            porra_db_release(before);
        }
        porra_db_release(db);
    }
}

/* Numbers given by a replicated store (porra_db_apply_at): a pool takes its change's number and
 * keeps its newest when they come out of order; created tells a pool from one made again with
 * its ID; a refused change moves nothing. */
static void test_versions_given(void)
{
    const char *a = "A-B-Liga-2020";
    porra_change_t ca = {.op = PORRA_OP_CREATE, .seg = {"A", "B", "Liga", "2020"}};
    porra_change_t cb = {.op = PORRA_OP_CREATE, .seg = {"C", "D", "Liga", "2020"}};
    porra_change_t ana = {.op = PORRA_OP_BET, .id = a, .quien = "ana", .local = 1, .visitante = 0};
    porra_change_t res = {.op = PORRA_OP_RESULT, .id = a, .local = 1, .visitante = 0};
    porra_change_t del = {.op = PORRA_OP_DELETE, .id = a};
    for (int sealed = 0; sealed < 2; sealed++) {
        porra_db_t *db = porra_db_new();
        if (sealed)
            porra_db_seal(db);
        EXPECT_INT(porra_db_apply_at(&db, &ca, 10, err, sizeof(err)), 0);
        EXPECT_INT(porra_db_apply_at(&db, &cb, 12, err, sizeof(err)), 0);
        EXPECT_INT(version_of(db, a), 10);
        EXPECT_INT(porra_created(porra_find(db, a)), 10);
        EXPECT_INT(porra_db_version(db), 12);
        EXPECT_INT(porra_db_apply_at(&db, &res, 20, err, sizeof(err)), 0);
        EXPECT_INT(porra_db_apply_at(&db, &ana, 15, err, sizeof(err)), -1); /* after the result: refused */
        EXPECT_INT(version_of(db, a), 20);
        porra_db_release(db);
        /* the same keys rebuilt in the order they were created: the result (changed at 20) last */
        db = porra_db_new();
        if (sealed)
            porra_db_seal(db);
        EXPECT_INT(porra_db_apply_at(&db, &ca, 10, err, sizeof(err)), 0);
        EXPECT_INT(porra_db_apply_at(&db, &ana, 25, err, sizeof(err)), 0); /* replaced at 25 */
        EXPECT_INT(porra_db_apply_at(&db, &res, 20, err, sizeof(err)), 0);
        EXPECT_INT(version_of(db, a), 25); /* the newest change of the pool, whatever the order */
        EXPECT_INT(porra_db_version(db), 25);
        EXPECT_INT(porra_created(porra_find(db, a)), 10);
        EXPECT_INT(porra_db_apply_at(&db, &del, 30, err, sizeof(err)), 0);
        EXPECT_INT(porra_db_apply_at(&db, &ca, 31, err, sizeof(err)), 0);
        EXPECT_INT(porra_created(porra_find(db, a)), 31);
        EXPECT_INT(version_of(db, a), 31);
        EXPECT_INT(porra_db_version(db), 31);
        porra_db_release(db);
    }
}

int main(void)
{
    RUN(test_segment_table);
    RUN(test_id_ok);
    RUN(test_score_parse);
    RUN(test_plan_create);
    RUN(test_plan_bet_result_delete);
    RUN(test_winners);
    RUN(test_change_round_trip);
    RUN(test_change_bytes);
    RUN(test_change_decode_refuses);
    RUN(test_apply_transient_in_place);
    RUN(test_apply_sealed_new_version);
    RUN(test_apply_refuses);
    RUN(test_apply_out_of_memory);
    RUN(test_render);
    RUN(test_render_many_bets);
    RUN(test_iteration);
    RUN(test_versions_random);
    RUN(test_versions_numbered);
    RUN(test_versions_given);
    RUN(test_dump_replay);
    RUN(test_threads_render_shared);
    RUN(test_chunks);
    RUN(test_bet_and_result_of);
    return TEST_END();
}
