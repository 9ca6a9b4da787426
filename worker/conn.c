/*
 * conn.c: the client connection contexts the master announces (uuid, ip,
 * upgrade headers), kept by conn_id for the calls that run on them, and
 * the context functions of the handler API.
 *
 * The table is touched only by the receiver thread (open, close, get).
 * A context is refcounted: the table holds one reference, each call one,
 * so a call still running after CONN_CLOSE keeps its context.
 */
#include "config.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/worker.h"

struct conn {
	struct table_node cn_node;  /* key: conn_id */
	atomic_uint cn_refs;
	const char *cn_uuid;
	const char *cn_ip;
	size_t cn_nheaders;
	const char **cn_names;      /* lower-case */
	const char **cn_values;
	/* the strings follow, in the same allocation */
};

/* The context of a call whose connection is unknown (already closed). */
static struct conn conn_none = {
	.cn_uuid = "",
	.cn_ip = "",
};

static struct table conn_table;

static bool
conn_str_ok(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= PROTO_MAX_STR;
}

/* Copy len bytes to *p as a NUL-terminated string, advance *p. */
static const char *
conn_copy(char **p, const char *s, size_t len, bool lower)
{
	char *d = *p;

	for (size_t i = 0; i < len; i++)
		d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	d[len] = '\0';
	*p = d + len + 1;
	return d;
}

int
conn_open(const struct proto_msg *m)
{
	const msgpack_object *h = m->obj;
	size_t n = 0, size;
	struct conn *c;
	char *p;

	if (h != NULL && h->type != MSGPACK_OBJECT_MAP)
		return -1;
	if (h != NULL)
		n = h->via.map.size;
	size = sizeof(*c) + 2 * n * sizeof(char *) + m->str.len + 1 +
	    m->str2.len + 1;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &h->via.map.ptr[i];

		if (!conn_str_ok(&kv->key) || !conn_str_ok(&kv->val))
			return -1;
		size += kv->key.via.str.size + 1 + kv->val.via.str.size + 1;
	}
	if ((c = malloc(size)) == NULL) {
		runtime_log("out of memory: connection %llu has no context",
		    (unsigned long long)m->id);
		return 0;
	}
	c->cn_node.tn_key = m->id;
	atomic_init(&c->cn_refs, 1);
	c->cn_nheaders = n;
	c->cn_names = (const char **)(c + 1);
	c->cn_values = c->cn_names + n;
	p = (char *)(c->cn_values + n);
	c->cn_uuid = conn_copy(&p, m->str.ptr, m->str.len, false);
	c->cn_ip = conn_copy(&p, m->str2.ptr, m->str2.len, false);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &h->via.map.ptr[i];

		c->cn_names[i] = conn_copy(&p, kv->key.via.str.ptr,
		    kv->key.via.str.size, true);
		c->cn_values[i] = conn_copy(&p, kv->val.via.str.ptr,
		    kv->val.via.str.size, false);
	}
	conn_close(m->id);
	if (table_put(&conn_table, &c->cn_node) != 0) {
		runtime_log("out of memory: connection %llu has no context",
		    (unsigned long long)m->id);
		free(c);
	}
	return 0;
}

void
conn_close(uint64_t conn_id)
{
	struct table_node *n = table_get(&conn_table, conn_id);

	if (n != NULL) {
		table_del(&conn_table, n);
		conn_unref((struct conn *)n);
	}
}

struct conn *
conn_get(uint64_t conn_id)
{
	struct conn *c = (struct conn *)table_get(&conn_table, conn_id);

	if (c == NULL)
		return &conn_none;
	atomic_fetch_add_explicit(&c->cn_refs, 1, memory_order_relaxed);
	return c;
}

void
conn_unref(struct conn *c)
{
	if (c == NULL || c == &conn_none)
		return;
	if (atomic_fetch_sub_explicit(&c->cn_refs, 1,
	    memory_order_acq_rel) == 1)
		free(c);
}

static void
conn_close_cb(struct table_node *n, void *arg)
{
	(void)arg;
	conn_unref((struct conn *)n);
}

void
conn_close_all(void)
{
	table_foreach(&conn_table, conn_close_cb, NULL);
	table_fini(&conn_table);
}

const char *
conn_uuid(const struct conn *c)
{
	return c->cn_uuid;
}

const char *
conn_ip(const struct conn *c)
{
	return c->cn_ip;
}

const char *
conn_header(const struct conn *c, const char *name)
{
	if (name == NULL)
		return NULL;
	/* Callers are told to use lower case; forgive them anyway. */
	for (size_t i = 0; i < c->cn_nheaders; i++)
		if (strcasecmp(c->cn_names[i], name) == 0)
			return c->cn_values[i];
	return NULL;
}

size_t
conn_header_count(const struct conn *c)
{
	return c->cn_nheaders;
}

int
conn_header_at(const struct conn *c, size_t i, const char **name,
    const char **value)
{
	if (i >= c->cn_nheaders)
		return WSPOOL_ERROR;
	if (name != NULL)
		*name = c->cn_names[i];
	if (value != NULL)
		*value = c->cn_values[i];
	return WSPOOL_OK;
}
