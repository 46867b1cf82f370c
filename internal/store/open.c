/* store_open and store_close: lock DATA_DIR, walk the chain, and only once all of it verified,
 * repair (a torn tail, leftovers), create a new store or upgrade a first-format one. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void st_warnf(store_t *s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->o.warn != NULL)
        s->o.warn(s->o.ctx, msg);
}

static int replay_record(void *ctx, const char *name, long long off, const char *rec, size_t len, char *err, size_t errlen)
{
    store_t *s = ctx;
    (void)name, (void)off;
    return s->o.replay(s->o.ctx, rec, len, err, errlen);
}

static void go_readonly(store_t *s, const char *what, int err)
{
    s->readonly = 1;
    st_warnf(s, "DATA_DIR %s cannot be written (%s: %s): serving reads only, changes are refused", s->dir, what, strerror(err));
}

/* Removes what a crash left behind (*.tmp, generations older than the snapshot) and renames the
 * first format's files once the second is in force. Failures only leave work for the next start. */
static void tidy(store_t *s, const st_chain_t *c)
{
    char name[NAME_LEN];
    int changed = 0;
    for (size_t i = 0; i < c->ls.ntmp; i++)
        changed |= unlinkat(s->dirfd, c->ls.tmp[i], 0) == 0;
    for (uint64_t g = c->low; c->kind == CHAIN_V2 && g < c->S; g++) {
        st_name(name, 0, g);
        changed |= unlinkat(s->dirfd, name, 0) == 0;
        st_name(name, 1, g);
        changed |= unlinkat(s->dirfd, name, 0) == 0;
    }
    if (c->v1_left || c->kind == CHAIN_V1) {
        if (c->ls.v1_journal && renameat(s->dirfd, "journal", s->dirfd, "journal.v1") != 0)
            st_warnf(s, "%s/journal: cannot rename to journal.v1: %s", s->dir, strerror(errno));
        if (c->ls.v1_snapshot && renameat(s->dirfd, "snapshot", s->dirfd, "snapshot.v1") != 0)
            st_warnf(s, "%s/snapshot: cannot rename to snapshot.v1: %s", s->dir, strerror(errno));
        if (c->ls.v1_next)
            unlinkat(s->dirfd, "journal.next", 0);
        changed = 1;
    }
    if (changed && st_fsync_dir(s->dirfd) != 0)
        st_warnf(s, "DATA_DIR %s: fsync: %s", s->dir, strerror(errno));
}

/* Cuts the torn tail the walk found (in journal J, or in an older one when the newer hold only
 * their header). 0, or -1 with errno. */
static int cut_torn(store_t *s, const st_chain_t *c)
{
    char name[NAME_LEN];
    st_name(name, 0, c->J);
    int fd = strcmp(name, c->torn) == 0 ? s->fd : openat(s->dirfd, c->torn, O_RDWR | O_CLOEXEC);
    int rc = fd >= 0 && ftruncate(fd, (off_t)c->torn_at) == 0 && fdatasync(fd) == 0 ? 0 : -1;
    int err = errno;
    if (fd >= 0 && fd != s->fd)
        close(fd);
    errno = err;
    return rc;
}

static void open_v2(store_t *s, const st_chain_t *c)
{
    char name[NAME_LEN];
    s->id = c->id;
    s->gen = c->J;
    s->low = c->low;
    s->snap_bytes = c->snap_bytes;
    s->prev_bytes = c->prev_bytes;
    s->cur_bytes = c->cur_bytes;
    s->durable = (off_t)c->cur_bytes;
    st_name(name, 0, c->J);
    if ((s->fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC)) < 0) {
        go_readonly(s, name, errno);
    } else if (c->torn[0] != '\0' && cut_torn(s, c) != 0) {
        go_readonly(s, "cannot cut a torn tail", errno);
        close(s->fd);
        s->fd = -1;
    }
    if (c->torn[0] != '\0')
        st_warnf(s, "%s/%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " %s (never acknowledged)", s->dir, c->torn,
                 c->torn_size - c->torn_at, c->torn_at, s->readonly ? "left in place" : "cut off");
    if (!s->readonly)
        tidy(s, c);
}

static void open_empty(store_t *s, const st_chain_t *c)
{
    s->id = st_new_id();
    s->gen = s->low = 1;
    s->cur_bytes = HEADER_LEN;
    s->durable = HEADER_LEN;
    if ((s->fd = st_journal_create(s->dirfd, 1, s->id)) < 0) {
        go_readonly(s, "cannot create journal-0000000000000001", errno);
        return;
    }
    tidy(s, c);
}

/* The first format was replayed: its state becomes snapshot 1, beside an empty journal 1. Written
 * snapshot first, so that a crash before journal 1 is in leaves the first format in force. */
static void open_upgrade(store_t *s, const st_chain_t *c)
{
    if (c->torn[0] != '\0')
        st_warnf(s,
                 "%s/%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " left out (never "
                 "acknowledged)",
                 s->dir, c->torn, c->torn_size - c->torn_at, c->torn_at);
    if (s->o.freeze == NULL || s->o.dump == NULL || s->o.thaw == NULL) {
        go_readonly(s, "a first-format store cannot be upgraded without dump", EINVAL);
        return;
    }
    s->id = st_new_id();
    st_frozen_t a = {s, s->o.freeze(s->o.ctx)};
    uint64_t size = 0;
    int rc = st_snapshot_write(s->dirfd, 1, s->id, st_dump_frozen, &a, NULL, &size), err = errno;
    s->o.thaw(s->o.ctx, a.frozen);
    if (rc != 0) {
        go_readonly(s, "cannot write snapshot-0000000000000001", err);
        return;
    }
    if ((s->fd = st_journal_create(s->dirfd, 1, s->id)) < 0) {
        go_readonly(s, "cannot create journal-0000000000000001", errno);
        return;
    }
    s->gen = s->low = 1;
    s->snap_bytes = size;
    s->cur_bytes = HEADER_LEN;
    s->durable = HEADER_LEN;
    tidy(s, c);
    st_warnf(s,
             "upgraded DATA_DIR %s from the first format: %" PRIu64 " records replayed into "
             "snapshot-0000000000000001; the old files are kept as journal.v1 and snapshot.v1",
             s->dir, c->records);
}

static int start_threads(store_t *s)
{
    int rc = pthread_create(&s->committer, NULL, st_committer_main, s);
    if (rc != 0)
        return rc;
    if ((rc = pthread_create(&s->compactor, NULL, st_compactor_main, s)) != 0) {
        pthread_mutex_lock(&s->mu);
        s->closing = 1;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer, NULL);
        return rc;
    }
    s->threads = 1;
    return 0;
}

/* The directory, created when missing (one level), open and locked; -1 with *e. */
static int lock_dir(store_t *s, store_error_t *e)
{
    int mkerr = mkdir(s->dir, 0755) == 0 || errno == EEXIST ? 0 : errno;
    if ((s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int err = errno == ENOENT && mkerr != 0 ? mkerr : errno;
        st_error(e, 0, s->dir, NULL, -1, "DATA_DIR %s: %s", s->dir, strerror(err));
        return -1;
    }
    if (flock(s->dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            st_error(e, 0, s->dir, NULL, -1, "DATA_DIR %s is in use by another porrio", s->dir);
        else
            st_error(e, 0, s->dir, NULL, -1, "DATA_DIR %s: cannot lock: %s", s->dir, strerror(errno));
        return -1;
    }
    return 0;
}

store_t *store_open(const store_opts_t *opts, store_error_t *e)
{
    store_error_t scratch;
    e = st_error_start(e, &scratch);
    if (opts == NULL || opts->dir == NULL || opts->ledger == NULL || opts->replay == NULL) {
        st_error(e, 0, "", NULL, -1, "store_open: dir, ledger and replay are required");
        return NULL;
    }
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(opts->dir)) == NULL) {
        free(s);
        st_error(e, 0, opts->dir, NULL, -1, "out of memory");
        return NULL;
    }
    s->o = *opts;
    if (s->o.compact_bytes == 0)
        s->o.compact_bytes = DEFAULT_COMPACT;
    s->fd = s->rot_fd = s->dirfd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->changed, NULL);
    if (lock_dir(s, e) != 0) {
        store_close(s);
        return NULL;
    }
    st_chain_t c;
    store_scan_cb_t cb = {.record = replay_record, .ctx = s};
    if (st_walk(s->dirfd, s->dir, &cb, &c, e) != 0) {
        st_listing_free(&c.ls);
        store_close(s);
        return NULL;
    }
    if (c.kind == CHAIN_V2)
        open_v2(s, &c);
    else if (c.kind == CHAIN_V1)
        open_upgrade(s, &c);
    else
        open_empty(s, &c);
    st_listing_free(&c.ls);
    if (!s->readonly) {
        int rc = start_threads(s);
        if (rc != 0) {
            st_error(e, 0, s->dir, NULL, -1, "cannot start the store's threads: %s", strerror(rc));
            store_close(s);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        st_maybe_compact(s);
        pthread_mutex_unlock(&s->mu);
    }
    return s;
}

void store_close(store_t *s)
{
    if (s == NULL)
        return;
    if (s->threads) {
        pthread_mutex_lock(&s->mu);
        s->closing = 1;
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&s->work);
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer, NULL);
        pthread_join(s->compactor, NULL);
    }
    if (s->frozen != NULL)
        s->o.thaw(s->o.ctx, s->frozen);
    if (s->fd >= 0)
        close(s->fd);
    if (s->rot_fd >= 0)
        close(s->rot_fd);
    if (s->dirfd >= 0)
        close(s->dirfd); /* and the lock with it */
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->changed);
    free(s->q.p);
    free(s->batch.p);
    free(s->dir);
    free(s);
}
