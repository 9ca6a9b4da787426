/*
 * neighbours.h: what a worker's death does to the calls that were on it:
 * the culprit fails, its neighbours are spared when they can be.
 *
 * Design notes: crash radius.
 * - The culprit is known when the worker's crash page names the call its
 *   faulting thread ran (and waitpid says it died by that very signal),
 *   or when this master killed it for a call's deadline. Otherwise (an
 *   outside SIGKILL, the OOM killer, an exit, a remote worker lost) every
 *   call on it is treated as the culprit: 502 (or 503 at shutdown).
 * - With a known culprit, every other call is a neighbour:
 *   - not started (its number above the page's started count): sent to
 *     another worker; its client sees nothing;
 *   - started, on an idempotent route, not run again yet: run again on
 *     another worker, once (a new call id);
 *   - else 502 with the crash reason, like the culprit; its cleanups run
 *     with it.
 * - Calls go again in arrival order (by call id), ahead of any call that
 *   waits for a worker (they all arrived earlier), so a connection's
 *   notifications keep their order.
 */
#ifndef MASTER_NEIGHBOURS_H
#define MASTER_NEIGHBOURS_H

struct worker;
struct wspool_reason;

/* w is gone with why: end or move every call on it. */
void neighbours_worker_gone(struct worker *w, const struct wspool_reason *why);

#endif /* MASTER_NEIGHBOURS_H */
