#include "ticket/ticket.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* What a listener saw: every call, in order, across the listeners that share one log. */
typedef struct {
    int who[64];
    uint64_t upto[64];
    ticket_state_t fate[64];
    ticket_state_t state_seen[64]; /* ticket_state(upto) from inside the listener */
    int n;
    ticket_ledger_t *l;
} log_t;

typedef struct {
    log_t *log;
    int id;
} listener_t;

static void on_decide(void *ctx, uint64_t upto, ticket_state_t fate)
{
    listener_t *me = ctx;
    log_t *g = me->log;
    if (g->n < 64) {
        g->who[g->n] = me->id;
        g->upto[g->n] = upto;
        g->fate[g->n] = fate;
        g->state_seen[g->n] = ticket_state(g->l, upto);
    }
    g->n++;
}

static void test_states(void)
{
    ticket_ledger_t *l = ticket_ledger_new();
    EXPECT(l != NULL);
    EXPECT_INT(ticket_last_issued(l), 0);
    EXPECT_INT(ticket_state(l, 0), TICKET_DURABLE); /* no change: nothing to wait for */
    EXPECT_INT(ticket_wait(l, 0), TICKET_DURABLE);
    for (uint64_t i = 1; i <= 5; i++)
        EXPECT_INT(ticket_issue(l), i);
    EXPECT_INT(ticket_last_issued(l), 5);
    for (uint64_t t = 1; t <= 6; t++)
        EXPECT_INT(ticket_state(l, t), TICKET_PENDING);

    ticket_decide(l, 3, TICKET_DURABLE);
    for (uint64_t t = 1; t <= 3; t++)
        EXPECT_INT(ticket_state(l, t), TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 4), TICKET_PENDING);
    ticket_decide(l, 2, TICKET_LOST); /* not above the last decision: ignored */
    EXPECT_INT(ticket_state(l, 2), TICKET_DURABLE);
    ticket_decide(l, 4, TICKET_PENDING); /* not a fate */
    EXPECT_INT(ticket_state(l, 4), TICKET_PENDING);

    ticket_decide(l, 5, TICKET_LOST);
    EXPECT_INT(ticket_state(l, 3), TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 4), TICKET_LOST);
    EXPECT_INT(ticket_state(l, 5), TICKET_LOST);
    EXPECT_INT(ticket_wait(l, 4), TICKET_LOST);
    EXPECT_INT(ticket_wait(l, 1), TICKET_DURABLE);

    for (int i = 0; i < 3; i++)
        ticket_issue(l);
    ticket_decide(l, 8, TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 5), TICKET_LOST);
    EXPECT_INT(ticket_state(l, 6), TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 8), TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 9), TICKET_PENDING);
    ticket_ledger_free(l);
    ticket_ledger_free(NULL);
}

static void test_listener_order(void)
{
    ticket_ledger_t *l = ticket_ledger_new();
    static log_t g;
    listener_t ls[TICKET_LISTENERS_MAX];
    g.n = 0;
    g.l = l;
    for (int i = 0; i < TICKET_LISTENERS_MAX; i++) {
        ls[i] = (listener_t){&g, i};
        EXPECT_INT(ticket_listen(l, on_decide, &ls[i]), 0);
    }
    listener_t extra = {&g, 99};
    EXPECT_INT(ticket_listen(l, on_decide, &extra), -1);

    for (int i = 0; i < 10; i++)
        ticket_issue(l);
    ticket_decide(l, 4, TICKET_DURABLE);
    ticket_decide(l, 4, TICKET_DURABLE); /* ignored: no calls */
    ticket_decide(l, 10, TICKET_LOST);
    EXPECT_INT(g.n, 2 * TICKET_LISTENERS_MAX);
    for (int k = 0; k < g.n && k < 64; k++) {
        EXPECT_INT(g.who[k], k % TICKET_LISTENERS_MAX); /* registration order, every time */
        EXPECT_INT(g.upto[k], k < TICKET_LISTENERS_MAX ? 4 : 10);
        EXPECT_INT(g.fate[k], k < TICKET_LISTENERS_MAX ? TICKET_DURABLE : TICKET_LOST);
        /* the decision is published once every listener has returned */
        EXPECT_INT(g.state_seen[k], TICKET_PENDING);
    }
    EXPECT_INT(ticket_state(l, 4), TICKET_DURABLE);
    EXPECT_INT(ticket_state(l, 10), TICKET_LOST);
    ticket_ledger_free(l);
}

static void test_lost_ranges(void)
{
    ticket_ledger_t *l = ticket_ledger_new();
    uint64_t t = 0;
    /* adjacent failures make one range: they use one slot of the ring */
    for (int i = 0; i < 3; i++) {
        t = ticket_issue(l);
        ticket_decide(l, t, TICKET_LOST);
    }
    for (uint64_t k = 1; k <= 3; k++)
        EXPECT_INT(ticket_state(l, k), TICKET_LOST);

    /* then failures separated by successes: ticket 3k+4 durable, 3k+5..3k+6 lost */
    const int rounds = TICKET_LOST_RANGES + 4;
    uint64_t durable[TICKET_LOST_RANGES + 4], lost[TICKET_LOST_RANGES + 4];
    for (int k = 0; k < rounds; k++) {
        durable[k] = ticket_issue(l);
        ticket_decide(l, durable[k], TICKET_DURABLE);
        ticket_issue(l);
        lost[k] = ticket_issue(l);
        ticket_decide(l, lost[k], TICKET_LOST);
    }
    /* the ring holds the newest TICKET_LOST_RANGES ranges (the first three tickets' range and
     * four of these were forgotten): everything up to the last forgotten range reads LOST */
    uint64_t forgotten_hi = lost[rounds - TICKET_LOST_RANGES - 1];
    for (uint64_t x = 1; x <= forgotten_hi; x++)
        EXPECT_INT(ticket_state(l, x), TICKET_LOST);
    for (int k = rounds - TICKET_LOST_RANGES; k < rounds; k++) {
        EXPECT_INT(ticket_state(l, durable[k]), TICKET_DURABLE);
        EXPECT_INT(ticket_state(l, lost[k] - 1), TICKET_LOST);
        EXPECT_INT(ticket_state(l, lost[k]), TICKET_LOST);
        EXPECT_INT(ticket_wait(l, durable[k]), TICKET_DURABLE);
    }
    EXPECT_INT(ticket_state(l, lost[rounds - 1] + 1), TICKET_PENDING);
    ticket_ledger_free(l);
}

typedef struct {
    ticket_ledger_t *l;
    uint64_t t;
    ticket_state_t got;
} waiter_t;

static void *waiter(void *p)
{
    waiter_t *w = p;
    w->got = ticket_wait(w->l, w->t);
    return NULL;
}

static void test_wait(void)
{
    ticket_ledger_t *l = ticket_ledger_new();
    enum { N = 6 };
    waiter_t w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        ticket_issue(l);
    for (int i = 0; i < N; i++) {
        w[i] = (waiter_t){l, (uint64_t)i + 1, TICKET_PENDING};
        pthread_create(&th[i], NULL, waiter, &w[i]);
    }
    ticket_decide(l, 2, TICKET_DURABLE);
    ticket_decide(l, 4, TICKET_LOST);
    ticket_decide(l, 6, TICKET_DURABLE);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    static const ticket_state_t want[N] = {TICKET_DURABLE, TICKET_DURABLE, TICKET_LOST,
                                           TICKET_LOST,    TICKET_DURABLE, TICKET_DURABLE};
    for (int i = 0; i < N; i++)
        EXPECT_INT(w[i].got, want[i]);
    ticket_ledger_free(l);
}

/* Readers race the decider: a ticket's state only ever goes PENDING -> its fate, and the fate
 * a reader sees is the one decided. */
typedef struct {
    ticket_ledger_t *l;
    int bad;
} reader_t;

static ticket_state_t fate_for(uint64_t t)
{
    return (t / 7) % 3 == 1 ? TICKET_LOST : TICKET_DURABLE;
}

static void *reader(void *p)
{
    reader_t *r = p;
    ticket_state_t seen[64] = {0};
    for (;;) {
        for (uint64_t t = 1; t <= 63; t++) {
            ticket_state_t st = ticket_state(r->l, t);
            if (seen[t] != TICKET_PENDING && st != seen[t])
                r->bad++;
            if (st != TICKET_PENDING && st != fate_for(t))
                r->bad++;
            seen[t] = st;
        }
        if (seen[63] != TICKET_PENDING)
            break;
    }
    return NULL;
}

static void test_concurrent_readers(void)
{
    ticket_ledger_t *l = ticket_ledger_new();
    reader_t r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (reader_t){l, 0};
        pthread_create(&th[i], NULL, reader, &r[i]);
    }
    /* decide in runs of 7, alternating fates as fate_for says */
    for (uint64_t t = 1; t <= 63; t++) {
        ticket_issue(l);
        if (t % 7 == 6 || t == 63)
            ticket_decide(l, t, fate_for(t));
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        EXPECT_INT(r[i].bad, 0);
    }
    ticket_ledger_free(l);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_states);
    RUN(test_listener_order);
    RUN(test_lost_ranges);
    RUN(test_wait);
    RUN(test_concurrent_readers);
    return TEST_END();
}
