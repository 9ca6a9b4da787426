/*
 * fast.c: the direct path of the master<->worker reader (proto.c is the
 * reference path).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/internal.h"
#include "proto/proto.h"

/*
 * Design note: most envelopes hold only scalars, strings and bins (CALL,
 * RESULT, CHUNK, END, ERROR, acknowledgements). For those the reader
 * decodes the bytes directly into the fields, with no zone and no object
 * tree; anything else (a map or an array field, a float, an ext, an odd
 * encoding) and every malformed envelope goes to the msgpack-c path
 * (proto_reader_object), which is the reference: the fast path only ever
 * accepts what that path accepts, with the same result, and leaves
 * failures to it so that errors read the same. r->slow forces the
 * reference path (tests compare the two).
 */

/* One scalar or raw at *pp into *o: 1, or 0 for anything else (a
 * container, a float, an ext, 0xc1, too few bytes). */
int
proto_fast_item(const unsigned char **pp, const unsigned char *end,
    msgpack_object *o)
{
	const unsigned char *p = *pp;
	size_t avail = (size_t)(end - p), k;
	uint64_t v;
	unsigned char c;

	if (avail == 0)
		return 0;
	c = *p++;
	avail--;
	if (c <= 0x7f || (c >= 0xcc && c <= 0xcf)) {
		k = c <= 0x7f ? 0 : (size_t)1 << (c - 0xcc);
		if (k > avail)
			return 0;
		for (v = c <= 0x7f ? c : 0; k > 0; k--)
			v = v << 8 | *p++;
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = v;
	} else if (c >= 0xe0 || (c >= 0xd0 && c <= 0xd3)) {
		k = c >= 0xe0 ? 0 : (size_t)1 << (c - 0xd0);
		if (k > avail)
			return 0;
		if (k == 0) {
			v = (uint64_t)(int64_t)(int8_t)c;
		} else {
			for (v = 0; k > 0; k--)
				v = v << 8 | *p++;
			k = (size_t)1 << (c - 0xd0);
			if (k < 8 && (v >> (8 * k - 1)) & 1)
				v |= ~(uint64_t)0 << (8 * k);   /* sign-extend */
		}
		if ((int64_t)v >= 0) {
			o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			o->via.u64 = v;
		} else {
			o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
			o->via.i64 = (int64_t)v;
		}
	} else if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb) ||
	    (c >= 0xc4 && c <= 0xc6)) {
		if (c <= 0xbf) {
			v = c & 0x1fu;
		} else {
			k = (size_t)1 << (c >= 0xd9 ? c - 0xd9 : c - 0xc4);
			if (k > avail)
				return 0;
			for (v = 0; k > 0; k--, avail--)
				v = v << 8 | *p++;
		}
		if (v > avail)
			return 0;
		if (c >= 0xc4 && c <= 0xc6) {
			o->type = MSGPACK_OBJECT_BIN;
			o->via.bin.size = (uint32_t)v;
			o->via.bin.ptr = (const char *)p;
		} else {
			o->type = MSGPACK_OBJECT_STR;
			o->via.str.size = (uint32_t)v;
			o->via.str.ptr = (const char *)p;
		}
		p += v;
	} else if (c == 0xc0) {
		o->type = MSGPACK_OBJECT_NIL;
	} else if (c == 0xc2 || c == 0xc3) {
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = c == 0xc3;
	} else {
		return 0;
	}
	*pp = p;
	return 1;
}

/* A non-negative integer at *pp (any width msgpack-c reads as one): 1,
 * or 0 for anything else. */
static int
proto_fast_uint(const unsigned char **pp, const unsigned char *end,
    uint64_t *v)
{
	const unsigned char *p = *pp;
	unsigned k;

	if (p == end)
		return 0;
	if (*p <= 0x7f) {
		*v = *p;
		*pp = p + 1;
		return 1;
	}
	if (*p < 0xcc || *p > 0xd3 || (*p >= 0xd0 && p + 1 < end &&
	    (p[1] & 0x80)))
		return 0;   /* not an integer, or a negative one */
	k = 1u << ((*p - 0xcc) & 3);
	if ((size_t)(end - p) < 1 + k)
		return 0;
	for (*v = 0, p++; k > 0; k--)
		*v = *v << 8 | *p++;
	*pp = p;
	return 1;
}

/* A str (bin false) or bin at *pp, or nil when nil_ok: 1 (b set, *nil
 * said), or 0 for anything else or a str over PROTO_MAX_STR. */
static int
proto_fast_raw(const unsigned char **pp, const unsigned char *end, bool bin,
    bool nil_ok, struct proto_bytes *b, bool *nil)
{
	const unsigned char *p = *pp;
	size_t n, k;

	if (p == end)
		return 0;
	*nil = false;
	if (*p == 0xc0 && nil_ok) {
		*nil = true;
		b->ptr = "";
		b->len = 0;
		*pp = p + 1;
		return 1;
	}
	if (!bin && *p >= 0xa0 && *p <= 0xbf) {
		n = *p++ & 0x1fu;
	} else {
		if (bin ? (*p < 0xc4 || *p > 0xc6) : (*p < 0xd9 || *p > 0xdb))
			return 0;
		k = (size_t)1 << (*p - (bin ? 0xc4 : 0xd9));
		if ((size_t)(end - p) < 1 + k)
			return 0;
		for (n = 0, p++; k > 0; k--)
			n = n << 8 | *p++;
	}
	if (n > (size_t)(end - p) || (!bin && n > PROTO_MAX_STR))
		return 0;
	b->ptr = n > 0 ? (const char *)p : "";
	b->len = n;
	*pp = p + n;
	return 1;
}

/* One field of the kinds every call's envelopes have, decoded straight
 * into m; others through proto_fast_item and proto_read_field. */
static int
proto_fast_field(const unsigned char **pp, const unsigned char *end,
    struct proto_msg *m, int kind, int dest)
{
	struct proto_bytes b;
	msgpack_object o;
	uint64_t u;
	bool nil;

	switch (kind) {
	case K_UINT:
		if (!proto_fast_uint(pp, end, &u))
			return 0;
		switch (dest) {
		case D_ID: m->id = u; break;
		case D_CONN: m->conn_id = u; break;
		case D_CALL: m->call_id = u; break;
		case D_SEQ: m->seq = u; break;
		default: m->flags = u; break;
		}
		return 1;
	case K_STR:
	case K_OPTSTR:
	case K_BIN:
	case K_OPTBIN:
		if (!proto_fast_raw(pp, end, kind == K_BIN || kind == K_OPTBIN,
		    kind == K_OPTSTR || kind == K_OPTBIN, &b, &nil))
			return 0;
		if (nil && kind == K_OPTBIN)
			return 1;   /* value stays absent */
		switch (dest) {
		case D_STR: m->str = b; break;
		case D_STR2: m->str2 = b; break;
		case D_VALUE2: m->value2 = b; break;
		default:
			m->value = b;
			m->has_value = 1;
			break;
		}
		return 1;
	default:
		return proto_fast_item(pp, end, &o) &&
		    proto_read_field(m, kind, dest, &o) == NULL;
	}
}

/* The next envelope, read directly: 1, or 0 to take the reference path
 * (r and m untouched but for m's fields, which the caller clears). */
int
proto_reader_fast(struct proto_reader *r, struct proto_msg *m)
{
	const unsigned char *p = (const unsigned char *)r->buf + r->off;
	const unsigned char *end = (const unsigned char *)r->buf + r->len;
	const struct proto_spec *spec;
	size_t n;
	unsigned i;

	if (r->slow || p == end)
		return 0;
	if (*p >= 0x91 && *p <= 0x9f)
		n = *p++ & 0x0fu;
	else
		return 0;
	if (p == end || *p >= proto_nspecs || proto_specs[*p].name == NULL)
		return 0;
	spec = &proto_specs[*p++];
	if (n != 1u + spec->nfields)
		return 0;
	m->type = (enum proto_type)p[-1];
	for (i = 0; i < spec->nfields; i++)
		if (spec->f[i].kind >= K_HEADERS || !proto_fast_field(&p, end,
		    m, spec->f[i].kind, spec->f[i].dest))
			return 0;
	r->off = (size_t)(p - (const unsigned char *)r->buf);
	return 1;
}

