/*
 * join.c: the registry. A worker sends HELLO(pid, host, digest) on a req0
 * socket; the master checks the digest against its module's, opens the
 * worker's link (link.c) and answers WELCOME with its address and the
 * worker timeout, or REFUSE with the reason. The worker dials that
 * address before it says READY there.
 *
 * Design notes: the registry faces whoever can reach --worker-listen.
 * - Over tls+tcp:// both the registry and every worker's link require a
 *   certificate from --worker-tls-ca: a peer without one fails the
 *   handshake and never gets here.
 * - Authenticated or not, a registry connection costs descriptors: at
 *   most JOIN_MAX_PIPES are open at once (more are closed at once, in
 *   nng's pipe callback), each may send one HELLO, and each is closed
 *   JOIN_IDLE_MS after it opened (a worker's join takes milliseconds).
 * - A HELLO opens a socket: at most JOIN_MAX_PENDING workers may be
 *   joining (HELLO said, READY not yet) at once; the others are refused
 *   "busy" and try again later. supervise.c times a join out.
 * - nng calls the pipe callback on its threads: it touches only the pipe
 *   table, under its mutex, and closes pipes outside it (closing a pipe
 *   runs the callback again).
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nngclose.h"
#include "common/tlsconf.h"
#include "master/join.h"
#include "master/link.h"
#include "master/master.h"
#include "master/metrics.h"
#include "proto/proto.h"

#define JOIN_MAX_MSG (64 * 1024)   /* a HELLO is a few dozen bytes */
#define JOIN_MAX_PIPES 64          /* registry connections open at once */
#define JOIN_IDLE_MS 5000          /* a registry connection lives this long */
#define JOIN_MAX_PENDING 32        /* workers joining at once */
#define JOIN_DIGEST_MAX 128

/* A registry connection. */
struct join_pipe {
	uint32_t jp_id;
	uint64_t jp_since_ms;
	unsigned jp_hellos;
};

static struct {
	nng_socket reg;
	bool reg_open;
	struct event *reg_ev;
	struct event *idle_ev;
	char reg_ipc[PATH_MAX + 16];
	join_hello_fn on_hello;
	nng_listener lst[MASTER_MAX_WORKER_LISTEN];
	bool lst_tls[MASTER_MAX_WORKER_LISTEN];
	size_t nlst;
	char digest[JOIN_DIGEST_MAX];   /* the master's module's */
	struct log_rate lograte;
	pthread_mutex_t mu;             /* pipes, npipes */
	struct join_pipe pipes[JOIN_MAX_PIPES];
	size_t npipes;
	atomic_uint_fast64_t pipes_refused;
} join = { .mu = PTHREAD_MUTEX_INITIALIZER };

void
join_on_hello(join_hello_fn fn)
{
	join.on_hello = fn;
}

const char *
join_local_address(void)
{
	return join.reg_ipc;
}

void
join_set_digest(const char *digest)
{
	snprintf(join.digest, sizeof(join.digest), "%s", digest);
}

static int
join_msg_write(void *data, const char *buf, size_t len)
{
	return nng_msg_append((nng_msg *)data, buf, len) == 0 ? 0 : -1;
}

/* ---- registry connections (nng's threads) ---------------------------------------- */

/* Whether p is a local (ipc://) connection: our own workers, in the
 * private run directory, are never turned away for the others. */
static bool
join_pipe_local(nng_pipe p)
{
	nng_sockaddr sa;

	return nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &sa) == 0 &&
	    sa.s_family == NNG_AF_IPC;
}

static void
join_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	bool refuse = false;

	(void)arg;
	pthread_mutex_lock(&join.mu);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (join.npipes == JOIN_MAX_PIPES) {
			refuse = !join_pipe_local(p);
		} else {
			join.pipes[join.npipes].jp_id = (uint32_t)nng_pipe_id(p);
			join.pipes[join.npipes].jp_since_ms = clock_now_ms();
			join.pipes[join.npipes].jp_hellos = 0;
			join.npipes++;
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		for (size_t i = 0; i < join.npipes; i++) {
			if (join.pipes[i].jp_id == (uint32_t)nng_pipe_id(p)) {
				join.pipes[i] = join.pipes[--join.npipes];
				break;
			}
		}
	}
	pthread_mutex_unlock(&join.mu);
	if (refuse) {
		atomic_fetch_add(&join.pipes_refused, 1);
		nng_pipe_close(p);
	}
}

/* Close registry connections open longer than JOIN_IDLE_MS. */
static void
join_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	uint32_t old[JOIN_MAX_PIPES];
	uint64_t now = clock_now_ms();
	size_t n = 0;

	pthread_mutex_lock(&join.mu);
	for (size_t i = 0; i < join.npipes; i++)
		if (now - join.pipes[i].jp_since_ms >= JOIN_IDLE_MS)
			old[n++] = join.pipes[i].jp_id;
	pthread_mutex_unlock(&join.mu);
	for (size_t i = 0; i < n; i++) {
		nng_pipe p = NNG_PIPE_INITIALIZER;

		p.id = old[i];
		nng_pipe_close(p);
	}
}

/* Count a HELLO on the connection p; false past the first one. */
static bool
join_pipe_hello(nng_pipe p)
{
	bool ok = false, found = false;

	pthread_mutex_lock(&join.mu);
	for (size_t i = 0; i < join.npipes; i++)
		if (join.pipes[i].jp_id == (uint32_t)nng_pipe_id(p)) {
			ok = ++join.pipes[i].jp_hellos == 1;
			found = true;
			break;
		}
	pthread_mutex_unlock(&join.mu);
	/* Not in the table: a local one that came while it was full. */
	return found ? ok : join_pipe_local(p);
}

static uint64_t
join_pipes_refused_cb(void)
{
	return atomic_load(&join.pipes_refused);
}

/* ---- HELLO --------------------------------------------------------------------- */

/* Answer the HELLO in msg's connection: WELCOME (addr) or REFUSE (why). */
static void
join_answer(const char *addr, const char *why)
{
	struct proto_writer pw;
	nng_msg *reply;

	if (nng_msg_alloc(&reply, 0) != 0)
		return;
	proto_writer_init(&pw, reply, join_msg_write);
	if (addr != NULL)
		proto_put_welcome(&pw, addr, srv.cfg.node_name,
		    srv.cfg.worker_timeout_ms);
	else
		proto_put_refuse(&pw, why);
	if (pw.error != 0 || nng_sendmsg(join.reg, reply, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(reply);
}

/* Whether the connection came through a tls+tcp:// listener. */
static bool
join_via_tls(nng_pipe p)
{
	nng_listener l = nng_pipe_listener(p);

	for (size_t i = 0; i < join.nlst; i++)
		if (nng_listener_id(join.lst[i]) == nng_listener_id(l))
			return join.lst_tls[i];
	return false;
}

/* One registry message: a HELLO gets a link and a WELCOME, or a REFUSE;
 * anything else, or a second HELLO, closes the connection. */
static void
join_hello(nng_msg *msg)
{
	struct proto_reader rd;
	struct proto_msg m;
	struct worker *w;
	nng_sockaddr via;
	nng_pipe pipe = nng_msg_get_pipe(msg);
	char addr[512], why[256];
	bool tls;

	if (!join_pipe_hello(pipe)) {
		metrics_counters.worker_joins_refused_total++;
		log_rated(&join.lograte, LOG_WARN, "registry: a second HELLO "
		    "on one connection: closing it");
		nng_pipe_close(pipe);
		return;
	}
	if (proto_reader_init(&rd, nng_msg_body(msg), nng_msg_len(msg)) != 0 ||
	    proto_reader_next(&rd, &m) != 1 || m.type != PROTO_HELLO) {
		metrics_counters.worker_joins_refused_total++;
		log_rated(&join.lograte, LOG_WARN, "registry: not a HELLO (%s): "
		    "closing the connection", rd.error ? rd.error : "wrong type");
		nng_pipe_close(pipe);
		goto out;
	}
	if (srv.exiting ||
	    nng_pipe_get_addr(pipe, NNG_OPT_LOCADDR, &via) != 0)
		goto out;
	why[0] = '\0';
	/* Without the probe's digest (it failed), the first local worker's
	 * is the master's: it loaded the module the master was given. */
	if (join.digest[0] == '\0' && via.s_family == NNG_AF_IPC &&
	    m.str2.len > 0 && m.str2.len < sizeof(join.digest))
		snprintf(join.digest, sizeof(join.digest), "%.*s",
		    (int)m.str2.len, m.str2.ptr);
	if (join.digest[0] == '\0')
		snprintf(why, sizeof(why), "the master does not know its "
		    "module's digest yet: try again");
	else if (m.str2.len != strlen(join.digest) ||
	    memcmp(m.str2.ptr, join.digest, m.str2.len) != 0)
		snprintf(why, sizeof(why), "the worker's module differs from "
		    "the master's (digest %.16s..., the master's %.16s...): "
		    "same module, same wspool version on both", m.str2.len ?
		    m.str2.ptr : "none", join.digest);
	else if (via.s_family != NNG_AF_IPC &&
	    link_joining() >= JOIN_MAX_PENDING)
		snprintf(why, sizeof(why), "busy: %u workers are joining: try "
		    "again", JOIN_MAX_PENDING);
	if (why[0] != '\0') {
		metrics_counters.worker_joins_refused_total++;
		log_rated(&join.lograte, LOG_ERROR, "worker %lld (host %.*s) "
		    "refused: %s", (long long)m.num, (int)(m.str.len > 64 ? 64 :
		    m.str.len), m.str.ptr, why);
		join_answer(NULL, why);
		goto out;
	}
	tls = via.s_family != NNG_AF_IPC && join_via_tls(pipe);
	if ((w = link_open((pid_t)m.num, m.str.ptr, m.str.len, &via, tls, addr,
	    sizeof(addr))) == NULL)
		goto out;
	if (join.on_hello(w, via.s_family == NNG_AF_IPC) != 0) {
		link_discard(w);
		goto out;
	}
	join_answer(addr, NULL);
	log_debug("worker %d (host %s) joining at %s", (int)w->w_pid,
	    w->w_host, addr);
out:
	proto_reader_fini(&rd);
}

static void
join_registry_cb(evutil_socket_t fd, short what, void *arg)
{
	nng_msg *msg;

	while (nng_recvmsg(join.reg, &msg, NNG_FLAG_NONBLOCK) == 0) {
		join_hello(msg);
		nng_msg_free(msg);
	}
}

/* ---- start and stop ------------------------------------------------------------ */

/* The TLS configuration of every tls+tcp:// worker address (the link's
 * too), when one is asked for. */
static int
join_tls(nng_tls_config **cfg)
{
	char err[512];

	*cfg = NULL;
	for (size_t i = 0; i < srv.cfg.nworker_listen; i++) {
		if (strncmp(srv.cfg.worker_listen[i], "tls+tcp://", 10) != 0)
			continue;
		if (tlsconf_load(cfg, true, srv.cfg.worker_tls_cert,
		    srv.cfg.worker_tls_key, srv.cfg.worker_tls_ca, NULL, err,
		    sizeof(err)) != 0) {
			log_error("worker TLS: %s", err);
			return -1;
		}
		link_tls(*cfg);
		break;
	}
	return 0;
}

int
join_start(void)
{
	nng_tls_config *tls = NULL;
	struct timeval tv = clock_tv(JOIN_IDLE_MS / 5);
	int fd, rv;

	metrics_counter_cb("wspool_worker_registry_refused_total",
	    "Registry connections closed at once: too many open.",
	    join_pipes_refused_cb);
	if (join_tls(&tls) != 0)
		return -1;
	if ((rv = nng_rep0_open(&join.reg)) != 0)
		goto fail;
	join.reg_open = true;
	nng_socket_set_size(join.reg, NNG_OPT_RECVMAXSZ, JOIN_MAX_MSG);
	nng_pipe_notify(join.reg, NNG_PIPE_EV_ADD_PRE, join_pipe_cb, NULL);
	nng_pipe_notify(join.reg, NNG_PIPE_EV_REM_POST, join_pipe_cb, NULL);
	snprintf(join.reg_ipc, sizeof(join.reg_ipc), "ipc://%s/registry",
	    srv.rundir);
	if ((rv = nng_listen(join.reg, join.reg_ipc, NULL, 0)) != 0)
		goto fail;
	for (size_t i = 0; i < srv.cfg.nworker_listen; i++) {
		const char *url = srv.cfg.worker_listen[i];
		bool is_tls = strncmp(url, "tls+tcp://", 10) == 0;
		nng_listener l;

		if ((rv = nng_listener_create(&l, join.reg, url)) != 0 ||
		    (is_tls && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG,
		    tls)) != 0) ||
		    (rv = nng_listener_start(l, 0)) != 0) {
			log_error("cannot listen for workers at %s: %s", url,
			    nng_strerror(rv));
			goto out;
		}
		join.lst[join.nlst] = l;
		join.lst_tls[join.nlst++] = is_tls;
		log_info("workers may join at %s%s", url, is_tls ?
		    " (mutual TLS)" : "");
	}
	if ((rv = nng_socket_get_int(join.reg, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	join.reg_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    join_registry_cb, NULL);
	join.idle_ev = event_new(srv.base, -1, EV_PERSIST, join_idle_cb, NULL);
	if (join.reg_ev == NULL || join.idle_ev == NULL)
		goto out;
	event_add(join.reg_ev, NULL);
	event_add(join.idle_ev, &tv);
	if (tls != NULL)
		nng_tls_config_free(tls);
	return 0;
fail:
	log_error("worker registry: %s", nng_strerror(rv));
out:
	if (tls != NULL)
		nng_tls_config_free(tls);
	return -1;
}

void
join_stop(void)
{
	if (join.reg_ev != NULL)
		event_free(join.reg_ev);
	if (join.idle_ev != NULL)
		event_free(join.idle_ev);
	if (join.reg_open)
		nngclose_submit(join.reg);
	join.reg_ev = join.idle_ev = NULL;
	join.reg_open = false;
}
