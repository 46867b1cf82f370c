/* etcd: a client of etcd's v3 HTTP/JSON gateway (POST /v3/kv/range, /v3/kv/put,
 * /v3/kv/deleterange, /v3/watch) over plain HTTP/1.1 sockets, with every call bounded by a
 * deadline and a watch loop that survives etcd restarts.
 *
 * Nothing here logs, prints or keeps global state. An etcd_t is read-only after etcd_new but for
 * an atomic hint of the endpoint that answered last, so several threads may use one at once
 * (each call opens its own connection), and the calls begin with the endpoint that worked. Errors come back as
 * text in `char *err, size_t errlen` (err may be NULL). Keys and values travel as base64; the
 * decoded bytes are handed out NUL-terminated, so a value holding a NUL byte reads as cut short.
 *
 * The pieces below the calls (base64, request bodies, answer parsers, the chunked decoder, the
 * watch stream parser and the HTTP transport) are public so they can be tested on their own. */
#ifndef PORRIO_ETCD_H
#define PORRIO_ETCD_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- client ---- */

typedef struct etcd etcd_t;

/* Parses an ETCD_ENDPOINTS list: comma-separated http://host:port entries, host a name, an
 * IPv4 literal or a bracketed IPv6 literal. Names are resolved at each connection, so a name
 * that does not resolve yet is no error here. Returns a client to free with etcd_free; NULL with
 * err when the list is empty, an entry is malformed, or memory runs out. */
etcd_t *etcd_new(const char *endpoints, char *err, size_t errlen);

/* Frees e (NULL is fine). No call may be running on it. */
void etcd_free(etcd_t *e);

/* Number of endpoints of e (at least 1). */
size_t etcd_endpoint_count(const etcd_t *e);

/* The endpoint the calls try first: the last one that answered (0 at first). Any thread. */
size_t etcd_endpoint_preferred(const etcd_t *e);
void etcd_endpoint_prefer(etcd_t *e, size_t i);

/* "http://" and the authority (host:port, an IPv6 host in brackets) of endpoint i, for messages
 * and the Host header; owned by e. NULL when i is out of range. */
const char *etcd_endpoint_name(const etcd_t *e, size_t i);

/* One key and its value, both malloc'd and NUL-terminated (an empty value is ""). */
typedef struct {
    char *key, *value;
    int64_t create_revision, mod_revision;
} etcd_kv_t;

/* Frees the n entries of kvs and the array itself (NULL is fine). */
void etcd_kvs_free(etcd_kv_t *kvs, size_t n);

/* Reads every key that starts with prefix ("" means every key), in key order; with below not
 * NULL, only those sorting before prefix + below (the settings, before the state's "data/"). The endpoints are
 * tried in order until one answers, all within one deadline of timeout_ms from the call; each
 * try gets an equal share of the time still left, so a silent endpoint cannot starve the others.
 * On success: 0, *kvs a malloc'd array of *n entries to free with etcd_kvs_free (NULL and 0 when
 * nothing matches), *revision the store's revision at read time (a watch resumes from it + 1).
 * On failure: -1 with err naming each endpoint tried and why it failed; *kvs NULL, *n 0. */
int etcd_range(etcd_t *e, const char *prefix, const char *below, int timeout_ms, etcd_kv_t **kvs, size_t *n, int64_t *revision,
               char *err, size_t errlen);

/* Reads one key, with etcd_range's endpoint and deadline rules. 0 with *value a malloc'd copy of
 * the value, or *value NULL when the key does not exist; -1 with err (and *value NULL). */
int etcd_get(etcd_t *e, const char *key, int timeout_ms, char **value, char *err, size_t errlen);

/* Writes key = value (a non-empty key; value may be ""), with etcd_range's endpoint and
 * deadline rules. 0, or -1 with err. A timeout does not prove the write did not happen. */
int etcd_put(etcd_t *e, const char *key, const char *value, int timeout_ms, char *err, size_t errlen);

/* Deletes key (POST /v3/kv/deleterange); deleting a key that does not exist succeeds. Same
 * rules and results as etcd_put. */
int etcd_delete(etcd_t *e, const char *key, int timeout_ms, char *err, size_t errlen);

/* ---- transactions (POST /v3/kv/txn) ---- */

typedef enum { ETCD_CMP_CREATE, ETCD_CMP_MOD } etcd_cmp_target_t;
typedef enum { ETCD_CMP_EQUAL, ETCD_CMP_LESS, ETCD_CMP_GREATER } etcd_cmp_result_t;

/* One compare: the key's create_revision or mod_revision (0 for a missing key) against
 * revision. With prefix, every key under key must pass (an empty range compares as one missing
 * key). */
typedef struct {
    const char *key;
    int prefix;
    etcd_cmp_target_t target;
    etcd_cmp_result_t result;
    int64_t revision;
} etcd_cmp_t;

typedef enum { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_RANGE } etcd_op_kind_t;

/* One operation of a branch. */
typedef struct {
    etcd_op_kind_t kind;
    const char *key;
    const char *value; /* PUT: the value ("" when NULL) */
    int prefix;        /* DELETE, RANGE: every key under key */
    int prev_kv;       /* PUT: hand back the key's previous value, if it had one */
    int newest;        /* RANGE: only the key with the highest mod_revision */
} etcd_op_t;

/* What one operation of the branch that ran handed back: RANGE its keys, PUT with prev_kv the
 * previous key (n 0 when it is new), DELETE the number deleted in n with kvs NULL. */
typedef struct {
    etcd_kv_t *kvs;
    size_t n;
} etcd_op_result_t;

typedef struct {
    int succeeded;    /* every compare held: the success branch ran */
    int64_t revision; /* the store's revision after the transaction */
    size_t n;         /* results, one per operation of the branch that ran */
    etcd_op_result_t *ops;
} etcd_txn_result_t;

/* The /v3/kv/txn body: malloc'd JSON, NULL when out of memory. */
char *etcd_txn_request(const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail);

/* Parses a /v3/kv/txn answer into *r (free with etcd_txn_result_free). 0; -1 with err when it is
 * not such an answer. */
int etcd_parse_txn(const char *body, size_t len, etcd_txn_result_t *r, char *err, size_t errlen);

/* Frees what *r holds and empties it; harmless twice. */
void etcd_txn_result_free(etcd_txn_result_t *r);

/* One transaction: compares, the operations when they all hold, the operations otherwise. */
typedef struct {
    const etcd_cmp_t *cmp;
    size_t ncmp;
    const etcd_op_t *ok;
    size_t nok;
    const etcd_op_t *fail;
    size_t nfail;
} etcd_txn_t;

/* 1 when neither of a and b writes (in either branch) a key the other compares, reads or writes:
 * run together they see and do what each would alone, in either order. 0 otherwise. */
int etcd_txn_independent(const etcd_txn_t *a, const etcd_txn_t *b);

/* The /v3/kv/txn body that runs the n transactions t[] at once, each nested with its own compares
 * (they should be independent: etcd refuses two writes of one key): malloc'd JSON, NULL when out
 * of memory. */
char *etcd_txn_group_request(const etcd_txn_t *t, size_t n);

/* Parses the answer to etcd_txn_group_request of n transactions into r[0..n-1], each with the
 * group's revision (free each with etcd_txn_result_free). 0; -1 with err and every r[] empty when
 * it is not such an answer. */
int etcd_parse_txn_group(const char *body, size_t len, etcd_txn_result_t *r, size_t n, char *err, size_t errlen);

/* How a transaction started with etcd_txn_start ends: rc 0 with *r filled whether or not the
 * compares held (r->succeeded says); -1 with err (*r empty) when no endpoint answered with a
 * transaction's answer. Called on the client's sender thread; *r is freed when it returns, so a
 * callee that keeps it moves it out (and empties it). The callee may start more transactions. */
typedef void (*etcd_txn_cb)(void *ctx, int rc, etcd_txn_result_t *r, const char *err);

/* Queues t and returns at once; the client's sender thread (started with the first) sends it,
 * with etcd_range's endpoint and deadline rules, and calls cb(ctx, ...) once etcd answered or
 * timeout_ms passed. t's arrays and strings must stay valid until then. After a timeout the
 * transaction may or may not have been applied; one still queued when its time is up is not
 * sent. Transactions queued while a request is on its way are sent together, up to a bound, when
 * they are independent (etcd_txn_independent): one request, one revision. 0; -1 with err, and cb
 * never called, when out of memory, the thread cannot start, etcd_free has begun, or 4096 wait
 * already (etcd is slower than the writes: refusing more at once bounds the memory and the wait). */
int etcd_txn_start(etcd_t *e, const etcd_txn_t *t, int timeout_ms, etcd_txn_cb cb, void *ctx, char *err, size_t errlen);

/* etcd_txn_start, waiting for the outcome: 0 with *r filled (free with etcd_txn_result_free);
 * -1 with err (*r empty). */
int etcd_txn(etcd_t *e, const etcd_cmp_t *cmp, size_t ncmp, const etcd_op_t *ok, size_t nok, const etcd_op_t *fail, size_t nfail,
             int timeout_ms, etcd_txn_result_t *r, char *err, size_t errlen);

/* ---- watch ---- */

/* One change. key and value are valid only during the callback; value is NULL when deleted. */
typedef struct {
    int deleted;
    const char *key, *value;
    int64_t create_revision, mod_revision; /* create_revision is 0 for a delete */
} etcd_event_t;

/* Callbacks of etcd_watch_run, all called on the thread running it; any may be NULL. */
typedef struct {
    /* Each change, in revision order and, within one revision, in key order. */
    void (*on_event)(void *ctx, const etcd_event_t *ev);
    /* State changes, for logs: connected = 1 with a description once a watch is established;
     * 0 with the reason when it is lost, or when the first attempt fails. Further failures
     * while disconnected are not reported again. */
    void (*on_state)(void *ctx, int connected, const char *msg);
    /* The full state under the prefix at revision: after a start without a revision, and after
     * the watched revision was compacted away (changes may have been missed: the receiver
     * replaces what it knows, treating keys it had and kvs lacks as deleted). kvs is valid only
     * during the callback. */
    void (*on_resync)(void *ctx, const etcd_kv_t *kvs, size_t n, int64_t revision);
    /* After the events of every message read so far were delivered: events_revision is the
     * highest mod_revision delivered (every event of that revision included: etcd never splits
     * one over messages), header_revision the highest store revision etcd reported. */
    void (*on_progress)(void *ctx, int64_t events_revision, int64_t header_revision);
    /* Every time the loop looks at *stop: at least every ETCD_SLICE_MS while it watches or
     * pauses, though not while it reads the prefix or connects (up to 3 s each). For timers. */
    void (*on_tick)(void *ctx);
    void *ctx;
} etcd_watch_cb_t;

/* Follows every key under prefix (only those before prefix + below when below is not NULL) until *stop becomes non-zero (checked at
 * least every 200 ms; an atomic, because another thread sets it while this one reads it), then returns 0. With start_revision 0 it
 * first reads the prefix (on_resync) and watches from the revision after that read; otherwise it watches from start_revision. On
 * any failure (connect, reset, end of stream, an error or cancel from etcd) it retries on the next endpoint after a pause of 100 ms
 * that doubles up to 5 s and returns to 100 ms once a watch is established, resuming from the last mod_revision delivered + 1 so no
 * change is missed or repeated; after a compaction it reads the prefix again (on_resync) and goes on from there. A silent peer is
 * detected by TCP keepalive. Returns -1 only for invalid arguments. */
int etcd_watch_run(etcd_t *e, const char *prefix, const char *below, int64_t start_revision, const etcd_watch_cb_t *cb,
                   atomic_int *stop);

/* ---- base64 (standard alphabet, with padding) ---- */

/* len bytes of data as base64: a malloc'd NUL-terminated string; NULL if out of memory. */
char *etcd_base64_encode(const void *data, size_t len);

/* Decodes len characters of base64 (a multiple of 4, padding only at the end, no whitespace,
 * unused bits zero). Returns the malloc'd bytes followed by a NUL, their count in *outlen
 * (unless outlen is NULL); NULL for invalid input or when out of memory. */
char *etcd_base64_decode(const char *in, size_t len, size_t *outlen);

/* ---- request bodies and answers (JSON text; the strings are malloc'd, NULL if out of memory) ---- */

/* The /v3/kv/range body for every key under prefix: {"key", "range_end"} with range_end the
 * prefix with its last byte + 1 (trailing 0xff bytes dropped first), or prefix + below when below
 * is not NULL; for "" (or a prefix of only
 * 0xff bytes) the key "\0" and range_end "\0", meaning every key from there on. */
char *etcd_range_request(const char *prefix, const char *below);

/* The /v3/watch body for every key under prefix (same key range as etcd_range_request) from
 * start_revision (left out when <= 0: changes from now on). */
char *etcd_watch_request(const char *prefix, const char *below, int64_t start_revision);

/* Parses a /v3/kv/range answer: as etcd_range's results (an answer without "kvs" is an empty
 * range). 0; -1 with err when it is not such an answer (not JSON, no header, bad base64). */
int etcd_parse_range(const char *body, size_t len, etcd_kv_t **kvs, size_t *n, int64_t *revision, char *err, size_t errlen);

/* Parses any answer that carries a header (put, deleterange): *revision (when revision is not
 * NULL) from header.revision. 0; -1 with err when it is not such an answer. */
int etcd_parse_header(const char *body, size_t len, int64_t *revision, char *err, size_t errlen);

/* ---- chunked transfer coding (RFC 9112 §7.1), decoded incrementally ---- */

/* Decoder state; fields are private. Zeroed or etcd_chunked_init'ed before the first feed. */
typedef struct {
    int state;
    int digits;
    uint64_t left;
} etcd_chunked_t;

/* Readies c for a new body. Cannot fail. */
void etcd_chunked_init(etcd_chunked_t *c);

/* Decodes the next len bytes of a chunked body, split anywhere, writing the payload to out,
 * which has room for len bytes and may be in itself. Chunk extensions and trailers are skipped;
 * bytes after the last chunk are ignored. Returns the payload bytes written (possibly 0); -1
 * when the framing is malformed, after which every feed fails. */
ssize_t etcd_chunked_feed(etcd_chunked_t *c, const char *in, size_t len, char *out);

/* 1 once the last (zero-size) chunk and the trailer section have been decoded, else 0. */
int etcd_chunked_done(const etcd_chunked_t *c);

/* ---- the watch stream: JSON messages, split anywhere ---- */

/* Parser state. The caller reads the public fields after each feed; the rest is private. */
typedef struct {
    void (*on_event)(void *ctx, const etcd_event_t *ev);
    void *ctx;
    size_t messages;          /* complete messages handled */
    int created;              /* a message with result.created arrived */
    int canceled;             /* etcd canceled the watch: the stream will carry no more events */
    int failed;               /* an {"error": ...} message arrived; its text is in error */
    int64_t compact_revision; /* > 0: the watch was canceled because that revision is compacted */
    int64_t revision;         /* highest mod_revision delivered so far, 0 before any */
    int64_t header_revision;  /* highest result.header.revision seen */
    char error[256];          /* why feed failed, etcd's error, or the cancel reason */
    char *buf;
    size_t len, cap;
    size_t scanned, start; /* bytes of buf looked at; where the message being read starts */
    int depth, in_string, escaped;
    int broken;
} etcd_stream_t;

/* Prepares s; on_event (may be NULL) gets every event of every message, in revision order and,
 * within one revision, in key order (a range's order). */
void etcd_stream_init(etcd_stream_t *s, void (*on_event)(void *ctx, const etcd_event_t *ev), void *ctx);

/* Takes the next len bytes of the decoded stream. Each message completed by them is handled at
 * once: its events go to on_event (all of a message's events are checked before the first is
 * delivered) and the public fields are updated. Whitespace between messages is skipped; a
 * message without "result" or "error" is ignored. 0; -1 with s->error when the stream is not a
 * sequence of JSON objects, an event is malformed, a message exceeds 16 MiB, or memory runs out,
 * after which every feed fails. */
int etcd_stream_feed(etcd_stream_t *s, const void *data, size_t len);

/* Frees s's buffer; s may be etcd_stream_init'ed again. */
void etcd_stream_free(etcd_stream_t *s);

/* ---- HTTP/1.1 transport to one endpoint ---- */

/* How often, at least, a wait looks at its cancel or stop flag. */
#define ETCD_SLICE_MS 200

/* Milliseconds of CLOCK_MONOTONIC: the clock of every deadline below. */
int64_t etcd_clock_ms(void);

/* 1 when cancel is not NULL and *cancel is non-zero, else 0. Every cancel flag below is an
 * atomic_int: it is set by another thread than the one that reads it. */
int etcd_canceled(const atomic_int *cancel);

/* Waits until fd is ready for events (poll's POLLIN, POLLOUT...), checking cancel (NULL for
 * none) at least every 200 ms. 1 when fd is ready (or has an error for the next call to
 * report), 0 when deadline passed, -2 when canceled, -1 on a poll error (errno set). */
int etcd_wait_fd(int fd, short events, int64_t deadline, const atomic_int *cancel);

/* The module's way to fail with a message: formats fmt and its arguments into err (cut to
 * errlen bytes, NUL-terminated) as snprintf would; does nothing when err is NULL or errlen 0. */
void etcd_seterr(char *err, size_t errlen, const char *fmt, ...);

/* etcd_http_read's result when the deadline passed, or *cancel became non-zero, before data. */
#define ETCD_HTTP_AGAIN (-2)

/* A connected non-blocking TCP socket to endpoint i: its name resolved (in a helper thread, so
 * a slow DNS cannot outlast the deadline), then each of its addresses tried in order, all before
 * deadline; TCP keepalive is on. cancel as in etcd_http_open. The fd, which the caller closes,
 * or -1 with err. */
int etcd_connect(const etcd_t *e, size_t i, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen);

/* One POST exchange; fields are private except status. */
typedef struct {
    int fd;
    int status;  /* the answer's status code */
    int chunked; /* the body is in chunked transfer coding */
    int closes;  /* the answer said Connection: close */
    int done;
    int64_t left; /* body bytes still due by Content-Length; -1 when it runs to EOF or chunks */
    etcd_chunked_t dec;
    size_t off, len;
    char buf[16384];
} etcd_http_t;

/* Connects to endpoint i (resolving its name), sends POST path with the JSON body and
 * "Connection: close", and reads the answer's status line and headers, all before deadline.
 * cancel (NULL for none) is checked at least every 200 ms, and a non-zero value fails the call.
 * 0 with h ready for etcd_http_read whatever the status; -1 with err (the reason, without the
 * endpoint's name), h closed. */
int etcd_http_open(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                   etcd_http_t *h, char *err, size_t errlen);

/* Reads the next body bytes of h (de-chunked) into out, waiting until deadline at most.
 * Returns the count (> 0); 0 at the end of the body; ETCD_HTTP_AGAIN when the deadline passed
 * or *cancel became non-zero first (h stays usable); -1 with err on a connection error, a
 * connection closed before the body's end, or malformed chunks. */
ssize_t etcd_http_read(etcd_http_t *h, char *out, size_t cap, int64_t deadline, const atomic_int *cancel, char *err, size_t errlen);

/* Closes h's connection (harmless twice). */
void etcd_http_close(etcd_http_t *h);

/* etcd's reason in the body of an error answer: its "message" (or "error") member, else the body
 * itself on one printable line; cut to fit cap (> 0) bytes, NUL included; "" for an empty body. */
void etcd_answer_error(const char *body, size_t len, char *out, size_t cap);

/* One whole exchange with endpoint i: etcd_http_open, then the body (at most 64 MiB) until
 * deadline. 0 for a 2xx answer, *resp its malloc'd NUL-terminated body and *resp_len its length;
 * -1 with err otherwise, a non-2xx answer giving "HTTP <status>: <etcd's message>". */
int etcd_http_post(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                   char **resp, size_t *resp_len, char *err, size_t errlen);

/* etcd_http_post on a connection the calling thread keeps open between its calls to the same
 * endpoint (made anew when the endpoint changes, or once when the server closed it while idle),
 * for long-lived threads that call often: etcd's gateway halves its throughput when every call
 * opens a connection. The connection lives as long as the thread. */
int etcd_http_post_kept(const etcd_t *e, size_t i, const char *path, const char *body, int64_t deadline, const atomic_int *cancel,
                        char **resp, size_t *resp_len, char *err, size_t errlen);

#endif
