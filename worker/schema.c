/*
 * schema.c: checks a call's positional params against its route's declared
 * schema before any middleware or handler sees them. Pure functions over
 * msgpack objects (numbers read by values.c), so tests/unit/check_schema
 * links these two files alone.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "worker/schema.h"
#include "worker/values.h"

static bool
schema_type_ok(enum wspool_type type, const msgpack_object *o)
{
	int64_t i;
	uint64_t u;

	switch (type) {
	case WSPOOL_T_ANY:
		return true;
	case WSPOOL_T_NULL:
		return o->type == MSGPACK_OBJECT_NIL;
	case WSPOOL_T_BOOL:
		return o->type == MSGPACK_OBJECT_BOOLEAN;
	case WSPOOL_T_NUMBER:
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
		    o->type == MSGPACK_OBJECT_FLOAT32 ||
		    o->type == MSGPACK_OBJECT_FLOAT64;
	case WSPOOL_T_INTEGER:
		/* Any integer, also beyond int64 (as ABI 1 had it), or an
		 * integral float within int64. */
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    wspool_int64(o, &i) == WSPOOL_OK;
	case WSPOOL_T_UINT:
		return wspool_uint64(o, &u) == WSPOOL_OK;
	case WSPOOL_T_STRING:
		return o->type == MSGPACK_OBJECT_STR;
	case WSPOOL_T_ARRAY:
		return o->type == MSGPACK_OBJECT_ARRAY;
	case WSPOOL_T_OBJECT:
		return o->type == MSGPACK_OBJECT_MAP;
	}
	return false;
}

int
schema_check(const struct wspool_schema *schema,
    const msgpack_object_array *params, uint32_t *index,
    const msgpack_object **value)
{
	uint32_t i;

	if (schema == NULL)
		return 0;
	for (i = 0; i < schema->nparams; i++) {
		const struct wspool_param *p = &schema->params[i];
		const msgpack_object *o;

		if (i >= params->size) {
			if (p->optional)
				continue;
			*index = i;
			*value = NULL;
			return -1;
		}
		o = &params->ptr[i];
		if (o->type == MSGPACK_OBJECT_NIL && p->nullable)
			continue;
		if (!schema_type_ok(p->type, o)) {
			*index = i;
			*value = o;
			return -1;
		}
	}
	if (params->size > schema->nparams && !schema->rest) {
		*index = (uint32_t)schema->nparams;
		*value = &params->ptr[schema->nparams];
		return -1;
	}
	return 0;
}

int
schema_pack_error(msgpack_packer *pk, uint32_t index,
    const msgpack_object *value)
{
	char path[16];
	int n = snprintf(path, sizeof(path), "/%u", (unsigned)index);

	if (msgpack_pack_map(pk, 2) != 0 ||
	    msgpack_pack_str_with_body(pk, "path", 4) != 0 ||
	    msgpack_pack_str_with_body(pk, path, (size_t)n) != 0 ||
	    msgpack_pack_str_with_body(pk, "value", 5) != 0)
		return -1;
	if (value == NULL)
		return msgpack_pack_nil(pk);
	return msgpack_pack_object(pk, *value);
}

/*
 * Length of the UTF-8 sequence at s (n bytes left) when it is a valid
 * one, else 0: no overlong forms, surrogates or values above U+10FFFF.
 */
static size_t
schema_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

size_t
schema_utf8_next(const char *s, size_t n)
{
	return n == 0 ? 0 : schema_utf8_seq((const unsigned char *)s, n);
}

/* Skip a string literal opened by s[*i]; false when it never closes. */
static bool
schema_skip_quoted(const char *s, size_t n, size_t *i)
{
	char quote = s[*i];

	for ((*i)++; *i < n; (*i)++) {
		if (s[*i] == '\\')
			(*i)++;
		else if (s[*i] == quote)
			return true;
	}
	return false;
}

/*
 * Design note: a type expression is copied into generated TypeScript
 * (inside `Promise<...>`, after `name: `), so what is checked here is
 * what keeps it in its slot: one line, no comment, brackets balanced, and
 * no `,` or `;` outside them. `=>` is an arrow, not a closing `>`.
 */
const char *
schema_type_text_invalid(const char *text)
{
	char open[64];
	size_t n, i, depth = 0, len;

	if (text == NULL)
		return NULL;
	if ((n = strlen(text)) == 0)
		return "empty type expression";
	if (n > WSPOOL_TYPE_MAX)
		return "type expression longer than WSPOOL_TYPE_MAX";
	for (i = 0; i < n; i += len) {
		unsigned char c = (unsigned char)text[i];

		if ((len = schema_utf8_seq((const unsigned char *)text + i,
		    n - i)) == 0)
			return "type expression is not UTF-8";
		/* U+2028 and U+2029 end a line in JavaScript. */
		if (c < 0x20 || c == 0x7f || (len == 3 && c == 0xe2 &&
		    (unsigned char)text[i + 1] == 0x80 &&
		    ((unsigned char)text[i + 2] & 0xfe) == 0xa8))
			return "control character or line break in a type "
			    "expression";
	}
	for (i = 0; i < n; i++) {
		char c = text[i];

		switch (c) {
		case '"': case '\'': case '`':
			if (!schema_skip_quoted(text, n, &i))
				return "unterminated string in a type expression";
			break;
		case '/':
			return "comment or '/' in a type expression";
		case '=':
			if (i + 1 < n && text[i + 1] == '>')
				i++;
			break;
		case '(': case '[': case '{': case '<':
			if (depth == sizeof(open))
				return "type expression nested too deeply";
			open[depth++] = c == '(' ? ')' : c == '[' ? ']' :
			    c == '{' ? '}' : '>';
			break;
		case ')': case ']': case '}': case '>':
			if (depth == 0 || open[--depth] != c)
				return "unbalanced brackets in a type expression";
			break;
		case ',': case ';':
			if (depth == 0)
				return "',' or ';' outside brackets in a type "
				    "expression";
			break;
		}
	}
	return depth == 0 ? NULL :
	    "unbalanced brackets in a type expression";
}

const char *
schema_invalid(const struct wspool_schema *schema)
{
	bool optional = false;
	const char *why;

	if (schema == NULL)
		return NULL;
	if (schema->nparams > 0 && schema->params == NULL)
		return "nparams > 0 with params NULL";
	if (schema->nparams > UINT32_MAX)
		return "too many params";
	for (size_t i = 0; i < schema->nparams; i++) {
		const struct wspool_param *p = &schema->params[i];

		if ((unsigned)p->type > WSPOOL_T_UINT)
			return "unknown param type";
		if (optional && !p->optional)
			return "a required param follows an optional one";
		if ((why = schema_type_text_invalid(p->ts_type)) != NULL)
			return why;
		optional = p->optional;
	}
	return NULL;
}
