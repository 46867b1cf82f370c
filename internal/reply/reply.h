/*
 * reply: the one way handlers answer. JSON bodies with a Content-Length, HEAD without a body,
 * errors as {"error": "...", "status": N}. Everything is allocated from the request's pool.
 */
#ifndef PORRIO_REPLY_H
#define PORRIO_REPLY_H
#include <h2o.h>
#include <jansson.h>

#define REPLY_JSON_TYPE "application/json; charset=utf-8"

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
/** Adds a response header by name (lowercase) with its display spelling, value copied to the pool. */
void reply_header(h2o_req_t *req, const char *lcname, const char *display, const char *value, size_t len);

#endif
