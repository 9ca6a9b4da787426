/*
 * proto.c: the master<->worker codec, reading: a batch envelope by
 * envelope, each one checked against its type's field list. (The direct
 * path for the envelopes of calls is fast.c; writing is write.c; reasons
 * are reason.c.)
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/internal.h"
#include "proto/proto.h"

/*
 * Design notes.
 *
 * Allocation bombs: msgpack-c allocates a container's msgpack_object array
 * from the count in its header, before reading any element, so the five
 * bytes dd ff ff ff ff would ask the zone for about 100 GB. proto_scan()
 * walks the bytes of one value first and refuses any container whose
 * elements cannot fit in the bytes that remain (each takes at least one),
 * which bounds what the unpacker allocates by a small multiple of the
 * input. It also finds where the value ends, so the unpacker never looks
 * past it. Nesting depth is bounded by msgpack-c itself (32 levels).
 *
 * One zone per reader: msgpack_unpack_next() frees its zone and allocates
 * a new one on every call, two mallocs of 8 KB per envelope. The reader
 * instead keeps one zone in r->unpacked.zone for the whole message and
 * clears it between envelopes (msgpack_unpack into r->unpacked.data), so
 * steady-state decoding does not allocate.
 */

/* ---- Scanning ----------------------------------------------------------------- */

enum proto_scan_kind {
	SCAN_FIXED = 0, /* `size` bytes follow the tag */
	SCAN_RAW,       /* str, bin: a `size`-byte length, then that many bytes */
	SCAN_EXT,       /* ext: a `size`-byte length, a type byte, the data */
	SCAN_ARRAY,     /* a `size`-byte count of elements */
	SCAN_MAP,       /* a `size`-byte count of pairs */
	SCAN_BAD,       /* 0xc1: never used */
};

/* Tags 0xc0-0xdf; the other tags carry their size in the tag byte. */
static const struct proto_scan_tag {
	unsigned char kind;
	unsigned char size;
} proto_scan_tags[32] = {
	[0x00] = { SCAN_FIXED, 0 },  /* nil */
	[0x01] = { SCAN_BAD, 0 },
	[0x02] = { SCAN_FIXED, 0 },  /* false */
	[0x03] = { SCAN_FIXED, 0 },  /* true */
	[0x04] = { SCAN_RAW, 1 },    /* bin 8, 16, 32 */
	[0x05] = { SCAN_RAW, 2 },
	[0x06] = { SCAN_RAW, 4 },
	[0x07] = { SCAN_EXT, 1 },    /* ext 8, 16, 32 */
	[0x08] = { SCAN_EXT, 2 },
	[0x09] = { SCAN_EXT, 4 },
	[0x0a] = { SCAN_FIXED, 4 },  /* float 32, 64 */
	[0x0b] = { SCAN_FIXED, 8 },
	[0x0c] = { SCAN_FIXED, 1 },  /* uint 8, 16, 32, 64 */
	[0x0d] = { SCAN_FIXED, 2 },
	[0x0e] = { SCAN_FIXED, 4 },
	[0x0f] = { SCAN_FIXED, 8 },
	[0x10] = { SCAN_FIXED, 1 },  /* int 8, 16, 32, 64 */
	[0x11] = { SCAN_FIXED, 2 },
	[0x12] = { SCAN_FIXED, 4 },
	[0x13] = { SCAN_FIXED, 8 },
	[0x14] = { SCAN_FIXED, 2 },  /* fixext 1, 2, 4, 8, 16 (+ type byte) */
	[0x15] = { SCAN_FIXED, 3 },
	[0x16] = { SCAN_FIXED, 5 },
	[0x17] = { SCAN_FIXED, 9 },
	[0x18] = { SCAN_FIXED, 17 },
	[0x19] = { SCAN_RAW, 1 },    /* str 8, 16, 32 */
	[0x1a] = { SCAN_RAW, 2 },
	[0x1b] = { SCAN_RAW, 4 },
	[0x1c] = { SCAN_ARRAY, 2 },  /* array 16, 32 */
	[0x1d] = { SCAN_ARRAY, 4 },
	[0x1e] = { SCAN_MAP, 2 },    /* map 16, 32 */
	[0x1f] = { SCAN_MAP, 4 },
};

#define PROTO_SCAN_TRUNCATED -1
#define PROTO_SCAN_INVALID -2

/*
 * Find the end of the one msgpack value at the start of p. Returns 0 with
 * *endp set, PROTO_SCAN_TRUNCATED if the bytes end first (or a container
 * claims more elements than bytes remain), PROTO_SCAN_INVALID for 0xc1.
 */
static int
proto_scan(const unsigned char *p, size_t len, size_t *endp)
{
	const struct proto_scan_tag *t;
	uint64_t pending = 1; /* values still to read, all levels together */
	uint64_t n;
	size_t off = 0, i;
	unsigned char b;

	while (pending > 0) {
		/* Every pending value takes at least one byte. */
		if (pending > len - off)
			return PROTO_SCAN_TRUNCATED;
		b = p[off++];
		pending--;
		if (b <= 0x7f || b >= 0xe0)
			continue;
		if (b <= 0x8f) {
			pending += 2u * (b & 0x0fu);
			continue;
		}
		if (b <= 0x9f) {
			pending += b & 0x0fu;
			continue;
		}
		if (b <= 0xbf) {
			n = b & 0x1fu;
			if (n > len - off)
				return PROTO_SCAN_TRUNCATED;
			off += n;
			continue;
		}
		t = &proto_scan_tags[b - 0xc0];
		if (t->kind == SCAN_BAD)
			return PROTO_SCAN_INVALID;
		if (t->size > len - off)
			return PROTO_SCAN_TRUNCATED;
		if (t->kind == SCAN_FIXED) {
			off += t->size;
			continue;
		}
		for (n = 0, i = 0; i < t->size; i++)
			n = (n << 8) | p[off + i];
		off += t->size;
		switch (t->kind) {
		case SCAN_EXT:
			n++; /* the type byte */
			/* FALLTHROUGH */
		case SCAN_RAW:
			if (n > len - off)
				return PROTO_SCAN_TRUNCATED;
			off += n;
			break;
		case SCAN_MAP:
			pending += 2 * n;
			break;
		default:
			pending += n;
			break;
		}
	}
	*endp = off;
	return 0;
}

/*
 * Unpack the one value at the start of buf (len bytes) into *out, after
 * proto_scan. Returns 0 with *used set, or -1 with *why set.
 */
static int
proto_unpack_one(const char *buf, size_t len, msgpack_zone *zone,
    msgpack_object *out, size_t *used, const char **why)
{
	size_t end, off = 0;
	int rv;

	if ((rv = proto_scan((const unsigned char *)buf, len, &end)) != 0) {
		*why = rv == PROTO_SCAN_INVALID ? "invalid msgpack" :
		    "truncated message";
		return -1;
	}
	if (msgpack_unpack(buf, end, &off, zone, out) != MSGPACK_UNPACK_SUCCESS ||
	    off != end) {
		/* The scan passed, so msgpack-c refused the depth or ran
		 * out of memory. */
		*why = "msgpack nested too deep";
		return -1;
	}
	*used = end;
	return 0;
}

/* ---- Message types -------------------------------------------------------------- */

const struct proto_spec proto_specs[] = {
	[PROTO_CALL] = { "call", 6, { { K_UINT, D_ID }, { K_UINT, D_CONN },
	    { K_STR, D_STR }, { K_BIN, D_VALUE }, { K_OPTSTR, D_STR2 },
	    { K_UINT, D_FLAGS } } },
	[PROTO_CANCEL] = { "cancel", 2, { { K_UINT, D_ID },
	    { K_BIN, D_VALUE } } },
	[PROTO_CONN_OPEN] = { "conn_open", 4, { { K_UINT, D_ID },
	    { K_STR, D_STR }, { K_STR, D_STR2 }, { K_HEADERS, D_OBJ } } },
	[PROTO_CONN_CLOSE] = { "conn_close", 1, { { K_UINT, D_ID } } },
	[PROTO_DEFER_ACK] = { "defer_ack", 2, { { K_UINT, D_ID },
	    { K_UINT, D_SEQ } } },
	[PROTO_CLEANUP] = { "cleanup", 8, { { K_UINT, D_ID }, { K_UINT, D_CALL },
	    { K_UINT, D_SEQ }, { K_ATTEMPT, D_NUM }, { K_STR, D_STR },
	    { K_STR, D_STR2 }, { K_BIN, D_VALUE }, { K_BIN, D_VALUE2 } } },
	[PROTO_DRAIN] = { "drain", 0, { { 0, 0 } } },
	[PROTO_CREDIT] = { "credit", 2, { { K_UINT, D_ID },
	    { K_UINT, D_SEQ } } },
	[PROTO_READY] = { "ready", 7, { { K_PID, D_NUM }, { K_STR, D_STR },
	    { K_STR, D_STR2 }, { K_ROUTES, D_OBJ }, { K_NAMES, D_OBJ2 },
	    { K_UINT, D_SEQ }, { K_UINT, D_FLAGS } } },
	[PROTO_RESULT] = { "result", 2, { { K_UINT, D_ID },
	    { K_BIN, D_VALUE } } },
	[PROTO_CHUNK] = { "chunk", 2, { { K_UINT, D_ID },
	    { K_OPTBIN, D_VALUE } } },
	[PROTO_END] = { "end", 1, { { K_UINT, D_ID } } },
	[PROTO_ERROR] = { "error", 4, { { K_UINT, D_ID }, { K_INT32, D_NUM },
	    { K_STR, D_STR }, { K_OPTBIN, D_VALUE } } },
	[PROTO_DEFER] = { "defer", 4, { { K_UINT, D_ID }, { K_UINT, D_SEQ },
	    { K_STR, D_STR }, { K_BIN, D_VALUE } } },
	[PROTO_CLEANUP_DONE] = { "cleanup_done", 4, { { K_UINT, D_ID },
	    { K_UINT, D_SEQ }, { K_BOOL, D_FLAGS }, { K_STR, D_STR } } },
	[PROTO_LOG] = { "log", 3, { { K_UINT, D_CALL }, { K_INT32, D_NUM },
	    { K_STR, D_STR } } },
	[PROTO_HELLO] = { "hello", 3, { { K_PID, D_NUM }, { K_STR, D_STR },
	    { K_STR, D_STR2 } } },
	[PROTO_WELCOME] = { "welcome", 3, { { K_STR, D_STR }, { K_STR, D_STR2 },
	    { K_PID, D_NUM } } },
	[PROTO_REFUSE] = { "refuse", 1, { { K_STR, D_STR } } },
	[PROTO_HEARTBEAT] = { "heartbeat", 0, { { 0, 0 } } },
};

const size_t proto_nspecs = sizeof(proto_specs) / sizeof(proto_specs[0]);
#define PROTO_NSPECS proto_nspecs

const char *
proto_type_name(int type)
{
	if (type < 0 || (size_t)type >= PROTO_NSPECS ||
	    proto_specs[type].name == NULL)
		return "?";
	return proto_specs[type].name;
}

/* ---- Reading ------------------------------------------------------------------ */

static int
proto_reader_fail(struct proto_reader *r, const char *why)
{
	r->error = why;
	return -1;
}

/* Unpack the next value of the message into r->unpacked.data. */
static int
proto_reader_object(struct proto_reader *r)
{
	const char *why;
	size_t used;

	/* The zone exists only once an envelope needs the slow path. */
	if (r->unpacked.zone == NULL &&
	    (r->unpacked.zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) ==
	    NULL)
		return proto_reader_fail(r, "out of memory");
	msgpack_zone_clear(r->unpacked.zone);
	if (proto_unpack_one(r->buf + r->off, r->len - r->off, r->unpacked.zone,
	    &r->unpacked.data, &used, &why) != 0)
		return proto_reader_fail(r, why);
	r->off += used;
	return 0;
}

/* ---- Reading ------------------------------------------------------------------ */

int
proto_reader_init(struct proto_reader *r, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	const msgpack_object *o = &r->unpacked.data;
	msgpack_object v;

	memset(r, 0, sizeof(*r));
	msgpack_unpacked_init(&r->unpacked);
	r->buf = buf;
	r->len = len;
	if (len == 0)
		return proto_reader_fail(r, "empty message");
	if (len > PROTO_MAX_BATCH)
		return proto_reader_fail(r, "message too large");
	/* The version: a small integer, read directly when it is one. */
	if (len >= 2 && proto_fast_item(&p, p + len, &v) &&
	    v.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		r->off = (size_t)(p - (const unsigned char *)buf);
		o = &v;
	} else if (proto_reader_object(r) != 0) {
		return -1;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return proto_reader_fail(r, "version is not an integer");
	if (o->via.u64 != PROTO_VERSION)
		return proto_reader_fail(r, "wrong protocol version");
	if (r->off == r->len)
		return proto_reader_fail(r, "message has no envelope");
	return 0;
}

void
proto_reader_fini(struct proto_reader *r)
{
	msgpack_unpacked_destroy(&r->unpacked);
}

static int
proto_is_str(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= PROTO_MAX_STR;
}

static const char *
proto_check_headers(const msgpack_object *o)
{
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_MAP)
		return "headers are not a map";
	for (i = 0; i < o->via.map.size; i++)
		if (!proto_is_str(&o->via.map.ptr[i].key) ||
		    !proto_is_str(&o->via.map.ptr[i].val))
			return "header is not a string";
	return NULL;
}

static const char *
proto_check_routes(const msgpack_object *o)
{
	const msgpack_object *e;
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return "routes are not an array";
	for (i = 0; i < o->via.array.size; i++) {
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_ARRAY ||
		    o->via.array.ptr[i].via.array.size != 4)
			return "route is not [name, pattern, timeout, flags]";
		e = o->via.array.ptr[i].via.array.ptr;
		if (!proto_is_str(&e[0]) ||
		    e[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e[1].via.u64 > INT_MAX ||
		    e[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e[2].via.u64 > UINT32_MAX ||
		    e[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e[3].via.u64 > UINT32_MAX)
			return "route is not [name, pattern, timeout, flags]";
	}
	return NULL;
}

static const char *
proto_check_names(const msgpack_object *o)
{
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return "cleanups are not an array";
	for (i = 0; i < o->via.array.size; i++)
		if (!proto_is_str(&o->via.array.ptr[i]))
			return "cleanup name is not a string";
	return NULL;
}

/* Check one element against its kind and store it. NULL, or why not. */
const char *
proto_read_field(struct proto_msg *m, int kind, int dest,
    const msgpack_object *o)
{
	struct proto_bytes bytes = { NULL, 0 };
	uint64_t u = 0;
	int64_t i = 0;
	const char *why = NULL;

	switch (kind) {
	case K_UINT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return "field is not a non-negative integer";
		u = o->via.u64;
		break;
	case K_PID:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return "field is not a non-negative integer";
		if (o->via.u64 > INT64_MAX)
			return "integer out of range";
		i = (int64_t)o->via.u64;
		break;
	case K_ATTEMPT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.u64 == 0 || o->via.u64 > INT_MAX)
			return "attempt is not a count from 1";
		i = (int64_t)o->via.u64;
		break;
	case K_INT:
	case K_INT32:
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			if (o->via.u64 > (kind == K_INT ? INT64_MAX : INT_MAX))
				return "integer out of range";
			i = (int64_t)o->via.u64;
		} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
			if (kind == K_INT32 && o->via.i64 < INT_MIN)
				return "integer out of range";
			i = o->via.i64;
		} else
			return "field is not an integer";
		break;
	case K_OPTSTR:
		if (o->type == MSGPACK_OBJECT_NIL) {
			bytes.ptr = "";
			break;
		}
		/* FALLTHROUGH */
	case K_STR:
		if (o->type != MSGPACK_OBJECT_STR)
			return kind == K_STR ? "field is not a string" :
			    "field is not a string or nil";
		if (o->via.str.size > PROTO_MAX_STR)
			return "string too long";
		/* msgpack-c leaves ptr NULL for "": present fields get a
		 * pointer, so only absent ones are NULL. */
		bytes.ptr = o->via.str.size > 0 ? o->via.str.ptr : "";
		bytes.len = o->via.str.size;
		break;
	case K_BIN:
	case K_OPTBIN:
		if (o->type == MSGPACK_OBJECT_BIN) {
			bytes.ptr = o->via.bin.size > 0 ? o->via.bin.ptr : "";
			bytes.len = o->via.bin.size;
			if (dest == D_VALUE)
				m->has_value = 1;
		} else if (kind != K_OPTBIN || o->type != MSGPACK_OBJECT_NIL)
			return kind == K_BIN ? "field is not bin" :
			    "field is not bin or nil";
		break;
	case K_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return "field is not a boolean";
		u = o->via.boolean ? 1 : 0;
		break;
	case K_HEADERS:
		why = proto_check_headers(o);
		break;
	case K_ROUTES:
		why = proto_check_routes(o);
		break;
	case K_NAMES:
		why = proto_check_names(o);
		break;
	}
	if (why != NULL)
		return why;

	switch (dest) {
	case D_ID: m->id = u; break;
	case D_CONN: m->conn_id = u; break;
	case D_CALL: m->call_id = u; break;
	case D_SEQ: m->seq = u; break;
	case D_FLAGS: m->flags = u; break;
	case D_NUM: m->num = i; break;
	case D_STR: m->str = bytes; break;
	case D_STR2: m->str2 = bytes; break;
	case D_VALUE: m->value = bytes; break;
	case D_VALUE2: m->value2 = bytes; break;
	case D_OBJ: m->obj = o; break;
	case D_OBJ2: m->obj2 = o; break;
	}
	return NULL;
}

int
proto_reader_next(struct proto_reader *r, struct proto_msg *m)
{
	const msgpack_object *o = &r->unpacked.data;
	const msgpack_object *el;
	const struct proto_spec *spec;
	const char *why;
	unsigned i;

	memset(m, 0, sizeof(*m));
	/* After an error the rest of the message is not trusted. */
	if (r->error != NULL)
		return -1;
	if (r->off == r->len)
		return 0;
	if (proto_reader_fast(r, m) == 1)
		return 1;
	memset(m, 0, sizeof(*m));
	if (proto_reader_object(r) != 0)
		return -1;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
		return proto_reader_fail(r, "envelope is not an array");
	el = o->via.array.ptr;
	if (el[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    el[0].via.u64 >= PROTO_NSPECS ||
	    proto_specs[el[0].via.u64].name == NULL)
		return proto_reader_fail(r, "unknown message type");
	spec = &proto_specs[el[0].via.u64];
	if (o->via.array.size != 1u + spec->nfields)
		return proto_reader_fail(r, "wrong number of fields");
	m->type = (enum proto_type)el[0].via.u64;
	for (i = 0; i < spec->nfields; i++)
		if ((why = proto_read_field(m, spec->f[i].kind, spec->f[i].dest,
		    &el[i + 1])) != NULL) {
			memset(m, 0, sizeof(*m));
			return proto_reader_fail(r, why);
		}
	return 1;
}

int
proto_unpack_value(const struct proto_bytes *b, msgpack_zone *zone,
    msgpack_object *out)
{
	const char *why;
	size_t used;

	out->type = MSGPACK_OBJECT_NIL;
	if (b->ptr == NULL || b->len == 0)
		return -1;
	if (proto_unpack_one(b->ptr, b->len, zone, out, &used, &why) != 0 ||
	    used != b->len) {
		/* Also when bytes trail the value: the producer packed two
		 * values, or garbage, where one was promised. */
		out->type = MSGPACK_OBJECT_NIL;
		return -1;
	}
	return 0;
}
