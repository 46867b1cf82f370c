#include "metrics/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))
/* Series a thread can hold: routes x methods x codes seen, far below this in practice. A
 * request that finds the table full is counted under the last entry's labels, never lost. */
#define SERIES 1024

/* One (route, method, code) series. The owner fills route before it publishes code (release):
 * a scrape that sees code non-zero reads complete labels. */
typedef struct series {
    const char *route, *method;
    int code;
    uint64_t count;
    uint64_t bucket[NBUCKETS + 1]; /* the last one is +Inf; not cumulative here */
    uint64_t micros;               /* total duration */
} series_t;

typedef struct slot {
    struct slot *next;
    series_t series[SERIES];
} slot_t;

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t *slots; /* never freed: a thread's counts outlive it */
static __thread slot_t *mine;
static time_t started = 0;

static slot_t *my_slot(void)
{
    if (mine == NULL) {
        mine = calloc(1, sizeof(*mine));
        if (mine == NULL)
            return NULL;
        pthread_mutex_lock(&slots_lock);
        mine->next = slots;
        slots = mine;
        pthread_mutex_unlock(&slots_lock);
    }
    return mine;
}

/* The owner adds, a scrape reads: relaxed atomics keep both cheap and tear-free. */
static void add(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static uint64_t get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* The series of (route, method, code) in table t (SERIES entries, open addressing), made when
 * `make` and absent. NULL when absent and not made. Labels compare by pointer. */
static series_t *find(series_t *t, const char *route, const char *method, int code, int make)
{
    size_t h = ((uintptr_t)route * 31 + (uintptr_t)method) * 31 + (size_t)code, i;
    h ^= h >> 17;
    for (size_t n = 0; n < SERIES; n++) {
        series_t *e = &t[i = (h + n) % SERIES];
        int c = __atomic_load_n(&e->code, __ATOMIC_ACQUIRE);
        if (c == 0) {
            if (!make)
                return NULL;
            e->route = route, e->method = method;
            __atomic_store_n(&e->code, code, __ATOMIC_RELEASE);
            return e;
        }
        if (c == code && e->route == route && e->method == method)
            return e;
    }
    return make ? &t[SERIES - 1] : NULL;
}

void metrics_request(const char *route, const char *method, int status, double seconds)
{
    slot_t *s = my_slot();
    if (s == NULL)
        return;
    series_t *e = find(s->series, route, method, status >= 100 && status < 1000 ? status : 999, 1);
    add(&e->count, 1);
    size_t b = 0;
    while (b < NBUCKETS && seconds > BUCKETS[b])
        b++;
    add(&e->bucket[b], 1);
    add(&e->micros, (uint64_t)(seconds * 1e6));
}

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0 || o->oom)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        char *nb = realloc(o->buf, o->cap * 2 + (size_t)n);
        if (nb == NULL) {
            o->oom = 1;
            return;
        }
        o->buf = nb, o->cap = o->cap * 2 + (size_t)n;
    }
}

static void process_figures(out_t *o)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    put(o,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
        resident * sysconf(_SC_PAGESIZE));
    put(o,
        "# HELP process_start_time_seconds Start time of the process since the epoch, in seconds.\n"
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
        (long long)started);
}

/* Adds every thread's series into sum (SERIES entries, zeroed by the caller). */
static void gather(series_t *sum)
{
    pthread_mutex_lock(&slots_lock);
    for (slot_t *s = slots; s != NULL; s = s->next)
        for (size_t i = 0; i < SERIES; i++) {
            series_t *e = &s->series[i];
            int code = __atomic_load_n(&e->code, __ATOMIC_ACQUIRE);
            if (code == 0)
                continue;
            series_t *t = find(sum, e->route, e->method, code, 1);
            t->count += get(&e->count);
            for (size_t b = 0; b <= NBUCKETS; b++)
                t->bucket[b] += get(&e->bucket[b]);
            t->micros += get(&e->micros);
        }
    pthread_mutex_unlock(&slots_lock);
}

char *metrics_render(const metrics_value_t *extra, size_t nextra, size_t *len)
{
    series_t *sum = calloc(SERIES, sizeof(*sum));
    out_t o = {malloc(16384), 0, 16384, 0};
    if (o.buf == NULL || sum == NULL) {
        free(o.buf);
        free(sum);
        return NULL;
    }
    gather(sum);
    put(&o, "# HELP porrio_http_requests_total HTTP requests answered, by route template, method and status code.\n"
            "# TYPE porrio_http_requests_total counter\n");
    for (size_t i = 0; i < SERIES; i++)
        if (sum[i].code != 0)
            put(&o, "porrio_http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"} %llu\n", sum[i].route, sum[i].method,
                sum[i].code, (unsigned long long)sum[i].count);
    put(&o, "# HELP porrio_http_request_duration_seconds Time from the request's first byte to its answer.\n"
            "# TYPE porrio_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < SERIES; i++) {
        series_t *e = &sum[i];
        uint64_t total = 0;
        if (e->code == 0)
            continue;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            char le[16];
            total += e->bucket[b];
            if (b < NBUCKETS)
                snprintf(le, sizeof(le), "%g", BUCKETS[b]);
            else
                snprintf(le, sizeof(le), "+Inf");
            put(&o, "porrio_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",code=\"%d\",le=\"%s\"} %llu\n",
                e->route, e->method, e->code, le, (unsigned long long)total);
        }
        put(&o,
            "porrio_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\",code=\"%d\"} %.6f\n"
            "porrio_http_request_duration_seconds_count{route=\"%s\",method=\"%s\",code=\"%d\"} %llu\n",
            e->route, e->method, e->code, e->micros / 1e6, e->route, e->method, e->code, (unsigned long long)total);
    }
    free(sum);
    process_figures(&o);
    for (size_t i = 0; i < nextra; i++)
        put(&o, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", extra[i].name, extra[i].help, extra[i].name, extra[i].type, extra[i].name,
            extra[i].value);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

__attribute__((constructor)) static void note_start(void)
{
    started = time(NULL);
}
