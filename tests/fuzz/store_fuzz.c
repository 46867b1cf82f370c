/* store_fuzz: start-up's replay of a store's files (docs/store.md), from arbitrary bytes written
 * as journal and snapshot files into a scratch DATA_DIR (under /dev/shm when there is one).
 *
 * Input: byte 0 picks how the rest becomes files, so that the fuzzer reaches past the checksums:
 *   0  journal-1 as the bytes are
 *   1  journal-1: a valid header, then the bytes as they are
 *   2  journal-1: a valid header, then records framed with their checksums (each a length byte
 *      and that many bytes), then whatever is left as it is (a torn tail, or damage)
 *   3  snapshot-1 of those records with its trailer, and an empty journal-1
 *   4  snapshot-1 of the records before the first empty one, journal-1 of those after
 *   5  snapshot-1 as the bytes are, and an empty journal-1 of the store id they hold
 * Checked beyond "no crash", as `porrio store verify`, `recover`, start-up and `export` see it:
 *   - a salvage (recover) always succeeds, and the store it makes verifies whole;
 *   - a store that verifies opens; its export imported into an empty store exports the same
 *     lines, and so does the store recover made of it (nothing whole is lost on the way);
 *   - a store that does not verify does not open either, reports damage, and no file changed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app_int.h"
#include "store/store_int.h"
#include "fuzz.h"

#define STORE_ID 0x0123456789abcdefull

static char base[64], dir_a[96], dir_b[96], dir_c[96];

/* ---- files ---- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = 2 * (b->len + n) + 64;
        CHECK((b->p = realloc(b->p, b->cap)) != NULL);
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void header(buf_t *b, int snapshot, uint64_t id)
{
    unsigned char h[HEADER_LEN];
    st_header_make(h, snapshot, 1, id);
    put(b, h, sizeof(h));
}

/* Frames the records of in[*pos..len) into b up to an empty one (skipped) or the end: each is a
 * length byte and that many bytes. A record cut short by the end is left at *pos. The count. */
static uint64_t records(buf_t *b, const uint8_t *in, size_t len, size_t *pos)
{
    uint64_t n = 0;
    while (*pos < len) {
        size_t rl = in[*pos];
        if (rl == 0) {
            (*pos)++;
            break;
        }
        if (*pos + 1 + rl > len)
            break;
        unsigned char f[FRAME_LEN];
        st_frame_make(f, in + *pos + 1, rl);
        put(b, f, sizeof(f));
        put(b, in + *pos + 1, rl);
        *pos += 1 + rl;
        n++;
    }
    return n;
}

static void write_file(const char *dir, const char *name, const buf_t *b)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, b->p, b->len) == (ssize_t)b->len && close(fd) == 0);
}

static int same_file(const char *dir, const char *name, const buf_t *b)
{
    char path[160];
    buf_t now = {0};
    unsigned char chunk[4096];
    ssize_t n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        put(&now, chunk, (size_t)n);
    close(fd);
    int same = now.len == b->len && (b->len == 0 || memcmp(now.p, b->p, b->len) == 0);
    free(now.p);
    return same;
}

/* Empties dir and makes sure it exists. */
static void clear(const char *dir)
{
    if (fuzz_empty_dir(dir) != 0)
        CHECK(mkdir(dir, 0755) == 0);
}

/* ---- the store as the tools and start-up see it ---- */

static void no_line(void *ctx, const char *fmt, ...)
{
    (void)ctx, (void)fmt;
}

static int verify(const char *dir)
{
    app_opts_t o = {.data_dir = dir};
    app_scan_report_t rep = {.line = no_line};
    store_error_t e;
    int rc = app_verify(&o, &rep, &e);
    CHECK(rc == 0 || (rep.damaged && e.problem[0] != '\0'));
    return rc;
}

static int add_line(void *ctx, const char *line, size_t len)
{
    buf_t *b = ctx;
    put(b, line, len);
    put(b, "\n", 1);
    return 0;
}

static void export(app_t *a, buf_t *out)
{
    app_counts_t n;
    CHECK(app_export(a, add_line, out, &n) == 0);
}

static app_t *open_app(const char *dir, store_error_t *e)
{
    app_opts_t o = {.data_dir = dir};
    int bad_input = 0;
    return app_open(&o, &bad_input, e);
}

/* Imports the export lines of `lines` into the empty store in dir, and exports that store. */
static void reimport(const char *dir, const buf_t *lines, buf_t *out)
{
    char err[512];
    store_error_t e;
    app_counts_t n;
    size_t skipped;
    app_t *a = open_app(dir, &e);
    CHECK(a != NULL);
    app_import_t *im = app_import_begin(a, 0, err, sizeof(err));
    CHECK(im != NULL);
    for (size_t pos = 0; pos < lines->len;) {
        const unsigned char *nl = memchr(lines->p + pos, '\n', lines->len - pos);
        CHECK(nl != NULL);
        size_t len = (size_t)(nl - (lines->p + pos));
        if (app_import_line(im, (const char *)lines->p + pos, len, err, sizeof(err)) != 0) {
            fprintf(stderr, "store_fuzz: the export does not import: %s\n%.*s", err, (int)lines->len, lines->p);
            abort();
        }
        pos += len + 1;
    }
    CHECK(app_import_commit(im, &n, &skipped, err, sizeof(err)) == 0 && skipped == 0);
    app_import_free(im);
    export(a, out);
    app_close(a);
}

static void same_export(const buf_t *a, const buf_t *b, const char *what)
{
    if (a->len == b->len && memcmp(a->p, b->p, a->len) == 0)
        return;
    fprintf(stderr, "store_fuzz: %s differs:\n%.*s---\n%.*s", what, (int)a->len, a->p, (int)b->len, b->p);
    abort();
}

static void check(const char *journal, const buf_t *jb, const char *snapshot, const buf_t *sb)
{
    app_opts_t o = {.data_dir = dir_a};
    app_scan_report_t rep = {.line = no_line};
    store_error_t e;
    int whole = verify(dir_a) == 0;

    CHECK(app_recover(&o, dir_b, &rep, &e) == 0);
    CHECK(verify(dir_b) == 0);

    app_t *a = open_app(dir_a, &e);
    if (!whole) {
        CHECK(a == NULL && e.damaged);
        CHECK(same_file(dir_a, journal, jb));
        if (snapshot != NULL)
            CHECK(same_file(dir_a, snapshot, sb));
        return;
    }
    if (a == NULL) {
        fprintf(stderr, "store_fuzz: verifies but does not open: %s: %s\n", e.file, e.problem);
        abort();
    }
    buf_t first = {0}, again = {0}, recovered = {0};
    export(a, &first);
    app_close(a);
    reimport(dir_c, &first, &again);
    same_export(&first, &again, "the export of the imported export");
    CHECK((a = open_app(dir_b, &e)) != NULL);
    export(a, &recovered);
    app_close(a);
    same_export(&first, &recovered, "the export of the recovered store");
    free(first.p);
    free(again.p);
    free(recovered.p);
}

/* At exit (libFuzzer's end of run, not a finding's abort): the scratch directories go. */
static void remove_scratch(void)
{
    clear(dir_a), clear(dir_b), clear(dir_c);
    rmdir(dir_a), rmdir(dir_b), rmdir(dir_c), rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base[0] == '\0') {
        atexit(remove_scratch);
        fuzz_scratch_dir(base, sizeof(base), "store-fuzz");
        snprintf(dir_a, sizeof(dir_a), "%s/a", base);
        snprintf(dir_b, sizeof(dir_b), "%s/b", base);
        snprintf(dir_c, sizeof(dir_c), "%s/c", base);
    }
    if (size < 1)
        return 0;
    clear(dir_a), clear(dir_b), clear(dir_c);
    /* recover wants a missing or empty directory */
    CHECK(rmdir(dir_b) == 0);

    int mode = data[0] % 6;
    const uint8_t *in = data + 1;
    size_t len = size - 1, pos = 0;
    buf_t jb = {0}, sb = {0};
    const char *journal = "journal-0000000000000001", *snapshot = NULL;
    if (mode == 0) {
        put(&jb, in, len);
    } else if (mode == 1 || mode == 2) {
        header(&jb, 0, STORE_ID);
        if (mode == 2)
            records(&jb, in, len, &pos);
        put(&jb, in + pos, len - pos);
    } else if (mode == 5) {
        put(&sb, in, len);
        header(&jb, 0, len >= 24 ? st_get64(in + 16) : STORE_ID);
        snapshot = "snapshot-0000000000000001";
    } else {
        unsigned char t[TRAILER_LEN];
        header(&sb, 1, STORE_ID);
        uint64_t n = 0;
        size_t before;
        do { /* mode 3: every record, the empty ones skipped */
            before = pos;
            n += records(&sb, in, len, &pos);
        } while (mode == 3 && pos != before && pos < len);
        st_trailer_make(t, n, st_crc32(0, sb.p, sb.len));
        put(&sb, t, sizeof(t));
        header(&jb, 0, STORE_ID);
        if (mode == 4)
            records(&jb, in, len, &pos);
        snapshot = "snapshot-0000000000000001";
    }
    write_file(dir_a, journal, &jb);
    if (snapshot != NULL)
        write_file(dir_a, snapshot, &sb);
    check(journal, &jb, snapshot, &sb);
    free(jb.p);
    free(sb.p);
    return 0;
}
