/*
 * linger.h: the lingering close of a client socket (nginx's
 * lingering_close): after the last bytes are written, the writing side is
 * shut down and what the peer still sends is read and thrown away for a
 * bounded time and amount, then the socket is closed. Without it, close(2)
 * on a socket with unread input sends an RST, and the peer's stack may
 * throw away our close frame before its application reads it.
 *
 * The socket alone lingers: the connection that owned it is freed at once,
 * so a lingering socket costs one small allocation and one event.
 */
#ifndef MASTER_LINGER_H
#define MASTER_LINGER_H

#include <stddef.h>

/* Bounds (docs/operations.md, "Lingering close"). */
#define LINGER_IDLE_MS 2000           /* no byte from the peer for this long */
#define LINGER_TOTAL_MS 5000          /* at most this long in all */
#define LINGER_MAX_BYTES (64u * 1024) /* discarded bytes before we stop reading */
#define LINGER_MAX 4096               /* sockets lingering at once */

/* Register the gauge; once, at start-up. Returns 0 or -1. */
int linger_init(void);

/*
 * Take fd (its writing side already shut down, everything we sent already
 * handed to the kernel) and close it once the peer is done, or a bound is
 * reached. Past LINGER_MAX lingering sockets, or out of memory, fd is
 * closed at once.
 */
void linger_start(int fd);

/* Sockets lingering now. */
unsigned linger_count(void);

/* Close every lingering socket (after the loop). */
void linger_fini(void);

#endif /* MASTER_LINGER_H */
