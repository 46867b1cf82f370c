/* porrio store export: a version as JSON lines (docs/store.md, "Export and import"), rendered
 * from the records that rebuild it, so that an export holds exactly what a snapshot would. */
#include "app/app_int.h"

#include <string.h>

typedef struct {
    app_counts_t n;
    jsonw_t w;        /* the line being rendered; unused when only counting */
    app_line_fn line; /* NULL: only count */
    void *ctx;
} render_t;

static void str(jsonw_t *w, const char *s)
{
    jsonw_str(w, s, strlen(s));
}

/* Hands the line rendered in r->w over and empties the buffer for the next one. */
static int flush(render_t *r)
{
    int rc = r->w.oom || r->line(r->ctx, r->w.buf, r->w.len) != 0 ? -1 : 0;
    r->w.len = 0;
    return rc;
}

void app_hito_json(jsonw_t *w, const hito_change_t *c)
{
    jsonw_lit(w, "{\"file\":");
    str(w, c->file);
    jsonw_lit(w, ",\"title\":");
    str(w, c->title);
    jsonw_lit(w, ",\"fecha\":");
    str(w, c->fecha);
    jsonw_lit(w, "}");
}

static int hito_line(render_t *r, const hito_change_t *c)
{
    jsonw_lit(&r->w, "{\"hito\":");
    app_hito_json(&r->w, c);
    jsonw_lit(&r->w, "}");
    return flush(r);
}

static int pool_line(render_t *r, const porra_change_t *c)
{
    static const char *const names[4] = {"{\"pool\":{\"local\":", ",\"visitante\":", ",\"competition\":", ",\"year\":"};
    for (int k = 0; k < 4; k++) {
        jsonw_lit(&r->w, names[k]);
        str(&r->w, c->seg[k]);
    }
    jsonw_lit(&r->w, "}}");
    return flush(r);
}

static int bet_lines(render_t *r, const porra_change_t *c)
{
    const char *quien;
    int l, v;
    size_t pos = 0;
    while (porra_change_next_bet(c, &pos, &quien, &l, &v)) {
        jsonw_lit(&r->w, "{\"bet\":");
        app_bet_json(&r->w, c->id, quien, l, v);
        jsonw_lit(&r->w, "}");
        if (flush(r) != 0)
            return -1;
    }
    return 0;
}

static int result_line(render_t *r, const porra_change_t *c)
{
    jsonw_lit(&r->w, "{\"result\":{\"ID\":");
    str(&r->w, c->id);
    jsonw_lit(&r->w, ",\"local\":");
    jsonw_int(&r->w, c->local);
    jsonw_lit(&r->w, ",\"visitante\":");
    jsonw_int(&r->w, c->visitante);
    jsonw_lit(&r->w, "}}");
    return flush(r);
}

/* One record of the version's dump: counted, and rendered as lines when r->line is set. The
 * records are the app's own, just made: one that does not decode is a bug, reported as -1. */
static int on_record(void *ctx, const void *rec, size_t len)
{
    render_t *r = ctx;
    char err[128];
    porra_change_t c;
    hito_change_t h;
    if (len > 0 && *(const unsigned char *)rec == HITO_OP_ADD) {
        if (hito_change_decode(rec, len, &h, err, sizeof(err)) != 0)
            return -1;
        r->n.hitos++;
        return r->line != NULL ? hito_line(r, &h) : 0;
    }
    if (porra_change_decode(rec, len, &c, err, sizeof(err)) != 0)
        return -1;
    switch (c.op) {
    case PORRA_OP_CREATE:
        r->n.pools++;
        return r->line != NULL ? pool_line(r, &c) : 0;
    case PORRA_OP_BETS:
        r->n.bets += c.nbets;
        return r->line != NULL ? bet_lines(r, &c) : 0;
    case PORRA_OP_RESULT:
        r->n.results++;
        return r->line != NULL ? result_line(r, &c) : 0;
    default:
        return -1;
    }
}

const char *const app_count_names[APP_COUNT_KINDS] = {"pools", "bets", "results", "hitos"};

size_t *app_count_at(app_counts_t *c, int k)
{
    size_t *at[APP_COUNT_KINDS] = {&c->pools, &c->bets, &c->results, &c->hitos};
    return at[k];
}

int app_tally(app_version_t *v, app_counts_t *out)
{
    render_t r = {0};
    int rc = app_dump_version(v, on_record, &r);
    *out = r.n;
    return rc;
}

int app_export(app_t *a, app_line_fn line, void *ctx, app_counts_t *out)
{
    app_version_t *v = app_acquire(a);
    render_t r = {.w = JSONW_INIT, .line = line, .ctx = ctx};
    /* the counts first, so that the header announces what follows: an import tells a file cut
     * short at a line's end from a whole one */
    int rc = app_tally(v, out);
    if (rc == 0) {
        jsonw_lit(&r.w, "{\"porrio_export\":");
        jsonw_int(&r.w, APP_EXPORT_FORMAT);
        jsonw_lit(&r.w, ",\"version\":");
        str(&r.w, PORRIO_VERSION);
        for (int k = 0; k < APP_COUNT_KINDS; k++) {
            jsonw_lit(&r.w, ",\"");
            jsonw_lit(&r.w, app_count_names[k]);
            jsonw_lit(&r.w, "\":");
            jsonw_int(&r.w, (long long)*app_count_at(out, k));
        }
        jsonw_lit(&r.w, "}");
        rc = flush(&r) == 0 && app_dump_version(v, on_record, &r) == 0 ? 0 : -1;
    }
    jsonw_free(&r.w);
    app_version_release(v);
    return rc;
}
