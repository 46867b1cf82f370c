#include "store/store.h"
#include "test.h"
#include "tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#define HDR 16  /* journal/snapshot header: 8 bytes of magic + u64 generation */
#define FRAME 8 /* record frame: u32 length + u32 CRC-32 */

static char err[512];

/* ---- faults: this binary is linked statically, so these take the place of libc's own ---- */

static int fail_fdatasync, fail_ftruncate; /* set: the call fails with EIO (atomic: the committer reads it) */

int fdatasync(int fd)
{
    if (__atomic_load_n(&fail_fdatasync, __ATOMIC_SEQ_CST)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

int ftruncate(int fd, off_t len)
{
    if (__atomic_load_n(&fail_ftruncate, __ATOMIC_SEQ_CST)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_ftruncate, fd, len);
}

static void set_faults(int fdatasync_fails, int ftruncate_fails)
{
    __atomic_store_n(&fail_fdatasync, fdatasync_fails, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fail_ftruncate, ftruncate_fails, __ATOMIC_SEQ_CST);
}

/* ---- what the store reports, collected per open ---- */

typedef struct {
    char *data;
    size_t len;
} rec_t;

typedef struct {
    rec_t *recs; /* every record offered to replay, in order (refused ones too) */
    int n, cap;
    const char *refuse; /* replay refuses records with exactly this content */
    int refused;
    char warns[32][600];
    int nwarn;
    pthread_mutex_t mu; /* durable is called on the committer (and the compacting) thread */
    long ndurable;
    uint64_t max_upto;
    int decreasing, notok;
    int on_main; /* durable was called on the main thread (where the tests call store_compact) */
    int hold, held; /* hold: the next durable call waits (holding up the committer) until cleared */
    pthread_cond_t cv;
} ctx_t;

static pthread_t main_thread;

static void ctx_init(ctx_t *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void ctx_free(ctx_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->recs[i].data);
    free(c->recs);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    memset(c, 0, sizeof(*c));
}

/* Forgets what was seen (before a reopen) but keeps the settings. */
static void ctx_reset(ctx_t *c)
{
    const char *refuse = c->refuse;
    ctx_free(c);
    ctx_init(c);
    c->refuse = refuse;
}

static int on_replay(void *ctx, const char *rec, size_t len, char *e, size_t elen)
{
    ctx_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->recs = realloc(c->recs, sizeof(*c->recs) * (size_t)c->cap);
    }
    c->recs[c->n].data = malloc(len + 1);
    memcpy(c->recs[c->n].data, rec, len);
    c->recs[c->n++].len = len;
    if (c->refuse != NULL && len == strlen(c->refuse) && memcmp(rec, c->refuse, len) == 0) {
        c->refused++;
        snprintf(e, elen, "no such porra (%.*s)", (int)len, rec);
        return -1;
    }
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    ctx_t *c = ctx;
    if (c->nwarn < 32)
        snprintf(c->warns[c->nwarn], sizeof(c->warns[0]), "%s", msg);
    c->nwarn++;
}

static void on_durable(void *ctx, uint64_t upto, int ok)
{
    ctx_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->ndurable++;
    if (upto < c->max_upto)
        c->decreasing = 1;
    else
        c->max_upto = upto;
    if (!ok)
        c->notok = 1;
    if (pthread_equal(pthread_self(), main_thread))
        c->on_main = 1;
    if (c->hold) {
        c->held = 1;
        pthread_cond_broadcast(&c->cv);
        while (c->hold)
            pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

/* The index of the first warning containing both substrings (b may be NULL), or -1. */
static int find_warn(const ctx_t *c, const char *a, const char *b)
{
    for (int i = 0; i < c->nwarn && i < 32; i++)
        if (strstr(c->warns[i], a) != NULL && (b == NULL || strstr(c->warns[i], b) != NULL))
            return i;
    return -1;
}

static void print_warns(const ctx_t *c)
{
    for (int i = 0; i < c->nwarn && i < 32; i++)
        printf("#   warning: %s\n", c->warns[i]);
}

static store_t *open_store(ctx_t *c, const char *dir, size_t compact_bytes)
{
    store_opts_t o = {.dir = dir, .compact_bytes = compact_bytes, .replay = on_replay, .warn = on_warn,
                      .durable = on_durable, .ctx = c};
    err[0] = '\0';
    store_t *s = store_open(&o, err, sizeof(err));
    if (s == NULL)
        printf("# store_open(%s): %s\n", dir, err);
    return s;
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

static uint64_t header_gen(const char *path, char magic[9])
{
    size_t len;
    unsigned char *b = read_whole(path, &len);
    uint64_t g = UINT64_MAX;
    magic[0] = '\0';
    if (b != NULL && len >= HDR) {
        memcpy(magic, b, 8);
        magic[8] = '\0';
        g = 0;
        for (int i = 7; i >= 0; i--)
            g = g << 8 | b[8 + i];
    }
    free(b);
    return g;
}

/* ---- records ---- */

/* Deterministic content for record i of length len. */
static char *make_rec(int i, size_t len)
{
    char *r = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
        r[k] = (char)(i * 131 + k * 7 + (k >> 8) + 1);
    return r;
}

/* Appends record i of length len and returns its ticket (0 on failure, reported). */
static uint64_t append_rec(store_t *s, int i, size_t len)
{
    char *r = make_rec(i, len);
    err[0] = '\0';
    uint64_t t = store_append(s, r, len, err, sizeof(err));
    if (t == 0)
        printf("# store_append(%zu bytes): %s\n", len, err);
    free(r);
    return t;
}

static uint64_t append_str(store_t *s, const char *str)
{
    err[0] = '\0';
    uint64_t t = store_append(s, str, strlen(str), err, sizeof(err));
    if (t == 0)
        printf("# store_append(%s): %s\n", str, err);
    return t;
}

/* Whether replay saw record i of length len at position pos. */
static int saw_rec(const ctx_t *c, int pos, int i, size_t len)
{
    if (pos >= c->n || c->recs[pos].len != len)
        return 0;
    char *r = make_rec(i, len);
    int same = memcmp(r, c->recs[pos].data, len) == 0;
    free(r);
    return same;
}

static int saw_str(const ctx_t *c, int pos, const char *str)
{
    return pos < c->n && c->recs[pos].len == strlen(str) && memcmp(c->recs[pos].data, str, strlen(str)) == 0;
}

/* Appends the strings of the NULL-terminated strs and expects the last one durable: its ticket. */
static uint64_t append_strs(store_t *s, const char *const *strs)
{
    uint64_t t = 0;
    for (int i = 0; strs[i] != NULL; i++)
        t = append_str(s, strs[i]);
    EXPECT_INT(store_sync(s, t), 0);
    return t;
}

/* ---- the steps the tests share ---- */

/* Initialises c and opens the store in dir on it, expecting that to work: the store, or NULL. */
static store_t *open_fresh(ctx_t *c, const char *dir, size_t compact_bytes)
{
    ctx_init(c);
    store_t *s = open_store(c, dir, compact_bytes);
    EXPECT(s != NULL);
    return s;
}

/* A new temporary directory (*dir, for cleanup) and a fresh store in it on c (as open_fresh),
 * given the strings of strs durably (as append_strs): the store, still open, or NULL. */
static store_t *fresh_with(ctx_t *c, char **dir, const char *const *strs)
{
    *dir = test_tmpdir("porrio-store");
    store_t *s = open_fresh(c, *dir, 0);
    if (s != NULL)
        append_strs(s, strs);
    return s;
}

/* A restart: forgets what c saw (keeping its settings) and opens the store in dir again. */
static store_t *reopen(ctx_t *c, const char *dir, size_t compact_bytes)
{
    ctx_reset(c);
    return open_store(c, dir, compact_bytes);
}

/* Expects replay to have offered the strings of the NULL-terminated strs, in order, at
 * positions from, from + 1, ... */
static void expect_strs(const ctx_t *c, int from, const char *const *strs)
{
    for (int i = 0; strs[i] != NULL; i++) {
        int seen = saw_str(c, from + i, strs[i]);
        EXPECT(seen);
        if (!seen)
            printf("# ... record %d should be \"%s\"\n", from + i, strs[i]);
    }
}

/* Expects the durable reports seen by c (its store closed by now) to be all successful, never
 * going back, and to have reached upto. */
static void expect_durable(const ctx_t *c, uint64_t upto)
{
    EXPECT(!c->decreasing);
    EXPECT(!c->notok);
    EXPECT_INT(c->max_upto, upto);
}

/* The end of a test: frees what c holds, removes dir and everything in it, and frees dir. */
static void cleanup(ctx_t *c, char *dir)
{
    ctx_free(c);
    test_rmtree(dir);
}

/* Offset just past the first k records of lens[] in a journal. */
static size_t end_of(const size_t *lens, int k)
{
    size_t off = HDR;
    for (int i = 0; i < k; i++)
        off += FRAME + lens[i];
    return off;
}

/* Appends records 0..k-1 of lens[] to s and expects them durable. */
static void append_recs(store_t *s, const size_t *lens, int k)
{
    uint64_t t = 0;
    for (int i = 0; i < k; i++)
        t = append_rec(s, i, lens[i]);
    EXPECT(t > 0);
    EXPECT_INT(store_sync(s, t), 0);
}

/* Writes records 0..k-1 of lens[] to a fresh store in dir, durably, then closes it. */
static void fill(const char *dir, const size_t *lens, int k)
{
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        return;
    append_recs(s, lens, k);
    store_close(s);
    EXPECT_INT(c.nwarn, 0);
    ctx_free(&c);
}

/* A new temporary directory (*dir, for rm_tree) filled with records 0..k-1 of lens[] (as fill):
 * the bytes of its journal (malloc'd, *len of them), expected to be those records exactly; NULL
 * when it cannot be read. */
static unsigned char *filled_journal(char **dir, const size_t *lens, int k, size_t *len)
{
    *dir = test_tmpdir("porrio-store");
    fill(*dir, lens, k);
    unsigned char *b = read_whole(test_path(*dir, "journal"), len);
    EXPECT_INT(*len, end_of(lens, k));
    return b;
}

/* ---- tests ---- */

static void test_round_trip(void)
{
    static const size_t lens[] = {0, 1, 100 * 1024, 7, 4096, 0, 255, 65536 + 3};
    const int n = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        goto out;
    EXPECT_INT(c.n, 0);
    EXPECT_INT(c.nwarn, 0);
    EXPECT(store_writable(s));
    EXPECT(!store_should_compact(s));
    append_recs(s, lens, n);
    store_close(s);
    EXPECT_INT(fsize(test_path(dir, "journal")), end_of(lens, n));

    s = reopen(&c, dir, 0);
    EXPECT(s != NULL);
    EXPECT_INT(c.n, n);
    for (int i = 0; i < n; i++)
        EXPECT(saw_rec(&c, i, i, lens[i]));
    EXPECT_INT(c.nwarn, 0);
    print_warns(&c);
    store_close(s);
    /* nothing was cut or rewritten by a clean reopen */
    EXPECT_INT(fsize(test_path(dir, "journal")), end_of(lens, n));
out:
    cleanup(&c, dir);
}

static void test_tickets_and_durable(void)
{
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        goto out;
    uint64_t prev = 0, last = 0;
    int increasing = 1;
    for (int i = 0; i < 200; i++) {
        uint64_t t = append_rec(s, i, (size_t)(i % 50));
        if (t <= prev)
            increasing = 0;
        prev = last = t;
        if (i % 40 == 39) /* let a few fsyncs happen along the way */
            EXPECT_INT(store_sync(s, t), 0);
    }
    EXPECT(increasing);
    EXPECT_INT(last, 200);
    EXPECT_INT(store_sync(s, last), 0);
    EXPECT_INT(store_sync(s, 1), 0); /* an old ticket is still durable */
    store_close(s);                  /* joins the committer: every callback has returned */
    EXPECT(c.ndurable >= 1);
    expect_durable(&c, last);
out:
    cleanup(&c, dir);
}

#define GC_THREADS 4
#define GC_PER 500

typedef struct {
    store_t *s;
    int id, failures;
    uint64_t sum;
} gc_arg_t;

static void *gc_writer(void *p)
{
    gc_arg_t *a = p;
    char rec[64], e[256];
    for (int i = 0; i < GC_PER; i++) {
        int len = snprintf(rec, sizeof(rec), "writer %d record %d", a->id, i);
        uint64_t t = store_append(a->s, rec, (size_t)len, e, sizeof(e));
        if (t == 0 || store_sync(a->s, t) != 0)
            a->failures++;
        a->sum += crc32(0, (const unsigned char *)rec, (uInt)len);
    }
    return NULL;
}

static void test_group_commit(void)
{
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        goto out;
    pthread_t th[GC_THREADS];
    gc_arg_t args[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        args[i] = (gc_arg_t){.s = s, .id = i};
        pthread_create(&th[i], NULL, gc_writer, &args[i]);
    }
    uint64_t sum = 0;
    int failures = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i], NULL);
        sum += args[i].sum;
        failures += args[i].failures;
    }
    store_close(s);
    const int total = GC_THREADS * GC_PER;
    printf("# group commit: %ld durable callbacks for %d appends\n", c.ndurable, total);
    EXPECT_INT(failures, 0);
    EXPECT(c.ndurable >= 1);
    EXPECT(c.ndurable < total);
    expect_durable(&c, total);

    s = reopen(&c, dir, 0);
    EXPECT(s != NULL);
    EXPECT_INT(c.n, total);
    uint64_t got = 0;
    int next[GC_THREADS] = {0}, in_order = 1;
    for (int i = 0; i < c.n; i++) {
        int w = -1, k = -1;
        got += crc32(0, (const unsigned char *)c.recs[i].data, (uInt)c.recs[i].len);
        c.recs[i].data[c.recs[i].len] = '\0';
        if (sscanf(c.recs[i].data, "writer %d record %d", &w, &k) != 2 || w < 0 || w >= GC_THREADS ||
            k != next[w]++)
            in_order = 0; /* each writer's records keep its order */
    }
    EXPECT(in_order);
    EXPECT_INT(got, sum);
    EXPECT_INT(c.nwarn, 0);
    store_close(s);
out:
    cleanup(&c, dir);
}

static void test_torn_tail_every_offset(void)
{
    static const size_t lens[] = {10, 0, 300, 1, 37};
    const int k = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir, jpath[512];
    size_t full_len;
    unsigned char *full = filled_journal(&dir, lens, k, &full_len);
    snprintf(jpath, sizeof(jpath), "%s", test_path(dir, "journal"));
    const size_t cut = end_of(lens, k - 1);
    ctx_t c;
    ctx_init(&c);
    if (full == NULL || full_len != end_of(lens, k))
        goto out;

    int bad = 0;
    for (size_t len = cut; len < full_len && bad < 3; len++) {
        int failed_before = test_failed_now;
        test_failed_now = 0;
        EXPECT_INT(write_whole(jpath, full, len), 0);
        store_t *s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        if (s == NULL)
            break;
        EXPECT_INT(c.n, k - 1);
        for (int i = 0; i < k - 1 && i < c.n; i++)
            EXPECT(saw_rec(&c, i, i, lens[i]));
        if (len == cut) { /* a clean end: nothing to cut */
            EXPECT_INT(c.nwarn, 0);
        } else {
            char off[64];
            snprintf(off, sizeof(off), "offset %zu", cut);
            EXPECT_INT(c.nwarn, 1);
            EXPECT(find_warn(&c, "cut", off) >= 0);
        }
        EXPECT_INT(fsize(jpath), cut); /* cut back while open */
        uint64_t t = append_str(s, "after the cut");
        EXPECT(t > 0);
        EXPECT_INT(store_sync(s, t), 0);
        store_close(s);

        s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        EXPECT_INT(c.n, k);
        EXPECT(saw_rec(&c, k - 2, k - 2, lens[k - 2]));
        EXPECT(saw_str(&c, k - 1, "after the cut"));
        EXPECT_INT(c.nwarn, 0);
        store_close(s);
        if (test_failed_now) {
            printf("# ... with the journal truncated to %zu of %zu bytes\n", len, full_len);
            print_warns(&c);
            bad++;
        }
        test_failed_now |= failed_before;
    }
out:
    free(full);
    cleanup(&c, dir);
}

/* Writes `valid` followed by `tail`, opens, and expects the k records, one warning about a cut
 * at the end of `valid`, and the journal cut back (also when reopened again). */
static void expect_cut(const char *dir, const unsigned char *valid, size_t vlen, const void *tail, size_t tlen,
                       const size_t *lens, int k, const char *what)
{
    const char *jpath = test_path(dir, "journal");
    unsigned char *buf = malloc(vlen + tlen);
    memcpy(buf, valid, vlen);
    memcpy(buf + vlen, tail, tlen);
    int failed_before = test_failed_now;
    test_failed_now = 0;
    EXPECT_INT(write_whole(jpath, buf, vlen + tlen), 0);
    free(buf);
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s != NULL) {
        char off[64];
        snprintf(off, sizeof(off), "offset %zu", vlen);
        EXPECT_INT(c.n, k);
        for (int i = 0; i < k && i < c.n; i++)
            EXPECT(saw_rec(&c, i, i, lens[i]));
        EXPECT_INT(c.nwarn, 1);
        EXPECT(find_warn(&c, "cut", off) >= 0);
        EXPECT_INT(fsize(jpath), vlen);
        EXPECT(store_writable(s));
        store_close(s);
        s = reopen(&c, dir, 0);
        EXPECT_INT(c.n, k);
        EXPECT_INT(c.nwarn, 0);
        store_close(s);
    }
    if (test_failed_now) {
        printf("# ... with %s\n", what);
        print_warns(&c);
    }
    test_failed_now |= failed_before;
    ctx_free(&c);
}

static void test_garbage_tail(void)
{
    static const size_t lens[] = {5, 0, 1000, 3};
    const int k = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir;
    size_t vlen;
    unsigned char *valid = filled_journal(&dir, lens, k, &vlen);
    if (valid == NULL)
        goto out;

    unsigned char junk[200];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(rand() >> 7);
    expect_cut(dir, valid, vlen, junk, sizeof(junk), lens, k, "200 random bytes");
    expect_cut(dir, valid, vlen, junk, 3, lens, k, "3 random bytes (less than a frame)");

    /* frame headers that look right but claim more than is there */
    unsigned char fr[FRAME + 20] = {0};
    static const uint32_t huge[] = {STORE_RECORD_MAX, STORE_RECORD_MAX + 1, 0xffffffffu, 0x00ffffffu, 21};
    for (size_t h = 0; h < sizeof(huge) / sizeof(huge[0]); h++) {
        char what[96];
        for (int b = 0; b < 4; b++)
            fr[b] = (unsigned char)(huge[h] >> (8 * b));
        uint32_t crc = (uint32_t)crc32(0, fr + FRAME, 20);
        for (int b = 0; b < 4; b++)
            fr[4 + b] = (unsigned char)(crc >> (8 * b));
        snprintf(what, sizeof(what), "a frame header claiming %u bytes", (unsigned)huge[h]);
        expect_cut(dir, valid, vlen, fr, sizeof(fr), lens, k, what);
    }
    /* a whole frame of zeroes: length 0 with CRC 0x0 is wrong (crc32 of nothing is 0, so use 1) */
    unsigned char zero_len_bad_crc[FRAME] = {0, 0, 0, 0, 1, 0, 0, 0};
    expect_cut(dir, valid, vlen, zero_len_bad_crc, FRAME, lens, k, "an empty record with a wrong CRC");
out:
    free(valid);
    test_rmtree(dir);
}

static void test_corrupt_record(void)
{
    static const size_t lens[] = {12, 40, 3, 100, 9, 64};
    const int k = (int)(sizeof(lens) / sizeof(lens[0]));
    char *dir;
    size_t flen;
    unsigned char *orig = filled_journal(&dir, lens, k, &flen);
    if (orig == NULL)
        goto out;
    static const int js[] = {0, 2, 5};
    for (size_t jj = 0; jj < sizeof(js) / sizeof(js[0]); jj++) {
        const int j = js[jj];
        const size_t rec = end_of(lens, j);
        /* the length field (4 bytes), the CRC (4 bytes), the payload's first, middle and last byte */
        size_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7, FRAME, FRAME + lens[j] / 2, FRAME + lens[j] - 1};
        static const unsigned char flips[] = {0x01, 0x80, 0xff};
        for (size_t p = 0; p < sizeof(pos) / sizeof(pos[0]); p++)
            for (size_t f = 0; f < sizeof(flips); f++) {
                unsigned char *copy = malloc(flen);
                char what[128];
                memcpy(copy, orig, flen);
                copy[rec + pos[p]] ^= flips[f];
                snprintf(what, sizeof(what), "byte %zu of record %d (%s) xor 0x%02x", pos[p], j,
                         pos[p] < 4 ? "length" : pos[p] < FRAME ? "CRC" : "payload", flips[f]);
                expect_cut(dir, copy, rec, copy + rec, flen - rec, lens, j, what);
                free(copy);
            }
    }
out:
    free(orig);
    test_rmtree(dir);
}

static void test_bad_header(void)
{
    static const size_t lens[] = {20, 30, 40};
    /* the first bytes overwritten; a header torn short; a magic of the other kind of file */
    static const struct {
        const char *bytes;
        size_t nbytes, keep;
    } cases[] = {{"XXXX", 4, 0}, {"", 0, 10}, {"PORRIOS1", 8, 0}, {"\0\0\0\0\0\0\0\0", 8, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = test_tmpdir("porrio-store");
        const char *jpath = test_path(dir, "journal");
        fill(dir, lens, 3);
        size_t len;
        unsigned char *b = read_whole(jpath, &len);
        if (cases[i].keep > 0)
            len = cases[i].keep;
        memcpy(b, cases[i].bytes, cases[i].nbytes);
        EXPECT_INT(write_whole(jpath, b, len), 0);
        free(b);

        ctx_t c;
        store_t *s = open_fresh(&c, dir, 0);
        if (s == NULL) {
            cleanup(&c, dir);
            continue;
        }
        EXPECT_INT(c.n, 0);
        EXPECT_INT(c.nwarn, 1);
        EXPECT(find_warn(&c, "bad header", "journal") >= 0);
        print_warns(&c);
        EXPECT(store_writable(s));
        EXPECT_INT(fsize(jpath), HDR); /* replaced by an empty journal */
        uint64_t t1 = append_str(s, "first after");
        uint64_t t2 = append_str(s, "second after");
        EXPECT(t1 > 0 && t2 > t1);
        EXPECT_INT(store_sync(s, t2), 0);
        store_close(s);
        s = reopen(&c, dir, 0);
        EXPECT_INT(c.n, 2);
        expect_strs(&c, 0, (const char *[]){"first after", "second after", NULL});
        EXPECT_INT(c.nwarn, 0);
        store_close(s);
        cleanup(&c, dir);
    }
}

static void test_replay_refusal(void)
{
    static const char *recs[] = {"alpha", "beta", "refuse me", "delta", "epsilon", NULL};
    char *dir;
    ctx_t c;
    store_t *s = fresh_with(&c, &dir, recs);
    if (s == NULL)
        goto out;
    store_close(s);
    const long long size = fsize(test_path(dir, "journal"));
    const size_t at_refused = HDR + (FRAME + 5) + (FRAME + 4); /* offset of "refuse me" */

    for (int round = 0; round < 2; round++) { /* refused twice: the record is never cut */
        c.refuse = "refuse me";
        s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        EXPECT_INT(c.n, 5);
        expect_strs(&c, 0, recs);
        EXPECT_INT(c.refused, 1);
        EXPECT_INT(c.nwarn, 1);
        char off[64];
        snprintf(off, sizeof(off), "offset %zu", at_refused);
        EXPECT(find_warn(&c, "skipped", off) >= 0);
        EXPECT(find_warn(&c, "no such porra (refuse me)", NULL) >= 0);
        print_warns(&c);
        EXPECT_INT(fsize(test_path(dir, "journal")), size);
        store_close(s);
    }
    /* accepted again once the caller can apply it; appends go after it */
    c.refuse = NULL;
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 5);
    EXPECT_INT(c.nwarn, 0);
    uint64_t t = append_str(s, "zeta");
    EXPECT_INT(store_sync(s, t), 0);
    store_close(s);
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 6);
    EXPECT(saw_str(&c, 2, "refuse me"));
    EXPECT(saw_str(&c, 5, "zeta"));
    store_close(s);
out:
    cleanup(&c, dir);
}

/* dump callbacks: write the strings of a NULL-terminated array */
static int dump_strs(void *ctx, store_t *s)
{
    for (const char **p = ctx; *p != NULL; p++)
        if (store_dump_record(s, *p, strlen(*p)) != 0)
            return -1;
    return 0;
}

static void test_compaction(void)
{
    static const char *snap[] = {"snap-a", "snap-b", "", "snap-d", NULL};
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 1024);
    if (s == NULL)
        goto out;
    EXPECT(!store_should_compact(s));
    uint64_t t = 0;
    size_t size = HDR;
    int right = 1;
    for (int i = 0; i < 20; i++) { /* 16 + 9 * (8 + 104) is exactly 1024: not past it yet */
        t = append_rec(s, i, 104);
        size += FRAME + 104;
        if (!!store_should_compact(s) != (size > 1024)) {
            printf("# store_should_compact is %d with a journal of %zu bytes\n", store_should_compact(s), size);
            right = 0;
        }
    }
    EXPECT(right);
    EXPECT(store_should_compact(s));
    EXPECT_INT(store_compact(s, dump_strs, snap, err, sizeof(err)), 0);
    EXPECT_INT(store_sync(s, t), 0); /* everything before is durable */
    EXPECT(!store_should_compact(s));
    EXPECT_INT(fsize(test_path(dir, "journal")), HDR);
    EXPECT_INT(fsize(test_path(dir, "snapshot")), HDR + 4 * FRAME + 6 * 3);
    EXPECT(access(test_path(dir, "journal.next"), F_OK) != 0);
    EXPECT(access(test_path(dir, "snapshot.tmp"), F_OK) != 0);
    uint64_t t1 = append_str(s, "new-1");
    uint64_t t2 = append_str(s, "new-2");
    EXPECT(t1 > t && t2 > t1);
    EXPECT_INT(store_sync(s, t2), 0);
    store_close(s);
    EXPECT(!c.on_main); /* durable comes from the committer thread, not from store_compact's */
    expect_durable(&c, t2);

    s = reopen(&c, dir, 1024);
    EXPECT_INT(c.n, 6);
    expect_strs(&c, 0, snap);
    expect_strs(&c, 4, (const char *[]){"new-1", "new-2", NULL});
    EXPECT_INT(c.nwarn, 0);
    print_warns(&c);
    EXPECT(!store_should_compact(s));
    store_close(s);
out:
    cleanup(&c, dir);
}

/* dump: every record the ctx_t saw at replay */
static int dump_seen(void *ctx, store_t *s)
{
    ctx_t *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (store_dump_record(s, c->recs[i].data, c->recs[i].len) != 0)
            return -1;
    return 0;
}

static void test_two_generations(void)
{
    char *dir;
    char magic[9];
    ctx_t c;
    store_t *s = fresh_with(&c, &dir, (const char *const[]){"one", "two", NULL});
    if (s == NULL)
        goto out;
    store_close(s);

    for (int gen = 1; gen <= 2; gen++) {
        s = reopen(&c, dir, 0);
        EXPECT_INT(c.n, gen == 1 ? 2 : 3);
        /* the state is what replay saw: compact it as the server would */
        EXPECT_INT(store_compact(s, dump_seen, &c, err, sizeof(err)), 0);
        EXPECT_INT(header_gen(test_path(dir, "snapshot"), magic), gen);
        EXPECT_STR(magic, "PORRIOS1");
        EXPECT_INT(header_gen(test_path(dir, "journal"), magic), gen);
        EXPECT_STR(magic, "PORRIOJ1");
        EXPECT_INT(store_sync(s, append_str(s, gen == 1 ? "three" : "four")), 0);
        store_close(s);
    }
    for (int again = 0; again < 2; again++) {
        s = reopen(&c, dir, 0);
        EXPECT_INT(c.n, 4);
        expect_strs(&c, 0, (const char *[]){"one", "two", "three", "four", NULL});
        EXPECT_INT(c.nwarn, 0);
        print_warns(&c);
        store_close(s);
    }
    EXPECT_INT(header_gen(test_path(dir, "journal"), magic), 2);
out:
    cleanup(&c, dir);
}

static void test_interrupted_compaction(void)
{
    static const char *snap[] = {"S1", "S2", NULL};
    char *dir;
    char magic[9];
    ctx_t c;
    store_t *s = fresh_with(&c, &dir, (const char *const[]){"A1", "A2", "A3", NULL});
    if (s == NULL)
        goto out;
    store_close(s);
    size_t olen;
    unsigned char *old = read_whole(test_path(dir, "journal"), &olen);
    EXPECT_INT(header_gen(test_path(dir, "journal"), magic), 0);

    s = reopen(&c, dir, 0);
    EXPECT_INT(store_compact(s, dump_strs, snap, err, sizeof(err)), 0);
    size_t nlen;
    unsigned char *next = read_whole(test_path(dir, "journal"), &nlen);
    store_close(s);
    /* the crash: the snapshot of generation 1 is in, the old journal was not yet replaced
     * (journal.next, the new empty journal, is still lying there) */
    EXPECT_INT(write_whole(test_path(dir, "journal"), old, olen), 0);
    EXPECT_INT(write_whole(test_path(dir, "journal.next"), next, nlen), 0);
    free(old);
    free(next);

    for (int round = 0; round < 2; round++) {
        s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        EXPECT_INT(c.n, round == 0 ? 2 : 3);
        expect_strs(&c, 0, snap);
        if (round == 1)
            EXPECT(saw_str(&c, 2, "N1"));
        EXPECT_INT(c.nwarn, 0);
        print_warns(&c);
        if (round == 0) { /* the stale journal is replaced by an empty one of generation 1 */
            EXPECT_INT(fsize(test_path(dir, "journal")), HDR);
            EXPECT_INT(header_gen(test_path(dir, "journal"), magic), 1);
            EXPECT_INT(store_sync(s, append_str(s, "N1")), 0);
        }
        store_close(s);
    }
    /* and the next compaction gets past the leftover journal.next */
    static const char *snap2[] = {"S1", "S2", "N1", NULL};
    s = reopen(&c, dir, 0);
    EXPECT_INT(store_compact(s, dump_strs, snap2, err, sizeof(err)), 0);
    EXPECT_INT(store_sync(s, append_str(s, "N2")), 0);
    store_close(s);
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 4);
    expect_strs(&c, 2, (const char *[]){"N1", "N2", NULL});
    EXPECT_INT(header_gen(test_path(dir, "snapshot"), magic), 2);
    store_close(s);
out:
    cleanup(&c, dir);
}

static void test_record_too_large(void)
{
    char *dir = test_tmpdir("porrio-store");
    char *big = calloc(1, (size_t)STORE_RECORD_MAX + 1); /* untouched pages: cheap */
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    EXPECT(big != NULL);
    if (s == NULL || big == NULL)
        goto out;
    uint64_t t1 = append_str(s, "before");
    err[0] = '\0';
    EXPECT_INT(store_append(s, big, (size_t)STORE_RECORD_MAX + 1, err, sizeof(err)), 0);
    EXPECT(strstr(err, "too large") != NULL);
    EXPECT(store_writable(s));
    EXPECT_INT(fsize(test_path(dir, "journal")), HDR + FRAME + 6);
    uint64_t t2 = append_str(s, "after");
    EXPECT_INT(t2, t1 + 1);
    /* the largest record allowed goes through and is replayed */
    big[0] = 'x', big[STORE_RECORD_MAX - 1] = 'y';
    uint64_t t3 = store_append(s, big, STORE_RECORD_MAX, err, sizeof(err));
    EXPECT_INT(t3, t2 + 1);
    EXPECT_INT(store_sync(s, t3), 0);
    store_close(s);
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 3);
    expect_strs(&c, 0, (const char *[]){"before", "after", NULL});
    EXPECT(c.n == 3 && c.recs[2].len == STORE_RECORD_MAX && memcmp(c.recs[2].data, big, STORE_RECORD_MAX) == 0);
    EXPECT_INT(c.nwarn, 0);
    store_close(s);
out:
    free(big);
    cleanup(&c, dir);
}

/* A snapshot cannot take a record too large to be read back: it would hide every later one. */
static int dump_too_large(void *ctx, store_t *s)
{
    int *accepted = ctx;
    char *big = calloc(1, (size_t)STORE_RECORD_MAX + 1);
    int rc = store_dump_record(s, "ok", 2) == 0 && store_dump_record(s, big, (size_t)STORE_RECORD_MAX + 1) == 0;
    free(big);
    *accepted = rc;
    return rc ? 0 : -1;
}

static void test_dump_too_large(void)
{
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        goto out;
    EXPECT_INT(store_sync(s, append_str(s, "kept")), 0);
    err[0] = '\0';
    int accepted = -1;
    EXPECT_INT(store_compact(s, dump_too_large, &accepted, err, sizeof(err)), -1);
    EXPECT_INT(accepted, 0);
    EXPECT(err[0] != '\0');
    EXPECT(access(test_path(dir, "snapshot"), F_OK) != 0); /* the old files stay in force */
    EXPECT(access(test_path(dir, "snapshot.tmp"), F_OK) != 0);
    EXPECT(access(test_path(dir, "journal.next"), F_OK) != 0);
    EXPECT(store_writable(s));
    EXPECT_INT(store_sync(s, append_str(s, "still")), 0);
    store_close(s);
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 2);
    expect_strs(&c, 0, (const char *[]){"kept", "still", NULL});
    store_close(s);
out:
    cleanup(&c, dir);
}

/* Opens a store with o, expecting that to fail with an error (in err) that names path. */
static void expect_open_fails(const store_opts_t *o, const char *path)
{
    err[0] = '\0';
    store_t *s = store_open(o, err, sizeof(err));
    EXPECT(s == NULL);
    store_close(s); /* a no-op */
    EXPECT(strstr(err, path) != NULL);
}

static void test_data_dir(void)
{
    char *base = test_tmpdir("porrio-store");
    char dir[512], deep[512];
    snprintf(dir, sizeof(dir), "%s/data", base);
    snprintf(deep, sizeof(deep), "%s/no/such/data", base);
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0); /* one level missing: created */
    struct stat st;
    EXPECT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    EXPECT_INT(c.nwarn, 0);
    if (s != NULL) {
        EXPECT(store_writable(s));
        EXPECT_INT(store_sync(s, append_str(s, "x")), 0);
        store_close(s);
    }
    s = reopen(&c, dir, 0);
    EXPECT_INT(c.n, 1);
    store_close(s);

    ctx_reset(&c);
    store_opts_t o = {.dir = deep, .replay = on_replay, .warn = on_warn, .durable = on_durable, .ctx = &c};
    expect_open_fails(&o, deep);
    EXPECT(strstr(err, "No such file") != NULL);
    EXPECT(find_warn(&c, "cannot create", deep) >= 0);
    EXPECT(access(deep, F_OK) != 0);

    /* DATA_DIR is a file */
    ctx_reset(&c);
    snprintf(deep, sizeof(deep), "%s/file", base);
    EXPECT_INT(write_whole(deep, "x", 1), 0);
    expect_open_fails(&o, deep);
    ctx_free(&c);
    test_rmtree(base);
}

static int test_disk_full(void)
{
    char *dir = test_tmpdir("porrio-store");
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
        printf("# skip disk-full: cannot mount tmpfs (%s)\n", strerror(errno));
        test_rmtree(dir);
        return 0;
    }
    ctx_t c;
    store_t *s = open_fresh(&c, dir, 0);
    if (s == NULL)
        goto out;
    int ok = 0, fails = 0;
    size_t size = HDR;
    uint64_t last = 0;
    char full_err[512] = "";
    size_t lens[400];
    int idx[400];
    /* big records until the first failure, then small ones that may still fit in the last page */
    for (int i = 0; i < 400 && fails < 20; i++) {
        size_t len = fails == 0 ? 1000 + (size_t)(i % 13) * 37 : (size_t)(fails * 3);
        char *r = make_rec(i, len);
        char e[256] = "";
        uint64_t t = store_append(s, r, len, e, sizeof(e));
        free(r);
        if (t == 0) {
            if (fails++ == 0)
                snprintf(full_err, sizeof(full_err), "%s", e);
            if (fsize(test_path(dir, "journal")) != (long long)size)
                printf("# a failed append left %lld bytes in a journal of %zu\n", fsize(test_path(dir, "journal")),
                       size);
            EXPECT_INT(fsize(test_path(dir, "journal")), size); /* nothing of it remains */
            continue;
        }
        EXPECT(t > last);
        last = t;
        lens[ok] = len, idx[ok++] = i;
        size += FRAME + len;
    }
    printf("# disk full after %d records (%zu bytes): %s\n", ok, size, full_err);
    EXPECT(fails > 0);
    EXPECT(strstr(full_err, "space") != NULL);
    EXPECT(ok > 10);
    EXPECT(last > 0 && store_sync(s, last) == 0);
    store_close(s);

    s = reopen(&c, dir, 0);
    EXPECT(s != NULL);
    EXPECT_INT(c.n, ok);
    int same = c.n == ok;
    for (int i = 0; same && i < ok; i++)
        same = saw_rec(&c, i, idx[i], lens[i]);
    EXPECT(same);
    EXPECT_INT(c.nwarn, 0);
    print_warns(&c);
    store_close(s);
out:
    ctx_free(&c);
    if (umount(dir) != 0)
        printf("# umount %s: %s\n", dir, strerror(errno));
    test_rmtree(dir);
    return 1;
}

/* Appends go on while another thread compacts, both under the caller's lock as a server does. */
#define CC_WRITERS 3
#define CC_PER 300

typedef struct {
    store_t *s;
    pthread_mutex_t lock; /* the caller's lock: journal order is list order */
    char *list[CC_WRITERS * CC_PER];
    int n, failures, done;
} cc_state_t;

typedef struct {
    cc_state_t *st;
    int id;
} cc_arg_t;

static void *cc_writer(void *p)
{
    cc_arg_t *a = p;
    cc_state_t *st = a->st;
    char e[256];
    for (int i = 0; i < CC_PER; i++) {
        char rec[64];
        snprintf(rec, sizeof(rec), "w%d-%d", a->id, i);
        pthread_mutex_lock(&st->lock);
        uint64_t t = store_append(st->s, rec, strlen(rec), e, sizeof(e));
        if (t != 0)
            st->list[st->n++] = strdup(rec);
        pthread_mutex_unlock(&st->lock);
        if (t == 0 || store_sync(st->s, t) != 0) {
            pthread_mutex_lock(&st->lock);
            st->failures++;
            pthread_mutex_unlock(&st->lock);
        }
    }
    return NULL;
}

static int dump_list(void *ctx, store_t *s)
{
    cc_state_t *st = ctx;
    for (int i = 0; i < st->n; i++)
        if (store_dump_record(s, st->list[i], strlen(st->list[i])) != 0)
            return -1;
    return 0;
}

static void test_compaction_concurrent(void)
{
    char *dir = test_tmpdir("porrio-store");
    ctx_t c;
    static cc_state_t st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_init(&st.lock, NULL);
    st.s = open_fresh(&c, dir, 512);
    if (st.s == NULL)
        goto out;
    pthread_t th[CC_WRITERS];
    cc_arg_t args[CC_WRITERS];
    for (int i = 0; i < CC_WRITERS; i++) {
        args[i] = (cc_arg_t){.st = &st, .id = i};
        pthread_create(&th[i], NULL, cc_writer, &args[i]);
    }
    int compactions = 0, cfail = 0;
    for (int round = 0; round < 400; round++) {
        pthread_mutex_lock(&st.lock);
        int finished = st.n + st.failures >= CC_WRITERS * CC_PER;
        if (!finished && store_should_compact(st.s)) {
            if (store_compact(st.s, dump_list, &st, err, sizeof(err)) == 0)
                compactions++;
            else
                cfail++, printf("# store_compact: %s\n", err);
        }
        pthread_mutex_unlock(&st.lock);
        if (finished)
            break;
        usleep(2000);
    }
    for (int i = 0; i < CC_WRITERS; i++)
        pthread_join(th[i], NULL);
    store_close(st.s);
    printf("# %d compactions during %d appends, %ld durable callbacks\n", compactions, st.n, c.ndurable);
    EXPECT(compactions >= 2);
    EXPECT_INT(cfail, 0);
    EXPECT_INT(st.failures, 0);
    EXPECT_INT(st.n, CC_WRITERS * CC_PER);
    EXPECT(!c.on_main);
    expect_durable(&c, st.n);

    store_t *s = reopen(&c, dir, 512);
    EXPECT_INT(c.n, st.n);
    int same = c.n == st.n;
    for (int i = 0; same && i < st.n; i++)
        same = saw_str(&c, i, st.list[i]);
    EXPECT(same); /* once each, in journal order: nothing lost, nothing twice */
    EXPECT_INT(c.nwarn, 0);
    store_close(s);
out:
    for (int i = 0; i < st.n; i++)
        free(st.list[i]);
    pthread_mutex_destroy(&st.lock);
    cleanup(&c, dir);
}

/* The snapshot is in but the new journal cannot be renamed over the old one (here: `journal` has
 * become a directory). The snapshot holds everything, so nothing may be reported lost. */
static void test_journal_install_fails(void)
{
    static const char *snap[] = {"A", "B", "B2", "C", NULL};
    char *dir, jdir[512];
    ctx_t c;
    store_t *s = fresh_with(&c, &dir, (const char *const[]){"A", "B", NULL});
    snprintf(jdir, sizeof(jdir), "%s", test_path(dir, "journal"));
    if (s == NULL)
        goto out;
    /* hold the committer in its next report, so that C is still pending during the compaction */
    pthread_mutex_lock(&c.mu);
    c.hold = 1;
    pthread_mutex_unlock(&c.mu);
    EXPECT_INT(store_sync(s, append_str(s, "B2")), 0);
    pthread_mutex_lock(&c.mu);
    while (!c.held)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    EXPECT_INT(unlink(jdir), 0);
    EXPECT_INT(mkdir(jdir, 0755), 0);
    EXPECT_INT(write_whole(test_path(jdir, "x"), "x", 1), 0);
    uint64_t tc = append_str(s, "C"); /* written to the old journal, not yet durable */
    err[0] = '\0';
    EXPECT_INT(store_compact(s, dump_strs, snap, err, sizeof(err)), -1);
    EXPECT(strstr(err, "cannot install the new journal") != NULL);
    pthread_mutex_lock(&c.mu);
    c.hold = 0;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    EXPECT_INT(store_sync(s, tc), 0);
    EXPECT(!store_writable(s));
    char e[256] = "";
    EXPECT_INT(store_append(s, "D", 1, e, sizeof(e)), 0);
    EXPECT(e[0] != '\0');
    store_close(s);
    EXPECT(!c.notok);
    EXPECT_INT(c.max_upto, tc);
    EXPECT(find_warn(&c, "fsync", NULL) < 0);
    print_warns(&c);

    unlink(test_path(jdir, "x"));
    rmdir(jdir);
    for (int round = 0; round < 2; round++) {
        s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        EXPECT_INT(c.n, 4 + round);
        expect_strs(&c, 0, snap);
        EXPECT(round == 0 || saw_str(&c, 4, "D"));
        EXPECT_INT(c.nwarn, 0);
        EXPECT(store_writable(s));
        if (round == 0)
            EXPECT_INT(store_sync(s, append_str(s, "D")), 0);
        store_close(s);
    }
out:
    cleanup(&c, dir);
}

/* `snapshot` exists but cannot be read (here: it is a directory). Its records are unknown, so the
 * store opens read-only: the journal is neither replayed without its snapshot nor cut, and
 * nothing is written that would drop what the snapshot holds. */
static void test_unreadable_snapshot(void)
{
    static const char tail[] = "\x05\x00\x00\x00torn"; /* a torn tail a writable open would cut */
    char *dir;
    ctx_t c;
    store_t *s = fresh_with(&c, &dir, (const char *const[]){"A", "B", NULL});
    if (s == NULL)
        goto out;
    store_close(s);
    size_t jlen, len;
    unsigned char *journal = read_whole(test_path(dir, "journal"), &jlen);
    EXPECT_INT(jlen, HDR + 2 * (FRAME + 1));
    journal = realloc(journal, jlen + sizeof(tail) - 1);
    memcpy(journal + jlen, tail, sizeof(tail) - 1);
    jlen += sizeof(tail) - 1;
    EXPECT_INT(write_whole(test_path(dir, "journal"), journal, jlen), 0);
    EXPECT_INT(mkdir(test_path(dir, "snapshot"), 0755), 0);

    s = reopen(&c, dir, 0);
    EXPECT(s != NULL);
    if (s != NULL) {
        EXPECT_INT(c.n, 0); /* the journal alone would be a state without the snapshot's records */
        EXPECT(!store_writable(s));
        store_stats_t st;
        store_stats(s, &st);
        EXPECT(!st.writable);
        char e[256] = "";
        EXPECT_INT(store_append(s, "C", 1, e, sizeof(e)), 0);
        EXPECT(strstr(e, "not writable") != NULL);
        store_close(s);
    }
    EXPECT(find_warn(&c, "snapshot", "cannot read") >= 0);
    EXPECT(find_warn(&c, "not writable", NULL) >= 0);
    EXPECT(find_warn(&c, "cut off", NULL) < 0);
    print_warns(&c);
    unsigned char *after = read_whole(test_path(dir, "journal"), &len);
    EXPECT_INT(len, jlen);
    EXPECT(after != NULL && len == jlen && memcmp(after, journal, jlen) == 0);
    free(after);
    EXPECT(access(test_path(dir, "journal.tmp"), F_OK) != 0);
    EXPECT(access(test_path(dir, "snapshot.tmp"), F_OK) != 0);

    /* once the snapshot is gone the journal is whole again: its records, then its tail cut */
    EXPECT_INT(rmdir(test_path(dir, "snapshot")), 0);
    s = reopen(&c, dir, 0);
    EXPECT(s != NULL);
    EXPECT_INT(c.n, 2);
    expect_strs(&c, 0, (const char *const[]){"A", "B", NULL});
    EXPECT(s != NULL && store_writable(s));
    store_close(s);
    free(journal);
out:
    cleanup(&c, dir);
}

/* A failed fsync loses what was pending; store_recover cuts the journal back to its durable
 * length and replays the durable records. When the cut fails too, the durable records are
 * replayed all the same (the caller has emptied its state) and appends stay refused. */
static void test_recover_after_failed_fsync(void)
{
    for (int cut_fails = 0; cut_fails <= 1; cut_fails++) {
        char *dir;
        ctx_t c;
        store_t *s = fresh_with(&c, &dir, (const char *const[]){"A", "B", NULL});
        if (s == NULL) {
            cleanup(&c, dir);
            return;
        }
        set_faults(1, cut_fails);
        uint64_t tc = append_str(s, "C");
        EXPECT(tc > 0);
        EXPECT_INT(store_sync(s, tc), -1); /* lost */
        EXPECT(!store_writable(s));
        EXPECT(find_warn(&c, "fsync failed", NULL) >= 0);

        int from = c.n;
        char e[256] = "";
        int rc = store_recover(s, e, sizeof(e));
        set_faults(0, 0);
        printf("# cut %s: store_recover %d (%s), %d records replayed\n", cut_fails ? "fails" : "works", rc, e,
               c.n - from);
        EXPECT_INT(rc, cut_fails ? -1 : 0);
        EXPECT(cut_fails ? strstr(e, "cannot cut the journal back") != NULL : e[0] == '\0');
        EXPECT_INT(c.n - from, 2); /* the durable records, C not among them */
        expect_strs(&c, from, (const char *const[]){"A", "B", NULL});
        EXPECT_INT(store_writable(s), !cut_fails);
        e[0] = '\0';
        uint64_t td = store_append(s, "D", 1, e, sizeof(e));
        if (cut_fails) {
            EXPECT_INT(td, 0);
            EXPECT(strstr(e, "recovering") != NULL);
        } else {
            EXPECT(td > tc);
            EXPECT_INT(store_sync(s, td), 0);
        }
        store_close(s);
        EXPECT(c.notok);

        s = reopen(&c, dir, 0);
        EXPECT(s != NULL);
        /* without the cut, C is still in the journal: recovery stopped anything from following it */
        expect_strs(&c, 0, (const char *const[]){"A", "B", cut_fails ? "C" : "D", NULL});
        EXPECT_INT(c.n, 3);
        EXPECT(s != NULL && store_writable(s));
        store_close(s);
        cleanup(&c, dir);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_thread = pthread_self();
    RUN(test_round_trip);
    RUN(test_tickets_and_durable);
    RUN(test_group_commit);
    RUN(test_torn_tail_every_offset);
    RUN(test_garbage_tail);
    RUN(test_corrupt_record);
    RUN(test_bad_header);
    RUN(test_replay_refusal);
    RUN(test_compaction);
    RUN(test_two_generations);
    RUN(test_interrupted_compaction);
    RUN(test_compaction_concurrent);
    RUN(test_journal_install_fails);
    RUN(test_record_too_large);
    RUN(test_dump_too_large);
    RUN(test_data_dir);
    RUN(test_unreadable_snapshot);
    RUN(test_recover_after_failed_fsync);
    test_failed_now = 0;
    if (test_disk_full()) {
        printf("%s %d - test_disk_full\n", test_failed_now ? "not ok" : "ok", ++test_count);
        test_failures += test_failed_now;
    } else {
        printf("ok %d - test_disk_full # skip cannot mount tmpfs\n", ++test_count);
    }
    return TEST_END();
}
