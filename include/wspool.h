/*
 * wspool.h: the handler API. The only header a route module includes.
 *
 * A route module is a shared object that defines one symbol,
 * `wspool_module` (use WSPOOL_MODULE below), listing its routes and its
 * named cleanups. wspool-worker loads it with dlopen, checks abi_version,
 * and runs its handlers on a few threads, several calls at once.
 *
 * Values are msgpack: handlers read params as msgpack_object (msgpack-c)
 * and pack results, chunks and error data with a msgpack_packer. The
 * master converts them from and to the client's JSON.
 *
 * Threading: every function taking a wspool_call must be called from the
 * thread running that call's handler (or middleware), while it runs. The
 * objects it returns stay valid until the handler returns.
 */
#ifndef WSPOOL_H
#define WSPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump when struct wspool_module, wspool_route or any prototype changes. */
#define WSPOOL_ABI_VERSION 1

/* Return values of handlers, middlewares, cleanups and API functions. */
#define WSPOOL_OK        0
#define WSPOOL_ERROR    -1 /* the call failed: see wspool_fail() */
#define WSPOOL_CANCELLED -2 /* the call was cancelled: stop and return */

typedef struct wspool_call wspool_call;

/* How a route is called; the pattern decides what the client gets. */
enum wspool_protocol {
	WSPOOL_WS = 1, /* WebSocket, alien-rpc message protocol */
};

enum wspool_pattern {
	WSPOOL_REQUEST = 1,      /* one result or one error */
	WSPOOL_SUBSCRIPTION = 2, /* chunks (wspool_yield...), then close */
	WSPOOL_NOTIFICATION = 3, /* called without id, never answered */
};

/* Types for the params schema. */
enum wspool_type {
	WSPOOL_T_ANY = 0,
	WSPOOL_T_NULL,
	WSPOOL_T_BOOL,
	WSPOOL_T_NUMBER,  /* integer or float */
	WSPOOL_T_INTEGER,
	WSPOOL_T_STRING,
	WSPOOL_T_ARRAY,
	WSPOOL_T_OBJECT,
};

/* One positional parameter. Optional ones must follow required ones. */
struct wspool_param {
	const char *name;      /* for documentation and error messages */
	enum wspool_type type;
	bool optional;         /* may be absent (a present null is checked) */
	bool nullable;         /* null is accepted besides `type` */
};

/*
 * The declared params of a route, checked by the worker before any
 * middleware or handler runs. A violation answers 400 with data
 * {"path": "/i", "value": v}: a wrong type at index i (v the value), a
 * missing param (its index, v null), an extra one (the first extra index
 * and its value) unless `rest` is set.
 */
struct wspool_schema {
	const struct wspool_param *params;
	size_t nparams;
	bool rest;             /* accept extra params after the declared ones */
};

/*
 * A handler runs one call. params is the call's positional params (an
 * array, possibly empty), valid until the handler returns.
 *
 * Requests: pack exactly one value into wspool_result(call) and return
 * WSPOOL_OK, or return wspool_fail(...). Returning WSPOOL_OK without a
 * result answers null.
 * Subscriptions: yield chunks with wspool_yield_begin/end or
 * wspool_yield_undefined, then return WSPOOL_OK (the client gets close)
 * or fail. Stop when a yield returns WSPOOL_CANCELLED.
 * Notifications: return WSPOOL_OK; the client never sees an answer.
 */
typedef int (*wspool_handler_fn)(wspool_call *call,
    const msgpack_object_array *params);

/*
 * A middleware runs before the handler with the same call context.
 * Return WSPOOL_OK to go on, or refuse with
 * `return wspool_fail(call, 401, "Unauthorized");`.
 */
typedef int (*wspool_middleware_fn)(wspool_call *call);

struct wspool_route {
	enum wspool_protocol protocol;       /* WSPOOL_WS */
	enum wspool_pattern pattern;
	const char *name;                     /* the JSON "method" */
	wspool_handler_fn handler;
	const struct wspool_schema *schema;   /* NULL: any params */
	const wspool_middleware_fn *middlewares; /* NULL-terminated, or NULL */
	uint32_t timeout_ms;  /* 0: server default (none for subscriptions) */
};

/* ---- Reasons: why a call ended. ---------------------------------------
 * The reason is given to deferred cleanups and, as JSON, to the client in
 * error data. See the wire protocol's Reasons section.
 */
enum wspool_reason_kind {
	WSPOOL_REASON_NONE = 0,     /* normal end: JSON null */
	WSPOOL_REASON_ERROR,        /* the handler failed: code, message */
	WSPOOL_REASON_CANCELLED,    /* client sent .cancel */
	WSPOOL_REASON_DISCONNECTED, /* client connection closed */
	WSPOOL_REASON_TIMEOUT,      /* deadline passed */
	WSPOOL_REASON_CRASHED,      /* worker died: signal or exit status */
	WSPOOL_REASON_LOST,         /* remote worker stopped answering */
	WSPOOL_REASON_SHUTDOWN,     /* server shutting down */
};

struct wspool_reason {
	enum wspool_reason_kind kind;
	int code;                 /* ERROR: the error code */
	const char *message;      /* ERROR: the error message, else NULL */
	const char *signal;       /* CRASHED by a signal: "SIGSEGV", else NULL */
	int status;               /* CRASHED by exit: the exit status, else -1 */
	int64_t worker_pid;       /* CRASHED, LOST: the worker's pid, else 0 */
	const char *worker_host;  /* CRASHED, LOST: the worker's host, else NULL */
};

/* The reason kind's wire name ("error", "cancelled", ...); "null" for NONE. */
const char *wspool_reason_name(enum wspool_reason_kind kind);

/*
 * Pack a reason as one msgpack value in its wire form: nil for NONE, else
 * a map {"kind": ..., plus "code"/"message", "signal" or "status",
 * "worker": {"pid", "host"} as the kind has them}. Returns 0 or -1.
 */
int wspool_pack_reason(msgpack_packer *pk, const struct wspool_reason *r);

/* ---- Deferred cleanups -------------------------------------------------
 * A cleanup is a function the module names in its cleanup table, so any
 * worker, not only the one that ran the call, can run it. It gets the
 * call's end reason (kind NONE for a normal end) and the argument given
 * to wspool_defer. It returns WSPOOL_OK or WSPOOL_ERROR (logged). Cleanups
 * run at least once: make them idempotent.
 */
typedef int (*wspool_cleanup_fn)(const struct wspool_reason *reason,
    const msgpack_object *arg);

struct wspool_cleanup {
	const char *name;
	wspool_cleanup_fn fn;
};

/*
 * Register a cleanup for this call: `name` from the module's cleanup
 * table, `arg` one msgpack value (may be NULL for nil), copied. Returns
 * WSPOOL_OK once the master has acknowledged (journaled) it, WSPOOL_ERROR
 * for an unknown name or a lost master.
 */
int wspool_defer(wspool_call *call, const char *name,
    const msgpack_object *arg);

/* ---- The module ---------------------------------------------------------- */
struct wspool_module {
	uint32_t abi_version;   /* WSPOOL_ABI_VERSION */
	const char *name;
	const struct wspool_route *routes;
	size_t nroutes;
	const struct wspool_cleanup *cleanups;
	size_t ncleanups;
	/* Optional: run once per worker process after load / before exit.
	 * init returning non-zero makes the worker refuse to start. */
	int (*init)(void);
	void (*fini)(void);
};

/* Define the module: WSPOOL_MODULE(.name = "app", .routes = r, ...). */
#define WSPOOL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WSPOOL_MODULE(...) \
	const struct wspool_module wspool_module = { \
		.abi_version = WSPOOL_ABI_VERSION, __VA_ARGS__ }

/* ---- Answering ----------------------------------------------------------- */

/* The packer for a request's result: pack exactly one value. */
msgpack_packer *wspool_result(wspool_call *call);

/*
 * Yield one subscription chunk: pack exactly one value into the packer
 * returned by wspool_yield_begin, then call wspool_yield_end. Returns
 * WSPOOL_OK, or WSPOOL_CANCELLED when the call was cancelled (the chunk
 * is dropped; the handler should return).
 */
msgpack_packer *wspool_yield_begin(wspool_call *call);
int wspool_yield_end(wspool_call *call);

/* Yield a chunk whose value is undefined (the client gets {"id": n}). */
int wspool_yield_undefined(wspool_call *call);

/*
 * Fail the call with an error code (400-599; anything else becomes 500)
 * and message (copied). Returns WSPOOL_ERROR so a handler can
 * `return wspool_fail(...)`. To add error data, pack one value into
 * wspool_fail_data(call) after wspool_fail.
 */
int wspool_fail(wspool_call *call, int code, const char *message);
msgpack_packer *wspool_fail_data(wspool_call *call);

/* ---- Context --------------------------------------------------------------- */

/* The client connection's id: a UUID v4 string, 36 chars. */
const char *wspool_conn_id(const wspool_call *call);
/* The client's IP address as text (no port). */
const char *wspool_client_ip(const wspool_call *call);
/* The route name of this call. */
const char *wspool_route_name(const wspool_call *call);
/* A header of the WebSocket upgrade request, by lower-case name, or NULL. */
const char *wspool_header(const wspool_call *call, const char *name);
/* Number of upgrade request headers, and the i-th (lower-case name). */
size_t wspool_header_count(const wspool_call *call);
int wspool_header_at(const wspool_call *call, size_t i, const char **name,
    const char **value);

/* True once the call is cancelled (client .cancel, disconnect, deadline). */
bool wspool_cancelled(const wspool_call *call);

/*
 * Sleep ms milliseconds, or less if the call is cancelled meanwhile.
 * Returns WSPOOL_OK after the full wait, WSPOOL_CANCELLED early.
 */
int wspool_sleep(wspool_call *call, uint64_t ms);

/* Milliseconds since the Unix epoch (realtime clock). */
uint64_t wspool_now_ms(void);

/*
 * The value of a msgpack number (positive or negative integer, float32 or
 * float64) as a double; 0.0 for anything else. JSON has one number type,
 * so a param the client wrote as 2 arrives as an integer and 2.5 as a
 * float: use this where either is fine (WSPOOL_T_NUMBER).
 */
double wspool_number(const msgpack_object *o);

#ifdef __cplusplus
}
#endif
#endif /* WSPOOL_H */
