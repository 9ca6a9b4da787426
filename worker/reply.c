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
#include "json/from_msgpack.h"
#include "worker/outbox.h"
#include "worker/reply.h"
#include "worker/threads.h"

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
	json_buf_init(&r->r_json);
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
	json_buf_reset(&r->r_json, keep);
	r->r_failed = false;
	r->r_code = 0;
}

void
reply_destroy(struct reply *r)
{
	msgpack_sbuffer_destroy(&r->r_result);
	msgpack_sbuffer_destroy(&r->r_data);
	json_buf_free(&r->r_json);
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

/* The JSON text of a packed value into r_json (emptied first): NULL, or
 * why it cannot be sent. */
static const char *
reply_json(struct reply *r, const char *mp, size_t len)
{
	static const char nil[1] = { (char)0xc0 };

	r->r_json.jb_len = 0;
	if (len == 0) {
		/* Nothing packed: null. */
		mp = nil;
		len = 1;
	}
	switch (json_from_msgpack(&r->r_json, mp, len)) {
	case JSON_MSGPACK_OK:
		break;
	case JSON_MSGPACK_INVALID:
		return "is not one msgpack value";
	case JSON_MSGPACK_TOO_DEEP:
		return "is nested too deeply";
	case JSON_MSGPACK_NOMEM:
		return "cannot be written: out of memory";
	}
	if (r->r_json.jb_len > OUTBOX_VALUE_MAX)
		return "is too large";
	return NULL;
}

int
reply_chunk_json(struct reply *r, const char *mp, size_t len,
    const char *route)
{
	const char *why;

	if ((why = reply_json(r, mp, len)) == NULL)
		return 0;
	log_error("route %s: a chunk %s", route, why);
	reply_fail(r, 500, "Internal Server Error: invalid chunk");
	return -1;
}

void
reply_send(struct reply *r, uint64_t id, enum wspool_pattern pattern,
    enum reply_end end)
{
	const msgpack_sbuffer *data = &r->r_data;
	struct proto_writer *w;
	const char *why;
	bool has_data = false;
	int rv;

	if (end == REPLY_OK && pattern == WSPOOL_REQUEST &&
	    (why = reply_json(r, r->r_result.data, r->r_result.size)) != NULL) {
		log_error("call %" PRIu64 ": the result %s", id, why);
		reply_fail(r, 500, "Internal Server Error: invalid result");
		end = REPLY_FAILED;
	}
	if (end == REPLY_FAILED && data->size > 0) {
		if ((why = reply_json(r, data->data, data->size)) == NULL)
			has_data = true;
		else
			log_error("call %" PRIu64 ": the error data %s: left "
			    "out", id, why);
	}
	if ((w = outbox_begin(r->r_json.jb_len)) == NULL)
		return;
	if (end == REPLY_FAILED)
		rv = proto_put_error(w, id, r->r_code, reply_message(r),
		    has_data ? r->r_json.jb_data : NULL, r->r_json.jb_len);
	else if (pattern == WSPOOL_SUBSCRIPTION)
		rv = proto_put_end(w, id);
	else if (end == REPLY_CANCELLED)
		rv = proto_put_error(w, id, 500, "Cancelled", NULL, 0);
	else if (pattern == WSPOOL_REQUEST)
		rv = proto_put_result(w, id, r->r_json.jb_data, r->r_json.jb_len);
	else
		rv = proto_put_end(w, id);
	/* A lone call's answer goes from this thread; under load, the sender
	 * thread packs the answers of many calls into one message. */
	if (threads_alone())
		outbox_end_now(rv);
	else
		outbox_end(rv);
}
