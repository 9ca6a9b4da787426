/*
 * handshake.c: the HTTP request that opens a connection, read with
 * http-parser, and the answer to it: a 101 upgrade or a plain HTTP reply.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "master/handshake.h"

/* RFC 6455 section 1.3: appended to the client's key before hashing. */
#define HANDSHAKE_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A valid key is 24 characters; anything much longer is not worth hashing. */
#define HANDSHAKE_MAX_KEY 256

static int handshake_message_begin_cb(http_parser *p);
static int handshake_url_cb(http_parser *p, const char *at, size_t len);
static int handshake_field_cb(http_parser *p, const char *at, size_t len);
static int handshake_value_cb(http_parser *p, const char *at, size_t len);
static int handshake_headers_complete_cb(http_parser *p);
static int handshake_message_complete_cb(http_parser *p);

static const http_parser_settings handshake_settings = {
	.on_message_begin = handshake_message_begin_cb,
	.on_url = handshake_url_cb,
	.on_header_field = handshake_field_cb,
	.on_header_value = handshake_value_cb,
	.on_headers_complete = handshake_headers_complete_cb,
	.on_message_complete = handshake_message_complete_cb,
};

void
handshake_init(struct handshake *hs)
{
	memset(hs, 0, sizeof(*hs));
	http_parser_init(&hs->hs_parser, HTTP_REQUEST);
	hs->hs_parser.data = hs;
	hs->hs_state = HANDSHAKE_MORE;
}

void
handshake_free(struct handshake *hs)
{
	size_t i;

	for (i = 0; i < hs->hs_nheaders; i++) {
		free(hs->hs_names[i]);
		free(hs->hs_values[i]);
	}
	free(hs->hs_url);
	hs->hs_url = NULL;
	hs->hs_nheaders = 0;
}

/*
 * Append len bytes to a NUL-terminated heap string (NULL counts as ""),
 * lower-casing them if asked. Callbacks may deliver one string in many
 * pieces when the request arrives in many reads. Returns 0, -1 when out
 * of memory, -2 for a NUL byte.
 */
static int
handshake_append(char **sp, const char *at, size_t len, bool lower)
{
	size_t old = *sp != NULL ? strlen(*sp) : 0, i;
	char *s;

	/* Our strings end at a NUL, so one inside the request is refused. */
	if (memchr(at, '\0', len) != NULL)
		return -2;
	if ((s = realloc(*sp, old + len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		char c = at[i];
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		s[old + i] = c;
	}
	s[old + len] = '\0';
	*sp = s;
	return 0;
}

static int
handshake_fail(struct handshake *hs, int status)
{
	if (hs->hs_error_status == 0)
		hs->hs_error_status = status;
	return -1;
}

/* handshake_append for a parser callback: a failure stops the parser. */
static int
handshake_append_cb(struct handshake *hs, char **sp, const char *at,
    size_t len, bool lower)
{
	int rv;

	if ((rv = handshake_append(sp, at, len, lower)) != 0)
		return handshake_fail(hs, rv == -2 ? 400 : 503);
	return 0;
}

static int
handshake_message_begin_cb(http_parser *p)
{
	(void)p;
	return 0;
}

static int
handshake_url_cb(http_parser *p, const char *at, size_t len)
{
	struct handshake *hs = p->data;

	return handshake_append_cb(hs, &hs->hs_url, at, len, false);
}

static int
handshake_field_cb(http_parser *p, const char *at, size_t len)
{
	struct handshake *hs = p->data;

	if (hs->hs_nheaders == 0 || hs->hs_last_was_value) {
		/* A new header starts; the previous one is finished. */
		if (hs->hs_nheaders == HANDSHAKE_MAX_HEADERS)
			return handshake_fail(hs, 431);
		hs->hs_names[hs->hs_nheaders] = NULL;
		hs->hs_values[hs->hs_nheaders] = NULL;
		hs->hs_nheaders++;
		hs->hs_last_was_value = false;
	}
	return handshake_append_cb(hs, &hs->hs_names[hs->hs_nheaders - 1], at,
	    len, true);
}

static int
handshake_value_cb(http_parser *p, const char *at, size_t len)
{
	struct handshake *hs = p->data;

	if (hs->hs_nheaders == 0)
		return handshake_fail(hs, 400);
	hs->hs_last_was_value = true;
	return handshake_append_cb(hs, &hs->hs_values[hs->hs_nheaders - 1], at,
	    len, false);
}

static bool
handshake_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
handshake_trim(char *s)
{
	size_t start = 0, end = strlen(s);

	while (start < end && handshake_is_space(s[start]))
		start++;
	while (end > start && handshake_is_space(s[end - 1]))
		end--;
	memmove(s, s + start, end - start);
	s[end - start] = '\0';
}

static int
handshake_headers_complete_cb(http_parser *p)
{
	struct handshake *hs = p->data;
	size_t i;

	/* HTTP/0.9 has no headers to upgrade with; 2.x never looks like this. */
	if (p->http_major != 1)
		return handshake_fail(hs, 400);
	for (i = 0; i < hs->hs_nheaders; i++) {
		/* An empty value may come without any value callback. */
		if (hs->hs_values[i] == NULL &&
		    handshake_append(&hs->hs_values[i], "", 0, false) != 0)
			return handshake_fail(hs, 503);
		if (hs->hs_names[i] == NULL &&
		    handshake_append(&hs->hs_names[i], "", 0, false) != 0)
			return handshake_fail(hs, 503);
		handshake_trim(hs->hs_values[i]);
	}
	if (hs->hs_url == NULL &&
	    handshake_append(&hs->hs_url, "", 0, false) != 0)
		return handshake_fail(hs, 503);
	/*
	 * 1: no body is read. A WebSocket request has none, and any other
	 * request is answered and closed, so a body is never needed; this
	 * also keeps a Content-Length from making us wait for bytes.
	 */
	return 1;
}

static int
handshake_message_complete_cb(http_parser *p)
{
	struct handshake *hs = p->data;

	/*
	 * Stop right after the request: what follows (an eager first frame,
	 * a pipelined request) belongs to the next stage, not to us.
	 */
	hs->hs_state = HANDSHAKE_DONE;
	http_parser_pause(p, 1);
	return 0;
}

size_t
handshake_feed(struct handshake *hs, const char *data, size_t len)
{
	size_t room, n, used;

	if (hs->hs_state != HANDSHAKE_MORE)
		return 0;
	/* Bounds before bytes: never parse past HANDSHAKE_MAX_BYTES. */
	room = HANDSHAKE_MAX_BYTES - hs->hs_bytes;
	n = len < room ? len : room;
	if (n == 0) {
		if (len == 0)
			return 0;
		hs->hs_state = HANDSHAKE_ERROR;
		hs->hs_error_status = 431;
		return 0;
	}
	used = http_parser_execute(&hs->hs_parser, &handshake_settings, data, n);
	hs->hs_bytes += used;
	if (hs->hs_state == HANDSHAKE_DONE)
		return used;
	if (HTTP_PARSER_ERRNO(&hs->hs_parser) != HPE_OK) {
		hs->hs_state = HANDSHAKE_ERROR;
		if (hs->hs_error_status == 0)
			hs->hs_error_status = 400;
		return used;
	}
	if (hs->hs_bytes == HANDSHAKE_MAX_BYTES) {
		/* The whole allowance is spent and the request goes on. */
		hs->hs_state = HANDSHAKE_ERROR;
		hs->hs_error_status = 431;
	}
	return used;
}

const char *
handshake_header(const struct handshake *hs, const char *name)
{
	size_t i;

	for (i = 0; i < hs->hs_nheaders; i++)
		if (hs->hs_names[i] != NULL && strcmp(hs->hs_names[i], name) == 0)
			return hs->hs_values[i] != NULL ? hs->hs_values[i] : "";
	return NULL;
}

const char *
handshake_method(const struct handshake *hs)
{
	return http_method_str((enum http_method)hs->hs_parser.method);
}

const char *
handshake_path(const struct handshake *hs, char *buf, size_t bufsz)
{
	struct http_parser_url u;
	size_t off, len;

	if (hs->hs_url == NULL || bufsz == 0)
		return NULL;
	http_parser_url_init(&u);
	if (http_parser_parse_url(hs->hs_url, strlen(hs->hs_url),
	    hs->hs_parser.method == HTTP_CONNECT, &u) != 0 ||
	    (u.field_set & (1 << UF_PATH)) == 0) {
		/* "*" (OPTIONS *), or an authority: a path nobody serves. */
		buf[0] = '\0';
		return buf;
	}
	off = u.field_data[UF_PATH].off;
	len = u.field_data[UF_PATH].len;
	if (len >= bufsz)
		return NULL;
	memcpy(buf, hs->hs_url + off, len);
	buf[len] = '\0';
	return buf;
}

/*
 * True when the comma-separated list in any header called name holds
 * token (case-insensitive), as Connection and Upgrade are.
 */
static bool
handshake_has_token(const struct handshake *hs, const char *name,
    const char *token)
{
	size_t i, tlen = strlen(token);

	for (i = 0; i < hs->hs_nheaders; i++) {
		const char *s = hs->hs_values[i];

		if (hs->hs_names[i] == NULL || s == NULL ||
		    strcmp(hs->hs_names[i], name) != 0)
			continue;
		while (*s != '\0') {
			const char *end;
			size_t n;

			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			end = s;
			while (*end != '\0' && *end != ',')
				end++;
			n = (size_t)(end - s);
			while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
				n--;
			if (n == tlen && strncasecmp(s, token, tlen) == 0)
				return true;
			s = end;
		}
	}
	return false;
}

static bool
handshake_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* The key must be the canonical base64 of exactly 16 bytes (4.2.1). */
static bool
handshake_key_valid(const char *key)
{
	size_t i;

	if (key == NULL || strlen(key) != 24)
		return false;
	for (i = 0; i < 22; i++)
		if (!handshake_b64_char(key[i]))
			return false;
	/* 16 bytes leave 4 unused low bits in the last character. */
	if (strchr("AQgw", key[21]) == NULL)
		return false;
	return key[22] == '=' && key[23] == '=';
}

int
handshake_decide(const struct handshake *hs, const char *ws_path)
{
	char path[1024];
	const char *version;

	if (handshake_path(hs, path, sizeof(path)) == NULL ||
	    strcmp(path, ws_path) != 0)
		return 404;
	if (!handshake_has_token(hs, "upgrade", "websocket"))
		return 426;
	if (hs->hs_parser.method != HTTP_GET)
		return 405;
	if (!handshake_has_token(hs, "connection", "upgrade"))
		return 400;
	if (hs->hs_parser.http_major < 1 ||
	    (hs->hs_parser.http_major == 1 && hs->hs_parser.http_minor < 1))
		return 400;
	version = handshake_header(hs, "sec-websocket-version");
	if (version == NULL || strcmp(version, "13") != 0)
		return 426;
	if (!handshake_key_valid(handshake_header(hs, "sec-websocket-key")))
		return 400;
	return 101;
}

int
handshake_accept_key(const char *client_key, char out[29])
{
	char buf[HANDSHAKE_MAX_KEY + sizeof(HANDSHAKE_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t klen;

	if (client_key == NULL || (klen = strlen(client_key)) > HANDSHAKE_MAX_KEY)
		return -1;
	memcpy(buf, client_key, klen);
	memcpy(buf + klen, HANDSHAKE_GUID, sizeof(HANDSHAKE_GUID) - 1);
	if (EVP_Digest(buf, klen + sizeof(HANDSHAKE_GUID) - 1, md, &mdlen,
	    EVP_sha1(), NULL) != 1 || mdlen != 20)
		return -1;
	/* 20 bytes encode to 28 characters, and EncodeBlock adds the NUL. */
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) != 28)
		return -1;
	return 0;
}

static const char *
handshake_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* snprintf into buf, turning truncation and errors into -1. */
static int
handshake_format(char *buf, size_t bufsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
handshake_format(char *buf, size_t bufsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, bufsz, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= bufsz)
		return -1;
	return n;
}

int
handshake_response(const struct handshake *hs, int status, char *buf,
    size_t bufsz)
{
	char accept[29], body[64];
	int blen;
	bool head = hs != NULL && hs->hs_state == HANDSHAKE_DONE &&
	    hs->hs_parser.method == HTTP_HEAD;

	if (status == 101) {
		if (hs == NULL || handshake_accept_key(
		    handshake_header(hs, "sec-websocket-key"), accept) != 0)
			return -1;
		/* No Sec-WebSocket-Protocol: we never pick a subprotocol. */
		return handshake_format(buf, bufsz,
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "%s"
		    "\r\n", accept,
		    hs->hs_extensions != NULL ? hs->hs_extensions : "");
	}
	if (status < 200 || status > 599)
		return -1;
	blen = snprintf(body, sizeof(body), "%d %s\n", status,
	    handshake_reason(status));
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	if (status == 426) {
		/*
		 * RFC 7230 6.7: a 426 names the protocol in Upgrade, and
		 * whoever sends Upgrade lists "upgrade" in Connection.
		 */
		return handshake_format(buf, bufsz,
		    "HTTP/1.1 426 Upgrade Required\r\n"
		    "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "Content-Type: text/plain\r\n"
		    "Content-Length: %d\r\n"
		    "Connection: Upgrade, close\r\n"
		    "\r\n%s", blen, head ? "" : body);
	}
	return handshake_format(buf, bufsz,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %d\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n%s", status, handshake_reason(status), blen,
	    status == 405 ? "Allow: GET\r\n" : "", head ? "" : body);
}

int
handshake_plain_response(int status, const char *content_type,
    const char *body, size_t body_len, char *buf, size_t bufsz)
{
	int n;

	if (status < 200 || status > 599 || content_type == NULL ||
	    (body == NULL && body_len > 0))
		return -1;
	n = handshake_format(buf, bufsz,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "\r\n", status, handshake_reason(status), content_type, body_len);
	if (n < 0 || body_len >= bufsz - (size_t)n)
		return -1;
	if (body_len > 0)
		memcpy(buf + n, body, body_len);
	buf[(size_t)n + body_len] = '\0';
	return (int)((size_t)n + body_len);
}
