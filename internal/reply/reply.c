#include "reply/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

const char *reply_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

int reply_is_head(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

void reply_header(h2o_req_t *req, const char *lcname, const char *display, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lcname, strlen(lcname), 1, display, v.base, v.len);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* [p, end) without the spaces and tabs around it. */
static h2o_iovec_t trim(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    return h2o_iovec_init(p, (size_t)(end - p));
}

/* Whether the weight in an element's parameters (";q=0.5") is 0: "q=0", "q=0.0" ... "q=0.000". */
static int weight_zero(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p)), *stop = semi != NULL ? semi : end;
        h2o_iovec_t param = trim(p, stop);
        if (param.len >= 2 && (param.base[0] | 0x20) == 'q' && param.base[1] == '=') {
            h2o_iovec_t q = trim(param.base + 2, param.base + param.len);
            if (q.len == 0 || q.base[0] != '0' || (q.len > 1 && q.base[1] != '.'))
                return 0;
            for (size_t k = 2; k < q.len; k++)
                if (q.base[k] != '0')
                    return 0;
            return 1;
        }
        p = stop + (stop < end);
    }
    return 0;
}

/* Whether the request's Accept-Encoding names gzip with a weight above 0 ("*" is not taken for
 * gzip: identity is always acceptable). */
static int accepts_gzip(h2o_req_t *req)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT_ENCODING, i)) != -1;) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma != NULL ? comma : end;
            const char *semi = memchr(p, ';', (size_t)(stop - p));
            h2o_iovec_t coding = trim(p, semi != NULL ? semi : stop);
            if (coding.len == 4 && strncasecmp(coding.base, "gzip", 4) == 0 && (semi == NULL || !weight_zero(semi + 1, stop)))
                return 1;
            p = stop + (stop < end);
        }
    }
    return 0;
}

/* Whether a `status` answer of len bytes to req is to be gzip-compressed. */
static int gzip_wanted(h2o_req_t *req, int status, size_t len)
{
    return status == 200 && len > REPLY_GZIP_MIN && accepts_gzip(req);
}

/* Chooses the representation of a `status` answer of len bytes: Vary and the ETag's suffix, and
 * the mark for the middleware's compressing filter. The one rule for 200s and for the 304s that
 * stand for them. */
static void choose_encoding(h2o_req_t *req, int status, size_t len)
{
    req->compress_hint = H2O_COMPRESS_HINT_DISABLE;
    if (status != 200 || len <= REPLY_GZIP_MIN)
        return;
    reply_vary(req, "Accept-Encoding");
    if (!accepts_gzip(req))
        return;
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_ETAG, -1);
    if (i != -1) { /* "tag" -> "tag-gzip" */
        h2o_iovec_t t = req->res.headers.entries[i].value;
        req->res.headers.entries[i].value =
            h2o_concat(&req->pool, h2o_iovec_init(t.base, t.len - 1), h2o_iovec_init(H2O_STRLIT(REPLY_GZIP_SUFFIX "\"")));
    }
    req->compress_hint = H2O_COMPRESS_HINT_ENABLE;
}

void reply_vary(h2o_req_t *req, const char *name)
{
    if (h2o_find_header(&req->res.headers, H2O_TOKEN_VARY, -1) == -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, "Vary", name, strlen(name));
    else
        h2o_set_header_token(&req->pool, &req->res.headers, H2O_TOKEN_VARY, name, strlen(name));
}

void reply_etag(h2o_req_t *req, const char *tag)
{
    h2o_iovec_t v = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("\"")), h2o_iovec_init(tag, strlen(tag)),
                               h2o_iovec_init(H2O_STRLIT("\"")));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, "ETag", v.base, v.len);
}

size_t reply_each_tag(h2o_req_t *req, const h2o_token_t *name, void (*each)(void *ctx, const char *tag, size_t len, int weak),
                      void *ctx)
{
    size_t headers = 0;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, name, i)) != -1; headers++) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma != NULL ? comma : end;
            h2o_iovec_t el = trim(p, stop);
            int weak = el.len >= 2 && el.base[0] == 'W' && el.base[1] == '/';
            const char *q = el.base + (weak ? 2 : 0), *close = NULL;
            if (el.len == 1 && el.base[0] == '*')
                each(ctx, "*", 1, 0);
            else if (q < el.base + el.len && *q == '"' && (close = memchr(q + 1, '"', (size_t)(end - q - 1))) != NULL) {
                each(ctx, q + 1, (size_t)(close - q - 1), weak); /* a tag may not hold ',' but a malformed one might */
                stop = memchr(close, ',', (size_t)(end - close));
                stop = stop != NULL ? stop : end;
            }
            p = stop + (stop < end);
        }
    }
    return headers;
}

typedef struct {
    h2o_iovec_t want;
    int hit;
} tag_match_t;

/* Weak comparison (RFC 9110 §8.8.3.2): the opaque parts alone. */
static void weak_match(void *ctx, const char *tag, size_t len, int weak)
{
    tag_match_t *m = ctx;
    (void)weak;
    m->hit |= (len == 1 && tag[0] == '*') || h2o_memis(tag, len, m->want.base, m->want.len);
}

int reply_not_modified(h2o_req_t *req, const char *tag, size_t len)
{
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (!get && !reply_is_head(req))
        return 0;
    int gz = gzip_wanted(req, 200, len);
    tag_match_t m = {h2o_concat(&req->pool, h2o_iovec_init(tag, strlen(tag)),
                                gz ? h2o_iovec_init(H2O_STRLIT(REPLY_GZIP_SUFFIX)) : h2o_iovec_init("", 0)),
                     0};
    if (reply_each_tag(req, H2O_TOKEN_IF_NONE_MATCH, weak_match, &m) == 0 || !m.hit)
        return 0;
    reply_etag(req, tag);
    choose_encoding(req, 200, len); /* the Vary and ETag the 200 would carry */
    reply_bytes_nocopy(req, 304, NULL, NULL, 0);
    return 1;
}

void reply_bytes_nocopy(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reply_reason(status);
    if (status != 204 && status != 304) /* neither carries Content-Length (RFC 9110 §8.6) */
        req->res.content_length = len;
    choose_encoding(req, status, len); /* a 304's was chosen for the 200 it stands for: it only unmarks */
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
    choose_encoding(req, status, len);
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
