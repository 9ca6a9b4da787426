/*
 * memlimit.h: each local worker's memory limit (--worker-memory): a cgroup
 * v2 memory.max of its own when the master runs in a delegated cgroup v2
 * with the memory controller (detected, never assumed), RLIMIT_DATA set
 * by the worker itself otherwise.
 *
 * Design notes (the cgroup v2 sequence, measured in docs/architecture.md):
 * - Detected at start: /sys/fs/cgroup is cgroup2, our cgroup (the "0::"
 *   line of /proc/self/cgroup) lists "memory" in cgroup.controllers, and
 *   we can write there. Else: the rlimit, logged.
 * - "No internal processes": the master first moves every process of its
 *   cgroup into a leaf, CG/master; then "+memory" in CG's
 *   cgroup.subtree_control.
 * - Per worker: CG/worker-N with memory.max, memory.swap.max = 0 (swap
 *   would be used before the limit kills) and memory.oom.group = 1. The
 *   child moves itself in (writes "0" to cgroup.procs) before the exec,
 *   so it never runs unlimited. Over the limit the kernel kills it
 *   (SIGKILL); memory.events' oom_kill tells the master it was the limit.
 *   The cgroup is removed once the worker is reaped.
 */
#ifndef MASTER_MEMLIMIT_H
#define MASTER_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Decide how limits are set (bytes 0: no limit). Logs the choice. */
void memlimit_init(size_t bytes);
/* Whether workers get a cgroup (else --memory for RLIMIT_DATA). */
bool memlimit_cgroups(void);

/*
 * Before the fork of worker n: create its cgroup (cgroups only). Returns
 * the path of its cgroup.procs for memlimit_enter (static storage, until
 * the next call), or NULL (no cgroup: the worker limits itself).
 */
const char *memlimit_prepare(unsigned n);
/* In the child, before exec: move into that cgroup. Async-signal-safe.
 * Returns 0 or -1. */
int memlimit_enter(const char *procs);
/* After the reap of worker n: whether the limit killed it; remove its
 * cgroup. */
bool memlimit_reaped(unsigned n);

#endif /* MASTER_MEMLIMIT_H */
