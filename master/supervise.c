/*
 * supervise.c: local worker processes (spawn, reap, back-off, reload
 * generations, drain, kill, --check) and every worker's deadlines and
 * death. The design notes are in supervise.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/join.h"
#include "master/link.h"
#include "master/link_send.h"
#include "master/memlimit.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/spawn.h"
#include "master/supervise.h"
#include "proto/crashpage.h"

#define SUPERVISE_JOIN_TIMEOUT_MS 10000   /* HELLO to READY */
#define SUPERVISE_REAP_TIMEOUT_MS 2000    /* lost link to waitpid, then SIGKILL */
#define SUPERVISE_STOP_TIMEOUT_MS 5000
#define SUPERVISE_BACKOFF_MIN_MS 100
#define SUPERVISE_BACKOFF_MAX_MS 10000

/* A process started here. */
struct child {
	pid_t ch_pid;
	unsigned ch_n;                 /* its number (cgroup name) */
	bool ch_runner;                /* the cleanup runner */
	struct crashpage *ch_page;     /* shared with it: its crashes */
	struct worker *ch_worker;      /* once it has said HELLO */
	unsigned ch_generation;        /* the reload generation it was started in */
	bool ch_was_ready;
	bool ch_retired;               /* not counted in --workers any more */
	bool ch_lost;                  /* declared lost (silent), then killed */
	TAILQ_ENTRY(child) ch_link;
};

static struct {
	TAILQ_HEAD(, child) children;
	int nchildren;                 /* children counted in --workers */
	unsigned failures;             /* consecutive starts that never got ready */
	unsigned generation;           /* bumped by each reload (SIGHUP) */
	unsigned nspawned;
	struct child *runner;          /* the live (not retired) cleanup runner */
	struct event *sigchld_ev;
	struct event *spawn_ev;
	supervise_drain_fn on_drain_expired;
} sup = { .children = TAILQ_HEAD_INITIALIZER(sup.children) };

static void supervise_spawn_missing(void);

void
supervise_on_drain_expired(supervise_drain_fn fn)
{
	sup.on_drain_expired = fn;
}

unsigned
supervise_generation(void)
{
	return sup.generation;
}

static void
supervise_timer_set(struct event *ev, uint64_t ms)
{
	struct timeval tv = clock_tv(ms);

	event_add(ev, &tv);
}

/* For logs: "worker" or "cleanup runner". */
static const char *
supervise_what(const struct worker *w)
{
	return w->w_runner ? "cleanup runner" : "worker";
}

static void
supervise_reason(struct wspool_reason *r, enum wspool_reason_kind kind,
    const struct worker *w)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->status = -1;
	if (w != NULL) {
		r->worker_pid = w->w_pid;
		r->worker_host = w->w_host;
	}
}

/* The child no longer counts in --workers (or as the runner): its
 * replacement may start. */
static void
supervise_child_retire(struct child *ch)
{
	if (ch->ch_retired)
		return;
	ch->ch_retired = true;
	if (ch->ch_runner)
		sup.runner = NULL;
	else
		sup.nchildren--;
}

/*
 * The digest of the master's module, from the worker program itself
 * (wspool-worker --digest MODULE): a worker that joins with another one
 * serves another module and is refused (join.c). Blocks for the module's
 * load. Returns 0, or -1 (logged).
 */
static int
supervise_digest(void)
{
	char digest[SPAWN_DIGEST_LEN + 1];

	if (spawn_digest(digest) != 0)
		return -1;
	join_set_digest(digest);
	log_info("module digest %.16s...", digest);
	return 0;
}

/* ---- spawning -------------------------------------------------------------------- */

static int
supervise_spawn(bool runner)
{
	struct child *ch;
	pid_t pid;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return -1;
	ch->ch_n = ++sup.nspawned;
	if ((pid = spawn_start(ch->ch_n, runner, &ch->ch_page)) < 0) {
		free(ch);
		return -1;
	}
	ch->ch_pid = pid;
	ch->ch_runner = runner;
	ch->ch_generation = sup.generation;
	TAILQ_INSERT_TAIL(&sup.children, ch, ch_link);
	if (runner) {
		sup.runner = ch;
		metrics_counters.runner_starts_total++;
		log_debug("started cleanup runner %d", (int)pid);
		return 0;
	}
	sup.nchildren++;
	metrics_counters.worker_starts_total++;
	log_debug("started worker %d", (int)pid);
	return 0;
}

static void
supervise_spawn_cb(evutil_socket_t fd, short what, void *arg)
{
	/* The runner first: hand-overs wait for it. */
	if (!srv.exiting && sup.runner == NULL)
		supervise_spawn(true);
	while (!srv.exiting && sup.nchildren < srv.cfg.workers)
		if (supervise_spawn(false) != 0)
			break;
}

/*
 * Bring the pool back to --workers. Starts that keep failing back off
 * exponentially (capped) so a module that crashes at load does not spin.
 */
static void
supervise_spawn_missing(void)
{
	unsigned delay;

	if (srv.exiting || (sup.nchildren >= srv.cfg.workers &&
	    sup.runner != NULL) || evtimer_pending(sup.spawn_ev, NULL))
		return;
	if (sup.failures == 0) {
		supervise_spawn_cb(-1, 0, NULL);
		return;
	}
	delay = SUPERVISE_BACKOFF_MIN_MS <<
	    (sup.failures > 7 ? 7 : sup.failures - 1);
	if (delay > SUPERVISE_BACKOFF_MAX_MS)
		delay = SUPERVISE_BACKOFF_MAX_MS;
	log_warn("workers keep failing to start (%u in a row): next start in %u ms",
	    sup.failures, delay);
	supervise_timer_set(sup.spawn_ev, delay);
}

/* ---- reload and recycling ---------------------------------------------------------- */

/*
 * Take w out of rotation: it finishes its calls and exits (PROTO_DRAIN);
 * subscriptions still running after --grace are cancelled (shutdown). A
 * replacement starts at once: a retired worker does not count.
 */
void
supervise_retire(struct worker *w, const char *why)
{
	if (w->w_state != W_READY || w->w_child == NULL)
		return;
	log_info("worker %d: draining (%s)", (int)w->w_pid, why);
	w->w_state = W_DRAINING;
	link_send_drain(w);
	supervise_child_retire(w->w_child);
	supervise_timer_set(w->w_timer, srv.cfg.grace_ms);
	supervise_spawn_missing();
}

/*
 * SIGHUP: start a new generation of local workers, which load the module
 * afresh from disk. New calls go to them as soon as they are ready; the
 * old workers keep serving until the whole new generation is ready, then
 * drain. If the new module cannot start, the old workers keep serving.
 */
void
supervise_reload(void)
{
	struct child *ch;

	sup.generation++;
	if (supervise_digest() != 0)
		log_error("reload: workers joining must still match the old "
		    "module");
	log_info("reload: starting %d workers of generation %u", srv.cfg.workers,
	    sup.generation);
	/* The runner too: the new module's cleanups. */
	TAILQ_FOREACH(ch, &sup.children, ch_link)
		supervise_child_retire(ch);
	sup.failures = 0;
	evtimer_del(sup.spawn_ev);
	supervise_spawn_missing();
}

/* Once the new generation is complete, drain the old local workers. */
static void
supervise_reload_progress(void)
{
	struct worker *w, *next;
	int ready = 0;

	for (w = link_next(NULL); w != NULL; w = link_next(w))
		if (w->w_state == W_READY && w->w_generation == sup.generation &&
		    w->w_child != NULL && !w->w_runner)
			ready++;
	if (ready < srv.cfg.workers)
		return;
	for (w = link_next(NULL); w != NULL; w = next) {
		next = link_next(w);
		if (w->w_state == W_READY && w->w_generation != sup.generation)
			supervise_retire(w, "reload");
	}
}

/* ---- a worker's life ---------------------------------------------------------------- */

static void supervise_timer_cb(evutil_socket_t fd, short what, void *arg);

int
supervise_adopt_cb(struct worker *w, bool local)
{
	struct child *ch;

	w->w_generation = sup.generation;
	if (local) {
		TAILQ_FOREACH(ch, &sup.children, ch_link) {
			if (ch->ch_pid == w->w_pid && ch->ch_worker == NULL) {
				ch->ch_worker = w;
				w->w_child = ch;
				w->w_generation = ch->ch_generation;
				w->w_runner = ch->ch_runner;
				break;
			}
		}
	}
	if ((w->w_timer = evtimer_new(srv.base, supervise_timer_cb, w)) == NULL) {
		if (w->w_child != NULL)
			w->w_child->ch_worker = NULL;
		w->w_child = NULL;
		return -1;
	}
	supervise_timer_set(w->w_timer, SUPERVISE_JOIN_TIMEOUT_MS);
	return 0;
}

void
supervise_ready(struct worker *w)
{
	event_del(w->w_timer);
	if (w->w_child != NULL) {
		w->w_child->ch_was_ready = true;
		sup.failures = 0;
	}
	log_info("%s %d ready (host %s, %s)", supervise_what(w), (int)w->w_pid,
	    w->w_host, w->w_child ? "local" : "joined");
	supervise_reload_progress();
}

/* w's link is lost: a local worker's exit status will say why it died. */
static void
supervise_lost(struct worker *w, const char *why)
{
	struct wspool_reason r;

	if (w->w_state == W_GONE)
		return;
	link_close(w);
	if (w->w_child != NULL) {
		/* waitpid will say how it died; give it a moment. */
		log_info("worker %d: %s; waiting for its exit status", (int)w->w_pid,
		    why);
		supervise_child_retire(w->w_child);
		supervise_timer_set(w->w_timer, SUPERVISE_REAP_TIMEOUT_MS);
		return;
	}
	log_warn("worker %d (host %s) lost: %s", (int)w->w_pid, w->w_host, why);
	supervise_reason(&r, WSPOOL_REASON_LOST, w);
	link_gone(w, &r);
}

bool
supervise_not_started(const struct worker *w, uint64_t wseq)
{
	const struct crashpage *p = w->w_child != NULL ?
	    w->w_child->ch_page : NULL;

	return p != NULL && wseq > atomic_load(&p->cp_started);
}

void
supervise_kill(struct worker *w, const char *why)
{
	if (w->w_child != NULL) {
		log_warn("worker %d: killed: %s", (int)w->w_pid, why);
		w->w_killed = true;
		kill(w->w_child->ch_pid, SIGKILL);
	}
	supervise_lost(w, why);
}

void
supervise_silent_cb(struct worker *w, uint64_t silent_ms)
{
	struct child *ch = w->w_child;
	struct wspool_reason r;

	log_warn("worker %d (host %s) silent for %llu ms: lost", (int)w->w_pid,
	    w->w_host, (unsigned long long)silent_ms);
	if (ch != NULL) {
		/* Stopped or hung: lost it is, and it must not come back. */
		ch->ch_worker = NULL;
		ch->ch_lost = true;
		w->w_child = NULL;
		w->w_killed = true;
		supervise_child_retire(ch);
		kill(ch->ch_pid, SIGKILL);
		supervise_spawn_missing();
	}
	supervise_reason(&r, WSPOOL_REASON_LOST, w);
	link_gone(w, &r);
}

void
supervise_down_cb(struct worker *w, const char *why, bool bad)
{
	if (bad)
		supervise_kill(w, why);
	else
		supervise_lost(w, why);
}

void
supervise_gone(struct worker *w)
{
	if (w->w_child != NULL)
		w->w_child->ch_worker = NULL;
	w->w_child = NULL;
	if (w->w_timer != NULL)
		event_free(w->w_timer);
	w->w_timer = NULL;
}

static void
supervise_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct wspool_reason why;

	switch (w->w_state) {
	case W_JOINING:
		supervise_kill(w, "did not get ready in time");
		break;
	case W_DRAINING:
		if (w->w_drain_expired) {
			supervise_kill(w, "did not exit after draining");
			break;
		}
		/* The grace period is over: cancel what is left
		 * (subscriptions), then give it a moment to exit. */
		supervise_reason(&why, WSPOOL_REASON_SHUTDOWN, NULL);
		w->w_drain_expired = true;
		sup.on_drain_expired(w, &why);
		supervise_timer_set(w->w_timer, SUPERVISE_JOIN_TIMEOUT_MS);
		break;
	case W_GONE:
		/* Lost its link but has not exited: make sure it does. */
		if (w->w_child != NULL) {
			kill(w->w_child->ch_pid, SIGKILL);
			supervise_timer_set(w->w_timer, SUPERVISE_REAP_TIMEOUT_MS);
		}
		break;
	case W_READY:
		break;
	}
}

/* ---- reaping ----------------------------------------------------------------------- */

/*
 * What the crash page says of a death (proto/crashpage.h): how many calls
 * had started, and the culprit when the worker died by the very signal
 * its handler caught. A culprit named already (a deadline) stays.
 */
static void
supervise_read_page(struct worker *w, const struct child *ch, int status)
{
	const struct crashpage *p = ch->ch_page;
	int sig;

	if (p == NULL)
		return;
	w->w_started = atomic_load(&p->cp_started);
	w->w_started_known = true;
	sig = atomic_load(&p->cp_signal);
	if (w->w_culprit == 0 && sig != 0 && WIFSIGNALED(status) &&
	    WTERMSIG(status) == sig)
		w->w_culprit = atomic_load(&p->cp_culprit);
}

/* The reason a local worker died, from its wait status. */
static void
supervise_reason_status(struct wspool_reason *r, const struct worker *w,
    int status, char *sigbuf, size_t sigbufsz)
{
	supervise_reason(r, WSPOOL_REASON_CRASHED, w);
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		snprintf(sigbuf, sigbufsz, "SIG%s", abbrev ? abbrev : "UNKNOWN");
		r->signal = sigbuf;
	} else if (WIFEXITED(status)) {
		r->status = WEXITSTATUS(status);
	}
}

static void
supervise_reaped(struct child *ch, int status)
{
	struct worker *w = ch->ch_worker;
	struct wspool_reason r;
	char sig[32];

	if (memlimit_reaped(ch->ch_n))
		log_warn("%s %d: killed at its memory limit (%zu MiB)",
		    ch->ch_runner ? "cleanup runner" : "worker",
		    (int)ch->ch_pid, srv.cfg.worker_memory >> 20);
	if (w != NULL) {
		supervise_reason_status(&r, w, status, sig, sizeof(sig));
		supervise_read_page(w, ch, status);
		if (ch->ch_retired && r.signal == NULL && r.status == 0) {
			log_info("%s %d drained and exited", supervise_what(w),
			    (int)ch->ch_pid);
		} else if (!srv.exiting || w->w_inflight > 0) {
			if (r.signal)
				log_warn("%s %d died: %s", supervise_what(w),
				    (int)ch->ch_pid, r.signal);
			else
				log_warn("%s %d exited with status %d",
				    supervise_what(w), (int)ch->ch_pid, r.status);
		}
		ch->ch_worker = NULL;
		w->w_child = NULL;
		link_gone(w, &r);
	} else if (!srv.exiting && !ch->ch_lost) {
		log_warn("worker %d ended before joining (status 0x%x)",
		    (int)ch->ch_pid, status);
	}
	if (!ch->ch_was_ready && !ch->ch_lost)
		sup.failures++;
	TAILQ_REMOVE(&sup.children, ch, ch_link);
	supervise_child_retire(ch);
	spawn_unmap(ch->ch_page);
	free(ch);
}

static struct child *
supervise_child(pid_t pid)
{
	struct child *ch;

	TAILQ_FOREACH(ch, &sup.children, ch_link)
		if (ch->ch_pid == pid)
			return ch;
	return NULL;
}

static void
supervise_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct child *ch;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if ((ch = supervise_child(pid)) != NULL)
			supervise_reaped(ch, status);
	supervise_spawn_missing();
}

/* ---- start and stop ------------------------------------------------------------------ */

int
supervise_start(void)
{
	if (spawn_find_programs() != 0)
		return -1;
	supervise_digest();     /* not fatal: the workers will say why */
	log_info("module %s, worker program %s", spawn_module_path(),
	    spawn_worker_path());
	memlimit_init(srv.cfg.worker_memory);
	sup.sigchld_ev = evsignal_new(srv.base, SIGCHLD, supervise_sigchld_cb,
	    NULL);
	sup.spawn_ev = evtimer_new(srv.base, supervise_spawn_cb, NULL);
	if (sup.sigchld_ev == NULL || sup.spawn_ev == NULL)
		return -1;
	event_add(sup.sigchld_ev, NULL);
	supervise_spawn_missing();
	return 0;
}

void
supervise_stop(void)
{
	struct worker *w, *next;
	struct child *ch;
	struct wspool_reason why;
	uint64_t deadline;
	int status;
	pid_t pid;

	supervise_reason(&why, WSPOOL_REASON_SHUTDOWN, NULL);
	TAILQ_FOREACH(ch, &sup.children, ch_link)
		kill(ch->ch_pid, SIGTERM);
	/* Wait for the children with a deadline, then make sure. */
	deadline = clock_now_ms() + SUPERVISE_STOP_TIMEOUT_MS;
	while (!TAILQ_EMPTY(&sup.children)) {
		if ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if ((ch = supervise_child(pid)) != NULL) {
				if (ch->ch_worker != NULL) {
					ch->ch_worker->w_child = NULL;
					link_gone(ch->ch_worker, &why);
				}
				TAILQ_REMOVE(&sup.children, ch, ch_link);
				memlimit_reaped(ch->ch_n);
				spawn_unmap(ch->ch_page);
				free(ch);
			}
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (clock_now_ms() > deadline) {
			TAILQ_FOREACH(ch, &sup.children, ch_link)
				kill(ch->ch_pid, SIGKILL);
			deadline = UINT64_MAX;
		}
		usleep(10 * 1000); /* polling waitpid: no event loop runs here */
	}
	while ((ch = TAILQ_FIRST(&sup.children)) != NULL) {
		TAILQ_REMOVE(&sup.children, ch, ch_link);
		if (ch->ch_worker != NULL)
			ch->ch_worker->w_child = NULL;
		spawn_unmap(ch->ch_page);
		free(ch);
	}
	for (w = link_next(NULL); w != NULL; w = next) {
		next = link_next(w);
		link_gone(w, &why);
	}
	link_reap();
	if (sup.sigchld_ev != NULL)
		event_free(sup.sigchld_ev);
	if (sup.spawn_ev != NULL)
		event_free(sup.spawn_ev);
	sup.sigchld_ev = sup.spawn_ev = NULL;
	spawn_fini();
}
