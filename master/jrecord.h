/*
 * jrecord.h: one journal record's bytes, the same in every backend:
 * msgpack [route, name, arg:bin, master pid, master host]. Decoding takes
 * untrusted input (a file that may be damaged, a Redis reply): every
 * length is checked, and a record that does not decode is refused, never
 * a crash (fuzz/fuzz_jrecord.c).
 */
#ifndef MASTER_JRECORD_H
#define MASTER_JRECORD_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* The longest route, cleanup name or host a record may carry. */
#define JRECORD_STR_MAX 1024

struct jrecord {
	const char *jr_route;      /* NUL-terminated, in the decoder's zone */
	const char *jr_name;
	const char *jr_host;
	const void *jr_arg;        /* the packed argument, in the zone */
	size_t jr_arg_len;
	int64_t jr_pid;            /* the master that journaled it */
};

/* Encode r into sb (cleared first). Returns 0, or -1 (no memory). */
int jrecord_encode(msgpack_sbuffer *sb, const struct jrecord *r);
/* Decode len bytes at p into r, strings copied into zone. Returns 0, or -1
 * (not a record: wrong shape, types, lengths, a NUL inside a string). */
int jrecord_decode(const void *p, size_t len, msgpack_zone *zone,
    struct jrecord *r);

#endif /* MASTER_JRECORD_H */
