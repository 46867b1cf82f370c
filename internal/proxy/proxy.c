#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/live.h"

typedef struct {
    uint8_t net[16]; /* IPv4 networks IPv4-mapped, their prefix counted from bit 0 of ::ffff:0:0/96 */
    unsigned bits;   /* 0-128 */
} cidr_t;

/* One TRUSTED_PROXIES value, parsed; never changed once published (live.h). */
typedef struct {
    size_t n;
    cidr_t cidr[];
} list_t;

struct proxy {
    live_t live; /* a list_t; NULL: nobody trusted */
};

static const uint8_t V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0..*len) without the spaces and tabs around it. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_space(*s))
        s++, n--;
    while (n > 0 && is_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

int proxy_addr_parse(const char *s, size_t len, proxy_addr_t *out)
{
    char buf[PROXY_ADDR_STRLEN];
    s = trim(s, &len);
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* inet_pton is strict where it matters: no leading zeros, no port, no brackets, no zone */
    if (memchr(buf, ':', len) != NULL) {
        out->v4 = 0;
        return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
    }
    out->v4 = 1;
    memcpy(out->b, V4_MAPPED, sizeof(V4_MAPPED));
    return inet_pton(AF_INET, buf, out->b + 12) == 1 ? 0 : -1;
}

int proxy_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, proxy_addr_t *out)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(out->b, V4_MAPPED, sizeof(V4_MAPPED));
        memcpy(out->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        out->v4 = 1;
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        out->v4 = 0;
        return 0;
    }
    return -1;
}

size_t proxy_addr_format(const proxy_addr_t *a, char out[PROXY_ADDR_STRLEN])
{
    char *p = out;
    if (!a->v4) {
        if (inet_ntop(AF_INET6, a->b, out, PROXY_ADDR_STRLEN) == NULL)
            out[0] = '\0';
        return strlen(out);
    }
    for (int i = 12; i < 16; i++) { /* every request line has one: no stdio */
        uint8_t v = a->b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 15 ? '.' : '\0';
    }
    return (size_t)(p - out - 1);
}

/* Whether a lies inside c. */
static int cidr_has(const cidr_t *c, const proxy_addr_t *a)
{
    unsigned whole = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net, a->b, whole) != 0)
        return 0;
    return rest == 0 || ((c->net[whole] ^ a->b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static int list_has(const list_t *l, const proxy_addr_t *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (cidr_has(&l->cidr[i], a))
            return 1;
    return 0;
}

/* Parses one entry into *c. NULL; else why it is not a CIDR. */
static const char *cidr_parse(const char *s, size_t len, cidr_t *c)
{
    proxy_addr_t a;
    const char *slash = memchr(s, '/', len);
    if (memchr(s, ' ', len) != NULL || memchr(s, '\t', len) != NULL ||
        proxy_addr_parse(s, slash != NULL ? (size_t)(slash - s) : len, &a) != 0)
        return "not an IPv4 or IPv6 address";
    unsigned max = a.v4 ? 32 : 128, bits = max;
    if (slash != NULL) {
        const char *d = slash + 1, *end = s + len;
        if (d == end || end - d > 3 || (d[0] == '0' && end - d > 1))
            return "the prefix length is not a number without leading zeros";
        for (bits = 0; d < end; d++) {
            if (*d < '0' || *d > '9')
                return "the prefix length is not a number without leading zeros";
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > max)
            return a.v4 ? "the prefix length is past 32" : "the prefix length is past 128";
    }
    c->bits = bits + (a.v4 ? 96 : 0);
    memcpy(c->net, a.b, 16);
    for (unsigned i = c->bits; i < 128; i++)
        if (c->net[i / 8] & (0x80 >> (i % 8)))
            return "bits are set past the prefix length";
    return NULL;
}

/* Parses value into out[0..max) (out NULL: only checks). The count; -1 with err. */
static int list_parse(const char *value, cidr_t *out, size_t max, char *err, size_t errlen)
{
    size_t n = 0, total = value != NULL ? strlen(value) : 0;
    cidr_t c;
    if (value == NULL || total > PROXY_LIST_MAX) {
        snprintf(err, errlen, "longer than %d bytes", PROXY_LIST_MAX);
        return -1;
    }
    if (total == 0)
        return 0;
    for (const char *p = value;; n++) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *e = trim(p, &len), *why = NULL;
        if (n == PROXY_CIDRS_MAX)
            why = "more than 64 entries";
        else if (len == 0)
            why = "an empty entry";
        else
            why = cidr_parse(e, len, &c);
        if (why != NULL) {
            snprintf(err, errlen, "'%.*s%s': %s", (int)(len < 50 ? len : 50), e, len > 50 ? "..." : "", why);
            return -1;
        }
        if (out != NULL && n < max)
            out[n] = c;
        if (comma == NULL)
            return (int)n + 1;
        p = comma + 1;
    }
}

int proxy_list_check(const char *value, char *err, size_t errlen)
{
    return list_parse(value, NULL, 0, err, errlen);
}

/* The list `value` gives, live_alloc'd; *out NULL for "". -1 when malformed or out of memory. */
static int list_new(const char *value, list_t **out)
{
    char err[128];
    int n = list_parse(value, NULL, 0, err, sizeof(err));
    *out = NULL;
    if (n <= 0)
        return n;
    list_t *l = live_alloc(sizeof(*l) + (size_t)n * sizeof(cidr_t));
    if (l == NULL)
        return -1;
    l->n = (size_t)list_parse(value, l->cidr, (size_t)n, err, sizeof(err));
    *out = l;
    return 0;
}

proxy_t *proxy_new(const char *value)
{
    list_t *l;
    proxy_t *p = malloc(sizeof(*p));
    if (p == NULL || list_new(value, &l) != 0) {
        free(p);
        return NULL;
    }
    live_init(&p->live, l);
    return p;
}

int proxy_set(proxy_t *p, const char *value)
{
    list_t *l;
    if (list_new(value, &l) != 0)
        return -1;
    live_swap(&p->live, l);
    return 0;
}

/* X-Forwarded-For from the right: 0 with *client, -1 when the header is to be ignored. */
static int forwarded_for(const list_t *l, const proxy_headers_t *h, proxy_addr_t *client)
{
    size_t hops = 0;
    if (h->nxff > PROXY_XFF_LINES)
        return -1;
    for (size_t i = h->nxff; i-- > 0;) {
        const char *s = h->xff[i].base, *end = s + h->xff[i].len;
        for (;;) {
            const char *comma = s != NULL ? memrchr(s, ',', (size_t)(end - s)) : NULL;
            const char *e = comma != NULL ? comma + 1 : s;
            if (++hops > PROXY_HOPS_MAX || e == NULL || proxy_addr_parse(e, (size_t)(end - e), client) != 0)
                return -1;
            if (!list_has(l, client))
                return 0;
            if (comma == NULL)
                break;
            end = comma;
        }
    }
    return hops > 0 ? 0 : -1; /* every entry trusted: the left-most, in *client already */
}

int proxy_client(proxy_t *p, const proxy_addr_t *peer, const proxy_headers_t *h, proxy_addr_t *client)
{
    list_t *l = p != NULL ? live_acquire(&p->live) : NULL;
    int found = 0;
    if (l != NULL && list_has(l, peer)) {
        if (h->nxff > 0)
            found = forwarded_for(l, h, client) == 0;
        else if (h->nreal_ip == 1)
            found = proxy_addr_parse(h->real_ip.base, h->real_ip.len, client) == 0;
    }
    live_release(l);
    if (!found)
        *client = *peer;
    return found;
}

void proxy_free(proxy_t *p)
{
    if (p == NULL)
        return;
    live_destroy(&p->live);
    free(p);
}
