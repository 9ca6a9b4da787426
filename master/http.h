/*
 * http.h: what the master answers in plain HTTP: /healthz, /metrics, and
 * the answers that end a connection before it is a WebSocket (400, 403,
 * 404, 405, 426, 431, 503). conn.c does the I/O; this decides and writes
 * the bytes into the connection's output buffer.
 */
#ifndef MASTER_HTTP_H
#define MASTER_HTTP_H

#include <stdbool.h>

struct handshake;
struct json_buf;

/*
 * A complete request (hs in HANDSHAKE_DONE). Returns 101 when it is an
 * upgrade to accept: nothing is written, the caller answers and switches
 * to WebSocket. Otherwise writes the whole answer to out and returns its
 * status; the connection then closes.
 */
int http_request(const struct handshake *hs, struct json_buf *out);

/* Whether a complete request is a plain GET of /healthz or /metrics: what
 * the connections held in reserve beyond --max-connections may ask. */
bool http_is_admin(const struct handshake *hs);

/*
 * Write the plain answer for status to out: a request that could not be
 * served (400 malformed, 431 too large, 503 no memory to upgrade). hs may
 * be NULL or incomplete.
 */
void http_error(const struct handshake *hs, int status, struct json_buf *out);

/*
 * Over --max-connections: a short 503 written straight into the socket's
 * buffer, best effort, before the caller closes fd.
 */
void http_refuse_busy(int fd);

#endif /* MASTER_HTTP_H */
