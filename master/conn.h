/*
 * conn.h: one client connection: the HTTP request that opens it, then the
 * WebSocket. Plain events on the socket, no bufferevent: reads go to one
 * buffer shared by the loop, answers to the socket's output buffer
 * (sockio.h), written once at the end of the loop turn. Frees itself only
 * after the loop turn in which it was closed (never inside its own
 * callback).
 */
#ifndef MASTER_CONN_H
#define MASTER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "master/calls.h"
#include "master/sockio.h"

struct call;
struct event;

enum conn_state {
	CONN_HTTP = 0,   /* reading the upgrade request */
	CONN_WS,         /* WebSocket open */
	CONN_CLOSING,    /* flushing the last bytes, then freed */
};

struct conn {
	uint64_t c_id;
	struct sockio c_sock;          /* the socket, its output buffer */
	enum conn_state c_state;
	struct handshake *c_hs;        /* CONN_HTTP only */
	struct ws *c_ws;               /* CONN_WS */
	struct calls_conn c_calls;     /* in flight, by client id (calls.c) */
	bool c_dead;                   /* on the reaper's list */
	bool c_throttled;              /* output backlog: not reading its calls */
	bool c_admin_only;             /* in the reserve: /healthz, /metrics only */
	bool c_linger;                 /* our last bytes are out: linger, then close */
	struct event *c_rev;           /* readable (persistent) */
	struct event *c_timer;         /* handshake, keep-alive or close deadline */
	uint32_t c_last_rx;            /* monotonic seconds: last bytes from the peer */
	uint32_t c_last_msg;           /* last message or call activity */
	uint32_t c_ping_sent;          /* keep-alive ping outstanding since; 0: none */
	uint32_t c_throttled_at;       /* c_throttled since (--send-timeout) */
	char c_uuid[37];
	char c_ip[46];
	size_t c_nheaders;
	char **c_hnames;               /* upgrade request headers, lower-case */
	char **c_hvalues;
	TAILQ_ENTRY(conn) c_link;      /* live or dead */
};

int conn_listen(void);
void conn_stop_listening(void);
/* Close every connection with code (1001 when shutting down). */
void conn_close_all(uint16_t code);
/* Free every connection; after the loop has stopped. */
void conn_fini(void);
unsigned conn_count(void);
/* Sockets closed but still lingering (linger.h). */
unsigned conn_lingering(void);

/* Send one text message to the client, if the WebSocket is open: it is
 * written at the end of the loop turn, with everything else for c. */
void conn_send_text(struct conn *c, const char *data, size_t len);
/* The same, the message given in n pieces. */
void conn_send_textv(struct conn *c, const struct iovec *iov, int n);
/* Close: send a close frame with code (0: none), flush, then free. */
void conn_close(struct conn *c, uint16_t code, const char *why);

#endif /* MASTER_CONN_H */
