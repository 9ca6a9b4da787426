/*
 * write.c: JSON text out: the growing buffer, string escaping (invalid
 * UTF-8 becomes U+FFFD: a WebSocket text frame must be UTF-8), integers,
 * and doubles as the shortest text that reads back the same.
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

#include "json/utf8.h"
#include "json/write.h"

/* ---- the buffer -------------------------------------------------------- */

#define JSON_BUF_MIN 256

void
json_buf_init(struct json_buf *b)
{
	b->jb_data = NULL;
	b->jb_len = 0;
	b->jb_cap = 0;
}

void
json_buf_free(struct json_buf *b)
{
	free(b->jb_data);
	json_buf_init(b);
}

void
json_buf_reset(struct json_buf *b, size_t keep)
{
	if (b->jb_cap > keep)
		json_buf_free(b);
	b->jb_len = 0;
}

int
json_buf_grow(struct json_buf *b, size_t n)
{
	size_t want;
	char *p;

	if (n > SIZE_MAX / 4 - b->jb_len)
		return -1;
	want = b->jb_cap ? b->jb_cap : JSON_BUF_MIN;
	while (want - b->jb_len < n)
		want *= 2;
	if ((p = realloc(b->jb_data, want)) == NULL)
		return -1;
	b->jb_data = p;
	b->jb_cap = want;
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
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
			__m128i m = _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			unsigned mask = (unsigned)_mm_movemask_epi8(m);

			_mm_storeu_si128((__m128i *)(void *)d, v);
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
		d = json_escape_char(d, c);
	}
	*ip = i;
	return d;
}

char *
json_escape_char(char *d, unsigned c)
{
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
		*d++ = json_hex[(c >> 4) & 15];
		*d++ = json_hex[c & 15];
		break;
	}
	return d;
}

/* Bytes of source escaped per step, so the room reserved stays modest. */
#define JSON_ESC_CHUNK 4096

int
json_put_string(struct json_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, stop;
	char *d;

	if (json_buf_room(b, n < JSON_ESC_CHUNK ? 6 * n + 14 : 2) != 0)
		return -1;
	b->jb_data[b->jb_len++] = '"';
	while (i < n) {
		stop = n - i > JSON_ESC_CHUNK ? i + JSON_ESC_CHUNK : n;
		if (json_buf_room(b, 6 * (stop - i) + 13) != 0)
			return -1;
		d = json_escape_run(b->jb_data + b->jb_len, s, n, &i, stop);
		b->jb_len = (size_t)(d - b->jb_data);
	}
	b->jb_data[b->jb_len++] = '"';
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

/* ---- numbers ----------------------------------------------------------- */

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

char *
json_i64(char *d, int64_t v)
{
	if (v >= 0)
		return json_u64(d, (uint64_t)v);
	*d++ = '-';
	return json_u64(d, (uint64_t)0 - (uint64_t)v);
}

int
json_put_u64(struct json_buf *b, uint64_t v)
{
	if (json_buf_room(b, 20) != 0)
		return -1;
	b->jb_len = (size_t)(json_u64(b->jb_data + b->jb_len, v) - b->jb_data);
	return 0;
}

int
json_put_i64(struct json_buf *b, int64_t v)
{
	if (json_buf_room(b, 21) != 0)
		return -1;
	b->jb_len = (size_t)(json_i64(b->jb_data + b->jb_len, v) - b->jb_data);
	return 0;
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
 * Exact integers below 2^53 in decimal, few decimals by json_fixed_double,
 * otherwise the first of %.15g/%.16g/%.17g that strtod returns unchanged
 * (%.6g..%.9g for a float32, so 0.1f is "0.1").
 */
int
json_put_double(struct json_buf *b, double v, bool f32)
{
	char buf[40];
	int len = 0, prec, lo, hi;

	if (!isfinite(v))
		return JSON_PUT_LIT(b, "null");
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v &&
	    !(v == 0 && signbit(v)))
		return json_put_i64(b, (int64_t)v);
	if (!f32 && (len = json_fixed_double(buf, v)) > 0)
		return json_put_raw(b, buf, (size_t)len);
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
	return json_put_raw(b, buf, (size_t)len);
}

/* ---- quoting written text ---------------------------------------------- */

int
json_quote_since(struct json_buf *b, size_t off)
{
	size_t n = b->jb_len - off, extra = 0, i;
	char *s, *d;

	for (i = 0; i < n; i++)
		if (b->jb_data[off + i] == '"' || b->jb_data[off + i] == '\\')
			extra++;
	if (json_buf_room(b, extra + 2) != 0)
		return -1;
	s = b->jb_data + off;
	d = s + n + extra + 1;
	*d-- = '"';
	for (i = n; i-- > 0;) {
		*d-- = s[i];
		if (s[i] == '"' || s[i] == '\\')
			*d-- = '\\';
	}
	*d = '"';
	b->jb_len += extra + 2;
	return 0;
}
