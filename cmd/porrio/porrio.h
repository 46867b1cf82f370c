/* What the entry point's files share: the settings of one run, loaded from every source. */
#ifndef PORRIO_CMD_H
#define PORRIO_CMD_H
#include <stdint.h>

#include "config/config.h"
#include "etcd/etcd.h"

#define ETCD_START_TIMEOUT_MS 1000 /* SPEC §4: at most 1 s for etcd at start, all endpoints together */

typedef struct settings {
    cfg_layer_t flags, etcd_vals, env, dotenv; /* etcd_vals: what etcd holds under the prefix */
    cfg_layer_t *layers[CFG_SRC_COUNT];
    cfg_t cfg;
    etcd_t *etcd;        /* NULL when ETCD_ENDPOINTS is empty */
    int64_t revision;    /* etcd's revision when read, 0 when not reached */
    char etcd_err[512];  /* why etcd was not reached, "" when it was */
} settings_t;

/**
 * Loads flags (from argv[1]), the environment, ./.env and, when `with_etcd`, the keys under
 * ETCD_PREFIX, then resolves them. Invalid settings warn through jlog when they come from etcd.
 * 0; -1 with err for bad usage or an invalid setting (exit 2). *next: the first argument that
 * is not a flag.
 */
int settings_load(settings_t *s, int argc, char **argv, int *next, int with_etcd, char *err, size_t errlen);
void settings_free(settings_t *s);

/** `porrio config set|get|list …`: argv[0] is "config". Returns the exit code. */
int config_command(settings_t *s, int argc, char **argv);

#endif
