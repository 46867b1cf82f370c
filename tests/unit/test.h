/* A minimal TAP producer for the unit tests: each RUN() is one test case, reported as
 * "ok N - name" or "not ok N - name" with "# file:line: ..." diagnostics before it. */
#ifndef PORRIO_TEST_H
#define PORRIO_TEST_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int test_failed_now, test_count, test_failures;

#define EXPECT(c)                                                     \
    do {                                                              \
        if (!(c)) {                                                   \
            test_failed_now = 1;                                      \
            printf("# %s:%d: expected %s\n", __FILE__, __LINE__, #c); \
        }                                                             \
    } while (0)

#define EXPECT_STR(a, b)                                                                                                        \
    do {                                                                                                                        \
        const char *a_ = (a), *b_ = (b);                                                                                        \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                                                  \
            test_failed_now = 1;                                                                                                \
            printf("# %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        }                                                                                                                       \
    } while (0)

#define EXPECT_INT(a, b)                                                                    \
    do {                                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                                 \
        if (a_ != b_) {                                                                     \
            test_failed_now = 1;                                                            \
            printf("# %s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
        }                                                                                   \
    } while (0)

#define RUN(fn)                                                                       \
    do {                                                                              \
        test_failed_now = 0;                                                          \
        fn();                                                                         \
        printf("%s %d - %s\n", test_failed_now ? "not ok" : "ok", ++test_count, #fn); \
        fflush(stdout);                                                               \
        test_failures += test_failed_now;                                             \
    } while (0)

/* A seeded pseudo-random sequence (splitmix64), so that a failing run can be repeated. */
static inline uint64_t test_rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define TEST_END() (printf("1..%d\n", test_count), test_failures != 0)

#endif
