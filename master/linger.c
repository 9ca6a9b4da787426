/*
 * linger.c: sockets in their lingering close: read and discard until the
 * peer closes, or a bound is reached, then close (see linger.h).
 *
 * Design notes.
 * - One event per socket: readable with an idle timeout (LINGER_IDLE_MS,
 *   re-armed by libevent whenever bytes arrive). The total time is checked
 *   on every wake-up.
 * - Past LINGER_MAX_BYTES the peer is not read from any more (a client
 *   that never stops sending would keep us reading at line rate: the
 *   spike measured 5.8 GB in 5 s on loopback). Closing then sends an RST,
 *   which is harmless only once our last bytes have left: the socket is
 *   closed when the kernel's send queue is empty (SIOCOUTQ: every byte we
 *   wrote has been acknowledged), polled every LINGER_POLL_MS, or at the
 *   total deadline.
 * - The reads go to the socket directly, TLS or not: what the peer says
 *   after our close frame is not wanted, so it is never decrypted.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <linux/sockios.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "common/clock.h"
#include "master/linger.h"
#include "master/master.h"
#include "master/metrics.h"

#define LINGER_POLL_MS 50
#define LINGER_READ_BUF (16u * 1024)

struct lingerer {
	int lg_fd;
	bool lg_full;                  /* read LINGER_MAX_BYTES: waits for SIOCOUTQ 0 */
	size_t lg_bytes;               /* discarded so far */
	uint64_t lg_end_ms;            /* the total deadline */
	struct event *lg_ev;
	TAILQ_ENTRY(lingerer) lg_link;
};

static struct {
	TAILQ_HEAD(, lingerer) all;
	unsigned count;
	bool ready;
	char buf[LINGER_READ_BUF];
} lingers;

static uint64_t
linger_count_gauge_cb(void)
{
	return lingers.count;
}

unsigned
linger_count(void)
{
	return lingers.count;
}

int
linger_init(void)
{
	TAILQ_INIT(&lingers.all);
	lingers.ready = true;
	return metrics_gauge("wspool_connections_lingering",
	    "Client sockets in their lingering close (our close sent, reading "
	    "until the peer closes).", linger_count_gauge_cb);
}

static void
linger_end(struct lingerer *lg)
{
	TAILQ_REMOVE(&lingers.all, lg, lg_link);
	lingers.count--;
	event_free(lg->lg_ev);
	evutil_closesocket(lg->lg_fd);
	free(lg);
}

/* True once every byte we wrote has been acknowledged by the peer. */
static bool
linger_sent(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCOUTQ, &n) != 0 || n == 0;
}

static void linger_cb(evutil_socket_t fd, short what, void *arg);

/* Stop reading; poll the send queue until it is empty. */
static void
linger_stop_reading(struct lingerer *lg)
{
	struct timeval tv = clock_tv(LINGER_POLL_MS);

	lg->lg_full = true;
	event_del(lg->lg_ev);
	event_assign(lg->lg_ev, srv.base, -1, 0, linger_cb, lg);
	event_add(lg->lg_ev, &tv);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = clock_tv(LINGER_POLL_MS);
	struct lingerer *lg = arg;
	ssize_t n;

	(void)fd;
	if (clock_now_ms() >= lg->lg_end_ms) {
		linger_end(lg);
		return;
	}
	if (lg->lg_full) {
		if (linger_sent(lg->lg_fd))
			linger_end(lg);
		else
			event_add(lg->lg_ev, &tv);
		return;
	}
	if (what & EV_TIMEOUT) {
		/* Idle: the peer has nothing more to say. */
		linger_end(lg);
		return;
	}
	for (;;) {
		n = read(lg->lg_fd, lingers.buf, sizeof(lingers.buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF: the peer closed too, the clean end. */
			linger_end(lg);
			return;
		}
		metrics_counters.bytes_received_total += (uint64_t)n;
		lg->lg_bytes += (size_t)n;
		if (lg->lg_bytes >= LINGER_MAX_BYTES) {
			if (linger_sent(lg->lg_fd))
				linger_end(lg);
			else
				linger_stop_reading(lg);
			return;
		}
	}
}

void
linger_start(int fd)
{
	struct timeval tv = clock_tv(LINGER_IDLE_MS);
	struct lingerer *lg;

	if (!lingers.ready || lingers.count >= LINGER_MAX ||
	    (lg = calloc(1, sizeof(*lg))) == NULL)
		goto fail;
	if ((lg->lg_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    linger_cb, lg)) == NULL) {
		free(lg);
		goto fail;
	}
	lg->lg_fd = fd;
	lg->lg_end_ms = clock_now_ms() + LINGER_TOTAL_MS;
	TAILQ_INSERT_TAIL(&lingers.all, lg, lg_link);
	lingers.count++;
	event_add(lg->lg_ev, &tv);
	return;
fail:
	evutil_closesocket(fd);
}

void
linger_fini(void)
{
	struct lingerer *lg;

	if (!lingers.ready)
		return;
	while ((lg = TAILQ_FIRST(&lingers.all)) != NULL)
		linger_end(lg);
	lingers.ready = false;
}
