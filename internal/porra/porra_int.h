/* What porra's own files share: the shapes of a version. Not for other modules. */
#ifndef PORRIO_PORRA_INT_H
#define PORRIO_PORRA_INT_H
#include "arena/arena.h"
#include "jsonw/jsonw.h"
#include "pmap/pmap.h"
#include "porra/porra.h"
#include "pvec/pvec.h"

/* What every version of one pool shares: who it is. Immutable once made, except the arena, to
 * which the writer adds bettors' names (a name never moves; see arena.h). */
typedef struct porra_ident {
    unsigned refs;
    uint64_t seq;       /* creation order */
    uint64_t created;   /* the db's clock when the pool was created */
    arena_t names;      /* the bettors' names */
    const char *seg[4]; /* point into id[] past the ID */
    char id[];          /* "local-visitante-competition-year\0local\0visitante\0competition\0year\0" */
} porra_ident_t;

/* One version of one pool. Bet i is bets[i]: a = (uintptr_t) its name in ident->names, b =
 * local | visitante << 8; by_quien maps each name to its index. json is filled once, by any
 * reader, with a compare-and-swap. */
struct porra {
    unsigned refs;
    porra_ident_t *ident;
    int rl, rv;       /* the result; rl < 0 when none */
    uint64_t version; /* the db's clock when this pool was created or last changed */
    pvec_t bets;
    pmap_t by_quien;
    jsonw_text_t *json;
};

/* One version of every pool: by_id maps an ID (the ident's id) to its ident; by_seq maps the
 * creation number to the pool's version. */
struct porra_db {
    unsigned refs;
    int transient;
    uint64_t next_seq;
    uint64_t clock; /* changes applied along this lineage of versions */
    size_t nbets;   /* bets in every pool together */
    pmap_t by_id;
    pmap_t by_seq;
};

extern const pmap_ops_t porra_by_id_ops, porra_by_seq_ops, porra_by_quien_ops;

#define PORRA_BET_L(e)     ((int)((e).b & 0xff))
#define PORRA_BET_V(e)     ((int)((e).b >> 8 & 0xff))
#define PORRA_BET_QUIEN(e) ((const char *)(uintptr_t)(e).a)

/* Shared by porra's files: */
extern const char *const porra_seg_names[4]; /* "local", "visitante", "competition", "year" */
/* printf into err (when err and errlen allow); returns -1. */
int porra_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A new ident (one reference) for a pool of those segments; NULL on OOM. */
porra_ident_t *porra_ident_new(const char *const segs[4], uint64_t seq);
/* Lets go of a pool version's reference; thread-safe. */
void porra_pool_unref(porra_t *p);
/* The rules, naming the field in err: a segment, the four segments joined into id, the goals. 0/-1. */
int porra_seg_check(const char *name, const char *s, int allow_dash, char *err, size_t errlen);
int porra_make_id(char id[PORRA_ID_MAX + 1], const char *const segs[4], char *err, size_t errlen);
int porra_goals_check(int local, int visitante, char *err, size_t errlen);

/* The goals rule's words, shared by the plans and the body parser. */
#define PORRA_GOALS_RULE "must be an integer from 0 to 99"

#endif
