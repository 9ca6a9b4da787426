/*
 * pool.h: the workers as the master sees them. Starts and supervises
 * local workers, accepts hand-started ones through the registry socket,
 * holds one nng pair1 socket per worker, batches what goes to each worker
 * into one nng message per loop turn, and turns worker loss into a reason.
 */
#ifndef MASTER_POOL_H
#define MASTER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <uthash.h>

#include "master/rpc.h"

struct conn;
struct call;
struct wspool_reason;

struct worker; /* private to pool.c */

int pool_start(void);
/* --check: find the worker program and the module, and have the worker
 * load and check the module (wspool-worker --check). Returns 0 or -1. */
int pool_check(void);
/* Stop every worker (SIGTERM, then SIGKILL after a deadline) and free. */
void pool_stop(void);

/* The ready worker with the fewest calls in flight, or NULL (503). */
struct worker *pool_pick(void);
unsigned pool_nready(void);

/*
 * Queue a call on w (CONN_OPEN first if w has not seen the connection).
 * params: the packed params array. The call joins w's list of calls.
 * Returns 0 or -1 (w cannot take it).
 */
int pool_send_call(struct worker *w, struct call *call, struct conn *c,
    const char *params, size_t params_len);
/* The call ended (terminal reply or abandoned): drop it from its worker. */
void pool_call_done(struct worker *w, struct call *call);
/* Acknowledge a call's terminal reply: its cleanups may run now. */
int pool_send_answer_ack(struct worker *w, uint64_t call_id);
int pool_send_cancel(struct worker *w, uint64_t call_id,
    const struct wspool_reason *reason);
/* The connection closed: tell the workers that know it. */
void pool_conn_closed(struct conn *c);
/* SIGHUP: a new generation of workers loads the module afresh. */
void pool_reload(void);
/* Drain w: no new calls; it finishes its calls and exits; replaced. */
void pool_retire(struct worker *w, const char *why);
/* Kill a worker (hung call past its deadline); its death follows as usual. */
void pool_kill(struct worker *w, const char *why);
pid_t pool_worker_pid(const struct worker *w);

/* Ready workers one after the other: pass NULL first, then the last one. */
struct worker *pool_ready_next(struct worker *prev);
/* Hand a cleanup over to w (PROTO_CLEANUP). Values are packed msgpack. */
int pool_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len);

#endif /* MASTER_POOL_H */
