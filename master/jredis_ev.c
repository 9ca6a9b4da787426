/*
 * jredis_ev.c: hiredis's asynchronous context on a libevent loop: the
 * adapter that hiredis ships (adapters/libevent.h), with its allocations
 * checked and persistent events.
 */
#include "config.h"

#include <stdlib.h>

#include "master/jredis_ev.h"

/* The libevent side of one hiredis context. */
struct jr_ev {
	redisAsyncContext *je_ac;
	struct event *je_rev;
	struct event *je_wev;
};

static void
jredis_ev_read_cb(evutil_socket_t fd, short what, void *arg)
{
	redisAsyncHandleRead(((struct jr_ev *)arg)->je_ac);
}

static void
jredis_ev_write_cb(evutil_socket_t fd, short what, void *arg)
{
	redisAsyncHandleWrite(((struct jr_ev *)arg)->je_ac);
}

static void
jredis_ev_add_read(void *p)
{
	event_add(((struct jr_ev *)p)->je_rev, NULL);
}

static void
jredis_ev_del_read(void *p)
{
	event_del(((struct jr_ev *)p)->je_rev);
}

static void
jredis_ev_add_write(void *p)
{
	event_add(((struct jr_ev *)p)->je_wev, NULL);
}

static void
jredis_ev_del_write(void *p)
{
	event_del(((struct jr_ev *)p)->je_wev);
}

static void
jredis_ev_cleanup(void *p)
{
	struct jr_ev *e = p;

	event_free(e->je_rev);
	event_free(e->je_wev);
	free(e);
}

/* hiredis's libevent adapter, with its allocations checked. */
int
jredis_ev_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct jr_ev *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->je_ac = ac;
	e->je_rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST,
	    jredis_ev_read_cb, e);
	e->je_wev = event_new(base, ac->c.fd, EV_WRITE | EV_PERSIST,
	    jredis_ev_write_cb, e);
	if (e->je_rev == NULL || e->je_wev == NULL) {
		if (e->je_rev != NULL)
			event_free(e->je_rev);
		if (e->je_wev != NULL)
			event_free(e->je_wev);
		free(e);
		return -1;
	}
	ac->ev.addRead = jredis_ev_add_read;
	ac->ev.delRead = jredis_ev_del_read;
	ac->ev.addWrite = jredis_ev_add_write;
	ac->ev.delWrite = jredis_ev_del_write;
	ac->ev.cleanup = jredis_ev_cleanup;
	ac->ev.data = e;
	event_add(e->je_rev, NULL);
	event_add(e->je_wev, NULL);
	return 0;
}
