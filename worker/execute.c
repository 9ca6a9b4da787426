/*
 * execute.c: from a call's params to its handler. The params arrive as
 * the client sent them (JSON text); they are read here, on the call's own
 * thread, into a tree in the call's zone (json/parse.c: bounded depth, no
 * recursion), so the receiver thread and the master never convert them.
 */
#include "config.h"

#include <inttypes.h>

#include <msgpack.h>
#include <wspool.h>

#include "common/log.h"
#include "json/parse.h"
#include "worker/callstate.h"
#include "worker/execute.h"
#include "worker/reply.h"
#include "worker/schema.h"

int
execute_call(struct wspool_call *c)
{
	static const msgpack_object_array call_no_params = { 0, NULL };
	const msgpack_object_array *params = &call_no_params;
	const msgpack_object *bad;
	enum json_parse_status st;
	const char *why;
	msgpack_object obj;
	uint32_t index;
	int rv;

	if (c->c_refuse == 503)
		return reply_fail(&c->c_reply, 503, "Service Unavailable");
	if (c->c_refuse != 0)
		return reply_fail(&c->c_reply, c->c_refuse, NULL);
	if (c->c_route == NULL)
		return reply_fail(&c->c_reply, 404, "Not Found");
	if (c->c_has_params) {
		st = json_parse(&c->c_jparse, c->c_params, c->c_params_len,
		    &c->c_zone, &obj, &why);
		if (st == JSON_PARSE_OK && obj.type != MSGPACK_OBJECT_ARRAY) {
			st = JSON_PARSE_SYNTAX;
			why = "Invalid params";
		}
		if (st != JSON_PARSE_OK) {
			log_debug("call %" PRIu64 " (id %.*s): %s",
			    call_get_id(c), (int)c->c_id_len,
			    c->c_params + c->c_params_len, why);
			return reply_fail(&c->c_reply,
			    st == JSON_PARSE_NOMEM ? 500 : 400, why);
		}
		params = &obj.via.array;
	}
	if (schema_check(c->c_route->schema, params, &index, &bad) != 0) {
		reply_fail(&c->c_reply, 400, "Invalid params");
		if (schema_pack_error(&c->c_reply.r_data_pk, index, bad) != 0)
			c->c_reply.r_data.size = 0;
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
