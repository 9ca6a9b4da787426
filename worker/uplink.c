/*
 * uplink.c: the worker's link up to its master: joining on the registry
 * (HELLO, WELCOME back), the pair1 socket, and the receiver thread that
 * checks each nng message and hands its envelopes, by type, to the
 * handlers main.c registered. It sends nothing after joining (outbox.c
 * does) and names none of its consumers.
 *
 * Threads: the receiver (nng_recvmsg loop) is the only reader; nng's own
 * threads report the pipe's end.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nngclose.h"
#include "worker/uplink.h"

#define UPLINK_JOIN_TIMEOUT_MS 10000
/* How often the receiver looks up from nng_recvmsg (uplink_stop). */
#define UPLINK_RECV_POLL_MS 200

static struct {
	nng_socket ul_sock;
	bool ul_sock_open;
	const struct uplink_ops *ul_ops;
	pthread_t ul_receiver;
	bool ul_receiver_running;
	atomic_bool ul_stopping;        /* the receiver is to return */
	nng_tls_config *ul_tls;         /* for tls+tcp:// */
	uint64_t ul_timeout_ms;         /* a master silent this long is lost */
} uplink;

void
uplink_tls(nng_tls_config *cfg)
{
	if (cfg != NULL)
		nng_tls_config_hold(cfg);
	uplink.ul_tls = cfg;
}

/*
 * Dial address from s, with our TLS configuration for tls+tcp://. A
 * synchronous first try tells a refused handshake (wrong CA, no or a bad
 * certificate) at once; only a master not up yet is retried in the
 * background when retry is set.
 */
static int
uplink_dial(nng_socket s, const char *address, bool retry)
{
	nng_dialer d;
	bool tls = strncmp(address, "tls+tcp://", 10) == 0;
	int rv;

	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rv = nng_dialer_create(&d, s, address)) != 0)
			return rv;
		if (tls && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG,
		    uplink.ul_tls)) != 0)
			return rv;
		rv = nng_dialer_start(d, attempt == 0 ? 0 : NNG_FLAG_NONBLOCK);
		if (rv == 0 || !retry || rv != NNG_ECONNREFUSED)
			break;
		nng_dialer_close(d);
	}
	if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH)
		log_error("%s: the TLS handshake failed (%s): is the master's "
		    "certificate signed by --tls-ca, and ours by its CA?",
		    address, nng_strerror(rv));
	else if (rv == NNG_ECONNSHUT && tls)
		log_error("%s: the master closed the connection during the TLS "
		    "handshake: it does not accept our certificate", address);
	return rv;
}

static int
uplink_append_cb(void *data, const char *buf, size_t len)
{
	return nng_msg_append(*(nng_msg **)data, buf, len) == 0 ? 0 : -1;
}

/* ---- Joining --------------------------------------------------------- */

int
uplink_join(const char *address, const char *host, const char *digest,
    char **welcome, char **node, uint64_t *timeout_ms)
{
	struct proto_writer w;
	struct proto_reader r;
	struct proto_msg m;
	nng_socket s;
	nng_msg *msg = NULL;
	bool reader = false;
	int rv;

	*welcome = NULL;
	*node = NULL;
	if ((rv = nng_req0_open(&s)) != 0) {
		log_error("cannot open a req socket: %s", nng_strerror(rv));
		return -1;
	}
	/* A REQ must not resend the HELLO to another peer. */
	if ((rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ,
	    PROTO_MAX_STR * 2)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO,
	    UPLINK_JOIN_TIMEOUT_MS)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO,
	    UPLINK_JOIN_TIMEOUT_MS)) != 0) {
		log_error("cannot set up the req socket: %s", nng_strerror(rv));
		goto out;
	}
	/* A master not up yet is retried until the timeout. */
	if ((rv = uplink_dial(s, address, true)) != 0) {
		log_error("cannot dial %s: %s", address, nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 ||
	    (rv = proto_writer_init(&w, &msg, uplink_append_cb)) != 0 ||
	    (rv = proto_put_hello(&w, (int64_t)getpid(), host, digest)) != 0) {
		log_error("cannot build the hello message");
		goto out;
	}
	if ((rv = nng_sendmsg(s, msg, 0)) != 0)
		goto nomaster;
	msg = NULL;
	if ((rv = nng_recvmsg(s, &msg, 0)) != 0)
		goto nomaster;
	reader = true;
	if ((rv = proto_reader_init(&r, nng_msg_body(msg),
	    nng_msg_len(msg))) == 0 &&
	    (rv = proto_reader_next(&r, &m)) == 1 && m.type == PROTO_REFUSE) {
		log_error("the master at %s refused us: %.*s", address,
		    (int)m.str.len, m.str.ptr);
		goto out;
	}
	if (rv < 0 || m.type != PROTO_WELCOME || m.str.len == 0 ||
	    memchr(m.str.ptr, '\0', m.str.len) != NULL ||
	    memchr(m.str2.ptr, '\0', m.str2.len) != NULL)
		goto notwelcome;
	*timeout_ms = (uint64_t)m.num;
	if ((*welcome = strndup(m.str.ptr, m.str.len)) == NULL ||
	    (*node = strndup(m.str2.len ? m.str2.ptr : "", m.str2.len)) ==
	    NULL || proto_reader_next(&r, &m) != 0)
		goto notwelcome;
	goto out;
notwelcome:
	log_error("protocol error: the master's answer to hello is not a "
	    "welcome: %s", r.error ? r.error : "wrong message");
	free(*welcome);
	free(*node);
	*welcome = NULL;
	*node = NULL;
	goto out;
nomaster:
	if (rv == NNG_ETIMEDOUT)
		log_error("no master at %s", address);
	else
		log_error("joining %s failed: %s", address, nng_strerror(rv));
out:
	if (reader)
		proto_reader_fini(&r);
	if (msg != NULL)
		nng_msg_free(msg);
	nng_close(s);
	return *welcome != NULL ? 0 : -1;
}

/* nng thread: our pipe to the master is gone. Closing the socket here
 * would deadlock (nng waits for this callback): only hand the news on. */
static void
uplink_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	if (ev == NNG_PIPE_EV_REM_POST)
		uplink.ul_ops->uo_end_cb(UPLINK_LOST, uplink.ul_ops->uo_arg);
}

int
uplink_connect(const char *address, uint64_t timeout_ms,
    const struct uplink_ops *ops)
{
	uint64_t poll_ms = UPLINK_RECV_POLL_MS;
	int rv;

	uplink.ul_ops = ops;
	uplink.ul_timeout_ms = timeout_ms;
	/* Look up often enough to send heartbeats a third of the way. */
	if (timeout_ms > 0 && timeout_ms / 4 < poll_ms)
		poll_ms = timeout_ms / 4 > 10 ? timeout_ms / 4 : 10;
	if ((rv = nng_pair1_open(&uplink.ul_sock)) != 0) {
		log_error("cannot open a pair1 socket: %s", nng_strerror(rv));
		return -1;
	}
	uplink.ul_sock_open = true;
	/*
	 * nng 1.5's nng_close can hang while another thread is blocked in
	 * nng_recvmsg on the socket (seen at shutdown): the receiver wakes up
	 * every UPLINK_RECV_POLL_MS to see whether to stop, and the socket is
	 * closed only after it returned.
	 */
	if ((rv = nng_socket_set_size(uplink.ul_sock, NNG_OPT_RECVMAXSZ,
	    PROTO_MAX_BATCH)) != 0 ||
	    (rv = nng_socket_set_ms(uplink.ul_sock, NNG_OPT_RECVTIMEO,
	    (nng_duration)poll_ms)) != 0 ||
	    (rv = nng_pipe_notify(uplink.ul_sock, NNG_PIPE_EV_REM_POST,
	    uplink_pipe_cb, NULL)) != 0) {
		log_error("cannot set up the pair1 socket: %s",
		    nng_strerror(rv));
		return -1;
	}
	/* Blocking: the master just told us this address, it must answer. */
	if ((rv = uplink_dial(uplink.ul_sock, address, false)) != 0) {
		log_error("cannot connect to %s: %s", address,
		    nng_strerror(rv));
		return -1;
	}
	return 0;
}

uint32_t
uplink_socket_id(void)
{
	return (uint32_t)nng_socket_id(uplink.ul_sock);
}

/* ---- Receiving ------------------------------------------------------- */

/* One nng message from the master. Returns 0, or -1 when it is garbage. */
static int
uplink_dispatch(const void *buf, size_t len)
{
	const struct uplink_ops *ops = uplink.ul_ops;
	struct proto_reader r;
	struct proto_msg m;
	int rv;

	/* Version first, then each envelope checked before its handler. */
	if ((rv = proto_reader_init(&r, buf, len)) != 0) {
		log_error("protocol error: %s", r.error);
		goto out;
	}
	while ((rv = proto_reader_next(&r, &m)) == 1) {
		uplink_handler_fn fn = NULL;

		if (m.type == PROTO_HEARTBEAT)
			continue;       /* it arrived: that is all it says */
		if ((size_t)m.type < ops->uo_nhandlers)
			fn = ops->uo_handlers[m.type];
		if (fn == NULL) {
			log_error("protocol error: unexpected %s message",
			    proto_type_name((int)m.type));
			rv = -1;
			goto out;
		}
		/* The handler explains what it refuses. */
		if ((rv = fn(&m, ops->uo_arg)) != 0)
			goto out;
	}
	if (rv < 0)
		log_error("protocol error: %s", r.error);
out:
	/* What was taken before a violation still counts. */
	ops->uo_batch_cb(ops->uo_arg);
	proto_reader_fini(&r);
	return rv < 0 ? -1 : 0;
}

static void *
uplink_receiver_cb(void *arg)
{
	const struct uplink_ops *ops = uplink.ul_ops;
	uint64_t timeout = uplink.ul_timeout_ms, last_rx = clock_now_ms();

	(void)arg;
	for (;;) {
		nng_msg *msg;
		uint64_t now;
		int rv;

		rv = nng_recvmsg(uplink.ul_sock, &msg, 0);
		now = clock_now_ms();
		if (rv == 0)
			last_rx = now;
		if (timeout > 0 && now - last_rx > timeout) {
			/* A frozen master, a cut link, a partition: nothing
			 * closes the pipe, silence is the only sign. */
			if (rv == 0)
				nng_msg_free(msg);
			log_error("the master has been silent for %llu ms: lost",
			    (unsigned long long)(now - last_rx));
			ops->uo_end_cb(UPLINK_LOST, ops->uo_arg);
			break;
		}
		if (ops->uo_tick_cb != NULL)
			ops->uo_tick_cb(timeout / 3, ops->uo_arg);
		if (rv != 0) {
			/* A timeout only lets us look at ul_stopping. */
			if (rv == NNG_ETIMEDOUT &&
			    !atomic_load(&uplink.ul_stopping))
				continue;
			if (rv != NNG_ETIMEDOUT && rv != NNG_ECLOSED) {
				log_error("receive from master failed: %s",
				    nng_strerror(rv));
				ops->uo_end_cb(UPLINK_LOST, ops->uo_arg);
			}
			break;
		}
		rv = uplink_dispatch(nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
		if (rv != 0) {
			/* Peer is speaking garbage: it is not trusted. */
			ops->uo_end_cb(UPLINK_GARBAGE, ops->uo_arg);
			break;
		}
	}
	return NULL;
}

int
uplink_start(void)
{
	int rv;

	if ((rv = pthread_create(&uplink.ul_receiver, NULL, uplink_receiver_cb,
	    NULL)) == 0)
		uplink.ul_receiver_running = true;
	return rv;
}

bool
uplink_stop(uint64_t close_ms)
{
	bool ok = true;

	/* The receiver first (it polls ul_stopping), then the socket, whose
	 * close wakes a blocked sender. */
	atomic_store(&uplink.ul_stopping, true);
	if (uplink.ul_receiver_running)
		pthread_join(uplink.ul_receiver, NULL);
	uplink.ul_receiver_running = false;
	if (uplink.ul_sock_open) {
		/* nng 1.5.2 may never finish it (nngclose.h): bounded, past
		 * close_ms the caller leaves without it. */
		nngclose_submit(uplink.ul_sock);
		ok = nngclose_drain(close_ms);
	}
	uplink.ul_sock_open = false;
	if (!ok)
		return false;
	if (uplink.ul_tls != NULL)
		nng_tls_config_free(uplink.ul_tls);
	uplink.ul_tls = NULL;
	return true;
}
