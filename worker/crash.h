/*
 * crash.h: the worker's side of the crash page (proto/crashpage.h): which
 * calls it has started, and which call a fatal signal interrupted. A leaf.
 */
#ifndef WORKER_CRASH_H
#define WORKER_CRASH_H

#include <stdint.h>

/*
 * Map the page the master passed (fd; -1: none, for a worker started by
 * hand) and catch the fatal signals on an alternate stack. Call once, on
 * the main thread, before any handler thread starts. Returns 0, or -1
 * (logged) for an fd that is not a crash page.
 */
int crash_init(int fd);

/* Receiver thread: the number of the CALL just received (1, 2...). */
uint64_t crash_next_seq(void);

/*
 * A pool thread starts call call_id, received as number seq: publish it as
 * started, and name it as this thread's call until crash_leave. Gives the
 * thread its alternate signal stack the first time.
 */
void crash_enter(uint64_t call_id, uint64_t seq);
void crash_leave(void);

/* A call numbered seq will never run (dropped): count it as started, so
 * the master never takes a later call for one that has not started. */
void crash_skip(uint64_t seq);

#endif /* WORKER_CRASH_H */
