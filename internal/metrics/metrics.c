#include "metrics/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CODES 600
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

typedef struct slot {
    struct slot *next;
    uint64_t by_code[CODES];
    uint64_t bucket[NBUCKETS + 1]; /* the last one is +Inf */
    uint64_t micros;               /* total duration */
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
static void add(uint64_t *c, uint64_t n) { __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED); }
static uint64_t get(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }

void metrics_request(int status, double seconds)
{
    slot_t *s = my_slot();
    if (s == NULL)
        return;
    add(&s->by_code[status >= 100 && status < CODES ? status : 0], 1);
    size_t b = 0;
    while (b < NBUCKETS && seconds > BUCKETS[b])
        b++;
    add(&s->bucket[b], 1);
    add(&s->micros, (uint64_t)(seconds * 1e6));
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
    put(o, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
        resident * sysconf(_SC_PAGESIZE));
    put(o, "# HELP process_start_time_seconds Start time of the process since the epoch, in seconds.\n"
           "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
        (long long)started);
}

char *metrics_render(const metrics_value_t *extra, size_t nextra, size_t *len)
{
    uint64_t codes[CODES] = {0}, buckets[NBUCKETS + 1] = {0}, micros = 0, total = 0;
    out_t o = {malloc(8192), 0, 8192, 0};
    if (o.buf == NULL)
        return NULL;
    pthread_mutex_lock(&slots_lock);
    for (slot_t *s = slots; s != NULL; s = s->next) {
        for (int c = 0; c < CODES; c++)
            codes[c] += get(&s->by_code[c]);
        for (size_t b = 0; b <= NBUCKETS; b++)
            buckets[b] += get(&s->bucket[b]);
        micros += get(&s->micros);
    }
    pthread_mutex_unlock(&slots_lock);
    put(&o, "# HELP porrio_http_requests_total HTTP requests answered, by status code.\n"
            "# TYPE porrio_http_requests_total counter\n");
    for (int c = 0; c < CODES; c++)
        if (codes[c] != 0)
            put(&o, "porrio_http_requests_total{code=\"%d\"} %llu\n", c, (unsigned long long)codes[c]);
    put(&o, "# HELP porrio_http_request_duration_seconds Time from the request's first byte to its answer.\n"
            "# TYPE porrio_http_request_duration_seconds histogram\n");
    for (size_t b = 0; b <= NBUCKETS; b++) {
        total += buckets[b];
        if (b < NBUCKETS)
            put(&o, "porrio_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[b], (unsigned long long)total);
        else
            put(&o, "porrio_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)total);
    }
    put(&o, "porrio_http_request_duration_seconds_sum %.6f\nporrio_http_request_duration_seconds_count %llu\n",
        micros / 1e6, (unsigned long long)total);
    process_figures(&o);
    for (size_t i = 0; i < nextra; i++)
        put(&o, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", extra[i].name, extra[i].help, extra[i].name, extra[i].type,
            extra[i].name, extra[i].value);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

__attribute__((constructor)) static void note_start(void) { started = time(NULL); }
