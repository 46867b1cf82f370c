/* What app's own files share: the versions, the state's shape, applying one record. */
#ifndef PORRIO_APP_INT_H
#define PORRIO_APP_INT_H
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "app/app.h"
#include "hito/hito.h"
#include "etcd/etcd.h"
#include "jsonw/jsonw.h"
#include "porra/porra.h"

/* One version of the whole state. Immutable once published or pending; refs is atomic. */
struct app_version {
    unsigned refs;
    porra_db_t *porras;
    hito_db_t *hitos;
    uint64_t hito_slots; /* STORE=etcd: milestone keys taken, so the next add's key (0 otherwise) */
};

typedef struct app_pending {
    uint64_t ticket;
    app_version_t *v;
} app_pending_t;

struct app {
    app_opts_t o;
    char *hitos_file;
    ticket_ledger_t *ledger;
    store_t *store;
    pthread_mutex_t writer;       /* guards head, and makes journal order apply order */
    app_version_t *head;          /* every change journaled, durable or not */
    pthread_mutex_t pending_lock; /* guards pending; taken after writer when both are */
    app_pending_t *pending;       /* a ring of versions waiting for their ticket, oldest first */
    size_t pfirst, pcount, pcap;
    pthread_spinlock_t pub_lock; /* guards the published pointer alone, for a load and an increment */
    app_version_t *published;    /* only durable changes; what readers read; NULL while opening */
    char conflict[512];          /* replay found a milestone both added and in HITOS_FILE */
    app_limits_t limits;         /* atomic loads and stores: set from the etcd watch's thread */
    struct app_remote *remote;   /* STORE=etcd; then store, head and pending are unused */
    uint32_t epoch;              /* STORE=etcd: the entity tags' epoch every replica shares */
};

/* Makes v (whose reference moves in) the version readers see. */
void app_publish(app_t *a, app_version_t *v);

/* ---- answers, shared by both stores' operations (ops.c) ---- */

/* r's status and its message. */
void app_fail(app_result_t *r, app_status_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answers with *len bytes of v, whose reference moves into r (out of memory when body is NULL). */
void app_answer_in(app_result_t *r, app_status_t status, app_version_t *v, const char *body, const size_t *len);
/* Answers with a malloc'd buffer, which moves into r. */
void app_answer_owned(app_result_t *r, app_status_t status, char *body, size_t len);
/* Answers with pool `id` of v (whose reference moves into r), tagged with the pool's version. */
void app_answer_pool(app_result_t *r, app_status_t status, app_version_t *v, const char *id);
/* Answers a bet with itself, tagged with the pool's version after it. */
void app_answer_bet(app_result_t *r, app_status_t status, const char *id, const char *quien, int gl, int gv, uint64_t version);
/* A request body as JSON; NULL with err naming what is wrong. */
json_t *app_parse_body(const char *body, size_t len, char *err, size_t errlen);
/* 1 when id is a pool ID; else 0 with r set to APP_BAD_PATH. */
int app_id_ok(const char *id, app_result_t *r);
/* 1 with r set to APP_STALE when pool id of db is not at a version m expects; else 0. */
int app_stale(const porra_db_t *db, const char *id, const app_match_t *m, app_result_t *r);

/* ---- STORE=etcd (remote.c, remote_ops.c, remote_write.c) ---- */

/* A wait for the view to reach a revision (app_remote_when), in the waiter's memory. */
typedef struct app_later {
    struct app_later *next;
    int64_t rev, deadline;                      /* deadline: etcd_clock_ms() */
    void (*cb)(struct app_later *l, int shown); /* shown: 1, the view reached rev; 0, time is up */
} app_later_t;

enum { APP_REMOTE_WATCH, APP_REMOTE_WRITE };

typedef struct app_remote {
    etcd_t *etcd; /* the caller's */
    char *data;   /* the prefix of the state's keys, "<ETCD_PREFIX>data/" */
    size_t dlen;
    pthread_t thread; /* the watch */
    int started;
    atomic_int stop;
    porra_db_t *porras; /* the watch thread's working state, ahead of the published one */
    hito_db_t *hitos;   /*   by the events of a revision being read */
    uint64_t slots;
    int64_t swept_ms;      /* the watch thread's: when it last ended the waits whose time was up */
    pthread_mutex_t lock;  /* guards what follows */
    app_later_t *laters;   /* waits for a revision the view has not reached */
    int64_t rev;           /* the revision of the published version */
    int64_t seen;          /* the newest revision of the data etcd acknowledged or sent */
    int write_ok;          /* the last write reached etcd */
    int64_t watch_lost_ms; /* when the watch was lost (etcd_clock_ms), 0 while it is up */
    int reachable;         /* as last judged and logged */
    char why[400];         /* the last failure */
} app_remote_t;

/* Loads the data prefix (retrying while etcd elects a leader), publishes it and starts the
 * watch. 0; -1 with e->problem. a->remote is set either way: app_remote_close frees it. */
int app_remote_open(app_t *a, store_error_t *e);
void app_remote_close(app_t *a);
/* Calls cb(l, 1) once the published version is at revision rev or later (at once, on this
 * thread, when it already is; else on the watch's), or cb(l, 0) once timeout_ms passed (checked
 * every few tenths of a second) or the watch stopped. l is untouched from then on. acked: etcd
 * gave rev, so the view's lag counts it; else it is a client's (If-Match), which may name any. */
void app_remote_when(app_remote_t *r, app_later_t *l, int64_t rev, int acked, int timeout_ms,
                     void (*cb)(app_later_t *l, int shown));
/* The watch (APP_REMOTE_WATCH) or the writes (APP_REMOTE_WRITE) reached etcd or not. */
void app_remote_health(app_t *a, int which, int ok, const char *why);
/* Whether etcd is reachable: the last write reached it and the watch is up (or was lost less
 * than a second ago: failing over to another member). A change since the last judgement is
 * logged, a warning one way and news the other, so one outage gives one line each way. why, if
 * not NULL, is the newest failure. */
int app_remote_reachable(app_t *a, const char *why);
void app_remote_stats(app_remote_t *r, int64_t *rev, int64_t *lag);
/* r->data followed by fmt's text into out: 0; -1 when it does not fit in cap. */
int app_remote_key(const app_remote_t *r, char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int app_remote_vkey(const app_remote_t *r, char *out, size_t cap, const char *fmt, va_list ap);

/* The writes of STORE=etcd: app.h's, as transactions, answered once etcd answered and the view
 * shows the change. With r->later set they return 1 and hand r to r->later when it is final,
 * maybe before they return (remote_ops.c); else they wait for that and return 0. */
int app_remote_hito_add(app_t *a, const char *body, size_t len, int restore, app_result_t *r);
int app_remote_create(app_t *a, const char *const seg[4], app_result_t *r);
int app_remote_delete(app_t *a, const char *id, const app_match_t *match, app_result_t *r);
/* A bet (quien not NULL) or the result: body_err is NULL when the body gave the goals gl, gv,
 * else why it did not (answered after the checks of the path and of existence). */
int app_remote_score(app_t *a, const char *id, const char *quien, const char *body_err, int gl, int gv, const app_match_t *match,
                     app_result_t *r);

/* ---- one STORE=etcd write as it runs (remote_write.c); the kinds of writes are remote_ops.c's ---- */

/* A write's transaction, and etcd's answer to it. */
typedef struct app_txn {
    etcd_cmp_t cmp[4];
    etcd_op_t ok[2], fail[2];
    size_t ncmp, nok, nfail;
    etcd_txn_result_t res;
} app_txn_t;

typedef struct app_write app_write_t;

/* What one kind of write does at each step. */
typedef struct app_write_kind {
    /* Plans the next try against the view: 1 with w->t to send; 0 with the answer in *w->r. */
    int (*plan)(app_write_t *w);
    /* w->t succeeded and the view shows it: the answer, into *w->r. */
    void (*applied)(app_write_t *w);
    /* A compare of w->t failed and the view shows what the failure branch read: 1 to plan again;
     * 0 with the answer in *w->r. NULL: plan again. */
    int (*refused)(app_write_t *w);
} app_write_kind_t;

/* One write in progress. What it is about is borrowed from the caller until the answer. */
struct app_write {
    app_later_t later; /* first: the view's callbacks find the write from it */
    app_t *a;
    app_result_t *r;
    struct app_write_sync *sync; /* a caller without r->later, waiting */
    const app_write_kind_t *kind;
    int tries, probe; /* probe: t asks etcd whether a pool the view lacks is absent */
    app_txn_t t;
    const char *seg[4], *id, *quien, *body_err;
    int gl, gv, restore;
    const app_match_t *match;
    json_t *body;     /* a milestone's, parsed */
    hito_change_t hc; /* the milestone planned, pointing into body */
    char *text;       /* the value put */
    char slot[24], value[64], why_body[256];
    /* the keys written or compared, each of keymax bytes in keys[]; a milestone's are its
     * slot's (key) and its file's (pool) */
    char *pool, *under, *key, *result;
    size_t keymax;
    char keys[];
};

/* A new write of kind on a and r, whose keys name at most `names` bytes of the ID, the bettor
 * or the milestone's file: malloc'd, for app_write_run. NULL with r set when out of memory. */
app_write_t *app_write_new(const app_write_kind_t *kind, app_t *a, app_result_t *r, size_t names);
/* The data prefix followed by fmt's text into k, one of w's keys: 0; -1 with w->r set when it
 * does not fit. */
int app_write_key(app_write_t *w, char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs w to its answer and frees it: 1 when r->later gets the answer (the caller set one), which
 * may be before this returns; 0 when it is in *r now. */
int app_write_run(app_write_t *w);

/* A new version holding porras and hitos (the caller's references move in). NULL on OOM. */
app_version_t *app_version_new(porra_db_t *porras, hito_db_t *hitos);
/* One more reference to v; thread-safe. */
app_version_t *app_version_ref(app_version_t *v);
/* Lets go of a reference; the last one frees what no other version shares. Thread-safe; NULL is
 * a no-op. */
void app_version_release(app_version_t *v);

/* The published version, with a reference for the caller. Never waits for a writer. */
app_version_t *app_acquire(app_t *a);

/* An empty transient state: the milestones file loaded, no pool. NULL with err (the file). */
app_version_t *app_state_load(const char *hitos_file, char *err, size_t errlen);

/* Applies one record — a pool or milestone change, or a first-format JSON record — to a
 * transient state in place. 0; -1 with err when it is malformed or does not apply; -2 with err
 * when it adds a milestone that HITOS_FILE now holds too (a change of the file, not damage). */
int app_apply_record(app_version_t *v, const char *rec, size_t len, char *err, size_t errlen);

/* Writes every record that rebuilds v from empty through emit. 0; -1 when emit failed. */
int app_dump_version(app_version_t *v, store_emit_t emit, void *ectx);

/* A first-format (JSON) record, applied to a transient state. 0; -1 with err. */
int app_apply_legacy(app_version_t *v, const char *rec, size_t len, char *err, size_t errlen);

/* Adds {"ID", "quien", "local", "visitante"}: the answer to a bet, and an export's bet. */
void app_bet_json(jsonw_t *w, const char *id, const char *quien, int local, int visitante);

/* Adds {"file", "title", "fecha"}: a POST /hitos body, and an export's milestone. */
void app_hito_json(jsonw_t *w, const hito_change_t *c);

/* 1 when holding n leaves room for one more under max (0: no limit); else 0 with err naming
 * the setting ("MAX_POOLS reached: 2 pools, at most 2"). */
int app_room(size_t max, size_t n, const char *name, const char *what, char *err, size_t errlen);

/* An export header's counts, in its order ("pools", "bets", "results", "hitos"), and the member
 * of c each one is. */
#define APP_COUNT_KINDS 4
extern const char *const app_count_names[APP_COUNT_KINDS];
size_t *app_count_at(app_counts_t *c, int k);

/* What v holds beyond HITOS_FILE, counted from the records that rebuild it. 0; -1 on OOM. */
int app_tally(app_version_t *v, app_counts_t *out);

/* Frees a listing and lets go of its version; NULL is a no-op. */
void app_list_free(app_list_t *l);

#endif
