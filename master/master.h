/*
 * master.h: the master's settings and global server state. One libevent
 * loop owns everything here; nothing is touched from another thread
 * except through link.c's notification pipe.
 */
#ifndef MASTER_MASTER_H
#define MASTER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define MASTER_MAX_WORKER_LISTEN 8
#define MASTER_MAX_ORIGINS 32
/* --journal for an installed server (the demo command passes its own). */
#define MASTER_JOURNAL_DEFAULT LOCALSTATEDIR "/lib/wspool/journal"
#define MASTER_NODE_NAME_MAX 64

/* Effective settings: defaults in options.c, then the command line. */
struct settings {
	char *listen_host;
	int listen_port;
	int workers;               /* local workers to keep running */
	char *worker_listen[MASTER_MAX_WORKER_LISTEN]; /* extra join addresses */
	size_t nworker_listen;
	char *worker_tls_cert;     /* PEM files for tls+tcp:// worker links */
	char *worker_tls_key;
	char *worker_tls_ca;       /* the CA that signs the workers' certificates */
	bool insecure_worker_listen; /* plain tcp:// beyond loopback */
	uint64_t worker_timeout_ms; /* a silent worker is lost after this */
	char *tls_cert;            /* wss://: the certificate chain (PEM), or NULL */
	char *tls_key;             /* and its key */
	bool compression;          /* accept permessage-deflate */
	char *ws_path;
	size_t max_message;        /* bytes of one client message (close 1009) */
	unsigned max_inflight;     /* calls in flight per connection (429) */
	char *module_path;
	char *worker_path;
	uint64_t call_timeout_ms;  /* requests and notifications; 0: none */
	uint64_t grace_ms;         /* shutdown: calls in flight may finish */
	uint64_t queue_timeout_ms; /* a call may wait this long for a worker (503) */
	unsigned queue_max;        /* calls waiting for a worker, at most */
	unsigned worker_max_inflight; /* calls in flight on one worker, at most */
	uint64_t max_calls_per_worker; /* recycle a worker after this many; 0: never */
	unsigned max_connections;  /* open client connections, at most */
	unsigned handshake_timeout_s; /* the upgrade request must arrive within */
	unsigned idle_timeout_s;   /* close a WebSocket idle this long; 0: never */
	unsigned ping_interval_s;  /* keep-alive ping after this much silence; 0: none */
	unsigned pong_timeout_s;   /* close if the peer stays silent after a ping */
	size_t max_client_backlog; /* a connection's budget of unsent bytes: past
	                              it, it is not read from and its
	                              subscriptions get no credit */
	unsigned send_timeout_s;   /* close (1008) a connection over its budget
	                              this long; 0: never */
	size_t stream_window;      /* a subscription's chunks in flight, at most
	                              (>= PROTO_CREDIT_WINDOW) */
	char *allow_origin[MASTER_MAX_ORIGINS]; /* empty: any Origin */
	char *user;                /* run as this user after binding */
	bool core_dumps;           /* leave core dumps on */
	bool check_only;           /* --check: validate and exit */
	char *emit_routes;         /* --emit-routes: "ts" or "json", or NULL */
	char *config_path;
	size_t nallow_origin;
	size_t worker_memory;      /* memory limit of each worker, 0: none */
	char *journal_path;        /* the durable journal, or "none" */
	char *node_name;           /* in cleanup keys: "<node>:<call>.<index>" */
	bool adopt;                /* --adopt: run the node's pending cleanups
	                              (node_name's, a dead master's), then exit */
	char *adopt_name;          /* while parsing */
	unsigned worker_threads;
	unsigned worker_max_threads; /* --max-threads of local workers */
	unsigned worker_max_waiting; /* --max-waiting of local workers */
	size_t worker_stack;       /* --stack of local workers' handler threads
	                              (0: the worker's default) */
	uint64_t deadline_grace_ms; /* a call cancelled at its deadline may run
	                              this long before its worker is killed */
	int log_level;
};

struct server {
	struct event_base *base;
	struct settings cfg;
	char rundir[256];          /* private dir for ipc:// sockets */
	bool stopping;             /* SIGTERM: no new connections or calls */
	bool exiting;              /* last phase: workers are being stopped */
};

extern struct server srv;

/* options.c */
int options_parse(struct settings *cfg, int argc, char **argv);
void options_free(struct settings *cfg);

#endif /* MASTER_MASTER_H */
