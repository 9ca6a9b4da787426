/*
 * utf8.c: strict UTF-8 validation. RFC 6455 requires closing a connection
 * that sends invalid UTF-8 in a text message (1007), and JSON we send must
 * be valid UTF-8 too.
 */
#include "config.h"

#include <stdint.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "json/utf8.h"

size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] > 0x9f)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] > 0x8f)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0; /* continuation byte, 0xc0, 0xc1, 0xf5-0xff */
}

bool
utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0, k;

#ifdef __SSE2__
	/* ASCII, the usual case: sixteen bytes at a time, the last sixteen
	 * overlapping what came before; the first block with a high bit
	 * goes on below. */
	if (n >= 16) {
		for (; n - i > 16; i += 16)
			if (_mm_movemask_epi8(_mm_loadu_si128(
			    (const __m128i *)(const void *)(s + i))) != 0)
				goto general;
		if (_mm_movemask_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(s + n - 16))) == 0)
			return true;
	}
general:
#endif
	while (i < n) {
#ifdef __SSE2__
		/* Fast path: sixteen ASCII bytes at a time. */
		while (n - i >= 16 && _mm_movemask_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(s + i))) == 0)
			i += 16;
#endif
		/* Eight ASCII bytes at a time. */
		while (i + 8 <= n) {
			uint64_t w;
			__builtin_memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq_len(s + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}
