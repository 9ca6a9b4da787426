/*
 * deflate.h: permessage-deflate (RFC 7692) with zlib: the negotiation of
 * the upgrade request's offers, and the compression and decompression of
 * whole messages with streams shared by the whole loop.
 *
 * Design notes.
 * - Every accepted offer is answered with server_no_context_takeover and
 *   client_no_context_takeover. The RFC lets a server include both in any
 *   response (7.1.1.1, 7.1.1.2); the client must then start each message
 *   with an empty window. So no message depends on an earlier one, and a
 *   connection owns no zlib state at all: an idle compressed connection
 *   costs what an uncompressed one does (one byte in struct ws).
 * - Messages reach ws.c whole (wslay gathers the fragments), so each is
 *   inflated in one go with the loop's one inflate stream (a 32 KiB
 *   window: accepts any client window), reset before each message, into
 *   a loop-wide buffer bounded by --max-message: a bomb stops at the
 *   bound and gets 1009.
 * - Each message of ours is deflated with the loop's stream for the
 *   window the client allowed (server_max_window_bits, 15 if it set
 *   none; streams made when first needed, at most one per size), reset
 *   before each message. Messages under DEFLATE_MIN_SIZE, and messages
 *   that do not shrink, go out uncompressed (RSV1 clear), which the RFC
 *   allows per message. server_max_window_bits=8 is accepted, but zlib's
 *   raw deflate has no 256-byte window: such a connection receives
 *   compressed messages and sends plain ones.
 */
#ifndef MASTER_DEFLATE_H
#define MASTER_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Messages shorter than this are sent uncompressed. */
#define DEFLATE_MIN_SIZE 256
/* The compression level: zlib's fastest, still several times smaller
 * for JSON (docs/performance.md). */
#define DEFLATE_LEVEL 1

/* The response header line's length, at most ("...\r\n" and a NUL). */
#define DEFLATE_RESPONSE_MAX 160

/*
 * Look at one Sec-WebSocket-Extensions header value: the first
 * permessage-deflate offer whose parameters are valid and that we can
 * honour is accepted. Returns the window bits we may use to compress
 * (8..15; 8: never compress) and writes the response header line
 * ("Sec-WebSocket-Extensions: ...\r\n") into resp; 0 when no offer in
 * value is accepted (resp untouched). A malformed value accepts nothing.
 */
int deflate_offer(const char *value, char resp[DEFLATE_RESPONSE_MAX]);

/* What deflate_inflate returns: 0, or the close code that fits. */
enum deflate_result {
	DEFLATE_OK = 0,
	DEFLATE_TOO_BIG = 1009,  /* the message inflates past the bound */
	DEFLATE_BAD = 1007,      /* not a valid deflate stream */
	DEFLATE_NOMEM = 1011,
};

/*
 * Inflate one whole compressed message (without the 00 00 ff ff tail the
 * sender removed) of at most max bytes once inflated. On DEFLATE_OK,
 * *out and *outlen hold the message, valid until the next call here.
 */
enum deflate_result deflate_inflate(const uint8_t *in, size_t len,
    size_t max, const uint8_t **out, size_t *outlen);

/*
 * Deflate one message given in n pieces (len bytes in all) for a peer that
 * allows wbits (9..15). Returns the compressed payload (tail removed),
 * valid until the next call here, with its length in *outlen; or NULL:
 * send it uncompressed (too small, does not shrink, out of memory).
 */
const uint8_t *deflate_message(const struct iovec *iov, int n, size_t len,
    int wbits, size_t *outlen);

/* Messages compressed by deflate_message, and inflated by deflate_inflate,
 * since the start (for /metrics). */
uint64_t deflate_deflated_count(void);
uint64_t deflate_inflated_count(void);

/* Free the loop's streams and buffers (after the loop). */
void deflate_fini(void);

#endif /* MASTER_DEFLATE_H */
