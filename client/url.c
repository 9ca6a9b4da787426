/*
 * url.c: ws:// and wss:// URLs, split by http-parser's URL parser (which
 * handles brackets, ports and their range); this file only checks what
 * a WebSocket client needs on top of it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "client/fail.h"
#include "client/url.h"

/* The text of field f of a parsed URL, or NULL when it is absent. */
static const char *
url_field(const struct http_parser_url *pu, const char *text, int f,
    size_t *len)
{
	if ((pu->field_set & (1 << f)) == 0)
		return NULL;
	*len = pu->field_data[f].len;
	return text + pu->field_data[f].off;
}

/* Copy host into u, turning an IPv6 zone's "%25" back into "%". */
static int
url_set_host(struct url *u, const char *host, size_t len, const char *text)
{
	size_t i, o = 0;

	if (len == 0)
		return fail_set(FAIL_USAGE, "no host in URL %s", text);
	if (len >= sizeof(u->u_host))
		return fail_set(FAIL_USAGE, "host name too long in URL %s", text);
	for (i = 0; i < len; i++) {
		if (u->u_ipv6 && host[i] == '%' && i + 2 < len &&
		    host[i + 1] == '2' && host[i + 2] == '5')
			i += 2;
		u->u_host[o++] = host[i];
	}
	u->u_host[o] = '\0';
	return 0;
}

int
url_parse(struct url *u, const char *text)
{
	struct http_parser_url pu;
	const char *s, *host, *path, *query;
	size_t slen = 0, hlen = 0, plen = 0, qlen = 0, tlen;
	unsigned char addr[sizeof(struct in6_addr)];
	int n;

	memset(u, 0, sizeof(*u));
	http_parser_url_init(&pu);
	if (http_parser_parse_url(text, strlen(text), 0, &pu) != 0)
		return fail_set(FAIL_USAGE, "not a URL: %s "
		    "(want ws://HOST:PORT/PATH or wss://HOST:PORT/PATH)", text);
	s = url_field(&pu, text, UF_SCHEMA, &slen);
	if (s != NULL && slen == 2 && strncasecmp(s, "ws", 2) == 0)
		u->u_tls = false;
	else if (s != NULL && slen == 3 && strncasecmp(s, "wss", 3) == 0)
		u->u_tls = true;
	else
		return fail_set(FAIL_USAGE, "not a ws:// or wss:// URL: %s", text);
	if (url_field(&pu, text, UF_USERINFO, &slen) != NULL)
		return fail_set(FAIL_USAGE, "user information in URL %s is not "
		    "supported: send credentials with --header", text);
	if ((host = url_field(&pu, text, UF_HOST, &hlen)) == NULL)
		return fail_set(FAIL_USAGE, "no host in URL %s", text);
	/* http-parser leaves the brackets of an IPv6 literal out of the host. */
	u->u_ipv6 = host > text && host[-1] == '[';
	if (url_set_host(u, host, hlen, text) != 0)
		return -1;
	if ((pu.field_set & (1 << UF_PORT)) != 0) {
		if (pu.port == 0)
			return fail_set(FAIL_USAGE, "port 0 in URL %s", text);
		u->u_port = pu.port;
	} else {
		u->u_port = u->u_tls ? 443 : 80;
	}
	snprintf(u->u_port_text, sizeof(u->u_port_text), "%u",
	    (unsigned)u->u_port);
	if (u->u_ipv6) {
		char bare[sizeof(u->u_host)];

		/* The zone, if any, is not part of the address. */
		memcpy(bare, u->u_host, sizeof(bare));
		bare[strcspn(bare, "%")] = '\0';
		if (inet_pton(AF_INET6, bare, addr) != 1)
			return fail_set(FAIL_USAGE, "not an IPv6 address: [%s] "
			    "in URL %s", u->u_host, text);
		u->u_literal = true;
	} else {
		u->u_literal = inet_pton(AF_INET, u->u_host, addr) == 1;
	}
	/* Host: as browsers send it, the port only when not the default. */
	n = snprintf(u->u_authority, sizeof(u->u_authority), "%s%.*s%s",
	    u->u_ipv6 ? "[" : "", (int)hlen, host, u->u_ipv6 ? "]" : "");
	if (n > 0 && (size_t)n < sizeof(u->u_authority) &&
	    u->u_port != (u->u_tls ? 443 : 80))
		n += snprintf(u->u_authority + n, sizeof(u->u_authority) -
		    (size_t)n, ":%u", (unsigned)u->u_port);
	if (n < 0 || (size_t)n >= sizeof(u->u_authority))
		return fail_set(FAIL_USAGE, "host name too long in URL %s", text);
	/* The target: the path ("/" when none) and the query; no fragment. */
	path = url_field(&pu, text, UF_PATH, &plen);
	query = url_field(&pu, text, UF_QUERY, &qlen);
	if (path == NULL) {
		path = "/";
		plen = 1;
	}
	tlen = plen + (query != NULL ? 1 + qlen : 0);
	if ((u->u_target = malloc(tlen + 1)) == NULL)
		return fail_set(FAIL_LOCAL, "out of memory");
	memcpy(u->u_target, path, plen);
	if (query != NULL) {
		u->u_target[plen] = '?';
		memcpy(u->u_target + plen + 1, query, qlen);
	}
	u->u_target[tlen] = '\0';
	return 0;
}

void
url_free(struct url *u)
{
	free(u->u_target);
	u->u_target = NULL;
}
