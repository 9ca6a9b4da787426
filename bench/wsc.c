/*
 * wsc.c: client-side WebSocket handshake and framing for wspool-bench
 * (see wsc.h). Only ever talks to our own servers, yet every length is
 * checked before it is used.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "bench/wsc.h"

static const char wsc_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

uint32_t
wsc_rand(uint64_t *state)
{
	uint64_t x = *state;

	if (x == 0)
		x = 0x9E3779B97F4A7C15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

void
wsc_make_key(char key[25], uint64_t *rng)
{
	unsigned char raw[16];
	int i;

	for (i = 0; i < 16; i += 4) {
		uint32_t r = wsc_rand(rng);

		memcpy(raw + i, &r, 4);
	}
	EVP_EncodeBlock((unsigned char *)key, raw, 16);
	key[24] = '\0';
}

int
wsc_request(char *buf, size_t cap, const char *host, const char *path,
    const char *key)
{
	int n;

	n = snprintf(buf, cap,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n", path, host, key);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

int
wsc_offer_deflate(char *buf, size_t cap, size_t len)
{
	static const char ext[] = "Sec-WebSocket-Extensions: "
	    "permessage-deflate; client_max_window_bits\r\n\r\n";

	/* Replace the request's final empty line. */
	if (len < 2 || len - 2 + sizeof(ext) > cap)
		return -1;
	memcpy(buf + len - 2, ext, sizeof(ext));
	return (int)(len - 2 + sizeof(ext) - 1);
}

/* The accept value for key: base64(SHA-1(key GUID)), 28 chars and NUL. */
static void
wsc_accept(const char *key, char out[29])
{
	unsigned char digest[SHA_DIGEST_LENGTH];
	char cat[24 + sizeof(wsc_guid)];
	size_t klen = strlen(key);

	if (klen > 24)
		klen = 24;
	memcpy(cat, key, klen);
	memcpy(cat + klen, wsc_guid, sizeof(wsc_guid) - 1);
	SHA1((const unsigned char *)cat, klen + sizeof(wsc_guid) - 1, digest);
	EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
	out[28] = '\0';
}

int
wsc_response(const char *buf, size_t len, const char *key)
{
	const char *end = NULL, *line, *eol, *colon, *v;
	char want[29];
	size_t i, hlen, vlen;
	int accepted = 0;

	/* Find the blank line that ends the header block, within bounds. */
	for (i = 3; i < len && i < WSC_MAX_RESPONSE; i++) {
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 1] == '\r' && buf[i] == '\n') {
			end = buf + i + 1;
			break;
		}
	}
	if (end == NULL)
		return len >= WSC_MAX_RESPONSE ? -1 : 0;
	hlen = (size_t)(end - buf);
	if (hlen < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0)
		return -1;
	wsc_accept(key, want);
	line = memchr(buf, '\n', hlen);
	while (line != NULL && line + 1 < end) {
		line++;
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			break;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon != NULL && colon - line == 20 &&
		    strncasecmp(line, "Sec-WebSocket-Accept", 20) == 0) {
			v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(eol - v);
			while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
				vlen--;
			if (vlen == 28 && memcmp(v, want, 28) == 0)
				accepted = 1;
			else
				return -1;
		}
		line = eol;
	}
	return accepted ? (int)hlen : -1;
}

size_t
wsc_header(uint8_t *out, int opcode, uint64_t len, uint32_t mask)
{
	size_t n = 0;
	int i;

	out[n++] = (uint8_t)(0x80 | (opcode & 0x0F));
	if (len < 126) {
		out[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xFFFF) {
		out[n++] = 0x80 | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 0x80 | 127;
		for (i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	memcpy(out + n, &mask, 4);
	return n + 4;
}

void
wsc_mask(uint8_t *p, size_t n, uint32_t mask)
{
	uint8_t key[4];
	uint64_t k8, w;
	size_t i = 0;

	memcpy(key, &mask, 4);
	memcpy(&k8, key, 4);
	memcpy((uint8_t *)&k8 + 4, key, 4);
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= k8;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= key[i & 3];
}

int
wsc_parse(const uint8_t *buf, size_t len, uint64_t max, struct wsc_frame *f)
{
	uint64_t plen;
	size_t hlen = 2;
	int i;

	if (len < 2)
		return 0;
	if (buf[0] & 0x70)
		return -1;            /* no extension was negotiated */
	if (buf[1] & 0x80)
		return -1;            /* servers never mask */
	f->f_fin = (buf[0] & 0x80) != 0;
	f->f_opcode = buf[0] & 0x0F;
	switch (f->f_opcode) {
	case WSC_OP_CONT: case WSC_OP_TEXT: case WSC_OP_BINARY:
	case WSC_OP_CLOSE: case WSC_OP_PING: case WSC_OP_PONG:
		break;
	default:
		return -1;
	}
	plen = buf[1] & 0x7F;
	/* Control frames: short and whole, known from the first two bytes. */
	if (f->f_opcode >= WSC_OP_CLOSE && (plen > 125 || !f->f_fin))
		return -1;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = ((uint64_t)buf[2] << 8) | buf[3];
		hlen = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (i = 0; i < 8; i++)
			plen = (plen << 8) | buf[2 + i];
		hlen = 10;
	}
	if (plen > max)
		return -1;
	f->f_hlen = hlen;
	f->f_len = plen;
	if (len - hlen < plen)
		return 0;
	return 1;
}
