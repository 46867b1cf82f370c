#include "app/app.h"
#include "test.h"
#include "tmpdir.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Run from the repository's top directory: the course's two milestones. */
#define HITOS "data/hitos.json"
#define DURABLE_WAIT_S 10

#define H0 "{\"file\":\"0.Repositorio\",\"title\":\"Git y GitHub\",\"fecha\":\"21/09/2017\"}"
#define H1 "{\"file\":\"1.Infraestructura\",\"title\":\"Infraestructura del proyecto\",\"fecha\":\"28/9/2017\"}"
#define HITOS_LIST_JSON "[" H0 "," H1 "]"
#define HITOS_ALL_JSON                                                                             \
    "{\"hitos\":{\"comment\":\"Hitos del proyecto de IV http://jj.github.io/IV\",\"hitos_lista\":" \
    "[" H0 "," H1 "],\"hitos\":{\"0.Repositorio\":" H0 ",\"1.Infraestructura\":" H1 "}}}"
/* A pool with no bets and no result. */
#define POOL(l, v, c, y)                                                                           \
    "{\"ID\":\"" l "-" v "-" c "-" y "\",\"local\":\"" l "\",\"visitante\":\"" v                  \
    "\",\"competition\":\"" c "\",\"year\":\"" y "\",\"apuestas\":{},\"resultado\":null}"

/* ---- warnings (app_opts_t.warn has no context: one global list, any thread) ---- */

static pthread_mutex_t warn_mu = PTHREAD_MUTEX_INITIALIZER;
static char warns[64][512];
static int nwarn;

static void on_warn(const char *msg)
{
    pthread_mutex_lock(&warn_mu);
    if (nwarn < 64)
        snprintf(warns[nwarn], sizeof(warns[0]), "%s", msg);
    nwarn++;
    pthread_mutex_unlock(&warn_mu);
}

static void warn_reset(void)
{
    pthread_mutex_lock(&warn_mu);
    nwarn = 0;
    pthread_mutex_unlock(&warn_mu);
}

/* How many warnings so far contain sub. */
static int warn_count(const char *sub)
{
    int n = 0;
    pthread_mutex_lock(&warn_mu);
    for (int i = 0; i < nwarn && i < 64; i++)
        n += strstr(warns[i], sub) != NULL;
    pthread_mutex_unlock(&warn_mu);
    return n;
}

static void warn_print(void)
{
    pthread_mutex_lock(&warn_mu);
    for (int i = 0; i < nwarn && i < 64; i++)
        printf("#   warning: %s\n", warns[i]);
    pthread_mutex_unlock(&warn_mu);
}

/* ---- durability: app.h has no sync call, so follow app_on_durable ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t ok_upto; /* highest ticket reported durable */
    int notok;        /* some report said lost */
} dur_t;

static void dur_init(dur_t *d)
{
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
}

static void dur_free(dur_t *d)
{
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
}

static void on_durable(void *ctx, uint64_t upto, int ok)
{
    dur_t *d = ctx;
    pthread_mutex_lock(&d->mu);
    if (!ok)
        d->notok = 1;
    else if (upto > d->ok_upto)
        d->ok_upto = upto;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* 1 when ticket became durable within DURABLE_WAIT_S seconds. */
static int wait_durable(dur_t *d, uint64_t ticket)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DURABLE_WAIT_S;
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    while (d->ok_upto < ticket && rc == 0)
        rc = pthread_cond_timedwait(&d->cv, &d->mu, &until);
    int ok = d->ok_upto >= ticket && !d->notok;
    pthread_mutex_unlock(&d->mu);
    if (!ok)
        printf("# ticket %llu not durable after %d s\n", (unsigned long long)ticket, DURABLE_WAIT_S);
    return ok;
}

/* ---- files ---- */

static void put32(unsigned char *p, uint32_t v) { p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24; }

/* Writes a store file as store.c frames it: 8 bytes of magic, a u64 generation (0), then per
 * record [u32 length][u32 CRC-32 of the payload][payload], little-endian. */
static int write_store_file(const char *path, const char *magic, const char *const *recs)
{
    unsigned char h[16] = {0}, frame[8];
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        printf("# %s: %s\n", path, strerror(errno));
        return -1;
    }
    memcpy(h, magic, 8);
    int ok = fwrite(h, 1, sizeof(h), f) == sizeof(h);
    for (int i = 0; recs[i] != NULL; i++) {
        size_t len = strlen(recs[i]);
        put32(frame, (uint32_t)len);
        put32(frame + 4, (uint32_t)crc32(0, (const unsigned char *)recs[i], (uInt)len));
        ok = ok && fwrite(frame, 1, sizeof(frame), f) == sizeof(frame) && fwrite(recs[i], 1, len, f) == len;
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- the app ---- */

static app_t *open_app(const char *dir, const char *hitos, size_t compact_bytes, dur_t *d)
{
    app_opts_t o = {.data_dir = dir, .hitos_file = hitos, .compact_bytes = compact_bytes, .warn = on_warn};
    char e[256] = "";
    int bad = -1;
    app_t *a = app_open(&o, &bad, e, sizeof(e));
    if (a == NULL)
        printf("# app_open(%s): %s (bad_input %d)\n", dir, e, bad);
    else if (d != NULL)
        app_on_durable(a, on_durable, d);
    return a;
}

/* A test's start: a new temporary directory (*dir, for test_rmtree) and the app on it, expected
 * to open. With d, d is initialised first (for dur_free) and follows the app's durability. */
static app_t *start_app(char **dir, dur_t *d)
{
    *dir = test_tmpdir("porrio-app");
    if (d != NULL)
        dur_init(d);
    app_t *a = open_app(*dir, HITOS, 0, d);
    EXPECT(a != NULL);
    return a;
}

/* A restart: closes a and d, forgets the warnings so far when forget_warns, and opens the app on
 * dir again with compact_bytes, d (initialised anew) following it; expects that to work. */
static app_t *reopen_app(app_t *a, const char *dir, size_t compact_bytes, dur_t *d, int forget_warns)
{
    app_close(a);
    dur_free(d);
    if (forget_warns)
        warn_reset();
    dur_init(d);
    a = open_app(dir, HITOS, compact_bytes, d);
    EXPECT(a != NULL);
    return a;
}

/* The end of a test that collects warnings: prints them if it failed, forgets them, removes dir. */
static void end_with_warns(char *dir)
{
    if (test_failed_now)
        warn_print();
    warn_reset();
    test_rmtree(dir);
}

/* Lets go of an answer and clears it for the next call. */
static void done(app_result_t *r)
{
    if (r->blob != NULL)
        app_blob_release(r->blob);
    else
        free(r->body);
    memset(r, 0, sizeof(*r));
}

/* The body as a NUL-terminated copy (a shared blob is not terminated), or NULL. */
static char *body_of(const app_result_t *r)
{
    return r->body != NULL ? strndup(r->body, r->len) : NULL;
}

#define EXPECT_BODY(r, s)                                                                          \
    do {                                                                                           \
        char *b_ = body_of(&(r));                                                                  \
        EXPECT_STR(b_, s);                                                                         \
        free(b_);                                                                                  \
    } while (0)

#define EXPECT_BODY_HAS(r, s)                                                                      \
    do {                                                                                           \
        char *b_ = body_of(&(r));                                                                  \
        if (b_ == NULL || strstr(b_, s) == NULL) {                                                 \
            test_failed_now = 1;                                                                   \
            printf("# %s:%d: body \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, b_ ? b_ : "(null)", s); \
        }                                                                                          \
        free(b_);                                                                                  \
    } while (0)

/* An error answer: that status, no body, no ticket, and a message starting with prefix. */
#define EXPECT_ERR(r, st, prefix)                                                                  \
    do {                                                                                           \
        EXPECT_INT((r).status, st);                                                                \
        EXPECT((r).body == NULL && (r).blob == NULL);                                              \
        EXPECT_INT((r).ticket, 0);                                                                 \
        if (strncmp((r).err, prefix, strlen(prefix)) != 0 || (r).err[0] == '\0') {                 \
            test_failed_now = 1;                                                                   \
            printf("# %s:%d: err \"%s\", expected it to start with \"%s\"\n", __FILE__, __LINE__, \
                   (r).err, prefix);                                                               \
        }                                                                                          \
    } while (0)

/* Expects r to be a 400 for a bad body naming prefix; when it is not, says which body (of what). */
static void expect_bad_body(const app_result_t *r, const char *prefix, const char *what, const char *body)
{
    EXPECT_ERR(*r, APP_BAD_BODY, prefix);
    if (r->status != APP_BAD_BODY || strncmp(r->err, prefix, strlen(prefix)) != 0)
        printf("#   %s %s: %d %s\n", what, body, r->status, r->err);
}

/* A function, so that a call whose status is not looked at is not an unused value. */
static app_status_t status_of(const app_result_t *r) { return r->status; }

/* One call into r (after letting go of the previous answer), evaluating to its status. */
#define CREATE(a, l, v, c, y) (done(&r), app_porra_create(a, l, v, c, y, &r), status_of(&r))
#define BET(a, id, q, b) (done(&r), app_porra_bet(a, id, q, b, strlen(b), &r), status_of(&r))
#define RESULT(a, id, b) (done(&r), app_porra_result(a, id, b, strlen(b), &r), status_of(&r))
#define WINNERS(a, id) (done(&r), app_porra_winners(a, id, &r), status_of(&r))
#define GET(a, id) (done(&r), app_porra_get(a, id, &r), status_of(&r))
#define DELETE(a, id) (done(&r), app_porra_delete(a, id, &r), status_of(&r))
#define LIST(a) (done(&r), app_porras_list(a, &r), status_of(&r))
#define HITO_GET(a, id, wrap) (done(&r), app_hito_get(a, id, wrap, &r), status_of(&r))
#define HITO_ADD(a, b) (done(&r), app_hito_add(a, b, strlen(b), &r), status_of(&r))
#define HITOS_ALL(a) (done(&r), app_hitos_all(a, &r), status_of(&r))
#define HITOS_LIST(a) (done(&r), app_hitos_list(a, &r), status_of(&r))

/* Makes one of the calls above and expects its answer in r to be that error (EXPECT_ERR). */
#define EXPECT_CALL_ERR(call, st, prefix)                                                          \
    do {                                                                                           \
        (void)(call);                                                                              \
        EXPECT_ERR(r, st, prefix);                                                                 \
    } while (0)

/* The body of a read's answer (get: app_porras_list, app_hitos_all), copied; NULL unless 200. */
static char *answer_copy(app_t *a, void (*get)(app_t *, app_result_t *))
{
    app_result_t r = {0};
    get(a, &r);
    char *s = r.status == APP_OK ? body_of(&r) : NULL;
    done(&r);
    return s;
}

/* The GET /porras body, copied. */
static char *list_copy(app_t *a) { return answer_copy(a, app_porras_list); }

/* The GET /all body, copied. */
static char *hitos_all_copy(app_t *a) { return answer_copy(a, app_hitos_all); }

/* ---- 0. opening ---- */

static void test_open_errors(void)
{
    char *dir = test_tmpdir("porrio-app");
    app_opts_t o = {.data_dir = test_path(dir, "var"), .hitos_file = test_path(dir, "absent.json"), .warn = on_warn};
    char e[256] = "";
    int bad = -1;
    EXPECT(app_open(&o, &bad, e, sizeof(e)) == NULL); /* a milestones file that is not there */
    EXPECT_INT(bad, 1);
    EXPECT(e[0] != '\0');

    o.hitos_file = HITOS;
    o.data_dir = test_path(dir, "no/such/parent"); /* the store creates one level only */
    e[0] = '\0', bad = -1;
    EXPECT(app_open(&o, &bad, e, sizeof(e)) == NULL);
    EXPECT_INT(bad, 0);
    EXPECT(strstr(e, "DATA_DIR") != NULL);

    /* no milestones file at all: an empty list */
    app_t *a = open_app(test_path(dir, "var"), "", 0, NULL);
    EXPECT(a != NULL);
    if (a != NULL) {
        app_result_t r = {0};
        EXPECT_INT(HITOS_LIST(a), APP_OK);
        EXPECT_BODY(r, "[]");
        EXPECT_INT(HITO_GET(a, "0", 1), APP_NOT_FOUND);
        EXPECT_INT(LIST(a), APP_OK);
        EXPECT_BODY(r, "[]");
        done(&r);
        app_close(a);
    }
    test_rmtree(dir);
}

/* ---- 1. milestones ---- */

static void test_hitos_read(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(HITOS_ALL(a), APP_OK);
    EXPECT_BODY(r, HITOS_ALL_JSON);
    EXPECT(r.blob == NULL && r.ticket == 0);
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY(r, HITOS_LIST_JSON);
    EXPECT_INT(HITO_GET(a, "0", 1), APP_OK);
    EXPECT_BODY(r, "{\"hito\":" H0 "}");
    EXPECT_INT(HITO_GET(a, "1", 1), APP_OK);
    EXPECT_BODY(r, "{\"hito\":" H1 "}");
    EXPECT_INT(HITO_GET(a, "0", 0), APP_OK);
    EXPECT_BODY(r, H0);
    EXPECT_INT(HITO_GET(a, "1", 0), APP_OK);
    EXPECT_BODY(r, H1);

    for (int wrap = 0; wrap < 2; wrap++) {
        EXPECT_CALL_ERR(HITO_GET(a, "2", wrap), APP_NOT_FOUND, "no milestone with index 2");
        EXPECT_CALL_ERR(HITO_GET(a, "-1", wrap), APP_NOT_FOUND, "no milestone"); /* an integer, out of range */
        EXPECT_CALL_ERR(HITO_GET(a, "99999999999999999999999", wrap),
                        APP_NOT_FOUND, "no milestone"); /* too large for a long: still an integer */
        static const char *const bad[] = {"x", "1.5", "", " 1", "+1", "0x1", "1e2", "-", NULL};
        for (int i = 0; bad[i] != NULL; i++) {
            EXPECT_CALL_ERR(HITO_GET(a, bad[i], wrap), APP_BAD_PATH, "id:");
            if (r.status != APP_BAD_PATH)
                printf("#   id \"%s\" (wrap %d)\n", bad[i], wrap);
        }
    }
    done(&r);
    app_close(a);
out:
    test_rmtree(dir);
}

/* A hugely negative index is as much an integer as -1 (README, HTTP API: not an integer 400, out of
 * range 404). */
static void test_hito_huge_negative(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a != NULL) {
        app_result_t r = {0};
        EXPECT_CALL_ERR(HITO_GET(a, "-99999999999999999999999", 1), APP_NOT_FOUND, "no milestone");
        done(&r);
        app_close(a);
    }
    test_rmtree(dir);
}

/* ---- 2. pools ---- */

#define GB POOL("Granada", "Betis", "Liga", "2024")

static void test_porra_lifecycle(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT(r.ticket > 0);
    EXPECT(r.blob == NULL);
    EXPECT_BODY(r, GB);
    uint64_t t1 = r.ticket;
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* already there */
    EXPECT_INT(r.ticket, t1); /* the 200 waits until the creation is on disk */
    EXPECT_BODY(r, GB);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla_FC", "Copa.del.Rey", "2025"), APP_CREATED);
    EXPECT(r.ticket > t1);
    EXPECT_BODY(r, POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025"));

    /* each bad segment named; nothing created */
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Be-tis", "Liga", "2024"), APP_BAD_PATH, "visitante:");
    EXPECT_CALL_ERR(CREATE(a, "", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "...", "2024"), APP_BAD_PATH, "competition:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "Liga", "20 24"), APP_BAD_PATH, "year:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "Liga",
                           "12345678901234567890123456789012345678901234567890123456789012345"), /* 65 bytes */
                    APP_BAD_PATH, "year:");
    EXPECT_CALL_ERR(CREATE(a, "Gran\xC3", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:"); /* truncated UTF-8 */

    EXPECT_INT(LIST(a), APP_OK);
    EXPECT(r.blob != NULL);
    EXPECT_INT(r.ticket, 0);
    EXPECT_BODY(r, "[" GB "," POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025") "]");

    EXPECT_INT(GET(a, "Granada-Betis-Liga-2024"), APP_OK);
    EXPECT_BODY(r, GB);
    EXPECT(r.blob == NULL);
    EXPECT_CALL_ERR(GET(a, "Granada-Betis-Liga-2025"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(GET(a, "not an id"), APP_NOT_FOUND, "no pool");

    EXPECT_INT(DELETE(a, "Granada-Betis-Liga-2024"), APP_DELETED);
    EXPECT(r.body == NULL && r.blob == NULL);
    EXPECT(r.ticket > t1);
    EXPECT_CALL_ERR(DELETE(a, "Granada-Betis-Liga-2024"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(DELETE(a, "x-y"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(GET(a, "Granada-Betis-Liga-2024"), APP_NOT_FOUND, "no pool");
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025") "]");
    /* created again after the delete: new, empty */
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_BODY(r, GB);
    done(&r);
    app_close(a);
out:
    test_rmtree(dir);
}

/* ---- 3. bets, results, winners ---- */

#define PID "Granada-Betis-Liga-2024"

static void test_bets_and_results(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    const char *ok = "{\"local\":1,\"visitante\":1}";
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);

    /* path first: a bad quien wins over an unknown pool and a bad body */
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "ana maría", ok), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "", "{"), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR(BET(a, PID, "a/b", "{"), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR(BET(a, PID, "..", ok), APP_BAD_PATH, "quien:");
    /* then existence: an unknown pool wins over a bad body */
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "ana", "{"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "ana", ""), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "ana", ok), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(RESULT(a, "no-such-pool-1", "{\"local\":100}"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(RESULT(a, "no-such-pool-1", ok), APP_NOT_FOUND, "no pool");

    /* then the body, naming the field */
    static const struct {
        const char *body, *prefix;
    } bad[] = {
        {"", "body:"},
        {"{", "body:"},
        {"{\"local\":1,\"visitante\":1}x", "body:"},
        {"{\"local\":1,\"local\":2,\"visitante\":1}", "body:"}, /* duplicate key */
        {"[1,1]", "body:"},
        {"null", "body:"},
        {"{\"local\":\"1\",\"visitante\":1}", "local:"},
        {"{\"local\":1,\"visitante\":1.0}", "visitante:"},
        {"{\"local\":true,\"visitante\":1}", "local:"},
        {"{\"local\":null,\"visitante\":1}", "local:"},
        {"{\"local\":100,\"visitante\":1}", "local:"},
        {"{\"local\":1,\"visitante\":-1}", "visitante:"},
        {"{\"local\":99999999999999999999,\"visitante\":1}", "body:"}, /* jansson: too big */
        {"{\"visitante\":1}", "local:"},
        {"{\"local\":1}", "visitante:"},
        {"{}", "local:"},
        {"{\"local\":1,\"visitante\":1,\"extra\":0}", "extra:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        BET(a, PID, "ana", bad[i].body);
        expect_bad_body(&r, bad[i].prefix, "bet body", bad[i].body);
        RESULT(a, PID, bad[i].body);
        expect_bad_body(&r, bad[i].prefix, "result body", bad[i].body);
    }
    /* the body as a length, not as a C string */
    done(&r);
    app_porra_bet(a, PID, "ana", "{\"local\":1,\"visitante\":1}garbage", 25, &r);
    EXPECT_INT(r.status, APP_CREATED);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"ana\",\"local\":1,\"visitante\":1}");
    EXPECT_INT(GET(a, PID), APP_OK); /* nothing of the refused bodies got in */
    EXPECT_BODY_HAS(r, "\"apuestas\":{\"ana\":{\"local\":1,\"visitante\":1}},\"resultado\":null}");

    /* bets: new 201, replaced 200, answered with the bet itself */
    EXPECT_INT(BET(a, PID, "ana", "{\"local\":2,\"visitante\":1}"), APP_OK);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"ana\",\"local\":2,\"visitante\":1}");
    EXPECT_INT(BET(a, PID, "josé-luis", "{\"visitante\":1,\"local\":1}"), APP_CREATED);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"josé-luis\",\"local\":1,\"visitante\":1}");
    EXPECT_INT(BET(a, PID, "pepe", "{\"local\":0,\"visitante\":99}"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana", "{\"local\":1,\"visitante\":1}"), APP_OK);

    /* no winners before the result */
    EXPECT_CALL_ERR(WINNERS(a, PID), APP_CONFLICT, "no result");
    EXPECT_CALL_ERR(WINNERS(a, "no-such-pool-1"), APP_NOT_FOUND, "no pool");

    EXPECT_INT(RESULT(a, PID, "{\"local\":1,\"visitante\":1}"), APP_OK);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":\"Liga\","
                   "\"year\":\"2024\",\"apuestas\":{\"ana\":{\"local\":1,\"visitante\":1},\"josé-luis\":"
                   "{\"local\":1,\"visitante\":1},\"pepe\":{\"local\":0,\"visitante\":99}},\"resultado\":\"1-1\"}");

    /* betting closed: the state is checked last */
    EXPECT_CALL_ERR(BET(a, PID, "ana", "{\"local\":3,\"visitante\":3}"), APP_CONFLICT, "betting is closed");
    EXPECT_CALL_ERR(BET(a, PID, "nuevo", "{\"local\":3,\"visitante\":3}"), APP_CONFLICT, "betting is closed");
    EXPECT_CALL_ERR(BET(a, PID, "nuevo", "{\"local\":300}"), APP_BAD_BODY, "local:");
    EXPECT_CALL_ERR(BET(a, PID, "nu evo", "{\"local\":3,\"visitante\":3}"), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR(RESULT(a, PID, "{\"local\":1}"), APP_BAD_BODY, "visitante:");

    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_INT(r.ticket, 0);
    EXPECT_BODY(r, "{\"resultado\":\"1-1\",\"ganadores\":[\"ana\",\"josé-luis\"]}");
    /* a correction: the winners follow */
    EXPECT_INT(RESULT(a, PID, "{\"local\":0,\"visitante\":99}"), APP_OK);
    EXPECT_BODY_HAS(r, "\"resultado\":\"0-99\"}");
    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"0-99\",\"ganadores\":[\"pepe\"]}");
    EXPECT_INT(RESULT(a, PID, "{\"local\":5,\"visitante\":5}"), APP_OK);
    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"5-5\",\"ganadores\":[]}");
    done(&r);
    app_close(a);
out:
    test_rmtree(dir);
}

/* ---- 4. adding milestones ---- */

#define H2 "{\"file\":\"2.Microservicios\",\"title\":\"Microservicios\",\"fecha\":\"29/2/2020\"}"

static void test_hito_add(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED);
    EXPECT_INT(r.index, 2);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, H2);
    EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
    EXPECT_BODY(r, H2);
    EXPECT_INT(HITO_GET(a, "2", 1), APP_OK);
    EXPECT_BODY(r, "{\"hito\":" H2 "}");
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY(r, "[" H0 "," H1 "," H2 "]");
    EXPECT_INT(HITOS_ALL(a), APP_OK);
    EXPECT_BODY_HAS(r, "\"hitos_lista\":[" H0 "," H1 "," H2 "]");
    EXPECT_BODY_HAS(r, ",\"2.Microservicios\":" H2 "}}}");

    /* a file that exists: 409, from the course's file or added */
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"2.Microservicios\",\"title\":\"Otro\",\"fecha\":\"1/1/2021\"}"),
                    APP_CONFLICT, "");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"0.Repositorio\",\"title\":\"Otro\",\"fecha\":\"1/1/2021\"}"),
                    APP_CONFLICT, "");

    static const struct {
        const char *body, *prefix;
    } bad[] = {
        {"", "body:"},
        {"{", "body:"},
        {"[]", "body:"},
        {"\"x\"", "body:"},
        {"{\"file\":\"f\",\"file\":\"g\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "body:"},
        {"{\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file:"},
        {"{\"file\":\"f\",\"fecha\":\"1/1/2021\"}", "title:"},
        {"{\"file\":\"f\",\"title\":\"t\"}", "fecha:"},
        {"{\"file\":\"\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file:"},
        {"{\"file\":\"f\",\"title\":5,\"fecha\":\"1/1/2021\"}", "title:"},
        {"{\"file\":\"f\",\"title\":\"t\",\"fecha\":\"29/2/2021\"}", "fecha:"},
        {"{\"file\":\"f\",\"title\":\"t\",\"fecha\":\"2021-01-01\"}", "fecha:"},
        {"{\"file\":\"f\",\"title\":\"t\",\"fecha\":\"1/1/2021\",\"x\":1}", "x:"},
        /* the body before the state: a taken file with a bad date is a bad body */
        {"{\"file\":\"0.Repositorio\",\"title\":\"t\",\"fecha\":\"31/4/2021\"}", "fecha:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        HITO_ADD(a, bad[i].body);
        expect_bad_body(&r, bad[i].prefix, "body", bad[i].body);
    }
    char big[400];
    snprintf(big, sizeof(big), "{\"file\":\"%0257d\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", 0);
    EXPECT_CALL_ERR(HITO_ADD(a, big), APP_BAD_BODY, "file:");
    snprintf(big, sizeof(big), "{\"file\":\"%0256d\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", 0);
    EXPECT_INT(HITO_ADD(a, big), APP_CREATED); /* 256 bytes is allowed */
    EXPECT_INT(r.index, 3);
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY_HAS(r, "," H2 ",{\"file\":\"000");
    EXPECT_CALL_ERR(HITO_GET(a, "4", 0), APP_NOT_FOUND, "no milestone with index 4");
    done(&r);
    app_close(a);
out:
    test_rmtree(dir);
}

/* ---- 5. durability through reopen ---- */

/* Makes a series of changes; returns the highest ticket, 0 when something went wrong. */
static uint64_t some_changes(app_t *a, const char *tag)
{
    app_result_t r = {0};
    uint64_t max = 0;
    int bad = 0;
    char id[128];
#define STEP(call, st)                                                                             \
    do {                                                                                           \
        if ((call) != (st) || r.ticket == 0) {                                                     \
            bad = 1;                                                                               \
            printf("# %s:%d: %s gave %d (%s)\n", __FILE__, __LINE__, #call, r.status, r.err);      \
        }                                                                                          \
        if (r.ticket > max)                                                                        \
            max = r.ticket;                                                                        \
    } while (0)
    for (int i = 0; i < 4; i++) {
        char vis[32];
        snprintf(vis, sizeof(vis), "V%d", i);
        STEP(CREATE(a, tag, vis, "Liga", "2024"), APP_CREATED);
        snprintf(id, sizeof(id), "%s-%s-Liga-2024", tag, vis);
        STEP(BET(a, id, "ana", "{\"local\":1,\"visitante\":0}"), APP_CREATED);
        STEP(BET(a, id, "luis", "{\"local\":2,\"visitante\":2}"), APP_CREATED);
        STEP(BET(a, id, "ana", "{\"local\":2,\"visitante\":2}"), APP_OK); /* replaced */
    }
    snprintf(id, sizeof(id), "%s-V1-Liga-2024", tag);
    STEP(RESULT(a, id, "{\"local\":2,\"visitante\":2}"), APP_OK);
    STEP(RESULT(a, id, "{\"local\":1,\"visitante\":0}"), APP_OK); /* corrected */
    snprintf(id, sizeof(id), "%s-V2-Liga-2024", tag);
    STEP(DELETE(a, id), APP_DELETED);
    snprintf(id, sizeof(id), "%s-V3-Liga-2024", tag);
    STEP(DELETE(a, id), APP_DELETED);
    STEP(CREATE(a, tag, "V3", "Liga", "2024"), APP_CREATED); /* again, after its delete: empty */
    char body[256];
    snprintf(body, sizeof(body), "{\"file\":\"%s\",\"title\":\"Añadido\",\"fecha\":\"1/12/2023\"}", tag);
    STEP(HITO_ADD(a, body), APP_CREATED);
#undef STEP
    done(&r);
    return bad ? 0 : max;
}

/* The state as seen through the API: pools, each pool's winners, milestones. */
static char *snapshot_state(app_t *a)
{
    char *list = list_copy(a), *all = hitos_all_copy(a);
    app_result_t r = {0};
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "%s\n%s\n", list ? list : "(null)", all ? all : "(null)");
    json_t *pools = list != NULL ? json_loads(list, 0, NULL) : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(pools, i, p) {
        const char *id = json_string_value(json_object_get(p, "ID"));
        WINNERS(a, id);
        char *b = body_of(&r);
        len += (size_t)snprintf(s + len, cap - len, "%s: %d %s\n", id, r.status, b ? b : "-");
        free(b);
    }
    json_decref(pools);
    done(&r);
    free(list);
    free(all);
    return s;
}

static void test_durability(void)
{
    char *dir;
    dur_t d;
    app_t *a = start_app(&dir, &d);
    if (a == NULL)
        goto out;
    uint64_t max = some_changes(a, "A");
    EXPECT(max > 0);
    EXPECT(wait_durable(&d, max));
    char *before = snapshot_state(a);
    char *list = list_copy(a), *all = hitos_all_copy(a);
    /* what was done is what is there */
    EXPECT(list != NULL && strstr(list, "\"A-V0-Liga-2024\"") && strstr(list, "\"A-V1-Liga-2024\"") &&
           !strstr(list, "\"A-V2-Liga-2024\"") && strstr(list, "\"A-V3-Liga-2024\""));
    EXPECT(list != NULL && strstr(list, "\"resultado\":\"1-0\"") &&
           strstr(list, "\"apuestas\":{\"ana\":{\"local\":2,\"visitante\":2},\"luis\":{\"local\":2,\"visitante\":2}}"));
    EXPECT(list != NULL && strstr(list, POOL("A", "V3", "Liga", "2024")));
    EXPECT(all != NULL && strstr(all, "\"A\":{\"file\":\"A\",\"title\":\"Añadido\",\"fecha\":\"1/12/2023\"}"));

    /* reopened: the same, byte for byte */
    a = reopen_app(a, dir, 0, &d, 1);
    if (a == NULL)
        goto done;
    EXPECT_INT(warn_count(""), 0);
    char *list2 = list_copy(a), *all2 = hitos_all_copy(a), *after = snapshot_state(a);
    EXPECT_STR(list2, list);
    EXPECT_STR(all2, all);
    EXPECT_STR(after, before);
    free(list2), free(all2), free(after);

    /* the same through compaction: a tiny threshold snapshots the state again and again */
    a = reopen_app(a, dir, 64, &d, 0);
    if (a == NULL)
        goto done;
    max = some_changes(a, "B");
    EXPECT(max > 0);
    EXPECT(wait_durable(&d, max));
    struct stat st;
    EXPECT(stat(test_path(dir, "snapshot"), &st) == 0); /* compaction did happen */
    free(before);
    before = snapshot_state(a);
    a = reopen_app(a, dir, 0, &d, 0);
    if (a == NULL)
        goto done;
    after = snapshot_state(a);
    EXPECT_STR(after, before);
    EXPECT(strstr(after, "\"B-V3-Liga-2024\"") != NULL && strstr(after, "\"A-V3-Liga-2024\"") != NULL &&
           strstr(after, "\"B-V2-Liga-2024\"") == NULL);
    EXPECT_INT(warn_count(""), 0);
    free(after);
    app_close(a);
done:
    dur_free(&d);
    free(before), free(list), free(all);
out:
    end_with_warns(dir);
}

/* ---- 6. the shared GET /porras answer ---- */

static void test_list_blob(void)
{
    char *dir;
    app_t *a = start_app(&dir, NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0}, l1 = {0}, l2 = {0}, l3 = {0}, l4 = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    done(&r);

    app_porras_list(a, &l1);
    app_porras_list(a, &l2);
    EXPECT_INT(l1.status, APP_OK);
    EXPECT_INT(l2.status, APP_OK);
    EXPECT(l1.blob != NULL);
    EXPECT(l1.blob == l2.blob); /* shared, not serialised again */
    EXPECT(l1.body == l2.body && l1.len == l2.len);
    EXPECT_BODY(l1, "[" GB "]");
    char *copy = body_of(&l2);

    app_blob_release(l1.blob); /* one reader lets go: the other and the cache still hold it */
    memset(&l1, 0, sizeof(l1));
    EXPECT(l2.len == strlen("[" GB "]") && memcmp(l2.body, "[" GB "]", l2.len) == 0);
    app_porras_list(a, &l1);
    EXPECT(l1.blob == l2.blob);
    done(&l1);

    /* reads and no-op writes keep it */
    EXPECT_INT(GET(a, PID), APP_OK);
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK);
    EXPECT_INT(BET(a, "no-such-pool-1", "ana", "{\"local\":1,\"visitante\":1}"), APP_NOT_FOUND);
    EXPECT_INT(BET(a, PID, "ana", "{\"local\":100,\"visitante\":1}"), APP_BAD_BODY);
    EXPECT_INT(HITO_ADD(a, H0), APP_CONFLICT);
    done(&r);
    app_porras_list(a, &l1);
    EXPECT(l1.blob == l2.blob);
    done(&l1);

    /* a change: a new answer; the old one stays valid until released */
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    done(&r);
    app_porras_list(a, &l3);
    EXPECT(l3.blob != NULL && l3.blob != l2.blob);
    EXPECT_BODY(l3, "[" GB "," POOL("Málaga", "Sevilla", "Copa", "2025") "]");
    EXPECT(copy != NULL && l2.len == strlen(copy) && memcmp(l2.body, copy, l2.len) == 0);

    /* every kind of change renews it */
    EXPECT_INT(BET(a, PID, "ana", "{\"local\":1,\"visitante\":1}"), APP_CREATED);
    done(&r);
    app_porras_list(a, &l4);
    EXPECT(l4.blob != l3.blob);
    EXPECT_BODY_HAS(l4, "\"apuestas\":{\"ana\":{\"local\":1,\"visitante\":1}}");
    done(&l4);
    EXPECT_INT(RESULT(a, PID, "{\"local\":1,\"visitante\":1}"), APP_OK);
    done(&r);
    app_porras_list(a, &l4);
    EXPECT_BODY_HAS(l4, "\"resultado\":\"1-1\"");
    done(&l4);
    EXPECT_INT(DELETE(a, PID), APP_DELETED);
    done(&r);
    app_porras_list(a, &l4);
    EXPECT_BODY(l4, "[" POOL("Málaga", "Sevilla", "Copa", "2025") "]");
    /* the old answers still read as they were */
    EXPECT(copy != NULL && l2.len == strlen(copy) && memcmp(l2.body, copy, l2.len) == 0);
    EXPECT_BODY(l3, "[" GB "," POOL("Málaga", "Sevilla", "Copa", "2025") "]");
    done(&l2);
    done(&l3);

    /* an answer outlives the app (the cache's reference goes at close, the reader's stays) */
    app_close(a);
    EXPECT_BODY(l4, "[" POOL("Málaga", "Sevilla", "Copa", "2025") "]");
    done(&l4);
    free(copy);
    app_blob_release(NULL); /* a no-op */
out:
    test_rmtree(dir);
}

/* ---- 7. garbage in the journal ---- */

static void test_journal_garbage(void)
{
    char *dir = test_tmpdir("porrio-app");
    static const char *const recs[] = {
        "this is not JSON",
        "[\"porra.create\",\"A\",\"B\",\"C\",\"1\"]",                                   /* not an object */
        "{\"op\":\"porra.create\",\"local\":1,\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}", /* wrong types */
        "{\"op\":\"porra.create\",\"local\":\"A-x\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}", /* bad segment */
        "{\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}",   /* no op */
        "{\"op\":\"porra.frobnicate\",\"ID\":\"A-B-C-1\"}",                             /* unknown op */
        "{\"op\":\"drop.everything\"}",                                                 /* unknown domain */
        "{\"op\":\"porra.bet\",\"ID\":\"A-B-C-1\",\"quien\":\"ana\",\"local\":1,\"visitante\":1}", /* no pool yet */
        "{\"op\":\"porra.create\",\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}", /* valid */
        "{\"op\":\"porra.create\",\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}", /* again */
        "{\"op\":\"porra.bet\",\"ID\":\"A-B-C-1\",\"quien\":\"ana\",\"local\":100,\"visitante\":1}", /* out of range */
        "{\"op\":\"porra.delete\",\"ID\":\"X-B-C-1\"}",                                 /* no such pool */
        "{\"op\":\"hito.add\",\"file\":\"f\",\"title\":\"t\",\"fecha\":\"30/2/2020\"}", /* bad date */
        "{\"op\":\"hito.add\",\"file\":\"0.Repositorio\",\"title\":\"t\",\"fecha\":\"1/1/2020\"}", /* taken */
        NULL,
    };
    int nbad = (int)(sizeof(recs) / sizeof(recs[0])) - 2; /* all but the first create */
    if (write_store_file(test_path(dir, "journal"), "PORRIOJ1", recs) != 0) {
        EXPECT(0);
        goto out;
    }
    warn_reset();
    dur_t d;
    dur_init(&d);
    app_t *a = open_app(dir, HITOS, 0, &d);
    EXPECT(a != NULL);
    if (a == NULL)
        goto free_d;
    EXPECT_INT(warn_count("skipped"), nbad);
    EXPECT_INT(warn_count(""), nbad); /* nothing else: no cut tail */
    EXPECT_INT(warn_count("not JSON"), 1);
    app_result_t r = {0};
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOL("A", "B", "C", "1") "]");
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY(r, HITOS_LIST_JSON);
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(st.porras, 1);
    EXPECT_INT(st.hitos, 2);
    EXPECT_INT(st.writable, 1);

    /* the store goes on after them */
    EXPECT_INT(BET(a, "A-B-C-1", "ana", "{\"local\":1,\"visitante\":1}"), APP_CREATED);
    uint64_t t = r.ticket;
    EXPECT(wait_durable(&d, t));
    done(&r);

    a = reopen_app(a, dir, 0, &d, 1);
    if (a == NULL)
        goto free_d;
    EXPECT_INT(warn_count("skipped"), nbad);
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[{\"ID\":\"A-B-C-1\",\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\","
                   "\"apuestas\":{\"ana\":{\"local\":1,\"visitante\":1}},\"resultado\":null}]");
    done(&r);
    app_close(a);
free_d:
    dur_free(&d);
out:
    end_with_warns(dir);
}

/* ---- 8. many threads ---- */

#define NTHREADS 4
#define PER_THREAD 250

typedef struct {
    app_t *a;
    int t, bad;
    uint64_t max_ticket;
} worker_t;

static int stop_listing;

static void *worker(void *p)
{
    worker_t *w = p;
    app_result_t r = {0};
    char loc[16], vis[16], id[64], body[64];
    snprintf(loc, sizeof(loc), "T%d", w->t);
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(vis, sizeof(vis), "P%03d", i);
        snprintf(id, sizeof(id), "%s-%s-Liga-2024", loc, vis);
        snprintf(body, sizeof(body), "{\"local\":%d,\"visitante\":%d}", i % 100, w->t);
        char q[16];
        snprintf(q, sizeof(q), "q%d", w->t);
        if (CREATE(w->a, loc, vis, "Liga", "2024") != APP_CREATED || r.ticket == 0 || r.body == NULL)
            w->bad++;
        if (r.ticket > w->max_ticket)
            w->max_ticket = r.ticket;
        if (BET(w->a, id, q, body) != APP_CREATED || r.ticket == 0 || r.body == NULL)
            w->bad++;
        if (r.ticket > w->max_ticket)
            w->max_ticket = r.ticket;
    }
    done(&r);
    return NULL;
}

typedef struct {
    app_t *a;
    long rounds, bad;
} lister_t;

static void *lister(void *p)
{
    lister_t *l = p;
    while (!__atomic_load_n(&stop_listing, __ATOMIC_ACQUIRE)) {
        app_result_t r = {0};
        app_porras_list(l->a, &r);
        if (r.status != APP_OK || r.blob == NULL || r.len < 2 || r.body[0] != '[' || r.body[r.len - 1] != ']')
            l->bad++;
        else if (l->rounds % 16 == 0) { /* now and then: whole, valid JSON */
            json_t *j = json_loadb(r.body, r.len, 0, NULL);
            if (!json_is_array(j))
                l->bad++;
            json_decref(j);
        }
        done(&r);
        app_stats_t st;
        app_stats(l->a, &st);
        l->rounds++;
    }
    return NULL;
}

/* Every pool of every worker, with its one bet. */
static int check_all_pools(app_t *a)
{
    app_result_t r = {0};
    int bad = 0;
    char id[64], want[512];
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            snprintf(id, sizeof(id), "T%d-P%03d-Liga-2024", t, i);
            snprintf(want, sizeof(want),
                     "{\"ID\":\"%s\",\"local\":\"T%d\",\"visitante\":\"P%03d\",\"competition\":\"Liga\","
                     "\"year\":\"2024\",\"apuestas\":{\"q%d\":{\"local\":%d,\"visitante\":%d}},\"resultado\":null}",
                     id, t, i, t, i % 100, t);
            char *b = GET(a, id) == APP_OK ? body_of(&r) : NULL;
            if (b == NULL || strcmp(b, want) != 0) {
                if (bad++ < 5)
                    printf("# %s: %s\n", id, b ? b : r.err);
            }
            free(b);
        }
    LIST(a);
    json_t *j = r.status == APP_OK ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    if (json_array_size(j) != NTHREADS * PER_THREAD) {
        printf("# the list holds %zu pools\n", json_array_size(j));
        bad++;
    }
    json_decref(j);
    done(&r);
    return bad;
}

static void test_concurrency(void)
{
    char *dir;
    dur_t d;
    app_t *a = start_app(&dir, &d);
    if (a == NULL)
        goto out;
    pthread_t th[NTHREADS], lt;
    worker_t w[NTHREADS];
    lister_t l = {.a = a};
    stop_listing = 0;
    EXPECT_INT(pthread_create(&lt, NULL, lister, &l), 0);
    for (int t = 0; t < NTHREADS; t++) {
        w[t] = (worker_t){.a = a, .t = t};
        EXPECT_INT(pthread_create(&th[t], NULL, worker, &w[t]), 0);
    }
    uint64_t max = 0;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        EXPECT_INT(w[t].bad, 0);
        if (w[t].max_ticket > max)
            max = w[t].max_ticket;
    }
    __atomic_store_n(&stop_listing, 1, __ATOMIC_RELEASE);
    pthread_join(lt, NULL);
    EXPECT_INT(l.bad, 0);
    EXPECT(l.rounds > 0);
    EXPECT_INT(max, 2 * NTHREADS * PER_THREAD); /* one ticket per change, none shared */
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(st.porras, NTHREADS * PER_THREAD);
    EXPECT_INT(st.appends, 2 * NTHREADS * PER_THREAD);
    EXPECT_INT(check_all_pools(a), 0);
    EXPECT(wait_durable(&d, max));
    char *list = list_copy(a);

    a = reopen_app(a, dir, 0, &d, 0);
    if (a != NULL) {
        char *list2 = list_copy(a);
        EXPECT(list != NULL && list2 != NULL && strcmp(list, list2) == 0);
        EXPECT_INT(check_all_pools(a), 0);
        app_stats(a, &st);
        EXPECT_INT(st.porras, NTHREADS * PER_THREAD);
        free(list2);
        app_close(a);
    }
    free(list);
out:
    dur_free(&d);
    test_rmtree(dir);
}

/* ---- 9. figures ---- */

static void test_stats(void)
{
    char *dir;
    dur_t d;
    app_t *a = start_app(&dir, &d);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    app_stats_t st, prev;
    app_stats(a, &st);
    EXPECT_INT(st.porras, 0);
    EXPECT_INT(st.hitos, 2);
    EXPECT_INT(st.appends, 0);
    EXPECT_INT(st.journal_bytes, 16); /* just the header */
    EXPECT_INT(st.writable, 1);
    EXPECT_INT(app_writable(a), 1);

#define AFTER(call, status, np, nh, na)                                                \
    do {                                                                                           \
        prev = st;                                                                                 \
        EXPECT_INT(call, status);                                                                  \
        app_stats(a, &st);                                                                         \
        EXPECT_INT(st.porras, np);                                                             \
        EXPECT_INT(st.hitos, nh);                                                               \
        EXPECT_INT(st.appends, na);                                                           \
        if (st.appends > prev.appends)                                                             \
            EXPECT(st.journal_bytes > prev.journal_bytes);                                         \
        else                                                                                       \
            EXPECT_INT(st.journal_bytes, prev.journal_bytes);                                      \
    } while (0)
    AFTER(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED, 1, 2, 1);
    AFTER(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK, 1, 2, 1);
    AFTER(CREATE(a, "Gra-nada", "Betis", "Liga", "2024"), APP_BAD_PATH, 1, 2, 1);
    AFTER(CREATE(a, "Málaga", "Betis", "Liga", "2024"), APP_CREATED, 2, 2, 2);
    AFTER(BET(a, PID, "ana", "{\"local\":1,\"visitante\":1}"), APP_CREATED, 2, 2, 3);
    AFTER(BET(a, PID, "ana", "{\"local\":1,\"visitante\":2}"), APP_OK, 2, 2, 4);
    AFTER(BET(a, PID, "ana", "{\"local\":1}"), APP_BAD_BODY, 2, 2, 4);
    AFTER(RESULT(a, PID, "{\"local\":1,\"visitante\":2}"), APP_OK, 2, 2, 5);
    AFTER(BET(a, PID, "luis", "{\"local\":1,\"visitante\":2}"), APP_CONFLICT, 2, 2, 5);
    AFTER(WINNERS(a, PID), APP_OK, 2, 2, 5);
    AFTER(HITO_ADD(a, H2), APP_CREATED, 2, 3, 6);
    AFTER(HITO_ADD(a, H2), APP_CONFLICT, 2, 3, 6);
    AFTER(DELETE(a, PID), APP_DELETED, 1, 3, 7);
    AFTER(DELETE(a, PID), APP_NOT_FOUND, 1, 3, 7);
#undef AFTER
    EXPECT(wait_durable(&d, 7));
    app_stats(a, &st);
    EXPECT(st.fsyncs >= 1 && st.fsyncs <= 7);
    uint64_t bytes = st.journal_bytes;
    done(&r);

    a = reopen_app(a, dir, 0, &d, 0);
    if (a != NULL) {
        app_stats(a, &st);
        EXPECT_INT(st.porras, 1);
        EXPECT_INT(st.hitos, 3);
        EXPECT_INT(st.appends, 0); /* since open */
        EXPECT_INT(st.fsyncs, 0);
        EXPECT_INT(st.journal_bytes, bytes);
        app_close(a);
    }
out:
    dur_free(&d);
    test_rmtree(dir);
}

/* ---- 10. a store that cannot write ---- */

static void test_unavailable(void)
{
    char *dir = test_tmpdir("porrio-app");
    /* the state sits in a snapshot; the journal cannot be created (a directory holds its name) */
    static const char *const recs[] = {
        "{\"op\":\"porra.create\",\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":\"Liga\",\"year\":\"2024\"}",
        "{\"op\":\"porra.bet\",\"ID\":\"" PID "\",\"quien\":\"ana\",\"local\":1,\"visitante\":1}",
        "{\"op\":\"hito.add\",\"file\":\"2.Microservicios\",\"title\":\"Microservicios\",\"fecha\":\"29/2/2020\"}",
        NULL,
    };
    if (write_store_file(test_path(dir, "snapshot"), "PORRIOS1", recs) != 0 ||
        mkdir(test_path(dir, "journal"), 0755) != 0) {
        EXPECT(0);
        goto out;
    }
    warn_reset();
    app_t *a = open_app(dir, HITOS, 0, NULL);
    EXPECT(a != NULL);
    if (a == NULL)
        goto out;
    EXPECT_INT(warn_count("not writable"), 1);
    EXPECT_INT(app_writable(a), 0);
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(st.writable, 0);
    EXPECT_INT(st.porras, 1);
    EXPECT_INT(st.hitos, 3);

    app_result_t r = {0}, l = {0};
    const char *pool = "{\"ID\":\"" PID "\",\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":\"Liga\","
                       "\"year\":\"2024\",\"apuestas\":{\"ana\":{\"local\":1,\"visitante\":1}},\"resultado\":null}";
    app_porras_list(a, &l);
    EXPECT_INT(l.status, APP_OK);
    char want[512];
    snprintf(want, sizeof(want), "[%s]", pool);
    EXPECT_BODY(l, want);

    /* every write: 503, with a message, and nothing changed */
    EXPECT_CALL_ERR(CREATE(a, "Málaga", "Betis", "Liga", "2024"), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(BET(a, PID, "luis", "{\"local\":1,\"visitante\":1}"), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(BET(a, PID, "ana", "{\"local\":2,\"visitante\":1}"), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(RESULT(a, PID, "{\"local\":1,\"visitante\":1}"), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(DELETE(a, PID), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"3\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_UNAVAILABLE, "");
    EXPECT(strstr(r.err, "not writable") != NULL);
    EXPECT_INT(r.index, -1);
    /* the checks before the store still answer as they do */
    EXPECT_CALL_ERR(CREATE(a, "Má-laga", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:");
    EXPECT_CALL_ERR(BET(a, PID, "luis", "{\"local\":100,\"visitante\":1}"), APP_BAD_BODY, "local:");
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "luis", "{\"local\":1,\"visitante\":1}"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"0.Repositorio\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"),
                    APP_CONFLICT, "");
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* there: no write needed */
    EXPECT_BODY(r, pool);

    /* reads keep answering, and the state is as it was */
    EXPECT_INT(GET(a, PID), APP_OK);
    EXPECT_BODY(r, pool);
    EXPECT_CALL_ERR(GET(a, "Málaga-Betis-Liga-2024"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(WINNERS(a, PID), APP_CONFLICT, "no result");
    EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
    EXPECT_BODY(r, H2);
    EXPECT_CALL_ERR(HITO_GET(a, "3", 0), APP_NOT_FOUND, "no milestone");
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY(r, "[" H0 "," H1 "," H2 "]");
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT(r.blob == l.blob); /* refused writes do not even touch the cached answer */
    EXPECT_BODY(r, want);
    app_stats(a, &st);
    EXPECT_INT(st.appends, 0);
    EXPECT_INT(st.porras, 1);
    EXPECT_INT(st.hitos, 3);
    done(&r);
    done(&l);
    app_close(a);
    struct stat sb;
    EXPECT(stat(test_path(dir, "journal.tmp"), &sb) != 0); /* no leftovers */
out:
    end_with_warns(dir);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_open_errors);
    RUN(test_hitos_read);
    RUN(test_hito_huge_negative);
    RUN(test_porra_lifecycle);
    RUN(test_bets_and_results);
    RUN(test_hito_add);
    RUN(test_durability);
    RUN(test_list_blob);
    RUN(test_journal_garbage);
    RUN(test_concurrency);
    RUN(test_stats);
    RUN(test_unavailable);
    return TEST_END();
}
