/*
 * json.h: the JSON writer. Client messages are JSON text and the workers
 * only ever see msgpack: a worker's value is written out as JSON once,
 * straight into the answer being built. (JSON in: request.h.)
 */
#ifndef MASTER_JSON_H
#define MASTER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/*
 * Write a msgpack value as JSON text, appending to out. Strings are
 * escaped and invalid UTF-8 is replaced by U+FFFD (a WebSocket text frame
 * must be UTF-8). Floats: shortest text that reads back the same; NaN and
 * infinities become null (as JSON.stringify). bin: an array of byte
 * numbers. ext: null. Non-string map keys: their JSON text as the key.
 * Returns 0, or -1 when out of memory.
 */
int json_from_msgpack(msgpack_sbuffer *out, const msgpack_object *o);

/* Append s (n bytes) as a JSON string literal, quotes included. */
int json_put_string(msgpack_sbuffer *out, const char *s, size_t n);

/* Append raw bytes (convenience over msgpack_sbuffer_write). */
int json_put_raw(msgpack_sbuffer *out, const char *s, size_t n);

/*
 * Write s (n bytes) as a JSON string literal, quotes included, into out,
 * which holds at least 6 * n + 3 bytes; NUL-terminated. Returns the
 * length. The same bytes always give the same text (canonical ids).
 */
size_t json_quote(char *out, const char *s, size_t n);

/* Write v in decimal at d (20 bytes at most, no NUL); returns the end. */
char *json_u64(char *d, uint64_t v);

#endif /* MASTER_JSON_H */
