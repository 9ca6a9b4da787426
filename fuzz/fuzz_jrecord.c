/*
 * fuzz_jrecord.c: fuzz target for master/jrecord.c, the decoder of a
 * journal record's bytes (read back from an LMDB file or a Redis reply:
 * untrusted). A record that decodes must encode to bytes that decode to
 * the same record.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"
#include "master/jrecord.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone zone, zone2;
	msgpack_sbuffer sb;
	struct jrecord r, r2;

	if (!msgpack_zone_init(&zone, 256))
		return 0;
	if (jrecord_decode(data, size, &zone, &r) == 0) {
		msgpack_sbuffer_init(&sb);
		if (!msgpack_zone_init(&zone2, 256))
			abort();
		if (jrecord_encode(&sb, &r) != 0 ||
		    jrecord_decode(sb.data, sb.size, &zone2, &r2) != 0 ||
		    strcmp(r.jr_route, r2.jr_route) != 0 ||
		    strcmp(r.jr_name, r2.jr_name) != 0 ||
		    strcmp(r.jr_host, r2.jr_host) != 0 ||
		    r.jr_pid != r2.jr_pid || r.jr_arg_len != r2.jr_arg_len ||
		    (r.jr_arg_len > 0 &&
		    memcmp(r.jr_arg, r2.jr_arg, r.jr_arg_len) != 0))
			abort();
		msgpack_zone_destroy(&zone2);
		msgpack_sbuffer_destroy(&sb);
	}
	msgpack_zone_destroy(&zone);
	return 0;
}
