/*
 * fuzz_json.c: fuzz target for the JSON code of both sides.
 * - The master's validating scanner (json/scan.c) against yajl as an
 *   oracle: on valid UTF-8 (the scanner's precondition), both say the same
 *   of whether the input is one JSON value, except where yajl is lax (it
 *   takes \f and \v for whitespace, and misses an unterminated string
 *   after the value) or the scanner's depth bound stops it.
 * - The master's reading of a message (master/request.c): a status in
 *   range, an error exactly when it is not OK, a canonical id (canonical
 *   again), params that are one JSON array within the nesting bound.
 * - The worker's side of those params: read into a tree (json/parse.c),
 *   packed as a handler would, written back (json/from_msgpack.c): valid
 *   UTF-8, valid JSON, and a second trip gives the same text.
 * - The input as msgpack values, written as JSON the way a handler's
 *   result is: never a crash, always valid JSON when it converts.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <yajl/yajl_parse.h>

#include "fuzz/driver.h"
#include "json/from_msgpack.h"
#include "json/parse.h"
#include "json/scan.h"
#include "json/utf8.h"
#include "json/write.h"
#include "master/request.h"

/* A broken invariant is a finding: crash so the driver reports it. */
#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

/* yajl's verdict on data as one JSON value. */
static bool
fuzz_yajl_ok(const char *data, size_t size)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	yajl_status st;

	if (h == NULL)
		abort();
	st = yajl_parse(h, (const unsigned char *)data, size);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	return st == yajl_status_ok;
}

/*
 * yajl misses trailing garbage that is an unterminated string ({}"x): its
 * lexer waits for the rest of the token, and the end of input never
 * comes to it as an error.
 */
static bool
fuzz_yajl_blind(const char *data, size_t size)
{
	struct json_scan s;
	unsigned depth;

	json_scan_init(&s, data, size);
	return json_scan_value(&s, &depth) == JSON_SCAN_OK &&
	    json_scan_peek(&s) == '"';
}

/* The scanner and the oracle agree. */
static void
fuzz_oracle(const char *data, size_t size)
{
	enum json_scan_status st;
	const char *err = NULL;

	st = json_scan_document(data, size, &err);
	FUZZ_CHECK((st == JSON_SCAN_OK) == (err == NULL));
	if (st == JSON_SCAN_TOO_DEEP || !utf8_valid(data, size) ||
	    memchr(data, '\v', size) != NULL || memchr(data, '\f', size) != NULL)
		return;
	if (err == json_scan_err_trailing && fuzz_yajl_blind(data, size))
		return;
	FUZZ_CHECK((st == JSON_SCAN_OK) == fuzz_yajl_ok(data, size));
}

/* JSON text the worker wrote: valid UTF-8 and valid JSON. */
static void
fuzz_check_written(const struct json_buf *b)
{
	const char *err;

	FUZZ_CHECK(utf8_valid(b->jb_data, b->jb_len));
	FUZZ_CHECK(json_scan_document(b->jb_data, b->jb_len, &err) ==
	    JSON_SCAN_OK);
}

/*
 * What a worker makes of params text: read, packed as a handler would,
 * written. Returns the status; on OK the text is in out.
 */
static enum json_parse_status
fuzz_worker_trip(const char *text, size_t len, struct json_buf *out)
{
	struct json_parse jp;
	msgpack_zone zone;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object o;
	enum json_parse_status st;
	const char *why;

	json_parse_init(&jp);
	msgpack_sbuffer_init(&sb);
	if (!msgpack_zone_init(&zone, 1024))
		abort();
	st = json_parse(&jp, text, len, &zone, &o, &why);
	FUZZ_CHECK((st == JSON_PARSE_OK) == (why == NULL));
	if (st == JSON_PARSE_OK) {
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		FUZZ_CHECK(msgpack_pack_object(&pk, o) == 0);
		out->jb_len = 0;
		FUZZ_CHECK(json_from_msgpack(out, sb.data, sb.size) ==
		    JSON_MSGPACK_OK);
		fuzz_check_written(out);
	}
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
	json_parse_free(&jp);
	return st;
}

static void
fuzz_message(const char *data, size_t size)
{
	char canon[REQUEST_ID_JSON_MAX];
	struct json_buf one = JSON_BUF_INIT, two = JSON_BUF_INIT;
	struct request rq;
	enum request_status st;
	enum json_parse_status ps;
	const char *err, *first;
	size_t first_len;
	int n;

	st = request_parse(&rq, data, size);
	FUZZ_CHECK(st >= REQUEST_OK && st <= REQUEST_DEEP);
	FUZZ_CHECK((st == REQUEST_OK) == (rq.rq_error == NULL));
	FUZZ_CHECK(rq.rq_method_len <= REQUEST_METHOD_MAX);
	if (st == REQUEST_BAD_JSON || st == REQUEST_NOT_OBJECT ||
	    st == REQUEST_NO_METHOD || st == REQUEST_BAD_ID)
		FUZZ_CHECK(!rq.rq_has_id);
	if (rq.rq_has_id) {
		/* canonical: canonical again, and valid UTF-8 */
		FUZZ_CHECK(rq.rq_id_len >= 1 && rq.rq_id_len <= REQUEST_ID_JSON_MAX);
		FUZZ_CHECK(utf8_valid(rq.rq_id, rq.rq_id_len));
		n = request_id_canon(rq.rq_id, rq.rq_id_len, canon);
		FUZZ_CHECK(n == (int)rq.rq_id_len);
		FUZZ_CHECK(memcmp(canon, rq.rq_id, rq.rq_id_len) == 0);
	}
	if (st != REQUEST_OK) {
		FUZZ_CHECK(rq.rq_params == NULL);
		return;
	}
	/* an accepted message is JSON, as the oracle sees it */
	FUZZ_CHECK(json_scan_document(data, size, &err) == JSON_SCAN_OK);
	if (rq.rq_params == NULL)
		return;
	FUZZ_CHECK(rq.rq_params_len >= 2 && rq.rq_params[0] == '[');
	FUZZ_CHECK(json_scan_document(rq.rq_params, rq.rq_params_len, &err) ==
	    JSON_SCAN_OK);
	if (request_first_param(&rq, &first, &first_len) == 0 &&
	    (n = request_id_canon(first, first_len, canon)) >= 0)
		FUZZ_CHECK(utf8_valid(canon, (size_t)n));
	/* the worker reads what the master let through, within its bound */
	ps = fuzz_worker_trip(rq.rq_params, rq.rq_params_len, &one);
	FUZZ_CHECK(ps == JSON_PARSE_OK || ps == JSON_PARSE_SURROGATE);
	if (ps == JSON_PARSE_OK) {
		/* what we write reads back the same, and writes the same */
		FUZZ_CHECK(fuzz_worker_trip(one.jb_data, one.jb_len, &two) ==
		    JSON_PARSE_OK);
		FUZZ_CHECK(one.jb_len == two.jb_len &&
		    memcmp(one.jb_data, two.jb_data, one.jb_len) == 0);
	}
	json_buf_free(&one);
	json_buf_free(&two);
}

/* The input as a run of msgpack values, each written out as JSON. */
static void
fuzz_msgpack(const char *data, size_t size)
{
	struct json_buf out = JSON_BUF_INIT;
	enum json_msgpack_status st;

	st = json_from_msgpack(&out, data, size);
	FUZZ_CHECK(st == JSON_MSGPACK_OK || out.jb_len == 0);
	if (st == JSON_MSGPACK_OK)
		fuzz_check_written(&out);
	/* every prefix too: truncation is never a crash */
	for (size_t n = size > 64 ? size - 64 : 0; n < size; n++) {
		out.jb_len = 0;
		if (json_from_msgpack(&out, data, n) == JSON_MSGPACK_OK)
			fuzz_check_written(&out);
	}
	json_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so a read past the end is caught. */
	char *copy = malloc(size > 0 ? size : 1);

	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	fuzz_oracle(copy, size);
	/* The master reads only text messages, which are valid UTF-8. */
	if (utf8_valid(copy, size))
		fuzz_message(copy, size);
	fuzz_msgpack(copy, size);
	free(copy);
	return 0;
}
