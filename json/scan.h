/*
 * scan.h: a validating JSON scanner for the master: it checks that text is
 * JSON (RFC 8259) and says where things are, without building or
 * converting anything. One pass, no allocation, no recursion: nesting is
 * an explicit depth counter over a fixed bit stack.
 *
 * Precondition: the text is valid UTF-8 (a WebSocket text message is
 * checked before it gets here): string contents are not validated again.
 * Errors carry a fixed message ("Parse error: ..."), for the 400 answer.
 */
#ifndef JSON_SCAN_H
#define JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Containers nested deeper than this inside one value stop the scan. */
#define JSON_SCAN_MAX_DEPTH 512

enum json_scan_status {
	JSON_SCAN_OK = 0,
	JSON_SCAN_SYNTAX,       /* not JSON: sc_error says why */
	JSON_SCAN_TOO_DEEP,     /* nested deeper than JSON_SCAN_MAX_DEPTH */
};

/* A cursor over one text; sc_p moves past what each call read. */
struct json_scan {
	const unsigned char *sc_p;
	const unsigned char *sc_end;
	const char *sc_error;       /* set by a call that did not return OK */
};

void json_scan_init(struct json_scan *s, const void *text, size_t len);

/* Skip whitespace; the next byte, or -1 at the end of the text. */
static inline int
json_scan_peek(struct json_scan *s)
{
	const unsigned char *p = s->sc_p, *end = s->sc_end;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	s->sc_p = p;
	return p < end ? *p : -1;
}

enum json_scan_status json_scan_string_slow(struct json_scan *s,
    const char **content, size_t *len, bool *escaped);

/*
 * A string at sc_p (which is '"'): *content gets the bytes between the
 * quotes (still escaped), *escaped whether there is a backslash in them.
 * (Short plain strings, the keys and methods of every message, are taken
 * here; the rest by json_scan_string_slow.)
 */
static inline enum json_scan_status
json_scan_string(struct json_scan *s, const char **content, size_t *len,
    bool *escaped)
{
	const unsigned char *p = s->sc_p + 1, *q = p, *end = s->sc_end;

	for (; q < end && q - p < 32; q++) {
		if (*q == '"') {
			*content = (const char *)p;
			*len = (size_t)(q - p);
			*escaped = false;
			s->sc_p = q + 1;
			return JSON_SCAN_OK;
		}
		if (*q == '\\' || *q < 0x20)
			break;
	}
	return json_scan_string_slow(s, content, len, escaped);
}

/*
 * One value at sc_p (after whitespace): checked whole and skipped. *depth
 * gets its nesting (a scalar 0, [] 1, [[]] 2...). TOO_DEEP stops at the
 * first container past JSON_SCAN_MAX_DEPTH: what follows is not checked.
 */
enum json_scan_status json_scan_value(struct json_scan *s, unsigned *depth);

/* The whole text is one JSON value, whitespace around it allowed. */
enum json_scan_status json_scan_document(const void *text, size_t len,
    const char **error);

/* The error messages, exactly as answered to clients. */
extern const char json_scan_err_eof[];      /* unexpected end of input */
extern const char json_scan_err_value[];    /* a value was expected */
extern const char json_scan_err_key[];      /* a string key was expected */
extern const char json_scan_err_colon[];    /* ':' after a key */
extern const char json_scan_err_object[];   /* ',' or '}' */
extern const char json_scan_err_array[];    /* ',' or ']' */
extern const char json_scan_err_literal[];  /* not true, false or null */
extern const char json_scan_err_number[];
extern const char json_scan_err_escape[];
extern const char json_scan_err_control[];  /* a control byte in a string */
extern const char json_scan_err_trailing[]; /* text after the value */
extern const char json_scan_err_deep[];     /* past JSON_SCAN_MAX_DEPTH */

#endif /* JSON_SCAN_H */
