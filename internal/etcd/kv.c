/* The unary calls: range, get, put, delete and a transaction's request, each tried on the
 * endpoints in order within one deadline. */
#include "etcd/etcd_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Posts body to path on each endpoint in turn, from the one that answered last, until one
 * answers 2xx. Every endpoint gets an
 * equal share of the time left when its turn comes, so one that accepts and stays silent costs
 * its share only. The error names every endpoint tried and its reason. body is freed here; NULL
 * stands for a body that could not be built for want of memory. */
static int call_on(etcd_t *e, const char *path, char *body, int timeout_ms, int keep, char **resp, size_t *resp_len, char *err,
                   size_t errlen)
{
    int64_t deadline = etcd_clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t n = etcd_endpoint_count(e), used = 0;
    char why[256];
    *resp = NULL;
    if (!body) {
        etcd_seterr(err, errlen, "out of memory");
        return -1;
    }
    if (err && errlen)
        err[0] = '\0';
    size_t first = etcd_endpoint_preferred(e);
    for (size_t k = 0; k < n; k++) {
        size_t i = (first + k) % n;
        int64_t now = etcd_clock_ms(), left = deadline - now;
        if (left <= 0) {
            snprintf(why, sizeof why, "not tried: no time left");
        } else if ((keep ? etcd_http_post_kept : etcd_http_post)(e, i, path, body, now + left / (int64_t)(n - k), NULL, resp,
                                                                 resp_len, why, sizeof why) == 0) {
            etcd_endpoint_prefer(e, i);
            free(body);
            return 0;
        }
        if (err && used < errlen) {
            int w = snprintf(err + used, errlen - used, "%s%s: %s", used ? "; " : "", etcd_endpoint_name(e, i), why);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    free(body);
    return -1;
}

static int call(etcd_t *e, const char *path, char *body, int timeout_ms, char **resp, size_t *resp_len, char *err, size_t errlen)
{
    return call_on(e, path, body, timeout_ms, 0, resp, resp_len, err, errlen);
}

/* call() with {"key": base64(key)} plus, when value is not NULL, "value": base64(value). */
static int key_call(etcd_t *e, const char *path, const char *key, const char *value, int timeout_ms, char **resp, size_t *resp_len,
                    char *err, size_t errlen)
{
    *resp = NULL;
    if (!key || !*key) {
        etcd_seterr(err, errlen, "empty key");
        return -1;
    }
    char *k = etcd_base64_encode(key, strlen(key));
    char *v = value ? etcd_base64_encode(value, strlen(value)) : NULL;
    json_t *j = NULL;
    if (k && (v || !value))
        j = value ? json_pack("{s:s, s:s}", "key", k, "value", v) : json_pack("{s:s}", "key", k);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    free(k);
    free(v);
    return call(e, path, body, timeout_ms, resp, resp_len, err, errlen);
}

int etcd_range(etcd_t *e, const char *prefix, const char *below, int timeout_ms, etcd_kv_t **kvs, size_t *n, int64_t *revision,
               char *err, size_t errlen)
{
    char *resp;
    size_t len = 0;
    *kvs = NULL;
    *n = 0;
    if (call(e, "/v3/kv/range", etcd_range_request(prefix, below), timeout_ms, &resp, &len, err, errlen) < 0)
        return -1;
    int rc = etcd_parse_range(resp, len, kvs, n, revision, err, errlen);
    free(resp);
    return rc;
}

int etcd_get(etcd_t *e, const char *key, int timeout_ms, char **value, char *err, size_t errlen)
{
    char *resp;
    size_t len = 0, n = 0;
    etcd_kv_t *kvs = NULL;
    *value = NULL;
    if (key_call(e, "/v3/kv/range", key, NULL, timeout_ms, &resp, &len, err, errlen) < 0)
        return -1;
    int rc = etcd_parse_range(resp, len, &kvs, &n, NULL, err, errlen);
    free(resp);
    if (rc == 0 && n > 0) {
        *value = kvs[0].value;
        kvs[0].value = NULL;
    }
    etcd_kvs_free(kvs, n);
    return rc;
}

/* A put or a delete: the answer carries only a header. */
static int write_call(etcd_t *e, const char *path, const char *key, const char *value, int timeout_ms, char *err, size_t errlen)
{
    char *resp;
    size_t len = 0;
    if (key_call(e, path, key, value, timeout_ms, &resp, &len, err, errlen) < 0)
        return -1;
    int rc = etcd_parse_header(resp, len, NULL, err, errlen);
    free(resp);
    return rc;
}

int etcd_put(etcd_t *e, const char *key, const char *value, int timeout_ms, char *err, size_t errlen)
{
    return write_call(e, "/v3/kv/put", key, value ? value : "", timeout_ms, err, errlen);
}

int etcd_delete(etcd_t *e, const char *key, int timeout_ms, char *err, size_t errlen)
{
    return write_call(e, "/v3/kv/deleterange", key, NULL, timeout_ms, err, errlen);
}

int etcd_txn_send(etcd_t *e, char *body, int timeout_ms, char **resp, size_t *resp_len, char *err, size_t errlen)
{
    /* transactions come often, from long-lived threads: on kept connections */
    return call_on(e, "/v3/kv/txn", body, timeout_ms, 1, resp, resp_len, err, errlen);
}
