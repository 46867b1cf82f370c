#include "store/store.h"
#include "store/store_int.h"
#include "faults.h" /* fdatasync, ftruncate and pwrite fail when a test says so */
#include "test.h"
#include "tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define HDR     32 /* header of a journal or a snapshot */
#define FRAME   8  /* record frame: u24 length, CRC-8, CRC-32 */
#define TRAILER 24 /* snapshot trailer */
#define J1      "journal-0000000000000001"

/* ---- the format, written here from docs/store.md (not from the store's code) ---- */

static uint8_t t_crc8(const unsigned char *p, size_t n)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 0x80) ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    }
    return (uint8_t)c;
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t t_crc32(const void *p, size_t n)
{
    return (uint32_t)crc32(0, p, (uInt)n);
}

/* A growable byte string. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes_t;

static void b_add(bytes_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void b_header(bytes_t *b, int snapshot, uint64_t gen, uint64_t id)
{
    unsigned char h[HDR] = {0};
    memcpy(h, snapshot ? "PORRIOS2" : "PORRIOJ2", 8);
    le64(h + 8, gen);
    le64(h + 16, id);
    le32(h + 28, t_crc32(h, 28));
    b_add(b, h, HDR);
}

static void b_frame(bytes_t *b, const void *rec, size_t len)
{
    unsigned char f[FRAME];
    f[0] = (unsigned char)len, f[1] = (unsigned char)(len >> 8), f[2] = (unsigned char)(len >> 16);
    f[3] = t_crc8(f, 3);
    le32(f + 4, t_crc32(rec, len));
    b_add(b, f, FRAME);
    b_add(b, rec, len);
}

static void b_trailer(bytes_t *b, uint64_t count)
{
    unsigned char t[TRAILER];
    memcpy(t, "PORRIOSE", 8);
    le64(t + 8, count);
    le32(t + 16, t_crc32(b->p, b->len));
    le32(t + 20, t_crc32(t, 20));
    b_add(b, t, TRAILER);
}

/* ---- files ---- */

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (f == NULL)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (*len == cap)
            buf = realloc(buf, cap = cap ? cap * 2 : 4096);
        size_t r = fread(buf + *len, 1, cap - *len, f);
        if (r == 0)
            break;
        *len += r;
    }
    fclose(f);
    return buf;
}

static int write_whole(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static long long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static const char *jname(uint64_t g)
{
    static char buf[4][40];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "journal-%016" PRIx64, g);
    return p;
}

static const char *sname(uint64_t g)
{
    static char buf[4][40];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "snapshot-%016" PRIx64, g);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, joined by spaces ("." and ".." left out). */
static void list_dir(const char *dir, char *out, size_t outlen)
{
    DIR *d = opendir(dir);
    char *names[256];
    int n = 0;
    struct dirent *de;
    out[0] = '\0';
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL && n < 256)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0, "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
}

/* Every file of dir: names, sizes and CRC-32s, to tell that nothing was changed. */
static void digest_dir(const char *dir, char *out, size_t outlen)
{
    char names[4096];
    list_dir(dir, names, sizeof(names));
    size_t used = (size_t)snprintf(out, outlen, "%s |", names);
    char *save, *name = strtok_r(names, " ", &save);
    for (; name != NULL; name = strtok_r(NULL, " ", &save)) {
        size_t len;
        unsigned char *b = read_whole(test_path(dir, name), &len);
        used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0, " %zu:%08x", len, b != NULL ? t_crc32(b, len) : 0);
        free(b);
    }
}

/* ---- the caller: state, listener, freeze/dump/thaw, as the application does it ---- */

/* Deterministic content for record i of length len, without zero bytes. */
static char *make_rec(int i, size_t len)
{
    char *r = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
        r[k] = (char)(1 + (i * 131 + k * 7 + (k >> 8)) % 255);
    r[len] = '\0';
    return r;
}

typedef struct {
    char *p;
    size_t len;
    uint64_t ticket; /* 0: replayed */
} rec_t;

typedef struct {
    rec_t *v;
    size_t n;
} frozen_t;

typedef struct {
    pthread_mutex_t mu; /* the writer lock: appends, their records and the listener's work */
    pthread_cond_t cv;  /* the dump gate */
    ticket_ledger_t *l;
    store_t *s;
    rec_t *v; /* the working state: every record replayed or appended, in journal order */
    size_t n, cap;
    size_t published; /* v[0 .. published) are durable: what readers would see */
    uint64_t last_upto;
    int backwards, uncovered; /* a decision went back; records left undecided by a decision */
    long durable_calls, lost_calls, lost_records;
    char warns[64][700];
    int nwarn;
    const char *refuse; /* replay refuses this record */
    int refused;
    long freezes, dumps, thaws;
    int dump_fails;           /* dump returns -1 */
    int gate_closed, in_dump; /* dump waits while the gate is closed */
    store_error_t e;          /* from the last app_open */
    int live;                 /* opened and not yet closed */
} app_t;

static void app_push(app_t *a, const void *p, size_t len, uint64_t t)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = realloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n].p = malloc(len + 1);
    memcpy(a->v[a->n].p, p, len);
    a->v[a->n].p[len] = '\0';
    a->v[a->n].len = len;
    a->v[a->n++].ticket = t;
}

static int on_replay(void *ctx, const char *rec, size_t len, char *err, size_t errlen)
{
    app_t *a = ctx;
    if (a->refuse != NULL && len == strlen(a->refuse) && memcmp(rec, a->refuse, len) == 0) {
        a->refused++;
        snprintf(err, errlen, "no such porra (%.*s)", (int)len, rec);
        return -1;
    }
    app_push(a, rec, len, 0);
    a->published = a->n;
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    app_t *a = ctx;
    pthread_mutex_lock(&a->mu);
    if (a->nwarn < 64)
        snprintf(a->warns[a->nwarn], sizeof(a->warns[0]), "%s", msg);
    a->nwarn++;
    pthread_mutex_unlock(&a->mu);
}

/* opts.info, into the same list as the warnings: "info: " and the message. */
static void on_info(void *ctx, const char *msg)
{
    char line[512];
    snprintf(line, sizeof(line), "info: %s", msg);
    on_warn(ctx, line);
}

/* The application's listener: publishes durable records, reverts lost ones. */
static void on_decide(void *ctx, uint64_t upto, ticket_state_t fate)
{
    app_t *a = ctx;
    pthread_mutex_lock(&a->mu);
    if (upto <= a->last_upto)
        a->backwards = 1;
    a->last_upto = upto;
    if (fate == TICKET_DURABLE) {
        a->durable_calls++;
        while (a->published < a->n && a->v[a->published].ticket <= upto)
            a->published++;
    } else {
        a->lost_calls++;
        for (size_t i = a->published; i < a->n; i++) {
            if (a->v[i].ticket > upto)
                a->uncovered = 1; /* appended while the failure was handled: must not happen */
            free(a->v[i].p);
        }
        a->lost_records += (long)(a->n - a->published);
        a->n = a->published;
    }
    if (a->published < a->n && a->v[a->published].ticket <= upto)
        a->uncovered = 1;
    pthread_mutex_unlock(&a->mu);
}

static void *on_freeze(void *ctx)
{
    app_t *a = ctx;
    frozen_t *f = malloc(sizeof(*f));
    pthread_mutex_lock(&a->mu);
    a->freezes++;
    f->n = a->published;
    f->v = malloc((f->n + 1) * sizeof(*f->v));
    for (size_t i = 0; i < f->n; i++) {
        f->v[i].len = a->v[i].len;
        f->v[i].p = malloc(a->v[i].len + 1);
        memcpy(f->v[i].p, a->v[i].p, a->v[i].len);
    }
    pthread_mutex_unlock(&a->mu);
    return f;
}

static int on_dump(void *ctx, void *frozen, store_emit_t emit, void *ectx)
{
    app_t *a = ctx;
    frozen_t *f = frozen;
    pthread_mutex_lock(&a->mu);
    a->dumps++;
    a->in_dump = 1;
    pthread_cond_broadcast(&a->cv);
    while (a->gate_closed)
        pthread_cond_wait(&a->cv, &a->mu);
    a->in_dump = 0;
    int fails = a->dump_fails;
    pthread_mutex_unlock(&a->mu);
    if (fails)
        return -1;
    for (size_t i = 0; i < f->n; i++)
        if (emit(ectx, f->v[i].p, f->v[i].len) != 0)
            return -1;
    return 0;
}

static void on_thaw(void *ctx, void *frozen)
{
    app_t *a = ctx;
    frozen_t *f = frozen;
    pthread_mutex_lock(&a->mu);
    a->thaws++;
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].p);
    free(f->v);
    free(f);
}

/* A listener that can hold the committer inside a decision (after the application's). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, held;
    ticket_state_t when;
    uint64_t upto;
} hold_t;

static hold_t hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, TICKET_PENDING, 0};

static void on_hold(void *ctx, uint64_t upto, ticket_state_t fate)
{
    (void)ctx;
    pthread_mutex_lock(&hold.mu);
    if (hold.armed && fate == hold.when) {
        hold.armed = 0;
        hold.held = 1;
        hold.upto = upto;
        pthread_cond_broadcast(&hold.cv);
        while (hold.held)
            pthread_cond_wait(&hold.cv, &hold.mu);
    }
    pthread_mutex_unlock(&hold.mu);
}

static void hold_arm(ticket_state_t when)
{
    pthread_mutex_lock(&hold.mu);
    hold.armed = 1;
    hold.when = when;
    pthread_mutex_unlock(&hold.mu);
}

static void hold_wait(void)
{
    pthread_mutex_lock(&hold.mu);
    while (!hold.held)
        pthread_cond_wait(&hold.cv, &hold.mu);
    pthread_mutex_unlock(&hold.mu);
}

static void hold_release(void)
{
    pthread_mutex_lock(&hold.mu);
    hold.held = 0;
    pthread_cond_broadcast(&hold.cv);
    pthread_mutex_unlock(&hold.mu);
}

static void app_forget(app_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i].p);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = a->published = 0;
}

/* Opens the store in dir on a fresh ledger and state, replay refusing the record `refuse`; the
 * store or NULL (a->e says why). */
static store_t *app_open_refusing(app_t *a, const char *dir, size_t compact_bytes, const char *refuse)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->refuse = refuse;
    a->l = ticket_ledger_new();
    ticket_listen(a->l, on_decide, a);
    ticket_listen(a->l, on_hold, NULL); /* a no-op unless a test arms it */
    store_opts_t o = {.dir = dir,
                      .compact_bytes = compact_bytes,
                      .ledger = a->l,
                      .replay = on_replay,
                      .warn = on_warn,
                      .info = on_info,
                      .freeze = on_freeze,
                      .dump = on_dump,
                      .thaw = on_thaw,
                      .ctx = a};
    a->live = 1;
    a->s = store_open(&o, &a->e);
    if (a->s == NULL && !a->e.damaged)
        printf("# store_open(%s): %s\n", dir, a->e.problem);
    return a->s;
}

static store_t *app_open(app_t *a, const char *dir, size_t compact_bytes)
{
    return app_open_refusing(a, dir, compact_bytes, NULL);
}

/* Closes the store and frees what a holds. */
static void app_close(app_t *a)
{
    if (!a->live)
        return;
    a->live = 0;
    store_close(a->s);
    a->s = NULL;
    app_forget(a);
    ticket_ledger_free(a->l);
    a->l = NULL;
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

/* Appends a record as a request would: under the writer lock, into the state. The ticket, or 0
 * with the refusal in err (may be NULL). */
static uint64_t app_append(app_t *a, const void *p, size_t len, char *err)
{
    char e[256] = "";
    pthread_mutex_lock(&a->mu);
    uint64_t t = store_append(a->s, p, len, e, sizeof(e));
    if (t != 0)
        app_push(a, p, len, t);
    pthread_mutex_unlock(&a->mu);
    if (err != NULL)
        snprintf(err, 256, "%s", e);
    return t;
}

static ticket_state_t app_put(app_t *a, const char *str)
{
    uint64_t t = app_append(a, str, strlen(str), NULL);
    return t == 0 ? TICKET_LOST : ticket_wait(a->l, t);
}

static int find_warn(app_t *a, const char *w1, const char *w2)
{
    pthread_mutex_lock(&a->mu);
    int found = -1;
    for (int i = 0; i < a->nwarn && i < 64 && found < 0; i++)
        if (strstr(a->warns[i], w1) != NULL && (w2 == NULL || strstr(a->warns[i], w2) != NULL))
            found = i;
    pthread_mutex_unlock(&a->mu);
    return found;
}

static void print_warns(app_t *a)
{
    for (int i = 0; i < a->nwarn && i < 64; i++)
        printf("#   warning: %s\n", a->warns[i]);
}

/* Whether the state holds exactly the strings of the NULL-terminated want, in order. */
static int state_is(app_t *a, const char *const *want)
{
    size_t i = 0;
    for (; want[i] != NULL; i++)
        if (i >= a->n || a->v[i].len != strlen(want[i]) || memcmp(a->v[i].p, want[i], a->v[i].len) != 0)
            break;
    int same = want[i] == NULL && i == a->n;
    if (!same) {
        printf("# state (%zu records):", a->n);
        for (size_t k = 0; k < a->n && k < 12; k++)
            printf(" \"%.20s\"", a->v[k].p);
        printf("\n");
    }
    return same;
}

#define STRS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Reopens dir and expects exactly want, no warning. */
static void expect_reopen(const char *dir, const char *const *want)
{
    app_t a;
    EXPECT(app_open(&a, dir, 0) != NULL);
    if (a.s == NULL)
        printf("# store_open: %s: %s (offset %lld)\n", a.e.file, a.e.problem, a.e.offset);
    EXPECT(state_is(&a, want));
    EXPECT_INT(a.nwarn, 0);
    print_warns(&a);
    app_close(&a);
}

/* Expects store_open on dir to refuse it as damaged, naming file `name` at `offset` (-2: any)
 * with a problem holding `words`, and to leave every file as it was. */
static void expect_damage(const char *dir, const char *name, long long offset, const char *words, const char *what)
{
    char before[8192], after[8192], file[600];
    digest_dir(dir, before, sizeof(before));
    int failed_before = test_failed_now;
    test_failed_now = 0;
    app_t a;
    store_t *s = app_open(&a, dir, 0);
    EXPECT(s == NULL);
    EXPECT_INT(a.e.damaged, 1);
    snprintf(file, sizeof(file), "%s/%s", dir, name);
    EXPECT_STR(a.e.file, file);
    if (offset != -2)
        EXPECT_INT(a.e.offset, offset);
    EXPECT(strstr(a.e.problem, words) != NULL);
    app_close(&a);
    digest_dir(dir, after, sizeof(after));
    EXPECT_STR(after, before);
    if (test_failed_now)
        printf("# ... with %s: %s at %lld: %s\n", what, a.e.file, a.e.offset, a.e.problem);
    test_failed_now |= failed_before;
}

/* ---- the format ---- */

static void test_format_bytes(void)
{
    static const unsigned char check[] = "123456789";
    EXPECT_INT(t_crc8(check, 9), 0xf4); /* CRC-8, polynomial 0x07, init 0, no reflection */

    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(fsize(test_path(dir, J1)), HDR);
    EXPECT_INT(app_put(&a, "abc"), TICKET_DURABLE);
    EXPECT_INT(app_put(&a, "a record of some length"), TICKET_DURABLE);
    store_compact_now(a.s);
    EXPECT_INT(store_compact_wait(a.s), 0);
    EXPECT_INT(app_put(&a, "after"), TICKET_DURABLE);
    app_close(&a);

    char names[512];
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000002 snapshot-0000000000000002");
    size_t jlen, slen;
    unsigned char *j = read_whole(test_path(dir, jname(2)), &jlen);
    unsigned char *sn = read_whole(test_path(dir, sname(2)), &slen);
    EXPECT(j != NULL && jlen >= HDR && sn != NULL && slen >= HDR);
    if (j != NULL && jlen >= HDR && sn != NULL && slen >= HDR) {
        uint64_t id = rd64(j + 16);
        EXPECT_INT(rd64(sn + 16), id);
        bytes_t want = {0};
        b_header(&want, 0, 2, id);
        b_frame(&want, "after", 5);
        EXPECT(want.len == jlen && memcmp(want.p, j, jlen) == 0);
        want.len = 0;
        b_header(&want, 1, 2, id);
        b_frame(&want, "abc", 3);
        b_frame(&want, "a record of some length", 23);
        b_trailer(&want, 2);
        EXPECT(want.len == slen && memcmp(want.p, sn, slen) == 0);
        free(want.p);
    }
    free(j);
    free(sn);
    expect_reopen(dir, STRS("abc", "a record of some length", "after"));
out:
    app_close(&a);
    test_rmtree(dir);
}

static void test_round_trip(void)
{
    static const size_t lens[] = {1, 7, 100 * 1024, 4096, 255, 65536 + 3, 511, 513};
    const int n = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(a.n, 0);
    EXPECT_INT(a.nwarn, 0);
    EXPECT(store_writable(a.s));
    uint64_t last = 0;
    for (int i = 0; i < n; i++) {
        char *r = make_rec(i, lens[i]);
        uint64_t t = app_append(&a, r, lens[i], NULL);
        EXPECT_INT(t, last + 1);
        last = t;
        free(r);
    }
    EXPECT_INT(ticket_wait(a.l, last), TICKET_DURABLE);
    store_stats_t st;
    store_stats(a.s, &st);
    EXPECT_INT(st.appends, n);
    EXPECT(st.fsyncs >= 1 && st.fsyncs <= (uint64_t)n);
    EXPECT_INT(st.generation, 1);
    EXPECT_INT(st.snapshot_bytes, 0);
    EXPECT(st.writable);
    size_t total = HDR;
    for (int i = 0; i < n; i++)
        total += FRAME + lens[i];
    EXPECT_INT(st.journal_bytes, total);
    app_close(&a);
    EXPECT_INT(fsize(test_path(dir, J1)), total);

    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(a.n, n);
    for (int i = 0; i < n && i < (int)a.n; i++) {
        char *r = make_rec(i, lens[i]);
        EXPECT(a.v[i].len == lens[i] && memcmp(a.v[i].p, r, lens[i]) == 0);
        free(r);
    }
    EXPECT_INT(a.nwarn, 0);
    app_close(&a);
    EXPECT_INT(fsize(test_path(dir, J1)), total); /* a clean reopen changes nothing */
out:
    app_close(&a);
    test_rmtree(dir);
}

static void test_record_limits(void)
{
    char *dir = test_tmpdir("porrio-store");
    char *big = calloc(1, (size_t)STORE_RECORD_MAX + 1);
    char err[256];
    app_t a;
    if (app_open(&a, dir, 0) == NULL || big == NULL)
        goto out;
    EXPECT_INT(app_append(&a, "", 0, err), 0);
    EXPECT(strstr(err, "1 to 16777215") != NULL);
    EXPECT_INT(app_append(&a, big, (size_t)STORE_RECORD_MAX + 1, err), 0);
    EXPECT(store_writable(a.s));
    big[0] = 'x', big[STORE_RECORD_MAX - 1] = 'y'; /* zeros inside are fine: the CRC covers them */
    uint64_t t = app_append(&a, big, STORE_RECORD_MAX, err);
    EXPECT_INT(t, 1);
    EXPECT_INT(ticket_wait(a.l, t), TICKET_DURABLE);
    EXPECT_INT(app_put(&a, "after"), TICKET_DURABLE);
    app_close(&a);
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(a.n, 2);
    EXPECT(a.n == 2 && a.v[0].len == STORE_RECORD_MAX && memcmp(a.v[0].p, big, STORE_RECORD_MAX) == 0);
    EXPECT(a.n == 2 && strcmp(a.v[1].p, "after") == 0);
    app_close(&a);
out:
    app_close(&a);
    free(big);
    test_rmtree(dir);
}

#define GC_THREADS 6
#define GC_PER     300

typedef struct {
    app_t *a;
    int id, failures;
} gc_arg_t;

static void *gc_writer(void *p)
{
    gc_arg_t *g = p;
    char rec[64];
    for (int i = 0; i < GC_PER; i++) {
        snprintf(rec, sizeof(rec), "writer %d record %d", g->id, i);
        if (app_put(g->a, rec) != TICKET_DURABLE)
            g->failures++;
    }
    return NULL;
}

/* Listeners that log their calls, to check the order of calls across listeners. */
typedef struct {
    pthread_mutex_t mu;
    int seq[4096];
    uint64_t upto[4096];
    int n;
} calls_t;

static calls_t calls = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void log_call(int who, uint64_t upto)
{
    pthread_mutex_lock(&calls.mu);
    if (calls.n < 4096)
        calls.seq[calls.n] = who, calls.upto[calls.n] = upto;
    calls.n++;
    pthread_mutex_unlock(&calls.mu);
}

static void on_first(void *ctx, uint64_t upto, ticket_state_t fate)
{
    app_t *a = ctx;
    pthread_mutex_lock(&a->mu);
    int published = a->last_upto == upto && fate == TICKET_DURABLE; /* the application's ran before */
    pthread_mutex_unlock(&a->mu);
    log_call(published ? 1 : -1, upto);
}

static void on_second(void *ctx, uint64_t upto, ticket_state_t fate)
{
    (void)ctx, (void)fate;
    log_call(2, upto);
}

static void test_group_commit(void)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    calls.n = 0;
    EXPECT_INT(ticket_listen(a.l, on_first, &a), 0);
    EXPECT_INT(ticket_listen(a.l, on_second, NULL), 0);
    pthread_t th[GC_THREADS];
    gc_arg_t args[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        args[i] = (gc_arg_t){.a = &a, .id = i};
        pthread_create(&th[i], NULL, gc_writer, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    const int total = GC_THREADS * GC_PER;
    store_stats_t st;
    store_stats(a.s, &st);
    app_close(&a);
    printf("# group commit: %" PRIu64 " fsyncs for %d appends, %ld decisions\n", st.fsyncs, total, a.durable_calls);
    EXPECT_INT(failures, 0);
    EXPECT_INT(st.appends, total);
    EXPECT(st.fsyncs >= 1 && st.fsyncs < (uint64_t)total);
    EXPECT(!a.backwards);
    EXPECT(!a.uncovered);
    EXPECT_INT(a.last_upto, total);
    EXPECT_INT(a.lost_calls, 0);
    /* each decision: the application's listener, then on_first, then on_second; upto increasing */
    int order_ok = calls.n == 2 * a.durable_calls && calls.n <= 4096;
    for (int k = 0; order_ok && k < calls.n; k += 2)
        order_ok = calls.seq[k] == 1 && calls.seq[k + 1] == 2 && calls.upto[k] == calls.upto[k + 1] &&
                   (k == 0 || calls.upto[k] > calls.upto[k - 1]);
    EXPECT(order_ok);

    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(a.n, total);
    int next[GC_THREADS] = {0}, in_order = 1;
    for (size_t i = 0; i < a.n; i++) {
        int w = -1, k = -1;
        if (sscanf(a.v[i].p, "writer %d record %d", &w, &k) != 2 || w < 0 || w >= GC_THREADS || k != next[w]++)
            in_order = 0;
    }
    EXPECT(in_order);
    for (int i = 0; i < GC_THREADS; i++)
        EXPECT_INT(next[i], GC_PER);
    app_close(&a);
out:
    app_close(&a);
    test_rmtree(dir);
}

/* Appends without waiting, then closes: the close writes everything and decides it. */
static void test_close_flushes(void)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    uint64_t t = 0;
    char rec[32];
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    for (int i = 0; i < 500; i++) {
        snprintf(rec, sizeof(rec), "r%d", i);
        t = app_append(&a, rec, strlen(rec), NULL);
    }
    store_close(a.s);
    a.s = NULL;
    EXPECT_INT(ticket_state(a.l, t), TICKET_DURABLE);
    EXPECT_INT(a.published, 500);
    app_close(&a);
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(a.n, 500);
    EXPECT(a.n == 500 && strcmp(a.v[499].p, "r499") == 0);
    app_close(&a);
out:
    app_close(&a);
    test_rmtree(dir);
}

static void test_lock_and_dir(void)
{
    char *base = test_tmpdir("porrio-store");
    char dir[512], deep[512];
    snprintf(dir, sizeof(dir), "%s/data", base);
    snprintf(deep, sizeof(deep), "%s/no/such/data", base);
    app_t a, b;
    EXPECT(app_open(&a, dir, 0) != NULL); /* one level missing: created */
    EXPECT(app_open(&b, dir, 0) == NULL);
    EXPECT_INT(b.e.damaged, 0);
    EXPECT(strstr(b.e.problem, "in use by another porrio") != NULL);
    app_close(&b);
    app_close(&a);
    EXPECT(app_open(&b, dir, 0) != NULL); /* the lock went with the close */
    app_close(&b);

    EXPECT(app_open(&a, deep, 0) == NULL);
    EXPECT_INT(a.e.damaged, 0);
    EXPECT(strstr(a.e.problem, deep) != NULL && strstr(a.e.problem, "No such file") != NULL);
    app_close(&a);
    snprintf(deep, sizeof(deep), "%s/file", base);
    EXPECT_INT(write_whole(deep, "x", 1), 0);
    EXPECT(app_open(&a, deep, 0) == NULL);
    EXPECT_INT(a.e.damaged, 0);
    app_close(&a);
    test_rmtree(base);
}

/* ---- the torn tail ---- */

/* A new store holding records 0..k-1 of lens[] (make_rec), closed: its directory. */
static char *store_of(const size_t *lens, int k)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        for (int i = 0; i < k; i++) {
            char *r = make_rec(i, lens[i]);
            uint64_t t = app_append(&a, r, lens[i], NULL);
            EXPECT(t > 0 && ticket_wait(a.l, t) == TICKET_DURABLE);
            free(r);
        }
    }
    app_close(&a);
    return dir;
}

static size_t end_of(const size_t *lens, int k)
{
    size_t off = HDR;
    for (int i = 0; i < k; i++)
        off += FRAME + lens[i];
    return off;
}

static int holds_recs(const app_t *a, const size_t *lens, int k)
{
    if ((int)a->n != k)
        return 0;
    for (int i = 0; i < k; i++) {
        char *r = make_rec(i, lens[i]);
        int same = a->v[i].len == lens[i] && memcmp(a->v[i].p, r, lens[i]) == 0;
        free(r);
        if (!same)
            return 0;
    }
    return 1;
}

/* Writes `len` bytes of content as the journal, opens, and expects the first k records, one
 * warning about a torn tail cut at `cut`, the journal cut to it, and appends working. */
static void expect_torn(const char *dir, const char *jn, const unsigned char *content, size_t len, size_t cut, const size_t *lens,
                        int k, const char *what)
{
    int failed_before = test_failed_now;
    test_failed_now = 0;
    EXPECT_INT(write_whole(test_path(dir, jn), content, len), 0);
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        char off[64];
        snprintf(off, sizeof(off), "offset %zu cut off", cut);
        EXPECT(holds_recs(&a, lens, k));
        EXPECT_INT(a.nwarn, 1);
        EXPECT(find_warn(&a, "torn tail", off) >= 0);
        EXPECT(find_warn(&a, jn, NULL) >= 0);
        EXPECT_INT(fsize(test_path(dir, jn)), cut);
        EXPECT(store_writable(a.s));
        EXPECT_INT(app_put(&a, "after the cut"), TICKET_DURABLE);
    } else {
        test_failed_now = 1;
        printf("# store_open: %s at %lld: %s\n", a.e.file, a.e.offset, a.e.problem);
    }
    app_close(&a);
    if (test_failed_now) {
        printf("# ... with %s\n", what);
        print_warns(&a);
    }
    test_failed_now |= failed_before;
}

static void test_torn_every_offset(void)
{
    static const size_t lens[] = {10, 1, 300, 2, 900}; /* the last one spans 512-byte blocks */
    const int k = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir = store_of(lens, k);
    size_t full_len;
    unsigned char *full = read_whole(test_path(dir, J1), &full_len);
    EXPECT_INT(full_len, end_of(lens, k));
    const size_t cut = end_of(lens, k - 1);
    int bad = 0;
    for (size_t len = cut + 1; full != NULL && len < full_len && bad < 3; len++) {
        char what[96];
        snprintf(what, sizeof(what), "the journal cut to %zu of %zu bytes", len, full_len);
        int before = test_failed_now;
        test_failed_now = 0;
        expect_torn(dir, J1, full, len, cut, lens, k - 1, what);
        bad += test_failed_now;
        test_failed_now |= before;
    }
    /* and the record appended after each cut is the only one after record k - 2 */
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT_INT(a.n, k);
        EXPECT(a.n >= (size_t)k && strcmp(a.v[k - 1].p, "after the cut") == 0);
    }
    app_close(&a);
    free(full);
    test_rmtree(dir);
}

static void test_torn_zero_tails(void)
{
    static const size_t lens[] = {20, 3000, 40, 2000};
    const int k = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir = store_of(lens, k);
    size_t len;
    unsigned char *orig = read_whole(test_path(dir, J1), &len);
    EXPECT_INT(len, end_of(lens, k));
    unsigned char *buf = calloc(1, len + 8192);
    if (orig == NULL || buf == NULL)
        goto out;

    /* zeros after the last record: a few, a frame's worth, several blocks */
    static const size_t zeros[] = {3, 8, 100, 5000};
    for (size_t z = 0; z < sizeof(zeros) / sizeof(zeros[0]); z++) {
        memset(buf, 0, len + 8192);
        memcpy(buf, orig, len);
        expect_torn(dir, J1, buf, len + zeros[z], len, lens, k, "zeros after the last record");
        EXPECT_INT(write_whole(test_path(dir, J1), orig, len), 0);
    }

    /* a zero 512-byte block inside the last record (its payload fails its CRC-32) */
    size_t last = end_of(lens, k - 1);
    size_t block = (last + FRAME + 511) / 512 * 512;
    memcpy(buf, orig, len);
    memset(buf + block, 0, 512);
    EXPECT(block + 512 <= len);
    expect_torn(dir, J1, buf, len, last, lens, k - 1, "a zero block in the last record");

    /* only the part of the last record inside its final block is zero (8 bytes or more) */
    memcpy(buf, orig, len);
    size_t tail_block = (len - 1) / 512 * 512;
    memset(buf + tail_block, 0, len - tail_block);
    EXPECT(tail_block > last + FRAME);
    if (len - tail_block >= 8)
        expect_torn(dir, J1, buf, len, last, lens, k - 1, "the last record's final block zero");

    /* the same zero block in a record that is not the last is damage */
    block = (end_of(lens, 1) + FRAME + 511) / 512 * 512;
    memcpy(buf, orig, len);
    memset(buf + block, 0, 512);
    EXPECT(block + 512 <= end_of(lens, 2));
    EXPECT_INT(write_whole(test_path(dir, J1), buf, len), 0);
    expect_damage(dir, J1, (long long)end_of(lens, 1), "record fails its checksum; 2 valid records follow",
                  "a zero block in a record that is not the last");
out:
    free(orig);
    free(buf);
    test_rmtree(dir);
}

/* ---- damage ---- */

/* Writes dir/name as a journal or snapshot of generation gen with the strings of recs. */
static void put_file(const char *dir, const char *name, int snapshot, uint64_t gen, uint64_t id, const char *const *recs)
{
    bytes_t b = {0};
    uint64_t n = 0;
    b_header(&b, snapshot, gen, id);
    for (; recs != NULL && recs[n] != NULL; n++)
        b_frame(&b, recs[n], strlen(recs[n]));
    if (snapshot)
        b_trailer(&b, n);
    EXPECT_INT(write_whole(test_path(dir, name), b.p, b.len), 0);
    free(b.p);
}

#define ID 0x1234567890abcdefull

/* Flips bit (pos % 8) of byte pos of dir/name, or puts it back. */
static void flip(const char *dir, const char *name, size_t pos)
{
    size_t len;
    unsigned char *b = read_whole(test_path(dir, name), &len);
    if (b != NULL && pos < len) {
        b[pos] ^= (unsigned char)(1u << (pos % 8));
        EXPECT_INT(write_whole(test_path(dir, name), b, len), 0);
    }
    free(b);
}

/* A store made by the store: snapshot-2 holding A..E (a compaction), journal-2 holding the
 * strings of `more`. */
static char *store_compacted(const char *const *more)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        static const char *const first[] = {"A-first", "B-second", "C-third", "D-fourth", "E-fifth"};
        for (int i = 0; i < 5; i++)
            EXPECT_INT(app_put(&a, first[i]), TICKET_DURABLE);
        store_compact_now(a.s);
        EXPECT_INT(store_compact_wait(a.s), 0);
        for (int i = 0; more[i] != NULL; i++)
            EXPECT_INT(app_put(&a, more[i]), TICKET_DURABLE);
    }
    app_close(&a);
    char names[512];
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000002 snapshot-0000000000000002");
    return dir;
}

static void test_damaged_headers(void)
{
    char *dir = store_compacted(STRS("F-sixth", "G-seventh"));
    for (int snap = 0; snap <= 1; snap++) {
        const char *name = snap ? sname(2) : jname(2);
        for (size_t pos = 0; pos < HDR; pos++) {
            char what[64];
            snprintf(what, sizeof(what), "bit %zu of byte %zu of the header", pos % 8, pos);
            flip(dir, name, pos);
            expect_damage(dir, name, 0, "header fails its checksum", what);
            flip(dir, name, pos);
        }
    }
    expect_reopen(dir, STRS("A-first", "B-second", "C-third", "D-fourth", "E-fifth", "F-sixth", "G-seventh"));
    test_rmtree(dir);
}

static void test_damaged_records(void)
{
    static const char *const more[] = {"F-sixth", "G-a longer seventh record", "H", "I-ninth",
                                       "J-tenth", "K-the last record",         NULL};
    const int k = 6;
    char *dir = store_compacted(more);
    static const int js[] = {0, 2, 5};
    for (size_t jj = 0; jj < sizeof(js) / sizeof(js[0]); jj++) {
        const int j = js[jj];
        size_t at = HDR, len = strlen(more[j]);
        for (int i = 0; i < j; i++)
            at += FRAME + strlen(more[i]);
        const size_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7, FRAME, FRAME + len / 2, FRAME + len - 1};
        for (size_t p = 0; p < sizeof(pos) / sizeof(pos[0]); p++) {
            char what[96], words[96];
            snprintf(what, sizeof(what), "byte %zu of record %d of the journal", pos[p], j);
            snprintf(words, sizeof(words), "%s; %d valid record%s follow%s",
                     pos[p] < 4 ? "record's length fails its check" : "record fails its checksum", k - 1 - j,
                     k - 1 - j == 1 ? "" : "s", k - 1 - j == 1 ? "s" : "");
            flip(dir, jname(2), at + pos[p]);
            expect_damage(dir, jname(2), (long long)at, words, what);
            flip(dir, jname(2), at + pos[p]);
        }
    }
    /* a record of the snapshot (the second: offset 32 + 8 + 7), and its trailer */
    const size_t at = HDR + FRAME + strlen("A-first");
    flip(dir, sname(2), at + FRAME + 3);
    expect_damage(dir, sname(2), (long long)at, "record fails its checksum; 3 valid records follow", "a snapshot record");
    flip(dir, sname(2), at + FRAME + 3);
    size_t slen = (size_t)fsize(test_path(dir, sname(2)));
    for (size_t pos = slen - TRAILER; pos < slen; pos += 5) {
        flip(dir, sname(2), pos);
        expect_damage(dir, sname(2), -2, pos < slen - TRAILER + 8 ? "no trailer" : "trailer fails its checksum",
                      "a byte of the trailer");
        flip(dir, sname(2), pos);
    }
    app_t a;
    EXPECT(app_open_refusing(&a, dir, 0, "H") == NULL);
    EXPECT_INT(a.e.damaged, 1);
    EXPECT(strstr(a.e.problem, "record does not apply: no such porra (H)") != NULL);
    EXPECT_STR(a.e.file, test_path(dir, jname(2)));
    EXPECT_INT(a.e.offset, HDR + 2 * FRAME + strlen(more[0]) + strlen(more[1]));
    app_close(&a);
    test_rmtree(dir);
}

static void test_truncated_snapshot(void)
{
    char *dir = store_compacted(STRS("F"));
    size_t len;
    unsigned char *orig = read_whole(test_path(dir, sname(2)), &len);
    const size_t cuts[] = {0, 10, 31, 32, 33, 40, 60, len - TRAILER - 3, len - TRAILER, len - 1};
    for (size_t i = 0; orig != NULL && i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char what[96];
        snprintf(what, sizeof(what), "the snapshot cut to %zu of %zu bytes", cuts[i], len);
        EXPECT_INT(write_whole(test_path(dir, sname(2)), orig, cuts[i]), 0);
        expect_damage(dir, sname(2), -2, cuts[i] < HDR ? "header is cut short" : "snapshot has no trailer: it is cut short", what);
    }
    if (orig != NULL)
        EXPECT_INT(write_whole(test_path(dir, sname(2)), orig, len), 0);
    expect_reopen(dir, STRS("A-first", "B-second", "C-third", "D-fourth", "E-fifth", "F"));
    free(orig);
    test_rmtree(dir);
}

static void test_broken_chain(void)
{
    char *dir = test_tmpdir("porrio-store"), what[128];
    /* whole: snapshot-2, journals 2..4 */
    put_file(dir, sname(2), 1, 2, ID, STRS("s1", "s2"));
    put_file(dir, jname(2), 0, 2, ID, STRS("j2"));
    put_file(dir, jname(3), 0, 3, ID, STRS("j3"));
    put_file(dir, jname(4), 0, 4, ID, STRS("j4"));
    expect_reopen(dir, STRS("s1", "s2", "j2", "j3", "j4"));

    EXPECT_INT(rename(test_path(dir, jname(3)), test_path(dir, "aside")), 0);
    expect_damage(dir, jname(3), -1, "journal-0000000000000003 is missing", "a journal missing in the chain");
    EXPECT_INT(rename(test_path(dir, "aside"), test_path(dir, jname(3))), 0);

    EXPECT_INT(rename(test_path(dir, jname(2)), test_path(dir, "aside")), 0);
    expect_damage(dir, jname(2), -1, "journal-0000000000000002 is missing", "the snapshot's journal missing");
    EXPECT_INT(rename(test_path(dir, "aside"), test_path(dir, jname(2))), 0);

    EXPECT_INT(rename(test_path(dir, sname(2)), test_path(dir, "aside")), 0);
    expect_damage(dir, sname(2), -1, "snapshot-0000000000000002 is missing: journal-0000000000000002 starts from it",
                  "the snapshot missing");
    /* renamed to another generation: its header says which one it is */
    EXPECT_INT(rename(test_path(dir, "aside"), test_path(dir, sname(3))), 0);
    expect_damage(dir, sname(3), 0, "generation 2 in a file named snapshot-0000000000000003", "a renamed snapshot");
    EXPECT_INT(rename(test_path(dir, sname(3)), test_path(dir, sname(2))), 0);

    put_file(dir, jname(3), 0, 3, ID + 1, STRS("j3"));
    snprintf(what, sizeof(what), "belongs to another store (store id %016llx", (unsigned long long)(ID + 1));
    expect_damage(dir, jname(3), 16, what, "a journal of another store");
    put_file(dir, jname(3), 0, 3, ID, STRS("j3"));

    put_file(dir, jname(0), 0, 0, ID, NULL);
    expect_damage(dir, jname(0), 0, "generation 0 does not exist", "generation 0");
    unlink(test_path(dir, jname(0)));

    /* a torn-looking end in a journal that is not the newest holding records */
    size_t len;
    unsigned char *b = read_whole(test_path(dir, jname(3)), &len);
    EXPECT_INT(write_whole(test_path(dir, jname(3)), b, len - 1), 0);
    expect_damage(dir, jname(3), HDR, "record is cut short", "a cut record in an older journal");
    EXPECT_INT(write_whole(test_path(dir, jname(3)), b, len), 0);
    free(b);
    expect_reopen(dir, STRS("s1", "s2", "j2", "j3", "j4"));

    /* a file that cannot be read (here: a directory by its name) stops the start, not as damage */
    EXPECT_INT(rename(test_path(dir, jname(4)), test_path(dir, "aside")), 0);
    EXPECT_INT(mkdir(test_path(dir, jname(4)), 0755), 0);
    app_t a;
    EXPECT(app_open(&a, dir, 0) == NULL);
    EXPECT_INT(a.e.damaged, 0);
    EXPECT_STR(a.e.file, test_path(dir, jname(4)));
    EXPECT(strstr(a.e.problem, "cannot read") != NULL);
    app_close(&a);
    EXPECT_INT(rmdir(test_path(dir, jname(4))), 0);
    EXPECT_INT(rename(test_path(dir, "aside"), test_path(dir, jname(4))), 0);
    test_rmtree(dir);

    /* no snapshot: journals 1 and 3 */
    dir = test_tmpdir("porrio-store");
    put_file(dir, jname(1), 0, 1, ID, STRS("j1"));
    put_file(dir, jname(3), 0, 3, ID, STRS("j3"));
    expect_damage(dir, jname(2), -1, "journal-0000000000000002 is missing", "two journals with a gap");
    test_rmtree(dir);
}

/* ---- when writes fail ---- */

/* A failed fsync: the batch and everything queued behind it are LOST, appends are refused while
 * the listeners revert, the journal is cut back, and then appends work again. */
static void test_fsync_fails(void)
{
    char *dir = test_tmpdir("porrio-store"), err[256];
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(app_put(&a, "A"), TICKET_DURABLE);
    /* hold the committer in B's decision, queue C, D, E behind it, then make fsyncs fail */
    hold_arm(TICKET_DURABLE);
    uint64_t tb = app_append(&a, "B", 1, NULL);
    hold_wait();
    uint64_t tc = app_append(&a, "C", 1, NULL), td = app_append(&a, "D", 1, NULL);
    set_faults(1, 0, -1);
    hold_arm(TICKET_LOST);
    hold_release();
    hold_wait(); /* inside the LOST decision: the application has reverted, appends are refused */
    EXPECT_INT(app_append(&a, "E", 1, err), 0);
    EXPECT(strstr(err, "recovering from a write error") != NULL);
    EXPECT(!store_writable(a.s));
    set_faults(0, 0, -1);
    hold_release();
    EXPECT_INT(ticket_wait(a.l, tb), TICKET_DURABLE);
    EXPECT_INT(ticket_wait(a.l, tc), TICKET_LOST);
    EXPECT_INT(ticket_wait(a.l, td), TICKET_LOST);
    EXPECT(state_is(&a, STRS("A", "B")));
    EXPECT_INT(a.lost_records, 2);
    EXPECT(!store_writable(a.s)); /* until a batch succeeds */
    EXPECT_INT(find_warn(&a, "cannot write", "journal-0000000000000001"), 0);
    EXPECT_INT(fsize(test_path(dir, J1)), HDR + 2 * (FRAME + 1)); /* cut back */
    EXPECT_INT(app_put(&a, "F"), TICKET_DURABLE);
    EXPECT(store_writable(a.s));
    EXPECT_INT(find_warn(&a, "info: DATA_DIR", "writes work again"), 1); /* news, not a warning */
    EXPECT_INT(a.nwarn, 2);

    /* failing twice in a row warns once */
    set_faults(1, 0, -1);
    EXPECT_INT(app_put(&a, "G"), TICKET_LOST);
    set_faults(1, 0, -1);
    EXPECT_INT(app_put(&a, "H"), TICKET_LOST);
    set_faults(0, 0, -1);
    EXPECT_INT(app_put(&a, "I"), TICKET_DURABLE);
    EXPECT_INT(a.nwarn, 4); /* one "cannot write" and one "writes work again" per stretch of failures */
    EXPECT(!a.backwards && !a.uncovered);
    print_warns(&a);
    app_close(&a);
    expect_reopen(dir, STRS("A", "B", "F", "I"));
out:
    set_faults(0, 0, -1);
    app_close(&a);
    test_rmtree(dir);
}

/* A write that fails half-way (pwrite writes part of the batch, then EIO): the part is cut. */
static void test_write_fails(void)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(app_put(&a, "A"), TICKET_DURABLE);
    set_faults(0, 0, 5);
    EXPECT_INT(app_put(&a, "a record written only in part"), TICKET_LOST);
    set_faults(0, 0, -1);
    EXPECT_INT(fsize(test_path(dir, J1)), HDR + FRAME + 1);
    EXPECT_INT(app_put(&a, "B"), TICKET_DURABLE);
    app_close(&a);
    expect_reopen(dir, STRS("A", "B"));
out:
    set_faults(0, 0, -1);
    app_close(&a);
    test_rmtree(dir);
}

/* The cut fails too: the store takes no more writes until it is opened again. */
static void test_cut_fails(void)
{
    char *dir = test_tmpdir("porrio-store"), err[256];
    app_t a;
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    EXPECT_INT(app_put(&a, "A"), TICKET_DURABLE);
    EXPECT_INT(app_put(&a, "B"), TICKET_DURABLE);
    set_faults(1, 1, -1);
    EXPECT_INT(app_put(&a, "C"), TICKET_LOST);
    set_faults(0, 0, -1);
    EXPECT_INT(app_append(&a, "D", 1, err), 0);
    EXPECT(strstr(err, "restart porrio") != NULL);
    EXPECT(!store_writable(a.s));
    store_stats_t st;
    store_stats(a.s, &st);
    EXPECT(!st.writable);
    EXPECT(find_warn(&a, "cannot cut the journal back", NULL) >= 0);
    store_compact_now(a.s); /* no compaction either */
    EXPECT_INT(store_compact_wait(a.s), 0);
    EXPECT_INT(a.freezes, 0);
    EXPECT(state_is(&a, STRS("A", "B")));
    app_close(&a);
    /* C's bytes may still be in the journal (the fsync "failed" but the write was made): a
     * restart replays what the file holds; A and B are there in any case */
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT(a.n >= 2 && strcmp(a.v[0].p, "A") == 0 && strcmp(a.v[1].p, "B") == 0);
        EXPECT(store_writable(a.s));
        EXPECT_INT(app_put(&a, "E"), TICKET_DURABLE);
    }
out:
    set_faults(0, 0, -1);
    app_close(&a);
    test_rmtree(dir);
}

static int test_disk_full(void)
{
    char *dir = test_tmpdir("porrio-store");
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
        printf("# skip disk-full: cannot mount tmpfs (%s)\n", strerror(errno));
        test_rmtree(dir);
        return 0;
    }
    app_t a;
    const char *names[400];
    int durable = 0, lost = 0;
    static char recs[400][1600];
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    for (int i = 0; i < 400 && lost < 6; i++) {
        size_t len = lost == 0 ? 1000 + (size_t)(i % 13) * 37 : (size_t)(50 + lost * 200);
        char *r = make_rec(i, len);
        memcpy(recs[i], r, len + 1);
        free(r);
        ticket_state_t fate = app_put(&a, recs[i]);
        if (fate == TICKET_DURABLE)
            names[durable++] = recs[i];
        else
            lost++;
    }
    printf("# disk full: %d durable, %d lost\n", durable, lost);
    EXPECT(lost > 0);
    EXPECT(durable > 10);
    EXPECT(find_warn(&a, "No space left", NULL) >= 0);
    EXPECT_INT((int)a.n, durable);
    app_close(&a);
    if (app_open(&a, dir, 0) != NULL) {
        names[durable] = NULL;
        EXPECT(state_is(&a, names)); /* every durable record, nothing of the lost ones */
        EXPECT_INT(a.nwarn, 0);
    }
out:
    app_close(&a);
    if (umount(dir) != 0)
        printf("# umount %s: %s\n", dir, strerror(errno));
    test_rmtree(dir);
    return 1;
}

/* A read-only DATA_DIR: replayed, served read-only, nothing repaired. */
static int test_read_only(void)
{
    char *dir = test_tmpdir("porrio-store"), err[256], before[4096], after[4096];
    app_t a;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
        printf("# skip read-only: cannot mount tmpfs (%s)\n", strerror(errno));
        test_rmtree(dir);
        return 0;
    }
    char sub[400], empty[400];
    snprintf(sub, sizeof(sub), "%s/data", dir);
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    EXPECT_INT(mkdir(empty, 0755), 0);
    if (app_open(&a, sub, 0) != NULL) {
        EXPECT_INT(app_put(&a, "A"), TICKET_DURABLE);
        EXPECT_INT(app_put(&a, "B"), TICKET_DURABLE);
    }
    app_close(&a);
    FILE *f = fopen(test_path(sub, J1), "ab"); /* a torn tail, and a leftover */
    fwrite("\x05\x00\x00", 1, 3, f);
    fclose(f);
    EXPECT_INT(write_whole(test_path(sub, "snapshot-0000000000000002.tmp"), "x", 1), 0);
    digest_dir(sub, before, sizeof(before));
    EXPECT_INT(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);

    if (app_open(&a, sub, 0) != NULL) {
        EXPECT(state_is(&a, STRS("A", "B")));
        EXPECT(!store_writable(a.s));
        EXPECT_INT(app_append(&a, "C", 1, err), 0);
        EXPECT(strstr(err, "cannot be written") != NULL);
        EXPECT(find_warn(&a, "cannot be written", "serving reads only") >= 0);
        EXPECT(find_warn(&a, "torn tail", "left in place") >= 0);
        store_compact_now(a.s);
        EXPECT_INT(store_compact_wait(a.s), 0);
    }
    app_close(&a);
    digest_dir(sub, after, sizeof(after));
    EXPECT_STR(after, before);
    if (app_open(&a, empty, 0) != NULL) { /* an empty read-only directory: an empty store */
        EXPECT_INT(a.n, 0);
        EXPECT(!store_writable(a.s));
    }
    app_close(&a);
    EXPECT_INT(mount(NULL, dir, NULL, MS_REMOUNT, NULL), 0);
    if (umount(dir) != 0)
        printf("# umount %s: %s\n", dir, strerror(errno));
    test_rmtree(dir);
    return 1;
}

/* More than STORE_QUEUE_MAX bytes waiting: refused at once, and not writable meanwhile. */
static void test_queue_full(void)
{
    char *dir = test_tmpdir("porrio-store"), err[256];
    size_t big = STORE_RECORD_MAX;
    char *rec = malloc(big);
    app_t a;
    memset(rec, 'q', big);
    if (app_open(&a, dir, 0) == NULL)
        goto out;
    hold_arm(TICKET_DURABLE);
    uint64_t t0 = store_append(a.s, "x", 1, err, sizeof(err));
    hold_wait(); /* the committer is held: nothing more is written */
    int taken = 0;
    uint64_t t = 0;
    while (taken < 8 && (t = store_append(a.s, rec, big, err, sizeof(err))) != 0)
        taken++;
    EXPECT_INT(taken, STORE_QUEUE_MAX / (big + FRAME));
    EXPECT(strstr(err, "too many changes") != NULL);
    EXPECT(!store_writable(a.s));
    hold_release();
    EXPECT_INT(ticket_wait(a.l, t0 + (uint64_t)taken), TICKET_DURABLE);
    EXPECT(store_append(a.s, "y", 1, err, sizeof(err)) != 0);
    EXPECT(store_writable(a.s));
out:
    app_close(&a);
    free(rec);
    test_rmtree(dir);
}

/* ---- compaction ---- */

#define CC_WRITERS 4
#define CC_PER     400

typedef struct {
    app_t *a;
    int id, failures;
} cc_arg_t;

static void *cc_writer(void *p)
{
    cc_arg_t *c = p;
    char rec[64];
    for (int i = 0; i < CC_PER; i++) {
        snprintf(rec, sizeof(rec), "w%d-%d: some words to fill the journal", c->id, i);
        if (app_put(c->a, rec) != TICKET_DURABLE)
            c->failures++;
    }
    return NULL;
}

/* The state's records as a NULL-terminated array of copies (free with free_strs). */
static char **state_strs(const app_t *a)
{
    char **v = calloc(a->n + 1, sizeof(*v));
    for (size_t i = 0; i < a->n; i++)
        v[i] = strdup(a->v[i].p);
    return v;
}

static void free_strs(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static int count_names(const char *dir, const char *prefix)
{
    char names[8192];
    int n = 0;
    list_dir(dir, names, sizeof(names));
    for (const char *p = names; (p = strstr(p, prefix)) != NULL; p++)
        n++;
    return n;
}

static void test_compaction_background(void)
{
    char *dir = test_tmpdir("porrio-store");
    char **before = NULL;
    app_t a;
    if (app_open(&a, dir, 4096) == NULL)
        goto out;
    pthread_t th[CC_WRITERS];
    cc_arg_t args[CC_WRITERS];
    for (int i = 0; i < CC_WRITERS; i++) {
        args[i] = (cc_arg_t){.a = &a, .id = i};
        pthread_create(&th[i], NULL, cc_writer, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < CC_WRITERS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    EXPECT_INT(store_compact_wait(a.s), 0);
    store_stats_t st;
    store_stats(a.s, &st);
    printf("# %" PRIu64 " compactions during %d appends; journal %" PRIu64 " bytes, snapshot %" PRIu64 "\n", st.compactions,
           CC_WRITERS * CC_PER, st.journal_bytes, st.snapshot_bytes);
    EXPECT(st.compactions >= 1);
    EXPECT(st.generation > 1);
    EXPECT(st.snapshot_bytes > 0);
    EXPECT_INT(failures, 0);
    EXPECT_INT(a.n, CC_WRITERS * CC_PER);
    before = state_strs(&a);
    app_close(&a);
    EXPECT_INT(a.freezes, a.thaws);
    EXPECT_INT(a.nwarn, 0);
    EXPECT_INT(count_names(dir, "snapshot-"), 1);
    EXPECT_INT(count_names(dir, ".tmp"), 0);
    expect_reopen(dir, (const char *const *)before); /* every durable record, once, in order */
out:
    free_strs(before);
    app_close(&a);
    test_rmtree(dir);
}

/* The compactor is held inside dump: appends go on and become durable meanwhile. */
static void test_appends_during_compaction(void)
{
    char *dir = test_tmpdir("porrio-store"), rec[32];
    char **before = NULL;
    app_t a;
    if (app_open(&a, dir, 1u << 30) == NULL)
        goto out;
    for (int i = 0; i < 20; i++) {
        snprintf(rec, sizeof(rec), "before-%d", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    pthread_mutex_lock(&a.mu);
    a.gate_closed = 1;
    pthread_mutex_unlock(&a.mu);
    store_compact_now(a.s);
    pthread_mutex_lock(&a.mu);
    while (!a.in_dump)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    store_stats_t st;
    store_stats(a.s, &st);
    EXPECT_INT(st.generation, 2); /* the committer moved to journal 2 before the state was frozen */
    for (int i = 0; i < 50; i++) {
        snprintf(rec, sizeof(rec), "during-%d", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    EXPECT(!exists(test_path(dir, sname(2))));
    EXPECT(exists(test_path(dir, J1)));
    pthread_mutex_lock(&a.mu);
    a.gate_closed = 0;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    EXPECT_INT(store_compact_wait(a.s), 0);
    store_stats(a.s, &st);
    EXPECT_INT(st.compactions, 1);
    EXPECT_INT(st.journal_bytes, fsize(test_path(dir, jname(2))));
    EXPECT_INT(st.snapshot_bytes, fsize(test_path(dir, sname(2))));
    before = state_strs(&a);
    app_close(&a);
    char names[512];
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000002 snapshot-0000000000000002");
    EXPECT_INT(a.freezes, 1);
    EXPECT_INT(a.thaws, 1);
    expect_reopen(dir, (const char *const *)before);
out:
    free_strs(before);
    app_close(&a);
    test_rmtree(dir);
}

/* A compaction that fails leaves the journals whole and is tried again only after another
 * compact_bytes of journal. */
static void test_compaction_fails(void)
{
    char *dir = test_tmpdir("porrio-store"), rec[64];
    char **before = NULL;
    app_t a;
    if (app_open(&a, dir, 2048) == NULL)
        goto out;
    a.dump_fails = 1;
    int i = 0;
    for (; i < 50; i++) { /* 50 * (8 + 47) bytes: past 2048 */
        snprintf(rec, sizeof(rec), "record %04d with enough words to fill it up", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    EXPECT_INT(store_compact_wait(a.s), -1);
    EXPECT_INT(a.freezes, 1);
    EXPECT(find_warn(&a, "compaction failed", "snapshot-0000000000000002") >= 0);
    EXPECT_INT(count_names(dir, ".tmp"), 0);
    EXPECT_INT(count_names(dir, "snapshot-"), 0);
    for (int k = 0; k < 10; k++, i++) { /* less than 2048 more: not tried again */
        snprintf(rec, sizeof(rec), "record %04d with enough words to fill it up", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    EXPECT_INT(store_compact_wait(a.s), -1);
    EXPECT_INT(a.freezes, 1);
    pthread_mutex_lock(&a.mu);
    a.dump_fails = 0;
    pthread_mutex_unlock(&a.mu);
    for (int k = 0; k < 40; k++, i++) {
        snprintf(rec, sizeof(rec), "record %04d with enough words to fill it up", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    EXPECT_INT(store_compact_wait(a.s), 0);
    EXPECT_INT(a.freezes, 2);
    before = state_strs(&a);
    app_close(&a);
    char names[512];
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000003 snapshot-0000000000000003");
    expect_reopen(dir, (const char *const *)before);
out:
    free_strs(before);
    app_close(&a);
    test_rmtree(dir);
}

/* A snapshot renamed in whose directory fsync fails is what the next start uses: the compaction
 * counts, with a warning, and the files it replaces stay until the next compaction or start. */
static void test_compaction_dir_unsynced(void)
{
    char *dir = test_tmpdir("porrio-store"), rec[64];
    char **before = NULL;
    app_t a;
    if (app_open(&a, dir, 2048) == NULL)
        goto out;
    fail_fsync_once_after(1);      /* journal 2's directory fsync works, snapshot 2's fails */
    for (int i = 0; i < 50; i++) { /* 50 * (8 + 47) bytes: past 2048 */
        snprintf(rec, sizeof(rec), "record %04d with enough words to fill it up", i);
        EXPECT_INT(app_put(&a, rec), TICKET_DURABLE);
    }
    EXPECT_INT(store_compact_wait(a.s), 0);
    fail_fsync_once_after(-1);
    EXPECT(find_warn(&a, "could not be synced", "snapshot-0000000000000002") >= 0);
    EXPECT(find_warn(&a, "compaction failed", NULL) < 0);
    store_stats_t st;
    store_stats(a.s, &st);
    EXPECT_INT(st.compactions, 1);
    EXPECT_INT(st.snapshot_bytes, fsize(test_path(dir, sname(2))));
    EXPECT_INT(st.journal_bytes, fsize(test_path(dir, jname(2))));
    before = state_strs(&a);
    app_close(&a);
    char names[512];
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 journal-0000000000000002 snapshot-0000000000000002");
    expect_reopen(dir, (const char *const *)before); /* journal 1 is left over: removed at start */
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000002 snapshot-0000000000000002");
out:
    fail_fsync_once_after(-1);
    free_strs(before);
    app_close(&a);
    test_rmtree(dir);
}

static void *closer(void *p)
{
    app_t *a = p;
    store_close(a->s);
    return NULL;
}

/* Closing while a snapshot is written: it is finished or given up, never left half-way. */
static void test_close_during_compaction(void)
{
    char *dir = test_tmpdir("porrio-store");
    app_t a;
    if (app_open(&a, dir, 1u << 30) == NULL)
        goto out;
    EXPECT_INT(app_put(&a, "A"), TICKET_DURABLE);
    EXPECT_INT(app_put(&a, "B"), TICKET_DURABLE);
    pthread_mutex_lock(&a.mu);
    a.gate_closed = 1;
    pthread_mutex_unlock(&a.mu);
    store_compact_now(a.s);
    pthread_mutex_lock(&a.mu);
    while (!a.in_dump)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    pthread_t th;
    pthread_create(&th, NULL, closer, &a);
    pthread_mutex_lock(&a.mu);
    a.gate_closed = 0;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    pthread_join(th, NULL);
    a.s = NULL;
    EXPECT_INT(a.freezes, a.thaws);
    EXPECT_INT(count_names(dir, ".tmp"), 0);
    app_close(&a);
    expect_reopen(dir, STRS("A", "B"));
out:
    app_close(&a);
    test_rmtree(dir);
}

/* Directories as a crash during a compaction leaves them (docs/store.md, "Compaction"). */
static void test_crash_states(void)
{
    char *dir = test_tmpdir("porrio-store"), names[1024];
    app_t a;
    /* step 1 done: journal 2 created, nothing written to it; leftovers of two kinds */
    put_file(dir, J1, 0, 1, ID, STRS("A", "B"));
    put_file(dir, jname(2), 0, 2, ID, NULL);
    EXPECT_INT(write_whole(test_path(dir, "snapshot-0000000000000002.tmp"), "half a snapshot", 15), 0);
    EXPECT_INT(write_whole(test_path(dir, "journal-0000000000000003.tmp"), "PORRIOJ2", 8), 0);
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT(state_is(&a, STRS("A", "B")));
        EXPECT_INT(a.nwarn, 0);
        store_stats_t st;
        store_stats(a.s, &st);
        EXPECT_INT(st.generation, 2);
        EXPECT_INT(app_put(&a, "C"), TICKET_DURABLE);
    }
    app_close(&a);
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 journal-0000000000000002");
    EXPECT_INT(fsize(test_path(dir, jname(2))), HDR + FRAME + 1);
    expect_reopen(dir, STRS("A", "B", "C"));
    test_rmtree(dir);

    /* step 3 done (snapshot 2 renamed in), step 4 not: journal 1 is left over */
    dir = test_tmpdir("porrio-store");
    put_file(dir, J1, 0, 1, ID, STRS("A", "B"));
    put_file(dir, sname(2), 1, 2, ID, STRS("A", "B"));
    put_file(dir, jname(2), 0, 2, ID, STRS("C"));
    expect_reopen(dir, STRS("A", "B", "C"));
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000002 snapshot-0000000000000002");
    test_rmtree(dir);

    /* an older snapshot and its journal left over beside a newer one */
    dir = test_tmpdir("porrio-store");
    put_file(dir, sname(2), 1, 2, ID, STRS("A"));
    put_file(dir, jname(2), 0, 2, ID, STRS("B"));
    put_file(dir, sname(3), 1, 3, ID, STRS("A", "B"));
    put_file(dir, jname(3), 0, 3, ID, NULL);
    expect_reopen(dir, STRS("A", "B"));
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000003 snapshot-0000000000000003");
    test_rmtree(dir);

    /* a torn tail in journal 3, which the crash left newest holding records: journal 4 was
     * created by a compaction and holds only its header */
    dir = test_tmpdir("porrio-store");
    put_file(dir, sname(2), 1, 2, ID, STRS("A"));
    put_file(dir, jname(2), 0, 2, ID, STRS("B"));
    put_file(dir, jname(3), 0, 3, ID, STRS("C", "D"));
    put_file(dir, jname(4), 0, 4, ID, NULL);
    size_t len;
    unsigned char *b = read_whole(test_path(dir, jname(3)), &len);
    EXPECT_INT(write_whole(test_path(dir, jname(3)), b, len - 1), 0); /* D cut short */
    free(b);
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT(state_is(&a, STRS("A", "B", "C")));
        EXPECT(find_warn(&a, "journal-0000000000000003: torn tail", "offset 41 cut off") >= 0);
        EXPECT_INT(fsize(test_path(dir, jname(3))), HDR + FRAME + 1);
        EXPECT_INT(app_put(&a, "E"), TICKET_DURABLE);
        EXPECT_INT(fsize(test_path(dir, jname(4))), HDR + FRAME + 1);
    }
    app_close(&a);
    expect_reopen(dir, STRS("A", "B", "C", "E"));
    test_rmtree(dir);
}

/* ---- the first format ---- */

/* A first-format file: 8 bytes of magic, u64 generation, frames [u32 length][u32 CRC-32]. */
static void put_v1(const char *dir, const char *name, const char *magic, uint64_t gen, const char *const *recs, const void *tail,
                   size_t tlen)
{
    bytes_t b = {0};
    unsigned char h[16], f[8];
    memcpy(h, magic, 8);
    le64(h + 8, gen);
    b_add(&b, h, 16);
    for (int i = 0; recs[i] != NULL; i++) {
        le32(f, (uint32_t)strlen(recs[i]));
        le32(f + 4, t_crc32(recs[i], strlen(recs[i])));
        b_add(&b, f, 8);
        b_add(&b, recs[i], strlen(recs[i]));
    }
    if (tlen > 0)
        b_add(&b, tail, tlen);
    EXPECT_INT(write_whole(test_path(dir, name), b.p, b.len), 0);
    free(b.p);
}

static void test_v1_upgrade(void)
{
    char *dir = test_tmpdir("porrio-store"), names[1024];
    static const char torn[] = "\x30\x00\x00\x00\x11\x22\x33\x44{\"op\":"; /* claims 48 bytes */
    put_v1(dir, "snapshot", "PORRIOS1", 3, STRS("{\"a\":1}", "{\"b\":2}"), NULL, 0);
    put_v1(dir, "journal", "PORRIOJ1", 3, STRS("{\"c\":3}", "{\"d\":4}"), torn, sizeof(torn) - 1);
    size_t jlen, jlen2;
    unsigned char *jv1 = read_whole(test_path(dir, "journal"), &jlen);
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT(state_is(&a, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}")));
        EXPECT(find_warn(&a, "upgraded", "first format") >= 0);
        EXPECT(find_warn(&a, "torn tail", "left out") >= 0);
        EXPECT_INT(a.nwarn, 2);
        EXPECT(store_writable(a.s));
        EXPECT_INT(app_put(&a, "X"), TICKET_DURABLE);
    }
    app_close(&a);
    print_warns(&a);
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 journal.v1 snapshot-0000000000000001 snapshot.v1");
    unsigned char *kept = read_whole(test_path(dir, "journal.v1"), &jlen2);
    EXPECT(kept != NULL && jv1 != NULL && jlen == jlen2 && memcmp(kept, jv1, jlen) == 0);
    free(kept);
    free(jv1);
    expect_reopen(dir, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}", "X"));
    test_rmtree(dir);

    /* a journal older than the snapshot is inside it already; a journal alone is fine */
    dir = test_tmpdir("porrio-store");
    put_v1(dir, "snapshot", "PORRIOS1", 3, STRS("{\"a\":1}"), NULL, 0);
    put_v1(dir, "journal", "PORRIOJ1", 2, STRS("{\"stale\":1}"), NULL, 0);
    if (app_open(&a, dir, 0) != NULL)
        EXPECT(state_is(&a, STRS("{\"a\":1}")));
    app_close(&a);
    test_rmtree(dir);
    dir = test_tmpdir("porrio-store");
    put_v1(dir, "journal", "PORRIOJ1", 0, STRS("{\"j\":1}", "{\"j\":2}"), NULL, 0);
    if (app_open(&a, dir, 0) != NULL)
        EXPECT(state_is(&a, STRS("{\"j\":1}", "{\"j\":2}")));
    app_close(&a);
    test_rmtree(dir);
}

static void test_v1_damage_and_interrupted_upgrade(void)
{
    char *dir = test_tmpdir("porrio-store"), names[1024];
    put_v1(dir, "snapshot", "PORRIOS1", 1, STRS("{\"a\":1}", "{\"b\":2}"), NULL, 0);
    put_v1(dir, "journal", "PORRIOJ1", 1, STRS("{\"c\":3}", "{\"d\":4}", "{\"e\":5}"), NULL, 0);
    flip(dir, "journal", 16 + 15 + 8 + 2); /* the second record's payload */
    expect_damage(dir, "journal", 16 + 15, "record fails its checksum; 1 valid record follows", "a v1 record");
    flip(dir, "journal", 16 + 15 + 8 + 2);
    size_t len;
    unsigned char *b = read_whole(test_path(dir, "snapshot"), &len);
    EXPECT_INT(write_whole(test_path(dir, "snapshot"), b, len - 2), 0); /* a snapshot has no torn tail */
    expect_damage(dir, "snapshot", 16 + 15, "record is cut short", "a v1 snapshot cut short");
    EXPECT_INT(write_whole(test_path(dir, "snapshot"), b, len), 0);
    free(b);

    /* the upgrade stopped after snapshot 1, before journal 1: done again from the first format */
    put_file(dir, sname(1), 1, 1, ID, STRS("not", "these"));
    EXPECT_INT(write_whole(test_path(dir, "journal-0000000000000001.tmp"), "x", 1), 0);
    app_t a;
    if (app_open(&a, dir, 0) != NULL) {
        EXPECT(state_is(&a, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}", "{\"e\":5}")));
        EXPECT(find_warn(&a, "upgraded", NULL) >= 0);
    }
    app_close(&a);
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 journal.v1 snapshot-0000000000000001 snapshot.v1");
    expect_reopen(dir, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}", "{\"e\":5}"));

    /* both formats whole (the renames did not happen): the second wins, the renames are done */
    EXPECT_INT(rename(test_path(dir, "journal.v1"), test_path(dir, "journal")), 0);
    EXPECT_INT(rename(test_path(dir, "snapshot.v1"), test_path(dir, "snapshot")), 0);
    if (app_open(&a, dir, 0) != NULL)
        EXPECT_INT(app_put(&a, "Y"), TICKET_DURABLE);
    app_close(&a);
    EXPECT_INT(rename(test_path(dir, "journal.v1"), test_path(dir, "journal")), 0);
    expect_reopen(dir, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}", "{\"e\":5}", "Y"));
    list_dir(dir, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 journal.v1 snapshot-0000000000000001 snapshot.v1");
    test_rmtree(dir);
}

/* ---- store_scan and store_create ---- */

typedef struct {
    char log[8192];
    size_t used;
    char *recs[256];
    int nrecs;
    const char *refuse;
    int problems, torn;
} scan_t;

static void sc_log(scan_t *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sc_log(scan_t *sc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sc->used < sizeof(sc->log))
        sc->used += (size_t)vsnprintf(sc->log + sc->used, sizeof(sc->log) - sc->used, fmt, ap);
    va_end(ap);
}

static void sc_file(void *ctx, const char *name, uint64_t gen, int snapshot)
{
    sc_log(ctx, "[%s %" PRIu64 "%s]", name, gen, snapshot ? " snap" : "");
}

static int sc_record(void *ctx, const char *name, long long off, const char *rec, size_t len, char *err, size_t errlen)
{
    scan_t *sc = ctx;
    (void)name, (void)off;
    if (sc->refuse != NULL && strlen(sc->refuse) == len && memcmp(rec, sc->refuse, len) == 0) {
        snprintf(err, errlen, "refused %s", sc->refuse);
        return -1;
    }
    if (sc->nrecs < 256)
        sc->recs[sc->nrecs++] = strndup(rec, len);
    return 0;
}

static void sc_problem(void *ctx, const char *name, long long off, int torn, long long skipped, const char *what)
{
    scan_t *sc = ctx;
    sc->problems++;
    sc->torn += torn;
    sc_log(sc, "{%s@%lld %s%lld: %s}", name, off, torn ? "torn " : "", skipped, what);
}

static void sc_done(void *ctx, const char *name, uint64_t records, uint64_t bytes)
{
    sc_log(ctx, "(%s %" PRIu64 " %" PRIu64 ")", name, records, bytes);
}

static int sc_scan(scan_t *sc, const char *dir, store_scan_mode_t mode, store_error_t *e)
{
    for (int i = 0; i < sc->nrecs; i++)
        free(sc->recs[i]);
    const char *refuse = sc->refuse;
    memset(sc, 0, sizeof(*sc));
    sc->refuse = refuse;
    store_scan_cb_t cb = {sc_file, sc_record, sc_problem, sc_done, sc};
    int rc = store_scan(dir, mode, &cb, e);
    sc->recs[sc->nrecs < 256 ? sc->nrecs : 255] = NULL;
    return rc;
}

static int sc_recs_are(scan_t *sc, const char *const *want)
{
    int i = 0;
    for (; want[i] != NULL; i++)
        if (i >= sc->nrecs || strcmp(sc->recs[i], want[i]) != 0)
            break;
    int same = want[i] == NULL && i == sc->nrecs;
    if (!same) {
        printf("# scan records:");
        for (int k = 0; k < sc->nrecs; k++)
            printf(" \"%s\"", sc->recs[k]);
        printf("\n# scan log: %s\n", sc->log);
    }
    return same;
}

static int dump_scanned(void *ctx, store_emit_t emit, void *ectx)
{
    scan_t *sc = ctx;
    for (int i = 0; i < sc->nrecs; i++)
        if (emit(ectx, sc->recs[i], strlen(sc->recs[i])) != 0)
            return -1;
    return 0;
}

static void test_scan_strict(void)
{
    char *dir = store_compacted(STRS("F", "G")), before[4096], after[4096], want[512];
    static scan_t sc;
    store_error_t e;
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), 0);
    EXPECT(sc_recs_are(&sc, STRS("A-first", "B-second", "C-third", "D-fourth", "E-fifth", "F", "G")));
    snprintf(want, sizeof(want), "[%s 2 snap](%s 5 %lld)[%s 2](%s 2 %lld)", sname(2), sname(2), fsize(test_path(dir, sname(2))),
             jname(2), jname(2), fsize(test_path(dir, jname(2))));
    EXPECT_STR(sc.log, want);

    FILE *f = fopen(test_path(dir, jname(2)), "ab");
    fwrite("\x07\x00", 1, 2, f);
    fclose(f);
    digest_dir(dir, before, sizeof(before));
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), 0);
    EXPECT_INT(sc.torn, 1);
    snprintf(want, sizeof(want), "{%s@%d torn 2: torn tail}", jname(2), HDR + 2 * (FRAME + 1));
    EXPECT(strstr(sc.log, want) != NULL);
    digest_dir(dir, after, sizeof(after));
    EXPECT_STR(after, before); /* a scan repairs nothing */

    flip(dir, jname(2), HDR + FRAME);
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), -1);
    EXPECT_INT(e.damaged, 1);
    EXPECT_INT(e.offset, HDR);
    EXPECT_STR(e.file, test_path(dir, jname(2)));
    EXPECT_INT(sc.problems, 1);
    EXPECT(strstr(sc.log, "record fails its checksum; 1 valid record follows") != NULL);
    flip(dir, jname(2), HDR + FRAME);
    sc.refuse = "C-third";
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), -1);
    EXPECT(strstr(e.problem, "record does not apply: refused C-third") != NULL);
    EXPECT_STR(e.file, test_path(dir, sname(2)));
    sc.refuse = NULL;
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), 0);
    EXPECT_INT(sc_scan(&sc, "/nonexistent/porrio", STORE_SCAN_STRICT, &e), -1);
    EXPECT_INT(e.damaged, 0);
    sc_scan(&sc, dir, STORE_SCAN_STRICT, &e); /* frees the records */
    test_rmtree(dir);
}

static void test_scan_salvage_and_create(void)
{
    char *dir = test_tmpdir("porrio-store"), *out = NULL;
    static scan_t sc;
    store_error_t e;
    put_file(dir, sname(2), 1, 2, ID, STRS("s1", "s2", "s3"));
    put_file(dir, jname(2), 0, 2, ID, STRS("j2a", "j2b", "j2c", "j2d"));
    put_file(dir, jname(4), 0, 4, ID, STRS("j4a"));
    put_file(dir, jname(5), 0, 5, ID + 9, STRS("foreign"));
    flip(dir, jname(2), HDR + FRAME + 3 + FRAME + 1); /* j2b's payload */
    FILE *f = fopen(test_path(dir, jname(4)), "ab");
    fwrite("\x00\x00\x00\x00\x00", 1, 5, f);
    fclose(f);
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_STRICT, &e), -1);
    sc.refuse = "j2c";
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_SALVAGE, &e), 0);
    EXPECT(sc_recs_are(&sc, STRS("s1", "s2", "s3", "j2a", "j2d", "j4a")));
    EXPECT(strstr(sc.log, "{journal-0000000000000002@43 11: record fails its checksum}") != NULL);
    EXPECT(strstr(sc.log, "{journal-0000000000000002@54 0: record does not apply: refused j2c}") != NULL);
    EXPECT(strstr(sc.log, "{journal-0000000000000003@-1 0: journal-0000000000000003 is missing}") != NULL);
    EXPECT(strstr(sc.log, "{journal-0000000000000005@16 47: belongs to another store") != NULL);
    /* journal 5 is another store's: journal 4 is the newest holding records, its tail torn */
    EXPECT(strstr(sc.log, "{journal-0000000000000004@43 torn 5: torn tail}") != NULL);
    EXPECT_INT(sc.torn, 1);

    /* the snapshot cut short: what verifies in it is still read */
    size_t len;
    unsigned char *b = read_whole(test_path(dir, sname(2)), &len);
    EXPECT_INT(write_whole(test_path(dir, sname(2)), b, len - TRAILER - 2), 0);
    free(b);
    unlink(test_path(dir, jname(5)));
    sc.refuse = NULL;
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_SALVAGE, &e), 0);
    EXPECT(sc_recs_are(&sc, STRS("s1", "s2", "j2a", "j2c", "j2d", "j4a")));
    EXPECT(strstr(sc.log, "snapshot has no trailer: it is cut short") != NULL);
    EXPECT(strstr(sc.log, "{journal-0000000000000004@43 torn 5: torn tail}") != NULL);

    /* what it salvaged becomes a new store */
    out = test_tmpdir("porrio-store");
    EXPECT_INT(store_create(out, dump_scanned, &sc, &e), 0);
    char names[512];
    list_dir(out, names, sizeof(names));
    EXPECT_STR(names, "journal-0000000000000001 snapshot-0000000000000001");
    EXPECT_INT(fsize(test_path(out, J1)), HDR);
    expect_reopen(out, STRS("s1", "s2", "j2a", "j2c", "j2d", "j4a"));
    EXPECT_INT(store_create(out, dump_scanned, &sc, &e), -1); /* not empty */
    EXPECT(strstr(e.problem, "not empty") != NULL);
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/new", out);
    EXPECT_INT(store_create(sub, dump_scanned, &sc, &e), 0); /* missing: created */
    EXPECT_INT(sc_scan(&sc, sub, STORE_SCAN_STRICT, &e), 0);
    EXPECT_INT(sc.nrecs, 6);

    /* the first format, damaged */
    test_rmtree(dir);
    dir = test_tmpdir("porrio-store");
    put_v1(dir, "journal", "PORRIOJ1", 0, STRS("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"), NULL, 0);
    flip(dir, "journal", 16 + 15 + 9);
    EXPECT_INT(sc_scan(&sc, dir, STORE_SCAN_SALVAGE, &e), 0);
    EXPECT(sc_recs_are(&sc, STRS("{\"a\":1}", "{\"c\":3}")));
    EXPECT(strstr(sc.log, "[journal 0]") != NULL);
    sc_scan(&sc, "/nonexistent/porrio", STORE_SCAN_SALVAGE, &e);
    test_rmtree(dir);
    test_rmtree(out);
}

/* A damaged last record whose piece in the file's last 512-byte block is zero: torn when that
 * piece is 8 bytes or more, damage when shorter (an intact record may end in 3 zero bytes). */
static void test_torn_zero_piece_minimum(void)
{
    for (size_t piece = 1; piece <= 16; piece++) {
        size_t size = 512 + piece, plen = size - HEADER_LEN - FRAME_LEN;
        unsigned char *b = malloc(size);
        if (b == NULL)
            return;
        memset(b, 'x', size);
        memset(b + 512, 0, piece); /* the record's end, in the last block */
        st_frame_make(b + HEADER_LEN, b + HEADER_LEN + FRAME_LEN, plen);
        size_t len;
        EXPECT_INT(st_frame_at(b, size, HEADER_LEN, 0, &len), FR_OK);
        EXPECT_INT(st_torn(b, size, HEADER_LEN, 0), 0); /* an intact record is no torn tail */
        b[100] ^= 1;                                    /* damage elsewhere in it */
        EXPECT_INT(st_frame_at(b, size, HEADER_LEN, 0, &len), FR_BAD_CRC);
        EXPECT_INT(st_torn(b, size, HEADER_LEN, 0), piece >= 8);
        free(b);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_format_bytes);
    RUN(test_round_trip);
    RUN(test_record_limits);
    RUN(test_group_commit);
    RUN(test_close_flushes);
    RUN(test_lock_and_dir);
    RUN(test_torn_every_offset);
    RUN(test_torn_zero_tails);
    RUN(test_torn_zero_piece_minimum);
    RUN(test_damaged_headers);
    RUN(test_damaged_records);
    RUN(test_truncated_snapshot);
    RUN(test_broken_chain);
    RUN(test_fsync_fails);
    RUN(test_write_fails);
    RUN(test_cut_fails);
    RUN(test_queue_full);
    RUN(test_compaction_background);
    RUN(test_appends_during_compaction);
    RUN(test_compaction_fails);
    RUN(test_compaction_dir_unsynced);
    RUN(test_close_during_compaction);
    RUN(test_crash_states);
    RUN(test_v1_upgrade);
    RUN(test_v1_damage_and_interrupted_upgrade);
    RUN(test_scan_strict);
    RUN(test_scan_salvage_and_create);
    test_failed_now = 0;
    if (test_disk_full())
        printf("%s %d - test_disk_full\n", test_failed_now ? "not ok" : "ok", ++test_count);
    else
        printf("ok %d - test_disk_full # skip cannot mount tmpfs\n", ++test_count);
    test_failures += test_failed_now;
    test_failed_now = 0;
    if (test_read_only())
        printf("%s %d - test_read_only\n", test_failed_now ? "not ok" : "ok", ++test_count);
    else
        printf("ok %d - test_read_only # skip cannot mount tmpfs\n", ++test_count);
    test_failures += test_failed_now;
    return TEST_END();
}
