/*
 * jstore_lmdb.c: the journal's durable backend on LMDB, behind jstore.h's
 * ops table. The design notes are in jstore_lmdb.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <lmdb.h>

#include "common/log.h"
#include "master/jstore_lmdb.h"

/* The most the file may grow to (sparse until used): ~5 million records
 * of 200 bytes. */
#define JSTORE_LMDB_MAP_SIZE ((size_t)1 << 30)

static struct {
	MDB_env *env;
	MDB_dbi records;
	MDB_dbi meta;
	MDB_txn *txn;          /* the turn's changes, NULL: none */
	bool failed;           /* a change failed: the commit must fail */
	char *path;
} jl;

static int
jstore_lmdb_fail(const char *what, int rv)
{
	log_error("journal %s: %s: %s", jl.path, what, mdb_strerror(rv));
	return -1;
}

/* The turn's write transaction, begun on first use. */
static MDB_txn *
jstore_lmdb_txn(void)
{
	int rv;

	if (jl.txn == NULL && (rv = mdb_txn_begin(jl.env, NULL, 0, &jl.txn))
	    != 0) {
		jl.txn = NULL;
		jl.failed = true;
		jstore_lmdb_fail("cannot begin a transaction", rv);
	}
	return jl.txn;
}

/* Read, bump and write the incarnation; check or set the node. In txn. */
static int
jstore_lmdb_meta(MDB_txn *txn, const char *node, uint32_t *incarnation)
{
	MDB_val k = { 11, (void *)"incarnation" }, v;
	MDB_val nk = { 4, (void *)"node" }, nv;
	unsigned char buf[4];
	uint32_t inc = 0;
	int rv;

	if ((rv = mdb_get(txn, jl.meta, &k, &v)) == 0 && v.mv_size == 4) {
		const unsigned char *p = v.mv_data;

		inc = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
	} else if (rv != 0 && rv != MDB_NOTFOUND) {
		return jstore_lmdb_fail("cannot read the incarnation", rv);
	}
	if (node != NULL) {
		if ((rv = mdb_get(txn, jl.meta, &nk, &nv)) == 0) {
			if (nv.mv_size != strlen(node) ||
			    memcmp(nv.mv_data, node, nv.mv_size) != 0) {
				log_error("journal %s belongs to node %.*s, not %s: "
				    "start with --node-name %.*s, or use another "
				    "journal", jl.path, (int)nv.mv_size,
				    (const char *)nv.mv_data, node,
				    (int)nv.mv_size, (const char *)nv.mv_data);
				return -1;
			}
		} else if (rv == MDB_NOTFOUND) {
			nv.mv_size = strlen(node);
			nv.mv_data = (void *)node;
			if ((rv = mdb_put(txn, jl.meta, &nk, &nv, 0)) != 0)
				return jstore_lmdb_fail("cannot write the node", rv);
		} else {
			return jstore_lmdb_fail("cannot read the node", rv);
		}
	}
	inc++;
	buf[0] = (unsigned char)(inc >> 24);
	buf[1] = (unsigned char)(inc >> 16);
	buf[2] = (unsigned char)(inc >> 8);
	buf[3] = (unsigned char)inc;
	v.mv_size = 4;
	v.mv_data = buf;
	if ((rv = mdb_put(txn, jl.meta, &k, &v, 0)) != 0)
		return jstore_lmdb_fail("cannot write the incarnation", rv);
	*incarnation = inc;
	return 0;
}

static int
jstore_lmdb_open(const char *path, const char *node, jstore_fenced_fn fenced,
    uint32_t *incarnation)
{
	MDB_txn *txn = NULL;
	int rv, fd;

	/* An flock cannot be taken away from a live master: never fenced. */
	(void)fenced;
	if ((jl.path = strdup(path)) == NULL)
		return -1;
	if ((rv = mdb_env_create(&jl.env)) != 0) {
		jl.env = NULL;
		jstore_lmdb_fail("cannot create the environment", rv);
		goto fail;
	}
	if ((rv = mdb_env_set_mapsize(jl.env, JSTORE_LMDB_MAP_SIZE)) != 0 ||
	    (rv = mdb_env_set_maxdbs(jl.env, 2)) != 0) {
		jstore_lmdb_fail("cannot set up the environment", rv);
		goto fail;
	}
	/* One file (and PATH-lock); the master is single-threaded. */
	if ((rv = mdb_env_open(jl.env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600))
	    != 0) {
		log_error("cannot open the journal %s: %s (create its directory, "
		    "give --journal PATH, or --journal none: unsafe)", path,
		    mdb_strerror(rv));
		goto fail;
	}
	if ((rv = mdb_env_get_fd(jl.env, &fd)) != 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("journal %s is in use by another master", path);
		goto fail;
	}
	if ((rv = mdb_txn_begin(jl.env, NULL, 0, &txn)) != 0 ||
	    (rv = mdb_dbi_open(txn, "records", MDB_CREATE, &jl.records)) != 0 ||
	    (rv = mdb_dbi_open(txn, "meta", MDB_CREATE, &jl.meta)) != 0) {
		jstore_lmdb_fail("cannot open its tables", rv);
		goto fail;
	}
	if (jstore_lmdb_meta(txn, node, incarnation) != 0)
		goto fail;
	if ((rv = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		jstore_lmdb_fail("cannot commit", rv);
		goto fail;
	}
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (jl.env != NULL)
		mdb_env_close(jl.env);
	jl.env = NULL;
	free(jl.path);
	jl.path = NULL;
	return -1;
}

/* Commit the turn's transaction. Returns 0, or -1 (logged): none of its
 * changes is durable, and the transaction is gone. */
static int
jstore_lmdb_commit_now(void)
{
	MDB_txn *txn = jl.txn;
	bool failed = jl.failed;
	int rv;

	jl.txn = NULL;
	jl.failed = false;
	if (txn == NULL)
		return failed ? -1 : 0;
	if (failed) {
		mdb_txn_abort(txn);
		log_error("journal %s: a change failed: this turn's changes are "
		    "not durable", jl.path);
		return -1;
	}
	if ((rv = mdb_txn_commit(txn)) != 0)
		return jstore_lmdb_fail("cannot commit", rv);
	return 0;
}

static void
jstore_lmdb_commit(jstore_done_fn fn, void *arg)
{
	int rv = jl.env != NULL ? jstore_lmdb_commit_now() : 0;

	if (fn != NULL)
		fn(arg, rv);
}

static int
jstore_lmdb_incarnation(uint32_t *incarnation)
{
	MDB_txn *txn;

	if (jstore_lmdb_commit_now() != 0 || (txn = jstore_lmdb_txn()) == NULL)
		return -1;
	if (jstore_lmdb_meta(txn, NULL, incarnation) != 0) {
		jl.failed = true;
		jstore_lmdb_commit_now();
		return -1;
	}
	return jstore_lmdb_commit_now();
}

static void
jstore_lmdb_close(void)
{
	if (jl.env == NULL)
		return;
	jstore_lmdb_commit_now();
	mdb_env_close(jl.env);
	jl.env = NULL;
	free(jl.path);
	jl.path = NULL;
}

static int
jstore_lmdb_put(uint64_t call_id, uint64_t seq, const void *value, size_t len)
{
	unsigned char key[JSTORE_KEY_SIZE];
	MDB_val k = { sizeof(key), key }, v = { len, (void *)value };
	MDB_txn *txn;
	int rv;

	if ((txn = jstore_lmdb_txn()) == NULL)
		return -1;
	jstore_key(key, call_id, seq);
	if ((rv = mdb_put(txn, jl.records, &k, &v, 0)) != 0) {
		jl.failed = true;
		return jstore_lmdb_fail("cannot write a record", rv);
	}
	return 0;
}

static int
jstore_lmdb_del(uint64_t call_id, uint64_t seq)
{
	unsigned char key[JSTORE_KEY_SIZE];
	MDB_val k = { sizeof(key), key };
	MDB_txn *txn;
	int rv;

	if ((txn = jstore_lmdb_txn()) == NULL)
		return -1;
	jstore_key(key, call_id, seq);
	if ((rv = mdb_del(txn, jl.records, &k, NULL)) != 0 &&
	    rv != MDB_NOTFOUND) {
		jl.failed = true;
		return jstore_lmdb_fail("cannot delete a record", rv);
	}
	return 0;
}

static bool
jstore_lmdb_dirty(void)
{
	return jl.txn != NULL;
}

static bool
jstore_lmdb_available(void)
{
	return jl.env != NULL;
}

static size_t
jstore_lmdb_inflight(void)
{
	return 0;
}

/* Every record in key order, in the turn's transaction (so deletions of
 * bad ones are committed with it). */
static int
jstore_lmdb_scan(jstore_record_fn fn, void *ctx)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	int rv, status = -1;

	if ((txn = jstore_lmdb_txn()) == NULL)
		return -1;
	if ((rv = mdb_cursor_open(txn, jl.records, &cur)) != 0) {
		jstore_lmdb_fail("cannot read the records", rv);
		goto out;
	}
	for (rv = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rv == 0;
	    rv = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *key = k.mv_data;
		int r = -1;

		if (k.mv_size == JSTORE_KEY_SIZE)
			r = fn(ctx, jstore_be64(key), jstore_be64(key + 8),
			    v.mv_data, v.mv_size);
		else
			log_error("journal %s: a record's key has %zu bytes, "
			    "not %d: deleted", jl.path, k.mv_size,
			    JSTORE_KEY_SIZE);
		if (r < 0 && k.mv_size == JSTORE_KEY_SIZE)
			goto out;
		if (r != 0 && mdb_cursor_del(cur, 0) != 0)
			goto out;
	}
	if (rv != MDB_NOTFOUND) {
		jstore_lmdb_fail("cannot read the records", rv);
		goto out;
	}
	status = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return status;
}

const struct jstore_ops jstore_lmdb_ops = {
	.js_name = "lmdb",
	.js_open = jstore_lmdb_open,
	.js_put = jstore_lmdb_put,
	.js_del = jstore_lmdb_del,
	.js_dirty = jstore_lmdb_dirty,
	.js_commit = jstore_lmdb_commit,
	.js_scan = jstore_lmdb_scan,
	.js_incarnation = jstore_lmdb_incarnation,
	.js_available = jstore_lmdb_available,
	.js_inflight = jstore_lmdb_inflight,
	.js_close = jstore_lmdb_close,
};
