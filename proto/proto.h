/*
 * proto.h: every message between wspool-master and wspool-worker, and the
 * one codec both sides use.
 *
 * Framing: one nng message carries a batch. Its body is a concatenation of
 * msgpack objects: first the protocol version (positive integer), then one
 * or more envelopes. An envelope is a msgpack array whose first element is
 * the message type; the other elements are positional, as listed below.
 * Values travel as msgpack *bin*, so the envelope stays parseable whatever
 * they hold, and each is read only by whoever consumes it. What the client
 * sees (params, results, chunks, error data) is JSON text: the master
 * forwards the params as the client sent them and frames the worker's
 * text without parsing it (the workers convert, the master routes). What
 * only the two sides see (cleanup args, reasons) is one packed msgpack
 * value.
 *
 * Bump PROTO_VERSION when any of these change.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define PROTO_VERSION 4

/* Largest value one envelope carries (params, a result, an argument). */
#define PROTO_MAX_MSG (64u * 1024 * 1024)
/* Largest nng message either side accepts (NNG_OPT_RECVMAXSZ, and the
 * reader's check): one envelope of the largest value fits, with room for
 * its other fields and a CONN_OPEN before it. Senders close their batches
 * well before this. */
#define PROTO_MAX_BATCH (PROTO_MAX_MSG + 1024u * 1024)
/* Largest string field (route, message, name, header...). */
#define PROTO_MAX_STR (64u * 1024)

enum proto_type {
	/* 1-31: master -> worker */
	PROTO_CALL = 1,       /* [1, call_id, conn_id, route, params:bin, id:str|nil,
	                         flags]: params the JSON text of the params array as
	                         the client sent it (empty: none, i.e. []); id the
	                         client's id as canonical JSON text, nil for a
	                         notification */
	PROTO_CANCEL = 2,     /* [2, call_id, reason:bin] */
	PROTO_CONN_OPEN = 3,  /* [3, conn_id, uuid, ip, headers:map str->str] */
	PROTO_CONN_CLOSE = 4, /* [4, conn_id] */
	PROTO_DEFER_ACK = 5,  /* [5, call_id, seq]; seq PROTO_ANSWER_ACK: the master
	                         has the call's terminal reply (sent for calls with
	                         cleanups, which run only after it); seq with
	                         PROTO_DONE_ACK set: it has CLEANUP_DONE(seq), so the
	                         next cleanup may run */
	PROTO_CLEANUP = 6,    /* [6, cleanup_id, call_id, seq, attempt, route, name,
	                         arg:bin, reason:bin]: run a cleanup handed over from
	                         another worker; call_id and seq name it stably
	                         (an idempotency key), attempt counts from 1 */
	PROTO_DRAIN = 7,      /* [7]: finish what you have, take nothing new, exit */
	PROTO_CREDIT = 8,     /* [8, call_id, bytes]: the subscription call_id may
	                         send bytes more of chunks (flow control: each
	                         starts with PROTO_CREDIT_WINDOW; a chunk costs
	                         PROTO_CHUNK_COST of its value) */

	/* 32-63: worker -> master */
	PROTO_READY = 32,     /* [32, pid, host, module, routes:[[name, pattern, timeout_ms,
	                         flags]...], cleanups:[name...], threads, waiting];
	                         route flags: PROTO_ROUTE_IDEMPOTENT; threads: the
	                         most handler threads it runs, waiting: the calls
	                         it takes beyond them (queued for a thread): the
	                         master sends it at most threads + waiting calls */
	PROTO_RESULT = 33,    /* [33, call_id, value:bin]  value: JSON text */
	PROTO_CHUNK = 34,     /* [34, call_id, value:bin|nil]  JSON text; nil:
	                         undefined chunk */
	PROTO_END = 35,       /* [35, call_id]  subscription close / notification done */
	PROTO_ERROR = 36,     /* [36, call_id, code, message, data:bin|nil]  data:
	                         JSON text */
	PROTO_DEFER = 37,     /* [37, call_id, seq, name, arg:bin] */
	PROTO_CLEANUP_DONE = 38, /* [38, id, seq, ok:bool, message]: id is a call_id (seq = defer seq)
	                         or, for PROTO_CLEANUP runs, the cleanup_id (seq 0) */
	PROTO_LOG = 39,       /* [39, call_id, level, text] a line for the master's log
	                         (wspool_log); call_id 0: not about a call */

	/* 64-71: joining, on the master's registry socket (req/rep) */
	PROTO_HELLO = 64,     /* [64, pid, host, digest]  worker -> master; digest: the
	                         module's (hex SHA-256 of its ABI, routes, cleanups) */
	PROTO_WELCOME = 65,   /* [65, address, node, timeout_ms]  master -> worker:
	                         dial this pair1 address; node: the master's node name
	                         (cleanup keys); either side that hears nothing for
	                         timeout_ms declares the other lost (0: never) */
	PROTO_REFUSE = 66,    /* [66, reason]     master -> worker: not joined, and why */

	/* 72-79: both ways, on a worker's link */
	PROTO_HEARTBEAT = 72, /* [72]  sent on a link idle for a third of the timeout */
};

#define PROTO_ANSWER_ACK UINT64_MAX
/* DEFER_ACK with seq | PROTO_DONE_ACK: the master has CLEANUP_DONE(seq). */
#define PROTO_DONE_ACK (UINT64_C(1) << 63)
/* DEFER_ACK with seq | PROTO_DEFER_NACK: DEFER(seq) was refused (the
 * journal could not make it durable): it is not registered. */
#define PROTO_DEFER_NACK (UINT64_C(1) << 62)

/*
 * Flow control of subscriptions (the master's --max-client-backlog). A
 * subscription starts with PROTO_CREDIT_WINDOW bytes of credit; each chunk
 * takes PROTO_CHUNK_COST(len, id_len) of it (len: its value's bytes, 0
 * for an undefined chunk; id_len: the client id's text), and the worker
 * sends a chunk only while the credit is positive (so it may overshoot by
 * one chunk). The master gives back what its chunks cost with CREDIT as
 * they reach a connection under its budget. The cost is at least what the
 * chunk takes on the wire ({"id":ID,"result":VALUE} in a frame: 17 bytes
 * of JSON and at most 10 of frame header besides the value and the id),
 * so a window bounds the bytes a client may be sent, not a guess of them.
 */
#define PROTO_CREDIT_WINDOW (64u * 1024)
#define PROTO_CHUNK_COST(len, id_len) \
	((uint64_t)(len) + (uint64_t)(id_len) + 32u)

/* READY route flags */
#define PROTO_ROUTE_IDEMPOTENT 0x1 /* may run again after a neighbour's crash */

/* PROTO_CALL flags */
#define PROTO_CALL_NOTIFY 0x1 /* a notification: no answer goes to the client */

/* A borrowed byte range inside the decoded nng message. */
struct proto_bytes {
	const char *ptr;
	size_t len;
};

/*
 * One decoded envelope. Every pointer borrows from the buffer given to
 * proto_reader_init and from the reader's msgpack zone: valid until the
 * next proto_reader_next() or proto_reader_fini(). Fields a type does not
 * carry are zero; fields it carries are never NULL, even when empty. For
 * optional bin values, has_value says whether it was present (bin) or nil.
 */
struct proto_msg {
	enum proto_type type;
	uint64_t id;            /* call_id, conn_id (CONN_*), cleanup_id (CLEANUP) */
	uint64_t conn_id;       /* CALL */
	uint64_t call_id;       /* CLEANUP: the call the cleanup belongs to; LOG: the
	                           call it is about, or 0 */
	uint64_t seq;           /* DEFER, DEFER_ACK, CLEANUP_DONE, CLEANUP;
	                           CREDIT: bytes; READY: threads */
	int64_t num;            /* READY: pid; ERROR: code; LOG: level; CLEANUP: attempt */
	uint64_t flags;         /* CALL: flags; CLEANUP_DONE: ok (1/0); READY:
	                           waiting */
	struct proto_bytes str;  /* CALL, CLEANUP: route; ERROR, CLEANUP_DONE: message;
	                            READY: host; CONN_OPEN: uuid; DEFER: name; LOG: text */
	struct proto_bytes str2; /* CONN_OPEN: ip; CLEANUP: name; READY: module;
	                            CALL: the client's id text ("" when nil) */
	                         /* HELLO: pid in num, host in str, digest in str2;
	                            WELCOME: address in str, node in str2, timeout_ms
	                            in num; REFUSE: reason in str */
	struct proto_bytes value; /* CALL: params; RESULT, CHUNK: value; ERROR: data;
	                             DEFER, CLEANUP: arg; CANCEL: reason */
	int has_value;
	struct proto_bytes value2; /* CLEANUP: reason */
	const msgpack_object *obj; /* CONN_OPEN: headers (map); READY: routes (array) */
	const msgpack_object *obj2; /* READY: cleanups (array of str) */
	/* obj and obj2 are checked (str <= PROTO_MAX_STR, routes as below);
	 * an empty str inside
	 * them may have a NULL ptr (msgpack-c's way). A route entry is [str,
	 * pattern <= INT_MAX, timeout_ms <= UINT32_MAX, flags <= UINT32_MAX]. */
};

/* ---- Reading ---------------------------------------------------------------- */

struct proto_reader {
	const char *buf;
	size_t len;
	size_t off;
	msgpack_unpacked unpacked; /* zone: one for the whole message, cleared
	                              between envelopes; data: the envelope */
	const char *error;      /* why the last call failed, static string */
	int slow;               /* tests: always take msgpack-c's path */
};

/*
 * Start reading one nng message body. Checks the version, and that at
 * least one envelope follows it. Returns 0, or -1 with r->error set (the
 * reader still needs proto_reader_fini).
 */
int proto_reader_init(struct proto_reader *r, const void *buf, size_t len);

/*
 * Decode the next envelope into *m. Returns 1 for an envelope, 0 at the
 * clean end of the message, -1 on anything malformed (truncated, wrong
 * types, unknown type, oversized string, trailing garbage) with r->error
 * set. After -1 the rest of the message must be dropped: a peer that sends
 * garbage is not trusted.
 */
int proto_reader_next(struct proto_reader *r, struct proto_msg *m);

void proto_reader_fini(struct proto_reader *r);

/*
 * Validate that a bin value holds exactly one msgpack value, and unpack it
 * into *out using zone (caller's; its str and bin borrow from b). Returns
 * 0, or -1 (*out nil) for no value, two values, a truncated or invalid
 * one, or one nested deeper than msgpack-c allows (32 levels).
 */
int proto_unpack_value(const struct proto_bytes *b, msgpack_zone *zone,
    msgpack_object *out);

/* ---- Writing ---------------------------------------------------------------- */

/*
 * A batch being built. The packer writes through the caller's callback
 * (msgpack_sbuffer_write, or an nng_msg append) so the batch is packed in
 * place, with no copy. proto_writer_init packs the version; each put
 * appends one envelope. count says how many envelopes are in the batch.
 * The put functions return the callback's result (0 on success).
 *
 * Limits are checked before anything is packed: an identifier string
 * (route, name, host, module, uuid, ip, header, address) longer than
 * PROTO_MAX_STR, a value longer than PROTO_MAX_MSG or a negative pid makes
 * the put return -1 and leaves the batch as it was (error not set, count
 * unchanged). Human-readable text (error and cleanup_done message, log
 * text) is instead cut to PROTO_MAX_STR on a UTF-8 boundary. NULL strings
 * are sent as "".
 */
struct proto_writer {
	msgpack_packer pk;
	unsigned count;
	int error;             /* sticky: first non-zero callback result */
	/* Optional (proto_writer_direct): room for n bytes at the end of
	 * the batch, counted as written, or NULL. The envelopes of every
	 * call (CALL, RESULT, CHUNK, ERROR) are then encoded straight into
	 * it, not field by field through the packer. */
	void *(*reserve)(void *data, size_t n);
};

int proto_writer_init(struct proto_writer *w, void *data,
    msgpack_packer_write write);
/* After proto_writer_init: the sink can also hand out room (above). */
void proto_writer_direct(struct proto_writer *w,
    void *(*reserve)(void *data, size_t n));

/* Values (bin) are given as already encoded bytes: JSON text for params,
 * results, chunks and error data, one packed msgpack value for the others.
 * CALL: id NULL sends nil (a notification). */
int proto_put_call(struct proto_writer *w, uint64_t call_id, uint64_t conn_id,
    const char *route, size_t route_len, const void *params, size_t params_len,
    const char *id, size_t id_len, uint64_t flags);
int proto_put_cancel(struct proto_writer *w, uint64_t call_id,
    const void *reason, size_t reason_len);
/* headers: n pairs of lower-case name and value, NUL-terminated strings. */
int proto_put_conn_open(struct proto_writer *w, uint64_t conn_id,
    const char *uuid, const char *ip, const char *const *names,
    const char *const *values, size_t n);
int proto_put_conn_close(struct proto_writer *w, uint64_t conn_id);
int proto_put_defer_ack(struct proto_writer *w, uint64_t call_id, uint64_t seq);
int proto_put_cleanup(struct proto_writer *w, uint64_t cleanup_id,
    uint64_t call_id, uint64_t seq, uint64_t attempt, const char *route, const char *name, const void *arg, size_t arg_len,
    const void *reason, size_t reason_len);
int proto_put_drain(struct proto_writer *w);
int proto_put_credit(struct proto_writer *w, uint64_t call_id, uint64_t bytes);

/* routes: n entries of name, pattern (enum wspool_pattern), timeout_ms,
 * flags (PROTO_ROUTE_*). */
struct proto_route_info {
	const char *name;
	int pattern;
	uint32_t timeout_ms;
	uint32_t flags;
};
int proto_put_ready(struct proto_writer *w, int64_t pid, const char *host,
    const char *module, const struct proto_route_info *routes, size_t nroutes,
    const char *const *cleanups, size_t ncleanups, uint64_t threads,
    uint64_t waiting);
int proto_put_result(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len);
/* value NULL: an undefined chunk. */
int proto_put_chunk(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len);
int proto_put_end(struct proto_writer *w, uint64_t call_id);
/* data NULL: no error data. */
int proto_put_error(struct proto_writer *w, uint64_t call_id, int code,
    const char *message, const void *data, size_t data_len);
int proto_put_defer(struct proto_writer *w, uint64_t call_id, uint64_t seq,
    const char *name, const void *arg, size_t arg_len);
int proto_put_cleanup_done(struct proto_writer *w, uint64_t id, uint64_t seq,
    int ok, const char *message);
int proto_put_log(struct proto_writer *w, uint64_t call_id, int level,
    const char *text);
int proto_put_hello(struct proto_writer *w, int64_t pid, const char *host,
    const char *digest);
int proto_put_welcome(struct proto_writer *w, const char *address,
    const char *node, uint64_t timeout_ms);
int proto_put_refuse(struct proto_writer *w, const char *reason);
int proto_put_heartbeat(struct proto_writer *w);

/* ---- Reasons (proto/reason.c) ------------------------------------------------
 * A reason travels as one msgpack value, the same shape as its JSON form in
 * the wire protocol: nil for a normal end, else a map {"kind": "crashed",
 * "signal": "SIGSEGV", "worker": {"pid": 12, "host": "h"}} (error: "code",
 * "message"; crashed by exit: "status"). Keys are emitted in that order.
 */
struct wspool_reason;
int proto_pack_reason(msgpack_packer *pk, const struct wspool_reason *r);
/*
 * Decode a reason (nil or the map above) into *r. Its strings are copied,
 * NUL-terminated, into buf (bufsz bytes), which must outlive *r: a buffer
 * as large as the packed reason always suffices, as every str takes at
 * least one header byte. Returns 0, or -1 for a malformed reason (unknown
 * kind or key, a key the kind does not carry, a missing one, wrong types,
 * both "signal" and "status", a NUL inside a string) or a buffer too
 * small; *r is then a NONE reason. Unpack a bin first (proto_unpack_value).
 */
int proto_unpack_reason(const msgpack_object *o, struct wspool_reason *r,
    char *buf, size_t bufsz);

/* Name of a message type for logs ("call", "result", ...), "?" if unknown. */
const char *proto_type_name(int type);

#endif /* PROTO_H */
