/*
 * callstate.h: one call's state, shared by call.c (its lifecycle: receive,
 * run, answer, cleanups), execute.c (its params to its handler) and api.c
 * (the public wspool_* functions, which act on it from the handler's
 * thread).
 *
 * Ownership: fields under "handler" belong to the thread running the
 * call (the receiver fills them before queueing it, which orders the
 * writes); fields under "call_mu" are shared with the receiver thread and
 * touched only through call.c's functions. c_cancelled is atomic so that
 * wspool_cancelled() takes no lock.
 */
#ifndef WORKER_CALLSTATE_H
#define WORKER_CALLSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <wspool.h>

#include "json/parse.h"
#include "worker/client.h"
#include "worker/reply.h"
#include "worker/table.h"
#include "worker/threads.h"

/* One wspool_defer_begin/end registration. */
struct call_defer {
	const struct wspool_cleanup *cd_cleanup;
	char *cd_arg;               /* one packed msgpack value */
	size_t cd_len;
	bool cd_withdrawn;          /* not acknowledged: will not run */
	bool cd_nacked;             /* refused by the master (DEFER_NACK) */
};

struct wspool_call {
	struct job c_job;               /* first: the pool runs it */
	struct table_node c_node;       /* key: call_id */
	bool c_in_table;
	struct wspool_call *c_free_next;

	/* handler */
	uint64_t c_seq;                 /* its number among CALLs (crash.h) */
	const struct wspool_route *c_route; /* NULL: unknown route */
	struct client *c_client;        /* a reference */
	uint64_t c_flags;
	int c_refuse;                   /* answer this code at once */
	char *c_params;                 /* the params' JSON text, copied, then
	                                   the client's id text */
	size_t c_params_len;
	size_t c_params_cap;
	size_t c_id_len;                /* the id text after the params (0: a
	                                   notification) */
	bool c_has_params;
	msgpack_zone c_zone;            /* the params' tree, args, reasons */
	struct json_parse c_jparse;     /* scratch for reading the params */
	struct reply c_reply;           /* the result or the failure */
	msgpack_sbuffer c_chunk;
	msgpack_packer c_chunk_pk;
	msgpack_sbuffer c_darg;         /* a cleanup argument being packed */
	msgpack_packer c_darg_pk;
	const struct wspool_cleanup *c_dentry; /* between defer begin and end */
	bool c_dopen;                   /* a defer is being packed */

	/* call_mu */
	atomic_bool c_cancelled;
	char *c_reason;                 /* packed cancel reason */
	size_t c_reason_len;
	pthread_cond_t c_cond;          /* sleep, acknowledgements */
	/* What the master has acknowledged: */
	uint64_t c_acked;               /* DEFERs up to this seq */
	uint64_t c_answer_acked;        /* 1: the terminal reply */
	uint64_t c_done_acked;          /* CLEANUP_DONEs up to this seq */
	int64_t c_credit;               /* bytes of chunks it may still send
	                                   (PROTO_CREDIT_WINDOW at start) */
	struct call_defer *c_defers;    /* seq n is c_defers[n - 1] */
	size_t c_ndefers;
	size_t c_defers_cap;
};

static inline uint64_t
call_get_id(const struct wspool_call *c)
{
	return c->c_node.tn_key;
}

static inline const char *
call_route_name(const struct wspool_call *c)
{
	return c->c_route != NULL ? c->c_route->name : "";
}

#endif /* WORKER_CALLSTATE_H */
