/*
 * runtime.h: the worker's states (running, draining, master lost, SIGTERM,
 * garbage from the master) and its ways out.
 */
#ifndef WORKER_RUNTIME_H
#define WORKER_RUNTIME_H

#include <stdbool.h>

enum runtime_state {
	RUNTIME_RUNNING = 0,
	RUNTIME_DRAINING,       /* DRAIN received: finish, take nothing new */
	RUNTIME_LOST,           /* the master's pipe is gone */
	RUNTIME_TERMINATED,     /* SIGTERM or SIGINT */
	RUNTIME_FATAL,          /* the master sent garbage */
};

/* The exit status of a session whose master was lost (then it starts
 * again, when it rejoins). */
#define RUNTIME_EXIT_LOST 75

/* Block SIGTERM and SIGINT and start the thread that takes them; call
 * before any other thread starts. Returns 0 or an errno. */
int runtime_start(void);
/* From now on SIGTERM winds down (before, it kills). */
void runtime_serving(void);
/* Move to state: LOST, TERMINATED and FATAL are final, DRAINING only
 * follows RUNNING. Any thread. */
void runtime_set_state(enum runtime_state state);
/* DRAIN or SIGTERM: refuse new calls. runtime_drain returns true the first
 * time. */
bool runtime_drain(void);
bool runtime_draining(void);
/* For threads_start: the pool just became idle. */
void runtime_idle_cb(void);
/* Wait for the end: drained and idle, master lost, garbage, or SIGTERM. */
enum runtime_state runtime_wait_end(void);
/* Take the way out that state calls for; returns the exit status. */
int runtime_exit(enum runtime_state state);
/* Rejoin a lost master: runtime_exit_or_respawn runs argv again (kept). */
void runtime_respawn(char **argv);
/* _exit(status); with respawn set and status non-zero, run this program
 * again (same pid) after a back-off (100 ms doubling to 10 s). */
void runtime_exit_or_respawn(int status) __attribute__((noreturn));
/* Stop the signal thread. */
void runtime_stop(void);

#endif /* WORKER_RUNTIME_H */
