/*
 * crashpage.h: the page a local worker shares with its master (a memfd the
 * master creates before the exec, passed as --crash-fd), so that after the
 * worker's death the master knows which call killed it and which calls it
 * had started.
 *
 * Design notes: the crash page.
 * - The worker counts the CALLs it receives (1, 2, ...: the master counts
 *   the CALLs it sends to that worker the same way, over one ordered
 *   pipe) and stores in cp_started, before a call's handler runs, the
 *   number of the latest call a thread has taken. The pool is FIFO, so a
 *   call numbered n <= cp_started may have run; one above never has.
 * - A fatal signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL) is caught on
 *   an alternate stack; the handler stores the call id its thread was
 *   running (0: none) and the signal, first one wins, then dies by the same
 *   signal. Only stores to this page: async-signal-safe.
 * - The master trusts the page only when the worker died by the signal the
 *   page names (waitpid), and only for a call that is on that worker.
 * - Lock-free 64-bit atomics on a MAP_SHARED page work across processes.
 *   Bump PROTO_VERSION when this layout changes.
 */
#ifndef PROTO_CRASHPAGE_H
#define PROTO_CRASHPAGE_H

#include <stdatomic.h>
#include <stdint.h>

#define CRASHPAGE_MAGIC 0x77737063u /* "wspc" */
#define CRASHPAGE_SIZE 4096

struct crashpage {
	uint32_t cp_magic;               /* written by the master */
	uint32_t cp_pad;
	_Atomic uint64_t cp_started;     /* worker: latest call number started */
	_Atomic uint64_t cp_culprit;     /* worker: the faulting thread's call id */
	_Atomic int32_t cp_signal;       /* worker: the fatal signal caught, 0: none;
	                                    set after cp_culprit */
	_Atomic int32_t cp_claim;        /* worker: the first fatal signal claims it */
};

#endif /* PROTO_CRASHPAGE_H */
