#include "reload/reload.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jlog/jlog.h"

struct reload {
    reload_opts_t o;
    pthread_t tid;
    atomic_int stop;
    int ever_connected; /* a lost watch is worth a warning only once it has worked */
};

static void log_change(int level, const char *msg, const char *name, const char *value, const char *why)
{
    jlog_line_t l;
    if (!jlog_enabled(level))
        return;
    jlog_begin(&l, level, msg);
    jlog_str(&l, "name", name);
    jlog_str(&l, "value", value);
    if (why != NULL)
        jlog_str(&l, "detail", why);
    jlog_end(&l);
}

/* The value k takes without etcd: env > .env > default (flags never reach here). */
static const char *fallback(const reload_opts_t *o, cfg_key_t k, cfg_src_t *src, char *buf, size_t len)
{
    static const cfg_src_t order[] = {CFG_SRC_ENV, CFG_SRC_DOTENV};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        cfg_layer_t *l = o->layers[order[i]];
        if (l != NULL && l->val[k] != NULL) {
            *src = order[i];
            return l->val[k];
        }
    }
    *src = CFG_SRC_DEFAULT;
    cfg_default(k, buf, len);
    return buf;
}

int reload_change(const reload_opts_t *o, const char *name, const char *value)
{
    int k = cfg_lookup(name);
    char def[512], err[256];
    if (k < 0 || !cfg_from_etcd(k)) {
        log_change(JLOG_WARN, "unknown setting in etcd ignored", name, value, NULL);
        return 0;
    }
    if (o->layers[CFG_SRC_FLAG] != NULL && o->layers[CFG_SRC_FLAG]->val[k] != NULL) {
        log_change(JLOG_INFO, "etcd change ignored: the setting is given by a flag", name, value, NULL);
        return 0;
    }
    cfg_src_t src = CFG_SRC_ETCD;
    const char *v = value != NULL ? value : fallback(o, k, &src, def, sizeof(def));
    if (cfg_validate(k, v, err, sizeof(err)) != 0) {
        log_change(JLOG_WARN,
                   value != NULL ? "invalid setting from etcd refused; the previous value stays"
                                 : "setting deleted in etcd; its fallback is invalid, the previous value stays",
                   name, v, err);
        return 0;
    }
    if (strcmp(o->cfg->value[k], v) == 0 && o->cfg->source[k] == src)
        return 0;
    if (!cfg_is_live(k)) {
        log_change(JLOG_WARN, "setting changed in etcd; restart to apply it", name, v, cfg_source_name(src));
        return 0;
    }
    if (cfg_set(o->cfg, k, v, src, err, sizeof(err)) != 0) {
        log_change(JLOG_WARN, "setting change failed", name, v, err);
        return 0;
    }
    /* like the settings logged at start, a change is logged whatever the level (before or after it) */
    jlog_line_t l;
    jlog_begin(&l, JLOG_INFO, "setting changed");
    jlog_str(&l, "name", name);
    jlog_str(&l, "value", v);
    jlog_str(&l, "source", cfg_source_name(src));
    jlog_end(&l);
    if (o->apply != NULL)
        o->apply(o->ctx, k, o->cfg);
    return 1;
}

/* The setting's name inside a key under the prefix, or NULL for keys outside it. */
static const char *name_of(const reload_opts_t *o, const char *key)
{
    size_t n = strlen(o->prefix);
    return strncmp(key, o->prefix, n) == 0 ? key + n : NULL;
}

static void on_event(void *ctx, const etcd_event_t *ev)
{
    const reload_opts_t *o = &((reload_t *)ctx)->o;
    const char *name = name_of(o, ev->key);
    if (name != NULL)
        reload_change(o, name, ev->deleted ? NULL : ev->value);
}

/* The whole prefix as read after a reconnect without history: keys that vanished meanwhile fall back. */
static void on_resync(void *ctx, const etcd_kv_t *kvs, size_t n, int64_t revision)
{
    const reload_opts_t *o = &((reload_t *)ctx)->o;
    (void)revision;
    for (int k = 0; k < CFG_COUNT; k++) {
        const char *value = NULL;
        for (size_t i = 0; i < n; i++) {
            const char *name = name_of(o, kvs[i].key);
            if (name != NULL && strcmp(name, cfg_name(k)) == 0)
                value = kvs[i].value;
        }
        if (value != NULL || o->cfg->source[k] == CFG_SRC_ETCD)
            reload_change(o, cfg_name(k), value);
    }
}

static void on_state(void *ctx, int connected, const char *msg)
{
    reload_t *r = ctx;
    if (connected)
        r->ever_connected = 1;
    /* unreachable at start was already said once; the watch keeps trying quietly */
    int level = connected ? JLOG_INFO : r->ever_connected ? JLOG_WARN : JLOG_DEBUG;
    jlog_log(level,
             connected           ? "etcd watch connected"
             : r->ever_connected ? "etcd watch lost"
                                 : "etcd watch waiting for etcd",
             "detail", msg != NULL ? msg : "", NULL);
}

static void *watch_main(void *arg)
{
    reload_t *r = arg;
    etcd_watch_cb_t cb = {.on_event = on_event, .on_state = on_state, .on_resync = on_resync, .ctx = r};
    etcd_watch_run(r->o.etcd, r->o.prefix, CFG_ETCD_DATA, r->o.revision > 0 ? r->o.revision + 1 : 0, &cb, &r->stop);
    return NULL;
}

reload_t *reload_start(const reload_opts_t *opts)
{
    reload_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->o = *opts;
    if (pthread_create(&r->tid, NULL, watch_main, r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void reload_stop(reload_t *r)
{
    if (r == NULL)
        return;
    r->stop = 1;
    pthread_join(r->tid, NULL);
    free(r);
}
