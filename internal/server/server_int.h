/* What server's own files share: the answers other threads finish (hold.c). */
#ifndef PORRIO_SERVER_INT_H
#define PORRIO_SERVER_INT_H
#include "server/server.h"

typedef struct hold hold_t;

/* The set of jobs, with none held. NULL when out of memory. */
hold_t *hold_new(void);

/* server_hold's job, on the request's loop. NULL when out of memory. */
server_job_t *hold_job(hold_t *h, h2o_req_t *req, server_work_done_cb done, void *data);

/* server_job_done's: any thread, once per job. */
void hold_release(server_job_t *j);

/* Waits until every job was released, gives each one no loop took back to its done with req
 * NULL, and frees h. After the loops stopped; NULL is a no-op. */
void hold_free(hold_t *h);

#endif
