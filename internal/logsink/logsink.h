/*
 * logsink: a copy of every log line for an external collector (README, Logs: LOG_SINK). Each line
 * jlog writes is also handed to logsink_line, which copies it into a bounded queue without
 * waiting; one writer thread sends the queued lines over TCP as RFC 5424 syslog messages with
 * octet counting (RFC 6587, 3.4.1): "LEN SP <PRI>1 TIMESTAMP HOSTNAME porrio PROCID - - JSON".
 * A full queue drops lines and counts them; stdout is never affected. The writer reconnects with
 * exponential backoff (100 ms up to 5 s), warns once per outage and says when delivery is back.
 */
#ifndef PORRIO_LOGSINK_H
#define PORRIO_LOGSINK_H
#include <stddef.h>
#include <stdint.h>

#define LOGSINK_SCHEME       "syslog+tcp://"
#define LOGSINK_DEFAULT_PORT 514
#define LOGSINK_QUEUE_LINES  8192       /* the queue's default length, in lines */
#define LOGSINK_QUEUE_BYTES  (8u << 20) /* and the bytes its lines may hold together */
#define LOGSINK_HOST_MAX     256

/**
 * Parses a LOG_SINK value "syslog+tcp://HOST[:PORT]" (HOST a hostname, an IPv4 literal or a
 * bracketed IPv6 literal; PORT 1-65535, 514 when absent; one trailing '/' allowed). The empty
 * string is valid and means off: host is then "". host may be NULL to only validate.
 * 0; -1 for anything else, or when host (hostlen bytes) is too small.
 */
int logsink_url_parse(const char *url, char *host, size_t hostlen, int *port);

/**
 * Writes one framed message into out: "LEN SP MSG", MSG as above, with the severity of jlog's
 * `level` (JLOG_DEBUG 7, JLOG_INFO 6, JLOG_WARN 4, JLOG_ERROR 3) under facility local0, the
 * TIMESTAMP taken from the line's "time" field ("-" when it has none), and `line` without its
 * final newline as the JSON. Returns the frame's length; 0 when it does not fit in cap.
 */
size_t logsink_frame(char *out, size_t cap, int level, const char *hostname, long procid, const char *line, size_t len);

/**
 * Starts the writer thread with a queue of `lines` (rounded up to a power of two, at least 2)
 * and sends to `url` (a valid LOG_SINK value; "" sends nothing). Call once, before the first
 * line should go out. 0; -1 with err when memory or the thread cannot be had.
 */
int logsink_start(const char *url, size_t lines, char *err, size_t errlen);

/** Sends to `url` from now on (a valid LOG_SINK value; "" stops sending and empties the queue). Thread-safe. */
void logsink_set(const char *url);

/**
 * Queues a copy of one log line (as jlog writes it, newline included) for the collector. Never
 * waits: when the queue is full, or logsink is off or not started, the line is dropped (counted
 * only when a collector is set). Safe from any thread; a jlog hook.
 */
void logsink_line(int level, const char *line, size_t len);

/** Lines dropped because the queue was full, since start. Thread-safe. */
uint64_t logsink_dropped(void);

/** Sends what is queued (for at most ~1 s when the collector is reachable), stops the writer and frees the queue. */
void logsink_stop(void);

#endif
