/*
 * hello.c: the smallest useful route module, the one in README.md. Built
 * out of tree against an installed wspool by tools/test.sh, to prove that
 *   cc -shared -fPIC $(pkg-config --cflags --libs wspool) -o app.so app.c
 * works.
 */
#include <wspool.h>

static int
add(wspool_call *call, const msgpack_object_array *params)
{
	/* The schema below has checked both are numbers: int or float. */
	msgpack_pack_double(wspool_result(call),
	    wspool_number(&params->ptr[0]) + wspool_number(&params->ptr[1]));
	return WSPOOL_OK;
}

static const struct wspool_param add_params[] = {
	{ .name = "a", .type = WSPOOL_T_NUMBER },
	{ .name = "b", .type = WSPOOL_T_NUMBER },
};
static const struct wspool_schema add_schema = { add_params, 2, false };

static const struct wspool_route routes[] = {
	{ .protocol = WSPOOL_WS, .pattern = WSPOOL_REQUEST, .name = "add",
	  .handler = add, .schema = &add_schema, .idempotent = true,
	  .result_type = "number" },
};

WSPOOL_MODULE(.name = "app", .routes = routes, .nroutes = 1);
