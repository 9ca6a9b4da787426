/*
 * sockio.h: a client socket's bytes: the I/O seam (how bytes are read
 * and written: plain today, TLS to come) and the output buffer that is
 * written once at the end of the loop turn. It knows nothing of what the
 * bytes mean; its owner (conn.c) hears back through the callback
 * registered at start-up.
 *
 * Design notes.
 * - The output buffer exists only while it holds bytes: it is taken from
 *   a small pool on the first byte and given back once written, so an
 *   idle connection owns no output memory.
 * - Everything put during a turn is written with one write(2) by a flush
 *   event of the lowest priority (like the nng batches' flush), which
 *   runs after the turn's reads. Only when the socket is full (EAGAIN)
 *   is a write event armed, until the buffer drains: a connection with
 *   one call at a time costs one write per answer and no epoll_ctl.
 */
#ifndef MASTER_SOCKIO_H
#define MASTER_SOCKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "json/write.h"

struct event;
struct sockio;

/* The seam: what read(2) and write(2) return, -1 and EAGAIN when they
 * would block. */
struct sockio_ops {
	ssize_t (*op_read)(struct sockio *s, void *buf, size_t len);
	ssize_t (*op_write)(struct sockio *s, const void *buf, size_t len);
	/* Everything is written: end our direction (TLS: close_notify,
	 * then the TCP FIN). */
	void (*op_shutdown)(struct sockio *s);
	/* Forget the transport's state (the fd is not closed). */
	void (*op_free)(struct sockio *s);
	/* Optional: input already read from the fd, not yet returned. */
	bool (*op_buffered)(struct sockio *s);
};

struct sockio {
	int sk_fd;
	const struct sockio_ops *sk_ops;
	struct json_buf sk_out;        /* bytes to write from sk_off */
	size_t sk_off;
	bool sk_queued;                /* on the end-of-turn flush list */
	bool sk_armed;                 /* the socket was full: sk_wev waits */
	bool sk_stopped;               /* sockio_stop: writes nothing more */
	bool sk_rwant;                 /* a read must write first (TLS) */
	bool sk_wwant;                 /* a write must read first (TLS) */
	void *sk_tls;                  /* the transport's state (tls.c) */
	struct event *sk_wev;          /* created the first time needed */
	TAILQ_ENTRY(sockio) sk_link;
};

enum sockio_event {
	SOCKIO_DRAINED = 1,    /* everything put has been written */
	SOCKIO_LOW,            /* still writing, under low bytes pending */
	SOCKIO_FAILED,         /* the peer is gone or the socket broke */
	SOCKIO_READABLE,       /* a read that had to wait for writing can go on */
};

/*
 * Set up the flush event and register the owner's callback (once, at
 * start-up). low: the pending size under which SOCKIO_LOW is reported
 * after a partial write. Returns 0 or -1.
 */
int sockio_init(void (*event_cb)(struct sockio *s, enum sockio_event ev),
    size_t low);
void sockio_fini(void);

/* A plain socket (fd now owned by s). */
void sockio_open(struct sockio *s, int fd);
/* Stop writing (the owner is closing it for good); fd stays open. */
void sockio_stop(struct sockio *s);
/* Free the buffer and the write event, close fd. */
void sockio_close(struct sockio *s);
/*
 * Everything put has been written: shut down our writing side (a TLS
 * close_notify, then the FIN), free everything but the socket and return
 * its fd, for a lingering close (linger.h).
 */
int sockio_detach(struct sockio *s);

/* read(2) through the seam: bytes, 0 at the end, -1 with errno (EAGAIN). */
ssize_t sockio_read(struct sockio *s, void *buf, size_t len);
/* True when input is waiting inside the transport (no readable event
 * will say so): read again. */
bool sockio_buffered(struct sockio *s);

/* Append bytes, written at the end of the turn. Returns 0 or -1. */
int sockio_put(struct sockio *s, const void *data, size_t len);
/* Room for len bytes, counted as put: the caller writes them now.
 * NULL: out of memory. */
void *sockio_reserve(struct sockio *s, size_t len);
/* The buffer to write into directly (then sockio_queue). */
struct json_buf *sockio_buf(struct sockio *s);
void sockio_queue(struct sockio *s);

static inline size_t
sockio_pending(const struct sockio *s)
{
	return s->sk_out.jb_len - s->sk_off;
}

#endif /* MASTER_SOCKIO_H */
