/* etcd_fuzz: what porrio decodes of etcd's v3 gateway's answers (internal/etcd): the chunked
 * framing of the watch stream, the stream of JSON messages inside it, the range, txn and header
 * answers, and base64.
 *
 * Input: byte 0 picks what the rest is; byte 1 is the seed of how a stream is split.
 *   0  a chunked watch body: de-chunked, then fed to the message parser, as the watch does
 *   1  the de-chunked stream itself (the messages without the framing)
 *   2  a /v3/kv/range answer, 3 a /v3/kv/txn answer, 4 any answer with a header (and its error)
 *   5  base64 text
 * Every input is copied into a buffer of its exact size, so ASan reports any read past the end.
 * Checked beyond "no crash":
 *   - the chunked decoder and the stream parser give the same bytes, events, fields and verdict
 *     whether the input comes in one piece or split anywhere (the network splits it anywhere),
 *     but for a broken last message, which a split stream may still be waiting to see end;
 *   - a delete has no value, and the stream's revision is the highest delivered;
 *   - a parsed range's or txn's keys are NUL-terminated strings with their revisions >= 0;
 *   - decoded base64 encodes back to the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"
#include "fuzz.h"

/* Splits [0, len) into pieces of 1..16 bytes drawn from seed (a small LCG): the same input
 * split in other places each run of the same seed. */
static size_t next_piece(uint32_t *seed, size_t left)
{
    *seed = *seed * 1103515245u + 12345u;
    size_t n = 1 + (*seed >> 16) % 16;
    return n < left ? n : left;
}

/* ---- chunked ---- */

typedef struct {
    char *out;
    size_t len;
    int failed, done;
} dechunked_t;

static dechunked_t dechunk(const char *in, size_t len, uint32_t seed, int whole)
{
    dechunked_t d = {malloc(len ? len : 1), 0, 0, 0};
    etcd_chunked_t c;
    CHECK(d.out != NULL);
    etcd_chunked_init(&c);
    for (size_t off = 0; off < len && !d.failed;) {
        size_t n = whole ? len : next_piece(&seed, len - off);
        /* each piece in its own buffer of its exact size: reads past it are caught */
        char *piece = fuzz_dup((const uint8_t *)in + off, n);
        ssize_t got = etcd_chunked_feed(&c, piece, n, d.out + d.len);
        free(piece);
        if (got < 0) {
            d.failed = 1;
            CHECK(etcd_chunked_feed(&c, "0\r\n\r\n", 5, d.out + d.len) < 0); /* failed for good */
        } else {
            CHECK((size_t)got <= n);
            d.len += (size_t)got;
        }
        off += n;
    }
    d.done = etcd_chunked_done(&c);
    return d;
}

/* ---- the stream of messages ---- */

/* What the parser handed out, as text to compare. */
typedef struct {
    char *log;
    size_t len, cap;
    int64_t max_rev;
} events_t;

static void on_event(void *ctx, const etcd_event_t *ev)
{
    events_t *e = ctx;
    CHECK(ev->key != NULL);
    CHECK(ev->deleted ? ev->value == NULL : ev->value != NULL);
    if (ev->mod_revision > e->max_rev)
        e->max_rev = ev->mod_revision;
    size_t need = strlen(ev->key) + (ev->value ? strlen(ev->value) : 0) + 64;
    if (e->len + need > e->cap) {
        e->cap = 2 * (e->len + need);
        CHECK((e->log = realloc(e->log, e->cap)) != NULL);
    }
    e->len += (size_t)snprintf(e->log + e->len, e->cap - e->len, "%d %s=%s %lld %lld\n", ev->deleted, ev->key,
                               ev->value ? ev->value : "", (long long)ev->create_revision, (long long)ev->mod_revision);
}

typedef struct {
    events_t ev;
    int rc;
    etcd_stream_t s;
} streamed_t;

static void stream(streamed_t *r, const char *in, size_t len, uint32_t seed, int whole)
{
    memset(r, 0, sizeof(*r));
    etcd_stream_init(&r->s, on_event, &r->ev);
    for (size_t off = 0; off < len && r->rc == 0;) {
        size_t n = whole ? len : next_piece(&seed, len - off);
        char *piece = fuzz_dup((const uint8_t *)in + off, n);
        r->rc = etcd_stream_feed(&r->s, piece, n);
        free(piece);
        off += n;
    }
    CHECK(r->s.revision == r->ev.max_rev);
    if (r->rc != 0)
        CHECK(etcd_stream_feed(&r->s, "{}", 2) != 0 && r->s.error[0] != '\0');
}

static void same_stream(const streamed_t *a, const streamed_t *b)
{
    /* The parser tries a message once a piece brings a '}': a broken last message, which no
     * '}' follows, may be refused at once in one piece but still be waited for when split. */
    if (a->rc != b->rc) {
        const streamed_t *ok = a->rc == 0 ? a : b;
        fprintf(stderr, "etcd_fuzz: in one piece: %d %s; split: %d %s\n", a->rc, a->s.error, b->rc, b->s.error);
        CHECK(ok->s.len > 0); /* a message is still waiting for its end */
    }
    CHECK(a->ev.len == b->ev.len && (a->ev.len == 0 || memcmp(a->ev.log, b->ev.log, a->ev.len) == 0));
    CHECK(a->s.messages == b->s.messages && a->s.created == b->s.created && a->s.canceled == b->s.canceled);
    CHECK(a->s.failed == b->s.failed && a->s.compact_revision == b->s.compact_revision);
    CHECK(a->s.revision == b->s.revision && a->s.header_revision == b->s.header_revision);
}

static void stream_both_ways(const char *in, size_t len, uint32_t seed)
{
    streamed_t whole, split;
    stream(&whole, in, len, seed, 1);
    stream(&split, in, len, seed, 0);
    same_stream(&whole, &split);
    free(whole.ev.log);
    free(split.ev.log);
    etcd_stream_free(&whole.s);
    etcd_stream_free(&split.s);
}

static void watch_body(const char *in, size_t len, uint32_t seed)
{
    dechunked_t whole = dechunk(in, len, seed, 1), split = dechunk(in, len, seed, 0);
    CHECK(whole.failed == split.failed && whole.done == split.done);
    /* bytes decoded before a failure may differ by where the piece ended; up to it they agree */
    if (!whole.failed)
        CHECK(whole.len == split.len && memcmp(whole.out, split.out, whole.len) == 0);
    else
        CHECK(memcmp(whole.out, split.out, whole.len < split.len ? whole.len : split.len) == 0);
    if (!whole.failed)
        stream_both_ways(whole.out, whole.len, seed);
    free(whole.out);
    free(split.out);
}

/* ---- answers ---- */

static void check_kvs(const etcd_kv_t *kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(kvs[i].key != NULL && kvs[i].value != NULL);
        (void)strlen(kvs[i].key), (void)strlen(kvs[i].value);
        CHECK(kvs[i].create_revision >= 0 && kvs[i].mod_revision >= 0);
    }
}

static void answers(int kind, const char *in, size_t len)
{
    char err[256] = "";
    int64_t rev = -1;
    if (kind == 2) {
        etcd_kv_t *kvs = NULL;
        size_t n = 0;
        if (etcd_parse_range(in, len, &kvs, &n, &rev, err, sizeof(err)) == 0)
            check_kvs(kvs, n);
        else
            CHECK(err[0] != '\0');
        etcd_kvs_free(kvs, n);
    } else if (kind == 3) {
        etcd_txn_result_t r = {0};
        if (etcd_parse_txn(in, len, &r, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < r.n; i++)
                check_kvs(r.ops[i].kvs, r.ops[i].kvs != NULL ? r.ops[i].n : 0);
        } else {
            CHECK(err[0] != '\0' && r.n == 0);
        }
        etcd_txn_result_free(&r);
        etcd_txn_result_free(&r);
    } else {
        char why[64];
        if (etcd_parse_header(in, len, &rev, err, sizeof(err)) != 0)
            CHECK(err[0] != '\0');
        etcd_answer_error(in, len, why, sizeof(why));
        CHECK(strlen(why) < sizeof(why));
    }
}

static void base64(const char *in, size_t len)
{
    size_t n;
    char *dec = etcd_base64_decode(in, len, &n);
    if (dec == NULL)
        return;
    CHECK(dec[n] == '\0');
    char *enc = etcd_base64_encode(dec, n);
    CHECK(enc != NULL && strlen(enc) == len && memcmp(enc, in, len) == 0);
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int kind = data[0] % 6;
    uint32_t seed = data[1];
    size_t len = size - 2;
    char *in = fuzz_dup(data + 2, len);
    if (kind == 0)
        watch_body(in, len, seed);
    else if (kind == 1)
        stream_both_ways(in, len, seed);
    else if (kind == 5)
        base64(in, len);
    else
        answers(kind, in, len);
    free(in);
    return 0;
}
