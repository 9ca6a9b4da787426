/*
 * proto.c: the master<->worker codec. Reads a batch envelope by envelope,
 * checking each one against its type's field list, and packs envelopes in
 * place through the caller's write callback.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

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

/* What an envelope element must be. */
enum proto_kind {
	K_UINT = 1, /* non-negative integer (ids, seq, flags) */
	K_INT,      /* any int64 */
	K_INT32,    /* an int */
	K_PID,      /* non-negative int64 */
	K_ATTEMPT,  /* an attempt count: 1 to INT_MAX */
	K_STR,      /* str, at most PROTO_MAX_STR bytes */
	K_BIN,      /* bin */
	K_OPTBIN,   /* bin or nil */
	K_BOOL,
	K_HEADERS,  /* map str -> str */
	K_ROUTES,   /* array of [str, pattern, timeout_ms] */
	K_NAMES,    /* array of str */
};

/* Where it goes in struct proto_msg. */
enum proto_dest {
	D_ID = 1, D_CONN, D_CALL, D_SEQ, D_NUM, D_FLAGS, D_STR, D_STR2, D_VALUE,
	D_VALUE2, D_OBJ, D_OBJ2,
};

#define PROTO_MAX_FIELDS 8

static const struct proto_spec {
	const char *name;
	unsigned char nfields; /* elements after the type */
	struct {
		unsigned char kind;
		unsigned char dest;
	} f[PROTO_MAX_FIELDS];
} proto_specs[] = {
	[PROTO_CALL] = { "call", 5, { { K_UINT, D_ID }, { K_UINT, D_CONN },
	    { K_STR, D_STR }, { K_BIN, D_VALUE }, { K_UINT, D_FLAGS } } },
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
	[PROTO_READY] = { "ready", 5, { { K_PID, D_NUM }, { K_STR, D_STR },
	    { K_STR, D_STR2 }, { K_ROUTES, D_OBJ }, { K_NAMES, D_OBJ2 } } },
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
	[PROTO_HELLO] = { "hello", 2, { { K_PID, D_NUM }, { K_STR, D_STR } } },
	[PROTO_WELCOME] = { "welcome", 1, { { K_STR, D_STR } } },
};

#define PROTO_NSPECS (sizeof(proto_specs) / sizeof(proto_specs[0]))

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

	msgpack_zone_clear(r->unpacked.zone);
	if (proto_unpack_one(r->buf + r->off, r->len - r->off, r->unpacked.zone,
	    &r->unpacked.data, &used, &why) != 0)
		return proto_reader_fail(r, why);
	r->off += used;
	return 0;
}

int
proto_reader_init(struct proto_reader *r, const void *buf, size_t len)
{
	const msgpack_object *o = &r->unpacked.data;

	memset(r, 0, sizeof(*r));
	msgpack_unpacked_init(&r->unpacked);
	r->buf = buf;
	r->len = len;
	if (len == 0)
		return proto_reader_fail(r, "empty message");
	if (len > PROTO_MAX_MSG)
		return proto_reader_fail(r, "message too large");
	if ((r->unpacked.zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) == NULL)
		return proto_reader_fail(r, "out of memory");
	if (proto_reader_object(r) != 0)
		return -1;
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
		    o->via.array.ptr[i].via.array.size != 3)
			return "route is not [name, pattern, timeout]";
		e = o->via.array.ptr[i].via.array.ptr;
		if (!proto_is_str(&e[0]) ||
		    e[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e[1].via.u64 > INT_MAX ||
		    e[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e[2].via.u64 > UINT32_MAX)
			return "route is not [name, pattern, timeout]";
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
static const char *
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
	case K_STR:
		if (o->type != MSGPACK_OBJECT_STR)
			return "field is not a string";
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

/* ---- Writing ------------------------------------------------------------------ */

/*
 * Each helper packs only while the batch is sound and records the first
 * failure in w->error, so a put is a straight list of fields followed by
 * proto_put_close(). Nothing is allocated, so there is nothing to free on
 * the way out.
 */

static void
proto_w_uint(struct proto_writer *w, uint64_t v)
{
	if (w->error == 0)
		w->error = msgpack_pack_uint64(&w->pk, v);
}

static void
proto_w_int(struct proto_writer *w, int64_t v)
{
	if (w->error == 0)
		w->error = msgpack_pack_int64(&w->pk, v);
}

static void
proto_w_str(struct proto_writer *w, const char *s, size_t len)
{
	if (w->error == 0)
		w->error = msgpack_pack_str(&w->pk, len);
	/* Skip empty bodies: a NULL source must never reach memcpy. */
	if (w->error == 0 && len > 0)
		w->error = msgpack_pack_str_body(&w->pk, s, len);
}

static void
proto_w_bin(struct proto_writer *w, const void *v, size_t len)
{
	if (w->error == 0)
		w->error = msgpack_pack_bin(&w->pk, len);
	if (w->error == 0 && len > 0)
		w->error = msgpack_pack_bin_body(&w->pk, v, len);
}

static void
proto_w_nil(struct proto_writer *w)
{
	if (w->error == 0)
		w->error = msgpack_pack_nil(&w->pk);
}

/* Start an envelope of type and n elements after the type. */
static int
proto_put_open(struct proto_writer *w, enum proto_type type, size_t n)
{
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, n + 1);
	proto_w_uint(w, (uint64_t)type);
	return w->error;
}

static int
proto_put_close(struct proto_writer *w)
{
	if (w->error == 0)
		w->count++;
	return w->error;
}

/* Length of an identifier string, or SIZE_MAX if it is over the limit. */
static size_t
proto_id_len(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, PROTO_MAX_STR + 1);
	return n > PROTO_MAX_STR ? SIZE_MAX : n;
}

/* Length of a human-readable text, cut to the limit on a UTF-8 boundary. */
static size_t
proto_text_len(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	if ((n = strnlen(s, PROTO_MAX_STR + 1)) <= PROTO_MAX_STR)
		return n;
	/* s[n] is the first byte left out: back off if it continues a
	 * character that started before it. */
	n = PROTO_MAX_STR;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

int
proto_writer_init(struct proto_writer *w, void *data,
    msgpack_packer_write write)
{
	msgpack_packer_init(&w->pk, data, write);
	w->count = 0;
	w->error = 0;
	proto_w_uint(w, PROTO_VERSION);
	return w->error;
}

int
proto_put_call(struct proto_writer *w, uint64_t call_id, uint64_t conn_id,
    const char *route, size_t route_len, const void *params, size_t params_len,
    uint64_t flags)
{
	if (w->error != 0)
		return w->error;
	if (route_len > PROTO_MAX_STR || params_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_CALL, 5);
	proto_w_uint(w, call_id);
	proto_w_uint(w, conn_id);
	proto_w_str(w, route, route_len);
	proto_w_bin(w, params, params_len);
	proto_w_uint(w, flags);
	return proto_put_close(w);
}

int
proto_put_cancel(struct proto_writer *w, uint64_t call_id,
    const void *reason, size_t reason_len)
{
	if (w->error != 0)
		return w->error;
	if (reason_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_CANCEL, 2);
	proto_w_uint(w, call_id);
	proto_w_bin(w, reason, reason_len);
	return proto_put_close(w);
}

int
proto_put_conn_open(struct proto_writer *w, uint64_t conn_id,
    const char *uuid, const char *ip, const char *const *names,
    const char *const *values, size_t n)
{
	size_t uuid_len = proto_id_len(uuid), ip_len = proto_id_len(ip);
	size_t i;

	if (w->error != 0)
		return w->error;
	if (uuid_len == SIZE_MAX || ip_len == SIZE_MAX || n > UINT32_MAX)
		return -1;
	/* Check every header before packing, so a refusal leaves the batch
	 * as it was. */
	for (i = 0; i < n; i++)
		if (proto_id_len(names[i]) == SIZE_MAX ||
		    proto_id_len(values[i]) == SIZE_MAX)
			return -1;
	proto_put_open(w, PROTO_CONN_OPEN, 4);
	proto_w_uint(w, conn_id);
	proto_w_str(w, uuid, uuid_len);
	proto_w_str(w, ip, ip_len);
	if (w->error == 0)
		w->error = msgpack_pack_map(&w->pk, n);
	for (i = 0; i < n && w->error == 0; i++) {
		proto_w_str(w, names[i], proto_id_len(names[i]));
		proto_w_str(w, values[i], proto_id_len(values[i]));
	}
	return proto_put_close(w);
}

int
proto_put_conn_close(struct proto_writer *w, uint64_t conn_id)
{
	proto_put_open(w, PROTO_CONN_CLOSE, 1);
	proto_w_uint(w, conn_id);
	return proto_put_close(w);
}

int
proto_put_defer_ack(struct proto_writer *w, uint64_t call_id, uint64_t seq)
{
	proto_put_open(w, PROTO_DEFER_ACK, 2);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	return proto_put_close(w);
}

int
proto_put_cleanup(struct proto_writer *w, uint64_t cleanup_id,
    uint64_t call_id, uint64_t seq, uint64_t attempt, const char *route,
    const char *name, const void *arg, size_t arg_len,
    const void *reason, size_t reason_len)
{
	size_t route_len = proto_id_len(route), name_len = proto_id_len(name);

	if (w->error != 0)
		return w->error;
	if (route_len == SIZE_MAX || name_len == SIZE_MAX ||
	    arg_len > PROTO_MAX_MSG || reason_len > PROTO_MAX_MSG ||
	    attempt == 0 || attempt > INT_MAX)
		return -1;
	proto_put_open(w, PROTO_CLEANUP, 8);
	proto_w_uint(w, cleanup_id);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	proto_w_uint(w, attempt);
	proto_w_str(w, route, route_len);
	proto_w_str(w, name, name_len);
	proto_w_bin(w, arg, arg_len);
	proto_w_bin(w, reason, reason_len);
	return proto_put_close(w);
}

int
proto_put_drain(struct proto_writer *w)
{
	proto_put_open(w, PROTO_DRAIN, 0);
	return proto_put_close(w);
}

int
proto_put_ready(struct proto_writer *w, int64_t pid, const char *host,
    const char *module, const struct proto_route_info *routes, size_t nroutes,
    const char *const *cleanups, size_t ncleanups)
{
	size_t host_len = proto_id_len(host), module_len = proto_id_len(module);
	size_t i;

	if (w->error != 0)
		return w->error;
	if (pid < 0 || host_len == SIZE_MAX || module_len == SIZE_MAX ||
	    nroutes > UINT32_MAX || ncleanups > UINT32_MAX)
		return -1;
	for (i = 0; i < nroutes; i++)
		if (proto_id_len(routes[i].name) == SIZE_MAX ||
		    routes[i].pattern < 0)
			return -1;
	for (i = 0; i < ncleanups; i++)
		if (proto_id_len(cleanups[i]) == SIZE_MAX)
			return -1;
	proto_put_open(w, PROTO_READY, 5);
	proto_w_int(w, pid);
	proto_w_str(w, host, host_len);
	proto_w_str(w, module, module_len);
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, nroutes);
	for (i = 0; i < nroutes && w->error == 0; i++) {
		w->error = msgpack_pack_array(&w->pk, 3);
		proto_w_str(w, routes[i].name, proto_id_len(routes[i].name));
		proto_w_uint(w, (uint64_t)routes[i].pattern);
		proto_w_uint(w, routes[i].timeout_ms);
	}
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, ncleanups);
	for (i = 0; i < ncleanups && w->error == 0; i++)
		proto_w_str(w, cleanups[i], proto_id_len(cleanups[i]));
	return proto_put_close(w);
}

int
proto_put_result(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len)
{
	if (w->error != 0)
		return w->error;
	if (value_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_RESULT, 2);
	proto_w_uint(w, call_id);
	proto_w_bin(w, value, value_len);
	return proto_put_close(w);
}

int
proto_put_chunk(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len)
{
	if (w->error != 0)
		return w->error;
	if (value != NULL && value_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_CHUNK, 2);
	proto_w_uint(w, call_id);
	if (value == NULL)
		proto_w_nil(w);
	else
		proto_w_bin(w, value, value_len);
	return proto_put_close(w);
}

int
proto_put_end(struct proto_writer *w, uint64_t call_id)
{
	proto_put_open(w, PROTO_END, 1);
	proto_w_uint(w, call_id);
	return proto_put_close(w);
}

int
proto_put_error(struct proto_writer *w, uint64_t call_id, int code,
    const char *message, const void *data, size_t data_len)
{
	size_t message_len = proto_text_len(message);

	if (w->error != 0)
		return w->error;
	if (data != NULL && data_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_ERROR, 4);
	proto_w_uint(w, call_id);
	proto_w_int(w, code);
	proto_w_str(w, message, message_len);
	if (data == NULL)
		proto_w_nil(w);
	else
		proto_w_bin(w, data, data_len);
	return proto_put_close(w);
}

int
proto_put_defer(struct proto_writer *w, uint64_t call_id, uint64_t seq,
    const char *name, const void *arg, size_t arg_len)
{
	size_t name_len = proto_id_len(name);

	if (w->error != 0)
		return w->error;
	if (name_len == SIZE_MAX || arg_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_DEFER, 4);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	proto_w_str(w, name, name_len);
	proto_w_bin(w, arg, arg_len);
	return proto_put_close(w);
}

int
proto_put_cleanup_done(struct proto_writer *w, uint64_t id, uint64_t seq,
    int ok, const char *message)
{
	size_t message_len = proto_text_len(message);

	proto_put_open(w, PROTO_CLEANUP_DONE, 4);
	proto_w_uint(w, id);
	proto_w_uint(w, seq);
	if (w->error == 0)
		w->error = ok ? msgpack_pack_true(&w->pk) :
		    msgpack_pack_false(&w->pk);
	proto_w_str(w, message, message_len);
	return proto_put_close(w);
}

int
proto_put_log(struct proto_writer *w, uint64_t call_id, int level,
    const char *text)
{
	size_t text_len = proto_text_len(text);

	proto_put_open(w, PROTO_LOG, 3);
	proto_w_uint(w, call_id);
	proto_w_int(w, level);
	proto_w_str(w, text, text_len);
	return proto_put_close(w);
}

int
proto_put_hello(struct proto_writer *w, int64_t pid, const char *host)
{
	size_t host_len = proto_id_len(host);

	if (w->error != 0)
		return w->error;
	if (pid < 0 || host_len == SIZE_MAX)
		return -1;
	proto_put_open(w, PROTO_HELLO, 2);
	proto_w_int(w, pid);
	proto_w_str(w, host, host_len);
	return proto_put_close(w);
}

int
proto_put_welcome(struct proto_writer *w, const char *address)
{
	size_t address_len = proto_id_len(address);

	if (w->error != 0)
		return w->error;
	if (address_len == SIZE_MAX)
		return -1;
	proto_put_open(w, PROTO_WELCOME, 1);
	proto_w_str(w, address, address_len);
	return proto_put_close(w);
}
