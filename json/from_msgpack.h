/*
 * from_msgpack.h: one packed msgpack value (what a handler packed: a result, a
 * chunk, error data) written out as JSON text, in one streaming pass over
 * its bytes with an explicit stack: no msgpack_object tree, no recursion.
 * The workers use it, so the master only frames the text it gets.
 */
#ifndef JSON_FROM_MSGPACK_H
#define JSON_FROM_MSGPACK_H

#include <stddef.h>

#include "json/write.h"

/* Containers nested deeper than this are refused (the call fails, 500). */
#define JSON_MSGPACK_MAX_DEPTH 512

enum json_msgpack_status {
	JSON_MSGPACK_OK = 0,
	JSON_MSGPACK_INVALID,   /* not exactly one complete msgpack value */
	JSON_MSGPACK_TOO_DEEP,  /* nested deeper than JSON_MSGPACK_MAX_DEPTH */
	JSON_MSGPACK_NOMEM,
};

/*
 * Append the JSON text of the one msgpack value in mp[0..len) to out.
 * Strings are escaped and invalid UTF-8 replaced by U+FFFD; floats get the
 * shortest text that reads back the same, NaN and infinities null; integers
 * are exact, whatever their size; bin is an array of byte numbers; ext is
 * null; a map key that is not a string becomes the string of its JSON text
 * (such a key inside another one is INVALID). Anything but OK leaves out
 * as it was.
 */
enum json_msgpack_status json_from_msgpack(struct json_buf *out,
    const void *mp, size_t len);

#endif /* JSON_FROM_MSGPACK_H */
