/*
 * reload: follows the settings in etcd after start. A thread runs an etcd watch on the prefix;
 * each change is validated and, for settings applied live (LOG_LEVEL, MAX_BODY_BYTES, LOG_SINK,
 * SHUTDOWN_GRACE_S, SHUTDOWN_DELAY_S, CORS_ORIGINS, MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS,
 * ADMIN_TOKENS, TRUSTED_PROXIES), handed to the service at once. A change to any other setting is logged as
 * needing a restart. A deleted key falls back to environment / .env / default. etcd going away
 * keeps the last values; the watch reconnects and resumes from the last revision it saw.
 */
#ifndef PORRIO_RELOAD_H
#define PORRIO_RELOAD_H
#include <stdint.h>

#include "config/config.h"
#include "etcd/etcd.h"

typedef struct reload reload_t;

typedef struct reload_opts {
    cfg_t *cfg;                                            /* the settings in force; updated by the watch thread */
    cfg_layer_t *layers[CFG_SRC_COUNT];                    /* flag, env, dotenv: what a deleted key falls back to */
    etcd_t *etcd;                                          /* borrowed; outlives the reload */
    const char *prefix;                                    /* ETCD_PREFIX */
    int64_t revision;                                      /* the revision read at start, 0 when etcd was not reached */
    void (*apply)(void *ctx, cfg_key_t k, const cfg_t *c); /* a live setting changed */
    void *ctx;
} reload_opts_t;

/**
 * Starts the watch thread. opts is copied; what it points to must outlive the reload. NULL when
 * the thread cannot start or memory runs out.
 */
reload_t *reload_start(const reload_opts_t *opts);

/**
 * Applies one change as the watch would: `value` NULL for a deleted key. Returns 1 when a live
 * setting changed, 0 otherwise (ignored, invalid, unchanged or needing a restart — each logged).
 * Called by the watch thread only (exposed for tests).
 */
int reload_change(const reload_opts_t *opts, const char *name, const char *value);

/** Stops the thread (within ~200 ms) and frees it. NULL is a no-op. */
void reload_stop(reload_t *r);

#endif
