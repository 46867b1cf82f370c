/* Reading a store without opening it (porrio store verify / recover), and creating one from
 * records (recover's output). docs/store.md says what a SALVAGE scan reads; a STRICT scan is the
 * walk store_open does (chain.c). Both find the chain with the same functions (store_int.h): they
 * differ in what they do on damage, stopping or passing over it. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int dirfd;
    const store_scan_cb_t *cb;
    uint64_t id; /* the store's, as most headers say; files of another store are skipped */
} salvage_t;

static void problem(salvage_t *sv, const char *name, long long off, int torn, long long skipped, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void problem(salvage_t *sv, const char *name, long long off, int torn, long long skipped, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (sv->cb->problem != NULL)
        sv->cb->problem(sv->cb->ctx, name, off, torn, skipped, what);
}

/* Every record of b[from..end) that verifies, resyncing after damage; *n counts those taken. */
static void salvage_records(salvage_t *sv, const char *name, const st_file_t *f, size_t from, size_t end, int v1, int tail_ok,
                            uint64_t *n)
{
    st_resync_t r = {.b = f->b, .end = end, .v1 = v1};
    size_t off = from, len = 0;
    while (off < end) {
        st_frame_t fr = st_frame_at(f->b, end, off, v1, &len);
        if (fr == FR_OK) {
            char err[256] = "";
            const char *rec = (const char *)f->b + off + FRAME_LEN;
            if (sv->cb->record != NULL && sv->cb->record(sv->cb->ctx, name, (long long)off, rec, len, err, sizeof(err)) != 0)
                problem(sv, name, (long long)off, 0, 0, "record does not apply: %s", err); /* not damaged bytes */
            else
                (*n)++;
            off += FRAME_LEN + len;
            continue;
        }
        if (tail_ok && st_torn(f->b, end, off, v1)) {
            problem(sv, name, (long long)off, 1, (long long)(end - off), "torn tail");
            break;
        }
        size_t next = st_resync(&r, off + 1);
        problem(sv, name, (long long)off, 0, (long long)(next - off), "%s", st_frame_word(fr));
        off = next;
    }
    st_resync_free(&r);
}

/* One file, header checked and records salvaged; gen 0 for the first format's files. */
static void salvage_file(salvage_t *sv, const char *name, uint64_t gen, int snapshot, int v1, int tail_ok)
{
    st_file_t f;
    char why[200];
    uint64_t id, n = 0, count;
    uint32_t fcrc;
    if (sv->cb->file != NULL)
        sv->cb->file(sv->cb->ctx, name, gen, snapshot);
    if (st_read_file(sv->dirfd, name, &f) != 0) {
        problem(sv, name, -1, 0, 0, "cannot read: %s", strerror(errno));
        return;
    }
    size_t from = v1 ? V1_HEADER_LEN : HEADER_LEN, end = f.size;
    const char *v1_magic = snapshot ? MAGIC_V1_SNAPSHOT : MAGIC_V1_JOURNAL;
    if (v1 && (f.size < V1_HEADER_LEN || memcmp(f.b, v1_magic, 8) != 0)) {
        problem(sv, name, 0, 0, 0, "header's magic is wrong");
    } else if (!v1 && st_header_check(f.b, f.size, snapshot, gen, &id, why, sizeof(why)) != 0) {
        problem(sv, name, 0, 0, 0, "%s", why);
    } else if (!v1 && id != sv->id) {
        problem(sv, name, 16, 0, (long long)f.size, "belongs to another store (store id %016" PRIx64 "); skipped", id);
        end = from;
    }
    if (!v1 && snapshot && end > from) {
        int trailer = st_trailer_check(f.b, f.size, &count, &fcrc);
        if (trailer != TRAILER_NONE)
            end = f.size - TRAILER_LEN;
        if (trailer == TRAILER_BAD)
            problem(sv, name, (long long)end, 0, 0, "snapshot's trailer fails its checksum");
        else if (trailer == TRAILER_NONE)
            problem(sv, name, (long long)f.size, 0, 0, "snapshot has no trailer: it is cut short");
    }
    if (end > from)
        salvage_records(sv, name, &f, from, end, v1, tail_ok, &n);
    if (sv->cb->file_done != NULL)
        sv->cb->file_done(sv->cb->ctx, name, n, f.size);
    free(f.b);
}

/* Records of snapshot `gen` that verify: all of them (*whole) or how many. */
static uint64_t snapshot_quality(salvage_t *sv, uint64_t gen, int *whole)
{
    char name[NAME_LEN], why[200];
    st_file_t f;
    uint64_t id, count, n = 0;
    uint32_t fcrc;
    long long off;
    *whole = 0;
    st_name(name, 1, gen);
    if (st_read_file(sv->dirfd, name, &f) != 0)
        return 0;
    size_t end = st_trailer_check(f.b, f.size, &count, &fcrc) == TRAILER_OK ? f.size - TRAILER_LEN : f.size;
    if (f.size > HEADER_LEN) {
        st_resync_t r = {.b = f.b, .end = end};
        n = st_count_following(&r, HEADER_LEN);
        st_resync_free(&r);
    }
    *whole = st_header_check(f.b, f.size, 1, gen, &id, why, sizeof(why)) == 0 && id == sv->id &&
             st_snapshot_check(f.b, f.size, &off, NULL, 0) == 0;
    free(f.b);
    return n;
}

/* The id most verifying headers hold. */
static uint64_t common_id(salvage_t *sv, const st_listing_t *ls)
{
    size_t n = ls->nsnap + ls->njour, k = 0;
    uint64_t *ids = calloc(n + 1, sizeof(*ids));
    if (ids == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int snap = i < ls->nsnap;
        char why[200];
        off_t size;
        uint64_t gen = snap ? ls->snap[i] : ls->jour[i - ls->nsnap];
        k += st_header_read(sv->dirfd, snap, gen, &ids[k], &size, why, sizeof(why)) == 0;
    }
    uint64_t id = st_majority_id(ids, k);
    free(ids);
    return id;
}

static void salvage_v2(salvage_t *sv, const st_listing_t *ls)
{
    char name[NAME_LEN];
    uint64_t base = 0, fallback = 0;
    sv->id = common_id(sv, ls);
    for (size_t i = ls->nsnap; i-- > 0 && base == 0;) {
        int whole;
        uint64_t n = snapshot_quality(sv, ls->snap[i], &whole);
        if (whole)
            base = ls->snap[i];
        else if (n > 0 && fallback == 0)
            fallback = ls->snap[i];
    }
    if (base == 0)
        base = fallback;
    size_t j = 0;
    while (j < ls->njour && ls->jour[j] < base)
        j++;
    uint64_t expect = base > 0 ? base : 1;
    if (base > 0) {
        st_name(name, 1, base);
        salvage_file(sv, name, base, 1, 0, 0);
    } else if (j < ls->njour && ls->jour[j] > 1) {
        st_name(name, 1, ls->jour[j]);
        problem(sv, name, -1, 0, 0, "%s is missing or unusable: journal-%016" PRIx64 " starts from it", name, ls->jour[j]);
        expect = ls->jour[j];
    }
    /* the newest journal of this store holding anything after its header may end in a torn tail */
    size_t tail;
    st_tail_journal(sv->dirfd, ls->jour + j, ls->njour - j, sv->id, 0, &tail);
    tail += j;
    for (; j < ls->njour; j++) {
        for (; expect < ls->jour[j]; expect++) {
            st_name(name, 0, expect);
            problem(sv, name, -1, 0, 0, "%s is missing", name);
        }
        st_name(name, 0, ls->jour[j]);
        salvage_file(sv, name, ls->jour[j], 0, 0, j == tail);
        expect = ls->jour[j] + 1;
    }
}

static void salvage_v1(salvage_t *sv, const st_listing_t *ls)
{
    uint64_t sgen = 0;
    if (ls->v1_snapshot) {
        st_v1_snapshot_gen(sv->dirfd, &sgen); /* unreadable: 0, and salvage_file says so */
        salvage_file(sv, "snapshot", 0, 1, 1, 0);
    }
    if (ls->v1_journal && st_v1_journal_stale(sv->dirfd, sgen) != 1) /* stale: the snapshot holds it */
        salvage_file(sv, "journal", 0, 0, 1, 1);
}

int store_scan(const char *dir, store_scan_mode_t mode, const store_scan_cb_t *cb, store_error_t *e)
{
    static const store_scan_cb_t none;
    store_error_t scratch;
    e = st_error_start(e, &scratch);
    if (cb == NULL)
        cb = &none;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        st_error(e, 0, dir, NULL, -1, "DATA_DIR %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (mode == STORE_SCAN_STRICT) {
        st_chain_t c;
        rc = st_walk(dirfd, dir, cb, &c, e);
        if (rc != 0 && cb->problem != NULL)
            cb->problem(cb->ctx, c.bad, e->offset, 0, 0, e->problem);
        st_listing_free(&c.ls);
    } else {
        st_listing_t ls;
        salvage_t sv = {dirfd, cb, 0};
        if (st_list(dirfd, &ls) != 0) {
            st_error(e, 0, dir, NULL, -1, "cannot list DATA_DIR %s: %s", dir, strerror(errno));
            rc = -1;
        } else if (st_v1_in_force(&ls)) {
            salvage_v1(&sv, &ls);
        } else {
            salvage_v2(&sv, &ls);
        }
        st_listing_free(&ls);
    }
    close(dirfd);
    return rc;
}

/* 1 when the directory holds nothing, 0 when it holds something, -1 with errno. */
static int dir_empty(int dirfd)
{
    DIR *d = st_opendir(dirfd);
    if (d == NULL)
        return -1;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int store_create(const char *dir, int (*dump)(void *ctx, store_emit_t emit, void *ectx), void *ctx, store_error_t *e)
{
    store_error_t scratch;
    char name[NAME_LEN];
    uint64_t size;
    e = st_error_start(e, &scratch);
    int mkerr = mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : errno;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), empty;
    if (dirfd < 0) {
        st_error(e, 0, dir, NULL, -1, "%s: %s", dir, strerror(errno == ENOENT && mkerr ? mkerr : errno));
        return -1;
    }
    if ((empty = dir_empty(dirfd)) != 1) {
        st_error(e, 0, dir, NULL, -1, "%s: %s", dir, empty < 0 ? strerror(errno) : "not empty");
        close(dirfd);
        return -1;
    }
    uint64_t id = st_new_id();
    int fd = -1;
    if (st_snapshot_write(dirfd, 1, id, dump, ctx, NULL, &size) != 0) {
        st_name(name, 1, 1);
        st_error(e, 0, dir, name, -1, "cannot write: %s", strerror(errno));
    } else if ((fd = st_journal_create(dirfd, 1, id)) < 0) {
        st_name(name, 0, 1);
        st_error(e, 0, dir, name, -1, "cannot write: %s", strerror(errno));
    } else {
        close(fd);
    }
    if (fd < 0) { /* not half a store: either file may be in place when only the directory's fsync failed */
        st_name(name, 0, 1);
        unlinkat(dirfd, name, 0);
        st_name(name, 1, 1);
        unlinkat(dirfd, name, 0);
        st_fsync_dir(dirfd);
    }
    close(dirfd);
    return fd >= 0 ? 0 : -1;
}
