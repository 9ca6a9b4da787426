/*
 * call.c: one call from CALL to its terminal envelope and its cleanups:
 * receive, run, answer (reply.c builds the envelope), run the cleanups;
 * and what the handler API needs done under call_mu (sleep, registering
 * a cleanup and waiting for the master's acknowledgements).
 *
 * Design notes (call lifecycle):
 * - The receiver thread creates the call (params copied out of the nng
 *   message), puts it in call_table and queues it on the pool.
 * - A pool thread runs it: route, schema, middlewares, handler, all on
 *   that one thread, so the answer buffers need no lock (call.h says
 *   which fields are whose).
 * - Exactly one terminal envelope per CALL, always (RESULT, END or
 *   ERROR), even when cancelled: the master frees its side on it.
 * - A registration (DEFER, seq 1, 2...) counts once the master has
 *   acknowledged it; one that is not acknowledged in time is withdrawn
 *   (a CLEANUP_DONE the master takes as its end) and never runs here.
 * - Then the call's registered cleanups run, in registration order, each
 *   reported with CLEANUP_DONE: first once the master has the answer, each
 *   next once it has the previous one's CLEANUP_DONE, so that a cleanup
 *   that crashes the worker costs neither the answer nor a second run of
 *   the ones before it. The end reason is fixed when the terminal
 *   envelope is chosen: a CANCEL arriving later does not change it.
 * - call_mu guards call_table, the free list, and every call's cancel,
 *   acknowledgement and registration state; each call has its own condvar
 *   to wait on. Lock order: the outbox's lock is never held while taking
 *   call_mu.
 * Calls are recycled with their buffers (params, reply, chunk, cleanup
 * argument, zone), so the steady state allocates nothing per call.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "worker/call.h"
#include "worker/cleanup.h"
#include "worker/crash.h"
#include "worker/execute.h"
#include "worker/module.h"
#include "worker/outbox.h"
#include "worker/reply.h"
#include "worker/schema.h"

/* Keep this many finished calls for reuse: as many as the master sends
 * a worker at once by default (--worker-max-inflight), so that a burst of
 * calls finds them ready, buffers and all (a fresh call costs its
 * allocations and their first growth). */
#define CALL_FREE_MAX 1024
/* Buffers grown past this are freed rather than kept for the next call. */
#define CALL_KEEP_MAX (256u * 1024)
/* How long the answer and each CLEANUP_DONE may wait for the master. */
#define CALL_ACK_TIMEOUT_MS WSPOOL_DEFER_TIMEOUT_MS

static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER;
static struct table call_table;
static struct wspool_call *call_free;
static size_t call_nfree;
static bool call_lost;          /* the master is gone: stop waiting for it */
static bool call_handed;        /* ...and it runs the journaled cleanups */

/* The reason {"kind": "shutdown"}, packed. */
static const char call_shutdown[] = "\x81\xa4kind\xa8shutdown";

static struct wspool_call *
call_of(struct table_node *n)
{
	return (struct wspool_call *)(void *)((char *)n -
	    offsetof(struct wspool_call, c_node));
}

static void
call_buffer_init(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
}

static struct wspool_call *
call_new(void)
{
	struct wspool_call *c;
	pthread_condattr_t attr;
	int rv;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&c->c_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0)
		goto fail;
	if (!msgpack_zone_init(&c->c_zone, 2048)) {
		pthread_cond_destroy(&c->c_cond);
		goto fail;
	}
	reply_init(&c->c_reply);
	json_parse_init(&c->c_jparse);
	call_buffer_init(&c->c_chunk, &c->c_chunk_pk);
	call_buffer_init(&c->c_darg, &c->c_darg_pk);
	return c;
fail:
	free(c);
	return NULL;
}

static void
call_destroy(struct wspool_call *c)
{
	msgpack_zone_destroy(&c->c_zone);
	reply_destroy(&c->c_reply);
	json_parse_free(&c->c_jparse);
	msgpack_sbuffer_destroy(&c->c_chunk);
	msgpack_sbuffer_destroy(&c->c_darg);
	pthread_cond_destroy(&c->c_cond);
	free(c->c_params);
	free(c->c_defers);
	free(c);
}

static void
call_sbuffer_reset(msgpack_sbuffer *b)
{
	if (b->alloc > CALL_KEEP_MAX) {
		msgpack_sbuffer_destroy(b);
		msgpack_sbuffer_init(b);
	}
	b->size = 0;
}

/* Forget everything of the last call but the buffers. The call is out of
 * call_table: nobody else sees it. */
static void
call_reset(struct wspool_call *c)
{
	for (size_t i = 0; i < c->c_ndefers; i++)
		free(c->c_defers[i].cd_arg);
	c->c_ndefers = 0;
	free(c->c_reason);
	c->c_reason = NULL;
	c->c_reason_len = 0;
	atomic_store(&c->c_cancelled, false);
	c->c_acked = 0;
	c->c_answer_acked = 0;
	c->c_done_acked = 0;
	c->c_dentry = NULL;
	c->c_dopen = false;
	c->c_refuse = 0;
	c->c_route = NULL;
	c->c_client = NULL;
	c->c_has_params = false;
	c->c_params_len = 0;
	c->c_id_len = 0;
	if (c->c_params_cap > CALL_KEEP_MAX) {
		free(c->c_params);
		c->c_params = NULL;
		c->c_params_cap = 0;
	}
	json_parse_trim(&c->c_jparse, CALL_KEEP_MAX);
	msgpack_zone_clear(&c->c_zone);
	reply_reset(&c->c_reply, CALL_KEEP_MAX);
	call_sbuffer_reset(&c->c_chunk);
	call_sbuffer_reset(&c->c_darg);
}

static void call_run_cb(struct job *j);

int
call_receive(const struct proto_msg *m, int refuse, struct job_list *jl)
{
	struct wspool_call *c;
	uint64_t seq = crash_next_seq();

	pthread_mutex_lock(&call_mu);
	if (table_get(&call_table, m->id) != NULL) {
		pthread_mutex_unlock(&call_mu);
		log_error("protocol error: call %" PRIu64 " is already running",
		    m->id);
		return -1;
	}
	if ((c = call_free) != NULL) {
		call_free = c->c_free_next;
		call_nfree--;
	}
	pthread_mutex_unlock(&call_mu);
	if (c == NULL && (c = call_new()) == NULL) {
		/* Nothing can answer it: the master's deadline will. */
		log_error("out of memory: call %" PRIu64 " dropped", m->id);
		crash_skip(seq);
		return 0;
	}
	c->c_job.j_fn = call_run_cb;
	c->c_credit = PROTO_CREDIT_WINDOW; /* before it is in call_table */
	c->c_seq = seq;
	c->c_node.tn_key = m->id;
	c->c_flags = m->flags;
	c->c_refuse = refuse;
	c->c_route = module_route(m->str.ptr, m->str.len);
	/* The params' text and the id's, one after the other. */
	if (m->value.len + m->str2.len > c->c_params_cap) {
		size_t cap = m->value.len + m->str2.len;
		char *p = realloc(c->c_params, cap);

		if (p == NULL) {
			c->c_refuse = 500;
			goto queue;
		}
		c->c_params = p;
		c->c_params_cap = cap;
	}
	if (m->value.len > 0)
		memcpy(c->c_params, m->value.ptr, m->value.len);
	if (m->str2.len > 0)
		memcpy(c->c_params + m->value.len, m->str2.ptr, m->str2.len);
	c->c_params_len = m->value.len;
	c->c_id_len = m->str2.len;
	c->c_has_params = m->value.len > 0;
queue:
	c->c_client = client_get(m->conn_id);
	pthread_mutex_lock(&call_mu);
	c->c_in_table = table_put(&call_table, &c->c_node) == 0;
	pthread_mutex_unlock(&call_mu);
	/* Out of the table, nothing could cancel it or credit it: a
	 * subscription could wait in its yield for good. Answer 500 instead
	 * of running it. */
	if (!c->c_in_table) {
		log_error("out of memory: call %" PRIu64 " refused (it could not "
		    "be cancelled)", m->id);
		if (c->c_refuse == 0)
			c->c_refuse = 500;
	}
	threads_list_add(jl, &c->c_job);
	return 0;
}

/* With call_mu held. */
static void
call_cancel_locked(struct wspool_call *c, const void *reason, size_t len)
{
	if (atomic_load(&c->c_cancelled))
		return;
	if (len > 0 && (c->c_reason = malloc(len)) != NULL) {
		memcpy(c->c_reason, reason, len);
		c->c_reason_len = len;
	}
	atomic_store(&c->c_cancelled, true);
	pthread_cond_broadcast(&c->c_cond);
}

void
call_cancel(uint64_t call_id, const void *reason, size_t len)
{
	struct table_node *n;

	pthread_mutex_lock(&call_mu);
	if ((n = table_get(&call_table, call_id)) != NULL)
		call_cancel_locked(call_of(n), reason, len);
	pthread_mutex_unlock(&call_mu);
}

void
call_defer_ack(uint64_t call_id, uint64_t seq)
{
	struct wspool_call *c;
	struct table_node *n;
	uint64_t s = seq & ~PROTO_DONE_ACK;

	pthread_mutex_lock(&call_mu);
	if ((n = table_get(&call_table, call_id)) == NULL)
		goto out;
	c = call_of(n);
	if (seq == PROTO_ANSWER_ACK) {
		c->c_answer_acked = 1;
	} else if (seq & PROTO_DEFER_NACK) {
		/* Refused: never journaled. The wait ends, unacknowledged. */
		s = seq & ~PROTO_DEFER_NACK;
		if (s == 0 || s > c->c_ndefers)
			goto out;
		c->c_defers[s - 1].cd_nacked = true;
	} else if (seq & PROTO_DONE_ACK) {
		/* A withdrawal's acknowledgement says nothing of the
		 * cleanups that run. */
		if (s == 0 || s > c->c_ndefers ||
		    c->c_defers[s - 1].cd_withdrawn)
			goto out;
		if (s > c->c_done_acked)
			c->c_done_acked = s;
	} else if (seq > c->c_acked && seq <= c->c_ndefers) {
		c->c_acked = seq;
	} else {
		goto out;
	}
	pthread_cond_broadcast(&c->c_cond);
out:
	pthread_mutex_unlock(&call_mu);
}

void
call_credit(uint64_t call_id, uint64_t bytes)
{
	struct table_node *n;
	struct wspool_call *c;

	pthread_mutex_lock(&call_mu);
	if ((n = table_get(&call_table, call_id)) != NULL) {
		c = call_of(n);
		/* A master is trusted, but not to overflow us. */
		c->c_credit = bytes > (uint64_t)(INT64_MAX / 2) - (uint64_t)
		    (c->c_credit > 0 ? c->c_credit : 0) ? INT64_MAX / 2 :
		    c->c_credit + (int64_t)bytes;
		if (c->c_credit > 0)
			pthread_cond_broadcast(&c->c_cond);
	}
	pthread_mutex_unlock(&call_mu);
}

static void
call_cancel_all_cb(struct table_node *n, void *arg)
{
	const struct proto_bytes *reason = arg;
	struct wspool_call *c = call_of(n);

	call_cancel_locked(c, reason->ptr, reason->len);
	/* Also wake a wait for an acknowledgement: call_lost ends it. */
	pthread_cond_broadcast(&c->c_cond);
}

void
call_cancel_all(const void *reason, size_t len)
{
	struct proto_bytes b = { reason, len };

	pthread_mutex_lock(&call_mu);
	call_lost = true;
	table_foreach(&call_table, call_cancel_all_cb, &b);
	pthread_mutex_unlock(&call_mu);
}

void
call_master_lost(const void *reason, size_t len)
{
	pthread_mutex_lock(&call_mu);
	call_handed = true;
	pthread_mutex_unlock(&call_mu);
	call_cancel_all(reason, len);
}

/* Whether the master took the journaled cleanups back (lost link). */
static bool
call_cleanups_handed(void)
{
	bool handed;

	pthread_mutex_lock(&call_mu);
	handed = call_handed;
	pthread_mutex_unlock(&call_mu);
	return handed;
}

void
call_fini(void)
{
	struct wspool_call *c;

	pthread_mutex_lock(&call_mu);
	while ((c = call_free) != NULL) {
		call_free = c->c_free_next;
		call_destroy(c);
	}
	call_nfree = 0;
	table_fini(&call_table);
	pthread_mutex_unlock(&call_mu);
}

/* ---- Waiting for the master ------------------------------------------ */

/*
 * Wait until *acked (one of the call's acknowledgement marks, under
 * call_mu) reaches seq, at most CALL_ACK_TIMEOUT_MS or until the master
 * is lost. Returns true when it did.
 */
static bool
call_wait_ack(struct wspool_call *c, const uint64_t *acked, uint64_t seq)
{
	struct timespec ts = clock_deadline(CALL_ACK_TIMEOUT_MS);
	bool ok;
	int rv = 0;

	pthread_mutex_lock(&call_mu);
	while (!(ok = *acked >= seq) && !call_lost && rv != ETIMEDOUT &&
	    !(acked == &c->c_acked && c->c_defers[seq - 1].cd_nacked))
		rv = pthread_cond_timedwait(&c->c_cond, &call_mu, &ts);
	pthread_mutex_unlock(&call_mu);
	return ok;
}

/* ---- Running a call -------------------------------------------------- */

/* The reason the call's cleanups get, fixed with the answer. */
static void
call_end_reason(struct wspool_call *c, enum reply_end end, bool cancelled,
    struct wspool_reason *reason)
{
	memset(reason, 0, sizeof(*reason));
	reason->status = -1;
	if (cancelled) {
		/* An unreadable reason is a NONE one: say cancelled. */
		if (c->c_reason == NULL || cleanup_reason_unpack(c->c_reason,
		    c->c_reason_len, &c->c_zone, reason) != 0)
			reason->kind = WSPOOL_REASON_CANCELLED;
	} else if (end == REPLY_FAILED) {
		reason->kind = WSPOOL_REASON_ERROR;
		reason->code = c->c_reply.r_code;
		reason->message = reply_message(&c->c_reply);
	}
}

/* Run the registered cleanups in order, each isolated, each reported. */
static void
call_run_cleanups(struct wspool_call *c, enum reply_end end, bool cancelled)
{
	struct wspool_reason reason;
	uint64_t id = call_get_id(c), prev = 0;

	call_end_reason(c, end, cancelled, &reason);
	for (size_t i = 0; i < c->c_ndefers; i++) {
		const struct call_defer *d = &c->c_defers[i];
		struct proto_bytes b = { d->cd_arg, d->cd_len };
		struct wspool_cleanup_ctx ctx;
		char key[CLEANUP_KEY_SIZE];
		const char *message = "";
		struct proto_writer *w;
		msgpack_object arg;
		int ok;

		if (d->cd_withdrawn)
			continue;
		/* The one before has been reported: run this one once the
		 * master has that report (or gave up waiting). */
		if (prev > 0)
			call_wait_ack(c, &c->c_done_acked, prev);
		/* The link is lost: the master hands what is left to another
		 * worker (reason lost); running it here too would run it
		 * twice. */
		if (call_cleanups_handed())
			break;
		cleanup_ctx_init(&ctx, key, id, i + 1, 1, call_route_name(c),
		    d->cd_cleanup->name, &reason);
		if (proto_unpack_value(&b, &c->c_zone, &arg) != 0) {
			ok = 0;
			message = "cleanup argument unreadable";
		} else {
			ok = cleanup_run(d->cd_cleanup, &ctx, &arg,
			    &message) == WSPOOL_OK;
		}
		if (!ok)
			log_error("call %" PRIu64 ": cleanup %s failed: %s", id,
			    d->cd_cleanup->name, message);
		if ((w = outbox_begin(0)) != NULL)
			outbox_end(proto_put_cleanup_done(w, id, i + 1, ok,
			    message));
		prev = i + 1;
	}
}

static void
call_release(struct wspool_call *c)
{
	/* Out of the table first: the receiver reads a call's registrations
	 * (call_defer_ack) only while it is there. */
	pthread_mutex_lock(&call_mu);
	if (c->c_in_table)
		table_del(&call_table, &c->c_node);
	c->c_in_table = false;
	pthread_mutex_unlock(&call_mu);
	client_unref(c->c_client);
	call_reset(c);
	pthread_mutex_lock(&call_mu);
	if (call_nfree < CALL_FREE_MAX) {
		c->c_free_next = call_free;
		call_free = c;
		call_nfree++;
		c = NULL;
	}
	pthread_mutex_unlock(&call_mu);
	if (c != NULL)
		call_destroy(c);
}

/* Whether the call was cancelled with reason timeout (its deadline). */
static bool
call_timed_out(struct wspool_call *c)
{
	struct wspool_reason reason;
	bool timeout = false;

	if (!atomic_load(&c->c_cancelled))
		return false;
	pthread_mutex_lock(&call_mu);
	if (c->c_reason != NULL && cleanup_reason_unpack(c->c_reason,
	    c->c_reason_len, &c->c_zone, &reason) == 0)
		timeout = reason.kind == WSPOOL_REASON_TIMEOUT;
	pthread_mutex_unlock(&call_mu);
	return timeout;
}

static void
call_run_cb(struct job *j)
{
	struct wspool_call *c = (struct wspool_call *)(void *)j;
	enum reply_end end;
	bool cancelled, cleanups = false;
	int rv;

	/*
	 * Cancelled for its deadline while it waited for a thread: the
	 * client has had its 504, and the master, seeing on the crash page
	 * that it never started, relies on it not running (a handler that
	 * hung now would have no deadline left). Not marked started. Other
	 * cancels (a closed connection) still let it run, as always.
	 */
	if (call_timed_out(c)) {
		rv = WSPOOL_CANCELLED;
	} else {
		/* From here a crash of this thread names this call (crash.h). */
		crash_enter(call_get_id(c), c->c_seq);
		rv = execute_call(c);
	}
	/* The end and its reason are fixed here, with the answer. */
	pthread_mutex_lock(&call_mu);
	cancelled = atomic_load(&c->c_cancelled);
	for (size_t i = 0; i < c->c_ndefers; i++)
		cleanups = cleanups || !c->c_defers[i].cd_withdrawn;
	pthread_mutex_unlock(&call_mu);
	end = reply_classify(&c->c_reply, rv, cancelled, call_route_name(c));
	reply_send(&c->c_reply, call_get_id(c), c->c_route != NULL ?
	    c->c_route->pattern : WSPOOL_REQUEST, end);
	/*
	 * The answer goes out before the cleanups run: wait until the master
	 * has it (it acknowledges it for calls with cleanups). Otherwise a
	 * cleanup that crashes the worker could take the answer, still in a
	 * buffer, down with it, and the client would see a crash for a call
	 * that ended well.
	 */
	if (cleanups) {
		call_wait_ack(c, &c->c_answer_acked, 1);
		call_run_cleanups(c, end, cancelled);
	}
	crash_leave();
	call_release(c);
}

/* ---- For the handler API (api.c), on the call's thread --------------- */

void
call_master_gone(struct wspool_call *c)
{
	pthread_mutex_lock(&call_mu);
	call_cancel_locked(c, call_shutdown, sizeof(call_shutdown) - 1);
	pthread_mutex_unlock(&call_mu);
}

int
call_take_credit(struct wspool_call *c, uint64_t cost)
{
	int rv = WSPOOL_OK;

	pthread_mutex_lock(&call_mu);
	while (c->c_credit <= 0 && !atomic_load(&c->c_cancelled))
		pthread_cond_wait(&c->c_cond, &call_mu);
	if (atomic_load(&c->c_cancelled))
		rv = WSPOOL_CANCELLED;
	else
		c->c_credit -= (int64_t)(cost < PROTO_MAX_BATCH ? cost :
		    PROTO_MAX_BATCH);
	pthread_mutex_unlock(&call_mu);
	return rv;
}

int
call_sleep(struct wspool_call *c, uint64_t ms)
{
	struct timespec ts = clock_deadline(ms);
	int rv = 0;

	pthread_mutex_lock(&call_mu);
	while (!atomic_load(&c->c_cancelled) && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&c->c_cond, &call_mu, &ts);
	pthread_mutex_unlock(&call_mu);
	return atomic_load(&c->c_cancelled) ? WSPOOL_CANCELLED : WSPOOL_OK;
}

/* Mark registration seq withdrawn: it will not run here. */
static void
call_withdraw(struct wspool_call *c, uint64_t seq)
{
	pthread_mutex_lock(&call_mu);
	c->c_defers[seq - 1].cd_withdrawn = true;
	pthread_mutex_unlock(&call_mu);
}

int
call_defer(struct wspool_call *c, const struct wspool_cleanup *cl,
    const void *arg, size_t len)
{
	struct call_defer *d;
	struct proto_writer *w;
	const char *why = "out of memory";
	bool stopping, nacked;
	uint64_t seq;
	char *copy;

	if ((copy = malloc(len)) == NULL)
		goto fail;
	memcpy(copy, arg, len);
	pthread_mutex_lock(&call_mu);
	if (c->c_ndefers == c->c_defers_cap) {
		size_t cap = c->c_defers_cap ? c->c_defers_cap * 2 : 4;

		if ((d = realloc(c->c_defers, cap * sizeof(*d))) == NULL) {
			pthread_mutex_unlock(&call_mu);
			free(copy);
			goto fail;
		}
		c->c_defers = d;
		c->c_defers_cap = cap;
	}
	/* From here on it has a seq: c_defers[seq - 1], which owns copy. */
	d = &c->c_defers[c->c_ndefers++];
	d->cd_cleanup = cl;
	d->cd_arg = copy;
	d->cd_len = len;
	d->cd_withdrawn = false;
	d->cd_nacked = false;
	seq = c->c_ndefers;
	pthread_mutex_unlock(&call_mu);

	if ((w = outbox_begin(len)) == NULL ||
	    outbox_end(proto_put_defer(w, call_get_id(c), seq, cl->name, arg,
	    len)) != 0) {
		/* Never sent: the master cannot know of it. */
		call_withdraw(c, seq);
		why = "it cannot be sent to the master";
		goto fail;
	}
	if (call_wait_ack(c, &c->c_acked, seq))
		return WSPOOL_OK;
	/*
	 * Not acknowledged in time, or the worker is going away: the master
	 * may journal it yet. Withdraw it there too, with the CLEANUP_DONE
	 * that ends a registration, which follows the DEFER on the same pipe.
	 */
	pthread_mutex_lock(&call_mu);
	c->c_defers[seq - 1].cd_withdrawn = true;
	stopping = call_lost;
	nacked = c->c_defers[seq - 1].cd_nacked;
	pthread_mutex_unlock(&call_mu);
	why = nacked ? "the master could not journal it" : stopping ?
	    "the worker is stopping" : "not acknowledged in time";
	if (nacked)
		goto fail;
	if ((w = outbox_begin(0)) != NULL)
		outbox_end(proto_put_cleanup_done(w, call_get_id(c), seq, 0,
		    stopping ? "not registered: the worker is stopping" :
		    "not registered: not acknowledged in time"));
fail:
	log_error("call %" PRIu64 " (route %s): cleanup %s not registered: %s",
	    call_get_id(c), call_route_name(c), cl->name, why);
	return WSPOOL_ERROR;
}
