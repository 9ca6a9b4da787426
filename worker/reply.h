/*
 * reply.h: the answer a call is building (its result, or its failure with
 * error data) and the one terminal envelope that carries it. Embedded in
 * the call and used on the call's own thread only.
 */
#ifndef WORKER_REPLY_H
#define WORKER_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <wspool.h>

#include "json/write.h"

struct reply {
	msgpack_sbuffer r_result;
	msgpack_packer r_result_pk;   /* wspool_result */
	msgpack_sbuffer r_data;       /* error data */
	msgpack_packer r_data_pk;     /* wspool_fail_data */
	struct json_buf r_json;       /* a value as JSON text, being sent */
	bool r_failed;
	int r_code;
	char *r_message;              /* NUL-terminated; NULL: never failed */
	size_t r_message_cap;
};

enum reply_end {
	REPLY_OK,
	REPLY_CANCELLED,
	REPLY_FAILED,
};

void reply_init(struct reply *r);
/* Forget the last answer; buffers grown past keep bytes are freed. */
void reply_reset(struct reply *r, size_t keep);
void reply_destroy(struct reply *r);

/* Fail: a code outside 400-599 becomes 500, a NULL message "Internal
 * Server Error"; the message is copied (cut at PROTO_MAX_STR) and the
 * error data cleared. Returns WSPOOL_ERROR. */
int reply_fail(struct reply *r, int code, const char *message);
/* The error message (a failed reply always has one). */
const char *reply_message(const struct reply *r);
/* How the call ended, from the handler's return value rv and whether the
 * call was cancelled (an unexplained failure becomes 500, logged with
 * route). */
enum reply_end reply_classify(struct reply *r, int rv, bool cancelled,
    const char *route);
/* Send the terminal envelope of call id for end, as its route's pattern
 * has it. The result and the error data go as JSON text (json/from_msgpack.h):
 * a result that is not one msgpack value, is nested too deeply or is too
 * large fails the call with 500; error data that cannot be written is left
 * out. */
void reply_send(struct reply *r, uint64_t id, enum wspool_pattern pattern,
    enum reply_end end);
/*
 * A chunk's JSON text from its packed value in r_json: 0, or -1 with the
 * call failed (500) when it is not one msgpack value, is nested too
 * deeply or is too large.
 */
int reply_chunk_json(struct reply *r, const char *mp, size_t len,
    const char *route);

#endif /* WORKER_REPLY_H */
