/*
 * threads.h: the pool of threads that runs handlers and cleanups. Hears
 * back through the idle callback given at start.
 */
#ifndef WORKER_THREADS_H
#define WORKER_THREADS_H

#include <stdbool.h>
#include <stddef.h>

/* A unit of work; embed it first in the object it runs. */
struct job {
	void (*j_fn)(struct job *);
	struct job *j_next;
};

/* Jobs collected from one message of the master, submitted together. */
struct job_list {
	struct job *jl_first;
	struct job *jl_last;
};

/* Append j to jl. */
void threads_list_add(struct job_list *jl, struct job *j);

/*
 * Start n threads, growing up to max when every thread is busy and queued
 * work has not moved for a while (handlers may block). Handler threads get
 * stack_size bytes of stack (0: the default). idle_cb runs, on a pool
 * thread and with no pool lock held, each time the pool becomes idle
 * (nothing queued, nothing running). Returns 0 or an errno.
 */
int threads_start(unsigned n, unsigned max, size_t stack_size,
    void (*idle_cb)(void));
/* Queue a list of jobs (linked by j_next, NULL-terminated), in order. */
void threads_submit(struct job *first);
/* True when nothing is queued or running. */
bool threads_idle(void);
/* From a job: true when it is the only one queued or running (a reply it
 * sends now would travel alone anyway). A hint: no lock is taken. */
bool threads_alone(void);
/* Join every thread: call only once idle (threads_idle). */
void threads_stop(void);

#endif /* WORKER_THREADS_H */
