/*
 * sched.c: picking a worker, the queue of calls waiting for one, and the
 * hand-over of orphaned cleanups. The design notes are in sched.h.
 */
#include "config.h"

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/journal.h"
#include "master/link.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/sched.h"
#include "master/supervise.h"

static struct {
	TAILQ_HEAD(, sched_entry) queue;  /* oldest first */
	unsigned nqueued;
	struct event *timer;              /* the oldest call's --queue-timeout */
	const struct sched_hooks *hooks;
} sched;

static void sched_timer_cb(evutil_socket_t fd, short what, void *arg);

static uint64_t
sched_nready_gauge_cb(void)
{
	return sched_nready();
}

static uint64_t
sched_queued_gauge_cb(void)
{
	return sched.nqueued;
}

static unsigned sched_limit(const struct worker *w);

static uint64_t
sched_capacity_gauge_cb(void)
{
	struct worker *w;
	uint64_t n = 0;

	for (w = link_next(NULL); w != NULL; w = link_next(w))
		if (w->w_state == W_READY && !w->w_runner)
			n += sched_limit(w);
	return n;
}

static uint64_t
sched_runner_gauge_cb(void)
{
	struct worker *w;
	uint64_t n = 0;

	for (w = link_next(NULL); w != NULL; w = link_next(w))
		n += w->w_state == W_READY && w->w_runner;
	return n;
}

int
sched_init(const struct sched_hooks *hooks)
{
	TAILQ_INIT(&sched.queue);
	sched.hooks = hooks;
	if ((sched.timer = evtimer_new(srv.base, sched_timer_cb, NULL)) == NULL)
		return -1;
	metrics_gauge("wspool_calls_queued", "Calls waiting for a worker's "
	    "capacity (none ready, or all at their capacity or congested).",
	    sched_queued_gauge_cb);
	metrics_gauge("wspool_worker_capacity", "Calls the ready workers can "
	    "take at once (each one's threads and waiting room).",
	    sched_capacity_gauge_cb);
	metrics_gauge("wspool_workers_ready", "Workers ready for calls.",
	    sched_nready_gauge_cb);
	metrics_gauge("wspool_runner_ready",
	    "Cleanup runners ready for hand-overs (1, or 0 while one restarts).",
	    sched_runner_gauge_cb);
	return 0;
}

void
sched_fini(void)
{
	if (sched.timer != NULL)
		event_free(sched.timer);
	sched.timer = NULL;
}

/* ---- picking ------------------------------------------------------------------- */

void
sched_capacity(struct worker *w, uint64_t threads, uint64_t waiting)
{
	uint64_t cap;

	/* From the worker's READY, untrusted: no sum may wrap. */
	if (threads == 0 || threads >= srv.cfg.worker_max_inflight ||
	    waiting >= srv.cfg.worker_max_inflight - threads)
		cap = srv.cfg.worker_max_inflight;
	else
		cap = threads + waiting;
	w->w_capacity = (unsigned)cap;
	if (cap < srv.cfg.worker_max_inflight)
		log_debug("worker %d: capacity %u calls (%llu threads, %llu "
		    "waiting)", (int)w->w_pid, w->w_capacity,
		    (unsigned long long)threads, (unsigned long long)waiting);
}

/* The most calls w may have in flight. */
static unsigned
sched_limit(const struct worker *w)
{
	return w->w_capacity != 0 && w->w_capacity < srv.cfg.worker_max_inflight ?
	    w->w_capacity : srv.cfg.worker_max_inflight;
}

struct worker *
sched_pick(void)
{
	struct worker *w, *best = NULL, *old = NULL;
	unsigned gen = supervise_generation();

	for (w = link_next(NULL); w != NULL; w = link_next(w)) {
		if (w->w_state != W_READY || w->w_runner ||
		    w->w_inflight >= sched_limit(w) ||
		    link_send_congested(w))
			continue;
		/* During a reload, the old module serves until the new is up. */
		if (w->w_generation != gen) {
			if (old == NULL || w->w_inflight < old->w_inflight)
				old = w;
			continue;
		}
		if (best == NULL || w->w_inflight < best->w_inflight)
			best = w;
	}
	return best != NULL ? best : old;
}

unsigned
sched_nready(void)
{
	struct worker *w;
	unsigned n = 0;

	for (w = link_next(NULL); w != NULL; w = link_next(w))
		if (w->w_state == W_READY && !w->w_runner)
			n++;
	return n;
}

void
sched_assign(struct worker *w)
{
	w->w_inflight++;
	if (++w->w_ncalls == srv.cfg.max_calls_per_worker)
		supervise_retire(w, "recycled after its calls");
}

void
sched_release(struct worker *w)
{
	w->w_inflight--;
}

/* ---- the queue ------------------------------------------------------------------- */

int
sched_enqueue(struct sched_entry *e)
{
	struct timeval tv = clock_tv(srv.cfg.queue_timeout_ms);

	if (sched.nqueued >= srv.cfg.queue_max || srv.cfg.queue_timeout_ms == 0)
		return -1;
	e->se_since_us = clock_now_us();
	e->se_queued = true;
	TAILQ_INSERT_TAIL(&sched.queue, e, se_link);
	sched.nqueued++;
	if (!evtimer_pending(sched.timer, NULL))
		evtimer_add(sched.timer, &tv);
	return 0;
}

void
sched_requeue(struct sched_entry *e, struct sched_entry *after)
{
	struct timeval tv = clock_tv(srv.cfg.queue_timeout_ms);
	struct sched_entry *first = TAILQ_FIRST(&sched.queue);

	/* Waiting since the one it follows: the queue stays sorted by
	 * se_since_us, which the expiry timer relies on. */
	e->se_since_us = after != NULL ? after->se_since_us : first != NULL ?
	    first->se_since_us : clock_now_us();
	e->se_queued = true;
	if (after != NULL)
		TAILQ_INSERT_AFTER(&sched.queue, after, e, se_link);
	else
		TAILQ_INSERT_HEAD(&sched.queue, e, se_link);
	sched.nqueued++;
	if (!evtimer_pending(sched.timer, NULL) && srv.cfg.queue_timeout_ms > 0)
		evtimer_add(sched.timer, &tv);
}

void
sched_append(struct sched_entry *e)
{
	struct timeval tv = clock_tv(srv.cfg.queue_timeout_ms);

	e->se_since_us = clock_now_us();
	e->se_queued = true;
	TAILQ_INSERT_TAIL(&sched.queue, e, se_link);
	sched.nqueued++;
	if (!evtimer_pending(sched.timer, NULL) && srv.cfg.queue_timeout_ms > 0)
		evtimer_add(sched.timer, &tv);
}

void
sched_dequeue(struct sched_entry *e)
{
	if (!e->se_queued)
		return;
	TAILQ_REMOVE(&sched.queue, e, se_link);
	e->se_queued = false;
	sched.nqueued--;
}

bool
sched_waiting(void)
{
	return !TAILQ_EMPTY(&sched.queue);
}

unsigned
sched_queued(void)
{
	return sched.nqueued;
}

/* Expire calls that waited --queue-timeout; re-arm for the next. */
static void
sched_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_entry *e;
	uint64_t now = clock_now_us(), limit = srv.cfg.queue_timeout_ms * 1000;
	struct timeval tv;

	while ((e = TAILQ_FIRST(&sched.queue)) != NULL &&
	    now - e->se_since_us >= limit) {
		sched_dequeue(e);
		sched.hooks->sh_expire(e);
	}
	if (e != NULL) {
		/* Rounded up: a timer that fires early only re-arms. */
		tv = clock_tv((e->se_since_us + limit - now + 999) / 1000);
		evtimer_add(sched.timer, &tv);
	}
}

void
sched_feed(void)
{
	struct sched_entry *e;
	struct worker *w;

	while ((e = TAILQ_FIRST(&sched.queue)) != NULL &&
	    (w = sched_pick()) != NULL) {
		sched_dequeue(e);
		sched.hooks->sh_start(e, w);
	}
	if (TAILQ_EMPTY(&sched.queue) && evtimer_pending(sched.timer, NULL))
		evtimer_del(sched.timer);
}

/* ---- cleanups handed over ----------------------------------------------------------- */

void
sched_handover(void)
{
	struct journal_orphan o;
	struct worker *w;

	for (w = link_next(NULL); w != NULL && journal_next_orphan(&o);
	    w = link_next(w)) {
		/* Only to the runner, which takes no calls (a crashing call
		 * cannot kill a cleanup mid-run), one at a time: if it dies
		 * running one, that one is to blame. */
		if (w->w_state != W_READY || !w->w_runner ||
		    journal_handing_to(w->w_gen))
			continue;
		if (link_send_cleanup(w, o.jo_id, o.jo_call_id, o.jo_seq,
		    o.jo_attempt, o.jo_route, o.jo_name, o.jo_arg, o.jo_arg_len,
		    o.jo_reason, o.jo_reason_len) != 0)
			continue;
		log_debug("cleanup %s of call %llu handed to worker %d",
		    o.jo_name, (unsigned long long)o.jo_call_id, (int)w->w_pid);
		journal_handed_over(o.jo_id, w->w_gen);
	}
}
