/*
 * upgrade.h: what a connection takes from its HTTP upgrade request once
 * the answer is 101: the headers kept for the workers (whoami,
 * middlewares), and the permessage-deflate offer it accepts (deflate.h).
 * Pure functions over the parsed request: the connection owns the
 * results.
 */
#ifndef MASTER_UPGRADE_H
#define MASTER_UPGRADE_H

#include <stddef.h>

#include "master/deflate.h"

struct handshake;

/*
 * Copy the request's headers into one allocation: *names (then *values
 * right after it, and the strings) and *n. free(*names) frees it all.
 * Returns 0 or -1 (out of memory).
 */
int upgrade_keep_headers(const struct handshake *hs, char ***names,
    char ***values, size_t *n);

/*
 * With compression on: the first offer accepted in any of the request's
 * Sec-WebSocket-Extensions headers; its response line goes to resp and
 * hs->hs_extensions points to it. Returns our window bits, 0: none.
 */
int upgrade_deflate(struct handshake *hs, char resp[DEFLATE_RESPONSE_MAX]);

#endif /* MASTER_UPGRADE_H */
