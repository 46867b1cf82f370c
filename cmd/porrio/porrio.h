/* What the entry point's files share: the settings of one run, loaded from every source. */
#ifndef PORRIO_CMD_H
#define PORRIO_CMD_H
#include <stdint.h>

#include "app/app.h"
#include "config/config.h"
#include "etcd/etcd.h"

#define ETCD_START_TIMEOUT_MS 1000 /* at most 1 s for etcd at start, all endpoints together (README, Settings) */

typedef struct settings {
    cfg_layer_t flags, etcd_vals, env, dotenv; /* etcd_vals: what etcd holds under the prefix */
    cfg_layer_t *layers[CFG_SRC_COUNT];
    cfg_t cfg;
    etcd_t *etcd;          /* NULL when ETCD_ENDPOINTS is empty */
    int64_t revision;      /* etcd's revision when read, 0 when not reached */
    char etcd_err[512];    /* why etcd was not reached, "" when it was */
    char data_prefix[160]; /* STORE=etcd: <ETCD_PREFIX>data/, which settings_app_opts points at */
} settings_t;

/**
 * Empties s and parses the setting flags from argv[1] on. 0, *next being the first argument that
 * is not a flag; -1 with err for bad usage (exit 2). Either way settings_free(s) afterwards.
 */
int settings_flags(settings_t *s, int argc, char **argv, int *next, char *err, size_t errlen);
/**
 * After settings_flags: loads the environment, ./.env and the keys under ETCD_PREFIX, then
 * resolves every setting. Invalid settings in etcd are warned about through jlog and skipped.
 * 0; -1 with err for an invalid setting from any other source (exit 2).
 */
int settings_load(settings_t *s, char *err, size_t errlen);
/** Frees what settings_flags and settings_load allocated. */
void settings_free(settings_t *s);

/** The limits the settings give the state (MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS). */
app_limits_t settings_limits(const cfg_t *c);

/**
 * How the settings open the state: the one place that fills app_opts_t, for serving and for
 * every `porrio store` command (which may replace data_dir). Store warnings and news go to the
 * log. Borrows c's strings: valid while c is. Cannot fail.
 */
app_opts_t settings_app_opts(settings_t *s);

/** `porrio store verify|recover|export|import …`: argv[0] is "store". Returns the exit code. */
int store_command(settings_t *s, int argc, char **argv);

/** `porrio config set|get|list …`: argv[0] is "config". Returns the exit code. */
int config_command(settings_t *s, int argc, char **argv);

/** `porrio token new|hash`: argv[0] is "token". Needs no setting. Returns the exit code. */
int token_command(int argc, char **argv);

#endif
