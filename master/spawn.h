/*
 * spawn.h: starting local worker processes: finding the programs, the
 * command line, the crash page each one shares with the master, its
 * memory limit, and --check.
 */
#ifndef MASTER_SPAWN_H
#define MASTER_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct crashpage;

/* Find wspool-worker and the module. Returns 0 or -1 (logged). */
int spawn_find_programs(void);
const char *spawn_module_path(void);
const char *spawn_worker_path(void);
/* Forget them. */
void spawn_fini(void);
/* --check: run wspool-worker --check on the module. Returns 0 or -1. */
int spawn_check(void);
/* --emit-routes: have the worker program write the module's routes in
 * format ("ts" or "json") to our stdout (wspool-worker --emit-routes).
 * Returns 0 or -1 (the worker said why on stderr). */
int spawn_emit(const char *format);

/* The module's digest (hex SHA-256 of its ABI, routes and cleanups), from
 * wspool-worker --digest, after spawn_find_programs. Returns 0 or -1
 * (logged). */
#define SPAWN_DIGEST_LEN 64
int spawn_digest(char out[SPAWN_DIGEST_LEN + 1]);

/*
 * Fork and exec worker number n (a cleanup runner when runner is set): in
 * its own process group, dying with the master (PR_SET_PDEATHSIG), with a
 * fresh crash page (*page, mapped here: spawn_unmap it once reaped) and
 * its memory limit. Returns its pid, or -1 (logged).
 */
pid_t spawn_start(unsigned n, bool runner, struct crashpage **page);
void spawn_unmap(struct crashpage *page);

#endif /* MASTER_SPAWN_H */
