/*
 * jstore.h: the journal's durable backend, an LMDB file: every registered
 * cleanup not yet reported done, and the master's incarnation. The
 * journal (journal.c) calls down into it; it knows nothing above.
 *
 * Design notes: durability.
 * - Changes go into one write transaction, opened by the first change of
 *   a loop turn; jstore_commit (once per turn, commit.c) makes them
 *   durable with LMDB's default flags: data pages and the meta page are
 *   flushed (fdatasync) before the commit returns, so a commit survives a
 *   crash of the master and of the host. A crash before the commit loses
 *   the turn's changes: its registrations were never acknowledged, and
 *   its completions run again (at least once).
 * - The file is locked (flock) for as long as the master runs: a second
 *   master on the same journal refuses to start, so only one runs the
 *   records of a dead one.
 * - Records: key = call id and seq (big-endian, so in registration
 *   order), value = msgpack [route, name, arg:bin, master pid, host].
 *   Meta: "incarnation" (u32, +1 per start), "node" (the node name the
 *   keys were made with: a journal serves one node).
 */
#ifndef MASTER_JSTORE_H
#define MASTER_JSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Open (or create) the journal at path for node, lock it, and take the
 * next incarnation (committed before this returns). Returns 0, or -1
 * (logged: unwritable, locked by another master, another node's).
 */
int jstore_open(const char *path, const char *node, uint32_t *incarnation);
/* Commit what is pending (nothing is lost) and close. */
void jstore_close(void);
/* Whether a journal is open (false with --journal none). */
bool jstore_open_p(void);

/* Take a new incarnation at once (committed). Returns 0 or -1. */
int jstore_next_incarnation(uint32_t *incarnation);

/* A registration, by this master (pid, host); into the turn's
 * transaction. Returns 0 or -1 (the turn's commit will fail). */
int jstore_put(uint64_t call_id, uint64_t seq, const char *route,
    const char *name, const void *arg, size_t arg_len, int64_t pid,
    const char *host);
/* Forget a registration (done, or dropped). Returns 0 or -1. */
int jstore_del(uint64_t call_id, uint64_t seq);

/* Whether the turn has changes to commit. */
bool jstore_dirty(void);
/* Commit the turn's changes. Returns 0, or -1 (logged): none of them is
 * durable, and the transaction is gone. */
int jstore_commit(void);

/* Every record, in key order (strings NUL-terminated, valid during the
 * call). fn returns 0 to go on. A record that does not decode is logged
 * and deleted. Returns 0 or -1. */
typedef int (*jstore_record_fn)(void *ctx, uint64_t call_id, uint64_t seq,
    const char *route, const char *name, const void *arg, size_t arg_len,
    int64_t pid, const char *host);
int jstore_load(jstore_record_fn fn, void *ctx);

#endif /* MASTER_JSTORE_H */
