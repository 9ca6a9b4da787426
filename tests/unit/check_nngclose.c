/*
 * check_nngclose.c: unit tests for common/nngclose.c: closes submitted
 * from the caller's thread happen on the closer's, in full, connected
 * sockets included, and a drain at exit reports them all finished (the
 * close nng 1.5.2 never ends is a race inside nng: not reproducible here,
 * tests/integration/test_fleet.py meets it now and then).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "common/nngclose.h"

START_TEST(test_connected_pairs_close)
{
	char dir[] = "/tmp/check_nngclose.XXXXXX", url[128];
	nng_socket a[8], b[8];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int i = 0; i < 8; i++) {
		snprintf(url, sizeof(url), "ipc://%s/s%d", dir, i);
		ck_assert_int_eq(nng_pair1_open(&a[i]), 0);
		ck_assert_int_eq(nng_pair1_open(&b[i]), 0);
		ck_assert_int_eq(nng_listen(a[i], url, NULL, 0), 0);
		ck_assert_int_eq(nng_dial(b[i], url, NULL, 0), 0);
		ck_assert_int_eq(nng_send(b[i], "hello", 5, 0), 0);
	}
	for (int i = 0; i < 8; i++) {
		nngclose_submit(a[i]);
		nngclose_submit(b[i]);
	}
	ck_assert(nngclose_drain(10000));
	ck_assert_uint_eq(nngclose_pending(), 0);
	ck_assert_uint_eq(nngclose_waiting_ms(), 0);
	/* Closed for good: the ipc files went with their listeners. */
	ck_assert_int_eq(rmdir(dir), 0);
	/* The closer starts again after a drain. */
	ck_assert_int_eq(nng_pair1_open(&a[0]), 0);
	nngclose_submit(a[0]);
	ck_assert(nngclose_drain(10000));
	ck_assert_int_eq(nng_send(a[0], "x", 1, NNG_FLAG_NONBLOCK), NNG_ECLOSED);
}
END_TEST

START_TEST(test_drain_without_closes)
{
	ck_assert(nngclose_drain(0));
	ck_assert_uint_eq(nngclose_pending(), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("nngclose");
	TCase *tc = tcase_create("closer");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_drain_without_closes);
	tcase_add_test(tc, test_connected_pairs_close);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nng_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
