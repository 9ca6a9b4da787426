/*
 * check_flow.c: unit tests for master/flow.c, the subscriptions' credits,
 * against fakes of the call table and of the link: credit given back in
 * pieces under the budget, withheld over it, paid when the connection is
 * writable again, none for a call without a worker; the paused gauge.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <wspool.h>

#include "master/calls.h"
#include "master/flow.h"
#include "master/link_send.h"
#include "master/master.h"
#include "master/metrics.h"
#include "proto/proto.h"

struct server srv;

/* ---- fakes: two calls on one connection, and the credits sent --------------- */

static struct call fk_calls[2];
static struct worker *fk_worker = (struct worker *)&fk_calls; /* never read */
static struct {
	uint64_t id, bytes;
} fk_sent[16];
static size_t fk_nsent;
static bool fk_fail;          /* link_send_credit fails (no memory) */

struct call *
calls_next(struct call *prev)
{
	if (prev == NULL)
		return &fk_calls[0];
	return prev == &fk_calls[0] ? &fk_calls[1] : NULL;
}

struct call *
calls_conn_next(struct calls_conn *cc, struct call *prev)
{
	(void)cc;
	return calls_next(prev);
}

int
link_send_credit(struct worker *w, uint64_t call_id, uint64_t bytes)
{
	ck_assert_ptr_eq(w, fk_worker);
	if (fk_fail)
		return -1;
	ck_assert_uint_lt(fk_nsent, 16);
	fk_sent[fk_nsent].id = call_id;
	fk_sent[fk_nsent++].bytes = bytes;
	return 0;
}

static void
fk_setup(void)
{
	memset(fk_calls, 0, sizeof(fk_calls));
	fk_calls[0].k_id = 1;
	fk_calls[1].k_id = 2;
	fk_calls[0].k_worker = fk_calls[1].k_worker = fk_worker;
	fk_calls[0].k_conn = fk_calls[1].k_conn = (struct conn *)fk_calls;
	fk_nsent = 0;
	fk_fail = false;
	srv.cfg.max_client_backlog = 1024 * 1024;
	srv.cfg.stream_window = PROTO_CREDIT_WINDOW;
}

/* ---- tests ------------------------------------------------------------------- */

/* The value of the paused gauge, as /metrics renders it. */
static uint64_t
fk_paused(void)
{
	static const char key[] = "\nwspool_subscriptions_paused ";
	msgpack_sbuffer sb;
	const char *p;
	uint64_t v;

	msgpack_sbuffer_init(&sb);
	metrics_render(&sb);
	msgpack_sbuffer_write(&sb, "", 1);
	p = strstr(sb.data, key);
	ck_assert_msg(p != NULL, "no wspool_subscriptions_paused gauge");
	v = strtoull(p + sizeof(key) - 1, NULL, 10);
	msgpack_sbuffer_destroy(&sb);
	return v;
}

START_TEST(test_credit_in_pieces)
{
	uint64_t cost = PROTO_CHUNK_COST(968, 0); /* 1,000 a chunk */
	unsigned n = PROTO_CREDIT_WINDOW / 4 / 1000 + 1;

	fk_setup();
	/* Nothing until a quarter of the window is owed, then all of it. */
	for (unsigned i = 0; i < n - 1; i++)
		flow_on_chunk(&fk_calls[0], 968, 0);
	ck_assert_uint_eq(fk_nsent, 0);
	flow_on_chunk(&fk_calls[0], 968, 0);
	ck_assert_uint_eq(fk_nsent, 1);
	ck_assert_uint_eq(fk_sent[0].id, 1);
	ck_assert_uint_eq(fk_sent[0].bytes, n * cost);
	ck_assert_uint_eq(fk_calls[0].k_owed, 0);
	/* An undefined chunk costs 32 (its id and framing). */
	flow_on_chunk(&fk_calls[1], 0, 0);
	ck_assert_uint_eq(fk_calls[1].k_owed, 32);
	ck_assert_uint_eq(fk_paused(), 0);
}
END_TEST

START_TEST(test_withheld_over_budget)
{
	fk_setup();
	flow_on_chunk(&fk_calls[0], 100000, 1024 * 1024 + 1);
	flow_on_chunk(&fk_calls[1], 10, 1024 * 1024 + 1);
	ck_assert_uint_eq(fk_nsent, 0);
	ck_assert(fk_calls[0].k_paused && fk_calls[1].k_paused);
	ck_assert_uint_eq(fk_paused(), 2);
	/* Detached: not counted (its CANCEL is on its way). */
	fk_calls[1].k_conn = NULL;
	ck_assert_uint_eq(fk_paused(), 1);
	fk_calls[1].k_conn = (struct conn *)fk_calls;
	/* Writable again: everything owed is paid, however little. */
	flow_conn_writable(NULL);
	ck_assert_uint_eq(fk_nsent, 2);
	ck_assert_uint_eq(fk_sent[0].bytes, PROTO_CHUNK_COST(100000, 0));
	ck_assert_uint_eq(fk_sent[1].bytes, PROTO_CHUNK_COST(10, 0));
	ck_assert(!fk_calls[0].k_paused && !fk_calls[1].k_paused);
	ck_assert_uint_eq(fk_paused(), 0);
	/* Nothing owed: nothing sent. */
	flow_conn_writable(NULL);
	ck_assert_uint_eq(fk_nsent, 2);
}
END_TEST

/* A window larger than the protocol's: the rest goes with the CALL, for
 * subscriptions only; each start is a fresh window. */
START_TEST(test_stream_window)
{
	fk_setup();
	fk_calls[0].k_pattern = WSPOOL_SUBSCRIPTION;
	fk_calls[1].k_pattern = WSPOOL_REQUEST;
	fk_calls[0].k_owed = 5;
	fk_calls[0].k_paused = true;
	flow_on_start(&fk_calls[0]);
	flow_on_start(&fk_calls[1]);
	ck_assert_uint_eq(fk_nsent, 0);
	ck_assert(fk_calls[0].k_owed == 0 && !fk_calls[0].k_paused);
	srv.cfg.stream_window = 4 * PROTO_CREDIT_WINDOW;
	flow_on_start(&fk_calls[0]);
	flow_on_start(&fk_calls[1]);
	ck_assert_uint_eq(fk_nsent, 1);
	ck_assert_uint_eq(fk_sent[0].id, 1);
	ck_assert_uint_eq(fk_sent[0].bytes, 3 * PROTO_CREDIT_WINDOW);
	/* Given back in quarters of that window. */
	flow_on_chunk(&fk_calls[0], PROTO_CREDIT_WINDOW - 100, 0);
	ck_assert_uint_eq(fk_nsent, 1);
	flow_on_chunk(&fk_calls[0], 100, 0);
	ck_assert_uint_eq(fk_nsent, 2);
	ck_assert_uint_eq(fk_sent[1].bytes, PROTO_CREDIT_WINDOW + 64); /* two chunks: 32 each */
}
END_TEST

START_TEST(test_no_worker_no_credit)
{
	fk_setup();
	fk_calls[0].k_worker = NULL;
	flow_on_chunk(&fk_calls[0], PROTO_CREDIT_WINDOW, 0);
	flow_conn_writable(NULL);
	ck_assert_uint_eq(fk_nsent, 0);
}
END_TEST

/* A CREDIT that could not be sent is not lost: the worker may wait for
 * it with no chunk to come; it goes on the retry timer's turn. */
START_TEST(test_failed_credit_is_sent_again)
{
	fk_setup();
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	fk_fail = true;
	flow_on_chunk(&fk_calls[0], PROTO_CREDIT_WINDOW, 0);
	ck_assert_uint_eq(fk_nsent, 0);
	ck_assert_uint_gt(fk_calls[0].k_owed, 0);
	/* Still no memory at the first retry: tried again later. */
	ck_assert_int_eq(event_base_loop(srv.base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fk_nsent, 0);
	fk_fail = false;
	ck_assert_int_eq(event_base_loop(srv.base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fk_nsent, 1);
	ck_assert_uint_eq(fk_sent[0].id, 1);
	ck_assert_uint_eq(fk_sent[0].bytes,
	    PROTO_CHUNK_COST(PROTO_CREDIT_WINDOW, 0));
	ck_assert_uint_eq(fk_calls[0].k_owed, 0);
	/* Paid: nothing left armed. */
	ck_assert_int_eq(event_base_loop(srv.base, EVLOOP_NONBLOCK), 1);
	flow_fini();
	event_base_free(srv.base);
	srv.base = NULL;
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("flow");
	TCase *tc = tcase_create("credits");
	SRunner *sr;
	int failed;

	flow_init();
	tcase_add_test(tc, test_credit_in_pieces);
	tcase_add_test(tc, test_withheld_over_budget);
	tcase_add_test(tc, test_stream_window);
	tcase_add_test(tc, test_no_worker_no_credit);
	tcase_add_test(tc, test_failed_credit_is_sent_again);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
