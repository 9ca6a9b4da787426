/*
 * wspool-bench.c: a single-threaded libevent load generator for servers
 * speaking the alien-rpc WebSocket protocol: closed loop, open loop
 * (--rate), subscriptions and idle connections; see bench/opts.c for usage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "bench/hdr.h"
#include "bench/opts.h"
#include "bench/resp.h"
#include "bench/wsc.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Connections being opened at once: more only overflows listen backlogs. */
#define BENCH_CONNECT_WINDOW 200
/* Give up on connections not open after this long. */
#define BENCH_CONNECT_TIMEOUT_S 30
/* Reads per readable event before others get their turn. */
#define BENCH_READS_PER_EVENT 4
/* The open loop's pacing tick. */
#define BENCH_PACE_US 100
/* Latencies tracked up to 100 s (in ns); above, clamped. */
#define BENCH_HIGHEST_NS (100ull * 1000 * 1000 * 1000)
#define BENCH_MAX_CODE 1000

enum bench_phase {
	PHASE_CONNECT,    /* opening the connections */
	PHASE_WARMUP,     /* load running, nothing counted */
	PHASE_MEASURE,    /* load running, everything counted */
	PHASE_DONE,
};

struct bench;

struct bconn {
	struct bench *bc_bench;
	unsigned bc_index;
	int bc_fd;
	int bc_state;
#define BC_IDLE       0     /* not started */
#define BC_CONNECTING 1
#define BC_UPGRADING  2
#define BC_OPEN       3
#define BC_CLOSED     4
	int bc_ready;           /* idle mode: its .ping was answered */
	struct event *bc_rev;   /* readable, persistent */
	struct event *bc_wev;   /* writable, armed while bytes wait */
	uint8_t *bc_rbuf;
	size_t bc_rlen, bc_rcap;
	uint8_t *bc_wbuf;
	size_t bc_woff, bc_wlen, bc_wcap;
	uint8_t *bc_msg;        /* a fragmented message being assembled */
	size_t bc_msglen, bc_msgcap;
	int bc_inmsg;
	uint64_t bc_rng;
	char bc_key[25];
	/* Calls in flight: slot s carries id gen[s] * K + s, sent at t0[s]. */
	unsigned bc_inflight;
	uint64_t *bc_t0;        /* 0: the slot is free */
	uint32_t *bc_gen;
	uint32_t *bc_free;      /* stack of free slots */
	unsigned bc_nfree;
	unsigned bc_ping_head;  /* .ping calls complete in order: a ring */
	unsigned bc_ping_tail;
	int bc_dirty;
	struct bconn *bc_next_dirty;
};

struct bench {
	struct event_base *b_base;
	struct bench_opts *b_opts;
	struct sockaddr_storage b_addr;
	socklen_t b_addrlen;
	int b_loopback4;        /* the target is 127.x: spread source addrs */
	struct bconn *b_conns;
	unsigned b_nconns;
	int b_ping;             /* the method is .ping: answers carry no id */
	char *b_tail;           /* ,"method":...} of every call */
	size_t b_tail_len;
	struct hdr b_hist;
	enum bench_phase b_phase;
	uint64_t b_now;         /* ns, refreshed once per callback */
	uint64_t b_t_start, b_t_measure, b_t_end;
	/* Counted during PHASE_MEASURE only. */
	uint64_t b_calls, b_chunks;
	uint64_t b_errors[BENCH_MAX_CODE];
	/* Counted all along. */
	uint64_t b_bad_messages, b_unknown_ids, b_closed, b_connect_failed;
	unsigned b_next_connect, b_pending, b_open, b_ready;
	double b_open_seconds;
	/* Open loop. */
	uint64_t b_rate_t0, b_rate_sent;
	unsigned b_rate_rr;
	/* Progress. */
	int b_tty;
	uint64_t b_prog_t, b_prog_calls, b_prog_chunks;
	struct rusage b_ru0;
	struct event *b_ev_phase, *b_ev_pace, *b_ev_progress, *b_ev_sigint,
	    *b_ev_connect_timeout;
	struct bconn *b_dirty;
	int b_failed;           /* a setup error: exit non-zero */
};

static uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bench_connect_next(struct bench *b);
static void bench_all_connected(struct bench *b);
static void bconn_close(struct bconn *c, const char *why);

/* ---- buffers ------------------------------------------------------------ */

static int
bconn_wreserve(struct bconn *c, size_t n)
{
	size_t need;
	uint8_t *nb;

	if (c->bc_wlen == 0)
		c->bc_woff = 0;
	if (c->bc_woff + c->bc_wlen + n <= c->bc_wcap)
		return 0;
	if (c->bc_woff > 0) {
		memmove(c->bc_wbuf, c->bc_wbuf + c->bc_woff, c->bc_wlen);
		c->bc_woff = 0;
		if (c->bc_wlen + n <= c->bc_wcap)
			return 0;
	}
	need = c->bc_wcap ? c->bc_wcap : 4096;
	while (need < c->bc_wlen + n)
		need *= 2;
	if ((nb = realloc(c->bc_wbuf, need)) == NULL)
		return -1;
	c->bc_wbuf = nb;
	c->bc_wcap = need;
	return 0;
}

static void
bconn_mark_dirty(struct bconn *c)
{
	if (c->bc_dirty)
		return;
	c->bc_dirty = 1;
	c->bc_next_dirty = c->bc_bench->b_dirty;
	c->bc_bench->b_dirty = c;
}

/* Write what is queued; arm the write event for what the socket refuses. */
static void
bconn_flush(struct bconn *c)
{
	ssize_t n;

	while (c->bc_wlen > 0) {
		n = write(c->bc_fd, c->bc_wbuf + c->bc_woff, c->bc_wlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->bc_wev, NULL);
				return;
			}
			bconn_close(c, strerror(errno));
			return;
		}
		c->bc_woff += (size_t)n;
		c->bc_wlen -= (size_t)n;
	}
	c->bc_woff = 0;
}

/* One write per connection per loop turn, whatever was queued. */
static void
bench_flush_dirty(struct bench *b)
{
	struct bconn *c;

	while ((c = b->b_dirty) != NULL) {
		b->b_dirty = c->bc_next_dirty;
		c->bc_dirty = 0;
		c->bc_next_dirty = NULL;
		if (c->bc_state == BC_OPEN || c->bc_state == BC_UPGRADING)
			bconn_flush(c);
	}
}

/* Queue one masked frame carrying prefix then body. */
static int
bconn_queue_frame(struct bconn *c, int opcode, const void *prefix,
    size_t plen, const void *body, size_t blen)
{
	uint32_t mask = wsc_rand(&c->bc_rng);
	uint8_t *w;
	size_t h;

	if (bconn_wreserve(c, WSC_MAX_HEADER + plen + blen) != 0)
		return -1;
	w = c->bc_wbuf + c->bc_woff + c->bc_wlen;
	h = wsc_header(w, opcode, plen + blen, mask);
	if (plen > 0)
		memcpy(w + h, prefix, plen);
	if (blen > 0)
		memcpy(w + h + plen, body, blen);
	wsc_mask(w + h, plen + blen, mask);
	c->bc_wlen += h + plen + blen;
	bconn_mark_dirty(c);
	return 0;
}

/* ---- calls ---------------------------------------------------------------- */

static int
bconn_has_slot(const struct bconn *c)
{
	return c->bc_inflight < c->bc_bench->b_opts->o_inflight;
}

/* Send one call, timed from t0 (its intended time in the open loop). */
static void
bconn_send_call(struct bconn *c, uint64_t t0)
{
	struct bench *b = c->bc_bench;
	unsigned k = b->b_opts->o_inflight, slot;
	char head[32];
	uint64_t id;
	int n;

	if (!bconn_has_slot(c))
		return;
	if (b->b_ping) {
		slot = c->bc_ping_head;
		c->bc_ping_head = (c->bc_ping_head + 1) % k;
	} else {
		slot = c->bc_free[--c->bc_nfree];
	}
	c->bc_gen[slot]++;
	c->bc_t0[slot] = t0 ? t0 : 1;
	c->bc_inflight++;
	id = (uint64_t)c->bc_gen[slot] * k + slot;
	n = snprintf(head, sizeof(head), "{\"id\":%" PRIu64, id);
	if (bconn_queue_frame(c, WSC_OP_TEXT, head, (size_t)n, b->b_tail,
	    b->b_tail_len) != 0)
		bconn_close(c, "out of memory");
}

/* Free slot s (its answer came); returns its send time. */
static uint64_t
bconn_release(struct bconn *c, unsigned slot)
{
	uint64_t t0 = c->bc_t0[slot];

	c->bc_t0[slot] = 0;
	c->bc_inflight--;
	if (!c->bc_bench->b_ping)
		c->bc_free[c->bc_nfree++] = slot;
	return t0;
}

/* The slot of an answer's id, or -1 when no call in flight has it. */
static int
bconn_slot_of(const struct bconn *c, uint64_t id)
{
	unsigned k = c->bc_bench->b_opts->o_inflight;
	uint64_t slot = id % k, gen = id / k;

	if (c->bc_t0[slot] == 0 || c->bc_gen[slot] != gen)
		return -1;
	return (int)slot;
}

/* The open loop: calls due by now that have not gone out yet. */
static uint64_t
bench_rate_due(const struct bench *b)
{
	double el = (double)(b->b_now - b->b_rate_t0) / 1e9;
	uint64_t due = (uint64_t)(el * b->b_opts->o_rate);

	return due > b->b_rate_sent ? due - b->b_rate_sent : 0;
}

static uint64_t
bench_rate_intended(const struct bench *b)
{
	return b->b_rate_t0 +
	    (uint64_t)((double)b->b_rate_sent * 1e9 / b->b_opts->o_rate);
}

/* A call ended on c: start the next one as the mode says. */
static void
bconn_next(struct bconn *c)
{
	struct bench *b = c->bc_bench;

	if (b->b_phase != PHASE_WARMUP && b->b_phase != PHASE_MEASURE)
		return;
	if (c->bc_state != BC_OPEN)
		return;
	if (b->b_opts->o_mode == BENCH_RATE) {
		if (bench_rate_due(b) > 0) {
			bconn_send_call(c, bench_rate_intended(b));
			b->b_rate_sent++;
		}
		return;
	}
	bconn_send_call(c, b->b_now);
}

static void
bench_count_error(struct bench *b, int code)
{
	if (b->b_phase != PHASE_MEASURE)
		return;
	if (code < 0 || code >= BENCH_MAX_CODE)
		code = 0;
	b->b_errors[code]++;
}

/* A call ended (answer, close or error): time it and start the next. */
static void
bconn_complete(struct bconn *c, int slot, int ok)
{
	struct bench *b = c->bc_bench;
	uint64_t t0 = bconn_release(c, (unsigned)slot);

	if (ok && b->b_phase == PHASE_MEASURE) {
		b->b_calls++;
		hdr_record(&b->b_hist, b->b_now > t0 ? b->b_now - t0 : 0);
	}
	bconn_next(c);
}

static void
bconn_on_message(struct bconn *c, const uint8_t *p, size_t n)
{
	struct bench *b = c->bc_bench;
	struct resp r;
	int slot, subscribe = b->b_opts->o_mode == BENCH_SUBSCRIBE;

	if (resp_scan((const char *)p, n, &r) != 0) {
		b->b_bad_messages++;
		return;
	}
	if (r.r_kind == RESP_PONG && !r.r_has_id) {
		if (b->b_opts->o_mode == BENCH_IDLE) {
			if (!c->bc_ready) {
				c->bc_ready = 1;
				b->b_ready++;
				bench_connect_next(b);
			}
			return;
		}
		if (!b->b_ping || c->bc_inflight == 0) {
			b->b_unknown_ids++;
			return;
		}
		slot = (int)c->bc_ping_tail;
		c->bc_ping_tail = (c->bc_ping_tail + 1) % b->b_opts->o_inflight;
		bconn_complete(c, slot, 1);
		return;
	}
	if (r.r_kind == RESP_ERROR)
		bench_count_error(b, r.r_code);
	if (!r.r_has_id || b->b_ping) {
		/* {"id": null, "error": ...}: nothing to match; counted above. */
		if (r.r_kind != RESP_ERROR)
			b->b_unknown_ids++;
		return;
	}
	if ((slot = bconn_slot_of(c, r.r_id)) < 0) {
		b->b_unknown_ids++;
		return;
	}
	switch (r.r_kind) {
	case RESP_RESULT:
	case RESP_CHUNK_UNDEFINED:
		if (subscribe) {
			if (b->b_phase == PHASE_MEASURE)
				b->b_chunks++;
			return;
		}
		bconn_complete(c, slot, 1);
		return;
	case RESP_CLOSE:
		bconn_complete(c, slot, subscribe);
		return;
	case RESP_ERROR:
		bconn_complete(c, slot, 0);
		return;
	case RESP_PONG:
		b->b_unknown_ids++;
		return;
	}
}

/* ---- frames in ---------------------------------------------------------- */

static void
bconn_on_frame(struct bconn *c, const struct wsc_frame *f, const uint8_t *p)
{
	struct bench *b = c->bc_bench;
	uint8_t *nb;
	size_t need;

	switch (f->f_opcode) {
	case WSC_OP_TEXT:
	case WSC_OP_BINARY:
		if (c->bc_inmsg) {
			bconn_close(c, "new message inside a fragmented one");
			return;
		}
		if (f->f_fin) {
			bconn_on_message(c, p, (size_t)f->f_len);
			return;
		}
		/* The first fragment is appended like the ones after it. */
		c->bc_inmsg = 1;
		c->bc_msglen = 0;
		/* FALLTHROUGH */
	case WSC_OP_CONT:
		if (!c->bc_inmsg) {
			bconn_close(c, "continuation without a message");
			return;
		}
		if (f->f_len > b->b_opts->o_max_message - c->bc_msglen) {
			bconn_close(c, "message over --max-message");
			return;
		}
		need = c->bc_msglen + (size_t)f->f_len;
		if (need > c->bc_msgcap) {
			if ((nb = realloc(c->bc_msg, need)) == NULL) {
				bconn_close(c, "out of memory");
				return;
			}
			c->bc_msg = nb;
			c->bc_msgcap = need;
		}
		memcpy(c->bc_msg + c->bc_msglen, p, (size_t)f->f_len);
		c->bc_msglen = need;
		if (f->f_fin) {
			c->bc_inmsg = 0;
			bconn_on_message(c, c->bc_msg, c->bc_msglen);
		}
		return;
	case WSC_OP_PING:
		if (bconn_queue_frame(c, WSC_OP_PONG, p, (size_t)f->f_len,
		    NULL, 0) != 0)
			bconn_close(c, "out of memory");
		return;
	case WSC_OP_CLOSE:
		bconn_queue_frame(c, WSC_OP_CLOSE, p, f->f_len >= 2 ? 2 : 0,
		    NULL, 0);
		bconn_flush(c);
		bconn_close(c, "closed by the server");
		return;
	default:
		return;
	}
}

/* Parse every whole frame in the read buffer, keep the rest. */
static void
bconn_parse(struct bconn *c)
{
	struct bench *b = c->bc_bench;
	struct wsc_frame f;
	size_t pos = 0;
	int rv;

	while (c->bc_state == BC_OPEN) {
		rv = wsc_parse(c->bc_rbuf + pos, c->bc_rlen - pos,
		    b->b_opts->o_max_message, &f);
		if (rv == 0)
			break;
		if (rv < 0) {
			bconn_close(c, "bad frame from the server");
			return;
		}
		bconn_on_frame(c, &f, c->bc_rbuf + pos + f.f_hlen);
		pos += f.f_hlen + (size_t)f.f_len;
	}
	if (c->bc_state != BC_OPEN)
		return;
	if (pos > 0) {
		memmove(c->bc_rbuf, c->bc_rbuf + pos, c->bc_rlen - pos);
		c->bc_rlen -= pos;
	}
}

/* The upgrade answer: check it, then treat what follows as frames. */
static void
bconn_upgrade_answer(struct bconn *c)
{
	struct bench *b = c->bc_bench;
	int h;

	h = wsc_response((const char *)c->bc_rbuf, c->bc_rlen, c->bc_key);
	if (h == 0)
		return;
	if (h < 0) {
		b->b_connect_failed++;
		bconn_close(c, "upgrade refused");
		return;
	}
	memmove(c->bc_rbuf, c->bc_rbuf + h, c->bc_rlen - (size_t)h);
	c->bc_rlen -= (size_t)h;
	c->bc_state = BC_OPEN;
	b->b_open++;
	b->b_pending--;
	if (b->b_opts->o_mode == BENCH_IDLE) {
		static const char ping[] = "{\"method\":\".ping\"}";

		if (bconn_queue_frame(c, WSC_OP_TEXT, ping, sizeof(ping) - 1,
		    NULL, 0) != 0) {
			bconn_close(c, "out of memory");
			return;
		}
	} else {
		bench_connect_next(b);
	}
	bconn_parse(c);
}

static void
bconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;
	struct bench *b = c->bc_bench;
	size_t limit = (size_t)b->b_opts->o_max_message + WSC_MAX_HEADER;
	size_t want;
	ssize_t n;
	uint8_t *nb;
	int i;

	b->b_now = bench_now();
	for (i = 0; i < BENCH_READS_PER_EVENT; i++) {
		/* Room for at least a quarter of the buffer, growing to a frame. */
		if (c->bc_rcap - c->bc_rlen < c->bc_rcap / 4 + 1) {
			want = c->bc_rcap * 2;
			if (want > limit + (limit / 4) + 1)
				want = limit + (limit / 4) + 1;
			if (want <= c->bc_rcap) {
				bconn_close(c, "message over --max-message");
				goto out;
			}
			if ((nb = realloc(c->bc_rbuf, want)) == NULL) {
				bconn_close(c, "out of memory");
				goto out;
			}
			c->bc_rbuf = nb;
			c->bc_rcap = want;
		}
		n = read(fd, c->bc_rbuf + c->bc_rlen, c->bc_rcap - c->bc_rlen);
		if (n == 0) {
			if (c->bc_state == BC_UPGRADING)
				b->b_connect_failed++;
			bconn_close(c, "connection closed");
			goto out;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->bc_state == BC_UPGRADING)
				b->b_connect_failed++;
			bconn_close(c, strerror(errno));
			goto out;
		}
		c->bc_rlen += (size_t)n;
		if (c->bc_state == BC_UPGRADING)
			bconn_upgrade_answer(c);
		else
			bconn_parse(c);
		if (c->bc_state != BC_OPEN && c->bc_state != BC_UPGRADING)
			goto out;
		if ((size_t)n < c->bc_rcap / 2)
			break;          /* the socket is likely drained */
	}
out:
	bench_flush_dirty(b);
}

static void
bconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;
	struct bench *b = c->bc_bench;
	char req[2048];
	int err = 0, n;
	socklen_t len = sizeof(err);

	b->b_now = bench_now();
	if (c->bc_state == BC_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			b->b_connect_failed++;
			bconn_close(c, strerror(err));
			return;
		}
		wsc_make_key(c->bc_key, &c->bc_rng);
		n = wsc_request(req, sizeof(req), b->b_opts->o_url.u_hostport,
		    b->b_opts->o_url.u_path, c->bc_key);
		if (n > 0 && b->b_opts->o_offer_deflate)
			n = wsc_offer_deflate(req, sizeof(req), (size_t)n);
		if (n < 0 || bconn_wreserve(c, (size_t)n) != 0) {
			b->b_connect_failed++;
			bconn_close(c, "upgrade request too long");
			return;
		}
		memcpy(c->bc_wbuf + c->bc_wlen, req, (size_t)n);
		c->bc_wlen += (size_t)n;
		c->bc_state = BC_UPGRADING;
		event_add(c->bc_rev, NULL);
	}
	bconn_flush(c);
}

/* ---- connections ---------------------------------------------------------- */

static void
bconn_close(struct bconn *c, const char *why)
{
	struct bench *b = c->bc_bench;
	int was = c->bc_state;

	if (was == BC_CLOSED || was == BC_IDLE)
		return;
	c->bc_state = BC_CLOSED;
	if (c->bc_rev != NULL)
		event_del(c->bc_rev);
	if (c->bc_wev != NULL)
		event_del(c->bc_wev);
	if (c->bc_fd >= 0)
		close(c->bc_fd);
	c->bc_fd = -1;
	if (was == BC_OPEN) {
		b->b_open--;
		if (b->b_phase != PHASE_DONE) {
			b->b_closed++;
			if (b->b_closed <= 5)
				fprintf(stderr, "wspool-bench: connection %u: %s\n",
				    c->bc_index, why);
		}
	} else {
		b->b_pending--;
		if (b->b_connect_failed <= 5)
			fprintf(stderr, "wspool-bench: connection %u: %s\n",
			    c->bc_index, why);
	}
	if (b->b_phase == PHASE_CONNECT)
		bench_connect_next(b);
	else if (b->b_open == 0 && b->b_phase != PHASE_DONE) {
		fprintf(stderr, "wspool-bench: every connection is closed\n");
		b->b_phase = PHASE_DONE;
		b->b_t_end = bench_now();
		event_base_loopbreak(b->b_base);
	}
}

static int
bconn_setup(struct bench *b, struct bconn *c, unsigned idx)
{
	unsigned k = b->b_opts->o_inflight, i;

	memset(c, 0, sizeof(*c));
	c->bc_bench = b;
	c->bc_index = idx;
	c->bc_fd = -1;
	c->bc_rng = UINT64_C(0x9E3779B97F4A7C15) ^ ((uint64_t)idx << 17) ^
	    (uint64_t)getpid() ^ bench_now();
	if (b->b_opts->o_mode == BENCH_IDLE)
		return 0;
	c->bc_t0 = calloc(k, sizeof(*c->bc_t0));
	c->bc_gen = calloc(k, sizeof(*c->bc_gen));
	c->bc_free = calloc(k, sizeof(*c->bc_free));
	if (c->bc_t0 == NULL || c->bc_gen == NULL || c->bc_free == NULL)
		return -1;
	/* Low slots first: the stack pops from the end. */
	for (i = 0; i < k; i++)
		c->bc_free[i] = k - 1 - i;
	c->bc_nfree = k;
	return 0;
}

static void
bconn_free(struct bconn *c)
{
	if (c->bc_fd >= 0)
		close(c->bc_fd);
	if (c->bc_rev != NULL)
		event_free(c->bc_rev);
	if (c->bc_wev != NULL)
		event_free(c->bc_wev);
	free(c->bc_rbuf);
	free(c->bc_wbuf);
	free(c->bc_msg);
	free(c->bc_t0);
	free(c->bc_gen);
	free(c->bc_free);
}

/* Start connecting c; on failure it is counted and closed. */
static void
bconn_start(struct bench *b, struct bconn *c)
{
	struct sockaddr_in src;
	int fd, one = 1;
	size_t cap = b->b_opts->o_mode == BENCH_IDLE ? 2048 : 65536;

	c->bc_state = BC_CONNECTING;
	b->b_pending++;
	fd = socket(b->b_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	c->bc_fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (b->b_loopback4 && b->b_opts->o_source_addrs > 1) {
		/* The port is chosen at connect() for the whole 4-tuple. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7F000001u +
		    c->bc_index % b->b_opts->o_source_addrs);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
			goto fail;
	}
	if ((c->bc_rbuf = malloc(cap)) == NULL)
		goto fail;
	c->bc_rcap = cap;
	c->bc_rev = event_new(b->b_base, fd, EV_READ | EV_PERSIST,
	    bconn_read_cb, c);
	c->bc_wev = event_new(b->b_base, fd, EV_WRITE, bconn_write_cb, c);
	if (c->bc_rev == NULL || c->bc_wev == NULL)
		goto fail;
	if (connect(fd, (struct sockaddr *)&b->b_addr, b->b_addrlen) != 0 &&
	    errno != EINPROGRESS)
		goto fail;
	event_add(c->bc_wev, NULL);
	return;
fail:
	b->b_connect_failed++;
	if (b->b_connect_failed <= 5)
		fprintf(stderr, "wspool-bench: connection %u: %s\n",
		    c->bc_index, strerror(errno));
	if (c->bc_fd >= 0)
		close(c->bc_fd);
	c->bc_fd = -1;
	c->bc_state = BC_CLOSED;
	b->b_pending--;
}

/* Keep BENCH_CONNECT_WINDOW connections opening until all are tried. */
static void
bench_connect_next(struct bench *b)
{
	unsigned done;

	if (b->b_phase != PHASE_CONNECT)
		return;
	while (b->b_pending < BENCH_CONNECT_WINDOW &&
	    b->b_next_connect < b->b_nconns)
		bconn_start(b, &b->b_conns[b->b_next_connect++]);
	if (b->b_next_connect < b->b_nconns || b->b_pending > 0)
		return;
	/* Idle mode: ready when every open connection had its pong. */
	done = b->b_opts->o_mode == BENCH_IDLE ? b->b_ready : b->b_open;
	if (done < b->b_open)
		return;
	bench_all_connected(b);
}

/* ---- phases, progress, report ------------------------------------------ */

static void
bench_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	uint64_t now = bench_now();
	double dt = (double)(now - b->b_prog_t) / 1e9;
	const char *ph = b->b_phase == PHASE_WARMUP ? "warmup" :
	    b->b_phase == PHASE_MEASURE ? "measure" :
	    b->b_phase == PHASE_CONNECT ? "connect" : "done";
	uint64_t err = 0;
	int i;

	for (i = 0; i < BENCH_MAX_CODE; i++)
		err += b->b_errors[i];
	if (b->b_phase == PHASE_MEASURE && dt > 0)
		fprintf(stderr, "\r%-7s %5.1fs  %10.0f calls/s  %10.0f chunks/s"
		    "  open %u  errors %" PRIu64 "   ", ph,
		    (double)(now - b->b_t_measure) / 1e9,
		    (double)(b->b_calls - b->b_prog_calls) / dt,
		    (double)(b->b_chunks - b->b_prog_chunks) / dt, b->b_open,
		    err);
	else
		fprintf(stderr, "\r%-7s  open %u  pending %u  failed %" PRIu64
		    "            ", ph, b->b_open, b->b_pending,
		    b->b_connect_failed);
	b->b_prog_t = now;
	b->b_prog_calls = b->b_calls;
	b->b_prog_chunks = b->b_chunks;
}

static void
bench_phase_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	struct timeval tv;
	size_t i;

	b->b_now = bench_now();
	if (b->b_phase == PHASE_WARMUP) {
		b->b_phase = PHASE_MEASURE;
		b->b_t_measure = b->b_now;
		hdr_reset(&b->b_hist);
		b->b_calls = b->b_chunks = 0;
		for (i = 0; i < BENCH_MAX_CODE; i++)
			b->b_errors[i] = 0;
		b->b_prog_t = b->b_now;
		b->b_prog_calls = b->b_prog_chunks = 0;
		tv.tv_sec = (time_t)b->b_opts->o_duration;
		tv.tv_usec = (suseconds_t)((b->b_opts->o_duration -
		    (double)tv.tv_sec) * 1e6);
		evtimer_add(b->b_ev_phase, &tv);
		return;
	}
	b->b_phase = PHASE_DONE;
	b->b_t_end = b->b_now;
	event_base_loopbreak(b->b_base);
}

static void
bench_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	uint64_t due;
	unsigned tried;
	struct bconn *c;

	b->b_now = bench_now();
	due = bench_rate_due(b);
	while (due > 0) {
		/* Round robin over connections with a free slot. */
		for (tried = 0; tried < b->b_nconns; tried++) {
			c = &b->b_conns[b->b_rate_rr];
			b->b_rate_rr = (b->b_rate_rr + 1) % b->b_nconns;
			if (c->bc_state == BC_OPEN && bconn_has_slot(c))
				break;
		}
		if (tried == b->b_nconns)
			break;  /* all full: the backlog waits for answers */
		bconn_send_call(c, bench_rate_intended(b));
		b->b_rate_sent++;
		due--;
	}
	bench_flush_dirty(b);
}

static void
bench_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	unsigned i;

	if (b->b_phase != PHASE_CONNECT)
		return;
	fprintf(stderr, "wspool-bench: connections still opening after %d s: "
	    "given up\n", BENCH_CONNECT_TIMEOUT_S);
	b->b_next_connect = b->b_nconns;
	for (i = 0; i < b->b_nconns; i++) {
		struct bconn *c = &b->b_conns[i];

		if (c->bc_state == BC_CONNECTING ||
		    c->bc_state == BC_UPGRADING) {
			b->b_connect_failed++;
			bconn_close(c, "timed out opening");
		} else if (c->bc_state == BC_OPEN && !c->bc_ready &&
		    b->b_opts->o_mode == BENCH_IDLE) {
			c->bc_ready = 1;
			b->b_ready++;
		}
	}
	bench_connect_next(b);
}

static void
bench_sigint_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	if (b->b_phase == PHASE_MEASURE || b->b_phase == PHASE_WARMUP) {
		b->b_t_end = bench_now();
		if (b->b_phase == PHASE_WARMUP)
			b->b_t_measure = b->b_t_end;
	} else {
		b->b_t_end = b->b_t_measure = bench_now();
	}
	b->b_phase = PHASE_DONE;
	event_base_loopbreak(b->b_base);
}

static void
bench_all_connected(struct bench *b)
{
	struct timeval tv;
	unsigned i, j;

	b->b_now = bench_now();
	b->b_open_seconds = (double)(b->b_now - b->b_t_start) / 1e9;
	evtimer_del(b->b_ev_connect_timeout);
	if (b->b_open == 0) {
		fprintf(stderr, "wspool-bench: no connection could be opened\n");
		b->b_failed = 1;
		b->b_phase = PHASE_DONE;
		event_base_loopbreak(b->b_base);
		return;
	}
	if (b->b_opts->o_mode == BENCH_IDLE) {
		if (b->b_tty && !b->b_opts->o_quiet)
			fputc('\n', stderr);
		printf("# idle-ready %u %" PRIu64 "\n", b->b_open,
		    b->b_connect_failed);
		fflush(stdout);
		/* Holding is the measurement: no warm-up. */
		b->b_phase = PHASE_WARMUP;
		b->b_opts->o_warmup = 0;
	} else {
		b->b_phase = PHASE_WARMUP;
	}
	tv.tv_sec = (time_t)b->b_opts->o_warmup;
	tv.tv_usec = (suseconds_t)((b->b_opts->o_warmup -
	    (double)tv.tv_sec) * 1e6);
	evtimer_add(b->b_ev_phase, &tv);
	switch (b->b_opts->o_mode) {
	case BENCH_CLOSED:
	case BENCH_SUBSCRIBE:
		for (i = 0; i < b->b_nconns; i++)
			if (b->b_conns[i].bc_state == BC_OPEN)
				for (j = 0; j < b->b_opts->o_inflight; j++)
					bconn_send_call(&b->b_conns[i], b->b_now);
		bench_flush_dirty(b);
		break;
	case BENCH_RATE:
		b->b_rate_t0 = b->b_now;
		b->b_rate_sent = 0;
		tv.tv_sec = 0;
		tv.tv_usec = BENCH_PACE_US;
		event_add(b->b_ev_pace, &tv);
		break;
	case BENCH_IDLE:
		break;
	}
}

static void
bench_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static const char *
bench_mode_name(enum bench_mode m)
{
	switch (m) {
	case BENCH_CLOSED: return "closed";
	case BENCH_RATE: return "rate";
	case BENCH_SUBSCRIBE: return "subscribe";
	case BENCH_IDLE: return "idle";
	}
	return "?";
}

static void
bench_report(struct bench *b, const char *url)
{
	const struct bench_opts *o = b->b_opts;
	const struct hdr *h = &b->b_hist;
	double secs = (double)(b->b_t_end - b->b_t_measure) / 1e9;
	double cpu, wall = (double)(b->b_t_end - b->b_t_start) / 1e9;
	double lat[6];
	struct rusage ru;
	uint64_t nerr = 0;
	int i, first = 1;

	if (secs <= 0)
		secs = 1e-9;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)(ru.ru_utime.tv_sec - b->b_ru0.ru_utime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec - b->b_ru0.ru_utime.tv_usec) / 1e6 +
	    (double)(ru.ru_stime.tv_sec - b->b_ru0.ru_stime.tv_sec) +
	    (double)(ru.ru_stime.tv_usec - b->b_ru0.ru_stime.tv_usec) / 1e6;
	lat[0] = (double)hdr_percentile(h, 50) / 1e3;
	lat[1] = (double)hdr_percentile(h, 90) / 1e3;
	lat[2] = (double)hdr_percentile(h, 99) / 1e3;
	lat[3] = (double)hdr_percentile(h, 99.9) / 1e3;
	lat[4] = (double)h->hdr_max / 1e3;
	lat[5] = hdr_mean(h) / 1e3;
	for (i = 0; i < BENCH_MAX_CODE; i++)
		nerr += b->b_errors[i];
	if (b->b_tty && !o->o_quiet)
		fputc('\n', stderr);

	if (o->o_json) {
		printf("{\"mode\":\"%s\",\"url\":", bench_mode_name(o->o_mode));
		bench_json_string(stdout, url);
		printf(",\"method\":");
		bench_json_string(stdout, o->o_method);
		printf(",\"connections\":%u,\"inflight\":%u,\"open\":%u,"
		    "\"connect_failed\":%" PRIu64 ",\"open_s\":%.3f,"
		    "\"duration_s\":%.3f,\"calls\":%" PRIu64 ","
		    "\"calls_per_s\":%.1f,\"chunks\":%" PRIu64 ","
		    "\"chunks_per_s\":%.1f,",
		    b->b_nconns, o->o_mode == BENCH_IDLE ? 0 : o->o_inflight,
		    b->b_open, b->b_connect_failed, b->b_open_seconds, secs,
		    b->b_calls, (double)b->b_calls / secs, b->b_chunks,
		    (double)b->b_chunks / secs);
		if (o->o_mode == BENCH_RATE)
			printf("\"rate\":%.1f,\"sent\":%" PRIu64 ",", o->o_rate,
			    b->b_rate_sent);
		printf("\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
		    "\"p99_9\":%.1f,\"max\":%.1f,\"mean\":%.1f},",
		    lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]);
		printf("\"errors\":{");
		for (i = 0; i < BENCH_MAX_CODE; i++) {
			if (b->b_errors[i] == 0)
				continue;
			printf("%s\"%d\":%" PRIu64, first ? "" : ",", i,
			    b->b_errors[i]);
			first = 0;
		}
		printf("},\"bad_messages\":%" PRIu64 ",\"unknown_ids\":%" PRIu64
		    ",\"closed\":%" PRIu64 ",\"cpu_s\":%.3f,\"cpu_pct\":%.1f}\n",
		    b->b_bad_messages, b->b_unknown_ids, b->b_closed, cpu,
		    wall > 0 ? 100.0 * cpu / wall : 0);
		return;
	}
	if (o->o_mode == BENCH_IDLE)
		printf("wspool-bench: %s  mode idle\n", url);
	else
		printf("wspool-bench: %s  mode %s  method %s\n", url,
		    bench_mode_name(o->o_mode), o->o_method);
	if (o->o_mode == BENCH_IDLE) {
		printf("  connections  %u open, %" PRIu64 " failed, opened in "
		    "%.2f s, held %.1f s\n", b->b_open, b->b_connect_failed,
		    b->b_open_seconds, secs);
	} else {
		printf("  connections  %u x %u in flight (%u open, %" PRIu64
		    " failed)\n", b->b_nconns, o->o_inflight, b->b_open,
		    b->b_connect_failed);
		if (o->o_mode == BENCH_RATE)
			printf("  rate         %.0f calls/s asked\n", o->o_rate);
		printf("  measured     %.2f s\n", secs);
		printf("  calls        %" PRIu64 "  (%.0f/s)\n", b->b_calls,
		    (double)b->b_calls / secs);
		if (o->o_mode == BENCH_SUBSCRIBE)
			printf("  chunks       %" PRIu64 "  (%.0f/s)\n",
			    b->b_chunks, (double)b->b_chunks / secs);
		printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f"
		    "  max %.1f  mean %.1f\n", lat[0], lat[1], lat[2], lat[3],
		    lat[4], lat[5]);
		printf("  errors       ");
		if (nerr == 0)
			printf("none");
		for (i = 0; i < BENCH_MAX_CODE; i++)
			if (b->b_errors[i] != 0)
				printf("%s%d: %" PRIu64, first-- == 1 ? "" : ", ",
				    i, b->b_errors[i]);
		printf("\n");
	}
	if (b->b_bad_messages || b->b_unknown_ids || b->b_closed)
		printf("  anomalies    %" PRIu64 " unreadable messages, %" PRIu64
		    " unknown ids, %" PRIu64 " connections lost\n",
		    b->b_bad_messages, b->b_unknown_ids, b->b_closed);
	printf("  bench cpu    %.2f s (%.0f%% of one core over %.1f s)\n", cpu,
	    wall > 0 ? 100.0 * cpu / wall : 0, wall);
}

/* Resolve the target; note whether it is IPv4 loopback. */
static int
bench_resolve(struct bench *b)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", b->b_opts->o_url.u_port);
	if ((rv = getaddrinfo(b->b_opts->o_url.u_host, port, &hints,
	    &res)) != 0) {
		fprintf(stderr, "wspool-bench: %s: %s\n",
		    b->b_opts->o_url.u_host, gai_strerror(rv));
		return -1;
	}
	memcpy(&b->b_addr, res->ai_addr, res->ai_addrlen);
	b->b_addrlen = res->ai_addrlen;
	if (res->ai_family == AF_INET) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)res->ai_addr;

		b->b_loopback4 = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	freeaddrinfo(res);
	return 0;
}

/* Raise the open-file limit to the hard one: idle mode needs it. */
static void
bench_raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && want + 16 > rl.rlim_cur)
		fprintf(stderr, "wspool-bench: %u connections need more than "
		    "the %lu open files allowed; run several processes\n",
		    want, (unsigned long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	struct bench_opts opts;
	struct bench b;
	struct event_config *cfg = NULL;
	struct timeval tv;
	char err[512], url[BENCH_MAX_HOST + BENCH_MAX_PATH + 16];
	unsigned i;
	int rv = 1;

	memset(&b, 0, sizeof(b));
	if (bench_opts_parse(&opts, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "wspool-bench: %s\n%s", err, bench_usage);
		bench_opts_free(&opts);
		return 2;
	}
	if (opts.o_help) {
		fputs(bench_usage, stdout);
		bench_opts_free(&opts);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(url, sizeof(url), "ws://%s%s", opts.o_url.u_hostport,
	    opts.o_url.u_path);
	b.b_opts = &opts;
	b.b_nconns = opts.o_mode == BENCH_IDLE ? opts.o_idle :
	    opts.o_connections;
	b.b_ping = strcmp(opts.o_method, ".ping") == 0;
	b.b_tty = isatty(STDERR_FILENO);
	bench_raise_nofile(b.b_nconns);
	if (bench_resolve(&b) != 0)
		goto out;
	if ((b.b_tail = bench_call_tail(&opts, &b.b_tail_len)) == NULL ||
	    hdr_init(&b.b_hist, BENCH_HIGHEST_NS) != 0 ||
	    (b.b_conns = calloc(b.b_nconns, sizeof(*b.b_conns))) == NULL)
		goto nomem;
	for (i = 0; i < b.b_nconns; i++)
		if (bconn_setup(&b, &b.b_conns[i], i) != 0)
			goto nomem;

	if ((cfg = event_config_new()) == NULL)
		goto nomem;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	/* The open loop paces in 100 us steps: timerfd, not ms epoll waits. */
	if (opts.o_mode == BENCH_RATE)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if ((b.b_base = event_base_new_with_config(cfg)) == NULL)
		goto nomem;
	b.b_ev_phase = evtimer_new(b.b_base, bench_phase_cb, &b);
	b.b_ev_pace = event_new(b.b_base, -1, EV_PERSIST, bench_pace_cb, &b);
	b.b_ev_progress = event_new(b.b_base, -1, EV_PERSIST,
	    bench_progress_cb, &b);
	b.b_ev_sigint = evsignal_new(b.b_base, SIGINT, bench_sigint_cb, &b);
	b.b_ev_connect_timeout = evtimer_new(b.b_base,
	    bench_connect_timeout_cb, &b);
	if (b.b_ev_phase == NULL || b.b_ev_pace == NULL ||
	    b.b_ev_progress == NULL || b.b_ev_sigint == NULL ||
	    b.b_ev_connect_timeout == NULL)
		goto nomem;
	event_add(b.b_ev_sigint, NULL);
	if (b.b_tty && !opts.o_quiet) {
		tv.tv_sec = 1;
		tv.tv_usec = 0;
		event_add(b.b_ev_progress, &tv);
	}
	tv.tv_sec = BENCH_CONNECT_TIMEOUT_S;
	tv.tv_usec = 0;
	evtimer_add(b.b_ev_connect_timeout, &tv);

	getrusage(RUSAGE_SELF, &b.b_ru0);
	b.b_t_start = b.b_prog_t = bench_now();
	b.b_phase = PHASE_CONNECT;
	bench_connect_next(&b);
	if (b.b_phase != PHASE_DONE)
		event_base_dispatch(b.b_base);
	if (b.b_t_end == 0)
		b.b_t_end = bench_now();
	if (b.b_t_measure == 0)
		b.b_t_measure = b.b_t_end;
	if (!b.b_failed) {
		bench_report(&b, url);
		rv = 0;
	}
	goto out;
nomem:
	fprintf(stderr, "wspool-bench: out of memory\n");
out:
	fflush(stdout);
	if (b.b_conns != NULL)
		for (i = 0; i < b.b_nconns; i++)
			bconn_free(&b.b_conns[i]);
	free(b.b_conns);
	if (b.b_ev_phase != NULL)
		event_free(b.b_ev_phase);
	if (b.b_ev_pace != NULL)
		event_free(b.b_ev_pace);
	if (b.b_ev_progress != NULL)
		event_free(b.b_ev_progress);
	if (b.b_ev_sigint != NULL)
		event_free(b.b_ev_sigint);
	if (b.b_ev_connect_timeout != NULL)
		event_free(b.b_ev_connect_timeout);
	if (b.b_base != NULL)
		event_base_free(b.b_base);
	if (cfg != NULL)
		event_config_free(cfg);
	hdr_free(&b.b_hist);
	free(b.b_tail);
	bench_opts_free(&opts);
	return rv;
}
