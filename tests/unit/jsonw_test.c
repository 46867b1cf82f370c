/* jsonw: escaping, the growable buffer, and texts made once and shared (from several threads). */
#include "jsonw/jsonw.h"
#include "test.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

/* Under AddressSanitizer and ThreadSanitizer the heap can be weighed: a text that was not freed
 * shows. (No such count in musl's allocator.) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_BYTES() __sanitizer_get_current_allocated_bytes()
#define HEAP_WEIGHED 1
#else
#define HEAP_BYTES() ((size_t)0)
#define HEAP_WEIGHED 0
#endif

/* ---- escaping ---- */

static char *escape(const char *s, size_t len)
{
    static char out[256];
    size_t n = jsonw_escape(out, sizeof(out) - 1, s, len);
    out[n] = '\0';
    return out;
}

static void test_escape_specials(void)
{
    EXPECT_STR(escape("a\"b\\c", 5), "a\\\"b\\\\c");
    EXPECT_STR(escape("l1\nl2\r\t", 7), "l1\\nl2\\r\\t");
    EXPECT_STR(escape("\x01\x1f\x7f", 3), "\\u0001\\u001f\\u007f");
    EXPECT_STR(escape("nul\0x", 5), "nul\\u0000x");
    EXPECT_STR(escape("\b\f/ ~", 5), "\\u0008\\u000c/ ~"); /* '/' is not escaped */
    EXPECT_STR(escape("", 0), "");
    EXPECT_STR(escape("abc", 2), "ab"); /* len, not the NUL, ends it */
}

static void test_escape_utf8(void)
{
    EXPECT_STR(escape("Espa\xc3\xb1"
                      "a",
                      7),
               "Espa\xc3\xb1"
               "a");                                               /* valid: kept */
    EXPECT_STR(escape("\xf0\x9f\x98\x80", 4), "\xf0\x9f\x98\x80"); /* 4-byte: kept */
    EXPECT_STR(escape("a\xff"
                      "b",
                      3),
               "a\\ufffdb");                                             /* invalid byte */
    EXPECT_STR(escape("\xc3", 1), "\\ufffd");                            /* truncated */
    EXPECT_STR(escape("\xc0\xaf", 2), "\\ufffd\\ufffd");                 /* overlong */
    EXPECT_STR(escape("\xed\xa0\x80", 3), "\\ufffd\\ufffd\\ufffd");      /* surrogate */
    EXPECT_STR(escape("\xe2\x80\xa8\xe2\x80\xa9", 6), "\\u2028\\u2029"); /* line separators */
    /* their neighbours U+2027 and U+202A: kept */
    EXPECT_STR(escape("\xe2\x80\xa7\xe2\x80\xaa", 6), "\xe2\x80\xa7\xe2\x80\xaa");
    EXPECT_STR(escape("\xe0\x80\xaf", 3), "\\ufffd\\ufffd\\ufffd");            /* 3-byte overlong */
    EXPECT_STR(escape("\xf0\x80\x80\x80", 4), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* 4-byte overlong */
    EXPECT_STR(escape("\xf4\x90\x80\x80", 4), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* past U+10FFFF */
    EXPECT_STR(escape("\xf4\x8f\xbf\xbf\xef\xbf\xbf\xc2\x80", 9), "\xf4\x8f\xbf\xbf\xef\xbf\xbf\xc2\x80");
    EXPECT_STR(escape("\xe2\x82", 2), "\\ufffd\\ufffd");     /* cut short by len */
    EXPECT_STR(escape("\xe2\x82\xac", 2), "\\ufffd\\ufffd"); /* ... even with more after */
    EXPECT_STR(escape("\x80\xbf\xf5\xfe", 4), "\\ufffd\\ufffd\\ufffd\\ufffd");
}

/* jsonw_utf8_ok holds exactly what jsonw_escape writes back unchanged. */
static void test_utf8_ok(void)
{
    static const char *const good[] = {"", "plain", "\xc3\xb1", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", NULL};
    static const char *const bad[] = {
        "\xad\x9a\x98\x82", "\xc3", "a\xc3(", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xff", NULL};
    for (int i = 0; good[i] != NULL; i++)
        EXPECT_INT(jsonw_utf8_ok(good[i], strlen(good[i])), 1);
    for (int i = 0; bad[i] != NULL; i++)
        EXPECT_INT(jsonw_utf8_ok(bad[i], strlen(bad[i])), 0);
    EXPECT_INT(jsonw_utf8_ok("\xc3\xb1", 1), 0); /* cut inside a character by len */
}

static void test_escape_stops_at_capacity(void)
{
    char out[8];
    size_t n = jsonw_escape(out, 3, "ab\"cd", 5); /* the escaped quote needs 2 more: not half of it */
    EXPECT_INT(n, 2);
    n = jsonw_escape(out, 3, "\xc3\xb1\xc3\xb1", 4); /* never cuts a character */
    EXPECT_INT(n, 2);
    EXPECT_INT(jsonw_escape(out, 0, "a", 1), 0);
    EXPECT_INT(jsonw_escape(out, 5, "\x01", 1), 0);
    EXPECT_INT(jsonw_escape(out, 6, "\x01", 1), 6);
    EXPECT_INT(jsonw_escape(out, 5, "\xe2\x80\xa8", 3), 0);
    EXPECT_INT(jsonw_escape(out, 5, "\xff", 1), 0);
    EXPECT_INT(jsonw_escape(out, 8, "a\xff", 2), 7);
    EXPECT(memcmp(out, "a\\ufffd", 7) == 0);
}

/* ---- the buffer ---- */

/* w's text, handed over and checked for its NUL and length; malloc'd. */
static char *finish(jsonw_t *w, size_t *len)
{
    char *s = jsonw_finish(w, len);
    if (s == NULL || s[*len] != '\0' || strlen(s) > *len) {
        printf("# jsonw_finish: %s\n", s ? "not NUL-terminated at len" : "NULL");
        test_failed_now = 1;
    }
    EXPECT(w->buf == NULL && w->len == 0 && w->cap == 0 && w->oom == 0); /* empty afterwards */
    return s;
}

static void test_str(void)
{
    jsonw_t w = JSONW_INIT;
    size_t len;
    jsonw_str(&w, "a\"b\\c\n", 6);
    jsonw_str(&w, "", 0);
    jsonw_str(&w, "x\0y", 3);
    jsonw_str(&w, "Ñu \xe2\x80\xa8", 7);
    char *s = finish(&w, &len);
    EXPECT_STR(s, "\"a\\\"b\\\\c\\n\"\"\"\"x\\u0000y\"\"Ñu \\u2028\"");
    EXPECT_INT(len, strlen(s));
    free(s);
    /* The worst cases: every byte six. */
    char ctl[100], bad[50];
    memset(ctl, 1, sizeof(ctl));
    memset(bad, 0xff, sizeof(bad));
    jsonw_str(&w, ctl, sizeof(ctl));
    s = finish(&w, &len);
    EXPECT_INT(len, 2 + 6 * sizeof(ctl));
    EXPECT(s != NULL && s[0] == '"' && s[len - 1] == '"' && memcmp(s + 1, "\\u0001\\u0001", 12) == 0 &&
           memcmp(s + len - 7, "\\u0001\"", 7) == 0);
    free(s);
    jsonw_str(&w, bad, sizeof(bad));
    s = finish(&w, &len);
    EXPECT_INT(len, 2 + 6 * sizeof(bad));
    EXPECT(s != NULL && memcmp(s + len - 7, "\\ufffd\"", 7) == 0);
    free(s);
}

static void test_raw_lit_int_finish(void)
{
    jsonw_t w = JSONW_INIT;
    size_t len = 99;
    char *s = finish(&w, &len); /* nothing added: an empty text, not NULL */
    EXPECT_STR(s, "");
    EXPECT_INT(len, 0);
    free(s);
    jsonw_raw(&w, "abcdef", 3);
    jsonw_raw(&w, "\0z", 2); /* bytes as they are, NUL included */
    jsonw_lit(&w, "[");
    jsonw_int(&w, 0);
    jsonw_lit(&w, ",");
    jsonw_int(&w, -42);
    jsonw_lit(&w, ",");
    jsonw_int(&w, LLONG_MAX);
    jsonw_lit(&w, ",");
    jsonw_int(&w, LLONG_MIN);
    jsonw_lit(&w, "]");
    s = finish(&w, &len);
    static const char want[] = "abc\0z[0,-42,9223372036854775807,-9223372036854775808]";
    EXPECT(s != NULL && len == sizeof(want) - 1 && memcmp(s, want, len) == 0);
    free(s);
    /* Growing far past the first allocation keeps every byte. */
    for (int i = 0; i < 10000; i++) {
        jsonw_int(&w, i % 10);
        jsonw_lit(&w, "ab");
    }
    s = finish(&w, &len);
    EXPECT_INT(len, 30000);
    int ok = s != NULL;
    for (int i = 0; ok && i < 10000; i++)
        ok = s[3 * i] == '0' + i % 10 && s[3 * i + 1] == 'a' && s[3 * i + 2] == 'b';
    EXPECT(ok);
    free(s);
    /* jsonw_free lets go of a text half made; w is usable again. */
    jsonw_lit(&w, "half");
    jsonw_free(&w);
    EXPECT(w.buf == NULL && w.len == 0 && w.cap == 0);
    jsonw_lit(&w, "again");
    s = finish(&w, &len);
    EXPECT_STR(s, "again");
    free(s);
}

/* ---- texts made once ---- */

static void test_text_begin_finish(void)
{
    jsonw_t w = JSONW_INIT;
    jsonw_text_begin(&w);
    jsonw_lit(&w, "{\"a\":");
    jsonw_int(&w, 1);
    jsonw_raw(&w, "}", 1);
    jsonw_text_t *t = jsonw_text_finish(&w);
    EXPECT(t != NULL);
    EXPECT(w.buf == NULL && w.len == 0);
    if (t != NULL) {
        EXPECT_INT(t->len, 7);
        EXPECT(memcmp(t->data, "{\"a\":1}", 8) == 0); /* with its NUL */
    }
    free(t);
    jsonw_text_begin(&w);
    t = jsonw_text_finish(&w);
    EXPECT(t != NULL && t->len == 0 && t->data[0] == '\0');
    free(t);
}

static int renders;

static jsonw_text_t *render_word(const void *ctx)
{
    jsonw_t w = JSONW_INIT;
    renders++;
    if (ctx == NULL) /* a render that fails, as on OOM */
        return NULL;
    jsonw_text_begin(&w);
    jsonw_lit(&w, ctx);
    return jsonw_text_finish(&w);
}

static void test_text_once(void)
{
    jsonw_text_t *slot = NULL;
    size_t len = 99;
    renders = 0;
    EXPECT(jsonw_text_once(&slot, render_word, NULL, &len) == NULL); /* failed: nothing kept */
    EXPECT(slot == NULL);
    EXPECT_INT(len, 99);
    const char *a = jsonw_text_once(&slot, render_word, "first", &len);
    EXPECT_STR(a, "first");
    EXPECT_INT(len, 5);
    EXPECT(slot != NULL && a == slot->data);
    const char *b = jsonw_text_once(&slot, render_word, "second", &len); /* kept: not rendered again */
    EXPECT(b == a);
    EXPECT_INT(len, 5);
    EXPECT_INT(renders, 2);
    free(slot);
}

/* Threads asking at once: every one renders (none can finish before all have started, the render
 * waiting for them all), one text is kept for all of them, the others are freed. */
enum { RACERS = 8, ROUNDS = 20, BIG = 60000 }; /* under 64 KiB: little slack with or without a trim */

typedef struct {
    int id;
    pthread_barrier_t *in_render;
    jsonw_text_t **slot;
    const char *got;
    size_t len;
} racer_t;

static int racer_renders;

static jsonw_text_t *render_big(const void *ctx)
{
    const racer_t *r = ctx;
    jsonw_t w = JSONW_INIT;
    char head[32];
    __atomic_add_fetch(&racer_renders, 1, __ATOMIC_RELAXED);
    pthread_barrier_wait(r->in_render);
    jsonw_text_begin(&w);
    jsonw_raw(&w, head, (size_t)snprintf(head, sizeof(head), "racer %d:", r->id));
    while (w.len < BIG)
        jsonw_lit(&w, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    return jsonw_text_finish(&w);
}

static void *race(void *arg)
{
    racer_t *r = arg;
    r->got = jsonw_text_once(r->slot, render_big, r, &r->len);
    return NULL;
}

static void test_text_once_threads(void)
{
    pthread_barrier_t in_render;
    pthread_t t[RACERS];
    racer_t r[RACERS];
    pthread_barrier_init(&in_render, NULL, RACERS);
    for (int round = 0; round < ROUNDS; round++) {
        jsonw_text_t *slot = NULL;
        size_t heap0 = HEAP_BYTES();
        racer_renders = 0;
        for (int i = 0; i < RACERS; i++) {
            r[i] = (racer_t){.id = i, .in_render = &in_render, .slot = &slot};
            pthread_create(&t[i], NULL, race, &r[i]);
        }
        for (int i = 0; i < RACERS; i++)
            pthread_join(t[i], NULL);
        EXPECT_INT(racer_renders, RACERS);
        EXPECT(slot != NULL);
        if (slot == NULL)
            break;
        int winner = -1, same = 1;
        sscanf(slot->data, "racer %d:", &winner);
        for (int i = 0; i < RACERS; i++)
            same &= r[i].got == slot->data && r[i].len == slot->len;
        EXPECT(same);
        EXPECT(winner >= 0 && winner < RACERS);
        EXPECT(slot->len >= BIG && slot->data[slot->len] == '\0');
        if (HEAP_WEIGHED) { /* one text is left on the heap, not RACERS */
            size_t grown = HEAP_BYTES() - heap0;
            if (grown < slot->len || grown > slot->len + BIG / 2) {
                printf("# round %d: the heap grew by %zu bytes; one text is %zu\n", round, grown, slot->len);
                test_failed_now = 1;
            }
        }
        free(slot);
        if (test_failed_now)
            break;
    }
    pthread_barrier_destroy(&in_render);
}

int main(void)
{
    RUN(test_escape_specials);
    RUN(test_escape_utf8);
    RUN(test_utf8_ok);
    RUN(test_escape_stops_at_capacity);
    RUN(test_str);
    RUN(test_raw_lit_int_finish);
    RUN(test_text_begin_finish);
    RUN(test_text_once);
    RUN(test_text_once_threads);
    return TEST_END();
}
