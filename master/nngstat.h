/*
 * nngstat.h: nng's own counters of what it dropped at the worker
 * addresses, as /metrics counters. A leaf: metrics and nng only.
 */
#ifndef MASTER_NNGSTAT_H
#define MASTER_NNGSTAT_H

#include <nng/nng.h>

/* Register the counters (wspool_worker_tls_refused_total,
 * wspool_worker_pipes_dropped_total, wspool_worker_frames_malformed_total). */
void nngstat_init(void);
/* A socket (and its listener, or an unset one) is about to close: keep
 * what nng counted on it. */
void nngstat_keep(nng_socket sock, nng_listener lst);

#endif /* MASTER_NNGSTAT_H */
