/*
 * fail.h: wspool-call's exit statuses and the one place a run records why
 * it failed. A leaf: every other part of the client reports through it.
 */
#ifndef CLIENT_FAIL_H
#define CLIENT_FAIL_H

/*
 * The exit statuses, as wspool-call(1) documents them. Keep the two in
 * step: scripts branch on these numbers.
 */
enum fail_status {
	FAIL_NONE = 0,          /* the call succeeded */
	FAIL_ANSWER = 1,        /* the server answered with an error */
	FAIL_USAGE = 2,         /* bad option, URL, header or PARAM */
	FAIL_CONNECT = 3,       /* name not resolved, connection refused... */
	FAIL_TLS = 4,           /* TLS handshake or certificate check failed */
	FAIL_HANDSHAKE = 5,     /* the WebSocket upgrade was refused */
	FAIL_PROTOCOL = 6,      /* the connection failed after the upgrade */
	FAIL_LOCAL = 70,        /* out of memory, stdout not writable */
	FAIL_TIMEOUT = 124,     /* --timeout passed (as timeout(1)) */
	FAIL_SIGINT = 130,      /* interrupted: 128 + SIGINT */
	FAIL_SIGPIPE = 141,     /* stdout is a closed pipe: 128 + SIGPIPE */
	FAIL_SIGTERM = 143,     /* terminated: 128 + SIGTERM */
};

/*
 * Record a failure: the first one of a run wins (a later one is usually a
 * consequence of it). The message is printed once, by fail_report(), as
 * "wspool-call: message"; an empty message prints nothing. Returns -1, so
 * that a failing function can `return fail_set(...)`.
 */
int fail_set(enum fail_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The recorded status (FAIL_NONE when nothing failed). */
enum fail_status fail_status(void);

/* Print the recorded message, if any, on stderr; return the status. */
int fail_report(void);

#endif /* CLIENT_FAIL_H */
