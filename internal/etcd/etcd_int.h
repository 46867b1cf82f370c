/* What the files of the etcd module share and nobody else uses. */
#ifndef PORRIO_ETCD_INT_H
#define PORRIO_ETCD_INT_H

#include "etcd/etcd.h"

/* The transactions of one client waiting to be sent together (group.c). */
typedef struct etcd_group etcd_group_t;

/* A group of e's with nothing waiting; NULL when out of memory. Its sender thread starts with
 * the first transaction. */
etcd_group_t *etcd_group_new(etcd_t *e);

/* Stops g's sender, once every queued transaction was answered, and frees g (NULL is fine). */
void etcd_group_free(etcd_group_t *g);

/* e's group, made with e. */
etcd_group_t *etcd_group_of(etcd_t *e);

/* Posts a /v3/kv/txn body (freed here; NULL: out of memory) on the calling thread's kept
 * connection, with etcd_range's endpoint and deadline rules. 0 with the malloc'd answer in
 * *resp; -1 with err. */
int etcd_txn_send(etcd_t *e, char *body, int timeout_ms, char **resp, size_t *resp_len, char *err, size_t errlen);

#endif
