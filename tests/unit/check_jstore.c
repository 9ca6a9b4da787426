/*
 * check_jstore.c: the journal's backends through their one interface
 * (jstore.h's ops table): the same tests for the LMDB file and for Redis
 * (a redis-server this test starts on a free loopback port, in a
 * temporary directory): a commit's callback, records in key order with
 * their bytes, the incarnation, a reopen, bad records deleted at start;
 * then what only Redis has: a lease taken over (fenced), Redis stopped
 * (commits fail, puts refused) and back (reconnected).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/journal.h"
#include "master/jstore.h"
#include "master/jstore_lmdb.h"
#include "master/jstore_redis.h"
#include "master/master.h"
#include "master/metrics.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER "redis-server"
#endif

struct server srv;

static struct {
	char dir[64];              /* the LMDB files, Redis's files */
	pid_t redis;
	int port;
} env;

static const struct jstore_ops *const backends[] = {
	&jstore_lmdb_ops, &jstore_redis_ops,
};

/* ---- a redis-server of the test's own -------------------------------------- */

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static redisContext *
redis_cli(void)
{
	struct timeval tv = { 2, 0 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", env.port, tv);

	if (rc != NULL && rc->err) {
		redisFree(rc);
		return NULL;
	}
	return rc;
}

/* Once for the whole run (an unchecked fixture: the parent's). */
static void
redis_start(void)
{
	char port[16];
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	redisContext *rc = NULL;

	log_level = LOG_ERROR;
	snprintf(env.dir, sizeof(env.dir), "/tmp/check_jstore-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(env.dir));
	env.port = free_port();
	snprintf(port, sizeof(port), "%d", env.port);
	if ((env.redis = fork()) == 0) {
		execlp(REDIS_SERVER, REDIS_SERVER, "--port", port, "--bind",
		    "127.0.0.1", "--dir", env.dir, "--appendonly", "yes",
		    "--appendfsync", "always", "--save", "", "--logfile",
		    "redis.log", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(env.redis, 0);
	for (int i = 0; i < 500 && (rc = redis_cli()) == NULL; i++)
		nanosleep(&pause, NULL);
	ck_assert_msg(rc != NULL, "redis-server (%s) did not start: "
	    "tools/deps.sh installs it", REDIS_SERVER);
	redisFree(rc);
}

static void
redis_stop(void)
{
	char cmd[96];

	kill(env.redis, SIGCONT);
	kill(env.redis, SIGTERM);
	waitpid(env.redis, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", env.dir);
}

/* ---- fixtures ------------------------------------------------------------------ */

static char where[192];
static char node[64];

static void
setup(void)
{
	static unsigned n;

	log_level = LOG_ERROR;
	memset(&metrics_counters, 0, sizeof(metrics_counters));
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	snprintf(node, sizeof(node), "t%d-%u", (int)getpid(), n++);
}

static void
teardown(void)
{
	event_base_free(srv.base);
	srv.base = NULL;
	metrics_fini();
}

/* Where backend i keeps node's journal. */
static const char *
where_of(int i)
{
	if (i == 0)
		snprintf(where, sizeof(where), "%s/%s", env.dir, node);
	else
		snprintf(where, sizeof(where),
		    "redis://127.0.0.1:%d/0?lease=4000&timeout=1000", env.port);
	return where;
}

static void
status_cb(void *arg, int status)
{
	*(int *)arg = status;
}

static const struct timespec loop_pause = { 0, 1000 * 1000 };

/* Run the loop until cond holds, or fail after seconds. */
#define LOOP_UNTIL(cond, seconds, what) do { \
	uint64_t end_ = clock_now_ms() + (uint64_t)((seconds) * 1000); \
	while (!(cond)) { \
		ck_assert_msg(clock_now_ms() < end_, "timed out waiting for %s", \
		    what); \
		event_base_loop(srv.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); \
		if (!(cond)) \
			nanosleep(&loop_pause, NULL); \
	} \
} while (0)

static int
commit(const struct jstore_ops *ops)
{
	int status = 99;

	ops->js_commit(status_cb, &status);
	LOOP_UNTIL(status != 99, 10, "a commit's outcome");
	return status;
}

/* The same, through the journal. */
static int
commit_journal(void)
{
	int status = 99;

	journal_commit(status_cb, &status);
	LOOP_UNTIL(status != 99, 10, "the journal's commit");
	return status;
}

struct seen {
	uint64_t s_call[8], s_seq[8];
	char s_val[8][16];
	size_t s_n;
	int s_answer;            /* what the callback returns */
};

static int
seen_cb(void *ctx, uint64_t call_id, uint64_t seq, const void *value,
    size_t len)
{
	struct seen *s = ctx;

	ck_assert_uint_lt(s->s_n, 8);
	s->s_call[s->s_n] = call_id;
	s->s_seq[s->s_n] = seq;
	snprintf(s->s_val[s->s_n], sizeof(s->s_val[0]), "%.*s", (int)len,
	    (const char *)value);
	s->s_n++;
	return s->s_answer;
}

/* ---- every backend ------------------------------------------------------------- */

START_TEST(test_put_del_commit_scan)
{
	const struct jstore_ops *ops = backends[_i];
	struct seen s = { .s_answer = 0 };
	uint32_t inc, inc2;

	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_uint_ge(inc, 1);
	ck_assert(ops->js_available());
	ck_assert(!ops->js_dirty());
	/* Out of key order; one deleted in the same batch. */
	ck_assert_int_eq(ops->js_put(1ull << 40 | 9, 2, "v9.2", 4), 0);
	ck_assert_int_eq(ops->js_put(1ull << 40 | 3, 1, "v3.1", 4), 0);
	ck_assert_int_eq(ops->js_put(1ull << 40 | 9, 1, "v9.1", 4), 0);
	ck_assert_int_eq(ops->js_put(7, 1, "gone", 4), 0);
	ck_assert_int_eq(ops->js_del(7, 1), 0);
	ck_assert(ops->js_dirty());
	ck_assert_int_eq(commit(ops), 0);
	ck_assert(!ops->js_dirty());
	ck_assert_uint_eq(ops->js_inflight(), 0);
	/* A later batch deletes one more. */
	ck_assert_int_eq(ops->js_del(1ull << 40 | 9, 2), 0);
	ck_assert_int_eq(commit(ops), 0);
	ops->js_close();

	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc2), 0);
	ck_assert_uint_gt(inc2, inc);
	ck_assert_int_eq(ops->js_scan(seen_cb, &s), 0);
	ck_assert_uint_eq(s.s_n, 2);
	ck_assert_uint_eq(s.s_call[0], 1ull << 40 | 3);
	ck_assert_uint_eq(s.s_seq[0], 1);
	ck_assert_str_eq(s.s_val[0], "v3.1");
	ck_assert_uint_eq(s.s_call[1], 1ull << 40 | 9);
	ck_assert_uint_eq(s.s_seq[1], 1);
	ck_assert_str_eq(s.s_val[1], "v9.1");
	ops->js_close();
}
END_TEST

/* A scan callback that finds a record bad gets it deleted. */
START_TEST(test_scan_deletes_bad)
{
	const struct jstore_ops *ops = backends[_i];
	struct seen s = { .s_answer = 1 }, again = { .s_answer = 0 };
	uint32_t inc;

	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_put(5, 1, "bad", 3), 0);
	ck_assert_int_eq(commit(ops), 0);
	ops->js_close();
	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_scan(seen_cb, &s), 0);
	ck_assert_uint_eq(s.s_n, 1);
	if (ops->js_dirty())
		ck_assert_int_eq(commit(ops), 0);
	ops->js_close();
	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_scan(seen_cb, &again), 0);
	ck_assert_uint_eq(again.s_n, 0);
	ops->js_close();
}
END_TEST

/* A new incarnation (2^40 calls) is kept: the next open is above it. */
START_TEST(test_incarnation)
{
	const struct jstore_ops *ops = backends[_i];
	uint32_t inc, next, reopened;

	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_incarnation(&next), 0);
	ck_assert_uint_eq(next, inc + 1);
	if (ops->js_dirty())
		ck_assert_int_eq(commit(ops), 0);
	ops->js_close();
	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &reopened), 0);
	ck_assert_uint_gt(reopened, next);
	ops->js_close();
}
END_TEST

/* The journal on top: records that do not decode are logged, deleted,
 * and the good ones become orphans (reason lost). */
START_TEST(test_journal_skips_garbage)
{
	const struct jstore_ops *ops = backends[_i];
	struct seen s = { .s_answer = 0 };
	struct journal_orphan o;
	uint32_t inc;

	journal_init();
	ck_assert_int_eq(journal_open(where_of(_i), node, 100, "old", NULL), 0);
	ck_assert_int_eq(journal_defer(1, 42, 1, "r", "c", 1, "\xc0", 1), 0);
	ck_assert_int_eq(commit_journal(), 0);
	journal_fini();
	/* Garbage beside it, through the same interface. */
	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_put(43, 1, "\x95\xa1r", 3), 0);     /* cut */
	ck_assert_int_eq(ops->js_put(44, 1, "\x93\x01\x02\x03", 4), 0); /* 3 */
	ck_assert_int_eq(ops->js_put(45, 0, "\xc0", 1), 0);  /* seq 0 */
	ck_assert_int_eq(commit(ops), 0);
	ops->js_close();

	journal_init();
	ck_assert_int_eq(journal_open(where_of(_i), node, 200, "new", NULL), 0);
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert(journal_next_orphan(&o));
	ck_assert_uint_eq(o.jo_call_id, 42);
	ck_assert_str_eq(o.jo_name, "c");
	journal_fini();
	ck_assert_int_eq(ops->js_open(where_of(_i), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_scan(seen_cb, &s), 0);
	ck_assert_uint_eq(s.s_n, 1);
	ck_assert_uint_eq(s.s_call[0], 42);
	ops->js_close();
}
END_TEST

/* ---- Redis only ------------------------------------------------------------------ */

static char fenced_why[256];

static void
fenced_cb(const char *why)
{
	snprintf(fenced_why, sizeof(fenced_why), "%s", why);
}

static void
redis_set(const char *what, const char *value)
{
	redisContext *rc = redis_cli();
	redisReply *r;

	ck_assert_ptr_nonnull(rc);
	r = redisCommand(rc, "SET wspool:{%s}:%s %s", node, what, value);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	redisFree(rc);
}

/* Another master took the node: the next commit fails, the master is
 * told, and nothing is accepted any more. */
START_TEST(test_redis_fenced)
{
	const struct jstore_ops *ops = &jstore_redis_ops;
	uint32_t inc;

	fenced_why[0] = '\0';
	ck_assert_int_eq(ops->js_open(where_of(1), node, fenced_cb, &inc), 0);
	ck_assert_int_eq(ops->js_put(1, 1, "x", 1), 0);
	ck_assert_int_eq(commit(ops), 0);
	redis_set("lock", "another-master");
	redis_set("owner", "another-master");
	ck_assert_int_eq(ops->js_put(2, 1, "y", 1), 0);
	ck_assert_int_eq(commit(ops), -1);
	LOOP_UNTIL(fenced_why[0] != '\0', 10, "the fenced hook");
	ck_assert_msg(strstr(fenced_why, "FENCED") != NULL, "%s", fenced_why);
	ck_assert(!ops->js_available());
	ck_assert_int_eq(ops->js_put(3, 1, "z", 1), -1);
	ops->js_close();
}
END_TEST

/* Redis stopped: a commit fails within the timeout, puts are refused,
 * deletions are kept; back: reconnected, and the deletions (and the keys
 * of the refused registrations) go through. */
START_TEST(test_redis_away_and_back)
{
	const struct jstore_ops *ops = &jstore_redis_ops;
	struct seen s = { .s_answer = 0 };
	uint32_t inc;

	ck_assert_int_eq(ops->js_open(where_of(1), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_put(1, 1, "a", 1), 0);
	ck_assert_int_eq(commit(ops), 0);
	ck_assert_int_eq(kill(env.redis, SIGSTOP), 0);
	ck_assert_int_eq(ops->js_put(2, 1, "b", 1), 0);
	ck_assert_int_eq(commit(ops), -1);
	ck_assert(!ops->js_available());
	ck_assert_int_eq(ops->js_put(3, 1, "c", 1), -1);
	ck_assert_int_eq(ops->js_del(1, 1), 0);
	/* Only deletions: nothing to refuse. */
	ck_assert_int_eq(commit(ops), 0);
	ck_assert_int_eq(kill(env.redis, SIGCONT), 0);
	LOOP_UNTIL(ops->js_available(), 20, "Redis to be back");
	ck_assert_int_eq(ops->js_put(4, 1, "d", 1), 0);
	ck_assert_int_eq(commit(ops), 0);
	ops->js_close();
	ck_assert_int_eq(ops->js_open(where_of(1), node, NULL, &inc), 0);
	ck_assert_int_eq(ops->js_scan(seen_cb, &s), 0);
	ck_assert_uint_eq(s.s_n, 1);
	ck_assert_uint_eq(s.s_call[0], 4);
	ops->js_close();
}
END_TEST

static Suite *
jstore_suite(void)
{
	Suite *s = suite_create("jstore");
	TCase *tc;

	tc = tcase_create("every backend");
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_put_del_commit_scan, 0, 2);
	tcase_add_loop_test(tc, test_scan_deletes_bad, 0, 2);
	tcase_add_loop_test(tc, test_incarnation, 0, 2);
	tcase_add_loop_test(tc, test_journal_skips_garbage, 0, 2);
	tcase_add_test(tc, test_redis_fenced);
	tcase_add_test(tc, test_redis_away_and_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jstore_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
