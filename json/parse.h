/*
 * parse.h: JSON text to a msgpack_object tree, for the workers: the params
 * of a call, as the client sent them, become what the handler reads.
 * yajl's callbacks build the tree straight into the call's msgpack zone
 * (no msgpack bytes in between, no msgpack_unpack with its fixed stack);
 * nesting is bounded by an explicit count, and yajl itself does not
 * recurse. Strings without escapes point into the text itself (zero copy):
 * the text must outlive the tree.
 */
#ifndef JSON_PARSE_H
#define JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

/* Nesting accepted, the outermost container included: the params array
 * and a value 256 levels deep inside it. */
#define JSON_PARSE_MAX_DEPTH 257

enum json_parse_status {
	JSON_PARSE_OK = 0,
	JSON_PARSE_SYNTAX,      /* not one JSON value */
	JSON_PARSE_TOO_DEEP,    /* nested deeper than JSON_PARSE_MAX_DEPTH */
	JSON_PARSE_SURROGATE,   /* a \u escape of a lone surrogate */
	JSON_PARSE_NOMEM,
};

/*
 * Scratch for building trees, reused from one parse to the next (a
 * worker keeps one per call slot): the values of the containers still
 * open. Owns no tree.
 */
struct json_parse {
	msgpack_object *jp_vals;
	size_t jp_nvals;
	size_t jp_cap;
	size_t *jp_starts;          /* per open container: its first value */
	bool *jp_maps;
	unsigned jp_depth;
	unsigned jp_maxdepth;       /* capacity of jp_starts and jp_maps */
};

void json_parse_init(struct json_parse *jp);
void json_parse_free(struct json_parse *jp);
/* Free the scratch if it grew past keep bytes of values. */
void json_parse_trim(struct json_parse *jp, size_t keep);

/*
 * Parse text (len bytes, one JSON value) into *out, allocating from zone.
 * Integers that fit int64 or uint64 stay integers (as msgpack would hold
 * them), any other number is a double (-0 too); a valid surrogate pair
 * becomes its 4-byte UTF-8, a lone one is refused. On failure *out is nil
 * and *error a message for the client (static).
 */
enum json_parse_status json_parse(struct json_parse *jp, const char *text,
    size_t len, msgpack_zone *zone, msgpack_object *out, const char **error);

#endif /* JSON_PARSE_H */
