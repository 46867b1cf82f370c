/*
 * arena: strings that never move and are freed all at once. Append-only chunks, so a string
 * stays where it was put while readers on other threads hold pointers into it; nothing is
 * freed before arena_free. One writer at a time adds to an arena (the caller's lock).
 */
#ifndef PORRIO_ARENA_H
#define PORRIO_ARENA_H
#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head; /* the chunk being filled; older ones follow */
} arena_t;

#define ARENA_INIT ((arena_t){NULL})

/** A NUL-terminated copy of `n` bytes of s, or NULL when memory runs out. */
const char *arena_strdup(arena_t *a, const char *s, size_t n);

/** Frees every chunk; the arena is empty afterwards. */
void arena_free(arena_t *a);

#endif
