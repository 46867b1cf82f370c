/* The shared state's life: versions, publication when tickets are decided, opening the store
 * and replaying it, and what compaction snapshots. The operations are in ops.c. */
#include "app/app_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmap/pmap.h"
#include "pvec/pvec.h"

app_version_t *app_version_new(porra_db_t *porras, hito_db_t *hitos)
{
    app_version_t *v = malloc(sizeof(*v));
    if (v == NULL) {
        porra_db_release(porras);
        hito_db_release(hitos);
        return NULL;
    }
    *v = (app_version_t){.refs = 1, .porras = porras, .hitos = hitos};
    return v;
}

app_version_t *app_version_ref(app_version_t *v)
{
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

void app_version_release(app_version_t *v)
{
    if (v == NULL || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    porra_db_release(v->porras);
    hito_db_release(v->hitos);
    free(v);
}

app_version_t *app_acquire(app_t *a)
{
    pthread_spin_lock(&a->pub_lock);
    app_version_t *v = app_version_ref(a->published);
    pthread_spin_unlock(&a->pub_lock);
    return v;
}

void app_publish(app_t *a, app_version_t *v)
{
    pthread_spin_lock(&a->pub_lock);
    app_version_t *old = a->published;
    a->published = v;
    pthread_spin_unlock(&a->pub_lock);
    app_version_release(old); /* perhaps the last reference: freed here, not under the lock */
}

/* The ledger decided every ticket <= upto (on the committer thread, before the server hears).
 * Versions older than the newest one covered are released under the pending lock: each differs
 * from the next by the few nodes one change copied, so that frees little. */
static void on_decided(void *ctx, uint64_t upto, ticket_state_t fate)
{
    app_t *a = ctx;
    app_version_t *newest = NULL;
    if (fate == TICKET_LOST) /* the head holds the lost changes: back to what is durable */
        pthread_mutex_lock(&a->writer);
    pthread_mutex_lock(&a->pending_lock);
    while (a->pcount > 0 && (fate == TICKET_LOST || a->pending[a->pfirst].ticket <= upto)) {
        app_version_release(newest);
        newest = a->pending[a->pfirst].v;
        a->pfirst = (a->pfirst + 1) % a->pcap, a->pcount--;
    }
    pthread_mutex_unlock(&a->pending_lock);
    if (fate == TICKET_DURABLE) {
        if (newest != NULL)
            app_publish(a, newest);
        return;
    }
    app_version_release(newest);
    app_version_t *lost = a->head;
    a->head = app_acquire(a);
    pthread_mutex_unlock(&a->writer);
    app_version_release(lost);
}

app_version_t *app_state_load(const char *hitos_file, char *err, size_t errlen)
{
    hito_db_t *h = hito_db_load(hitos_file, err, errlen);
    porra_db_t *p = h != NULL ? porra_db_new() : NULL;
    if (h != NULL && p == NULL)
        snprintf(err, errlen, "out of memory");
    return h != NULL && p != NULL ? app_version_new(p, h) : (hito_db_release(h), NULL);
}

int app_apply_record(app_version_t *v, const char *rec, size_t len, char *err, size_t errlen)
{
    int op = len > 0 ? (unsigned char)rec[0] : -1;
    if (op >= PORRA_OP_FIRST && op <= PORRA_OP_LAST) {
        porra_change_t c;
        return porra_change_decode(rec, len, &c, err, errlen) == 0 ? porra_db_apply(&v->porras, &c, err, errlen) : -1;
    }
    if (op == HITO_OP_ADD) {
        hito_change_t c;
        if (hito_change_decode(rec, len, &c, err, errlen) != 0)
            return -1;
        if (hito_from_file(v->hitos, c.file)) {
            snprintf(err, errlen,
                     "the milestone \"%s\", added with POST /hitos, is now in HITOS_FILE too: "
                     "take it out of the file (the added one keeps its index)",
                     c.file);
            return -2;
        }
        return hito_db_apply(&v->hitos, &c, err, errlen) >= 0 ? 0 : -1;
    }
    if (op == '{')
        return app_apply_legacy(v, rec, len, err, errlen);
    snprintf(err, errlen, "unknown record (first byte 0x%02x)", op < 0 ? 0 : (unsigned)op);
    return -1;
}

int app_dump_version(app_version_t *v, store_emit_t emit, void *ectx)
{
    return hito_dump(v->hitos, emit, ectx) == 0 && porra_dump(v->porras, emit, ectx) == 0 ? 0 : -1;
}

/* ---- the store's callbacks ---- */

static int replay(void *ctx, const char *rec, size_t len, char *err, size_t errlen)
{
    app_t *a = ctx;
    int rc = app_apply_record(a->head, rec, len, err, errlen);
    if (rc == -2 && a->conflict[0] == '\0') /* not damage: the milestones file changed */
        snprintf(a->conflict, sizeof(a->conflict), "%s", err);
    return rc < 0 ? -1 : 0;
}

static void store_warn(void *ctx, const char *msg)
{
    app_t *a = ctx;
    if (a->o.warn != NULL)
        a->o.warn(msg);
}

static void store_info(void *ctx, const char *msg)
{
    app_t *a = ctx;
    if (a->o.info != NULL)
        a->o.info(msg);
}

/* The published version; before app_open publishes one (an upgrade inside store_open, or a
 * compaction the store starts as it opens, on the committer), the head: the whole state replayed,
 * every record of it durable. Under the publish lock, which app_open takes to publish. */
static void *freeze(void *ctx)
{
    app_t *a = ctx;
    pthread_spin_lock(&a->pub_lock);
    app_version_t *v = app_version_ref(a->published != NULL ? a->published : a->head);
    pthread_spin_unlock(&a->pub_lock);
    return v;
}

static int dump(void *ctx, void *frozen, store_emit_t emit, void *ectx)
{
    (void)ctx;
    return app_dump_version(frozen, emit, ectx);
}

static void thaw(void *ctx, void *frozen)
{
    (void)ctx;
    app_version_release(frozen);
}

app_t *app_open(const app_opts_t *opts, int *bad_input, store_error_t *e)
{
    app_t *a = calloc(1, sizeof(*a));
    *e = (store_error_t){.offset = -1};
    *bad_input = 1;
    if (a == NULL || (a->ledger = ticket_ledger_new()) == NULL) {
        snprintf(e->problem, sizeof(e->problem), "out of memory");
        free(a);
        return NULL;
    }
    a->o = *opts;
    app_set_limits(a, &opts->limits);
    if ((a->hitos_file = strdup(opts->hitos_file != NULL ? opts->hitos_file : "")) == NULL) {
        snprintf(e->problem, sizeof(e->problem), "out of memory");
        ticket_ledger_free(a->ledger);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->writer, NULL);
    pthread_mutex_init(&a->pending_lock, NULL);
    pthread_spin_init(&a->pub_lock, PTHREAD_PROCESS_PRIVATE);
    ticket_listen(a->ledger, on_decided, a);
    if ((a->head = app_state_load(a->hitos_file, e->problem, sizeof(e->problem))) == NULL) {
        app_close(a);
        return NULL;
    }
    *bad_input = 0;
    if (opts->etcd != NULL) {
        app_version_release(a->head);
        a->head = NULL;
        if (app_remote_open(a, e) != 0) {
            app_close(a);
            return NULL;
        }
        return a;
    }
    store_opts_t so = {.dir = opts->data_dir,
                       .compact_bytes = opts->compact_bytes,
                       .ledger = a->ledger,
                       .replay = replay,
                       .warn = store_warn,
                       .info = store_info,
                       .freeze = freeze,
                       .dump = dump,
                       .thaw = thaw,
                       .ctx = a};
    a->store = store_open(&so, e);
    if (a->store == NULL) {
        if (a->conflict[0] != '\0') { /* the milestones file, not the store, is at fault: exit 2 */
            *bad_input = 1;
            *e = (store_error_t){.offset = -1};
            snprintf(e->file, sizeof(e->file), "%s", a->hitos_file);
            snprintf(e->problem, sizeof(e->problem), "%s", a->conflict);
        }
        app_close(a);
        return NULL;
    }
    porra_db_seal(a->head->porras);
    hito_db_seal(a->head->hitos);
    pthread_spin_lock(&a->pub_lock); /* the committer may be freezing already */
    a->published = app_version_ref(a->head);
    pthread_spin_unlock(&a->pub_lock);
    return a;
}

ticket_ledger_t *app_ledger(app_t *a)
{
    return a->ledger;
}

int app_writable(app_t *a)
{
    return a->remote != NULL ? app_remote_reachable(a, NULL) : store_writable(a->store);
}

int app_remote(const app_t *a)
{
    return a->remote != NULL;
}

uint32_t app_epoch(const app_t *a)
{
    return a->epoch;
}

void app_set_limits(app_t *a, const app_limits_t *l)
{
    __atomic_store_n(&a->limits.pools, l->pools, __ATOMIC_RELAXED);
    __atomic_store_n(&a->limits.bets_per_pool, l->bets_per_pool, __ATOMIC_RELAXED);
    __atomic_store_n(&a->limits.hitos, l->hitos, __ATOMIC_RELAXED);
}

void app_stats(app_t *a, app_stats_t *out)
{
    app_version_t *v = app_acquire(a);
    out->porras = porra_count(v->porras);
    out->apuestas = porra_bets_total(v->porras);
    out->hitos = hito_count(v->hitos);
    app_version_release(v);
    out->remote = a->remote != NULL;
    if (a->remote != NULL) {
        out->store = (store_stats_t){.writable = app_writable(a)};
        app_remote_stats(a->remote, &out->view_revision, &out->view_lag);
    } else {
        store_stats(a->store, &out->store);
    }
    pthread_mutex_lock(&a->pending_lock);
    out->pending = a->pcount;
    pthread_mutex_unlock(&a->pending_lock);
    out->nodes = pmap_nodes_live() + pvec_nodes_live();
}

void app_close(app_t *a)
{
    if (a == NULL)
        return;
    app_remote_close(a);
    store_close(a->store); /* decides every ticket: the pending list empties */
    for (; a->pcount > 0; a->pcount--, a->pfirst = (a->pfirst + 1) % a->pcap)
        app_version_release(a->pending[a->pfirst].v);
    free(a->pending);
    app_version_release(a->head);
    app_version_release(a->published);
    ticket_ledger_free(a->ledger);
    free(a->hitos_file);
    pthread_mutex_destroy(&a->writer);
    pthread_mutex_destroy(&a->pending_lock);
    pthread_spin_destroy(&a->pub_lock);
    free(a);
}
