/*
 * call.c: one call from CALL to its terminal envelope and deferred
 * cleanups, and the handler API functions that act on a call.
 *
 * Design notes (call lifecycle):
 * - The receiver thread creates the call (params copied out of the nng
 *   message), puts it in call_table and queues it on the pool.
 * - A pool thread runs it: route, schema, middlewares, handler, all on
 *   that one thread, so the answer buffers need no lock.
 * - Exactly one terminal envelope per CALL, always (RESULT, END or
 *   ERROR), even when cancelled: the master frees its side on it.
 * - Then the call's deferred cleanups run, in registration order, each
 *   reported with CLEANUP_DONE. The end reason is fixed when the terminal
 *   envelope is chosen: a CANCEL arriving later does not change it.
 * - call_mu guards call_table, the free list, and every call's cancel and
 *   defer state; each call has its own condvar to wait on (sleep, defer).
 *   The cancelled flag is atomic so wspool_cancelled() takes no lock.
 * Calls are recycled with their buffers (params, result, chunk, error
 * data, zone), so the steady state allocates nothing per call.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/worker.h"

/* Keep this many finished calls for reuse. */
#define CALL_FREE_MAX 256
/* Buffers grown past this are freed rather than kept for the next call. */
#define CALL_KEEP_MAX (256u * 1024)
/* A value larger than this could not travel in one nng message. */
#define CALL_VALUE_MAX (PROTO_MAX_MSG - 256u * 1024)
#define CALL_DEFER_TIMEOUT_MS 10000

struct defer_reg {
	const struct wspool_cleanup *dr_cleanup;
	uint64_t dr_seq;
	char *dr_arg;           /* one packed msgpack value */
	size_t dr_len;
};

struct wspool_call {
	struct job c_job;               /* first: the pool runs it */
	struct table_node c_node;       /* key: call_id */
	bool c_in_table;
	struct wspool_call *c_free_next;
	const struct wspool_route *c_route; /* NULL: unknown route */
	struct conn *c_conn;            /* a reference */
	uint64_t c_flags;
	int c_refuse;                   /* answer this code at once */

	char *c_params;                 /* packed params, copied */
	size_t c_params_len;
	size_t c_params_cap;
	bool c_has_params;
	msgpack_zone c_zone;            /* unpacked params, args, reasons */

	msgpack_sbuffer c_result;
	msgpack_sbuffer c_chunk;
	msgpack_sbuffer c_data;         /* error data */
	msgpack_packer c_result_pk;
	msgpack_packer c_chunk_pk;
	msgpack_packer c_data_pk;
	bool c_failed;
	int c_code;
	char *c_message;
	size_t c_message_cap;

	/* Under call_mu. */
	atomic_bool c_cancelled;
	char *c_reason;                 /* packed cancel reason */
	size_t c_reason_len;
	pthread_cond_t c_cond;
	uint64_t c_seq;                 /* last defer seq sent */
	uint64_t c_acked;               /* last defer seq acknowledged */
	bool c_answer_acked;            /* the master has the terminal reply */
	uint64_t c_done_acked;          /* last CLEANUP_DONE seq the master has */

	struct defer_reg *c_defers;
	size_t c_ndefers;
	size_t c_defers_cap;
};

static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER;
static struct table call_table;
static struct wspool_call *call_free;
static size_t call_nfree;
static bool call_lost;          /* the master is gone: defers fail */

static const char call_nil[1] = { (char)0xc0 };
/* The reason {"kind": "shutdown"}, packed. */
static const char call_shutdown[] = "\x81\xa4kind\xa8shutdown";

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
	if (rv != 0) {
		free(c);
		return NULL;
	}
	if (!msgpack_zone_init(&c->c_zone, 2048)) {
		pthread_cond_destroy(&c->c_cond);
		free(c);
		return NULL;
	}
	msgpack_sbuffer_init(&c->c_result);
	msgpack_sbuffer_init(&c->c_chunk);
	msgpack_sbuffer_init(&c->c_data);
	msgpack_packer_init(&c->c_result_pk, &c->c_result,
	    msgpack_sbuffer_write);
	msgpack_packer_init(&c->c_chunk_pk, &c->c_chunk, msgpack_sbuffer_write);
	msgpack_packer_init(&c->c_data_pk, &c->c_data, msgpack_sbuffer_write);
	c->c_job.j_fn = NULL;
	return c;
}

static void
call_destroy(struct wspool_call *c)
{
	msgpack_zone_destroy(&c->c_zone);
	msgpack_sbuffer_destroy(&c->c_result);
	msgpack_sbuffer_destroy(&c->c_chunk);
	msgpack_sbuffer_destroy(&c->c_data);
	pthread_cond_destroy(&c->c_cond);
	free(c->c_params);
	free(c->c_message);
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

/* Forget everything of the last call but the buffers. */
static void
call_reset(struct wspool_call *c)
{
	for (size_t i = 0; i < c->c_ndefers; i++)
		free(c->c_defers[i].dr_arg);
	c->c_ndefers = 0;
	free(c->c_reason);
	c->c_reason = NULL;
	c->c_reason_len = 0;
	atomic_store(&c->c_cancelled, false);
	c->c_seq = c->c_acked = 0;
	c->c_answer_acked = false;
	c->c_done_acked = 0;
	c->c_failed = false;
	c->c_code = 0;
	c->c_refuse = 0;
	c->c_route = NULL;
	c->c_conn = NULL;
	c->c_has_params = false;
	c->c_params_len = 0;
	if (c->c_params_cap > CALL_KEEP_MAX) {
		free(c->c_params);
		c->c_params = NULL;
		c->c_params_cap = 0;
	}
	msgpack_zone_clear(&c->c_zone);
	call_sbuffer_reset(&c->c_result);
	call_sbuffer_reset(&c->c_chunk);
	call_sbuffer_reset(&c->c_data);
}

static void call_run_cb(struct job *j);

int
call_receive(const struct proto_msg *m, int refuse, struct job **first,
    struct job **last)
{
	struct wspool_call *c;

	pthread_mutex_lock(&call_mu);
	if (table_get(&call_table, m->id) != NULL) {
		pthread_mutex_unlock(&call_mu);
		runtime_log("protocol error: call %llu is already running",
		    (unsigned long long)m->id);
		return -1;
	}
	if ((c = call_free) != NULL) {
		call_free = c->c_free_next;
		call_nfree--;
	}
	pthread_mutex_unlock(&call_mu);
	if (c == NULL && (c = call_new()) == NULL) {
		/* Nothing can answer it: the master's deadline will. */
		runtime_log("out of memory: call %llu dropped",
		    (unsigned long long)m->id);
		return 0;
	}
	c->c_job.j_fn = call_run_cb;
	c->c_job.j_next = NULL;
	c->c_node.tn_key = m->id;
	c->c_flags = m->flags;
	c->c_refuse = refuse;
	c->c_route = module_route(m->str.ptr, m->str.len);
	if (m->has_value) {
		if (m->value.len > c->c_params_cap) {
			char *p = realloc(c->c_params, m->value.len);

			if (p == NULL) {
				c->c_refuse = 500;
				goto queue;
			}
			c->c_params = p;
			c->c_params_cap = m->value.len;
		}
		memcpy(c->c_params, m->value.ptr, m->value.len);
		c->c_params_len = m->value.len;
		c->c_has_params = true;
	}
queue:
	c->c_conn = conn_get(m->conn_id);
	pthread_mutex_lock(&call_mu);
	c->c_in_table = table_put(&call_table, &c->c_node) == 0;
	pthread_mutex_unlock(&call_mu);
	if (!c->c_in_table)
		runtime_log("out of memory: call %llu cannot be cancelled",
		    (unsigned long long)m->id);
	if (*first == NULL)
		*first = &c->c_job;
	else
		(*last)->j_next = &c->c_job;
	*last = &c->c_job;
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
		call_cancel_locked((struct wspool_call *)((char *)n -
		    offsetof(struct wspool_call, c_node)), reason, len);
	pthread_mutex_unlock(&call_mu);
}

void
call_defer_ack(uint64_t call_id, uint64_t seq)
{
	struct table_node *n;

	pthread_mutex_lock(&call_mu);
	if ((n = table_get(&call_table, call_id)) != NULL) {
		struct wspool_call *c = (struct wspool_call *)((char *)n -
		    offsetof(struct wspool_call, c_node));

		if (seq == PROTO_ANSWER_ACK) {
			c->c_answer_acked = true;
			pthread_cond_broadcast(&c->c_cond);
		} else if (seq & PROTO_DONE_ACK) {
			if ((seq & ~PROTO_DONE_ACK) > c->c_done_acked)
				c->c_done_acked = seq & ~PROTO_DONE_ACK;
			pthread_cond_broadcast(&c->c_cond);
		} else if (seq > c->c_acked && seq <= c->c_seq) {
			c->c_acked = seq;
			pthread_cond_broadcast(&c->c_cond);
		}
	}
	pthread_mutex_unlock(&call_mu);
}

struct call_cancel_all_arg {
	const void *reason;
	size_t len;
};

static void
call_cancel_all_cb(struct table_node *n, void *arg)
{
	struct call_cancel_all_arg *a = arg;
	struct wspool_call *c = (struct wspool_call *)((char *)n -
	    offsetof(struct wspool_call, c_node));

	call_cancel_locked(c, a->reason, a->len);
	pthread_cond_broadcast(&c->c_cond);
}

void
call_cancel_all(const void *reason, size_t len)
{
	struct call_cancel_all_arg a = { reason, len };

	pthread_mutex_lock(&call_mu);
	call_lost = true;
	table_foreach(&call_table, call_cancel_all_cb, &a);
	pthread_mutex_unlock(&call_mu);
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

/* ---- Running a call ---------------------------------------------------- */

static int
call_execute(struct wspool_call *c)
{
	static const msgpack_object_array call_no_params = { 0, NULL };
	const msgpack_object_array *params = &call_no_params;
	const msgpack_object *bad;
	msgpack_object obj;
	uint32_t index;
	int rv;

	if (c->c_refuse == 503)
		return wspool_fail(c, 503, "Service Unavailable");
	if (c->c_refuse != 0)
		return wspool_fail(c, c->c_refuse, "Internal Server Error");
	if (c->c_route == NULL)
		return wspool_fail(c, 404, "Not Found");
	if (c->c_has_params) {
		struct proto_bytes b = { c->c_params, c->c_params_len };

		if (proto_unpack_value(&b, &c->c_zone, &obj) != 0 ||
		    obj.type != MSGPACK_OBJECT_ARRAY) {
			runtime_log("call %llu: params are not an array",
			    (unsigned long long)c->c_node.tn_key);
			return wspool_fail(c, 400, "Invalid params");
		}
		params = &obj.via.array;
	}
	if (schema_check(c->c_route->schema, params, &index, &bad) != 0) {
		wspool_fail(c, 400, "Invalid params");
		if (schema_pack_error(&c->c_data_pk, index, bad) != 0)
			c->c_data.size = 0;
		return WSPOOL_ERROR;
	}
	if (c->c_route->middlewares != NULL) {
		for (const wspool_middleware_fn *mw = c->c_route->middlewares;
		    *mw != NULL; mw++)
			if ((rv = (*mw)(c)) != WSPOOL_OK)
				return rv;
	}
	return c->c_route->handler(c, params);
}

enum call_end {
	CALL_END_OK,
	CALL_END_CANCELLED,
	CALL_END_FAILED,
};

/* Send the one terminal envelope. */
static void
call_answer(struct wspool_call *c, enum call_end end)
{
	enum wspool_pattern pattern = c->c_route != NULL ?
	    c->c_route->pattern : WSPOOL_REQUEST;
	uint64_t id = c->c_node.tn_key;
	const msgpack_sbuffer *v = &c->c_result;
	struct proto_writer *w;
	int rv;

	if (end == CALL_END_OK && pattern == WSPOOL_REQUEST &&
	    v->size > CALL_VALUE_MAX) {
		runtime_log("call %llu: result of %zu bytes is too large",
		    (unsigned long long)id, v->size);
		wspool_fail(c, 500, "Result too large");
		end = CALL_END_FAILED;
	}
	if (end == CALL_END_FAILED && c->c_data.size > CALL_VALUE_MAX) {
		runtime_log("call %llu: error data of %zu bytes is too large",
		    (unsigned long long)id, c->c_data.size);
		c->c_data.size = 0;
	}
	if ((w = outbox_begin(end == CALL_END_OK ? v->size : c->c_data.size))
	    == NULL)
		return;
	if (end == CALL_END_FAILED)
		rv = proto_put_error(w, id, c->c_code, c->c_message != NULL ?
		    c->c_message : "Internal Server Error",
		    c->c_data.size ? c->c_data.data : NULL, c->c_data.size);
	else if (pattern == WSPOOL_SUBSCRIPTION)
		rv = proto_put_end(w, id);
	else if (end == CALL_END_CANCELLED)
		rv = proto_put_error(w, id, 500, "Cancelled", NULL, 0);
	else if (pattern == WSPOOL_REQUEST)
		rv = proto_put_result(w, id, v->size ? v->data : call_nil,
		    v->size ? v->size : 1);
	else
		rv = proto_put_end(w, id);
	outbox_end(rv);
}

static enum call_end
call_classify(struct wspool_call *c, int rv)
{
	if (c->c_failed)
		return CALL_END_FAILED;
	if (rv == WSPOOL_OK)
		return CALL_END_OK;
	if (rv == WSPOOL_CANCELLED && atomic_load(&c->c_cancelled))
		return CALL_END_CANCELLED;
	if (rv != WSPOOL_ERROR)
		runtime_log("route %s returned %d without failing the call",
		    wspool_route_name(c), rv);
	wspool_fail(c, 500, "Internal Server Error");
	return CALL_END_FAILED;
}

static void call_deadline(struct timespec *ts, uint64_t ms);
static void call_wait_done_acked(struct wspool_call *c, uint64_t seq);

/* Run the registered cleanups in order, each isolated, each reported. */
static void
call_run_defers(struct wspool_call *c, enum call_end end, bool cancelled)
{
	struct wspool_reason reason = { .kind = WSPOOL_REASON_NONE,
		.status = -1 };
	uint64_t id = c->c_node.tn_key;

	if (c->c_ndefers == 0)
		return;
	if (cancelled) {
		if (c->c_reason == NULL || cleanup_reason_unpack(c->c_reason,
		    c->c_reason_len, &c->c_zone, &reason) != 0) {
			memset(&reason, 0, sizeof(reason));
			reason.kind = WSPOOL_REASON_CANCELLED;
			reason.status = -1;
		}
	} else if (end == CALL_END_FAILED) {
		reason.kind = WSPOOL_REASON_ERROR;
		reason.code = c->c_code;
		reason.message = c->c_message != NULL ? c->c_message :
		    "Internal Server Error";
	}
	for (size_t i = 0; i < c->c_ndefers; i++) {
		const struct defer_reg *d = &c->c_defers[i];
		struct proto_bytes b = { d->dr_arg, d->dr_len };
		const char *message = "";
		struct proto_writer *w;
		msgpack_object arg;
		int ok;

		if (proto_unpack_value(&b, &c->c_zone, &arg) != 0) {
			ok = 0;
			message = "cleanup argument unreadable";
		} else {
			ok = cleanup_run(d->dr_cleanup, &reason, &arg,
			    &message) == WSPOOL_OK;
		}
		if (!ok)
			runtime_log("call %llu: cleanup %s failed: %s",
			    (unsigned long long)id, d->dr_cleanup->name,
			    message);
		if ((w = outbox_begin(0)) != NULL) {
			outbox_end(proto_put_cleanup_done(w, id, d->dr_seq, ok,
			    message));
		}
		if (i + 1 < c->c_ndefers)
			call_wait_done_acked(c, d->dr_seq);
	}
}

static void
call_release(struct wspool_call *c)
{
	conn_unref(c->c_conn);
	call_reset(c);
	pthread_mutex_lock(&call_mu);
	if (c->c_in_table)
		table_del(&call_table, &c->c_node);
	c->c_in_table = false;
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


/*
 * The answer goes out before the cleanups run: wait until the master has
 * the terminal reply (it acknowledges it for calls with cleanups). Without
 * this, a cleanup that crashes the worker could take the answer, still in
 * a buffer, down with it, and the client would see a crash for a call that
 * ended well.
 */
static void
call_wait_answer_acked(struct wspool_call *c)
{
	struct timespec ts;
	int rv = 0;

	call_deadline(&ts, CALL_DEFER_TIMEOUT_MS);
	pthread_mutex_lock(&call_mu);
	while (!c->c_answer_acked && !call_lost && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&c->c_cond, &call_mu, &ts);
	pthread_mutex_unlock(&call_mu);
}

/*
 * Likewise between cleanups: the next one runs once the master has the
 * previous one's CLEANUP_DONE, so a cleanup that crashes the worker does
 * not make the ones before it run twice (exactly once where possible;
 * at least once always).
 */
static void
call_wait_done_acked(struct wspool_call *c, uint64_t seq)
{
	struct timespec ts;
	int rv = 0;

	call_deadline(&ts, CALL_DEFER_TIMEOUT_MS);
	pthread_mutex_lock(&call_mu);
	while (c->c_done_acked < seq && !call_lost && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&c->c_cond, &call_mu, &ts);
	pthread_mutex_unlock(&call_mu);
}

static void
call_run_cb(struct job *j)
{
	struct wspool_call *c = (struct wspool_call *)j;
	enum call_end end;
	bool cancelled;

	end = call_classify(c, call_execute(c));
	/* The end reason is fixed here, with the answer. */
	pthread_mutex_lock(&call_mu);
	cancelled = atomic_load(&c->c_cancelled);
	pthread_mutex_unlock(&call_mu);
	call_answer(c, end);
	if (c->c_ndefers > 0)
		call_wait_answer_acked(c);
	call_run_defers(c, end, cancelled);
	call_release(c);
}

/* ---- The handler API ------------------------------------------------------- */

msgpack_packer *
wspool_result(wspool_call *call)
{
	return &call->c_result_pk;
}

msgpack_packer *
wspool_yield_begin(wspool_call *call)
{
	call->c_chunk.size = 0;
	return &call->c_chunk_pk;
}

static int
call_yield(wspool_call *call, const void *value, size_t len)
{
	struct proto_writer *w;

	if (call->c_route == NULL ||
	    call->c_route->pattern != WSPOOL_SUBSCRIPTION) {
		runtime_log("route %s yields but is not a subscription",
		    wspool_route_name(call));
		return WSPOOL_ERROR;
	}
	if (atomic_load(&call->c_cancelled))
		return WSPOOL_CANCELLED;
	if (len > CALL_VALUE_MAX) {
		runtime_log("route %s: chunk of %zu bytes is too large",
		    wspool_route_name(call), len);
		return wspool_fail(call, 500, "Chunk too large");
	}
	if ((w = outbox_begin(len)) == NULL) {
		/* The master is gone: that cancels every call. */
		pthread_mutex_lock(&call_mu);
		call_cancel_locked(call, call_shutdown, sizeof(call_shutdown) - 1);
		pthread_mutex_unlock(&call_mu);
		return WSPOOL_CANCELLED;
	}
	outbox_end(proto_put_chunk(w, call->c_node.tn_key, value, len));
	return WSPOOL_OK;
}

int
wspool_yield_end(wspool_call *call)
{
	const msgpack_sbuffer *b = &call->c_chunk;

	/* Nothing packed: a null chunk, not an undefined one. */
	return call_yield(call, b->size ? b->data : call_nil,
	    b->size ? b->size : 1);
}

int
wspool_yield_undefined(wspool_call *call)
{
	return call_yield(call, NULL, 0);
}

int
wspool_fail(wspool_call *call, int code, const char *message)
{
	size_t len;

	if (code < 400 || code > 599)
		code = 500;
	if (message == NULL)
		message = "Internal Server Error";
	len = strlen(message);
	if (len > PROTO_MAX_STR) {
		/* The codec refuses longer strings: cut on a UTF-8 boundary. */
		len = PROTO_MAX_STR;
		while (len > 0 && ((unsigned char)message[len] & 0xc0) == 0x80)
			len--;
	}
	if (len + 1 > call->c_message_cap) {
		char *p = realloc(call->c_message, len + 1);

		if (p != NULL) {
			call->c_message = p;
			call->c_message_cap = len + 1;
		} else {
			/* Keep what fits in the old buffer. */
			len = call->c_message_cap ? call->c_message_cap - 1 : 0;
		}
	}
	call->c_failed = true;
	call->c_code = code;
	if (call->c_message != NULL) {
		memmove(call->c_message, message, len);
		call->c_message[len] = '\0';
	}
	call->c_data.size = 0;
	return WSPOOL_ERROR;
}

msgpack_packer *
wspool_fail_data(wspool_call *call)
{
	call->c_data.size = 0;
	return &call->c_data_pk;
}

const char *
wspool_conn_id(const wspool_call *call)
{
	return conn_uuid(call->c_conn);
}

const char *
wspool_client_ip(const wspool_call *call)
{
	return conn_ip(call->c_conn);
}

const char *
wspool_route_name(const wspool_call *call)
{
	return call->c_route != NULL ? call->c_route->name : "";
}

const char *
wspool_header(const wspool_call *call, const char *name)
{
	return conn_header(call->c_conn, name);
}

size_t
wspool_header_count(const wspool_call *call)
{
	return conn_header_count(call->c_conn);
}

int
wspool_header_at(const wspool_call *call, size_t i, const char **name,
    const char **value)
{
	return conn_header_at(call->c_conn, i, name, value);
}

bool
wspool_cancelled(const wspool_call *call)
{
	return atomic_load(&call->c_cancelled);
}

static void
call_deadline(struct timespec *ts, uint64_t ms)
{
	/* Ten years is forever here, and keeps tv_sec from overflowing. */
	if (ms > UINT64_C(315360000000))
		ms = UINT64_C(315360000000);
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
wspool_sleep(wspool_call *call, uint64_t ms)
{
	struct timespec ts;
	int rv = 0;

	call_deadline(&ts, ms);
	pthread_mutex_lock(&call_mu);
	while (!atomic_load(&call->c_cancelled) && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&call->c_cond, &call_mu, &ts);
	pthread_mutex_unlock(&call_mu);
	return atomic_load(&call->c_cancelled) ? WSPOOL_CANCELLED : WSPOOL_OK;
}

uint64_t
wspool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
wspool_defer(wspool_call *call, const char *name, const msgpack_object *arg)
{
	const struct wspool_cleanup *cl;
	struct proto_writer *w;
	struct defer_reg *d;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct timespec ts;
	uint64_t seq;
	int rv = 0;

	if (name == NULL ||
	    (cl = module_cleanup(name, strlen(name))) == NULL) {
		runtime_log("route %s: wspool_defer: no cleanup named %s",
		    wspool_route_name(call), name ? name : "(null)");
		return WSPOOL_ERROR;
	}
	if (call->c_ndefers == call->c_defers_cap) {
		size_t cap = call->c_defers_cap ? call->c_defers_cap * 2 : 4;

		if ((d = realloc(call->c_defers, cap * sizeof(*d))) == NULL)
			return WSPOOL_ERROR;
		call->c_defers = d;
		call->c_defers_cap = cap;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if ((arg == NULL ? msgpack_pack_nil(&pk) :
	    msgpack_pack_object(&pk, *arg)) != 0 || sb.size > CALL_VALUE_MAX) {
		msgpack_sbuffer_destroy(&sb);
		return WSPOOL_ERROR;
	}
	if ((w = outbox_begin(sb.size)) == NULL) {
		msgpack_sbuffer_destroy(&sb);
		return WSPOOL_ERROR;
	}
	/* Registered locally from now on: at least once, even if the ack
	 * never comes, since the master may have journaled it. */
	seq = ++call->c_seq;
	d = &call->c_defers[call->c_ndefers++];
	d->dr_cleanup = cl;
	d->dr_seq = seq;
	d->dr_arg = sb.data;
	d->dr_len = sb.size;
	outbox_end(proto_put_defer(w, call->c_node.tn_key, seq, cl->name,
	    sb.data, sb.size));

	call_deadline(&ts, CALL_DEFER_TIMEOUT_MS);
	pthread_mutex_lock(&call_mu);
	while (call->c_acked < seq && !call_lost && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&call->c_cond, &call_mu, &ts);
	rv = call->c_acked >= seq ? WSPOOL_OK : WSPOOL_ERROR;
	pthread_mutex_unlock(&call_mu);
	if (rv != WSPOOL_OK)
		runtime_log("route %s: cleanup %s was not acknowledged",
		    wspool_route_name(call), cl->name);
	return rv;
}
