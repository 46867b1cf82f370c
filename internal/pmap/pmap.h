/*
 * pmap: a persistent ordered map — a B+tree whose versions share every node they have in common.
 *
 * A pmap_t is a small value (a root pointer and a count) that owns one reference to its root.
 * Changing a map never changes a node another version can reach: pmap_put and pmap_del copy the
 * nodes on the path to the change (path copying) unless the node is held by this map alone (its
 * reference count is 1: then it is changed in place, which is how a map being built at start
 * costs no copies). So a version handed to other threads stays valid and unchanged for as long
 * as they hold it, without locks; the nodes it shares with newer versions are freed when the
 * last version holding them is released.
 *
 * Keys and values are 64-bit words whose meaning the map's ops give: numbers, or pointers to
 * objects the ops reference-count. Every node holds at most PMAP_FANOUT entries; an inner node's
 * key i is always the smallest key under child i, so a key pointer stays valid as long as an
 * entry holding it lives (ops->retain/release keep that entry's objects alive).
 *
 * Thread safety: any number of threads may read and release versions concurrently; the versions
 * one thread changes must be changed by that thread alone (the caller's writer lock). Node
 * reference counts are atomic.
 */
#ifndef PORRIO_PMAP_H
#define PORRIO_PMAP_H
#include <stddef.h>
#include <stdint.h>

#define PMAP_FANOUT 32

typedef struct pmap_node pmap_node_t;

typedef struct pmap_ops {
    /* <0, 0, >0 as a sorts before, equal to, after b; a may be a probe passed to pmap_get etc. */
    int (*cmp)(uint64_t a, uint64_t b);
    /* An entry was copied into one more node (a path copy): take a reference to what key and
     * val point to, if anything. NULL: nothing to do. */
    void (*retain)(uint64_t key, uint64_t val);
    /* A node holding the entry was freed, or the entry was replaced or deleted. NULL: nothing.
     * Runs on whichever thread lets go of a node last, a reader's too: it must be thread-safe. */
    void (*release)(uint64_t key, uint64_t val);
    /* Frees what a reader put in a leaf's cache slot (pmap_iter_leaf), when the leaf changes or
     * is freed: on any thread, like release. NULL: nothing to free. */
    void (*cache_free)(void *cache);
} pmap_ops_t;

/* Comparison of keys that are plain numbers, and of keys that are NUL-terminated strings. */
int pmap_cmp_u64(uint64_t a, uint64_t b);
int pmap_cmp_str(uint64_t a, uint64_t b);

typedef struct pmap {
    pmap_node_t *root; /* NULL when empty */
    size_t count;
} pmap_t;

#define PMAP_EMPTY ((pmap_t){NULL, 0})

/** A second handle on the same version (the root gains a reference). Cannot fail. */
pmap_t pmap_share(const pmap_t *m);

/** Lets go of m's version; nodes no other version holds are freed, their entries released. */
void pmap_release(pmap_t *m, const pmap_ops_t *ops);

/** The value under key, in *val (val may be NULL); 1 when found, 0 when not. */
int pmap_get(const pmap_t *m, const pmap_ops_t *ops, uint64_t key, uint64_t *val);

/**
 * Sets key to val in m. The map takes over the entry: whatever references key and val stand for
 * are the caller's to have taken before. An entry whose key compares equal is replaced and
 * released through ops->release. 0; -1 when memory runs out (m unchanged, the entry not taken;
 * also, never in practice, when the tree would outgrow pmap_iter_t's 16 levels).
 */
int pmap_put(pmap_t *m, const pmap_ops_t *ops, uint64_t key, uint64_t val);

/** Removes key from m, releasing its entry. 1 when it was there, 0 when not, -1 on OOM (m unchanged). */
int pmap_del(pmap_t *m, const pmap_ops_t *ops, uint64_t key);

/* In-order iteration over one version, from the first key or from the first key after a probe.
 * The iterator holds no reference: the caller keeps the version alive meanwhile. */
typedef struct pmap_iter {
    const pmap_node_t *path[16];
    int pos[16];
    int depth;
} pmap_iter_t;

/** Positions it before the smallest key. */
void pmap_iter_first(pmap_iter_t *it, const pmap_t *m);
/** Positions it before the smallest key greater than `after` (strictly). */
void pmap_iter_after(pmap_iter_t *it, const pmap_t *m, const pmap_ops_t *ops, uint64_t after);
/** The next entry: 1 with *key and *val, 0 at the end. */
int pmap_iter_next(pmap_iter_t *it, uint64_t *key, uint64_t *val);

/* The entries of one leaf, from the iterator's position to the leaf's end. cache is the leaf's
 * slot when the run is the whole leaf, else NULL: readers may store there, with a
 * compare-and-swap, something derived from the leaf's entries alone, which then lives as long as
 * the leaf does (ops->cache_free frees it when the leaf changes in place or is freed; a copy of
 * the leaf starts with an empty slot). The values must not change behind the map's back once a
 * cache may hold what was derived from them (a caller that changes its values in place does so
 * only before anyone reads the map). */
typedef struct pmap_leaf {
    const uint64_t *keys, *vals;
    int n;
    void **cache;
} pmap_leaf_t;

/** The run of entries up to the end of the current leaf, moving it to the next leaf: 1, 0 at the end. */
int pmap_iter_leaf(pmap_iter_t *it, pmap_leaf_t *out);

/** Nodes alive in the whole process, every version together: for /metrics and leak tests. */
size_t pmap_nodes_live(void);

#endif
