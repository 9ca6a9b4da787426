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
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>

#include "master/conn.h"
#include "master/journal.h"
#include "master/log.h"
#include "master/master.h"
#include "master/pool.h"
#include "master/rpc.h"

#define MAIN_STOP_FLUSH_MS 2000

struct server srv;

static struct event *main_stop_timer;
static int main_stop_ticks;

static void
main_stop_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 50 * 1000 };

	/* Wait for close frames to be flushed, with a deadline. */
	if (conn_count() == 0 || ++main_stop_ticks * 50 >= MAIN_STOP_FLUSH_MS) {
		event_base_loopbreak(srv.base);
		return;
	}
	event_add(main_stop_timer, &tv);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (srv.stopping) {
		event_base_loopbreak(srv.base);
		return;
	}
	log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	srv.stopping = true;
	conn_stop_listening();
	conn_close_all(1001);
	main_stop_tick_cb(-1, 0, NULL);
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
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct event_config *ecfg = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	int rv = 1;

	if (options_parse(&srv.cfg, argc, argv) != 0)
		return 2;
	log_level = srv.cfg.log_level;
	signal(SIGPIPE, SIG_IGN);
	if (gethostname(srv.hostname, sizeof(srv.hostname) - 1) != 0)
		strcpy(srv.hostname, "localhost");
	if (main_rundir() != 0)
		goto out;

	if ((ecfg = event_config_new()) == NULL ||
	    (srv.base = event_base_new_with_config(ecfg)) == NULL ||
	    event_base_priority_init(srv.base, 3) != 0) {
		log_error("cannot start the event loop");
		goto out;
	}
	rpc_init();
	journal_init();
	if (conn_listen() != 0 || pool_start() != 0)
		goto out_stop;
	sigterm = evsignal_new(srv.base, SIGTERM, main_signal_cb, NULL);
	sigint = evsignal_new(srv.base, SIGINT, main_signal_cb, NULL);
	main_stop_timer = evtimer_new(srv.base, main_stop_tick_cb, NULL);
	if (sigterm == NULL || sigint == NULL || main_stop_timer == NULL)
		goto out_stop;
	event_add(sigterm, NULL);
	event_add(sigint, NULL);

	log_info("serving ws://%s%s%s:%d%s with %d workers",
	    strchr(srv.cfg.listen_host, ':') ? "[" : "", srv.cfg.listen_host,
	    strchr(srv.cfg.listen_host, ':') ? "]" : "", srv.cfg.listen_port,
	    srv.cfg.ws_path, srv.cfg.workers);
	event_base_dispatch(srv.base);
	rv = 0;

out_stop:
	srv.stopping = true;
	conn_fini();
	pool_stop();
	journal_fini();
	rpc_fini();
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (main_stop_timer)
		event_free(main_stop_timer);
	rmdir(srv.rundir);
out:
	if (srv.base)
		event_base_free(srv.base);
	if (ecfg)
		event_config_free(ecfg);
	options_free(&srv.cfg);
	nng_fini();
	return rv;
}
