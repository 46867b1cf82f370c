/* What server's own files share: the pool of threads for work that blocks (offload.c). */
#ifndef PORRIO_SERVER_INT_H
#define PORRIO_SERVER_INT_H
#include "server/server.h"

typedef struct offload offload_t;

/* A pool of `threads` threads, started now. NULL when none could start. */
offload_t *offload_new(int threads);

/* Queues work for the pool; done comes back on the calling loop (which must be the request's). */
void offload_submit(offload_t *o, h2o_req_t *req, server_work_cb work, server_work_done_cb done, void *data);

/* Runs what is queued, stops the threads, and gives every result no loop took back to its done
 * with req NULL. After the loops stopped; NULL is a no-op. */
void offload_free(offload_t *o);

#endif
