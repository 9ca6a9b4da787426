/*
 * link_send.c: the sending side of the link to each worker: the batch
 * packed during a loop turn and flushed at its end, closed at its size
 * cap, and held while nng is busy (SENDFD). Design notes in link_send.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/log.h"
#include "json/write.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/worker.h"
#include "proto/proto.h"

/* Memory a link keeps for packing between batches. */
#define LINK_OUT_KEEP (1024u * 1024)
/* A batch is closed before an envelope would take it past this many bytes
 * (an envelope alone may be larger: PROTO_MAX_BATCH bounds it). */
#define LINK_BATCH_MAX (8u * 1024 * 1024)
/* Room for an envelope's fields besides its values. */
#define LINK_ENVELOPE_SLACK 256

/* A connection a worker has had CONN_OPEN for. */
struct link_seen {
	uint64_t ls_id;
	UT_hash_handle hh;
};

static struct {
	link_send_fail_fn on_fail;
	struct event *flush_ev;
	TAILQ_HEAD(, worker) flushq;   /* with a batch to send this turn */
	TAILQ_HEAD(, worker) open;     /* open for sending, in join order */
} sends;

/* msgpack_packer_write: append to the batch being packed. */
static int
link_send_write_cb(void *data, const char *buf, size_t len)
{
	return json_put_raw(data, buf, len);
}

/* proto_writer_direct: room at the end of the batch. */
static void *
link_send_reserve_cb(void *data, size_t n)
{
	struct json_buf *b = data;
	void *p;

	if (json_buf_room(b, n) != 0)
		return NULL;
	p = b->jb_data + b->jb_len;
	b->jb_len += n;
	return p;
}

/* The current batch, copied into a new nng message (NULL: no memory). */
static nng_msg *
link_send_batch_msg(struct worker *w)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, w->w_out.jb_len) != 0)
		return NULL;
	memcpy(nng_msg_body(m), w->w_out.jb_data, w->w_out.jb_len);
	return m;
}

/* Offer the oldest batch to nng: 0 sent, 1 nng is busy (w_send_blocked,
 * SENDFD watched), -1 failed. */
static int
link_send_one(struct worker *w)
{
	bool closed = w->w_nfull > 0;
	nng_msg *m = closed ? w->w_full[0] : link_send_batch_msg(w);
	unsigned count = closed ? w->w_full_count[0] : w->w_writer.count;
	int rv;

	if (m == NULL) {
		log_error("worker %d: out of memory sending a batch",
		    (int)w->w_pid);
		return -1;
	}
	if ((rv = nng_sendmsg(w->w_sock, m, NNG_FLAG_NONBLOCK)) == 0) {
		w->w_last_tx_ms = clock_now_ms();
		metrics_counters.worker_batches_sent_total++;
		metrics_counters.worker_envelopes_sent_total += count;
		if (closed) {
			memmove(w->w_full_count, w->w_full_count + 1,
			    (w->w_nfull - 1) * sizeof(*w->w_full_count));
			memmove(w->w_full, w->w_full + 1,
			    --w->w_nfull * sizeof(*w->w_full));
		} else {
			json_buf_reset(&w->w_out, LINK_OUT_KEEP);
		}
		return 0;
	}
	if (!closed)
		nng_msg_free(m);
	if (rv == NNG_EAGAIN) {
		/* The last batch is still being written: keep packing into
		 * w_out; SENDFD says when nng can take the next. */
		w->w_send_blocked = true;
		event_add(w->w_send_ev, NULL);
		return 1;
	}
	log_warn("worker %d: send failed: %s", (int)w->w_pid, nng_strerror(rv));
	return -1;
}

static void
link_send_flush(struct worker *w)
{
	if (w->w_send_blocked || w->w_state == W_GONE)
		return;
	if (w->w_out.jb_len > 0 && w->w_writer.error != 0) {
		log_error("worker %d: out of memory packing a batch", (int)w->w_pid);
		sends.on_fail(w, "out of memory");
		return;
	}
	/* A put refused after the batch was started leaves only the version:
	 * never send a batch with no envelope (the worker would take it for
	 * garbage). */
	if (w->w_writer.count == 0)
		w->w_out.jb_len = 0;
	while (w->w_nfull > 0 || w->w_out.jb_len > 0)
		if (link_send_one(w) != 0)
			return;
}

static void
link_send_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w;

	while ((w = TAILQ_FIRST(&sends.flushq)) != NULL) {
		TAILQ_REMOVE(&sends.flushq, w, w_flush_link);
		w->w_flush_queued = false;
		link_send_flush(w);
	}
}

static void
link_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->w_send_blocked = false;
	event_del(w->w_send_ev);
	link_send_flush(w);
}

/* Close the current batch: it waits, in order, for nng. */
static int
link_send_close_batch(struct worker *w)
{
	nng_msg *m;

	if (w->w_nfull == w->w_full_cap) {
		size_t cap = w->w_full_cap ? w->w_full_cap * 2 : 4;
		nng_msg **f = realloc(w->w_full, cap * sizeof(*f));
		unsigned *c;

		if (f == NULL)
			return -1;
		w->w_full = f;
		if ((c = realloc(w->w_full_count, cap * sizeof(*c))) == NULL)
			return -1;
		w->w_full_count = c;
		w->w_full_cap = cap;
	}
	if ((m = link_send_batch_msg(w)) == NULL)
		return -1;
	w->w_full_count[w->w_nfull] = w->w_writer.count;
	w->w_full[w->w_nfull++] = m;
	json_buf_reset(&w->w_out, LINK_OUT_KEEP);
	return 0;
}

/*
 * The writer for w's current batch, flushed at the end of this turn, or
 * NULL when w's link is closed or memory ran out. size: about how many
 * bytes the envelope's values take (a batch that cannot hold them too is
 * closed first).
 */
static struct proto_writer *
link_send_writer(struct worker *w, size_t size)
{
	if (w->w_state == W_GONE)
		return NULL;
	if (w->w_out.jb_len > 0 && w->w_writer.count > 0 &&
	    w->w_writer.error == 0 &&
	    w->w_out.jb_len + size + LINK_ENVELOPE_SLACK > LINK_BATCH_MAX &&
	    link_send_close_batch(w) != 0)
		return NULL;
	if (w->w_out.jb_len == 0) {
		if (proto_writer_init(&w->w_writer, &w->w_out,
		    link_send_write_cb) != 0) {
			w->w_out.jb_len = 0;
			return NULL;
		}
		proto_writer_direct(&w->w_writer, link_send_reserve_cb);
	}
	if (!w->w_flush_queued) {
		w->w_flush_queued = true;
		TAILQ_INSERT_TAIL(&sends.flushq, w, w_flush_link);
		event_active(sends.flush_ev, EV_TIMEOUT, 0);
	}
	return &w->w_writer;
}

int
link_send_call(struct worker *w, const struct link_conn *conn,
    uint64_t call_id, const char *route, size_t route_len, const void *params,
    size_t params_len, const char *id, size_t id_len, uint64_t flags)
{
	struct proto_writer *pw;
	struct link_seen *ls = NULL;
	size_t size = params_len + id_len + route_len;

	if (conn != NULL) {
		HASH_FIND(hh, w->w_conns, &conn->lc_id, sizeof(conn->lc_id), ls);
		/* w has not seen it: CONN_OPEN first, with the headers. */
		for (size_t i = 0; ls == NULL && i < conn->lc_nheaders; i++)
			size += strlen(conn->lc_names[i]) +
			    strlen(conn->lc_values[i]) + 16;
	}
	if ((pw = link_send_writer(w, size)) == NULL)
		return -1;
	if (conn != NULL && ls == NULL) {
		if ((ls = malloc(sizeof(*ls))) == NULL)
			return -1;
		ls->ls_id = conn->lc_id;
		HASH_ADD(hh, w->w_conns, ls_id, sizeof(ls->ls_id), ls);
		proto_put_conn_open(pw, conn->lc_id, conn->lc_uuid, conn->lc_ip,
		    conn->lc_names, conn->lc_values, conn->lc_nheaders);
	}
	return proto_put_call(pw, call_id, conn != NULL ? conn->lc_id : 0, route,
	    route_len, params, params_len, id, id_len, flags);
}

int
link_send_cancel(struct worker *w, uint64_t call_id,
    const struct wspool_reason *reason)
{
	struct proto_writer *pw;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv;

	if ((pw = link_send_writer(w, 0)) == NULL)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if ((rv = proto_pack_reason(&pk, reason)) == 0)
		rv = proto_put_cancel(pw, call_id, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

void
link_send_conn_close(uint64_t conn_id)
{
	struct worker *w;
	struct link_seen *ls;
	struct proto_writer *pw;

	TAILQ_FOREACH(w, &sends.open, w_send_link) {
		HASH_FIND(hh, w->w_conns, &conn_id, sizeof(conn_id), ls);
		if (ls == NULL)
			continue;
		HASH_DEL(w->w_conns, ls);
		free(ls);
		if ((pw = link_send_writer(w, 0)) != NULL)
			proto_put_conn_close(pw, conn_id);
	}
}

int
link_send_credit(struct worker *w, uint64_t call_id, uint64_t bytes)
{
	struct proto_writer *pw;

	if ((pw = link_send_writer(w, 0)) == NULL)
		return -1;
	return proto_put_credit(pw, call_id, bytes);
}

int
link_send_ack(struct worker *w, uint64_t call_id, uint64_t seq)
{
	struct proto_writer *pw;

	if ((pw = link_send_writer(w, 0)) == NULL)
		return -1;
	return proto_put_defer_ack(pw, call_id, seq);
}

int
link_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len)
{
	struct proto_writer *pw;

	if ((pw = link_send_writer(w, arg_len + reason_len + strlen(route) +
	    strlen(name))) == NULL)
		return -1;
	return proto_put_cleanup(pw, cleanup_id, call_id, seq, attempt, route,
	    name, arg, arg_len, reason, reason_len);
}

int
link_send_drain(struct worker *w)
{
	struct proto_writer *pw;

	if ((pw = link_send_writer(w, 0)) == NULL)
		return -1;
	return proto_put_drain(pw);
}

bool
link_send_congested(const struct worker *w)
{
	return w->w_nfull > 0;
}

/* ---- for link.c ----------------------------------------------------------------- */

int
link_send_init(link_send_fail_fn fail)
{
	sends.on_fail = fail;
	TAILQ_INIT(&sends.flushq);
	TAILQ_INIT(&sends.open);
	if ((sends.flush_ev = event_new(srv.base, -1, 0, link_send_flush_cb,
	    NULL)) == NULL)
		return -1;
	/* Lowest priority: it runs after everything else this turn. */
	event_priority_set(sends.flush_ev, 2);
	return 0;
}

void
link_send_fini(void)
{
	if (sends.flush_ev != NULL)
		event_free(sends.flush_ev);
	memset(&sends, 0, sizeof(sends));
}

int
link_send_open(struct worker *w)
{
	int fd, rv;

	if ((rv = nng_socket_get_int(w->w_sock, NNG_OPT_SENDFD, &fd)) != 0)
		return rv;
	if ((w->w_send_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    link_send_cb, w)) == NULL)
		return NNG_ENOMEM;
	TAILQ_INSERT_TAIL(&sends.open, w, w_send_link);
	return 0;
}

void
link_send_release(struct worker *w)
{
	struct link_seen *ls, *tmp;

	if (w->w_flush_queued) {
		TAILQ_REMOVE(&sends.flushq, w, w_flush_link);
		w->w_flush_queued = false;
	}
	if (w->w_send_ev != NULL) {
		event_free(w->w_send_ev);
		w->w_send_ev = NULL;
		TAILQ_REMOVE(&sends.open, w, w_send_link);
	}
	json_buf_free(&w->w_out);
	while (w->w_nfull > 0)
		nng_msg_free(w->w_full[--w->w_nfull]);
	free(w->w_full);
	w->w_full = NULL;
	free(w->w_full_count);
	w->w_full_count = NULL;
	w->w_full_cap = 0;
	HASH_ITER(hh, w->w_conns, ls, tmp) {
		HASH_DEL(w->w_conns, ls);
		free(ls);
	}
}

void
link_send_heartbeat(struct worker *w)
{
	struct proto_writer *pw;

	if (w->w_out.jb_len == 0 && w->w_nfull == 0 &&
	    (pw = link_send_writer(w, 0)) != NULL)
		proto_put_heartbeat(pw);
}
