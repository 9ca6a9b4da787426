/*
 * journal.h: the master's record of every deferred cleanup that no worker
 * has reported done, so that none is lost when a worker dies.
 *
 * Design notes: the cleanup journal.
 * - A registration (DEFER) is journaled before it is acknowledged: when
 *   wspool_defer returns in the handler, the master holds the cleanup.
 * - An entry stays pending on the worker that ran its call until that
 *   worker reports it done (CLEANUP_DONE with the call id and seq).
 * - The call's end reason is recorded when the master learns it (terminal
 *   reply, cancel, disconnect, deadline). When a worker dies, each pending
 *   entry is re-run elsewhere with that reason, or with the crash reason
 *   if its call had not ended: so a cleanup never sees a reason other than
 *   how its call really ended.
 * - Orphans are handed over one at a time per worker (PROTO_CLEANUP), so
 *   a worker that dies while running one identifies it exactly. A death
 *   counts against the cleanup(s) it was running unless it was an outside
 *   SIGKILL; past JOURNAL_MAX_ATTEMPTS such deaths the cleanup is dropped
 *   with an error log naming the route, the cleanup and the call.
 * - The journal is a store: it answers questions and changes state, and
 *   never sends. Whoever schedules asks it for the next orphan, hands it
 *   over, then says so (journal_handed_over). Workers are named by their
 *   link's w_gen, never by pointer: the store outlives them.
 * - Guarantee: at least once. A cleanup may run again if its worker died
 *   after running it but before its CLEANUP_DONE reached the master.
 */
#ifndef MASTER_JOURNAL_H
#define MASTER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/jstore.h"

struct wspool_reason;

#define JOURNAL_MAX_ATTEMPTS 3

/* Registers the journal's gauge. */
void journal_init(void);

/*
 * Open the durable store at where (NULL: --journal none, memory only) for
 * node: a redis:// URL (jstore_redis.c) or an LMDB file (jstore_lmdb.c),
 * behind one ops table (jstore.h). This master's pid and host go into its
 * records. The records a dead master left become orphans with reason lost
 * (its pid and host), handed over like any other. fenced is told if the
 * store finds another master holding the node later on. Returns 0, or -1
 * (logged).
 */
int journal_open(const char *where, const char *node, int64_t pid,
    const char *host, jstore_fenced_fn fenced);
/* Close the store (commits in flight waited for, bounded): what is still
 * pending stays there, for the next start. */
void journal_close(void);

/* A new call id, unique across restarts: the incarnation (+1 per start,
 * kept in the store) in the high bits. */
uint64_t journal_next_call_id(void);

/* Whether this turn changed the store; commit it (once per loop turn,
 * commit.c). fn(arg, status) is called exactly once, at once or later
 * from the loop, in commit order: 0 when the turn's changes are durable,
 * -1 when none is (then forget the turn's registrations: journal_forget,
 * which keeps those whose worker died meanwhile: they go to the runner). */
bool journal_dirty(void);
void journal_commit(jstore_done_fn fn, void *arg);
void journal_forget(uint64_t call_id, uint64_t seq);
/* Whether registrations can be made durable now (else they are refused). */
bool journal_available(void);
/* Commits sent and not yet confirmed. */
size_t journal_inflight(void);
/* Free what is left, each logged as a cleanup that never ran. */
void journal_fini(void);

/*
 * A DEFER from worker wid (its w_gen): call_id's cleanup seq, named name,
 * with its packed argument; route names the call's route. Returns 0 once
 * journaled (then acknowledge it), -1 when out of memory.
 */
int journal_defer(uint64_t wid, uint64_t call_id, uint64_t seq,
    const char *route, const char *name, size_t name_len,
    const void *arg, size_t arg_len);

enum journal_done {
	JOURNAL_DONE_UNKNOWN = 0,  /* not pending on that worker: ignored */
	JOURNAL_DONE_OWN,          /* a call's own cleanup */
	JOURNAL_DONE_HANDOVER,     /* a hand-over: the worker can take another */
};

/*
 * CLEANUP_DONE from worker wid: id is the call id with seq > 0 for a
 * call's own cleanup, or the cleanup id with seq 0 for a hand-over. The
 * entry is forgotten (a failure is logged: it ran). withdrawn: it never
 * ran, its worker took the registration back (not acknowledged in time):
 * neither a run nor a failure.
 */
enum journal_done journal_done(uint64_t wid, uint64_t id, uint64_t seq,
    bool ok, bool withdrawn, const char *msg, size_t msg_len);

/*
 * The call ended with reason (kind NONE for a normal end); the first
 * reason wins. terminal: the worker sent its terminal reply, so it is now
 * running the call's cleanups.
 */
void journal_call_ended(uint64_t call_id, const struct wspool_reason *reason,
    bool terminal);

/*
 * Worker wid is dead. Its cleanups not done become orphans, in order
 * (hand-overs it was running first, then its calls' own in registration
 * order), each with its call's end reason or else crash. counts: whether
 * the death counts against the cleanups it was running (false for an
 * outside SIGKILL or a shutdown); a cleanup that has crashed its worker
 * JOURNAL_MAX_ATTEMPTS times is dropped. Returns the number orphaned.
 */
size_t journal_worker_gone(uint64_t wid, const struct wspool_reason *crash,
    bool counts);

/* An orphan to hand over, borrowed from the journal: valid until the
 * journal next changes. */
struct journal_orphan {
	uint64_t jo_id;            /* the cleanup id, for CLEANUP and its DONE */
	uint64_t jo_call_id;
	uint64_t jo_seq;
	unsigned jo_attempt;       /* from 1 */
	const char *jo_route;
	const char *jo_name;
	const void *jo_arg;
	size_t jo_arg_len;
	const void *jo_reason;     /* packed reason */
	size_t jo_reason_len;
};

/* The oldest orphan waiting for a worker, in *o; false when none waits. */
bool journal_next_orphan(struct journal_orphan *o);
/* Whether worker wid is running a hand-over (then it gets no other). */
bool journal_handing_to(uint64_t wid);
/* Orphan id was sent to worker wid: it runs there now. */
void journal_handed_over(uint64_t id, uint64_t wid);

/* Whether worker wid has a cleanup of call_id to run (its own, or handed
 * over): it may then log about that call. */
bool journal_runs_on(uint64_t call_id, uint64_t wid);

/* Whether the call has journaled cleanups. */
bool journal_has_call(uint64_t call_id);

/* Cleanups not yet reported done (pending, orphaned and handed over). */
size_t journal_pending(void);

#endif /* MASTER_JOURNAL_H */
