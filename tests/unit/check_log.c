/*
 * check_log.c: unit tests for common/log.c's rate limit (log_rate_ok): a
 * burst of lines from one source passes, the rest are held back until the
 * window ends, and sources do not share a budget.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

START_TEST(test_burst_then_quiet)
{
	struct log_rate a, b;
	int passed = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	log_level = LOG_ERROR;      /* the "lines not logged" line too */
	for (int i = 0; i < 1000; i++)
		passed += log_rate_ok(&a);
	ck_assert_int_eq(passed, LOG_RATE_BURST);
	ck_assert_uint_eq(a.lr_dropped, 1000 - LOG_RATE_BURST);
	/* Another source has its own budget. */
	ck_assert_int_eq(log_rate_ok(&b), 1);
	/* A new window: the budget comes back, the count starts over. */
	a.lr_start_ms = clock_now_ms() - LOG_RATE_WINDOW_MS;
	ck_assert_int_eq(log_rate_ok(&a), 1);
	ck_assert_uint_eq(a.lr_dropped, 0);
	ck_assert_uint_eq(a.lr_count, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("rate");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_burst_then_quiet);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
