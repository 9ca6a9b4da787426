/*
 * rpc.h: calls, the wire protocol's logic. Reads client messages, answers
 * what the master answers itself (.ping, errors, 404), forwards calls to
 * workers and turns their replies into client messages.
 *
 * Design notes: the life of a call.
 * - A call exists from the accepted client message until its worker's
 *   terminal reply (RESULT, ERROR, END) or the worker's death, whichever
 *   comes first. All that time it is either waiting on sched's queue or
 *   on exactly one worker (k_worker, counted in its w_inflight).
 * - It is attached to its connection (c_calls, by client id) while the
 *   client may still get answers. .cancel, a closed connection or a passed
 *   deadline detach it: nothing more goes to the client for that id, and
 *   the worker is told (CANCEL with the reason), but the call lives on
 *   until the worker's terminal reply so the worker's accounting stays
 *   exact and late replies are recognised and dropped.
 * - When no worker can take a call it waits on sched's bounded queue (in
 *   arrival order) until one can, or --queue-timeout passes (503).
 * - Its params stay with it (k_params) until it ends: when its worker
 *   dies, a call that had not started there, or an idempotent one, is sent
 *   to another worker (neighbours.c decides which).
 * - Notifications are attached to their connection too (under a key no
 *   client id can have), so a closing connection cancels them, but nothing
 *   is ever sent to the client for them.
 * - Every call ends exactly once: calls_free (calls.c) frees it and counts it.
 */
#ifndef MASTER_RPC_H
#define MASTER_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "master/calls.h"

struct conn;
struct worker;
struct proto_msg;
struct wspool_reason;

/* Registers the call table's metrics and sched's hooks. Returns 0 or -1. */
int rpc_init(void);
void rpc_fini(void);

/* A complete text message from a client. */
void rpc_on_message(struct conn *c, const char *data, size_t len);
/* The connection is going away: detach and cancel its calls, and tell
 * the workers that know it. */
void rpc_conn_closed(struct conn *c);
/* The connection is back under its output budget: its subscriptions may
 * send again (flow.h). */
void rpc_conn_writable(struct conn *c);

/* Shutdown: end every call still in flight for its client (503 with the
 * reason as data) and cancel it on its worker with that reason. */
void rpc_cancel_all(const struct wspool_reason *reason);

/* A reply envelope from worker w (RESULT, CHUNK, END, ERROR). */
void rpc_on_reply(struct worker *w, const struct proto_msg *m);
/* w's drain grace is over: end its calls for their clients (503, reason
 * as data) and cancel them on w, which still owes their terminal replies. */
void rpc_worker_drained_cb(struct worker *w, const struct wspool_reason *reason);

/* ---- a worker's death, call by call (for neighbours.c) ------------------- */

/* End one call of a dead worker with reason (502 or 503 for its client). */
void rpc_call_lost(struct call *call, const struct wspool_reason *reason);
/* Send call to w (CONN_OPEN first if w has not seen its connection); its
 * params are kept until it ends. Returns 0 or -1 (nothing sent). */
int rpc_send_call(struct call *call, struct worker *w, const char *params,
    size_t len);

#endif /* MASTER_RPC_H */
