/*
 * dispatch.h: the wiring of the master, done once at start-up: which
 * module hears each message type from the workers, a worker's death, its
 * joining and the end of its drain. The lower layers name none of these
 * consumers; this is the one place that does.
 */
#ifndef MASTER_DISPATCH_H
#define MASTER_DISPATCH_H

/* Register every handler and hook. Call before any worker can join. */
void dispatch_init(void);

#endif /* MASTER_DISPATCH_H */
