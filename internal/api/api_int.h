/* What api's own files share. */
#ifndef PORRIO_API_INT_H
#define PORRIO_API_INT_H
#include <h2o.h>

#include "api/api.h"

/**
 * The check that opens the routes changing what others rely on (README: Authentication): 0 when
 * the request may go on; otherwise it has been answered (401 with WWW-Authenticate, or 403) and
 * -1 is returned. Neither the header nor the token is logged or echoed.
 */
int api_guard(h2o_req_t *req, const api_t *a);

#endif
