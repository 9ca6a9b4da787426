/*
 * json.c: the JSON <-> msgpack bridge of the master. A client message is
 * turned into msgpack in one streaming yajl pass (no tree); a worker's
 * msgpack value is written back as JSON by a small hand-written writer.
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

#include <yajl/yajl_parse.h>

#include "master/json.h"
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

/* Canonical id text for a string id of at most JREQ_ID_STR_MAX bytes. */
static size_t
json_id_string(char *out, const char *str, size_t n)
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

static char *
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

int
jreq_id_from_msgpack(const msgpack_object *o, char *out)
{
	char *d;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)JSON_MAX_SAFE_INT)
			return -1;
		d = json_u64(out, o->via.u64);
		*d = '\0';
		return (int)(d - out);
	case MSGPACK_OBJECT_STR:
		if (o->via.str.size > JREQ_ID_STR_MAX)
			return -1;
		return (int)json_id_string(out, o->via.str.ptr, o->via.str.size);
	default:
		return -1;
	}
}

/* ---- yajl allocation arena --------------------------------------------- */

/*
 * yajl allocates a handle, a lexer and its stacks for every parse. Serving
 * them from an arena on the caller's stack keeps the per-message path free
 * of malloc; what outgrows it (long escaped strings, very deep nesting)
 * falls back to the heap. Each block is preceded by its size.
 */
#define JSON_ARENA_SIZE 8192
#define JSON_ARENA_HDR 16

struct json_arena {
	size_t ja_used;
	unsigned char *ja_last;   /* most recent block: may grow in place */
	_Alignas(16) unsigned char ja_buf[JSON_ARENA_SIZE];
};

static bool
json_arena_owns(const struct json_arena *a, const void *p)
{
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->ja_buf;

	return u >= b && u < b + JSON_ARENA_SIZE;
}

static void *
json_arena_malloc_cb(void *ctx, size_t n)
{
	struct json_arena *a = ctx;
	unsigned char *p;
	size_t need;

	if (n <= JSON_ARENA_SIZE) {
		need = JSON_ARENA_HDR + ((n + 15) & ~(size_t)15);
		if (need <= JSON_ARENA_SIZE - a->ja_used) {
			p = a->ja_buf + a->ja_used + JSON_ARENA_HDR;
			memcpy(p - JSON_ARENA_HDR, &n, sizeof(n));
			a->ja_used += need;
			a->ja_last = p;
			return p;
		}
	}
	return malloc(n);
}

static void
json_arena_free_cb(void *ctx, void *p)
{
	struct json_arena *a = ctx;

	if (!json_arena_owns(a, p)) {
		free(p);
		return;
	}
	if (p == a->ja_last) {
		a->ja_used = (size_t)(a->ja_last - a->ja_buf) - JSON_ARENA_HDR;
		a->ja_last = NULL;
	}
}

static void *
json_arena_realloc_cb(void *ctx, void *p, size_t n)
{
	struct json_arena *a = ctx;
	size_t old, start;
	void *q;

	if (p == NULL)
		return json_arena_malloc_cb(ctx, n);
	if (!json_arena_owns(a, p))
		return realloc(p, n);
	memcpy(&old, (unsigned char *)p - JSON_ARENA_HDR, sizeof(old));
	if (p == a->ja_last && n <= JSON_ARENA_SIZE) {
		start = (size_t)(a->ja_last - a->ja_buf);
		if (((n + 15) & ~(size_t)15) <= JSON_ARENA_SIZE - start) {
			memcpy(a->ja_last - JSON_ARENA_HDR, &n, sizeof(n));
			a->ja_used = start + ((n + 15) & ~(size_t)15);
			return p;
		}
	}
	if ((q = json_arena_malloc_cb(ctx, n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	json_arena_free_cb(ctx, p);
	return q;
}

/* ---- JSON -> msgpack: the request parser ------------------------------- */

enum jp_key {
	JP_KEY_OTHER = 0,
	JP_KEY_METHOD,
	JP_KEY_ID,
	JP_KEY_PARAMS,
};

/* Flags of what a message carried, resolved into one status at the end. */
#define JP_SEEN_METHOD   0x001
#define JP_SEEN_ID       0x002
#define JP_SEEN_PARAMS   0x004
#define JP_NOT_OBJECT    0x008
#define JP_BAD_METHOD    0x010  /* not a string */
#define JP_NUL_METHOD    0x020  /* a string with a NUL byte */
#define JP_BAD_ID        0x040
#define JP_BAD_PARAMS    0x080
#define JP_TOO_DEEP      0x100

struct jp {
	struct jreq *jp_req;
	msgpack_sbuffer *jp_out;
	msgpack_packer jp_pk;
	unsigned jp_flags;
	enum jp_key jp_key;         /* key whose value comes next (top level) */
	int jp_depth;               /* 0 outside the top object, 1 inside */
	size_t jp_skip;             /* containers open in a skipped value */
	int jp_pdepth;              /* containers open in params, 0 = outside */
	const char *jp_fatal;       /* set: a BAD_JSON reason, parse cancelled */
	const unsigned char *jp_sub; /* real bytes of the "" yajl sees next */
	size_t jp_sub_len;
	size_t jp_hdr[JSON_MAX_DEPTH];   /* offset of each open header */
	uint32_t jp_count[JSON_MAX_DEPTH];
	bool jp_ismap[JSON_MAX_DEPTH];
};

static const char jp_err_oom[] = "Internal error: out of memory";
static const char jp_err_utf8[] = "Parse error: invalid UTF-8 in string";

static int
jp_fail(struct jp *p, const char *why)
{
	p->jp_fatal = why;
	return 0;   /* cancels the yajl parse */
}

/*
 * yajl decodes \udc00 (a lone low surrogate) to ED B0 80, which is not
 * UTF-8. Replace such encoded surrogates with U+FFFD (same length, so in
 * place); any other invalid sequence is refused. Called only when
 * utf8_valid failed, so the common path costs one validation.
 */
static int
jp_fix_utf8(unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq_len(s + i, n - i)) != 0) {
			i += k;
			continue;
		}
		if (n - i >= 3 && s[i] == 0xed && (s[i + 1] & 0xe0) == 0xa0 &&
		    (s[i + 2] & 0xc0) == 0x80) {
			memcpy(s + i, "\xef\xbf\xbd", 3);
			i += 3;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Count one more element in the open params container (pairs for maps). */
static int
jp_count(struct jp *p, bool key)
{
	int top = p->jp_pdepth - 1;

	if (p->jp_ismap[top] != key)
		return 1;
	if (p->jp_count[top] == UINT32_MAX)
		return jp_fail(p, "Parse error: too many elements");
	p->jp_count[top]++;
	return 1;
}

/* Write a string (value or map key) of params, checking its UTF-8. */
static int
jp_put_str(struct jp *p, const unsigned char *s, size_t n, bool valid)
{
	size_t off;

	if (n > UINT32_MAX)
		return jp_fail(p, "Parse error: string too long");
	if (msgpack_pack_str(&p->jp_pk, n) != 0)
		return jp_fail(p, jp_err_oom);
	off = p->jp_out->size;
	if (msgpack_pack_str_body(&p->jp_pk, s, n) != 0)
		return jp_fail(p, jp_err_oom);
	if (!valid && !utf8_valid(s, n) &&
	    jp_fix_utf8((unsigned char *)p->jp_out->data + off, n) != 0)
		return jp_fail(p, jp_err_utf8);
	return 1;
}

/*
 * A number of params: integers that fit int64 or uint64 stay integers,
 * anything else (fraction, exponent, huge, "-0") is a double.
 */
static int
jp_put_number(struct jp *p, const char *s, size_t n)
{
	char buf[64], *heap = NULL, *t = buf;
	uint64_t v = 0;
	size_t i = 0;
	bool neg = false;
	unsigned d;
	double x;
	int rv;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	for (; i < n; i++) {
		d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			goto as_double;
		v = v * 10 + d;
	}
	if (!neg)
		rv = msgpack_pack_uint64(&p->jp_pk, v);
	else if (v == 0)
		goto as_double;   /* JSON -0 is the double -0 */
	else if (v <= (uint64_t)INT64_MAX)
		rv = msgpack_pack_int64(&p->jp_pk, -(int64_t)v);
	else if (v == (uint64_t)INT64_MAX + 1)
		rv = msgpack_pack_int64(&p->jp_pk, INT64_MIN);
	else
		goto as_double;
	return rv == 0 ? 1 : jp_fail(p, jp_err_oom);

as_double:
	/* strtod needs a terminated copy; long numbers are rare. */
	if (n >= sizeof(buf)) {
		if ((heap = malloc(n + 1)) == NULL)
			return jp_fail(p, jp_err_oom);
		t = heap;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	x = strtod(t, NULL);
	free(heap);
	return msgpack_pack_double(&p->jp_pk, x) == 0 ? 1 :
	    jp_fail(p, jp_err_oom);
}

/*
 * Route a scalar: returns 1 when it belongs in params (and counts it), 0
 * when the caller should handle it as a top-level value (p->jp_key says
 * which), -1 when it is skipped.
 */
static int
jp_scalar_where(struct jp *p)
{
	if (p->jp_skip > 0)
		return -1;
	if (p->jp_pdepth > 0) {
		(void)jp_count(p, false);   /* a failure sets jp_fatal */
		return 1;
	}
	if (p->jp_depth == 0) {
		p->jp_flags |= JP_NOT_OBJECT;
		return -1;
	}
	return 0;
}

/* A value of the wrong type for its top-level key (any type for others). */
static void
jp_top_other(struct jp *p)
{
	switch (p->jp_key) {
	case JP_KEY_METHOD: p->jp_flags |= JP_BAD_METHOD; break;
	case JP_KEY_ID: p->jp_flags |= JP_BAD_ID; break;
	case JP_KEY_PARAMS: p->jp_flags |= JP_BAD_PARAMS; break;
	case JP_KEY_OTHER: break;
	}
}

static int
jp_null_cb(void *ctx)
{
	struct jp *p = ctx;
	int w = jp_scalar_where(p);

	if (w == 1)
		return msgpack_pack_nil(&p->jp_pk) == 0 ? 1 :
		    jp_fail(p, jp_err_oom);
	if (w == 0)
		jp_top_other(p);
	return 1;
}

static int
jp_boolean_cb(void *ctx, int b)
{
	struct jp *p = ctx;
	int w = jp_scalar_where(p);

	if (w == 1)
		return (b ? msgpack_pack_true(&p->jp_pk) :
		    msgpack_pack_false(&p->jp_pk)) == 0 ? 1 :
		    jp_fail(p, jp_err_oom);
	if (w == 0)
		jp_top_other(p);
	return 1;
}

/* id: plain digits only (what JSON.stringify writes for 0..2^53-1). */
static void
jp_set_id_number(struct jp *p, const char *s, size_t n)
{
	struct jreq *req = p->jp_req;
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 16)
		goto bad;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)JSON_MAX_SAFE_INT)
		goto bad;
	memcpy(req->id_json, s, n);   /* JSON has no leading zeros: canonical */
	req->id_json[n] = '\0';
	req->id_len = n;
	req->has_id = true;
	return;
bad:
	p->jp_flags |= JP_BAD_ID;
}

static int
jp_number_cb(void *ctx, const char *s, size_t n)
{
	struct jp *p = ctx;
	int w = jp_scalar_where(p);

	if (w == 1)
		return jp_put_number(p, s, n);
	if (w == 0) {
		if (p->jp_key == JP_KEY_ID)
			jp_set_id_number(p, s, n);
		else
			jp_top_other(p);
	}
	return 1;
}

static int
jp_set_method(struct jp *p, const unsigned char *s, size_t n)
{
	struct jreq *req = p->jp_req;
	size_t keep = n > JREQ_METHOD_MAX ? JREQ_METHOD_MAX : n;

	if (memchr(s, '\0', n) != NULL) {
		p->jp_flags |= JP_NUL_METHOD;
		return 1;
	}
	memcpy(req->method, s, keep);
	req->method[keep] = '\0';
	req->method_len = keep;
	req->method_too_long = n > JREQ_METHOD_MAX;
	if (!utf8_valid(s, n) && jp_fix_utf8((unsigned char *)req->method,
	    keep) != 0 && !req->method_too_long)
		return jp_fail(p, jp_err_utf8);
	return 1;
}

static int
jp_set_id_string(struct jp *p, const unsigned char *s, size_t n)
{
	struct jreq *req = p->jp_req;
	char tmp[JREQ_ID_STR_MAX];

	if (n > JREQ_ID_STR_MAX) {
		p->jp_flags |= JP_BAD_ID;
		return 1;
	}
	memcpy(tmp, s, n);
	if (!utf8_valid(s, n) && jp_fix_utf8((unsigned char *)tmp, n) != 0)
		return jp_fail(p, jp_err_utf8);
	req->id_len = json_id_string(req->id_json, tmp, n);
	req->has_id = true;
	return 1;
}

/*
 * A string token: when jp_feed stood in "" for a long plain string, take
 * its real bytes (already checked: valid UTF-8, nothing to unescape).
 */
static inline bool
jp_take_sub(struct jp *p, const unsigned char **s, size_t *n)
{
	if (p->jp_sub == NULL)
		return false;
	*s = p->jp_sub;
	*n = p->jp_sub_len;
	p->jp_sub = NULL;
	return true;
}

static int
jp_string_cb(void *ctx, const unsigned char *s, size_t n)
{
	struct jp *p = ctx;
	bool valid = jp_take_sub(p, &s, &n);
	int w = jp_scalar_where(p);

	if (w == 1)
		return jp_put_str(p, s, n, valid);
	if (w == 0) {
		if (p->jp_key == JP_KEY_METHOD)
			return jp_set_method(p, s, n);
		if (p->jp_key == JP_KEY_ID)
			return jp_set_id_string(p, s, n);
		jp_top_other(p);
	}
	return 1;
}

static int
jp_map_key_cb(void *ctx, const unsigned char *s, size_t n)
{
	struct jp *p = ctx;
	bool valid = jp_take_sub(p, &s, &n);
	unsigned seen;

	if (p->jp_skip > 0)
		return 1;
	if (p->jp_pdepth > 0) {
		if (!jp_count(p, true))
			return 0;
		return jp_put_str(p, s, n, valid);
	}
	/* A key of the top-level object. */
	if (n == 6 && memcmp(s, "method", 6) == 0) {
		p->jp_key = JP_KEY_METHOD;
		seen = JP_SEEN_METHOD;
	} else if (n == 2 && memcmp(s, "id", 2) == 0) {
		p->jp_key = JP_KEY_ID;
		seen = JP_SEEN_ID;
	} else if (n == 6 && memcmp(s, "params", 6) == 0) {
		p->jp_key = JP_KEY_PARAMS;
		seen = JP_SEEN_PARAMS;
	} else {
		p->jp_key = JP_KEY_OTHER;
		return 1;
	}
	if (p->jp_flags & seen)
		return jp_fail(p, "Parse error: duplicate key");
	p->jp_flags |= seen;
	return 1;
}

/*
 * Open a container in params. msgpack needs the count up front: write a
 * 32-bit header now and patch the count when the container closes.
 */
static int
jp_open_params(struct jp *p, bool map)
{
	unsigned char hdr[5] = { map ? 0xdf : 0xdd, 0, 0, 0, 0 };
	int top = p->jp_pdepth;

	p->jp_hdr[top] = p->jp_out->size;
	p->jp_count[top] = 0;
	p->jp_ismap[top] = map;
	p->jp_pdepth++;
	if (msgpack_sbuffer_write(p->jp_out, (const char *)hdr, 5) != 0)
		return jp_fail(p, jp_err_oom);
	return 1;
}

static int
jp_start(struct jp *p, bool map)
{
	if (p->jp_skip > 0) {
		p->jp_skip++;
		return 1;
	}
	if (p->jp_pdepth > 0) {
		if (p->jp_pdepth >= JSON_MAX_DEPTH) {
			/* Keep scanning for the id; params are not used. */
			p->jp_flags |= JP_TOO_DEEP;
			p->jp_skip = 1;
			return 1;
		}
		if (!jp_count(p, false))
			return 0;
		return jp_open_params(p, map);
	}
	if (p->jp_depth == 0) {
		if (map) {
			p->jp_depth = 1;
			return 1;
		}
		p->jp_flags |= JP_NOT_OBJECT;
		p->jp_skip = 1;
		return 1;
	}
	if (p->jp_key == JP_KEY_PARAMS && !map)
		return jp_open_params(p, false);
	jp_top_other(p);
	p->jp_skip = 1;
	return 1;
}

static int
jp_end(struct jp *p)
{
	unsigned char *h;
	uint32_t c;

	if (p->jp_skip > 0) {
		p->jp_skip--;
		return 1;
	}
	if (p->jp_pdepth > 0) {
		p->jp_pdepth--;
		c = p->jp_count[p->jp_pdepth];
		h = (unsigned char *)p->jp_out->data + p->jp_hdr[p->jp_pdepth];
		h[1] = (unsigned char)(c >> 24);
		h[2] = (unsigned char)(c >> 16);
		h[3] = (unsigned char)(c >> 8);
		h[4] = (unsigned char)c;
		if (p->jp_pdepth == 0) {
			p->jp_req->has_params = true;
			p->jp_req->nparams = c;
		}
		return 1;
	}
	p->jp_depth = 0;
	return 1;
}

static int
jp_start_map_cb(void *ctx)
{
	return jp_start(ctx, true);
}

static int
jp_start_array_cb(void *ctx)
{
	return jp_start(ctx, false);
}

static int
jp_end_cb(void *ctx)
{
	return jp_end(ctx);
}

static const yajl_callbacks jp_callbacks = {
	.yajl_null = jp_null_cb,
	.yajl_boolean = jp_boolean_cb,
	.yajl_number = jp_number_cb,
	.yajl_string = jp_string_cb,
	.yajl_start_map = jp_start_map_cb,
	.yajl_map_key = jp_map_key_cb,
	.yajl_end_map = jp_end_cb,
	.yajl_start_array = jp_start_array_cb,
	.yajl_end_array = jp_end_cb,
};

/*
 * Design note: yajl's lexer looks at string bytes one at a time, which is
 * most of the cost of a message carrying a large string. jp_feed finds
 * long plain strings first (no escape, no control byte, valid UTF-8) with
 * a vector scan and hands yajl "" in their place; the string callback then
 * takes the real bytes from jp_sub. yajl still sees every token in order,
 * so it alone judges the JSON; only those string bytes bypass its lexer.
 * Telling strings apart needs only '"' and '\\': outside a string every
 * '"' opens one (or yajl fails before reaching it), inside a backslash
 * hides the next byte from the search.
 */
#ifndef JP_SUB_MIN   /* shorter strings cost less in yajl than a split */
#define JP_SUB_MIN 64
#endif

/*
 * Offset of the first '"', '\\' or control byte in s[0..n), else n. *hi
 * gets a nonzero bit when a scanned block held a non-ASCII byte (maybe
 * one past the stop: it only means "validate").
 */
static size_t
jp_scan_plain(const unsigned char *s, size_t n, unsigned *hi)
{
	size_t i = 0;

#ifdef __SSE2__
	while (n - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i m = _mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		*hi |= (unsigned)_mm_movemask_epi8(v);
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	for (; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\' || s[i] < 0x20)
			break;
		*hi |= s[i] & 0x80;
	}
	return i;
}

static yajl_status
jp_feed(yajl_handle h, struct jp *p, const unsigned char *s, size_t n)
{
	const unsigned char *q;
	size_t i = 0, from = 0, start, j;
	unsigned hi;
	yajl_status ys;
	bool esc;

	while (n - i > JP_SUB_MIN) {
		if ((q = memchr(s + i, '"', n - i)) == NULL)
			break;
		start = (size_t)(q - s) + 1;
		hi = 0;
		esc = false;
		for (j = start;;) {
			j += jp_scan_plain(s + j, n - j, &hi);
			if (j >= n || s[j] != '\\')
				break;
			esc = true;
			if (n - j < 2) {
				j = n;
				break;
			}
			j += 2;   /* the escaped byte cannot end the string */
		}
		if (j >= n || s[j] != '"')
			break;   /* unterminated or a control byte: yajl's to judge */
		if (!esc && j - start >= JP_SUB_MIN &&
		    (hi == 0 || utf8_valid(s + start, j - start))) {
			if ((ys = yajl_parse(h, s + from, start - 1 - from)) !=
			    yajl_status_ok)
				return ys;
			p->jp_sub = s + start;
			p->jp_sub_len = j - start;
			if ((ys = yajl_parse(h, (const unsigned char *)"\"\"",
			    2)) != yajl_status_ok)
				return ys;
			if (p->jp_sub != NULL)
				return yajl_status_error; /* not taken: cannot happen */
			from = j + 1;
		}
		i = j + 1;
	}
	return yajl_parse(h, s + from, n - from);
}

/* Resolve what the scan saw into one status, by the protocol's precedence. */
static enum jreq_status
jp_status(struct jp *p)
{
	struct jreq *req = p->jp_req;
	unsigned f = p->jp_flags;

	if (f & JP_NOT_OBJECT) {
		req->error = "Invalid request: not a JSON object";
		return JREQ_NOT_OBJECT;
	}
	if (!(f & JP_SEEN_METHOD)) {
		req->error = "Invalid request: missing method";
		return JREQ_NO_METHOD;
	}
	if (f & JP_BAD_METHOD) {
		req->error = "Invalid request: method must be a string";
		return JREQ_NO_METHOD;
	}
	if (f & JP_NUL_METHOD) {
		req->error = "Invalid request: method contains a NUL character";
		return JREQ_NO_METHOD;
	}
	if (f & JP_BAD_ID) {
		req->error = "Invalid request: id must be an integer from 0 to "
		    "2^53-1 or a string of at most 256 bytes";
		return JREQ_BAD_ID;
	}
	if (f & JP_BAD_PARAMS) {
		req->error = "Invalid request: params must be an array";
		return JREQ_BAD_PARAMS;
	}
	if (f & JP_TOO_DEEP) {
		req->error = "Invalid request: params nested too deeply";
		return JREQ_TOO_DEEP;
	}
	return JREQ_OK;
}

enum jreq_status
jreq_parse(struct jreq *req, const char *json, size_t len,
    msgpack_sbuffer *params)
{
	struct json_arena arena;
	yajl_alloc_funcs afs = {
		.malloc = json_arena_malloc_cb,
		.realloc = json_arena_realloc_cb,
		.free = json_arena_free_cb,
		.ctx = &arena,
	};
	yajl_handle h = NULL;
	yajl_status ys;
	enum jreq_status st;
	struct jp p;

	req->method[0] = '\0';
	req->method_len = 0;
	req->method_too_long = false;
	req->has_id = false;
	req->id_json[0] = '\0';
	req->id_len = 0;
	req->has_params = false;
	req->nparams = 0;
	req->error = NULL;
	msgpack_sbuffer_clear(params);

	arena.ja_used = 0;
	arena.ja_last = NULL;
	p.jp_req = req;
	p.jp_out = params;
	msgpack_packer_init(&p.jp_pk, params, msgpack_sbuffer_write);
	p.jp_flags = 0;
	p.jp_key = JP_KEY_OTHER;
	p.jp_depth = 0;
	p.jp_skip = 0;
	p.jp_pdepth = 0;
	p.jp_fatal = NULL;
	p.jp_sub = NULL;
	p.jp_sub_len = 0;

	if ((h = yajl_alloc(&jp_callbacks, &afs, &p)) == NULL) {
		p.jp_fatal = jp_err_oom;
		goto fail;
	}
	/* Strict: no comments, one value, no garbage, UTF-8 checked. */
	yajl_config(h, yajl_dont_validate_strings, 0);
	ys = len > JP_SUB_MIN ? jp_feed(h, &p, (const unsigned char *)json, len) :
	    yajl_parse(h, (const unsigned char *)json, len);
	if (ys == yajl_status_ok && (ys = yajl_complete_parse(h)) !=
	    yajl_status_ok && p.jp_fatal == NULL)
		p.jp_fatal = "Parse error: unexpected end of input";
	if (ys != yajl_status_ok && p.jp_fatal == NULL)
		p.jp_fatal = "Parse error: invalid JSON";
	if (p.jp_fatal != NULL)
		goto fail;
	if ((st = jp_status(&p)) != JREQ_OK)
		goto bad;
	if (!req->has_params && msgpack_pack_array(&p.jp_pk, 0) != 0) {
		p.jp_fatal = jp_err_oom;
		goto fail;
	}
	yajl_free(h);
	return JREQ_OK;

fail:
	st = JREQ_BAD_JSON;
	req->error = p.jp_fatal;
bad:
	if (h != NULL)
		yajl_free(h);
	/* Never hand out half-written params; the id only where it is used. */
	msgpack_sbuffer_clear(params);
	(void)msgpack_pack_array(&p.jp_pk, 0);
	req->has_params = false;
	req->nparams = 0;
	if (st != JREQ_BAD_PARAMS && st != JREQ_TOO_DEEP) {
		req->has_id = false;
		req->id_json[0] = '\0';
		req->id_len = 0;
	}
	return st;
}
