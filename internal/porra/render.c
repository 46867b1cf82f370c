/* A pool as JSON, rendered once per version and shared by every reader; its winners. */
#include "porra/porra_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw/jsonw.h"

static void str(jsonw_t *w, const char *s)
{
    jsonw_str(w, s, strlen(s));
}

static int render_bets(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    jsonw_t *w = ctx;
    for (size_t i = 0; i < n; i++) {
        if (index + i > 0)
            jsonw_raw(w, ",", 1);
        str(w, PORRA_BET_QUIEN(run[i]));
        jsonw_lit(w, ":{\"local\":");
        jsonw_int(w, PORRA_BET_L(run[i]));
        jsonw_lit(w, ",\"visitante\":");
        jsonw_int(w, PORRA_BET_V(run[i]));
        jsonw_raw(w, "}", 1);
    }
    return 0;
}

static void result(jsonw_t *w, const porra_t *p)
{
    char r[16];
    if (p->rl < 0)
        jsonw_lit(w, "null");
    else
        jsonw_raw(w, r, (size_t)snprintf(r, sizeof(r), "\"%d-%d\"", p->rl, p->rv));
}

static jsonw_text_t *render(const void *ctx)
{
    static const char *const keys[4] = {",\"local\":", ",\"visitante\":", ",\"competition\":", ",\"year\":"};
    const porra_t *p = ctx;
    jsonw_t w = JSONW_INIT;
    jsonw_text_begin(&w);
    jsonw_lit(&w, "{\"ID\":");
    str(&w, p->ident->id);
    for (int k = 0; k < 4; k++) {
        jsonw_lit(&w, keys[k]);
        str(&w, p->ident->seg[k]);
    }
    jsonw_lit(&w, ",\"apuestas\":{");
    pvec_each(&p->bets, 0, render_bets, &w);
    jsonw_lit(&w, "},\"resultado\":");
    result(&w, p);
    jsonw_lit(&w, "},");
    return jsonw_text_finish(&w);
}

const char *porra_json(const porra_t *p, size_t *len)
{
    return jsonw_text_once(&((porra_t *)p)->json, render, p, len);
}

typedef struct {
    jsonw_t *w;
    int rl, rv, n;
} winners_t;

static int add_winners(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    winners_t *x = ctx;
    (void)index;
    for (size_t i = 0; i < n; i++) {
        if (PORRA_BET_L(run[i]) != x->rl || PORRA_BET_V(run[i]) != x->rv)
            continue;
        if (x->n++ > 0)
            jsonw_raw(x->w, ",", 1);
        str(x->w, PORRA_BET_QUIEN(run[i]));
    }
    return 0;
}

porra_status_t porra_winners_json(const porra_t *p, char **out, size_t *len)
{
    jsonw_t w = JSONW_INIT;
    winners_t x = {&w, p->rl, p->rv, 0};
    *out = NULL;
    if (p->rl < 0)
        return PORRA_NO_RESULT;
    jsonw_lit(&w, "{\"resultado\":");
    result(&w, p);
    jsonw_lit(&w, ",\"ganadores\":[");
    pvec_each(&p->bets, 0, add_winners, &x);
    jsonw_lit(&w, "]}");
    return (*out = jsonw_finish(&w, len)) != NULL ? PORRA_OK : PORRA_INVALID;
}
