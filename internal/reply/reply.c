#include "reply/reply.h"

#include <stdarg.h>
#include <stdio.h>

const char *reply_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int reply_is_head(h2o_req_t *req) { return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")); }

void reply_header(h2o_req_t *req, const char *lcname, const char *display, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lcname, strlen(lcname), 1, display, v.base, v.len);
}

void reply_bytes_nocopy(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reply_reason(status);
    if (status != 204) /* a 204 must not carry Content-Length (RFC 9110 §8.6) */
        req->res.content_length = len;
    if (type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", type, strlen(type));
    h2o_start_response(req, &generator);
    h2o_iovec_t b = h2o_iovec_init(body, len);
    h2o_send(req, &b, reply_is_head(req) || len == 0 ? 0 : 1, H2O_SEND_STATE_FINAL);
}

/* pieces per write; the generator stays under a quarter of h2o's 4 KiB pool chunk, above which
 * the pool mallocs (and musl's allocator would map and unmap a page per request) */
#define STREAM_BATCH 48

typedef struct {
    h2o_generator_t super;
    reply_next_t next;
    void *ctx;
    h2o_iovec_t bufs[STREAM_BATCH];
} stream_t;

static void stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    stream_t *st = (stream_t *)g;
    size_t n = st->next(st->ctx, st->bufs, STREAM_BATCH);
    h2o_send(req, st->bufs, n, n < STREAM_BATCH ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

void reply_stream(h2o_req_t *req, int status, const char *type, size_t len, reply_next_t next, void *ctx)
{
    stream_t *st = h2o_mem_alloc_pool(&req->pool, sizeof(*st));
    *st = (stream_t){.super = {stream_proceed, NULL}, .next = next, .ctx = ctx};
    req->res.status = status;
    req->res.reason = reply_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", type, strlen(type));
    h2o_start_response(req, &st->super);
    if (reply_is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        stream_proceed(&st->super, req);
}

void reply_bytes(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    h2o_iovec_t copy = h2o_strdup(&req->pool, body, len);
    reply_bytes_nocopy(req, status, type, copy.base, copy.len);
}

/* Serialises j compactly into the pool; an empty vector when j is NULL or cannot be encoded. */
static h2o_iovec_t dump(h2o_mem_pool_t *pool, const json_t *j)
{
    size_t cap = 1024; /* most answers fit: one pass */
    char *buf = h2o_mem_alloc_pool(pool, cap);
    size_t len = j != NULL ? json_dumpb(j, buf, cap, JSON_COMPACT) : 0;
    if (len > cap) {
        buf = h2o_mem_alloc_pool(pool, len);
        json_dumpb(j, buf, len, JSON_COMPACT);
    }
    return h2o_iovec_init(buf, len);
}

void reply_json(h2o_req_t *req, int status, json_t *body)
{
    h2o_iovec_t b = dump(&req->pool, body);
    json_decref(body);
    if (b.len == 0)
        reply_error(req, 500, "could not encode the answer");
    else
        reply_bytes_nocopy(req, status, REPLY_JSON_TYPE, b.base, b.len);
}

/* len, shortened so that s does not end inside a multi-byte UTF-8 sequence: messages are cut by
 * fixed-size buffers, and JSON refuses a broken sequence. */
static size_t utf8_whole(const char *s, size_t len)
{
    size_t cont = 0;
    while (cont < len && cont < 3 && ((unsigned char)s[len - 1 - cont] & 0xC0) == 0x80)
        cont++;
    if (cont == len)
        return len;
    unsigned char lead = (unsigned char)s[len - 1 - cont];
    size_t follow = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    return follow > cont ? len - 1 - cont : len;
}

h2o_iovec_t reply_error_body(h2o_mem_pool_t *pool, int status, const char *message)
{
    json_t *msg = json_stringn(message, utf8_whole(message, strlen(message)));
    if (msg == NULL) /* not UTF-8 further in: the status's own words */
        msg = json_string(reply_reason(status));
    json_t *j = json_pack("{s:o, s:i}", "error", msg, "status", status);
    h2o_iovec_t body = dump(pool, j);
    json_decref(j);
    if (body.len == 0) { /* memory ran out */
        char *buf = h2o_mem_alloc_pool(pool, 64);
        body = h2o_iovec_init(buf, (size_t)snprintf(buf, 64, "{\"error\":\"%s\",\"status\":%d}", reply_reason(status), status));
    }
    return body;
}

void reply_error(h2o_req_t *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h2o_iovec_t body = reply_error_body(&req->pool, status, msg);
    reply_bytes_nocopy(req, status, REPLY_JSON_TYPE, body.base, body.len);
}
