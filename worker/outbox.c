/*
 * outbox.c: everything the worker sends to the master goes through here.
 * Threads pack envelopes straight into the nng message being filled; one
 * sender thread sends whatever has accumulated as one nng message.
 *
 * Design notes: one nng message costs about 100 us whatever its size, so
 * batching is the throughput lever. One thread at a time sends (the
 * ob_sending token), which keeps each call's envelopes in order. While a
 * send is in progress, replies pile up in the next message, which the
 * sender thread sends whole as soon as the token is free; when nothing is
 * being sent, the thread that packed a chunk wakes the sender, which by
 * the time it runs often finds more to pack with it, and the thread that
 * packed a call's terminal reply sends it itself (outbox_end_now): one
 * hand-off less for a lone call. A message is closed
 * at OUTBOX_MSG_MAX bytes and queued; producers block while more than
 * OUTBOX_PENDING_MAX bytes wait (backpressure, never a silent drop).
 * Only handler and cleanup threads produce: the receiver thread never
 * blocks here, so a slow master cannot deadlock against us.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>

#include "common/clock.h"
#include "common/log.h"
#include "worker/outbox.h"

#define OUTBOX_MSG_MAX (1024u * 1024)
#define OUTBOX_PENDING_MAX (32u * 1024 * 1024)
#define OUTBOX_MSG_RESERVE (16u * 1024)

static struct {
	pthread_mutex_t ob_mu;
	pthread_cond_t ob_work;   /* the sender waits for envelopes */
	pthread_cond_t ob_space;  /* producers wait for room, flushers for 0
	                           * (CLOCK_MONOTONIC) */
	nng_socket ob_sock;
	nng_msg *ob_cur;          /* the message being filled, or NULL */
	struct proto_writer ob_w; /* writes into ob_cur */
	unsigned ob_count;        /* envelopes in ob_cur */
	size_t ob_mark;           /* ob_cur's length before the current put */
	nng_msg **ob_ready;       /* closed messages, oldest first */
	size_t ob_nready;
	size_t ob_ready_cap;
	size_t ob_pending;        /* bytes in ob_ready and ob_cur */
	bool ob_sender_waiting;
	bool ob_sending;
	bool ob_dead;             /* master gone: drop everything */
	bool ob_stop;
	bool ob_started;
	uint64_t ob_last_send_ms; /* when a message last went to nng */
	pthread_t ob_thread;
} outbox = {
	.ob_mu = PTHREAD_MUTEX_INITIALIZER,
	.ob_work = PTHREAD_COND_INITIALIZER,
};

/* msgpack_packer_write: append to the nng message, growing it by doubling
 * (nng 1.5 grows a message to the exact size asked on each append). */
static int
outbox_msg_write_cb(void *data, const char *buf, size_t len)
{
	nng_msg *m = *(nng_msg **)data;
	size_t need = nng_msg_len(m) + len;
	size_t cap = nng_msg_capacity(m);

	if (need > cap) {
		cap = cap * 2 > need ? cap * 2 : need;
		if (nng_msg_reserve(m, cap) != 0)
			return -1;
	}
	return nng_msg_append(m, buf, len) == 0 ? 0 : -1;
}

/* proto_writer_direct: room for n bytes at the end of the message (the
 * envelope of a call's answer is encoded there in one piece). */
static void *
outbox_msg_reserve_cb(void *data, size_t n)
{
	nng_msg *m = *(nng_msg **)data;
	size_t len = nng_msg_len(m), cap = nng_msg_capacity(m);

	if (len + n > cap &&
	    nng_msg_reserve(m, cap * 2 > len + n ? cap * 2 : len + n) != 0)
		return NULL;
	if (nng_msg_realloc(m, len + n) != 0)
		return NULL;
	return (char *)nng_msg_body(m) + len;
}

/* With ob_mu held: move the current message to the ready queue. */
static int
outbox_close_cur(void)
{
	if (outbox.ob_nready == outbox.ob_ready_cap) {
		size_t cap = outbox.ob_ready_cap ? outbox.ob_ready_cap * 2 : 8;
		nng_msg **r = realloc(outbox.ob_ready, cap * sizeof(*r));

		if (r == NULL)
			return -1;
		outbox.ob_ready = r;
		outbox.ob_ready_cap = cap;
	}
	outbox.ob_ready[outbox.ob_nready++] = outbox.ob_cur;
	outbox.ob_cur = NULL;
	outbox.ob_count = 0;
	return 0;
}

/* With ob_mu held: a fresh message with the protocol version packed. */
static int
outbox_open_cur(void)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, 0) != 0)
		return -1;
	if (nng_msg_reserve(m, OUTBOX_MSG_RESERVE) != 0) {
		nng_msg_free(m);
		return -1;
	}
	outbox.ob_cur = m;
	outbox.ob_count = 0;
	if (proto_writer_init(&outbox.ob_w, &outbox.ob_cur,
	    outbox_msg_write_cb) != 0) {
		nng_msg_free(m);
		outbox.ob_cur = NULL;
		return -1;
	}
	proto_writer_direct(&outbox.ob_w, outbox_msg_reserve_cb);
	outbox.ob_pending += nng_msg_len(m);
	return 0;
}

struct proto_writer *
outbox_begin(size_t size)
{
	pthread_mutex_lock(&outbox.ob_mu);
	while (outbox.ob_pending > OUTBOX_PENDING_MAX && !outbox.ob_dead)
		pthread_cond_wait(&outbox.ob_space, &outbox.ob_mu);
	/* Not started yet (a module's init logging): nobody would send it. */
	if (outbox.ob_dead || !outbox.ob_started)
		goto fail;
	/* Close a full message; a large value also starts its own, so no
	 * message outgrows what the master accepts (PROTO_MAX_MSG). */
	if (outbox.ob_cur != NULL && outbox.ob_count > 0 &&
	    nng_msg_len(outbox.ob_cur) + size >= OUTBOX_MSG_MAX &&
	    outbox_close_cur() != 0)
		goto nomem;
	if (outbox.ob_cur == NULL && outbox_open_cur() != 0)
		goto nomem;
	outbox.ob_mark = nng_msg_len(outbox.ob_cur);
	outbox.ob_w.error = 0;
	return &outbox.ob_w;
nomem:
	log_error("out of memory: an envelope for the master is lost");
fail:
	pthread_mutex_unlock(&outbox.ob_mu);
	return NULL;
}

/*
 * With ob_mu held, nothing being sent and something pending: send the
 * oldest message. Only one thread sends at a time (ob_sending is the
 * token), which keeps a call's envelopes in order. Drops ob_mu meanwhile.
 */
static void
outbox_send_one(void)
{
	nng_msg *m;
	int rv;

	if (outbox.ob_nready > 0) {
		m = outbox.ob_ready[0];
		memmove(outbox.ob_ready, outbox.ob_ready + 1,
		    --outbox.ob_nready * sizeof(*outbox.ob_ready));
	} else {
		m = outbox.ob_cur;
		outbox.ob_cur = NULL;
		outbox.ob_count = 0;
	}
	outbox.ob_pending -= nng_msg_len(m);
	outbox.ob_sending = true;
	outbox.ob_last_send_ms = clock_now_ms();
	pthread_cond_broadcast(&outbox.ob_space);
	pthread_mutex_unlock(&outbox.ob_mu);

	if ((rv = nng_sendmsg(outbox.ob_sock, m, 0)) != 0) {
		nng_msg_free(m);
		if (rv != NNG_ECLOSED)
			log_error("send to master failed: %s",
			    nng_strerror(rv));
	}

	pthread_mutex_lock(&outbox.ob_mu);
	outbox.ob_sending = false;
	if (rv != 0)
		outbox.ob_dead = true;
	pthread_cond_broadcast(&outbox.ob_space);
}

static bool
outbox_has_work(void)
{
	return outbox.ob_nready > 0 || outbox.ob_count > 0;
}

/* With ob_mu held: count the envelope just put, or drop it (and unlock:
 * -1). */
static int
outbox_commit(int rv)
{
	size_t len = nng_msg_len(outbox.ob_cur);

	if (rv != 0 || outbox.ob_w.error != 0) {
		/* Keep the batch parseable: drop the partial envelope. */
		nng_msg_chop(outbox.ob_cur, len - outbox.ob_mark);
		outbox.ob_w.error = 0;
		log_error("an envelope for the master could not be packed: "
		    "it is lost");
		pthread_mutex_unlock(&outbox.ob_mu);
		return -1;
	}
	outbox.ob_count++;
	outbox.ob_pending += len - outbox.ob_mark;
	return 0;
}

/* With ob_mu held: the sender thread, if there is work and it waits. */
static void
outbox_wake(void)
{
	if (!outbox.ob_sending && outbox.ob_sender_waiting && !outbox.ob_dead &&
	    outbox_has_work())
		pthread_cond_signal(&outbox.ob_work);
}

int
outbox_end(int rv)
{
	if (outbox_commit(rv) != 0)
		return -1;
	/*
	 * Wake the sender rather than send from this thread: a handler that
	 * yields in a loop (a subscription) would otherwise find the outbox
	 * idle every time and send each chunk as its own nng message; woken,
	 * the sender takes everything packed by the time it runs. Measured:
	 * one subscription went from 16k to 1.47M chunks/s, and a lone call's
	 * latency did not change (docs/performance.md).
	 */
	outbox_wake();
	pthread_mutex_unlock(&outbox.ob_mu);
	return 0;
}

int
outbox_end_now(int rv)
{
	if (outbox_commit(rv) != 0)
		return -1;
	/*
	 * A call's last envelope comes once per call, never in a tight loop:
	 * when nothing is being sent, send it (with whatever else is packed)
	 * from here, and leave what piles up meanwhile to the sender thread.
	 * Concurrent calls still share messages: they append while this
	 * send is under way.
	 */
	if (!outbox.ob_sending && !outbox.ob_dead)
		outbox_send_one();
	outbox_wake();
	pthread_mutex_unlock(&outbox.ob_mu);
	return 0;
}

static void *
outbox_sender_cb(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&outbox.ob_mu);
	for (;;) {
		while (!outbox.ob_stop && !outbox.ob_dead &&
		    (!outbox_has_work() || outbox.ob_sending)) {
			outbox.ob_sender_waiting = true;
			pthread_cond_wait(&outbox.ob_work, &outbox.ob_mu);
			outbox.ob_sender_waiting = false;
		}
		if (outbox.ob_dead)
			break;
		if (outbox.ob_stop && (!outbox_has_work() || outbox.ob_sending))
			break;
		outbox_send_one();
	}
	pthread_mutex_unlock(&outbox.ob_mu);
	return NULL;
}

int
outbox_start(uint32_t socket_id)
{
	pthread_condattr_t attr;
	int rv;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&outbox.ob_space, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0)
		return rv;
	pthread_mutex_lock(&outbox.ob_mu);
	outbox.ob_sock.id = socket_id;
	outbox.ob_last_send_ms = clock_now_ms();
	if ((rv = pthread_create(&outbox.ob_thread, NULL, outbox_sender_cb,
	    NULL)) == 0)
		outbox.ob_started = true;
	pthread_mutex_unlock(&outbox.ob_mu);
	return rv;
}

bool
outbox_flush(int64_t ms)
{
	struct timespec ts;
	bool done;

	if (ms >= 0)
		ts = clock_deadline((uint64_t)ms);
	pthread_mutex_lock(&outbox.ob_mu);
	while (!(done = outbox.ob_dead || (!outbox.ob_sending &&
	    !outbox_has_work()))) {
		if (ms < 0)
			pthread_cond_wait(&outbox.ob_space, &outbox.ob_mu);
		else if (pthread_cond_timedwait(&outbox.ob_space,
		    &outbox.ob_mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&outbox.ob_mu);
	return done;
}

void
outbox_heartbeat(uint64_t idle_ms)
{
	pthread_mutex_lock(&outbox.ob_mu);
	/* Only on an idle link: anything queued or being sent says enough. */
	if (outbox.ob_dead || !outbox.ob_started || outbox.ob_sending ||
	    outbox_has_work() ||
	    clock_now_ms() - outbox.ob_last_send_ms < idle_ms)
		goto out;
	if (outbox.ob_cur == NULL && outbox_open_cur() != 0)
		goto out;
	outbox.ob_mark = nng_msg_len(outbox.ob_cur);
	if (proto_put_heartbeat(&outbox.ob_w) != 0) {
		nng_msg_chop(outbox.ob_cur,
		    nng_msg_len(outbox.ob_cur) - outbox.ob_mark);
		outbox.ob_w.error = 0;
		goto out;
	}
	outbox.ob_count++;
	outbox.ob_pending += nng_msg_len(outbox.ob_cur) - outbox.ob_mark;
	if (outbox.ob_sender_waiting)
		pthread_cond_signal(&outbox.ob_work);
out:
	pthread_mutex_unlock(&outbox.ob_mu);
}

void
outbox_kill(void)
{
	pthread_mutex_lock(&outbox.ob_mu);
	outbox.ob_dead = true;
	pthread_cond_broadcast(&outbox.ob_work);
	pthread_cond_broadcast(&outbox.ob_space);
	pthread_mutex_unlock(&outbox.ob_mu);
}

void
outbox_stop(void)
{
	pthread_mutex_lock(&outbox.ob_mu);
	outbox.ob_stop = true;
	outbox.ob_dead = true;
	pthread_cond_broadcast(&outbox.ob_work);
	pthread_cond_broadcast(&outbox.ob_space);
	pthread_mutex_unlock(&outbox.ob_mu);
	/* ob_dead is set: nobody reads ob_started any more. */
	if (outbox.ob_started)
		pthread_join(outbox.ob_thread, NULL);
	outbox.ob_started = false;
	for (size_t i = 0; i < outbox.ob_nready; i++)
		nng_msg_free(outbox.ob_ready[i]);
	free(outbox.ob_ready);
	outbox.ob_ready = NULL;
	outbox.ob_nready = outbox.ob_ready_cap = 0;
	if (outbox.ob_cur != NULL)
		nng_msg_free(outbox.ob_cur);
	outbox.ob_cur = NULL;
	outbox.ob_count = 0;
	outbox.ob_pending = 0;
}
