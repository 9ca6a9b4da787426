/*
 * internal.h: what proto.c (the reader) shares with fast.c (its direct
 * path): the field list of every message type, and reading one field.
 * Private to proto/.
 */
#ifndef PROTO_INTERNAL_H
#define PROTO_INTERNAL_H

#include <stddef.h>

#include <msgpack.h>

/* proto.h's; declared here so that this header sits below it. */
struct proto_msg;
struct proto_reader;

/* What an envelope element must be. */
enum proto_kind {
	K_UINT = 1, /* non-negative integer (ids, seq, flags) */
	K_INT,      /* any int64 */
	K_INT32,    /* an int */
	K_PID,      /* non-negative int64 */
	K_ATTEMPT,  /* an attempt count: 1 to INT_MAX */
	K_STR,      /* str, at most PROTO_MAX_STR bytes */
	K_OPTSTR,   /* str or nil (then "": nil and "" are alike to readers) */
	K_BIN,      /* bin */
	K_OPTBIN,   /* bin or nil */
	K_BOOL,
	K_HEADERS,  /* map str -> str */
	K_ROUTES,   /* array of [str, pattern, timeout_ms, flags] */
	K_NAMES,    /* array of str */
};

/* Where it goes in struct proto_msg. */
enum proto_dest {
	D_ID = 1, D_CONN, D_CALL, D_SEQ, D_NUM, D_FLAGS, D_STR, D_STR2, D_VALUE,
	D_VALUE2, D_OBJ, D_OBJ2,
};

#define PROTO_MAX_FIELDS 8

struct proto_spec {
	const char *name;
	unsigned char nfields; /* elements after the type */
	struct {
		unsigned char kind;
		unsigned char dest;
	} f[PROTO_MAX_FIELDS];
};

/* By type; a type with no name does not exist. */
extern const struct proto_spec proto_specs[];
extern const size_t proto_nspecs;

/* Check one element against its kind and store it in m. NULL, or why not. */
const char *proto_read_field(struct proto_msg *m, int kind, int dest,
    const msgpack_object *o);

/*
 * fast.c: the next envelope of r, read directly into m: 1, or 0 to take
 * the reference path (r untouched; m's fields to clear). See fast.c.
 */
int proto_reader_fast(struct proto_reader *r, struct proto_msg *m);
/* One scalar or raw at *pp into *o: 1, or 0 for anything else. */
int proto_fast_item(const unsigned char **pp, const unsigned char *end,
    msgpack_object *o);

#endif /* PROTO_INTERNAL_H */
