/*
 * net.c: wspool-call's transport (see net.h for the design notes): name
 * resolution, a non-blocking TCP connection, TLS with OpenSSL, and waits
 * with ppoll() that a deadline or a signal ends.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "client/fail.h"
#include "client/net.h"

static volatile sig_atomic_t net_caught;
static sigset_t net_waitmask;           /* the mask while inside ppoll() */
static sigset_t net_blockmask;          /* the mask everywhere else */
static bool net_masked;                 /* net_signals_init() ran */

static void
net_signal_cb(int sig)
{
	net_caught = sig;
}

int
net_signals_init(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, &net_waitmask) != 0)
		return -1;
	net_blockmask = net_waitmask;
	sigaddset(&net_blockmask, SIGINT);
	sigaddset(&net_blockmask, SIGTERM);
	sigdelset(&net_waitmask, SIGINT);
	sigdelset(&net_waitmask, SIGTERM);
	sa.sa_handler = net_signal_cb;
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		return -1;
	net_masked = true;
	return 0;
}

int
net_signal(void)
{
	int sig = net_caught;

	net_caught = 0;
	return sig;
}

void
net_signals_allow(bool allow)
{
	if (net_masked)
		(void)sigprocmask(SIG_SETMASK, allow ? &net_waitmask :
		    &net_blockmask, NULL);
}

bool
net_signal_pending(void)
{
	return net_caught != 0;
}

/* The deadline passed inside getaddrinfo(): nothing to undo, just go. */
static void
net_alarm_cb(int sig)
{
	static const char msg[] =
	    "wspool-call: timed out resolving the server's name\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(FAIL_TIMEOUT);
}

int
net_resolve(const char *host, const char *port, uint64_t deadline,
    struct addrinfo **out)
{
	struct addrinfo hints;
	struct itimerval it, off;
	struct sigaction sa, old;
	uint64_t now = clock_now_ms(), left;
	int rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	memset(&off, 0, sizeof(off));
	if (deadline != NET_FOREVER) {
		if (now >= deadline)
			return fail_set(FAIL_TIMEOUT, "timed out before "
			    "resolving %s", host);
		left = deadline - now;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = net_alarm_cb;
		sigemptyset(&sa.sa_mask);
		it = off;
		it.it_value.tv_sec = (time_t)(left / 1000);
		it.it_value.tv_usec = (suseconds_t)(left % 1000) * 1000;
		if (sigaction(SIGALRM, &sa, &old) != 0 ||
		    setitimer(ITIMER_REAL, &it, NULL) != 0)
			return fail_set(FAIL_LOCAL, "cannot set a timer: %s",
			    strerror(errno));
	}
	rv = getaddrinfo(host, port, &hints, out);
	if (deadline != NET_FOREVER) {
		(void)setitimer(ITIMER_REAL, &off, NULL);
		(void)sigaction(SIGALRM, &old, NULL);
	}
	if (rv != 0) {
		*out = NULL;
		return fail_set(FAIL_CONNECT, "cannot resolve %s: %s", host,
		    rv == EAI_SYSTEM ? strerror(errno) : gai_strerror(rv));
	}
	return 0;
}

/* The most telling reason OpenSSL has for a failure, or fallback. */
static const char *
net_ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : fallback;
}

SSL_CTX *
net_tls_context(const char *cafile, bool insecure)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fail_set(FAIL_LOCAL, "TLS: %s", net_ssl_reason("no context"));
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		fail_set(FAIL_LOCAL, "TLS: cannot require TLS 1.2: %s",
		    net_ssl_reason("unknown error"));
		goto fail;
	}
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* An HTTP body may end at the end of the stream (GET /routes). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	/* Behave like send(2): partial writes, retried from wslay's buffer. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cafile != NULL) {
		FILE *f;

		/* OpenSSL's reason for a missing file is "system lib". */
		if ((f = fopen(cafile, "r")) == NULL) {
			fail_set(FAIL_USAGE, "cannot read %s: %s", cafile,
			    strerror(errno));
			goto fail;
		}
		fclose(f);
		if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
			fail_set(FAIL_USAGE, "cannot load CA certificates from "
			    "%s: %s", cafile, net_ssl_reason("unreadable"));
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		fail_set(FAIL_TLS, "cannot load the system's CA certificates: "
		    "%s", net_ssl_reason("unknown error"));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
net_tls_fail(struct net *n, SSL *ssl, int err)
{
	long vr = SSL_get_verify_result(ssl);

	if (vr != X509_V_OK)
		return fail_set(FAIL_TLS, "TLS: the certificate of %s is not "
		    "trusted: %s", n->n_peer, X509_verify_cert_error_string(vr));
	if (ERR_peek_last_error() != 0)
		return fail_set(FAIL_TLS, "TLS handshake with %s failed: %s",
		    n->n_peer, net_ssl_reason("unknown error"));
	if (err == SSL_ERROR_SYSCALL && errno != 0)
		return fail_set(FAIL_TLS, "TLS handshake with %s failed: %s",
		    n->n_peer, strerror(errno));
	return fail_set(FAIL_TLS, "TLS handshake with %s failed: the server "
	    "closed the connection", n->n_peer);
}

/* The TLS handshake on n's connected socket. */
static int
net_tls_handshake(struct net *n, SSL_CTX *tls, const char *host,
    bool host_is_ip, uint64_t deadline)
{
	SSL *ssl;
	int r, err, rv;

	ERR_clear_error();
	if ((ssl = SSL_new(tls)) == NULL)
		return fail_set(FAIL_LOCAL, "TLS: %s", net_ssl_reason("no SSL"));
	if (SSL_set_fd(ssl, n->n_fd) != 1 ||
	    /* RFC 6066: SNI names a host, never an address. */
	    (!host_is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) ||
	    (host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    host) != 1 : SSL_set1_host(ssl, host) != 1)) {
		fail_set(FAIL_LOCAL, "TLS: cannot set up the connection to %s: "
		    "%s", n->n_peer, net_ssl_reason("unknown error"));
		goto fail;
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(ssl)) == 1)
			break;
		err = SSL_get_error(ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			net_tls_fail(n, ssl, err);
			goto fail;
		}
		rv = net_wait(n, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline);
		if (rv == NET_ERROR) {
			fail_set(FAIL_TLS, "TLS handshake with %s failed: %s",
			    n->n_peer, n->n_error);
			goto fail;
		}
		if (rv != 0) {
			SSL_free(ssl);
			return rv;
		}
	}
	n->n_ssl = ssl;
	return 0;
fail:
	SSL_free(ssl);
	return NET_ERROR;
}

/* Connect one socket to ai; 0, an errno value, or NET_TIMEOUT/SIGNAL. */
static int
net_connect_one(struct net *n, const struct addrinfo *ai, uint64_t deadline)
{
	socklen_t len = sizeof(int);
	int fd, err = 0, one = 1, rv;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return errno;
	/* Calls and answers are small messages: send each at once. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n->n_fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		err = errno;
		goto fail;
	}
	if ((rv = net_wait(n, POLLOUT, deadline)) != 0) {
		err = rv == NET_ERROR ? EIO : rv;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0)
		return 0;
fail:
	close(fd);
	n->n_fd = -1;
	return err;
}

int
net_connect(struct net *n, const struct addrinfo *addrs, SSL_CTX *tls,
    const char *host, bool host_is_ip, const char *peer, uint64_t deadline)
{
	const struct addrinfo *ai;
	int err = EHOSTUNREACH, rv;

	memset(n, 0, sizeof(*n));
	n->n_fd = -1;
	n->n_peer = peer;
	n->n_rwant = POLLIN;
	n->n_wwant = POLLOUT;
	for (ai = addrs; ai != NULL; ai = ai->ai_next) {
		if ((err = net_connect_one(n, ai, deadline)) == 0)
			break;
		if (err == NET_TIMEOUT || err == NET_SIGNAL)
			return err;
	}
	if (ai == NULL)
		return fail_set(FAIL_CONNECT, "cannot connect to %s: %s", peer,
		    strerror(err));
	if (tls != NULL &&
	    (rv = net_tls_handshake(n, tls, host, host_is_ip, deadline)) != 0) {
		close(n->n_fd);
		n->n_fd = -1;
		return rv;
	}
	return 0;
}

/* Record why I/O failed; the caller decides what it means. */
static ssize_t
net_io_fail(struct net *n, const char *what, int err, SSL *ssl)
{
	if (ssl != NULL && ERR_peek_last_error() != 0)
		snprintf(n->n_error, sizeof(n->n_error), "%s %s: TLS: %s", what,
		    n->n_peer, net_ssl_reason("unknown error"));
	else
		snprintf(n->n_error, sizeof(n->n_error), "%s %s: %s", what,
		    n->n_peer, err != 0 ? strerror(err) :
		    "connection closed");
	return NET_ERROR;
}

/* Map a failed SSL_read/SSL_write; *want gets the events to wait for. */
static ssize_t
net_ssl_again(struct net *n, int r, short *want, const char *what)
{
	int err = SSL_get_error(n->n_ssl, r);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return NET_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return NET_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() == 0 && errno == 0)
			return 0;
		return net_io_fail(n, what, errno, n->n_ssl);
	default:
		return net_io_fail(n, what, 0, n->n_ssl);
	}
}

ssize_t
net_read(struct net *n, void *buf, size_t len)
{
	ssize_t r;
	int ir;

	if (len > INT_MAX)
		len = INT_MAX;
	if (n->n_ssl != NULL) {
		ERR_clear_error();
		errno = 0;
		if ((ir = SSL_read(n->n_ssl, buf, (int)len)) > 0) {
			n->n_rwant = POLLIN;
			return ir;
		}
		return net_ssl_again(n, ir, &n->n_rwant, "reading from");
	}
	if ((r = recv(n->n_fd, buf, len, 0)) >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		n->n_rwant = POLLIN;
		return NET_AGAIN;
	}
	return net_io_fail(n, "reading from", errno, NULL);
}

ssize_t
net_write(struct net *n, const void *buf, size_t len)
{
	ssize_t r;
	int ir;

	if (len > INT_MAX)
		len = INT_MAX;
	if (n->n_ssl != NULL) {
		ERR_clear_error();
		errno = 0;
		if ((ir = SSL_write(n->n_ssl, buf, (int)len)) > 0) {
			n->n_wwant = POLLOUT;
			return ir;
		}
		r = net_ssl_again(n, ir, &n->n_wwant, "writing to");
		/* A write never ends the stream: 0 means the peer closed. */
		return r == 0 ? net_io_fail(n, "writing to", EPIPE, NULL) : r;
	}
	if ((r = send(n->n_fd, buf, len, MSG_NOSIGNAL)) >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		n->n_wwant = POLLOUT;
		return NET_AGAIN;
	}
	return net_io_fail(n, "writing to", errno, NULL);
}

int
net_write_all(struct net *n, const void *buf, size_t len, uint64_t deadline)
{
	const unsigned char *p = buf;
	ssize_t r;
	int rv;

	while (len > 0) {
		if ((r = net_write(n, p, len)) > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r != NET_AGAIN)
			return NET_ERROR;
		if ((rv = net_wait(n, n->n_wwant, deadline)) != 0)
			return rv;
	}
	return 0;
}

bool
net_pending(const struct net *n)
{
	return n->n_ssl != NULL && SSL_pending(n->n_ssl) > 0;
}

short
net_events(const struct net *n, bool reading, bool writing)
{
	return (short)((reading ? n->n_rwant : 0) | (writing ? n->n_wwant : 0));
}

int
net_wait(struct net *n, short events, uint64_t deadline)
{
	struct pollfd pfd;
	struct timespec ts;
	uint64_t now, left;
	int r;

	for (;;) {
		/* Caught during a write that net_signals_allow() opened. */
		if (net_caught != 0)
			return NET_SIGNAL;
		now = clock_now_ms();
		if (deadline != NET_FOREVER && now >= deadline)
			return NET_TIMEOUT;
		left = deadline != NET_FOREVER ? deadline - now : 0;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		pfd.fd = n->n_fd;
		pfd.events = events;
		pfd.revents = 0;
		r = ppoll(&pfd, 1, deadline != NET_FOREVER ? &ts : NULL,
		    net_masked ? &net_waitmask : NULL);
		if (r > 0)
			return 0;
		if (r == 0)
			continue;       /* the deadline: checked above */
		if (errno != EINTR) {
			net_io_fail(n, "waiting for", errno, NULL);
			return NET_ERROR;
		}
		if (net_caught != 0)
			return NET_SIGNAL;
	}
}

void
net_close(struct net *n)
{
	if (n->n_ssl != NULL) {
		/* close_notify, best effort: the peer's is not awaited. */
		ERR_clear_error();
		(void)SSL_shutdown(n->n_ssl);
		SSL_free(n->n_ssl);
		n->n_ssl = NULL;
	}
	if (n->n_fd >= 0)
		close(n->n_fd);
	n->n_fd = -1;
}
