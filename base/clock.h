/*
 * base/clock.h: time sources.
 *
 * rt_clock_ns is CLOCK_MONOTONIC in nanoseconds: for timeouts, latencies and histograms; it
 * never goes backwards and says nothing about the date.  rt_clock_wall_ms is CLOCK_REALTIME in
 * milliseconds since the Unix epoch, the unit of Kafka's record and log-append timestamps; it
 * can jump when the system clock is set, so nothing measures durations with it.
 * Both go through the vDSO (no system call) and are safe from any thread.
 */
#ifndef RT_CLOCK_H
#define RT_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary start (boot). */
uint64_t rt_clock_ns(void);

/* Wall-clock milliseconds since 1970-01-01T00:00:00Z, as Kafka timestamps are. */
int64_t rt_clock_wall_ms(void);

/* Wall-clock nanoseconds since the epoch (log line timestamps). */
int64_t rt_clock_wall_ns(void);

#endif
