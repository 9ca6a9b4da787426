/*
 * ws.h: RFC 6455 framing for one server-side WebSocket connection, on top
 * of wslay's event API. Bytes in: ws_feed(); bytes out: the send callback
 * (the connection's output buffer, never blocking). Handles fragmentation,
 * ping/pong, the close handshake with status codes, UTF-8 validation of
 * text messages (1007), unmasked client frames, reserved bits, bad opcodes
 * and over-long control frames (1002), oversized messages (1009) and
 * binary messages (1003); with permessage-deflate (deflate.h), compressed
 * messages both ways (RSV1), their size bounded once inflated.
 *
 * Invariant: the send callback always takes all bytes, so wslay's own
 * queue is empty after every call here; ws_send_text() can therefore
 * write data frames straight to the output without passing through wslay.
 */
#ifndef MASTER_WS_H
#define MASTER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct ws;

struct ws_callbacks {
	/* A complete, valid UTF-8 text message. data is valid during the call. */
	void (*on_text)(void *arg, const char *data, size_t len);
	/* Write bytes to the peer; must take all of them. Returns 0 or -1. */
	int (*send)(void *arg, const void *data, size_t len);
	/* Optional: room for len bytes to the peer, written by the caller
	 * right away (one copy for a whole text frame), or NULL. */
	void *(*reserve)(void *arg, size_t len);
	/*
	 * The WebSocket is finished: the close handshake completed, or a
	 * protocol error was answered with a close frame (code says which), or
	 * the peer's bytes cannot be processed further. After this, the
	 * connection should flush its output and close the socket. Called once.
	 */
	void (*on_closed)(void *arg, uint16_t code);
	/* Optional: a pong arrived (for keep-alive bookkeeping). */
	void (*on_pong)(void *arg);
};

struct ws *ws_new(const struct ws_callbacks *cb, void *arg, size_t max_msg);
void ws_free(struct ws *ws);

/*
 * Process bytes from the peer. Calls on_text for each complete message and
 * on_closed at the end. The bytes may be changed (whole frames are unmasked
 * in place): the caller gives a scratch copy, e.g. its read buffer. Returns
 * 0, or -1 when the connection is finished (on_closed has been called;
 * further bytes are ignored).
 */
int ws_feed(struct ws *ws, void *data, size_t len);

/* Send one text message (one frame). Returns 0 or -1 (closing/closed). */
int ws_send_text(struct ws *ws, const void *data, size_t len);
/* The same, the message given in n pieces (written one after another). */
int ws_send_textv(struct ws *ws, const struct iovec *iov, int n);

/* Send a ping with an optional payload (at most 125 bytes). */
int ws_send_ping(struct ws *ws, const void *data, size_t len);

/*
 * Start the close handshake with code (e.g. 1000, 1001) and a reason
 * (at most 123 bytes). on_closed follows when the peer answers, or the
 * caller closes the socket after its own deadline.
 */
int ws_close(struct ws *ws, uint16_t code, const char *reason);

/*
 * permessage-deflate was negotiated (deflate_offer): compressed messages
 * from the peer are accepted, and ours are compressed with a window of
 * wbits (8: never; deflate.h). Before the first ws_feed().
 */
void ws_set_deflate(struct ws *ws, int wbits);

/* True once a close frame has been sent (no more data may be sent). */
bool ws_closing(const struct ws *ws);

#endif /* MASTER_WS_H */
