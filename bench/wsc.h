/*
 * wsc.h: the client side of RFC 6455 that wspool-bench needs: the upgrade
 * request and the check of its answer, masked frames out, bounded parsing
 * of the server's (unmasked) frames in.
 */
#ifndef BENCH_WSC_H
#define BENCH_WSC_H

#include <stddef.h>
#include <stdint.h>

#define WSC_OP_CONT   0x0
#define WSC_OP_TEXT   0x1
#define WSC_OP_BINARY 0x2
#define WSC_OP_CLOSE  0x8
#define WSC_OP_PING   0x9
#define WSC_OP_PONG   0xA

/* The largest upgrade answer read before giving up on the server. */
#define WSC_MAX_RESPONSE 8192
/* A frame header is at most this long (2 + 8 length + 4 mask). */
#define WSC_MAX_HEADER 14

/* A random Sec-WebSocket-Key (24 base64 characters and a NUL). */
void wsc_make_key(char key[25], uint64_t *rng);

/*
 * Write the upgrade request for host (HOST:PORT as in the URL) and path
 * into buf. Returns its length, or -1 when it does not fit in cap.
 */
/*
 * Add "Sec-WebSocket-Extensions: permessage-deflate; ..." to a request of
 * len bytes built by wsc_request in buf. Returns the new length or -1.
 */
int wsc_offer_deflate(char *buf, size_t cap, size_t len);

int wsc_request(char *buf, size_t cap, const char *host, const char *path,
    const char *key);

/*
 * Check the server's answer to the upgrade in buf[0..len): 101 with the
 * Sec-WebSocket-Accept that key asks for. Returns the length of the
 * header block (the frames that follow are not consumed), 0 when more
 * bytes are needed, -1 when it is refused or malformed (a status other
 * than 101, a wrong accept, no end within WSC_MAX_RESPONSE).
 */
int wsc_response(const char *buf, size_t len, const char *key);

/*
 * Write a final frame header for a masked payload of len bytes, with
 * masking key mask, into out (WSC_MAX_HEADER bytes). Returns its length.
 */
size_t wsc_header(uint8_t *out, int opcode, uint64_t len, uint32_t mask);

/* XOR p[0..n) with the masking key (in place), 8 bytes at a time. */
void wsc_mask(uint8_t *p, size_t n, uint32_t mask);

/* A step of xorshift64*: masking keys and handshake keys. */
uint32_t wsc_rand(uint64_t *state);

struct wsc_frame {
	int f_fin;
	int f_opcode;
	size_t f_hlen;         /* header length */
	uint64_t f_len;        /* payload length */
};

/*
 * Parse the frame header at buf[0..len) from a server. Returns 1 with *f
 * filled when the whole frame (header and payload) is in buf, 0 when more
 * bytes are needed, -1 on a protocol error: a masked frame, reserved bits,
 * an unknown opcode, a control frame over 125 bytes or fragmented, or a
 * payload over max.
 */
int wsc_parse(const uint8_t *buf, size_t len, uint64_t max,
    struct wsc_frame *f);

#endif
