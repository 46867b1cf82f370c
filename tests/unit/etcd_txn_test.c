/* The transactions of the etcd client: request bodies, answers recorded from etcd 3.4.23's
 * gateway, the connection a thread keeps between transactions, and transactions of several
 * threads sent together. */
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

#define HDR(rev)                                                                                                  \
    "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",\"revision\":\"" rev \
    "\",\"raft_term\":\"2\"}"

/* success: put u/a=2 with prev_kv, the newest key under u/, delete u/b (none) */
static const char SUCCEEDED[] = "{" HDR(
    "35985") ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"35985\"},"
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
        "",
        "[]",
        "{\"responses\":[]}",
        "{" HDR("1") ",\"responses\":{}}",
        "{" HDR("1") ",\"responses\":[{}]}",
        "{" HDR("1") ",\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"!!\"}]}}]}",
        "{" HDR("1") ",\"responses\":[{\"response_put\":{\"prev_kv\":{\"key\":\"dS9h\",\"mod_revision\":\"x\"}}}]}",
        "{\"header\":{\"revision\":\"-1\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        EXPECT_INT(etcd_parse_txn(bad[i], strlen(bad[i]), &r, err, sizeof err), -1);
        EXPECT(err[0] != '\0' && r.ops == NULL && r.n == 0);
    }
}

/* Two nested transactions: the first put a (new), the second's compare on b failed and it read b. */
static const char GROUP[] =
    "{" HDR("2") ",\"succeeded\":true,\"responses\":[{\"response_txn\":{\"header\":{},\"succeeded\":true,"
                 "\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"2\"}}}]}},{\"response_txn\":{\"header\":{},"
                 "\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"2\"}}}]}}]}";

static void test_independent(void)
{
    etcd_cmp_t pool = {.key = "p/x", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 7};
    etcd_cmp_t under = {.key = "p/x/", .prefix = 1, .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .revision = 9};
    etcd_op_t bet_a = {.kind = ETCD_OP_PUT, .key = "p/x/bets/a"}, bet_b = {.kind = ETCD_OP_PUT, .key = "p/x/bets/b"};
    etcd_op_t read_pool = {.kind = ETCD_OP_RANGE, .key = "p/x"}, read_a = {.kind = ETCD_OP_RANGE, .key = "p/x/bets/a"};
    etcd_op_t drop = {.kind = ETCD_OP_DELETE, .key = "p/x/", .prefix = 1}, drop_x = {.kind = ETCD_OP_DELETE, .key = "p/x"};
    etcd_op_t other = {.kind = ETCD_OP_PUT, .key = "p/y"};
    etcd_txn_t a = {.cmp = &pool, .ncmp = 1, .ok = &bet_a, .nok = 1, .fail = &read_pool, .nfail = 1};
    etcd_txn_t b = {.cmp = &pool, .ncmp = 1, .ok = &bet_b, .nok = 1, .fail = &read_pool, .nfail = 1};
    EXPECT_INT(etcd_txn_independent(&a, &b), 1); /* two bets of one pool: both only read the pool */
    EXPECT_INT(etcd_txn_independent(&a, &a), 0); /* one key written twice */
    etcd_txn_t held = {.cmp = &under, .ncmp = 1, .ok = &other, .nok = 1};
    EXPECT_INT(etcd_txn_independent(&a, &held), 0); /* a writes under a prefix held compares */
    EXPECT_INT(etcd_txn_independent(&held, &a), 0);
    etcd_txn_t dropper = {.ok = &drop, .nok = 1};
    EXPECT_INT(etcd_txn_independent(&a, &dropper), 0); /* a prefix deleted covers a's key */
    etcd_txn_t drops_pool = {.ok = &drop_x, .nok = 1};
    EXPECT_INT(etcd_txn_independent(&b, &drops_pool), 0); /* b compares and reads the key deleted */
    etcd_txn_t reader = {.fail = &read_a, .nfail = 1};
    EXPECT_INT(etcd_txn_independent(&a, &reader), 0); /* a failure branch reading what a writes */
    EXPECT_INT(etcd_txn_independent(&b, &reader), 1);
    etcd_txn_t writes_y = {.ok = &other, .nok = 1}, fail_writes_x = {.fail = &bet_a, .nfail = 1};
    EXPECT_INT(etcd_txn_independent(&writes_y, &dropper), 1);     /* p/y is not under p/x/ */
    EXPECT_INT(etcd_txn_independent(&fail_writes_x, &reader), 0); /* a write in a failure branch counts */
    EXPECT_INT(etcd_txn_independent(&reader, &reader), 1);        /* reads never clash */
}

static void test_group_request(void)
{
    etcd_cmp_t absent = {.key = "a", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .revision = 0};
    etcd_op_t put_a = {.kind = ETCD_OP_PUT, .key = "a", .value = "1"}, put_b = {.kind = ETCD_OP_PUT, .key = "b"};
    etcd_op_t read_a = {.kind = ETCD_OP_RANGE, .key = "a"};
    etcd_txn_t t[2] = {{.cmp = &absent, .ncmp = 1, .ok = &put_a, .nok = 1, .fail = &read_a, .nfail = 1}, {.ok = &put_b, .nok = 1}};
    char *body = etcd_txn_group_request(t, 2);
    json_t *j = json_loads(body ? body : "", 0, NULL);
    EXPECT(j != NULL);
    EXPECT(json_object_get(j, "compare") == NULL); /* the group itself holds nothing */
    const json_t *s = json_object_get(j, "success");
    EXPECT_INT(json_array_size(s), 2);
    const json_t *first = json_object_get(json_array_get(s, 0), "request_txn");
    char *alone = etcd_txn_request(&absent, 1, &put_a, 1, &read_a, 1);
    json_t *want = json_loads(alone ? alone : "", 0, NULL);
    EXPECT(want != NULL && json_equal(first, want)); /* each nested exactly as it would go alone */
    const json_t *second = json_object_get(json_array_get(s, 1), "request_txn");
    expect_field(json_object_get(json_array_get(json_object_get(second, "success"), 0), "request_put"), "key", "b");
    EXPECT_INT(json_array_size(json_object_get(second, "compare")), 0);
    json_decref(want);
    json_decref(j);
    free(alone);
    free(body);
}

static void test_parse_group(void)
{
    etcd_txn_result_t r[3];
    char err[200];
    EXPECT_INT(etcd_parse_txn_group(GROUP, strlen(GROUP), r, 2, err, sizeof err), 0);
    EXPECT_INT(r[0].succeeded, 1);
    EXPECT_INT(r[0].revision, 2);
    EXPECT_INT(r[0].n, 1);
    EXPECT_INT(r[1].succeeded, 0);
    EXPECT_INT(r[1].revision, 2); /* the group's: nested answers carry an empty header */
    EXPECT_INT(r[1].n, 1);
    EXPECT_INT(r[1].ops[0].n, 0); /* b was not there */
    etcd_txn_result_free(&r[0]);
    etcd_txn_result_free(&r[1]);
    err[0] = '\0';
    EXPECT_INT(etcd_parse_txn_group(GROUP, strlen(GROUP), r, 3, err, sizeof err), -1); /* one answer short */
    EXPECT(err[0] != '\0' && r[0].ops == NULL && r[1].ops == NULL);
    static const char *const bad[] = {
        "{\"error\":\"etcdserver: duplicate key given in txn request\",\"code\":3}",
        "{" HDR("2") ",\"responses\":[{\"response_txn\":{}},{\"response_put\":{}}]}",
        "{" HDR("2") ",\"responses\":[{\"response_txn\":{\"responses\":[{}]}},{\"response_txn\":{}}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        EXPECT_INT(etcd_parse_txn_group(bad[i], strlen(bad[i]), r, 2, err, sizeof err), -1);
        EXPECT(err[0] != '\0' && r[0].ops == NULL && r[0].n == 0 && r[1].ops == NULL);
    }
}

/* ---- a gateway that keeps connections: counts the connections, the requests and the
 * transactions; answers each transaction as outcome() says ---- */

#define BODY_MAX  (256 << 10)
#define CONNS_MAX 64

typedef struct {
    int lfd, port, conns, reqs, txns, grouped, clashes;
    int close_after;   /* close each connection after that many answers */
    int delay_ms;      /* before each answer */
    int refuse_groups; /* answer a request of several transactions as etcd with lower limits does */
    int hang_up;       /* close the connection instead of answering */
    atomic_int gate;   /* while non-zero, requests are read but not answered */
    atomic_int stop;
    pthread_t th;
} keeper_t;

/* Reads one request into buf; its body starts at *body. 1: it asked to close; 0; -1: gone. */
static int read_one(int fd, char *buf, const char **body)
{
    size_t len = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            const char *cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
            size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0, head = (size_t)(end - buf) + 4;
            if (len >= head + want) {
                buf[head + want] = '\0';
                *body = buf + head;
                return memmem(buf, head, "Connection: close", 17) != NULL;
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (len == BODY_MAX - 1 || poll(&p, 1, 2000) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + len, BODY_MAX - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
}

/* The decoded key of a transaction's first put, or NULL. Malloc'd. */
static char *first_put(const json_t *txn)
{
    return field(json_object_get(json_array_get(json_object_get(txn, "success"), 0), "request_put"), "key");
}

/* A transaction's answer: it failed when its first put's key ends in an odd digit (the writers
 * below number their keys), else it succeeded; a failure branch read nothing. */
static json_t *outcome(const json_t *txn)
{
    char *key = first_put(txn);
    char last = key != NULL && key[0] != '\0' ? key[strlen(key) - 1] : 'x';
    int ok = last < '0' || last > '9' || (last - '0') % 2 == 0;
    free(key);
    return ok ? json_pack("{s:b, s:[{s:{}}]}", "succeeded", 1, "responses", "response_put")
              : json_pack("{s:[{s:{}}]}", "responses", "response_range");
}

/* The answer to body, malloc'd; a body starting "!" is an error status. */
static char *answer(keeper_t *k, const char *body)
{
    json_t *j = json_loads(body, 0, NULL), *members = json_object_get(j, "success"), *a;
    size_t n = json_array_size(members);
    if (json_object_get(j, "compare") != NULL || n == 0) { /* one transaction, not nested */
        __atomic_add_fetch(&k->txns, 1, __ATOMIC_RELAXED);
        a = outcome(j);
    } else if (k->refuse_groups && n > 1) {
        __atomic_add_fetch(&k->grouped, 1, __ATOMIC_RELAXED);
        a = json_pack("{s:s, s:i}", "error", "etcdserver: too many operations in txn request", "code", 3);
    } else {
        __atomic_add_fetch(&k->txns, (int)n, __ATOMIC_RELAXED);
        __atomic_add_fetch(&k->grouped, n > 1, __ATOMIC_RELAXED);
        json_t *seen = json_object(), *out = json_array();
        for (size_t i = 0; i < n; i++) {
            const json_t *txn = json_object_get(json_array_get(members, i), "request_txn");
            char *key = first_put(txn);
            if (key != NULL && json_object_get(seen, key) != NULL) /* etcd refuses the request */
                __atomic_add_fetch(&k->clashes, 1, __ATOMIC_RELAXED);
            json_object_set_new(seen, key ? key : "", json_true());
            free(key);
            json_array_append_new(out, json_pack("{s:o}", "response_txn", outcome(txn)));
        }
        json_decref(seen);
        a = json_pack("{s:o}", "responses", out);
    }
    if (json_object_get(a, "error") == NULL)
        json_object_set_new(a, "header", json_pack("{s:s}", "revision", "7"));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    json_decref(j);
    return text;
}

typedef struct {
    keeper_t *k;
    int fd;
} conn_t;

/* One connection's requests, each answered after delay_ms. */
static void *conn_main(void *arg)
{
    conn_t *c = arg;
    keeper_t *k = c->k;
    char *buf = malloc(BODY_MAX);
    for (int n = 0; buf != NULL && !k->stop; n++) {
        const char *body = NULL;
        int asked_close = read_one(c->fd, buf, &body);
        if (asked_close < 0)
            break;
        __atomic_add_fetch(&k->reqs, 1, __ATOMIC_RELAXED);
        while (k->gate && !k->stop)
            poll(NULL, 0, 5);
        if (k->delay_ms > 0)
            poll(NULL, 0, k->delay_ms);
        if (k->hang_up)
            break;
        char *a = answer(k, body), head[256];
        snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 strstr(a, "\"error\"") ? "400 Bad Request" : "200 OK", strlen(a));
        send(c->fd, head, strlen(head), MSG_NOSIGNAL);
        send(c->fd, a, strlen(a), MSG_NOSIGNAL);
        free(a);
        if (asked_close || (k->close_after > 0 && n + 1 >= k->close_after))
            break;
    }
    free(buf);
    close(c->fd);
    free(c);
    return NULL;
}

/* Accepts connections, each served by a thread of its own (a client thread keeps one). */
static void *keeper_main(void *arg)
{
    keeper_t *k = arg;
    pthread_t th[CONNS_MAX];
    int n = 0;
    while (!k->stop) {
        struct pollfd p = {.fd = k->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(k->lfd, NULL, NULL);
        conn_t *c = fd >= 0 && n < CONNS_MAX ? malloc(sizeof(*c)) : NULL;
        if (c == NULL) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        *c = (conn_t){.k = k, .fd = fd};
        __atomic_add_fetch(&k->conns, 1, __ATOMIC_RELAXED);
        pthread_create(&th[n++], NULL, conn_main, c);
    }
    while (n > 0)
        pthread_join(th[--n], NULL);
    return NULL;
}

/* Starts k with opt's close_after, delay_ms, refuse_groups, hang_up and gate. */
static void keeper_start(keeper_t *k, const keeper_t *opt)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    *k = (keeper_t){
        .close_after = opt->close_after, .delay_ms = opt->delay_ms, .refuse_groups = opt->refuse_groups, .hang_up = opt->hang_up};
    k->gate = atomic_load(&opt->gate);
    k->lfd = socket(AF_INET, SOCK_STREAM, 0);
    bind(k->lfd, (struct sockaddr *)&a, sizeof a);
    listen(k->lfd, 64);
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

/* A client of k. */
static etcd_t *client_of(const keeper_t *k)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", k->port);
    return etcd_new(url, err, sizeof err);
}

/* n transactions on a client of k, each of which must succeed. */
static void transactions(keeper_t *k, int n)
{
    char err[256];
    etcd_t *e = client_of(k);
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
    keeper_start(&k, &(keeper_t){0});
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
    keeper_start(&k, &(keeper_t){.close_after = 2}); /* the server closes each connection after two answers: the third goes anew */
    pthread_t t;
    pthread_create(&t, NULL, transactions_main, &k);
    pthread_join(t, NULL);
    EXPECT_INT(k.reqs, 3);
    EXPECT_INT(k.conns, 2);
    keeper_stop(&k);
}

/* ---- transactions of several threads, sent together ---- */

#define THREADS 16
#define EACH    5

typedef struct {
    etcd_t *e;
    int id, same_key, each, timeout_ms;
    int right, failed, wrong; /* answers as the gateway gives them; -1 with a reason; anything else */
    char err[256];
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    char key[32];
    for (int i = 0; i < w->each; i++) {
        snprintf(key, sizeof key, w->same_key ? "k" : "k/%d/%d", w->id, i);
        etcd_op_t put = {.kind = ETCD_OP_PUT, .key = key, .value = "v"};
        etcd_txn_result_t r;
        w->err[0] = '\0';
        int rc = etcd_txn(w->e, NULL, 0, &put, 1, NULL, 0, w->timeout_ms, &r, w->err, sizeof w->err);
        int even = w->same_key || i % 2 == 0; /* what the gateway answers: see outcome() */
        if (rc == 0 && r.revision == 7 && r.succeeded == even && r.n == 1)
            w->right++;
        else if (rc == -1 && w->err[0] != '\0' && r.n == 0)
            w->failed++;
        else
            w->wrong++;
        etcd_txn_result_free(&r);
    }
    return NULL;
}

/* THREADS threads of one client, each running EACH transactions; their tallies summed in *sum. */
static void writers(keeper_t *k, int same_key, writer_t *sum)
{
    etcd_t *e = client_of(k);
    writer_t w[THREADS];
    pthread_t th[THREADS];
    *sum = (writer_t){0};
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer_t){.e = e, .id = i, .same_key = same_key, .each = EACH, .timeout_ms = 5000};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        sum->right += w[i].right, sum->failed += w[i].failed, sum->wrong += w[i].wrong;
    }
    etcd_free(e);
}

static void test_grouped(void)
{
    keeper_t k;
    writer_t sum;
    keeper_start(&k, &(keeper_t){.delay_ms = 20});
    writers(&k, 0, &sum);
    EXPECT_INT(sum.right, THREADS * EACH); /* each its own outcome, succeeded or not */
    EXPECT_INT(k.txns, THREADS * EACH);
    EXPECT(k.grouped > 0);           /* threads that queued behind a request went together */
    EXPECT(k.reqs < THREADS * EACH); /* fewer requests than transactions */
    EXPECT_INT(k.clashes, 0);
    keeper_stop(&k);
}

static void test_grouped_never_clash(void)
{
    keeper_t k;
    writer_t sum;
    keeper_start(&k, &(keeper_t){.delay_ms = 5});
    writers(&k, 1, &sum); /* one key: each transaction in a request of its own */
    EXPECT_INT(sum.right, THREADS * EACH);
    EXPECT_INT(k.reqs, THREADS * EACH);
    EXPECT_INT(k.grouped, 0);
    EXPECT_INT(k.clashes, 0);
    keeper_stop(&k);
}

static void test_group_refused(void)
{
    keeper_t k;
    writer_t sum;
    keeper_start(&k, &(keeper_t){.delay_ms = 20, .refuse_groups = 1});
    writers(&k, 0, &sum); /* a refused request of several: each is sent again on its own */
    EXPECT_INT(sum.right, THREADS * EACH);
    EXPECT_INT(k.txns, THREADS * EACH);
    EXPECT(k.grouped > 0);
    keeper_stop(&k);
}

static void test_group_failure_reaches_all(void)
{
    keeper_t k;
    writer_t sum;
    keeper_start(&k, &(keeper_t){.delay_ms = 50, .hang_up = 1}); /* each request waits, then its connection closes unanswered */
    writers(&k, 0, &sum);
    EXPECT_INT(sum.failed, THREADS * EACH); /* every thread, leader or not: -1 and why */
    EXPECT_INT(sum.right + sum.wrong, 0);
    keeper_stop(&k);
}

static void *slow_main(void *arg)
{
    writer_main(arg);
    return NULL;
}

static void test_queued_deadline(void)
{
    keeper_t k;
    keeper_start(&k, &(keeper_t){.delay_ms = 2000});
    etcd_t *e = client_of(&k);
    writer_t first = {.e = e, .id = 0, .each = 1, .timeout_ms = 5000}, queued = {.e = e, .id = 1, .each = 1, .timeout_ms = 300};
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &first);
    while (__atomic_load_n(&k.reqs, __ATOMIC_RELAXED) == 0)
        poll(NULL, 0, 5);
    int64_t at = etcd_clock_ms();
    writer_main(&queued); /* behind a request that takes 2 s: gives up at its own deadline */
    int64_t waited = etcd_clock_ms() - at;
    EXPECT_INT(queued.failed, 1);
    EXPECT(strstr(queued.err, "not sent") != NULL);
    EXPECT(waited >= 250 && waited < 1500);
    pthread_join(th, NULL);
    EXPECT_INT(first.right, 1);
    EXPECT_INT(k.txns, 1); /* the one that gave up never went */
    etcd_free(e);
    keeper_stop(&k);
}

/* ---- started without waiting ---- */

#define STARTED 40

typedef struct {
    pthread_t caller;
    atomic_int done, right, elsewhere; /* answers; as the gateway gives them; on another thread */
} tally_t;

typedef struct {
    tally_t *t;
    int i;
    char key[16];
    etcd_op_t put;
} started_t;

static void counted(void *ctx, int rc, etcd_txn_result_t *r, const char *err)
{
    started_t *s = ctx;
    (void)err;
    if (rc == 0 && r->revision == 7 && r->succeeded == (s->i % 2 == 0) && r->n == 1) /* outcome(): odd keys fail */
        atomic_fetch_add(&s->t->right, 1);
    if (!pthread_equal(pthread_self(), s->t->caller))
        atomic_fetch_add(&s->t->elsewhere, 1);
    atomic_fetch_add(&s->t->done, 1);
}

/* Starts puts of keys "<tag>/<i>" for i in [from, to) of s (i odd: outcome() fails it) on a
 * client of k, counted in *t; returns how many were refused, each of which must say why. */
static int start_puts(etcd_t *e, started_t *s, int from, int to, tally_t *t, const char *tag)
{
    char err[256];
    int refused = 0;
    for (int i = from; i < to; i++) {
        s[i] = (started_t){.t = t, .i = i};
        snprintf(s[i].key, sizeof s[i].key, "%s/%d", tag, i);
        s[i].put = (etcd_op_t){.kind = ETCD_OP_PUT, .key = s[i].key, .value = "v"};
        etcd_txn_t txn = {.ok = &s[i].put, .nok = 1};
        err[0] = '\0';
        if (etcd_txn_start(e, &txn, 5000, counted, &s[i], err, sizeof err) != 0) {
            refused++;
            EXPECT(strstr(err, "too many transactions waiting") != NULL);
        }
    }
    return refused;
}

static void test_started_without_waiting(void)
{
    keeper_t k;
    keeper_start(&k, &(keeper_t){.gate = 1}); /* answers nothing until the gate opens */
    etcd_t *e = client_of(&k);
    static started_t s[STARTED];
    tally_t t = {.caller = pthread_self()};
    EXPECT_INT(start_puts(e, s, 0, STARTED, &t, "s"), 0);
    EXPECT_INT(atomic_load(&t.done), 0); /* one thread started them all while etcd answered nothing */
    k.gate = 0;
    for (int i = 0; i < 500 && atomic_load(&t.done) < STARTED; i++)
        poll(NULL, 0, 10);
    EXPECT_INT(atomic_load(&t.done), STARTED);
    EXPECT_INT(atomic_load(&t.right), STARTED);
    EXPECT_INT(atomic_load(&t.elsewhere), STARTED); /* answered on the client's sender thread */
    EXPECT(k.grouped > 0 && k.reqs < STARTED);      /* those queued behind the first went together */
    EXPECT_INT(k.txns, STARTED);
    etcd_free(e);
    keeper_stop(&k);
}

static void test_free_answers_queued(void)
{
    keeper_t k;
    keeper_start(&k, &(keeper_t){.delay_ms = 50});
    etcd_t *e = client_of(&k);
    static started_t s[8];
    tally_t t = {.caller = pthread_self()};
    EXPECT_INT(start_puts(e, s, 0, 8, &t, "f"), 0);
    etcd_free(e); /* waits for the sender, which answers everything queued first */
    EXPECT_INT(atomic_load(&t.done), 8);
    EXPECT_INT(atomic_load(&t.right), 8);
    keeper_stop(&k);
}

static void test_queue_bounded(void)
{
    keeper_t k;
    keeper_start(&k, &(keeper_t){.gate = 1});
    etcd_t *e = client_of(&k);
    static started_t s[4096 + 2];
    tally_t t = {.caller = pthread_self()};
    EXPECT_INT(start_puts(e, s, 0, 1, &t, "q"), 0);
    while (__atomic_load_n(&k.reqs, __ATOMIC_RELAXED) == 0) /* the first is on its way */
        poll(NULL, 0, 5);
    EXPECT_INT(start_puts(e, s, 1, 4096 + 2, &t, "q"), 1); /* 4096 wait behind it; the next is refused */
    k.gate = 0;
    etcd_free(e);
    EXPECT_INT(atomic_load(&t.done), 4096 + 1);
    EXPECT_INT(atomic_load(&t.right), 4096 + 1);
    keeper_stop(&k);
}

int main(void)
{
    RUN(test_request);
    RUN(test_parse_succeeded);
    RUN(test_parse_failed);
    RUN(test_independent);
    RUN(test_group_request);
    RUN(test_parse_group);
    RUN(test_kept_connection);
    RUN(test_kept_connection_closed_by_server);
    RUN(test_grouped);
    RUN(test_grouped_never_clash);
    RUN(test_group_refused);
    RUN(test_group_failure_reaches_all);
    RUN(test_queued_deadline);
    RUN(test_started_without_waiting);
    RUN(test_free_answers_queued);
    RUN(test_queue_bounded);
    return TEST_END();
}
