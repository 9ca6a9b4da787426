/*
 * link.h: the nng link to each worker, and the worker as the master sees
 * it. The link sends what the layers above give it, batched, and hands
 * every envelope it receives, by type, to the handler registered for that
 * type at start-up; it names none of its consumers.
 *
 * Design notes: the link.
 * - One pair1 socket per worker lets the master address one worker (a
 *   cancel, an orphaned cleanup, a drain) and tells it, through that
 *   socket's pipe events, the moment the worker goes away.
 * - nng runs its callbacks on its own threads: a pipe event only writes a
 *   token (the worker's w_gen) to a pipe that the loop reads. Sockets are
 *   closed on the loop thread, never from an nng callback (nng 1.5
 *   deadlocks).
 * - Receiving uses NNG_OPT_RECVFD (readable when a whole message waits).
 *   Each envelope goes to the handler of its type (link_handle); a type
 *   with no handler, an envelope that does not decode or a handler that
 *   refuses it means the peer speaks garbage: the link reads no more from
 *   it and reports it down, bad.
 * - Sending, adaptive batching: everything the loop has for one worker is
 *   packed into one nng message, offered at the end of the turn (an event
 *   of the lowest priority): nng costs per message, not per byte. The
 *   socket has no send buffer (NNG_OPT_SENDBUF 0), so a non-blocking send
 *   says NNG_EAGAIN exactly while the previous batch is still being
 *   written: the batch then stays here and keeps growing, and
 *   NNG_OPT_SENDFD (watched only while blocked) says when to offer it
 *   again. A lone call goes at once; under load batches grow exactly
 *   when nng is the bottleneck (spikes.md section 3). A batch is packed
 *   in a plain buffer of the link (growing by doubling, kept between
 *   batches) and copied into an nng message once, when it is offered:
 *   appending to an nng message field by field costs more than the copy,
 *   and nng 1.5 grows a message to the exact size asked, which copies a
 *   batch of n envelopes n times. It is closed at LINK_BATCH_MAX bytes, so that none exceeds
 *   what the worker accepts (NNG_OPT_RECVMAXSZ: more drops the pipe);
 *   closed batches wait in order, and a worker with one waiting is
 *   congested: it gets no new calls.
 * - Lifetime: link_close stops the socket and the worker stays (its calls
 *   are still its own until its death is known for sure: for a local
 *   worker, waitpid). link_gone is the death: the gone handler runs at the
 *   end of the loop turn, then the worker is freed, never inside one of
 *   its own callbacks (as conn.c does for connections).
 */
#ifndef MASTER_LINK_H
#define MASTER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <uthash.h>

#include <wspool.h>

#include "common/log.h"
#include "json/write.h"
#include "proto/proto.h"

struct child;
struct link_seen;

enum worker_state {
	W_JOINING = 0,  /* welcomed, waiting for READY */
	W_READY,
	W_DRAINING,     /* told to finish its calls and exit (reload, recycle) */
	W_GONE,         /* link closed; its death follows (link_gone) */
};

struct worker {
	uint64_t w_gen;                /* unique, never reused; the pipe-event token */
	enum worker_state w_state;
	pid_t w_pid;
	char w_host[256];
	unsigned w_generation;         /* reload generation (module version) */

	/* The link's own. */
	nng_socket w_sock;
	struct event *w_recv_ev;
	struct event *w_send_ev;
	struct json_buf w_out;         /* the batch being packed (empty: none) */
	struct proto_writer w_writer;  /* packs into w_out */
	nng_msg **w_full;              /* closed batches waiting, oldest first */
	unsigned *w_full_count;        /* their envelopes */
	size_t w_nfull;
	size_t w_full_cap;
	struct link_seen *w_conns;     /* connections it has had CONN_OPEN for */
	bool w_flush_queued;
	bool w_send_blocked;
	bool w_bad;                    /* spoke garbage: read no more */
	unsigned w_strikes;            /* messages refused (link_refuse) */
	uint64_t w_last_rx_ms;         /* heartbeats: when it last sent anything */
	uint64_t w_last_tx_ms;         /* ...and when we last did */
	nng_listener w_listener;
	struct log_rate w_lograte;     /* lines about what it sends */
	bool w_dead;                   /* link_gone: freed at the end of the turn */
	struct wspool_reason w_why;    /* why it is gone (strings copied below) */
	char w_why_signal[32];
	char w_why_message[128];
	UT_hash_handle hh;             /* live workers, by w_gen */
	TAILQ_ENTRY(worker) w_flush_link;
	TAILQ_ENTRY(worker) w_dead_link;

	/* Kept here for the layers above; the link never reads them. */
	struct child *w_child;         /* supervise.c: NULL when started by hand */
	struct event *w_timer;         /* supervise.c: join, drain or reap deadline */
	bool w_killed;                 /* supervise.c: this master sent SIGKILL */
	bool w_drain_expired;          /* supervise.c: draining past the grace */
	unsigned w_inflight;           /* sched.c: calls on this worker */
	uint64_t w_ncalls;             /* sched.c: calls it has taken */
	bool w_runner;                 /* supervise.c: the cleanup runner */
	uint64_t w_sent;               /* rpc.c: CALLs sent to it (numbers them) */
	/* What its death says (supervise.c, rpc.c's deadline), read by the
	 * gone event: the call that killed it (0: unknown), and how many of
	 * the CALLs sent to it had started (w_started_known: from its crash
	 * page; else any may have). */
	uint64_t w_culprit;
	uint64_t w_started;
	bool w_started_known;
};

/* ---- events, registered at start-up ------------------------------------------ */

/*
 * An envelope of type m->type from w. m borrows from the received batch:
 * valid during the call. Return 0, or -1 to refuse it (garbage): the rest
 * of the batch is dropped and w is reported down, bad. A handler may send
 * to any worker; w is not freed before the end of the loop turn.
 */
typedef int (*link_handler_fn)(struct worker *w, const struct proto_msg *m);
void link_handle(enum proto_type type, link_handler_fn fn);

/*
 * w's link is down: its pipe closed (bad false), or it spoke garbage or
 * its batch could not be packed (bad true). The link is still open: the
 * handler decides (close it and wait for the exit status, kill, declare it
 * gone). Called once per cause from the loop, never from an nng thread.
 */
typedef void (*link_down_fn)(struct worker *w, const char *why, bool bad);
void link_on_down(link_down_fn fn);

/*
 * w is gone for good, with why (after link_gone). Runs at the end of the
 * loop turn in which link_gone was called, once per worker; w is freed
 * right after it returns, so the handler releases what the layers above
 * keep on it.
 */
typedef void (*link_gone_fn)(struct worker *w, const struct wspool_reason *why);
void link_on_gone(link_gone_fn fn);

/*
 * w has sent nothing (not even a heartbeat) for --worker-timeout: a frozen
 * process, a cut link, a partition. The link is still open; the handler
 * declares it lost. Called from the loop, once per worker.
 */
typedef void (*link_silent_fn)(struct worker *w, uint64_t silent_ms);
void link_on_silent(link_silent_fn fn);

/* ---- workers ------------------------------------------------------------------- */

int link_init(void);
/* After the loop: every worker must have been reaped (link_reap). */
void link_fini(void);

/* The TLS configuration of tls+tcp:// links (a hold is taken; NULL
 * drops it). */
void link_tls(nng_tls_config *cfg);

/*
 * A worker said HELLO (pid, host) through an address of family via's:
 * open its pair1 socket, listening on a fresh address of the same
 * transport (an ipc path in the run directory, or tcp, or with tls
 * tls+tcp, on the address the worker reached, port chosen by the system),
 * written to addr for the WELCOME. The worker is W_JOINING. Returns NULL
 * (logged) on failure.
 */
struct worker *link_open(pid_t pid, const char *host, size_t host_len,
    const nng_sockaddr *via, bool tls, char *addr, size_t addrsz);
/* Workers that said HELLO and are not ready yet. */
unsigned link_joining(void);

/*
 * A message from w that is not w's to send (a reply, DEFER, CLEANUP_DONE
 * or LOG for a call or cleanup it was not given), refused by its handler:
 * logged (rate-limited per worker) and counted; past LINK_MAX_STRIKES the
 * link is reported down, bad. what and id say what was refused.
 */
#define LINK_MAX_STRIKES 8
void link_refuse(struct worker *w, const char *what, uint64_t id);
/* Undo link_open at once, before anyone else has seen w. */
void link_discard(struct worker *w);
/* Stop w's socket: nothing more is sent or received; w becomes W_GONE. */
void link_close(struct worker *w);
/* w is dead, with why (copied): closed now, gone event and free at the end
 * of the turn. Idempotent. */
void link_gone(struct worker *w, const struct wspool_reason *why);
/* Run the end-of-turn reaper now (shutdown, after the loop). */
void link_reap(void);

/* Live workers (not yet gone), in join order: pass NULL first, then the
 * last one returned. */
struct worker *link_next(struct worker *prev);

/* ---- sending: queued on w's batch, sent at the end of the turn ------------------ */

/* The connection a call comes from, sent once per worker (CONN_OPEN). */
struct link_conn {
	uint64_t lc_id;
	const char *lc_uuid;
	const char *lc_ip;
	const char *const *lc_names;    /* upgrade request headers, lower-case */
	const char *const *lc_values;
	size_t lc_nheaders;
};

/*
 * The send functions return 0, or -1 when w's link is closed or memory
 * ran out (then nothing was queued). Values are as proto.h has them.
 */
/* CALL, preceded by CONN_OPEN if w has not seen conn yet (conn NULL: none):
 * params the JSON text of the params array (empty: none), id the client's
 * id text (NULL: a notification). */
int link_send_call(struct worker *w, const struct link_conn *conn,
    uint64_t call_id, const char *route, size_t route_len, const void *params,
    size_t params_len, const char *id, size_t id_len, uint64_t flags);
int link_send_cancel(struct worker *w, uint64_t call_id,
    const struct wspool_reason *reason);
/* CONN_CLOSE to every worker that has seen the connection. */
void link_send_conn_close(uint64_t conn_id);
/* DEFER_ACK: seq, PROTO_ANSWER_ACK, or seq | PROTO_DONE_ACK. */
int link_send_ack(struct worker *w, uint64_t call_id, uint64_t seq);
int link_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len);
int link_send_drain(struct worker *w);

/* Whether a full batch waits here for nng (w's batches reached
 * LINK_BATCH_MAX while it was busy): w should get no new calls. */
bool link_congested(const struct worker *w);

#endif /* MASTER_LINK_H */
