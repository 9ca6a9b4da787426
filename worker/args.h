/*
 * args.h: the wspool-worker command line. A leaf.
 */
#ifndef WORKER_ARGS_H
#define WORKER_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Handler threads' stacks: small, so that a worker holds a thousand
 * waiting handlers within its memory limit (docs/architecture.md);
 * sanitizers need deeper ones. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ARGS_STACK_DEFAULT (512u * 1024)
#else
#define ARGS_STACK_DEFAULT (256u * 1024)
#endif

#define ARGS_MAX_CONNECT 16

struct args {
	const char *ar_address;     /* the master's registry (the first --connect) */
	const char *ar_connect[ARGS_MAX_CONNECT]; /* every --connect, in order */
	unsigned ar_nconnect;
	const char *ar_tls_cert;    /* PEM files for tls+tcp:// */
	const char *ar_tls_key;
	const char *ar_tls_ca;
	const char *ar_tls_server_name; /* checked against the master's cert */
	bool ar_no_reconnect;       /* exit when the link is lost (ipc: default) */
	bool ar_digest;             /* --digest: print the module's digest, exit */
	const char *ar_module;      /* MODULE.so */
	unsigned ar_threads;
	unsigned ar_max_threads;
	unsigned ar_max_waiting;    /* calls taken beyond the threads (READY) */
	uint64_t ar_stack;          /* each handler thread's stack, bytes */
	uint64_t ar_memory;         /* 0: no limit */
	int ar_crash_fd;            /* --crash-fd: the master's crash page, -1 */
	bool ar_runner;             /* --runner: hand-overs only, no calls */
	bool ar_check;              /* --check: load the module, exit */
	const char *ar_emit;        /* --emit-routes: "ts" or "json", or NULL */
};

/*
 * Fill *a from argv. Returns 0 to run, 1 when done (--help, --version
 * printed), 2 on bad usage (already explained on stderr).
 */
int args_parse(int argc, char **argv, struct args *a);

#endif /* WORKER_ARGS_H */
