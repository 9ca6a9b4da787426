/*
 * link_send.h: the sending side of the link to each worker: what the
 * layers above send, packed into one batch per worker and loop turn, and
 * held while nng is busy. link.c opens and closes it with each worker.
 *
 * Design notes: adaptive batching.
 * - Everything the loop has for one worker is packed into one nng
 *   message, offered at the end of the turn (an event of the lowest
 *   priority): nng costs per message, not per byte. The socket has no send
 *   buffer (NNG_OPT_SENDBUF 0, link.c), so a non-blocking send says
 *   NNG_EAGAIN exactly while the previous batch is still being written:
 *   the batch then stays here and keeps growing, and NNG_OPT_SENDFD
 *   (watched only while blocked) says when to offer it again. A lone call
 *   goes at once; under load batches grow exactly when nng is the
 *   bottleneck (spikes.md section 3).
 * - A batch is packed in a plain buffer of the worker (growing by
 *   doubling, kept between batches) and copied into an nng message once,
 *   when it is offered: appending to an nng message field by field costs
 *   more than the copy, and nng 1.5 grows a message to the exact size
 *   asked, which copies a batch of n envelopes n times.
 * - A batch is closed at LINK_BATCH_MAX bytes, so that none exceeds what
 *   the worker accepts (NNG_OPT_RECVMAXSZ: more drops the pipe); closed
 *   batches wait in order, and a worker with one waiting is congested: it
 *   gets no new calls.
 * - A connection's context (CONN_OPEN) goes once to each worker that gets
 *   one of its calls; CONN_CLOSE goes to those that had it.
 */
#ifndef MASTER_LINK_SEND_H
#define MASTER_LINK_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wspool.h>

#include "master/worker.h"

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
/* CREDIT: the subscription call_id may send bytes more of chunks. */
int link_send_credit(struct worker *w, uint64_t call_id, uint64_t bytes);
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
bool link_send_congested(const struct worker *w);

/* ---- for link.c ----------------------------------------------------------------- */

/* w's batch could not be packed or sent (why): its link should go down,
 * bad. Called from the loop, at the end of a turn or on SENDFD. */
typedef void (*link_send_fail_fn)(struct worker *w, const char *why);

/* The end-of-turn flush event; fail hears of batches that cannot go.
 * Returns 0 or -1; link_send_fini undoes it, even half done. */
int link_send_init(link_send_fail_fn fail);
void link_send_fini(void);
/* w's socket is open: watch its SENDFD when blocked. Returns 0 or an nng
 * error (then nothing was kept). */
int link_send_open(struct worker *w);
/* w's socket is closing: drop its batches, its connections, its events.
 * Idempotent. */
void link_send_release(struct worker *w);
/* A HEARTBEAT for w, unless a batch is already being packed or waits
 * (it says as much). */
void link_send_heartbeat(struct worker *w);

#endif /* MASTER_LINK_SEND_H */
