/*
 * proxy: which TCP peers are trusted reverse proxies (TRUSTED_PROXIES) and, for a request one of
 * them forwarded, the client it names in X-Forwarded-For or X-Real-IP (README: Logs, Behind a
 * reverse proxy). The list in force is an immutable value published by a pointer swap (live.h),
 * so the reload thread can replace it while workers read it. Knows
 * nothing of HTTP libraries: the middleware hands it the header values.
 */
#ifndef PORRIO_PROXY_H
#define PORRIO_PROXY_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_CIDRS_MAX   64   /* entries TRUSTED_PROXIES may list: bounds the work of every match */
#define PROXY_LIST_MAX    4096 /* bytes of a TRUSTED_PROXIES value */
#define PROXY_HOPS_MAX    16   /* X-Forwarded-For entries read at most, from the right */
#define PROXY_XFF_LINES   8    /* X-Forwarded-For header lines taken; more: the header is ignored */
#define PROXY_ADDR_STRLEN 46   /* an address as text, NUL included (INET6_ADDRSTRLEN) */

/** An IPv4 or IPv6 address. IPv4 is held IPv4-mapped (::ffff:a.b.c.d), so that one CIDR matches
 * a peer whichever family its socket has; `v4` says it was written (and is printed) as IPv4. */
typedef struct {
    uint8_t b[16];
    uint8_t v4;
} proxy_addr_t;

typedef struct {
    const char *base;
    size_t len;
} proxy_span_t;

/** The forwarding headers of one request, as they came (values borrowed from the request). */
typedef struct {
    proxy_span_t xff[PROXY_XFF_LINES]; /* the X-Forwarded-For lines, in order: one list */
    size_t nxff;                       /* lines that came, which may exceed PROXY_XFF_LINES */
    proxy_span_t real_ip;              /* X-Real-IP, read only when it came exactly once */
    size_t nreal_ip;
} proxy_headers_t;

typedef struct proxy proxy_t;

/**
 * Parses s[0..len), spaces and tabs around it ignored, as one IPv4 address (dotted decimal, no
 * leading zeros) or IPv6 address (RFC 4291 text, no brackets, zone or port). 0; -1 otherwise.
 */
int proxy_addr_parse(const char *s, size_t len, proxy_addr_t *out);

/** The address of an AF_INET or AF_INET6 socket address. 0; -1 for another family or length. */
int proxy_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, proxy_addr_t *out);

/** Writes a as text (IPv4 dotted, IPv6 as inet_ntop) with a NUL; returns its length. Cannot fail. */
size_t proxy_addr_format(const proxy_addr_t *a, char out[PROXY_ADDR_STRLEN]);

/**
 * Checks a TRUSTED_PROXIES value: "" or 1..PROXY_CIDRS_MAX entries separated by commas (spaces
 * and tabs around each ignored), each an address (a /32 or /128) or address/prefix with the
 * prefix 0-32 for IPv4, 0-128 for IPv6, and no bit set past the prefix; at most PROXY_LIST_MAX
 * bytes. Returns how many entries it lists (0 for ""); -1 with err naming the first bad entry
 * and what is wrong with it.
 */
int proxy_list_check(const char *value, char *err, size_t errlen);

/**
 * A holder whose list in force is parsed from `value` (proxy_list_check; "" trusts nobody). NULL
 * when the value is malformed or memory runs out. Free with proxy_free.
 */
proxy_t *proxy_new(const char *value);

/**
 * Replaces the list in force (a live change from etcd). Safe while other threads call
 * proxy_client: each call sees the old list or the new one, whole. 0; -1 (the old list stays)
 * for a malformed value or when memory runs out.
 */
int proxy_set(proxy_t *p, const char *value);

/**
 * The client of a request whose TCP peer is `peer`. When the peer is outside every trusted CIDR
 * the headers are not read: *client is the peer, 0. Otherwise X-Forwarded-For (all its lines as
 * one list) is read from the right, skipping entries that are themselves trusted; the first one
 * that is not is the client, and when every entry is trusted the left-most is. Entries left of
 * the client are never read. Without X-Forwarded-For, a single X-Real-IP names the client. The
 * header is ignored, and *client is the peer (0), when an entry read is not an address, when more
 * than PROXY_HOPS_MAX entries would be read or more than PROXY_XFF_LINES lines came. Returns 1
 * when *client was taken from a header. Allocates nothing; cannot fail.
 */
int proxy_client(proxy_t *p, const proxy_addr_t *peer, const proxy_headers_t *h, proxy_addr_t *client);

/** Frees the holder and its list. Only once no other thread can use it. NULL is a no-op. */
void proxy_free(proxy_t *p);

#endif
