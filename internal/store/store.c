#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC_JOURNAL "PORRIOJ1"
#define MAGIC_SNAPSHOT "PORRIOS1"
#define HEADER_LEN 16 /* 8 bytes of magic, then the generation as a u64 */
#define FRAME_LEN 8
#define DEFAULT_COMPACT (8u << 20)

struct store {
    store_opts_t o;
    char *dir;
    int dirfd, fd;         /* fd: the journal, -1 when read-only */
    uint64_t gen;          /* generation of the journal in use */
    off_t size, durable_size, snap_size;
    uint64_t written, decided, lost_lo, lost_hi, fsyncs;
    uint64_t compacted;    /* made durable by store_compact, not yet reported by the committer */
    int syncing, compacting, closing, failed, fail_pending, started;
    FILE *snap;            /* the snapshot being written by store_compact */
    pthread_mutex_t lock;
    pthread_cond_t work, idle, done;
    pthread_t committer;
};

static void warnf(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(store_t *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->o.warn != NULL)
        s->o.warn(s->o.ctx, msg);
}

static void put32(unsigned char *p, uint32_t v) { p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24; }
static uint32_t get32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The frame of a record; -1 when the record is too large: replay would stop at it and drop every
 * later record. */
static int make_frame(unsigned char *f, const void *rec, size_t len)
{
    if (len > STORE_RECORD_MAX)
        return -1;
    put32(f, (uint32_t)len);
    put32(f + 4, (uint32_t)crc32(0, rec, (uInt)len));
    return 0;
}

static void make_header(unsigned char *h, const char *magic, uint64_t gen)
{
    memcpy(h, magic, 8);
    put32(h + 8, (uint32_t)gen);
    put32(h + 12, (uint32_t)(gen >> 32));
}

static int write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[2];
    memcpy(v, iov, sizeof(*iov) * n);
    for (int i = 0; i < n;) {
        ssize_t w = writev(fd, v + i, n - i);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (i < n && (size_t)w >= v[i].iov_len)
            w -= v[i++].iov_len;
        if (i < n)
            v[i].iov_base = (char *)v[i].iov_base + w, v[i].iov_len -= w;
    }
    return 0;
}

/* Reads a whole file; NULL with errno (ENOENT when absent). A read error is an error, never a
 * short file: a prefix taken for the whole would be cut as a torn tail and the rest lost. */
static unsigned char *slurp(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return NULL;
    unsigned char *buf = fstat(fd, &st) == 0 ? malloc((size_t)st.st_size + 1) : NULL;
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
        } else if (r == 0) {
            break; /* the file shrank meanwhile */
        } else {
            got += (size_t)r;
        }
    }
    int e = errno;
    close(fd);
    errno = e;
    *len = got;
    return buf;
}

/* Replays the records of one file, the first `limit` bytes of it at most (-1: all). Returns the
 * length of its valid prefix (0 when the header itself is bad) and sets *gen from the header;
 * -1 when the file is absent; -2 when it exists but cannot be read. */
static off_t load_file(store_t *s, const char *name, const char *magic, uint64_t min_gen, off_t limit,
                       uint64_t *gen)
{
    size_t len;
    unsigned char *buf = slurp(s->dirfd, name, &len);
    *gen = 0;
    if (buf == NULL) {
        if (errno == ENOENT)
            return -1;
        warnf(s, "%s/%s: cannot read: %s", s->dir, name, strerror(errno));
        return -2;
    }
    if (limit >= 0 && len > (size_t)limit)
        len = (size_t)limit;
    if (len < HEADER_LEN || memcmp(buf, magic, 8) != 0) {
        if (len > 0)
            warnf(s, "%s/%s: not a porrio %s (bad header); ignored", s->dir, name, name);
        free(buf);
        return 0;
    }
    *gen = get32(buf + 8) | (uint64_t)get32(buf + 12) << 32;
    size_t off = HEADER_LEN;
    if (*gen < min_gen) { /* a journal the snapshot already holds: compaction was interrupted */
        free(buf);
        return 0;
    }
    while (off + FRAME_LEN <= len) {
        uint32_t rlen = get32(buf + off), crc = get32(buf + off + 4);
        if (rlen > STORE_RECORD_MAX || off + FRAME_LEN + rlen > len ||
            (uint32_t)crc32(0, buf + off + FRAME_LEN, rlen) != crc)
            break;
        char err[256] = "";
        if (s->o.replay != NULL && s->o.replay(s->o.ctx, (char *)buf + off + FRAME_LEN, rlen, err, sizeof(err)) != 0)
            warnf(s, "%s/%s: record at offset %zu skipped: %s", s->dir, name, off, err);
        off += FRAME_LEN + rlen;
    }
    if (off < len)
        warnf(s, "%s/%s: torn or corrupt tail of %zu bytes at offset %zu cut off", s->dir, name, len - off, off);
    free(buf);
    return (off_t)off;
}

/* Writes a file with just a header through a temporary name and renames it in. Returns its fd,
 * open for appending, or -1 with errno. */
static int fresh_file(store_t *s, const char *name, const char *magic, uint64_t gen)
{
    char tmp[64];
    unsigned char h[HEADER_LEN];
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    make_header(h, magic, gen);
    struct iovec v = {h, HEADER_LEN};
    if (write_all(fd, &v, 1) != 0 || fsync(fd) != 0 || renameat(s->dirfd, tmp, s->dirfd, name) != 0 || fsync(s->dirfd) != 0) {
        int e = errno;
        close(fd);
        unlinkat(s->dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    return fd;
}

/* What load_all found. */
typedef struct {
    uint64_t gen;      /* the generation in force */
    off_t snap_size;   /* 0 without a snapshot */
    off_t journal_len; /* the valid length of a current journal, 0 when a fresh one is needed */
} found_t;

/* Replays the snapshot, then the journal (its first journal_limit bytes at most, -1: all) when it
 * is current. Touches nothing in s but through replay and warn, so it needs no lock. 0; -1 when a
 * file exists but cannot be read: then nothing may be written, as a new journal or snapshot
 * would drop the records that file holds. */
static int load_all(store_t *s, off_t journal_limit, found_t *f)
{
    uint64_t snap_gen, jgen;
    off_t snap = load_file(s, "snapshot", MAGIC_SNAPSHOT, 0, -1, &snap_gen);
    off_t valid = snap == -2 ? -2 : load_file(s, "journal", MAGIC_JOURNAL, snap_gen, journal_limit, &jgen);
    if (valid == -2)
        return -1;
    f->snap_size = snap > 0 ? snap : 0;
    f->gen = jgen > snap_gen ? jgen : snap_gen;
    f->journal_len = valid >= HEADER_LEN && jgen >= snap_gen ? valid : 0;
    return 0;
}

static void *commit_main(void *arg)
{
    store_t *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->closing && s->compacted == 0 && !s->fail_pending &&
               (s->written == s->decided || s->compacting || s->failed))
            pthread_cond_wait(&s->work, &s->lock);
        if (s->fail_pending) { /* an append could not undo a partial write: recovery is needed */
            uint64_t upto = s->written;
            s->fail_pending = 0;
            if (upto > s->decided)
                s->lost_lo = s->decided + 1, s->lost_hi = upto;
            s->decided = upto;
            pthread_cond_broadcast(&s->done);
            pthread_mutex_unlock(&s->lock);
            if (s->o.durable != NULL)
                s->o.durable(s->o.ctx, upto, 0);
            pthread_mutex_lock(&s->lock);
            continue;
        }
        if (s->compacted != 0) { /* reported here, so that `durable` stays on this thread and in order */
            uint64_t upto = s->compacted;
            s->compacted = 0;
            pthread_mutex_unlock(&s->lock);
            if (s->o.durable != NULL)
                s->o.durable(s->o.ctx, upto, 1);
            pthread_mutex_lock(&s->lock);
            continue;
        }
        if (s->written == s->decided || s->failed)
            break; /* closing */
        uint64_t target = s->written;
        off_t size = s->size;
        int fd = s->fd, ok;
        s->syncing = 1;
        pthread_mutex_unlock(&s->lock);
        ok = fdatasync(fd) == 0;
        int e = errno;
        pthread_mutex_lock(&s->lock);
        s->fsyncs++;
        s->syncing = 0;
        if (ok) {
            s->durable_size = size;
        } else {
            /* after a failed fsync nothing written since the last good one can be trusted, and
             * a later fsync may wrongly succeed: everything pending is lost until recovery */
            warnf(s, "%s/journal: fsync failed: %s", s->dir, strerror(e));
            __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
            target = s->written;
            s->lost_lo = s->decided + 1, s->lost_hi = target;
        }
        s->decided = target;
        pthread_cond_broadcast(&s->idle);
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->lock);
        if (s->o.durable != NULL)
            s->o.durable(s->o.ctx, target, ok);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

store_t *store_open(const store_opts_t *opts, char *err, size_t errlen)
{
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(opts->dir)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->o = *opts;
    if (s->o.compact_bytes == 0)
        s->o.compact_bytes = DEFAULT_COMPACT;
    s->fd = s->dirfd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_cond_init(&s->done, NULL);
    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST)
        warnf(s, "%s: cannot create: %s", s->dir, strerror(errno));
    if ((s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "DATA_DIR %s: %s", s->dir, strerror(errno));
        store_close(s);
        return NULL;
    }
    found_t f = {0};
    const char *why = NULL;
    if (load_all(s, -1, &f) != 0) {
        why = "a file of the store cannot be read";
    } else if (f.journal_len > 0) { /* keep the journal, without the torn tail replay stopped at */
        s->fd = openat(s->dirfd, "journal", O_RDWR | O_APPEND | O_CLOEXEC);
        if (s->fd >= 0 && ftruncate(s->fd, f.journal_len) != 0) {
            close(s->fd);
            s->fd = -1;
        }
        s->size = f.journal_len;
    } else {
        s->fd = fresh_file(s, "journal", MAGIC_JOURNAL, f.gen);
        s->size = HEADER_LEN;
    }
    if (s->fd < 0 && why == NULL)
        why = strerror(errno);
    s->gen = f.gen;
    s->snap_size = f.snap_size;
    s->durable_size = s->size;
    if (s->fd >= 0) {
        int rc = pthread_create(&s->committer, NULL, commit_main, s);
        if (rc == 0) {
            s->started = 1;
            return s;
        }
        /* without a committer nothing would ever be reported durable */
        why = strerror(rc);
        close(s->fd);
        s->fd = -1;
    }
    warnf(s, "%s: not writable (%s): changes will be refused", s->dir, why);
    return s;
}

/* Why appends are refused, or NULL when they can succeed; under s->lock. */
static const char *refusal(const store_t *s)
{
    if (s->fd < 0)
        return "the data directory is not writable";
    return s->failed ? "the journal is recovering from a write error" : NULL;
}

void store_stats(store_t *s, store_stats_t *out)
{
    pthread_mutex_lock(&s->lock);
    *out = (store_stats_t){.appends = s->written, .fsyncs = s->fsyncs, .journal_bytes = (uint64_t)s->size,
                           .writable = refusal(s) == NULL};
    pthread_mutex_unlock(&s->lock);
}

/* Without the lock, which a compaction holds for as long as it writes: a readiness probe must
 * not wait for that. fd and failed change under the lock, through atomic stores. */
int store_writable(const store_t *s)
{
    return __atomic_load_n(&s->fd, __ATOMIC_RELAXED) >= 0 && !__atomic_load_n(&s->failed, __ATOMIC_RELAXED);
}

/* Past the threshold, and larger than the last snapshot: with a large state, compacting after
 * every compact_bytes of changes would spend more time rewriting the state than serving. */
int store_should_compact(const store_t *s)
{
    return s->fd >= 0 && (size_t)s->size > s->o.compact_bytes && s->size > s->snap_size;
}

uint64_t store_append(store_t *s, const void *rec, size_t len, char *err, size_t errlen)
{
    unsigned char frame[FRAME_LEN];
    if (make_frame(frame, rec, len) != 0) {
        snprintf(err, errlen, "record of %zu bytes is too large", len);
        return 0;
    }
    struct iovec v[2] = {{frame, FRAME_LEN}, {(void *)rec, len}};
    pthread_mutex_lock(&s->lock);
    const char *why = refusal(s);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (write_all(s->fd, v, 2) != 0) {
        snprintf(err, errlen, "cannot write the journal: %s", strerror(errno));
        /* a partial record would hide every later one at replay */
        if (ftruncate(s->fd, s->size) != 0) {
            __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
            s->fail_pending = 1;
            pthread_cond_signal(&s->work);
        }
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->size += FRAME_LEN + (off_t)len;
    uint64_t t = ++s->written;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return t;
}

uint64_t store_last_ticket(store_t *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t t = s->written;
    pthread_mutex_unlock(&s->lock);
    return t;
}

int store_sync(store_t *s, uint64_t ticket)
{
    pthread_mutex_lock(&s->lock);
    while (s->decided < ticket && s->started)
        pthread_cond_wait(&s->done, &s->lock);
    int rc = s->decided >= ticket && !(ticket >= s->lost_lo && ticket <= s->lost_hi) ? 0 : -1;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_dump_record(store_t *s, const void *rec, size_t len)
{
    unsigned char frame[FRAME_LEN];
    if (make_frame(frame, rec, len) != 0) {
        errno = EFBIG;
        return -1;
    }
    return s->snap != NULL && fwrite(frame, 1, FRAME_LEN, s->snap) == FRAME_LEN && fwrite(rec, 1, len, s->snap) == len ? 0 : -1;
}

int store_compact(store_t *s, int (*dump)(void *ctx, store_t *s), void *ctx, char *err, size_t errlen)
{
    unsigned char h[HEADER_LEN];
    int newfd = -1, rc = -1, fd;
    pthread_mutex_lock(&s->lock);
    s->compacting = 1;
    while (s->syncing)
        pthread_cond_wait(&s->idle, &s->lock);
    uint64_t gen = s->gen + 1;
    const char *why = refusal(s);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        goto out;
    }
    /* the next journal exists before the snapshot that makes the current one stale */
    if ((newfd = fresh_file(s, "journal.next", MAGIC_JOURNAL, gen)) < 0 ||
        (fd = openat(s->dirfd, "snapshot.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "cannot start a snapshot: %s", strerror(errno));
        goto out;
    }
    s->snap = fdopen(fd, "w");
    make_header(h, MAGIC_SNAPSHOT, gen);
    int ok = s->snap != NULL && fwrite(h, 1, HEADER_LEN, s->snap) == HEADER_LEN && dump(ctx, s) == 0 &&
             fflush(s->snap) == 0 && fsync(fd) == 0;
    int e = errno;
    off_t snap_size = ok ? ftello(s->snap) : 0;
    if (s->snap != NULL)
        fclose(s->snap);
    else
        close(fd);
    s->snap = NULL;
    if (!ok || renameat(s->dirfd, "snapshot.tmp", s->dirfd, "snapshot") != 0 || fsync(s->dirfd) != 0) {
        snprintf(err, errlen, "cannot write the snapshot: %s", strerror(ok ? errno : e));
        unlinkat(s->dirfd, "snapshot.tmp", 0);
        goto out;
    }
    if (renameat(s->dirfd, "journal.next", s->dirfd, "journal") != 0 || fsync(s->dirfd) != 0) {
        /* the snapshot holds everything; appending to the stale journal would be lost */
        snprintf(err, errlen, "cannot install the new journal: %s", strerror(errno));
        close(s->fd);
        __atomic_store_n(&s->fd, -1, __ATOMIC_RELAXED);
        s->decided = s->compacted = s->written; /* ... and it is durable: nothing is lost */
        goto out;
    }
    close(s->fd);
    __atomic_store_n(&s->fd, newfd, __ATOMIC_RELAXED);
    newfd = -1;
    s->gen = gen;
    s->size = s->durable_size = HEADER_LEN;
    s->snap_size = snap_size;
    s->decided = s->compacted = s->written; /* the committer reports it */
    rc = 0;
out:
    if (newfd >= 0) {
        close(newfd);
        unlinkat(s->dirfd, "journal.next", 0);
    }
    s->compacting = 0;
    pthread_cond_broadcast(&s->done);
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_recover(store_t *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    while (s->syncing)
        pthread_cond_wait(&s->idle, &s->lock);
    int cut = s->fd < 0 || ftruncate(s->fd, s->durable_size) == 0, e = errno;
    off_t limit = s->fd >= 0 ? s->durable_size : -1;
    pthread_mutex_unlock(&s->lock);
    /* the state is rebuilt from the durable records even when the cut failed, so reads go on;
     * then appends stay refused, as the journal still ends in records nobody acknowledged */
    found_t f;
    int loaded = load_all(s, limit, &f) == 0;
    pthread_mutex_lock(&s->lock);
    if (cut && loaded) {
        s->size = s->durable_size;
        __atomic_store_n(&s->failed, 0, __ATOMIC_RELAXED);
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->lock);
    if (!cut)
        snprintf(err, errlen, "cannot cut the journal back: %s", strerror(e));
    else if (!loaded)
        snprintf(err, errlen, "cannot read the store back: changes stay refused");
    return cut && loaded ? 0 : -1;
}

void store_close(store_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->closing = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->committer, NULL);
    if (s->fd >= 0)
        close(s->fd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->done);
    free(s->dir);
    free(s);
}
