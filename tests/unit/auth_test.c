/* auth: the ADMIN_TOKENS grammar, the Bearer syntax, matching a token against every hash of the
 * list, rotation while other threads check, and fresh tokens (README: Authentication). */
#include "auth/auth.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* SHA-256 of "abc" and of three test tokens, as sha256sum gives them. */
#define H_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_A   "ee718602fc388f8603de8829acc9997733e97a24629829aff6f1021b7f57276e"
#define H_B   "17c2b2ba08f8015e6cdbec68bc78fe9c8919b9544271c9830f41100b58113fa7"
#define H_C   "3fca7dd7f6421a1de2279f8b086f240ea6436e38dce90d07d7ab05c538a82bb5"

static int parse(const char *v)
{
    return auth_hashes_parse(v, NULL, 0);
}

static auth_verdict_t check(auth_t *a, const char *header)
{
    return auth_check(a, header, header ? strlen(header) : 0);
}

static void test_parse_hashes(void)
{
    uint8_t out[3][AUTH_HASH_LEN];
    EXPECT_INT(parse(""), 0);
    EXPECT_INT(parse(H_ABC), 1);
    EXPECT_INT(parse(H_A "," H_B "," H_C), 3);
    EXPECT_INT(auth_hashes_parse(H_ABC "," H_A, out, 3), 2);
    EXPECT_INT(out[0][0], 0xba);
    EXPECT_INT(out[0][31], 0xad);
    EXPECT_INT(out[1][0], 0xee);
    EXPECT_INT(out[1][31], 0x6e);
    /* only max digests are written, the count is still the whole list's */
    memset(out, 0, sizeof out);
    EXPECT_INT(auth_hashes_parse(H_A "," H_B "," H_C, out, 1), 3);
    EXPECT_INT(out[0][0], 0xee);
    EXPECT_INT(out[1][0], 0);
    EXPECT_INT(auth_hashes_parse(NULL, NULL, 0), -1);
    const char *bad[] = {"x",
                         "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",   /* 63 */
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", /* 65 */
                         H_ABC ",",
                         "," H_ABC,
                         H_ABC ",," H_A,
                         H_ABC ", " H_A,
                         " " H_ABC,
                         H_ABC " ",
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
                         "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse(bad[i]) != -1) {
            printf("# accepted \"%s\"\n", bad[i]);
            test_failed_now = 1;
        }
}

static void test_parse_bound(void)
{
    size_t n = AUTH_HASHES_MAX + 1;
    char *v = malloc(n * (AUTH_HASH_HEX + 1));
    for (size_t i = 0; i < n; i++) {
        memcpy(v + i * (AUTH_HASH_HEX + 1), H_ABC, AUTH_HASH_HEX);
        v[i * (AUTH_HASH_HEX + 1) + AUTH_HASH_HEX] = ',';
    }
    v[(AUTH_HASHES_MAX - 1) * (AUTH_HASH_HEX + 1) + AUTH_HASH_HEX] = '\0';
    EXPECT_INT(parse(v), AUTH_HASHES_MAX);
    v[(AUTH_HASHES_MAX - 1) * (AUTH_HASH_HEX + 1) + AUTH_HASH_HEX] = ',';
    v[n * (AUTH_HASH_HEX + 1) - 1] = '\0';
    EXPECT_INT(parse(v), -1);
    free(v);
}

static void test_token_syntax(void)
{
    char big[AUTH_TOKEN_MAX + 2];
    EXPECT(auth_token_ok("abc", 3));
    EXPECT(auth_token_ok("aZ09-._~+/", 10));
    EXPECT(auth_token_ok("abc==", 5));
    EXPECT(!auth_token_ok("", 0));
    EXPECT(!auth_token_ok("=", 1));
    EXPECT(!auth_token_ok("a=b", 3));
    EXPECT(!auth_token_ok("a b", 3));
    EXPECT(!auth_token_ok("a,b", 3));
    EXPECT(!auth_token_ok("a\0b", 3));
    EXPECT(!auth_token_ok("caf\xc3\xa9", 5));
    memset(big, 'x', sizeof big);
    EXPECT(auth_token_ok(big, AUTH_TOKEN_MAX));
    EXPECT(!auth_token_ok(big, AUTH_TOKEN_MAX + 1));
}

static void test_hash_hex(void)
{
    char out[AUTH_HASH_HEX + 1];
    auth_hash_hex("abc", 3, out);
    EXPECT_STR(out, H_ABC);
    auth_hash_hex("token-C", 7, out);
    EXPECT_STR(out, H_C);
}

static void test_open_without_list(void)
{
    auth_t *a = auth_new("");
    EXPECT(a != NULL);
    EXPECT_INT(auth_enabled(a), 0);
    EXPECT_INT(check(a, NULL), AUTH_OK);
    EXPECT_INT(check(a, "Bearer whatever"), AUTH_OK);
    EXPECT_INT(check(NULL, NULL), AUTH_OK);
    EXPECT_INT(auth_enabled(NULL), 0);
    auth_free(a);
    EXPECT(auth_new("not a hash") == NULL);
    auth_free(NULL);
}

static void test_bearer_syntax(void)
{
    auth_t *a = auth_new(H_ABC);
    EXPECT_INT(auth_enabled(a), 1);
    EXPECT_INT(check(a, "Bearer abc"), AUTH_OK);
    EXPECT_INT(check(a, "bearer abc"), AUTH_OK);
    EXPECT_INT(check(a, "BEARER   abc"), AUTH_OK);
    EXPECT_INT(check(a, "Bearer abc \t"), AUTH_OK);
    const char *missing[] = {"",           "abc",           "Bearer",         "Bearer ",     "Bearer  ",
                             "Bearerabc",  "Basic abc",     "Bearer abc def", "Bearer\tabc", " Bearer abc",
                             "Bearer a=b", "Bearer abc,abc"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
        if (check(a, missing[i]) != AUTH_MISSING) {
            printf("# \"%s\" was not a missing credential\n", missing[i]);
            test_failed_now = 1;
        }
    EXPECT_INT(check(a, NULL), AUTH_MISSING);
    /* the length given counts, not a NUL: a header value is not a C string */
    EXPECT_INT(auth_check(a, "Bearer abcdef", 10), AUTH_OK);
    EXPECT_INT(auth_check(a, "Bearer a\0c", 10), AUTH_MISSING);
    auth_free(a);
}

static void test_match_any_entry(void)
{
    auth_t *a = auth_new(H_A "," H_B "," H_C);
    EXPECT_INT(check(a, "Bearer token-A"), AUTH_OK);
    EXPECT_INT(check(a, "Bearer token-B"), AUTH_OK);
    EXPECT_INT(check(a, "Bearer token-C"), AUTH_OK);
    EXPECT_INT(check(a, "Bearer token-D"), AUTH_DENIED);
    EXPECT_INT(check(a, "Bearer abc"), AUTH_DENIED);
    EXPECT_INT(check(a, "Bearer " H_A), AUTH_DENIED); /* the hash itself is no token */
    auth_free(a);
}

static void test_rotation(void)
{
    auth_t *a = auth_new(H_A);
    EXPECT_INT(auth_set(a, H_B), 0);
    EXPECT_INT(check(a, "Bearer token-A"), AUTH_DENIED);
    EXPECT_INT(check(a, "Bearer token-B"), AUTH_OK);
    EXPECT_INT(auth_set(a, "junk"), -1); /* refused: the list in force stays */
    EXPECT_INT(check(a, "Bearer token-B"), AUTH_OK);
    EXPECT_INT(auth_set(a, ""), 0);
    EXPECT_INT(auth_enabled(a), 0);
    EXPECT_INT(check(a, NULL), AUTH_OK);
    EXPECT_INT(auth_set(a, H_C), 0);
    EXPECT_INT(check(a, NULL), AUTH_MISSING);
    EXPECT_INT(check(a, "Bearer token-C"), AUTH_OK);
    auth_free(a);
}

/* Checkers on three threads while the main thread swaps between two lists that both hold A:
 * every check of A must pass (a half-made or freed list would not), C only passes sometimes. */
typedef struct {
    auth_t *a;
    atomic_int *stop; /* set by the main thread, read by the checkers */
    long wrong;
} checker_t;

static void *checker(void *arg)
{
    checker_t *c = arg;
    while (!*c->stop)
        if (check(c->a, "Bearer token-A") != AUTH_OK || check(c->a, "Bearer token-D") != AUTH_DENIED)
            c->wrong++;
    return NULL;
}

static void test_rotation_while_checking(void)
{
    auth_t *a = auth_new(H_A "," H_B);
    atomic_int stop = 0;
    checker_t c[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        c[i] = (checker_t){.a = a, .stop = &stop};
        pthread_create(&t[i], NULL, checker, &c[i]);
    }
    for (int i = 0; i < 20000; i++)
        EXPECT_INT(auth_set(a, i % 2 ? H_A "," H_B : H_C "," H_A), 0);
    stop = 1;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        EXPECT_INT(c[i].wrong, 0);
    }
    auth_free(a);
}

static void test_token_new(void)
{
    char t1[AUTH_TOKEN_NEW_LEN + 1], t2[AUTH_TOKEN_NEW_LEN + 1];
    EXPECT_INT(auth_token_new(t1), 0);
    EXPECT_INT(auth_token_new(t2), 0);
    EXPECT_INT(strlen(t1), AUTH_TOKEN_NEW_LEN);
    EXPECT_INT(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), AUTH_TOKEN_NEW_LEN);
    EXPECT(strcmp(t1, t2) != 0);
    /* what it makes is what the Bearer check takes, through the hash it prints */
    char hash[AUTH_HASH_HEX + 1], header[64];
    auth_hash_hex(t1, strlen(t1), hash);
    auth_t *a = auth_new(hash);
    snprintf(header, sizeof header, "Bearer %s", t1);
    EXPECT_INT(check(a, header), AUTH_OK);
    snprintf(header, sizeof header, "Bearer %s", t2);
    EXPECT_INT(check(a, header), AUTH_DENIED);
    auth_free(a);
}

int main(void)
{
    RUN(test_parse_hashes);
    RUN(test_parse_bound);
    RUN(test_token_syntax);
    RUN(test_hash_hex);
    RUN(test_open_without_list);
    RUN(test_bearer_syntax);
    RUN(test_match_any_entry);
    RUN(test_rotation);
    RUN(test_rotation_while_checking);
    RUN(test_token_new);
    return TEST_END();
}
