/* cors: which origins CORS_ORIGINS allows, which values it takes, and live changes. */
#include "cors/cors.h"

#include "test.h"

#define LISTED(list, o) cors_listed(list, o, strlen(o))

static void test_listed(void)
{
    EXPECT(LISTED("*", "https://anyone.example"));
    EXPECT(!LISTED("*", ""));
    EXPECT(!LISTED("", "https://a.example"));
    EXPECT(LISTED("https://a.example,http://localhost:8080", "https://a.example"));
    EXPECT(LISTED("https://a.example,http://localhost:8080", "http://localhost:8080"));
    EXPECT(LISTED("https://a.example , http://localhost:8080", "http://localhost:8080"));
    EXPECT(!LISTED("https://a.example", "https://a.example.evil.com")); /* exact, not a prefix */
    EXPECT(!LISTED("https://a.example", "https://a.exampl"));
    EXPECT(!LISTED("https://a.example", "HTTPS://A.EXAMPLE"));
    EXPECT(!LISTED("http://localhost:8080", "http://localhost"));
    EXPECT(!cors_listed("https://a.example", "https://a.example", 0));
}

static void test_list_ok(void)
{
    EXPECT(cors_list_ok(""));
    EXPECT(cors_list_ok("*"));
    EXPECT(cors_list_ok("https://a.example,http://localhost:8080,http://[::1]:3000"));
    EXPECT(cors_list_ok("app+x://h"));
    EXPECT(!cors_list_ok("a.example"));
    EXPECT(!cors_list_ok("https://a.example/"));
    EXPECT(!cors_list_ok("https://a.example,"));
    EXPECT(!cors_list_ok("https://*.example"));
    EXPECT(!cors_list_ok("https://a b"));
    EXPECT(!cors_list_ok("://a.example"));
    EXPECT(!cors_list_ok("*,*"));
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "http://", 7);
    big[sizeof(big) - 1] = '\0';
    EXPECT(!cors_list_ok(big)); /* over 4096 bytes */
}

static void test_live(void)
{
    cors_t *c = cors_new("");
    EXPECT(c != NULL);
    if (c == NULL)
        return;
    EXPECT(!cors_enabled(c));
    EXPECT(!cors_allows(c, "https://a.example", 17));
    EXPECT_INT(cors_set(c, "https://a.example"), 0);
    EXPECT(cors_enabled(c));
    EXPECT(cors_allows(c, "https://a.example", 17));
    EXPECT(!cors_allows(c, "https://b.example", 17));
    EXPECT_INT(cors_set(c, NULL), 0); /* deleted: back to none */
    EXPECT(!cors_enabled(c));
    cors_free(c);
    cors_free(NULL);
}

int main(void)
{
    RUN(test_listed);
    RUN(test_list_ok);
    RUN(test_live);
    return TEST_END();
}
