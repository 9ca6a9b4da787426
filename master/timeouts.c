/*
 * timeouts.c: calls' deadlines, one FIFO list and one timer per distinct
 * timeout (see timeouts.h).
 */
#include "config.h"

#include <stdlib.h>

#include <event2/event.h>

#include "common/clock.h"
#include "master/master.h"
#include "master/timeouts.h"

struct timeouts_list {
	uint64_t tl_ms;                         /* the timeout of every entry */
	TAILQ_HEAD(, timeouts_entry) tl_entries; /* oldest deadline first */
	struct event *tl_timer;                 /* armed for the oldest */
	struct timeouts_list *tl_next;
};

static struct {
	struct timeouts_list *lists;
	void (*expire)(struct timeouts_entry *);
} tmo;

static void
timeouts_arm(struct timeouts_list *l)
{
	struct timeouts_entry *e = TAILQ_FIRST(&l->tl_entries);
	uint64_t now = clock_now_us();
	struct timeval tv;

	if (e == NULL) {
		evtimer_del(l->tl_timer);
		return;
	}
	/* Rounded up: a timer that fires early only re-arms. */
	tv = clock_tv(e->te_at_us > now ? (e->te_at_us - now + 999) / 1000 : 0);
	evtimer_add(l->tl_timer, &tv);
}

static void
timeouts_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeouts_list *l = arg;
	struct timeouts_entry *e;
	uint64_t now = clock_now_us();

	(void)fd;
	(void)what;
	while ((e = TAILQ_FIRST(&l->tl_entries)) != NULL && e->te_at_us <= now) {
		TAILQ_REMOVE(&l->tl_entries, e, te_link);
		e->te_list = NULL;
		tmo.expire(e);
	}
	timeouts_arm(l);
}

int
timeouts_init(void (*expire_cb)(struct timeouts_entry *e))
{
	tmo.expire = expire_cb;
	return 0;
}

void
timeouts_fini(void)
{
	struct timeouts_list *l;

	while ((l = tmo.lists) != NULL) {
		tmo.lists = l->tl_next;
		event_free(l->tl_timer);
		free(l);
	}
}

static struct timeouts_list *
timeouts_list(uint64_t ms)
{
	struct timeouts_list *l;

	for (l = tmo.lists; l != NULL; l = l->tl_next)
		if (l->tl_ms == ms)
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->tl_timer = evtimer_new(srv.base, timeouts_timer_cb, l)) ==
	    NULL) {
		free(l);
		return NULL;
	}
	l->tl_ms = ms;
	TAILQ_INIT(&l->tl_entries);
	l->tl_next = tmo.lists;
	tmo.lists = l;
	return l;
}

int
timeouts_set(struct timeouts_entry *e, uint64_t ms, uint64_t now_us)
{
	struct timeouts_list *l;
	bool first;

	if ((l = timeouts_list(ms)) == NULL)
		return -1;
	e->te_at_us = now_us + ms * 1000;
	e->te_list = l;
	first = TAILQ_EMPTY(&l->tl_entries);
	TAILQ_INSERT_TAIL(&l->tl_entries, e, te_link);
	if (first)
		timeouts_arm(l);
	return 0;
}

void
timeouts_clear(struct timeouts_entry *e)
{
	struct timeouts_list *l = e->te_list;

	if (l == NULL)
		return;
	TAILQ_REMOVE(&l->tl_entries, e, te_link);
	e->te_list = NULL;
	/* The timer stays armed for a deadline that left: it fires, finds
	 * nothing due and re-arms for the new oldest (or stops). */
}
