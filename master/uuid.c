/*
 * uuid.c: random (version 4) UUIDs for client connections. The random
 * bytes are drawn from the kernel in bulk: one getrandom(2) per 256
 * connections, not one per accept.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include <event2/util.h>

#include "master/uuid.h"

static struct {
	uint8_t rand[4096];           /* random bytes, refilled in bulk */
	size_t rand_left;
} uuid;

void
uuid_v4(char out[37])
{
	uint8_t b[16];

	if (uuid.rand_left < sizeof(b)) {
		if (getrandom(uuid.rand, sizeof(uuid.rand), 0) !=
		    (ssize_t)sizeof(uuid.rand))
			evutil_secure_rng_get_bytes(uuid.rand, sizeof(uuid.rand));
		uuid.rand_left = sizeof(uuid.rand);
	}
	uuid.rand_left -= sizeof(b);
	memcpy(b, uuid.rand + uuid.rand_left, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}
