/*
 * join.c: the registry. A worker sends HELLO(pid, host) on a req0 socket;
 * the master opens the worker's link (link.c) and answers WELCOME with
 * its address, which the worker dials before it says READY there.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/log.h"
#include "master/join.h"
#include "master/link.h"
#include "master/master.h"
#include "proto/proto.h"

#define JOIN_MAX_MSG (64 * 1024)   /* a HELLO is a few dozen bytes */

static struct {
	nng_socket reg;
	bool reg_open;
	struct event *reg_ev;
	char reg_ipc[PATH_MAX + 16];
	join_hello_fn on_hello;
} join;

void
join_on_hello(join_hello_fn fn)
{
	join.on_hello = fn;
}

const char *
join_local_address(void)
{
	return join.reg_ipc;
}

static int
join_msg_write(void *data, const char *buf, size_t len)
{
	return nng_msg_append((nng_msg *)data, buf, len) == 0 ? 0 : -1;
}

/* One registry message: a HELLO gets a link and a WELCOME, anything else
 * is ignored (a req0 peer that gets no answer gives up on its own). */
static void
join_hello(nng_msg *msg)
{
	struct proto_reader rd;
	struct proto_msg m;
	struct proto_writer pw;
	struct worker *w;
	nng_sockaddr via;
	nng_msg *reply;
	char addr[512];

	if (proto_reader_init(&rd, nng_msg_body(msg), nng_msg_len(msg)) != 0 ||
	    proto_reader_next(&rd, &m) != 1 || m.type != PROTO_HELLO) {
		log_warn("registry: not a HELLO (%s): ignored",
		    rd.error ? rd.error : "wrong type");
		goto out;
	}
	if (srv.exiting ||
	    nng_pipe_get_addr(nng_msg_get_pipe(msg), NNG_OPT_LOCADDR, &via) != 0)
		goto out;
	if ((w = link_open((pid_t)m.num, m.str.ptr, m.str.len, &via, addr,
	    sizeof(addr))) == NULL)
		goto out;
	if (join.on_hello(w, via.s_family == NNG_AF_IPC) != 0) {
		link_discard(w);
		goto out;
	}
	if (nng_msg_alloc(&reply, 0) != 0)
		goto out;
	proto_writer_init(&pw, reply, join_msg_write);
	proto_put_welcome(&pw, addr, srv.cfg.node_name);
	if (pw.error != 0 || nng_sendmsg(join.reg, reply, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(reply);
	log_debug("worker %d (host %s) joining at %s", (int)w->w_pid,
	    w->w_host, addr);
out:
	proto_reader_fini(&rd);
}

static void
join_registry_cb(evutil_socket_t fd, short what, void *arg)
{
	nng_msg *msg;

	while (nng_recvmsg(join.reg, &msg, NNG_FLAG_NONBLOCK) == 0) {
		join_hello(msg);
		nng_msg_free(msg);
	}
}

int
join_start(void)
{
	int fd, rv;

	if ((rv = nng_rep0_open(&join.reg)) != 0)
		goto fail;
	join.reg_open = true;
	nng_socket_set_size(join.reg, NNG_OPT_RECVMAXSZ, JOIN_MAX_MSG);
	snprintf(join.reg_ipc, sizeof(join.reg_ipc), "ipc://%s/registry",
	    srv.rundir);
	if ((rv = nng_listen(join.reg, join.reg_ipc, NULL, 0)) != 0)
		goto fail;
	for (size_t i = 0; i < srv.cfg.nworker_listen; i++) {
		if ((rv = nng_listen(join.reg, srv.cfg.worker_listen[i], NULL,
		    0)) != 0) {
			log_error("cannot listen for workers at %s: %s",
			    srv.cfg.worker_listen[i], nng_strerror(rv));
			return -1;
		}
		log_info("workers may join at %s", srv.cfg.worker_listen[i]);
	}
	if ((rv = nng_socket_get_int(join.reg, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	join.reg_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST,
	    join_registry_cb, NULL);
	if (join.reg_ev == NULL)
		return -1;
	event_add(join.reg_ev, NULL);
	return 0;
fail:
	log_error("worker registry: %s", nng_strerror(rv));
	return -1;
}

void
join_stop(void)
{
	if (join.reg_ev != NULL)
		event_free(join.reg_ev);
	if (join.reg_open)
		nng_close(join.reg);
	join.reg_ev = NULL;
	join.reg_open = false;
}
