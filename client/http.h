/*
 * http.h: the two HTTP exchanges of wspool-call, read with http-parser:
 * GET /routes (the route manifest, when the server has one) and the
 * WebSocket upgrade, whose 101 answer is checked as RFC 6455 4.1 asks.
 */
#ifndef CLIENT_HTTP_H
#define CLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/net.h"
#include "client/url.h"

/* Extra request headers, "Name: value" each, already checked. */
struct http_headers {
	char **hh_lines;
	size_t hh_n;
};

/*
 * Check a --header argument: a token name, a colon, a value without CR,
 * LF or NUL, and not one of the headers the upgrade itself sets (Host may
 * be replaced). Returns 0, or -1 after fail_set(FAIL_USAGE, ...).
 */
int http_header_check(const char *line);

/*
 * GET u's host /routes with the headers, and read the answer, its body at
 * most max_body bytes. Returns the HTTP status (> 0) with *body (heap,
 * NUL-terminated, free() it) and *body_len set when it is 200; NET_TIMEOUT
 * or NET_SIGNAL; or NET_ERROR after fail_set().
 */
int http_get_routes(struct net *n, const struct url *u,
    const struct http_headers *h, size_t max_body, uint64_t deadline,
    char **body, size_t *body_len);

/*
 * Send the upgrade request for u with the headers and read the answer.
 * Returns 0 when it is a valid 101, with *rest (heap, or NULL) and *nrest
 * set to the bytes that came after it (the first frames); NET_TIMEOUT or
 * NET_SIGNAL; or NET_ERROR after fail_set() (FAIL_HANDSHAKE when the
 * server refused or answered wrongly).
 */
int http_upgrade(struct net *n, const struct url *u,
    const struct http_headers *h, uint64_t deadline,
    unsigned char **rest, size_t *nrest);

#endif /* CLIENT_HTTP_H */
