/*
 * check_handshake.c: unit tests for master/handshake.c: request parsing
 * (split reads, limits, malformed input), the upgrade decision and the
 * exact response bytes.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/handshake.h"

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define UPGRADE_REQ \
	"GET /ws HTTP/1.1\r\n" \
	"Host: example.com\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: " SAMPLE_KEY "\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"\r\n"

/* Feed a whole request in one piece; the request must be complete. */
static void
parse_all(struct handshake *hs, const char *req)
{
	size_t len = strlen(req), used;

	handshake_init(hs);
	used = handshake_feed(hs, req, len);
	ck_assert_int_eq(hs->hs_state, HANDSHAKE_DONE);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(hs->hs_bytes, len);
}

/* The decision for a complete request. */
static int
decide(const char *req)
{
	struct handshake hs;
	int status;

	parse_all(&hs, req);
	status = handshake_decide(&hs, "/ws");
	handshake_free(&hs);
	return status;
}

/* Parse a request that must fail, and return the error status. */
static int
parse_error(const char *req, size_t len)
{
	struct handshake hs;
	int status;

	handshake_init(&hs);
	(void)handshake_feed(&hs, req, len);
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_ERROR);
	status = hs.hs_error_status;
	/* Nothing more is consumed after an error. */
	ck_assert_uint_eq(handshake_feed(&hs, "x", 1), 0);
	handshake_free(&hs);
	return status;
}

START_TEST(test_accept_key_sample)
{
	char out[29];

	ck_assert_int_eq(handshake_accept_key(SAMPLE_KEY, out), 0);
	ck_assert_str_eq(out, SAMPLE_ACCEPT);
	ck_assert_int_eq(handshake_accept_key(NULL, out), -1);
}
END_TEST

START_TEST(test_decide_101)
{
	struct handshake hs;

	parse_all(&hs, UPGRADE_REQ);
	ck_assert_int_eq(handshake_decide(&hs, "/ws"), 101);
	ck_assert_str_eq(handshake_method(&hs), "GET");
	ck_assert_str_eq(handshake_header(&hs, "sec-websocket-key"), SAMPLE_KEY);
	handshake_free(&hs);

	/* Token lists and case do not matter; a query string is no path. */
	ck_assert_int_eq(decide(
	    "GET /ws?token=abc HTTP/1.1\r\n"
	    "Host: h\r\n"
	    "upgrade: WebSocket\r\n"
	    "connection: keep-alive, UPGRADE\r\n"
	    "sec-websocket-key: " SAMPLE_KEY "\r\n"
	    "sec-websocket-version: 13\r\n"
	    "\r\n"), 101);
	/* Connection split over two header lines. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: keep-alive\r\n"
	    "Connection: upgrade\r\n"
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 101);
	/* A subprotocol request is accepted, and none is selected. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Protocol: chat\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 101);
	/* An absolute-form target names the same path. */
	ck_assert_int_eq(decide(
	    "GET http://example.com/ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 101);
}
END_TEST

START_TEST(test_decide_426)
{
	/* A plain GET of the WebSocket path. */
	ck_assert_int_eq(decide("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n"), 426);
	/* HEAD or another method without an upgrade. */
	ck_assert_int_eq(decide("HEAD /ws HTTP/1.1\r\nHost: h\r\n\r\n"), 426);
	ck_assert_int_eq(decide("POST /ws HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 0\r\n\r\n"), 426);
	/* Upgrade to something else than websocket. */
	ck_assert_int_eq(decide("GET /ws HTTP/1.1\r\nUpgrade: h2c\r\n"
	    "Connection: Upgrade\r\n\r\n"), 426);
	/* Unsupported and missing versions. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 8\r\n"
	    "\r\n"), 426);
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "\r\n"), 426);
}
END_TEST

START_TEST(test_decide_404_405)
{
	ck_assert_int_eq(decide("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
	ck_assert_int_eq(decide("GET /wsx HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
	ck_assert_int_eq(decide("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
	/* An upgrade of another path is still an unknown path. */
	ck_assert_int_eq(decide(
	    "GET /other HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 404);
	ck_assert_int_eq(decide(
	    "POST /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 405);
}
END_TEST

START_TEST(test_decide_400)
{
	static const char *const bad_keys[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ",      /* no padding */
		"dGhlIHNhbXBsZSBub25jZQ=",     /* 23 characters */
		"dGhlIHNhbXBsZSBub25jZQ===",   /* 25 characters */
		"dGhlIHNhbXBsZSBub25jZ!==",    /* not base64 */
		"dGhlIHNhbXBsZSBub25jZR==",    /* non-zero unused bits */
		"dGhlIHNhbXBsZSBub25jZQAB",    /* 18 bytes */
		"dGhlIHNhbXBsZSBub25jZQAAAA==", /* 19 bytes */
	};
	char req[512];
	size_t i;

	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		snprintf(req, sizeof(req),
		    "GET /ws HTTP/1.1\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "\r\n", bad_keys[i]);
		ck_assert_msg(decide(req) == 400, "key '%s' accepted",
		    bad_keys[i]);
	}
	/* Missing key. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 400);
	/* Missing Connection, and Connection without the upgrade token. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 400);
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: keep-alive, upgraded\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 400);
	/* HTTP/1.0 cannot upgrade. */
	ck_assert_int_eq(decide(
	    "GET /ws HTTP/1.0\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"), 400);
}
END_TEST

START_TEST(test_byte_at_a_time)
{
	static const char req[] =
	    "GET /ws HTTP/1.1\r\n"
	    "Host:   example.com   \r\n"
	    "UPGRADE: websocket\r\n"
	    "CoNNection:\tUpgrade\t\r\n"
	    "X-Empty:\r\n"
	    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n";
	struct handshake hs;
	size_t i, total = 0;
	char path[64];

	handshake_init(&hs);
	for (i = 0; i < sizeof(req) - 1; i++) {
		ck_assert_int_eq(hs.hs_state, HANDSHAKE_MORE);
		total += handshake_feed(&hs, req + i, 1);
	}
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_DONE);
	ck_assert_uint_eq(total, sizeof(req) - 1);
	ck_assert_uint_eq(hs.hs_nheaders, 6);
	ck_assert_str_eq(hs.hs_url, "/ws");
	ck_assert_str_eq(hs.hs_names[0], "host");
	ck_assert_str_eq(hs.hs_values[0], "example.com");
	ck_assert_str_eq(hs.hs_names[1], "upgrade");
	ck_assert_str_eq(hs.hs_names[2], "connection");
	ck_assert_str_eq(hs.hs_values[2], "Upgrade");
	ck_assert_str_eq(hs.hs_names[3], "x-empty");
	ck_assert_str_eq(hs.hs_values[3], "");
	ck_assert_str_eq(hs.hs_names[4], "sec-websocket-key");
	ck_assert_str_eq(hs.hs_values[4], SAMPLE_KEY);
	ck_assert_str_eq(handshake_header(&hs, "sec-websocket-version"), "13");
	ck_assert_ptr_null(handshake_header(&hs, "Host"));
	ck_assert_ptr_null(handshake_header(&hs, "origin"));
	ck_assert_str_eq(handshake_path(&hs, path, sizeof(path)), "/ws");
	ck_assert_ptr_null(handshake_path(&hs, path, 3));
	ck_assert_int_eq(handshake_decide(&hs, "/ws"), 101);
	handshake_free(&hs);
}
END_TEST

START_TEST(test_split_chunks)
{
	/* Every split point of the request into two reads. */
	static const char req[] = UPGRADE_REQ;
	size_t cut;

	for (cut = 1; cut < sizeof(req) - 1; cut++) {
		struct handshake hs;
		size_t a, b;

		handshake_init(&hs);
		a = handshake_feed(&hs, req, cut);
		ck_assert_uint_eq(a, cut);
		ck_assert_int_eq(hs.hs_state, HANDSHAKE_MORE);
		b = handshake_feed(&hs, req + cut, sizeof(req) - 1 - cut);
		ck_assert_uint_eq(a + b, sizeof(req) - 1);
		ck_assert_int_eq(hs.hs_state, HANDSHAKE_DONE);
		ck_assert_str_eq(handshake_header(&hs, "sec-websocket-key"),
		    SAMPLE_KEY);
		ck_assert_int_eq(handshake_decide(&hs, "/ws"), 101);
		handshake_free(&hs);
	}
}
END_TEST

START_TEST(test_trailing_bytes)
{
	/* An eager first frame right after the upgrade request. */
	static const char frame[] = "\x81\x85\x01\x02\x03\x04Ignored";
	char buf[512];
	struct handshake hs;
	size_t len = strlen(UPGRADE_REQ), used;

	memcpy(buf, UPGRADE_REQ, len);
	memcpy(buf + len, frame, sizeof(frame) - 1);
	handshake_init(&hs);
	used = handshake_feed(&hs, buf, len + sizeof(frame) - 1);
	ck_assert_uint_eq(used, len);
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_DONE);
	ck_assert_uint_eq(handshake_feed(&hs, buf + len, 4), 0);
	ck_assert_int_eq(handshake_decide(&hs, "/ws"), 101);
	handshake_free(&hs);

	/* A pipelined second request stays unread too. */
	handshake_init(&hs);
	used = handshake_feed(&hs,
	    "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 38);
	ck_assert_uint_eq(used, 19);
	ck_assert_str_eq(hs.hs_url, "/a");
	handshake_free(&hs);

	/* A body is not waited for nor read. */
	handshake_init(&hs);
	used = handshake_feed(&hs,
	    "POST /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc", 47);
	ck_assert_uint_eq(used, 44);
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_DONE);
	ck_assert_str_eq(handshake_method(&hs), "POST");
	ck_assert_int_eq(handshake_decide(&hs, "/ws"), 404);
	handshake_free(&hs);
}
END_TEST

START_TEST(test_incomplete)
{
	struct handshake hs;

	handshake_init(&hs);
	ck_assert_uint_eq(handshake_feed(&hs, "GET /ws HTTP/1.1\r\nHost: h\r\n",
	    27), 27);
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_MORE);
	ck_assert_uint_eq(handshake_feed(&hs, "", 0), 0);
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_MORE);
	handshake_free(&hs);
	/* Freeing twice (or a fresh one) is harmless. */
	handshake_free(&hs);
}
END_TEST

START_TEST(test_too_many_headers)
{
	char req[4096];
	size_t len, i;

	len = (size_t)snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\n");
	for (i = 0; i < HANDSHAKE_MAX_HEADERS; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
		    "X-H%zu: v\r\n", i);
	/* Exactly the maximum is fine. */
	len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
	{
		struct handshake hs;
		parse_all(&hs, req);
		ck_assert_uint_eq(hs.hs_nheaders, HANDSHAKE_MAX_HEADERS);
		handshake_free(&hs);
	}
	/* One more is refused with 431. */
	len -= 2;
	len += (size_t)snprintf(req + len, sizeof(req) - len,
	    "X-Extra: v\r\n\r\n");
	ck_assert_int_eq(parse_error(req, len), 431);
}
END_TEST

START_TEST(test_too_large)
{
	size_t big = HANDSHAKE_MAX_BYTES + 100, len;
	char *req = malloc(big + 64);
	struct handshake hs;
	size_t i, total;

	ck_assert_ptr_nonnull(req);
	len = (size_t)sprintf(req, "GET /ws HTTP/1.1\r\nX-Big: ");
	memset(req + len, 'a', big - len);
	len = big;
	memcpy(req + len, "\r\n\r\n", 4);
	len += 4;
	ck_assert_int_eq(parse_error(req, len), 431);

	/* The same, arriving in small reads. */
	handshake_init(&hs);
	total = 0;
	for (i = 0; i < len && hs.hs_state == HANDSHAKE_MORE; i += 100) {
		size_t n = len - i < 100 ? len - i : 100;
		total += handshake_feed(&hs, req + i, n);
	}
	ck_assert_int_eq(hs.hs_state, HANDSHAKE_ERROR);
	ck_assert_int_eq(hs.hs_error_status, 431);
	ck_assert_uint_le(total, HANDSHAKE_MAX_BYTES);
	handshake_free(&hs);

	/* A long URL counts too. */
	len = (size_t)sprintf(req, "GET /");
	memset(req + len, 'u', big - len);
	len = big;
	memcpy(req + len, " HTTP/1.1\r\n\r\n", 13);
	len += 13;
	ck_assert_int_eq(parse_error(req, len), 431);
	free(req);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET /ws\r\n\r\n",
		"GET /ws HTTP/1.1 extra\r\n\r\n",
		"GET /ws HTTP/2.0\r\n\r\n",
		"GET /ws HTTP/1.1\r\nNo colon here\r\n\r\n",
		"GET /ws HTTP/1.1\r\n: v\r\n\r\n",
		"GET /w s HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  /* TLS hello */
		"get /ws HTTP/1.1\r\n\r\n",
		"GET /ws HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_error(bad[i], strlen(bad[i])) == 400,
		    "request %zu not refused with 400", i);
	/* A NUL inside the request line. */
	ck_assert_int_eq(parse_error("GET /w\0s HTTP/1.1\r\n\r\n", 21), 400);
	/* A NUL in a header value would cut the string short: refused. */
	ck_assert_int_eq(parse_error("GET /ws HTTP/1.1\r\nX: a\0b\r\n\r\n",
	    28), 400);
}
END_TEST

START_TEST(test_response_101)
{
	struct handshake hs;
	char buf[512], small[64];
	int n;

	parse_all(&hs, UPGRADE_REQ);
	n = handshake_response(&hs, 101, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq((size_t)n, strlen(buf));
	ck_assert_str_eq(buf,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n"
	    "\r\n");
	ck_assert_ptr_null(strstr(buf, "Sec-WebSocket-Protocol"));
	ck_assert_int_eq(handshake_response(&hs, 101, small, sizeof(small)), -1);
	handshake_free(&hs);
}
END_TEST

/* The value of a response header (exact case), copied into out. */
static const char *
response_header(const char *resp, const char *name, char *out, size_t outsz)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	if ((p = strstr(resp, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	end = strstr(p, "\r\n");
	ck_assert_ptr_nonnull(end);
	ck_assert_uint_lt((size_t)(end - p), outsz);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return out;
}

/* Check status line, Content-Length against the body, and Connection. */
static void
check_plain(const char *resp, int status, const char *reason, bool head)
{
	char line[128], val[64];
	const char *body;

	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason);
	ck_assert_msg(strncmp(resp, line, strlen(line)) == 0,
	    "bad status line in: %s", resp);
	body = strstr(resp, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	body += 4;
	ck_assert_ptr_nonnull(response_header(resp, "Content-Length", val,
	    sizeof(val)));
	if (head)
		ck_assert_str_eq(body, "");
	else
		ck_assert_uint_eq(strtoul(val, NULL, 10), strlen(body));
	ck_assert_ptr_nonnull(response_header(resp, "Connection", val,
	    sizeof(val)));
	ck_assert_ptr_nonnull(strstr(val, "close"));
}

START_TEST(test_response_plain)
{
	struct handshake hs;
	char buf[512], val[64];

	parse_all(&hs, "GET /nope HTTP/1.1\r\n\r\n");
	ck_assert_int_gt(handshake_response(&hs, 404, buf, sizeof(buf)), 0);
	check_plain(buf, 404, "Not Found", false);
	ck_assert_str_eq(response_header(buf, "Connection", val, sizeof(val)),
	    "close");
	ck_assert_int_gt(handshake_response(&hs, 400, buf, sizeof(buf)), 0);
	check_plain(buf, 400, "Bad Request", false);
	ck_assert_int_gt(handshake_response(&hs, 431, buf, sizeof(buf)), 0);
	check_plain(buf, 431, "Request Header Fields Too Large", false);
	ck_assert_int_gt(handshake_response(&hs, 405, buf, sizeof(buf)), 0);
	check_plain(buf, 405, "Method Not Allowed", false);
	ck_assert_str_eq(response_header(buf, "Allow", val, sizeof(val)), "GET");
	ck_assert_int_gt(handshake_response(&hs, 426, buf, sizeof(buf)), 0);
	check_plain(buf, 426, "Upgrade Required", false);
	ck_assert_str_eq(response_header(buf, "Upgrade", val, sizeof(val)),
	    "websocket");
	ck_assert_str_eq(response_header(buf, "Sec-WebSocket-Version", val,
	    sizeof(val)), "13");
	ck_assert_int_eq(handshake_response(&hs, 404, buf, 20), -1);
	ck_assert_int_eq(handshake_response(&hs, 99, buf, sizeof(buf)), -1);
	/* An error answer needs no parsed request. */
	ck_assert_int_gt(handshake_response(NULL, 400, buf, sizeof(buf)), 0);
	check_plain(buf, 400, "Bad Request", false);
	/* 101 does. */
	ck_assert_int_eq(handshake_response(NULL, 101, buf, sizeof(buf)), -1);
	handshake_free(&hs);

	/* HEAD: the headers of the answer, without its body. */
	parse_all(&hs, "HEAD /ws HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(handshake_decide(&hs, "/ws"), 426);
	ck_assert_int_gt(handshake_response(&hs, 426, buf, sizeof(buf)), 0);
	check_plain(buf, 426, "Upgrade Required", true);
	handshake_free(&hs);
}
END_TEST

START_TEST(test_plain_response)
{
	char buf[256];
	int n;

	n = handshake_plain_response(200, "application/json", "{\"ok\":true}",
	    11, buf, sizeof(buf));
	ck_assert_str_eq(buf,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 11\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "{\"ok\":true}");
	ck_assert_int_eq(n, (int)strlen(buf));
	n = handshake_plain_response(503, "text/plain", NULL, 0, buf,
	    sizeof(buf));
	ck_assert_int_eq(n, (int)strlen(buf));
	check_plain(buf, 503, "Service Unavailable", false);
	n = handshake_plain_response(200, "text/plain", "", 0, buf,
	    sizeof(buf));
	ck_assert_int_eq(n, (int)strlen(buf));
	/* The body must fit with its NUL. */
	ck_assert_int_eq(handshake_plain_response(200, "text/plain", "abc", 3,
	    buf, (size_t)n + 3), -1);
	ck_assert_int_eq(handshake_plain_response(200, "text/plain", "abc", 3,
	    buf, (size_t)n + 4), n + 3);
	ck_assert_int_eq(handshake_plain_response(200, "text/plain", NULL, 3,
	    buf, sizeof(buf)), -1);
	ck_assert_int_eq(handshake_plain_response(200, "text/plain", "a", 1,
	    buf, 10), -1);
}
END_TEST

static Suite *
handshake_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_byte_at_a_time);
	tcase_add_test(tc, test_split_chunks);
	tcase_add_test(tc, test_trailing_bytes);
	tcase_add_test(tc, test_incomplete);
	tcase_add_test(tc, test_too_many_headers);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("decide");
	tcase_add_test(tc, test_accept_key_sample);
	tcase_add_test(tc, test_decide_101);
	tcase_add_test(tc, test_decide_426);
	tcase_add_test(tc, test_decide_404_405);
	tcase_add_test(tc, test_decide_400);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, test_response_101);
	tcase_add_test(tc, test_response_plain);
	tcase_add_test(tc, test_plain_response);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(handshake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
