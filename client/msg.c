/*
 * msg.c: wspool-call's JSON, all through yajl (see msg.h for the design
 * notes): the call message, the server's answers and the route manifest.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "client/fail.h"
#include "client/msg.h"

/* ---- the call message ------------------------------------------------------ */

/* True when s is one complete JSON text (strict: no comments, UTF-8). */
static bool
msg_is_json(const char *s)
{
	yajl_handle h;
	yajl_status st;

	/* No callbacks: yajl only checks the grammar. */
	if ((h = yajl_alloc(NULL, NULL, NULL)) == NULL)
		return false;
	st = yajl_parse(h, (const unsigned char *)s, strlen(s));
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	return st == yajl_status_ok;
}

/* s as a JSON string on f; -1 when s is not UTF-8. */
static int
msg_put_string(FILE *f, yajl_gen g, const unsigned char *s, size_t n)
{
	const unsigned char *buf;
	size_t len;

	/* One string per generator turn: yajl_gen escapes, we place it. */
	yajl_gen_clear(g);
	yajl_gen_reset(g, NULL);
	if (yajl_gen_string(g, s, n) != yajl_gen_status_ok ||
	    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return -1;
	fwrite(buf, 1, len, f);
	return 0;
}

int
msg_call(const char *method, char *const params[], size_t nparams,
    bool with_id, char **out, size_t *len)
{
	yajl_gen g = NULL;
	FILE *f = NULL;
	size_t i;

	*out = NULL;
	if ((g = yajl_gen_alloc(NULL)) == NULL ||
	    (f = open_memstream(out, len)) == NULL) {
		fail_set(FAIL_LOCAL, "out of memory");
		goto fail;
	}
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	fputs(with_id ? "{\"id\":" MSG_CALL_ID ",\"method\":" : "{\"method\":",
	    f);
	if (msg_put_string(f, g, (const unsigned char *)method,
	    strlen(method)) != 0) {
		fail_set(FAIL_USAGE, "METHOD is not valid UTF-8");
		goto fail;
	}
	fputs(",\"params\":[", f);
	for (i = 0; i < nparams; i++) {
		if (i > 0)
			fputc(',', f);
		if (msg_is_json(params[i]))
			fputs(params[i], f);
		else if (msg_put_string(f, g, (const unsigned char *)params[i],
		    strlen(params[i])) != 0) {
			fail_set(FAIL_USAGE, "PARAM %zu is neither JSON nor "
			    "valid UTF-8", i + 1);
			goto fail;
		}
	}
	fputs("]}", f);
	if (ferror(f)) {
		fail_set(FAIL_LOCAL, "out of memory");
		goto fail;
	}
	if (fclose(f) != 0) {
		f = NULL;
		fail_set(FAIL_LOCAL, "out of memory");
		goto fail;
	}
	yajl_gen_free(g);
	return 0;
fail:
	if (f != NULL)
		fclose(f);
	free(*out);
	*out = NULL;
	if (g != NULL)
		yajl_gen_free(g);
	return -1;
}

/* ---- streaming reads ------------------------------------------------------ */

/* Flags of one open container. */
#define MSG_MAP  0x01           /* an object (else an array) */
#define MSG_SOME 0x02           /* has a member: the next needs a comma */

enum msg_mode { MSG_MODE_ANSWER, MSG_MODE_MANIFEST };

enum msg_key {
	MSG_KEY_OTHER, MSG_KEY_ID, MSG_KEY_RESULT, MSG_KEY_ERROR,
	MSG_KEY_CLOSE, MSG_KEY_NAME, MSG_KEY_PATTERN,
};

enum msg_kind { MSG_V_NULL, MSG_V_TRUE, MSG_V_FALSE, MSG_V_NUMBER,
	MSG_V_STRING };

struct msg_parse {
	enum msg_mode mp_mode;
	yajl_gen mp_gen;                /* escapes the strings we write */
	unsigned char *mp_stack;        /* MSG_MAP | MSG_SOME per level */
	size_t mp_depth;                /* containers open */
	size_t mp_cap;
	enum msg_key mp_key;            /* the member whose value is next */
	const char *mp_fail;            /* why a callback stopped the parse */
	/* The value being written back, while one is. */
	FILE *mp_out;
	char *mp_tmp;                   /* open_memstream's buffer */
	size_t mp_tmplen;
	char **mp_dst;                  /* where it goes once complete */
	size_t *mp_dstlen;
	size_t mp_base;                 /* the depth it started at */
	/* MSG_MODE_ANSWER */
	struct msg_answer *mp_answer;
	/* MSG_MODE_MANIFEST */
	const char *mp_method;
	bool mp_entry_match;            /* this entry's name is mp_method */
	int mp_entry_pattern;
	int mp_found;
};

/* A callback's way to stop yajl: 0 is "client cancelled". */
static int
msg_stop(struct msg_parse *p, const char *why)
{
	if (p->mp_fail == NULL)
		p->mp_fail = why;
	return 0;
}

static int
msg_push(struct msg_parse *p, unsigned char flags)
{
	unsigned char *s;
	size_t cap;

	if (p->mp_depth == p->mp_cap) {
		cap = p->mp_cap != 0 ? p->mp_cap * 2 : 64;
		if ((s = realloc(p->mp_stack, cap)) == NULL)
			return msg_stop(p, "out of memory");
		p->mp_stack = s;
		p->mp_cap = cap;
	}
	p->mp_stack[p->mp_depth++] = flags;
	return 1;
}

/* Start writing back the value that follows (a member's value). */
static int
msg_keep(struct msg_parse *p, char **dst, size_t *dstlen)
{
	p->mp_tmp = NULL;
	if ((p->mp_out = open_memstream(&p->mp_tmp, &p->mp_tmplen)) == NULL)
		return msg_stop(p, "out of memory");
	p->mp_dst = dst;
	p->mp_dstlen = dstlen;
	p->mp_base = p->mp_depth;
	return 1;
}

/* After a value: if it was the kept value itself, it is complete. */
static int
msg_kept(struct msg_parse *p)
{
	bool bad;

	if (p->mp_out == NULL || p->mp_depth != p->mp_base)
		return 1;
	bad = ferror(p->mp_out) != 0;
	if (fclose(p->mp_out) != 0)
		bad = true;
	p->mp_out = NULL;
	if (bad) {
		free(p->mp_tmp);
		p->mp_tmp = NULL;
		return msg_stop(p, "out of memory");
	}
	/* A repeated member: the last one counts, as in JSON.parse. */
	free(*p->mp_dst);
	*p->mp_dst = p->mp_tmp;
	*p->mp_dstlen = p->mp_tmplen;
	p->mp_tmp = NULL;
	return 1;
}

/* Before a value inside a kept value: the comma between array elements
 * (in an object the key wrote its own). */
static void
msg_sep(struct msg_parse *p)
{
	unsigned char *top;

	if (p->mp_depth == p->mp_base)
		return;
	top = &p->mp_stack[p->mp_depth - 1];
	if (*top & MSG_MAP)
		return;
	if (*top & MSG_SOME)
		fputc(',', p->mp_out);
	*top |= MSG_SOME;
}

static int
msg_pattern_of(const unsigned char *s, size_t n)
{
	static const char *const names[] = {
		[MSG_REQUEST] = "request",
		[MSG_SUBSCRIPTION] = "subscription",
		[MSG_NOTIFICATION] = "notification",
	};
	int i;

	for (i = MSG_REQUEST; i <= MSG_NOTIFICATION; i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return i;
	return MSG_UNKNOWN;
}

/* A scalar that is a member of the answer or of a manifest entry. */
static void
msg_member(struct msg_parse *p, enum msg_kind kind, const unsigned char *s,
    size_t n)
{
	struct msg_answer *a = p->mp_answer;

	if (p->mp_mode == MSG_MODE_ANSWER) {
		if (p->mp_depth != 1)
			return;
		if (p->mp_key == MSG_KEY_ID && kind == MSG_V_NUMBER)
			a->ma_ours = n == strlen(MSG_CALL_ID) &&
			    memcmp(s, MSG_CALL_ID, n) == 0;
		else if (p->mp_key == MSG_KEY_ID)
			a->ma_id_null = kind == MSG_V_NULL;
		else if (p->mp_key == MSG_KEY_CLOSE)
			a->ma_close = kind == MSG_V_TRUE;
		return;
	}
	/* A manifest: members of the objects in the top-level array. */
	if (p->mp_depth != 2 || (p->mp_stack[1] & MSG_MAP) == 0 ||
	    kind != MSG_V_STRING)
		return;
	if (p->mp_key == MSG_KEY_NAME)
		p->mp_entry_match = strlen(p->mp_method) == n &&
		    memcmp(p->mp_method, s, n) == 0;
	else if (p->mp_key == MSG_KEY_PATTERN)
		p->mp_entry_pattern = msg_pattern_of(s, n);
}

static int
msg_value(struct msg_parse *p, enum msg_kind kind, const unsigned char *s,
    size_t n)
{
	if (p->mp_depth == 0)
		return msg_stop(p, p->mp_mode == MSG_MODE_ANSWER ?
		    "not a JSON object" : "not a JSON array");
	if (p->mp_out == NULL) {
		msg_member(p, kind, s, n);
		return 1;
	}
	msg_sep(p);
	if (kind == MSG_V_STRING) {
		if (msg_put_string(p->mp_out, p->mp_gen, s, n) != 0)
			return msg_stop(p, "cannot write a string back");
	} else {
		fwrite(s, 1, n, p->mp_out);
	}
	return msg_kept(p);
}

static int
msg_null_cb(void *ctx)
{
	return msg_value(ctx, MSG_V_NULL, (const unsigned char *)"null", 4);
}

static int
msg_boolean_cb(void *ctx, int b)
{
	return msg_value(ctx, b ? MSG_V_TRUE : MSG_V_FALSE,
	    (const unsigned char *)(b ? "true" : "false"), b ? 4 : 5);
}

static int
msg_number_cb(void *ctx, const char *s, size_t n)
{
	/* The text as sent: no rounding through a double. */
	return msg_value(ctx, MSG_V_NUMBER, (const unsigned char *)s, n);
}

static int
msg_string_cb(void *ctx, const unsigned char *s, size_t n)
{
	return msg_value(ctx, MSG_V_STRING, s, n);
}

static enum msg_key
msg_key_of(enum msg_mode mode, const unsigned char *s, size_t n)
{
#define MSG_IS(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
	if (mode == MSG_MODE_ANSWER)
		return MSG_IS("id") ? MSG_KEY_ID : MSG_IS("result") ?
		    MSG_KEY_RESULT : MSG_IS("error") ? MSG_KEY_ERROR :
		    MSG_IS("close") ? MSG_KEY_CLOSE : MSG_KEY_OTHER;
	return MSG_IS("name") ? MSG_KEY_NAME : MSG_IS("pattern") ?
	    MSG_KEY_PATTERN : MSG_KEY_OTHER;
#undef MSG_IS
}

static int
msg_map_key_cb(void *ctx, const unsigned char *s, size_t n)
{
	struct msg_parse *p = ctx;
	struct msg_answer *a = p->mp_answer;
	unsigned char *top;

	if (p->mp_out != NULL) {
		top = &p->mp_stack[p->mp_depth - 1];
		if (*top & MSG_SOME)
			fputc(',', p->mp_out);
		*top |= MSG_SOME;
		if (msg_put_string(p->mp_out, p->mp_gen, s, n) != 0)
			return msg_stop(p, "cannot write a key back");
		fputc(':', p->mp_out);
		return 1;
	}
	p->mp_key = msg_key_of(p->mp_mode, s, n);
	if (p->mp_mode == MSG_MODE_ANSWER && p->mp_depth == 1) {
		if (p->mp_key == MSG_KEY_RESULT)
			return msg_keep(p, &a->ma_result, &a->ma_result_len);
		if (p->mp_key == MSG_KEY_ERROR)
			return msg_keep(p, &a->ma_error, &a->ma_error_len);
	}
	return 1;
}

static int
msg_start(struct msg_parse *p, bool map)
{
	if (p->mp_depth == 0 && map != (p->mp_mode == MSG_MODE_ANSWER))
		return msg_stop(p, map ? "not a JSON array" :
		    "not a JSON object");
	if (p->mp_out != NULL) {
		msg_sep(p);
		fputc(map ? '{' : '[', p->mp_out);
	} else if (p->mp_mode == MSG_MODE_MANIFEST && p->mp_depth == 1 &&
	    map) {
		p->mp_entry_match = false;
		p->mp_entry_pattern = MSG_UNKNOWN;
	}
	return msg_push(p, map ? MSG_MAP : 0);
}

static int
msg_end(struct msg_parse *p)
{
	bool map = (p->mp_stack[--p->mp_depth] & MSG_MAP) != 0;

	if (p->mp_out != NULL) {
		fputc(map ? '}' : ']', p->mp_out);
		return msg_kept(p);
	}
	/* The end of a manifest entry: the first one naming us counts. */
	if (p->mp_mode == MSG_MODE_MANIFEST && p->mp_depth == 1 && map &&
	    p->mp_entry_match && p->mp_found == MSG_UNKNOWN)
		p->mp_found = p->mp_entry_pattern;
	return 1;
}

static int
msg_start_map_cb(void *ctx)
{
	return msg_start(ctx, true);
}

static int
msg_start_array_cb(void *ctx)
{
	return msg_start(ctx, false);
}

static int
msg_end_cb(void *ctx)
{
	return msg_end(ctx);
}

static const yajl_callbacks msg_callbacks = {
	.yajl_null = msg_null_cb,
	.yajl_boolean = msg_boolean_cb,
	.yajl_number = msg_number_cb,
	.yajl_string = msg_string_cb,
	.yajl_start_map = msg_start_map_cb,
	.yajl_map_key = msg_map_key_cb,
	.yajl_end_map = msg_end_cb,
	.yajl_start_array = msg_start_array_cb,
	.yajl_end_array = msg_end_cb,
};

/* One strict yajl pass over data with p's callbacks; 0 or -1 and why. */
static int
msg_run(struct msg_parse *p, const unsigned char *data, size_t len,
    char *why, size_t whylen)
{
	yajl_handle h = NULL;
	yajl_status st;
	unsigned char *err;
	size_t n;
	int rv = -1;

	if ((p->mp_gen = yajl_gen_alloc(NULL)) == NULL ||
	    (h = yajl_alloc(&msg_callbacks, NULL, p)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	st = yajl_parse(h, data, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_ok) {
		rv = 0;
		goto out;
	}
	if (p->mp_fail != NULL) {
		snprintf(why, whylen, "%s", p->mp_fail);
	} else if ((err = yajl_get_error(h, 0, data, len)) != NULL) {
		snprintf(why, whylen, "%s", (const char *)err);
		yajl_free_error(h, err);
		n = strlen(why);
		while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
			why[--n] = '\0';
	} else {
		snprintf(why, whylen, "invalid JSON");
	}
out:
	if (p->mp_out != NULL) {
		fclose(p->mp_out);
		p->mp_out = NULL;
	}
	free(p->mp_tmp);
	free(p->mp_stack);
	if (h != NULL)
		yajl_free(h);
	if (p->mp_gen != NULL)
		yajl_gen_free(p->mp_gen);
	return rv;
}

int
msg_answer_parse(struct msg_answer *a, const unsigned char *data,
    size_t len, char *why, size_t whylen)
{
	struct msg_parse p;

	memset(a, 0, sizeof(*a));
	memset(&p, 0, sizeof(p));
	p.mp_mode = MSG_MODE_ANSWER;
	p.mp_answer = a;
	return msg_run(&p, data, len, why, whylen);
}

void
msg_answer_free(struct msg_answer *a)
{
	free(a->ma_result);
	free(a->ma_error);
	memset(a, 0, sizeof(*a));
}

int
msg_manifest_pattern(const char *body, size_t len, const char *method,
    char *why, size_t whylen)
{
	struct msg_parse p;

	memset(&p, 0, sizeof(p));
	p.mp_mode = MSG_MODE_MANIFEST;
	p.mp_method = method;
	p.mp_found = MSG_UNKNOWN;
	if (msg_run(&p, (const unsigned char *)body, len, why, whylen) != 0)
		return -1;
	return p.mp_found;
}
