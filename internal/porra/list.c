/* The pools of a version in order, the chunks of the full listing, and the records that rebuild
 * a version (a snapshot). */
#include "porra/porra_int.h"

#include <stdlib.h>
#include <string.h>

void porra_iter_created(porra_iter_t *it, const porra_db_t *db)
{
    it->db = db, it->by_id = 0;
    pmap_iter_first(&it->it, &db->by_seq);
}

void porra_iter_ids(porra_iter_t *it, const porra_db_t *db, const char *after)
{
    it->db = db, it->by_id = 1;
    if (after == NULL || after[0] == '\0')
        pmap_iter_first(&it->it, &db->by_id);
    else
        pmap_iter_after(&it->it, &db->by_id, &porra_by_id_ops, (uintptr_t)after);
}

const porra_t *porra_iter_next(porra_iter_t *it)
{
    uint64_t key, val;
    if (!pmap_iter_next(&it->it, &key, &val))
        return NULL;
    if (it->by_id && !pmap_get(&it->db->by_seq, &porra_by_seq_ops, ((porra_ident_t *)val)->seq, &val))
        return NULL; /* cannot be: by_id and by_seq always hold the same pools */
    return (const porra_t *)val;
}

/* Builds the chunk of a leaf of pools: the JSON of every pool rendered (and kept with it), runs
 * of small pools copied, large ones referenced. NULL on OOM. */
static porra_chunk_t *make_chunk(const pmap_leaf_t *leaf)
{
    porra_piece_t json[PMAP_FANOUT];
    size_t copied = 0, nseg = 0, len = 0;
    for (int i = 0; i < leaf->n; i++) {
        const porra_t *p = (const porra_t *)(uintptr_t)leaf->vals[i];
        if ((json[i].base = porra_json(p, &json[i].len)) == NULL)
            return NULL;
        int big = p->bets.count > PORRA_COPY_BETS;
        if (big)
            nseg++;
        else if (i == 0 || ((const porra_t *)(uintptr_t)leaf->vals[i - 1])->bets.count > PORRA_COPY_BETS)
            nseg++; /* a run of small pools starts */
        copied += big ? 0 : json[i].len;
        len += json[i].len;
    }
    porra_chunk_t *c = malloc(sizeof(*c) + nseg * sizeof(c->seg[0]) + copied);
    if (c == NULL)
        return NULL;
    char *text = (char *)(c->seg + nseg);
    *c = (porra_chunk_t){.n = (size_t)leaf->n, .len = len, .nseg = 0};
    for (int i = 0; i < leaf->n; i++) {
        if (((const porra_t *)(uintptr_t)leaf->vals[i])->bets.count > PORRA_COPY_BETS) {
            c->seg[c->nseg++] = json[i];
            continue;
        }
        if (c->nseg == 0 || c->seg[c->nseg - 1].base + c->seg[c->nseg - 1].len != text)
            c->seg[c->nseg++] = (porra_piece_t){text, 0};
        memcpy(text, json[i].base, json[i].len);
        text += json[i].len, c->seg[c->nseg - 1].len += json[i].len;
    }
    return c;
}

const porra_chunk_t *porra_iter_chunk(porra_iter_t *it, int *oom)
{
    pmap_leaf_t leaf;
    *oom = 0;
    if (!pmap_iter_leaf(&it->it, &leaf))
        return NULL;
    porra_chunk_t **slot = (porra_chunk_t **)leaf.cache, *c, *none = NULL;
    if (slot != NULL && (c = __atomic_load_n(slot, __ATOMIC_ACQUIRE)) != NULL)
        return c;
    /* (an iterator moved by porra_iter_next has no whole leaf: not this function's use) */
    if (slot == NULL || (c = make_chunk(&leaf)) == NULL) {
        *oom = 1;
        return NULL;
    }
    /* two readers may make it at once: the first stored is kept */
    if (!__atomic_compare_exchange_n(slot, &none, c, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        free(c);
        c = none;
    }
    return c;
}

/* ---- dumping a version as records ---- */

#define BETS_BATCH_BYTES (60u << 10)
#define BETS_BATCH_MAX   65535

typedef struct {
    char *buf;
    size_t len, count_at;
    unsigned n;
    int (*emit)(void *ctx, const void *rec, size_t len);
    void *ctx;
} batch_t;

static int batch_flush(batch_t *b)
{
    if (b->n == 0)
        return 0;
    b->buf[b->count_at] = (char)(b->n & 0xff), b->buf[b->count_at + 1] = (char)(b->n >> 8);
    int rc = b->emit(b->ctx, b->buf, b->len);
    b->len = b->count_at + 2, b->n = 0;
    return rc != 0 ? -1 : 0;
}

static int batch_bets(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    batch_t *b = ctx;
    (void)index;
    for (size_t i = 0; i < n; i++) {
        const char *q = PORRA_BET_QUIEN(run[i]);
        size_t ql = strlen(q);
        if ((b->len + ql + 3 > BETS_BATCH_BYTES || b->n == BETS_BATCH_MAX) && batch_flush(b) != 0)
            return -1;
        memcpy(b->buf + b->len, q, ql + 1);
        b->buf[b->len + ql + 1] = (char)PORRA_BET_L(run[i]);
        b->buf[b->len + ql + 2] = (char)PORRA_BET_V(run[i]);
        b->len += ql + 3, b->n++;
    }
    return 0;
}

int porra_dump(const porra_db_t *db, int (*emit)(void *ctx, const void *rec, size_t len), void *ctx)
{
    char rec[PORRA_CHANGE_MAX];
    batch_t b = {.buf = malloc(BETS_BATCH_BYTES + PORRA_SEGMENT_MAX + 3), .emit = emit, .ctx = ctx};
    porra_iter_t it;
    const porra_t *p;
    int rc = b.buf != NULL ? 0 : -1;
    porra_iter_created(&it, db);
    while (rc == 0 && (p = porra_iter_next(&it)) != NULL) {
        porra_change_t c = {.op = PORRA_OP_CREATE, .seg = {p->ident->seg[0], p->ident->seg[1], p->ident->seg[2], p->ident->seg[3]}};
        size_t n = porra_change_encode(&c, rec, sizeof(rec));
        if (n == 0 || emit(ctx, rec, n) != 0) {
            rc = -1;
            break;
        }
        b.buf[0] = PORRA_OP_BETS;
        b.count_at = 1 + strlen(p->ident->id) + 1;
        memcpy(b.buf + 1, p->ident->id, b.count_at - 1);
        b.len = b.count_at + 2, b.n = 0;
        if (pvec_each(&p->bets, 0, batch_bets, &b) != 0 || batch_flush(&b) != 0) {
            rc = -1;
            break;
        }
        if (p->rl >= 0) {
            c = (porra_change_t){.op = PORRA_OP_RESULT, .id = p->ident->id, .local = p->rl, .visitante = p->rv};
            n = porra_change_encode(&c, rec, sizeof(rec));
            rc = n != 0 && emit(ctx, rec, n) == 0 ? 0 : -1;
        }
    }
    free(b.buf);
    return rc;
}
