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
#include "auth/auth.h"
#include "jlog/jlog.h"
#include "logsink/logsink.h"
#include "porrio.h"
#include "reload/reload.h"
#include "route/route.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: porrio [--SETTING VALUE]...                serve\n"
                 "       porrio [--SETTING VALUE]... config set KEY [VALUE] | get KEY | list\n"
                 "       porrio [--SETTING VALUE]... store verify [DATA_DIR] | recover --to NEWDIR [DATA_DIR]\n"
                 "       porrio [--SETTING VALUE]... store export [FILE] | import [--merge] [FILE]\n"
                 "       porrio token new | hash                       (hash reads the token on stdin)\n"
                 "       porrio --version | --help\n\n"
                 "Each setting's value comes from, highest first: its flag, etcd (key <ETCD_PREFIX>NAME),\n"
                 "the environment (NAME), ./.env (NAME=value), its default.\n\n");
    for (int k = 0; k < CFG_COUNT; k++) {
        char def[256] = "";
        if (!cfg_default_is_computed(k)) /* computed defaults are told by the description */
            cfg_default(k, def, sizeof(def));
        fprintf(out, "  %-20s %-17s %s%s%s%s\n", cfg_flag(k), cfg_name(k), cfg_describe(k), def[0] ? " (default: " : "", def,
                def[0] ? ")" : "");
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

/* Said at start and whenever etcd empties the list: anyone may make the guarded writes. */
static void warn_open(void)
{
    jlog_log(JLOG_WARN, "ADMIN_TOKENS is empty: PUT /porras/{ID}/resultado, DELETE /porras/{ID} and POST /hitos are open to anyone",
             NULL);
}

/* A live setting changed in etcd: the watch thread hands it to the running service. */
static void apply_live(void *ctx, cfg_key_t k, const cfg_t *c)
{
    api_t *api = ctx;
    if (k == CFG_LOG_LEVEL) {
        jlog_set_level(c->log_level);
    } else if (k == CFG_MAX_BODY_BYTES) {
        server_set_max_body(api->server, c->max_body_bytes);
    } else if (k == CFG_SHUTDOWN_GRACE_S) {
        server_set_grace(api->server, c->shutdown_grace_s);
    } else if (k == CFG_SHUTDOWN_DELAY_S) {
        server_set_delay(api->server, c->shutdown_delay_s);
    } else if (k == CFG_LOG_SINK) {
        logsink_set(c->value[k]);
    } else if (k == CFG_CORS_ORIGINS) {
        if (server_set_cors(api->server, c->value[k]) != 0)
            jlog_log(JLOG_WARN, "out of memory: CORS_ORIGINS unchanged", NULL);
    } else if (k == CFG_TRUSTED_PROXIES) {
        if (server_set_trusted_proxies(api->server, c->value[k]) != 0)
            jlog_log(JLOG_ERROR, "out of memory: the previous TRUSTED_PROXIES stay in force", NULL);
    } else if (k == CFG_MAX_POOLS || k == CFG_MAX_BETS_PER_POOL || k == CFG_MAX_HITOS) {
        app_limits_t l = settings_limits(c);
        app_set_limits(api->app, &l);
    } else if (k == CFG_ADMIN_TOKENS) {
        if (auth_set(api->auth, c->value[k]) != 0)
            jlog_log(JLOG_ERROR, "out of memory: the previous ADMIN_TOKENS stay in force", NULL);
        else if (!auth_enabled(api->auth))
            warn_open();
    }
}

/* s as one shell word: as it is when it needs no quoting, else in single quotes. */
static void shell_quote(const char *s, char *out, size_t len)
{
    size_t n = 0;
    if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == strlen(s)) {
        snprintf(out, len, "%s", s);
        return;
    }
    out[n++] = '\'';
    for (; *s != '\0' && n + 5 < len; s++) {
        if (*s == '\'')
            memcpy(out + n, "'\\''", 4), n += 4; /* end the quote, an escaped quote, quote again */
        else
            out[n++] = *s;
    }
    out[n++] = '\'';
    out[n] = '\0';
}

/* Why the state could not be loaded, as one error line (and on stderr): for a damaged store, the
 * file, the offset and what the operator can do; nothing was changed. */
static void store_failure(const store_error_t *e, int bad_input, const char *dir)
{
    jlog_line_t l;
    char action[2048]; /* the text and the quoted directory twice, never cut */
    jlog_begin(&l, JLOG_ERROR,
               bad_input    ? "cannot load the milestones"
               : e->damaged ? "the store is damaged: not starting"
                            : "cannot open the store");
    if (e->file[0] != '\0')
        jlog_str(&l, "file", e->file);
    if (e->offset >= 0)
        jlog_int(&l, "offset", e->offset);
    jlog_str(&l, bad_input ? "error" : "problem", e->problem);
    if (e->damaged) {
        char q[600];
        shell_quote(dir, q, sizeof(q));
        snprintf(action, sizeof(action),
                 "nothing was changed. Run `porrio store verify %s` for a report, then `porrio store recover --to NEWDIR %s` "
                 "to copy every record that verifies into a new store, or restore a backup",
                 q, q);
        jlog_str(&l, "action", action);
    }
    jlog_end(&l);
    if (e->file[0] != '\0' && e->offset >= 0)
        fprintf(stderr, "porrio: %s at offset %lld: %s\n", e->file, e->offset, e->problem);
    else if (e->file[0] != '\0')
        fprintf(stderr, "porrio: %s: %s\n", e->file, e->problem);
    else
        fprintf(stderr, "porrio: %s\n", e->problem);
}

static int serve_logged(settings_t *s);

/* LOG_SINK's queue: its README length, or PORRIO_LOG_SINK_QUEUE lines (tests fill it quickly). */
static size_t sink_queue_lines(void)
{
    const char *v = getenv("PORRIO_LOG_SINK_QUEUE");
    long n = v != NULL ? strtol(v, NULL, 10) : 0;
    return n >= 2 && n <= 1L << 20 ? (size_t)n : LOGSINK_QUEUE_LINES;
}

static int serve(settings_t *s)
{
    cfg_t *c = &s->cfg;
    char err[512];
    /* before the first line, so that the collector receives the start-up's lines too */
    if (logsink_start(c->value[CFG_LOG_SINK], sink_queue_lines(), err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s\n", err);
        return 1;
    }
    jlog_set_hook(logsink_line);
    int rc = serve_logged(s);
    jlog_set_hook(NULL);
    logsink_stop();
    return rc;
}

static int serve_logged(settings_t *s)
{
    cfg_t *c = &s->cfg;
    char err[512];
    log_settings(c);
    jlog_set_level(c->log_level);
    if (s->etcd != NULL && s->etcd_err[0] != '\0')
        jlog_log(JLOG_WARN, "etcd unreachable: settings from flags, environment, .env and defaults", "endpoints",
                 c->value[CFG_ETCD_ENDPOINTS], "error", s->etcd_err, NULL);

    struct stat st;
    const char *hitos_file = c->value[CFG_HITOS_FILE];
    if (strcmp(c->value[CFG_STORE], "etcd") == 0 && s->etcd == NULL) {
        fprintf(stderr, "porrio: STORE=etcd (from %s) needs ETCD_ENDPOINTS: %s\n", cfg_source_name(c->source[CFG_STORE]),
                s->etcd_err);
        return 2;
    }
    if (c->source[CFG_HITOS_FILE] != CFG_SRC_DEFAULT && stat(hitos_file, &st) != 0) {
        fprintf(stderr, "porrio: HITOS_FILE=%s (from %s): file does not exist\n", hitos_file,
                cfg_source_name(c->source[CFG_HITOS_FILE]));
        return 2;
    }
    if (hitos_file[0] == '\0')
        jlog_log(JLOG_WARN, "no milestones file found: serving an empty list", "searched",
                 "./hitos.json, /data/hitos.json, ./data/hitos.json", NULL);
    /* the port first: a start that cannot listen leaves the store as it found it */
    api_t api = {.started_at = time(NULL), .auth = auth_new(c->value[CFG_ADMIN_TOKENS])};
    route_table_t *routes = route_table_new();
    if (api.auth == NULL || routes == NULL || api_register(routes, &api, err, sizeof(err)) != 0) {
        jlog_log(JLOG_ERROR, "cannot build the routes", "error", routes && api.auth ? err : "out of memory", NULL);
        route_table_free(routes);
        auth_free(api.auth);
        return 1;
    }
    if (!auth_enabled(api.auth))
        warn_open();
    server_opts_t o = {.host = c->value[CFG_HOST],
                       .port = c->port,
                       .workers = c->workers,
                       .static_dir = c->value[CFG_STATIC_DIR],
                       .max_body_bytes = c->max_body_bytes,
                       .shutdown_grace_s = c->shutdown_grace_s,
                       .shutdown_delay_s = c->shutdown_delay_s,
                       .cors_origins = c->value[CFG_CORS_ORIGINS],
                       .trusted_proxies = c->value[CFG_TRUSTED_PROXIES],
                       .routes = routes};
    if ((api.server = server_new(&o, err, sizeof(err))) == NULL) {
        jlog_log(JLOG_ERROR, "cannot listen", "error", err, NULL);
        fprintf(stderr, "porrio: %s\n", err);
        route_table_free(routes);
        auth_free(api.auth);
        return 1;
    }
    int bad_input = 0;
    store_error_t se;
    app_opts_t ao = settings_app_opts(s);
    if ((api.app = app_open(&ao, &bad_input, &se)) == NULL || server_watch(api.server, app_ledger(api.app)) != 0) {
        if (api.app == NULL)
            store_failure(&se, bad_input, c->value[CFG_DATA_DIR]);
        app_close(api.app);
        server_free(api.server);
        route_table_free(routes);
        auth_free(api.auth);
        return bad_input ? 2 : 1;
    }

    api_use_epoch(app_epoch(api.app));
    reload_t *watch = NULL;
    if (s->etcd != NULL) {
        reload_opts_t ro = {.cfg = c,
                            .etcd = s->etcd,
                            .prefix = c->value[CFG_ETCD_PREFIX],
                            .revision = s->revision,
                            .apply = apply_live,
                            .ctx = &api};
        memcpy(ro.layers, s->layers, sizeof(ro.layers));
        if ((watch = reload_start(&ro)) == NULL)
            jlog_log(JLOG_WARN, "cannot start the etcd watch: settings will not follow etcd", NULL);
    }
    int rc = server_run(api.server) == 0 ? 0 : 1;
    reload_stop(watch);
    app_close(api.app); /* waits for the last fsync */
    jlog_log(JLOG_INFO, "stopped", NULL);
    server_free(api.server);
    route_table_free(routes);
    auth_free(api.auth); /* after the watch and the workers stopped: no one checks or swaps it */
    return rc;
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
    server_block_signals(); /* before any thread exists, so the signalfd alone receives them */
    settings_t s;
    char err[512];
    int next = argc, rc;
    int flags_ok = settings_flags(&s, argc, argv, &next, err, sizeof(err)) == 0;
    int config = flags_ok && next < argc && strcmp(argv[next], "config") == 0;
    int store = flags_ok && next < argc && strcmp(argv[next], "store") == 0;
    if (flags_ok && next < argc && strcmp(argv[next], "token") == 0) { /* needs no setting, nor etcd */
        settings_free(&s);
        return token_command(argc - next, argv + next);
    }
    if (config || store)
        jlog_set_fd(2); /* `config get` answers on stdout: etcd's warnings go to stderr */
    if (!flags_ok || settings_load(&s, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s\n", err);
        settings_free(&s);
        return 2;
    }
    if (config) {
        rc = config_command(&s, argc - next, argv + next);
    } else if (store) {
        rc = store_command(&s, argc - next, argv + next);
    } else if (next < argc) {
        fprintf(stderr, "porrio: unexpected argument '%s' (see porrio --help)\n", argv[next]);
        rc = 2;
    } else {
        rc = serve(&s);
    }
    settings_free(&s);
    return rc;
}
