/*
 * calls.c: the call table: calls by id and by client id on their
 * connection, their allocation (a pool of small ones), outcomes, and the
 * end of each call. See calls.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

/*
 * The calls are looked up by their 8-byte id (the table) and by the
 * client's id text (a connection's calls), both short keys that uthash's
 * default hash takes long over: FNV-1a here, one multiply per byte. (Only
 * calls.c adds to and looks in these tables, so the hash is this file's
 * business.)
 */
#define HASH_FUNCTION(keyptr, keylen, hashv) do {                      \
	const unsigned char *calls_k_ = (const unsigned char *)(keyptr);  \
	unsigned calls_h_ = 2166136261u;                                  \
	for (unsigned calls_i_ = 0; calls_i_ < (unsigned)(keylen); calls_i_++) \
		calls_h_ = (calls_h_ ^ calls_k_[calls_i_]) * 16777619u;    \
	(hashv) = calls_h_;                                               \
} while (0)
#include <uthash.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/calls.h"
#include "master/journal.h"
#include "master/metrics.h"
#include "master/sched.h"
#include "master/timeouts.h"

/* Calls whose id fits here are recycled, not freed. */
#define CALLS_SMALL_ID 48
#define CALLS_POOL_MAX 4096

static struct {
	struct call *calls;          /* by k_id */
	struct call *pool;           /* free small calls, linked by k_conn */
	unsigned npool;
	unsigned nheld;              /* notifications held (CALL_HELD) */
	void (*note_ready)(struct call *call);
} calls;

static const char *const calls_outcome_names[] = {
#define X(e, s) s,
	CALL_OUTCOMES(X)
#undef X
};

static uint64_t
calls_in_flight_gauge_cb(void)
{
	return (uint64_t)HASH_COUNT(calls.calls) - sched_queued() - calls.nheld;
}

static uint64_t
calls_held_gauge_cb(void)
{
	return calls.nheld;
}

void
calls_init(void (*note_ready)(struct call *call))
{
	calls.note_ready = note_ready;
	metrics_outcomes(calls_outcome_names, OUTCOME_COUNT);
	metrics_gauge("wspool_calls_in_flight",
	    "Calls sent to a worker and not yet ended.", calls_in_flight_gauge_cb);
	metrics_gauge("wspool_notifications_held",
	    "Notifications waiting for the one before them on their connection "
	    "to end.", calls_held_gauge_cb);
}

void
calls_fini(void)
{
	struct call *call;

	while ((call = calls.pool) != NULL) {
		calls.pool = (struct call *)(void *)call->k_conn;
		free(call);
	}
	calls.npool = 0;
}

struct call *
calls_alloc(size_t key_len)
{
	struct call *call;

	if (key_len >= CALLS_SMALL_ID)
		return calloc(1, sizeof(*call) + key_len + 1);
	if ((call = calls.pool) == NULL)
		return calloc(1, sizeof(*call) + CALLS_SMALL_ID);
	calls.pool = (struct call *)(void *)call->k_conn;
	calls.npool--;
	memset(call, 0, sizeof(*call) + CALLS_SMALL_ID);
	return call;
}

void
calls_add(struct call *call, struct conn *c, struct calls_conn *cc)
{
	call->k_conn = c;
	call->k_attached = cc;
	HASH_ADD(hh, calls.calls, k_id, sizeof(call->k_id), call);
	HASH_ADD_KEYPTR(hh_conn, cc->cc_calls, call->k_client_id,
	    call->k_client_id_len, call);
	cc->cc_count++;
}

bool
calls_note_chain(struct call *call, struct calls_conn *cc)
{
	struct call *last = cc->cc_note_last;

	call->k_note_cc = cc;
	cc->cc_note_last = call;
	if (last == NULL)
		return false;
	last->k_note_next = call;
	call->k_note_prev = last;
	call->k_flags |= CALL_HELD;
	calls.nheld++;
	return true;
}

void
calls_conn_gone(struct calls_conn *cc)
{
	struct call *call;

	cc->cc_closing = true;
	for (call = cc->cc_note_last; call != NULL; call = call->k_note_prev)
		call->k_note_cc = NULL;
	cc->cc_note_last = NULL;
}

unsigned
calls_held(void)
{
	return calls.nheld;
}

/* A notification ends: out of its chain. Returns the next one when this
 * one was the head: it may start now (calls.h). */
static struct call *
calls_note_unchain(struct call *call)
{
	struct call *prev = call->k_note_prev, *next = call->k_note_next;

	if (prev != NULL)
		prev->k_note_next = next;
	if (next != NULL)
		next->k_note_prev = prev;
	if (call->k_note_cc != NULL && call->k_note_cc->cc_note_last == call)
		call->k_note_cc->cc_note_last = prev;
	call->k_note_prev = call->k_note_next = NULL;
	call->k_note_cc = NULL;
	if (call->k_flags & CALL_HELD) {
		call->k_flags &= ~CALL_HELD;
		calls.nheld--;
	}
	if (prev == NULL && next != NULL && (next->k_flags & CALL_HELD)) {
		next->k_flags &= ~CALL_HELD;
		calls.nheld--;
		return next;
	}
	return NULL;
}

void
calls_detach(struct call *call)
{
	struct calls_conn *cc = call->k_attached;

	if (call->k_conn == NULL)
		return;
	HASH_DELETE(hh_conn, cc->cc_calls, call);
	cc->cc_count--;
	call->k_conn = NULL;
	call->k_attached = NULL;
}

void
calls_set_outcome(struct call *call, enum call_outcome o)
{
	if (call->k_outcome < 0)
		call->k_outcome = (int)o;
}

void
calls_free(struct call *call)
{
	enum call_outcome o = call->k_outcome < 0 ? OUTCOME_OK :
	    (enum call_outcome)call->k_outcome;
	uint64_t us = clock_now_us() - call->k_start_us;
	struct call *ready = NULL;

	/* One structured line per call: at info for those that did not end
	 * well, at debug for the rest. */
	int level = (o == OUTCOME_OK || o == OUTCOME_ERROR) ? LOG_DEBUG : LOG_INFO;

	if (level <= log_level)
		log_msg(level, "call=%llu route=%s conn=%llu worker=%d outcome=%s us=%llu",
		    (unsigned long long)call->k_id, call->k_route,
		    (unsigned long long)call->k_conn_id,
		    call->k_worker_pid, calls_outcome_names[o], (unsigned long long)us);
	sched_dequeue(&call->k_sched);
	free(call->k_params);
	if (call->k_flags & CALL_NOTIFY)
		ready = calls_note_unchain(call);
	calls_detach(call);
	metrics_call_end(call->k_route, (unsigned)o, us);
	if (call->k_worker != NULL)
		sched_release(call->k_worker);
	timeouts_clear(&call->k_deadline);
	HASH_DEL(calls.calls, call);
	if (call->k_client_id_len < CALLS_SMALL_ID && calls.npool < CALLS_POOL_MAX) {
		call->k_conn = (struct conn *)(void *)calls.pool;
		calls.pool = call;
		calls.npool++;
	} else {
		free(call);
	}
	/* Once this one is gone (its worker released): the next
	 * notification of its connection may start. */
	if (ready != NULL)
		calls.note_ready(ready);
}

/* ---- lookups -------------------------------------------------------------- */

struct call *
calls_find(uint64_t call_id)
{
	struct call *call;

	HASH_FIND(hh, calls.calls, &call_id, sizeof(call_id), call);
	return call;
}

struct call *
calls_find_client(struct calls_conn *cc, const char *id, size_t id_len)
{
	struct call *call;

	HASH_FIND(hh_conn, cc->cc_calls, id, id_len, call);
	return call;
}

bool
calls_on_worker(uint64_t call_id, const struct worker *w)
{
	struct call *call = calls_find(call_id);

	return call != NULL && call->k_worker == w;
}

const char *
calls_route_of(uint64_t call_id)
{
	struct call *call = calls_find(call_id);

	return call != NULL ? call->k_route : "?";
}

bool
calls_left_with(uint64_t call_id, enum wspool_reason_kind *kind)
{
	struct call *call = calls_find(call_id);

	if (call == NULL)
		return false;
	switch (call->k_outcome) {
	case OUTCOME_CANCELLED:
		*kind = WSPOOL_REASON_CANCELLED;
		return true;
	case OUTCOME_DISCONNECTED:
		*kind = WSPOOL_REASON_DISCONNECTED;
		return true;
	case OUTCOME_TIMEOUT:
		*kind = WSPOOL_REASON_TIMEOUT;
		return true;
	case OUTCOME_SHUTDOWN:
		*kind = WSPOOL_REASON_SHUTDOWN;
		return true;
	default:
		return false;
	}
}

unsigned
calls_count(void)
{
	return HASH_COUNT(calls.calls);
}

struct call *
calls_next(struct call *prev)
{
	return prev == NULL ? calls.calls : prev->hh.next;
}

struct call *
calls_conn_next(struct calls_conn *cc, struct call *prev)
{
	return prev == NULL ? cc->cc_calls : prev->hh_conn.next;
}

void
calls_renumber(struct call *call)
{
	HASH_DEL(calls.calls, call);
	call->k_id = journal_next_call_id();
	HASH_ADD(hh, calls.calls, k_id, sizeof(call->k_id), call);
}
