/* `porrio config`: the course's script that puts the settings into etcd, generalised. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "porrio.h"

#define ETCD_CLI_TIMEOUT_MS 3000

static int usage(void)
{
    fprintf(stderr, "usage: porrio [--SETTING VALUE]... config set KEY [VALUE]\n"
                    "       porrio [--SETTING VALUE]... config set KEY[=VALUE] KEY[=VALUE]...\n"
                    "       porrio [--SETTING VALUE]... config get KEY\n"
                    "       porrio [--SETTING VALUE]... config list\n");
    return 2;
}

/* Says that the setting called by the len bytes of name is unknown, and which are known; -1. */
static int unknown(const char *name, size_t len)
{
    fprintf(stderr, "porrio: unknown setting '%.*s'; known settings:", (int)len, name);
    for (int i = 0; i < CFG_COUNT; i++)
        fprintf(stderr, " %s", cfg_name(i));
    fputc('\n', stderr);
    return -1;
}

/* The setting named exactly `name`; -1 with a message if none. */
static int lookup(const char *name)
{
    int k = cfg_lookup(name);
    return k >= 0 ? k : unknown(name, strlen(name));
}

/* The setting that arg names: "KEY" or "KEY=VALUE"; -1 if none, silently. */
static int key_of(const char *arg)
{
    char name[64];
    size_t n = strcspn(arg, "=");
    if (n >= sizeof(name))
        return -1;
    memcpy(name, arg, n);
    name[n] = '\0';
    return cfg_lookup(name);
}

/* Non-zero (with a message) when etcd is configured but was not reached at start. */
static int etcd_unreached(settings_t *s)
{
    if (s->etcd == NULL || s->etcd_err[0] == '\0')
        return 0;
    fprintf(stderr, "porrio: etcd unreachable (%s): %s\n", s->cfg.value[CFG_ETCD_ENDPOINTS], s->etcd_err);
    return 1;
}

typedef struct pending {
    int k;
    const char *value, *from;
    char def[512];
} pending_t;

/* Works out what `config set` puts for key k: the argument, else the environment, else .env,
 * else the default. 0, or 2 (bad usage) with a message. */
static int plan(settings_t *s, int k, const char *arg, pending_t *p)
{
    char err[256];
    p->k = k, p->value = arg, p->from = "argument";
    if (!cfg_from_etcd(k)) {
        fprintf(stderr, "porrio: %s is never read from etcd; give it as %s, in the environment or in .env\n", cfg_name(k),
                cfg_flag(k));
        return 2;
    }
    if (p->value == NULL && (p->value = s->env.val[k]) != NULL)
        p->from = "env";
    else if (p->value == NULL && (p->value = s->dotenv.val[k]) != NULL)
        p->from = "dotenv";
    else if (p->value == NULL) {
        if (cfg_default_is_computed(k)) {
            fprintf(stderr,
                    "porrio: %s needs a value (its default is computed where the service runs): "
                    "porrio config set %s VALUE\n",
                    cfg_name(k), cfg_name(k));
            return 2;
        }
        cfg_default(k, p->def, sizeof(p->def));
        p->value = p->def, p->from = "default";
    }
    if (cfg_validate(k, p->value, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s=%s (from %s): %s\n", cfg_name(k), p->value, p->from, err);
        return 2;
    }
    return 0;
}

/* Puts planned values into etcd, all of them checked first. 0, or 1 when etcd fails. */
static int put_all(settings_t *s, const pending_t *p, int n)
{
    char err[256], key[512];
    if (s->etcd == NULL) {
        fprintf(stderr, "porrio: %s\n", s->etcd_err);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s%s", s->cfg.value[CFG_ETCD_PREFIX], cfg_name(p[i].k));
        if (etcd_put(s->etcd, key, p[i].value, ETCD_CLI_TIMEOUT_MS, err, sizeof(err)) != 0) {
            fprintf(stderr, "porrio: cannot write %s to etcd: %s\n", key, err);
            return 1;
        }
        printf("%s=%s\n", key, p[i].value);
        fprintf(stderr, "%s from %s\n", cfg_name(p[i].k), p[i].from);
    }
    return 0;
}

int config_command(settings_t *s, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *verb = argv[1];
    int k;
    if (strcmp(verb, "set") == 0 && argc >= 3) {
        /* `set KEY VALUE`, as the course's script; or several `KEY` / `KEY=VALUE` at once */
        pending_t p[2 * CFG_COUNT];
        int n = 0;
        if (argc == 4 && key_of(argv[3]) < 0 && strchr(argv[2], '=') == NULL) {
            if ((k = lookup(argv[2])) < 0 || plan(s, k, argv[3], &p[n++]) != 0)
                return 2;
            return put_all(s, p, n);
        }
        if (argc - 2 > (int)(sizeof(p) / sizeof(p[0])))
            return usage();
        for (int i = 2; i < argc; i++) {
            const char *eq = strchr(argv[i], '=');
            if ((k = key_of(argv[i])) < 0) {
                unknown(argv[i], strcspn(argv[i], "="));
                return 2;
            }
            if (plan(s, k, eq != NULL ? eq + 1 : NULL, &p[n++]) != 0)
                return 2;
        }
        return put_all(s, p, n);
    }
    if (strcmp(verb, "get") == 0 && argc == 3) {
        if ((k = lookup(argv[2])) < 0)
            return 2;
        if (etcd_unreached(s))
            return 1;
        printf("%s\n", s->cfg.value[k]);
        fprintf(stderr, "%s\n", cfg_source_name(s->cfg.source[k]));
        return 0;
    }
    if (strcmp(verb, "list") == 0 && argc == 2) {
        if (etcd_unreached(s))
            return 1;
        for (k = 0; k < CFG_COUNT; k++)
            printf("%s\t%s\t%s\t%s\n", cfg_name(k), s->cfg.value[k], cfg_source_name(s->cfg.source[k]),
                   s->etcd_vals.val[k] != NULL ? s->etcd_vals.val[k] : "-");
        return 0;
    }
    return usage();
}
