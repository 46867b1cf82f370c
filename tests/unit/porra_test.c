#include "porra/porra.h"
#include "test.h"

#include <stdlib.h>

static char err[512];

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Plans and applies a create, as the service does. */
static porra_status_t create(porra_db_t *db, const char *l, const char *v, const char *c,
                             const char *y)
{
    json_t *change = NULL;
    err[0] = '\0';
    porra_status_t st = porra_plan_create(db, l, v, c, y, &change, err, sizeof err);
    if (change && porra_apply(db, change, err, sizeof err) != 0)
        st = (porra_status_t)-1;
    json_decref(change);
    return st;
}

static porra_status_t bet(porra_db_t *db, const char *id, const char *quien, int l, int v)
{
    json_t *change = NULL;
    err[0] = '\0';
    porra_status_t st = porra_plan_bet(db, id, quien, l, v, &change, err, sizeof err);
    if (change && porra_apply(db, change, err, sizeof err) != 0)
        st = (porra_status_t)-1;
    json_decref(change);
    return st;
}

static porra_status_t result(porra_db_t *db, const char *id, int l, int v)
{
    json_t *change = NULL;
    err[0] = '\0';
    porra_status_t st = porra_plan_result(db, id, l, v, &change, err, sizeof err);
    if (change && porra_apply(db, change, err, sizeof err) != 0)
        st = (porra_status_t)-1;
    json_decref(change);
    return st;
}

static int apply_text(porra_db_t *db, const char *text)
{
    json_t *rec = json_loads(text, 0, NULL);
    err[0] = '\0';
    int r = porra_apply(db, rec, err, sizeof err);
    json_decref(rec);
    return r;
}

static void test_segment_table(void)
{
    static const char *const good[] = {"Granada", "betis", "Liga_2017", "2017", "a.b", "ñ",
                                       "Málaga", "日本", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", ".a",
                                       "\xf4\x8f\xbf\xbf"};
    char max[65], over[66];
    memset(max, 'a', 64);
    max[64] = '\0';
    memset(over, 'a', 65);
    over[65] = '\0';
    static const char *const bad[] = {"", ".", "..", "...", "a b", "a/b", "a%2Fb", "a%b", "a+b",
                                      "\xc3", "a\xc3", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
                                      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                      "\xf0\x80\x80\x80", "\x80", "\xe2\x82", "a\tb", "a?b",
                                      "a#b", "\x7f", "ñ\xff", NULL};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!porra_segment_ok(good[i], 0, err, sizeof err)) {
            test_failed_now = 1;
            printf("# segment \"%s\" refused\n", good[i]);
        }
    EXPECT_INT(porra_segment_ok(max, 0, err, sizeof err), 1);
    err[0] = '\0';
    EXPECT_INT(porra_segment_ok(over, 0, err, sizeof err), 0);
    EXPECT_STR(err, "must be 1-64 letters, digits, '_', '.' or UTF-8 letters, not only dots");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int dash = 0; dash < 2; dash++)
            if (porra_segment_ok(bad[i], dash, err, sizeof err)) {
                test_failed_now = 1;
                printf("# segment %zu accepted (allow_dash %d)\n", i, dash);
            }
    EXPECT_INT(porra_segment_ok("a-b", 0, err, sizeof err), 0);
    EXPECT_INT(porra_segment_ok("a-b", 1, err, sizeof err), 1);
    EXPECT_INT(porra_segment_ok("-", 1, err, sizeof err), 1);
    err[0] = '\0';
    EXPECT_INT(porra_segment_ok("..", 1, err, sizeof err), 0);
    EXPECT(contains(err, "'-'"));
}

static void test_create_get_list_delete(void)
{
    porra_db_t *db = porra_db_new();
    json_t *change = (json_t *)1;
    EXPECT_INT(porra_plan_create(db, "Granada", "Betis", "Liga", "2017", &change, err, sizeof err),
               PORRA_CREATED);
    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "porra.create", "local", "Granada",
                             "visitante", "Betis", "competition", "Liga", "year", "2017");
    EXPECT(json_equal(change, want));
    json_decref(want);
    EXPECT_INT(porra_count(db), 0);
    EXPECT_INT(porra_apply(db, change, err, sizeof err), 0);
    json_decref(change);
    change = (json_t *)1;
    EXPECT_INT(porra_plan_create(db, "Granada", "Betis", "Liga", "2017", &change, err, sizeof err),
               PORRA_OK);
    EXPECT(change == NULL);

    json_t *p = porra_get(db, "Granada-Betis-Liga-2017");
    char *text = json_dumps(p, JSON_COMPACT);
    EXPECT_STR(text, "{\"ID\":\"Granada-Betis-Liga-2017\",\"local\":\"Granada\",\"visitante\":"
                     "\"Betis\",\"competition\":\"Liga\",\"year\":\"2017\",\"apuestas\":{},"
                     "\"resultado\":null}");
    free(text);
    EXPECT(porra_get(db, "Granada-Betis-Liga") == NULL);
    EXPECT(porra_get(db, "granada-Betis-Liga-2017") == NULL);
    EXPECT(porra_get(db, "") == NULL);
    EXPECT(porra_get(db, NULL) == NULL);

    static const char *const names[] = {"local", "visitante", "competition", "year"};
    const char *segs[4] = {"A", "B", "C", "D"};
    static const char *const bad[] = {"a-b", "..", "", "a b"};
    for (int k = 0; k < 4; k++) {
        for (size_t j = 0; j < 4; j++) {
            segs[k] = bad[j];
            change = (json_t *)1;
            err[0] = '\0';
            EXPECT_INT(porra_plan_create(db, segs[0], segs[1], segs[2], segs[3], &change, err,
                                         sizeof err),
                       PORRA_INVALID);
            EXPECT(change == NULL);
            EXPECT(strncmp(err, names[k], strlen(names[k])) == 0 && contains(err, ": must be"));
        }
        segs[k] = "Z";
    }
    EXPECT_INT(porra_plan_create(db, segs[0], segs[1], segs[2], NULL, &change, err, sizeof err),
               PORRA_INVALID);
    EXPECT_INT(porra_count(db), 1);

    EXPECT_INT(create(db, "Madrid", "Barça", "Copa", "2018"), PORRA_CREATED);
    EXPECT_INT(create(db, "Alavés", "Eibar", "Liga", "2019"), PORRA_CREATED);
    EXPECT_INT(porra_count(db), 3);
    json_t *list = porra_list(db);
    EXPECT_INT(json_array_size(list), 3);
    EXPECT(json_array_get(list, 0) == porra_get(db, "Granada-Betis-Liga-2017"));
    EXPECT(json_array_get(list, 1) == porra_get(db, "Madrid-Barça-Copa-2018"));
    EXPECT(json_array_get(list, 2) == porra_get(db, "Alavés-Eibar-Liga-2019"));

    change = (json_t *)1;
    EXPECT_INT(porra_plan_delete(db, "nope", &change, err, sizeof err), PORRA_NOT_FOUND);
    EXPECT(change == NULL);
    EXPECT_INT(porra_plan_delete(db, "Madrid-Barça-Copa-2018", &change, err, sizeof err), PORRA_OK);
    EXPECT_STR(json_string_value(json_object_get(change, "op")), "porra.delete");
    EXPECT_STR(json_string_value(json_object_get(change, "ID")), "Madrid-Barça-Copa-2018");
    EXPECT_INT(porra_apply(db, change, err, sizeof err), 0);
    EXPECT_INT(porra_apply(db, change, err, sizeof err), -1);
    json_decref(change);
    EXPECT(porra_get(db, "Madrid-Barça-Copa-2018") == NULL);
    EXPECT_INT(porra_count(db), 2);
    EXPECT(json_array_get(list, 1) == porra_get(db, "Alavés-Eibar-Liga-2019"));
    /* The same pool may be created again after a delete; it goes to the end. */
    EXPECT_INT(create(db, "Madrid", "Barça", "Copa", "2018"), PORRA_CREATED);
    EXPECT(json_array_get(list, 2) == porra_get(db, "Madrid-Barça-Copa-2018"));
    porra_db_free(db);
}

static int score(const char *text, int *l, int *v)
{
    json_t *body = json_loads(text, JSON_DECODE_ANY, NULL);
    err[0] = '\0';
    int r = porra_score_parse(body, l, v, err, sizeof err);
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
        {"{\"local\": 1.0, \"visitante\": 1}", "local: must be an integer from 0 to 99"},
        {"{\"local\": \"1\", \"visitante\": 1}", "local: must be an integer from 0 to 99"},
        {"{\"local\": true, \"visitante\": 1}", "local: must be an integer from 0 to 99"},
        {"{\"local\": null, \"visitante\": 1}", "local: must be an integer from 0 to 99"},
        {"{\"local\": -1, \"visitante\": 1}", "local: must be an integer from 0 to 99"},
        {"{\"local\": 1, \"visitante\": 100}", "visitante: must be an integer from 0 to 99"},
        {"{\"local\": 1, \"visitante\": 4294967297}", "visitante: must be an integer from 0 to 99"},
        {"{\"local\": 1, \"visitante\": [1]}", "visitante: must be an integer from 0 to 99"},
        {"{\"local\": 1, \"visitante\": 2, \"extra\": 3}", "extra: unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (score(cases[i].body, &l, &v) != -1 || strcmp(err, cases[i].want) != 0) {
            test_failed_now = 1;
            printf("# case %zu: err \"%s\", expected \"%s\"\n", i, err, cases[i].want);
        }
    }
    EXPECT_INT(porra_score_parse(NULL, &l, &v, err, sizeof err), -1);
}

static void test_bets_result_winners(void)
{
    porra_db_t *db = porra_db_new();
    const char *id = "Granada-Betis-Liga-2017";
    json_t *change = (json_t *)1, *out = (json_t *)1;
    EXPECT_INT(porra_plan_bet(db, id, "ana", 1, 0, &change, err, sizeof err), PORRA_NOT_FOUND);
    EXPECT(change == NULL);
    EXPECT_INT(porra_plan_result(db, id, 1, 0, &change, err, sizeof err), PORRA_NOT_FOUND);
    EXPECT_INT(porra_winners(db, id, &out), PORRA_NOT_FOUND);
    EXPECT(out == NULL);
    EXPECT_INT(create(db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);

    /* Path segments are checked before existence (400 before 404). */
    EXPECT_INT(porra_plan_bet(db, "nope", "a b", 1, 0, &change, err, sizeof err), PORRA_INVALID);
    EXPECT(strncmp(err, "quien: must be", 14) == 0);
    EXPECT_INT(porra_plan_bet(db, id, "..", 1, 0, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_INT(porra_plan_bet(db, id, "ana", 100, 0, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_STR(err, "local: must be an integer from 0 to 99");
    EXPECT_INT(porra_plan_bet(db, id, "ana", 0, -1, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_STR(err, "visitante: must be an integer from 0 to 99");
    EXPECT_INT(porra_plan_bet(db, id, "ana", -1, 0, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_INT(porra_plan_bet(db, id, "ana", 0, 100, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_INT(porra_plan_result(db, id, 0, 100, &change, err, sizeof err), PORRA_INVALID);
    EXPECT(change == NULL);
    EXPECT_INT(porra_plan_bet(db, id, "max", 99, 99, &change, err, sizeof err), PORRA_CREATED);
    json_decref(change);
    EXPECT_INT(porra_plan_result(db, id, 0, 99, &change, err, sizeof err), PORRA_OK);
    json_decref(change);

    EXPECT_INT(porra_plan_bet(db, id, "ana-maría", 2, 1, &change, err, sizeof err), PORRA_CREATED);
    json_t *want = json_pack("{s:s, s:s, s:s, s:i, s:i}", "op", "porra.bet", "ID", id, "quien",
                             "ana-maría", "local", 2, "visitante", 1);
    EXPECT(json_equal(change, want));
    json_decref(want);
    EXPECT_INT(porra_apply(db, change, err, sizeof err), 0);
    json_decref(change);
    EXPECT_INT(bet(db, id, "luis", 0, 0), PORRA_CREATED);
    EXPECT_INT(bet(db, id, "eva", 1, 1), PORRA_CREATED);
    EXPECT_INT(bet(db, id, "ana-maría", 1, 1), PORRA_OK);
    EXPECT_INT(bet(db, id, "pepe", 1, 0), PORRA_CREATED);
    EXPECT_INT(bet(db, id, "leo", 0, 1), PORRA_CREATED);
    json_t *apuestas = json_object_get(porra_get(db, id), "apuestas");
    EXPECT_INT(json_object_size(apuestas), 5);
    EXPECT_INT(json_integer_value(json_object_get(json_object_get(apuestas, "ana-maría"), "local")),
               1);

    EXPECT_INT(porra_winners(db, id, &out), PORRA_NO_RESULT);
    EXPECT(out == NULL);
    EXPECT_INT(porra_plan_result(db, id, 100, 1, &change, err, sizeof err), PORRA_INVALID);
    EXPECT_INT(result(db, id, 1, 1), PORRA_OK);
    EXPECT_STR(json_string_value(json_object_get(porra_get(db, id), "resultado")), "1-1");
    EXPECT_INT(porra_winners(db, id, &out), PORRA_OK);
    char *text = json_dumps(out, JSON_COMPACT);
    /* Bet order is each bettor's first bet, even after a replacement. */
    EXPECT_STR(text, "{\"resultado\":\"1-1\",\"ganadores\":[\"ana-maría\",\"eva\"]}");
    free(text);
    json_decref(out);

    EXPECT_INT(porra_plan_bet(db, id, "otro", 1, 1, &change, err, sizeof err), PORRA_CLOSED);
    EXPECT(change == NULL);
    EXPECT_INT(porra_plan_bet(db, id, "eva", 0, 0, &change, err, sizeof err), PORRA_CLOSED);

    EXPECT_INT(result(db, id, 0, 0), PORRA_OK);
    EXPECT_INT(porra_winners(db, id, &out), PORRA_OK);
    text = json_dumps(out, JSON_COMPACT);
    EXPECT_STR(text, "{\"resultado\":\"0-0\",\"ganadores\":[\"luis\"]}");
    free(text);
    json_decref(out);

    EXPECT_INT(result(db, id, 3, 2), PORRA_OK);
    EXPECT_INT(porra_winners(db, id, &out), PORRA_OK);
    EXPECT_STR(json_string_value(json_object_get(out, "resultado")), "3-2");
    EXPECT_INT(json_array_size(json_object_get(out, "ganadores")), 0);
    json_decref(out);
    porra_db_free(db);
}

static void test_apply_refuses_malformed(void)
{
    porra_db_t *db = porra_db_new();
    EXPECT_INT(create(db, "A", "B", "C", "D"), PORRA_CREATED);
    EXPECT_INT(create(db, "E", "F", "G", "H"), PORRA_CREATED);
    EXPECT_INT(bet(db, "E-F-G-H", "x", 1, 2), PORRA_CREATED);
    EXPECT_INT(result(db, "E-F-G-H", 1, 2), PORRA_OK);
    static const char *const recs[] = {
        "[]", "null", "\"porra.create\"", "7", "{}",
        "{\"op\": \"porra.rename\", \"ID\": \"A-B-C-D\"}",
        "{\"op\": \"porra.deletes\", \"ID\": \"A-B-C-D\"}",
        "{\"op\": \"porra.delet\", \"ID\": \"A-B-C-D\"}",
        "{\"op\": \"porra.create\", \"local\": \"a-b\", \"visitante\": \"B\", \"competition\": "
        "\"C\", \"year\": \"D\"}",
        "{\"op\": \"porra.create\", \"local\": \"A\", \"visitante\": \"B\", \"competition\": \"C\","
        " \"year\": \"D\"}",
        "{\"op\": \"porra.delete\", \"ID\": \"X-Y-Z-W\"}",
        "{\"op\": \"porra.bet\", \"ID\": \"X-Y-Z-W\", \"quien\": \"q\", \"local\": 1, "
        "\"visitante\": 1}",
        "{\"op\": \"porra.bet\", \"ID\": \"E-F-G-H\", \"quien\": \"q\", \"local\": 1, "
        "\"visitante\": 1}",
        "{\"op\": \"porra.bet\", \"ID\": \"E-F-G-H\", \"quien\": \"x\", \"local\": 0, "
        "\"visitante\": 0}",
        "{\"op\": \"porra.result\", \"ID\": \"X-Y-Z-W\", \"local\": 1, \"visitante\": 1}",
    };
    json_t *before = json_deep_copy(porra_list(db));
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        if (apply_text(db, recs[i]) != -1 || !*err) {
            test_failed_now = 1;
            printf("# record %zu accepted: %s\n", i, recs[i]);
        }
    }
    /* Valid records with each member in turn dropped or replaced by a value no member allows. */
    static const char *const base[] = {
        "{\"op\": \"porra.create\", \"local\": \"I\", \"visitante\": \"J\", \"competition\": "
        "\"K\", \"year\": \"L\"}",
        "{\"op\": \"porra.delete\", \"ID\": \"A-B-C-D\"}",
        "{\"op\": \"porra.bet\", \"ID\": \"A-B-C-D\", \"quien\": \"q-1\", \"local\": 1, "
        "\"visitante\": 99}",
        "{\"op\": \"porra.result\", \"ID\": \"A-B-C-D\", \"local\": 0, \"visitante\": 1}",
    };
    static const char *const junk[] = {"null", "true", "1.0", "-1", "100", "\"\"", "\"..\"",
                                       "\"a b\"", "[]", "{}", "[\"A\"]"};
    for (size_t i = 0; i < 4; i++) {
        json_t *good = json_loads(base[i], 0, NULL);
        const char *key;
        json_t *val;
        json_object_foreach(good, key, val) {
            json_t *rec = json_deep_copy(good);
            json_object_del(rec, key);
            EXPECT_INT(porra_apply(db, rec, err, sizeof err), -1);
            for (size_t j = 0; j < sizeof junk / sizeof junk[0]; j++) {
                json_object_set_new(rec, key, json_loads(junk[j], JSON_DECODE_ANY, NULL));
                if (porra_apply(db, rec, err, sizeof err) != -1) {
                    test_failed_now = 1;
                    printf("# record %zu with %s = %s accepted\n", i, key, junk[j]);
                }
            }
            json_decref(rec);
        }
        json_decref(good);
    }
    EXPECT_INT(porra_apply(db, NULL, err, sizeof err), -1);
    json_t *rec = json_pack("{s:s, s:s#, s:s, s:s, s:s}", "op", "porra.create", "local", "A\0x",
                            (size_t)3, "visitante", "B", "competition", "C", "year", "Z");
    EXPECT_INT(porra_apply(db, rec, err, sizeof err), -1);
    json_decref(rec);
    EXPECT(json_equal(before, porra_list(db)));
    EXPECT_INT(porra_count(db), 2);
    json_decref(before);
    /* The base records themselves apply (the delete last, as it removes the pool). */
    EXPECT_INT(apply_text(db, base[2]), 0);
    EXPECT_INT(apply_text(db, base[3]), 0);
    EXPECT_INT(apply_text(db, base[0]), 0);
    EXPECT_INT(apply_text(db, base[1]), 0);
    EXPECT_INT(porra_count(db), 2);
    porra_db_free(db);
}

static int collect(void *ctx, json_t *change) { return json_array_append(ctx, change); }

static int stop_at_two(void *ctx, json_t *change)
{
    (void)change;
    return ++*(int *)ctx >= 2;
}

static void test_dump_and_replay(void)
{
    porra_db_t *db = porra_db_new();
    json_t *out = json_array();
    EXPECT_INT(porra_dump(db, collect, out), 0);
    EXPECT_INT(json_array_size(out), 0);
    EXPECT_INT(create(db, "Granada", "Betis", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(create(db, "Gone", "Soon", "Liga", "2017"), PORRA_CREATED);
    EXPECT_INT(create(db, "Málaga", "Sevilla", "Copa", "2018"), PORRA_CREATED);
    EXPECT_INT(bet(db, "Granada-Betis-Liga-2017", "ana", 2, 1), PORRA_CREATED);
    EXPECT_INT(bet(db, "Málaga-Sevilla-Copa-2018", "zoe", 0, 0), PORRA_CREATED);
    EXPECT_INT(bet(db, "Granada-Betis-Liga-2017", "bea", 1, 1), PORRA_CREATED);
    EXPECT_INT(bet(db, "Granada-Betis-Liga-2017", "ana", 3, 0), PORRA_OK);
    EXPECT_INT(bet(db, "Gone-Soon-Liga-2017", "x", 3, 0), PORRA_CREATED);
    EXPECT_INT(result(db, "Granada-Betis-Liga-2017", 3, 0), PORRA_OK);
    EXPECT_INT(result(db, "Granada-Betis-Liga-2017", 1, 1), PORRA_OK);
    EXPECT_INT(apply_text(db, "{\"op\": \"porra.delete\", \"ID\": \"Gone-Soon-Liga-2017\"}"), 0);

    EXPECT_INT(porra_dump(db, collect, out), 0);
    /* 2 creates, 3 bets, 1 result: the deleted pool and the replaced bet leave no trace. */
    EXPECT_INT(json_array_size(out), 6);
    porra_db_t *fresh = porra_db_new();
    size_t i;
    json_t *c;
    json_array_foreach(out, i, c) EXPECT_INT(porra_apply(fresh, c, err, sizeof err), 0);
    EXPECT(json_equal(porra_list(db), porra_list(fresh)));
    char *a = json_dumps(porra_list(db), JSON_COMPACT), *b = json_dumps(porra_list(fresh), JSON_COMPACT);
    EXPECT_STR(a, b);
    free(a);
    free(b);
    EXPECT(porra_get(fresh, "Málaga-Sevilla-Copa-2018") != NULL);
    EXPECT_INT(porra_count(fresh), 2);

    int calls = 0;
    EXPECT_INT(porra_dump(db, stop_at_two, &calls), -1);
    EXPECT_INT(calls, 2);
    json_decref(out);
    porra_db_free(fresh);
    porra_db_free(db);
}

int main(void)
{
    RUN(test_segment_table);
    RUN(test_create_get_list_delete);
    RUN(test_score_parse);
    RUN(test_bets_result_winners);
    RUN(test_apply_refuses_malformed);
    RUN(test_dump_and_replay);
    return TEST_END();
}
