/*
 * jlex.h: yajl, driven fast. Its allocations come from an arena on the
 * caller's stack, and long plain strings are passed around its byte-at-a-
 * time lexer. What the JSON means is request.c's business.
 */
#ifndef MASTER_JLEX_H
#define MASTER_JLEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_parse.h>

#define JLEX_ARENA_SIZE 8192

/*
 * One parse. Lives on the caller's stack for the length of one message:
 * the yajl handle's memory is inside it.
 */
struct jlex {
	size_t jl_used;               /* arena bytes handed out */
	unsigned char *jl_last;       /* most recent block: may grow in place */
	const unsigned char *jl_sub;  /* real bytes of the "" yajl sees next */
	size_t jl_sub_len;
	_Alignas(16) unsigned char jl_buf[JLEX_ARENA_SIZE];
};

/* A yajl handle allocating from jl, or NULL. Free it with yajl_free. */
yajl_handle jlex_alloc(struct jlex *jl, const yajl_callbacks *cb, void *ctx);

/*
 * Parse s[0..n) with h (a handle from jlex_alloc with the same jl). Long
 * plain strings reach the string and map-key callbacks as "": those must
 * call jlex_take_sub first, which gives the real bytes (valid UTF-8,
 * nothing to unescape).
 */
yajl_status jlex_feed(struct jlex *jl, yajl_handle h, const unsigned char *s,
    size_t n);

/* In a string callback: true, and the real bytes, when yajl saw a stand-in. */
static inline bool
jlex_take_sub(struct jlex *jl, const unsigned char **s, size_t *n)
{
	if (jl->jl_sub == NULL)
		return false;
	*s = jl->jl_sub;
	*n = jl->jl_sub_len;
	jl->jl_sub = NULL;
	return true;
}

#endif /* MASTER_JLEX_H */
