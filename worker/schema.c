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

const char *
schema_invalid(const struct wspool_schema *schema)
{
	bool optional = false;

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
		optional = p->optional;
	}
	return NULL;
}
