/*
 * request.c: a client message read as a call (see request.h): one pass of
 * the validating scanner over the top-level object, method and id taken
 * out, the span of params noted, every other value checked and skipped;
 * then every malformation resolved into one status by the protocol's
 * precedence.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "json/scan.h"
#include "json/write.h"
#include "master/request.h"

/* What a message carried, resolved into one status at the end. */
#define RQ_SEEN_METHOD   0x001
#define RQ_SEEN_ID       0x002
#define RQ_SEEN_PARAMS   0x004
#define RQ_BAD_METHOD    0x010  /* not a string */
#define RQ_NUL_METHOD    0x020  /* a string with a NUL byte */
#define RQ_BAD_ID        0x040
#define RQ_BAD_PARAMS    0x080
#define RQ_TOO_DEEP      0x100

static const char rq_err_dup[] = "Parse error: duplicate key";

enum rq_key {
	RQ_KEY_OTHER = 0,
	RQ_KEY_METHOD,
	RQ_KEY_ID,
	RQ_KEY_PARAMS,
};

/* ---- escapes ---------------------------------------------------------------- */

static int
rq_hex4(const char *s)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = (unsigned char)s[i];

		v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/*
 * The escape at s (a backslash; checked by the scanner) as a code point
 * (a lone surrogate stays a surrogate); *used gets its length in bytes.
 */
static uint32_t
rq_escape(const char *s, const char *end, size_t *used)
{
	uint32_t cp, lo;

	*used = 2;
	switch (s[1]) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u': break;
	default: return (unsigned char)s[1];   /* " \ / */
	}
	*used = 6;
	cp = (uint32_t)rq_hex4(s + 2);
	if (cp >= 0xd800 && cp <= 0xdbff && end - s >= 12 && s[6] == '\\' &&
	    s[7] == 'u' && (lo = (uint32_t)rq_hex4(s + 8)) >= 0xdc00 &&
	    lo <= 0xdfff) {
		*used = 12;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return cp;
}

/* cp as UTF-8 (a surrogate as its 3 bytes, WTF-8) at d; the length. */
static size_t
rq_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Decode an escaped string s[0..n) into out (cap bytes). Returns the
 * decoded length, which may exceed cap: only cap bytes are written.
 */
static size_t
rq_unescape(const char *s, size_t n, char *out, size_t cap)
{
	const char *p = s, *end = s + n;
	char u[4];
	size_t len = 0, used, k;

	while (p < end) {
		if (*p != '\\') {
			if (len < cap)
				out[len] = *p;
			len++;
			p++;
			continue;
		}
		k = rq_utf8(u, rq_escape(p, end, &used));
		for (size_t i = 0; i < k; i++, len++)
			if (len < cap)
				out[len] = u[i];
		p += used;
	}
	return len;
}

/* ---- ids ---------------------------------------------------------------------- */

static const char rq_hexdigits[] = "0123456789abcdef";

/*
 * The canonical text of an escaped string id s[0..n): what JSON.stringify
 * writes for what JSON.parse reads. Returns the length written to out, or
 * -1 when it decodes to more than REQUEST_ID_STR_MAX bytes.
 */
static int
rq_id_escaped(const char *s, size_t n, char *out)
{
	const char *p = s, *end = s + n;
	size_t bytes = 0, used;
	char *d = out;
	uint32_t cp;

	*d++ = '"';
	while (p < end) {
		if (*p != '\\') {
			/* Raw bytes need no escape (the scanner saw to it). */
			if (++bytes > REQUEST_ID_STR_MAX)
				return -1;
			*d++ = *p++;
			continue;
		}
		cp = rq_escape(p, end, &used);
		p += used;
		if (cp >= 0xd800 && cp <= 0xdfff) {
			/* A lone surrogate: escaped, as JSON.stringify does. */
			if ((bytes += 3) > REQUEST_ID_STR_MAX)
				return -1;
			memcpy(d, "\\ud", 3);
			d[3] = rq_hexdigits[(cp >> 8) & 15];
			d[4] = rq_hexdigits[(cp >> 4) & 15];
			d[5] = rq_hexdigits[cp & 15];
			d += 6;
			continue;
		}
		if (cp >= 0x20 && cp != '"' && cp != '\\') {
			size_t k = rq_utf8(d, cp);

			if ((bytes += k) > REQUEST_ID_STR_MAX)
				return -1;
			d += k;
			continue;
		}
		if (++bytes > REQUEST_ID_STR_MAX)
			return -1;
		d = json_escape_char(d, cp);
	}
	*d++ = '"';
	return (int)(d - out);
}

/* An integer id: plain digits (what JSON.stringify writes for 0..2^53-1). */
static bool
rq_id_number_ok(const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v <= REQUEST_MAX_SAFE_INT;
}

int
request_id_canon(const char *text, size_t len, char *out)
{
	bool esc;

	if (len >= 2 && text[0] == '"') {
		esc = memchr(text + 1, '\\', len - 2) != NULL;
		if (esc)
			return rq_id_escaped(text + 1, len - 2, out);
		if (len - 2 > REQUEST_ID_STR_MAX)
			return -1;
		memcpy(out, text, len);
		return (int)len;
	}
	if (!rq_id_number_ok(text, len))
		return -1;
	memcpy(out, text, len);
	return (int)len;
}

/* ---- the message ------------------------------------------------------------------ */

static enum rq_key
rq_key(const char *k, size_t n, bool esc)
{
	char buf[8];

	if (esc) {
		if ((n = rq_unescape(k, n, buf, sizeof(buf))) > sizeof(buf))
			return RQ_KEY_OTHER;
		k = buf;
	}
	if (n == 6 && memcmp(k, "method", 6) == 0)
		return RQ_KEY_METHOD;
	if (n == 2 && memcmp(k, "id", 2) == 0)
		return RQ_KEY_ID;
	if (n == 6 && memcmp(k, "params", 6) == 0)
		return RQ_KEY_PARAMS;
	return RQ_KEY_OTHER;
}

static void
rq_method(struct request *rq, const char *s, size_t n, bool esc,
    unsigned *flags)
{
	if (esc) {
		n = rq_unescape(s, n, rq->rq_method_buf, REQUEST_METHOD_MAX);
		s = rq->rq_method_buf;
		if (memchr(s, '\0', n < REQUEST_METHOD_MAX ? n :
		    REQUEST_METHOD_MAX) != NULL) {
			*flags |= RQ_NUL_METHOD;
			return;
		}
	}
	rq->rq_has_method = true;
	rq->rq_method = s;
	rq->rq_method_too_long = n > REQUEST_METHOD_MAX;
	rq->rq_method_len = n > REQUEST_METHOD_MAX ? REQUEST_METHOD_MAX : n;
	rq->rq_ping = n == 5 && memcmp(s, ".ping", 5) == 0;
}

/* The id's value at sc_p: read (or marked bad) and skipped. */
static enum json_scan_status
rq_id(struct request *rq, struct json_scan *s, int c, unsigned *flags)
{
	const char *start = (const char *)s->sc_p, *str;
	enum json_scan_status st;
	unsigned depth;
	size_t n;
	bool esc;
	int len;

	if (c == '"') {
		if ((st = json_scan_string(s, &str, &n, &esc)) != JSON_SCAN_OK)
			return st;
		if (!esc) {
			/* Already canonical: the quoted text as it came. */
			if (n > REQUEST_ID_STR_MAX)
				goto bad;
			rq->rq_id = start;
			rq->rq_id_len = n + 2;
		} else {
			if ((len = rq_id_escaped(str, n, rq->rq_id_buf)) < 0)
				goto bad;
			rq->rq_id = rq->rq_id_buf;
			rq->rq_id_len = (size_t)len;
		}
		rq->rq_has_id = true;
		return JSON_SCAN_OK;
	}
	/* Plain digits followed by what may follow a value: a number, read
	 * here; anything else is the scanner's to judge. */
	for (n = 0; start + n < (const char *)s->sc_end &&
	    start[n] >= '0' && start[n] <= '9' && n < 20; n++)
		;
	if (n > 0 && (n == 1 || start[0] != '0') &&
	    start + n < (const char *)s->sc_end && (start[n] == ',' ||
	    start[n] == '}' || start[n] == ' ')) {
		s->sc_p = (const unsigned char *)start + n;
	} else {
		if ((st = json_scan_value(s, &depth)) != JSON_SCAN_OK)
			return st;
		n = (size_t)((const char *)s->sc_p - start);
	}
	if (!rq_id_number_ok(start, n))
		goto bad;
	rq->rq_id = start;
	rq->rq_id_len = n;
	rq->rq_has_id = true;
	return JSON_SCAN_OK;
bad:
	*flags |= RQ_BAD_ID;
	return JSON_SCAN_OK;
}

/* The value of a top-level key, at sc_p (c its first byte). */
static enum json_scan_status
rq_member(struct request *rq, struct json_scan *s, enum rq_key key, int c,
    unsigned *flags)
{
	const char *start = (const char *)s->sc_p, *str;
	enum json_scan_status st;
	unsigned depth;
	size_t n;
	bool esc;

	switch (key) {
	case RQ_KEY_METHOD:
		if (c != '"')
			break;
		if ((st = json_scan_string(s, &str, &n, &esc)) == JSON_SCAN_OK)
			rq_method(rq, str, n, esc, flags);
		return st;
	case RQ_KEY_ID:
		if (c == '"' || c == '-' || (c >= '0' && c <= '9'))
			return rq_id(rq, s, c, flags);
		*flags |= RQ_BAD_ID;
		break;
	case RQ_KEY_PARAMS:
		if (c != '[')
			break;
		if ((st = json_scan_value(s, &depth)) != JSON_SCAN_OK)
			return st;
		rq->rq_params = start;
		rq->rq_params_len = (size_t)((const char *)s->sc_p - start);
		if (depth > REQUEST_PARAMS_MAX_DEPTH)
			*flags |= RQ_TOO_DEEP;
		return JSON_SCAN_OK;
	case RQ_KEY_OTHER:
		break;
	}
	if (key == RQ_KEY_METHOD)
		*flags |= RQ_BAD_METHOD;
	else if (key == RQ_KEY_PARAMS)
		*flags |= RQ_BAD_PARAMS;
	return json_scan_value(s, &depth);
}

/* Resolve what the scan saw into one status, by the protocol's precedence. */
static enum request_status
rq_status(struct request *rq, unsigned f)
{
	if (!(f & RQ_SEEN_METHOD)) {
		rq->rq_error = "Invalid request: missing method";
		return REQUEST_NO_METHOD;
	}
	if (f & RQ_BAD_METHOD) {
		rq->rq_error = "Invalid request: method must be a string";
		return REQUEST_NO_METHOD;
	}
	if (f & RQ_NUL_METHOD) {
		rq->rq_error = "Invalid request: method contains a NUL character";
		return REQUEST_NO_METHOD;
	}
	if (f & RQ_BAD_ID) {
		rq->rq_error = "Invalid request: id must be an integer from 0 to "
		    "2^53-1 or a string of at most 256 bytes";
		return REQUEST_BAD_ID;
	}
	if (f & RQ_BAD_PARAMS) {
		rq->rq_error = "Invalid request: params must be an array";
		return REQUEST_BAD_PARAMS;
	}
	if (f & RQ_TOO_DEEP) {
		rq->rq_error = "Invalid request: params nested too deeply";
		return REQUEST_TOO_DEEP;
	}
	return REQUEST_OK;
}

static enum request_status
rq_fail(struct request *rq, enum request_status st, const char *why)
{
	rq->rq_error = why;
	if (st != REQUEST_BAD_PARAMS && st != REQUEST_TOO_DEEP &&
	    st != REQUEST_DEEP)
		rq->rq_has_id = false;
	if (st != REQUEST_OK) {
		rq->rq_params = NULL;
		rq->rq_params_len = 0;
	}
	return st;
}

/* A scan that stopped: bad JSON, or nested past the scanner's bound. */
static enum request_status
rq_scan_fail(struct request *rq, const struct json_scan *s,
    enum json_scan_status st)
{
	if (st == JSON_SCAN_TOO_DEEP)
		return rq_fail(rq, REQUEST_DEEP, s->sc_error);
	rq->rq_ping = false;
	return rq_fail(rq, REQUEST_BAD_JSON, s->sc_error);
}

enum request_status
request_parse(struct request *rq, const char *msg, size_t len)
{
	struct json_scan s;
	enum json_scan_status st;
	enum request_status rs;
	unsigned flags = 0, seen, depth;
	enum rq_key key;
	const char *k;
	size_t kn;
	bool kesc;
	int c;

	rq->rq_error = NULL;
	rq->rq_method = "";
	rq->rq_method_len = 0;
	rq->rq_has_method = false;
	rq->rq_method_too_long = false;
	rq->rq_ping = false;
	rq->rq_has_id = false;
	rq->rq_id = NULL;
	rq->rq_id_len = 0;
	rq->rq_params = NULL;
	rq->rq_params_len = 0;
	json_scan_init(&s, msg, len);
	if ((c = json_scan_peek(&s)) != '{') {
		if ((st = json_scan_value(&s, &depth)) != JSON_SCAN_OK)
			return rq_scan_fail(rq, &s, st);
		if (json_scan_peek(&s) != -1)
			return rq_fail(rq, REQUEST_BAD_JSON, json_scan_err_trailing);
		return rq_fail(rq, REQUEST_NOT_OBJECT,
		    "Invalid request: not a JSON object");
	}
	s.sc_p++;
	if ((c = json_scan_peek(&s)) == '}') {
		s.sc_p++;
		goto end;
	}
	for (;;) {
		if (c != '"')
			return rq_fail(rq, REQUEST_BAD_JSON, c < 0 ?
			    json_scan_err_eof : json_scan_err_key);
		if ((st = json_scan_string(&s, &k, &kn, &kesc)) != JSON_SCAN_OK)
			return rq_scan_fail(rq, &s, st);
		key = rq_key(k, kn, kesc);
		if ((c = json_scan_peek(&s)) != ':')
			return rq_fail(rq, REQUEST_BAD_JSON, c < 0 ?
			    json_scan_err_eof : json_scan_err_colon);
		s.sc_p++;
		if ((c = json_scan_peek(&s)) < 0)
			return rq_fail(rq, REQUEST_BAD_JSON, json_scan_err_eof);
		seen = key == RQ_KEY_METHOD ? RQ_SEEN_METHOD :
		    key == RQ_KEY_ID ? RQ_SEEN_ID :
		    key == RQ_KEY_PARAMS ? RQ_SEEN_PARAMS : 0;
		if (flags & seen)
			return rq_fail(rq, REQUEST_BAD_JSON, rq_err_dup);
		flags |= seen;
		if ((st = rq_member(rq, &s, key, c, &flags)) != JSON_SCAN_OK)
			return rq_scan_fail(rq, &s, st);
		if ((c = json_scan_peek(&s)) == '}') {
			s.sc_p++;
			break;
		}
		if (c != ',')
			return rq_fail(rq, REQUEST_BAD_JSON, c < 0 ?
			    json_scan_err_eof : json_scan_err_object);
		s.sc_p++;
		c = json_scan_peek(&s);
	}
end:
	if (json_scan_peek(&s) != -1)
		return rq_fail(rq, REQUEST_BAD_JSON, json_scan_err_trailing);
	if ((rs = rq_status(rq, flags)) != REQUEST_OK)
		return rq_fail(rq, rs, rq->rq_error);
	return REQUEST_OK;
}

int
request_first_param(const struct request *rq, const char **text,
    size_t *len)
{
	struct json_scan s;
	unsigned depth;
	const char *start;

	if (rq->rq_params == NULL)
		return -1;
	json_scan_init(&s, rq->rq_params + 1, rq->rq_params_len - 1);
	if (json_scan_peek(&s) == ']')
		return -1;
	start = (const char *)s.sc_p;
	if (json_scan_value(&s, &depth) != JSON_SCAN_OK)
		return -1;
	*text = start;
	*len = (size_t)((const char *)s.sc_p - start);
	return 0;
}
