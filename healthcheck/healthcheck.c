/*
 * healthcheck: the probe behind the container's HEALTHCHECK. The image is FROM scratch, so there
 * is no curl or wget to call; this static binary does one GET and turns the answer into the exit
 * status docker reads: 0 when the service answers 2xx within 2 s, 1 otherwise, 2 on bad usage.
 * It uses nothing but libc so that it cannot share a failure mode with the server's own stack.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 2000
#define MAX_PATH    1024

static const char usage[] = "usage: healthcheck [http://host[:port][/path]]\n"
                            "  exits 0 when GET URL answers 2xx within 2 s, 1 otherwise, 2 on bad usage\n"
                            "  default URL: http://127.0.0.1:$PORT/health/ready (PORT defaults to 3000)\n";

struct url {
    char host[256], port[6], authority[272];
    const char *path;
};

static long long deadline;
static char why[320];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return -1;
}

/* getaddrinfo has no timeout of its own short enough for a 2 s probe; the alarm bounds it. */
static void resolve_timeout(int sig)
{
    static const char msg[] = "healthcheck: resolve: timed out\n";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static int parse_port(const char *s, size_t n, char out[6])
{
    long v = n >= 1 && n <= 5 && strspn(s, "0123456789") >= n ? strtol(s, NULL, 10) : 0;
    if (v < 1 || v > 65535)
        return -1;
    snprintf(out, 6, "%ld", v);
    return 0;
}

static size_t span(const char *s, const char *extra)
{
    size_t n = 0;
    while (s[n] && (isalnum((unsigned char)s[n]) || strchr(extra, s[n])))
        n++;
    return n;
}

static int parse_url(const char *s, struct url *u)
{
    const char *h, *auth;
    size_t hlen;
    if (strncmp(s, "http://", 7))
        return -1;
    auth = h = s += 7;
    if (*s == '[') { /* an IPv6 literal: only hex digits, colons and an embedded IPv4 */
        h = s + 1;
        hlen = span(h, ":.");
        if (h[hlen] != ']' || !memchr(h, ':', hlen) || strspn(h, "0123456789abcdefABCDEF:.") < hlen)
            return -1;
        s = h + hlen + 1;
    } else {
        hlen = span(h, ".-_");
        s = h + hlen;
    }
    if (hlen == 0 || hlen >= sizeof u->host)
        return -1;
    snprintf(u->host, sizeof u->host, "%.*s", (int)hlen, h);
    strcpy(u->port, "80");
    if (*s == ':') {
        size_t n = strspn(++s, "0123456789");
        if (parse_port(s, n, u->port))
            return -1;
        s += n;
    }
    snprintf(u->authority, sizeof u->authority, "%.*s", (int)(s - auth), auth);
    u->path = *s ? s : "/";
    if (*u->path != '/' || strlen(u->path) > MAX_PATH)
        return -1;
    for (const char *p = u->path; *p; p++) /* anything else would break the request line */
        if (*p <= ' ' || *p > '~')
            return -1;
    return 0;
}

/* Waits for fd to become ready, but never past the deadline shared by every step. */
static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    do {
        long long left = deadline - now_ms();
        n = left > 0 ? poll(&p, 1, (int)left) : 0;
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        errno = ETIMEDOUT;
    return n > 0 ? 0 : -1;
}

static int dial(const struct addrinfo *ai, const char *addr)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int err = 0;
    socklen_t len = sizeof err;
    if (fd < 0)
        return failf("socket %s: %s", addr, strerror(errno));
    if ((connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) || wait_fd(fd, POLLOUT) ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
        if (err)
            errno = err;
        failf("connect %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int exchange(int fd, const struct url *u, const char *addr)
{
    char buf[MAX_PATH + 512];
    size_t n = snprintf(buf, sizeof buf,
                        "GET %.*s HTTP/1.0\r\nHost: %s\r\nUser-Agent: porrio-healthcheck\r\n"
                        "Connection: close\r\n\r\n",
                        (int)strcspn(u->path, "#"), u->path, u->authority);
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL); /* a vanished server must not SIGPIPE us */
        if (w > 0)
            off += w;
        else if ((errno != EAGAIN && errno != EINTR) || wait_fd(fd, POLLOUT))
            return failf("write %s: %s", addr, strerror(errno));
    }
    /* Only the status line matters: stop at its end instead of waiting for the body. */
    size_t len = 0;
    while (len < sizeof buf - 1 && !memchr(buf, '\n', len)) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r > 0)
            len += r;
        else if (r == 0)
            break;
        else if ((errno != EAGAIN && errno != EINTR) || wait_fd(fd, POLLIN))
            return failf("read %s: %s", addr, strerror(errno));
    }
    buf[len] = '\0';
    if (len == 0)
        return failf("read %s: connection closed without a response", addr);
    const char *code = strchr(buf, ' ');
    if (strncmp(buf, "HTTP/", 5) || !code || strspn(code + 1, "0123456789") != 3 || !strchr(" \r\n", code[4])) {
        buf[strcspn(buf, "\r\n")] = '\0';
        return failf("bad status line from %s: %.64s", addr, buf);
    }
    if (code[1] != '2')
        return failf("status %.3s from %s", code + 1, addr);
    return 0;
}

static int probe(const struct url *u)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *ai;
    char addr[80];
    int fd = -1, rc;
    signal(SIGALRM, resolve_timeout);
    alarm((DEADLINE_MS + 999) / 1000);
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    alarm(0);
    if (rc)
        return failf("resolve %s: %s", u->host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    for (ai = res; ai && fd < 0; ai = ai->ai_next) { /* e.g. localhost may be ::1 first, 127.0.0.1 next */
        char h[64] = "?", p[8] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(addr, sizeof addr, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
        fd = dial(ai, addr);
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    rc = exchange(fd, u, addr);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    char def[64], port[6];
    const char *url = argc == 2 ? argv[1] : def;
    struct url u;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return fputs(usage, stdout), 0;
    if (argc > 2)
        return fputs(usage, stderr), 2;
    if (argc < 2) {
        const char *p = getenv("PORT");
        if (!p || !*p)
            p = "3000";
        if (parse_port(p, strlen(p), port)) {
            fprintf(stderr, "healthcheck: invalid PORT '%.16s' (want 1-65535)\n", p);
            return 1;
        }
        snprintf(def, sizeof def, "http://127.0.0.1:%s/health/ready", port);
    }
    if (parse_url(url, &u)) {
        fprintf(stderr, "healthcheck: bad URL '%.300s'\n%s", url, usage);
        return 2;
    }
    deadline = now_ms() + DEADLINE_MS;
    if (probe(&u)) {
        fprintf(stderr, "healthcheck: %s\n", why);
        return 1;
    }
    return 0;
}
