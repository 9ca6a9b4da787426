/*
 * fuzz_ws.c: fuzz target for master/ws.c. Feeds the input as client
 * frames in several chunkings and checks that messages, output and the
 * close code do not depend on how the bytes were split.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"
#include "json/utf8.h"
#include "master/ws.h"

#define FUZZ_WS_MAX_MSG 4096

struct fuzz_ws_run {
	struct ws *ws;
	uint64_t text_hash;   /* over every message delivered, in order */
	uint64_t out_hash;    /* over every byte sent */
	size_t ntexts;
	size_t outlen;
	int nclosed;
	uint16_t code;
	bool reply;           /* answer every message (from on_text) */
};

static uint64_t
fuzz_ws_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	/* FNV-1a: order matters, which is what is compared. */
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void
fuzz_ws_on_text(void *arg, const char *data, size_t len)
{
	struct fuzz_ws_run *r = arg;

	if (!utf8_valid(data, len) || len > FUZZ_WS_MAX_MSG || r->nclosed)
		abort();
	r->text_hash = fuzz_ws_hash(r->text_hash, &len, sizeof(len));
	r->text_hash = fuzz_ws_hash(r->text_hash, data, len);
	r->ntexts++;
	if (r->reply && ws_send_text(r->ws, data, len) != 0 &&
	    !ws_closing(r->ws))
		abort();
}

static int
fuzz_ws_send(void *arg, const void *data, size_t len)
{
	struct fuzz_ws_run *r = arg;

	if (r->nclosed)
		abort();
	r->out_hash = fuzz_ws_hash(r->out_hash, data, len);
	r->outlen += len;
	return 0;
}

static void
fuzz_ws_on_closed(void *arg, uint16_t code)
{
	struct fuzz_ws_run *r = arg;

	r->nclosed++;
	r->code = code;
}

static const struct ws_callbacks fuzz_ws_callbacks = {
	.on_text = fuzz_ws_on_text,
	.send = fuzz_ws_send,
	.on_closed = fuzz_ws_on_closed,
};

static void
fuzz_ws_feed(const uint8_t *data, size_t size, size_t chunk, bool reply,
    struct fuzz_ws_run *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->text_hash = r->out_hash = 0xcbf29ce484222325ull;
	r->reply = reply;
	if ((r->ws = ws_new(&fuzz_ws_callbacks, r, FUZZ_WS_MAX_MSG)) == NULL)
		abort();
	while (off < size) {
		size_t len = size - off < chunk ? size - off : chunk;
		/* ws_feed unmasks in place: an exact-size copy per chunk. */
		uint8_t *copy = malloc(len);
		int rv;

		if (copy == NULL)
			abort();
		memcpy(copy, data + off, len);
		rv = ws_feed(r->ws, copy, len);
		free(copy);

		if ((rv == -1) != (r->nclosed == 1) || r->nclosed > 1)
			abort();
		if (rv != 0)
			break;
		off += len;
	}
	if (r->nclosed == 0 && ws_feed(r->ws, NULL, 0) != 0)
		abort();
	ws_free(r->ws);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 2, 5, 131, 4097 };
	struct fuzz_ws_run whole, part;
	bool reply = (size & 1) != 0;
	size_t i;

	fuzz_ws_feed(data, size, size > 0 ? size : 1, reply, &whole);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		fuzz_ws_feed(data, size, chunks[i], reply, &part);
		if (part.ntexts != whole.ntexts ||
		    part.text_hash != whole.text_hash ||
		    part.outlen != whole.outlen ||
		    part.out_hash != whole.out_hash ||
		    part.nclosed != whole.nclosed || part.code != whole.code)
			abort();
	}
	return 0;
}
