/*
 * fuzz_handshake.c: fuzz target for master/handshake.c. Feeds the input
 * in several chunkings, checks that the outcome does not depend on how
 * the bytes were split, and builds the answer to whatever was read.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"
#include "master/handshake.h"

struct fuzz_handshake_result {
	enum handshake_state state;
	int status;       /* decision when DONE, error status when ERROR */
	size_t used;
};

static void
fuzz_handshake_run(const uint8_t *data, size_t size, size_t chunk,
    struct fuzz_handshake_result *res)
{
	struct handshake hs;
	char path[256], resp[1024], accept[29];
	size_t off = 0, used = 0;
	int n;

	handshake_init(&hs);
	while (off < size && hs.hs_state == HANDSHAKE_MORE) {
		size_t len = size - off < chunk ? size - off : chunk;
		size_t got = handshake_feed(&hs, (const char *)data + off, len);

		if (got > len)
			abort();
		used += got;
		/* Short of an end, every byte offered is taken. */
		if (hs.hs_state == HANDSHAKE_MORE && got != len)
			abort();
		off += len;
	}
	if (used != hs.hs_bytes || used > HANDSHAKE_MAX_BYTES)
		abort();
	res->state = hs.hs_state;
	res->used = used;
	res->status = 0;
	if (hs.hs_state == HANDSHAKE_DONE) {
		(void)handshake_method(&hs);
		(void)handshake_path(&hs, path, sizeof(path));
		(void)handshake_header(&hs, "host");
		res->status = handshake_decide(&hs, "/ws");
		n = handshake_response(&hs, res->status, resp, sizeof(resp));
		if (n < 0 || (size_t)n != strlen(resp))
			abort();
		if (res->status == 101 && handshake_accept_key(
		    handshake_header(&hs, "sec-websocket-key"), accept) != 0)
			abort();
	} else if (hs.hs_state == HANDSHAKE_ERROR) {
		res->status = hs.hs_error_status;
		if (handshake_response(&hs, res->status, resp, sizeof(resp)) < 0)
			abort();
	}
	handshake_free(&hs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 7, 64 };
	struct fuzz_handshake_result whole, part;
	size_t i;

	fuzz_handshake_run(data, size, size > 0 ? size : 1, &whole);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		fuzz_handshake_run(data, size, chunks[i], &part);
		if (part.state != whole.state || part.status != whole.status ||
		    (whole.state == HANDSHAKE_DONE && part.used != whole.used))
			abort();
	}
	return 0;
}
