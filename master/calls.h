/*
 * calls.h: the call table: every call not yet ended, by its id and, while
 * attached, by its client id on its connection; allocation, outcomes and
 * the end of a call. It sends nothing; rpc.c speaks the protocol.
 *
 * Design notes: the table.
 * - A call is in the table (by k_id) from calls_add until calls_free,
 *   and attached to its connection (the connection's c_calls, by its
 *   client id) from calls_add until calls_detach (or calls_free).
 *   Detached, it is still in the table: its worker owes its terminal
 *   reply, and a late reply is recognised (calls_on_worker) and dropped.
 * - Only calls.c hashes into these tables (with its own hash function):
 *   look calls up through calls_find and calls_find_client.
 * - The first outcome set is the one counted (calls_set_outcome): the
 *   reason the client saw, not what happened after.
 * - Every call ends exactly once: calls_free frees it and counts it. Calls
 *   with a short client id go back to a small pool instead of free().
 *
 * Design notes: the order of notifications.
 * - A connection's notifications run one after another, in arrival order
 *   (the contract). The master enforces it: each notification not yet
 *   ended is chained (k_note_prev, k_note_next) behind the one before it
 *   on its connection; only the head of a chain is given to a worker (or
 *   waits on sched's queue), the others are held (CALL_HELD).
 * - The head ends when it is freed (its terminal reply, its worker's
 *   death, a queue timeout or a deadline while queued): then the next one
 *   is no longer held, and the note_ready hook starts it. A head detached
 *   at its deadline still runs, so the next one still waits for its end.
 * - The chain is made of the calls themselves, so it outlives a detach;
 *   the connection keeps only its last notification (cc_note_last), and
 *   forgets it (calls_conn_gone) before it is freed.
 * - The hook never frees a call (no recursion down a chain): when it
 *   cannot start one (its connection is closing), the call is left to
 *   whoever iterates over the calls being ended.
 */
#ifndef MASTER_CALLS_H
#define MASTER_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>
#include <wspool.h>

#include "master/sched.h"
#include "master/timeouts.h"

struct conn;
struct worker;

struct call {
	uint64_t k_id;               /* the master's call id, sent to the worker */
	struct conn *k_conn;         /* NULL once detached */
	struct calls_conn *k_attached; /* k_conn's calls (calls.c), with k_conn */
	struct worker *k_worker;     /* NULL while queued */
	struct timeouts_entry k_deadline; /* pending: the call has a deadline */
	const char *k_route;         /* the route's name (routes.c's table owns it) */
	size_t k_route_len;
	int k_pattern;
	unsigned k_flags;
#define CALL_NOTIFY 0x1u             /* notification: never answered */
#define CALL_GRACE 0x2u              /* past its deadline, cancelled: k_deadline
                                        is now the end of --deadline-grace */
#define CALL_HELD 0x4u               /* a notification waiting for the one
                                        before it on its connection to end */
#define CALL_UNSTARTED 0x8u          /* past its deadline and grace, not
                                        started: k_deadline looks again */
	int k_outcome;               /* enum call_outcome, -1 until known */
	uint64_t k_start_us;
	uint64_t k_conn_id;          /* for logs, after the connection is gone */
	int k_worker_pid;            /* for logs, after the worker is gone */
	char *k_params;              /* until it ends: the params' JSON text, to
	                                send it again when its worker dies */
	size_t k_params_len;
	uint64_t k_wseq;             /* its number among the CALLs sent to k_worker */
	unsigned char k_reruns;      /* times run again as an idempotent neighbour */
	bool k_paused;               /* flow.c: its credit is withheld */
	uint64_t k_owed;             /* flow.c: credit owed to its worker */
	struct call *k_note_prev;    /* notifications: the one before it on its */
	struct call *k_note_next;    /* connection (NULL: it is the head), the */
	struct calls_conn *k_note_cc; /* one after; the connection while open */
	UT_hash_handle hh;           /* the table, by k_id */
	UT_hash_handle hh_conn;      /* its connection's calls, by client id */
	struct sched_entry k_sched;  /* while waiting for a worker */
	size_t k_client_id_len;
	char k_client_id[];          /* the id as canonical JSON text (a
	                                notification: a key no id can be) */
};

/* The calls attached to one connection (struct conn's c_calls). */
struct calls_conn {
	struct call *cc_calls;       /* by client id (hh_conn) */
	unsigned cc_count;
	struct call *cc_note_last;   /* its last notification not yet ended */
	bool cc_closing;             /* calls_conn_gone: no call may start */
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

/* Registers the outcome names and the in-flight gauges, and the hook that
 * starts a notification once the one before it ended: it runs inside
 * calls_free and must not free a call (rpc_init). */
void calls_init(void (*note_ready)(struct call *call));
/* Frees the pool; every call must have ended. */
void calls_fini(void);

/* A zeroed call with room for a client id of key_len bytes (and a NUL),
 * in no table yet; NULL when memory ran out. */
struct call *calls_alloc(size_t key_len);
/* Into the table by k_id, and attached to c (whose calls are cc) by its
 * client id (k_client_id, k_client_id_len): both set before. */
void calls_add(struct call *call, struct conn *c, struct calls_conn *cc);
/* A notification just added: chain it behind the connection's last one
 * not yet ended. true: one runs before it, so it is held (CALL_HELD)
 * until note_ready says it may start. */
bool calls_note_chain(struct call *call, struct calls_conn *cc);
/* The connection cc goes away: no call of it may start from now on, and
 * its calls forget it. */
void calls_conn_gone(struct calls_conn *cc);
/* Notifications held behind another of their connection. */
unsigned calls_held(void);
/* Off its connection (nothing more goes to the client); no-op when
 * detached already. */
void calls_detach(struct call *call);
/* The outcome counted when it ends, unless one was set already. */
void calls_set_outcome(struct call *call, enum call_outcome o);
/* The call is over: log and count it, take it off its connection, the
 * queue, its deadline and its worker, and free it. */
void calls_free(struct call *call);

/* The call with this id, or NULL (ended or never was). */
struct call *calls_find(uint64_t call_id);
/* The call attached to cc under this client id text, or NULL. */
struct call *calls_find_client(struct calls_conn *cc, const char *id,
    size_t id_len);
/* Whether call_id is in flight on w (sent to it, not yet ended): what a
 * worker may send replies, DEFERs and LOG lines about. */
bool calls_on_worker(uint64_t call_id, const struct worker *w);
/* The route of a call in flight, or "?" when it has ended. */
const char *calls_route_of(uint64_t call_id);
/* Whether a call still in flight has ended for its client already
 * (cancelled, disconnected, past its deadline, shut down), and with
 * which kind of reason: what its cleanups get whenever they run. */
bool calls_left_with(uint64_t call_id, enum wspool_reason_kind *kind);
/* Calls not yet ended (attached to a client or not, queued or not). */
unsigned calls_count(void);

/* Every call, in no particular order: pass NULL first, then the last one
 * returned. Do not free the one returned before taking the next. */
struct call *calls_next(struct call *prev);
/* The same over the calls attached to cc. */
struct call *calls_conn_next(struct calls_conn *cc, struct call *prev);
/* Give a call a new id (it runs again: nothing of its first run may be
 * taken for the second's). */
void calls_renumber(struct call *call);

#endif /* MASTER_CALLS_H */
