/*
 * request.h: a client message, read as a call: the message's JSON is
 * checked whole by the validating scanner (json/scan.h), and only method,
 * id and the place of params are taken out. The params are never
 * converted: their text goes to the worker as it came.
 */
#ifndef MASTER_REQUEST_H
#define MASTER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEST_METHOD_MAX 256   /* longer methods are reported as too long (404) */
#define REQUEST_ID_STR_MAX 256   /* bytes of a string id, per the wire protocol */
/* The longest canonical id text: every byte a control character (\u0001). */
#define REQUEST_ID_JSON_MAX (REQUEST_ID_STR_MAX * 6 + 2)
/* Nesting of params, the array itself included: a value 256 levels deep. */
#define REQUEST_PARAMS_MAX_DEPTH 257
#define REQUEST_MAX_SAFE_INT 9007199254740991ULL /* 2^53 - 1 */

enum request_status {
	REQUEST_OK = 0,
	REQUEST_BAD_JSON,     /* not JSON: 400, id null */
	REQUEST_NOT_OBJECT,   /* the top level is not an object: 400, id null */
	REQUEST_NO_METHOD,    /* method absent, not a string, or with a NUL: 400, id null */
	REQUEST_BAD_ID,       /* id not an integer 0..2^53-1 or a string <= 256 bytes: 400, id null */
	REQUEST_BAD_PARAMS,   /* params present but not an array: 400 with the id */
	REQUEST_TOO_DEEP,     /* params nested deeper than REQUEST_PARAMS_MAX_DEPTH: 400 with the id */
	REQUEST_DEEP,         /* a value nested past JSON_SCAN_MAX_DEPTH: the scan stopped
	                         there; 400 with the id if it came before, else null */
};

/*
 * One client message, read. Pointers may point into the message: valid
 * as long as it is. rq_id is the id as canonical JSON text (an integer in
 * decimal; a string as JSON.stringify writes what JSON.parse read, lone
 * surrogates as \udxxx escapes), so the same id always gives the same
 * text: it is spliced into answers and keys the call.
 */
struct request {
	const char *rq_error;         /* the 400's message when not OK */
	const char *rq_method;        /* decoded; has_method: a string was read */
	size_t rq_method_len;
	bool rq_has_method;
	bool rq_method_too_long;      /* only the first REQUEST_METHOD_MAX bytes kept */
	bool rq_ping;                 /* the method is ".ping" */
	bool rq_has_id;
	const char *rq_id;
	size_t rq_id_len;
	const char *rq_params;        /* the params array's text; NULL: absent */
	size_t rq_params_len;
	char rq_method_buf[REQUEST_METHOD_MAX];
	char rq_id_buf[REQUEST_ID_JSON_MAX];
};

/*
 * Read one text message (valid UTF-8, as every text message is). Other
 * top-level keys are checked and skipped; a repeated method, id or params
 * key is REQUEST_BAD_JSON. The status follows the protocol's precedence
 * (bad JSON, not an object, no method, bad id, bad params, too deep);
 * rq_has_id is set only where the answer carries the id (BAD_PARAMS,
 * TOO_DEEP, DEEP), rq_method/rq_ping wherever a method string was read.
 */
enum request_status request_parse(struct request *rq, const char *msg,
    size_t len);

/*
 * The canonical id text of one JSON value (text[0..len), already checked
 * JSON: a string with its quotes, or a number) into out (at least
 * REQUEST_ID_JSON_MAX bytes; not terminated). Returns the length, or -1
 * when it is no valid id. For .cancel's params[0].
 */
int request_id_canon(const char *text, size_t len, char *out);

/* The text of params[0] (params an array checked by request_parse): 0, or
 * -1 when params are absent or empty. */
int request_first_param(const struct request *rq, const char **text,
    size_t *len);

#endif /* MASTER_REQUEST_H */
