/* The milestones: their versions, the file they come from, rendering them. Adding one is in
 * change.c. */
#include "hito/hito_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const pmap_ops_t hito_by_file_ops = {pmap_cmp_str, NULL, NULL, NULL};

const char *const hito_fields[3] = {"file", "title", "fecha"};

void hito_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Keys and C APIs would silently cut a string hiding a NUL short. */
const char *hito_plain_string(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s && strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

/* Up to max decimal digits into *v; returns how many were read. */
static int take_digits(const char **p, int max, int *v)
{
    int n = 0;
    *v = 0;
    while (n < max && **p >= '0' && **p <= '9') {
        *v = *v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n;
}

int hito_fecha_ok(const char *s)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int d, m, y;
    if (!s)
        return 0;
    if (take_digits(&s, 2, &d) < 1 || *s++ != '/')
        return 0;
    if (take_digits(&s, 2, &m) < 1 || *s++ != '/')
        return 0;
    if (take_digits(&s, 4, &y) != 4 || *s != '\0')
        return 0;
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

int hito_index_parse(const char *s, long *out)
{
    /* one spelling per index, so that no two paths name the same milestone ("-0", "00", "+0") */
    size_t n = s != NULL ? strspn(s, "0123456789") : 0;
    if (n == 0 || s[n] != '\0' || (s[0] == '0' && n > 1))
        return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (out)
        *out = errno == ERANGE ? LONG_MAX : v;
    return 0;
}

/* ---- versions ---- */

static void base_unref(hito_base_t *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        arena_free(&b->text);
        free(b->comment);
        free(b);
    }
}

hito_db_t *hito_db_ref(hito_db_t *db)
{
    __atomic_add_fetch(&db->refs, 1, __ATOMIC_RELAXED);
    return db;
}

void hito_db_release(hito_db_t *db)
{
    if (db == NULL || __atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pvec_release(&db->list);
    pmap_release(&db->by_file, &hito_by_file_ops);
    if (db->base != NULL)
        base_unref(db->base);
    free(db->list_json);
    free(db->all_json);
    free(db);
}

void hito_db_seal(hito_db_t *db)
{
    db->transient = 0;
}

size_t hito_count(const hito_db_t *db)
{
    return db->list.count;
}

long hito_find(const hito_db_t *db, const char *file)
{
    uint64_t index;
    return file != NULL && pmap_get(&db->by_file, &hito_by_file_ops, (uintptr_t)file, &index) ? (long)index : -1;
}

int hito_from_file(const hito_db_t *db, const char *file)
{
    uint64_t index;
    return file != NULL && pmap_get(&db->by_file, &hito_by_file_ops, (uintptr_t)file, &index) && index < db->base->nfile;
}

const char *hito_json(const hito_db_t *db, size_t index, size_t *len)
{
    if (index >= db->list.count)
        return NULL;
    const char *j = (const char *)(uintptr_t)pvec_get(&db->list, index).b;
    *len = strlen(j);
    return j;
}

/* Adds a milestone whose texts are checked: its fields and its JSON go to the arena. -1 on OOM. */
int hito_add(hito_db_t *db, const char *const val[3], const char *json, size_t jsonlen)
{
    size_t n[3] = {strlen(val[0]), strlen(val[1]), strlen(val[2])}, total = n[0] + n[1] + n[2] + 3;
    char stack[3 * (HITO_FIELD_MAX + 1)], *triple = total <= sizeof(stack) ? stack : malloc(total), *p = triple;
    if (triple == NULL)
        return -1;
    for (int k = 0; k < 3; k++)
        memcpy(p, val[k], n[k] + 1), p += n[k] + 1;
    const char *fields = arena_strdup(&db->base->text, triple, total - 1);
    if (triple != stack)
        free(triple);
    const char *j = fields != NULL ? arena_strdup(&db->base->text, json, jsonlen) : NULL;
    if (j == NULL || pvec_push(&db->list, (pvec_entry_t){(uintptr_t)fields, (uintptr_t)j}) != 0)
        return -1;
    return pmap_put(&db->by_file, &hito_by_file_ops, (uintptr_t)fields, db->list.count - 1);
}

/* ---- the file ---- */

static json_t *read_json(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        hito_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        hito_fail(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
    int read_errno = ferror(fp) ? errno : 0;
    fclose(fp);
    if (read_errno) {
        json_decref(root);
        hito_fail(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        return NULL;
    }
    if (!root)
        hito_fail(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return root;
}

/* Adds the file's milestones, checking each element's shape; each keeps its JSON as written. */
static int add_file_list(hito_db_t *db, const char *path, const json_t *list, char *err, size_t errlen)
{
    size_t i;
    json_t *h;
    json_array_foreach(list, i, h)
    {
        const char *val[3];
        if (!json_is_object(h)) {
            hito_fail(err, errlen, "%s: hitos_lista[%zu]: must be an object", path, i);
            return -1;
        }
        for (size_t k = 0; k < 3; k++) {
            json_t *v = json_object_get(h, hito_fields[k]);
            if ((val[k] = hito_plain_string(v)) == NULL) {
                hito_fail(err, errlen, "%s: hitos_lista[%zu].%s: %s", path, i, hito_fields[k], v ? "must be a string" : "missing");
                return -1;
            }
        }
        if (!hito_fecha_ok(val[2])) {
            hito_fail(err, errlen, "%s: hitos_lista[%zu].fecha: must be a date d/m/yyyy", path, i);
            return -1;
        }
        if (pmap_get(&db->by_file, &hito_by_file_ops, (uintptr_t)val[0], NULL)) {
            hito_fail(err, errlen, "%s: hitos_lista[%zu].file: duplicate \"%s\"", path, i, val[0]);
            return -1;
        }
        char *json = json_dumps(h, JSON_COMPACT);
        int rc = json != NULL ? hito_add(db, val, json, strlen(json)) : -1;
        free(json);
        if (rc != 0) {
            hito_fail(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    db->base->nfile = db->list.count;
    return 0;
}

static hito_db_t *db_new(const char *comment, size_t len)
{
    hito_db_t *db = calloc(1, sizeof(*db));
    jsonw_t w = JSONW_INIT;
    size_t n;
    if (db == NULL || (db->base = calloc(1, sizeof(*db->base))) == NULL) {
        free(db);
        return NULL;
    }
    db->refs = 1, db->transient = 1, db->base->refs = 1;
    jsonw_str(&w, comment, len);
    if ((db->base->comment = jsonw_finish(&w, &n)) == NULL) {
        hito_db_release(db);
        return NULL;
    }
    return db;
}

hito_db_t *hito_db_load(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        hito_db_t *db = db_new("", 0);
        if (db == NULL)
            hito_fail(err, errlen, "out of memory");
        return db;
    }
    json_t *root = read_json(path, err, errlen);
    if (!root)
        return NULL;
    const char *why = NULL;
    json_t *comment = json_object_get(root, "comment");
    json_t *list = json_object_get(root, "hitos_lista");
    if (!json_is_object(root))
        why = "must be a JSON object";
    else if (!comment)
        why = "comment: missing";
    else if (!hito_plain_string(comment))
        why = "comment: must be a string";
    else if (!list)
        why = "hitos_lista: missing";
    else if (!json_is_array(list))
        why = "hitos_lista: must be an array";
    hito_db_t *db = why == NULL ? db_new(json_string_value(comment), json_string_length(comment)) : NULL;
    if (why != NULL)
        hito_fail(err, errlen, "%s: %s", path, why);
    else if (db == NULL)
        hito_fail(err, errlen, "%s: out of memory", path);
    else if (add_file_list(db, path, list, err, errlen) != 0)
        hito_db_release(db), db = NULL;
    json_decref(root);
    return db;
}

/* ---- rendering ---- */

static int list_items(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    jsonw_t *w = ctx;
    for (size_t i = 0; i < n; i++) {
        if (index + i > 0)
            jsonw_raw(w, ",", 1);
        jsonw_lit(w, (const char *)(uintptr_t)run[i].b);
    }
    return 0;
}

static int by_file_items(void *ctx, size_t index, const pvec_entry_t *run, size_t n)
{
    jsonw_t *w = ctx;
    for (size_t i = 0; i < n; i++) {
        const char *file = (const char *)(uintptr_t)run[i].a;
        if (index + i > 0)
            jsonw_raw(w, ",", 1);
        jsonw_str(w, file, strlen(file));
        jsonw_raw(w, ":", 1);
        jsonw_lit(w, (const char *)(uintptr_t)run[i].b);
    }
    return 0;
}

static jsonw_text_t *render_list(const void *ctx)
{
    const hito_db_t *db = ctx;
    jsonw_t w = JSONW_INIT;
    jsonw_text_begin(&w);
    jsonw_raw(&w, "[", 1);
    pvec_each(&db->list, 0, list_items, &w);
    jsonw_raw(&w, "]", 1);
    return jsonw_text_finish(&w);
}

static jsonw_text_t *render_all(const void *ctx)
{
    const hito_db_t *db = ctx;
    jsonw_t w = JSONW_INIT;
    jsonw_text_begin(&w);
    jsonw_lit(&w, "{\"hitos\":{\"comment\":");
    jsonw_lit(&w, db->base->comment);
    jsonw_lit(&w, ",\"hitos_lista\":[");
    pvec_each(&db->list, 0, list_items, &w);
    jsonw_lit(&w, "],\"hitos\":{");
    pvec_each(&db->list, 0, by_file_items, &w);
    jsonw_lit(&w, "}}}");
    return jsonw_text_finish(&w);
}

const char *hito_list_json(const hito_db_t *db, size_t *len)
{
    return jsonw_text_once(&((hito_db_t *)db)->list_json, render_list, db, len);
}

const char *hito_all_json(const hito_db_t *db, size_t *len)
{
    return jsonw_text_once(&((hito_db_t *)db)->all_json, render_all, db, len);
}
