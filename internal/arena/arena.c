#include "arena/arena.h"

#include <stdlib.h>
#include <string.h>

/* The first chunk is small — most pools hold a handful of bets — and each next one doubles. */
#define CHUNK_MIN 128
#define CHUNK_MAX (64u << 10)

struct arena_chunk {
    arena_chunk_t *next;
    size_t used, cap;
    char data[];
};

const char *arena_strdup(arena_t *a, const char *s, size_t n)
{
    arena_chunk_t *c = a->head;
    if (c == NULL || c->cap - c->used < n + 1) {
        size_t cap = c == NULL ? CHUNK_MIN : c->cap < CHUNK_MAX ? 2 * c->cap : CHUNK_MAX;
        if (cap < n + 1)
            cap = n + 1;
        arena_chunk_t *nc = malloc(sizeof(*nc) + cap);
        if (nc == NULL)
            return NULL;
        nc->next = c, nc->used = 0, nc->cap = cap;
        a->head = c = nc;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

void arena_free(arena_t *a)
{
    for (arena_chunk_t *c = a->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    *a = ARENA_INIT;
}
