/*
 * runtime.c: the worker's states and its ways out. The state moves on
 * news from the link (master lost, garbage), from DRAIN, and from the
 * signal thread (SIGTERM, SIGINT); main.c waits for an end state and asks
 * runtime_exit to take the way out it calls for: drained (flush, linger,
 * exit 0), master lost (cancel everything, short grace, exit 0), SIGTERM
 * (the same, but the answers and cleanup reports still go out), garbage
 * (as lost, exit 1).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "proto/proto.h"
#include "worker/call.h"
#include "worker/outbox.h"
#include "worker/runtime.h"
#include "worker/threads.h"

/* How long a master gone leaves running handlers to notice cancellation. */
#define RUNTIME_LOST_GRACE_MS 5000
/* The same after SIGTERM: less than the master waits before SIGKILL. */
#define RUNTIME_TERM_GRACE_MS 3000
/* After a drain, how long to let nng write the last replies out. */
#define RUNTIME_LINGER_MS 250
/* Rejoining a lost master: the back-off doubles from the first to the
 * last; a session that served this long starts over from the first. */
#define RUNTIME_RETRY_MIN_MS 100
#define RUNTIME_RETRY_MAX_MS 10000
#define RUNTIME_RETRY_RESET_MS 30000
#define RUNTIME_RETRY_ENV "WSPOOL_WORKER_RETRY"

static struct {
	pthread_mutex_t rt_mu;
	pthread_cond_t rt_cond;         /* state changes, pool idle */
	bool rt_cond_ok;
	enum runtime_state rt_state;
	atomic_bool rt_draining;        /* DRAIN or SIGTERM: refuse calls */
	atomic_bool rt_term;            /* SIGTERM or SIGINT came: never respawn */
	bool rt_pipe_gone;
	bool rt_serving;                /* started: SIGTERM winds down */
	pthread_t rt_signals;           /* sigwait()s for SIGTERM, SIGINT */
	bool rt_signals_running;
	sigset_t rt_sigset;
	char **rt_argv;                 /* to start again: NULL: exit instead */
	uint64_t rt_start_ms;
} runtime = {
	.rt_mu = PTHREAD_MUTEX_INITIALIZER,
};

void
runtime_set_state(enum runtime_state state)
{
	pthread_mutex_lock(&runtime.rt_mu);
	/* LOST, TERMINATED and FATAL are final; DRAINING only follows
	 * RUNNING. */
	if (runtime.rt_state == RUNTIME_RUNNING ||
	    (runtime.rt_state == RUNTIME_DRAINING && state != RUNTIME_DRAINING))
		runtime.rt_state = state;
	if (state == RUNTIME_LOST)
		runtime.rt_pipe_gone = true;
	pthread_cond_broadcast(&runtime.rt_cond);
	pthread_mutex_unlock(&runtime.rt_mu);
}

bool
runtime_drain(void)
{
	return !atomic_exchange(&runtime.rt_draining, true);
}

bool
runtime_draining(void)
{
	return atomic_load(&runtime.rt_draining);
}

void
runtime_idle_cb(void)
{
	pthread_mutex_lock(&runtime.rt_mu);
	pthread_cond_broadcast(&runtime.rt_cond);
	pthread_mutex_unlock(&runtime.rt_mu);
}

void
runtime_serving(void)
{
	pthread_mutex_lock(&runtime.rt_mu);
	runtime.rt_serving = true;
	pthread_mutex_unlock(&runtime.rt_mu);
}

/* Signal thread: SIGTERM or SIGINT ends the worker like a master gone:
 * calls cancelled (reason shutdown), their cleanups run, exit 0. */
static void *
runtime_signals_cb(void *arg)
{
	siginfo_t info;
	bool serving;
	int sig;

	(void)arg;
	if ((sig = sigwaitinfo(&runtime.rt_sigset, &info)) < 0)
		return NULL;
	pthread_mutex_lock(&runtime.rt_mu);
	serving = runtime.rt_serving;
	/* runtime_stop() wakes us this way to stop; a signal from outside
	 * that comes then still means: do not start again. */
	if (runtime.rt_state == RUNTIME_TERMINATED) {
		if (info.si_pid != getpid())   /* not runtime_stop's */
			atomic_store(&runtime.rt_term, true);
		pthread_mutex_unlock(&runtime.rt_mu);
		return NULL;
	}
	pthread_mutex_unlock(&runtime.rt_mu);
	if (!serving) {
		/* Still starting (loading, joining): nothing to wind down,
		 * die of the signal as if it had not been caught. */
		signal(sig, SIG_DFL);
		pthread_sigmask(SIG_UNBLOCK, &runtime.rt_sigset, NULL);
		raise(sig);
		_exit(1);
	}
	log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	atomic_store(&runtime.rt_term, true);
	/* The master may still send calls meanwhile: refuse them. */
	runtime_drain();
	runtime_set_state(RUNTIME_TERMINATED);
	return NULL;
}

int
runtime_start(void)
{
	pthread_condattr_t attr;
	int rv;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&runtime.rt_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0)
		return rv;
	runtime.rt_cond_ok = true;
	/* Blocked before any thread starts, so only the signal thread
	 * takes them. */
	sigemptyset(&runtime.rt_sigset);
	sigaddset(&runtime.rt_sigset, SIGTERM);
	sigaddset(&runtime.rt_sigset, SIGINT);
	pthread_sigmask(SIG_BLOCK, &runtime.rt_sigset, NULL);
	if ((rv = pthread_create(&runtime.rt_signals, NULL, runtime_signals_cb,
	    NULL)) != 0)
		return rv;
	runtime.rt_signals_running = true;
	return 0;
}

void
runtime_stop(void)
{
	if (runtime.rt_signals_running) {
		pthread_mutex_lock(&runtime.rt_mu);
		runtime.rt_state = RUNTIME_TERMINATED;
		pthread_mutex_unlock(&runtime.rt_mu);
		pthread_kill(runtime.rt_signals, SIGTERM);
		pthread_join(runtime.rt_signals, NULL);
	}
	runtime.rt_signals_running = false;
	if (runtime.rt_cond_ok)
		pthread_cond_destroy(&runtime.rt_cond);
	runtime.rt_cond_ok = false;
}

/* ---- Starting again ---------------------------------------------------- */

void
runtime_respawn(char **argv)
{
	runtime.rt_argv = argv;
	runtime.rt_start_ms = clock_now_ms();
}

/*
 * Exit with status, or (a worker that rejoins a lost master) start this
 * program again after the back-off: a fresh process image, so nothing of
 * the lost session survives, and the same pid. The attempt count travels
 * in the environment.
 */
void
runtime_exit_or_respawn(int status)
{
	const char *env = getenv(RUNTIME_RETRY_ENV);
	unsigned n = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 0;
	uint64_t delay;
	char num[16];

	if (runtime.rt_argv == NULL || status == 0)
		_exit(status);
	/* Told to stop while the master was being lost: stop. */
	if (atomic_load(&runtime.rt_term))
		_exit(0);
	if (clock_now_ms() - runtime.rt_start_ms >= RUNTIME_RETRY_RESET_MS)
		n = 0;
	delay = (uint64_t)RUNTIME_RETRY_MIN_MS << (n > 7 ? 7 : n);
	if (delay > RUNTIME_RETRY_MAX_MS)
		delay = RUNTIME_RETRY_MAX_MS;
	/* Jitter: a fleet that lost its master does not come back at once. */
	delay = delay / 2 + (uint64_t)rand() % (delay / 2 + 1);
	snprintf(num, sizeof(num), "%u", n + 1);
	setenv(RUNTIME_RETRY_ENV, num, 1);
	log_info("joining again in %llu ms (attempt %u)",
	    (unsigned long long)delay, n + 1);
	/* Wait out the back-off, unless told to stop meanwhile (SIGTERM and
	 * SIGINT are blocked in every thread: they wait here). */
	{
		struct timespec ts = { (time_t)(delay / 1000),
			(long)(delay % 1000) * 1000000L };
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		if (sigtimedwait(&set, NULL, &ts) > 0)
			_exit(0);
	}
	execv("/proc/self/exe", runtime.rt_argv);
	log_error("cannot start again: %s", strerror(errno));
	_exit(status);
}

/* ---- The way out ----------------------------------------------------- */

enum runtime_state
runtime_wait_end(void)
{
	enum runtime_state state;

	pthread_mutex_lock(&runtime.rt_mu);
	for (;;) {
		state = runtime.rt_state;
		if (state == RUNTIME_LOST || state == RUNTIME_FATAL ||
		    state == RUNTIME_TERMINATED)
			break;
		if (state == RUNTIME_DRAINING && threads_idle())
			break;
		pthread_cond_wait(&runtime.rt_cond, &runtime.rt_mu);
	}
	pthread_mutex_unlock(&runtime.rt_mu);
	return state;
}

/* Wait for the pool to go idle, or for the pipe to go, up to ms. */
static bool
runtime_wait_for(bool pipe, uint64_t ms)
{
	struct timespec ts = clock_deadline(ms);
	bool done;

	pthread_mutex_lock(&runtime.rt_mu);
	for (;;) {
		done = pipe ? runtime.rt_pipe_gone : threads_idle();
		if (done || pthread_cond_timedwait(&runtime.rt_cond,
		    &runtime.rt_mu, &ts) == ETIMEDOUT)
			break;
	}
	done = pipe ? runtime.rt_pipe_gone : threads_idle();
	pthread_mutex_unlock(&runtime.rt_mu);
	return done;
}

/*
 * The master is gone or untrusted, or SIGTERM: cancel everything, give
 * handlers grace_ms to return, hurry out. After SIGTERM the master may
 * still listen (a worker started by hand): the answers and cleanup
 * reports still go out, briefly.
 */
static void
runtime_abandon(int status, uint64_t grace_ms, bool keep_outbox, bool lost)
{
	struct wspool_reason r = { .kind = WSPOOL_REASON_SHUTDOWN,
		.status = -1 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char host[256];

	if (!keep_outbox)
		outbox_kill();
	if (lost) {
		/* The reason the handlers see: this worker lost its master. */
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		r.kind = WSPOOL_REASON_LOST;
		r.worker_pid = getpid();
		r.worker_host = host;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_pack_reason(&pk, &r) != 0)
		sb.size = 0;
	/* Lost: the master holds the journaled cleanups and hands them
	 * over; they do not run here. */
	if (lost)
		call_master_lost(sb.size ? sb.data : NULL, sb.size);
	else
		call_cancel_all(sb.size ? sb.data : NULL, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (!runtime_wait_for(false, grace_ms)) {
		/* A handler ignores cancellation (or hangs): nothing can
		 * answer it anyway. */
		log_error("handlers still running after %llu ms: exiting",
		    (unsigned long long)grace_ms);
		runtime_exit_or_respawn(status);
	}
	if (keep_outbox)
		outbox_flush(RUNTIME_LINGER_MS);
}

int
runtime_exit(enum runtime_state state)
{
	switch (state) {
	case RUNTIME_DRAINING:
		outbox_flush(-1);
		/* nng may still be writing the last message: let the master
		 * hang up first, briefly. */
		runtime_wait_for(true, RUNTIME_LINGER_MS);
		log_info("drained");
		return 0;
	case RUNTIME_LOST:
		log_info("the master is gone: %s", runtime.rt_argv ?
		    "joining again" : "exiting");
		runtime_abandon(runtime.rt_argv ? RUNTIME_EXIT_LOST : 0,
		    RUNTIME_LOST_GRACE_MS, false, true);
		return runtime.rt_argv ? RUNTIME_EXIT_LOST : 0;
	case RUNTIME_TERMINATED:
		runtime_abandon(0, RUNTIME_TERM_GRACE_MS, true, false);
		return 0;
	default:
		runtime_abandon(1, RUNTIME_LOST_GRACE_MS, false, true);
		return 1;
	}
}
