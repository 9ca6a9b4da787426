/*
 * sockio.c: a client socket's reads and writes, and its output buffer
 * written once per loop turn (see sockio.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>

#include "json/write.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/sockio.h"

/* Output buffers kept for reuse: how many, and up to what size. */
#define SOCKIO_POOL_MAX 128
#define SOCKIO_POOL_BUF_MAX (16u * 1024)

static struct {
	struct event *flush_ev;
	TAILQ_HEAD(, sockio) flushq;   /* with bytes to write this turn */
	void (*event_cb)(struct sockio *, enum sockio_event);
	size_t low;
	struct json_buf pool[SOCKIO_POOL_MAX]; /* empty output buffers */
	unsigned npool;
} sio;

static ssize_t
sockio_plain_read(struct sockio *s, void *buf, size_t len)
{
	return read(s->sk_fd, buf, len);
}

static ssize_t
sockio_plain_write(struct sockio *s, const void *buf, size_t len)
{
	return write(s->sk_fd, buf, len);
}

static void
sockio_plain_shutdown(struct sockio *s)
{
	shutdown(s->sk_fd, SHUT_WR);
}

static void
sockio_plain_free(struct sockio *s)
{
	(void)s;
}

static const struct sockio_ops sockio_plain = {
	.op_read = sockio_plain_read,
	.op_write = sockio_plain_write,
	.op_shutdown = sockio_plain_shutdown,
	.op_free = sockio_plain_free,
};

void
sockio_open(struct sockio *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->sk_fd = fd;
	s->sk_ops = &sockio_plain;
}

static int sockio_arm(struct sockio *s);

ssize_t
sockio_read(struct sockio *s, void *buf, size_t len)
{
	ssize_t n = s->sk_ops->op_read(s, buf, len);

	/* The transport must write before it can read on: wait for room. */
	if (s->sk_rwant && !s->sk_stopped && !s->sk_armed)
		(void)sockio_arm(s);
	/* A write waited for this read: try it again at the end of turn. */
	if (s->sk_wwant) {
		s->sk_wwant = false;
		sockio_queue(s);
	}
	return n;
}

bool
sockio_buffered(struct sockio *s)
{
	return s->sk_ops->op_buffered != NULL && s->sk_ops->op_buffered(s);
}

/* The buffer is empty: give its memory back (to the pool if small). */
static void
sockio_release(struct sockio *s)
{
	if (s->sk_out.jb_data != NULL &&
	    s->sk_out.jb_cap <= SOCKIO_POOL_BUF_MAX &&
	    sio.npool < SOCKIO_POOL_MAX) {
		s->sk_out.jb_len = 0;
		sio.pool[sio.npool++] = s->sk_out;
	} else
		json_buf_free(&s->sk_out);
	json_buf_init(&s->sk_out);
	s->sk_off = 0;
}

struct json_buf *
sockio_buf(struct sockio *s)
{
	if (s->sk_out.jb_data == NULL && sio.npool > 0)
		s->sk_out = sio.pool[--sio.npool];
	return &s->sk_out;
}

void
sockio_queue(struct sockio *s)
{
	if (s->sk_queued || s->sk_armed || s->sk_stopped ||
	    sockio_pending(s) == 0)
		return;
	s->sk_queued = true;
	TAILQ_INSERT_TAIL(&sio.flushq, s, sk_link);
	event_active(sio.flush_ev, EV_TIMEOUT, 0);
}

int
sockio_put(struct sockio *s, const void *data, size_t len)
{
	if (json_put_raw(sockio_buf(s), data, len) != 0)
		return -1;
	sockio_queue(s);
	return 0;
}

void *
sockio_reserve(struct sockio *s, size_t len)
{
	struct json_buf *b = sockio_buf(s);
	void *p;

	if (json_buf_room(b, len) != 0)
		return NULL;
	p = b->jb_data + b->jb_len;
	b->jb_len += len;
	sockio_queue(s);
	return p;
}

static void sockio_write_cb(evutil_socket_t fd, short what, void *arg);

/* The socket is full: wait until it is writable. 0, or -1 (no memory). */
static int
sockio_arm(struct sockio *s)
{
	if (s->sk_wev == NULL && (s->sk_wev = event_new(srv.base, s->sk_fd,
	    EV_WRITE | EV_PERSIST, sockio_write_cb, s)) == NULL)
		return -1;
	if (!s->sk_armed) {
		s->sk_armed = true;
		event_add(s->sk_wev, NULL);
	}
	/* Keep the buffer from creeping: move what is left down. */
	if (s->sk_off > s->sk_out.jb_cap / 2) {
		memmove(s->sk_out.jb_data, s->sk_out.jb_data + s->sk_off,
		    sockio_pending(s));
		s->sk_out.jb_len = sockio_pending(s);
		s->sk_off = 0;
	}
	return 0;
}

/* Write what s holds; the owner hears how it went. */
static void
sockio_write(struct sockio *s)
{
	ssize_t n;

	while (sockio_pending(s) > 0) {
		n = s->sk_ops->op_write(s, s->sk_out.jb_data + s->sk_off,
		    sockio_pending(s));
		if (n > 0) {
			s->sk_off += (size_t)n;
			metrics_counters.bytes_sent_total += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Waiting for a read (sockio_read queues us again). */
			if (s->sk_wwant)
				return;
			if (sockio_arm(s) != 0)
				break;
			if (sockio_pending(s) < sio.low)
				sio.event_cb(s, SOCKIO_LOW);
			return;
		}
		break;
	}
	if (sockio_pending(s) > 0) {
		sockio_stop(s);
		sio.event_cb(s, SOCKIO_FAILED);
		return;
	}
	sockio_release(s);
	if (s->sk_armed && !s->sk_rwant) {
		s->sk_armed = false;
		event_del(s->sk_wev);
	}
	sio.event_cb(s, SOCKIO_DRAINED);
}

static void
sockio_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockio *s = arg;

	(void)fd;
	(void)what;
	if (s->sk_rwant) {
		/* Room to write: the transport's read can go on. */
		s->sk_rwant = false;
		if (sockio_pending(s) == 0) {
			s->sk_armed = false;
			event_del(s->sk_wev);
		}
		sio.event_cb(s, SOCKIO_READABLE);
		if (sockio_pending(s) == 0 || !s->sk_armed)
			return;
	}
	sockio_write(s);
}

/* End of the loop turn: write each socket's output, once. */
static void
sockio_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockio *s;

	(void)fd;
	(void)what;
	(void)arg;
	while ((s = TAILQ_FIRST(&sio.flushq)) != NULL) {
		TAILQ_REMOVE(&sio.flushq, s, sk_link);
		s->sk_queued = false;
		if (!s->sk_armed)
			sockio_write(s);
	}
}

void
sockio_stop(struct sockio *s)
{
	if (s->sk_queued) {
		TAILQ_REMOVE(&sio.flushq, s, sk_link);
		s->sk_queued = false;
	}
	if (s->sk_armed) {
		s->sk_armed = false;
		event_del(s->sk_wev);
	}
	s->sk_stopped = true;
}

/* Free everything but the fd. */
static void
sockio_free(struct sockio *s)
{
	sockio_stop(s);
	if (s->sk_wev != NULL)
		event_free(s->sk_wev);
	s->sk_wev = NULL;
	json_buf_free(&s->sk_out);
	s->sk_ops->op_free(s);
}

void
sockio_close(struct sockio *s)
{
	sockio_free(s);
	if (s->sk_fd >= 0)
		evutil_closesocket(s->sk_fd);
	s->sk_fd = -1;
}

int
sockio_detach(struct sockio *s)
{
	int fd = s->sk_fd;

	if (fd >= 0)
		s->sk_ops->op_shutdown(s);
	sockio_free(s);
	s->sk_fd = -1;
	return fd;
}

int
sockio_init(void (*event_cb)(struct sockio *s, enum sockio_event ev),
    size_t low)
{
	TAILQ_INIT(&sio.flushq);
	sio.event_cb = event_cb;
	sio.low = low;
	if ((sio.flush_ev = event_new(srv.base, -1, 0, sockio_flush_cb,
	    NULL)) == NULL)
		return -1;
	/* Lowest priority: after every read of the turn. */
	event_priority_set(sio.flush_ev, 2);
	return 0;
}

void
sockio_fini(void)
{
	while (sio.npool > 0)
		json_buf_free(&sio.pool[--sio.npool]);
	if (sio.flush_ev != NULL)
		event_free(sio.flush_ev);
	sio.flush_ev = NULL;
}
