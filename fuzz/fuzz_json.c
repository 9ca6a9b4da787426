/*
 * fuzz_json.c: fuzz target for master/request.c and json.c. Parses the input as a client
 * message and checks what comes out (status, id, method, params that render
 * back as valid UTF-8 JSON, stable on a second pass); then reads the input
 * as msgpack values and writes each as JSON, as answers from a worker.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"
#include "master/json.h"
#include "master/request.h"
#include "master/utf8.h"

/* A broken invariant is a finding: crash so the driver reports it. */
#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

/* Big-endian k-byte count at p[*i], or false when it runs past n. */
static bool
fuzz_be(const unsigned char *p, size_t n, size_t *i, size_t k, uint64_t *v)
{
	if (n - *i < k)
		return false;
	*v = 0;
	while (k-- > 0)
		*v = (*v << 8) | p[(*i)++];
	return true;
}

/*
 * msgpack-c allocates a container's elements before reading them, so a
 * five-byte array32 header may ask for 100 GB. Every element takes at
 * least one byte: refuse counts larger than the bytes left, as a consumer
 * of untrusted msgpack has to.
 */
static bool
fuzz_plausible(const unsigned char *p, size_t n)
{
	static const unsigned char fixed[32] = {
		/* 0xc0 .. 0xdf: payload bytes after the type byte, 0xff = other */
		0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 4, 8,
		1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff,
	};
	uint64_t pending = 1, cnt, skip, v;
	size_t i = 0;
	unsigned c;

	while (pending > 0) {
		if (i >= n)
			return false;
		c = p[i++];
		pending--;
		cnt = skip = 0;
		if (c <= 0x7f || c >= 0xe0)
			;
		else if (c <= 0x8f)
			cnt = 2 * (uint64_t)(c & 0x0f);
		else if (c <= 0x9f)
			cnt = c & 0x0f;
		else if (c <= 0xbf)
			skip = c & 0x1f;
		else if (fixed[c - 0xc0] != 0xff)
			skip = fixed[c - 0xc0];
		else {
			switch (c) {
			case 0xc4: case 0xd9:   /* bin8, str8 */
				if (!fuzz_be(p, n, &i, 1, &skip))
					return false;
				break;
			case 0xc5: case 0xda:
				if (!fuzz_be(p, n, &i, 2, &skip))
					return false;
				break;
			case 0xc6: case 0xdb:
				if (!fuzz_be(p, n, &i, 4, &skip))
					return false;
				break;
			case 0xc7: case 0xc8: case 0xc9:   /* ext: length, type */
				if (!fuzz_be(p, n, &i, (size_t)1 << (c - 0xc7), &v))
					return false;
				skip = v + 1;
				break;
			case 0xdc: case 0xdd:
				if (!fuzz_be(p, n, &i, c == 0xdc ? 2 : 4, &cnt))
					return false;
				break;
			case 0xde: case 0xdf:
				if (!fuzz_be(p, n, &i, c == 0xde ? 2 : 4, &v))
					return false;
				cnt = 2 * v;
				break;
			default:   /* 0xc1: never used */
				return false;
			}
		}
		if (skip > n - i)
			return false;
		i += (size_t)skip;
		pending += cnt;
		if (pending > n - i)
			return false;
	}
	return true;
}

/* An id text from jreq_id_from_msgpack or jreq_parse. */
static void
fuzz_check_id(const char *id, int len)
{
	FUZZ_CHECK(len >= 1 && len <= JREQ_ID_JSON_MAX);
	FUZZ_CHECK(strlen(id) == (size_t)len);
	FUZZ_CHECK(utf8_valid(id, (size_t)len));
}

/* Render a packed params array; returns its element count. */
static uint32_t
fuzz_render_params(const msgpack_sbuffer *params, msgpack_sbuffer *out,
    bool ids)
{
	char id[JREQ_ID_JSON_MAX + 1];
	msgpack_unpacked u;
	size_t off = 0;
	uint32_t n, i;
	int len;

	msgpack_unpacked_init(&u);
	FUZZ_CHECK(msgpack_unpack_next(&u, params->data, params->size, &off) ==
	    MSGPACK_UNPACK_SUCCESS);
	FUZZ_CHECK(off == params->size);
	FUZZ_CHECK(u.data.type == MSGPACK_OBJECT_ARRAY);
	n = u.data.via.array.size;
	msgpack_sbuffer_clear(out);
	FUZZ_CHECK(json_from_msgpack(out, &u.data) == 0);
	FUZZ_CHECK(utf8_valid(out->data, out->size));
	/* .cancel takes its target from params[0]: any element may be one */
	for (i = 0; ids && i < n && i < 8; i++)
		if ((len = jreq_id_from_msgpack(&u.data.via.array.ptr[i], id)) >= 0)
			fuzz_check_id(id, len);
	msgpack_unpacked_destroy(&u);
	return n;
}

static void
fuzz_message(const char *data, size_t size)
{
	static const char head[] = "{\"method\":\"m\",\"params\":";
	msgpack_sbuffer params, out, again, msg;
	struct jreq req;
	enum jreq_status st;
	uint32_t n;

	msgpack_sbuffer_init(&params);
	msgpack_sbuffer_init(&out);
	msgpack_sbuffer_init(&again);
	msgpack_sbuffer_init(&msg);

	st = jreq_parse(&req, data, size, &params);
	FUZZ_CHECK(st >= JREQ_OK && st <= JREQ_TOO_DEEP);
	FUZZ_CHECK((st == JREQ_OK) == (req.error == NULL));
	FUZZ_CHECK(req.method_len <= JREQ_METHOD_MAX);
	FUZZ_CHECK(strlen(req.method) == req.method_len);
	if (req.has_id)
		fuzz_check_id(req.id_json, (int)req.id_len);
	if (st != JREQ_OK && st != JREQ_BAD_PARAMS && st != JREQ_TOO_DEEP)
		FUZZ_CHECK(!req.has_id);
	n = fuzz_render_params(&params, &out, st == JREQ_OK);
	FUZZ_CHECK(n == (st == JREQ_OK ? req.nparams : 0));

	/* What we write reads back as the same params, and writes the same. */
	if (st == JREQ_OK) {
		FUZZ_CHECK(json_put_raw(&msg, head, sizeof(head) - 1) == 0);
		FUZZ_CHECK(json_put_raw(&msg, out.data, out.size) == 0);
		FUZZ_CHECK(json_put_raw(&msg, "}", 1) == 0);
		FUZZ_CHECK(jreq_parse(&req, msg.data, msg.size, &params) == JREQ_OK);
		FUZZ_CHECK(req.nparams == n);
		fuzz_render_params(&params, &again, false);
		FUZZ_CHECK(again.size == out.size);
		FUZZ_CHECK(memcmp(again.data, out.data, out.size) == 0);
	}

	msgpack_sbuffer_destroy(&params);
	msgpack_sbuffer_destroy(&out);
	msgpack_sbuffer_destroy(&again);
	msgpack_sbuffer_destroy(&msg);
}

/* The input as a run of msgpack values, each written out as JSON. */
static void
fuzz_msgpack(const char *data, size_t size)
{
	char id[JREQ_ID_JSON_MAX + 1];
	msgpack_sbuffer out;
	msgpack_unpacked u;
	size_t off = 0;
	int k, len;

	msgpack_sbuffer_init(&out);
	msgpack_unpacked_init(&u);
	for (k = 0; k < 64 && off < size; k++) {
		if (!fuzz_plausible((const unsigned char *)data + off, size - off))
			break;
		if (msgpack_unpack_next(&u, data, size, &off) != MSGPACK_UNPACK_SUCCESS)
			break;
		msgpack_sbuffer_clear(&out);
		FUZZ_CHECK(json_from_msgpack(&out, &u.data) == 0);
		FUZZ_CHECK(utf8_valid(out.data, out.size));
		if ((len = jreq_id_from_msgpack(&u.data, id)) >= 0)
			fuzz_check_id(id, len);
	}
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&out);
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
	fuzz_message(copy, size);
	fuzz_msgpack(copy, size);
	free(copy);
	return 0;
}
