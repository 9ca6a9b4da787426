/*
 * check_schema.c: unit tests of worker/schema.c, the params checks run
 * before any middleware or handler: every type, optional, nullable,
 * missing, extra, rest, the 400 error data, the schema sanity checks and
 * the type expressions of generated clients;
 * and of worker/values.c, the number helpers those checks share with
 * handlers (wspool_int64, wspool_uint64, wspool_number).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "worker/schema.h"
#include "worker/values.h"

/* Params as a msgpack array built from packed bytes. */
struct params {
	msgpack_zone zone;
	msgpack_object obj;
};

static void
params_init(struct params *p, const char *bytes, size_t len)
{
	size_t off = 0;

	ck_assert(msgpack_zone_init(&p->zone, 1024));
	ck_assert_int_eq(msgpack_unpack(bytes, len, &off, &p->zone, &p->obj),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(p->obj.type, MSGPACK_OBJECT_ARRAY);
}

static void
params_fini(struct params *p)
{
	msgpack_zone_destroy(&p->zone);
}

#define PARAMS(p, lit) params_init((p), (lit), sizeof(lit) - 1)

/* Check: passes (want_index < 0), or fails at want_index with value. */
static void
expect(const struct wspool_schema *s, const char *bytes, size_t len,
    int want_index, int want_type)
{
	struct params p;
	const msgpack_object *value = (const msgpack_object *)1;
	uint32_t index = 99;
	int rv;

	params_init(&p, bytes, len);
	rv = schema_check(s, &p.obj.via.array, &index, &value);
	if (want_index < 0) {
		ck_assert_int_eq(rv, 0);
	} else {
		ck_assert_int_eq(rv, -1);
		ck_assert_uint_eq(index, (uint32_t)want_index);
		if (want_type < 0)
			ck_assert_ptr_null(value);
		else {
			ck_assert_ptr_nonnull(value);
			ck_assert_int_eq(value->type, want_type);
			/* The value is the param itself, not a copy. */
			ck_assert_ptr_eq(value,
			    &p.obj.via.array.ptr[want_index]);
		}
	}
	params_fini(&p);
}

#define OK(s, lit) expect((s), (lit), sizeof(lit) - 1, -1, 0)
#define BAD(s, lit, i, t) expect((s), (lit), sizeof(lit) - 1, (i), (t))
#define MISSING(s, lit, i) expect((s), (lit), sizeof(lit) - 1, (i), -1)

/* One param of type t, required, not nullable. */
static struct wspool_param one_param;
static struct wspool_schema one = { &one_param, 1, false };

static void
set_one(enum wspool_type t, bool optional, bool nullable)
{
	one_param.name = "x";
	one_param.type = t;
	one_param.optional = optional;
	one_param.nullable = nullable;
}

/* Sample values, each a 1-element array. */
#define V_NIL "\x91\xc0"
#define V_TRUE "\x91\xc3"
#define V_FALSE "\x91\xc2"
#define V_UINT "\x91\x07"
#define V_NEG "\x91\xff"                     /* -1 */
#define V_F64 "\x91\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"  /* 1.5 */
#define V_F64_INT "\x91\xcb\x40\x00\x00\x00\x00\x00\x00\x00" /* 2.0 */
#define V_F32 "\x91\xca\x3f\xc0\x00\x00"     /* 1.5f */
#define V_F64_HUGE "\x91\xcb\x7f\xef\xff\xff\xff\xff\xff\xff" /* DBL_MAX */
#define V_F64_NEG0 "\x91\xcb\x80\x00\x00\x00\x00\x00\x00\x00" /* -0.0 */
#define V_F64_NEG2 "\x91\xcb\xc0\x00\x00\x00\x00\x00\x00\x00" /* -2.0 */
#define V_F64_2_63 "\x91\xcb\x43\xe0\x00\x00\x00\x00\x00\x00" /* 2^63 */
#define V_F64_M2_63 "\x91\xcb\xc3\xe0\x00\x00\x00\x00\x00\x00" /* -2^63 */
#define V_F64_2_64 "\x91\xcb\x43\xf0\x00\x00\x00\x00\x00\x00" /* 2^64 */
#define V_U64_MAX "\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
#define V_I64_MIN "\x91\xd3\x80\x00\x00\x00\x00\x00\x00\x00"
#define V_STR "\x91\xa2hi"
#define V_ARR "\x91\x92\x01\x02"
#define V_MAP "\x91\x81\xa1k\x01"

START_TEST(test_type_any)
{
	set_one(WSPOOL_T_ANY, false, false);
	OK(&one, V_NIL);
	OK(&one, V_TRUE);
	OK(&one, V_UINT);
	OK(&one, V_F64);
	OK(&one, V_STR);
	OK(&one, V_ARR);
	OK(&one, V_MAP);
	MISSING(&one, "\x90", 0);
}
END_TEST

START_TEST(test_type_null)
{
	set_one(WSPOOL_T_NULL, false, false);
	OK(&one, V_NIL);
	BAD(&one, V_FALSE, 0, MSGPACK_OBJECT_BOOLEAN);
	BAD(&one, V_UINT, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
	BAD(&one, V_STR, 0, MSGPACK_OBJECT_STR);
}
END_TEST

START_TEST(test_type_bool)
{
	set_one(WSPOOL_T_BOOL, false, false);
	OK(&one, V_TRUE);
	OK(&one, V_FALSE);
	BAD(&one, V_NIL, 0, MSGPACK_OBJECT_NIL);
	BAD(&one, V_UINT, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
	BAD(&one, V_STR, 0, MSGPACK_OBJECT_STR);
}
END_TEST

START_TEST(test_type_number)
{
	set_one(WSPOOL_T_NUMBER, false, false);
	OK(&one, V_UINT);
	OK(&one, V_NEG);
	OK(&one, V_F64);
	OK(&one, V_F32);
	BAD(&one, V_STR, 0, MSGPACK_OBJECT_STR);
	BAD(&one, V_TRUE, 0, MSGPACK_OBJECT_BOOLEAN);
	BAD(&one, V_NIL, 0, MSGPACK_OBJECT_NIL);
	BAD(&one, V_ARR, 0, MSGPACK_OBJECT_ARRAY);
}
END_TEST

START_TEST(test_type_integer)
{
	set_one(WSPOOL_T_INTEGER, false, false);
	OK(&one, V_UINT);
	OK(&one, V_NEG);
	OK(&one, V_F64_INT);       /* JSON 2.0 is an integer */
	BAD(&one, V_F64, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_F32, 0, MSGPACK_OBJECT_FLOAT32);
	BAD(&one, V_F64_HUGE, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_STR, 0, MSGPACK_OBJECT_STR);
	/* Integers of any size, as in ABI 1; integral floats within int64. */
	OK(&one, V_U64_MAX);
	OK(&one, V_I64_MIN);
	OK(&one, V_F64_M2_63);
	OK(&one, V_F64_NEG0);
	BAD(&one, V_F64_2_63, 0, MSGPACK_OBJECT_FLOAT64);
}
END_TEST

/* Non-negative integers: what wspool_uint64 reads. */
START_TEST(test_type_uint)
{
	set_one(WSPOOL_T_UINT, false, false);
	OK(&one, V_UINT);
	OK(&one, V_U64_MAX);
	OK(&one, V_F64_INT);
	OK(&one, V_F64_NEG0);       /* -0.0 is 0 */
	OK(&one, V_F64_2_63);
	BAD(&one, V_NEG, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	BAD(&one, V_I64_MIN, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	BAD(&one, V_F64_NEG2, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_F64, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_F32, 0, MSGPACK_OBJECT_FLOAT32);
	BAD(&one, V_F64_2_64, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_F64_HUGE, 0, MSGPACK_OBJECT_FLOAT64);
	BAD(&one, V_STR, 0, MSGPACK_OBJECT_STR);
	BAD(&one, V_NIL, 0, MSGPACK_OBJECT_NIL);
	set_one(WSPOOL_T_UINT, true, true);
	OK(&one, V_NIL);
	OK(&one, "\x90");
}
END_TEST

/* ---- values.c --------------------------------------------------------- */

static msgpack_object
num_u(uint64_t u)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER };

	o.via.u64 = u;
	return o;
}

static msgpack_object
num_i(int64_t i)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_NEGATIVE_INTEGER };

	o.via.i64 = i;
	return o;
}

static msgpack_object
num_f(double d, bool f32)
{
	msgpack_object o = { .type = f32 ? MSGPACK_OBJECT_FLOAT32 :
	    MSGPACK_OBJECT_FLOAT64 };

	o.via.f64 = d;
	return o;
}

/* wspool_int64 on o: want_ok says whether it reads, want the value. */
static void
expect_i64(msgpack_object o, bool want_ok, int64_t want)
{
	int64_t v = 12345;

	if (want_ok) {
		ck_assert_int_eq(wspool_int64(&o, &v), WSPOOL_OK);
		ck_assert_int_eq(v, want);
	} else {
		ck_assert_int_eq(wspool_int64(&o, &v), WSPOOL_ERROR);
		ck_assert_int_eq(v, 12345);    /* left alone */
	}
}

static void
expect_u64(msgpack_object o, bool want_ok, uint64_t want)
{
	uint64_t v = 12345;

	if (want_ok) {
		ck_assert_int_eq(wspool_uint64(&o, &v), WSPOOL_OK);
		ck_assert_uint_eq(v, want);
	} else {
		ck_assert_int_eq(wspool_uint64(&o, &v), WSPOOL_ERROR);
		ck_assert_uint_eq(v, 12345);
	}
}

START_TEST(test_int64)
{
	msgpack_object s = { .type = MSGPACK_OBJECT_STR };
	int64_t v;

	expect_i64(num_u(7), true, 7);
	expect_i64(num_u(INT64_MAX), true, INT64_MAX);
	expect_i64(num_u((uint64_t)INT64_MAX + 1), false, 0);
	expect_i64(num_u(UINT64_MAX), false, 0);
	expect_i64(num_i(-1), true, -1);
	expect_i64(num_i(INT64_MIN), true, INT64_MIN);
	expect_i64(num_f(2.0, false), true, 2);
	expect_i64(num_f(-2.0, true), true, -2);
	expect_i64(num_f(-0.0, false), true, 0);
	expect_i64(num_f(4503599627370497.0, false), true,
	    INT64_C(4503599627370497));             /* 2^52 + 1 */
	expect_i64(num_f(-9223372036854775808.0, false), true, INT64_MIN);
	expect_i64(num_f(9223372036854775808.0, false), false, 0);
	expect_i64(num_f(1e300, false), false, 0);
	expect_i64(num_f(1.5, false), false, 0);
	expect_i64(num_f(-0.5, false), false, 0);
	expect_i64(num_f(NAN, false), false, 0);
	expect_i64(num_f(INFINITY, false), false, 0);
	expect_i64(num_f(-INFINITY, false), false, 0);
	expect_i64(s, false, 0);
	ck_assert_int_eq(wspool_int64(NULL, &v), WSPOOL_ERROR);
}
END_TEST

START_TEST(test_uint64)
{
	msgpack_object b = { .type = MSGPACK_OBJECT_BOOLEAN };
	uint64_t v;

	expect_u64(num_u(0), true, 0);
	expect_u64(num_u(UINT64_MAX), true, UINT64_MAX);
	expect_u64(num_i(-1), false, 0);
	expect_u64(num_i(INT64_MIN), false, 0);
	expect_u64(num_f(2.0, false), true, 2);
	expect_u64(num_f(-0.0, false), true, 0);
	expect_u64(num_f(9223372036854775808.0, false), true,
	    UINT64_C(9223372036854775808));
	/* The largest double below 2^64 fits; 2^64 does not. */
	expect_u64(num_f(18446744073709549568.0, false), true,
	    UINT64_C(18446744073709549568));
	expect_u64(num_f(18446744073709551616.0, false), false, 0);
	expect_u64(num_f(-1.0, false), false, 0);
	expect_u64(num_f(0.25, true), false, 0);
	expect_u64(num_f(NAN, false), false, 0);
	expect_u64(b, false, 0);
	ck_assert_int_eq(wspool_uint64(NULL, &v), WSPOOL_ERROR);
}
END_TEST

START_TEST(test_number)
{
	msgpack_object s = { .type = MSGPACK_OBJECT_STR };
	msgpack_object o;

	o = num_u(7);
	ck_assert(wspool_number(&o) == 7.0);
	o = num_i(-3);
	ck_assert(wspool_number(&o) == -3.0);
	o = num_f(2.5, false);
	ck_assert(wspool_number(&o) == 2.5);
	ck_assert(wspool_number(&s) == 0.0);
	ck_assert(wspool_number(NULL) == 0.0);
}
END_TEST

START_TEST(test_type_string_array_object)
{
	set_one(WSPOOL_T_STRING, false, false);
	OK(&one, V_STR);
	OK(&one, "\x91\xa0");      /* "" */
	BAD(&one, V_UINT, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
	BAD(&one, "\x91\xc4\x01x", 0, MSGPACK_OBJECT_BIN);
	set_one(WSPOOL_T_ARRAY, false, false);
	OK(&one, V_ARR);
	OK(&one, "\x91\x90");
	BAD(&one, V_MAP, 0, MSGPACK_OBJECT_MAP);
	set_one(WSPOOL_T_OBJECT, false, false);
	OK(&one, V_MAP);
	OK(&one, "\x91\x80");
	BAD(&one, V_ARR, 0, MSGPACK_OBJECT_ARRAY);
}
END_TEST

START_TEST(test_nullable)
{
	set_one(WSPOOL_T_STRING, false, true);
	OK(&one, V_NIL);
	OK(&one, V_STR);
	BAD(&one, V_UINT, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
	/* Nullable does not make it optional. */
	MISSING(&one, "\x90", 0);
}
END_TEST

START_TEST(test_optional)
{
	set_one(WSPOOL_T_STRING, true, false);
	OK(&one, "\x90");
	OK(&one, V_STR);
	/* A present null is checked. */
	BAD(&one, V_NIL, 0, MSGPACK_OBJECT_NIL);
	set_one(WSPOOL_T_STRING, true, true);
	OK(&one, V_NIL);
}
END_TEST

static const struct wspool_param add_params[] = {
	{ .name = "a", .type = WSPOOL_T_NUMBER },
	{ .name = "b", .type = WSPOOL_T_NUMBER },
	{ .name = "c", .type = WSPOOL_T_STRING, .optional = true },
};
static const struct wspool_schema add2 = { add_params, 2, false };
static const struct wspool_schema add3 = { add_params, 3, false };
static const struct wspool_schema add2_rest = { add_params, 2, true };

START_TEST(test_missing)
{
	OK(&add2, "\x92\x01\x02");
	MISSING(&add2, "\x90", 0);
	MISSING(&add2, "\x91\x01", 1);
	/* A wrong type before the missing one is reported first. */
	BAD(&add2, "\x91\xa1x", 0, MSGPACK_OBJECT_STR);
	OK(&add3, "\x92\x01\x02");
	OK(&add3, "\x93\x01\x02\xa1x");
	BAD(&add3, "\x93\x01\x02\x03", 2, MSGPACK_OBJECT_POSITIVE_INTEGER);
}
END_TEST

START_TEST(test_extra_and_rest)
{
	BAD(&add2, "\x93\x01\x02\xa1x", 2, MSGPACK_OBJECT_STR);
	BAD(&add2, "\x94\x01\x02\xc3\xa1x", 2, MSGPACK_OBJECT_BOOLEAN);
	BAD(&add3, "\x94\x01\x02\xa1x\xc0", 3, MSGPACK_OBJECT_NIL);
	OK(&add2_rest, "\x94\x01\x02\xc3\xa1x");
	OK(&add2_rest, "\x92\x01\x02");
	MISSING(&add2_rest, "\x91\x01", 1);
	/* rest does not excuse a wrong declared one. */
	BAD(&add2_rest, "\x93\x01\xc2\xc3", 1, MSGPACK_OBJECT_BOOLEAN);
}
END_TEST

START_TEST(test_no_schema_and_empty)
{
	static const struct wspool_schema none = { NULL, 0, false };
	static const struct wspool_schema any_rest = { NULL, 0, true };

	OK(NULL, "\x90");
	OK(NULL, "\x93\x01\x02\x03");
	OK(&none, "\x90");
	BAD(&none, "\x91\x01", 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
	OK(&any_rest, "\x92\x01\x02");
}
END_TEST

/* Pack the error data and compare with the exact expected bytes. */
static void
expect_error_bytes(uint32_t index, const msgpack_object *value,
    const char *want, size_t want_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_int_eq(schema_pack_error(&pk, index, value), 0);
	ck_assert_uint_eq(sb.size, want_len);
	ck_assert_mem_eq(sb.data, want, want_len);
	msgpack_sbuffer_destroy(&sb);
}

START_TEST(test_error_data)
{
	struct params p;
	static const char missing[] =
	    "\x82\xa4path\xa2/1\xa5value\xc0";
	static const char wrong[] =
	    "\x82\xa4path\xa2/0\xa5value\xa1x";
	static const char extra[] =
	    "\x82\xa4path\xa3/12\xa5value\x92\x01\x02";
	const msgpack_object *value;
	uint32_t index;

	expect_error_bytes(1, NULL, missing, sizeof(missing) - 1);
	PARAMS(&p, "\x91\xa1x");
	ck_assert_int_eq(schema_check(&add2, &p.obj.via.array, &index,
	    &value), -1);
	expect_error_bytes(index, value, wrong, sizeof(wrong) - 1);
	params_fini(&p);
	PARAMS(&p, "\x91\x92\x01\x02");
	expect_error_bytes(12, &p.obj.via.array.ptr[0], extra,
	    sizeof(extra) - 1);
	params_fini(&p);
}
END_TEST

START_TEST(test_invalid_schemas)
{
	static const struct wspool_param opt_then_req[] = {
		{ .name = "a", .type = WSPOOL_T_ANY, .optional = true },
		{ .name = "b", .type = WSPOOL_T_ANY },
	};
	static const struct wspool_param bad_type[] = {
		{ .name = "a", .type = (enum wspool_type)42 },
	};
	const struct wspool_schema s1 = { opt_then_req, 2, false };
	const struct wspool_schema s2 = { bad_type, 1, false };
	const struct wspool_schema s3 = { NULL, 2, false };
	static const struct wspool_param uint_type[] = {
		{ .name = "n", .type = WSPOOL_T_UINT },
	};
	const struct wspool_schema s4 = { uint_type, 1, false };

	ck_assert_ptr_null(schema_invalid(NULL));
	ck_assert_ptr_null(schema_invalid(&s4));
	ck_assert_ptr_null(schema_invalid(&add3));
	ck_assert_str_eq(schema_invalid(&s1),
	    "a required param follows an optional one");
	ck_assert_str_eq(schema_invalid(&s2), "unknown param type");
	ck_assert_str_eq(schema_invalid(&s3), "nparams > 0 with params NULL");
}
END_TEST

/* Type expressions (result_type, ts_type): what keeps one in its slot of
 * the generated TypeScript. */
START_TEST(test_type_text)
{
	static const char *const good[] = {
		"number", "string[] | null", "{count: number, timestamp: number}",
		"{a: 1; b: 2}", "Map<string, [number, {a: 1}]>",
		"(x: number, y: string) => void", "<T>(x: T) => T[]",
		"\"a,b;\" | 'c//d' | `x${string}`", "\"\\\"\"", "\xc3\xa9",
		"Record<string, unknown>",
	};
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "empty type expression" },
		{ "number, b: string", "',' or ';' outside brackets in a type "
		  "expression" },
		{ "number; x", "',' or ';' outside brackets in a type "
		  "expression" },
		{ "number // x", "comment or '/' in a type expression" },
		{ "a /* x */", "comment or '/' in a type expression" },
		{ "{a: number", "unbalanced brackets in a type expression" },
		{ "number)", "unbalanced brackets in a type expression" },
		{ "(a]", "unbalanced brackets in a type expression" },
		{ "Array<number", "unbalanced brackets in a type expression" },
		{ "\"open", "unterminated string in a type expression" },
		{ "'a\\'", "unterminated string in a type expression" },
		{ "a\nb", "control character or line break in a type "
		  "expression" },
		{ "a\xe2\x80\xa8" "b", "control character or line break in a "
		  "type expression" },
		{ "a\x7f", "control character or line break in a type "
		  "expression" },
		{ "\xff", "type expression is not UTF-8" },
		{ "\xed\xa0\x80", "type expression is not UTF-8" },
	};
	char deep[200], *big;

	ck_assert_ptr_null(schema_type_text_invalid(NULL));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(schema_type_text_invalid(good[i]) == NULL,
		    "%s: %s", good[i], schema_type_text_invalid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = schema_type_text_invalid(bad[i].text);

		ck_assert_msg(why != NULL && strcmp(why, bad[i].why) == 0,
		    "%s: %s", bad[i].text, why ? why : "(accepted)");
	}
	/* 64 brackets deep is the most. */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	deep[128] = '\0';
	ck_assert_ptr_null(schema_type_text_invalid(deep));
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	ck_assert_str_eq(schema_type_text_invalid(deep),
	    "type expression nested too deeply");
	ck_assert_ptr_nonnull(big = malloc(WSPOOL_TYPE_MAX + 2));
	memset(big, 'a', WSPOOL_TYPE_MAX);
	big[WSPOOL_TYPE_MAX] = '\0';
	ck_assert_ptr_null(schema_type_text_invalid(big));
	big[WSPOOL_TYPE_MAX] = 'a';
	big[WSPOOL_TYPE_MAX + 1] = '\0';
	ck_assert_str_eq(schema_type_text_invalid(big),
	    "type expression longer than WSPOOL_TYPE_MAX");
	free(big);
}
END_TEST

START_TEST(test_invalid_ts_type)
{
	static const struct wspool_param p[] = {
		{ .name = "a", .type = WSPOOL_T_STRING, .ts_type = "\"x\" | \"y\"" },
		{ .name = "b", .type = WSPOOL_T_STRING, .ts_type = "string)" },
	};
	const struct wspool_schema ok = { p, 1, false };
	const struct wspool_schema bad = { p, 2, false };

	ck_assert_ptr_null(schema_invalid(&ok));
	ck_assert_str_eq(schema_invalid(&bad),
	    "unbalanced brackets in a type expression");
}
END_TEST

static Suite *
schema_suite(void)
{
	Suite *s = suite_create("schema");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_type_any);
	tcase_add_test(tc, test_type_null);
	tcase_add_test(tc, test_type_bool);
	tcase_add_test(tc, test_type_number);
	tcase_add_test(tc, test_type_integer);
	tcase_add_test(tc, test_type_uint);
	tcase_add_test(tc, test_int64);
	tcase_add_test(tc, test_uint64);
	tcase_add_test(tc, test_number);
	tcase_add_test(tc, test_type_string_array_object);
	tcase_add_test(tc, test_nullable);
	tcase_add_test(tc, test_optional);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_extra_and_rest);
	tcase_add_test(tc, test_no_schema_and_empty);
	tcase_add_test(tc, test_error_data);
	tcase_add_test(tc, test_invalid_schemas);
	tcase_add_test(tc, test_type_text);
	tcase_add_test(tc, test_invalid_ts_type);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(schema_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
