#include "auth/auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "live/live.h"

/* One ADMIN_TOKENS value, parsed; never changed once published (live.h). */
typedef struct {
    size_t n;
    uint8_t hash[][AUTH_HASH_LEN];
} list_t;

struct auth {
    live_t live; /* a list_t; NULL: no list in force, every route open */
};

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int auth_hashes_parse(const char *value, uint8_t (*out)[AUTH_HASH_LEN], size_t max)
{
    size_t n = 0;
    if (value == NULL)
        return -1;
    if (*value == '\0')
        return 0;
    for (const char *p = value;; p += AUTH_HASH_HEX + 1) {
        if (n == AUTH_HASHES_MAX)
            return -1;
        for (size_t i = 0; i < AUTH_HASH_HEX; i += 2) {
            int hi = hex_digit(p[i]), lo = hi < 0 ? -1 : hex_digit(p[i + 1]);
            if (lo < 0)
                return -1;
            if (out != NULL && n < max)
                out[n][i / 2] = (uint8_t)(hi << 4 | lo);
        }
        n++;
        if (p[AUTH_HASH_HEX] == '\0')
            return (int)n;
        if (p[AUTH_HASH_HEX] != ',')
            return -1;
    }
}

/* The list `hashes` gives, live_alloc'd; *out NULL for "". -1 when malformed or out of memory. */
static int list_new(const char *hashes, list_t **out)
{
    int n = auth_hashes_parse(hashes, NULL, 0);
    *out = NULL;
    if (n <= 0)
        return n;
    list_t *l = live_alloc(sizeof(*l) + (size_t)n * AUTH_HASH_LEN);
    if (l == NULL)
        return -1;
    l->n = (size_t)auth_hashes_parse(hashes, l->hash, (size_t)n);
    *out = l;
    return 0;
}

auth_t *auth_new(const char *hashes)
{
    list_t *l;
    auth_t *a = malloc(sizeof(*a));
    if (a == NULL || list_new(hashes, &l) != 0) {
        free(a);
        return NULL;
    }
    live_init(&a->live, l);
    return a;
}

int auth_set(auth_t *a, const char *hashes)
{
    list_t *l;
    if (list_new(hashes, &l) != 0)
        return -1;
    live_swap(&a->live, l);
    return 0;
}

int auth_enabled(auth_t *a)
{
    list_t *l = a != NULL ? live_acquire(&a->live) : NULL;
    int on = l != NULL;
    live_release(l);
    return on;
}

static int token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~+/", c));
}

int auth_token_ok(const char *tok, size_t len)
{
    size_t i = 0;
    if (len < 1 || len > AUTH_TOKEN_MAX)
        return 0;
    while (i < len && token_char(tok[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < len && tok[i] == '=')
        i++;
    return i == len;
}

/* The token of `Bearer <token>`, NULL when value is not that. Trailing blanks are not part of it. */
static const char *bearer_token(const char *value, size_t len, size_t *tlen)
{
    size_t i = 6;
    if (value == NULL || len <= i || strncasecmp(value, "Bearer", i) != 0 || value[i] != ' ')
        return NULL;
    while (i < len && value[i] == ' ')
        i++;
    while (len > i && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (!auth_token_ok(value + i, len - i))
        return NULL;
    *tlen = len - i;
    return value + i;
}

auth_verdict_t auth_check(auth_t *a, const char *value, size_t len)
{
    list_t *l = a != NULL ? live_acquire(&a->live) : NULL;
    if (l == NULL)
        return AUTH_OK;
    size_t tlen;
    const char *tok = bearer_token(value, len, &tlen);
    auth_verdict_t v = AUTH_MISSING;
    if (tok != NULL) {
        uint8_t digest[AUTH_HASH_LEN];
        unsigned found = 0;
        SHA256((const unsigned char *)tok, tlen, digest);
        /* every entry is compared, whichever matches: the time says nothing of which did */
        for (size_t i = 0; i < l->n; i++)
            found |= (unsigned)(CRYPTO_memcmp(l->hash[i], digest, AUTH_HASH_LEN) == 0);
        OPENSSL_cleanse(digest, sizeof(digest));
        v = found ? AUTH_OK : AUTH_DENIED;
    }
    live_release(l);
    return v;
}

void auth_free(auth_t *a)
{
    if (a == NULL)
        return;
    live_destroy(&a->live);
    free(a);
}

void auth_hash_hex(const char *tok, size_t len, char out[AUTH_HASH_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[AUTH_HASH_LEN];
    SHA256((const unsigned char *)tok, len, d);
    for (size_t i = 0; i < AUTH_HASH_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[AUTH_HASH_HEX] = '\0';
}

int auth_token_new(char out[AUTH_TOKEN_NEW_LEN + 1])
{
    unsigned char raw[32], b64[4 * sizeof(raw) / 3 + 4];
    for (size_t got = 0; got < sizeof(raw);) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno != EINTR)
            return -1;
        got += n > 0 ? (size_t)n : 0;
    }
    EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 43 characters and one '=' */
    OPENSSL_cleanse(raw, sizeof(raw));
    for (size_t i = 0; i < AUTH_TOKEN_NEW_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[AUTH_TOKEN_NEW_LEN] = '\0';
    OPENSSL_cleanse(b64, sizeof(b64));
    return 0;
}
