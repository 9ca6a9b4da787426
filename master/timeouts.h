/*
 * timeouts.h: deadlines of calls, cheaply. Calls with the same timeout
 * reach their deadlines in the order they were set, so each distinct
 * timeout keeps its entries in a FIFO list with one timer for the oldest:
 * setting and clearing a deadline is a list insert or remove, with no
 * timer event per call. (There are few distinct timeouts: the default
 * and the routes' own.)
 *
 * A store with a hook: the expire hook (registered at start-up) decides
 * what a passed deadline means.
 */
#ifndef MASTER_TIMEOUTS_H
#define MASTER_TIMEOUTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct timeouts_list;

/* A deadline, embedded in the caller's structure. */
struct timeouts_entry {
	TAILQ_ENTRY(timeouts_entry) te_link;
	struct timeouts_list *te_list;  /* NULL: no deadline set */
	uint64_t te_at_us;              /* monotonic */
};

/* hook: e's deadline passed; it has been cleared. Returns 0 or -1. */
int timeouts_init(void (*expire_cb)(struct timeouts_entry *e));
void timeouts_fini(void);

/* Set e's deadline ms milliseconds after now_us (clock_now_us(); e must
 * have none). Returns 0, or -1 out of memory (no deadline then). */
int timeouts_set(struct timeouts_entry *e, uint64_t ms, uint64_t now_us);
/* Clear e's deadline, if it has one. */
void timeouts_clear(struct timeouts_entry *e);

static inline bool
timeouts_pending(const struct timeouts_entry *e)
{
	return e->te_list != NULL;
}

#endif /* MASTER_TIMEOUTS_H */
