/*
 * check_journal.c: unit tests for master/journal.c, the store of deferred
 * cleanups, alone: registration and done, the call's end reason (first
 * wins), a worker's death with its orphans in order, attempts counted and
 * a cleanup dropped after JOURNAL_MAX_ATTEMPTS, and the hand-over
 * bookkeeping that the scheduler asks about.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wspool.h>

#include "common/log.h"
#include "master/journal.h"
#include "master/master.h"
#include "master/metrics.h"
#include "proto/proto.h"

/* Workers are named by their link's w_gen: any distinct numbers do. */
#define W1 11
#define W2 12
#define W3 13

#define ARG "\xa3" "arg"     /* the packed argument "arg" */

struct server srv;           /* the Redis backend's loop (srv.base) */

static void
status_cb(void *arg, int status)
{
	*(int *)arg = status;
}

/* Commit the turn; LMDB answers at once. */
static int
commit_now(void)
{
	int status = 99;

	journal_commit(status_cb, &status);
	ck_assert_int_ne(status, 99);
	return status;
}

static void
setup(void)
{
	log_level = LOG_ERROR;
	memset(&metrics_counters, 0, sizeof(metrics_counters));
	journal_init();
}

static void
teardown(void)
{
	journal_fini();
	metrics_fini();
}

/* Journal cleanup seq of call_id on worker wid (route "r", name "c<seq>"). */
static void
defer(uint64_t wid, uint64_t call_id, uint64_t seq)
{
	char name[16];
	int n = snprintf(name, sizeof(name), "c%llu", (unsigned long long)seq);

	ck_assert_msg(journal_defer(wid, call_id, seq, "r", name, (size_t)n,
	    ARG, sizeof(ARG) - 1) == 0,
	    "journal_defer(worker %llu, call %llu, seq %llu) failed",
	    (unsigned long long)wid, (unsigned long long)call_id,
	    (unsigned long long)seq);
}

static struct wspool_reason
reason(enum wspool_reason_kind kind)
{
	struct wspool_reason r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.status = -1;
	return r;
}

static struct wspool_reason
crash(const char *sig)
{
	struct wspool_reason r = reason(WSPOOL_REASON_CRASHED);

	r.signal = sig;
	r.worker_pid = 42;
	r.worker_host = "h";
	return r;
}

/* The next orphan, which must exist. */
static struct journal_orphan
next_orphan(void)
{
	struct journal_orphan o;

	ck_assert_msg(journal_next_orphan(&o), "no orphan waiting, %zu pending",
	    journal_pending());
	return o;
}

/* The orphan's packed reason, decoded: its kind, and its signal in sig. */
static enum wspool_reason_kind
orphan_reason(const struct journal_orphan *o, char *sig, size_t sigsz)
{
	struct proto_bytes b = { o->jo_reason, o->jo_reason_len };
	struct wspool_reason r;
	msgpack_zone zone;
	msgpack_object obj;
	char buf[256];

	ck_assert_ptr_nonnull(o->jo_reason);
	msgpack_zone_init(&zone, 256);
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &obj), 0);
	ck_assert_int_eq(proto_unpack_reason(&obj, &r, buf, sizeof(buf)), 0);
	msgpack_zone_destroy(&zone);
	snprintf(sig, sigsz, "%s", r.signal ? r.signal : "");
	return r.kind;
}

/* Hand the next orphan to wid and return it. */
static struct journal_orphan
hand_over(uint64_t wid)
{
	struct journal_orphan o = next_orphan();

	ck_assert_msg(!journal_handing_to(wid),
	    "worker %llu already runs a hand-over", (unsigned long long)wid);
	journal_handed_over(o.jo_id, wid);
	ck_assert_msg(journal_handing_to(wid),
	    "orphan %llu handed to worker %llu, which does not run it",
	    (unsigned long long)o.jo_id, (unsigned long long)wid);
	return o;
}

/* ---- registration and done ------------------------------------------------------ */

START_TEST(test_defer_then_done)
{
	defer(W1, 7, 1);
	defer(W1, 7, 2);
	ck_assert_uint_eq(journal_pending(), 2);
	ck_assert(journal_has_call(7));
	ck_assert(!journal_has_call(8));
	ck_assert_int_eq(journal_done(W1, 7, 1, true, false, NULL, 0), JOURNAL_DONE_OWN);
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert(journal_has_call(7));
	ck_assert_int_eq(journal_done(W1, 7, 2, false, false, "boom", 4), JOURNAL_DONE_OWN);
	ck_assert_uint_eq(journal_pending(), 0);
	ck_assert_msg(!journal_has_call(7), "call 7 kept after its last cleanup");
	/* A failed cleanup ran too: both count. */
	ck_assert_uint_eq(metrics_counters.cleanup_runs_total, 2);
	ck_assert(!journal_next_orphan(&(struct journal_orphan){ 0 }));
}
END_TEST

/* A registration its worker took back never ran: no run, no failure. */
START_TEST(test_withdrawn)
{
	defer(W1, 7, 1);
	ck_assert_int_eq(journal_done(W1, 7, 1, false, true,
	    "not registered: not acknowledged in time", 41), JOURNAL_DONE_OWN);
	ck_assert_uint_eq(journal_pending(), 0);
	ck_assert_uint_eq(metrics_counters.cleanup_runs_total, 0);
	ck_assert_int_eq(journal_done(W1, 7, 1, false, true, NULL, 0),
	    JOURNAL_DONE_UNKNOWN);
}
END_TEST

START_TEST(test_done_unknown)
{
	defer(W1, 7, 1);
	/* Another worker, another seq, another call, a hand-over id: none
	 * of them is pending there. */
	ck_assert_int_eq(journal_done(W2, 7, 1, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_int_eq(journal_done(W1, 7, 2, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_int_eq(journal_done(W1, 8, 1, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_int_eq(journal_done(W1, 1, 0, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert_uint_eq(metrics_counters.cleanup_runs_total, 0);
	/* Twice: the second is a repeat (at least once), ignored. */
	ck_assert_int_eq(journal_done(W1, 7, 1, true, false, NULL, 0), JOURNAL_DONE_OWN);
	ck_assert_int_eq(journal_done(W1, 7, 1, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_uint_eq(metrics_counters.cleanup_runs_total, 1);
}
END_TEST

/* ---- the end reason --------------------------------------------------------------- */

START_TEST(test_first_reason_wins)
{
	struct wspool_reason cancelled = reason(WSPOOL_REASON_CANCELLED);
	struct wspool_reason timeout = reason(WSPOOL_REASON_TIMEOUT);
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan o;
	char sig[32];

	defer(W1, 7, 1);
	journal_call_ended(7, &cancelled, false);
	journal_call_ended(7, &timeout, false);
	ck_assert_uint_eq(journal_worker_gone(W1, &segv, true), 1);
	o = next_orphan();
	ck_assert_msg(orphan_reason(&o, sig, sizeof(sig)) == WSPOOL_REASON_CANCELLED,
	    "the orphan's reason is not the call's first end reason");
}
END_TEST

START_TEST(test_crash_reason_when_not_ended)
{
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan o;
	char sig[32];

	defer(W1, 7, 1);
	ck_assert_uint_eq(journal_worker_gone(W1, &segv, true), 1);
	o = next_orphan();
	ck_assert_int_eq(orphan_reason(&o, sig, sizeof(sig)), WSPOOL_REASON_CRASHED);
	ck_assert_str_eq(sig, "SIGSEGV");
	/* The call had not ended: its cleanup was not running, no blame. */
	ck_assert_uint_eq(o.jo_attempt, 1);
	ck_assert_uint_eq(o.jo_call_id, 7);
	ck_assert_uint_eq(o.jo_seq, 1);
	ck_assert_str_eq(o.jo_route, "r");
	ck_assert_str_eq(o.jo_name, "c1");
	ck_assert_uint_eq(o.jo_arg_len, sizeof(ARG) - 1);
	ck_assert_int_eq(memcmp(o.jo_arg, ARG, o.jo_arg_len), 0);
}
END_TEST

START_TEST(test_call_ended_without_cleanups)
{
	struct wspool_reason none = reason(WSPOOL_REASON_NONE);

	/* Nothing journaled for call 9: nothing to record. */
	journal_call_ended(9, &none, true);
	ck_assert(!journal_has_call(9));
	ck_assert_uint_eq(journal_pending(), 0);
}
END_TEST

/* ---- deaths and orphans ---------------------------------------------------------------- */

START_TEST(test_orphan_order)
{
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan o;

	defer(W1, 7, 1);
	defer(W2, 8, 1);      /* another worker's: stays where it is */
	defer(W1, 9, 1);
	defer(W1, 7, 2);
	ck_assert_uint_eq(journal_worker_gone(W1, &segv, true), 3);
	ck_assert_uint_eq(metrics_counters.cleanups_retried_total, 3);
	ck_assert_uint_eq(journal_pending(), 4);
	/* Calls in the order they were journaled, each call's cleanups in
	 * registration order. */
	o = hand_over(W3);
	ck_assert_msg(o.jo_call_id == 7 && o.jo_seq == 1, "first orphan %llu/%llu",
	    (unsigned long long)o.jo_call_id, (unsigned long long)o.jo_seq);
	o = hand_over(W2);
	ck_assert_msg(o.jo_call_id == 7 && o.jo_seq == 2, "second orphan %llu/%llu",
	    (unsigned long long)o.jo_call_id, (unsigned long long)o.jo_seq);
	o = next_orphan();
	ck_assert_msg(o.jo_call_id == 9 && o.jo_seq == 1, "third orphan %llu/%llu",
	    (unsigned long long)o.jo_call_id, (unsigned long long)o.jo_seq);
	/* W2's own cleanup of call 8 is still its own. */
	ck_assert_int_eq(journal_done(W2, 8, 1, true, false, NULL, 0), JOURNAL_DONE_OWN);
}
END_TEST

START_TEST(test_hand_over_done)
{
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan a, b;

	defer(W1, 7, 1);
	defer(W1, 7, 2);
	journal_worker_gone(W1, &segv, true);
	a = hand_over(W2);
	b = hand_over(W3);
	ck_assert_uint_ne(a.jo_id, b.jo_id);
	ck_assert(!journal_next_orphan(&(struct journal_orphan){ 0 }));
	/* A hand-over is done by its id with seq 0, only where it runs. */
	ck_assert_int_eq(journal_done(W3, a.jo_id, 0, true, false, NULL, 0),
	    JOURNAL_DONE_UNKNOWN);
	ck_assert_int_eq(journal_done(W2, 7, 1, true, false, NULL, 0), JOURNAL_DONE_UNKNOWN);
	ck_assert_int_eq(journal_done(W2, a.jo_id, 0, true, false, NULL, 0),
	    JOURNAL_DONE_HANDOVER);
	ck_assert_msg(!journal_handing_to(W2), "W2 still runs a hand-over");
	ck_assert(journal_handing_to(W3));
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert_int_eq(journal_done(W3, b.jo_id, 0, true, false, NULL, 0),
	    JOURNAL_DONE_HANDOVER);
	ck_assert_uint_eq(journal_pending(), 0);
	ck_assert(!journal_has_call(7));
}
END_TEST

/* A terminal call on a dying worker: the first cleanup not done is the
 * one that was running; the death counts against it alone. */
START_TEST(test_blame_first_pending)
{
	struct wspool_reason none = reason(WSPOOL_REASON_NONE);
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan o;

	defer(W1, 7, 1);
	defer(W1, 7, 2);
	defer(W1, 7, 3);
	journal_call_ended(7, &none, true);
	ck_assert_int_eq(journal_done(W1, 7, 1, true, false, NULL, 0), JOURNAL_DONE_OWN);
	journal_worker_gone(W1, &segv, true);
	o = hand_over(W2);
	ck_assert_uint_eq(o.jo_seq, 2);
	ck_assert_msg(o.jo_attempt == 2, "the running cleanup: attempt %u, want 2",
	    o.jo_attempt);
	o = next_orphan();
	ck_assert_uint_eq(o.jo_seq, 3);
	ck_assert_msg(o.jo_attempt == 1, "a cleanup not yet run: attempt %u, want 1",
	    o.jo_attempt);
}
END_TEST

START_TEST(test_drop_after_max_attempts)
{
	struct wspool_reason none = reason(WSPOOL_REASON_NONE);
	struct wspool_reason segv = crash("SIGSEGV");
	struct journal_orphan o;
	uint64_t wid = W1;

	defer(W1, 7, 1);
	journal_call_ended(7, &none, true);
	/* Each death while it runs counts, until the last one drops it. */
	for (unsigned i = 1; i < JOURNAL_MAX_ATTEMPTS; i++) {
		ck_assert_uint_eq(journal_worker_gone(wid, &segv, true), 1);
		o = hand_over(++wid);
		ck_assert_msg(o.jo_attempt == i + 1, "after %u deaths: attempt %u",
		    i, o.jo_attempt);
	}
	ck_assert_uint_eq(metrics_counters.cleanups_dropped_total, 0);
	ck_assert_uint_eq(journal_worker_gone(wid, &segv, true), 0);
	ck_assert_msg(journal_pending() == 0, "dropped after %d deaths: %zu pending",
	    JOURNAL_MAX_ATTEMPTS, journal_pending());
	ck_assert_uint_eq(metrics_counters.cleanups_dropped_total, 1);
	ck_assert(!journal_has_call(7));
	ck_assert(!journal_handing_to(wid));
}
END_TEST

/* An outside SIGKILL or a shutdown says nothing about the cleanup. */
START_TEST(test_deaths_that_do_not_count)
{
	struct wspool_reason none = reason(WSPOOL_REASON_NONE);
	struct wspool_reason kill = crash("SIGKILL");
	struct journal_orphan o;
	uint64_t wid = W1;

	defer(W1, 7, 1);
	journal_call_ended(7, &none, true);
	for (int i = 0; i < 2 * JOURNAL_MAX_ATTEMPTS; i++) {
		ck_assert_uint_eq(journal_worker_gone(wid, &kill, false), 1);
		o = hand_over(++wid);
		ck_assert_uint_eq(o.jo_attempt, 1);
	}
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert_uint_eq(metrics_counters.cleanups_dropped_total, 0);
}
END_TEST

START_TEST(test_gone_without_cleanups)
{
	struct wspool_reason segv = crash("SIGSEGV");

	defer(W2, 7, 1);
	ck_assert_uint_eq(journal_worker_gone(W1, &segv, true), 0);
	ck_assert_uint_eq(metrics_counters.cleanups_retried_total, 0);
	ck_assert(!journal_next_orphan(&(struct journal_orphan){ 0 }));
}
END_TEST

/* journal_fini frees what never ran (valgrind checks the rest). */
START_TEST(test_fini_frees_leftovers)
{
	struct wspool_reason segv = crash("SIGSEGV");

	defer(W1, 7, 1);
	defer(W1, 8, 1);
	defer(W2, 9, 1);
	journal_worker_gone(W1, &segv, true);
	hand_over(W3);
	ck_assert_uint_eq(journal_pending(), 3);
}
END_TEST

/* ---- the durable store (jstore.c on LMDB) ---------------------------------------- */

static char durable_dir[] = "/tmp/check_journal-XXXXXX";
static char durable_path[64];

static void
durable_setup(void)
{
	log_level = LOG_ERROR;
	memset(&metrics_counters, 0, sizeof(metrics_counters));
	ck_assert_ptr_nonnull(mkdtemp(durable_dir));
	snprintf(durable_path, sizeof(durable_path), "%s/journal", durable_dir);
}

static void
durable_teardown(void)
{
	char lock[80];

	snprintf(lock, sizeof(lock), "%s-lock", durable_path);
	unlink(durable_path);
	unlink(lock);
	rmdir(durable_dir);
	memcpy(durable_dir + strlen(durable_dir) - 6, "XXXXXX", 6);
	metrics_fini();
}

/*
 * What a master leaves in the journal when it dies comes back at the next
 * start: each cleanup not done, as an orphan with reason lost naming the
 * dead master; done ones do not; call ids of the new run differ.
 */
START_TEST(test_durable_restart)
{
	struct journal_orphan o;
	struct wspool_reason r;
	msgpack_zone zone;
	msgpack_object obj;
	struct proto_bytes b;
	char strings[256];
	uint64_t first, second;

	journal_init();
	ck_assert_int_eq(journal_open(durable_path, "n1", 100, "old-host", NULL), 0);
	first = journal_next_call_id();
	defer(W1, first, 1);
	defer(W1, first, 2);
	ck_assert(journal_dirty());
	ck_assert_int_eq(commit_now(), 0);
	ck_assert(!journal_dirty());
	ck_assert_int_eq(journal_done(W1, first, 1, true, false, NULL, 0),
	    JOURNAL_DONE_OWN);
	ck_assert_int_eq(commit_now(), 0);
	ck_assert_uint_eq(metrics_counters.journal_commits_total, 2);
	journal_fini();   /* the master dies: seq 2 never ran */

	journal_init();
	ck_assert_int_eq(journal_open(durable_path, "n1", 200, "new-host", NULL), 0);
	ck_assert_uint_eq(journal_pending(), 1);
	ck_assert(journal_next_orphan(&o));
	ck_assert_uint_eq(o.jo_call_id, first);
	ck_assert_uint_eq(o.jo_seq, 2);
	ck_assert_str_eq(o.jo_route, "r");
	ck_assert_str_eq(o.jo_name, "c2");
	ck_assert_uint_eq(o.jo_arg_len, sizeof(ARG) - 1);
	ck_assert(memcmp(o.jo_arg, ARG, o.jo_arg_len) == 0);
	msgpack_zone_init(&zone, 256);
	b.ptr = o.jo_reason;
	b.len = o.jo_reason_len;
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &obj), 0);
	ck_assert_int_eq(proto_unpack_reason(&obj, &r, strings,
	    sizeof(strings)), 0);
	ck_assert_int_eq(r.kind, WSPOOL_REASON_LOST);
	ck_assert_int_eq(r.worker_pid, 100);
	ck_assert_str_eq(r.worker_host, "old-host");
	msgpack_zone_destroy(&zone);
	/* A new incarnation: the new run's ids are new. */
	second = journal_next_call_id();
	ck_assert_uint_gt(second >> 40, first >> 40);
	/* The restored one runs (through the runner) and is done. */
	journal_handed_over(o.jo_id, W3);
	ck_assert_int_eq(journal_done(W3, o.jo_id, 0, true, false, NULL, 0),
	    JOURNAL_DONE_HANDOVER);
	ck_assert_uint_eq(metrics_counters.cleanup_reruns_total, 1);
	ck_assert_int_eq(commit_now(), 0);
	journal_fini();

	/* Nothing left; and a journal serves one node name. */
	journal_init();
	ck_assert_int_eq(journal_open(durable_path, "n2", 300, "h", NULL), -1);
	ck_assert_int_eq(journal_open(durable_path, "n1", 300, "h", NULL), 0);
	ck_assert_uint_eq(journal_pending(), 0);
	journal_fini();
}
END_TEST

/* A failed commit: the turn's registrations are forgotten (not acked). */
START_TEST(test_forget)
{
	journal_init();
	defer(W1, 7, 1);
	journal_forget(7, 1);
	ck_assert_uint_eq(journal_pending(), 0);
	ck_assert(!journal_has_call(7));
	journal_fini();
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defer_then_done);
	tcase_add_test(tc, test_done_unknown);
	tcase_add_test(tc, test_withdrawn);
	tcase_add_test(tc, test_first_reason_wins);
	tcase_add_test(tc, test_crash_reason_when_not_ended);
	tcase_add_test(tc, test_call_ended_without_cleanups);
	suite_add_tcase(s, tc);

	tc = tcase_create("deaths");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_orphan_order);
	tcase_add_test(tc, test_hand_over_done);
	tcase_add_test(tc, test_blame_first_pending);
	tcase_add_test(tc, test_drop_after_max_attempts);
	tcase_add_test(tc, test_deaths_that_do_not_count);
	tcase_add_test(tc, test_gone_without_cleanups);
	tcase_add_test(tc, test_fini_frees_leftovers);
	suite_add_tcase(s, tc);

	tc = tcase_create("durable");
	tcase_add_checked_fixture(tc, durable_setup, durable_teardown);
	tcase_add_test(tc, test_durable_restart);
	tcase_add_test(tc, test_forget);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
