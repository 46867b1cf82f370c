/* jlog: whole lines, the level filter (escaping: jsonw_test). Lines are captured by pointing stdout
 * at a pipe. */
#include "jlog/jlog.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

static int saved_stdout = -1, pipe_r = -1;

static void capture_begin(void)
{
    int p[2];
    if (pipe(p) != 0)
        abort();
    fflush(stdout);
    saved_stdout = dup(1);
    dup2(p[1], 1);
    close(p[1]);
    pipe_r = p[0];
}

/* Restores stdout and returns what was written (malloc'd). */
static char *capture_end(size_t *len)
{
    static char buf[1 << 16];
    dup2(saved_stdout, 1);
    close(saved_stdout);
    ssize_t n, off = 0;
    while ((n = read(pipe_r, buf + off, sizeof(buf) - 1 - (size_t)off)) > 0)
        off += n;
    close(pipe_r);
    buf[off] = '\0';
    *len = (size_t)off;
    return buf;
}

static void test_line_is_one_json_object(void)
{
    size_t len;
    jlog_line_t l;
    capture_begin();
    jlog_begin(&l, JLOG_WARN, "hostile");
    jlog_str(&l, "user-agent", "evil\",\"level\":\"error\n{\"x\":1}");
    jlog_int(&l, "status", 404);
    jlog_num(&l, "duration_ms", 1.25, 3);
    jlog_str(&l, "none", NULL);
    jlog_end(&l);
    char *out = capture_end(&len);
    EXPECT(len > 0 && out[len - 1] == '\n');
    EXPECT(memchr(out, '\n', len) == out + len - 1); /* exactly one line */
    json_error_t e;
    json_t *j = json_loadb(out, len, JSON_REJECT_DUPLICATES, &e);
    EXPECT(j != NULL);
    EXPECT_STR(json_string_value(json_object_get(j, "level")), "warn");
    EXPECT_STR(json_string_value(json_object_get(j, "msg")), "hostile");
    EXPECT_STR(json_string_value(json_object_get(j, "user-agent")), "evil\",\"level\":\"error\n{\"x\":1}");
    EXPECT_INT(json_integer_value(json_object_get(j, "status")), 404);
    EXPECT(json_is_null(json_object_get(j, "none")));
    const char *t = json_string_value(json_object_get(j, "time"));
    EXPECT(t != NULL && strlen(t) == 24 && t[10] == 'T' && t[19] == '.' && t[23] == 'Z');
    json_decref(j);
}

static void test_long_values_are_cut_but_valid(void)
{
    size_t len;
    static char big[3 * JLOG_LINE_MAX];
    memset(big, '"', sizeof(big) - 1); /* every byte doubles when escaped */
    jlog_line_t l;
    capture_begin();
    jlog_begin(&l, JLOG_INFO, "big");
    jlog_str(&l, "uri", big);
    jlog_str(&l, "after", "x");
    jlog_end(&l);
    char *out = capture_end(&len);
    EXPECT(len <= JLOG_LINE_MAX);
    json_t *j = json_loadb(out, len, 0, NULL);
    EXPECT(j != NULL);
    json_decref(j);
}

/* One line with jlog_num(val, decimals) as "v" and an int after it, parsed (NULL, reported, when
 * it is not one JSON object). */
static json_t *num_line(double val, int decimals)
{
    size_t len;
    jlog_line_t l;
    capture_begin();
    jlog_begin(&l, JLOG_INFO, "number");
    jlog_num(&l, "v", val, decimals);
    jlog_int(&l, "after", 7);
    jlog_end(&l);
    char *out = capture_end(&len);
    int one_line = len > 0 && memchr(out, '\n', len) == out + len - 1;
    json_t *j = one_line ? json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (j == NULL || json_integer_value(json_object_get(j, "after")) != 7) /* its first line shown */
        printf("# not the line expected for %g (decimals %d): %.*s\n", val, decimals, (int)strcspn(out, "\n"), out);
    return j;
}

/* JSON has no NaN or infinity: they are logged as null. */
static void test_num_not_finite(void)
{
    static const double vals[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++)
        for (int decimals = 0; decimals <= 3; decimals += 3) {
            json_t *j = num_line(vals[i], decimals);
            EXPECT(j != NULL);
            EXPECT(json_is_null(json_object_get(j, "v")));
            EXPECT_INT(json_integer_value(json_object_get(j, "after")), 7);
            json_decref(j);
        }
}

/* A value too long for fixed notation is written in exponent notation, never cut. */
static void test_num_huge(void)
{
    static const double vals[] = {1e300, -1e300, 1e60, -1.5e40, 1e12, -2.5};
    for (int i = 0; i < 6; i++)
        for (int decimals = 2; decimals <= 3; decimals++) {
            json_t *j = num_line(vals[i], decimals);
            json_t *v = json_object_get(j, "v");
            EXPECT(j != NULL);
            EXPECT(json_is_number(v));
            EXPECT(json_number_value(v) == vals[i]);
            EXPECT_INT(json_integer_value(json_object_get(j, "after")), 7);
            json_decref(j);
        }
}

static void test_level_filter(void)
{
    size_t len;
    jlog_set_level(JLOG_WARN);
    EXPECT(!jlog_enabled(JLOG_INFO));
    EXPECT(jlog_enabled(JLOG_ERROR));
    capture_begin();
    jlog_log(JLOG_INFO, "hidden", "k", "v", NULL);
    jlog_log(JLOG_ERROR, "shown", "k", "v", NULL);
    char *out = capture_end(&len);
    EXPECT(strstr(out, "hidden") == NULL);
    EXPECT(strstr(out, "\"msg\":\"shown\",\"k\":\"v\"") != NULL);
    jlog_set_level(JLOG_INFO);
}

static void test_buffered_lines_flush_whole(void)
{
    size_t len;
    capture_begin();
    jlog_buffer(1);
    for (int i = 0; i < 500; i++)
        jlog_log(JLOG_INFO, "buffered", "i", "0123456789012345678901234567890123456789", NULL);
    jlog_buffer(0); /* flushes */
    char *out = capture_end(&len);
    int lines = 0;
    for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1, lines++) {
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, NULL);
        EXPECT(j != NULL);
        json_decref(j);
    }
    EXPECT_INT(lines, 500);
}

static char hooked[JLOG_LINE_MAX + 1];
static int hooked_level = -1;
static void hook(int level, const char *line, size_t len)
{
    hooked_level = level;
    memcpy(hooked, line, len);
    hooked[len] = '\0';
}

/* The hook sees each line as it is written, with its level, buffered or not. */
static void test_hook_sees_every_line(void)
{
    size_t len;
    jlog_set_hook(hook);
    capture_begin();
    jlog_log(JLOG_WARN, "hooked", "k", "v", NULL);
    char *out = capture_end(&len);
    EXPECT_INT(hooked_level, JLOG_WARN);
    EXPECT_STR(hooked, out);
    jlog_buffer(1);
    jlog_log(JLOG_ERROR, "buffered", NULL);
    EXPECT_INT(hooked_level, JLOG_ERROR);
    EXPECT(strstr(hooked, "\"msg\":\"buffered\"}\n") != NULL);
    capture_begin();
    jlog_buffer(0);
    capture_end(&len);
    jlog_set_hook(NULL);
    hooked_level = -1;
    jlog_log(JLOG_ERROR, "unhooked", NULL);
    EXPECT_INT(hooked_level, -1);
}

int main(void)
{
    RUN(test_line_is_one_json_object);
    RUN(test_long_values_are_cut_but_valid);
    RUN(test_num_not_finite);
    RUN(test_num_huge);
    RUN(test_level_filter);
    RUN(test_buffered_lines_flush_whole);
    RUN(test_hook_sees_every_line);
    return TEST_END();
}
