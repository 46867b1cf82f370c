/* The settings table, validation, defaults and the resolution. The layers (.env, environment,
 * flags) live in dotenv.c. */
#include "config/config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cors/cors.h"
#include "logsink/logsink.h"
#include "proxy/proxy.h"

typedef enum {
    K_UINT,
    K_HOST,
    K_LOG_LEVEL,
    K_PATH,
    K_ENDPOINTS,
    K_PREFIX,
    K_ORIGINS,
    K_HASHES,
    K_LOG_SINK,
    K_CIDRS,
    K_STORE
} kind_t;

typedef struct {
    const char *name, *flag, *allowed, *describe;
    const char *fixed_default; /* NULL when computed */
    kind_t kind;
    unsigned long long min, max; /* K_UINT only */
    int live, from_etcd;
} meta_t;

static const meta_t META[CFG_COUNT] = {
    [CFG_PORT] = {"PORT", "--port", "an integer from 1 to 65535", "TCP port to listen on", "3000", K_UINT, 1, 65535, 0, 1},
    [CFG_HOST] = {"HOST", "--host", "an IPv4 or IPv6 address, or a hostname of 1 to 253 letters, digits, '.' and '-'",
                  "address to bind", "0.0.0.0", K_HOST, 0, 0, 0, 1},
    [CFG_WORKERS] = {"WORKERS", "--workers", "an integer from 1 to 256",
                     "event-loop threads, all sharing one state (default: number of CPUs)", NULL, K_UINT, 1, 256, 0, 1},
    [CFG_LOG_LEVEL] = {"LOG_LEVEL", "--log-level", "one of debug, info, warn, error",
                       "least severe log level written; can change at run time through etcd", "info", K_LOG_LEVEL, 0, 0, 1, 1},
    [CFG_DATA_DIR] = {"DATA_DIR", "--data-dir", "a non-empty path", "directory of the durable store", "./var", K_PATH, 0, 0, 0, 1},
    [CFG_HITOS_FILE] = {"HITOS_FILE", "--hitos-file", "a non-empty path",
                        "the milestones file (default: first of ./hitos.json, /data/hitos.json, "
                        "./data/hitos.json)",
                        NULL, K_PATH, 0, 0, 0, 1},
    [CFG_STATIC_DIR] = {"STATIC_DIR", "--static-dir", "a non-empty path", "directory of files served for paths no route takes",
                        "./public", K_PATH, 0, 0, 0, 1},
    [CFG_MAX_BODY_BYTES] = {"MAX_BODY_BYTES", "--max-body-bytes", "an integer from 1 to 1073741824",
                            "largest request body accepted; larger ones get 413", "65536", K_UINT, 1, 1073741824ULL, 1, 1},
    [CFG_ETCD_ENDPOINTS] = {"ETCD_ENDPOINTS", "--etcd-endpoints", "empty, or a comma-separated list of http://host:port",
                            "etcd endpoints, comma-separated; empty disables etcd", "http://127.0.0.1:2379", K_ENDPOINTS, 0, 0, 0,
                            0},
    [CFG_ETCD_PREFIX] = {"ETCD_PREFIX", "--etcd-prefix", "1 to 128 printable ASCII characters without spaces",
                         "prefix of the settings' keys in etcd", "porrio:", K_PREFIX, 0, 0, 0, 0},
    [CFG_SHUTDOWN_GRACE_S] = {"SHUTDOWN_GRACE_S", "--shutdown-grace-s", "an integer from 0 to 3600",
                              "seconds SIGTERM waits for in-flight requests", "10", K_UINT, 0, 3600, 1, 1},
    [CFG_CORS_ORIGINS] = {"CORS_ORIGINS", "--cors-origins", "empty, '*', or a comma-separated list of origins scheme://host[:port]",
                          "web origins allowed to read answers (CORS); empty: no CORS headers", "", K_ORIGINS, 0, 0, 1, 1},
    [CFG_MAX_POOLS] = {"MAX_POOLS", "--max-pools", "an integer from 1 to 100000000", "most pools held; creating one more gets 409",
                       "100000", K_UINT, 1, 100000000, 1, 1},
    [CFG_MAX_BETS_PER_POOL] = {"MAX_BETS_PER_POOL", "--max-bets-per-pool", "an integer from 1 to 100000000",
                               "most bets in one pool; a new bettor past it gets 409", "100000", K_UINT, 1, 100000000, 1, 1},
    [CFG_MAX_HITOS] = {"MAX_HITOS", "--max-hitos", "an integer from 1 to 100000000",
                       "most milestones, the file's included; adding one more gets 409", "10000", K_UINT, 1, 100000000, 1, 1},
    [CFG_ADMIN_TOKENS] = {"ADMIN_TOKENS", "--admin-tokens",
                          "empty, or a comma-separated list of 1 to 64 SHA-256 hashes of 64 lowercase hex digits",
                          "hashes of the bearer tokens that writes of results, deletions and new milestones "
                          "need (`porrio token new`); empty leaves them open; can change at run time through etcd",
                          "", K_HASHES, 0, 0, 1, 1},
    [CFG_LOG_SINK] = {"LOG_SINK", "--log-sink",
                      "empty, or syslog+tcp://host[:port] (host a name, an IPv4 or a bracketed IPv6 address; port 514 when absent)",
                      "syslog collector that receives a copy of every log line (RFC 5424 over TCP); empty: none; "
                      "can change at run time through etcd",
                      "", K_LOG_SINK, 0, 0, 1, 1},
    [CFG_SHUTDOWN_DELAY_S] = {"SHUTDOWN_DELAY_S", "--shutdown-delay-s", "an integer from 0 to 3600",
                              "seconds SIGTERM keeps serving with /health/ready at 503 before the drain", "0", K_UINT, 0, 3600, 1,
                              1},
    [CFG_TRUSTED_PROXIES] = {"TRUSTED_PROXIES", "--trusted-proxies",
                             "empty, or a comma-separated list of at most 64 IPv4 or IPv6 addresses or CIDRs "
                             "(127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)",
                             "reverse proxies whose X-Forwarded-For / X-Real-IP name the client in the request log; "
                             "empty: nobody; can change at run time through etcd",
                             "", K_CIDRS, 0, 0, 1, 1},
    [CFG_STORE] = {"STORE", "--store", "local or etcd",
                   "where the state lives: local (the journal under DATA_DIR) or etcd (under ETCD_PREFIX's data/, "
                   "shared by every replica)",
                   "local", K_STORE, 0, 0, 0, 1},
};

static const char *const SOURCES[CFG_SRC_COUNT] = {"default", "dotenv", "env", "etcd", "flag"};
static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

/* Where HITOS_FILE is searched for when not set, in order. */
static const char *const HITOS_SEARCH[] = {"./hitos.json", "/data/hitos.json", "./data/hitos.json"};

static int key_ok(cfg_key_t k)
{
    return (int)k >= 0 && k < CFG_COUNT;
}

const char *cfg_name(cfg_key_t k)
{
    return key_ok(k) ? META[k].name : NULL;
}
const char *cfg_flag(cfg_key_t k)
{
    return key_ok(k) ? META[k].flag : NULL;
}
const char *cfg_allowed(cfg_key_t k)
{
    return key_ok(k) ? META[k].allowed : NULL;
}
const char *cfg_describe(cfg_key_t k)
{
    return key_ok(k) ? META[k].describe : NULL;
}
int cfg_is_live(cfg_key_t k)
{
    return key_ok(k) && META[k].live;
}
int cfg_from_etcd(cfg_key_t k)
{
    return key_ok(k) && META[k].from_etcd;
}
int cfg_default_is_computed(cfg_key_t k)
{
    return key_ok(k) && !META[k].fixed_default;
}

const char *cfg_source_name(cfg_src_t s)
{
    return (int)s >= 0 && s < CFG_SRC_COUNT ? SOURCES[s] : NULL;
}

int cfg_lookup(const char *name)
{
    for (int k = 0; name && k < CFG_COUNT; k++)
        if (strcmp(name, META[k].name) == 0)
            return k;
    return -1;
}

int cfg_flag_lookup(const char *flag)
{
    for (int k = 0; flag && k < CFG_COUNT; k++)
        if (strcmp(flag, META[k].flag) == 0)
            return k;
    return -1;
}

int cfg_log_level_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof LEVELS / sizeof *LEVELS); i++)
        if (strcmp(s, LEVELS[i]) == 0)
            return i;
    return -1;
}

const char *cfg_log_level_name(int level)
{
    return level >= 0 && level < (int)(sizeof LEVELS / sizeof *LEVELS) ? LEVELS[level] : NULL;
}

int cfg_default(cfg_key_t k, char *buf, size_t len)
{
    if (!key_ok(k) || !buf || len == 0)
        return -1;
    const char *v = META[k].fixed_default;
    char cpus[16];
    if (k == CFG_WORKERS) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        /* Keep the computed default inside the range WORKERS accepts. */
        n = n < 1 ? 1 : n > (long)META[k].max ? (long)META[k].max : n;
        snprintf(cpus, sizeof cpus, "%ld", n);
        v = cpus;
    } else if (k == CFG_HITOS_FILE) {
        struct stat st;
        v = "";
        for (size_t i = 0; i < sizeof HITOS_SEARCH / sizeof *HITOS_SEARCH; i++)
            if (stat(HITOS_SEARCH[i], &st) == 0 && S_ISREG(st.st_mode)) {
                v = HITOS_SEARCH[i];
                break;
            }
    }
    return (size_t)snprintf(buf, len, "%s", v) < len ? 0 : -1;
}

/* ---- validation ---- */

/* Decimal digits only: no sign, no whitespace, no empty string, no overflow. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

static int valid_hostname(const char *s, size_t n)
{
    if (n < 1 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int valid_ipv6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

int cfg_url_parse(const char *p, size_t n, const char *scheme, int default_port, char *host, size_t hostlen, int *port)
{
    size_t sl = strlen(scheme);
    const char *end = p + n, *h, *he;
    if (n < sl || memcmp(p, scheme, sl) != 0)
        return -1;
    p += sl;
    if (end > p && end[-1] == '/')
        end--;
    if (p < end && *p == '[') {
        h = p + 1;
        he = memchr(h, ']', (size_t)(end - h));
        if (!he || !valid_ipv6(h, (size_t)(he - h)))
            return -1;
        p = he + 1;
    } else {
        h = p;
        he = memchr(h, ':', (size_t)(end - h));
        if (!he && default_port > 0)
            he = end;
        if (!he || !valid_hostname(h, (size_t)(he - h)))
            return -1;
        p = he;
    }
    unsigned long long v = (unsigned long long)default_port;
    if (p < end || default_port <= 0) {
        if (p >= end || *p != ':')
            return -1;
        p++;
        char digits[8];
        size_t dn = (size_t)(end - p);
        if (dn == 0 || dn >= sizeof digits)
            return -1;
        memcpy(digits, p, dn);
        digits[dn] = '\0';
        if (parse_uint(digits, 1, 65535, &v) < 0)
            return -1;
    }
    if (host) {
        size_t hn = (size_t)(he - h);
        if (hn >= hostlen)
            return -1;
        memcpy(host, h, hn);
        host[hn] = '\0';
    }
    if (port)
        *port = (int)v;
    return 0;
}

/* One ETCD_ENDPOINTS entry: http://host:port, the port required. */
static int endpoint_parse(const char *p, size_t n, char *host, size_t hostlen, int *port)
{
    return cfg_url_parse(p, n, "http://", 0, host, hostlen, port);
}

int cfg_etcd_endpoint(const char *list, int index, char *host, size_t hostlen, int *port)
{
    if (!list || !*list || index < 0)
        return -1;
    for (const char *p = list;; index--) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (index == 0)
            return endpoint_parse(p, n, host, hostlen, port);
        if (!comma)
            return -1;
        p = comma + 1;
    }
}

static int valid_value(cfg_key_t k, const char *v)
{
    const meta_t *m = &META[k];
    unsigned long long u;
    size_t n = strlen(v);
    switch (m->kind) {
    case K_UINT:
        return parse_uint(v, m->min, m->max, &u) == 0;
    case K_HOST:
        return valid_hostname(v, n) || valid_ipv6(v, n);
    case K_LOG_LEVEL:
        return cfg_log_level_parse(v) >= 0;
    case K_STORE:
        return strcmp(v, "local") == 0 || strcmp(v, "etcd") == 0;
    case K_PATH:
        return n > 0 && n < PATH_MAX;
    case K_ENDPOINTS:
        if (n == 0)
            return 1;
        for (;;) {
            const char *comma = strchr(v, ',');
            size_t len = comma ? (size_t)(comma - v) : strlen(v);
            if (endpoint_parse(v, len, NULL, 0, NULL) < 0)
                return 0;
            if (!comma)
                return 1;
            v = comma + 1;
        }
    case K_ORIGINS:
        return cors_list_ok(v);
    case K_HASHES:
        return auth_hashes_parse(v, NULL, 0) >= 0;
    case K_CIDRS:
        return proxy_list_check(v, NULL, 0) >= 0;
    case K_LOG_SINK:
        return n == 0 || cfg_url_parse(v, n, LOGSINK_SCHEME, LOGSINK_DEFAULT_PORT, NULL, 0, NULL) == 0;
    case K_PREFIX:
        if (n < 1 || n > 128)
            return 0;
        for (; *v; v++)
            if (*v < 0x21 || *v > 0x7e)
                return 0;
        return 1;
    }
    return 0;
}

int cfg_validate(cfg_key_t k, const char *value, char *err, size_t errlen)
{
    if (!key_ok(k) || !value) {
        if (err && errlen)
            snprintf(err, errlen, "unknown setting or no value");
        return -1;
    }
    if (valid_value(k, value))
        return 0;
    char why[128] = ""; /* which entry of a list is wrong, where the kind says */
    if (META[k].kind == K_CIDRS)
        proxy_list_check(value, why, sizeof(why));
    if (err && errlen)
        snprintf(err, errlen, "must be %s%s%s", META[k].allowed, why[0] != '\0' ? "; " : "", why);
    return -1;
}

/* A HITOS_FILE default of "" means the search found nothing, which is not an error here. */
static int validate_from(cfg_key_t k, const char *v, cfg_src_t src, char *err, size_t errlen)
{
    if (k == CFG_HITOS_FILE && src == CFG_SRC_DEFAULT && v && !*v)
        return 0;
    return cfg_validate(k, v, err, errlen);
}

/* ---- resolution ---- */

/* Stores an already validated value. */
static int store(cfg_t *c, cfg_key_t k, const char *v, cfg_src_t src)
{
    char *copy = strdup(v);
    unsigned long long u = 0;
    if (!copy)
        return -1;
    free(c->value[k]);
    c->value[k] = copy;
    c->source[k] = src;
    if (META[k].kind == K_UINT)
        parse_uint(v, META[k].min, META[k].max, &u);
    switch (k) {
    case CFG_PORT:
        c->port = (int)u;
        break;
    case CFG_WORKERS:
        c->workers = (int)u;
        break;
    case CFG_SHUTDOWN_GRACE_S:
        c->shutdown_grace_s = (int)u;
        break;
    case CFG_SHUTDOWN_DELAY_S:
        c->shutdown_delay_s = (int)u;
        break;
    case CFG_MAX_BODY_BYTES:
        c->max_body_bytes = (size_t)u;
        break;
    case CFG_MAX_POOLS:
        c->max_pools = (size_t)u;
        break;
    case CFG_MAX_BETS_PER_POOL:
        c->max_bets_per_pool = (size_t)u;
        break;
    case CFG_MAX_HITOS:
        c->max_hitos = (size_t)u;
        break;
    case CFG_LOG_LEVEL:
        c->log_level = cfg_log_level_parse(v);
        break;
    default:
        break;
    }
    return 0;
}

int cfg_set(cfg_t *c, cfg_key_t k, const char *value, cfg_src_t src, char *err, size_t errlen)
{
    if (validate_from(k, value, src, err, errlen) < 0)
        return -1;
    if (store(c, k, value, src) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void cfg_free(cfg_t *c)
{
    for (int k = 0; c && k < CFG_COUNT; k++) {
        free(c->value[k]);
        c->value[k] = NULL;
    }
}

int cfg_resolve(cfg_t *c, cfg_layer_t *const layers[CFG_SRC_COUNT], cfg_warn_cb warn, void *ctx, char *err, size_t errlen)
{
    char msg[256], dflt[256];
    memset(c, 0, sizeof *c);
    for (int k = 0; k < CFG_COUNT; k++) {
        const char *v = NULL;
        cfg_src_t src = CFG_SRC_DEFAULT;
        for (int s = CFG_SRC_FLAG; s > CFG_SRC_DEFAULT && !v; s--) {
            const char *cand = layers && layers[s] ? layers[s]->val[k] : NULL;
            if (!cand || (s == CFG_SRC_ETCD && !META[k].from_etcd))
                continue;
            if (cfg_validate((cfg_key_t)k, cand, msg, sizeof msg) == 0) {
                v = cand;
                src = (cfg_src_t)s;
            } else if (s == CFG_SRC_ETCD) {
                if (warn)
                    warn(ctx, (cfg_key_t)k, cand, msg);
            } else {
                /* Cut a long value so the message still ends with what is allowed. */
                snprintf(err, errlen, "%s=%.100s%s (from %s): %s", META[k].name, cand, strlen(cand) > 100 ? "..." : "", SOURCES[s],
                         msg);
                goto fail;
            }
        }
        if (!v) {
            if (cfg_default((cfg_key_t)k, dflt, sizeof dflt) < 0)
                snprintf(msg, sizeof msg, "the default does not fit");
            else if (validate_from((cfg_key_t)k, dflt, CFG_SRC_DEFAULT, msg, sizeof msg) == 0)
                v = dflt;
            if (!v) {
                snprintf(err, errlen, "%s=%s (from default): %s", META[k].name, dflt, msg);
                goto fail;
            }
        }
        if (store(c, (cfg_key_t)k, v, src) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    cfg_free(c);
    memset(c, 0, sizeof *c);
    return -1;
}
