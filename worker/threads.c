/*
 * threads.c: the pool that runs handlers and cleanups. It starts with a
 * few threads and grows, up to a maximum, when every thread is busy and
 * queued work stops moving (handlers that sleep or block).
 *
 * Design notes: growth is decided by a small monitor thread, not at
 * submit time. Under a throughput load all threads are busy all the time
 * yet the queue drains quickly; growing then would only add contention.
 * The monitor grows the pool only when no queued job was started for
 * THREADS_STALL_MS while all threads were busy, which is what a pool of
 * blocked handlers looks like; then by as many threads as jobs wait (up
 * to THREADS_GROW_MAX at a time), so that a burst of a thousand waiting
 * handlers (subscriptions between chunks) gets its threads in tens of
 * milliseconds, not seconds. Threads never shrink: the maximum bounds
 * them (the worker's capacity, told to the master: it never sends more
 * calls than the maximum plus the few it allows to wait).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "worker/threads.h"

#define THREADS_STALL_MS 2
#define THREADS_GROW_MAX 64

static struct {
	pthread_mutex_t th_mu;
	pthread_cond_t th_work;     /* pool threads wait for jobs */
	pthread_cond_t th_monitor;  /* the monitor waits for a full pool */
	struct job *th_head;
	struct job **th_tailp;
	size_t th_queued;
	uint64_t th_started;        /* jobs taken so far: progress marker */
	unsigned th_nthreads;
	unsigned th_max;
	unsigned th_idle;           /* threads waiting for work */
	unsigned th_busy;           /* threads running a job */
	bool th_stop;
	bool th_monitor_running;
	bool th_monitor_waiting;    /* in its untimed wait: signal it */
	pthread_t th_monitor_id;
	pthread_attr_t th_attr;     /* handler threads: their stack size */
	bool th_attr_ok;
	pthread_t *th_ids;
	void (*th_idle_cb)(void);
} threads = {
	.th_mu = PTHREAD_MUTEX_INITIALIZER,
	.th_work = PTHREAD_COND_INITIALIZER,
};

static bool
threads_full(void)
{
	return threads.th_queued > 0 && threads.th_idle == 0 &&
	    threads.th_nthreads < threads.th_max && !threads.th_stop;
}

/* With th_mu held: wake the monitor when the pool just became full. */
static void
threads_poke(void)
{
	if (threads.th_monitor_waiting && threads_full())
		pthread_cond_signal(&threads.th_monitor);
}

static void *
threads_main_cb(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&threads.th_mu);
	for (;;) {
		struct job *j;
		bool idle;

		while (threads.th_head == NULL && !threads.th_stop) {
			threads.th_idle++;
			pthread_cond_wait(&threads.th_work, &threads.th_mu);
			threads.th_idle--;
		}
		if (threads.th_head == NULL)
			break;
		j = threads.th_head;
		if ((threads.th_head = j->j_next) == NULL)
			threads.th_tailp = &threads.th_head;
		threads.th_queued--;
		threads.th_started++;
		threads.th_busy++;
		threads_poke();
		pthread_mutex_unlock(&threads.th_mu);

		j->j_next = NULL;
		j->j_fn(j);

		pthread_mutex_lock(&threads.th_mu);
		threads.th_busy--;
		idle = threads.th_busy == 0 && threads.th_queued == 0;
		if (idle && threads.th_idle_cb != NULL) {
			/* No pool lock while calling out: the callback may take
			 * a lock held by a caller of threads_idle(). */
			pthread_mutex_unlock(&threads.th_mu);
			threads.th_idle_cb();
			pthread_mutex_lock(&threads.th_mu);
		}
	}
	pthread_mutex_unlock(&threads.th_mu);
	return NULL;
}

/* Called with th_mu held. */
static int
threads_spawn(void)
{
	int rv;

	rv = pthread_create(&threads.th_ids[threads.th_nthreads],
	    threads.th_attr_ok ? &threads.th_attr : NULL, threads_main_cb,
	    NULL);
	if (rv == 0)
		threads.th_nthreads++;
	return rv;
}

static void *
threads_monitor_cb(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&threads.th_mu);
	while (!threads.th_stop) {
		struct timespec ts;
		uint64_t started;

		if (!threads_full()) {
			threads.th_monitor_waiting = true;
			pthread_cond_wait(&threads.th_monitor, &threads.th_mu);
			threads.th_monitor_waiting = false;
			continue;
		}
		started = threads.th_started;
		ts = clock_deadline(THREADS_STALL_MS);
		/* Only threads_stop wakes this wait: sleep the whole stall
		 * window and compare progress after it. */
		while (!threads.th_stop &&
		    pthread_cond_timedwait(&threads.th_monitor, &threads.th_mu,
		    &ts) != ETIMEDOUT)
			;
		if (threads_full() && threads.th_started == started) {
			size_t n = threads.th_queued;
			int rv = 0;

			if (n > THREADS_GROW_MAX)
				n = THREADS_GROW_MAX;
			while (n-- > 0 && threads.th_nthreads < threads.th_max &&
			    (rv = threads_spawn()) == 0)
				;
			if (rv != 0) {
				log_error("cannot grow the thread pool past %u "
				    "threads: %s", threads.th_nthreads,
				    strerror(rv));
				/* Do not retry in a tight loop. */
				threads.th_max = threads.th_nthreads;
			}
		}
	}
	pthread_mutex_unlock(&threads.th_mu);
	return NULL;
}

void
threads_list_add(struct job_list *jl, struct job *j)
{
	j->j_next = NULL;
	if (jl->jl_first == NULL)
		jl->jl_first = j;
	else
		jl->jl_last->j_next = j;
	jl->jl_last = j;
}

int
threads_start(unsigned n, unsigned max, size_t stack_size,
    void (*idle_cb)(void))
{
	pthread_condattr_t attr;
	int rv;

	if (max < n)
		max = n;
	if (stack_size > 0 && pthread_attr_init(&threads.th_attr) == 0) {
		threads.th_attr_ok = true;
		if ((rv = pthread_attr_setstacksize(&threads.th_attr,
		    stack_size)) != 0)
			return rv;
	}
	threads.th_tailp = &threads.th_head;
	threads.th_max = max;
	threads.th_idle_cb = idle_cb;
	if ((threads.th_ids = calloc(max, sizeof(*threads.th_ids))) == NULL)
		return ENOMEM;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&threads.th_monitor, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0)
		return rv;
	pthread_mutex_lock(&threads.th_mu);
	while (threads.th_nthreads < n)
		if ((rv = threads_spawn()) != 0)
			goto out;
	if (max > n) {
		if ((rv = pthread_create(&threads.th_monitor_id, NULL,
		    threads_monitor_cb, NULL)) != 0)
			goto out;
		threads.th_monitor_running = true;
	}
out:
	pthread_mutex_unlock(&threads.th_mu);
	return rv;
}

void
threads_submit(struct job *first)
{
	struct job *last = first;
	size_t n = 1;

	if (first == NULL)
		return;
	while (last->j_next != NULL) {
		last = last->j_next;
		n++;
	}
	pthread_mutex_lock(&threads.th_mu);
	*threads.th_tailp = first;
	threads.th_tailp = &last->j_next;
	threads.th_queued += n;
	if (threads.th_idle > 0) {
		if (n == 1)
			pthread_cond_signal(&threads.th_work);
		else
			pthread_cond_broadcast(&threads.th_work);
	}
	threads_poke();
	pthread_mutex_unlock(&threads.th_mu);
}

bool
threads_alone(void)
{
	return __atomic_load_n(&threads.th_busy, __ATOMIC_RELAXED) == 1 &&
	    __atomic_load_n(&threads.th_queued, __ATOMIC_RELAXED) == 0;
}

bool
threads_idle(void)
{
	bool idle;

	pthread_mutex_lock(&threads.th_mu);
	idle = threads.th_busy == 0 && threads.th_queued == 0;
	pthread_mutex_unlock(&threads.th_mu);
	return idle;
}

void
threads_stop(void)
{
	unsigned n;

	pthread_mutex_lock(&threads.th_mu);
	threads.th_stop = true;
	pthread_cond_broadcast(&threads.th_work);
	pthread_cond_broadcast(&threads.th_monitor);
	pthread_mutex_unlock(&threads.th_mu);
	if (threads.th_monitor_running)
		pthread_join(threads.th_monitor_id, NULL);
	threads.th_monitor_running = false;
	/* No more spawning once th_stop is set: th_nthreads is final. */
	pthread_mutex_lock(&threads.th_mu);
	n = threads.th_nthreads;
	pthread_mutex_unlock(&threads.th_mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(threads.th_ids[i], NULL);
	free(threads.th_ids);
	threads.th_ids = NULL;
	threads.th_nthreads = 0;
	pthread_cond_destroy(&threads.th_monitor);
	if (threads.th_attr_ok)
		pthread_attr_destroy(&threads.th_attr);
	threads.th_attr_ok = false;
}
