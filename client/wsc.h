/*
 * wsc.h: wspool-call's WebSocket session, wslay's event API in client mode
 * over a struct net: masking, fragments, ping/pong and the close
 * handshake are wslay's; this layer moves bytes and reports.
 *
 * Design notes
 * - wsc_step() is one turn: wait (bounded by a deadline, ended by a
 *   signal) until the socket is ready, then let wslay read and write what
 *   it can. Text messages go to the callback registered at wsc_open(),
 *   from inside wsc_step(); the callback may call wsc_send_text() and
 *   wsc_close() (they only queue), never wsc_free().
 * - The session is over when wslay wants neither to read nor to write:
 *   both close frames have crossed (WSC_CLOSED), or wslay gave up.
 */
#ifndef CLIENT_WSC_H
#define CLIENT_WSC_H

#include <stddef.h>
#include <stdint.h>

#include "client/net.h"

struct wsc;

struct wsc_callbacks {
	/* A complete text message (not NUL-terminated). */
	void (*wc_text_cb)(const unsigned char *data, size_t len, void *arg);
};

enum wsc_status {
	WSC_OK = 0,             /* progress; call again */
	WSC_CLOSED,             /* both close frames crossed: done */
	WSC_EOF,                /* the server closed TCP without a close frame */
	WSC_ERROR,              /* I/O or protocol failure: wsc_error() says */
	WSC_TIMEOUT,            /* the deadline passed */
	WSC_SIGNAL,             /* SIGINT or SIGTERM: net_signal() says which */
};

/*
 * A session on the connected, upgraded n (which stays the caller's, and
 * must outlive it). rest: bytes read after the 101, taken over (freed by
 * wsc_free); max_message bounds a received message. NULL when out of
 * memory (after fail_set()).
 */
struct wsc *wsc_open(struct net *n, unsigned char *rest, size_t nrest,
    uint64_t max_message, const struct wsc_callbacks *cb, void *arg);
void wsc_free(struct wsc *w);

/* Queue a text message; 0, or -1 when the session is closing. */
int wsc_send_text(struct wsc *w, const char *data, size_t len);
/*
 * Close with code (once): the close frame goes out after every message
 * queued before it (wslay alone would send it first). 0 or -1.
 */
int wsc_close(struct wsc *w, uint16_t code);

enum wsc_status wsc_step(struct wsc *w, uint64_t deadline);

/* Why wsc_step() returned WSC_ERROR. */
const char *wsc_error(struct wsc *w);
/* True once our close frame was written. */
int wsc_close_sent(const struct wsc *w);
/*
 * The server's close frame: its code (1005 when it had none) and reason
 * (NUL-terminated); code 0 when none came.
 */
uint16_t wsc_close_received(const struct wsc *w, const char **reason);
/* The close code we sent, 0 when none (wslay's own: 1002, 1009...). */
uint16_t wsc_close_code_sent(const struct wsc *w);

#endif /* CLIENT_WSC_H */
