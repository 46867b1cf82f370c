/*
 * The compactor thread (docs/store.md, "Compaction"): creates journal J+1, has the committer
 * move to it and freeze the caller's state (which then holds exactly journals ... J), writes that
 * state as snapshot J+1, then removes journal J and everything older. Readers and writers never
 * wait for it. At every step the files on disk form a whole chain.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

enum { DONE, FAILED, ABORTED };

int st_dump_frozen(void *arg, store_emit_t emit, void *ectx)
{
    st_frozen_t *f = arg;
    return f->s->o.dump(f->s->o.ctx, f->frozen, emit, ectx);
}

/* Hands journal `gen` (open on fd) to the committer and waits for the frozen state. */
static int hand_over(store_t *s, int fd, uint64_t gen, void **frozen)
{
    pthread_mutex_lock(&s->mu);
    if (s->closing || s->committer_done || s->failed) {
        pthread_mutex_unlock(&s->mu);
        close(fd); /* journal `gen` stays, header only: still a whole chain */
        return ABORTED;
    }
    s->rot_fd = fd;
    s->rot_gen = gen;
    s->rot = ROT_WANTED;
    pthread_cond_signal(&s->work);
    while (s->rot == ROT_WANTED)
        pthread_cond_wait(&s->changed, &s->mu);
    int done = s->rot == ROT_DONE;
    *frozen = s->frozen;
    s->frozen = NULL;
    s->rot = ROT_NONE;
    if (!done) {
        close(s->rot_fd);
        s->rot_fd = -1;
    }
    pthread_mutex_unlock(&s->mu);
    return done ? DONE : ABORTED;
}

/* Removes the generations the new snapshot replaces; files left are removed at the next start. */
static void remove_older(store_t *s, uint64_t low, uint64_t gen)
{
    char name[NAME_LEN];
    for (uint64_t g = low; g < gen; g++) {
        st_name(name, 0, g);
        unlinkat(s->dirfd, name, 0);
        st_name(name, 1, g);
        unlinkat(s->dirfd, name, 0);
    }
    if (st_fsync_dir(s->dirfd) != 0)
        st_warnf(s, "DATA_DIR %s: fsync: %s", s->dir, strerror(errno));
}

static int compact_once(store_t *s)
{
    char name[NAME_LEN];
    pthread_mutex_lock(&s->mu);
    uint64_t gen = s->gen + 1;
    pthread_mutex_unlock(&s->mu);

    int fd = st_journal_create(s->dirfd, gen, s->id);
    if (fd < 0) {
        st_name(name, 0, gen);
        st_warnf(s, "compaction failed: cannot create %s/%s: %s; tried again later", s->dir, name, strerror(errno));
        return FAILED;
    }
    st_frozen_t a = {s, NULL};
    if (hand_over(s, fd, gen, &a.frozen) != DONE)
        return ABORTED;

    uint64_t size = 0;
    int rc = st_snapshot_write(s->dirfd, gen, s->id, st_dump_frozen, &a, &s->stop, &size), err = errno;
    s->o.thaw(s->o.ctx, a.frozen);
    st_name(name, 1, gen);
    if (rc < 0) {
        if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
            return ABORTED;
        st_warnf(s,
                 "compaction failed: cannot write %s/%s: %s; the journals stay in force, "
                 "tried again later",
                 s->dir, name, strerror(err));
        return FAILED;
    }
    /* rc 1: the snapshot is in place, and what the next start uses, but its rename may not survive
     * a crash: it counts, and the files it replaces are kept (the next compaction or start removes
     * them) so that a crash leaves a whole chain either way. */
    if (rc > 0)
        st_warnf(s,
                 "compaction: %s/%s is written but DATA_DIR could not be synced (%s); the older files are "
                 "kept until the next compaction or start",
                 s->dir, name, strerror(err));
    pthread_mutex_lock(&s->mu);
    uint64_t low = s->low;
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        remove_older(s, low, gen);

    pthread_mutex_lock(&s->mu);
    if (rc == 0)
        s->low = gen; /* else the files from low on are still there */
    s->snap_bytes = size;
    s->prev_bytes = 0;
    pthread_mutex_unlock(&s->mu);
    return DONE;
}

void *st_compactor_main(void *arg)
{
    store_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->closing && !s->c_want)
            pthread_cond_wait(&s->changed, &s->mu);
        if (s->closing)
            break;
        s->c_want = 0;
        s->c_running = 1;
        pthread_mutex_unlock(&s->mu);
        int r = compact_once(s);
        pthread_mutex_lock(&s->mu);
        s->c_running = 0;
        if (r == DONE) {
            s->compactions++;
            s->c_failed = 0;
            s->c_retry_at = 0;
        } else if (r == FAILED) {
            s->c_failed = 1;
            s->c_retry_at = s->prev_bytes + s->cur_bytes + s->o.compact_bytes;
        }
        pthread_cond_broadcast(&s->changed);
    }
    s->c_want = 0;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void store_compact_now(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    int can = s->o.dump != NULL && s->o.freeze != NULL && s->o.thaw != NULL;
    if (can && s->threads && !s->failed && !s->closing && !s->c_running) {
        s->c_want = 1;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->mu);
}

int store_compact_wait(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->threads && (s->c_want || s->c_running))
        pthread_cond_wait(&s->changed, &s->mu);
    int rc = s->c_failed ? -1 : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}
