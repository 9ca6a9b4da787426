/*
 * crash.c: the worker's side of the crash page: the calls it has started
 * and, from a fatal signal's handler, the call that killed it. The design
 * notes are in proto/crashpage.h.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "proto/crashpage.h"
#include "worker/crash.h"

/* Enough for the handler (a few stores and two system calls), with room
 * for sanitizer runtimes that run on it too. */
#define CRASH_ALTSTACK_SIZE (64u * 1024)

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };

static struct crashpage *crash_page;
static uint64_t crash_received;          /* receiver thread only */

/* The call this thread runs: read by the signal handler, so in the
 * initial TLS block (no lazy allocation on first access). */
static __thread uint64_t crash_current
    __attribute__((tls_model("initial-exec")));
static __thread bool crash_has_altstack
    __attribute__((tls_model("initial-exec")));

/* Async-signal-safe: atomic stores, sigaction, raise. */
static void
crash_signal_cb(int sig, siginfo_t *si, void *uc)
{
	struct crashpage *p = crash_page;
	struct sigaction dfl;
	int32_t unclaimed = 0;

	(void)si;
	(void)uc;
	if (p != NULL && atomic_compare_exchange_strong(&p->cp_claim,
	    &unclaimed, 1)) {
		atomic_store(&p->cp_culprit, crash_current);
		atomic_store(&p->cp_signal, sig);
	}
	/* Die by the same signal: it is blocked while we run, so the raise
	 * is delivered, with the default action, as soon as we return (a
	 * fault would also recur on return). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

int
crash_init(int fd)
{
	struct sigaction sa;
	void *m;

	if (fd < 0)
		return 0;
	m = mmap(NULL, CRASHPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	close(fd);
	if (m == MAP_FAILED) {
		log_error("--crash-fd: cannot map the crash page: %s",
		    strerror(errno));
		return -1;
	}
	crash_page = m;
	if (crash_page->cp_magic != CRASHPAGE_MAGIC) {
		log_error("--crash-fd: not a crash page");
		munmap(m, CRASHPAGE_SIZE);
		crash_page = NULL;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_signal_cb;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]);
	    i++)
		if (sigaction(crash_signals[i], &sa, NULL) != 0)
			log_warn("cannot catch signal %d: %s", crash_signals[i],
			    strerror(errno));
	return 0;
}

uint64_t
crash_next_seq(void)
{
	return ++crash_received;
}

/* Publish seq as started: the page only moves forward. */
static void
crash_started(uint64_t seq)
{
	uint64_t cur;

	if (crash_page == NULL)
		return;
	cur = atomic_load(&crash_page->cp_started);
	while (cur < seq && !atomic_compare_exchange_weak(
	    &crash_page->cp_started, &cur, seq))
		;
}

/* This thread's alternate signal stack, so that a stack overflow can
 * still be caught. mmap, not malloc: it lives as long as the thread and
 * no leak checker should see it. */
static void
crash_altstack(void)
{
	stack_t ss;
	void *m;

	crash_has_altstack = true;
	m = mmap(NULL, CRASH_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = m;
	ss.ss_size = CRASH_ALTSTACK_SIZE;
	if (sigaltstack(&ss, NULL) != 0)
		munmap(m, CRASH_ALTSTACK_SIZE);
}

void
crash_enter(uint64_t call_id, uint64_t seq)
{
	if (crash_page != NULL && !crash_has_altstack)
		crash_altstack();
	crash_started(seq);
	crash_current = call_id;
}

void
crash_leave(void)
{
	crash_current = 0;
}

void
crash_skip(uint64_t seq)
{
	crash_started(seq);
}
