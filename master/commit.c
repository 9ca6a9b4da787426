/*
 * commit.c: the journal's group commit, once per loop turn, and the DEFER
 * acknowledgements it holds until then. The design notes are in commit.h.
 */
#include "config.h"

#include <stdlib.h>

#include <event2/event.h>

#include "common/log.h"
#include "master/commit.h"
#include "master/journal.h"
#include "master/link.h"
#include "master/master.h"
#include "proto/proto.h"

struct held_ack {
	uint64_t ha_worker;        /* w_gen */
	uint64_t ha_call_id;
	uint64_t ha_seq;
};

static struct {
	struct event *ev;
	struct held_ack *acks;
	size_t nacks;
	size_t cap;
} commits;

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	commit_run();
}

int
commit_init(void)
{
	if ((commits.ev = event_new(srv.base, -1, 0, commit_cb, NULL)) == NULL)
		return -1;
	/* Lowest priority: after every read of the turn. */
	event_priority_set(commits.ev, 2);
	return 0;
}

void
commit_fini(void)
{
	commit_run();
	if (commits.ev != NULL)
		event_free(commits.ev);
	free(commits.acks);
	commits.ev = NULL;
	commits.acks = NULL;
	commits.nacks = commits.cap = 0;
}

void
commit_soon(void)
{
	if (commits.ev != NULL)
		event_active(commits.ev, EV_TIMEOUT, 0);
}

int
commit_hold_ack(struct worker *w, uint64_t call_id, uint64_t seq)
{
	struct held_ack *a;

	if (commits.nacks == commits.cap) {
		size_t cap = commits.cap ? commits.cap * 2 : 64;

		if ((a = realloc(commits.acks, cap * sizeof(*a))) == NULL)
			return -1;
		commits.acks = a;
		commits.cap = cap;
	}
	a = &commits.acks[commits.nacks++];
	a->ha_worker = w->w_gen;
	a->ha_call_id = call_id;
	a->ha_seq = seq;
	commit_soon();
	return 0;
}

static struct worker *
commit_worker(uint64_t gen)
{
	struct worker *w;

	for (w = link_next(NULL); w != NULL; w = link_next(w))
		if (w->w_gen == gen)
			return w;
	return NULL;
}

void
commit_run(void)
{
	struct worker *w = NULL;
	bool ok = journal_commit() == 0;
	size_t i;

	for (i = 0; i < commits.nacks; i++) {
		const struct held_ack *a = &commits.acks[i];

		if (w == NULL || w->w_gen != a->ha_worker)
			w = commit_worker(a->ha_worker);
		if (!ok) {
			/* Not durable: not registered. The worker's
			 * wspool_defer_end returns WSPOOL_ERROR at once. */
			journal_forget(a->ha_call_id, a->ha_seq);
			if (w != NULL)
				link_send_ack(w, a->ha_call_id,
				    a->ha_seq | PROTO_DEFER_NACK);
			continue;
		}
		if (w != NULL)
			link_send_ack(w, a->ha_call_id, a->ha_seq);
	}
	if (!ok && commits.nacks > 0)
		log_error("journal commit failed: %zu cleanup registrations "
		    "refused", commits.nacks);
	commits.nacks = 0;
}
