#include <stdio.h>
#include <string.h>

#include "jlog/jlog.h"
#include "porrio.h"

static void warn_setting(void *ctx, cfg_key_t k, const char *value, const char *message)
{
    (void)ctx;
    jlog_line_t l;
    jlog_begin(&l, JLOG_WARN, "invalid setting in etcd ignored");
    jlog_str(&l, "name", cfg_name(k));
    jlog_str(&l, "value", value);
    jlog_str(&l, "error", message);
    jlog_end(&l);
}

/* Reads every key under the prefix into the etcd layer, within the start-up deadline. */
static void read_etcd(settings_t *s)
{
    etcd_kv_t *kvs = NULL;
    size_t n = 0;
    const char *prefix = s->cfg.value[CFG_ETCD_PREFIX];
    size_t plen = strlen(prefix);
    if (etcd_range(s->etcd, prefix, CFG_ETCD_DATA, ETCD_START_TIMEOUT_MS, &kvs, &n, &s->revision, s->etcd_err,
                   sizeof(s->etcd_err)) != 0) {
        s->revision = 0;
        return;
    }
    s->etcd_err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int k = strncmp(kvs[i].key, prefix, plen) == 0 ? cfg_lookup(kvs[i].key + plen) : -1;
        if (k >= 0 && cfg_from_etcd(k))
            cfg_layer_set(&s->etcd_vals, k, kvs[i].value);
    }
    etcd_kvs_free(kvs, n);
}

int settings_flags(settings_t *s, int argc, char **argv, int *next, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->layers[CFG_SRC_FLAG] = &s->flags;
    s->layers[CFG_SRC_ENV] = &s->env;
    s->layers[CFG_SRC_DOTENV] = &s->dotenv;
    return cfg_layer_flags(&s->flags, argc, argv, next, err, errlen);
}

int settings_load(settings_t *s, char *err, size_t errlen)
{
    if (cfg_layer_env(&s->env) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg_layer_dotenv_file(&s->dotenv, ".env", err, errlen) != 0)
        return -1;
    /* ETCD_ENDPOINTS and ETCD_PREFIX never come from etcd: resolve them first */
    if (cfg_resolve(&s->cfg, s->layers, NULL, NULL, err, errlen) != 0)
        return -1;
    snprintf(s->etcd_err, sizeof(s->etcd_err), "etcd is disabled (ETCD_ENDPOINTS is empty)");
    if (s->cfg.value[CFG_ETCD_ENDPOINTS][0] != '\0' &&
        (s->etcd = etcd_new(s->cfg.value[CFG_ETCD_ENDPOINTS], s->etcd_err, sizeof(s->etcd_err))) != NULL) {
        read_etcd(s);
        s->layers[CFG_SRC_ETCD] = &s->etcd_vals;
        cfg_free(&s->cfg);
        if (cfg_resolve(&s->cfg, s->layers, warn_setting, NULL, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void warn_store(const char *msg)
{
    jlog_log(JLOG_WARN, "store", "detail", msg, NULL);
}
static void info_store(const char *msg)
{
    jlog_log(JLOG_INFO, "store", "detail", msg, NULL);
}

app_limits_t settings_limits(const cfg_t *c)
{
    return (app_limits_t){.pools = c->max_pools, .bets_per_pool = c->max_bets_per_pool, .hitos = c->max_hitos};
}

app_opts_t settings_app_opts(settings_t *s)
{
    const cfg_t *c = &s->cfg;
    app_opts_t o = {.data_dir = c->value[CFG_DATA_DIR],
                    .hitos_file = c->value[CFG_HITOS_FILE],
                    .warn = warn_store,
                    .info = info_store,
                    .limits = settings_limits(c)};
    if (strcmp(c->value[CFG_STORE], "etcd") == 0) {
        snprintf(s->data_prefix, sizeof(s->data_prefix), "%s%s", c->value[CFG_ETCD_PREFIX], CFG_ETCD_DATA);
        o.etcd = s->etcd, o.etcd_prefix = s->data_prefix;
    }
    return o;
}

void settings_free(settings_t *s)
{
    cfg_free(&s->cfg);
    cfg_layer_free(&s->flags);
    cfg_layer_free(&s->etcd_vals);
    cfg_layer_free(&s->env);
    cfg_layer_free(&s->dotenv);
    etcd_free(s->etcd);
    s->etcd = NULL;
}
