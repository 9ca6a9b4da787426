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
#include "master/master.h"
#include "master/metrics.h"
#include "master/supervise.h"

#define SUPERVISE_JOIN_TIMEOUT_MS 10000   /* HELLO to READY */
#define SUPERVISE_REAP_TIMEOUT_MS 2000    /* lost link to waitpid, then SIGKILL */
#define SUPERVISE_STOP_TIMEOUT_MS 5000
#define SUPERVISE_BACKOFF_MIN_MS 100
#define SUPERVISE_BACKOFF_MAX_MS 10000

/* A process started here. */
struct child {
	pid_t ch_pid;
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
	struct event *sigchld_ev;
	struct event *spawn_ev;
	char *worker_path;
	char *module_path;
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

/* The child no longer counts in --workers: its replacement may start. */
static void
supervise_child_retire(struct child *ch)
{
	if (!ch->ch_retired) {
		ch->ch_retired = true;
		sup.nchildren--;
	}
}

/* ---- finding the programs ------------------------------------------------------- */

/*
 * In the build tree the master is master/wspool-master next to worker/ and
 * examples/. Installed, the worker sits next to the master and the demo in
 * PKGLIBDIR; the install tree is also looked up relative to the master, so
 * an install under DESTDIR or a moved prefix still works.
 */
static char *
supervise_find(const char *configured, const char *const *rels,
    const char *installed)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;
	char *slash;

	if (configured != NULL)
		return realpath(configured, NULL);
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			for (; *rels != NULL; rels++) {
				snprintf(cand, sizeof(cand), "%s/%s", exe, *rels);
				if (access(cand, R_OK) == 0)
					return realpath(cand, NULL);
			}
		}
	}
	return realpath(installed, NULL);
}

static int
supervise_find_programs(void)
{
	static const char *const worker_rels[] = { "../worker/wspool-worker",
	    "wspool-worker", NULL };
	static const char *const demo_rels[] = { "../examples/.libs/demo.so",
	    "../lib/" PACKAGE "/demo.so", NULL };

	sup.worker_path = supervise_find(srv.cfg.worker_path, worker_rels,
	    BINDIR "/wspool-worker");
	if (sup.worker_path == NULL) {
		log_error("cannot find wspool-worker (use --worker-path)");
		return -1;
	}
	sup.module_path = supervise_find(srv.cfg.module_path, demo_rels,
	    PKGLIBDIR "/demo.so");
	if (sup.module_path == NULL) {
		log_error("cannot find module %s: %s", srv.cfg.module_path ?
		    srv.cfg.module_path : "(demo)", strerror(errno));
		return -1;
	}
	return 0;
}

int
supervise_check(void)
{
	char *argv[4];
	pid_t pid;
	int status, rv = -1;

	if (supervise_find_programs() != 0)
		goto out;
	argv[0] = sup.worker_path;
	argv[1] = (char *)"--check";
	argv[2] = sup.module_path;
	argv[3] = NULL;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		rv = 0;
	else
		log_error("module %s failed its check", sup.module_path);
out:
	free(sup.worker_path);
	free(sup.module_path);
	sup.worker_path = sup.module_path = NULL;
	return rv;
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
	char *argv[4], buf[160];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fds[2], status;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	argv[0] = sup.worker_path;
	argv[1] = (char *)"--digest";
	argv[2] = sup.module_path;
	argv[3] = NULL;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 &&
	    ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len != 64 ||
	    strspn(buf, "0123456789abcdef") != len) {
		log_error("module %s: cannot read its digest (wspool-worker "
		    "--digest failed)", sup.module_path);
		return -1;
	}
	join_set_digest(buf);
	log_info("module digest %.16s...", buf);
	return 0;
}

/* ---- spawning -------------------------------------------------------------------- */

static int
supervise_spawn(void)
{
	char threads[16], memory[32];
	char *argv[12];
	struct child *ch;
	pid_t pid, parent = getpid();
	int i = 0;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return -1;
	snprintf(threads, sizeof(threads), "%u", srv.cfg.worker_threads);
	snprintf(memory, sizeof(memory), "%zu", srv.cfg.worker_memory);
	argv[i++] = sup.worker_path;
	argv[i++] = (char *)"--connect";
	argv[i++] = (char *)join_local_address();
	argv[i++] = (char *)"--threads";
	argv[i++] = threads;
	if (srv.cfg.worker_memory != 0) {
		argv[i++] = (char *)"--memory";
		argv[i++] = memory;
	}
	argv[i++] = sup.module_path;
	argv[i] = NULL;

	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		free(ch);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		/* Own process group: a worker's signals never reach the master. */
		setpgid(0, 0);
		/* No orphans: a worker dies with its master. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	ch->ch_pid = pid;
	ch->ch_generation = sup.generation;
	TAILQ_INSERT_TAIL(&sup.children, ch, ch_link);
	sup.nchildren++;
	metrics_counters.worker_starts_total++;
	log_debug("started worker %d", (int)pid);
	return 0;
}

static void
supervise_spawn_cb(evutil_socket_t fd, short what, void *arg)
{
	while (!srv.exiting && sup.nchildren < srv.cfg.workers)
		if (supervise_spawn() != 0)
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

	if (srv.exiting || sup.nchildren >= srv.cfg.workers ||
	    evtimer_pending(sup.spawn_ev, NULL))
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
		    w->w_child != NULL)
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
	log_info("worker %d ready (host %s, %s)", (int)w->w_pid, w->w_host,
	    w->w_child ? "local" : "joined");
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

	if (w != NULL) {
		supervise_reason_status(&r, w, status, sig, sizeof(sig));
		if (ch->ch_retired && r.signal == NULL && r.status == 0) {
			log_info("worker %d drained and exited", (int)ch->ch_pid);
		} else if (!srv.exiting || w->w_inflight > 0) {
			if (r.signal)
				log_warn("worker %d died: %s", (int)ch->ch_pid, r.signal);
			else
				log_warn("worker %d exited with status %d",
				    (int)ch->ch_pid, r.status);
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
	if (!ch->ch_retired)
		sup.nchildren--;
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
	if (supervise_find_programs() != 0)
		return -1;
	supervise_digest();     /* not fatal: the workers will say why */
	log_info("module %s, worker program %s", sup.module_path,
	    sup.worker_path);
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
	free(sup.worker_path);
	free(sup.module_path);
	sup.worker_path = sup.module_path = NULL;
}
