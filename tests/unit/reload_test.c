/* reload_change: one etcd change as the watch applies it (README: Settings): live settings applied and
 * handed to the service, restart-only ones warned about, invalid values refused, deleted keys
 * falling back to environment / .env / default, flags winning, unknown keys ignored. The log
 * lines (jlog writes to fd 1) are captured into a temporary file. */
#include "config/config.h"
#include "jlog/jlog.h"
#include "reload/reload.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char logbuf[8192];
static int applied[CFG_COUNT], applied_total;

static void apply(void *ctx, cfg_key_t k, const cfg_t *c)
{
    (void)ctx, (void)c;
    applied[k]++;
    applied_total++;
}

typedef struct {
    cfg_layer_t flags, etcd, env, dotenv;
    cfg_t cfg;
    reload_opts_t o;
} fixture_t;

/* Settings resolved from the given layers (set by the caller before), as at start. */
static void start(fixture_t *f)
{
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, &f->dotenv, &f->env, &f->etcd, &f->flags};
    char err[256];
    EXPECT_INT(cfg_resolve(&f->cfg, layers, NULL, NULL, err, sizeof err), 0);
    memset(&f->o, 0, sizeof f->o);
    f->o.cfg = &f->cfg;
    f->o.layers[CFG_SRC_FLAG] = &f->flags;
    f->o.layers[CFG_SRC_ENV] = &f->env;
    f->o.layers[CFG_SRC_DOTENV] = &f->dotenv;
    f->o.prefix = "p:";
    f->o.apply = apply;
    memset(applied, 0, sizeof applied);
    applied_total = 0;
}

static void finish(fixture_t *f)
{
    cfg_free(&f->cfg);
    cfg_layer_free(&f->flags);
    cfg_layer_free(&f->etcd);
    cfg_layer_free(&f->env);
    cfg_layer_free(&f->dotenv);
}

/* reload_change with fd 1 redirected: its result; what it logged in logbuf. */
static int change(fixture_t *f, const char *name, const char *value)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDOUT_FILENO), rc;
    fflush(stdout);
    dup2(fileno(tmp), STDOUT_FILENO);
    rc = reload_change(&f->o, name, value);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(logbuf, 1, sizeof logbuf - 1, tmp);
    logbuf[n] = '\0';
    fclose(tmp);
    return rc;
}

#define LOGGED(s)        EXPECT(strstr(logbuf, (s)) != NULL)
#define NOTHING_LOGGED() EXPECT_STR(logbuf, "")

static void test_live_setting_applied(void)
{
    fixture_t f = {0};
    start(&f);
    EXPECT_INT(change(&f, "LOG_LEVEL", "warn"), 1);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "warn");
    EXPECT_INT(f.cfg.source[CFG_LOG_LEVEL], CFG_SRC_ETCD);
    EXPECT_INT(f.cfg.log_level, CFG_LOG_WARN);
    EXPECT_INT(applied[CFG_LOG_LEVEL], 1);
    LOGGED("\"msg\":\"setting changed\"");
    LOGGED("\"name\":\"LOG_LEVEL\"");
    LOGGED("\"value\":\"warn\"");

    EXPECT_INT(change(&f, "MAX_BODY_BYTES", "100"), 1);
    EXPECT_INT(f.cfg.max_body_bytes, 100);
    EXPECT_INT(applied[CFG_MAX_BODY_BYTES], 1);
    EXPECT_INT(change(&f, "SHUTDOWN_GRACE_S", "0"), 1);
    EXPECT_INT(f.cfg.shutdown_grace_s, 0);
    EXPECT_INT(applied[CFG_SHUTDOWN_GRACE_S], 1);
    EXPECT_INT(change(&f, "CORS_ORIGINS", "https://a.example"), 1);
    EXPECT_STR(f.cfg.value[CFG_CORS_ORIGINS], "https://a.example");
    EXPECT_INT(applied[CFG_CORS_ORIGINS], 1);
    EXPECT_INT(change(&f, "CORS_ORIGINS", "a.example"), 0); /* refused: the old list stays */
    EXPECT_STR(f.cfg.value[CFG_CORS_ORIGINS], "https://a.example");
    finish(&f);
}

static void test_same_value_is_no_change(void)
{
    fixture_t f = {0};
    cfg_layer_set(&f.etcd, CFG_LOG_LEVEL, "debug");
    start(&f);
    EXPECT_INT(change(&f, "LOG_LEVEL", "debug"), 0);
    EXPECT_INT(applied_total, 0);
    NOTHING_LOGGED();
    finish(&f);
}

static void test_restart_only_setting_warned(void)
{
    fixture_t f = {0};
    start(&f);
    EXPECT_INT(change(&f, "PORT", "8080"), 0);
    EXPECT_STR(f.cfg.value[CFG_PORT], "3000");
    EXPECT_INT(f.cfg.port, 3000);
    EXPECT_INT(applied_total, 0);
    LOGGED("\"level\":\"warn\"");
    LOGGED("restart");
    LOGGED("\"name\":\"PORT\"");
    LOGGED("\"value\":\"8080\"");
    finish(&f);
}

static void test_invalid_value_refused(void)
{
    fixture_t f = {0};
    cfg_layer_set(&f.env, CFG_LOG_LEVEL, "warn");
    start(&f);
    EXPECT_INT(change(&f, "LOG_LEVEL", "loud"), 0);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "warn");
    EXPECT_INT(f.cfg.source[CFG_LOG_LEVEL], CFG_SRC_ENV);
    EXPECT_INT(f.cfg.log_level, CFG_LOG_WARN);
    EXPECT_INT(applied_total, 0);
    LOGGED("\"level\":\"warn\"");
    LOGGED("\"name\":\"LOG_LEVEL\"");
    LOGGED("\"value\":\"loud\"");
    EXPECT_INT(change(&f, "MAX_BODY_BYTES", "0"), 0);
    EXPECT_INT(f.cfg.max_body_bytes, 65536);
    LOGGED("\"value\":\"0\"");
    finish(&f);
}

static void test_deleted_key_falls_back(void)
{
    fixture_t f = {0};
    cfg_layer_set(&f.etcd, CFG_LOG_LEVEL, "debug");
    cfg_layer_set(&f.env, CFG_LOG_LEVEL, "warn");
    cfg_layer_set(&f.dotenv, CFG_LOG_LEVEL, "error");
    cfg_layer_set(&f.etcd, CFG_MAX_BODY_BYTES, "100");
    cfg_layer_set(&f.dotenv, CFG_MAX_BODY_BYTES, "2000");
    cfg_layer_set(&f.etcd, CFG_SHUTDOWN_GRACE_S, "1");
    start(&f);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "debug");

    EXPECT_INT(change(&f, "LOG_LEVEL", NULL), 1); /* env beats .env */
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "warn");
    EXPECT_INT(f.cfg.source[CFG_LOG_LEVEL], CFG_SRC_ENV);
    EXPECT_INT(f.cfg.log_level, CFG_LOG_WARN);
    EXPECT_INT(change(&f, "MAX_BODY_BYTES", NULL), 1); /* .env */
    EXPECT_INT(f.cfg.max_body_bytes, 2000);
    EXPECT_INT(f.cfg.source[CFG_MAX_BODY_BYTES], CFG_SRC_DOTENV);
    EXPECT_INT(change(&f, "SHUTDOWN_GRACE_S", NULL), 1); /* default */
    EXPECT_INT(f.cfg.shutdown_grace_s, 10);
    EXPECT_INT(f.cfg.source[CFG_SHUTDOWN_GRACE_S], CFG_SRC_DEFAULT);
    EXPECT_INT(applied_total, 3);
    finish(&f);
}

static void test_deleted_key_same_value_other_source(void)
{
    /* etcd and env both say warn: deleting the key changes the source, not the level */
    fixture_t f = {0};
    cfg_layer_set(&f.etcd, CFG_LOG_LEVEL, "warn");
    cfg_layer_set(&f.env, CFG_LOG_LEVEL, "warn");
    start(&f);
    change(&f, "LOG_LEVEL", NULL);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "warn");
    EXPECT_INT(f.cfg.source[CFG_LOG_LEVEL], CFG_SRC_ENV);
    finish(&f);
}

static void test_flag_wins(void)
{
    fixture_t f = {0};
    cfg_layer_set(&f.flags, CFG_LOG_LEVEL, "info");
    start(&f);
    EXPECT_INT(change(&f, "LOG_LEVEL", "error"), 0);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "info");
    EXPECT_INT(f.cfg.source[CFG_LOG_LEVEL], CFG_SRC_FLAG);
    EXPECT_INT(applied_total, 0);
    LOGGED("flag");
    EXPECT_INT(change(&f, "LOG_LEVEL", NULL), 0);
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "info");
    finish(&f);
}

static void test_unknown_and_never_from_etcd_ignored(void)
{
    fixture_t f = {0};
    cfg_layer_set(&f.env, CFG_ETCD_PREFIX, "p:");
    start(&f);
    EXPECT_INT(change(&f, "NOPE", "1"), 0);
    LOGGED("\"name\":\"NOPE\"");
    EXPECT_INT(change(&f, "ETCD_PREFIX", "q:"), 0);
    EXPECT_STR(f.cfg.value[CFG_ETCD_PREFIX], "p:");
    EXPECT_INT(change(&f, "ETCD_ENDPOINTS", "http://127.0.0.1:1"), 0);
    EXPECT_STR(f.cfg.value[CFG_ETCD_ENDPOINTS], "http://127.0.0.1:2379");
    EXPECT_INT(change(&f, "log_level", "debug"), 0); /* names are case-sensitive */
    EXPECT_STR(f.cfg.value[CFG_LOG_LEVEL], "info");
    EXPECT_INT(applied_total, 0);
    finish(&f);
}

int main(void)
{
    jlog_set_level(JLOG_DEBUG);
    RUN(test_live_setting_applied);
    RUN(test_same_value_is_no_change);
    RUN(test_restart_only_setting_warned);
    RUN(test_invalid_value_refused);
    RUN(test_deleted_key_falls_back);
    RUN(test_deleted_key_same_value_other_source);
    RUN(test_flag_wins);
    RUN(test_unknown_and_never_from_etcd_ignored);
    return TEST_END();
}
