/* porrio store verify / recover: the store read without opening it, each record applied to a
 * scratch state so that a record that verifies but does not apply is found too. */
#include "app/app_int.h"

#include <stdio.h>

typedef struct {
    app_scan_report_t *rep;
    app_version_t *state;
    int salvage;
} scan_t;

static void on_file(void *ctx, const char *name, uint64_t gen, int snapshot)
{
    scan_t *s = ctx;
    if (gen > 0)
        s->rep->line(s->rep->ctx, "%s: %s, generation %llu", name, snapshot ? "snapshot" : "journal", (unsigned long long)gen);
    else
        s->rep->line(s->rep->ctx, "%s: %s of the first format", name, snapshot ? "snapshot" : "journal");
}

static int on_record(void *ctx, const char *name, long long offset, const char *rec, size_t len, char *err, size_t errlen)
{
    scan_t *s = ctx;
    s->rep->records++;
    int rc = app_apply_record(s->state, rec, len, err, errlen);
    if (rc == -2) { /* not damage: the milestones file holds it now; start-up says so (exit 2) */
        s->rep->line(s->rep->ctx, "%s at offset %lld: %s", name, offset, err);
        s->rep->conflicts++;
        return s->salvage ? -1 : 0;
    }
    if (rc != 0)
        return -1;
    s->rep->applied++;
    return 0;
}

static void on_problem(void *ctx, const char *name, long long offset, int torn, long long skipped, const char *what)
{
    scan_t *s = ctx;
    char where[600];
    /* "name at offset N", or the name alone for a problem not about one place (offset -1) */
    if (offset >= 0)
        snprintf(where, sizeof(where), "%s at offset %lld", name, offset);
    else
        snprintf(where, sizeof(where), "%s", name);
    if (torn) {
        s->rep->torn = 1;
        s->rep->line(s->rep->ctx, "%s: %s: never acknowledged, start-up leaves it out", where, what);
        return;
    }
    s->rep->damaged = 1;
    if (skipped > 0) {
        s->rep->skipped_bytes += (uint64_t)skipped;
        s->rep->line(s->rep->ctx, "%s: %s; skipped %lld bytes", where, what, skipped);
    } else {
        s->rep->line(s->rep->ctx, "%s: %s", where, what);
    }
}

static void on_file_done(void *ctx, const char *name, uint64_t records, uint64_t bytes)
{
    scan_t *s = ctx;
    s->rep->line(s->rep->ctx, "%s: %llu records, %llu bytes", name, (unsigned long long)records, (unsigned long long)bytes);
}

static int scan(const app_opts_t *opts, store_scan_mode_t mode, scan_t *s, store_error_t *e)
{
    *e = (store_error_t){.offset = -1};
    s->salvage = mode == STORE_SCAN_SALVAGE;
    if ((s->state = app_state_load(opts->hitos_file, e->problem, sizeof(e->problem))) == NULL)
        return -1;
    store_scan_cb_t cb = {on_file, on_record, on_problem, on_file_done, s};
    return store_scan(opts->data_dir, mode, &cb, e);
}

int app_verify(const app_opts_t *opts, app_scan_report_t *rep, store_error_t *e)
{
    scan_t s = {rep, NULL, 0};
    int rc = scan(opts, STORE_SCAN_STRICT, &s, e);
    app_version_release(s.state);
    if (rc != 0)
        rep->damaged = 1;
    return rc;
}

static int dump_state(void *ctx, store_emit_t emit, void *ectx)
{
    return app_dump_version(ctx, emit, ectx);
}

int app_recover(const app_opts_t *opts, const char *to, app_scan_report_t *rep, store_error_t *e)
{
    scan_t s = {rep, NULL, 0};
    int rc = scan(opts, STORE_SCAN_SALVAGE, &s, e);
    if (rc == 0) {
        rep->skipped_records = rep->records - rep->applied;
        rc = store_create(to, dump_state, s.state, e);
    }
    app_version_release(s.state);
    return rc;
}
