/*
 * check_worker.c: wspool-worker end to end against a fake master: this
 * program plays the registry (rep0) and the worker's pair1 peer, runs the
 * demo module's routes through a real worker process and checks every
 * envelope that comes back, then the ways out (drain, master gone,
 * garbage, crashes) and the refusals (usage, bad modules).
 *
 * WSPOOL_VALGRIND=1 runs the worker under valgrind (leaks are errors) in
 * the tests that end it cleanly.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>

#include <wspool.h>

#include "json/parse.h"
#include "proto/proto.h"

#ifndef WORKER_BIN
#error WORKER_BIN must name the wspool-worker to test
#endif

/* ---- The fake master --------------------------------------------------------- */

#define FM_LOGS_MAX 16

struct fm {
	char fm_node[64];          /* the node name in its WELCOME (cleanup keys) */
	nng_socket fm_reg;
	nng_socket fm_pair;
	bool fm_pair_open;
	pid_t fm_pid;
	char fm_reg_addr[128];
	char fm_pair_addr[128];
	nng_msg *fm_out;
	struct proto_writer fm_w;
	nng_msg *fm_in;
	struct proto_reader fm_r;
	msgpack_zone fm_zone;       /* for unpacked values */
	/* LOG envelopes, set aside by fm_next (the last FM_LOGS_MAX). */
	struct fm_log {
		uint64_t fl_call_id;
		int64_t fl_level;
		char fl_text[256];
	} fm_logs[FM_LOGS_MAX];
	size_t fm_nlogs;
};

static char fm_log_path[256];
/* The worker timeout the next fm_start gives in WELCOME (0: none). */
static uint64_t fm_welcome_timeout_ms;
static unsigned fm_seq;

static int
fm_append_cb(void *data, const char *buf, size_t len)
{
	return nng_msg_append(*(nng_msg **)data, buf, len) == 0 ? 0 : -1;
}

static void
fm_spawn(struct fm *f, const char *const *args, const char *module)
{
	const char *argv[32];
	size_t n = 0;
	bool vg = getenv("WSPOOL_VALGRIND") != NULL;
	sigset_t set, old;

	if (vg) {
		argv[n++] = LIBTOOL;
		argv[n++] = "--mode=execute";
		argv[n++] = "valgrind";
		argv[n++] = "-q";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite";
		argv[n++] = "--error-exitcode=99";
	}
	argv[n++] = WORKER_BIN;
	for (; args != NULL && *args != NULL; args++)
		argv[n++] = *args;
	if (module != NULL)
		argv[n++] = module;
	argv[n] = NULL;
	/*
	 * check's SIGTERM handler (it forwards the signal to the process
	 * group) must not run in the child before exec: block the signal
	 * across fork, reset it to default in the child, then unblock.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old), 0);
	f->fm_pid = fork();
	if (f->fm_pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		setenv("WSPOOL_DEMO_LOG", fm_log_path, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	ck_assert_int_gt(f->fm_pid, 0);
}

/* Exit status of the worker: >= 0 an exit code, < 0 minus a signal. */
static int
fm_wait(struct fm *f)
{
	int status;

	ck_assert_int_eq(waitpid(f->fm_pid, &status, 0), f->fm_pid);
	f->fm_pid = 0;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static struct proto_writer *
fm_w(struct fm *f)
{
	if (f->fm_out == NULL) {
		ck_assert_int_eq(nng_msg_alloc(&f->fm_out, 0), 0);
		ck_assert_int_eq(proto_writer_init(&f->fm_w, &f->fm_out,
		    fm_append_cb), 0);
	}
	return &f->fm_w;
}

static void
fm_flush(struct fm *f)
{
	ck_assert_int_eq(nng_sendmsg(f->fm_pair, f->fm_out, 0), 0);
	f->fm_out = NULL;
}

/* The next envelope from the worker (borrowed until the next call). */
static struct proto_writer *fm_w(struct fm *f);

/* Acknowledge as the real master does: a call's terminal reply, and each
 * CLEANUP_DONE of a call's own cleanup (the worker waits for them). */
static void
fm_auto_ack(struct fm *f, const struct proto_msg *m)
{
	uint64_t seq;

	if (m->type == PROTO_RESULT || m->type == PROTO_END ||
	    m->type == PROTO_ERROR)
		seq = PROTO_ANSWER_ACK;
	else if (m->type == PROTO_CLEANUP_DONE && m->seq > 0)
		seq = m->seq | PROTO_DONE_ACK;
	else
		return;
	ck_assert_int_eq(proto_put_defer_ack(fm_w(f), m->id, seq), 0);
	/* The worker may be gone already (it exits after its last cleanup):
	 * an ack nobody reads is fine. */
	if (nng_sendmsg(f->fm_pair, f->fm_out, 0) != 0)
		nng_msg_free(f->fm_out);
	f->fm_out = NULL;
}

/* Set a LOG envelope aside: lines come whenever a module writes one. */
static void
fm_keep_log(struct fm *f, const struct proto_msg *m)
{
	struct fm_log *l = &f->fm_logs[f->fm_nlogs++ % FM_LOGS_MAX];
	size_t len = m->str.len < sizeof(l->fl_text) - 1 ? m->str.len :
	    sizeof(l->fl_text) - 1;

	l->fl_call_id = m->call_id;
	l->fl_level = m->num;
	memcpy(l->fl_text, m->str.ptr, len);
	l->fl_text[len] = '\0';
}

/* Expect a LOG set aside from call_id at level with text. */
/* Fixtures so far: each gets a node name of its own. */
static unsigned fm_nodes;

/* A log line is expected; "%s" in text stands for the fixture's node. */
static void
fm_expect_log(const struct fm *f, uint64_t call_id, int64_t level,
    const char *pattern)
{
	const char *at = strstr(pattern, "%s");
	char text[512];

	if (at != NULL)
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - pattern),
		    pattern, f->fm_node, at + 2);
	else
		snprintf(text, sizeof(text), "%s", pattern);
	for (size_t i = 0; i < f->fm_nlogs && i < FM_LOGS_MAX; i++) {
		const struct fm_log *l = &f->fm_logs[i];

		if (strcmp(l->fl_text, text) == 0) {
			ck_assert_uint_eq(l->fl_call_id, call_id);
			ck_assert_int_eq(l->fl_level, level);
			return;
		}
	}
	ck_abort_msg("no log line \"%s\" (%zu lines)", text, f->fm_nlogs);
}

static void
fm_next(struct fm *f, struct proto_msg *m)
{
	int rv;

	msgpack_zone_clear(&f->fm_zone);
	for (;;) {
		if (f->fm_in != NULL) {
			rv = proto_reader_next(&f->fm_r, m);
			ck_assert_msg(rv >= 0, "bad envelope: %s",
			    f->fm_r.error);
			if (rv == 1 && m->type == PROTO_LOG) {
				fm_keep_log(f, m);
				continue;
			}
			if (rv == 1) {
				fm_auto_ack(f, m);
				return;
			}
			proto_reader_fini(&f->fm_r);
			nng_msg_free(f->fm_in);
			f->fm_in = NULL;
		}
		rv = nng_recvmsg(f->fm_pair, &f->fm_in, 0);
		ck_assert_msg(rv == 0, "recv: %s", nng_strerror(rv));
		ck_assert_int_eq(proto_reader_init(&f->fm_r,
		    nng_msg_body(f->fm_in), nng_msg_len(f->fm_in)), 0);
	}
}

static void
fm_expect(struct fm *f, struct proto_msg *m, enum proto_type type,
    uint64_t id)
{
	fm_next(f, m);
	ck_assert_msg(m->type == type, "got %s, want %s",
	    proto_type_name(m->type), proto_type_name(type));
	ck_assert_uint_eq(m->id, id);
}

/* A packed msgpack value (cleanup args, reasons). */
static msgpack_object
fm_value(struct fm *f, const struct proto_bytes *b)
{
	msgpack_object o;

	ck_assert_int_eq(proto_unpack_value(b, &f->fm_zone, &o), 0);
	return o;
}

/* A JSON value (results, chunks, error data), read into a tree. */
static msgpack_object
fm_json(struct fm *f, const struct proto_bytes *b)
{
	struct json_parse jp;
	msgpack_object o;
	const char *why;

	json_parse_init(&jp);
	ck_assert_msg(json_parse(&jp, b->ptr, b->len, &f->fm_zone, &o, &why) ==
	    JSON_PARSE_OK, "not JSON: %.*s", (int)b->len, b->ptr);
	json_parse_free(&jp);
	return o;
}

static void
fm_expect_bytes(const struct proto_bytes *b, const char *want, size_t len)
{
	ck_assert_uint_eq(b->len, len);
	ck_assert_mem_eq(b->ptr, want, len);
}

#define FM_BYTES(b, lit) fm_expect_bytes((b), (lit), sizeof(lit) - 1)

/* Start a worker on module and serve its join: registry, welcome, READY
 * (which must name the module, nroutes and ncleanups). */
static void
fm_start_module(struct fm *f, const char *const *args, const char *module,
    const char *name, uint32_t nroutes, uint32_t ncleanups)
{
	const char *argv[16];
	struct proto_writer w;
	struct proto_reader r;
	struct proto_msg m;
	nng_msg *msg;
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	ck_assert(msgpack_zone_init(&f->fm_zone, 4096));
	snprintf(f->fm_reg_addr, sizeof(f->fm_reg_addr),
	    "ipc:///tmp/check-worker-%ld-%u.reg", (long)getpid(), fm_seq);
	snprintf(f->fm_pair_addr, sizeof(f->fm_pair_addr),
	    "ipc:///tmp/check-worker-%ld-%u.pair", (long)getpid(), fm_seq++);
	ck_assert_int_eq(nng_rep0_open(&f->fm_reg), 0);
	ck_assert_int_eq(nng_socket_set_ms(f->fm_reg, NNG_OPT_RECVTIMEO,
	    20000), 0);
	ck_assert_int_eq(nng_listen(f->fm_reg, f->fm_reg_addr, NULL, 0), 0);
	ck_assert_int_eq(nng_pair1_open(&f->fm_pair), 0);
	f->fm_pair_open = true;
	ck_assert_int_eq(nng_socket_set_ms(f->fm_pair, NNG_OPT_RECVTIMEO,
	    20000), 0);
	ck_assert_int_eq(nng_socket_set_ms(f->fm_pair, NNG_OPT_SENDTIMEO,
	    20000), 0);
	ck_assert_int_eq(nng_listen(f->fm_pair, f->fm_pair_addr, NULL, 0), 0);

	argv[n++] = "--connect";
	argv[n++] = f->fm_reg_addr;
	for (; args != NULL && *args != NULL; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fm_spawn(f, argv, module);

	/* HELLO on the registry, WELCOME back. */
	ck_assert_int_eq(nng_recvmsg(f->fm_reg, &msg, 0), 0);
	ck_assert_int_eq(proto_reader_init(&r, nng_msg_body(msg),
	    nng_msg_len(msg)), 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.type, PROTO_HELLO);
	if (getenv("WSPOOL_VALGRIND") == NULL)
		ck_assert_int_eq(m.num, f->fm_pid);
	ck_assert_uint_gt(m.str.len, 0);
	ck_assert_int_eq(proto_reader_next(&r, &m), 0);
	proto_reader_fini(&r);
	nng_msg_free(msg);
	ck_assert_int_eq(nng_msg_alloc(&msg, 0), 0);
	ck_assert_int_eq(proto_writer_init(&w, &msg, fm_append_cb), 0);
	/* A node name of its own: call ids repeat from one fixture to the
	 * next, and the demo writes one record per key. */
	snprintf(f->fm_node, sizeof(f->fm_node), "unit-%ld-%u", (long)getpid(),
	    ++fm_nodes);
	ck_assert_int_eq(proto_put_welcome(&w, f->fm_pair_addr, f->fm_node,
	    fm_welcome_timeout_ms), 0);
	ck_assert_int_eq(nng_sendmsg(f->fm_reg, msg, 0), 0);

	/* READY on the pair socket. */
	fm_next(f, &m);
	ck_assert_int_eq(m.type, PROTO_READY);
	ck_assert_int_gt(m.num, 0);
	ck_assert_uint_eq(m.str2.len, strlen(name));
	ck_assert_mem_eq(m.str2.ptr, name, strlen(name));
	ck_assert_int_eq(m.obj->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(m.obj->via.array.size, nroutes);
	ck_assert_int_eq(m.obj2->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(m.obj2->via.array.size, ncleanups);
}

static void
fm_start_args(struct fm *f, const char *const *args)
{
	fm_start_module(f, args, DEMO_SO, "demo", 13, 1);
}

/* The test module (bad_module.c, unbroken). */
static void
fm_start_test_module(struct fm *f, const char *const *args)
{
	fm_start_module(f, args, BAD_SO, "bad", 6, 2);
}

static void
fm_start(struct fm *f)
{
	fm_start_args(f, NULL);
}

static void
fm_stop(struct fm *f)
{
	if (f->fm_in != NULL) {
		proto_reader_fini(&f->fm_r);
		nng_msg_free(f->fm_in);
	}
	if (f->fm_out != NULL)
		nng_msg_free(f->fm_out);
	if (f->fm_pair_open)
		nng_close(f->fm_pair);
	nng_close(f->fm_reg);
	/* nng leaves the ipc socket files behind. */
	unlink(f->fm_reg_addr + strlen("ipc://"));
	unlink(f->fm_pair_addr + strlen("ipc://"));
	msgpack_zone_destroy(&f->fm_zone);
	if (f->fm_pid > 0) {
		kill(f->fm_pid, SIGKILL);
		waitpid(f->fm_pid, NULL, 0);
	}
}

/* Drain and expect a clean exit (and no valgrind error). */
static void
fm_drain(struct fm *f)
{
	ck_assert_int_eq(proto_put_drain(fm_w(f)), 0);
	fm_flush(f);
	ck_assert_int_eq(fm_wait(f), 0);
}

/* A call with params as JSON text, the id (the client's) "c<id>". */
static void
fm_call(struct fm *f, uint64_t id, uint64_t conn, const char *route,
    const char *params, size_t len, uint64_t flags)
{
	char cid[32];
	int n = snprintf(cid, sizeof(cid), "\"c%llu\"", (unsigned long long)id);

	ck_assert_int_eq(proto_put_call(fm_w(f), id, conn, route,
	    strlen(route), params, len, (flags & PROTO_CALL_NOTIFY) ? NULL : cid,
	    (size_t)n, flags), 0);
	fm_flush(f);
}

#define FM_CALL(f, id, route, lit) \
	fm_call((f), (id), 1, (route), (lit), sizeof(lit) - 1, 0)

static void
fm_conn(struct fm *f, uint64_t conn, bool token)
{
	const char *names[] = { "authorization", "x-test" };
	const char *values[] = { token ? "Bearer demo-token" : "Bearer no",
		"yes" };

	ck_assert_int_eq(proto_put_conn_open(fm_w(f), conn,
	    "0b3d6f9e-1c2a-4e5b-8f70-112233445566", "192.0.2.7", names,
	    values, 2), 0);
	fm_flush(f);
}

static void
fm_ack(struct fm *f, uint64_t id, uint64_t seq)
{
	ck_assert_int_eq(proto_put_defer_ack(fm_w(f), id, seq), 0);
	fm_flush(f);
}

/* Expect DEFER(id, seq, "record", {"tag": tag, "index": index...}); ack. */
static void
fm_defer(struct fm *f, uint64_t id, uint64_t seq, const char *tag,
    uint64_t index)
{
	struct proto_msg m;
	msgpack_object arg;

	fm_expect(f, &m, PROTO_DEFER, id);
	ck_assert_uint_eq(m.seq, seq);
	ck_assert_uint_eq(m.str.len, 6);
	ck_assert_mem_eq(m.str.ptr, "record", 6);
	arg = fm_value(f, &m.value);
	ck_assert_int_eq(arg.type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_ge(arg.via.map.size, 2);
	ck_assert_uint_eq(arg.via.map.ptr[0].val.via.str.size, strlen(tag));
	ck_assert_mem_eq(arg.via.map.ptr[0].val.via.str.ptr, tag, strlen(tag));
	ck_assert_uint_eq(arg.via.map.ptr[1].val.via.u64, index);
	fm_ack(f, id, seq);
}

static void
fm_cleanup_done(struct fm *f, uint64_t id, uint64_t seq, int ok)
{
	struct proto_msg m;

	fm_expect(f, &m, PROTO_CLEANUP_DONE, id);
	ck_assert_uint_eq(m.seq, seq);
	ck_assert_uint_eq(m.flags, (uint64_t)ok);
}

static const msgpack_object *
fm_get(const msgpack_object *map, const char *key)
{
	ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR &&
		    k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	ck_abort_msg("no key %s", key);
	return NULL;
}

static void
fm_str_eq(const msgpack_object *o, const char *s)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
	ck_assert_uint_eq(o->via.str.size, strlen(s));
	ck_assert_mem_eq(o->via.str.ptr, s, strlen(s));
}

/* Call cleanups(tag): check the records' indexes and reason kinds. */
static void
fm_records(struct fm *f, uint64_t id, const char *tag, size_t n,
    const uint64_t *indexes, const char *kind)
{
	char params[64];
	struct proto_msg m;
	msgpack_object res;
	int len = snprintf(params, sizeof(params), "[\"%s\"]", tag);

	fm_call(f, id, 1, "cleanups", params, (size_t)len, 0);
	fm_expect(f, &m, PROTO_RESULT, id);
	res = fm_json(f, &m.value);
	ck_assert_int_eq(res.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(res.via.array.size, n);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *rec = &res.via.array.ptr[i];
		const msgpack_object *reason = fm_get(rec, "reason");

		fm_str_eq(fm_get(rec, "tag"), tag);
		ck_assert_uint_eq(fm_get(rec, "index")->via.u64, indexes[i]);
		if (kind == NULL)
			ck_assert_int_eq(reason->type, MSGPACK_OBJECT_NIL);
		else
			fm_str_eq(fm_get(reason, "kind"), kind);
	}
}

/* A tag unique to this test run. */
static const char *
fm_tag(char *buf, size_t size, const char *base)
{
	snprintf(buf, size, "%s%ld", base, (long)getpid() % 100000);
	return buf;
}

/* ---- Tests -------------------------------------------------------------------- */

START_TEST(test_echo_add)
{
	struct fm f;
	struct proto_msg m;

	fm_start(&f);
	fm_conn(&f, 1, false);
	FM_CALL(&f, 1, "echo", "[{\"a\":[1,\"hi\"]}]");
	fm_expect(&f, &m, PROTO_RESULT, 1);
	FM_BYTES(&m.value, "{\"a\":[1,\"hi\"]}");
	FM_CALL(&f, 2, "echo", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 2);
	FM_BYTES(&m.value, "null");
	FM_CALL(&f, 3, "add", "[1, 2]");
	fm_expect(&f, &m, PROTO_RESULT, 3);
	FM_BYTES(&m.value, "3");
	FM_CALL(&f, 4, "add", "[1.5,2]");
	fm_expect(&f, &m, PROTO_RESULT, 4);
	FM_BYTES(&m.value, "3.5");
	FM_CALL(&f, 5, "add", "[-1,-2]");
	fm_expect(&f, &m, PROTO_RESULT, 5);
	FM_BYTES(&m.value, "-3");
	/* Strings come back as JSON.stringify writes them; big numbers and
	 * escapes survive. */
	FM_CALL(&f, 6, "echo", "[[\"\\u00e9\\n\\ud83d\\ude00\\/\",18446744073709551615,"
	    "-9223372036854775808,0.1,1e400,-0]]");
	fm_expect(&f, &m, PROTO_RESULT, 6);
	FM_BYTES(&m.value, "[\"\xc3\xa9\\n\xf0\x9f\x98\x80/\",18446744073709551615,"
	    "-9223372036854775808,0.1,null,-0]");
	/* No params at all: []. */
	fm_call(&f, 7, 1, "echo", NULL, 0, 0);
	fm_expect(&f, &m, PROTO_RESULT, 7);
	FM_BYTES(&m.value, "null");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_refusals)
{
	struct fm f;
	struct proto_msg m;

	fm_start(&f);
	FM_CALL(&f, 1, "nope", "[]");
	fm_expect(&f, &m, PROTO_ERROR, 1);
	ck_assert_int_eq(m.num, 404);
	ck_assert_uint_eq(m.str.len, 9);
	ck_assert_mem_eq(m.str.ptr, "Not Found", 9);
	ck_assert_int_eq(m.has_value, 0);
	/* Wrong type, missing, extra: 400 with {"path", "value"}. */
	FM_CALL(&f, 2, "add", "[\"x\",1]");
	fm_expect(&f, &m, PROTO_ERROR, 2);
	ck_assert_int_eq(m.num, 400);
	ck_assert_mem_eq(m.str.ptr, "Invalid params", 14);
	FM_BYTES(&m.value, "{\"path\":\"/0\",\"value\":\"x\"}");
	FM_CALL(&f, 3, "add", "[1]");
	fm_expect(&f, &m, PROTO_ERROR, 3);
	FM_BYTES(&m.value, "{\"path\":\"/1\",\"value\":null}");
	FM_CALL(&f, 4, "add", "[1,2,3]");
	fm_expect(&f, &m, PROTO_ERROR, 4);
	FM_BYTES(&m.value, "{\"path\":\"/2\",\"value\":3}");
	/* Params that are not an array, or not JSON at all. */
	FM_CALL(&f, 5, "echo", "1");
	fm_expect(&f, &m, PROTO_ERROR, 5);
	ck_assert_int_eq(m.num, 400);
	FM_CALL(&f, 6, "echo", "[1,");
	fm_expect(&f, &m, PROTO_ERROR, 6);
	ck_assert_int_eq(m.num, 400);
	/* A lone surrogate: 400, never a changed string; a pair is fine. */
	FM_CALL(&f, 7, "echo", "[\"\\ud800\"]");
	fm_expect(&f, &m, PROTO_ERROR, 7);
	ck_assert_int_eq(m.num, 400);
	FM_CALL(&f, 8, "echo", "[\"a\\udc00\"]");
	fm_expect(&f, &m, PROTO_ERROR, 8);
	ck_assert_int_eq(m.num, 400);
	FM_CALL(&f, 9, "echo", "[\"\\ud800\\ud800\"]");
	fm_expect(&f, &m, PROTO_ERROR, 9);
	ck_assert_int_eq(m.num, 400);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_fail)
{
	char tag[32];
	struct fm f;
	struct proto_msg m;
	msgpack_object o;
	static const uint64_t idx0[] = { 0 };
	char params[64];
	int n;

	fm_tag(tag, sizeof(tag), "fail");
	fm_start(&f);
	FM_CALL(&f, 1, "fail", "[418,\"teapot\",{\"x\":1}]");
	fm_expect(&f, &m, PROTO_ERROR, 1);
	ck_assert_int_eq(m.num, 418);
	ck_assert_uint_eq(m.str.len, 6);
	ck_assert_mem_eq(m.str.ptr, "teapot", 6);
	FM_BYTES(&m.value, "{\"x\":1}");
	/* Out of range: 500, message kept, no data. */
	FM_CALL(&f, 2, "fail", "[99,\"m\"]");
	fm_expect(&f, &m, PROTO_ERROR, 2);
	ck_assert_int_eq(m.num, 500);
	ck_assert_mem_eq(m.str.ptr, "m", 1);
	ck_assert_int_eq(m.has_value, 0);
	/* With a tag: DEFER, acked, ERROR, then the cleanup reports. */
	n = snprintf(params, sizeof(params), "[503,\"oops\",null,\"%s\"]", tag);
	fm_call(&f, 3, 1, "fail", params, (size_t)n, 0);
	fm_defer(&f, 3, 1, tag, 0);
	fm_expect(&f, &m, PROTO_ERROR, 3);
	ck_assert_int_eq(m.num, 503);
	fm_cleanup_done(&f, 3, 1, 1);
	fm_records(&f, 4, tag, 1, idx0, "error");
	/* The error reason carries code and message. */
	FM_CALL(&f, 5, "echo", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 5);
	(void)o;
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_subscriptions)
{
	char tag[32], params[64];
	struct fm f;
	struct proto_msg m;
	msgpack_object o;
	static const uint64_t idx0[] = { 0 };
	struct timespec ts;
	uint64_t now;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	fm_tag(tag, sizeof(tag), "count");
	fm_start(&f);
	FM_CALL(&f, 1, "count", "[3,0]");
	for (uint64_t i = 0; i < 3; i++) {
		fm_expect(&f, &m, PROTO_CHUNK, 1);
		ck_assert_int_eq(m.has_value, 1);
		o = fm_json(&f, &m.value);
		ck_assert_uint_eq(fm_get(&o, "count")->via.u64, i);
		ck_assert_uint_ge(fm_get(&o, "timestamp")->via.u64, now);
	}
	fm_expect(&f, &m, PROTO_END, 1);

	n = snprintf(params, sizeof(params), "[2,5,\"%s\"]", tag);
	fm_call(&f, 2, 1, "count", params, (size_t)n, 0);
	fm_defer(&f, 2, 1, tag, 0);
	fm_expect(&f, &m, PROTO_CHUNK, 2);
	fm_expect(&f, &m, PROTO_CHUNK, 2);
	fm_expect(&f, &m, PROTO_END, 2);
	fm_cleanup_done(&f, 2, 1, 1);
	fm_records(&f, 3, tag, 1, idx0, NULL);

	FM_CALL(&f, 4, "sparse", "[3]");
	fm_expect(&f, &m, PROTO_CHUNK, 4);
	FM_BYTES(&m.value, "0");
	fm_expect(&f, &m, PROTO_CHUNK, 4);
	ck_assert_int_eq(m.has_value, 0);
	fm_expect(&f, &m, PROTO_CHUNK, 4);
	FM_BYTES(&m.value, "2");
	fm_expect(&f, &m, PROTO_END, 4);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_cancel)
{
	char tag[32], params[64];
	struct fm f;
	struct proto_msg m;
	static const uint64_t idx0[] = { 0 };
	static const char reason[] = "\x81\xa4kind\xa9" "cancelled";
	int n;

	fm_tag(tag, sizeof(tag), "cancel");
	fm_start(&f);
	n = snprintf(params, sizeof(params), "[30000,\"%s\"]", tag);
	fm_call(&f, 1, 1, "sleep", params, (size_t)n, 0);
	fm_defer(&f, 1, 1, tag, 0);
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 1, reason,
	    sizeof(reason) - 1), 0);
	fm_flush(&f);
	fm_expect(&f, &m, PROTO_ERROR, 1);
	fm_cleanup_done(&f, 1, 1, 1);
	fm_records(&f, 2, tag, 1, idx0, "cancelled");
	/* A cancelled subscription ends with END. */
	FM_CALL(&f, 3, "count", "[10,30000]");
	fm_expect(&f, &m, PROTO_CHUNK, 3);
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 3, reason,
	    sizeof(reason) - 1), 0);
	fm_flush(&f);
	fm_expect(&f, &m, PROTO_END, 3);
	/* Cancelling what is gone is ignored. */
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 99, reason,
	    sizeof(reason) - 1), 0);
	fm_flush(&f);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/* Flow control: a subscription sends its window's worth of chunks, then
 * waits for CREDIT (other calls go on meanwhile); a cancel wakes it. */
START_TEST(test_credit)
{
	static const char reason[] = "\x81\xa4kind\xa9" "cancelled";
	struct fm f;
	struct proto_msg m;
	uint64_t spent = 0;

	fm_start(&f);
	FM_CALL(&f, 5, "count", "[100000000,0]");
	while (spent < PROTO_CREDIT_WINDOW) {
		fm_expect(&f, &m, PROTO_CHUNK, 5);
		spent += PROTO_CHUNK_COST(m.value.len, 4); /* "c5" */
	}
	/* Blocked: the next envelope is another call's answer. */
	FM_CALL(&f, 6, "echo", "[\"x\"]");
	fm_expect(&f, &m, PROTO_RESULT, 6);
	/* Credit for about 1,000 bytes more: that much, and no more. */
	ck_assert_int_eq(proto_put_credit(fm_w(&f), 5, spent -
	    PROTO_CREDIT_WINDOW + 1000), 0);
	fm_flush(&f);
	spent = 0;
	while (spent < 1000) {
		fm_expect(&f, &m, PROTO_CHUNK, 5);
		spent += PROTO_CHUNK_COST(m.value.len, 4); /* "c5" */
	}
	FM_CALL(&f, 7, "echo", "[\"y\"]");
	fm_expect(&f, &m, PROTO_RESULT, 7);
	/* Credit for an unknown call is ignored; a cancel wakes the wait. */
	ck_assert_int_eq(proto_put_credit(fm_w(&f), 99, 1000), 0);
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 5, reason,
	    sizeof(reason) - 1), 0);
	fm_flush(&f);
	fm_expect(&f, &m, PROTO_END, 5);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_context)
{
	struct fm f;
	struct proto_msg m;
	msgpack_object o;
	const msgpack_object *h;

	fm_start(&f);
	fm_conn(&f, 1, false);
	fm_conn(&f, 2, true);
	FM_CALL(&f, 1, "whoami", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 1);
	o = fm_json(&f, &m.value);
	fm_str_eq(fm_get(&o, "id"), "0b3d6f9e-1c2a-4e5b-8f70-112233445566");
	fm_str_eq(fm_get(&o, "ip"), "192.0.2.7");
	ck_assert_int_gt(fm_get(&o, "pid")->via.i64, 0);
	h = fm_get(&o, "headers");
	fm_str_eq(fm_get(h, "x-test"), "yes");
	fm_str_eq(fm_get(h, "authorization"), "Bearer no");
	FM_CALL(&f, 2, "whoami", "[1]");
	fm_expect(&f, &m, PROTO_ERROR, 2);
	ck_assert_int_eq(m.num, 400);

	FM_CALL(&f, 3, "secret", "[]");
	fm_expect(&f, &m, PROTO_ERROR, 3);
	ck_assert_int_eq(m.num, 401);
	ck_assert_uint_eq(m.str.len, 12);
	ck_assert_mem_eq(m.str.ptr, "Unauthorized", 12);
	fm_call(&f, 4, 2, "secret", "[]", 2, 0);
	fm_expect(&f, &m, PROTO_RESULT, 4);
	FM_BYTES(&m.value, "\"granted\"");
	/* Closed connection: the call still runs, without context. */
	ck_assert_int_eq(proto_put_conn_close(fm_w(&f), 2), 0);
	fm_flush(&f);
	fm_call(&f, 5, 2, "secret", "[]", 2, 0);
	fm_expect(&f, &m, PROTO_ERROR, 5);
	ck_assert_int_eq(m.num, 401);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_notes_and_settle)
{
	char tag[32], params[96];
	struct fm f;
	struct proto_msg m;
	static const uint64_t idx0[] = { 0 };
	static const uint64_t idx02[] = { 0, 2 };
	int n;

	fm_tag(tag, sizeof(tag), "note");
	fm_start(&f);
	n = snprintf(params, sizeof(params), "[\"%s\",5]", tag);
	fm_call(&f, 1, 1, "note", params, (size_t)n, PROTO_CALL_NOTIFY);
	fm_defer(&f, 1, 1, tag, 0);
	fm_expect(&f, &m, PROTO_END, 1);
	fm_cleanup_done(&f, 1, 1, 1);
	n = snprintf(params, sizeof(params), "[\"%s\"]", tag);
	fm_call(&f, 2, 1, "notes", params, (size_t)n, 0);
	fm_expect(&f, &m, PROTO_RESULT, 2);
	FM_BYTES(&m.value, "[5]");
	fm_records(&f, 3, tag, 1, idx0, NULL);

	/* settle: cleanup 1 of 3 fails, the others still write. */
	fm_tag(tag, sizeof(tag), "settle");
	n = snprintf(params, sizeof(params), "[\"%s\",3,1,\"error\"]", tag);
	fm_call(&f, 4, 1, "settle", params, (size_t)n, 0);
	for (uint64_t i = 0; i < 3; i++)
		fm_defer(&f, 4, i + 1, tag, i);
	fm_expect(&f, &m, PROTO_RESULT, 4);
	FM_BYTES(&m.value, "\"ok\"");
	fm_cleanup_done(&f, 4, 1, 1);
	fm_cleanup_done(&f, 4, 2, 0);
	fm_cleanup_done(&f, 4, 3, 1);
	fm_records(&f, 5, tag, 2, idx02, NULL);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

START_TEST(test_cleanup_handover)
{
	char tag[32], arg[64];
	struct fm f;
	struct proto_msg m;
	static const uint64_t idx5[] = { 5 };
	static const char reason[] = "\x83\xa4kind\xa7" "crashed"
	    "\xa6signal\xa7SIGSEGV\xa6worker\x82\xa3pid\x0c\xa4host\xa1h";
	size_t len;
	int n;

	fm_tag(tag, sizeof(tag), "orphan");
	len = strlen(tag);
	fm_start(&f);
	n = snprintf(arg, sizeof(arg), "\x82\xa3tag%c%s\xa5index\x05",
	    (char)(0xa0 | len), tag);
	ck_assert_int_eq(proto_put_cleanup(fm_w(&f), 77, 700, 1, 1, "crash", "record",
	    arg, (size_t)n, reason, sizeof(reason) - 1), 0);
	ck_assert_int_eq(proto_put_cleanup(fm_w(&f), 78, 700, 2, 1, "crash", "nope",
	    arg, (size_t)n, reason, sizeof(reason) - 1), 0);
	fm_flush(&f);
	/* Two pool threads may finish in either order. */
	for (int i = 0; i < 2; i++) {
		fm_next(&f, &m);
		ck_assert_int_eq(m.type, PROTO_CLEANUP_DONE);
		ck_assert_uint_eq(m.seq, 0);
		if (m.id == 77) {
			ck_assert_uint_eq(m.flags, 1);
		} else {
			ck_assert_uint_eq(m.id, 78);
			ck_assert_uint_eq(m.flags, 0);
			ck_assert_uint_eq(m.str.len, 15);
			ck_assert_mem_eq(m.str.ptr, "unknown cleanup", 15);
		}
	}
	fm_records(&f, 1, tag, 1, idx5, "crashed");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/* ---- The API: cleanup registration, contexts, logging ------------------------ */

/* Expect DEFER(id, seq, name, arg) and leave it unacknowledged. */
static void
fm_expect_defer(struct fm *f, uint64_t id, uint64_t seq, const char *name,
    const char *arg, size_t arg_len)
{
	struct proto_msg m;

	fm_expect(f, &m, PROTO_DEFER, id);
	ck_assert_uint_eq(m.seq, seq);
	ck_assert_uint_eq(m.str.len, strlen(name));
	ck_assert_mem_eq(m.str.ptr, name, strlen(name));
	fm_expect_bytes(&m.value, arg, arg_len);
}

/*
 * wspool_defer_end blocks until the master journals the registration:
 * while DEFER 1 waits, another call is answered and call 1 says nothing
 * more. Then each cleanup gets its context: call id, index, key, route,
 * attempt 1, reason null.
 */
START_TEST(test_defer_journaled)
{
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, NULL);
	FM_CALL(&f, 5, "defer_ctx", "[2]");
	fm_expect_defer(&f, 5, 1, "ctx", "\x00", 1);
	FM_CALL(&f, 6, "one", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 6);
	fm_ack(&f, 5, 1);
	fm_expect_defer(&f, 5, 2, "ctx", "\x01", 1);
	fm_ack(&f, 5, 2);
	fm_expect(&f, &m, PROTO_RESULT, 5);
	FM_BYTES(&m.value, "2");
	fm_cleanup_done(&f, 5, 1, 1);
	fm_cleanup_done(&f, 5, 2, 1);
	fm_expect_log(&f, 5, WSPOOL_LOG_INFO, "ctx call=5 index=0 key=%s:5.0 "
	    "attempt=1 route=defer_ctx name=ctx reason=null arg=0");
	fm_expect_log(&f, 5, WSPOOL_LOG_INFO, "ctx call=5 index=1 key=%s:5.1 "
	    "attempt=1 route=defer_ctx name=ctx reason=null arg=1");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/*
 * Refused at once, with no DEFER: a copy of a table entry, two values,
 * an end without a begin. Nothing packed registers nil.
 */
START_TEST(test_defer_refused)
{
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, NULL);
	FM_CALL(&f, 1, "defer_odd", "[]");
	/* The first DEFER is the nil one, seq 1: the copy sent nothing. */
	fm_expect_defer(&f, 1, 1, "ctx", "\xc0", 1);
	fm_ack(&f, 1, 1);
	fm_expect(&f, &m, PROTO_RESULT, 1);
	FM_BYTES(&m.value, "[-1,0,-1,-1]");
	fm_cleanup_done(&f, 1, 1, 1);
	fm_expect_log(&f, 1, WSPOOL_LOG_INFO, "ctx call=1 index=0 key=%s:1.0 "
	    "attempt=1 route=defer_odd name=ctx reason=null arg=-1");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/* The deprecated calls still work: wspool_defer by name, and a cleanup
 * with only .fn. */
START_TEST(test_defer_legacy)
{
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, NULL);
	FM_CALL(&f, 1, "defer_legacy", "[]");
	fm_expect_defer(&f, 1, 1, "legacy", "\xc3", 1);
	fm_ack(&f, 1, 1);
	fm_expect(&f, &m, PROTO_RESULT, 1);
	FM_BYTES(&m.value, "[0,-1]");
	fm_cleanup_done(&f, 1, 1, 1);
	fm_expect_log(&f, 1, WSPOOL_LOG_INFO, "legacy reason=null arg=1");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/*
 * A registration the master does not acknowledge in time is not
 * registered: wspool_defer_end says so (the handler fails 503 here), the
 * worker withdraws it with a CLEANUP_DONE, and it never runs: with one
 * pool thread, the next call is answered right after, with nothing of
 * the cleanup in between. Waits WSPOOL_DEFER_TIMEOUT_MS (10 s).
 */
START_TEST(test_defer_timeout)
{
	static const char *const args[] = { "--threads", "1", "--max-threads",
		"1", NULL };
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, args);
	FM_CALL(&f, 1, "defer_ctx", "[1]");
	fm_expect_defer(&f, 1, 1, "ctx", "\x00", 1);
	fm_expect(&f, &m, PROTO_CLEANUP_DONE, 1);
	ck_assert_uint_eq(m.seq, 1);
	ck_assert_uint_eq(m.flags, 0);
	fm_expect(&f, &m, PROTO_ERROR, 1);
	ck_assert_int_eq(m.num, 503);
	/* The acknowledgement comes late: ignored. */
	fm_ack(&f, 1, 1);
	FM_CALL(&f, 2, "one", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 2);
	ck_assert_uint_eq(f.fm_nlogs, 0);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/*
 * SIGTERM while a registration waits: not registered, withdrawn, the
 * demo's handler fails, and the cleanup never writes its record.
 */
START_TEST(test_defer_withdrawn)
{
	char tag[32], params[64];
	struct fm f, g;
	struct proto_msg m;
	int n;

	fm_tag(tag, sizeof(tag), "withdrawn");
	fm_start(&f);
	n = snprintf(params, sizeof(params), "[30000,\"%s\"]", tag);
	fm_call(&f, 1, 1, "sleep", params, (size_t)n, 0);
	fm_expect(&f, &m, PROTO_DEFER, 1);
	ck_assert_int_eq(kill(f.fm_pid, SIGTERM), 0);
	fm_expect(&f, &m, PROTO_CLEANUP_DONE, 1);
	ck_assert_uint_eq(m.seq, 1);
	ck_assert_uint_eq(m.flags, 0);
	fm_expect(&f, &m, PROTO_ERROR, 1);
	ck_assert_int_eq(m.num, 500);
	ck_assert_int_eq(fm_wait(&f), 0);
	fm_stop(&f);
	fm_start(&g);
	fm_records(&g, 1, tag, 0, NULL, NULL);
	fm_drain(&g);
	fm_stop(&g);
}
END_TEST

/* A hand-over's context: the call, index and attempt the master sent. */
START_TEST(test_handover_ctx)
{
	static const char reason[] = "\x83\xa4kind\xa7" "crashed"
	    "\xa6signal\xa7SIGSEGV\xa6worker\x82\xa3pid\x0c\xa4host\xa1h";
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, NULL);
	ck_assert_int_eq(proto_put_cleanup(fm_w(&f), 77, 700, 3, 2, "crash",
	    "ctx", "\x05", 1, reason, sizeof(reason) - 1), 0);
	fm_flush(&f);
	fm_expect(&f, &m, PROTO_CLEANUP_DONE, 77);
	ck_assert_uint_eq(m.seq, 0);
	ck_assert_uint_eq(m.flags, 1);
	fm_expect_log(&f, 700, WSPOOL_LOG_INFO, "ctx call=700 index=2 "
	    "key=%s:700.2 attempt=2 route=crash name=ctx reason=crashed arg=5");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/* A hand-over with no registration seq is garbage: the worker leaves. */
START_TEST(test_handover_bad_seq)
{
	struct fm f;

	fm_start_test_module(&f, NULL);
	ck_assert_int_eq(proto_put_cleanup(fm_w(&f), 77, 700, 0, 1, "crash",
	    "ctx", "\x05", 1, NULL, 0), 0);
	fm_flush(&f);
	ck_assert_int_eq(fm_wait(&f), 1);
	fm_stop(&f);
}
END_TEST

/* wspool_log: a LOG with the call id; levels clamped, control characters
 * made spaces; call NULL: call id 0. */
START_TEST(test_log)
{
	struct fm f;
	struct proto_msg m;

	fm_start_test_module(&f, NULL);
	FM_CALL(&f, 3, "log", "[]");
	fm_expect(&f, &m, PROTO_RESULT, 3);
	ck_assert_uint_eq(f.fm_nlogs, 3);
	fm_expect_log(&f, 3, WSPOOL_LOG_WARN, "hello 42");
	fm_expect_log(&f, 3, WSPOOL_LOG_DEBUG, "two lines in one");
	fm_expect_log(&f, 0, WSPOOL_LOG_ERROR, "about no call");
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/* One thread blocked in a handler: the pool grows to answer the next. */
START_TEST(test_pool_grows)
{
	static const char *const args[] = { "--threads", "1", "--max-threads",
		"3", NULL };
	static const char reason[] = "\x81\xa4kind\xa9" "cancelled";
	struct fm f;
	struct proto_msg m;
	uint64_t ids;

	fm_start_args(&f, args);
	FM_CALL(&f, 1, "sleep", "[30000]");
	FM_CALL(&f, 2, "sleep", "[30000]");
	FM_CALL(&f, 3, "echo", "[42]");
	fm_expect(&f, &m, PROTO_RESULT, 3);
	FM_BYTES(&m.value, "42");
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 1, reason,
	    sizeof(reason) - 1), 0);
	ck_assert_int_eq(proto_put_cancel(fm_w(&f), 2, reason,
	    sizeof(reason) - 1), 0);
	fm_flush(&f);
	/* Both end (in either order), each with its one terminal ERROR. */
	fm_next(&f, &m);
	ck_assert_int_eq(m.type, PROTO_ERROR);
	ids = m.id;
	fm_next(&f, &m);
	ck_assert_int_eq(m.type, PROTO_ERROR);
	ck_assert_uint_eq(ids + m.id, 3);
	fm_drain(&f);
	fm_stop(&f);
}
END_TEST

/*
 * Calls in flight when DRAIN comes are still answered, also those in the
 * same batch; a call after DRAIN is refused with 503.
 */
START_TEST(test_drain_finishes)
{
	struct fm f;
	struct proto_msg m;
	bool got1 = false, got2 = false;

	fm_start(&f);
	FM_CALL(&f, 1, "sleep", "[50]");
	ck_assert_int_eq(proto_put_call(fm_w(&f), 2, 1, "echo", 4, "[7]", 3,
	    "2", 1, 0), 0);
	ck_assert_int_eq(proto_put_drain(fm_w(&f)), 0);
	ck_assert_int_eq(proto_put_call(fm_w(&f), 3, 1, "echo", 4, "[7]", 3,
	    "3", 1, 0), 0);
	fm_flush(&f);
	for (int i = 0; i < 3; i++) {
		fm_next(&f, &m);
		if (m.id == 3) {
			ck_assert_int_eq(m.type, PROTO_ERROR);
			ck_assert_int_eq(m.num, 503);
			continue;
		}
		ck_assert_int_eq(m.type, PROTO_RESULT);
		if (m.id == 1) {
			FM_BYTES(&m.value, "50");
			got1 = true;
		} else {
			ck_assert_uint_eq(m.id, 2);
			FM_BYTES(&m.value, "7");
			got2 = true;
		}
	}
	ck_assert(got1 && got2);
	ck_assert_int_eq(fm_wait(&f), 0);
	fm_stop(&f);
}
END_TEST

START_TEST(test_master_gone)
{
	struct fm f;
	struct proto_msg m;

	fm_start(&f);
	FM_CALL(&f, 1, "count", "[1000,10]");
	fm_expect(&f, &m, PROTO_CHUNK, 1);
	nng_close(f.fm_pair);
	f.fm_pair_open = false;
	ck_assert_int_eq(fm_wait(&f), 0);
	fm_stop(&f);
}
END_TEST

/* With a worker timeout from WELCOME, an idle worker sends heartbeats,
 * and a master that stays silent for the timeout is lost: over ipc:// the
 * worker then exits. */
START_TEST(test_silent_master)
{
	struct fm f;
	struct proto_msg m;

	fm_welcome_timeout_ms = 600;
	fm_start(&f);
	fm_welcome_timeout_ms = 0;
	fm_next(&f, &m);
	ck_assert_int_eq(m.type, PROTO_HEARTBEAT);
	ck_assert_int_eq(fm_wait(&f), 0);
	fm_stop(&f);
}
END_TEST

/* SIGTERM: running calls are cancelled (reason shutdown), their
 * cleanups run, and the worker exits 0. */
START_TEST(test_sigterm)
{
	char tag[32], params[64];
	struct fm f, g;
	struct proto_msg m;
	static const uint64_t idx0[] = { 0 };
	int n;

	fm_tag(tag, sizeof(tag), "term");
	fm_start(&f);
	n = snprintf(params, sizeof(params), "[1000,10,\"%s\"]", tag);
	fm_call(&f, 1, 1, "count", params, (size_t)n, 0);
	fm_defer(&f, 1, 1, tag, 0);
	fm_expect(&f, &m, PROTO_CHUNK, 1);
	ck_assert_int_eq(kill(f.fm_pid, SIGTERM), 0);
	/* The master still hears the end and the cleanup's report. */
	do
		fm_next(&f, &m);
	while (m.type == PROTO_CHUNK);
	ck_assert_int_eq(m.type, PROTO_END);
	ck_assert_uint_eq(m.id, 1);
	fm_cleanup_done(&f, 1, 1, 1);
	ck_assert_int_eq(fm_wait(&f), 0);
	fm_stop(&f);
	/* Another worker reads the cleanup log. */
	fm_start(&g);
	fm_records(&g, 1, tag, 1, idx0, "shutdown");
	fm_drain(&g);
	fm_stop(&g);
}
END_TEST

/* Still joining: SIGTERM kills at once. */
START_TEST(test_sigterm_joining)
{
	static const char *const args[] = { "--connect",
		"ipc:///tmp/check-worker-nobody-listens", NULL };
	struct fm f;

	memset(&f, 0, sizeof(f));
	fm_spawn(&f, args, DEMO_SO);
	ck_assert_int_eq(kill(f.fm_pid, SIGTERM), 0);
	ck_assert_int_eq(fm_wait(&f), -SIGTERM);
}
END_TEST

START_TEST(test_garbage)
{
	struct fm f;
	nng_msg *msg;

	fm_start(&f);
	ck_assert_int_eq(nng_msg_alloc(&msg, 0), 0);
	ck_assert_int_eq(nng_msg_append(msg, "\x63\x91\x07", 3), 0);
	ck_assert_int_eq(nng_sendmsg(f.fm_pair, msg, 0), 0);
	ck_assert_int_eq(fm_wait(&f), 1);
	fm_stop(&f);
}
END_TEST

/* The worker leaves SIGSEGV to its own handler and then the kernel even
 * under AddressSanitizer (its __asan_default_options), and --memory is
 * RLIMIT_DATA in both builds (ASan's malloc returns NULL too): oom ends
 * in the demo's abort(). */
#define CRASH_SEGV (-SIGSEGV)
#define CRASH_OOM (-SIGABRT)

static const struct {
	const char *how;
	int status;             /* < 0: killed by that signal */
} crash_cases[] = {
	{ "segv", CRASH_SEGV },
	{ "abort", -SIGABRT },
	{ "exit", 3 },
	{ "oom", CRASH_OOM },
	{ "stack", CRASH_SEGV },
};

START_TEST(test_crash)
{
	static const char *const args[] = { "--memory", "512m", NULL };
	char tag[32], params[64];
	const char *how = crash_cases[_i].how;
	struct fm f;
	int n;

	if (getenv("WSPOOL_VALGRIND") != NULL)
		return;
	fm_tag(tag, sizeof(tag), how);
	fm_start_args(&f, args);
	n = snprintf(params, sizeof(params), "[\"%s\",\"%s\"]", how, tag);
	fm_call(&f, 1, 1, "crash", params, (size_t)n, 0);
	fm_defer(&f, 1, 1, tag, 0);
	ck_assert_int_eq(fm_wait(&f), crash_cases[_i].status);
	fm_stop(&f);
}
END_TEST

/* Run the worker with args; return its exit status. */
static int
run_worker(const char *const *args, const char *module)
{
	struct fm f;

	memset(&f, 0, sizeof(f));
	fm_spawn(&f, args, module);
	return fm_wait(&f);
}

START_TEST(test_usage)
{
	static const char *const help[] = { "--help", NULL };
	static const char *const version[] = { "--version", NULL };
	static const char *const none[] = { NULL };
	static const char *const no_module[] = { "--connect", "ipc:///x",
		NULL };
	static const char *const bad_addr[] = { "--connect", "http://x",
		NULL };
	static const char *const bad_threads[] = { "--connect", "ipc:///x",
		"--threads", "0", NULL };
	static const char *const bad_max[] = { "--connect", "ipc:///x",
		"--threads", "8", "--max-threads", "4", NULL };
	static const char *const bad_mem[] = { "--connect", "ipc:///x",
		"--memory", "lots", NULL };
	static const char *const unknown[] = { "--frobnicate", NULL };
	static const char *const check[] = { "--check", NULL };

	ck_assert_int_eq(run_worker(check, DEMO_SO), 0);
	ck_assert_int_eq(run_worker(check, "/nonexistent/module.so"), 1);
	ck_assert_int_eq(run_worker(help, NULL), 0);
	ck_assert_int_eq(run_worker(version, NULL), 0);
	ck_assert_int_eq(run_worker(none, NULL), 2);
	ck_assert_int_eq(run_worker(no_module, NULL), 2);
	ck_assert_int_eq(run_worker(bad_addr, DEMO_SO), 2);
	ck_assert_int_eq(run_worker(bad_threads, DEMO_SO), 2);
	ck_assert_int_eq(run_worker(bad_max, DEMO_SO), 2);
	ck_assert_int_eq(run_worker(bad_mem, DEMO_SO), 2);
	ck_assert_int_eq(run_worker(unknown, DEMO_SO), 2);
}
END_TEST

static const char *const bad_modules[] = {
	"abi", "handler", "protocol", "pattern", "duplicate", "schema", "init",
	"cleanup", "cleanup_name", "result_type", "ts_type",
};

START_TEST(test_bad_module)
{
	static const char *const args[] = { "--connect",
		"ipc:///tmp/check-worker-nobody-listens", NULL };

	static const char *const check[] = { "--check", NULL };

	/* Unbroken, it passes the check. */
	ck_assert_int_eq(run_worker(check, BAD_SO), 0);
	setenv("WSPOOL_BAD_MODULE", bad_modules[_i], 1);
	ck_assert_int_eq(run_worker(args, BAD_SO), 1);
	ck_assert_int_eq(run_worker(check, BAD_SO), 1);
	unsetenv("WSPOOL_BAD_MODULE");
}
END_TEST

START_TEST(test_missing_module)
{
	static const char *const args[] = { "--connect",
		"ipc:///tmp/check-worker-nobody-listens", NULL };

	ck_assert_int_eq(run_worker(args, "/nonexistent/module.so"), 1);
	/* A shared object that is no module: no wspool_module symbol. */
	ck_assert_int_eq(run_worker(args, LIBWSPOOL_SO), 1);
}
END_TEST

/* The good module against a registry nobody serves: "no master". */
START_TEST(test_no_master)
{
	static const char *const args[] = { "--connect",
		"ipc:///tmp/check-worker-nobody-listens", NULL };

	ck_assert_int_eq(run_worker(args, DEMO_SO), 1);
}
END_TEST

static Suite *
worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *calls = tcase_create("calls");
	TCase *ends = tcase_create("ends");
	TCase *refusals = tcase_create("refusals");

	tcase_set_timeout(calls, 60);
	tcase_add_test(calls, test_echo_add);
	tcase_add_test(calls, test_refusals);
	tcase_add_test(calls, test_fail);
	tcase_add_test(calls, test_subscriptions);
	tcase_add_test(calls, test_credit);
	tcase_add_test(calls, test_cancel);
	tcase_add_test(calls, test_context);
	tcase_add_test(calls, test_notes_and_settle);
	tcase_add_test(calls, test_cleanup_handover);
	tcase_add_test(calls, test_defer_journaled);
	tcase_add_test(calls, test_defer_refused);
	tcase_add_test(calls, test_defer_legacy);
	tcase_add_test(calls, test_defer_timeout);
	tcase_add_test(calls, test_handover_ctx);
	tcase_add_test(calls, test_log);
	suite_add_tcase(s, calls);

	tcase_set_timeout(ends, 60);
	tcase_add_test(ends, test_pool_grows);
	tcase_add_test(ends, test_drain_finishes);
	tcase_add_test(ends, test_master_gone);
	tcase_add_test(ends, test_silent_master);
	tcase_add_test(ends, test_garbage);
	tcase_add_test(ends, test_sigterm);
	tcase_add_test(ends, test_sigterm_joining);
	tcase_add_test(ends, test_defer_withdrawn);
	tcase_add_test(ends, test_handover_bad_seq);
	tcase_add_loop_test(ends, test_crash, 0,
	    sizeof(crash_cases) / sizeof(crash_cases[0]));
	suite_add_tcase(s, ends);

	tcase_set_timeout(refusals, 60);
	tcase_add_test(refusals, test_usage);
	tcase_add_loop_test(refusals, test_bad_module, 0,
	    sizeof(bad_modules) / sizeof(bad_modules[0]));
	tcase_add_test(refusals, test_missing_module);
	tcase_add_test(refusals, test_no_master);
	suite_add_tcase(s, refusals);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	snprintf(fm_log_path, sizeof(fm_log_path),
	    "/tmp/check-worker-%ld.log", (long)getpid());
	unlink(fm_log_path);
	sr = srunner_create(worker_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Stop nng's threads, for leak checkers. */
	nng_fini();
	unlink(fm_log_path);
	/* The notes file sits next to the log. */
	{
		char notes[300];

		snprintf(notes, sizeof(notes), "%s.notes", fm_log_path);
		unlink(notes);
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
