/* Files whole: reading one, and writing a journal or a snapshot so that it appears complete or
 * not at all (a .tmp name, fsync, rename, fsync of the directory). */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_BUF (1u << 20) /* bytes of a snapshot gathered before each write */

void st_error(store_error_t *e, int damaged, const char *dir, const char *name, long long offset, const char *fmt, ...)
{
    va_list ap;
    e->damaged = damaged;
    e->offset = offset;
    if (name != NULL && name[0] != '\0')
        snprintf(e->file, sizeof(e->file), "%s/%s", dir, name);
    else
        e->file[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(e->problem, sizeof(e->problem), fmt, ap);
    va_end(ap);
}

store_error_t *st_error_start(store_error_t *e, store_error_t *scratch)
{
    if (e == NULL)
        e = scratch;
    memset(e, 0, sizeof(*e));
    e->offset = -1;
    return e;
}

int st_read_file(int dirfd, const char *name, st_file_t *f)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    f->b = NULL;
    f->size = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || (f->b = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    while (f->size < (size_t)st.st_size) {
        ssize_t r = pread(fd, f->b + f->size, (size_t)st.st_size - f->size, (off_t)f->size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break; /* shrank meanwhile (a scan of a store in use): what is there */
        f->size += (size_t)r;
    }
    close(fd);
    return 0;
fail:;
    int err = errno;
    free(f->b);
    f->b = NULL;
    close(fd);
    errno = err;
    return -1;
}

int st_read_head(int dirfd, const char *name, unsigned char *b, size_t n, size_t *got, off_t *size)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    *got = 0;
    int rc = fstat(fd, &st);
    while (rc == 0 && *got < n) {
        ssize_t r = pread(fd, b + *got, n - *got, (off_t)*got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        *got += (size_t)r;
    }
    int err = errno;
    close(fd);
    errno = err;
    *size = rc == 0 ? st.st_size : 0;
    return rc;
}

int st_header_read(int dirfd, int snapshot, uint64_t gen, uint64_t *id, off_t *size, char *why, size_t whylen)
{
    char name[NAME_LEN];
    unsigned char h[HEADER_LEN];
    size_t got;
    st_name(name, snapshot, gen);
    if (st_read_head(dirfd, name, h, sizeof(h), &got, size) != 0)
        return -1;
    return st_header_check(h, got, snapshot, gen, id, why, whylen) == 0 ? 0 : 1;
}

int st_tail_journal(int dirfd, const uint64_t *gens, size_t n, uint64_t id, int strict, size_t *tail)
{
    char why[200];
    for (*tail = n > 0 ? n - 1 : 0; *tail > 0; (*tail)--) {
        uint64_t hid = 0;
        off_t size = 0;
        int rc = st_header_read(dirfd, 0, gens[*tail], &hid, &size, why, sizeof(why));
        if (rc < 0 && strict)
            return -1;
        if (rc >= 0 && size > HEADER_LEN && (rc == 1 || hid == id))
            return 0;
    }
    return 0;
}

/* The first format's header of `name`: 1 with *gen when it is whole and holds `magic`, 0 when it
 * does not, -1 with errno when the file cannot be read. */
static int v1_header(int dirfd, const char *name, const char *magic, uint64_t *gen)
{
    unsigned char h[V1_HEADER_LEN];
    size_t got;
    off_t size;
    if (st_read_head(dirfd, name, h, sizeof(h), &got, &size) != 0)
        return -1;
    if (got != sizeof(h) || memcmp(h, magic, 8) != 0)
        return 0;
    *gen = st_get64(h + 8);
    return 1;
}

int st_v1_snapshot_gen(int dirfd, uint64_t *gen)
{
    *gen = 0;
    return v1_header(dirfd, "snapshot", MAGIC_V1_SNAPSHOT, gen) < 0 ? -1 : 0;
}

int st_v1_journal_stale(int dirfd, uint64_t sgen)
{
    uint64_t jgen = 0;
    int rc = v1_header(dirfd, "journal", MAGIC_V1_JOURNAL, &jgen);
    return rc <= 0 ? rc : jgen < sgen;
}

int st_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w, n -= (size_t)w, off += w;
    }
    return 0;
}

int st_fsync_dir(int dirfd)
{
    return fsync(dirfd);
}

DIR *st_opendir(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return d;
}

uint64_t st_new_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec << 20 ^ (uint64_t)getpid();
    }
    return id;
}

/* Renames tmp to name and fsyncs the directory. 0; -1 with errno when the rename failed (tmp
 * removed); 1 with errno when only the fsync of the directory failed: name is in place. */
static int install(int dirfd, const char *tmp, const char *name)
{
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        int err = errno;
        unlinkat(dirfd, tmp, 0);
        errno = err;
        return -1;
    }
    return st_fsync_dir(dirfd) == 0 ? 0 : 1;
}

int st_journal_create(int dirfd, uint64_t gen, uint64_t id)
{
    char name[NAME_LEN], tmp[NAME_LEN + 4];
    unsigned char h[HEADER_LEN];
    st_name(name, 0, gen);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    st_header_make(h, 0, gen, id);
    if (st_pwrite_all(fd, h, HEADER_LEN, 0) != 0 || fdatasync(fd) != 0) {
        int err = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = err;
        return -1;
    }
    if (install(dirfd, tmp, name) != 0) { /* journal-<gen> may be in place: see store_int.h */
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* A snapshot being written: a buffer in front of the file and what the trailer will say. */
typedef struct {
    int fd;
    st_buf_t buf;
    off_t off;      /* bytes written to the file */
    uint64_t count; /* records */
    uint32_t crc;   /* of every byte so far */
    const int *stop;
} snap_writer_t;

static int flush(snap_writer_t *w)
{
    if (st_pwrite_all(w->fd, w->buf.p, w->buf.len, w->off) != 0)
        return -1;
    w->off += (off_t)w->buf.len;
    w->buf.len = 0;
    return 0;
}

/* Appends bytes to the snapshot (and to its CRC). */
static int put(snap_writer_t *w, const void *p, size_t n)
{
    w->crc = st_crc32(w->crc, p, n);
    if (w->buf.len + n > w->buf.cap && flush(w) != 0)
        return -1;
    if (n > w->buf.cap) { /* a record larger than the buffer goes straight to the file */
        if (st_pwrite_all(w->fd, p, n, w->off) != 0)
            return -1;
        w->off += (off_t)n;
        return 0;
    }
    memcpy(w->buf.p + w->buf.len, p, n);
    w->buf.len += n;
    return 0;
}

static int emit(void *ectx, const void *rec, size_t len)
{
    snap_writer_t *w = ectx;
    unsigned char f[FRAME_LEN];
    if (w->stop != NULL && __atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
        errno = ECANCELED;
        return -1;
    }
    if (len == 0 || len > STORE_RECORD_MAX) { /* replay could not read it back */
        errno = EINVAL;
        return -1;
    }
    st_frame_make(f, rec, len);
    if (put(w, f, FRAME_LEN) != 0 || put(w, rec, len) != 0)
        return -1;
    w->count++;
    return 0;
}

int st_snapshot_write(int dirfd, uint64_t gen, uint64_t id, st_produce_t produce, void *arg, const int *stop, uint64_t *size)
{
    char name[NAME_LEN], tmp[NAME_LEN + 4];
    unsigned char h[HEADER_LEN], t[TRAILER_LEN];
    st_name(name, 1, gen);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    snap_writer_t w = {.stop = stop, .buf = {.cap = SNAP_BUF}};
    if ((w.buf.p = malloc(SNAP_BUF)) == NULL)
        return -1;
    if ((w.fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        free(w.buf.p);
        return -1;
    }
    st_header_make(h, 1, gen, id);
    int ok = put(&w, h, HEADER_LEN) == 0 && produce(arg, emit, &w) == 0;
    if (ok && w.stop != NULL && __atomic_load_n(w.stop, __ATOMIC_RELAXED))
        ok = 0, errno = ECANCELED;
    if (ok) {
        st_trailer_make(t, w.count, w.crc);
        ok = put(&w, t, TRAILER_LEN) == 0 && flush(&w) == 0 && fdatasync(w.fd) == 0;
    }
    int err = errno;
    free(w.buf.p);
    if (close(w.fd) != 0 && ok)
        ok = 0, err = errno;
    if (!ok) {
        unlinkat(dirfd, tmp, 0);
        errno = err != 0 ? err : EIO;
        return -1;
    }
    int rc = install(dirfd, tmp, name);
    if (rc < 0)
        return -1;
    *size = (uint64_t)w.off;
    return rc; /* 1: in place, the directory not synced (errno) */
}
