/*
 * pvec: a persistent vector — an array that grows at the end, whose versions share every node
 * they have in common (a 32-way trie indexed by position).
 *
 * Like pmap: a pvec_t is a small value owning one reference to its root; pvec_set and
 * pvec_push copy the nodes on the path to the change unless this vector alone holds them
 * (reference count 1: changed in place, as while loading at start). A version handed to other
 * threads stays valid and unchanged while they hold it. Entries are two 64-bit words whose
 * meaning is the caller's; the vector never interprets or reference-counts them.
 *
 * Thread safety as pmap: versions may be read and released from any thread; one thread at a
 * time changes a given vector. Node reference counts are atomic.
 */
#ifndef PORRIO_PVEC_H
#define PORRIO_PVEC_H
#include <stddef.h>
#include <stdint.h>

#define PVEC_BITS   5
#define PVEC_FANOUT (1u << PVEC_BITS)

typedef struct pvec_entry {
    uint64_t a, b;
} pvec_entry_t;

typedef struct pvec_node pvec_node_t;

typedef struct pvec {
    pvec_node_t *root; /* NULL when empty */
    uint32_t count;
    uint32_t shift; /* PVEC_BITS * (height - 1) */
} pvec_t;

#define PVEC_EMPTY ((pvec_t){NULL, 0, 0})

/** A second handle on the same version (the root gains a reference). Cannot fail. */
pvec_t pvec_share(const pvec_t *v);

/** Lets go of v's version; nodes no other version holds are freed. */
void pvec_release(pvec_t *v);

/** The entry at index i, by value; {0, 0} when i >= v->count. */
pvec_entry_t pvec_get(const pvec_t *v, size_t i);

/** Replaces the entry at i. 0; -1 on OOM or when i >= count (v unchanged). */
int pvec_set(pvec_t *v, size_t i, pvec_entry_t e);

/** Appends e. 0; -1 on OOM or when count would pass UINT32_MAX (v unchanged). */
int pvec_push(pvec_t *v, pvec_entry_t e);

/**
 * Calls fn for the entries from index `from` on, in order, with runs of consecutive entries
 * (each run lies in one leaf, at most PVEC_FANOUT long) until fn returns non-zero, which is
 * then returned; 0 after the last. Holds no reference: the caller keeps the version alive.
 */
int pvec_each(const pvec_t *v, size_t from, int (*fn)(void *ctx, size_t index, const pvec_entry_t *run, size_t n), void *ctx);

/** Nodes alive in the whole process, every version together: for /metrics and leak tests. */
size_t pvec_nodes_live(void);

#endif
