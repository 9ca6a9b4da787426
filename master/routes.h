/*
 * routes.h: the route table, as the workers announce it in READY. One
 * table per reload generation: the first ready worker of a generation
 * defines it, the others must match it. Older tables stay allocated while
 * calls may still name their routes.
 */
#ifndef MASTER_ROUTES_H
#define MASTER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uthash.h>

struct proto_msg;

struct route {
	char *r_name;
	int r_pattern;           /* enum wspool_pattern */
	uint32_t r_timeout_ms;   /* 0: server default */
	bool r_idempotent;       /* may run again after a neighbour's crash */
	struct route *r_retired_next; /* on the first route of a retired table */
	UT_hash_handle hh;
};

/*
 * READY (m) from a worker of reload generation gen on host: the first
 * worker of the newest generation installs its routes as the table; a
 * later one must serve the same routes, and one of an older generation
 * joining late is taken as it is. Returns 0, or -1 (logged) when the
 * worker serves other routes or memory ran out: it is refused.
 */
int routes_ready(unsigned gen, const char *host, const struct proto_msg *m);

/* The route named name (len bytes), or NULL. Valid until routes_fini. */
const struct route *routes_find(const char *name, size_t len);

/* Whether a worker has told the route table yet. */
bool routes_known(void);

/*
 * Append the newest table to out as GET /routes answers it: a JSON array
 * of {"name", "pattern" ("request", "subscription" or "notification"),
 * "timeout_ms" (the route's own, 0: the server's default), "deadline_ms"
 * (what a call gets with default_timeout_ms as the default, null: none)},
 * in the module's order; "[]" before any table. Returns 0, or -1 when
 * out of memory.
 */
struct json_buf;
int routes_manifest(struct json_buf *out, uint64_t default_timeout_ms);

/* Free every table, current and retired. */
void routes_fini(void);

#endif /* MASTER_ROUTES_H */
