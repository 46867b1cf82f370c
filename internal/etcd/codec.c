/* The byte-level codecs of the etcd client: base64, the request bodies, and the chunked
 * transfer decoder. */
#include "etcd/etcd.h"
#include "jsonw/jsonw.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* len bytes of p as base64 into out, which has room for (len + 2) / 3 * 4 bytes: their number. */
static size_t b64_into(char *out, const unsigned char *p, size_t len)
{
    char *o = out;
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
    return (size_t)(o - out);
}

char *etcd_base64_encode(const void *data, size_t len)
{
    if (len > (SIZE_MAX / 4 - 1) * 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out != NULL)
        out[b64_into(out, data, len)] = '\0';
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

/* n bytes of data as a JSON string of their base64 (whose alphabet needs no escaping). */
static void b64_str(jsonw_t *w, const void *data, size_t n)
{
    char buf[4 * 64];
    const unsigned char *p = data;
    jsonw_raw(w, "\"", 1);
    for (size_t i = 0; i < n; i += 3 * 64) {
        size_t k = n - i < 3 * 64 ? n - i : 3 * 64;
        jsonw_raw(w, buf, b64_into(buf, p + i, k));
    }
    jsonw_raw(w, "\"", 1);
}

/* "key" of one key; with prefix, "key" and "range_end" selecting every key under it, as etcd's own
 * clients compute it, and with below, only those sorting before key + below. */
static void key_fields(jsonw_t *w, const char *key, int prefix, const char *below)
{
    size_t n = strlen(key), m = n, blen = below != NULL ? strlen(below) : 0;
    jsonw_lit(w, "\"key\":");
    if (prefix && n == 0)
        b64_str(w, "", 1); /* "\0", the first key: with range_end "\0", every key */
    else
        b64_str(w, key, n);
    if (!prefix)
        return;
    while (below == NULL && m > 0 && (unsigned char)key[m - 1] == 0xff)
        m--;
    char *end = malloc(n + blen + 1);
    size_t endlen = 1;
    if (end == NULL) {
        w->oom = 1;
        return;
    }
    end[0] = '\0';
    if (below != NULL) {
        memcpy(end, key, n);
        memcpy(end + n, below, blen);
        endlen = n + blen;
    } else if (m > 0) {
        memcpy(end, key, m);
        end[m - 1] = (char)((unsigned char)end[m - 1] + 1);
        endlen = m;
    }
    jsonw_lit(w, ",\"range_end\":");
    b64_str(w, end, endlen);
    free(end);
}

/* ,"name":"v": etcd's JSON gateway takes 64-bit integers as strings. */
static void int64_field(jsonw_t *w, const char *name, int64_t v)
{
    char s[48];
    jsonw_raw(w, s, (size_t)snprintf(s, sizeof s, ",\"%s\":\"%" PRId64 "\"", name, v));
}

char *etcd_range_request(const char *prefix, const char *below)
{
    jsonw_t w = JSONW_INIT;
    size_t len;
    jsonw_lit(&w, "{");
    key_fields(&w, prefix ? prefix : "", 1, below);
    jsonw_lit(&w, "}");
    return jsonw_finish(&w, &len);
}

char *etcd_watch_request(const char *prefix, const char *below, int64_t start_revision)
{
    jsonw_t w = JSONW_INIT;
    size_t len;
    jsonw_lit(&w, "{\"create_request\":{");
    key_fields(&w, prefix ? prefix : "", 1, below);
    if (start_revision > 0)
        int64_field(&w, "start_revision", start_revision);
    jsonw_lit(&w, "}}");
    return jsonw_finish(&w, &len);
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

static void compare(jsonw_t *w, const etcd_cmp_t *c)
{
    static const char *const target[] = {[ETCD_CMP_CREATE] = "CREATE", [ETCD_CMP_MOD] = "MOD"};
    static const char *const result[] = {[ETCD_CMP_EQUAL] = "EQUAL", [ETCD_CMP_LESS] = "LESS", [ETCD_CMP_GREATER] = "GREATER"};
    jsonw_lit(w, "{");
    key_fields(w, c->key, c->prefix, NULL);
    jsonw_lit(w, ",\"target\":\"");
    jsonw_lit(w, target[c->target]);
    jsonw_lit(w, "\",\"result\":\"");
    jsonw_lit(w, result[c->result]);
    jsonw_lit(w, "\"");
    int64_field(w, c->target == ETCD_CMP_CREATE ? "create_revision" : "mod_revision", c->revision);
    jsonw_lit(w, "}");
}

static void request_op(jsonw_t *w, const etcd_op_t *o)
{
    static const char *const name[] = {[ETCD_OP_PUT] = "{\"request_put\":{",
                                       [ETCD_OP_DELETE] = "{\"request_delete_range\":{",
                                       [ETCD_OP_RANGE] = "{\"request_range\":{"};
    jsonw_lit(w, name[o->kind]);
    key_fields(w, o->key, o->kind != ETCD_OP_PUT && o->prefix, NULL);
    if (o->kind == ETCD_OP_PUT) {
        const char *v = o->value ? o->value : "";
        jsonw_lit(w, ",\"value\":");
        b64_str(w, v, strlen(v));
        if (o->prev_kv)
            jsonw_lit(w, ",\"prev_kv\":true");
    }
    if (o->kind == ETCD_OP_RANGE && o->newest) {
        jsonw_lit(w, ",\"sort_order\":\"DESCEND\",\"sort_target\":\"MOD\"");
        int64_field(w, "limit", 1);
    }
    jsonw_lit(w, "}}");
}

static void ops(jsonw_t *w, const char *name, const etcd_op_t *o, size_t n)
{
    jsonw_lit(w, name);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            jsonw_lit(w, ",");
        request_op(w, &o[i]);
    }
    jsonw_lit(w, "]");
}

/* {"compare", "success", "failure"} of one transaction. */
static void txn_json(jsonw_t *w, const etcd_txn_t *t)
{
    jsonw_lit(w, "{\"compare\":[");
    for (size_t i = 0; i < t->ncmp; i++) {
        if (i > 0)
            jsonw_lit(w, ",");
        compare(w, &t->cmp[i]);
    }
    jsonw_lit(w, "],");
    ops(w, "\"success\":[", t->ok, t->nok);
    ops(w, ",\"failure\":[", t->fail, t->nfail);
    jsonw_lit(w, "}");
}

char *etcd_txn_request(const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail)
{
    etcd_txn_t t = {.cmp = cmp, .ncmp = ncmp, .ok = ok, .nok = nok, .fail = fail, .nfail = nfail};
    jsonw_t w = JSONW_INIT;
    size_t len;
    txn_json(&w, &t);
    return jsonw_finish(&w, &len);
}

char *etcd_txn_group_request(const etcd_txn_t *t, size_t n)
{
    jsonw_t w = JSONW_INIT;
    size_t len;
    jsonw_lit(&w, "{\"success\":[");
    for (size_t i = 0; i < n; i++) {
        jsonw_lit(&w, i > 0 ? ",{\"request_txn\":" : "{\"request_txn\":");
        txn_json(&w, &t[i]);
        jsonw_lit(&w, "}");
    }
    jsonw_lit(&w, "]}");
    return jsonw_finish(&w, &len);
}
