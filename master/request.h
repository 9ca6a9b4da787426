/*
 * request.h: the request parser (jreq: a JSON request). A client message
 * is converted once, in one streaming pass: yajl callbacks write the
 * params straight into msgpack (no tree) and pick out method and id.
 */
#ifndef MASTER_REQUEST_H
#define MASTER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define JREQ_METHOD_MAX 256   /* longer methods are reported as too long (404) */
#define JREQ_ID_STR_MAX 256   /* bytes of a string id, per the wire protocol */
#define JREQ_ID_JSON_MAX (JREQ_ID_STR_MAX * 6 + 3)
#define JSON_MAX_DEPTH 32     /* nesting of params incl. the array itself */
#define JSON_MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */

enum jreq_status {
	JREQ_OK = 0,
	JREQ_BAD_JSON,     /* not JSON: 400, id null */
	JREQ_NOT_OBJECT,   /* top level is not an object: 400, id null */
	JREQ_NO_METHOD,    /* method absent or not a string: 400, id null */
	JREQ_BAD_ID,       /* id not an integer 0..2^53-1 or a string <= 256 bytes: 400, id null */
	JREQ_BAD_PARAMS,   /* params present but not an array: 400 with the id */
	JREQ_TOO_DEEP,     /* params nested deeper than JSON_MAX_DEPTH: 400 with the id */
};

/*
 * One client message, parsed. id_json is the id as canonical JSON text
 * (an integer in decimal, or a string re-escaped by json_quote), so it can
 * be spliced into answers and used as the key of the call: the same id
 * always gives the same text.
 */
struct jreq {
	char method[JREQ_METHOD_MAX + 1]; /* NUL-terminated (a NUL inside is refused) */
	size_t method_len;
	bool method_too_long;
	bool has_id;
	char id_json[JREQ_ID_JSON_MAX + 1];
	size_t id_len;
	bool has_params;
	uint32_t nparams;           /* elements in params */
	const char *error;          /* human-readable reason when status != OK */
};

/*
 * Parse one text message. params receives the packed params array (an
 * empty array when absent); it is reset first. Other top-level keys are
 * ignored; a repeated method, id or params key is JREQ_BAD_JSON. Returns
 * the status; on JREQ_BAD_PARAMS and JREQ_TOO_DEEP, has_id/id_json are
 * valid when the id came before or after (the whole message is scanned).
 */
enum jreq_status jreq_parse(struct jreq *req, const char *json, size_t len,
    msgpack_sbuffer *params);

/*
 * Canonical id JSON text from a msgpack value (for .cancel's params[0]).
 * Returns the length written to out (at most JREQ_ID_JSON_MAX, NUL added),
 * or -1 when the value is not a valid id.
 */
int jreq_id_from_msgpack(const msgpack_object *o, char *out);

#endif /* MASTER_REQUEST_H */
