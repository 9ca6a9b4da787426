/*
 * url.h: a ws:// or wss:// URL taken apart, with http-parser's URL parser,
 * into what wspool-call connects to and asks for.
 */
#ifndef CLIENT_URL_H
#define CLIENT_URL_H

#include <stdbool.h>
#include <stdint.h>

struct url {
	bool u_tls;             /* wss:// */
	bool u_ipv6;            /* the host was an IPv6 literal in brackets */
	bool u_literal;         /* the host is an IP address, not a name */
	char u_host[256];       /* without brackets; an IPv6 zone as %zone */
	uint16_t u_port;        /* 80 or 443 when the URL names none */
	char u_port_text[6];
	char u_authority[300];  /* the Host header: host, brackets, :port */
	char *u_target;         /* the request target: path and ?query */
};

/*
 * Parse text into u. Returns 0, or -1 after fail_set(FAIL_USAGE, ...)
 * saying what is wrong. On success u->u_target is heap memory that
 * url_free() releases; on failure nothing is held.
 */
int url_parse(struct url *u, const char *text);
void url_free(struct url *u);

#endif /* CLIENT_URL_H */
