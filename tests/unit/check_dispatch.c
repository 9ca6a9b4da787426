/*
 * check_dispatch.c: unit tests for master/dispatch.c, the wiring, with
 * the real journal and scheduler and fakes of the link, rpc, supervise
 * and routes: which handler hears each message type, the order of
 * journaling and acknowledgements, and what a worker's death sets off
 * (its calls ended, its cleanups handed to a live worker, counted or not).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <wspool.h>

#include "common/log.h"
#include "master/commit.h"
#include "master/dispatch.h"
#include "master/join.h"
#include "master/journal.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/neighbours.h"
#include "master/routes.h"
#include "master/rpc.h"
#include "master/sched.h"
#include "master/supervise.h"
#include "proto/proto.h"
#include "tests/unit/fake_link.h"

struct server srv;

/* ---- fakes: what dispatch told the others ----------------------------------------- */

static struct {
	int routes_ready;             /* calls of routes_ready */
	int routes_result;            /* what it answers */
	int supervise_ready, supervise_gone;
	int replies;                  /* rpc_on_reply */
	struct worker *gone_calls_of; /* neighbours_worker_gone's worker */
	enum wspool_reason_kind gone_kind;
	uint64_t route_of;            /* the last call id calls_route_of was asked */
	join_hello_fn on_hello;
	supervise_drain_fn on_drain;
	struct worker *calls_not_on;  /* calls_on_worker says no for this one */
	enum wspool_reason_kind left; /* calls_left_with: its client left so */
} fake;

int
routes_ready(unsigned gen, const char *host, const struct proto_msg *m)
{
	fake.routes_ready++;
	return fake.routes_result;
}

void
supervise_ready(struct worker *w)
{
	fake.supervise_ready++;
}

void
supervise_gone(struct worker *w)
{
	fake.supervise_gone++;
}

void
supervise_down_cb(struct worker *w, const char *why, bool bad)
{
}

void
supervise_silent_cb(struct worker *w, uint64_t silent_ms)
{
}

int
supervise_adopt_cb(struct worker *w, bool local)
{
	return 0;
}

void
supervise_on_drain_expired(supervise_drain_fn fn)
{
	fake.on_drain = fn;
}

unsigned
supervise_generation(void)
{
	return 1;
}

void
supervise_retire(struct worker *w, const char *why)
{
}

void
join_on_hello(join_hello_fn fn)
{
	fake.on_hello = fn;
}

void
rpc_on_reply(struct worker *w, const struct proto_msg *m)
{
	fake.replies++;
}

bool
calls_on_worker(uint64_t call_id, const struct worker *w)
{
	return w != fake.calls_not_on;
}

bool
calls_left_with(uint64_t call_id, enum wspool_reason_kind *kind)
{
	*kind = fake.left;
	return fake.left != WSPOOL_REASON_NONE;
}

const char *
calls_route_of(uint64_t call_id)
{
	fake.route_of = call_id;
	return "sleep";
}

void
neighbours_worker_gone(struct worker *w, const struct wspool_reason *reason)
{
	fake.gone_calls_of = w;
	fake.gone_kind = reason->kind;
}

void
rpc_worker_drained_cb(struct worker *w, const struct wspool_reason *reason)
{
}

/* ---- helpers ------------------------------------------------------------------------ */

/* A waiting call, started by the scheduler's hook. */
static struct sched_entry waiting;
static struct worker *waiting_started_on;

static void
hook_start(struct sched_entry *e, struct worker *w)
{
	waiting_started_on = w;
	sched_assign(w);
}

static void
hook_expire(struct sched_entry *e)
{
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
	memset(&fake, 0, sizeof(fake));
	memset(&waiting, 0, sizeof(waiting));
	memset(&metrics_counters, 0, sizeof(metrics_counters));
	waiting_started_on = NULL;
	srv.cfg.worker_max_inflight = 10;
	srv.cfg.queue_max = 10;
	srv.cfg.queue_timeout_ms = 5000;
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	fake_link_reset();
	journal_init();
	ck_assert_int_eq(sched_init(&hooks), 0);
	dispatch_init();
}

static void
teardown(void)
{
	sched_dequeue(&waiting);
	sched_fini();
	journal_fini();
	metrics_fini();
	event_base_free(srv.base);
}

static struct proto_msg
msg(enum proto_type type, uint64_t id, uint64_t seq)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = id;
	m.seq = seq;
	return m;
}

#define ARG "\xa3" "arg"

/* DEFER(call_id, seq) from w, which must be taken. */
static void
defer(struct worker *w, uint64_t call_id, uint64_t seq)
{
	struct proto_msg m = msg(PROTO_DEFER, call_id, seq);

	m.str.ptr = "undo";
	m.str.len = 4;
	m.value.ptr = ARG;
	m.value.len = sizeof(ARG) - 1;
	ck_assert_msg(fake_link_deliver(w, &m) == 0, "DEFER %llu/%llu refused",
	    (unsigned long long)call_id, (unsigned long long)seq);
	/* The end of the loop turn: the commit releases the ack. */
	commit_run();
}

/* The cleanup runner: the only worker that gets hand-overs. */
static struct worker *
runner(uint64_t gen)
{
	struct worker *w = fake_worker(gen, W_READY, 1);

	w->w_runner = true;
	return w;
}

static struct wspool_reason
crash(const char *sig)
{
	struct wspool_reason r;

	memset(&r, 0, sizeof(r));
	r.kind = WSPOOL_REASON_CRASHED;
	r.signal = sig;
	r.status = -1;
	return r;
}

/* Whether /metrics shows line. */
static bool
metrics_show(const char *line)
{
	msgpack_sbuffer sb;
	bool found;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(metrics_render(&sb), 0);
	msgpack_sbuffer_write(&sb, "", 1);
	found = strstr(sb.data, line) != NULL;
	msgpack_sbuffer_destroy(&sb);
	return found;
}

/* ---- the table ---------------------------------------------------------------------- */

START_TEST(test_registered)
{
	static const enum proto_type heard[] = { PROTO_READY, PROTO_RESULT,
	    PROTO_CHUNK, PROTO_END, PROTO_ERROR, PROTO_DEFER,
	    PROTO_CLEANUP_DONE, PROTO_LOG };
	static const enum proto_type refused[] = { PROTO_CALL, PROTO_CANCEL,
	    PROTO_CONN_OPEN, PROTO_CONN_CLOSE, PROTO_DEFER_ACK, PROTO_CLEANUP,
	    PROTO_DRAIN, PROTO_HELLO, PROTO_WELCOME };

	for (size_t i = 0; i < sizeof(heard) / sizeof(heard[0]); i++)
		ck_assert_msg(fake_link.handlers[heard[i]] != NULL,
		    "no handler for %s", proto_type_name(heard[i]));
	/* A master's message coming from a worker is garbage: no handler. */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_msg(fake_link.handlers[refused[i]] == NULL,
		    "a handler for %s, which no worker may send",
		    proto_type_name(refused[i]));
	ck_assert_ptr_eq(fake_link.on_down, supervise_down_cb);
	ck_assert_ptr_eq(fake_link.on_silent, supervise_silent_cb);
	ck_assert_ptr_nonnull(fake_link.on_gone);
	ck_assert_ptr_eq(fake.on_hello, supervise_adopt_cb);
	ck_assert_ptr_eq(fake.on_drain, rpc_worker_drained_cb);
}
END_TEST

/* ---- READY and replies ---------------------------------------------------------------- */

START_TEST(test_ready)
{
	struct worker *w = fake_worker(1, W_JOINING, 1);
	struct worker *dead = fake_worker(2, W_READY, 1);
	struct proto_msg m = msg(PROTO_READY, 0, 0);

	/* A call waits, and a dead worker left a cleanup. */
	ck_assert_int_eq(sched_enqueue(&waiting), 0);
	defer(dead, 7, 1);
	fake_link_gone(dead, &(struct wspool_reason){ .kind = WSPOOL_REASON_LOST,
	    .status = -1 });
	fake_link.nsent = 0;
	m.num = 4242;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert_int_eq(fake.routes_ready, 1);
	ck_assert_int_eq(w->w_state, W_READY);
	ck_assert_int_eq(w->w_pid, 4242);
	ck_assert_int_eq(fake.supervise_ready, 1);
	ck_assert_msg(waiting_started_on == w, "the waiting call did not start on "
	    "the worker that became ready");
	ck_assert_msg(fake_link.nsent == 0, "an orphan was handed to a worker "
	    "that takes calls");
	/* READY twice is garbage. */
	ck_assert_int_eq(fake_link_deliver(w, &m), -1);
	/* The cleanup runner gets ready: the orphan goes to it. */
	w = fake_worker(3, W_JOINING, 1);
	w->w_runner = true;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert_msg(fake_link.nsent == 1 && fake_sent(0)->fs_what == FAKE_CLEANUP &&
	    fake_sent(0)->fs_worker == w, "the orphan was not handed to the runner");
}
END_TEST

START_TEST(test_ready_refused)
{
	struct worker *w = fake_worker(1, W_JOINING, 1);
	struct proto_msg m = msg(PROTO_READY, 0, 0);

	fake.routes_result = -1;   /* serves other routes */
	ck_assert_int_eq(fake_link_deliver(w, &m), -1);
	ck_assert_int_eq(w->w_state, W_JOINING);
	ck_assert_int_eq(fake.supervise_ready, 0);
}
END_TEST

START_TEST(test_replies)
{
	static const enum proto_type types[] = { PROTO_RESULT, PROTO_CHUNK,
	    PROTO_END, PROTO_ERROR };
	struct worker *joining = fake_worker(1, W_JOINING, 1);
	struct worker *ready = fake_worker(2, W_READY, 1);
	struct worker *draining = fake_worker(3, W_DRAINING, 1);

	for (size_t i = 0; i < 4; i++) {
		struct proto_msg m = msg(types[i], 9, 0);

		ck_assert_msg(fake_link_deliver(joining, &m) == -1,
		    "%s from a worker that has no calls taken",
		    proto_type_name(types[i]));
		ck_assert_int_eq(fake_link_deliver(ready, &m), 0);
		ck_assert_int_eq(fake_link_deliver(draining, &m), 0);
	}
	ck_assert_int_eq(fake.replies, 8);
}
END_TEST

/* ---- cleanups: journal first, then acknowledge --------------------------------------------- */

START_TEST(test_defer_ack_waits_for_the_commit)
{
	struct worker *w = fake_worker(1, W_READY, 1);
	struct proto_msg m = msg(PROTO_DEFER, 7, 1);

	m.str.ptr = "undo";
	m.str.len = 4;
	m.value.ptr = ARG;
	m.value.len = sizeof(ARG) - 1;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert(journal_has_call(7));
	ck_assert_msg(fake_link.nsent == 0, "acknowledged before the commit");
	commit_run();
	ck_assert_uint_eq(fake_link.nsent, 1);
	ck_assert_int_eq(fake_sent(0)->fs_what, FAKE_ACK);
	ck_assert_uint_eq(fake_sent(0)->fs_seq, 1);
}
END_TEST

START_TEST(test_defer_journaled_then_acked)
{
	struct worker *w = fake_worker(1, W_READY, 1);
	const struct fake_sent *s;

	defer(w, 7, 3);
	ck_assert_msg(journal_has_call(7), "acknowledged without journaling");
	ck_assert_uint_eq(fake.route_of, 7);
	s = fake_sent(0);
	ck_assert_int_eq(s->fs_what, FAKE_ACK);
	ck_assert_msg(s->fs_id == 7 && s->fs_seq == 3, "DEFER_ACK %llu/%llu",
	    (unsigned long long)s->fs_id, (unsigned long long)s->fs_seq);
}
END_TEST

START_TEST(test_cleanup_done_own)
{
	struct worker *w = fake_worker(1, W_READY, 1);
	struct proto_msg m = msg(PROTO_CLEANUP_DONE, 7, 3);
	const struct fake_sent *s;

	defer(w, 7, 3);
	m.flags = 1;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert_uint_eq(journal_pending(), 0);
	/* The worker runs the next cleanup once the master has this one. */
	s = fake_sent(1);
	ck_assert_int_eq(s->fs_what, FAKE_ACK);
	ck_assert_msg(s->fs_id == 7 && s->fs_seq == (3 | PROTO_DONE_ACK),
	    "DONE acknowledgement %llu/%llx",
	    (unsigned long long)s->fs_id, (unsigned long long)s->fs_seq);
	/* Done again: no longer its to report: refused, not acknowledged. */
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert_uint_eq(fake_link.nsent, 2);
	ck_assert_uint_eq(fake_link.refused, 1);
}
END_TEST

START_TEST(test_cleanup_done_handover)
{
	struct worker *dead = fake_worker(1, W_READY, 1);
	struct worker *w = runner(2);
	struct wspool_reason segv = crash("SIGSEGV");
	struct proto_msg m = msg(PROTO_CLEANUP_DONE, 0, 0);
	const struct fake_sent *s;

	defer(dead, 7, 1);
	defer(dead, 7, 2);
	fake_link.nsent = 0;
	fake_link_gone(dead, &segv);
	/* One at a time: the first orphan only. */
	ck_assert_uint_eq(fake_link.nsent, 1);
	s = fake_sent(0);
	ck_assert_msg(s->fs_worker == w && s->fs_seq == 1, "first hand-over");
	m.id = s->fs_id;
	m.flags = 1;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	/* No acknowledgement for a hand-over's done; the next one goes. */
	ck_assert_uint_eq(fake_link.nsent, 2);
	s = fake_sent(1);
	ck_assert_int_eq(s->fs_what, FAKE_CLEANUP);
	ck_assert_msg(s->fs_worker == w && s->fs_seq == 2, "second hand-over");
}
END_TEST

/* A cleanup registered after its client left (a .cancel that overtook the
 * DEFER): the call ended with that reason, and a crash of its worker
 * before the cleanup ran does not replace it. */
START_TEST(test_defer_after_the_client_left)
{
	struct worker *dead = fake_worker(1, W_READY, 1);
	struct worker *w = runner(2);
	struct wspool_reason segv = crash("SIGSEGV");

	fake.left = WSPOOL_REASON_CANCELLED;
	defer(dead, 7, 1);
	fake.left = WSPOOL_REASON_NONE;
	defer(dead, 8, 1);
	fake_link.nsent = 0;
	fake_link_gone(dead, &segv);
	ck_assert_uint_eq(fake_link.nsent, 1);
	ck_assert_msg(fake_sent(0)->fs_worker == w, "not handed over");
	ck_assert_uint_eq(fake_sent(0)->fs_call_id, 7);
	ck_assert_int_eq(fake_sent(0)->fs_reason_kind, WSPOOL_REASON_CANCELLED);
	/* The other call was still running: the crash is its end. */
	ck_assert_int_eq(fake_link_deliver(w, &(struct proto_msg){
	    .type = PROTO_CLEANUP_DONE, .id = fake_sent(0)->fs_id,
	    .flags = 1 }), 0);
	ck_assert_uint_eq(fake_link.nsent, 2);
	ck_assert_uint_eq(fake_sent(1)->fs_call_id, 8);
	ck_assert_int_eq(fake_sent(1)->fs_reason_kind, WSPOOL_REASON_CRASHED);
}
END_TEST

/* ---- deaths ---------------------------------------------------------------------------- */

START_TEST(test_gone)
{
	struct worker *dead = fake_worker(1, W_READY, 1);
	struct worker *w = runner(2);
	struct wspool_reason segv = crash("SIGSEGV");

	defer(dead, 7, 1);
	fake_link.nsent = 0;
	fake_link_gone(dead, &segv);
	ck_assert_int_eq(fake.supervise_gone, 1);
	ck_assert_msg(fake.gone_calls_of == dead &&
	    fake.gone_kind == WSPOOL_REASON_CRASHED, "its calls were not ended");
	ck_assert_msg(fake_link.nsent == 1 && fake_sent(0)->fs_worker == w,
	    "its cleanup was not handed to the live worker");
	ck_assert_uint_eq(metrics_counters.cleanups_retried_total, 1);
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"SIGSEGV\"} 1\n"));
}
END_TEST

/* A cleanup running when its worker died: a death counts against it
 * unless it was an outside SIGKILL. */
static unsigned
attempt_after(const char *sig, bool killed_here)
{
	struct worker *dead = fake_worker(1, W_READY, 1);
	struct wspool_reason none, r = crash(sig);

	runner(2);
	memset(&none, 0, sizeof(none));
	none.status = -1;
	defer(dead, 7, 1);
	journal_call_ended(7, &none, true);   /* its cleanups are running */
	dead->w_killed = killed_here;
	fake_link.nsent = 0;
	fake_link_gone(dead, &r);
	return fake_sent(0)->fs_attempt;
}

START_TEST(test_outside_sigkill_does_not_count)
{
	ck_assert_uint_eq(attempt_after("SIGKILL", false), 1);
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"SIGKILL\"} 1\n"));
}
END_TEST

START_TEST(test_our_sigkill_counts)
{
	ck_assert_uint_eq(attempt_after("SIGKILL", true), 2);
}
END_TEST

START_TEST(test_crash_counts)
{
	ck_assert_uint_eq(attempt_after("SIGABRT", false), 2);
}
END_TEST

START_TEST(test_death_labels)
{
	struct wspool_reason r;

	memset(&r, 0, sizeof(r));
	r.status = -1;
	r.kind = WSPOOL_REASON_LOST;
	fake_link_gone(fake_worker(1, W_READY, 1), &r);
	r.kind = WSPOOL_REASON_SHUTDOWN;
	fake_link_gone(fake_worker(2, W_READY, 1), &r);
	r.kind = WSPOOL_REASON_CRASHED;
	r.status = 0;
	fake_link_gone(fake_worker(3, W_READY, 1), &r);
	r.status = 3;
	fake_link_gone(fake_worker(4, W_READY, 1), &r);
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"lost\"} 1\n"));
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"shutdown\"} 1\n"));
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"exit\"} 1\n"));
	ck_assert(metrics_show("wspool_worker_deaths_total{reason=\"exit_error\"} 1\n"));
}
END_TEST

START_TEST(test_log)
{
	struct worker *w = fake_worker(1, W_READY, 1);
	struct proto_msg m = msg(PROTO_LOG, 0, 0);

	m.call_id = 9;
	m.num = LOG_DEBUG;   /* below the test's level: not written */
	m.str.ptr = "hello";
	m.str.len = 5;
	ck_assert_int_eq(fake_link_deliver(w, &m), 0);
	ck_assert_msg(fake.route_of == 9, "the log line does not name the call's route");
}
END_TEST

/* A worker may speak of its own calls and cleanups only: a reply, DEFER,
 * CLEANUP_DONE or LOG about another's is refused and changes nothing. */
START_TEST(test_not_its_own)
{
	struct worker *w = fake_worker(1, W_READY, 1);
	struct worker *rogue = fake_worker(2, W_READY, 1);
	struct proto_msg m;

	defer(w, 7, 1);
	ck_assert_uint_eq(journal_pending(), 1);
	fake_link.nsent = 0;
	fake.calls_not_on = rogue;
	m = msg(PROTO_RESULT, 7, 0);
	ck_assert_int_eq(fake_link_deliver(rogue, &m), 0);
	ck_assert_int_eq(fake.replies, 0);
	m = msg(PROTO_DEFER, 7, 2);
	m.str.ptr = "undo";
	m.str.len = 4;
	m.value.ptr = ARG;
	m.value.len = sizeof(ARG) - 1;
	ck_assert_int_eq(fake_link_deliver(rogue, &m), 0);
	ck_assert_uint_eq(journal_pending(), 1);
	/* Its own call's cleanup, reported done by another: still pending. */
	m = msg(PROTO_CLEANUP_DONE, 7, 1);
	m.flags = 1;
	ck_assert_int_eq(fake_link_deliver(rogue, &m), 0);
	ck_assert_uint_eq(journal_pending(), 1);
	m = msg(PROTO_CLEANUP_DONE, 1, 0);   /* a hand-over it was not given */
	ck_assert_int_eq(fake_link_deliver(rogue, &m), 0);
	m = msg(PROTO_LOG, 0, 0);
	m.call_id = 7;
	m.str.ptr = "x";
	m.str.len = 1;
	ck_assert_int_eq(fake_link_deliver(rogue, &m), 0);
	ck_assert_uint_eq(fake_link.refused, 5);
	ck_assert_uint_eq(fake_link.nsent, 0);   /* nothing acknowledged */
	ck_assert_uint_eq(journal_pending(), 1);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc;

	tc = tcase_create("messages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_registered);
	tcase_add_test(tc, test_ready);
	tcase_add_test(tc, test_ready_refused);
	tcase_add_test(tc, test_replies);
	tcase_add_test(tc, test_defer_ack_waits_for_the_commit);
	tcase_add_test(tc, test_defer_journaled_then_acked);
	tcase_add_test(tc, test_cleanup_done_own);
	tcase_add_test(tc, test_cleanup_done_handover);
	tcase_add_test(tc, test_defer_after_the_client_left);
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_not_its_own);
	suite_add_tcase(s, tc);

	tc = tcase_create("deaths");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gone);
	tcase_add_test(tc, test_outside_sigkill_does_not_count);
	tcase_add_test(tc, test_our_sigkill_counts);
	tcase_add_test(tc, test_crash_counts);
	tcase_add_test(tc, test_death_labels);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dispatch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
