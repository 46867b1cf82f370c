/*
 * reply: the one way handlers answer. JSON bodies with a Content-Length, HEAD without a body,
 * errors as {"error": "...", "status": N}. Everything is allocated from the request's pool.
 */
#ifndef PORRIO_REPLY_H
#define PORRIO_REPLY_H
#include <h2o.h>
#include <jansson.h>

#define REPLY_JSON_TYPE "application/json; charset=utf-8"

/* Encodings (README, HTTP conventions): a 200 answer longer than REPLY_GZIP_MIN bytes carries
 * Vary: Accept-Encoding, and is gzip-compressed when the request's Accept-Encoding names gzip
 * with a non-zero weight; its ETag then ends with REPLY_GZIP_SUFFIX inside the quotes, so that
 * the two representations never share a strong tag. The compression itself is done by the
 * middleware's filter, for the answers marked H2O_COMPRESS_HINT_ENABLE here. */
#define REPLY_GZIP_MIN    1024
#define REPLY_GZIP_SUFFIX "-gzip"

/** The reason phrase for an HTTP status ("Not Found"); "Unknown" for codes it does not know. */
const char *reply_reason(int status);
/** Non-zero for a HEAD request. */
int reply_is_head(h2o_req_t *req);
/**
 * Sends `len` bytes without copying them: they must stay valid until the request is disposed.
 * type NULL: no Content-Type. HEAD gets the headers alone; a 204 gets no Content-Length.
 */
void reply_bytes_nocopy(h2o_req_t *req, int status, const char *type, const char *body, size_t len);
/**
 * Fills out[0..max) with the next pieces of an answer; returns how many. Fewer than max means
 * these are the last ones.
 */
typedef size_t (*reply_next_t)(void *ctx, h2o_iovec_t *out, size_t max);

/**
 * Sends an answer of `len` bytes (a Content-Length) made of the pieces `next` gives, a batch at
 * a time as the client takes them, without copying them: they must stay valid until the request
 * is disposed. HEAD gets the headers alone.
 */
void reply_stream(h2o_req_t *req, int status, const char *type, size_t len, reply_next_t next, void *ctx);

/** As reply_bytes_nocopy, with the bytes copied to the pool first. */
void reply_bytes(h2o_req_t *req, int status, const char *type, const char *body, size_t len);
/** Sends `body` serialized compactly; takes the caller's reference to `body`. NULL gives a 500. */
void reply_json(h2o_req_t *req, int status, json_t *body);
/** Sends {"error": <message>, "status": status}; the message is printf-formatted. */
void reply_error(h2o_req_t *req, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/**
 * Writes the error body for `status` and `message` into the pool and returns it (used for h2o's
 * own errors too). A message cut inside a UTF-8 sequence loses the broken tail; one that is not
 * UTF-8 is replaced by the reason phrase. Cannot fail.
 */
h2o_iovec_t reply_error_body(h2o_mem_pool_t *pool, int status, const char *message);
/**
 * Gives the answer about to be sent the entity tag `tag` (its opaque part: no quotes, no W/),
 * strong. The reply_* senders add REPLY_GZIP_SUFFIX when they compress.
 */
void reply_etag(h2o_req_t *req, const char *tag);
/**
 * For GET and HEAD: when an If-None-Match of the request lists `tag` (as a 200 of `len` bytes
 * would carry it, encoding suffix included; weak comparison) or is "*", sends 304 with that ETag
 * and no body, and returns 1. Otherwise 0, nothing sent.
 */
int reply_not_modified(h2o_req_t *req, const char *tag, size_t len);
/**
 * Calls `each` with every entity tag listed in the request's `name` headers (H2O_TOKEN_IF_MATCH,
 * H2O_TOKEN_IF_NONE_MATCH): its opaque part (no quotes) and whether it is weak; "*" comes as
 * itself, not weak. Malformed elements are skipped. Returns how many such headers there are
 * (0: the condition is absent).
 */
size_t reply_each_tag(h2o_req_t *req, const h2o_token_t *name, void (*each)(void *ctx, const char *tag, size_t len, int weak),
                      void *ctx);
/** Adds `name` (a static string) to the answer's Vary header, once. */
void reply_vary(h2o_req_t *req, const char *name);
/** Adds a response header by name (lowercase) with its display spelling, value copied to the pool. */
void reply_header(h2o_req_t *req, const char *lcname, const char *display, const char *value, size_t len);

#endif
