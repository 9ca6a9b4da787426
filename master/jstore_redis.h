/*
 * jstore_redis.h: the journal kept in Redis (--journal redis://...), so
 * that it outlives the master's host: jstore.h's ops table on hiredis's
 * asynchronous API, on the master's libevent loop. The start-up
 * (connection, lock, incarnation, records found) is jredis.c's.
 *
 * Design notes: the commit path.
 * - A turn's registrations and completions go to Redis as one EVAL of
 *   jredis.h's commit script: Redis runs a script atomically (no other
 *   client sees a part of it) and writes its effects to the AOF as one
 *   MULTI/EXEC, which a restart of Redis loads whole or not at all. The
 *   script first checks that this master still holds the node's lock
 *   (fencing, below) and refreshes the lease.
 * - The loop never waits for Redis: the EVAL is written, the loop goes
 *   on, and the reply (on the loop) releases the turn's acknowledgements.
 *   The next turns' commits are pipelined behind it on the one
 *   connection; Redis answers in order.
 * - A commit not confirmed within the timeout (?timeout=MS, default 5 s:
 *   a stopped or partitioned Redis), or a connection that closes, fails
 *   every commit in flight (their registrations are refused: NACK), and
 *   the store is unavailable: puts are refused at once, until a
 *   reconnection (back-off 100 ms doubling to 5 s) has taken the lease
 *   again. Completions made meanwhile, and the keys of refused
 *   registrations, are kept and deleted with the first commit after it
 *   (a completion lost with the master only means a second run).
 * - Fencing: the lock holds this master's token with a lease
 *   (?lease=MS, default 15 s), refreshed by each commit and every
 *   lease/3 ms. The commit script refuses ("FENCED") when the lock holds
 *   another token, or when it lapsed and another master opened the node
 *   since (the owner key): Redis orders that check against the other
 *   master's lock, so no commit of this master lands after another one
 *   took the node, and every record this master had acknowledged was
 *   there when the other one read the records. Fenced is final: every
 *   commit fails, and the master is told (it stops).
 */
#ifndef MASTER_JSTORE_REDIS_H
#define MASTER_JSTORE_REDIS_H

#include "master/jstore.h"

extern const struct jstore_ops jstore_redis_ops;

#endif /* MASTER_JSTORE_REDIS_H */
