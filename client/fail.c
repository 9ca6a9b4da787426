/*
 * fail.c: the first failure of a wspool-call run, its exit status and its
 * message (see fail.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "client/fail.h"

static enum fail_status fail_first = FAIL_NONE;
static char fail_text[1024];

int
fail_set(enum fail_status status, const char *fmt, ...)
{
	va_list ap;

	if (fail_first != FAIL_NONE)
		return -1;
	fail_first = status;
	va_start(ap, fmt);
	/* A message cut at 1 KiB still says what failed. */
	(void)vsnprintf(fail_text, sizeof(fail_text), fmt, ap);
	va_end(ap);
	return -1;
}

enum fail_status
fail_status(void)
{
	return fail_first;
}

int
fail_report(void)
{
	if (fail_first != FAIL_NONE && fail_text[0] != '\0')
		fprintf(stderr, "wspool-call: %s\n", fail_text);
	return (int)fail_first;
}
