/*
 * nngclose.c: nng_close on a thread of its own, so that a close nng 1.5.2
 * never finishes costs a thread, not the caller (why in nngclose.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nngclose.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* CLOCK_MONOTONIC: work, or all done */
	bool started;
	bool stopping;
	pthread_t thread;
	nng_socket *queue;          /* submitted, not yet taken */
	unsigned nqueue, capqueue;
	unsigned pending;           /* submitted, not finished */
	uint64_t busy_since_ms;     /* the close in progress began; 0: none */
} closer = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *
nngclose_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&closer.mu);
	for (;;) {
		nng_socket s;

		while (closer.nqueue == 0 && !closer.stopping)
			pthread_cond_wait(&closer.cv, &closer.mu);
		if (closer.nqueue == 0)
			break;
		s = closer.queue[0];
		closer.nqueue--;
		for (unsigned i = 0; i < closer.nqueue; i++)
			closer.queue[i] = closer.queue[i + 1];
		closer.busy_since_ms = clock_now_ms();
		pthread_mutex_unlock(&closer.mu);

		nng_close(s);

		pthread_mutex_lock(&closer.mu);
		closer.busy_since_ms = 0;
		closer.pending--;
		pthread_cond_broadcast(&closer.cv);
	}
	pthread_mutex_unlock(&closer.mu);
	return NULL;
}

/* Under closer.mu. */
static int
nngclose_start(void)
{
	pthread_condattr_t ca;
	int rv;

	if (closer.started)
		return 0;
	if ((rv = pthread_condattr_init(&ca)) != 0)
		return rv;
	if ((rv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0 &&
	    (rv = pthread_cond_init(&closer.cv, &ca)) == 0) {
		closer.stopping = false;
		if ((rv = pthread_create(&closer.thread, NULL, nngclose_main,
		    NULL)) == 0)
			closer.started = true;
		else
			pthread_cond_destroy(&closer.cv);
	}
	pthread_condattr_destroy(&ca);
	return rv;
}

void
nngclose_submit(nng_socket s)
{
	int rv;

	pthread_mutex_lock(&closer.mu);
	if ((rv = nngclose_start()) != 0)
		goto here;
	if (closer.nqueue == closer.capqueue) {
		unsigned cap = closer.capqueue ? 2 * closer.capqueue : 8;
		nng_socket *q = realloc(closer.queue, cap * sizeof(*q));

		if (q == NULL) {
			rv = ENOMEM;
			goto here;
		}
		closer.queue = q;
		closer.capqueue = cap;
	}
	closer.queue[closer.nqueue++] = s;
	closer.pending++;
	pthread_cond_broadcast(&closer.cv);
	pthread_mutex_unlock(&closer.mu);
	return;

here:
	pthread_mutex_unlock(&closer.mu);
	log_warn("closing an nng socket on the calling thread: %s",
	    strerror(rv));
	nng_close(s);
}

uint64_t
nngclose_waiting_ms(void)
{
	uint64_t since, now = clock_now_ms();

	pthread_mutex_lock(&closer.mu);
	since = closer.busy_since_ms;
	pthread_mutex_unlock(&closer.mu);
	return since != 0 && now > since ? now - since : 0;
}

unsigned
nngclose_pending(void)
{
	unsigned n;

	pthread_mutex_lock(&closer.mu);
	n = closer.pending;
	pthread_mutex_unlock(&closer.mu);
	return n;
}

bool
nngclose_drain(uint64_t wait_ms)
{
	struct timespec end = clock_deadline(wait_ms);
	bool done;

	pthread_mutex_lock(&closer.mu);
	if (!closer.started) {
		pthread_mutex_unlock(&closer.mu);
		return true;
	}
	closer.stopping = true;
	pthread_cond_broadcast(&closer.cv);
	while (closer.pending > 0 &&
	    pthread_cond_timedwait(&closer.cv, &closer.mu, &end) != ETIMEDOUT)
		;
	done = closer.pending == 0;
	pthread_mutex_unlock(&closer.mu);
	if (!done) {
		/* It stays blocked in nng: leave it, and its queue, behind. */
		pthread_detach(closer.thread);
		return false;
	}
	pthread_join(closer.thread, NULL);
	pthread_mutex_lock(&closer.mu);
	pthread_cond_destroy(&closer.cv);
	free(closer.queue);
	closer.queue = NULL;
	closer.nqueue = closer.capqueue = 0;
	closer.started = false;
	pthread_mutex_unlock(&closer.mu);
	return true;
}
