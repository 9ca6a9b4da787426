/*
 * json.c: the JSON writer of the master: a worker's msgpack value becomes
 * JSON text for the client, written once, straight into an output buffer.
 * (The request parser, JSON -> msgpack, is request.c.)
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "master/json.h"
#include "master/utf8.h"

#include "master/utf8.h"

/* ---- output buffer helpers ------------------------------------------- */

/* Room for n more bytes in out (an sbuffer's data is realloc/free memory). */
static int
json_grow(msgpack_sbuffer *out, size_t n)
{
	size_t want;
	char *p;

	if (n > SIZE_MAX / 4 - out->size)
		return -1;
	want = out->alloc ? out->alloc : MSGPACK_SBUFFER_INIT_SIZE;
	while (want - out->size < n)
		want *= 2;
	if ((p = realloc(out->data, want)) == NULL)
		return -1;
	out->data = p;
	out->alloc = want;
	return 0;
}

static inline int
json_room(msgpack_sbuffer *out, size_t n)
{
	if (out->alloc - out->size >= n)
		return 0;
	return json_grow(out, n);
}

int
json_put_raw(msgpack_sbuffer *out, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (json_room(out, n) != 0)
		return -1;
	memcpy(out->data + out->size, s, n);
	out->size += n;
	return 0;
}

/* ---- string escaping --------------------------------------------------- */

static const char json_hex[] = "0123456789abcdef";

/*
 * Nonzero when one of the eight bytes of w needs attention: a control
 * character, '"', '\\' or a non-ASCII byte. A borrow can only flag bytes
 * above a byte that really needs attention, so "zero" is exact.
 */
static inline uint64_t
json_word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;

	return ((w - ones * 0x20) | ((w ^ (ones * '"')) - ones) |
	    ((w ^ (ones * '\\')) - ones) | w) & high;
}

/*
 * Escape s[*ip ..] until *ip reaches stop (a multi-byte sequence may run up
 * to 3 bytes past stop; n bounds every read). The caller provides
 * 6 * (stop - *ip) + 12 bytes at d: the worst case is a control character,
 * written as \u00XX. Invalid UTF-8 becomes U+FFFD, one per bad byte.
 */
static char *
json_escape_run(char *d, const unsigned char *s, size_t n, size_t *ip,
    size_t stop)
{
	size_t i = *ip, k;
	unsigned char c;
	uint64_t w;

	while (i < stop) {
#ifdef __SSE2__
		/* Sixteen bytes at a time: signed < 0x20 is a control or non-ASCII. */
		while (stop - i >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(s + i));
			__m128i m = _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			unsigned mask = (unsigned)_mm_movemask_epi8(m);

			_mm_storeu_si128((__m128i *)d, v);
			if (mask != 0) {
				d += __builtin_ctz(mask);
				i += (size_t)__builtin_ctz(mask);
				break;
			}
			d += 16;
			i += 16;
		}
#endif
		while (stop - i >= 8) {
			memcpy(&w, s + i, 8);
			if (json_word_special(w))
				break;
			memcpy(d, s + i, 8);
			d += 8;
			i += 8;
		}
		if (i >= stop)
			break;
		c = s[i];
		if (c >= 0x80) {
			if ((k = utf8_seq_len(s + i, n - i)) == 0) {
				memcpy(d, "\xef\xbf\xbd", 3);
				d += 3;
				i++;
			} else {
				memcpy(d, s + i, k);
				d += k;
				i += k;
			}
			continue;
		}
		i++;
		if (c >= 0x20 && c != '"' && c != '\\') {
			*d++ = (char)c;
			continue;
		}
		*d++ = '\\';
		switch (c) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			*d++ = 'u';
			*d++ = '0';
			*d++ = '0';
			*d++ = json_hex[c >> 4];
			*d++ = json_hex[c & 15];
			break;
		}
	}
	*ip = i;
	return d;
}

/* Bytes of source escaped per step, so the room reserved stays modest. */
#define JSON_ESC_CHUNK 4096

int
json_put_string(msgpack_sbuffer *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, stop;
	char *d;

	if (json_room(out, 1) != 0)
		return -1;
	out->data[out->size++] = '"';
	while (i < n) {
		stop = n - i > JSON_ESC_CHUNK ? i + JSON_ESC_CHUNK : n;
		if (json_room(out, 6 * (stop - i) + 12) != 0)
			return -1;
		d = json_escape_run(out->data + out->size, s, n, &i, stop);
		out->size = (size_t)(d - out->data);
	}
	if (json_room(out, 1) != 0)
		return -1;
	out->data[out->size++] = '"';
	return 0;
}

size_t
json_quote(char *out, const char *str, size_t n)
{
	size_t i = 0;
	char *d = out;

	*d++ = '"';
	d = json_escape_run(d, (const unsigned char *)str, n, &i, n);
	*d++ = '"';
	*d = '\0';
	return (size_t)(d - out);
}

/* ---- numbers out ------------------------------------------------------- */

char *
json_u64(char *d, uint64_t v)
{
	char t[20];
	int i = 20;

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(d, t + i, (size_t)(20 - i));
	return d + (20 - i);
}

static char *
json_i64(char *d, int64_t v)
{
	if (v >= 0)
		return json_u64(d, (uint64_t)v);
	*d++ = '-';
	return json_u64(d, (uint64_t)0 - (uint64_t)v);
}

static const double json_p10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15,
};

/*
 * Few-decimals fast path: v == m / 10^k with m below 2^53. Both are exact
 * doubles and IEEE division rounds correctly, so m / 10^k == v proves that
 * strtod reads the text back as v, without calling it. The smallest such
 * k gives the fewest digits. Returns the length, or 0 to take the slow path.
 */
static int
json_fixed_double(char *buf, double v)
{
	char digits[20], *d = buf;
	double a = fabs(v), m;
	int k, nd;
	int64_t im;

	if (!(a >= 1e-6 && a < 1e15))
		return 0;   /* JavaScript writes those with an exponent too */
	for (k = 1; k <= 15; k++) {
		m = a * json_p10[k];
		if (m >= 9007199254740992.0)
			return 0;
		im = (int64_t)(m + 0.5);
		if ((double)im / json_p10[k] != a)
			continue;
		nd = (int)(json_u64(digits, (uint64_t)im) - digits);
		if (v < 0)
			*d++ = '-';
		if (nd <= k) {
			*d++ = '0';
			*d++ = '.';
			memset(d, '0', (size_t)(k - nd));
			d += k - nd;
			memcpy(d, digits, (size_t)nd);
			d += nd;
		} else {
			memcpy(d, digits, (size_t)(nd - k));
			d += nd - k;
			*d++ = '.';
			memcpy(d, digits + nd - k, (size_t)k);
			d += k;
		}
		return (int)(d - buf);
	}
	return 0;
}

/*
 * Shortest text that reads back as the same double: exact integers below
 * 2^53 in decimal, few decimals by json_fixed_double, otherwise the first
 * of %.15g/%.16g/%.17g that strtod returns unchanged. A float32 takes the
 * first of %.6g..%.9g that reads back as the same float, so 0.1f is "0.1".
 * NaN and infinities have no JSON form: null, as JSON.stringify.
 */
static int
json_put_double(msgpack_sbuffer *out, double v, bool f32)
{
	char buf[40];
	int len = 0, prec, lo, hi;

	if (!isfinite(v))
		return json_put_raw(out, "null", 4);
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v &&
	    !(v == 0 && signbit(v))) {
		len = (int)(json_i64(buf, (int64_t)v) - buf);
		return json_put_raw(out, buf, (size_t)len);
	}
	if (!f32 && (len = json_fixed_double(buf, v)) > 0)
		return json_put_raw(out, buf, (size_t)len);
	lo = f32 ? FLT_DIG : 15;
	hi = f32 ? 9 : 17;
	for (prec = lo; prec <= hi; prec++) {
		len = snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (prec == hi)
			break;
		if (f32 ? (float)strtod(buf, NULL) == (float)v :
		    strtod(buf, NULL) == v)
			break;
	}
	if (len <= 0 || (size_t)len >= sizeof(buf))
		return -1;
	return json_put_raw(out, buf, (size_t)len);
}

/* ---- msgpack -> JSON --------------------------------------------------- */

/*
 * Turn the JSON text written since off into a JSON string holding that
 * text, in place: the writer's output has controls escaped and is valid
 * UTF-8, so only '"' and '\\' need a backslash.
 */
static int
json_quote_since(msgpack_sbuffer *out, size_t off)
{
	size_t n = out->size - off, extra = 0, i;
	char *s, *d;

	for (i = 0; i < n; i++)
		if (out->data[off + i] == '"' || out->data[off + i] == '\\')
			extra++;
	if (json_room(out, extra + 2) != 0)
		return -1;
	s = out->data + off;
	d = s + n + extra + 1;
	*d-- = '"';
	for (i = n; i-- > 0;) {
		*d-- = s[i];
		if (s[i] == '"' || s[i] == '\\')
			*d-- = '\\';
	}
	*d = '"';
	out->size += extra + 2;
	return 0;
}

int
json_from_msgpack(msgpack_sbuffer *out, const msgpack_object *o)
{
	char *d;
	uint32_t i;
	size_t off;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_put_raw(out, "null", 4);
	case MSGPACK_OBJECT_BOOLEAN:
		return o->via.boolean ? json_put_raw(out, "true", 4) :
		    json_put_raw(out, "false", 5);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (json_room(out, 20) != 0)
			return -1;
		d = json_u64(out->data + out->size, o->via.u64);
		out->size = (size_t)(d - out->data);
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (json_room(out, 21) != 0)
			return -1;
		d = json_i64(out->data + out->size, o->via.i64);
		out->size = (size_t)(d - out->data);
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
		return json_put_double(out, o->via.f64, true);
	case MSGPACK_OBJECT_FLOAT64:
		return json_put_double(out, o->via.f64, false);
	case MSGPACK_OBJECT_STR:
		return json_put_string(out, o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		if (json_room(out, 4 * (size_t)o->via.bin.size + 2) != 0)
			return -1;
		d = out->data + out->size;
		*d++ = '[';
		for (i = 0; i < o->via.bin.size; i++) {
			if (i > 0)
				*d++ = ',';
			d = json_u64(d, (unsigned char)o->via.bin.ptr[i]);
		}
		*d++ = ']';
		out->size = (size_t)(d - out->data);
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		if (json_put_raw(out, "[", 1) != 0)
			return -1;
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0 && json_put_raw(out, ",", 1) != 0)
				return -1;
			if (json_from_msgpack(out, &o->via.array.ptr[i]) != 0)
				return -1;
		}
		return json_put_raw(out, "]", 1);
	case MSGPACK_OBJECT_MAP:
		if (json_put_raw(out, "{", 1) != 0)
			return -1;
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (i > 0 && json_put_raw(out, ",", 1) != 0)
				return -1;
			if (kv->key.type == MSGPACK_OBJECT_STR) {
				if (json_put_string(out, kv->key.via.str.ptr,
				    kv->key.via.str.size) != 0)
					return -1;
			} else {
				/* JSON keys are strings: use the key's own JSON text. */
				off = out->size;
				if (json_from_msgpack(out, &kv->key) != 0 ||
				    json_quote_since(out, off) != 0)
					return -1;
			}
			if (json_put_raw(out, ":", 1) != 0 ||
			    json_from_msgpack(out, &kv->val) != 0)
				return -1;
		}
		return json_put_raw(out, "}", 1);
	case MSGPACK_OBJECT_EXT:
	default:
		return json_put_raw(out, "null", 4);
	}
}
