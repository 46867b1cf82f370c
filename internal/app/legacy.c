/* Records of the store's first format: JSON objects {"op": "porra.bet", ...}. They are read once,
 * when a first-format DATA_DIR is upgraded (docs/store.md), or by porrio store verify/recover. */
#include "app/app_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The string member name, or NULL when it is missing, not a string or hides a NUL. */
static const char *str(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

/* A goals member; -1 (refused by the domain's checks) when it is not an integer. */
static int goals(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= PORRA_GOALS_MAX ? (int)json_integer_value(v)
                                                                                                        : -1;
}

int app_apply_legacy(app_version_t *v, const char *rec, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(rec, len, 0, &je);
    const char *op = str(o, "op");
    int rc = -1;
    porra_change_t c = {
        .id = str(o, "ID"), .quien = str(o, "quien"), .local = goals(o, "local"), .visitante = goals(o, "visitante")};
    if (o == NULL)
        snprintf(err, errlen, "not JSON: %s", je.text);
    else if (op == NULL)
        snprintf(err, errlen, "op: missing");
    else if (strcmp(op, "hito.add") == 0) {
        hito_change_t h = {str(o, "file"), str(o, "title"), str(o, "fecha")};
        rc = hito_db_apply(&v->hitos, &h, err, errlen) >= 0 ? 0 : -1;
    } else {
        static const struct {
            const char *name;
            int op;
        } ops[] = {{"porra.create", PORRA_OP_CREATE},
                   {"porra.delete", PORRA_OP_DELETE},
                   {"porra.bet", PORRA_OP_BET},
                   {"porra.result", PORRA_OP_RESULT}};
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (strcmp(op, ops[i].name) == 0)
                c.op = ops[i].op;
        c.seg[0] = str(o, "local"), c.seg[1] = str(o, "visitante");
        c.seg[2] = str(o, "competition"), c.seg[3] = str(o, "year");
        if (c.op == 0)
            snprintf(err, errlen, "op: unknown operation \"%s\"", op);
        else
            rc = porra_db_apply(&v->porras, &c, err, errlen);
    }
    json_decref(o);
    return rc;
}
