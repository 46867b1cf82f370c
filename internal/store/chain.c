/* The chain of files (docs/store.md, "The chain of files"): listing DATA_DIR and walking it
 * strictly, as store_open and a STRICT scan do. Nothing here changes a file. */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push_gen(uint64_t **v, size_t *n, uint64_t g)
{
    uint64_t *nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[(*n)++] = g;
    return 0;
}

static int cmp_gen(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

int st_list(int dirfd, st_listing_t *ls)
{
    memset(ls, 0, sizeof(*ls));
    DIR *d = st_opendir(dirfd);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        int snap;
        uint64_t g;
        if (st_parse_name(n, &snap, &g)) {
            if (g == 0)
                snprintf(ls->gen0, sizeof(ls->gen0), "%.39s", n);
            else
                rc = snap ? push_gen(&ls->snap, &ls->nsnap, g) : push_gen(&ls->jour, &ls->njour, g);
        } else if ((strncmp(n, "journal-", 8) == 0 || strncmp(n, "snapshot-", 9) == 0) && ends_with(n, ".tmp")) {
            char **nt = realloc(ls->tmp, (ls->ntmp + 1) * sizeof(*nt));
            if (nt == NULL || (nt[ls->ntmp] = strdup(n)) == NULL)
                rc = -1;
            if (nt != NULL)
                ls->tmp = nt, ls->ntmp += rc == 0;
        } else {
            ls->v1_journal |= strcmp(n, "journal") == 0;
            ls->v1_snapshot |= strcmp(n, "snapshot") == 0;
            ls->v1_next |= strcmp(n, "journal.next") == 0;
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = -1;
    int err = errno;
    closedir(d);
    if (ls->nsnap > 1)
        qsort(ls->snap, ls->nsnap, sizeof(*ls->snap), cmp_gen);
    if (ls->njour > 1)
        qsort(ls->jour, ls->njour, sizeof(*ls->jour), cmp_gen);
    if (rc != 0) {
        st_listing_free(ls);
        errno = err != 0 ? err : ENOMEM;
    }
    return rc;
}

void st_listing_free(st_listing_t *ls)
{
    for (size_t i = 0; i < ls->ntmp; i++)
        free(ls->tmp[i]);
    free(ls->tmp);
    free(ls->snap);
    free(ls->jour);
    memset(ls, 0, sizeof(*ls));
}

static int has_gen(const uint64_t *v, size_t n, uint64_t g)
{
    return n > 0 && bsearch(&g, v, n, sizeof(*v), cmp_gen) != NULL;
}

int st_v1_in_force(const st_listing_t *ls)
{
    return (ls->v1_journal || ls->v1_snapshot) &&
           (ls->nsnap + ls->njour == 0 || (ls->njour == 0 && ls->nsnap == 1 && ls->snap[0] == 1));
}

uint64_t st_majority_id(const uint64_t *ids, size_t n)
{
    size_t best = 0, votes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t v = 0;
        for (size_t j = 0; j < n; j++)
            v += ids[j] == ids[i];
        if (v > votes)
            best = i, votes = v;
    }
    return n > 0 ? ids[best] : 0;
}

/* A walk in progress. */
typedef struct {
    int dirfd;
    const char *dir;
    const store_scan_cb_t *cb;
    st_chain_t *c;
    store_error_t *e;
} walk_t;

static int damage(walk_t *w, const char *name, long long off, const char *what)
{
    snprintf(w->c->bad, sizeof(w->c->bad), "%s", name);
    st_error(w->e, 1, w->dir, name, off, "%s", what);
    return -1;
}

static int read_error(walk_t *w, const char *name)
{
    snprintf(w->c->bad, sizeof(w->c->bad), "%s", name);
    st_error(w->e, 0, w->dir, name, -1, "cannot read: %s", strerror(errno));
    return -1;
}

/* Passes the records of b[from..end) to cb->record. Returns the offset where they stop verifying
 * (end when all did; *fr says why not), or -1 when a record does not apply (damage reported). */
static long long records(walk_t *w, const char *name, const st_file_t *f, size_t from, size_t end, int v1, uint64_t *count,
                         st_frame_t *fr)
{
    size_t off = from, len = 0;
    char err[256];
    while (off < end && (*fr = st_frame_at(f->b, end, off, v1, &len)) == FR_OK) {
        err[0] = '\0';
        if (w->cb->record != NULL &&
            w->cb->record(w->cb->ctx, name, (long long)off, (const char *)f->b + off + FRAME_LEN, len, err, sizeof(err)) != 0) {
            char what[400];
            snprintf(what, sizeof(what), "record does not apply: %s", err[0] != '\0' ? err : "refused");
            return damage(w, name, (long long)off, what);
        }
        off += FRAME_LEN + len;
        (*count)++;
    }
    return (long long)off;
}

/* A snapshot: verified whole (trailer, counts, checksum) before any record is replayed. */
static int walk_snapshot(walk_t *w, const char *name, const st_file_t *f)
{
    char what[400];
    long long off;
    uint64_t n = 0;
    st_frame_t fr = FR_OK;
    if (st_snapshot_check(f->b, f->size, &off, what, sizeof(what)) != 0)
        return damage(w, name, off, what);
    if (records(w, name, f, HEADER_LEN, f->size - TRAILER_LEN, 0, &n, &fr) < 0)
        return -1;
    w->c->records += n;
    return 0;
}

/* A journal (or the first format's, v1): its records; a torn tail only where tail_ok. */
static int walk_journal(walk_t *w, const char *name, const st_file_t *f, size_t from, int v1, int tail_ok, uint64_t *kept)
{
    uint64_t n = 0;
    st_frame_t fr = FR_OK;
    long long off = records(w, name, f, from, f->size, v1, &n, &fr);
    if (off < 0)
        return -1;
    w->c->records += n;
    *kept = (uint64_t)off;
    if ((size_t)off == f->size)
        return 0;
    if (!tail_ok || !st_torn(f->b, f->size, (size_t)off, v1)) {
        char what[400];
        st_frame_problem(f->b, f->size, (size_t)off, v1, fr, what, sizeof(what));
        return damage(w, name, off, what);
    }
    snprintf(w->c->torn, sizeof(w->c->torn), "%s", name);
    w->c->torn_at = (uint64_t)off;
    w->c->torn_size = f->size;
    if (w->cb->problem != NULL)
        w->cb->problem(w->cb->ctx, name, off, 1, (long long)(f->size - (size_t)off), "torn tail");
    return 0;
}

/* Reads a file whole and walks it, between the file and file_done callbacks; *kept: the length
 * of its whole records (all of it for a snapshot). */
static int walk_file(walk_t *w, const char *name, uint64_t gen, int snapshot, int v1, int tail_ok, uint64_t *kept)
{
    st_file_t f;
    uint64_t before = w->c->records;
    if (w->cb->file != NULL)
        w->cb->file(w->cb->ctx, name, v1 ? 0 : gen, snapshot);
    if (st_read_file(w->dirfd, name, &f) != 0)
        return read_error(w, name);
    int rc;
    *kept = f.size;
    if (v1) {
        const char *magic = snapshot ? MAGIC_V1_SNAPSHOT : MAGIC_V1_JOURNAL;
        if (f.size < V1_HEADER_LEN || memcmp(f.b, magic, 8) != 0)
            rc = damage(w, name, 0, f.size < V1_HEADER_LEN ? "header is cut short" : "header's magic is wrong");
        else
            rc = walk_journal(w, name, &f, V1_HEADER_LEN, 1, tail_ok, kept);
    } else if (f.size < HEADER_LEN) { /* shrank since its header was read: a scan of a store in use */
        rc = damage(w, name, 0, "header is cut short");
    } else if (snapshot) {
        rc = walk_snapshot(w, name, &f);
    } else {
        rc = walk_journal(w, name, &f, HEADER_LEN, 0, tail_ok, kept);
    }
    if (rc == 0 && w->cb->file_done != NULL)
        w->cb->file_done(w->cb->ctx, name, w->c->records - before, f.size);
    free(f.b);
    return rc;
}

/* The first format: `snapshot`, then `journal` unless its generation is older (stale). */
static int walk_v1(walk_t *w)
{
    uint64_t sgen = 0, kept;
    int stale;
    w->c->kind = CHAIN_V1;
    if (w->c->ls.v1_snapshot) {
        if (st_v1_snapshot_gen(w->dirfd, &sgen) != 0)
            return read_error(w, "snapshot");
        if (walk_file(w, "snapshot", 0, 1, 1, 0, &kept) != 0)
            return -1;
    }
    if (!w->c->ls.v1_journal)
        return 0;
    if ((stale = st_v1_journal_stale(w->dirfd, sgen)) < 0)
        return read_error(w, "journal");
    if (stale)
        return 0; /* the snapshot holds it already: a compaction was cut short */
    return walk_file(w, "journal", 0, 0, 1, 1, &kept);
}

/* Checks the header of one file; collects its id. */
static int check_header(walk_t *w, int snapshot, uint64_t gen, uint64_t *id)
{
    char name[NAME_LEN], why[200];
    off_t size;
    st_name(name, snapshot, gen);
    int rc = st_header_read(w->dirfd, snapshot, gen, id, &size, why, sizeof(why));
    return rc == 0 ? 0 : rc < 0 ? read_error(w, name) : damage(w, name, 0, why);
}

/* Every file's header, the chain's files first; every id must be the one most of them hold. */
static int check_headers(walk_t *w, uint64_t first)
{
    st_chain_t *c = w->c;
    size_t n = c->ls.nsnap + c->ls.njour, k = 0;
    uint64_t *ids = calloc(n, sizeof(*ids));
    struct {
        int snap;
        uint64_t gen;
    } *order = calloc(n, sizeof(*order));
    if (ids == NULL || order == NULL) {
        free(ids);
        free(order);
        st_error(w->e, 0, w->dir, NULL, -1, "out of memory");
        return -1;
    }
    if (c->S > 0)
        order[k].snap = 1, order[k++].gen = c->S;
    for (size_t i = 0; i < c->ls.njour; i++)
        if (c->ls.jour[i] >= first)
            order[k++].gen = c->ls.jour[i];
    for (size_t i = 0; i < c->ls.nsnap; i++)
        if (c->ls.snap[i] < c->S)
            order[k].snap = 1, order[k++].gen = c->ls.snap[i];
    for (size_t i = 0; i < c->ls.njour; i++)
        if (c->ls.jour[i] < first)
            order[k++].gen = c->ls.jour[i];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = check_header(w, order[i].snap, order[i].gen, &ids[i]);
    uint64_t id = rc == 0 ? st_majority_id(ids, n) : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ids[i] == id)
            continue;
        char name[NAME_LEN], what[200];
        st_name(name, order[i].snap, order[i].gen);
        snprintf(what, sizeof(what), "belongs to another store (store id %016" PRIx64 "; the others have %016" PRIx64 ")", ids[i],
                 id);
        rc = damage(w, name, 16, what);
    }
    if (rc == 0)
        c->id = id;
    free(ids);
    free(order);
    return rc;
}

static int missing(walk_t *w, int snapshot, uint64_t gen, uint64_t from)
{
    char name[NAME_LEN], what[200];
    st_name(name, snapshot, gen);
    if (snapshot)
        snprintf(what, sizeof(what), "%s is missing: journal-%016" PRIx64 " starts from it", name, from);
    else
        snprintf(what, sizeof(what), "%s is missing", name);
    return damage(w, name, -1, what);
}

static int walk_v2(walk_t *w)
{
    st_chain_t *c = w->c;
    st_listing_t *ls = &c->ls;
    char name[NAME_LEN];
    c->kind = CHAIN_V2;
    c->S = ls->nsnap > 0 ? ls->snap[ls->nsnap - 1] : 0;
    c->J = ls->njour > 0 ? ls->jour[ls->njour - 1] : 0;
    uint64_t first = c->S > 0 ? c->S : 1, kept;
    c->low = ls->njour > 0 && ls->jour[0] < first ? ls->jour[0] : first;
    if (ls->nsnap > 0 && ls->snap[0] < c->low)
        c->low = ls->snap[0];
    if (check_headers(w, first) != 0)
        return -1;

    if (c->S == 0 && ls->jour[0] > 1)
        return missing(w, 1, ls->jour[0], ls->jour[0]);
    if (c->J < first)
        return missing(w, 0, first, 0);
    for (uint64_t g = first; g <= c->J; g++)
        if (!has_gen(ls->jour, ls->njour, g))
            return missing(w, 0, g, 0);

    /* the newest journal holding anything after its header may end in a torn tail */
    size_t j0 = 0, tail;
    while (ls->jour[j0] < first) /* older leftovers: journals first .. J are all there */
        j0++;
    if (st_tail_journal(w->dirfd, ls->jour + j0, ls->njour - j0, c->id, 1, &tail) != 0) {
        st_name(name, 0, ls->jour[j0 + tail]);
        return read_error(w, name);
    }
    if (c->S > 0) {
        st_name(name, 1, c->S);
        if (walk_file(w, name, c->S, 1, 0, 0, &c->snap_bytes) != 0)
            return -1;
    }
    for (uint64_t g = first; g <= c->J; g++) {
        st_name(name, 0, g);
        if (walk_file(w, name, g, 0, 0, g == ls->jour[j0 + tail], &kept) != 0)
            return -1;
        if (g == c->J)
            c->cur_bytes = kept;
        else
            c->prev_bytes += kept;
    }
    return 0;
}

int st_walk(int dirfd, const char *dir, const store_scan_cb_t *cb, st_chain_t *c, store_error_t *e)
{
    static const store_scan_cb_t none;
    walk_t w = {dirfd, dir, cb != NULL ? cb : &none, c, e};
    memset(c, 0, sizeof(*c));
    if (st_list(dirfd, &c->ls) != 0) {
        st_error(e, 0, dir, NULL, -1, "cannot list DATA_DIR %s: %s", dir, strerror(errno));
        return -1;
    }
    const st_listing_t *ls = &c->ls;
    if (ls->gen0[0] != '\0')
        return damage(&w, ls->gen0, 0, "generation 0 does not exist: the chain starts at 1");
    if (st_v1_in_force(ls)) {
        c->redo_upgrade = ls->nsnap > 0; /* snapshot-1 alone: the upgrade stopped before journal 1 */
        return walk_v1(&w);
    }
    if (ls->nsnap + ls->njour == 0)
        return 0;
    c->v1_left = ls->v1_journal || ls->v1_snapshot;
    return walk_v2(&w);
}
