/*
 * metrics: counters for GET /metrics, in Prometheus text format 0.0.4. Each thread counts into
 * its own slot (no lock, no shared cache line on the request path); a scrape adds the slots up.
 * The request counter and the duration histogram are labelled by route, method and code.
 */
#ifndef PORRIO_METRICS_H
#define PORRIO_METRICS_H
#include <stddef.h>

/**
 * Counts one finished request: the route's template (or "static", "unknown"), its method
 * ("GET" ... "OPTIONS", else "other"), its status and how long it took. route and method must
 * live as long as the process (the route table's templates, string literals): they are kept by
 * pointer, so their number bounds the series. Cannot fail.
 */
void metrics_request(const char *route, const char *method, int status, double seconds);

/** A gauge or counter the caller supplies at scrape time. */
typedef struct metrics_value {
    const char *name, *type, *help; /* type: "counter" or "gauge" */
    double value;
} metrics_value_t;

/**
 * Writes the exposition text: the request counters and duration histogram, process figures,
 * then `extra`. Returns a malloc'd NUL-terminated string (caller frees) and its length in *len;
 * NULL when out of memory.
 */
char *metrics_render(const metrics_value_t *extra, size_t nextra, size_t *len);

#endif
