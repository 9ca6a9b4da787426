/*
 * request.c: the request parser. A client message becomes msgpack params
 * in one streaming yajl pass (no tree), with method and id picked out and
 * every malformation resolved into one status by the protocol's precedence.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "master/jlex.h"
#include "master/json.h"
#include "master/request.h"
#include "master/utf8.h"

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
		return (int)json_quote(out, o->via.str.ptr, o->via.str.size);
	default:
		return -1;
	}
}

/* ---- JSON -> msgpack ------------------------------------------------------ */

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
	struct jlex *jp_lex;        /* long strings passed around yajl's lexer */
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

/* A number that is not an integer msgpack can hold exactly: a double. */
static int
jp_put_double(struct jp *p, const char *s, size_t n)
{
	char buf[64], *heap = NULL, *t = buf;
	double x;

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
 * A number of params: integers that fit int64 or uint64 stay integers,
 * anything else (fraction, exponent, huge, "-0") is a double.
 */
static int
jp_put_number(struct jp *p, const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;
	bool neg = false;
	unsigned d;
	int rv;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	for (; i < n; i++) {
		d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return jp_put_double(p, s, n);
		v = v * 10 + d;
	}
	if (!neg)
		rv = msgpack_pack_uint64(&p->jp_pk, v);
	else if (v == 0)
		return jp_put_double(p, s, n);   /* JSON -0 is the double -0 */
	else if (v <= (uint64_t)INT64_MAX)
		rv = msgpack_pack_int64(&p->jp_pk, -(int64_t)v);
	else if (v == (uint64_t)INT64_MAX + 1)
		rv = msgpack_pack_int64(&p->jp_pk, INT64_MIN);
	else
		return jp_put_double(p, s, n);
	return rv == 0 ? 1 : jp_fail(p, jp_err_oom);
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
		goto fail;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto fail;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)JSON_MAX_SAFE_INT)
		goto fail;
	memcpy(req->id_json, s, n);   /* JSON has no leading zeros: canonical */
	req->id_json[n] = '\0';
	req->id_len = n;
	req->has_id = true;
	return;
fail:
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
	req->id_len = json_quote(req->id_json, tmp, n);
	req->has_id = true;
	return 1;
}

static int
jp_string_cb(void *ctx, const unsigned char *s, size_t n)
{
	struct jp *p = ctx;
	bool valid = jlex_take_sub(p->jp_lex, &s, &n);
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
	bool valid = jlex_take_sub(p->jp_lex, &s, &n);
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
	struct jlex lex;
	yajl_handle h = NULL;
	yajl_status ys;
	enum jreq_status st = JREQ_BAD_JSON;
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

	p.jp_req = req;
	p.jp_out = params;
	msgpack_packer_init(&p.jp_pk, params, msgpack_sbuffer_write);
	p.jp_flags = 0;
	p.jp_key = JP_KEY_OTHER;
	p.jp_depth = 0;
	p.jp_skip = 0;
	p.jp_pdepth = 0;
	p.jp_fatal = NULL;
	p.jp_lex = &lex;

	if ((h = jlex_alloc(&lex, &jp_callbacks, &p)) == NULL) {
		p.jp_fatal = jp_err_oom;
		goto fail;
	}
	/* Strict: no comments, one value, no garbage, UTF-8 checked. */
	yajl_config(h, yajl_dont_validate_strings, 0);
	ys = jlex_feed(&lex, h, (const unsigned char *)json, len);
	if (ys == yajl_status_ok && (ys = yajl_complete_parse(h)) !=
	    yajl_status_ok && p.jp_fatal == NULL)
		p.jp_fatal = "Parse error: unexpected end of input";
	if (ys != yajl_status_ok && p.jp_fatal == NULL)
		p.jp_fatal = "Parse error: invalid JSON";
	if (p.jp_fatal != NULL)
		goto fail;
	if ((st = jp_status(&p)) != JREQ_OK)
		goto fail;
	if (!req->has_params && msgpack_pack_array(&p.jp_pk, 0) != 0) {
		p.jp_fatal = jp_err_oom;
		goto fail;
	}
	yajl_free(h);
	return JREQ_OK;

fail:
	if (h != NULL)
		yajl_free(h);
	if (p.jp_fatal != NULL) {
		st = JREQ_BAD_JSON;
		req->error = p.jp_fatal;
	}
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
