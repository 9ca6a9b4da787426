/*
 * link.c: the nng pair1 link to each worker: its socket and events, the
 * batch packed during a loop turn and flushed at its end, backpressure,
 * receiving and dispatching by type, and freeing at the end of the turn.
 * The design notes are in link.h.
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
#include "master/link.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/nngstat.h"
#include "proto/proto.h"

/* Memory a link keeps for packing between batches. */
#define LINK_OUT_KEEP (1024u * 1024)
/* A batch is closed before an envelope would take it past this many bytes
 * (an envelope alone may be larger: PROTO_MAX_BATCH bounds it). */
#define LINK_BATCH_MAX (8u * 1024 * 1024)
/* Room for an envelope's fields besides its values. */
#define LINK_ENVELOPE_SLACK 256
#define LINK_RECV_BURST 64              /* batches read per readable event */
#define LINK_NTYPES 128                 /* message types have numbers below this */

/* A connection a worker has had CONN_OPEN for. */
struct link_seen {
	uint64_t ls_id;
	UT_hash_handle hh;
};

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
	int notify_fd[2];
	struct event *notify_ev;
	struct event *flush_ev;
	struct event *reaper;
	TAILQ_HEAD(, worker) flushq;   /* with a batch to send this turn */
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

/* ---- sending -------------------------------------------------------------------- */

/* msgpack_packer_write: append to the batch being packed. */
static int
link_buf_write(void *data, const char *buf, size_t len)
{
	return json_put_raw(data, buf, len);
}

/* proto_writer_direct: room at the end of the batch. */
static void *
link_buf_reserve(void *data, size_t n)
{
	struct json_buf *b = data;
	void *p;

	if (json_buf_room(b, n) != 0)
		return NULL;
	p = b->jb_data + b->jb_len;
	b->jb_len += n;
	return p;
}

/* The current batch, copied into a new nng message (NULL: no memory). */
static nng_msg *
link_batch_msg(struct worker *w)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, w->w_out.jb_len) != 0)
		return NULL;
	memcpy(nng_msg_body(m), w->w_out.jb_data, w->w_out.jb_len);
	return m;
}

/* Offer the oldest batch to nng: 0 sent, 1 nng is busy (w_send_blocked,
 * SENDFD watched), -1 failed. */
static int
link_send_one(struct worker *w)
{
	bool closed = w->w_nfull > 0;
	nng_msg *m = closed ? w->w_full[0] : link_batch_msg(w);
	unsigned count = closed ? w->w_full_count[0] : w->w_writer.count;
	int rv;

	if (m == NULL) {
		log_error("worker %d: out of memory sending a batch",
		    (int)w->w_pid);
		return -1;
	}
	if ((rv = nng_sendmsg(w->w_sock, m, NNG_FLAG_NONBLOCK)) == 0) {
		w->w_last_tx_ms = clock_now_ms();
		metrics_counters.worker_batches_sent_total++;
		metrics_counters.worker_envelopes_sent_total += count;
		if (closed) {
			memmove(w->w_full_count, w->w_full_count + 1,
			    (w->w_nfull - 1) * sizeof(*w->w_full_count));
			memmove(w->w_full, w->w_full + 1,
			    --w->w_nfull * sizeof(*w->w_full));
		} else {
			json_buf_reset(&w->w_out, LINK_OUT_KEEP);
		}
		return 0;
	}
	if (!closed)
		nng_msg_free(m);
	if (rv == NNG_EAGAIN) {
		/* The last batch is still being written: keep packing into
		 * w_out; SENDFD says when nng can take the next. */
		w->w_send_blocked = true;
		event_add(w->w_send_ev, NULL);
		return 1;
	}
	log_warn("worker %d: send failed: %s", (int)w->w_pid, nng_strerror(rv));
	return -1;
}

static void
link_flush(struct worker *w)
{
	if (w->w_send_blocked || w->w_state == W_GONE)
		return;
	if (w->w_out.jb_len > 0 && w->w_writer.error != 0) {
		log_error("worker %d: out of memory packing a batch", (int)w->w_pid);
		links.on_down(w, "out of memory", true);
		return;
	}
	/* A put refused after the batch was started leaves only the version:
	 * never send a batch with no envelope (the worker would take it for
	 * garbage). */
	if (w->w_writer.count == 0)
		w->w_out.jb_len = 0;
	while (w->w_nfull > 0 || w->w_out.jb_len > 0)
		if (link_send_one(w) != 0)
			return;
}

static void
link_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w;

	while ((w = TAILQ_FIRST(&links.flushq)) != NULL) {
		TAILQ_REMOVE(&links.flushq, w, w_flush_link);
		w->w_flush_queued = false;
		link_flush(w);
	}
}

static void
link_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->w_send_blocked = false;
	event_del(w->w_send_ev);
	link_flush(w);
}

/* Close the current batch: it waits, in order, for nng. */
static int
link_close_batch(struct worker *w)
{
	nng_msg *m;

	if (w->w_nfull == w->w_full_cap) {
		size_t cap = w->w_full_cap ? w->w_full_cap * 2 : 4;
		nng_msg **f = realloc(w->w_full, cap * sizeof(*f));
		unsigned *c;

		if (f == NULL)
			return -1;
		w->w_full = f;
		if ((c = realloc(w->w_full_count, cap * sizeof(*c))) == NULL)
			return -1;
		w->w_full_count = c;
		w->w_full_cap = cap;
	}
	if ((m = link_batch_msg(w)) == NULL)
		return -1;
	w->w_full_count[w->w_nfull] = w->w_writer.count;
	w->w_full[w->w_nfull++] = m;
	json_buf_reset(&w->w_out, LINK_OUT_KEEP);
	return 0;
}

/*
 * The writer for w's current batch, flushed at the end of this turn, or
 * NULL when w's link is closed or memory ran out. size: about how many
 * bytes the envelope's values take (a batch that cannot hold them too is
 * closed first).
 */
static struct proto_writer *
link_writer(struct worker *w, size_t size)
{
	if (w->w_state == W_GONE)
		return NULL;
	if (w->w_out.jb_len > 0 && w->w_writer.count > 0 &&
	    w->w_writer.error == 0 &&
	    w->w_out.jb_len + size + LINK_ENVELOPE_SLACK > LINK_BATCH_MAX &&
	    link_close_batch(w) != 0)
		return NULL;
	if (w->w_out.jb_len == 0) {
		if (proto_writer_init(&w->w_writer, &w->w_out,
		    link_buf_write) != 0) {
			w->w_out.jb_len = 0;
			return NULL;
		}
		proto_writer_direct(&w->w_writer, link_buf_reserve);
	}
	if (!w->w_flush_queued) {
		w->w_flush_queued = true;
		TAILQ_INSERT_TAIL(&links.flushq, w, w_flush_link);
		event_active(links.flush_ev, EV_TIMEOUT, 0);
	}
	return &w->w_writer;
}

int
link_send_call(struct worker *w, const struct link_conn *conn,
    uint64_t call_id, const char *route, size_t route_len, const void *params,
    size_t params_len, const char *id, size_t id_len, uint64_t flags)
{
	struct proto_writer *pw;
	struct link_seen *ls = NULL;
	size_t size = params_len + id_len + route_len;

	if (conn != NULL) {
		HASH_FIND(hh, w->w_conns, &conn->lc_id, sizeof(conn->lc_id), ls);
		/* w has not seen it: CONN_OPEN first, with the headers. */
		for (size_t i = 0; ls == NULL && i < conn->lc_nheaders; i++)
			size += strlen(conn->lc_names[i]) +
			    strlen(conn->lc_values[i]) + 16;
	}
	if ((pw = link_writer(w, size)) == NULL)
		return -1;
	if (conn != NULL && ls == NULL) {
		if ((ls = malloc(sizeof(*ls))) == NULL)
			return -1;
		ls->ls_id = conn->lc_id;
		HASH_ADD(hh, w->w_conns, ls_id, sizeof(ls->ls_id), ls);
		proto_put_conn_open(pw, conn->lc_id, conn->lc_uuid, conn->lc_ip,
		    conn->lc_names, conn->lc_values, conn->lc_nheaders);
	}
	return proto_put_call(pw, call_id, conn != NULL ? conn->lc_id : 0, route,
	    route_len, params, params_len, id, id_len, flags);
}

int
link_send_cancel(struct worker *w, uint64_t call_id,
    const struct wspool_reason *reason)
{
	struct proto_writer *pw;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv;

	if ((pw = link_writer(w, 0)) == NULL)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if ((rv = proto_pack_reason(&pk, reason)) == 0)
		rv = proto_put_cancel(pw, call_id, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

void
link_send_conn_close(uint64_t conn_id)
{
	struct worker *w;
	struct link_seen *ls;
	struct proto_writer *pw;

	for (w = links.workers; w != NULL; w = w->hh.next) {
		HASH_FIND(hh, w->w_conns, &conn_id, sizeof(conn_id), ls);
		if (ls == NULL)
			continue;
		HASH_DEL(w->w_conns, ls);
		free(ls);
		if ((pw = link_writer(w, 0)) != NULL)
			proto_put_conn_close(pw, conn_id);
	}
}

int
link_send_ack(struct worker *w, uint64_t call_id, uint64_t seq)
{
	struct proto_writer *pw;

	if ((pw = link_writer(w, 0)) == NULL)
		return -1;
	return proto_put_defer_ack(pw, call_id, seq);
}

int
link_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len)
{
	struct proto_writer *pw;

	if ((pw = link_writer(w, arg_len + reason_len + strlen(route) +
	    strlen(name))) == NULL)
		return -1;
	return proto_put_cleanup(pw, cleanup_id, call_id, seq, attempt, route,
	    name, arg, arg_len, reason, reason_len);
}

int
link_send_drain(struct worker *w)
{
	struct proto_writer *pw;

	if ((pw = link_writer(w, 0)) == NULL)
		return -1;
	return proto_put_drain(pw);
}

bool
link_congested(const struct worker *w)
{
	return w->w_nfull > 0;
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
	struct proto_writer *pw;
	/* A late tick means the loop itself stalled (a reload's digest probe,
	 * a swapped-out master): what the workers sent meanwhile is not read
	 * yet, so nobody is declared silent this time. */
	bool stalled = now - links.last_tick_ms > 2 * links.tick_ms;

	links.last_tick_ms = now;
	for (w = links.workers; w != NULL; w = next) {
		next = w->hh.next;
		if (w->w_state == W_GONE)
			continue;
		if (!stalled && now - w->w_last_rx_ms > timeout) {
			links.on_silent(w, now - w->w_last_rx_ms);
			continue;
		}
		if (now - w->w_last_tx_ms >= timeout / 3 &&
		    w->w_out.jb_len == 0 && w->w_nfull == 0 &&
		    (pw = link_writer(w, 0)) != NULL)
			proto_put_heartbeat(pw);
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
	w->w_recv_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    link_recv_cb, w);
	if ((rv = nng_socket_get_int(w->w_sock, NNG_OPT_SENDFD, &fd)) != 0)
		goto fail;
	w->w_send_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    link_send_cb, w);
	if (w->w_recv_ev == NULL || w->w_send_ev == NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	event_add(w->w_recv_ev, NULL);
	HASH_ADD(hh, links.workers, w_gen, sizeof(w->w_gen), w);
	return w;

fail:
	log_error("cannot open a socket for worker %d: %s", (int)pid,
	    nng_strerror(rv));
	if (w->w_recv_ev != NULL)
		event_free(w->w_recv_ev);
	if (w->w_send_ev != NULL)
		event_free(w->w_send_ev);
	if (nng_socket_id(w->w_sock) > 0)
		nng_close(w->w_sock);
	free(w);
	return NULL;
}

void
link_close(struct worker *w)
{
	struct link_seen *ls, *tmp;

	if (w->w_state == W_GONE)
		return;
	w->w_state = W_GONE;
	if (w->w_flush_queued) {
		TAILQ_REMOVE(&links.flushq, w, w_flush_link);
		w->w_flush_queued = false;
	}
	event_free(w->w_recv_ev);
	w->w_recv_ev = NULL;
	event_free(w->w_send_ev);
	w->w_send_ev = NULL;
	json_buf_free(&w->w_out);
	while (w->w_nfull > 0)
		nng_msg_free(w->w_full[--w->w_nfull]);
	free(w->w_full);
	w->w_full = NULL;
	free(w->w_full_count);
	w->w_full_count = NULL;
	w->w_full_cap = 0;
	nngstat_keep(w->w_sock, w->w_listener);
	nng_close(w->w_sock);
	HASH_ITER(hh, w->w_conns, ls, tmp) {
		HASH_DEL(w->w_conns, ls);
		free(ls);
	}
}

void
link_discard(struct worker *w)
{
	link_close(w);
	HASH_DEL(links.workers, w);
	free(w);
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
		free(w);
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
	TAILQ_INIT(&links.flushq);
	TAILQ_INIT(&links.dead);
	if (pipe2(links.notify_fd, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	links.started = true;
	links.notify_ev = event_new(srv.base, links.notify_fd[0],
	    EV_READ | EV_PERSIST, link_notify_cb, NULL);
	links.flush_ev = event_new(srv.base, -1, 0, link_flush_cb, NULL);
	links.reaper = event_new(srv.base, -1, 0, link_reaper_cb, NULL);
	links.tick = event_new(srv.base, -1, EV_PERSIST, link_tick_cb, NULL);
	if (links.notify_ev == NULL || links.flush_ev == NULL ||
	    links.reaper == NULL || links.tick == NULL)
		return -1;
	links.handlers[PROTO_HEARTBEAT] = link_heartbeat_cb;
	nngstat_init();
	links.tick_ms = srv.cfg.worker_timeout_ms / 4;
	if (links.tick_ms < 50 || links.tick_ms > 1000)
		links.tick_ms = links.tick_ms < 50 ? 50 : 1000;
	links.last_tick_ms = clock_now_ms();
	{
		struct timeval tv = clock_tv(links.tick_ms);

		event_add(links.tick, &tv);
	}
	/* Lowest priority: they run after everything else this turn. */
	event_priority_set(links.flush_ev, 2);
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
	if (links.flush_ev != NULL)
		event_free(links.flush_ev);
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
