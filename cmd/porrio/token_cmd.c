/* `porrio token new|hash`: bearer tokens for ADMIN_TOKENS (README: Authentication). The token is
 * printed once and kept nowhere; the service only ever holds its hash. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "porrio.h"

static int usage(void)
{
    fprintf(stderr, "usage: porrio token new          a fresh token and its hash\n"
                    "       porrio token hash < FILE  the hash of the token read on stdin\n");
    return 2;
}

/* Both lines are KEY=value: for a .env file, `export`, or eval in a shell. */
static int token_new(void)
{
    char tok[AUTH_TOKEN_NEW_LEN + 1], hash[AUTH_HASH_HEX + 1];
    if (auth_token_new(tok) != 0) {
        perror("porrio: getrandom");
        return 1;
    }
    auth_hash_hex(tok, strlen(tok), hash);
    printf("TOKEN=%s\nADMIN_TOKENS=%s\n", tok, hash);
    fprintf(stderr, "porrio: the client sends `Authorization: Bearer $TOKEN` (the token is kept nowhere); the service "
                    "needs only the hash: add it to ADMIN_TOKENS, comma-separated from any others\n");
    return fflush(stdout) == 0 ? 0 : 1;
}

/* One token on stdin, an end of line allowed after it. */
static int token_hash(void)
{
    char buf[AUTH_TOKEN_MAX + 3], hash[AUTH_HASH_HEX + 1];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) && (n = read(0, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0) {
            perror("porrio: stdin");
            return 1;
        }
        len += (size_t)n;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (!auth_token_ok(buf, len)) {
        fprintf(stderr,
                "porrio: stdin must hold one token: 1 to %d letters, digits, '-', '.', '_', '~', '+' or '/', "
                "then optional '='\n",
                AUTH_TOKEN_MAX);
        return 2;
    }
    auth_hash_hex(buf, len, hash);
    printf("%s\n", hash);
    return fflush(stdout) == 0 ? 0 : 1;
}

int token_command(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "new") == 0)
        return token_new();
    if (argc == 2 && strcmp(argv[1], "hash") == 0)
        return token_hash();
    return usage();
}
