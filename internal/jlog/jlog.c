#include "jlog/jlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonw/jsonw.h"

#define TAIL_RESERVE 3 /* room always kept for the closing "}\n" */
#define TLS_BUF      32768

static int current_level = JLOG_INFO;
static int out_fd = STDOUT_FILENO;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread char tls_buf[TLS_BUF];
static __thread size_t tls_len;
static __thread int tls_on;
static void (*line_hook)(int level, const char *line, size_t len);

void jlog_set_hook(void (*hook)(int, const char *, size_t))
{
    __atomic_store_n(&line_hook, hook, __ATOMIC_RELEASE);
}

void jlog_set_fd(int fd)
{
    out_fd = fd;
}

void jlog_set_level(int level)
{
    __atomic_store_n(&current_level, level, __ATOMIC_RELAXED);
}
int jlog_enabled(int level)
{
    return level >= __atomic_load_n(&current_level, __ATOMIC_RELAXED);
}

static const char *level_name(int level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return level >= JLOG_DEBUG && level <= JLOG_ERROR ? names[level] : "info";
}

static void write_all(const char *p, size_t n)
{
    pthread_mutex_lock(&out_lock);
    while (n > 0) {
        ssize_t w = write(out_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* stdout gone: logs are best effort, serving goes on */
        }
        p += w, n -= (size_t)w;
    }
    pthread_mutex_unlock(&out_lock);
}

/* The current time as RFC 3339 UTC with milliseconds into out (25 bytes, NUL included). */
static void format_time(char *out)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    static __thread time_t cached_sec = -1;
    static __thread char cached[21];
    if (ts.tv_sec != cached_sec) {
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    memcpy(out, cached, 19);
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000) % 1000;
    out[19] = '.', out[20] = (char)('0' + ms / 100), out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10), out[23] = 'Z', out[24] = '\0';
}

static void append_raw(jlog_line_t *l, const char *s, size_t n)
{
    size_t room = JLOG_LINE_MAX - TAIL_RESERVE - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends "key": so that a value can follow; a key that does not fit with a minimal value is dropped. */
static int append_key(jlog_line_t *l, const char *key)
{
    size_t klen = strlen(key);
    if (l->len + klen + 16 > JLOG_LINE_MAX - TAIL_RESERVE)
        return 0;
    l->buf[l->len++] = ',';
    l->buf[l->len++] = '"';
    l->len += jsonw_escape(l->buf + l->len, JLOG_LINE_MAX - TAIL_RESERVE - 2 - l->len, key, klen);
    l->buf[l->len++] = '"';
    l->buf[l->len++] = ':';
    return 1;
}

void jlog_strn(jlog_line_t *l, const char *key, const char *val, size_t len)
{
    if (!append_key(l, key))
        return;
    if (val == NULL) {
        append_raw(l, "null", 4);
        return;
    }
    l->buf[l->len++] = '"';
    /* the closing quote of the value must fit as well as the line's tail */
    size_t cap = JLOG_LINE_MAX - TAIL_RESERVE - 1 - l->len;
    l->len += jsonw_escape(l->buf + l->len, cap, val, len);
    l->buf[l->len++] = '"';
}

void jlog_str(jlog_line_t *l, const char *key, const char *val)
{
    jlog_strn(l, key, val, val ? strlen(val) : 0);
}

static size_t fmt_ull(char *end, unsigned long long v, int min_digits)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
        min_digits--;
    } while (v != 0 || min_digits > 0);
    return (size_t)(end - p);
}

void jlog_int(jlog_line_t *l, const char *key, long long val)
{
    char tmp[24];
    if (!append_key(l, key))
        return;
    unsigned long long u = val < 0 ? 0ULL - (unsigned long long)val : (unsigned long long)val;
    size_t n = fmt_ull(tmp + sizeof(tmp), u, 1);
    if (val < 0)
        tmp[sizeof(tmp) - ++n] = '-';
    append_raw(l, tmp + sizeof(tmp) - n, n);
}

void jlog_num(jlog_line_t *l, const char *key, double val, int decimals)
{
    char tmp[48];
    if (!append_key(l, key))
        return;
    if (decimals == 3 && val >= 0 && val < 1e12) {
        unsigned long long m = (unsigned long long)(val * 1000 + 0.5);
        size_t f = fmt_ull(tmp + sizeof(tmp), m % 1000, 3);
        tmp[sizeof(tmp) - f - 1] = '.';
        size_t i = fmt_ull(tmp + sizeof(tmp) - f - 1, m / 1000, 1);
        append_raw(l, tmp + sizeof(tmp) - f - 1 - i, f + 1 + i);
        return;
    }
    if (val != val || val - val != 0) { /* NaN or an infinity: JSON has no such number */
        append_raw(l, "null", 4);
        return;
    }
    int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, val);
    if (n < 0 || (size_t)n >= sizeof(tmp)) /* too long in fixed notation: exponent notation */
        n = snprintf(tmp, sizeof(tmp), "%.17g", val);
    append_raw(l, tmp, (size_t)n);
}

void jlog_begin(jlog_line_t *l, int level, const char *msg)
{
    char ts[32];
    format_time(ts);
    l->len = 0;
    l->level = level;
    append_raw(l, "{\"time\":\"", 9);
    append_raw(l, ts, strlen(ts));
    append_raw(l, "\",\"level\":\"", 11);
    append_raw(l, level_name(level), strlen(level_name(level)));
    l->buf[l->len++] = '"';
    jlog_str(l, "msg", msg);
}

void jlog_end(jlog_line_t *l)
{
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    void (*hook)(int, const char *, size_t) = __atomic_load_n(&line_hook, __ATOMIC_ACQUIRE);
    if (hook != NULL)
        hook(l->level, l->buf, l->len);
    if (!tls_on) {
        write_all(l->buf, l->len);
        return;
    }
    if (tls_len + l->len > TLS_BUF)
        jlog_flush();
    memcpy(tls_buf + tls_len, l->buf, l->len);
    tls_len += l->len;
}

void jlog_buffer(int on)
{
    if (!on)
        jlog_flush();
    tls_on = on;
}

void jlog_flush(void)
{
    if (tls_len == 0)
        return;
    write_all(tls_buf, tls_len);
    tls_len = 0;
}

void jlog_log(int level, const char *msg, ...)
{
    if (!jlog_enabled(level))
        return;
    jlog_line_t l;
    va_list ap;
    const char *k;
    jlog_begin(&l, level, msg);
    va_start(ap, msg);
    while ((k = va_arg(ap, const char *)) != NULL)
        jlog_str(&l, k, va_arg(ap, const char *));
    va_end(ap);
    jlog_end(&l);
}
