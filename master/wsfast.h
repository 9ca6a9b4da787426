/*
 * wsfast.h: the WebSocket fast path (ws.c's design notes): whole,
 * single-frame, masked text messages taken straight from a read buffer,
 * unmasked in place. Anything else is left for wslay.
 */
#ifndef MASTER_WSFAST_H
#define MASTER_WSFAST_H

#include <stddef.h>
#include <stdint.h>

/*
 * Take frames from p[0..len) while each is a whole FIN text frame, masked,
 * with no reserved bit, a minimal length and at most max payload bytes:
 * unmask its payload in place and hand it to fn, which returns 0 to go
 * on or -1 to stop after it. Stops at the first other frame or at bytes
 * that do not hold a whole frame. Returns how many bytes were taken.
 */
size_t wsfast_frames(uint8_t *p, size_t len, uint64_t max,
    int (*fn)(void *arg, uint8_t *payload, size_t n), void *arg);

#endif /* MASTER_WSFAST_H */
