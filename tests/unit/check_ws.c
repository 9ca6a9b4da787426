/*
 * check_ws.c: unit tests for master/ws.c: client frames built by hand
 * (masked) are fed in various chunk sizes, and the server's frames and
 * callbacks are checked, including the close code of every violation.
 */
#include "config.h"

#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/ws.h"

#define MAX_MSG 1000

/* What the callbacks saw. */
struct rec {
	uint8_t *out;          /* bytes sent to the peer */
	size_t outlen;
	size_t outcap;
	char texts[8][2048];   /* messages, in order */
	size_t textlen[8];
	int ntexts;
	int nclosed;
	uint16_t code;
	int npongs;
	int fail_send;         /* make cb->send fail */
	struct ws *ws;         /* for callbacks that act on the ws */
	int reply;             /* on_text: answer with a text message */
	int close_in_text;     /* on_text: start a close */
	int bad;               /* a callback saw something wrong */
};

/*
 * The callbacks record problems instead of asserting: check allocates on
 * assertions, which would disturb test_idle_memory's measurements.
 */
static void
rec_on_text(void *arg, const char *data, size_t len)
{
	struct rec *r = arg;

	if (r->ntexts >= 8 || len >= sizeof(r->texts[0])) {
		r->bad++;
		return;
	}
	memcpy(r->texts[r->ntexts], data, len);
	r->texts[r->ntexts][len] = '\0';
	r->textlen[r->ntexts] = len;
	r->ntexts++;
	if (r->reply && ws_send_text(r->ws, data, len) != 0)
		r->bad++;
	if (r->close_in_text && ws_close(r->ws, 1001, "bye") != 0)
		r->bad++;
}

static int
rec_send(void *arg, const void *data, size_t len)
{
	struct rec *r = arg;

	if (r->fail_send)
		return -1;
	if (r->outlen + len > r->outcap) {
		r->outcap = 2 * (r->outlen + len);
		if ((r->out = realloc(r->out, r->outcap)) == NULL)
			abort();
	}
	memcpy(r->out + r->outlen, data, len);
	r->outlen += len;
	return 0;
}

static void
rec_on_closed(void *arg, uint16_t code)
{
	struct rec *r = arg;

	r->nclosed++;
	r->code = code;
}

static void
rec_on_pong(void *arg)
{
	struct rec *r = arg;

	r->npongs++;
}

static const struct ws_callbacks rec_cb = {
	.on_text = rec_on_text,
	.send = rec_send,
	.on_closed = rec_on_closed,
	.on_pong = rec_on_pong,
};

/* A byte stream of client frames. */
struct stream {
	uint8_t buf[200000];
	size_t len;
};

/* Append a frame; first is FIN|RSV|opcode, mask says whether to mask. */
static void
frame(struct stream *s, uint8_t first, bool mask, const void *payload,
    size_t len)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const uint8_t *p = payload;
	size_t i;

	ck_assert_uint_lt(s->len + len + 14, sizeof(s->buf));
	s->buf[s->len++] = first;
	if (len < 126) {
		s->buf[s->len++] = (uint8_t)((mask ? 0x80 : 0) | len);
	} else if (len <= 0xffff) {
		s->buf[s->len++] = (uint8_t)((mask ? 0x80 : 0) | 126);
		s->buf[s->len++] = (uint8_t)(len >> 8);
		s->buf[s->len++] = (uint8_t)len;
	} else {
		s->buf[s->len++] = (uint8_t)((mask ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			s->buf[s->len++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (mask) {
		memcpy(s->buf + s->len, key, 4);
		s->len += 4;
	}
	for (i = 0; i < len; i++)
		s->buf[s->len++] = mask ? (uint8_t)(p[i] ^ key[i % 4]) : p[i];
}

/* A masked frame with a string payload. */
static void
frame_str(struct stream *s, uint8_t first, const char *payload)
{
	frame(s, first, true, payload, strlen(payload));
}

/* A masked close frame with code and reason (reason_len bytes). */
static void
frame_close(struct stream *s, uint16_t code, const char *reason,
    size_t reason_len)
{
	uint8_t p[125];

	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	memcpy(p + 2, reason, reason_len);
	frame(s, 0x88, true, p, 2 + reason_len);
}

/*
 * ws_feed on a copy of the bytes: it unmasks whole frames in place, and a
 * stream may be fed again (another chunking). An exact-size copy, so that
 * a read past the end shows under the sanitizers and valgrind.
 */
static int
ws_feed_copy(struct ws *ws, const void *data, size_t n)
{
	void *copy = malloc(n > 0 ? n : 1);
	int rv;

	ck_assert_ptr_nonnull(copy);
	if (n > 0)
		memcpy(copy, data, n);
	rv = ws_feed(ws, copy, n);
	free(copy);
	return rv;
}

/*
 * Feed the stream in chunks of chunk bytes (0: all at once). Returns the
 * result of the last ws_feed call.
 */
static int
feed(struct ws *ws, const struct stream *s, size_t chunk)
{
	size_t off = 0;
	int rv = 0;

	if (chunk == 0)
		chunk = s->len;
	while (off < s->len) {
		size_t n = s->len - off < chunk ? s->len - off : chunk;
		rv = ws_feed_copy(ws, s->buf + off, n);
		if (rv != 0)
			break;
		off += n;
	}
	return rv;
}

/* Read one server frame at *off: returns the first byte, payload in p. */
static uint8_t
out_frame(const struct rec *r, size_t *off, const uint8_t **p, size_t *len)
{
	const uint8_t *b = r->out + *off;
	size_t avail = r->outlen - *off, h = 2, i;
	uint64_t l;

	ck_assert_uint_ge(avail, 2);
	ck_assert_msg((b[1] & 0x80) == 0, "server frame is masked");
	l = b[1] & 0x7f;
	if (l == 126) {
		ck_assert_uint_ge(avail, 4);
		l = (uint64_t)b[2] << 8 | b[3];
		h = 4;
	} else if (l == 127) {
		ck_assert_uint_ge(avail, 10);
		l = 0;
		for (i = 0; i < 8; i++)
			l = l << 8 | b[2 + i];
		h = 10;
	}
	ck_assert_uint_ge(avail, h + l);
	*p = b + h;
	*len = (size_t)l;
	*off += h + (size_t)l;
	return b[0];
}

/* The output is exactly one close frame with code (0: empty payload). */
static void
expect_only_close(const struct rec *r, uint16_t code)
{
	const uint8_t *p;
	size_t off = 0, len;

	ck_assert_uint_gt(r->outlen, 0);
	ck_assert_uint_eq(out_frame(r, &off, &p, &len), 0x88);
	if (code == 0) {
		ck_assert_uint_eq(len, 0);
	} else {
		ck_assert_uint_ge(len, 2);
		ck_assert_uint_eq((unsigned)(p[0] << 8 | p[1]), code);
	}
	ck_assert_uint_eq(off, r->outlen);
}

static struct ws *
new_ws(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->ws = ws_new(&rec_cb, r, MAX_MSG);
	ck_assert_ptr_nonnull(r->ws);
	return r->ws;
}

static void
done_ws(struct rec *r)
{
	ck_assert_int_eq(r->bad, 0);
	ws_free(r->ws);
	free(r->out);
}

/* Chunk sizes every stream is fed with: whole, bytes, odd pieces. */
static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

/*
 * Feed s (in each chunk size) to a fresh ws and check that it fails with
 * exactly one close frame carrying code and one on_closed(code), and
 * delivers ntexts messages before that.
 */
static void
expect_violation(const struct stream *s, uint16_t code, int ntexts)
{
	size_t i;

	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);

		ck_assert_msg(feed(ws, s, chunks[i]) == -1,
		    "chunk %zu: not refused", chunks[i]);
		ck_assert_msg(r.nclosed == 1 && r.code == code,
		    "chunk %zu: closed %d times with %u, want %u", chunks[i],
		    r.nclosed, r.code, code);
		expect_only_close(&r, code);
		ck_assert_int_eq(r.ntexts, ntexts);
		ck_assert(ws_closing(ws));
		/* Finished: nothing more is read, sent or reported. */
		ck_assert_int_eq(ws_feed_copy(ws, "\x81", 1), -1);
		ck_assert_int_eq(ws_send_text(ws, "x", 1), -1);
		ck_assert_int_eq(r.nclosed, 1);
		done_ws(&r);
	}
}

START_TEST(test_single_text)
{
	struct stream s = { .len = 0 };
	size_t i;

	frame_str(&s, 0x81, "hello");
	frame_str(&s, 0x81, "");
	frame_str(&s, 0x81, "h\xc3\xa9llo \xf0\x9f\x98\x80");
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);

		ck_assert_int_eq(feed(ws, &s, chunks[i]), 0);
		ck_assert_int_eq(r.ntexts, 3);
		ck_assert_str_eq(r.texts[0], "hello");
		ck_assert_uint_eq(r.textlen[1], 0);
		ck_assert_str_eq(r.texts[2], "h\xc3\xa9llo \xf0\x9f\x98\x80");
		ck_assert_uint_eq(r.outlen, 0);
		ck_assert_int_eq(r.nclosed, 0);
		ck_assert(!ws_closing(ws));
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_fragmented_text)
{
	struct stream s = { .len = 0 };
	size_t i;

	frame_str(&s, 0x01, "hel");
	frame_str(&s, 0x00, "");
	frame_str(&s, 0x00, "lo \xc3");   /* a character split across frames */
	frame_str(&s, 0x80, "\xa9 world");
	frame_str(&s, 0x81, "next");
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);

		ck_assert_int_eq(feed(ws, &s, chunks[i]), 0);
		ck_assert_int_eq(r.ntexts, 2);
		ck_assert_str_eq(r.texts[0], "hello \xc3\xa9 world");
		ck_assert_str_eq(r.texts[1], "next");
		ck_assert_uint_eq(r.outlen, 0);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_ping_inside_fragmented)
{
	struct stream s = { .len = 0 };
	size_t i;

	frame_str(&s, 0x01, "frag");
	frame_str(&s, 0x89, "ping!");
	frame_str(&s, 0x8a, "unsolicited pong");
	frame_str(&s, 0x80, "ment");
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		const uint8_t *p;
		size_t off = 0, len;

		ck_assert_int_eq(feed(ws, &s, chunks[i]), 0);
		ck_assert_int_eq(r.ntexts, 1);
		ck_assert_str_eq(r.texts[0], "fragment");
		ck_assert_int_eq(r.npongs, 1);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
		ck_assert_uint_eq(len, 5);
		ck_assert(memcmp(p, "ping!", 5) == 0);
		ck_assert_uint_eq(off, r.outlen);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_ping_pong)
{
	struct stream s = { .len = 0 };
	uint8_t big[125];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	frame(&s, 0x89, true, big, sizeof(big));
	frame(&s, 0x89, true, NULL, 0);
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		const uint8_t *p;
		size_t off = 0, len;

		ck_assert_int_eq(feed(ws, &s, chunks[i]), 0);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
		ck_assert_uint_eq(len, sizeof(big));
		ck_assert(memcmp(p, big, sizeof(big)) == 0);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
		ck_assert_uint_eq(len, 0);
		ck_assert_uint_eq(off, r.outlen);
		ck_assert_int_eq(r.nclosed, 0);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_close_handshake)
{
	struct stream s = { .len = 0 };
	size_t i;

	frame_str(&s, 0x81, "last");
	frame_close(&s, 1000, "bye \xc3\xa9", 6);
	/* Anything after the close frame is not looked at. */
	frame_str(&s, 0x81, "ignored");
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);

		ck_assert_int_eq(feed(ws, &s, chunks[i]), -1);
		ck_assert_int_eq(r.ntexts, 1);
		ck_assert_int_eq(r.nclosed, 1);
		ck_assert_msg(r.code == 1000, "chunk %zu: code %u", chunks[i], r.code);
		expect_only_close(&r, 1000);
		ck_assert_int_eq(ws_feed_copy(ws, s.buf, s.len), -1);
		ck_assert_int_eq(ws_close(ws, 1000, NULL), -1);
		ck_assert_int_eq(r.nclosed, 1);
		done_ws(&r);
	}

	/* Application codes are echoed too. */
	s.len = 0;
	frame_close(&s, 4321, "", 0);
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);

		ck_assert_int_eq(feed(ws, &s, chunks[i]), -1);
		ck_assert_int_eq(r.nclosed, 1);
		ck_assert_uint_eq(r.code, 4321);
		expect_only_close(&r, 4321);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_close_split_everywhere)
{
	/*
	 * A ping whose payload looks like a close frame, a text frame with a
	 * 16-bit length, then a close whose reason has a two-byte character:
	 * split into two reads at every offset, and fed in every chunk size
	 * up to 20. (wslay 1.1.1 alone refuses such a close with 1007 when
	 * its reason is split across reads.)
	 */
	static const uint8_t fake[] = { 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8 };
	static char text[130];
	struct stream s = { .len = 0 };
	size_t cut;

	memset(text, 't', sizeof(text));
	frame(&s, 0x89, true, fake, sizeof(fake));
	frame(&s, 0x81, true, text, sizeof(text));
	frame_close(&s, 1000, "bye \xc3\xa9 \xc3\xa9", 10);
	for (cut = 0; cut <= s.len + 20; cut++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		const uint8_t *p;
		size_t off = 0, len;
		int rv;

		if (cut < s.len) {
			rv = ws_feed_copy(ws, s.buf, cut);
			ck_assert_int_eq(rv, 0);
			rv = ws_feed_copy(ws, s.buf + cut, s.len - cut);
		} else {
			rv = feed(ws, &s, cut - s.len + 1);
		}
		ck_assert_int_eq(rv, -1);
		ck_assert_int_eq(r.ntexts, 1);
		ck_assert_uint_eq(r.textlen[0], sizeof(text));
		ck_assert_msg(r.nclosed == 1 && r.code == 1000,
		    "cut %zu: closed with %u", cut, r.code);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
		ck_assert(len == sizeof(fake) && memcmp(p, fake, len) == 0);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x88);
		ck_assert(len == 2 && p[0] == 0x03 && p[1] == 0xe8);
		ck_assert_uint_eq(off, r.outlen);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_close_empty)
{
	struct stream s = { .len = 0 };
	struct rec r;
	struct ws *ws = new_ws(&r);

	frame(&s, 0x88, true, NULL, 0);
	ck_assert_int_eq(feed(ws, &s, 0), -1);
	ck_assert_int_eq(r.nclosed, 1);
	ck_assert_uint_eq(r.code, 1005);
	expect_only_close(&r, 0);
	done_ws(&r);
}
END_TEST

START_TEST(test_server_close)
{
	struct stream s = { .len = 0 };
	struct rec r;
	struct ws *ws = new_ws(&r);
	const uint8_t *p;
	size_t off = 0, len;
	char reason[200];

	memset(reason, 'r', sizeof(reason));
	reason[124] = '\0';
	ck_assert_int_eq(ws_close(ws, 1000, reason), -1);  /* 124 > 123 */
	ck_assert_int_eq(ws_close(ws, 1005, NULL), -1);
	ck_assert_int_eq(ws_close(ws, 999, NULL), -1);
	ck_assert_int_eq(ws_close(ws, 1000, "\xc3"), -1);
	ck_assert(!ws_closing(ws));
	ck_assert_uint_eq(r.outlen, 0);

	ck_assert_int_eq(ws_close(ws, 1001, "going away"), 0);
	ck_assert(ws_closing(ws));
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x88);
	ck_assert_uint_eq(len, 12);
	ck_assert(memcmp(p, "\x03\xe9going away", 12) == 0);
	ck_assert_int_eq(ws_send_text(ws, "x", 1), -1);
	ck_assert_int_eq(ws_send_ping(ws, NULL, 0), -1);
	ck_assert_int_eq(ws_close(ws, 1000, NULL), -1);

	/* Messages, pings and pongs before the answer: nothing is sent. */
	frame_str(&s, 0x81, "late");
	frame_str(&s, 0x89, "p");
	frame_str(&s, 0x8a, "");
	ck_assert_int_eq(feed(ws, &s, 1), 0);
	ck_assert_int_eq(r.ntexts, 0);
	ck_assert_int_eq(r.npongs, 1);
	ck_assert_int_eq(r.nclosed, 0);
	ck_assert_uint_eq(r.outlen, off);

	s.len = 0;
	frame_close(&s, 1001, "", 0);
	ck_assert_int_eq(feed(ws, &s, 0), -1);
	ck_assert_int_eq(r.nclosed, 1);
	ck_assert_uint_eq(r.code, 1001);
	ck_assert_uint_eq(r.outlen, off);
	done_ws(&r);
}
END_TEST

START_TEST(test_callbacks_act)
{
	struct stream s = { .len = 0 };
	struct rec r;
	struct ws *ws = new_ws(&r);
	const uint8_t *p;
	size_t off = 0, len;

	/* on_text answers at once, and a ping in the same read. */
	r.reply = 1;
	frame_str(&s, 0x81, "one");
	frame_str(&s, 0x89, "pp");
	frame_str(&s, 0x81, "two");
	ck_assert_int_eq(feed(ws, &s, 0), 0);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x81);
	ck_assert(len == 3 && memcmp(p, "one", 3) == 0);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
	ck_assert(len == 2 && memcmp(p, "pp", 2) == 0);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x81);
	ck_assert(len == 3 && memcmp(p, "two", 3) == 0);
	ck_assert_uint_eq(off, r.outlen);

	/* on_text closes: the rest of the read is not delivered. */
	r.reply = 0;
	r.close_in_text = 1;
	s.len = 0;
	frame_str(&s, 0x81, "three");
	frame_str(&s, 0x81, "four");
	ck_assert_int_eq(feed(ws, &s, 0), 0);
	ck_assert_int_eq(r.ntexts, 3);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x88);
	ck_assert(len == 5 && memcmp(p, "\x03\xe9" "bye", 5) == 0);
	ck_assert_uint_eq(off, r.outlen);
	ck_assert_int_eq(r.nclosed, 0);
	s.len = 0;
	frame_close(&s, 1000, "", 0);
	ck_assert_int_eq(feed(ws, &s, 0), -1);
	ck_assert_int_eq(r.nclosed, 1);
	ck_assert_uint_eq(r.code, 1001);
	ck_assert_uint_eq(off, r.outlen);
	done_ws(&r);
}
END_TEST

START_TEST(test_unmasked)
{
	struct stream s = { .len = 0 };

	frame(&s, 0x81, false, "hi", 2);
	expect_violation(&s, 1002, 0);
	/* After a good message. */
	s.len = 0;
	frame_str(&s, 0x81, "ok");
	frame(&s, 0x89, false, NULL, 0);
	expect_violation(&s, 1002, 1);
}
END_TEST

START_TEST(test_rsv_bits)
{
	static const uint8_t firsts[] = { 0xc1, 0xa1, 0x91, 0xf1, 0xc9, 0xc0 };
	size_t i;

	for (i = 0; i < sizeof(firsts); i++) {
		struct stream s = { .len = 0 };
		if (firsts[i] == 0xc0)
			frame_str(&s, 0x01, "a");  /* RSV1 on a continuation */
		frame_str(&s, firsts[i], "x");
		expect_violation(&s, 1002, 0);
	}
}
END_TEST

START_TEST(test_bad_opcodes)
{
	static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		struct stream s = { .len = 0 };
		frame_str(&s, (uint8_t)(0x80 | ops[i]), "");
		expect_violation(&s, 1002, 0);
		/* Inside a fragmented message too. */
		s.len = 0;
		frame_str(&s, 0x01, "a");
		frame_str(&s, (uint8_t)(0x80 | ops[i]), "b");
		expect_violation(&s, 1002, 0);
	}
}
END_TEST

START_TEST(test_control_violations)
{
	struct stream s = { .len = 0 };
	uint8_t big[126];

	memset(big, 'p', sizeof(big));
	frame(&s, 0x89, true, big, sizeof(big));      /* ping of 126 bytes */
	expect_violation(&s, 1002, 0);
	s.len = 0;
	frame(&s, 0x88, true, big, sizeof(big));      /* close of 126 bytes */
	expect_violation(&s, 1002, 0);
	s.len = 0;
	frame_str(&s, 0x09, "frag");                  /* fragmented ping */
	frame_str(&s, 0x80, "ment");
	expect_violation(&s, 1002, 0);
	s.len = 0;
	frame_str(&s, 0x0a, "");                      /* fragmented pong */
	expect_violation(&s, 1002, 0);
}
END_TEST

START_TEST(test_sequence_violations)
{
	struct stream s = { .len = 0 };

	frame_str(&s, 0x80, "orphan");   /* continuation without start */
	expect_violation(&s, 1002, 0);
	s.len = 0;
	frame_str(&s, 0x81, "ok");
	frame_str(&s, 0x00, "orphan");
	expect_violation(&s, 1002, 1);
	s.len = 0;
	frame_str(&s, 0x01, "start");    /* new text while fragmented */
	frame_str(&s, 0x81, "again");
	expect_violation(&s, 1002, 0);
	s.len = 0;
	frame_str(&s, 0x01, "start");    /* new binary while fragmented */
	frame_str(&s, 0x82, "again");
	expect_violation(&s, 1002, 0);
}
END_TEST

START_TEST(test_length_encoding)
{
	struct stream s = { .len = 0 };
	static const uint8_t short16[] = { 0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4,
	    'a', 'b', 'c', 'd', 'e' };
	static const uint8_t short64[] = { 0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 5,
	    1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e' };
	static const uint8_t huge[] = { 0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5,
	    1, 2, 3, 4 };

	memcpy(s.buf, short16, sizeof(short16));
	s.len = sizeof(short16);
	expect_violation(&s, 1002, 0);
	memcpy(s.buf, short64, sizeof(short64));
	s.len = sizeof(short64);
	expect_violation(&s, 1002, 0);
	memcpy(s.buf, huge, sizeof(huge));
	s.len = sizeof(huge);
	expect_violation(&s, 1002, 0);
}
END_TEST

START_TEST(test_invalid_utf8)
{
	static const char *const bad[] = {
		"\xff",
		"abc\xc3",              /* truncated at the end */
		"\xc0\xaf",             /* overlong */
		"\xed\xa0\x80",         /* surrogate */
		"\xf4\x90\x80\x80",     /* above U+10FFFF */
		"ok\x80ok",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct stream s = { .len = 0 };
		frame_str(&s, 0x81, bad[i]);
		expect_violation(&s, 1007, 0);
	}
}
END_TEST

START_TEST(test_invalid_utf8_fragments)
{
	struct stream s = { .len = 0 };

	/* Each fragment could be a prefix; together they are invalid. */
	frame_str(&s, 0x01, "ab\xc3");
	frame_str(&s, 0x00, "(");
	frame_str(&s, 0x80, "cd");
	expect_violation(&s, 1007, 0);
	/* Valid fragments, but the message ends inside a character. */
	s.len = 0;
	frame_str(&s, 0x01, "ab");
	frame_str(&s, 0x80, "\xe2\x82");
	expect_violation(&s, 1007, 0);
}
END_TEST

START_TEST(test_close_violations)
{
	static const uint16_t bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015,
	    1100, 2000, 2999, 5000, 65535 };
	struct stream s = { .len = 0 };
	size_t i;

	frame_close(&s, 1000, "bad \xc3(", 6);
	expect_violation(&s, 1007, 0);
	s.len = 0;
	frame_close(&s, 1000, "\xc3", 1);     /* truncated character */
	expect_violation(&s, 1007, 0);
	s.len = 0;
	frame(&s, 0x88, true, "\x03", 1);     /* one-byte payload */
	expect_violation(&s, 1002, 0);
	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		s.len = 0;
		frame_close(&s, bad_codes[i], "", 0);
		expect_violation(&s, 1002, 0);
	}
}
END_TEST

START_TEST(test_too_big)
{
	struct stream s = { .len = 0 };
	static char text[MAX_MSG + 1];
	size_t i;

	memset(text, 'a', sizeof(text));
	/* Exactly the limit is fine. */
	frame(&s, 0x81, true, text, MAX_MSG);
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		ck_assert_int_eq(feed(ws, &s, chunks[i]), 0);
		ck_assert_int_eq(r.ntexts, 0 + 1);
		ck_assert_uint_eq(r.textlen[0], MAX_MSG);
		done_ws(&r);
	}
	s.len = 0;
	frame(&s, 0x81, true, text, MAX_MSG + 1);
	expect_violation(&s, 1009, 0);
	/* Only the sum of the fragments is too big. */
	s.len = 0;
	frame(&s, 0x01, true, text, 600);
	frame(&s, 0x00, true, text, 0);
	frame(&s, 0x80, true, text, 401);
	expect_violation(&s, 1009, 0);
	/*
	 * A header announcing 2^62 bytes is refused with the first payload
	 * byte (wslay looks at a frame once some payload is there), before
	 * anything is buffered.
	 */
	{
		static const uint8_t hdr[] = { 0x81, 0xff, 0x40, 0, 0, 0, 0, 0,
		    0, 0, 1, 2, 3, 4, 'a' };
		s.len = sizeof(hdr);
		memcpy(s.buf, hdr, sizeof(hdr));
		expect_violation(&s, 1009, 0);
	}
}
END_TEST

START_TEST(test_binary)
{
	struct stream s = { .len = 0 };

	frame(&s, 0x82, true, "\x00\x01\x02", 3);
	expect_violation(&s, 1003, 0);
	s.len = 0;
	frame_str(&s, 0x81, "first");
	frame(&s, 0x02, true, "\x00", 1);
	frame(&s, 0x80, true, "\x00", 1);
	expect_violation(&s, 1003, 1);
}
END_TEST

START_TEST(test_mixed_stream_bytewise)
{
	/* A long conversation, one byte at a time and in every chunking. */
	struct stream s = { .len = 0 };
	static char longtext[700];
	size_t i;

	memset(longtext, 'L', sizeof(longtext));
	frame_str(&s, 0x81, "a");
	frame(&s, 0x81, true, longtext, sizeof(longtext));
	frame_str(&s, 0x89, "");
	frame_str(&s, 0x01, "b");
	frame_str(&s, 0x8a, "x");
	frame_str(&s, 0x80, "c");
	frame_close(&s, 1000, "\xe2\x82\xac", 3);
	for (i = 0; i < NCHUNKS; i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		const uint8_t *p;
		size_t off = 0, len;

		ck_assert_int_eq(feed(ws, &s, chunks[i]), -1);
		ck_assert_int_eq(r.ntexts, 3);
		ck_assert_str_eq(r.texts[0], "a");
		ck_assert_uint_eq(r.textlen[1], sizeof(longtext));
		ck_assert_str_eq(r.texts[2], "bc");
		ck_assert_int_eq(r.npongs, 1);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x8a);
		ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x88);
		ck_assert(len == 2 && p[0] == 0x03 && p[1] == 0xe8);
		ck_assert_uint_eq(off, r.outlen);
		ck_assert_int_eq(r.nclosed, 1);
		ck_assert_uint_eq(r.code, 1000);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_send_text_encodings)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 127, 65535, 65536,
	    70000 };
	static uint8_t payload[70000];
	size_t i, j;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)('a' + i % 26);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct rec r;
		struct ws *ws = new_ws(&r);
		size_t n = sizes[i], h;

		ck_assert_int_eq(ws_send_text(ws, payload, n), 0);
		ck_assert_uint_eq(r.out[0], 0x81);
		if (n < 126) {
			h = 2;
			ck_assert_uint_eq(r.out[1], n);
		} else if (n <= 65535) {
			h = 4;
			ck_assert_uint_eq(r.out[1], 126);
			ck_assert_uint_eq((size_t)r.out[2] << 8 | r.out[3], n);
		} else {
			uint64_t l = 0;
			h = 10;
			ck_assert_uint_eq(r.out[1], 127);
			for (j = 0; j < 8; j++)
				l = l << 8 | r.out[2 + j];
			ck_assert_uint_eq(l, n);
		}
		ck_assert_uint_eq(r.outlen, h + n);
		ck_assert(memcmp(r.out + h, payload, n) == 0);
		done_ws(&r);
	}
}
END_TEST

START_TEST(test_send_ping)
{
	struct rec r;
	struct ws *ws = new_ws(&r);
	static const uint8_t big[126];
	const uint8_t *p;
	size_t off = 0, len;

	ck_assert_int_eq(ws_send_ping(ws, big, 126), -1);
	ck_assert_int_eq(ws_send_ping(ws, "hb", 2), 0);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x89);
	ck_assert(len == 2 && memcmp(p, "hb", 2) == 0);
	ck_assert_int_eq(ws_send_ping(ws, big, 125), 0);
	ck_assert_uint_eq(out_frame(&r, &off, &p, &len), 0x89);
	ck_assert_uint_eq(len, 125);
	done_ws(&r);
}
END_TEST

START_TEST(test_send_failure)
{
	struct stream s = { .len = 0 };
	struct rec r;
	struct ws *ws = new_ws(&r);

	r.fail_send = 1;
	ck_assert_int_eq(ws_send_text(ws, "x", 1), -1);
	ck_assert(ws_closing(ws));
	ck_assert_int_eq(ws_send_text(ws, "x", 1), -1);
	done_ws(&r);

	/* A pong that cannot be written ends the connection. */
	ws = new_ws(&r);
	r.fail_send = 1;
	frame_str(&s, 0x89, "p");
	ck_assert_int_eq(feed(ws, &s, 0), -1);
	ck_assert_int_eq(r.nclosed, 1);
	ck_assert_uint_eq(r.code, 1006);
	done_ws(&r);
}
END_TEST

/* Bytes the heap has handed out, or 0 when that cannot be measured. */
static size_t
heap_in_use(void)
{
	static int works = -1;

	if (works < 0) {
		/* Under valgrind or ASan, mallinfo2 does not see allocations. */
		size_t before = mallinfo2().uordblks;
		void *p = malloc(1 << 16);
		ck_assert_ptr_nonnull(p);
		works = mallinfo2().uordblks >= before + (1 << 16);
		free(p);
	}
	return works ? mallinfo2().uordblks : 0;
}

START_TEST(test_idle_memory)
{
	/*
	 * No check assertion runs between measurements: check allocates
	 * for its own bookkeeping on some of them.
	 */
	struct stream s1 = { .len = 0 }, s2 = { .len = 0 }, s3 = { .len = 0 };
	struct rec r;
	struct ws *ws;
	size_t base, idle, mid_frame, mid_msg, after, freed;
	int rv[4];

	if (heap_in_use() == 0)
		return;
	memset(&r, 0, sizeof(r));
	frame_str(&s1, 0x81, "hello");
	frame_str(&s1, 0x89, "p");
	frame_str(&s2, 0x01, "open");
	frame_str(&s3, 0x80, "ed");
	/* Output space taken once, before measuring. */
	r.out = malloc(4096);
	r.outcap = 4096;
	base = heap_in_use();
	ws = ws_new(&rec_cb, &r, MAX_MSG);
	r.ws = ws;
	rv[0] = ws_feed_copy(ws, s1.buf, s1.len);
	idle = heap_in_use() - base;
	rv[1] = ws_feed_copy(ws, s2.buf, 3);
	mid_frame = heap_in_use() - base;
	rv[2] = ws_feed_copy(ws, s2.buf + 3, s2.len - 3);
	mid_msg = heap_in_use() - base;
	rv[3] = ws_feed_copy(ws, s3.buf, s3.len);
	after = heap_in_use() - base;
	ws_free(ws);
	freed = heap_in_use() - base;

	ck_assert(rv[0] == 0 && rv[1] == 0 && rv[2] == 0 && rv[3] == 0);
	ck_assert_int_eq(r.bad, 0);
	ck_assert_int_eq(r.ntexts, 2);
	ck_assert_str_eq(r.texts[1], "opened");
	/*
	 * Between messages, a connection holds only its struct ws; wslay's
	 * context (over 8 KiB) is there only in the middle of a frame or a
	 * message. The margin is for freed small chunks that glibc keeps in
	 * its per-thread cache, which mallinfo2 still counts as in use.
	 */
	ck_assert_uint_lt(idle, 1024);
	ck_assert_uint_gt(mid_frame, 8192);
	ck_assert_uint_gt(mid_msg, 8192);
	ck_assert_uint_lt(after, 1024);
	ck_assert_uint_lt(freed, 1024);
	free(r.out);
}
END_TEST

START_TEST(test_new_args)
{
	struct ws_callbacks cb = rec_cb;

	cb.send = NULL;
	ck_assert_ptr_null(ws_new(&cb, NULL, 10));
	ck_assert_ptr_null(ws_new(NULL, NULL, 10));
	ws_free(NULL);
}
END_TEST

static Suite *
ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc;

	tc = tcase_create("messages");
	tcase_add_test(tc, test_single_text);
	tcase_add_test(tc, test_fragmented_text);
	tcase_add_test(tc, test_ping_inside_fragmented);
	tcase_add_test(tc, test_ping_pong);
	tcase_add_test(tc, test_close_handshake);
	tcase_add_test(tc, test_close_split_everywhere);
	tcase_add_test(tc, test_close_empty);
	tcase_add_test(tc, test_server_close);
	tcase_add_test(tc, test_callbacks_act);
	tcase_add_test(tc, test_mixed_stream_bytewise);
	tcase_add_test(tc, test_idle_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("violations");
	tcase_add_test(tc, test_unmasked);
	tcase_add_test(tc, test_rsv_bits);
	tcase_add_test(tc, test_bad_opcodes);
	tcase_add_test(tc, test_control_violations);
	tcase_add_test(tc, test_sequence_violations);
	tcase_add_test(tc, test_length_encoding);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_invalid_utf8_fragments);
	tcase_add_test(tc, test_close_violations);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_binary);
	suite_add_tcase(s, tc);

	tc = tcase_create("sending");
	tcase_add_test(tc, test_send_text_encodings);
	tcase_add_test(tc, test_send_ping);
	tcase_add_test(tc, test_send_failure);
	tcase_add_test(tc, test_new_args);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ws_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
