/*
 * clock.h: the one place that reads clocks and builds deadlines, for both
 * programs. A leaf: it uses nothing of wspool.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Monotonic time (CLOCK_MONOTONIC) in microseconds, milliseconds. */
uint64_t clock_now_us(void);
uint64_t clock_now_ms(void);
/* Monotonic seconds, from the cheap coarse clock (timeouts of seconds). */
uint32_t clock_now_s(void);
/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t clock_wall_ms(void);

/* A relative timeval of ms milliseconds, for libevent timers. */
struct timeval clock_tv(uint64_t ms);
/*
 * The absolute CLOCK_MONOTONIC time ms milliseconds from now, for
 * pthread_cond_timedwait on a condvar set to CLOCK_MONOTONIC. ms is
 * capped at ten years, which is forever here and cannot overflow.
 */
struct timespec clock_deadline(uint64_t ms);

#endif /* COMMON_CLOCK_H */
