/*
 * msg.h: the JSON of wspool-call, all through yajl: the call message built
 * from METHOD and PARAMs, the server's answers read and their values
 * written back as compact one-line JSON, and the GET /routes manifest.
 *
 * Design notes
 * - Every parse is one streaming yajl pass with callbacks: no tree and no
 *   recursion, so an answer nested a million levels deep costs a counter
 *   and a byte per level, never the C stack. Values are re-emitted token
 *   by token; numbers keep the server's exact text (64-bit integers and
 *   long decimals print unchanged); strings are escaped by yajl_gen.
 * - yajl decodes a lone UTF-16 surrogate escape ("\ud800") to "?", so such
 *   a string prints with "?" in its place (wspool-call(1), BUGS).
 */
#ifndef CLIENT_MSG_H
#define CLIENT_MSG_H

#include <stdbool.h>
#include <stddef.h>

/* The id of our call: the protocol echoes it verbatim. */
#define MSG_CALL_ID "1"

/*
 * The call message: {"id":1,"method":METHOD,"params":[...]}, without the
 * id when with_id is false (a notification). Each param that is a JSON
 * text goes in as it is; any other becomes a JSON string. *out is heap
 * memory (free it). Returns 0, or -1 after fail_set() (FAIL_USAGE for a
 * METHOD or PARAM that is not UTF-8).
 */
int msg_call(const char *method, char *const params[], size_t nparams,
    bool with_id, char **out, size_t *len);

/* One message from the server, as far as wspool-call cares. */
struct msg_answer {
	bool ma_ours;           /* "id" is our call's */
	bool ma_id_null;        /* "id": null (a message the server could
	                           not read as a call) */
	bool ma_close;          /* "close": true */
	char *ma_result;        /* "result", compact JSON, or NULL */
	size_t ma_result_len;
	char *ma_error;         /* "error", compact JSON, or NULL */
	size_t ma_error_len;
};

/*
 * Read one text message into a. Returns 0, or -1 with why filled when it
 * is not a JSON object (or memory ran out). Free a with msg_answer_free()
 * in both cases.
 */
int msg_answer_parse(struct msg_answer *a, const unsigned char *data,
    size_t len, char *why, size_t whylen);
void msg_answer_free(struct msg_answer *a);

enum msg_pattern {
	MSG_UNKNOWN = 0,        /* not in the manifest */
	MSG_REQUEST,
	MSG_SUBSCRIPTION,
	MSG_NOTIFICATION,
};

/*
 * The pattern of route method in a manifest (a JSON array of objects with
 * "name" and "pattern"; other members ignored): an enum msg_pattern, or -1
 * with why filled when body is not such an array.
 */
int msg_manifest_pattern(const char *body, size_t len, const char *method,
    char *why, size_t whylen);

#endif /* CLIENT_MSG_H */
