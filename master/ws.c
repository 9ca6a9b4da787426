/*
 * ws.c: one server-side WebSocket connection's framing (RFC 6455): wslay
 * parses the peer's frames, this file adds the checks wslay leaves out and
 * writes the server's own frames.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "json/utf8.h"
#include "master/deflate.h"
#include "master/ws.h"
#include "master/wsfast.h"

/*
 * Design notes.
 *
 * Memory. A wslay event context carries two 4 KiB buffers (about 8.5 KiB
 * with its queues), too much to keep for every idle connection. So the
 * context exists only while the peer's bytes are in the middle of a frame
 * or of a fragmented message: ws_feed() creates it on demand and frees it
 * again when the bytes handed to wslay end on a frame boundary and no
 * message is open. Nothing else of wslay's state matters between
 * messages: the close state lives here.
 *
 * Frame boundaries. ws_scan() follows frame headers in the byte stream
 * (a few bytes of state) to know where frames begin. It serves the
 * memory rule above, and one of wslay's gaps: 1.1.1 checks the UTF-8 of
 * a close reason per read chunk, skipping two bytes of every chunk, so a
 * valid close split across reads can be refused with 1007. A close frame
 * is therefore always handed to wslay whole and alone: bytes before it
 * go first (wslay drains them completely), and a close frame that arrives
 * in pieces waits in ws_stash (at most 131 bytes, only while it is
 * incomplete).
 *
 * Output. Every frame of ours (text, ping, close) is written straight to
 * cb->send. wslay queues its own frames (pongs, its answers to violations
 * it detects, a close echo); ws_flush() sends that queue through
 * ws_send_cb right after a ping and at the end of every ws_feed(), so the
 * queue is empty whenever the caller runs (the invariant in ws.h). Once a
 * close frame has gone out, ws_send_cb swallows whatever wslay still has,
 * since nothing may follow a close frame.
 *
 * What wslay lacks (1.1.1): frame-level violations (control frame over
 * 125 bytes, fragmented control frame, non-minimal length) make it queue
 * a close without a status code and fail; we answer 1002 ourselves. A
 * one-byte close payload is echoed by wslay as a normal close; RFC 6455
 * 5.5.1 makes it a protocol error (1002). Binary messages are closed with
 * 1003 as soon as their first frame header is seen. The close reason and
 * whole text messages are checked with utf8_valid() as well.
 *
 * Ending. on_closed runs exactly once, always at the end of ws_feed() and
 * never from inside wslay, after our close frame (if any) is written.
 *
 * The fast path. While nothing is pending in wslay, wsfast_frames()
 * takes whole single-frame text messages straight from the caller's
 * buffer (header checked, payload unmasked in place, UTF-8 checked). It
 * stops at the first frame that is anything else (control, fragment,
 * reserved bits, odd or oversized length, incomplete) and hands the rest
 * to wslay: violations are judged as ever, wslay keeps partial frames.
 */

/* Only a frame header's worth: 2 bytes, 8 of length, 4 of mask. */
#define WS_MAX_HEADER 14
#define WS_MAX_CONTROL 125
/* The largest valid close frame from a client: header, mask, payload. */
#define WS_MAX_CLOSE_FRAME (2 + 4 + WS_MAX_CONTROL)

struct ws {
	struct ws_callbacks ws_cb;
	void *ws_arg;
	wslay_event_context_ptr ws_ctx;  /* NULL while idle (design notes) */
	uint64_t ws_max_msg;
	const uint8_t *ws_in;            /* bytes of the running ws_feed() */
	size_t ws_inlen;
	uint64_t ws_skip;                /* scanner: length, then payload left */
	uint8_t ws_hdrpos;               /* scanner: header bytes seen (0: none) */
	uint8_t ws_hdrneed;              /* scanner: this header's size */
	uint8_t ws_hdrext;               /* scanner: extended length bytes */
	uint8_t ws_stashlen;
	uint8_t *ws_stash;               /* an incomplete close frame, or NULL */
	uint16_t ws_close_code;          /* the code we sent (1005: none) */
	uint16_t ws_fail_code;           /* why we end the connection */
	uint8_t ws_deflate;              /* permessage-deflate: our window bits; 0: off */
	uint8_t ws_flags;
#define WS_FRAGMENTED	0x01  /* a data message is open across frames */
#define WS_CLOSE_SENT	0x02  /* our close frame is out: send nothing more */
#define WS_PEER_CLOSED	0x04  /* the peer's close frame arrived */
#define WS_FAILED	0x08  /* a violation or I/O error: end after this feed */
#define WS_FINISHED	0x10  /* on_closed has been called */
};

static bool
ws_has(const struct ws *ws, uint8_t flag)
{
	return (ws->ws_flags & flag) != 0;
}

/* A frame header for a payload of len bytes (never masked: server
 * frames are not) at hdr; returns its length. */
static size_t
ws_frame_header(uint8_t hdr[WS_MAX_HEADER], uint8_t first, size_t len)
{
	hdr[0] = first;
	if (len < 126) {
		hdr[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		return 4;
	}
	hdr[1] = 127;
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/* Write one control frame (at most WS_MAX_CONTROL bytes), in one piece. */
static int
ws_write_frame(struct ws *ws, uint8_t first, const void *data, size_t len)
{
	uint8_t hdr[WS_MAX_HEADER + WS_MAX_CONTROL];
	size_t n = ws_frame_header(hdr, first, len);

	if (len > 0)
		memcpy(hdr + n, data, len);
	return ws->ws_cb.send(ws->ws_arg, hdr, n + len);
}

/*
 * Send our close frame with code (0: no payload) unless one went out
 * already. A write failure leaves nothing to say to the peer either.
 */
static void
ws_write_close(struct ws *ws, uint16_t code, const char *reason, size_t rlen)
{
	uint8_t payload[WS_MAX_CONTROL];

	if (ws_has(ws, WS_CLOSE_SENT))
		return;
	ws->ws_flags |= WS_CLOSE_SENT;
	ws->ws_close_code = code != 0 ? code : WSLAY_CODE_NO_STATUS_RCVD;
	if (code != 0) {
		payload[0] = (uint8_t)(code >> 8);
		payload[1] = (uint8_t)code;
		if (rlen > 0)
			memcpy(payload + 2, reason, rlen);
	}
	if (ws_write_frame(ws, 0x88, payload, code != 0 ? 2 + rlen : 0) != 0)
		ws->ws_close_code = WSLAY_CODE_ABNORMAL_CLOSURE;
}

/*
 * The peer broke the protocol (or we cannot go on): answer with a close
 * frame carrying code, stop reading, and end once ws_feed() returns.
 */
static void
ws_fail(struct ws *ws, uint16_t code)
{
	if (ws_has(ws, WS_FAILED))
		return;
	ws->ws_flags |= WS_FAILED;
	ws->ws_fail_code = code;
	ws_write_close(ws, code, NULL, 0);
	if (ws->ws_ctx != NULL)
		wslay_event_shutdown_read(ws->ws_ctx);
}

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *user_data)
{
	struct ws *ws = user_data;
	size_t n;

	(void)flags;
	if (ws->ws_inlen == 0) {
		/* This feed is used up: wslay returns and waits for the next. */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = ws->ws_inlen < len ? ws->ws_inlen : len;
	memcpy(buf, ws->ws_in, n);
	ws->ws_in += n;
	ws->ws_inlen -= n;
	return (ssize_t)n;
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *user_data)
{
	struct ws *ws = user_data;

	(void)flags;
	/* Nothing may follow our close frame: drop wslay's leftovers. */
	if (ws_has(ws, WS_CLOSE_SENT))
		return (ssize_t)len;
	if (ws->ws_cb.send(ws->ws_arg, data, len) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int
ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *user_data)
{
	/* Servers never mask; wslay only asks in client mode. */
	(void)ctx;
	(void)user_data;
	memset(buf, 0, len);
	return 0;
}

static void
ws_frame_start_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *arg, void *user_data)
{
	struct ws *ws = user_data;

	(void)ctx;
	if (!wslay_is_ctrl_frame(arg->opcode)) {
		if (arg->fin)
			ws->ws_flags &= (uint8_t)~WS_FRAGMENTED;
		else
			ws->ws_flags |= WS_FRAGMENTED;
	}
	/* Refuse binary before buffering any of it. */
	if (arg->opcode == WSLAY_BINARY_FRAME)
		ws_fail(ws, WSLAY_CODE_UNSUPPORTED_DATA);
}

/* Send what wslay has queued (a pong, its own close). */
static void
ws_flush(struct ws *ws)
{
	if (wslay_event_send(ws->ws_ctx) != 0) {
		/* The output is broken: no close frame can be written. */
		ws->ws_flags |= WS_CLOSE_SENT;
		ws->ws_close_code = WSLAY_CODE_ABNORMAL_CLOSURE;
		ws_fail(ws, WSLAY_CODE_ABNORMAL_CLOSURE);
	}
}

static void
ws_peer_close(struct ws *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
	/* wslay has already refused invalid codes with 1002. */
	if (arg->msg_length == 1) {
		ws_fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
		return;
	}
	if (arg->msg_length > 2 &&
	    !utf8_valid(arg->msg + 2, arg->msg_length - 2)) {
		ws_fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
		return;
	}
	ws->ws_flags |= WS_PEER_CLOSED;
	/* Echo the code, without the reason. */
	ws_write_close(ws, arg->status_code, NULL, 0);
}

/* A compressed message: arg points to it inflated after. false: failed. */
static bool
ws_inflate(struct ws *ws, struct wslay_event_on_msg_recv_arg *arg)
{
	enum deflate_result rv;

	rv = deflate_inflate(arg->msg, arg->msg_length, (size_t)ws->ws_max_msg,
	    &arg->msg, &arg->msg_length);
	if (rv != DEFLATE_OK)
		ws_fail(ws, (uint16_t)rv);  /* the close code */
	return rv == DEFLATE_OK;
}

static void
ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *in, void *user_data)
{
	struct wslay_event_on_msg_recv_arg msg = *in, *arg = &msg;
	struct ws *ws = user_data;

	(void)ctx;
	if (ws_has(ws, WS_FAILED))
		return;
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
		/* After our close frame, no new work is taken. */
		if (ws_has(ws, WS_CLOSE_SENT))
			break;
		/* wslay allows RSV1 only once deflate is on (ws_feed). */
		if ((arg->rsv & WSLAY_RSV1_BIT) && !ws_inflate(ws, arg))
			break;
		if (!utf8_valid(arg->msg, arg->msg_length)) {
			ws_fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
			break;
		}
		ws->ws_cb.on_text(ws->ws_arg,
		    arg->msg != NULL ? (const char *)arg->msg : "",
		    arg->msg_length);
		break;
	case WSLAY_BINARY_FRAME:
		ws_fail(ws, WSLAY_CODE_UNSUPPORTED_DATA);
		break;
	case WSLAY_CONNECTION_CLOSE:
		ws_peer_close(ws, arg);
		break;
	case WSLAY_PING:
		/* wslay queued the pong; send it before anything else. */
		ws_flush(ws);
		break;
	case WSLAY_PONG:
		if (ws->ws_cb.on_pong != NULL)
			ws->ws_cb.on_pong(ws->ws_arg);
		break;
	default:
		break;
	}
}

static const struct wslay_event_callbacks ws_wslay_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.genmask_callback = ws_genmask_cb,
	.on_frame_recv_start_callback = ws_frame_start_cb,
	.on_msg_recv_callback = ws_msg_cb,
};

struct ws *
ws_new(const struct ws_callbacks *cb, void *arg, size_t max_msg)
{
	struct ws *ws;

	if (cb == NULL || cb->send == NULL || cb->on_text == NULL ||
	    cb->on_closed == NULL)
		return NULL;
	if ((ws = calloc(1, sizeof(*ws))) == NULL)
		return NULL;
	ws->ws_cb = *cb;
	ws->ws_arg = arg;
	ws->ws_max_msg = max_msg;
	return ws;
}

static void
ws_drop_ctx(struct ws *ws)
{
	wslay_event_context_free(ws->ws_ctx);
	ws->ws_ctx = NULL;
	free(ws->ws_stash);
	ws->ws_stash = NULL;
	ws->ws_stashlen = 0;
	ws->ws_hdrpos = 0;
	ws->ws_skip = 0;
	ws->ws_flags &= (uint8_t)~WS_FRAGMENTED;
}

void
ws_free(struct ws *ws)
{
	if (ws == NULL)
		return;
	ws_drop_ctx(ws);
	free(ws);
}

/* Call on_closed once, with the code that describes the end. */
static void
ws_finish(struct ws *ws)
{
	uint16_t code;

	ws_drop_ctx(ws);
	ws->ws_flags |= WS_FINISHED;
	code = ws_has(ws, WS_FAILED) ? ws->ws_fail_code : ws->ws_close_code;
	ws->ws_cb.on_closed(ws->ws_arg, code);
}

/*
 * Follow frame headers over up to len bytes at p, stopping at the first
 * byte of a close frame. Returns how many bytes were passed over.
 */
static size_t
ws_scan(struct ws *ws, const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];

		if (ws->ws_hdrpos == 0 && ws->ws_skip == 0) {
			/* A frame starts here. */
			if ((b & 0x0f) == WSLAY_CONNECTION_CLOSE)
				return i;
			ws->ws_hdrpos = 1;
			ws->ws_hdrneed = 2;
			i++;
		} else if (ws->ws_hdrpos == 1) {
			uint8_t len7 = b & 0x7f;

			ws->ws_hdrext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
			ws->ws_hdrneed = (uint8_t)(2 + ws->ws_hdrext +
			    ((b & 0x80) ? 4 : 0));
			ws->ws_skip = len7 < 126 ? len7 : 0;
			ws->ws_hdrpos = 2;
			i++;
		} else if (ws->ws_hdrpos > 0) {
			/* Extended length bytes come first, then the mask. */
			if (ws->ws_hdrpos < 2 + ws->ws_hdrext)
				ws->ws_skip = ws->ws_skip << 8 | b;
			ws->ws_hdrpos++;
			i++;
		} else {
			size_t n = len - i;

			if (ws->ws_skip < n)
				n = (size_t)ws->ws_skip;
			ws->ws_skip -= n;
			i += n;
		}
		if (ws->ws_hdrpos > 0 && ws->ws_hdrpos == ws->ws_hdrneed)
			ws->ws_hdrpos = 0;  /* header done: ws_skip is the payload */
	}
	return i;
}
/* The size of a client close frame from its second byte. */
static size_t
ws_close_frame_size(uint8_t second)
{
	uint8_t len7 = second & 0x7f;

	/* Too long for a control frame: wslay refuses it after 2 bytes. */
	if (len7 > WS_MAX_CONTROL)
		return 2;
	return (size_t)2 + ((second & 0x80) ? 4 : 0) + len7;
}

/* Hand wslay bytes that end on a frame boundary or in a frame's middle. */
static void
ws_pass(struct ws *ws, const uint8_t *p, size_t len)
{
	int rv;

	ws->ws_in = p;
	ws->ws_inlen = len;
	rv = wslay_event_recv(ws->ws_ctx);
	ws->ws_in = NULL;
	ws->ws_inlen = 0;
	if (rv == WSLAY_ERR_CALLBACK_FAILURE) {
		/* Our callbacks do not fail: a frame wslay could not parse. */
		ws_fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
	} else if (rv != 0) {
		ws_fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
	}
}

/* Collect the pieces of a close frame; true once it is whole. */
static bool
ws_stash_add(struct ws *ws, const uint8_t *p, size_t len, size_t *used)
{
	size_t need, take;

	*used = 0;
	for (;;) {
		need = ws->ws_stashlen < 2 ? 2 :
		    ws_close_frame_size(ws->ws_stash[1]);
		if (ws->ws_stashlen >= need)
			return ws->ws_stashlen >= 2;
		if (*used == len)
			return false;
		take = need - ws->ws_stashlen;
		if (take > len - *used)
			take = len - *used;
		memcpy(ws->ws_stash + ws->ws_stashlen, p + *used, take);
		ws->ws_stashlen = (uint8_t)(ws->ws_stashlen + take);
		*used += take;
	}
}

static bool
ws_reading(const struct ws *ws)
{
	return !ws_has(ws, WS_FAILED) && ws->ws_ctx != NULL &&
	    wslay_event_get_read_enabled(ws->ws_ctx);
}

/* wsfast: one whole text message, unmasked: 0 go on, -1 stop. */
static int
ws_fast_text_cb(void *arg, uint8_t *payload, size_t n)
{
	struct ws *ws = arg;

	/* After our close frame, no new work is taken. */
	if (ws_has(ws, WS_CLOSE_SENT))
		return 0;
	if (!utf8_valid(payload, n)) {
		ws_fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
		return -1;
	}
	ws->ws_cb.on_text(ws->ws_arg, (const char *)payload, n);
	return ws_has(ws, WS_FAILED) ? -1 : 0;
}

int
ws_feed(struct ws *ws, void *data, size_t len)
{
	uint8_t *p = data, *end;
	size_t n;

	if (ws_has(ws, WS_FINISHED))
		return -1;
	if (len == 0)
		return 0;
	end = p + len;
	if (ws->ws_ctx == NULL) {
		p += wsfast_frames(p, len, ws->ws_max_msg, ws_fast_text_cb, ws);
		if (p == end || ws_has(ws, WS_FAILED))
			goto out;
	}
	if (ws->ws_ctx == NULL) {
		if (wslay_event_context_server_init(&ws->ws_ctx,
		    &ws_wslay_callbacks, ws) != 0) {
			ws->ws_ctx = NULL;
			ws_fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
			goto out;
		}
		wslay_event_config_set_max_recv_msg_length(ws->ws_ctx,
		    ws->ws_max_msg);
		if (ws->ws_deflate != 0)
			wslay_event_config_set_allowed_rsv_bits(ws->ws_ctx,
			    WSLAY_RSV1_BIT);
	}
	while (p < end && ws_reading(ws)) {
		if (ws->ws_stash != NULL) {
			bool whole = ws_stash_add(ws, p, (size_t)(end - p), &n);
			p += n;
			if (whole) {
				ws_pass(ws, ws->ws_stash, ws->ws_stashlen);
				free(ws->ws_stash);
				ws->ws_stash = NULL;
				ws->ws_stashlen = 0;
			}
			continue;
		}
		if ((n = ws_scan(ws, p, (size_t)(end - p))) > 0) {
			ws_pass(ws, p, n);
			p += n;
			continue;
		}
		/* A close frame starts at p: hand it over whole or wait. */
		if (end - p >= 2 &&
		    (n = ws_close_frame_size(p[1])) <= (size_t)(end - p)) {
			ws_pass(ws, p, n);
			p += n;
			continue;
		}
		if ((ws->ws_stash = malloc(WS_MAX_CLOSE_FRAME)) == NULL) {
			ws_fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
			break;
		}
		(void)ws_stash_add(ws, p, (size_t)(end - p), &n);
		p += n;
	}
	ws_flush(ws);
	if (wslay_event_get_close_sent(ws->ws_ctx) &&
	    !ws_has(ws, WS_PEER_CLOSED) && !ws_has(ws, WS_FAILED)) {
		/*
		 * wslay answered a violation it found itself (1002, 1007,
		 * 1009); its close frame went out through ws_send_cb unless
		 * ours already had.
		 */
		uint16_t code = wslay_event_get_status_code_sent(ws->ws_ctx);
		if (!ws_has(ws, WS_CLOSE_SENT)) {
			ws->ws_flags |= WS_CLOSE_SENT;
			ws->ws_close_code = code;
		}
		ws->ws_flags |= WS_FAILED;
		ws->ws_fail_code = code;
	}
out:
	if (ws_has(ws, WS_FAILED) ||
	    (ws_has(ws, WS_PEER_CLOSED) && ws_has(ws, WS_CLOSE_SENT))) {
		ws_finish(ws);
		return -1;
	}
	/* Between frames and messages: give wslay's memory back. */
	if (ws->ws_hdrpos == 0 && ws->ws_skip == 0 && ws->ws_stash == NULL &&
	    !ws_has(ws, WS_FRAGMENTED))
		ws_drop_ctx(ws);
	return 0;
}

/* A frame may be half written: the stream is unusable. Returns -1. */
static int
ws_broken(struct ws *ws)
{
	ws->ws_flags |= WS_CLOSE_SENT;
	ws->ws_close_code = WSLAY_CODE_ABNORMAL_CLOSURE;
	return -1;
}

int
ws_send_text(struct ws *ws, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };

	return ws_send_textv(ws, &iov, 1);
}

int
ws_send_textv(struct ws *ws, const struct iovec *iov, int n)
{
	uint8_t hdr[WS_MAX_HEADER], *d, first = 0x81;
	const uint8_t *z;
	struct iovec ziov;
	size_t len = 0, h, zlen;
	int i;

	if (ws_has(ws, WS_CLOSE_SENT) || ws_has(ws, WS_FINISHED))
		return -1;
	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	/* Compressed when it is worth it: RSV1 set, one piece. */
	if (ws->ws_deflate != 0 && (z = deflate_message(iov, n, len,
	    ws->ws_deflate, &zlen)) != NULL) {
		ziov.iov_base = (void *)(uintptr_t)z;
		ziov.iov_len = len = zlen;
		iov = &ziov;
		n = 1;
		first = 0xc1;
	}
	h = ws_frame_header(hdr, first, len);
	if (ws->ws_cb.reserve != NULL) {
		if ((d = ws->ws_cb.reserve(ws->ws_arg, h + len)) == NULL)
			goto broken;
		memcpy(d, hdr, h);
		d += h;
		for (i = 0; i < n; i++) {
			if (iov[i].iov_len > 0)
				memcpy(d, iov[i].iov_base, iov[i].iov_len);
			d += iov[i].iov_len;
		}
		return 0;
	}
	if (ws->ws_cb.send(ws->ws_arg, hdr, h) != 0)
		goto broken;
	for (i = 0; i < n; i++)
		if (iov[i].iov_len > 0 && ws->ws_cb.send(ws->ws_arg,
		    iov[i].iov_base, iov[i].iov_len) != 0)
			goto broken;
	return 0;
broken:
	return ws_broken(ws);
}

int
ws_send_ping(struct ws *ws, const void *data, size_t len)
{
	if (ws_has(ws, WS_CLOSE_SENT) || ws_has(ws, WS_FINISHED) ||
	    len > WS_MAX_CONTROL || (data == NULL && len > 0))
		return -1;
	return ws_write_frame(ws, 0x89, data, len) != 0 ? ws_broken(ws) : 0;
}

int
ws_close(struct ws *ws, uint16_t code, const char *reason)
{
	size_t rlen = reason != NULL ? strlen(reason) : 0;

	if (ws_has(ws, WS_CLOSE_SENT) || ws_has(ws, WS_FINISHED))
		return -1;
	/* 1005, 1006 and 1015 are never sent (RFC 6455 7.4.1). */
	if (code < 1000 || code > 4999 || code == 1005 || code == 1006 ||
	    code == 1015 || rlen > WS_MAX_CONTROL - 2 ||
	    !utf8_valid(reason != NULL ? reason : "", rlen))
		return -1;
	ws_write_close(ws, code, reason, rlen);
	return ws->ws_close_code == WSLAY_CODE_ABNORMAL_CLOSURE ? -1 : 0;
}

void
ws_set_deflate(struct ws *ws, int wbits)
{
	ws->ws_deflate = (uint8_t)wbits;
}

bool
ws_closing(const struct ws *ws)
{
	return ws_has(ws, WS_CLOSE_SENT);
}
