/*
 * nngclose.h: nng_close off the caller's thread, for callers that must not
 * block forever (an event loop, a process on its way out).
 *
 * nng 1.5.2 can wait forever in nng_close: a tls+tcp:// (or tcp://, ipc://)
 * pipe closed by us while one of its messages is half read is never
 * reaped. The transport's receive callback re-arms its stream read after
 * the close has stopped that aio; nni_aio_begin then refuses it without
 * completing it, the protocol's receive stays pending, and nng's single
 * reaper thread waits for it in pair1_pipe_stop. Fixed upstream in nng
 * 1.8 (nanomsg/nng#1813, #1824); Debian 12 ships 1.5.2. From then on the
 * reaper reaps nothing: later closes wait too, and closed pipes keep their
 * descriptors. Nothing of ours can finish it, so it is contained: the
 * closes run on one thread of their own, the caller asks how long the
 * current one has waited, and leaves without nng_fini if it never ends.
 */
#ifndef COMMON_NNGCLOSE_H
#define COMMON_NNGCLOSE_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

/* Close s on the closer thread (started on first use). Never blocks on
 * nng; if the thread or the queue cannot be had, closes s here. */
void nngclose_submit(nng_socket s);

/* Milliseconds the nng_close in progress has been waiting; 0 when none. */
uint64_t nngclose_waiting_ms(void);

/* Closes submitted and not finished. */
unsigned nngclose_pending(void);

/*
 * At exit: wait up to wait_ms for every submitted close, then stop the
 * thread. true when all of them finished (nng_fini is then safe); false
 * when one never did: the thread is left behind, and so must nng_fini be.
 */
bool nngclose_drain(uint64_t wait_ms);

#endif /* COMMON_NNGCLOSE_H */
