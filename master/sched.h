/*
 * sched.h: scheduling. Which worker takes a call, the bounded queue of
 * calls that no worker can take yet (503 after --queue-timeout), and the
 * hand-over of orphaned cleanups to live workers, one at a time per
 * worker: the journal says what is to be handed over, the link sends it.
 *
 * Design notes: the queue.
 * - A worker is sent at most as many calls as it can start: the threads
 *   it announced in READY, plus the calls it said may wait for one
 *   (--max-waiting, 0 by default), and never more than
 *   --worker-max-inflight. Beyond that, calls wait here, never inside a
 *   worker where a deadline would kill them with a neighbour.
 * - A call waits only when no worker can take it (none ready, or all at
 *   their capacity, or congested). It waits in arrival order: a new call
 *   never overtakes a waiting one. wspool_calls_queued counts them: the
 *   calls waiting for capacity.
 * - The queue holds sched_entry structures embedded in the caller's calls
 *   and knows nothing else of them: what to do with a call when a worker
 *   frees up, or when it has waited too long, is the hooks' business.
 * - A worker frees up when a call on it ends or when it becomes ready;
 *   whoever sees that calls sched_feed.
 */
#ifndef MASTER_SCHED_H
#define MASTER_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct worker;

/* A waiting call, embedded in the caller's call structure. */
struct sched_entry {
	TAILQ_ENTRY(sched_entry) se_link;
	uint64_t se_since_us;          /* monotonic: when it started waiting */
	bool se_queued;
};

struct sched_hooks {
	/* A waiting call may go to w now; it has left the queue. The hook
	 * sends it (or ends it if that fails). */
	void (*sh_start)(struct sched_entry *e, struct worker *w);
	/* A waiting call passed --queue-timeout; it has left the queue. */
	void (*sh_expire)(struct sched_entry *e);
};

/* Register the hooks (static storage) and the gauges. Returns 0 or -1. */
int sched_init(const struct sched_hooks *hooks);
void sched_fini(void);

/*
 * The worker for a new call: among ready workers under
 * --worker-max-inflight and not congested, the one with the fewest calls
 * in flight of the newest generation, else of an older one (during a
 * reload the old module serves until the new one is up). NULL: none.
 */
struct worker *sched_pick(void);
/* w's READY told its capacity: threads it runs, calls it takes beyond. */
void sched_capacity(struct worker *w, uint64_t threads, uint64_t waiting);
/* Workers ready for calls (for /healthz and /metrics). */
unsigned sched_nready(void);

/* A call went to w / a call on w ended. After a start, w may be recycled
 * (--max-calls-per-worker). */
void sched_assign(struct worker *w);
void sched_release(struct worker *w);

/*
 * Queue a call that no worker can take now. Returns 0, or -1 when the
 * queue is full or queueing is off (--queue-timeout 0): answer 503.
 */
int sched_enqueue(struct sched_entry *e);
/* Queue a call again, whatever the bounds (it was accepted before): just
 * behind after, or at the front when after is NULL. */
void sched_requeue(struct sched_entry *e, struct sched_entry *after);
/* Queue a call at the back, whatever the bounds (it was accepted before:
 * a notification whose turn came). */
void sched_append(struct sched_entry *e);
/* Take a waiting call off the queue (it ended while waiting). */
void sched_dequeue(struct sched_entry *e);
/* Whether a call is waiting: a new one must then wait behind it. */
bool sched_waiting(void);
unsigned sched_queued(void);
/* Workers may take calls: start waiting calls while one can. */
void sched_feed(void);

/* Hand orphaned cleanups to the cleanup runner (a worker that takes no
 * calls), one at a time. Call when it becomes ready, finishes a
 * hand-over, or orphans appear. */
void sched_handover(void);

#endif /* MASTER_SCHED_H */
