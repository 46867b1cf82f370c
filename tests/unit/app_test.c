/* The application layer: every operation's answer and its order of checks, versions and their
 * publication (readers never see a change before its ticket is DURABLE, and never wait), failed
 * fsyncs, listings, memory, compaction, the first format's upgrade, verify and recover, and many
 * threads at once. Faults come from this binary's own fdatasync and ftruncate, which take the
 * place of libc's (faults.h). */
#include "app/app.h"
#include "pmap/pmap.h"
#include "pvec/pvec.h"
#include "faults.h"
#include "test.h"
#include "tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Run from the repository's top directory: the course's two milestones. */
#define HITOS "data/hitos.json"
#define J1    "journal-0000000000000001"
#define S1    "snapshot-0000000000000001"

#define H0              "{\"file\":\"0.Repositorio\",\"title\":\"Git y GitHub\",\"fecha\":\"21/09/2017\"}"
#define H1              "{\"file\":\"1.Infraestructura\",\"title\":\"Infraestructura del proyecto\",\"fecha\":\"28/9/2017\"}"
#define H2              "{\"file\":\"2.Microservicios\",\"title\":\"Microservicios\",\"fecha\":\"29/2/2020\"}"
#define HITOS_LIST_JSON "[" H0 "," H1 "]"
#define HITOS_ALL_JSON                                                                             \
    "{\"hitos\":{\"comment\":\"Hitos del proyecto de IV http://jj.github.io/IV\",\"hitos_lista\":" \
    "[" H0 "," H1 "],\"hitos\":{\"0.Repositorio\":" H0 ",\"1.Infraestructura\":" H1 "}}}"

/* A pool: bets is what "apuestas" holds (BETJ pieces joined by ','), res the JSON of "resultado". */
#define POOLX(l, v, c, y, bets, res)                                                                                          \
    "{\"ID\":\"" l "-" v "-" c "-" y "\",\"local\":\"" l "\",\"visitante\":\"" v "\",\"competition\":\"" c "\",\"year\":\"" y \
    "\",\"apuestas\":{" bets "},\"resultado\":" res "}"
#define POOL(l, v, c, y) POOLX(l, v, c, y, "", "null")
#define BETJ(q, l, v)    "\"" q "\":{\"local\":" #l ",\"visitante\":" #v "}"
#define SCORE(l, v)      "{\"local\":" #l ",\"visitante\":" #v "}"

#define PID "Granada-Betis-Liga-2024"
#define GB  POOL("Granada", "Betis", "Liga", "2024")
#define MS  "Málaga-Sevilla-Copa-2025"
#define MSP POOL("Málaga", "Sevilla", "Copa", "2025")

/* A function run on another thread, to show that it does not wait for something held here. */
typedef struct {
    pthread_t th;
    void (*fn)(void *);
    void *arg;
    int done; /* under fault_mu */
} aside_t;

static void *aside_main(void *p)
{
    aside_t *s = p;
    s->fn(s->arg);
    pthread_mutex_lock(&fault_mu);
    s->done = 1;
    pthread_cond_broadcast(&fault_cv);
    pthread_mutex_unlock(&fault_mu);
    return NULL;
}

/* Runs fn(arg) on a new thread: 1 when it returned within WAIT_S. Join s->th afterwards, once
 * whatever it could be waiting for is released. */
static int aside_run(aside_t *s, void (*fn)(void *), void *arg)
{
    *s = (aside_t){.fn = fn, .arg = arg};
    if (pthread_create(&s->th, NULL, aside_main, s) != 0) {
        printf("# pthread_create failed\n");
        exit(2);
    }
    return wait_for(&s->done, 1);
}

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

/* app_opts_t.info, into the same list: "info: " and the message. */
static void on_info(const char *msg)
{
    char line[512];
    snprintf(line, sizeof(line), "info: %s", msg);
    on_warn(line);
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

/* ---- strings and files ---- */

typedef struct {
    char *p; /* NUL-terminated */
    size_t len, cap;
} str_t;

static void str_add(str_t *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        if ((s->p = realloc(s->p, s->cap)) == NULL)
            exit(2);
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void str_addf(str_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_addf(str_t *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(buf)) { /* a test's own mistake: say so rather than cut */
        printf("# str_addf: %d bytes of \"%.40s\" do not fit\n", n, fmt);
        exit(2);
    }
    str_add(s, buf, (size_t)n);
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (f == NULL)
        return NULL;
    str_t s = {0};
    char buf[4096];
    size_t n;
    str_add(&s, "", 0);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        str_add(&s, buf, n);
    fclose(f);
    *len = s.len;
    return (unsigned char *)s.p;
}

static int write_whole(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(p, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int exists(const char *dir, const char *name)
{
    return access(test_path(dir, name), F_OK) == 0;
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A first-format file (docs/store.md): 8 bytes of magic, the generation as a u64, then per record
 * [u32 length][u32 CRC-32 of the payload][payload], little-endian. */
static int write_v1(const char *path, const char *magic, uint64_t gen, const char *const *recs)
{
    str_t s = {0};
    unsigned char h[16], frame[8];
    memcpy(h, magic, 8);
    le32(h + 8, (uint32_t)gen);
    le32(h + 12, (uint32_t)(gen >> 32));
    str_add(&s, (const char *)h, sizeof(h));
    for (int i = 0; recs[i] != NULL; i++) {
        size_t len = strlen(recs[i]);
        le32(frame, (uint32_t)len);
        le32(frame + 4, (uint32_t)crc32(0, (const unsigned char *)recs[i], (uInt)len));
        str_add(&s, (const char *)frame, sizeof(frame));
        str_add(&s, recs[i], len);
    }
    int rc = write_whole(path, s.p, s.len);
    free(s.p);
    return rc;
}

/* The offsets of the record frames of a second-format file (b, len): at most max; how many. */
static size_t frames(const unsigned char *b, size_t len, size_t *off, size_t max)
{
    size_t n = 0;
    for (size_t at = 32; at + 8 <= len && n < max; n++) {
        off[n] = at;
        at += 8 + (b[at] | (size_t)b[at + 1] << 8 | (size_t)b[at + 2] << 16);
    }
    return n;
}

/* Flips every bit of byte `at` of dir/name. */
static int flip(const char *dir, const char *name, size_t at)
{
    size_t len;
    const char *path = test_path(dir, name);
    unsigned char *b = read_whole(path, &len);
    int rc = b != NULL && at < len ? 0 : -1;
    if (rc == 0) {
        b[at] ^= 0xff;
        rc = write_whole(path, b, len);
    }
    free(b);
    return rc;
}

/* Every file of dir — name, size, CRC-32 — sorted by name: equal digests, equal files. malloc'd. */
static char *dir_digest(const char *dir)
{
    struct dirent **names;
    str_t s = {0};
    str_add(&s, "", 0);
    int n = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t len;
            unsigned char *b = read_whole(test_path(dir, names[i]->d_name), &len);
            str_addf(&s, "%s %zu %08lx\n", names[i]->d_name, len, b ? crc32(0, b, (uInt)len) : 0ul);
            free(b);
        }
        free(names[i]);
    }
    free(n >= 0 ? names : NULL);
    return s.p;
}

/* 1 when dir holds a complete snapshot of the second format (not only one being written). */
static int has_snapshot(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int yes = 0;
    while (d != NULL && (e = readdir(d)) != NULL)
        yes |= strncmp(e->d_name, "snapshot-", 9) == 0 && strstr(e->d_name, ".tmp") == NULL;
    if (d != NULL)
        closedir(d);
    return yes;
}

/* ---- the app ---- */

static app_t *open_with(const char *dir, const char *hitos, size_t compact_bytes, int *bad, store_error_t *e)
{
    app_opts_t o = {.data_dir = dir, .hitos_file = hitos, .compact_bytes = compact_bytes, .warn = on_warn, .info = on_info};
    *bad = -1;
    return app_open(&o, bad, e);
}

/* The app on dir with the course's milestones; NULL (and a diagnostic) when it does not open. */
static app_t *open_app(const char *dir, size_t compact_bytes)
{
    int bad;
    store_error_t e;
    app_t *a = open_with(dir, HITOS, compact_bytes, &bad, &e);
    if (a == NULL)
        printf("# app_open(%s): %s at %s:%lld (bad_input %d)\n", dir, e.problem, e.file, e.offset, bad);
    return a;
}

/* A test's start: a new temporary directory (*dir) and the app on it, expected to open. */
static app_t *start_app(char **dir)
{
    *dir = test_tmpdir("porrio-app");
    app_t *a = open_app(*dir, 0);
    EXPECT(a != NULL);
    return a;
}

/* A restart: closes a and opens the app on dir again, expecting it to open. */
static app_t *reopen_app(app_t *a, const char *dir, size_t compact_bytes)
{
    app_close(a);
    a = open_app(dir, compact_bytes);
    EXPECT(a != NULL);
    return a;
}

/* The end of a test: faults off, warnings printed if it failed and forgotten, dir removed. */
static void end_test(char *dir)
{
    set_faults(0, 0, -1);
    release_fsync();
    if (test_failed_now)
        warn_print();
    warn_reset();
    test_rmtree(dir);
}

static int durable(app_t *a, uint64_t t)
{
    return ticket_wait(app_ledger(a), t) == TICKET_DURABLE;
}

/* Waits for every change so far: 1 when the newest is DURABLE. */
static int settle(app_t *a)
{
    return durable(a, ticket_last_issued(app_ledger(a)));
}

/* Lets go of an answer and clears it for the next call. */
static void done(app_result_t *r)
{
    app_result_release(r);
    memset(r, 0, sizeof(*r));
}

/* A listing's pieces, at most max (<= 256) per app_list_next, concatenated: a NUL-terminated
 * malloc'd copy, or NULL (and a diagnostic) when r holds no listing or the pieces do not add up
 * to r->len. Uses the listing up. No EXPECT: any thread may call it. */
static char *list_text(app_result_t *r, size_t max)
{
    app_piece_t pieces[256];
    size_t n, calls = 0;
    str_t s = {0};
    if (r->list == NULL || max == 0 || max > 256)
        return NULL;
    str_add(&s, "", 0);
    while ((n = app_list_next(r->list, pieces, max)) > 0 && n <= max && calls++ < 1000000)
        for (size_t i = 0; i < n; i++)
            str_add(&s, pieces[i].base, pieces[i].len);
    if (n > max || s.len != r->len) {
        printf("# a listing of %zu bytes (r.len %zu; %zu pieces in the last call, max %zu)\n", s.len, r->len, n, max);
        free(s.p);
        return NULL;
    }
    return s.p;
}

/* The body as a NUL-terminated copy (a listing's pieces joined), or NULL. */
static char *body_of(app_result_t *r)
{
    return r->list != NULL ? list_text(r, 16) : r->body != NULL ? strndup(r->body, r->len) : NULL;
}

#define EXPECT_BODY(r, s)         \
    do {                          \
        char *b_ = body_of(&(r)); \
        EXPECT_STR(b_, s);        \
        free(b_);                 \
    } while (0)

#define EXPECT_BODY_HAS(r, s)                                                                         \
    do {                                                                                              \
        char *b_ = body_of(&(r));                                                                     \
        if (b_ == NULL || strstr(b_, s) == NULL) {                                                    \
            test_failed_now = 1;                                                                      \
            printf("# %s:%d: body \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, b_ ? b_ : "(null)", s); \
        }                                                                                             \
        free(b_);                                                                                     \
    } while (0)

/* An error answer: that status, no body, nothing held, no ticket, a message starting with prefix. */
#define EXPECT_ERR(r, st, prefix)                                                                                   \
    do {                                                                                                            \
        EXPECT_INT((r).status, st);                                                                                 \
        EXPECT((r).body == NULL && (r).list == NULL && (r).hold == NULL && (r).owned == NULL);                      \
        /* a 404, 409, 412 or 400 decided against pending changes waits for them: it may carry one */               \
        if ((st) != APP_NOT_FOUND && (st) != APP_CONFLICT && (st) != APP_BAD_BODY && (st) != APP_STALE)             \
            EXPECT_INT((r).ticket, 0);                                                                              \
        if (strncmp((r).err, prefix, strlen(prefix)) != 0 || (r).err[0] == '\0') {                                  \
            test_failed_now = 1;                                                                                    \
            printf("# %s:%d: err \"%s\", expected it to start with \"%s\"\n", __FILE__, __LINE__, (r).err, prefix); \
        }                                                                                                           \
    } while (0)

/* Expects r to be a 400 for a bad body naming prefix; when it is not, says which body (of what). */
static void expect_bad_body(const app_result_t *r, const char *prefix, const char *what, const char *body)
{
    EXPECT_ERR(*r, APP_BAD_BODY, prefix);
    if (r->status != APP_BAD_BODY || strncmp(r->err, prefix, strlen(prefix)) != 0)
        printf("#   %s %s: %d %s\n", what, body, r->status, r->err);
}

/* A function, so that a call whose status is not looked at is not an unused value. */
static app_status_t status_of(const app_result_t *r)
{
    return r->status;
}

/* One call into r (after letting go of the previous answer), evaluating to its status. */
#define CREATE(a, l, v, c, y) (done(&r), app_porra_create(a, l, v, c, y, &r), status_of(&r))
#define BET(a, id, q, b)      (done(&r), app_porra_bet(a, id, q, b, strlen(b), NULL, &r), status_of(&r))
#define RESULT(a, id, b)      (done(&r), app_porra_result(a, id, b, strlen(b), NULL, &r), status_of(&r))
#define WINNERS(a, id)        (done(&r), app_porra_winners(a, id, &r), status_of(&r))
#define GET(a, id)            (done(&r), app_porra_get(a, id, &r), status_of(&r))
#define DELETE(a, id)         (done(&r), app_porra_delete(a, id, NULL, &r), status_of(&r))
#define LIST(a)               (done(&r), app_porras_list(a, NULL, 0, &r), status_of(&r))
#define PAGE(a, after, n)     (done(&r), app_porras_list(a, after, n, &r), status_of(&r))
#define HITO_GET(a, id, wrap) (done(&r), app_hito_get(a, id, wrap, &r), status_of(&r))
#define HITO_ADD(a, b)        (done(&r), app_hito_add(a, b, strlen(b), &r), status_of(&r))
#define HITOS_ALL(a)          (done(&r), app_hitos_all(a, &r), status_of(&r))
#define HITOS_LIST(a)         (done(&r), app_hitos_list(a, &r), status_of(&r))

/* Makes one of the calls above and expects its answer in r to be that error (EXPECT_ERR). */
#define EXPECT_CALL_ERR(call, st, prefix) \
    do {                                  \
        (void)(call);                     \
        EXPECT_ERR(r, st, prefix);        \
    } while (0)

/* The body of a read's answer (GET /hitos or GET /all), copied; NULL unless 200. */
static char *answer_copy(app_t *a, void (*get)(app_t *, app_result_t *))
{
    app_result_t r = {0};
    get(a, &r);
    char *s = r.status == APP_OK ? body_of(&r) : NULL;
    done(&r);
    return s;
}

static char *hitos_all_copy(app_t *a)
{
    return answer_copy(a, app_hitos_all);
}
static char *hitos_list_copy(app_t *a)
{
    return answer_copy(a, app_hitos_list);
}

/* GET /porras (every pool, in creation order), copied; NULL unless 200. */
static char *list_copy(app_t *a)
{
    app_result_t r = {0};
    app_porras_list(a, NULL, 0, &r);
    char *s = r.status == APP_OK && r.ticket == 0 && r.body == NULL ? list_text(&r, 16) : NULL;
    done(&r);
    return s;
}

/* Polls (bounded) until the store counts n compactions since open; 1 when it does. */
static int wait_compactions(app_t *a, uint64_t n)
{
    app_stats_t st;
    app_stats(a, &st);
    for (int i = 0; i < 2000 && st.store.compactions < n; i++) {
        nanosleep(&(struct timespec){0, 5000000}, NULL);
        app_stats(a, &st);
    }
    return st.store.compactions >= n;
}

/* What readers see, gathered by view() (on any thread). */
typedef struct {
    app_t *a;
    char *pool, *list, *hitos;          /* GET /porras/PID, GET /porras, GET /hitos */
    app_status_t other, winners, hito2; /* GET /porras/MS, GET /porras/PID/ganadores, GET /hitos/2 */
    uint64_t tickets;                   /* the reads' tickets, added up: reads never wait */
    app_stats_t st;
} view_t;

static void view(void *p)
{
    view_t *v = p;
    app_result_t r = {0};
    v->pool = GET(v->a, PID) == APP_OK ? body_of(&r) : NULL;
    v->tickets = r.ticket;
    v->other = GET(v->a, MS);
    v->tickets += r.ticket;
    v->winners = WINNERS(v->a, PID);
    v->tickets += r.ticket;
    v->hito2 = HITO_GET(v->a, "2", 0);
    v->tickets += r.ticket;
    v->hitos = HITOS_LIST(v->a) == APP_OK ? body_of(&r) : NULL;
    v->tickets += r.ticket;
    done(&r);
    v->list = list_copy(v->a);
    app_stats(v->a, &v->st);
}

/* Runs view on another thread, expecting it to return at once even while fsyncs are held. */
static void view_aside(view_t *v, app_t *a)
{
    aside_t s;
    *v = (view_t){.a = a};
    EXPECT(aside_run(&s, view, v));
    if (!s.done) /* blocked: let it go before the test goes on */
        release_fsync();
    pthread_join(s.th, NULL);
    EXPECT_INT(v->tickets, 0);
}

static void view_free(view_t *v)
{
    free(v->pool), free(v->list), free(v->hitos);
    v->pool = v->list = v->hitos = NULL;
}

/* ---- 0. opening ---- */

static void test_open_errors(void)
{
    char *dir = test_tmpdir("porrio-app");
    char var[512];
    snprintf(var, sizeof(var), "%s/var", dir);
    store_error_t e;
    int bad;
    /* the milestones file is the problem: bad_input 1, and the store is not even looked at */
    static const struct {
        const char *name, *text, *says;
    } files[] = {
        {"absent.json", NULL, "absent.json"},
        {"bad.json", "{\"comment\":\"x\",", "bad.json"},
        {"shape.json", "{\"comment\":\"x\",\"hitos_lista\":[{\"file\":\"f\",\"title\":\"t\",\"fecha\":\"30/2/2020\"}]}", "fecha"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        if (files[i].text != NULL)
            EXPECT_INT(write_whole(path, files[i].text, strlen(files[i].text)), 0);
        EXPECT(open_with(var, path, 0, &bad, &e) == NULL);
        EXPECT_INT(bad, 1);
        EXPECT_INT(e.damaged, 0);
        if (strstr(e.problem, files[i].says) == NULL) {
            test_failed_now = 1;
            printf("# %s: problem \"%s\" does not say \"%s\"\n", files[i].name, e.problem, files[i].says);
        }
        EXPECT(!exists(dir, "var"));
    }

    /* the store is the problem: bad_input 0 */
    EXPECT(open_with(test_path(dir, "no/such/parent"), HITOS, 0, &bad, &e) == NULL); /* one level only */
    EXPECT_INT(bad, 0);
    EXPECT_INT(e.damaged, 0);
    EXPECT(strstr(e.problem, "DATA_DIR") != NULL);

    /* one process per directory */
    app_t *a = open_app(var, 0);
    EXPECT(a != NULL);
    EXPECT(open_with(var, HITOS, 0, &bad, &e) == NULL);
    EXPECT_INT(bad, 0);
    EXPECT_INT(e.damaged, 0);
    EXPECT(strstr(e.problem, "in use") != NULL);
    app_close(a);

    /* no milestones file at all: an empty list */
    a = open_with(var, "", 0, &bad, &e);
    EXPECT(a != NULL);
    if (a != NULL) {
        app_result_t r = {0};
        EXPECT_INT(HITOS_LIST(a), APP_OK);
        EXPECT_BODY(r, "[]");
        EXPECT_INT(HITO_GET(a, "0", 1), APP_NOT_FOUND);
        EXPECT_INT(LIST(a), APP_OK);
        EXPECT_INT(r.len, 2);
        EXPECT_BODY(r, "[]");
        done(&r);
        app_close(a);
    }
    app_close(NULL); /* a no-op */
    end_test(dir);
}

/* Six changes, durable; the app closed. */
static void six_changes(const char *dir)
{
    app_t *a = open_app(dir, 0);
    EXPECT(a != NULL);
    if (a == NULL)
        return;
    app_result_t r = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana", SCORE(1, 1)), APP_CREATED);
    EXPECT_INT(BET(a, MS, "luis", SCORE(2, 1)), APP_CREATED);
    EXPECT_INT(RESULT(a, PID, SCORE(1, 1)), APP_OK);
    EXPECT_INT(BET(a, MS, "pepe", SCORE(0, 0)), APP_CREATED);
    EXPECT(settle(a));
    done(&r);
    app_close(a);
}

#define SIX_LIST                                                     \
    "[" POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1), \
              "\"1-1\"") "," POOLX("Málaga", "Sevilla", "Copa", "2025", BETJ("luis", 2, 1) "," BETJ("pepe", 0, 0), "null") "]"

/* A damaged store does not open, says where, and is left exactly as it was. */
static void test_damaged_store(void)
{
    char *dir = test_tmpdir("porrio-app");
    six_changes(dir);
    size_t len, off[16];
    unsigned char *b = read_whole(test_path(dir, J1), &len);
    size_t n = b != NULL ? frames(b, len, off, 16) : 0;
    free(b);
    EXPECT_INT(n, 6);
    if (n != 6)
        goto out;
    /* a payload byte of the third record (a CRC-32 failure), then a length byte (a CRC-8 one) */
    const size_t at[2] = {off[2] + 8 + 3, off[2] + 1};
    const char *says[2] = {"checksum", "length"};
    for (int k = 0; k < 2; k++) {
        EXPECT_INT(flip(dir, J1, at[k]), 0);
        char *before = dir_digest(dir), *after;
        int bad;
        store_error_t e;
        EXPECT(open_with(dir, HITOS, 0, &bad, &e) == NULL);
        EXPECT_INT(bad, 0);
        EXPECT_INT(e.damaged, 1);
        EXPECT_STR(e.file, test_path(dir, J1));
        EXPECT_INT(e.offset, off[2]);
        if (strstr(e.problem, says[k]) == NULL || strstr(e.problem, "3 valid records follow") == NULL) {
            test_failed_now = 1;
            printf("# problem \"%s\"\n", e.problem);
        }
        after = dir_digest(dir);
        EXPECT_STR(after, before); /* not a byte changed, nothing added or removed */
        free(before), free(after);
        EXPECT_INT(flip(dir, J1, at[k]), 0);
    }
    /* mended: it opens (the failed opens left no lock behind) with everything */
    app_t *a = open_app(dir, 0);
    EXPECT(a != NULL);
    char *list = a != NULL ? list_copy(a) : NULL;
    EXPECT_STR(list, SIX_LIST);
    free(list);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 1. milestones ---- */

static void test_hitos_read(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(HITOS_ALL(a), APP_OK);
    EXPECT_BODY(r, HITOS_ALL_JSON);
    EXPECT(r.ticket == 0 && r.list == NULL);
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
    EXPECT_INT(r.ticket, 0);

    for (int wrap = 0; wrap < 2; wrap++) {
        EXPECT_CALL_ERR(HITO_GET(a, "2", wrap), APP_NOT_FOUND, "no milestone with index 2");
        EXPECT_CALL_ERR(HITO_GET(a, "99999999999999999999999", wrap), APP_NOT_FOUND,
                        "no milestone with index 99999999999999999999999"); /* too large for a long */
        /* one spelling per index: a sign, leading zeros or spaces never reach milestone 0 or 1 */
        static const char *const bad[] = {"x",  "1.5", "",   " 1", "+1", "0x1", "1e2", "-",   "--1", "-1",
                                          "-0", "+0",  "00", "01", "0 ", " 0",  "-00", "001", "\t0", "-99999999999999999999999",
                                          NULL};
        for (int i = 0; bad[i] != NULL; i++) {
            EXPECT_CALL_ERR(HITO_GET(a, bad[i], wrap), APP_BAD_PATH, "id:");
            if (r.status != APP_BAD_PATH)
                printf("#   id \"%s\" (wrap %d)\n", bad[i], wrap);
        }
    }
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* A malformed pool ID is a bad path (400) on every route that takes one, before its existence or
 * its body are looked at; a well-formed unknown one is 404. */
static void test_bad_pool_id(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    const char *ok = SCORE(1, 1);
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT(settle(a));
    static const char *const bad[] = {
        "",         "x",          "x-y", "a-b-c", "a-b-c-d-e", "a--b-c", "Granada-Betis-Liga-2024-", "Granada-Betis-Liga-20 24",
        "..-b-c-d", "a-b-c-\xC3", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        EXPECT_CALL_ERR(GET(a, bad[i]), APP_BAD_PATH, "ID: must be local-visitante-competition-year");
        EXPECT_CALL_ERR(DELETE(a, bad[i]), APP_BAD_PATH, "ID:");
        EXPECT_CALL_ERR(BET(a, bad[i], "ana", "not json"), APP_BAD_PATH, "ID:");
        EXPECT_CALL_ERR(RESULT(a, bad[i], ok), APP_BAD_PATH, "ID:");
        EXPECT_CALL_ERR(WINNERS(a, bad[i]), APP_BAD_PATH, "ID:");
        if (test_failed_now)
            printf("#   ID \"%s\"\n", bad[i]);
    }
    EXPECT_CALL_ERR(GET(a, "Granada-Betis-Liga-2025"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(WINNERS(a, "Granada-Betis-Liga-2025"), APP_NOT_FOUND, "no pool");
    EXPECT_INT(GET(a, PID), APP_OK);
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 2. pools ---- */

static void test_porra_lifecycle(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT(r.ticket > 0);
    EXPECT(r.list == NULL);
    EXPECT_BODY(r, GB);
    uint64_t t1 = r.ticket;
    EXPECT(durable(a, t1));
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* already there, durable */
    EXPECT_INT(ticket_state(app_ledger(a), r.ticket), TICKET_DURABLE);
    EXPECT_BODY(r, GB);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla_FC", "Copa.del.Rey", "2025"), APP_CREATED);
    EXPECT(r.ticket > t1);
    EXPECT_BODY(r, POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025"));

    /* each bad segment named; nothing created */
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Be-tis", "Liga", "2024"), APP_BAD_PATH, "visitante:");
    EXPECT_CALL_ERR(CREATE(a, "", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "...", "2024"), APP_BAD_PATH, "competition:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "Liga", "20 24"), APP_BAD_PATH, "year:");
    EXPECT_CALL_ERR(
        CREATE(a, "Granada", "Betis", "Liga", "12345678901234567890123456789012345678901234567890123456789012345"), /* 65 bytes */
        APP_BAD_PATH, "year:");
    /* truncated UTF-8 */
    EXPECT_CALL_ERR(CREATE(a, "Gran\xC3", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:");
    EXPECT_CALL_ERR(CREATE(a, "Granada", "Betis", "Liga", "2024/"), APP_BAD_PATH, "year:");

    EXPECT(settle(a));
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT(r.list != NULL && r.body == NULL);
    EXPECT_INT(r.ticket, 0);
    EXPECT_STR(r.next, "");
    EXPECT_BODY(r, "[" GB "," POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025") "]");

    EXPECT_INT(GET(a, PID), APP_OK);
    EXPECT_BODY(r, GB);
    EXPECT(r.list == NULL && r.ticket == 0);
    EXPECT_CALL_ERR(GET(a, "Granada-Betis-Liga-2025"), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(GET(a, "not an id"), APP_BAD_PATH, "ID:");
    EXPECT_CALL_ERR(GET(a, ""), APP_BAD_PATH, "ID:");

    EXPECT_INT(DELETE(a, PID), APP_DELETED);
    EXPECT(r.body == NULL && r.list == NULL && r.hold == NULL && r.owned == NULL);
    EXPECT(r.ticket > t1);
    EXPECT(durable(a, r.ticket));
    EXPECT_CALL_ERR(DELETE(a, PID), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(DELETE(a, "x-y"), APP_BAD_PATH, "ID:");
    EXPECT_CALL_ERR(GET(a, PID), APP_NOT_FOUND, "no pool");
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025") "]");
    /* created again after the delete: new, empty, and last in creation order */
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_BODY(r, GB);
    EXPECT(durable(a, r.ticket));
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOL("Málaga", "Sevilla_FC", "Copa.del.Rey", "2025") "," GB "]");
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* One expectation of a writer (If-Match): the versions given, or any when n is 0 and any is set. */
static app_match_t expect_versions(int any, size_t n, const uint64_t *v)
{
    app_match_t m = {.given = 1, .any = any, .n = n};
    if (n > 0) /* v may be NULL then, which memcpy may not be given */
        memcpy(m.versions, v, n * sizeof(*v));
    return m;
}

/* Versions of answers, and writes that expect one: the check is made against the head, in the
 * writer's hold, so of two correctors who read the same version only the first writes. The
 * check comes after the path and before existence and the body. */
static void test_if_match(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(r.of, APP_OF_POOL);
    uint64_t v1 = r.version;
    EXPECT(settle(a));
    EXPECT_INT(GET(a, PID), APP_OK);
    EXPECT_INT(r.of, APP_OF_POOL);
    EXPECT_INT(r.version, v1);
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_INT(r.of, APP_OF_POOLS);
    uint64_t all1 = r.version;
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_INT(r.of, APP_OF_HITOS);
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(r.version, st.hitos); /* they are only ever added: their count numbers them */

    /* two correctors read v1; the first writes, the second is told the pool moved on */
    app_match_t read = expect_versions(0, 1, &v1), none = {0};
    done(&r);
    app_porra_result(a, PID, SCORE(1, 0), strlen(SCORE(1, 0)), &read, &r);
    EXPECT_INT(r.status, APP_OK);
    EXPECT_INT(r.of, APP_OF_POOL);
    uint64_t v2 = r.version;
    EXPECT(v2 != v1);
    EXPECT_CALL_ERR((done(&r), app_porra_result(a, PID, SCORE(2, 0), strlen(SCORE(2, 0)), &read, &r), 0), APP_STALE,
                    "the pool has changed");
    EXPECT(settle(a));
    EXPECT_INT(GET(a, PID), APP_OK);
    EXPECT_INT(r.version, v2);
    EXPECT_BODY_HAS(r, "\"resultado\":\"1-0\"");
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT(r.version != all1);

    /* one of several versions; "*"; none given; an expectation of nothing */
    uint64_t several[] = {v1, v2, 999};
    app_match_t either = expect_versions(0, 3, several), any = expect_versions(1, 0, NULL);
    app_match_t nothing = expect_versions(0, 0, NULL);
    done(&r);
    app_porra_result(a, PID, SCORE(1, 1), strlen(SCORE(1, 1)), &either, &r);
    EXPECT_INT(r.status, APP_OK);
    uint64_t v3 = r.version;
    done(&r);
    app_porra_result(a, PID, SCORE(2, 2), strlen(SCORE(2, 2)), &any, &r);
    EXPECT_INT(r.status, APP_OK);
    done(&r);
    app_porra_result(a, PID, SCORE(3, 3), strlen(SCORE(3, 3)), &none, &r);
    EXPECT_INT(r.status, APP_OK);
    EXPECT_CALL_ERR((done(&r), app_porra_result(a, PID, SCORE(0, 0), 15, &nothing, &r), 0), APP_STALE, "the pool");

    /* the order: the path (400), then the expectation (412), then existence and the body */
    read = expect_versions(0, 1, &v3);
    EXPECT_CALL_ERR((done(&r), app_porra_bet(a, PID, "a b", "{}", 2, &read, &r), 0), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR((done(&r), app_porra_bet(a, PID, "ana", "{", 1, &read, &r), 0), APP_STALE, "the pool");
    EXPECT_CALL_ERR((done(&r), app_porra_bet(a, "No-Such-Pool-1", "ana", "{", 1, &any, &r), 0), APP_STALE, "no pool");
    EXPECT_CALL_ERR((done(&r), app_porra_delete(a, "No-Such-Pool-1", &any, &r), 0), APP_STALE, "no pool");
    EXPECT_CALL_ERR((done(&r), app_porra_delete(a, PID, &read, &r), 0), APP_STALE, "the pool");
    EXPECT(settle(a));
    EXPECT_INT(GET(a, PID), APP_OK); /* not deleted */
    read = expect_versions(0, 1, &r.version);
    done(&r);
    app_porra_delete(a, PID, &read, &r);
    EXPECT_INT(r.status, APP_DELETED);
    EXPECT_CALL_ERR((done(&r), app_porra_delete(a, PID, &any, &r), 0), APP_STALE, "no pool");
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 3. bets, results, winners ---- */

static void test_bets_and_results(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    const char *ok = SCORE(1, 1);
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
    app_porra_bet(a, PID, "ana", "{\"local\":1,\"visitante\":1}garbage", 25, NULL, &r);
    EXPECT_INT(r.status, APP_CREATED);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"ana\",\"local\":1,\"visitante\":1}");
    EXPECT(settle(a));
    EXPECT_INT(GET(a, PID), APP_OK); /* nothing of the refused bodies got in */
    EXPECT_BODY(r, POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1), "null"));

    /* bets: new 201, replaced 200, answered with the bet itself */
    EXPECT_INT(BET(a, PID, "ana", SCORE(2, 1)), APP_OK);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"ana\",\"local\":2,\"visitante\":1}");
    EXPECT_INT(BET(a, PID, "josé-luis", "{\"visitante\":1,\"local\":1}"), APP_CREATED);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, "{\"ID\":\"" PID "\",\"quien\":\"josé-luis\",\"local\":1,\"visitante\":1}");
    EXPECT_INT(BET(a, PID, "pepe", SCORE(0, 99)), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana", SCORE(1, 1)), APP_OK);
    EXPECT(settle(a));

    /* no winners before the result */
    EXPECT_CALL_ERR(WINNERS(a, PID), APP_CONFLICT, "no result");
    EXPECT_CALL_ERR(WINNERS(a, "no-such-pool-1"), APP_NOT_FOUND, "no pool");

    EXPECT_INT(RESULT(a, PID, SCORE(1, 1)), APP_OK);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1) "," BETJ("josé-luis", 1, 1) "," BETJ("pepe", 0, 99),
                         "\"1-1\""));
    EXPECT(settle(a));

    /* betting closed: the state is checked last */
    EXPECT_CALL_ERR(BET(a, PID, "ana", SCORE(3, 3)), APP_CONFLICT, "betting is closed");
    EXPECT_CALL_ERR(BET(a, PID, "nuevo", SCORE(3, 3)), APP_CONFLICT, "betting is closed");
    EXPECT_CALL_ERR(BET(a, PID, "nuevo", "{\"local\":300}"), APP_BAD_BODY, "local:");
    EXPECT_CALL_ERR(BET(a, PID, "nu evo", SCORE(3, 3)), APP_BAD_PATH, "quien:");
    EXPECT_CALL_ERR(RESULT(a, PID, "{\"local\":1}"), APP_BAD_BODY, "visitante:");

    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_INT(r.ticket, 0);
    EXPECT_BODY(r, "{\"resultado\":\"1-1\",\"ganadores\":[\"ana\",\"josé-luis\"]}");
    /* a correction: the winners follow */
    EXPECT_INT(RESULT(a, PID, SCORE(0, 99)), APP_OK);
    EXPECT_BODY_HAS(r, "\"resultado\":\"0-99\"}");
    EXPECT(settle(a));
    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"0-99\",\"ganadores\":[\"pepe\"]}");
    EXPECT_INT(RESULT(a, PID, SCORE(5, 5)), APP_OK);
    EXPECT(settle(a));
    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"5-5\",\"ganadores\":[]}");
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 4. adding milestones ---- */

static void test_hito_add(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED);
    EXPECT_INT(r.index, 2);
    EXPECT(r.ticket > 0);
    EXPECT_BODY(r, H2);
    EXPECT(durable(a, r.ticket));
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
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"2.Microservicios\",\"title\":\"Otro\",\"fecha\":\"1/1/2021\"}"), APP_CONFLICT, "");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"0.Repositorio\",\"title\":\"Otro\",\"fecha\":\"1/1/2021\"}"), APP_CONFLICT, "");

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
        /* a file name, never a path or a line break */
        {"{\"file\":\"../etc\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a/b\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\\\b\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\".\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"..\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\nb\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\rb\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\tb\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\u007fb\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
        {"{\"file\":\"a\\u0085b\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}", "file: must be a file name"},
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
    /* dots inside a name, and non-ASCII letters, are a file name */
    EXPECT_INT(HITO_ADD(a, "{\"file\":\"...\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CREATED);
    EXPECT_INT(HITO_ADD(a, "{\"file\":\"3.Año\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CREATED);
    EXPECT_INT(r.index, 5);
    EXPECT(settle(a));
    EXPECT_INT(HITOS_LIST(a), APP_OK);
    EXPECT_BODY_HAS(r, "," H2 ",{\"file\":\"000");
    EXPECT_CALL_ERR(HITO_GET(a, "6", 0), APP_NOT_FOUND, "no milestone with index 6");
    done(&r);

    /* and they are there after a restart */
    a = reopen_app(a, dir, 0);
    if (a != NULL) {
        EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
        EXPECT_BODY(r, H2);
        EXPECT_INT(HITO_GET(a, "3", 0), APP_OK);
        EXPECT_BODY_HAS(r, "{\"file\":\"000");
        done(&r);
        app_close(a);
    }
out:
    end_test(dir);
}

/* MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS: a write past one is 409 naming it and changes nothing;
 * what is already there (an existing pool, a bettor replacing a bet) is not refused; the limits
 * change while the app runs. */
static void test_limits(void)
{
    char *dir = test_tmpdir("porrio-app");
    int bad;
    store_error_t e;
    app_opts_t o = {.data_dir = dir, .hitos_file = HITOS, .warn = on_warn, .limits = {.pools = 2, .bets_per_pool = 2, .hitos = 3}};
    app_t *a = app_open(&o, &bad, &e);
    EXPECT(a != NULL);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    const char *ok = SCORE(1, 0);
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    EXPECT_CALL_ERR(CREATE(a, "Third", "Pool", "Liga", "2024"), APP_CONFLICT, "MAX_POOLS reached: 2 pools, at most 2");
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* already there: no new pool */
    EXPECT_BODY(r, GB);

    EXPECT_INT(BET(a, PID, "ana", ok), APP_CREATED);
    EXPECT_INT(BET(a, PID, "bea", ok), APP_CREATED);
    EXPECT_CALL_ERR(BET(a, PID, "carla", ok), APP_CONFLICT, "MAX_BETS_PER_POOL reached: 2 bets in this pool, at most 2");
    EXPECT_INT(BET(a, PID, "ana", SCORE(2, 2)), APP_OK); /* replacing a bet adds none */
    EXPECT_INT(BET(a, MS, "carla", ok), APP_CREATED);    /* per pool */
    /* the checks before it still come first */
    EXPECT_CALL_ERR(BET(a, PID, "carla", "{}"), APP_BAD_BODY, "local:");
    EXPECT_INT(RESULT(a, PID, ok), APP_OK);
    EXPECT_CALL_ERR(BET(a, PID, "carla", ok), APP_CONFLICT, "betting is closed");

    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED); /* the file's two and this one */
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"3.X\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CONFLICT,
                    "MAX_HITOS reached: 3 milestones, at most 3");
    EXPECT_CALL_ERR(HITO_ADD(a, H2), APP_CONFLICT, "file:"); /* taken: said first */
    EXPECT(settle(a));
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 2, 2) "," BETJ("bea", 1, 0),
                             "\"1-0\"") "," POOLX("Málaga", "Sevilla", "Copa", "2025", BETJ("carla", 1, 0), "null") "]");

    /* a deleted pool makes room; raised limits take effect at once, lowered ones too */
    EXPECT_INT(DELETE(a, MS), APP_DELETED);
    EXPECT_INT(CREATE(a, "Third", "Pool", "Liga", "2024"), APP_CREATED);
    app_set_limits(a, &(app_limits_t){.pools = 3, .bets_per_pool = 3, .hitos = 4});
    EXPECT_INT(CREATE(a, "Fourth", "Pool", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(HITO_ADD(a, "{\"file\":\"3.X\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CREATED);
    app_set_limits(a, &(app_limits_t){.pools = 1, .bets_per_pool = 1, .hitos = 1});
    EXPECT_CALL_ERR(CREATE(a, "Fifth", "Pool", "Liga", "2024"), APP_CONFLICT, "MAX_POOLS reached: 3 pools, at most 1");
    EXPECT_INT(BET(a, "Third-Pool-Liga-2024", "ana", ok), APP_CREATED);
    EXPECT_CALL_ERR(BET(a, "Third-Pool-Liga-2024", "bea", ok), APP_CONFLICT, "MAX_BETS_PER_POOL reached");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"4.X\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CONFLICT, "MAX_HITOS");
    done(&r);
    app_set_limits(a, &(app_limits_t){0}); /* 0: no limit */
    EXPECT_INT(CREATE(a, "Fifth", "Pool", "Liga", "2024"), APP_CREATED);
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 5. durability through reopen and compaction ---- */

/* Makes a series of changes and waits for them; 1 when each answered as expected and all are durable. */
static int some_changes(app_t *a, const char *tag)
{
    app_result_t r = {0};
    int good = 1;
    char id[128];
#define STEP(call, st)                                                                        \
    do {                                                                                      \
        if ((call) != (st) || r.ticket == 0) {                                                \
            good = 0;                                                                         \
            printf("# %s:%d: %s gave %d (%s)\n", __FILE__, __LINE__, #call, r.status, r.err); \
        }                                                                                     \
    } while (0)
    for (int i = 0; i < 4; i++) {
        char vis[32];
        snprintf(vis, sizeof(vis), "V%d", i);
        STEP(CREATE(a, tag, vis, "Liga", "2024"), APP_CREATED);
        snprintf(id, sizeof(id), "%s-%s-Liga-2024", tag, vis);
        STEP(BET(a, id, "ana", SCORE(1, 0)), APP_CREATED);
        STEP(BET(a, id, "luis", SCORE(2, 2)), APP_CREATED);
        STEP(BET(a, id, "ana", SCORE(2, 2)), APP_OK); /* replaced */
    }
    snprintf(id, sizeof(id), "%s-V1-Liga-2024", tag);
    STEP(RESULT(a, id, SCORE(2, 2)), APP_OK);
    STEP(RESULT(a, id, SCORE(1, 0)), APP_OK); /* corrected */
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
    return good && settle(a);
}

/* The state as seen through the API: pools, each pool's winners, milestones. */
static char *snapshot_state(app_t *a)
{
    char *list = list_copy(a), *all = hitos_all_copy(a);
    app_result_t r = {0};
    str_t s = {0};
    const char *parts[4] = {list ? list : "(null)", "\n", all ? all : "(null)", "\n"};
    for (int k = 0; k < 4; k++)
        str_add(&s, parts[k], strlen(parts[k]));
    json_t *pools = list != NULL ? json_loads(list, 0, NULL) : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(pools, i, p)
    {
        const char *id = json_string_value(json_object_get(p, "ID"));
        WINNERS(a, id);
        char *b = body_of(&r);
        str_addf(&s, "%s: %d %s\n", id, r.status, b ? b : "-");
        free(b);
    }
    json_decref(pools);
    done(&r);
    free(list);
    free(all);
    return s.p;
}

static void test_durability(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    char *before = NULL, *after = NULL, *list = NULL, *all = NULL;
    if (a == NULL)
        goto out;
    EXPECT(some_changes(a, "A"));
    before = snapshot_state(a);
    list = list_copy(a), all = hitos_all_copy(a);
    /* what was done is what is there */
    EXPECT(list != NULL && strstr(list, "\"A-V0-Liga-2024\"") && strstr(list, "\"A-V1-Liga-2024\"") &&
           !strstr(list, "\"A-V2-Liga-2024\"") && strstr(list, "\"A-V3-Liga-2024\""));
    EXPECT(list != NULL && strstr(list, "\"resultado\":\"1-0\"") &&
           strstr(list, "\"apuestas\":{" BETJ("ana", 2, 2) "," BETJ("luis", 2, 2) "}"));
    EXPECT(list != NULL && strstr(list, POOL("A", "V3", "Liga", "2024")));
    EXPECT(all != NULL && strstr(all, "\"A\":{\"file\":\"A\",\"title\":\"Añadido\",\"fecha\":\"1/12/2023\"}"));

    /* reopened: the same, byte for byte, without a warning */
    warn_reset();
    if ((a = reopen_app(a, dir, 0)) == NULL)
        goto out;
    EXPECT_INT(warn_count(""), 0);
    char *list2 = list_copy(a), *all2 = hitos_all_copy(a);
    after = snapshot_state(a);
    EXPECT_STR(list2, list);
    EXPECT_STR(all2, all);
    EXPECT_STR(after, before);
    free(list2), free(all2), free(after);

    /* the same through compaction: a tiny threshold snapshots the state again and again */
    if ((a = reopen_app(a, dir, 64)) == NULL)
        goto out;
    EXPECT(some_changes(a, "B"));
    EXPECT(wait_compactions(a, 1));
    EXPECT(has_snapshot(dir));
    free(before);
    before = snapshot_state(a);
    if ((a = reopen_app(a, dir, 0)) == NULL)
        goto out;
    after = snapshot_state(a);
    EXPECT_STR(after, before);
    EXPECT(strstr(after, "\"B-V3-Liga-2024\"") != NULL && strstr(after, "\"A-V3-Liga-2024\"") != NULL &&
           strstr(after, "\"B-V2-Liga-2024\"") == NULL);
    EXPECT_INT(warn_count(""), 0);
    app_close(a);
out:
    free(before), free(after), free(list), free(all);
    end_test(dir);
}

/* ---- 6. readers never see what is not durable, and never wait ---- */

#define GB_DONE POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1), "\"1-1\"")
#define MS_DONE POOLX("Málaga", "Sevilla", "Copa", "2025", BETJ("luis", 2, 1), "null")

static void test_pending_invisible(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    ticket_ledger_t *l = app_ledger(a);
    app_result_t r = {0}, w[6];
    memset(w, 0, sizeof(w));
    view_t v;
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT(durable(a, r.ticket));

    /* the committer is held inside fdatasync: every change from now on stays pending */
    hold_fsync();
    app_porra_create(a, "Málaga", "Sevilla", "Copa", "2025", &w[0]);
    EXPECT_INT(w[0].status, APP_CREATED);
    EXPECT(fsync_held());
    app_porra_bet(a, PID, "ana", SCORE(1, 1), strlen(SCORE(1, 1)), NULL, &w[1]);
    app_hito_add(a, H2, strlen(H2), &w[2]);
    app_porra_create(a, "Málaga", "Sevilla", "Copa", "2025", &w[3]);             /* found in a pending change */
    app_porra_bet(a, MS, "luis", SCORE(2, 1), strlen(SCORE(2, 1)), NULL, &w[4]); /* writers plan on the head */
    app_porra_result(a, PID, SCORE(1, 1), strlen(SCORE(1, 1)), NULL, &w[5]);
    const app_status_t want[6] = {APP_CREATED, APP_CREATED, APP_CREATED, APP_OK, APP_CREATED, APP_OK};
    for (int i = 0; i < 6; i++) {
        EXPECT_INT(w[i].status, want[i]);
        EXPECT(w[i].ticket > 0);
        EXPECT_INT(ticket_state(l, w[i].ticket), TICKET_PENDING);
        if (i > 0 && i != 3 && i != 4)
            EXPECT(w[i].ticket > w[i - 1].ticket);
    }
    EXPECT_INT(w[2].index, 2);
    EXPECT_BODY(w[3], MSP);
    EXPECT_INT(w[3].ticket, w[2].ticket); /* the newest ticket issued when it was answered */
    EXPECT(w[4].ticket > w[2].ticket);
    /* the head holds the result: the 409 it decides waits for the newest ticket */
    EXPECT_CALL_ERR(BET(a, PID, "pepe", SCORE(1, 1)), APP_CONFLICT, "betting is closed");
    EXPECT_INT(r.ticket, w[5].ticket);
    /* so does a 400 for the body of a bet on a pool that exists in pending changes alone */
    EXPECT_CALL_ERR(BET(a, MS, "pepe", "{"), APP_BAD_BODY, "body:");
    EXPECT_INT(r.ticket, w[5].ticket);

    /* readers, on another thread: at once, and the durable state only */
    view_aside(&v, a);
    EXPECT_STR(v.pool, GB);
    EXPECT_INT(v.other, APP_NOT_FOUND);
    EXPECT_INT(v.winners, APP_CONFLICT);
    EXPECT_INT(v.hito2, APP_NOT_FOUND);
    EXPECT_STR(v.hitos, HITOS_LIST_JSON);
    EXPECT_STR(v.list, "[" GB "]");
    EXPECT_INT(v.st.porras, 1);
    EXPECT_INT(v.st.apuestas, 0);
    EXPECT_INT(v.st.hitos, 2);
    EXPECT_INT(v.st.pending, 5);
    EXPECT_INT(v.st.store.appends, 6);
    view_free(&v);
    EXPECT_CALL_ERR(GET(a, MS), APP_NOT_FOUND, "no pool");    /* the writers' thread reads the same */
    EXPECT_INT(ticket_state(l, w[0].ticket), TICKET_PENDING); /* nothing was decided meanwhile */

    release_fsync();
    EXPECT_INT(ticket_wait(l, w[5].ticket), TICKET_DURABLE);
    for (int i = 0; i < 6; i++)
        EXPECT_INT(ticket_state(l, w[i].ticket), TICKET_DURABLE);
    /* durable: every reader sees it */
    view_aside(&v, a);
    EXPECT_STR(v.pool, GB_DONE);
    EXPECT_INT(v.other, APP_OK);
    EXPECT_INT(v.winners, APP_OK);
    EXPECT_INT(v.hito2, APP_OK);
    EXPECT_STR(v.hitos, "[" H0 "," H1 "," H2 "]");
    EXPECT_STR(v.list, "[" GB_DONE "," MS_DONE "]");
    EXPECT_INT(v.st.porras, 2);
    EXPECT_INT(v.st.apuestas, 2);
    EXPECT_INT(v.st.hitos, 3);
    EXPECT_INT(v.st.pending, 0);
    view_free(&v);
    EXPECT_INT(WINNERS(a, PID), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"1-1\",\"ganadores\":[\"ana\"]}");
    done(&r);
    for (int i = 0; i < 6; i++)
        done(&w[i]);
    app_close(a);
out:
    end_test(dir);
}

/* ---- 7. a failed fsync: lost, never seen, and the head goes back ---- */

#define LOST1 "Lost-One-Liga-2024"
#define LOST2 "Lost-Two-Liga-2024"

static void test_fsync_fails(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    ticket_ledger_t *l = app_ledger(a);
    app_result_t r = {0};
    view_t v;
    uint64_t t[5];
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT(durable(a, r.ticket));

    hold_fsync();
    EXPECT_INT(CREATE(a, "Lost", "One", "Liga", "2024"), APP_CREATED);
    t[0] = r.ticket;
    EXPECT(fsync_held());
    EXPECT_INT(BET(a, LOST1, "ana", SCORE(1, 1)), APP_CREATED);
    t[1] = r.ticket;
    EXPECT_INT(CREATE(a, "Lost", "Two", "Liga", "2024"), APP_CREATED);
    t[2] = r.ticket;
    EXPECT_INT(BET(a, PID, "ana", SCORE(3, 0)), APP_CREATED);
    t[3] = r.ticket;
    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED);
    t[4] = r.ticket;
    view_aside(&v, a); /* not seen while pending */
    EXPECT_STR(v.pool, GB);
    EXPECT_STR(v.list, "[" GB "]");
    EXPECT_INT(v.hito2, APP_NOT_FOUND);
    EXPECT_INT(v.st.pending, 5);
    view_free(&v);

    warn_reset();
    set_faults(1, 0, -1); /* the held fsync fails; cutting the journal back works */
    release_fsync();
    EXPECT_INT(ticket_wait(l, t[4]), TICKET_LOST);
    for (int i = 0; i < 5; i++)
        EXPECT_INT(ticket_state(l, t[i]), TICKET_LOST);
    EXPECT_INT(app_writable(a), 0); /* until a write works */
    EXPECT_INT(warn_count("cannot write"), 1);
    /* never seen */
    view_aside(&v, a);
    EXPECT_STR(v.pool, GB);
    EXPECT_STR(v.list, "[" GB "]");
    EXPECT_INT(v.hito2, APP_NOT_FOUND);
    EXPECT_INT(v.st.pending, 0);
    EXPECT_INT(v.st.porras, 1);
    EXPECT_INT(v.st.apuestas, 0);
    view_free(&v);
    EXPECT_CALL_ERR(GET(a, LOST1), APP_NOT_FOUND, "no pool");

    /* the head went back: what is planned now does not see the lost changes */
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* durable: waits on no lost ticket */
    EXPECT_INT(ticket_state(l, r.ticket), TICKET_DURABLE);
    EXPECT_BODY(r, GB);
    EXPECT_INT(CREATE(a, "Lost", "One", "Liga", "2024"), APP_CREATED);
    EXPECT(r.ticket > t[4]);
    EXPECT_BODY(r, POOL("Lost", "One", "Liga", "2024"));
    EXPECT_CALL_ERR(BET(a, LOST2, "ana", SCORE(1, 1)), APP_NOT_FOUND, "no pool");
    EXPECT_INT(BET(a, PID, "ana", SCORE(2, 2)), APP_CREATED); /* a new bettor again */
    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED);
    EXPECT_INT(r.index, 2);
    /* and they are durable */
    EXPECT(durable(a, r.ticket));
    EXPECT_INT(app_writable(a), 1);
    EXPECT_INT(warn_count("info: DATA_DIR"), 1); /* told once, as news, not as a problem */
    EXPECT_INT(warn_count("work again"), 1);
    EXPECT_INT(warn_count("cannot write"), 1);
    EXPECT_INT(GET(a, LOST1), APP_OK);
    EXPECT_BODY(r, POOL("Lost", "One", "Liga", "2024"));
    done(&r);

    char *list = list_copy(a), *hitos = hitos_list_copy(a);
    const char *want =
        "[" POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 2, 2), "null") "," POOL("Lost", "One", "Liga", "2024") "]";
    EXPECT_STR(list, want);
    EXPECT_STR(hitos, "[" H0 "," H1 "," H2 "]");
    if ((a = reopen_app(a, dir, 0)) != NULL) { /* on disk: the same */
        char *list2 = list_copy(a), *hitos2 = hitos_list_copy(a);
        EXPECT_STR(list2, want);
        EXPECT_STR(hitos2, hitos);
        EXPECT_CALL_ERR(GET(a, LOST2), APP_NOT_FOUND, "no pool");
        free(list2), free(hitos2);
        app_close(a);
    }
    free(list), free(hitos);
out:
    end_test(dir);
}

/* ---- 8. a store that stopped taking writes (its journal could not be cut back) ---- */

static void test_unavailable(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    const char *pool = POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1), "null");
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana", SCORE(1, 1)), APP_CREATED);
    EXPECT_INT(HITO_ADD(a, H2), APP_CREATED);
    EXPECT(settle(a));

    set_faults(1, 1, -1);
    EXPECT_INT(BET(a, PID, "luis", SCORE(1, 1)), APP_CREATED);
    EXPECT_INT(ticket_wait(app_ledger(a), r.ticket), TICKET_LOST);
    set_faults(0, 0, -1); /* too late: the store takes no more writes until a restart */
    EXPECT_INT(app_writable(a), 0);
    EXPECT(warn_count("cannot cut") == 1);
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(st.store.writable, 0);
    EXPECT_INT(st.store.appends, 4);

    /* every write: 503, with a message, and nothing changed */
    EXPECT_CALL_ERR(CREATE(a, "Málaga", "Betis", "Liga", "2024"), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(BET(a, PID, "luis", SCORE(1, 1)), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(BET(a, PID, "ana", SCORE(2, 1)), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(RESULT(a, PID, SCORE(1, 1)), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(DELETE(a, PID), APP_UNAVAILABLE, "");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"3\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_UNAVAILABLE, "");
    EXPECT(strstr(r.err, "restart") != NULL);
    /* the checks before the store still answer as they do */
    EXPECT_CALL_ERR(CREATE(a, "Má-laga", "Betis", "Liga", "2024"), APP_BAD_PATH, "local:");
    EXPECT_CALL_ERR(BET(a, PID, "luis", "{\"local\":100,\"visitante\":1}"), APP_BAD_BODY, "local:");
    EXPECT_CALL_ERR(BET(a, "no-such-pool-1", "luis", SCORE(1, 1)), APP_NOT_FOUND, "no pool");
    EXPECT_CALL_ERR(HITO_ADD(a, "{\"file\":\"0.Repositorio\",\"title\":\"t\",\"fecha\":\"1/1/2021\"}"), APP_CONFLICT, "");
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK); /* there: no write needed */
    EXPECT_INT(ticket_state(app_ledger(a), r.ticket), TICKET_DURABLE);
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
    EXPECT_BODY(r, "[" POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 1), "null") "]");
    app_stats(a, &st);
    EXPECT_INT(st.store.appends, 4);
    EXPECT_INT(st.porras, 1);
    EXPECT_INT(st.apuestas, 1);
    EXPECT_INT(st.hitos, 3);
    EXPECT_INT(st.pending, 0);
    done(&r);

    /* a restart takes writes again (the lost bet's bytes may be replayed: docs/store.md) */
    if ((a = reopen_app(a, dir, 0)) != NULL) {
        EXPECT_INT(app_writable(a), 1);
        EXPECT_INT(GET(a, PID), APP_OK);
        EXPECT_BODY_HAS(r, BETJ("ana", 1, 1));
        EXPECT_INT(CREATE(a, "Málaga", "Betis", "Liga", "2024"), APP_CREATED);
        EXPECT(durable(a, r.ticket));
        done(&r);
        app_close(a);
    }
out:
    end_test(dir);
}

/* ---- 9. listings: GET /porras and its pages ---- */

/* Creation order; their IDs in byte order: Almería < Betis < Granada < Málaga < Zaragoza < alcorcón. */
#define PL_G POOLX("Granada", "Betis", "Liga", "2024", BETJ("ana", 1, 0) "," BETJ("luis", 0, 0), "null")
#define PL_B POOL("Betis", "Granada", "Liga", "2024")
#define PL_M POOL("Málaga", "Sevilla", "Copa", "2025")
#define PL_A POOLX("Almería", "Cádiz", "Liga", "2024", "", "\"2-0\"")
#define PL_Z POOL("Zaragoza", "Eibar", "Liga", "2023")
#define PL_L POOL("alcorcón", "x", "y", "1")

/* Expects the page after `after` of at most limit pools to be want (the pools joined, without
 * brackets) with r.next equal to next, whatever number of pieces app_list_next gives at a time. */
static void expect_page(app_t *a, const char *after, size_t limit, const char *want, const char *next)
{
    static const size_t maxes[] = {1, 2, 3, 256};
    char full[8192];
    snprintf(full, sizeof(full), "[%s]", want);
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        app_result_t r = {0};
        app_porras_list(a, after, limit, &r);
        EXPECT_INT(r.status, APP_OK);
        EXPECT(r.body == NULL && r.ticket == 0);
        EXPECT_INT(r.len, strlen(full));
        EXPECT_STR(r.next, next);
        char *s = list_text(&r, maxes[i]);
        EXPECT_STR(s, full);
        if (s == NULL || strcmp(s, full) != 0)
            printf("#   after \"%s\", limit %zu, %zu pieces at a time\n", after ? after : "(null)", limit, maxes[i]);
        free(s);
        app_piece_t p;
        EXPECT_INT(app_list_next(r.list, &p, 1), 0); /* used up: nothing more */
        done(&r);
    }
}

static void test_listing(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    expect_page(a, NULL, 0, "", ""); /* empty: "[" and "]" */
    expect_page(a, NULL, 5, "", "");
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Betis", "Granada", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Almería", "Cádiz", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Zaragoza", "Eibar", "Liga", "2023"), APP_CREATED);
    EXPECT_INT(CREATE(a, "alcorcón", "x", "y", "1"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana", SCORE(1, 0)), APP_CREATED);
    EXPECT_INT(BET(a, PID, "luis", SCORE(0, 0)), APP_CREATED);
    EXPECT_INT(RESULT(a, "Almería-Cádiz-Liga-2024", SCORE(2, 0)), APP_OK);
    EXPECT(settle(a));
    done(&r);

    /* everything, in creation order */
    expect_page(a, NULL, 0, PL_G "," PL_B "," PL_M "," PL_A "," PL_Z "," PL_L, "");
    /* pages, in ID order; next only when more follow */
    expect_page(a, NULL, 2, PL_A "," PL_B, "Betis-Granada-Liga-2024");
    expect_page(a, "Betis-Granada-Liga-2024", 2, PL_G "," PL_M, MS);
    expect_page(a, MS, 2, PL_Z "," PL_L, ""); /* exactly the last two */
    expect_page(a, MS, 3, PL_Z "," PL_L, "");
    expect_page(a, NULL, 6, PL_A "," PL_B "," PL_G "," PL_M "," PL_Z "," PL_L, "");
    expect_page(a, NULL, 5, PL_A "," PL_B "," PL_G "," PL_M "," PL_Z, "Zaragoza-Eibar-Liga-2023");
    expect_page(a, NULL, APP_PAGE_MAX, PL_A "," PL_B "," PL_G "," PL_M "," PL_Z "," PL_L, "");
    expect_page(a, "", 1, PL_A, "Almería-Cádiz-Liga-2024");
    /* after an ID that does not exist: from the next one in byte order */
    expect_page(a, "Granada", 1, PL_G, PID);
    expect_page(a, "Granada-Betis-Liga-2024x", 2, PL_M "," PL_Z, "Zaragoza-Eibar-Liga-2023");
    expect_page(a, "B", 10, PL_B "," PL_G "," PL_M "," PL_Z "," PL_L, "");
    expect_page(a, "alcorcón-x-y-1", 2, "", "");
    expect_page(a, "\xff", 2, "", "");

    /* walking every page of one pool through next */
    char after[PORRA_ID_MAX + 1] = "";
    str_t walked = {0};
    str_add(&walked, "", 0);
    int pages = 0;
    do {
        EXPECT_INT(PAGE(a, pages > 0 ? after : NULL, 1), APP_OK);
        char *s = list_text(&r, 2);
        str_addf(&walked, "%s", s ? s : "(null)");
        free(s);
        snprintf(after, sizeof(after), "%s", r.next);
    } while (after[0] != '\0' && ++pages < 20);
    EXPECT_INT(pages, 5);
    EXPECT_STR(walked.p, "[" PL_A "][" PL_B "][" PL_G "][" PL_M "][" PL_Z "][" PL_L "]");
    free(walked.p);
    done(&r);
    app_close(a);
out:
    end_test(dir);
}

/* A listing keeps the version it started from; one can be let go of unread, or half read. */
static void test_listing_version(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0}, full = {0}, page = {0}, unread = {0}, half = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    EXPECT(settle(a));
    app_porras_list(a, NULL, 0, &full);
    app_porras_list(a, NULL, 1, &page);
    app_porras_list(a, NULL, 0, &unread);
    app_porras_list(a, NULL, 0, &half);
    app_piece_t p[2];
    EXPECT_INT(app_list_next(half.list, p, 2), 2); /* "[" and the first pool */
    EXPECT(p[0].len == 1 && p[0].base[0] == '[');

    /* every kind of change, durable, after the listings were taken */
    EXPECT_INT(BET(a, PID, "ana", SCORE(1, 1)), APP_CREATED);
    EXPECT_INT(RESULT(a, MS, SCORE(0, 0)), APP_OK);
    EXPECT_INT(DELETE(a, PID), APP_DELETED);
    EXPECT_INT(CREATE(a, "Almería", "Cádiz", "Liga", "2024"), APP_CREATED);
    EXPECT(settle(a));

    char *s = list_text(&full, 3);
    EXPECT_STR(s, "[" GB "," MSP "]"); /* as it was */
    free(s);
    s = list_text(&page, 1);
    EXPECT_STR(s, "[" GB "]");
    EXPECT_STR(page.next, PID);
    free(s);
    done(&unread); /* HEAD: let go of, never read */
    done(&half);
    EXPECT_INT(LIST(a), APP_OK); /* a new listing: the new state */
    EXPECT_BODY(r, "[" POOLX("Málaga", "Sevilla", "Copa", "2025", "", "\"0-0\"") "," POOL("Almería", "Cádiz", "Liga", "2024") "]");
    /* a listing outlives the app */
    EXPECT_INT(LIST(a), APP_OK);
    app_close(a);
    EXPECT_BODY(r, "[" POOLX("Málaga", "Sevilla", "Copa", "2025", "", "\"0-0\"") "," POOL("Almería", "Cádiz", "Liga", "2024") "]");
    done(&r), done(&full), done(&page);
out:
    end_test(dir);
}

/* ---- 10. memory: versions, pending ones and answers all freed ---- */

static void test_memory(void)
{
    size_t pmap0 = pmap_nodes_live(), pvec0 = pvec_nodes_live();
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0}, keep[10];
    memset(keep, 0, sizeof(keep));
    char loc[16], id[64], q[16], hito[128];
    for (int i = 0; i < 40; i++) {
        snprintf(loc, sizeof(loc), "M%d", i);
        snprintf(id, sizeof(id), "M%d-V-C-2024", i);
        EXPECT_INT(CREATE(a, loc, "V", "C", "2024"), APP_CREATED);
        for (int k = 0; k < 40; k++) { /* enough bets for pvec to grow past one node */
            snprintf(q, sizeof(q), "q%d", k);
            EXPECT_INT(BET(a, id, q, SCORE(1, 2)), APP_CREATED);
        }
        if (i % 3 == 0)
            EXPECT_INT(RESULT(a, id, SCORE(1, 2)), APP_OK);
        if (i % 5 == 0)
            EXPECT_INT(DELETE(a, id), APP_DELETED);
        if (i % 7 == 0) {
            snprintf(hito, sizeof(hito), "{\"file\":\"m%d\",\"title\":\"t\",\"fecha\":\"1/1/2024\"}", i);
            EXPECT_INT(HITO_ADD(a, hito), APP_CREATED);
        }
    }
    EXPECT(settle(a));
    /* answers held across later changes */
    app_porra_get(a, "M1-V-C-2024", &keep[0]);
    app_porras_list(a, NULL, 0, &keep[1]);
    app_porras_list(a, "M2", 3, &keep[2]);
    app_piece_t p[3];
    EXPECT_INT(app_list_next(keep[2].list, p, 3), 3);
    app_hitos_list(a, &keep[3]);
    EXPECT_INT(BET(a, "M1-V-C-2024", "q0", SCORE(5, 5)), APP_OK);
    EXPECT_INT(DELETE(a, "M2-V-C-2024"), APP_DELETED);
    EXPECT(settle(a));
    /* pending versions, published in their turn */
    hold_fsync();
    app_porra_create(a, "P", "V", "C", "2024", &keep[4]);
    EXPECT(fsync_held());
    app_porra_bet(a, "P-V-C-2024", "ana", SCORE(1, 1), strlen(SCORE(1, 1)), NULL, &keep[5]);
    app_porra_result(a, "M4-V-C-2024", SCORE(0, 0), strlen(SCORE(0, 0)), NULL, &keep[6]);
    app_porras_list(a, NULL, 0, &keep[7]);
    release_fsync();
    EXPECT(settle(a));
    /* pending versions, lost */
    hold_fsync();
    app_porra_create(a, "Q", "V", "C", "2024", &keep[8]);
    EXPECT(fsync_held());
    app_porra_result(a, "M7-V-C-2024", SCORE(0, 0), strlen(SCORE(0, 0)), NULL, &keep[9]);
    EXPECT_INT(BET(a, "M8-V-C-2024", "q1", SCORE(3, 3)), APP_OK);
    set_faults(1, 0, -1);
    release_fsync();
    EXPECT_INT(ticket_wait(app_ledger(a), r.ticket), TICKET_LOST);
    EXPECT_INT(BET(a, "M8-V-C-2024", "q1", SCORE(4, 4)), APP_OK);
    EXPECT(durable(a, r.ticket));
    done(&r);
    for (int i = 4; i < 10; i++)
        EXPECT(keep[i].status == APP_CREATED || keep[i].status == APP_OK);
    EXPECT(pmap_nodes_live() > pmap0 && pvec_nodes_live() > pvec0); /* the check below can fail */
    app_close(a);
    /* the answers outlive the app, and are let go of in any order */
    char *s = list_text(&keep[1], 7);
    EXPECT(s != NULL && strncmp(s, "[{\"ID\":\"M1-V-C-2024\"", 20) == 0);
    free(s);
    static const int order[] = {5, 0, 9, 2, 4, 1, 8, 6, 3, 7};
    for (int i = 0; i < 10; i++)
        done(&keep[order[i]]);
    EXPECT_INT(pmap_nodes_live(), pmap0);
    EXPECT_INT(pvec_nodes_live(), pvec0);
out:
    end_test(dir);
}

/* ---- a random workload from many threads, and a model of what it acknowledged ---- */

#define WL_POOLS 8
#define WL_QUIEN 6

enum { W_CREATE, W_DELETE, W_BET, W_RESULT, W_HITO };

/* The milestone a workload thread adds: its thread and operation numbers make the file unique. */
#define WL_HITO "{\"file\":\"w%d-%d\",\"title\":\"t\",\"fecha\":\"1/1/2024\"}"

/* A change acknowledged with a ticket. */
typedef struct {
    uint64_t ticket;
    int kind, pool, quien, gl, gv, thread, seq;
    app_status_t status;
} change_t;

typedef struct {
    app_t *a;
    int id, nops, reads; /* reads: percent of the operations that read */
    unsigned seed;
    change_t *log; /* the changes with a ticket, in this thread's order */
    size_t nlog;
    int bad; /* answers no order of the changes explains */
} wl_thread_t;

/* One read, checked for its shape; 1 when well-formed. Any thread (no EXPECT). */
static int wl_read(app_t *a, int kind, const char *id, unsigned *seed)
{
    app_result_t r = {0};
    app_stats_t st;
    json_t *j = NULL;
    char *s = NULL;
    int ok = 1;
    switch (kind) {
    case 0:
        if (GET(a, id) == APP_OK) {
            j = json_loadb(r.body, r.len, 0, NULL);
            ok = json_is_object(j) && strcmp(json_string_value(json_object_get(j, "ID")), id) == 0;
        } else {
            ok = r.status == APP_NOT_FOUND;
        }
        break;
    case 1:
        ok = LIST(a) == APP_OK && (s = list_text(&r, 1 + rand_r(seed) % 8)) != NULL;
        j = ok ? json_loads(s, 0, NULL) : NULL;
        ok = ok && json_is_array(j) && json_array_size(j) <= WL_POOLS;
        break;
    case 2:
        if (WINNERS(a, id) == APP_OK) {
            j = json_loadb(r.body, r.len, 0, NULL);
            ok = json_is_array(json_object_get(j, "ganadores"));
        } else {
            ok = r.status == APP_NOT_FOUND || r.status == APP_CONFLICT;
        }
        break;
    case 3:
        app_stats(a, &st);
        ok = st.porras <= WL_POOLS;
        break;
    default:
        ok = PAGE(a, rand_r(seed) % 2 ? id : NULL, 3) == APP_OK && (s = list_text(&r, 2)) != NULL;
        j = ok ? json_loads(s, 0, NULL) : NULL; /* (json_is_array evaluates its argument twice) */
        ok = ok && json_is_array(j) && (r.next[0] != '\0' ? json_array_size(j) == 3 : json_array_size(j) <= 3);
        break;
    }
    if (r.ticket != 0)
        ok = 0;
    if (!ok)
        printf("# read %d of %s: status %d, %s\n", kind, id, r.status, s ? s : r.err);
    json_decref(j);
    free(s);
    done(&r);
    return ok;
}

static void *wl_main(void *p)
{
    wl_thread_t *t = p;
    app_result_t r = {0};
    char loc[16], id[64], quien[16], body[64], hito[128];
    for (int i = 0; i < t->nops; i++) {
        change_t c = {.pool = (int)(rand_r(&t->seed) % WL_POOLS),
                      .quien = (int)(rand_r(&t->seed) % WL_QUIEN),
                      .gl = (int)(rand_r(&t->seed) % 4),
                      .gv = (int)(rand_r(&t->seed) % 4),
                      .thread = t->id,
                      .seq = i};
        int x = (int)(rand_r(&t->seed) % 100), changed, ok;
        snprintf(loc, sizeof(loc), "L%d", c.pool);
        snprintf(id, sizeof(id), "L%d-V-C-2024", c.pool);
        snprintf(quien, sizeof(quien), "q%d", c.quien);
        snprintf(body, sizeof(body), "{\"local\":%d,\"visitante\":%d}", c.gl, c.gv);
        if (x < t->reads) {
            t->bad += !wl_read(t->a, x % 5, id, &t->seed);
            continue;
        }
        x = (int)(rand_r(&t->seed) % 100);
        if (x < 50) {
            c.kind = W_BET, changed = BET(t->a, id, quien, body) == APP_CREATED || r.status == APP_OK;
            ok = changed || r.status == APP_NOT_FOUND || r.status == APP_CONFLICT;
        } else if (x < 62) {
            c.kind = W_RESULT, changed = RESULT(t->a, id, body) == APP_OK;
            ok = changed || r.status == APP_NOT_FOUND;
        } else if (x < 85) {
            c.kind = W_CREATE, changed = CREATE(t->a, loc, "V", "C", "2024") == APP_CREATED;
            ok = changed || r.status == APP_OK;
        } else if (x < 97) {
            c.kind = W_DELETE, changed = DELETE(t->a, id) == APP_DELETED;
            ok = changed || r.status == APP_NOT_FOUND;
        } else {
            snprintf(hito, sizeof(hito), WL_HITO, t->id, i);
            c.kind = W_HITO, changed = HITO_ADD(t->a, hito) == APP_CREATED;
            ok = changed;
        }
        c.status = r.status, c.ticket = r.ticket;
        int waits = r.status == APP_NOT_FOUND || r.status == APP_CONFLICT || c.kind == W_CREATE;
        if (!ok || (changed && r.ticket == 0) || (!changed && r.ticket != 0 && !waits)) {
            if (t->bad++ < 5)
                printf("# thread %d: change %d on %s: status %d, ticket %llu (%s)\n", t->id, c.kind, id, r.status,
                       (unsigned long long)r.ticket, r.err);
        } else if (changed) {
            t->log[t->nlog++] = c;
        }
    }
    done(&r);
    return NULL;
}

typedef struct {
    uint64_t created;                                     /* its place in the creation order; 0: no pool */
    int nbets, who[WL_QUIEN], gl[WL_QUIEN], gv[WL_QUIEN]; /* in first-bet order */
    int rl, rv;                                           /* the result; rl < 0: none */
} mpool_t;

typedef struct {
    mpool_t pool[WL_POOLS];
    uint64_t creations;
    size_t changes, hitos;
    str_t hitos_json; /* ",{...}" per milestone added, in order */
} model_t;

static int by_ticket(const void *x, const void *y)
{
    const change_t *a = x, *b = y;
    return (a->ticket > b->ticket) - (a->ticket < b->ticket);
}

/* Applies the changes in ticket (journal) order, checking that the tickets are exactly first,
 * first+1, ... and that each answer is the one the model gives at that point; mismatches. */
static int model_apply(model_t *m, change_t *c, size_t n, uint64_t first)
{
    int bad = 0;
    qsort(c, n, sizeof(*c), by_ticket);
    for (size_t i = 0; i < n; i++) {
        mpool_t *p = &m->pool[c[i].pool];
        int ok = c[i].ticket == first + i, k = 0;
        switch (c[i].kind) {
        case W_CREATE:
            ok = ok && p->created == 0 && c[i].status == APP_CREATED;
            *p = (mpool_t){.created = ++m->creations, .rl = -1};
            break;
        case W_DELETE:
            ok = ok && p->created != 0;
            p->created = 0;
            break;
        case W_BET:
            while (k < p->nbets && p->who[k] != c[i].quien)
                k++;
            ok = ok && p->created != 0 && p->rl < 0 && c[i].status == (k < p->nbets ? APP_OK : APP_CREATED);
            if (k == p->nbets)
                p->who[p->nbets++] = c[i].quien;
            p->gl[k] = c[i].gl, p->gv[k] = c[i].gv;
            break;
        case W_RESULT:
            ok = ok && p->created != 0;
            p->rl = c[i].gl, p->rv = c[i].gv;
            break;
        default:
            str_addf(&m->hitos_json, "," WL_HITO, c[i].thread, c[i].seq);
            m->hitos++;
        }
        if (!ok && bad++ < 5)
            printf("# change %zu: ticket %llu (expected %llu), kind %d, pool %d, status %d\n", i, (unsigned long long)c[i].ticket,
                   (unsigned long long)(first + i), c[i].kind, c[i].pool, c[i].status);
    }
    m->changes += n;
    return bad;
}

/* 1 when got is want; else 0, printing where they part. */
static int same_text(const char *what, const char *got, const char *want)
{
    if (got != NULL && strcmp(got, want) == 0)
        return 1;
    size_t i = 0;
    while (got != NULL && got[i] != '\0' && got[i] == want[i])
        i++;
    size_t from = i > 60 ? i - 60 : 0;
    printf("# %s differs at byte %zu:\n#   got  ...%.120s\n#   want ...%.120s\n", what, i, got != NULL ? got + from : "(null)",
           want + from);
    return 0;
}

/* The model's GET /porras, GET /hitos and counts, compared with the app's; mismatches. */
static int model_check(app_t *a, const model_t *m)
{
    str_t list = {0}, hitos = {0};
    size_t porras = 0, apuestas = 0;
    str_add(&list, "[", 1);
    for (uint64_t order = 1; order <= m->creations; order++)
        for (int i = 0; i < WL_POOLS; i++) {
            const mpool_t *p = &m->pool[i];
            if (p->created != order)
                continue;
            str_addf(&list,
                     "%s{\"ID\":\"L%d-V-C-2024\",\"local\":\"L%d\",\"visitante\":\"V\","
                     "\"competition\":\"C\",\"year\":\"2024\",\"apuestas\":{",
                     porras++ ? "," : "", i, i);
            for (int k = 0; k < p->nbets; k++)
                str_addf(&list, "%s\"q%d\":{\"local\":%d,\"visitante\":%d}", k ? "," : "", p->who[k], p->gl[k], p->gv[k]);
            if (p->rl < 0)
                str_addf(&list, "},\"resultado\":null}");
            else
                str_addf(&list, "},\"resultado\":\"%d-%d\"}", p->rl, p->rv);
            apuestas += (size_t)p->nbets;
        }
    str_add(&list, "]", 1);
    str_add(&hitos, "[" H0 "," H1, strlen("[" H0 "," H1));
    str_add(&hitos, m->hitos_json.p ? m->hitos_json.p : "", m->hitos_json.len);
    str_add(&hitos, "]", 1);
    char *got = list_copy(a), *got_hitos = hitos_list_copy(a);
    app_stats_t st;
    app_stats(a, &st);
    int bad = !same_text("GET /porras", got, list.p) + !same_text("GET /hitos", got_hitos, hitos.p);
    if (st.porras != porras || st.apuestas != apuestas || st.hitos != 2 + m->hitos || st.pending != 0) {
        printf("# %zu pools, %zu bets, %zu milestones, %llu pending; the model: %zu, %zu, %zu, 0\n", st.porras, st.apuestas,
               st.hitos, (unsigned long long)st.pending, porras, apuestas, 2 + m->hitos);
        bad++;
    }
    free(got), free(got_hitos), free(list.p), free(hitos.p);
    return bad;
}

/* nthreads threads (ids first_id...) of nops operations each, reads percent of them reads;
 * waits for every change and applies them all to m. 0 when every answer fits the model. */
static int run_workload(app_t *a, model_t *m, int nthreads, int first_id, int nops, int reads)
{
    pthread_t th[8];
    wl_thread_t w[8];
    int bad = 0;
    uint64_t first = ticket_last_issued(app_ledger(a)) + 1;
    for (int i = 0; i < nthreads && i < 8; i++) {
        w[i] = (wl_thread_t){.a = a,
                             .id = first_id + i,
                             .nops = nops,
                             .reads = reads,
                             .seed = 7919u * (unsigned)(first_id + i + 1),
                             .log = calloc((size_t)nops, sizeof(change_t))};
        if (w[i].log == NULL || pthread_create(&th[i], NULL, wl_main, &w[i]) != 0)
            exit(2);
    }
    size_t n = 0;
    for (int i = 0; i < nthreads && i < 8; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
        n += w[i].nlog;
    }
    change_t *all = malloc((n + 1) * sizeof(*all));
    n = 0;
    for (int i = 0; i < nthreads && i < 8; i++) {
        memcpy(all + n, w[i].log, w[i].nlog * sizeof(*all));
        n += w[i].nlog;
        free(w[i].log);
    }
    uint64_t last = ticket_last_issued(app_ledger(a));
    if (!settle(a) || last + 1 - first != n) { /* every ticket issued is one change the threads saw */
        printf("# %zu changes, tickets %llu to %llu\n", n, (unsigned long long)first, (unsigned long long)last);
        bad++;
    }
    bad += model_apply(m, all, n, first);
    free(all);
    return bad;
}

/* ---- 11. compaction while writes go on ---- */

#define SMALL_COMPACT 4096

static void test_compaction(void)
{
    char *dir = test_tmpdir("porrio-app");
    model_t m = {0};
    app_stats_t st;
    app_t *a = open_app(dir, 0);
    EXPECT(a != NULL);
    if (a == NULL)
        goto out;
    /* a journal far beyond the small threshold, and no snapshot */
    EXPECT_INT(run_workload(a, &m, 4, 0, 800, 10), 0);
    app_stats(a, &st);
    EXPECT_INT(st.store.compactions, 0);
    EXPECT(st.store.journal_bytes > 4 * SMALL_COMPACT);
    EXPECT(!has_snapshot(dir));
    /* so a restart compacts at once, while the app is still opening */
    if ((a = reopen_app(a, dir, SMALL_COMPACT)) == NULL)
        goto out;
    /* waited for on the disk alone, so that nothing orders this thread's last steps in app_open
     * before the compaction's (a race ThreadSanitizer can see) */
    for (int i = 0; i < 2000 && !has_snapshot(dir); i++)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    EXPECT(has_snapshot(dir));
    EXPECT(wait_compactions(a, 1));
    EXPECT_INT(model_check(a, &m), 0);
    /* compactions while writes go on from several threads */
    EXPECT_INT(run_workload(a, &m, 4, 10, 1500, 10), 0);
    EXPECT(m.changes > 1500);
    EXPECT(wait_compactions(a, 2));
    app_stats(a, &st);
    EXPECT(st.store.generation > 2);
    EXPECT(st.store.snapshot_bytes > 0);
    EXPECT_INT(model_check(a, &m), 0);
    /* a restart has every acknowledged change, and nothing else; and goes on */
    if ((a = reopen_app(a, dir, SMALL_COMPACT)) == NULL)
        goto out;
    EXPECT_INT(model_check(a, &m), 0);
    EXPECT_INT(run_workload(a, &m, 3, 20, 600, 10), 0);
    EXPECT_INT(model_check(a, &m), 0);
    if ((a = reopen_app(a, dir, 0)) == NULL)
        goto out;
    EXPECT_INT(model_check(a, &m), 0);
    app_stats(a, &st);
    EXPECT_INT(st.store.compactions, 0); /* since open, at the default threshold */
    app_close(a);
out:
    free(m.hitos_json.p);
    end_test(dir);
}

/* ---- 12. the first format, upgraded ---- */

static const char *const v1_recs[] = {
    "{\"op\":\"porra.create\",\"local\":\"a\",\"visitante\":\"b\",\"competition\":\"c\",\"year\":\"2024\"}",
    "{\"op\":\"porra.bet\",\"ID\":\"a-b-c-2024\",\"quien\":\"ana\",\"local\":1,\"visitante\":2}",
    "{\"op\":\"hito.add\",\"file\":\"f\",\"title\":\"t\",\"fecha\":\"1/1/2024\"}",
    "{\"op\":\"porra.create\",\"local\":\"x\",\"visitante\":\"y\",\"competition\":\"z\",\"year\":\"2023\"}",
    "{\"op\":\"porra.bet\",\"ID\":\"a-b-c-2024\",\"quien\":\"luis\",\"local\":0,\"visitante\":0}",
    "{\"op\":\"porra.bet\",\"ID\":\"a-b-c-2024\",\"quien\":\"ana\",\"local\":2,\"visitante\":1}",
    "{\"op\":\"porra.result\",\"ID\":\"a-b-c-2024\",\"local\":2,\"visitante\":1}",
    "{\"op\":\"porra.delete\",\"ID\":\"x-y-z-2023\"}",
    "{\"op\":\"porra.create\",\"local\":\"d\",\"visitante\":\"e\",\"competition\":\"f\",\"year\":\"1\"}",
    NULL,
};
#define V1_POOLS POOLX("a", "b", "c", "2024", BETJ("ana", 2, 1) "," BETJ("luis", 0, 0), "\"2-1\"") "," POOL("d", "e", "f", "1")
#define V1_HITO  "{\"file\":\"f\",\"title\":\"t\",\"fecha\":\"1/1/2024\"}"

static void test_upgrade_v1(void)
{
    char *dir = test_tmpdir("porrio-app");
    size_t len, len2;
    app_result_t r = {0};
    EXPECT_INT(write_v1(test_path(dir, "journal"), "PORRIOJ1", 1, v1_recs), 0);
    unsigned char *v1 = read_whole(test_path(dir, "journal"), &len);
    app_t *a = open_app(dir, 0);
    EXPECT(a != NULL);
    if (a == NULL)
        goto out;
    EXPECT_INT(warn_count("upgraded"), 1);
    char *list = list_copy(a);
    EXPECT_STR(list, "[" V1_POOLS "]");
    free(list);
    EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
    EXPECT_BODY(r, V1_HITO);
    EXPECT_INT(WINNERS(a, "a-b-c-2024"), APP_OK);
    EXPECT_BODY(r, "{\"resultado\":\"2-1\",\"ganadores\":[\"ana\"]}");
    EXPECT_CALL_ERR(GET(a, "x-y-z-2023"), APP_NOT_FOUND, "no pool");
    /* the second format's files, the first format's kept aside, unchanged */
    EXPECT(exists(dir, J1) && exists(dir, S1) && exists(dir, "journal.v1") && !exists(dir, "journal"));
    unsigned char *kept = read_whole(test_path(dir, "journal.v1"), &len2);
    EXPECT(kept != NULL && v1 != NULL && len == len2 && memcmp(kept, v1, len) == 0);
    free(kept);
    /* writes work, and the whole survives a restart, without a second upgrade */
    EXPECT_INT(CREATE(a, "g", "h", "i", "2"), APP_CREATED);
    EXPECT_CALL_ERR(BET(a, "a-b-c-2024", "pepe", SCORE(1, 1)), APP_CONFLICT, "betting is closed");
    EXPECT(settle(a));
    warn_reset();
    if ((a = reopen_app(a, dir, 0)) != NULL) {
        EXPECT_INT(warn_count(""), 0);
        list = list_copy(a);
        EXPECT_STR(list, "[" V1_POOLS "," POOL("g", "h", "i", "2") "]");
        free(list);
        EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
        EXPECT_BODY(r, V1_HITO);
        app_close(a);
    }
out:
    done(&r);
    free(v1);
    end_test(dir);
}

/* A first-format record that does not apply is damage too: nothing opens, nothing is upgraded. */
static void test_upgrade_v1_damaged(void)
{
    static const char *const bad[] = {
        "this is not JSON", "[\"porra.create\",\"A\",\"B\",\"C\",\"1\"]", /* not an object */
        "{\"op\":\"porra.create\",\"local\":1,\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}",
        "{\"op\":\"porra.create\",\"local\":\"A-x\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}",
        "{\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}", /* no op */
        "{\"op\":\"porra.frobnicate\",\"ID\":\"A-B-C-1\"}",
        "{\"op\":\"porra.bet\",\"ID\":\"X-B-C-1\",\"quien\":\"ana\",\"local\":1,\"visitante\":1}", /* no pool */
        /* the pool again */
        "{\"op\":\"porra.create\",\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}",
        "{\"op\":\"porra.bet\",\"ID\":\"A-B-C-1\",\"quien\":\"ana\",\"local\":100,\"visitante\":1}",
        "{\"op\":\"porra.delete\",\"ID\":\"X-B-C-1\"}",
        "{\"op\":\"hito.add\",\"file\":\"f\",\"title\":\"t\",\"fecha\":\"30/2/2020\"}",
        "{\"op\":\"hito.add\",\"file\":\"0.Repositorio\",\"title\":\"t\",\"fecha\":\"1/1/2020\"}", /* taken */
    };
    const char *first = "{\"op\":\"porra.create\",\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\","
                        "\"year\":\"1\"}";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *dir = test_tmpdir("porrio-app");
        const char *recs[] = {first, bad[i], "{\"op\":\"porra.delete\",\"ID\":\"A-B-C-1\"}", NULL};
        EXPECT_INT(write_v1(test_path(dir, "journal"), "PORRIOJ1", 1, recs), 0);
        char *before = dir_digest(dir), *after;
        int badin;
        store_error_t e;
        EXPECT(open_with(dir, HITOS, 0, &badin, &e) == NULL);
        EXPECT_INT(badin, 0);
        EXPECT_INT(e.damaged, 1);
        EXPECT_STR(e.file, test_path(dir, "journal"));
        EXPECT_INT(e.offset, 16 + 8 + strlen(first));
        after = dir_digest(dir);
        EXPECT_STR(after, before);
        if (test_failed_now)
            printf("#   record %s: %s\n", bad[i], e.problem);
        free(before), free(after);
        end_test(dir);
    }
}

/* ---- 13. verify and recover ---- */

static void rep_line(void *ctx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    str_addf(ctx, "%s\n", buf);
}

/* app_verify or app_recover (to non-NULL) on dir: its return value, *rep and *e filled. */
static int scan_store(const char *dir, const char *to, app_scan_report_t *rep, str_t *lines, store_error_t *e)
{
    app_opts_t o = {.data_dir = dir, .hitos_file = HITOS, .warn = on_warn};
    *rep = (app_scan_report_t){.line = rep_line, .ctx = lines};
    lines->len = 0;
    str_add(lines, "", 0);
    return to != NULL ? app_recover(&o, to, rep, e) : app_verify(&o, rep, e);
}

static void test_verify_recover(void)
{
    char *dir = test_tmpdir("porrio-app"), *todir = test_tmpdir("porrio-app-to"), to[512];
    snprintf(to, sizeof(to), "%s/new", todir);
    app_scan_report_t rep;
    store_error_t e;
    str_t lines = {0};
    six_changes(dir); /* create GB, create MS, bet GB ana, bet MS luis, result GB, bet MS pepe */

    EXPECT_INT(scan_store(dir, NULL, &rep, &lines, &e), 0);
    EXPECT_INT(rep.records, 6);
    EXPECT_INT(rep.applied, 6);
    EXPECT(rep.damaged == 0 && rep.torn == 0 && rep.skipped_records == 0 && rep.skipped_bytes == 0);
    EXPECT(strstr(lines.p, J1 ": 6 records") != NULL);

    /* the second record (MS's creation) damaged */
    size_t len, off[16];
    unsigned char *b = read_whole(test_path(dir, J1), &len);
    size_t n = b != NULL ? frames(b, len, off, 16) : 0;
    free(b);
    EXPECT_INT(n, 6);
    if (n != 6)
        goto out;
    EXPECT_INT(flip(dir, J1, off[1] + 8 + 2), 0);
    char *before = dir_digest(dir), *after;
    EXPECT_INT(scan_store(dir, NULL, &rep, &lines, &e), -1);
    EXPECT_INT(rep.damaged, 1);
    EXPECT_INT(rep.records, 1); /* it stops at the damage */
    EXPECT_INT(e.damaged, 1);
    EXPECT_STR(e.file, test_path(dir, J1));
    EXPECT_INT(e.offset, off[1]);
    EXPECT(strstr(lines.p, "checksum") != NULL);

    /* recover: every record that verifies and applies; the bets on MS verify but do not apply */
    EXPECT_INT(scan_store(dir, to, &rep, &lines, &e), 0);
    EXPECT_INT(rep.records, 5);
    EXPECT_INT(rep.applied, 3);
    EXPECT_INT(rep.skipped_records, 2);
    EXPECT_INT(rep.skipped_bytes, off[2] - off[1]); /* the damaged record alone: the others verified */
    EXPECT_INT(rep.damaged, 1);
    after = dir_digest(dir);
    EXPECT_STR(after, before); /* the damaged store was only read */
    free(before), free(after);
    EXPECT_INT(scan_store(dir, to, &rep, &lines, &e), -1); /* NEWDIR holds a store now */

    /* the new store: whole, and it opens with what verified */
    EXPECT_INT(scan_store(to, NULL, &rep, &lines, &e), 0);
    EXPECT_INT(rep.records, 3); /* GB's creation, its bets, its result */
    EXPECT_INT(rep.damaged, 0);
    app_t *a = open_app(to, 0);
    EXPECT(a != NULL);
    if (a != NULL) {
        char *list = list_copy(a);
        EXPECT_STR(list, "[" GB_DONE "]");
        free(list);
        app_result_t r = {0};
        EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
        EXPECT(durable(a, r.ticket));
        done(&r);
        app_close(a);
    }
out:
    free(lines.p);
    end_test(todir);
    end_test(dir);
}

/* ---- 14. many threads ---- */

typedef struct {
    app_t *a;
    int stop; /* atomic */
    long rounds, bad;
    unsigned seed;
} lister_t;

static void *lister(void *p)
{
    lister_t *l = p;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE) || l->rounds == 0) {
        l->bad += !wl_read(l->a, 1, "L0-V-C-2024", &l->seed); /* GET /porras */
        l->bad += !wl_read(l->a, 4, "L3-V-C-2024", &l->seed); /* a page */
        l->bad += !wl_read(l->a, 3, "", &l->seed);            /* stats */
        l->rounds++;
    }
    return NULL;
}

static void test_concurrency(void)
{
    char *dir;
    model_t m = {0};
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    pthread_t lt[2];
    lister_t l[2];
    for (int i = 0; i < 2; i++) {
        l[i] = (lister_t){.a = a, .seed = (unsigned)i + 1};
        EXPECT_INT(pthread_create(&lt[i], NULL, lister, &l[i]), 0);
    }
    EXPECT_INT(run_workload(a, &m, 4, 0, 2500, 30), 0);
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&l[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(lt[i], NULL);
        EXPECT_INT(l[i].bad, 0);
        EXPECT(l[i].rounds > 0);
    }
    EXPECT(m.changes > 2000);
    EXPECT_INT(model_check(a, &m), 0);
    app_stats_t st;
    app_stats(a, &st);
    EXPECT_INT(st.store.appends, m.changes); /* one ticket per change, none shared */
    EXPECT(st.store.fsyncs >= 1 && st.store.fsyncs <= st.store.appends);
    char *list = list_copy(a);
    if ((a = reopen_app(a, dir, 0)) != NULL) {
        char *list2 = list_copy(a);
        EXPECT_STR(list2, list);
        EXPECT_INT(model_check(a, &m), 0);
        free(list2);
        app_close(a);
    }
    free(list);
out:
    free(m.hitos_json.p);
    end_test(dir);
}

/* ---- 15. figures ---- */

static void test_stats(void)
{
    char *dir;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    app_result_t r = {0};
    app_stats_t st, prev;
    app_stats(a, &st);
    EXPECT_INT(st.porras, 0);
    EXPECT_INT(st.hitos, 2);
    EXPECT_INT(st.pending, 0);
    EXPECT_INT(st.store.appends, 0);
    EXPECT_INT(st.store.journal_bytes, 32); /* just the header */
    EXPECT_INT(st.store.generation, 1);
    EXPECT_INT(st.store.writable, 1);
    EXPECT_INT(app_writable(a), 1);

    /* after each call, once durable: pools, bets, milestones, appends; the journal grows with them */
#define AFTER(call, status, np, nb, nh, na)                               \
    do {                                                                  \
        prev = st;                                                        \
        EXPECT_INT(call, status);                                         \
        EXPECT(durable(a, r.ticket));                                     \
        app_stats(a, &st);                                                \
        EXPECT_INT(st.porras, np);                                        \
        EXPECT_INT(st.apuestas, nb);                                      \
        EXPECT_INT(st.hitos, nh);                                         \
        EXPECT_INT(st.store.appends, na);                                 \
        EXPECT_INT(st.pending, 0);                                        \
        if (st.store.appends > prev.store.appends)                        \
            EXPECT(st.store.journal_bytes > prev.store.journal_bytes);    \
        else                                                              \
            EXPECT_INT(st.store.journal_bytes, prev.store.journal_bytes); \
    } while (0)
    AFTER(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED, 1, 0, 2, 1);
    AFTER(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_OK, 1, 0, 2, 1);
    AFTER(CREATE(a, "Gra-nada", "Betis", "Liga", "2024"), APP_BAD_PATH, 1, 0, 2, 1);
    AFTER(CREATE(a, "Málaga", "Betis", "Liga", "2024"), APP_CREATED, 2, 0, 2, 2);
    AFTER(BET(a, PID, "ana", SCORE(1, 1)), APP_CREATED, 2, 1, 2, 3);
    AFTER(BET(a, PID, "ana", SCORE(1, 2)), APP_OK, 2, 1, 2, 4);
    AFTER(BET(a, PID, "ana", "{\"local\":1}"), APP_BAD_BODY, 2, 1, 2, 4);
    AFTER(BET(a, "Málaga-Betis-Liga-2024", "luis", SCORE(1, 2)), APP_CREATED, 2, 2, 2, 5);
    AFTER(RESULT(a, PID, SCORE(1, 2)), APP_OK, 2, 2, 2, 6);
    AFTER(BET(a, PID, "luis", SCORE(1, 2)), APP_CONFLICT, 2, 2, 2, 6);
    AFTER(WINNERS(a, PID), APP_OK, 2, 2, 2, 6);
    AFTER(HITO_ADD(a, H2), APP_CREATED, 2, 2, 3, 7);
    AFTER(HITO_ADD(a, H2), APP_CONFLICT, 2, 2, 3, 7);
    AFTER(DELETE(a, PID), APP_DELETED, 1, 1, 3, 8);
    AFTER(DELETE(a, PID), APP_NOT_FOUND, 1, 1, 3, 8);
#undef AFTER
    EXPECT(st.store.fsyncs >= 1 && st.store.fsyncs <= 8);
    EXPECT_INT(st.store.compactions, 0);
    uint64_t bytes = st.store.journal_bytes;
    done(&r);

    if ((a = reopen_app(a, dir, 0)) != NULL) {
        app_stats(a, &st);
        EXPECT_INT(st.porras, 1);
        EXPECT_INT(st.apuestas, 1);
        EXPECT_INT(st.hitos, 3);
        EXPECT_INT(st.store.appends, 0); /* since open */
        EXPECT_INT(st.store.fsyncs, 0);
        EXPECT_INT(st.store.journal_bytes, bytes);
        app_close(a);
    }
out:
    end_test(dir);
}

/* ---- 10. export and import ---- */

static int collect(void *ctx, const char *line, size_t len)
{
    str_add(ctx, line, len);
    str_add(ctx, "\n", 1);
    return 0;
}

/* a's export as text, its lines each ended by '\n'; NULL when app_export failed. */
static char *export_text(app_t *a, app_counts_t *n)
{
    str_t s = {0};
    str_add(&s, "", 0);
    if (app_export(a, collect, &s, n) == 0)
        return s.p;
    free(s.p);
    return NULL;
}

/* Imports text (lines ended by '\n') into a: -3 when app_import_begin refused, the first line's
 * -1, or app_import_commit's result; err says why. */
static int import_text(app_t *a, const char *text, int merge, app_counts_t *n, size_t *skipped, char *err, size_t errlen)
{
    app_import_t *im = app_import_begin(a, merge, err, errlen);
    int rc = 0;
    if (im == NULL)
        return -3;
    for (const char *p = text; rc == 0 && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        rc = app_import_line(im, p, len, err, errlen);
        p += len + (nl != NULL);
    }
    if (rc == 0)
        rc = app_import_commit(im, n, skipped, err, errlen);
    app_import_free(im);
    return rc;
}

#define EXPECT_COUNTS(n, p, b, r, h) \
    do {                             \
        EXPECT_INT((n).pools, p);    \
        EXPECT_INT((n).bets, b);     \
        EXPECT_INT((n).results, r);  \
        EXPECT_INT((n).hitos, h);    \
    } while (0)

#define HQ "{\"file\":\"2.Comillas\",\"title\":\"Un \\\"título\\\" con \\\\ y ñ\",\"fecha\":\"29/2/2020\"}"
#define EXPORT_HEADER(p, b, r, h)                                                                                               \
    "{\"porrio_export\":1,\"version\":\"" PORRIO_VERSION "\",\"pools\":" #p ",\"bets\":" #b ",\"results\":" #r ",\"hitos\":" #h \
    "}\n"
#define EXPORTED                                                                                                \
    EXPORT_HEADER(2, 3, 1, 1)                                                                                   \
    "{\"hito\":" HQ "}\n"                                                                                       \
    "{\"pool\":{\"local\":\"Granada\",\"visitante\":\"Betis\",\"competition\":\"Liga\",\"year\":\"2024\"}}\n"   \
    "{\"bet\":{\"ID\":\"" PID "\",\"quien\":\"zoe\",\"local\":1,\"visitante\":0}}\n"                            \
    "{\"bet\":{\"ID\":\"" PID "\",\"quien\":\"ana-m\",\"local\":2,\"visitante\":2}}\n"                          \
    "{\"result\":{\"ID\":\"" PID "\",\"local\":1,\"visitante\":0}}\n"                                           \
    "{\"pool\":{\"local\":\"Málaga\",\"visitante\":\"Sevilla\",\"competition\":\"Copa\",\"year\":\"2025\"}}\n" \
    "{\"bet\":{\"ID\":\"" MS "\",\"quien\":\"Ñandú\",\"local\":0,\"visitante\":0}}\n"

/* The state EXPORTED shows, made through the operations (a bet replaced, a pool deleted). */
static void exported_state(app_t *a)
{
    app_result_t r = {0};
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(CREATE(a, "gone", "b", "c", "2024"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "zoe", SCORE(3, 3)), APP_CREATED);
    EXPECT_INT(HITO_ADD(a, HQ), APP_CREATED);
    EXPECT_INT(CREATE(a, "Málaga", "Sevilla", "Copa", "2025"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "ana-m", SCORE(2, 2)), APP_CREATED);
    EXPECT_INT(BET(a, PID, "zoe", SCORE(1, 0)), APP_OK);
    EXPECT_INT(BET(a, MS, "Ñandú", SCORE(0, 0)), APP_CREATED);
    EXPECT_INT(RESULT(a, PID, SCORE(1, 0)), APP_OK);
    EXPECT_INT(DELETE(a, "gone-b-c-2024"), APP_DELETED);
    done(&r);
    EXPECT(settle(a));
}

static void test_export_import(void)
{
    char *dir, *dir2 = test_tmpdir("porrio-app"), err[600];
    app_counts_t n;
    size_t skipped = 99;
    app_t *a = start_app(&dir), *b = open_app(dir2, 0);
    if (a == NULL || b == NULL)
        goto out;
    char *empty = export_text(b, &n);
    EXPECT_STR(empty, EXPORT_HEADER(0, 0, 0, 0));
    EXPECT_COUNTS(n, 0, 0, 0, 0);
    free(empty);

    exported_state(a);
    char *text = export_text(a, &n);
    EXPECT_STR(text, EXPORTED);
    EXPECT_COUNTS(n, 2, 3, 1, 1);
    EXPECT_INT(import_text(b, text ? text : "", 0, &n, &skipped, err, sizeof(err)), 0);
    EXPECT_COUNTS(n, 2, 3, 1, 1);
    EXPECT_INT(skipped, 0);
    char *la = list_copy(a), *ha = hitos_list_copy(a);
    b = reopen_app(b, dir2, 0); /* what the import wrote is in the store */
    char *lb = b ? list_copy(b) : NULL, *hb = b ? hitos_list_copy(b) : NULL, *again = b ? export_text(b, &n) : NULL;
    EXPECT(la != NULL && ha != NULL);
    EXPECT_STR(lb, la);
    EXPECT_STR(hb, ha);
    EXPECT_STR(again, text);
    free(la), free(ha), free(lb), free(hb), free(again), free(text);
out:
    app_close(a);
    app_close(b);
    test_rmtree(dir2);
    end_test(dir);
}

/* The line of pool A-B-C-1. */
#define ABC "{\"pool\":{\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}}\n"

/* Each bad file is refused naming its line; nothing is written, and the store stays empty. */
static void test_import_refused(void)
{
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"", "the input is empty"},
        {"{\"pool\":{}}\n", "line 1: not an export's header: pool: unknown field"},
        {"{\"porrio_export\":2,\"version\":\"x\",\"pools\":0,\"bets\":0,\"results\":0,\"hitos\":0}\n",
         "line 1: not an export's header: porrio_export: must be 1"},
        {"{\"porrio_export\":1,\"version\":\"x\",\"pools\":-1,\"bets\":0,\"results\":0,\"hitos\":0}\n",
         "line 1: not an export's header: pools: must be a count"},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pool\":{\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}\n",
         "line 2: not JSON: "},
        {EXPORT_HEADER(1, 0, 0, 0) "\n", "line 2: not JSON: "},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pools\":{}}\n", "line 2: pools: unknown kind of line"},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pool\":{},\"bet\":{}}\n", "line 2: must be an object of one member"},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pool\":{\"local\":\"A\",\"visitante\":\"B\",\"competition\":\"C\"}}\n",
         "line 2: pool: year: missing"},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pool\":{\"local\":\"A-B\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}}\n",
         "line 2: pool: local: "},
        {EXPORT_HEADER(1, 0, 0, 0) "{\"pool\":{\"local\":1,\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}}\n",
         "line 2: pool: local: must be a string"},
        {EXPORT_HEADER(2, 0, 0, 0) ABC ABC, "line 3: pool: ID: pool \"A-B-C-1\" already exists"},
        {EXPORT_HEADER(0, 1, 0, 0) "{\"bet\":{\"ID\":\"A-B-C-1\",\"quien\":\"x\",\"local\":1,\"visitante\":1}}\n",
         "line 2: bet: ID: no pool \"A-B-C-1\""},
        {EXPORT_HEADER(1, 1, 0, 0) ABC "{\"bet\":{\"ID\":\"A-B-C-1\",\"quien\":\"x\",\"local\":100,\"visitante\":1}}\n",
         "line 3: bet: local: must be an integer from 0 to 99"},
        {EXPORT_HEADER(1, 1, 0, 0) ABC "{\"bet\":{\"ID\":\"A-B-C-1\",\"quien\":\"x\",\"local\":1,\"visitante\":1,\"extra\":1}}\n",
         "line 3: bet: extra: unknown field"},
        {EXPORT_HEADER(1, 1, 0, 0) ABC "{\"bet\":{\"ID\":\"A-B-C-1\",\"quien\":\"x/y\",\"local\":1,\"visitante\":1}}\n",
         "line 3: bet: quien: "},
        {EXPORT_HEADER(1, 1, 1, 0) ABC "{\"result\":{\"ID\":\"A-B-C-1\",\"local\":1,\"visitante\":0}}\n"
                                       "{\"bet\":{\"ID\":\"A-B-C-1\",\"quien\":\"x\",\"local\":1,\"visitante\":1}}\n",
         "line 4: bet: betting is closed"},
        {EXPORT_HEADER(0, 0, 1, 0) "{\"result\":{\"ID\":\"nope\",\"local\":1,\"visitante\":0}}\n",
         "line 2: result: ID: must be local-visitante-competition-year"},
        {EXPORT_HEADER(0, 0, 0, 1) "{\"hito\":" H0 "}\n", "line 2: hito: file: \"0.Repositorio\" already exists"},
        {EXPORT_HEADER(0, 0, 0, 1) "{\"hito\":{\"file\":\"x\",\"title\":\"t\",\"fecha\":\"30/2/2020\"}}\n",
         "line 2: hito: fecha: "},
        {EXPORT_HEADER(1, 0, 0, 0) ABC "{\"pool\":{\"local\":\"D\",\"visitante\":\"B\",\"competition\":\"C\",\"year\":\"1\"}}\n",
         "the header announces 1 pools and the file holds 2"},
        {EXPORT_HEADER(1, 1, 0, 0) ABC, "the header announces 1 bets and the file holds 0"},
    };
    char *dir, err[600];
    app_counts_t n;
    size_t skipped;
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    char *before = dir_digest(dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        EXPECT_INT(import_text(a, bad[i].text, 0, &n, &skipped, err, sizeof(err)), -1);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0) {
            test_failed_now = 1;
            printf("# file %zu: err \"%s\", expected \"%s...\"\n", i, err, bad[i].err);
        }
    }
    /* the limits hold as for requests */
    app_set_limits(a, &(app_limits_t){.pools = 1, .bets_per_pool = 1, .hitos = 2});
    EXPECT_INT(import_text(a, EXPORTED, 0, &n, &skipped, err, sizeof(err)), -1);
    EXPECT_STR(err, "line 2: hito: MAX_HITOS reached: 2 milestones, at most 2");
    app_set_limits(a, &(app_limits_t){.pools = 1, .bets_per_pool = 1, .hitos = 3});
    EXPECT_INT(import_text(a, EXPORTED, 0, &n, &skipped, err, sizeof(err)), -1);
    EXPECT_STR(err, "line 5: bet: MAX_BETS_PER_POOL reached: 1 bets in this pool, at most 1");
    app_set_limits(a, &(app_limits_t){.pools = 1, .bets_per_pool = 2, .hitos = 3});
    EXPECT_INT(import_text(a, EXPORTED, 0, &n, &skipped, err, sizeof(err)), -1);
    EXPECT_STR(err, "line 7: pool: MAX_POOLS reached: 1 pools, at most 1");
    EXPECT(settle(a));
    char *list = list_copy(a), *after = dir_digest(dir);
    EXPECT_STR(list, "[]");
    EXPECT_STR(after, before);
    free(list), free(before), free(after);
    app_close(a);
out:
    end_test(dir);
}

/* A store that fails while the lines are applied: -2, and the same file merged afterwards
 * completes the import (docs/store.md, "Export and import"). */
static void test_import_store_fails(void)
{
    char *dir, *dir2 = test_tmpdir("porrio-app"), err[600] = "";
    app_counts_t n;
    size_t skipped;
    app_t *a = start_app(&dir), *b = open_app(dir2, 0);
    if (a == NULL || b == NULL)
        goto out;
    exported_state(a);
    set_faults(1, 0, -1); /* the first fdatasync fails: its changes are LOST */
    EXPECT_INT(import_text(b, EXPORTED, 0, &n, &skipped, err, sizeof(err)), -2);
    EXPECT(strstr(err, "the store") != NULL);
    set_faults(0, 0, -1);
    settle(b); /* the failure decided: the store writes again (the command's process ends meanwhile) */
    EXPECT_INT(import_text(b, EXPORTED, 1, &n, &skipped, err, sizeof(err)), 0);
    char *la = list_copy(a), *ha = hitos_list_copy(a);
    b = reopen_app(b, dir2, 0);
    char *lb = b ? list_copy(b) : NULL, *hb = b ? hitos_list_copy(b) : NULL;
    EXPECT(la != NULL && ha != NULL);
    EXPECT_STR(lb, la);
    EXPECT_STR(hb, ha);
    free(la), free(ha), free(lb), free(hb);
out:
    app_close(a);
    app_close(b);
    test_rmtree(dir2);
    end_test(dir);
}

/* Into a store that holds something: only with merge, which keeps what it holds. */
static void test_import_merge(void)
{
    char *dir, err[600];
    app_counts_t n;
    size_t skipped;
    app_result_t r = {0};
    app_t *a = start_app(&dir);
    if (a == NULL)
        goto out;
    EXPECT_INT(CREATE(a, "Granada", "Betis", "Liga", "2024"), APP_CREATED);
    EXPECT_INT(BET(a, PID, "zoe", SCORE(5, 5)), APP_CREATED);
    EXPECT_INT(BET(a, PID, "bea", SCORE(0, 1)), APP_CREATED);
    EXPECT_INT(HITO_ADD(a, "{\"file\":\"2.Comillas\",\"title\":\"kept\",\"fecha\":\"1/1/2021\"}"), APP_CREATED);
    done(&r);
    EXPECT(settle(a));
    EXPECT_INT(import_text(a, EXPORTED, 0, &n, &skipped, err, sizeof(err)), -3);
    EXPECT_STR(err, "the store is not empty: it holds 1 pools and 1 milestones added with POST /hitos");

    EXPECT_INT(import_text(a, EXPORTED, 1, &n, &skipped, err, sizeof(err)), 0);
    EXPECT_COUNTS(n, 1, 3, 1, 0); /* Granada's pool and the milestone were there */
    EXPECT_INT(skipped, 2);
    EXPECT_INT(LIST(a), APP_OK);
    EXPECT_BODY(r, "[" POOLX("Granada", "Betis", "Liga", "2024", BETJ("zoe", 1, 0) "," BETJ("bea", 0, 1) "," BETJ("ana-m", 2, 2),
                             "\"1-0\"") "," POOLX("Málaga", "Sevilla", "Copa", "2025", BETJ("Ñandú", 0, 0), "null") "]");
    EXPECT_INT(HITO_GET(a, "2", 0), APP_OK);
    EXPECT_BODY(r, "{\"file\":\"2.Comillas\",\"title\":\"kept\",\"fecha\":\"1/1/2021\"}");
    done(&r);

    /* again: every line is held already, the bets of a pool whose result is set too */
    EXPECT_INT(import_text(a, EXPORTED, 1, &n, &skipped, err, sizeof(err)), 0);
    EXPECT_COUNTS(n, 0, 0, 0, 0);
    EXPECT_INT(skipped, 7);
    /* a different bet on a pool whose result is set is refused, as a request would be */
    EXPECT_INT(
        import_text(a, EXPORT_HEADER(0, 1, 0, 0) "{\"bet\":{\"ID\":\"" PID "\",\"quien\":\"zoe\",\"local\":4,\"visitante\":0}}\n",
                    1, &n, &skipped, err, sizeof(err)),
        -1);
    EXPECT_STR(err, "line 2: bet: betting is closed: the result is set");
    app_close(a);
out:
    end_test(dir);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_open_errors);
    RUN(test_damaged_store);
    RUN(test_hitos_read);
    RUN(test_bad_pool_id);
    RUN(test_porra_lifecycle);
    RUN(test_if_match);
    RUN(test_bets_and_results);
    RUN(test_hito_add);
    RUN(test_limits);
    RUN(test_durability);
    RUN(test_pending_invisible);
    RUN(test_fsync_fails);
    RUN(test_unavailable);
    RUN(test_listing);
    RUN(test_listing_version);
    RUN(test_memory);
    RUN(test_compaction);
    RUN(test_upgrade_v1);
    RUN(test_upgrade_v1_damaged);
    RUN(test_verify_recover);
    RUN(test_concurrency);
    RUN(test_stats);
    RUN(test_export_import);
    RUN(test_import_refused);
    RUN(test_import_merge);
    RUN(test_import_store_fails);
    return TEST_END();
}
