/* A flat list of routes, each pre-split into segments. The API has a couple of dozen routes, so a
 * linear scan over them beats a trie on both code size and cache behaviour. */
#include "route/route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMETHODS 7

typedef struct {
    const char *s; /* literal text, or the parameter name (NUL-terminated) */
    uint32_t len;
    int param;
} seg_t;

typedef struct {
    char *tmpl; /* as given; followed in the same block by a scratch copy holding the names */
    int nseg, nparam, methods;
    seg_t seg[ROUTE_MAX_SEGMENTS];
    void *handler[NMETHODS], *data[NMETHODS];
} route_t;

struct route_table {
    route_t *r;
    size_t n, cap;
};

static const char *const method_names[NMETHODS] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

int route_method(const char *name, size_t len)
{
    if (!name)
        return 0;
    for (int i = 0; i < NMETHODS; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], name, len) == 0)
            return 1 << i;
    return 0;
}

route_table_t *route_table_new(void)
{
    return calloc(1, sizeof(route_table_t));
}

void route_table_free(route_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->r[i].tmpl);
    free(t->r);
    free(t);
}

static int fail(char *err, size_t errlen, const char *tmpl, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "route \"%s\": %s", tmpl ? tmpl : "(null)", why);
    return -1;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Splits the scratch copy s (the template's text) into r->seg, NUL-terminating parameter names in
 * place so route_param_t.name can point at them. Returns NULL or why the template is bad. */
static const char *parse(route_t *r, char *s)
{
    if (*s != '/')
        return "does not start with '/'";
    if (s[1] == '\0')
        return NULL; /* "/": no segments */
    while (*s == '/') {
        char *b = ++s;
        while (*s && *s != '/')
            s++;
        size_t len = (size_t)(s - b);
        if (len == 0)
            return "empty segment";
        if (r->nseg == ROUTE_MAX_SEGMENTS)
            return "too many segments";
        seg_t *g = &r->seg[r->nseg++];
        if (b[0] == '{') {
            if (b[len - 1] != '}' || len < 2)
                return "'{' does not close a whole segment";
            if (len == 2)
                return "empty parameter name";
            for (size_t i = 1; i < len - 1; i++)
                if (!name_char(b[i]))
                    return "parameter name not [A-Za-z0-9_]+";
            if (r->nparam == ROUTE_MAX_PARAMS)
                return "too many parameters";
            for (int i = 0; i < r->nseg - 1; i++)
                if (r->seg[i].param && r->seg[i].len == len - 2 && !memcmp(r->seg[i].s, b + 1, len - 2))
                    return "duplicate parameter name";
            g->s = b + 1, g->len = (uint32_t)(len - 2), g->param = 1;
            r->nparam++;
            b[len - 1] = '\0'; /* s already points past it, at '/' or the end */
        } else {
            if (memchr(b, '{', len) || memchr(b, '}', len))
                return "'{' or '}' inside a literal segment";
            if (memchr(b, '?', len) || memchr(b, '#', len))
                return "'?' or '#' in a template";
            g->s = b, g->len = (uint32_t)len, g->param = 0;
        }
    }
    return NULL;
}

static int same_shape(const route_t *a, const route_t *b)
{
    if (a->nseg != b->nseg)
        return 0;
    for (int i = 0; i < a->nseg; i++) {
        if (a->seg[i].param != b->seg[i].param)
            return 0;
        if (!a->seg[i].param && (a->seg[i].len != b->seg[i].len || memcmp(a->seg[i].s, b->seg[i].s, a->seg[i].len) != 0))
            return 0;
    }
    return 1;
}

static void set_handlers(route_t *r, int methods, void *handler, void *data)
{
    for (int i = 0; i < NMETHODS; i++)
        if (methods & (1 << i))
            r->handler[i] = handler, r->data[i] = data;
    r->methods |= methods;
}

int route_add(route_table_t *t, int methods, const char *tmpl, void *handler, void *data, char *err, size_t errlen)
{
    if (!t || !tmpl)
        return fail(err, errlen, tmpl, "no table or template");
    if (methods <= 0 || (methods & ~ROUTE_ALL_METHODS))
        return fail(err, errlen, tmpl, "bad method mask");
    size_t len = strlen(tmpl);
    route_t nr = {0};
    if (!(nr.tmpl = malloc(2 * (len + 1))))
        return fail(err, errlen, tmpl, "out of memory");
    memcpy(nr.tmpl, tmpl, len + 1);
    memcpy(nr.tmpl + len + 1, tmpl, len + 1);
    const char *why = parse(&nr, nr.tmpl + len + 1);
    for (size_t i = 0; !why && i < t->n; i++) {
        route_t *r = &t->r[i];
        if (!same_shape(r, &nr))
            continue;
        if (strcmp(r->tmpl, tmpl) != 0)
            why = "same shape as another template with other parameter names";
        else if (r->methods & methods)
            why = "method already registered";
        else {
            free(nr.tmpl);
            set_handlers(r, methods, handler, data);
            return 0;
        }
    }
    if (!why && t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        route_t *p = realloc(t->r, cap * sizeof *p);
        if (!p)
            why = "out of memory";
        else
            t->r = p, t->cap = cap;
    }
    if (why) {
        free(nr.tmpl);
        return fail(err, errlen, tmpl, why);
    }
    set_handlers(&nr, methods, handler, data);
    t->r[t->n++] = nr;
    return 0;
}

/* a is at least as specific as b: at the first segment where one has a literal and the other a
 * parameter, a has the literal. Two distinct templates matching one path always differ there. */
static int more_specific(const route_t *a, const route_t *b)
{
    for (int i = 0; i < a->nseg; i++)
        if (a->seg[i].param != b->seg[i].param)
            return !a->seg[i].param;
    return 1;
}

static int hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..len) at buf+*pos, NUL-terminated; -1 on bad %-encoding, NUL, or no room. */
static int decode(const char *s, size_t len, char *buf, size_t buflen, size_t *pos)
{
    size_t o = *pos;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < len ? hex(s[i + 1]) : -1, l = h >= 0 ? hex(s[i + 2]) : -1;
            if (h < 0 || l < 0)
                return -1;
            c = h << 4 | l;
            i += 2;
        }
        /* a NUL, raw or %00, would cut the value short of what was checked; keep room for the
         * terminating one */
        if (c == 0 || o + 1 >= buflen)
            return -1;
        buf[o++] = (char)c;
    }
    if (o >= buflen)
        return -1;
    buf[o++] = '\0';
    *pos = o;
    return 0;
}

int route_query(const char *path, size_t pathlen, const char *name, char *buf, size_t buflen)
{
    const char *q = memchr(path, '?', pathlen), *end = path + pathlen;
    size_t nlen = strlen(name);
    int found = 0;
    for (const char *p = q != NULL ? q + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p)), *kend = eq != NULL ? eq : stop;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t pos = 0;
            const char *v = eq != NULL ? eq + 1 : stop;
            if (found++ || decode(v, (size_t)(stop - v), buf, buflen, &pos) != 0)
                return -1;
        }
        if (amp == NULL)
            break;
        p = amp + 1; /* not stop + 1: past the end of path, that pointer is undefined */
    }
    return found;
}

route_result_t route_match(const route_table_t *t, int method, const char *path, size_t pathlen, char *buf, size_t buflen,
                           route_match_t *m)
{
    memset(m, 0, offsetof(route_match_t, params));
    if (!t || !path || pathlen == 0 || path[0] != '/')
        return ROUTE_NOT_FOUND;
    const char *q = memchr(path, '?', pathlen);
    if (q)
        pathlen = (size_t)(q - path);
    if (pathlen > 1 && path[pathlen - 1] == '/' && path[pathlen - 2] != '/')
        pathlen--; /* one trailing slash only: "//" must stay an empty segment */

    /* Split once; every route then compares against these slices. */
    struct {
        const char *s;
        size_t len;
    } seg[ROUTE_MAX_SEGMENTS];
    int nseg = 0;
    for (size_t i = 1; pathlen > 1;) {
        const char *e = memchr(path + i, '/', pathlen - i);
        size_t end = e ? (size_t)(e - path) : pathlen;
        if (end == i || nseg == ROUTE_MAX_SEGMENTS)
            return ROUTE_NOT_FOUND; /* empty segment, or longer than any template */
        seg[nseg].s = path + i, seg[nseg].len = end - i, nseg++;
        if (!e)
            break;
        i = end + 1;
    }

    int mi = method > 0 && method <= ROUTE_ALL_METHODS && !(method & (method - 1)) ? __builtin_ctz((unsigned)method) : -1;
    const route_t *best = NULL, *any = NULL;
    int hi = -1;
    for (size_t k = 0; k < t->n; k++) {
        const route_t *r = &t->r[k];
        if (r->nseg != nseg)
            continue;
        int i = 0;
        while (i < nseg && (r->seg[i].param || (r->seg[i].len == seg[i].len && !memcmp(r->seg[i].s, seg[i].s, seg[i].len))))
            i++;
        if (i < nseg)
            continue;
        m->allow |= r->methods | (r->methods & ROUTE_GET ? ROUTE_HEAD : 0);
        if (!any || more_specific(r, any))
            any = r;
        int h = mi < 0 ? -1 : (r->methods >> mi & 1) ? mi : (method == ROUTE_HEAD && (r->methods & ROUTE_GET)) ? 0 : -1;
        if (h >= 0 && (!best || more_specific(r, best)))
            best = r, hi = h;
    }
    if (!any)
        return ROUTE_NOT_FOUND;

    const route_t *r = best ? best : any;
    m->tmpl = r->tmpl;
    size_t pos = 0;
    for (int i = 0; i < nseg; i++) {
        if (!r->seg[i].param)
            continue;
        route_param_t *p = &m->params[m->nparams++];
        p->name = r->seg[i].s;
        size_t start = pos;
        if (!buf || decode(seg[i].s, seg[i].len, buf, buflen, &pos) < 0) {
            m->nparams = 0;
            return ROUTE_BAD_PATH;
        }
        p->value = buf + start, p->len = pos - start - 1;
    }
    if (!best)
        return ROUTE_METHOD_NOT_ALLOWED;
    m->handler = r->handler[hi], m->data = r->data[hi];
    return ROUTE_FOUND;
}

const char *route_param(const route_match_t *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].value;
    return NULL;
}

size_t route_allow_string(int allow, char *buf, size_t len)
{
    size_t n = 0;
    for (int i = 0; i < NMETHODS; i++) {
        if (!(allow & (1 << i)))
            continue;
        const char *parts[2] = {n ? ", " : "", method_names[i]};
        for (int j = 0; j < 2; j++)
            for (const char *c = parts[j]; *c; c++, n++)
                if (n + 1 < len)
                    buf[n] = *c;
    }
    if (len)
        buf[n < len ? n : len - 1] = '\0';
    return n;
}

void route_each(const route_table_t *t, void (*cb)(void *ctx, const char *tmpl, int methods), void *ctx)
{
    for (size_t i = 0; t && cb && i < t->n; i++)
        cb(ctx, t->r[i].tmpl, t->r[i].methods);
}
