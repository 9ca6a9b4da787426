/*
 * jrecord.c: a journal record's bytes, encoded and checked. The design
 * notes are in jrecord.h.
 */
#include "config.h"

#include <string.h>

#include "master/jrecord.h"
#include "proto/proto.h"

int
jrecord_encode(msgpack_sbuffer *sb, const struct jrecord *r)
{
	msgpack_packer pk;

	sb->size = 0;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (msgpack_pack_array(&pk, 5) != 0 ||
	    msgpack_pack_str_with_body(&pk, r->jr_route, strlen(r->jr_route)) != 0 ||
	    msgpack_pack_str_with_body(&pk, r->jr_name, strlen(r->jr_name)) != 0 ||
	    msgpack_pack_bin_with_body(&pk, r->jr_arg, r->jr_arg_len) != 0 ||
	    msgpack_pack_int64(&pk, r->jr_pid) != 0 ||
	    msgpack_pack_str_with_body(&pk, r->jr_host, strlen(r->jr_host)) != 0)
		return -1;
	return 0;
}

/* A str object as a NUL-terminated copy in zone; NULL if it is not one. */
static const char *
jrecord_str(const msgpack_object *s, msgpack_zone *zone)
{
	char *c;

	if (s->type != MSGPACK_OBJECT_STR || s->via.str.size > JRECORD_STR_MAX ||
	    (s->via.str.size > 0 &&
	    memchr(s->via.str.ptr, '\0', s->via.str.size) != NULL) ||
	    (c = msgpack_zone_malloc(zone, s->via.str.size + 1)) == NULL)
		return NULL;
	if (s->via.str.size > 0)
		memcpy(c, s->via.str.ptr, s->via.str.size);
	c[s->via.str.size] = '\0';
	return c;
}

int
jrecord_decode(const void *p, size_t len, msgpack_zone *zone,
    struct jrecord *r)
{
	struct proto_bytes b = { p, len };
	const msgpack_object *e;
	msgpack_object o;

	/* proto's checked unpacking: containers bounded by the bytes there
	 * are (no huge allocation for a forged count), one value exactly. */
	if (proto_unpack_value(&b, zone, &o) != 0 ||
	    o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 5)
		return -1;
	e = o.via.array.ptr;
	if (e[2].type != MSGPACK_OBJECT_BIN ||
	    e[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    e[3].via.u64 > INT64_MAX)
		return -1;
	if ((r->jr_route = jrecord_str(&e[0], zone)) == NULL ||
	    (r->jr_name = jrecord_str(&e[1], zone)) == NULL ||
	    (r->jr_host = jrecord_str(&e[4], zone)) == NULL)
		return -1;
	/* An empty bin may have no pointer: give it one. */
	r->jr_arg = e[2].via.bin.size > 0 ? e[2].via.bin.ptr : "";
	r->jr_arg_len = e[2].via.bin.size;
	r->jr_pid = (int64_t)e[3].via.u64;
	return 0;
}
