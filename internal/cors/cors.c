#include "cors/cors.h"

#include <stdlib.h>
#include <string.h>

#include "live/live.h"

#define LIST_MAX 4096

struct cors {
    live_t live; /* the CORS_ORIGINS in force, a string; NULL for "" */
};

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Calls each element of list (trimmed) until `fn` returns non-zero; returns that value or 0. */
static int each_element(const char *list, int (*fn)(const char *el, size_t len, const void *ctx), const void *ctx)
{
    for (const char *p = list;;) {
        const char *comma = strchr(p, ','), *end = comma != NULL ? comma : p + strlen(p);
        const char *b = p;
        while (b < end && is_space(*b))
            b++;
        while (end > b && is_space(end[-1]))
            end--;
        int rc = fn(b, (size_t)(end - b), ctx);
        if (rc != 0 || comma == NULL)
            return rc;
        p = comma + 1;
    }
}

typedef struct {
    const char *s;
    size_t len;
} span_t;

static int same(const char *el, size_t len, const void *ctx)
{
    const span_t *o = ctx;
    return len == o->len && memcmp(el, o->s, len) == 0;
}

int cors_listed(const char *list, const char *origin, size_t len)
{
    span_t o = {origin, len};
    if (list == NULL || list[0] == '\0' || len == 0)
        return 0;
    return strcmp(list, "*") == 0 || each_element(list, same, &o);
}

/* 1 when el is NOT an origin: the walk stops at the first bad element. */
static int bad_origin(const char *el, size_t len, const void *ctx)
{
    const char *sep = len > 0 ? strstr(el, "://") : NULL;
    (void)ctx;
    if (sep == NULL || sep >= el + len || sep == el || !((el[0] | 0x20) >= 'a' && (el[0] | 0x20) <= 'z'))
        return 1;
    for (const char *c = el; c < sep; c++)
        if (!((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z') && !(*c >= '0' && *c <= '9') && !strchr("+.-", *c))
            return 1;
    const char *host = sep + 3;
    if (host >= el + len)
        return 1;
    for (const char *c = host; c < el + len; c++)
        if (*c <= 0x20 || *c >= 0x7f || strchr("/,*", *c))
            return 1;
    return 0;
}

int cors_list_ok(const char *list)
{
    size_t n = list != NULL ? strlen(list) : 0;
    if (list == NULL || n > LIST_MAX)
        return 0;
    return n == 0 || strcmp(list, "*") == 0 || !each_element(list, bad_origin, NULL);
}

/* origins as a live value: NULL for "" (no CORS), else a copy. -1 on OOM. */
static int list_new(const char *origins, char **out)
{
    size_t n = origins != NULL ? strlen(origins) : 0;
    *out = n > 0 ? live_alloc(n + 1) : NULL;
    if (n > 0 && *out == NULL)
        return -1;
    if (n > 0)
        memcpy(*out, origins, n + 1);
    return 0;
}

cors_t *cors_new(const char *origins)
{
    char *list;
    cors_t *c = malloc(sizeof(*c));
    if (c == NULL || list_new(origins, &list) != 0) {
        free(c);
        return NULL;
    }
    live_init(&c->live, list);
    return c;
}

int cors_set(cors_t *c, const char *origins)
{
    char *list;
    if (list_new(origins, &list) != 0)
        return -1;
    live_swap(&c->live, list);
    return 0;
}

int cors_enabled(cors_t *c)
{
    char *list = live_acquire(&c->live);
    int on = list != NULL;
    live_release(list);
    return on;
}

int cors_allows(cors_t *c, const char *origin, size_t len)
{
    char *list = live_acquire(&c->live);
    int ok = cors_listed(list, origin, len);
    live_release(list);
    return ok;
}

void cors_free(cors_t *c)
{
    if (c == NULL)
        return;
    live_destroy(&c->live);
    free(c);
}
