/*
 * conn.c: client connections. Accepts, reads the HTTP upgrade request,
 * has http.c answer what is not an upgrade, switches to WebSocket, and
 * passes text messages to rpc.c. A connection is never freed inside its
 * own callback: conn_close marks it, and the reaper frees it at the end of
 * the loop turn (Redis's freeClientAsync).
 *
 * Design notes: reading. A persistent read event per socket; each read(2)
 * goes into one buffer of the loop (conns.rbuf) and is fed to the
 * handshake or to ws.c at once. wslay keeps what is left of a partial
 * frame, so nothing stays in that buffer between reads and an idle
 * connection owns no input memory. A connection that filled the buffer is
 * read again, up to CONN_READS_PER_EVENT times, then the others get their
 * turn. Past --max-client-backlog unwritten bytes a connection is no
 * longer read from, and its subscriptions get no credit (flow.h), until it
 * is back under half of it; one that stays over it --send-timeout is
 * closed (1008). Writing is sockio.c's.
 *
 * Design notes: closing. conn_close (any code: each close the server
 * sends goes through it) writes the close frame behind what is queued and
 * keeps reading, discarding, so that a peer busy writing never blocks on
 * us; once everything is written the connection is freed and its socket
 * alone lingers (linger.h) until the peer closes. Only a broken socket,
 * the peer's own close of the TCP stream, or the close deadline closes
 * the socket at once.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/log.h"
#include "json/write.h"
#include "master/conn.h"
#include "master/deflate.h"
#include "master/handshake.h"
#include "master/http.h"
#include "master/linger.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/rpc.h"
#include "master/sockio.h"
#include "master/tls.h"
#include "master/upgrade.h"
#include "master/uuid.h"
#include "master/ws.h"

#define CONN_CLOSE_TIMEOUT_MS 5000
#define CONN_ACCEPT_RETRY_MS 100
/* Connections accepted beyond --max-connections for GET /healthz and
 * /metrics only: monitoring sees a full server. */
#define CONN_ADMIN_RESERVE 16
#define CONN_READ_BUF (128u * 1024)
#define CONN_READS_PER_EVENT 4

static struct {
	struct evconnlistener *listener;
	struct event *accept_retry;
	struct event *reaper;
	TAILQ_HEAD(, conn) live;
	TAILQ_HEAD(, conn) dead;
	unsigned count;
	unsigned throttled;           /* connections not read from (c_throttled) */
	uint64_t next_id;
	_Alignas(16) char rbuf[CONN_READ_BUF]; /* every read lands here */
} conns;

static void conn_keepalive_arm(struct conn *c);
static void conn_kill(struct conn *c, const char *why);

unsigned
conn_count(void)
{
	return conns.count;
}

unsigned
conn_lingering(void)
{
	return linger_count();
}

static uint64_t
conn_count_gauge_cb(void)
{
	return conns.count;
}

static uint64_t
conn_throttled_gauge_cb(void)
{
	return conns.throttled;
}

/* The largest output backlog of one connection, now. */
static uint64_t
conn_backlog_max_gauge_cb(void)
{
	struct conn *c;
	size_t max = 0;

	TAILQ_FOREACH(c, &conns.live, c_link)
		if (sockio_pending(&c->c_sock) > max)
			max = sockio_pending(&c->c_sock);
	return max;
}

/* ---- output ----------------------------------------------------------------- */

#define CONN_OF_SOCK(s) \
	((struct conn *)(void *)((char *)(s) - offsetof(struct conn, c_sock)))

static void
conn_throttle(struct conn *c, bool on)
{
	if (c->c_throttled == on || c->c_state != CONN_WS)
		return;
	c->c_throttled = on;
	if (on) {
		conns.throttled++;
		event_del(c->c_rev);
		c->c_throttled_at = clock_now_s();
		conn_keepalive_arm(c);
	} else {
		conns.throttled--;
		event_add(c->c_rev, NULL);
		/* It read half its budget: alive, even if its pong is still
		 * queued behind what it reads. */
		c->c_last_rx = clock_now_s();
		c->c_ping_sent = 0;
		rpc_conn_writable(c);
		if (sockio_buffered(&c->c_sock))
			event_active(c->c_rev, EV_READ, 0);
	}
}

/* sockio: how the writing went. */
static void
conn_sock_cb(struct sockio *s, enum sockio_event ev)
{
	struct conn *c = CONN_OF_SOCK(s);

	switch (ev) {
	case SOCKIO_FAILED:
		conn_kill(c, "socket error");
		break;
	case SOCKIO_LOW:
		conn_throttle(c, false);
		break;
	case SOCKIO_READABLE:
		if (!c->c_dead && !c->c_throttled) {
			event_add(c->c_rev, NULL);
			event_active(c->c_rev, EV_READ, 0);
		}
		break;
	case SOCKIO_DRAINED:
		conn_throttle(c, false);
		if (c->c_state == CONN_CLOSING) {
			c->c_linger = true;
			conn_kill(c, "flushed");
		}
		break;
	}
}

/* ---- freeing ---------------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	if (c->c_throttled)
		conns.throttled--;
	if (c->c_hs != NULL) {
		handshake_free(c->c_hs);
		free(c->c_hs);
	}
	if (c->c_ws != NULL)
		ws_free(c->c_ws);
	if (c->c_timer != NULL)
		event_free(c->c_timer);
	if (c->c_rev != NULL)
		event_free(c->c_rev);
	/* Our last bytes are out: the socket lingers, c goes now. */
	if (c->c_linger)
		linger_start(sockio_detach(&c->c_sock));
	else
		sockio_close(&c->c_sock);
	free(c->c_hnames); /* one allocation holds names, values and strings */
	free(c);
}

static void
conn_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	(void)fd;
	(void)what;
	(void)arg;
	while ((c = TAILQ_FIRST(&conns.dead)) != NULL) {
		TAILQ_REMOVE(&conns.dead, c, c_link);
		conn_free(c);
	}
}

/* Leave the live list now; freed at the end of this loop turn. */
static void
conn_kill(struct conn *c, const char *why)
{
	if (c->c_dead)
		return;
	c->c_dead = true;
	event_del(c->c_timer);
	if (c->c_state != CONN_CLOSING) {
		c->c_state = CONN_CLOSING;
		rpc_conn_closed(c);
	}
	log_debug("conn %llu: closed: %s", (unsigned long long)c->c_id, why);
	TAILQ_REMOVE(&conns.live, c, c_link);
	TAILQ_INSERT_TAIL(&conns.dead, c, c_link);
	conns.count--;
	event_del(c->c_rev);
	sockio_stop(&c->c_sock);
	event_active(conns.reaper, EV_TIMEOUT, 0);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	uint32_t now = clock_now_s();

	(void)fd;
	(void)what;
	if (c->c_state != CONN_WS) {
		conn_kill(c, c->c_state == CONN_HTTP ? "handshake timeout" :
		    "close timeout");
		return;
	}
	/* A client that does not read for so long is not coming back. */
	if (c->c_throttled && srv.cfg.send_timeout_s != 0 &&
	    now - c->c_throttled_at >= srv.cfg.send_timeout_s) {
		metrics_counters.connections_send_timeout_total++;
		conn_close(c, 1008, "send timeout");
		return;
	}
	/* Keep-alive: a silent peer gets a ping, then a deadline to answer. */
	if (c->c_ping_sent != 0 && now - c->c_ping_sent >= srv.cfg.pong_timeout_s) {
		conn_close(c, 1001, "no pong");
		return;
	}
	if (srv.cfg.idle_timeout_s != 0 && c->c_calls.cc_count == 0 &&
	    now - c->c_last_msg >= srv.cfg.idle_timeout_s) {
		conn_close(c, 1000, "idle timeout");
		return;
	}
	if (srv.cfg.ping_interval_s != 0 && c->c_ping_sent == 0 &&
	    now - c->c_last_rx >= srv.cfg.ping_interval_s) {
		ws_send_ping(c->c_ws, "ka", 2);
		c->c_ping_sent = now ? now : 1;
	}
	conn_keepalive_arm(c);
}

/* Arm the timer for the next keep-alive or idle decision. */
static void
conn_keepalive_arm(struct conn *c)
{
	uint32_t now = clock_now_s(), delay = UINT32_MAX, t;
	struct timeval tv;

	if (c->c_ping_sent != 0) {
		t = c->c_ping_sent + srv.cfg.pong_timeout_s;
		delay = t > now ? t - now : 0;
	} else if (srv.cfg.ping_interval_s != 0) {
		t = c->c_last_rx + srv.cfg.ping_interval_s;
		delay = t > now ? t - now : 0;
	}
	if (srv.cfg.idle_timeout_s != 0) {
		t = c->c_last_msg + srv.cfg.idle_timeout_s;
		t = t > now ? t - now : 0;
		if (t < delay)
			delay = t;
	}
	if (c->c_throttled && srv.cfg.send_timeout_s != 0) {
		t = c->c_throttled_at + srv.cfg.send_timeout_s;
		t = t > now ? t - now : 0;
		if (t < delay)
			delay = t;
	}
	if (delay == UINT32_MAX)
		return;
	tv = clock_tv(delay ? (uint64_t)delay * 1000 : 1000);
	event_add(c->c_timer, &tv);
}

void
conn_close(struct conn *c, uint16_t code, const char *why)
{
	struct timeval tv = clock_tv(CONN_CLOSE_TIMEOUT_MS);

	if (c->c_state == CONN_CLOSING)
		return;
	if (c->c_ws != NULL && code != 0 && !ws_closing(c->c_ws))
		ws_close(c->c_ws, code, why);
	/* Reading goes on (what arrives is discarded): a peer that is
	 * still writing must not block on us while we write our last bytes. */
	conn_throttle(c, false);
	c->c_state = CONN_CLOSING;
	rpc_conn_closed(c);
	/* Write what is queued, then linger (linger.h) and free. */
	event_add(c->c_timer, &tv);
	if (sockio_pending(&c->c_sock) == 0) {
		c->c_linger = true;
		conn_kill(c, "flushed");
	}
}

void
conn_close_all(uint16_t code)
{
	struct conn *c, *tmp;

	for (c = TAILQ_FIRST(&conns.live); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, c_link);
		conn_close(c, code, "server shutting down");
	}
}

/* ---- WebSocket ---------------------------------------------------------------- */

static void
conn_ws_text_cb(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->c_state == CONN_WS) {
		c->c_last_msg = c->c_last_rx;
		rpc_on_message(c, data, len);
	}
}

static int
conn_ws_send_cb(void *arg, const void *data, size_t len)
{
	struct conn *c = arg;

	return sockio_put(&c->c_sock, data, len);
}

static void *
conn_ws_reserve_cb(void *arg, size_t len)
{
	struct conn *c = arg;

	return sockio_reserve(&c->c_sock, len);
}

static void
conn_ws_closed_cb(void *arg, uint16_t code)
{
	struct conn *c = arg;

	log_debug("conn %llu: websocket closed (%u)", (unsigned long long)c->c_id, code);
	conn_close(c, 0, NULL);
}

static const struct ws_callbacks conn_ws_callbacks = {
	.on_text = conn_ws_text_cb,
	.send = conn_ws_send_cb,
	.reserve = conn_ws_reserve_cb,
	.on_closed = conn_ws_closed_cb,
	.on_pong = NULL,
};

void
conn_send_textv(struct conn *c, const struct iovec *iov, int n)
{
	if (c->c_state != CONN_WS)
		return;
	ws_send_textv(c->c_ws, iov, n);
	if (!c->c_throttled &&
	    sockio_pending(&c->c_sock) > srv.cfg.max_client_backlog)
		conn_throttle(c, true);
}

void
conn_send_text(struct conn *c, const char *data, size_t len)
{
	struct iovec iov = { (void *)data, len };

	conn_send_textv(c, &iov, 1);
}

/* ---- HTTP ------------------------------------------------------------------------ */

/* A plain answer that ends the request (400, 431, 503). */
static void
conn_http_fail(struct conn *c, int status)
{
	http_error(c->c_hs, status, sockio_buf(&c->c_sock));
	sockio_queue(&c->c_sock);
	conn_close(c, 0, NULL);
}

/* Bytes of the upgrade request; returns how many it took. */
static size_t
conn_http_input(struct conn *c, const char *data, size_t len)
{
	struct handshake *hs = c->c_hs;
	char buf[1024], ext[DEFLATE_RESPONSE_MAX];
	size_t used;
	int n, bits;

	used = handshake_feed(hs, data, len);
	if (hs->hs_state == HANDSHAKE_MORE) {
		if (hs->hs_bytes >= HANDSHAKE_MAX_BYTES)
			conn_http_fail(c, 431);
		return used;
	}
	if (hs->hs_state == HANDSHAKE_ERROR) {
		conn_http_fail(c, hs->hs_error_status ? hs->hs_error_status : 400);
		return used;
	}
	if (c->c_admin_only && !http_is_admin(hs)) {
		metrics_counters.connections_refused_total++;
		conn_http_fail(c, 503);
		return used;
	}
	if (http_request(hs, sockio_buf(&c->c_sock)) != 101) {
		sockio_queue(&c->c_sock);
		conn_close(c, 0, NULL);
		return used;
	}
	bits = srv.cfg.compression ? upgrade_deflate(hs, ext) : 0;
	if ((n = handshake_response(hs, 101, buf, sizeof(buf))) < 0 ||
	    upgrade_keep_headers(hs, &c->c_hnames, &c->c_hvalues,
	    &c->c_nheaders) != 0 ||
	    (c->c_ws = ws_new(&conn_ws_callbacks, c, srv.cfg.max_message)) == NULL) {
		conn_http_fail(c, 503);
		return used;
	}
	if (bits != 0) {
		ws_set_deflate(c->c_ws, bits);
		metrics_counters.connections_compressed_total++;
	}
	sockio_put(&c->c_sock, buf, (size_t)n);
	handshake_free(hs);
	free(hs);
	c->c_hs = NULL;
	event_del(c->c_timer);
	c->c_state = CONN_WS;
	c->c_last_msg = c->c_last_rx;
	conn_keepalive_arm(c);
	log_debug("conn %llu: websocket open from %s", (unsigned long long)c->c_id, c->c_ip);
	return used;
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t used;
	ssize_t n;

	(void)fd;
	(void)what;
	for (int i = 0; i < CONN_READS_PER_EVENT; i++) {
		n = sockio_read(&c->c_sock, conns.rbuf, sizeof(conns.rbuf));
		if (n > 0 && c->c_state == CONN_CLOSING) {
			/* Closing: what the peer sends now is not read. */
			metrics_counters.bytes_received_total += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* TLS must write before it reads on: bytes waiting
			 * on the socket would wake this level-triggered event
			 * on every turn until there is room. SOCKIO_READABLE
			 * brings it back. */
			if (c->c_sock.sk_rwant)
				event_del(c->c_rev);
			return;
		}
		if (n == 0 && c->c_state == CONN_CLOSING &&
		    sockio_pending(&c->c_sock) > 0) {
			/* Half closed: our last bytes may still be read. */
			event_del(c->c_rev);
			return;
		}
		if (n <= 0) {
			conn_kill(c, n == 0 ? "peer closed" : "socket error");
			return;
		}
		metrics_counters.bytes_received_total += (uint64_t)n;
		/* Any bytes prove the peer alive: no ping needed, none outstanding. */
		c->c_last_rx = clock_now_s();
		c->c_ping_sent = 0;
		used = 0;
		if (c->c_state == CONN_HTTP)
			used = conn_http_input(c, conns.rbuf, (size_t)n);
		/* A client may send its first frame right behind the request. */
		if (c->c_state == CONN_WS && used < (size_t)n)
			ws_feed(c->c_ws, conns.rbuf + used, (size_t)n - used);
		if (c->c_state != CONN_WS && c->c_state != CONN_HTTP)
			return;
		if (c->c_throttled || (size_t)n < sizeof(conns.rbuf))
			return;
	}
	/* TLS may hold input epoll cannot see: come back for it. */
	if (sockio_buffered(&c->c_sock))
		event_active(c->c_rev, EV_READ, 0);
}

/* ---- accepting -------------------------------------------------------------------- */

static void
conn_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct timeval tv = clock_tv((uint64_t)srv.cfg.handshake_timeout_s * 1000);
	struct conn *c;
	int one = 1;

	(void)l;
	(void)salen;
	(void)arg;
	if (srv.stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (conns.count >= srv.cfg.max_connections + CONN_ADMIN_RESERVE) {
		/* A plain answer on a TLS port would read as garbage: a TLS
		 * client is refused by the close alone. */
		if (!tls_enabled())
			http_refuse_busy(fd);
		evutil_closesocket(fd);
		metrics_counters.connections_refused_total++;
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	sockio_open(&c->c_sock, fd);
	fd = -1;
	if (tls_enabled() && tls_open(&c->c_sock) != 0)
		goto fail;
	if ((c->c_hs = malloc(sizeof(*c->c_hs))) == NULL)
		goto fail;
	handshake_init(c->c_hs);
	c->c_id = ++conns.next_id;
	c->c_admin_only = conns.count >= srv.cfg.max_connections;
	uuid_v4(c->c_uuid);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->c_ip, sizeof(c->c_ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->c_ip, sizeof(c->c_ip));
	setsockopt(c->c_sock.sk_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->c_rev = event_new(srv.base, c->c_sock.sk_fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c)) == NULL ||
	    (c->c_timer = evtimer_new(srv.base, conn_timer_cb, c)) == NULL)
		goto fail;
	event_add(c->c_rev, NULL);
	event_add(c->c_timer, &tv);
	TAILQ_INSERT_TAIL(&conns.live, c, c_link);
	conns.count++;
	metrics_counters.connections_accepted_total++;
	return;
fail:
	log_error("cannot accept a connection: out of memory");
	if (fd >= 0)
		evutil_closesocket(fd);
	if (c != NULL)
		conn_free(c);
}

static void
conn_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!srv.stopping && conns.listener != NULL)
		evconnlistener_enable(conns.listener);
}

static void
conn_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = clock_tv(CONN_ACCEPT_RETRY_MS);
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	/* Out of descriptors: pause accepting instead of spinning. */
	log_warn("accept: %s; pausing %d ms", evutil_socket_error_to_string(err),
	    CONN_ACCEPT_RETRY_MS);
	evconnlistener_disable(l);
	event_add(conns.accept_retry, &tv);
}

int
conn_listen(void)
{
	struct evutil_addrinfo hints, *ai = NULL;
	char port[16];
	int rv;

	TAILQ_INIT(&conns.live);
	TAILQ_INIT(&conns.dead);
	conns.reaper = event_new(srv.base, -1, 0, conn_reaper_cb, NULL);
	conns.accept_retry = evtimer_new(srv.base, conn_accept_retry_cb, NULL);
	if (conns.reaper == NULL || conns.accept_retry == NULL ||
	    sockio_init(conn_sock_cb, srv.cfg.max_client_backlog / 2) != 0 ||
	    linger_init() != 0)
		return -1;
	event_priority_set(conns.reaper, 2);
	metrics_gauge("wspool_connections_open", "Open client connections.",
	    conn_count_gauge_cb);
	metrics_counter_cb("wspool_messages_deflated_total",
	    "Messages sent compressed (permessage-deflate).",
	    deflate_deflated_count);
	metrics_counter_cb("wspool_messages_inflated_total",
	    "Compressed messages received and inflated.",
	    deflate_inflated_count);
	metrics_gauge("wspool_connections_throttled",
	    "Client connections not read from until they read their answers.",
	    conn_throttled_gauge_cb);
	metrics_gauge("wspool_client_backlog_max_bytes",
	    "Bytes not yet written to the client, on the connection with the most.",
	    conn_backlog_max_gauge_cb);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", srv.cfg.listen_port);
	if ((rv = evutil_getaddrinfo(srv.cfg.listen_host, port, &hints, &ai)) != 0) {
		log_error("cannot resolve %s: %s", srv.cfg.listen_host,
		    evutil_gai_strerror(rv));
		return -1;
	}
	conns.listener = evconnlistener_new_bind(srv.base, conn_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (conns.listener == NULL) {
		log_error("cannot listen on %s:%d: %s", srv.cfg.listen_host,
		    srv.cfg.listen_port, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(conns.listener, conn_accept_error_cb);
	return 0;
}

void
conn_stop_listening(void)
{
	if (conns.listener != NULL) {
		evconnlistener_free(conns.listener);
		conns.listener = NULL;
	}
}

void
conn_fini(void)
{
	struct conn *c;

	conn_stop_listening();
	while ((c = TAILQ_FIRST(&conns.live)) != NULL)
		conn_kill(c, "exit");
	conn_reaper_cb(-1, 0, NULL);
	linger_fini();
	sockio_fini();
	deflate_fini();
	if (conns.reaper)
		event_free(conns.reaper);
	if (conns.accept_retry)
		event_free(conns.accept_retry);
}
