/*
 * The way into the journal: store_append queues a framed record and issues its ticket; the
 * committer thread writes what is queued as one batch, fdatasyncs it, and decides the batch's
 * tickets (group commit: whoever queued during a write shares the next fsync). A batch that
 * fails is undone (the journal cut back to its durable length) and its tickets, with everything
 * queued behind them, are decided LOST. Journals change here too, between two batches, when
 * the compactor asks for it.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_KEEP (8u << 20) /* a buffer larger than this is freed after its batch */

/* Why an append is refused now, or NULL; under mu. */
static const char *refusal(const store_t *s)
{
    if (s->readonly)
        return "the data directory cannot be written";
    if (s->failed)
        return "the store stopped taking writes after a failure it could not undo; restart porrio";
    if (s->failing && ticket_state(s->o.ledger, s->failing_upto) == TICKET_PENDING)
        return "the journal is recovering from a write error"; /* until the listeners have reverted */
    if (s->closing)
        return "the store is closing";
    return NULL;
}

static int reserve(st_buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

uint64_t store_append(store_t *s, const void *rec, size_t len, char *err, size_t errlen)
{
    const char *why = NULL;
    unsigned char frame[FRAME_LEN];
    if (len == 0 || len > STORE_RECORD_MAX) {
        snprintf(err, errlen, "a record of %zu bytes: records have 1 to %u bytes", len, STORE_RECORD_MAX);
        return 0;
    }
    st_frame_make(frame, rec, len); /* its CRC-32 outside the lock */
    pthread_mutex_lock(&s->mu);
    if ((why = refusal(s)) == NULL && s->q.len + FRAME_LEN + len > STORE_QUEUE_MAX) {
        why = "the journal is behind: too many changes wait to be written";
        __atomic_store_n(&s->full, 1, __ATOMIC_RELAXED);
    }
    if (why == NULL && reserve(&s->q, FRAME_LEN + len) != 0)
        why = "out of memory";
    if (why != NULL) {
        pthread_mutex_unlock(&s->mu);
        snprintf(err, errlen, "%s", why);
        return 0;
    }
    memcpy(s->q.p + s->q.len, frame, FRAME_LEN);
    memcpy(s->q.p + s->q.len + FRAME_LEN, rec, len);
    s->q.len += FRAME_LEN + len;
    uint64_t t = s->last_ticket = ticket_issue(s->o.ledger);
    s->appends++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return t;
}

int store_writable(const store_t *s)
{
    return !s->readonly && !__atomic_load_n(&s->failed, __ATOMIC_RELAXED) && !__atomic_load_n(&s->bad, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&s->full, __ATOMIC_RELAXED);
}

void store_stats(store_t *s, store_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = (store_stats_t){.appends = s->appends,
                           .fsyncs = s->fsyncs,
                           .journal_bytes = s->prev_bytes + s->cur_bytes,
                           .snapshot_bytes = s->snap_bytes,
                           .compactions = s->compactions,
                           .generation = s->gen,
                           .writable = store_writable(s)};
    pthread_mutex_unlock(&s->mu);
}

void st_maybe_compact(store_t *s)
{
    uint64_t jb = s->prev_bytes + s->cur_bytes;
    if (s->o.dump == NULL || s->o.freeze == NULL || s->o.thaw == NULL)
        return;
    if (s->c_want || s->c_running || s->failed)
        return;
    if (jb > s->o.compact_bytes && jb > s->snap_bytes && jb > s->c_retry_at) {
        s->c_want = 1;
        pthread_cond_broadcast(&s->changed);
    }
}

/*
 * Moves to the journal the compactor created, between two batches: everything written so far is
 * durable and decided, so the caller's state (freeze) holds exactly the records of the journals
 * up to the one being left. Under mu (released around freeze); on the committer.
 */
static void rotate(store_t *s)
{
    if (s->failed || s->closing) {
        s->rot = ROT_CANCELLED;
        pthread_cond_broadcast(&s->changed);
        return;
    }
    int old = s->fd;
    s->fd = s->rot_fd;
    s->rot_fd = -1;
    s->gen = s->rot_gen;
    s->prev_bytes += s->cur_bytes;
    s->cur_bytes = HEADER_LEN;
    s->durable = HEADER_LEN;
    pthread_mutex_unlock(&s->mu);
    close(old);
    void *frozen = s->o.freeze(s->o.ctx);
    pthread_mutex_lock(&s->mu);
    s->frozen = frozen;
    s->rot = ROT_DONE;
    pthread_cond_broadcast(&s->changed);
}

/*
 * A batch failed (err): its tickets and every one queued behind them are lost. Appends are
 * refused until the journal is cut back to its durable length and the listeners have reverted
 * the caller's state (failing, until the LOST decision shows in the ledger); when the cut fails,
 * for good (failed). Under mu (released).
 */
static void fail_batch(store_t *s, int err)
{
    __atomic_store_n(&s->failing, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->bad, 1, __ATOMIC_RELAXED);
    uint64_t upto = s->failing_upto = s->last_ticket;
    s->q.len = 0;
    int first = !s->warned;
    s->warned = 1;
    pthread_mutex_unlock(&s->mu);

    char name[NAME_LEN];
    st_name(name, 0, s->gen);
    if (first)
        st_warnf(s, "%s/%s: cannot write: %s; changes are refused until a write succeeds", s->dir, name, strerror(err));
    if (ftruncate(s->fd, s->durable) != 0 || fdatasync(s->fd) != 0) {
        int cut_err = errno;
        pthread_mutex_lock(&s->mu);
        __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&s->mu);
        st_warnf(s,
                 "%s/%s: cannot cut the journal back to %lld bytes: %s; "
                 "no more changes until porrio restarts",
                 s->dir, name, (long long)s->durable, strerror(cut_err));
    }
    ticket_decide(s->o.ledger, upto, TICKET_LOST);

    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->failing, 0, __ATOMIC_RELAXED);
}

/* The batch was written and fsynced: count it and decide its tickets. Under mu (released). */
static void batch_done(store_t *s, uint64_t upto)
{
    s->cur_bytes = (uint64_t)s->durable;
    int again = s->warned;
    s->warned = 0;
    __atomic_store_n(&s->bad, 0, __ATOMIC_RELAXED);
    st_maybe_compact(s);
    pthread_mutex_unlock(&s->mu);
    if (again && s->o.info != NULL) {
        char msg[768];
        snprintf(msg, sizeof(msg), "DATA_DIR %s: writes work again", s->dir);
        s->o.info(s->o.ctx, msg);
    }
    ticket_decide(s->o.ledger, upto, TICKET_DURABLE);
    pthread_mutex_lock(&s->mu);
}

void *st_committer_main(void *arg)
{
    store_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->q.len == 0 && s->rot != ROT_WANTED && !s->closing)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->q.len == 0) {
            if (s->closing)
                break;
            rotate(s);
            continue;
        }
        st_buf_t b = s->q; /* double buffering: appends fill the other buffer meanwhile */
        s->q = s->batch;
        s->batch = b;
        uint64_t upto = s->last_ticket;
        __atomic_store_n(&s->full, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&s->mu);

        int rc = st_pwrite_all(s->fd, b.p, b.len, s->durable);
        int synced = rc == 0;
        if (rc == 0)
            rc = fdatasync(s->fd);
        int err = errno;
        s->batch.len = 0;
        if (s->batch.cap > BATCH_KEEP) {
            free(s->batch.p);
            s->batch = (st_buf_t){0};
        }
        pthread_mutex_lock(&s->mu);
        s->fsyncs += synced;
        if (rc != 0) {
            fail_batch(s, err);
            continue;
        }
        s->durable += (off_t)b.len;
        batch_done(s, upto);
        if (s->rot == ROT_WANTED)
            rotate(s);
    }
    s->committer_done = 1;
    if (s->rot == ROT_WANTED)
        s->rot = ROT_CANCELLED;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
