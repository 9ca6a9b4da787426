/*
 * wspool.h: the handler API. The only header a route module includes.
 *
 * A route module is a shared object that defines one symbol,
 * `wspool_module` (use WSPOOL_MODULE below), listing its routes and its
 * cleanups. wspool-worker loads it with dlopen, checks abi_version, and
 * runs its handlers on a few threads, several calls at once.
 *
 * Values are msgpack: handlers read params as msgpack_object (msgpack-c)
 * and pack results, chunks, error data and cleanup arguments with a
 * msgpack_packer. The worker converts them from and to the client's JSON
 * (wspool(3) says how); the master only checks and frames the text.
 *
 * Contracts that hold for every function below unless it says otherwise:
 * - Threads: a function taking a wspool_call must be called from the
 *   thread running that call's handler (or middleware), while it runs.
 *   Pointers it returns (packers, strings) stay valid until the handler
 *   returns; the caller frees nothing.
 * - Where: handlers and middlewares may call everything. A cleanup has no
 *   call: it may call wspool_log (with call NULL), wspool_now_ms, the
 *   number helpers and the reason helpers, nothing else. The module's
 *   init and fini may call the same as a cleanup.
 * - Blocking: only wspool_sleep, wspool_defer_end (and wspool_defer) wait
 *   on purpose, each for a bounded time stated below. Everything that
 *   sends to the master (yield, defer, log, the answer) may also wait while
 *   more than 32 MiB of output is queued for the master, until it reads.
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

/*
 * Bump when struct wspool_module, wspool_route, wspool_cleanup or any
 * prototype changes. 2: cleanup contexts and .run, wspool_defer_begin/end,
 * wspool_log, wspool_int64/uint64, WSPOOL_T_UINT, routes' idempotent and
 * result_type, params' ts_type.
 */
#define WSPOOL_ABI_VERSION 2

/* Return values of handlers, middlewares, cleanups and API functions. */
#define WSPOOL_OK        0
#define WSPOOL_ERROR    -1 /* failed: each function says what it means */
#define WSPOOL_CANCELLED -2 /* the call was cancelled: stop and return */

#if defined(__GNUC__)
#define WSPOOL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define WSPOOL_DEPRECATED(why) __attribute__((deprecated(why)))
#else
#define WSPOOL_PRINTF(f, a)
#define WSPOOL_DEPRECATED(why)
#endif

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

/*
 * Types for the params schema. JSON has one number type: a client's 2 may
 * arrive as a msgpack integer or as the float 2.0, so the integer types
 * accept integral floats too. Read numbers with the helpers at the end of
 * this header, which agree with these checks.
 */
enum wspool_type {
	WSPOOL_T_ANY = 0,
	WSPOOL_T_NULL,
	WSPOOL_T_BOOL,
	WSPOOL_T_NUMBER,  /* any number: read it with wspool_number() */
	WSPOOL_T_INTEGER, /* an integer, of any sign and size (or an integral
	                     float within int64): wspool_int64() reads every
	                     one but the integers above INT64_MAX */
	WSPOOL_T_STRING,
	WSPOOL_T_ARRAY,
	WSPOOL_T_OBJECT,
	WSPOOL_T_UINT,    /* a non-negative integer up to UINT64_MAX (or an
	                     integral float in that range): wspool_uint64()
	                     reads every value that passed */
};

/*
 * Type expressions: generated client definitions (wspool-master
 * --emit-routes ts) describe params and results in TypeScript, and a
 * module may say more than the schema's types can with a TypeScript type
 * expression, copied into them as written: "number", "string[]",
 * "{count: number, timestamp: number}", "\"asc\" | \"desc\"". Nothing
 * checks values against them at run time. One line of printable text, at
 * most WSPOOL_TYPE_MAX bytes, brackets and quotes balanced (the module is
 * refused otherwise).
 */
#define WSPOOL_TYPE_MAX 4096

/* One positional parameter. Optional ones must follow required ones. */
struct wspool_param {
	const char *name;      /* for documentation and error messages */
	enum wspool_type type;
	bool optional;         /* may be absent (a present null is checked) */
	bool nullable;         /* null is accepted besides `type` */
	/* Its type in generated client definitions, narrower than `type`
	 * (say "\"asc\" | \"desc\"" for a WSPOOL_T_STRING). NULL: from type
	 * (number, string, boolean, unknown[], Record<string, unknown>...). */
	const char *ts_type;
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
 * Returning WSPOOL_CANCELLED once the call is cancelled ends it as
 * cancelled; any other value without wspool_fail answers 500.
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
	/*
	 * The call may run twice with no harm: it changes nothing, or changes
	 * it the same way twice. When another call crashes the worker it runs
	 * on, an idempotent call runs again on another worker (once), and its
	 * client never sees the crash; a call of another route fails with 502
	 * like the culprit (docs/cleanups.md). A route that registers cleanups
	 * is not idempotent (a second run registers them again, under a new
	 * call id).
	 */
	bool idempotent;
	/*
	 * What a request answers, or what each chunk of a subscription is, as
	 * a type expression (above) for generated client definitions:
	 * "number", "{count: number, timestamp: number}". NULL: unknown.
	 * Ignored for notifications, which answer nothing.
	 */
	const char *result_type;
};

/* ---- Reasons: why a call ended. ---------------------------------------
 * The reason is given to cleanups and, as JSON, to the client in error
 * data. See the wire protocol's Reasons section.
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

/* The reason kind's wire name ("error", "cancelled", ...); "null" for NONE.
 * A static string. */
const char *wspool_reason_name(enum wspool_reason_kind kind);

/*
 * Pack a reason as one msgpack value in its wire form: nil for NONE, else
 * a map {"kind": ..., plus "code"/"message", "signal" or "status",
 * "worker": {"pid", "host"} as the kind has them}. Returns WSPOOL_OK, or
 * WSPOOL_ERROR when the packer's write failed.
 */
int wspool_pack_reason(msgpack_packer *pk, const struct wspool_reason *r);

/* ---- Cleanups -------------------------------------------------------------
 * A cleanup is a function in the module's cleanup table, so that any
 * worker, not only the one that ran the call, can run it. A handler
 * registers one with wspool_defer_begin/end; it runs once the call has
 * ended, however it ended (even when the worker crashed: then on another
 * worker), and gets the reason. Cleanups run at least once: use the
 * context's key to make them idempotent (docs/cleanups.md).
 */

/* The longest key, its NUL included. */
#define WSPOOL_CLEANUP_KEY_MAX 128

/*
 * What a cleanup knows of its registration. Valid while the cleanup runs;
 * copy what you keep. Fields may be added at the end in later releases.
 */
struct wspool_cleanup_ctx {
	/* The call that registered it: the same on every worker that runs
	 * it (the master's call id, also in its log lines; unique across the
	 * master's restarts). */
	uint64_t call_id;
	/* Which of the call's registrations: 0 for its first wspool_defer_end,
	 * then 1, 2... (a registration that failed may leave a gap). */
	uint64_t index;
	/*
	 * THE idempotency key: an opaque string of printable ASCII, shorter
	 * than WSPOOL_CLEANUP_KEY_MAX, unique per registration and the same
	 * on every run of it (hand-overs and master restarts included), unique
	 * across restarts and across masters with different node names.
	 * Store it with the effect (say, in a unique column) so that a second
	 * run does nothing. Do not parse it (today "<node>:<call_id>.<index>").
	 */
	const char *key;
	const char *route;        /* the route of the call */
	const char *name;         /* the cleanup's name in the table */
	/* 1 for the first run. Higher when an earlier run crashed its
	 * worker before it could report (the master hands it over again). */
	uint32_t attempt;
	/* Why the call ended (kind NONE for a normal end). */
	const struct wspool_reason *reason;
};

/*
 * A cleanup: ctx as above, arg the value packed at registration (nil if
 * none). Return WSPOOL_OK, or WSPOOL_ERROR when it failed: the master
 * logs it, and other cleanups of the call still run. Not retried.
 */
typedef int (*wspool_cleanup_run_fn)(const struct wspool_cleanup_ctx *ctx,
    const msgpack_object *arg);

/* Deprecated (ABI 1): a cleanup that only gets the reason. */
typedef int (*wspool_cleanup_fn)(const struct wspool_reason *reason,
    const msgpack_object *arg);

struct wspool_cleanup {
	const char *name;         /* unique in the table; sent to the master */
	wspool_cleanup_fn fn;     /* deprecated: set run instead */
	wspool_cleanup_run_fn run; /* used when set, else fn */
};

/*
 * Register a cleanup for this call, in two steps like a yield:
 *
 *	msgpack_packer *pk = wspool_defer_begin(call, &cleanups[RELEASE]);
 *	msgpack_pack_int64(pk, seat);
 *	if (wspool_defer_end(call) != WSPOOL_OK)
 *		return wspool_fail(call, 503, "Cannot register the cleanup");
 *
 * cleanup is an entry of the module's cleanup table (a pointer into the
 * table, not a copy). Pack exactly one value into the returned packer, the
 * cleanup's argument; nothing packed means nil. wspool_defer_begin never
 * returns NULL; an entry not in the table is refused by wspool_defer_end
 * at once, without waiting. A second begin before end starts over.
 *
 * wspool_defer_end returns:
 * - WSPOOL_OK: the master has journaled the registration; from now on the
 *   cleanup runs once the call ends, even if this worker dies on the next
 *   instruction.
 * - WSPOOL_ERROR: not registered; this cleanup will not run (logged). The
 *   call goes on: fail it or carry on without the cleanup. Causes: an
 *   entry not in the table, no value or more than one packed, an argument
 *   over about 63 MiB, end without begin, the master gone or shutting the
 *   worker down, or no acknowledgement within WSPOOL_DEFER_TIMEOUT_MS (the
 *   registration is then withdrawn; only a crash of this worker in the
 *   instant before the withdrawal reaches the master could still run it).
 * It blocks until the master acknowledges, one round trip to it, at most
 * WSPOOL_DEFER_TIMEOUT_MS (10 s); cancelling the call does not cut the
 * wait short.
 */
#define WSPOOL_DEFER_TIMEOUT_MS 10000
msgpack_packer *wspool_defer_begin(wspool_call *call,
    const struct wspool_cleanup *cleanup);
int wspool_defer_end(wspool_call *call);

/*
 * Deprecated (ABI 1): register the cleanup named `name` with arg (one
 * msgpack value, copied; NULL for nil). The same as wspool_defer_begin
 * with that entry, packing arg, then wspool_defer_end, whose results it
 * returns (an unknown name: WSPOOL_ERROR at once).
 */
int wspool_defer(wspool_call *call, const char *name,
    const msgpack_object *arg)
    WSPOOL_DEPRECATED("use wspool_defer_begin and wspool_defer_end");

/* ---- The module ------------------------------------------------------ */
struct wspool_module {
	uint32_t abi_version;   /* WSPOOL_ABI_VERSION */
	const char *name;
	const struct wspool_route *routes;
	size_t nroutes;
	const struct wspool_cleanup *cleanups;
	size_t ncleanups;
	/* Optional: run once per worker process after load / before exit, on
	 * the main thread, while no call runs. init returning non-zero makes
	 * the worker refuse to start. */
	int (*init)(void);
	void (*fini)(void);
};

/* Define the module: WSPOOL_MODULE(.name = "app", .routes = r, ...). */
#define WSPOOL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WSPOOL_MODULE(...) \
	const struct wspool_module wspool_module = { \
		.abi_version = WSPOOL_ABI_VERSION, __VA_ARGS__ }

/* ---- Answering ------------------------------------------------------- */

/* The packer for a request's result: pack exactly one value. Never NULL. */
msgpack_packer *wspool_result(wspool_call *call);

/*
 * Yield one subscription chunk: pack exactly one value into the packer
 * returned by wspool_yield_begin (never NULL), then call wspool_yield_end
 * (nothing packed: a null chunk). Flow control: it blocks while the
 * subscription's chunks not yet read by the client exceed its window
 * (the master's --stream-window, 64 KiB by default, beyond its
 * --max-client-backlog), until the client reads or the call is cancelled
 * (a cancel, its deadline, a disconnect or a lost master wakes it); and,
 * like every send, while the worker's output queue is full. Returns
 * WSPOOL_OK; WSPOOL_CANCELLED when the call was cancelled or the master is
 * gone (the chunk is dropped; return); WSPOOL_ERROR when the route is no
 * subscription, or the chunk is larger than about 63 MiB (the call has
 * then failed with 500: return).
 */
msgpack_packer *wspool_yield_begin(wspool_call *call);
int wspool_yield_end(wspool_call *call);

/* Yield a chunk whose value is undefined (the client gets {"id": n}).
 * Returns as wspool_yield_end. */
int wspool_yield_undefined(wspool_call *call);

/*
 * Fail the call with an error code (400-599; anything else becomes 500)
 * and message (copied; NULL: "Internal Server Error"; cut at 64 KiB).
 * Returns WSPOOL_ERROR so a handler can `return wspool_fail(...)`. To add
 * error data, pack one value into wspool_fail_data(call) after it (never
 * NULL; each call of either starts the data over).
 */
int wspool_fail(wspool_call *call, int code, const char *message);
msgpack_packer *wspool_fail_data(wspool_call *call);

/* ---- Context --------------------------------------------------------- */

/* The client connection's id: a UUID v4 string, 36 chars ("" when the
 * connection closed before the call started). */
const char *wspool_conn_id(const wspool_call *call);
/* The client's IP address as text (no port); "" as above. */
const char *wspool_client_ip(const wspool_call *call);
/* The route name of this call. */
const char *wspool_route_name(const wspool_call *call);
/* A header of the WebSocket upgrade request, by name (case-insensitive),
 * or NULL. */
const char *wspool_header(const wspool_call *call, const char *name);
/* Number of upgrade request headers, and the i-th (lower-case name):
 * WSPOOL_OK, or WSPOOL_ERROR for i out of range. name or value may be
 * NULL. */
size_t wspool_header_count(const wspool_call *call);
int wspool_header_at(const wspool_call *call, size_t i, const char **name,
    const char **value);

/* True once the call is cancelled (client .cancel, disconnect, deadline,
 * shutdown). Takes no lock. At a deadline the handler has the master's
 * --deadline-grace (1 s by default) to return before its worker is
 * killed: long loops should look. */
bool wspool_cancelled(const wspool_call *call);

/*
 * Sleep ms milliseconds, or less if the call is cancelled meanwhile.
 * Returns WSPOOL_OK after the full wait, WSPOOL_CANCELLED early (or at
 * once when already cancelled).
 */
int wspool_sleep(wspool_call *call, uint64_t ms);

/* Milliseconds since the Unix epoch (realtime clock). */
uint64_t wspool_now_ms(void);

/* ---- Logging --------------------------------------------------------- */

/* Levels of wspool_log, the master's --log-level names. */
enum wspool_log_level {
	WSPOOL_LOG_ERROR = 0,
	WSPOOL_LOG_WARN = 1,
	WSPOOL_LOG_INFO = 2,
	WSPOOL_LOG_DEBUG = 3,
};

/*
 * Write one line to the master's log, which adds the time, the level, the
 * worker's pid and, when call is not NULL, the call id and route:
 *   ... info master[12]: worker=34 call=56 route=book: seat 7 held
 * call NULL: a line about no call (from init, fini or a cleanup; from a
 * cleanup the line still carries its call id). The master drops lines
 * below its --log-level, after the line has travelled there.
 * Control characters become spaces; lines are cut at about 2 KiB. When
 * there is no master to tell (in init and fini, or once it is gone), the
 * line goes to the worker's stderr in the same format. Does not wait for
 * the master; like every send, it may wait for room in the output queue.
 */
void wspool_log(wspool_call *call, int level, const char *fmt, ...)
    WSPOOL_PRINTF(3, 4);

/* ---- Numbers --------------------------------------------------------- */

/*
 * The value of a msgpack number (positive or negative integer, float32 or
 * float64) as a double; 0.0 for anything else. Large integers lose
 * precision: use it where either an integer or a float is fine
 * (WSPOOL_T_NUMBER).
 */
double wspool_number(const msgpack_object *o);

/*
 * An integer value that fits: a msgpack integer, or a float with no
 * fractional part (JSON's 2.0 is 2), within int64_t (wspool_int64) or
 * uint64_t (wspool_uint64, so never negative). Stores it in *v and returns
 * WSPOOL_OK; anything else (another type, a fraction, NaN, out of range,
 * o NULL) returns WSPOOL_ERROR and leaves *v alone.
 */
int wspool_int64(const msgpack_object *o, int64_t *v);
int wspool_uint64(const msgpack_object *o, uint64_t *v);

#ifdef __cplusplus
}
#endif
#endif /* WSPOOL_H */
