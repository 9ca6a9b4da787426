/*
 * flow.h: flow control of subscriptions, from a client connection's
 * output budget (--max-client-backlog) back to the worker that produces
 * its chunks: the master gives credit back (PROTO_CREDIT) as chunks reach
 * a connection under its budget, and withholds it while the connection is
 * over it. It sends through the link and keeps its state in the calls.
 *
 * Design notes.
 * - A subscription starts with PROTO_CREDIT_WINDOW (64 KiB) of credit at
 *   its worker, raised at once to --stream-window (a CREDIT right after
 *   the CALL), and each chunk costs PROTO_CHUNK_COST of its value
 *   (proto.h); the worker's yield blocks while the credit is spent. What
 *   a call's chunks cost is owed back to it (k_owed) and granted in pieces
 *   of a quarter window, so a stream whose client keeps up waits only for
 *   those round trips: one subscription runs at about a window per round
 *   trip between the worker and the master.
 * - A chunk that finds its connection over budget pauses the call: its
 *   credit is withheld until the connection is back under half the budget
 *   (when conn.c reads from it again). So the unsent bytes of a connection
 *   stay under its budget plus one window and one chunk per subscription,
 *   whatever the worker could produce; and no stream has more than a
 *   window waiting in the worker's outbox ahead of other calls' answers.
 * - A call detached from its client gets no credit: its CANCEL wakes it.
 * - A CREDIT that cannot be sent (out of memory) stays owed, and every
 *   unpaused call owed credit is tried again FLOW_RETRY_MS later: a worker
 *   waiting for credit may have no other chunk coming to trigger it.
 */
#ifndef MASTER_FLOW_H
#define MASTER_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "master/calls.h"

/* Registers the gauge of paused subscriptions (once, at start-up). */
void flow_init(void);
/* Frees the retry timer (after the loop). */
void flow_fini(void);
/* call was just sent to its worker (k_worker): a fresh window there. */
void flow_on_start(struct call *call);
/* A chunk of call with a value of len bytes went to its client, whose
 * connection now has backlog bytes unsent (0: none to wait for). */
void flow_on_chunk(struct call *call, size_t len, size_t backlog);
/* The connection whose calls are cc is back under its budget: its
 * subscriptions get what they are owed. */
void flow_conn_writable(struct calls_conn *cc);

#endif /* MASTER_FLOW_H */
