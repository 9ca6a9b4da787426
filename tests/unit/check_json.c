/*
 * check_json.c: unit tests for the request parser (master/request.c and
 * jlex.c: client JSON -> msgpack params, ids, error kinds), the JSON
 * writer (master/json.c: msgpack -> JSON output) and master/utf8.c.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/json.h"
#include "master/request.h"
#include "master/utf8.h"

/* One parsed message; params also rendered back as JSON text. */
static struct jreq req;
static msgpack_sbuffer params;
static msgpack_sbuffer text;

static void
setup(void)
{
	msgpack_sbuffer_init(&params);
	msgpack_sbuffer_init(&text);
}

static void
teardown(void)
{
	msgpack_sbuffer_destroy(&params);
	msgpack_sbuffer_destroy(&text);
}

static enum jreq_status
parse_n(const char *json, size_t len)
{
	enum jreq_status st = jreq_parse(&req, json, len, &params);

	if (st == JREQ_OK)
		ck_assert_ptr_null(req.error);
	else
		ck_assert_ptr_nonnull(req.error);
	if (st == JREQ_BAD_JSON)
		ck_assert_msg(strncmp(req.error, "Parse error", 11) == 0 ||
		    strncmp(req.error, "Internal error", 14) == 0,
		    "error '%s'", req.error);
	else if (st != JREQ_OK)
		ck_assert_msg(strncmp(req.error, "Invalid request", 15) == 0,
		    "error '%s'", req.error);
	return st;
}

static enum jreq_status
parse(const char *json)
{
	return parse_n(json, strlen(json));
}

/* Render a msgpack buffer holding exactly one value as JSON text. */
static const char *
render(const msgpack_sbuffer *buf)
{
	msgpack_unpacked u;
	size_t off = 0;

	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, buf->data, buf->size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, buf->size);
	msgpack_sbuffer_clear(&text);
	ck_assert_int_eq(json_from_msgpack(&text, &u.data), 0);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	msgpack_unpacked_destroy(&u);
	return text.data;
}

/* Parse a message that must be OK and check its params text. */
#define ck_params(json, want) do { \
	ck_assert_int_eq(parse(json), JREQ_OK); \
	ck_assert_str_eq(render(&params), (want)); \
} while (0)

/* The JSON text of one msgpack object. */
static const char *
obj_json(const msgpack_object *o)
{
	msgpack_sbuffer_clear(&text);
	ck_assert_int_eq(json_from_msgpack(&text, o), 0);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	return text.data;
}

/* ---- statuses ---------------------------------------------------------- */

START_TEST(test_basic_call)
{
	ck_assert_int_eq(parse("{\"id\":1,\"method\":\"echo\",\"params\":[\"hello\"]}"),
	    JREQ_OK);
	ck_assert_str_eq(req.method, "echo");
	ck_assert_uint_eq(req.method_len, 4);
	ck_assert(!req.method_too_long);
	ck_assert(req.has_id);
	ck_assert_str_eq(req.id_json, "1");
	ck_assert_uint_eq(req.id_len, 1);
	ck_assert(req.has_params);
	ck_assert_uint_eq(req.nparams, 1);
	ck_assert_str_eq(render(&params), "[\"hello\"]");
}
END_TEST

START_TEST(test_notification_and_ping)
{
	ck_assert_int_eq(parse("{\"method\":\"note\",\"params\":[\"t\",1]}"), JREQ_OK);
	ck_assert(!req.has_id);
	ck_assert_str_eq(req.id_json, "");
	ck_assert_uint_eq(req.nparams, 2);
	ck_assert_int_eq(parse(" \t\r\n{ \"method\" : \".ping\" } \n"), JREQ_OK);
	ck_assert_str_eq(req.method, ".ping");
	ck_assert(!req.has_params);
	ck_assert_uint_eq(req.nparams, 0);
	/* absent params: an empty array, exactly one byte */
	ck_assert_uint_eq(params.size, 1);
	ck_assert_uint_eq((unsigned char)params.data[0], 0x90);
}
END_TEST

static const char *const bad_json[] = {
	"", " ", "{", "}", "{\"method\":\"a\"", "{\"method\":\"a\",}",
	"{\"method\":\"a\"}x", "{\"method\":\"a\"}{}", "{\"method\":\"a\"} 1",
	"{'method':'a'}", "{method:\"a\"}", "/*c*/{\"method\":\"a\"}",
	"{\"method\":\"a\",\"params\":[1,]}", "{\"method\":\"a\",\"params\":[01]}",
	"{\"method\":\"a\",\"params\":[1.]}", "{\"method\":\"a\",\"params\":[.5]}",
	"{\"method\":\"a\",\"params\":[+1]}", "{\"method\":\"a\",\"params\":[NaN]}",
	"{\"method\":\"a\",\"params\":[tru]}", "{\"method\":\"a\",\"params\":[\"\\x\"]}",
	"{\"method\":\"a\",\"params\":[\"\\u12\"]}", "{\"method\":\"a\",\"params\":[\"a\tb\"]}",
	"{\"method\":\"a\",\"params\":[\"a\nb\"]}", "{\"method\":\"a\" \"id\":1}",
	"{\"method\" \"a\"}", "{\"method\":\"a\",\"params\":[1 2]}",
	"{\"method\":\"a\",\"params\":[\"unterminated]}",
	"[1,2", "\"abc", "nul", "{\"method\":\"a\",\"params\":[1]]",
	/* a bad params array does not hide a syntax error further on */
	"{\"params\":{},\"method\":\"a\",}",
};

START_TEST(test_bad_json)
{
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		ck_assert_msg(parse(bad_json[i]) == JREQ_BAD_JSON, "'%s' -> %d",
		    bad_json[i], (int)jreq_parse(&req, bad_json[i],
		    strlen(bad_json[i]), &params));
		ck_assert(!req.has_id);
		ck_assert(!req.has_params);
		/* never a half-written params buffer */
		ck_assert_str_eq(render(&params), "[]");
	}
	ck_assert_int_eq(parse("{\"method\":\"a\""), JREQ_BAD_JSON);
	ck_assert_str_eq(req.error, "Parse error: unexpected end of input");
	/* NUL bytes in the text itself */
	ck_assert_int_eq(parse_n("{\"method\":\"a\"}\0", 15), JREQ_BAD_JSON);
	ck_assert_int_eq(parse_n("{\"method\":\"a\0\"}", 15), JREQ_BAD_JSON);
}
END_TEST

START_TEST(test_truncated)
{
	const char *msg = "{\"id\":\"x\",\"method\":\"echo\",\"params\":[1,-2.5e3,"
	    "{\"k\":[true,false,null]},\"\\u00e9\"]}";
	size_t n = strlen(msg);

	for (size_t len = 0; len < n; len++)
		ck_assert_msg(parse_n(msg, len) == JREQ_BAD_JSON, "len %zu", len);
	ck_assert_int_eq(parse_n(msg, n), JREQ_OK);
	ck_assert_str_eq(render(&params), "[1,-2500,{\"k\":[true,false,null]},\"\xc3\xa9\"]");
}
END_TEST

START_TEST(test_not_object)
{
	static const char *const cases[] = {
		"[]", "1", "-1.5", "\"s\"", "null", "true", "false",
		"[{\"method\":\"a\"}]", "[[[[]]]]",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(cases[i]) == JREQ_NOT_OBJECT, "%s", cases[i]);
		ck_assert_str_eq(render(&params), "[]");
	}
	/* bad JSON wins over a non-object */
	ck_assert_int_eq(parse("[1,2"), JREQ_BAD_JSON);
}
END_TEST

START_TEST(test_no_method)
{
	static const char *const cases[] = {
		"{}", "{\"id\":1}", "{\"params\":[]}", "{\"Method\":\"a\"}",
		"{\"method\":1}", "{\"method\":null}", "{\"method\":true}",
		"{\"method\":[\"a\"]}", "{\"method\":{\"a\":1}}",
		"{\"method\":\"a\\u0000b\"}", "{\"method\":\"\\u0000\"}",
		/* no method outranks a bad id or bad params */
		"{\"id\":true}", "{\"id\":1,\"params\":{}}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(cases[i]) == JREQ_NO_METHOD, "%s", cases[i]);
		ck_assert(!req.has_id);
	}
	ck_assert_int_eq(parse("{}"), JREQ_NO_METHOD);
	ck_assert_str_eq(req.error, "Invalid request: missing method");
	ck_assert_int_eq(parse("{\"method\":\"a\\u0000\"}"), JREQ_NO_METHOD);
	ck_assert_ptr_nonnull(strstr(req.error, "NUL"));
}
END_TEST

START_TEST(test_method)
{
	char msg[1024], m[301];

	ck_assert_int_eq(parse("{\"method\":\"\"}"), JREQ_OK);
	ck_assert_str_eq(req.method, "");
	ck_assert_uint_eq(req.method_len, 0);
	ck_assert_int_eq(parse("{\"method\":\"a\\/b\\u00e9\\n\"}"), JREQ_OK);
	ck_assert_str_eq(req.method, "a/b\xc3\xa9\n");
	ck_assert_uint_eq(req.method_len, 6);

	memset(m, 'm', 300);
	m[256] = '\0';
	snprintf(msg, sizeof(msg), "{\"method\":\"%s\"}", m);
	ck_assert_int_eq(parse(msg), JREQ_OK);
	ck_assert(!req.method_too_long);
	ck_assert_uint_eq(req.method_len, 256);
	ck_assert_str_eq(req.method, m);

	m[256] = 'm';
	m[300] = '\0';
	snprintf(msg, sizeof(msg), "{\"id\":3,\"method\":\"%s\"}", m);
	ck_assert_int_eq(parse(msg), JREQ_OK);
	ck_assert(req.method_too_long);
	ck_assert_uint_eq(req.method_len, 256);
	ck_assert_uint_eq(strlen(req.method), 256);
	ck_assert_str_eq(req.id_json, "3");
}
END_TEST

START_TEST(test_bad_params)
{
	static const char *const cases[] = {
		"{\"method\":\"a\",\"params\":{}}", "{\"method\":\"a\",\"params\":1}",
		"{\"method\":\"a\",\"params\":\"x\"}", "{\"method\":\"a\",\"params\":null}",
		"{\"method\":\"a\",\"params\":true}", "{\"method\":\"a\",\"params\":{\"x\":[1]}}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(cases[i]) == JREQ_BAD_PARAMS, "%s", cases[i]);
		ck_assert(!req.has_id);
		ck_assert_str_eq(render(&params), "[]");
	}
	/* the id is known whether it comes before or after params */
	ck_assert_int_eq(parse("{\"id\":7,\"method\":\"a\",\"params\":{}}"), JREQ_BAD_PARAMS);
	ck_assert(req.has_id);
	ck_assert_str_eq(req.id_json, "7");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":5,\"id\":\"q\"}"), JREQ_BAD_PARAMS);
	ck_assert(req.has_id);
	ck_assert_str_eq(req.id_json, "\"q\"");
	ck_assert_str_eq(req.error, "Invalid request: params must be an array");
	/* a bad id outranks bad params */
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":5,\"id\":-1}"), JREQ_BAD_ID);
	ck_assert(!req.has_id);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	ck_assert_int_eq(parse("{\"method\":\"a\",\"method\":\"b\"}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"id\":1,\"id\":1}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[],\"params\":[]}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"\\u0069d\":1,\"id\":2}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":1,\"method\":\"b\"}"), JREQ_BAD_JSON);
	/* duplicates win over everything but other syntax errors */
	ck_assert_int_eq(parse("{\"params\":{},\"id\":1,\"id\":2}"), JREQ_BAD_JSON);
	ck_assert_ptr_nonnull(strstr(req.error, "duplicate"));
	/* other keys may repeat; inside params, keys are data */
	ck_assert_int_eq(parse("{\"method\":\"a\",\"x\":1,\"x\":2}"), JREQ_OK);
	ck_params("{\"method\":\"a\",\"params\":[{\"method\":1,\"method\":2}]}",
	    "[{\"method\":1,\"method\":2}]");
}
END_TEST

START_TEST(test_extra_keys)
{
	ck_params("{\"jsonrpc\":\"2.0\",\"x\":{\"method\":\"no\",\"id\":[1],"
	    "\"params\":{}},\"method\":\"yes\",\"y\":[[[\"method\"]]],\"id\":9,"
	    "\"params\":[1],\"z\":null,\"w\":\"params\"}", "[1]");
	ck_assert_str_eq(req.method, "yes");
	ck_assert_str_eq(req.id_json, "9");
	ck_assert_uint_eq(req.nparams, 1);
}
END_TEST

/* ---- ids --------------------------------------------------------------- */

static void
ck_id(const char *id, const char *want)
{
	char msg[2048];

	snprintf(msg, sizeof(msg), "{\"method\":\"m\",\"id\":%s}", id);
	if (want == NULL) {
		ck_assert_msg(parse(msg) == JREQ_BAD_ID, "id %s", id);
		ck_assert(!req.has_id);
		return;
	}
	ck_assert_msg(parse(msg) == JREQ_OK, "id %s", id);
	ck_assert(req.has_id);
	ck_assert_str_eq(req.id_json, want);
	ck_assert_uint_eq(req.id_len, strlen(want));
}

START_TEST(test_ids)
{
	char big[2048], want[2048];

	ck_id("0", "0");
	ck_id("7", "7");
	ck_id("9007199254740991", "9007199254740991");
	ck_id("9007199254740992", NULL);
	ck_id("18446744073709551616", NULL);
	ck_id("-1", NULL);
	ck_id("-0", NULL);
	ck_id("1.5", NULL);
	ck_id("1.0", NULL);
	ck_id("1e2", NULL);
	ck_id("true", NULL);
	ck_id("false", NULL);
	ck_id("null", NULL);
	ck_id("[1]", NULL);
	ck_id("{\"a\":1}", NULL);
	ck_id("\"\"", "\"\"");
	ck_id("\"abc\"", "\"abc\"");
	/* the same string always gives the same text */
	ck_id("\"\\u0061\"", "\"a\"");
	ck_id("\"\\/\"", "\"/\"");
	ck_id("\"\\u00e9\"", "\"\xc3\xa9\"");
	ck_id("\"\xc3\xa9\"", "\"\xc3\xa9\"");
	ck_id("\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\"");
	ck_id("\"\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f\"", "\"\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"");
	ck_id("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
	ck_id("\"\\u0000\"", "\"\\u0000\"");

	/* 256 bytes (after unescaping) is the limit */
	memset(big, 'x', 256);
	big[0] = '"';
	big[257] = '"';
	memset(big + 1, 'x', 256);
	big[258] = '\0';
	memcpy(want, big, 259);
	ck_id(big, want);
	big[257] = 'x';
	big[258] = '"';
	big[259] = '\0';
	ck_id(big, NULL);
	/* 256 bytes written as 6-byte escapes: still 256 bytes */
	strcpy(big, "\"");
	strcpy(want, "\"");
	for (int i = 0; i < 85; i++) {
		strcat(big, "\\u00e9");   /* 2 bytes each: 170 */
		strcat(want, "\xc3\xa9");
	}
	for (int i = 0; i < 86; i++) {
		strcat(big, "\\u0001");   /* 1 byte each: 256 */
		strcat(want, "\\u0001");
	}
	strcat(big, "\"");
	strcat(want, "\"");
	ck_id(big, want);
	ck_assert_uint_eq(req.id_len, 2 + 85 * 2 + 86 * 6);
	/* one more escaped byte is too long */
	strcpy(big + strlen(big) - 1, "x\"");
	ck_id(big, NULL);
	/* the longest possible canonical text fits */
	strcpy(big, "{\"method\":\"m\",\"id\":\"");
	for (int i = 0; i < 256; i++)
		strcat(big, "\\u0002");
	strcat(big, "\"}");
	ck_assert_int_eq(parse(big), JREQ_OK);
	ck_assert_uint_eq(req.id_len, 256 * 6 + 2);
	ck_assert_uint_le(req.id_len, JREQ_ID_JSON_MAX);
	ck_assert_uint_eq(strlen(req.id_json), req.id_len);
}
END_TEST

START_TEST(test_id_from_msgpack)
{
	msgpack_object o;
	char out[JREQ_ID_JSON_MAX + 1];
	char s[300];

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	o.via.u64 = 0;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), 1);
	ck_assert_str_eq(out, "0");
	o.via.u64 = 9007199254740991ull;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), 16);
	ck_assert_str_eq(out, "9007199254740991");
	o.via.u64 = 9007199254740992ull;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);
	o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
	o.via.i64 = -1;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);
	o.type = MSGPACK_OBJECT_FLOAT64;
	o.via.f64 = 7.0;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);
	o.type = MSGPACK_OBJECT_NIL;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);
	o.type = MSGPACK_OBJECT_BOOLEAN;
	o.via.boolean = true;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);
	o.type = MSGPACK_OBJECT_BIN;
	o.via.bin.ptr = "a";
	o.via.bin.size = 1;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);

	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = "a\"\n\xc3\xa9";
	o.via.str.size = 5;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), 9);
	ck_assert_str_eq(out, "\"a\\\"\\n\xc3\xa9\"");
	memset(s, 1, sizeof(s));
	o.via.str.ptr = s;
	o.via.str.size = 256;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), 256 * 6 + 2);
	o.via.str.size = 257;
	ck_assert_int_eq(jreq_id_from_msgpack(&o, out), -1);

	/* .cancel's params[0] gives the text the call's id gave */
	ck_assert_int_eq(parse("{\"method\":\"m\",\"id\":\"\\u0061\\\"\\u00e9\"}"), JREQ_OK);
	strcpy(s, req.id_json);
	ck_assert_int_eq(parse("{\"method\":\".cancel\",\"params\":[\"a\\\"\xc3\xa9\", 42]}"),
	    JREQ_OK);
	{
		msgpack_unpacked u;
		size_t off = 0;

		msgpack_unpacked_init(&u);
		ck_assert_int_eq(msgpack_unpack_next(&u, params.data, params.size, &off),
		    MSGPACK_UNPACK_SUCCESS);
		ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
		ck_assert_int_gt(jreq_id_from_msgpack(&u.data.via.array.ptr[0], out), 0);
		ck_assert_str_eq(out, s);
		ck_assert_int_eq(jreq_id_from_msgpack(&u.data.via.array.ptr[1], out), 2);
		ck_assert_str_eq(out, "42");
		msgpack_unpacked_destroy(&u);
	}
}
END_TEST

/* ---- params ------------------------------------------------------------ */

START_TEST(test_params_values)
{
	ck_params("{\"method\":\"a\",\"params\":[]}", "[]");
	ck_assert(req.has_params);
	ck_assert_uint_eq(req.nparams, 0);
	ck_params("{\"method\":\"a\",\"params\":[[],{},[[]],{\"a\":{}}]}",
	    "[[],{},[[]],{\"a\":{}}]");
	ck_assert_uint_eq(req.nparams, 4);
	ck_params("{\"method\":\"a\",\"params\":[null,true,false,0,1,-1,127,128,"
	    "255,256,65535,65536,-32,-33,-128,-129,-32768,-32769,4294967295,"
	    "4294967296,-2147483648,-2147483649]}",
	    "[null,true,false,0,1,-1,127,128,255,256,65535,65536,-32,-33,-128,"
	    "-129,-32768,-32769,4294967295,4294967296,-2147483648,-2147483649]");
	/* int64 and uint64 stay exact; beyond them a double */
	ck_params("{\"method\":\"a\",\"params\":[9223372036854775807,"
	    "9223372036854775808,18446744073709551615,18446744073709551616,"
	    "-9223372036854775808,-9223372036854775809]}",
	    "[9223372036854775807,9223372036854775808,18446744073709551615,"
	    "1.8446744073709552e+19,-9223372036854775808,-9.223372036854776e+18]");
	ck_params("{\"method\":\"a\",\"params\":[1.5,-0.25,0.1,1e3,1E3,2.5e-3,"
	    "1.0,-0,-0.0,0.0,1e400,-1e400,1e-400,123456789.125,0.30000000000000004,"
	    "1e21,5e-324,1.7976931348623157e308]}",
	    "[1.5,-0.25,0.1,1000,1000,0.0025,1,-0,-0,0,null,null,0,"
	    "123456789.125,0.30000000000000004,1e+21,4.94065645841247e-324,"
	    "1.7976931348623157e+308]");
	/* a very long number text */
	{
		char msg[1200];
		int k = snprintf(msg, sizeof(msg), "{\"method\":\"a\",\"params\":[0.5");

		memset(msg + k, '0', 1000);
		strcpy(msg + k + 1000, "]}");
		ck_params(msg, "[0.5]");
	}
	ck_params("{\"method\":\"a\",\"params\":[\"\",\"a\\\"b\",\"\\u00e9\\u4e2d"
	    "\\ud83d\\ude00\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\",\"\\u0000\"]}",
	    "[\"\",\"a\\\"b\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\","
	    "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\",\"\\u0000\"]");
	ck_params("{\"method\":\"a\",\"params\":[{\"\":1,\"k\\u00e9\":[{\"x\":null}]}]}",
	    "[{\"\":1,\"k\xc3\xa9\":[{\"x\":null}]}]");
	ck_assert_uint_eq(req.nparams, 1);
}
END_TEST

/* The exact msgpack bytes: 32-bit headers with patched counts. */
START_TEST(test_params_bytes)
{
	static const unsigned char want[] = {
		0xdd, 0, 0, 0, 3,
		0x01,
		0xdf, 0, 0, 0, 2, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xdd, 0, 0, 0, 0,
		0xa2, 'h', 'i',
	};

	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[1,{\"a\":null,\"b\":[]},\"hi\"]}"),
	    JREQ_OK);
	ck_assert_uint_eq(params.size, sizeof(want));
	ck_assert_mem_eq(params.data, want, sizeof(want));
}
END_TEST

START_TEST(test_round_trip)
{
	static const char *const values[] = {
		"[]", "[1,2,3]", "[\"x\",[\"y\",[\"z\"]]]", "[{\"a\":1,\"b\":[true,false]}]",
		"[-1,0,1,9007199254740993,-9007199254740993]", "[0.5,-1.25,3.14159,0.000001,1.5e+300]",
		"[\"\\u0001\\u001f\\\"\\\\\\n\\r\\t\\b\\f/\x7f\"]",
		"[\"\xe2\x82\xac\xf4\x8f\xbf\xbf\xef\xbf\xbd\"]",
		"[{\"\":{\"\":{\"\":[]}}}]", "[null,{},[],\"\",0]",
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(msg, sizeof(msg), "{\"params\":%s,\"method\":\"m\"}", values[i]);
		ck_params(msg, values[i]);
	}
}
END_TEST

/* Nest n arrays as params (params itself is the first). */
static char *
nested(int n, const char *before, const char *after)
{
	size_t len = strlen(before) + strlen(after) + 2 * (size_t)n + 64;
	char *s = malloc(len), *d;

	ck_assert_ptr_nonnull(s);
	d = s + sprintf(s, "{%s\"method\":\"m\",\"params\":", before);
	memset(d, '[', (size_t)n);
	d += n;
	memset(d, ']', (size_t)n);
	d += n;
	sprintf(d, "%s}", after);
	return s;
}

START_TEST(test_depth)
{
	char *s;

	s = nested(JSON_MAX_DEPTH, "", "");
	ck_assert_int_eq(parse(s), JREQ_OK);
	ck_assert_uint_eq(req.nparams, 1);
	free(s);
	s = nested(JSON_MAX_DEPTH + 1, "", "");
	ck_assert_int_eq(parse(s), JREQ_TOO_DEEP);
	ck_assert(!req.has_id);
	ck_assert_str_eq(render(&params), "[]");
	free(s);
	/* the id after the params is still found */
	s = nested(JSON_MAX_DEPTH + 1, "", ",\"id\":\"late\"");
	ck_assert_int_eq(parse(s), JREQ_TOO_DEEP);
	ck_assert(req.has_id);
	ck_assert_str_eq(req.id_json, "\"late\"");
	ck_assert_str_eq(req.error, "Invalid request: params nested too deeply");
	free(s);
	s = nested(5000, "\"id\":5,", "");
	ck_assert_int_eq(parse(s), JREQ_TOO_DEEP);
	ck_assert_str_eq(req.id_json, "5");
	free(s);
	/* too deep but also broken: broken wins */
	s = nested(JSON_MAX_DEPTH + 1, "", ",");
	ck_assert_int_eq(parse(s), JREQ_BAD_JSON);
	free(s);
	/* objects count as levels too */
	ck_assert_int_eq(parse("{\"method\":\"m\",\"params\":[{\"a\":[{\"b\":[]}]}]}"), JREQ_OK);
	/* deep values outside params are only skipped */
	{
		char *x = malloc(20100), *d = x;

		d += sprintf(d, "{\"method\":\"m\",\"x\":");
		memset(d, '[', 10000);
		d += 10000;
		memset(d, ']', 10000);
		d += 10000;
		strcpy(d, ",\"params\":[1]}");
		ck_params(x, "[1]");
		free(x);
	}
	/* the deepest params render back as they came */
	s = nested(JSON_MAX_DEPTH, "", "");
	ck_assert_int_eq(parse(s), JREQ_OK);
	{
		char want[2 * JSON_MAX_DEPTH + 1];

		memset(want, '[', JSON_MAX_DEPTH);
		memset(want + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
		want[2 * JSON_MAX_DEPTH] = '\0';
		ck_assert_str_eq(render(&params), want);
	}
	free(s);
}
END_TEST

START_TEST(test_utf8_in_strings)
{
	/* raw invalid UTF-8 in a kept string is refused */
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[\"\xff\"]}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[\"\xc3\"]}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[\"\xc0\x80\"]}"), JREQ_BAD_JSON);
	ck_assert_str_eq(req.error, "Parse error: invalid UTF-8 in string");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[\"\xf4\x90\x80\x80\"]}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[{\"\xe0\x80\xaf\":1}]}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"\xc1\xbf\"}"), JREQ_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"id\":\"\xf8\x88\x80\x80\x80\"}"), JREQ_BAD_JSON);
	/* escaped lone surrogates become U+FFFD, pairs are joined */
	ck_params("{\"method\":\"a\",\"params\":[\"x\\udc00y\",\"\\udbff\\udfff\"]}",
	    "[\"x\xef\xbf\xbdy\",\"\xf4\x8f\xbf\xbf\"]");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"id\":\"\\udfff\"}"), JREQ_OK);
	ck_assert_str_eq(req.id_json, "\"\xef\xbf\xbd\"");
	/* valid 1-4 byte sequences pass */
	ck_params("{\"method\":\"a\",\"params\":[\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80"
	    "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]}",
	    "[\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]");
}
END_TEST

/* Strings long enough to bypass yajl's lexer must behave the same. */
START_TEST(test_long_strings)
{
	size_t n = 100000;
	char *msg = malloc(3 * n), *want = malloc(3 * n), *d;
	char *body = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	sprintf(msg, "{\"method\":\"m\",\"id\":1,\"params\":[\"%s\",{\"%s\":\"%s\"}]}",
	    body, body + n - 70, body + n - 64);
	sprintf(want, "[\"%s\",{\"%s\":\"%s\"}]", body, body + n - 70, body + n - 64);
	ck_params(msg, want);
	ck_assert_str_eq(req.id_json, "1");

	/* with escapes, non-ASCII, in ignored keys and as a too-long method */
	memcpy(body + 10, "\\n\\\"\\\\\xc3\xa9\\u00e9", 14);
	sprintf(msg, "{\"x\":\"%s\",\"method\":\"%s\",\"params\":[\"%s\"]}", body + 80000,
	    body + 95000, body + 5);
	ck_assert_int_eq(parse(msg), JREQ_OK);
	ck_assert(req.method_too_long);
	ck_assert_uint_eq(req.nparams, 1);
	d = want + sprintf(want, "[\"%.5s\\n\\\"\\\\\xc3\xa9\xc3\xa9", body + 5);
	sprintf(d, "%s\"]", body + 24);
	ck_assert_str_eq(render(&params), want);

	/* invalid UTF-8 or a control byte inside a long string */
	body[20000] = (char)0xc0;
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s\"]}", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	body[20000] = (char)0xed;
	body[20001] = (char)0xa0;
	body[20002] = (char)0x80;   /* a raw surrogate: repaired like an escaped one */
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s\"]}", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_OK);
	ck_assert_ptr_nonnull(strstr(render(&params), "\xef\xbf\xbd"));
	body[20001] = 'r';
	body[20002] = 's';
	body[20000] = '\x01';
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s\"]}", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	/* unterminated, or ending in a backslash */
	body[20000] = 'q';
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	strcat(msg, "\\");
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	/* a long string where no value may be */
	sprintf(msg, "{\"method\":\"m\" \"%s\":1}", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	sprintf(msg, "{\"method\":\"m\",\"params\":[1 \"%s\"]}", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_JSON);
	sprintf(msg, "\"%s\"", body + 15000);
	ck_assert_int_eq(parse(msg), JREQ_NOT_OBJECT);
	/* a long id string is a bad id */
	sprintf(msg, "{\"method\":\"m\",\"id\":\"%s\"}", body + 99000);
	ck_assert_int_eq(parse(msg), JREQ_BAD_ID);
	/* many long escaped strings: yajl's buffers outgrow the arena */
	d = msg + sprintf(msg, "{\"method\":\"m\",\"params\":[");
	for (int i = 0; i < 4; i++)
		d += sprintf(d, "%s\"\\t%.20000s\"", i ? "," : "", body + 30000);
	strcpy(d, "]}");
	ck_assert_int_eq(parse(msg), JREQ_OK);
	ck_assert_uint_eq(req.nparams, 4);
	free(msg);
	free(want);
	free(body);
}
END_TEST

START_TEST(test_buffer_reuse)
{
	char *big = nested(20, "", "");

	ck_assert_int_eq(parse(big), JREQ_OK);
	ck_params("{\"method\":\"a\",\"params\":[2]}", "[2]");
	ck_assert_int_eq(parse("{\"method\":\"a\"}"), JREQ_OK);
	ck_assert_uint_eq(params.size, 1);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":1}"), JREQ_BAD_PARAMS);
	ck_assert_uint_eq(params.size, 1);
	free(big);
}
END_TEST

/* ---- msgpack -> JSON --------------------------------------------------- */

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
		    "%.17g written as %s", v, text.data);
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
	ck_assert(utf8_valid(text.data, strlen(text.data)));
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
	msgpack_sbuffer_clear(&text);
	ck_assert_int_eq(json_put_string(&text, s, n), 0);
	ck_assert_int_eq(json_put_raw(&text, "", 1), 0);
	ck_assert_str_eq(text.data, want);
	/* a sequence cut by the end of the string is invalid there */
	msgpack_sbuffer_clear(&text);
	ck_assert_int_eq(json_put_string(&text, s, 4095), 0);
	/* 4090 plain bytes, \\n, \\", U+FFFD for 0xff and for each cut byte */
	ck_assert_uint_eq(text.size, 2 + 4090 + 2 + 2 + 3 + 2 * 3);
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
	ck_assert(utf8_valid(text.data, strlen(text.data)));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_put_raw)
{
	msgpack_sbuffer_clear(&text);
	ck_assert_int_eq(json_put_raw(&text, "{\"id\":", 6), 0);
	ck_assert_int_eq(json_put_string(&text, "a", 1), 0);
	ck_assert_int_eq(json_put_raw(&text, "}", 2), 0);
	ck_assert_str_eq(text.data, "{\"id\":\"a\"}");
	ck_assert_int_eq(json_put_raw(&text, NULL, 0), 0);
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
	tcase_add_test(tc, test_basic_call);
	tcase_add_test(tc, test_notification_and_ping);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_no_method);
	tcase_add_test(tc, test_method);
	tcase_add_test(tc, test_bad_params);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_extra_keys);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_id_from_msgpack);
	tcase_add_test(tc, test_params_values);
	tcase_add_test(tc, test_params_bytes);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_utf8_in_strings);
	tcase_add_test(tc, test_long_strings);
	tcase_add_test(tc, test_buffer_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_from_msgpack_scalars);
	tcase_add_test(tc, test_double_round_trip);
	tcase_add_test(tc, test_from_msgpack_strings);
	tcase_add_test(tc, test_put_string_long);
	tcase_add_test(tc, test_from_msgpack_containers);
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
