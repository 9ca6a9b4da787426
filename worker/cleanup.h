/*
 * cleanup.h: running named cleanups: the ones the master hands over
 * (PROTO_CLEANUP) and the common runner that call.c uses for a call's own.
 */
#ifndef WORKER_CLEANUP_H
#define WORKER_CLEANUP_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <wspool.h>

#include "proto/proto.h"
#include "worker/threads.h"

/* Room for a key "<node>:<call_id>.<index>" (node at most
 * CLEANUP_NODE_MAX bytes, two 20-digit numbers). */
#define CLEANUP_NODE_MAX 64
#define CLEANUP_KEY_SIZE WSPOOL_CLEANUP_KEY_MAX

/* The master's node name (WELCOME), the first part of every key. Call
 * once, before any cleanup runs; longer names are cut. */
void cleanup_set_node(const char *node);

/*
 * Receiver thread: queue a hand-over (PROTO_CLEANUP, its arg and reason
 * already validated) on jl. Returns 0, or -1 for a malformed one (seq or
 * attempt 0): a protocol error.
 */
int cleanup_receive(const struct proto_msg *m, struct job_list *jl);

/* Unpack a reason given as packed bytes into r (strings point into zone).
 * Returns 0, or -1 (r then NONE). */
int cleanup_reason_unpack(const void *buf, size_t len, msgpack_zone *zone,
    struct wspool_reason *r);

/*
 * Fill ctx for the registration seq (1-based, the wire's) of call_id;
 * key is the caller's buffer of CLEANUP_KEY_SIZE bytes, which ctx->key
 * points into.
 */
void cleanup_ctx_init(struct wspool_cleanup_ctx *ctx, char *key,
    uint64_t call_id, uint64_t seq, uint32_t attempt, const char *route,
    const char *name, const struct wspool_reason *reason);

/*
 * Run one cleanup, isolated: its result (WSPOOL_OK or WSPOOL_ERROR), and
 * a message for CLEANUP_DONE ("" when ok). While it runs, wspool_log(NULL)
 * on this thread names its call (cleanup_current).
 */
int cleanup_run(const struct wspool_cleanup *cl,
    const struct wspool_cleanup_ctx *ctx, const msgpack_object *arg,
    const char **message);

/* The context of the cleanup this thread is running, or NULL. */
const struct wspool_cleanup_ctx *cleanup_current(void);

#endif /* WORKER_CLEANUP_H */
