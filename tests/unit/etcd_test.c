#include "etcd/etcd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* ---- recorded from etcd 3.4.23's gateway ---- */

#define HDR(rev)                                                                                  \
    "\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\"," \
    "\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

#define MSG_CREATED "{\"result\":{" HDR("3") ",\"created\":true}}\n"
#define MSG_PUT_DEL                                                                                                       \
    "{\"result\":{" HDR("3") ",\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\","                          \
                             "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}},{\"type\":\"DELETE\",\"kv\":" \
                             "{\"key\":\"Zm9v\",\"mod_revision\":\"3\"}}]}}\n"
#define MSG_PUT_EMPTY                                                                            \
    "{\"result\":{" HDR("4") ",\"events\":[{\"kv\":{\"key\":\"YQ==\",\"create_revision\":\"4\"," \
                             "\"mod_revision\":\"4\",\"version\":\"1\"}}]}}\n"
#define MSG_TXN                                                                                                           \
    "{\"result\":{" HDR("5") ",\"events\":[{\"kv\":{\"key\":\"Yg==\",\"create_revision\":\"5\","                          \
                             "\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"eA==\"}},{\"type\":\"DELETE\",\"kv\":" \
                             "{\"key\":\"YQ==\",\"mod_revision\":\"5\"}}]}}\n"

/* the gateway's chunked framing of the four messages above, then the last chunk */
static const char CHUNKED[] =
    "8d\r\n" MSG_CREATED "\r\n11e\r\n" MSG_PUT_DEL "\r\nd6\r\n" MSG_PUT_EMPTY "\r\n11e\r\n" MSG_TXN "\r\n0\r\n\r\n";
static const char STREAM[] = MSG_CREATED MSG_PUT_DEL MSG_PUT_EMPTY MSG_TXN;
static const char EVENTS[] = "PUT foo=bar@2;DEL foo@3;PUT a=@4;DEL a@5;PUT b=x@5;"; /* revision 5 in key order */

static const char RANGE_ANSWER[] = "{" HDR("5") ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
                                                "\"version\":\"1\",\"value\":\"YmFy\"},{\"key\":\"YQ==\",\"create_revision\":\"4\","
                                                "\"mod_revision\":\"4\",\"version\":\"1\"}],\"count\":\"2\"}";
static const char EMPTY_ANSWER[] = "{" HDR("1") "}";
static const char PUT_ANSWER[] = "{" HDR("2") "}";

/* ---- base64 ---- */

static void test_base64_vectors(void)
{
    static const char *const v[][2] = {{"", ""},
                                       {"f", "Zg=="},
                                       {"fo", "Zm8="},
                                       {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="},
                                       {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"},
                                       {"porrio:", "cG9ycmlvOg=="}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *enc = etcd_base64_encode(v[i][0], strlen(v[i][0]));
        EXPECT_STR(enc, v[i][1]);
        size_t n = 99;
        char *dec = etcd_base64_decode(v[i][1], strlen(v[i][1]), &n);
        EXPECT_STR(dec, v[i][0]);
        EXPECT_INT(n, strlen(v[i][0]));
        free(enc);
        free(dec);
    }
}

static void test_base64_round_trip(void)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof data; len++) {
        char *enc = etcd_base64_encode(data, len);
        size_t n = 0;
        char *dec = enc ? etcd_base64_decode(enc, strlen(enc), &n) : NULL;
        EXPECT(enc && strlen(enc) == (len + 2) / 3 * 4);
        EXPECT(dec && n == len && memcmp(dec, data, len) == 0 && dec[len] == '\0');
        free(enc);
        free(dec);
    }
}

static void test_base64_invalid(void)
{
    static const char *const bad[] = {
        "Zg=", "Zg", "Z", "Zg==Zg==", "Z===", "====", "Zh==", "Zm9=", "Zm9v!", "Zm8 ", "Zm=v", "Zm9\n", "Zm-v", "Zm_v", "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = etcd_base64_decode(bad[i], strlen(bad[i]), NULL);
        if (d)
            printf("# accepted \"%s\"\n", bad[i]);
        EXPECT(d == NULL);
        free(d);
    }
}

/* ---- request bodies ---- */

static char *field_b64(json_t *obj, const char *name, size_t *n)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? etcd_base64_decode(s, strlen(s), n) : NULL;
}

static void check_range(const char *json, const char *under, const char *key, size_t keylen, const char *end, size_t endlen)
{
    json_t *j = json_loads(json ? json : "", 0, NULL), *o = j;
    if (under)
        o = json_object_get(j, under);
    size_t kn = 0, en = 0;
    char *k = field_b64(o, "key", &kn), *e = field_b64(o, "range_end", &en);
    EXPECT(k && kn == keylen && memcmp(k, key, keylen) == 0);
    EXPECT(e && en == endlen && memcmp(e, end, endlen) == 0);
    free(k);
    free(e);
    json_decref(j);
}

static void test_range_request(void)
{
    char *r = etcd_range_request("porrio:", NULL);
    EXPECT_STR(r, "{\"key\":\"cG9ycmlvOg==\",\"range_end\":\"cG9ycmlvOw==\"}");
    free(r);
    r = etcd_range_request("", NULL);
    EXPECT_STR(r, "{\"key\":\"AA==\",\"range_end\":\"AA==\"}");
    check_range(r, NULL, "", 1, "", 1);
    free(r);
    r = etcd_range_request("a\xff\xff", NULL);
    check_range(r, NULL, "a\xff\xff", 3, "b", 1);
    free(r);
    r = etcd_range_request("\xff", NULL);
    check_range(r, NULL, "\xff", 1, "", 1);
    free(r);
}

static void test_watch_request(void)
{
    char *r = etcd_watch_request("porrio:", NULL, 7);
    EXPECT_STR(r, "{\"create_request\":{\"key\":\"cG9ycmlvOg==\",\"range_end\":\"cG9ycmlvOw==\","
                  "\"start_revision\":\"7\"}}");
    free(r);
    r = etcd_watch_request("", NULL, 0);
    check_range(r, "create_request", "", 1, "", 1);
    EXPECT(r && strstr(r, "start_revision") == NULL);
    free(r);
}

/* ---- answers ---- */

static void test_parse_range(void)
{
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    int64_t rev = 0;
    char err[200];
    EXPECT_INT(etcd_parse_range(RANGE_ANSWER, strlen(RANGE_ANSWER), &kvs, &n, &rev, err, sizeof err), 0);
    EXPECT_INT(n, 2);
    EXPECT_INT(rev, 5);
    if (n == 2) {
        EXPECT_STR(kvs[0].key, "foo");
        EXPECT_STR(kvs[0].value, "bar");
        EXPECT_INT(kvs[0].mod_revision, 2);
        EXPECT_STR(kvs[1].key, "a");
        EXPECT_STR(kvs[1].value, "");
        EXPECT_INT(kvs[1].mod_revision, 4);
    }
    etcd_kvs_free(kvs, n);

    EXPECT_INT(etcd_parse_range(EMPTY_ANSWER, strlen(EMPTY_ANSWER), &kvs, &n, &rev, err, sizeof err), 0);
    EXPECT(kvs == NULL);
    EXPECT_INT(n, 0);
    EXPECT_INT(rev, 1);

    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "{\"kvs\":[]}",
                                      "{" HDR("x") "}",
                                      "{" HDR("1") ",\"kvs\":{}}",
                                      "{" HDR("1") ",\"kvs\":[{\"key\":\"Zm9\"}]}",
                                      "{" HDR("1") ",\"kvs\":[{\"value\":\"Zm9v\"}]}",
                                      "{" HDR("1") ",\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"!\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        EXPECT_INT(etcd_parse_range(bad[i], strlen(bad[i]), &kvs, &n, &rev, err, sizeof err), -1);
        EXPECT(kvs == NULL && n == 0 && err[0] != '\0');
    }
}

static void test_parse_put(void)
{
    int64_t rev = 0;
    char err[200];
    EXPECT_INT(etcd_parse_header(PUT_ANSWER, strlen(PUT_ANSWER), &rev, err, sizeof err), 0);
    EXPECT_INT(rev, 2);
    const char del[] = "{" HDR("9") ",\"deleted\":\"1\"}";
    EXPECT_INT(etcd_parse_header(del, strlen(del), &rev, err, sizeof err), 0);
    EXPECT_INT(rev, 9);
    EXPECT_INT(etcd_parse_header("{}", 2, &rev, err, sizeof err), -1);
    EXPECT_INT(etcd_parse_header("nope", 4, &rev, err, sizeof err), -1);
}

/* ---- chunked transfer coding ---- */

/* Decodes in through c in pieces cut at the given offsets; the output goes to out (NUL-ended). */
static int dechunk(const char *in, size_t len, const size_t *cuts, size_t ncuts, char *out, etcd_chunked_t *c)
{
    size_t at = 0, o = 0;
    etcd_chunked_init(c);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        char piece[2048];
        memcpy(piece, in + at, to - at);
        ssize_t d = etcd_chunked_feed(c, piece, to - at, piece); /* in place */
        if (d < 0)
            return -1;
        memcpy(out + o, piece, (size_t)d);
        o += (size_t)d;
        at = to;
    }
    out[o] = '\0';
    return 0;
}

static void test_chunked_every_split(void)
{
    size_t len = strlen(CHUNKED);
    char out[2048];
    etcd_chunked_t c;
    EXPECT_INT(dechunk(CHUNKED, len, NULL, 0, out, &c), 0);
    EXPECT_STR(out, STREAM);
    EXPECT(etcd_chunked_done(&c));
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        if (dechunk(CHUNKED, len, &cut, 1, out, &c) < 0 || strcmp(out, STREAM) != 0 || !etcd_chunked_done(&c))
            bad++;
        for (size_t cut2 = cut; cut2 <= len && cut % 13 == 0; cut2 += 7) {
            size_t cuts[2] = {cut, cut2};
            if (dechunk(CHUNKED, len, cuts, 2, out, &c) < 0 || strcmp(out, STREAM) != 0)
                bad++;
        }
    }
    EXPECT_INT(bad, 0);
    size_t cuts[sizeof CHUNKED];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    EXPECT_INT(dechunk(CHUNKED, len, cuts, len, out, &c), 0);
    EXPECT_STR(out, STREAM);
    EXPECT(etcd_chunked_done(&c));
    /* not done before the last chunk */
    EXPECT_INT(dechunk(CHUNKED, len - 5, NULL, 0, out, &c), 0);
    EXPECT(!etcd_chunked_done(&c));
}

static void test_chunked_forms(void)
{
    char out[256];
    etcd_chunked_t c;
    const char ext[] = "3;name=v\r\nabc\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nignored";
    EXPECT_INT(dechunk(ext, strlen(ext), NULL, 0, out, &c), 0);
    EXPECT_STR(out, "abc0123456789");
    EXPECT(etcd_chunked_done(&c));
    const char lf[] = "2\nab\n0\n\n";
    EXPECT_INT(dechunk(lf, strlen(lf), NULL, 0, out, &c), 0);
    EXPECT_STR(out, "ab");
    EXPECT(etcd_chunked_done(&c));
    static const char *const bad[] = {"zz\r\n", "\r\n", "3\r\nabcX", "3\r\nabc\rX", "1234567890abcdef0\r\n", "0\r\n\rX"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_INT(dechunk(bad[i], strlen(bad[i]), NULL, 0, out, &c), -1);
        char more[4] = "1\r\n";
        EXPECT_INT(etcd_chunked_feed(&c, more, 3, more), -1); /* stays failed */
    }
}

/* ---- the watch stream ---- */

typedef struct {
    char log[1024];
    size_t len;
} evlog_t;

static void log_event(void *ctx, const etcd_event_t *ev)
{
    evlog_t *l = ctx;
    int w;
    if (ev->deleted)
        w = snprintf(l->log + l->len, sizeof l->log - l->len, "DEL %s@%lld;", ev->key, (long long)ev->mod_revision);
    else
        w = snprintf(l->log + l->len, sizeof l->log - l->len, "PUT %s=%s@%lld;", ev->key, ev->value ? ev->value : "(null)",
                     (long long)ev->mod_revision);
    if (w > 0 && (size_t)w < sizeof l->log - l->len)
        l->len += (size_t)w;
}

/* Feeds text to a fresh parser in pieces cut at the given offsets; 0 or -1. */
static int parse_stream(const char *text, size_t len, const size_t *cuts, size_t ncuts, evlog_t *l, etcd_stream_t *s)
{
    memset(l, 0, sizeof *l);
    etcd_stream_init(s, log_event, l);
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        char *piece = malloc(to - at + 1); /* exact size, so overreads show under sanitizers */
        memcpy(piece, text + at, to - at);
        rc = etcd_stream_feed(s, piece, to - at);
        free(piece);
        at = to;
    }
    return rc;
}

static int stream_ok(const etcd_stream_t *s, const evlog_t *l)
{
    return strcmp(l->log, EVENTS) == 0 && s->revision == 5 && s->header_revision == 5 && s->created && s->messages == 4 &&
           !s->canceled && !s->failed;
}

static void test_stream_every_split(void)
{
    size_t len = strlen(STREAM);
    etcd_stream_t s;
    evlog_t l;
    EXPECT_INT(parse_stream(STREAM, len, NULL, 0, &l, &s), 0);
    EXPECT_STR(l.log, EVENTS);
    EXPECT_INT(s.revision, 5);
    EXPECT_INT(s.header_revision, 5);
    EXPECT_INT(s.messages, 4);
    EXPECT(s.created && !s.canceled && !s.failed);
    etcd_stream_free(&s);
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        if (parse_stream(STREAM, len, &cut, 1, &l, &s) < 0 || !stream_ok(&s, &l))
            bad++;
        etcd_stream_free(&s);
    }
    EXPECT_INT(bad, 0);
    size_t cuts[sizeof STREAM];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    EXPECT_INT(parse_stream(STREAM, len, cuts, len, &l, &s), 0);
    EXPECT(stream_ok(&s, &l));
    etcd_stream_free(&s);
    /* messages back to back, or apart by more whitespace, read the same */
    const char packed[] = "{\"result\":{\"created\":true}}{\"result\":{\"events\":[{\"kv\":"
                          "{\"key\":\"YQ==\",\"mod_revision\":\"8\",\"value\":\"eg==\"}}]}}"
                          " \r\n\t {\"result\":{\"events\":[{\"type\":\"DELETE\",\"kv\":"
                          "{\"key\":\"YQ==\",\"mod_revision\":9}}]}}";
    EXPECT_INT(parse_stream(packed, strlen(packed), NULL, 0, &l, &s), 0);
    EXPECT_STR(l.log, "PUT a=z@8;DEL a@9;");
    EXPECT_INT(s.messages, 3);
    etcd_stream_free(&s);
}

/* A message is found whole by its braces: braces, brackets, quotes and backslashes inside its
 * strings must not end it early or late, wherever the stream is cut. */
static void test_stream_strings(void)
{
    const char text[] = "{\"result\":{\"created\":true,\"x\":\"}]\\\"{[\\\\\"}}\n"
                        "{\"result\":{\"canceled\":true,\"cancel_reason\":\"a}\\\"]\\\\\"}}";
    size_t len = strlen(text);
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        etcd_stream_t s;
        evlog_t l;
        if (parse_stream(text, len, &cut, 1, &l, &s) < 0 || s.messages != 2 || !s.created || !s.canceled ||
            strcmp(s.error, "a}\"]\\") != 0)
            bad++;
        etcd_stream_free(&s);
    }
    EXPECT_INT(bad, 0);
}

/* The chunked decoder and the parser together, the raw stream cut at every byte. */
static void test_chunked_stream_pipeline(void)
{
    size_t len = strlen(CHUNKED);
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        etcd_chunked_t c;
        etcd_stream_t s;
        evlog_t l = {{0}, 0};
        char a[2048], b[2048];
        etcd_chunked_init(&c);
        etcd_stream_init(&s, log_event, &l);
        memcpy(a, CHUNKED, cut);
        memcpy(b, CHUNKED + cut, len - cut);
        ssize_t da = etcd_chunked_feed(&c, a, cut, a);
        int rc = da < 0 ? -1 : etcd_stream_feed(&s, a, (size_t)da);
        ssize_t db = etcd_chunked_feed(&c, b, len - cut, b);
        rc |= db < 0 ? -1 : etcd_stream_feed(&s, b, (size_t)db);
        if (rc != 0 || !stream_ok(&s, &l) || !etcd_chunked_done(&c))
            bad++;
        etcd_stream_free(&s);
    }
    EXPECT_INT(bad, 0);
}

static void test_stream_invalid(void)
{
    static const char *const bad[] = {
        "{\"result\": x}\n",
        "[1]\n",
        "{\"result\":{}}\nnull\n",
        "{\"result\":{\"events\":{}}}",
        "{\"result\":{\"events\":[{\"type\":\"PATCH\",\"kv\":{\"key\":\"YQ==\"}}]}}",
        "{\"result\":{\"events\":[{\"kv\":{\"key\":\"Y\"}}]}}",
        "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"z\"}}]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        etcd_stream_t s;
        evlog_t l;
        EXPECT_INT(parse_stream(bad[i], strlen(bad[i]), NULL, 0, &l, &s), -1);
        EXPECT(s.error[0] != '\0');
        EXPECT_INT(etcd_stream_feed(&s, MSG_PUT_DEL, strlen(MSG_PUT_DEL)), -1);
        EXPECT_STR(l.log, "");
        etcd_stream_free(&s);
    }
    /* a bad event keeps the good ones of the same message from being delivered */
    etcd_stream_t s;
    evlog_t l;
    const char half[] = "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\"}},"
                        "{\"kv\":{\"key\":\"!!!!\",\"mod_revision\":\"3\"}}]}}";
    EXPECT_INT(parse_stream(half, strlen(half), NULL, 0, &l, &s), -1);
    EXPECT_STR(l.log, "");
    EXPECT_INT(s.revision, 0);
    etcd_stream_free(&s);
}

/* The events of one transaction come in the order of its operations; they are delivered in key
 * order, a range's, so a watcher orders what one revision created as a reader of the range does. */
static void test_stream_key_order(void)
{
    const char msg[] =
        "{\"result\":{" HDR("7") ",\"events\":["
                                 "{\"kv\":{\"key\":\"eg==\",\"create_revision\":\"7\",\"mod_revision\":\"7\",\"value\":\"MQ==\"}},"
                                 "{\"kv\":{\"key\":\"bQ==\",\"create_revision\":\"6\",\"mod_revision\":\"6\",\"value\":\"Mg==\"}},"
                                 "{\"kv\":{\"key\":\"bQ==\",\"create_revision\":\"6\",\"mod_revision\":\"7\",\"value\":\"Mw==\"}},"
                                 "{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"7\"}}]}}\n";
    etcd_stream_t s;
    evlog_t l;
    EXPECT_INT(parse_stream(msg, strlen(msg), NULL, 0, &l, &s), 0);
    EXPECT_STR(l.log, "PUT m=2@6;DEL a@7;PUT m=3@7;PUT z=1@7;");
    EXPECT_INT(s.revision, 7);
    etcd_stream_free(&s);
}

static void test_stream_error_and_cancel(void)
{
    etcd_stream_t s;
    evlog_t l;
    const char err34[] = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\","
                         "\"http_status\":\"Service Unavailable\"}}\n";
    EXPECT_INT(parse_stream(err34, strlen(err34), NULL, 0, &l, &s), 0);
    EXPECT(s.failed);
    EXPECT_STR(s.error, "etcdserver: no leader");
    etcd_stream_free(&s);
    const char compacted[] = MSG_CREATED "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"raft_term\":"
                                         "\"2\"},\"canceled\":true,\"compact_revision\":\"5\"}}\n";
    EXPECT_INT(parse_stream(compacted, strlen(compacted), NULL, 0, &l, &s), 0);
    EXPECT(s.created && s.canceled && !s.failed);
    EXPECT_INT(s.compact_revision, 5);
    etcd_stream_free(&s);
    const char canceled[] = "{\"result\":{\"canceled\":true,\"cancel_reason\":\"permission denied\"}}";
    EXPECT_INT(parse_stream(canceled, strlen(canceled), NULL, 0, &l, &s), 0);
    EXPECT(s.canceled && s.compact_revision == 0);
    EXPECT_STR(s.error, "permission denied");
    etcd_stream_free(&s);
}

static void test_new(void)
{
    char err[256];
    etcd_t *e = etcd_new("http://etcd:2379,http://[::1]:2380,http://10.0.0.1:1/", err, sizeof err);
    EXPECT(e != NULL);
    if (e) {
        EXPECT_INT(etcd_endpoint_count(e), 3);
        EXPECT_STR(etcd_endpoint_name(e, 0), "http://etcd:2379");
        EXPECT_STR(etcd_endpoint_name(e, 1), "http://[::1]:2380");
        EXPECT_STR(etcd_endpoint_name(e, 2), "http://10.0.0.1:1");
        EXPECT(etcd_endpoint_name(e, 3) == NULL);
    }
    etcd_free(e);
    static const char *const bad[] = {"",
                                      "etcd:2379",
                                      "http://etcd",
                                      "http://etcd:2379,",
                                      "http://etcd:2379,,http://x:1",
                                      "https://etcd:2379",
                                      "http://etcd:0",
                                      "http://[::1:2379"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        e = etcd_new(bad[i], err, sizeof err);
        EXPECT(e == NULL && err[0] != '\0');
        etcd_free(e);
    }
    EXPECT(etcd_new(NULL, NULL, 0) == NULL);
}

/* ---- a fake gateway: one thread, one connection at a time ---- */

#define FAKE_MAX 16

typedef struct fake fake_t;
/* Answers request number idx (from 0) on fd; returns after answering, or when it keeps the
 * connection open, once the client closed it or the fake is stopping. */
typedef void (*serve_fn)(fake_t *f, int fd, int idx, const char *path, const char *body);

struct fake {
    int lfd, port;
    serve_fn serve;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    int nreq;
    char path[FAKE_MAX][64], body[FAKE_MAX][512];
    int64_t at[FAKE_MAX]; /* when each request arrived */
    etcd_t *e;            /* a client of this fake alone */
};

static int64_t now_ms(void)
{
    return etcd_clock_ms();
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void send_chunk(int fd, const char *s)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", strlen(s));
    send_str(fd, head);
    send_str(fd, s);
    send_str(fd, "\r\n");
}

static void send_json(int fd, int status, const char *body)
{
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", status,
             strlen(body));
    send_str(fd, head);
    send_str(fd, body);
}

/* Waits until the client closes fd or the fake stops. */
static void hold(fake_t *f, int fd)
{
    char b[256];
    while (!f->stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0 && recv(fd, b, sizeof b, 0) <= 0)
            return;
    }
}

/* Reads one request (head and Content-Length body) within 2 s; 0 or -1. */
static int read_request(fake_t *f, int fd, char *path, size_t pathlen, char *body, size_t bodylen)
{
    char buf[4096];
    size_t len = 0;
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            const char *cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
            size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0, head = (size_t)(end - buf) + 4;
            if (len >= head + want) {
                if (sscanf(buf, "POST %63s ", path) != 1)
                    return -1;
                (void)pathlen;
                size_t n = want < bodylen - 1 ? want : bodylen - 1;
                memcpy(body, buf + head, n);
                body[n] = '\0';
                return 0;
            }
        }
        if (len == sizeof buf || now_ms() > deadline || f->stop)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char path[64] = "", body[512] = "";
        if (read_request(f, fd, path, sizeof path, body, sizeof body) == 0) {
            pthread_mutex_lock(&f->mu);
            int idx = f->nreq++;
            if (idx < FAKE_MAX) {
                snprintf(f->path[idx], sizeof f->path[idx], "%s", path);
                snprintf(f->body[idx], sizeof f->body[idx], "%s", body);
                f->at[idx] = now_ms();
            }
            pthread_mutex_unlock(&f->mu);
            f->serve(f, fd, idx, path, body);
        }
        close(fd);
    }
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port on 127.0.0.1 where nothing listens: bound, then closed. */
static int closed_port(void)
{
    int port = 0, fd = listen_any(&port);
    close(fd);
    return port;
}

static etcd_t *client(const char *fmt, int a, int b)
{
    char list[128], err[256];
    snprintf(list, sizeof list, fmt, a, b);
    etcd_t *e = etcd_new(list, err, sizeof err);
    if (!e)
        printf("# etcd_new(%s): %s\n", list, err);
    return e;
}

/* Starts a fake answering with serve, with f->e a client of it (both ended by fake_stop). */
static fake_t *fake_start(serve_fn serve)
{
    fake_t *f = calloc(1, sizeof *f);
    f->serve = serve;
    f->lfd = listen_any(&f->port);
    f->e = client("http://127.0.0.1:%d", f->port, 0);
    pthread_mutex_init(&f->mu, NULL);
    pthread_create(&f->th, NULL, fake_main, f);
    return f;
}

static void fake_stop(fake_t *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
    etcd_free(f->e);
    free(f);
}

static int fake_requests(fake_t *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->nreq;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* ---- unary calls against the fake ---- */

static void serve_kv(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)f, (void)idx;
    if (strcmp(path, "/v3/kv/range") == 0 && strstr(body, "\"Zm9v\"") && !strstr(body, "range_end"))
        send_json(fd, 200,
                  "{" HDR("5") ",\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"2\","
                               "\"value\":\"YmFy\"}],\"count\":\"1\"}");
    else if (strcmp(path, "/v3/kv/range") == 0 && strstr(body, "range_end"))
        send_json(fd, 200, RANGE_ANSWER);
    else if (strcmp(path, "/v3/kv/range") == 0)
        send_json(fd, 200, EMPTY_ANSWER);
    else if (strcmp(path, "/v3/kv/put") == 0 || strcmp(path, "/v3/kv/deleterange") == 0)
        send_json(fd, 200, PUT_ANSWER);
    else
        send_json(fd, 404, "Not Found");
}

/* Reads every key through e within timeout_ms, expecting RANGE_ANSWER: two keys at revision 5,
 * the first foo=bar. */
static void expect_range_answer(etcd_t *e, int timeout_ms)
{
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    int64_t rev = 0;
    char err[512] = "";
    EXPECT_INT(etcd_range(e, "", NULL, timeout_ms, &kvs, &n, &rev, err, sizeof err), 0);
    EXPECT_INT(n, 2);
    EXPECT_INT(rev, 5);
    if (n == 2) {
        EXPECT_STR(kvs[0].key, "foo");
        EXPECT_STR(kvs[0].value, "bar");
    }
    etcd_kvs_free(kvs, n);
}

static void test_failover(void)
{
    fake_t *f = fake_start(serve_kv);
    int dead = closed_port();
    etcd_t *e = client("http://127.0.0.1:%d,http://127.0.0.1:%d", dead, f->port);
    expect_range_answer(e, 1000);
    EXPECT_INT(fake_requests(f), 1);
    EXPECT_STR(f->path[0], "/v3/kv/range");
    EXPECT_STR(f->body[0], "{\"key\":\"AA==\",\"range_end\":\"AA==\"}");
    etcd_free(e);
    fake_stop(f);

    /* both down: the error names each endpoint and its reason */
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    int64_t rev = 0;
    char err[512] = "";
    int dead2 = closed_port();
    e = client("http://127.0.0.1:%d,http://localhost:%d", dead, dead2);
    char want1[64], want2[64];
    snprintf(want1, sizeof want1, "http://127.0.0.1:%d: ", dead);
    snprintf(want2, sizeof want2, "; http://localhost:%d: ", dead2);
    EXPECT_INT(etcd_range(e, "p", NULL, 1000, &kvs, &n, &rev, err, sizeof err), -1);
    EXPECT(kvs == NULL && n == 0);
    EXPECT(strstr(err, want1) == err && strstr(err, want2) != NULL && strstr(err, "refused"));
    if (!strstr(err, "refused"))
        printf("# err: %s\n", err);
    etcd_free(e);
}

static void test_get_put_delete(void)
{
    fake_t *f = fake_start(serve_kv);
    etcd_t *e = client("http://localhost:%d", f->port, 0);
    char err[256] = "", *v = NULL;
    EXPECT_INT(etcd_get(e, "foo", 1000, &v, err, sizeof err), 0);
    EXPECT_STR(v, "bar");
    free(v);
    EXPECT_INT(etcd_get(e, "nope", 1000, &v, err, sizeof err), 0);
    EXPECT(v == NULL);
    EXPECT_INT(etcd_put(e, "foo", "bar", 1000, err, sizeof err), 0);
    EXPECT_INT(etcd_put(e, "foo", "", 1000, err, sizeof err), 0);
    EXPECT_INT(etcd_delete(e, "foo", 1000, err, sizeof err), 0);
    EXPECT_INT(etcd_put(e, "", "x", 1000, err, sizeof err), -1);
    EXPECT_INT(fake_requests(f), 5);
    EXPECT_STR(f->body[0], "{\"key\":\"Zm9v\"}");
    EXPECT_STR(f->path[2], "/v3/kv/put");
    EXPECT_STR(f->body[2], "{\"key\":\"Zm9v\",\"value\":\"YmFy\"}");
    EXPECT_STR(f->body[3], "{\"key\":\"Zm9v\",\"value\":\"\"}");
    EXPECT_STR(f->path[4], "/v3/kv/deleterange");
    EXPECT_STR(f->body[4], "{\"key\":\"Zm9v\"}");
    etcd_free(e);
    fake_stop(f);
}

static void serve_error(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)f, (void)idx, (void)path, (void)body;
    send_json(fd, 400,
              "{\"error\":\"etcdserver: key is not provided\",\"message\":"
              "\"etcdserver: key is not provided\",\"code\":3}");
}

/* Puts k=v through a fake gateway answering with serve, expecting it to fail with an error
 * that contains why. */
static void expect_put_fails(serve_fn serve, const char *why)
{
    fake_t *f = fake_start(serve);
    char err[256] = "";
    EXPECT_INT(etcd_put(f->e, "k", "v", 1000, err, sizeof err), -1);
    EXPECT(strstr(err, why) != NULL);
    fake_stop(f);
}

static void test_http_error(void)
{
    expect_put_fails(serve_error, "HTTP 400: etcdserver: key is not provided");
}

static void serve_truncated(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)f, (void)idx, (void)path, (void)body;
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"header\":{}}");
}

static void test_truncated_answer(void)
{
    expect_put_fails(serve_truncated, "closed before the end");
}

/* A big answer in small chunks, as the gateway sends past a few KiB. */
static void serve_chunked(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)f, (void)idx, (void)path, (void)body;
    /* a Content-Length beside chunked framing must be ignored */
    send_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                 "transfer-encoding: chunked\r\n\r\n");
    for (size_t at = 0, len = strlen(RANGE_ANSWER); at < len; at += 10) {
        char piece[11] = "";
        memcpy(piece, RANGE_ANSWER + at, len - at < 10 ? len - at : 10);
        send_chunk(fd, piece);
    }
    send_str(fd, "0\r\n\r\n");
    hold(f, fd); /* the end of the body, not of the connection, ends the answer */
}

static void test_chunked_answer(void)
{
    fake_t *f = fake_start(serve_chunked);
    expect_range_answer(f->e, 1000);
    fake_stop(f);
}

static void serve_silent(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)idx, (void)path, (void)body;
    hold(f, fd);
}

static void test_silent_server_times_out(void)
{
    fake_t *f = fake_start(serve_silent);
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    int64_t rev = 0;
    char err[256] = "";
    int64_t t0 = now_ms();
    EXPECT_INT(etcd_range(f->e, "", NULL, 300, &kvs, &n, &rev, err, sizeof err), -1);
    int64_t took = now_ms() - t0;
    EXPECT(took >= 250 && took < 600);
    EXPECT(strstr(err, "timed out") != NULL);

    /* a silent first endpoint leaves the second its share of the time */
    fake_t *g = fake_start(serve_kv);
    etcd_t *e = client("http://127.0.0.1:%d,http://127.0.0.1:%d", f->port, g->port);
    t0 = now_ms();
    expect_range_answer(e, 600);
    took = now_ms() - t0;
    EXPECT(took >= 250 && took < 500);
    etcd_free(e);
    fake_stop(g);
    fake_stop(f);
}

/* ---- the watch loop against the fake ---- */

#define WATCH_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

typedef struct {
    pthread_mutex_t mu;
    evlog_t ev;
    char states[64], first_msg[512], last_msg[512];
    int nresync;
    int64_t resync_rev[4];
    char resync_keys[4][64];
    etcd_t *e;
    int64_t start;
    atomic_int stop;
    int rc;
    pthread_t th;
} wctx_t;

static void w_event(void *ctx, const etcd_event_t *ev)
{
    wctx_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    log_event(&w->ev, ev);
    pthread_mutex_unlock(&w->mu);
}

static void w_state(void *ctx, int connected, const char *msg)
{
    wctx_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    size_t n = strlen(w->states);
    if (n + 3 < sizeof w->states)
        snprintf(w->states + n, sizeof w->states - n, "%d;", connected);
    if (!w->first_msg[0])
        snprintf(w->first_msg, sizeof w->first_msg, "%s", msg);
    snprintf(w->last_msg, sizeof w->last_msg, "%s", msg);
    pthread_mutex_unlock(&w->mu);
}

static void w_resync(void *ctx, const etcd_kv_t *kvs, size_t n, int64_t revision)
{
    wctx_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    if (w->nresync < 4) {
        char *k = w->resync_keys[w->nresync];
        k[0] = '\0';
        for (size_t i = 0; i < n; i++)
            snprintf(k + strlen(k), 64 - strlen(k), "%s=%s;", kvs[i].key, kvs[i].value);
        w->resync_rev[w->nresync] = revision;
    }
    w->nresync++;
    pthread_mutex_unlock(&w->mu);
}

static void *watch_main(void *arg)
{
    wctx_t *w = arg;
    etcd_watch_cb_t cb = {.on_event = w_event, .on_state = w_state, .on_resync = w_resync, .ctx = w};
    w->rc = etcd_watch_run(w->e, "", NULL, w->start, &cb, &w->stop);
    return NULL;
}

static int states_are(wctx_t *w, const char *want)
{
    pthread_mutex_lock(&w->mu);
    int eq = strcmp(w->states, want) == 0;
    pthread_mutex_unlock(&w->mu);
    return eq;
}

/* Starts etcd_watch_run on e from start, reporting to w, in a thread of its own. */
static void watch_start(wctx_t *w, etcd_t *e, int64_t start)
{
    pthread_mutex_init(&w->mu, NULL);
    w->e = e;
    w->start = start;
    pthread_create(&w->th, NULL, watch_main, w);
}

/* Tells the watch of w to stop and waits for its thread: the milliseconds that took. */
static int64_t watch_stop(wctx_t *w)
{
    w->stop = 1;
    int64_t t0 = now_ms();
    pthread_join(w->th, NULL);
    int64_t took = now_ms() - t0;
    pthread_mutex_destroy(&w->mu);
    return took;
}

/* Runs etcd_watch_run in a thread until done(w) holds (at most 5 s), then stops it and checks
 * that it returns promptly. */
static void run_watch(wctx_t *w, etcd_t *e, int64_t start, const char *states)
{
    watch_start(w, e, start);
    for (int64_t until = now_ms() + 5000; now_ms() < until && !states_are(w, states);)
        sleep_ms(10);
    sleep_ms(50);
    EXPECT(watch_stop(w) < 400);
    EXPECT_INT(w->rc, 0);
    EXPECT_STR(w->states, states);
}

static void serve_resume(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)body;
    if (strcmp(path, "/v3/watch") != 0) {
        send_json(fd, 404, "{}");
        return;
    }
    send_str(fd, WATCH_HEAD);
    send_chunk(fd, "{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}\n");
    if (idx == 0) {
        send_chunk(fd, "{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":"
                       "\"Zm9v\",\"mod_revision\":\"5\",\"value\":\"YmFy\"}},{\"type\":\"DEL");
        send_chunk(fd, "ETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\"}}]}}\n");
        send_str(fd, "0\r\n\r\n");
        return; /* and close */
    }
    hold(f, fd);
}

static void test_watch_resumes_after_last_revision(void)
{
    fake_t *f = fake_start(serve_resume);
    wctx_t w = {0};
    run_watch(&w, f->e, 3, "1;0;1;");
    EXPECT_INT(fake_requests(f), 2);
    EXPECT(strstr(f->body[0], "\"start_revision\":\"3\"") != NULL);
    EXPECT(strstr(f->body[1], "\"start_revision\":\"7\"") != NULL);
    EXPECT_STR(w.ev.log, "PUT foo=bar@5;DEL foo@6;");
    EXPECT_INT(w.nresync, 0);
    fake_stop(f);
}

static void serve_compact(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)body;
    if (strcmp(path, "/v3/kv/range") == 0) {
        send_json(fd, 200,
                  idx == 0 ? "{\"header\":{\"revision\":\"10\"},\"kvs\":[{\"key\":\"Zm9v\","
                             "\"mod_revision\":\"9\",\"value\":\"YmFy\"}]}"
                           : "{\"header\":{\"revision\":\"20\"},\"kvs\":[{\"key\":\"Yg==\","
                             "\"mod_revision\":\"18\",\"value\":\"eA==\"}]}");
        return;
    }
    send_str(fd, WATCH_HEAD);
    send_chunk(fd, "{\"result\":{\"header\":{\"revision\":\"20\"},\"created\":true}}\n");
    if (idx == 1) /* etcd keeps the stream open after canceling */
        send_chunk(fd, "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"15\"}}\n");
    hold(f, fd);
}

static void test_watch_resyncs_after_compaction(void)
{
    fake_t *f = fake_start(serve_compact);
    wctx_t w = {0};
    watch_start(&w, f->e, 0);
    for (int64_t until = now_ms() + 5000; now_ms() < until && fake_requests(f) < 4;)
        sleep_ms(10);
    sleep_ms(100);
    watch_stop(&w);
    EXPECT_INT(fake_requests(f), 4);
    EXPECT_STR(f->path[0], "/v3/kv/range");
    EXPECT_STR(f->path[1], "/v3/watch");
    EXPECT(strstr(f->body[1], "\"start_revision\":\"11\"") != NULL);
    EXPECT_STR(f->path[2], "/v3/kv/range");
    EXPECT(strstr(f->body[3], "\"start_revision\":\"21\"") != NULL);
    EXPECT_INT(w.nresync, 2);
    EXPECT_INT(w.resync_rev[0], 10);
    EXPECT_STR(w.resync_keys[0], "foo=bar;");
    EXPECT_INT(w.resync_rev[1], 20);
    EXPECT_STR(w.resync_keys[1], "b=x;");
    EXPECT_STR(w.states, "1;");
    fake_stop(f);
}

static void test_watch_unreachable_reports_once(void)
{
    int dead = closed_port();
    etcd_t *e = client("http://127.0.0.1:%d", dead, 0);
    wctx_t w = {0};
    watch_start(&w, e, 1);
    sleep_ms(700); /* several attempts: 100 + 200 + 400 ms of backoff */
    EXPECT(watch_stop(&w) < 400);
    EXPECT_STR(w.states, "0;");
    EXPECT(strstr(w.last_msg, "refused") != NULL);
    etcd_free(e);
}

static void test_watch_stops_while_silent(void)
{
    fake_t *f = fake_start(serve_silent);
    wctx_t w = {0};
    watch_start(&w, f->e, 1);
    sleep_ms(300);
    EXPECT(watch_stop(&w) < 400);
    EXPECT_INT(fake_requests(f), 1);
    fake_stop(f);
}

static void serve_flaky(fake_t *f, int fd, int idx, const char *path, const char *body)
{
    (void)path, (void)body;
    if (idx < 2) {
        send_json(fd, 503, "{\"message\":\"etcdserver: no leader\"}");
        return;
    }
    send_str(fd, WATCH_HEAD);
    send_chunk(fd, "{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}\n");
    if (idx == 2)
        send_str(fd, "0\r\n\r\n");
    else
        hold(f, fd);
}

/* The pause between attempts doubles from 100 ms, and returns to 100 ms once a watch worked. */
static void test_watch_backoff(void)
{
    fake_t *f = fake_start(serve_flaky);
    wctx_t w = {0};
    run_watch(&w, f->e, 1, "0;1;0;1;");
    EXPECT_INT(fake_requests(f), 4);
    int64_t d1 = f->at[1] - f->at[0], d2 = f->at[2] - f->at[1], d3 = f->at[3] - f->at[2];
    EXPECT(d1 >= 90 && d1 < 190);
    EXPECT(d2 >= 190 && d2 < 390);
    EXPECT(d3 >= 90 && d3 < 300);
    if (d1 < 90 || d1 >= 190 || d2 < 190 || d2 >= 390 || d3 < 90 || d3 >= 300)
        printf("# gaps %lld %lld %lld ms\n", (long long)d1, (long long)d2, (long long)d3);
    EXPECT(strstr(w.first_msg, "HTTP 503 to the watch request: etcdserver: no leader") != NULL);
    EXPECT(strstr(w.last_msg, "watching") != NULL);
    fake_stop(f);
}

int main(void)
{
    RUN(test_base64_vectors);
    RUN(test_base64_round_trip);
    RUN(test_base64_invalid);
    RUN(test_range_request);
    RUN(test_watch_request);
    RUN(test_parse_range);
    RUN(test_parse_put);
    RUN(test_chunked_every_split);
    RUN(test_chunked_forms);
    RUN(test_stream_every_split);
    RUN(test_stream_strings);
    RUN(test_chunked_stream_pipeline);
    RUN(test_stream_invalid);
    RUN(test_stream_key_order);
    RUN(test_stream_error_and_cancel);
    RUN(test_new);
    RUN(test_failover);
    RUN(test_get_put_delete);
    RUN(test_http_error);
    RUN(test_truncated_answer);
    RUN(test_chunked_answer);
    RUN(test_silent_server_times_out);
    RUN(test_watch_resumes_after_last_revision);
    RUN(test_watch_resyncs_after_compaction);
    RUN(test_watch_backoff);
    RUN(test_watch_unreachable_reports_once);
    RUN(test_watch_stops_while_silent);
    return TEST_END();
}
