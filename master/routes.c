/*
 * routes.c: the route table of each reload generation, from READY, and
 * its manifest for GET /routes.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Route names are short: FNV-1a rather than uthash's default (only this
 * file adds to and looks in the table). */
#define HASH_FUNCTION(keyptr, keylen, hashv) do {                      \
	const unsigned char *routes_k_ = (const unsigned char *)(keyptr); \
	unsigned routes_h_ = 2166136261u;                                 \
	for (unsigned routes_i_ = 0; routes_i_ < (unsigned)(keylen);      \
	    routes_i_++)                                                  \
		routes_h_ = (routes_h_ ^ routes_k_[routes_i_]) * 16777619u;\
	(hashv) = routes_h_;                                              \
} while (0)
#include <uthash.h>
#include <wspool.h>

#include "common/log.h"
#include "json/write.h"
#include "master/routes.h"
#include "proto/proto.h"

static struct {
	struct route *table;           /* the newest generation's */
	unsigned gen;                  /* whose table it is */
	struct route *retired;         /* tables of earlier generations: calls
	                                  may still point at their names */
} routes;

static void
routes_free_table(struct route **table)
{
	struct route *r, *tmp;

	HASH_ITER(hh, *table, r, tmp) {
		HASH_DEL(*table, r);
		free(r->r_name);
		free(r);
	}
}

int
routes_ready(unsigned gen, const char *host, const struct proto_msg *m)
{
	const msgpack_object_array *ra = &m->obj->via.array;
	struct route *r, *table = NULL;
	unsigned matched = 0;

	for (uint32_t i = 0; i < ra->size; i++) {
		const msgpack_object_array *e = &ra->ptr[i].via.array;
		const msgpack_object_str *name = &e->ptr[0].via.str;

		if (routes.table != NULL && routes.gen == gen) {
			HASH_FIND(hh, routes.table, name->ptr, name->size, r);
			if (r == NULL || r->r_pattern != (int)e->ptr[1].via.u64)
				goto fail;
			matched++;
			continue;
		}
		if ((r = calloc(1, sizeof(*r))) == NULL ||
		    (r->r_name = strndup(name->ptr, name->size)) == NULL) {
			free(r);
			routes_free_table(&table);
			return -1;
		}
		r->r_pattern = (int)e->ptr[1].via.u64;
		r->r_timeout_ms = (uint32_t)e->ptr[2].via.u64;
		r->r_idempotent = (e->ptr[3].via.u64 & PROTO_ROUTE_IDEMPOTENT) != 0;
		HASH_ADD_KEYPTR(hh, table, r->r_name, name->size, r);
	}
	if (gen != routes.gen && routes.table != NULL && gen < routes.gen) {
		/* A worker of an older module joining late: serves as it is. */
		routes_free_table(&table);
	} else if (table == NULL && routes.table != NULL &&
	    matched != HASH_COUNT(routes.table)) {
		goto fail;
	}
	if (table != NULL) {
		/* First worker of a generation: its routes become the table. The
		 * old table stays allocated: calls in flight name its routes. */
		if (routes.table != NULL) {
			routes.table->r_retired_next = routes.retired;
			routes.retired = routes.table;
		}
		routes.table = table;
		routes.gen = gen;
		log_info("module %.*s: %u routes", (int)m->str2.len, m->str2.ptr,
		    HASH_COUNT(table));
	}
	return 0;

fail:
	log_error("worker %d (host %s) serves other routes than the pool: refused",
	    (int)m->num, host);
	return -1;
}

const struct route *
routes_find(const char *name, size_t len)
{
	struct route *r;

	HASH_FIND(hh, routes.table, name, len, r);
	return r;
}

bool
routes_known(void)
{
	return routes.table != NULL;
}

int
routes_manifest(struct json_buf *out, uint64_t default_timeout_ms)
{
	const struct route *r;
	char text[160];
	int n;

	if (json_put_raw(out, "[", 1) != 0)
		return -1;
	/* uthash iterates in insertion order: the module's own. */
	for (r = routes.table; r != NULL; r = r->hh.next) {
		uint64_t deadline = r->r_timeout_ms;
		const char *pattern = r->r_pattern == WSPOOL_REQUEST ? "request" :
		    r->r_pattern == WSPOOL_SUBSCRIPTION ? "subscription" :
		    "notification";

		/* As rpc.c sets the deadline of a call. */
		if (deadline == 0 && r->r_pattern != WSPOOL_SUBSCRIPTION)
			deadline = default_timeout_ms;
		n = snprintf(text, sizeof(text), "%s\n{\"name\":",
		    r == routes.table ? "" : ",");
		if (json_put_raw(out, text, (size_t)n) != 0 ||
		    json_put_string(out, r->r_name, strlen(r->r_name)) != 0)
			return -1;
		if (deadline > 0)
			n = snprintf(text, sizeof(text), ",\"pattern\":\"%s\","
			    "\"idempotent\":%s,\"timeout_ms\":%" PRIu32
			    ",\"deadline_ms\":%" PRIu64 "}", pattern,
			    r->r_idempotent ? "true" : "false", r->r_timeout_ms,
			    deadline);
		else
			n = snprintf(text, sizeof(text), ",\"pattern\":\"%s\","
			    "\"idempotent\":%s,\"timeout_ms\":%" PRIu32
			    ",\"deadline_ms\":null}", pattern,
			    r->r_idempotent ? "true" : "false", r->r_timeout_ms);
		if (json_put_raw(out, text, (size_t)n) != 0)
			return -1;
	}
	return json_put_raw(out, "\n]\n", 3);
}

void
routes_fini(void)
{
	struct route *r, *next;

	routes_free_table(&routes.table);
	for (r = routes.retired; r != NULL; r = next) {
		next = r->r_retired_next;
		routes_free_table(&r);
	}
	routes.retired = NULL;
}
