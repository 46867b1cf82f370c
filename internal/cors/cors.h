/*
 * cors: which web origins may read porrio's answers from a browser (CORS_ORIGINS; README, HTTP
 * conventions). A list of exact origins ("https://a.example,http://localhost:8080") or "*" for
 * any; empty: none, and no CORS headers at all. Knows nothing of HTTP libraries: the middleware
 * writes the headers.
 */
#ifndef PORRIO_CORS_H
#define PORRIO_CORS_H
#include <stddef.h>

/* What a preflight allows beyond the path's methods, and how long a browser may keep it. */
#define CORS_ALLOW_HEADERS  "Content-Type, Authorization, If-Match, If-None-Match, X-Request-Id"
#define CORS_EXPOSE_HEADERS "ETag, Location, Link, X-Request-Id"
#define CORS_MAX_AGE_S      "600"

typedef struct cors cors_t;

/** A holder of the list in force, starting with `origins` (copied). NULL on OOM. */
cors_t *cors_new(const char *origins);

/**
 * Replaces the list (a live change from etcd); requests that already asked keep their answer.
 * Thread-safe. 0; -1 on OOM, the old list kept.
 */
int cors_set(cors_t *c, const char *origins);

/** Non-zero when the list in force is not empty: answers then vary by Origin. Thread-safe. */
int cors_enabled(cors_t *c);

/** Non-zero when the list in force allows the request's Origin origin[0..len). Thread-safe. */
int cors_allows(cors_t *c, const char *origin, size_t len);

/**
 * Whether `list` (a CORS_ORIGINS value) allows origin[0..len): "*" allows any non-empty origin,
 * otherwise an element must equal it byte for byte (spaces around commas ignored).
 */
int cors_listed(const char *list, const char *origin, size_t len);

/**
 * Whether `list` is a valid CORS_ORIGINS: empty, "*", or comma-separated origins
 * scheme://host[:port] (scheme letters, digits, '+', '.', '-' after a letter; host and port
 * printable ASCII without '/', ',', '*' or spaces), at most 4096 bytes.
 */
int cors_list_ok(const char *list);

/** Frees c; NULL is a no-op. */
void cors_free(cors_t *c);

#endif
