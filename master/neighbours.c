/*
 * neighbours.c: a dead worker's calls: the culprit fails, neighbours that
 * had not started or are idempotent go to another worker. The design
 * notes are in neighbours.h.
 */
#include "config.h"

#include <stdlib.h>

#include <wspool.h>

#include "common/log.h"
#include "master/link.h"
#include "master/metrics.h"
#include "master/neighbours.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/sched.h"

/* How many times one idempotent call may run again (neighbours.h). */
#define NEIGHBOURS_MAX_RERUNS 3

/* Whether the route of a call may run twice. */
static bool
neighbours_idempotent(const struct call *call)
{
	const struct route *r = routes_find(call->k_route,
	    strlen(call->k_route));

	return r != NULL && r->r_idempotent;
}

static int
neighbours_cmp(const void *a, const void *b)
{
	const struct call *x = *(struct call *const *)a;
	const struct call *y = *(struct call *const *)b;

	return x->k_id < y->k_id ? -1 : x->k_id > y->k_id;
}

/* The culprit is unknown: every call on w ends with why. */
static void
neighbours_all_lost(struct worker *w, const struct wspool_reason *why)
{
	struct call *call, *next;

	for (call = calls_next(NULL); call != NULL; call = next) {
		next = calls_next(call);
		if (call->k_worker == w)
			rpc_call_lost(call, why);
	}
}

/* The calls on w, oldest first (ids grow with arrival), in *out
 * (malloc'd). Returns their number; 0 when none or out of memory. */
static size_t
neighbours_calls_on(struct worker *w, struct call ***out)
{
	struct call *call, **v;
	size_t n = 0;

	*out = NULL;
	for (call = calls_next(NULL); call != NULL; call = calls_next(call))
		n += call->k_worker == w;
	if (n == 0 || (v = malloc(n * sizeof(*v))) == NULL)
		return 0;
	n = 0;
	for (call = calls_next(NULL); call != NULL; call = calls_next(call))
		if (call->k_worker == w)
			v[n++] = call;
	qsort(v, n, sizeof(*v), neighbours_cmp);
	*out = v;
	return n;
}

/*
 * Send a call of a dead worker to another worker, or queue it just behind
 * *after (the front of the queue when *after is NULL: it arrived before
 * any waiting call), which it then becomes. rerun: it may have run
 * (idempotent): a new id. A call no client waits for any more just ends.
 */
static void
neighbours_again(struct call *call, bool rerun, struct sched_entry **after)
{
	struct worker *w;

	sched_release(call->k_worker);
	call->k_worker = NULL;
	if (call->k_conn == NULL) {
		/* Cancelled or disconnected: nobody waits for it. */
		calls_free(call);
		return;
	}
	if (rerun) {
		calls_renumber(call);
		call->k_reruns++;
		metrics_counters.calls_rerun_total++;
	} else {
		metrics_counters.calls_redispatched_total++;
	}
	if (*after == NULL && !sched_waiting() && (w = sched_pick()) != NULL &&
	    rpc_send_call(call, w, call->k_params, call->k_params_len) == 0)
		return;
	sched_requeue(&call->k_sched, *after);
	*after = &call->k_sched;
}

void
neighbours_worker_gone(struct worker *w, const struct wspool_reason *why)
{
	struct sched_entry *after = NULL;
	struct call **calls;
	size_t n, spared = 0;

	if (w->w_culprit == 0 || why->kind != WSPOOL_REASON_CRASHED ||
	    (n = neighbours_calls_on(w, &calls)) == 0) {
		neighbours_all_lost(w, why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct call *call = calls[i];

		if (call->k_id == w->w_culprit) {
			rpc_call_lost(call, why);
		} else if (w->w_started_known && call->k_wseq > w->w_started) {
			neighbours_again(call, false, &after);
			spared++;
		} else if (call->k_reruns < NEIGHBOURS_MAX_RERUNS &&
		    neighbours_idempotent(call)) {
			neighbours_again(call, true, &after);
			spared++;
		} else {
			rpc_call_lost(call, why);
		}
	}
	free(calls);
	if (spared > 0)
		log_info("worker %d: call %llu killed it; %zu of its %zu other "
		    "calls sent to other workers", (int)w->w_pid,
		    (unsigned long long)w->w_culprit, spared, n - 1);
}
