/*
 * jredis.h: the Redis journal's start-up, synchronous and bounded (the
 * loop does not run yet): the URL, the connection, the node's lock and
 * owner, the incarnation, the records found. jstore_redis.c runs the
 * journal on the loop afterwards.
 *
 * Design notes: the data model, one key space per node name N (the
 * braces make it one Redis Cluster slot, so the commit script may touch
 * every key of it):
 *   wspool:{N}:records      a hash: field = call id and seq (16 bytes,
 *                           big-endian), value = jrecord.h's bytes
 *   wspool:{N}:lock         this master's token, with a lease (PX): the
 *                           one master that runs node N; refreshed by
 *                           every commit and every lease/3 ms
 *   wspool:{N}:owner        the token of the master that last opened N
 *                           (no expiry): a master whose lease lapsed may
 *                           take its lock back only if nobody opened N
 *                           since
 *   wspool:{N}:incarnation  INCR per open; call ids carry it
 * A token is "host|pid|process start time|boot id|pid namespace|random":
 * a master that finds the lock held by a process of its own host, boot
 * and pid namespace that is gone (the pid is free, or another process
 * has it) takes the lock at once; otherwise it waits for the lease to
 * end, bounded, and refuses to start if the holder keeps it.
 */
#ifndef MASTER_JREDIS_H
#define MASTER_JREDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "master/jstore.h"

#define JREDIS_LEASE_MS 15000      /* default lease of the node's lock */
/* Default bound of one round trip: above an fsync stalled by a busy disk
 * (seconds, seen here), below the worker's wait for its acknowledgement
 * (WSPOOL_DEFER_TIMEOUT_MS, 10 s). */
#define JREDIS_TIMEOUT_MS 5000
#define JREDIS_TOKEN_MAX 256

struct jredis_conf {
	char jc_addr[64];          /* numeric, resolved at start */
	int jc_port;
	unsigned jc_db;
	char *jc_user;             /* AUTH, or NULL */
	char *jc_pass;
	uint64_t jc_lease_ms;
	uint64_t jc_timeout_ms;
	char jc_url[256];          /* for the log, without the password */
	char jc_token[JREDIS_TOKEN_MAX];
	/* The node's keys. */
	char *jc_records;
	char *jc_lock;
	char *jc_owner;
	char *jc_incarnation;
};

/* Parse redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?lease=MS&timeout=MS]
 * for node, resolving HOST. Returns 0, or -1 (logged). */
int jredis_conf_parse(struct jredis_conf *c, const char *url,
    const char *node);
void jredis_conf_free(struct jredis_conf *c);

/* A synchronous connection with every call bounded by the timeout,
 * authenticated, on the database. NULL (logged) when Redis cannot be
 * reached. */
redisContext *jredis_connect(const struct jredis_conf *c);

/* Take the node's lock (waiting a bounded time for a live holder's lease
 * to end), write the owner, take the next incarnation. Returns 0, or -1
 * (logged: the node is in use, Redis failed). */
int jredis_take(redisContext *rc, struct jredis_conf *c, uint32_t *inc);

/* Every record, in key order; those fn finds bad (1) are deleted. 0/-1. */
int jredis_scan(redisContext *rc, const struct jredis_conf *c,
    jstore_record_fn fn, void *ctx);

/* The commit script (jstore_redis.c sends it with EVAL): KEYS lock,
 * owner, incarnation, records; ARGV token, incarnation, lease ms, then
 * "p" field value / "d" field ... It fails with "FENCED ..." when another
 * master holds the node. */
extern const char jredis_commit_lua[];
/* KEYS lock; ARGV token: give the lock back if it is still ours. */
extern const char jredis_release_lua[];

#endif /* MASTER_JREDIS_H */
