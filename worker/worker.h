/*
 * worker.h: the private interfaces between the files of wspool-worker and
 * libwspool (runtime, outbox, calls, connections, module, schema, pool).
 */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <wspool.h>

#include "proto/proto.h"

/*
 * The program: parse the command line, load the module, join the master,
 * serve until drained or orphaned. Returns the exit status. Exported (the
 * name starts with wspool_) so worker/main.c can call it.
 */
int wspool_worker_main(int argc, char **argv);

/* ---- options.c: the command line ---------------------------------------- */
struct options {
	const char *opt_address;     /* the master's registry */
	const char *opt_module;      /* MODULE.so */
	unsigned opt_threads;
	unsigned opt_max_threads;
	uint64_t opt_memory;         /* 0: no limit */
	bool opt_check;             /* --check: load the module, exit */
};

/* Returns 0 to run, 1 when done (--help, --version), 2 on bad usage
 * (already explained on stderr). */
int options_parse(int argc, char **argv, struct options *o);

/* One line "wspool-worker[PID]: ..." on stderr, written with one write(). */
void runtime_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- table.c: intrusive hash table keyed by a 64-bit id ------------------ */
struct table_node {
	uint64_t tn_key;
	struct table_node *tn_next;
};

struct table {
	struct table_node **t_buckets;
	size_t t_nbuckets;      /* a power of two, or 0 before the first put */
	size_t t_count;
};

/* Returns 0, or -1 when out of memory. Keys are not checked for unicity. */
int table_put(struct table *t, struct table_node *n);
struct table_node *table_get(const struct table *t, uint64_t key);
/* Unlink n (which must be in t). */
void table_del(struct table *t, struct table_node *n);
/* Call fn on every node; fn may not modify the table. */
void table_foreach(const struct table *t,
    void (*fn)(struct table_node *, void *), void *arg);
/* Free the buckets; the nodes are the caller's. */
void table_fini(struct table *t);

/* ---- schema.c: params checks, no runtime dependencies -------------------- */

/*
 * Check params against schema. Returns 0 when they fit, else -1 with
 * *index the offending position and *value the offending value, NULL for
 * a missing param (packed as nil).
 */
int schema_check(const struct wspool_schema *schema,
    const msgpack_object_array *params, uint32_t *index,
    const msgpack_object **value);
/* Pack the 400 error data {"path": "/index", "value": value-or-nil}. */
int schema_pack_error(msgpack_packer *pk, uint32_t index,
    const msgpack_object *value);
/* NULL when the declared schema is usable, else why not (static string). */
const char *schema_invalid(const struct wspool_schema *schema);

/* ---- module.c: the loaded route module (one per process) ----------------- */

/* Load and check path, then run its init. Returns 0, or -1 with err set. */
int module_load(const char *path, char *err, size_t errlen);
const struct wspool_module *module_def(void);
/* By name (not NUL-terminated); NULL when unknown. */
const struct wspool_route *module_route(const char *name, size_t len);
const struct wspool_cleanup *module_cleanup(const char *name, size_t len);
/* Run fini and close the module. */
void module_unload(void);

/* ---- threads.c: the handler thread pool ----------------------------------- */
struct job {
	void (*j_fn)(struct job *);
	struct job *j_next;
};

/*
 * Start n threads, growing up to max when every thread is busy and queued
 * work has not moved for a while (handlers may block). Handler threads get
 * stack_size bytes of stack (0: the default). idle_cb runs, on a pool
 * thread and with no pool lock held, each time the pool becomes idle
 * (nothing queued, nothing running). Returns 0 or an errno.
 */
int threads_start(unsigned n, unsigned max, size_t stack_size,
    void (*idle_cb)(void));
/* Queue a list of jobs (linked by j_next, NULL-terminated), in order. */
void threads_submit(struct job *first);
/* True when nothing is queued or running. */
bool threads_idle(void);
/* Join every thread: call only once idle (threads_idle). */
void threads_stop(void);

/* ---- outbox.c: batching sender -------------------------------------------- */
/* Start the sender thread on socket s. Call before anything else here.
 * Returns 0 or an errno. */
int outbox_start(uint32_t socket_id);
/*
 * Lock the outbox and return the writer of the batch being filled: put one
 * envelope with a proto_put_* function, then call outbox_end() with what
 * the put returned (non-zero drops the envelope cleanly). size is
 * about how many bytes the envelope's value takes (a large one starts a
 * new nng message). Blocks while too much is pending (backpressure).
 * Returns NULL, with nothing locked, when the master is gone: the
 * envelope is dropped.
 */
struct proto_writer *outbox_begin(size_t size);
void outbox_end(int rv);
/* A msgpack_packer_write appending to the nng_msg *data points to. */
int outbox_msg_write_cb(void *data, const char *buf, size_t len);
/* Wait until everything queued has been handed to nng, at most ms
 * milliseconds (< 0: no limit). Returns true when it was. */
bool outbox_flush(int64_t ms);
/* The master is gone: drop what is pending and whatever comes. */
void outbox_kill(void);
/* Stop the sender thread (after nng_close) and free what is left. */
void outbox_stop(void);

/* ---- conn.c: client connection contexts ----------------------------------- */
struct conn;
/* Receiver thread only: open (replacing), close, get a reference. */
int conn_open(const struct proto_msg *m);
void conn_close(uint64_t conn_id);
struct conn *conn_get(uint64_t conn_id);
/* Any thread. */
void conn_unref(struct conn *c);
/* At exit, after the receiver stopped. */
void conn_close_all(void);

const char *conn_uuid(const struct conn *c);
const char *conn_ip(const struct conn *c);
const char *conn_header(const struct conn *c, const char *name);
size_t conn_header_count(const struct conn *c);
int conn_header_at(const struct conn *c, size_t i, const char **name,
    const char **value);

/* ---- call.c / cleanup.c: calls, cancellation, defers, cleanups ------------ */

/*
 * Receiver thread: turn a PROTO_CALL into a queued job. refuse is 0, or an
 * error code to answer at once (503 while draining). The job is appended
 * to the list *first..*last for one threads_submit per nng message.
 * Returns 0, or -1 for a protocol violation (duplicate live call id).
 */
int call_receive(const struct proto_msg *m, int refuse, struct job **first,
    struct job **last);
/* Receiver thread: CANCEL (reason bytes already validated), DEFER_ACK. */
void call_cancel(uint64_t call_id, const void *reason, size_t len);
void call_defer_ack(uint64_t call_id, uint64_t seq);
/* Cancel every call with reason, and fail every defer wait: master gone. */
void call_cancel_all(const void *reason, size_t len);
/* Free the recycled calls at exit. */
void call_fini(void);

/* Receiver thread: queue a PROTO_CLEANUP run (arg, reason validated). */
int cleanup_receive(const struct proto_msg *m, struct job **first,
    struct job **last);
/* Unpack a reason given as packed bytes into r (strings point into zone). */
int cleanup_reason_unpack(const void *buf, size_t len, msgpack_zone *zone,
    struct wspool_reason *r);
/*
 * Run one cleanup, isolated: its result, and a message for CLEANUP_DONE
 * ("" when ok).
 */
int cleanup_run(const struct wspool_cleanup *cl,
    const struct wspool_reason *reason, const msgpack_object *arg,
    const char **message);

#endif /* WORKER_H */
