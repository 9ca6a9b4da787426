/*
 * from_msgpack.c: one packed msgpack value written out as JSON text,
 * streaming over its bytes (see from_msgpack.h).
 *
 * Design notes. Nothing is unpacked: each item is read from the bytes and
 * written at once, so the cost is one pass and no allocation but the
 * output's. Containers are a frame on an explicit stack (bounded by
 * JSON_MSGPACK_MAX_DEPTH): how many items it still expects and, for a
 * map, whether the next one is a key. A container claiming more items
 * than bytes remain simply runs out of bytes: nothing is allocated from
 * a count. A map key that is not a string (possible in msgpack, not in
 * JSON) is written as JSON and then quoted in place when it ends, as
 * json_quote_since does, so {1: 2} becomes {"1":2}. Quoting doubles the
 * backslashes of what it quotes, so such keys nested in one another would
 * grow the text exponentially: a non-string key inside another one is
 * refused (JSON_MSGPACK_INVALID).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "json/from_msgpack.h"
#include "json/write.h"

struct json_mp_frame {
	uint64_t mf_left;       /* items still to come (a map counts keys too) */
	size_t mf_key_off;      /* where the current key's text starts */
	unsigned char mf_map;
	unsigned char mf_key;   /* a map whose next (or current) item is a key */
	unsigned char mf_key_str; /* that key is a string: already quoted */
};

static uint64_t
json_mp_be(const unsigned char *p, unsigned k)
{
	uint64_t v = 0;

	while (k-- > 0)
		v = (v << 8) | *p++;
	return v;
}

static int
json_mp_is_str(unsigned char c)
{
	return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb);
}

/* Write bin bytes as an array of numbers. */
static int
json_mp_bin(struct json_buf *out, const unsigned char *p, size_t n)
{
	char *d;

	if (n > SIZE_MAX / 4 - 2 || json_buf_room(out, 4 * n + 2) != 0)
		return -1;
	d = out->jb_data + out->jb_len;
	*d++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*d++ = ',';
		d = json_u64(d, p[i]);
	}
	*d++ = ']';
	out->jb_len = (size_t)(d - out->jb_data);
	return 0;
}

enum json_msgpack_status
json_from_msgpack(struct json_buf *out, const void *mp, size_t len)
{
	struct json_mp_frame stack[JSON_MSGPACK_MAX_DEPTH], *f;
	const unsigned char *p = mp, *end = p + len;
	enum json_msgpack_status st = JSON_MSGPACK_INVALID;
	size_t mark = out->jb_len, avail, n;
	unsigned depth = 0, k, quoting = 0;
	uint64_t count;
	unsigned char c;
	int rv, map;
	union { uint32_t u; float f; } f32;
	union { uint64_t u; double d; } f64;

	for (;;) {
		/* An item starts at p. */
		if (depth > 0 && (f = &stack[depth - 1])->mf_key) {
			f->mf_key_off = out->jb_len;
			f->mf_key_str = p < end && json_mp_is_str(*p);
			/* A key to quote inside a key to quote: refused. */
			if (!f->mf_key_str && quoting++ > 0)
				goto fail;
		}
		if (p >= end)
			goto fail;
		c = *p++;
		avail = (size_t)(end - p);
		rv = 0;
		map = -1;
		if (c <= 0x7f) {
			rv = json_put_u64(out, c);
		} else if (c >= 0xe0) {
			rv = json_put_i64(out, (int8_t)c);
		} else if (c <= 0x8f) {
			map = 1;
			count = c & 0x0fu;
		} else if (c <= 0x9f) {
			map = 0;
			count = c & 0x0fu;
		} else if (c <= 0xbf) {
			n = c & 0x1fu;
			if (n > avail)
				goto fail;
			rv = json_put_string(out, (const char *)p, n);
			p += n;
		} else {
			switch (c) {
			case 0xc0:
				rv = JSON_PUT_LIT(out, "null");
				break;
			case 0xc2:
				rv = JSON_PUT_LIT(out, "false");
				break;
			case 0xc3:
				rv = JSON_PUT_LIT(out, "true");
				break;
			case 0xc4: case 0xc5: case 0xc6:      /* bin 8, 16, 32 */
			case 0xd9: case 0xda: case 0xdb:      /* str 8, 16, 32 */
				k = 1u << (c <= 0xc6 ? c - 0xc4 : c - 0xd9);
				if (k > avail)
					goto fail;
				n = (size_t)json_mp_be(p, k);
				p += k;
				if (n > avail - k)
					goto fail;
				rv = c <= 0xc6 ? json_mp_bin(out, p, n) :
				    json_put_string(out, (const char *)p, n);
				p += n;
				break;
			case 0xc7: case 0xc8: case 0xc9:      /* ext 8, 16, 32 */
				k = 1u << (c - 0xc7);
				if (k + 1 > avail)
					goto fail;
				n = (size_t)json_mp_be(p, k);
				p += k + 1;
				if (n > avail - k - 1)
					goto fail;
				p += n;
				rv = JSON_PUT_LIT(out, "null");
				break;
			case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
				n = 1 + ((size_t)1 << (c - 0xd4)); /* fixext: type, data */
				if (n > avail)
					goto fail;
				p += n;
				rv = JSON_PUT_LIT(out, "null");
				break;
			case 0xca:
				if (avail < 4)
					goto fail;
				f32.u = (uint32_t)json_mp_be(p, 4);
				p += 4;
				rv = json_put_double(out, f32.f, true);
				break;
			case 0xcb:
				if (avail < 8)
					goto fail;
				f64.u = json_mp_be(p, 8);
				p += 8;
				rv = json_put_double(out, f64.d, false);
				break;
			case 0xcc: case 0xcd: case 0xce: case 0xcf:
				k = 1u << (c - 0xcc);
				if (k > avail)
					goto fail;
				rv = json_put_u64(out, json_mp_be(p, k));
				p += k;
				break;
			case 0xd0: case 0xd1: case 0xd2: case 0xd3:
				k = 1u << (c - 0xd0);
				if (k > avail)
					goto fail;
				count = json_mp_be(p, k);
				p += k;
				/* Sign-extend from k bytes. */
				if (k < 8 && (count >> (8 * k - 1)) & 1)
					count |= ~(uint64_t)0 << (8 * k);
				rv = json_put_i64(out, (int64_t)count);
				break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf:
				k = (c == 0xdc || c == 0xde) ? 2 : 4;
				if (k > avail)
					goto fail;
				count = json_mp_be(p, k);
				p += k;
				map = c >= 0xde;
				break;
			default:                              /* 0xc1 */
				goto fail;
			}
		}
		if (rv != 0)
			goto nomem;
		if (map >= 0) {
			if (count == 0) {
				if (json_put_raw(out, map ? "{}" : "[]", 2) != 0)
					goto nomem;
			} else {
				if (depth == JSON_MSGPACK_MAX_DEPTH) {
					st = JSON_MSGPACK_TOO_DEEP;
					goto fail;
				}
				if (json_put_raw(out, map ? "{" : "[", 1) != 0)
					goto nomem;
				f = &stack[depth++];
				f->mf_left = map ? 2 * count : count;
				f->mf_map = (unsigned char)map;
				f->mf_key = (unsigned char)map;
				continue;
			}
		}
		/* The item is complete: close every container it completes. */
		for (; depth > 0; depth--) {
			f = &stack[depth - 1];
			f->mf_left--;
			if (f->mf_map && f->mf_key) {
				/* A key ended: a value follows. */
				if (!f->mf_key_str) {
					quoting--;
					if (json_quote_since(out, f->mf_key_off) != 0)
						goto nomem;
				}
				if (json_put_raw(out, ":", 1) != 0)
					goto nomem;
				f->mf_key = 0;
				break;
			}
			if (f->mf_left > 0) {
				if (json_put_raw(out, ",", 1) != 0)
					goto nomem;
				f->mf_key = f->mf_map;
				break;
			}
			if (json_put_raw(out, f->mf_map ? "}" : "]", 1) != 0)
				goto nomem;
		}
		if (depth == 0) {
			if (p != end)
				goto fail;    /* bytes after the value */
			return JSON_MSGPACK_OK;
		}
	}
nomem:
	st = JSON_MSGPACK_NOMEM;
fail:
	out->jb_len = mark;
	return st;
}
