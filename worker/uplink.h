/*
 * uplink.h: the worker's link up to its master: joining (HELLO on the
 * registry, WELCOME back), the pair1 socket, and the receiver thread that
 * hands each envelope to the handler registered for its type.
 *
 * The link names none of its consumers: main.c registers a table from
 * message type to handler, a callback after each nng message (a batch),
 * and one for the end of the link (tmux's proc.c hands its peers a
 * dispatch callback the same way).
 */
#ifndef WORKER_UPLINK_H
#define WORKER_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "proto/proto.h"

/* Receiver thread: one envelope. Non-zero: a protocol violation. */
typedef int (*uplink_handler_fn)(const struct proto_msg *m, void *arg);

enum uplink_end {
	UPLINK_LOST = 1,        /* the pipe is gone (or a receive failed) */
	UPLINK_GARBAGE,         /* the master sent something malformed */
};

struct uplink_ops {
	/* By enum proto_type; a NULL handler refuses the type. */
	const uplink_handler_fn *uo_handlers;
	size_t uo_nhandlers;
	/* Receiver thread, after each nng message's envelopes (also after a
	 * violation: what was taken before it still counts). */
	void (*uo_batch_cb)(void *arg);
	/* Once per end; LOST may come from one of nng's threads, where the
	 * socket must not be closed. */
	void (*uo_end_cb)(enum uplink_end why, void *arg);
	/* Receiver thread, at least every UPLINK_RECV_POLL_MS while the
	 * link is up: idle is how long a heartbeat may wait (a third of the
	 * master's timeout; 0: none). Must not block on the master. */
	void (*uo_tick_cb)(uint64_t idle_ms, void *arg);
	void *uo_arg;
};

/* The TLS configuration for tls+tcp:// addresses (kept, with a hold). */
void uplink_tls(nng_tls_config *cfg);

/*
 * Ask the master's registry at address for our own pair1 address
 * (*welcome, malloc'd) with HELLO (our host and module digest); the master
 * also gives its node name (*node, malloc'd: cleanup keys) and says how
 * long a silent link lasts (*timeout_ms, 0: forever). Blocks
 * up to 10 s for the master. Returns 0, or -1 (logged: no master, TLS
 * refused, or the master refused us and why).
 */
int uplink_join(const char *address, const char *host, const char *digest,
    char **welcome, char **node, uint64_t *timeout_ms);
/* Dial the pair1 address the master gave; ops (kept) hear what comes. A
 * master silent for timeout_ms (0: never) is lost. Returns 0, or -1
 * (logged). */
int uplink_connect(const char *address, uint64_t timeout_ms,
    const struct uplink_ops *ops);
/* The socket's id, for the outbox. */
uint32_t uplink_socket_id(void);
/* Start the receiver thread. Returns 0 or an errno. */
int uplink_start(void);
/* Stop the receiver (it polls every 200 ms), then close the socket.
 * false: nng did not finish closing it within close_ms (then nng must not
 * be used, nor finalised, any more: leave). */
bool uplink_stop(uint64_t close_ms);

#endif /* WORKER_UPLINK_H */
