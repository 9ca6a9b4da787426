/*
 * worker.h: a worker as the master sees it, one struct shared by the
 * layers: each part is kept by the file its comment names, and read by
 * the others. Below link.c and link_send.c, which both keep parts of it.
 */
#ifndef MASTER_WORKER_H
#define MASTER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <nng/nng.h>
#include <uthash.h>

#include <wspool.h>

#include "common/log.h"
#include "json/write.h"
#include "proto/proto.h"

struct child;
struct event;
struct link_seen;

enum worker_state {
	W_JOINING = 0,  /* welcomed, waiting for READY */
	W_READY,
	W_DRAINING,     /* told to finish its calls and exit (reload, recycle) */
	W_GONE,         /* link closed; its death follows (link_gone) */
};

struct worker {
	uint64_t w_gen;                /* unique, never reused; the pipe-event token */
	enum worker_state w_state;
	pid_t w_pid;
	char w_host[256];
	unsigned w_generation;         /* reload generation (module version) */

	/* link.c's own. */
	nng_socket w_sock;
	struct event *w_recv_ev;
	bool w_bad;                    /* spoke garbage: read no more */
	unsigned w_strikes;            /* messages refused (link_refuse) */
	uint64_t w_last_rx_ms;         /* heartbeats: when it last sent anything */
	uint64_t w_last_tx_ms;         /* ...and when we last did (link_send.c) */
	nng_listener w_listener;
	struct log_rate w_lograte;     /* lines about what it sends */
	bool w_dead;                   /* link_gone: freed at the end of the turn */
	struct wspool_reason w_why;    /* why it is gone (strings copied below) */
	char w_why_signal[32];
	char w_why_message[128];
	UT_hash_handle hh;             /* live workers, by w_gen */
	TAILQ_ENTRY(worker) w_dead_link;

	/* link_send.c's own: what is being sent to it. */
	struct event *w_send_ev;       /* SENDFD, watched while blocked */
	struct json_buf w_out;         /* the batch being packed (empty: none) */
	struct proto_writer w_writer;  /* packs into w_out */
	nng_msg **w_full;              /* closed batches waiting, oldest first */
	unsigned *w_full_count;        /* their envelopes */
	size_t w_nfull;
	size_t w_full_cap;
	struct link_seen *w_conns;     /* connections it has had CONN_OPEN for */
	bool w_flush_queued;
	bool w_send_blocked;
	TAILQ_ENTRY(worker) w_flush_link;
	TAILQ_ENTRY(worker) w_send_link; /* open for sending (link_send_open) */

	/* Kept here for the layers above; the link never reads them. */
	struct child *w_child;         /* supervise.c: NULL when started by hand */
	struct event *w_timer;         /* supervise.c: join, drain or reap deadline */
	bool w_killed;                 /* supervise.c: this master sent SIGKILL */
	bool w_drain_expired;          /* supervise.c: draining past the grace */
	unsigned w_inflight;           /* sched.c: calls on this worker */
	unsigned w_capacity;           /* sched.c: most calls in flight on it:
	                                  its READY's threads + waiting, within
	                                  --worker-max-inflight (0: not told) */
	uint64_t w_ncalls;             /* sched.c: calls it has taken */
	bool w_runner;                 /* supervise.c: the cleanup runner */
	uint64_t w_sent;               /* rpc.c: CALLs sent to it (numbers them) */
	/* What its death says (supervise.c, rpc.c's deadline), read by the
	 * gone event: the call that killed it (0: unknown), and how many of
	 * the CALLs sent to it had started (w_started_known: from its crash
	 * page; else any may have). */
	uint64_t w_culprit;
	uint64_t w_started;
	bool w_started_known;
};

#endif /* MASTER_WORKER_H */
