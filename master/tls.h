/*
 * tls.h: wss://: TLS on the client sockets with OpenSSL, behind the
 * sockio seam (sockio.h). One server context, built from --tls-cert and
 * --tls-key at start-up and again on SIGHUP; each connection gets an SSL
 * object on its non-blocking fd, driven by the reads and writes sockio
 * already does (the handshake happens inside the first reads, under the
 * connection's handshake deadline).
 */
#ifndef MASTER_TLS_H
#define MASTER_TLS_H

#include <stdbool.h>

struct sockio;

/* Build the context from srv.cfg's files, if TLS is configured.
 * Returns 0, or -1 (logged: why). */
int tls_init(void);

/*
 * SIGHUP: build a new context from the same files. New connections use it;
 * open ones keep theirs. A file that cannot be used keeps the old context
 * (logged: why). Returns 0 or -1.
 */
int tls_reload(void);

/* True when client sockets speak TLS. */
bool tls_enabled(void);

/* Put TLS on an open sockio (server side). Returns 0 or -1. */
int tls_open(struct sockio *s);

void tls_fini(void);

#endif /* MASTER_TLS_H */
