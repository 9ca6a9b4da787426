/*
 * bad_module.c: a route module that check_worker breaks on purpose, one
 * way per value of $WSPOOL_BAD_MODULE, to see wspool-worker refuse it.
 * A constructor edits the module before the worker's dlsym sees it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <wspool.h>

static int
bad_handler(wspool_call *call, const msgpack_object_array *params)
{
	(void)params;
	return msgpack_pack_nil(wspool_result(call));
}

static int
bad_init_fails(void)
{
	return -1;
}

static const struct wspool_param bad_params[] = {
	{ .name = "a", .type = WSPOOL_T_ANY, .optional = true },
	{ .name = "b", .type = WSPOOL_T_ANY },
};
static const struct wspool_schema bad_schema = { bad_params, 2, false };

static struct wspool_route bad_routes[2] = {
	{ .protocol = WSPOOL_WS, .pattern = WSPOOL_REQUEST, .name = "one",
	  .handler = bad_handler },
	{ .protocol = WSPOOL_WS, .pattern = WSPOOL_REQUEST, .name = "two",
	  .handler = bad_handler },
};

/* Not const: the constructor below breaks it. */
struct wspool_module wspool_module = {
	.abi_version = WSPOOL_ABI_VERSION,
	.name = "bad",
	.routes = bad_routes,
	.nroutes = 2,
};

static void bad_break(void) __attribute__((constructor));

static void
bad_break(void)
{
	const char *how = getenv("WSPOOL_BAD_MODULE");

	if (how == NULL)
		return;
	if (strcmp(how, "abi") == 0)
		wspool_module.abi_version = WSPOOL_ABI_VERSION + 1;
	else if (strcmp(how, "handler") == 0)
		bad_routes[1].handler = NULL;
	else if (strcmp(how, "protocol") == 0)
		bad_routes[0].protocol = (enum wspool_protocol)7;
	else if (strcmp(how, "pattern") == 0)
		bad_routes[1].pattern = (enum wspool_pattern)9;
	else if (strcmp(how, "duplicate") == 0)
		bad_routes[1].name = "one";
	else if (strcmp(how, "schema") == 0)
		bad_routes[0].schema = &bad_schema;
	else if (strcmp(how, "init") == 0)
		wspool_module.init = bad_init_fails;
}
