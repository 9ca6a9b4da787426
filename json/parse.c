/*
 * parse.c: JSON text to a msgpack_object tree with yajl's callbacks (see
 * parse.h), yajl driven fast: its allocations from an arena on the stack,
 * long plain strings passed around its byte-at-a-time lexer.
 *
 * Design notes.
 * - The tree: every value, once complete, is pushed on jp_vals; a
 *   container remembers where its values start, and when it closes they
 *   move into one array of the zone (pairs for a map) and the container
 *   takes their place. Each value is copied once, nothing is recursive,
 *   and the depth is checked when a container opens.
 * - Surrogates: yajl turns "\ud800" into "?" and pairs any high surrogate
 *   with whatever \u escape follows it. So before yajl runs, every \u
 *   escape of a surrogate is checked to be a high one followed by a low
 *   one; otherwise the text is refused. A backslash can only appear in a
 *   string of valid JSON, and escapes are skipped two bytes (or six) at a
 *   time, so each backslash found starts an escape. (yajl still judges
 *   the JSON: this check only refuses more.)
 * - Long strings: yajl's lexer looks at string bytes one at a time. A
 *   vector scan finds long plain strings first (no escape, no control
 *   byte) and hands yajl "" in their place; the string callback takes the
 *   real bytes. yajl still sees every token in order, so it alone judges
 *   the JSON; only those string bytes bypass its lexer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <yajl/yajl_parse.h>

#include "json/parse.h"

static const char json_parse_err_syntax[] = "Invalid params: not JSON";
static const char json_parse_err_deep[] =
    "Invalid request: params nested too deeply";
static const char json_parse_err_surrogate[] =
    "Invalid request: a string holds a lone surrogate";
static const char json_parse_err_nomem[] = "Internal error: out of memory";

/* ---- the allocation arena ------------------------------------------------ */

/*
 * yajl allocates a handle, a lexer and its buffers for every parse. An
 * arena on the caller's stack keeps that off malloc; what outgrows it
 * falls back to the heap. Each block is preceded by its size.
 */
#define JSON_ARENA_SIZE 16384
#define JSON_ARENA_HDR 16
#define JSON_SUB_MIN 64   /* shorter strings cost less in yajl than a split */

struct json_run {
	struct json_parse *r_jp;
	msgpack_zone *r_zone;
	const char *r_text;
	size_t r_len;
	enum json_parse_status r_status;
	const unsigned char *r_sub;   /* real bytes of the "" yajl sees next */
	size_t r_sub_len;
	size_t r_used;                /* arena bytes handed out */
	unsigned char *r_last;        /* the most recent block: may grow in place */
	_Alignas(16) unsigned char r_arena[JSON_ARENA_SIZE];
};

static bool
json_arena_owns(const struct json_run *r, const void *p)
{
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)r->r_arena;

	return u >= b && u < b + JSON_ARENA_SIZE;
}

static void *
json_arena_malloc_cb(void *ctx, size_t n)
{
	struct json_run *r = ctx;
	unsigned char *p;
	size_t need;

	if (n <= JSON_ARENA_SIZE) {
		need = JSON_ARENA_HDR + ((n + 15) & ~(size_t)15);
		if (need <= JSON_ARENA_SIZE - r->r_used) {
			p = r->r_arena + r->r_used + JSON_ARENA_HDR;
			memcpy(p - JSON_ARENA_HDR, &n, sizeof(n));
			r->r_used += need;
			r->r_last = p;
			return p;
		}
	}
	return malloc(n);
}

static void
json_arena_free_cb(void *ctx, void *p)
{
	struct json_run *r = ctx;

	if (!json_arena_owns(r, p)) {
		free(p);
		return;
	}
	if (p == r->r_last) {
		r->r_used = (size_t)(r->r_last - r->r_arena) - JSON_ARENA_HDR;
		r->r_last = NULL;
	}
}

static void *
json_arena_realloc_cb(void *ctx, void *p, size_t n)
{
	struct json_run *r = ctx;
	size_t old, start;
	void *q;

	if (p == NULL)
		return json_arena_malloc_cb(ctx, n);
	if (!json_arena_owns(r, p))
		return realloc(p, n);
	memcpy(&old, (unsigned char *)p - JSON_ARENA_HDR, sizeof(old));
	if (p == r->r_last && n <= JSON_ARENA_SIZE) {
		start = (size_t)(r->r_last - r->r_arena);
		if (((n + 15) & ~(size_t)15) <= JSON_ARENA_SIZE - start) {
			memcpy(r->r_last - JSON_ARENA_HDR, &n, sizeof(n));
			r->r_used = start + ((n + 15) & ~(size_t)15);
			return p;
		}
	}
	if ((q = json_arena_malloc_cb(ctx, n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	json_arena_free_cb(ctx, p);
	return q;
}

/* ---- scratch ----------------------------------------------------------- */

void
json_parse_init(struct json_parse *jp)
{
	memset(jp, 0, sizeof(*jp));
}

void
json_parse_free(struct json_parse *jp)
{
	free(jp->jp_vals);
	free(jp->jp_starts);
	free(jp->jp_maps);
	json_parse_init(jp);
}

void
json_parse_trim(struct json_parse *jp, size_t keep)
{
	if (jp->jp_cap * sizeof(*jp->jp_vals) > keep)
		json_parse_free(jp);
}

/* ---- building the tree --------------------------------------------------- */

static int
json_run_fail(struct json_run *r, enum json_parse_status st)
{
	r->r_status = st;
	return 0;   /* cancels the yajl parse */
}

/* The slot for the next value, or NULL (status set). */
static msgpack_object *
json_run_push(struct json_run *r)
{
	struct json_parse *jp = r->r_jp;

	if (jp->jp_nvals == jp->jp_cap) {
		size_t cap = jp->jp_cap ? jp->jp_cap * 2 : 64;
		msgpack_object *v = realloc(jp->jp_vals, cap * sizeof(*v));

		if (v == NULL) {
			r->r_status = JSON_PARSE_NOMEM;
			return NULL;
		}
		jp->jp_vals = v;
		jp->jp_cap = cap;
	}
	return &jp->jp_vals[jp->jp_nvals++];
}

static int
json_null_cb(void *ctx)
{
	msgpack_object *o = json_run_push(ctx);

	if (o == NULL)
		return 0;
	o->type = MSGPACK_OBJECT_NIL;
	return 1;
}

static int
json_boolean_cb(void *ctx, int b)
{
	msgpack_object *o = json_run_push(ctx);

	if (o == NULL)
		return 0;
	o->type = MSGPACK_OBJECT_BOOLEAN;
	o->via.boolean = b != 0;
	return 1;
}

/* A number that is not an integer msgpack can hold exactly: a double. */
static int
json_double(struct json_run *r, msgpack_object *o, const char *s, size_t n)
{
	char buf[64], *heap = NULL, *t = buf;

	/* strtod needs a terminated copy; long numbers are rare. */
	if (n >= sizeof(buf)) {
		if ((heap = malloc(n + 1)) == NULL)
			return json_run_fail(r, JSON_PARSE_NOMEM);
		t = heap;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	o->type = MSGPACK_OBJECT_FLOAT64;
	o->via.f64 = strtod(t, NULL);
	free(heap);
	return 1;
}

/*
 * Integers that fit int64 or uint64 stay integers, positive ones as
 * POSITIVE_INTEGER (msgpack's rule); anything else (fraction, exponent,
 * huge, "-0") is a double.
 */
static int
json_number_cb(void *ctx, const char *s, size_t n)
{
	struct json_run *r = ctx;
	msgpack_object *o = json_run_push(r);
	uint64_t v = 0;
	size_t i = 0;
	bool neg = false;
	unsigned d;

	if (o == NULL)
		return 0;
	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	for (; i < n; i++) {
		d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return json_double(r, o, s, n);
		v = v * 10 + d;
	}
	if (!neg) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = v;
	} else if (v == 0 || v > (uint64_t)INT64_MAX + 1) {
		return json_double(r, o, s, n);   /* JSON -0 is the double -0 */
	} else {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	}
	return 1;
}

/* A string or key: its bytes, borrowed from the text when they are in it. */
static int
json_str(struct json_run *r, const unsigned char *s, size_t n)
{
	msgpack_object *o;
	char *copy;

	if (r->r_sub != NULL) {
		s = r->r_sub;
		n = r->r_sub_len;
		r->r_sub = NULL;
	}
	if (n > UINT32_MAX)
		return json_run_fail(r, JSON_PARSE_SYNTAX);
	if ((o = json_run_push(r)) == NULL)
		return 0;
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.size = (uint32_t)n;
	if ((const char *)s >= r->r_text &&
	    (size_t)((const char *)s - r->r_text) + n <= r->r_len) {
		o->via.str.ptr = (const char *)s;
		return 1;
	}
	if ((copy = msgpack_zone_malloc(r->r_zone, n ? n : 1)) == NULL)
		return json_run_fail(r, JSON_PARSE_NOMEM);
	memcpy(copy, s, n);
	o->via.str.ptr = copy;
	return 1;
}

static int
json_string_cb(void *ctx, const unsigned char *s, size_t n)
{
	return json_str(ctx, s, n);
}

static int
json_start(struct json_run *r, bool map)
{
	struct json_parse *jp = r->r_jp;

	if (jp->jp_depth == JSON_PARSE_MAX_DEPTH)
		return json_run_fail(r, JSON_PARSE_TOO_DEEP);
	if (jp->jp_depth == jp->jp_maxdepth) {
		unsigned cap = jp->jp_maxdepth ? jp->jp_maxdepth * 2 : 16;
		size_t *s;
		bool *m;

		if (cap > JSON_PARSE_MAX_DEPTH)
			cap = JSON_PARSE_MAX_DEPTH;
		if ((s = realloc(jp->jp_starts, cap * sizeof(*s))) == NULL)
			return json_run_fail(r, JSON_PARSE_NOMEM);
		jp->jp_starts = s;
		if ((m = realloc(jp->jp_maps, cap * sizeof(*m))) == NULL)
			return json_run_fail(r, JSON_PARSE_NOMEM);
		jp->jp_maps = m;
		jp->jp_maxdepth = cap;
	}
	jp->jp_starts[jp->jp_depth] = jp->jp_nvals;
	jp->jp_maps[jp->jp_depth] = map;
	jp->jp_depth++;
	return 1;
}

static int
json_start_map_cb(void *ctx)
{
	return json_start(ctx, true);
}

static int
json_start_array_cb(void *ctx)
{
	return json_start(ctx, false);
}

/* The open container closes: its values move into the zone. */
static int
json_end_cb(void *ctx)
{
	struct json_run *r = ctx;
	struct json_parse *jp = r->r_jp;
	size_t start, n, i;
	msgpack_object *o, *v;
	bool map;

	if (jp->jp_depth == 0)
		return json_run_fail(r, JSON_PARSE_SYNTAX);
	jp->jp_depth--;
	start = jp->jp_starts[jp->jp_depth];
	map = jp->jp_maps[jp->jp_depth];
	n = jp->jp_nvals - start;
	v = n > 0 ? jp->jp_vals + start : NULL;
	/* The container takes the slot of its first value (json_run_push
	 * returns it again, perhaps moved). */
	if (map) {
		msgpack_object_kv *kv = NULL;

		if (n / 2 > UINT32_MAX)
			return json_run_fail(r, JSON_PARSE_SYNTAX);
		if (n > 0 && (kv = msgpack_zone_malloc(r->r_zone,
		    (n / 2) * sizeof(*kv))) == NULL)
			return json_run_fail(r, JSON_PARSE_NOMEM);
		for (i = 0; i < n / 2; i++) {
			kv[i].key = v[2 * i];
			kv[i].val = v[2 * i + 1];
		}
		jp->jp_nvals = start;
		if ((o = json_run_push(r)) == NULL)
			return 0;
		o->type = MSGPACK_OBJECT_MAP;
		o->via.map.size = (uint32_t)(n / 2);
		o->via.map.ptr = kv;
	} else {
		msgpack_object *a = NULL;

		if (n > UINT32_MAX)
			return json_run_fail(r, JSON_PARSE_SYNTAX);
		if (n > 0 && (a = msgpack_zone_malloc(r->r_zone,
		    n * sizeof(*a))) == NULL)
			return json_run_fail(r, JSON_PARSE_NOMEM);
		if (n > 0)
			memcpy(a, v, n * sizeof(*a));
		jp->jp_nvals = start;
		if ((o = json_run_push(r)) == NULL)
			return 0;
		o->type = MSGPACK_OBJECT_ARRAY;
		o->via.array.size = (uint32_t)n;
		o->via.array.ptr = a;
	}
	return 1;
}

static const yajl_callbacks json_parse_callbacks = {
	.yajl_null = json_null_cb,
	.yajl_boolean = json_boolean_cb,
	.yajl_number = json_number_cb,
	.yajl_string = json_string_cb,
	.yajl_start_map = json_start_map_cb,
	.yajl_map_key = json_string_cb,
	.yajl_end_map = json_end_cb,
	.yajl_start_array = json_start_array_cb,
	.yajl_end_array = json_end_cb,
};

/* ---- surrogates -------------------------------------------------------- */

/* Four hex digits at s, or -1. */
static long
json_hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = (unsigned char)s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

/* false when a \u escape of a surrogate is not part of a proper pair. */
static bool
json_surrogates_ok(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	long cp, lo;

	while (p < end && (p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p < 6 || p[1] != 'u') {
			p += 2;     /* another escape (or broken: yajl's to judge) */
			continue;
		}
		cp = json_hex4(p + 2);
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return false;            /* a low one with no high one */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
				return false;
			lo = json_hex4(p + 8);
			if (lo < 0xdc00 || lo > 0xdfff)
				return false;
			p += 12;
			continue;
		}
		p += 6;
	}
	return true;
}

/* ---- feeding yajl ---------------------------------------------------------- */

/* Offset of the first '"', '\\' or control byte in s[0..n), else n. */
static size_t
json_scan_plain(const unsigned char *s, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	while (n - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i m = _mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	for (; i < n; i++)
		if (s[i] == '"' || s[i] == '\\' || s[i] < 0x20)
			break;
	return i;
}

static yajl_status
json_feed(struct json_run *r, yajl_handle h, const unsigned char *s, size_t n)
{
	const unsigned char *q;
	size_t i = 0, from = 0, start, j;
	yajl_status ys;
	bool esc;

	if (n <= JSON_SUB_MIN)
		return yajl_parse(h, s, n);
	while (n - i > JSON_SUB_MIN) {
		if ((q = memchr(s + i, '"', n - i)) == NULL)
			break;
		start = (size_t)(q - s) + 1;
		esc = false;
		for (j = start;;) {
			j += json_scan_plain(s + j, n - j);
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
		if (!esc && j - start >= JSON_SUB_MIN) {
			if ((ys = yajl_parse(h, s + from, start - 1 - from)) !=
			    yajl_status_ok)
				return ys;
			r->r_sub = s + start;
			r->r_sub_len = j - start;
			if ((ys = yajl_parse(h, (const unsigned char *)"\"\"",
			    2)) != yajl_status_ok)
				return ys;
			if (r->r_sub != NULL)
				return yajl_status_error; /* not taken: cannot happen */
			from = j + 1;
		}
		i = j + 1;
	}
	return yajl_parse(h, s + from, n - from);
}

enum json_parse_status
json_parse(struct json_parse *jp, const char *text, size_t len,
    msgpack_zone *zone, msgpack_object *out, const char **error)
{
	struct json_run r;
	yajl_alloc_funcs afs = {
		.malloc = json_arena_malloc_cb,
		.realloc = json_arena_realloc_cb,
		.free = json_arena_free_cb,
		.ctx = &r,
	};
	yajl_handle h;
	yajl_status ys;

	out->type = MSGPACK_OBJECT_NIL;
	jp->jp_nvals = 0;
	jp->jp_depth = 0;
	r.r_jp = jp;
	r.r_zone = zone;
	r.r_text = text;
	r.r_len = len;
	r.r_status = JSON_PARSE_OK;
	r.r_sub = NULL;
	r.r_sub_len = 0;
	r.r_used = 0;
	r.r_last = NULL;
	if (!json_surrogates_ok(text, len)) {
		r.r_status = JSON_PARSE_SURROGATE;
		goto out;
	}
	if ((h = yajl_alloc(&json_parse_callbacks, &afs, &r)) == NULL) {
		r.r_status = JSON_PARSE_NOMEM;
		goto out;
	}
	/* The master checked the text's UTF-8 (a WebSocket text message). */
	yajl_config(h, yajl_dont_validate_strings, 1);
	ys = json_feed(&r, h, (const unsigned char *)text, len);
	if (ys == yajl_status_ok)
		ys = yajl_complete_parse(h);
	yajl_free(h);
	if (ys != yajl_status_ok && r.r_status == JSON_PARSE_OK)
		r.r_status = JSON_PARSE_SYNTAX;
	if (r.r_status == JSON_PARSE_OK) {
		if (jp->jp_nvals != 1 || jp->jp_depth != 0)
			r.r_status = JSON_PARSE_SYNTAX;
		else
			*out = jp->jp_vals[0];
	}
out:
	switch (r.r_status) {
	case JSON_PARSE_OK: *error = NULL; break;
	case JSON_PARSE_SYNTAX: *error = json_parse_err_syntax; break;
	case JSON_PARSE_TOO_DEEP: *error = json_parse_err_deep; break;
	case JSON_PARSE_SURROGATE: *error = json_parse_err_surrogate; break;
	case JSON_PARSE_NOMEM: *error = json_parse_err_nomem; break;
	}
	return r.r_status;
}
