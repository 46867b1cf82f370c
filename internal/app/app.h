/*
 * app: the application state every worker shares — milestones, pools and the durable store —
 * behind one reader-writer lock. Each operation checks its input in the API's order (path,
 * existence, body, state), journals the change, applies it, and hands back an outcome and the
 * answer already serialised. It knows nothing of HTTP requests; statuses are its own.
 */
#ifndef PORRIO_APP_H
#define PORRIO_APP_H
#include <stddef.h>
#include <stdint.h>

typedef struct app app_t;

typedef enum {
    APP_OK,          /* read, replaced, or already there */
    APP_CREATED,     /* something new */
    APP_DELETED,     /* gone: no body */
    APP_BAD_PATH,    /* a path segment breaks its rule */
    APP_NOT_FOUND,   /* no such milestone or pool */
    APP_BAD_BODY,    /* malformed JSON, wrong types, out-of-range values */
    APP_CONFLICT,    /* the resource's state forbids it (betting closed, no result, file taken) */
    APP_UNAVAILABLE  /* the store cannot write: nothing changed */
} app_status_t;

typedef struct app_result {
    app_status_t status;
    char *body;        /* the answer as JSON, NULL for errors and APP_DELETED; not NUL-terminated: use len */
    size_t len;
    void *blob;        /* non-NULL: body is shared and read-only; app_result_release lets go of either */
    uint64_t ticket;   /* non-zero: the answer may go out once this store ticket is durable */
    long index;        /* POST /hitos: index of the new milestone */
    char err[256];     /* what is wrong, for errors */
} app_result_t;

typedef struct app_opts {
    const char *data_dir;
    const char *hitos_file;  /* "" or NULL: no milestones file */
    size_t compact_bytes;    /* 0: the store's default */
    void (*warn)(const char *msg); /* problems that do not stop the service */
} app_opts_t;

/**
 * Loads the milestones file and opens the store, replaying it. NULL with err on failure; *bad_input
 * is then 1 when the milestones file is the problem (exit 2), 0 for the store (exit 1).
 */
app_t *app_open(const app_opts_t *opts, int *bad_input, char *err, size_t errlen);

/** Sets who hears when store tickets become durable or are lost (before serving). */
void app_on_durable(app_t *a, void (*cb)(void *ctx, uint64_t upto, int ok), void *ctx);

/** Non-zero when writes can succeed. */
int app_writable(app_t *a);

/* Milestones. `id` is the raw path parameter. */
void app_hitos_all(app_t *a, app_result_t *r);                  /* GET /all: {"hitos": {...}} */
void app_hitos_list(app_t *a, app_result_t *r);                 /* GET /hitos: [...] */
void app_hito_get(app_t *a, const char *id, int wrap, app_result_t *r); /* wrap: {"hito": ...} */
void app_hito_add(app_t *a, const char *body, size_t len, app_result_t *r);

/* Pools. */
void app_porra_create(app_t *a, const char *local, const char *visitante, const char *competition,
                      const char *year, app_result_t *r);
void app_porras_list(app_t *a, app_result_t *r);
void app_porra_get(app_t *a, const char *id, app_result_t *r);
void app_porra_delete(app_t *a, const char *id, app_result_t *r);
void app_porra_bet(app_t *a, const char *id, const char *quien, const char *body, size_t len, app_result_t *r);
void app_porra_result(app_t *a, const char *id, const char *body, size_t len, app_result_t *r);
void app_porra_winners(app_t *a, const char *id, app_result_t *r);

typedef struct app_stats {
    size_t porras, hitos;
    uint64_t appends, fsyncs, journal_bytes; /* the durable store's figures */
    int writable;
} app_stats_t;

/** Lets go of a shared answer (app_result_t.blob). Thread-safe; NULL is a no-op. */
void app_blob_release(void *blob);

/** Lets go of r's answer, its body or its shared blob, whichever it holds. Thread-safe. */
void app_result_release(app_result_t *r);

/** Figures for monitoring; cannot fail. */
void app_stats(app_t *a, app_stats_t *out);

/** Waits for the store's pending writes and closes it; frees everything. */
void app_close(app_t *a);

#endif
