/* STORE=etcd: the state kept in etcd under <ETCD_PREFIX>data/ (docs/store.md, "The state in
 * etcd"), and this replica's view of it: loaded at open, then fed by a watch on its own thread,
 * published a revision at a time. The writes, as transactions, are in remote_ops.c and remote_write.c. */
#include "app/app_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPEN_TRY_MS 10000 /* etcd may still be electing its leader when the replicas start */

/* ---- keys and values ---- */

int app_remote_vkey(const app_remote_t *r, char *out, size_t cap, const char *fmt, va_list ap)
{
    int n = snprintf(out, cap, "%s", r->data);
    int m = n >= 0 && (size_t)n < cap ? vsnprintf(out + n, cap - (size_t)n, fmt, ap) : -1;
    return m >= 0 && (size_t)(n + m) < cap ? 0 : -1;
}

int app_remote_key(const app_remote_t *r, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = app_remote_vkey(r, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

/* {"local": n, "visitante": m} into *l, *v: 0, or -1 when it is not such a value. */
static int goals_of(const json_t *j, int *l, int *v)
{
    const json_t *jl = json_object_get(j, "local"), *jv = json_object_get(j, "visitante");
    if (!json_is_integer(jl) || !json_is_integer(jv))
        return -1;
    *l = (int)json_integer_value(jl), *v = (int)json_integer_value(jv);
    return 0;
}

/* Applies one key of the data prefix (`rel`: the key after it) to the working dbs, numbered by
 * its mod_revision. Keys that are not the state's (hitofiles/, or anything else) are skipped.
 * 0; -1 with err when the value is malformed or the change does not apply. */
static int apply_key(app_remote_t *r, const char *rel, const char *value, int deleted, int64_t rev, char *err, size_t errlen)
{
    char id[PORRA_ID_MAX + 1];
    const char *slash;
    porra_change_t c = {0};
    json_error_t je;
    int rc = -1;
    if (strncmp(rel, "hitos/", 6) == 0) {
        if (deleted)
            return 0;
        json_t *j = json_loads(value, 0, &je);
        hito_change_t h = {json_string_value(json_object_get(j, "file")), json_string_value(json_object_get(j, "title")),
                           json_string_value(json_object_get(j, "fecha"))};
        unsigned long long slot = strtoull(rel + 6, NULL, 10);
        if (h.file == NULL || h.title == NULL || h.fecha == NULL)
            snprintf(err, errlen, "%s: not a milestone", rel);
        else if (hito_from_file(r->hitos, h.file))
            snprintf(err, errlen, "the milestone \"%s\", added with POST /hitos, is in HITOS_FILE too: take it out of the file",
                     h.file);
        else
            rc = hito_db_apply(&r->hitos, &h, err, errlen) >= 0 ? 0 : -1;
        if (slot + 1 > r->slots)
            r->slots = slot + 1; /* taken even when it did not apply: the next one goes after it */
        json_decref(j);
        return rc;
    }
    if (strncmp(rel, "pools/", 6) != 0)
        return 0;
    rel += 6;
    slash = strchr(rel, '/');
    size_t idlen = slash != NULL ? (size_t)(slash - rel) : strlen(rel);
    if (idlen > PORRA_ID_MAX) {
        snprintf(err, errlen, "pools/%.40s...: the ID is too long", rel);
        return -1;
    }
    memcpy(id, rel, idlen);
    id[idlen] = '\0';
    c.id = id;
    if (slash == NULL && deleted) {
        if (porra_find(r->porras, id) == NULL)
            return 0;
        c.op = PORRA_OP_DELETE;
        return porra_db_apply_at(&r->porras, &c, (uint64_t)rev, err, errlen);
    }
    if (deleted) /* a pool's keys go with it: the pool's own key, deleted first, says so */
        return 0;
    json_t *j = json_loads(value, 0, &je);
    if (slash == NULL) {
        c.op = PORRA_OP_CREATE;
        for (int k = 0; k < 4; k++)
            c.seg[k] = json_string_value(json_object_get(j, (const char *[]){"local", "visitante", "competition", "year"}[k]));
        char named[PORRA_ID_MAX + 2];
        if (c.seg[0] == NULL || c.seg[1] == NULL || c.seg[2] == NULL || c.seg[3] == NULL)
            c.op = -1;
        else if (snprintf(named, sizeof(named), "%s-%s-%s-%s", c.seg[0], c.seg[1], c.seg[2], c.seg[3]) < 0 ||
                 strcmp(named, id) != 0)
            c.op = -1; /* the key and its value must name the same pool, or its bets would find none */
    } else if (strncmp(slash, "/bets/", 6) == 0) {
        c.op = goals_of(j, &c.local, &c.visitante) == 0 ? PORRA_OP_BET : -1;
        c.quien = slash + 6;
    } else if (strcmp(slash, "/result") == 0) {
        c.op = goals_of(j, &c.local, &c.visitante) == 0 ? PORRA_OP_RESULT : -1;
    } else {
        json_decref(j);
        return 0;
    }
    if (c.op < 0)
        snprintf(err, errlen, "pools/%s: malformed value", rel);
    else
        rc = porra_db_apply_at(&r->porras, &c, (uint64_t)rev, err, errlen);
    json_decref(j);
    return rc;
}

/* A key the view could not take: said once per key, for the operator; the view goes on. */
static void skipped(app_t *a, const char *key, const char *why)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "etcd key %s skipped: %s", key, why);
    if (a->o.warn != NULL)
        a->o.warn(msg);
}

/* ---- the view ---- */

/* Takes out of r's waits (r locked) those that end: the view reached their revision, or their
 * time is up (now; 0: none is), or all. */
static app_later_t *ending(app_remote_t *r, int64_t now, int all)
{
    app_later_t *out = NULL;
    for (app_later_t **l = &r->laters; *l != NULL;) {
        app_later_t *x = *l;
        if (all || x->rev <= r->rev || (now > 0 && x->deadline <= now)) {
            *l = x->next;
            x->next = out, out = x;
        } else {
            l = &x->next;
        }
    }
    return out;
}

/* Calls the waits of list (taken by ending) outside r's lock: shown when the view, at revision
 * rev, reached theirs. */
static void call_laters(app_later_t *list, int64_t rev)
{
    while (list != NULL) {
        app_later_t *next = list->next;
        list->cb(list, list->rev <= rev);
        list = next;
    }
}

/* Makes the working dbs the published version at revision rev, and calls the waits it ends. */
static void publish_at(app_t *a, int64_t rev)
{
    app_remote_t *r = a->remote;
    app_version_t *v = app_version_new(porra_db_ref(r->porras), hito_db_ref(r->hitos));
    if (v == NULL)
        return; /* out of memory: the next revision publishes */
    v->hito_slots = r->slots;
    app_publish(a, v);
    pthread_mutex_lock(&r->lock);
    if (rev > r->rev)
        r->rev = rev;
    if (rev > r->seen)
        r->seen = rev;
    app_later_t *ready = ending(r, 0, 0);
    rev = r->rev;
    pthread_mutex_unlock(&r->lock);
    call_laters(ready, rev);
}

void app_remote_when(app_remote_t *r, app_later_t *l, int64_t rev, int acked, int timeout_ms, void (*cb)(app_later_t *l, int shown))
{
    l->rev = rev, l->cb = cb, l->deadline = etcd_clock_ms() + timeout_ms;
    pthread_mutex_lock(&r->lock);
    if (acked && rev > r->seen)
        r->seen = rev;
    int shown = r->rev >= rev, over = !shown && atomic_load(&r->stop); /* no watch left to end it */
    if (!shown && !over)
        l->next = r->laters, r->laters = l;
    pthread_mutex_unlock(&r->lock);
    if (shown || over)
        cb(l, shown);
}

/* Ends the waits whose time is up, or all of them when the view stops for good. */
static void expire_laters(app_remote_t *r, int all)
{
    pthread_mutex_lock(&r->lock);
    app_later_t *late = ending(r, etcd_clock_ms(), all);
    int64_t rev = r->rev;
    pthread_mutex_unlock(&r->lock);
    call_laters(late, rev);
}

static int by_creation(const void *x, const void *y)
{
    const etcd_kv_t *a = x, *b = y;
    return a->create_revision != b->create_revision ? (a->create_revision < b->create_revision ? -1 : 1) : strcmp(a->key, b->key);
}

/* Replaces the working dbs with the state of kvs (the whole data prefix at one revision): keys in
 * the order they were created, which is the order of pools, bets and milestones. */
static int load_all(app_t *a, etcd_kv_t *kvs, size_t n, char *err, size_t errlen)
{
    app_remote_t *r = a->remote;
    app_version_t *v = app_state_load(a->hitos_file, err, errlen);
    if (v == NULL)
        return -1;
    if (n > 1) /* an empty prefix gives kvs NULL, which qsort may not be given */
        qsort(kvs, n, sizeof(*kvs), by_creation);
    porra_db_release(r->porras), hito_db_release(r->hitos);
    r->porras = porra_db_ref(v->porras), r->hitos = hito_db_ref(v->hitos), r->slots = 0;
    app_version_release(v);
    for (size_t i = 0; i < n; i++) {
        char why[512];
        if (strncmp(kvs[i].key, r->data, r->dlen) == 0 &&
            apply_key(r, kvs[i].key + r->dlen, kvs[i].value, 0, kvs[i].mod_revision, why, sizeof(why)) != 0)
            skipped(a, kvs[i].key, why);
    }
    porra_db_seal(r->porras);
    hito_db_seal(r->hitos);
    return 0;
}

static void on_event(void *ctx, const etcd_event_t *ev)
{
    app_t *a = ctx;
    app_remote_t *r = a->remote;
    char why[512];
    if (strncmp(ev->key, r->data, r->dlen) == 0 &&
        apply_key(r, ev->key + r->dlen, ev->value, ev->deleted, ev->mod_revision, why, sizeof(why)) != 0)
        skipped(a, ev->key, why);
}

static void on_progress(void *ctx, int64_t events_revision, int64_t header_revision)
{
    app_t *a = ctx;
    (void)header_revision; /* the whole store's: other prefixes move it too */
    if (events_revision > a->remote->rev)
        publish_at(a, events_revision);
}

static void on_resync(void *ctx, const etcd_kv_t *kvs, size_t n, int64_t revision)
{
    app_t *a = ctx;
    char err[512];
    etcd_kv_t *copy = calloc(n ? n : 1, sizeof(*copy));
    for (size_t i = 0; copy != NULL && i < n; i++)
        copy[i] = kvs[i]; /* sorted in place: the strings stay the caller's */
    if (copy == NULL || load_all(a, copy, n, err, sizeof(err)) != 0)
        skipped(a, a->remote->data, copy == NULL ? "out of memory" : err);
    else
        publish_at(a, revision);
    free(copy);
}

#define SWEEP_MS 100 /* how often the watch thread looks for waits whose time is up */

static void on_tick(void *ctx)
{
    app_t *a = ctx;
    int64_t now = etcd_clock_ms();
    if (now - a->remote->swept_ms < SWEEP_MS)
        return;
    a->remote->swept_ms = now;
    expire_laters(a->remote, 0);
}

static void on_state(void *ctx, int connected, const char *msg)
{
    app_remote_health(ctx, APP_REMOTE_WATCH, connected, msg);
}

/* A watch that fails over to another member is back within a few tenths of a second: only a
 * longer loss is an outage. */
#define WATCH_LOST_MS 1000

int app_remote_reachable(app_t *a, const char *why)
{
    app_remote_t *r = a->remote;
    char msg[768];
    pthread_mutex_lock(&r->lock);
    int watch = r->watch_lost_ms == 0 || etcd_clock_ms() - r->watch_lost_ms < WATCH_LOST_MS;
    int now = r->write_ok && watch, was = r->reachable;
    r->reachable = now;
    if (why != NULL && why[0] != '\0')
        snprintf(r->why, sizeof(r->why), "%s", why);
    if (was && !now) /* said once an outage: a write that succeeds comes here each time */
        snprintf(msg, sizeof(msg), "etcd unreachable: writes answer 503 and reads come from this replica's view (%s)", r->why);
    pthread_mutex_unlock(&r->lock);
    if (was && !now && a->o.warn != NULL)
        a->o.warn(msg);
    else if (!was && now && a->o.info != NULL)
        a->o.info("etcd reachable again: writes are taken");
    return now;
}

void app_remote_health(app_t *a, int which, int ok, const char *why)
{
    app_remote_t *r = a->remote;
    pthread_mutex_lock(&r->lock);
    if (which == APP_REMOTE_WRITE)
        r->write_ok = ok;
    else if (ok)
        r->watch_lost_ms = 0;
    else if (r->watch_lost_ms == 0)
        r->watch_lost_ms = etcd_clock_ms();
    pthread_mutex_unlock(&r->lock);
    app_remote_reachable(a, ok ? NULL : why);
}

static void *watch_main(void *arg)
{
    app_t *a = arg;
    app_remote_t *r = a->remote;
    etcd_watch_cb_t cb = {.on_event = on_event,
                          .on_state = on_state,
                          .on_resync = on_resync,
                          .on_progress = on_progress,
                          .on_tick = on_tick,
                          .ctx = a};
    etcd_watch_run(r->etcd, r->data, NULL, r->rev + 1, &cb, &r->stop);
    expire_laters(r, 1);
    return NULL;
}

/* The epoch of the entity tags, the same on every replica: drawn by the first one to open the
 * prefix and kept in its "epoch" key, so that a tag read on one replica matches on another. */
static int shared_epoch(app_t *a, store_error_t *e)
{
    app_remote_t *r = a->remote;
    char key[1024], mine[16], why[400];
    uint32_t draw;
    if (getrandom(&draw, sizeof(draw), 0) != sizeof(draw))
        draw = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    snprintf(mine, sizeof(mine), "%08" PRIx32, draw);
    if (app_remote_key(r, key, sizeof(key), "epoch") != 0) {
        snprintf(e->problem, sizeof(e->problem), "ETCD_PREFIX is too long");
        return -1;
    }
    etcd_cmp_t absent = {.key = key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    etcd_op_t put = {.kind = ETCD_OP_PUT, .key = key, .value = mine}, get = {.kind = ETCD_OP_RANGE, .key = key};
    etcd_txn_result_t res;
    if (etcd_txn(r->etcd, &absent, 1, &put, 1, &get, 1, 3000, &res, why, sizeof(why)) != 0) {
        snprintf(e->problem, sizeof(e->problem), "cannot read the state's epoch from etcd (STORE=etcd): %s", why);
        return -1;
    }
    const char *v = res.succeeded ? mine : res.n == 1 && res.ops[0].n == 1 ? res.ops[0].kvs[0].value : "";
    char *end;
    unsigned long x = strtoul(v, &end, 16);
    a->epoch = *v != '\0' && *end == '\0' && x != 0 ? (uint32_t)x : draw;
    etcd_txn_result_free(&res);
    return 0;
}

int app_remote_open(app_t *a, store_error_t *e)
{
    app_remote_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->data = strdup(a->o.etcd_prefix != NULL ? a->o.etcd_prefix : "")) == NULL) {
        free(r);
        snprintf(e->problem, sizeof(e->problem), "out of memory");
        return -1;
    }
    a->remote = r;
    r->dlen = strlen(r->data), r->etcd = a->o.etcd, r->write_ok = 1, r->reachable = 1;
    pthread_mutex_init(&r->lock, NULL);
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    int64_t rev = 0, until = etcd_clock_ms() + OPEN_TRY_MS;
    char why[512] = "";
    while (etcd_range(r->etcd, r->data, NULL, 3000, &kvs, &n, &rev, why, sizeof(why)) != 0) {
        if (etcd_clock_ms() >= until) {
            snprintf(e->problem, sizeof(e->problem), "cannot read the state from etcd (STORE=etcd): %.400s", why);
            return -1;
        }
        nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    }
    int rc = load_all(a, kvs, n, e->problem, sizeof(e->problem));
    etcd_kvs_free(kvs, n);
    if (rc != 0 || shared_epoch(a, e) != 0)
        return -1;
    publish_at(a, rev);
    if (pthread_create(&r->thread, NULL, watch_main, a) != 0) {
        snprintf(e->problem, sizeof(e->problem), "cannot start the etcd watch");
        return -1;
    }
    r->started = 1;
    return 0;
}

void app_remote_stats(app_remote_t *r, int64_t *rev, int64_t *lag)
{
    pthread_mutex_lock(&r->lock);
    *rev = r->rev;
    *lag = r->seen > r->rev ? r->seen - r->rev : 0;
    pthread_mutex_unlock(&r->lock);
}

void app_remote_close(app_t *a)
{
    app_remote_t *r = a->remote;
    if (r == NULL)
        return;
    if (r->started) {
        atomic_store(&r->stop, 1);
        pthread_join(r->thread, NULL);
    }
    porra_db_release(r->porras);
    hito_db_release(r->hitos);
    pthread_mutex_destroy(&r->lock);
    free(r->data);
    free(r);
    a->remote = NULL;
}
