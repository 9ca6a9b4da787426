/*
 * link.h: the nng link to each worker (the worker as the master sees it:
 * worker.h). The link sends what the layers above give it, batched
 * (link_send.h), and hands every envelope it receives, by type, to the
 * handler registered for that type at start-up; it names none of its
 * consumers.
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
 * - Sending (link_send.h): everything for one worker in a loop turn goes
 *   in one batch, offered at the end of the turn and held while nng is
 *   busy; a worker whose batches pile up is congested.
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
#include <sys/types.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include <wspool.h>

#include "master/worker.h"
#include "proto/proto.h"

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
/* Stop w's link: nothing more is sent or read; w becomes W_GONE. Its
 * socket is closed when w is freed (after the gone handler). */
void link_close(struct worker *w);
/* w is dead, with why (copied): closed now, gone event and free at the end
 * of the turn. Idempotent. */
void link_gone(struct worker *w, const struct wspool_reason *why);
/* Run the end-of-turn reaper now (shutdown, after the loop). */
void link_reap(void);

/* Live workers (not yet gone), in join order: pass NULL first, then the
 * last one returned. */
struct worker *link_next(struct worker *prev);

#endif /* MASTER_LINK_H */
