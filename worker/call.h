/*
 * call.h: a call's lifecycle (call.c): received from the master, run on a
 * pool thread, answered, its cleanups run and acknowledged; and what the
 * handler API (api.c) asks of it. Its state: callstate.h.
 */
#ifndef WORKER_CALL_H
#define WORKER_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <wspool.h>

#include "proto/proto.h"
#include "worker/callstate.h"
#include "worker/threads.h"

/* ---- Receiver thread ------------------------------------------------- */

/*
 * Turn a PROTO_CALL into a job appended to jl. refuse is 0, or an error
 * code to answer at once (503 while draining). Returns 0, or -1 for a
 * protocol violation (a live call id again).
 */
int call_receive(const struct proto_msg *m, int refuse, struct job_list *jl);
/* CANCEL (reason bytes already validated, copied) and DEFER_ACK. */
void call_cancel(uint64_t call_id, const void *reason, size_t len);
void call_defer_ack(uint64_t call_id, uint64_t seq);
/* CREDIT: the subscription may send bytes more of chunks. */
void call_credit(uint64_t call_id, uint64_t bytes);

/* ---- Any thread ------------------------------------------------------ */

/* Cancel every call with reason, and stop every wait for the master. */
void call_cancel_all(const void *reason, size_t len);
/* The master's link is lost: cancel every call with reason, and run no
 * journaled cleanup from now on (the master hands them over). */
void call_master_lost(const void *reason, size_t len);
/* Free the recycled calls at exit. */
void call_fini(void);

/* ---- The call's own thread (api.c) ----------------------------------- */

/* The outbox refused an envelope: the master is gone, which cancels the
 * call (reason shutdown). */
void call_master_gone(struct wspool_call *c);
/* A chunk costing cost bytes of credit: wait while the call has none left
 * (flow control), or until it is cancelled (then WSPOOL_CANCELLED), and
 * take it: WSPOOL_OK. */
int call_take_credit(struct wspool_call *c, uint64_t cost);
/* Wait ms or until cancelled: WSPOOL_OK or WSPOOL_CANCELLED. */
int call_sleep(struct wspool_call *c, uint64_t ms);
/*
 * Register cleanup cl with arg (one packed value, copied): send DEFER and
 * wait for the master's acknowledgement, at most WSPOOL_DEFER_TIMEOUT_MS.
 * WSPOOL_OK: journaled. WSPOOL_ERROR: not registered, and it will not run
 * (a late registration is withdrawn from the master).
 */
int call_defer(struct wspool_call *c, const struct wspool_cleanup *cl,
    const void *arg, size_t len);

#endif /* WORKER_CALL_H */
