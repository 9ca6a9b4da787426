/*
 * answer.c: the JSON text of the master's own answers (see answer.h). A
 * reason is packed as its wire form (proto/reason.c) and written out by
 * the same converter the workers use for values, so both sides give a
 * reason the same JSON.
 */
#include "config.h"

#include <msgpack.h>

#include <wspool.h>

#include "json/from_msgpack.h"
#include "json/write.h"
#include "master/answer.h"
#include "proto/proto.h"

int
answer_reason(struct json_buf *b, const struct wspool_reason *reason)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_pack_reason(&pk, reason) == 0 &&
	    json_from_msgpack(b, sb.data, sb.size) == JSON_MSGPACK_OK)
		rv = 0;
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

int
answer_error(struct json_buf *b, const char *id, size_t id_len, int code,
    const char *msg, size_t msg_len, const char *data, size_t data_len,
    const struct wspool_reason *reason)
{
	if (JSON_PUT_LIT(b, "{\"id\":") != 0 ||
	    (id != NULL ? json_put_raw(b, id, id_len) :
	    JSON_PUT_LIT(b, "null")) != 0 ||
	    JSON_PUT_LIT(b, ",\"error\":{\"code\":") != 0 ||
	    json_put_i64(b, code) != 0 ||
	    JSON_PUT_LIT(b, ",\"message\":") != 0 ||
	    json_put_string(b, msg, msg_len) != 0)
		return -1;
	if (data != NULL && data_len > 0) {
		if (JSON_PUT_LIT(b, ",\"data\":") != 0 ||
		    json_put_raw(b, data, data_len) != 0)
			return -1;
	} else if (reason != NULL) {
		if (JSON_PUT_LIT(b, ",\"data\":") != 0 ||
		    answer_reason(b, reason) != 0)
			return -1;
	}
	return JSON_PUT_LIT(b, "}}");
}
