/* The source layers: .env files (a small, strict dialect of the dotenv format, see config.h),
 * the environment and command-line flags. */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the environment and flags ---- */

/* lookup (cfg_lookup or cfg_flag_lookup) of the n bytes at s, which need not end in a NUL. */
static int lookup_n(int (*lookup)(const char *), const char *s, size_t n)
{
    char name[32]; /* longer than any setting's name or flag */
    if (n >= sizeof name)
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    return lookup(name);
}

int cfg_layer_set(cfg_layer_t *l, cfg_key_t k, const char *value)
{
    char *copy = NULL;
    if ((int)k < 0 || k >= CFG_COUNT)
        return -1;
    if (value && !(copy = strdup(value)))
        return -1;
    free(l->val[k]);
    l->val[k] = copy;
    return 0;
}

void cfg_layer_free(cfg_layer_t *l)
{
    for (int k = 0; l && k < CFG_COUNT; k++) {
        free(l->val[k]);
        l->val[k] = NULL;
    }
}

int cfg_layer_env(cfg_layer_t *l)
{
    for (int k = 0; k < CFG_COUNT; k++) {
        const char *v = getenv(cfg_name((cfg_key_t)k));
        if (v && cfg_layer_set(l, (cfg_key_t)k, v) < 0)
            return -1;
    }
    return 0;
}

int cfg_layer_flags(cfg_layer_t *l, int argc, char **argv, int *next, char *err, size_t errlen)
{
    int i, dummy;
    if (!next)
        next = &dummy;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        int k = lookup_n(cfg_flag_lookup, a, n);
        const char *v;
        *next = i;
        if (k < 0) {
            snprintf(err, errlen, "unknown flag %.*s", (int)n, a);
            return -1;
        }
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            v = argv[++i];
        } else {
            snprintf(err, errlen, "flag %s needs a value (%s)", cfg_flag((cfg_key_t)k), cfg_allowed((cfg_key_t)k));
            return -1;
        }
        if (cfg_layer_set(l, (cfg_key_t)k, v) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    *next = i;
    return 0;
}

/* ---- .env ---- */

/* Larger than any sensible .env; guards against pointing at the wrong file. */
#define DOTENV_MAX (1024 * 1024)

#define BAD_KEY "invalid key (must match [A-Za-z_][A-Za-z0-9_]*)"

enum { LINE_OK, LINE_BAD, LINE_OOM };

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}
static int is_key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static int is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    return p;
}

/* After a closing quote only whitespace and a comment may follow. */
static int tail_ok(const char *p, const char *end)
{
    p = skip_space(p, end);
    return p == end || *p == '#';
}

/* Parses the value part of a line, [p, end) starting just after '='. On LINE_OK *out is a
 * malloc'd copy of the value; on LINE_BAD *why says what is wrong. */
static int parse_value(const char *p, const char *end, char **out, const char **why)
{
    const char *raw = p;
    char *buf = malloc((size_t)(end - p) + 1), *o = buf;
    if (!buf)
        return LINE_OOM;
    p = skip_space(p, end);
    if (p < end && *p == '\'') {
        const char *close = memchr(p + 1, '\'', (size_t)(end - p - 1));
        if (!close) {
            *why = "unterminated single quote";
            goto bad;
        }
        memcpy(o, p + 1, (size_t)(close - p - 1));
        o += close - p - 1;
        if (!tail_ok(close + 1, end)) {
            *why = "unexpected text after closing quote";
            goto bad;
        }
    } else if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p == end) {
                *why = "unterminated double quote";
                goto bad;
            }
            if (*p == '"')
                break;
            if (*p == '\\' && p + 1 < end) {
                switch (*++p) {
                case 'n':
                    *o++ = '\n';
                    break;
                case 'r':
                    *o++ = '\r';
                    break;
                case 't':
                    *o++ = '\t';
                    break;
                case '"':
                case '\\':
                    *o++ = *p;
                    break;
                default: /* an unknown escape stays as written */
                    *o++ = '\\';
                    *o++ = *p;
                }
            } else {
                *o++ = *p;
            }
        }
        if (!tail_ok(p + 1, end)) {
            *why = "unexpected text after closing quote";
            goto bad;
        }
    } else {
        const char *v = p, *ve = end;
        /* '#' starts a comment only after whitespace, so KEY=a#b keeps its '#'. */
        for (const char *q = v; q < end; q++)
            if (*q == '#' && q > raw && is_space(q[-1])) {
                ve = q;
                break;
            }
        while (ve > v && is_space(ve[-1]))
            ve--;
        memcpy(o, v, (size_t)(ve - v));
        o += ve - v;
    }
    *o = '\0';
    *out = buf;
    return LINE_OK;
bad:
    free(buf);
    return LINE_BAD;
}

/* One line, [p, end) without its newline. *key is the setting it sets, or -1 for a blank line,
 * a comment or a key that is not a porrio setting. */
static int parse_line(const char *p, const char *end, int *key, char **val, const char **why)
{
    *key = -1;
    *val = NULL;
    size_t n = (size_t)(end - p);
    if (n > 0 && p[n - 1] == '\r')
        end = p + --n;
    if (memchr(p, '\0', n)) {
        *why = "NUL byte";
        return LINE_BAD;
    }
    p = skip_space(p, end);
    if (p == end || *p == '#')
        return LINE_OK;
    if (end - p > 6 && memcmp(p, "export", 6) == 0 && is_space(p[6])) {
        const char *after = skip_space(p + 6, end);
        if (after < end && *after != '=') /* else the key is literally "export" */
            p = after;
    }
    const char *k = p;
    while (p < end && is_key_char(*p))
        p++;
    const char *ke = p;
    p = skip_space(p, end);
    if (p == end || *p != '=') {
        *why = memchr(k, '=', (size_t)(end - k)) ? BAD_KEY : "expected KEY=VALUE";
        return LINE_BAD;
    }
    if (ke == k || !is_key_start(*k)) {
        *why = BAD_KEY;
        return LINE_BAD;
    }
    int st = parse_value(p + 1, end, val, why);
    if (st != LINE_OK)
        return st;
    *key = lookup_n(cfg_lookup, k, (size_t)(ke - k));
    if (*key < 0) {
        free(*val);
        *val = NULL;
    }
    return LINE_OK;
}

int cfg_layer_dotenv_parse(cfg_layer_t *l, const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    cfg_layer_t tmp = {0};
    const char *p = text, *end = text + len;
    if (!origin)
        origin = ".env";
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *why = NULL;
        int key;
        char *val;
        int st = parse_line(p, le, &key, &val, &why);
        if (st == LINE_BAD) {
            snprintf(err, errlen, "%s line %d: %s", origin, line, why);
            goto fail;
        }
        if (st == LINE_OOM) {
            snprintf(err, errlen, "%s: out of memory", origin);
            goto fail;
        }
        if (key >= 0) {
            free(tmp.val[key]);
            tmp.val[key] = val;
        }
        p = nl ? nl + 1 : end;
    }
    /* Only a fully parsed file changes the layer. */
    for (int k = 0; k < CFG_COUNT; k++)
        if (tmp.val[k]) {
            free(l->val[k]);
            l->val[k] = tmp.val[k];
        }
    return 0;
fail:
    cfg_layer_free(&tmp);
    return -1;
}

int cfg_layer_dotenv_file(cfg_layer_t *l, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(DOTENV_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, DOTENV_MAX + 1, f);
    int rc = -1;
    if (ferror(f))
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    else if (n > DOTENV_MAX)
        snprintf(err, errlen, "%s: larger than %d bytes", path, DOTENV_MAX);
    else
        rc = cfg_layer_dotenv_parse(l, buf, n, path, err, errlen);
    free(buf);
    fclose(f);
    return rc;
}
