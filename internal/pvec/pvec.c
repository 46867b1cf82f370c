#include "pvec/pvec.h"

#include <stdlib.h>
#include <string.h>

#define MASK      (PVEC_FANOUT - 1)
#define MAXLEVELS 7 /* 32-bit indexes, 5 bits a level */

struct pvec_node {
    uint32_t refs; /* atomic: the versions' parents (or roots) pointing here */
    union {
        pvec_entry_t e[PVEC_FANOUT];   /* a leaf */
        pvec_node_t *kid[PVEC_FANOUT]; /* inner: filled from the left, NULL after the last */
    };
};

static size_t live;

size_t pvec_nodes_live(void)
{
    return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

static pvec_node_t *node_new(void)
{
    pvec_node_t *nd = malloc(sizeof(*nd));
    if (nd)
        __atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
    return nd;
}

static void node_free(pvec_node_t *nd)
{
    free(nd);
    __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
}

/* Acquire: see pmap's shared(). */
static int shared(const pvec_node_t *nd)
{
    return __atomic_load_n(&nd->refs, __ATOMIC_ACQUIRE) != 1;
}

static void unref(pvec_node_t *nd, uint32_t shift)
{
    if (__atomic_sub_fetch(&nd->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (unsigned i = 0; shift && i < PVEC_FANOUT && nd->kid[i]; i++)
        unref(nd->kid[i], shift - PVEC_BITS);
    node_free(nd);
}

static int levels(const pvec_t *v)
{
    return (int)(v->shift / PVEC_BITS) + 1;
}

static const pvec_node_t *leaf_of(const pvec_t *v, size_t i)
{
    const pvec_node_t *nd = v->root;
    for (uint32_t s = v->shift; s > 0; s -= PVEC_BITS)
        nd = nd->kid[(i >> s) & MASK];
    return nd;
}

/* What changing index i takes: the nodes to allocate (returned) and, in *from, the level where
 * copying starts — the first node another version holds; below it the path is shared through it.
 * Missing nodes (past the end) are new. */
static int plan(const pvec_t *v, size_t i, int *from)
{
    int n = levels(v), have = 0;
    *from = n;
    for (const pvec_node_t *nd = v->root; nd; have++) {
        if (*from == n && shared(nd))
            *from = have;
        if (have + 1 == n)
            nd = NULL;
        else
            nd = nd->kid[(i >> (v->shift - PVEC_BITS * have)) & MASK];
    }
    return n - (*from < have ? *from : have);
}

static int take(pvec_node_t **spare, int n)
{
    for (int i = 0; i < n; i++) {
        if (!(spare[i] = node_new())) {
            while (i--)
                node_free(spare[i]);
            return -1;
        }
    }
    return 0;
}

/* Makes the path to index i this vector's alone, with the nodes plan() asked for: copies from
 * level `from` down (the copies take references to the children; the originals lose the one
 * the path held), creates missing ones. Returns the leaf. */
static pvec_node_t *own_path(pvec_t *v, size_t i, int from, pvec_node_t **spare)
{
    pvec_node_t **slot = &v->root;
    for (int l = 0;; l++) {
        uint32_t s = v->shift - PVEC_BITS * l;
        pvec_node_t *nd = *slot;
        if (!nd) {
            nd = *slot = *spare++;
            nd->refs = 1;
            memset(nd->e, 0, sizeof(nd->e));
        } else if (l >= from) {
            pvec_node_t *c = *slot = *spare++;
            c->refs = 1;
            memcpy(c->e, nd->e, sizeof(c->e));
            for (unsigned k = 0; s && k < PVEC_FANOUT && c->kid[k]; k++)
                __atomic_add_fetch(&c->kid[k]->refs, 1, __ATOMIC_RELAXED);
            unref(nd, s); /* a reader may have let go meanwhile: then this frees it */
            nd = c;
        }
        if (s == 0)
            return nd;
        slot = &nd->kid[(i >> s) & MASK];
    }
}

pvec_t pvec_share(const pvec_t *v)
{
    if (v->root)
        __atomic_add_fetch(&v->root->refs, 1, __ATOMIC_RELAXED);
    return *v;
}

void pvec_release(pvec_t *v)
{
    if (v->root)
        unref(v->root, v->shift);
    *v = PVEC_EMPTY;
}

pvec_entry_t pvec_get(const pvec_t *v, size_t i)
{
    if (i >= v->count)
        return (pvec_entry_t){0, 0};
    return leaf_of(v, i)->e[i & MASK];
}

int pvec_set(pvec_t *v, size_t i, pvec_entry_t e)
{
    if (i >= v->count)
        return -1;
    pvec_node_t *spare[MAXLEVELS];
    int from, n = plan(v, i, &from);
    if (take(spare, n) < 0)
        return -1;
    own_path(v, i, from, spare)->e[i & MASK] = e;
    return 0;
}

int pvec_push(pvec_t *v, pvec_entry_t e)
{
    if (v->count == UINT32_MAX)
        return -1;
    pvec_t w = *v;                                       /* v stays as it was until nothing can fail */
    if (w.root && (w.count >> w.shift) >= PVEC_FANOUT) { /* full: a new level on top */
        pvec_node_t *top = node_new();
        if (!top)
            return -1;
        top->refs = 1;
        memset(top->kid, 0, sizeof(top->kid));
        top->kid[0] = w.root; /* takes over v's reference */
        w.root = top;
        w.shift += PVEC_BITS;
    }
    pvec_node_t *spare[MAXLEVELS];
    int from, n = plan(&w, w.count, &from);
    if (take(spare, n) < 0) {
        if (w.root != v->root)
            node_free(w.root);
        return -1;
    }
    own_path(&w, w.count, from, spare)->e[w.count & MASK] = e;
    w.count++;
    *v = w;
    return 0;
}

int pvec_each(const pvec_t *v, size_t from, int (*fn)(void *ctx, size_t index, const pvec_entry_t *run, size_t n), void *ctx)
{
    for (size_t i = from; i < v->count;) {
        size_t n = PVEC_FANOUT - (i & MASK);
        if (n > v->count - i)
            n = v->count - i;
        int r = fn(ctx, i, &leaf_of(v, i)->e[i & MASK], n);
        if (r)
            return r;
        i += n;
    }
    return 0;
}
