#include "config/config.h"
#include "test.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];

static void clear_env(void)
{
    for (int k = 0; k < CFG_COUNT; k++)
        unsetenv(cfg_name((cfg_key_t)k));
}

static int valid(cfg_key_t k, const char *v)
{
    return cfg_validate(k, v, err, sizeof err) == 0;
}

static int parse(cfg_layer_t *l, const char *text)
{
    err[0] = '\0';
    return cfg_layer_dotenv_parse(l, text, strlen(text), ".env", err, sizeof err);
}

static int flags(cfg_layer_t *l, int argc, char **argv, int *next)
{
    err[0] = '\0';
    return cfg_layer_flags(l, argc, argv, next, err, sizeof err);
}

static void test_table_round_trip(void)
{
    for (int k = 0; k < CFG_COUNT; k++) {
        const char *name = cfg_name((cfg_key_t)k);
        char flag[64] = "--";
        EXPECT(name != NULL);
        EXPECT_INT(cfg_lookup(name), k);
        for (size_t i = 0; name[i]; i++)
            flag[2 + i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
        EXPECT_STR(cfg_flag((cfg_key_t)k), flag);
        EXPECT_INT(cfg_flag_lookup(flag), k);
        EXPECT(cfg_allowed((cfg_key_t)k) && *cfg_allowed((cfg_key_t)k));
        EXPECT(cfg_describe((cfg_key_t)k) && *cfg_describe((cfg_key_t)k));
    }
    EXPECT_STR(cfg_flag(CFG_MAX_BODY_BYTES), "--max-body-bytes");
    EXPECT_INT(cfg_lookup("port"), -1);
    EXPECT_INT(cfg_lookup("NOPE"), -1);
    EXPECT_INT(cfg_lookup(""), -1);
    EXPECT_INT(cfg_flag_lookup("--PORT"), -1);
    EXPECT(cfg_name(CFG_COUNT) == NULL);
    EXPECT_STR(cfg_source_name(CFG_SRC_DEFAULT), "default");
    EXPECT_STR(cfg_source_name(CFG_SRC_DOTENV), "dotenv");
    EXPECT_STR(cfg_source_name(CFG_SRC_ENV), "env");
    EXPECT_STR(cfg_source_name(CFG_SRC_ETCD), "etcd");
    EXPECT_STR(cfg_source_name(CFG_SRC_FLAG), "flag");
    EXPECT(cfg_source_name(CFG_SRC_COUNT) == NULL);
}

static void test_key_properties(void)
{
    for (int k = 0; k < CFG_COUNT; k++) {
        EXPECT_INT(cfg_is_live((cfg_key_t)k), k == CFG_LOG_LEVEL || k == CFG_MAX_BODY_BYTES || k == CFG_SHUTDOWN_GRACE_S ||
                                                  k == CFG_CORS_ORIGINS || k == CFG_MAX_POOLS || k == CFG_MAX_BETS_PER_POOL ||
                                                  k == CFG_MAX_HITOS || k == CFG_ADMIN_TOKENS || k == CFG_LOG_SINK ||
                                                  k == CFG_SHUTDOWN_DELAY_S || k == CFG_TRUSTED_PROXIES);
        EXPECT_INT(cfg_from_etcd((cfg_key_t)k), k != CFG_ETCD_ENDPOINTS && k != CFG_ETCD_PREFIX);
        EXPECT_INT(cfg_default_is_computed((cfg_key_t)k), k == CFG_WORKERS || k == CFG_HITOS_FILE);
    }
}

static void test_log_levels(void)
{
    const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        EXPECT_INT(cfg_log_level_parse(names[i]), i);
        EXPECT_STR(cfg_log_level_name(i), names[i]);
    }
    EXPECT_INT(CFG_LOG_DEBUG, 0);
    EXPECT_INT(CFG_LOG_ERROR, 3);
    EXPECT_INT(cfg_log_level_parse("INFO"), -1);
    EXPECT_INT(cfg_log_level_parse("warning"), -1);
    EXPECT_INT(cfg_log_level_parse(""), -1);
    EXPECT(cfg_log_level_name(4) == NULL);
    EXPECT(cfg_log_level_name(-1) == NULL);
}

static void test_validate_integers(void)
{
    EXPECT(!valid(CFG_PORT, "abc"));
    EXPECT_STR(err, "must be an integer from 1 to 65535");
    EXPECT(!valid(CFG_PORT, "70000"));
    EXPECT(!valid(CFG_PORT, "65536"));
    EXPECT(!valid(CFG_PORT, "0"));
    EXPECT(!valid(CFG_PORT, ""));
    EXPECT(!valid(CFG_PORT, "30 00"));
    EXPECT(!valid(CFG_PORT, " 3000"));
    EXPECT(!valid(CFG_PORT, "3000 "));
    EXPECT(!valid(CFG_PORT, "+3000"));
    EXPECT(!valid(CFG_PORT, "-3000"));
    EXPECT(!valid(CFG_PORT, "3000x"));
    EXPECT(!valid(CFG_PORT, "0x50"));
    EXPECT(!valid(CFG_PORT, "18446744073709551617"));
    EXPECT(valid(CFG_PORT, "1"));
    EXPECT(valid(CFG_PORT, "65535"));
    EXPECT(valid(CFG_PORT, "08080"));
    EXPECT(!valid(CFG_WORKERS, "0"));
    EXPECT_STR(err, "must be an integer from 1 to 256");
    EXPECT(!valid(CFG_WORKERS, "257"));
    EXPECT(valid(CFG_WORKERS, "256"));
    EXPECT(valid(CFG_CORS_ORIGINS, ""));
    EXPECT(valid(CFG_CORS_ORIGINS, "*"));
    EXPECT(valid(CFG_CORS_ORIGINS, "https://a.example"));
    EXPECT(valid(CFG_CORS_ORIGINS, "https://a.example,http://localhost:8080"));
    EXPECT(valid(CFG_CORS_ORIGINS, "https://a.example, http://[::1]:8080"));
    EXPECT(!valid(CFG_CORS_ORIGINS, "a.example"));           /* no scheme */
    EXPECT(!valid(CFG_CORS_ORIGINS, "https://a.example/"));  /* a path: an origin has none */
    EXPECT(!valid(CFG_CORS_ORIGINS, "https://a.example,,")); /* an empty element */
    EXPECT(!valid(CFG_CORS_ORIGINS, "https://*.example"));   /* no wildcards inside */
    EXPECT(!valid(CFG_CORS_ORIGINS, "*,https://a.example"));
    EXPECT(!valid(CFG_CORS_ORIGINS, "https://"));
    EXPECT(!valid(CFG_CORS_ORIGINS, "1ttp://a.example"));
    EXPECT(valid(CFG_SHUTDOWN_GRACE_S, "0"));
    EXPECT(valid(CFG_SHUTDOWN_GRACE_S, "3600"));
    EXPECT(!valid(CFG_SHUTDOWN_GRACE_S, "3601"));
    EXPECT(valid(CFG_MAX_BODY_BYTES, "1073741824"));
    EXPECT(!valid(CFG_MAX_BODY_BYTES, "1073741825"));
    EXPECT(!valid(CFG_MAX_BODY_BYTES, "0"));
    EXPECT(valid(CFG_MAX_POOLS, "1") && valid(CFG_MAX_BETS_PER_POOL, "100000000") && valid(CFG_MAX_HITOS, "2"));
    EXPECT(!valid(CFG_MAX_POOLS, "0") && !valid(CFG_MAX_BETS_PER_POOL, "100000001") && !valid(CFG_MAX_HITOS, "-1"));
}

static void test_validate_strings(void)
{
    char s[300];
    EXPECT(valid(CFG_LOG_LEVEL, "debug"));
    EXPECT(!valid(CFG_LOG_LEVEL, "verbose"));
    EXPECT_STR(err, "must be one of debug, info, warn, error");
    EXPECT(!valid(CFG_LOG_LEVEL, "Info"));

    EXPECT(valid(CFG_HOST, "0.0.0.0"));
    EXPECT(valid(CFG_HOST, "::"));
    EXPECT(valid(CFG_HOST, "::1"));
    EXPECT(valid(CFG_HOST, "fe80::1:2"));
    EXPECT(valid(CFG_HOST, "localhost"));
    EXPECT(valid(CFG_HOST, "api-1.example.com"));
    EXPECT(!valid(CFG_HOST, ""));
    EXPECT(!valid(CFG_HOST, "my host"));
    EXPECT(!valid(CFG_HOST, "a_b"));
    EXPECT(!valid(CFG_HOST, "[::1]"));
    memset(s, 'a', 254);
    s[254] = '\0';
    EXPECT(!valid(CFG_HOST, s));
    s[253] = '\0';
    EXPECT(valid(CFG_HOST, s));

    EXPECT(valid(CFG_DATA_DIR, "/data"));
    EXPECT(!valid(CFG_DATA_DIR, ""));
    EXPECT_STR(err, "must be a non-empty path");
    EXPECT(!valid(CFG_STATIC_DIR, ""));
    EXPECT(!valid(CFG_HITOS_FILE, ""));
    EXPECT(valid(CFG_HITOS_FILE, "/nonexistent/hitos.json"));
    char *longpath = malloc(PATH_MAX + 1);
    memset(longpath, 'p', PATH_MAX);
    longpath[PATH_MAX] = '\0';
    EXPECT(!valid(CFG_DATA_DIR, longpath));
    free(longpath);

    EXPECT(valid(CFG_ETCD_PREFIX, "porrio:"));
    EXPECT(valid(CFG_ETCD_PREFIX, "hugitos:"));
    EXPECT(!valid(CFG_ETCD_PREFIX, ""));
    EXPECT(!valid(CFG_ETCD_PREFIX, "a b"));
    EXPECT(!valid(CFG_ETCD_PREFIX, "a\tb"));
    EXPECT(!valid(CFG_ETCD_PREFIX, "caf\xc3\xa9"));
    memset(s, 'x', 129);
    s[129] = '\0';
    EXPECT(!valid(CFG_ETCD_PREFIX, s));
    s[128] = '\0';
    EXPECT(valid(CFG_ETCD_PREFIX, s));
}

static void test_validate_endpoints(void)
{
    EXPECT(valid(CFG_ETCD_ENDPOINTS, ""));
    EXPECT(valid(CFG_ETCD_ENDPOINTS, "http://127.0.0.1:2379"));
    EXPECT(valid(CFG_ETCD_ENDPOINTS, "http://etcd:2379/"));
    EXPECT(valid(CFG_ETCD_ENDPOINTS, "http://a:1,http://b.example:65535/"));
    EXPECT(valid(CFG_ETCD_ENDPOINTS, "http://[::1]:2379"));
    const char *bad[] = {"https://a:1",      "http://a",      "http://a:",    "http://:1",   "http://a:0", "http://a:65536",
                         "http://a:1/v3",    "http://a:1//",  "http://a:1,",  ",http://a:1", "a:1",        "http://a:1, http://b:2",
                         "http://[::1:2379", "http://[zz]:1", "http://a b:1", "http://a:+1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (valid(CFG_ETCD_ENDPOINTS, bad[i])) {
            printf("# accepted bad endpoint list \"%s\"\n", bad[i]);
            test_failed_now = 1;
        }
    EXPECT_STR(err, "must be empty, or a comma-separated list of http://host:port");
}

/* The grammar itself is logsink's (logsink_test.c): here, that the settings use it, and the delay's bounds. */
static void test_validate_log_sink_and_delay(void)
{
    char dflt[8] = "x";
    EXPECT(valid(CFG_LOG_SINK, ""));
    EXPECT(valid(CFG_LOG_SINK, "syslog+tcp://logs:514"));
    EXPECT(valid(CFG_LOG_SINK, "syslog+tcp://127.0.0.1"));
    EXPECT(!valid(CFG_LOG_SINK, "logs:514"));
    EXPECT(strncmp(err, "must be empty, or syslog+tcp://host[:port]", 42) == 0);
    EXPECT_INT(cfg_default(CFG_LOG_SINK, dflt, sizeof dflt), 0);
    EXPECT_STR(dflt, "");
    EXPECT(valid(CFG_SHUTDOWN_DELAY_S, "0"));
    EXPECT(valid(CFG_SHUTDOWN_DELAY_S, "3600"));
    EXPECT(!valid(CFG_SHUTDOWN_DELAY_S, "3601"));
    EXPECT_INT(cfg_default(CFG_SHUTDOWN_DELAY_S, dflt, sizeof dflt), 0);
    EXPECT_STR(dflt, "0");
}

/* The grammar itself is auth's (auth_test.c): here, that the setting uses it and says so. */
static void test_validate_admin_tokens(void)
{
    const char *h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    char two[200], dflt[8] = "x";
    snprintf(two, sizeof two, "%s,%s", h, h);
    EXPECT(valid(CFG_ADMIN_TOKENS, ""));
    EXPECT(valid(CFG_ADMIN_TOKENS, h));
    EXPECT(valid(CFG_ADMIN_TOKENS, two));
    EXPECT(!valid(CFG_ADMIN_TOKENS, "secret"));
    EXPECT_STR(err, "must be empty, or a comma-separated list of 1 to 64 SHA-256 hashes of 64 lowercase hex digits");
    two[64] = ' ';
    EXPECT(!valid(CFG_ADMIN_TOKENS, two));
    EXPECT_INT(cfg_default(CFG_ADMIN_TOKENS, dflt, sizeof dflt), 0);
    EXPECT_STR(dflt, "");
}

/* The grammar is proxy's (proxy_test.c): here, that the setting uses it and names the bad entry. */
static void test_validate_trusted_proxies(void)
{
    const char *allowed = "must be empty, or a comma-separated list of at most 64 IPv4 or IPv6 addresses or CIDRs "
                          "(127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)";
    char want[512], dflt[8] = "x";
    EXPECT(valid(CFG_TRUSTED_PROXIES, ""));
    EXPECT(valid(CFG_TRUSTED_PROXIES, "127.0.0.1"));
    EXPECT(valid(CFG_TRUSTED_PROXIES, "10.0.0.0/8, ::1,fd00::/8"));
    EXPECT(!valid(CFG_TRUSTED_PROXIES, "10.0.0.0/8,nginx"));
    snprintf(want, sizeof want, "%s; 'nginx': not an IPv4 or IPv6 address", allowed);
    EXPECT_STR(err, want);
    EXPECT(!valid(CFG_TRUSTED_PROXIES, "10.0.0.1/8"));
    snprintf(want, sizeof want, "%s; '10.0.0.1/8': bits are set past the prefix length", allowed);
    EXPECT_STR(err, want);
    EXPECT_INT(cfg_default(CFG_TRUSTED_PROXIES, dflt, sizeof dflt), 0);
    EXPECT_STR(dflt, "");
    EXPECT_INT(cfg_lookup("TRUSTED_PROXIES"), CFG_TRUSTED_PROXIES);
    EXPECT_INT(cfg_flag_lookup("--trusted-proxies"), CFG_TRUSTED_PROXIES);
}

static void test_validate_store(void)
{
    char dflt[16] = "x";
    EXPECT(valid(CFG_STORE, "local"));
    EXPECT(valid(CFG_STORE, "etcd"));
    EXPECT(!valid(CFG_STORE, ""));
    EXPECT(!valid(CFG_STORE, "ETCD"));
    EXPECT(!valid(CFG_STORE, "etcd "));
    EXPECT_STR(err, "must be local or etcd");
    EXPECT_INT(cfg_default(CFG_STORE, dflt, sizeof dflt), 0);
    EXPECT_STR(dflt, "local");
    EXPECT_INT(cfg_is_live(CFG_STORE), 0);
    EXPECT_INT(cfg_from_etcd(CFG_STORE), 1);
}

static void test_etcd_endpoint_split(void)
{
    char host[64];
    int port = 0;
    const char *list = "http://a:1,http://[::1]:2379/,http://10.0.0.2:23";
    EXPECT_INT(cfg_etcd_endpoint(list, 0, host, sizeof host, &port), 0);
    EXPECT_STR(host, "a");
    EXPECT_INT(port, 1);
    EXPECT_INT(cfg_etcd_endpoint(list, 1, host, sizeof host, &port), 0);
    EXPECT_STR(host, "::1");
    EXPECT_INT(port, 2379);
    EXPECT_INT(cfg_etcd_endpoint(list, 2, host, sizeof host, &port), 0);
    EXPECT_STR(host, "10.0.0.2");
    EXPECT_INT(port, 23);
    EXPECT_INT(cfg_etcd_endpoint(list, 3, host, sizeof host, &port), -1);
    EXPECT_INT(cfg_etcd_endpoint("", 0, host, sizeof host, &port), -1);
    EXPECT_INT(cfg_etcd_endpoint(list, 2, host, 4, &port), -1);
}

static void test_defaults_resolve(void)
{
    cfg_layer_t *none[CFG_SRC_COUNT] = {0};
    cfg_t c;
    EXPECT_INT(cfg_resolve(&c, none, NULL, NULL, err, sizeof err), 0);
    for (int k = 0; k < CFG_COUNT; k++)
        EXPECT_INT(c.source[k], CFG_SRC_DEFAULT);
    EXPECT_STR(c.value[CFG_PORT], "3000");
    EXPECT_INT(c.port, 3000);
    EXPECT_STR(c.value[CFG_HOST], "0.0.0.0");
    EXPECT_STR(c.value[CFG_LOG_LEVEL], "info");
    EXPECT_INT(c.log_level, CFG_LOG_INFO);
    EXPECT_STR(c.value[CFG_DATA_DIR], "./var");
    EXPECT_STR(c.value[CFG_STATIC_DIR], "./public");
    EXPECT_STR(c.value[CFG_MAX_BODY_BYTES], "65536");
    EXPECT_INT(c.max_body_bytes, 65536);
    EXPECT_STR(c.value[CFG_ETCD_ENDPOINTS], "http://127.0.0.1:2379");
    EXPECT_STR(c.value[CFG_ETCD_PREFIX], "porrio:");
    EXPECT_STR(c.value[CFG_SHUTDOWN_GRACE_S], "10");
    EXPECT_INT(c.shutdown_grace_s, 10);
    EXPECT_INT(c.max_pools, 100000);
    EXPECT_INT(c.max_bets_per_pool, 100000);
    EXPECT_INT(c.max_hitos, 10000);
    EXPECT(c.workers >= 1);
    cfg_free(&c);
    cfg_free(&c);
    EXPECT(c.value[CFG_PORT] == NULL);
}

static void test_default_workers(void)
{
    char buf[32];
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 256)
        n = 256;
    EXPECT_INT(cfg_default(CFG_WORKERS, buf, sizeof buf), 0);
    EXPECT_INT(atol(buf), n);
    EXPECT_INT(cfg_default(CFG_PORT, buf, sizeof buf), 0);
    EXPECT_STR(buf, "3000");
    EXPECT_INT(cfg_default(CFG_ETCD_ENDPOINTS, buf, 4), -1);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    EXPECT(f != NULL);
    if (f)
        fclose(f);
}

static void test_default_hitos_search(void)
{
    char old[PATH_MAX], dir[] = "/tmp/porrio-cfg-XXXXXX", buf[PATH_MAX];
    struct stat st;
    int have_data = stat("/data/hitos.json", &st) == 0;
    EXPECT(getcwd(old, sizeof old) != NULL);
    EXPECT(mkdtemp(dir) != NULL);
    EXPECT_INT(chdir(dir), 0);

    EXPECT_INT(cfg_default(CFG_HITOS_FILE, buf, sizeof buf), 0);
    EXPECT_STR(buf, have_data ? "/data/hitos.json" : "");
    if (!have_data) { /* an unset, unfound file resolves to "" from default */
        cfg_layer_t *none[CFG_SRC_COUNT] = {0};
        cfg_t c;
        EXPECT_INT(cfg_resolve(&c, none, NULL, NULL, err, sizeof err), 0);
        EXPECT_STR(c.value[CFG_HITOS_FILE], "");
        EXPECT_INT(c.source[CFG_HITOS_FILE], CFG_SRC_DEFAULT);
        cfg_free(&c);
    }

    EXPECT_INT(mkdir("data", 0700), 0);
    EXPECT_INT(mkdir("hitos.json", 0700), 0); /* a directory is not the file */
    touch("data/hitos.json");
    EXPECT_INT(cfg_default(CFG_HITOS_FILE, buf, sizeof buf), 0);
    EXPECT_STR(buf, have_data ? "/data/hitos.json" : "./data/hitos.json");

    EXPECT_INT(rmdir("hitos.json"), 0);
    touch("hitos.json");
    EXPECT_INT(cfg_default(CFG_HITOS_FILE, buf, sizeof buf), 0);
    EXPECT_STR(buf, "./hitos.json");

    unlink("hitos.json");
    unlink("data/hitos.json");
    rmdir("data");
    EXPECT_INT(chdir(old), 0);
    EXPECT_INT(rmdir(dir), 0);
}

static void test_precedence(void)
{
    cfg_layer_t dotenv = {0}, env = {0}, etcd = {0}, flag = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, &dotenv, &env, &etcd, &flag};
    cfg_t c;
    cfg_layer_set(&dotenv, CFG_PORT, "1001");
    cfg_layer_set(&env, CFG_PORT, "1002");
    cfg_layer_set(&etcd, CFG_PORT, "1003");
    cfg_layer_set(&flag, CFG_PORT, "1004");
    cfg_layer_set(&dotenv, CFG_WORKERS, "1");
    cfg_layer_set(&env, CFG_WORKERS, "2");
    cfg_layer_set(&etcd, CFG_WORKERS, "3");
    cfg_layer_set(&dotenv, CFG_LOG_LEVEL, "debug");
    cfg_layer_set(&env, CFG_LOG_LEVEL, "warn");
    cfg_layer_set(&dotenv, CFG_MAX_BODY_BYTES, "123");
    cfg_layer_set(&etcd, CFG_SHUTDOWN_GRACE_S, "0");

    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_STR(c.value[CFG_PORT], "1004");
    EXPECT_STR(cfg_source_name(c.source[CFG_PORT]), "flag");
    EXPECT_INT(c.port, 1004);
    EXPECT_STR(c.value[CFG_WORKERS], "3");
    EXPECT_STR(cfg_source_name(c.source[CFG_WORKERS]), "etcd");
    EXPECT_INT(c.workers, 3);
    EXPECT_STR(cfg_source_name(c.source[CFG_LOG_LEVEL]), "env");
    EXPECT_INT(c.log_level, CFG_LOG_WARN);
    EXPECT_STR(cfg_source_name(c.source[CFG_MAX_BODY_BYTES]), "dotenv");
    EXPECT_INT(c.max_body_bytes, 123);
    EXPECT_STR(cfg_source_name(c.source[CFG_SHUTDOWN_GRACE_S]), "etcd");
    EXPECT_INT(c.shutdown_grace_s, 0);
    EXPECT_STR(cfg_source_name(c.source[CFG_HOST]), "default");
    cfg_free(&c);

    /* Removing the top layer uncovers the next one. */
    layers[CFG_SRC_FLAG] = NULL;
    layers[CFG_SRC_ETCD] = NULL;
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_INT(c.port, 1002);
    EXPECT_INT(c.source[CFG_PORT], CFG_SRC_ENV);
    EXPECT_INT(c.workers, 2);
    cfg_free(&c);
    layers[CFG_SRC_ENV] = NULL;
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_INT(c.port, 1001);
    EXPECT_INT(c.source[CFG_PORT], CFG_SRC_DOTENV);
    cfg_free(&c);

    cfg_layer_free(&dotenv);
    cfg_layer_free(&env);
    cfg_layer_free(&etcd);
    cfg_layer_free(&flag);
}

static void test_etcd_settings_ignore_etcd(void)
{
    cfg_layer_t env = {0}, etcd = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, NULL, &env, &etcd, NULL};
    cfg_t c;
    cfg_layer_set(&etcd, CFG_ETCD_ENDPOINTS, "http://other:1");
    cfg_layer_set(&etcd, CFG_ETCD_PREFIX, "frometcd:");
    cfg_layer_set(&env, CFG_ETCD_PREFIX, "hugitos:");
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_STR(c.value[CFG_ETCD_ENDPOINTS], "http://127.0.0.1:2379");
    EXPECT_INT(c.source[CFG_ETCD_ENDPOINTS], CFG_SRC_DEFAULT);
    EXPECT_STR(c.value[CFG_ETCD_PREFIX], "hugitos:");
    EXPECT_INT(c.source[CFG_ETCD_PREFIX], CFG_SRC_ENV);
    cfg_free(&c);

    cfg_layer_set(&env, CFG_ETCD_ENDPOINTS, "");
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_STR(c.value[CFG_ETCD_ENDPOINTS], "");
    EXPECT_INT(c.source[CFG_ETCD_ENDPOINTS], CFG_SRC_ENV);
    cfg_free(&c);
    cfg_layer_free(&env);
    cfg_layer_free(&etcd);
}

typedef struct {
    int calls;
    cfg_key_t key;
    char value[64], message[256];
} warnings_t;

static void record_warning(void *ctx, cfg_key_t k, const char *value, const char *message)
{
    warnings_t *w = ctx;
    w->calls++;
    w->key = k;
    snprintf(w->value, sizeof w->value, "%s", value);
    snprintf(w->message, sizeof w->message, "%s", message);
}

static void test_invalid_etcd_value_warns(void)
{
    cfg_layer_t env = {0}, etcd = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, NULL, &env, &etcd, NULL};
    warnings_t w = {0};
    cfg_t c;
    cfg_layer_set(&etcd, CFG_PORT, "70000");
    cfg_layer_set(&env, CFG_PORT, "4000");
    EXPECT_INT(cfg_resolve(&c, layers, record_warning, &w, err, sizeof err), 0);
    EXPECT_INT(w.calls, 1);
    EXPECT_INT(w.key, CFG_PORT);
    EXPECT_STR(w.value, "70000");
    EXPECT(strstr(w.message, "an integer from 1 to 65535") != NULL);
    EXPECT_INT(c.port, 4000);
    EXPECT_INT(c.source[CFG_PORT], CFG_SRC_ENV);
    cfg_free(&c);

    /* With nothing below etcd the default applies; a NULL callback is allowed. */
    cfg_layer_set(&env, CFG_PORT, NULL);
    cfg_layer_set(&etcd, CFG_LOG_LEVEL, "loud");
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_INT(c.port, 3000);
    EXPECT_INT(c.source[CFG_PORT], CFG_SRC_DEFAULT);
    EXPECT_INT(c.log_level, CFG_LOG_INFO);
    cfg_free(&c);
    cfg_layer_free(&env);
    cfg_layer_free(&etcd);
}

static void expect_resolve_fails(cfg_src_t src, cfg_key_t k, const char *value, const char *want)
{
    cfg_layer_t l = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {0};
    cfg_t c;
    layers[src] = &l;
    cfg_layer_set(&l, k, value);
    err[0] = '\0';
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), -1);
    EXPECT_STR(err, want);
    for (int i = 0; i < CFG_COUNT; i++)
        EXPECT(c.value[i] == NULL);
    cfg_free(&c);
    cfg_layer_free(&l);
}

static void test_invalid_values_fail(void)
{
    const char *port = "must be an integer from 1 to 65535";
    char want[256];
    const char *bad_ports[] = {"abc", "70000", "0", "", "30 00"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof *bad_ports; i++) {
        snprintf(want, sizeof want, "PORT=%s (from env): %s", bad_ports[i], port);
        expect_resolve_fails(CFG_SRC_ENV, CFG_PORT, bad_ports[i], want);
    }
    expect_resolve_fails(CFG_SRC_FLAG, CFG_WORKERS, "0", "WORKERS=0 (from flag): must be an integer from 1 to 256");
    expect_resolve_fails(CFG_SRC_DOTENV, CFG_LOG_LEVEL, "trace",
                         "LOG_LEVEL=trace (from dotenv): must be one of debug, info, warn, error");
    expect_resolve_fails(CFG_SRC_ENV, CFG_ETCD_ENDPOINTS, "127.0.0.1:2379",
                         "ETCD_ENDPOINTS=127.0.0.1:2379 (from env): must be empty, or a "
                         "comma-separated list of http://host:port");
    expect_resolve_fails(CFG_SRC_ENV, CFG_HITOS_FILE, "", "HITOS_FILE= (from env): must be a non-empty path");
    expect_resolve_fails(CFG_SRC_ENV, CFG_TRUSTED_PROXIES, "127.0.0.1,::1/200",
                         "TRUSTED_PROXIES=127.0.0.1,::1/200 (from env): must be empty, or a comma-separated list of "
                         "at most 64 IPv4 or IPv6 addresses or CIDRs (127.0.0.1, 10.0.0.0/8, ::1, fd00::/8); "
                         "'::1/200': the prefix length is past 128");
}

static void test_long_invalid_value_message(void)
{
    char v[400];
    memset(v, '9', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    cfg_layer_t l = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, NULL, &l, NULL, NULL};
    cfg_t c;
    cfg_layer_set(&l, CFG_PORT, v);
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), -1);
    EXPECT(strstr(err, "...") != NULL);
    EXPECT(strstr(err, "(from env): must be an integer from 1 to 65535") != NULL);
    cfg_layer_free(&l);
}

static void test_env_layer(void)
{
    cfg_layer_t l = {0};
    cfg_layer_t *layers[CFG_SRC_COUNT] = {NULL, NULL, &l, NULL, NULL};
    cfg_t c;
    clear_env();
    setenv("PORT", "8081", 1);
    setenv("ETCD_ENDPOINTS", "", 1);
    EXPECT_INT(cfg_layer_env(&l), 0);
    EXPECT_STR(l.val[CFG_PORT], "8081");
    EXPECT_STR(l.val[CFG_ETCD_ENDPOINTS], "");
    EXPECT(l.val[CFG_HOST] == NULL);
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), 0);
    EXPECT_INT(c.port, 8081);
    EXPECT_STR(cfg_source_name(c.source[CFG_PORT]), "env");
    cfg_free(&c);
    cfg_layer_free(&l);

    setenv("PORT", "abc", 1);
    EXPECT_INT(cfg_layer_env(&l), 0);
    EXPECT_INT(cfg_resolve(&c, layers, NULL, NULL, err, sizeof err), -1);
    EXPECT(strstr(err, "PORT") != NULL);
    EXPECT(strstr(err, "env") != NULL);
    EXPECT(strstr(err, cfg_allowed(CFG_PORT)) != NULL);
    cfg_layer_free(&l);
    clear_env();
}

static void test_dotenv_values(void)
{
    cfg_layer_t l = {0};
    const char *text = "# a comment\n"
                       "\n"
                       "   \t\n"
                       "PORT=8080\n"
                       "export HOST=127.0.0.1   # trailing comment\n"
                       "DATA_DIR = /srv/data dir  \n"
                       "STATIC_DIR='/a #b \\n \"c\"'  # comment\n"
                       "HITOS_FILE=\"line\\nnext \\\"q\\\" back\\\\slash \\d\"\n"
                       "LOG_LEVEL=debug\r\n"
                       "ETCD_PREFIX=a#b\n"
                       "ETCD_ENDPOINTS=\n"
                       "UNRELATED_KEY=whatever\n"
                       "lower_case=1\n"
                       "export=ignored\n"
                       "WORKERS=3\n"
                       "WORKERS=4";
    EXPECT_INT(parse(&l, text), 0);
    EXPECT_STR(err, "");
    EXPECT_STR(l.val[CFG_PORT], "8080");
    EXPECT_STR(l.val[CFG_HOST], "127.0.0.1");
    EXPECT_STR(l.val[CFG_DATA_DIR], "/srv/data dir");
    EXPECT_STR(l.val[CFG_STATIC_DIR], "/a #b \\n \"c\"");
    EXPECT_STR(l.val[CFG_HITOS_FILE], "line\nnext \"q\" back\\slash \\d");
    EXPECT_STR(l.val[CFG_LOG_LEVEL], "debug");
    EXPECT_STR(l.val[CFG_ETCD_PREFIX], "a#b");
    EXPECT_STR(l.val[CFG_ETCD_ENDPOINTS], "");
    EXPECT_STR(l.val[CFG_WORKERS], "4");
    EXPECT(l.val[CFG_MAX_BODY_BYTES] == NULL);
    cfg_layer_free(&l);

    EXPECT_INT(parse(&l, "PORT= # only a comment\nHOST=\"\" # empty\n"), 0);
    EXPECT_STR(l.val[CFG_PORT], "");
    EXPECT_STR(l.val[CFG_HOST], "");
    cfg_layer_free(&l);
}

static void expect_dotenv_error(const char *text, const char *want)
{
    cfg_layer_t l = {0};
    cfg_layer_set(&l, CFG_PORT, "1234");
    EXPECT_INT(parse(&l, text), -1);
    EXPECT_STR(err, want);
    /* A file with an error changes nothing, even for lines before it. */
    EXPECT_STR(l.val[CFG_PORT], "1234");
    EXPECT(l.val[CFG_HOST] == NULL);
    cfg_layer_free(&l);
}

static void test_dotenv_errors(void)
{
    const char *key = "invalid key (must match [A-Za-z_][A-Za-z0-9_]*)";
    char want[128];
    expect_dotenv_error("HOST=a\nPORT=1\nJUSTAWORD\n", ".env line 3: expected KEY=VALUE");
    snprintf(want, sizeof want, ".env line 2: %s", key);
    expect_dotenv_error("HOST=a\n1PORT=80\n", want);
    expect_dotenv_error("HOST=a\nPO-RT=80\n", want);
    expect_dotenv_error("HOST=a\n=80\n", want);
    expect_dotenv_error("HOST=a\nexport\n", ".env line 2: expected KEY=VALUE");
    expect_dotenv_error("HOST=a\n\nPORT='80\n", ".env line 3: unterminated single quote");
    expect_dotenv_error("HOST=a\nPORT=\"80\\\"\n", ".env line 2: unterminated double quote");
    expect_dotenv_error("HOST=a\nPORT=\"80\" x\n", ".env line 2: unexpected text after closing quote");
    expect_dotenv_error("HOST=a\nPORT='80'x\n", ".env line 2: unexpected text after closing quote");

    cfg_layer_t l = {0};
    static const char nul[] = "HOST=a\nPORT=8\0"
                              "0\n";
    EXPECT_INT(cfg_layer_dotenv_parse(&l, nul, sizeof nul - 1, NULL, err, sizeof err), -1);
    EXPECT_STR(err, ".env line 2: NUL byte");
    EXPECT(l.val[CFG_HOST] == NULL);
    EXPECT_INT(cfg_layer_dotenv_parse(&l, "X", 1, "/etc/porrio.env", err, sizeof err), -1);
    EXPECT_STR(err, "/etc/porrio.env line 1: expected KEY=VALUE");
    EXPECT_INT(cfg_layer_dotenv_parse(&l, "X", 1, NULL, err, sizeof err), -1);
    EXPECT_STR(err, ".env line 1: expected KEY=VALUE");
    cfg_layer_free(&l);
}

static void test_dotenv_file(void)
{
    char dir[] = "/tmp/porrio-env-XXXXXX", path[128];
    cfg_layer_t l = {0};
    EXPECT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/.env", dir);
    cfg_layer_set(&l, CFG_PORT, "1");
    EXPECT_INT(cfg_layer_dotenv_file(&l, path, err, sizeof err), 0);
    EXPECT_STR(l.val[CFG_PORT], "1");

    FILE *f = fopen(path, "w");
    EXPECT(f != NULL);
    if (f) {
        fputs("PORT=5000\nWORKERS=2\n", f);
        fclose(f);
    }
    EXPECT_INT(cfg_layer_dotenv_file(&l, path, err, sizeof err), 0);
    EXPECT_STR(l.val[CFG_PORT], "5000");
    EXPECT_STR(l.val[CFG_WORKERS], "2");

    f = fopen(path, "w");
    if (f) {
        fputs("PORT=5000\nbad line\n", f);
        fclose(f);
    }
    EXPECT_INT(cfg_layer_dotenv_file(&l, path, err, sizeof err), -1);
    snprintf(path + strlen(path), sizeof path - strlen(path), " line 2: expected KEY=VALUE");
    EXPECT_STR(err, path);

    EXPECT_INT(cfg_layer_dotenv_file(&l, dir, err, sizeof err), -1);
    EXPECT(strstr(err, dir) != NULL);
    snprintf(path, sizeof path, "%s/.env", dir);
    unlink(path);
    rmdir(dir);
    cfg_layer_free(&l);
}

static void test_flags(void)
{
    cfg_layer_t l = {0};
    int next = -1;
    char *a1[] = {"porrio",       "--port", "8080", "--log-level=debug", "--etcd-endpoints=", "--workers", "2", "--workers=3",
                  "--hitos-file", "-",      NULL};
    EXPECT_INT(flags(&l, 10, a1, &next), 0);
    EXPECT_INT(next, 10);
    EXPECT_STR(l.val[CFG_PORT], "8080");
    EXPECT_STR(l.val[CFG_LOG_LEVEL], "debug");
    EXPECT_STR(l.val[CFG_ETCD_ENDPOINTS], "");
    EXPECT_STR(l.val[CFG_WORKERS], "3");
    EXPECT_STR(l.val[CFG_HITOS_FILE], "-");
    cfg_layer_free(&l);

    char *a2[] = {"porrio", "--max-body-bytes", "10", "config", "get", "--port", NULL};
    EXPECT_INT(flags(&l, 6, a2, &next), 0);
    EXPECT_INT(next, 3);
    EXPECT_STR(l.val[CFG_MAX_BODY_BYTES], "10");
    EXPECT(l.val[CFG_PORT] == NULL);
    cfg_layer_free(&l);

    char *a3[] = {"porrio", "--host=::1", "--", "--port", "1", NULL};
    EXPECT_INT(flags(&l, 5, a3, &next), 0);
    EXPECT_INT(next, 3);
    EXPECT_STR(l.val[CFG_HOST], "::1");
    EXPECT(l.val[CFG_PORT] == NULL);
    cfg_layer_free(&l);

    char *a4[] = {"porrio", "-", "--port", "1", NULL};
    EXPECT_INT(flags(&l, 4, a4, &next), 0);
    EXPECT_INT(next, 1);
    char *a5[] = {"porrio", NULL};
    EXPECT_INT(flags(&l, 1, a5, &next), 0);
    EXPECT_INT(next, 1);
    cfg_layer_free(&l);
}

static void test_flag_errors(void)
{
    cfg_layer_t l = {0};
    int next = -1;
    char *a1[] = {"porrio", "--port", "1", "--colour=red", NULL};
    EXPECT_INT(flags(&l, 4, a1, &next), -1);
    EXPECT_STR(err, "unknown flag --colour");
    EXPECT_INT(next, 3);
    char *a2[] = {"porrio", "-p", "1", NULL};
    EXPECT_INT(flags(&l, 3, a2, &next), -1);
    EXPECT_STR(err, "unknown flag -p");
    char *a3[] = {"porrio", "--help", NULL};
    EXPECT_INT(flags(&l, 2, a3, &next), -1);
    EXPECT_STR(err, "unknown flag --help");
    EXPECT_INT(next, 1);
    char *a4[] = {"porrio", "--workers", NULL};
    EXPECT_INT(flags(&l, 2, a4, &next), -1);
    EXPECT_STR(err, "flag --workers needs a value (an integer from 1 to 256)");
    EXPECT_INT(next, 1);
    char *a5[] = {"porrio", "--port", "--workers", "2", NULL};
    EXPECT_INT(flags(&l, 4, a5, &next), -1);
    EXPECT(strstr(err, "--port needs a value") != NULL);
    cfg_layer_free(&l);
}

static void test_cfg_set(void)
{
    cfg_layer_t *none[CFG_SRC_COUNT] = {0};
    cfg_t c;
    EXPECT_INT(cfg_resolve(&c, none, NULL, NULL, err, sizeof err), 0);
    EXPECT_INT(cfg_set(&c, CFG_MAX_BODY_BYTES, "1024", CFG_SRC_ETCD, err, sizeof err), 0);
    EXPECT_INT(c.max_body_bytes, 1024);
    EXPECT_STR(c.value[CFG_MAX_BODY_BYTES], "1024");
    EXPECT_INT(c.source[CFG_MAX_BODY_BYTES], CFG_SRC_ETCD);
    EXPECT_INT(cfg_set(&c, CFG_LOG_LEVEL, "error", CFG_SRC_ETCD, err, sizeof err), 0);
    EXPECT_INT(c.log_level, CFG_LOG_ERROR);
    EXPECT_INT(cfg_set(&c, CFG_LOG_LEVEL, "chatty", CFG_SRC_ETCD, err, sizeof err), -1);
    EXPECT_STR(err, "must be one of debug, info, warn, error");
    EXPECT_INT(c.log_level, CFG_LOG_ERROR);
    EXPECT_STR(c.value[CFG_LOG_LEVEL], "error");
    EXPECT_INT(cfg_set(&c, CFG_HITOS_FILE, "", CFG_SRC_DEFAULT, err, sizeof err), 0);
    EXPECT_INT(cfg_set(&c, CFG_HITOS_FILE, "", CFG_SRC_ENV, err, sizeof err), -1);
    cfg_free(&c);
}

int main(void)
{
    RUN(test_table_round_trip);
    RUN(test_key_properties);
    RUN(test_validate_log_sink_and_delay);
    RUN(test_log_levels);
    RUN(test_validate_integers);
    RUN(test_validate_strings);
    RUN(test_validate_endpoints);
    RUN(test_validate_admin_tokens);
    RUN(test_validate_trusted_proxies);
    RUN(test_validate_store);
    RUN(test_etcd_endpoint_split);
    RUN(test_defaults_resolve);
    RUN(test_default_workers);
    RUN(test_default_hitos_search);
    RUN(test_precedence);
    RUN(test_etcd_settings_ignore_etcd);
    RUN(test_invalid_etcd_value_warns);
    RUN(test_invalid_values_fail);
    RUN(test_long_invalid_value_message);
    RUN(test_env_layer);
    RUN(test_dotenv_values);
    RUN(test_dotenv_errors);
    RUN(test_dotenv_file);
    RUN(test_flags);
    RUN(test_flag_errors);
    RUN(test_cfg_set);
    return TEST_END();
}
