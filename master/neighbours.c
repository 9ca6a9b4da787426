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
#include "master/neighbours.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/sched.h"

/* Whether the route of a call may run twice. */
static bool
neighbours_idempotent(const struct call *call)
{
	const struct route *r = routes_find(call->k_route,
	    strlen(call->k_route));

	return r != NULL && r->r_idempotent;
}

void
neighbours_worker_gone(struct worker *w, const struct wspool_reason *why)
{
	struct sched_entry *after = NULL;
	struct call **calls;
	size_t n, spared = 0;

	if (w->w_culprit == 0 || why->kind != WSPOOL_REASON_CRASHED ||
	    (n = rpc_calls_on(w, &calls)) == 0) {
		rpc_worker_gone(w, why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct call *call = calls[i];

		if (call->k_id == w->w_culprit) {
			rpc_call_lost(call, why);
		} else if (w->w_started_known && call->k_wseq > w->w_started) {
			rpc_call_again(call, false, &after);
			spared++;
		} else if (!call->k_rerun && neighbours_idempotent(call)) {
			rpc_call_again(call, true, &after);
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
