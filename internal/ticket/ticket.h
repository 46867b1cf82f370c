/*
 * ticket: the durability ledger, the one place that says when a change may be acknowledged.
 *
 * Every change gets a ticket when the store queues it for the journal (store_append); tickets
 * are handed out in journal order, 1, 2, 3… A ticket is
 *   TICKET_PENDING  queued or written, not yet fsynced;
 *   TICKET_DURABLE  written and fsynced: it survives a crash;
 *   TICKET_LOST     its write or its fsync failed: it was never acknowledged, and the journal
 *                   was cut back before it (unless even that failed: docs/store.md).
 * The store's committer decides tickets in increasing order, a batch at a time (ticket_decide).
 *
 * The rule, which every layer follows through this ledger:
 *   - the answer to a write goes out only once its ticket is DURABLE (503 when it is LOST):
 *     the server holds it (server_await);
 *   - the state readers see holds only DURABLE changes: the application publishes the version
 *     holding a change from the listener it registers here, before the server's listener
 *     releases the answers, so a client that got its 2xx reads its write on any connection;
 *   - a write that found its answer in a change still PENDING (a 200 for a pool created a moment
 *     ago) waits for the newest ticket issued;
 *   - readers never wait for a ticket: they read the last published version.
 * docs/architecture.md draws the whole path.
 */
#ifndef PORRIO_TICKET_H
#define PORRIO_TICKET_H
#include <stdint.h>

typedef enum { TICKET_PENDING, TICKET_DURABLE, TICKET_LOST } ticket_state_t;

typedef struct ticket_ledger ticket_ledger_t;

/** Called on the committer thread once every ticket <= upto is decided; fate is DURABLE or LOST. */
typedef void (*ticket_listener_t)(void *ctx, uint64_t upto, ticket_state_t fate);

#define TICKET_LISTENERS_MAX 4

/** A new ledger (no ticket issued). NULL when memory runs out. Free with ticket_ledger_free. */
ticket_ledger_t *ticket_ledger_new(void);

/** Frees the ledger; NULL is a no-op. Nobody may use it any more. */
void ticket_ledger_free(ticket_ledger_t *l);

/**
 * Adds a listener, called by ticket_decide in the order listeners were added. Thread-safe: one
 * added while tickets are being decided hears the next decision on. -1 when
 * TICKET_LISTENERS_MAX are already registered.
 */
int ticket_listen(ticket_ledger_t *l, ticket_listener_t cb, void *ctx);

/**
 * Adds a watcher: called by ticket_decide after the decision shows in ticket_state, for those
 * who wake waiters that then read the state (the server). Same limits and timing as
 * ticket_listen; watchers run after every listener.
 */
int ticket_watch(ticket_ledger_t *l, ticket_listener_t cb, void *ctx);

/** The next ticket. The caller serialises issuing with its own ordering (the store's queue). */
uint64_t ticket_issue(ticket_ledger_t *l);

/** The newest ticket issued (0 before any). Thread-safe. */
uint64_t ticket_last_issued(ticket_ledger_t *l);

/**
 * Decides every ticket up to `upto` (older decisions stand; an upto not above the last one is
 * ignored), then calls the listeners and wakes ticket_wait. From one thread at a time (the
 * committer). The decision shows in ticket_state and ticket_wait only once every listener has
 * returned, so whoever sees a ticket DURABLE there also sees what the listeners did for it.
 */
void ticket_decide(ticket_ledger_t *l, uint64_t upto, ticket_state_t fate);

/**
 * The state of ticket t. Thread-safe; never waits for a decision (after a failure it takes the
 * ledger's mutex for a moment). A ticket so old that the ledger no longer
 * remembers its fate (more than TICKET_LOST_RANGES failures ago) reads as LOST: durability that
 * may not be there is never promised. Ticket 0 (no change) reads as DURABLE.
 */
ticket_state_t ticket_state(ticket_ledger_t *l, uint64_t t);

/** Blocks until t (issued, or 0) is decided; returns its fate. For tools and tests (servers use
 * listeners). */
ticket_state_t ticket_wait(ticket_ledger_t *l, uint64_t t);

#define TICKET_LOST_RANGES 16

#endif
