/*
 * log.c: structured log lines on stderr, one write each so lines from the
 * master and its workers never interleave mid-line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

int log_level = LOG_INFO;

static const char *log_program = "wspool";

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *program)
{
	log_program = program;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(int level)
{
	return log_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s[%d]: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
	    log_level_name(level), log_program, (int)getpid());
	if (n < 0)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Nothing to do if stderr is gone. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

int
log_rate_ok(struct log_rate *lr)
{
	unsigned long long now = clock_now_ms();

	if (lr->lr_start_ms == 0 || now - lr->lr_start_ms >= LOG_RATE_WINDOW_MS) {
		if (lr->lr_dropped > 0)
			log_msg(LOG_WARN, "%u similar lines not logged in the "
			    "last %u s", lr->lr_dropped, LOG_RATE_WINDOW_MS / 1000);
		lr->lr_start_ms = now;
		lr->lr_count = 0;
		lr->lr_dropped = 0;
	}
	if (lr->lr_count < LOG_RATE_BURST) {
		lr->lr_count++;
		return 1;
	}
	lr->lr_dropped++;
	return 0;
}
