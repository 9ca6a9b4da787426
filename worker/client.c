/*
 * client.c: the client connection contexts the master announces (uuid,
 * ip, upgrade headers), kept by conn_id for the calls that run on them;
 * api.c reads them for the handler API's context functions.
 *
 * The table is touched only by the receiver thread (open, close, get).
 * A context is refcounted: the table holds one reference, each call one,
 * so a call still running after CONN_CLOSE keeps its context.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wspool.h>

#include "common/log.h"
#include "worker/client.h"
#include "worker/table.h"

struct client {
	struct table_node cl_node;  /* key: conn_id */
	atomic_uint cl_refs;
	const char *cl_uuid;
	const char *cl_ip;
	size_t cl_nheaders;
	const char **cl_names;      /* lower-case */
	const char **cl_values;
	/* the strings follow, in the same allocation */
};

/* The context of a call whose connection is unknown (already closed). */
static struct client client_none = {
	.cl_uuid = "",
	.cl_ip = "",
};

static struct table client_table;

static bool
client_str_ok(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= PROTO_MAX_STR;
}

/* Copy len bytes to *p as a NUL-terminated string, advance *p. */
static const char *
client_copy(char **p, const char *s, size_t len, bool lower)
{
	char *d = *p;

	for (size_t i = 0; i < len; i++)
		d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	d[len] = '\0';
	*p = d + len + 1;
	return d;
}

int
client_open(const struct proto_msg *m)
{
	const msgpack_object *h = m->obj;
	size_t n = 0, size;
	struct client *c;
	char *p;

	if (h != NULL && h->type != MSGPACK_OBJECT_MAP)
		return -1;
	if (h != NULL)
		n = h->via.map.size;
	size = sizeof(*c) + 2 * n * sizeof(char *) + m->str.len + 1 +
	    m->str2.len + 1;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &h->via.map.ptr[i];

		if (!client_str_ok(&kv->key) || !client_str_ok(&kv->val))
			return -1;
		size += kv->key.via.str.size + 1 + kv->val.via.str.size + 1;
	}
	if ((c = malloc(size)) == NULL) {
		log_error("out of memory: connection %" PRIu64 " has no "
		    "context", m->id);
		return 0;
	}
	c->cl_node.tn_key = m->id;
	atomic_init(&c->cl_refs, 1);
	c->cl_nheaders = n;
	c->cl_names = (const char **)(c + 1);
	c->cl_values = c->cl_names + n;
	p = (char *)(c->cl_values + n);
	c->cl_uuid = client_copy(&p, m->str.ptr, m->str.len, false);
	c->cl_ip = client_copy(&p, m->str2.ptr, m->str2.len, false);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &h->via.map.ptr[i];

		c->cl_names[i] = client_copy(&p, kv->key.via.str.ptr,
		    kv->key.via.str.size, true);
		c->cl_values[i] = client_copy(&p, kv->val.via.str.ptr,
		    kv->val.via.str.size, false);
	}
	client_close(m->id);
	if (table_put(&client_table, &c->cl_node) != 0) {
		log_error("out of memory: connection %" PRIu64 " has no "
		    "context", m->id);
		free(c);
	}
	return 0;
}

void
client_close(uint64_t conn_id)
{
	struct table_node *n = table_get(&client_table, conn_id);

	if (n != NULL) {
		table_del(&client_table, n);
		client_unref((struct client *)n);
	}
}

struct client *
client_get(uint64_t conn_id)
{
	struct client *c = (struct client *)table_get(&client_table, conn_id);

	if (c == NULL)
		return &client_none;
	atomic_fetch_add_explicit(&c->cl_refs, 1, memory_order_relaxed);
	return c;
}

void
client_unref(struct client *c)
{
	if (c == NULL || c == &client_none)
		return;
	if (atomic_fetch_sub_explicit(&c->cl_refs, 1,
	    memory_order_acq_rel) == 1)
		free(c);
}

static void
client_close_cb(struct table_node *n, void *arg)
{
	(void)arg;
	client_unref((struct client *)n);
}

void
client_close_all(void)
{
	table_foreach(&client_table, client_close_cb, NULL);
	table_fini(&client_table);
}

const char *
client_uuid(const struct client *c)
{
	return c->cl_uuid;
}

const char *
client_ip(const struct client *c)
{
	return c->cl_ip;
}

const char *
client_header(const struct client *c, const char *name)
{
	if (name == NULL)
		return NULL;
	/* Callers are told to use lower case; forgive them anyway. */
	for (size_t i = 0; i < c->cl_nheaders; i++)
		if (strcasecmp(c->cl_names[i], name) == 0)
			return c->cl_values[i];
	return NULL;
}

size_t
client_header_count(const struct client *c)
{
	return c->cl_nheaders;
}

int
client_header_at(const struct client *c, size_t i, const char **name,
    const char **value)
{
	if (i >= c->cl_nheaders)
		return WSPOOL_ERROR;
	if (name != NULL)
		*name = c->cl_names[i];
	if (value != NULL)
		*value = c->cl_values[i];
	return WSPOOL_OK;
}
