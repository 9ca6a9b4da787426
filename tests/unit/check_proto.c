/*
 * check_proto.c: unit tests for proto/: every message type written and read
 * back, big batches, every kind of malformed batch with its exact error,
 * bin values, and reasons in both directions.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wspool.h>

#include "proto/proto.h"

/* ---- Helpers ------------------------------------------------------------------ */

/* Packed values used as params, results, args and reasons. */
#define V_PARAMS "\x92\x01\xa1" "a"           /* [1, "a"] */
#define V_JPARAMS "[1,\"a\"]"                  /* params as JSON text */
#define V_RESULT "\x81\xa2" "ok" "\xc3"       /* {"ok": true} */
#define V_ARG "\xa3" "arg"                    /* "arg" */
#define V_DATA "\x90"                         /* [] */
#define V_TIMEOUT "\x81\xa4" "kind" "\xa7" "timeout" /* {"kind": "timeout"} */
#define LEN(s) (sizeof(s) - 1)

#define UUID "0b7e3c1e-6f3e-4d61-9a43-3d1f1f0c8a11"

/* A batch being written into a growing buffer. */
struct batch {
	msgpack_sbuffer sb;
	struct proto_writer w;
};

static void
batch_init(struct batch *b)
{
	msgpack_sbuffer_init(&b->sb);
	ck_assert_int_eq(proto_writer_init(&b->w, &b->sb, msgpack_sbuffer_write), 0);
}

static void
batch_fini(struct batch *b)
{
	msgpack_sbuffer_destroy(&b->sb);
}

/* A raw msgpack buffer packed by hand, for input the writer never makes. */
struct raw {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
raw_init(struct raw *r)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

/*
 * Pack values from a format: u uint64_t, i int64_t, s str (C string),
 * S str (pointer, size_t), b bin (C string of packed bytes), B bin
 * (pointer, size_t), n nil, t true, f false, d double, [N an array of N
 * values and {N a map of N pairs (N one digit); spaces are skipped.
 */
static void
raw_vpack(struct raw *r, const char *fmt, va_list ap)
{
	msgpack_packer *pk = &r->pk;
	const char *s;
	size_t len;

	for (; *fmt != '\0'; fmt++) {
		switch (*fmt) {
		case ' ':
			break;
		case 'u':
			msgpack_pack_uint64(pk, va_arg(ap, uint64_t));
			break;
		case 'i':
			msgpack_pack_int64(pk, va_arg(ap, int64_t));
			break;
		case 's':
			s = va_arg(ap, const char *);
			msgpack_pack_str_with_body(pk, s, strlen(s));
			break;
		case 'S':
			s = va_arg(ap, const char *);
			len = va_arg(ap, size_t);
			msgpack_pack_str_with_body(pk, s, len);
			break;
		case 'b':
			s = va_arg(ap, const char *);
			msgpack_pack_bin_with_body(pk, s, strlen(s));
			break;
		case 'B':
			s = va_arg(ap, const char *);
			len = va_arg(ap, size_t);
			msgpack_pack_bin_with_body(pk, s, len);
			break;
		case 'n':
			msgpack_pack_nil(pk);
			break;
		case 't':
			msgpack_pack_true(pk);
			break;
		case 'f':
			msgpack_pack_false(pk);
			break;
		case 'd':
			msgpack_pack_double(pk, va_arg(ap, double));
			break;
		case '[':
			msgpack_pack_array(pk, (size_t)(*++fmt - '0'));
			break;
		case '{':
			msgpack_pack_map(pk, (size_t)(*++fmt - '0'));
			break;
		default:
			ck_abort_msg("bad format char %c", *fmt);
		}
	}
}

static void
raw_pack(struct raw *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	raw_vpack(r, fmt, ap);
	va_end(ap);
}

static void
raw_bytes(struct raw *r, const void *p, size_t len)
{
	msgpack_sbuffer_write(&r->sb, p, len);
}

static void
raw_fini(struct raw *r)
{
	msgpack_sbuffer_destroy(&r->sb);
}

/*
 * Read a message that must fail after `ok` good envelopes, with `error`.
 * The message is copied into a buffer of exactly its size so any read past
 * the end shows under valgrind and ASan.
 */
static void
expect_error(const void *buf, size_t len, int ok, const char *error)
{
	struct proto_reader r;
	struct proto_msg m;
	char *copy = malloc(len > 0 ? len : 1);
	int i, rv;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	i = 0;
	if ((rv = proto_reader_init(&r, copy, len)) == 0)
		while ((rv = proto_reader_next(&r, &m)) == 1)
			i++;
	ck_assert_int_eq(rv, -1);
	ck_assert_int_eq(i, ok);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_str_eq(r.error, error);
	/* A reader that failed stays failed. */
	ck_assert_int_eq(proto_reader_next(&r, &m), -1);
	ck_assert_int_eq(m.type, 0);
	proto_reader_fini(&r);
	free(copy);
}

static void
raw_expect_error(struct raw *r, int ok, const char *error)
{
	expect_error(r->sb.data, r->sb.size, ok, error);
}

/* A message of the version and one envelope packed from fmt. */
static void
envelope_error(const char *error, const char *fmt, ...)
{
	struct raw r;
	va_list ap;

	raw_init(&r);
	msgpack_pack_uint64(&r.pk, PROTO_VERSION);
	va_start(ap, fmt);
	raw_vpack(&r, fmt, ap);
	va_end(ap);
	raw_expect_error(&r, 0, error);
	raw_fini(&r);
}

static void
bytes_eq(struct proto_bytes b, const char *s, size_t len)
{
	if (s == NULL) {
		ck_assert_ptr_null(b.ptr);
		ck_assert_uint_eq(b.len, 0);
		return;
	}
	ck_assert_ptr_nonnull(b.ptr);
	ck_assert_uint_eq(b.len, len);
	ck_assert_int_eq(memcmp(b.ptr, s, len), 0);
}

static void
str_eq(struct proto_bytes b, const char *s)
{
	bytes_eq(b, s, s == NULL ? 0 : strlen(s));
}

static int
obj_str_is(const msgpack_object *o, const char *s)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	    memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* What an envelope must decode to; every field of struct proto_msg. */
struct expect {
	enum proto_type type;
	uint64_t id, conn_id, call_id, seq;
	int64_t num;
	uint64_t flags;
	const char *str, *str2;  /* NULL: absent */
	const char *value;       /* NULL: absent */
	size_t value_len;
	int has_value;
	const char *value2;
	size_t value2_len;
	int obj, obj2;           /* whether obj / obj2 are set */
};

static void
msg_eq(const struct proto_msg *m, const struct expect *e)
{
	ck_assert_int_eq(m->type, e->type);
	ck_assert_uint_eq(m->id, e->id);
	ck_assert_uint_eq(m->conn_id, e->conn_id);
	ck_assert_uint_eq(m->call_id, e->call_id);
	ck_assert_uint_eq(m->seq, e->seq);
	ck_assert_int_eq(m->num, e->num);
	ck_assert_uint_eq(m->flags, e->flags);
	str_eq(m->str, e->str);
	str_eq(m->str2, e->str2);
	bytes_eq(m->value, e->value, e->value_len);
	ck_assert_int_eq(m->has_value, e->has_value);
	bytes_eq(m->value2, e->value2, e->value2_len);
	ck_assert_int_eq(m->obj != NULL, e->obj);
	ck_assert_int_eq(m->obj2 != NULL, e->obj2);
}

/* ---- One envelope of every type ----------------------------------------------- */

#define NALL 22

static const char *const hdr_names[] = { "host", "user-agent" };
static const char *const hdr_values[] = { "example.com", "" };
static const struct proto_route_info routes[] = {
	{ "add", WSPOOL_REQUEST, 500, PROTO_ROUTE_IDEMPOTENT },
	{ "ticks", WSPOOL_SUBSCRIPTION, 0, 0 },
};
static const char *const cleanups[] = { "unlock" };

/* Write one envelope of every type; bounds[i]: size after envelope i - 1. */
static void
build_all(struct batch *b, size_t bounds[NALL + 1])
{
	struct proto_writer *w = &b->w;
	int n = 0;

	bounds[n++] = b->sb.size;
#define PUT(call) do { ck_assert_int_eq((call), 0); bounds[n++] = b->sb.size; } while (0)
	PUT(proto_put_call(w, 7, 9, "add", 3, V_PARAMS, LEN(V_PARAMS), NULL, 0,
	    PROTO_CALL_NOTIFY));
	PUT(proto_put_call(w, 8, 9, "echo", 4, V_JPARAMS, LEN(V_JPARAMS),
	    "\"x\"", 3, 0));
	PUT(proto_put_cancel(w, 7, V_TIMEOUT, LEN(V_TIMEOUT)));
	PUT(proto_put_conn_open(w, 9, UUID, "10.0.0.1", hdr_names, hdr_values, 2));
	PUT(proto_put_conn_close(w, 9));
	PUT(proto_put_defer_ack(w, 7, 3));
	PUT(proto_put_cleanup(w, 11, 7, 3, 2, "add", "unlock", V_ARG, LEN(V_ARG),
	    V_TIMEOUT, LEN(V_TIMEOUT)));
	PUT(proto_put_drain(w));
	PUT(proto_put_credit(w, 8, PROTO_CREDIT_WINDOW));
	PUT(proto_put_ready(w, 4242, "h1", "demo", routes, 2, cleanups, 1, 64,
	    8));
	PUT(proto_put_result(w, 7, V_RESULT, LEN(V_RESULT)));
	PUT(proto_put_chunk(w, 8, V_RESULT, LEN(V_RESULT)));
	PUT(proto_put_chunk(w, 8, NULL, 0));
	PUT(proto_put_end(w, 8));
	PUT(proto_put_error(w, 7, 404, "not found", V_DATA, LEN(V_DATA)));
	PUT(proto_put_error(w, 7, 500, "boom", NULL, 0));
	PUT(proto_put_defer(w, 7, 3, "unlock", V_ARG, LEN(V_ARG)));
	PUT(proto_put_cleanup_done(w, 11, 0, 1, ""));
	PUT(proto_put_cleanup_done(w, 7, 3, 0, "failed"));
	PUT(proto_put_log(w, 7, -1, "hello log"));
	PUT(proto_put_hello(w, 4242, "h1", "d1"));
	PUT(proto_put_welcome(w, "ipc:///tmp/w1", "node-1", 5000));
#undef PUT
	ck_assert_int_eq(n, NALL + 1);
	ck_assert_uint_eq(b->w.count, NALL);
	ck_assert_int_eq(b->w.error, 0);
}

static const struct expect all_expect[NALL] = {
	{ .type = PROTO_CALL, .id = 7, .conn_id = 9, .str = "add", .str2 = "",
	  .value = V_PARAMS, .value_len = LEN(V_PARAMS), .has_value = 1,
	  .flags = PROTO_CALL_NOTIFY },
	{ .type = PROTO_CALL, .id = 8, .conn_id = 9, .str = "echo",
	  .str2 = "\"x\"", .value = V_JPARAMS, .value_len = LEN(V_JPARAMS),
	  .has_value = 1 },
	{ .type = PROTO_CANCEL, .id = 7, .value = V_TIMEOUT,
	  .value_len = LEN(V_TIMEOUT), .has_value = 1 },
	{ .type = PROTO_CONN_OPEN, .id = 9, .str = UUID, .str2 = "10.0.0.1",
	  .obj = 1 },
	{ .type = PROTO_CONN_CLOSE, .id = 9 },
	{ .type = PROTO_DEFER_ACK, .id = 7, .seq = 3 },
	{ .type = PROTO_CLEANUP, .id = 11, .call_id = 7, .seq = 3, .num = 2,
	  .str = "add", .str2 = "unlock",
	  .value = V_ARG, .value_len = LEN(V_ARG), .has_value = 1,
	  .value2 = V_TIMEOUT, .value2_len = LEN(V_TIMEOUT) },
	{ .type = PROTO_DRAIN },
	{ .type = PROTO_CREDIT, .id = 8, .seq = PROTO_CREDIT_WINDOW },
	{ .type = PROTO_READY, .num = 4242, .str = "h1", .str2 = "demo",
	  .obj = 1, .obj2 = 1, .seq = 64, .flags = 8 },
	{ .type = PROTO_RESULT, .id = 7, .value = V_RESULT,
	  .value_len = LEN(V_RESULT), .has_value = 1 },
	{ .type = PROTO_CHUNK, .id = 8, .value = V_RESULT,
	  .value_len = LEN(V_RESULT), .has_value = 1 },
	{ .type = PROTO_CHUNK, .id = 8 },
	{ .type = PROTO_END, .id = 8 },
	{ .type = PROTO_ERROR, .id = 7, .num = 404, .str = "not found",
	  .value = V_DATA, .value_len = LEN(V_DATA), .has_value = 1 },
	{ .type = PROTO_ERROR, .id = 7, .num = 500, .str = "boom" },
	{ .type = PROTO_DEFER, .id = 7, .seq = 3, .str = "unlock",
	  .value = V_ARG, .value_len = LEN(V_ARG), .has_value = 1 },
	{ .type = PROTO_CLEANUP_DONE, .id = 11, .seq = 0, .flags = 1, .str = "" },
	{ .type = PROTO_CLEANUP_DONE, .id = 7, .seq = 3, .flags = 0,
	  .str = "failed" },
	{ .type = PROTO_LOG, .call_id = 7, .num = -1, .str = "hello log" },
	{ .type = PROTO_HELLO, .num = 4242, .str = "h1", .str2 = "d1" },
	{ .type = PROTO_WELCOME, .str = "ipc:///tmp/w1", .str2 = "node-1",
	  .num = 5000 },
};

static void
check_conn_open_headers(const msgpack_object *o)
{
	size_t i;

	ck_assert_int_eq(o->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(o->via.map.size, 2);
	for (i = 0; i < 2; i++) {
		ck_assert(obj_str_is(&o->via.map.ptr[i].key, hdr_names[i]));
		ck_assert(obj_str_is(&o->via.map.ptr[i].val, hdr_values[i]));
	}
}

static void
check_ready(const struct proto_msg *m)
{
	const msgpack_object *e;
	size_t i;

	ck_assert_int_eq(m->obj->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(m->obj->via.array.size, 2);
	for (i = 0; i < 2; i++) {
		e = m->obj->via.array.ptr[i].via.array.ptr;
		ck_assert(obj_str_is(&e[0], routes[i].name));
		ck_assert_uint_eq(e[1].via.u64, (uint64_t)routes[i].pattern);
		ck_assert_uint_eq(e[2].via.u64, routes[i].timeout_ms);
		ck_assert_uint_eq(e[3].via.u64, routes[i].flags);
	}
	ck_assert_int_eq(m->obj2->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(m->obj2->via.array.size, 1);
	ck_assert(obj_str_is(&m->obj2->via.array.ptr[0], "unlock"));
}

/* proto_writer_direct for an sbuffer: room at its end. */
static void *
sbuffer_reserve(void *data, size_t n)
{
	msgpack_sbuffer *sb = data;
	void *p;

	if (sb->alloc - sb->size < n) {
		size_t cap = sb->alloc ? sb->alloc : 64;

		while (cap - sb->size < n)
			cap *= 2;
		if ((p = realloc(sb->data, cap)) == NULL)
			return NULL;
		sb->data = p;
		sb->alloc = cap;
	}
	p = sb->data + sb->size;
	sb->size += n;
	return p;
}

/* Encoded directly or through the packer, every envelope has the same
 * bytes, whatever its integers and lengths. */
START_TEST(test_direct_encoding)
{
	static const uint64_t ids[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	    4294967295u, 4294967296u, UINT64_MAX };
	static const int codes[] = { INT_MIN, -129, -128, -33, -32, -1, 0, 400,
	    599, 70000, INT_MAX };
	static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536 };
	char *blob = calloc(1, 70000);
	msgpack_sbuffer a, b;
	struct proto_writer wa, wb;

	ck_assert_ptr_nonnull(blob);
	memset(blob, 'x', 69999);
	msgpack_sbuffer_init(&a);
	msgpack_sbuffer_init(&b);
	ck_assert_int_eq(proto_writer_init(&wa, &a, msgpack_sbuffer_write), 0);
	ck_assert_int_eq(proto_writer_init(&wb, &b, msgpack_sbuffer_write), 0);
	proto_writer_direct(&wb, sbuffer_reserve);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			size_t l = lens[j], sl = l > 1000 ? 1000 : l;
			struct proto_writer *w[2] = { &wa, &wb };

			for (int k = 0; k < 2; k++) {
				ck_assert_int_eq(proto_put_call(w[k], ids[i],
				    ids[(i + 3) % 11], blob, sl, blob, l,
				    j % 2 ? NULL : blob, sl, ids[(i + 5) % 11]),
				    0);
				ck_assert_int_eq(proto_put_result(w[k], ids[i],
				    blob, l), 0);
				ck_assert_int_eq(proto_put_chunk(w[k], ids[i],
				    j % 2 ? NULL : blob, l), 0);
				ck_assert_int_eq(proto_put_error(w[k], ids[i],
				    codes[i], j % 2 ? NULL : blob, j % 3 ? NULL :
				    blob, l), 0);
			}
			ck_assert_uint_eq(a.size, b.size);
			ck_assert_int_eq(memcmp(a.data, b.data, a.size), 0);
		}
	}
	ck_assert_uint_eq(wa.count, wb.count);
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
	free(blob);
}
END_TEST

/* Both ways of reading (the direct fast path, and msgpack-c's, forced by
 * r.slow) give the same envelopes. */
START_TEST(test_roundtrip_all)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	size_t bounds[NALL + 1];
	int i;

	batch_init(&b);
	build_all(&b, bounds);
	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	r.slow = _i;
	for (i = 0; i < NALL; i++) {
		ck_assert_int_eq(proto_reader_next(&r, &m), 1);
		msg_eq(&m, &all_expect[i]);
		if (m.type == PROTO_CONN_OPEN)
			check_conn_open_headers(m.obj);
		if (m.type == PROTO_READY)
			check_ready(&m);
		ck_assert_uint_eq(r.off, bounds[i + 1]);
	}
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	ck_assert_ptr_null(r.error);
	/* The end is sticky too. */
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	batch_fini(&b);
}
END_TEST

/* Extreme integers and empty strings survive the trip. */
START_TEST(test_roundtrip_limits)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;

	batch_init(&b);
	ck_assert_int_eq(proto_put_call(&b.w, UINT64_MAX, 0, "", 0, "\xc0", 1,
	    "", 0, UINT64_MAX), 0);
	ck_assert_int_eq(proto_put_call(&b.w, 0, UINT64_MAX, NULL, 0, "\xc0", 1,
	    NULL, 0, 0), 0);
	ck_assert_int_eq(proto_put_error(&b.w, UINT64_MAX, INT_MIN, NULL, NULL, 0), 0);
	ck_assert_int_eq(proto_put_log(&b.w, UINT64_MAX, INT_MAX, NULL), 0);
	ck_assert_int_eq(proto_put_hello(&b.w, INT64_MAX, "", NULL), 0);
	ck_assert_int_eq(proto_put_ready(&b.w, 0, "h", "m", NULL, 0, NULL, 0,
	    UINT64_MAX, UINT64_MAX), 0);
	ck_assert_int_eq(proto_put_defer_ack(&b.w, UINT64_MAX, UINT64_MAX), 0);
	ck_assert_int_eq(proto_put_conn_open(&b.w, 1, "", "", NULL, NULL, 0), 0);
	/* An empty bin is a legal envelope; proto_unpack_value rejects it. */
	ck_assert_int_eq(proto_put_result(&b.w, 1, NULL, 0), 0);

	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_CALL, .id = UINT64_MAX,
	    .str = "", .str2 = "", .value = "\xc0", .value_len = 1,
	    .has_value = 1, .flags = UINT64_MAX });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_CALL, .conn_id = UINT64_MAX,
	    .str = "", .str2 = "", .value = "\xc0", .value_len = 1,
	    .has_value = 1 });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_ERROR, .id = UINT64_MAX,
	    .num = INT_MIN, .str = "" });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_LOG, .call_id = UINT64_MAX,
	    .num = INT_MAX, .str = "" });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_HELLO, .num = INT64_MAX,
	    .str = "", .str2 = "" });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_READY, .str = "h",
	    .str2 = "m", .obj = 1, .obj2 = 1, .seq = UINT64_MAX,
	    .flags = UINT64_MAX });
	ck_assert_uint_eq(m.obj->via.array.size, 0);
	ck_assert_uint_eq(m.obj2->via.array.size, 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_DEFER_ACK, .id = UINT64_MAX,
	    .seq = UINT64_MAX });
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	msg_eq(&m, &(struct expect){ .type = PROTO_CONN_OPEN, .id = 1,
	    .str = "", .str2 = "", .obj = 1 });
	ck_assert_uint_eq(m.obj->via.map.size, 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.type, PROTO_RESULT);
	ck_assert_int_eq(m.has_value, 1);
	ck_assert_uint_eq(m.value.len, 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	batch_fini(&b);
}
END_TEST

START_TEST(test_batch_1000)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	uint64_t i;

	batch_init(&b);
	for (i = 0; i < 1000; i++) {
		if (i % 2 == 0)
			ck_assert_int_eq(proto_put_call(&b.w, i, i / 2, "add", 3,
			    V_PARAMS, LEN(V_PARAMS), "7", 1, 0), 0);
		else
			ck_assert_int_eq(proto_put_result(&b.w, i, V_RESULT,
			    LEN(V_RESULT)), 0);
	}
	ck_assert_uint_eq(b.w.count, 1000);
	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(proto_reader_next(&r, &m), 1);
		ck_assert_uint_eq(m.id, i);
		if (i % 2 == 0) {
			msg_eq(&m, &(struct expect){ .type = PROTO_CALL, .id = i,
			    .conn_id = i / 2, .str = "add", .str2 = "7",
			    .value = V_PARAMS,
			    .value_len = LEN(V_PARAMS), .has_value = 1 });
		} else {
			msg_eq(&m, &(struct expect){ .type = PROTO_RESULT, .id = i,
			    .value = V_RESULT, .value_len = LEN(V_RESULT),
			    .has_value = 1 });
		}
	}
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	batch_fini(&b);
}
END_TEST

/* ---- Malformed batches -------------------------------------------------------- */

START_TEST(test_version)
{
	struct proto_reader rd;
	struct raw r;

	expect_error("", 0, 0, "empty message");
	/* The size is checked before any byte is read. */
	ck_assert_int_eq(proto_reader_init(&rd, "\x01", PROTO_MAX_BATCH + 1), -1);
	ck_assert_str_eq(rd.error, "message too large");
	proto_reader_fini(&rd);
	expect_error("\x04", 1, 0, "message has no envelope");
	expect_error("\x05\x91\x07", 3, 0, "wrong protocol version");
	expect_error("\x03\x91\x07", 3, 0, "wrong protocol version");
	expect_error("\x02\x91\x07", 3, 0, "wrong protocol version");
	expect_error("\x01\x91\x07", 3, 0, "wrong protocol version");
	expect_error("\x00\x91\x07", 3, 0, "wrong protocol version");
	expect_error("\xff\x91\x07", 3, 0, "version is not an integer");
	expect_error("\xa1" "1\x91\x07", 4, 0, "version is not an integer");
	expect_error("\x91\x01\x91\x07", 4, 0, "version is not an integer");
	expect_error("\xcd\x00", 2, 0, "truncated message");
	expect_error("\xc1\x91\x07", 3, 0, "invalid msgpack");
	/* A long encoding of 4 is still version 4. */
	expect_error("\xcf\0\0\0\0\0\0\0\x04\x91\x09", 11, 0,
	    "unknown message type");

	raw_init(&r);
	msgpack_pack_uint64(&r.pk, (uint64_t)PROTO_VERSION + 1u);
	raw_pack(&r, "[1u", (uint64_t)PROTO_DRAIN);
	raw_expect_error(&r, 0, "wrong protocol version");
	raw_fini(&r);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint64_t unknown[] = { 0, 9, 31, 40, 63, 67, 71, 73, 1000,
	    UINT64_MAX };
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		envelope_error("unknown message type", "[1u", unknown[i]);
	envelope_error("unknown message type", "[1i", (int64_t)-7);
	envelope_error("unknown message type", "[1s", "call");
	envelope_error("unknown message type", "[1n");
	envelope_error("unknown message type", "[2[1u u", (uint64_t)7, (uint64_t)1);
	envelope_error("envelope is not an array", "[0");
	envelope_error("envelope is not an array", "{1uu", (uint64_t)7, (uint64_t)1);
	envelope_error("envelope is not an array", "u", (uint64_t)7);
	envelope_error("envelope is not an array", "b", "\x91\x07");
}
END_TEST

/* Every prefix of a valid batch: a clean error or fewer envelopes. */
START_TEST(test_truncated_prefixes)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	size_t bounds[NALL + 1], len;
	char *copy;
	int k, i, rv;

	batch_init(&b);
	build_all(&b, bounds);
	for (len = 0; len < b.sb.size; len++) {
		/* Exactly len bytes, so reading past them shows in valgrind. */
		copy = malloc(len > 0 ? len : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b.sb.data, len);
		for (k = 0; k <= NALL && bounds[k] <= len; k++)
			;
		k--; /* envelopes wholly inside the prefix */
		rv = proto_reader_init(&r, copy, len);
		if (len == 0) {
			ck_assert_int_eq(rv, -1);
			ck_assert_str_eq(r.error, "empty message");
		} else if (len == bounds[0]) {
			ck_assert_int_eq(rv, -1);
			ck_assert_str_eq(r.error, "message has no envelope");
		} else {
			ck_assert_int_eq(rv, 0);
			for (i = 0; i < k; i++) {
				ck_assert_int_eq(proto_reader_next(&r, &m), 1);
				msg_eq(&m, &all_expect[i]);
			}
			rv = proto_reader_next(&r, &m);
			if (len == bounds[k]) {
				ck_assert_int_eq(rv, 0);
			} else {
				ck_assert_int_eq(rv, -1);
				ck_assert_str_eq(r.error, "truncated message");
			}
		}
		proto_reader_fini(&r);
		free(copy);
	}
	batch_fini(&b);
}
END_TEST

START_TEST(test_oversized_string)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	struct raw raw;
	char *big = malloc(PROTO_MAX_STR + 2);
	const char *names[1] = { "x-big" };
	const char *values[1];
	size_t size;

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', PROTO_MAX_STR + 1);
	big[PROTO_MAX_STR + 1] = '\0';

	/* Exactly the limit passes; one more byte does not. */
	raw_init(&raw);
	msgpack_pack_uint64(&raw.pk, PROTO_VERSION);
	raw_pack(&raw, "[4uSsu", (uint64_t)PROTO_WELCOME, big,
	    (size_t)PROTO_MAX_STR, "n", (uint64_t)0);
	ck_assert_int_eq(proto_reader_init(&r, raw.sb.data, raw.sb.size), 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_uint_eq(m.str.len, PROTO_MAX_STR);
	proto_reader_fini(&r);
	raw_fini(&raw);

	raw_init(&raw);
	msgpack_pack_uint64(&raw.pk, PROTO_VERSION);
	raw_pack(&raw, "[4uSsu", (uint64_t)PROTO_WELCOME, big,
	    (size_t)PROTO_MAX_STR + 1, "n", (uint64_t)0);
	raw_expect_error(&raw, 0, "string too long");
	raw_fini(&raw);

	raw_init(&raw);
	msgpack_pack_uint64(&raw.pk, PROTO_VERSION);
	raw_pack(&raw, "[5uuss{1sS", (uint64_t)PROTO_CONN_OPEN, (uint64_t)1,
	    UUID, "::1", "x-big", big, (size_t)PROTO_MAX_STR + 1);
	raw_expect_error(&raw, 0, "header is not a string");
	raw_fini(&raw);

	raw_init(&raw);
	msgpack_pack_uint64(&raw.pk, PROTO_VERSION);
	raw_pack(&raw, "[8uussn[1Suu", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", big, (size_t)PROTO_MAX_STR + 1, (uint64_t)0, (uint64_t)0);
	/* routes nil fails first: check the cleanup name on its own. */
	raw_expect_error(&raw, 0, "routes are not an array");
	raw_fini(&raw);

	raw_init(&raw);
	msgpack_pack_uint64(&raw.pk, PROTO_VERSION);
	raw_pack(&raw, "[8uuss[0[1Suu", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", big, (size_t)PROTO_MAX_STR + 1, (uint64_t)0, (uint64_t)0);
	raw_expect_error(&raw, 0, "cleanup name is not a string");
	raw_fini(&raw);

	/* The writer refuses over-long identifiers and leaves the batch
	 * untouched. */
	batch_init(&b);
	ck_assert_int_eq(proto_put_end(&b.w, 1), 0);
	size = b.sb.size;
	ck_assert_int_eq(proto_put_call(&b.w, 1, 1, big, PROTO_MAX_STR + 1,
	    "\xc0", 1, NULL, 0, 0), -1);
	ck_assert_int_eq(proto_put_call(&b.w, 1, 1, "r", 1, "\xc0", 1, big,
	    PROTO_MAX_STR + 1, 0), -1);
	ck_assert_int_eq(proto_put_welcome(&b.w, big, "n", 0), -1);
	ck_assert_int_eq(proto_put_welcome(&b.w, "a", big, 0), -1);
	ck_assert_int_eq(proto_put_welcome(&b.w, "a", "n",
	    (uint64_t)INT64_MAX + 1), -1);
	ck_assert_int_eq(proto_put_hello(&b.w, 1, big, "d"), -1);
	ck_assert_int_eq(proto_put_hello(&b.w, 1, "h", big), -1);
	ck_assert_int_eq(proto_put_defer(&b.w, 1, 1, big, "\xc0", 1), -1);
	ck_assert_int_eq(proto_put_cleanup(&b.w, 1, 1, 1, 1, "r", big, "\xc0", 1,
	    "\xc0", 1), -1);
	ck_assert_int_eq(proto_put_cleanup(&b.w, 1, 1, 1, 0, "r", "n", "\xc0", 1,
	    "\xc0", 1), -1);
	ck_assert_int_eq(proto_put_ready(&b.w, 1, "h", big, NULL, 0, NULL, 0, 1,
	    0), -1);
	ck_assert_int_eq(proto_put_ready(&b.w, 1, "h", "m", NULL, 0,
	    (const char *const *)&big, 1, 1, 0), -1);
	ck_assert_int_eq(proto_put_ready(&b.w, -1, "h", "m", NULL, 0, NULL, 0, 1,
	    0), -1);
	ck_assert_int_eq(proto_put_ready(&b.w, 1, "h", "m",
	    &(struct proto_route_info){ big, 1, 0, 0 }, 1, NULL, 0, 1, 0), -1);
	ck_assert_int_eq(proto_put_ready(&b.w, 1, "h", "m",
	    &(struct proto_route_info){ "r", -1, 0, 0 }, 1, NULL, 0, 1, 0), -1);
	ck_assert_int_eq(proto_put_hello(&b.w, -1, "h", "d"), -1);
	values[0] = big;
	ck_assert_int_eq(proto_put_conn_open(&b.w, 1, UUID, "::1", names,
	    values, 1), -1);
	ck_assert_int_eq(proto_put_conn_open(&b.w, 1, big, "::1", NULL, NULL,
	    0), -1);
	/* Values over the message limit: the lengths are checked before
	 * any byte is read. */
	ck_assert_int_eq(proto_put_call(&b.w, 1, 1, "r", 1, "\xc0",
	    PROTO_MAX_MSG + 1, NULL, 0, 0), -1);
	ck_assert_int_eq(proto_put_result(&b.w, 1, "\xc0", PROTO_MAX_MSG + 1), -1);
	ck_assert_int_eq(proto_put_chunk(&b.w, 1, "\xc0", PROTO_MAX_MSG + 1), -1);
	ck_assert_int_eq(proto_put_cancel(&b.w, 1, "\xc0", PROTO_MAX_MSG + 1), -1);
	ck_assert_int_eq(proto_put_error(&b.w, 1, 500, "m", "\xc0",
	    PROTO_MAX_MSG + 1), -1);
	ck_assert_int_eq(proto_put_defer(&b.w, 1, 1, "n", "\xc0",
	    PROTO_MAX_MSG + 1), -1);
	ck_assert_int_eq(proto_put_cleanup(&b.w, 1, 1, 1, 1, "r", "n", "\xc0", 1,
	    "\xc0", PROTO_MAX_MSG + 1), -1);
	ck_assert_uint_eq(b.sb.size, size);
	ck_assert_uint_eq(b.w.count, 1);
	ck_assert_int_eq(b.w.error, 0);

	/* Text is cut instead, on a character boundary. */
	ck_assert_int_eq(proto_put_log(&b.w, 0, 1, big), 0);
	ck_assert_uint_eq(b.w.count, 2);
	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.type, PROTO_LOG);
	ck_assert_uint_eq(m.str.len, PROTO_MAX_STR);
	proto_reader_fini(&r);
	batch_fini(&b);
	free(big);
}
END_TEST

START_TEST(test_text_cut_utf8)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	/* "€" is 3 bytes and PROTO_MAX_STR is not a multiple of 3. */
	size_t n = PROTO_MAX_STR / 3 + 10, i;
	char *text = malloc(3 * n + 1);

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < n; i++)
		memcpy(text + 3 * i, "\xe2\x82\xac", 3);
	text[3 * n] = '\0';
	batch_init(&b);
	ck_assert_int_eq(proto_put_error(&b.w, 5, 500, text, NULL, 0), 0);
	ck_assert_int_eq(proto_put_cleanup_done(&b.w, 5, 1, 0, text), 0);
	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(proto_reader_next(&r, &m), 1);
		ck_assert_uint_eq(m.str.len, PROTO_MAX_STR / 3 * 3);
		ck_assert_int_eq(memcmp(m.str.ptr, text, m.str.len), 0);
	}
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	batch_fini(&b);
	free(text);
}
END_TEST

START_TEST(test_wrong_types)
{
	const uint64_t CALL = PROTO_CALL;
	const char *V = "\xc0";

	/* CALL: [1, call_id, conn_id, route, params, id, flags] */
	envelope_error("field is not a non-negative integer", "[7u i u s b n u",
	    CALL, (int64_t)-5, (uint64_t)2, "r", V, (uint64_t)0);
	envelope_error("field is not a non-negative integer", "[7u s u s b n u",
	    CALL, "1", (uint64_t)2, "r", V, (uint64_t)0);
	envelope_error("field is not a non-negative integer", "[7u u d s b n u",
	    CALL, (uint64_t)1, 2.0, "r", V, (uint64_t)0);
	envelope_error("field is not a string", "[7u u u b b n u",
	    CALL, (uint64_t)1, (uint64_t)2, "r", V, (uint64_t)0);
	envelope_error("field is not a string or nil", "[7u u u s b u u",
	    CALL, (uint64_t)1, (uint64_t)2, "r", V, (uint64_t)3, (uint64_t)0);
	envelope_error("field is not a non-negative integer", "[7u u u s b s i",
	    CALL, (uint64_t)1, (uint64_t)2, "r", V, "7", (int64_t)-1);
	envelope_error("field is not a string", "[7u u u n b n u",
	    CALL, (uint64_t)1, (uint64_t)2, V, (uint64_t)0);
	envelope_error("field is not bin", "[7u u u s s n u",
	    CALL, (uint64_t)1, (uint64_t)2, "r", "\xc0", (uint64_t)0);
	envelope_error("field is not bin", "[7u u u s n n u",
	    CALL, (uint64_t)1, (uint64_t)2, "r", (uint64_t)0);
	envelope_error("field is not a non-negative integer", "[7u u u s b n i",
	    CALL, (uint64_t)1, (uint64_t)2, "r", V, (int64_t)-1);
	/* CLEANUP: attempt counts from 1 */
	envelope_error("attempt is not a count from 1", "[9u u u u u s s b b",
	    (uint64_t)PROTO_CLEANUP, (uint64_t)1, (uint64_t)2, (uint64_t)3,
	    (uint64_t)0, "r", "n", V, V);
	envelope_error("attempt is not a count from 1", "[9u u u u u s s b b",
	    (uint64_t)PROTO_CLEANUP, (uint64_t)1, (uint64_t)2, (uint64_t)3,
	    (uint64_t)INT_MAX + 1, "r", "n", V, V);

	envelope_error("field is not bin", "[3u u n", (uint64_t)PROTO_CANCEL,
	    (uint64_t)1);
	envelope_error("field is not bin or nil", "[3u u u",
	    (uint64_t)PROTO_CHUNK, (uint64_t)1, (uint64_t)2);
	envelope_error("field is not bin or nil", "[3u u t",
	    (uint64_t)PROTO_CHUNK, (uint64_t)1);
	envelope_error("field is not a boolean", "[5u u u u s",
	    (uint64_t)PROTO_CLEANUP_DONE, (uint64_t)1, (uint64_t)0,
	    (uint64_t)1, "m");
	envelope_error("integer out of range", "[5u u u s n",
	    (uint64_t)PROTO_ERROR, (uint64_t)1, (uint64_t)INT_MAX + 1, "m");
	envelope_error("integer out of range", "[5u u i s n",
	    (uint64_t)PROTO_ERROR, (uint64_t)1, (int64_t)INT_MIN - 1, "m");
	envelope_error("field is not an integer", "[4u u s s", (uint64_t)PROTO_LOG,
	    (uint64_t)0, "info", "text");
	envelope_error("field is not a non-negative integer", "[4u i u s",
	    (uint64_t)PROTO_LOG, (int64_t)-1, (uint64_t)1, "text");
	envelope_error("field is not a non-negative integer", "[5u u s s b",
	    (uint64_t)PROTO_DEFER, (uint64_t)1, "1", "name", V);
	envelope_error("field is not a string", "[4u n s u",
	    (uint64_t)PROTO_WELCOME, "n", (uint64_t)0);
	envelope_error("field is not a string", "[4u s b u",
	    (uint64_t)PROTO_WELCOME, "ipc://x", "node", (uint64_t)0);
	envelope_error("field is not a non-negative integer", "[4u s s i",
	    (uint64_t)PROTO_WELCOME, "ipc://x", "n", (int64_t)-1);
	envelope_error("field is not a non-negative integer", "[4u i s s",
	    (uint64_t)PROTO_HELLO, (int64_t)-1, "h", "d");
	envelope_error("integer out of range", "[4u u s s",
	    (uint64_t)PROTO_HELLO, (uint64_t)INT64_MAX + 1, "h", "d");
	envelope_error("field is not a string", "[4u u s n",
	    (uint64_t)PROTO_HELLO, (uint64_t)1, "h");
	envelope_error("field is not a string", "[2u u", (uint64_t)PROTO_REFUSE,
	    (uint64_t)1);

	/* CONN_OPEN headers */
	envelope_error("headers are not a map", "[5u u s s [0",
	    (uint64_t)PROTO_CONN_OPEN, (uint64_t)1, UUID, "::1");
	envelope_error("header is not a string", "[5u u s s {1s u",
	    (uint64_t)PROTO_CONN_OPEN, (uint64_t)1, UUID, "::1", "host",
	    (uint64_t)1);
	envelope_error("header is not a string", "[5u u s s {1b s",
	    (uint64_t)PROTO_CONN_OPEN, (uint64_t)1, UUID, "::1", "host", "x");
	envelope_error("field is not a string", "[5u u n s {0",
	    (uint64_t)PROTO_CONN_OPEN, (uint64_t)1, "::1");

	/* READY routes and cleanups */
	envelope_error("routes are not an array", "[8u u s s {0 [0 u u",
	    (uint64_t)PROTO_READY, (uint64_t)1, "h", "m", (uint64_t)0,
	    (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1[3s u u [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", "add", (uint64_t)1, (uint64_t)0, (uint64_t)0,
	    (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1[4u u u u [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", (uint64_t)1, (uint64_t)1, (uint64_t)0, (uint64_t)0, (uint64_t)0,
	    (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1[4s i u u [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", "add", (int64_t)-1, (uint64_t)0, (uint64_t)0, (uint64_t)0,
	    (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1[4s u u u [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", "add", (uint64_t)1, (uint64_t)UINT32_MAX + 1, (uint64_t)0,
	    (uint64_t)0, (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1[4s u u i [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h",
	    "m", "add", (uint64_t)1, (uint64_t)0, (int64_t)-1, (uint64_t)0,
	    (uint64_t)0);
	envelope_error("route is not [name, pattern, timeout, flags]",
	    "[8u u s s [1s [0 u u", (uint64_t)PROTO_READY, (uint64_t)1, "h", "m",
	    "add", (uint64_t)0,
	    (uint64_t)0);
	envelope_error("cleanups are not an array", "[8u u s s [0 n u u",
	    (uint64_t)PROTO_READY, (uint64_t)1, "h", "m", (uint64_t)0,
	    (uint64_t)0);
	envelope_error("cleanup name is not a string", "[8u u s s [0 [2s u u u",
	    (uint64_t)PROTO_READY, (uint64_t)1, "h", "m", "ok", (uint64_t)1,
	    (uint64_t)0, (uint64_t)0);
}
END_TEST

START_TEST(test_wrong_counts)
{
	const char *V = "\xc0";

	envelope_error("wrong number of fields", "[6u u u s b u",
	    (uint64_t)PROTO_CALL, (uint64_t)1, (uint64_t)2, "r", V, (uint64_t)0);
	envelope_error("wrong number of fields", "[8u u u s b n u i",
	    (uint64_t)PROTO_CALL, (uint64_t)1, (uint64_t)2, "r", V, (uint64_t)0,
	    (int64_t)0);
	envelope_error("wrong number of fields", "[2u u", (uint64_t)PROTO_DRAIN,
	    (uint64_t)1);
	envelope_error("wrong number of fields", "[1u", (uint64_t)PROTO_END);
	envelope_error("wrong number of fields", "[1u", (uint64_t)PROTO_WELCOME);
	envelope_error("wrong number of fields", "[2u s",
	    (uint64_t)PROTO_WELCOME, "a");
	envelope_error("wrong number of fields", "[3u s s",
	    (uint64_t)PROTO_WELCOME, "a", "b");
	envelope_error("wrong number of fields", "[3u s s",
	    (uint64_t)PROTO_HELLO, "a", "b");
	envelope_error("wrong number of fields", "[2u u",
	    (uint64_t)PROTO_HEARTBEAT, (uint64_t)1);
	envelope_error("wrong number of fields", "[4u u u u",
	    (uint64_t)PROTO_CANCEL, (uint64_t)1, (uint64_t)2, (uint64_t)3);
	envelope_error("wrong number of fields", "[6u u s s b b",
	    (uint64_t)PROTO_CLEANUP, (uint64_t)1, "r", "n", V, V);
}
END_TEST

/* Bad bytes after good envelopes: the good ones come out, then -1. */
START_TEST(test_trailing_garbage)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *error;
	} tails[] = {
		{ "\xc1", 1, "invalid msgpack" },
		{ "\x07", 1, "envelope is not an array" },
		{ "\xc0", 1, "envelope is not an array" },
		{ "\x92\x23", 2, "truncated message" },
		{ "\x92\x23\xc1", 3, "invalid msgpack" },
		{ "\xdd\xff\xff\xff\xff", 5, "truncated message" },
	};
	struct batch b;
	size_t i, size;

	batch_init(&b);
	ck_assert_int_eq(proto_put_end(&b.w, 1), 0);
	ck_assert_int_eq(proto_put_end(&b.w, 2), 0);
	size = b.sb.size;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		b.sb.size = size;
		msgpack_sbuffer_write(&b.sb, tails[i].bytes, tails[i].len);
		expect_error(b.sb.data, b.sb.size, 2, tails[i].error);
	}
	/* A good envelope after a bad one is never reached. */
	b.sb.size = size;
	msgpack_sbuffer_write(&b.sb, "\x07", 1);
	ck_assert_int_eq(proto_put_end(&b.w, 3), 0);
	expect_error(b.sb.data, b.sb.size, 2, "envelope is not an array");
	batch_fini(&b);
}
END_TEST

START_TEST(test_nesting_bomb)
{
	struct raw r;
	msgpack_zone zone;
	msgpack_object o;
	struct proto_bytes bytes;
	size_t i;

	/* 100000 nested one-element arrays around a nil. */
	raw_init(&r);
	msgpack_pack_uint64(&r.pk, PROTO_VERSION);
	for (i = 0; i < 100000; i++)
		raw_bytes(&r, "\x91", 1);
	raw_bytes(&r, "\xc0", 1);
	raw_expect_error(&r, 0, "msgpack nested too deep");
	msgpack_zone_init(&zone, 1024);
	bytes.ptr = r.sb.data + 1;
	bytes.len = r.sb.size - 1;
	ck_assert_int_eq(proto_unpack_value(&bytes, &zone, &o), -1);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_NIL);
	raw_fini(&r);

	/* Containers claiming more elements than there are bytes. */
	expect_error("\x04\xdd\xff\xff\xff\xff\x07", 7, 0, "truncated message");
	expect_error("\x04\xdf\xff\xff\xff\xff\x07\x07", 8, 0, "truncated message");
	expect_error("\x04\x91\xdd\x7f\xff\xff\xff", 7, 0, "truncated message");
	bytes.ptr = "\xdd\xff\xff\xff\xff\xc0";
	bytes.len = 6;
	ck_assert_int_eq(proto_unpack_value(&bytes, &zone, &o), -1);

	/* 65535 empty arrays: legal msgpack, one byte each, not an envelope. */
	raw_init(&r);
	msgpack_pack_uint64(&r.pk, PROTO_VERSION);
	raw_bytes(&r, "\xdc\xff\xff", 3);
	for (i = 0; i < 65535; i++)
		raw_bytes(&r, "\x90", 1);
	raw_expect_error(&r, 0, "unknown message type");
	raw_fini(&r);

	/* Moderate nesting inside a value is fine. */
	raw_init(&r);
	for (i = 0; i < 20; i++)
		raw_bytes(&r, "\x91", 1);
	raw_bytes(&r, "\x2a", 1);
	bytes.ptr = r.sb.data;
	bytes.len = r.sb.size;
	ck_assert_int_eq(proto_unpack_value(&bytes, &zone, &o), 0);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
		o = o.via.array.ptr[0];
	}
	ck_assert_uint_eq(o.via.u64, 42);
	raw_fini(&r);
	msgpack_zone_destroy(&zone);
}
END_TEST

/* ---- Values ------------------------------------------------------------------- */

START_TEST(test_unpack_value)
{
	msgpack_zone zone;
	msgpack_object o;
	struct proto_bytes b;

	msgpack_zone_init(&zone, 1024);

	/* No value. */
	b.ptr = "";
	b.len = 0;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	b.ptr = NULL;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);

	/* One value. */
	b.ptr = V_PARAMS;
	b.len = LEN(V_PARAMS);
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o.via.array.size, 2);
	ck_assert_uint_eq(o.via.array.ptr[0].via.u64, 1);
	ck_assert(obj_str_is(&o.via.array.ptr[1], "a"));
	b.ptr = "\xc0";
	b.len = 1;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_NIL);

	/* Ext values (fixext 1, ext 8) are values too. */
	b.ptr = "\xd4\x05\x2a";
	b.len = 3;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_EXT);
	ck_assert_int_eq(o.via.ext.type, 5);
	ck_assert_uint_eq(o.via.ext.size, 1);
	b.ptr = "\xc7\x03\x01" "abc";
	b.len = 6;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_EXT);
	ck_assert_uint_eq(o.via.ext.size, 3);
	b.len = 5;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);

	/* Two values, or one and garbage. */
	b.ptr = "\x01\x02";
	b.len = 2;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	b.ptr = V_PARAMS "\xc0";
	b.len = LEN(V_PARAMS) + 1;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	b.ptr = "\x01\xc1";
	b.len = 2;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);

	/* Truncated and invalid. */
	b.ptr = V_PARAMS;
	b.len = LEN(V_PARAMS) - 1;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	b.ptr = "\xc1";
	b.len = 1;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	b.ptr = "\xdb\x00\x00\x10\x00" "abc";
	b.len = 8;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), -1);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_NIL);

	msgpack_zone_destroy(&zone);
}
END_TEST

/* A value inside a decoded envelope, unpacked by its consumer. */
START_TEST(test_value_in_envelope)
{
	struct batch b;
	struct proto_reader r;
	struct proto_msg m;
	msgpack_zone zone;
	msgpack_object o;

	batch_init(&b);
	ck_assert_int_eq(proto_put_result(&b.w, 1, V_RESULT, LEN(V_RESULT)), 0);
	ck_assert_int_eq(proto_put_result(&b.w, 2, "\x01\x02", 2), 0);
	msgpack_zone_init(&zone, 1024);
	ck_assert_int_eq(proto_reader_init(&r, b.sb.data, b.sb.size), 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(proto_unpack_value(&m.value, &zone, &o), 0);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_MAP);
	ck_assert(obj_str_is(&o.via.map.ptr[0].key, "ok"));
	ck_assert_int_eq(o.via.map.ptr[0].val.via.boolean, 1);
	/* The envelope is sound; only its consumer finds two values. */
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(proto_unpack_value(&m.value, &zone, &o), -1);
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	msgpack_zone_destroy(&zone);
	batch_fini(&b);
}
END_TEST

/* ---- Writer errors ------------------------------------------------------------ */

/* A sink that accepts `budget` bytes, then fails. */
struct sink {
	size_t budget;
	size_t calls;
};

static int
sink_write_cb(void *data, const char *buf, size_t len)
{
	struct sink *s = data;

	(void)buf;
	s->calls++;
	if (len > s->budget)
		return -7;
	s->budget -= len;
	return 0;
}

START_TEST(test_writer_sticky_error)
{
	struct proto_writer w;
	struct sink s = { 0, 0 };
	size_t calls;

	ck_assert_int_eq(proto_writer_init(&w, &s, sink_write_cb), -7);
	ck_assert_int_eq(w.error, -7);
	ck_assert_int_eq(proto_put_drain(&w), -7);
	ck_assert_uint_eq(w.count, 0);

	/* Fail in the middle of the second envelope. */
	s.budget = 1 + 3 + 6;
	s.calls = 0;
	ck_assert_int_eq(proto_writer_init(&w, &s, sink_write_cb), 0);
	ck_assert_int_eq(proto_put_end(&w, 1), 0);        /* 3 bytes */
	ck_assert_int_eq(proto_put_call(&w, 1, 2, "route", 5, V_PARAMS,
	    LEN(V_PARAMS), NULL, 0, 0), -7);
	ck_assert_int_eq(w.error, -7);
	ck_assert_uint_eq(w.count, 1);
	calls = s.calls;
	/* Nothing more reaches the sink. */
	ck_assert_int_eq(proto_put_end(&w, 2), -7);
	ck_assert_int_eq(proto_put_log(&w, 0, 1, "x"), -7);
	ck_assert_int_eq(proto_put_cleanup_done(&w, 1, 1, 1, "x"), -7);
	ck_assert_int_eq(proto_put_ready(&w, 1, "h", "m", routes, 2, cleanups, 1,
	    1, 0), -7);
	ck_assert_int_eq(proto_put_call(&w, 1, 2, "r", 1, "\xc0", 1, "1", 1, 0),
	    -7);
	ck_assert_int_eq(proto_put_cancel(&w, 1, "\xc0", 1), -7);
	ck_assert_int_eq(proto_put_conn_open(&w, 1, UUID, "::1", NULL, NULL, 0), -7);
	ck_assert_int_eq(proto_put_conn_close(&w, 1), -7);
	ck_assert_int_eq(proto_put_defer_ack(&w, 1, 1), -7);
	ck_assert_int_eq(proto_put_cleanup(&w, 1, 1, 1, 1, "r", "n", "\xc0", 1, "\xc0", 1), -7);
	ck_assert_int_eq(proto_put_drain(&w), -7);
	ck_assert_int_eq(proto_put_result(&w, 1, "\xc0", 1), -7);
	ck_assert_int_eq(proto_put_chunk(&w, 1, NULL, 0), -7);
	ck_assert_int_eq(proto_put_error(&w, 1, 500, "m", NULL, 0), -7);
	ck_assert_int_eq(proto_put_defer(&w, 1, 1, "n", "\xc0", 1), -7);
	ck_assert_int_eq(proto_put_hello(&w, 1, "h", "d"), -7);
	ck_assert_int_eq(proto_put_welcome(&w, "a", "n", 1), -7);
	ck_assert_int_eq(proto_put_refuse(&w, "r"), -7);
	ck_assert_int_eq(proto_put_heartbeat(&w), -7);
	ck_assert_uint_eq(s.calls, calls);
	ck_assert_uint_eq(w.count, 1);
}
END_TEST

START_TEST(test_type_names)
{
	static const struct {
		int type;
		const char *name;
	} names[] = {
		{ PROTO_CALL, "call" }, { PROTO_CANCEL, "cancel" },
		{ PROTO_CONN_OPEN, "conn_open" }, { PROTO_CONN_CLOSE, "conn_close" },
		{ PROTO_DEFER_ACK, "defer_ack" }, { PROTO_CLEANUP, "cleanup" },
		{ PROTO_DRAIN, "drain" }, { PROTO_CREDIT, "credit" },
		{ PROTO_READY, "ready" },
		{ PROTO_RESULT, "result" }, { PROTO_CHUNK, "chunk" },
		{ PROTO_END, "end" }, { PROTO_ERROR, "error" },
		{ PROTO_DEFER, "defer" }, { PROTO_CLEANUP_DONE, "cleanup_done" },
		{ PROTO_LOG, "log" }, { PROTO_HELLO, "hello" },
		{ PROTO_WELCOME, "welcome" }, { PROTO_REFUSE, "refuse" },
		{ PROTO_HEARTBEAT, "heartbeat" },
		{ 0, "?" }, { 9, "?" }, { 40, "?" }, { 67, "?" }, { 73, "?" },
		{ -1, "?" },
		{ INT_MAX, "?" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_str_eq(proto_type_name(names[i].type), names[i].name);
}
END_TEST

/* ---- Reasons ------------------------------------------------------------------ */

static const struct wspool_reason reasons[] = {
	{ .kind = WSPOOL_REASON_NONE, .status = -1 },
	{ .kind = WSPOOL_REASON_ERROR, .code = 418, .message = "teapot",
	  .status = -1 },
	{ .kind = WSPOOL_REASON_ERROR, .code = -3, .message = "",
	  .status = -1 },
	{ .kind = WSPOOL_REASON_CANCELLED, .status = -1 },
	{ .kind = WSPOOL_REASON_DISCONNECTED, .status = -1 },
	{ .kind = WSPOOL_REASON_TIMEOUT, .status = -1 },
	{ .kind = WSPOOL_REASON_CRASHED, .signal = "SIGSEGV", .status = -1,
	  .worker_pid = 12, .worker_host = "h" },
	{ .kind = WSPOOL_REASON_CRASHED, .status = 3, .worker_pid = 13,
	  .worker_host = "box.example" },
	{ .kind = WSPOOL_REASON_CRASHED, .status = -1, .worker_pid = 14,
	  .worker_host = "" },
	{ .kind = WSPOOL_REASON_LOST, .status = -1, .worker_pid = INT64_MAX,
	  .worker_host = "far" },
	{ .kind = WSPOOL_REASON_SHUTDOWN, .status = -1 },
};

static void
cstr_eq(const char *got, const char *want)
{
	if (want == NULL)
		ck_assert_ptr_null(got);
	else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, want);
	}
}

static void
reason_eq(const struct wspool_reason *got, const struct wspool_reason *want)
{
	ck_assert_int_eq(got->kind, want->kind);
	ck_assert_int_eq(got->code, want->code);
	cstr_eq(got->message, want->message);
	cstr_eq(got->signal, want->signal);
	ck_assert_int_eq(got->status, want->status);
	ck_assert_int_eq(got->worker_pid, want->worker_pid);
	cstr_eq(got->worker_host, want->worker_host);
}

START_TEST(test_reason_roundtrip)
{
	struct raw raw, pub;
	struct wspool_reason got;
	msgpack_zone zone;
	msgpack_object o;
	struct proto_bytes b;
	char *buf;
	size_t i;

	msgpack_zone_init(&zone, 1024);
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		raw_init(&raw);
		raw_init(&pub);
		ck_assert_int_eq(proto_pack_reason(&raw.pk, &reasons[i]), 0);
		ck_assert_int_eq(wspool_pack_reason(&pub.pk, &reasons[i]), 0);
		ck_assert_uint_eq(raw.sb.size, pub.sb.size);
		ck_assert_int_eq(memcmp(raw.sb.data, pub.sb.data, raw.sb.size), 0);
		b.ptr = raw.sb.data;
		b.len = raw.sb.size;
		ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
		/* A buffer the size of the packed reason is enough. */
		buf = malloc(raw.sb.size);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(proto_unpack_reason(&o, &got, buf, raw.sb.size), 0);
		reason_eq(&got, &reasons[i]);
		free(buf);
		raw_fini(&raw);
		raw_fini(&pub);
	}
	msgpack_zone_destroy(&zone);
}
END_TEST

/* The exact bytes: nil, and keys in the documented order. */
START_TEST(test_reason_bytes)
{
	struct raw got, want;

	raw_init(&got);
	ck_assert_int_eq(proto_pack_reason(&got.pk, &reasons[0]), 0);
	ck_assert_uint_eq(got.sb.size, 1);
	ck_assert_int_eq((unsigned char)got.sb.data[0], 0xc0);
	raw_fini(&got);
	raw_init(&got);
	ck_assert_int_eq(proto_pack_reason(&got.pk, NULL), 0);
	ck_assert_uint_eq(got.sb.size, 1);
	raw_fini(&got);

	raw_init(&got);
	raw_init(&want);
	ck_assert_int_eq(proto_pack_reason(&got.pk, &reasons[6]), 0);
	raw_pack(&want, "{3 s s s s s {2 s u s s", "kind", "crashed", "signal",
	    "SIGSEGV", "worker", "pid", (uint64_t)12, "host", "h");
	ck_assert_uint_eq(got.sb.size, want.sb.size);
	ck_assert_int_eq(memcmp(got.sb.data, want.sb.data, got.sb.size), 0);
	raw_fini(&got);
	raw_fini(&want);

	raw_init(&got);
	raw_init(&want);
	ck_assert_int_eq(proto_pack_reason(&got.pk, &reasons[1]), 0);
	raw_pack(&want, "{3 s s s u s s", "kind", "error", "code",
	    (uint64_t)418, "message", "teapot");
	ck_assert_uint_eq(got.sb.size, want.sb.size);
	ck_assert_int_eq(memcmp(got.sb.data, want.sb.data, got.sb.size), 0);
	raw_fini(&got);
	raw_fini(&want);

	raw_init(&got);
	raw_init(&want);
	ck_assert_int_eq(proto_pack_reason(&got.pk, &reasons[7]), 0);
	raw_pack(&want, "{3 s s s u s {2 s u s s", "kind", "crashed", "status",
	    (uint64_t)3, "worker", "pid", (uint64_t)13, "host", "box.example");
	ck_assert_uint_eq(got.sb.size, want.sb.size);
	ck_assert_int_eq(memcmp(got.sb.data, want.sb.data, got.sb.size), 0);
	raw_fini(&got);
	raw_fini(&want);

	/* Bad reasons pack nothing. */
	raw_init(&got);
	ck_assert_int_eq(proto_pack_reason(&got.pk, &(struct wspool_reason){
	    .kind = (enum wspool_reason_kind)99 }), -1);
	ck_assert_int_eq(wspool_pack_reason(&got.pk, &(struct wspool_reason){
	    .kind = WSPOOL_REASON_LOST, .worker_pid = -1 }), -1);
	ck_assert_uint_eq(got.sb.size, 0);
	raw_fini(&got);
}
END_TEST

/* A failing callback stops packing a reason and its result comes back. */
START_TEST(test_reason_write_error)
{
	struct raw full;
	msgpack_packer pk;
	struct sink s;
	size_t i, budget;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		raw_init(&full);
		ck_assert_int_eq(proto_pack_reason(&full.pk, &reasons[i]), 0);
		for (budget = 0; budget <= full.sb.size; budget++) {
			s.budget = budget;
			s.calls = 0;
			msgpack_packer_init(&pk, &s, sink_write_cb);
			ck_assert_int_eq(proto_pack_reason(&pk, &reasons[i]),
			    budget < full.sb.size ? -7 : 0);
			/* The budget is spent by now: the public one says -1. */
			ck_assert_int_eq(wspool_pack_reason(&pk, &reasons[i]), -1);
		}
		raw_fini(&full);
	}
}
END_TEST

START_TEST(test_reason_names)
{
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_NONE), "null");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_ERROR), "error");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_CANCELLED), "cancelled");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_DISCONNECTED),
	    "disconnected");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_TIMEOUT), "timeout");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_CRASHED), "crashed");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_LOST), "lost");
	ck_assert_str_eq(wspool_reason_name(WSPOOL_REASON_SHUTDOWN), "shutdown");
	ck_assert_str_eq(wspool_reason_name((enum wspool_reason_kind)8), "?");
	ck_assert_str_eq(wspool_reason_name((enum wspool_reason_kind)-1), "?");
}
END_TEST

/* Unpack a reason packed from fmt; it must fail and leave a NONE reason. */
static void
reason_malformed(const char *fmt, ...)
{
	struct raw raw;
	msgpack_zone zone;
	msgpack_object o;
	struct proto_bytes b;
	struct wspool_reason r;
	char buf[256];
	va_list ap;

	raw_init(&raw);
	va_start(ap, fmt);
	raw_vpack(&raw, fmt, ap);
	va_end(ap);
	msgpack_zone_init(&zone, 1024);
	b.ptr = raw.sb.data;
	b.len = raw.sb.size;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(proto_unpack_reason(&o, &r, buf, sizeof(buf)), -1);
	reason_eq(&r, &reasons[0]);
	msgpack_zone_destroy(&zone);
	raw_fini(&raw);
}

START_TEST(test_reason_malformed)
{
	const uint64_t one = 1;

	/* Not a map. */
	reason_malformed("u", one);
	reason_malformed("t");
	reason_malformed("s", "timeout");
	reason_malformed("[1s", "timeout");
	/* Kind: missing, unknown, wrong type, "null" (NONE is nil only). */
	reason_malformed("{0");
	reason_malformed("{1s s", "code", "x");
	reason_malformed("{1s s", "kind", "nope");
	reason_malformed("{1s s", "kind", "null");
	reason_malformed("{1s s", "kind", "Timeout");
	reason_malformed("{1s u", "kind", one);
	reason_malformed("{1s b", "kind", "timeout");
	reason_malformed("{1u s", one, "timeout");
	/* Keys: unknown, duplicate, not for this kind. */
	reason_malformed("{2s s s u", "kind", "timeout", "bogus", one);
	reason_malformed("{2s s s s", "kind", "timeout", "kind", "timeout");
	reason_malformed("{2s s s u", "kind", "timeout", "code", one);
	reason_malformed("{2s s s s", "kind", "cancelled", "signal", "SIGKILL");
	reason_malformed("{3s s s u s s", "kind", "lost", "status", one,
	    "worker", "w");
	/* error: code and message required, with their types. */
	reason_malformed("{1s s", "kind", "error");
	reason_malformed("{2s s s u", "kind", "error", "code", one);
	reason_malformed("{2s s s s", "kind", "error", "message", "m");
	reason_malformed("{3s s s s s s", "kind", "error", "code", "1",
	    "message", "m");
	reason_malformed("{3s s s u s u", "kind", "error", "code", one,
	    "message", one);
	reason_malformed("{3s s s u s s", "kind", "error", "code",
	    (uint64_t)INT_MAX + 1, "message", "m");
	reason_malformed("{3s s s i s s", "kind", "error", "code",
	    (int64_t)INT_MIN - 1, "message", "m");
	reason_malformed("{3s s s u s S", "kind", "error", "code", one,
	    "message", "a\0b", (size_t)3);
	/* crashed and lost: a worker {pid, host}. */
	reason_malformed("{1s s", "kind", "crashed");
	reason_malformed("{2s s s s", "kind", "crashed", "signal", "SIGKILL");
	reason_malformed("{4s s s s s u s {2s u s s", "kind", "crashed",
	    "signal", "SIGKILL", "status", one, "worker", "pid", one, "host",
	    "h");
	reason_malformed("{3s s s i s {2s u s s", "kind", "crashed",
	    "status", (int64_t)-1, "worker", "pid", one, "host", "h");
	reason_malformed("{3s s s u s {2s u s s", "kind", "crashed",
	    "signal", one, "worker", "pid", one, "host", "h");
	reason_malformed("{2s s s {1s u", "kind", "lost", "worker", "pid", one);
	reason_malformed("{2s s s {2s i s s", "kind", "lost", "worker", "pid",
	    (int64_t)-1, "host", "h");
	reason_malformed("{2s s s {2s u s u", "kind", "lost", "worker", "pid",
	    one, "host", one);
	reason_malformed("{2s s s {2s u s u", "kind", "lost", "worker", "pid",
	    one, "pid", one);
	reason_malformed("{2s s s {3s u s s s u", "kind", "lost", "worker",
	    "pid", one, "host", "h", "x", one);
	reason_malformed("{2s s s [2u s", "kind", "lost", "worker", one, "h");
	reason_malformed("{2s s s n", "kind", "lost", "worker");
}
END_TEST

/* The string buffer: exact fit works, one byte short fails. */
START_TEST(test_reason_buffer)
{
	struct raw raw;
	struct wspool_reason r;
	msgpack_zone zone;
	msgpack_object o;
	struct proto_bytes b;
	char buf[32];
	/* "SIGSEGV" + NUL, "h" + NUL */
	size_t need = 8 + 2;

	raw_init(&raw);
	ck_assert_int_eq(proto_pack_reason(&raw.pk, &reasons[6]), 0);
	msgpack_zone_init(&zone, 1024);
	b.ptr = raw.sb.data;
	b.len = raw.sb.size;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(proto_unpack_reason(&o, &r, buf, need), 0);
	reason_eq(&r, &reasons[6]);
	ck_assert_int_eq(proto_unpack_reason(&o, &r, buf, need - 1), -1);
	reason_eq(&r, &reasons[0]);
	ck_assert_int_eq(proto_unpack_reason(&o, &r, NULL, 0), -1);
	/* Reasons without strings need no buffer. */
	msgpack_zone_clear(&zone);
	b.ptr = V_TIMEOUT;
	b.len = LEN(V_TIMEOUT);
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &o), 0);
	ck_assert_int_eq(proto_unpack_reason(&o, &r, NULL, 0), 0);
	reason_eq(&r, &reasons[5]);
	msgpack_zone_destroy(&zone);
	raw_fini(&raw);
}
END_TEST

/* ---- Suite -------------------------------------------------------------------- */

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_roundtrip_all, 0, 2);
	tcase_add_test(tc, test_direct_encoding);
	tcase_add_test(tc, test_roundtrip_limits);
	tcase_add_test(tc, test_batch_1000);
	tcase_add_test(tc, test_type_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_truncated_prefixes);
	tcase_add_test(tc, test_oversized_string);
	tcase_add_test(tc, test_text_cut_utf8);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_wrong_counts);
	tcase_add_test(tc, test_trailing_garbage);
	tcase_add_test(tc, test_nesting_bomb);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_unpack_value);
	tcase_add_test(tc, test_value_in_envelope);
	tcase_add_test(tc, test_writer_sticky_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("reasons");
	tcase_add_test(tc, test_reason_roundtrip);
	tcase_add_test(tc, test_reason_bytes);
	tcase_add_test(tc, test_reason_names);
	tcase_add_test(tc, test_reason_write_error);
	tcase_add_test(tc, test_reason_malformed);
	tcase_add_test(tc, test_reason_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
