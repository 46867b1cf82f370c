/*
 * porrio: the course's hitos and porras services as one static binary.
 * Settings come from flags, etcd, the environment, ./.env and defaults (highest first); see
 * internal/config. Exit codes: 0 success, 2 bad usage or an invalid setting, 1 a run-time failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api.h"
#include "app/app.h"
#include "config/config.h"
#include "jlog/jlog.h"
#include "route/route.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: porrio [--SETTING VALUE]...   serve\n"
                 "       porrio --version | --help\n\n"
                 "Settings (flag, environment / etcd name, default), highest source first:\n"
                 "flag > etcd (<ETCD_PREFIX>NAME) > environment > ./.env > default.\n\n");
    for (int k = 0; k < CFG_COUNT; k++) {
        char def[256];
        cfg_default(k, def, sizeof(def));
        fprintf(out, "  %-22s %-18s %s (default: %s)\n", cfg_flag(k), cfg_name(k), cfg_describe(k),
                cfg_default_is_computed(k) ? (k == CFG_WORKERS ? "number of CPUs" : "first of ./hitos.json, /data/hitos.json, ./data/hitos.json")
                                           : def);
    }
}

static void log_settings(const cfg_t *c)
{
    for (int k = 0; k < CFG_COUNT; k++) {
        jlog_line_t l;
        jlog_begin(&l, JLOG_INFO, "setting");
        jlog_str(&l, "name", cfg_name(k));
        jlog_str(&l, "value", c->value[k]);
        jlog_str(&l, "source", cfg_source_name(c->source[k]));
        jlog_end(&l);
    }
}

static void warn_setting(void *ctx, cfg_key_t k, const char *value, const char *message)
{
    (void)ctx;
    jlog_line_t l;
    jlog_begin(&l, JLOG_WARN, "invalid setting ignored");
    jlog_str(&l, "name", cfg_name(k));
    jlog_str(&l, "value", value);
    jlog_str(&l, "error", message);
    jlog_end(&l);
}

static void warn_store(const char *msg) { jlog_log(JLOG_WARN, "store", "detail", msg, NULL); }

static void release(void *ctx, uint64_t upto, int ok) { server_release(ctx, upto, ok); }

/* Loads every layer but etcd's and resolves them; exits 2 on any invalid input. */
static void load_settings(cfg_t *c, int argc, char **argv)
{
    cfg_layer_t flags = {0}, env = {0}, dotenv = {0};
    char err[512];
    int next = 0;
    if (cfg_layer_flags(&flags, argc, argv, &next, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s\n", err);
        exit(2);
    }
    if (next < argc) {
        fprintf(stderr, "porrio: unexpected argument '%s' (see porrio --help)\n", argv[next]);
        exit(2);
    }
    if (cfg_layer_env(&env) != 0 || cfg_layer_dotenv_file(&dotenv, ".env", err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s\n", err);
        exit(2);
    }
    cfg_layer_t *layers[CFG_SRC_COUNT] = {[CFG_SRC_DOTENV] = &dotenv, [CFG_SRC_ENV] = &env, [CFG_SRC_FLAG] = &flags};
    if (cfg_resolve(c, layers, warn_setting, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s\n", err);
        exit(2);
    }
    cfg_layer_free(&flags);
    cfg_layer_free(&env);
    cfg_layer_free(&dotenv);
}

static int serve(int argc, char **argv)
{
    cfg_t c = {0};
    char err[512];
    server_block_signals(); /* before any thread exists, so the signalfd alone receives them */
    load_settings(&c, argc, argv);
    log_settings(&c);
    jlog_set_level(c.log_level);

    struct stat st;
    if (c.source[CFG_HITOS_FILE] != CFG_SRC_DEFAULT && stat(c.value[CFG_HITOS_FILE], &st) != 0) {
        fprintf(stderr, "porrio: HITOS_FILE=%s (from %s): file does not exist\n", c.value[CFG_HITOS_FILE],
                cfg_source_name(c.source[CFG_HITOS_FILE]));
        return 2;
    }

    const char *hitos_file = c.value[CFG_HITOS_FILE];
    if (hitos_file[0] == '\0')
        jlog_log(JLOG_WARN, "no milestones file found: serving an empty list", "searched",
                 "./hitos.json, /data/hitos.json, ./data/hitos.json", NULL);
    int bad_input = 0;
    app_opts_t ao = {.data_dir = c.value[CFG_DATA_DIR], .hitos_file = hitos_file, .warn = warn_store};
    app_t *app = app_open(&ao, &bad_input, err, sizeof(err));
    if (app == NULL) {
        jlog_log(JLOG_ERROR, bad_input ? "cannot load the milestones" : "cannot open the store", "error", err, NULL);
        fprintf(stderr, "porrio: %s\n", err);
        return bad_input ? 2 : 1;
    }

    api_t api = {.started_at = time(NULL), .app = app};
    route_table_t *routes = route_table_new();
    if (routes == NULL || api_register(routes, &api, err, sizeof(err)) != 0) {
        jlog_log(JLOG_ERROR, "cannot build the routes", "error", routes ? err : "out of memory", NULL);
        return 1;
    }
    server_opts_t o = {.host = c.value[CFG_HOST],
                       .port = c.port,
                       .workers = c.workers,
                       .static_dir = c.value[CFG_STATIC_DIR],
                       .max_body_bytes = c.max_body_bytes,
                       .shutdown_grace_s = c.shutdown_grace_s,
                       .routes = routes};
    if ((api.server = server_new(&o, err, sizeof(err))) == NULL) {
        jlog_log(JLOG_ERROR, "cannot listen", "error", err, NULL);
        fprintf(stderr, "porrio: %s\n", err);
        return 1;
    }
    app_on_durable(app, release, api.server);
    server_run(api.server);
    app_close(app); /* waits for the last fsync */
    jlog_log(JLOG_INFO, "stopped", NULL);
    server_free(api.server);
    route_table_free(routes);
    cfg_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("porrio %s\n", PORRIO_VERSION);
            return 0;
        }
    }
    return serve(argc, argv);
}
