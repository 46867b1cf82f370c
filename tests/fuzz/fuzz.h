/* What the libFuzzer targets share: an invariant that must hold (a failure aborts, which
 * libFuzzer reports as a finding with the input that caused it), and the input copied into a
 * buffer of its exact size, so that ASan reports any read past its end. */
#ifndef PORRIO_FUZZ_H
#define PORRIO_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #c);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A malloc'd copy of data[0..size), with no byte after it (one byte allocated for size 0). */
static inline char *fuzz_dup(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    if (size > 0)
        memcpy(p, data, size);
    return p;
}

#endif
