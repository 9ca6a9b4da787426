/*
 * wsfast.c: whole single-frame text messages taken straight from the read
 * buffer (see wsfast.h).
 */
#include "config.h"

#include <string.h>

#include "master/wsfast.h"

/* XOR the payload with the 4-byte mask, eight bytes at a time. */
static void
wsfast_unmask(uint8_t *p, size_t n, const uint8_t mask[4])
{
	uint64_t m, w;
	size_t i = 0;

	memcpy(&m, mask, 4);
	memcpy((uint8_t *)&m + 4, mask, 4);
	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= m;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= mask[i & 3];
}

size_t
wsfast_frames(uint8_t *p, size_t len, uint64_t max,
    int (*fn)(void *arg, uint8_t *payload, size_t n), void *arg)
{
	uint8_t *start = p, *end = p + len, *payload;
	uint64_t plen;
	size_t avail, hdr;

	while ((avail = (size_t)(end - p)) >= 6) {
		/* FIN, no reserved bits, text; masked. */
		if (p[0] != 0x81 || !(p[1] & 0x80))
			break;
		plen = p[1] & 0x7f;
		hdr = 2;
		if (plen == 126) {
			if (avail < 8)
				break;
			plen = (uint64_t)p[2] << 8 | p[3];
			hdr = 4;
			if (plen < 126)
				break;       /* not minimal: wslay refuses it */
		} else if (plen == 127) {
			if (avail < 14)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | p[2 + i];
			hdr = 10;
			if (plen <= 0xffff || plen >> 63)
				break;
		}
		if (plen > max || plen > avail - hdr - 4)
			break;               /* too large (1009), or not all here */
		payload = p + hdr + 4;
		wsfast_unmask(payload, (size_t)plen, p + hdr);
		p = payload + plen;
		if (fn(arg, payload, (size_t)plen) != 0)
			break;
	}
	return (size_t)(p - start);
}
