/*
 * values.c: small helpers for reading msgpack values in handlers.
 */
#include "config.h"

#include <wspool.h>

double
wspool_number(const msgpack_object *o)
{
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
