/*
 * resp.c: a bounded, allocation-free scanner for server messages (see
 * resp.h); keys are matched on the fly and values skipped, never decoded.
 */
#include "config.h"

#include <string.h>

#include "bench/resp.h"

static void
resp_ws(const char *p, size_t n, size_t *pos)
{
	while (*pos < n && (p[*pos] == ' ' || p[*pos] == '\t' ||
	    p[*pos] == '\n' || p[*pos] == '\r'))
		(*pos)++;
}

/* Skip a string whose opening quote is at p[*pos]. */
static int
resp_skip_string(const char *p, size_t n, size_t *pos)
{
	const char *q;
	size_t i = *pos + 1;

	for (;;) {
		if (i >= n)
			return -1;
		/* memchr finds the next quote fast in long strings. */
		q = memchr(p + i, '"', n - i);
		if (q == NULL)
			return -1;
		i = (size_t)(q - p);
		/* A quote is escaped when an odd run of backslashes precedes it. */
		{
			size_t b = i, nb = 0;

			while (b > *pos + 1 && p[b - 1] == '\\') {
				b--;
				nb++;
			}
			if (nb % 2 == 0)
				break;
		}
		i++;
	}
	*pos = i + 1;
	return 0;
}

/* Skip a literal or number: the run of characters that can make one. */
static int
resp_skip_atom(const char *p, size_t n, size_t *pos)
{
	size_t i = *pos;

	while (i < n) {
		char c = p[i];

		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    c == '-' || c == '+' || c == '.' || c == 'E')
			i++;
		else
			break;
	}
	if (i == *pos)
		return -1;
	*pos = i;
	return 0;
}

int
resp_skip_value(const char *p, size_t n, size_t *pos)
{
	/* Containers are walked iteratively: the stack holds the closers. */
	char stack[RESP_MAX_DEPTH];
	int depth = 0;
	size_t i = *pos;

	resp_ws(p, n, &i);
	for (;;) {
		if (i >= n)
			return -1;
		if (p[i] == '{' || p[i] == '[') {
			if (depth == RESP_MAX_DEPTH)
				return -1;
			stack[depth++] = p[i] == '{' ? '}' : ']';
			i++;
			resp_ws(p, n, &i);
			if (i < n && p[i] == stack[depth - 1]) {
				i++;
				depth--;
				goto after_value;
			}
			if (stack[depth - 1] == '}')
				goto object_key;
			continue;
		}
		if (p[i] == '"') {
			if (resp_skip_string(p, n, &i) != 0)
				return -1;
		} else if (resp_skip_atom(p, n, &i) != 0) {
			return -1;
		}
after_value:
		/* After a value: done, or a separator, or the container's end. */
		for (;;) {
			if (depth == 0) {
				*pos = i;
				return 0;
			}
			resp_ws(p, n, &i);
			if (i >= n)
				return -1;
			if (p[i] == stack[depth - 1]) {
				i++;
				depth--;
				continue;
			}
			if (p[i] != ',')
				return -1;
			i++;
			resp_ws(p, n, &i);
			if (stack[depth - 1] == '}')
				goto object_key;
			break;
		}
		continue;
object_key:
		/* Inside an object: a key string and a colon, then a value. */
		if (i >= n || p[i] != '"')
			return -1;
		if (resp_skip_string(p, n, &i) != 0)
			return -1;
		resp_ws(p, n, &i);
		if (i >= n || p[i] != ':')
			return -1;
		i++;
		resp_ws(p, n, &i);
	}
}

/* Read a non-negative integer at p[*pos]; -1 when there is none. */
static int
resp_uint(const char *p, size_t n, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = *pos;

	if (i >= n || p[i] < '0' || p[i] > '9')
		return -1;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		uint64_t d = (uint64_t)(p[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	/* A fraction or exponent makes it something we never sent. */
	if (i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E'))
		return -1;
	*pos = i;
	*out = v;
	return 0;
}

/* Match the key starting at p[*pos] (its opening quote); *pos past it. */
static int
resp_key(const char *p, size_t n, size_t *pos, const char **key,
    size_t *klen)
{
	size_t start = *pos + 1;

	if (resp_skip_string(p, n, pos) != 0)
		return -1;
	*key = p + start;
	*klen = *pos - 1 - start;
	return 0;
}

#define RESP_KEY_IS(k, kl, lit) \
	((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

/* Find "code" in the error object at p[*pos] and skip the object. */
static int
resp_error_code(const char *p, size_t n, size_t *pos, int *code)
{
	const char *key;
	size_t i = *pos, klen;
	uint64_t v;

	*code = 0;
	if (i >= n || p[i] != '{')
		return resp_skip_value(p, n, pos);
	i++;
	resp_ws(p, n, &i);
	if (i < n && p[i] == '}') {
		*pos = i + 1;
		return 0;
	}
	for (;;) {
		resp_ws(p, n, &i);
		if (i >= n || p[i] != '"')
			return -1;
		if (resp_key(p, n, &i, &key, &klen) != 0)
			return -1;
		resp_ws(p, n, &i);
		if (i >= n || p[i] != ':')
			return -1;
		i++;
		resp_ws(p, n, &i);
		if (RESP_KEY_IS(key, klen, "code") &&
		    resp_uint(p, n, &i, &v) == 0) {
			*code = v > 999 ? 0 : (int)v;
		} else if (resp_skip_value(p, n, &i) != 0) {
			return -1;
		}
		resp_ws(p, n, &i);
		if (i >= n)
			return -1;
		if (p[i] == '}') {
			*pos = i + 1;
			return 0;
		}
		if (p[i] != ',')
			return -1;
		i++;
	}
}

int
resp_scan(const char *p, size_t n, struct resp *r)
{
	const char *key;
	size_t i = 0, klen;
	int seen_result = 0, seen_close = 0, seen_error = 0, seen_pong = 0;

	memset(r, 0, sizeof(*r));
	resp_ws(p, n, &i);
	if (i >= n || p[i] != '{')
		return -1;
	i++;
	resp_ws(p, n, &i);
	if (i < n && p[i] == '}')
		return -1;
	for (;;) {
		resp_ws(p, n, &i);
		if (i >= n || p[i] != '"')
			return -1;
		if (resp_key(p, n, &i, &key, &klen) != 0)
			return -1;
		resp_ws(p, n, &i);
		if (i >= n || p[i] != ':')
			return -1;
		i++;
		resp_ws(p, n, &i);
		if (i >= n)
			return -1;
		if (RESP_KEY_IS(key, klen, "id")) {
			if (resp_uint(p, n, &i, &r->r_id) == 0)
				r->r_has_id = 1;
			else if (resp_skip_value(p, n, &i) != 0)
				return -1;
			if (seen_result)
				break;
		} else if (RESP_KEY_IS(key, klen, "result")) {
			seen_result = 1;
			/* The fast path: id first, as both servers write it. */
			if (r->r_has_id)
				break;
			if (resp_skip_value(p, n, &i) != 0)
				return -1;
		} else if (RESP_KEY_IS(key, klen, "error")) {
			seen_error = 1;
			if (resp_error_code(p, n, &i, &r->r_code) != 0)
				return -1;
		} else if (RESP_KEY_IS(key, klen, "close")) {
			if (n - i >= 4 && memcmp(p + i, "true", 4) == 0)
				seen_close = 1;
			if (resp_skip_value(p, n, &i) != 0)
				return -1;
		} else if (RESP_KEY_IS(key, klen, "pong")) {
			seen_pong = 1;
			if (resp_skip_value(p, n, &i) != 0)
				return -1;
		} else if (resp_skip_value(p, n, &i) != 0) {
			return -1;
		}
		resp_ws(p, n, &i);
		if (i >= n)
			return -1;
		if (p[i] == '}')
			break;
		if (p[i] != ',')
			return -1;
		i++;
	}
	if (seen_error)
		r->r_kind = RESP_ERROR;
	else if (seen_result)
		r->r_kind = RESP_RESULT;
	else if (seen_close)
		r->r_kind = RESP_CLOSE;
	else if (seen_pong)
		r->r_kind = RESP_PONG;
	else if (r->r_has_id)
		r->r_kind = RESP_CHUNK_UNDEFINED;
	else
		return -1;
	return 0;
}
