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
 * - Every call ends exactly once: rpc_call_free frees it and counts it.
 */
#ifndef MASTER_RPC_H
#define MASTER_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <uthash.h>

#include "master/sched.h"
#include "master/timeouts.h"

struct conn;
struct worker;
struct proto_msg;
struct wspool_reason;

struct call {
	uint64_t k_id;               /* the master's call id, sent to the worker */
	struct conn *k_conn;         /* NULL once detached */
	struct worker *k_worker;     /* NULL while queued */
	struct timeouts_entry k_deadline; /* pending: the call has a deadline */
	const char *k_route;         /* the route's name (routes.c's table owns it) */
	size_t k_route_len;
	int k_pattern;
	unsigned k_flags;
#define CALL_NOTIFY 0x1              /* notification: never answered */
	int k_outcome;               /* enum call_outcome, -1 until known */
	uint64_t k_start_us;
	uint64_t k_conn_id;          /* for logs, after the connection is gone */
	int k_worker_pid;            /* for logs, after the worker is gone */
	char *k_params;              /* until it ends: the params' JSON text, to
	                                send it again when its worker dies */
	size_t k_params_len;
	uint64_t k_wseq;             /* its number among the CALLs sent to k_worker */
	bool k_rerun;                /* run again once already (idempotent) */
	UT_hash_handle hh;           /* rpc's calls, by k_id */
	UT_hash_handle hh_conn;      /* conn's c_calls, by client id */
	struct sched_entry k_sched;  /* while waiting for a worker */
	size_t k_client_id_len;
	char k_client_id[];          /* the id as canonical JSON text (a
	                                notification: a key no id can be) */
};

/* How a call ended, as the client saw it (the outcome label of
 * wspool_calls_total). */
#define CALL_OUTCOMES(X) \
	X(OK, "ok") X(ERROR, "error") X(CANCELLED, "cancelled") \
	X(DISCONNECTED, "disconnected") X(TIMEOUT, "timeout") \
	X(CRASHED, "crashed") X(LOST, "lost") X(SHUTDOWN, "shutdown")

enum call_outcome {
#define X(e, s) OUTCOME_##e,
	CALL_OUTCOMES(X)
#undef X
	OUTCOME_COUNT
};

/* Registers the outcome names, the gauges and sched's hooks. Returns 0 or -1. */
int rpc_init(void);
void rpc_fini(void);

/* A complete text message from a client. */
void rpc_on_message(struct conn *c, const char *data, size_t len);
/* The connection is going away: detach and cancel its calls, and tell
 * the workers that know it. */
void rpc_conn_closed(struct conn *c);

/* Calls not yet ended (attached to a client or not, queued or not). */
unsigned rpc_count(void);
/* Shutdown: end every call still in flight for its client (503 with the
 * reason as data) and cancel it on its worker with that reason. */
void rpc_cancel_all(const struct wspool_reason *reason);

/* Whether call_id is in flight on w (sent to it, not yet ended): what a
 * worker may send replies, DEFERs and LOG lines about. */
bool rpc_call_on(uint64_t call_id, const struct worker *w);

/* The route of a call in flight, or "?" when it has ended. */
const char *rpc_route_of(uint64_t call_id);

/* A reply envelope from worker w (RESULT, CHUNK, END, ERROR). */
void rpc_on_reply(struct worker *w, const struct proto_msg *m);
/* w's drain grace is over: end its calls for their clients (503, reason
 * as data) and cancel them on w, which still owes their terminal replies. */
void rpc_worker_drained_cb(struct worker *w, const struct wspool_reason *reason);

/* ---- a worker's death, call by call (for neighbours.c) ------------------- */

/* Every call, in no particular order: pass NULL first, then the last one
 * returned. Do not free the one returned before taking the next. */
struct call *rpc_call_next(struct call *prev);
/* End one call of a dead worker with reason (502 or 503 for its client). */
void rpc_call_lost(struct call *call, const struct wspool_reason *reason);
/* Give a call a new id (it runs again: nothing of its first run may be
 * taken for the second's). */
void rpc_call_renumber(struct call *call);
/* Send call to w (CONN_OPEN first if w has not seen its connection); its
 * params are kept until it ends. Returns 0 or -1 (nothing sent). */
int rpc_send_call(struct call *call, struct worker *w, const char *params,
    size_t len);
/* The call is over: count it, release its worker, free it. */
void rpc_call_free(struct call *call);

#endif /* MASTER_RPC_H */
