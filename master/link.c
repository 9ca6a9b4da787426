/*
 * link.c: the nng pair1 link to each worker: opening and closing its
 * socket, receiving and dispatching by type, heartbeats and silence, and
 * freeing at the end of the turn (sending: link_send.c). The design notes
 * are in link.h.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nngclose.h"
#include "master/link.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/nngstat.h"
#include "proto/proto.h"

#define LINK_RECV_BURST 64              /* batches read per readable event */
#define LINK_NTYPES 128                 /* message types have numbers below this */
#define LINK_CLOSE_STUCK_MS 10000u      /* a socket close this long will not end */

/* What an nng thread tells the loop: this worker's pipe had this event. */
struct link_note {
	uint64_t ln_gen;
	int ln_ev;
};

static struct {
	struct worker *workers;        /* live, by w_gen */
	uint64_t next_gen;
	link_handler_fn handlers[LINK_NTYPES];
	link_down_fn on_down;
	link_gone_fn on_gone;
	link_silent_fn on_silent;
	nng_tls_config *tls;
	struct event *tick;            /* heartbeats and silence */
	uint64_t tick_ms;              /* its interval */
	uint64_t last_tick_ms;
	bool started;                  /* link_init ran: the fds are ours */
	bool close_stuck_said;         /* link_check_closes logged */
	int notify_fd[2];
	struct event *notify_ev;
	struct event *reaper;
	TAILQ_HEAD(, worker) dead;     /* to free at the end of the turn */
} links;

void
link_handle(enum proto_type type, link_handler_fn fn)
{
	if ((unsigned)type < LINK_NTYPES)
		links.handlers[type] = fn;
}

void
link_on_down(link_down_fn fn)
{
	links.on_down = fn;
}

void
link_on_gone(link_gone_fn fn)
{
	links.on_gone = fn;
}

void
link_on_silent(link_silent_fn fn)
{
	links.on_silent = fn;
}

void
link_tls(nng_tls_config *cfg)
{
	if (cfg != NULL)
		nng_tls_config_hold(cfg);
	if (links.tls != NULL)
		nng_tls_config_free(links.tls);
	links.tls = cfg;
}

unsigned
link_joining(void)
{
	struct worker *w;
	unsigned n = 0;

	for (w = links.workers; w != NULL; w = w->hh.next)
		if (w->w_state == W_JOINING)
			n++;
	return n;
}

void
link_refuse(struct worker *w, const char *what, uint64_t id)
{
	metrics_counters.worker_messages_refused_total++;
	log_rated(&w->w_lograte, LOG_WARN, "worker %d (host %s): refused %s "
	    "for %llu: not given to it", (int)w->w_pid, w->w_host, what,
	    (unsigned long long)id);
	if (++w->w_strikes == LINK_MAX_STRIKES && w->w_state != W_GONE) {
		log_error("worker %d (host %s): %u messages refused: "
		    "disconnecting it", (int)w->w_pid, w->w_host, w->w_strikes);
		w->w_bad = true;
		links.on_down(w, "sends messages for calls it does not run",
		    true);
	}
}

struct worker *
link_next(struct worker *prev)
{
	return prev != NULL ? prev->hh.next : links.workers;
}

/* link_send.c: w's batch cannot go (out of memory). */
static void
link_batch_failed_cb(struct worker *w, const char *why)
{
	links.on_down(w, why, true);
}

/* ---- receiving ------------------------------------------------------------------ */

/* One batch from w, envelope by envelope to the handlers. 0, or -1: garbage. */
static int
link_dispatch(struct worker *w, nng_msg *msg)
{
	struct proto_reader rd;
	struct proto_msg m;
	link_handler_fn fn;
	int rv = 0, more;

	if ((rv = proto_reader_init(&rd, nng_msg_body(msg), nng_msg_len(msg))) != 0)
		goto out;
	metrics_counters.worker_batches_received_total++;
	while ((more = proto_reader_next(&rd, &m)) == 1) {
		metrics_counters.worker_envelopes_received_total++;
		fn = (unsigned)m.type < LINK_NTYPES ? links.handlers[m.type] : NULL;
		if (fn == NULL) {
			rd.error = "message type not expected from a worker";
			rv = -1;
			goto out;
		}
		if ((rv = fn(w, &m)) != 0)
			goto out;
		if (w->w_bad)           /* disconnected for what it sent */
			break;
	}
	if (more < 0)
		rv = -1;
out:
	if (rv != 0)
		log_error("worker %d (host %s) sent a bad message (%s): dropping it",
		    (int)w->w_pid, w->w_host, rd.error ? rd.error : "refused");
	proto_reader_fini(&rd);
	return rv;
}

static void
link_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	nng_msg *msg;

	for (int n = 0; n < LINK_RECV_BURST && !w->w_bad &&
	    w->w_state != W_GONE; n++) {
		/* EAGAIN: nothing more; anything else: closed or failed, and
		 * the pipe event says the rest. */
		if (nng_recvmsg(w->w_sock, &msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		w->w_last_rx_ms = clock_now_ms();
		if (link_dispatch(w, msg) != 0)
			w->w_bad = true;
		nng_msg_free(msg);
	}
	if (w->w_bad && w->w_state != W_GONE) {
		/* Peer is speaking garbage. Kick it. */
		links.on_down(w, "bad message", true);
	}
}

/* HEARTBEAT: it arrived, which is all it says. */
static int
link_heartbeat_cb(struct worker *w, const struct proto_msg *m)
{
	(void)w;
	(void)m;
	return 0;
}

/*
 * A socket close nng never finishes (nngclose.h) costs the closer thread,
 * and from then on nng reaps no pipe: closed links keep their descriptors.
 * Said once, loudly, and shown in /metrics; the master goes on serving.
 */
static void
link_check_closes(void)
{
	if (links.close_stuck_said ||
	    nngclose_waiting_ms() < LINK_CLOSE_STUCK_MS)
		return;
	links.close_stuck_said = true;
	log_error("closing a worker socket has waited %u s: nng 1.5.2 cannot "
	    "finish it (a link closed while a message was half read); it is "
	    "left behind, and closed links keep their descriptors from now "
	    "on: restart the master when convenient",
	    LINK_CLOSE_STUCK_MS / 1000);
}

static uint64_t
link_closes_pending_gauge(void)
{
	return nngclose_pending();
}

/*
 * Every quarter of --worker-timeout: a heartbeat to each worker we sent
 * nothing for a third of it, and the silent ones reported (a frozen
 * process, a cut link and a partition close nothing: silence is the only
 * sign).
 */
static void
link_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_now_ms(), timeout = srv.cfg.worker_timeout_ms;
	struct worker *w, *next;
	/* A late tick means the loop itself stalled (a reload's digest probe,
	 * a swapped-out master): what the workers sent meanwhile is not read
	 * yet, so nobody is declared silent this time. */
	bool stalled = now - links.last_tick_ms > 2 * links.tick_ms;

	links.last_tick_ms = now;
	link_check_closes();
	for (w = links.workers; w != NULL; w = next) {
		next = w->hh.next;
		if (w->w_state == W_GONE)
			continue;
		if (!stalled && now - w->w_last_rx_ms > timeout) {
			links.on_silent(w, now - w->w_last_rx_ms);
			continue;
		}
		if (now - w->w_last_tx_ms >= timeout / 3)
			link_send_heartbeat(w);
	}
}

/* Pipe events arrive from nng's threads through the notify pipe. */
static void
link_pipe_event_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct link_note ln = { (uint64_t)(uintptr_t)arg, (int)ev };

	if (write(links.notify_fd[1], &ln, sizeof(ln)) != (ssize_t)sizeof(ln))
		log_error("pipe event lost: notify pipe full");
}

static void
link_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link_note ln;
	struct worker *w;

	while (read(fd, &ln, sizeof(ln)) == (ssize_t)sizeof(ln)) {
		HASH_FIND(hh, links.workers, &ln.ln_gen, sizeof(ln.ln_gen), w);
		if (w != NULL && w->w_state != W_GONE &&
		    ln.ln_ev == NNG_PIPE_EV_REM_POST)
			links.on_down(w, "connection closed", false);
	}
}

/* ---- opening and closing -------------------------------------------------------- */

/* Listen for w on a fresh address of via's transport; the address to addr. */
static int
link_listen(struct worker *w, const nng_sockaddr *via, bool tls, char *addr,
    size_t addrsz)
{
	const char *scheme = tls ? "tls+tcp" : "tcp";
	char ip[INET6_ADDRSTRLEN];
	nng_listener lst;
	const void *src;
	int af, port, rv;

	if (via->s_family == NNG_AF_IPC) {
		snprintf(addr, addrsz, "ipc://%s/w%llu", srv.rundir,
		    (unsigned long long)w->w_gen);
		return nng_listen(w->w_sock, addr, NULL, 0);
	}
	af = via->s_family == NNG_AF_INET ? AF_INET : AF_INET6;
	src = af == AF_INET ? (const void *)&via->s_in.sa_addr :
	    (const void *)via->s_in6.sa_addr;
	if (inet_ntop(af, src, ip, sizeof(ip)) == NULL)
		return NNG_EADDRINVAL;
	snprintf(addr, addrsz, af == AF_INET ? "%s://%s:0" : "%s://[%s]:0",
	    scheme, ip);
	if ((rv = nng_listener_create(&lst, w->w_sock, addr)) != 0)
		return rv;
	w->w_listener = lst;
	/* The same mutual TLS as the registry: only a worker with a
	 * certificate from our CA can dial its link. */
	if (tls && (links.tls == NULL || (rv = nng_listener_set_ptr(lst,
	    NNG_OPT_TLS_CONFIG, links.tls)) != 0))
		return rv != 0 ? rv : NNG_ECRYPTO;
	if ((rv = nng_listener_start(lst, 0)) != 0 ||
	    (rv = nng_listener_get_int(lst, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
		return rv;
	snprintf(addr, addrsz, af == AF_INET ? "%s://%s:%d" : "%s://[%s]:%d",
	    scheme, ip, port);
	return 0;
}

struct worker *
link_open(pid_t pid, const char *host, size_t host_len,
    const nng_sockaddr *via, bool tls, char *addr, size_t addrsz)
{
	struct worker *w;
	int fd, rv;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->w_gen = ++links.next_gen;
	w->w_pid = pid;
	w->w_last_rx_ms = w->w_last_tx_ms = clock_now_ms();
	snprintf(w->w_host, sizeof(w->w_host), "%.*s", (int)host_len, host);
	if ((rv = nng_pair1_open(&w->w_sock)) != 0)
		goto fail;
	nng_socket_set_size(w->w_sock, NNG_OPT_RECVMAXSZ, PROTO_MAX_BATCH);
	/* No send buffer: EAGAIN means the last batch is still being written,
	 * which is when the next one should grow (design notes). */
	nng_socket_set_int(w->w_sock, NNG_OPT_SENDBUF, 0);
	nng_socket_set_int(w->w_sock, NNG_OPT_RECVBUF, 64);
	nng_pipe_notify(w->w_sock, NNG_PIPE_EV_REM_POST, link_pipe_event_cb,
	    (void *)(uintptr_t)w->w_gen);
	if ((rv = link_listen(w, via, tls, addr, addrsz)) != 0)
		goto fail;
	if ((rv = nng_socket_get_int(w->w_sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	if ((w->w_recv_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    link_recv_cb, w)) == NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	/* The last step that may fail: its undo is not needed below. */
	if ((rv = link_send_open(w)) != 0)
		goto fail;
	event_add(w->w_recv_ev, NULL);
	HASH_ADD(hh, links.workers, w_gen, sizeof(w->w_gen), w);
	return w;

fail:
	log_error("cannot open a socket for worker %d: %s", (int)pid,
	    nng_strerror(rv));
	if (w->w_recv_ev != NULL)
		event_free(w->w_recv_ev);
	if (nng_socket_id(w->w_sock) > 0)
		nngclose_submit(w->w_sock);
	free(w);
	return NULL;
}

void
link_close(struct worker *w)
{
	if (w->w_state == W_GONE)
		return;
	w->w_state = W_GONE;
	event_free(w->w_recv_ev);
	w->w_recv_ev = NULL;
	link_send_release(w);
}

/*
 * The socket is closed with w, not at link_close: a killed local worker's
 * end has been closed by its death by then, and a pipe its peer closed is
 * torn down in full. Closing ours first while the worker still writes is
 * what nng 1.5.2 may never finish (nngclose.h); it runs off this thread.
 */
static void
link_free(struct worker *w)
{
	nngstat_keep(w->w_sock, w->w_listener);
	nngclose_submit(w->w_sock);
	free(w);
}

void
link_discard(struct worker *w)
{
	link_close(w);
	HASH_DEL(links.workers, w);
	link_free(w);
}

/* Copy s into buf (size n) for a reason that must outlive the caller's. */
static const char *
link_keep(char *buf, size_t n, const char *s)
{
	if (s == NULL)
		return NULL;
	snprintf(buf, n, "%s", s);
	return buf;
}

void
link_gone(struct worker *w, const struct wspool_reason *why)
{
	if (w->w_dead)
		return;
	link_close(w);
	w->w_dead = true;
	w->w_why = *why;
	w->w_why.signal = link_keep(w->w_why_signal, sizeof(w->w_why_signal),
	    why->signal);
	w->w_why.message = link_keep(w->w_why_message,
	    sizeof(w->w_why_message), why->message);
	if (why->worker_host != NULL)   /* a reason about w names w's host */
		w->w_why.worker_host = w->w_host;
	HASH_DEL(links.workers, w);
	TAILQ_INSERT_TAIL(&links.dead, w, w_dead_link);
	event_active(links.reaper, EV_TIMEOUT, 0);
}

static void
link_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w;

	while ((w = TAILQ_FIRST(&links.dead)) != NULL) {
		TAILQ_REMOVE(&links.dead, w, w_dead_link);
		links.on_gone(w, &w->w_why);
		link_free(w);
	}
}

void
link_reap(void)
{
	link_reaper_cb(-1, 0, NULL);
}

/* ---- start and stop --------------------------------------------------------------- */

int
link_init(void)
{
	TAILQ_INIT(&links.dead);
	if (link_send_init(link_batch_failed_cb) != 0)
		return -1;
	if (pipe2(links.notify_fd, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	links.started = true;
	links.notify_ev = event_new(srv.base, links.notify_fd[0],
	    EV_READ | EV_PERSIST, link_notify_cb, NULL);
	links.reaper = event_new(srv.base, -1, 0, link_reaper_cb, NULL);
	links.tick = event_new(srv.base, -1, EV_PERSIST, link_tick_cb, NULL);
	if (links.notify_ev == NULL || links.reaper == NULL ||
	    links.tick == NULL)
		return -1;
	links.handlers[PROTO_HEARTBEAT] = link_heartbeat_cb;
	nngstat_init();
	metrics_gauge("wspool_worker_socket_closes_pending",
	    "Worker sockets being closed; one that stays is a close nng cannot "
	    "finish (docs/operations.md).", link_closes_pending_gauge);
	links.tick_ms = srv.cfg.worker_timeout_ms / 4;
	if (links.tick_ms < 50 || links.tick_ms > 1000)
		links.tick_ms = links.tick_ms < 50 ? 50 : 1000;
	links.last_tick_ms = clock_now_ms();
	{
		struct timeval tv = clock_tv(links.tick_ms);

		event_add(links.tick, &tv);
	}
	/* Lowest priority: it runs after everything else this turn. */
	event_priority_set(links.reaper, 2);
	event_add(links.notify_ev, NULL);
	return 0;
}

void
link_fini(void)
{
	link_reap();
	if (links.notify_ev != NULL)
		event_free(links.notify_ev);
	link_send_fini();
	if (links.reaper != NULL)
		event_free(links.reaper);
	if (links.tick != NULL)
		event_free(links.tick);
	if (links.tls != NULL)
		nng_tls_config_free(links.tls);
	if (links.started) {
		close(links.notify_fd[0]);
		close(links.notify_fd[1]);
	}
	memset(&links, 0, sizeof(links));
}
