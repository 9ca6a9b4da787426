/*
 * log.h: one log line per event on stderr, in one format for both
 * programs: time, level, program[pid], then key=value context and a
 * message. A leaf: it uses nothing of wspool.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The level below which lines are written (default LOG_INFO). */
extern int log_level;

/* Name the program in every line ("master", "wspool-worker"). Call once,
 * before any thread starts. */
void log_init(const char *program);

/*
 * Write one line at level, if log_level lets it through. The line is
 * written with a single write(2), so lines from many threads and
 * processes sharing stderr never interleave mid-line; a line longer than
 * about 2 KiB is cut. Safe from any thread; not async-signal-safe.
 */
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A rate limit for repeated lines from one source (one worker, the
 * registry), so that a peer cannot flood the log: at most LOG_RATE_BURST
 * lines per LOG_RATE_WINDOW_MS; the lines dropped are counted and said in
 * one line when the next window opens. Zero-initialise it. Not locked:
 * one source is logged from one thread.
 */
struct log_rate {
	unsigned long long lr_start_ms;
	unsigned lr_count;
	unsigned lr_dropped;
};
#define LOG_RATE_BURST 10
#define LOG_RATE_WINDOW_MS 10000
/* Whether a line from this source may be written now. */
int log_rate_ok(struct log_rate *lr);
#define log_rated(lr, level, ...) \
	do { if (log_rate_ok(lr)) log_msg((level), __VA_ARGS__); } while (0)

/* "error", "warn", "info", "debug" to a level, or -1. */
int log_level_parse(const char *s);
const char *log_level_name(int level);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) do { if (log_level >= LOG_INFO) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif /* COMMON_LOG_H */
