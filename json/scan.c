/*
 * scan.c: the validating JSON scanner (see scan.h).
 *
 * Design notes. json_scan_value is one loop over three states (a value
 * is expected, a key is expected, a value just ended) with the kind of
 * every open container in a bit stack (1: object), so nesting costs a
 * bit per level and no recursion; JSON_SCAN_MAX_DEPTH bounds it. Strings
 * are scanned sixteen bytes at a time for the only bytes that matter in
 * them ('"', '\\' and controls); bytes from 0x80 up are passed over, UTF-8
 * being the caller's precondition. The grammar is RFC 8259's exactly:
 * whitespace is space, tab, LF and CR; numbers have no leading zeros, no
 * '+', no bare '.'; escapes are the eight short ones and \u with four hex
 * digits (surrogates are not paired here: that is the reader's business).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "json/scan.h"

const char json_scan_err_eof[] = "Parse error: unexpected end of input";
const char json_scan_err_value[] = "Parse error: a value was expected";
const char json_scan_err_key[] = "Parse error: a string key was expected";
const char json_scan_err_colon[] = "Parse error: ':' was expected after a key";
const char json_scan_err_object[] = "Parse error: ',' or '}' was expected";
const char json_scan_err_array[] = "Parse error: ',' or ']' was expected";
const char json_scan_err_literal[] = "Parse error: invalid literal";
const char json_scan_err_number[] = "Parse error: invalid number";
const char json_scan_err_escape[] = "Parse error: invalid escape in a string";
const char json_scan_err_control[] =
    "Parse error: control character in a string";
const char json_scan_err_trailing[] = "Parse error: text after the value";
const char json_scan_err_deep[] = "Invalid request: nested too deeply";

void
json_scan_init(struct json_scan *s, const void *text, size_t len)
{
	s->sc_p = text;
	s->sc_end = s->sc_p + len;
	s->sc_error = NULL;
}

static inline const unsigned char *
json_scan_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static inline int
json_scan_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/*
 * The rest of a string after its opening quote: the byte after the
 * closing quote, or NULL with *err set. *esc is set when a backslash is
 * seen.
 */
static const unsigned char *
json_scan_str(const unsigned char *p, const unsigned char *end, bool *esc,
    const char **err)
{
	unsigned char c;

	for (;;) {
#ifdef __SSE2__
		while (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i m = _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
			unsigned mask = (unsigned)_mm_movemask_epi8(m);

			if (mask != 0) {
				p += __builtin_ctz(mask);
				break;
			}
			p += 16;
		}
#endif
		while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
			p++;
		if (p == end) {
			*err = json_scan_err_eof;
			return NULL;
		}
		c = *p;
		if (c == '"')
			return p + 1;
		if (c < 0x20) {
			*err = json_scan_err_control;
			return NULL;
		}
		/* A backslash. */
		*esc = true;
		if (end - p < 2) {
			*err = json_scan_err_eof;
			return NULL;
		}
		switch (p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p += 2;
			break;
		case 'u':
			for (int i = 2; i < 6; i++) {
				if (p + i == end) {
					*err = json_scan_err_eof;
					return NULL;
				}
				if (!json_scan_hex(p[i])) {
					*err = json_scan_err_escape;
					return NULL;
				}
			}
			p += 6;
			break;
		default:
			*err = json_scan_err_escape;
			return NULL;
		}
	}
}

/* A number starting at p: the byte after it, or NULL with *err set. */
static const unsigned char *
json_scan_num(const unsigned char *p, const unsigned char *end,
    const char **err)
{
	if (*p == '-' && ++p == end)
		goto eof;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (++p < end && *p >= '0' && *p <= '9')
			;
	} else {
		goto bad;
	}
	if (p < end && *p == '.') {
		if (++p == end)
			goto eof;
		if (*p < '0' || *p > '9')
			goto bad;
		while (++p < end && *p >= '0' && *p <= '9')
			;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end)
			goto eof;
		if (*p < '0' || *p > '9')
			goto bad;
		while (++p < end && *p >= '0' && *p <= '9')
			;
	}
	return p;
eof:
	*err = json_scan_err_eof;
	return NULL;
bad:
	*err = json_scan_err_number;
	return NULL;
}

/* true, false or null at p (its first byte is right). */
static const unsigned char *
json_scan_lit(const unsigned char *p, const unsigned char *end,
    const char **err)
{
	const char *w = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
	size_t n = strlen(w), have = (size_t)(end - p);

	if (have >= n && memcmp(p, w, n) == 0)
		return p + n;
	*err = have < n && memcmp(p, w, have) == 0 ? json_scan_err_eof :
	    json_scan_err_literal;
	return NULL;
}

enum json_scan_status
json_scan_string_slow(struct json_scan *s, const char **content, size_t *len,
    bool *escaped)
{
	const unsigned char *start = s->sc_p + 1, *p;

	*escaped = false;
	if ((p = json_scan_str(start, s->sc_end, escaped, &s->sc_error)) ==
	    NULL)
		return JSON_SCAN_SYNTAX;
	*content = (const char *)start;
	*len = (size_t)(p - 1 - start);
	s->sc_p = p;
	return JSON_SCAN_OK;
}

#define JSON_SCAN_SET(k, d)   ((k)[(d) >> 6] |= (uint64_t)1 << ((d) & 63))
#define JSON_SCAN_CLEAR(k, d) ((k)[(d) >> 6] &= ~((uint64_t)1 << ((d) & 63)))
#define JSON_SCAN_OBJ(k, d)   (((k)[(d) >> 6] >> ((d) & 63)) & 1)

enum json_scan_status
json_scan_value(struct json_scan *s, unsigned *depthp)
{
	uint64_t kinds[JSON_SCAN_MAX_DEPTH / 64];
	const unsigned char *p = s->sc_p, *end = s->sc_end;
	const char *err = NULL;
	unsigned depth = 0, maxdepth = 0;
	bool esc;

value:
	p = json_scan_ws(p, end);
	if (p == end)
		goto eof;
	switch (*p) {
	case '{':
	case '[':
		if (depth == JSON_SCAN_MAX_DEPTH) {
			s->sc_p = p;
			s->sc_error = json_scan_err_deep;
			return JSON_SCAN_TOO_DEEP;
		}
		if (*p == '{')
			JSON_SCAN_SET(kinds, depth);
		else
			JSON_SCAN_CLEAR(kinds, depth);
		if (++depth > maxdepth)
			maxdepth = depth;
		p = json_scan_ws(p + 1, end);
		if (p == end)
			goto eof;
		if (*p == (JSON_SCAN_OBJ(kinds, depth - 1) ? '}' : ']')) {
			p++;
			goto close;
		}
		if (JSON_SCAN_OBJ(kinds, depth - 1))
			goto key;
		goto value;
	case '"':
		p = json_scan_str(p + 1, end, &esc, &err);
		break;
	case 't': case 'f': case 'n':
		p = json_scan_lit(p, end, &err);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4': case '5':
	case '6': case '7': case '8': case '9':
		p = json_scan_num(p, end, &err);
		break;
	default:
		err = json_scan_err_value;
		goto fail;
	}
	if (p == NULL)
		goto fail;
	goto next;
key:
	/* At a non-blank byte, inside an object. */
	if (*p != '"') {
		err = json_scan_err_key;
		goto fail;
	}
	if ((p = json_scan_str(p + 1, end, &esc, &err)) == NULL)
		goto fail;
	p = json_scan_ws(p, end);
	if (p == end)
		goto eof;
	if (*p != ':') {
		err = json_scan_err_colon;
		goto fail;
	}
	p++;
	goto value;
close:
	depth--;
next:
	if (depth == 0) {
		s->sc_p = p;
		*depthp = maxdepth;
		return JSON_SCAN_OK;
	}
	p = json_scan_ws(p, end);
	if (p == end)
		goto eof;
	if (JSON_SCAN_OBJ(kinds, depth - 1)) {
		if (*p == '}') {
			p++;
			goto close;
		}
		if (*p != ',') {
			err = json_scan_err_object;
			goto fail;
		}
		p = json_scan_ws(p + 1, end);
		if (p == end)
			goto eof;
		goto key;
	}
	if (*p == ']') {
		p++;
		goto close;
	}
	if (*p != ',') {
		err = json_scan_err_array;
		goto fail;
	}
	p++;
	goto value;
eof:
	err = json_scan_err_eof;
fail:
	s->sc_error = err;
	return JSON_SCAN_SYNTAX;
}

enum json_scan_status
json_scan_document(const void *text, size_t len, const char **error)
{
	struct json_scan s;
	enum json_scan_status st;
	unsigned depth;

	json_scan_init(&s, text, len);
	if ((st = json_scan_value(&s, &depth)) == JSON_SCAN_OK &&
	    json_scan_peek(&s) != -1) {
		s.sc_error = json_scan_err_trailing;
		st = JSON_SCAN_SYNTAX;
	}
	*error = s.sc_error;
	return st;
}
