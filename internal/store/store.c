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

/* Reads a whole file; NULL with errno (ENOENT when absent). */
static unsigned char *slurp(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    ssize_t r;
    while (buf != NULL && got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)r;
    close(fd);
    *len = got;
    return buf;
}

/* Replays the records of one file. Returns the length of its valid prefix (0 when the header
 * itself is bad), sets *gen from the header, or -1 when the file is absent or unreadable. */
static off_t load_file(store_t *s, const char *name, const char *magic, uint64_t min_gen, uint64_t *gen)
{
    size_t len;
    unsigned char *buf = slurp(s->dirfd, name, &len);
    if (buf == NULL) {
        if (errno != ENOENT)
            warnf(s, "%s/%s: cannot read: %s", s->dir, name, strerror(errno));
        return -1;
    }
    if (len < HEADER_LEN || memcmp(buf, magic, 8) != 0) {
        if (len > 0)
            warnf(s, "%s/%s: not a porrio %s (bad header); ignored", s->dir, name, name);
        free(buf);
        *gen = 0;
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

/* Writes a file with just a header through a temporary name and renames it in. */
static int fresh_file(store_t *s, const char *name, const char *magic, uint64_t gen, int keep_open)
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
    if (keep_open)
        return fd;
    close(fd);
    return 0;
}

/* Replays the snapshot, then the journal when it is current. Returns 1 when the journal was
 * replayed (s->size is then its valid length), 0 when a fresh journal is needed. */
static int load_all(store_t *s)
{
    uint64_t snap_gen = 0, jgen = 0;
    off_t snap = load_file(s, "snapshot", MAGIC_SNAPSHOT, 0, &snap_gen);
    s->snap_size = snap > 0 ? snap : 0;
    off_t valid = load_file(s, "journal", MAGIC_JOURNAL, snap_gen, &jgen);
    s->gen = jgen > snap_gen ? jgen : snap_gen;
    if (valid < HEADER_LEN || jgen < snap_gen)
        return 0;
    s->size = valid;
    return 1;
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
        pthread_mutex_lock(&s->lock);
        s->fsyncs++;
        s->syncing = 0;
        if (ok) {
            s->durable_size = size;
        } else {
            /* after a failed fsync nothing written since the last good one can be trusted, and
             * a later fsync may wrongly succeed: everything pending is lost until recovery */
            warnf(s, "%s/journal: fsync failed: %s", s->dir, strerror(errno));
            s->failed = 1;
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
    s->o = *opts;
    if (s->o.compact_bytes == 0)
        s->o.compact_bytes = DEFAULT_COMPACT;
    s->dir = strdup(opts->dir);
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
    int replayed = load_all(s);
    if (replayed) { /* keep the journal; cut what replay refused */
        s->fd = openat(s->dirfd, "journal", O_RDWR | O_APPEND | O_CLOEXEC);
        if (s->fd >= 0 && ftruncate(s->fd, s->size) != 0) {
            close(s->fd);
            s->fd = -1;
        }
    } else {
        s->fd = fresh_file(s, "journal", MAGIC_JOURNAL, s->gen, 1);
        s->size = HEADER_LEN;
    }
    if (s->fd < 0) {
        warnf(s, "%s: not writable (%s): changes will be refused", s->dir, strerror(errno));
    } else {
        s->durable_size = s->size;
        s->started = pthread_create(&s->committer, NULL, commit_main, s) == 0;
    }
    return s;
}

void store_stats(store_t *s, store_stats_t *out)
{
    pthread_mutex_lock(&s->lock);
    *out = (store_stats_t){.appends = s->written, .fsyncs = s->fsyncs, .journal_bytes = (uint64_t)s->size,
                           .writable = s->fd >= 0 && !s->failed};
    pthread_mutex_unlock(&s->lock);
}

int store_writable(const store_t *s) { return s->fd >= 0 && !s->failed; }
/* Past the threshold, and larger than the last snapshot: with a large state, compacting after
 * every compact_bytes of changes would spend more time rewriting the state than serving. */
int store_should_compact(const store_t *s)
{
    return s->fd >= 0 && (size_t)s->size > s->o.compact_bytes && s->size > s->snap_size;
}

uint64_t store_append(store_t *s, const void *rec, size_t len, char *err, size_t errlen)
{
    unsigned char frame[FRAME_LEN];
    if (len > STORE_RECORD_MAX) {
        snprintf(err, errlen, "record of %zu bytes is too large", len);
        return 0;
    }
    put32(frame, (uint32_t)len);
    put32(frame + 4, (uint32_t)crc32(0, rec, (uInt)len));
    struct iovec v[2] = {{frame, FRAME_LEN}, {(void *)rec, len}};
    pthread_mutex_lock(&s->lock);
    if (s->fd < 0 || s->failed) {
        snprintf(err, errlen, "%s", s->fd < 0 ? "the data directory is not writable" : "the journal is recovering from a write error");
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (write_all(s->fd, v, 2) != 0) {
        snprintf(err, errlen, "cannot write the journal: %s", strerror(errno));
        /* a partial record would hide every later one at replay */
        if (ftruncate(s->fd, s->size) != 0) {
            s->failed = s->fail_pending = 1;
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
    if (len > STORE_RECORD_MAX) { /* replay would stop at it and drop every later record */
        errno = EFBIG;
        return -1;
    }
    put32(frame, (uint32_t)len);
    put32(frame + 4, (uint32_t)crc32(0, rec, (uInt)len));
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
    if (s->fd < 0 || s->failed) {
        snprintf(err, errlen, "the data directory is not writable");
        goto out;
    }
    /* the next journal exists before the snapshot that makes the current one stale */
    if ((newfd = fresh_file(s, "journal.next", MAGIC_JOURNAL, gen, 1)) < 0 ||
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
        s->fd = -1;
        s->decided = s->compacted = s->written; /* ... and it is durable: nothing is lost */
        goto out;
    }
    close(s->fd);
    s->fd = newfd, newfd = -1;
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
    if (s->fd >= 0 && ftruncate(s->fd, s->durable_size) != 0) {
        snprintf(err, errlen, "cannot cut the journal back: %s", strerror(errno));
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    s->size = s->durable_size;
    pthread_mutex_unlock(&s->lock);
    load_all(s); /* replays what is really on disk */
    pthread_mutex_lock(&s->lock);
    s->size = s->durable_size;
    s->failed = 0;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return 0;
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
