/*
 * metrics.h: what GET /metrics exposes, in the Prometheus text format. A
 * leaf: the others update it, and it calls nothing of theirs but the
 * gauge callbacks they registered.
 */
#ifndef MASTER_METRICS_H
#define MASTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/*
 * The counters, listed once (memcached's X-macro): name (exposed as
 * wspool_<name>), type and help. The struct and the /metrics lines are
 * generated from this list, so a grep for the exposed name finds the code
 * that counts it.
 */
#define METRICS_COUNTERS(X) \
	X(connections_accepted_total, "counter", \
	    "Client connections accepted.") \
	X(connections_refused_total, "counter", \
	    "Connections refused at --max-connections.") \
	X(connections_compressed_total, "counter", \
	    "WebSocket connections that negotiated permessage-deflate.") \
	X(worker_starts_total, "counter", \
	    "Local workers started.") \
	X(cleanup_runs_total, "counter", \
	    "Deferred cleanup runs reported done.") \
	X(cleanup_reruns_total, "counter", \
	    "Runs of cleanups that may have run before (at least once).") \
	X(journal_commits_total, "counter", \
	    "Commits of the durable journal (one per loop turn that changed it).") \
	X(journal_commit_us_total, "counter", \
	    "Microseconds the loop spent in journal commits (flushes included).") \
	X(journal_commit_wait_us_total, "counter", \
	    "Microseconds from each journal commit to its confirmation (Redis: the round trip).") \
	X(journal_failures_total, "counter", \
	    "Journal commits that failed: their registrations were refused.") \
	X(journal_refused_total, "counter", \
	    "Cleanup registrations refused at once: the journal was unavailable.") \
	X(journal_reconnects_total, "counter", \
	    "Connections made again to the journal's Redis after losing it.") \
	X(runner_starts_total, "counter", \
	    "Cleanup runners started.") \
	X(runner_deaths_total, "counter", \
	    "Cleanup runners that died (any cause but a shutdown).") \
	X(calls_redispatched_total, "counter", \
	    "Calls sent to another worker: their worker died before they started.") \
	X(calls_rerun_total, "counter", \
	    "Idempotent calls run again: a neighbour crashed their worker.") \
	X(deadline_cancels_total, "counter", \
	    "Calls cancelled on their worker at their deadline (504 sent).") \
	X(deadline_kills_total, "counter", \
	    "Workers killed: a call ran on past --deadline-grace after its cancel.") \
	X(notifications_dropped_total, "counter", \
	    "Notifications dropped: their connection had --max-inflight calls.") \
	X(cleanups_retried_total, "counter", \
	    "Deferred cleanups handed over to another worker after a death.") \
	X(cleanups_dropped_total, "counter", \
	    "Deferred cleanups dropped after crashing their worker too often.") \
	X(bytes_received_total, "counter", \
	    "Bytes read from clients.") \
	X(bytes_sent_total, "counter", \
	    "Bytes written to client sockets.") \
	X(connections_send_timeout_total, "counter", \
	    "Connections closed (1008): over --max-client-backlog for --send-timeout.") \
	X(worker_messages_refused_total, "counter", \
	    "Messages from workers refused: for a call or cleanup not given to them.") \
	X(worker_joins_refused_total, "counter", \
	    "HELLOs refused: another module, too many joins at once, not a HELLO.") \
	X(worker_batches_sent_total, "counter", \
	    "nng messages sent to workers (each a batch of envelopes).") \
	X(worker_envelopes_sent_total, "counter", \
	    "Envelopes sent to workers, in those batches.") \
	X(worker_batches_received_total, "counter", \
	    "nng messages received from workers.") \
	X(worker_envelopes_received_total, "counter", \
	    "Envelopes received from workers, in those batches.")

struct metrics_counters {
#define X(name, type, help) uint64_t name;
	METRICS_COUNTERS(X)
#undef X
};

/* Add to a counter directly: metrics_counters.bytes_sent_total += n. */
extern struct metrics_counters metrics_counters;

/*
 * A gauge owned elsewhere, read when /metrics is rendered: name and help
 * are static strings, fn answers the value (from the loop thread).
 * Register at start-up. Returns 0, or -1 when the table is full.
 */
typedef uint64_t (*metrics_gauge_fn)(void);
int metrics_gauge(const char *name, const char *help, metrics_gauge_fn fn);

/* The same for a counter owned elsewhere (one that nng keeps, say). */
int metrics_counter_cb(const char *name, const char *help, metrics_gauge_fn fn);

/*
 * The label values of wspool_calls_total's outcome, indexed by outcome
 * (at most METRICS_MAX_OUTCOMES): registered once by the owner of calls.
 * names must stay valid.
 */
#define METRICS_MAX_OUTCOMES 16
void metrics_outcomes(const char *const *names, unsigned n);

/* A call ended: its route, outcome (an index into the names registered)
 * and duration in microseconds. */
void metrics_call_end(const char *route, unsigned outcome, uint64_t usec);
/* A call refused before it reached a worker (400, 404, 429, 503). */
void metrics_call_refused(int code);
/* A worker died: "SIGSEGV", "exit", "lost", "shutdown"... */
void metrics_worker_death(const char *reason);

/* Render everything into out (appended). Returns 0 or -1. */
int metrics_render(msgpack_sbuffer *out);

/* Forget the gauges and the labelled values (after the loop). */
void metrics_fini(void);

#endif /* MASTER_METRICS_H */
