#include "middleware/middleware.h"

#include <stdio.h>
#include <sys/random.h>
#include <sys/time.h>

#include "jlog/jlog.h"
#include "metrics/metrics.h"
#include "reply/reply.h"

#define RID_HEADER "x-request-id"
#define RID_MAX    128 /* README, HTTP API: a client's id is kept when it is 1-128 of [A-Za-z0-9._:-] */

static int request_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > RID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Writes a new id, 16 hex digits and a NUL. splitmix64 over a per-thread random start: distinct
 * threads draw from distinct sequences. */
static void request_id_new(char out[17])
{
    static __thread uint64_t state;
    static __thread int seeded;
    if (!seeded) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state))
            state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL);
        seeded = 1;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int i = 15; i >= 0; i--, z >>= 4)
        out[i] = "0123456789abcdef"[z & 15];
    out[16] = '\0';
}

static h2o_iovec_t header_value(const h2o_headers_t *headers, const char *lcname, size_t len)
{
    ssize_t i = h2o_find_header_by_str(headers, lcname, len, -1);
    return i == -1 ? h2o_iovec_init(NULL, 0) : headers->entries[i].value;
}

/* The id an answer carries: the client's when sane, else a new one. */
static h2o_iovec_t request_id(h2o_req_t *req)
{
    h2o_iovec_t v = header_value(&req->headers, H2O_STRLIT(RID_HEADER));
    if (v.base != NULL && request_id_ok(v.base, v.len))
        return v;
    char *id = h2o_mem_alloc_pool(&req->pool, 17);
    request_id_new(id);
    return h2o_iovec_init(id, 16);
}

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
} json_error_ostream_t;

static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    json_error_ostream_t *o = (void *)self;
    (void)bufs, (void)n;
    if (!o->sent && !reply_is_head(req)) {
        o->sent = 1;
        h2o_ostream_send_next(self, req, &o->body, 1, state);
    } else {
        h2o_ostream_send_next(self, req, NULL, 0, state);
    }
}

/* h2o answers some errors itself (body too large, not found under the static directory, a
 * broken chunked body) in plain text: the contract says every error is JSON, so their bodies are
 * replaced. `type` is the index of their Content-Type header. */
static h2o_ostream_t **rewrite_as_json(h2o_req_t *req, size_t max_body, ssize_t type, h2o_ostream_t **slot)
{
    char msg[128];
    int status = req->res.status;
    if (status == 413)
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", max_body);
    else if (status == 404)
        snprintf(msg, sizeof(msg), "not found");
    else
        snprintf(msg, sizeof(msg), "%s", reply_reason(status));
    h2o_iovec_t body = reply_error_body(&req->pool, status, msg);
    req->res.headers.entries[type].value = h2o_iovec_init(H2O_STRLIT(REPLY_JSON_TYPE));
    req->res.content_length = body.len;
    json_error_ostream_t *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
    o->super.do_send = json_error_send;
    o->body = body;
    o->sent = 0;
    return &o->super.next;
}

/* h2o's fastest level: a listing of megabytes is compressed as it is sent, on a worker */
#define GZIP_QUALITY 1

typedef struct {
    h2o_ostream_t super;
    h2o_compress_context_t *gzip;
} gzip_ostream_t;

static void gzip_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    h2o_iovec_t *out;
    size_t nout;
    ((gzip_ostream_t *)self)->gzip->transform(((gzip_ostream_t *)self)->gzip, bufs, n, state, &out, &nout);
    h2o_ostream_send_next(self, req, out, nout, state);
}

/* Compresses the answers reply chose to send gzipped (reply.h, encodings) with h2o's compressor,
 * streamed ones included. h2o's own filter (h2o_compress_register) is not used: it reads
 * Accept-Encoding without weights, so that "gzip;q=1" gets identity and would disagree with the
 * ETag reply chose. A HEAD gets the headers GET would carry. */
static h2o_ostream_t **gzip_setup(h2o_req_t *req, h2o_ostream_t **slot)
{
    if (req->compress_hint != H2O_COMPRESS_HINT_ENABLE || req->res.status != 200)
        return slot;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, "Content-Encoding", H2O_STRLIT("gzip"));
    req->res.content_length = SIZE_MAX; /* HTTP/1.1: chunked */
    if (reply_is_head(req))
        return slot;
    gzip_ostream_t *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
    o->super.do_send = gzip_send;
    o->gzip = h2o_compress_gzip_open(&req->pool, GZIP_QUALITY);
    return &o->super.next;
}

typedef struct {
    h2o_filter_t super;
    const size_t *max_body;
    cors_t *cors;
} filter_t;

typedef struct {
    h2o_logger_t super;
    const route_table_t *routes;
    proxy_t *proxies;
} logger_t;

/* CORS (README, HTTP conventions): when CORS_ORIGINS is set every answer varies by Origin; one
 * to an allowed origin says so, and either exposes the headers a client reads or, for a
 * preflight (the server answered its OPTIONS with 204 and Allow), allows the path's methods and
 * the request headers the API uses. */
static void add_cors(h2o_req_t *req, cors_t *cors)
{
    if (!cors_enabled(cors))
        return;
    reply_vary(req, "Origin");
    h2o_iovec_t origin = header_value(&req->headers, H2O_STRLIT("origin"));
    if (origin.base == NULL || !cors_allows(cors, origin.base, origin.len))
        return;
    h2o_headers_t *h = &req->res.headers;
    h2o_add_header(&req->pool, h, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, "Access-Control-Allow-Origin", origin.base, origin.len);
    int preflight = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) && req->res.status == 204 &&
                    header_value(&req->headers, H2O_STRLIT("access-control-request-method")).base != NULL;
    if (!preflight) {
        h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-expose-headers"), 0, "Access-Control-Expose-Headers",
                              H2O_STRLIT(CORS_EXPOSE_HEADERS));
        return;
    }
    h2o_iovec_t allow = header_value(h, H2O_STRLIT("allow"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-methods"), 0, "Access-Control-Allow-Methods", allow.base,
                          allow.len);
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-headers"), 0, "Access-Control-Allow-Headers",
                          H2O_STRLIT(CORS_ALLOW_HEADERS));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-max-age"), 0, "Access-Control-Max-Age",
                          H2O_STRLIT(CORS_MAX_AGE_S));
}

#define ROUTE_ENV "porrio.route" /* the request's environment entry middleware_note_route sets */

void middleware_note_route(h2o_req_t *req, const char *tmpl)
{
    *h2o_req_getenv(req, H2O_STRLIT(ROUTE_ENV), 1) = h2o_iovec_init(tmpl, strlen(tmpl));
}

/* The route label of the answers the static file handler gives (README, Metrics): no route
 * template looks like it, as they all begin with '/'. */
#define STATIC_ROUTE "static"

void middleware_note_static(h2o_req_t *req)
{
    middleware_note_route(req, STATIC_ROUTE);
}

static int is_static(h2o_req_t *req)
{
    h2o_iovec_t *noted = h2o_req_getenv(req, H2O_STRLIT(ROUTE_ENV), 0);
    return noted != NULL && h2o_memis(noted->base, noted->len, H2O_STRLIT(STATIC_ROUTE));
}

/* The page of STATIC_DIR runs in browsers (README, HTTP conventions: static files): it may load
 * and call only its own origin, no inline script, never be framed, and is revalidated (by the
 * ETag and Last-Modified h2o's file handler gives) before each use, so a new page reaches
 * everyone at once. */
#define STATIC_CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static void add_static_headers(h2o_req_t *req)
{
    h2o_headers_t *h = &req->res.headers;
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("content-security-policy"), 0, "Content-Security-Policy",
                          H2O_STRLIT(STATIC_CSP));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-content-type-options"), 0, "X-Content-Type-Options", H2O_STRLIT("nosniff"));
    h2o_add_header(&req->pool, h, H2O_TOKEN_CACHE_CONTROL, "Cache-Control", H2O_STRLIT("no-cache"));
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    h2o_iovec_t id = request_id(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT(RID_HEADER), 0, "X-Request-Id", id.base, id.len);
    add_cors(req, ((filter_t *)self)->cors);
    if (is_static(req))
        add_static_headers(req);
    slot = gzip_setup(req, slot);
    if (req->res.status >= 400) {
        ssize_t type = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        h2o_iovec_t t = type != -1 ? req->res.headers.entries[type].value : h2o_iovec_init(NULL, 0);
        if (t.len >= 10 && memcmp(t.base, "text/plain", 10) == 0)
            slot = rewrite_as_json(req, __atomic_load_n(((filter_t *)self)->max_body, __ATOMIC_RELAXED), type, slot);
    }
    h2o_setup_next_ostream(req, slot);
}

/* Bytes of v logged at most: escaping can triple them (a byte that is not UTF-8 becomes U+FFFD). */
#define LOG_METHOD_MAX 64
#define LOG_UA_MAX     1024
static size_t bounded(h2o_iovec_t v, size_t max)
{
    return v.len < max ? v.len : max;
}

/* The metrics' labels of req: a bounded set whatever clients send (README, Metrics). The route is
 * the template the router takes the path to (405s included); a path no route takes is "static"
 * when the file handler answered it with a file or a redirect, else "unknown". */

static void metric_labels(const route_table_t *routes, h2o_req_t *req, const char **route, const char **method)
{
    static const char *const NAMES[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    int bit = route_method(req->input.method.base, req->input.method.len);
    *method = "other";
    for (int i = 0; i < 7; i++)
        if (bit == 1 << i)
            *method = NAMES[i];
    h2o_iovec_t *noted = h2o_req_getenv(req, H2O_STRLIT(ROUTE_ENV), 0);
    if (noted != NULL) { /* the router's own match, or the file handler's: the common case */
        int file_answer = req->res.status >= 200 && req->res.status < 400;
        *route = !is_static(req) ? noted->base : file_answer ? STATIC_ROUTE : "unknown";
        return;
    }
    /* not dispatched (h2o refused the request first) or no route took it: match here */
    size_t buflen = req->path.len + ROUTE_MAX_PARAMS + 1;
    char *buf = h2o_mem_alloc_pool(&req->pool, buflen);
    route_match_t m;
    switch (req->path.base != NULL ? route_match(routes, bit, req->path.base, req->path.len, buf, buflen, &m) : ROUTE_BAD_PATH) {
    case ROUTE_FOUND:
    case ROUTE_METHOD_NOT_ALLOWED:
        *route = m.tmpl;
        break;
    case ROUTE_NOT_FOUND:
        *route = "unknown"; /* the dispatcher sends GET and HEAD to the file handler, noted */
        break;
    default:
        *route = "unknown";
    }
}

/* Collects the request's forwarding headers, every X-Forwarded-For line in order. */
static void forwarding_headers(h2o_req_t *req, proxy_headers_t *h)
{
    memset(h, 0, sizeof(*h));
    for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), i)) != -1; h->nxff++)
        if (h->nxff < PROXY_XFF_LINES)
            h->xff[h->nxff] = (proxy_span_t){req->headers.entries[i].value.base, req->headers.entries[i].value.len};
    for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-real-ip"), i)) != -1; h->nreal_ip++)
        h->real_ip = (proxy_span_t){req->headers.entries[i].value.base, req->headers.entries[i].value.len};
}

/* The log's remote_addr: the TCP peer, or the client a trusted proxy names (README: Logs). When
 * that client is not the peer, peer gets the peer's address; else it stays "". */
static void client_addr(proxy_t *proxies, h2o_req_t *req, char addr[PROXY_ADDR_STRLEN], char peer[PROXY_ADDR_STRLEN])
{
    struct sockaddr_storage ss;
    proxy_addr_t from, client;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (void *)&ss);
    if (sslen == 0 || proxy_addr_from_sockaddr((void *)&ss, sslen, &from) != 0)
        return;
    proxy_headers_t h;
    forwarding_headers(req, &h);
    int forwarded = proxy_client(proxies, &from, &h, &client);
    proxy_addr_format(&client, addr);
    if (forwarded && proxy_addr_format(&from, peer) > 0 && strcmp(addr, peer) == 0)
        peer[0] = '\0';
}

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    double ms = (now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1e3 +
                (now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1e3;
    if (ms < 0)
        ms = 0;
    const char *route, *method;
    metric_labels(((logger_t *)self)->routes, req, &route, &method);
    metrics_request(route, method, req->res.status, ms / 1e3);
    if (!jlog_enabled(JLOG_INFO))
        return;
    char addr[PROXY_ADDR_STRLEN] = "", peer[PROXY_ADDR_STRLEN] = "";
    client_addr(((logger_t *)self)->proxies, req, addr, peer);
    h2o_iovec_t id = header_value(&req->res.headers, H2O_STRLIT(RID_HEADER));
    char fresh[17];
    if (id.base == NULL) { /* no answer was started: the client went away first */
        request_id_new(fresh);
        id = h2o_iovec_init(fresh, 16);
    }
    h2o_iovec_t ua = header_value(&req->headers, H2O_STRLIT("user-agent"));

    /* The client's strings may each be nearly as long as a line (JLOG_LINE_MAX): they come last,
     * method and user-agent bounded, so that only the uri is ever cut short, never a field lost. */
    jlog_line_t l;
    jlog_begin(&l, JLOG_INFO, "request");
    jlog_str(&l, "remote_addr", addr);
    if (peer[0] != '\0')
        jlog_str(&l, "peer_addr", peer);
    jlog_int(&l, "status", req->res.status);
    jlog_num(&l, "duration_ms", ms, 3);
    jlog_int(&l, "bytes", (long long)req->bytes_sent);
    jlog_strn(&l, "request_id", id.base, id.len);
    jlog_str(&l, "route", route); /* the metrics' label: one value per route, whatever the path */
    jlog_strn(&l, "method", req->input.method.base, bounded(req->input.method, LOG_METHOD_MAX));
    jlog_strn(&l, "user-agent", ua.base, bounded(ua, LOG_UA_MAX));
    jlog_strn(&l, "uri", req->input.path.base, req->input.path.len);
    jlog_end(&l);
}

void middleware_register(h2o_pathconf_t *pathconf, const size_t *max_body, cors_t *cors, proxy_t *proxies,
                         const route_table_t *routes)
{
    filter_t *f = (void *)h2o_create_filter(pathconf, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->max_body = max_body;
    f->cors = cors;
    logger_t *lg = (void *)h2o_create_logger(pathconf, sizeof(*lg));
    lg->super.log_access = log_access;
    lg->routes = routes;
    lg->proxies = proxies;
}
