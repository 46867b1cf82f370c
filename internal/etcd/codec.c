/* The byte-level codecs of the etcd client: base64, the request bodies, and the chunked
 * transfer decoder. */
#include "etcd/etcd.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_base64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len > (SIZE_MAX / 4 - 1) * 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = B64[v >> 18];
        *o++ = B64[v >> 12 & 63];
        *o++ = B64[v >> 6 & 63];
        *o++ = B64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = B64[v >> 18];
        *o++ = B64[v >> 12 & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = B64[v >> 18];
        *o++ = B64[v >> 12 & 63];
        *o++ = B64[v >> 6 & 63];
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *etcd_base64_decode(const char *in, size_t len, size_t *outlen)
{
    if (!in || len % 4 != 0)
        return NULL;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=')
        pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        for (int k = 0; k < 4; k++) {
            /* '=' may stand only for the last one or two characters of the input */
            if (last && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            if ((v[k] = b64_value(in[i + (size_t)k])) < 0)
                goto bad;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (last && pad == 2 && (v[1] & 15) != 0)
            goto bad;
        if (last && pad == 1 && (v[2] & 3) != 0)
            goto bad;
        out[o++] = (char)(w >> 16);
        if (!last || pad < 2)
            out[o++] = (char)(w >> 8 & 0xff);
        if (!last || pad < 1)
            out[o++] = (char)(w & 0xff);
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- request bodies ---- */

/* {"key", "range_end"} selecting every key under prefix, as etcd's own clients compute it; with
 * below, only those sorting before prefix + below. */
static json_t *prefix_range(const char *prefix, const char *below)
{
    size_t n = strlen(prefix), m = n, blen = below != NULL ? strlen(below) : 0;
    while (below == NULL && m > 0 && (unsigned char)prefix[m - 1] == 0xff)
        m--;
    char *end = malloc(below != NULL ? n + blen + 1 : m > 0 ? m : 1);
    if (!end)
        return NULL;
    size_t endlen = 1;
    end[0] = '\0';
    if (below != NULL) {
        memcpy(end, prefix, n);
        memcpy(end + n, below, blen);
        endlen = n + blen;
    } else if (m > 0) {
        memcpy(end, prefix, m);
        end[m - 1] = (char)((unsigned char)end[m - 1] + 1);
        endlen = m;
    }
    char *k = n > 0 ? etcd_base64_encode(prefix, n) : etcd_base64_encode("", 1);
    char *r = etcd_base64_encode(end, endlen);
    json_t *j = k && r ? json_pack("{s:s, s:s}", "key", k, "range_end", r) : NULL;
    free(k);
    free(r);
    free(end);
    return j;
}

char *etcd_range_request(const char *prefix, const char *below)
{
    json_t *j = prefix_range(prefix ? prefix : "", below);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

char *etcd_watch_request(const char *prefix, const char *below, int64_t start_revision)
{
    json_t *range = prefix_range(prefix ? prefix : "", below);
    if (!range)
        return NULL;
    if (start_revision > 0) {
        char rev[24];
        snprintf(rev, sizeof rev, "%" PRId64, start_revision);
        if (json_object_set_new(range, "start_revision", json_string(rev)) < 0) {
            json_decref(range);
            return NULL;
        }
    }
    json_t *j = json_pack("{s:o}", "create_request", range);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* ---- chunked transfer coding ---- */

enum {
    CH_SIZE, /* first byte of a chunk-size line, or more hex digits */
    CH_EXT,  /* the rest of the size line: extensions, whitespace, CR */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,      /* start of a trailer line, or of the empty line that ends the body */
    CH_TRAILER_LINE, /* inside a trailer field */
    CH_TRAILER_LF,
    CH_DONE,
    CH_BAD,
};

/* 15 hex digits already exceed any chunk we would accept in memory */
#define CHUNK_DIGITS_MAX 15

void etcd_chunked_init(etcd_chunked_t *c)
{
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

ssize_t etcd_chunked_feed(etcd_chunked_t *c, const char *in, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        char ch = in[i];
        switch (c->state) {
        case CH_SIZE: {
            int h = hex_value(ch);
            if (h >= 0) {
                if (++c->digits > CHUNK_DIGITS_MAX)
                    goto bad;
                c->left = c->left << 4 | (uint64_t)h;
                i++;
                break;
            }
            if (c->digits == 0 || (ch != ';' && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n'))
                goto bad;
            c->state = CH_EXT;
            break; /* the same byte is looked at again in CH_EXT */
        }
        case CH_EXT:
            i++;
            if (ch == '\n') {
                c->digits = 0;
                c->state = c->left == 0 ? CH_TRAILER : CH_DATA;
            }
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > c->left)
                n = (size_t)c->left;
            memmove(out + o, in + i, n);
            o += n;
            i += n;
            c->left -= n;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            i++;
            if (ch == '\r')
                c->state = CH_DATA_LF;
            else if (ch == '\n')
                c->state = CH_SIZE;
            else
                goto bad;
            break;
        case CH_DATA_LF:
            i++;
            if (ch != '\n')
                goto bad;
            c->state = CH_SIZE;
            break;
        case CH_TRAILER:
            i++;
            c->state = ch == '\r' ? CH_TRAILER_LF : ch == '\n' ? CH_DONE : CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            i++;
            if (ch == '\n')
                c->state = CH_TRAILER;
            break;
        case CH_TRAILER_LF:
            i++;
            if (ch != '\n')
                goto bad;
            c->state = CH_DONE;
            break;
        case CH_DONE:
            return (ssize_t)o;
        default:
            return -1;
        }
    }
    return (ssize_t)o;
bad:
    c->state = CH_BAD;
    return -1;
}

int etcd_chunked_done(const etcd_chunked_t *c)
{
    return c->state == CH_DONE;
}

/* ---- transactions ---- */

/* {"key"} of one key, or {"key", "range_end"} of every key under it. */
static json_t *key_range(const char *key, int prefix)
{
    if (prefix)
        return prefix_range(key, NULL);
    char *k = etcd_base64_encode(key, strlen(key));
    json_t *j = k ? json_pack("{s:s}", "key", k) : NULL;
    free(k);
    return j;
}

static int set_int64(json_t *obj, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    return json_object_set_new(obj, name, json_string(s));
}

static json_t *compare(const etcd_cmp_t *c)
{
    static const char *const target[] = {[ETCD_CMP_CREATE] = "CREATE", [ETCD_CMP_MOD] = "MOD"};
    static const char *const result[] = {[ETCD_CMP_EQUAL] = "EQUAL", [ETCD_CMP_LESS] = "LESS", [ETCD_CMP_GREATER] = "GREATER"};
    json_t *j = key_range(c->key, c->prefix);
    if (j && (json_object_set_new(j, "target", json_string(target[c->target])) < 0 ||
              json_object_set_new(j, "result", json_string(result[c->result])) < 0 ||
              set_int64(j, c->target == ETCD_CMP_CREATE ? "create_revision" : "mod_revision", c->revision) < 0)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *request_op(const etcd_op_t *o)
{
    json_t *j = key_range(o->key, o->kind != ETCD_OP_PUT && o->prefix);
    int bad = j == NULL;
    if (!bad && o->kind == ETCD_OP_PUT) {
        const char *v = o->value ? o->value : "";
        char *b = etcd_base64_encode(v, strlen(v));
        bad = b == NULL || json_object_set_new(j, "value", json_string(b)) < 0 ||
              (o->prev_kv && json_object_set_new(j, "prev_kv", json_true()) < 0);
        free(b);
    }
    if (!bad && o->kind == ETCD_OP_RANGE && o->newest)
        bad = json_object_set_new(j, "sort_order", json_string("DESCEND")) < 0 ||
              json_object_set_new(j, "sort_target", json_string("MOD")) < 0 || set_int64(j, "limit", 1) < 0;
    if (bad) {
        json_decref(j);
        return NULL;
    }
    static const char *const name[] = {
        [ETCD_OP_PUT] = "request_put", [ETCD_OP_DELETE] = "request_delete_range", [ETCD_OP_RANGE] = "request_range"};
    return json_pack("{s:o}", name[o->kind], j);
}

/* A JSON array of n items made by one of the two makers above; NULL when any fails. */
static json_t *array_of(const void *items, size_t size, size_t n, json_t *(*make)(const void *))
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, make((const char *)items + i * size)) < 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static json_t *make_compare(const void *c)
{
    return compare(c);
}
static json_t *make_op(const void *o)
{
    return request_op(o);
}

/* {"compare", "success", "failure"} of one transaction; NULL when out of memory. */
static json_t *txn_json(const etcd_txn_t *t)
{
    json_t *c = array_of(t->cmp, sizeof(*t->cmp), t->ncmp, make_compare);
    json_t *s = array_of(t->ok, sizeof(*t->ok), t->nok, make_op);
    json_t *f = array_of(t->fail, sizeof(*t->fail), t->nfail, make_op);
    json_t *j = c && s && f ? json_pack("{s:o, s:o, s:o}", "compare", c, "success", s, "failure", f) : NULL;
    if (j == NULL) {
        json_decref(c);
        json_decref(s);
        json_decref(f);
    }
    return j;
}

static char *dump(json_t *j)
{
    char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out;
}

char *etcd_txn_request(const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail)
{
    etcd_txn_t t = {.cmp = cmp, .ncmp = ncmp, .ok = ok, .nok = nok, .fail = fail, .nfail = nfail};
    return dump(txn_json(&t));
}

char *etcd_txn_group_request(const etcd_txn_t *t, size_t n)
{
    json_t *s = json_array();
    for (size_t i = 0; s != NULL && i < n; i++) {
        json_t *one = txn_json(&t[i]);
        if (one == NULL || json_array_append_new(s, json_pack("{s:o}", "request_txn", one)) < 0) {
            json_decref(s);
            s = NULL;
        }
    }
    return dump(s ? json_pack("{s:o}", "success", s) : NULL);
}
