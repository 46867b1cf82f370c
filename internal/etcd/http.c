/* The HTTP/1.1 exchange with an endpoint: a POST, the answer's head, and its body framed by
 * Content-Length, chunks or the end of the connection; one exchange per connection, but for
 * etcd_http_post_kept's connection that each thread keeps. */
#include "etcd/etcd.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_MAX (64u << 20)
#define SCHEME   "http://"

/* Sends n bytes of p; `more` says that more bytes follow at once (they go out together). */
static int send_all(int fd, const char *p, size_t n, int more, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            etcd_seterr(err, errlen, "sending the request: %s", strerror(errno));
            return -1;
        }
        int r = etcd_wait_fd(fd, POLLOUT, deadline, cancel);
        if (r <= 0) {
            etcd_seterr(err, errlen, r == 0 ? "timed out sending the request" : "canceled");
            return -1;
        }
    }
    return 0;
}

/* Receives once into buf after waiting for data: > 0 bytes, 0 at EOF, ETCD_HTTP_AGAIN, -1. */
static ssize_t recv_some(int fd, char *buf, size_t cap, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    for (;;) {
        int w = etcd_wait_fd(fd, POLLIN, deadline, cancel);
        if (w == 0 || w == -2)
            return ETCD_HTTP_AGAIN;
        ssize_t r = w < 0 ? -1 : recv(fd, buf, cap, 0);
        if (r >= 0)
            return r;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            etcd_seterr(err, errlen, "%s", strerror(errno));
            return -1;
        }
    }
}

static int header_is(const char *line, size_t n, const char *name, const char **value)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1;
    while (v < line + n && (*v == ' ' || *v == '\t'))
        v++;
    *value = v;
    return 1;
}

/* Parses the head in h->buf[0..n): status line and the headers that frame the body. */
static int parse_head(etcd_http_t *h, size_t n, char *err, size_t errlen)
{
    const char *p = h->buf, *end = h->buf + n;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
        p[11] < '0' || p[11] > '9') {
        etcd_seterr(err, errlen, "not an HTTP/1.x answer");
        return -1;
    }
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    h->left = -1;
    h->chunked = 0;
    h->closes = 0;
    int has_length = 0;
    for (p = memchr(p, '\n', (size_t)(end - p)) + 1; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *v;
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (header_is(p, len, "Content-Length", &v)) {
            int64_t cl = 0;
            const char *q = v;
            for (; q < p + len && *q >= '0' && *q <= '9' && cl < ((int64_t)1 << 50); q++)
                cl = cl * 10 + (*q - '0');
            if (q == v || (q < p + len && *q != ' ' && *q != '\t')) {
                etcd_seterr(err, errlen, "invalid Content-Length");
                return -1;
            }
            h->left = cl;
            has_length = 1;
        } else if (header_is(p, len, "Connection", &v)) {
            h->closes = memmem(v, (size_t)(p + len - v), "close", 5) != NULL;
        } else if (header_is(p, len, "Transfer-Encoding", &v)) {
            h->chunked = memmem(v, (size_t)(p + len - v), "chunked", 7) != NULL;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (h->chunked) /* chunked framing overrides any Content-Length */
        h->left = -1;
    else if (has_length && h->left == 0)
        h->done = 1;
    etcd_chunked_init(&h->dec);
    return 0;
}

/* Reads until the end of the head ("\r\n\r\n"), skipping 1xx interim answers. */
static int read_head(etcd_http_t *h, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    size_t len = 0;
    for (;;) {
        char *end = len >= 4 ? memmem(h->buf, len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t head = (size_t)(end - h->buf) + 4;
            if (parse_head(h, head, err, errlen) < 0)
                return -1;
            memmove(h->buf, h->buf + head, len - head);
            len -= head;
            if (h->status >= 200)
                break;
            continue;
        }
        if (len == sizeof h->buf) {
            etcd_seterr(err, errlen, "answer head larger than %zu bytes", sizeof h->buf);
            return -1;
        }
        ssize_t r = recv_some(h->fd, h->buf + len, sizeof h->buf - len, deadline, cancel, err, errlen);
        if (r == ETCD_HTTP_AGAIN) {
            etcd_seterr(err, errlen, etcd_canceled(cancel) ? "canceled" : "timed out waiting for an answer");
            return -1;
        }
        if (r == 0)
            etcd_seterr(err, errlen, "connection closed before an answer");
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    h->off = 0;
    h->len = len;
    return 0;
}

/* Sends POST path with body on h->fd (connected to endpoint i) and reads the answer's head. */
static int start(const etcd_t *e, size_t i, const char *path, const char *body, int keep, int64_t deadline,
                 const atomic_int *cancel, etcd_http_t *h, char *err, size_t errlen)
{
    h->status = 0;
    h->done = 0;
    h->off = h->len = 0;
    const char *name = etcd_endpoint_name(e, i);
    if (!name) {
        etcd_seterr(err, errlen, "no endpoint %zu", i);
        return -1;
    }
    const char *authority = name + strlen(SCHEME);
    size_t blen = strlen(body);
    char head[1024];
    /* a watch asks for a member with a leader: one cut off from the quorum ends it (etcd's
     * require-leader metadata, through the gateway's Grpc-Metadata- headers), so the client moves
     * on instead of waiting for changes that cannot come */
    int watch = strcmp(path, "/v3/watch") == 0;
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     path, authority, blen, watch ? "Grpc-Metadata-Hasleader: true\r\n" : "", keep ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        etcd_seterr(err, errlen, "request head too long");
        return -1;
    }
    int rc = send_all(h->fd, head, (size_t)n, blen > 0, deadline, cancel, err, errlen);
    if (rc == 0)
        rc = send_all(h->fd, body, blen, 0, deadline, cancel, err, errlen);
    return rc == 0 ? read_head(h, deadline, cancel, err, errlen) : -1;
}

int etcd_http_open(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                   etcd_http_t *h, char *err, size_t errlen)
{
    h->fd = etcd_connect(e, i, deadline, cancel, err, errlen);
    int rc = h->fd < 0 ? -1 : start(e, i, path, body, 0, deadline, cancel, h, err, errlen);
    if (rc < 0)
        etcd_http_close(h);
    return rc;
}

ssize_t etcd_http_read(etcd_http_t *h, char *out, size_t cap, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen)
{
    while (!h->done && cap > 0) {
        size_t n = h->len - h->off;
        if (n > 0 && h->chunked) {
            if (n > cap)
                n = cap;
            ssize_t d = etcd_chunked_feed(&h->dec, h->buf + h->off, n, out);
            h->off += n;
            if (d < 0) {
                etcd_seterr(err, errlen, "malformed chunked body");
                return -1;
            }
            h->done = etcd_chunked_done(&h->dec);
            if (d > 0)
                return d;
            continue;
        }
        if (n > 0) {
            if (h->left >= 0 && (int64_t)n > h->left)
                n = (size_t)h->left;
            if (n > cap)
                n = cap;
            memcpy(out, h->buf + h->off, n);
            h->off += n;
            if (h->left >= 0 && (h->left -= (int64_t)n) == 0)
                h->done = 1;
            return (ssize_t)n;
        }
        if (h->fd < 0) {
            etcd_seterr(err, errlen, "connection closed");
            return -1;
        }
        h->off = h->len = 0;
        ssize_t r = recv_some(h->fd, h->buf, sizeof h->buf, deadline, cancel, err, errlen);
        if (r == 0 && (h->chunked || h->left > 0)) {
            etcd_seterr(err, errlen, "connection closed before the end of the answer");
            return -1;
        }
        if (r == 0)
            h->done = 1;
        if (r < 0)
            return r;
        h->len = (size_t)r;
    }
    return 0;
}

void etcd_http_close(etcd_http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

/* grpc-gateway writes {"error", "message", "code"} (3.4) or {"code", "message", "details"} (3.5). */
void etcd_answer_error(const char *body, size_t len, char *out, size_t cap)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m || !*m)
        m = json_string_value(json_object_get(j, "error"));
    if (m && *m) {
        snprintf(out, cap, "%s", m);
    } else {
        size_t n = len < cap - 1 ? len : cap - 1, k = 0;
        for (size_t i = 0; i < n; i++) /* keep messages on one printable line */
            out[k++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
        out[k] = '\0';
    }
    json_decref(j);
}

/* Reads the whole body of h's answer: 0 for a 2xx, with *resp and *resp_len as etcd_http_post's. */
static int read_body(etcd_http_t *h, int64_t deadline, const atomic_int *cancel, char **resp, size_t *resp_len, char *err,
                     size_t errlen)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t r = -1;
    if (!buf) {
        etcd_seterr(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *b = cap < BODY_MAX ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                etcd_seterr(err, errlen, cap < BODY_MAX ? "out of memory" : "answer too large");
                r = -1;
                break;
            }
            buf = b;
            cap *= 2;
        }
        r = etcd_http_read(h, buf + len, cap - len - 1, deadline, cancel, err, errlen);
        if (r == ETCD_HTTP_AGAIN)
            etcd_seterr(err, errlen, etcd_canceled(cancel) ? "canceled" : "timed out reading the answer");
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    if (r == 0) {
        buf[len] = '\0';
        if (h->status >= 200 && h->status < 300) {
            *resp = buf;
            if (resp_len)
                *resp_len = len;
            buf = NULL;
        } else {
            char why[200];
            etcd_answer_error(buf, len, why, sizeof why);
            etcd_seterr(err, errlen, "HTTP %d: %s", h->status, why);
            r = -1;
        }
    }
    free(buf);
    return r == 0 ? 0 : -1;
}

int etcd_http_post(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                   char **resp, size_t *resp_len, char *err, size_t errlen)
{
    etcd_http_t *h = malloc(sizeof *h);
    int rc = -1;
    *resp = NULL;
    if (!h)
        etcd_seterr(err, errlen, "out of memory");
    else if (etcd_http_open(e, i, path, body, deadline, cancel, h, err, errlen) == 0)
        rc = read_body(h, deadline, cancel, resp, resp_len, err, errlen);
    if (h)
        etcd_http_close(h);
    free(h);
    return rc;
}

/* The calling thread's kept connection: the endpoint's name (of whichever client) and the fd.
 * kept_key's destructor closes it when the thread ends. */
static __thread int kept_fd = -1;
static __thread char kept_name[300];
static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void kept_close(void *unused)
{
    (void)unused;
    if (kept_fd >= 0)
        close(kept_fd);
    kept_fd = -1;
}

static void kept_key_make(void)
{
    pthread_key_create(&kept_key, kept_close);
}

int etcd_http_post_kept(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                        char **resp, size_t *resp_len, char *err, size_t errlen)
{
    const char *name = etcd_endpoint_name(e, i);
    etcd_http_t hs, *h = &hs; /* on the stack: a long-lived thread that calls often frees nothing */
    int rc = -1;
    *resp = NULL;
    if (!name) {
        etcd_seterr(err, errlen, "no endpoint %zu", i);
        return -1;
    }
    for (int fresh = 0; fresh < 2; fresh++) {
        int reused = kept_fd >= 0 && strcmp(kept_name, name) == 0;
        if (!reused) {
            if (kept_fd >= 0)
                close(kept_fd);
            snprintf(kept_name, sizeof kept_name, "%s", name);
            if ((kept_fd = etcd_connect(e, i, deadline, cancel, err, errlen)) < 0)
                break;
            pthread_once(&kept_once, kept_key_make);
            pthread_setspecific(kept_key, &kept_fd); /* any non-NULL value: the destructor runs */
        }
        h->fd = kept_fd;
        rc = start(e, i, path, body, 1, deadline, cancel, h, err, errlen);
        if (rc == 0)
            rc = read_body(h, deadline, cancel, resp, resp_len, err, errlen);
        int whole = h->done && (h->chunked || h->left >= 0) && !h->closes;
        if (rc == 0 && whole)
            break;
        close(kept_fd);
        kept_fd = -1;
        /* a kept connection the server closed while idle fails before any answer: once more, anew */
        if (rc == 0 || !reused || h->status != 0)
            break;
    }
    return rc;
}
