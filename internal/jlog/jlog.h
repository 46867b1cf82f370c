/*
 * jlog: structured logs, one JSON object per line on stdout.
 *
 * A line is built in a fixed buffer (every string JSON-escaped, so no input can end the line or
 * add a field) and written whole under one lock, so lines from different threads never
 * interleave. Event-loop threads may buffer their lines and flush them once per loop turn.
 */
#ifndef PORRIO_JLOG_H
#define PORRIO_JLOG_H
#include <stddef.h>

enum { JLOG_DEBUG, JLOG_INFO, JLOG_WARN, JLOG_ERROR };

#define JLOG_LINE_MAX 8192

typedef struct jlog_line {
    char buf[JLOG_LINE_MAX];
    size_t len;
    int level;
} jlog_line_t;

/** Sets the lowest level written by jlog_log and jlog_enabled (thread-safe, takes effect at once). */
void jlog_set_level(int level);
/** Non-zero when a line at `level` would be written. */
int jlog_enabled(int level);

/**
 * Starts a line with "time", "level" and "msg". The line is written by jlog_end whatever the
 * current level: callers that honour the level check jlog_enabled first.
 */
void jlog_begin(jlog_line_t *l, int level, const char *msg);
/** Adds a string field (NULL becomes JSON null); a value too long for the line is cut short. */
void jlog_str(jlog_line_t *l, const char *key, const char *val);
/** Adds a string field from `len` bytes that need not be NUL-terminated. */
void jlog_strn(jlog_line_t *l, const char *key, const char *val, size_t len);
/** Adds an integer field. */
void jlog_int(jlog_line_t *l, const char *key, long long val);
/** Adds a number field with `decimals` digits after the point (null for NaN or an infinity). */
void jlog_num(jlog_line_t *l, const char *key, double val, int decimals);
/** Closes the line and writes it (or appends it to this thread's buffer, see jlog_buffer). */
void jlog_end(jlog_line_t *l);

/**
 * Logs `msg` at `level` when enabled, with NULL-terminated pairs of string key and value:
 * jlog_log(JLOG_WARN, "etcd unreachable", "endpoint", ep, "error", why, NULL).
 */
void jlog_log(int level, const char *msg, ...);

/** Sends every line to `fd` instead of stdout (a command whose stdout is its answer uses 2). */
void jlog_set_fd(int fd);

/**
 * Also hands every finished line (newline included) to `hook`, on the thread that logs it, as
 * it is written or buffered: the hook must not wait (logsink_line). NULL removes it.
 */
void jlog_set_hook(void (*hook)(int level, const char *line, size_t len));

/** Makes the calling thread buffer its lines until jlog_flush (on = 1) or write at once (0). */
void jlog_buffer(int on);
/** Writes the calling thread's buffered lines, if any. */
void jlog_flush(void);

#endif
