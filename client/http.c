/*
 * http.c: wspool-call's HTTP side (see http.h): the GET /routes and the
 * upgrade requests, and their answers read with http-parser. The 101 is
 * checked as RFC 6455 4.1 asks of a client, the accept value computed as
 * master/handshake.c computes it on the server side.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "client/fail.h"
#include "client/http.h"

/* RFC 6455 1.3: appended to the key before hashing. */
#define HTTP_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Bounds on what we keep of an answer's head (http-parser bounds the
 * whole head at 80 KiB by itself). */
#define HTTP_MAX_HEADERS 100

/* Headers wspool-call sets itself for the upgrade; Host and User-Agent
 * may be replaced with --header. */
static const char *const http_reserved[] = {
	"upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
	"sec-websocket-extensions", "sec-websocket-accept", "content-length",
	"transfer-encoding",
};

struct http_resp {
	http_parser hr_parser;
	char *hr_names[HTTP_MAX_HEADERS];       /* lower-cased */
	char *hr_values[HTTP_MAX_HEADERS];
	size_t hr_nheaders;
	bool hr_last_was_value;
	char hr_reason[128];
	bool hr_skip_body;                      /* an upgrade: no body read */
	char *hr_body;
	size_t hr_body_len;
	size_t hr_body_max;
	bool hr_overflow;                       /* too many headers, body */
	bool hr_nomem;
	bool hr_done;
};

/* ---- requests ----------------------------------------------------------- */

static bool
http_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

int
http_header_check(const char *line)
{
	size_t i, nlen = 0;

	while (http_tchar(line[nlen]))
		nlen++;
	if (nlen == 0 || line[nlen] != ':')
		return fail_set(FAIL_USAGE, "bad --header '%s': want 'Name: "
		    "value'", line);
	if (strpbrk(line + nlen, "\r\n") != NULL)
		return fail_set(FAIL_USAGE, "bad --header '%.*s': the value "
		    "holds a line break", (int)nlen, line);
	for (i = 0; i < sizeof(http_reserved) / sizeof(http_reserved[0]); i++)
		if (strlen(http_reserved[i]) == nlen &&
		    strncasecmp(line, http_reserved[i], nlen) == 0)
			return fail_set(FAIL_USAGE, "--header cannot set %.*s: "
			    "wspool-call sets it for the WebSocket handshake",
			    (int)nlen, line);
	return 0;
}

/* True when the user's headers include one called name. */
static bool
http_has_user_header(const struct http_headers *h, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < h->hh_n; i++)
		if (strncasecmp(h->hh_lines[i], name, len) == 0 &&
		    h->hh_lines[i][len] == ':')
			return true;
	return false;
}

/*
 * A GET for target with the user's headers and extra (already formatted
 * lines), into *out (heap). Returns 0 or -1 after fail_set().
 */
static int
http_request(const struct url *u, const char *target,
    const struct http_headers *h, const char *extra, char **out,
    size_t *len)
{
	FILE *f;
	size_t i;

	*out = NULL;
	if ((f = open_memstream(out, len)) == NULL)
		return fail_set(FAIL_LOCAL, "out of memory");
	fprintf(f, "GET %s HTTP/1.1\r\n", target);
	if (!http_has_user_header(h, "host"))
		fprintf(f, "Host: %s\r\n", u->u_authority);
	if (!http_has_user_header(h, "user-agent"))
		fprintf(f, "User-Agent: wspool-call/%s\r\n", PACKAGE_VERSION);
	fputs(extra, f);
	for (i = 0; i < h->hh_n; i++)
		fprintf(f, "%s\r\n", h->hh_lines[i]);
	fputs("\r\n", f);
	if (ferror(f)) {
		fclose(f);
		free(*out);
		*out = NULL;
		return fail_set(FAIL_LOCAL, "out of memory");
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return fail_set(FAIL_LOCAL, "out of memory");
	}
	return 0;
}

/* ---- answers -------------------------------------------------------------- */

/* Append len bytes to a NUL-terminated heap string; false when out of memory. */
static bool
http_append(char **sp, const char *at, size_t len, bool lower)
{
	size_t old = *sp != NULL ? strlen(*sp) : 0, i;
	char *s;

	if ((s = realloc(*sp, old + len + 1)) == NULL)
		return false;
	for (i = 0; i < len; i++)
		s[old + i] = lower && at[i] >= 'A' && at[i] <= 'Z' ?
		    (char)(at[i] - 'A' + 'a') : at[i];
	s[old + len] = '\0';
	*sp = s;
	return true;
}

static int
http_status_cb(http_parser *p, const char *at, size_t len)
{
	struct http_resp *r = p->data;
	size_t have = strlen(r->hr_reason);

	/* A reason phrase is for people: keep what fits. */
	if (len > sizeof(r->hr_reason) - 1 - have)
		len = sizeof(r->hr_reason) - 1 - have;
	memcpy(r->hr_reason + have, at, len);
	r->hr_reason[have + len] = '\0';
	return 0;
}

static int
http_field_cb(http_parser *p, const char *at, size_t len)
{
	struct http_resp *r = p->data;

	if (r->hr_nheaders == 0 || r->hr_last_was_value) {
		if (r->hr_nheaders == HTTP_MAX_HEADERS) {
			r->hr_overflow = true;
			return -1;
		}
		r->hr_nheaders++;
		r->hr_last_was_value = false;
	}
	if (!http_append(&r->hr_names[r->hr_nheaders - 1], at, len, true)) {
		r->hr_nomem = true;
		return -1;
	}
	return 0;
}

static int
http_value_cb(http_parser *p, const char *at, size_t len)
{
	struct http_resp *r = p->data;

	if (r->hr_nheaders == 0)
		return -1;
	r->hr_last_was_value = true;
	if (!http_append(&r->hr_values[r->hr_nheaders - 1], at, len, false)) {
		r->hr_nomem = true;
		return -1;
	}
	return 0;
}

static int
http_headers_complete_cb(http_parser *p)
{
	struct http_resp *r = p->data;

	/* 1: no body. The upgrade's answer is followed by frames, and a
	 * refusal's body says no more than its status line. */
	return r->hr_skip_body ? 1 : 0;
}

static int
http_body_cb(http_parser *p, const char *at, size_t len)
{
	struct http_resp *r = p->data;
	char *b;

	if (len > r->hr_body_max - r->hr_body_len) {
		r->hr_overflow = true;
		return -1;
	}
	if ((b = realloc(r->hr_body, r->hr_body_len + len + 1)) == NULL) {
		r->hr_nomem = true;
		return -1;
	}
	memcpy(b + r->hr_body_len, at, len);
	r->hr_body_len += len;
	b[r->hr_body_len] = '\0';
	r->hr_body = b;
	return 0;
}

static int
http_message_complete_cb(http_parser *p)
{
	struct http_resp *r = p->data;

	/* Stop here: what follows belongs to the WebSocket, not to us. */
	r->hr_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_status = http_status_cb,
	.on_header_field = http_field_cb,
	.on_header_value = http_value_cb,
	.on_headers_complete = http_headers_complete_cb,
	.on_body = http_body_cb,
	.on_message_complete = http_message_complete_cb,
};

static void
http_resp_init(struct http_resp *r, bool skip_body, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->hr_parser, HTTP_RESPONSE);
	r->hr_parser.data = r;
	r->hr_skip_body = skip_body;
	r->hr_body_max = max_body;
}

static void
http_resp_free(struct http_resp *r)
{
	size_t i;

	for (i = 0; i < r->hr_nheaders; i++) {
		free(r->hr_names[i]);
		free(r->hr_values[i]);
	}
	free(r->hr_body);
	r->hr_body = NULL;
	r->hr_nheaders = 0;
}

/* The value of the first header called name (lower case), or NULL. */
static const char *
http_resp_header(const struct http_resp *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->hr_nheaders; i++)
		if (r->hr_names[i] != NULL && strcmp(r->hr_names[i], name) == 0)
			return r->hr_values[i] != NULL ? r->hr_values[i] : "";
	return NULL;
}

/* True when a comma-separated header value lists token (any case). */
static bool
http_has_token(const char *list, const char *token)
{
	size_t tlen = strlen(token), n;
	const char *end;

	while (list != NULL && *list != '\0') {
		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		for (end = list; *end != '\0' && *end != ','; end++)
			;
		n = (size_t)(end - list);
		while (n > 0 && (list[n - 1] == ' ' || list[n - 1] == '\t'))
			n--;
		if (n == tlen && strncasecmp(list, token, tlen) == 0)
			return true;
		list = end;
	}
	return false;
}

/*
 * Read an answer into r until it is complete. The bytes after it go to
 * *rest (heap) when rest is not NULL. Returns 0, NET_TIMEOUT, NET_SIGNAL,
 * or NET_ERROR with the reason in n->n_error.
 */
static int
http_read(struct net *n, struct http_resp *r, uint64_t deadline,
    unsigned char **rest, size_t *nrest)
{
	char buf[4096];
	size_t used;
	ssize_t got;
	int rv;

	for (;;) {
		got = net_read(n, buf, sizeof(buf));
		if (got == NET_AGAIN) {
			if ((rv = net_wait(n, n->n_rwant, deadline)) != 0)
				return rv;
			continue;
		}
		if (got == NET_ERROR)
			return NET_ERROR;
		/* 0 bytes tell http-parser the stream ended (a body to EOF). */
		used = http_parser_execute(&r->hr_parser, &http_settings, buf,
		    (size_t)got);
		if (r->hr_done)
			break;
		if (r->hr_nomem || r->hr_overflow ||
		    HTTP_PARSER_ERRNO(&r->hr_parser) != HPE_OK || got == 0) {
			snprintf(n->n_error, sizeof(n->n_error), "%s",
			    r->hr_nomem ? "out of memory reading the HTTP answer" :
			    r->hr_overflow ? "the HTTP answer is too large" :
			    got == 0 ? "the server closed the connection before "
			    "its HTTP answer was complete" :
			    http_errno_description(HTTP_PARSER_ERRNO(
			    &r->hr_parser)));
			return NET_ERROR;
		}
	}
	if (rest != NULL) {
		*nrest = (size_t)got - used;
		*rest = NULL;
		if (*nrest > 0) {
			if ((*rest = malloc(*nrest)) == NULL) {
				snprintf(n->n_error, sizeof(n->n_error),
				    "out of memory");
				return NET_ERROR;
			}
			memcpy(*rest, buf + used, *nrest);
		}
	}
	return 0;
}

int
http_get_routes(struct net *n, const struct url *u,
    const struct http_headers *h, size_t max_body, uint64_t deadline,
    char **body, size_t *body_len)
{
	struct http_resp r;
	char *req;
	size_t len;
	int rv;

	*body = NULL;
	*body_len = 0;
	if (http_request(u, "/routes", h, "Accept: application/json\r\n"
	    "Connection: close\r\n", &req, &len) != 0)
		return NET_ERROR;
	http_resp_init(&r, false, max_body);
	rv = net_write_all(n, req, len, deadline);
	free(req);
	if (rv == 0)
		rv = http_read(n, &r, deadline, NULL, NULL);
	if (rv == 0) {
		rv = r.hr_parser.status_code;
		if (rv == 200 && r.hr_body == NULL &&
		    (r.hr_body = calloc(1, 1)) == NULL)
			rv = fail_set(FAIL_LOCAL, "out of memory");
		if (rv == 200) {
			*body = r.hr_body;
			*body_len = r.hr_body_len;
			r.hr_body = NULL;
		}
	}
	http_resp_free(&r);
	return rv;
}

/* base64(SHA-1(key GUID)): 28 characters and a NUL. */
static int
http_accept_value(const char *key, char out[29])
{
	char cat[24 + sizeof(HTTP_WS_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(cat, key, 24);
	memcpy(cat + 24, HTTP_WS_GUID, sizeof(HTTP_WS_GUID) - 1);
	if (EVP_Digest(cat, 24 + sizeof(HTTP_WS_GUID) - 1, md, &mdlen,
	    EVP_sha1(), NULL) != 1 || mdlen != 20 ||
	    EVP_EncodeBlock((unsigned char *)out, md, 20) != 28)
		return -1;
	return 0;
}

/* RFC 6455 4.1, the client's checks of the server's handshake. */
static int
http_check_101(const struct http_resp *r, const struct url *u,
    const struct http_headers *h, const char *accept)
{
	const char *v;
	int status = r->hr_parser.status_code;

	if (status != 101)
		return fail_set(FAIL_HANDSHAKE, "the server refused the "
		    "WebSocket upgrade of %s: HTTP %d %s", u->u_target, status,
		    r->hr_reason);
	if (!http_has_token(http_resp_header(r, "upgrade"), "websocket") ||
	    !http_has_token(http_resp_header(r, "connection"), "upgrade"))
		return fail_set(FAIL_HANDSHAKE, "bad WebSocket handshake: the "
		    "101 lacks Upgrade: websocket or Connection: Upgrade");
	if ((v = http_resp_header(r, "sec-websocket-accept")) == NULL ||
	    strcmp(v, accept) != 0)
		return fail_set(FAIL_HANDSHAKE, "bad WebSocket handshake: "
		    "Sec-WebSocket-Accept is %s%s%s, not %s", v ? "'" : "",
		    v ? v : "missing", v ? "'" : "", accept);
	/* We offer no extension, and a subprotocol only if the user did. */
	if ((v = http_resp_header(r, "sec-websocket-extensions")) != NULL)
		return fail_set(FAIL_HANDSHAKE, "bad WebSocket handshake: the "
		    "server chose extension '%s', which was not offered", v);
	if ((v = http_resp_header(r, "sec-websocket-protocol")) != NULL &&
	    !http_has_user_header(h, "sec-websocket-protocol"))
		return fail_set(FAIL_HANDSHAKE, "bad WebSocket handshake: the "
		    "server chose subprotocol '%s', which was not offered", v);
	return 0;
}

int
http_upgrade(struct net *n, const struct url *u,
    const struct http_headers *h, uint64_t deadline,
    unsigned char **rest, size_t *nrest)
{
	struct http_resp r;
	unsigned char raw[16];
	char key[25], accept[29], extra[256], *req;
	size_t len;
	int rv;

	*rest = NULL;
	*nrest = 0;
	/* RFC 6455 4.1: a nonce, 16 random bytes, base64. */
	if (RAND_bytes(raw, sizeof(raw)) != 1 ||
	    EVP_EncodeBlock((unsigned char *)key, raw, 16) != 24 ||
	    http_accept_value(key, accept) != 0)
		return fail_set(FAIL_LOCAL, "cannot make a WebSocket key");
	snprintf(extra, sizeof(extra), "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n", key);
	if (http_request(u, u->u_target, h, extra, &req, &len) != 0)
		return NET_ERROR;
	http_resp_init(&r, true, 0);
	rv = net_write_all(n, req, len, deadline);
	free(req);
	if (rv == 0)
		rv = http_read(n, &r, deadline, rest, nrest);
	if (rv == NET_ERROR)
		fail_set(FAIL_HANDSHAKE, "WebSocket handshake with %s failed: "
		    "%s", n->n_peer, n->n_error);
	else if (rv == 0 && http_check_101(&r, u, h, accept) != 0)
		rv = NET_ERROR;
	if (rv != 0) {
		free(*rest);
		*rest = NULL;
		*nrest = 0;
	}
	http_resp_free(&r);
	return rv;
}
