/* The change records' bytes (docs/store.md), and the score body of a request. */
#include "porra/porra_int.h"

#include <stdio.h>
#include <string.h>

/* Appends s and its NUL; 0, or -1 when it does not fit. */
static int put_str(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = s != NULL ? strlen(s) + 1 : 0;
    if (n == 0 || *len + n > cap)
        return -1;
    memcpy(buf + *len, s, n);
    *len += n;
    return 0;
}

static int put_byte(char *buf, size_t cap, size_t *len, int v)
{
    if (*len + 1 > cap)
        return -1;
    buf[(*len)++] = (char)v;
    return 0;
}

size_t porra_change_encode(const porra_change_t *c, char *buf, size_t cap)
{
    size_t len = 0;
    int bad = put_byte(buf, cap, &len, c->op);
    switch (c->op) {
    case PORRA_OP_CREATE:
        for (int k = 0; k < 4; k++)
            bad |= put_str(buf, cap, &len, c->seg[k]);
        break;
    case PORRA_OP_BET:
        bad |= put_str(buf, cap, &len, c->id) | put_str(buf, cap, &len, c->quien);
        bad |= put_byte(buf, cap, &len, c->local) | put_byte(buf, cap, &len, c->visitante);
        break;
    case PORRA_OP_RESULT:
        bad |= put_str(buf, cap, &len, c->id);
        bad |= put_byte(buf, cap, &len, c->local) | put_byte(buf, cap, &len, c->visitante);
        break;
    case PORRA_OP_DELETE:
        bad |= put_str(buf, cap, &len, c->id);
        break;
    default: /* PORRA_OP_BETS is written by porra_dump alone */
        bad = -1;
    }
    return bad ? 0 : len;
}

typedef struct {
    const char *p, *end;
} reader_t;

/* The next NUL-terminated string, or NULL when the record ends first. */
static const char *get_str(reader_t *r)
{
    const char *nul = r->p < r->end ? memchr(r->p, '\0', (size_t)(r->end - r->p)) : NULL;
    if (nul == NULL)
        return NULL;
    const char *s = r->p;
    r->p = nul + 1;
    return s;
}

static int get_byte(reader_t *r, int *v)
{
    if (r->p >= r->end)
        return -1;
    *v = (unsigned char)*r->p++;
    return 0;
}

int porra_change_decode(const char *rec, size_t len, porra_change_t *c, char *err, size_t errlen)
{
    reader_t r = {rec + 1, rec + len};
    int ok = 1, lo, hi;
    *c = (porra_change_t){.op = len > 0 ? (unsigned char)rec[0] : -1};
    switch (c->op) {
    case PORRA_OP_CREATE:
        for (int k = 0; k < 4; k++)
            ok &= (c->seg[k] = get_str(&r)) != NULL;
        break;
    case PORRA_OP_DELETE:
        ok = (c->id = get_str(&r)) != NULL;
        break;
    case PORRA_OP_BET:
        ok = (c->id = get_str(&r)) != NULL && (c->quien = get_str(&r)) != NULL && get_byte(&r, &c->local) == 0 &&
             get_byte(&r, &c->visitante) == 0;
        break;
    case PORRA_OP_RESULT:
        ok = (c->id = get_str(&r)) != NULL && get_byte(&r, &c->local) == 0 && get_byte(&r, &c->visitante) == 0;
        break;
    case PORRA_OP_BETS:
        ok = (c->id = get_str(&r)) != NULL && get_byte(&r, &lo) == 0 && get_byte(&r, &hi) == 0;
        c->nbets = ok ? (unsigned)(lo | hi << 8) : 0;
        c->bets = r.p;
        for (unsigned i = 0; ok && i < c->nbets; i++)
            ok = get_str(&r) != NULL && get_byte(&r, &lo) == 0 && get_byte(&r, &hi) == 0;
        c->betslen = (size_t)(r.p - c->bets);
        break;
    default:
        snprintf(err, errlen, "not a pool record (op 0x%02x)", len > 0 ? (unsigned char)rec[0] : 0);
        return -1;
    }
    if (!ok || r.p != r.end) {
        snprintf(err, errlen, "malformed pool record (op 0x%02x, %zu bytes)", (unsigned)c->op, len);
        return -1;
    }
    return 0;
}

int porra_change_next_bet(const porra_change_t *c, size_t *pos, const char **quien, int *local, int *visitante)
{
    if (*pos >= c->betslen)
        return 0;
    const char *q = c->bets + *pos;
    size_t n = strlen(q); /* decode checked that every name ends, and two goals follow it */
    *quien = q, *local = (unsigned char)q[n + 1], *visitante = (unsigned char)q[n + 2];
    *pos += n + 3;
    return 1;
}

/* Reads member name of o as goals; -1 with err naming it. */
static int goals_member(const json_t *o, const char *name, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL) {
        snprintf(err, errlen, "%s: missing", name);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > PORRA_GOALS_MAX) {
        snprintf(err, errlen, "%s: " PORRA_GOALS_RULE, name);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

int porra_score_parse(const json_t *body, int *local, int *visitante, char *err, size_t errlen)
{
    int l, v;
    const char *key;
    json_t *val;
    if (!json_is_object(body)) {
        snprintf(err, errlen, "body: must be a JSON object");
        return -1;
    }
    if (goals_member(body, "local", &l, err, errlen) != 0 || goals_member(body, "visitante", &v, err, errlen) != 0)
        return -1;
    json_object_foreach((json_t *)body, key, val)
    {
        if (strcmp(key, "local") != 0 && strcmp(key, "visitante") != 0) {
            snprintf(err, errlen, "%s: unknown field", key);
            return -1;
        }
    }
    *local = l, *visitante = v;
    return 0;
}
