/*
 * schema.h: params checks against a route's declared schema. Pure
 * functions over msgpack objects (it uses values.c only), so
 * tests/unit/check_schema links it alone.
 */
#ifndef WORKER_SCHEMA_H
#define WORKER_SCHEMA_H

#include <stdint.h>

#include <msgpack.h>
#include <wspool.h>

/*
 * Check params against schema (NULL: anything goes). Returns 0 when they
 * fit, else -1 with *index the offending position and *value the
 * offending param, or NULL for a missing one.
 */
int schema_check(const struct wspool_schema *schema,
    const msgpack_object_array *params, uint32_t *index,
    const msgpack_object **value);
/* Pack the 400 error data {"path": "/index", "value": value-or-nil}. */
int schema_pack_error(msgpack_packer *pk, uint32_t index,
    const msgpack_object *value);
/* NULL when the declared schema is usable, else why not (static string). */
const char *schema_invalid(const struct wspool_schema *schema);
/*
 * NULL when text (a route's result_type or a param's ts_type; NULL is
 * fine) is a usable type expression as wspool.h defines one, else why
 * not (a static string).
 */
const char *schema_type_text_invalid(const char *text);
/* The length of the valid UTF-8 sequence that starts s (n bytes left), or
 * 0 when there is none. */
size_t schema_utf8_next(const char *s, size_t n);

#endif /* WORKER_SCHEMA_H */
