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
 *   - started, on an idempotent route: run again on another worker (a
 *     new call id). It was innocent (the culprit is known), so each
 *     death beside it earns it another run, up to NEIGHBOURS_MAX_RERUNS:
 *     in a crash storm on two workers, one echo can be beside two
 *     crashes in a row, and its client must not see either; the bound
 *     only stops a call that is always unlucky;
 *   - else 502 with the crash reason, like the culprit; its cleanups run
 *     with it.
 * - Calls go again in arrival order (by call id), ahead of any call that
 *   waits for a worker (they all arrived earlier). A connection has at
 *   most one notification on a worker (the head of its chain, calls.h):
 *   sent again, it stays the head; ended with the worker, the next one
 *   starts only then. Either way the order holds.
 */
#ifndef MASTER_NEIGHBOURS_H
#define MASTER_NEIGHBOURS_H

struct worker;
struct wspool_reason;

/* w is gone with why: end or move every call on it. */
void neighbours_worker_gone(struct worker *w, const struct wspool_reason *why);

#endif /* MASTER_NEIGHBOURS_H */
