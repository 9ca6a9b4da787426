/*
 * cleanup.c: running named cleanups: the ones the master hands over
 * (PROTO_CLEANUP, orphaned by a dead worker) and the common runner that
 * call.c also uses for a call's own cleanups.
 *
 * Design notes (cleanup journal, worker side): the master journals every
 * registration (wspool_defer_end) before acknowledging it and forgets it
 * on CLEANUP_DONE. Whoever runs a cleanup reports it, ok or not; a
 * cleanup that crashes its worker is never reported, so the master hands
 * it on (bounded), with the attempt number raised. A registration is
 * named by its call id and seq on both sides, which the cleanup sees as
 * its context's call_id, index (seq - 1) and key.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/cleanup.h"
#include "worker/module.h"
#include "worker/outbox.h"

struct cleanup_job {
	struct job cj_job;          /* first: the pool runs it */
	uint64_t cj_id;             /* the master's cleanup_id, for DONE */
	uint64_t cj_call_id;        /* with cj_seq: the registration */
	uint64_t cj_seq;
	uint32_t cj_attempt;
	const char *cj_name;        /* NUL-terminated, in cj_bytes */
	const char *cj_route;
	const char *cj_arg;         /* packed value, or NULL for nil */
	size_t cj_arg_len;
	const char *cj_reason;      /* packed reason */
	size_t cj_reason_len;
	char cj_bytes[];
};

/* The master's node name: set before any cleanup runs, then read-only. */
static char cleanup_node[CLEANUP_NODE_MAX + 1] = "local";

/* The cleanup this thread runs, for wspool_log(NULL, ...). */
static __thread const struct wspool_cleanup_ctx *cleanup_running;

int
cleanup_reason_unpack(const void *buf, size_t len, msgpack_zone *zone,
    struct wspool_reason *r)
{
	struct proto_bytes b = { buf, len };
	msgpack_object o;
	char *strings;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	/* The packed size bounds the strings' size (see proto.h). */
	if (proto_unpack_value(&b, zone, &o) != 0 ||
	    (strings = msgpack_zone_malloc(zone, len)) == NULL)
		return -1;
	return proto_unpack_reason(&o, r, strings, len);
}

void
cleanup_set_node(const char *node)
{
	snprintf(cleanup_node, sizeof(cleanup_node), "%s", node);
}

void
cleanup_ctx_init(struct wspool_cleanup_ctx *ctx, char *key, uint64_t call_id,
    uint64_t seq, uint32_t attempt, const char *route, const char *name,
    const struct wspool_reason *reason)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->call_id = call_id;
	ctx->index = seq - 1;
	/* Unique across the master's restarts (call ids carry its
	 * incarnation) and across masters (their node names differ). */
	snprintf(key, CLEANUP_KEY_SIZE, "%s:%" PRIu64 ".%" PRIu64,
	    cleanup_node, call_id, seq - 1);
	ctx->key = key;
	ctx->route = route;
	ctx->name = name;
	ctx->attempt = attempt;
	ctx->reason = reason;
}

int
cleanup_run(const struct wspool_cleanup *cl,
    const struct wspool_cleanup_ctx *ctx, const msgpack_object *arg,
    const char **message)
{
	int rv;

	cleanup_running = ctx;
	if (cl->run != NULL)
		rv = cl->run(ctx, arg);
	else
		rv = cl->fn(ctx->reason, arg);
	cleanup_running = NULL;
	*message = rv == WSPOOL_OK ? "" : "cleanup failed";
	return rv == WSPOOL_OK ? WSPOOL_OK : WSPOOL_ERROR;
}

const struct wspool_cleanup_ctx *
cleanup_current(void)
{
	return cleanup_running;
}

static void
cleanup_job_cb(struct job *j)
{
	struct cleanup_job *cj = (struct cleanup_job *)j;
	const struct wspool_cleanup *cl;
	const char *message = "";
	struct wspool_cleanup_ctx ctx;
	struct wspool_reason reason;
	struct proto_writer *w;
	msgpack_object arg = { .type = MSGPACK_OBJECT_NIL };
	char key[CLEANUP_KEY_SIZE];
	msgpack_zone zone;
	bool zone_ok;
	int ok = 0;

	if (!(zone_ok = msgpack_zone_init(&zone, 1024))) {
		message = "out of memory";
		goto out;
	}
	if ((cl = module_cleanup(cj->cj_name, strlen(cj->cj_name))) == NULL) {
		message = "unknown cleanup";
		goto out;
	}
	if (cj->cj_arg != NULL) {
		struct proto_bytes b = { cj->cj_arg, cj->cj_arg_len };

		if (proto_unpack_value(&b, &zone, &arg) != 0) {
			message = "cleanup argument unreadable";
			goto out;
		}
	}
	if (cleanup_reason_unpack(cj->cj_reason, cj->cj_reason_len, &zone,
	    &reason) != 0) {
		message = "cleanup reason unreadable";
		goto out;
	}
	cleanup_ctx_init(&ctx, key, cj->cj_call_id, cj->cj_seq,
	    cj->cj_attempt, cj->cj_route, cl->name, &reason);
	ok = cleanup_run(cl, &ctx, &arg, &message) == WSPOOL_OK;
out:
	if (!ok)
		log_error("cleanup %s of call %" PRIu64 " (route %s, "
		    "attempt %" PRIu32 ") failed: %s", cj->cj_name,
		    cj->cj_call_id, cj->cj_route, cj->cj_attempt, message);
	if ((w = outbox_begin(0)) != NULL)
		outbox_end(proto_put_cleanup_done(w, cj->cj_id, 0, ok,
		    message));
	if (zone_ok)
		msgpack_zone_destroy(&zone);
	free(cj);
}

/* Copy len bytes to p (a NULL src is fine when len is 0), return p + len. */
static char *
cleanup_copy(char *p, const void *src, size_t len)
{
	if (len > 0)
		memcpy(p, src, len);
	return p + len;
}

int
cleanup_receive(const struct proto_msg *m, struct job_list *jl)
{
	size_t arg_len = m->has_value ? m->value.len : 0;
	struct cleanup_job *cj;
	char *p;

	/* A registration is seq 1, 2... and runs are counted from 1. */
	if (m->seq == 0 || m->num < 1 || m->num > UINT32_MAX) {
		log_error("protocol error: cleanup %" PRIu64 " has seq %" PRIu64
		    " and attempt %" PRId64, m->id, m->seq, m->num);
		return -1;
	}
	cj = malloc(sizeof(*cj) + m->str2.len + 1 + m->str.len + 1 + arg_len +
	    m->value2.len + 1);
	if (cj == NULL) {
		/* Not reported: the master hands it to a worker again. */
		log_error("out of memory: cleanup %" PRIu64 " dropped", m->id);
		return 0;
	}
	cj->cj_job.j_fn = cleanup_job_cb;
	cj->cj_id = m->id;
	cj->cj_call_id = m->call_id;
	cj->cj_seq = m->seq;
	cj->cj_attempt = (uint32_t)m->num;
	p = cj->cj_bytes;
	cj->cj_name = p;
	p = cleanup_copy(p, m->str2.ptr, m->str2.len);
	*p++ = '\0';
	cj->cj_route = p;
	p = cleanup_copy(p, m->str.ptr, m->str.len);
	*p++ = '\0';
	cj->cj_arg = m->has_value ? p : NULL;
	cj->cj_arg_len = arg_len;
	p = cleanup_copy(p, m->value.ptr, arg_len);
	/* An absent reason is a normal end (nil). */
	cj->cj_reason = p;
	if (m->value2.len == 0) {
		*p = (char)0xc0;
		cj->cj_reason_len = 1;
	} else {
		cleanup_copy(p, m->value2.ptr, m->value2.len);
		cj->cj_reason_len = m->value2.len;
	}
	threads_list_add(jl, &cj->cj_job);
	return 0;
}
