/* GET /porras: the pools of one version, sent as pieces rendered once and kept, never copied
 * into one buffer per request. The full listing goes a chunk of pools at a time (porra.h: each
 * chunk is made once per version of its leaf of the map, so a write re-makes one); a page walks
 * the pools by ID and sends each pool's JSON. */
#include "app/app_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app_list {
    app_version_t *v;
    int page;
    porra_iter_t it;
    const porra_t *next;        /* a page: the next pool to send, looked up ahead to know the last */
    const porra_chunk_t *chunk; /* the full listing: the chunk being sent, and its next piece */
    size_t at;
    size_t left; /* pieces still to send: pools of a page, pieces of chunks */
    int stage;   /* 0: '[' to send; 1: pools; 2: done */
};

static void start(app_list_t *l, const char *after)
{
    if (l->page)
        porra_iter_ids(&l->it, l->v->porras, after);
    else
        porra_iter_created(&l->it, l->v->porras);
}

/* The full listing's first pass: every chunk made, their pieces and bytes counted. -1 on OOM. */
static int count_chunks(app_list_t *l, size_t *n, size_t *total)
{
    const porra_chunk_t *c;
    int oom = 0;
    while ((c = porra_iter_chunk(&l->it, &oom)) != NULL)
        *n += c->nseg, *total += c->len;
    return oom ? -1 : 0;
}

/* A page's first pass: at most limit pools after `after`, their bytes counted; r->next set when
 * more follow. -1 on OOM. */
static int count_page(app_list_t *l, size_t limit, size_t *n, size_t *total, app_result_t *r)
{
    const porra_t *p, *last = NULL;
    size_t len;
    while ((p = porra_iter_next(&l->it)) != NULL) {
        if (*n == limit) {
            r->next = porra_id(last);
            break;
        }
        if (porra_json(p, &len) == NULL)
            return -1;
        *total += len, (*n)++, last = p;
    }
    return 0;
}

void app_porras_list(app_t *a, const char *after, size_t limit, app_result_t *r)
{
    app_list_t *l = calloc(1, sizeof(*l));
    size_t n = 0, total = 2;
    r->next = "";
    if (l == NULL) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        r->status = APP_UNAVAILABLE;
        return;
    }
    l->v = app_acquire(a);
    l->page = limit > 0 || after != NULL;
    if (l->page && limit == 0)
        limit = APP_PAGE_DEFAULT;
    r->list = l;
    start(l, after);
    if ((l->page ? count_page(l, limit, &n, &total, r) : count_chunks(l, &n, &total)) != 0) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        r->status = APP_UNAVAILABLE;
        return;
    }
    start(l, after);
    l->left = n;
    if (l->page)
        l->next = n > 0 ? porra_iter_next(&l->it) : NULL;
    r->status = APP_OK;
    r->of = APP_OF_POOLS, r->version = porra_db_version(l->v->porras);
    r->len = total - (n > 0); /* the last piece's ',' is not sent */
}

/* The next piece, ',' included: of the chunk being sent, or the page's next pool. */
static porra_piece_t next_piece(app_list_t *l)
{
    size_t len;
    int oom;
    if (l->page) {
        const porra_t *p = l->next;
        l->next = l->left > 1 ? porra_iter_next(&l->it) : NULL;
        const char *json = porra_json(p, &len); /* rendered by the first pass: kept with the pool */
        return (porra_piece_t){json, len};
    }
    while (l->chunk == NULL || l->at == l->chunk->nseg) /* made by the first pass: kept with the leaf */
        l->chunk = porra_iter_chunk(&l->it, &oom), l->at = 0;
    return l->chunk->seg[l->at++];
}

size_t app_list_next(app_list_t *l, app_piece_t *out, size_t max)
{
    size_t n = 0;
    if (l->stage == 0 && n < max)
        out[n++] = (app_piece_t){"[", 1}, l->stage = 1;
    while (l->stage == 1 && n < max) {
        if (l->left == 0) {
            out[n++] = (app_piece_t){"]", 1}, l->stage = 2;
            break;
        }
        porra_piece_t p = next_piece(l);
        out[n++] = (app_piece_t){p.base, --l->left > 0 ? p.len : p.len - 1};
    }
    return n;
}

void app_list_free(app_list_t *l)
{
    if (l == NULL)
        return;
    app_version_release(l->v);
    free(l);
}
