/*
 * jredis_ev.h: a hiredis asynchronous context driven by a libevent loop
 * (its reads and writes as events of base; hiredis frees them with the
 * context).
 */
#ifndef MASTER_JREDIS_EV_H
#define MASTER_JREDIS_EV_H

#include <event2/event.h>
#include <hiredis/async.h>

/* Returns 0, or -1 (no memory: nothing attached). */
int jredis_ev_attach(redisAsyncContext *ac, struct event_base *base);

#endif /* MASTER_JREDIS_EV_H */
