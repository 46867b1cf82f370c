/*
 * live: how a setting that follows etcd is published to the workers (README: Settings). The value
 * in force is immutable and reference counted; the reload thread replaces it whole by a pointer
 * swap, and a reader holds a reference for as long as it uses it, so it sees the old value or the
 * new one, never a mixture, and never waits for more than a pointer load. The value is freed by
 * whichever thread lets go of it last.
 */
#ifndef PORRIO_LIVE_H
#define PORRIO_LIVE_H
#include <pthread.h>
#include <stddef.h>

/** A holder of the value in force. Embedded by its owner; its fields are live.c's. */
typedef struct live {
    pthread_spinlock_t lock; /* guards cur: held for one load and increment, or one swap */
    void *cur;               /* a live_alloc'd value, or NULL */
} live_t;

/**
 * size bytes (uninitialised, aligned for any type) that live_release frees, with one reference:
 * the caller's, until it hands it to live_init or live_swap. NULL on OOM.
 */
void *live_alloc(size_t size);

/** Makes value (live_alloc'd or NULL, its reference passed to the holder) the one in force. Cannot fail. */
void live_init(live_t *h, void *value);

/**
 * The value in force with a reference for the caller (NULL when none), to live_release once done.
 * Thread-safe.
 */
void *live_acquire(live_t *h);

/** Lets go of a reference (NULL is a no-op); the last one frees the value. Thread-safe. */
void live_release(void *value);

/** Replaces the value in force with value (its reference passed to the holder). Thread-safe. */
void live_swap(live_t *h, void *value);

/** Releases the value in force. Only once no other thread can use the holder. */
void live_destroy(live_t *h);

#endif
