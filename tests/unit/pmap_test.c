#include "pmap/pmap.h"
#include "oom.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* ---- u64 keys; the ops count what they are asked to retain and release ---- */

static long retains, releases, taken; /* taken: entries handed to a map by a successful put */

static void count_retain(uint64_t k, uint64_t v)
{
    (void)k, (void)v;
    __atomic_add_fetch(&retains, 1, __ATOMIC_RELAXED);
}

static void count_release(uint64_t k, uint64_t v)
{
    (void)k, (void)v;
    __atomic_add_fetch(&releases, 1, __ATOMIC_RELAXED);
}

static const pmap_ops_t U64 = {pmap_cmp_u64, count_retain, count_release, NULL};

/* ---- string keys inside reference-counted objects; a dead object is never to be touched ---- */

#define NOBJ 400000
typedef struct {
    int refs, dead;
    char key[16];
} sobj_t;

static sobj_t *objs;
static int nobjs;
static long obj_errors, objs_live;

static sobj_t *obj_of_key(uint64_t k)
{
    uintptr_t p = (uintptr_t)k, base = (uintptr_t)objs;
    if (p < base || p >= base + sizeof(sobj_t) * NOBJ)
        return NULL; /* a probe */
    return &objs[(p - base) / sizeof(sobj_t)];
}

static int str_cmp(uint64_t a, uint64_t b)
{
    sobj_t *oa = obj_of_key(a), *ob = obj_of_key(b);
    if ((oa && oa->dead) || (ob && ob->dead))
        obj_errors++;
    return pmap_cmp_str(a, b);
}

static void str_retain(uint64_t k, uint64_t v)
{
    sobj_t *o = (sobj_t *)(uintptr_t)v;
    if (o->dead || k != (uintptr_t)o->key)
        obj_errors++;
    o->refs++;
    retains++;
}

static void str_release(uint64_t k, uint64_t v)
{
    sobj_t *o = (sobj_t *)(uintptr_t)v;
    releases++;
    if (o->dead || o->refs <= 0 || k != (uintptr_t)o->key) {
        obj_errors++;
        return;
    }
    if (--o->refs == 0) {
        o->dead = 1;
        o->key[0] = '\0'; /* poisoned: a stale inner key would now sort wrongly */
        objs_live--;
    }
}

static const pmap_ops_t STR = {str_cmp, str_retain, str_release, NULL};

/* ---- the reference model: key space of n keys, rank r in 0..n-1 in key order ---- */

enum { KIND_U64, KIND_STR };
static int kind, nkeys;
static char (*keystr)[16];  /* KIND_STR: the key space's strings, sorted (probes; not objects) */
static char (*between)[18]; /* keystr[r] + "!": after keystr[r], before keystr[r + 1] */

typedef struct {
    size_t count;
    uint8_t *has;
    uint64_t *val;
} model_t;

static const pmap_ops_t *ops(void)
{
    return kind == KIND_U64 ? &U64 : &STR;
}

static uint64_t key_u64(int r)
{
    uint64_t step = UINT64_MAX / (uint64_t)nkeys;
    return (uint64_t)r * step + step / 2; /* spread over the whole range: never 0 nor UINT64_MAX */
}

/* The key to look rank r up with (for strings: a probe equal to the entry's key, not the same pointer). */
static uint64_t probe_at(int r)
{
    return kind == KIND_U64 ? key_u64(r) : (uintptr_t)keystr[r];
}

static uint64_t probe_between(int r)
{
    return kind == KIND_U64 ? key_u64(r) + 1 : (uintptr_t)between[r];
}

/* The key an entry of rank r with value val holds. */
static uint64_t entry_key(int r, uint64_t val)
{
    return kind == KIND_U64 ? key_u64(r) : (uintptr_t)((sobj_t *)(uintptr_t)val)->key;
}

static void new_entry(int r, uint64_t *s, uint64_t *key, uint64_t *val)
{
    if (kind == KIND_U64) {
        *key = key_u64(r);
        *val = test_rnd(s);
        return;
    }
    sobj_t *o = &objs[nobjs++];
    *o = (sobj_t){.refs = 1};
    strcpy(o->key, keystr[r]);
    objs_live++;
    *key = (uintptr_t)o->key;
    *val = (uintptr_t)o;
}

static void model_init(model_t *md)
{
    md->count = 0;
    md->has = calloc(nkeys, 1);
    md->val = calloc(nkeys, sizeof(uint64_t));
}

static void model_copy(model_t *to, const model_t *from)
{
    to->count = from->count;
    memcpy(to->has, from->has, nkeys);
    memcpy(to->val, from->val, nkeys * sizeof(uint64_t));
}

static void model_free(model_t *md)
{
    free(md->has);
    free(md->val);
}

static void make_strings(int n, uint64_t seed)
{
    static char pool[20000][16];
    int got = 0;
    while (got < n) { /* short strings over "abcde": many shared prefixes, a few duplicates */
        int len = 1 + (int)(test_rnd(&seed) % 10);
        for (int i = 0; i < len; i++)
            pool[got][i] = (char)('a' + test_rnd(&seed) % 5);
        pool[got][len] = '\0';
        got++;
    }
    qsort(pool, got, sizeof(pool[0]), (int (*)(const void *, const void *))strcmp);
    free(keystr);
    free(between);
    keystr = malloc(sizeof(*keystr) * got);
    between = malloc(sizeof(*between) * got);
    nkeys = 0;
    for (int i = 0; i < got; i++) {
        if (nkeys && strcmp(keystr[nkeys - 1], pool[i]) == 0)
            continue;
        strcpy(keystr[nkeys], pool[i]);
        strcpy(between[nkeys], pool[i]);
        strcat(between[nkeys], "!");
        nkeys++;
    }
}

/* The first ranks r0 > r with an entry in md, up to want of them; how many there are. */
static int ranks_after(const model_t *md, int r, int *out, int want)
{
    int n = 0;
    for (int i = r + 1; i < nkeys && n < want; i++)
        if (md->has[i])
            out[n++] = i;
    return n;
}

/* The entries from it on match ranks exp[0..n) and then (when n < want) the end. */
static int iter_matches(pmap_iter_t *it, const model_t *md, const int *exp, int n, int want)
{
    uint64_t k, v;
    for (int i = 0; i < n; i++)
        if (!pmap_iter_next(it, &k, &v) || v != md->val[exp[i]] || k != entry_key(exp[i], v))
            return 0;
    return n == want || !pmap_iter_next(it, &k, &v);
}

/* m reads exactly as md: count, in-order iteration, every lookup, iteration from probes. */
static int same(const pmap_t *m, const model_t *md, uint64_t *s)
{
    if (m->count != md->count)
        return printf("# count %zu, expected %zu\n", m->count, md->count), 0;
    pmap_iter_t it;
    int exp[4];
    pmap_iter_first(&it, m);
    uint64_t k, v;
    for (int r = 0; r < nkeys; r++) {
        if (!md->has[r])
            continue;
        if (!pmap_iter_next(&it, &k, &v) || v != md->val[r] || k != entry_key(r, v))
            return printf("# iteration differs at rank %d\n", r), 0;
    }
    if (pmap_iter_next(&it, &k, &v))
        return printf("# iteration goes on past the last entry\n"), 0;
    for (int i = 0; i < nkeys && i < 4000; i++) { /* every key, or 4000 of them at random */
        int r = nkeys <= 4000 ? i : (int)(test_rnd(s) % nkeys);
        uint64_t got = 0;
        int found = pmap_get(m, ops(), probe_at(r), &got);
        if (found != md->has[r] || (found && got != md->val[r]))
            return printf("# get rank %d: %d, expected %d\n", r, found, md->has[r]), 0;
        if (pmap_get(m, ops(), probe_between(r), NULL))
            return printf("# get between rank %d finds something\n", r), 0;
    }
    for (int i = 0; i < 20; i++) {
        int r = (int)(test_rnd(s) % (nkeys + 2)) - 1; /* -1: before every key; nkeys: after every key */
        uint64_t probe;
        if (r < 0)
            probe = kind == KIND_U64 ? 0 : (uintptr_t) "";
        else if (r == nkeys)
            probe = kind == KIND_U64 ? UINT64_MAX : (uintptr_t) "zzz";
        else
            probe = i % 2 ? probe_at(r) : probe_between(r);
        int n = ranks_after(md, r, exp, 4);
        pmap_iter_after(&it, m, ops(), probe);
        if (!iter_matches(&it, md, exp, n, 4))
            return printf("# iter_after rank %d differs\n", r), 0;
    }
    return 1;
}

/* Every object is alive exactly when the current map or a kept version holds it. */
static int objects_exact(int first, const model_t *const *mds, int nmd)
{
    uint8_t *held = calloc(NOBJ, 1);
    for (int i = 0; i < nmd; i++)
        for (int r = 0; r < nkeys; r++)
            if (mds[i]->has[r])
                held[(sobj_t *)(uintptr_t)mds[i]->val[r] - objs] = 1;
    int ok = 1;
    for (int i = first; i < nobjs && ok; i++)
        if (held[i] == objs[i].dead) {
            printf("# object %d is %s\n", i, held[i] ? "dead but held" : "alive but unheld");
            ok = 0;
        }
    free(held);
    return ok;
}

typedef struct {
    pmap_t m;
    model_t md;
} version_t;

#define NVER 8

/* Releases version i, the last one taking its place (its model's arrays are kept for reuse). */
static void drop(version_t *ver, int *nver, int i)
{
    pmap_release(&ver[i].m, ops());
    version_t t = ver[i];
    ver[i] = ver[--*nver];
    ver[*nver] = t;
}

/* Random puts and deletes against the model, in phases that grow, hold and shrink the map,
 * keeping up to NVER old versions that must never change; every version released at the end. */
static void run_random(int k, int n, long steps, uint64_t seed)
{
    kind = k;
    nkeys = n;
    if (kind == KIND_STR)
        make_strings(n, seed * 7919);
    uint64_t s = seed;
    size_t nodes0 = pmap_nodes_live();
    long taken0 = taken, retains0 = retains, releases0 = releases;
    int first_obj = nobjs, ok = 1;
    pmap_t m = PMAP_EMPTY;
    model_t cur;
    model_init(&cur);
    version_t ver[NVER];
    int nver = 0;
    for (int i = 0; i < NVER; i++)
        model_init(&ver[i].md);
    for (long step = 0; step < steps && ok; step++) {
        int phase = (int)(step / (steps / 9 + 1)) % 3, r = (int)(test_rnd(&s) % nkeys);
        int put = (int)(test_rnd(&s) % 10) < (phase == 0 ? 8 : phase == 1 ? 5 : 2);
        if (put) {
            uint64_t key, val;
            new_entry(r, &s, &key, &val);
            ok &= pmap_put(&m, ops(), key, val) == 0;
            taken++;
            cur.count += !cur.has[r];
            cur.has[r] = 1;
            cur.val[r] = val;
        } else {
            ok &= pmap_del(&m, ops(), probe_at(r)) == cur.has[r];
            cur.count -= cur.has[r];
            cur.has[r] = 0;
        }
        if (step % 101 == 0) { /* keep this version */
            if (nver == NVER)
                drop(ver, &nver, (int)(test_rnd(&s) % nver));
            ver[nver].m = pmap_share(&m);
            model_copy(&ver[nver++].md, &cur);
        }
        if (step % (n > 5000 ? 15013 : 1009) == 0 || step == steps - 1) {
            ok &= same(&m, &cur, &s);
            const model_t *mds[NVER + 1] = {&cur};
            for (int i = 0; i < nver; i++) {
                ok &= same(&ver[i].m, &ver[i].md, &s);
                mds[i + 1] = &ver[i].md;
            }
            if (kind == KIND_STR)
                ok &= objects_exact(first_obj, mds, nver + 1);
        }
    }
    EXPECT(ok);
    pmap_release(&m, ops());
    model_free(&cur);
    while (nver > 0) { /* in a random order, each release leaving the others intact */
        drop(ver, &nver, (int)(test_rnd(&s) % nver));
        const model_t *mds[NVER];
        for (int j = 0; j < nver; j++) {
            EXPECT(same(&ver[j].m, &ver[j].md, &s));
            mds[j] = &ver[j].md;
        }
        if (kind == KIND_STR)
            EXPECT(objects_exact(first_obj, mds, nver));
    }
    for (int i = 0; i < NVER; i++)
        model_free(&ver[i].md);
    EXPECT_INT(pmap_nodes_live(), nodes0);
    EXPECT_INT(releases - releases0, (taken - taken0) + (retains - retains0));
    EXPECT_INT(objs_live, 0);
    EXPECT_INT(obj_errors, 0);
}

static void random_u64(void)
{
    static const int spaces[] = {1, 40, 1000, 4096, 60000};
    for (int i = 0; i < 5; i++)
        run_random(KIND_U64, spaces[i], spaces[i] < 4096 ? 30000 : 100000, 11 + i);
}

static void random_strings(void)
{
    static const int spaces[] = {30, 800, 5000};
    for (int i = 0; i < 3; i++)
        run_random(KIND_STR, spaces[i], 60000, 101 + i);
}

/* ---- u64 helpers for the tests below ---- */

static int put_u64(pmap_t *m, uint64_t key)
{
    int r = pmap_put(m, &U64, key, key ^ 0x5555);
    taken += r == 0;
    return r;
}

static int del_u64(pmap_t *m, uint64_t key)
{
    return pmap_del(m, &U64, key);
}

/* A checksum of m's entries, 0 when they are not in strictly increasing order. */
static uint64_t checksum(const pmap_t *m)
{
    pmap_iter_t it;
    uint64_t k, v, sum = 1, prev = 0;
    size_t n = 0;
    pmap_iter_first(&it, m);
    while (pmap_iter_next(&it, &k, &v)) {
        if (n++ && k <= prev)
            return 0;
        prev = k;
        sum = sum * 31 + (k * 0x9e3779b97f4a7c15ull ^ v);
    }
    return n == m->count ? sum : 0;
}

/* Building a map no other version shares copies nothing: no entry is ever retained. */
static void in_place(void)
{
    const uint64_t N = 100000;
    size_t nodes0 = pmap_nodes_live();
    long retains0 = retains, releases0 = releases;
    pmap_t up = PMAP_EMPTY, down = PMAP_EMPTY, mixed = PMAP_EMPTY;
    for (uint64_t i = 0; i < N; i++) {
        EXPECT(put_u64(&up, i) == 0);
        EXPECT(put_u64(&down, N - i) == 0);
    }
    size_t nodes_up = pmap_nodes_live() - nodes0;
    /* Loads in key order leave full nodes behind: a leaf per 32 entries, and few inner ones. */
    EXPECT(nodes_up <= 2 * (N / 32 + N / 32 / 31 + 8));
    uint64_t s = 5;
    for (uint64_t i = 0; i < N; i++)
        EXPECT(put_u64(&mixed, test_rnd(&s)) == 0);
    /* In any order, no node is less than half full after a split. */
    EXPECT(pmap_nodes_live() - nodes0 - nodes_up <= N / 16 + N / 16 / 15 + 4);
    EXPECT_INT(retains - retains0, 0);
    EXPECT_INT(releases - releases0, 0);
    for (uint64_t i = 0; i < N; i++) /* replacing: the old entries go, nothing is copied */
        EXPECT(pmap_put(&up, &U64, i, i + 1) == 0);
    taken += N;
    EXPECT_INT(releases - releases0, N);
    EXPECT_INT(up.count, N);
    for (uint64_t i = 0; i < N; i += 2)
        EXPECT(del_u64(&down, N - i) == 1);
    EXPECT_INT(down.count, N / 2);
    EXPECT_INT(retains - retains0, 0);
    EXPECT(checksum(&up) != 0 && checksum(&down) != 0 && checksum(&mixed) != 0);
    uint64_t v = 0;
    EXPECT(pmap_get(&up, &U64, 777, &v) == 1 && v == 778);
    EXPECT(pmap_get(&down, &U64, N - 2, NULL) == 0 && pmap_get(&down, &U64, N - 1, &v) == 1);
    pmap_release(&up, &U64);
    pmap_release(&down, &U64);
    pmap_release(&mixed, &U64);
    EXPECT(up.root == NULL && up.count == 0);
    EXPECT_INT(pmap_nodes_live(), nodes0);
    EXPECT_INT(retains - retains0, 0);
}

/* A change to a shared map copies one path: a node per level and the entries of one leaf. */
static void path_copy(void)
{
    size_t nodes0 = pmap_nodes_live();
    pmap_t m = PMAP_EMPTY;
    for (uint64_t i = 0; i < 100000; i++)
        put_u64(&m, i * 2);
    pmap_t old = pmap_share(&m);
    uint64_t sum = checksum(&old);
    size_t nodes1 = pmap_nodes_live();
    long retains1 = retains;
    /* Four levels: four copies, and as loading in order left every node full, up to three splits. */
    EXPECT(put_u64(&m, 50001) == 0);
    EXPECT(pmap_nodes_live() - nodes1 >= 4 && pmap_nodes_live() - nodes1 <= 7);
    EXPECT(retains - retains1 >= 1 && retains - retains1 <= 32);
    nodes1 = pmap_nodes_live();
    retains1 = retains;
    EXPECT(put_u64(&m, 50003) == 0); /* the same path, now this version's alone */
    EXPECT(del_u64(&m, 50002) == 1);
    EXPECT(pmap_nodes_live() - nodes1 <= 1);
    EXPECT_INT(retains - retains1, 0);
    EXPECT(del_u64(&m, 150000) == 1); /* elsewhere: shared again below the root */
    EXPECT(retains - retains1 >= 1);
    EXPECT_INT(old.count, 100000);
    EXPECT_INT(m.count, 100000);
    EXPECT(checksum(&old) == sum);
    EXPECT(pmap_get(&old, &U64, 50001, NULL) == 0 && pmap_get(&old, &U64, 50002, NULL) == 1);
    EXPECT(pmap_get(&m, &U64, 50001, NULL) == 1 && pmap_get(&m, &U64, 50002, NULL) == 0);
    pmap_release(&old, &U64);
    EXPECT(checksum(&m) != 0 && pmap_get(&m, &U64, 150000, NULL) == 0);
    pmap_release(&m, &U64);
    EXPECT_INT(pmap_nodes_live(), nodes0);
}

/* The first key after each probe, and everything after it, against a sorted array of keys. */
static int after_all_probes(const pmap_t *m, const uint64_t *keys, int n, uint64_t top)
{
    pmap_iter_t it;
    uint64_t k, v;
    int lo = 0;
    for (uint64_t probe = 0; probe <= top; probe++) {
        while (lo < n && keys[lo] <= probe)
            lo++;
        pmap_iter_after(&it, m, &U64, probe);
        for (int i = lo; i < n; i++)
            if (!pmap_iter_next(&it, &k, &v) || k != keys[i] || v != (k ^ 0x5555))
                return printf("# after %llu: entry %d differs\n", (unsigned long long)probe, i), 0;
        if (pmap_iter_next(&it, &k, &v))
            return printf("# after %llu: too many entries\n", (unsigned long long)probe), 0;
    }
    pmap_iter_after(&it, m, &U64, UINT64_MAX);
    return !pmap_iter_next(&it, &k, &v);
}

static void iter_after(void)
{
    pmap_t m = PMAP_EMPTY;
    pmap_iter_t it;
    uint64_t k, v, keys[2000];
    pmap_iter_first(&it, &m);
    EXPECT(!pmap_iter_next(&it, &k, &v));
    pmap_iter_after(&it, &m, &U64, 5);
    EXPECT(!pmap_iter_next(&it, &k, &v));
    put_u64(&m, 10);
    EXPECT(after_all_probes(&m, (uint64_t[]){10}, 1, 20));
    del_u64(&m, 10);
    int n = 0;
    for (uint64_t i = 1; i <= 2000; i++) { /* three levels */
        keys[n++] = i * 10;
        put_u64(&m, i * 10);
    }
    EXPECT(after_all_probes(&m, keys, n, 20010));
    n = 0;
    for (uint64_t i = 1; i <= 2000; i++) { /* a sparser shape, through merges */
        if (i % 7 == 0 || i < 40)
            keys[n++] = i * 10;
        else
            del_u64(&m, i * 10);
    }
    EXPECT_INT(m.count, n);
    EXPECT(after_all_probes(&m, keys, n, 20010));
    pmap_release(&m, &U64);
    pmap_iter_after(&it, &m, &U64, 0);
    EXPECT(!pmap_iter_next(&it, &k, &v));
}

/* Deleting most entries merges what runs low: the map ends with few nodes, not one per entry. */
static void deletion_heavy(void)
{
    enum { N = 100000 };
    static uint64_t keys[N];
    size_t nodes0 = pmap_nodes_live();
    uint64_t s = 77;
    pmap_t m = PMAP_EMPTY;
    for (int i = 0; i < N; i++) {
        keys[i] = test_rnd(&s) | 1;
        EXPECT(put_u64(&m, keys[i]) == 0);
    }
    for (int i = N - 1; i > 0; i--) { /* shuffled */
        int j = (int)(test_rnd(&s) % (i + 1));
        uint64_t t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
    }
    for (int i = 0; i < N - N / 100; i++)
        EXPECT(del_u64(&m, keys[i]) == 1);
    size_t nodes = pmap_nodes_live() - nodes0;
    printf("# %d entries left in %zu nodes\n", N / 100, nodes);
    EXPECT(nodes <= N / 100 / 4);
    EXPECT_INT(m.count, N / 100);
    for (int i = N - N / 100; i < N; i++)
        EXPECT(pmap_get(&m, &U64, keys[i], NULL) == 1 && pmap_get(&m, &U64, keys[i] - 1, NULL) == 0);
    EXPECT(checksum(&m) != 0);
    for (int i = N - N / 100; i < N - 1; i++)
        EXPECT(del_u64(&m, keys[i]) == 1);
    EXPECT_INT(pmap_nodes_live() - nodes0, 1); /* one entry: the roots above its leaf collapsed */
    EXPECT(pmap_get(&m, &U64, keys[N - 1], NULL) == 1 && checksum(&m) != 0);
    EXPECT(del_u64(&m, keys[N - 1]) == 1);
    EXPECT(m.root == NULL && m.count == 0);
    EXPECT_INT(pmap_nodes_live(), nodes0);
}

/* Runs op(m, key) with malloc failing from its k-th call on, k = 0, 1, ... until op succeeds.
 * Every failure must leave m as it was. How many failures; -1 when one changed something. */
static int until_enough(pmap_t *m, int (*op)(pmap_t *, uint64_t), uint64_t key, int *result)
{
    for (long k = 0; k < 100; k++) {
        pmap_node_t *root = m->root;
        size_t count = m->count, nodes = pmap_nodes_live();
        long retains0 = retains, releases0 = releases;
        uint64_t sum = checksum(m);
        __atomic_store_n(&malloc_budget, k, __ATOMIC_RELAXED);
        *result = op(m, key);
        __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
        if (*result != -1)
            return (int)k;
        if (m->root != root || m->count != count || pmap_nodes_live() != nodes || retains != retains0 || releases != releases0 ||
            checksum(m) != sum)
            return -1;
    }
    return -1;
}

static void out_of_memory(void)
{
    if (!FAULTS) {
        printf("# skipped: no failing malloc under ThreadSanitizer\n");
        return;
    }
    size_t nodes0 = pmap_nodes_live();
    long taken0 = taken, retains0 = retains, releases0 = releases;
    pmap_t m = PMAP_EMPTY;
    int r;
    EXPECT_INT(until_enough(&m, put_u64, 1, &r), 1);
    EXPECT(r == 0 && m.count == 1);
    del_u64(&m, 1);
    for (uint64_t i = 1; i <= 32 * 32 * 32; i++) /* in order: every node full, three levels */
        put_u64(&m, i * 2);
    /* A key in the middle splits a leaf, its parent and the root, and adds a root: four nodes. */
    EXPECT_INT(until_enough(&m, put_u64, 3001, &r), 4);
    EXPECT(r == 0 && pmap_get(&m, &U64, 3001, NULL) == 1);
    pmap_t old = pmap_share(&m);
    uint64_t sum = checksum(&old);
    EXPECT_INT(until_enough(&m, put_u64, 3003, &r), 4); /* four levels copied (3003's leaf has room) */
    EXPECT(r == 0 && pmap_get(&m, &U64, 3003, NULL) == 1);
    /* The root and its first child are ours now: two copies below them, then a full leaf and its
     * full parent split. */
    EXPECT_INT(until_enough(&m, put_u64, 5001, &r), 4);
    EXPECT(r == 0 && pmap_get(&m, &U64, 5001, NULL) == 1);
    EXPECT_INT(until_enough(&m, put_u64, 60000, &r), 3); /* replaced; the root is this map's already */
    /* 40000 is under the root's second child, copied with 60000's path: a leaf and its parent. */
    EXPECT_INT(until_enough(&m, del_u64, 40000, &r), 2);
    EXPECT(r == 1 && pmap_get(&m, &U64, 40000, NULL) == 0);
    EXPECT_INT(until_enough(&m, del_u64, 39998, &r), 0); /* the same leaf: ours alone, no memory needed */
    EXPECT_INT(until_enough(&m, del_u64, 40001, &r), 0);
    EXPECT_INT(r, 0);
    EXPECT(checksum(&old) == sum && old.count == 32 * 32 * 32 + 1 && m.count == old.count);
    pmap_release(&old, &U64);
    pmap_release(&m, &U64);
    EXPECT_INT(pmap_nodes_live(), nodes0);
    EXPECT_INT(releases - releases0, (taken - taken0) + (retains - retains0));
}

/* ---- readers on other threads hold published versions while the writer goes on ---- */

typedef struct {
    uint64_t refs, x;
} tobj_t;

static long tobjs_live;

static void tobj_retain(uint64_t k, uint64_t v)
{
    (void)k;
    __atomic_add_fetch(&((tobj_t *)(uintptr_t)v)->refs, 1, __ATOMIC_RELAXED);
}

static void tobj_release(uint64_t k, uint64_t v)
{
    (void)k;
    tobj_t *o = (tobj_t *)(uintptr_t)v;
    if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(o);
        __atomic_sub_fetch(&tobjs_live, 1, __ATOMIC_RELAXED);
    }
}

static const pmap_ops_t TOBJ = {pmap_cmp_u64, tobj_retain, tobj_release, NULL};

static uint64_t mix(uint64_t k, uint64_t x)
{
    return (k * 0x9e3779b97f4a7c15ull) ^ (x + (k << 7));
}

typedef struct {
    pthread_mutex_t mu;
    pmap_t pub; /* the version readers take */
    uint64_t sum;
    int stop;
    long reads, bad;
} board_t;

static void *reader(void *arg)
{
    board_t *b = arg;
    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&b->mu);
        pmap_t v = pmap_share(&b->pub);
        uint64_t want = b->sum;
        pthread_mutex_unlock(&b->mu);
        pmap_iter_t it;
        uint64_t k, val, sum = 0, prev = 0;
        size_t n = 0;
        int ordered = 1;
        pmap_iter_first(&it, &v);
        while (pmap_iter_next(&it, &k, &val)) {
            ordered &= n++ == 0 || k > prev;
            prev = k;
            sum += mix(k, ((tobj_t *)(uintptr_t)val)->x);
            uint64_t got;
            ordered &= pmap_get(&v, &TOBJ, k, &got) == 1 && got == val;
        }
        if (sum != want || n != v.count || !ordered)
            __atomic_add_fetch(&b->bad, 1, __ATOMIC_RELAXED);
        pmap_release(&v, &TOBJ);
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
    enum { READERS = 3, KEYS = 3000 };
    size_t nodes0 = pmap_nodes_live();
    board_t b = {.pub = PMAP_EMPTY};
    pthread_mutex_init(&b.mu, NULL);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&th[i], NULL, reader, &b);
    pmap_t w = PMAP_EMPTY;
    uint64_t s = 99, sum = 0, x[KEYS] = {0};
    long publishes = 0;
    double end = now() + 1.5;
    for (long op = 0; publishes < 200000 && (op % 1024 || now() < end); op++) {
        uint64_t key = test_rnd(&s) % KEYS;
        if (test_rnd(&s) % 3) {
            tobj_t *o = malloc(sizeof(*o));
            *o = (tobj_t){1, test_rnd(&s) | 1};
            __atomic_add_fetch(&tobjs_live, 1, __ATOMIC_RELAXED);
            EXPECT(pmap_put(&w, &TOBJ, key * 7, (uintptr_t)o) == 0);
            sum += mix(key * 7, o->x) - (x[key] ? mix(key * 7, x[key]) : 0);
            x[key] = o->x;
        } else if (x[key]) {
            EXPECT(pmap_del(&w, &TOBJ, key * 7) == 1);
            sum -= mix(key * 7, x[key]);
            x[key] = 0;
        }
        if (op % 8 == 0) {
            pmap_t next = pmap_share(&w), old;
            pthread_mutex_lock(&b.mu);
            old = b.pub;
            b.pub = next;
            b.sum = sum;
            pthread_mutex_unlock(&b.mu);
            pmap_release(&old, &TOBJ);
            publishes++;
        }
    }
    __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    printf("# %ld publishes, %ld reads\n", publishes, b.reads);
    EXPECT(b.reads >= READERS);
    EXPECT_INT(b.bad, 0);
    pmap_release(&b.pub, &TOBJ);
    pmap_release(&w, &TOBJ);
    pthread_mutex_destroy(&b.mu);
    EXPECT_INT(pmap_nodes_live(), nodes0);
    EXPECT_INT(tobjs_live, 0);
}

/* ---- leaf caches: what readers derive from a leaf lives and dies with it ---- */

static long caches_made, caches_freed;

static void cache_free(void *c)
{
    free(c);
    caches_freed++;
}

static const pmap_ops_t CACHED = {pmap_cmp_u64, NULL, NULL, cache_free};

/* Walks m leaf by leaf: checks the runs give its `count` entries in order (keys first, first+1...
 * unless first is 0), fills every empty cache slot with the sum of its leaf's keys (counted in
 * caches_made), and returns how many slots were empty. */
static int fill_caches(const pmap_t *m, uint64_t first, uint64_t count)
{
    pmap_iter_t it;
    pmap_leaf_t lf;
    uint64_t next = first, seen = 0;
    int empty = 0;
    pmap_iter_first(&it, m);
    while (pmap_iter_leaf(&it, &lf)) {
        uint64_t sum = 0;
        for (int i = 0; i < lf.n; i++, next++, seen++) {
            if (first != 0)
                EXPECT_INT(lf.keys[i], next);
            sum += lf.keys[i];
        }
        EXPECT(lf.cache != NULL);
        uint64_t *c = *lf.cache;
        if (c != NULL) {
            EXPECT_INT(*c, sum); /* a cache still there was made from this very leaf */
            continue;
        }
        empty++;
        c = malloc(sizeof(*c));
        *c = sum;
        *lf.cache = c;
        caches_made++;
    }
    EXPECT_INT(seen, count);
    return empty;
}

static void leaf_cache(void)
{
    pmap_t a = PMAP_EMPTY;
    size_t base = pmap_nodes_live();
    caches_made = caches_freed = 0;
    for (uint64_t k = 1; k <= 1000; k++)
        EXPECT_INT(pmap_put(&a, &CACHED, k, k), 0);
    int leaves = fill_caches(&a, 1, 1000);
    EXPECT(leaves >= 1000 / PMAP_FANOUT);
    EXPECT_INT(fill_caches(&a, 1, 1000), 0); /* every slot kept its cache */

    /* a new version that changes one value: its copy of that leaf starts empty, a's keeps its own */
    pmap_t b = pmap_share(&a);
    EXPECT_INT(pmap_put(&b, &CACHED, 500, 7), 0);
    EXPECT_INT(caches_freed, 0);
    EXPECT_INT(fill_caches(&b, 1, 1000), 1);
    EXPECT_INT(fill_caches(&a, 1, 1000), 0);

    /* a's version goes: only the leaf b no longer shares with it takes its cache along */
    pmap_release(&a, &CACHED);
    EXPECT_INT(caches_freed, 1);

    /* changed in place (b is the only holder): the cache of the changed leaf is emptied at once */
    EXPECT_INT(pmap_put(&b, &CACHED, 10, 10), 0);
    EXPECT_INT(caches_freed, 2);
    EXPECT_INT(pmap_del(&b, &CACHED, 10), 1);
    EXPECT_INT(caches_freed, 2); /* the slot was empty */
    EXPECT_INT(fill_caches(&b, 0, 999), 1);

    /* the iterator moved by pmap_iter_next hands out a part of a leaf, without its slot */
    pmap_iter_t it;
    pmap_leaf_t lf;
    uint64_t k, v;
    pmap_iter_first(&it, &b);
    EXPECT(pmap_iter_next(&it, &k, &v));
    EXPECT(pmap_iter_leaf(&it, &lf));
    EXPECT(lf.cache == NULL);
    EXPECT_INT(lf.keys[0], 2);

    /* deletions that empty and merge leaves free their caches too; then nothing is left */
    for (uint64_t d = 1; d <= 1000; d += 2)
        if (d != 10)
            EXPECT(pmap_del(&b, &CACHED, d) >= 0);
    pmap_release(&b, &CACHED);
    EXPECT_INT(caches_freed, caches_made);
    EXPECT_INT(pmap_nodes_live(), base);
}

static void comparisons(void)
{
    EXPECT(pmap_cmp_u64(0, UINT64_MAX) < 0 && pmap_cmp_u64(UINT64_MAX, 0) > 0);
    EXPECT(pmap_cmp_u64(1ull << 63, 1) > 0 && pmap_cmp_u64(7, 7) == 0);
    EXPECT(pmap_cmp_str((uintptr_t) "ab", (uintptr_t) "b") < 0);
    EXPECT(pmap_cmp_str((uintptr_t) "ab", (uintptr_t) "a") > 0);
    EXPECT(pmap_cmp_str((uintptr_t) "", (uintptr_t) "") == 0);
}

int main(void)
{
    objs = calloc(NOBJ, sizeof(*objs));
    RUN(comparisons);
    RUN(in_place);
    RUN(path_copy);
    RUN(iter_after);
    RUN(deletion_heavy);
    RUN(random_u64);
    RUN(random_strings);
    RUN(out_of_memory);
    RUN(threads);
    RUN(leaf_cache);
    free(objs);
    free(keystr);
    free(between);
    return TEST_END();
}
