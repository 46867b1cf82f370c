/* Settings: the table of porrio's settings, their validation and defaults, the sources they
 * come from (.env, environment, etcd, command-line flags) and the resolution of the effective
 * value of each (README: Settings). Nothing here logs, prints or talks to etcd: the etcd layer is
 * filled by the caller, and problems come back as messages for the caller to report. */
#ifndef PORRIO_CONFIG_H
#define PORRIO_CONFIG_H

#include <stddef.h>

typedef enum {
    CFG_PORT,
    CFG_HOST,
    CFG_WORKERS,
    CFG_LOG_LEVEL,
    CFG_DATA_DIR,
    CFG_HITOS_FILE,
    CFG_STATIC_DIR,
    CFG_MAX_BODY_BYTES,
    CFG_ETCD_ENDPOINTS,
    CFG_ETCD_PREFIX,
    CFG_SHUTDOWN_GRACE_S,
    CFG_CORS_ORIGINS,
    CFG_MAX_POOLS,
    CFG_MAX_BETS_PER_POOL,
    CFG_MAX_HITOS,
    CFG_ADMIN_TOKENS,
    CFG_LOG_SINK,
    CFG_SHUTDOWN_DELAY_S,
    CFG_TRUSTED_PROXIES,
    CFG_STORE,
    CFG_COUNT
} cfg_key_t;

/* With STORE=etcd the state's keys are under ETCD_PREFIX followed by this (docs/store.md); the
 * settings are the keys under ETCD_PREFIX that sort before it (their names are upper case). */
#define CFG_ETCD_DATA "data/"

/* Precedence order: a higher value wins. */
typedef enum { CFG_SRC_DEFAULT, CFG_SRC_DOTENV, CFG_SRC_ENV, CFG_SRC_ETCD, CFG_SRC_FLAG, CFG_SRC_COUNT } cfg_src_t;

enum { CFG_LOG_DEBUG, CFG_LOG_INFO, CFG_LOG_WARN, CFG_LOG_ERROR };

/* One source's raw values, NULL where that source does not set the key. The strings are
 * malloc'd and owned by the layer; a zero-initialised layer is empty. */
typedef struct {
    char *val[CFG_COUNT];
} cfg_layer_t;

typedef struct {
    char *value[CFG_COUNT]; /* effective raw value, malloc'd, owned by cfg_t ("" allowed) */
    cfg_src_t source[CFG_COUNT];
    /* parsed from value[] */
    int port, workers, log_level /* CFG_LOG_* */, shutdown_grace_s, shutdown_delay_s;
    size_t max_body_bytes, max_pools, max_bets_per_pool, max_hitos;
} cfg_t;

/* ---- the table of settings; every function returns NULL / -1 / 0 for an out-of-range key ---- */

/* Environment name of k ("PORT"); static string. */
const char *cfg_name(cfg_key_t k);
/* Key whose environment name is exactly `name` (case-sensitive), -1 if none. */
int cfg_lookup(const char *name);
/* "default", "dotenv", "env", "etcd" or "flag"; static string. */
const char *cfg_source_name(cfg_src_t s);
/* Command-line flag of k: the name lowercased with '_' -> '-', e.g. "--max-body-bytes". */
const char *cfg_flag(cfg_key_t k);
/* Key whose flag is exactly `flag` ("--port"), -1 if none. */
int cfg_flag_lookup(const char *flag);
/* What a valid value looks like, e.g. "an integer from 1 to 65535"; static string. */
const char *cfg_allowed(cfg_key_t k);
/* One-line meaning of k, for --help; static string. */
const char *cfg_describe(cfg_key_t k);
/* 1 for the settings applied without a restart: LOG_LEVEL, MAX_BODY_BYTES, SHUTDOWN_GRACE_S,
 * SHUTDOWN_DELAY_S, CORS_ORIGINS, MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS, ADMIN_TOKENS, LOG_SINK,
 * TRUSTED_PROXIES. */
int cfg_is_live(cfg_key_t k);
/* 0 for ETCD_ENDPOINTS and ETCD_PREFIX, which are never read from or written to etcd; else 1. */
int cfg_from_etcd(cfg_key_t k);
/* 1 for WORKERS (number of CPUs) and HITOS_FILE (a file search): no fixed default text. */
int cfg_default_is_computed(cfg_key_t k);

/* Writes k's default value into buf. WORKERS is the number of online CPUs (clamped to 1..256);
 * HITOS_FILE is the first regular file among ./hitos.json, /data/hitos.json, ./data/hitos.json,
 * or "" when there is none. Returns 0; -1 (buf holding a truncated value) if len is too small
 * or k is out of range. */
int cfg_default(cfg_key_t k, char *buf, size_t len);

/* Checks a raw value for k against cfg_allowed(k). 0 if valid; -1 with err set to
 * "must be " + cfg_allowed(k), e.g. "must be an integer from 1 to 65535", and for a list of
 * CIDRs "; " and the first bad entry with what is wrong with it. */
int cfg_validate(cfg_key_t k, const char *value, char *err, size_t errlen);

/* CFG_LOG_* for "debug", "info", "warn" or "error" (exact, lowercase); -1 otherwise. */
int cfg_log_level_parse(const char *s);
/* "debug".."error" for a CFG_LOG_* level, NULL otherwise; static string. */
const char *cfg_log_level_name(int level);

/* Parses the n bytes at url as scheme + host [":" port] ["/"]: host a hostname, an IPv4 literal
 * or a bracketed IPv6 literal (copied without the brackets into host, which may be NULL), the
 * port 1-65535 into *port (may be NULL), or default_port when it is absent and default_port > 0
 * (with default_port <= 0 a port is required). 0; -1 for anything else or a host too long. */
int cfg_url_parse(const char *url, size_t n, const char *scheme, int default_port, char *host, size_t hostlen, int *port);

/* The index-th endpoint (from 0) of a valid ETCD_ENDPOINTS list: host into host (without the
 * brackets of an IPv6 literal), port into *port. 0 if found; -1 past the end of the list, for
 * an invalid entry, or when host is too small. */
int cfg_etcd_endpoint(const char *list, int index, char *host, size_t hostlen, int *port);

/* ---- layers ---- */

/* Sets (a copy of) value for k in l, replacing and freeing any previous one; NULL unsets.
 * No validation: that happens when layers are resolved. 0; -1 if out of memory or k is not
 * a key. */
int cfg_layer_set(cfg_layer_t *l, cfg_key_t k, const char *value);

/* Fills l from getenv(NAME) for every key that is set in the environment (an empty variable
 * counts as set). 0, or -1 if out of memory. */
int cfg_layer_env(cfg_layer_t *l);

/* Parses .env text. Lines: blank, `# comment`, `KEY=VALUE`, optional leading `export `; VALUE
 * may be unquoted (surrounding whitespace and a ` #comment` trimmed), 'single quoted' (literal)
 * or "double quoted" (\n \r \t \" \\ escapes; any other backslash is kept). A later line for
 * the same key wins. Keys that are not porrio settings are accepted and ignored. A line that is
 * none of these (no '=', a key not matching [A-Za-z_][A-Za-z0-9_]*, an unterminated quote,
 * junk after a closing quote, a NUL byte) is an error: -1 with err like
 * ".env line 3: expected KEY=VALUE", `origin` (".env" when NULL) naming the file, and l left
 * untouched. On success the values found are set in l; 0. -1 also when out of memory. */
int cfg_layer_dotenv_parse(cfg_layer_t *l, const char *text, size_t len, const char *origin, char *err, size_t errlen);

/* Reads and parses the .env file at path (named by path in messages). A missing file is not
 * an error: 0, layer untouched. Unreadable or larger than 1 MiB: -1 with err. */
int cfg_layer_dotenv_file(cfg_layer_t *l, const char *path, char *err, size_t errlen);

/* Parses setting flags from argv[1..argc-1] (argv[0] being the program name): `--port 8080`
 * and `--port=8080` for every setting; a repeated flag's last value wins. Stops at the first
 * argument that does not start with '-' (or is "-") or just after `--`, storing the index of
 * the first unconsumed argument in *next (argc when all were consumed). An unknown flag
 * (including --help/--version, which the caller handles itself) or a flag without a value
 * (none follows, or the next argument starts with "--": use --flag=VALUE for such a value) is
 * an error: -1 with err naming the flag, and *next the index of that flag. Values are not
 * validated here. -1 also when out of memory. */
int cfg_layer_flags(cfg_layer_t *l, int argc, char **argv, int *next, char *err, size_t errlen);

/* Frees l's strings and sets them to NULL; the struct itself is the caller's. */
void cfg_layer_free(cfg_layer_t *l);

/* ---- resolution ---- */

/* Called for a value the resolution skipped: key, the bad value, and why ("must be ..."). */
typedef void (*cfg_warn_cb)(void *ctx, cfg_key_t k, const char *value, const char *message);

/* Resolves every key from layers[CFG_SRC_DOTENV..CFG_SRC_FLAG] (layers[CFG_SRC_DEFAULT] is
 * ignored; any entry may be NULL) plus the defaults: the highest source that sets a key wins,
 * except that ETCD_ENDPOINTS and ETCD_PREFIX ignore the etcd layer. Each winning value is
 * validated. An invalid value from flag, env, .env or default makes the call fail: -1 with err
 * naming the setting, its source and what is allowed, e.g.
 * "PORT=abc (from env): must be an integer from 1 to 65535". An invalid value from etcd is
 * skipped, the next source applies, and warn (unless NULL) is called with it.
 * *c is overwritten without being freed (cfg_free it first when reusing one). On success it
 * holds the values, sources and parsed fields: 0. On failure (or out of memory) it is left
 * all-empty, safe to cfg_free: -1. */
int cfg_resolve(cfg_t *c, cfg_layer_t *const layers[CFG_SRC_COUNT], cfg_warn_cb warn, void *ctx, char *err, size_t errlen);

/* Validates value for k and, if valid, makes it k's effective value from src in c (replacing
 * the old value and updating the parsed field) — for changes after start, such as an etcd
 * watch. 0; -1 with err as cfg_validate (or "out of memory"), c unchanged. */
int cfg_set(cfg_t *c, cfg_key_t k, const char *value, cfg_src_t src, char *err, size_t errlen);

/* Frees c's values and sets them to NULL; the struct itself is the caller's. */
void cfg_free(cfg_t *c);

#endif
