/*
 * fake_link.h: a fake of master/link.c and link_send.c for unit tests of
 * the layers above them, with no socket: a list of workers the test
 * builds, the handlers registered with it, and a record of everything
 * that would have been sent, in order.
 */
#ifndef TESTS_FAKE_LINK_H
#define TESTS_FAKE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/link.h"
#include "master/link_send.h"

#define FAKE_MAX_WORKERS 8
#define FAKE_MAX_SENT 64

enum fake_what { FAKE_CLEANUP = 1, FAKE_ACK };

/* One envelope that would have been sent. */
struct fake_sent {
	enum fake_what fs_what;
	struct worker *fs_worker;
	uint64_t fs_id;           /* CLEANUP: cleanup id; ACK: call id */
	uint64_t fs_call_id;      /* CLEANUP */
	uint64_t fs_seq;          /* CLEANUP, ACK */
	unsigned fs_attempt;      /* CLEANUP */
	char fs_route[32];        /* CLEANUP */
	char fs_name[32];         /* CLEANUP */
	int fs_reason_kind;       /* CLEANUP: its reason's wspool_reason_kind */
};

struct fake_link {
	struct worker w[FAKE_MAX_WORKERS];   /* storage; live ones are listed */
	struct worker *live[FAKE_MAX_WORKERS];
	size_t nlive;
	struct worker *congested;   /* link_send_congested answers true for it */
	bool fail_sends;            /* every send returns -1 */
	struct fake_sent sent[FAKE_MAX_SENT];
	size_t nsent;
	link_handler_fn handlers[128];
	link_down_fn on_down;
	link_gone_fn on_gone;
	link_silent_fn on_silent;
	unsigned refused;           /* link_refuse calls */
};

extern struct fake_link fake_link;

/* Forget everything (workers, sends, handlers). */
void fake_link_reset(void);
/* A live worker with this w_gen, state and reload generation. */
struct worker *fake_worker(uint64_t gen, enum worker_state state,
    unsigned generation);
/* Deliver an envelope as the link would: to the handler of its type;
 * returns the handler's result, or -1 when none is registered. */
int fake_link_deliver(struct worker *w, const struct proto_msg *m);
/* w is gone: off the live list, then the gone handler, as the reaper does. */
void fake_link_gone(struct worker *w, const struct wspool_reason *why);
/* The i-th send (0-based), which must exist. */
const struct fake_sent *fake_sent(size_t i);

#endif /* TESTS_FAKE_LINK_H */
