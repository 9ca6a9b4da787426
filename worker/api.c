/*
 * api.c: the handler API of wspool.h (answering, context, sleep, cleanup
 * registration, logging), implemented on call.c's internals (and the
 * call's reply). The number helpers are in values.c, the reason helpers
 * in proto/reason.c.
 *
 * Every function here but wspool_log and wspool_now_ms runs on the
 * thread of the call it is given (wspool.h's contract), so it reads and
 * writes the call's handler-owned fields without a lock; what the
 * receiver thread shares goes through call.c.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "worker/call.h"
#include "worker/cleanup.h"
#include "worker/client.h"
#include "worker/module.h"
#include "worker/outbox.h"
#include "worker/reply.h"

/* wspool.h's log levels are common/log.h's. */
_Static_assert((int)WSPOOL_LOG_ERROR == (int)LOG_ERROR &&
    (int)WSPOOL_LOG_WARN == (int)LOG_WARN &&
    (int)WSPOOL_LOG_INFO == (int)LOG_INFO &&
    (int)WSPOOL_LOG_DEBUG == (int)LOG_DEBUG,
    "wspool_log levels differ from the log's");

/* A line of wspool_log, like a line of common/log.c. */
#define API_LOG_MAX 2048

static const char api_nil[1] = { (char)0xc0 };

/* ---- Answering ------------------------------------------------------- */

msgpack_packer *
wspool_result(wspool_call *call)
{
	return &call->c_reply.r_result_pk;
}

msgpack_packer *
wspool_yield_begin(wspool_call *call)
{
	call->c_chunk.size = 0;
	return &call->c_chunk_pk;
}

/* Send a chunk: its packed value as JSON text (value NULL: undefined). */
static int
api_chunk(wspool_call *call, const void *value, size_t len)
{
	struct reply *r = &call->c_reply;
	struct proto_writer *w;

	if (call->c_route == NULL ||
	    call->c_route->pattern != WSPOOL_SUBSCRIPTION) {
		log_error("route %s yields but is not a subscription",
		    call_route_name(call));
		return WSPOOL_ERROR;
	}
	if (atomic_load(&call->c_cancelled))
		return WSPOOL_CANCELLED;
	if (value != NULL && reply_chunk_json(r, value, len,
	    call_route_name(call)) != 0)
		return WSPOOL_ERROR;
	/* Flow control: wait for the client to read (or a cancel). */
	if (call_take_credit(call, PROTO_CHUNK_COST(value != NULL ?
	    r->r_json.jb_len : 0, call->c_id_len)) != WSPOOL_OK)
		return WSPOOL_CANCELLED;
	if ((w = outbox_begin(value != NULL ? r->r_json.jb_len : 0)) == NULL) {
		call_master_gone(call);
		return WSPOOL_CANCELLED;
	}
	outbox_end(proto_put_chunk(w, call_get_id(call),
	    value != NULL ? r->r_json.jb_data : NULL,
	    value != NULL ? r->r_json.jb_len : 0));
	return WSPOOL_OK;
}

int
wspool_yield_end(wspool_call *call)
{
	const msgpack_sbuffer *b = &call->c_chunk;

	/* Nothing packed: a null chunk, not an undefined one. */
	return api_chunk(call, b->size ? b->data : api_nil,
	    b->size ? b->size : 1);
}

int
wspool_yield_undefined(wspool_call *call)
{
	return api_chunk(call, NULL, 0);
}

int
wspool_fail(wspool_call *call, int code, const char *message)
{
	return reply_fail(&call->c_reply, code, message);
}

msgpack_packer *
wspool_fail_data(wspool_call *call)
{
	call->c_reply.r_data.size = 0;
	return &call->c_reply.r_data_pk;
}

/* ---- Context --------------------------------------------------------- */

const char *
wspool_conn_id(const wspool_call *call)
{
	return client_uuid(call->c_client);
}

const char *
wspool_client_ip(const wspool_call *call)
{
	return client_ip(call->c_client);
}

const char *
wspool_route_name(const wspool_call *call)
{
	return call_route_name(call);
}

const char *
wspool_header(const wspool_call *call, const char *name)
{
	return client_header(call->c_client, name);
}

size_t
wspool_header_count(const wspool_call *call)
{
	return client_header_count(call->c_client);
}

int
wspool_header_at(const wspool_call *call, size_t i, const char **name,
    const char **value)
{
	return client_header_at(call->c_client, i, name, value);
}

bool
wspool_cancelled(const wspool_call *call)
{
	return atomic_load(&call->c_cancelled);
}

int
wspool_sleep(wspool_call *call, uint64_t ms)
{
	return call_sleep(call, ms);
}

uint64_t
wspool_now_ms(void)
{
	return clock_wall_ms();
}

/* ---- Cleanups -------------------------------------------------------- */

msgpack_packer *
wspool_defer_begin(wspool_call *call, const struct wspool_cleanup *cleanup)
{
	/* An unknown entry still gets a packer, so that packing needs no
	 * check; wspool_defer_end refuses it. */
	call->c_dentry = module_cleanup_known(cleanup) ? cleanup : NULL;
	call->c_dopen = true;
	call->c_darg.size = 0;
	if (call->c_dentry == NULL)
		log_error("route %s: wspool_defer_begin: %p is no entry of "
		    "the module's cleanup table", call_route_name(call),
		    (const void *)cleanup);
	return &call->c_darg_pk;
}

int
wspool_defer_end(wspool_call *call)
{
	const msgpack_sbuffer *b = &call->c_darg;
	struct proto_bytes arg = { b->data, b->size };
	const struct wspool_cleanup *cl = call->c_dentry;
	msgpack_object o;

	if (!call->c_dopen) {
		log_error("route %s: wspool_defer_end without "
		    "wspool_defer_begin", call_route_name(call));
		return WSPOOL_ERROR;
	}
	call->c_dopen = false;
	call->c_dentry = NULL;
	if (cl == NULL)
		return WSPOOL_ERROR;    /* logged by wspool_defer_begin */
	if (b->size == 0) {
		arg.ptr = api_nil;
		arg.len = 1;
	}
	/* Exactly one value, as whoever runs it will unpack it. */
	if (arg.len > OUTBOX_VALUE_MAX ||
	    proto_unpack_value(&arg, &call->c_zone, &o) != 0) {
		log_error("route %s: cleanup %s not registered: its argument "
		    "is not one msgpack value of at most %u bytes",
		    call_route_name(call), cl->name,
		    (unsigned)OUTBOX_VALUE_MAX);
		return WSPOOL_ERROR;
	}
	return call_defer(call, cl, arg.ptr, arg.len);
}

int
wspool_defer(wspool_call *call, const char *name, const msgpack_object *arg)
{
	const struct wspool_cleanup *cl;
	msgpack_packer *pk;

	if (name == NULL || (cl = module_cleanup(name, strlen(name))) == NULL) {
		log_error("route %s: wspool_defer: no cleanup named %s",
		    call_route_name(call), name != NULL ? name : "(null)");
		return WSPOOL_ERROR;
	}
	pk = wspool_defer_begin(call, cl);
	if ((arg == NULL ? msgpack_pack_nil(pk) :
	    msgpack_pack_object(pk, *arg)) != 0) {
		call->c_dopen = false;
		log_error("route %s: out of memory: cleanup %s not registered",
		    call_route_name(call), name);
		return WSPOOL_ERROR;
	}
	return wspool_defer_end(call);
}

/* ---- Logging --------------------------------------------------------- */

/* One line of text: control characters would split the master's line. */
static void
api_log_clean(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
}

void
wspool_log(wspool_call *call, int level, const char *fmt, ...)
{
	char text[API_LOG_MAX];
	struct proto_writer *w;
	const struct wspool_cleanup_ctx *cleanup = cleanup_current();
	const char *route = "?";
	uint64_t id = 0;
	va_list ap;
	int n;

	if (level < WSPOOL_LOG_ERROR)
		level = WSPOOL_LOG_ERROR;
	if (level > WSPOOL_LOG_DEBUG)
		level = WSPOOL_LOG_DEBUG;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text)) {
		/* Cut on a UTF-8 boundary. */
		n = (int)sizeof(text) - 1;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
		text[n] = '\0';
	}
	api_log_clean(text, (size_t)n);
	if (call != NULL) {
		id = call_get_id(call);
		route = call_route_name(call);
	} else if (cleanup != NULL) {
		id = cleanup->call_id;
		route = cleanup->route;
	}
	if ((w = outbox_begin((size_t)n)) != NULL &&
	    outbox_end(proto_put_log(w, id, level, text)) == 0)
		return;
	/* No master to tell (init, fini, or it is gone): our own stderr. */
	if (id != 0)
		log_msg(level, "call=%" PRIu64 " route=%s: %s", id, route,
		    text);
	else
		log_msg(level, "%s", text);
}
