/*
 * flow.c: credits for subscriptions: what a connection's output budget
 * lets their workers send (design notes in flow.h).
 */
#include "config.h"

#include <event2/event.h>
#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/calls.h"
#include "master/flow.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "proto/proto.h"

/* Credit is given back in pieces of at least a quarter of the window. */
#define FLOW_GRANT_MIN (srv.cfg.stream_window / 4)
/* A CREDIT that could not be sent (no memory for the batch) is tried
 * again this much later: its worker may wait for nothing else. */
#define FLOW_RETRY_MS 100

static struct {
	struct event *retry;    /* armed while a grant is owed after a failure */
} flow;

/* Subscriptions whose credit is withheld for their client: counted when
 * /metrics asks (a scrape walks the calls; nothing to keep in step). A
 * detached one only waits for its CANCEL to arrive. */
static uint64_t
flow_paused_gauge_cb(void)
{
	struct call *call;
	uint64_t n = 0;

	for (call = calls_next(NULL); call != NULL; call = calls_next(call))
		n += call->k_paused && call->k_conn != NULL;
	return n;
}

void
flow_init(void)
{
	metrics_gauge("wspool_subscriptions_paused",
	    "Subscriptions waiting for credit: their client has more than "
	    "--max-client-backlog unread.", flow_paused_gauge_cb);
}

static void flow_retry_later(void);

static void
flow_grant(struct call *call)
{
	if (call->k_owed == 0 || call->k_worker == NULL)
		return;
	if (link_send_credit(call->k_worker, call->k_id, call->k_owed) == 0)
		call->k_owed = 0;
	else
		flow_retry_later();
	call->k_paused = false;
}

/* Every call owed credit and not paused for its client: a grant that
 * failed (the others are paid as their chunks come). */
static void
flow_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *call;

	(void)fd;
	(void)what;
	(void)arg;
	for (call = calls_next(NULL); call != NULL; call = calls_next(call))
		if (call->k_owed > 0 && !call->k_paused && call->k_conn != NULL)
			flow_grant(call);
}

static void
flow_retry_later(void)
{
	struct timeval tv = clock_tv(FLOW_RETRY_MS);

	if (flow.retry == NULL &&
	    (flow.retry = evtimer_new(srv.base, flow_retry_cb, NULL)) == NULL) {
		log_error("out of memory: a subscription's credit waits for "
		    "its next chunk");
		return;
	}
	if (!evtimer_pending(flow.retry, NULL))
		evtimer_add(flow.retry, &tv);
}

void
flow_fini(void)
{
	if (flow.retry != NULL)
		event_free(flow.retry);
	flow.retry = NULL;
}

void
flow_on_start(struct call *call)
{
	call->k_owed = 0;
	call->k_paused = false;
	/* Its worker gave it PROTO_CREDIT_WINDOW: the rest of the window. */
	if (call->k_pattern == WSPOOL_SUBSCRIPTION &&
	    srv.cfg.stream_window > PROTO_CREDIT_WINDOW)
		(void)link_send_credit(call->k_worker, call->k_id,
		    srv.cfg.stream_window - PROTO_CREDIT_WINDOW);
}

void
flow_on_chunk(struct call *call, size_t len, size_t backlog)
{
	call->k_owed += PROTO_CHUNK_COST(len, call->k_client_id_len);
	if (backlog > srv.cfg.max_client_backlog) {
		call->k_paused = true;
		return;
	}
	if (call->k_owed >= FLOW_GRANT_MIN)
		flow_grant(call);
}

void
flow_conn_writable(struct calls_conn *cc)
{
	struct call *call;

	for (call = calls_conn_next(cc, NULL); call != NULL;
	    call = calls_conn_next(cc, call))
		if (call->k_owed > 0)
			flow_grant(call);
}
