#include "live/live.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

/* The reference count sits in front of what live_alloc returns. */
typedef struct {
    int refs; /* atomic */
    alignas(max_align_t) unsigned char data[];
} box_t;

static box_t *box_of(void *value)
{
    return (box_t *)((unsigned char *)value - offsetof(box_t, data));
}

void *live_alloc(size_t size)
{
    box_t *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    return b->data;
}

void live_init(live_t *h, void *value)
{
    pthread_spin_init(&h->lock, PTHREAD_PROCESS_PRIVATE);
    h->cur = value;
}

void *live_acquire(live_t *h)
{
    pthread_spin_lock(&h->lock);
    void *v = h->cur;
    if (v != NULL)
        __atomic_add_fetch(&box_of(v)->refs, 1, __ATOMIC_RELAXED);
    pthread_spin_unlock(&h->lock);
    return v;
}

void live_release(void *value)
{
    if (value != NULL && __atomic_sub_fetch(&box_of(value)->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(box_of(value));
}

void live_swap(live_t *h, void *value)
{
    pthread_spin_lock(&h->lock);
    void *old = h->cur;
    h->cur = value;
    pthread_spin_unlock(&h->lock);
    live_release(old);
}

void live_destroy(live_t *h)
{
    live_release(h->cur);
    h->cur = NULL;
    pthread_spin_destroy(&h->lock);
}
