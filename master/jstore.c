/*
 * jstore.c: the journal's durable backend on LMDB. The design notes are
 * in jstore.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <lmdb.h>
#include <msgpack.h>

#include "common/log.h"
#include "master/jstore.h"

/* The most the file may grow to (sparse until used): ~5 million records
 * of 200 bytes. */
#define JSTORE_MAP_SIZE ((size_t)1 << 30)
#define JSTORE_KEY_SIZE 16

static struct {
	MDB_env *env;
	MDB_dbi records;
	MDB_dbi meta;
	MDB_txn *txn;          /* the turn's changes, NULL: none */
	bool failed;           /* a change failed: the commit must fail */
	char *path;
	msgpack_sbuffer sb;
} js;

static void
jstore_key(char key[JSTORE_KEY_SIZE], uint64_t call_id, uint64_t seq)
{
	for (int i = 0; i < 8; i++) {
		key[i] = (char)(call_id >> (56 - 8 * i));
		key[8 + i] = (char)(seq >> (56 - 8 * i));
	}
}

static uint64_t
jstore_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

bool
jstore_open_p(void)
{
	return js.env != NULL;
}

static int
jstore_fail(const char *what, int rv)
{
	log_error("journal %s: %s: %s", js.path, what, mdb_strerror(rv));
	return -1;
}

/* The turn's write transaction, begun on first use. */
static MDB_txn *
jstore_txn(void)
{
	int rv;

	if (js.txn == NULL && (rv = mdb_txn_begin(js.env, NULL, 0, &js.txn))
	    != 0) {
		js.txn = NULL;
		js.failed = true;
		jstore_fail("cannot begin a transaction", rv);
	}
	return js.txn;
}

/* Read, bump and write the incarnation; check or set the node. In txn. */
static int
jstore_meta(MDB_txn *txn, const char *node, uint32_t *incarnation)
{
	MDB_val k = { 11, (void *)"incarnation" }, v;
	MDB_val nk = { 4, (void *)"node" }, nv;
	unsigned char buf[4];
	uint32_t inc = 0;
	int rv;

	if ((rv = mdb_get(txn, js.meta, &k, &v)) == 0 && v.mv_size == 4) {
		const unsigned char *p = v.mv_data;

		inc = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
	} else if (rv != 0 && rv != MDB_NOTFOUND) {
		return jstore_fail("cannot read the incarnation", rv);
	}
	if (node != NULL) {
		if ((rv = mdb_get(txn, js.meta, &nk, &nv)) == 0) {
			if (nv.mv_size != strlen(node) ||
			    memcmp(nv.mv_data, node, nv.mv_size) != 0) {
				log_error("journal %s belongs to node %.*s, not %s: "
				    "start with --node-name %.*s, or use another "
				    "journal", js.path, (int)nv.mv_size,
				    (const char *)nv.mv_data, node,
				    (int)nv.mv_size, (const char *)nv.mv_data);
				return -1;
			}
		} else if (rv == MDB_NOTFOUND) {
			nv.mv_size = strlen(node);
			nv.mv_data = (void *)node;
			if ((rv = mdb_put(txn, js.meta, &nk, &nv, 0)) != 0)
				return jstore_fail("cannot write the node", rv);
		} else {
			return jstore_fail("cannot read the node", rv);
		}
	}
	inc++;
	buf[0] = (unsigned char)(inc >> 24);
	buf[1] = (unsigned char)(inc >> 16);
	buf[2] = (unsigned char)(inc >> 8);
	buf[3] = (unsigned char)inc;
	v.mv_size = 4;
	v.mv_data = buf;
	if ((rv = mdb_put(txn, js.meta, &k, &v, 0)) != 0)
		return jstore_fail("cannot write the incarnation", rv);
	*incarnation = inc;
	return 0;
}

int
jstore_open(const char *path, const char *node, uint32_t *incarnation)
{
	MDB_txn *txn = NULL;
	int rv, fd;

	msgpack_sbuffer_init(&js.sb);
	if ((js.path = strdup(path)) == NULL)
		return -1;
	if ((rv = mdb_env_create(&js.env)) != 0) {
		js.env = NULL;
		return jstore_fail("cannot create the environment", rv);
	}
	if ((rv = mdb_env_set_mapsize(js.env, JSTORE_MAP_SIZE)) != 0 ||
	    (rv = mdb_env_set_maxdbs(js.env, 2)) != 0) {
		jstore_fail("cannot set up the environment", rv);
		goto fail;
	}
	/* One file (and PATH-lock); the master is single-threaded. */
	if ((rv = mdb_env_open(js.env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600))
	    != 0) {
		log_error("cannot open the journal %s: %s (create its directory, "
		    "give --journal PATH, or --journal none: unsafe)", path,
		    mdb_strerror(rv));
		goto fail;
	}
	if ((rv = mdb_env_get_fd(js.env, &fd)) != 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("journal %s is in use by another master", path);
		goto fail;
	}
	if ((rv = mdb_txn_begin(js.env, NULL, 0, &txn)) != 0 ||
	    (rv = mdb_dbi_open(txn, "records", MDB_CREATE, &js.records)) != 0 ||
	    (rv = mdb_dbi_open(txn, "meta", MDB_CREATE, &js.meta)) != 0) {
		jstore_fail("cannot open its tables", rv);
		goto fail;
	}
	if (jstore_meta(txn, node, incarnation) != 0)
		goto fail;
	if ((rv = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		jstore_fail("cannot commit", rv);
		goto fail;
	}
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(js.env);
	js.env = NULL;
	free(js.path);
	js.path = NULL;
	msgpack_sbuffer_destroy(&js.sb);
	return -1;
}

int
jstore_next_incarnation(uint32_t *incarnation)
{
	MDB_txn *txn;

	if (jstore_commit() != 0 || (txn = jstore_txn()) == NULL)
		return -1;
	if (jstore_meta(txn, NULL, incarnation) != 0) {
		js.failed = true;
		jstore_commit();
		return -1;
	}
	return jstore_commit();
}

void
jstore_close(void)
{
	if (js.env == NULL)
		return;
	jstore_commit();
	mdb_env_close(js.env);
	js.env = NULL;
	free(js.path);
	js.path = NULL;
	msgpack_sbuffer_destroy(&js.sb);
}

int
jstore_put(uint64_t call_id, uint64_t seq, const char *route,
    const char *name, const void *arg, size_t arg_len, int64_t pid,
    const char *host)
{
	char key[JSTORE_KEY_SIZE];
	msgpack_packer pk;
	MDB_val k = { sizeof(key), key }, v;
	MDB_txn *txn;
	int rv;

	if (js.env == NULL)
		return 0;
	if ((txn = jstore_txn()) == NULL)
		return -1;
	js.sb.size = 0;
	msgpack_packer_init(&pk, &js.sb, msgpack_sbuffer_write);
	if (msgpack_pack_array(&pk, 5) != 0 ||
	    msgpack_pack_str_with_body(&pk, route, strlen(route)) != 0 ||
	    msgpack_pack_str_with_body(&pk, name, strlen(name)) != 0 ||
	    msgpack_pack_bin_with_body(&pk, arg, arg_len) != 0 ||
	    msgpack_pack_int64(&pk, pid) != 0 ||
	    msgpack_pack_str_with_body(&pk, host, strlen(host)) != 0) {
		js.failed = true;
		return -1;
	}
	jstore_key(key, call_id, seq);
	v.mv_size = js.sb.size;
	v.mv_data = js.sb.data;
	if ((rv = mdb_put(txn, js.records, &k, &v, 0)) != 0) {
		js.failed = true;
		return jstore_fail("cannot write a record", rv);
	}
	return 0;
}

int
jstore_del(uint64_t call_id, uint64_t seq)
{
	char key[JSTORE_KEY_SIZE];
	MDB_val k = { sizeof(key), key };
	MDB_txn *txn;
	int rv;

	if (js.env == NULL)
		return 0;
	if ((txn = jstore_txn()) == NULL)
		return -1;
	jstore_key(key, call_id, seq);
	if ((rv = mdb_del(txn, js.records, &k, NULL)) != 0 &&
	    rv != MDB_NOTFOUND) {
		js.failed = true;
		return jstore_fail("cannot delete a record", rv);
	}
	return 0;
}

bool
jstore_dirty(void)
{
	return js.txn != NULL;
}

int
jstore_commit(void)
{
	MDB_txn *txn = js.txn;
	bool failed = js.failed;
	int rv;

	js.txn = NULL;
	js.failed = false;
	if (txn == NULL)
		return failed ? -1 : 0;
	if (failed) {
		mdb_txn_abort(txn);
		log_error("journal %s: a change failed: this turn's changes are "
		    "not durable", js.path);
		return -1;
	}
	if ((rv = mdb_txn_commit(txn)) != 0)
		return jstore_fail("cannot commit", rv);
	return 0;
}

/* Decode one record's value; strings copied NUL-terminated into zone. */
static int
jstore_decode(const MDB_val *v, msgpack_zone *zone, const char **route,
    const char **name, msgpack_object_bin *arg, int64_t *pid,
    const char **host)
{
	const msgpack_object *e;
	msgpack_object o;
	size_t off = 0;
	const char **strs[3] = { route, name, host };
	const int at[3] = { 0, 1, 4 };

	if (msgpack_unpack(v->mv_data, v->mv_size, &off, zone, &o) !=
	    MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_ARRAY ||
	    o.via.array.size != 5)
		return -1;
	e = o.via.array.ptr;
	if (e[2].type != MSGPACK_OBJECT_BIN ||
	    (e[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
	    e[3].via.u64 > INT64_MAX)
		return -1;
	for (int i = 0; i < 3; i++) {
		const msgpack_object *s = &e[at[i]];
		char *c;

		if (s->type != MSGPACK_OBJECT_STR ||
		    (c = msgpack_zone_malloc(zone, s->via.str.size + 1)) == NULL)
			return -1;
		if (s->via.str.size > 0)
			memcpy(c, s->via.str.ptr, s->via.str.size);
		c[s->via.str.size] = '\0';
		if (memchr(c, '\0', s->via.str.size) != NULL)
			return -1;
		*strs[i] = c;
	}
	*arg = e[2].via.bin;
	*pid = (int64_t)e[3].via.u64;
	return 0;
}

int
jstore_load(jstore_record_fn fn, void *ctx)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	msgpack_zone zone;
	int rv, status = -1;

	if (js.env == NULL)
		return 0;
	if (!msgpack_zone_init(&zone, 1024))
		return -1;
	if ((txn = jstore_txn()) == NULL)
		goto out;
	if ((rv = mdb_cursor_open(txn, js.records, &cur)) != 0) {
		jstore_fail("cannot read the records", rv);
		goto out;
	}
	for (rv = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rv == 0;
	    rv = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *route, *name, *host;
		msgpack_object_bin arg;
		int64_t pid;

		msgpack_zone_clear(&zone);
		if (k.mv_size != JSTORE_KEY_SIZE || jstore_decode(&v, &zone,
		    &route, &name, &arg, &pid, &host) != 0) {
			log_error("journal %s: a record does not decode: "
			    "deleted", js.path);
			if (mdb_cursor_del(cur, 0) != 0)
				goto out;
			continue;
		}
		if (fn(ctx, jstore_be64(k.mv_data),
		    jstore_be64((const unsigned char *)k.mv_data + 8), route,
		    name, arg.ptr, arg.size, pid, host) != 0)
			goto out;
	}
	if (rv != MDB_NOTFOUND) {
		jstore_fail("cannot read the records", rv);
		goto out;
	}
	status = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	msgpack_zone_destroy(&zone);
	return status;
}
