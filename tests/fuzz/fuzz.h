/* What the libFuzzer targets share: an invariant that must hold (a failure aborts, which
 * libFuzzer reports as a finding with the input that caused it), the input copied into a buffer
 * of its exact size, so that ASan reports any read past its end, and scratch directories. */
#ifndef PORRIO_FUZZ_H
#define PORRIO_FUZZ_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c)                                                                      \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
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

/* A new scratch directory <tmpfs>/porrio-<name>-XXXXXX into buf: under /dev/shm when it can be
 * written (the store's fsyncs cost nothing there), else /tmp. */
static inline void fuzz_scratch_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/porrio-%s-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
    CHECK(mkdtemp(buf) != NULL);
}

/* Removes every file of dir (flat: the store makes no subdirectories). 0; -1 when there is no
 * such directory. */
static inline int fuzz_empty_dir(const char *dir)
{
    char path[512];
    struct dirent *de;
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            CHECK(unlink(path) == 0);
        }
    closedir(d);
    return 0;
}

#endif
