/*
 * outbox.h: everything the worker sends to the master goes through the
 * outbox, which batches envelopes into nng messages on one sender thread.
 */
#ifndef WORKER_OUTBOX_H
#define WORKER_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* The largest value (result, chunk, error data, cleanup argument) one
 * envelope may carry: a batch never outgrows PROTO_MAX_MSG. */
#define OUTBOX_VALUE_MAX (PROTO_MAX_MSG - 256u * 1024)

/* Start the sender thread on the socket with this id. Until then, and
 * once the master is gone, outbox_begin returns NULL. Returns 0 or an
 * errno. */
int outbox_start(uint32_t socket_id);
/*
 * Lock the outbox and return the writer of the batch being filled: put one
 * envelope with a proto_put_* function, then call outbox_end() with what
 * the put returned. size is about how many bytes the envelope's value
 * takes (a large one starts a new nng message). Blocks while more than
 * 32 MiB wait for the master (backpressure). Returns NULL, with nothing
 * locked, when the outbox is not started or the master is gone: the
 * envelope is dropped.
 */
struct proto_writer *outbox_begin(size_t size);
/* Unlock. rv non-zero (or a failed write) drops the envelope cleanly.
 * Returns 0 when the envelope is queued, -1 when it was dropped. */
int outbox_end(int rv);
/*
 * The same for a call's terminal reply: when no send is under way, this
 * thread sends what is queued itself (blocking in nng_sendmsg), which
 * saves a lone call the wake-up of the sender thread. Chunks must not use
 * it (outbox.c says why).
 */
int outbox_end_now(int rv);
/* Wait until everything queued has been handed to nng, at most ms
 * milliseconds (< 0: no limit). Returns true when it was. */
bool outbox_flush(int64_t ms);
/* Receiver thread: queue a HEARTBEAT if nothing was sent for idle_ms and
 * nothing waits to be sent. Never blocks on the master. */
void outbox_heartbeat(uint64_t idle_ms);
/* The master is gone: drop what is pending and whatever comes. Any
 * thread, also nng's. */
void outbox_kill(void);
/* Stop the sender thread (after the socket is closed), free what is left. */
void outbox_stop(void);

#endif /* WORKER_OUTBOX_H */
