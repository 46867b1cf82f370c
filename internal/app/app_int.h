/* What app's own files share: the versions, the state's shape, applying one record. */
#ifndef PORRIO_APP_INT_H
#define PORRIO_APP_INT_H
#include <pthread.h>

#include "app/app.h"
#include "hito/hito.h"
#include "jsonw/jsonw.h"
#include "porra/porra.h"

/* One version of the whole state. Immutable once published or pending; refs is atomic. */
struct app_version {
    unsigned refs;
    porra_db_t *porras;
    hito_db_t *hitos;
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
    pthread_mutex_t writer;     /* guards head, and makes journal order apply order */
    app_version_t *head;        /* every change journaled, durable or not */
    pthread_mutex_t pending_lock; /* guards pending; taken after writer when both are */
    app_pending_t *pending;     /* a ring of versions waiting for their ticket, oldest first */
    size_t pfirst, pcount, pcap;
    pthread_spinlock_t pub_lock; /* guards the published pointer alone, for a load and an increment */
    app_version_t *published;   /* only durable changes; what readers read; NULL while opening */
    char conflict[512];         /* replay found a milestone both added and in HITOS_FILE */
    app_limits_t limits;        /* atomic loads and stores: set from the etcd watch's thread */
};

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
