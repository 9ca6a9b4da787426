/*
 * rpc.h: calls, the wire protocol's logic. Reads client messages, answers
 * what the master answers itself (.ping, errors, 404), forwards calls to
 * workers and turns their replies into client messages.
 *
 * Design notes: the life of a call.
 * - A call exists from the accepted client message until its worker's
 *   terminal reply (RESULT, ERROR, END) or the worker's death, whichever
 *   comes first; it is on exactly one worker's list for all that time.
 * - It is attached to its connection (c_calls, by client id) while the
 *   client may still get answers. .cancel, a closed connection or a passed
 *   deadline detach it: nothing more goes to the client for that id, and
 *   the worker is told (CANCEL with the reason), but the call lives on
 *   until the worker's terminal reply so the worker's accounting stays
 *   exact and late replies are recognised and dropped.
 * - When no worker can take a call it waits on a bounded queue (in
 *   arrival order) until one can, or --queue-timeout passes (503).
 * - Notifications are attached to their connection too (under a key no
 *   client id can have), so a closing connection cancels them, but nothing
 *   is ever sent to the client for them.
 * - Every call ends exactly once: rpc_call_free frees it and counts it.
 */
#ifndef MASTER_RPC_H
#define MASTER_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <uthash.h>

struct conn;
struct worker;
struct proto_msg;
struct wspool_reason;

struct call {
	uint64_t k_id;               /* the master's call id, sent to the worker */
	struct conn *k_conn;         /* NULL once detached */
	struct worker *k_worker;
	struct event *k_deadline;    /* NULL: no deadline */
	const char *k_route;         /* the route's name (the pool's table owns it) */
	int k_pattern;
	unsigned k_flags;
#define CALL_NOTIFY 0x1              /* notification: never answered */
#define CALL_QUEUED 0x2              /* waiting for a worker (on rpc's queue) */
	int k_outcome;               /* enum call_outcome, -1 until known */
	uint64_t k_start_us;
	uint64_t k_conn_id;          /* for logs, after the connection is gone */
	int k_worker_pid;            /* for logs, after the worker is gone */
	char *k_params;              /* while queued: the packed params */
	size_t k_params_len;
	UT_hash_handle hh;           /* srv calls, by k_id */
	UT_hash_handle hh_conn;      /* conn's c_calls, by client id */
	TAILQ_ENTRY(call) k_wlink;   /* worker's list, or the queue */
	size_t k_client_id_len;
	char k_client_id[];          /* the id as canonical JSON text */
};

TAILQ_HEAD(call_list, call);

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

void rpc_init(void);
void rpc_fini(void);

/* A complete text message from a client. */
void rpc_on_message(struct conn *c, const char *data, size_t len);
/* The connection is going away: detach and cancel its calls. */
void rpc_conn_closed(struct conn *c);

/* Calls not yet ended (attached to a client or not), and those queued. */
unsigned rpc_count(void);
unsigned rpc_queued(void);
/* A worker can take calls (ready, or done with one): feed it the queue. */
void rpc_dispatch_queue(void);
/* Shutdown: end every call still in flight for its client (503 with the
 * reason as data) and cancel it on its worker with that reason. */
void rpc_cancel_all(const struct wspool_reason *reason);

/* End every call of a list for its client (503, reason as data); the calls
 * stay with their worker until its terminal reply. */
void rpc_cancel_list(struct call_list *calls, const struct wspool_reason *reason);

/* The route of a call in flight, or "?" when it has ended. */
const char *rpc_route_of(uint64_t call_id);

/* A reply envelope from worker w (RESULT, CHUNK, END, ERROR). */
void rpc_on_reply(struct worker *w, const struct proto_msg *m);
/* Worker w is gone: every call on it ends with reason. */
void rpc_worker_gone(struct worker *w, struct call_list *calls,
    const struct wspool_reason *reason);

#endif /* MASTER_RPC_H */
