/*
 * wsc.c: wspool-call's WebSocket session on wslay's event API in client
 * mode (see wsc.h for the design notes).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "client/fail.h"
#include "client/wsc.h"

struct wsc {
	wslay_event_context_ptr w_ctx;
	struct net *w_net;
	unsigned char *w_rest;          /* bytes that came with the 101 */
	size_t w_nrest;
	size_t w_restoff;               /* how many of them wslay has had */
	struct wsc_callbacks w_cb;
	void *w_arg;
	bool w_eof;                     /* the server closed TCP */
	bool w_wslay_closed;            /* wslay stopped reading on its own */
	uint16_t w_close_pending;       /* our close, queued once data is out */
	uint16_t w_close_code;          /* the server's close frame, 0: none */
	char w_close_reason[124];
	char w_error[320];
};

static ssize_t
wsc_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *user)
{
	struct wsc *w = user;
	size_t n;
	ssize_t r;

	(void)flags;
	if (w->w_restoff < w->w_nrest) {
		n = w->w_nrest - w->w_restoff;
		n = n < len ? n : len;
		memcpy(buf, w->w_rest + w->w_restoff, n);
		w->w_restoff += n;
		return (ssize_t)n;
	}
	if ((r = net_read(w->w_net, buf, len)) > 0)
		return r;
	if (r == NET_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (r == 0)
		w->w_eof = true;
	else
		snprintf(w->w_error, sizeof(w->w_error), "%s",
		    w->w_net->n_error);
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
wsc_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *user)
{
	struct wsc *w = user;
	ssize_t r;

	(void)flags;
	if ((r = net_write(w->w_net, data, len)) > 0)
		return r;
	if (r == NET_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	snprintf(w->w_error, sizeof(w->w_error), "%s", w->w_net->n_error);
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* RFC 6455 5.3: a fresh, unpredictable masking key for every frame. */
static int
wsc_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *user)
{
	(void)user;
	if (len > (size_t)INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return 0;
}

static void
wsc_msg_recv_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct wsc *w = user;
	size_t i, n;

	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
		w->w_cb.wc_text_cb(arg->msg, arg->msg_length, w->w_arg);
		break;
	case WSLAY_BINARY_FRAME:
		/* The protocol is JSON text; 1003 is "cannot accept this". */
		snprintf(w->w_error, sizeof(w->w_error), "the server sent a "
		    "binary message");
		(void)wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
		    NULL, 0);
		break;
	case WSLAY_CONNECTION_CLOSE:
		w->w_close_code = arg->status_code != 0 ? arg->status_code :
		    WSLAY_CODE_NO_STATUS_RCVD;
		n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
		if (n > sizeof(w->w_close_reason) - 1)
			n = sizeof(w->w_close_reason) - 1;
		/* For a message on a terminal: no control characters. */
		for (i = 0; i < n; i++)
			w->w_close_reason[i] = arg->msg[2 + i] < 0x20 ||
			    arg->msg[2 + i] == 0x7f ? '?' : (char)arg->msg[2 + i];
		w->w_close_reason[n] = '\0';
		break;
	default:
		break;  /* ping and pong: wslay answers and ignores them */
	}
}

static const struct wslay_event_callbacks wsc_wslay_callbacks = {
	.recv_callback = wsc_recv_cb,
	.send_callback = wsc_send_cb,
	.genmask_callback = wsc_genmask_cb,
	.on_msg_recv_callback = wsc_msg_recv_cb,
};

struct wsc *
wsc_open(struct net *n, unsigned char *rest, size_t nrest,
    uint64_t max_message, const struct wsc_callbacks *cb, void *arg)
{
	struct wsc *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(rest);
		fail_set(FAIL_LOCAL, "out of memory");
		return NULL;
	}
	w->w_net = n;
	w->w_rest = rest;
	w->w_nrest = nrest;
	w->w_cb = *cb;
	w->w_arg = arg;
	if (wslay_event_context_client_init(&w->w_ctx, &wsc_wslay_callbacks,
	    w) != 0) {
		wsc_free(w);
		fail_set(FAIL_LOCAL, "out of memory");
		return NULL;
	}
	wslay_event_config_set_max_recv_msg_length(w->w_ctx, max_message);
	return w;
}

void
wsc_free(struct wsc *w)
{
	if (w == NULL)
		return;
	if (w->w_ctx != NULL)
		wslay_event_context_free(w->w_ctx);
	free(w->w_rest);
	free(w);
}

int
wsc_send_text(struct wsc *w, const char *data, size_t len)
{
	struct wslay_event_msg m = {
		.opcode = WSLAY_TEXT_FRAME,
		.msg = (const uint8_t *)data,
		.msg_length = len,
	};

	if (w->w_close_pending != 0)
		return -1;
	return wslay_event_queue_msg(w->w_ctx, &m) == 0 ? 0 : -1;
}

int
wsc_close(struct wsc *w, uint16_t code)
{
	if (w->w_close_pending != 0 || code == 0)
		return -1;
	w->w_close_pending = code;
	return 0;
}

/*
 * wslay sends control frames ahead of queued messages, so a close queued
 * right after a message would overtake it (and end the stream before it):
 * hand our close to wslay only once every message is out. True when it
 * was handed over just now.
 */
static bool
wsc_queue_close(struct wsc *w)
{
	uint16_t code = w->w_close_pending;

	if (code == 0 || code == UINT16_MAX ||
	    wslay_event_get_queued_msg_count(w->w_ctx) != 0)
		return false;
	w->w_close_pending = UINT16_MAX;        /* handed over */
	/* Fails only when a close is queued already (the server's echo). */
	return wslay_event_queue_close(w->w_ctx, code, NULL, 0) == 0;
}

enum wsc_status
wsc_step(struct wsc *w, uint64_t deadline)
{
	int rd, wr, rv;

	(void)wsc_queue_close(w);
	rd = wslay_event_want_read(w->w_ctx);
	wr = wslay_event_want_write(w->w_ctx);
	if (w->w_eof)
		return WSC_EOF;
	if (!rd && !wr)
		return WSC_CLOSED;
	/* Bytes already read (after the 101, inside TLS) need no wait. */
	if (!rd || (w->w_restoff == w->w_nrest && !net_pending(w->w_net))) {
		rv = net_wait(w->w_net, net_events(w->w_net, rd, wr), deadline);
		if (rv == NET_TIMEOUT)
			return WSC_TIMEOUT;
		if (rv == NET_SIGNAL)
			return WSC_SIGNAL;
		if (rv != 0) {
			snprintf(w->w_error, sizeof(w->w_error), "%s",
			    w->w_net->n_error);
			return WSC_ERROR;
		}
	}
	/* Both, whatever poll said: each stops at its first would-block. */
	if (rd) {
		if (wslay_event_recv(w->w_ctx) != 0) {
			if (w->w_eof)
				return WSC_EOF;
			if (w->w_error[0] == '\0')
				snprintf(w->w_error, sizeof(w->w_error),
				    "WebSocket: cannot read (out of memory)");
			return WSC_ERROR;
		}
		/* wslay refused a frame (bad framing, too big) and queued
		 * its own close frame: the session ends with an error. */
		if (!wslay_event_get_read_enabled(w->w_ctx) &&
		    !wslay_event_get_close_received(w->w_ctx))
			w->w_wslay_closed = true;
	}
	/* Twice when the last message went out and our close can follow. */
	do {
		if (wslay_event_want_write(w->w_ctx) &&
		    wslay_event_send(w->w_ctx) != 0) {
			if (w->w_error[0] == '\0')
				snprintf(w->w_error, sizeof(w->w_error),
				    "WebSocket: cannot write (out of memory)");
			return WSC_ERROR;
		}
	} while (wsc_queue_close(w));
	return WSC_OK;
}

const char *
wsc_error(struct wsc *w)
{
	if (w->w_error[0] != '\0')
		return w->w_error;
	if (!w->w_wslay_closed)
		return NULL;
	/* Said once the code is known, from the frame wslay sent. */
	switch (wslay_event_get_status_code_sent(w->w_ctx)) {
	case WSLAY_CODE_MESSAGE_TOO_BIG:
		snprintf(w->w_error, sizeof(w->w_error), "the server sent a "
		    "message larger than the limit (closed with 1009)");
		break;
	default:
		snprintf(w->w_error, sizeof(w->w_error), "the server broke "
		    "the WebSocket protocol (closed with %u)",
		    (unsigned)wslay_event_get_status_code_sent(w->w_ctx));
		break;
	}
	return w->w_error;
}

int
wsc_close_sent(const struct wsc *w)
{
	return wslay_event_get_close_sent(w->w_ctx);
}

uint16_t
wsc_close_received(const struct wsc *w, const char **reason)
{
	if (reason != NULL)
		*reason = w->w_close_reason;
	return w->w_close_code;
}

uint16_t
wsc_close_code_sent(const struct wsc *w)
{
	return wslay_event_get_close_sent(w->w_ctx) ?
	    wslay_event_get_status_code_sent(w->w_ctx) : 0;
}
