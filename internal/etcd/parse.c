/* Parsing of the gateway's JSON: unary answers and the watch stream. The gateway writes int64
 * fields as strings and leaves out zero values, so a missing field reads as 0 or "". */
#include "etcd/etcd.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MESSAGE_MAX (16u << 20)

/* An int64 field: absent (0), a JSON integer, or a string of decimal digits. */
static int get_int64(const json_t *obj, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -1;
    int64_t r = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || r > (INT64_MAX - 9) / 10)
            return -1;
        r = r * 10 + (*p - '0');
    }
    *out = r;
    return 0;
}

/* A base64 field decoded: "" when absent (the gateway omits empty values); NULL when the field
 * is not a string of valid base64, or when out of memory. */
static char *get_b64(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (!v)
        return strdup("");
    if (!json_is_string(v))
        return NULL;
    return etcd_base64_decode(json_string_value(v), json_string_length(v), NULL);
}

/* One key-value object of an answer into *o (whose strings the caller frees). 0; -1 when malformed. */
static int parse_kv(const json_t *kv, etcd_kv_t *o)
{
    if (!json_is_object(kv) || !json_is_string(json_object_get(kv, "key")) || !(o->key = get_b64(kv, "key")) ||
        !(o->value = get_b64(kv, "value")) || get_int64(kv, "create_revision", &o->create_revision) < 0 ||
        get_int64(kv, "mod_revision", &o->mod_revision) < 0)
        return -1;
    return 0;
}

static json_t *load(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    if (!j) {
        etcd_seterr(err, errlen, "answer is not JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(json_object_get(j, "header"))) {
        etcd_seterr(err, errlen, "answer has no header");
        json_decref(j);
        return NULL;
    }
    return j;
}

void etcd_kvs_free(etcd_kv_t *kvs, size_t n)
{
    if (!kvs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kvs[i].key);
        free(kvs[i].value);
    }
    free(kvs);
}

int etcd_parse_header(const char *body, size_t len, int64_t *revision, char *err, size_t errlen)
{
    json_t *j = load(body, len, err, errlen);
    if (!j)
        return -1;
    int64_t rev;
    int rc = get_int64(json_object_get(j, "header"), "revision", &rev);
    json_decref(j);
    if (rc < 0) {
        etcd_seterr(err, errlen, "answer has an invalid header.revision");
        return -1;
    }
    if (revision)
        *revision = rev;
    return 0;
}

int etcd_parse_range(const char *body, size_t len, etcd_kv_t **kvs, size_t *n, int64_t *revision, char *err, size_t errlen)
{
    *kvs = NULL;
    *n = 0;
    json_t *j = load(body, len, err, errlen);
    if (!j)
        return -1;
    etcd_kv_t *out = NULL;
    size_t count = 0;
    int64_t rev;
    json_t *arr = json_object_get(j, "kvs");
    if (get_int64(json_object_get(j, "header"), "revision", &rev) < 0) {
        etcd_seterr(err, errlen, "answer has an invalid header.revision");
        goto fail;
    }
    if (arr && !json_is_array(arr)) {
        etcd_seterr(err, errlen, "answer's kvs is not an array");
        goto fail;
    }
    if (arr && json_array_size(arr) > 0) {
        out = calloc(json_array_size(arr), sizeof *out);
        if (!out) {
            etcd_seterr(err, errlen, "out of memory");
            goto fail;
        }
        size_t i;
        json_t *kv;
        json_array_foreach(arr, i, kv)
        {
            if (parse_kv(kv, &out[count++]) < 0) {
                etcd_seterr(err, errlen, "answer's kvs[%zu] is malformed", i);
                goto fail;
            }
        }
    }
    json_decref(j);
    *kvs = out;
    *n = count;
    if (revision)
        *revision = rev;
    return 0;
fail:
    etcd_kvs_free(out, count);
    json_decref(j);
    return -1;
}

/* ---- transactions ---- */

void etcd_txn_result_free(etcd_txn_result_t *r)
{
    for (size_t i = 0; r->ops != NULL && i < r->n; i++)
        etcd_kvs_free(r->ops[i].kvs, r->ops[i].kvs != NULL ? r->ops[i].n : 0);
    free(r->ops);
    *r = (etcd_txn_result_t){0};
}

/* One response of a branch: response_range's kvs, response_put's prev_kv, response_delete_range's count. */
static int parse_op_result(const json_t *resp, etcd_op_result_t *o)
{
    const json_t *v;
    int64_t deleted;
    if ((v = json_object_get(resp, "response_range")) != NULL) {
        const json_t *arr = json_object_get(v, "kvs");
        if (arr != NULL && !json_is_array(arr))
            return -1;
        size_t n = json_array_size(arr);
        if (n > 0 && (o->kvs = calloc(n, sizeof(*o->kvs))) == NULL)
            return -1;
        for (size_t i = 0; i < n; i++, o->n++)
            if (parse_kv(json_array_get(arr, i), &o->kvs[i]) < 0)
                return o->n++, -1;
        return 0;
    }
    if ((v = json_object_get(resp, "response_put")) != NULL) {
        const json_t *prev = json_object_get(v, "prev_kv");
        if (prev == NULL)
            return 0;
        if ((o->kvs = calloc(1, sizeof(*o->kvs))) == NULL)
            return -1;
        o->n = 1;
        return parse_kv(prev, o->kvs);
    }
    if ((v = json_object_get(resp, "response_delete_range")) != NULL && get_int64(v, "deleted", &deleted) == 0) {
        o->n = (size_t)deleted;
        return 0;
    }
    return -1;
}

/* succeeded and responses of one transaction's answer, top-level or nested; revision is left
 * to the caller. 0; -1 with err and *r empty. */
static int parse_branch(const json_t *j, etcd_txn_result_t *r, char *err, size_t errlen)
{
    const json_t *arr = json_object_get(j, "responses");
    *r = (etcd_txn_result_t){0};
    if (!json_is_object(j) || (arr != NULL && !json_is_array(arr))) {
        etcd_seterr(err, errlen, "answer is not a transaction's");
        return -1;
    }
    r->succeeded = json_is_true(json_object_get(j, "succeeded"));
    size_t n = json_array_size(arr);
    if (n > 0 && (r->ops = calloc(n, sizeof(*r->ops))) == NULL) {
        etcd_seterr(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++, r->n++)
        if (parse_op_result(json_array_get(arr, i), &r->ops[i]) < 0) {
            r->n++;
            etcd_seterr(err, errlen, "the transaction's responses[%zu] is malformed", i);
            etcd_txn_result_free(r);
            return -1;
        }
    return 0;
}

/* The answer's JSON and its header's revision; NULL with err when it has none. */
static json_t *load_txn(const char *body, size_t len, int64_t *revision, char *err, size_t errlen)
{
    json_t *j = load(body, len, err, errlen);
    if (j != NULL && get_int64(json_object_get(j, "header"), "revision", revision) < 0) {
        etcd_seterr(err, errlen, "answer is not a transaction's");
        json_decref(j);
        return NULL;
    }
    return j;
}

int etcd_parse_txn(const char *body, size_t len, etcd_txn_result_t *r, char *err, size_t errlen)
{
    int64_t rev = 0;
    *r = (etcd_txn_result_t){0};
    json_t *j = load_txn(body, len, &rev, err, errlen);
    int rc = j != NULL ? parse_branch(j, r, err, errlen) : -1;
    r->revision = rc == 0 ? rev : 0;
    json_decref(j);
    return rc;
}

int etcd_parse_txn_group(const char *body, size_t len, etcd_txn_result_t *r, size_t n, char *err, size_t errlen)
{
    int64_t rev = 0;
    size_t i = 0;
    memset(r, 0, n * sizeof(*r));
    json_t *j = load_txn(body, len, &rev, err, errlen);
    const json_t *arr = json_object_get(j, "responses");
    if (j != NULL && json_array_size(arr) != n)
        etcd_seterr(err, errlen, "the answer has %zu transactions' responses, not %zu", json_array_size(arr), n);
    else
        for (; j != NULL && i < n; i++) {
            if (parse_branch(json_object_get(json_array_get(arr, i), "response_txn"), &r[i], err, errlen) < 0)
                break;
            r[i].revision = rev;
        }
    json_decref(j);
    if (i == n)
        return 0;
    while (i-- > 0)
        etcd_txn_result_free(&r[i]);
    return -1;
}

/* ---- the watch stream ---- */

void etcd_stream_init(etcd_stream_t *s, void (*on_event)(void *ctx, const etcd_event_t *ev), void *ctx)
{
    memset(s, 0, sizeof *s);
    s->on_event = on_event;
    s->ctx = ctx;
}

void etcd_stream_free(etcd_stream_t *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

static int stream_fail(etcd_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    s->broken = 1;
    return -1;
}

typedef struct {
    etcd_event_t ev;
    char *key, *value;
} event_t;

static void events_free(event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(evs[i].key);
        free(evs[i].value);
    }
    free(evs);
}

/* Revision order, and key order within a revision: one transaction's events come in the order of
 * its operations, which may be any, while a range returns keys in key order. Delivered this way,
 * a watcher and a reader of the whole range order what one revision made alike. A revision never
 * holds one key twice. */
static int by_revision_key(const void *x, const void *y)
{
    const etcd_event_t *a = &((const event_t *)x)->ev, *b = &((const event_t *)y)->ev;
    if (a->mod_revision != b->mod_revision)
        return a->mod_revision < b->mod_revision ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Checks and decodes every event of a message before any is delivered, so that a malformed
 * message delivers nothing and a resume never starts in the middle of a revision. */
static int deliver_events(etcd_stream_t *s, const json_t *arr)
{
    size_t n = json_array_size(arr), i;
    event_t *evs = calloc(n ? n : 1, sizeof *evs);
    if (!evs)
        return stream_fail(s, "out of memory");
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const json_t *kv = json_object_get(e, "kv");
        const json_t *type = json_object_get(e, "type");
        event_t *o = &evs[i];
        if (type && !json_is_string(type))
            goto bad;
        if (type && strcmp(json_string_value(type), "PUT") != 0) {
            if (strcmp(json_string_value(type), "DELETE") != 0)
                goto bad;
            o->ev.deleted = 1;
        }
        if (!json_is_object(kv) || !json_is_string(json_object_get(kv, "key")) || !(o->key = get_b64(kv, "key")) ||
            get_int64(kv, "mod_revision", &o->ev.mod_revision) < 0 || get_int64(kv, "create_revision", &o->ev.create_revision) < 0)
            goto bad;
        if (!o->ev.deleted && !(o->value = get_b64(kv, "value")))
            goto bad;
        o->ev.key = o->key;
        o->ev.value = o->value;
    }
    qsort(evs, n, sizeof(*evs), by_revision_key);
    for (i = 0; i < n; i++) {
        if (s->on_event)
            s->on_event(s->ctx, &evs[i].ev);
        if (evs[i].ev.mod_revision > s->revision)
            s->revision = evs[i].ev.mod_revision;
    }
    events_free(evs, n);
    return 0;
bad:
    events_free(evs, n);
    return stream_fail(s, "malformed event %zu in watch message %zu", i, s->messages + 1);
}

static void copy_text(char *dst, size_t cap, const json_t *v)
{
    const char *t = json_string_value(v);
    if (!t && json_is_object(v))
        t = json_string_value(json_object_get(v, "message"));
    snprintf(dst, cap, "%s", t && *t ? t : "unknown error");
}

static int handle_message(etcd_stream_t *s, const json_t *m)
{
    const json_t *error = json_object_get(m, "error");
    const json_t *r = json_object_get(m, "result");
    if (error) {
        s->failed = 1;
        copy_text(s->error, sizeof s->error, error);
    } else if (json_is_object(r)) {
        int64_t hrev, crev;
        if (get_int64(json_object_get(r, "header"), "revision", &hrev) < 0 || get_int64(r, "compact_revision", &crev) < 0)
            return stream_fail(s, "invalid revision in watch message %zu", s->messages + 1);
        if (hrev > s->header_revision)
            s->header_revision = hrev;
        if (json_is_true(json_object_get(r, "created")))
            s->created = 1;
        const json_t *events = json_object_get(r, "events");
        if (events && !json_is_array(events))
            return stream_fail(s, "events of watch message %zu is not an array", s->messages + 1);
        if (events && deliver_events(s, events) < 0)
            return -1;
        if (json_is_true(json_object_get(r, "canceled")) || crev > 0) {
            s->canceled = 1;
            if (crev > 0)
                s->compact_revision = crev;
            const json_t *why = json_object_get(r, "cancel_reason");
            if (json_is_string(why) && json_string_length(why) > 0)
                snprintf(s->error, sizeof s->error, "%s", json_string_value(why));
        }
    }
    s->messages++;
    return 0;
}

int etcd_stream_feed(etcd_stream_t *s, const void *data, size_t len)
{
    if (s->broken)
        return -1;
    if (len == 0)
        return 0;
    if (s->len + len > STREAM_MESSAGE_MAX)
        return stream_fail(s, "watch message larger than %u bytes", STREAM_MESSAGE_MAX);
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + len)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return stream_fail(s, "out of memory");
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    /* Each message is parsed once, when its closing brace is in: a scan of the new bytes keeps
     * the nesting depth and whether it is inside a string, so a message that arrives in many
     * pieces is not parsed again at each one. */
    size_t used = 0;
    for (size_t i = s->scanned; i < s->len; i++) {
        char c = s->buf[i];
        if (s->depth == 0) {
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                continue;
            if (c != '{')
                return stream_fail(s, "watch stream holds something other than a JSON object");
            s->start = i, s->depth = 1;
        } else if (s->in_string) {
            if (s->escaped)
                s->escaped = 0;
            else if (c == '\\')
                s->escaped = 1;
            else if (c == '"')
                s->in_string = 0;
        } else if (c == '"') {
            s->in_string = 1;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if ((c == '}' || c == ']') && --s->depth == 0) {
            json_error_t je;
            json_t *m = json_loadb(s->buf + s->start, i + 1 - s->start, 0, &je);
            if (!m)
                return stream_fail(s, "invalid JSON in the watch stream: %s", je.text);
            int rc = handle_message(s, m);
            json_decref(m);
            if (rc < 0)
                return -1;
            used = i + 1;
        }
    }
    if (s->depth == 0) /* only whitespace after the last message */
        used = s->len;
    memmove(s->buf, s->buf + used, s->len - used);
    s->len -= used;
    s->scanned = s->len;
    s->start -= s->depth > 0 ? used : s->start;
    return 0;
}
