/*
 * odd_module.c: a route module that is never served, only emitted
 * (--emit-routes): names that are no identifiers, keywords, duplicates,
 * characters to escape, every param type, rest and no schema. Its
 * TypeScript must still type-check and its JSON keep every name exactly
 * (tests/integration/test_typed_client.mjs, test_emit_routes.py).
 *
 * $WSPOOL_ODD_MODULE breaks it one way, in a constructor, before the
 * worker looks: "init" makes its init fail (emitting never runs init),
 * "not_utf8" gives a route a name that is not UTF-8 (emitting fails).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <wspool.h>

static int
odd_handler(wspool_call *call, const msgpack_object_array *params)
{
	(void)params;
	return msgpack_pack_nil(wspool_result(call));
}

static int
odd_init(void)
{
	const char *how = getenv("WSPOOL_ODD_MODULE");

	return how != NULL && strcmp(how, "init") == 0 ? -1 : 0;
}

/* Keywords, our own names, duplicates, none at all. */
static const struct wspool_param odd_clash_params[] = {
	{ .name = "class", .type = WSPOOL_T_STRING },
	{ .name = "requestOptions", .type = WSPOOL_T_NUMBER },
	{ .name = "a", .type = WSPOOL_T_BOOL },
	{ .name = "a", .type = WSPOOL_T_NULL },
	{ .name = "arg0", .type = WSPOOL_T_UINT },
	{ .name = NULL, .type = WSPOOL_T_INTEGER },
	{ .name = "rest", .type = WSPOOL_T_ARRAY, .optional = true },
	{ .name = "with space", .type = WSPOOL_T_OBJECT, .optional = true,
	  .nullable = true },
};
static const struct wspool_schema odd_clash_schema = {
	.params = odd_clash_params,
	.nparams = WSPOOL_ARRAY_LEN(odd_clash_params),
};

/* A declared TypeScript type, nullable; then anything more. */
static const struct wspool_param odd_typed_params[] = {
	{ .name = "order", .type = WSPOOL_T_STRING, .nullable = true,
	  .ts_type = "\"asc\" | \"desc\"" },
	{ .name = "nothing", .type = WSPOOL_T_NULL, .nullable = true },
	{ .name = "any", .type = WSPOOL_T_ANY, .nullable = true },
};
static const struct wspool_schema odd_typed_schema = {
	.params = odd_typed_params,
	.nparams = WSPOOL_ARRAY_LEN(odd_typed_params),
	.rest = true,
};

#define ODD_ROUTE(p, n, ...) { .protocol = WSPOOL_WS, .pattern = (p), \
	.name = (n), .handler = odd_handler, __VA_ARGS__ }

/* Not const: the constructor below breaks it. */
static struct wspool_route odd_routes[] = {
	ODD_ROUTE(WSPOOL_REQUEST, "user.get", .schema = &odd_clash_schema,
	    .result_type = "{\"quoted key\": string, 'single': `tpl`}"),
	ODD_ROUTE(WSPOOL_SUBSCRIPTION, "with space", .schema = &odd_typed_schema,
	    .result_type = "(x: number) => void"),
	ODD_ROUTE(WSPOOL_REQUEST, "quote\"back\\slash"),
	ODD_ROUTE(WSPOOL_NOTIFICATION, "d\xc3\xa9lai\xe2\x80\xa8" "x\n\t\x01",
	    .result_type = "number"),
	ODD_ROUTE(WSPOOL_REQUEST, "__proto__", .result_type = "null"),
	ODD_ROUTE(WSPOOL_REQUEST, "$ok_1", .idempotent = true,
	    .timeout_ms = 1500),
	ODD_ROUTE(WSPOOL_REQUEST, "1st"),
	ODD_ROUTE(WSPOOL_REQUEST, "class", .result_type = "Map<string, "
	    "[number, {a: 1; b: 2}]>"),
};

WSPOOL_MODULE(
	.name = "odd \"module\"\n// */",
	.routes = odd_routes,
	.nroutes = WSPOOL_ARRAY_LEN(odd_routes),
	.init = odd_init,
);

static void odd_break(void) __attribute__((constructor));

static void
odd_break(void)
{
	const char *how = getenv("WSPOOL_ODD_MODULE");

	if (how != NULL && strcmp(how, "not_utf8") == 0)
		odd_routes[6].name = "\xff";
}
