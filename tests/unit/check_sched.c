/*
 * check_sched.c: unit tests for master/sched.c against a fake link
 * (tests/unit/fake_link.c) and the real journal: picking a worker, the
 * queue's order and bounds, its timeout, feeding it as workers free up,
 * recycling, and orphaned cleanups handed over one at a time per worker.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/journal.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/sched.h"
#include "master/supervise.h"
#include "tests/unit/fake_link.h"

struct server srv;

/* ---- fakes of supervise.c --------------------------------------------------------- */

static unsigned fake_generation;
static struct worker *fake_retired[4];
static size_t fake_nretired;

unsigned
supervise_generation(void)
{
	return fake_generation;
}

void
supervise_retire(struct worker *w, const char *why)
{
	ck_assert_uint_lt(fake_nretired, 4);
	fake_retired[fake_nretired++] = w;
}

/* ---- the hooks: what became of each waiting call -------------------------------- */

#define NCALLS 8

struct tcall {
	int t_n;                      /* its number, for messages */
	struct sched_entry t_sched;
};

static struct tcall calls[NCALLS];
static int started[NCALLS], nstarted;   /* call numbers, in order */
static struct worker *started_on[NCALLS];
static int expired[NCALLS], nexpired;

static struct tcall *
tcall_of(struct sched_entry *e)
{
	return (struct tcall *)(void *)((char *)e - offsetof(struct tcall, t_sched));
}

static void
hook_start(struct sched_entry *e, struct worker *w)
{
	struct tcall *t = tcall_of(e);

	ck_assert_msg(!e->se_queued, "call %d started while still queued", t->t_n);
	started_on[nstarted] = w;
	started[nstarted++] = t->t_n;
	sched_assign(w);   /* as rpc does once it has sent the call */
}

static void
hook_expire(struct sched_entry *e)
{
	struct tcall *t = tcall_of(e);

	ck_assert_msg(!e->se_queued, "call %d expired while still queued", t->t_n);
	expired[nexpired++] = t->t_n;
}

static const struct sched_hooks hooks = {
	.sh_start = hook_start,
	.sh_expire = hook_expire,
};

static void
setup(void)
{
	log_level = LOG_ERROR;
	memset(&srv, 0, sizeof(srv));
	srv.cfg.worker_max_inflight = 2;
	srv.cfg.queue_max = 4;
	srv.cfg.queue_timeout_ms = 5000;
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	fake_link_reset();
	fake_generation = 1;
	fake_nretired = 0;
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < NCALLS; i++)
		calls[i].t_n = i;
	nstarted = nexpired = 0;
	journal_init();
	ck_assert_int_eq(sched_init(&hooks), 0);
}

static void
teardown(void)
{
	for (int i = 0; i < NCALLS; i++)
		sched_dequeue(&calls[i].t_sched);
	sched_fini();
	journal_fini();
	metrics_fini();
	event_base_free(srv.base);
}

static void
enqueue(int n)
{
	ck_assert_msg(sched_enqueue(&calls[n].t_sched) == 0,
	    "call %d refused by the queue (%u queued)", n, sched_queued());
}

/* Run the loop until n calls have expired, within a deadline (under
 * check's own 4 s per test). */
static void
wait_expired(int n)
{
	uint64_t end = clock_now_ms() + 3000;

	while (nexpired < n && clock_now_ms() < end)
		event_base_loop(srv.base, EVLOOP_ONCE);
	ck_assert_msg(nexpired >= n, "%d calls expired within 3 s, want %d",
	    nexpired, n);
}

/* ---- picking ------------------------------------------------------------------- */

START_TEST(test_pick_fewest_in_flight)
{
	struct worker *a = fake_worker(1, W_READY, 1);
	struct worker *b = fake_worker(2, W_READY, 1);

	fake_worker(3, W_JOINING, 1);
	fake_worker(4, W_DRAINING, 1);
	ck_assert_ptr_eq(sched_pick(), a);
	sched_assign(a);
	ck_assert_msg(sched_pick() == b, "a has a call, b none: b should be picked");
	sched_assign(b);
	sched_assign(b);
	ck_assert_ptr_eq(sched_pick(), a);
	sched_assign(a);
	/* Both at --worker-max-inflight (2). */
	ck_assert_ptr_null(sched_pick());
	sched_release(b);
	ck_assert_ptr_eq(sched_pick(), b);
	ck_assert_uint_eq(sched_nready(), 2);
}
END_TEST

/* A worker gets no more calls than the capacity its READY told. */
START_TEST(test_pick_capacity)
{
	struct worker *a = fake_worker(1, W_READY, 1);
	struct worker *b = fake_worker(2, W_READY, 1);

	srv.cfg.worker_max_inflight = 10;
	sched_capacity(a, 1, 0);     /* one thread, none waiting */
	sched_capacity(b, 2, 1);     /* two threads, one waiting */
	ck_assert_uint_eq(a->w_capacity, 1);
	ck_assert_uint_eq(b->w_capacity, 3);
	sched_assign(sched_pick());
	sched_assign(sched_pick());
	sched_assign(sched_pick());
	sched_assign(sched_pick());
	ck_assert_uint_eq(a->w_inflight, 1);
	ck_assert_uint_eq(b->w_inflight, 3);
	ck_assert_msg(sched_pick() == NULL, "a call beyond every capacity");
	sched_release(a);
	ck_assert_ptr_eq(sched_pick(), a);
	/* Never above --worker-max-inflight, whatever a worker says;
	 * none told (0 threads): --worker-max-inflight alone. */
	sched_capacity(b, 1000, 1000);
	ck_assert_uint_eq(b->w_capacity, 10);
	sched_capacity(b, 0, 5);
	ck_assert_uint_eq(b->w_capacity, 10);
}
END_TEST

/* A call accepted before goes to the back of the queue whatever its
 * bounds (a notification whose turn came). */
START_TEST(test_queue_append)
{
	for (int i = 0; i < 4; i++)
		enqueue(i);
	sched_append(&calls[4].t_sched);
	ck_assert(calls[4].t_sched.se_queued);
	ck_assert_uint_eq(sched_queued(), 5);
	srv.cfg.worker_max_inflight = 10;
	fake_worker(1, W_READY, 1);
	sched_feed();
	ck_assert_int_eq(nstarted, 5);
	ck_assert_int_eq(started[4], 4);
}
END_TEST

START_TEST(test_pick_skips_congested)
{
	struct worker *a = fake_worker(1, W_READY, 1);
	struct worker *b = fake_worker(2, W_READY, 1);

	sched_assign(b);
	fake_link.congested = a;
	ck_assert_msg(sched_pick() == b, "a congested worker was picked");
	fake_link.congested = b;
	ck_assert_ptr_eq(sched_pick(), a);
}
END_TEST

/* During a reload, the old generation serves until the new one can. */
START_TEST(test_pick_newest_generation)
{
	struct worker *old = fake_worker(1, W_READY, 1);
	struct worker *new;

	fake_generation = 2;
	ck_assert_ptr_eq(sched_pick(), old);
	new = fake_worker(2, W_READY, 2);
	sched_assign(new);
	ck_assert_msg(sched_pick() == new,
	    "the newest generation has room: it should be picked");
	sched_assign(new);
	ck_assert_ptr_eq(sched_pick(), old);
}
END_TEST

START_TEST(test_pick_none)
{
	ck_assert_ptr_null(sched_pick());
	fake_worker(1, W_JOINING, 1);
	ck_assert_ptr_null(sched_pick());
	ck_assert_uint_eq(sched_nready(), 0);
}
END_TEST

START_TEST(test_recycle)
{
	struct worker *a = fake_worker(1, W_READY, 1);

	srv.cfg.worker_max_inflight = 10;
	srv.cfg.max_calls_per_worker = 3;
	sched_assign(a);
	sched_release(a);
	sched_assign(a);
	ck_assert_uint_eq(fake_nretired, 0);
	sched_assign(a);
	ck_assert_msg(fake_nretired == 1 && fake_retired[0] == a,
	    "not retired after --max-calls-per-worker calls");
	sched_assign(a);
	ck_assert_uint_eq(fake_nretired, 1);
}
END_TEST

/* ---- the queue -------------------------------------------------------------------- */

START_TEST(test_queue_order)
{
	struct worker *a;

	ck_assert(!sched_waiting());
	enqueue(0);
	enqueue(1);
	enqueue(2);
	ck_assert(sched_waiting());
	ck_assert_uint_eq(sched_queued(), 3);
	sched_feed();   /* no worker: nothing moves */
	ck_assert_int_eq(nstarted, 0);
	a = fake_worker(1, W_READY, 1);
	sched_feed();
	/* Room for two on a: the first two, in arrival order. */
	ck_assert_int_eq(nstarted, 2);
	ck_assert_msg(started[0] == 0 && started[1] == 1,
	    "started %d then %d, want 0 then 1", started[0], started[1]);
	ck_assert_ptr_eq(started_on[0], a);
	ck_assert_uint_eq(sched_queued(), 1);
	sched_release(a);
	sched_feed();
	ck_assert_int_eq(nstarted, 3);
	ck_assert_int_eq(started[2], 2);
	ck_assert(!sched_waiting());
}
END_TEST

START_TEST(test_queue_dequeue)
{
	enqueue(0);
	enqueue(1);
	enqueue(2);
	sched_dequeue(&calls[1].t_sched);   /* ended while waiting */
	ck_assert(!calls[1].t_sched.se_queued);
	sched_dequeue(&calls[1].t_sched);   /* twice: nothing */
	ck_assert_uint_eq(sched_queued(), 2);
	srv.cfg.worker_max_inflight = 10;
	fake_worker(1, W_READY, 1);
	sched_feed();
	ck_assert_int_eq(nstarted, 2);
	ck_assert_msg(started[0] == 0 && started[1] == 2,
	    "started %d then %d, want 0 then 2", started[0], started[1]);
}
END_TEST

START_TEST(test_queue_bounds)
{
	for (int i = 0; i < 4; i++)
		enqueue(i);
	ck_assert_msg(sched_enqueue(&calls[4].t_sched) != 0,
	    "a fifth call taken by a queue of --queue-max 4");
	ck_assert(!calls[4].t_sched.se_queued);
	ck_assert_uint_eq(sched_queued(), 4);
}
END_TEST

START_TEST(test_queue_off)
{
	srv.cfg.queue_timeout_ms = 0;
	ck_assert_msg(sched_enqueue(&calls[0].t_sched) != 0,
	    "--queue-timeout 0 should refuse to queue");
	ck_assert_uint_eq(sched_queued(), 0);
}
END_TEST

START_TEST(test_queue_timeout)
{
	srv.cfg.queue_timeout_ms = 20;
	enqueue(0);
	enqueue(1);
	enqueue(2);
	/* One worker with room for one: the first call starts, the others
	 * wait until they expire, oldest first. */
	srv.cfg.worker_max_inflight = 1;
	fake_worker(1, W_READY, 1);
	sched_feed();
	ck_assert_int_eq(nstarted, 1);
	ck_assert_int_eq(started[0], 0);
	wait_expired(2);
	ck_assert_int_eq(nexpired, 2);
	ck_assert_msg(expired[0] == 1 && expired[1] == 2,
	    "expired %d then %d, want 1 then 2", expired[0], expired[1]);
	ck_assert_uint_eq(sched_queued(), 0);
	ck_assert(!sched_waiting());
}
END_TEST

/* ---- cleanups handed over ------------------------------------------------------------ */

#define ARG "\xa3" "arg"

/* n cleanups of call 7 journaled on worker wid, then wid dies. */
static void
orphans(uint64_t wid, int n)
{
	struct wspool_reason why;

	memset(&why, 0, sizeof(why));
	why.kind = WSPOOL_REASON_CRASHED;
	why.signal = "SIGSEGV";
	why.status = -1;
	for (int i = 1; i <= n; i++)
		ck_assert_int_eq(journal_defer(wid, 7, (uint64_t)i, "r", "c", 1,
		    ARG, sizeof(ARG) - 1), 0);
	ck_assert_uint_eq(journal_worker_gone(wid, &why, true), (size_t)n);
}

START_TEST(test_handover_one_per_worker)
{
	struct worker *a = fake_worker(1, W_READY, 1);
	struct worker *b = fake_worker(2, W_READY, 1);
	const struct fake_sent *s;

	/* Two runners here (one in real life): one hand-over each. */
	a->w_runner = b->w_runner = true;
	fake_worker(3, W_JOINING, 1)->w_runner = true;
	orphans(100, 3);
	sched_handover();
	/* One each for the ready workers; the third waits. */
	ck_assert_uint_eq(fake_link.nsent, 2);
	s = fake_sent(0);
	ck_assert_ptr_eq(s->fs_worker, a);
	ck_assert_int_eq(s->fs_what, FAKE_CLEANUP);
	ck_assert_msg(s->fs_call_id == 7 && s->fs_seq == 1,
	    "first hand-over %llu/%llu, want 7/1",
	    (unsigned long long)s->fs_call_id, (unsigned long long)s->fs_seq);
	ck_assert_uint_eq(s->fs_attempt, 1);
	ck_assert_str_eq(s->fs_route, "r");
	ck_assert_str_eq(s->fs_name, "c");
	s = fake_sent(1);
	ck_assert_ptr_eq(s->fs_worker, b);
	ck_assert_uint_eq(s->fs_seq, 2);
	/* Asked again: each worker still runs its one. */
	sched_handover();
	ck_assert_msg(fake_link.nsent == 2, "a second hand-over to a busy worker");
	/* b is done: it takes the next. */
	ck_assert_int_eq(journal_done(b->w_gen, s->fs_id, 0, true, false, NULL, 0),
	    JOURNAL_DONE_HANDOVER);
	sched_handover();
	ck_assert_uint_eq(fake_link.nsent, 3);
	s = fake_sent(2);
	ck_assert_ptr_eq(s->fs_worker, b);
	ck_assert_uint_eq(s->fs_seq, 3);
	ck_assert_uint_eq(journal_pending(), 2);
}
END_TEST

START_TEST(test_handover_send_fails)
{
	struct worker *a = fake_worker(1, W_READY, 1);
	struct journal_orphan o;

	a->w_runner = true;
	orphans(100, 1);
	fake_link.fail_sends = true;
	sched_handover();
	ck_assert_uint_eq(fake_link.nsent, 0);
	ck_assert_msg(journal_next_orphan(&o), "an orphan not sent left the queue");
	ck_assert(!journal_handing_to(a->w_gen));
	fake_link.fail_sends = false;
	sched_handover();
	ck_assert_uint_eq(fake_link.nsent, 1);
	ck_assert(journal_handing_to(a->w_gen));
	ck_assert(!journal_next_orphan(&o));
}
END_TEST

START_TEST(test_handover_no_worker)
{
	orphans(100, 2);
	sched_handover();
	ck_assert_uint_eq(fake_link.nsent, 0);
	fake_worker(1, W_DRAINING, 1)->w_runner = true;
	sched_handover();
	ck_assert_msg(fake_link.nsent == 0, "a cleanup handed to a draining worker");
}
END_TEST

/* The runner takes no calls; workers that take calls get no hand-overs. */
START_TEST(test_runner_apart)
{
	struct worker *r = fake_worker(1, W_READY, 1);
	struct worker *w = fake_worker(2, W_READY, 1);

	r->w_runner = true;
	ck_assert_ptr_eq(sched_pick(), w);
	ck_assert_uint_eq(sched_nready(), 1);
	w->w_runner = false;
	orphans(100, 2);
	sched_handover();
	ck_assert_uint_eq(fake_link.nsent, 1);
	ck_assert_ptr_eq(fake_sent(0)->fs_worker, r);
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc;

	tc = tcase_create("pick");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pick_fewest_in_flight);
	tcase_add_test(tc, test_pick_skips_congested);
	tcase_add_test(tc, test_pick_capacity);
	tcase_add_test(tc, test_queue_append);
	tcase_add_test(tc, test_pick_newest_generation);
	tcase_add_test(tc, test_pick_none);
	tcase_add_test(tc, test_recycle);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_queue_order);
	tcase_add_test(tc, test_queue_dequeue);
	tcase_add_test(tc, test_queue_bounds);
	tcase_add_test(tc, test_queue_off);
	tcase_add_test(tc, test_queue_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("handover");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handover_one_per_worker);
	tcase_add_test(tc, test_handover_send_fails);
	tcase_add_test(tc, test_handover_no_worker);
	tcase_add_test(tc, test_runner_apart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
