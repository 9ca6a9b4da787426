/*
 * check_json.c: unit tests for json/, the JSON code both sides share: the
 * workers' reader (json/parse.c: JSON text -> msgpack_object tree, with
 * its nesting bound and the surrogate rule), their writer
 * (json/from_msgpack.c: packed msgpack -> JSON text), the writing helpers
 * (json/write.c) and json/utf8.c. The master's scanner is check_request's.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "json/from_msgpack.h"
#include "json/parse.h"
#include "json/utf8.h"
#include "json/write.h"

static struct json_buf text;
static struct json_parse jp;
static msgpack_zone zone;
static msgpack_sbuffer packed;

static void
setup(void)
{
	json_buf_init(&text);
	json_parse_init(&jp);
	ck_assert(msgpack_zone_init(&zone, 1024));
	msgpack_sbuffer_init(&packed);
}

static void
teardown(void)
{
	json_buf_free(&text);
	json_parse_free(&jp);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&packed);
}

/* The JSON text of packed msgpack bytes (which must convert). */
static const char *
mp_json(const char *mp, size_t len)
{
	text.jb_len = 0;
	ck_assert_int_eq(json_from_msgpack(&text, mp, len), JSON_MSGPACK_OK);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	ck_assert(utf8_valid(text.jb_data, text.jb_len - 1));
	return text.jb_data;
}

/* The JSON text of one msgpack object, packed first (as a handler does). */
static const char *
obj_json(const msgpack_object *o)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(&packed);
	msgpack_packer_init(&pk, &packed, msgpack_sbuffer_write);
	ck_assert_int_eq(msgpack_pack_object(&pk, *o), 0);
	return mp_json(packed.data, packed.size);
}

/* Parse JSON text (an exact-size copy, so an overread shows) into a tree. */
static enum json_parse_status
parse_n(const char *s, size_t n, msgpack_object *o, const char **why)
{
	static char *copy;
	enum json_parse_status st;

	free(copy);
	copy = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, n);
	msgpack_zone_clear(&zone);
	st = json_parse(&jp, copy, n, &zone, o, why);
	ck_assert((st == JSON_PARSE_OK) == (*why == NULL));
	if (st != JSON_PARSE_OK)
		ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	return st;
}

static enum json_parse_status
parse(const char *s, msgpack_object *o, const char **why)
{
	return parse_n(s, strlen(s), o, why);
}

/* What a worker sends back for the params text in: parse, pack, write. */
static const char *
round_trip(const char *in)
{
	msgpack_object o;
	const char *why;

	ck_assert_msg(parse(in, &o, &why) == JSON_PARSE_OK, "%s: %s", in, why);
	return obj_json(&o);
}

#define ck_round(in, want) ck_assert_str_eq(round_trip(in), (want))

/* ---- reading ------------------------------------------------------------ */

START_TEST(test_parse_values)
{
	msgpack_object o;
	const char *why;

	ck_assert_int_eq(parse("[]", &o, &why), JSON_PARSE_OK);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o.via.array.size, 0);
	ck_round("[[],{},[[]],{\"a\":{}}]", "[[],{},[[]],{\"a\":{}}]");
	ck_round("[null,true,false,0,1,-1,127,128,255,256,65535,65536,-32,-33,"
	    "-128,-129,-32768,-32769,4294967295,4294967296,-2147483648,"
	    "-2147483649]",
	    "[null,true,false,0,1,-1,127,128,255,256,65535,65536,-32,-33,-128,"
	    "-129,-32768,-32769,4294967295,4294967296,-2147483648,-2147483649]");
	/* int64 and uint64 stay exact; beyond them a double */
	ck_round("[9223372036854775807,9223372036854775808,18446744073709551615,"
	    "18446744073709551616,-9223372036854775808,-9223372036854775809,"
	    "9007199254740993]",
	    "[9223372036854775807,9223372036854775808,18446744073709551615,"
	    "1.8446744073709552e+19,-9223372036854775808,-9.223372036854776e+18,"
	    "9007199254740993]");
	ck_round("[1.5,-0.25,0.1,1e3,1E3,2.5e-3,1.0,-0,-0.0,0.0,1e400,-1e400,"
	    "1e-400,123456789.125,0.30000000000000004,1e21,5e-324,"
	    "1.7976931348623157e308]",
	    "[1.5,-0.25,0.1,1000,1000,0.0025,1,-0,-0,0,null,null,0,"
	    "123456789.125,0.30000000000000004,1e+21,4.94065645841247e-324,"
	    "1.7976931348623157e+308]");
	/* the types a handler sees */
	ck_assert_int_eq(parse("[1,-1,1.5,-0,\"s\",{\"k\":[]}]", &o, &why),
	    JSON_PARSE_OK);
	ck_assert_int_eq(o.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert_int_eq(o.via.array.ptr[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	ck_assert_int_eq(o.via.array.ptr[1].via.i64, -1);
	ck_assert_int_eq(o.via.array.ptr[2].type, MSGPACK_OBJECT_FLOAT64);
	ck_assert_int_eq(o.via.array.ptr[3].type, MSGPACK_OBJECT_FLOAT64);
	ck_assert(signbit(o.via.array.ptr[3].via.f64));
	ck_assert_int_eq(o.via.array.ptr[4].type, MSGPACK_OBJECT_STR);
	ck_assert_int_eq(o.via.array.ptr[5].type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(o.via.array.ptr[5].via.map.size, 1);
	/* a very long number text */
	{
		char msg[1200];
		int k = snprintf(msg, sizeof(msg), "[0.5");

		memset(msg + k, '0', 1000);
		strcpy(msg + k + 1000, "]");
		ck_round(msg, "[0.5]");
	}
	ck_round("[\"\",\"a\\\"b\",\"\\u00e9\\u4e2d\\ud83d\\ude00\","
	    "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\",\"\\u0000\",\"\\/\\b\\f\\n\\r\\t\"]",
	    "[\"\",\"a\\\"b\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\","
	    "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\",\"\\u0000\",\"/\\b\\f\\n\\r\\t\"]");
	ck_round("[{\"\":1,\"k\\u00e9\":[{\"x\":null}]}]",
	    "[{\"\":1,\"k\xc3\xa9\":[{\"x\":null}]}]");
	/* keys repeat as they came */
	ck_round("[{\"a\":1,\"a\":2}]", "[{\"a\":1,\"a\":2}]");
	/* whitespace goes */
	ck_round(" [ 1 ,\n{ \"a\" : [ ] } ]\t", "[1,{\"a\":[]}]");
}
END_TEST

START_TEST(test_parse_round_trip)
{
	static const char *const values[] = {
		"[]", "[1,2,3]", "[\"x\",[\"y\",[\"z\"]]]", "[{\"a\":1,\"b\":[true,false]}]",
		"[-1,0,1,9007199254740993,-9007199254740993]",
		"[0.5,-1.25,3.14159,0.000001,1.5e+300]",
		"[\"\\u0001\\u001f\\\"\\\\\\n\\r\\t\\b\\f/\x7f\"]",
		"[\"\xe2\x82\xac\xf4\x8f\xbf\xbf\xef\xbf\xbd\"]",
		"[{\"\":{\"\":{\"\":[]}}}]", "[null,{},[],\"\",0]",
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ck_round(values[i], values[i]);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const char *const bad[] = {
		"", " ", "[", "[1,]", "[01]", "[1 2]", "[\"a]", "[tru]", "[\"\\x\"]",
		"[\"\\u12\"]", "[\"a\tb\"]", "[1]]", "[1] 2", "[] []", "{\"a\"}",
		"[.5]", "[+1]", "[NaN]", "{1:2}",
	};
	msgpack_object o;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], &o, &why) == JSON_PARSE_SYNTAX, "%s",
		    bad[i]);
		ck_assert_str_eq(why, "Invalid params: not JSON");
	}
	/* Any single value parses; the caller wants an array. */
	ck_assert_int_eq(parse("1", &o, &why), JSON_PARSE_OK);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert_int_eq(parse("{\"a\":[1]}", &o, &why), JSON_PARSE_OK);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_MAP);
}
END_TEST

/* A lone surrogate escape is refused, never changed; a pair is UTF-8. */
START_TEST(test_parse_surrogates)
{
	static const char *const lone[] = {
		"[\"\\ud800\"]", "[\"\\uDBFF\"]", "[\"\\udc00\"]", "[\"\\uDFFF\"]",
		"[\"x\\ud800y\"]", "[\"\\ud800\\ud800\"]", "[\"\\ude00\\ud83d\"]",
		"[\"\\ud83d\\u0041\"]", "[\"\\ud83d\\n\"]", "[\"\\ud83d\\\\ude00\"]",
		"[{\"\\udc00\":1}]", "[\"ok\",\"\\ud800",
	};
	msgpack_object o;
	const char *why;

	for (size_t i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		ck_assert_msg(parse(lone[i], &o, &why) == JSON_PARSE_SURROGATE,
		    "%s", lone[i]);
		ck_assert_str_eq(why,
		    "Invalid request: a string holds a lone surrogate");
	}
	ck_round("[\"\\ud83d\\ude00\",\"\\uD800\\uDC00\",\"\\udbff\\udfff\"]",
	    "[\"\xf0\x9f\x98\x80\",\"\xf0\x90\x80\x80\",\"\xf4\x8f\xbf\xbf\"]");
	/* A backslash that is itself escaped starts no escape. */
	ck_round("[\"\\\\ud800\",\"\\\\\\ud83d\\ude00\"]",
	    "[\"\\\\ud800\",\"\\\\\xf0\x9f\x98\x80\"]");
	/* Other escapes around surrogates are unaffected. */
	ck_round("[\"\\u00e9\\ud83d\\ude00\\u0041\"]", "[\"\xc3\xa9\xf0\x9f\x98\x80" "A\"]");
}
END_TEST

static char *
nest(unsigned n)
{
	char *s = malloc(2 * (size_t)n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = '\0';
	return s;
}

START_TEST(test_parse_depth)
{
	msgpack_object o;
	const char *why;
	char *s;

	/* The params array and a value 256 levels deep: 257. */
	s = nest(JSON_PARSE_MAX_DEPTH);
	ck_assert_int_eq(parse(s, &o, &why), JSON_PARSE_OK);
	ck_assert_str_eq(obj_json(&o), s);
	free(s);
	s = nest(JSON_PARSE_MAX_DEPTH + 1);
	ck_assert_int_eq(parse(s, &o, &why), JSON_PARSE_TOO_DEEP);
	ck_assert_str_eq(why, "Invalid request: params nested too deeply");
	free(s);
	s = nest(100000);
	ck_assert_int_eq(parse(s, &o, &why), JSON_PARSE_TOO_DEEP);
	free(s);
	/* objects count the same */
	s = malloc(6 * 300 + 8);
	ck_assert_ptr_nonnull(s);
	strcpy(s, "[");
	for (int i = 0; i < 300; i++)
		strcat(s, "{\"a\":");
	strcat(s, "1");
	for (int i = 0; i < 300; i++)
		strcat(s, "}");
	strcat(s, "]");
	ck_assert_int_eq(parse(s, &o, &why), JSON_PARSE_TOO_DEEP);
	free(s);
}
END_TEST

/* Strings without escapes point into the text; others into the zone. */
START_TEST(test_parse_zero_copy)
{
	const char *in = "[\"plain\",\"esc\\n\",{\"key\":\"v\"}]";
	msgpack_object o;
	const char *why;

	msgpack_zone_clear(&zone);
	ck_assert_int_eq(json_parse(&jp, in, strlen(in), &zone, &o, &why),
	    JSON_PARSE_OK);
	ck_assert_ptr_eq(o.via.array.ptr[0].via.str.ptr, in + 2);
	ck_assert(o.via.array.ptr[1].via.str.ptr < in ||
	    o.via.array.ptr[1].via.str.ptr > in + strlen(in));
	ck_assert_mem_eq(o.via.array.ptr[1].via.str.ptr, "esc\n", 4);
	ck_assert_ptr_eq(o.via.array.ptr[2].via.map.ptr[0].key.via.str.ptr,
	    in + 19);
}
END_TEST

/* Strings long enough to go around yajl's lexer behave the same. */
START_TEST(test_parse_long_strings)
{
	size_t n = 100000;
	char *msg = malloc(3 * n), *want = malloc(3 * n), *d;
	char *body = malloc(n + 1);
	msgpack_object o;
	const char *why;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	sprintf(msg, "[\"%s\",{\"%s\":\"%s\"}]", body, body + n - 70, body + n - 64);
	ck_round(msg, msg);
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_OK);
	ck_assert_uint_eq(o.via.array.ptr[0].via.str.size, n);

	/* with escapes and non-ASCII */
	memcpy(body + 10, "\\n\\\"\\\\\xc3\xa9\\u00e9", 14);
	sprintf(msg, "[\"%s\"]", body + 5);
	d = want + sprintf(want, "[\"%.5s\\n\\\"\\\\\xc3\xa9\xc3\xa9", body + 5);
	sprintf(d, "%s\"]", body + 24);
	ck_round(msg, want);

	/* a control byte inside a long string; unterminated; a backslash at
	 * the very end */
	body[20000] = '\x01';
	sprintf(msg, "[\"%s\"]", body + 15000);
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_SYNTAX);
	body[20000] = 'q';
	sprintf(msg, "[\"%s", body + 15000);
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_SYNTAX);
	strcat(msg, "\\");
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_SYNTAX);
	/* a long string where no value may be */
	sprintf(msg, "[1 \"%s\"]", body + 15000);
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_SYNTAX);
	/* many long escaped strings: yajl's buffers outgrow the arena */
	d = msg + sprintf(msg, "[");
	for (int i = 0; i < 4; i++)
		d += sprintf(d, "%s\"\\t%.20000s\"", i ? "," : "", body + 30000);
	strcpy(d, "]");
	ck_assert_int_eq(parse(msg, &o, &why), JSON_PARSE_OK);
	ck_assert_uint_eq(o.via.array.size, 4);
	ck_assert_uint_eq(o.via.array.ptr[3].via.str.size, 20001);
	free(msg);
	free(want);
	free(body);
}
END_TEST

/* One json_parse serves many parses; a big one is trimmed. */
START_TEST(test_parse_reuse)
{
	char *big = malloc(300000), *d = big;
	msgpack_object o;
	const char *why;

	*d++ = '[';
	for (int i = 0; i < 50000; i++)
		d += sprintf(d, "%s%d", i ? "," : "", i);
	strcpy(d, "]");
	ck_assert_int_eq(parse(big, &o, &why), JSON_PARSE_OK);
	ck_assert_uint_eq(o.via.array.size, 50000);
	ck_assert_uint_eq(o.via.array.ptr[49999].via.u64, 49999);
	ck_round("[2]", "[2]");
	json_parse_trim(&jp, 1024);
	ck_assert_ptr_null(jp.jp_vals);
	ck_round("[[3],{\"a\":4}]", "[[3],{\"a\":4}]");
	free(big);
}
END_TEST

/* ---- writing ------------------------------------------------------------ */

START_TEST(test_from_msgpack_scalars)
{
	msgpack_object o;

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_NIL;
	ck_assert_str_eq(obj_json(&o), "null");
	o.type = MSGPACK_OBJECT_BOOLEAN;
	o.via.boolean = true;
	ck_assert_str_eq(obj_json(&o), "true");
	o.via.boolean = false;
	ck_assert_str_eq(obj_json(&o), "false");
	o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	o.via.u64 = UINT64_MAX;
	ck_assert_str_eq(obj_json(&o), "18446744073709551615");
	o.via.u64 = 0;
	ck_assert_str_eq(obj_json(&o), "0");
	o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
	o.via.i64 = INT64_MIN;
	ck_assert_str_eq(obj_json(&o), "-9223372036854775808");
	o.via.i64 = -42;
	ck_assert_str_eq(obj_json(&o), "-42");

	o.type = MSGPACK_OBJECT_FLOAT64;
	o.via.f64 = NAN;
	ck_assert_str_eq(obj_json(&o), "null");
	o.via.f64 = INFINITY;
	ck_assert_str_eq(obj_json(&o), "null");
	o.via.f64 = -INFINITY;
	ck_assert_str_eq(obj_json(&o), "null");
	o.via.f64 = -0.0;
	ck_assert_str_eq(obj_json(&o), "-0");
	o.via.f64 = 0.1;
	ck_assert_str_eq(obj_json(&o), "0.1");
	o.via.f64 = 0.1 + 0.2;
	ck_assert_str_eq(obj_json(&o), "0.30000000000000004");
	o.via.f64 = 1.0 / 3;
	ck_assert_str_eq(obj_json(&o), "0.3333333333333333");
	o.via.f64 = -2.5e-7;
	ck_assert_str_eq(obj_json(&o), "-2.5e-07");
	o.via.f64 = 9007199254740991.0;
	ck_assert_str_eq(obj_json(&o), "9007199254740991");
	o.via.f64 = 9007199254740992.0;
	ck_assert_str_eq(obj_json(&o), "9007199254740992");
	o.via.f64 = 1e300;
	ck_assert_str_eq(obj_json(&o), "1e+300");
	o.type = MSGPACK_OBJECT_FLOAT32;
	o.via.f64 = (double)0.1f;
	ck_assert_str_eq(obj_json(&o), "0.1");
	o.via.f64 = (double)16777216.0f;
	ck_assert_str_eq(obj_json(&o), "16777216");
	o.via.f64 = (double)3.4028234e38f;
	ck_assert_str_eq(obj_json(&o), "3.4028235e+38");
	o.via.f64 = (double)NAN;
	ck_assert_str_eq(obj_json(&o), "null");

	o.type = MSGPACK_OBJECT_EXT;
	o.via.ext.type = 5;
	o.via.ext.ptr = "xyz";
	o.via.ext.size = 3;
	ck_assert_str_eq(obj_json(&o), "null");
	o.type = MSGPACK_OBJECT_BIN;
	o.via.bin.ptr = "\x00\x7f\x80\xff";
	o.via.bin.size = 4;
	ck_assert_str_eq(obj_json(&o), "[0,127,128,255]");
	o.via.bin.size = 0;
	ck_assert_str_eq(obj_json(&o), "[]");
}
END_TEST

static double
ten_pow(int k)
{
	double p = 1;

	while (k-- > 0)
		p *= 10;
	return p;
}

/* Every double written reads back the same, over many patterns. */
START_TEST(test_double_round_trip)
{
	msgpack_object o;
	uint64_t r = 0x9e3779b97f4a7c15ull, bits;
	char *end;
	double v, w;

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_FLOAT64;
	for (int i = 0; i < 100000; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		switch (i % 3) {
		case 0:
			bits = r;
			memcpy(&v, &bits, sizeof(v));
			break;
		case 1:
			v = (double)(r % 10000000) / ten_pow((int)(r >> 60));
			break;
		default:
			v = (double)(int64_t)r / 1e6;
			break;
		}
		if (!isfinite(v))
			continue;
		o.via.f64 = v;
		w = strtod(obj_json(&o), &end);
		ck_assert_msg(*end == '\0' && w == v && !signbit(w) == !signbit(v),
		    "%.17g written as %s", v, text.jb_data);
	}
}
END_TEST

START_TEST(test_from_msgpack_strings)
{
	msgpack_object o;

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = "\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f \"\\/\x7f";
	o.via.str.size = 14;
	ck_assert_str_eq(obj_json(&o),
	    "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\x7f\"");
	/* invalid UTF-8: each bad byte becomes U+FFFD */
	o.via.str.ptr = "a\xff" "b\xc3" "c\xed\xa0\x80" "d\xc0\xaf" "e\xf4\x90\x80\x80" "f\xe2\x82";
	o.via.str.size = 19;
	ck_assert_str_eq(obj_json(&o),
	    "\"a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "d\xef\xbf\xbd\xef\xbf\xbd" "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "f\xef\xbf\xbd\xef\xbf\xbd\"");
	ck_assert(utf8_valid(text.jb_data, strlen(text.jb_data)));
	o.via.str.ptr = "\xe2\x82\xac\xf0\x9f\x98\x80";
	o.via.str.size = 7;
	ck_assert_str_eq(obj_json(&o), "\"\xe2\x82\xac\xf0\x9f\x98\x80\"");
	o.via.str.size = 0;
	ck_assert_str_eq(obj_json(&o), "\"\"");
}
END_TEST

/* Long strings cross the escaper's chunks with sequences split at them. */
START_TEST(test_put_string_long)
{
	size_t n = 3 * 4096 + 100, i;
	char *s = malloc(n), *want = malloc(6 * n + 3), *d = want;

	for (i = 0; i < n; i++)
		s[i] = 'x';
	for (i = 4093; i < n; i += 4096)
		memcpy(s + i, "\xf0\x9f\x98\x80", 4);   /* straddles 4096 */
	s[100] = '\n';
	s[200] = '"';
	s[300] = (char)0xff;
	*d++ = '"';
	for (i = 0; i < n; i++) {
		if (s[i] == '\n') {
			memcpy(d, "\\n", 2);
			d += 2;
		} else if (s[i] == '"') {
			memcpy(d, "\\\"", 2);
			d += 2;
		} else if ((unsigned char)s[i] == 0xff) {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
		} else {
			*d++ = s[i];
		}
	}
	*d++ = '"';
	*d = '\0';
	text.jb_len = 0;
	ck_assert_int_eq(json_put_string(&text, s, n), 0);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	ck_assert_str_eq(text.jb_data, want);
	/* a sequence cut by the end of the string is invalid there */
	text.jb_len = 0;
	ck_assert_int_eq(json_put_string(&text, s, 4095), 0);
	/* 4090 plain bytes, \\n, \\", U+FFFD for 0xff and for each cut byte */
	ck_assert_uint_eq(text.jb_len, 2 + 4090 + 2 + 2 + 3 + 2 * 3);
	free(s);
	free(want);
}
END_TEST

START_TEST(test_from_msgpack_containers)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	msgpack_pack_str_with_body(&pk, "s", 1);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "\xff", 1);
	msgpack_pack_int(&pk, -5);           /* integer key */
	msgpack_pack_true(&pk);
	msgpack_pack_nil(&pk);               /* nil key */
	msgpack_pack_int(&pk, 0);
	msgpack_pack_array(&pk, 2);          /* array key holding a string */
	msgpack_pack_str_with_body(&pk, "a\"b", 3);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_false(&pk);
	msgpack_pack_bin_with_body(&pk, "\x01\x02", 2); /* bin key */
	msgpack_pack_ext_with_body(&pk, "x", 1, 3);
	msgpack_pack_map(&pk, 1);            /* map key */
	msgpack_pack_str_with_body(&pk, "k", 1);
	msgpack_pack_str_with_body(&pk, "\\", 1);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_float(&pk, 1.5f);       /* float key */
	msgpack_pack_array(&pk, 0);
	msgpack_pack_str_with_body(&pk, "\n", 1);
	msgpack_pack_bin_with_body(&pk, "", 0);

	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_str_eq(obj_json(&u.data),
	    "{\"s\":[1,\"\xef\xbf\xbd\"],\"-5\":true,\"null\":0,"
	    "\"[\\\"a\\\\\\\"b\\\",0.5]\":false,\"[1,2]\":null,"
	    "\"{\\\"k\\\":\\\"\\\\\\\\\\\"}\":{},\"1.5\":[],\"\\n\":[]}");
	ck_assert(utf8_valid(text.jb_data, strlen(text.jb_data)));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Bytes that are not exactly one msgpack value, or nest too deeply. */
START_TEST(test_from_msgpack_invalid)
{
	static const char ok[] = "\x93\x01\x81\xa1k\xc3\xda\x00\x02hi";
	char *deep;

	/* every cut of a valid value is invalid, and leaves out untouched */
	ck_assert_int_eq(json_put_raw(&text, "abc", 3), 0);
	for (size_t n = 0; n < sizeof(ok) - 1; n++) {
		text.jb_len = 3;
		ck_assert_int_eq(json_from_msgpack(&text, ok, n),
		    JSON_MSGPACK_INVALID);
		ck_assert_uint_eq(text.jb_len, 3);
	}
	ck_assert_str_eq(mp_json(ok, sizeof(ok) - 1), "[1,{\"k\":true},\"hi\"]");
	/* two values, an unused tag, a count no bytes can hold */
	ck_assert_int_eq(json_from_msgpack(&text, "\x01\x02", 2),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xc1", 1),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xdd\xff\xff\xff\xff\xc0", 6),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xdf\xff\xff\xff\xff", 5),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xdb\xff\xff\xff\xffx", 6),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xc7\x05\x01xx", 5),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\xd8\x01xx", 4),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "", 0), JSON_MSGPACK_INVALID);
	/* a key that is not a string is quoted; one inside another is
	 * refused (quoting twice would double the backslashes each time) */
	ck_assert_str_eq(mp_json("\x81\x91\x01\x02", 4), "{\"[1]\":2}");
	ck_assert_str_eq(mp_json("\x81\x81\xa1k\x01\x02", 6),
	    "{\"{\\\"k\\\":1}\":2}");
	ck_assert_int_eq(json_from_msgpack(&text, "\x81\x81\x01\x02\x03", 5),
	    JSON_MSGPACK_INVALID);
	ck_assert_int_eq(json_from_msgpack(&text, "\x81\x91\x81\xc0\x01\x02",
	    6), JSON_MSGPACK_INVALID);
	/* ints of every width and sign */
	ck_assert_str_eq(mp_json("\xd0\x80", 2), "-128");
	ck_assert_str_eq(mp_json("\xd0\x7f", 2), "127");
	ck_assert_str_eq(mp_json("\xd1\xff\xfe", 3), "-2");
	ck_assert_str_eq(mp_json("\xd2\x80\x00\x00\x00", 5), "-2147483648");
	ck_assert_str_eq(mp_json("\xd3\xff\xff\xff\xff\xff\xff\xff\xff", 9), "-1");
	ck_assert_str_eq(mp_json("\xcc\xff", 2), "255");
	ck_assert_str_eq(mp_json("\xcd\xff\xff", 3), "65535");
	ck_assert_str_eq(mp_json("\xce\xff\xff\xff\xff", 5), "4294967295");
	ck_assert_str_eq(mp_json("\xe0", 1), "-32");
	ck_assert_str_eq(mp_json("\xd4\x01x", 3), "null");
	ck_assert_str_eq(mp_json("\xc7\x02\x01xy", 5), "null");
	/* the nesting bound */
	deep = malloc(JSON_MSGPACK_MAX_DEPTH + 2);
	ck_assert_ptr_nonnull(deep);
	memset(deep, 0x91, JSON_MSGPACK_MAX_DEPTH + 1);
	deep[JSON_MSGPACK_MAX_DEPTH] = (char)0xc0;
	ck_assert_int_eq(json_from_msgpack(&text, deep, JSON_MSGPACK_MAX_DEPTH + 1),
	    JSON_MSGPACK_OK);
	deep[JSON_MSGPACK_MAX_DEPTH] = (char)0x91;
	deep[JSON_MSGPACK_MAX_DEPTH + 1] = (char)0xc0;
	text.jb_len = 0;
	ck_assert_int_eq(json_from_msgpack(&text, deep, JSON_MSGPACK_MAX_DEPTH + 2),
	    JSON_MSGPACK_TOO_DEEP);
	ck_assert_uint_eq(text.jb_len, 0);
	free(deep);
}
END_TEST

START_TEST(test_put_raw)
{
	text.jb_len = 0;
	ck_assert_int_eq(json_put_raw(&text, "{\"id\":", 6), 0);
	ck_assert_int_eq(json_put_string(&text, "a", 1), 0);
	ck_assert_int_eq(json_put_raw(&text, "}", 2), 0);
	ck_assert_str_eq(text.jb_data, "{\"id\":\"a\"}");
	ck_assert_int_eq(json_put_raw(&text, NULL, 0), 0);
	text.jb_len = 0;
	ck_assert_int_eq(json_put_u64(&text, UINT64_MAX), 0);
	ck_assert_int_eq(json_put_i64(&text, INT64_MIN), 0);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	ck_assert_str_eq(text.jb_data, "18446744073709551615-9223372036854775808");
	/* json_quote: the same bytes, the same text */
	{
		char out[6 * 4 + 3];

		ck_assert_uint_eq(json_quote(out, "a\"\x01\xff", 4), 14);
		ck_assert_str_eq(out, "\"a\\\"\\u0001\xef\xbf\xbd\"");
	}
	/* reset keeps small buffers, frees big ones */
	json_buf_reset(&text, 1 << 20);
	ck_assert_ptr_nonnull(text.jb_data);
	json_buf_reset(&text, 0);
	ck_assert_ptr_null(text.jb_data);
}
END_TEST

/* ---- utf8 -------------------------------------------------------------- */

START_TEST(test_utf8_valid)
{
	static const struct {
		const char *s;
		size_t n;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "plain ascii text, longer than eight", 35, true },
		{ "\x00", 1, true },
		{ "\x7f", 1, true },
		{ "\xc2\x80", 2, true },
		{ "\xdf\xbf", 2, true },
		{ "\xe0\xa0\x80", 3, true },
		{ "\xed\x9f\xbf", 3, true },          /* U+D7FF */
		{ "\xee\x80\x80", 3, true },          /* U+E000 */
		{ "\xef\xbf\xbf", 3, true },
		{ "\xf0\x90\x80\x80", 4, true },
		{ "\xf4\x8f\xbf\xbf", 4, true },      /* U+10FFFF */
		{ "abcdefgh\xe2\x82\xac", 11, true },
		{ "\x80", 1, false },                 /* lone continuation */
		{ "\xbf", 1, false },
		{ "\xc0\x80", 2, false },             /* overlong NUL */
		{ "\xc1\xbf", 2, false },             /* overlong */
		{ "\xe0\x80\x80", 3, false },
		{ "\xe0\x9f\xbf", 3, false },
		{ "\xf0\x80\x80\x80", 4, false },
		{ "\xf0\x8f\xbf\xbf", 4, false },
		{ "\xed\xa0\x80", 3, false },         /* U+D800 */
		{ "\xed\xbf\xbf", 3, false },         /* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, false },     /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xf8\x88\x80\x80\x80", 5, false },
		{ "\xff", 1, false },
		{ "\xfe", 1, false },
		{ "\xc3", 1, false },                 /* truncated */
		{ "\xe2\x82", 2, false },
		{ "\xf0\x9f\x98", 3, false },
		{ "abcdefgh\xf0\x9f\x98", 11, false },
		{ "\xc3(", 2, false },
		{ "\xe2(\xa1", 3, false },
		{ "\xf0\x9f(\x80", 4, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(utf8_valid(cases[i].s, cases[i].n) == cases[i].ok,
		    "case %zu", i);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"a", 1), 1);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_parse_round_trip);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_surrogates);
	tcase_add_test(tc, test_parse_depth);
	tcase_add_test(tc, test_parse_zero_copy);
	tcase_add_test(tc, test_parse_long_strings);
	tcase_add_test(tc, test_parse_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_from_msgpack_scalars);
	tcase_add_test(tc, test_double_round_trip);
	tcase_add_test(tc, test_from_msgpack_strings);
	tcase_add_test(tc, test_put_string_long);
	tcase_add_test(tc, test_from_msgpack_containers);
	tcase_add_test(tc, test_from_msgpack_invalid);
	tcase_add_test(tc, test_put_raw);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_test(tc, test_utf8_valid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
