/*
 * check_request.c: unit tests for the master's reading of client messages:
 * the validating scanner (json/scan.c) with every error and its exact
 * message, the request on top of it (master/request.c: statuses by
 * precedence, method, canonical ids, the params span, nesting) and the
 * master's own answers (master/answer.c).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wspool.h>

#include "json/scan.h"
#include "json/write.h"
#include "master/answer.h"
#include "master/request.h"

static struct request rq;

/* Parse a message from an exact-size copy, so an overread shows. */
static enum request_status
parse_n(const char *json, size_t len)
{
	static char *copy;
	enum request_status st;

	free(copy);
	copy = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, json, len);
	st = request_parse(&rq, copy, len);
	if (st == REQUEST_OK)
		ck_assert_ptr_null(rq.rq_error);
	else
		ck_assert_ptr_nonnull(rq.rq_error);
	return st;
}

static enum request_status
parse(const char *json)
{
	return parse_n(json, strlen(json));
}

/* The params span as a string (the text as it came). */
static const char *
params_text(void)
{
	static char buf[65536];

	if (rq.rq_params == NULL)
		return NULL;
	ck_assert_uint_lt(rq.rq_params_len, sizeof(buf));
	memcpy(buf, rq.rq_params, rq.rq_params_len);
	buf[rq.rq_params_len] = '\0';
	return buf;
}

static const char *
id_text(void)
{
	static char buf[REQUEST_ID_JSON_MAX + 1];

	ck_assert(rq.rq_has_id);
	ck_assert_uint_le(rq.rq_id_len, REQUEST_ID_JSON_MAX);
	memcpy(buf, rq.rq_id, rq.rq_id_len);
	buf[rq.rq_id_len] = '\0';
	return buf;
}

/* ---- the scanner ----------------------------------------------------------- */

/* Every syntax error, with its message. */
static const struct {
	const char *text;
	const char *error;
} scan_errors[] = {
	{ "", json_scan_err_eof },
	{ "   ", json_scan_err_eof },
	{ "[", json_scan_err_eof },
	{ "[1", json_scan_err_eof },
	{ "[1,", json_scan_err_eof },
	{ "{", json_scan_err_eof },
	{ "{\"a\"", json_scan_err_eof },
	{ "{\"a\":", json_scan_err_eof },
	{ "{\"a\":1,", json_scan_err_eof },
	{ "\"abc", json_scan_err_eof },
	{ "\"ab\\", json_scan_err_eof },
	{ "\"\\u12", json_scan_err_eof },
	{ "-", json_scan_err_eof },
	{ "1.", json_scan_err_eof },
	{ "1e", json_scan_err_eof },
	{ "1e+", json_scan_err_eof },
	{ "tru", json_scan_err_eof },
	{ "nul", json_scan_err_eof },
	{ "fals", json_scan_err_eof },
	{ "]", json_scan_err_value },
	{ "}", json_scan_err_value },
	{ "[1,]", json_scan_err_value },
	{ "[,1]", json_scan_err_value },
	{ "'a'", json_scan_err_value },
	{ "+1", json_scan_err_value },
	{ ".5", json_scan_err_value },
	{ "NaN", json_scan_err_value },
	{ "[\f1]", json_scan_err_value },     /* \f and \v are not whitespace */
	{ "\v1", json_scan_err_value },
	{ "{,}", json_scan_err_key },
	{ "{1:2}", json_scan_err_key },
	{ "{a:1}", json_scan_err_key },
	{ "{\"a\":1,}", json_scan_err_key },
	{ "{'a':1}", json_scan_err_key },
	{ "{\"a\" 1}", json_scan_err_colon },
	{ "{\"a\",1}", json_scan_err_colon },
	{ "{\"a\":1 \"b\":2}", json_scan_err_object },
	{ "{\"a\":1]", json_scan_err_object },
	{ "[1 2]", json_scan_err_array },
	{ "[1}", json_scan_err_array },
	{ "[1:2]", json_scan_err_array },
	{ "[true false]", json_scan_err_array },
	{ "trUe", json_scan_err_literal },
	{ "nulL", json_scan_err_literal },
	{ "f", json_scan_err_eof },
	{ "falsy", json_scan_err_literal },
	{ "-a", json_scan_err_number },
	{ "-.5", json_scan_err_number },
	{ "1.e5", json_scan_err_number },
	{ "1ex", json_scan_err_number },
	{ "1e+-1", json_scan_err_number },
	{ "01", json_scan_err_trailing },
	{ "-01", json_scan_err_trailing },
	{ "1.5.5", json_scan_err_trailing },
	{ "[01]", json_scan_err_array },
	{ "\"\\x\"", json_scan_err_escape },
	{ "\"\\u12g4\"", json_scan_err_escape },
	{ "\"\\U0041\"", json_scan_err_escape },
	{ "\"\\'\"", json_scan_err_escape },
	{ "\"a\tb\"", json_scan_err_control },
	{ "\"a\nb\"", json_scan_err_control },
	{ "\"\x1f\"", json_scan_err_control },
	{ "1 2", json_scan_err_trailing },
	{ "{} {}", json_scan_err_trailing },
	{ "[]x", json_scan_err_trailing },
	{ "\"a\"\"b\"", json_scan_err_trailing },
};

START_TEST(test_scan_errors)
{
	for (size_t i = 0; i < sizeof(scan_errors) / sizeof(scan_errors[0]); i++) {
		const char *err = NULL;

		ck_assert_msg(json_scan_document(scan_errors[i].text,
		    strlen(scan_errors[i].text), &err) == JSON_SCAN_SYNTAX,
		    "'%s' accepted", scan_errors[i].text);
		ck_assert_msg(err == scan_errors[i].error, "'%s': '%s', want '%s'",
		    scan_errors[i].text, err, scan_errors[i].error);
	}
}
END_TEST

static const char *const scan_valid[] = {
	"0", "-0", "1", "-1", "123", "1.5", "-0.25", "1e5", "1E+5", "1e-5",
	"1.5e300", "123456789012345678901234567890", "true", "false", "null",
	"\"\"", "\"a\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uABCD\\uabcd\"",
	"\"\\ud800\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"", "[]", "{}", "[[]]",
	"[{}]", "{\"a\":[]}", " \t\r\n[ 1 , 2 ]\n ", "{ \"a\" : 1 , \"b\" : [ ] }",
	"[\"" "a long string, long enough for the vector scan to matter \\n"
	" and with an escape \\\"\"]",
	"{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}",
};

START_TEST(test_scan_valid)
{
	for (size_t i = 0; i < sizeof(scan_valid) / sizeof(scan_valid[0]); i++) {
		const char *err = "unset";

		ck_assert_msg(json_scan_document(scan_valid[i],
		    strlen(scan_valid[i]), &err) == JSON_SCAN_OK, "'%s': %s",
		    scan_valid[i], err);
		ck_assert_ptr_null(err);
	}
	/* A NUL byte is a control character in a string, and garbage
	 * elsewhere. */
	{
		const char *err;

		ck_assert_int_eq(json_scan_document("\"a\0\"", 4, &err),
		    JSON_SCAN_SYNTAX);
		ck_assert_ptr_eq(err, json_scan_err_control);
		ck_assert_int_eq(json_scan_document("1\0", 2, &err),
		    JSON_SCAN_SYNTAX);
		ck_assert_ptr_eq(err, json_scan_err_trailing);
	}
}
END_TEST

/* n nested arrays. */
static char *
nest(unsigned n, const char *inner)
{
	size_t len = 2 * (size_t)n + strlen(inner) + 1;
	char *s = malloc(len);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', n);
	strcpy(s + n, inner);
	memset(s + n + strlen(inner), ']', n);
	s[len - 1] = '\0';
	return s;
}

START_TEST(test_scan_depth)
{
	struct json_scan s;
	unsigned depth;
	const char *err;
	char *t;

	json_scan_init(&s, "1", 1);
	ck_assert_int_eq(json_scan_value(&s, &depth), JSON_SCAN_OK);
	ck_assert_uint_eq(depth, 0);
	json_scan_init(&s, "[[],[[{\"a\":[]}]]]", 17);
	ck_assert_int_eq(json_scan_value(&s, &depth), JSON_SCAN_OK);
	ck_assert_uint_eq(depth, 5);
	t = nest(JSON_SCAN_MAX_DEPTH, "0");
	ck_assert_int_eq(json_scan_document(t, strlen(t), &err), JSON_SCAN_OK);
	free(t);
	t = nest(JSON_SCAN_MAX_DEPTH + 1, "0");
	ck_assert_int_eq(json_scan_document(t, strlen(t), &err),
	    JSON_SCAN_TOO_DEEP);
	ck_assert_ptr_eq(err, json_scan_err_deep);
	free(t);
	/* Deep objects count the same, and bracket kinds are checked at
	 * every level. */
	t = malloc(5 * 300 + 8);
	ck_assert_ptr_nonnull(t);
	t[0] = '\0';
	for (int i = 0; i < 300; i++)
		strcat(t, "{\"\":");
	strcat(t, "[1");
	for (int i = 0; i < 300; i++)
		strcat(t, "}");
	ck_assert_int_eq(json_scan_document(t, strlen(t), &err),
	    JSON_SCAN_SYNTAX);
	ck_assert_ptr_eq(err, json_scan_err_array);
	free(t);
}
END_TEST

/* ---- statuses ---------------------------------------------------------------- */

START_TEST(test_basic_call)
{
	ck_assert_int_eq(parse("{\"id\":1,\"method\":\"echo\",\"params\":[\"hello\"]}"),
	    REQUEST_OK);
	ck_assert(rq.rq_has_method);
	ck_assert_uint_eq(rq.rq_method_len, 4);
	ck_assert_mem_eq(rq.rq_method, "echo", 4);
	ck_assert(!rq.rq_method_too_long);
	ck_assert(!rq.rq_ping);
	ck_assert_str_eq(id_text(), "1");
	ck_assert_str_eq(params_text(), "[\"hello\"]");
	/* The params come as they were sent, whitespace and all. */
	ck_assert_int_eq(parse("{\"params\" : [ 1 , {\"a\" :2} ]\n,\"method\":\"m\"}"),
	    REQUEST_OK);
	ck_assert_str_eq(params_text(), "[ 1 , {\"a\" :2} ]");
}
END_TEST

START_TEST(test_notification_and_ping)
{
	ck_assert_int_eq(parse("{\"method\":\"note\",\"params\":[\"t\",1]}"), REQUEST_OK);
	ck_assert(!rq.rq_has_id);
	ck_assert_str_eq(params_text(), "[\"t\",1]");
	ck_assert_int_eq(parse(" \t\r\n{ \"method\" : \".ping\" } \n"), REQUEST_OK);
	ck_assert(rq.rq_ping);
	ck_assert_ptr_null(rq.rq_params);
	/* .ping whatever params or id it carries: the status says what is
	 * wrong, rq_ping that it is a ping all the same. */
	ck_assert_int_eq(parse("{\"method\":\".ping\",\"id\":-1}"), REQUEST_BAD_ID);
	ck_assert(rq.rq_ping);
	ck_assert_int_eq(parse("{\"id\":1.5,\"method\":\".ping\",\"params\":{}}"),
	    REQUEST_BAD_ID);
	ck_assert(rq.rq_ping);
	ck_assert_int_eq(parse("{\"method\":\".ping\",\"params\":7}"), REQUEST_BAD_PARAMS);
	ck_assert(rq.rq_ping);
	ck_assert_int_eq(parse("{\"method\":\"\\u002eping\"}"), REQUEST_OK);
	ck_assert(rq.rq_ping);
	ck_assert_int_eq(parse("{\"method\":\".pingx\"}"), REQUEST_OK);
	ck_assert(!rq.rq_ping);
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
	"{\"x\":[1,,2],\"method\":\"a\"}", "{\"method\":\"a\",\"id\":01}",
	"{\"method\":\"a\",\"id\":\"x}", "{\"method\":\"a\",\"id\":[}",
};

START_TEST(test_bad_json)
{
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		ck_assert_msg(parse(bad_json[i]) == REQUEST_BAD_JSON, "'%s' -> %d",
		    bad_json[i], (int)parse(bad_json[i]));
		ck_assert(!rq.rq_has_id);
		ck_assert_ptr_null(rq.rq_params);
		ck_assert_msg(strncmp(rq.rq_error, "Parse error: ", 13) == 0,
		    "%s", rq.rq_error);
	}
	/* The exact messages of the request's own syntax errors. */
	ck_assert_int_eq(parse("{\"method\":\"a\""), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_eof);
	ck_assert_int_eq(parse("{\"method\":\"a\"} x"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_trailing);
	ck_assert_int_eq(parse("{\"method\":\"a\" \"x\":1}"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_object);
	ck_assert_int_eq(parse("{\"method\" \"a\"}"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_colon);
	ck_assert_int_eq(parse("{1:2}"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_key);
	ck_assert_int_eq(parse("{\"method\":"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_eof);
	ck_assert_int_eq(parse("{\"method\":\"a\","), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_eof);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[\"\\q\"]}"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_escape);
	ck_assert_int_eq(parse("[1,2] 3"), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_trailing);
	/* NUL bytes in the text itself */
	ck_assert_int_eq(parse_n("{\"method\":\"a\"}\0", 15), REQUEST_BAD_JSON);
	ck_assert_int_eq(parse_n("{\"method\":\"a\0\"}", 15), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_control);
}
END_TEST

START_TEST(test_truncated)
{
	const char *msg = "{\"id\":\"x\",\"method\":\"echo\",\"params\":[1,-2.5e3,"
	    "{\"k\":[true,false,null]},\"\\u00e9\"]}";
	size_t n = strlen(msg);

	for (size_t len = 0; len < n; len++)
		ck_assert_msg(parse_n(msg, len) == REQUEST_BAD_JSON, "len %zu", len);
	ck_assert_int_eq(parse_n(msg, n), REQUEST_OK);
	ck_assert_str_eq(params_text(), "[1,-2.5e3,{\"k\":[true,false,null]},\"\\u00e9\"]");
}
END_TEST

START_TEST(test_not_object)
{
	static const char *const cases[] = {
		"[]", "1", "-1.5", "\"s\"", "null", "true", "false",
		"[{\"method\":\"a\"}]", "[[[[]]]]",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(cases[i]) == REQUEST_NOT_OBJECT, "%s", cases[i]);
		ck_assert_str_eq(rq.rq_error, "Invalid request: not a JSON object");
		ck_assert_ptr_null(rq.rq_params);
	}
	/* bad JSON wins over a non-object */
	ck_assert_int_eq(parse("[1,2"), REQUEST_BAD_JSON);
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
		ck_assert_msg(parse(cases[i]) == REQUEST_NO_METHOD, "%s", cases[i]);
		ck_assert(!rq.rq_has_id);
	}
	ck_assert_int_eq(parse("{}"), REQUEST_NO_METHOD);
	ck_assert_str_eq(rq.rq_error, "Invalid request: missing method");
	ck_assert_int_eq(parse("{\"method\":7}"), REQUEST_NO_METHOD);
	ck_assert_str_eq(rq.rq_error, "Invalid request: method must be a string");
	ck_assert_int_eq(parse("{\"method\":\"a\\u0000\"}"), REQUEST_NO_METHOD);
	ck_assert_str_eq(rq.rq_error,
	    "Invalid request: method contains a NUL character");
}
END_TEST

START_TEST(test_method)
{
	char msg[1024], m[301];

	ck_assert_int_eq(parse("{\"method\":\"\"}"), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_method_len, 0);
	ck_assert_int_eq(parse("{\"method\":\"a\\/b\\u00e9\\n\"}"), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_method_len, 6);
	ck_assert_mem_eq(rq.rq_method, "a/b\xc3\xa9\n", 6);

	memset(m, 'm', 300);
	m[256] = '\0';
	snprintf(msg, sizeof(msg), "{\"method\":\"%s\"}", m);
	ck_assert_int_eq(parse(msg), REQUEST_OK);
	ck_assert(!rq.rq_method_too_long);
	ck_assert_uint_eq(rq.rq_method_len, 256);
	ck_assert_mem_eq(rq.rq_method, m, 256);

	m[256] = 'm';
	m[300] = '\0';
	snprintf(msg, sizeof(msg), "{\"id\":3,\"method\":\"%s\"}", m);
	ck_assert_int_eq(parse(msg), REQUEST_OK);
	ck_assert(rq.rq_method_too_long);
	ck_assert_uint_eq(rq.rq_method_len, 256);
	ck_assert_str_eq(id_text(), "3");
	/* Escaped and too long. */
	snprintf(msg, sizeof(msg), "{\"method\":\"\\n%s\"}", m);
	ck_assert_int_eq(parse(msg), REQUEST_OK);
	ck_assert(rq.rq_method_too_long);
	/* A lone surrogate in a method: no route has it (404), no 400. */
	ck_assert_int_eq(parse("{\"method\":\"\\ud800\"}"), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_method_len, 3);
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
		ck_assert_msg(parse(cases[i]) == REQUEST_BAD_PARAMS, "%s", cases[i]);
		ck_assert(!rq.rq_has_id);
		ck_assert_ptr_null(rq.rq_params);
	}
	/* the id is known whether it comes before or after params */
	ck_assert_int_eq(parse("{\"id\":7,\"method\":\"a\",\"params\":{}}"), REQUEST_BAD_PARAMS);
	ck_assert_str_eq(id_text(), "7");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":5,\"id\":\"q\"}"), REQUEST_BAD_PARAMS);
	ck_assert_str_eq(id_text(), "\"q\"");
	ck_assert_str_eq(rq.rq_error, "Invalid request: params must be an array");
	/* a bad id outranks bad params */
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":5,\"id\":-1}"), REQUEST_BAD_ID);
	ck_assert(!rq.rq_has_id);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	ck_assert_int_eq(parse("{\"method\":\"a\",\"method\":\"b\"}"), REQUEST_BAD_JSON);
	ck_assert_str_eq(rq.rq_error, "Parse error: duplicate key");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"id\":1,\"id\":1}"), REQUEST_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[],\"params\":[]}"), REQUEST_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"\\u0069d\":1,\"id\":2}"), REQUEST_BAD_JSON);
	ck_assert_int_eq(parse("{\"method\":1,\"method\":\"b\"}"), REQUEST_BAD_JSON);
	/* duplicates win over everything but other syntax errors */
	ck_assert_int_eq(parse("{\"params\":{},\"id\":1,\"id\":2}"), REQUEST_BAD_JSON);
	ck_assert_str_eq(rq.rq_error, "Parse error: duplicate key");
	/* other keys may repeat; inside params, keys are data */
	ck_assert_int_eq(parse("{\"method\":\"a\",\"x\":1,\"x\":2}"), REQUEST_OK);
	ck_assert_int_eq(parse("{\"method\":\"a\",\"params\":[{\"method\":1,\"method\":2}]}"),
	    REQUEST_OK);
	ck_assert_str_eq(params_text(), "[{\"method\":1,\"method\":2}]");
	/* an escaped key that only looks long */
	ck_assert_int_eq(parse("{\"\\u006d\\u0065thod\":\"a\",\"\\u0070arams\":[1]}"),
	    REQUEST_OK);
	ck_assert_str_eq(params_text(), "[1]");
	ck_assert_int_eq(parse("{\"method\":\"a\",\"param\\u0073x\":{}}"), REQUEST_OK);
}
END_TEST

START_TEST(test_extra_keys)
{
	ck_assert_int_eq(parse("{\"jsonrpc\":\"2.0\",\"x\":{\"method\":\"no\",\"id\":[1],"
	    "\"params\":{}},\"method\":\"yes\",\"y\":[[[\"method\"]]],\"id\":9,"
	    "\"params\":[1],\"z\":null,\"w\":\"params\"}"), REQUEST_OK);
	ck_assert_mem_eq(rq.rq_method, "yes", 3);
	ck_assert_str_eq(id_text(), "9");
	ck_assert_str_eq(params_text(), "[1]");
}
END_TEST

/* ---- ids ---------------------------------------------------------------------- */

static void
ck_id(const char *id, const char *want)
{
	char msg[4096], out[REQUEST_ID_JSON_MAX];
	int n;

	snprintf(msg, sizeof(msg), "{\"method\":\"m\",\"id\":%s}", id);
	if (want == NULL) {
		ck_assert_msg(parse(msg) == REQUEST_BAD_ID, "id %s", id);
		ck_assert(!rq.rq_has_id);
		ck_assert_msg(request_id_canon(id, strlen(id), out) == -1 ||
		    (id[0] != '"' && (id[0] < '0' || id[0] > '9')),
		    "canon of %s", id);
		return;
	}
	ck_assert_msg(parse(msg) == REQUEST_OK, "id %s", id);
	ck_assert_str_eq(id_text(), want);
	/* .cancel's params[0] gives the same text. */
	n = request_id_canon(id, strlen(id), out);
	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert_mem_eq(out, want, (size_t)n);
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
	ck_id("\"\\u0022\\u005c\"", "\"\\\"\\\\\"");
	ck_id("\"\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f\"", "\"\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"");
	ck_id("\"\\u000a\\u0008\"", "\"\\n\\b\"");
	ck_id("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
	ck_id("\"\\uD83D\\uDE00\"", "\"\xf0\x9f\x98\x80\"");
	ck_id("\"\\u0000\"", "\"\\u0000\"");
	/* lone surrogates stay escaped, as JSON.stringify writes them */
	ck_id("\"\\ud800\"", "\"\\ud800\"");
	ck_id("\"\\uDC00x\"", "\"\\udc00x\"");
	ck_id("\"\\ud800\\ud800\"", "\"\\ud800\\ud800\"");
	ck_id("\"\\ude00\\ud83d\"", "\"\\ude00\\ud83d\"");
	ck_id("\"\\ud83d\\u0041\"", "\"\\ud83dA\"");

	/* 256 bytes (after unescaping) is the limit */
	big[0] = '"';
	memset(big + 1, 'x', 256);
	big[257] = '"';
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
	ck_assert_uint_eq(rq.rq_id_len, 2 + 85 * 2 + 86 * 6);
	/* one more escaped byte is too long */
	strcpy(big + strlen(big) - 1, "x\"");
	ck_id(big, NULL);
	/* a lone surrogate counts 3 bytes: 85 of them fit, 86 do not */
	strcpy(big, "\"");
	for (int i = 0; i < 86; i++)
		strcat(big, "\\udbff");
	strcat(big, "\"");
	ck_id(big, NULL);
	strcpy(big + strlen(big) - 7, "\"");
	ck_assert_int_eq(parse_n("{\"method\":\"m\",\"id\":", 0), REQUEST_BAD_JSON);
	/* the longest possible canonical text fits */
	strcpy(big, "{\"method\":\"m\",\"id\":\"");
	for (int i = 0; i < 256; i++)
		strcat(big, "\\u0002");
	strcat(big, "\"}");
	ck_assert_int_eq(parse(big), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_id_len, 256 * 6 + 2);
	ck_assert_uint_eq(rq.rq_id_len, REQUEST_ID_JSON_MAX);
}
END_TEST

START_TEST(test_first_param)
{
	const char *t;
	size_t n;

	ck_assert_int_eq(parse("{\"method\":\".cancel\",\"params\":[ \"a\\\"\\u00e9\" , 42]}"),
	    REQUEST_OK);
	ck_assert_int_eq(request_first_param(&rq, &t, &n), 0);
	ck_assert_uint_eq(n, 11);
	ck_assert_mem_eq(t, "\"a\\\"\\u00e9\"", 11);
	ck_assert_int_eq(parse("{\"method\":\".cancel\",\"params\":[[1,2],3]}"), REQUEST_OK);
	ck_assert_int_eq(request_first_param(&rq, &t, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(parse("{\"method\":\".cancel\",\"params\":[ ]}"), REQUEST_OK);
	ck_assert_int_eq(request_first_param(&rq, &t, &n), -1);
	ck_assert_int_eq(parse("{\"method\":\".cancel\",\"id\":5}"), REQUEST_OK);
	ck_assert_int_eq(request_first_param(&rq, &t, &n), -1);
}
END_TEST

/* ---- nesting ------------------------------------------------------------------ */

/* A message whose params nest n arrays (params itself is the first). */
static char *
nested(unsigned n, const char *before, const char *after)
{
	size_t len = strlen(before) + strlen(after) + 2 * (size_t)n + 64;
	char *s = malloc(len), *d;

	ck_assert_ptr_nonnull(s);
	d = s + sprintf(s, "{%s\"method\":\"m\",\"params\":", before);
	memset(d, '[', n);
	d += n;
	memset(d, ']', n);
	d += n;
	sprintf(d, "%s}", after);
	return s;
}

START_TEST(test_depth)
{
	char *s;

	/* 257 levels counting params: a value 256 levels deep. */
	s = nested(REQUEST_PARAMS_MAX_DEPTH, "\"id\":1,", "");
	ck_assert_int_eq(parse(s), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_params_len, 2 * REQUEST_PARAMS_MAX_DEPTH);
	free(s);
	s = nested(REQUEST_PARAMS_MAX_DEPTH + 1, "", "");
	ck_assert_int_eq(parse(s), REQUEST_TOO_DEEP);
	ck_assert(!rq.rq_has_id);
	ck_assert_ptr_null(rq.rq_params);
	ck_assert_str_eq(rq.rq_error, "Invalid request: params nested too deeply");
	free(s);
	/* the id after the params is still found */
	s = nested(REQUEST_PARAMS_MAX_DEPTH + 1, "", ",\"id\":\"late\"");
	ck_assert_int_eq(parse(s), REQUEST_TOO_DEEP);
	ck_assert_str_eq(id_text(), "\"late\"");
	free(s);
	/* too deep but also broken: broken wins */
	s = nested(REQUEST_PARAMS_MAX_DEPTH + 1, "", ",");
	ck_assert_int_eq(parse(s), REQUEST_BAD_JSON);
	free(s);
	/* objects count as levels too */
	ck_assert_int_eq(parse("{\"method\":\"m\",\"params\":[{\"a\":[{\"b\":[]}]}]}"), REQUEST_OK);
	/* past the scanner's bound: the scan stops there; the id counts if
	 * it came before, the method if it was .ping */
	s = nested(5000, "\"id\":5,", "");
	ck_assert_int_eq(parse(s), REQUEST_DEEP);
	ck_assert_str_eq(id_text(), "5");
	ck_assert_str_eq(rq.rq_error, "Invalid request: nested too deeply");
	free(s);
	s = nested(5000, "", ",\"id\":5");
	ck_assert_int_eq(parse(s), REQUEST_DEEP);
	ck_assert(!rq.rq_has_id);
	free(s);
	s = malloc(20100);
	ck_assert_ptr_nonnull(s);
	strcpy(s, "{\"method\":\".ping\",\"x\":");
	memset(s + strlen(s), '[', 10000);
	s[22 + 10000] = '\0';
	ck_assert_int_eq(parse(s), REQUEST_DEEP);
	ck_assert(rq.rq_ping);
	/* deep values outside params, within the bound, are only checked */
	strcpy(s, "{\"method\":\"m\",\"x\":");
	memset(s + 18, '[', 500);
	memset(s + 518, ']', 500);
	strcpy(s + 1018, ",\"params\":[1]}");
	ck_assert_int_eq(parse(s), REQUEST_OK);
	ck_assert_str_eq(params_text(), "[1]");
	/* a deep top level that is not an object */
	memset(s, '[', 600);
	memset(s + 600, ']', 600);
	s[1200] = '\0';
	ck_assert_int_eq(parse(s), REQUEST_DEEP);
	ck_assert(!rq.rq_has_id);
	free(s);
}
END_TEST

/* Long strings take the vector scan: same verdicts. */
START_TEST(test_long_strings)
{
	size_t n = 100000;
	char *msg = malloc(3 * n), *body = malloc(n + 1);

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	sprintf(msg, "{\"method\":\"m\",\"id\":1,\"params\":[\"%s\",{\"%s\":\"%s\"}]}",
	    body, body + n - 70, body + n - 64);
	ck_assert_int_eq(parse(msg), REQUEST_OK);
	ck_assert_uint_eq(rq.rq_params_len, strlen(msg) - 31);
	/* a control byte, a bad escape, a missing quote, deep inside */
	body[20000] = '\x01';
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s\"]}", body + 15000);
	ck_assert_int_eq(parse(msg), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_control);
	body[20000] = '\\';
	ck_assert_int_eq(parse(msg), REQUEST_BAD_JSON);
	body[20000] = 'q';
	sprintf(msg, "{\"method\":\"m\",\"params\":[\"%s", body + 15000);
	ck_assert_int_eq(parse(msg), REQUEST_BAD_JSON);
	ck_assert_ptr_eq(rq.rq_error, json_scan_err_eof);
	/* a long id string is a bad id */
	sprintf(msg, "{\"method\":\"m\",\"id\":\"%s\"}", body + 99000);
	ck_assert_int_eq(parse(msg), REQUEST_BAD_ID);
	free(msg);
	free(body);
}
END_TEST

/* ---- answers ------------------------------------------------------------------- */

START_TEST(test_answers)
{
	struct json_buf b = JSON_BUF_INIT;
	struct wspool_reason r;

	ck_assert_int_eq(answer_error(&b, "7", 1, 404, "Not Found", 9, NULL, 0,
	    NULL), 0);
	ck_assert_int_eq(json_put_raw(&b, "", 1), 0);
	ck_assert_str_eq(b.jb_data,
	    "{\"id\":7,\"error\":{\"code\":404,\"message\":\"Not Found\"}}");
	b.jb_len = 0;
	ck_assert_int_eq(answer_error(&b, NULL, 0, 400, "a\"b\n\xff", 5, NULL, 0,
	    NULL), 0);
	ck_assert_int_eq(json_put_raw(&b, "", 1), 0);
	ck_assert_str_eq(b.jb_data, "{\"id\":null,\"error\":{\"code\":400,"
	    "\"message\":\"a\\\"b\\n\xef\xbf\xbd\"}}");
	b.jb_len = 0;
	ck_assert_int_eq(answer_error(&b, "\"x\"", 3, 418, "t", 1, "[1]", 3,
	    NULL), 0);
	ck_assert_int_eq(json_put_raw(&b, "", 1), 0);
	ck_assert_str_eq(b.jb_data, "{\"id\":\"x\",\"error\":{\"code\":418,"
	    "\"message\":\"t\",\"data\":[1]}}");
	memset(&r, 0, sizeof(r));
	r.kind = WSPOOL_REASON_CRASHED;
	r.signal = "SIGSEGV";
	r.status = -1;
	r.worker_pid = 12;
	r.worker_host = "h";
	b.jb_len = 0;
	ck_assert_int_eq(answer_error(&b, "1", 1, 502, "Bad Gateway", 11, NULL,
	    0, &r), 0);
	ck_assert_int_eq(json_put_raw(&b, "", 1), 0);
	ck_assert_str_eq(b.jb_data, "{\"id\":1,\"error\":{\"code\":502,"
	    "\"message\":\"Bad Gateway\",\"data\":{\"kind\":\"crashed\","
	    "\"signal\":\"SIGSEGV\",\"worker\":{\"pid\":12,\"host\":\"h\"}}}}");
	memset(&r, 0, sizeof(r));
	r.kind = WSPOOL_REASON_TIMEOUT;
	b.jb_len = 0;
	ck_assert_int_eq(answer_reason(&b, &r), 0);
	ck_assert_int_eq(json_put_raw(&b, "", 1), 0);
	ck_assert_str_eq(b.jb_data, "{\"kind\":\"timeout\"}");
	b.jb_len = 0;
	ck_assert_int_eq(answer_reason(&b, NULL), 0);
	ck_assert_uint_eq(b.jb_len, 4);
	json_buf_free(&b);
}
END_TEST

static Suite *
request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc;

	tc = tcase_create("scan");
	tcase_add_test(tc, test_scan_errors);
	tcase_add_test(tc, test_scan_valid);
	tcase_add_test(tc, test_scan_depth);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
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
	tcase_add_test(tc, test_first_param);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_long_strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("answer");
	tcase_add_test(tc, test_answers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(request_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
