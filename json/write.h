/*
 * write.h: writing JSON text, for the master's own answers and the
 * workers' converter (json/msgpack.h): a growing byte buffer, string
 * escaping, numbers. Used by both sides.
 */
#ifndef JSON_WRITE_H
#define JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A byte buffer that grows by doubling; jb_data is malloc memory. */
struct json_buf {
	char *jb_data;
	size_t jb_len;
	size_t jb_cap;
};

#define JSON_BUF_INIT { NULL, 0, 0 }

void json_buf_init(struct json_buf *b);
void json_buf_free(struct json_buf *b);
/* Empty it; its memory is freed when it grew past keep bytes. */
void json_buf_reset(struct json_buf *b, size_t keep);
/* Make room for n more bytes. Returns 0, or -1 out of memory. */
int json_buf_grow(struct json_buf *b, size_t n);

static inline int
json_buf_room(struct json_buf *b, size_t n)
{
	return b->jb_cap - b->jb_len >= n ? 0 : json_buf_grow(b, n);
}

/* Append n raw bytes. Returns 0 or -1. */
static inline int
json_put_raw(struct json_buf *b, const void *s, size_t n)
{
	if (n == 0)
		return 0;
	if (json_buf_room(b, n) != 0)
		return -1;
	memcpy(b->jb_data + b->jb_len, s, n);
	b->jb_len += n;
	return 0;
}

#define JSON_PUT_LIT(b, s) json_put_raw((b), (s), sizeof(s) - 1)

/*
 * Append s (n bytes) as a JSON string literal, quotes included: '"', '\\'
 * and control characters escaped (\n and the like, else \u00XX), invalid
 * UTF-8 replaced by U+FFFD, one per bad byte. Returns 0 or -1.
 */
int json_put_string(struct json_buf *b, const char *s, size_t n);

/*
 * Write s (n bytes) as a JSON string literal into out, which holds at
 * least 6 * n + 3 bytes; NUL-terminated. Returns the length. The same
 * bytes always give the same text.
 */
size_t json_quote(char *out, const char *s, size_t n);

/* Write v in decimal at d (at most 20 or 21 bytes, no NUL); return the end. */
/* The JSON escape of c ('"', '\\' or a control character) at d, at
 * most 6 bytes; returns the end. */
char *json_escape_char(char *d, unsigned c);
char *json_u64(char *d, uint64_t v);
char *json_i64(char *d, int64_t v);

int json_put_u64(struct json_buf *b, uint64_t v);
int json_put_i64(struct json_buf *b, int64_t v);

/*
 * A double as the shortest text that reads back the same (a float32, f32,
 * as the shortest that reads back as the same float): exact integers below
 * 2^53 without a fraction, as JavaScript writes them. NaN and infinities
 * have no JSON form: null, as JSON.stringify. Returns 0 or -1.
 */
int json_put_double(struct json_buf *b, double v, bool f32);

/*
 * Turn the JSON text written since off into a JSON string holding that
 * text, in place (a map key that is not a string). The text must be the
 * writer's own: controls escaped, valid UTF-8. Returns 0 or -1.
 */
int json_quote_since(struct json_buf *b, size_t off);

#endif /* JSON_WRITE_H */
