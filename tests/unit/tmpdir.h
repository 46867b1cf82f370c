/* Scratch directories for the unit tests: a new one under /tmp, paths in it, its removal. Static
 * inline, so that a test that includes this and uses only part of it still builds with -Werror. */
#ifndef PORRIO_TMPDIR_H
#define PORRIO_TMPDIR_H
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new directory /tmp/<prefix>-XXXXXX, malloc'd (for test_rmtree); exits 2 when none can be made. */
static inline char *test_tmpdir(const char *prefix)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", prefix);
    char *d = mkdtemp(tmpl);
    if (d == NULL) {
        printf("# mkdtemp: %s\n", strerror(errno));
        exit(2);
    }
    return strdup(d);
}

static inline int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything in it (not following links), and frees dir. */
static inline void test_rmtree(char *dir)
{
    nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* dir/name in one of a few rotating buffers: good until four more calls. */
static inline const char *test_path(const char *dir, const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
    return p;
}

#endif
