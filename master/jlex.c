/*
 * jlex.c: yajl, driven fast: an allocation arena on the caller's stack and
 * a vector scan that hands long plain strings around yajl's lexer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "master/jlex.h"
#include "master/utf8.h"

/* ---- the allocation arena ------------------------------------------------ */

/*
 * yajl allocates a handle, a lexer and its stacks for every parse. Serving
 * them from an arena on the caller's stack keeps the per-message path free
 * of malloc; what outgrows it (long escaped strings, very deep nesting)
 * falls back to the heap. Each block is preceded by its size.
 */
#define JLEX_ARENA_HDR 16

static bool
jlex_owns(const struct jlex *jl, const void *p)
{
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)jl->jl_buf;

	return u >= b && u < b + JLEX_ARENA_SIZE;
}

static void *
jlex_malloc_cb(void *ctx, size_t n)
{
	struct jlex *jl = ctx;
	unsigned char *p;
	size_t need;

	if (n <= JLEX_ARENA_SIZE) {
		need = JLEX_ARENA_HDR + ((n + 15) & ~(size_t)15);
		if (need <= JLEX_ARENA_SIZE - jl->jl_used) {
			p = jl->jl_buf + jl->jl_used + JLEX_ARENA_HDR;
			memcpy(p - JLEX_ARENA_HDR, &n, sizeof(n));
			jl->jl_used += need;
			jl->jl_last = p;
			return p;
		}
	}
	return malloc(n);
}

static void
jlex_free_cb(void *ctx, void *p)
{
	struct jlex *jl = ctx;

	if (!jlex_owns(jl, p)) {
		free(p);
		return;
	}
	if (p == jl->jl_last) {
		jl->jl_used = (size_t)(jl->jl_last - jl->jl_buf) - JLEX_ARENA_HDR;
		jl->jl_last = NULL;
	}
}

static void *
jlex_realloc_cb(void *ctx, void *p, size_t n)
{
	struct jlex *jl = ctx;
	size_t old, start;
	void *q;

	if (p == NULL)
		return jlex_malloc_cb(ctx, n);
	if (!jlex_owns(jl, p))
		return realloc(p, n);
	memcpy(&old, (unsigned char *)p - JLEX_ARENA_HDR, sizeof(old));
	if (p == jl->jl_last && n <= JLEX_ARENA_SIZE) {
		start = (size_t)(jl->jl_last - jl->jl_buf);
		if (((n + 15) & ~(size_t)15) <= JLEX_ARENA_SIZE - start) {
			memcpy(jl->jl_last - JLEX_ARENA_HDR, &n, sizeof(n));
			jl->jl_used = start + ((n + 15) & ~(size_t)15);
			return p;
		}
	}
	if ((q = jlex_malloc_cb(ctx, n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	jlex_free_cb(ctx, p);
	return q;
}

yajl_handle
jlex_alloc(struct jlex *jl, const yajl_callbacks *cb, void *ctx)
{
	yajl_alloc_funcs afs = {
		.malloc = jlex_malloc_cb,
		.realloc = jlex_realloc_cb,
		.free = jlex_free_cb,
		.ctx = jl,
	};

	jl->jl_used = 0;
	jl->jl_last = NULL;
	jl->jl_sub = NULL;
	jl->jl_sub_len = 0;
	/* yajl copies the functions into the handle. */
	return yajl_alloc(cb, &afs, ctx);
}

/* ---- long plain strings around the lexer --------------------------------- */

/*
 * Design note: yajl's lexer looks at string bytes one at a time, which is
 * most of the cost of a message carrying a large string. jlex_feed finds
 * long plain strings first (no escape, no control byte, valid UTF-8) with
 * a vector scan and hands yajl "" in their place; the string callback then
 * takes the real bytes from jl_sub. yajl still sees every token in order,
 * so it alone judges the JSON; only those string bytes bypass its lexer.
 * Telling strings apart needs only '"' and '\\': outside a string every
 * '"' opens one (or yajl fails before reaching it), inside a backslash
 * hides the next byte from the search.
 */
#ifndef JLEX_SUB_MIN   /* shorter strings cost less in yajl than a split */
#define JLEX_SUB_MIN 64
#endif

/*
 * Offset of the first '"', '\\' or control byte in s[0..n), else n. *hi
 * gets a nonzero bit when a scanned block held a non-ASCII byte (maybe
 * one past the stop: it only means "validate").
 */
static size_t
jlex_scan_plain(const unsigned char *s, size_t n, unsigned *hi)
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

yajl_status
jlex_feed(struct jlex *jl, yajl_handle h, const unsigned char *s, size_t n)
{
	const unsigned char *q;
	size_t i = 0, from = 0, start, j;
	unsigned hi;
	yajl_status ys;
	bool esc;

	if (n <= JLEX_SUB_MIN)
		return yajl_parse(h, s, n);
	while (n - i > JLEX_SUB_MIN) {
		if ((q = memchr(s + i, '"', n - i)) == NULL)
			break;
		start = (size_t)(q - s) + 1;
		hi = 0;
		esc = false;
		for (j = start;;) {
			j += jlex_scan_plain(s + j, n - j, &hi);
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
		if (!esc && j - start >= JLEX_SUB_MIN &&
		    (hi == 0 || utf8_valid(s + start, j - start))) {
			if ((ys = yajl_parse(h, s + from, start - 1 - from)) !=
			    yajl_status_ok)
				return ys;
			jl->jl_sub = s + start;
			jl->jl_sub_len = j - start;
			if ((ys = yajl_parse(h, (const unsigned char *)"\"\"",
			    2)) != yajl_status_ok)
				return ys;
			if (jl->jl_sub != NULL)
				return yajl_status_error; /* not taken: cannot happen */
			from = j + 1;
		}
		i = j + 1;
	}
	return yajl_parse(h, s + from, n - from);
}
