/* route: maps (method, path) to an opaque handler. Pure strings: it knows nothing of HTTP
 * libraries. Build the table once at startup; afterwards route_match only reads it, so any number
 * of threads may match concurrently, and it never allocates. */
#ifndef PORRIO_ROUTE_H
#define PORRIO_ROUTE_H
#include <stddef.h>

enum { ROUTE_GET = 1, ROUTE_HEAD = 2, ROUTE_POST = 4, ROUTE_PUT = 8, ROUTE_DELETE = 16, ROUTE_PATCH = 32, ROUTE_OPTIONS = 64 };
#define ROUTE_ALL_METHODS  127
#define ROUTE_MAX_PARAMS   8
#define ROUTE_MAX_SEGMENTS 32 /* per template; a longer path can never match */
#define ROUTE_ALLOW_MAX    48 /* enough for route_allow_string of every method, NUL included */

/* "GET" -> ROUTE_GET, ... Case-sensitive, as HTTP methods are; anything unknown -> 0. */
int route_method(const char *name, size_t len);

typedef struct route_table route_table_t; /* opaque */

/* An empty table, owned by the caller (route_table_free). NULL on OOM. */
route_table_t *route_table_new(void);
/* Frees the table and its copies of the templates; NULL is a no-op. Every route_match_t filled
 * from it (its tmpl, its param names) is dangling afterwards. */
void route_table_free(route_table_t *t);

/* Adds methods (a mask) on tmpl. The table copies tmpl; handler/data stay the caller's and are
 * only handed back on match. A GET route answers HEAD too, unless HEAD gets its own handler.
 * tmpl is "/" or "/seg/seg..." where a seg is a literal or a whole-segment parameter "{name}",
 * name being [A-Za-z0-9_]+. The same template may be added again with other methods.
 * -1 with a message in err (when err/errlen allow) on: a template not starting with '/', an
 * empty segment ("//", trailing '/'), '{' or '}' not forming a whole segment, '?' or '#' in it,
 * an empty, invalid or duplicate parameter name, more than ROUTE_MAX_PARAMS parameters or
 * ROUTE_MAX_SEGMENTS segments, a method mask empty or out of range, a method already registered
 * on that template, a template with the same shape as another but other parameter names
 * ("/a/{x}" vs "/a/{y}": they could never be told apart), or OOM. */
int route_add(route_table_t *t, int methods, const char *tmpl, void *handler, void *data, char *err, size_t errlen);

typedef struct {
    const char *name;  /* points into the table */
    const char *value; /* percent-decoded, NUL-terminated, points into route_match's buf */
    size_t len;
} route_param_t;

typedef struct {
    void *handler, *data;
    const char *tmpl; /* the matched template (owned by the table); also set for 405 */
    int allow;        /* methods the path allows (HEAD included when GET is), FOUND and 405 */
    int nparams;
    route_param_t params[ROUTE_MAX_PARAMS];
} route_match_t;

typedef enum { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED, ROUTE_BAD_PATH } route_result_t;

/* Matches method (one ROUTE_ bit; 0 for an unknown method) and path (which may carry "?query",
 * ignored; it need not be NUL-terminated). Parameter values are percent-decoded (every %XX, so a
 * decoded '/' stays inside the value; '+' stays '+') into buf, NUL-terminated; m->params point
 * there. buflen >= pathlen + ROUTE_MAX_PARAMS is always enough; a smaller buf that turns out too
 * small gives ROUTE_BAD_PATH, never an overflow. Literal segments compare raw.
 * Precedence: among templates matching the path, the one with a literal where the other has a
 * parameter at the first differing segment wins ("/hitos/new" over "/hitos/{id}"). The choice is
 * made among the templates that serve the method, so the path's allow mask is the union of every
 * template it matches. A single trailing slash is ignored; an empty segment ("//") never matches.
 * Results: ROUTE_FOUND with handler/data/tmpl/params/allow; ROUTE_METHOD_NOT_ALLOWED with allow
 * and tmpl (of the most specific template); ROUTE_NOT_FOUND (m->allow 0); ROUTE_BAD_PATH when a
 * parameter of the chosen template has bad percent-encoding ("%zz", "%4"), holds a NUL (a raw
 * byte or %00), or buf is too small. m is always reset first. */
route_result_t route_match(const route_table_t *t, int method, const char *path, size_t pathlen, char *buf, size_t buflen,
                           route_match_t *m);

/* The value of query parameter `name` in path's "?query" (path need not be NUL-terminated),
 * percent-decoded into buf ('+' stays '+'): 1 when given once, 0 when absent, -1 when it is given
 * twice, has bad percent-encoding or a NUL (raw or %00), or does not fit in buflen with its NUL.
 * "name" with no '=' has the empty value. */
int route_query(const char *path, size_t pathlen, const char *name, char *buf, size_t buflen);

/* The decoded value of parameter name in m, or NULL when there is none. */
const char *route_param(const route_match_t *m, const char *name);

/* Writes the Allow header value for a mask ("GET, HEAD, PUT"), in the fixed order GET HEAD POST
 * PUT DELETE PATCH OPTIONS, NUL-terminated and truncated to len-1 chars like snprintf. Returns the
 * full length (>= len means truncated; ROUTE_ALLOW_MAX always suffices). */
size_t route_allow_string(int allow, char *buf, size_t len);

/* Calls cb once per template, in the order templates were first added, with the union of the
 * methods registered on it exactly as given (the implied HEAD of a GET is not added). */
void route_each(const route_table_t *t, void (*cb)(void *ctx, const char *tmpl, int methods), void *ctx);

#endif
