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
#include "master/link_send.h"
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
	/* The last commit; one still in flight keeps its batch and is
	 * answered when the journal closes. */
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

/* The acknowledgements a commit holds: sent once it is confirmed. */
struct commit_batch {
	struct held_ack *cb_acks;
	size_t cb_nacks;
};

/* Acknowledge n held DEFERs, or (status -1) refuse them. */
static void
commit_answer(const struct held_ack *acks, size_t n, int status)
{
	struct worker *w = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct held_ack *a = &acks[i];

		if (w == NULL || w->w_gen != a->ha_worker)
			w = commit_worker(a->ha_worker);
		if (status != 0) {
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
	if (status != 0 && n > 0)
		log_error("journal commit failed: %zu cleanup registrations "
		    "refused", n);
}

/* A commit's outcome: its acknowledgements go out, or refusals. */
static void
commit_done_cb(void *arg, int status)
{
	struct commit_batch *b = arg;

	commit_answer(b->cb_acks, b->cb_nacks, status);
	free(b->cb_acks);
	free(b);
}

void
commit_run(void)
{
	struct commit_batch *b;

	if (!journal_dirty() && commits.nacks == 0)
		return;
	if ((b = malloc(sizeof(*b))) == NULL) {
		/* No memory to follow a commit: refuse the turn's
		 * registrations now; its changes go with the next one. */
		commit_answer(commits.acks, commits.nacks, -1);
		commits.nacks = 0;
		return;
	}
	/* The batch takes the turn's acknowledgements; the next turn's
	 * start a new array (a commit may be confirmed turns later). */
	b->cb_acks = commits.acks;
	b->cb_nacks = commits.nacks;
	commits.acks = NULL;
	commits.nacks = commits.cap = 0;
	journal_commit(commit_done_cb, b);
}
