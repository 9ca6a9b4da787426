/*
 * fuzz_proto.c: fuzz target for proto/: reads a batch, touches every field
 * of every envelope, and unpacks every bin value (and reasons) the way the
 * master and the worker consume them. The batch is read twice, by the
 * direct fast path and by msgpack-c's (r.slow), which must agree field by
 * field, error for error.
 */
#include <stdlib.h>
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <wspool.h>

#include "fuzz/driver.h"
#include "proto/proto.h"

/* Where the touched bytes go, so the compiler keeps the reads. */
static volatile size_t fuzz_proto_sink;

/* Read every byte of a borrowed range, so ASan checks its bounds. */
static size_t
fuzz_touch(const char *p, size_t len)
{
	size_t i, sum = 0;

	for (i = 0; i < len; i++)
		sum += (unsigned char)p[i];
	return sum;
}

static size_t
fuzz_touch_bytes(const struct proto_bytes *b)
{
	return b->ptr == NULL ? 0 : fuzz_touch(b->ptr, b->len);
}

/* Walk READY routes and cleanups, CONN_OPEN headers, as consumers do. */
static size_t
fuzz_touch_obj(const msgpack_object *o)
{
	const msgpack_object *e;
	size_t sum = 0;
	uint32_t i;

	if (o == NULL)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++) {
			sum += fuzz_touch(o->via.map.ptr[i].key.via.str.ptr,
			    o->via.map.ptr[i].key.via.str.size);
			sum += fuzz_touch(o->via.map.ptr[i].val.via.str.ptr,
			    o->via.map.ptr[i].val.via.str.size);
		}
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++) {
			e = &o->via.array.ptr[i];
			if (e->type == MSGPACK_OBJECT_ARRAY) /* a route */
				sum += fuzz_touch(e->via.array.ptr[0].via.str.ptr,
				    e->via.array.ptr[0].via.str.size) +
				    e->via.array.ptr[1].via.u64 +
				    e->via.array.ptr[2].via.u64;
			else /* a cleanup name */
				sum += fuzz_touch(e->via.str.ptr, e->via.str.size);
		}
		break;
	default:
		break;
	}
	return sum;
}

/* Unpack a value; try it as a reason too (any value may be one). */
static size_t
fuzz_value(const struct proto_bytes *b, msgpack_zone *zone)
{
	struct wspool_reason reason;
	msgpack_object o;
	char buf[256];
	size_t sum = 0;

	if (b->ptr == NULL || proto_unpack_value(b, zone, &o) != 0)
		return 0;
	if (proto_unpack_reason(&o, &reason, buf, sizeof(buf)) == 0) {
		sum += (size_t)reason.kind + (size_t)reason.code +
		    (size_t)reason.status + (size_t)reason.worker_pid;
		if (reason.message != NULL)
			sum += strlen(reason.message);
		if (reason.signal != NULL)
			sum += strlen(reason.signal);
		if (reason.worker_host != NULL)
			sum += strlen(reason.worker_host);
	}
	return sum;
}

/* A broken invariant is a finding: crash so the driver reports it. */
#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

static void
fuzz_same_bytes(const struct proto_bytes *a, const struct proto_bytes *b)
{
	FUZZ_CHECK(a->len == b->len);
	FUZZ_CHECK((a->ptr == NULL) == (b->ptr == NULL));
	FUZZ_CHECK(a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* The fast path and the reference read the same envelopes. */
static void
fuzz_both_paths(const uint8_t *data, size_t size)
{
	struct proto_reader f, s;
	struct proto_msg a, b;
	int ra, rb;

	ra = proto_reader_init(&f, data, size);
	rb = proto_reader_init(&s, data, size);
	s.slow = 1;
	FUZZ_CHECK(ra == rb);
	while (ra == 0) {
		ra = proto_reader_next(&f, &a);
		rb = proto_reader_next(&s, &b);
		FUZZ_CHECK(ra == rb);
		if (ra != 1) {
			FUZZ_CHECK((f.error == NULL) == (s.error == NULL));
			FUZZ_CHECK(f.error == NULL || strcmp(f.error, s.error) == 0);
			break;
		}
		FUZZ_CHECK(f.off == s.off);
		FUZZ_CHECK(a.type == b.type && a.id == b.id &&
		    a.conn_id == b.conn_id && a.call_id == b.call_id &&
		    a.seq == b.seq && a.num == b.num && a.flags == b.flags &&
		    a.has_value == b.has_value);
		fuzz_same_bytes(&a.str, &b.str);
		fuzz_same_bytes(&a.str2, &b.str2);
		fuzz_same_bytes(&a.value, &b.value);
		fuzz_same_bytes(&a.value2, &b.value2);
		FUZZ_CHECK((a.obj == NULL) == (b.obj == NULL));
		FUZZ_CHECK((a.obj2 == NULL) == (b.obj2 == NULL));
	}
	proto_reader_fini(&f);
	proto_reader_fini(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_reader r;
	struct proto_msg m;
	msgpack_zone zone;
	size_t sum = 0;

	fuzz_both_paths(data, size);
	if (!msgpack_zone_init(&zone, 1024))
		return 0;
	if (proto_reader_init(&r, data, size) == 0) {
		while (proto_reader_next(&r, &m) == 1) {
			sum += strlen(proto_type_name((int)m.type));
			sum += m.id + m.conn_id + m.seq + (size_t)m.num + m.flags;
			sum += fuzz_touch_bytes(&m.str) + fuzz_touch_bytes(&m.str2);
			sum += fuzz_touch_obj(m.obj) + fuzz_touch_obj(m.obj2);
			sum += fuzz_value(&m.value, &zone);
			sum += fuzz_value(&m.value2, &zone);
			msgpack_zone_clear(&zone);
		}
	}
	proto_reader_fini(&r);
	msgpack_zone_destroy(&zone);
	fuzz_proto_sink = sum;
	return 0;
}
