/*
 * commit.h: the group commit of the durable journal. A DEFER's
 * acknowledgement is held until the end of the loop turn, when one commit
 * makes every registration and completion of the turn durable; then the
 * held acknowledgements go out (or, if the commit failed, refusals).
 *
 * Design notes: one commit per loop turn.
 * - The commit is an event of the lowest priority, activated by the
 *   turn's first change: it runs after every read of the turn, so a burst
 *   of DEFERs costs one commit (one pair of flushes), and an idle master
 *   commits at once (no timer, no added latency).
 * - An acknowledgement is released only by the commit that made its
 *   record durable, whatever the order of the other end-of-turn events
 *   (the link's flush may run first: the acknowledgement then goes in the
 *   next batch, at the end of this same turn).
 * - The commit's outcome may come later than the turn (Redis: the reply
 *   arrives on the loop while it goes on). Each commit takes the turn's
 *   held acknowledgements with it, so the next turns' commits are sent
 *   (pipelined) without waiting, and each batch is released by its own
 *   confirmation, in order. A registration is never acknowledged by a
 *   commit that did not contain it.
 * - Workers are named by w_gen: one may die before the commit.
 */
#ifndef MASTER_COMMIT_H
#define MASTER_COMMIT_H

#include <stdint.h>

struct worker;

int commit_init(void);
/* Commit what is pending and release the acknowledgements (shutdown). */
void commit_fini(void);

/* The journal changed this turn (a completion, a drop): commit at its end. */
void commit_soon(void);
/* Acknowledge w's DEFER(call_id, seq) once this turn's commit is done.
 * Returns 0, or -1 when out of memory (refuse it now). */
int commit_hold_ack(struct worker *w, uint64_t call_id, uint64_t seq);
/* Commit now (the end-of-turn event, or a test). */
void commit_run(void);

#endif /* MASTER_COMMIT_H */
