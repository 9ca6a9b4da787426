/*
 * reply.c: the answer of a call: the failure a handler (or the worker)
 * sets, how the handler's return value decides the end, and the one
 * terminal envelope (RESULT, END or ERROR) every CALL gets, even when
 * cancelled: the master frees its side on it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/outbox.h"
#include "worker/reply.h"

static const char reply_nil[1] = { (char)0xc0 };
static const char reply_ise[] = "Internal Server Error";

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	msgpack_sbuffer_init(&r->r_result);
	msgpack_packer_init(&r->r_result_pk, &r->r_result,
	    msgpack_sbuffer_write);
	msgpack_sbuffer_init(&r->r_data);
	msgpack_packer_init(&r->r_data_pk, &r->r_data, msgpack_sbuffer_write);
}

static void
reply_sbuffer_reset(msgpack_sbuffer *b, size_t keep)
{
	if (b->alloc > keep) {
		msgpack_sbuffer_destroy(b);
		msgpack_sbuffer_init(b);
	}
	b->size = 0;
}

void
reply_reset(struct reply *r, size_t keep)
{
	reply_sbuffer_reset(&r->r_result, keep);
	reply_sbuffer_reset(&r->r_data, keep);
	r->r_failed = false;
	r->r_code = 0;
}

void
reply_destroy(struct reply *r)
{
	msgpack_sbuffer_destroy(&r->r_result);
	msgpack_sbuffer_destroy(&r->r_data);
	free(r->r_message);
}

int
reply_fail(struct reply *r, int code, const char *message)
{
	size_t len;

	if (code < 400 || code > 599)
		code = 500;
	if (message == NULL)
		message = reply_ise;
	len = strlen(message);
	if (len > PROTO_MAX_STR) {
		/* The codec refuses longer strings: cut on a UTF-8 boundary. */
		len = PROTO_MAX_STR;
		while (len > 0 && ((unsigned char)message[len] & 0xc0) == 0x80)
			len--;
	}
	if (len + 1 > r->r_message_cap) {
		char *p = realloc(r->r_message, len + 1);

		if (p != NULL) {
			r->r_message = p;
			r->r_message_cap = len + 1;
		} else {
			/* Keep what fits in the old buffer. */
			len = r->r_message_cap ? r->r_message_cap - 1 : 0;
		}
	}
	r->r_failed = true;
	r->r_code = code;
	if (r->r_message != NULL) {
		memmove(r->r_message, message, len);
		r->r_message[len] = '\0';
	}
	r->r_data.size = 0;
	return WSPOOL_ERROR;
}

const char *
reply_message(const struct reply *r)
{
	return r->r_message != NULL ? r->r_message : reply_ise;
}

enum reply_end
reply_classify(struct reply *r, int rv, bool cancelled, const char *route)
{
	if (r->r_failed)
		return REPLY_FAILED;
	if (rv == WSPOOL_OK)
		return REPLY_OK;
	if (rv == WSPOOL_CANCELLED && cancelled)
		return REPLY_CANCELLED;
	if (rv != WSPOOL_ERROR)
		log_warn("route %s returned %d without failing the call",
		    route, rv);
	reply_fail(r, 500, reply_ise);
	return REPLY_FAILED;
}

void
reply_send(struct reply *r, uint64_t id, enum wspool_pattern pattern,
    enum reply_end end)
{
	const msgpack_sbuffer *v = &r->r_result, *data = &r->r_data;
	struct proto_writer *w;
	int rv;

	if (end == REPLY_OK && pattern == WSPOOL_REQUEST &&
	    v->size > OUTBOX_VALUE_MAX) {
		log_error("call %" PRIu64 ": result of %zu bytes is too large",
		    id, v->size);
		reply_fail(r, 500, "Result too large");
		end = REPLY_FAILED;
	}
	if (end == REPLY_FAILED && data->size > OUTBOX_VALUE_MAX) {
		log_error("call %" PRIu64 ": error data of %zu bytes is too "
		    "large", id, data->size);
		r->r_data.size = 0;
	}
	if ((w = outbox_begin(end == REPLY_OK ? v->size : data->size)) == NULL)
		return;
	if (end == REPLY_FAILED)
		rv = proto_put_error(w, id, r->r_code, reply_message(r),
		    data->size ? data->data : NULL, data->size);
	else if (pattern == WSPOOL_SUBSCRIPTION)
		rv = proto_put_end(w, id);
	else if (end == REPLY_CANCELLED)
		rv = proto_put_error(w, id, 500, "Cancelled", NULL, 0);
	else if (pattern == WSPOOL_REQUEST)
		rv = proto_put_result(w, id, v->size ? v->data : reply_nil,
		    v->size ? v->size : 1);
	else
		rv = proto_put_end(w, id);
	outbox_end(rv);
}
