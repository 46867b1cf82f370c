#include "pmap/pmap.h"

#include <stdlib.h>
#include <string.h>

/* Levels a path may hold (pmap_iter_t's arrays): far more than any map needs at fanout 32. */
#define MAXH 16
#define FAN  PMAP_FANOUT

struct pmap_node {
    uint32_t refs;     /* atomic: the versions' parents (or roots) pointing here */
    uint8_t height;    /* 0: a leaf */
    uint8_t n;         /* entries, or children */
    void *cache;       /* a leaf's: what readers derived from its entries (pmap_iter_leaf) */
    uint64_t key[FAN]; /* inner: the smallest key under child i */
    uint64_t w[FAN];   /* leaf: the values; inner: the children (pmap_node_t *) */
};

#define KID(nd, i) ((pmap_node_t *)(uintptr_t)(nd)->w[i])

/* Entries (keys and words) [sfrom, sfrom + n) of src to dst from dfrom; the ranges may overlap. */
static void move(pmap_node_t *dst, int dfrom, const pmap_node_t *src, int sfrom, int n)
{
    memmove(dst->key + dfrom, src->key + sfrom, n * sizeof(dst->key[0]));
    memmove(dst->w + dfrom, src->w + sfrom, n * sizeof(dst->w[0]));
}

/* The path from the root to one leaf entry, as pmap_put and pmap_del walk it. */
typedef struct {
    pmap_node_t *nd[MAXH];
    int idx[MAXH]; /* inner: the child taken; leaf: the entry's place (found) or where it goes */
    int depth;     /* the leaf's level */
    int found;
    int from; /* copying starts at this level (depth + 1: nothing to copy) */
} path_t;

static size_t live;

int pmap_cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

int pmap_cmp_str(uint64_t a, uint64_t b)
{
    return strcmp((const char *)(uintptr_t)a, (const char *)(uintptr_t)b);
}

size_t pmap_nodes_live(void)
{
    return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

/* Empties a leaf's cache: the leaf is about to change, or to be freed. */
static void drop_cache(pmap_node_t *nd, const pmap_ops_t *ops)
{
    if (nd->cache != NULL && ops->cache_free != NULL)
        ops->cache_free(nd->cache);
    nd->cache = NULL;
}

static void node_free(pmap_node_t *nd)
{
    free(nd);
    __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
}

/* n new nodes into spare, or none at all: a change allocates everything before it starts. */
static int take(pmap_node_t **spare, int n)
{
    for (int i = 0; i < n; i++) {
        if (!(spare[i] = malloc(sizeof(pmap_node_t)))) {
            while (i--)
                node_free(spare[i]);
            return -1;
        }
        __atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

/* Another version reaches nd. Acquire: once a reader's release brought it down to 1, its reads
 * of the node happen before the writer's in-place change. */
static int shared(const pmap_node_t *nd)
{
    return __atomic_load_n(&nd->refs, __ATOMIC_ACQUIRE) != 1;
}

static void unref(pmap_node_t *nd, const pmap_ops_t *ops)
{
    if (__atomic_sub_fetch(&nd->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (int i = 0; i < nd->n; i++) {
        if (nd->height)
            unref(KID(nd, i), ops);
        else if (ops->release)
            ops->release(nd->key[i], nd->w[i]);
    }
    drop_cache(nd, ops);
    node_free(nd);
}

/* One more reference to entries [from, to) of nd: they are copies of another node's entries. */
static void hold(const pmap_node_t *nd, int from, int to, const pmap_ops_t *ops)
{
    for (int i = from; i < to; i++) {
        if (nd->height)
            __atomic_add_fetch(&KID(nd, i)->refs, 1, __ATOMIC_RELAXED);
        else if (ops->retain)
            ops->retain(nd->key[i], nd->w[i]);
    }
}

/* How many keys of nd are <= key; *eq when the last of them equals it (keys are unique). */
static int upper(const pmap_node_t *nd, const pmap_ops_t *ops, uint64_t key, int *eq)
{
    int lo = 0, hi = nd->n;
    *eq = 0;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = ops->cmp(key, nd->key[mid]);
        if (c == 0) {
            *eq = 1;
            return mid + 1;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The place of key in nd: in an inner node the child to search (the last whose first key is
 * <= key), in a leaf how many keys are <= key. */
static int place(const pmap_node_t *nd, const pmap_ops_t *ops, uint64_t key, int *eq)
{
    int ub = upper(nd, ops, key, eq);
    return nd->height && ub > 0 ? ub - 1 : ub;
}

static void descend(path_t *p, pmap_node_t *root, const pmap_ops_t *ops, uint64_t key)
{
    int d = 0;
    for (pmap_node_t *nd = root;; nd = KID(nd, p->idx[d++])) {
        p->nd[d] = nd;
        p->idx[d] = place(nd, ops, key, &p->found);
        if (!nd->height)
            break;
    }
    p->depth = d;
    p->idx[d] -= p->found;
    /* Below a node another version holds, everything on the path is shared through it. */
    for (p->from = 0; p->from <= d && !shared(p->nd[p->from]); p->from++)
        ;
}

/* Makes the path this map's alone: copies it from p->from down, the copies taking their own
 * references to what they hold; the originals lose the references the path held. */
static void own_path(pmap_t *m, path_t *p, pmap_node_t **spare, const pmap_ops_t *ops)
{
    for (int d = p->from; d <= p->depth; d++) {
        pmap_node_t *nd = p->nd[d], *c = *spare++;
        c->refs = 1;
        c->height = nd->height;
        c->n = nd->n;
        c->cache = NULL;
        move(c, 0, nd, 0, nd->n);
        hold(c, 0, c->n, ops);
        if (d == 0)
            m->root = c;
        else
            p->nd[d - 1]->w[p->idx[d - 1]] = (uintptr_t)c;
        p->nd[d] = c;
        unref(nd, ops); /* a reader may have let go meanwhile: then this frees it */
    }
}

/* The leaf's first key became key: so did the first key of every subtree it begins. */
static void set_first(path_t *p, uint64_t key)
{
    for (int d = p->depth - 1; d >= 0; d--) {
        p->nd[d]->key[p->idx[d]] = key;
        if (p->idx[d] != 0)
            break;
    }
}

static void insert_at(pmap_node_t *nd, int at, uint64_t k, uint64_t w)
{
    move(nd, at + 1, nd, at, nd->n - at);
    nd->key[at] = k;
    nd->w[at] = w;
    nd->n++;
}

static void remove_at(pmap_node_t *nd, int at)
{
    nd->n--;
    move(nd, at, nd, at + 1, nd->n - at);
}

/* Full node l with (k, w) going in at `at` becomes l and the new node r; l keeps `keep` of the
 * FAN + 1 entries (1 <= keep <= FAN). */
static void split(pmap_node_t *l, pmap_node_t *r, int at, uint64_t k, uint64_t w, int keep)
{
    int left = at < keep; /* the new entry goes to l */
    r->refs = 1;
    r->cache = NULL;
    r->height = l->height;
    r->n = FAN - keep + left;
    move(r, 0, l, keep - left, r->n);
    l->n = keep - left;
    insert_at(left ? l : r, left ? at : at - keep, k, w);
}

/* 1: key goes after every key of the map; -1: before every key; 0: elsewhere. Loads in order
 * then split unevenly, leaving full nodes behind instead of half-empty ones. */
static int edge(const path_t *p)
{
    int last = p->idx[p->depth] == p->nd[p->depth]->n, first = p->idx[p->depth] == 0;
    for (int d = 0; d < p->depth; d++) {
        last &= p->idx[d] == p->nd[d]->n - 1;
        first &= p->idx[d] == 0;
    }
    return last ? 1 : first ? -1 : 0;
}

int pmap_put(pmap_t *m, const pmap_ops_t *ops, uint64_t key, uint64_t val)
{
    if (!m->root) {
        if (take(&m->root, 1) < 0)
            return -1;
        *m->root = (pmap_node_t){.refs = 1, .n = 1, .key = {key}, .w = {val}};
        m->count = 1;
        return 0;
    }
    path_t p;
    descend(&p, m->root, ops, key);
    int splits = 0, copies = p.depth + 1 - p.from;
    if (!p.found) {
        while (splits <= p.depth && p.nd[p.depth - splits]->n == FAN)
            splits++;
        if (splits == p.depth + 1 && ++splits > MAXH)
            return -1; /* a new root: not at the iterator's limit (never reached in practice) */
    }
    pmap_node_t *spare[2 * MAXH];
    if (take(spare, copies + splits) < 0)
        return -1;
    /* Nothing can fail from here on. */
    own_path(m, &p, spare, ops);
    pmap_node_t *leaf = p.nd[p.depth], **next = spare + copies;
    drop_cache(leaf, ops);
    int at = p.idx[p.depth];
    if (at == 0)
        set_first(&p, key);
    if (p.found) {
        uint64_t oldk = leaf->key[at], oldv = leaf->w[at];
        leaf->key[at] = key;
        leaf->w[at] = val;
        if (ops->release)
            ops->release(oldk, oldv);
        return 0;
    }
    int e = edge(&p);
    uint64_t k = key, w = val;
    for (int d = p.depth;; d--) {
        pmap_node_t *nd = p.nd[d];
        if (nd->n < FAN) {
            insert_at(nd, at, k, w);
            break;
        }
        pmap_node_t *r = *next++;
        split(nd, r, at, k, w, e > 0 ? at : e < 0 ? at + 1 : (FAN + 1) / 2);
        k = r->key[0];
        w = (uintptr_t)r;
        if (d == 0) {
            pmap_node_t *root = *next++;
            *root = (pmap_node_t){.refs = 1, .height = nd->height + 1, .n = 2, .key = {nd->key[0], k}, .w = {(uintptr_t)nd, w}};
            m->root = root;
            break;
        }
        at = p.idx[d - 1] + 1;
    }
    m->count++;
    return 0;
}

/* Moves the entries of s, c's neighbour on the left or the right, into c. */
static void absorb(pmap_node_t *c, pmap_node_t *s, int left, const pmap_ops_t *ops)
{
    int at = left ? 0 : c->n;
    if (left)
        move(c, s->n, c, 0, c->n);
    move(c, at, s, 0, s->n);
    c->n += s->n;
    drop_cache(c, ops);
    if (!shared(s)) {
        drop_cache(s, ops);
        node_free(s); /* its references move to c */
        return;
    }
    hold(c, at, at + s->n, ops); /* s stays in other versions: c takes references of its own */
    unref(s, ops);
}

/* After a deletion under child i of par (both this map's alone): drops the child when empty,
 * else refreshes its first key and merges it with a neighbour once it runs low and both fit. */
static void rebalance(pmap_node_t *par, int i, const pmap_ops_t *ops)
{
    pmap_node_t *c = KID(par, i);
    if (c->n == 0) {
        drop_cache(c, ops);
        node_free(c);
        remove_at(par, i);
        return;
    }
    par->key[i] = c->key[0];
    if (c->n >= FAN / 4)
        return;
    int j = -1;
    if (i > 0 && KID(par, i - 1)->n + c->n <= FAN)
        j = i - 1;
    else if (i + 1 < par->n && KID(par, i + 1)->n + c->n <= FAN)
        j = i + 1;
    if (j < 0)
        return;
    absorb(c, KID(par, j), j < i, ops);
    remove_at(par, j);
    par->key[j < i ? i - 1 : i] = c->key[0];
}

int pmap_del(pmap_t *m, const pmap_ops_t *ops, uint64_t key)
{
    if (!m->root)
        return 0;
    path_t p;
    descend(&p, m->root, ops, key);
    if (!p.found)
        return 0;
    pmap_node_t *spare[MAXH];
    if (take(spare, p.depth + 1 - p.from) < 0)
        return -1;
    own_path(m, &p, spare, ops);
    pmap_node_t *leaf = p.nd[p.depth];
    drop_cache(leaf, ops);
    int at = p.idx[p.depth];
    uint64_t oldk = leaf->key[at], oldv = leaf->w[at];
    remove_at(leaf, at);
    for (int d = p.depth; d > 0; d--)
        rebalance(p.nd[d - 1], p.idx[d - 1], ops);
    pmap_node_t *r = m->root;
    while (r->height && r->n == 1) { /* the only child need not be on the path: it may be shared */
        m->root = KID(r, 0);
        __atomic_add_fetch(&m->root->refs, 1, __ATOMIC_RELAXED);
        unref(r, ops);
        r = m->root;
    }
    if (r->n == 0) {
        drop_cache(r, ops);
        node_free(r);
        m->root = NULL;
    }
    m->count--;
    if (ops->release) /* last: the inner keys no longer point to this entry's key */
        ops->release(oldk, oldv);
    return 1;
}

pmap_t pmap_share(const pmap_t *m)
{
    if (m->root)
        __atomic_add_fetch(&m->root->refs, 1, __ATOMIC_RELAXED);
    return *m;
}

void pmap_release(pmap_t *m, const pmap_ops_t *ops)
{
    if (m->root)
        unref(m->root, ops);
    *m = PMAP_EMPTY;
}

/* Positions it at the leaf where key is or would go, after the keys <= key. 1 when key is there. */
static int seek(pmap_iter_t *it, const pmap_t *m, const pmap_ops_t *ops, uint64_t key)
{
    int eq = 0;
    it->depth = -1;
    for (const pmap_node_t *nd = m->root; nd; nd = nd->height ? KID(nd, it->pos[it->depth]) : NULL) {
        it->path[++it->depth] = nd;
        it->pos[it->depth] = place(nd, ops, key, &eq);
    }
    return eq;
}

int pmap_get(const pmap_t *m, const pmap_ops_t *ops, uint64_t key, uint64_t *val)
{
    pmap_iter_t it;
    if (!seek(&it, m, ops, key))
        return 0;
    if (val)
        *val = it.path[it.depth]->w[it.pos[it.depth] - 1];
    return 1;
}

void pmap_iter_first(pmap_iter_t *it, const pmap_t *m)
{
    it->depth = -1;
    for (const pmap_node_t *nd = m->root; nd; nd = nd->height ? KID(nd, 0) : NULL) {
        it->path[++it->depth] = nd;
        it->pos[it->depth] = 0;
    }
}

void pmap_iter_after(pmap_iter_t *it, const pmap_t *m, const pmap_ops_t *ops, uint64_t after)
{
    seek(it, m, ops, after); /* may stop past a leaf's end: pmap_iter_next moves on */
}

/* Moves it from an exhausted leaf to the first entry of the next one; 0 at the end. */
static int next_leaf(pmap_iter_t *it)
{
    int d = it->depth;
    /* Up to the nearest level with a next child, then down its leftmost path. */
    while (--d >= 0 && it->pos[d] + 1 >= it->path[d]->n)
        ;
    if (d < 0) {
        it->depth = -1;
        return 0;
    }
    it->pos[d]++;
    for (; it->path[d]->height; d++) {
        it->path[d + 1] = KID(it->path[d], it->pos[d]);
        it->pos[d + 1] = 0;
    }
    it->depth = d;
    return 1;
}

int pmap_iter_next(pmap_iter_t *it, uint64_t *key, uint64_t *val)
{
    while (it->depth >= 0) {
        const pmap_node_t *leaf = it->path[it->depth];
        if (it->pos[it->depth] < leaf->n) {
            int i = it->pos[it->depth]++;
            *key = leaf->key[i];
            *val = leaf->w[i];
            return 1;
        }
        if (!next_leaf(it))
            break;
    }
    return 0;
}

int pmap_iter_leaf(pmap_iter_t *it, pmap_leaf_t *out)
{
    while (it->depth >= 0) {
        pmap_node_t *leaf = (pmap_node_t *)it->path[it->depth];
        int from = it->pos[it->depth];
        if (from < leaf->n) {
            it->pos[it->depth] = leaf->n;
            *out = (pmap_leaf_t){leaf->key + from, leaf->w + from, leaf->n - from, from == 0 ? &leaf->cache : NULL};
            return 1;
        }
        if (!next_leaf(it))
            break;
    }
    return 0;
}
