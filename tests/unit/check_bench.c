/*
 * check_bench.c: unit tests for wspool-bench's own parts: the log-linear
 * histogram (bucket layout, percentiles, merge), the server message
 * scanner, client framing and handshake check, and option/URL parsing.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/hdr.h"
#include "bench/opts.h"
#include "bench/resp.h"
#include "bench/wsc.h"

#define LEN(s) (sizeof(s) - 1)

/* ---- hdr ------------------------------------------------------------------ */

START_TEST(test_hdr_layout)
{
	uint64_t v, prev_high = 0;
	size_t i;

	/* Exact below 2,048. */
	for (v = 0; v < 2048; v++) {
		ck_assert_uint_eq(hdr_index(v), v);
		ck_assert_uint_eq(hdr_bucket_low(v), v);
		ck_assert_uint_eq(hdr_bucket_high(v), v);
	}
	ck_assert_uint_eq(hdr_index(2048), 2048);
	ck_assert_uint_eq(hdr_index(2049), 2048);
	ck_assert_uint_eq(hdr_index(2050), 2049);
	ck_assert_uint_eq(hdr_index(4095), 3071);
	ck_assert_uint_eq(hdr_index(4096), 3072);
	ck_assert_uint_eq(hdr_index(4099), 3072);
	ck_assert_uint_eq(hdr_index(4100), 3073);
	/* Buckets tile the line without gaps and hold what maps to them. */
	for (i = 1; i < 40000; i++) {
		ck_assert_uint_eq(hdr_bucket_low(i), hdr_bucket_high(i - 1) + 1);
		ck_assert_uint_eq(hdr_index(hdr_bucket_low(i)), i);
		ck_assert_uint_eq(hdr_index(hdr_bucket_high(i)), i);
		/* Width over value stays below 1/1024: three digits. */
		ck_assert(hdr_bucket_high(i) - hdr_bucket_low(i) <=
		    hdr_bucket_low(i) / 1024);
		prev_high = hdr_bucket_high(i);
	}
	ck_assert(prev_high > 1000000000ull);
	/* Large values keep the relative precision. */
	v = 123456789012ull;
	i = hdr_index(v);
	ck_assert(hdr_bucket_low(i) <= v && v <= hdr_bucket_high(i));
	ck_assert(hdr_bucket_high(i) - hdr_bucket_low(i) <= v / 1024);
}
END_TEST

START_TEST(test_hdr_percentiles)
{
	struct hdr h;
	uint64_t v, p;

	ck_assert_int_eq(hdr_init(&h, 10000000), 0);
	ck_assert_uint_eq(hdr_percentile(&h, 50), 0);
	ck_assert(hdr_mean(&h) == 0);
	for (v = 1; v <= 1000000; v++)
		hdr_record(&h, v);
	ck_assert_uint_eq(h.hdr_total, 1000000);
	ck_assert_uint_eq(h.hdr_min, 1);
	ck_assert_uint_eq(h.hdr_max, 1000000);
	/* Each percentile within 0.1% above the exact value. */
	p = hdr_percentile(&h, 50);
	ck_assert(p >= 500000 && p <= 500000 + 500);
	p = hdr_percentile(&h, 90);
	ck_assert(p >= 900000 && p <= 900000 + 900);
	p = hdr_percentile(&h, 99);
	ck_assert(p >= 990000 && p <= 990000 + 990);
	p = hdr_percentile(&h, 99.9);
	ck_assert(p >= 999000 && p <= 999000 + 1000);
	ck_assert_uint_eq(hdr_percentile(&h, 100), 1000000);
	ck_assert_uint_eq(hdr_percentile(&h, 0), 1);
	ck_assert(hdr_mean(&h) > 500000.4 && hdr_mean(&h) < 500000.6);

	hdr_reset(&h);
	ck_assert_uint_eq(h.hdr_total, 0);
	ck_assert_uint_eq(hdr_percentile(&h, 99), 0);
	/* Small values are exact. */
	hdr_record(&h, 7);
	hdr_record(&h, 7);
	hdr_record(&h, 9);
	hdr_record(&h, 1500);
	ck_assert_uint_eq(hdr_percentile(&h, 50), 7);
	ck_assert_uint_eq(hdr_percentile(&h, 75), 9);
	ck_assert_uint_eq(hdr_percentile(&h, 99), 1500);
	/* A percentile is never above the exact max... */
	hdr_reset(&h);
	hdr_record(&h, 1000001);
	ck_assert_uint_eq(hdr_percentile(&h, 50), 1000001);
	/* ...and values past the highest trackable are clamped, not lost. */
	hdr_record(&h, 50000000000ull);
	ck_assert_uint_eq(h.hdr_clamped, 1);
	ck_assert_uint_eq(h.hdr_total, 2);
	ck_assert_uint_eq(h.hdr_max, 50000000000ull);
	ck_assert_uint_eq(hdr_percentile(&h, 100), hdr_bucket_high(h.hdr_nbuckets - 1));
	hdr_free(&h);
}
END_TEST

START_TEST(test_hdr_merge)
{
	struct hdr a, b, c;
	int i;

	ck_assert_int_eq(hdr_init(&a, 1000000), 0);
	ck_assert_int_eq(hdr_init(&b, 1000000), 0);
	ck_assert_int_eq(hdr_init(&c, 5000000), 0);
	for (i = 0; i < 99; i++)
		hdr_record(&a, 100);
	hdr_record(&b, 90000);
	hdr_record(&b, 3);
	ck_assert_int_eq(hdr_merge(&a, &b), 0);
	ck_assert_uint_eq(a.hdr_total, 101);
	ck_assert_uint_eq(a.hdr_min, 3);
	ck_assert_uint_eq(a.hdr_max, 90000);
	ck_assert_uint_eq(hdr_percentile(&a, 50), 100);
	ck_assert_uint_eq(hdr_percentile(&a, 100), 90000);
	/* Different ranges cannot merge. */
	ck_assert_int_eq(hdr_merge(&c, &a), -1);
	hdr_free(&a);
	hdr_free(&b);
	hdr_free(&c);
}
END_TEST

/* ---- resp ------------------------------------------------------------------ */

static int
scan(const char *s, struct resp *r)
{
	return resp_scan(s, strlen(s), r);
}

START_TEST(test_resp_kinds)
{
	struct resp r;

	ck_assert_int_eq(scan("{\"id\":7,\"result\":3}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_RESULT);
	ck_assert_int_eq(r.r_has_id, 1);
	ck_assert_uint_eq(r.r_id, 7);

	ck_assert_int_eq(scan("{\"id\":42,\"close\":true}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_CLOSE);
	ck_assert_uint_eq(r.r_id, 42);

	ck_assert_int_eq(scan("{\"id\":5}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_CHUNK_UNDEFINED);
	ck_assert_uint_eq(r.r_id, 5);

	ck_assert_int_eq(scan("{\"pong\":true}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_PONG);
	ck_assert_int_eq(r.r_has_id, 0);

	ck_assert_int_eq(scan("{\"id\":9,\"error\":{\"code\":404,"
	    "\"message\":\"Not Found\"}}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_ERROR);
	ck_assert_int_eq(r.r_code, 404);
	ck_assert_uint_eq(r.r_id, 9);

	/* Node writes the error before the id. */
	ck_assert_int_eq(scan("{\"error\":{\"message\":\"x\",\"data\":"
	    "{\"path\":\"/1\",\"value\":[1,{\"a\":\"}\"}]},\"code\":400},"
	    "\"id\":3}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_ERROR);
	ck_assert_int_eq(r.r_code, 400);
	ck_assert_uint_eq(r.r_id, 3);

	ck_assert_int_eq(scan("{\"id\":null,\"error\":{\"code\":400,"
	    "\"message\":\"bad\"}}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_ERROR);
	ck_assert_int_eq(r.r_has_id, 0);
	ck_assert_int_eq(r.r_code, 400);

	/* A close that is not true is no close. */
	ck_assert_int_eq(scan("{\"id\":4,\"close\":false}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_CHUNK_UNDEFINED);
}
END_TEST

START_TEST(test_resp_order_and_space)
{
	struct resp r;

	/* Result before the id: the value is skipped, strings and all. */
	ck_assert_int_eq(scan(" { \"result\" : {\"a\":[1,2,\"x\\\"]}\"]} ,"
	    " \"id\" : 12 } ", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_RESULT);
	ck_assert_uint_eq(r.r_id, 12);
	/* Unknown keys are skipped. */
	ck_assert_int_eq(scan("{\"jsonrpc\":\"2.0\",\"x\":[[],{}],\"id\":1,"
	    "\"result\":null}", &r), 0);
	ck_assert_int_eq(r.r_kind, RESP_RESULT);
	ck_assert_uint_eq(r.r_id, 1);
	/* The fast path stops at the result: a truncated value is fine. */
	ck_assert_int_eq(scan("{\"id\":77,\"result\":\"abc", &r), 0);
	ck_assert_uint_eq(r.r_id, 77);
	/* A string id is not ours: no id. */
	ck_assert_int_eq(scan("{\"id\":\"x\",\"result\":1}", &r), 0);
	ck_assert_int_eq(r.r_has_id, 0);
	ck_assert_int_eq(r.r_kind, RESP_RESULT);
	/* The largest id. */
	ck_assert_int_eq(scan("{\"id\":18446744073709551615,\"result\":1}",
	    &r), 0);
	ck_assert_uint_eq(r.r_id, UINT64_MAX);
}
END_TEST

START_TEST(test_resp_bad)
{
	static const char *bad[] = {
		"", "[]", "{}", "null", "{\"id\"", "{\"id\":", "{\"id\":1",
		"{\"id\":1,", "{\"id\":1 \"result\":2}", "{id:1}",
		"{\"pong\":true", "{\"error\":{\"code\":400}", "{\"a\":[1,2}",
		"{\"a\":\"unterminated}", "{\"a\":1}", "{\"error\":{\"code\":}}",
		"{\"id\":1,\"close\":true,}",
	};
	struct resp r;
	size_t i;
	char deep[200];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(scan(bad[i], &r) == -1, "accepted: %s", bad[i]);
	/* Deeper than RESP_MAX_DEPTH is refused, not walked. */
	memset(deep, 0, sizeof(deep));
	strcpy(deep, "{\"a\":");
	for (i = 0; i < 100; i++)
		strcat(deep, "[");
	ck_assert_int_eq(scan(deep, &r), -1);
	/* Bounds: a message cut anywhere never reads past its length. */
	{
		const char *full = "{\"error\":{\"code\":503,\"message\":\"busy\"},"
		    "\"id\":8}";
		size_t n = strlen(full);
		char *copy;

		for (i = 0; i < n; i++) {
			copy = malloc(i + 1);
			memcpy(copy, full, i);
			ck_assert_int_eq(resp_scan(copy, i, &r), -1);
			free(copy);
		}
		ck_assert_int_eq(resp_scan(full, n, &r), 0);
		ck_assert_int_eq(r.r_code, 503);
	}
}
END_TEST

START_TEST(test_resp_skip)
{
	size_t pos;
	const char *s;

	s = "  {\"a\":[1,-2.5e3,true,null,\"\\\\\"],\"b\":{}} tail";
	pos = 0;
	ck_assert_int_eq(resp_skip_value(s, strlen(s), &pos), 0);
	ck_assert_str_eq(s + pos, " tail");
	s = "\"a\\\\\\\"b\"x";        /* "a\\\"b" then x */
	pos = 0;
	ck_assert_int_eq(resp_skip_value(s, strlen(s), &pos), 0);
	ck_assert_str_eq(s + pos, "x");
	s = "[1,]";
	pos = 0;
	ck_assert_int_eq(resp_skip_value(s, strlen(s), &pos), -1);
	s = "{\"a\" 1}";
	pos = 0;
	ck_assert_int_eq(resp_skip_value(s, strlen(s), &pos), -1);
}
END_TEST

/* ---- wsc ------------------------------------------------------------------- */

START_TEST(test_wsc_header_and_mask)
{
	uint8_t h[WSC_MAX_HEADER], buf[300], orig[300];
	uint32_t mask = 0x04030201;   /* bytes 01 02 03 04 in memory order */
	size_t n, i;

	n = wsc_header(h, WSC_OP_TEXT, 5, mask);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(h[0], 0x81);
	ck_assert_uint_eq(h[1], 0x85);
	ck_assert(memcmp(h + 2, &mask, 4) == 0);
	n = wsc_header(h, WSC_OP_TEXT, 126, mask);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(h[1], 0x80 | 126);
	ck_assert_uint_eq(h[2], 0);
	ck_assert_uint_eq(h[3], 126);
	n = wsc_header(h, WSC_OP_BINARY, 70000, mask);
	ck_assert_uint_eq(n, 14);
	ck_assert_uint_eq(h[0], 0x82);
	ck_assert_uint_eq(h[1], 0x80 | 127);
	ck_assert_uint_eq(h[7], 0x01);
	ck_assert_uint_eq(h[8], 0x11);
	ck_assert_uint_eq(h[9], 0x70);

	/* Masking: byte i XOR key[i % 4], at every length and twice = id. */
	for (i = 0; i < sizeof(buf); i++)
		orig[i] = buf[i] = (uint8_t)(i * 7);
	for (n = 0; n < 40; n++) {
		memcpy(buf, orig, sizeof(buf));
		wsc_mask(buf, n, mask);
		for (i = 0; i < n; i++)
			ck_assert_uint_eq(buf[i], orig[i] ^ (uint8_t)(1 + i % 4));
		ck_assert_uint_eq(buf[n], orig[n]);
		wsc_mask(buf, n, mask);
		ck_assert(memcmp(buf, orig, sizeof(buf)) == 0);
	}
}
END_TEST

START_TEST(test_wsc_parse)
{
	struct wsc_frame f;
	uint8_t buf[70010];

	/* Short text frame, whole and cut. */
	memcpy(buf, "\x81\x03" "abc", 5);
	ck_assert_int_eq(wsc_parse(buf, 5, 1000, &f), 1);
	ck_assert_int_eq(f.f_opcode, WSC_OP_TEXT);
	ck_assert_int_eq(f.f_fin, 1);
	ck_assert_uint_eq(f.f_hlen, 2);
	ck_assert_uint_eq(f.f_len, 3);
	ck_assert_int_eq(wsc_parse(buf, 4, 1000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 1, 1000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 0, 1000, &f), 0);
	/* 16-bit length. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "\x01\x7e\x01\x00", 4);
	ck_assert_int_eq(wsc_parse(buf, 3, 1000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 4 + 255, 1000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 4 + 256, 1000, &f), 1);
	ck_assert_int_eq(f.f_fin, 0);
	ck_assert_uint_eq(f.f_len, 256);
	ck_assert_uint_eq(f.f_hlen, 4);
	/* 64-bit length, bounded by max. */
	memcpy(buf, "\x80\x7f\0\0\0\0\0\x01\x11\x70", 10);
	ck_assert_int_eq(wsc_parse(buf, 9, 100000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 10, 100000, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 10 + 70000, 100000, &f), 1);
	ck_assert_int_eq(f.f_opcode, WSC_OP_CONT);
	ck_assert_uint_eq(f.f_len, 70000);
	ck_assert_int_eq(wsc_parse(buf, 10, 69999, &f), -1);
	/* A huge declared length is refused before any payload. */
	memcpy(buf, "\x81\x7f\x80\0\0\0\0\0\0\0", 10);
	ck_assert_int_eq(wsc_parse(buf, 10, UINT64_MAX, &f), 0);
	ck_assert_int_eq(wsc_parse(buf, 10, 1 << 20, &f), -1);
	/* Violations. */
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x81\x83", 2, 1000, &f), -1);
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\xc1\x00", 2, 1000, &f), -1);
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x83\x00", 2, 1000, &f), -1);
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x89\x7e", 2, 1000, &f), -1);
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x09\x00", 2, 1000, &f), -1);
	/* Control frames. */
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x88\x02\x03\xe8", 4,
	    1000, &f), 1);
	ck_assert_int_eq(f.f_opcode, WSC_OP_CLOSE);
	ck_assert_int_eq(wsc_parse((const uint8_t *)"\x89\x00", 2, 1000, &f), 1);
	ck_assert_int_eq(f.f_opcode, WSC_OP_PING);
}
END_TEST

START_TEST(test_wsc_handshake)
{
	/* RFC 6455's example key and accept. */
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	    "\x81";
	const char *wrong = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOX=\r\n\r\n";
	const char *missing = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n\r\n";
	const char *refused = "HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 0\r\n\r\n";
	char req[512], big[WSC_MAX_RESPONSE + 10], k1[25], k2[25];
	uint64_t rng = 1;
	size_t i;
	int n;

	/* The header block, then the first bytes of a frame. */
	n = wsc_response(ok, strlen(ok), key);
	ck_assert_int_eq(n, (int)strlen(ok) - 1);
	for (i = 0; i < strlen(ok) - 1; i++)
		ck_assert_int_eq(wsc_response(ok, i, key), 0);
	ck_assert_int_eq(wsc_response(wrong, strlen(wrong), key), -1);
	ck_assert_int_eq(wsc_response(missing, strlen(missing), key), -1);
	ck_assert_int_eq(wsc_response(refused, strlen(refused), key), -1);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(wsc_response(big, sizeof(big), key), -1);

	n = wsc_request(req, sizeof(req), "127.0.0.1:8080", "/ws", key);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(req), (size_t)n);
	ck_assert_ptr_nonnull(strstr(req, "GET /ws HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(req, "Host: 127.0.0.1:8080\r\n"));
	ck_assert_ptr_nonnull(strstr(req, "Sec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\n"));
	ck_assert_int_eq(memcmp(req + n - 4, "\r\n\r\n", 4), 0);
	ck_assert_int_eq(wsc_request(req, 20, "h", "/ws", key), -1);
	/* --offer-deflate: one more header, still one empty line at the end. */
	n = wsc_request(req, sizeof(req), "h", "/ws", key);
	ck_assert_int_gt(n, 0);
	n = wsc_offer_deflate(req, sizeof(req), (size_t)n);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(req), (size_t)n);
	ck_assert_ptr_nonnull(strstr(req, "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits\r\n\r\n"));
	ck_assert_int_eq(wsc_offer_deflate(req, (size_t)n, (size_t)n), -1);

	wsc_make_key(k1, &rng);
	wsc_make_key(k2, &rng);
	ck_assert_uint_eq(strlen(k1), 24);
	ck_assert_str_eq(k1 + 22, "==");
	ck_assert_str_ne(k1, k2);
}
END_TEST

/* ---- opts ------------------------------------------------------------------ */

static int
parse(struct bench_opts *o, char *err, ...)
{
	char *argv[32];
	int argc = 0, rv;
	va_list ap;
	char *a;

	argv[argc++] = "wspool-bench";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	rv = bench_opts_parse(o, argc, argv, err, 256);
	return rv;
}

START_TEST(test_url)
{
	struct bench_url u;
	char err[256];

	ck_assert_int_eq(bench_url_parse(&u, "ws://127.0.0.1:9000/ws", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(u.u_host, "127.0.0.1");
	ck_assert_str_eq(u.u_hostport, "127.0.0.1:9000");
	ck_assert_str_eq(u.u_path, "/ws");
	ck_assert_uint_eq(u.u_port, 9000);
	ck_assert_int_eq(bench_url_parse(&u, "ws://localhost", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(u.u_host, "localhost");
	ck_assert_uint_eq(u.u_port, 80);
	ck_assert_str_eq(u.u_path, "/");
	ck_assert_int_eq(bench_url_parse(&u, "ws://[::1]:81/a/b?x=1", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(u.u_host, "::1");
	ck_assert_str_eq(u.u_hostport, "[::1]:81");
	ck_assert_uint_eq(u.u_port, 81);
	ck_assert_str_eq(u.u_path, "/a/b?x=1");

	ck_assert_int_eq(bench_url_parse(&u, "http://h/ws", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "ws://"));
	ck_assert_int_eq(bench_url_parse(&u, "ws://h:0/", err, sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws://h:65536/", err,
	    sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws://h:80x/", err,
	    sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws://h:/", err, sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws:///ws", err, sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws://[::1/ws", err,
	    sizeof(err)), -1);
	ck_assert_int_eq(bench_url_parse(&u, "ws://h/a b", err,
	    sizeof(err)), -1);
}
END_TEST

START_TEST(test_opts_defaults_and_modes)
{
	struct bench_opts o;
	char err[256];
	char *tail;
	size_t len;

	ck_assert_int_eq(parse(&o, err, NULL), 0);
	ck_assert_int_eq(o.o_mode, BENCH_CLOSED);
	ck_assert_uint_eq(o.o_connections, 1);
	ck_assert_uint_eq(o.o_inflight, 1);
	ck_assert(o.o_duration == 5 && o.o_warmup == 1);
	ck_assert_str_eq(o.o_method, "echo");
	ck_assert_ptr_null(o.o_params);
	ck_assert_uint_eq(o.o_url.u_port, 8080);
	ck_assert_uint_eq(o.o_source_addrs, 1);
	tail = bench_call_tail(&o, &len);
	ck_assert_str_eq(tail, ",\"method\":\"echo\"}");
	ck_assert_uint_eq(len, strlen(tail));
	free(tail);
	bench_opts_free(&o);

	ck_assert_int_eq(parse(&o, err, "-u", "ws://127.0.0.1:5/x", "-c", "8",
	    "--inflight=64", "--duration", "2.5", "-w", "0", "-m", "add",
	    "--params", "[1, 2]", "--json", "-q", NULL), 0);
	ck_assert_int_eq(o.o_mode, BENCH_CLOSED);
	ck_assert_uint_eq(o.o_connections, 8);
	ck_assert_uint_eq(o.o_inflight, 64);
	ck_assert(o.o_duration == 2.5 && o.o_warmup == 0);
	ck_assert_str_eq(o.o_method, "add");
	ck_assert_str_eq(o.o_params, "[1, 2]");
	ck_assert_int_eq(o.o_json, 1);
	ck_assert_int_eq(o.o_quiet, 1);
	tail = bench_call_tail(&o, &len);
	ck_assert_str_eq(tail, ",\"method\":\"add\",\"params\":[1, 2]}");
	free(tail);
	bench_opts_free(&o);

	ck_assert_int_eq(parse(&o, err, "--subscribe", "-m", "count", "-p",
	    "[100000,0]", NULL), 0);
	ck_assert_int_eq(o.o_mode, BENCH_SUBSCRIBE);
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "--rate", "12000.5", NULL), 0);
	ck_assert_int_eq(o.o_mode, BENCH_RATE);
	ck_assert(o.o_rate == 12000.5);
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "--idle", "40000", NULL), 0);
	ck_assert_int_eq(o.o_mode, BENCH_IDLE);
	ck_assert_uint_eq(o.o_idle, 40000);
	ck_assert_uint_eq(o.o_source_addrs, 3);
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "--idle", "10", "--source-addrs", "4",
	    "--max-message", "2M", NULL), 0);
	ck_assert_uint_eq(o.o_source_addrs, 4);
	ck_assert_uint_eq(o.o_max_message, 2u << 20);
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "-h", NULL), 0);
	ck_assert_int_eq(o.o_help, 1);
	bench_opts_free(&o);

	/* A method that needs escaping is escaped. */
	ck_assert_int_eq(parse(&o, err, "-m", "a\"b\\c\n", NULL), 0);
	tail = bench_call_tail(&o, &len);
	ck_assert_str_eq(tail, ",\"method\":\"a\\\"b\\\\c\\u000a\"}");
	free(tail);
	bench_opts_free(&o);
}
END_TEST

START_TEST(test_opts_errors)
{
	struct bench_opts o;
	char err[256];

#define BAD(...) do { \
	ck_assert_int_eq(parse(&o, err, __VA_ARGS__, NULL), -1); \
	bench_opts_free(&o); \
} while (0)
	BAD("-c", "0");
	BAD("-c", "-1");
	BAD("-c", "10x");
	BAD("-c", "");
	BAD("-k", "65537");
	BAD("-d", "0");
	BAD("-d", "nan");
	BAD("-d", "inf");
	BAD("-w", "-1");
	BAD("--rate", "0");
	BAD("--idle", "0");
	BAD("--source-addrs", "255");
	BAD("--max-message", "12Q");
	BAD("--max-message", "100");
	BAD("-m", "");
	BAD("-p", "[1,");
	BAD("-p", "[1] 2");
	BAD("-p", "@/nonexistent/params.json");
	BAD("-u", "ws://h:99999/");
	BAD("--bogus");
	BAD("--subscribe", "--rate", "5");
	BAD("--idle", "5", "--rate", "5");
	ck_assert_int_eq(parse(&o, err, "-c", NULL), -1);
	ck_assert_str_eq(err, "-c needs a value");
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "--frobnicate", NULL), -1);
	ck_assert_str_eq(err, "unknown option: --frobnicate");
	bench_opts_free(&o);
	ck_assert_int_eq(parse(&o, err, "-c", "abc", NULL), -1);
	ck_assert_str_eq(err, "bad value for -c: abc");
	bench_opts_free(&o);
#undef BAD
}
END_TEST

START_TEST(test_opts_params_file)
{
	struct bench_opts o;
	char err[256], path[] = "/tmp/check_bench_XXXXXX";
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "[\"hello\"]\n", 10), 10);
	close(fd);
	{
		char arg[64];

		snprintf(arg, sizeof(arg), "@%s", path);
		ck_assert_int_eq(parse(&o, err, "-p", arg, NULL), 0);
	}
	ck_assert_str_eq(o.o_params, "[\"hello\"]");
	ck_assert_uint_eq(o.o_params_len, 9);
	bench_opts_free(&o);
	unlink(path);

	ck_assert_int_eq(bench_parse_size("64K", &(uint64_t){0}), 0);
	{
		uint64_t v;
		unsigned u;
		double d;

		ck_assert_int_eq(bench_parse_size("3G", &v), 0);
		ck_assert_uint_eq(v, 3ull << 30);
		ck_assert_int_eq(bench_parse_size("10", &v), 0);
		ck_assert_uint_eq(v, 10);
		ck_assert_int_eq(bench_parse_size("1KB", &v), -1);
		ck_assert_int_eq(bench_parse_uint("4294967295", 0, 4294967295u,
		    &u), 0);
		ck_assert_uint_eq(u, 4294967295u);
		ck_assert_int_eq(bench_parse_uint("4294967296", 0, 4294967295u,
		    &u), -1);
		ck_assert_int_eq(bench_parse_double("1e3", 0, 1e9, &d), 0);
		ck_assert(d == 1000);
		ck_assert_int_eq(bench_parse_double("1e3s", 0, 1e9, &d), -1);
	}
}
END_TEST

static Suite *
bench_suite(void)
{
	Suite *s = suite_create("bench");
	TCase *tc;

	tc = tcase_create("hdr");
	tcase_add_test(tc, test_hdr_layout);
	tcase_add_test(tc, test_hdr_percentiles);
	tcase_add_test(tc, test_hdr_merge);
	suite_add_tcase(s, tc);
	tc = tcase_create("resp");
	tcase_add_test(tc, test_resp_kinds);
	tcase_add_test(tc, test_resp_order_and_space);
	tcase_add_test(tc, test_resp_bad);
	tcase_add_test(tc, test_resp_skip);
	suite_add_tcase(s, tc);
	tc = tcase_create("wsc");
	tcase_add_test(tc, test_wsc_header_and_mask);
	tcase_add_test(tc, test_wsc_parse);
	tcase_add_test(tc, test_wsc_handshake);
	suite_add_tcase(s, tc);
	tc = tcase_create("opts");
	tcase_add_test(tc, test_url);
	tcase_add_test(tc, test_opts_defaults_and_modes);
	tcase_add_test(tc, test_opts_errors);
	tcase_add_test(tc, test_opts_params_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(bench_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
