/*
 * handshake.h: the HTTP side of a connection, before it is a WebSocket.
 * Parses the request with http-parser (no hand-rolled HTTP parsing),
 * decides between a 101 upgrade (RFC 6455 section 4.2) and a plain HTTP
 * answer, and builds the response bytes.
 */
#ifndef MASTER_HANDSHAKE_H
#define MASTER_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#define HANDSHAKE_MAX_BYTES (16 * 1024) /* request line + headers */
#define HANDSHAKE_MAX_HEADERS 64

enum handshake_state {
	HANDSHAKE_MORE = 0,   /* need more bytes */
	HANDSHAKE_DONE,       /* a whole request has been read */
	HANDSHAKE_ERROR,      /* malformed or too large: answer 400 (or 431) and close */
};

struct handshake {
	http_parser hs_parser;
	enum handshake_state hs_state;
	int hs_error_status;        /* 400 or 431 when hs_state is ERROR */
	size_t hs_bytes;            /* bytes consumed so far */
	char *hs_url;               /* request target, NUL-terminated */
	size_t hs_nheaders;
	char *hs_names[HANDSHAKE_MAX_HEADERS];  /* lower-cased, NUL-terminated */
	char *hs_values[HANDSHAKE_MAX_HEADERS]; /* trimmed, NUL-terminated */
	bool hs_last_was_value;     /* parser state for split callbacks */
	const char *hs_extensions;  /* a header line for the 101 (not owned), or NULL */
};

void handshake_init(struct handshake *hs);
void handshake_free(struct handshake *hs);

/*
 * Feed bytes from the socket. Returns the number of bytes consumed (bytes
 * after the request, e.g. an early WebSocket frame, are left unconsumed
 * once the state is HANDSHAKE_DONE).
 */
size_t handshake_feed(struct handshake *hs, const char *data, size_t len);

/* The value of a header by lower-case name, or NULL. */
const char *handshake_header(const struct handshake *hs, const char *name);

/* The request method as text ("GET"), valid after DONE. */
const char *handshake_method(const struct handshake *hs);
/* The path of the request target (no query), in buf. */
const char *handshake_path(const struct handshake *hs, char *buf, size_t bufsz);

/*
 * Decide what to answer a completed request when ws_path is the WebSocket
 * endpoint. Returns the HTTP status: 101 (a valid upgrade to ws_path), 426
 * (a non-upgrade GET of ws_path, or an unsupported Sec-WebSocket-Version),
 * 404 (another path), 405 (an upgrade with a method other than GET), 400
 * (a bad upgrade: missing or malformed key, missing Connection: upgrade).
 * No subprotocol is ever selected.
 */
int handshake_decide(const struct handshake *hs, const char *ws_path);

/*
 * Compute Sec-WebSocket-Accept for a client key (SHA-1 and base64 from
 * OpenSSL's libcrypto). out must hold 29 bytes; returns 0 or -1.
 */
int handshake_accept_key(const char *client_key, char out[29]);

/*
 * Write the response for status into buf (NUL-terminated): for 101 the
 * upgrade response with Sec-WebSocket-Accept (and hs_extensions); for the others a short plain
 * text answer with Connection: close (426 adds Upgrade: websocket and
 * Sec-WebSocket-Version: 13). Returns the length, or -1 if buf is small.
 */
int handshake_response(const struct handshake *hs, int status, char *buf,
    size_t bufsz);

/*
 * A plain HTTP response with a body, for endpoints served by the master
 * itself (health, metrics). Returns the length or -1.
 */
int handshake_plain_response(int status, const char *content_type,
    const char *body, size_t body_len, char *buf, size_t bufsz);

#endif /* MASTER_HANDSHAKE_H */
