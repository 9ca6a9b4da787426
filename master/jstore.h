/*
 * jstore.h: the interface of the journal's durable backends: a small ops
 * table chosen at start (journal_open), so that journal.c and commit.c do
 * not care where the records live. Two implement it: jstore_lmdb.c (an
 * LMDB file, the default) and jstore_redis.c (a Redis server, for a
 * journal that outlives its host).
 *
 * Design notes: what every backend promises.
 * - A record is opaque bytes (jrecord.c encodes and checks them) under a
 *   key, the call id and seq of the registration. put and del go into the
 *   turn's batch; commit makes the whole batch durable, or none of it, and
 *   says which through its callback, called exactly once: at once (LMDB,
 *   which blocks the loop for its flushes) or later from the loop (Redis,
 *   whose reply arrives on the loop while it goes on). Batches are
 *   confirmed in the order they were committed.
 * - One master per node name: open takes the node's lock (an flock, a
 *   Redis key with a lease) and refuses (or waits a bounded time) while a
 *   live master holds it; close gives it back.
 * - The incarnation (+1 per open, committed before open returns) goes in
 *   the high bits of call ids, so cleanup keys never repeat.
 * - available: whether a registration can be made durable now. A backend
 *   that cannot (Redis unreachable) refuses puts at once: a registration
 *   is refused rather than acknowledged without being durable.
 * - fenced: the backend found another master holding the node (a Redis
 *   lease lost and taken over). It stops acknowledging at once (every
 *   commit fails) and says so through the hook given to open; the master
 *   then stops.
 * - A record a scan cannot use (a bad key, bytes that do not decode) is
 *   reported by the scan callback and deleted: logged, never a crash.
 */
#ifndef MASTER_JSTORE_H
#define MASTER_JSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A commit's outcome: status 0 (durable) or -1 (none of it is). */
typedef void (*jstore_done_fn)(void *arg, int status);
/* The backend lost the node to another master (registered at open). */
typedef void (*jstore_fenced_fn)(const char *why);
/* One record found by a scan: returns 0 to go on, 1 when the value does
 * not decode (the backend deletes the record), -1 to stop (scan fails). */
typedef int (*jstore_record_fn)(void *ctx, uint64_t call_id, uint64_t seq,
    const void *value, size_t len);

struct jstore_ops {
	const char *js_name;             /* "lmdb", "redis": for the log */
	/* Open the store at where for node: lock it, take the next
	 * incarnation. Returns 0, or -1 (logged). */
	int (*js_open)(const char *where, const char *node,
	    jstore_fenced_fn fenced, uint32_t *incarnation);
	/* Into the turn's batch. Returns 0, or -1 (refused: not durable). */
	int (*js_put)(uint64_t call_id, uint64_t seq, const void *value,
	    size_t len);
	int (*js_del)(uint64_t call_id, uint64_t seq);
	/* Whether the turn's batch holds changes. */
	bool (*js_dirty)(void);
	/* Commit the batch; fn(arg, status) is called exactly once. */
	void (*js_commit)(jstore_done_fn fn, void *arg);
	/* Every record, in key order (registration order). 0 or -1. */
	int (*js_scan)(jstore_record_fn fn, void *ctx);
	/* Take a new incarnation (2^40 calls in one). Returns 0 or -1. */
	int (*js_incarnation)(uint32_t *incarnation);
	/* Whether a put can be made durable now. */
	bool (*js_available)(void);
	/* Commits sent and not yet confirmed (0 for a synchronous store). */
	size_t (*js_inflight)(void);
	/* Wait (bounded) for the commits in flight, give the lock back. */
	void (*js_close)(void);
};

/* Keys: call id and seq, big-endian, so byte order is registration order. */
#define JSTORE_KEY_SIZE 16

static inline void
jstore_key(unsigned char key[JSTORE_KEY_SIZE], uint64_t call_id,
    uint64_t seq)
{
	for (int i = 0; i < 8; i++) {
		key[i] = (unsigned char)(call_id >> (56 - 8 * i));
		key[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
	}
}

static inline uint64_t
jstore_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

#endif /* MASTER_JSTORE_H */
