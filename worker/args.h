/*
 * args.h: the wspool-worker command line. A leaf.
 */
#ifndef WORKER_ARGS_H
#define WORKER_ARGS_H

#include <stdbool.h>
#include <stdint.h>

struct args {
	const char *ar_address;     /* the master's registry */
	const char *ar_module;      /* MODULE.so */
	unsigned ar_threads;
	unsigned ar_max_threads;
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
