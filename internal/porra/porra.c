/* The pools as versions: making, sharing and freeing them, finding a pool, and the plans that
 * check a request against a version. Applying a change is in apply.c, listing and dumping in
 * list.c. */
#include "porra/porra_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const porra_seg_names[4] = {"local", "visitante", "competition", "year"};

int porra_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- idents and pool versions ---- */

porra_ident_t *porra_ident_new(const char *const segs[4], uint64_t seq)
{
    size_t n[4], total = 0;
    for (int k = 0; k < 4; k++)
        total += 2 * ((n[k] = strlen(segs[k])) + 1);
    porra_ident_t *id = calloc(1, sizeof(*id) + total);
    if (id == NULL)
        return NULL;
    id->refs = 1, id->seq = seq;
    char *p = id->id + snprintf(id->id, total, "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]) + 1;
    for (int k = 0; k < 4; k++) {
        memcpy(p, segs[k], n[k] + 1);
        id->seg[k] = p;
        p += n[k] + 1;
    }
    return id;
}

static void ident_unref(porra_ident_t *id)
{
    if (__atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        arena_free(&id->names);
        free(id);
    }
}

static porra_t *pool_ref(porra_t *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void porra_pool_unref(porra_t *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pvec_release(&p->bets);
    pmap_release(&p->by_quien, &porra_by_quien_ops);
    ident_unref(p->ident);
    free(p->json);
    free(p);
}

static void id_retain(uint64_t k, uint64_t v)
{
    (void)k, __atomic_add_fetch(&((porra_ident_t *)v)->refs, 1, __ATOMIC_RELAXED);
}
static void id_release(uint64_t k, uint64_t v)
{
    (void)k, ident_unref((porra_ident_t *)v);
}
static void seq_retain(uint64_t k, uint64_t v)
{
    (void)k, pool_ref((porra_t *)v);
}
static void seq_release(uint64_t k, uint64_t v)
{
    (void)k, porra_pool_unref((porra_t *)v);
}

const pmap_ops_t porra_by_id_ops = {pmap_cmp_str, id_retain, id_release, NULL};
const pmap_ops_t porra_by_seq_ops = {pmap_cmp_u64, seq_retain, seq_release, free}; /* caches: chunks */
const pmap_ops_t porra_by_quien_ops = {pmap_cmp_str, NULL, NULL, NULL};            /* names live in the ident's arena */

porra_db_t *porra_db_new(void)
{
    porra_db_t *db = calloc(1, sizeof(*db));
    if (db != NULL)
        db->refs = 1, db->transient = 1, db->next_seq = 1;
    return db;
}

void porra_db_seal(porra_db_t *db)
{
    db->transient = 0;
}

porra_db_t *porra_db_ref(porra_db_t *db)
{
    __atomic_add_fetch(&db->refs, 1, __ATOMIC_RELAXED);
    return db;
}

void porra_db_release(porra_db_t *db)
{
    if (db == NULL || __atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pmap_release(&db->by_id, &porra_by_id_ops);
    pmap_release(&db->by_seq, &porra_by_seq_ops);
    free(db);
}

size_t porra_count(const porra_db_t *db)
{
    return db->by_seq.count;
}
size_t porra_bets_total(const porra_db_t *db)
{
    return db->nbets;
}
size_t porra_bets(const porra_t *p)
{
    return p->by_quien.count;
}
const char *porra_id(const porra_t *p)
{
    return p->ident->id;
}
uint64_t porra_version(const porra_t *p)
{
    return p->version;
}
uint64_t porra_created(const porra_t *p)
{
    return p->ident->created;
}
uint64_t porra_db_version(const porra_db_t *db)
{
    return db->clock;
}

int porra_bet_of(const porra_t *p, const char *quien, int *local, int *visitante)
{
    uint64_t index;
    if (!pmap_get(&p->by_quien, &porra_by_quien_ops, (uintptr_t)quien, &index))
        return 0;
    pvec_entry_t e = pvec_get(&p->bets, index);
    *local = PORRA_BET_L(e), *visitante = PORRA_BET_V(e);
    return 1;
}

int porra_result_of(const porra_t *p, int *local, int *visitante)
{
    *local = p->rl, *visitante = p->rv;
    return p->rl >= 0;
}

const porra_t *porra_find(const porra_db_t *db, const char *id)
{
    uint64_t ident, pool;
    if (id == NULL || !pmap_get(&db->by_id, &porra_by_id_ops, (uintptr_t)id, &ident) ||
        !pmap_get(&db->by_seq, &porra_by_seq_ops, ((porra_ident_t *)ident)->seq, &pool))
        return NULL;
    return (const porra_t *)pool;
}

/* ---- plans ---- */

int porra_seg_check(const char *name, const char *s, int allow_dash, char *err, size_t errlen)
{
    char why[96];
    return porra_segment_ok(s, allow_dash, why, sizeof(why)) ? 0 : porra_fail(err, errlen, "%s: %s", name, why);
}

/* Checks the four segments, naming the first bad one, and joins them into id. */
int porra_make_id(char id[PORRA_ID_MAX + 1], const char *const segs[4], char *err, size_t errlen)
{
    for (int k = 0; k < 4; k++)
        if (porra_seg_check(porra_seg_names[k], segs[k], 0, err, errlen) != 0)
            return -1;
    snprintf(id, PORRA_ID_MAX + 1, "%s-%s-%s-%s", segs[0], segs[1], segs[2], segs[3]);
    return 0;
}

int porra_goals_check(int local, int visitante, char *err, size_t errlen)
{
    if (local < 0 || local > PORRA_GOALS_MAX)
        return porra_fail(err, errlen, "local: " PORRA_GOALS_RULE);
    if (visitante < 0 || visitante > PORRA_GOALS_MAX)
        return porra_fail(err, errlen, "visitante: " PORRA_GOALS_RULE);
    return 0;
}

porra_status_t porra_plan_create(const porra_db_t *db, const char *local, const char *visitante, const char *competition,
                                 const char *year, porra_change_t *c, char *err, size_t errlen)
{
    char id[PORRA_ID_MAX + 1];
    *c = (porra_change_t){.op = PORRA_OP_CREATE, .seg = {local, visitante, competition, year}};
    if (porra_make_id(id, c->seg, err, errlen) != 0)
        return PORRA_INVALID;
    return porra_find(db, id) != NULL ? PORRA_OK : PORRA_CREATED;
}

porra_status_t porra_plan_delete(const porra_db_t *db, const char *id, porra_change_t *c)
{
    *c = (porra_change_t){.op = PORRA_OP_DELETE, .id = id};
    return porra_find(db, id) != NULL ? PORRA_OK : PORRA_NOT_FOUND;
}

porra_status_t porra_plan_bet(const porra_db_t *db, const char *id, const char *quien, int local, int visitante, porra_change_t *c,
                              char *err, size_t errlen)
{
    *c = (porra_change_t){.op = PORRA_OP_BET, .id = id, .quien = quien, .local = local, .visitante = visitante};
    if (porra_seg_check("quien", quien, 1, err, errlen) != 0 || porra_goals_check(local, visitante, err, errlen) != 0)
        return PORRA_INVALID;
    const porra_t *p = porra_find(db, id);
    if (p == NULL) {
        porra_fail(err, errlen, "no pool with that ID");
        return PORRA_NOT_FOUND;
    }
    if (p->rl >= 0) {
        porra_fail(err, errlen, "betting is closed: the result is set");
        return PORRA_CLOSED;
    }
    return pmap_get(&p->by_quien, &porra_by_quien_ops, (uintptr_t)quien, NULL) ? PORRA_OK : PORRA_CREATED;
}

porra_status_t porra_plan_result(const porra_db_t *db, const char *id, int local, int visitante, porra_change_t *c, char *err,
                                 size_t errlen)
{
    *c = (porra_change_t){.op = PORRA_OP_RESULT, .id = id, .local = local, .visitante = visitante};
    if (porra_goals_check(local, visitante, err, errlen) != 0)
        return PORRA_INVALID;
    if (porra_find(db, id) == NULL) {
        porra_fail(err, errlen, "no pool with that ID");
        return PORRA_NOT_FOUND;
    }
    return PORRA_OK;
}
