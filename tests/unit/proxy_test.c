/* proxy: addresses as text, the TRUSTED_PROXIES grammar, CIDR matching, and the client a trusted
 * proxy names in X-Forwarded-For or X-Real-IP (README: Logs, Behind a reverse proxy). */
#include "proxy/proxy.h"
#include "test.h"

#include <netinet/in.h>
#include <pthread.h>

static int parses(const char *s)
{
    proxy_addr_t a;
    return proxy_addr_parse(s, strlen(s), &a) == 0;
}

/* s parsed and printed again; "-" when it does not parse. */
static const char *roundtrip(const char *s)
{
    static char out[PROXY_ADDR_STRLEN];
    proxy_addr_t a;
    if (proxy_addr_parse(s, strlen(s), &a) != 0)
        return "-";
    proxy_addr_format(&a, out);
    return out;
}

static void test_addr_parse(void)
{
    EXPECT_STR(roundtrip("1.2.3.4"), "1.2.3.4");
    EXPECT_STR(roundtrip("  203.0.113.7\t"), "203.0.113.7");
    EXPECT_STR(roundtrip("0.0.0.0"), "0.0.0.0");
    EXPECT_STR(roundtrip("255.255.255.255"), "255.255.255.255");
    EXPECT_STR(roundtrip("::1"), "::1");
    EXPECT_STR(roundtrip("2001:DB8:0:0::5"), "2001:db8::5");
    EXPECT_STR(roundtrip("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
    EXPECT_STR(roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    const char *bad[] = {"",        " ",        "1.2.3",      "1.2.3.4.5", "256.1.1.1",         "01.2.3.4", "1.2.3.4:5678",
                         "[::1]",   "[::1]:80", "::1%eth0",   "fe80::1%1", "1.2.3.4/32",        "unknown",  "1.2.3.4 5.6.7.8",
                         "1,2.3.4", "-1.2.3.4", "0x7f.0.0.1", ":::1",      "1:2:3:4:5:6:7:8:9", "12345::",  "a.b.c.d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (parses(bad[i])) {
            EXPECT(!parses(bad[i]));
            printf("# parsed: '%s'\n", bad[i]);
        }
    char longer[100];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    EXPECT(!parses(longer));
    proxy_addr_t a;
    EXPECT_INT(proxy_addr_parse("1.2.3.4\0x", 9, &a), -1); /* a NUL inside is not cut short */
    EXPECT_INT(proxy_addr_parse("1.2.3.4xyz", 7, &a), 0);  /* only len bytes are read */
}

static void test_from_sockaddr(void)
{
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    proxy_addr_t a;
    char out[PROXY_ADDR_STRLEN];
    EXPECT_INT(proxy_addr_from_sockaddr((void *)&in4, sizeof(in4), &a), 0);
    EXPECT_INT(proxy_addr_format(&a, out), 9);
    EXPECT_STR(out, "127.0.0.1");
    in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
    in6.sin6_addr.s6_addr[12] = 10, in6.sin6_addr.s6_addr[15] = 9;
    EXPECT_INT(proxy_addr_from_sockaddr((void *)&in6, sizeof(in6), &a), 0);
    proxy_addr_format(&a, out);
    EXPECT_STR(out, "::ffff:10.0.0.9");
    EXPECT_INT(proxy_addr_from_sockaddr((void *)&in4, sizeof(in4) - 1, &a), -1);
    struct sockaddr un = {.sa_family = AF_UNIX};
    EXPECT_INT(proxy_addr_from_sockaddr(&un, sizeof(un), &a), -1);
}

/* The message proxy_list_check gives for v, or "ok N". */
static const char *check(const char *v)
{
    static char err[256];
    int n = proxy_list_check(v, err, sizeof(err));
    if (n >= 0)
        snprintf(err, sizeof(err), "ok %d", n);
    return err;
}

static void test_list_check(void)
{
    EXPECT_STR(check(""), "ok 0");
    EXPECT_STR(check("127.0.0.1"), "ok 1");
    EXPECT_STR(check("10.0.0.0/8,::1,fd00::/8"), "ok 3");
    EXPECT_STR(check(" 10.0.0.0/8 ,\t192.168.0.0/16 "), "ok 2");
    EXPECT_STR(check("0.0.0.0/0,::/0"), "ok 2");
    EXPECT_STR(check("1.2.3.4/32,::1/128,::ffff:0:0/96"), "ok 3");
    EXPECT_STR(check("10.0.0.0/8,foo"), "'foo': not an IPv4 or IPv6 address");
    EXPECT_STR(check("10.1.0.0/8"), "'10.1.0.0/8': bits are set past the prefix length");
    EXPECT_STR(check("fd00::1/8"), "'fd00::1/8': bits are set past the prefix length");
    EXPECT_STR(check("10.0.0.0/33"), "'10.0.0.0/33': the prefix length is past 32");
    EXPECT_STR(check("::/129"), "'::/129': the prefix length is past 128");
    EXPECT_STR(check("10.0.0.0/08"), "'10.0.0.0/08': the prefix length is not a number without leading zeros");
    EXPECT_STR(check("10.0.0.0/"), "'10.0.0.0/': the prefix length is not a number without leading zeros");
    EXPECT_STR(check("10.0.0.0/+8"), "'10.0.0.0/+8': the prefix length is not a number without leading zeros");
    EXPECT_STR(check("10.0.0.0 /8"), "'10.0.0.0 /8': not an IPv4 or IPv6 address");
    EXPECT_STR(check("1.2.3.4,,5.6.7.8"), "'': an empty entry");
    EXPECT_STR(check("1.2.3.4,"), "'': an empty entry");
    EXPECT_STR(check(" "), "'': an empty entry");
    EXPECT_STR(check("[::1]"), "'[::1]': not an IPv4 or IPv6 address");
    EXPECT_STR(check("127.0.0.1:80"), "'127.0.0.1:80': not an IPv4 or IPv6 address");
    EXPECT_INT(proxy_list_check(NULL, NULL, 0), -1);
    /* a long bad entry is cut in the message */
    char big[300] = "";
    memset(big, 'x', 200);
    EXPECT(strlen(check(big)) < 100);
    /* 64 entries, not 65; at most 4096 bytes */
    char list[PROXY_LIST_MAX + 64] = "";
    for (int i = 0; i < PROXY_CIDRS_MAX; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s10.0.%d.0/24", i ? "," : "", i);
    EXPECT_STR(check(list), "ok 64");
    strcat(list, ",10.1.0.0/16");
    EXPECT_STR(check(list), "'10.1.0.0/16': more than 64 entries");
    memset(list, ' ', PROXY_LIST_MAX);
    strcpy(list + PROXY_LIST_MAX - 3, "::1");
    EXPECT_STR(check(list), "ok 1");
    strcpy(list + PROXY_LIST_MAX - 3, " ::1");
    EXPECT_STR(check(list), "longer than 4096 bytes");
}

/* The client proxy_client finds for a request from peer with these headers (NULL: absent), as
 * text with "<-" when it came from a header. xff lines are separated by '|'. */
static const char *client(proxy_t *p, const char *peer, const char *xff, const char *real_ip)
{
    static char out[PROXY_ADDR_STRLEN + 4];
    proxy_headers_t h = {0};
    proxy_addr_t from, c;
    for (const char *s = xff; s != NULL; h.nxff++) {
        const char *bar = strchr(s, '|');
        size_t len = bar != NULL ? (size_t)(bar - s) : strlen(s);
        if (h.nxff < PROXY_XFF_LINES)
            h.xff[h.nxff] = (proxy_span_t){s, len};
        s = bar != NULL ? bar + 1 : NULL;
    }
    if (real_ip != NULL)
        h.real_ip = (proxy_span_t){real_ip, strlen(real_ip)}, h.nreal_ip = 1;
    if (proxy_addr_parse(peer, strlen(peer), &from) != 0)
        return "bad peer";
    int forwarded = proxy_client(p, &from, &h, &c);
    size_t n = proxy_addr_format(&c, out);
    if (forwarded)
        memcpy(out + n, " <-", 4);
    return out;
}

static void test_untrusted_peer(void)
{
    proxy_t *none = proxy_new(""), *p = proxy_new("10.0.0.0/8");
    EXPECT(none != NULL && p != NULL);
    EXPECT_STR(client(none, "127.0.0.1", "203.0.113.7", NULL), "127.0.0.1");
    EXPECT_STR(client(none, "127.0.0.1", NULL, "203.0.113.7"), "127.0.0.1");
    EXPECT_STR(client(p, "192.0.2.1", "203.0.113.7", "198.51.100.1"), "192.0.2.1");
    EXPECT_STR(client(p, "11.0.0.1", "203.0.113.7", NULL), "11.0.0.1");
    EXPECT_STR(client(NULL, "10.0.0.1", "203.0.113.7", NULL), "10.0.0.1"); /* no holder: nobody trusted */
    EXPECT(proxy_new("10.0.0.0/8,bad") == NULL);
    proxy_free(none);
    proxy_free(p);
}

static void test_forwarded_for(void)
{
    proxy_t *p = proxy_new("127.0.0.1, 10.0.0.0/8, fd00::/8");
    EXPECT_STR(client(p, "127.0.0.1", NULL, NULL), "127.0.0.1");
    EXPECT_STR(client(p, "127.0.0.1", "203.0.113.7", NULL), "203.0.113.7 <-");
    EXPECT_STR(client(p, "127.0.0.1", " 203.0.113.7 ", NULL), "203.0.113.7 <-");
    /* from the right: trusted hops skipped, the first untrusted is the client */
    EXPECT_STR(client(p, "127.0.0.1", "203.0.113.7, 10.1.2.3", NULL), "203.0.113.7 <-");
    EXPECT_STR(client(p, "127.0.0.1", "203.0.113.7,10.1.2.3,fd00::9", NULL), "203.0.113.7 <-");
    /* a spoofed chain: what the client wrote left of itself is never believed */
    EXPECT_STR(client(p, "127.0.0.1", "1.1.1.1, 10.0.0.5, 198.51.100.2, 10.1.2.3", NULL), "198.51.100.2 <-");
    EXPECT_STR(client(p, "127.0.0.1", "garbage, 198.51.100.2", NULL), "198.51.100.2 <-");
    EXPECT_STR(client(p, "127.0.0.1", "1.2.3.4:5678, 198.51.100.2", NULL), "198.51.100.2 <-");
    /* every entry trusted: the left-most */
    EXPECT_STR(client(p, "127.0.0.1", "10.9.9.9, 10.1.2.3", NULL), "10.9.9.9 <-");
    EXPECT_STR(client(p, "127.0.0.1", "127.0.0.1", NULL), "127.0.0.1 <-");
    /* IPv6 entries; an IPv4-mapped one matches the IPv4 CIDR */
    EXPECT_STR(client(p, "127.0.0.1", "2001:db8::1, fd12::1", NULL), "2001:db8::1 <-");
    EXPECT_STR(client(p, "127.0.0.1", "2001:db8::1, ::ffff:10.2.3.4", NULL), "2001:db8::1 <-");
    /* several header lines are one list, the last line rightmost */
    EXPECT_STR(client(p, "127.0.0.1", "198.51.100.2|10.1.2.3", NULL), "198.51.100.2 <-");
    EXPECT_STR(client(p, "127.0.0.1", "1.1.1.1|198.51.100.2, 10.0.0.1|10.1.2.3", NULL), "198.51.100.2 <-");
    /* X-Forwarded-For wins over X-Real-IP, even when it is ignored */
    EXPECT_STR(client(p, "127.0.0.1", "198.51.100.2", "192.0.2.9"), "198.51.100.2 <-");
    EXPECT_STR(client(p, "127.0.0.1", "junk", "192.0.2.9"), "127.0.0.1");
    proxy_free(p);
}

static void test_forwarded_for_malformed(void)
{
    proxy_t *p = proxy_new("127.0.0.1,10.0.0.0/8");
    const char *bad[] = {"",
                         " ",
                         "junk",
                         "203.0.113.7:5678",
                         "[2001:db8::1]",
                         "[2001:db8::1]:80",
                         "203.0.113.7,",
                         "203.0.113.7, ",
                         "203.0.113.7,,10.0.0.1",
                         "203.0.113.7 10.0.0.1",
                         "unknown",
                         "203.0.113.7;for=x",
                         "for=203.0.113.7",
                         "203.0.113.7|",
                         "203.0.113.7\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (strcmp(client(p, "10.0.0.1", bad[i], NULL), "10.0.0.1") != 0) {
            EXPECT_STR(client(p, "10.0.0.1", bad[i], NULL), "10.0.0.1");
            printf("# for X-Forwarded-For '%s'\n", bad[i]);
        }
    /* at most PROXY_HOPS_MAX entries are read: 16 trusted hops, then the client is too far */
    char chain[1024] = "198.51.100.2";
    for (int i = 0; i < PROXY_HOPS_MAX - 1; i++)
        strcat(chain, ", 10.0.0.1");
    EXPECT_STR(client(p, "10.0.0.1", chain, NULL), "198.51.100.2 <-");
    strcat(chain, ", 10.0.0.1");
    EXPECT_STR(client(p, "10.0.0.1", chain, NULL), "10.0.0.1");
    /* an overlong header: only its right end is read */
    static char longer[20000];
    longer[0] = '\0';
    for (int i = 0; i < 1000; i++)
        strcat(longer, "192.0.2.1, ");
    strcat(longer, "198.51.100.2, 10.0.0.1");
    EXPECT_STR(client(p, "10.0.0.1", longer, NULL), "198.51.100.2 <-");
    memset(longer, '9', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    EXPECT_STR(client(p, "10.0.0.1", longer, NULL), "10.0.0.1");
    /* more header lines than are taken: ignored */
    EXPECT_STR(client(p, "10.0.0.1", "1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1", NULL), "1.1.1.1 <-");
    EXPECT_STR(client(p, "10.0.0.1", "1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1|1.1.1.1", NULL), "10.0.0.1");
    proxy_free(p);
}

static void test_real_ip(void)
{
    proxy_t *p = proxy_new("127.0.0.1");
    EXPECT_STR(client(p, "127.0.0.1", NULL, "203.0.113.7"), "203.0.113.7 <-");
    EXPECT_STR(client(p, "127.0.0.1", NULL, " 2001:db8::7 "), "2001:db8::7 <-");
    EXPECT_STR(client(p, "127.0.0.1", NULL, "127.0.0.1"), "127.0.0.1 <-");
    EXPECT_STR(client(p, "127.0.0.1", NULL, "203.0.113.7, 1.1.1.1"), "127.0.0.1");
    EXPECT_STR(client(p, "127.0.0.1", NULL, "203.0.113.7:80"), "127.0.0.1");
    EXPECT_STR(client(p, "127.0.0.1", NULL, ""), "127.0.0.1");
    EXPECT_STR(client(p, "192.0.2.1", NULL, "203.0.113.7"), "192.0.2.1");
    /* two X-Real-IP lines: which one a proxy wrote is unknown, so neither is read */
    proxy_headers_t h = {.real_ip = {"203.0.113.7", 11}, .nreal_ip = 2};
    proxy_addr_t peer, c;
    proxy_addr_parse("127.0.0.1", 9, &peer);
    EXPECT_INT(proxy_client(p, &peer, &h, &c), 0);
    EXPECT(memcmp(&c, &peer, sizeof(c)) == 0);
    proxy_free(p);
}

static void test_cidr_match(void)
{
    proxy_t *p = proxy_new("192.168.0.0/23,2001:db8:ab00::/40,1.2.3.4");
    EXPECT_STR(client(p, "192.168.1.255", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "192.168.2.0", "9.9.9.9", NULL), "192.168.2.0");
    EXPECT_STR(client(p, "192.167.255.255", "9.9.9.9", NULL), "192.167.255.255");
    EXPECT_STR(client(p, "2001:db8:abff:ffff::1", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "2001:db8:ac00::", "9.9.9.9", NULL), "2001:db8:ac00::");
    EXPECT_STR(client(p, "1.2.3.4", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "1.2.3.5", "9.9.9.9", NULL), "1.2.3.5");
    /* an IPv4-mapped IPv6 peer (a listener on ::) matches the IPv4 entries */
    EXPECT_STR(client(p, "::ffff:1.2.3.4", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "::ffff:192.168.0.7", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "::ffff:1.2.3.5", "9.9.9.9", NULL), "::ffff:1.2.3.5");
    /* ... and an IPv4 entry never matches an IPv6 address with the same last bytes (inet_ntop
     * writes ::1.2.3.4 as glibc "::1.2.3.4" and musl "::102:304": both are the peer) */
    EXPECT(strcmp(client(p, "::1.2.3.4", "9.9.9.9", NULL), "9.9.9.9 <-") != 0);
    EXPECT_STR(client(p, "64:ff9b::102:304", "9.9.9.9", NULL), "64:ff9b::102:304");
    proxy_free(p);
    p = proxy_new("0.0.0.0/0");
    EXPECT_STR(client(p, "203.0.113.1", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "::1", "9.9.9.9", NULL), "::1"); /* all of IPv4, none of IPv6 */
    proxy_free(p);
    p = proxy_new("::1");
    EXPECT_STR(client(p, "::1", "9.9.9.9", NULL), "9.9.9.9 <-");
    EXPECT_STR(client(p, "127.0.0.1", "9.9.9.9", NULL), "127.0.0.1");
    proxy_free(p);
}

static void test_live(void)
{
    proxy_t *p = proxy_new("");
    EXPECT_STR(client(p, "10.0.0.1", "198.51.100.2", NULL), "10.0.0.1");
    EXPECT_INT(proxy_set(p, "10.0.0.0/8"), 0);
    EXPECT_STR(client(p, "10.0.0.1", "198.51.100.2", NULL), "198.51.100.2 <-");
    EXPECT_INT(proxy_set(p, "10.0.0.0/8,x"), -1); /* refused: the old list stays */
    EXPECT_STR(client(p, "10.0.0.1", "198.51.100.2", NULL), "198.51.100.2 <-");
    EXPECT_INT(proxy_set(p, ""), 0);
    EXPECT_STR(client(p, "10.0.0.1", "198.51.100.2", NULL), "10.0.0.1");
    proxy_free(p);
    proxy_free(NULL);
}

/* Readers on three threads while the main thread swaps between two lists that both trust
 * 10.0.0.1: every read sees one list whole, so the client is always found. */
typedef struct {
    proxy_t *p;
    int stop, wrong;
} reader_t;

static void *reader(void *arg)
{
    reader_t *r = arg;
    proxy_headers_t h = {.xff = {{"198.51.100.2", 12}}, .nxff = 1};
    proxy_addr_t peer, c, want;
    proxy_addr_parse("10.0.0.1", 8, &peer);
    proxy_addr_parse("198.51.100.2", 12, &want);
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
        if (proxy_client(r->p, &peer, &h, &c) != 1 || memcmp(c.b, want.b, 16) != 0)
            r->wrong++;
    return NULL;
}

static void test_swap_while_reading(void)
{
    reader_t r[3];
    pthread_t t[3];
    proxy_t *p = proxy_new("10.0.0.1");
    for (int i = 0; i < 3; i++) {
        r[i] = (reader_t){.p = p};
        pthread_create(&t[i], NULL, reader, &r[i]);
    }
    for (int i = 0; i < 20000; i++)
        EXPECT_INT(proxy_set(p, i % 2 ? "10.0.0.1" : "192.0.2.0/24,10.0.0.0/8"), 0);
    int wrong = 0;
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
        wrong += r[i].wrong;
    }
    EXPECT_INT(wrong, 0);
    proxy_free(p);
}

int main(void)
{
    RUN(test_addr_parse);
    RUN(test_from_sockaddr);
    RUN(test_list_check);
    RUN(test_untrusted_peer);
    RUN(test_forwarded_for);
    RUN(test_forwarded_for_malformed);
    RUN(test_real_ip);
    RUN(test_cidr_match);
    RUN(test_live);
    RUN(test_swap_while_reading);
    return TEST_END();
}
