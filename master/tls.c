/*
 * tls.c: wss:// with OpenSSL on the client sockets (see tls.h).
 *
 * Design notes.
 * - Settings: TLS 1.2 and 1.3 only; for 1.2, ECDHE with AES-GCM or
 *   ChaCha20-Poly1305 only (Mozilla's "intermediate" list), the server's
 *   order preferred; no compression, no renegotiation, no resumption.
 *   Those are the whole policy; docs/operations.md says how to check it.
 * - Memory: SSL_MODE_RELEASE_BUFFERS gives an idle connection's record
 *   buffers back (about 34 KiB each otherwise). sockio's output buffer
 *   can move between two tries of one SSL_write (it is compacted while
 *   the socket is full): SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, and
 *   SSL_MODE_ENABLE_PARTIAL_WRITE so that one SSL_write is one record
 *   written as far as it goes, as write(2) does.
 * - Each direction may need the other: an SSL_read that must write
 *   (handshake messages, a socket full) sets sk_rwant and sockio waits
 *   for the socket to be writable, then tells its owner to read again;
 *   an SSL_write that must read sets sk_wwant and sockio writes again
 *   after the next read.
 * - SSL_read hands back at most one record's plaintext per call: the read
 *   op loops until the caller's buffer is full or OpenSSL would block.
 *   Plaintext left inside OpenSSL is not seen by epoll: sockio_buffered()
 *   tells the owner to come back for it.
 * - Reload: a new SSL_CTX replaces the old one for new connections; open
 *   connections hold a reference to theirs (OpenSSL counts them).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "master/master.h"
#include "master/sockio.h"
#include "master/tls.h"

#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static struct {
	SSL_CTX *ctx;
} tls;

bool
tls_enabled(void)
{
	return tls.ctx != NULL;
}

/* The first error OpenSSL queued, as text (for the log). */
static const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "%s", strerror(errno));
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A new server context from the configured files, or NULL (logged). */
static SSL_CTX *
tls_ctx_new(void)
{
	const char *cert = srv.cfg.tls_cert, *key = srv.cfg.tls_key;
	const char *what = "cannot create a TLS context";
	SSL_CTX *ctx;
	char err[256];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	what = "cannot set the TLS policy";
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No resumption: a cache would have to be shared by every master,
	 * and a TLS 1.3 ticket keeps its session alive beside the
	 * connection (15.5 KB per idle connection with tickets, 10-12 KB
	 * without, measured). WebSocket connections live long: one full
	 * handshake each is cheap. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	what = cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		goto fail;
	what = key;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	what = "the key does not match the certificate";
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	log_error("TLS: %s: %s", what, tls_error(err, sizeof(err)));
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_init(void)
{
	if (srv.cfg.tls_cert == NULL)
		return 0;
	if ((tls.ctx = tls_ctx_new()) == NULL)
		return -1;
	return 0;
}

int
tls_reload(void)
{
	SSL_CTX *ctx;

	if (tls.ctx == NULL)
		return 0;
	if ((ctx = tls_ctx_new()) == NULL) {
		log_error("TLS: reload failed: new connections keep the "
		    "certificate loaded before");
		return -1;
	}
	SSL_CTX_free(tls.ctx);
	tls.ctx = ctx;
	log_info("TLS: certificate %s reloaded", srv.cfg.tls_cert);
	return 0;
}

void
tls_fini(void)
{
	SSL_CTX_free(tls.ctx);
	tls.ctx = NULL;
}

/* An SSL_read/SSL_write result that is not data, as read(2) would say it. */
static ssize_t
tls_fail(struct sockio *s, int rv, bool reading)
{
	char err[256];
	int saved = errno;

	switch (SSL_get_error(s->sk_tls, rv)) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			s->sk_wwant = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			s->sk_rwant = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;                       /* close_notify */
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0)
			return 0;               /* EOF without close_notify */
		errno = saved;
		return -1;
	default:
		log_debug("TLS: fd %d: %s", s->sk_fd, tls_error(err, sizeof(err)));
		errno = EPROTO;
		return -1;
	}
}

static ssize_t
tls_read(struct sockio *s, void *buf, size_t len)
{
	size_t got = 0;
	int n;

	while (got < len) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(s->sk_tls, (char *)buf + got,
		    (int)(len - got < INT_MAX ? len - got : INT_MAX));
		if (n <= 0) {
			ssize_t rv = tls_fail(s, n, true);
			/* Data first; an end or error shows on the next read. */
			return got > 0 ? (ssize_t)got : rv;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static ssize_t
tls_write(struct sockio *s, const void *buf, size_t len)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(s->sk_tls, buf, (int)(len < INT_MAX ? len : INT_MAX));
	if (n > 0)
		return n;
	if (tls_fail(s, n, false) == 0)
		errno = EPIPE;
	return -1;
}

static void
tls_shutdown(struct sockio *s)
{
	/* close_notify, best effort: a full socket or a handshake that
	 * never finished leaves the FIN alone to say it. */
	ERR_clear_error();
	if (SSL_is_init_finished(s->sk_tls))
		(void)SSL_shutdown(s->sk_tls);
	ERR_clear_error();
	shutdown(s->sk_fd, SHUT_WR);
}

static void
tls_free(struct sockio *s)
{
	SSL_free(s->sk_tls);
	s->sk_tls = NULL;
}

static bool
tls_buffered(struct sockio *s)
{
	return SSL_has_pending(s->sk_tls) != 0;
}

static const struct sockio_ops tls_ops = {
	.op_read = tls_read,
	.op_write = tls_write,
	.op_shutdown = tls_shutdown,
	.op_free = tls_free,
	.op_buffered = tls_buffered,
};

int
tls_open(struct sockio *s)
{
	SSL *ssl;

	if (tls.ctx == NULL || (ssl = SSL_new(tls.ctx)) == NULL)
		return -1;
	if (SSL_set_fd(ssl, s->sk_fd) != 1) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_accept_state(ssl);
	s->sk_tls = ssl;
	s->sk_ops = &tls_ops;
	return 0;
}
