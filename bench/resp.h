/*
 * resp.h: reads the few things wspool-bench needs from a server message
 * (its id, whether it is a result, a close, an error and its code, a pong)
 * without building a tree, stopping as soon as the answer is known.
 */
#ifndef BENCH_RESP_H
#define BENCH_RESP_H

#include <stddef.h>
#include <stdint.h>

enum resp_kind {
	RESP_CHUNK_UNDEFINED = 0,  /* {"id": N} alone: a chunk with no value */
	RESP_RESULT,               /* {"id": N, "result": ...} */
	RESP_CLOSE,                /* {"id": N, "close": true} */
	RESP_ERROR,                /* {"id": N|null, "error": {"code": C}} */
	RESP_PONG,                 /* {"pong": true} */
};

struct resp {
	enum resp_kind r_kind;
	int r_has_id;              /* an integer id was read */
	uint64_t r_id;
	int r_code;                /* RESP_ERROR: the code, 0 when unreadable */
};

/* Nesting deeper than this is refused rather than walked. */
#define RESP_MAX_DEPTH 64

/*
 * Read the message p[0..n). Returns 0 with *r filled, or -1 when it is not
 * a JSON object of that shape (truncated, bad syntax, too deep). Never
 * reads outside p[0..n); p need not be NUL-terminated. A "result" met after
 * the id ends the reading: the value itself is not checked.
 */
int resp_scan(const char *p, size_t n, struct resp *r);

/*
 * Skip one JSON value starting at p[*pos] (leading white space allowed);
 * on success *pos is just past it. Returns 0 or -1 (bad or truncated).
 */
int resp_skip_value(const char *p, size_t n, size_t *pos);

#endif
