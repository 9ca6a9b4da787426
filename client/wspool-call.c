/*
 * wspool-call.c: a command-line client for wspool (and any server that
 * speaks alien-rpc's WebSocket message protocol): one call per run, its
 * answer printed as JSON. Usage and exit statuses: wspool-call(1).
 *
 * Design notes: the life of a run
 * 1. Options, URL, headers and the call message are checked before any
 *    byte goes out: a usage error never reaches the server.
 * 2. The name is resolved once; both connections below use the result.
 * 3. Unless --notify or --no-routes: GET /routes on a connection of its
 *    own. A 200 manifest naming METHOD gives its pattern; otherwise
 *    --subscribe decides (a request by default). A client cannot tell a
 *    subscription from a request by its first answer.
 * 4. A second connection upgrades to WebSocket and sends the one call.
 * 5. The call ends: an answer, an error, the server's close, or a signal
 *    or the deadline (which send .cancel first). Then our close frame
 *    goes out and we wait, at most CALL_CLOSE_GRACE_MS, for the server's.
 *    Once it came the server has read all we sent, so closing the socket
 *    (even with unread chunks, which makes the kernel send a reset)
 *    cannot destroy a .cancel still in flight.
 * The exit status is the first failure recorded (fail.h), else 0.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "client/fail.h"
#include "client/http.h"
#include "client/msg.h"
#include "client/net.h"
#include "client/url.h"
#include "client/wsc.h"

/* How long the close handshake may take once the call has ended. */
#define CALL_CLOSE_GRACE_MS 1000
/* The largest answer we take (wslay closes with 1009 past it). */
#define CALL_MAX_MESSAGE ((uint64_t)64 << 20)
/* The largest route manifest we read. */
#define CALL_MAX_MANIFEST ((size_t)16 << 20)

static const char call_cancel_msg[] =
    "{\"method\":\".cancel\",\"params\":[" MSG_CALL_ID "]}";

static const char *const call_pattern_names[] = {
	[MSG_UNKNOWN] = "unknown", [MSG_REQUEST] = "request",
	[MSG_SUBSCRIPTION] = "subscription",
	[MSG_NOTIFICATION] = "notification",
};

struct call {
	/* The command line. */
	const char *cl_url_text;
	struct url cl_url;
	struct http_headers cl_headers;
	const char *cl_cacert;
	bool cl_insecure;
	bool cl_notify;
	bool cl_subscribe;
	bool cl_no_routes;
	const char *cl_timeout_text;
	uint64_t cl_deadline;           /* NET_FOREVER: no --timeout */
	const char *cl_method;
	char **cl_params;
	size_t cl_nparams;
	/* The run. */
	char cl_peer[300];              /* "host:port" for messages */
	char cl_tls_host[256];          /* the host, without an IPv6 zone */
	SSL_CTX *cl_tls;
	struct addrinfo *cl_addrs;
	enum msg_pattern cl_pattern;
	char *cl_message;
	size_t cl_message_len;
	/* The conversation. */
	struct wsc *cl_wsc;
	bool cl_closing;                /* the call ended; closing */
	uint64_t cl_grace;              /* give up the close then; 0: not yet */
};

static void
call_usage(FILE *f)
{
	fprintf(f,
	    "usage: wspool-call [OPTION]... URL METHOD [PARAM]...\n"
	    "Call METHOD on the wspool server at URL (ws://HOST:PORT/PATH or\n"
	    "wss://HOST:PORT/PATH) and print the answer as JSON. Each PARAM is\n"
	    "JSON if it parses as JSON, else a string.\n"
	    "\n"
	    "  -H, --header 'NAME: VALUE'  add a header to the upgrade request\n"
	    "                             (repeatable)\n"
	    "  -n, --notify               send a notification: no answer\n"
	    "  -s, --subscribe            a subscription: print each chunk\n"
	    "                             until close (when /routes says not)\n"
	    "  -t, --timeout SECS         give up after SECS (exit 124)\n"
	    "      --cacert FILE          trust the CA certificates in FILE\n"
	    "                             instead of the system's (wss://)\n"
	    "  -k, --insecure             do not verify the server's\n"
	    "                             certificate (wss://)\n"
	    "      --no-routes            do not ask GET /routes for the\n"
	    "                             route's pattern\n"
	    "  -h, --help                 this help\n"
	    "  -V, --version              the version\n"
	    "\n"
	    "Exit status: 0 done, 1 the server answered an error, 2 usage,\n"
	    "3 cannot connect, 4 TLS, 5 upgrade refused, 6 connection or\n"
	    "protocol failure, 70 local failure, 124 timeout, 130 interrupted.\n"
	    "See wspool-call(1).\n");
}

/* --timeout SECS: a decimal number of seconds; 0 means none. */
static int
call_parse_timeout(struct call *c, const char *s)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(secs) ||
	    secs < 0 || secs > 1e9)
		return fail_set(FAIL_USAGE, "bad --timeout '%s': want seconds, "
		    "such as 5 or 0.5", s);
	c->cl_timeout_text = s;
	c->cl_deadline = secs > 0 ? clock_now_ms() + (uint64_t)ceil(secs *
	    1000) : NET_FOREVER;
	return 0;
}

/* 0: go on; 1: done (--help, --version); -1: a usage error, recorded. */
static int
call_options(struct call *c, int argc, char **argv)
{
	enum { OPT_CACERT = 256, OPT_NO_ROUTES };
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "notify", no_argument, NULL, 'n' },
		{ "subscribe", no_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "insecure", no_argument, NULL, 'k' },
		{ "no-routes", no_argument, NULL, OPT_NO_ROUTES },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char **lines;
	int ch;

	c->cl_deadline = NET_FOREVER;
	/* "+": options end at URL, so a PARAM such as -1 stays a PARAM. */
	while ((ch = getopt_long(argc, argv, "+H:nst:khV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'H':
			if (http_header_check(optarg) != 0)
				return -1;
			lines = realloc(c->cl_headers.hh_lines,
			    (c->cl_headers.hh_n + 1) * sizeof(*lines));
			if (lines == NULL)
				return fail_set(FAIL_LOCAL, "out of memory");
			lines[c->cl_headers.hh_n++] = optarg;
			c->cl_headers.hh_lines = lines;
			break;
		case 'n':
			c->cl_notify = true;
			break;
		case 's':
			c->cl_subscribe = true;
			break;
		case 't':
			if (call_parse_timeout(c, optarg) != 0)
				return -1;
			break;
		case OPT_CACERT:
			c->cl_cacert = optarg;
			break;
		case 'k':
			c->cl_insecure = true;
			break;
		case OPT_NO_ROUTES:
			c->cl_no_routes = true;
			break;
		case 'h':
			call_usage(stdout);
			return 1;
		case 'V':
			printf("wspool-call %s\n", PACKAGE_VERSION);
			return 1;
		default:
			/* getopt said what was wrong. */
			return fail_set(FAIL_USAGE, "try 'wspool-call --help'");
		}
	}
	if (argc - optind < 2) {
		call_usage(stderr);
		return fail_set(FAIL_USAGE, "%s", "");
	}
	if (c->cl_notify && c->cl_subscribe)
		return fail_set(FAIL_USAGE, "--notify and --subscribe exclude "
		    "each other");
	c->cl_url_text = argv[optind];
	c->cl_method = argv[optind + 1];
	c->cl_params = argv + optind + 2;
	c->cl_nparams = (size_t)(argc - optind - 2);
	return 0;
}

/* A wait that a deadline or a signal ended: record it and say what for. */
static int
call_stopped(struct call *c, int rv, const char *doing)
{
	if (rv == NET_TIMEOUT)
		return fail_set(FAIL_TIMEOUT, "timed out after %s s %s %s",
		    c->cl_timeout_text, doing, c->cl_peer);
	if (rv == NET_SIGNAL)
		return fail_set(net_signal() == SIGTERM ? FAIL_SIGTERM :
		    FAIL_SIGINT, "%s", "");
	return -1;      /* NET_ERROR: recorded where it happened */
}

static int
call_connect(struct call *c, struct net *n)
{
	int rv;

	rv = net_connect(n, c->cl_addrs, c->cl_tls, c->cl_tls_host,
	    c->cl_url.u_literal, c->cl_peer, c->cl_deadline);
	return rv == 0 ? 0 : call_stopped(c, rv, "connecting to");
}

/*
 * GET /routes: the route's pattern from the server's manifest, MSG_UNKNOWN
 * when there is none (404, say) or it does not name METHOD, -1 when the
 * run must stop (cannot connect, deadline, signal).
 */
static int
call_manifest(struct call *c)
{
	struct net n;
	char *body = NULL, why[256];
	size_t len = 0;
	int rv;

	if (call_connect(c, &n) != 0)
		return -1;
	rv = http_get_routes(&n, &c->cl_url, &c->cl_headers,
	    CALL_MAX_MANIFEST, c->cl_deadline, &body, &len);
	if (rv == NET_ERROR && fail_status() == FAIL_NONE)
		snprintf(why, sizeof(why), "%s", n.n_error);
	net_close(&n);
	if (rv == NET_TIMEOUT || rv == NET_SIGNAL)
		return call_stopped(c, rv, "asking for /routes at");
	if (rv == NET_ERROR) {
		if (fail_status() != FAIL_NONE)
			return -1;
		/* The manifest is a hint: without it, the flags decide. */
		fprintf(stderr, "wspool-call: no route manifest (%s)\n", why);
		return MSG_UNKNOWN;
	}
	if (rv != 200)
		return MSG_UNKNOWN;     /* 404: a server without /routes */
	rv = msg_manifest_pattern(body, len, c->cl_method, why, sizeof(why));
	free(body);
	if (rv < 0) {
		fprintf(stderr, "wspool-call: GET /routes answered 200 but not "
		    "with a route manifest (%s)\n", why);
		return MSG_UNKNOWN;
	}
	return rv;
}

/* Decide how to call METHOD (request, subscription, notification). */
static int
call_pattern(struct call *c)
{
	enum msg_pattern flags = c->cl_subscribe ? MSG_SUBSCRIPTION :
	    MSG_REQUEST;
	int listed;

	if (c->cl_notify) {
		c->cl_pattern = MSG_NOTIFICATION;
		return 0;
	}
	c->cl_pattern = flags;
	if (c->cl_no_routes)
		return 0;
	if ((listed = call_manifest(c)) < 0)
		return -1;
	if (listed == MSG_UNKNOWN)
		return 0;
	/* The server knows its routes better than the command line does. */
	if (c->cl_subscribe && listed != MSG_SUBSCRIPTION)
		fprintf(stderr, "wspool-call: the server lists %s as a %s; "
		    "calling it as one\n", c->cl_method,
		    call_pattern_names[listed]);
	c->cl_pattern = (enum msg_pattern)listed;
	if (listed == MSG_NOTIFICATION) {
		/* Sent without an id: build the message again. */
		free(c->cl_message);
		c->cl_message = NULL;
		return msg_call(c->cl_method, c->cl_params, c->cl_nparams,
		    false, &c->cl_message, &c->cl_message_len);
	}
	return 0;
}

/*
 * The call is over (status already recorded when it is a failure): send
 * .cancel first if asked, then our close frame.
 */
static void
call_finish(struct call *c, bool cancel)
{
	if (c->cl_closing)
		return;
	c->cl_closing = true;
	if (cancel)
		(void)wsc_send_text(c->cl_wsc, call_cancel_msg,
		    sizeof(call_cancel_msg) - 1);
	(void)wsc_close(c->cl_wsc, 1000);
	/* A notification waits for its close to be written (below). */
	if (c->cl_pattern != MSG_NOTIFICATION)
		c->cl_grace = clock_now_ms() + CALL_CLOSE_GRACE_MS;
}

/*
 * One line on fd: json and a newline (an empty line: undefined). Plain
 * writes, no stdio buffer that exit() would flush into a pipe nobody
 * reads; a signal may cut a write that blocks, and the loop then sees it.
 */
static int
call_print(struct call *c, int fd, const char *json, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)json, .iov_len = len },
		{ .iov_base = (void *)(uintptr_t)"\n", .iov_len = 1 },
	};
	struct iovec *v = iov;
	int nv = 2, err = 0;
	ssize_t n;

	/* Interrupted already: what is left of the input goes unprinted. */
	if (net_signal_pending())
		return 0;
	net_signals_allow(true);
	while (nv > 0) {
		if ((n = writev(fd, v, nv)) < 0) {
			if (errno == EINTR && !net_signal_pending())
				continue;
			err = errno;
			break;
		}
		/* Step over what was written, whole vectors first. */
		while (nv > 0 && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			nv--;
		}
		if (nv > 0) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	net_signals_allow(false);
	if (err == 0 || err == EINTR)
		return 0;
	if (fd == STDOUT_FILENO && err == EPIPE)
		fail_set(FAIL_SIGPIPE, "%s", "");
	else
		fail_set(FAIL_LOCAL, "cannot write to %s: %s", fd ==
		    STDOUT_FILENO ? "stdout" : "stderr", strerror(err));
	/* Nobody reads the answers any more: stop the call. */
	call_finish(c, true);
	return -1;
}

static void
call_text_cb(const unsigned char *data, size_t len, void *arg)
{
	struct call *c = arg;
	struct msg_answer a;
	char why[256];

	/* After the end (a .cancel sent, say), what was in flight; and
	 * nothing more once a signal came (the loop is about to see it). */
	if (c->cl_closing || net_signal_pending())
		return;
	if (msg_answer_parse(&a, data, len, why, sizeof(why)) != 0) {
		fail_set(FAIL_PROTOCOL, "the server sent an unreadable "
		    "message (%s)", why);
		call_finish(c, true);
		goto out;
	}
	/* Pongs, other ids: not about our call. An id of null with an
	 * error is the server failing to read our message. */
	if (!a.ma_ours && !(a.ma_id_null && a.ma_error != NULL))
		goto out;
	if (a.ma_error != NULL) {
		fail_set(FAIL_ANSWER, "%s", "");
		(void)call_print(c, STDERR_FILENO, a.ma_error,
		    a.ma_error_len);
		/* An error ends the call: no close follows it. */
		call_finish(c, false);
		goto out;
	}
	if (a.ma_result != NULL || !a.ma_close) {
		/* No result and no close: a chunk that is undefined. */
		if (call_print(c, STDOUT_FILENO, a.ma_result,
		    a.ma_result_len) != 0)
			goto out;
	}
	if (c->cl_pattern != MSG_SUBSCRIPTION || a.ma_close)
		call_finish(c, false);
out:
	msg_answer_free(&a);
}

static const struct wsc_callbacks call_wsc_callbacks = {
	.wc_text_cb = call_text_cb,
};

/* The deadline of the next step: the user's, and the close's grace. */
static uint64_t
call_step_deadline(struct call *c)
{
	if (!c->cl_closing)
		return c->cl_deadline;
	if (c->cl_grace == 0 && wsc_close_sent(c->cl_wsc))
		c->cl_grace = clock_now_ms() + CALL_CLOSE_GRACE_MS;
	if (c->cl_pattern == MSG_NOTIFICATION) {
		/* Its close handshake is the call: the deadline holds. */
		if (c->cl_grace != 0 && c->cl_grace < c->cl_deadline)
			return c->cl_grace;
		return c->cl_deadline;
	}
	return c->cl_grace;
}

/* Steps until the session is over; every outcome recorded in fail.h. */
static void
call_loop(struct call *c)
{
	struct wsc *w = c->cl_wsc;
	const char *reason;
	uint16_t code;
	int sig;

	for (;;) {
		switch (wsc_step(w, call_step_deadline(c))) {
		case WSC_OK:
			continue;
		case WSC_CLOSED:
			break;
		case WSC_EOF:
			if (!c->cl_closing)
				fail_set(FAIL_PROTOCOL, "the server closed the "
				    "connection before the answer");
			else if (c->cl_pattern == MSG_NOTIFICATION)
				fail_set(FAIL_PROTOCOL, "the server closed the "
				    "connection without a close frame: the "
				    "notification may not have been read");
			break;
		case WSC_ERROR:
			fail_set(FAIL_PROTOCOL, "%s", wsc_error(w));
			break;
		case WSC_TIMEOUT:
			if (!c->cl_closing) {
				fail_set(FAIL_TIMEOUT, "timed out after %s s "
				    "waiting for the answer: the call was "
				    "cancelled", c->cl_timeout_text);
				call_finish(c, true);
				continue;
			}
			if (c->cl_pattern != MSG_NOTIFICATION)
				break;  /* the answer is in: stop waiting */
			if (clock_now_ms() >= c->cl_deadline)
				fail_set(FAIL_TIMEOUT, "timed out after %s s: "
				    "the notification went out, but its close "
				    "handshake did not end", c->cl_timeout_text);
			else
				fail_set(FAIL_PROTOCOL, "the server did not "
				    "answer the close frame within %d ms: the "
				    "notification may not have been read",
				    CALL_CLOSE_GRACE_MS);
			break;
		case WSC_SIGNAL:
			sig = net_signal();
			/* After an answer, a signal only cuts the close short;
			 * a notification is not done before its close. */
			if (!c->cl_closing ||
			    c->cl_pattern == MSG_NOTIFICATION)
				fail_set(sig == SIGTERM ? FAIL_SIGTERM :
				    FAIL_SIGINT, "%s", "");
			if (c->cl_closing)
				break;  /* stop waiting */
			call_finish(c, true);
			continue;
		}
		break;
	}
	if (wsc_error(w) != NULL)
		fail_set(FAIL_PROTOCOL, "%s", wsc_error(w));
	if (!c->cl_closing) {
		code = wsc_close_received(w, &reason);
		fail_set(FAIL_PROTOCOL, "the server closed the connection "
		    "before the answer (close code %u%s%s)", (unsigned)code,
		    reason[0] != '\0' ? ": " : "", reason);
	}
}

/* Upgrade a second connection, send the call, and see it through. */
static int
call_converse(struct call *c)
{
	struct net n;
	unsigned char *rest = NULL;
	size_t nrest = 0;
	int rv;

	if (call_connect(c, &n) != 0)
		return -1;
	rv = http_upgrade(&n, &c->cl_url, &c->cl_headers, c->cl_deadline,
	    &rest, &nrest);
	if (rv != 0) {
		net_close(&n);
		return call_stopped(c, rv, "in the WebSocket handshake with");
	}
	if ((c->cl_wsc = wsc_open(&n, rest, nrest, CALL_MAX_MESSAGE,
	    &call_wsc_callbacks, c)) == NULL) {
		net_close(&n);
		return -1;
	}
	if (wsc_send_text(c->cl_wsc, c->cl_message, c->cl_message_len) != 0)
		fail_set(FAIL_LOCAL, "out of memory");
	else if (c->cl_pattern == MSG_NOTIFICATION)
		call_finish(c, false);  /* nothing to wait for but the close */
	if (fail_status() == FAIL_NONE)
		call_loop(c);
	wsc_free(c->cl_wsc);
	c->cl_wsc = NULL;
	net_close(&n);
	return fail_status() == FAIL_NONE ? 0 : -1;
}

static int
call_run(struct call *c)
{
	const struct url *u = &c->cl_url;

	if (url_parse(&c->cl_url, c->cl_url_text) != 0)
		return -1;
	snprintf(c->cl_peer, sizeof(c->cl_peer), "%s%s%s:%u",
	    u->u_ipv6 ? "[" : "", u->u_host, u->u_ipv6 ? "]" : "",
	    (unsigned)u->u_port);
	snprintf(c->cl_tls_host, sizeof(c->cl_tls_host), "%s", u->u_host);
	c->cl_tls_host[strcspn(c->cl_tls_host, "%")] = '\0';
	if (msg_call(c->cl_method, c->cl_params, c->cl_nparams,
	    !c->cl_notify, &c->cl_message, &c->cl_message_len) != 0)
		return -1;
	if (u->u_tls && (c->cl_tls = net_tls_context(c->cl_cacert,
	    c->cl_insecure)) == NULL)
		return -1;
	if (!u->u_tls && (c->cl_cacert != NULL || c->cl_insecure))
		fprintf(stderr, "wspool-call: --cacert and --insecure are for "
		    "wss:// URLs; ignored\n");
	/* Resolution before the signal handlers: until then Ctrl-C simply
	 * ends the process, which has sent nothing yet. */
	if (net_resolve(u->u_host, u->u_port_text, c->cl_deadline,
	    &c->cl_addrs) != 0)
		return -1;
	if (net_signals_init() != 0)
		return fail_set(FAIL_LOCAL, "cannot set up signals: %s",
		    strerror(errno));
	if (call_pattern(c) != 0)
		return -1;
	return call_converse(c);
}

int
main(int argc, char **argv)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	if (call_options(&c, argc, argv) == 0)
		(void)call_run(&c);
	if (c.cl_addrs != NULL)
		freeaddrinfo(c.cl_addrs);
	SSL_CTX_free(c.cl_tls);
	free(c.cl_message);
	free(c.cl_headers.hh_lines);
	url_free(&c.cl_url);
	return fail_report();
}
