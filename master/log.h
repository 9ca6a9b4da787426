/*
 * log.h: one line per event on stderr: time, level, then key=value
 * context (conn, call, route, worker) and a message.
 */
#ifndef MASTER_LOG_H
#define MASTER_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level;

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_level_parse(const char *s);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) do { if (log_level >= LOG_INFO) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
