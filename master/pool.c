/*
 * pool.c: the worker pool. Local workers are started here (fork + exec of
 * wspool-worker) and reaped here; any worker, local or hand-started on
 * another host, joins through the registry (nng rep0): it says HELLO, the
 * master opens a dedicated pair1 socket for it and answers WELCOME with
 * that socket's address, and the worker dials it.
 *
 * Design notes:
 * - One pair1 socket per worker lets the master address one worker (a
 *   cancel, an orphaned cleanup, a drain) and tells it, through that
 *   socket's pipe events, the moment the worker goes away.
 * - nng runs its callbacks on its own threads; pipe events only write a
 *   token to a pipe that the libevent loop reads. Sockets are closed on
 *   the loop thread, never from an nng callback (nng 1.5 deadlocks).
 * - Receiving uses NNG_OPT_RECVFD (readable when a whole message waits),
 *   sending NNG_OPT_SENDFD when a non-blocking send would block. What the
 *   loop has for one worker during a turn is packed into one nng message
 *   and sent at the end of the turn (flush_ev has the lowest priority):
 *   nng costs per message, not per byte.
 * - A local worker's death is decided by waitpid, which gives the reason
 *   (signal or exit status); losing its pipe only starts the wait. A
 *   remote worker's lost pipe is its death, with reason "lost".
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <uthash.h>

#include <wspool.h>

#include "master/conn.h"
#include "master/journal.h"
#include "common/clock.h"
#include "common/log.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/pool.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "proto/proto.h"

#define POOL_JOIN_TIMEOUT_MS 10000   /* HELLO to READY */
#define POOL_REAP_TIMEOUT_MS 2000    /* lost pipe to waitpid, then SIGKILL */
#define POOL_STOP_TIMEOUT_MS 5000
#define POOL_BACKOFF_MIN_MS 100
#define POOL_BACKOFF_MAX_MS 10000
#define POOL_OUT_PREALLOC (16 * 1024)
#define POOL_OUT_MAX (32u * 1024 * 1024) /* backlog past which a worker takes no calls */
#define POOL_RECV_BURST 64

enum worker_state {
	W_JOINING = 0,  /* welcomed, waiting for READY */
	W_READY,
	W_DRAINING,     /* told to finish its calls and exit (reload, recycle) */
	W_GONE,         /* pipe lost, waiting to be reaped */
};

struct child {
	pid_t ch_pid;
	struct worker *ch_worker;      /* once it has said HELLO */
	unsigned ch_generation;        /* the reload generation it was started in */
	bool ch_was_ready;
	bool ch_retired;               /* draining: not counted in the pool's N */
	TAILQ_ENTRY(child) ch_link;
};

struct wconn {
	uint64_t wc_id;
	UT_hash_handle hh;
};

struct worker {
	uint64_t w_gen;                /* unique; the pipe-event token */
	enum worker_state w_state;
	pid_t w_pid;
	char w_host[256];
	struct child *w_child;         /* NULL: not started by this master */
	nng_socket w_sock;
	struct event *w_recv_ev;
	struct event *w_send_ev;
	struct event *w_timer;         /* join deadline, then reap deadline */
	nng_msg *w_out;                /* the batch being packed */
	struct proto_writer w_writer;
	bool w_flush_queued;
	bool w_send_blocked;
	bool w_bad;                    /* spoke garbage: to be dropped */
	bool w_killed;                 /* we sent the SIGKILL */
	bool w_drain_expired;          /* draining past the grace period */
	unsigned w_inflight;
	unsigned w_generation;         /* reload generation (module version) */
	uint64_t w_ncalls;             /* calls taken, for --max-calls-per-worker */
	struct call_list w_calls;
	struct wconn *w_conns;
	UT_hash_handle hh;             /* pool.workers by w_gen */
	TAILQ_ENTRY(worker) w_flush_link;
};

struct pipe_note {
	uint64_t pn_gen;
	int pn_ev;
};

static struct {
	nng_socket reg;
	bool reg_open;
	struct event *reg_ev;
	char reg_ipc[PATH_MAX + 8];
	struct worker *workers;
	uint64_t next_gen;
	unsigned nready;
	unsigned generation;           /* bumped by each reload (SIGHUP) */
	int notify_fd[2];
	struct event *notify_ev;
	struct event *sigchld_ev;
	struct event *flush_ev;
	struct event *spawn_ev;
	TAILQ_HEAD(, worker) flushq;
	TAILQ_HEAD(, child) children;
	int nchildren;                 /* local workers counted in N (not retired) */
	unsigned failures;             /* consecutive starts that never got ready */
	char *worker_path;
	char *module_path;
} pool;

static void pool_worker_free(struct worker *w, const struct wspool_reason *why);
static void pool_spawn_missing(void);
static void pool_reload_progress(void);

static void
pool_timer_set(struct event *ev, uint64_t ms)
{
	struct timeval tv = clock_tv(ms);

	event_add(ev, &tv);
}

/* ---- finding the programs -------------------------------------------------- */

/*
 * In the build tree the master is master/wspool-master next to worker/ and
 * examples/. Installed, the worker sits next to the master and the demo in
 * PKGLIBDIR; the install tree is also looked up relative to the master, so
 * an install under DESTDIR or a moved prefix still works.
 */
static char *
pool_find(const char *configured, const char *const *rels, const char *installed)
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

/* ---- sending ----------------------------------------------------------------- */

static int
pool_msg_write(void *data, const char *buf, size_t len)
{
	return nng_msg_append((nng_msg *)data, buf, len) == 0 ? 0 : -1;
}

static void
pool_flush(struct worker *w)
{
	int rv;

	if (w->w_out == NULL || w->w_send_blocked || w->w_state == W_GONE)
		return;
	if (w->w_writer.error != 0) {
		log_error("worker %d: out of memory packing a batch", (int)w->w_pid);
		pool_kill(w, "out of memory");
		return;
	}
	rv = nng_sendmsg(w->w_sock, w->w_out, NNG_FLAG_NONBLOCK);
	if (rv == 0) {
		w->w_out = NULL;
		return;
	}
	if (rv == NNG_EAGAIN) {
		/* Backpressure: keep packing into w_out, retry when writable. */
		w->w_send_blocked = true;
		event_add(w->w_send_ev, NULL);
		return;
	}
	log_warn("worker %d: send failed: %s", (int)w->w_pid, nng_strerror(rv));
}

static void
pool_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w;

	while ((w = TAILQ_FIRST(&pool.flushq)) != NULL) {
		TAILQ_REMOVE(&pool.flushq, w, w_flush_link);
		w->w_flush_queued = false;
		pool_flush(w);
	}
}

static void
pool_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->w_send_blocked = false;
	event_del(w->w_send_ev);
	pool_flush(w);
}

/* The writer for w's current batch, flushed at the end of this turn. */
static struct proto_writer *
pool_writer(struct worker *w)
{
	if (w->w_out == NULL) {
		if (nng_msg_alloc(&w->w_out, POOL_OUT_PREALLOC) != 0) {
			w->w_out = NULL;
			return NULL;
		}
		nng_msg_clear(w->w_out);
		proto_writer_init(&w->w_writer, w->w_out, pool_msg_write);
	}
	if (!w->w_flush_queued) {
		w->w_flush_queued = true;
		TAILQ_INSERT_TAIL(&pool.flushq, w, w_flush_link);
		event_active(pool.flush_ev, EV_TIMEOUT, 0);
	}
	return &w->w_writer;
}

int
pool_send_call(struct worker *w, struct call *call, struct conn *c,
    const char *params, size_t params_len)
{
	struct proto_writer *pw;
	struct wconn *wc;

	if ((pw = pool_writer(w)) == NULL)
		return -1;
	if (c != NULL) {
		HASH_FIND(hh, w->w_conns, &c->c_id, sizeof(c->c_id), wc);
		if (wc == NULL) {
			if ((wc = malloc(sizeof(*wc))) == NULL)
				return -1;
			wc->wc_id = c->c_id;
			HASH_ADD(hh, w->w_conns, wc_id, sizeof(wc->wc_id), wc);
			proto_put_conn_open(pw, c->c_id, c->c_uuid, c->c_ip,
			    (const char *const *)c->c_hnames,
			    (const char *const *)c->c_hvalues, c->c_nheaders);
		}
	}
	proto_put_call(pw, call->k_id, c ? c->c_id : 0, call->k_route,
	    strlen(call->k_route), params, params_len,
	    (call->k_flags & CALL_NOTIFY) ? PROTO_CALL_NOTIFY : 0);
	call->k_worker = w;
	call->k_worker_pid = (int)w->w_pid;
	TAILQ_INSERT_TAIL(&w->w_calls, call, k_wlink);
	w->w_inflight++;
	if (++w->w_ncalls == srv.cfg.max_calls_per_worker && w->w_child != NULL)
		pool_retire(w, "recycled after its calls");
	return 0;
}

void
pool_call_done(struct worker *w, struct call *call)
{
	TAILQ_REMOVE(&w->w_calls, call, k_wlink);
	w->w_inflight--;
	call->k_worker = NULL;
}

int
pool_send_answer_ack(struct worker *w, uint64_t call_id)
{
	struct proto_writer *pw;

	if (w->w_state == W_GONE || (pw = pool_writer(w)) == NULL)
		return -1;
	return proto_put_defer_ack(pw, call_id, PROTO_ANSWER_ACK);
}

int
pool_send_cancel(struct worker *w, uint64_t call_id,
    const struct wspool_reason *reason)
{
	struct proto_writer *pw;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv;

	if (w->w_state == W_GONE || (pw = pool_writer(w)) == NULL)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if ((rv = proto_pack_reason(&pk, reason)) == 0)
		rv = proto_put_cancel(pw, call_id, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

void
pool_conn_closed(struct conn *c)
{
	struct worker *w, *tmp;
	struct wconn *wc;
	struct proto_writer *pw;

	HASH_ITER(hh, pool.workers, w, tmp) {
		HASH_FIND(hh, w->w_conns, &c->c_id, sizeof(c->c_id), wc);
		if (wc == NULL)
			continue;
		HASH_DEL(w->w_conns, wc);
		free(wc);
		if (w->w_state != W_GONE && (pw = pool_writer(w)) != NULL)
			proto_put_conn_close(pw, c->c_id);
	}
}

/* ---- picking --------------------------------------------------------------- */

struct worker *
pool_pick(void)
{
	struct worker *w, *tmp, *best = NULL;

	struct worker *old = NULL;

	HASH_ITER(hh, pool.workers, w, tmp) {
		if (w->w_state != W_READY || w->w_inflight >= srv.cfg.worker_max_inflight)
			continue;
		if (w->w_send_blocked && w->w_out != NULL &&
		    nng_msg_len(w->w_out) > POOL_OUT_MAX)
			continue;
		/* During a reload, the old module serves until the new is up. */
		if (w->w_generation != pool.generation) {
			if (old == NULL || w->w_inflight < old->w_inflight)
				old = w;
			continue;
		}
		if (best == NULL || w->w_inflight < best->w_inflight)
			best = w;
	}
	return best != NULL ? best : old;
}

unsigned
pool_nready(void)
{
	return pool.nready;
}

static uint64_t
pool_nready_gauge(void)
{
	return pool.nready;
}

pid_t
pool_worker_pid(const struct worker *w)
{
	return w->w_pid;
}

struct worker *
pool_ready_next(struct worker *prev)
{
	struct worker *w = prev ? prev->hh.next : pool.workers;

	while (w != NULL && w->w_state != W_READY)
		w = w->hh.next;
	return w;
}

int
pool_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len)
{
	struct proto_writer *pw;

	if (w->w_state != W_READY || (pw = pool_writer(w)) == NULL)
		return -1;
	return proto_put_cleanup(pw, cleanup_id, call_id, seq, attempt, route,
	    name, arg, arg_len, reason, reason_len);
}

/* ---- receiving ----------------------------------------------------------------- */

/* READY: the worker's module and routes. */
static int
pool_on_ready(struct worker *w, const struct proto_msg *m)
{
	if (routes_ready(w->w_generation, w->w_host, m) != 0)
		return -1;
	w->w_pid = (pid_t)m->num;
	w->w_state = W_READY;
	event_del(w->w_timer);
	pool.nready++;
	if (w->w_child != NULL) {
		w->w_child->ch_was_ready = true;
		pool.failures = 0;
	}
	log_info("worker %d ready (host %s, %s)", (int)w->w_pid, w->w_host,
	    w->w_child ? "local" : "joined");
	pool_reload_progress();
	journal_dispatch();
	rpc_dispatch_queue();
	return 0;
}

static int
pool_dispatch(struct worker *w, nng_msg *msg)
{
	struct proto_reader rd;
	struct proto_msg m;
	int rv = 0, more;

	if (proto_reader_init(&rd, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		rv = -1;
		goto out;
	}
	while ((more = proto_reader_next(&rd, &m)) == 1) {
		switch (m.type) {
		case PROTO_READY:
			if (w->w_state != W_JOINING || pool_on_ready(w, &m) != 0)
				rv = -1;
			break;
		case PROTO_RESULT:
		case PROTO_CHUNK:
		case PROTO_END:
		case PROTO_ERROR:
			if (w->w_state != W_READY && w->w_state != W_DRAINING)
				rv = -1;
			else
				rpc_on_reply(w, &m);
			break;
		case PROTO_DEFER: {
			/* Journal first, then acknowledge: when wspool_defer
			 * returns, the master holds the cleanup. */
			struct proto_writer *pw = pool_writer(w);
			if (pw == NULL || journal_defer(w, m.id, m.seq,
			    rpc_route_of(m.id), m.str.ptr, m.str.len, m.value.ptr,
			    m.value.len) != 0 ||
			    proto_put_defer_ack(pw, m.id, m.seq) != 0)
				rv = -1;
			break;
		}
		case PROTO_CLEANUP_DONE:
			journal_done(w, m.id, m.seq, m.flags != 0, m.str.ptr, m.str.len);
			/* The worker runs the call's next cleanup once we have this. */
			if (m.seq > 0 && m.seq < PROTO_DONE_ACK) {
				struct proto_writer *pw = pool_writer(w);
				if (pw == NULL || proto_put_defer_ack(pw, m.id,
				    m.seq | PROTO_DONE_ACK) != 0)
					rv = -1;
			}
			break;
		case PROTO_LOG:
			if (m.call_id != 0)
				log_msg((int)m.num, "worker=%d call=%llu route=%s: %.*s",
				    (int)w->w_pid, (unsigned long long)m.call_id,
				    rpc_route_of(m.call_id), (int)m.str.len, m.str.ptr);
			else
				log_msg((int)m.num, "worker=%d: %.*s", (int)w->w_pid,
				    (int)m.str.len, m.str.ptr);
			break;
		default:
			rd.error = "message type not expected from a worker";
			rv = -1;
			break;
		}
		if (rv != 0)
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
pool_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	nng_msg *msg;
	int rv;

	for (int n = 0; n < POOL_RECV_BURST && !w->w_bad; n++) {
		rv = nng_recvmsg(w->w_sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		if (rv != 0) {
			/* Closed or failed: the pipe event says the rest. */
			break;
		}
		if (pool_dispatch(w, msg) != 0)
			w->w_bad = true;
		nng_msg_free(msg);
	}
	if (w->w_bad) {
		/* Peer is speaking garbage. Kick it. */
		pool_kill(w, "bad message");
	}
}

/* ---- death --------------------------------------------------------------------- */

static void
pool_reason_crash(struct wspool_reason *r, const struct worker *w, int status,
    char *sigbuf, size_t sigbufsz)
{
	memset(r, 0, sizeof(*r));
	r->kind = WSPOOL_REASON_CRASHED;
	r->status = -1;
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		snprintf(sigbuf, sigbufsz, "SIG%s", abbrev ? abbrev : "UNKNOWN");
		r->signal = sigbuf;
	} else if (WIFEXITED(status)) {
		r->status = WEXITSTATUS(status);
	}
	r->worker_pid = w->w_pid;
	r->worker_host = w->w_host;
}

static void
pool_worker_close(struct worker *w)
{
	struct wconn *wc, *tmp;

	if (w->w_flush_queued) {
		TAILQ_REMOVE(&pool.flushq, w, w_flush_link);
		w->w_flush_queued = false;
	}
	if (w->w_recv_ev != NULL) {
		event_free(w->w_recv_ev);
		w->w_recv_ev = NULL;
	}
	if (w->w_send_ev != NULL) {
		event_free(w->w_send_ev);
		w->w_send_ev = NULL;
	}
	if (w->w_out != NULL) {
		nng_msg_free(w->w_out);
		w->w_out = NULL;
	}
	nng_close(w->w_sock);
	HASH_ITER(hh, w->w_conns, wc, tmp) {
		HASH_DEL(w->w_conns, wc);
		free(wc);
	}
	if (w->w_state == W_READY)
		pool.nready--;
	if (w->w_child != NULL && !w->w_child->ch_retired) {
		/* Its replacement may start now: N counts live workers. */
		w->w_child->ch_retired = true;
		pool.nchildren--;
	}
	w->w_state = W_GONE;
}

/* The worker is dead: end its calls with why, and free it. */
static void
pool_worker_free(struct worker *w, const struct wspool_reason *why)
{
	struct call_list calls;

	pool_worker_close(w);
	TAILQ_INIT(&calls);
	TAILQ_CONCAT(&calls, &w->w_calls, k_wlink);
	w->w_inflight = 0;
	if (!TAILQ_EMPTY(&calls))
		rpc_worker_gone(w, &calls, why);
	/* An outside SIGKILL (an operator, the OOM killer) says nothing about
	 * the cleanup that was running; any other death counts against it. */
	journal_worker_gone(w, why, !(why->signal != NULL &&
	    strcmp(why->signal, "SIGKILL") == 0 && !w->w_killed) &&
	    why->kind != WSPOOL_REASON_SHUTDOWN);
	if (w->w_child != NULL)
		w->w_child->ch_worker = NULL;
	event_free(w->w_timer);
	HASH_DEL(pool.workers, w);
	metrics_worker_death(why->kind == WSPOOL_REASON_LOST ? "lost" :
	    why->kind == WSPOOL_REASON_SHUTDOWN ? "shutdown" :
	    why->signal != NULL ? why->signal :
	    why->status == 0 ? "exit" : "exit_error");
	free(w);
}

static void
pool_worker_lost(struct worker *w, const char *why)
{
	struct wspool_reason r;

	if (w->w_state == W_GONE)
		return;
	if (w->w_child != NULL) {
		/* waitpid will say how it died; give it a moment. */
		log_info("worker %d: %s; waiting for its exit status", (int)w->w_pid, why);
		pool_worker_close(w);
		pool_timer_set(w->w_timer, POOL_REAP_TIMEOUT_MS);
		return;
	}
	log_warn("worker %d (host %s) lost: %s", (int)w->w_pid, w->w_host, why);
	memset(&r, 0, sizeof(r));
	r.kind = WSPOOL_REASON_LOST;
	r.status = -1;
	r.worker_pid = w->w_pid;
	r.worker_host = w->w_host;
	pool_worker_free(w, &r);
}

void
pool_kill(struct worker *w, const char *why)
{
	if (w->w_child != NULL) {
		log_warn("worker %d: killed: %s", (int)w->w_pid, why);
		w->w_killed = true;
		kill(w->w_child->ch_pid, SIGKILL);
		pool_worker_lost(w, why);
		return;
	}
	pool_worker_lost(w, why);
}

static void
pool_worker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (w->w_state == W_JOINING) {
		pool_kill(w, "did not get ready in time");
		return;
	}
	if (w->w_state == W_DRAINING) {
		/* The grace period is over: cancel what is left (subscriptions),
		 * then give it a moment to exit before it is killed. */
		struct wspool_reason why;
		struct call *call;

		if (!w->w_drain_expired) {
			memset(&why, 0, sizeof(why));
			why.kind = WSPOOL_REASON_SHUTDOWN;
			why.status = -1;
			w->w_drain_expired = true;
			TAILQ_FOREACH(call, &w->w_calls, k_wlink)
				pool_send_cancel(w, call->k_id, &why);
			rpc_cancel_list(&w->w_calls, &why);
			pool_timer_set(w->w_timer, POOL_JOIN_TIMEOUT_MS);
		} else {
			pool_kill(w, "did not exit after draining");
		}
		return;
	}
	if (w->w_state == W_GONE && w->w_child != NULL) {
		/* Lost its pipe but has not exited: make sure it does. */
		kill(w->w_child->ch_pid, SIGKILL);
		pool_timer_set(w->w_timer, POOL_REAP_TIMEOUT_MS);
	}
}

static void
pool_child_reaped(struct child *ch, int status)
{
	struct worker *w = ch->ch_worker;
	struct wspool_reason r;
	char sig[32];

	if (w != NULL) {
		pool_reason_crash(&r, w, status, sig, sizeof(sig));
		if (ch->ch_retired && r.signal == NULL && r.status == 0) {
			log_info("worker %d drained and exited", (int)ch->ch_pid);
		} else if (!srv.exiting || !TAILQ_EMPTY(&w->w_calls)) {
			if (r.signal)
				log_warn("worker %d died: %s", (int)ch->ch_pid, r.signal);
			else
				log_warn("worker %d exited with status %d", (int)ch->ch_pid, r.status);
		}
		pool_worker_free(w, &r);
	} else if (!srv.exiting) {
		log_warn("worker %d ended before joining (status 0x%x)",
		    (int)ch->ch_pid, status);
	}
	if (!ch->ch_was_ready)
		pool.failures++;
	TAILQ_REMOVE(&pool.children, ch, ch_link);
	if (!ch->ch_retired)
		pool.nchildren--;
	free(ch);
}

static void
pool_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct child *ch;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(ch, &pool.children, ch_link)
			if (ch->ch_pid == pid)
				break;
		if (ch != NULL)
			pool_child_reaped(ch, status);
	}
	pool_spawn_missing();
}

/* Pipe events arrive from nng's threads through the notify pipe. */
static void
pool_pipe_event_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pipe_note pn = { (uint64_t)(uintptr_t)arg, (int)ev };

	if (write(pool.notify_fd[1], &pn, sizeof(pn)) != (ssize_t)sizeof(pn))
		log_error("pipe event lost: notify pipe full");
}

static void
pool_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_note pn;
	struct worker *w;

	while (read(fd, &pn, sizeof(pn)) == (ssize_t)sizeof(pn)) {
		HASH_FIND(hh, pool.workers, &pn.pn_gen, sizeof(pn.pn_gen), w);
		if (w == NULL)
			continue;
		if (pn.pn_ev == NNG_PIPE_EV_REM_POST)
			pool_worker_lost(w, "connection closed");
	}
}

/* ---- joining ------------------------------------------------------------------- */

static struct worker *
pool_worker_new(const struct proto_msg *hello, const nng_sockaddr *via,
    char *addr, size_t addrsz)
{
	struct worker *w;
	nng_listener lst;
	char ip[INET6_ADDRSTRLEN];
	int fd, port, rv;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->w_gen = ++pool.next_gen;
	w->w_generation = pool.generation;
	w->w_pid = (pid_t)hello->num;
	snprintf(w->w_host, sizeof(w->w_host), "%.*s", (int)hello->str.len,
	    hello->str.ptr);
	TAILQ_INIT(&w->w_calls);
	if ((rv = nng_pair1_open(&w->w_sock)) != 0)
		goto fail_free;
	nng_socket_set_size(w->w_sock, NNG_OPT_RECVMAXSZ, PROTO_MAX_MSG);
	nng_socket_set_int(w->w_sock, NNG_OPT_SENDBUF, 64);
	nng_socket_set_int(w->w_sock, NNG_OPT_RECVBUF, 64);
	nng_pipe_notify(w->w_sock, NNG_PIPE_EV_REM_POST, pool_pipe_event_cb,
	    (void *)(uintptr_t)w->w_gen);

	if (via->s_family == NNG_AF_IPC) {
		snprintf(addr, addrsz, "ipc://%s/w%llu", srv.rundir,
		    (unsigned long long)w->w_gen);
		if ((rv = nng_listen(w->w_sock, addr, NULL, 0)) != 0)
			goto fail_close;
	} else {
		const void *src = via->s_family == NNG_AF_INET ?
		    (const void *)&via->s_in.sa_addr : (const void *)via->s_in6.sa_addr;
		int af = via->s_family == NNG_AF_INET ? AF_INET : AF_INET6;
		if (inet_ntop(af, src, ip, sizeof(ip)) == NULL)
			goto fail_close;
		snprintf(addr, addrsz, af == AF_INET ? "tcp://%s:0" : "tcp://[%s]:0", ip);
		if ((rv = nng_listen(w->w_sock, addr, &lst, 0)) != 0)
			goto fail_close;
		if ((rv = nng_listener_get_int(lst, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
			goto fail_close;
		snprintf(addr, addrsz, af == AF_INET ? "tcp://%s:%d" : "tcp://[%s]:%d",
		    ip, port);
	}
	if ((rv = nng_socket_get_int(w->w_sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail_close;
	w->w_recv_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST, pool_recv_cb, w);
	if ((rv = nng_socket_get_int(w->w_sock, NNG_OPT_SENDFD, &fd)) != 0)
		goto fail_close;
	w->w_send_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST, pool_send_cb, w);
	w->w_timer = evtimer_new(srv.base, pool_worker_timer_cb, w);
	if (w->w_recv_ev == NULL || w->w_send_ev == NULL || w->w_timer == NULL)
		goto fail_close;
	event_add(w->w_recv_ev, NULL);
	pool_timer_set(w->w_timer, POOL_JOIN_TIMEOUT_MS);
	HASH_ADD(hh, pool.workers, w_gen, sizeof(w->w_gen), w);
	return w;

fail_close:
	log_error("cannot open a socket for worker %d: %s", (int)w->w_pid,
	    nng_strerror(rv));
	if (w->w_recv_ev)
		event_free(w->w_recv_ev);
	if (w->w_send_ev)
		event_free(w->w_send_ev);
	if (w->w_timer)
		event_free(w->w_timer);
	nng_close(w->w_sock);
fail_free:
	free(w);
	return NULL;
}

static void
pool_registry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proto_reader rd;
	struct proto_msg m;
	struct proto_writer pw;
	struct worker *w;
	struct child *ch;
	nng_sockaddr via;
	nng_msg *msg, *reply;
	char addr[512];

	while (nng_recvmsg(pool.reg, &msg, NNG_FLAG_NONBLOCK) == 0) {
		w = NULL;
		if (proto_reader_init(&rd, nng_msg_body(msg), nng_msg_len(msg)) != 0 ||
		    proto_reader_next(&rd, &m) != 1 || m.type != PROTO_HELLO) {
			log_warn("registry: not a HELLO (%s): ignored",
			    rd.error ? rd.error : "wrong type");
			goto next;
		}
		if (srv.exiting ||
		    nng_pipe_get_addr(nng_msg_get_pipe(msg), NNG_OPT_LOCADDR, &via) != 0)
			goto next;
		if ((w = pool_worker_new(&m, &via, addr, sizeof(addr))) == NULL)
			goto next;
		if (via.s_family == NNG_AF_IPC) {
			TAILQ_FOREACH(ch, &pool.children, ch_link) {
				if (ch->ch_pid == w->w_pid && ch->ch_worker == NULL) {
					ch->ch_worker = w;
					w->w_child = ch;
					w->w_generation = ch->ch_generation;
					break;
				}
			}
		}
		if (nng_msg_alloc(&reply, 0) != 0)
			goto next;
		proto_writer_init(&pw, reply, pool_msg_write);
		proto_put_welcome(&pw, addr);
		if (pw.error != 0 || nng_sendmsg(pool.reg, reply, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(reply);
		log_debug("worker %d (host %s) joining at %s", (int)w->w_pid,
		    w->w_host, addr);
next:
		proto_reader_fini(&rd);
		nng_msg_free(msg);
	}
}

/* ---- spawning ------------------------------------------------------------------- */

static int
pool_spawn(void)
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
	argv[i++] = pool.worker_path;
	argv[i++] = (char *)"--connect";
	argv[i++] = pool.reg_ipc;
	argv[i++] = (char *)"--threads";
	argv[i++] = threads;
	if (srv.cfg.worker_memory != 0) {
		argv[i++] = (char *)"--memory";
		argv[i++] = memory;
	}
	argv[i++] = pool.module_path;
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
	ch->ch_generation = pool.generation;
	TAILQ_INSERT_TAIL(&pool.children, ch, ch_link);
	pool.nchildren++;
	metrics_counters.worker_starts_total++;
	log_debug("started worker %d", (int)pid);
	return 0;
}

static void
pool_spawn_cb(evutil_socket_t fd, short what, void *arg)
{
	while (!srv.exiting && pool.nchildren < srv.cfg.workers)
		if (pool_spawn() != 0)
			break;
}

/*
 * Bring the pool back to N. Starts that keep failing back off
 * exponentially (capped) so a module that crashes at load does not spin.
 */
static void
pool_spawn_missing(void)
{
	unsigned delay;

	if (srv.exiting || pool.nchildren >= srv.cfg.workers ||
	    evtimer_pending(pool.spawn_ev, NULL))
		return;
	if (pool.failures == 0) {
		pool_spawn_cb(-1, 0, NULL);
		return;
	}
	delay = POOL_BACKOFF_MIN_MS << (pool.failures > 7 ? 7 : pool.failures - 1);
	if (delay > POOL_BACKOFF_MAX_MS)
		delay = POOL_BACKOFF_MAX_MS;
	log_warn("workers keep failing to start (%u in a row): next start in %u ms",
	    pool.failures, delay);
	pool_timer_set(pool.spawn_ev, delay);
}

/* ---- reload and recycling -------------------------------------------------------- */

/*
 * Take w out of rotation: it finishes its calls and exits (PROTO_DRAIN);
 * subscriptions still running after --grace are cancelled (shutdown). A
 * replacement starts at once: a retired worker does not count in N.
 */
void
pool_retire(struct worker *w, const char *why)
{
	struct proto_writer *pw;

	if (w->w_state != W_READY)
		return;
	log_info("worker %d: draining (%s)", (int)w->w_pid, why);
	pool.nready--;
	w->w_state = W_DRAINING;
	if ((pw = pool_writer(w)) != NULL)
		proto_put_drain(pw);
	if (w->w_child != NULL && !w->w_child->ch_retired) {
		w->w_child->ch_retired = true;
		pool.nchildren--;
	}
	pool_timer_set(w->w_timer, srv.cfg.grace_ms);
	pool_spawn_missing();
}

/*
 * SIGHUP: start a new generation of local workers, which load the module
 * afresh from disk. New calls go to them as soon as they are ready; the
 * old workers keep serving until the whole new generation is ready, then
 * drain. If the new module cannot start, the old workers keep serving.
 */
void
pool_reload(void)
{
	struct child *ch;

	pool.generation++;
	log_info("reload: starting %d workers of generation %u", srv.cfg.workers,
	    pool.generation);
	TAILQ_FOREACH(ch, &pool.children, ch_link) {
		if (!ch->ch_retired) {
			ch->ch_retired = true;
			pool.nchildren--;
		}
	}
	pool.failures = 0;
	evtimer_del(pool.spawn_ev);
	pool_spawn_missing();
}

/* Once the new generation is complete, drain the old local workers. */
static void
pool_reload_progress(void)
{
	struct worker *w, *tmp;
	int ready = 0;

	HASH_ITER(hh, pool.workers, w, tmp)
		if (w->w_state == W_READY && w->w_generation == pool.generation &&
		    w->w_child != NULL)
			ready++;
	if (ready < srv.cfg.workers)
		return;
	HASH_ITER(hh, pool.workers, w, tmp)
		if (w->w_state == W_READY && w->w_generation != pool.generation &&
		    w->w_child != NULL)
			pool_retire(w, "reload");
}

/* ---- start and stop ------------------------------------------------------------- */

static int
pool_find_programs(void)
{
	static const char *const worker_rels[] = { "../worker/wspool-worker",
	    "wspool-worker", NULL };
	static const char *const demo_rels[] = { "../examples/.libs/demo.so",
	    "../lib/" PACKAGE "/demo.so", NULL };

	pool.worker_path = pool_find(srv.cfg.worker_path, worker_rels,
	    BINDIR "/wspool-worker");
	if (pool.worker_path == NULL) {
		log_error("cannot find wspool-worker (use --worker-path)");
		return -1;
	}
	pool.module_path = pool_find(srv.cfg.module_path, demo_rels,
	    PKGLIBDIR "/demo.so");
	if (pool.module_path == NULL) {
		log_error("cannot find module %s: %s", srv.cfg.module_path ?
		    srv.cfg.module_path : "(demo)", strerror(errno));
		return -1;
	}
	return 0;
}

int
pool_check(void)
{
	char *argv[4];
	pid_t pid;
	int status, rv = -1;

	if (pool_find_programs() != 0)
		goto out;
	argv[0] = pool.worker_path;
	argv[1] = (char *)"--check";
	argv[2] = pool.module_path;
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
		log_error("module %s failed its check", pool.module_path);
out:
	free(pool.worker_path);
	free(pool.module_path);
	pool.worker_path = pool.module_path = NULL;
	return rv;
}

int
pool_start(void)
{
	int fd, rv;

	TAILQ_INIT(&pool.flushq);
	TAILQ_INIT(&pool.children);
	metrics_gauge("wspool_workers_ready", "Workers ready for calls.",
	    pool_nready_gauge);
	if (pool_find_programs() != 0)
		return -1;
	log_info("module %s, worker program %s", pool.module_path, pool.worker_path);

	if (pipe2(pool.notify_fd, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	pool.notify_ev = event_new(srv.base, pool.notify_fd[0], EV_READ | EV_PERSIST,
	    pool_notify_cb, NULL);
	pool.sigchld_ev = evsignal_new(srv.base, SIGCHLD, pool_sigchld_cb, NULL);
	pool.flush_ev = event_new(srv.base, -1, 0, pool_flush_cb, NULL);
	pool.spawn_ev = evtimer_new(srv.base, pool_spawn_cb, NULL);
	if (pool.notify_ev == NULL || pool.sigchld_ev == NULL ||
	    pool.flush_ev == NULL || pool.spawn_ev == NULL)
		return -1;
	/* Lowest priority: runs after everything else this turn. */
	event_priority_set(pool.flush_ev, 2);
	event_add(pool.notify_ev, NULL);
	event_add(pool.sigchld_ev, NULL);

	if ((rv = nng_rep0_open(&pool.reg)) != 0)
		goto fail;
	pool.reg_open = true;
	nng_socket_set_size(pool.reg, NNG_OPT_RECVMAXSZ, 64 * 1024);
	snprintf(pool.reg_ipc, sizeof(pool.reg_ipc), "ipc://%s/registry", srv.rundir);
	if ((rv = nng_listen(pool.reg, pool.reg_ipc, NULL, 0)) != 0)
		goto fail;
	for (size_t i = 0; i < srv.cfg.nworker_listen; i++) {
		if ((rv = nng_listen(pool.reg, srv.cfg.worker_listen[i], NULL, 0)) != 0) {
			log_error("cannot listen for workers at %s: %s",
			    srv.cfg.worker_listen[i], nng_strerror(rv));
			return -1;
		}
		log_info("workers may join at %s", srv.cfg.worker_listen[i]);
	}
	if ((rv = nng_socket_get_int(pool.reg, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	pool.reg_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST, pool_registry_cb, NULL);
	if (pool.reg_ev == NULL)
		return -1;
	event_add(pool.reg_ev, NULL);
	pool_spawn_missing();
	return 0;
fail:
	log_error("worker registry: %s", nng_strerror(rv));
	return -1;
}

void
pool_stop(void)
{
	struct worker *w, *tmp;
	struct child *ch;
	struct wspool_reason why;
	uint64_t deadline;
	int status;
	pid_t pid;

	memset(&why, 0, sizeof(why));
	why.kind = WSPOOL_REASON_SHUTDOWN;
	why.status = -1;
	TAILQ_FOREACH(ch, &pool.children, ch_link)
		kill(ch->ch_pid, SIGTERM);
	/* Wait for the children with a deadline, then make sure. */
	deadline = clock_now_ms() + POOL_STOP_TIMEOUT_MS;
	while (!TAILQ_EMPTY(&pool.children)) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			TAILQ_FOREACH(ch, &pool.children, ch_link)
				if (ch->ch_pid == pid)
					break;
			if (ch != NULL) {
				if (ch->ch_worker)
					pool_worker_free(ch->ch_worker, &why);
				TAILQ_REMOVE(&pool.children, ch, ch_link);
				free(ch);
			}
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (clock_now_ms() > deadline) {
			TAILQ_FOREACH(ch, &pool.children, ch_link)
				kill(ch->ch_pid, SIGKILL);
			deadline = UINT64_MAX;
		}
		usleep(10 * 1000); /* polling waitpid: no event loop runs here */
	}
	while ((ch = TAILQ_FIRST(&pool.children)) != NULL) {
		TAILQ_REMOVE(&pool.children, ch, ch_link);
		free(ch);
	}
	HASH_ITER(hh, pool.workers, w, tmp) {
		w->w_child = NULL;
		pool_worker_free(w, &why);
	}
	if (pool.reg_open)
		nng_close(pool.reg);
	routes_fini();
	if (pool.reg_ev)
		event_free(pool.reg_ev);
	if (pool.notify_ev)
		event_free(pool.notify_ev);
	if (pool.sigchld_ev)
		event_free(pool.sigchld_ev);
	if (pool.flush_ev)
		event_free(pool.flush_ev);
	if (pool.spawn_ev)
		event_free(pool.spawn_ev);
	close(pool.notify_fd[0]);
	close(pool.notify_fd[1]);
	free(pool.worker_path);
	free(pool.module_path);
}
