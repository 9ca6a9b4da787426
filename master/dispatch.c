/*
 * dispatch.c: what each event from the workers means to the master, and
 * who hears it:
 *
 *   READY                       routes, then supervise, sched (queue, hand-overs)
 *   RESULT, CHUNK, END, ERROR   rpc
 *   DEFER                       journal, then the acknowledgement, held
 *                               until the turn's commit (commit)
 *   CLEANUP_DONE                journal (committed at the turn's end), the
 *                               acknowledgement, sched
 *   LOG                         the log, with the call's route
 *   link down                   supervise (wait for the exit status, or kill)
 *   link silent                 supervise (lost at once; a local one killed)
 *   worker gone                 supervise, neighbours (its calls), journal,
 *                               metrics, sched
 *   HELLO (join)                supervise
 *   drain over (supervise)      rpc
 */
#include "config.h"

#include <string.h>

#include <wspool.h>

#include "common/log.h"
#include "master/commit.h"
#include "master/dispatch.h"
#include "master/join.h"
#include "master/journal.h"
#include "master/link.h"
#include "master/link_send.h"
#include "master/metrics.h"
#include "master/neighbours.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/sched.h"
#include "master/supervise.h"
#include "proto/proto.h"

/* READY: the worker's module and routes. Refused unless it is joining
 * and serves the pool's routes. */
static int
dispatch_ready_cb(struct worker *w, const struct proto_msg *m)
{
	if (w->w_state != W_JOINING ||
	    routes_ready(w->w_generation, w->w_host, m) != 0)
		return -1;
	w->w_pid = (pid_t)m->num;
	sched_capacity(w, m->seq, m->flags);
	w->w_state = W_READY;
	supervise_ready(w);
	sched_handover();
	sched_feed();
	return 0;
}

/*
 * Design notes: a worker is trusted with its own calls only, authenticated
 * or not. Each handler below checks a message against what the master
 * gave that worker: a reply, DEFER or LOG for a call in flight on it, a
 * CLEANUP_DONE for a cleanup pending or handed over to it. Anything else
 * is refused (link_refuse: logged, counted, and past a few the worker is
 * disconnected), so a rogue worker can neither answer another's calls nor
 * make the journal hand out cleanups of its invention.
 */

/* RESULT, CHUNK, END, ERROR: only from a worker that has calls. */
static int
dispatch_reply_cb(struct worker *w, const struct proto_msg *m)
{
	if (w->w_state != W_READY && w->w_state != W_DRAINING)
		return -1;
	if (!calls_on_worker(m->id, w)) {
		link_refuse(w, proto_type_name((int)m->type), m->id);
		return 0;
	}
	rpc_on_reply(w, m);
	return 0;
}

/* DEFER: journal first, then acknowledge once the turn's commit made it
 * durable: when wspool_defer returns in the handler, the master holds
 * the cleanup, on disk. One that cannot be journaled is refused. */
static int
dispatch_defer_cb(struct worker *w, const struct proto_msg *m)
{
	struct wspool_reason left;

	if (!calls_on_worker(m->id, w) || m->seq == 0 ||
	    m->seq >= PROTO_DEFER_NACK) {
		link_refuse(w, "defer", m->id);
		return 0;
	}
	if (journal_defer(w->w_gen, m->id, m->seq, calls_route_of(m->id),
	    m->str.ptr, m->str.len, m->value.ptr, m->value.len) != 0)
		return link_send_ack(w, m->id, m->seq | PROTO_DEFER_NACK);
	/* Registered after its client left (a .cancel that overtook it):
	 * that is its end, even if its worker dies before running it. */
	memset(&left, 0, sizeof(left));
	left.status = -1;
	if (calls_left_with(m->id, &left.kind))
		journal_call_ended(m->id, &left, false);
	if (commit_hold_ack(w, m->id, m->seq) != 0) {
		journal_forget(m->id, m->seq);
		return link_send_ack(w, m->id, m->seq | PROTO_DEFER_NACK);
	}
	return 0;
}

static int
dispatch_cleanup_done_cb(struct worker *w, const struct proto_msg *m)
{
	/* A call's own cleanups run after its answer was acknowledged, when
	 * the call has ended here: one reported while the call is still in
	 * flight is a registration its worker withdrew (not acknowledged in
	 * time), which never ran. */
	bool withdrawn = m->seq > 0 && m->flags == 0 &&
	    calls_on_worker(m->id, w);

	switch (journal_done(w->w_gen, m->id, m->seq, m->flags != 0, withdrawn,
	    m->str.ptr, m->str.len)) {
	case JOURNAL_DONE_UNKNOWN:
		/* Only the worker that runs a cleanup reports it. */
		link_refuse(w, "cleanup_done", m->id);
		return 0;
	case JOURNAL_DONE_OWN:
		commit_soon();
		break;
	case JOURNAL_DONE_HANDOVER:
		commit_soon();
		/* It may take the next orphan. */
		sched_handover();
		break;
	}
	/* The worker runs the call's next cleanup once we have this. */
	if (m->seq > 0 && m->seq < PROTO_DONE_ACK)
		return link_send_ack(w, m->id, m->seq | PROTO_DONE_ACK);
	return 0;
}

static int
dispatch_log_cb(struct worker *w, const struct proto_msg *m)
{
	/* About a call it runs, or whose cleanups it runs. */
	if (m->call_id != 0 && !calls_on_worker(m->call_id, w) &&
	    !journal_runs_on(m->call_id, w->w_gen)) {
		link_refuse(w, "log", m->call_id);
		return 0;
	}
	if (m->call_id != 0)
		log_msg((int)m->num, "worker=%d call=%llu route=%s: %.*s",
		    (int)w->w_pid, (unsigned long long)m->call_id,
		    calls_route_of(m->call_id), (int)m->str.len, m->str.ptr);
	else
		log_msg((int)m->num, "worker=%d: %.*s", (int)w->w_pid,
		    (int)m->str.len, m->str.ptr);
	return 0;
}

/* The label of wspool_worker_deaths_total for a death. */
static const char *
dispatch_death_label(const struct wspool_reason *why)
{
	if (why->kind == WSPOOL_REASON_LOST)
		return "lost";
	if (why->kind == WSPOOL_REASON_SHUTDOWN)
		return "shutdown";
	if (why->signal != NULL)
		return why->signal;
	return why->status == 0 ? "exit" : "exit_error";
}

/* The worker is gone: its calls end with why, its cleanups are orphaned
 * and handed over. */
static void
dispatch_gone_cb(struct worker *w, const struct wspool_reason *why)
{
	/* An outside SIGKILL (an operator, the OOM killer) says nothing about
	 * the cleanup that was running; any other death counts against it. */
	bool counts = !(why->signal != NULL && strcmp(why->signal, "SIGKILL") == 0 &&
	    !w->w_killed) && why->kind != WSPOOL_REASON_SHUTDOWN;
	size_t n;

	supervise_gone(w);
	neighbours_worker_gone(w, why);
	if ((n = journal_worker_gone(w->w_gen, why, counts)) > 0)
		log_info("%s %d died with %zu cleanups not done: handing them over",
		    w->w_runner ? "cleanup runner" : "worker", (int)w->w_pid, n);
	if (!w->w_runner)
		metrics_worker_death(dispatch_death_label(why));
	else if (why->kind != WSPOOL_REASON_SHUTDOWN)
		metrics_counters.runner_deaths_total++;
	/* Cleanups dropped for crashing too often leave the store. */
	commit_soon();
	sched_handover();
	sched_feed();
}

void
dispatch_init(void)
{
	link_handle(PROTO_READY, dispatch_ready_cb);
	link_handle(PROTO_RESULT, dispatch_reply_cb);
	link_handle(PROTO_CHUNK, dispatch_reply_cb);
	link_handle(PROTO_END, dispatch_reply_cb);
	link_handle(PROTO_ERROR, dispatch_reply_cb);
	link_handle(PROTO_DEFER, dispatch_defer_cb);
	link_handle(PROTO_CLEANUP_DONE, dispatch_cleanup_done_cb);
	link_handle(PROTO_LOG, dispatch_log_cb);
	link_on_down(supervise_down_cb);
	link_on_gone(dispatch_gone_cb);
	link_on_silent(supervise_silent_cb);
	join_on_hello(supervise_adopt_cb);
	supervise_on_drain_expired(rpc_worker_drained_cb);
}
