/* Applying a change record to a version: the checks again (a replayed record gets a request's),
 * then the next version, sharing everything the change does not touch. */
#include "porra/porra_int.h"

#include <stdlib.h>
#include <string.h>

/* The version of pool p that the change may modify: p itself in a transient db, else a new
 * version sharing p's bets, put in p's place in db (which owns it). NULL on OOM. */
static porra_t *writable_pool(porra_db_t *db, porra_t *p)
{
    if (db->transient) {
        free(p->json); /* nobody has read it: a transient db is not shared */
        p->json = NULL;
        p->version = p->version > db->clock ? p->version : db->clock;
        return p;
    }
    porra_t *np = malloc(sizeof(*np));
    if (np == NULL)
        return NULL;
    /* the clock only goes back under porra_db_apply_at, whose pools keep their newest change */
    *np = (porra_t){
        .refs = 1, .ident = p->ident, .rl = p->rl, .rv = p->rv, .version = p->version > db->clock ? p->version : db->clock};
    __atomic_add_fetch(&p->ident->refs, 1, __ATOMIC_RELAXED);
    np->bets = pvec_share(&p->bets);
    np->by_quien = pmap_share(&p->by_quien);
    if (pmap_put(&db->by_seq, &porra_by_seq_ops, p->ident->seq, (uintptr_t)np) != 0) {
        porra_pool_unref(np);
        return NULL;
    }
    return np;
}

/* The pool a change names, or NULL with err. */
static porra_t *named_pool(porra_db_t *db, const char *id, char *err, size_t errlen)
{
    porra_t *p = (porra_t *)porra_find(db, id);
    if (p == NULL)
        porra_fail(err, errlen, "ID: no pool \"%s\"", id != NULL ? id : "");
    return p;
}

/* Places or replaces one bet in p, a version this change owns. */
static int put_bet(porra_db_t *db, porra_t *p, const char *quien, int l, int v, char *err, size_t errlen)
{
    uint64_t index;
    pvec_entry_t e = {0, (uint64_t)l | (uint64_t)v << 8};
    if (pmap_get(&p->by_quien, &porra_by_quien_ops, (uintptr_t)quien, &index)) {
        e.a = pvec_get(&p->bets, index).a;
        return pvec_set(&p->bets, index, e) == 0 ? 0 : porra_fail(err, errlen, "out of memory");
    }
    const char *name = arena_strdup(&p->ident->names, quien, strlen(quien));
    if (name == NULL || (e.a = (uintptr_t)name, pvec_push(&p->bets, e)) != 0 ||
        pmap_put(&p->by_quien, &porra_by_quien_ops, (uintptr_t)name, p->bets.count - 1) != 0)
        return porra_fail(err, errlen, "out of memory");
    db->nbets++;
    return 0;
}

static int check_bet(const porra_t *p, const char *quien, int l, int v, char *err, size_t errlen)
{
    if (porra_seg_check("quien", quien, 1, err, errlen) != 0 || porra_goals_check(l, v, err, errlen) != 0)
        return -1;
    return p->rl >= 0 ? porra_fail(err, errlen, "ID: the result is set: betting is closed") : 0;
}

static int apply_create(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    char id[PORRA_ID_MAX + 1];
    if (porra_make_id(id, c->seg, err, errlen) != 0)
        return -1;
    if (porra_find(db, id) != NULL)
        return porra_fail(err, errlen, "ID: pool \"%s\" already exists", id);
    porra_ident_t *ident = porra_ident_new(c->seg, db->next_seq);
    porra_t *p = ident != NULL ? calloc(1, sizeof(*p)) : NULL;
    if (p == NULL) {
        free(ident);
        return porra_fail(err, errlen, "out of memory");
    }
    *p = (porra_t){.refs = 1, .ident = ident, .rl = -1, .rv = -1, .version = db->clock};
    ident->refs = 2; /* the pool's, and the by_id entry's */
    ident->created = db->clock;
    if (pmap_put(&db->by_seq, &porra_by_seq_ops, ident->seq, (uintptr_t)p) != 0) {
        free(p), free(ident);
        return porra_fail(err, errlen, "out of memory");
    }
    if (pmap_put(&db->by_id, &porra_by_id_ops, (uintptr_t)ident->id, (uintptr_t)ident) != 0) {
        ident->refs = 1;
        pmap_del(&db->by_seq, &porra_by_seq_ops, ident->seq); /* frees p and ident */
        return porra_fail(err, errlen, "out of memory");
    }
    db->next_seq++;
    return 0;
}

static int apply_delete(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    porra_t *p = named_pool(db, c->id, err, errlen);
    if (p == NULL)
        return -1;
    uint64_t seq = p->ident->seq;
    size_t nbets = p->bets.count;
    if (pmap_del(&db->by_seq, &porra_by_seq_ops, seq) < 0 || pmap_del(&db->by_id, &porra_by_id_ops, (uintptr_t)c->id) < 0)
        return porra_fail(err, errlen, "out of memory");
    db->nbets -= nbets;
    return 0;
}

static int apply_bet(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    porra_t *p = named_pool(db, c->id, err, errlen);
    if (p == NULL || check_bet(p, c->quien, c->local, c->visitante, err, errlen) != 0)
        return -1;
    if ((p = writable_pool(db, p)) == NULL)
        return porra_fail(err, errlen, "out of memory");
    return put_bet(db, p, c->quien, c->local, c->visitante, err, errlen);
}

static int apply_result(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    porra_t *p = named_pool(db, c->id, err, errlen);
    if (p == NULL || porra_goals_check(c->local, c->visitante, err, errlen) != 0)
        return -1;
    if ((p = writable_pool(db, p)) == NULL)
        return porra_fail(err, errlen, "out of memory");
    p->rl = c->local, p->rv = c->visitante;
    return 0;
}

/* Many bets of one pool: every one is checked before any is placed. */
static int apply_bets(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    porra_t *p = named_pool(db, c->id, err, errlen);
    const char *quien;
    int l, v;
    size_t pos = 0;
    if (p == NULL)
        return -1;
    while (porra_change_next_bet(c, &pos, &quien, &l, &v))
        if (check_bet(p, quien, l, v, err, errlen) != 0)
            return -1;
    if ((p = writable_pool(db, p)) == NULL)
        return porra_fail(err, errlen, "out of memory");
    for (pos = 0; porra_change_next_bet(c, &pos, &quien, &l, &v);)
        if (put_bet(db, p, quien, l, v, err, errlen) != 0)
            return -1;
    return 0;
}

static int apply_to(porra_db_t *db, const porra_change_t *c, char *err, size_t errlen)
{
    switch (c->op) {
    case PORRA_OP_CREATE:
        return apply_create(db, c, err, errlen);
    case PORRA_OP_DELETE:
        return apply_delete(db, c, err, errlen);
    case PORRA_OP_BET:
        return apply_bet(db, c, err, errlen);
    case PORRA_OP_RESULT:
        return apply_result(db, c, err, errlen);
    case PORRA_OP_BETS:
        return apply_bets(db, c, err, errlen);
    default:
        return porra_fail(err, errlen, "op: unknown operation 0x%02x", (unsigned)c->op);
    }
}

/* Applies c as a change numbered `at` on the clock, or as the next number when at is 0. */
static int apply_numbered(porra_db_t **dbp, const porra_change_t *c, uint64_t at, char *err, size_t errlen)
{
    porra_db_t *db = *dbp, *nd = db;
    if (!db->transient) {
        if ((nd = malloc(sizeof(*nd))) == NULL)
            return porra_fail(err, errlen, "out of memory");
        /* field by field: readers holding db change its refs meanwhile */
        *nd = (porra_db_t){.refs = 1,
                           .next_seq = db->next_seq,
                           .clock = db->clock,
                           .nbets = db->nbets,
                           .by_id = pmap_share(&db->by_id),
                           .by_seq = pmap_share(&db->by_seq)};
    }
    uint64_t clock = nd->clock;
    nd->clock = at != 0 ? at : clock + 1;
    if (apply_to(nd, c, err, errlen) != 0) {
        nd->clock = clock; /* a transient db stays as it was: no pool took the new number */
        if (nd != db)
            porra_db_release(nd);
        return -1;
    }
    if (nd->clock < clock)
        nd->clock = clock;
    if (nd != db) {
        porra_db_release(db);
        *dbp = nd;
    }
    return 0;
}

int porra_db_apply(porra_db_t **dbp, const porra_change_t *c, char *err, size_t errlen)
{
    return apply_numbered(dbp, c, 0, err, errlen);
}

int porra_db_apply_at(porra_db_t **dbp, const porra_change_t *c, uint64_t at, char *err, size_t errlen)
{
    return apply_numbered(dbp, c, at != 0 ? at : 1, err, errlen);
}
