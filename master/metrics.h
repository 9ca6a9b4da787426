/*
 * metrics.h: what GET /metrics exposes, in the Prometheus text format:
 * the server counters of master.h, calls by route and outcome, a latency
 * histogram, and worker deaths by reason.
 */
#ifndef MASTER_METRICS_H
#define MASTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* How a call ended, as the client saw it. */
#define METRICS_OUTCOMES(X) \
	X(OK, "ok") X(ERROR, "error") X(CANCELLED, "cancelled") \
	X(DISCONNECTED, "disconnected") X(TIMEOUT, "timeout") \
	X(CRASHED, "crashed") X(LOST, "lost") X(SHUTDOWN, "shutdown")

enum metrics_outcome {
#define X(e, s) OUTCOME_##e,
	METRICS_OUTCOMES(X)
#undef X
	OUTCOME_COUNT
};

void metrics_init(void);
void metrics_fini(void);

/* A call ended: its route, outcome and duration in microseconds. */
void metrics_call_end(const char *route, enum metrics_outcome outcome,
    uint64_t usec);
/* A call refused before it reached a worker (400, 404, 429, 503). */
void metrics_call_refused(int code);
/* A worker died: "SIGSEGV", "exit", "lost", "killed"... */
void metrics_worker_death(const char *reason);

/* Render everything into out (appended). Returns 0 or -1. */
int metrics_render(msgpack_sbuffer *out);

/* The outcome's name ("ok", "crashed", ...). */
const char *metrics_outcome_name(enum metrics_outcome o);

/* Monotonic microseconds. */
uint64_t metrics_now_us(void);

#endif
