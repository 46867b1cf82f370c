/* logsink: the LOG_SINK value and the wire format of one message. */
#include "logsink/logsink.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "jlog/jlog.h"

#define SCHEME "syslog+tcp://"
#define FACILITY_LOCAL0 16

static int hostname_ok(const char *s, size_t n)
{
    if (n < 1 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static int ipv6_ok(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

int logsink_url_parse(const char *url, char *host, size_t hostlen, int *port)
{
    size_t n = strlen(url);
    const char *h, *he, *p, *end = url + n;
    int v = LOGSINK_DEFAULT_PORT;
    if (n == 0) {
        if (host != NULL && hostlen > 0)
            host[0] = '\0';
        if (port != NULL)
            *port = 0;
        return host != NULL && hostlen == 0 ? -1 : 0;
    }
    if (n < sizeof(SCHEME) - 1 || memcmp(url, SCHEME, sizeof(SCHEME) - 1) != 0)
        return -1;
    p = url + sizeof(SCHEME) - 1;
    if (end > p && end[-1] == '/')
        end--;
    if (p < end && *p == '[') {
        h = p + 1;
        he = memchr(h, ']', (size_t)(end - h));
        if (he == NULL || !ipv6_ok(h, (size_t)(he - h)))
            return -1;
        p = he + 1;
    } else {
        h = p;
        he = memchr(h, ':', (size_t)(end - h));
        if (he == NULL)
            he = end;
        if (!hostname_ok(h, (size_t)(he - h)))
            return -1;
        p = he;
    }
    if (p < end) {
        if (*p++ != ':' || p == end || end - p > 5)
            return -1;
        for (v = 0; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > 65535)
            return -1;
    }
    if (host != NULL) {
        if ((size_t)(he - h) >= hostlen)
            return -1;
        memcpy(host, h, (size_t)(he - h));
        host[he - h] = '\0';
    }
    if (port != NULL)
        *port = v;
    return 0;
}

static int severity(int level)
{
    switch (level) {
    case JLOG_DEBUG: return 7;
    case JLOG_WARN: return 4;
    case JLOG_ERROR: return 3;
    default: return 6;
    }
}

/* The line's "time" value when it opens with one (jlog_begin writes it first), else NULL. */
static const char *line_time(const char *line, size_t len, size_t *tlen)
{
    static const char open[] = "{\"time\":\"";
    if (len < sizeof(open) - 1 || memcmp(line, open, sizeof(open) - 1) != 0)
        return NULL;
    const char *t = line + sizeof(open) - 1, *q = memchr(t, '"', len - (sizeof(open) - 1));
    if (q == NULL || q == t || q - t > 40)
        return NULL;
    *tlen = (size_t)(q - t);
    return t;
}

size_t logsink_frame(char *out, size_t cap, int level, const char *hostname, long procid, const char *line, size_t len)
{
    char head[400];
    size_t tlen = 1;
    const char *t = line_time(line, len, &tlen);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    int hn = snprintf(head, sizeof(head), "<%d>1 %.*s %.255s porrio %ld - - ", FACILITY_LOCAL0 * 8 + severity(level),
                      (int)tlen, t != NULL ? t : "-", hostname[0] != '\0' ? hostname : "-", procid);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return 0;
    size_t msg = (size_t)hn + len;
    int ln = snprintf(out, cap, "%zu ", msg);
    if (ln < 0 || (size_t)ln + msg > cap)
        return 0;
    memcpy(out + ln, head, (size_t)hn);
    memcpy(out + ln + hn, line, len);
    return (size_t)ln + msg;
}
