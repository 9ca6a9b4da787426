/*
 * upgrade.c: what a connection keeps from its upgrade request: the
 * headers for the workers, and the permessage-deflate offer it accepts
 * (see upgrade.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "master/deflate.h"
#include "master/handshake.h"
#include "master/upgrade.h"

int
upgrade_keep_headers(const struct handshake *hs, char ***names,
    char ***values, size_t *nout)
{
	size_t n = hs->hs_nheaders, bytes = 2 * n * sizeof(char *);
	char **nm, **vl, *p;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(hs->hs_names[i]) + strlen(hs->hs_values[i]) + 2;
	if ((nm = malloc(bytes ? bytes : 1)) == NULL)
		return -1;
	vl = nm + n;
	p = (char *)(vl + n);
	for (size_t i = 0; i < n; i++) {
		size_t ln = strlen(hs->hs_names[i]) + 1;
		size_t lv = strlen(hs->hs_values[i]) + 1;

		nm[i] = memcpy(p, hs->hs_names[i], ln);
		p += ln;
		vl[i] = memcpy(p, hs->hs_values[i], lv);
		p += lv;
	}
	*names = nm;
	*values = vl;
	*nout = n;
	return 0;
}

int
upgrade_deflate(struct handshake *hs, char resp[DEFLATE_RESPONSE_MAX])
{
	int bits = 0;

	for (size_t i = 0; i < hs->hs_nheaders && bits == 0; i++)
		if (strcmp(hs->hs_names[i], "sec-websocket-extensions") == 0)
			bits = deflate_offer(hs->hs_values[i], resp);
	if (bits != 0)
		hs->hs_extensions = resp;
	return bits;
}
