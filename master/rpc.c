/*
 * rpc.c: the wire protocol (../shared/spec/wire-protocol.md) on the master
 * side: client messages in, calls out to workers, worker replies back to
 * clients as JSON, deadlines and cancelling (the calls themselves:
 * calls.c). See rpc.h for the life of a call.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "json/utf8.h"
#include "json/write.h"
#include "master/answer.h"
#include "master/calls.h"
#include "master/conn.h"
#include "master/flow.h"
#include "master/journal.h"
#include "master/link.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/request.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/sched.h"
#include "master/supervise.h"
#include "master/timeouts.h"
#include "proto/proto.h"

static struct {
	struct json_buf out;         /* scratch: an answer being written */
	bool started;                /* rpc_init ran: rpc_fini has work */
	struct log_rate dropped;     /* lines about notifications dropped */
} rpc;

static void rpc_sched_start_cb(struct sched_entry *e, struct worker *w);
static void rpc_sched_expire_cb(struct sched_entry *e);
static void rpc_deadline_cb(struct timeouts_entry *e);
static void rpc_note_ready_cb(struct call *call);

static const struct sched_hooks rpc_sched_hooks = {
	.sh_start = rpc_sched_start_cb,
	.sh_expire = rpc_sched_expire_cb,
};

int
rpc_init(void)
{
	rpc.started = true;
	json_buf_init(&rpc.out);
	calls_init(rpc_note_ready_cb);
	flow_init();
	if (timeouts_init(rpc_deadline_cb) != 0)
		return -1;
	return sched_init(&rpc_sched_hooks);
}

void
rpc_fini(void)
{
	if (!rpc.started)
		return;
	rpc.started = false;
	flow_fini();
	calls_fini();
	json_buf_free(&rpc.out);
	timeouts_fini();
	sched_fini();
}

static void
rpc_reason(struct wspool_reason *r, enum wspool_reason_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->status = -1;
}

/* ---- writing answers ------------------------------------------------------ */

/* Our scratch never keeps more than this between answers. */
#define RPC_OUT_KEEP (64u * 1024)

static void
rpc_send_out(struct conn *c, int rv)
{
	if (rv == 0)
		conn_send_text(c, rpc.out.jb_data, rpc.out.jb_len);
	else
		log_error("conn %llu: out of memory writing an answer",
		    (unsigned long long)c->c_id);
	json_buf_reset(&rpc.out, RPC_OUT_KEEP);
}

static void
rpc_send_error(struct conn *c, const char *id, size_t id_len, int code,
    const char *msg)
{
	rpc_send_out(c, answer_error(&rpc.out, id, id_len, code, msg,
	    strlen(msg), NULL, 0, NULL));
}

/* A call refused before it reached a worker; notifications get nothing. */
static void
rpc_refuse(struct conn *c, const char *id, size_t id_len, int code,
    const char *msg)
{
	metrics_call_refused(code);
	if (id != NULL)
		rpc_send_error(c, id, id_len, code, msg);
}

/* An error whose data is a reason (502, 503, 504). */
static void
rpc_send_reason_error(struct conn *c, const struct call *call, int code,
    const char *msg, const struct wspool_reason *reason)
{
	rpc_send_out(c, answer_error(&rpc.out, call->k_client_id,
	    call->k_client_id_len, code, msg, strlen(msg), NULL, 0, reason));
}

/* ---- calls: deadlines, abandoning, sending, waiting ------------------------- */

/* How often a call past its deadline and grace that had not started is
 * looked at again. */
#define RPC_RECHECK_MS() \
	(srv.cfg.deadline_grace_ms > 100 ? srv.cfg.deadline_grace_ms : 100)

#define RPC_CALL_OF_DEADLINE(e) \
	((struct call *)(void *)((char *)(e) - offsetof(struct call, k_deadline)))

/* A handler ignored its deadline's cancel: stop its worker, naming it. The
 * call ends with the worker's death, never before this returns. A call
 * that has not even started (it waits for a thread behind others) is not
 * hung: it will not run (the worker skips a cancelled call) and ends when
 * a thread takes it; killing the worker would only hurt the others. */
static void
rpc_deadline_kill(struct call *call, struct worker *w)
{
	char why[96];

	if (supervise_not_started(w, call->k_wseq)) {
		if (!(call->k_flags & CALL_UNSTARTED))
			log_info("call %llu (%s) passed its deadline before "
			    "starting on worker %d: cancelled there",
			    (unsigned long long)call->k_id, call->k_route,
			    (int)w->w_pid);
		call->k_flags |= CALL_UNSTARTED;
		/* Look again later: the worker skips it only if the cancel
		 * it saw first was the deadline's (a disconnect's or a
		 * .cancel's lets it run), and only if that cancel arrived
		 * before a thread took it (--deadline-grace 0). One that
		 * starts after all is bounded like any other. */
		if (timeouts_set(&call->k_deadline, RPC_RECHECK_MS(),
		    clock_now_us()) == 0)
			return;
		log_warn("call %llu: out of memory: its worker is stopped",
		    (unsigned long long)call->k_id);
	}

	snprintf(why, sizeof(why), "call %llu (%s) ignored the cancel of its "
	    "deadline", (unsigned long long)call->k_id, call->k_route);
	metrics_counters.deadline_kills_total++;
	if (w->w_culprit == 0)
		w->w_culprit = call->k_id;
	supervise_kill(w, why);
}

/*
 * A deadline is a cancel first: the client gets 504 at once, the handler
 * is cancelled with reason timeout (its cancellable waits return) and gets
 * --deadline-grace to return. Only a call still running after the grace
 * gets its worker killed, as the culprit: its neighbours are spared as a
 * crash's are (neighbours.c).
 */
static void
rpc_deadline_cb(struct timeouts_entry *e)
{
	struct call *call = RPC_CALL_OF_DEADLINE(e);
	struct worker *w = call->k_worker;
	struct wspool_reason reason;

	if (call->k_flags & CALL_GRACE) {
		rpc_deadline_kill(call, w);
		return;
	}
	/* Abandoned already (its client cancelled or left): its worker has
	 * that cancel, so the deadline only starts the grace. */
	if (call->k_outcome >= 0 && w != NULL)
		goto grace;
	rpc_reason(&reason, WSPOOL_REASON_TIMEOUT);
	calls_set_outcome(call, OUTCOME_TIMEOUT);
	journal_call_ended(call->k_id, &reason, false);
	if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
		rpc_send_reason_error(call->k_conn, call, 504, "Gateway Timeout", &reason);
	if (w == NULL) { /* queued or held: nothing runs it yet */
		calls_free(call);
		return;
	}
	/* The call lives on until its terminal reply (or its worker's
	 * death): a notification after it on its connection still waits. */
	calls_detach(call);
	link_send_cancel(w, call->k_id, &reason);
	metrics_counters.deadline_cancels_total++;
grace:
	call->k_flags |= CALL_GRACE;
	if (srv.cfg.deadline_grace_ms == 0 ||
	    timeouts_set(&call->k_deadline, srv.cfg.deadline_grace_ms,
	    clock_now_us()) != 0)
		rpc_deadline_kill(call, w);
}

/*
 * Nothing more goes to the client for this call: record why, and tell its
 * worker (which still owes its terminal reply), or end it now if it never
 * reached one (queued).
 */
static void
rpc_abandon(struct call *call, enum call_outcome outcome,
    const struct wspool_reason *reason)
{
	calls_detach(call);
	calls_set_outcome(call, outcome);
	journal_call_ended(call->k_id, reason, false);
	if (call->k_worker != NULL)
		link_send_cancel(call->k_worker, call->k_id, reason);
	else
		calls_free(call);
}

void
rpc_worker_drained_cb(struct worker *w, const struct wspool_reason *reason)
{
	struct call *call, *next;

	for (call = calls_next(NULL); call != NULL; call = next) {
		next = calls_next(call);
		if (call->k_worker != w)
			continue;
		link_send_cancel(w, call->k_id, reason);
		if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
			rpc_send_reason_error(call->k_conn, call, 503,
			    "Service Unavailable: worker draining", reason);
		calls_set_outcome(call, OUTCOME_SHUTDOWN);
		calls_detach(call);
		journal_call_ended(call->k_id, reason, false);
	}
}

/* Keep a copy of the params with the call until it ends. 0 or -1. */
static int
rpc_keep_params(struct call *call, const char *params, size_t len)
{
	if (call->k_params != NULL)
		return 0;
	if ((call->k_params = malloc(len ? len : 1)) == NULL)
		return -1;
	memcpy(call->k_params, params, len);
	call->k_params_len = len;
	return 0;
}

int
rpc_send_call(struct call *call, struct worker *w, const char *params,
    size_t len)
{
	struct conn *c = call->k_conn;
	struct link_conn lc;

	if (c != NULL) {
		lc.lc_id = c->c_id;
		lc.lc_uuid = c->c_uuid;
		lc.lc_ip = c->c_ip;
		lc.lc_names = (const char *const *)c->c_hnames;
		lc.lc_values = (const char *const *)c->c_hvalues;
		lc.lc_nheaders = c->c_nheaders;
	}
	/* Kept until it ends: its worker may die before it starts. */
	if (rpc_keep_params(call, params, len) != 0)
		return -1;
	if (link_send_call(w, c != NULL ? &lc : NULL, call->k_id, call->k_route,
	    call->k_route_len, params, len, (call->k_flags & CALL_NOTIFY) ? NULL : call->k_client_id,
	    call->k_client_id_len,
	    (call->k_flags & CALL_NOTIFY) ? PROTO_CALL_NOTIFY : 0) != 0)
		return -1;
	call->k_wseq = ++w->w_sent;
	call->k_worker = w;
	call->k_worker_pid = (int)w->w_pid;
	flow_on_start(call);
	sched_assign(w);
	return 0;
}

#define RPC_CALL_OF(e) \
	((struct call *)(void *)((char *)(e) - offsetof(struct call, k_sched)))

/* sched: a worker can take a waiting call now. */
static void
rpc_sched_start_cb(struct sched_entry *e, struct worker *w)
{
	struct call *call = RPC_CALL_OF(e);

	if (rpc_send_call(call, w, call->k_params, call->k_params_len) != 0) {
		if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
			rpc_send_error(call->k_conn, call->k_client_id,
			    call->k_client_id_len, 503, "Service Unavailable");
		calls_free(call);
	}
}

/* sched: a call waited --queue-timeout for a worker. */
static void
rpc_sched_expire_cb(struct sched_entry *e)
{
	struct call *call = RPC_CALL_OF(e);

	if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
		rpc_send_error(call->k_conn, call->k_client_id,
		    call->k_client_id_len, 503,
		    "Service Unavailable: no worker could take the call in time");
	metrics_call_refused(503);
	calls_set_outcome(call, OUTCOME_SHUTDOWN);
	calls_free(call);
}

/* No worker can take the call now: wait for one, within bounds. */
static int
rpc_enqueue(struct call *call, const char *params, size_t len)
{
	if (sched_enqueue(&call->k_sched) != 0)
		return -1;
	if (rpc_keep_params(call, params, len) != 0) {
		sched_dequeue(&call->k_sched);
		return -1;
	}
	return 0;
}

/*
 * calls: the notification after one that ended may start (calls.h: the
 * order of notifications). It was accepted: it goes to a worker, or to
 * the back of the queue whatever its bounds; it never ends here.
 */
static void
rpc_note_ready_cb(struct call *call)
{
	struct worker *w;

	if (call->k_attached == NULL || call->k_attached->cc_closing)
		return; /* rpc_conn_closed ends it */
	if (!sched_waiting() && (w = sched_pick()) != NULL &&
	    rpc_send_call(call, w, call->k_params, call->k_params_len) == 0)
		return;
	sched_append(&call->k_sched);
}

void
rpc_cancel_all(const struct wspool_reason *reason)
{
	struct call *call, *next;

	for (call = calls_next(NULL); call != NULL; call = next) {
		next = calls_next(call);
		if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
			rpc_send_reason_error(call->k_conn, call, 503,
			    "Service Unavailable: shutting down", reason);
		rpc_abandon(call, OUTCOME_SHUTDOWN, reason);
	}
}

/* ---- client messages ------------------------------------------------------ */

static void
rpc_cancel(struct conn *c, const struct request *rq)
{
	struct call *call;
	struct wspool_reason reason;
	char target[REQUEST_ID_JSON_MAX];
	const char *key = NULL, *first;
	size_t key_len = 0, first_len;
	int n;

	/* The target is params[0], else the message's own id. */
	if (request_first_param(rq, &first, &first_len) == 0 &&
	    (n = request_id_canon(first, first_len, target)) > 0) {
		key = target;
		key_len = (size_t)n;
	} else if (rq->rq_has_id) {
		key = rq->rq_id;
		key_len = rq->rq_id_len;
	}
	if (key == NULL)
		return;
	if ((call = calls_find_client(&c->c_calls, key, key_len)) == NULL)
		return; /* unknown or finished: ignored */
	rpc_reason(&reason, WSPOOL_REASON_CANCELLED);
	rpc_abandon(call, OUTCOME_CANCELLED, &reason);
}

static const char rpc_pong[] = "{\"pong\":true}";

void
rpc_on_message(struct conn *c, const char *data, size_t len)
{
	struct request rq;
	enum request_status st;
	const struct route *r;
	struct worker *w = NULL;
	struct call *call;
	const char *id, *params;
	size_t id_len, key_len, params_len;
	uint64_t timeout_ms;

	st = request_parse(&rq, data, len);
	id = rq.rq_has_id ? rq.rq_id : NULL;
	id_len = rq.rq_has_id ? rq.rq_id_len : 0;
	if (st == REQUEST_BAD_JSON) {
		rpc_send_error(c, NULL, 0, 400, rq.rq_error);
		return;
	}
	/* .ping is answered whatever params or id it carries. */
	if (rq.rq_ping) {
		conn_send_text(c, rpc_pong, sizeof(rpc_pong) - 1);
		return;
	}
	if (st != REQUEST_OK) {
		rpc_send_error(c, id, id_len, 400, rq.rq_error);
		return;
	}
	if (rq.rq_method_len == 7 && memcmp(rq.rq_method, ".cancel", 7) == 0) {
		rpc_cancel(c, &rq);
		return;
	}
	if (srv.stopping) {
		rpc_refuse(c, id, id_len, 503, "Service Unavailable: shutting down");
		return;
	}
	if (!routes_known()) {
		/* No worker has joined yet: the route table is unknown. */
		rpc_refuse(c, id, id_len, 503, "Service Unavailable: no worker ready");
		return;
	}
	r = rq.rq_method_too_long ? NULL :
	    routes_find(rq.rq_method, rq.rq_method_len);
	if (r == NULL) {
		rpc_refuse(c, id, id_len, 404, "Not Found");
		return;
	}
	if (id != NULL) {
		if (calls_find_client(&c->c_calls, id, id_len) != NULL) {
			rpc_refuse(c, id, id_len, 400, "Duplicate id: a call with this id is in flight");
			return;
		}
	}
	if (c->c_calls.cc_count >= srv.cfg.max_inflight) {
		/* A notification cannot be answered 429: it is dropped,
		 * counted, and logged (rate-limited). */
		if (id == NULL) {
			metrics_counters.notifications_dropped_total++;
			log_rated(&rpc.dropped, LOG_WARN, "conn %llu: "
			    "notification %.*s dropped: %u calls in flight "
			    "(--max-inflight)", (unsigned long long)c->c_id,
			    (int)(rq.rq_method_len > 64 ? 64 : rq.rq_method_len),
			    rq.rq_method, c->c_calls.cc_count);
		}
		rpc_refuse(c, id, id_len, 429, "Too Many Requests");
		return;
	}
	/* Notifications are keyed by "\0n" and their call id: no JSON id
	 * starts with a NUL byte. */
	key_len = id != NULL ? id_len : 2 + sizeof(uint64_t);
	if ((call = calls_alloc(key_len)) == NULL) {
		rpc_refuse(c, id, id_len, 503, "Service Unavailable: out of memory");
		return;
	}
	call->k_id = journal_next_call_id();
	call->k_route = r->r_name;
	call->k_route_len = r->hh.keylen;
	call->k_pattern = r->r_pattern;
	call->k_outcome = -1;
	call->k_start_us = clock_now_us();
	call->k_conn_id = c->c_id;
	if (id != NULL) {
		memcpy(call->k_client_id, id, id_len);
	} else {
		call->k_flags |= CALL_NOTIFY;
		call->k_client_id[0] = '\0';
		call->k_client_id[1] = 'n';
		memcpy(call->k_client_id + 2, &call->k_id, sizeof(call->k_id));
	}
	call->k_client_id_len = key_len;
	calls_add(call, c, &c->c_calls);
	timeout_ms = r->r_timeout_ms;
	if (timeout_ms == 0 && r->r_pattern != WSPOOL_SUBSCRIPTION)
		timeout_ms = srv.cfg.call_timeout_ms;
	if (timeout_ms > 0 && timeouts_set(&call->k_deadline, timeout_ms,
	    call->k_start_us) != 0)
		log_warn("call %llu: out of memory: no deadline",
		    (unsigned long long)call->k_id);
	params = rq.rq_params != NULL ? rq.rq_params : "";
	params_len = rq.rq_params_len;
	/* One notification of a connection at a time, in arrival order. */
	if (id == NULL && calls_note_chain(call, &c->c_calls)) {
		if (rpc_keep_params(call, params, params_len) == 0)
			return;
	} else if (!sched_waiting() && (w = sched_pick()) != NULL) {
		if (rpc_send_call(call, w, params, params_len) == 0)
			return;
	} else if (rpc_enqueue(call, params, params_len) == 0) {
		return;
	}
	rpc_refuse(c, id, id_len, 503, "Service Unavailable: no worker can take the call");
	calls_set_outcome(call, OUTCOME_SHUTDOWN);
	calls_free(call);
}

void
rpc_conn_closed(struct conn *c)
{
	struct call *call, *next;
	struct wspool_reason reason;

	rpc_reason(&reason, WSPOOL_REASON_DISCONNECTED);
	calls_conn_gone(&c->c_calls);
	for (call = calls_conn_next(&c->c_calls, NULL); call != NULL;
	    call = next) {
		next = calls_conn_next(&c->c_calls, call);
		rpc_abandon(call, OUTCOME_DISCONNECTED, &reason);
	}
	link_send_conn_close(c->c_id);
}

void
rpc_conn_writable(struct conn *c)
{
	flow_conn_writable(&c->c_calls);
}

/* ---- worker replies --------------------------------------------------------- */

/* Frame {"id":ID,"result":TEXT} (text NULL: {"id":ID}) for the client;
 * key replaces "result" when not NULL. */
static void
rpc_send_result(struct conn *c, const struct call *call, const char *key,
    const char *text, size_t len)
{
	struct iovec iov[5];

	iov[0].iov_base = (void *)"{\"id\":";
	iov[0].iov_len = 6;
	iov[1].iov_base = (void *)call->k_client_id;
	iov[1].iov_len = call->k_client_id_len;
	if (text == NULL) {
		iov[2].iov_base = (void *)"}";
		iov[2].iov_len = 1;
		conn_send_textv(c, iov, 3);
		return;
	}
	iov[2].iov_base = (void *)(key != NULL ? key : ",\"result\":");
	iov[2].iov_len = strlen(iov[2].iov_base);
	iov[3].iov_base = (void *)text;
	iov[3].iov_len = len;
	iov[4].iov_base = (void *)"}";
	iov[4].iov_len = 1;
	conn_send_textv(c, iov, 5);
}

/* A worker's JSON text: never sent unless it is UTF-8 (a text frame must
 * be); the worker wrote it, so it is not parsed. */
static bool
rpc_text_ok(const struct proto_bytes *b)
{
	return b->len > 0 && utf8_valid(b->ptr, b->len);
}

void
rpc_on_reply(struct worker *w, const struct proto_msg *m)
{
	struct call *call;
	struct conn *c;
	bool terminal = true;

	call = calls_find(m->id);
	if (call == NULL || call->k_worker != w) {
		log_debug("worker %d: reply for unknown call %llu", (int)w->w_pid,
		    (unsigned long long)m->id);
		return;
	}
	c = (call->k_flags & CALL_NOTIFY) ? NULL : call->k_conn;
	switch (m->type) {
	case PROTO_RESULT:
		if (c == NULL)
			break;
		if (!rpc_text_ok(&m->value)) {
			rpc_send_error(c, call->k_client_id, call->k_client_id_len,
			    500, "Internal Server Error: invalid result");
			break;
		}
		rpc_send_result(c, call, NULL, m->value.ptr, m->value.len);
		break;
	case PROTO_CHUNK:
		terminal = false;
		if (c != NULL && m->has_value && rpc_text_ok(&m->value))
			rpc_send_result(c, call, NULL, m->value.ptr, m->value.len);
		else if (c != NULL)
			rpc_send_result(c, call, NULL, NULL, 0);
		/* Its credit comes back as its client reads (flow.h). */
		if (call->k_conn != NULL)
			flow_on_chunk(call, m->has_value ? m->value.len : 0,
			    c != NULL ? sockio_pending(&c->c_sock) : 0);
		break;
	case PROTO_END:
		if (c == NULL)
			break;
		if (call->k_pattern == WSPOOL_SUBSCRIPTION)
			rpc_send_result(c, call, ",\"close\":", "true", 4);
		else
			rpc_send_result(c, call, NULL, "null", 4);
		break;
	case PROTO_ERROR:
		if (c == NULL)
			break;
		/* A worker is not trusted with the code either. */
		rpc_send_out(c, answer_error(&rpc.out, call->k_client_id,
		    call->k_client_id_len,
		    m->num >= 400 && m->num <= 599 ? (int)m->num : 500,
		    m->str.ptr, m->str.len,
		    m->has_value && rpc_text_ok(&m->value) ? m->value.ptr : NULL,
		    m->value.len, NULL));
		break;
	default:
		return;
	}
	if (terminal) {
		struct wspool_reason reason;
		char msg[256];

		rpc_reason(&reason, m->type == PROTO_ERROR ? WSPOOL_REASON_ERROR :
		    WSPOOL_REASON_NONE);
		if (m->type == PROTO_ERROR) {
			reason.code = (int)m->num;
			snprintf(msg, sizeof(msg), "%.*s", (int)m->str.len, m->str.ptr);
			reason.message = msg;
		}
		journal_call_ended(call->k_id, &reason, true);
		if (journal_has_call(call->k_id))
			link_send_ack(w, call->k_id, PROTO_ANSWER_ACK);
		calls_set_outcome(call, m->type == PROTO_ERROR ? OUTCOME_ERROR : OUTCOME_OK);
		calls_free(call);
		sched_feed();
	}
}

void
rpc_call_lost(struct call *call, const struct wspool_reason *reason)
{
	const char *msg = reason->kind == WSPOOL_REASON_LOST ? "Bad Gateway: worker lost" :
	    reason->kind == WSPOOL_REASON_SHUTDOWN ? "Service Unavailable: shutting down" :
	    "Bad Gateway: worker crashed";
	int code = reason->kind == WSPOOL_REASON_SHUTDOWN ? 503 : 502;

	if (call->k_conn != NULL && !(call->k_flags & CALL_NOTIFY))
		rpc_send_reason_error(call->k_conn, call, code, msg, reason);
	calls_set_outcome(call, reason->kind == WSPOOL_REASON_LOST ? OUTCOME_LOST :
	    reason->kind == WSPOOL_REASON_SHUTDOWN ? OUTCOME_SHUTDOWN :
	    OUTCOME_CRASHED);
	calls_free(call);
}
