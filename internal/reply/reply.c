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

void reply_bytes(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reply_reason(status);
    req->res.content_length = len;
    if (type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", type, strlen(type));
    /* h2o_send_inline leaves the body out for HEAD while keeping Content-Length */
    h2o_send_inline(req, body, len);
}

void reply_bytes_nocopy(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reply_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", type, strlen(type));
    h2o_start_response(req, &generator);
    h2o_iovec_t b = h2o_iovec_init(body, len);
    h2o_send(req, &b, reply_is_head(req) ? 0 : 1, H2O_SEND_STATE_FINAL);
}

void reply_json(h2o_req_t *req, int status, json_t *body)
{
    size_t cap = 1024;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap);
    size_t len = body != NULL ? json_dumpb(body, buf, cap, JSON_COMPACT) : 0;
    if (len > cap) {
        buf = h2o_mem_alloc_pool(&req->pool, len);
        json_dumpb(body, buf, len, JSON_COMPACT);
    }
    json_decref(body);
    if (len == 0) {
        reply_error(req, 500, "could not encode the answer");
        return;
    }
    req->res.status = status;
    req->res.reason = reply_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT(REPLY_JSON_TYPE));
    static h2o_generator_t generator = {NULL, NULL};
    h2o_start_response(req, &generator);
    h2o_iovec_t b = h2o_iovec_init(buf, len);
    h2o_send(req, &b, reply_is_head(req) ? 0 : 1, H2O_SEND_STATE_FINAL);
}

h2o_iovec_t reply_error_body(h2o_mem_pool_t *pool, int status, const char *message)
{
    json_t *j = json_pack("{s:s, s:i}", "error", message, "status", status);
    size_t len = j != NULL ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
    if (len == 0) { /* message was not valid UTF-8 or memory ran out */
        json_decref(j);
        return h2o_strdup(pool, H2O_STRLIT("{\"error\":\"internal error\",\"status\":500}"));
    }
    char *buf = h2o_mem_alloc_pool(pool, len);
    json_dumpb(j, buf, len, JSON_COMPACT);
    json_decref(j);
    return h2o_iovec_init(buf, len);
}

void reply_error(h2o_req_t *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h2o_iovec_t body = reply_error_body(&req->pool, status, msg);
    reply_bytes(req, status, REPLY_JSON_TYPE, body.base, body.len);
}

void reply_empty(h2o_req_t *req, int status)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reply_reason(status);
    req->res.content_length = 0;
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}
