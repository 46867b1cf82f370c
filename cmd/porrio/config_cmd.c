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

static int lookup(const char *name)
{
    int k = cfg_lookup(name);
    if (k >= 0)
        return k;
    fprintf(stderr, "porrio: unknown setting '%s'; known settings:", name);
    for (int i = 0; i < CFG_COUNT; i++)
        fprintf(stderr, " %s", cfg_name(i));
    fputc('\n', stderr);
    return -1;
}

static int need_etcd(settings_t *s)
{
    if (s->etcd != NULL && s->etcd_err[0] == '\0')
        return 0;
    fprintf(stderr, "porrio: etcd unreachable (%s): %s\n", s->cfg.value[CFG_ETCD_ENDPOINTS], s->etcd_err);
    return -1;
}

static int set(settings_t *s, int k, const char *arg)
{
    const char *value = arg, *from = "argument";
    char def[512], err[256], key[512];
    if (!cfg_from_etcd(k)) {
        fprintf(stderr, "porrio: %s is never read from etcd; give it as %s, in the environment or in .env\n", cfg_name(k), cfg_flag(k));
        return 2;
    }
    if (value == NULL && (value = s->env.val[k]) != NULL)
        from = "env";
    else if (value == NULL && (value = s->dotenv.val[k]) != NULL)
        from = "dotenv";
    else if (value == NULL) {
        if (cfg_default_is_computed(k)) {
            fprintf(stderr, "porrio: %s needs a value (its default is computed where the service runs): "
                            "porrio config set %s VALUE\n", cfg_name(k), cfg_name(k));
            return 2;
        }
        cfg_default(k, def, sizeof(def));
        value = def, from = "default";
    }
    if (cfg_validate(k, value, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: %s=%s (from %s): %s\n", cfg_name(k), value, from, err);
        return 2;
    }
    if (s->etcd == NULL) {
        fprintf(stderr, "porrio: %s\n", s->etcd_err);
        return 1;
    }
    snprintf(key, sizeof(key), "%s%s", s->cfg.value[CFG_ETCD_PREFIX], cfg_name(k));
    if (etcd_put(s->etcd, key, value, ETCD_CLI_TIMEOUT_MS, err, sizeof(err)) != 0) {
        fprintf(stderr, "porrio: cannot write %s to etcd: %s\n", key, err);
        return 1;
    }
    printf("%s=%s\n", key, value);
    fprintf(stderr, "from %s\n", from);
    return 0;
}

/* Non-zero when arg is KEY or KEY=VALUE for a known KEY. */
static int names_key(const char *arg)
{
    char name[64];
    size_t n = strcspn(arg, "=");
    snprintf(name, sizeof(name), "%.*s", (int)n, arg);
    return n < sizeof(name) && cfg_lookup(name) >= 0;
}

int config_command(settings_t *s, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *verb = argv[1];
    int k;
    if (strcmp(verb, "set") == 0 && argc >= 3) {
        /* `set KEY VALUE`, as the course's script; or several `KEY` / `KEY=VALUE` at once */
        if (argc == 4 && !names_key(argv[3]) && strchr(argv[2], '=') == NULL) {
            if ((k = lookup(argv[2])) < 0)
                return 2;
            return set(s, k, argv[3]);
        }
        int rc = 0;
        for (int i = 2; i < argc && rc == 0; i++) {
            char name[64];
            const char *eq = strchr(argv[i], '=');
            size_t n = eq != NULL ? (size_t)(eq - argv[i]) : strlen(argv[i]);
            snprintf(name, sizeof(name), "%.*s", (int)n, argv[i]);
            if ((k = lookup(name)) < 0)
                return 2;
            rc = set(s, k, eq != NULL ? eq + 1 : NULL);
        }
        return rc;
    }
    if (strcmp(verb, "get") == 0 && argc == 3) {
        if ((k = lookup(argv[2])) < 0)
            return 2;
        if (s->etcd != NULL && need_etcd(s) != 0)
            return 1;
        printf("%s\n", s->cfg.value[k]);
        fprintf(stderr, "%s\n", cfg_source_name(s->cfg.source[k]));
        return 0;
    }
    if (strcmp(verb, "list") == 0 && argc == 2) {
        if (s->etcd != NULL && need_etcd(s) != 0)
            return 1;
        for (k = 0; k < CFG_COUNT; k++)
            printf("%s\t%s\t%s\t%s\n", cfg_name(k), s->cfg.value[k], cfg_source_name(s->cfg.source[k]),
                   s->etcd_vals.val[k] != NULL ? s->etcd_vals.val[k] : "-");
        return 0;
    }
    return usage();
}
