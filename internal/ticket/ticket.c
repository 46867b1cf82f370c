#include "ticket/ticket.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    uint64_t lo, hi; /* tickets lo..hi, inclusive */
} lost_range_t;

/*
 * One deciding thread (the committer) and any number of readers.
 *
 * `issued` is changed by ticket_issue only (the caller serialises it) and read anywhere: atomic.
 * `decided` and `nlost` are written under `mu` and read by ticket_state without it (atomics,
 * release/acquire): `nlost` is stored before `decided`, so a reader that sees a decision also
 * sees the lost range it made. `lost`, `forgotten`, `listeners`, `nlisteners` are guarded by
 * `mu`; `settled` by `mu` too, and is only waited on in ticket_wait.
 */
struct ticket_ledger {
    pthread_mutex_t mu;
    pthread_cond_t settled;
    uint64_t issued;
    uint64_t decided;                      /* every ticket <= decided has its fate */
    uint64_t nlost;                        /* lost ranges ever recorded */
    lost_range_t lost[TICKET_LOST_RANGES]; /* the newest ranges: lost[(nlost - 1) % N] is the last */
    uint64_t forgotten;                    /* tickets <= forgotten may have been lost: read as LOST */
    struct {
        ticket_listener_t cb;
        void *ctx;
    } listeners[TICKET_LISTENERS_MAX], watchers[TICKET_LISTENERS_MAX];
    int nlisteners, nwatchers;
};

ticket_ledger_t *ticket_ledger_new(void)
{
    ticket_ledger_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->settled, NULL);
    return l;
}

void ticket_ledger_free(ticket_ledger_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->settled);
    free(l);
}

static int add_callback(ticket_ledger_t *l, int watcher, ticket_listener_t cb, void *ctx)
{
    int rc = -1, *n = watcher ? &l->nwatchers : &l->nlisteners;
    pthread_mutex_lock(&l->mu);
    if (*n < TICKET_LISTENERS_MAX) {
        (watcher ? l->watchers : l->listeners)[*n].cb = cb;
        (watcher ? l->watchers : l->listeners)[(*n)++].ctx = ctx;
        rc = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int ticket_listen(ticket_ledger_t *l, ticket_listener_t cb, void *ctx)
{
    return add_callback(l, 0, cb, ctx);
}
int ticket_watch(ticket_ledger_t *l, ticket_listener_t cb, void *ctx)
{
    return add_callback(l, 1, cb, ctx);
}

uint64_t ticket_issue(ticket_ledger_t *l)
{
    return __atomic_add_fetch(&l->issued, 1, __ATOMIC_RELAXED);
}

uint64_t ticket_last_issued(ticket_ledger_t *l)
{
    return __atomic_load_n(&l->issued, __ATOMIC_RELAXED);
}

/* Records lo..hi as lost; under mu. Adjacent failures share one range. */
static void add_lost(ticket_ledger_t *l, uint64_t lo, uint64_t hi)
{
    if (l->nlost > 0) {
        lost_range_t *last = &l->lost[(l->nlost - 1) % TICKET_LOST_RANGES];
        if (last->hi + 1 == lo) {
            last->hi = hi;
            return;
        }
    }
    lost_range_t *slot = &l->lost[l->nlost % TICKET_LOST_RANGES];
    if (l->nlost >= TICKET_LOST_RANGES)
        l->forgotten = slot->hi; /* the oldest range leaves the ring: its fate is forgotten */
    slot->lo = lo;
    slot->hi = hi;
    __atomic_store_n(&l->nlost, l->nlost + 1, __ATOMIC_RELEASE);
}

/*
 * The listeners run before the decision is published: whoever sees a ticket DURABLE through
 * ticket_state or ticket_wait also sees what the listeners did for it (the application's
 * published version).
 */
void ticket_decide(ticket_ledger_t *l, uint64_t upto, ticket_state_t fate)
{
    uint64_t from = __atomic_load_n(&l->decided, __ATOMIC_RELAXED); /* only this thread writes it */
    if (upto <= from || fate == TICKET_PENDING)
        return;
    pthread_mutex_lock(&l->mu);
    int n = l->nlisteners, nw = l->nwatchers;
    ticket_listener_t cbs[TICKET_LISTENERS_MAX], wcbs[TICKET_LISTENERS_MAX];
    void *ctxs[TICKET_LISTENERS_MAX], *wctxs[TICKET_LISTENERS_MAX];
    for (int i = 0; i < n; i++)
        cbs[i] = l->listeners[i].cb, ctxs[i] = l->listeners[i].ctx;
    for (int i = 0; i < nw; i++)
        wcbs[i] = l->watchers[i].cb, wctxs[i] = l->watchers[i].ctx;
    pthread_mutex_unlock(&l->mu);

    for (int i = 0; i < n; i++)
        cbs[i](ctxs[i], upto, fate);

    pthread_mutex_lock(&l->mu);
    if (fate == TICKET_LOST)
        add_lost(l, from + 1, upto);
    __atomic_store_n(&l->decided, upto, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&l->settled);
    pthread_mutex_unlock(&l->mu);

    for (int i = 0; i < nw; i++)
        wcbs[i](wctxs[i], upto, fate);
}

/* The fate of a decided ticket t; under mu. */
static ticket_state_t fate_of(const ticket_ledger_t *l, uint64_t t)
{
    if (t <= l->forgotten)
        return TICKET_LOST;
    uint64_t n = l->nlost < TICKET_LOST_RANGES ? l->nlost : TICKET_LOST_RANGES;
    for (uint64_t i = 0; i < n; i++)
        if (t >= l->lost[i].lo && t <= l->lost[i].hi)
            return TICKET_LOST;
    return TICKET_DURABLE;
}

ticket_state_t ticket_state(ticket_ledger_t *l, uint64_t t)
{
    if (t > __atomic_load_n(&l->decided, __ATOMIC_ACQUIRE))
        return TICKET_PENDING;
    if (t == 0 || __atomic_load_n(&l->nlost, __ATOMIC_ACQUIRE) == 0)
        return TICKET_DURABLE; /* no failure ever: the common case takes no lock */
    pthread_mutex_lock(&l->mu);
    ticket_state_t st = fate_of(l, t);
    pthread_mutex_unlock(&l->mu);
    return st;
}

ticket_state_t ticket_wait(ticket_ledger_t *l, uint64_t t)
{
    pthread_mutex_lock(&l->mu);
    while (__atomic_load_n(&l->decided, __ATOMIC_RELAXED) < t)
        pthread_cond_wait(&l->settled, &l->mu);
    ticket_state_t st = t == 0 ? TICKET_DURABLE : fate_of(l, t);
    pthread_mutex_unlock(&l->mu);
    return st;
}
