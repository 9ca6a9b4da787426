/*
 * http.c: the master's own HTTP answers: health for load balancers,
 * metrics for Prometheus, and the errors that end a request that is not
 * an acceptable WebSocket upgrade.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <msgpack.h>

#include "common/log.h"
#include "json/write.h"
#include "master/handshake.h"
#include "master/http.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/routes.h"
#include "master/sched.h"

void
http_error(const struct handshake *hs, int status, struct json_buf *out)
{
	char buf[1024];
	int n = -1;

	if (hs != NULL)
		n = handshake_response(hs, status, buf, sizeof(buf));
	if (n < 0)
		n = handshake_plain_response(status, "text/plain", "", 0, buf,
		    sizeof(buf));
	if (n > 0)
		(void)json_put_raw(out, buf, (size_t)n);
}

/* /healthz: ready when at least one worker is and no shutdown has begun. */
static int
http_healthz(struct json_buf *out)
{
	bool ok = sched_nready() > 0 && !srv.stopping;
	char buf[256];
	int n;

	n = handshake_plain_response(ok ? 200 : 503, "text/plain",
	    ok ? "ok\n" : "no worker ready\n", ok ? 3 : 16, buf, sizeof(buf));
	if (n > 0)
		(void)json_put_raw(out, buf, (size_t)n);
	return ok ? 200 : 503;
}

static int
http_metrics(struct json_buf *out)
{
	msgpack_sbuffer body;
	char head[256];
	int n;

	msgpack_sbuffer_init(&body);
	metrics_render(&body);
	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", body.size);
	if (n > 0 && (size_t)n < sizeof(head) &&
	    json_put_raw(out, head, (size_t)n) == 0)
		(void)json_put_raw(out, body.data, body.size);
	msgpack_sbuffer_destroy(&body);
	return 200;
}

/* /routes: the route manifest (wspool-call reads it); 503 until a worker
 * has told the table. */
static int
http_routes(struct json_buf *out)
{
	const char *why = NULL;
	struct json_buf body = JSON_BUF_INIT;
	char buf[256];
	int n, status = 200;

	if (!routes_known())
		why = "no worker has told the routes yet\n";
	else if (routes_manifest(&body, srv.cfg.call_timeout_ms) != 0)
		why = "out of memory\n";
	if (why != NULL) {
		status = 503;
		n = handshake_plain_response(status, "text/plain", why,
		    strlen(why), buf, sizeof(buf));
		if (n > 0)
			(void)json_put_raw(out, buf, (size_t)n);
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\nCache-Control: no-store\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", body.jb_len);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    json_put_raw(out, buf, (size_t)n) == 0)
		(void)json_put_raw(out, body.jb_data, body.jb_len);
out:
	json_buf_free(&body);
	return status;
}

/* Browsers send Origin; with an allow-list, only listed origins may upgrade. */
static bool
http_origin_allowed(const char *origin)
{
	if (srv.cfg.nallow_origin == 0 || origin == NULL)
		return true;
	for (size_t i = 0; i < srv.cfg.nallow_origin; i++)
		if (strcmp(origin, srv.cfg.allow_origin[i]) == 0)
			return true;
	log_info("upgrade refused: origin %s not allowed", origin);
	return false;
}

int
http_request(const struct handshake *hs, struct json_buf *out)
{
	char path[256];
	bool plain = handshake_header(hs, "upgrade") == NULL;
	int status;

	handshake_path(hs, path, sizeof(path));
	if (plain && strcmp(path, "/healthz") == 0)
		return http_healthz(out);
	if (plain && strcmp(path, "/metrics") == 0)
		return http_metrics(out);
	if (plain && strcmp(path, "/routes") == 0)
		return http_routes(out);
	status = handshake_decide(hs, srv.cfg.ws_path);
	if (status == 101 && !http_origin_allowed(handshake_header(hs, "origin")))
		status = 403;
	if (status != 101)
		http_error(hs, status, out);
	return status;
}

bool
http_is_admin(const struct handshake *hs)
{
	char path[256];

	handshake_path(hs, path, sizeof(path));
	return handshake_header(hs, "upgrade") == NULL &&
	    (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0);
}

void
http_refuse_busy(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 21\r\n"
	    "Connection: close\r\n\r\ntoo many connections\n";

	(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}
