/*
 * bad_module.c: the route module of check_worker's API tests, which
 * check_worker also breaks on purpose, one way per value of
 * $WSPOOL_BAD_MODULE, to see wspool-worker refuse it (a constructor edits
 * the module before the worker's dlsym sees it).
 *
 * Unbroken, it serves what the demo does not show: cleanup contexts
 * (the "ctx" cleanup logs its context with wspool_log), a refused cleanup
 * entry, odd arguments, the deprecated calls, and wspool_log's levels.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <wspool.h>

/* ---- Cleanups ------------------------------------------------------------ */

/* Say everything the context holds, as one line check_worker compares. */
static int
bad_ctx_cb(const struct wspool_cleanup_ctx *ctx, const msgpack_object *arg)
{
	int64_t n = -1;

	if (arg->type != MSGPACK_OBJECT_NIL && wspool_int64(arg, &n) != 0)
		return WSPOOL_ERROR;
	wspool_log(NULL, WSPOOL_LOG_INFO, "ctx call=%" PRIu64 " index=%"
	    PRIu64 " key=%s attempt=%" PRIu32 " route=%s name=%s reason=%s "
	    "arg=%" PRId64, ctx->call_id, ctx->index, ctx->key, ctx->attempt,
	    ctx->route, ctx->name, wspool_reason_name(ctx->reason->kind), n);
	return WSPOOL_OK;
}

/* ABI 1's cleanup: the reason and the argument only. */
static int
bad_legacy_cb(const struct wspool_reason *reason, const msgpack_object *arg)
{
	wspool_log(NULL, WSPOOL_LOG_INFO, "legacy reason=%s arg=%d",
	    wspool_reason_name(reason->kind), (int)arg->type);
	return WSPOOL_OK;
}

enum { BAD_CTX, BAD_LEGACY };

/* Not const: the constructor below breaks it. */
static struct wspool_cleanup bad_cleanups[] = {
	[BAD_CTX] = { .name = "ctx", .run = bad_ctx_cb },
	[BAD_LEGACY] = { .name = "legacy", .fn = bad_legacy_cb },
};

/* ---- Routes ------------------------------------------------------------------ */

static int
bad_handler(wspool_call *call, const msgpack_object_array *params)
{
	(void)params;
	return msgpack_pack_nil(wspool_result(call));
}

/* defer_ctx(n): register n "ctx" cleanups with args 0..n-1; answer n. */
static int
bad_defer_ctx(wspool_call *call, const msgpack_object_array *params)
{
	uint64_t n;

	if (wspool_uint64(&params->ptr[0], &n) != WSPOOL_OK)
		return wspool_fail(call, 400, "n");
	for (uint64_t i = 0; i < n; i++) {
		msgpack_pack_uint64(wspool_defer_begin(call,
		    &bad_cleanups[BAD_CTX]), i);
		if (wspool_defer_end(call) != WSPOOL_OK)
			return wspool_fail(call, 503, "not registered");
	}
	return msgpack_pack_uint64(wspool_result(call), n);
}

/*
 * defer_odd(): what wspool_defer_end says to a copy of an entry, to
 * nothing packed (nil: registered), to two values, to an end without a
 * begin; answers the four results.
 */
static int
bad_defer_odd(wspool_call *call, const msgpack_object_array *params)
{
	struct wspool_cleanup copy = bad_cleanups[BAD_CTX];
	msgpack_packer *pk = wspool_result(call);
	int rv[4];

	(void)params;
	msgpack_pack_int(wspool_defer_begin(call, &copy), 1);
	rv[0] = wspool_defer_end(call);
	wspool_defer_begin(call, &bad_cleanups[BAD_CTX]);
	rv[1] = wspool_defer_end(call);
	pk = wspool_defer_begin(call, &bad_cleanups[BAD_CTX]);
	msgpack_pack_int(pk, 1);
	msgpack_pack_int(pk, 2);
	rv[2] = wspool_defer_end(call);
	rv[3] = wspool_defer_end(call);
	pk = wspool_result(call);
	msgpack_pack_array(pk, 4);
	for (int i = 0; i < 4; i++)
		msgpack_pack_int(pk, rv[i]);
	return WSPOOL_OK;
}

/* defer_legacy(): wspool_defer by name, known and unknown. */
static int
bad_defer_legacy(wspool_call *call, const msgpack_object_array *params)
{
	msgpack_object arg = { .type = MSGPACK_OBJECT_BOOLEAN };
	msgpack_packer *pk = wspool_result(call);
	int known, unknown;

	(void)params;
	arg.via.boolean = true;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	known = wspool_defer(call, "legacy", &arg);
	unknown = wspool_defer(call, "nope", NULL);
#pragma GCC diagnostic pop
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, known);
	msgpack_pack_int(pk, unknown);
	return WSPOOL_OK;
}

/* log(): one line of each kind. */
static int
bad_log(wspool_call *call, const msgpack_object_array *params)
{
	(void)params;
	wspool_log(call, WSPOOL_LOG_WARN, "hello %d", 42);
	wspool_log(call, 9, "two\nlines\tin one");
	wspool_log(NULL, WSPOOL_LOG_ERROR, "about no call");
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

static const struct wspool_param bad_n_params[] = {
	{ .name = "n", .type = WSPOOL_T_UINT },
};
static const struct wspool_schema bad_n_schema = { bad_n_params, 1, false };
/* A TypeScript type that would add a param to the generated signature. */
static const struct wspool_param bad_ts_params[] = {
	{ .name = "n", .type = WSPOOL_T_UINT, .ts_type = "number, x: string" },
};
static const struct wspool_schema bad_ts_schema = { bad_ts_params, 1, false };

#define BAD_ROUTE(n, fn, ...) { .protocol = WSPOOL_WS, \
	.pattern = WSPOOL_REQUEST, .name = (n), .handler = (fn), __VA_ARGS__ }

/* Not const: the constructor below breaks it. */
static struct wspool_route bad_routes[] = {
	BAD_ROUTE("one", bad_handler),
	BAD_ROUTE("two", bad_handler),
	BAD_ROUTE("defer_ctx", bad_defer_ctx, .schema = &bad_n_schema),
	BAD_ROUTE("defer_odd", bad_defer_odd),
	BAD_ROUTE("defer_legacy", bad_defer_legacy),
	BAD_ROUTE("log", bad_log, .idempotent = true),
};

struct wspool_module wspool_module = {
	.abi_version = WSPOOL_ABI_VERSION,
	.name = "bad",
	.routes = bad_routes,
	.nroutes = WSPOOL_ARRAY_LEN(bad_routes),
	.cleanups = bad_cleanups,
	.ncleanups = WSPOOL_ARRAY_LEN(bad_cleanups),
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
	else if (strcmp(how, "cleanup") == 0)
		bad_cleanups[BAD_LEGACY].fn = NULL;
	else if (strcmp(how, "cleanup_name") == 0)
		bad_cleanups[BAD_LEGACY].name = "ctx";
	else if (strcmp(how, "result_type") == 0)
		bad_routes[0].result_type = "{a: number";
	else if (strcmp(how, "ts_type") == 0)
		bad_routes[2].schema = &bad_ts_schema;
}
