/*
 * auth: the bearer tokens of ADMIN_TOKENS (README: Authentication). The setting lists SHA-256
 * hashes of tokens, never tokens; a presented token is hashed and compared with every hash in
 * constant time. The list in force is an immutable value published by a pointer swap, so the
 * reload thread can rotate it while workers check requests. Knows nothing of HTTP beyond the
 * syntax of an `Authorization: Bearer` value, and never logs.
 */
#ifndef PORRIO_AUTH_H
#define PORRIO_AUTH_H
#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_LEN      32  /* bytes of a SHA-256 digest */
#define AUTH_HASH_HEX      64  /* its lowercase hex */
#define AUTH_HASHES_MAX    64  /* hashes ADMIN_TOKENS may list: bounds the work of every check */
#define AUTH_TOKEN_MAX     512 /* bytes of a presented token */
#define AUTH_TOKEN_NEW_LEN 43  /* auth_token_new: 32 random bytes in unpadded base64url */

typedef struct auth auth_t;

typedef enum {
    AUTH_OK,      /* no list in force (routes open), or the token's hash is in it */
    AUTH_MISSING, /* a list is in force and no well-formed Bearer credential came: 401 */
    AUTH_DENIED,  /* a well-formed token whose hash is not in the list: 403 */
} auth_verdict_t;

/**
 * Parses an ADMIN_TOKENS value: "" or 1..AUTH_HASHES_MAX hashes of AUTH_HASH_HEX lowercase hex
 * digits separated by single commas (no spaces, no empty entries). Writes the digests into
 * out[0..max) when out is not NULL (NULL only validates). Returns how many hashes the value
 * lists (0 for ""), or -1 when it is malformed. Cannot fail otherwise.
 */
int auth_hashes_parse(const char *value, uint8_t (*out)[AUTH_HASH_LEN], size_t max);

/**
 * A holder whose list in force is parsed from `hashes` (auth_hashes_parse; "" means none).
 * NULL when the value is malformed or memory runs out. Free with auth_free.
 */
auth_t *auth_new(const char *hashes);

/**
 * Replaces the list in force with the one `hashes` gives ("" removes it). Safe while other
 * threads call auth_check: each check sees the old list or the new one, whole; the old list
 * is freed by whichever thread lets go of it last. 0; -1 (the old list stays) for a malformed
 * value or when memory runs out.
 */
int auth_set(auth_t *a, const char *hashes);

/** 1 when a list is in force (the guarded routes need a token), 0 when none is. */
int auth_enabled(auth_t *a);

/**
 * The verdict on an Authorization header value (`value` NULL when the header is absent or came
 * more than once): `Bearer` (any case), one or more spaces, a token (auth_token_ok), nothing
 * after. The token's SHA-256 is compared with every hash of the list, matching or not, in
 * constant time. Takes no lock a writer holds for longer than a pointer swap. A NULL holder
 * is an open one.
 */
auth_verdict_t auth_check(auth_t *a, const char *value, size_t len);

/** Frees the holder and its list. Only once no other thread can call auth_check on it. */
void auth_free(auth_t *a);

/** 1 when tok[0..len) can be a bearer token: 1..AUTH_TOKEN_MAX bytes of letters, digits,
 * - . _ ~ + /, then optional trailing '=' (README: Authentication). */
int auth_token_ok(const char *tok, size_t len);

/** The SHA-256 of tok[0..len) as AUTH_HASH_HEX lowercase hex digits and a NUL. Cannot fail. */
void auth_hash_hex(const char *tok, size_t len, char out[AUTH_HASH_HEX + 1]);

/**
 * A fresh token: 32 bytes from getrandom(2) as AUTH_TOKEN_NEW_LEN characters of unpadded
 * base64url and a NUL. 0; -1 with errno when the kernel gives no randomness.
 */
int auth_token_new(char out[AUTH_TOKEN_NEW_LEN + 1]);

#endif
