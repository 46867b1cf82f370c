/* Adding milestones: the rules of a new one, its change record, applying it to a version, and
 * dumping the added ones as records. */
#include "hito/hito_int.h"

#include <stdlib.h>
#include <string.h>

/* The rule that value k of a milestone to add breaks, or NULL. A body's strings are UTF-8 (JSON
 * is); a record's are checked for it, so that what is replayed renders as it was added. */
static const char *field_rule(int k, const char *s)
{
    if (k == 2)
        return hito_fecha_ok(s) ? NULL : HITO_FECHA_RULE;
    if (s == NULL || !*s || strlen(s) > HITO_FIELD_MAX)
        return HITO_TEXT_RULE;
    return jsonw_utf8_ok(s, strlen(s)) ? NULL : HITO_UTF8_RULE;
}

/* 1 when a new milestone's file is a plain file name: not "." or "..", no '/' or '\\', no control
 * character (C0, DEL, or C1 as UTF-8 0xC2 0x80-0x9F). Only additions are held to it: records
 * journaled before it replay as they were accepted. */
static int file_name_ok(const char *s)
{
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\' || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return 0;
    return 1;
}

static hito_status_t taken(const hito_db_t *db, const char *file, char *err, size_t errlen)
{
    if (!pmap_get(&db->by_file, &hito_by_file_ops, (uintptr_t)file, NULL))
        return HITO_OK;
    hito_fail(err, errlen, "file: \"%s\" already exists", file);
    return HITO_EXISTS;
}

static hito_status_t plan(const hito_db_t *db, const json_t *body, int new_name, hito_change_t *c, char *err, size_t errlen)
{
    const char *val[3], *key, *rule;
    json_t *v;
    if (!json_is_object(body)) {
        hito_fail(err, errlen, "body: must be a JSON object");
        return HITO_INVALID;
    }
    for (int k = 0; k < 3; k++) {
        if ((v = json_object_get(body, hito_fields[k])) == NULL) {
            hito_fail(err, errlen, "%s: missing", hito_fields[k]);
            return HITO_INVALID;
        }
        if ((rule = field_rule(k, val[k] = hito_plain_string(v))) != NULL) {
            hito_fail(err, errlen, "%s: %s", hito_fields[k], rule);
            return HITO_INVALID;
        }
    }
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "file") && strcmp(key, "title") && strcmp(key, "fecha")) {
            hito_fail(err, errlen, "%s: unknown field", key);
            return HITO_INVALID;
        }
    }
    if (new_name && !file_name_ok(val[0])) {
        hito_fail(err, errlen, "file: %s", HITO_FILE_RULE);
        return HITO_INVALID;
    }
    *c = (hito_change_t){val[0], val[1], val[2]};
    return taken(db, val[0], err, errlen);
}

hito_status_t hito_plan_add(const hito_db_t *db, const json_t *body, hito_change_t *c, char *err, size_t errlen)
{
    return plan(db, body, 1, c, err, errlen);
}

hito_status_t hito_plan_restore(const hito_db_t *db, const json_t *body, hito_change_t *c, char *err, size_t errlen)
{
    return plan(db, body, 0, c, err, errlen);
}

size_t hito_change_encode(const hito_change_t *c, char *buf, size_t cap)
{
    const char *val[3] = {c->file, c->title, c->fecha};
    size_t len = 1;
    if (cap < 1)
        return 0;
    buf[0] = HITO_OP_ADD;
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(val[k]) + 1;
        if (len + n > cap)
            return 0;
        memcpy(buf + len, val[k], n);
        len += n;
    }
    return len;
}

int hito_change_decode(const char *rec, size_t len, hito_change_t *c, char *err, size_t errlen)
{
    const char *val[3], *p = rec + 1, *end = rec + len;
    if (len < 1 || (unsigned char)rec[0] != HITO_OP_ADD) {
        hito_fail(err, errlen, "not a milestone record");
        return -1;
    }
    for (int k = 0; k < 3; k++) {
        const char *nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
        if (nul == NULL) {
            hito_fail(err, errlen, "malformed milestone record (%zu bytes)", len);
            return -1;
        }
        val[k] = p, p = nul + 1;
    }
    if (p != end) {
        hito_fail(err, errlen, "malformed milestone record (%zu bytes)", len);
        return -1;
    }
    *c = (hito_change_t){val[0], val[1], val[2]};
    return 0;
}

long hito_db_apply(hito_db_t **dbp, const hito_change_t *c, char *err, size_t errlen)
{
    const char *val[3] = {c->file, c->title, c->fecha};
    hito_db_t *db = *dbp, *nd = db;
    jsonw_t w = JSONW_INIT;
    size_t len;
    for (int k = 0; k < 3; k++) {
        const char *rule = field_rule(k, val[k]);
        if (rule != NULL) {
            hito_fail(err, errlen, "%s: %s", hito_fields[k], rule);
            return -1;
        }
    }
    if (taken(db, val[0], err, errlen) != HITO_OK)
        return -1;
    for (int k = 0; k < 3; k++) {
        jsonw_lit(&w, k == 0 ? "{\"file\":" : k == 1 ? ",\"title\":" : ",\"fecha\":");
        jsonw_str(&w, val[k], strlen(val[k]));
    }
    jsonw_raw(&w, "}", 1);
    char *json = jsonw_finish(&w, &len);
    if (json != NULL && !db->transient && (nd = calloc(1, sizeof(*nd))) != NULL) {
        *nd = (hito_db_t){.refs = 1, .base = db->base, .list = pvec_share(&db->list), .by_file = pmap_share(&db->by_file)};
        __atomic_add_fetch(&db->base->refs, 1, __ATOMIC_RELAXED);
    }
    if (json != NULL && db->transient) { /* changed in place: what was rendered from it is stale */
        free(db->list_json), free(db->all_json);
        db->list_json = db->all_json = NULL;
    }
    if (json == NULL || nd == NULL || hito_add(nd, val, json, len) != 0) {
        free(json);
        if (nd != db)
            hito_db_release(nd);
        hito_fail(err, errlen, "out of memory");
        return -1;
    }
    free(json);
    if (nd != db) {
        hito_db_release(db);
        *dbp = nd;
    }
    return (long)nd->list.count - 1;
}

typedef struct {
    size_t nfile;
    int (*emit)(void *ctx, const void *rec, size_t len);
    void *ctx;
} dump_t;

static int dump_items(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    dump_t *d = ctx;
    char rec[HITO_CHANGE_MAX];
    (void)index;
    for (size_t i = 0; i < n; i++) {
        const char *file = (const char *)(uintptr_t)run[i].a, *title = file + strlen(file) + 1;
        hito_change_t c = {file, title, title + strlen(title) + 1};
        size_t len = hito_change_encode(&c, rec, sizeof(rec));
        if (len == 0 || d->emit(d->ctx, rec, len) != 0)
            return -1;
    }
    return 0;
}

int hito_dump(const hito_db_t *db, int (*emit)(void *ctx, const void *rec, size_t len), void *ctx)
{
    dump_t d = {db->base->nfile, emit, ctx};
    return pvec_each(&db->list, db->base->nfile, dump_items, &d) != 0 ? -1 : 0;
}
