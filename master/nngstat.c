/*
 * nngstat.c: what nng itself dropped at the worker addresses (refused TLS
 * handshakes, pipes dropped or refused, malformed frames), read from nng's
 * statistics only when /metrics is rendered, plus what closed sockets had
 * counted.
 */
#include "config.h"

#include <string.h>

#include <nng/nng.h>

#include "common/clock.h"
#include "master/metrics.h"
#include "master/nngstat.h"

#define NNGSTAT_MAX_AGE_MS 500      /* one snapshot per /metrics */

struct nngstat_sum {
	uint64_t ln_auth;      /* TLS handshakes refused */
	uint64_t ln_dropped;   /* pipes nng dropped or refused */
	uint64_t ln_malformed; /* frames nng dropped as malformed */
};

static struct {
	struct nngstat_sum closed;     /* of sockets closed */
	struct nngstat_sum seen;       /* everything, at seen_ms */
	uint64_t seen_ms;
} nngstat;


static uint64_t
nngstat_value(nng_stat *scope, const char *name)
{
	nng_stat *st;

	return scope != NULL && (st = nng_stat_find(scope, name)) != NULL ?
	    nng_stat_value(st) : 0;
}

/* Add what nng dropped in a listener's and a socket's scope to *n. */
static void
nngstat_add(struct nngstat_sum *n, nng_stat *lst, nng_stat *sock)
{
	n->ln_auth += nngstat_value(lst, "auth");
	n->ln_dropped += nngstat_value(lst, "other") + nngstat_value(lst, "proto") +
	    nngstat_value(sock, "reject") + nngstat_value(sock, "already") +
	    nngstat_value(sock, "mismatch");
	n->ln_malformed += nngstat_value(sock, "rx_malformed");
}

/* Sum every listener and socket of the process (the registry's and each
 * worker's) and those already closed; at most once per /metrics. */
static const struct nngstat_sum *
nngstat_now(void)
{
	nng_stat *root, *sc;
	uint64_t now = clock_now_ms();

	if (nngstat.seen_ms != 0 && now - nngstat.seen_ms < NNGSTAT_MAX_AGE_MS)
		return &nngstat.seen;
	nngstat.seen = nngstat.closed;
	nngstat.seen_ms = now;
	if (nng_stats_get(&root) != 0)
		return &nngstat.seen;
	for (sc = nng_stat_child(root); sc != NULL; sc = nng_stat_next(sc)) {
		if (strcmp(nng_stat_name(sc), "listener") == 0)
			nngstat_add(&nngstat.seen, sc, NULL);
		else if (strcmp(nng_stat_name(sc), "socket") == 0)
			nngstat_add(&nngstat.seen, NULL, sc);
	}
	nng_stats_free(root);
	return &nngstat.seen;
}

static uint64_t
nngstat_tls_refused_cb(void)
{
	return nngstat_now()->ln_auth;
}

static uint64_t
nngstat_dropped_cb(void)
{
	return nngstat_now()->ln_dropped;
}

static uint64_t
nngstat_malformed_cb(void)
{
	return nngstat_now()->ln_malformed;
}

void
nngstat_keep(nng_socket sock, nng_listener lst)
{
	nng_stat *root;

	if (nng_stats_get(&root) != 0)
		return;
	nngstat_add(&nngstat.closed, nng_listener_id(lst) > 0 ?
	    nng_stat_find_listener(root, lst) : NULL,
	    nng_stat_find_socket(root, sock));
	nng_stats_free(root);
}

void
nngstat_init(void)
{
	metrics_counter_cb("wspool_worker_tls_refused_total",
	    "TLS handshakes refused at worker addresses (no certificate from "
	    "the CA).", nngstat_tls_refused_cb);
	metrics_counter_cb("wspool_worker_pipes_dropped_total",
	    "Worker connections nng dropped or refused (bad or oversized "
	    "frames, wrong protocol, a second peer).", nngstat_dropped_cb);
	metrics_counter_cb("wspool_worker_frames_malformed_total",
	    "Frames from workers nng dropped as malformed.",
	    nngstat_malformed_cb);
}

