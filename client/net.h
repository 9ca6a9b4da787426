/*
 * net.h: wspool-call's transport: name resolution, one non-blocking TCP
 * connection with optional TLS (OpenSSL), reads and writes that never
 * block, and every wait as one ppoll() bounded by the run's deadline and
 * woken by SIGINT or SIGTERM.
 *
 * Design notes
 * - SIGINT and SIGTERM are blocked except inside ppoll() (net_signals_init),
 *   so a signal arrives only while we wait and is never lost between a
 *   check of the flag and the sleep. A wait that a signal ends returns
 *   NET_SIGNAL; net_signal() says which one. Whoever waits decides what
 *   the signal means (cancel the call, give up a close handshake).
 * - Deadlines are absolute clock_now_ms() values; NET_FOREVER is none.
 * - A read or write that cannot go on returns NET_AGAIN and records which
 *   poll events it waits for (a TLS read may need the socket writable, a
 *   TLS write readable); net_events() turns that into what to poll for.
 * - net_resolve() and net_connect() record their failures with fail_set()
 *   (FAIL_CONNECT, FAIL_TLS, FAIL_LOCAL). A failed read, write or wait
 *   only leaves its reason in n->n_error: the caller knows what the
 *   failure means at that point (a refused upgrade, a lost call).
 * - TIMEOUT and SIGNAL are never recorded here: the caller says what was
 *   going on when they came.
 */
#ifndef CLIENT_NET_H
#define CLIENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <netdb.h>

#include <openssl/ssl.h>

#define NET_FOREVER UINT64_MAX

enum {
	NET_ERROR = -1,         /* failed; the reason is in fail.h */
	NET_AGAIN = -2,         /* would block: wait for net_events() */
	NET_TIMEOUT = -3,       /* the deadline passed */
	NET_SIGNAL = -4,        /* SIGINT or SIGTERM arrived (net_signal()) */
};

struct net {
	int n_fd;               /* -1 when closed */
	SSL *n_ssl;             /* NULL for ws:// */
	short n_rwant;          /* poll events the last read waits for */
	short n_wwant;          /* poll events the last write waits for */
	const char *n_peer;     /* "host:port", for messages (not owned) */
	char n_error[256];      /* why the last read, write or wait failed */
};

/*
 * Block SIGINT and SIGTERM and catch them (they are only delivered inside
 * net_wait()); ignore SIGPIPE, so that writing to a closed socket or pipe
 * is an error (EPIPE) we can act on. Returns 0 or -1.
 */
int net_signals_init(void);
/* The signal that ended the last wait with NET_SIGNAL, then 0 again. */
int net_signal(void);
/*
 * Let SIGINT and SIGTERM through (allow) or block them again, around a
 * write that may block for long (a full pipe): it then fails with EINTR,
 * net_signal_pending() is true, and the next net_wait() returns
 * NET_SIGNAL at once.
 */
void net_signals_allow(bool allow);
bool net_signal_pending(void);

/*
 * Resolve host and port (numeric service) for a stream socket. Name
 * resolution cannot be interrupted cleanly, so a deadline that passes
 * while it runs ends the process at once with FAIL_TIMEOUT (from a
 * SIGALRM handler). *out is freed with freeaddrinfo().
 */
int net_resolve(const char *host, const char *port, uint64_t deadline,
    struct addrinfo **out);

/*
 * A TLS client context: TLS 1.2 or newer; the peer's certificate is
 * verified against cafile, or the system's CAs when cafile is NULL, unless
 * insecure. Returns NULL after fail_set(FAIL_USAGE, ...) (an unreadable
 * CA file is the user's to fix).
 */
SSL_CTX *net_tls_context(const char *cafile, bool insecure);

/*
 * Connect n to the first address of addrs that answers, then, with tls,
 * make the TLS handshake, sending host as SNI (unless host_is_ip) and
 * checking the certificate names host. peer names the server in messages
 * and must outlive n. Returns 0, NET_ERROR, NET_TIMEOUT or NET_SIGNAL;
 * on any failure n holds nothing.
 */
int net_connect(struct net *n, const struct addrinfo *addrs, SSL_CTX *tls,
    const char *host, bool host_is_ip, const char *peer, uint64_t deadline);

/* Bytes read (> 0), 0 at the end of the stream, NET_AGAIN or NET_ERROR. */
ssize_t net_read(struct net *n, void *buf, size_t len);
/* Bytes written (> 0), NET_AGAIN or NET_ERROR. */
ssize_t net_write(struct net *n, const void *buf, size_t len);
/* Write all of buf, waiting as needed: 0, NET_ERROR/TIMEOUT/SIGNAL. */
int net_write_all(struct net *n, const void *buf, size_t len,
    uint64_t deadline);
/* True when TLS holds decrypted bytes: read them before waiting. */
bool net_pending(const struct net *n);
/* The poll events for a wait that wants to read and/or write. */
short net_events(const struct net *n, bool reading, bool writing);

/*
 * Wait until n's socket has one of events, the deadline passes, or a
 * signal arrives: 0 (ready), NET_TIMEOUT, NET_SIGNAL or NET_ERROR.
 */
int net_wait(struct net *n, short events, uint64_t deadline);

/* Send TLS close_notify (without waiting for the peer's), close, forget. */
void net_close(struct net *n);

#endif /* CLIENT_NET_H */
