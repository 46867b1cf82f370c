#include "pvec/pvec.h"
#include "oom.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static pvec_entry_t entry(uint64_t a, uint64_t b)
{
    return (pvec_entry_t){a, b};
}

static int same_entry(pvec_entry_t x, pvec_entry_t y)
{
    return x.a == y.a && x.b == y.b;
}

/* The nodes of a vector of n entries built with no waste: every node full but the last of each level. */
static size_t nodes_for(uint64_t n)
{
    size_t want = 0;
    for (uint64_t span = PVEC_FANOUT;; span *= PVEC_FANOUT) {
        want += (n + span - 1) / span;
        if (span >= n)
            return want;
    }
}

/* What pvec_each reports, checked as it goes: runs in order, each inside one leaf. */
typedef struct {
    const pvec_entry_t *want; /* the model, or NULL: only sum */
    size_t next, stop_at;     /* stop_at: return 7 once a run reaches it */
    uint64_t sum;
    int bad, calls;
} walk_t;

static int walk(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    walk_t *w = ctx;
    w->calls++;
    if (index != w->next || n == 0 || n > PVEC_FANOUT || index / PVEC_FANOUT != (index + n - 1) / PVEC_FANOUT)
        w->bad++;
    for (size_t i = 0; i < n; i++) {
        if (w->want && !same_entry(run[i], w->want[index + i]))
            w->bad++;
        w->sum = w->sum * 31 + (run[i].a ^ (run[i].b << 1));
    }
    w->next = index + n;
    return w->stop_at && w->next >= w->stop_at ? 7 : 0;
}

/* v reads exactly as the model: count, lookups, pvec_each from a few places. */
static int same(const pvec_t *v, const pvec_entry_t *md, size_t count, uint64_t *s)
{
    if (v->count != count)
        return printf("# count %u, expected %zu\n", v->count, count), 0;
    for (size_t i = 0; i < count && i < 3000; i++) {
        size_t at = count <= 3000 ? i : test_rnd(s) % count;
        if (!same_entry(pvec_get(v, at), md[at]))
            return printf("# entry %zu differs\n", at), 0;
    }
    if (!same_entry(pvec_get(v, count), entry(0, 0)))
        return printf("# get past the end is not empty\n"), 0;
    for (int i = 0; i < 4; i++) {
        size_t from = i == 0 ? 0 : test_rnd(s) % (count + 2);
        walk_t w = {.want = md, .next = from};
        int r = pvec_each(v, from, walk, &w);
        if (r != 0 || w.bad || (from < count && w.next != count) || (from >= count && w.calls))
            return printf("# each from %zu: %d bad runs, ended at %zu\n", from, w.bad, w.next), 0;
    }
    return 1;
}

typedef struct {
    pvec_t v;
    pvec_entry_t *md;
    size_t count;
} version_t;

#define NVER 8

static void drop(version_t *ver, int *nver, int i)
{
    pvec_release(&ver[i].v);
    version_t t = ver[i];
    ver[i] = ver[--*nver];
    ver[*nver] = t;
}

/* Random pushes and sets against a plain array, keeping up to NVER old versions that must not
 * change; every version released, in a random order, at the end. */
static void run_random(size_t max, long steps, uint64_t seed)
{
    uint64_t s = seed;
    size_t nodes0 = pvec_nodes_live(), count = 0;
    pvec_entry_t *md = calloc(max, sizeof(*md));
    pvec_t v = PVEC_EMPTY;
    version_t ver[NVER];
    int nver = 0, ok = 1;
    for (int i = 0; i < NVER; i++)
        ver[i].md = calloc(max, sizeof(*md));
    for (long step = 0; step < steps && ok; step++) {
        pvec_entry_t e = entry(test_rnd(&s), step);
        if (count < max && (count == 0 || test_rnd(&s) % 10 < 6)) {
            ok &= pvec_push(&v, e) == 0;
            md[count++] = e;
        } else {
            size_t at = test_rnd(&s) % count;
            ok &= pvec_set(&v, at, e) == 0;
            md[at] = e;
        }
        if (step % 37 == 0) {
            if (nver == NVER)
                drop(ver, &nver, (int)(test_rnd(&s) % nver));
            ver[nver].v = pvec_share(&v);
            ver[nver].count = count;
            memcpy(ver[nver++].md, md, count * sizeof(*md));
        }
        if (step % 997 == 0 || step == steps - 1) {
            ok &= same(&v, md, count, &s);
            for (int i = 0; i < nver; i++)
                ok &= same(&ver[i].v, ver[i].md, ver[i].count, &s);
        }
    }
    EXPECT(ok);
    pvec_release(&v);
    EXPECT(v.root == NULL && v.count == 0);
    while (nver > 0) {
        drop(ver, &nver, (int)(test_rnd(&s) % nver));
        for (int i = 0; i < nver; i++)
            EXPECT(same(&ver[i].v, ver[i].md, ver[i].count, &s));
    }
    for (int i = 0; i < NVER; i++)
        free(ver[i].md);
    free(md);
    EXPECT_INT(pvec_nodes_live(), nodes0);
}

static void random_ops(void)
{
    run_random(5, 3000, 1);
    run_random(70, 20000, 2);
    run_random(2000, 40000, 3);
    run_random(40000, 100000, 4); /* four levels */
}

/* Pushing with no other version copies nothing and wastes no node, across every height. */
static void in_place(void)
{
    const uint64_t N = 1100000; /* past 32^4: five levels */
    size_t nodes0 = pvec_nodes_live();
    pvec_t v = PVEC_EMPTY;
    int ok = 1;
    for (uint64_t i = 0; i < N && ok; i++) {
        ok &= pvec_push(&v, entry(i, ~i)) == 0;
        if (i + 1 == 1 || i + 1 == 32 || i + 1 == 33 || i + 1 == 1024 || i + 1 == 1025 || i + 1 == N)
            ok &= pvec_nodes_live() - nodes0 == nodes_for(i + 1);
    }
    EXPECT(ok);
    EXPECT_INT(v.shift, 4 * PVEC_BITS);
    for (uint64_t i = 0; i < N; i += 3)
        ok &= pvec_set(&v, i, entry(i, i)) == 0;
    EXPECT_INT(pvec_nodes_live() - nodes0, nodes_for(N));
    for (uint64_t i = 0; i < N; i++)
        ok &= same_entry(pvec_get(&v, i), entry(i, i % 3 ? ~i : i));
    EXPECT(ok);
    walk_t w = {.next = 0};
    EXPECT_INT(pvec_each(&v, 0, walk, &w), 0);
    EXPECT(w.bad == 0 && w.next == N && w.calls == (int)((N + 31) / 32));
    pvec_release(&v);
    EXPECT_INT(pvec_nodes_live(), nodes0);
}

/* A change to a shared vector copies one path; the old version stays as it was. */
static void path_copy(void)
{
    size_t nodes0 = pvec_nodes_live();
    pvec_t v = PVEC_EMPTY;
    for (uint64_t i = 0; i < 40000; i++) /* three levels full, a fourth started */
        pvec_push(&v, entry(i, 0));
    pvec_t old = pvec_share(&v);
    size_t nodes1 = pvec_nodes_live();
    EXPECT(pvec_set(&v, 5, entry(5, 1)) == 0);
    EXPECT_INT(pvec_nodes_live() - nodes1, 4); /* root, two inner, one leaf */
    EXPECT(pvec_set(&v, 6, entry(6, 1)) == 0);
    EXPECT_INT(pvec_nodes_live() - nodes1, 4);         /* the same path, ours now */
    EXPECT(pvec_set(&v, 39999, entry(39999, 1)) == 0); /* the root is ours: three more */
    EXPECT_INT(pvec_nodes_live() - nodes1, 7);
    EXPECT(pvec_push(&v, entry(40000, 1)) == 0); /* a new leaf, under the inner node copied just now */
    EXPECT_INT(pvec_nodes_live() - nodes1, 8);
    EXPECT_INT(old.count, 40000);
    EXPECT_INT(v.count, 40001);
    for (uint64_t i = 0; i < 40000; i++)
        EXPECT(same_entry(pvec_get(&old, i), entry(i, 0)));
    EXPECT(same_entry(pvec_get(&v, 5), entry(5, 1)) && same_entry(pvec_get(&v, 7), entry(7, 0)));
    pvec_release(&v);
    EXPECT(same_entry(pvec_get(&old, 39999), entry(39999, 0)));
    pvec_release(&old);
    EXPECT_INT(pvec_nodes_live(), nodes0);
}

static void edges(void)
{
    pvec_t v = PVEC_EMPTY;
    walk_t w = {.next = 0};
    EXPECT_INT(pvec_each(&v, 0, walk, &w), 0);
    EXPECT_INT(w.calls, 0);
    EXPECT(same_entry(pvec_get(&v, 0), entry(0, 0)));
    EXPECT_INT(pvec_set(&v, 0, entry(1, 1)), -1);
    for (uint64_t i = 0; i < 100; i++)
        pvec_push(&v, entry(i, i));
    EXPECT_INT(pvec_set(&v, 100, entry(1, 1)), -1);
    EXPECT(same_entry(pvec_get(&v, 100), entry(0, 0)));
    /* fn's non-zero answer stops the walk and is returned */
    w = (walk_t){.next = 40, .stop_at = 70};
    EXPECT_INT(pvec_each(&v, 40, walk, &w), 7);
    EXPECT(w.bad == 0 && w.next == 96 && w.calls == 2); /* 40..63, 64..95 */
    w = (walk_t){.next = 99};
    EXPECT_INT(pvec_each(&v, 99, walk, &w), 0);
    EXPECT(w.bad == 0 && w.calls == 1 && w.next == 100);
    w = (walk_t){.next = 100};
    EXPECT_INT(pvec_each(&v, 100, walk, &w), 0);
    EXPECT_INT(w.calls, 0);
    pvec_release(&v);
    pvec_release(&v); /* empty: nothing */
}

/* Runs op with malloc failing from its k-th call on, k = 0, 1, ... until op succeeds: every
 * failure leaves v as it was. How many failures; -1 when one changed something. */
static int until_enough(pvec_t *v, int (*op)(pvec_t *, size_t), size_t at)
{
    for (long k = 0; k < 100; k++) {
        pvec_t before = *v;
        size_t nodes = pvec_nodes_live();
        walk_t w0 = {.next = 0}, w1 = {.next = 0};
        pvec_each(v, 0, walk, &w0);
        __atomic_store_n(&malloc_budget, k, __ATOMIC_RELAXED);
        int r = op(v, at);
        __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
        if (r == 0)
            return (int)k;
        pvec_each(v, 0, walk, &w1);
        if (v->root != before.root || v->count != before.count || v->shift != before.shift || pvec_nodes_live() != nodes ||
            w0.sum != w1.sum)
            return -1;
    }
    return -1;
}

static int push_op(pvec_t *v, size_t at)
{
    return pvec_push(v, entry(at, 1));
}

static int set_op(pvec_t *v, size_t at)
{
    return pvec_set(v, at, entry(at, 2));
}

static void out_of_memory(void)
{
    if (!FAULTS) {
        printf("# skipped: no failing malloc under ThreadSanitizer\n");
        return;
    }
    size_t nodes0 = pvec_nodes_live();
    pvec_t v = PVEC_EMPTY;
    EXPECT_INT(until_enough(&v, push_op, 0), 1);
    for (size_t i = 1; i < 32; i++)
        push_op(&v, i);
    EXPECT_INT(until_enough(&v, push_op, 32), 2); /* a level on top and a leaf */
    for (size_t i = 33; i < 1024; i++)
        push_op(&v, i);
    EXPECT_INT(until_enough(&v, push_op, 1024), 3); /* a level on top, an inner node, a leaf */
    pvec_t old = pvec_share(&v);
    EXPECT_INT(until_enough(&v, set_op, 3), 3);     /* the path copied: three levels */
    EXPECT_INT(until_enough(&v, set_op, 4), 0);     /* ours now */
    EXPECT_INT(until_enough(&v, push_op, 1025), 2); /* the root is ours: the inner node and the leaf */
    EXPECT_INT(v.count, 1026);
    EXPECT_INT(old.count, 1025);
    EXPECT(same_entry(pvec_get(&old, 3), entry(3, 1)) && same_entry(pvec_get(&v, 3), entry(3, 2)));
    pvec_release(&old);
    pvec_release(&v);
    EXPECT_INT(pvec_nodes_live(), nodes0);
}

/* ---- readers on other threads hold published versions while the writer goes on ---- */

typedef struct {
    pthread_mutex_t mu;
    pvec_t pub;
    uint64_t sum;
    int stop;
    long reads, bad;
} board_t;

static void *reader(void *arg)
{
    board_t *b = arg;
    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&b->mu);
        pvec_t v = pvec_share(&b->pub);
        uint64_t want = b->sum;
        pthread_mutex_unlock(&b->mu);
        walk_t w = {.next = 0};
        pvec_each(&v, 0, walk, &w);
        if (w.sum != want || w.bad || w.next != v.count)
            __atomic_add_fetch(&b->bad, 1, __ATOMIC_RELAXED);
        pvec_release(&v);
        __atomic_add_fetch(&b->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void threads(void)
{
    enum { READERS = 3, MAX = 20000 };
    size_t nodes0 = pvec_nodes_live();
    board_t b = {.pub = PVEC_EMPTY};
    pthread_mutex_init(&b.mu, NULL);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&th[i], NULL, reader, &b);
    pvec_t w = PVEC_EMPTY;
    uint64_t s = 42;
    long publishes = 0;
    double end = now() + 1.0;
    for (long op = 0; publishes < 100000 && (op % 1024 || now() < end); op++) {
        if (w.count < MAX && test_rnd(&s) % 2)
            EXPECT(pvec_push(&w, entry(test_rnd(&s), op)) == 0);
        else if (w.count)
            EXPECT(pvec_set(&w, test_rnd(&s) % w.count, entry(test_rnd(&s), op)) == 0);
        if (op % 16 == 0) {
            walk_t sum = {.next = 0};
            pvec_each(&w, 0, walk, &sum); /* the writer's own reading, before publishing */
            pvec_t next = pvec_share(&w), old;
            pthread_mutex_lock(&b.mu);
            old = b.pub;
            b.pub = next;
            b.sum = sum.sum;
            pthread_mutex_unlock(&b.mu);
            pvec_release(&old);
            publishes++;
        }
    }
    __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    printf("# %ld publishes, %ld reads\n", publishes, b.reads);
    EXPECT(b.reads >= READERS);
    EXPECT_INT(b.bad, 0);
    pvec_release(&b.pub);
    pvec_release(&w);
    pthread_mutex_destroy(&b.mu);
    EXPECT_INT(pvec_nodes_live(), nodes0);
}

int main(void)
{
    RUN(edges);
    RUN(in_place);
    RUN(path_copy);
    RUN(random_ops);
    RUN(out_of_memory);
    RUN(threads);
    return TEST_END();
}
