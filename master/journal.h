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
 * - Guarantee: at least once. A cleanup may run again if its worker died
 *   after running it but before its CLEANUP_DONE reached the master.
 */
#ifndef MASTER_JOURNAL_H
#define MASTER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct wspool_reason;

#define JOURNAL_MAX_ATTEMPTS 3

void journal_init(void);
void journal_fini(void);

/* A DEFER from w. Returns 0 once journaled (then ACK), -1 when out of memory. */
int journal_defer(struct worker *w, uint64_t call_id, uint64_t seq,
    const char *route, const char *name, size_t name_len,
    const void *arg, size_t arg_len);

/* CLEANUP_DONE from w: seq > 0 for a call's own cleanup, 0 for a handover. */
void journal_done(struct worker *w, uint64_t id, uint64_t seq, bool ok,
    const char *msg, size_t msg_len);

/*
 * The call ended with reason (kind NONE for a normal end); the first
 * reason wins. terminal: the worker sent its terminal reply, so it is now
 * running the call's cleanups.
 */
void journal_call_ended(uint64_t call_id, const struct wspool_reason *reason,
    bool terminal);

/*
 * Worker w is dead. counts: whether the death counts against the cleanups
 * it was running (false for an outside SIGKILL).
 */
void journal_worker_gone(struct worker *w, const struct wspool_reason *crash,
    bool counts);

/* Hand queued orphans to ready workers; call when a worker becomes ready. */
void journal_dispatch(void);

/* Whether the call has journaled cleanups. */
bool journal_has_call(uint64_t call_id);

/* Cleanups not yet reported done (pending and queued). */
size_t journal_pending(void);

#endif /* MASTER_JOURNAL_H */
