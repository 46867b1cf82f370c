#include <string.h>

#include "api/api_int.h"
#include "reply/reply.h"

int api_guard(h2o_req_t *req, const api_t *a)
{
    static const char challenge[] = "Bearer realm=\"porrio\"";
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    /* two Authorization headers are no credential at all: which one would count is anyone's guess */
    int once = i != -1 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) == -1;
    h2o_iovec_t v = once ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
    switch (auth_check(a->auth, v.base, v.len)) {
    case AUTH_OK:
        return 0;
    case AUTH_MISSING:
        reply_header(req, "www-authenticate", "WWW-Authenticate", challenge, strlen(challenge));
        reply_error(req, 401, "this operation needs a token: Authorization: Bearer <token>");
        return -1;
    case AUTH_DENIED:
    default:
        reply_error(req, 403, "the token is not allowed: its SHA-256 is not in ADMIN_TOKENS");
        return -1;
    }
}
