#include "hito/hito.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hito_db {
    json_t *comment; /* string */
    json_t *list;    /* array: hitos_lista */
    json_t *by_file; /* object: file -> the same milestone objects as in list */
    size_t nfile;    /* list[0..nfile) came from the file; the rest from hito_apply */
};

/* The members of a milestone, in this order wherever they are read. */
static const char *const FIELDS[3] = {"file", "title", "fecha"};

#define FECHA_RULE "must be a real date written d/m/yyyy"
#define TEXT_RULE "must be a non-empty string of at most 256 bytes"

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The string value of v, or NULL when v is not a string or hides a NUL: keys and C APIs would
 * silently cut such a string short. */
static const char *plain_string(const json_t *v)
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
    if (!s)
        return -1;
    const char *p = s + (*s == '-');
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    /* The characters are checked above, so strtol cannot skip spaces or take a '+' or "0x". */
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE)
        return -1;
    if (out)
        *out = v;
    return 0;
}

void hito_db_free(hito_db_t *db)
{
    if (!db)
        return;
    json_decref(db->comment);
    json_decref(db->list);
    json_decref(db->by_file);
    free(db);
}

/* Indexes the file's hitos_lista by file, checking each element's shape. */
static int index_file_list(hito_db_t *db, const char *path, char *err, size_t errlen)
{
    size_t i;
    json_t *h;
    json_array_foreach(db->list, i, h) {
        if (!json_is_object(h)) {
            fail(err, errlen, "%s: hitos_lista[%zu]: must be an object", path, i);
            return -1;
        }
        for (size_t k = 0; k < 3; k++) {
            json_t *v = json_object_get(h, FIELDS[k]);
            if (!v) {
                fail(err, errlen, "%s: hitos_lista[%zu].%s: missing", path, i, FIELDS[k]);
                return -1;
            }
            if (!plain_string(v)) {
                fail(err, errlen, "%s: hitos_lista[%zu].%s: must be a string", path, i, FIELDS[k]);
                return -1;
            }
        }
        if (!hito_fecha_ok(json_string_value(json_object_get(h, "fecha")))) {
            fail(err, errlen, "%s: hitos_lista[%zu].fecha: must be a date d/m/yyyy", path, i);
            return -1;
        }
        const char *file = json_string_value(json_object_get(h, "file"));
        if (json_object_get(db->by_file, file)) {
            fail(err, errlen, "%s: hitos_lista[%zu].file: duplicate \"%s\"", path, i, file);
            return -1;
        }
        if (json_object_set(db->by_file, file, h)) {
            fail(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    db->nfile = json_array_size(db->list);
    return 0;
}

static json_t *read_json(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        fail(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
    int read_errno = ferror(fp) ? errno : 0;
    fclose(fp);
    if (read_errno) {
        json_decref(root);
        fail(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        return NULL;
    }
    if (!root)
        fail(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return root;
}

hito_db_t *hito_db_load(const char *path, char *err, size_t errlen)
{
    hito_db_t *db = calloc(1, sizeof *db);
    if (!db || !(db->by_file = json_object())) {
        free(db);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    if (!path || !*path) {
        db->comment = json_string("");
        db->list = json_array();
        if (!db->comment || !db->list) {
            hito_db_free(db);
            fail(err, errlen, "out of memory");
            return NULL;
        }
        return db;
    }
    json_t *root = read_json(path, err, errlen);
    if (!root) {
        hito_db_free(db);
        return NULL;
    }
    const char *why = NULL;
    json_t *comment = json_object_get(root, "comment");
    json_t *list = json_object_get(root, "hitos_lista");
    if (!json_is_object(root))
        why = "must be a JSON object";
    else if (!comment)
        why = "comment: missing";
    else if (!plain_string(comment))
        why = "comment: must be a string";
    else if (!list)
        why = "hitos_lista: missing";
    else if (!json_is_array(list))
        why = "hitos_lista: must be an array";
    if (why) {
        fail(err, errlen, "%s: %s", path, why);
        json_decref(root);
        hito_db_free(db);
        return NULL;
    }
    db->comment = json_incref(comment);
    db->list = json_incref(list);
    json_decref(root);
    if (index_file_list(db, path, err, errlen)) {
        hito_db_free(db);
        return NULL;
    }
    return db;
}

size_t hito_count(const hito_db_t *db) { return db ? json_array_size(db->list) : 0; }

json_t *hito_get(const hito_db_t *db, size_t index)
{
    return db ? json_array_get(db->list, index) : NULL;
}

json_t *hito_list(const hito_db_t *db) { return db ? db->list : NULL; }

json_t *hito_all(const hito_db_t *db)
{
    if (!db)
        return NULL;
    json_t *all = json_object();
    /* Shallow copies: new containers, so later additions cannot race with the caller's use of
     * the answer, while the immutable milestone objects are shared, not duplicated. */
    if (!all || json_object_set_new(all, "comment", json_copy(db->comment)) ||
        json_object_set_new(all, "hitos_lista", json_copy(db->list)) ||
        json_object_set_new(all, "hitos", json_copy(db->by_file))) {
        json_decref(all);
        return NULL;
    }
    return all;
}

/* Reads and checks file, title and fecha of o. With strict, o may hold nothing else. */
static hito_status_t check_fields(const json_t *o, int strict, const char **val, char *err,
                                  size_t errlen)
{
    for (size_t k = 0; k < 3; k++) {
        json_t *v = json_object_get(o, FIELDS[k]);
        const char *s = plain_string(v);
        if (!v) {
            fail(err, errlen, "%s: missing", FIELDS[k]);
            return HITO_INVALID;
        }
        if (k == 2 ? !hito_fecha_ok(s) : !s || !*s || strlen(s) > HITO_FIELD_MAX) {
            fail(err, errlen, "%s: %s", FIELDS[k], k == 2 ? FECHA_RULE : TEXT_RULE);
            return HITO_INVALID;
        }
        val[k] = s;
    }
    if (strict) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)o, key, v) {
            if (strcmp(key, "file") && strcmp(key, "title") && strcmp(key, "fecha")) {
                fail(err, errlen, "%s: unknown field", key);
                return HITO_INVALID;
            }
        }
    }
    return HITO_OK;
}

hito_status_t hito_plan_add(const hito_db_t *db, const json_t *body, json_t **change, char *err,
                            size_t errlen)
{
    const char *val[3];
    if (change)
        *change = NULL;
    if (!json_is_object(body)) {
        fail(err, errlen, "body: must be a JSON object");
        return HITO_INVALID;
    }
    hito_status_t st = check_fields(body, 1, val, err, errlen);
    if (st != HITO_OK)
        return st;
    if (db && json_object_get(db->by_file, val[0])) {
        fail(err, errlen, "file: \"%s\" already exists", val[0]);
        return HITO_EXISTS;
    }
    json_t *c = json_pack("{s:s, s:s, s:s, s:s}", "op", "hito.add", "file", val[0], "title",
                          val[1], "fecha", val[2]);
    if (!c) {
        fail(err, errlen, "out of memory");
        return HITO_INVALID;
    }
    if (change)
        *change = c;
    else
        json_decref(c);
    return HITO_OK;
}

long hito_apply(hito_db_t *db, const json_t *change, char *err, size_t errlen)
{
    const char *val[3];
    if (!db) {
        fail(err, errlen, "no milestones db");
        return -1;
    }
    if (!json_is_object(change)) {
        fail(err, errlen, "record: must be a JSON object");
        return -1;
    }
    const char *op = plain_string(json_object_get(change, "op"));
    if (!op || strcmp(op, "hito.add") != 0) {
        fail(err, errlen, "op: must be \"hito.add\"");
        return -1;
    }
    if (check_fields(change, 0, val, err, errlen) != HITO_OK)
        return -1;
    if (json_object_get(db->by_file, val[0])) {
        fail(err, errlen, "file: \"%s\" already exists", val[0]);
        return -1;
    }
    json_t *h = json_pack("{s:s, s:s, s:s}", "file", val[0], "title", val[1], "fecha", val[2]);
    if (!h || json_array_append(db->list, h)) {
        json_decref(h);
        fail(err, errlen, "out of memory");
        return -1;
    }
    size_t index = json_array_size(db->list) - 1;
    if (json_object_set(db->by_file, val[0], h)) {
        json_array_remove(db->list, index);
        json_decref(h);
        fail(err, errlen, "out of memory");
        return -1;
    }
    json_decref(h);
    return (long)index;
}

int hito_dump(const hito_db_t *db, int (*cb)(void *ctx, json_t *change), void *ctx)
{
    if (!db || !cb)
        return -1;
    for (size_t i = db->nfile; i < json_array_size(db->list); i++) {
        json_t *h = json_array_get(db->list, i);
        json_t *c = json_pack("{s:s, s:O, s:O, s:O}", "op", "hito.add", "file",
                              json_object_get(h, "file"), "title", json_object_get(h, "title"),
                              "fecha", json_object_get(h, "fecha"));
        if (!c)
            return -1;
        int r = cb(ctx, c);
        json_decref(c);
        if (r)
            return -1;
    }
    return 0;
}
