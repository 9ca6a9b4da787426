/*
 * values.c: the public helpers that read msgpack numbers in handlers. A
 * leaf (msgpack only); schema.c checks WSPOOL_T_INTEGER and WSPOOL_T_UINT
 * with these same functions, so a param that passed its schema reads.
 */
#include "config.h"

#include <math.h>

#include "worker/values.h"

/* Powers of two, exact as doubles. */
#define VALUES_2_52 4503599627370496.0
#define VALUES_2_63 9223372036854775808.0
#define VALUES_2_64 18446744073709551616.0

double
wspool_number(const msgpack_object *o)
{
	if (o == NULL)
		return 0.0;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	default:
		return 0.0;
	}
}

/* A float with no fractional part: JSON has one number type, 2.0 is 2. */
static bool
values_integral(const msgpack_object *o)
{
	double d = o->via.f64;

	if ((o->type != MSGPACK_OBJECT_FLOAT32 &&
	    o->type != MSGPACK_OBJECT_FLOAT64) || !isfinite(d))
		return false;
	/* From 2^52 on every double is an integer; below, the round trip
	 * through int64_t is defined and exact. */
	if (d >= VALUES_2_52 || d <= -VALUES_2_52)
		return true;
	return d == (double)(int64_t)d;
}

int
wspool_int64(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return WSPOOL_ERROR;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return WSPOOL_ERROR;
		*v = (int64_t)o->via.u64;
		return WSPOOL_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = o->via.i64;
		return WSPOOL_OK;
	default:
		/* Bounds first: the cast is undefined outside the range. */
		if (!values_integral(o) || o->via.f64 < -VALUES_2_63 ||
		    o->via.f64 >= VALUES_2_63)
			return WSPOOL_ERROR;
		*v = (int64_t)o->via.f64;
		return WSPOOL_OK;
	}
}

int
wspool_uint64(const msgpack_object *o, uint64_t *v)
{
	if (o == NULL)
		return WSPOOL_ERROR;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = o->via.u64;
		return WSPOOL_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		/* msgpack-c makes every integer >= 0 a positive one. */
		return WSPOOL_ERROR;
	default:
		/* -0.0 is 0; -0.5 is no integer anyway. */
		if (!values_integral(o) || o->via.f64 < 0.0 ||
		    o->via.f64 >= VALUES_2_64)
			return WSPOOL_ERROR;
		*v = (uint64_t)o->via.f64;
		return WSPOOL_OK;
	}
}
