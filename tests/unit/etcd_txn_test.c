/* The transactions of the etcd client: request bodies, answers recorded from etcd 3.4.23's
 * gateway, and the connection a thread keeps between transactions. */
#include "etcd/etcd.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#define HDR(rev) "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

/* success: put u/a=2 with prev_kv, the newest key under u/, delete u/b (none) */
static const char SUCCEEDED[] =
    "{" HDR("35985") ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"35985\"},"
    "\"prev_kv\":{\"key\":\"dS9h\",\"create_revision\":\"35984\",\"mod_revision\":\"35984\",\"version\":\"1\","
    "\"value\":\"MQ==\"}}},{\"response_range\":{\"header\":{\"revision\":\"35985\"},\"kvs\":[{\"key\":\"dS9h\","
    "\"create_revision\":\"35984\",\"mod_revision\":\"35985\",\"version\":\"2\",\"value\":\"Mg==\"}],\"count\":\"1\"}},"
    "{\"response_delete_range\":{\"header\":{\"revision\":\"35985\"}}}]}";
/* failure: the compare did not hold; the failure branch read u/a and deleted under u/ */
static const char FAILED[] =
    "{" HDR("35986") ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"35985\"},\"kvs\":[{\"key\":"
    "\"dS9h\",\"create_revision\":\"35984\",\"mod_revision\":\"35985\",\"version\":\"2\",\"value\":\"Mg==\"}],"
    "\"count\":\"1\"}},{\"response_delete_range\":{\"header\":{\"revision\":\"35986\"},\"deleted\":\"1\"}}]}";


/* The decoded string of obj's member (base64), or NULL. */
static char *field(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? etcd_base64_decode(s, strlen(s), NULL) : NULL;
}

static void expect_field(const json_t *obj, const char *name, const char *want)
{
    char *got = field(obj, name);
    EXPECT_STR(got, want);
    free(got);
}

static void test_request(void)
{
    etcd_cmp_t cmp[] = {{.key = "p/x", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0},
                        {.key = "p/x/", .prefix = 1, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = 42}};
    etcd_op_t ok[] = {{.kind = ETCD_OP_PUT, .key = "p/x", .value = "{\"a\":1}", .prev_kv = 1},
                      {.kind = ETCD_OP_DELETE, .key = "p/x/", .prefix = 1}};
    etcd_op_t fail[] = {{.kind = ETCD_OP_RANGE, .key = "p/x/", .prefix = 1, .newest = 1}, {.kind = ETCD_OP_PUT, .key = "k"}};
    char *body = etcd_txn_request(cmp, 2, ok, 2, fail, 2);
    json_t *j = json_loads(body ? body : "", 0, NULL);
    EXPECT(j != NULL);
    const json_t *c = json_object_get(j, "compare"), *s = json_object_get(j, "success"), *f = json_object_get(j, "failure");
    EXPECT_INT(json_array_size(c), 2);
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 0), "target")), "CREATE");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 0), "result")), "EQUAL");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 0), "create_revision")), "0");
    EXPECT(json_object_get(json_array_get(c, 0), "range_end") == NULL);
    expect_field(json_array_get(c, 1), "key", "p/x/");
    expect_field(json_array_get(c, 1), "range_end", "p/x0");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 1), "target")), "MOD");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 1), "result")), "LESS");
    EXPECT_STR(json_string_value(json_object_get(json_array_get(c, 1), "mod_revision")), "42");
    const json_t *put = json_object_get(json_array_get(s, 0), "request_put");
    expect_field(put, "key", "p/x");
    expect_field(put, "value", "{\"a\":1}");
    EXPECT(json_is_true(json_object_get(put, "prev_kv")));
    const json_t *del = json_object_get(json_array_get(s, 1), "request_delete_range");
    expect_field(del, "key", "p/x/");
    expect_field(del, "range_end", "p/x0");
    const json_t *rng = json_object_get(json_array_get(f, 0), "request_range");
    EXPECT_STR(json_string_value(json_object_get(rng, "sort_order")), "DESCEND");
    EXPECT_STR(json_string_value(json_object_get(rng, "sort_target")), "MOD");
    EXPECT_STR(json_string_value(json_object_get(rng, "limit")), "1");
    const json_t *empty = json_object_get(json_array_get(f, 1), "request_put");
    expect_field(empty, "value", "");
    EXPECT(json_object_get(empty, "prev_kv") == NULL);
    json_decref(j);
    free(body);
    body = etcd_txn_request(NULL, 0, NULL, 0, NULL, 0);
    EXPECT_STR(body, "{\"compare\":[],\"success\":[],\"failure\":[]}");
    free(body);
}

static void test_parse_succeeded(void)
{
    etcd_txn_result_t r;
    char err[200];
    EXPECT_INT(etcd_parse_txn(SUCCEEDED, strlen(SUCCEEDED), &r, err, sizeof err), 0);
    EXPECT_INT(r.succeeded, 1);
    EXPECT_INT(r.revision, 35985);
    EXPECT_INT(r.n, 3);
    if (r.n == 3) {
        EXPECT_INT(r.ops[0].n, 1); /* the previous value */
        EXPECT_STR(r.ops[0].kvs[0].key, "u/a");
        EXPECT_STR(r.ops[0].kvs[0].value, "1");
        EXPECT_INT(r.ops[0].kvs[0].create_revision, 35984);
        EXPECT_INT(r.ops[1].n, 1);
        EXPECT_INT(r.ops[1].kvs[0].mod_revision, 35985);
        EXPECT_STR(r.ops[1].kvs[0].value, "2");
        EXPECT_INT(r.ops[2].n, 0); /* nothing deleted: the gateway leaves the count out */
        EXPECT(r.ops[2].kvs == NULL);
    }
    etcd_txn_result_free(&r);
    etcd_txn_result_free(&r); /* harmless twice */
    EXPECT(r.ops == NULL && r.n == 0);
}

static void test_parse_failed(void)
{
    etcd_txn_result_t r;
    char err[200];
    EXPECT_INT(etcd_parse_txn(FAILED, strlen(FAILED), &r, err, sizeof err), 0);
    EXPECT_INT(r.succeeded, 0);
    EXPECT_INT(r.revision, 35986);
    EXPECT_INT(r.n, 2);
    if (r.n == 2) {
        EXPECT_INT(r.ops[0].n, 1);
        EXPECT_STR(r.ops[0].kvs[0].key, "u/a");
        EXPECT_INT(r.ops[1].n, 1); /* deleted */
    }
    etcd_txn_result_free(&r);
    static const char *const bad[] = {
        "", "[]", "{\"responses\":[]}", "{" HDR("1") ",\"responses\":{}}", "{" HDR("1") ",\"responses\":[{}]}",
        "{" HDR("1") ",\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"!!\"}]}}]}",
        "{" HDR("1") ",\"responses\":[{\"response_put\":{\"prev_kv\":{\"key\":\"dS9h\",\"mod_revision\":\"x\"}}}]}",
        "{\"header\":{\"revision\":\"-1\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        EXPECT_INT(etcd_parse_txn(bad[i], strlen(bad[i]), &r, err, sizeof err), -1);
        EXPECT(err[0] != '\0' && r.ops == NULL && r.n == 0);
    }
}

/* ---- a gateway that keeps connections: counts the connections and the requests ---- */

typedef struct {
    int lfd, port, conns, reqs, close_after; /* close_after: close each connection after that many answers */
    atomic_int stop;
    pthread_t th;
} keeper_t;

static int read_one(int fd)
{
    char buf[8192];
    size_t len = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            const char *cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
            size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0, head = (size_t)(end - buf) + 4;
            if (len >= head + want)
                return memmem(buf, head, "Connection: close", 17) != NULL;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (len == sizeof buf || poll(&p, 1, 2000) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
}

static void *keeper_main(void *arg)
{
    keeper_t *k = arg;
    while (!k->stop) {
        struct pollfd p = {.fd = k->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(k->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        __atomic_add_fetch(&k->conns, 1, __ATOMIC_RELAXED);
        for (int n = 0; !k->stop; n++) {
            int asked_close = read_one(fd);
            if (asked_close < 0)
                break;
            __atomic_add_fetch(&k->reqs, 1, __ATOMIC_RELAXED);
            char head[256];
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     strlen(SUCCEEDED));
            send(fd, head, strlen(head), MSG_NOSIGNAL);
            send(fd, SUCCEEDED, strlen(SUCCEEDED), MSG_NOSIGNAL);
            if (asked_close || (k->close_after > 0 && n + 1 >= k->close_after))
                break;
        }
        close(fd);
    }
    return NULL;
}

static void keeper_start(keeper_t *k, int close_after)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    *k = (keeper_t){.close_after = close_after};
    k->lfd = socket(AF_INET, SOCK_STREAM, 0);
    bind(k->lfd, (struct sockaddr *)&a, sizeof a);
    listen(k->lfd, 16);
    getsockname(k->lfd, (struct sockaddr *)&a, &alen);
    k->port = ntohs(a.sin_port);
    pthread_create(&k->th, NULL, keeper_main, k);
}

static void keeper_stop(keeper_t *k)
{
    k->stop = 1;
    pthread_join(k->th, NULL);
    close(k->lfd);
}

/* n transactions on a client of k, each of which must succeed. */
static void transactions(keeper_t *k, int n)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", k->port);
    etcd_t *e = etcd_new(url, err, sizeof err);
    etcd_op_t put = {.kind = ETCD_OP_PUT, .key = "k", .value = "v"};
    for (int i = 0; i < n; i++) {
        etcd_txn_result_t r;
        EXPECT_INT(etcd_txn(e, NULL, 0, &put, 1, NULL, 0, 1000, &r, err, sizeof err), 0);
        EXPECT_INT(r.succeeded, 1);
        etcd_txn_result_free(&r);
    }
    etcd_free(e);
}

static void *transactions_main(void *arg)
{
    transactions(arg, 3);
    return NULL;
}

static void test_kept_connection(void)
{
    keeper_t k;
    keeper_start(&k, 0);
    pthread_t t;
    pthread_create(&t, NULL, transactions_main, &k); /* a thread of its own: its connection is new */
    pthread_join(t, NULL);
    EXPECT_INT(k.reqs, 3);
    EXPECT_INT(k.conns, 1);
    keeper_stop(&k);
}

static void test_kept_connection_closed_by_server(void)
{
    keeper_t k;
    keeper_start(&k, 2); /* the server closes each connection after two answers: the third goes anew */
    pthread_t t;
    pthread_create(&t, NULL, transactions_main, &k);
    pthread_join(t, NULL);
    EXPECT_INT(k.reqs, 3);
    EXPECT_INT(k.conns, 2);
    keeper_stop(&k);
}

int main(void)
{
    RUN(test_request);
    RUN(test_parse_succeeded);
    RUN(test_parse_failed);
    RUN(test_kept_connection);
    RUN(test_kept_connection_closed_by_server);
    return TEST_END();
}
