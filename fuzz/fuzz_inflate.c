/*
 * fuzz_inflate.c: fuzz target for master/deflate.c, the permessage-deflate
 * paths a client controls. The first byte picks:
 *   0: the input is a Sec-WebSocket-Extensions value: an accepted offer
 *      gives a window of 8..15 and a response line that says exactly the
 *      extension's parameters;
 *   1: the input is a compressed message: inflated under a bound, the
 *      result never exceeds it, and a message that inflates is inflated
 *      again to the same bytes (the stream is reset between messages);
 *   2: the input is a message: deflated (in two pieces) and inflated
 *      again, it comes back unchanged (differential against itself).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"
#include "master/deflate.h"

#define FUZZ_INFLATE_MAX (64u * 1024)

static void
fuzz_offer(const uint8_t *data, size_t size)
{
	char value[4096], resp[DEFLATE_RESPONSE_MAX];
	int bits;

	if (size >= sizeof(value))
		size = sizeof(value) - 1;
	memcpy(value, data, size);
	value[size] = '\0';
	memset(resp, 0, sizeof(resp));
	bits = deflate_offer(value, resp);
	if (bits == 0)
		return;
	if (bits < 8 || bits > 15 || resp[DEFLATE_RESPONSE_MAX - 1] != '\0' ||
	    strncmp(resp, "Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_no_context_takeover; client_no_context_takeover", 100) != 0 ||
	    strcmp(resp + strlen(resp) - 2, "\r\n") != 0)
		abort();
}

static void
fuzz_inflate(const uint8_t *data, size_t size)
{
	const uint8_t *out;
	uint8_t *copy;
	size_t len, len2;

	if (deflate_inflate(data, size, FUZZ_INFLATE_MAX, &out, &len) !=
	    DEFLATE_OK)
		return;
	if (len > FUZZ_INFLATE_MAX || (copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, out, len);
	if (deflate_inflate(data, size, FUZZ_INFLATE_MAX, &out, &len2) !=
	    DEFLATE_OK || len2 != len || memcmp(copy, out, len) != 0)
		abort();
	free(copy);
}

static void
fuzz_roundtrip(const uint8_t *data, size_t size)
{
	struct iovec iov[2];
	const uint8_t *z, *out;
	uint8_t *zcopy;
	size_t zlen, len, half = size / 2;
	int bits = 9 + (int)(size % 7);

	iov[0].iov_base = (void *)(uintptr_t)data;
	iov[0].iov_len = half;
	iov[1].iov_base = (void *)(uintptr_t)(data + half);
	iov[1].iov_len = size - half;
	if ((z = deflate_message(iov, 2, size, bits, &zlen)) == NULL) {
		/* Only small or incompressible messages stay plain: one
		 * byte repeated 4 KiB times always shrinks. */
		if (size > 4096 && memcmp(data, data + 1, size - 1) == 0)
			abort();
		return;
	}
	if (zlen >= size || (zcopy = malloc(zlen)) == NULL)
		abort();
	memcpy(zcopy, z, zlen);
	if (deflate_inflate(zcopy, zlen, size, &out, &len) != DEFLATE_OK ||
	    len != size || memcmp(out, data, size) != 0)
		abort();
	free(zcopy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_offer(data + 1, size - 1);
		break;
	case 1:
		fuzz_inflate(data + 1, size - 1);
		break;
	default:
		fuzz_roundtrip(data + 1, size - 1);
		break;
	}
	return 0;
}
