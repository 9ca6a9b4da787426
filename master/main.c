/*
 * main.c: wspool-master. Parses the command line, binds the client port,
 * starts the worker pool and runs the one libevent loop until SIGTERM or
 * SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <wspool.h>

#include <event2/event.h>
#include <nng/nng.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nngclose.h"
#include "master/commit.h"
#include "master/conn.h"
#include "master/dispatch.h"
#include "master/join.h"
#include "master/journal.h"
#include "master/link.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/spawn.h"
#include "master/supervise.h"
#include "master/tls.h"

#define MAIN_TICK_MS 50
#define MAIN_CLOSE_DRAIN_MS 5000  /* at exit: for the worker sockets to close */
#define MAIN_CLEANUP_MAX_MS 15000  /* after the grace: cleanups may run this long */
#define MAIN_CLOSE_MAX_MS 2000     /* close frames may take this long to flush */

struct server srv;

/*
 * Graceful shutdown, in phases, driven by a tick:
 * DRAIN    no new connections or calls; calls in flight may finish until
 *          the grace period ends, then the rest are cancelled (shutdown);
 * CLEANUP  every call has ended and every journaled cleanup has run (or
 *          a hard deadline passed);
 * CLOSE    WebSockets close with 1001 and flush; then the loop ends and
 *          the workers are stopped.
 * A second signal ends the grace period at once; cleanups still run.
 */
static struct {
	enum { MAIN_RUNNING, MAIN_DRAIN, MAIN_CLEANUP, MAIN_CLOSE } phase;
	struct event *tick;
	uint64_t phase_end_ms;
	int status;                /* the exit status once stopped */
	struct event *adopt;       /* --adopt: watches for the last cleanup */
} stop;

static void
main_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = clock_tv(MAIN_TICK_MS);
	struct wspool_reason why;
	uint64_t now = clock_now_ms();

	switch (stop.phase) {
	case MAIN_RUNNING:
		return;
	case MAIN_DRAIN:
		if (calls_count() > 0 && now < stop.phase_end_ms)
			break;
		if (calls_count() > 0) {
			log_info("grace period over: cancelling %u calls", calls_count());
			memset(&why, 0, sizeof(why));
			why.kind = WSPOOL_REASON_SHUTDOWN;
			why.status = -1;
			rpc_cancel_all(&why);
		}
		stop.phase = MAIN_CLEANUP;
		stop.phase_end_ms = now + MAIN_CLEANUP_MAX_MS;
		/* fall through */
	case MAIN_CLEANUP:
		if ((calls_count() > 0 || journal_pending() > 0) &&
		    now < stop.phase_end_ms)
			break;
		if (journal_pending() > 0)
			log_error("shutdown: %zu cleanups did not run in time",
			    journal_pending());
		conn_close_all(1001);
		stop.phase = MAIN_CLOSE;
		stop.phase_end_ms = now + MAIN_CLOSE_MAX_MS;
		/* fall through */
	case MAIN_CLOSE:
		if (conn_count() + conn_lingering() > 0 &&
		    now < stop.phase_end_ms)
			break;
		event_base_loopbreak(srv.base);
		return;
	}
	event_add(stop.tick, &tv);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";

	if (stop.phase == MAIN_DRAIN) {
		log_info("%s again: ending the grace period now", name);
		stop.phase_end_ms = 0;
		return;
	}
	if (stop.phase != MAIN_RUNNING)
		return;
	log_info("%s: shutting down (%u calls in flight, grace %llu ms)", name,
	    calls_count(), (unsigned long long)srv.cfg.grace_ms);
	srv.stopping = true;
	conn_stop_listening();
	stop.phase = MAIN_DRAIN;
	stop.phase_end_ms = clock_now_ms() + srv.cfg.grace_ms;
	main_tick_cb(-1, 0, NULL);
}

static void
main_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	if (srv.stopping)
		return;
	log_info("SIGHUP: reloading the module");
	(void)tls_reload();
	supervise_reload();
}

/* The journal's store lost this master's node to another master (a
 * Redis lease taken over): it must not go on as a second master of that
 * name. Its registrations are refused already; it stops, status 1. */
static void
main_fenced_cb(const char *why)
{
	log_error("another master took over node %s (%s): stopping",
	    srv.cfg.node_name, why);
	stop.status = 1;
	srv.cfg.grace_ms = 0;
	main_signal_cb(SIGTERM, 0, NULL);
}

/* --adopt: once every cleanup of the dead node ran and is committed,
 * stop (its lock is given back by the journal's close). */
static void
main_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = clock_tv(MAIN_TICK_MS);

	if (journal_pending() > 0 || journal_dirty() || journal_inflight() > 0) {
		event_add(stop.adopt, &tv);
		return;
	}
	log_info("node %s adopted: every cleanup it left has run",
	    srv.cfg.node_name);
	main_signal_cb(SIGTERM, 0, NULL);
}

/* Drop root once the port is bound: the master and every worker. */
static int
main_drop_privileges(void)
{
	struct passwd *pw;

	if (srv.cfg.user == NULL)
		return 0;
	if ((pw = getpwnam(srv.cfg.user)) == NULL) {
		log_error("--user %s: no such user", srv.cfg.user);
		return -1;
	}
	if (chown(srv.rundir, pw->pw_uid, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 ||
	    initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("--user %s: %s", srv.cfg.user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("--user %s: could regain root", srv.cfg.user);
		return -1;
	}
	log_info("running as %s", pw->pw_name);
	return 0;
}

static int
main_rundir(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");

	if (base == NULL || access(base, W_OK) != 0)
		base = "/tmp";
	snprintf(srv.rundir, sizeof(srv.rundir), "%s/wspool-XXXXXX", base);
	if (mkdtemp(srv.rundir) == NULL) {
		log_error("cannot create a directory in %s: %s", base, strerror(errno));
		srv.rundir[0] = '\0';
		return -1;
	}
	return 0;
}

/* This host's name, for the journal's records (a cleanup that outlives
 * this master names it in its "lost" reason). */
static const char *
main_hostname(void)
{
	static char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	return host;
}

/* Start every part, run the loop until the shutdown is over, stop them. */
static int
main_serve(void)
{
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
	int rv = 1;

	journal_init();
	if (journal_open(strcmp(srv.cfg.journal_path, "none") == 0 ? NULL :
	    srv.cfg.journal_path, srv.cfg.node_name, (int64_t)getpid(),
	    main_hostname(), main_fenced_cb) != 0)
		goto out;
	if (rpc_init() != 0 || link_init() != 0 || commit_init() != 0)
		goto out;
	dispatch_init();
	/* --adopt serves no client: only its runner, for the dead node's
	 * cleanups. */
	if ((!srv.cfg.adopt && (tls_init() != 0 || conn_listen() != 0)) ||
	    main_drop_privileges() != 0 ||
	    join_start() != 0 || supervise_start() != 0)
		goto out;
	if (srv.cfg.adopt) {
		struct timeval tv = clock_tv(MAIN_TICK_MS);

		if ((stop.adopt = evtimer_new(srv.base, main_adopt_cb,
		    NULL)) == NULL || event_add(stop.adopt, &tv) != 0)
			goto out;
		log_info("adopting node %s: %zu cleanups to run",
		    srv.cfg.node_name, journal_pending());
	}
	sigterm = evsignal_new(srv.base, SIGTERM, main_signal_cb, NULL);
	sigint = evsignal_new(srv.base, SIGINT, main_signal_cb, NULL);
	sighup = evsignal_new(srv.base, SIGHUP, main_sighup_cb, NULL);
	stop.tick = evtimer_new(srv.base, main_tick_cb, NULL);
	if (sigterm == NULL || sigint == NULL || sighup == NULL || stop.tick == NULL)
		goto out;
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);

	if (!srv.cfg.adopt)
		log_info("serving %s://%s%s%s:%d%s with %d workers",
		    tls_enabled() ? "wss" : "ws", strchr(srv.cfg.listen_host, ':') ? "[" : "",
		    srv.cfg.listen_host,
		    strchr(srv.cfg.listen_host, ':') ? "]" : "",
		    srv.cfg.listen_port, srv.cfg.ws_path, srv.cfg.workers);
	event_base_dispatch(srv.base);
	rv = stop.status;
out:
	srv.stopping = true;
	srv.exiting = true;
	conn_fini();
	tls_fini();
	supervise_stop();
	join_stop();
	commit_fini();
	link_fini();
	routes_fini();
	journal_fini();
	rpc_fini();
	metrics_fini();
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (sighup)
		event_free(sighup);
	if (stop.tick)
		event_free(stop.tick);
	if (stop.adopt)
		event_free(stop.adopt);
	return rv;
}

int
main(int argc, char **argv)
{
	struct event_config *ecfg = NULL;
	bool closed;
	int rv = 1;

	if (options_parse(&srv.cfg, argc, argv) != 0)
		return 2;
	log_init("master");
	log_level = srv.cfg.log_level;
	signal(SIGPIPE, SIG_IGN);
	if (!srv.cfg.core_dumps) {
		/* A crashing handler must not leave its memory (secrets) on disk. */
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
	}
	if (srv.cfg.emit_routes != NULL) {
		/* The worker program writes them: the master never loads a
		 * module. */
		rv = spawn_emit(srv.cfg.emit_routes) == 0 ? 0 : 1;
		goto out;
	}
	if (srv.cfg.check_only) {
		if ((rv = spawn_check() == 0 ? 0 : 1) == 0)
			printf("wspool-master: configuration%s%s and module ok\n",
			    srv.cfg.config_path ? " " : "",
			    srv.cfg.config_path ? srv.cfg.config_path : "");
		goto out;
	}
	if (main_rundir() != 0)
		goto out;
	if ((ecfg = event_config_new()) == NULL ||
	    (srv.base = event_base_new_with_config(ecfg)) == NULL ||
	    event_base_priority_init(srv.base, 3) != 0) {
		log_error("cannot start the event loop");
		goto out;
	}
	rv = main_serve();
out:
	/* Before the rundir goes: closing an ipc:// socket removes its file. */
	closed = nngclose_drain(MAIN_CLOSE_DRAIN_MS);
	if (!closed)
		log_error("an nng socket would not close: leaving without it");
	if (srv.rundir[0] != '\0')
		rmdir(srv.rundir);
	if (srv.base)
		event_base_free(srv.base);
	if (ecfg)
		event_config_free(ecfg);
	options_free(&srv.cfg);
	/* nng_fini would wait for that socket forever. */
	if (closed)
		nng_fini();
	return rv;
}
